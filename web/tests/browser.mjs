// Drives Debian's Chromium (playwright-core, no downloaded browser) through jobgraph's pages and
// prints one JSON object on stdout for the pytest test that runs this script to assert on.
//
//   node web/tests/browser.mjs <scenario> '<json options>'
//   options: { url, key, workerKey, jobId, screenshots, userDataDir, executablePath, timeoutMs }
//
// Every request the browser makes is recorded (requests, WebSocket opens), so the test can check
// that nothing left the machine; console errors and uncaught page errors are recorded too.
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
import { tools } from "./tools.mjs";
import controls from "./scenarios/controls.mjs";
import graphiql from "./scenarios/graphiql.mjs";
import live from "./scenarios/live.mjs";
import screens from "./scenarios/screens.mjs";

const scenarios = { ...graphiql, ...live, ...controls, ...screens };
const [scenario, raw] = process.argv.slice(2);
const options = JSON.parse(raw);
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

if (!scenarios[scenario]) {
  process.stdout.write(JSON.stringify({ ok: false, error: `no scenario ${scenario}` }) + "\n");
  process.exit(2);
}

const requests = [];
const consoleErrors = [];
const pageErrors = []; // uncaught exceptions in the page's own code
mkdirSync(options.screenshots, { recursive: true });

const context = await chromium.launchPersistentContext(options.userDataDir, {
  executablePath: options.executablePath ?? "/usr/bin/chromium",
  headless: true,
  args: FLAGS,
  viewport: { width: 1280, height: 800 },
  // Fixed, so that the times the page shows can be checked against the server's instants.
  timezoneId: "UTC",
  locale: "en-GB",
});
context.on("request", (request) => requests.push(request.url()));
const page = context.pages()[0] ?? (await context.newPage());
page.on("websocket", (socket) => requests.push(socket.url()));
page.on("console", (message) => {
  if (message.type() === "error") consoleErrors.push(message.text());
});
page.on("pageerror", (error) => pageErrors.push(String(error?.stack || error)));
page.setDefaultTimeout(options.timeoutMs ?? 20000);

const t = tools(page, options);
let output;
try {
  output = { ok: true, ...(await scenarios[scenario](t)) };
} catch (error) {
  await t.shot(`${scenario}-failure`).catch(() => {});
  output = { ok: false, error: String(error?.stack || error) };
}
await context.close();
output.requests = requests;
output.consoleErrors = consoleErrors;
output.pageErrors = pageErrors;
process.stdout.write(JSON.stringify(output) + "\n");
