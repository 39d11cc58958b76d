// The dashboard at three widths (a phone, a tablet, a wide screen) with jobs in every state and a
// running job open, one on its second attempt: a screenshot of each, whether anything overflows
// sideways, and axe-core.

const WIDTHS = [360, 768, 1440];

/** Jobs in every state, made through the API as a user and a worker would. */
async function populate(t) {
  const { worker } = t;
  const youtube = (codes) => codes.map((code) => ({ platform: "YOUTUBE", code }));

  const done = await t.createJob(youtube(["dQw4w9WgXcQ", "9bZkp7q19f0", "kJQP7kiw5Fk"]));
  await worker.claim();
  await worker.log(done, [["INFO", "3 videos to extract"], ["INFO", "all done"]]);
  await worker.complete(done);

  const failed = await t.createJob([
    { url: "https://www.tiktok.com/@scout2015/video/6718335390845095173" },
    { url: "https://www.instagram.com/reel/C1a2B3c4D5e/" },
  ]);
  await worker.claim();
  await worker.heartbeat(failed, 50);
  await worker.item(failed, 0, "COMPLETED");
  await worker.item(failed, 1, "FAILED", "HTTP 404 from the platform: the video was removed");
  await worker.log(failed, [["ERROR", "instagram C1a2B3c4D5e: HTTP 404"]]);
  await worker.fail(failed, "1 of 2 items failed");

  // Running on its second attempt: the first failed, a user retried it.
  const running = await t.createJob(youtube(["OPf0YbXqDm0", "JGwWNGJdvx8", "fJ9rUzIMcZQ", "hT_nvWreIhg"]));
  await worker.claim();
  await worker.log(running, [
    ["INFO", "4 videos to extract"],
    ["ERROR", "OPf0YbXqDm0: connection reset by the platform"],
  ]);
  await worker.fail(running, "connection reset by the platform");
  await t.graphql(`mutation($id: ID!) { retryJob(id: $id) { status } }`, { id: running }, t.options.key);
  await worker.claim();
  await worker.heartbeat(running, 40);
  await worker.item(running, 0, "COMPLETED");
  await worker.item(running, 1, "RUNNING");
  await worker.log(running, [
    ["INFO", "4 videos to extract"],
    ["DEBUG", "resolving https://www.youtube.com/watch?v=OPf0YbXqDm0"],
    ["INFO", "OPf0YbXqDm0: 1,204 frames extracted in 8.2 s"],
    ["WARNING", "JGwWNGJdvx8: slow download (212 kB/s), retrying with another mirror"],
    ["INFO", "JGwWNGJdvx8: download resumed at 41 %"],
  ]);

  const pending = await t.createJob(youtube(["CevxZvSJLk8"]));
  const cancelled = await t.createJob(youtube(["RgKAFK5djSk", "YQHsXMglC9A"]));
  await t.graphql(`mutation($id: ID!) { cancelJob(id: $id) { status } }`, { id: cancelled }, t.options.key);
  return { done, failed, running, pending, cancelled };
}

export default {
  async screens(t) {
    const { page } = t;
    const jobs = await populate(t);
    await t.signIn(t.options.key, `/#/jobs/${jobs.running}`);
    await page.waitForSelector("#live-state.up");
    await t.until(() => document.querySelectorAll("#detail-log .log-line").length === 7);
    await t.until(() => document.querySelectorAll("tr[data-job-id]").length === 5);
    const open = await t.detail();
    const widths = {};
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 900 });
      await page.waitForTimeout(300);
      await t.shot(`dashboard-${width}`);
      widths[width] = {
        overflow: await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
        axe: await t.axe(),
      };
    }
    // The list alone on a phone, the pane closed.
    await page.click("#detail-close");
    await t.until(() => document.querySelector("#detail").hidden);
    await page.setViewportSize({ width: 360, height: 900 });
    await t.shot("dashboard-360-list");
    widths.list360 = {
      overflow: await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
      axe: await t.axe(),
    };
    return { jobs, widths, open, failedBar: await t.barColor(jobs.failed), runningBar: await t.barColor(jobs.running) };
  },
};
