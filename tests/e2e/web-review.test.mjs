// web-review.test.mjs: what a hostile second reading of the web app found,
// in Chromium against a real server.
//
// A page still rendering when the user leaves it (its requests slow) must
// not draw onto the page that replaced it; a task path with a broken
// percent escape is Not found, not an unhandled error; the chat page runs
// its one inline loader by hash, with no 'unsafe-inline' for scripts; a
// task change that redraws the task page's top bar keeps the keyboard
// focus on the button it was on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, customTemplate } from '../harness/server.mjs';
import { skip, launch, newPage, useToken, realProblems } from '../harness/browser.mjs';

let srv, browser;

before(async () => {
  if (skip) return;
  srv = await startServer();
  const r = await srv.pushTemplate(customTemplate('idle', ['sleep', '600']));
  assert.equal(r.status, 201, r.text);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (srv) {
    await srv.stop();
    fs.rmSync(srv.data, { recursive: true, force: true });
  }
});

async function adminPage() {
  const page = await newPage(browser, { base: srv.base });
  await useToken(page, srv.base, srv.token);
  return page;
}

test('a page left while it renders never draws onto the next page', { skip }, async () => {
  const page = await adminPage();
  // hold the settings page's token list until the user has moved on
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  let seen;
  const asked = new Promise((resolve) => {
    seen = resolve;
  });
  await page.route('**/api/v2/users/me/tokens', async (route) => {
    seen();
    await held;
    await route.continue();
  });
  await page.goto('/settings');
  await asked;
  await page.getByRole('link', { name: 'Templates' }).click();
  await page.getByRole('heading', { level: 1, name: 'Templates' }).waitFor();
  const done = page.waitForResponse('**/api/v2/users/me/sessions');
  release();
  await done;
  // let the settings page's last await settle (its append comes next)
  await page.evaluate(() => new Promise((r) => setTimeout(r, 100)));
  assert.equal(await page.locator('#main h1', { hasText: 'Settings' }).count(), 0, 'the settings page drew onto /templates');
  assert.equal(await page.locator('#main h1').count(), 1);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('a task path with a broken percent escape is Not found', { skip }, async () => {
  const page = await adminPage();
  await page.goto('/tasks/admin/%zz');
  await page.getByRole('heading', { level: 1, name: 'Not found' }).waitFor();
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('the chat page runs its loader by hash: no inline script otherwise', { skip }, async () => {
  await srv.createTask({ template: 'idle', input: 'hi', name: 'csp' });
  const url = '/@admin/csp/apps/chat/chat/embed';
  const r = await srv.api('GET', url);
  assert.equal(r.status, 200, r.text);
  const csp = r.headers.get('content-security-policy');
  const scripts = /script-src ([^;]*)/.exec(csp)?.[1] ?? '';
  assert.doesNotMatch(scripts, /unsafe-inline/, csp);
  assert.match(scripts, /'sha256-[A-Za-z0-9+/]+=*'/, csp);
  const page = await adminPage();
  await page.goto(url);
  // app.js ran (the loader inserted it): it marks an embedded page
  await page.waitForFunction(() => document.documentElement.classList.contains('embed'));
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('a task change redrawing the top bar keeps the keyboard focus on its button', { skip, timeout: 120000 }, async () => {
  await srv.createTask({ template: 'idle', input: 'hi', name: 'focus' });
  await srv.waitTask('admin', 'focus', { status: 'active', timeout: 60000 });
  const page = await adminPage();
  await page.goto('/tasks/admin/focus');
  const head = page.locator('.task-head');
  await head.locator('.badge-active').first().waitFor();
  await head.getByRole('button', { name: 'Delete', exact: true }).focus();
  // a change from elsewhere (the CLI, another tab): the bar is redrawn
  const r = await srv.api('POST', '/api/v2/tasks/admin/focus/pause');
  assert.equal(r.status < 300, true, r.text);
  await head.locator('.badge-paused').first().waitFor({ timeout: 60000 });
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Delete');
  // the chat and the terminal may still ask the runtime that the pause
  // stopped: a 502 from the proxy, which they show and retry
  assert.deepEqual(realProblems(page, [/status of 502/]), []);
  await page.context().close();
});
