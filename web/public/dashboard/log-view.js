// The log pane of one job: lines with their time and level (levels coloured), in seq order,
// each seq shown once, the job's runs (attempts) set apart by a heading line.
import { el } from "./dom.js";
import { clockMs, fullDateTime } from "./format.js";

// Lines kept in the page; older ones are dropped and can be read again ("Show earlier lines").
const MAX_LINES = 5000;

const LEVELS = {
  TRACE: "debug",
  DEBUG: "debug",
  INFO: "info",
  NOTICE: "info",
  WARN: "warning",
  WARNING: "warning",
  ERR: "error",
  ERROR: "error",
  CRITICAL: "critical",
  FATAL: "critical",
};

function levelClass(level) {
  return `lvl-${LEVELS[String(level).toUpperCase()] ?? "other"}`;
}

function lineElement(line) {
  return el(
    "div",
    { class: `log-line ${levelClass(line.level)}`, dataset: { seq: line.seq, attempt: line.attempt } },
    el("time", { dateTime: line.timestamp, title: fullDateTime(line.timestamp), textContent: clockMs(line.timestamp) }),
    el("span", { class: "lvl", textContent: String(line.level).toUpperCase() }),
    el("span", { class: "msg", textContent: line.message }),
  );
}

function attemptHeading(attempt) {
  return el("div", { class: "log-attempt", dataset: { attempt } }, `Attempt ${attempt}`);
}

export class LogView {
  constructor(container) {
    this.container = container;
    this.reset();
  }

  reset(jobAttempt = 1) {
    this.container.replaceChildren();
    this.firstSeq = 0; // the oldest line shown (0: none)
    this.lastSeq = 0; // the newest line received; the follow resumes after it
    this.count = 0;
    this.dropped = false; // lines older than firstSeq exist that the page let go
    this.jobAttempt = jobAttempt;
    this.headings = false; // whether runs are set apart (once the job has had several)
  }

  /** The job's current attempt: once it is above 1 the runs get headings. */
  setJobAttempt(attempt) {
    this.jobAttempt = attempt;
    if (!this.headings && this.needsHeadings()) this.relabel();
  }

  /** Newer lines, in seq order; any already shown are skipped. */
  append(lines) {
    const fresh = lines.filter((line) => line.seq > this.lastSeq);
    if (!fresh.length) return;
    const box = this.container;
    const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
    // A heading always comes before a line, so the last child is the newest line.
    let previous = box.lastElementChild?.dataset.attempt;
    const fragment = document.createDocumentFragment();
    for (const line of fresh) {
      const attempt = String(line.attempt);
      if (this.headings && attempt !== previous) fragment.append(attemptHeading(attempt));
      fragment.append(lineElement(line));
      previous = attempt;
    }
    box.append(fragment);
    this.lastSeq = fresh[fresh.length - 1].seq;
    if (!this.firstSeq) this.firstSeq = fresh[0].seq;
    this.count += fresh.length;
    if (!this.headings && this.needsHeadings()) this.relabel();
    this.trim();
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  /** Older lines (read with "Show earlier lines"), in seq order, put above what is shown. */
  prepend(lines) {
    const older = this.firstSeq ? lines.filter((line) => line.seq < this.firstSeq) : lines;
    if (!older.length) return;
    const box = this.container;
    const fromBottom = box.scrollHeight - box.scrollTop;
    box.prepend(...older.map(lineElement));
    this.firstSeq = older[0].seq;
    if (!this.lastSeq) this.lastSeq = older[older.length - 1].seq;
    this.count += older.length;
    this.relabel();
    box.scrollTop = box.scrollHeight - fromBottom; // the lines being read stay in place
  }

  lines() {
    return [...this.container.querySelectorAll(".log-line")];
  }

  needsHeadings() {
    const first = this.container.querySelector(".log-line");
    const several = first !== null && first.dataset.attempt !== this.container.lastElementChild.dataset.attempt;
    return this.jobAttempt > 1 || several;
  }

  /** Rebuild the attempt headings: one before each run's first line, once there are runs. */
  relabel() {
    const box = this.container;
    for (const heading of box.querySelectorAll(".log-attempt")) heading.remove();
    this.headings = this.needsHeadings();
    if (!this.headings) return;
    let previous;
    for (const line of this.lines()) {
      if (line.dataset.attempt !== previous) line.before(attemptHeading(line.dataset.attempt));
      previous = line.dataset.attempt;
    }
  }

  trim() {
    if (this.count <= MAX_LINES) return;
    const lines = this.lines();
    const excess = this.count - MAX_LINES;
    for (let index = 0; index < excess; index += 1) lines[index].remove();
    this.count = MAX_LINES;
    this.firstSeq = Number(lines[excess].dataset.seq);
    this.dropped = true;
    this.relabel();
  }
}
