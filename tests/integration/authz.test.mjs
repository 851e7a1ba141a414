// authz.test.mjs: who may see and touch which task, on every endpoint.
//
// A task is visible to its owner and to admins; for anyone else it does
// not exist (404). No token is 401 everywhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, customTemplate } from '../harness/server.mjs';

let srv, alice, bob, task;

before(async () => {
  srv = await startServer();
  alice = await srv.user('alice');
  bob = await srv.user('bob');
  const r = await srv.pushTemplate(customTemplate('sh', ['bash', '--norc', '-i']), alice.token);
  assert.equal(r.status, 201, r.text);
  task = await srv.createTask({ template: 'sh', input: 'echo alice-was-here', name: 'secret-work' }, { token: alice.token });
  await srv.waitTask('alice', 'secret-work', { token: alice.token });
});

after(async () => { await srv?.stop(); });

const taskCalls = (owner, name) => [
  ['GET', `/api/v2/tasks/${owner}/${name}`],
  ['POST', `/api/v2/tasks/${owner}/${name}/send`, { input: 'rm -rf ~' }],
  ['GET', `/api/v2/tasks/${owner}/${name}/logs`],
  ['GET', `/api/v2/tasks/${owner}/${name}/events`],
  ['GET', `/@${owner}/${name}/apps/chat/messages`],
  ['POST', `/@${owner}/${name}/apps/chat/message`, { content: 'hi', type: 'user' }],
  ['DELETE', `/api/v2/tasks/${owner}/${name}`],
];

test('another user gets 404 on every task endpoint, by name and by id', async () => {
  for (const ref of ['secret-work', task.id]) {
    for (const [method, p, body] of taskCalls('alice', ref)) {
      const r = await srv.api(method, p, { token: bob.token, body });
      assert.equal(r.status, 404, `${method} ${p}: ${r.status} ${r.text}`);
    }
  }
  const list = await srv.api('GET', '/api/v2/tasks', { token: bob.token });
  assert.equal(list.json.count, 0);
  const filtered = await srv.api('GET', '/api/v2/tasks?q=owner:alice', { token: bob.token });
  assert.equal(filtered.json.count, 0);
  const forAlice = await srv.api('POST', '/api/v2/tasks/alice', { token: bob.token, body: { template: 'sh', input: 'x' } });
  assert.equal(forAlice.status, 403);
  // still there and untouched
  const t = await srv.task('alice', 'secret-work', alice.token);
  assert.equal(t.status, 'active');
});

test('no token is 401 everywhere; members cannot administer', async () => {
  const calls = [...taskCalls('alice', 'secret-work'),
    ['GET', '/api/v2/tasks'], ['POST', '/api/v2/tasks/me', { input: 'x' }],
    ['GET', '/api/v2/users/me'], ['GET', '/api/v2/users'], ['POST', '/api/v2/users', { username: 'eve' }],
    ['POST', '/api/v2/users/me/tokens', {}], ['GET', '/api/v2/templates'], ['GET', '/api/v2/templates/sh'],
    ['POST', '/api/v2/templates', 'name: x\n'], ['GET', '/api/v2/modules'], ['POST', '/api/v2/modules', 'name: x\n']];
  for (const [method, p, body] of calls) {
    const r = await srv.api(method, p, { token: null, body });
    assert.equal(r.status, 401, `${method} ${p}`);
    assert.equal(r.json.status, 401);
  }
  assert.equal((await srv.api('GET', '/api/v2/buildinfo', { token: null })).status, 200);
  // a member's user list is themself alone
  const list = await srv.api('GET', '/api/v2/users', { token: bob.token });
  assert.deepEqual(list.json.users.map((u) => u.username), ['bob']);
  assert.equal((await srv.api('POST', '/api/v2/users', { token: bob.token, body: { username: 'eve' } })).status, 403);
  assert.equal((await srv.api('POST', `/api/v2/users/alice/tokens`, { token: bob.token, body: {} })).status, 403);
  // a member replaces neither built-in nor others' modules
  const mod = await srv.api('POST', '/api/v2/modules', { token: bob.token, body: 'name: custom\nagent_type: custom\n',
    headers: { 'Content-Type': 'application/yaml' } });
  assert.equal(mod.status, 422);
  // nor someone else's or a built-in template; nor installs on the host
  for (const name of ['sh', 'claude-code']) {
    const r = await srv.pushTemplate(`name: ${name}\nagent:\n  module: custom\n  command: [sh]\nai_task:\n  app: chat\n`, bob.token);
    assert.equal(r.status, 422, r.text);
    assert.match(r.json.errors[0].message, /belongs to someone else/);
  }
  const own = await srv.pushTemplate('name: bobs\nagent:\n  module: custom\n  command: [sh]\nai_task:\n  app: chat\n', bob.token);
  assert.equal(own.status, 201);
  const again = await srv.pushTemplate('name: bobs\nagent:\n  module: custom\n  command: [bash]\nai_task:\n  app: chat\n', bob.token);
  assert.equal(again.json.version, 2, 'the author makes new versions');
  const inst = await srv.api('POST', '/api/v2/modules', { token: bob.token,
    body: 'name: mine\nagent_type: custom\ninstall:\n  npm: evil-package\n  version: 1.0.0\n  bin: evil\n  dir: claude\ncommand: [evil]\n',
    headers: { 'Content-Type': 'application/yaml' } });
  assert.equal(inst.status, 422, inst.text);
});

test('the owner and admins see and act on the task', async () => {
  const own = await srv.api('GET', '/api/v2/tasks', { token: alice.token });
  assert.deepEqual(own.json.tasks.map((t) => t.name), ['secret-work']);
  const adminList = await srv.api('GET', '/api/v2/tasks?q=owner:alice');
  assert.deepEqual(adminList.json.tasks.map((t) => t.owner_name), ['alice']);
  const logs = await srv.api('GET', '/api/v2/tasks/alice/secret-work/logs');
  assert.equal(logs.status, 200);
  const tok = await srv.api('POST', '/api/v2/users/me/tokens', { token: alice.token, body: { name: 'laptop' } });
  assert.equal(tok.status, 201);
  assert.equal((await srv.api('GET', '/api/v2/tasks/me/secret-work', { token: tok.json.token })).status, 200);
  // a cookie alone does not authorize a cross-site POST
  const csrf = await srv.api('POST', '/@alice/secret-work/apps/chat/message', {
    token: null, body: { content: 'x', type: 'user' },
    headers: { Cookie: `taskbox_session=${alice.token}`, Origin: 'http://evil.example' } });
  assert.equal(csrf.status, 403);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/alice/secret-work')).status, 202);
});
