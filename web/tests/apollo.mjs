// A real frontend client: @apollo/client queries `jobs` and `job(id, tail)` with the X-API-Key
// header against a live jobgraph and prints what it got as JSON for the pytest test to check.
//   node web/tests/apollo.mjs '{"url": "http://127.0.0.1:PORT", "key": "...", "jobId": "..."}'
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";

const { url, key, jobId } = JSON.parse(process.argv[2]);
const client = new ApolloClient({
  link: new HttpLink({ uri: `${url}/graphql`, headers: { "X-API-Key": key } }),
  cache: new InMemoryCache(),
});

const JOBS = gql`
  query Jobs($first: Int!, $after: String) {
    jobs(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id status progress createdAt } }
    }
  }
`;
const JOB = gql`
  query Job($id: ID!, $tail: Int) {
    job(id: $id, tail: $tail) { id status logTail logLineCount items { code url } }
  }
`;

const output = {};
try {
  const first = await client.query({ query: JOBS, variables: { first: 2 } });
  const cursor = first.data.jobs.pageInfo.endCursor;
  const second = await client.query({ query: JOBS, variables: { first: 2, after: cursor } });
  const job = await client.query({ query: JOB, variables: { id: jobId, tail: 2 } });
  output.pages = [first.data.jobs, second.data.jobs];
  output.job = job.data.job;
  const bad = new ApolloClient({
    link: new HttpLink({ uri: `${url}/graphql`, headers: { "X-API-Key": "jg_wrong" } }),
    cache: new InMemoryCache(),
  });
  try {
    await bad.query({ query: JOB, variables: { id: jobId } });
    output.unauthenticated = null;
  } catch (error) {
    output.unauthenticated = {
      name: error.name,
      statusCode: error.statusCode ?? null,
      // A graphql-response+json body arrives as GraphQL errors; an application/json 401 as a
      // ServerError whose body text is jobgraph's JSON GraphQL error.
      code:
        error.errors?.[0]?.extensions?.code ??
        JSON.parse(error.bodyText ?? "{}").errors?.[0]?.extensions?.code ??
        null,
    };
  }
  output.ok = true;
} catch (error) {
  output.ok = false;
  output.error = String(error?.stack || error);
}
process.stdout.write(JSON.stringify(output) + "\n");
