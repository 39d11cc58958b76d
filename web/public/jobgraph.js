// The browser client both pages share: the API key kept in localStorage, GraphQL over HTTP
// that always yields a JSON result (a 401 or a proxy's HTML page included), and subscriptions
// over graphql-transport-ws with the key in the connection_init payload.

import { ME } from "./dashboard/queries.js";
import { DOCUMENT_IDS } from "./document-ids.js";

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

/**
 * The request for a document: a document the server trusts (the pages' own, listed in
 * document-ids.js) goes by its id, so the pages work on a server that runs only trusted
 * documents; any other text goes as it is.
 */
function byReference(params) {
  const id = params.query && DOCUMENT_IDS.get(params.query);
  if (!id) return params;
  const { query: _text, ...rest } = params;
  return { ...rest, documentId: id };
}

/** The same for a WebSocket payload, whose `query` graphql-ws requires to be a string. */
function byReferenceOverSocket(payload) {
  const named = byReference(payload);
  return named === payload ? payload : { ...named, query: "" };
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
      body: JSON.stringify(byReference(params)),
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

/**
 * Check a key with a `me` query. Resolves to { ok: true, me } when the server accepts it, or
 * { ok: false, refused, code, message }: `refused` when the server said no (an unknown or
 * revoked key), not when the server could not be asked.
 */
export async function checkKey(key) {
  try {
    const data = await request(ME, {}, key);
    return { ok: true, me: data.me };
  } catch (error) {
    const refused = error.code === "UNAUTHENTICATED";
    return { ok: false, refused, code: error.code, message: error.message };
  }
}

/** Whether graphql-ws (web/vendor) was loaded: subscriptions need it. */
export function canSubscribe() {
  return typeof window.graphqlWs?.createClient === "function";
}

let sharedClient = null;
let sharedClientKey = null;
const connectionListeners = new Set();

/**
 * Listen to the WebSocket's state: listener({ state: "connecting" | "connected" | "closed",
 * retry }). `retry` on "connected" says the connection came back after a loss, when events
 * may have been missed. Returns a function that removes the listener.
 */
export function onConnection(listener) {
  connectionListeners.add(listener);
  return () => connectionListeners.delete(listener);
}

function tell(state, retry = false) {
  for (const listener of connectionListeners) listener({ state, retry });
}

// Waits between reconnection attempts: exponential from 1 s, capped at 15 s, with jitter so
// that many pages do not all come back at the same instant after a server restart.
async function reconnectWait(retries) {
  const base = Math.min(15000, 1000 * 2 ** retries);
  await new Promise((resolve) => setTimeout(resolve, base / 2 + Math.random() * (base / 2)));
}

/** One graphql-transport-ws connection per key, opened lazily, reconnected for as long as it takes. */
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
    // A server restart or a network blip must not end the page's live view.
    retryAttempts: Infinity,
    retryWait: reconnectWait,
    // Pings keep idle proxies from dropping a quiet connection.
    keepAlive: 20000,
    // A rejected key (close 4403) will not get better by retrying.
    shouldRetry: (event) => !(event && event.code === 4403),
    on: {
      connecting: () => tell("connecting"),
      connected: (_socket, _payload, retry) => tell("connected", Boolean(retry)),
      closed: () => tell("closed"),
    },
  });
  sharedClientKey = key;
  return sharedClient;
}

/** Subscribe; sink = { next(result), error(err), complete() }. Returns a dispose function. */
export function subscribe(query, variables, sink, key = loadKey()) {
  return wsClient(key).subscribe(byReferenceOverSocket({ query, variables }), sink);
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
