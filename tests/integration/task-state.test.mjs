// task-state.test.mjs: what the task state machine (task-state.c) fixed:
// a resume moves the task out of paused at once (a second resume while
// the first one's disk mounts is refused); a server that re-attaches to a
// task it left initializing makes it active, so queued input is
// delivered; a task being deleted refuses a prompt edit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, customTemplate, waitFor, SseClient } from '../harness/server.mjs';

const servers = [];
after(async () => { for (const s of servers) await s.stop(); });

const shell = (name, opts) => customTemplate(name, ['bash', '--norc', '--noprofile', '-i'], { env: { PS1: '$ ' }, ...opts });
const logs = async (srv, name) => (await srv.api('GET', `/api/v2/tasks/admin/${name}/logs`)).json;
const inputs = (l) => l.logs.filter((e) => e.type === 'input').map((e) => e.content);
const outputs = (l) => (l.logs ?? []).filter((e) => e.type === 'output').map((e) => e.content).join('\n');

// A running task paused: its workspace stopped, its disk unmounted.
async function pausedTask(srv, name, prompt) {
  await srv.createTask({ template: 'sh', input: prompt, name });
  await srv.waitTask('admin', name, { state: 'idle' });
  const p = await srv.api('POST', `/api/v2/tasks/admin/${name}/pause`);
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.status, 'paused');
}

test('two resumes at once: one starts the workspace, the other answers 409', async () => {
  const srv = await startServer();
  servers.push(srv);
  assert.equal((await srv.pushTemplate(shell('sh'))).status, 201);
  const prompt = 'echo once-$((6*7))';
  await pausedTask(srv, 'twice', prompt);

  const both = await Promise.all([1, 2].map(() => srv.api('POST', '/api/v2/tasks/admin/twice/resume')));
  const codes = both.map((r) => r.status).sort();
  assert.deepEqual(codes, [202, 409], both.map((r) => r.text).join('\n'));
  const ok = both.find((r) => r.status === 202);
  assert.equal(ok.json.status, 'pending', 'a resumed task is pending until its workspace runs');
  assert.equal(ok.json.workspace_status, 'pending');
  assert.match(both.find((r) => r.status === 409).text, /only a paused task can be resumed/);

  await srv.waitTask('admin', 'twice', { state: 'idle' });
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/twice/send', { body: { input: 'echo after-$((2+3))' } })).status, 200);
  await waitFor(async () => /after-5/.test(outputs(await logs(srv, 'twice'))), { what: 'the resumed task works' });
  assert.deepEqual(inputs(await logs(srv, 'twice')), [prompt, 'echo after-$((2+3))'], 'the prompt was not sent again');
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/twice')).status, 202);
});

test('kill -9 of the server while a task initializes: the re-attached task is active and its queued input is delivered', async () => {
  const a = await startServer();
  servers.push(a);
  assert.equal((await a.pushTemplate(shell('sh', { setup: 'sleep 4' }))).status, 201);
  const prompt = 'echo prompt-$((1+1))';
  await a.createTask({ template: 'sh', input: prompt, name: 'midway' });
  await waitFor(async () => {
    const t = await a.task('admin', 'midway');
    return t.current_state?.message === 'Running setup script' ? t : null;
  }, { what: 'the setup script runs' });
  assert.equal((await a.task('admin', 'midway')).status, 'initializing');
  const q = await a.api('POST', '/api/v2/tasks/admin/midway/send', { body: { input: 'echo queued-$((3+4))' } });
  assert.equal(q.status, 202, q.text);
  a.child.kill('SIGKILL');
  await a.exited;

  const b = await startServer({ data: a.data, token: a.token });
  servers.push(b);
  const again = await b.task('admin', 'midway');
  assert.equal(again.status, 'active', again.status_reason);
  assert.equal(again.workspace_status, 'running');
  assert.match(b.log, /re-attached/);
  // (its logs answer 502 until the runtime listens, after the setup)
  await waitFor(async () => /queued-7/.test(outputs(await logs(b, 'midway'))),
    { what: 'the queued input delivered after the restart', timeout: 60000 });
  assert.deepEqual(inputs(await logs(b, 'midway')), [prompt, 'echo queued-$((3+4))']);
  assert.equal((await b.api('GET', '/api/v2/tasks/admin/midway/queue')).json.count, 0);
  assert.equal((await b.api('DELETE', '/api/v2/tasks/admin/midway')).status, 202);
});

test('a task being deleted refuses a prompt edit (409), even one that was paused', async () => {
  const srv = await startServer();
  servers.push(srv);
  assert.equal((await srv.pushTemplate(shell('sh'))).status, 201);
  await pausedTask(srv, 'doomed', 'echo doomed');
  const sse = new SseClient(srv.base + `/api/v2/tasks/admin/doomed/events?access_token=${srv.token}`);
  await sse.ready;
  assert.equal(sse.status, 200);

  // the resume mounts the disk and starts the workspace; the delete then
  // waits for whichever runs: the task is deleting meanwhile
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/doomed/resume')).status, 202);
  const edit = await srv.api('PATCH', '/api/v2/tasks/admin/doomed/input', { body: { input: 'echo edited' } });
  assert.equal(edit.status, 409, 'a resumed task is no longer paused');
  const del = srv.api('DELETE', '/api/v2/tasks/admin/doomed');
  await sse.wait((e) => e.event === 'task' && e.data.workspace_status === 'stopping', 30000);
  const late = await srv.api('PATCH', '/api/v2/tasks/admin/doomed/input', { body: { input: 'echo edited' } });
  // gone already (404) or still being deleted (409): never edited
  assert.ok(late.status === 404 || (late.status === 409 && /being deleted/.test(late.text)), `${late.status} ${late.text}`);
  assert.equal((await del).status, 202);
  sse.close();
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/doomed')).status, 404);
});
