"""What jobgraph knows that is neither GraphQL nor SQL: errors, video links, the job lifecycle."""
