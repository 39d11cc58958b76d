// The jobs dashboard: plain ES modules over jobgraph's GraphQL API, no build step (the page is
// a few hundred lines of DOM code; a bundler would add a toolchain and a compile step to the
// server's setup for nothing the browser does not already do).
//
// It stays true to the server: the list follows jobEvents, the open job follows jobUpdated and
// its log (dashboard/open-job.js, job-follow.js), and after a lost connection both are read
// again. Every state goes through applyJob(), whichever stream or mutation brought it.
import { canSubscribe, checkKey, loadKey, onConnection, request, saveKey, subscribe, subscriptionFailure } from "./jobgraph.js";
import { jobActions } from "./dashboard/actions.js";
import { $, el } from "./dashboard/dom.js";
import { plural } from "./dashboard/format.js";
import { JobsTable } from "./dashboard/jobs-table.js";
import { OpenJob } from "./dashboard/open-job.js";
import { COUNT, JOB_EVENTS, LIST, STATUSES } from "./dashboard/queries.js";

const PAGE = 25;
const POLL_MS = 5000;
const RECOUNT_MS = 250;

const state = {
  session: 0, // a new one on every key change: answers for an older one are dropped
  me: null,
  statuses: new Set(),
  endCursor: null,
  listGeneration: 0,
  countGeneration: 0,
  countTimer: 0,
  stopEvents: null,
  eventFailures: 0,
  timers: new Set(),
};

const table = new JobsTable($("jobs-body"), (job) => !state.statuses.size || state.statuses.has(job.status));
const actions = jobActions({ apply: applyJob, changed: recountSoon, notice, say });
const openJob = new OpenJob({ apply: applyJob, notice, actions: { allowed: canSubmit, ...actions } });

// ---- messages -------------------------------------------------------------------------------

/** An error the user should see (role=alert); an empty message hides it. */
function notice(message) {
  const box = $("notice");
  box.hidden = !message;
  box.textContent = message || "";
}

/** A confirmation of what just happened (role=status), with optional nodes (a link). */
function say(...parts) {
  $("status-line").replaceChildren(...parts);
}

function liveState(text, kind = "") {
  const box = $("live-state");
  box.textContent = text;
  box.className = `live-state ${kind}`;
}

function scopes() {
  return state.me?.scopes ?? [];
}

function canSubmit() {
  return scopes().includes("submit") || scopes().includes("admin");
}

function canRead() {
  return scopes().includes("read") || scopes().includes("admin");
}

function filterVariable() {
  return state.statuses.size ? { statuses: [...state.statuses] } : null;
}

function emptyText() {
  if (state.statuses.size) return "No jobs match this filter.";
  return canSubmit() ? "No jobs yet. Submit one with the form above." : "No jobs yet.";
}

// ---- the list and its count -----------------------------------------------------------------

function setTotal(count) {
  $("total").textContent = count === null ? "" : plural(count, "job");
}

async function loadJobs({ reset }) {
  const session = state.session;
  const generation = ++state.listGeneration;
  const first = reset ? Math.min(100, Math.max(PAGE, table.size)) : PAGE;
  if (reset && !table.size) table.showMessage("Loading jobs…", { kind: "loading" });
  let page;
  try {
    page = (await request(LIST, { first, after: reset ? null : state.endCursor, filter: filterVariable() })).jobs;
  } catch (error) {
    if (session !== state.session || generation !== state.listGeneration) return;
    if (reset) {
      table.clear();
      table.showMessage(`Could not load jobs: ${error.message}`, {
        kind: "error",
        action: { label: "Try again", run: () => loadJobs({ reset: true }) },
      });
    } else notice(`Could not load more jobs: ${error.message}`);
    return;
  }
  if (session !== state.session || generation !== state.listGeneration) return;
  if (reset) {
    // Reconcile rather than rebuild, so a focused row keeps its focus.
    const listed = new Set(page.edges.map((edge) => edge.node.id));
    for (const id of [...table.order]) if (!listed.has(id)) table.remove(id);
  }
  table.complete = true;
  for (const edge of page.edges) table.upsert(edge.node);
  table.complete = !page.pageInfo.hasNextPage;
  state.endCursor = page.pageInfo.endCursor;
  $("more").hidden = !page.pageInfo.hasNextPage;
  setTotal(page.totalCount);
  if (!table.size) table.showMessage(emptyText());
  else table.hideMessage();
  if (openJob.id) table.setSelected(openJob.id);
}

/** Ask the server for the count again, shortly: a live event or a submit may have changed it. */
function recountSoon() {
  clearTimeout(state.countTimer);
  const session = state.session;
  state.countTimer = setTimeout(async () => {
    const generation = ++state.countGeneration;
    try {
      const data = await request(COUNT, { filter: filterVariable() });
      if (session === state.session && generation === state.countGeneration) setTotal(data.jobs.totalCount);
    } catch {
      // The next event or reload counts again; the number shown stays until then.
    }
  }, RECOUNT_MS);
}

/** A state of a job from anywhere (event, jobUpdated, mutation, query): table and pane. */
function applyJob(job) {
  const outcome = table.upsert(job);
  if (outcome === "added" || outcome === "removed" || outcome === "beyond") recountSoon();
  if (!table.size) table.showMessage(emptyText());
  if (job.id === openJob.id) openJob.show(job);
}

// ---- live updates ---------------------------------------------------------------------------

function later(run, ms) {
  const timer = setTimeout(() => {
    state.timers.delete(timer);
    run();
  }, ms);
  state.timers.add(timer);
}

function startEvents() {
  const session = state.session;
  state.stopEvents?.();
  let stop = null;
  const current = () => session === state.session && state.stopEvents === stop;
  const again = (why, code) => {
    // A key revoked meanwhile: start over, which checks the key and says it was refused.
    if (code === "UNAUTHENTICATED") return start();
    // Events were missed while the stream was down: read the list again once it is back.
    state.eventFailures += 1;
    liveState(why, "down");
    later(() => {
      if (!current()) return;
      startEvents();
      loadJobs({ reset: true });
    }, Math.min(15000, 500 * 2 ** state.eventFailures));
  };
  // Every status, whatever the filter: a job that leaves the filter must leave the table, and
  // the open job must hear of a retry even when its row is filtered out.
  stop = subscribe(JOB_EVENTS, { statuses: null }, {
    next: (result) => {
      if (!current()) return;
      const failure = result.errors?.[0];
      if (failure) return again(`live updates failed: ${failure.message}`, failure.extensions?.code);
      state.eventFailures = 0;
      applyJob(result.data.jobEvents);
    },
    error: (error) => {
      if (!current()) return;
      const failure = subscriptionFailure(error).errors[0];
      again(`live updates failed: ${failure.message}`, failure.extensions?.code);
    },
    // The server ends streams when it shuts down; the client reconnects once it is back.
    complete: () => {
      if (current()) again("reconnecting…");
    },
  });
  state.stopEvents = stop;
}

/** After a lost connection: what happened meanwhile is read again. */
function resync() {
  if (!state.me) return;
  loadJobs({ reset: true });
  openJob.restart();
}

onConnection(({ state: connection, retry }) => {
  if (!state.me) return;
  if (connection === "connected") {
    liveState("live", "up");
    if (retry) resync();
  } else if (connection === "closed") liveState("reconnecting…", "down");
});

/** Without graphql-ws (`make web` not run) the page reads everything again every few seconds. */
function startPolling() {
  liveState(`not live (graphql-ws is not installed: run make web); refreshing every ${POLL_MS / 1000} s`, "down");
  const session = state.session;
  const poll = () => {
    if (session !== state.session) return;
    loadJobs({ reset: true });
    openJob.refresh();
    later(poll, POLL_MS);
  };
  later(poll, POLL_MS);
}

// ---- the open job ---------------------------------------------------------------------------

function closeJob() {
  openJob.close();
  table.setSelected(null);
}

/** The URL says which job is open: #/jobs/<id>. */
function route() {
  if (!state.me || !canRead()) return;
  const match = /^#\/jobs\/([^/?#]+)$/.exec(window.location.hash);
  if (!match) return closeJob();
  const id = decodeURIComponent(match[1]);
  table.setSelected(id);
  openJob.open(id);
}

function closeFromKeyboard() {
  const id = openJob.id;
  window.location.hash = "#/";
  if (id) table.focus(id);
}

// ---- the key and the session ----------------------------------------------------------------

function stopAll() {
  state.stopEvents?.();
  state.stopEvents = null;
  for (const timer of state.timers) clearTimeout(timer);
  state.timers.clear();
  clearTimeout(state.countTimer);
  closeJob();
}

async function start() {
  const session = ++state.session;
  stopAll();
  state.me = null;
  $("me-info").textContent = "";
  $("submit-form").hidden = true;
  $("more").hidden = true;
  liveState("");
  setTotal(null);
  table.clear();
  notice("");
  const key = loadKey();
  if (!key) return table.showMessage("Enter an API key above to see your jobs.", { kind: "signed-out" });
  table.showMessage("Checking the key…", { kind: "loading" });
  const check = await checkKey(key);
  if (session !== state.session) return;
  if (!check.ok) {
    const text = check.refused
      ? `This key was refused (${check.code}): ${check.message}. Enter another key above.`
      : `Could not reach the server: ${check.message}`;
    table.clear();
    return table.showMessage(text, { kind: "error", action: check.refused ? null : { label: "Try again", run: start } });
  }
  state.me = check.me;
  $("me-info").textContent = `${state.me.name} · tenant ${state.me.tenant} · ${state.me.scopes.join(", ")}`;
  $("submit-form").hidden = !canSubmit();
  if (!canRead()) {
    table.clear();
    return table.showMessage("This key has no read scope, so it cannot list jobs.", { kind: "error" });
  }
  await loadJobs({ reset: true });
  if (session !== state.session) return;
  if (canSubscribe()) {
    liveState("connecting…");
    startEvents();
  } else startPolling();
  route();
}

async function useKey(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) return notice("Paste a key first.");
  const check = await checkKey(key);
  if (check.ok || !check.refused) {
    saveKey(key);
    say("");
    return start();
  }
  // A refused key is not kept: the page goes on with the key it had.
  notice(`This key was refused (${check.code}): ${check.message}. It was not saved.`);
}

// ---- wiring ---------------------------------------------------------------------------------

function buildFilter() {
  const box = $("status-filter");
  for (const status of STATUSES) {
    const input = el("input", { type: "checkbox", value: status, id: `status-${status}` });
    input.addEventListener("change", () => {
      if (input.checked) state.statuses.add(status);
      else state.statuses.delete(status);
      if (state.me && canRead()) loadJobs({ reset: true });
    });
    box.append(el("label", { htmlFor: input.id, class: "chip" }, input, ` ${status.toLowerCase()}`));
  }
}

buildFilter();
$("api-key").value = loadKey();
$("keybar").addEventListener("submit", useKey);
$("forget-key").addEventListener("click", () => {
  saveKey("");
  $("api-key").value = "";
  say("");
  start();
});
$("more").addEventListener("click", () => loadJobs({ reset: false }));
$("detail-close").addEventListener("click", closeFromKeyboard);
$("submit-form").addEventListener("submit", actions.submit);
$("submit-urls").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("submit-form").requestSubmit();
});
window.addEventListener("hashchange", route);
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || !openJob.id || $("confirm").open) return;
  if (event.target.closest?.("input, textarea")) return;
  closeFromKeyboard();
});
setInterval(() => {
  table.tick();
  openJob.detail.tick();
}, 1000);
start();
