// delete.test.mjs: deleting templates and users. A template in use is
// refused unless forced (then its tasks go first); a user with tasks is
// refused unless delete_tasks; their secrets, tokens and sessions go with
// them; who may delete what; the CLI verbs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startServer, customTemplate, waitFor, taskDir, exists, bin, storeSql } from '../harness/server.mjs';

let srv, alice, bob;

before(async () => {
  srv = await startServer();
  alice = await srv.user('alice');
  bob = await srv.user('bob');
});

after(async () => { await srv?.stop(); });

const sleeper = (name) => customTemplate(name, ['sleep', '1000']);

// One value from the server's store (next to the live server).
function count(sql, ...args) {
  return Number(storeSql(srv.data, sql, ...args)[0][0]);
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
  assert.equal((await srv.api('PUT', '/api/v2/templates/shell/secrets/bobs', { token: bob.token, body: { value: 'b' } })).status, 204);
  assert.equal((await srv.api('DELETE', '/api/v2/templates/shell/secrets/bobs', { token: bob.token })).status, 204);
  assert.equal((await srv.api('GET', '/api/v2/templates/shell')).status, 200, 'the template stays');
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

test('a bare ?force or ?delete_tasks counts as true', async () => {
  assert.equal((await srv.pushTemplate(sleeper('bare-tmpl'))).status, 201);
  await srv.createTask({ template: 'bare-tmpl', input: 'x', name: 'bare-task' });
  let r = await srv.api('DELETE', '/api/v2/templates/bare-tmpl?force');
  assert.equal(r.status, 204, r.text);
  const erin = await srv.user('erin');
  assert.equal((await srv.pushTemplate(sleeper('erins'), erin.token)).status, 201);
  await srv.createTask({ template: 'erins', input: 'x', name: 'e-task' }, { token: erin.token });
  r = await srv.api('DELETE', '/api/v2/users/erin?delete_tasks');
  assert.equal(r.status, 204, r.text);
  assert.equal((await srv.api('DELETE', '/api/v2/templates/erins')).status, 204);
});

test('a task created while its user or template is being deleted: refused, and the delete finishes', async () => {
  const frank = await srv.user('frank');
  assert.equal((await srv.pushTemplate(sleeper('franks'), frank.token)).status, 201);
  for (const n of ['f1', 'f2', 'f3'])
    await srv.createTask({ template: 'franks', input: 'x', name: n }, { token: frank.token });
  await srv.waitTask('frank', 'f3', { token: frank.token });
  // the creates come while the sweep waits for the workspaces to stop
  const del = srv.api('DELETE', '/api/v2/users/frank?delete_tasks=true');
  const creates = ['g1', 'g2', 'g3'].map((n) => srv.api('POST', '/api/v2/tasks/frank',
    { body: { template: 'franks', input: 'x', name: n } }));
  const mine = ['h1', 'h2'].map((n) => srv.api('POST', '/api/v2/tasks/me', { token: frank.token, body: { template: 'franks', input: 'x', name: n } }));
  const r = await del;
  assert.equal(r.status, 204, r.text);
  for (const c of await Promise.all(creates))
    assert.ok([404, 409].includes(c.status), `an admin's create for frank: ${c.status} ${c.text}`);
  for (const c of await Promise.all(mine))
    assert.ok([401, 409].includes(c.status), `frank's own create: ${c.status} ${c.text}`);
  assert.equal(count('SELECT count(*) FROM tasks WHERE owner_id = ?', frank.id), 0);

  // a template: another user's create while it goes
  assert.equal((await srv.pushTemplate(sleeper('going'))).status, 201);
  for (const n of ['k1', 'k2'])
    await srv.createTask({ template: 'going', input: 'x', name: n });
  await srv.waitTask('admin', 'k2');
  const tdel = srv.api('DELETE', '/api/v2/templates/going?force=true');
  const late = ['l1', 'l2', 'l3'].map((n) => srv.api('POST', '/api/v2/tasks/me', { token: bob.token, body: { template: 'going', input: 'x', name: n } }));
  const tr = await tdel;
  for (const c of await Promise.all(late))
    // 409 while the delete runs; once it is done the template is unknown
    // to a create (422, as any unknown template)
    assert.ok([409, 422].includes(c.status), `a create from the template: ${c.status} ${c.text}`);
  assert.equal(tr.status, 204, tr.text);
  assert.equal((await srv.api('GET', '/api/v2/templates/going')).status, 404);
});

test('a task seq (its uid) is never handed out again after its row is gone', async () => {
  const gina = await srv.user('gina');
  assert.equal((await srv.pushTemplate(sleeper('ginas'), gina.token)).status, 201);
  const t = await srv.createTask({ template: 'ginas', input: 'x', name: 'g-task' }, { token: gina.token });
  const seq = count('SELECT seq FROM tasks WHERE id = ?', t.id);
  assert.equal(seq, count('SELECT max(seq) FROM tasks'), 'the newest task');
  assert.equal((await srv.api('DELETE', '/api/v2/users/gina?delete_tasks=true')).status, 204);
  assert.equal(count('SELECT count(*) FROM tasks WHERE id = ?', t.id), 0, 'the row is gone');
  const next = await srv.createTask({ template: 'ginas', input: 'x', name: 'after-gina' });
  assert.ok(count('SELECT seq FROM tasks WHERE id = ?', next.id) > seq);
  assert.equal((await srv.api('DELETE', '/api/v2/templates/ginas?force=true')).status, 204);
});

test('CLI: flags of another verb are refused', async () => {
  let r = cli(['user', 'create', 'zed', '--delete-tasks'], srv.token);
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /--delete-tasks goes with delete/);
  r = cli(['template', 'delete', 'shell', '-o', 'json'], srv.token);
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /-o goes with list/);
  assert.equal((await srv.api('GET', '/api/v2/templates/shell')).status, 200, 'nothing was deleted');
  assert.ok(!(await srv.api('GET', '/api/v2/users')).json.users.some((u) => u.username === 'zed'));
});
