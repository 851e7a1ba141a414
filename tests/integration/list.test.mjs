// list.test.mjs: GET /api/v2/tasks pages (limit, after, count, next), the
// kept Task JSON following every change, and GET /metrics.
//
// The harness starts servers with TASKBOX_CHECK_TASK_JSON=1: each kept
// Task JSON is compared with a fresh encoding when used, and a stale one
// aborts the server, so every test of the tier guards the cache too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, customTemplate, waitFor, SseClient } from '../harness/server.mjs';

let srv;

before(async () => {
  srv = await startServer({ args: ['--max-running-per-user', '20'] });
  for (const [name, cmd] of [['quick', ['sh', '-c', 'exit 0']], ['sleeper', ['sh', '-c', 'exec sleep 100000']],
    ['sh', ['bash', '--norc', '--noprofile', '-i']]]) {
    const r = await srv.pushTemplate(customTemplate(name, cmd, name === 'sh' ? { env: { PS1: '$ ' } } : {}));
    assert.equal(r.status, 201, r.text);
  }
});

after(async () => { await srv?.stop(); });

const list = async (query = '', token) => srv.api('GET', `/api/v2/tasks${query}`, { token });

// Parse the Prometheus text format: {'name{labels}': value}.
function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m, `a metrics line: ${line}`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}
const metrics = async () => {
  const r = await srv.api('GET', '/metrics');
  assert.equal(r.status, 200, r.text);
  return parseMetrics(r.text);
};

test('the list pages newest first with limit, after, count and next', async () => {
  const names = [];
  for (let i = 0; i < 7; i++) {
    names.push((await srv.createTask({ template: 'quick', input: 'x', name: `page-${i}` })).name);
  }
  const newest = [...names].reverse();
  const all = await list('?q=' + encodeURIComponent('owner:me'));
  assert.equal(all.status, 200, all.text);
  assert.deepEqual(all.json.tasks.map((t) => t.name).filter((n) => n.startsWith('page-')), newest);
  assert.equal(all.json.next, null);
  const total = all.json.count;
  assert.equal(total, all.json.tasks.length);

  const seen = [];
  let next;
  let pages = 0;
  do {
    const r = await list(`?limit=3${next ? '&after=' + next : ''}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.count, total, 'count is every match, not the page');
    assert.ok(r.json.tasks.length <= 3);
    seen.push(...r.json.tasks.map((t) => t.name));
    next = r.json.next;
    pages++;
  } while (next);
  assert.equal(pages, Math.ceil(total / 3));
  assert.deepEqual(seen, all.json.tasks.map((t) => t.name), 'pages join to the whole list');

  // a cursor stays good when its task is deleted: the page goes on after it
  const first = await list('?limit=2');
  assert.deepEqual(first.json.tasks.map((t) => t.name), ['page-6', 'page-5']);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/page-5')).status, 202);
  const rest = await list(`?limit=2&after=${first.json.next}`);
  assert.deepEqual(rest.json.tasks.map((t) => t.name), ['page-4', 'page-3']);
  assert.equal(rest.json.count, total - 1, 'a deleted task is counted out');
  const again = await list('?limit=2');
  assert.deepEqual(again.json.tasks.map((t) => t.name), ['page-6', 'page-4']);

  // filters count what they select
  const mem = await srv.user('lister');
  await srv.createTask({ template: 'quick', input: 'y', name: 'mine-a' }, { token: mem.token });
  await srv.createTask({ template: 'quick', input: 'y', name: 'mine-b' }, { token: mem.token });
  const theirs = await list('?limit=1', mem.token);
  assert.equal(theirs.json.count, 2, 'a member counts only their own tasks');
  assert.deepEqual(theirs.json.tasks.map((t) => t.name), ['mine-b']);
  const tail = await list(`?limit=1&after=${theirs.json.next}`, mem.token);
  assert.deepEqual(tail.json.tasks.map((t) => t.name), ['mine-a']);
  assert.equal(tail.json.next, null);
  const byOwner = await list('?q=' + encodeURIComponent('owner:lister'));
  assert.equal(byOwner.json.count, 2);
  const someone = await list('?q=' + encodeURIComponent('owner:admin'), mem.token);
  assert.equal(someone.json.count, 0, 'nothing of others');
  await waitFor(async () => (await srv.task('admin', 'page-0')).status === 'unknown', { what: 'page-0 done' });
  const done = await list('?limit=1&q=' + encodeURIComponent('status:unknown'));
  assert.ok(done.json.count >= 1);
  assert.ok(done.json.tasks.every((t) => t.status === 'unknown'));

  for (const [q, where] of [['limit=0', 'query.limit'], ['limit=501', 'query.limit'], ['limit=abc', 'query.limit'],
    ['limit=2x', 'query.limit'], ['after=nonsense', 'query.after'], ['after=' + 'A'.repeat(23), 'query.after'],
    ['after=' + first.json.next + 'A', 'query.after']]) {
    const bad = await list('?' + q);
    assert.equal(bad.status, 400, q);
    assert.equal(bad.headers.get('content-type'), 'application/problem+json');
    assert.equal(bad.json.errors[0].location, where, q);
  }
});

test('the list follows every change of a task: status, state and message, prompt, delete', async () => {
  const inList = async (name) => (await list('?limit=500')).json.tasks.find((t) => t.name === name);
  await srv.createTask({ template: 'sh', input: 'echo first-$((40+2))', name: 'cached' });
  assert.ok(['pending', 'initializing', 'active'].includes((await inList('cached')).status));
  await waitFor(async () => (await inList('cached'))?.status === 'active', { what: 'active in the list', timeout: 30000 });
  await waitFor(async () => (await inList('cached'))?.current_state?.state === 'idle', { what: 'idle in the list', timeout: 30000 });
  const idle = await inList('cached');
  assert.equal(idle.workspace_status, 'running');
  assert.equal(typeof idle.startup.agent_ms, 'number');

  // state and message: the agent's reply is the idle message
  const sent = await srv.api('POST', '/api/v2/tasks/admin/cached/send', { body: { input: 'echo second-$((6*7))' } });
  assert.equal(sent.status, 200, sent.text);
  await waitFor(async () => {
    const t = await inList('cached');
    return t.current_state.state === 'idle' && /second-42/.test(t.current_state.message);
  }, { what: 'the new message in the list' });

  // status: pause, then the prompt edited while paused, then resume
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/cached/pause')).status, 200);
  await waitFor(async () => (await inList('cached')).status === 'paused', { what: 'paused in the list', timeout: 30000 });
  const paused = await inList('cached');
  assert.equal(paused.workspace_status, 'stopped');
  assert.equal(paused.current_state.message, 'Paused');
  assert.equal((await srv.api('PATCH', '/api/v2/tasks/admin/cached/input', { body: { input: 'echo edited' } })).status, 204);
  assert.equal((await inList('cached')).initial_prompt, 'echo edited');
  assert.deepEqual(await inList('cached'), await srv.task('admin', 'cached'));
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/cached/resume')).status, 202);
  await waitFor(async () => (await inList('cached')).status === 'active', { what: 'active again in the list', timeout: 30000 });
  assert.notDeepEqual((await inList('cached')).startup, idle.startup, 'the new start\'s figures');

  // delete: gone from the list and its count at once
  const before = (await list()).json.count;
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/cached')).status, 202);
  const afterDel = await list();
  assert.equal(afterDel.json.tasks.some((t) => t.name === 'cached'), false);
  assert.equal(afterDel.json.count, before - 1);
});

test('GET /metrics: admins only, the text format, values that move', async () => {
  assert.equal((await srv.api('GET', '/metrics', { token: null })).status, 401);
  const mem = await srv.user('watcher');
  const denied = await srv.api('GET', '/metrics', { token: mem.token });
  assert.equal(denied.status, 403);
  // the earlier tests' tasks are done starting: only ours move the counts
  await waitFor(async () => {
    const q = (s) => list('?q=' + encodeURIComponent('status:' + s));
    return (await q('pending')).json.count === 0 && (await q('initializing')).json.count === 0;
  }, { what: 'no task starting' });
  const r = await srv.api('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  assert.match(r.text, /^# TYPE taskbox_task_start_seconds histogram$/m);
  const m0 = parseMetrics(r.text);
  for (const k of ['taskbox_tasks{status="active"}', 'taskbox_tasks_state{state="idle"}', 'taskbox_task_starts_total',
    'taskbox_task_start_seconds_count', 'taskbox_sse_clients', 'taskbox_store_seconds_count'])
    assert.equal(typeof m0[k], 'number', k);
  assert.equal(m0['taskbox_http_requests_total{method="GET",route="/metrics",code="403"}'], 1);

  const active0 = (await list('?q=' + encodeURIComponent('status:active'))).json.count;
  assert.equal(m0['taskbox_tasks{status="active"}'], active0);
  await srv.createTask({ template: 'sleeper', input: 'x', name: 'metered' });
  await srv.waitTask('admin', 'metered');
  const lists = 3;
  for (let i = 0; i < lists; i++) assert.equal((await list('?limit=1')).status, 200);
  const events = new SseClient(srv.base + `/api/v2/tasks/admin/metered/events?access_token=${srv.token}`);
  await events.ready;
  await waitFor(() => events.events.some((e) => e.event === 'task'), { what: 'the first task event' });
  const m1 = await metrics();
  assert.equal(m1.taskbox_task_starts_total, m0.taskbox_task_starts_total + 1);
  assert.equal(m1.taskbox_task_start_seconds_count, m0.taskbox_task_start_seconds_count + 1);
  assert.ok(m1['taskbox_task_start_seconds_bucket{le="+Inf"}'] === m1.taskbox_task_start_seconds_count);
  assert.ok(m1.taskbox_task_start_seconds_sum > m0.taskbox_task_start_seconds_sum);
  assert.equal(m1['taskbox_tasks{status="active"}'], active0 + 1);
  assert.equal(m1.taskbox_sse_clients, m0.taskbox_sse_clients + 1);
  const key = 'taskbox_http_requests_total{method="GET",route="/api/v2/tasks",code="200"}';
  assert.ok(m1[key] >= (m0[key] ?? 0) + lists + 1, 'the list calls were counted');
  assert.equal(m1['taskbox_http_requests_total{method="POST",route="/api/v2/tasks/",code="201"}'],
    (m0['taskbox_http_requests_total{method="POST",route="/api/v2/tasks/",code="201"}'] ?? 0) + 1);
  assert.ok(m1.taskbox_store_seconds_count > m0.taskbox_store_seconds_count);
  // no raw path is a label: routes are the registered patterns
  const raw = await srv.api('GET', '/api/v2/tasks/admin/metered-nope');
  assert.equal(raw.status, 404);
  const text = (await srv.api('GET', '/metrics')).text;
  assert.doesNotMatch(text, /metered/);
  assert.match(text, /route="\/api\/v2\/tasks\/",code="404"/);
  // the server sees a closed stream at its next write (a heartbeat
  // every 15 s at most)
  events.close();
  await waitFor(async () => (await metrics()).taskbox_sse_clients === m0.taskbox_sse_clients,
    { what: 'the SSE client gone', timeout: 40000, interval: 500 });
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/metered')).status, 202);
});

test('--metrics-public serves /metrics without a token', async () => {
  const pub = await startServer({ args: ['--metrics-public'] });
  try {
    const r = await pub.api('GET', '/metrics', { token: null });
    assert.equal(r.status, 200, r.text);
    assert.equal(parseMetrics(r.text)['taskbox_tasks{status="active"}'], 0);
  } finally {
    await pub.stop();
  }
});
