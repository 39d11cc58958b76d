// The browser client both pages share: the API key kept in localStorage, GraphQL over HTTP
// that always yields a JSON result (a 401 or a proxy's HTML page included), and subscriptions
// over graphql-transport-ws with the key in the connection_init payload.

const KEY_STORAGE = "jobgraph.apiKey";
export const ENDPOINT = "/graphql";

export function loadKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";
  }
}

export function saveKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

/** POST a GraphQL request; resolves to the response's JSON body whatever the HTTP status. */
export async function postGraphQL(params, headers = {}) {
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json, application/json",
        ...headers,
      },
      body: JSON.stringify(params),
    });
  } catch (error) {
    return failure(`network error: ${error.message}`, "NETWORK_ERROR");
  }
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page, say): still hand GraphiQL a GraphQL-shaped result.
    return failure(`HTTP ${response.status}: the response was not JSON`, "BAD_RESPONSE", {
      status: response.status,
      body: text.slice(0, 500),
    });
  }
}

function failure(message, code, extra = {}) {
  return { errors: [{ message, extensions: { code, ...extra } }] };
}

/** Run a query with the stored key; resolves to data, rejects with a GraphQLError-like error. */
export async function request(query, variables = {}, key = loadKey()) {
  const result = await postGraphQL({ query, variables }, key ? { "X-API-Key": key } : {});
  if (result.errors && result.errors.length) {
    const error = new Error(result.errors.map((e) => e.message).join("; "));
    error.errors = result.errors;
    error.code = result.errors[0].extensions?.code;
    error.data = result.data;
    throw error;
  }
  return result.data;
}

/** Whether graphql-ws (web/vendor) was loaded: subscriptions need it. */
export function canSubscribe() {
  return typeof window.graphqlWs?.createClient === "function";
}

let sharedClient = null;
let sharedClientKey = null;

/** One graphql-transport-ws connection per key, opened lazily and retried by graphql-ws. */
export function wsClient(key = loadKey()) {
  if (!canSubscribe()) throw new Error("graphql-ws is not installed: run `make web`");
  if (sharedClient && sharedClientKey === key) return sharedClient;
  if (sharedClient) sharedClient.dispose();
  const url = new URL(ENDPOINT, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  sharedClient = window.graphqlWs.createClient({
    url: url.href,
    connectionParams: () => ({ "X-API-Key": key }),
    lazy: true,
    retryAttempts: 5,
    // A rejected key (close 4403) will not get better by retrying.
    shouldRetry: (event) => !(event && event.code === 4403),
  });
  sharedClientKey = key;
  return sharedClient;
}

/** Subscribe; sink = { next(result), error(err), complete() }. Returns a dispose function. */
export function subscribe(query, variables, sink, key = loadKey()) {
  return wsClient(key).subscribe({ query, variables }, sink);
}

/** A GraphQL-shaped result from whatever a WebSocket failure delivers (Error, CloseEvent, list). */
export function subscriptionFailure(error) {
  if (Array.isArray(error)) return { errors: error };
  if (error && typeof error.code === "number") {
    const reason = error.reason || "connection closed";
    return failure(`WebSocket closed (${error.code}): ${reason}`, error.code === 4403 ? "UNAUTHENTICATED" : "WEBSOCKET_CLOSED");
  }
  return failure(error?.message || String(error), "WEBSOCKET_ERROR");
}
