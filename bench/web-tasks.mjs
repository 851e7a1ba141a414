// web-tasks.mjs: the Tasks tab with many tasks (bench/web-tasks.sh).
//
// TASKS (1000) tasks of the admin: the newest LIVE (12) run `sleep` in
// their workspace, the rest ran an agent that exited at once (status unknown,
// no workspace left: light on a small machine, the same Task JSON). Then,
// in Chromium (a fresh context each time: nothing cached):
//   render   navigation start -> the first page (50 rows) in the table,
//            stamped in the page by a MutationObserver; median of RUNS (5)
//   bytes    encodedBodySize (what came over the wire, gzip) of the
//            document and every resource of the first visit
//   update   a pause sent from the page (fetch with the admin's token)
//            -> the paused task's row changed, stamped in the page by a
//            MutationObserver on the row; median of LIVE-2 (10)
import { startServer, customTemplate, waitFor } from '../tests/harness/server.mjs';
import { launch, newPage, useToken } from '../tests/harness/browser.mjs';
import { percentile } from './lib.mjs';

const TASKS = Number(process.env.TASKS || 1000);
const LIVE = Math.min(TASKS, Number(process.env.LIVE || 12));
const RUNS = Number(process.env.RUNS || 5);
const PAR = 4;

const ms = (x) => x.toFixed(1);
const median = (v) => percentile(v, 50);

// stamps the moment the table holds a full page (or every task)
function observeTable(want) {
  window.__rendered = null;
  new MutationObserver((_, obs) => {
    const n = document.querySelectorAll('table.tasks-table tbody tr').length;
    if (n >= want && window.__rendered === null) {
      window.__rendered = performance.now();
      obs.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
}

const srv = await startServer({
  args: ['--log-level', 'warn', '--max-running-per-user', String(TASKS + 10), '--max-tasks', String(TASKS + 10),
    '--max-disk', '0'],
  env: { TASKBOX_CHECK_TASK_JSON: '0' },
});
const browser = await launch();
try {
  await srv.pushTemplate(customTemplate('live', ['sh', '-c', 'exec sleep 100000']));
  await srv.pushTemplate(customTemplate('done', ['sh', '-c', 'exit 0']));
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < TASKS) {
      const i = next++;
      await srv.createTask({ template: i >= TASKS - LIVE ? 'live' : 'done', input: `task ${i}: a prompt of a few words`, name: `t${i}` });
    }
  };
  await Promise.all(Array.from({ length: PAR }, worker));
  await waitFor(async () => {
    const r = await srv.api('GET', '/api/v2/tasks?q=' + encodeURIComponent('status:pending'));
    const s = await srv.api('GET', '/api/v2/tasks?q=' + encodeURIComponent('status:initializing'));
    return r.json.count === 0 && s.json.count === 0;
  }, { timeout: 600000, interval: 1000, what: 'every task started' });
  console.log(`${TASKS} tasks (${LIVE} running) made in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

  // ---- render and bytes
  const want = Math.min(50, TASKS);
  const render = [];
  let bytes = null;
  for (let i = 0; i < RUNS; i++) {
    const page = await newPage(browser);
    await useToken(page, srv.base, srv.token);
    await page.addInitScript(observeTable, want);
    await page.goto(`${srv.base}/tasks`);
    await page.waitForFunction(() => window.__rendered !== null, null, { timeout: 60000 });
    render.push(await page.evaluate(() => window.__rendered));
    if (i === 0) {
      await page.waitForLoadState('networkidle').catch(() => {});
      bytes = await page.evaluate(() => {
        const all = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
        return all.map((e) => ({ name: new URL(e.name).pathname + new URL(e.name).search, enc: e.encodedBodySize, dec: e.decodedBodySize }));
      });
    }
    await page.context().close();
  }
  console.log(`navigation -> table rendered (${want} rows of ${TASKS}): median ${ms(median(render))} ms ` +
    `(${render.map(ms).join(', ')})`);
  const enc = bytes.reduce((a, b) => a + b.enc, 0), dec = bytes.reduce((a, b) => a + b.dec, 0);
  console.log(`first visit: ${(enc / 1024).toFixed(1)} KiB over the wire (${(dec / 1024).toFixed(1)} KiB decoded), ${bytes.length} requests`);
  for (const b of bytes) console.log(`  ${String(b.enc).padStart(7)} ${String(b.dec).padStart(7)}  ${b.name}`);

  // ---- a task page's first visit: every frame's resources (the chat is
  // an iframe), xterm.js counted apart (the goal excludes it)
  {
    const live = (await srv.api('GET', '/api/v2/tasks?limit=1&q=' + encodeURIComponent('status:active'))).json.tasks[0];
    const page = await newPage(browser);
    await useToken(page, srv.base, srv.token);
    await page.goto(`${srv.base}/tasks/${live.owner_name}/${live.name}`);
    await page.locator('iframe').first().waitFor();
    await page.waitForLoadState('networkidle').catch(() => {});
    await page.waitForTimeout(1000); // the iframe's own requests
    const all = [];
    for (const f of page.frames()) {
      all.push(...await f.evaluate(() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
        .map((e) => ({ name: new URL(e.name).pathname, enc: e.encodedBodySize, dec: e.decodedBodySize }))).catch(() => []));
    }
    const isXterm = (b) => b.name.startsWith('/app/vendor/xterm');
    const sum = (v) => v.reduce((a, b) => a + b.enc, 0);
    console.log(`task page first visit: ${(sum(all.filter((b) => !isXterm(b))) / 1024).toFixed(1)} KiB over the wire without xterm.js ` +
      `(${(sum(all.filter(isXterm)) / 1024).toFixed(1)} KiB for xterm.js), ${all.length} requests`);
    for (const b of all) console.log(`  ${String(b.enc).padStart(7)} ${String(b.dec).padStart(7)}  ${b.name}`);
    await page.context().close();
  }

  // ---- update: pause a live task from the page, the row changes
  const page = await newPage(browser);
  await useToken(page, srv.base, srv.token);
  await page.goto(`${srv.base}/tasks`);
  await page.locator('table.tasks-table tbody tr').nth(want - 1).waitFor();
  const ids = (await srv.api('GET', '/api/v2/tasks?q=' + encodeURIComponent('status:active'))).json.tasks;
  const update = [];
  for (const t of ids.slice(0, Math.max(1, LIVE - 2))) {
    const dt = await page.evaluate(async ({ id, owner, name, token }) => {
      const tr = document.querySelector(`tr[data-id="${id}"]`);
      if (!tr) return null;
      const changed = new Promise((resolve) => {
        new MutationObserver((_, obs) => {
          obs.disconnect();
          resolve(performance.now());
        }).observe(tr, { childList: true, subtree: true, characterData: true });
      });
      const t0 = performance.now();
      fetch(`/api/v2/tasks/${owner}/${name}/pause`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
      return (await changed) - t0;
    }, { id: t.id, owner: t.owner_name, name: t.name, token: srv.token });
    if (dt === null) throw new Error(`${t.name} is not on the page`);
    update.push(dt);
  }
  console.log(`pause from the page -> row updated: median ${ms(median(update))} ms, max ${ms(Math.max(...update))} ms ` +
    `(${update.length} tasks)`);
  await page.context().close();
} finally {
  await browser.close();
  await srv.stop();
}
