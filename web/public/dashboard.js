// The jobs dashboard: plain ES modules over jobgraph's GraphQL API, no build step.
// Live through jobEvents / jobLogs subscriptions; when those are unavailable (no graphql-ws
// build, or a server without them) it says so and polls instead.
import {
  canSubscribe,
  loadKey,
  request,
  saveKey,
  subscribe,
  subscriptionFailure,
} from "./jobgraph.js";

const STATUSES = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"];
const PAGE = 25;
const LOG_TAIL = 200;
const POLL_MS = 5000;
const JOB_FIELDS = "id status progress createdAt cancelable retryable itemCounts { total completed failed }";

const LIST = `query Jobs($first: Int!, $after: String, $filter: JobFilter) {
  jobs(first: $first, after: $after, filter: $filter, tail: 0) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { ${JOB_FIELDS} } } } }`;
const DETAIL = `query Job($id: ID!, $tail: Int) { job(id: $id, tail: $tail) { ${JOB_FIELDS}
  startedAt finishedAt error logLineCount logTail items { position platform code url status error } } }`;
const LOG_PAGE = `query Logs($id: ID!, $after: Int) { job(id: $id) {
  logs(after: $after, first: 500) { lines { seq message } } } }`;
const EVENTS = `subscription Events($statuses: [JobStatus!]) { jobEvents(statuses: $statuses) { ${JOB_FIELDS} } }`;
const LOGS = `subscription Logs($id: ID!, $after: Int) { jobLogs(id: $id, after: $after) { seq message } }`;
const ACTIONS = {
  cancel: `mutation Cancel($id: ID!) { cancelJob(id: $id) { ${JOB_FIELDS} } }`,
  retry: `mutation Retry($id: ID!) { retryJob(id: $id) { ${JOB_FIELDS} } }`,
};
const CREATE = `mutation Create($input: CreateJobInput!) { createJob(input: $input) { ${JOB_FIELDS} } }`;

const $ = (id) => document.getElementById(id);
const state = {
  me: null,
  statuses: new Set(),
  jobs: new Map(), // id -> job, in the order the table shows them
  endCursor: null,
  selected: null,
  lastSeq: 0,
  stopEvents: null,
  stopLogs: null,
  timers: [],
};

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node[name] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function notice(message) {
  const box = $("notice");
  box.hidden = !message;
  box.textContent = message || "";
}

function canSubmit() {
  const scopes = state.me?.scopes || [];
  return scopes.includes("submit") || scopes.includes("admin");
}

function filterVariables() {
  return state.statuses.size ? { statuses: [...state.statuses] } : null;
}

// ---- the jobs table -------------------------------------------------------------------------

function actionButtons(job) {
  const buttons = [];
  if (!canSubmit()) return buttons;
  if (job.cancelable) buttons.push(el("button", { type: "button", textContent: "Cancel", onclick: (e) => act(e, "cancel", job.id) }));
  if (job.retryable) buttons.push(el("button", { type: "button", textContent: "Retry", onclick: (e) => act(e, "retry", job.id) }));
  return buttons;
}

function rowFor(job) {
  const counts = job.itemCounts || { total: 0, completed: 0, failed: 0 };
  return el(
    "tr",
    { dataset: { jobId: job.id }, class: job.id === state.selected ? "selected" : "", onclick: () => openJob(job.id) },
    el("td", { class: "id", title: job.id, textContent: job.id.slice(0, 8) }),
    el("td", {}, el("span", { class: `badge ${job.status}`, textContent: job.status })),
    el("td", {}, el("progress", { max: 100, value: job.progress }), ` ${job.progress}%`),
    el("td", { textContent: `${counts.completed}/${counts.total}${counts.failed ? ` (${counts.failed} failed)` : ""}` }),
    el("td", { textContent: new Date(job.createdAt).toLocaleString() }),
    el("td", {}, ...actionButtons(job)),
  );
}

function matchesFilter(job) {
  return !state.statuses.size || state.statuses.has(job.status);
}

function upsert(job, { prepend = false } = {}) {
  const known = state.jobs.get(job.id);
  const body = $("jobs-body");
  const row = body.querySelector(`tr[data-job-id="${CSS.escape(job.id)}"]`);
  if (!matchesFilter(job)) {
    // A job that left the filtered set (e.g. RUNNING -> COMPLETED while filtering RUNNING).
    if (row) row.remove();
    state.jobs.delete(job.id);
    return;
  }
  const merged = { ...(known || {}), ...job };
  state.jobs.set(job.id, merged);
  if (row) row.replaceWith(rowFor(merged));
  else if (prepend) body.prepend(rowFor(merged));
  else body.append(rowFor(merged));
  if (job.id === state.selected) renderDetailHead(merged);
}

async function loadJobs({ reset }) {
  const first = reset ? Math.max(PAGE, Math.min(state.jobs.size, 100)) : PAGE;
  const variables = { first, after: reset ? null : state.endCursor, filter: filterVariables() };
  const data = await request(LIST, variables);
  if (reset) {
    state.jobs.clear();
    $("jobs-body").replaceChildren();
  }
  for (const edge of data.jobs.edges) upsert(edge.node);
  state.endCursor = data.jobs.pageInfo.endCursor;
  $("more").hidden = !data.jobs.pageInfo.hasNextPage;
  $("total").textContent = `${data.jobs.totalCount} job${data.jobs.totalCount === 1 ? "" : "s"}`;
}

async function act(event, action, id) {
  event.stopPropagation();
  event.target.disabled = true;
  try {
    const data = await request(ACTIONS[action], { id });
    upsert(Object.values(data)[0]);
    notice("");
  } catch (error) {
    notice(`${action} failed: ${error.message}`);
    event.target.disabled = false;
  }
}

function describe(error) {
  return subscriptionFailure(error).errors[0].message;
}

// ---- live updates ---------------------------------------------------------------------------

function stopLive() {
  state.stopEvents?.();
  state.stopEvents = null;
  state.timers.forEach(clearInterval);
  state.timers = [];
}

function poll(why) {
  $("live-state").textContent = `polling every ${POLL_MS / 1000} s (${why})`;
  if (!state.timers.length) {
    state.timers.push(setInterval(() => loadJobs({ reset: true }).catch((e) => notice(e.message)), POLL_MS));
  }
}

function startLive() {
  stopLive();
  if (!canSubscribe()) return poll("graphql-ws not installed: run `make web`");
  $("live-state").textContent = "live";
  state.stopEvents = subscribe(EVENTS, { statuses: state.statuses.size ? [...state.statuses] : null }, {
    next: (result) => {
      if (result.errors?.length) return poll(`live updates unavailable: ${result.errors[0].message}`);
      const job = result.data?.jobEvents;
      if (job) upsert(job, { prepend: !state.jobs.has(job.id) });
    },
    error: (error) => poll(`live updates unavailable: ${describe(error)}`),
    complete: () => {},
  });
}

// ---- one job: items and a live log tail -----------------------------------------------------

function renderDetailHead(job) {
  $("detail-title").textContent = job.id;
  const parts = [job.status, `${job.progress}%`, `created ${new Date(job.createdAt).toLocaleString()}`];
  if (job.error) parts.push(`error: ${job.error}`);
  $("detail-meta").textContent = parts.join(" · ");
  $("detail-actions").replaceChildren(...actionButtons(job));
}

function appendLog(lines) {
  const log = $("detail-log");
  const fresh = lines.filter((line) => line.seq > state.lastSeq);
  if (!fresh.length) return;
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(fresh.map((line) => line.message).join("\n") + "\n");
  state.lastSeq = fresh[fresh.length - 1].seq;
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function followLogs(id) {
  state.stopLogs?.();
  const pollLogs = (why) => {
    $("detail-log-state").textContent = `(polling: ${why})`;
    const timer = setInterval(async () => {
      if (state.selected !== id) return clearInterval(timer);
      try {
        const data = await request(LOG_PAGE, { id, after: state.lastSeq });
        appendLog(data.job.logs.lines);
      } catch (error) {
        notice(error.message);
      }
    }, POLL_MS / 2);
    state.stopLogs = () => clearInterval(timer);
  };
  if (!canSubscribe()) return pollLogs("graphql-ws not installed");
  $("detail-log-state").textContent = "(live)";
  state.stopLogs = subscribe(LOGS, { id, after: state.lastSeq }, {
    next: (result) => {
      if (result.errors?.length) return pollLogs(result.errors[0].message);
      if (result.data?.jobLogs) appendLog([result.data.jobLogs]);
    },
    error: (error) => pollLogs(describe(error)),
    complete: () => { $("detail-log-state").textContent = "(complete)"; },
  });
}

async function openJob(id) {
  state.selected = id;
  for (const row of $("jobs-body").children) row.classList.toggle("selected", row.dataset.jobId === id);
  try {
    const { job } = await request(DETAIL, { id, tail: LOG_TAIL });
    if (state.selected !== id) return;
    $("detail").hidden = false;
    renderDetailHead(job);
    $("detail-items").replaceChildren(
      ...job.items.map((item) =>
        el("li", {},
          el("span", { class: `badge ${item.status}`, textContent: item.status }),
          " ",
          el("a", { href: item.url, textContent: `${item.platform.toLowerCase()} ${item.code}`, rel: "noreferrer", target: "_blank" }),
          item.error ? ` — ${item.error}` : "")),
    );
    const lines = job.logTail ? job.logTail.split("\n") : [];
    $("detail-log").textContent = lines.length ? lines.join("\n") + "\n" : "";
    state.lastSeq = job.logLineCount;
    followLogs(id);
  } catch (error) {
    notice(`could not open job: ${error.message}`);
  }
}

function closeJob() {
  state.stopLogs?.();
  state.stopLogs = null;
  state.selected = null;
  $("detail").hidden = true;
  for (const row of $("jobs-body").children) row.classList.remove("selected");
}

// ---- submit ---------------------------------------------------------------------------------

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
  if (!items.length) return notice("enter at least one video link");
  try {
    const data = await request(CREATE, { input: { items } });
    upsert(data.createJob, { prepend: true });
    $("submit-urls").value = "";
    notice("");
  } catch (error) {
    notice(`submit failed: ${error.message}`);
  }
}

// ---- start ----------------------------------------------------------------------------------

async function start() {
  stopLive();
  closeJob();
  state.me = null;
  $("me-info").textContent = "";
  $("jobs-body").replaceChildren();
  if (!loadKey()) return notice("Enter an API key above to see your jobs.");
  try {
    state.me = (await request("{ me { name tenant scopes } }")).me;
  } catch (error) {
    return notice(`${error.code === "UNAUTHENTICATED" ? "This key was refused" : "Error"}: ${error.message}`);
  }
  notice("");
  $("me-info").textContent = `${state.me.name} · tenant ${state.me.tenant} · ${state.me.scopes.join(", ")}`;
  $("submit-form").hidden = !canSubmit();
  try {
    await loadJobs({ reset: true });
  } catch (error) {
    return notice(error.message);
  }
  startLive();
}

function buildFilter() {
  const box = $("status-filter");
  for (const status of STATUSES) {
    const input = el("input", { type: "checkbox", value: status, id: `status-${status}` });
    input.addEventListener("change", () => {
      if (input.checked) state.statuses.add(status);
      else state.statuses.delete(status);
      loadJobs({ reset: true }).then(startLive, (error) => notice(error.message));
    });
    box.append(el("label", { htmlFor: input.id }, input, ` ${status.toLowerCase()}`));
  }
}

buildFilter();
$("api-key").value = loadKey();
$("keybar").addEventListener("submit", (event) => {
  event.preventDefault();
  saveKey($("api-key").value.trim());
  start();
});
$("forget-key").addEventListener("click", () => {
  saveKey("");
  $("api-key").value = "";
  start();
});
$("more").addEventListener("click", () => loadJobs({ reset: false }).catch((e) => notice(e.message)));
$("detail-close").addEventListener("click", closeJob);
$("submit-form").addEventListener("submit", submitJob);
start();
