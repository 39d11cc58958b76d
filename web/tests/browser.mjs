// Drives Debian's Chromium (playwright-core, no downloaded browser) through jobgraph's pages and
// prints one JSON object on stdout for the pytest test that runs this script to assert on.
//
//   node web/tests/browser.mjs <scenario> '<json options>'
//   options: { url, key, jobId, screenshots, userDataDir, timeoutMs }
//
// Every request the browser makes is recorded (requests, WebSocket opens), so the test can check
// that nothing left the machine.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [scenario, raw] = process.argv.slice(2);
const options = JSON.parse(raw);
const timeout = options.timeoutMs ?? 20000;
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const requests = [];
const consoleErrors = [];
mkdirSync(options.screenshots, { recursive: true });

const context = await chromium.launchPersistentContext(options.userDataDir, {
  executablePath: options.executablePath ?? "/usr/bin/chromium",
  headless: true,
  args: FLAGS,
  viewport: { width: 1280, height: 800 },
});
context.on("request", (request) => requests.push(request.url()));
const page = context.pages()[0] ?? (await context.newPage());
page.on("websocket", (socket) => requests.push(socket.url()));
page.on("console", (message) => {
  if (message.type() === "error") consoleErrors.push(message.text());
});
page.on("pageerror", (error) => consoleErrors.push(String(error)));
page.setDefaultTimeout(timeout);

async function shot(name) {
  await page.screenshot({ path: join(options.screenshots, `${name}.png`), fullPage: true });
}

async function setKey() {
  await page.fill("#api-key", options.key);
  await page.click("#save-key");
}

// What a worker does, over plain HTTP with a `work` key, while the page is watching.
async function asWorker(query, variables) {
  const response = await fetch(`${options.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", "X-API-Key": options.workerKey },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`worker call failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const scenarios = {
  async graphiql() {
    const query = `query Tail($id: ID!) { job(id: $id, tail: 2) { id status logTail } }`;
    const variables = JSON.stringify({ id: options.jobId });
    const search = new URLSearchParams({ query, variables });
    await page.goto(`${options.url}/graphql#${search}`);
    await page.waitForSelector(".graphiql-container");
    await setKey();
    await page.waitForSelector(".graphiql-container");
    await page.click(".graphiql-execute-button");
    const response = page.locator(".graphiql-response");
    await response.getByText(options.jobId).first().waitFor();
    await page.waitForTimeout(200);
    await shot("graphiql");
    return { response: await response.innerText() };
  },

  async graphiqlUnauthenticated() {
    await page.goto(`${options.url}/graphql#${new URLSearchParams({ query: "{ me { name } }" })}`);
    await page.waitForSelector(".graphiql-execute-button");
    await page.click(".graphiql-execute-button");
    const response = page.locator(".graphiql-response");
    await response.getByText("UNAUTHENTICATED").first().waitFor();
    await shot("graphiql-401");
    return { response: await response.innerText() };
  },

  async missingAssets() {
    await page.goto(`${options.url}/graphql`);
    await page.waitForSelector(".jg-missing");
    const graphiqlNotice = await page.locator(".jg-missing").innerText();
    await shot("graphiql-missing-assets");
    await page.goto(`${options.url}/`);
    await page.waitForSelector(".jg-missing");
    return { graphiqlNotice, dashboardNotice: await page.locator(".jg-missing").innerText() };
  },

  async dashboard() {
    await page.goto(`${options.url}/`);
    await setKey();
    const row = page.locator(`tr[data-job-id="${options.jobId}"]`);
    await row.waitFor();
    await page.waitForSelector("#me-info:not(:empty)");
    await shot("dashboard");
    const result = {
      row: await row.innerText(),
      progress: Number(await row.locator("progress").getAttribute("value")),
      me: await page.locator("#me-info").innerText(),
    };
    await row.click();
    await page.locator("#detail-items li").first().waitFor();
    await page.locator("#detail-log").getByText("line").first().waitFor();
    await shot("dashboard-job");
    result.items = await page.locator("#detail-items").innerText();
    result.log = await page.locator("#detail-log").innerText();
    result.live = await page.locator("#live-state").innerText();
    return result;
  },

  async dashboardProgress() {
    await page.goto(`${options.url}/`);
    await setKey();
    const row = page.locator(`tr[data-job-id="${options.jobId}"]`);
    const bar = row.locator("progress");
    await bar.waitFor();
    const before = Number(await bar.getAttribute("value"));
    await row.click();
    await page.locator("#detail-items li").first().waitFor();
    await shot("dashboard-progress-before");
    const worker = { workerId: "browser-test-worker" };
    const claimed = await asWorker(
      "mutation($workerId: String!) { claimJob(workerId: $workerId) { id } }", worker);
    await asWorker(
      "mutation($jobId: ID!, $workerId: String!) { heartbeat(jobId: $jobId, workerId: $workerId, progress: 60) { cancelRequested } }",
      { ...worker, jobId: claimed.claimJob.id });
    await asWorker(
      "mutation($jobId: ID!, $workerId: String!) { appendLogs(jobId: $jobId, workerId: $workerId, lines: [{message: \"worker says hello\"}]) }",
      { ...worker, jobId: claimed.claimJob.id });
    // Live through jobEvents, or within one polling period where subscriptions are missing.
    await page.waitForFunction(
      (id) => document.querySelector(`tr[data-job-id="${id}"] progress`)?.value === 60,
      options.jobId,
    );
    await page.locator("#detail-log").getByText("worker says hello").waitFor();
    await shot("dashboard-progress-after");
    return {
      claimed: claimed.claimJob.id,
      before,
      after: Number(await row.locator("progress").getAttribute("value")),
      row: await row.innerText(),
      live: await page.locator("#live-state").innerText(),
    };
  },
};

let output;
try {
  output = { ok: true, ...(await scenarios[scenario]()) };
} catch (error) {
  await shot(`${scenario}-failure`).catch(() => {});
  output = { ok: false, error: String(error?.stack || error) };
}
await context.close();
output.requests = requests;
output.consoleErrors = consoleErrors;
process.stdout.write(JSON.stringify(output) + "\n");
