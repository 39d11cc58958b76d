// Runs graphql-http's GraphQL-over-HTTP server audits against a live jobgraph server.
// Usage: node audit.mjs URL KEY — prints one JSON object {results: [...]}; exit 0 always
// (the Python test judges the results, so a failure shows every audit's reason).
import { serverAudits } from 'graphql-http';

const [url, key] = process.argv.slice(2);

// The audits know nothing of API keys: add ours to every request they make.
function fetchWithKey(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('x-api-key', key);
  return fetch(input, { ...init, headers });
}

const results = [];
for (const audit of serverAudits({ url, fetchFn: fetchWithKey })) {
  const result = await audit.fn();
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    entry.reason = result.reason;
    entry.httpStatus = result.response.status;
    entry.body = await result.response.text().catch(() => '');
  }
  results.push(entry);
}
process.stdout.write(JSON.stringify({ results }) + '\n');
