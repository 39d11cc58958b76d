// What the browser scenarios share: the page's key bar, screenshots, axe-core run inside the
// page, and GraphQL calls made beside the browser (a user's other client, a worker) over HTTP.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const WORKER_ID = "browser-test-worker";

const ITEM_FIELDS = "position status error";
const JOB_FIELDS = `id status attempt progress logLineCount items { ${ITEM_FIELDS} }`;

export function tools(page, options) {
  async function graphql(query, variables, key) {
    const response = await fetch(`${options.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", "X-API-Key": key },
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    if (body.errors) throw new Error(`GraphQL call failed: ${JSON.stringify(body.errors)}`);
    return body.data;
  }

  const worker = {
    async claim(leaseSeconds = 60) {
      const data = await graphql(
        `mutation($w: String!, $s: Int) { claimJob(workerId: $w, leaseSeconds: $s) { id attempt } }`,
        { w: WORKER_ID, s: leaseSeconds },
        options.workerKey,
      );
      if (!data.claimJob) throw new Error("nothing to claim");
      return data.claimJob;
    },
    heartbeat: (jobId, progress) =>
      graphql(
        `mutation($j: ID!, $w: String!, $p: Int) { heartbeat(jobId: $j, workerId: $w, progress: $p) { cancelRequested } }`,
        { j: jobId, w: WORKER_ID, p: progress },
        options.workerKey,
      ),
    /** lines: [[level, message], ...] */
    log: (jobId, lines) =>
      graphql(
        `mutation($j: ID!, $w: String!, $l: [LogLineInput!]!) { appendLogs(jobId: $j, workerId: $w, lines: $l) }`,
        { j: jobId, w: WORKER_ID, l: lines.map(([level, message]) => ({ level, message })) },
        options.workerKey,
      ),
    item: (jobId, position, status, error = null) =>
      graphql(
        `mutation($j: ID!, $w: String!, $p: Int!, $s: ItemStatus!, $e: String) {
          updateItem(jobId: $j, workerId: $w, position: $p, status: $s, error: $e) { status } }`,
        { j: jobId, w: WORKER_ID, p: position, s: status, e: error },
        options.workerKey,
      ),
    complete: (jobId) =>
      graphql(`mutation($j: ID!, $w: String!) { completeJob(jobId: $j, workerId: $w) { status } }`, { j: jobId, w: WORKER_ID }, options.workerKey),
    fail: (jobId, error) =>
      graphql(
        `mutation($j: ID!, $w: String!, $e: String!) { failJob(jobId: $j, workerId: $w, error: $e) { status } }`,
        { j: jobId, w: WORKER_ID, e: error },
        options.workerKey,
      ),
  };

  const t = {
    page,
    options,
    worker,
    graphql,

    async shot(name) {
      await page.screenshot({ path: join(options.screenshots, `${name}.png`), fullPage: true });
    },

    async goto(path = "/") {
      await page.goto(`${options.url}${path}`);
    },

    /** Enter a key in the page's key bar (dashboard or GraphiQL). */
    async setKey(key = options.key) {
      await page.fill("#api-key", key);
      await page.click("#save-key");
    },

    /** Open the dashboard and use a key; resolves once the page has checked it. */
    async signIn(key = options.key, path = "/") {
      await t.goto(path);
      await t.setKey(key);
      await page.waitForSelector("#me-info:not(:empty)");
    },

    /** A job as the server has it now, read with the user's key. */
    async serverJob(id, key = options.key) {
      return (await graphql(`query($id: ID!) { job(id: $id) { ${JOB_FIELDS} } }`, { id }, key)).job;
    },

    async createJob(items, key = options.key) {
      const data = await graphql(`mutation($i: CreateJobInput!) { createJob(input: $i) { id } }`, { i: { items } }, key);
      return data.createJob.id;
    },

    row: (id) => page.locator(`tr[data-job-id="${id}"]`),

    /** Wait until fn(arg) is true in the page. */
    until: (fn, arg) => page.waitForFunction(fn, arg),

    /** The open job's pane as the page shows it. */
    detail: () =>
      page.evaluate(() => ({
        id: document.querySelector("#detail-id")?.textContent,
        hidden: document.querySelector("#detail").hidden,
        message: document.querySelector("#detail-message").hidden ? "" : document.querySelector("#detail-message").textContent,
        status: document.querySelector("#detail-facts .badge")?.textContent ?? null,
        facts: Object.fromEntries(
          [...document.querySelectorAll("#detail-facts > div")].map((pair) => [
            pair.querySelector("dt").textContent,
            pair.querySelector("dd").textContent.trim(),
          ]),
        ),
        items: [...document.querySelectorAll("#detail-items li")].map((li) => li.dataset.status),
        itemText: [...document.querySelectorAll("#detail-items li")].map((li) => li.textContent),
        actions: [...document.querySelectorAll("#detail-actions button")].map((b) => b.textContent),
        logState: document.querySelector("#detail-log-state").textContent,
        lines: [...document.querySelectorAll("#detail-log .log-line")].map((line) => ({
          seq: Number(line.dataset.seq),
          attempt: Number(line.dataset.attempt),
          time: line.querySelector("time").textContent,
          datetime: line.querySelector("time").dateTime,
          level: line.querySelector(".lvl").textContent,
          levelColor: getComputedStyle(line.querySelector(".lvl")).color,
          message: line.querySelector(".msg").textContent,
        })),
        headings: [...document.querySelectorAll("#detail-log .log-attempt")].map((h) => h.textContent),
        hash: window.location.hash,
      })),

    /** The fill colour of a job's progress bar in its row. */
    barColor: (id) =>
      page.evaluate((jobId) => {
        const fill = document.querySelector(`tr[data-job-id="${jobId}"] .bar-fill`);
        return fill ? getComputedStyle(fill).backgroundColor : null;
      }, id),

    /** axe-core, injected into the page and run there; violations by impact. */
    async axe(include = null) {
      await page.evaluate(AXE_SOURCE);
      const { violations, passed } = await page.evaluate(async (selector) => {
        const result = await window.axe.run(selector ? { include: [selector] } : document, { resultTypes: ["violations"] });
        return {
          passed: result.passes.map((rule) => rule.id),
          violations: result.violations.map((v) => ({
            id: v.id,
            impact: v.impact,
            help: v.help,
            targets: v.nodes.slice(0, 5).map((node) => node.target.join(" ")),
          })),
        };
      }, include);
      const counts = { critical: 0, serious: 0, moderate: 0, minor: 0 };
      for (const v of violations) counts[v.impact] = (counts[v.impact] ?? 0) + 1;
      return { violations, counts, passed };
    },
  };
  return t;
}
