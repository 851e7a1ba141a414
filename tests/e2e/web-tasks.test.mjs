// web-tasks.test.mjs: the Tasks tab (/tasks) in Chromium against a real
// server with real sandboxes: a shell task started from the form goes
// active and its state changes in the row without a reload; changes made
// through the API reach the table; pause, resume, select and delete;
// the status and owner filters; a member never sees another's task;
// markup in a prompt or a state message stays text; the hint when no
// Task template exists; axe on desktop and phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitFor } from '../harness/server.mjs';
import { skip, launch, newPage, useToken, axe, shot, PHONE, realProblems } from '../harness/browser.mjs';

const XSS = '<img src=x onerror=window.__xss=1>';
let server, browser, alice, bob;

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await launch();
  alice = await server.user('alice');
  bob = await server.user('bob');
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

// A signed-in page on /tasks (desktop unless viewport is given).
async function tasksPage(token, { viewport, path = '/tasks' } = {}) {
  const page = await newPage(browser, { viewport });
  await useToken(page, server.base, token);
  await page.goto(`${server.base}${path}`);
  await page.getByRole('heading', { name: 'Tasks', exact: true }).waitFor();
  await page.locator('#tasks-count').filter({ hasText: /\d+ tasks?/ }).waitFor();
  return page;
}

const row = (page, name) => page.locator('tr', { has: page.getByRole('link', { name, exact: true }) });

// Set a marker a reload or a navigation would lose.
const mark = (page) => page.evaluate(() => { window.__marker = 'still here'; });
const marked = (page) => page.evaluate(() => window.__marker);

test('a shell task from the form: the row appears, goes active and its state changes without a reload', { skip }, async () => {
  const page = await tasksPage(alice.token);
  await mark(page);
  await page.getByLabel('Template').selectOption('shell');
  await page.getByLabel('Prompt').fill('echo web-form-$((6*7))');
  await page.getByRole('button', { name: 'Create task' }).click();
  await waitFor(async () => (await page.getByLabel('Prompt').inputValue()) === '', { what: 'the prompt box cleared' });
  const tasks = (await server.api('GET', '/api/v2/tasks', { token: alice.token })).json.tasks;
  assert.equal(tasks.length, 1);
  const name = tasks[0].name;
  const r = row(page, name);
  await r.waitFor();
  const firstState = await r.locator('.col-state').innerText();
  assert.doesNotMatch(firstState, /idle/, 'a new task is not idle yet');
  await r.locator('.col-status .badge', { hasText: 'active' }).waitFor({ timeout: 90000 });
  await r.locator('.col-state .badge', { hasText: 'idle' }).waitFor({ timeout: 60000 });
  assert.equal(await r.locator('.col-template').innerText(), 'Shell');
  assert.equal(await marked(page), 'still here', 'no reload or navigation happened');
  assert.match(await page.locator('#tasks-count').innerText(), /^1 task$/);
  await shot(page, 'tasks-list');
  assert.deepEqual(await axe(page), []);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('a 422 is shown next to the field it names', { skip }, async () => {
  const page = await tasksPage(alice.token);
  await page.getByLabel('Template').selectOption('custom');
  // the custom template's required Command parameter is a labelled input
  const command = page.getByLabel('Command (required)');
  await command.waitFor();
  await command.evaluate((el) => { el.required = false; }); // let the server say it
  await page.getByLabel('Prompt').fill('print(1)');
  await page.getByRole('button', { name: 'Create task' }).click();
  const err = page.locator('.field', { has: command }).locator('.field-error');
  await err.filter({ hasText: /parameter 'command' is required/ }).waitFor();
  assert.equal(await command.getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel('Prompt').inputValue(), 'print(1)', 'the prompt stays after an error');
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('API changes reach the table; pause and resume buttons', { skip }, async () => {
  const t = await server.createTask({ template: 'shell', input: 'echo pr', name: 'pr-task' }, { token: alice.token });
  await server.waitTask('alice', t.name, { token: alice.token });
  const page = await tasksPage(alice.token);
  await mark(page);
  const r = row(page, 'pr-task');
  await r.locator('.col-status .badge', { hasText: 'active' }).waitFor();
  // a pause through the API: the row shows it
  assert.equal((await server.api('POST', '/api/v2/tasks/alice/pr-task/pause', { token: alice.token })).status, 200);
  await r.locator('.col-status .badge', { hasText: 'paused' }).waitFor({ timeout: 30000 });
  assert.equal(await r.getByRole('button', { name: 'Pause pr-task' }).count(), 0, 'no Pause on a paused task');
  // Resume from the page
  await r.getByRole('button', { name: 'Resume pr-task' }).click();
  await r.locator('.col-status .badge', { hasText: 'active' }).waitFor({ timeout: 90000 });
  assert.equal((await server.task('alice', 'pr-task', alice.token)).status, 'active');
  // Pause from the page
  await r.getByRole('button', { name: 'Pause pr-task' }).click();
  await r.locator('.col-status .badge', { hasText: 'paused' }).waitFor({ timeout: 30000 });
  assert.equal((await server.task('alice', 'pr-task', alice.token)).status, 'paused');
  assert.equal(await marked(page), 'still here');
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('status filter; select two tasks and delete them with a confirm step', { skip }, async () => {
  for (const n of ['del-one', 'del-two', 'keep-me'])
    await server.createTask({ template: 'shell', input: 'true', name: n }, { token: bob.token });
  await server.waitTask('bob', 'keep-me', { token: bob.token });
  const page = await tasksPage(bob.token);
  for (const n of ['del-one', 'del-two', 'keep-me']) await row(page, n).waitFor();

  // pause keep-me; the status filter paused shows only it
  assert.equal((await server.api('POST', '/api/v2/tasks/bob/keep-me/pause', { token: bob.token })).status, 200);
  await page.getByLabel('Status').selectOption('paused');
  await page.locator('#tasks-count', { hasText: /^1 task$/ }).waitFor();
  await row(page, 'keep-me').waitFor();
  assert.equal(await row(page, 'del-one').count(), 0);
  assert.match(page.url(), /status=paused/);
  await page.getByLabel('Status').selectOption('');
  await page.locator('#tasks-count', { hasText: /^3 tasks$/ }).waitFor();

  await page.getByLabel('Select del-one').check();
  await page.getByLabel('Select del-two').check();
  await page.getByRole('button', { name: 'Delete selected (2)' }).click();
  const dialog = page.getByRole('alertdialog');
  await dialog.filter({ hasText: 'Delete these 2 tasks?' }).waitFor();
  // Cancel keeps them
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await dialog.isVisible(), false);
  assert.equal((await server.api('GET', '/api/v2/tasks', { token: bob.token })).json.count, 3);
  await page.getByRole('button', { name: 'Delete selected (2)' }).click();
  await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.locator('#tasks-count', { hasText: /^1 task$/ }).waitFor();
  assert.equal(await row(page, 'del-one').count(), 0);
  assert.equal(await row(page, 'del-two').count(), 0);
  await row(page, 'keep-me').waitFor();
  await waitFor(async () => (await server.api('GET', '/api/v2/tasks', { token: bob.token })).json.count === 1, { what: 'two tasks deleted' });

  // select-all selects what the page shows
  await page.getByLabel('Select all on this page').check();
  assert.equal(await page.getByLabel('Select keep-me').isChecked(), true);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('owners: an admin filters by user; a member sees only their own tasks', { skip }, async () => {
  await server.createTask({ template: 'shell', input: 'true', name: 'bobs-own' }, { token: bob.token });
  // the member: none of bob's tasks, no link to them, no owner filter
  const a = await tasksPage(alice.token);
  await row(a, 'pr-task').waitFor();
  assert.equal(await a.locator('a[href^="/tasks/bob/"]').count(), 0, 'no link to bob\'s tasks');
  assert.equal(await a.getByText('bobs-own').count(), 0);
  assert.equal(await a.locator('#tasks-owner').count(), 0);
  // a change of bob's task reaches the stream of nobody but bob and admins
  assert.equal((await server.api('POST', '/api/v2/tasks/bob/bobs-own/pause', { token: bob.token })).status, 200);
  await server.createTask({ template: 'shell', input: 'true', name: 'bobs-later' }, { token: bob.token });
  await server.waitTask('bob', 'bobs-later', { token: bob.token });
  assert.equal(await a.locator('a[href^="/tasks/bob/"]').count(), 0);
  assert.deepEqual(realProblems(a), []);
  await a.context().close();

  const page = await tasksPage(server.token);
  await row(page, 'bobs-own').waitFor();
  await row(page, 'pr-task').waitFor();
  await page.getByLabel('Owner').selectOption('alice');
  await waitFor(async () => (await row(page, 'bobs-own').count()) === 0, { what: 'bob\'s rows gone' });
  await row(page, 'pr-task').waitFor();
  assert.match(page.url(), /owner=alice/);
  // bob's new task does not appear under owner alice
  await server.createTask({ template: 'shell', input: 'true', name: 'bobs-third' }, { token: bob.token });
  await page.getByLabel('Owner').selectOption('bob');
  await row(page, 'bobs-third').waitFor();
  assert.equal(await row(page, 'pr-task').count(), 0);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('markup in a display name and a state message is text; a javascript: link is none', { skip }, async () => {
  // the shell reports through the runtime, as an agent's report_task does
  const report = JSON.stringify({ summary: XSS, link: 'javascript:window.__xss=2', state: 'working' });
  const prompt = `curl -s --unix-socket "$TASKBOX_RUNTIME_SOCKET" -H 'Content-Type: application/json' -d '${report}' http://runtime/internal/report # ${XSS}`;
  await server.createTask({ template: 'shell', input: prompt, name: 'xss-task', display_name: XSS }, { token: alice.token });
  const page = await tasksPage(alice.token);
  const r = row(page, 'xss-task');
  await r.waitFor();
  await r.locator('.task-message', { hasText: XSS }).waitFor({ timeout: 90000 });
  assert.equal(await r.locator('.task-display').innerText(), XSS);
  assert.equal(await r.locator('img').count(), 0);
  assert.equal(await r.locator('.col-state a').count(), 0, 'no link for a javascript: uri');
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('phone: cards, the form usable, axe clean', { skip }, async () => {
  const page = await tasksPage(alice.token, { viewport: PHONE });
  const r = row(page, 'pr-task');
  await r.waitFor();
  // the head of the table is hidden: the cells carry their labels
  assert.equal(await page.locator('table.cards thead').isVisible(), false);
  assert.equal(await r.locator('td.col-status').getAttribute('data-label'), 'Status');
  const box = await page.getByLabel('Prompt').boundingBox();
  assert.ok(box.width <= PHONE.width && box.width > 200, `the prompt box fits the phone (${box.width})`);
  const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scroll <= PHONE.width, `no sideways scrolling (${scroll})`);
  await page.getByLabel('Prompt').fill('echo from-the-phone');
  await page.getByLabel('Template').selectOption('shell');
  await page.getByRole('button', { name: 'Create task' }).click();
  await waitFor(async () => (await page.getByLabel('Prompt').inputValue()) === '', { what: 'created from the phone' });
  await shot(page, 'tasks-phone');
  assert.deepEqual(await axe(page), []);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('no Task template: no Tasks tab, the page says how to add one', { skip }, async () => {
  // a second server whose task-capable templates an admin deletes
  const s = await startServer();
  try {
    const list = (await s.api('GET', '/api/v2/templates')).json.templates;
    for (const t of list.filter((x) => x.task_capable))
      assert.equal((await s.api('DELETE', `/api/v2/templates/${t.name}?force=true`)).status, 204);
    const page = await newPage(browser);
    await useToken(page, s.base, s.token);
    await page.goto(`${s.base}/tasks`);
    await page.getByText('The Tasks tab will appear automatically after you add a Tasks-compatible template').first().waitFor();
    assert.equal(await page.getByRole('link', { name: 'Tasks', exact: true }).count(), 0, 'no Tasks tab');
    assert.equal(await page.getByRole('button', { name: 'Create task' }).count(), 0, 'no form');
    assert.equal(await page.locator('main a[href="/templates"]').count(), 1);
    await shot(page, 'tasks-empty');
    assert.deepEqual(await axe(page), []);
    assert.deepEqual(realProblems(page), []);
    await page.context().close();
  } finally {
    await s.stop();
  }
});
