// The jobs table: one row per job, newest first, updated in place as states arrive, with
// empty, loading and error states. Each row is a link to its job (#/jobs/<id>); the rows are
// one stop in the tab order, and the arrow keys, Home and End move between them (a roving
// tabindex), Enter opens. Nothing else in a row is interactive: actions live in the job's pane.
import { badge, el, progressBar } from "./dom.js";
import { duration, fullDateTime, instant, itemSummary, runTime, shortDateTime } from "./format.js";

const COLUMNS = 6;

/** Newest first, as the server pages them: createdAt, then id, both descending. */
function before(a, b) {
  const ta = instant(a.createdAt);
  const tb = instant(b.createdAt);
  return ta !== tb ? ta > tb : a.id > b.id;
}

export class JobsTable {
  /** matches(job): whether a job belongs in the table under the current filter. */
  constructor(body, matches) {
    this.body = body;
    this.matches = matches;
    this.jobs = new Map(); // id -> the newest state seen
    this.rows = new Map(); // id -> <tr>
    this.order = []; // ids, newest first
    this.complete = true; // false while older jobs lie on pages not loaded yet
    this.selected = null;
    this.active = null; // the row that holds the tab stop
    this.placeholder = null;
    body.addEventListener("keydown", (event) => this.onKey(event));
  }

  clear() {
    this.jobs.clear();
    this.rows.clear();
    this.order = [];
    this.active = null;
    this.body.replaceChildren();
    this.placeholder = null;
  }

  get size() {
    return this.order.length;
  }

  /** Show a message in place of rows: loading, an error (with a retry), or empty. */
  showMessage(text, { kind = "empty", action = null } = {}) {
    if (this.order.length && kind === "empty") return;
    const cell = el("td", { colspan: String(COLUMNS) }, text);
    if (action) cell.append(" ", el("button", { type: "button", textContent: action.label, onclick: action.run }));
    this.placeholder?.remove();
    this.placeholder = el("tr", { class: `placeholder ${kind}` }, cell);
    this.body.append(this.placeholder);
  }

  hideMessage() {
    this.placeholder?.remove();
    this.placeholder = null;
  }

  /**
   * Put a job's state in the table. Returns what happened: "added", "removed", "updated",
   * "stale" (older than the state shown), "outside" (the filter leaves it out) or "beyond" (it
   * belongs on a page not loaded yet).
   */
  upsert(job) {
    const known = this.jobs.get(job.id);
    if (known && instant(job.updatedAt) < instant(known.updatedAt)) return "stale";
    const merged = known ? { ...known, ...job } : job;
    if (!this.matches(merged)) {
      if (!known) return "outside";
      this.remove(job.id);
      return "removed";
    }
    this.jobs.set(job.id, merged);
    if (known) {
      this.fill(this.rows.get(job.id), merged);
      return "updated";
    }
    const index = this.order.findIndex((id) => before(merged, this.jobs.get(id)));
    if (index === -1 && !this.complete) {
      // Older than every loaded row, with pages still unloaded: it appears on its own page.
      this.jobs.delete(job.id);
      return "beyond";
    }
    const row = this.rowFor(merged);
    if (index === -1) {
      this.order.push(job.id);
      this.body.insertBefore(row, this.placeholder);
    } else {
      this.body.insertBefore(row, this.rows.get(this.order[index]));
      this.order.splice(index, 0, job.id);
    }
    this.rows.set(job.id, row);
    this.hideMessage();
    if (!this.active) this.setActive(job.id);
    return "added";
  }

  remove(id) {
    const row = this.rows.get(id);
    if (!row) return;
    const index = this.order.indexOf(id);
    if (this.active === id) {
      const next = this.order[index + 1] ?? this.order[index - 1] ?? null;
      const hadFocus = row.contains(document.activeElement);
      this.setActive(next);
      if (hadFocus && next) this.focus(next);
    }
    row.remove();
    this.rows.delete(id);
    this.jobs.delete(id);
    this.order.splice(index, 1);
  }

  rowFor(job) {
    const link = el("a", { href: `#/jobs/${job.id}`, class: "job-link", title: job.id, tabIndex: -1, textContent: job.id.slice(0, 8) });
    const row = el("tr", { dataset: { jobId: job.id } }, el("td", { class: "id" }, link));
    for (let index = 1; index < COLUMNS; index += 1) row.append(el("td"));
    row.cells[5].className = "wide";
    // The whole row opens the job, for the pointer; the link is what keyboards and readers use.
    row.addEventListener("click", (event) => {
      if (!event.target.closest("a") && !window.getSelection()?.toString()) link.click();
    });
    this.fill(row, job);
    if (job.id === this.selected) this.markSelected(row, true);
    return row;
  }

  /** Write a job's state into its row's cells; the link cell never changes, so focus stays. */
  fill(row, job) {
    const [, status, progress, items, created, ran] = row.cells;
    status.replaceChildren(badge(job.status), job.attempt > 1 ? el("span", { class: "attempt", textContent: ` attempt ${job.attempt}` }) : "");
    progress.replaceChildren(progressBar(job, `Progress of job ${job.id.slice(0, 8)}`), el("span", { class: "pct", textContent: `${job.progress}%` }));
    items.textContent = itemSummary(job.itemCounts);
    created.replaceChildren(el("time", { dateTime: job.createdAt, title: fullDateTime(job.createdAt), textContent: shortDateTime(job.createdAt) }));
    const millis = runTime(job);
    ran.textContent = millis === null ? "" : duration(millis);
  }

  /** Refresh the durations of running jobs (called once a second). */
  tick() {
    for (const [id, job] of this.jobs) {
      if (job.status === "RUNNING") this.rows.get(id).cells[5].textContent = duration(runTime(job));
    }
  }

  setSelected(id) {
    if (this.selected && this.rows.has(this.selected)) this.markSelected(this.rows.get(this.selected), false);
    this.selected = id;
    if (id && this.rows.has(id)) {
      this.markSelected(this.rows.get(id), true);
      this.setActive(id);
    }
  }

  markSelected(row, on) {
    row.classList.toggle("selected", on);
    const link = row.querySelector("a");
    if (on) link.setAttribute("aria-current", "true");
    else link.removeAttribute("aria-current");
  }

  setActive(id) {
    if (this.active && this.rows.has(this.active)) this.rows.get(this.active).querySelector("a").tabIndex = -1;
    this.active = id;
    if (id && this.rows.has(id)) this.rows.get(id).querySelector("a").tabIndex = 0;
  }

  focus(id) {
    const row = this.rows.get(id ?? this.active);
    if (!row) return false;
    this.setActive(row.dataset.jobId);
    row.querySelector("a").focus();
    return true;
  }

  onKey(event) {
    const row = event.target.closest("tr[data-job-id]");
    if (!row || event.altKey || event.ctrlKey || event.metaKey) return;
    const index = this.order.indexOf(row.dataset.jobId);
    const targets = {
      ArrowDown: index + 1,
      ArrowUp: index - 1,
      Home: 0,
      End: this.order.length - 1,
      PageDown: index + 10,
      PageUp: index - 10,
    };
    if (!(event.key in targets)) return;
    event.preventDefault();
    const next = Math.max(0, Math.min(this.order.length - 1, targets[event.key]));
    this.focus(this.order[next]);
  }
}
