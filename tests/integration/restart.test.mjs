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
import { startServer, customTemplate, waitFor, taskDir, exists, tmpdir, storeSql, testStore } from '../harness/server.mjs';

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
  // active once the agent runs, which may be before it wrote its count
  const runs = path.join(taskDir(srv, t.id), 'home/runs');
  await waitFor(() => fs.readFileSync(runs, 'utf8').trim() !== '1', { what: 'the second run counted' });
  assert.equal(fs.readFileSync(runs, 'utf8').trim(), '2', 'the home was kept');
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
  storeSql(srv.data, testStore === 'postgresql'
    ? "UPDATE template_versions SET spec = jsonb_set(spec::jsonb, '{agent,module}', '\"gone\"')::text WHERE template_id = (SELECT id FROM templates WHERE name = 'orphan')"
    : "UPDATE template_versions SET spec = json_set(spec, '$.agent.module', 'gone') WHERE template_id = (SELECT id FROM templates WHERE name = 'orphan')");
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

// Read one value from a server's store (next to it).
function dbValue(data, sql, ...args) {
  const rows = storeSql(data, sql, ...args);
  return rows.length ? rows[0][0] : null;
}

test('restart after a server restart (disk unmounted) never re-seeds the agent\'s home through its links', async () => {
  const host = tmpdir('taskbox-host-');
  fs.chmodSync(host, 0o755);
  let s = await startServer();
  try {
    // the agent leaves a link where the server made a directory, and its
    // own .gitconfig where the server seeded one, then fails
    const cmd = `echo mine > ~/.gitconfig; rm -rf ~/workspace; ln -s ${host} ~/workspace; exit 3`;
    assert.equal((await s.pushTemplate(customTemplate('planter', ['sh', '-c', cmd]))).status, 201);
    const t = await s.createTask({ template: 'planter', input: 'x', name: 'planter' });
    await s.waitTask('admin', 'planter', { status: 'error' });
    assert.ok(exists(path.join(s.data, 'disks', `${t.id}.img`)), 'the task has a disk image');
    await s.stop(); // unmounts the image
    s = await startServer({ data: s.data, token: s.token });
    const r = await s.api('POST', '/api/v2/tasks/admin/planter/restart');
    assert.equal(r.status, 202, r.text);
    await waitFor(async () => {
      const x = await s.task('admin', 'planter');
      return x.status === 'error' && x;
    }, { what: 'the restarted agent failed again' });
    assert.equal(fs.statSync(host).mode & 0o777, 0o755, 'the host directory was not chmodded');
    assert.deepEqual(fs.readdirSync(host), [], 'nothing was written there');
    assert.equal(fs.readFileSync(path.join(taskDir(s, t.id), 'home/.gitconfig'), 'utf8'), 'mine\n',
      'the agent\'s own file was not seeded over');
  } finally {
    await s.stop();
  }
});

test('restart of a task whose agent ran: no setup again, resume_args, no second prompt, even with its state file broken', async () => {
  const mod = await srv.api('POST', '/api/v2/modules', {
    body: 'name: resumer\nagent_type: custom\n' +
      'command: [sh, -c, \'echo "args:$*" >> ~/args; exec bash --norc --noprofile -i\', sh]\n' +
      'resume_args: [RESUMED]\n',
    headers: { 'Content-Type': 'application/yaml' },
  });
  assert.equal(mod.status, 201, mod.text);
  assert.equal((await srv.pushTemplate('name: resumed\nworkspace:\n  backend: local\n  env: {PS1: "$ "}\n' +
    '  setup: |\n    echo ran >> ~/setup-runs\nagent:\n  module: resumer\nai_task:\n  app: chat\n')).status, 201);
  const prompt = 'echo p-$((2*21))';
  const t = await srv.createTask({ template: 'resumed', input: prompt, name: 'resumed' });
  await waitFor(async () => /p-42/.test(outputs(await logs('resumed'))), { what: 'the prompt ran' });
  await srv.waitTask('admin', 'resumed', { state: 'idle' });
  // the agent breaks what the runtime keeps in its run directory (the
  // history, whether the prompt was delivered), then goes
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/resumed/send',
    { body: { input: 'rm -f /run/taskbox/state.json; mkdir /run/taskbox/state.json; sleep 1; exit 3' } })).status, 200);
  await srv.waitTask('admin', 'resumed', { status: 'error' });
  const r = await restart('resumed');
  assert.equal(r.status, 202, r.text);
  await srv.waitTask('admin', 'resumed');
  const home = path.join(taskDir(srv, t.id), 'home');
  await waitFor(() => fs.readFileSync(path.join(home, 'args'), 'utf8').split('\n').length > 2, { what: 'the second launch' });
  assert.deepEqual(fs.readFileSync(path.join(home, 'args'), 'utf8').trim().split('\n'), ['args:', 'args:RESUMED'],
    'the second launch continues the session');
  assert.equal(fs.readFileSync(path.join(home, 'setup-runs'), 'utf8'), 'ran\n', 'the setup ran once');
  await srv.waitTask('admin', 'resumed', { state: 'idle' });
  const sent = await srv.api('POST', '/api/v2/tasks/admin/resumed/send', { body: { input: 'echo after-$((5*5))' } });
  assert.ok([200, 202].includes(sent.status), sent.text);
  await waitFor(async () => /after-25/.test(outputs(await logs('resumed'))), { what: 'the agent answers' });
  assert.equal(inputs(await logs('resumed')).filter((x) => x === prompt).length, 0,
    'the prompt was not sent to the new run (the runtime lost its history)');
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/resumed')).status, 202);
});

test('restart of a task whose agent ran but never got its prompt: no resume_args (no session to continue)', async () => {
  const mod = await srv.api('POST', '/api/v2/modules', {
    body: 'name: early-exit\nagent_type: custom\n' +
      'command: [sh, -c, \'echo "args:$*" >> ~/args; exit 3\', sh]\n' +
      'resume_args: [RESUMED]\n',
    headers: { 'Content-Type': 'application/yaml' },
  });
  assert.equal(mod.status, 201, mod.text);
  assert.equal((await srv.pushTemplate('name: early\nworkspace:\n  backend: local\n' +
    'agent:\n  module: early-exit\nai_task:\n  app: chat\n')).status, 201);
  const t = await srv.createTask({ template: 'early', input: 'never typed', name: 'early' });
  await srv.waitTask('admin', 'early', { status: 'error' });
  const r = await restart('early');
  assert.equal(r.status, 202, r.text);
  const home = path.join(taskDir(srv, t.id), 'home');
  await waitFor(() => fs.readFileSync(path.join(home, 'args'), 'utf8').split('\n').length > 2, { what: 'the second launch' });
  assert.deepEqual(fs.readFileSync(path.join(home, 'args'), 'utf8').trim().split('\n'), ['args:', 'args:'],
    'an agent that never had its prompt has no session: it starts fresh');
  await srv.waitTask('admin', 'early', { status: 'error' });
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/early')).status, 202);
});

test('a setup script that leaves a FIFO where its script was does not hang the server on restart', async () => {
  const setup = 'if [ -e ~/tried ]; then echo ok; else touch ~/tried; rm -f /run/taskbox/setup.sh; ' +
    'mkfifo /run/taskbox/setup.sh; echo planted >&2; exit 1; fi';
  assert.equal((await srv.pushTemplate(customTemplate('fifo', ['bash', '--norc', '--noprofile', '-i'],
    { env: { PS1: '$ ' }, setup }))).status, 201);
  await srv.createTask({ template: 'fifo', input: 'echo fifo-$((4*4))', name: 'fifo' });
  const failed = await srv.waitTask('admin', 'fifo', { status: 'error' });
  assert.match(failed.status_reason, /setup script failed.*planted/);
  const r = await restart('fifo');
  assert.equal(r.status, 202, r.text);
  await waitFor(async () => /fifo-16/.test(outputs(await logs('fifo'))), { what: 'the prompt ran' });
  assert.equal((await srv.api('GET', '/api/v2/tasks')).status, 200, 'the server answers');
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/fifo')).status, 202);
});

test('a restart a pre-check refuses (its secret was removed) answers 400 and leaves the task as it was', async () => {
  assert.equal((await srv.pushTemplate(customTemplate('secretive', ['sh', '-c', 'exit 3']) + 'env_secrets: {SECRET_Y: y}\n')).status, 201);
  assert.equal((await srv.api('PUT', '/api/v2/templates/secretive/secrets/y', { body: { value: 'v' } })).status, 204);
  await srv.createTask({ template: 'secretive', input: 'x', name: 'secretive' });
  const failed = await srv.waitTask('admin', 'secretive', { status: 'error' });
  assert.equal((await srv.api('DELETE', '/api/v2/templates/secretive/secrets/y')).status, 204);
  const r = await restart('secretive');
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.detail, /needs its secret 'y'/);
  const now = await srv.task('admin', 'secretive');
  assert.equal(now.status, 'error');
  assert.equal(now.status_reason, failed.status_reason);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/secretive')).status, 202);
});

test('restart of a task whose first start failed at its disk: the leftovers go, the new start has its disk', async () => {
  let s = await startServer();
  try {
    assert.equal((await s.pushTemplate(customTemplate('sleepy', ['sleep', '1000']))).status, 201);
    const made = [];
    for (const name of ['half-img', 'empty-dir']) {
      const t = await s.createTask({ template: 'sleepy', input: 'x', name });
      await s.waitTask('admin', name);
      made.push(t);
    }
    await s.stop();
    // as a first start that failed at its disk leaves them: the task in
    // error, nothing laid out; a half-made image, or only the mount point
    storeSql(s.data, "UPDATE tasks SET status = 'error', status_reason = 'disk', ws_pid = NULL, laid_out = 0, agent_started = 0, prompt_delivered = 0");
    for (const t of made) {
      fs.rmSync(taskDir(s, t.id), { recursive: true });
      fs.mkdirSync(taskDir(s, t.id));
    }
    fs.writeFileSync(path.join(s.data, 'disks', `${made[0].id}.img`), 'half made');
    fs.rmSync(path.join(s.data, 'disks', `${made[1].id}.img`));
    s = await startServer({ data: s.data, token: s.token });
    for (const t of made) {
      const r = await s.api('POST', `/api/v2/tasks/admin/${t.name}/restart`);
      assert.equal(r.status, 202, r.text);
      const x = await s.waitTask('admin', t.name);
      assert.ok(!(x.warnings ?? []).some((w) => /disk limit not enforced/.test(w)), JSON.stringify(x.warnings));
      assert.ok(fs.statSync(path.join(s.data, 'disks', `${t.id}.img`)).size > 1 << 20, 'a new image');
    }
  } finally {
    await s.stop();
  }
});

// The clearing before such a restart runs in a child while the task is
// pending: what may come meanwhile (another restart, a delete, the
// server stopping) finds it pending, and links left in the task's dir
// are removed, never followed.
test('restart clearing a failed start: a second restart is refused, a delete waits for it, links are not followed, a stop leaves it restartable', async () => {
  let s = await startServer();
  const victim = tmpdir('taskbox-restart-victim-');
  try {
    fs.writeFileSync(path.join(victim, 'keep'), 'keep');
    assert.equal((await s.pushTemplate(customTemplate('sleepy', ['sleep', '1000']))).status, 201);
    const made = [];
    for (const name of ['clear-del', 'clear-stop']) {
      made.push(await s.createTask({ template: 'sleepy', input: 'x', name }));
      await s.waitTask('admin', name);
    }
    await s.stop();
    storeSql(s.data, "UPDATE tasks SET status = 'error', status_reason = 'disk', ws_pid = NULL, laid_out = 0, agent_started = 0, prompt_delivered = 0");
    for (const t of made) {
      const dir = taskDir(s, t.id);
      fs.rmSync(dir, { recursive: true });
      // many entries: the clearing takes a while
      for (let i = 0; i < 40; i++) {
        fs.mkdirSync(path.join(dir, `d${i}`), { recursive: true });
        for (let j = 0; j < 400; j++) fs.writeFileSync(path.join(dir, `d${i}`, `f${j}`), '');
      }
      fs.symlinkSync(victim, path.join(dir, 'out'));
      fs.symlinkSync(path.join(victim, 'keep'), path.join(dir, 'd0', 'keep'));
      fs.linkSync(path.join(victim, 'keep'), path.join(dir, 'hard'));
    }
    s = await startServer({ data: s.data, token: s.token });
    // restart then delete at once
    let r = await s.api('POST', '/api/v2/tasks/admin/clear-del/restart');
    assert.equal(r.status, 202, r.text);
    if (r.json.status === 'pending')
      assert.equal((await s.api('POST', '/api/v2/tasks/admin/clear-del/restart')).status, 409);
    assert.equal((await s.api('DELETE', '/api/v2/tasks/admin/clear-del')).status, 202);
    await waitFor(async () => (await s.api('GET', '/api/v2/tasks/admin/clear-del')).status === 404, { what: 'the deleted task gone' });
    await waitFor(() => !exists(taskDir(s, made[0].id)), { what: 'its dir gone' });
    assert.ok(!exists(path.join(s.data, 'disks', `${made[0].id}.img`)));
    // restart then stop the server at once: restartable after
    r = await s.api('POST', '/api/v2/tasks/admin/clear-stop/restart');
    assert.equal(r.status, 202, r.text);
    await s.stop();
    assert.doesNotMatch(s.log, /Sanitizer/, 'a clean exit while the clearing ran');
    s = await startServer({ data: s.data, token: s.token });
    const now = await s.task('admin', 'clear-stop');
    if (now.status !== 'active') {
      assert.equal(now.status, 'error', JSON.stringify(now));
      r = await s.api('POST', '/api/v2/tasks/admin/clear-stop/restart');
      assert.equal(r.status, 202, r.text);
    }
    await s.waitTask('admin', 'clear-stop');
    // what the links named is untouched
    assert.deepEqual(fs.readdirSync(victim), ['keep']);
    assert.equal(fs.readFileSync(path.join(victim, 'keep'), 'utf8'), 'keep');
  } finally {
    await s.stop();
    fs.rmSync(victim, { recursive: true, force: true });
  }
  assert.doesNotMatch(s.log, /Sanitizer/);
});
