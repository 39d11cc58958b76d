// @apollo/client with its persisted-queries link against a live jobgraph: a miss, the resend
// with the text, then hits; and GET by hash (useGETForHashedQueries). Prints what the server
// saw of each request, as JSON, for the pytest test to check.
//   node web/tests/apollo-persisted.mjs '{"url": "http://127.0.0.1:PORT", "key": "..."}'
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";

const { url, key } = JSON.parse(process.argv[2]);
const sent = [];
const recordingFetch = async (input, init) => {
  const response = await fetch(input, init);
  const body = typeof init?.body === "string" ? JSON.parse(init.body) : null;
  sent.push({
    method: init?.method ?? "GET",
    hasQuery: Boolean(body?.query) || String(input).includes("query="),
    hashed: Boolean(body?.extensions?.persistedQuery) || String(input).includes("persistedQuery"),
    status: response.status,
    cacheControl: response.headers.get("cache-control"),
  });
  return response;
};
const sha256 = (text) => createHash("sha256").update(text).digest("hex");

function client(useGET) {
  return new ApolloClient({
    link: createPersistedQueryLink({ sha256, useGETForHashedQueries: useGET }).concat(
      new HttpLink({ uri: `${url}/graphql`, headers: { "X-API-Key": key }, fetch: recordingFetch }),
    ),
    cache: new InMemoryCache(),
  });
}

const ME = gql`
  query PersistedMe {
    me { name tenant }
  }
`;
const output = {};
try {
  const post = client(false);
  output.first = (await post.query({ query: ME, fetchPolicy: "network-only" })).data.me;
  output.second = (await post.query({ query: ME, fetchPolicy: "network-only" })).data.me;
  output.postRequests = sent.splice(0);
  const get = client(true);
  output.third = (await get.query({ query: ME, fetchPolicy: "network-only" })).data.me;
  output.getRequests = sent.splice(0);
  output.ok = true;
} catch (error) {
  output.ok = false;
  output.error = String(error?.stack || error);
  output.requests = sent;
}
process.stdout.write(JSON.stringify(output) + "\n");
