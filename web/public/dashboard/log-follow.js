// How a job's new log lines reach the page, in one place. The rest of the page takes lines in
// batches (an array at a time) and knows nothing of the subscription that brought them.
//
// The server streams jobLogBatches(id, after): every line since its previous message in each,
// gathered here per animation frame. FOLLOW_LOG (in queries.js) and batchOf below are all
// that know the subscription's shape.
import { subscribe } from "../jobgraph.js";
import { FOLLOW_LOG } from "./queries.js";

/** The lines one subscription message carries. */
const batchOf = (data) => data.jobLogBatches.lines;

/**
 * Follow the lines of job `id` with seq > `after`. sink = { lines(array), complete(), error(e) }:
 * `complete` once the job is terminal and every line was sent (or the server shut the stream
 * down); `error` with a list of GraphQL errors or a connection failure. Returns a stop function.
 */
export function followLog(id, after, sink) {
  let queued = [];
  let frame = 0;
  let stopped = false;
  const flush = () => {
    frame = 0;
    const batch = queued;
    queued = [];
    if (batch.length && !stopped) sink.lines(batch);
  };
  const dispose = subscribe(FOLLOW_LOG, { id, after }, {
    next: (result) => {
      if (stopped) return;
      if (result.errors?.length) return sink.error(result.errors);
      queued.push(...batchOf(result.data));
      // One DOM update a frame, however many lines arrive in it.
      if (!frame) frame = requestAnimationFrame(flush);
    },
    error: (error) => {
      if (stopped) return;
      flush();
      sink.error(error);
    },
    complete: () => {
      if (stopped) return;
      flush();
      sink.complete();
    },
  });
  return () => {
    stopped = true;
    if (frame) cancelAnimationFrame(frame);
    dispose();
  };
}
