// queue.test.mjs: the send queue of a task. Input sent while the agent
// works (or starts) is queued in order on the server, bounded, persisted
// across a server restart, delivered once the agent is idle after its last
// input, visible and cancellable; a waiting dialog is answered only by an
// explicit answer. Tasks run bash as a custom agent in real workspaces.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, customTemplate, waitFor, SseClient } from '../harness/server.mjs';

let srv;
const servers = [];

const shell = customTemplate('qsh', ['bash', '--norc', '--noprofile', '-i'], { env: { PS1: '$ ' } });

before(async () => {
  srv = await startServer();
  servers.push(srv);
  const r = await srv.pushTemplate(shell);
  assert.equal(r.status, 201, r.text);
});

after(async () => { for (const s of servers) await s.stop(); });

const send = (s, name, input, token) =>
  s.api('POST', `/api/v2/tasks/admin/${name}/send`, { body: { input }, ...(token ? { token } : {}) });
const logs = async (s, name) => (await s.api('GET', `/api/v2/tasks/admin/${name}/logs`)).json;
const inputs = (l) => (l.logs ?? []).filter((e) => e.type === 'input').map((e) => e.content);
const outputs = (l) => (l.logs ?? []).filter((e) => e.type === 'output').map((e) => e.content).join('\n');

test('input sent while the agent works is queued in order and delivered after each turn', async () => {
  const prompt = 'sleep 3; echo first-done';
  await srv.createTask({ template: 'qsh', input: prompt, name: 'busy' });
  const events = new SseClient(srv.base + `/api/v2/tasks/admin/busy/events?access_token=${srv.token}`);
  await events.ready;
  // queued while still starting or working: 202 with the position
  const a = await send(srv, 'busy', 'echo q-one');
  assert.equal(a.status, 202, a.text);
  assert.equal(a.json.status, 'queued');
  assert.equal(a.json.position, 1);
  assert.match(a.json.id, /^[0-9a-f-]{36}$/);
  const b = await send(srv, 'busy', 'sleep 1; echo q-two');
  assert.equal(b.status, 202, b.text);
  assert.equal(b.json.position, 2);
  const c = await send(srv, 'busy', 'echo q-three');
  assert.equal(c.json.position, 3);
  const q = (await srv.api('GET', '/api/v2/tasks/admin/busy/queue')).json;
  assert.deepEqual(q.entries.map((e) => [e.input, e.position]),
    [['echo q-one', 1], ['sleep 1; echo q-two', 2], ['echo q-three', 3]]);
  assert.equal(q.entries[0].id, a.json.id);
  assert.ok(q.entries[0].created_at);
  await events.wait((e) => e.event === 'queue' && e.data.op === 'queued' && e.data.entry.id === c.json.id);

  await waitFor(async () => /q-three/.test(outputs(await logs(srv, 'busy'))), { what: 'the queue drained', timeout: 30000 });
  assert.deepEqual(inputs(await logs(srv, 'busy')), [prompt, 'echo q-one', 'sleep 1; echo q-two', 'echo q-three'],
    'each input once, in order, each after the previous turn');
  const out = outputs(await logs(srv, 'busy'));
  assert.ok(out.indexOf('first-done') < out.indexOf('q-one') && out.indexOf('q-two') < out.indexOf('q-three'), out);
  for (const x of [a, b, c]) {
    await events.wait((e) => e.event === 'queue' && e.data.op === 'delivered' && e.data.id === x.json.id);
    await events.wait((e) => e.event === 'queue' && e.data.op === 'replied' && e.data.id === x.json.id, 30000);
  }
  const replied = events.events.find((e) => e.event === 'queue' && e.data.op === 'replied' && e.data.id === c.json.id);
  assert.match(replied.data.message, /q-three/);
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/busy/queue')).json.count, 0);

  // idle with an empty queue: delivered at once, 200
  await srv.waitTask('admin', 'busy', { state: 'idle' });
  const now = await send(srv, 'busy', 'echo at-once');
  assert.equal(now.status, 200, now.text);
  assert.equal(now.json.status, 'delivered');
  await waitFor(async () => /at-once/.test(outputs(await logs(srv, 'busy'))), { what: 'the direct send ran' });
  events.close();
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/busy')).status, 202);
});

test('the queue is bounded (429), entries can be cancelled, bad input is refused', async () => {
  await srv.createTask({ template: 'qsh', input: 'sleep 600', name: 'full' });
  const ids = [];
  for (let i = 1; i <= 32; i++) {
    const r = await send(srv, 'full', `echo n-${i}`);
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.position, i);
    ids.push(r.json.id);
  }
  const over = await send(srv, 'full', 'echo one-too-many');
  assert.equal(over.status, 429);
  assert.equal(over.headers.get('content-type'), 'application/problem+json');
  assert.match(over.json.detail, /maximum of 32/);

  const del = await srv.api('DELETE', `/api/v2/tasks/admin/full/queue/${ids[1]}`);
  assert.equal(del.status, 204, del.text);
  assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/full/queue/${ids[1]}`)).status, 404, 'gone');
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/full/queue/nope')).status, 404);
  const q = (await srv.api('GET', '/api/v2/tasks/admin/full/queue')).json;
  assert.equal(q.count, 31);
  assert.equal(q.entries[1].input, 'echo n-3');
  assert.equal(q.entries[1].position, 2, 'positions close up');
  assert.equal((await send(srv, 'full', 'echo fits-again')).status, 202);

  for (const bad of ['', '   ', ' leading', 'trailing\n', 'x'.repeat(32 * 1024 + 1)])
    assert.equal((await send(srv, 'full', bad)).status, 422, JSON.stringify(bad.slice(0, 20)));
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/full')).status, 202);
});

test('a waiting dialog is not answered by the queue, only by an explicit answer', async () => {
  const prompt = "printf 'Allow the edit?\\n\\u276f 1. Yes\\n  2. No\\n'; read -r -n 1 a; printf '\\033[2J\\033[H'; echo answered-$a";
  // (the screen is cleared after the answer: a dialog left on the screen
  // would still read as open)
  await srv.createTask({ template: 'qsh', input: prompt, name: 'asker' });
  const w = await srv.waitTask('admin', 'asker', { state: 'waiting', timeout: 30000 });
  assert.match(w.current_state.message, /Allow the edit/);
  // not an option of the dialog: queued, the dialog stays open
  const q = await send(srv, 'asker', 'echo after-dialog');
  assert.equal(q.status, 202, q.text);
  assert.equal(q.json.position, 1);
  const still = await srv.task('admin', 'asker');
  assert.equal(still.current_state.state, 'waiting');
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/asker/queue')).json.count, 1);
  assert.doesNotMatch(outputs(await logs(srv, 'asker')), /answered-/);
  // the explicit answer
  const ans = await send(srv, 'asker', '1');
  assert.equal(ans.status, 200, ans.text);
  assert.equal(ans.json.status, 'answered');
  await waitFor(async () => /after-dialog/.test(outputs(await logs(srv, 'asker'))), { what: 'queued input after the dialog', timeout: 20000 })
    .catch(async (e) => { console.log(JSON.stringify(await logs(srv, 'asker')), JSON.stringify(await srv.task('admin', 'asker')), srv.log.slice(-3000)); throw e; });
  const out = outputs(await logs(srv, 'asker'));
  assert.match(out, /answered-1/);
  assert.ok(out.indexOf('answered-1') < out.indexOf('after-dialog'), out);
  assert.deepEqual(inputs(await logs(srv, 'asker')), [prompt, 'echo after-dialog']);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/asker')).status, 202);
});

test('the queue is the owner\'s and admins\': others get 404', async () => {
  const bob = await srv.user('qbob');
  await srv.createTask({ template: 'qsh', input: 'sleep 600', name: 'private' });
  const mine = await send(srv, 'private', 'echo secret');
  assert.equal(mine.status, 202);
  const base = '/api/v2/tasks/admin/private';
  for (const [m, p, body] of [['POST', `${base}/send`, { input: 'echo x' }], ['GET', `${base}/queue`],
    ['DELETE', `${base}/queue/${mine.json.id}`]]) {
    const r = await srv.api(m, p, { token: bob.token, body });
    assert.equal(r.status, 404, `${m} ${p}: ${r.status}`);
    assert.doesNotMatch(r.text, /secret/);
  }
  assert.equal((await srv.api('GET', `${base}/queue`)).json.count, 1, 'nothing changed');
  assert.equal((await srv.api('DELETE', base)).status, 202);
});

test('a server restart with entries queued: none lost, none delivered twice', async () => {
  const a = await startServer();
  assert.equal((await a.pushTemplate(shell)).status, 201);
  const prompt = 'sleep 4; echo before-restart';
  await a.createTask({ template: 'qsh', input: prompt, name: 'durable' });
  const sent = [];
  for (const x of ['echo kept-1', 'echo kept-2', 'echo kept-3']) {
    const r = await send(a, 'durable', x);
    assert.equal(r.status, 202, r.text);
    sent.push(x);
  }
  await a.waitTask('admin', 'durable', { state: 'working' });
  a.child.kill('SIGKILL');
  await a.exited;
  const b = await startServer({ data: a.data, token: a.token });
  servers.push(b);
  await waitFor(async () => /kept-3/.test(outputs(await logs(b, 'durable'))), { what: 'queue delivered after the restart', timeout: 30000 });
  await b.waitTask('admin', 'durable', { state: 'idle' });
  assert.deepEqual(inputs(await logs(b, 'durable')), [prompt, ...sent]);
  assert.equal((await b.api('GET', '/api/v2/tasks/admin/durable/queue')).json.count, 0);
  assert.equal((await b.api('DELETE', '/api/v2/tasks/admin/durable')).status, 202);
});
