// GraphiQL on jobgraph's own assets: the key is set once (key bar, kept in localStorage) and
// sent with every request; errors arrive as JSON; subscriptions run over graphql-transport-ws.
import {
  canSubscribe,
  loadKey,
  postGraphQL,
  saveKey,
  subscribe,
  subscriptionFailure,
} from "./jobgraph.js";

const container = document.getElementById("graphiql");
const keyInput = document.getElementById("api-key");
const keyState = document.getElementById("key-state");

const DEFAULT_QUERY = `# Set your key above once, then run (Ctrl-Enter).
query RecentJobs {
  me { name tenant scopes }
  jobs(first: 10) {
    totalCount
    edges { node { id status progress createdAt logTail } }
  }
}
`;

function operationKind(query, operationName) {
  const source = query.replace(/#[^\n]*/g, "").replace(/"(?:[^"\\]|\\.)*"/g, '""');
  if (operationName) {
    const named = new RegExp(`\\b(query|mutation|subscription)\\s+${operationName}\\b`).exec(source);
    if (named) return named[1];
  }
  const first = /^\s*(query|mutation|subscription)\b/m.exec(source);
  return first ? first[1] : "query";
}

function keyFrom(headers) {
  for (const [name, value] of Object.entries(headers || {})) {
    if (name.toLowerCase() === "x-api-key" && value) return String(value);
  }
  return loadKey();
}

function fetcher(params, options = {}) {
  const headers = { ...(options.headers || {}) };
  const key = keyFrom(headers);
  if (key && !Object.keys(headers).some((n) => n.toLowerCase() === "x-api-key")) {
    headers["X-API-Key"] = key;
  }
  if (operationKind(params.query || "", params.operationName) !== "subscription") {
    return postGraphQL(params, headers);
  }
  // An observable GraphiQL understands; errors are shown as a JSON result, then it completes.
  return {
    subscribe(observer) {
      if (!canSubscribe()) {
        observer.next(subscriptionFailure(new Error("graphql-ws is not installed: run `make web`")));
        observer.complete();
        return { unsubscribe() {} };
      }
      const dispose = subscribe(params.query, params.variables || {}, {
        next: (value) => observer.next(value),
        error: (error) => {
          observer.next(subscriptionFailure(error));
          observer.complete();
        },
        complete: () => observer.complete(),
      }, key);
      return { unsubscribe: dispose };
    },
  };
}

function showKeyState() {
  const key = loadKey();
  keyState.textContent = key ? `using key ${key.slice(0, 8)}…` : "no key set: requests will get 401";
}

let generation = 0;

function render() {
  if (!window.GraphiQL || !window.React || !window.ReactDOM) {
    container.textContent = "";
    return; // the server-side notice says which assets are missing and how to install them
  }
  // A link may carry a document in the fragment (#query=…&variables=…): the query string is
  // not free, since GET /graphql?query=… runs the query instead of opening GraphiQL.
  const params = new URLSearchParams(window.location.hash.slice(1));
  const props = {
    // A new React key remounts GraphiQL, so the schema is fetched again with the new API key.
    key: `graphiql-${generation}`,
    fetcher,
    defaultQuery: DEFAULT_QUERY,
    defaultEditorToolsVisibility: params.has("variables") ? "variables" : false,
    shouldPersistHeaders: false,
  };
  if (params.has("query")) props.query = params.get("query");
  if (params.has("variables")) props.variables = params.get("variables");
  root.render(window.React.createElement(window.GraphiQL, props));
}

const root = window.ReactDOM?.createRoot ? window.ReactDOM.createRoot(container) : null;
keyInput.value = loadKey();
document.getElementById("keybar").addEventListener("submit", (event) => {
  event.preventDefault();
  saveKey(keyInput.value.trim());
  showKeyState();
  generation += 1;
  render();
});
showKeyState();
render();
