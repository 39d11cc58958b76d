// GraphiQL on jobgraph's own assets. The key has one way in: the key bar (kept in this
// browser's localStorage, shared with the dashboard), checked with a `me` query when it is set
// and when the page opens, and sent with every request; GraphiQL's headers editor is off so
// there is no second place for it. Errors arrive as JSON; subscriptions run over
// graphql-transport-ws.
import {
  canSubscribe,
  checkKey,
  loadKey,
  postGraphQL,
  saveKey,
  subscribe,
  subscriptionFailure,
} from "./jobgraph.js";
import { STARTER } from "./starter.js";

const container = document.getElementById("graphiql");
const keyInput = document.getElementById("api-key");
const keyState = document.getElementById("key-state");

const DEFAULT_QUERY = STARTER;

function operationKind(query, operationName) {
  const source = query.replace(/#[^\n]*/g, "").replace(/"(?:[^"\\]|\\.)*"/g, '""');
  if (operationName) {
    const named = new RegExp(`\\b(query|mutation|subscription)\\s+${operationName}\\b`).exec(source);
    if (named) return named[1];
  }
  const first = /^\s*(query|mutation|subscription)\b/m.exec(source);
  return first ? first[1] : "query";
}

function fetcher(params, options = {}) {
  const key = loadKey();
  const headers = { ...(options.headers || {}) };
  if (key) headers["X-API-Key"] = key;
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

/** Say whether the key works: state is "ok", "refused", "unchecked" or "none". */
function showKeyState(state, text) {
  keyState.dataset.state = state;
  keyState.textContent = text;
  keyInput.setAttribute("aria-invalid", state === "refused" ? "true" : "false");
}

function describe(me) {
  return `${me.name} · tenant ${me.tenant} · ${me.scopes.join(", ")}`;
}

/** Check the stored key when the page opens: a key revoked since shows up at once. */
async function checkStoredKey() {
  const key = loadKey();
  if (!key) return showKeyState("none", "No key set: every request is refused (401).");
  showKeyState("unchecked", "Checking the key…");
  const check = await checkKey(key);
  if (loadKey() !== key) return; // another key was set meanwhile
  if (check.ok) showKeyState("ok", `✓ Key works: ${describe(check.me)}`);
  else if (check.refused) showKeyState("refused", `✗ Key refused (${check.code}): ${check.message}`);
  else showKeyState("unchecked", `Key not checked: ${check.message}`);
}

/** Check a new key before using it; a refused key is not kept. */
async function useKey(event) {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) {
    saveKey("");
    showKeyState("none", "No key set: every request is refused (401).");
    return remount();
  }
  showKeyState("unchecked", "Checking the key…");
  const check = await checkKey(key);
  if (check.refused) {
    return showKeyState("refused", `✗ Key refused (${check.code}): ${check.message}. It was not saved.`);
  }
  saveKey(key);
  showKeyState(
    check.ok ? "ok" : "unchecked",
    check.ok ? `✓ Key works: ${describe(check.me)}` : `Key saved, not checked: ${check.message}`,
  );
  remount();
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
    isHeadersEditorEnabled: false,
    shouldPersistHeaders: false,
  };
  if (params.has("query")) props.query = params.get("query");
  if (params.has("variables")) props.variables = params.get("variables");
  root.render(window.React.createElement(window.GraphiQL, props));
}

function remount() {
  generation += 1;
  render();
}

const root = window.ReactDOM?.createRoot ? window.ReactDOM.createRoot(container) : null;
keyInput.value = loadKey();
document.getElementById("keybar").addEventListener("submit", useKey);
checkStoredKey();
render();
