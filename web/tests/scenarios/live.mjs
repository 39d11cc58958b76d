// The dashboard staying true to the server while a worker (plain HTTP beside the browser) moves
// a job: progress, items and counts, the log through requeue, retry and a server restart.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Tell the pytest test something (a file in options.signalDir) and wait for its answer. */
async function handshake(t, say, answer) {
  writeFileSync(join(t.options.signalDir, say), "");
  const deadline = Date.now() + 60000;
  while (!existsSync(join(t.options.signalDir, answer))) {
    if (Date.now() > deadline) throw new Error(`no ${answer} signal from the test`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Wait until the open job's pane satisfies a condition on what the page shows. */
async function paneUntil(t, check, arg) {
  await t.until(check, arg);
  return t.detail();
}

export default {
  async dashboard(t) {
    const { page, options } = t;
    await t.signIn();
    const row = t.row(options.jobId);
    await row.waitFor();
    await t.shot("dashboard");
    const result = {
      row: await row.innerText(),
      progress: Number(await row.locator("[role=progressbar]").getAttribute("aria-valuenow")),
      me: await page.locator("#me-info").innerText(),
      total: await page.locator("#total").innerText(),
    };
    await row.click();
    await page.locator("#detail-items li").first().waitFor();
    await page.locator("#detail-log .log-line").first().waitFor();
    await t.shot("dashboard-job");
    return { ...result, detail: await t.detail(), live: await page.locator("#live-state").innerText() };
  },

  async dashboardProgress(t) {
    const { page, options, worker } = t;
    await t.signIn();
    const row = t.row(options.jobId);
    const bar = row.locator("[role=progressbar]");
    await bar.waitFor();
    await page.waitForSelector("#live-state.up");
    const before = Number(await bar.getAttribute("aria-valuenow"));
    await row.click();
    await page.locator("#detail-items li").first().waitFor();
    const claimed = await worker.claim();
    await worker.heartbeat(claimed.id, 60);
    await worker.log(claimed.id, [["INFO", "worker says hello"]]);
    await t.until(
      (id) => document.querySelector(`tr[data-job-id="${id}"] [role=progressbar]`)?.getAttribute("aria-valuenow") === "60",
      options.jobId,
    );
    await page.locator("#detail-log").getByText("worker says hello").waitFor();
    await t.shot("dashboard-progress-after");
    return {
      claimed: claimed.id,
      before,
      after: Number(await bar.getAttribute("aria-valuenow")),
      row: await row.innerText(),
      live: await page.locator("#live-state").innerText(),
      barColor: await t.barColor(options.jobId),
    };
  },

  /** Items, item counts, status and worker follow every updateItem, to completion. */
  async liveItems(t) {
    const { page, options, worker } = t;
    const id = options.jobId;
    await t.signIn(options.key, `/#/jobs/${id}`);
    await page.waitForSelector("#live-state.up");
    await page.waitForFunction(() => document.querySelectorAll("#detail-items li").length === 3);
    const steps = {};
    const claimed = await worker.claim();
    await worker.item(id, 0, "RUNNING");
    steps.running = await paneUntil(t, () => document.querySelector('#detail-items li[data-position="0"]')?.dataset.status === "RUNNING");
    await worker.item(id, 0, "COMPLETED");
    await worker.item(id, 1, "FAILED", "video removed");
    await worker.item(id, 2, "RUNNING");
    await worker.heartbeat(id, 66);
    steps.middle = await paneUntil(t, () => {
      const statuses = [...document.querySelectorAll("#detail-items li")].map((li) => li.dataset.status);
      return statuses.join() === "COMPLETED,FAILED,RUNNING";
    });
    steps.middleRow = await t.row(id).innerText();
    await t.shot("dashboard-items-live");
    await worker.item(id, 2, "COMPLETED");
    await worker.complete(id);
    steps.done = await paneUntil(t, () => document.querySelector("#detail-facts .badge")?.textContent === "COMPLETED");
    await t.until((jobId) => document.querySelector(`tr[data-job-id="${jobId}"]`)?.innerText.includes("2/3"), id);
    steps.doneRow = await t.row(id).innerText();
    steps.barColor = await t.barColor(id);
    return { claimed: claimed.id, steps, server: await t.serverJob(id) };
  },

  /**
   * One job through a lease that expires (requeued, attempt 2), a failure, a Retry from the
   * page (attempt 3) and completion: the log follow resumes each time and shows every line
   * once, each run under its own heading.
   */
  async retryRequeue(t) {
    const { page, options, worker } = t;
    const id = options.jobId;
    await t.signIn(options.key, `/#/jobs/${id}`);
    await page.waitForSelector("#live-state.up");
    await page.waitForSelector("#detail-items li");
    const steps = {};

    // Run 1: the worker goes silent; the sweeper requeues the job.
    await worker.claim(2);
    await worker.log(id, [["INFO", "run 1 starts"], ["DEBUG", "run 1 detail"]]);
    steps.requeued = await paneUntil(t, () => {
      const facts = [...document.querySelectorAll("#detail-facts > div")].map((d) => d.textContent);
      return document.querySelector("#detail-facts .badge")?.textContent === "PENDING" && facts.includes("Attempt2");
    });

    // Run 2: lines with each level, one item fails, the job fails.
    await worker.claim();
    await worker.heartbeat(id, 50);
    await worker.log(id, [["INFO", "run 2 starts"], ["WARNING", "slow download"], ["ERROR", "video removed"]]);
    await worker.item(id, 0, "COMPLETED");
    await worker.item(id, 1, "FAILED", "video removed");
    await worker.fail(id, "1 of 2 items failed");
    steps.failed = await paneUntil(
      t,
      () =>
        document.querySelector("#detail-facts .badge")?.textContent === "FAILED" &&
        document.querySelector("#detail-log-state").textContent === "(complete)" &&
        document.querySelectorAll("#detail-log .log-line").length === 5,
    );
    steps.failedBar = await t.barColor(id);
    steps.failedDetailBar = await page.evaluate(() => getComputedStyle(document.querySelector("#detail-facts .bar-fill")).backgroundColor);
    await t.shot("dashboard-failed");

    // Retry from the page: the server resets the failed item; the page follows again.
    await page.click("#retry-job");
    steps.retried = await paneUntil(
      t,
      () =>
        document.querySelector("#detail-facts .badge")?.textContent === "PENDING" &&
        [...document.querySelectorAll("#detail-items li")].map((li) => li.dataset.status).join() === "COMPLETED,PENDING" &&
        document.querySelector("#detail-log-state").textContent === "(live)",
    );

    // Run 3 completes.
    await worker.claim();
    await worker.log(id, [["INFO", "run 3 starts"], ["INFO", "run 3 done"]]);
    await worker.item(id, 1, "COMPLETED");
    await worker.complete(id);
    steps.completed = await paneUntil(
      t,
      () =>
        document.querySelector("#detail-facts .badge")?.textContent === "COMPLETED" &&
        document.querySelectorAll("#detail-log .log-line").length === 7 &&
        document.querySelector("#detail-log-state").textContent === "(complete)",
    );
    await t.shot("dashboard-retried");
    return { steps, server: await t.serverJob(id) };
  },

  /**
   * The server restarts while a job is open and running: the page says it is reconnecting,
   * comes back by itself, and shows what happened after (lines, items, completion, a new job).
   */
  async serverRestart(t) {
    const { page, options, worker } = t;
    const id = options.jobId;
    await t.signIn(options.key, `/#/jobs/${id}`);
    await page.waitForSelector("#live-state.up");
    await worker.claim(600);
    await worker.log(id, [["INFO", "before the restart"]]);
    await worker.item(id, 0, "COMPLETED");
    await t.until(() => document.querySelectorAll("#detail-log .log-line").length === 1);
    await t.until(() => document.querySelector('#detail-items li[data-position="0"]')?.dataset.status === "COMPLETED");
    // Every text the live indicator shows from here on.
    await page.evaluate(() => {
      window.liveStates = [];
      const box = document.querySelector("#live-state");
      new MutationObserver(() => window.liveStates.push(box.textContent)).observe(box, { childList: true, characterData: true, subtree: true });
    });
    await handshake(t, "ready", "restarted");
    await worker.log(id, [["INFO", "after the restart"]]);
    await worker.item(id, 1, "COMPLETED");
    await worker.complete(id);
    const created = await t.createJob([{ platform: "YOUTUBE", code: "9bZkp7q19f0" }]);
    await t.until(
      (jobId) =>
        document.querySelector("#detail-facts .badge")?.textContent === "COMPLETED" &&
        document.querySelectorAll("#detail-log .log-line").length === 2 &&
        document.querySelector(`tr[data-job-id="${jobId}"]`) !== null &&
        document.querySelector("#total").textContent === "2 jobs",
      created,
    );
    await t.until(() => document.querySelector("#detail-log-state").textContent === "(complete)");
    return {
      detail: await t.detail(),
      liveStates: await page.evaluate(() => window.liveStates),
      live: await page.locator("#live-state").innerText(),
      total: await page.locator("#total").innerText(),
      server: await t.serverJob(id),
    };
  },

  /** A long log: the newest lines first, the rest on demand, every seq once and in order. */
  async earlierLines(t) {
    const { page, options } = t;
    await t.signIn(options.key, `/#/jobs/${options.jobId}`);
    await page.waitForSelector("#detail-log .log-line");
    const seqs = () => page.evaluate(() => [...document.querySelectorAll("#detail-log .log-line")].map((line) => Number(line.dataset.seq)));
    const initial = { seqs: await seqs(), button: await page.isVisible("#log-earlier") };
    await page.click("#log-earlier");
    await t.until(() => document.querySelector("#log-earlier").hidden);
    return { initial, after: { seqs: await seqs(), button: await page.isVisible("#log-earlier") } };
  },

  /** Without the graphql-ws build the page says it is not live and refreshes instead. */
  async pollingFallback(t) {
    const { page, options, worker } = t;
    const id = options.jobId;
    await page.route("**/vendor/graphql-ws.min.js", (route) => route.abort());
    await t.signIn(options.key, `/#/jobs/${id}`);
    await page.waitForSelector("#detail-items li");
    const claimed = await worker.claim();
    await worker.heartbeat(claimed.id, 30);
    await worker.log(claimed.id, [["INFO", "seen by polling"]]);
    await t.until(
      (jobId) => document.querySelector(`tr[data-job-id="${jobId}"] [role=progressbar]`)?.getAttribute("aria-valuenow") === "30",
      id,
    );
    await page.locator("#detail-log").getByText("seen by polling").waitFor();
    return { live: await page.locator("#live-state").innerText(), detail: await t.detail() };
  },
};
