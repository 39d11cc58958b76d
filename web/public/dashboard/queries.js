// The GraphQL documents the dashboard sends. Every job state carries updatedAt, so that of two
// states of one job, from two streams, the page keeps the newer.

const ROW = `id status progress attempt createdAt updatedAt startedAt finishedAt cancelable retryable
  error workerId leaseExpiresAt itemCounts { total pending running completed failed skipped }`;
const DETAIL = `${ROW} logLineCount items { position platform code url status error }`;
export const LOG_LINE = "seq timestamp level message attempt";

export const ME = "query Me { me { name tenant scopes } }";

export const LIST = `query Jobs($first: Int!, $after: String, $filter: JobFilter) {
  jobs(first: $first, after: $after, filter: $filter, tail: 0) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { ${ROW} } } } }`;

export const COUNT = `query JobCount($filter: JobFilter) {
  jobs(first: 1, filter: $filter, tail: 0) { totalCount } }`;

/** A job with its newest log lines (`last`), or with the lines after a seq (`after`, `first`). */
export const JOB = `query Job($id: ID!, $last: Int, $after: Int, $first: Int) { job(id: $id, tail: 0) {
  ${DETAIL} logs(last: $last, after: $after, first: $first) { lines { ${LOG_LINE} } hasMore } } }`;

export const EARLIER_LINES = `query EarlierLines($id: ID!, $before: Int!, $last: Int!) {
  job(id: $id, tail: 0) { logs(before: $before, last: $last) { lines { ${LOG_LINE} } hasMore } } }`;

/** A job's new log lines, every line since the last message in each (dashboard/log-follow.js). */
export const FOLLOW_LOG = `subscription FollowLog($id: ID!, $after: Int) {
  jobLogBatches(id: $id, after: $after) { lastSeq lines { ${LOG_LINE} } } }`;

export const JOB_EVENTS = `subscription JobEvents($statuses: [JobStatus!]) {
  jobEvents(statuses: $statuses) { ${ROW} } }`;

export const JOB_UPDATED = `subscription JobUpdated($id: ID!) { jobUpdated(id: $id, tail: 0) { ${DETAIL} } }`;

export const CANCEL = `mutation Cancel($id: ID!) { cancelJob(id: $id) { ${DETAIL} } }`;
export const RETRY = `mutation Retry($id: ID!) { retryJob(id: $id) { ${DETAIL} } }`;
export const CREATE = `mutation Create($input: CreateJobInput!) { createJob(input: $input) { ${ROW} } }`;

export const STATUSES = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"];
export const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
export const isTerminal = (job) => TERMINAL.has(job.status);
