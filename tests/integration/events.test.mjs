// events.test.mjs: GET /api/v2/events, every visible task's changes on
// one SSE stream: a member's own tasks only, an admin's everyone's (or
// one owner's with q=owner:NAME), task_deleted on a delete, the
// per-user limit of streams, the gauge in /metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitFor, SseClient } from '../harness/server.mjs';

let srv, alice, bob;
const streams = [];

before(async () => {
  srv = await startServer();
  alice = await srv.user('alice');
  bob = await srv.user('bob');
});

after(async () => {
  for (const s of streams) s.close();
  await srv?.stop();
});

// Open an events stream as token (query: the ?q=... part, or '').
async function open(token, query = '') {
  const s = new SseClient(`${srv.base}/api/v2/events${query}`, { Authorization: `Bearer ${token}` });
  streams.push(s);
  await s.ready;
  return s;
}

// The status of one GET /api/v2/events, its stream closed at once.
async function openStatus(token) {
  const ctrl = new AbortController();
  const r = await fetch(`${srv.base}/api/v2/events`, { headers: { Authorization: `Bearer ${token}` }, signal: ctrl.signal });
  ctrl.abort();
  return r.status;
}

const names = (s, event = 'task') => new Set(s.events.filter((e) => e.event === event).map((e) => e.data.name ?? e.data.id));

test('a member sees their own tasks change, an admin everyone\'s, owner: narrows', async () => {
  const a = await open(alice.token);
  const b = await open(bob.token);
  const admin = await open(srv.token);
  const onlyBob = await open(srv.token, '?q=' + encodeURIComponent('owner:bob'));
  assert.equal(a.status, 200);
  assert.match(a.headers.get('content-type'), /^text\/event-stream/);

  const ta = await srv.createTask({ template: 'shell', input: 'echo from-alice', name: 'ev-a' }, { token: alice.token });
  const tb = await srv.createTask({ template: 'shell', input: 'echo from-bob', name: 'ev-b' }, { token: bob.token });
  // each change of a task comes as its Task JSON, up to active
  const active = (s, id) => s.wait((e) => e.event === 'task' && e.data.id === id && e.data.status === 'active', 60000);
  await active(a, ta.id);
  await active(b, tb.id);
  await active(admin, ta.id);
  await active(admin, tb.id);
  await active(onlyBob, tb.id);
  const first = a.events.find((e) => e.event === 'task' && e.data.id === ta.id);
  assert.equal(first.data.owner_name, 'alice');
  assert.equal(typeof first.data.status, 'string');

  assert.deepEqual(names(a), new Set(['ev-a']), 'alice sees none of bob\'s');
  assert.deepEqual(names(b), new Set(['ev-b']), 'bob sees none of alice\'s');
  assert.deepEqual(names(onlyBob), new Set(['ev-b']), 'owner:bob shows bob\'s only');
  assert.deepEqual(names(admin), new Set(['ev-a', 'ev-b']));

  // a member asking for another owner's tasks sees nothing of them
  const peek = await open(alice.token, '?q=' + encodeURIComponent('owner:bob'));
  // a delete: task_deleted {id} to whoever sees the task
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/bob/ev-b', { token: bob.token })).status, 202);
  await b.wait((e) => e.event === 'task_deleted' && e.data.id === tb.id, 30000);
  await admin.wait((e) => e.event === 'task_deleted' && e.data.id === tb.id, 30000);
  await onlyBob.wait((e) => e.event === 'task_deleted' && e.data.id === tb.id, 30000);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/alice/ev-a', { token: alice.token })).status, 202);
  await a.wait((e) => e.event === 'task_deleted' && e.data.id === ta.id, 30000);
  await admin.wait((e) => e.event === 'task_deleted' && e.data.id === ta.id, 30000);
  // the deletes reached every stream; those that must not see them did not
  assert.deepEqual(names(a, 'task_deleted'), new Set([ta.id]));
  assert.deepEqual(names(b, 'task_deleted'), new Set([tb.id]));
  assert.deepEqual(names(onlyBob, 'task_deleted'), new Set([tb.id]));
  assert.deepEqual(peek.events, [], 'owner:bob shows alice nothing');
  for (const s of [a, b, admin, onlyBob, peek]) assert.equal(s.error, undefined);
});

test('16 streams per user, the 17th is 429; other users are not held', async () => {
  const carol = await srv.user('carol');
  const mine = [];
  for (let i = 0; i < 16; i++) {
    const s = await open(carol.token);
    assert.equal(s.status, 200, `stream ${i + 1}`);
    mine.push(s);
  }
  const r = await srv.api('GET', '/api/v2/events', { token: carol.token });
  assert.equal(r.status, 429);
  assert.match(r.headers.get('content-type'), /^application\/problem\+json/);
  assert.match(r.json.detail ?? r.json.title, /too many event streams/);
  const other = await open(alice.token);
  assert.equal(other.status, 200, 'another user still gets a stream');
  const m = await srv.api('GET', '/metrics');
  const gauge = Number(/^taskbox_event_streams (\d+)$/m.exec(m.text)?.[1]);
  assert.ok(gauge >= 17, `taskbox_event_streams counts them (${gauge})`);
  // a closed stream frees its place (the server sees it at its next
  // write: a heartbeat within 15 s)
  mine[0].close();
  await waitFor(async () => (await openStatus(carol.token)) === 200,
    { what: 'a place freed by a closed stream', timeout: 40000, interval: 1000 });
});

test('a `: ping` comment comes within 15 s', async () => {
  const ctrl = new AbortController();
  const r = await fetch(`${srv.base}/api/v2/events`, { headers: { Authorization: `Bearer ${alice.token}` }, signal: ctrl.signal });
  assert.equal(r.status, 200);
  let text = '';
  const dec = new TextDecoder();
  for await (const chunk of r.body) {
    text += dec.decode(chunk, { stream: true });
    if (text.includes(': ping\n\n')) break;
  }
  ctrl.abort();
  assert.match(text, /^: ping\n\n/m);
});

test('q takes owner: only; an unknown filter is a 422 (as in the list)', async () => {
  const r = await srv.api('GET', '/api/v2/events?q=' + encodeURIComponent('status:active'));
  assert.equal(r.status, 422, r.text);
  assert.match(r.text, /unknown filter 'status'/);
  const u = await srv.api('GET', '/api/v2/events', { token: null });
  assert.equal(u.status, 401);
});

// Resolve when stream s has ended (the server closed it), else throw.
async function ended(s, what) {
  let timer;
  const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: the stream stayed open`)), 30000); });
  try { await Promise.race([s.done, late]); } finally { clearTimeout(timer); }
  assert.equal(s.ended, true, what);
}

test('a stream ends when what let it in is gone: admin role, active status, the token', async () => {
  const dana = await srv.user('dana', 'admin');
  const erin = await srv.user('erin');
  const all = await open(dana.token);
  const own = await open(dana.token, '?q=' + encodeURIComponent('owner:me'));
  const mine = await open(erin.token);
  const kept = await open(alice.token);
  for (const s of [all, own, mine, kept]) assert.equal(s.status, 200);

  // demoted: the everyone's stream ends, the own-tasks one stays
  let r = await srv.api('PATCH', '/api/v2/users/dana', { body: { role: 'member' } });
  assert.equal(r.status, 200);
  await ended(all, 'a demoted admin\'s everyone stream');
  // suspended: every stream of the user ends
  r = await srv.api('PATCH', '/api/v2/users/erin', { body: { status: 'suspended' } });
  assert.equal(r.status, 200);
  await ended(mine, 'a suspended user\'s stream');
  assert.equal((await openStatus(erin.token)), 401);
  // a revoked token: its streams end
  const list = (await srv.api('GET', '/api/v2/users/dana/tokens')).json.tokens;
  assert.equal(list.length, 1);
  r = await srv.api('DELETE', `/api/v2/users/dana/tokens/${list[0].id}`);
  assert.equal(r.status, 204);
  await ended(own, 'a revoked token\'s stream');
  assert.equal(kept.ended, undefined, 'another user\'s stream is untouched');
});
