// cli.test.mjs: the taskbox CLI against a real server and real
// workspaces: login, templates, task create with start-up progress, list,
// status, logs, send, delete, users and tokens, and error messages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, customTemplate, tmpdir, waitFor } from '../harness/server.mjs';
import { runBin } from '../harness/runtime.mjs';

const cfg = tmpdir('taskbox-cli-cfg-');
const saved = { ...process.env };
let srv;

before(async () => {
  process.env.XDG_CONFIG_HOME = cfg; // runBin inherits process.env
  delete process.env.TASKBOX_URL;
  delete process.env.TASKBOX_TOKEN;
  srv = await startServer();
});

after(async () => {
  await srv?.stop();
  process.env = saved;
  fs.rmSync(cfg, { recursive: true, force: true });
});

const tb = (args, opts) => runBin(args, { timeout: 60000, ...opts });

test('login, push a template, run a task, follow it, delete it', async () => {
  const bad = await tb(['login', srv.base, '--token', 'tbx_nope']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /token/i);
  const login = await tb(['login', srv.base, '--token', srv.token]);
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /logged in to .* as admin/);
  const session = path.join(cfg, 'taskbox/session.json');
  assert.equal(fs.statSync(session).mode & 0o777, 0o600);

  const file = path.join(cfg, 'sh.yaml');
  fs.writeFileSync(file, customTemplate('clish', ['bash', '--norc', '--noprofile', '-i'], {
    env: { PS1: '$ ' }, setup: 'echo setting up',
  }));
  const push = await tb(['template', 'push', file]);
  assert.equal(push.code, 0, push.stderr);
  assert.match(push.stdout, /clish/);
  const broken = path.join(cfg, 'broken.yaml');
  fs.writeFileSync(broken, 'name: broken\nworkspace:\n  limits:\n    pids: many\n');
  const pb = await tb(['template', 'push', broken]);
  assert.equal(pb.code, 1);
  assert.match(pb.stderr, /broken\.yaml:4:11: .*pids/);

  const create = await tb(['task', 'create', '--template', 'clish', '--name', 'viacli', 'echo cli-$((6*7))']);
  assert.equal(create.code, 0, create.stderr + create.stdout);
  assert.match(create.stdout + create.stderr, /setup script/i);
  assert.match(create.stdout, /task admin\/viacli is active: .*\/@admin\/viacli\/apps\/chat\//);

  const list = await tb(['task', 'list', '-o', 'json']);
  assert.equal(list.code, 0);
  const parsed = JSON.parse(list.stdout);
  assert.deepEqual((parsed.tasks ?? parsed).map((t) => t.name), ['viacli']);
  const table = await tb(['task', 'list']);
  assert.match(table.stdout, /^NAME\s+STATUS\s+STATE/m);
  assert.match(table.stdout, /viacli\s+active/);

  await waitFor(async () => /cli-42/.test((await tb(['task', 'logs', 'viacli'])).stdout), { what: 'logs show the output' });
  await srv.waitTask('admin', 'viacli', { state: 'idle' }); // send wants an agent at its prompt
  const sent = await tb(['task', 'send', 'viacli', 'echo again-$((7*6))']);
  assert.equal(sent.code, 0, sent.stderr);
  await waitFor(async () => /again-42/.test((await tb(['task', 'logs', 'viacli'])).stdout), { what: 'sent input ran' });
  const status = await tb(['task', 'status', 'admin/viacli', '-o', 'json']);
  assert.equal(JSON.parse(status.stdout).status, 'active');

  const pz = await tb(['task', 'pause', 'viacli']);
  assert.equal(pz.code, 0, pz.stderr);
  assert.match(pz.stdout, /viacli: paused/);
  const st = await tb(['task', 'states', 'viacli']);
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, /idle\s+Paused/);
  const rs = await tb(['task', 'resume', 'viacli']);
  assert.equal(rs.code, 0, rs.stderr);
  await srv.waitTask('admin', 'viacli');

  const missing = await tb(['task', 'status', 'nosuch']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no task/);
  // an error is said once, not as a detail and again as its only entry
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  const del = await tb(['task', 'delete', 'viacli', '-y']);
  assert.equal(del.code, 0, del.stderr);
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/viacli')).status, 404);
});

test('a failing start says why and exits 1', async () => {
  const file = path.join(cfg, 'fail.yaml');
  fs.writeFileSync(file, customTemplate('clifail', ['bash'], { setup: 'echo cannot clone the repository >&2; exit 1' }));
  assert.equal((await tb(['template', 'push', file])).code, 0);
  const r = await tb(['task', 'create', '--template', 'clifail', '--name', 'willfail', 'x']);
  assert.equal(r.code, 1);
  assert.match(r.stderr + r.stdout, /setup script failed.*cannot clone the repository/);
  await tb(['task', 'delete', 'willfail', '-y']);
});

test('users and tokens', async () => {
  const u = await tb(['user', 'create', 'carol']);
  assert.equal(u.code, 0, u.stderr);
  const token = u.stdout.trim().split('\n').pop();
  assert.match(token, /^tbx_/);
  const as = await runBin(['task', 'list', '--url', srv.base, '--token', token], { timeout: 20000 });
  assert.equal(as.code, 0, as.stderr);
  // a member's list is themself alone
  const self = await runBin(['user', 'list', '--url', srv.base, '--token', token], { timeout: 20000 });
  assert.equal(self.code, 0, self.stderr);
  assert.deepEqual(self.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]), ['carol']);
  const denied = await runBin(['user', 'create', 'dave', '--url', srv.base, '--token', token], { timeout: 20000 });
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /admin/);
  assert.equal(denied.stderr.trim().split('\n').length, 1, denied.stderr);
  const t = await tb(['token', 'create', '--name', 'ci']);
  assert.equal(t.code, 0);
  assert.match(t.stdout, /tbx_[0-9a-f]{64}/);
});

test('token list and revoke; --lifetime; never a token value in the list', async () => {
  const admin = (args) => runBin([...args, '--url', srv.base, '--token', srv.token], { timeout: 20000 });
  const u = await admin(['user', 'create', 'dora']);
  assert.equal(u.code, 0, u.stderr);
  const first = u.stdout.trim().split('\n').pop();
  const as = (args) => runBin([...args, '--url', srv.base, '--token', first], { timeout: 20000 });
  const made = await as(['token', 'create', '--name', 'short', '--lifetime', '30d', '-o', 'json']);
  assert.equal(made.code, 0, made.stderr);
  const short = JSON.parse(made.stdout);
  assert.match(short.token, /^tbx_[0-9a-f]{64}$/);
  const days = (Date.parse(short.expires_at) - Date.now()) / 86400000;
  assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);
  assert.equal((await as(['token', 'create', '--lifetime', 'soon'])).code, 2);

  const table = await as(['token', 'list']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^ID\s+NAME\s+CREATED\s+LAST USED\s+EXPIRES/);
  assert.match(table.stdout, new RegExp(`${short.id}\\s+short\\s`));
  assert.ok(!table.stdout.includes(first) && !table.stdout.includes(short.token), 'no token value listed');
  const json = await as(['token', 'list', '-o', 'json']);
  const listed = JSON.parse(json.stdout);
  assert.deepEqual(listed.map((t) => t.name).sort(), ['initial', 'short']);
  for (const t of listed) assert.deepEqual(Object.keys(t).sort(), ['created_at', 'expired', 'expires_at', 'id', 'last_used_at', 'name']);

  // the admin sees dora's tokens; dora does not see the admin's
  const byAdmin = await admin(['token', 'list', '--user', 'dora', '-o', 'json']);
  assert.equal(JSON.parse(byAdmin.stdout).length, 2);
  const theirs = await as(['token', 'list', '--user', 'admin']);
  assert.equal(theirs.code, 1);
  assert.match(theirs.stderr, /no user 'admin'/);

  const rv = await as(['token', 'revoke', short.id]);
  assert.equal(rv.code, 0, rv.stderr);
  assert.match(rv.stderr, /revoked token/);
  const dead = await runBin(['task', 'list', '--url', srv.base, '--token', short.token], { timeout: 20000 });
  assert.equal(dead.code, 1);
  assert.match(dead.stderr, /the token is not valid: run .taskbox login/);
  const again = await as(['token', 'revoke', short.id]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no token/);
  assert.equal((await as(['token', 'revoke'])).code, 2);
});
