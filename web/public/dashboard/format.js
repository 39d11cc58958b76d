// Times, durations and counts as the dashboard shows them. The server sends ISO 8601 instants
// in UTC with microseconds; the page shows them in the browser's time zone.

/** Milliseconds since the epoch. Digits past the millisecond are cut first: Date's format has three. */
export function ms(iso) {
  return Date.parse(iso.replace(/(\.\d{3})\d+/, "$1"));
}

/** A number that orders ISO instants to the microsecond (Date keeps milliseconds only). */
export function instant(iso) {
  if (!iso) return 0;
  const micros = /\.\d{3}(\d{1,3})/.exec(iso);
  return ms(iso) * 1000 + (micros ? Number(micros[1].padEnd(3, "0")) : 0);
}

const pad = (number, width = 2) => String(number).padStart(width, "0");

const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const DAY_TIME = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** The time of day on a 24-hour clock with milliseconds, for log lines: "14:02:11.345". */
export function clockMs(iso) {
  const date = new Date(ms(iso));
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** Short for a table cell: the time alone when it is today, else the day and the minute. */
export function shortDateTime(iso, now = new Date()) {
  const date = new Date(ms(iso));
  return date.toDateString() === now.toDateString() ? TIME.format(date) : DAY_TIME.format(date);
}

export function fullDateTime(iso) {
  return FULL.format(new Date(ms(iso)));
}

/** "850 ms", "12 s", "3 min 05 s", "2 h 04 min", "3 d 2 h". */
export function duration(millis) {
  if (!Number.isFinite(millis) || millis < 0) millis = 0;
  if (millis < 1000) return `${Math.round(millis)} ms`;
  const seconds = Math.floor(millis / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(seconds % 60).padStart(2, "0")} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${String(minutes % 60).padStart(2, "0")} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** How long a job has run: to its finish, or to now while it runs. Null before it starts. */
export function runTime(job, now = Date.now()) {
  if (!job.startedAt) return null;
  const end = job.finishedAt ? ms(job.finishedAt) : now;
  return end - ms(job.startedAt);
}

/** "in 42 s" or "12 s ago". */
export function relative(iso, now = Date.now()) {
  const delta = ms(iso) - now;
  return delta >= 0 ? `in ${duration(delta)}` : `${duration(-delta)} ago`;
}

export function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** "3/5" completed, then "1 failed", "1 skipped" when there are such items. */
export function itemSummary(counts) {
  if (!counts) return "";
  const parts = [`${counts.completed}/${counts.total}`];
  if (counts.failed) parts.push(`${counts.failed} failed`);
  if (counts.skipped) parts.push(`${counts.skipped} skipped`);
  return parts.join(" · ");
}
