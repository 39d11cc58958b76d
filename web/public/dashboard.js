// The jobs dashboard: plain ES modules over jobgraph's GraphQL API, no build step (the page is
// a few hundred lines of DOM code; a bundler would add a toolchain and a compile step to the
// server's setup for nothing the browser does not already do).
//
// It stays true to the server: the list follows jobEvents, the open job follows jobUpdated and
// its log (dashboard/job-follow.js), and after a lost connection both are read again. Every
// state is applied through applyJob(), whichever stream or mutation brought it.
import { canSubscribe, checkKey, loadKey, onConnection, request, saveKey, subscribe, subscriptionFailure } from "./jobgraph.js";
import { confirmAction } from "./dashboard/confirm.js";
import { $, el } from "./dashboard/dom.js";
import { plural } from "./dashboard/format.js";
import { JobDetail } from "./dashboard/job-detail.js";
import { JobFollow } from "./dashboard/job-follow.js";
import { JobsTable } from "./dashboard/jobs-table.js";
import { LogView } from "./dashboard/log-view.js";
import { CANCEL, COUNT, CREATE, EARLIER_LINES, JOB, JOB_EVENTS, LIST, RETRY, STATUSES } from "./dashboard/queries.js";

const PAGE = 25;
const LOG_TAIL = 200;
const EARLIER = 500;
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
  selected: null, // the open job's id
  follow: null,
  stopEvents: null,
  eventFailures: 0,
  timers: new Set(),
};

const table = new JobsTable($("jobs-body"), (job) => !state.statuses.size || state.statuses.has(job.status));
const detail = new JobDetail({ allowed: canSubmit, cancel: cancelJob, retry: retryJob });
const log = new LogView($("detail-log"));

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
  if (state.selected) table.setSelected(state.selected);
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
  if (job.id === state.selected) {
    const shown = detail.show(job);
    if (shown) {
      log.setJobAttempt(shown.attempt);
      state.follow?.observe(shown);
    }
  }
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
  state.follow?.restart();
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
    if (state.selected) refreshOpenJob(state.selected);
    later(poll, POLL_MS);
  };
  later(poll, POLL_MS);
}

async function refreshOpenJob(id) {
  try {
    const { job } = await request(JOB, { id, after: log.lastSeq, first: EARLIER });
    if (state.selected !== id) return;
    applyJob(job);
    log.append(job.logs.lines);
  } catch (error) {
    notice(`Could not refresh job ${id}: ${error.message}`);
  }
}

// ---- the open job ---------------------------------------------------------------------------

function logState(text) {
  $("detail-log-state").textContent = text ? `(${text})` : "";
}

function stopFollow() {
  state.follow?.stop();
  state.follow = null;
}

async function openJob(id) {
  if (state.selected === id) return;
  stopFollow();
  state.selected = id;
  table.setSelected(id);
  detail.open(id);
  log.reset();
  logState("");
  $("log-earlier").hidden = true;
  document.title = `jobgraph · job ${id.slice(0, 8)}`;
  const session = state.session;
  let job;
  try {
    job = (await request(JOB, { id, last: LOG_TAIL })).job;
  } catch (error) {
    if (state.selected !== id || session !== state.session) return;
    const unknown = error.code === "NOT_FOUND" || error.code === "BAD_USER_INPUT";
    detail.message(unknown ? `There is no job ${id} for this key.` : `Could not load job ${id}: ${error.message}`, "error");
    return;
  }
  if (state.selected !== id || session !== state.session) return;
  log.reset(job.attempt);
  log.append(job.logs.lines);
  $("log-earlier").hidden = !job.logs.hasMore;
  applyJob(job);
  if (!canSubscribe()) return logState("refreshing every few seconds");
  state.follow = new JobFollow(
    id,
    {
      job: (fresh) => applyJob(fresh),
      lines: (lines) => {
        log.append(lines);
        // The page keeps a bounded number of lines; what it let go can be read again.
        if (log.dropped) $("log-earlier").hidden = false;
      },
      logState,
      failed: (message) => logState(`live updates failed: ${message}`),
    },
    () => log.lastSeq,
  );
  state.follow.start(detail.job);
}

function closeJob() {
  stopFollow();
  state.selected = null;
  table.setSelected(null);
  detail.close();
  document.title = "jobgraph · jobs";
}

/** The URL says which job is open: #/jobs/<id>. */
function route() {
  if (!state.me || !canRead()) return;
  const match = /^#\/jobs\/([^/?#]+)$/.exec(window.location.hash);
  if (match) openJob(decodeURIComponent(match[1]));
  else closeJob();
}

function closeFromKeyboard() {
  const id = state.selected;
  window.location.hash = "#/";
  if (id) table.focus(id);
}

async function showEarlierLines() {
  const id = state.selected;
  const button = $("log-earlier");
  button.disabled = true;
  try {
    const { job } = await request(EARLIER_LINES, { id, before: log.firstSeq, last: EARLIER });
    if (state.selected !== id) return;
    log.prepend(job.logs.lines);
    button.hidden = !job.logs.hasMore;
  } catch (error) {
    notice(`Could not read earlier lines: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

// ---- actions --------------------------------------------------------------------------------

async function act(mutation, job, verb, done) {
  for (const button of $("detail-actions").querySelectorAll("button")) button.disabled = true;
  try {
    const data = await request(mutation, { id: job.id });
    applyJob(Object.values(data)[0]);
    recountSoon();
    notice("");
    say(`Job ${job.id.slice(0, 8)} ${done}.`);
  } catch (error) {
    notice(`Could not ${verb} job ${job.id.slice(0, 8)}: ${error.message}`);
  } finally {
    for (const button of $("detail-actions").querySelectorAll("button")) button.disabled = false;
  }
}

async function cancelJob(job) {
  const running = job.status === "RUNNING";
  const confirmed = await confirmAction({
    title: `Cancel job ${job.id.slice(0, 8)}?`,
    body: `${running ? "Its worker is told to stop and its" : "Its"} unfinished items are skipped. A cancelled job cannot be retried.`,
    confirm: "Cancel job",
    keep: "Keep job",
  });
  if (confirmed) await act(CANCEL, job, "cancel", "cancelled");
}

async function retryJob(job) {
  await act(RETRY, job, "retry", "queued again");
}

function parseItems(text) {
  return text
    .split(/\n+/)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const pair = /^(youtube|instagram|tiktok):(\S+)$/i.exec(line);
      return pair ? { platform: pair[1].toUpperCase(), code: pair[2] } : { url: line };
    });
}

async function submitJob(event) {
  event.preventDefault();
  const items = parseItems($("submit-urls").value);
  if (!items.length) return notice("Enter at least one video link.");
  const button = $("submit-button");
  button.disabled = true;
  try {
    const job = (await request(CREATE, { input: { items } })).createJob;
    applyJob(job);
    recountSoon();
    $("submit-urls").value = "";
    notice("");
    say("Submitted job ", el("a", { href: `#/jobs/${job.id}`, textContent: job.id.slice(0, 8) }), ".");
  } catch (error) {
    notice(`Submit failed: ${error.message}`);
  } finally {
    button.disabled = false;
  }
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
$("log-earlier").addEventListener("click", showEarlierLines);
$("submit-form").addEventListener("submit", submitJob);
$("submit-urls").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("submit-form").requestSubmit();
});
window.addEventListener("hashchange", route);
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || !state.selected || $("confirm").open) return;
  if (event.target.closest?.("input, textarea")) return;
  closeFromKeyboard();
});
setInterval(() => {
  table.tick();
  detail.tick();
}, 1000);
start();
