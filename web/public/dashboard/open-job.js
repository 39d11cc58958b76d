// The job the URL names (#/jobs/<id>): read once with its newest log lines, then kept live by
// a JobFollow; older lines are read on demand. States it receives go to the page's apply(),
// which hands this job's back through show(), whatever stream or mutation brought them.
import { canSubscribe, request } from "../jobgraph.js";
import { $ } from "./dom.js";
import { JobDetail } from "./job-detail.js";
import { JobFollow } from "./job-follow.js";
import { LogView } from "./log-view.js";
import { EARLIER_LINES, JOB } from "./queries.js";

const LOG_TAIL = 200;
const EARLIER = 500;

function logState(text) {
  $("detail-log-state").textContent = text ? `(${text})` : "";
}

export class OpenJob {
  /** page = { apply(job), notice(text), actions: { allowed(), cancel(job), retry(job) } } */
  constructor(page) {
    this.page = page;
    this.detail = new JobDetail(page.actions);
    this.log = new LogView($("detail-log"));
    this.id = null;
    this.follow = null;
    $("log-earlier").addEventListener("click", () => this.earlier());
  }

  async open(id) {
    if (this.id === id) return;
    this.stopFollow();
    this.id = id;
    this.detail.open(id);
    this.log.reset();
    logState("");
    $("log-earlier").hidden = true;
    document.title = `jobgraph · job ${id.slice(0, 8)}`;
    let job;
    try {
      job = (await request(JOB, { id, last: LOG_TAIL })).job;
    } catch (error) {
      if (this.id !== id) return;
      const unknown = error.code === "NOT_FOUND" || error.code === "BAD_USER_INPUT";
      this.detail.message(unknown ? `There is no job ${id} for this key.` : `Could not load job ${id}: ${error.message}`, "error");
      return;
    }
    if (this.id !== id) return; // another job was opened meanwhile
    this.log.reset(job.attempt);
    this.log.append(job.logs.lines);
    $("log-earlier").hidden = !job.logs.hasMore;
    this.page.apply(job);
    if (!canSubscribe()) return logState("refreshing every few seconds");
    this.follow = new JobFollow(
      id,
      {
        job: (fresh) => this.page.apply(fresh),
        lines: (lines) => this.append(lines),
        logState,
        failed: (message) => logState(`live updates failed: ${message}`),
      },
      () => this.log.lastSeq,
    );
    this.follow.start(this.detail.job);
  }

  close() {
    this.stopFollow();
    this.id = null;
    this.detail.close();
    document.title = "jobgraph · jobs";
  }

  /** A state of this job, from anywhere. */
  show(job) {
    const shown = this.detail.show(job);
    if (!shown) return; // older than the state on the page
    this.log.setJobAttempt(shown.attempt);
    this.follow?.observe(shown);
  }

  /** After a lost connection: start the streams over from what the page has. */
  restart() {
    this.follow?.restart();
  }

  /** Without subscriptions: read the job and its new lines again. */
  async refresh() {
    const id = this.id;
    if (!id) return;
    try {
      const { job } = await request(JOB, { id, after: this.log.lastSeq, first: EARLIER });
      if (this.id !== id) return;
      this.page.apply(job);
      this.append(job.logs.lines);
    } catch (error) {
      this.page.notice(`Could not refresh job ${id}: ${error.message}`);
    }
  }

  append(lines) {
    this.log.append(lines);
    // The page keeps a bounded number of lines; what it let go can be read again.
    if (this.log.dropped) $("log-earlier").hidden = false;
  }

  async earlier() {
    const id = this.id;
    const button = $("log-earlier");
    button.disabled = true;
    try {
      const { job } = await request(EARLIER_LINES, { id, before: this.log.firstSeq, last: EARLIER });
      if (this.id !== id) return;
      this.log.prepend(job.logs.lines);
      button.hidden = !job.logs.hasMore;
    } catch (error) {
      this.page.notice(`Could not read earlier lines: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  stopFollow() {
    this.follow?.stop();
    this.follow = null;
  }
}
