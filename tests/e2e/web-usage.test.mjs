// web-usage.test.mjs: a task's LLM usage in the web app (the task page's
// "LLM usage" and the Tasks table's Usage column) in Chromium against a
// real server whose gateway relays to the fake LLM (fake-llm.mjs, with
// its usage figures set by --usage). The agent is a shell loop that sends
// one Anthropic Messages request through llm.sock per line of input, the
// line (without the bracketed paste's marks) being the model's name. Covers: the exact figures the fake
// reported on both pages and in GET .../usage; the figures change
// without a reload on the next request; a model name with markup stays
// inert; a task paused by its budget shows the reason as its state
// message and the refused resume (409) as an error; axe and screenshots
// on desktop and phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, customTemplate, waitFor, tmpdir } from '../harness/server.mjs';
import { startFakeLlm } from '../harness/llm.mjs';
import { skip, launch, newPage, useToken, axe, shot, PHONE, realProblems } from '../harness/browser.mjs';

const XSS = '<img src=x onerror=window.__xss=1>';
// what the fake reports per request; 495 tokens in all, under 1000 so
// the page's short form shows them exactly
const USAGE = { input_tokens: 321, output_tokens: 123, cache_read_input_tokens: 45, cache_creation_input_tokens: 6 };
const TOKENS = 321 + 123 + 45 + 6;
// claude-sonnet-4-5 at USD 3 / 15 / 0.3 / 3.75 per million tokens
const COST = (321 * 3 + 123 * 15 + 45 * 0.3 + 6 * 3.75) / 1e6; // 0.002844
const MODEL = 'claude-sonnet-4-5';
const AGENT = [
  'i=0; printf "$ "; while read -r l; do i=$((i+1));',
  // the runtime sends a line as a bracketed paste
  '  l=$(printf %s "$l" | sed "s/$(printf "\\033")\\[20[01]~//g" | tr -d "\\r");',
  '  code=$(curl -s -o /dev/null -w "%{http_code}" -m 20 http://127.0.0.1:4000/v1/messages',
  '    -H "content-type: application/json" -H "x-api-key: placeholder" -H "anthropic-version: 2023-06-01"',
  '    -d "{\\"model\\":\\"$l\\",\\"max_tokens\\":16,\\"messages\\":[{\\"role\\":\\"user\\",\\"content\\":\\"hi\\"}]}");',
  '  echo "reply $i: $code"; printf "$ "; done',
].join(' ');

let srv, llm, scratch, browser;

before(async () => {
  if (skip) return;
  scratch = tmpdir('web-usage-');
  llm = await startFakeLlm({ default: 'ok' }, { dir: scratch, log: path.join(scratch, 'llm.jsonl'), args: ['--usage', JSON.stringify(USAGE)] });
  srv = await startServer({ args: ['--llm-url', llm.url] });
  const metered = customTemplate('metered', ['sh', '-c', AGENT]);
  // a budget of one request: the second is refused and pauses the task
  const capped = customTemplate('capped', ['sh', '-c', AGENT]).replace('  backend: local\n', `  backend: local\n  budget:\n    tokens: ${TOKENS}\n`);
  for (const y of [metered, capped]) {
    const r = await srv.pushTemplate(y);
    assert.equal(r.status, 201, r.text);
  }
  browser = await launch();
});

after(async () => {
  await browser?.close();
  if (srv) {
    await srv.stop();
    fs.rmSync(srv.data, { recursive: true, force: true });
  }
  llm?.child.kill();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

async function adminPage(path, opts) {
  const page = await newPage(browser, { base: srv.base, ...opts });
  await useToken(page, srv.base, srv.token);
  await page.goto(path);
  return page;
}

async function noAxe(page) {
  assert.deepEqual(await axe(page), []);
}

// The task's usage once it counts n requests (the Task JSON's).
async function usageAfter(name, n) {
  return waitFor(async () => {
    const t = await srv.task('admin', name);
    return t?.usage?.requests === n ? t.usage : null;
  }, { what: `${name}: ${n} requests counted`, timeout: 30000 });
}

// Send a line to the task's agent once it is idle.
async function send(name, input) {
  await srv.waitTask('admin', name, { state: 'idle', timeout: 60000 });
  const r = await srv.api('POST', `/api/v2/tasks/admin/${name}/send`, { body: { input } });
  assert.ok(r.status < 300, `${r.text}\n${srv.log}`);
}

const expected = (n, cost = n * COST) => ({
  requests: n, input_tokens: n * USAGE.input_tokens, output_tokens: n * USAGE.output_tokens,
  cache_read_input_tokens: n * USAGE.cache_read_input_tokens,
  cache_creation_input_tokens: n * USAGE.cache_creation_input_tokens, cost_usd: cost,
});
// the cost compared to the micro-dollar, the rest exactly
const rounded = (u) => ({ ...u, cost_usd: Math.round(u.cost_usd * 1e9) });
const row = (page, name) => page.locator('tr', { has: page.getByRole('link', { name, exact: true }) });
const pageUsage = (page) => page.locator('.task-meta dd.task-usage');

test('the figures the fake reported, on the task page and in the Tasks table, updated live', { skip, timeout: 240000 }, async () => {
  await srv.createTask({ template: 'metered', input: MODEL, name: 'metered' });
  const u1 = await usageAfter('metered', 1);
  const api = await srv.api('GET', '/api/v2/tasks/admin/metered/usage');
  assert.equal(api.status, 200, api.text);
  assert.deepEqual(api.json.models.map((m) => [m.model, m.requests, m.priced]), [[MODEL, 1, true]], api.text);
  assert.deepEqual(rounded(api.json.total), rounded(expected(1)));
  assert.deepEqual(rounded(u1), rounded(expected(1)));

  // the task page: tokens and cost in short, every figure in the title
  const page = await adminPage('/tasks/admin/metered');
  await page.locator('.task-head .badge-active').first().waitFor({ timeout: 60000 });
  const dd = pageUsage(page);
  assert.equal(await dd.textContent(), `${TOKENS} tokens · $0.0028`);
  assert.equal(await dd.getAttribute('title'), '1 request; input 321, output 123, cache read 45, cache write 6 tokens; USD 0.002844');
  assert.equal(await page.getByRole('term').filter({ hasText: 'LLM usage' }).count(), 1);

  // the Tasks table in another page: the Usage cell
  const list = await adminPage('/tasks');
  const cell = row(list, 'metered').locator('td.col-usage');
  await cell.filter({ hasText: `${TOKENS} tokens · $0.0028` }).waitFor();
  assert.equal(await cell.getAttribute('data-label'), 'Usage');
  assert.equal(await cell.locator('.task-usage').getAttribute('title'), await dd.getAttribute('title'));
  // the figures read as the row's other values do, not smaller
  const size = (l) => l.evaluate((e) => getComputedStyle(e).fontSize);
  assert.equal(await size(cell.locator('.task-usage')), await size(row(list, 'metered').locator('td.col-owner')));
  assert.equal(await size(dd), await size(page.locator('.task-meta dd').first()));
  await list.evaluate(() => { window.__marker = 'still here'; });
  await page.evaluate(() => { window.__marker = 'still here'; });

  // a second request: both pages follow without a reload
  await send('metered', MODEL);
  const u2 = await usageAfter('metered', 2);
  assert.deepEqual(rounded(u2), rounded(expected(2)));
  await dd.filter({ hasText: `${2 * TOKENS} tokens · $0.0057` }).waitFor({ timeout: 30000 });
  await cell.filter({ hasText: `${2 * TOKENS} tokens · $0.0057` }).waitFor({ timeout: 30000 });
  assert.equal(await page.evaluate(() => window.__marker), 'still here');
  assert.equal(await list.evaluate(() => window.__marker), 'still here');
  assert.match(await dd.getAttribute('title'), /^2 requests; input 642, output 246, cache read 90, cache write 12 tokens; USD 0\.005688$/);

  // a model named with markup (unpriced: the cost stays): the usage
  // counts it, nothing of it runs or renders as an element
  await send('metered', XSS);
  const u3 = await usageAfter('metered', 3);
  assert.deepEqual(rounded(u3), rounded(expected(3, 2 * COST)));
  const models = (await srv.api('GET', '/api/v2/tasks/admin/metered/usage')).json.models;
  assert.deepEqual(models.map((m) => [m.model, m.priced]).sort(), [[XSS, false], [MODEL, true]].sort());
  await dd.filter({ hasText: '1.5k tokens · $0.0057' }).waitFor({ timeout: 30000 });
  await cell.filter({ hasText: '1.5k tokens · $0.0057' }).waitFor({ timeout: 30000 });
  for (const p of [page, list]) {
    assert.equal(await p.evaluate(() => window.__xss), undefined);
    assert.equal(await p.locator('img[src=x]').count(), 0);
  }

  await noAxe(page);
  await shot(page, 'usage-task-page');
  await noAxe(list);
  await shot(list, 'usage-tasks-table');
  for (const p of [page, list]) {
    assert.deepEqual(realProblems(p), []);
    await p.context().close();
  }
});

test('the phone layout: the usage on the task page and in the table card', { skip, timeout: 120000 }, async () => {
  const page = await adminPage('/tasks/admin/metered', { viewport: PHONE });
  await page.locator('.task-head .badge-active').first().waitFor({ timeout: 60000 });
  const dd = pageUsage(page);
  await dd.filter({ hasText: '1.5k tokens · $0.0057' }).waitFor();
  const box = await dd.boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width, `the usage is on the screen (${JSON.stringify(box)})`);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth + 1), 'no horizontal scroll of the page');
  await noAxe(page);
  await shot(page, 'usage-task-phone');

  const list = await adminPage('/tasks', { viewport: PHONE });
  const cell = row(list, 'metered').locator('td.col-usage');
  await cell.filter({ hasText: '1.5k tokens · $0.0057' }).waitFor();
  const cb = await cell.boundingBox();
  assert.ok(cb.x >= 0 && cb.x + cb.width <= PHONE.width, `the Usage cell is on the screen (${JSON.stringify(cb)})`);
  assert.ok(await list.evaluate(() => document.documentElement.scrollWidth <= innerWidth + 1), 'no horizontal scroll of the page');
  await noAxe(list);
  await shot(list, 'usage-tasks-phone');
  for (const p of [page, list]) {
    assert.deepEqual(realProblems(p), []);
    await p.context().close();
  }
});

test('a task paused by its budget: the reason as its state message, the refused resume shown', { skip, timeout: 240000 }, async () => {
  await srv.createTask({ template: 'capped', input: MODEL, name: 'capped' });
  await usageAfter('capped', 1);
  await send('capped', MODEL);
  const paused = await srv.waitTask('admin', 'capped', { status: 'paused', timeout: 60000 });
  const reason = `budget exceeded: task tokens ${TOKENS}/${TOKENS}`;
  assert.match(paused.current_state.message, new RegExp(`^${reason}`));
  const msg = paused.current_state.message;

  const page = await adminPage('/tasks/admin/capped');
  const head = page.locator('.task-head');
  await head.locator('.badge-paused').first().waitFor({ timeout: 30000 });
  assert.equal(await head.locator('.task-state-line .task-message').textContent(), msg);
  assert.equal(await pageUsage(page).textContent(), `${TOKENS} tokens · $0.0028`);
  const refused = page.waitForResponse((r) => r.url().endsWith('/resume') && r.request().method() === 'POST');
  await head.getByRole('button', { name: 'Resume' }).click();
  assert.equal((await refused).status(), 409);
  const alert = page.getByRole('alert').filter({ hasText: reason });
  await alert.waitFor();
  assert.match(await alert.textContent(), new RegExp(`^Resume: ${reason}`));
  // still paused, the button usable again
  await waitFor(() => head.getByRole('button', { name: 'Resume' }).isEnabled(), { what: 'Resume enabled again' });
  assert.equal((await srv.task('admin', 'capped')).status, 'paused');
  await noAxe(page);
  await shot(page, 'usage-budget-paused');
  await shot(page, 'usage-budget-paused-full', { fullPage: true });
  assert.deepEqual(realProblems(page), []);
  await page.context().close();

  // the Tasks table: the message in the row, its Resume refused the same way
  const list = await adminPage('/tasks', { viewport: PHONE });
  const r = row(list, 'capped');
  await r.locator('.col-state .task-message', { hasText: msg }).waitFor();
  await r.getByRole('button', { name: 'Resume capped' }).click();
  await list.getByRole('alert').filter({ hasText: `capped: ${reason}` }).waitFor();
  await noAxe(list);
  await shot(list, 'usage-budget-tasks-phone');
  assert.deepEqual(realProblems(list), []);
  await list.context().close();
});

test('the server stops cleanly, without a sanitizer report', { skip }, async () => {
  const s = srv;
  srv = null;
  await s.stop();
  fs.rmSync(s.data, { recursive: true, force: true });
  assert.doesNotMatch(s.log, /Sanitizer|runtime error:/, s.log);
});
