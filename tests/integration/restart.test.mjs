// restart.test.mjs: a task in error gets a fresh workspace run with its
// files and transcript and never the prompt twice (POST .../restart);
// what can fail before anything runs is refused at create (4xx) with
// nothing created; a template naming a module that does not exist is
// refused at push.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startServer, customTemplate, waitFor, taskDir, exists } from '../harness/server.mjs';

let srv, bob;

before(async () => {
  srv = await startServer();
  bob = await srv.user('bob');
  const r = await srv.pushTemplate(customTemplate('sh', ['bash', '--norc', '--noprofile', '-i'], { env: { PS1: '$ ' } }));
  assert.equal(r.status, 201, r.text);
});

after(async () => { await srv?.stop(); });

const logs = async (name) => (await srv.api('GET', `/api/v2/tasks/admin/${name}/logs`)).json;
const inputs = (l) => l.logs.filter((e) => e.type === 'input').map((e) => e.content);
const outputs = (l) => l.logs.filter((e) => e.type === 'output').map((e) => e.content).join('\n');
const restart = (name, token = srv.token) => srv.api('POST', `/api/v2/tasks/admin/${name}/restart`, { token });

test('an agent that exited: restart keeps files and transcript and never sends the prompt again', async () => {
  const prompt = 'echo kept > kept.txt; echo first-$((3*3))';
  const t = await srv.createTask({ template: 'sh', input: prompt, name: 'crasher' });
  await waitFor(async () => /first-9/.test(outputs(await logs('crasher'))), { what: 'first run' });
  await srv.waitTask('admin', 'crasher', { state: 'idle' });
  assert.equal((await restart('crasher')).status, 409, 'an active task is not restarted');

  // the agent goes away on its own a moment after the send was taken
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/crasher/send', { body: { input: 'sleep 1; exit 3' } })).status, 200);
  const failed = await srv.waitTask('admin', 'crasher', { status: 'error' });
  assert.match(failed.status_reason, /exited with status 3/);
  for (const ref of ['crasher', t.id]) {
    const other = await srv.api('POST', `/api/v2/tasks/admin/${ref}/restart`, { token: bob.token });
    assert.equal(other.status, 404, 'another member does not see the task');
  }
  assert.equal((await srv.task('admin', 'crasher')).status, 'error', 'a refused restart changed nothing');

  const r = await restart('crasher');
  assert.equal(r.status, 202, r.text);
  assert.ok(['pending', 'initializing'].includes(r.json.status), r.json.status);
  assert.equal(r.json.id, t.id);
  await srv.waitTask('admin', 'crasher', { state: 'idle' });
  const l = await logs('crasher');
  assert.equal(inputs(l).filter((x) => x === prompt).length, 1, 'the prompt is in the history exactly once');
  assert.match(outputs(l), /first-9/, 'the transcript survived');
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/crasher/send', { body: { input: 'cat kept.txt' } })).status, 200);
  await waitFor(async () => /^kept$/m.test(outputs(await logs('crasher'))), { what: 'files survived' });
  assert.equal(inputs(await logs('crasher')).filter((x) => x === prompt).length, 1);
  assert.equal((await restart('crasher')).status, 409, 'the restarted task is active');
  assert.ok(exists(path.join(taskDir(srv, t.id), 'home/workspace/kept.txt')));

  // a paused task is resumed, not restarted
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/crasher/pause')).status, 200);
  const p = await restart('crasher');
  assert.equal(p.status, 409);
  assert.match(p.json.detail, /resume/);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/crasher')).status, 202);
});

test('a setup script that failed runs again on restart; the prompt is then delivered once', async () => {
  const setup = 'if [ -e ~/setup-tried ]; then echo setup-ok; else touch ~/setup-tried; echo flaky network >&2; exit 1; fi';
  assert.equal((await srv.pushTemplate(customTemplate('flaky', ['bash', '--norc', '--noprofile', '-i'],
    { env: { PS1: '$ ' }, setup }))).status, 201);
  const prompt = 'echo prompt-$((6*7))';
  const t = await srv.createTask({ template: 'flaky', input: prompt, name: 'flaky' });
  const failed = await srv.waitTask('admin', 'flaky', { status: 'error' });
  assert.match(failed.status_reason, /setup script failed.*flaky network/);
  assert.ok(exists(path.join(taskDir(srv, t.id), 'home/setup-tried')));

  const r = await restart('flaky');
  assert.equal(r.status, 202, r.text);
  await srv.waitTask('admin', 'flaky', { state: 'idle' });
  await waitFor(async () => /prompt-42/.test(outputs(await logs('flaky'))), { what: 'the prompt ran' });
  assert.deepEqual(inputs(await logs('flaky')), [prompt]);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/flaky')).status, 202);
});

test('an agent that ended on its own (unknown) restarts on its own home', async () => {
  // the first run counts and exits 0; the second counts and stays
  const cmd = 'n=$(cat ~/runs 2>/dev/null || echo 0); echo $((n+1)) > ~/runs; [ "$n" -ge 1 ] && exec sleep 1000; exit 0';
  assert.equal((await srv.pushTemplate(customTemplate('once-only', ['sh', '-c', cmd]))).status, 201);
  const t = await srv.createTask({ template: 'once-only', input: 'x', name: 'ender' });
  const ended = await waitFor(async () => {
    const x = await srv.task('admin', 'ender');
    return ['unknown', 'error'].includes(x.status) && x;
  }, { what: 'the agent ended' });
  assert.ok(ended.status_reason);
  const r = await restart('ender');
  assert.equal(r.status, 202, r.text);
  await srv.waitTask('admin', 'ender');
  assert.equal(fs.readFileSync(path.join(taskDir(srv, t.id), 'home/runs'), 'utf8').trim(), '2', 'the home was kept');
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/ender')).status, 202);
});

// The task rows and task directories, to show a refusal made nothing.
async function footprint() {
  const tasks = (await srv.api('GET', '/api/v2/tasks')).json.tasks.map((x) => x.id).sort();
  const dir = path.join(srv.data, 'tasks');
  const dirs = exists(dir) ? fs.readdirSync(dir).sort() : [];
  return { tasks, dirs };
}

test('pre-checks answer 4xx at create and create nothing', async () => {
  const before = await footprint();

  // an agent that needs an LLM on a server started without --llm-url
  let r = await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'claude-code', input: 'x', name: 'nollm' } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.headers.get('content-type'), /application\/problem\+json/);
  assert.match(r.json.detail, /needs an LLM endpoint.*--llm-url/);

  // a secret the template names and nobody set
  assert.equal((await srv.pushTemplate(customTemplate('needs-x', ['bash']) + 'env_secrets: {SECRET_X: x}\n', bob.token)).status, 201);
  r = await srv.api('POST', '/api/v2/tasks/me', { token: bob.token, body: { template: 'needs-x', input: 'x', name: 'nosecret' } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.detail, /needs its secret 'x'.*taskbox secret set x --template needs-x/);
  assert.equal((await srv.api('PUT', '/api/v2/templates/needs-x/secrets/x', { token: bob.token, body: { value: 'v' } })).status, 204);

  // a module that no longer exists (a template stored before push checked
  // modules): edit the stored version, as an old database would hold it
  assert.equal((await srv.pushTemplate(customTemplate('orphan', ['bash']))).status, 201);
  const db = path.join(srv.data, 'taskbox.db');
  const py = spawnSync('python3', ['-c', `import sqlite3,sys
c=sqlite3.connect(sys.argv[1], timeout=10)
c.execute("UPDATE template_versions SET spec=json_set(spec,'$.agent.module','gone') WHERE template_id=(SELECT id FROM templates WHERE name='orphan')")
c.commit()`, db], { encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  r = await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'orphan', input: 'x', name: 'nomodule' } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.detail, /module 'gone', which does not exist/);

  const now = await footprint();
  assert.deepEqual(now.tasks, before.tasks, 'no task row was made');
  // (a directory of a task deleted before may still be going away)
  assert.ok(now.dirs.every((d) => before.dirs.includes(d)), 'no directory was made');
  // with the secret set the same create works
  const ok = await srv.createTask({ template: 'needs-x', input: 'x', name: 'withsecret' }, { token: bob.token });
  assert.equal(ok.status === 'error', false, ok.status_reason);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/bob/withsecret', { token: bob.token })).status, 202);
});

test('template push refuses an agent module that does not exist, at its line', async () => {
  const yaml = customTemplate('ghost', ['bash']).replace('module: custom', 'module: no-such-agent');
  for (const token of [srv.token, bob.token]) {
    const r = await srv.pushTemplate(yaml, token);
    assert.equal(r.status, 422, r.text);
    const e = r.json.errors[0];
    assert.equal(e.location, 'agent.module');
    assert.match(e.message, /no agent module 'no-such-agent'/);
    assert.equal(e.line, yaml.split('\n').findIndex((l) => l.includes('no-such-agent')) + 1);
    assert.ok(e.column > 1);
  }
  assert.equal((await srv.api('GET', '/api/v2/templates/ghost')).status, 404, 'nothing was stored');
});
