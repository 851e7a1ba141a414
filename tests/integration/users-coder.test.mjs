// users-coder.test.mjs: roles, creating tasks for others, and GitHub-linked
// users, as Coder's clients use them (issue 13).
//
// A task-creator (a bot's user) creates tasks for active members; a task
// is then visible to its owner, admins and its creator while the creator
// keeps that role, on every verb, and to nobody else (404). The user list
// answers Coder's q terms; PATCH links a GitHub user id (admins); the
// User JSON carries Coder's members.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, customTemplate, storeSql, SseClient, waitFor, bin } from '../harness/server.mjs';
import { spawnSync } from 'node:child_process';

let srv, alice, bob, tc, tc2, adm2, sus;

before(async () => {
  srv = await startServer();
  alice = await srv.user('alice');
  bob = await srv.user('bob');
  tc = await srv.user('bot', 'task-creator');
  tc2 = await srv.user('bot2', 'task-creator');
  adm2 = await srv.user('adm2', 'admin');
  sus = await srv.user('sus');
  const s = await srv.api('PATCH', '/api/v2/users/sus', { body: { status: 'suspended' } });
  assert.equal(s.status, 200, s.text);
  const r = await srv.pushTemplate(customTemplate('sh', ['bash', '--norc', '-i']));
  assert.equal(r.status, 201, r.text);
});

after(async () => { await srv?.stop(); });

// The status of one call, reading no more than the head (an SSE stream
// stays open: it is aborted once its status is known); with text, also
// {status, text}.
async function call(method, p, token, body) {
  const ctrl = new AbortController();
  const headers = { Authorization: `Bearer ${token}` };
  const init = { method, headers, signal: ctrl.signal };
  if (body !== undefined) { init.body = JSON.stringify(body); headers['Content-Type'] = 'application/json'; }
  const r = await fetch(srv.base + p, init);
  const type = r.headers.get('content-type') || '';
  let text = '';
  if (type.startsWith('text/event-stream')) ctrl.abort();
  else text = await r.text();
  return { status: r.status, text };
}

async function probe(method, p, token, body) {
  return (await call(method, p, token, body)).status;
}

// Every verb on task owner/name that does not end it, with what an allowed
// caller may get (a state may refuse some with 409; never 404).
const verbs = (owner, name) => [
  ['GET', `/api/v2/tasks/${owner}/${name}`],
  ['GET', `/api/v2/tasks/${owner}/${name}/logs`],
  ['GET', `/api/v2/tasks/${owner}/${name}/events`],
  ['GET', `/api/v2/tasks/${owner}/${name}/states`],
  ['GET', `/api/v2/tasks/${owner}/${name}/usage`],
  ['GET', `/api/v2/tasks/${owner}/${name}/queue`],
  ['DELETE', `/api/v2/tasks/${owner}/${name}/queue/nope`],
  ['POST', `/api/v2/tasks/${owner}/${name}/send`, { input: 'echo hello' }],
  ['PATCH', `/api/v2/tasks/${owner}/${name}/input`, { input: 'echo edited' }],
  ['GET', `/@${owner}/${name}/apps/chat/messages`],
];

test('roles: task-creator is one; a member changes none and creates no user', async () => {
  const u = await srv.api('POST', '/api/v2/users', { body: { username: 'ci-bot', role: 'task-creator' } });
  assert.equal(u.status, 201, u.text);
  assert.equal(u.json.role, 'task-creator');
  const bad = await srv.api('POST', '/api/v2/users', { body: { username: 'x1', role: 'owner' } });
  assert.equal(bad.status, 422);
  assert.match(bad.text, /task-creator/);
  const p = await srv.api('PATCH', '/api/v2/users/ci-bot', { body: { role: 'member' } });
  assert.equal(p.json.role, 'member');
  assert.equal((await srv.api('PATCH', '/api/v2/users/ci-bot', { body: { role: 'task-creator' } })).json.role, 'task-creator');
  assert.equal((await srv.api('PATCH', '/api/v2/users/ci-bot', { body: { role: 'root' } })).status, 422);
  // what a member may not do, a task-creator may not either
  for (const token of [bob.token, tc.token]) {
    assert.equal((await srv.api('PATCH', '/api/v2/users/alice', { token, body: { role: 'admin' } })).status, 404);
    assert.equal((await srv.api('PATCH', '/api/v2/users/me', { token, body: { role: 'admin' } })).status, 403);
    assert.equal((await srv.api('POST', '/api/v2/users', { token, body: { username: 'x2' } })).status, 403);
    assert.equal((await srv.api('POST', '/api/v2/users/alice/tokens', { token, body: {} })).status, 403);
    assert.equal((await srv.api('PUT', '/api/v2/users/alice/secrets/k', { token, body: { value: 'v' } })).status, 404);
    assert.equal((await srv.api('GET', '/api/v2/users/alice/tokens', { token })).status, 404);
    assert.equal((await srv.api('DELETE', '/api/v2/users/alice', { token })).status, 403);
  }
});

test('who may create a task for whom', async () => {
  const create = (token, owner, name) => srv.api('POST', `/api/v2/tasks/${owner}`, { token, body: { template: 'sh', input: 'echo hi', name } });
  let r = await create(bob.token, 'alice', 'from-bob');
  assert.equal(r.status, 403, 'a member for someone else');
  assert.match(r.json.detail, /admins and task creators/);
  r = await create(tc.token, 'adm2', 'for-admin');
  assert.equal(r.status, 403, 'a task-creator for an admin');
  r = await create(tc.token, 'admin', 'for-admin');
  assert.equal(r.status, 403);
  r = await create(tc.token, 'bot2', 'for-bot2');
  assert.equal(r.status, 403, 'a task-creator for another task-creator');
  r = await create(tc.token, 'sus', 'for-sus');
  assert.equal(r.status, 403, 'a task-creator for a suspended user');
  assert.match(r.json.detail, /suspended/);
  r = await create(tc.token, 'nobody', 'x');
  assert.equal(r.status, 404);
  r = await create(tc.token, 'me', 'own-task');
  assert.equal(r.status, 201, r.text);
  // nothing was made for those refused
  const ids = storeSql(srv.data, 'SELECT name, created_by FROM tasks ORDER BY name');
  assert.deepEqual(ids, [['own-task', '']]);
});

test('a task made for a member: owner, admins and its creator act on it, nobody else', async () => {
  const t = await srv.createTask({ template: 'sh', input: 'echo made-by-bot', name: 'by-bot' }, { token: tc.token, owner: 'alice' });
  assert.equal(t.owner_name, 'alice');
  assert.deepEqual(storeSql(srv.data, 'SELECT created_by FROM tasks WHERE id = ?', t.id), [[tc.id]]);
  await srv.waitTask('alice', 'by-bot', { token: alice.token });
  // an admin's task for a member records the admin too
  const byAdmin = await srv.createTask({ template: 'sh', input: 'echo x', name: 'by-admin' }, { owner: 'alice' });
  const adminId = (await srv.api('GET', '/api/v2/users/me')).json.id;
  assert.deepEqual(storeSql(srv.data, 'SELECT created_by FROM tasks WHERE id = ?', byAdmin.id), [[adminId]]);

  const allowed = [['owner', alice.token], ['admin', srv.token], ['creator', tc.token]];
  const denied = [['another task-creator', tc2.token], ['another member', bob.token]];
  for (const ref of ['by-bot', t.id]) {
    for (const [method, p, body] of verbs('alice', ref)) {
      // (a 404 about the queue entry, not the task, is an answer)
      for (const [who, token] of allowed) {
        const r = await call(method, p, token, body);
        assert.ok(r.status < 500 && !/no task/.test(r.text), `${who}: ${method} ${p}: ${r.status} ${r.text}`);
      }
      for (const [who, token] of denied) {
        const r = await call(method, p, token, body);
        assert.equal(r.status, 404, `${who}: ${method} ${p}`);
        assert.match(r.text, /no task/, `${who}: ${method} ${p}`);
      }
    }
  }
  // the destructive verbs: refused (404) to the others, done by each one
  // allowed in turn
  for (const [, token] of denied)
    for (const v of ['pause', 'resume', 'restart'])
      assert.equal(await probe('POST', `/api/v2/tasks/alice/by-bot/${v}`, token), 404);
  assert.equal(await probe('DELETE', '/api/v2/tasks/alice/by-bot', bob.token), 404);
  let r = await srv.api('POST', '/api/v2/tasks/alice/by-bot/pause', { token: tc.token });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 'paused');
  r = await srv.api('PATCH', '/api/v2/tasks/alice/by-bot/input', { token: tc.token, body: { input: 'echo edited' } });
  assert.equal(r.status, 204, r.text);
  r = await srv.api('POST', '/api/v2/tasks/alice/by-bot/resume', { token: alice.token });
  assert.ok(r.status < 300, r.text);
  await srv.waitTask('alice', 'by-bot', { token: tc.token });
  r = await srv.api('POST', '/api/v2/tasks/alice/by-bot/restart');
  assert.ok(r.status < 300 || r.status === 409, `restart: ${r.status} ${r.text}`);
  await srv.waitTask('alice', 'by-bot', { token: tc.token });

  // lists: the creator sees what it made (and its own), not the rest
  const names = async (token, q = '') => (await srv.api('GET', `/api/v2/tasks${q}`, { token })).json.tasks.map((x) => x.name).sort();
  assert.deepEqual(await names(tc.token), ['by-bot', 'own-task']);
  assert.deepEqual(await names(tc.token, '?q=' + encodeURIComponent('owner:alice')), ['by-bot']);
  assert.deepEqual(await names(tc2.token, '?q=' + encodeURIComponent('owner:alice')), []);
  assert.deepEqual(await names(bob.token, '?q=' + encodeURIComponent('owner:alice')), []);
  assert.deepEqual(await names(alice.token), ['by-admin', 'by-bot']);

  // only while it is a task-creator
  r = await srv.api('PATCH', '/api/v2/users/bot', { body: { role: 'member' } });
  assert.equal(r.status, 200);
  assert.equal(await probe('GET', '/api/v2/tasks/alice/by-bot', tc.token), 404);
  assert.equal(await probe('GET', '/@alice/by-bot/apps/chat/messages', tc.token), 404);
  assert.deepEqual(await names(tc.token), ['own-task']);
  r = await srv.api('POST', '/api/v2/tasks/alice', { token: tc.token, body: { template: 'sh', input: 'x', name: 'again' } });
  assert.equal(r.status, 403);
  r = await srv.api('PATCH', '/api/v2/users/bot', { body: { role: 'task-creator' } });
  assert.equal(r.status, 200);
  assert.equal(await probe('GET', '/api/v2/tasks/alice/by-bot', tc.token), 200);

  // the creator deletes it
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/alice/by-bot', { token: tc.token })).status, 202);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/alice/by-admin')).status, 202);
});

test('a template app: its creator gets a capability, good while it is a task-creator', async () => {
  const app = [
    "cat > app.js <<'END'",
    "require('http').createServer((q, s) => s.end('app saw ' + q.url)).listen(8000, '127.0.0.1');",
    'END',
    '(node app.js >/dev/null 2>&1 &)',
  ].join('\n');
  const r = await srv.pushTemplate(customTemplate('webapp', ['bash', '--norc', '-i'], { setup: app, apps: [{ slug: 'web', url: 'http://127.0.0.1:8000/' }] }));
  assert.equal(r.status, 201, r.text);
  await srv.createTask({ template: 'webapp', input: 'true', name: 'site' }, { token: tc.token, owner: 'alice' });
  await srv.waitTask('alice', 'site', { token: tc.token, timeout: 60000 });
  const capOf = async (token) => {
    const res = await fetch(`${srv.base}/@alice/site/apps/web/page`, { redirect: 'manual', headers: { Authorization: `Bearer ${token}` } });
    await res.text();
    return { status: res.status, location: res.headers.get('location') };
  };
  let cap;
  await waitFor(async () => {
    cap = await capOf(tc.token);
    if (cap.status !== 303) return false;
    const page = await fetch(srv.base + cap.location);
    return page.status === 200 && /app saw \/page/.test(await page.text());
  }, { what: 'the app through the creator\'s capability', timeout: 30000 });
  assert.equal((await capOf(tc2.token)).status, 404);
  assert.equal((await capOf(bob.token)).status, 404);
  // demoted: its capability is refused too (checked against its row)
  assert.equal((await srv.api('PATCH', '/api/v2/users/bot', { body: { role: 'member' } })).status, 200);
  await waitFor(async () => (await fetch(srv.base + cap.location)).status === 404, { what: 'the capability refused' });
  assert.equal((await capOf(tc.token)).status, 404);
  assert.equal((await srv.api('PATCH', '/api/v2/users/bot', { body: { role: 'task-creator' } })).status, 200);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/alice/site', { token: tc.token })).status, 202);
});

test('the events stream shows a task-creator what it made, and ends when its role goes', async () => {
  const open = async (token) => {
    const s = new SseClient(`${srv.base}/api/v2/events`, { Authorization: `Bearer ${token}` });
    await s.ready;
    return s;
  };
  const bots = await open(tc.token), others = await open(tc2.token), bobs = await open(bob.token);
  try {
    for (const s of [bots, others, bobs]) assert.equal(s.status, 200);
    const made = await srv.createTask({ template: 'sh', input: 'echo streamed', name: 'streamed' }, { token: tc.token, owner: 'bob' });
    const mine = await srv.createTask({ template: 'sh', input: 'echo mine', name: 'bobs-own' }, { token: bob.token });
    await bots.wait((e) => e.event === 'task' && e.data.id === made.id);
    await bobs.wait((e) => e.event === 'task' && e.data.id === mine.id);
    await bobs.wait((e) => e.event === 'task' && e.data.id === made.id);
    // a marker: once tc2's stream has a later event of its own task, it
    // would have had the others before
    const tc2own = await srv.createTask({ template: 'sh', input: 'echo b2', name: 'b2' }, { token: tc2.token });
    await others.wait((e) => e.event === 'task' && e.data.id === tc2own.id);
    await bobs.wait((e) => e.event === 'task' && e.data.status === 'active' && e.data.id === mine.id, 30000);
    assert.ok(!others.events.some((e) => e.data.id === made.id || e.data.id === mine.id), 'another task-creator sees none of them');
    assert.ok(!bots.events.some((e) => e.data.id === mine.id), 'the creator sees only what it made');
    // its role changes: its stream ends (what it may see changed)
    const r = await srv.api('PATCH', '/api/v2/users/bot2', { body: { role: 'member' } });
    assert.equal(r.status, 200);
    await waitFor(async () => others.ended === true, { what: 'bot2\'s stream ended' });
    await srv.api('PATCH', '/api/v2/users/bot2', { body: { role: 'task-creator' } });
    for (const [o, n, tok] of [['bob', 'streamed', tc.token], ['bob', 'bobs-own', bob.token], ['bot2', 'b2', tc2.token]])
      assert.equal((await srv.api('DELETE', `/api/v2/tasks/${o}/${n}`, { token: tok })).status, 202);
  } finally {
    for (const s of [bots, others, bobs]) s.close();
  }
});

test('User JSON: organization_ids, an always-valid email, GitHub members', async () => {
  const me = (await srv.api('GET', '/api/v2/users/me', { token: alice.token })).json;
  assert.match(me.organization_ids[0], /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(me.organization_ids.length, 1);
  assert.equal(me.email, 'alice@taskbox.invalid');
  assert.equal(me.email_set, false);
  assert.ok(!('github_com_user_id' in me), 'absent when not linked, never null');
  assert.equal(me.github_login, '');
  let r = await srv.api('PATCH', '/api/v2/users/me', { token: alice.token, body: { email: 'alice@example.com' } });
  assert.equal(r.json.email, 'alice@example.com');
  assert.equal(r.json.email_set, true);
  // an address Coder's clients would refuse is refused here
  r = await srv.api('PATCH', '/api/v2/users/me', { token: alice.token, body: { email: 'alice@localhost' } });
  assert.equal(r.status, 422);
  r = await srv.api('PATCH', '/api/v2/users/me', { token: alice.token, body: { email: '' } });
  assert.equal(r.json.email, 'alice@taskbox.invalid');
  assert.equal(r.json.email_set, false);
});

test('PATCH github_com_user_id: admins link and unlink, one user per GitHub id', async () => {
  let r = await srv.api('PATCH', '/api/v2/users/alice', { body: { github_com_user_id: 4242 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.github_com_user_id, 4242);
  r = await srv.api('PATCH', '/api/v2/users/bob', { body: { github_com_user_id: 4242 } });
  assert.equal(r.status, 409);
  assert.match(r.json.detail, /another user/);
  assert.ok(!('github_com_user_id' in (await srv.api('GET', '/api/v2/users/me', { token: bob.token })).json));
  for (const v of [0, -1, '12', 1.5, true])
    assert.equal((await srv.api('PATCH', '/api/v2/users/bob', { body: { github_com_user_id: v } })).status, 422, `${v}`);
  r = await srv.api('PATCH', '/api/v2/users/me', { token: bob.token, body: { github_com_user_id: 7 } });
  assert.equal(r.status, 403, 'a member links no id by hand');
  r = await srv.api('PATCH', '/api/v2/users/me', { token: tc.token, body: { github_com_user_id: 7 } });
  assert.equal(r.status, 403);
  // the same id again keeps it; /users/me shows it (the auth row)
  r = await srv.api('PATCH', '/api/v2/users/alice', { body: { github_com_user_id: 4242 } });
  assert.equal(r.status, 200);
  assert.equal((await srv.api('GET', '/api/v2/users/me', { token: alice.token })).json.github_com_user_id, 4242);
  r = await srv.api('PATCH', '/api/v2/users/bob', { body: { github_com_user_id: 99 } });
  assert.equal(r.json.github_com_user_id, 99);
  r = await srv.api('PATCH', '/api/v2/users/bob', { body: { github_com_user_id: null } });
  assert.equal(r.status, 200);
  assert.ok(!('github_com_user_id' in r.json));
  // the unlinked id is free for another user
  r = await srv.api('PATCH', '/api/v2/users/sus', { body: { github_com_user_id: 99 } });
  assert.equal(r.json.github_com_user_id, 99);
  await srv.api('PATCH', '/api/v2/users/sus', { body: { github_com_user_id: null } });
});

test('GET /api/v2/users: who sees whom, and Coder\'s q terms', async () => {
  await srv.api('PATCH', '/api/v2/users/alice', { body: { github_com_user_id: 4242, webhook_url: 'https://hooks.example.com/secret-path' } });
  const users = async (token, q) => {
    const r = await srv.api('GET', '/api/v2/users' + (q === undefined ? '' : '?q=' + encodeURIComponent(q)), { token });
    return r.status === 200 ? r.json.users : r;
  };
  const names = (list) => list.map((u) => u.username);
  // a member: themself alone, whatever q asks
  assert.deepEqual(names(await users(bob.token)), ['bob']);
  assert.deepEqual(names(await users(bob.token, 'github_com_user_id:4242')), []);
  // admins and task-creators: everyone
  const all = names(await users(srv.token));
  assert.ok(all.includes('alice') && all.includes('bot') && all.includes('sus'), all.join());
  assert.deepEqual(names(await users(tc.token)), all);
  const found = await users(tc.token, 'github_com_user_id:4242');
  assert.deepEqual(names(found), ['alice']);
  assert.equal(found[0].github_com_user_id, 4242);
  assert.equal(found[0].organization_ids.length, 1);
  assert.match(found[0].email, /^[^@]+@[^@]+\.[a-z]{2,}$/);
  assert.ok(!('webhook_url' in found[0]), 'another user\'s webhook URL reaches admins only');
  assert.equal((await users(srv.token, 'username:alice'))[0].webhook_url, 'https://hooks.example.com/secret-path');
  assert.deepEqual(names(await users(tc.token, 'github_com_user_id:4243')), []);
  // ANDed
  assert.deepEqual(names(await users(srv.token, 'username:alice role:member')), ['alice']);
  assert.deepEqual(names(await users(srv.token, 'username:alice role:admin')), []);
  // form-encoded, as Go's url.Values and URLSearchParams send it
  const form = await srv.api('GET', '/api/v2/users?' + new URLSearchParams({ q: 'role:member username:alice' }), { token: tc.token });
  assert.deepEqual(names(form.json.users), ['alice']);
  assert.deepEqual(names(await users(srv.token, 'role:task-creator')).sort(), ['bot', 'bot2', 'ci-bot']);
  assert.deepEqual(names(await users(srv.token, 'status:suspended')), ['sus']);
  assert.deepEqual(names(await users(srv.token, 'status:active role:member username:sus')), []);
  // unknown terms and bad values: 400 naming them
  for (const [q, re] of [['owner:alice', /unknown term 'owner'/], ['alice', /key:value/], ['github_com_user_id:abc', /github_com_user_id/],
    ['github_com_user_id:0', /github_com_user_id/], ['status:dormant', /status/], ['role:owner', /role/]]) {
    const r = await users(tc.token, q);
    assert.equal(r.status, 400, q);
    assert.match(r.json.detail, re, q);
  }
});

test('the CLI: create a task-creator, link and unlink a GitHub id, list', async () => {
  const tb = (args, token = srv.token) => spawnSync(bin, [...args, '--url', srv.base, '--token', token], { encoding: 'utf8', timeout: 20000 });
  let r = tb(['user', 'create', 'gh-bot', '--role', 'task-creator']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /created task-creator gh-bot/);
  r = tb(['user', 'set', 'bob', '--github-id', '31337']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /bob: member, active, .*GitHub user 31337/);
  r = tb(['user', 'list']);
  assert.match(r.stdout, /^bob\s+member\s+31337\s/m);
  r = tb(['user', 'set', 'bob', '--github-id', 'none']);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /GitHub/);
  r = tb(['user', 'set', 'bob', '--github-id', 'x']);
  assert.equal(r.status, 2);
  r = tb(['user', 'set', 'bob', '--role', 'task-creator']);
  assert.match(r.stdout, /bob: task-creator, active/);
  r = tb(['user', 'set', 'bob', '--role', 'member']);
  assert.equal(r.status, 0, r.stderr);
  r = tb(['user', 'set', 'alice', '--github-id', '5'], bob.token);
  assert.equal(r.status, 1);
});

test('a task\'s open streams end when its creator loses access to it', async () => {
  const tc3 = await srv.user('bot3', 'task-creator');
  await srv.createTask({ template: 'sh', input: 'echo watched', name: 'watched' }, { token: tc3.token, owner: 'alice' });
  await srv.waitTask('alice', 'watched', { token: alice.token });
  const second = await srv.api('POST', '/api/v2/users/bot3/tokens', { token: tc3.token, body: { name: 'second' } });
  assert.equal(second.status, 201, second.text);
  const open = async (p, token) => {
    const s = new SseClient(srv.base + p, { Authorization: `Bearer ${token}` });
    await s.ready;
    assert.equal(s.status, 200, p);
    return s;
  };
  const paths = ['/api/v2/tasks/alice/watched/events', '/api/experimental/tasks/alice/watched/events', '/@alice/watched/apps/chat/events'];
  const streams = [];
  try {
    const bots = [];
    for (const p of paths) bots.push(await open(p, tc3.token));
    const owners = [];
    for (const p of paths) owners.push(await open(p, alice.token));
    streams.push(...bots, ...owners);
    // demoted: what it made is no longer its to see, open streams included
    assert.equal((await srv.api('PATCH', '/api/v2/users/bot3', { body: { role: 'member' } })).status, 200);
    for (const [i, s] of bots.entries())
      await waitFor(async () => s.ended === true, { what: `the demoted creator's ${paths[i]} ended` });
    assert.ok(owners.every((s) => !s.ended), 'the owner\'s streams stay');
    // a revoked token: its streams end
    assert.equal((await srv.api('PATCH', '/api/v2/users/bot3', { body: { role: 'task-creator' } })).status, 200);
    const again = [];
    for (const p of paths) again.push(await open(p, second.json.token));
    streams.push(...again);
    const del = await srv.api('DELETE', `/api/v2/users/bot3/tokens/${second.json.id}`, { token: tc3.token });
    assert.ok(del.status < 300, del.text);
    for (const [i, s] of again.entries())
      await waitFor(async () => s.ended === true, { what: `the revoked token's ${paths[i]} ended` });
    assert.ok(owners.every((s) => !s.ended), 'the owner\'s streams stay');
  } finally {
    for (const s of streams) s.close();
  }
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/alice/watched', { token: tc3.token })).status, 202);
});

test('a creator drives a task only while its owner is an active member', async () => {
  const carol = await srv.user('carol');
  await srv.createTask({ template: 'sh', input: 'echo for-carol', name: 'for-carol' }, { token: tc.token, owner: 'carol' });
  await srv.waitTask('carol', 'for-carol', { token: carol.token });
  const p = '/api/v2/tasks/carol/for-carol';
  assert.equal(await probe('GET', p, tc.token), 200);
  const s = new SseClient(srv.base + p + '/events', { Authorization: `Bearer ${tc.token}` });
  const chat = new SseClient(srv.base + '/@carol/for-carol/apps/chat/events', { Authorization: `Bearer ${tc.token}` });
  try {
    await s.ready;
    assert.equal(s.status, 200);
    await chat.ready;
    assert.equal(chat.status, 200);
    // suspended: the bot may not create for her, nor drive what it made
    // (a resume would hand the task her secrets); its open stream ends
    assert.equal((await srv.api('PATCH', '/api/v2/users/carol', { body: { status: 'suspended' } })).status, 200);
    await waitFor(async () => s.ended === true, { what: 'the creator\'s stream of a suspended owner\'s task ended' });
    await waitFor(async () => chat.ended === true, { what: 'the creator\'s chat stream of a suspended owner\'s task ended' });
    for (const [method, path] of [['GET', p], ['POST', p + '/pause'], ['GET', `/api/experimental/tasks/carol/for-carol`]])
      assert.equal(await probe(method, path, tc.token), 404, `${method} ${path}`);
    assert.deepEqual((await srv.api('GET', '/api/v2/tasks?q=owner:carol', { token: tc.token })).json.tasks, []);
    // active again, then promoted: the same
    assert.equal((await srv.api('PATCH', '/api/v2/users/carol', { body: { status: 'active' } })).status, 200);
    assert.equal(await probe('GET', p, tc.token), 200);
    assert.equal((await srv.api('PATCH', '/api/v2/users/carol', { body: { role: 'admin' } })).status, 200);
    assert.equal(await probe('GET', p, tc.token), 404);
    assert.equal((await srv.api('PATCH', '/api/v2/users/carol', { body: { role: 'member' } })).status, 200);
    assert.equal(await probe('GET', p, tc.token), 200);
  } finally {
    s.close();
    chat.close();
  }
  assert.equal((await srv.api('DELETE', p, { token: tc.token })).status, 202);
});
