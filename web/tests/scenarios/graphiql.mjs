// GraphiQL on jobgraph's own assets: a query with the key, a 401 shown as JSON, the key bar's
// check of a key, and the notice shown when the vendor builds are missing.

export default {
  async graphiql(t) {
    const { page, options } = t;
    const query = `query Tail($id: ID!) { job(id: $id, tail: 2) { id status logTail } }`;
    const variables = JSON.stringify({ id: options.jobId });
    const search = new URLSearchParams({ query, variables });
    await t.goto(`/graphql#${search}`);
    await page.waitForSelector(".graphiql-container");
    await t.setKey();
    await page.waitForSelector('#key-state[data-state="ok"]');
    await page.waitForSelector(".graphiql-container");
    await page.click(".graphiql-execute-button");
    const response = page.locator(".graphiql-response");
    await response.getByText(options.jobId).first().waitFor();
    await page.waitForTimeout(200);
    await t.shot("graphiql");
    return { response: await response.innerText() };
  },

  async graphiqlUnauthenticated(t) {
    const { page } = t;
    await t.goto(`/graphql#${new URLSearchParams({ query: "{ me { name } }" })}`);
    await page.waitForSelector(".graphiql-execute-button");
    await page.click(".graphiql-execute-button");
    const response = page.locator(".graphiql-response");
    await response.getByText("UNAUTHENTICATED").first().waitFor();
    await t.shot("graphiql-401");
    return { response: await response.innerText(), keyState: await page.locator("#key-state").innerText() };
  },

  /** A wrong key is refused and not kept; a good one is checked and described; reload re-checks. */
  async graphiqlKeyCheck(t) {
    const { page, options } = t;
    const state = async () => ({
      state: await page.getAttribute("#key-state", "data-state"),
      text: await page.locator("#key-state").innerText(),
      invalid: await page.getAttribute("#api-key", "aria-invalid"),
      stored: await page.evaluate(() => localStorage.getItem("jobgraph.apiKey")),
    });
    await t.goto("/graphql");
    await page.waitForSelector(".graphiql-container");
    const initial = await state();
    await t.setKey("jg_this-key-does-not-exist");
    await page.waitForSelector('#key-state[data-state="refused"]');
    const wrong = await state();
    await t.shot("graphiql-key-refused");
    await t.setKey(options.key);
    await page.waitForSelector('#key-state[data-state="ok"]');
    const good = await state();
    const axe = await t.axe("#keybar");
    await t.shot("graphiql-key-ok");
    await page.reload();
    await page.waitForSelector('#key-state[data-state="ok"]');
    const reloaded = await state();
    const headersTab = await page.locator(".graphiql-editor-tools").getByText("Headers").count();
    return { initial, wrong, good, reloaded, headersTab, axe };
  },

  async missingAssets(t) {
    const { page } = t;
    await t.goto("/graphql");
    await page.waitForSelector(".jg-missing");
    const graphiqlNotice = await page.locator(".jg-missing").innerText();
    await t.shot("graphiql-missing-assets");
    await t.goto("/");
    await page.waitForSelector(".jg-missing");
    return { graphiqlNotice, dashboardNotice: await page.locator(".jg-missing").innerText() };
  },
};
