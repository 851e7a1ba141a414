// lifecycle.test.mjs: a server killed with SIGKILL re-attaches to the
// running workspaces; pause keeps files and transcript and resume never
// replays the prompt; the state history; PATCH input while paused; a
// sandbox that cannot start says why.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, customTemplate, waitFor, taskDir, exists, killWorkspace } from '../harness/server.mjs';

const servers = [];
after(async () => { for (const s of servers) await s.stop(); });

const shell = customTemplate('sh', ['bash', '--norc', '--noprofile', '-i'], { env: { PS1: '$ ' } });

async function logs(srv, name) {
  return (await srv.api('GET', `/api/v2/tasks/admin/${name}/logs`)).json;
}
const inputs = (l) => l.logs.filter((e) => e.type === 'input').map((e) => e.content);
const outputs = (l) => l.logs.filter((e) => e.type === 'output').map((e) => e.content).join('\n');

test('kill -9 of the server during a working task: restart re-attaches, no replay', async () => {
  const a = await startServer();
  await a.pushTemplate(shell);
  const prompt = 'sleep 2; echo finished-$((20+22))';
  const t = await a.createTask({ template: 'sh', input: prompt, name: 'survivor' });
  await a.waitTask('admin', 'survivor', { state: 'working' });
  a.child.kill('SIGKILL');
  await a.exited;

  const b = await startServer({ data: a.data, token: a.token });
  servers.push(b);
  const again = await b.task('admin', 'survivor');
  assert.equal(again.status, 'active', again.status_reason);
  assert.equal(again.id, t.id);
  await waitFor(async () => /finished-42/.test(outputs(await logs(b, 'survivor'))),
    { what: 'the command finished after the restart', timeout: 20000 });
  assert.deepEqual(inputs(await logs(b, 'survivor')), [prompt], 'the prompt is in the history exactly once');
  assert.match(b.log, /re-attached/);
  // it is fully usable: send, and delete kills everything
  await b.waitTask('admin', 'survivor', { state: 'idle' });
  assert.equal((await b.api('POST', '/api/v2/tasks/admin/survivor/send', { body: { input: 'echo after-restart' } })).status, 200);
  await waitFor(async () => /after-restart/.test(outputs(await logs(b, 'survivor'))), { what: 'send after restart' });
  assert.equal((await b.api('DELETE', '/api/v2/tasks/admin/survivor')).status, 202);
});

test('a sandbox that fails before bwrap runs is an error with the reason', async () => {
  // the start does not wait for the child's exec (ws start_async): its
  // failure reaches the task through the log and the exit
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskbox-bwrap-'));
  const bwrap = path.join(dir, 'bwrap');
  fs.writeFileSync(bwrap, '#!/nonexistent/interpreter\n', { mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const a = await startServer({ env: { TASKBOX_BWRAP: bwrap } });
  servers.push(a);
  await a.pushTemplate(shell);
  await a.createTask({ template: 'sh', input: 'echo hi', name: 'nostart' });
  const t = await a.waitTask('admin', 'nostart', { status: 'error' });
  assert.match(t.status_reason, /stopped before the agent ran: taskbox: cannot run '[^']*bwrap': No such file or directory/, t.status_reason);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a workspace that died while the server was down is an error with the reason', async () => {
  const a = await startServer();
  servers.push(a);
  await a.pushTemplate(shell);
  const t = await a.createTask({ template: 'sh', input: 'echo hi', name: 'victim' });
  await a.waitTask('admin', 'victim');
  a.child.kill('SIGKILL');
  await a.exited;
  // the workspace dies too, while no server watches (its bwrap binds
  // this task's directory: nothing of other tests matches)
  await killWorkspace(a, t.id);
  const b = await startServer({ data: a.data, token: a.token });
  servers.push(b);
  const x = await b.task('admin', 'victim');
  assert.equal(x.status, 'error');
  assert.match(x.status_reason, /stopped while the server was down/);
  assert.ok(exists(taskDir(b, t.id)));
});

test('pause keeps files and transcript, input edits while paused, resume does not replay', async () => {
  const srv = await startServer();
  servers.push(srv);
  await srv.pushTemplate(shell);
  const prompt = 'echo kept > kept.txt; echo first-$((3*3))';
  const t = await srv.createTask({ template: 'sh', input: prompt, name: 'sleeper' });
  await waitFor(async () => /first-9/.test(outputs(await logs(srv, 'sleeper'))), { what: 'first run' });
  await srv.waitTask('admin', 'sleeper', { state: 'idle' });
  const early = await srv.api('PATCH', '/api/v2/tasks/admin/sleeper/input', { body: { input: 'x' } });
  assert.equal(early.status, 409, 'input can only be edited while paused');

  const p = await srv.api('POST', '/api/v2/tasks/admin/sleeper/pause');
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.status, 'paused');
  assert.equal(p.json.workspace_status, 'stopped');
  const snap = await logs(srv, 'sleeper');
  assert.equal(snap.snapshot, true);
  assert.match(outputs(snap), /first-9/);
  assert.ok(exists(path.join(taskDir(srv, t.id), 'home/workspace/kept.txt')));
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/sleeper/send', { body: { input: 'x' } })).status, 409);
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/sleeper/pause')).status, 409);
  const edit = await srv.api('PATCH', '/api/v2/tasks/admin/sleeper/input', { body: { input: 'echo edited' } });
  assert.equal(edit.status, 204);
  assert.equal((await srv.task('admin', 'sleeper')).initial_prompt, 'echo edited');

  const r = await srv.api('POST', '/api/v2/tasks/admin/sleeper/resume');
  assert.equal(r.status, 202, r.text);
  await srv.waitTask('admin', 'sleeper', { state: 'idle' });
  const l = await logs(srv, 'sleeper');
  assert.deepEqual(inputs(l), [prompt], 'no prompt was sent again (not the old, not the edited one)');
  assert.match(outputs(l), /first-9/, 'the transcript survived');
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/sleeper/send', { body: { input: 'cat kept.txt' } })).status, 200);
  await waitFor(async () => /^kept$/m.test(outputs(await logs(srv, 'sleeper'))), { what: 'files survived' });
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/sleeper/resume')).status, 409, 'resume wants a paused task');

  const h = (await srv.api('GET', '/api/v2/tasks/admin/sleeper/states')).json;
  const seq = h.states.map((x) => x.state);
  assert.ok(h.count >= 4);
  assert.ok(seq.includes('working') && seq.includes('idle'));
  assert.ok(h.states.some((x) => x.message === 'Paused'));
  for (const x of h.states) assert.ok(x.message.length <= 160 && x.timestamp);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/sleeper')).status, 202);
});
