// Keeps one open job live: its state (jobUpdated: status, items, counts, attempt, worker) and
// its log (log-follow.js), through retry and requeue.
//
// Both streams complete once the job is terminal. A terminal job can come back: retryJob
// takes a FAILED job to PENDING, on this page or anywhere else. So every fresh state of the job,
// whichever stream or mutation brought it, goes through observe(), which starts again whatever
// has ended while the job is not terminal; the log resumes after the last seq shown, so the
// new run's lines follow the old ones with none twice. A stream that ends while the job still
// runs (the server shutting down, say) is started again the same way.
import { subscribe, subscriptionFailure } from "../jobgraph.js";
import { followLog } from "./log-follow.js";
import { JOB_UPDATED, isTerminal } from "./queries.js";

// Errors that a new subscription would only repeat.
const FINAL = new Set(["NOT_FOUND", "BAD_USER_INPUT", "FORBIDDEN", "UNAUTHENTICATED"]);
const RESTART_MS = 500;

/**
 * new JobFollow(id, { job(state), lines(array), logState(text), failed(message) }, lastSeq):
 * `lastSeq` reads the newest seq on the page when the log (re)starts.
 */
export class JobFollow {
  constructor(id, sink, lastSeq) {
    this.id = id;
    this.sink = sink;
    this.lastSeq = lastSeq;
    this.job = null;
    this.stopJob = null;
    this.stopLog = null;
    this.timers = new Set();
    this.stopped = false;
    this.failures = 0;
  }

  /** Start both streams for a job just read. */
  start(job) {
    this.job = job;
    this.startJob();
    this.startLog();
  }

  /** A fresh state of the job from anywhere: restart what has ended if the job is live again. */
  observe(job) {
    this.job = job;
    if (this.stopped) return;
    if (isTerminal(job)) {
      if (!this.stopLog) this.sink.logState("complete");
      return;
    }
    if (!this.stopJob) this.startJob();
    if (!this.stopLog) this.startLog();
  }

  /** After a lost connection: events may have been missed, so both streams start over. */
  restart() {
    this.stopStreams();
    if (this.job) this.start(this.job);
  }

  stop() {
    this.stopped = true;
    this.stopStreams();
  }

  stopStreams() {
    this.stopJob?.();
    this.stopLog?.();
    this.stopJob = this.stopLog = null;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  startJob() {
    if (this.stopped) return;
    let dispose = null;
    const stop = () => dispose?.();
    const current = () => this.stopJob === stop;
    const ended = () => {
      if (current()) this.stopJob = null;
    };
    this.stopJob = stop;
    dispose = subscribe(JOB_UPDATED, { id: this.id }, {
      next: (result) => {
        if (!current()) return;
        if (result.errors?.length) return this.failed(result.errors, ended, () => this.startJob());
        this.failures = 0;
        this.sink.job(result.data.jobUpdated);
      },
      error: (error) => {
        if (current()) this.failed(error, ended, () => this.startJob());
      },
      complete: () => {
        if (!current()) return;
        ended();
        this.later(() => !this.stopJob && this.startJob());
      },
    });
  }

  startLog() {
    if (this.stopped) return;
    let dispose = null;
    const stop = () => dispose?.();
    const current = () => this.stopLog === stop;
    const ended = () => {
      if (current()) this.stopLog = null;
    };
    this.stopLog = stop;
    this.sink.logState("live");
    dispose = followLog(this.id, this.lastSeq(), {
      lines: (lines) => {
        if (!current()) return;
        this.failures = 0;
        this.sink.lines(lines);
      },
      error: (error) => {
        if (current()) this.failed(error, ended, () => this.startLog());
      },
      complete: () => {
        if (!current()) return;
        ended();
        this.sink.logState(isTerminal(this.job) ? "complete" : "waiting");
        this.later(() => !this.stopLog && this.startLog());
      },
    });
  }

  /**
   * Start again shortly unless the job is terminal by then. A stream may end a moment before
   * the terminal state reaches the page, so the check waits for RESTART_MS rather than trusting
   * the state known at the end.
   */
  later(start) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped && !isTerminal(this.job)) start();
    }, RESTART_MS);
    this.timers.add(timer);
  }

  failed(error, ended, start) {
    ended();
    const result = subscriptionFailure(error);
    const first = result.errors[0];
    const code = first.extensions?.code;
    this.sink.failed(`${first.message}${code ? ` (${code})` : ""}`);
    if (FINAL.has(code) || this.stopped) return;
    // Back off while a stream keeps failing, up to 15 s between tries.
    this.failures += 1;
    const wait = Math.min(15000, RESTART_MS * 2 ** this.failures);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) start();
    }, wait);
    this.timers.add(timer);
  }
}
