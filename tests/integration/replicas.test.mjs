// replicas.test.mjs: two servers (replicas) on two ports and one
// PostgreSQL database: every task visible and followed (SSE) on both,
// the workspace's requests forwarded to the replica that runs it, a
// forged replica signature refused, and kill -9 of one replica: its
// tasks turn unknown with the reason on the other, and come back (the
// same agent process) when it returns; a token revoked or a user deleted
// on one is refused at once on the other (its auth cache is told); the
// events stream of one shows the other's tasks.
//
// This file always runs on PostgreSQL: it makes its own database in
// this process's private cluster (tests/harness/pg.mjs) whatever
// TASKBOX_TEST_STORE says, so it runs in the integration and the
// integration-pg tiers alike.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import { startServer, customTemplate, waitFor, SseClient, bin, tmpdir } from '../harness/server.mjs';
import { pgDatabase, pgSql } from '../harness/pg.mjs';

let db, a, b;
const servers = [];
// short enough for a quick test, long enough for a loaded machine
const HEARTBEAT = ['--heartbeat-interval', '0.5', '--heartbeat-timeout', '4'];

// Start replica name on db (data: a former replica's, to restart it).
async function replica(name, { data, token, args = [] } = {}) {
  const s = await startServer({
    data, token, args: ['--store', db.uri, '--replica', name, ...HEARTBEAT, ...args],
  });
  servers.push(s);
  return s;
}

const logs = async (s, name) => (await s.api('GET', `/api/v2/tasks/admin/${name}/logs`)).json;
const outputs = (l) => (l?.logs ?? []).filter((e) => e.type === 'output').map((e) => e.content).join('\n');

before(async () => {
  db = pgDatabase();
  a = await replica('a');
  // the second replica finds the admin: no new token, A's works there
  b = await replica('b', { token: a.token });
  const r = await a.pushTemplate(customTemplate('sh', ['bash', '--norc', '--noprofile', '-i'], { env: { PS1: '$ ' } }));
  assert.equal(r.status, 201, r.text);
});

after(async () => { for (const s of servers) await s.stop(); });

test('replica flags want PostgreSQL: SQLite refuses them with the reason', () => {
  const r = spawnSync(bin, ['server', '--data', tmpdir('taskbox-replica-'), '--replica', 'x'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--replica: replicas share a PostgreSQL database/);
  const t = spawnSync(bin, ['server', '--store', db.uri, '--heartbeat-interval', '5', '--heartbeat-timeout', '2'],
    { encoding: 'utf8' });
  assert.equal(t.status, 2);
  assert.match(t.stderr, /--heartbeat-timeout must be longer/);
});

test('a task on A: seen, followed and driven through B; kill -9 of A and its return', async () => {
  const created = await a.createTask({ template: 'sh', input: 'echo pid-$$-end', name: 'calc' });
  await a.waitTask('admin', 'calc', { state: 'idle' });
  const rows = pgSql(db.name, `SELECT replica_id FROM tasks WHERE id = '${created.id}'`).trim();
  assert.equal(rows, 'a', 'the task is the replica\'s that created it');

  // B shows it: GET and the list, kept current
  const onB = await b.waitTask('admin', 'calc', { state: 'idle' });
  assert.equal(onB.id, created.id);
  assert.equal(onB.workspace_status, 'running');
  const list = await b.api('GET', '/api/v2/tasks');
  assert.ok(list.json.tasks.some((t) => t.id === created.id), list.text);

  // the workspace's requests through B reach A's agent
  await waitFor(async () => /pid-(\d+)-end/.exec(outputs(await logs(b, 'calc'))),
    { what: 'the prompt ran (logs forwarded to A)' });
  const events = new SseClient(b.base + `/api/v2/tasks/admin/calc/events?access_token=${b.token}`);
  await events.ready;
  assert.equal(events.status, 200);
  const sent = await b.api('POST', '/api/v2/tasks/admin/calc/send', { body: { input: 'echo two-$((2*21))' } });
  assert.equal(sent.status, 200, sent.text);
  await waitFor(() => events.events.some((e) => e.event === 'message_update' && /two-42/.test(e.data.message)),
    { what: 'the reply on B\'s stream' });
  await waitFor(() => events.events.some((e) => e.event === 'task' && e.data.current_state?.state === 'working'),
    { what: 'a task event from A\'s change on B\'s stream' });
  const chat = await b.api('GET', '/@admin/calc/apps/chat/status');
  assert.equal(chat.status, 200, chat.text);
  assert.match(chat.text, /"status"/);
  // the runtime's own SSE, streamed from A through B
  const rt = new SseClient(b.base + '/@admin/calc/apps/chat/events', { Authorization: `Bearer ${b.token}` });
  await rt.ready;
  assert.equal(rt.status, 200);
  assert.match(rt.headers.get('content-type'), /text\/event-stream/);
  await waitFor(() => rt.events.some((e) => e.event === 'status_change'), { what: 'the runtime\'s events through B' });
  rt.close();

  // pause and resume through B
  await b.waitTask('admin', 'calc', { state: 'idle' });
  const p = await b.api('POST', '/api/v2/tasks/admin/calc/pause');
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.status, 'paused');
  await b.waitTask('admin', 'calc', { status: 'paused' });
  await waitFor(() => events.events.some((e) => e.event === 'task' && e.data.status === 'paused'),
    { what: 'paused on B\'s stream' });
  const r = await b.api('POST', '/api/v2/tasks/admin/calc/resume');
  assert.equal(r.status, 202, r.text);
  await b.waitTask('admin', 'calc', { state: 'idle' });
  // the resumed agent is a new process: its pid now
  assert.equal((await b.api('POST', '/api/v2/tasks/admin/calc/send', { body: { input: 'echo now-$$-end' } })).status, 200);
  const now = await waitFor(async () => /now-(\d+)-end/.exec(outputs(await logs(b, 'calc'))), { what: 'pid after resume' });
  const agent = now[1];
  await b.waitTask('admin', 'calc', { state: 'idle' });

  // kill -9 of A: after the timeout B shows the task unknown, with why
  a.child.kill('SIGKILL');
  await a.exited;
  const down = await b.waitTask('admin', 'calc', { status: 'unknown', timeout: 20000 });
  assert.match(down.status_reason, /^replica a has not answered since \d{4}-/);
  assert.equal(down.current_state.state, 'idle', 'current_state untouched');
  await waitFor(() => events.events.some((e) => e.event === 'task' && e.data.status === 'unknown'),
    { what: 'unknown on B\'s stream' });
  assert.match(b.log, /replica a has not answered since/);
  const refused = await b.api('POST', '/api/v2/tasks/admin/calc/send', { body: { input: 'echo lost' } });
  assert.equal(refused.status, 503, refused.text);
  assert.match(refused.json.detail ?? refused.text, /replica a has not answered/);

  // A returns: it re-attaches its workspace, B shows the row again
  a = await replica('a', { data: a.data, token: a.token });
  assert.match(a.log, /re-attached/);
  const back = await b.waitTask('admin', 'calc', { state: 'idle', timeout: 20000 });
  assert.equal(back.status, 'active');
  await waitFor(() => events.events.some((e) => e.event === 'task' && e.data.status === 'active' &&
    events.events.indexOf(e) > events.events.findIndex((x) => x.event === 'task' && x.data.status === 'unknown')),
  { what: 'active again on B\'s stream' });
  assert.equal((await b.api('POST', '/api/v2/tasks/admin/calc/send', { body: { input: 'echo again-$$-end' } })).status, 200);
  const again = await waitFor(async () => /again-(\d+)-end/.exec(outputs(await logs(b, 'calc'))),
    { what: 'send through B after A returned' });
  assert.equal(again[1], agent, 'the agent is the same process');
  events.close();

  // delete through B: gone on both
  const del = await b.api('DELETE', '/api/v2/tasks/admin/calc');
  assert.equal(del.status, 202, del.text);
  await waitFor(async () => (await b.api('GET', '/api/v2/tasks/admin/calc')).status === 404, { what: 'gone on B' });
  assert.equal((await a.api('GET', '/api/v2/tasks/admin/calc')).status, 404);
});

test('a task on B is A\'s to see and to delete; a member\'s credentials are checked by the owner', async () => {
  const bob = await a.user('bob');
  const t = await b.createTask({ template: 'sh', input: 'echo from-b', name: 'onb' }, { token: bob.token });
  await b.waitTask('bob', 'onb', { token: bob.token });
  const seen = await a.waitTask('bob', 'onb', { token: bob.token });
  assert.equal(seen.id, t.id);
  // an event too big for a NOTIFY arrives as a gap naming it
  const ev = new SseClient(a.base + '/api/v2/tasks/bob/onb/events', { Authorization: `Bearer ${bob.token}` });
  await ev.ready;
  await a.waitTask('bob', 'onb', { token: bob.token, state: 'idle' });
  const big = await a.api('POST', '/api/v2/tasks/bob/onb/send',
    { token: bob.token, body: { input: 'for i in $(seq 200); do echo line-$i-$(printf "z%.0s" $(seq 60)); done' } });
  assert.equal(big.status, 200, big.text);
  await waitFor(() => ev.events.some((e) => e.event === 'replica_gap' && e.data.event === 'message_update'),
    { what: 'a replica_gap for the big message_update' });
  ev.close();
  // Coder's twin of the task API is forwarded the same way, and its Task
  // JSON has Coder's wire values (api-coder.c) on the replica that shows it
  const exp = await a.api('POST', '/api/experimental/tasks/bob/onb/send',
    { token: bob.token, body: { input: 'echo exp-$((3*14))' } });
  assert.ok([200, 202].includes(exp.status), exp.text);
  await waitFor(async () => /exp-42/.test(outputs((await a.api('GET', '/api/experimental/tasks/bob/onb/logs', { token: bob.token })).json)),
    { what: 'the input sent through A\'s experimental path ran on B' });
  const shown = await a.api('GET', `/api/experimental/tasks/bob/${t.id}`, { token: bob.token });
  assert.equal(shown.status, 200, shown.text);
  assert.ok(['working', 'idle', 'complete', 'failed'].includes(shown.json.current_state.state), shown.text);
  assert.equal(typeof shown.json.current_state.taskbox_state, 'string');
  // another member sees nothing, on either replica: the owner checks too
  const eve = await a.user('eve');
  assert.equal((await a.api('GET', '/api/v2/tasks/bob/onb', { token: eve.token })).status, 404);
  assert.equal((await a.api('POST', '/api/v2/tasks/bob/onb/send', { token: eve.token, body: { input: 'x' } })).status, 404);
  assert.equal((await a.api('POST', '/api/experimental/tasks/bob/onb/send', { token: eve.token, body: { input: 'x' } })).status, 404);
  const del = await a.api('DELETE', '/api/v2/tasks/bob/onb', { token: bob.token });
  assert.equal(del.status, 202, del.text);
  await waitFor(async () => (await a.api('GET', '/api/v2/tasks/bob/onb', { token: bob.token })).status === 404,
    { what: 'gone on A' });
  assert.equal((await b.api('GET', '/api/v2/tasks/bob/onb', { token: bob.token })).status, 404);
});

test('GET /api/v2/events on B follows a task A runs: it appears, changes and is deleted', async () => {
  const events = new SseClient(b.base + '/api/v2/events', { Authorization: `Bearer ${b.token}` });
  await events.ready;
  assert.equal(events.status, 200);
  const created = await a.createTask({ template: 'sh', input: 'echo remote-events', name: 'remote-ev' });
  await events.wait((e) => e.event === 'task' && e.data.id === created.id && e.data.status === 'active', 60000);
  assert.equal((await a.api('DELETE', '/api/v2/tasks/admin/remote-ev')).status, 202);
  await events.wait((e) => e.event === 'task_deleted' && e.data.id === created.id, 60000);
  events.close();
});

test('a token revoked or a user deleted on A is refused on B at once (B\'s cache is told)', async () => {
  // within less than B's cache age (5 s): only A's notice can make B
  // forget what it read just before
  const soon = { timeout: 3000, interval: 20 };
  const member = await a.user('cachy');
  const r = await a.api('POST', '/api/v2/users/me/tokens', { token: member.token, body: { name: 'laptop' } });
  assert.equal(r.status, 201, r.text);
  const me = (s, token) => s.api('GET', '/api/v2/users/me', { token });
  for (let i = 0; i < 2; i++) assert.equal((await me(b, r.json.token)).status, 200);
  const del = await a.api('DELETE', `/api/v2/users/me/tokens/${r.json.id}`, { token: member.token });
  assert.equal(del.status, 204, del.text);
  await waitFor(async () => (await me(b, r.json.token)).status === 401, { ...soon, what: 'the revoked token refused on B' });

  for (let i = 0; i < 2; i++) {
    assert.equal((await me(b, member.token)).status, 200);
    assert.equal((await b.api('GET', '/api/v2/users/cachy/tokens')).status, 200);
  }
  assert.equal((await a.api('DELETE', '/api/v2/users/cachy')).status, 204);
  await waitFor(async () => (await me(b, member.token)).status === 401, { ...soon, what: 'the deleted user refused on B' });
  assert.equal((await b.api('GET', '/api/v2/users/cachy/tokens')).status, 404, 'B still found the deleted user by name');
});

test('a forged replica signature is refused; a valid one grants nothing', async () => {
  const ts = Math.floor(Date.now() / 1000);
  for (const h of [`b ${ts} ${'0'.repeat(64)}`, 'b', `b ${ts - 3600} ${'0'.repeat(64)}`, `a ${ts} ${'f'.repeat(64)}`]) {
    for (const [method, path] of [['GET', '/api/v2/tasks'], ['POST', '/api/v2/tasks/admin/nope/pause']]) {
      const r = await a.api(method, path, { headers: { 'X-Taskbox-Replica': h } });
      assert.equal(r.status, 403, `${method} ${path} with '${h}': ${r.text}`);
      assert.match(r.json.detail ?? r.text, /not a valid replica signature/);
    }
  }
  assert.equal((await a.api('GET', '/api/v2/tasks')).status, 200, 'without the header all is well');

  // a valid signature (made here from the cluster's secret) grants
  // nothing: the caller's credentials are checked as ever
  const key = Buffer.from(pgSql(db.name, 'SELECT secret FROM cluster').trim(), 'hex');
  const sign = (method, path) => {
    const now = Math.floor(Date.now() / 1000);
    const mac = crypto.createHmac('sha512', key).update(`taskbox-replica\nb\n${now}\n${method}\n${path}`)
      .digest().subarray(0, 32).toString('hex');
    return { 'X-Taskbox-Replica': `b ${now} ${mac}` };
  };
  const signed = await a.api('GET', '/api/v2/tasks', { token: null, headers: sign('GET', '/api/v2/tasks') });
  assert.equal(signed.status, 401, signed.text);
  const ok = await a.api('GET', '/api/v2/tasks', { headers: sign('GET', '/api/v2/tasks') });
  assert.equal(ok.status, 200, ok.text);
  // one signed for another path is not valid here
  const moved = await a.api('GET', '/api/v2/tasks', { headers: sign('GET', '/api/v2/users') });
  assert.equal(moved.status, 403, moved.text);
  // a signed request for a task another replica runs is never bounced on
  await b.createTask({ template: 'sh', input: 'echo x', name: 'bounce' });
  await a.waitTask('admin', 'bounce');
  const path = '/api/v2/tasks/admin/bounce/logs';
  const loop = await a.api('GET', path, { headers: sign('GET', path) });
  assert.equal(loop.status, 508, loop.text);
  assert.equal((await a.api('GET', path)).status, 200, 'forwarded to B when unsigned');
  assert.equal((await a.api('DELETE', '/api/v2/tasks/admin/bounce')).status, 202);
});

test('streams forwarded from a replica do not use up its per-client share at the owner', async () => {
  // C allows 4 connections per client: the streams A forwards to it
  // must not count there, or one member's streams through A would turn
  // away every forward from A (A's address is one client at C)
  const c = await replica('c', { token: a.token, args: ['--max-conns-per-client', '4'] });
  await c.createTask({ template: 'sh', input: 'echo on-c', name: 'onc' });
  await c.waitTask('admin', 'onc', { state: 'idle' });
  await a.waitTask('admin', 'onc', { state: 'idle' });
  const streams = [];
  for (let i = 0; i < 6; i++) {
    const s = new SseClient(a.base + '/@admin/onc/apps/chat/events', { Authorization: `Bearer ${a.token}` });
    streams.push(s);
    await s.ready;
    assert.equal(s.status, 200, `stream ${i + 1} through A`);
  }
  for (const s of streams) s.close();
  // a header value with a bare CR is not passed on to the owner
  const raw = await rawRequest(a, 'GET /api/v2/tasks/admin/onc/logs HTTP/1.1\r\n' +
    `Host: ${new URL(a.base).host}\r\nAuthorization: Bearer ${a.token}\r\n` +
    'User-Agent: x\rX-Injected: 1\r\nConnection: close\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.[01] 400 /, raw);
  assert.match(raw, /control characters/);
  assert.equal((await a.api('DELETE', '/api/v2/tasks/admin/onc')).status, 202);
});

test('a replica whose LISTEN connection broke reads every remote task again', async () => {
  await b.createTask({ template: 'sh', input: 'echo x', name: 'relisten' });
  const t = await a.waitTask('admin', 'relisten');
  // the cluster connections die; meanwhile the row changes without a
  // NOTIFY: only the re-read after the reconnect shows it
  pgSql(db.name, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'taskbox-cluster' " +
    `AND datname = '${db.name}'`);
  pgSql(db.name, `UPDATE tasks SET display_name = 'Relistened' WHERE id = '${t.id}'`);
  await waitFor(async () => (await a.api('GET', '/api/v2/tasks/admin/relisten')).json?.display_name === 'Relistened',
    { what: 'the row read again on A after its reconnect' });
  await waitFor(() => /cluster connection to PostgreSQL is back/.test(a.log), { what: 'A reconnected' });
  assert.equal((await a.api('DELETE', '/api/v2/tasks/admin/relisten')).status, 202);
});

// Send text on a new connection to s; its whole answer (the connection
// closes).
function rawRequest(s, text) {
  return new Promise((resolve, reject) => {
    const u = new URL(s.base);
    const sock = net.connect(Number(u.port), u.hostname, () => sock.write(text));
    let out = '';
    sock.on('data', (d) => { out += d; });
    sock.on('close', () => resolve(out));
    sock.on('error', reject);
  });
}
