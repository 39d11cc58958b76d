// GraphiQL's starter document: the editor's first content, a trusted document of the server
// (web/documents.mjs builds the manifest from it).
export const STARTER = `# Your key's newest jobs. Run with Ctrl-Enter.
query RecentJobs {
  me { name tenant scopes }
  jobs(first: 10) {
    totalCount
    edges { node { id status progress createdAt logTail } }
  }
}
`;
