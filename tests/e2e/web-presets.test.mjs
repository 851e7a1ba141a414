// web-presets.test.mjs: the Tasks tab's preset select in Chromium against
// a real server with real sandboxes: the template's default preset is
// preselected and fills the parameter fields, another preset or None
// changes them, a task created with a preset and an edited field gets
// both (the workspace's environment says so), a template without presets
// shows no select, a preset gone since the page loaded is reported next
// to the select; axe clean.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, waitFor, taskDir, exists } from '../harness/server.mjs';
import { skip, launch, newPage, useToken, axe, shot, realProblems } from '../harness/browser.mjs';

let server, browser, alice;

const YAML = [
  'name: pre',
  'display_name: Presets',
  'parameters:',
  '  - name: AI Prompt',
  '  - name: Model',
  '    default: small',
  '  - name: Depth',
  '    type: number',
  '    default: 1',
  '  - name: Fast',
  '    type: bool',
  '    default: false',
  'presets:',
  '  - name: Quick',
  '    default: true',
  '    description: a fast pass',
  '    parameters: {Model: tiny, Depth: 2, Fast: true}',
  '  - name: Deep dive',
  '    parameters:',
  '      Depth: 9',
  'agent:',
  '  module: custom',
  '  command: ["sh", "-c", "env | grep TASKBOX_PARAM_ | sort > params; exec sleep 1000"]',
  'ai_task:',
  '  app: chat',
].join('\n') + '\n';

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await launch();
  alice = await server.user('alice');
  const r = await server.pushTemplate(YAML, alice.token);
  assert.equal(r.status, 201, r.text);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

// A signed-in page on /tasks with the template `pre` chosen.
async function formPage(token) {
  const page = await newPage(browser);
  await useToken(page, server.base, token);
  await page.goto(`${server.base}/tasks`);
  await page.getByRole('heading', { name: 'Tasks', exact: true }).waitFor();
  await page.getByLabel('Template').selectOption('pre');
  return page;
}

// The values the parameter fields show: [Model, Depth, Fast].
async function fields(page) {
  return [await page.getByLabel('Model').inputValue(), await page.getByLabel('Depth').inputValue(), await page.getByLabel('Fast').isChecked()];
}

test('the default preset is preselected and fills the fields; another preset or None changes them', { skip }, async () => {
  const page = await formPage(alice.token);
  const preset = page.getByLabel('Preset');
  assert.equal(await preset.inputValue(), 'Quick');
  assert.deepEqual(await preset.locator('option').allInnerTexts(), ['Quick — a fast pass', 'Deep dive', 'None']);
  assert.deepEqual(await fields(page), ['tiny', '2', true]);
  await preset.selectOption('Deep dive');
  assert.deepEqual(await fields(page), ['small', '9', false]);
  await preset.selectOption({ label: 'None' });
  assert.deepEqual(await fields(page), ['small', '1', false]);
  await shot(page, 'tasks-form-preset');
  assert.deepEqual(await axe(page), []);

  // a template without presets: no select
  await page.getByLabel('Template').selectOption('shell');
  assert.equal(await page.getByLabel('Preset').isVisible(), false);
  await page.getByLabel('Template').selectOption('pre');
  assert.equal(await page.getByLabel('Preset').inputValue(), 'Quick', 'back to the default');
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('create with a preset and an edited field: the task gets both', { skip }, async () => {
  const page = await formPage(alice.token);
  await page.getByLabel('Preset').selectOption('Deep dive');
  await page.getByLabel('Model').fill('web');
  await page.getByLabel('Prompt').fill('go');
  await page.getByRole('button', { name: 'Create task' }).click();
  await waitFor(async () => (await page.getByLabel('Prompt').inputValue()) === '', { what: 'the prompt box cleared' });
  const tasks = (await server.api('GET', '/api/v2/tasks', { token: alice.token })).json.tasks;
  assert.equal(tasks.length, 1);
  const tmpl = (await server.api('GET', '/api/v2/templates/pre')).json;
  assert.equal(tasks[0].template_version_preset_id, tmpl.presets.find((p) => p.name === 'Deep dive').id);
  const file = path.join(taskDir(server, tasks[0].id), 'home/workspace/params');
  await waitFor(() => exists(file) && fs.readFileSync(file, 'utf8').includes('MODEL'), { what: 'params written', timeout: 90000 });
  assert.equal(fs.readFileSync(file, 'utf8'), 'TASKBOX_PARAM_DEPTH=9\nTASKBOX_PARAM_FAST=false\nTASKBOX_PARAM_MODEL=web\n');
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
  await server.api('DELETE', `/api/v2/tasks/alice/${tasks[0].name}`, { token: alice.token });
});

test('a preset gone since the page loaded: the error is shown next to the select', { skip }, async () => {
  const page = await formPage(alice.token);
  await page.getByLabel('Preset').selectOption('Deep dive');
  // a new version without that preset
  const r = await server.pushTemplate(YAML.replace('  - name: Deep dive\n    parameters:\n      Depth: 9\n', ''), alice.token);
  assert.equal(r.status, 201, r.text);
  await page.getByLabel('Prompt').fill('go');
  await page.getByRole('button', { name: 'Create task' }).click();
  const err = page.locator('.field', { has: page.getByLabel('Preset') }).locator('.field-error');
  await err.filter({ hasText: /has no preset 'Deep dive'/ }).waitFor();
  assert.equal(await page.getByLabel('Preset').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel('Prompt').inputValue(), 'go', 'the prompt stays after an error');
  assert.deepEqual(realProblems(page, [/status of 400/]), []);
  await page.context().close();
});
