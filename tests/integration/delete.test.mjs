// delete.test.mjs: deleting templates and users. A template in use is
// refused unless forced (then its tasks go first); a user with tasks is
// refused unless delete_tasks; their secrets, tokens and sessions go with
// them; who may delete what; the CLI verbs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startServer, customTemplate, waitFor, taskDir, exists, bin } from '../harness/server.mjs';

let srv, alice, bob;

before(async () => {
  srv = await startServer();
  alice = await srv.user('alice');
  bob = await srv.user('bob');
});

after(async () => { await srv?.stop(); });

const sleeper = (name) => customTemplate(name, ['sleep', '1000']);

// Count rows in the server's database (read-only, next to the live server).
function count(sql, ...args) {
  const py = spawnSync('python3', ['-c', `import sqlite3,sys,json
c=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro', uri=True, timeout=10)
print(c.execute(sys.argv[2], json.loads(sys.argv[3])).fetchone()[0])`,
  path.join(srv.data, 'taskbox.db'), sql, JSON.stringify(args)], { encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  return Number(py.stdout.trim());
}

function cli(args, token) {
  return spawnSync(bin, args, { encoding: 'utf8', env: { ...process.env, TASKBOX_URL: srv.base, TASKBOX_TOKEN: token, HOME: '/nonexistent' } });
}

test('a template in use is refused unless forced; forced, its tasks and secrets go with it', async () => {
  assert.equal((await srv.pushTemplate(sleeper('al-tmpl') + 'env_secrets: {SECRET_X: x}\n', alice.token)).status, 201);
  const tid = (await srv.api('GET', '/api/v2/templates/al-tmpl')).json.id;
  const put = (token) => srv.api('PUT', '/api/v2/templates/al-tmpl/secrets/x', { token, body: { value: 'v' } });
  assert.equal((await put(alice.token)).status, 204);
  assert.equal((await put(srv.token)).status, 204, 'the shared value');
  const a = await srv.createTask({ template: 'al-tmpl', input: 'x', name: 'a-task' }, { token: alice.token });
  const b = await srv.createTask({ template: 'al-tmpl', input: 'x', name: 'b-task' }, { token: bob.token });
  await srv.waitTask('alice', 'a-task', { token: alice.token });
  await srv.waitTask('bob', 'b-task', { token: bob.token });

  const del = (q, token) => srv.api('DELETE', `/api/v2/templates/al-tmpl${q}`, { token });
  let r = await del('', bob.token);
  assert.equal(r.status, 403, 'another member cannot delete it');
  r = await del('?force=true', bob.token);
  assert.equal(r.status, 403);
  r = await del('', alice.token);
  assert.equal(r.status, 409, r.text);
  assert.match(r.json.detail, /2 tasks use template 'al-tmpl'.*force=true/);
  r = await del('?force=true', alice.token);
  assert.equal(r.status, 409, 'a member\'s force does not delete other users\' tasks');
  assert.match(r.json.detail, /other users/);
  r = await del('?force=maybe', srv.token);
  assert.equal(r.status, 422);
  assert.equal((await srv.task('alice', 'a-task', alice.token)).status, 'active', 'refusals changed nothing');

  r = await del('?force=true', srv.token);
  assert.equal(r.status, 204, r.text);
  assert.equal((await srv.api('GET', '/api/v2/templates/al-tmpl')).status, 404);
  assert.equal((await srv.api('GET', '/api/v2/tasks/alice/a-task')).status, 404);
  assert.equal((await srv.api('GET', '/api/v2/tasks/bob/b-task')).status, 404);
  await waitFor(() => !exists(taskDir(srv, a.id)) && !exists(taskDir(srv, b.id)), { what: 'task files removed' });
  assert.equal(count('SELECT count(*) FROM secrets WHERE scope = ? AND scope_id = ?', 'template', tid), 0, 'its secrets went');
  assert.equal(count('SELECT count(*) FROM template_versions WHERE template_id = ?', tid), 0);
  assert.equal(count('SELECT count(*) FROM tasks WHERE id IN (?, ?)', a.id, b.id), 0);

  // the name is free again; an unused template of one's own goes at once
  assert.equal((await srv.pushTemplate(sleeper('al-tmpl'), bob.token)).status, 201);
  assert.equal((await del('', bob.token)).status, 204);
  assert.equal((await srv.api('DELETE', '/api/v2/templates/al-tmpl')).status, 404);
  // built-ins belong to the admins
  assert.equal((await srv.api('DELETE', '/api/v2/templates/shell', { token: bob.token })).status, 403);
  assert.equal((await srv.api('GET', '/api/v2/templates/shell')).status, 200);
  // a template secret path still reaches the secrets API
  assert.equal((await srv.api('DELETE', '/api/v2/templates/shell/secrets/nope', { token: bob.token })).status, 404);
});

test('a user with tasks is refused unless delete_tasks; tokens, sessions and secrets go with them', async () => {
  const carol = await srv.user('carol');
  const extra = await srv.api('POST', '/api/v2/users/carol/tokens', { body: { name: 'second' } });
  assert.equal(extra.status, 201);
  assert.equal((await srv.api('PUT', '/api/v2/users/me/secrets/github_token', { token: carol.token, body: { value: 'gh' } })).status, 204);
  assert.equal((await srv.pushTemplate(sleeper('carols'), carol.token)).status, 201);
  assert.equal((await srv.api('PUT', '/api/v2/templates/shell/secrets/mine', { token: carol.token, body: { value: 'c' } })).status, 204);
  const t = await srv.createTask({ template: 'carols', input: 'x', name: 'c-task' }, { token: carol.token });
  await srv.waitTask('carol', 'c-task', { token: carol.token });
  const s = await fetch(`${srv.base}/@carol/c-task/apps/chat/?access_token=${carol.token}`, { redirect: 'manual' });
  assert.equal(s.status, 303);
  assert.equal(count('SELECT count(*) FROM sessions WHERE user_id = ?', carol.id), 1);

  let r = await srv.api('DELETE', '/api/v2/users/carol', { token: bob.token });
  assert.equal(r.status, 403, 'members do not delete users');
  r = await srv.api('DELETE', '/api/v2/users/carol');
  assert.equal(r.status, 409, r.text);
  assert.match(r.json.detail, /user 'carol' has 1 task.*delete_tasks=true/);
  r = await srv.api('DELETE', '/api/v2/users/me?delete_tasks=true');
  assert.equal(r.status, 409, 'an admin cannot delete themself (the last admin)');
  r = await srv.api('DELETE', '/api/v2/users/nobody');
  assert.equal(r.status, 404);
  assert.equal((await srv.task('carol', 'c-task', carol.token)).status, 'active');

  r = await srv.api('DELETE', '/api/v2/users/carol?delete_tasks=true');
  assert.equal(r.status, 204, r.text);
  assert.equal((await srv.api('GET', '/api/v2/users/me', { token: carol.token })).status, 401, 'her tokens are revoked');
  assert.equal((await srv.api('GET', '/api/v2/users/me', { token: extra.json.token })).status, 401);
  assert.ok(!(await srv.api('GET', '/api/v2/users')).json.users.some((u) => u.username === 'carol'));
  await waitFor(() => !exists(taskDir(srv, t.id)), { what: 'task files removed' });
  for (const [sql, n] of [['SELECT count(*) FROM tokens WHERE user_id = ?1', 'tokens'],
    ['SELECT count(*) FROM sessions WHERE user_id = ?1', 'sessions'],
    ['SELECT count(*) FROM secrets WHERE scope_id = ?1 OR user_id = ?1', 'secrets'],
    ['SELECT count(*) FROM tasks WHERE owner_id = ?1', 'tasks']])
    assert.equal(count(sql, carol.id), 0, n);
  // her template stays (others may use it); the name is free again
  assert.equal((await srv.api('GET', '/api/v2/templates/carols')).status, 200);
  assert.equal((await srv.api('DELETE', '/api/v2/templates/carols')).status, 204);
  const again = await srv.user('carol');
  assert.notEqual(again.id, carol.id);
});

test('CLI: template delete [--force], user delete [--delete-tasks], task restart', async () => {
  assert.equal((await srv.pushTemplate(sleeper('cli-tmpl'), alice.token)).status, 201);
  await srv.createTask({ template: 'cli-tmpl', input: 'x', name: 'cli-task' }, { token: alice.token });
  let r = cli(['template', 'delete', 'cli-tmpl'], alice.token);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /1 task uses template 'cli-tmpl'/);
  r = cli(['template', 'delete', 'cli-tmpl', '--force'], alice.token);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /deleted template cli-tmpl/);

  const dave = await srv.user('dave');
  assert.equal((await srv.pushTemplate(sleeper('daves'), dave.token)).status, 201);
  await srv.createTask({ template: 'daves', input: 'x', name: 'd-task' }, { token: dave.token });
  r = cli(['user', 'delete', 'dave'], alice.token);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /only admins/);
  r = cli(['user', 'delete', 'dave'], srv.token);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /has 1 task/);
  r = cli(['user', 'delete', 'dave', '--delete-tasks'], srv.token);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /deleted user dave/);

  // restart: waits for readiness with progress lines, like create
  assert.equal((await srv.pushTemplate(customTemplate('once', ['bash', '--norc', '--noprofile', '-i'], {
    env: { PS1: '$ ' },
    setup: 'if [ -e ~/tried ]; then echo ok; else touch ~/tried; echo first time fails >&2; exit 1; fi',
  }), alice.token)).status, 201);
  await srv.createTask({ template: 'once', input: 'echo hi', name: 'once' }, { token: alice.token });
  await srv.waitTask('alice', 'once', { status: 'error', token: alice.token });
  r = cli(['task', 'restart', 'once'], alice.token);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /restarting task alice\/once/);
  assert.match(r.stdout, /task alice\/once is active/);
  r = cli(['task', 'restart', 'once'], alice.token);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /only a task in error or unknown status can be restarted/);
  r = cli(['task', 'restart', 'alice/once'], bob.token);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no task/);
});
