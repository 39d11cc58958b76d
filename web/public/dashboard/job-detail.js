// The open job's pane: its facts (status, attempt, progress, times, duration, worker, lease),
// the actions the key's scopes allow, and its items, updated in place as states arrive.
import { $, badge, el, progressBar } from "./dom.js";
import { duration, fullDateTime, instant, ms, relative, runTime } from "./format.js";

const COUNT_ORDER = ["completed", "running", "pending", "failed", "skipped"];

function fact(term, ...value) {
  return el("div", {}, el("dt", { textContent: term }), el("dd", {}, ...value));
}

function when(iso) {
  return iso ? el("time", { dateTime: iso, textContent: fullDateTime(iso) }) : "—";
}

function itemNode(item) {
  return el(
    "li",
    { dataset: { position: item.position, status: item.status } },
    badge(item.status),
    " ",
    el("a", { href: item.url, rel: "noreferrer", target: "_blank", textContent: `${item.platform.toLowerCase()} ${item.code}` }),
    item.error ? el("span", { class: "item-error", textContent: ` — ${item.error}` }) : null,
  );
}

export class JobDetail {
  /** actions = { allowed(): bool, cancel(job), retry(job) }. */
  constructor(actions) {
    this.actions = actions;
    this.pane = $("detail");
    this.job = null;
    this.items = []; // the <li> of each position, and the state it shows
  }

  open(id) {
    this.job = null;
    this.items = [];
    this.pane.hidden = false;
    $("detail-id").textContent = id;
    $("detail-body").hidden = true;
    // Nothing of the job shown before may stay on the page under this one's id.
    for (const part of ["detail-facts", "detail-items", "detail-actions"]) $(part).replaceChildren();
    $("detail-error").hidden = true;
    this.message(`Loading job ${id}…`);
  }

  close() {
    this.job = null;
    this.pane.hidden = true;
  }

  /** Say why there is nothing to show: loading, unknown job, or an error. */
  message(text, kind = "info") {
    const box = $("detail-message");
    box.hidden = !text;
    box.textContent = text || "";
    box.className = `detail-message ${kind}`;
    box.setAttribute("role", kind === "error" ? "alert" : "status");
  }

  /**
   * Show a state of the job; returns the merged state, or null when it is older than the one
   * shown (states come from several streams; the newest updatedAt wins).
   */
  show(job) {
    if (this.job && instant(job.updatedAt) < instant(this.job.updatedAt)) return null;
    this.job = this.job ? { ...this.job, ...job } : job;
    this.message("");
    $("detail-body").hidden = false;
    this.renderFacts();
    this.renderActions();
    if (job.items) this.renderItems(job.items);
    return this.job;
  }

  tick() {
    if (this.job && !this.pane.hidden && (this.job.status === "RUNNING" || this.job.status === "PENDING")) {
      this.renderFacts();
    }
  }

  renderFacts() {
    const job = this.job;
    const ran = runTime(job);
    const counts = job.itemCounts;
    const facts = [
      fact("Status", badge(job.status)),
      fact("Attempt", String(job.attempt)),
      fact("Progress", progressBar(job, "Job progress"), ` ${job.progress}%`),
      fact("Items", counts ? [`${counts.total} total`, ...COUNT_ORDER.filter((k) => counts[k]).map((k) => `${counts[k]} ${k}`)].join(" · ") : ""),
      fact("Created", when(job.createdAt)),
      fact("Started", when(job.startedAt)),
      fact("Finished", when(job.finishedAt)),
      fact(job.status === "RUNNING" ? "Running for" : "Duration", ran === null ? "—" : duration(ran)),
    ];
    if (job.status === "PENDING") facts.push(fact("Waiting for", duration(Date.now() - ms(job.updatedAt))));
    facts.push(fact("Worker", job.workerId ? el("code", { textContent: job.workerId }) : "—"));
    if (job.status === "RUNNING" && job.leaseExpiresAt) {
      facts.push(fact("Lease ends", el("time", { dateTime: job.leaseExpiresAt, title: fullDateTime(job.leaseExpiresAt), textContent: relative(job.leaseExpiresAt) })));
    }
    $("detail-facts").replaceChildren(...facts);
    const error = $("detail-error");
    error.hidden = !job.error;
    error.textContent = job.error ? `Error: ${job.error}` : "";
  }

  renderActions() {
    const job = this.job;
    const buttons = [];
    if (this.actions.allowed()) {
      if (job.cancelable) buttons.push(el("button", { type: "button", id: "cancel-job", class: "danger", textContent: "Cancel job…", onclick: () => this.actions.cancel(job) }));
      if (job.retryable) buttons.push(el("button", { type: "button", id: "retry-job", textContent: "Retry", onclick: () => this.actions.retry(job) }));
    }
    const box = $("detail-actions");
    // Keep the buttons (and a focused one's focus) when the same actions are still offered.
    const same = box.children.length === buttons.length && buttons.every((b, i) => box.children[i].id === b.id);
    if (!same) box.replaceChildren(...buttons);
    box.hidden = !buttons.length;
  }

  /** Update only the items whose state changed: a job may have a thousand. */
  renderItems(items) {
    const list = $("detail-items");
    if (items.length !== this.items.length) {
      this.items = items.map((item) => ({ item, node: itemNode(item) }));
      list.replaceChildren(...this.items.map((entry) => entry.node));
      return;
    }
    items.forEach((item, index) => {
      const shown = this.items[index];
      if (shown.item.status === item.status && shown.item.error === item.error && shown.item.url === item.url) return;
      const node = itemNode(item);
      shown.node.replaceWith(node);
      this.items[index] = { item, node };
    });
  }
}
