// lint.test.mjs: `taskbox template lint` and `taskbox module lint` over the
// built-in files and over broken ones (FILE:LINE:COLUMN output, exit 1).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runBin, root, tmpdir } from '../harness/runtime.mjs';

const dir = tmpdir();
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const yamlIn = (sub) => fs.readdirSync(path.join(root, sub))
  .filter((f) => f.endsWith('.yaml')).map((f) => path.join(root, sub, f));

test('built-in templates lint clean and are task templates', async () => {
  const files = yamlIn('templates');
  assert.ok(files.length >= 6);
  const r = await runBin(['template', 'lint', ...files]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const f of files) assert.match(r.stdout, new RegExp(`${f}: ok \\(task template: `));
});

test('built-in modules lint clean', async () => {
  const files = yamlIn('modules');
  assert.ok(files.length >= 6);
  const r = await runBin(['module', 'lint', ...files]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /claude-code\.yaml: ok \(module claude-code, type claude, providers: anthropic/);
});

test('errors are reported as FILE:LINE:COLUMN', async () => {
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, 'name: ok\nworkspace:\n  limits: {memory: lots}\nai_task: {app: web}\n');
  const r = await runBin(['template', 'lint', bad]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`^${bad}:3:20: workspace.limits.memory: invalid size 'lots'`, 'm'));
  assert.match(r.stdout, new RegExp(`^${bad}:4:1: agent: ai_task needs an agent block`, 'm'));
  assert.match(r.stdout, new RegExp(`^${bad}:4:16: ai_task.app: no app 'web'`, 'm'));
});

test('a file that cannot be read fails', async () => {
  const r = await runBin(['module', 'lint', path.join(dir, 'missing.yaml')]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /cannot read/);
});
