// The dashboard's controls: what each key's scopes allow, the confirmation before a cancel, a
// URL per job, the keyboard, the empty states and the count, and what a bad key or an
// unreachable server shows.

async function openByHash(t, id) {
  await t.page.evaluate((jobId) => {
    window.location.hash = `#/jobs/${jobId}`;
  }, id);
  await t.until((jobId) => document.querySelector("#detail-id")?.textContent === jobId && document.querySelector("#detail-facts .badge"), id);
  return t.detail();
}

/** The message shown in place of the rows, its kind, and its button (if any). */
const placeholder = (page) =>
  page.evaluate(() => {
    const row = document.querySelector("tr.placeholder");
    return {
      kind: [...(row?.classList ?? [])].filter((name) => name !== "placeholder").join(" "),
      text: row?.querySelector("td").firstChild.textContent ?? null,
      button: row?.querySelector("button")?.textContent ?? null,
    };
  });

const storedKey = (page) => page.evaluate(() => localStorage.getItem("jobgraph.apiKey"));

const submitForm = (page) =>
  page.evaluate(() => {
    const form = document.querySelector("#submit-form");
    return { hidden: form.hidden, display: getComputedStyle(form).display };
  });

export default {
  /** No key, a read key, then a read+submit key: the form and the actions follow the scopes. */
  async scopes(t) {
    const { page, options } = t;
    const result = {};
    await t.goto("/");
    await page.waitForSelector("tr.placeholder");
    result.noKey = { form: await submitForm(page), message: await page.locator("tr.placeholder").innerText() };

    await t.signIn(options.readKey);
    await t.row(options.jobId).waitFor();
    result.read = {
      me: await page.locator("#me-info").innerText(),
      form: await submitForm(page),
      pending: (await openByHash(t, options.jobId)).actions,
      failed: (await openByHash(t, options.failedJobId)).actions,
    };

    await t.setKey(options.key);
    await t.until(() => document.querySelector("#me-info").textContent.includes("submit"));
    await t.row(options.jobId).waitFor();
    await page.waitForSelector("#detail-actions button");
    result.submit = {
      me: await page.locator("#me-info").innerText(),
      form: await submitForm(page),
      failed: (await t.detail()).actions,
      pending: (await openByHash(t, options.jobId)).actions,
    };
    return result;
  },

  async cancelConfirm(t) {
    const { page, options } = t;
    const id = options.jobId;
    await t.signIn();
    await t.row(id).click();
    await page.waitForSelector("#cancel-job");
    const result = {
      hash: await page.evaluate(() => window.location.hash),
      rowButtons: await page.locator("#jobs-body button").count(),
    };
    const dialogOpen = () => page.evaluate(() => document.querySelector("#confirm").open);

    await page.click("#cancel-job");
    result.opened = await dialogOpen();
    result.dialog = await page.locator("#confirm").innerText();
    result.focusedOnOpen = await page.evaluate(() => document.activeElement.id);
    await page.keyboard.press("Escape");
    result.afterEscape = { open: await dialogOpen(), server: (await t.serverJob(id)).status };

    await page.click("#cancel-job");
    await page.click("#confirm-no");
    result.afterKeep = {
      open: await dialogOpen(),
      server: (await t.serverJob(id)).status,
      focused: await page.evaluate(() => document.activeElement.id),
    };

    await page.click("#cancel-job");
    await t.shot("dashboard-cancel-confirm");
    await page.click("#confirm-yes");
    await t.until(() => document.querySelector("#detail-facts .badge")?.textContent === "CANCELLED");
    await t.until(() => [...document.querySelectorAll("#detail-items li")].every((li) => li.dataset.status === "SKIPPED"));
    result.afterConfirm = { detail: await t.detail(), server: (await t.serverJob(id)).status };
    return result;
  },

  /** #/jobs/<id> opens the job, survives a reload, follows history; unknown ids say so. */
  async deepLink(t) {
    const { page, options } = t;
    const result = {};
    await t.signIn();
    await page.goto(`${options.url}/#/jobs/${options.jobId}`);
    result.linked = await t.until((id) => document.querySelector("#detail-facts .badge") && document.querySelector("#detail-id").textContent === id, options.jobId).then(() => t.detail());
    await page.reload();
    await t.until((id) => document.querySelector("#detail-facts .badge") && document.querySelector("#detail-id").textContent === id, options.jobId);
    result.reloaded = await t.detail();
    result.title = await page.title();
    result.selectedRow = await page.evaluate(() => document.querySelector("tr.selected")?.dataset.jobId);

    await t.row(options.otherJobId).click();
    await t.until((id) => document.querySelector("#detail-id").textContent === id && window.location.hash === `#/jobs/${id}`, options.otherJobId);
    result.other = await t.detail();
    await page.goBack();
    await t.until((id) => document.querySelector("#detail-id").textContent === id && document.querySelector("#detail-facts .badge"), options.jobId);
    result.back = await t.detail();

    await page.click("#detail-close");
    await t.until(() => document.querySelector("#detail").hidden);
    result.closed = { hash: await page.evaluate(() => window.location.hash), selected: await page.locator("tr.selected").count() };

    await page.evaluate((id) => {
      window.location.hash = `#/jobs/${id}`;
    }, options.unknownId);
    await page.waitForSelector("#detail-message.error");
    result.unknown = await t.detail();
    await t.shot("dashboard-unknown-job");
    await page.evaluate(() => {
      window.location.hash = "#/jobs/not-a-job-id";
    });
    // The message says "Loading job …" first; wait for the answer.
    await t.until(() => document.querySelector("#detail-message").textContent.startsWith("There is no job not-a-job-id"));
    result.malformed = await t.detail();
    return result;
  },

  /** Tab reaches the rows once; arrows, Home and End move; Enter opens; Escape closes. */
  async keyboard(t) {
    const { page } = t;
    await t.signIn();
    await t.until(() => document.querySelectorAll("tr[data-job-id]").length === 3);
    await page.evaluate(() => document.activeElement?.blur());
    const focused = () =>
      page.evaluate(() => ({
        job: document.activeElement?.closest("tr")?.dataset.jobId ?? null,
        link: document.activeElement?.classList.contains("job-link") ?? false,
      }));
    let tabs = 0;
    while (!(await focused()).link && tabs < 40) {
      await page.keyboard.press("Tab");
      tabs += 1;
    }
    const order = await page.evaluate(() => [...document.querySelectorAll("tr[data-job-id]")].map((row) => row.dataset.jobId));
    const result = {
      order,
      tabs,
      first: await focused(),
      tabStops: await page.locator("#jobs-body a[tabindex='0']").count(),
    };
    await page.keyboard.press("ArrowDown");
    result.down = await focused();
    await page.keyboard.press("End");
    result.end = await focused();
    await page.keyboard.press("Home");
    result.home = await focused();
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Enter");
    await t.until((id) => document.querySelector("#detail-id")?.textContent === id && document.querySelector("#detail-facts .badge"), order[1]);
    result.opened = await t.detail();
    await t.shot("dashboard-keyboard");
    await page.keyboard.press("Escape");
    await t.until(() => document.querySelector("#detail").hidden);
    result.escaped = { hash: await page.evaluate(() => window.location.hash), focus: await focused() };
    await page.keyboard.press("Tab");
    result.tabOut = await focused();
    return result;
  },

  /**
   * A wrong key (refused, not kept), a key without the read scope, then a good key while the
   * server cannot be reached (the page says so and offers to try again, which then works).
   */
  async keyErrors(t) {
    const { page, options } = t;
    const result = {};
    await t.goto("/");
    await page.waitForSelector("tr.placeholder.signed-out");
    await t.setKey("jg_not-a-key-of-this-server");
    await page.waitForSelector("#notice:not([hidden])");
    result.wrong = {
      notice: await page.locator("#notice").innerText(),
      stored: await storedKey(page),
      table: await placeholder(page),
      form: (await submitForm(page)).hidden,
    };

    await t.setKey(options.workerKey);
    await page.waitForSelector("tr.placeholder.error");
    result.workOnly = {
      table: await placeholder(page),
      me: await page.locator("#me-info").innerText(),
      form: (await submitForm(page)).hidden,
      notice: await page.locator("#notice").isVisible(),
      stored: (await storedKey(page)) === options.workerKey,
    };

    await t.setKey(options.key);
    await t.row(options.jobId).waitFor();
    // The server goes away: every GraphQL request fails as a dropped connection does.
    await page.route("**/graphql", (route) => route.abort("connectionrefused"));
    await page.reload();
    await page.waitForSelector("tr.placeholder.error button");
    result.unreachable = { table: await placeholder(page), rows: await page.locator("tr[data-job-id]").count() };
    await t.shot("dashboard-unreachable");
    await page.unroute("**/graphql");
    await page.click("tr.placeholder.error button");
    await t.row(options.jobId).waitFor();
    result.back = {
      rows: await page.locator("tr[data-job-id]").count(),
      total: await page.locator("#total").innerText(),
      placeholder: await page.locator("tr.placeholder").count(),
    };
    return result;
  },

  /** An empty tenant, two submits from the form, one from another client, an empty filter. */
  async emptyStates(t) {
    const { page } = t;
    const total = () => page.locator("#total").innerText();
    const rows = () => page.locator("tr[data-job-id]").count();
    const result = {};
    await t.signIn();
    await page.waitForSelector("tr.placeholder.empty");
    result.empty = { message: await page.locator("tr.placeholder").innerText(), total: await total() };
    await t.shot("dashboard-empty");

    await page.fill("#submit-urls", "https://youtu.be/dQw4w9WgXcQ");
    await page.click("#submit-button");
    await t.until(() => document.querySelector("#total").textContent === "1 job");
    result.first = { total: await total(), rows: await rows(), status: await page.locator("#status-line").innerText() };

    await page.fill("#submit-urls", "tiktok:6718335390845095173\nhttps://www.instagram.com/p/C1a2B3c4D5e/");
    await page.click("#submit-button");
    await t.until(() => document.querySelector("#total").textContent === "2 jobs");
    result.second = { total: await total(), rows: await rows() };

    await t.createJob([{ platform: "YOUTUBE", code: "9bZkp7q19f0" }]);
    await t.until(() => document.querySelector("#total").textContent === "3 jobs" && document.querySelectorAll("tr[data-job-id]").length === 3);
    result.elsewhere = { total: await total(), rows: await rows() };

    await page.check("#status-FAILED");
    await page.waitForSelector("tr.placeholder.empty");
    result.filtered = { message: await page.locator("tr.placeholder").innerText(), total: await total(), rows: await rows() };
    await page.uncheck("#status-FAILED");
    await t.until(() => document.querySelectorAll("tr[data-job-id]").length === 3);
    result.unfiltered = { total: await total(), rows: await rows() };
    return result;
  },
};
