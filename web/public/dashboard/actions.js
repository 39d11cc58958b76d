// What a key with `submit` can do from the page: submit a job, cancel one (after a
// confirmation), retry one. Each hands the job's new state to the page's apply().
import { request } from "../jobgraph.js";
import { confirmAction } from "./confirm.js";
import { $, el } from "./dom.js";
import { CANCEL, CREATE, RETRY } from "./queries.js";

/** One item a line: a link, or platform:code. */
export function parseItems(text) {
  return text
    .split(/\n+/)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const pair = /^(youtube|instagram|tiktok):(\S+)$/i.exec(line);
      return pair ? { platform: pair[1].toUpperCase(), code: pair[2] } : { url: line };
    });
}

/** page = { apply(job), changed(), notice(text), say(...parts) } */
export function jobActions(page) {
  async function act(mutation, job, verb, done) {
    const buttons = () => $("detail-actions").querySelectorAll("button");
    for (const button of buttons()) button.disabled = true;
    try {
      const data = await request(mutation, { id: job.id });
      page.apply(Object.values(data)[0]);
      page.changed();
      page.notice("");
      page.say(`Job ${job.id.slice(0, 8)} ${done}.`);
    } catch (error) {
      page.notice(`Could not ${verb} job ${job.id.slice(0, 8)}: ${error.message}`);
    } finally {
      for (const button of buttons()) button.disabled = false;
    }
  }

  return {
    async cancel(job) {
      const running = job.status === "RUNNING";
      const confirmed = await confirmAction({
        title: `Cancel job ${job.id.slice(0, 8)}?`,
        body: `${running ? "Its worker is told to stop and its" : "Its"} unfinished items are skipped. A cancelled job cannot be retried.`,
        confirm: "Cancel job",
        keep: "Keep job",
      });
      if (confirmed) await act(CANCEL, job, "cancel", "cancelled");
    },

    retry: (job) => act(RETRY, job, "retry", "queued again"),

    async submit(event) {
      event.preventDefault();
      const items = parseItems($("submit-urls").value);
      if (!items.length) return page.notice("Enter at least one video link.");
      const button = $("submit-button");
      button.disabled = true;
      try {
        const job = (await request(CREATE, { input: { items } })).createJob;
        page.apply(job);
        page.changed();
        $("submit-urls").value = "";
        page.notice("");
        page.say("Submitted job ", el("a", { href: `#/jobs/${job.id}`, textContent: job.id.slice(0, 8) }), ".");
      } catch (error) {
        page.notice(`Submit failed: ${error.message}`);
      } finally {
        button.disabled = false;
      }
    },
  };
}
