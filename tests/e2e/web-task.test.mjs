// web-task.test.mjs: the task page (/tasks/{owner}/{task}) in Chromium
// against a real server and real workspaces. Tasks run bash as a custom
// agent (a dialog is a numbered menu printed by the prompt, as Claude Code
// draws one); the preview app is python3's http.server in the workspace.
// Covers: the chat in the sidebar, answering a dialog from the page,
// pause (the snapshot view), modify prompt, resume, an errored task and
// restart, the preview's URL bar, the History tab, delete, another
// user's task, a task opened by id, XSS payloads, axe on desktop and
// phone, screenshots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, customTemplate, waitFor, SseClient } from '../harness/server.mjs';
import { skip, launch, newPage, useToken, axe, shot, PHONE, realProblems } from '../harness/browser.mjs';

const XSS = '<img src=x onerror=window.__xss=1>';
const BASH = ['bash', '--norc', '--noprofile', '-i'];
// two pages that link to each other, a stylesheet and an image: the
// preview's sub-resources
const SITE = [
  "printf '%s\\n' '<!doctype html><title>One</title><link rel=stylesheet href=style.css><h1>Page one</h1><a href=two.html>to two</a><img src=pic.svg alt=pic>' > index.html",
  "printf '%s\\n' '<!doctype html><title>Two</title><h1>Page two</h1><a href=index.html>to one</a>' > two.html",
  "printf '%s\\n' 'h1 { color: rgb(200, 0, 0); }' > style.css",
  "printf '%s\\n' '<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"/>' > pic.svg",
  '(python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 &)',
].join('\n');
// a dialog as the runtime recognises one: a question and a numbered menu
const DIALOG = "printf 'Allow the edit?\\n\\u276f 1. Yes\\n  2. No\\n'; read -r -n 1 a; printf '\\033[2J\\033[H'; echo answered-$a";

let srv, browser, bob;

before(async () => {
  if (skip) return;
  srv = await startServer();
  for (const y of [
    customTemplate('wsh', BASH, { env: { PS1: '$ ' } }),
    customTemplate('broken', ['sh', '-c', `echo 'broken: ${XSS}' >&2; exit 1`]),
    customTemplate('pv', BASH, { env: { PS1: '$ ' }, setup: SITE, apps: [{ slug: 'preview', url: 'http://127.0.0.1:8000/' }] }),
  ]) {
    const r = await srv.pushTemplate(y);
    assert.equal(r.status, 201, r.text);
  }
  bob = await srv.user('bob');
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (srv) {
    await srv.stop();
    fs.rmSync(srv.data, { recursive: true, force: true });
  }
});

const logs = async (name) => (await srv.api('GET', `/api/v2/tasks/admin/${name}/logs`)).json;
const outputs = (l) => (l.logs ?? []).filter((e) => e.type === 'output').map((e) => e.content).join('\n');

async function adminPage(opts) {
  const page = await newPage(browser, { base: srv.base, ...opts });
  await useToken(page, srv.base, srv.token);
  return page;
}

async function noAxe(page) {
  assert.deepEqual(await axe(page), []);
}

const head = (page) => page.locator('.task-head');
const chat = (page) => page.frameLocator('iframe[title="Chat with the agent"]');

test('an active task: the chat in the sidebar answers, a dialog is answered from the page, History lists states', { skip, timeout: 240000 }, async () => {
  await srv.createTask({ template: 'wsh', input: 'echo first-$((40+2))', name: 'live', display_name: `Live ${XSS}` });
  await srv.waitTask('admin', 'live', { state: 'idle', timeout: 60000 });
  const page = await adminPage();
  await page.goto('/tasks/admin/live');
  await head(page).locator('.badge-active').first().waitFor();
  // the payload in the display name is text
  await page.getByRole('heading', { level: 1, name: `Live ${XSS}` }).waitFor();
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  for (const name of ['Pause', 'Delete']) assert.ok(await head(page).getByRole('button', { name, exact: true }).isVisible(), name);
  assert.equal(await head(page).getByRole('button', { name: 'Resume' }).count(), 0);
  assert.equal(await head(page).getByText('Template').count(), 1);

  // the chat: a message sent in the sidebar's iframe gets its reply
  const c = chat(page);
  await c.locator('#status[data-status="stable"]').waitFor({ state: 'attached', timeout: 30000 });
  await c.locator('#input').fill('echo chat-$((6*7))-reply');
  await c.locator('#input').press('Enter');
  await c.locator('#message-list').getByText('chat-42-reply').first().waitFor({ timeout: 30000 });

  // the tabs: Terminal and History (no other apps), an ARIA tablist
  const tabs = page.getByRole('tablist', { name: 'Workspace' }).getByRole('tab');
  assert.deepEqual(await tabs.allTextContents(), ['Terminal', 'History']);
  await noAxe(page);
  await shot(page, 'task-page');

  // a dialog: the question and its options as buttons over the main area
  const ask = await srv.api('POST', '/api/v2/tasks/admin/live/send', { body: { input: DIALOG } });
  assert.ok([200, 202].includes(ask.status), ask.text);
  const banner = page.getByRole('region', { name: 'The agent asks' });
  await banner.waitFor({ timeout: 30000 });
  await banner.getByText('Allow the edit?').waitFor();
  const options = banner.getByRole('button');
  assert.deepEqual((await options.allTextContents()).map((s) => s.trim()), ['1 Yes', '2 No']);
  await noAxe(page);
  await options.filter({ hasText: 'No' }).click();
  await banner.waitFor({ state: 'hidden', timeout: 30000 });
  await waitFor(async () => /answered-2/.test(outputs(await logs('live'))), { what: 'the dialog answered with 2', timeout: 30000 });

  // History: the states, newest first, keyboard between the tabs
  await tabs.first().click();
  await tabs.first().press('ArrowRight');
  assert.equal(await page.getByRole('tab', { name: 'History' }).getAttribute('aria-selected'), 'true');
  const rows = page.getByRole('tabpanel', { name: 'History' }).locator('tbody tr');
  await rows.first().waitFor();
  const states = (await srv.api('GET', '/api/v2/tasks/admin/live/states')).json.states;
  assert.ok(states.length >= 2);
  assert.ok(await rows.count() >= states.length);
  const newest = states[states.length - 1];
  assert.equal((await rows.first().locator('td[data-label="State"]').textContent()).trim(), newest.state);
  await noAxe(page);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('the URL Coder\'s clients build, /tasks/{owner}/{task id}, opens the task page', { skip, timeout: 120000 }, async () => {
  await srv.createTask({ template: 'wsh', input: 'echo by-id', name: 'byid' });
  const t = await srv.waitTask('admin', 'byid', { state: 'idle', timeout: 60000 });
  const page = await adminPage();
  await page.goto(`/tasks/admin/${t.id}?tab=x`);
  await page.getByRole('heading', { level: 1, name: t.display_name }).waitFor();
  await head(page).locator('.badge-active').first().waitFor();
  await page.locator('iframe[title="Chat with the agent"]').waitFor();
  // the address bar shows the task's own path
  const u = new URL(page.url());
  assert.equal(u.pathname, '/tasks/admin/byid');
  assert.equal(u.search, '?tab=x');
  // an unknown id, and the id of a task that is not the caller's
  await page.goto('/tasks/admin/00000000-0000-4000-8000-000000000000');
  await page.getByRole('heading', { name: 'Not found' }).waitFor();
  const other = await newPage(browser, { base: srv.base });
  await useToken(other, srv.base, bob.token);
  await other.goto(`/tasks/admin/${t.id}`);
  await other.getByRole('heading', { name: 'Not found' }).waitFor();
  assert.equal(await other.locator('iframe').count(), 0);
  assert.deepEqual(realProblems(page), []);
  assert.deepEqual(realProblems(other), []);
  await other.context().close();
  await page.context().close();
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/byid')).status, 202);
});

test('the phone layout: the chat first, full width; the tabs scroll; the dialog buttons reachable', { skip, timeout: 180000 }, async () => {
  const page = await adminPage({ viewport: PHONE });
  await page.goto('/tasks/admin/live');
  await head(page).locator('.badge-active').first().waitFor();
  const side = await page.locator('.task-sidebar').boundingBox();
  const main = await page.locator('.task-main').boundingBox();
  assert.ok(side.y < main.y, 'the chat comes first');
  assert.ok(side.width > PHONE.width * 0.85, `the chat is full width (${side.width})`);
  assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('.tabs')).overflowX), 'auto');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth + 1), 'no horizontal scroll of the page');
  const ask = await srv.api('POST', '/api/v2/tasks/admin/live/send', { body: { input: DIALOG } });
  assert.ok([200, 202].includes(ask.status), ask.text);
  const banner = page.getByRole('region', { name: 'The agent asks' });
  await banner.waitFor({ timeout: 30000 });
  await noAxe(page);
  await shot(page, 'task-phone');
  await banner.getByRole('button', { name: 'Yes' }).click(); // scrolls it into view: reachable
  await banner.waitFor({ state: 'hidden', timeout: 30000 });
  await waitFor(async () => /answered-1/.test(outputs(await logs('live'))), { what: 'the dialog answered with 1', timeout: 30000 });
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

// The agent's screen as text (the runtime's screen stream, first event).
async function screenText(name) {
  const sc = new SseClient(srv.base + `/@admin/${name}/apps/chat/internal/screen`, { Authorization: `Bearer ${srv.token}` });
  await waitFor(() => sc.events.length > 0, { timeout: 5000, what: 'the screen' }).catch(() => {});
  sc.close();
  return JSON.stringify(sc.events.map((e) => e.data));
}

test('the Terminal tab: read-only until Take control, then keys reach the agent', { skip, timeout: 180000 }, async () => {
  const page = await adminPage();
  const raw = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().endsWith('/apps/chat/message') && r.postDataJSON()?.type === 'raw') raw.push(r.postDataJSON().content);
  });
  await page.goto('/tasks/admin/live');
  await head(page).locator('.badge-active').first().waitFor();
  await chat(page).locator('#status[data-status="stable"]').waitFor({ state: 'attached', timeout: 30000 });
  // no other app: the Terminal is the first tab, open at once
  assert.equal(await page.getByRole('tab', { name: 'Terminal' }).getAttribute('aria-selected'), 'true');
  const panel = page.getByRole('tabpanel', { name: 'Terminal' });
  const textarea = panel.locator('.term textarea');
  await textarea.waitFor({ state: 'attached', timeout: 20000 });
  const control = panel.getByRole('button', { name: 'Take control' });
  assert.equal(await control.getAttribute('aria-pressed'), 'false');
  await textarea.focus();
  await page.keyboard.type('nothing');
  assert.deepEqual(raw, [], 'read-only: no keys sent');
  await control.click();
  const release = panel.getByRole('button', { name: 'Release' });
  assert.equal(await release.getAttribute('aria-pressed'), 'true');
  await textarea.focus();
  await page.keyboard.type('echo term-$((2+3))-typed');
  await page.keyboard.press('Enter');
  await waitFor(async () => (await screenText('live')).includes('term-5-typed'), { timeout: 30000, what: 'the typed command ran' });
  await noAxe(page);
  await release.click();
  assert.equal(await panel.getByRole('button', { name: 'Take control' }).getAttribute('aria-pressed'), 'false');
  const before = raw.length;
  await textarea.focus();
  await page.keyboard.type('x');
  assert.equal(raw.length, before, 'released: no keys sent');
  // the runtime's terminal stream is not proxied on this branch yet (404)
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('pause from the page shows the snapshot; modify prompt; resume makes it active again', { skip, timeout: 240000 }, async () => {
  await srv.createTask({ template: 'wsh', input: `echo 'snap ${XSS}'`, name: 'pz' });
  await srv.waitTask('admin', 'pz', { state: 'idle', timeout: 60000 });
  const page = await adminPage();
  await page.goto('/tasks/admin/pz');
  await head(page).locator('.badge-active').first().waitFor();
  await head(page).getByRole('button', { name: 'Pause' }).click();
  await head(page).locator('.badge-paused').first().waitFor({ timeout: 60000 });
  // no iframes once paused; the snapshot and the conversation as text
  assert.equal(await page.locator('iframe').count(), 0);
  // the log snapshot: the conversation as text, the payload inert
  const snap = page.getByRole('region', { name: 'Log snapshot' });
  await snap.getByText('Saved when the workspace stopped').waitFor({ timeout: 30000 });
  await snap.locator('.log-input pre').filter({ hasText: `echo 'snap ${XSS}'` }).first().waitFor();
  await snap.locator('.log-output pre').filter({ hasText: `snap ${XSS}` }).first().waitFor();
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await page.locator('.task-page img').count(), 0);
  await noAxe(page);
  await shot(page, 'task-paused');

  // modify prompt: PATCH .../input (204 while paused)
  const prompt = page.getByLabel('Prompt', { exact: true });
  assert.equal(await prompt.inputValue(), `echo 'snap ${XSS}'`);
  await prompt.fill('echo modified-prompt');
  const patched = page.waitForResponse((r) => r.url().endsWith('/input') && r.request().method() === 'PATCH');
  await page.getByRole('button', { name: 'Save prompt' }).click();
  assert.equal((await patched).status(), 204);
  await page.getByText(/Prompt saved/).waitFor();

  // resume: back to active (through pending/initializing), the chat again
  await page.getByRole('region', { name: 'Paused' }).getByRole('button', { name: 'Resume' }).click();
  await head(page).locator('.badge-active').first().waitFor({ timeout: 90000 });
  await chat(page).locator('#status[data-status="stable"]').waitFor({ state: 'attached', timeout: 30000 });
  assert.equal(await head(page).getByRole('button', { name: 'Resume' }).count(), 0);
  // the chat may still ask the runtime the pause stopped: a 502 from the
  // proxy, which it shows and retries
  assert.deepEqual(realProblems(page, [/status of 502/]), []);
  await page.context().close();
});

test('an errored task shows its reason; Restart runs it again', { skip, timeout: 180000 }, async () => {
  await srv.createTask({ template: 'broken', input: 'hello', name: 'bad' });
  const t = await srv.waitTask('admin', 'bad', { status: 'error', timeout: 60000 });
  const page = await adminPage();
  await page.goto('/tasks/admin/bad');
  await head(page).locator('.badge-error').first().waitFor();
  const reason = page.locator('.task-reason');
  assert.equal(await reason.textContent(), t.status_reason);
  assert.ok(t.status_reason.length > 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await noAxe(page);
  await shot(page, 'task-error');
  // every status the page announces, from now on
  await page.evaluate(() => {
    window.__statuses = [];
    const live = document.querySelector('.task-page > [role=status]');
    new MutationObserver(() => window.__statuses.push(live.textContent)).observe(live, { childList: true, characterData: true, subtree: true });
  });
  const restarted = page.waitForResponse((r) => r.url().endsWith('/restart') && r.request().method() === 'POST');
  await head(page).getByRole('button', { name: 'Restart' }).click();
  assert.equal((await restarted).status(), 202);
  // it runs again and fails again: the page follows without a reload
  await page.waitForFunction(() => window.__statuses.includes('Status: error'), null, { timeout: 60000 });
  const statuses = await page.evaluate(() => window.__statuses);
  assert.ok(statuses.indexOf('Status: pending') >= 0 && statuses.indexOf('Status: pending') < statuses.lastIndexOf('Status: error'), statuses.join(', '));
  await head(page).locator('.badge-error').first().waitFor();
  // (the agent ran a moment: the chat's requests to a runtime already
  // gone may have answered 502)
  assert.deepEqual(realProblems(page, [/status of 502/]), []);
  await page.context().close();
});

test('the preview app: the URL bar navigates, back, forward and reload work', { skip, timeout: 240000 }, async () => {
  await srv.createTask({ template: 'pv', input: 'echo pv-up', name: 'pv' });
  await srv.waitTask('admin', 'pv', { timeout: 60000 });
  await waitFor(async () => (await srv.api('GET', '/@admin/pv/apps/preview/')).status === 200, { what: 'the preview app answers', timeout: 30000 });
  const page = await adminPage();
  let terminalJs = 0;
  page.on('request', (r) => {
    if (r.url().endsWith('/app/terminal.js')) terminalJs++;
  });
  await page.goto('/tasks/admin/pv');
  await head(page).locator('.badge-active').first().waitFor();
  const tab = page.getByRole('tab', { name: 'preview' });
  assert.equal(await tab.getAttribute('aria-selected'), 'true', 'the first app tab is open');
  assert.deepEqual(await page.getByRole('tab').allTextContents(), ['preview', 'Terminal', 'History']);
  const frame = page.frameLocator('iframe[title="App: preview"]');
  await frame.getByRole('heading', { name: 'Page one' }).waitFor({ timeout: 30000 });
  const bar = page.getByRole('form', { name: 'Preview address' });
  const path = bar.getByLabel('Path');
  assert.ok(await bar.getByRole('button', { name: 'Back' }).isDisabled());
  await path.fill('two.html');
  await path.press('Enter');
  await frame.getByRole('heading', { name: 'Page two' }).waitFor();
  assert.equal(await path.inputValue(), '/two.html');
  await bar.getByRole('button', { name: 'Back' }).click();
  await frame.getByRole('heading', { name: 'Page one' }).waitFor();
  assert.equal(await path.inputValue(), '/');
  await bar.getByRole('button', { name: 'Forward' }).click();
  await frame.getByRole('heading', { name: 'Page two' }).waitFor();
  assert.equal(await path.inputValue(), '/two.html');
  assert.ok(await bar.getByRole('button', { name: 'Forward' }).isDisabled());
  await bar.getByRole('button', { name: 'Reload' }).click();
  await frame.getByRole('heading', { name: 'Page two' }).waitFor();
  // the window's history did not grow: Back of the browser leaves the page
  await page.goBack();
  await page.waitForURL((u) => u.pathname !== '/tasks/admin/pv');
  await page.goForward();
  await frame.getByRole('heading', { name: 'Page one' }).waitFor({ timeout: 30000 });
  await noAxe(page);
  await shot(page, 'task-preview');
  assert.equal(terminalJs, 0, 'terminal.js is loaded only when its tab opens');
  await page.getByRole('tab', { name: 'Terminal' }).click();
  await page.getByRole('tabpanel', { name: 'Terminal' }).locator('.term').waitFor();
  assert.equal(terminalJs, 1);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

// The page navigates the iframe to the app's plain path (same-site: the
// session cookie goes along), the server answers 303 to the same path
// with a capability (.../apps/preview/~k/CAP/...), and what the sandboxed
// document asks for itself (its stylesheet, its image, a link it
// follows) comes from an opaque origin without a cookie: the capability
// in its URL lets it through (proxy.c). The URL bar never shows it.
test('the preview app: its sub-resources and its own links load', { skip, timeout: 120000 }, async () => {
  const page = await adminPage();
  const got = new Map();
  const caps = new Set();
  // the path without the capability; the capabilities seen
  const key = (u) => new URL(u).pathname.replace(/\/~k\/([^/]+)/, (_, c) => (caps.add(c), ''));
  page.on('response', (r) => got.set(key(r.url()), r.status()));
  page.on('requestfailed', (r) => got.set(key(r.url()), r.failure()?.errorText));
  await page.goto('/tasks/admin/pv');
  const frame = page.frameLocator('iframe[title="App: preview"]');
  await frame.getByRole('heading', { name: 'Page one' }).waitFor({ timeout: 30000 });
  await waitFor(() => got.has('/@admin/pv/apps/preview/style.css') && got.has('/@admin/pv/apps/preview/pic.svg'), { what: 'the sub-resources asked for' });
  const sub = ['style.css', 'pic.svg'].map((f) => `${f}: ${got.get(`/@admin/pv/apps/preview/${f}`)}`);
  console.log(`# preview sub-resources: ${sub.join(', ')}`);
  await frame.getByRole('link', { name: 'to two' }).click();
  await waitFor(() => got.has('/@admin/pv/apps/preview/two.html'), { what: 'the link followed' });
  console.log(`# preview link followed inside: two.html: ${got.get('/@admin/pv/apps/preview/two.html')}`);
  assert.deepEqual(sub, ['style.css: 200', 'pic.svg: 200']);
  assert.equal(got.get('/@admin/pv/apps/preview/two.html'), 200);
  // back by the app's own link: the stylesheet applies inside the frame
  await frame.getByRole('heading', { name: 'Page two' }).waitFor();
  await frame.getByRole('link', { name: 'to one' }).click();
  await frame.getByRole('heading', { name: 'Page one' }).waitFor();
  assert.equal(await frame.locator('h1').evaluate((e) => getComputedStyle(e).color), 'rgb(200, 0, 0)');
  // one capability, for the frame's first load; the URL bar is clean
  assert.equal(caps.size, 1, [...caps].join(' '));
  assert.equal(await page.getByRole('textbox', { name: 'Path' }).inputValue(), '/');
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('delete from the page asks first, then goes to /tasks', { skip, timeout: 120000 }, async () => {
  await srv.createTask({ template: 'wsh', input: 'echo bye', name: 'gone' });
  const page = await adminPage();
  await page.goto('/tasks/admin/gone');
  await head(page).getByRole('heading', { level: 1 }).waitFor();
  await head(page).getByRole('button', { name: 'Delete', exact: true }).click();
  const confirm = page.getByRole('group', { name: 'Confirm the delete' });
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await confirm.count(), 0);
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/gone')).status, 200);
  await head(page).getByRole('button', { name: 'Delete', exact: true }).click();
  await noAxe(page);
  await confirm.getByRole('button', { name: 'Delete the task' }).click();
  await page.waitForURL((u) => u.pathname === '/tasks');
  await waitFor(async () => (await srv.api('GET', '/api/v2/tasks/admin/gone')).status === 404, { what: 'the task deleted', timeout: 60000 });
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test("another user's task is Not found, as the API says", { skip, timeout: 60000 }, async () => {
  const page = await newPage(browser, { base: srv.base });
  await useToken(page, srv.base, bob.token);
  const api = page.waitForResponse((r) => r.url().includes('/api/v2/tasks/admin/live'));
  await page.goto('/tasks/admin/live');
  assert.equal((await api).status(), 404);
  await page.getByRole('heading', { name: 'Not found' }).waitFor();
  assert.equal(await page.getByText('Live').count(), 0);
  assert.equal(await page.locator('iframe').count(), 0);
  await noAxe(page);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});
