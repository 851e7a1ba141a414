// hardening-auth.test.mjs: issue 8 items 7-10 as attacks on a real server.
//
// 7: a member's template secret reaches only that member's tasks; an
//    admin's reaches every user of the template, and a member's own value
//    never shadows it for anyone else.
// 8: nothing the server made in its data directory is readable by other
//    local users (the database's -wal and -shm were 0644).
// 9: a missing or empty database next to task directories refuses to start
//    (no new admin, the workspaces not orphaned) and writes nothing.
// 10: tokens are listed, revoked and expire; the browser cookie is a
//    session of its own (not the token), dies with its token, expires.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, customTemplate, waitFor, taskDir, exists, bin, tmpdir, sleep, testStore } from '../harness/server.mjs';

const tag = `${process.pid}${Date.now()}`;
const A_VAL = `alice-only-${tag}`;
const B_VAL = `bob-own-${tag}`;
const ADM_VAL = `admin-bot-${tag}`;
const B2_VAL = `bob-over-admin-${tag}`;

let srv, alice, bob;

const dump = 'env > env.txt; echo done > done; exec sleep 1000';

before(async () => {
  srv = await startServer();
  alice = await srv.user('alice');
  bob = await srv.user('bob');
});

after(async () => { await srv?.stop(); });

// Start a task of template as token; returns {env} once it dumped its
// environment, or {error: status_reason} if it failed to start.
async function run(template, token, name) {
  const r = await srv.api('POST', '/api/v2/tasks/me', { token, body: { template, input: 'x', name } });
  if (r.status === 400) return { error: r.json.detail }; // a pre-check: nothing started
  assert.equal(r.status, 201, r.text);
  const dir = path.join(taskDir(srv, r.json.id), 'home/workspace');
  const out = await waitFor(async () => {
    if (exists(path.join(dir, 'done'))) {
      const env = Object.fromEntries(fs.readFileSync(path.join(dir, 'env.txt'), 'utf8').split('\n')
        .filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      return { env };
    }
    const t = (await srv.api('GET', `/api/v2/tasks/me/${name}`, { token })).json;
    return t && t.status === 'error' ? { error: t.status_reason } : null;
  }, { what: `${name} started`, timeout: 30000 });
  await srv.api('DELETE', `/api/v2/tasks/me/${name}`, { token });
  return out;
}

const put = (tmpl, name, value, token) =>
  srv.api('PUT', `/api/v2/templates/${tmpl}/secrets/${name}`, { token, body: { value } });

test('item 7: a member\'s template secret reaches only that member\'s tasks', async () => {
  let r = await srv.pushTemplate(customTemplate('alices', ['sh', '-c', dump]) + 'env_secrets: {SECRET_X: x}\n', alice.token);
  assert.equal(r.status, 201, r.text);
  assert.equal((await put('alices', 'x', A_VAL, alice.token)).status, 204);
  assert.equal((await run('alices', alice.token, 'a1')).env.SECRET_X, A_VAL);

  // bob runs alice's template: her value is not his
  const b1 = await run('alices', bob.token, 'b1');
  assert.ok(!JSON.stringify(b1).includes(A_VAL), 'alice\'s secret reached bob\'s task');
  assert.match(b1.error, /needs its secret 'x'.*taskbox secret set x --template alices/);

  // bob sets his own value on her template: it is his alone
  r = await put('alices', 'x', B_VAL, bob.token);
  assert.equal(r.status, 204, r.text);
  assert.equal((await run('alices', bob.token, 'b2')).env.SECRET_X, B_VAL);
  assert.equal((await run('alices', alice.token, 'a2')).env.SECRET_X, A_VAL, 'bob did not override alice');
  r = await srv.api('GET', '/api/v2/templates/alices/secrets', { token: bob.token });
  assert.deepEqual(r.json.secrets.map((s) => [s.name, s.shared]), [['x', false]]);
  assert.ok(!r.text.includes(A_VAL) && !r.text.includes(B_VAL));
});

test('item 7: an admin\'s template secret reaches every user; a member\'s own value shadows it only for them', async () => {
  let r = await srv.pushTemplate(customTemplate('bot', ['sh', '-c', dump]) + 'env_secrets: {BOT_TOKEN: bot}\n');
  assert.equal(r.status, 201, r.text);
  assert.equal((await put('bot', 'bot', ADM_VAL, srv.token)).status, 204);
  assert.equal((await run('bot', alice.token, 'bot-a1')).env.BOT_TOKEN, ADM_VAL);
  assert.equal((await run('bot', bob.token, 'bot-b1')).env.BOT_TOKEN, ADM_VAL);

  assert.equal((await put('bot', 'bot', B2_VAL, bob.token)).status, 204);
  assert.equal((await run('bot', bob.token, 'bot-b2')).env.BOT_TOKEN, B2_VAL);
  assert.equal((await run('bot', alice.token, 'bot-a2')).env.BOT_TOKEN, ADM_VAL, 'bob shadowed the admin\'s secret for alice');
  assert.equal((await run('bot', srv.token, 'bot-adm')).env.BOT_TOKEN, ADM_VAL);

  r = await srv.api('GET', '/api/v2/templates/bot/secrets', { token: bob.token });
  assert.deepEqual(r.json.secrets.map((s) => [s.name, s.shared]), [['bot', true], ['bot', false]]);
  r = await srv.api('GET', '/api/v2/templates/bot/secrets', { token: alice.token });
  assert.deepEqual(r.json.secrets.map((s) => [s.name, s.shared]), [['bot', true]]);
  // bob removes his own, never the shared one
  assert.equal((await srv.api('DELETE', '/api/v2/templates/bot/secrets/bot', { token: bob.token })).status, 204);
  r = await srv.api('DELETE', '/api/v2/templates/bot/secrets/bot', { token: bob.token });
  assert.equal(r.status, 404);
  assert.match(r.json.detail, /only admins delete the shared ones/);
  assert.equal((await run('bot', bob.token, 'bot-b3')).env.BOT_TOKEN, ADM_VAL);
});

test('item 8: every file the server made in the data directory is private', async () => {
  const r = await srv.pushTemplate(customTemplate('modes', ['sh', '-c', dump], { setup: 'true' }));
  assert.equal(r.status, 201, r.text);
  const c = await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'modes', input: 'x', name: 'modes' } });
  assert.equal(c.status, 201, c.text);
  await srv.waitTask('admin', 'modes');
  const data = srv.data;
  const home = path.join(taskDir(srv, c.json.id), 'home');
  // the SQLite files, when the store is SQLite (PostgreSQL keeps its
  // files in its own cluster)
  const dbNames = testStore === 'sqlite' ? ['taskbox.db', 'taskbox.db-wal', 'taskbox.db-shm'] : [];
  if (testStore === 'sqlite') assert.ok(exists(path.join(data, 'taskbox.db-wal')), 'the WAL exists while the server runs');
  for (const f of [...dbNames, 'secrets.key'])
    assert.equal(fs.statSync(path.join(data, f)).mode & 0o777, 0o600, f);
  const expect = {
    '.': 0o711, tasks: 0o711, bin: 0o711, // traversed by the task uids, never listed
    'bin/taskbox': 0o755, // exec'd by the task uids (bound into every workspace)
  };
  const seen = [];
  const walk = (rel) => {
    const p = path.join(data, rel);
    const st = fs.lstatSync(p);
    const mode = st.mode & 0o777;
    seen.push(rel);
    if (rel in expect) assert.equal(mode, expect[rel], `${rel}: ${mode.toString(8)}`);
    else if (st.isDirectory()) assert.equal(mode & 0o077, 0, `directory ${rel}: ${mode.toString(8)}`);
    else assert.equal(mode & 0o077, 0, `${rel}: ${mode.toString(8)}`);
    // inside a task's home the files are the agent's own (its umask)
    if (st.isDirectory() && p !== path.join(home, 'workspace'))
      for (const e of fs.readdirSync(p)) walk(path.join(rel, e));
  };
  walk('.');
  for (const f of [...dbNames, 'secrets.key', 'bin/taskbox']) assert.ok(seen.includes(f), f);
  const td = path.relative(data, taskDir(srv, c.json.id));
  for (const f of ['', 'log', 'home', 'home/.gitconfig', 'home/workspace', 'run', 'run/setup.sh', 'run/egress.sock'])
    assert.ok(seen.includes(path.join(td, f)), `${td}/${f} was checked`);
  assert.equal(fs.statSync(taskDir(srv, c.json.id)).mode & 0o777, 0o700);
  await srv.api('DELETE', '/api/v2/tasks/me/modes');

  // files an older server left readable are made private at start
  const token = srv.token;
  await srv.stop();
  const dbFiles = fs.readdirSync(data).filter((f) => f.startsWith('taskbox.db'));
  for (const f of dbFiles) fs.chmodSync(path.join(data, f), 0o644);
  srv = await startServer({ data, token });
  for (const f of dbFiles) assert.equal(fs.statSync(path.join(data, f)).mode & 0o777, 0o600, `${f} after a restart`);
});

// Run `taskbox server` on data and return {code, stderr} (killed after 15 s).
function serverOnce(data) {
  const r = spawnSync(bin, ['server', '--listen', '127.0.0.1:0', '--data', data], {
    encoding: 'utf8', timeout: 15000, killSignal: 'SIGKILL',
  });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

// Every entry under dir with its type, size, mode and mtime.
function snapshot(dir) {
  return fs.readdirSync(dir, { recursive: true }).sort().map((f) => {
    const st = fs.lstatSync(path.join(dir, f));
    return `${f} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`;
  }).concat(`. ${fs.statSync(dir).mode.toString(8)}`);
}

test('item 9: a missing or empty database next to tasks refuses to start and writes nothing', () => {
  for (const db of ['missing', 'empty']) {
    const data = tmpdir('taskbox-orphans-');
    fs.mkdirSync(path.join(data, 'tasks/0b7e3a52-task/home'), { recursive: true, mode: 0o700 });
    if (db === 'empty') fs.writeFileSync(path.join(data, 'taskbox.db'), '', { mode: 0o600 });
    const before = snapshot(data);
    const r = serverOnce(data);
    assert.equal(r.code, 1, `${db}: the server started: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`data directory '${data}' holds 1 task directory .* database '${data}/taskbox.db' is ${db}`));
    assert.match(r.stderr, /Restore taskbox\.db .* from a backup, or move/);
    assert.doesNotMatch(r.stdout, /login token/);
    assert.deepEqual(snapshot(data), before, `${db}: something was written`);
    fs.rmSync(data, { recursive: true, force: true });
  }
});

// GET path with only a Cookie header; {status, json}.
async function withCookie(p, cookie) {
  const r = await fetch(srv.base + p, { headers: { Cookie: cookie }, redirect: 'manual' });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, type: r.headers.get('content-type') };
}

// Open an app URL with ?access_token=; returns {cookie: 'taskbox_session=...', header}.
async function browserSession(p, token) {
  const r = await fetch(`${srv.base}${p}?access_token=${token}`, { redirect: 'manual' });
  assert.equal(r.status, 303);
  const header = r.headers.get('set-cookie');
  assert.match(header, /^taskbox_session=tbs_[0-9a-f]{64}; Path=\/@alice\/web\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
  return { cookie: header.split(';')[0], header };
}

test('item 10: tokens are listed, revoked and expire; the browser cookie is a session of its own', async () => {
  const r0 = await srv.pushTemplate(customTemplate('websh', ['bash', '--norc', '-i']), alice.token);
  assert.equal(r0.status, 201, r0.text);
  await srv.createTask({ template: 'websh', input: 'echo hi', name: 'web' }, { token: alice.token });
  await srv.waitTask('alice', 'web', { token: alice.token });
  const app = '/@alice/web/apps/chat/status';

  // list: ids, names, times; never a value or a hash
  const lr = await srv.api('POST', '/api/v2/users/me/tokens', { token: alice.token, body: { name: 'laptop' } });
  assert.equal(lr.status, 201, lr.text);
  const laptop = lr.json;
  assert.equal(laptop.expires_at, null);
  let r = await srv.api('GET', '/api/v2/users/me/tokens', { token: alice.token });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.tokens.map((t) => t.name), ['initial', 'laptop']);
  for (const t of r.json.tokens) {
    assert.deepEqual(Object.keys(t).sort(), ['created_at', 'expired', 'expires_at', 'id', 'last_used_at', 'name']);
    assert.equal(t.expired, false);
  }
  assert.ok(!r.text.includes(alice.token) && !r.text.includes(laptop.token));
  assert.ok(r.json.tokens[0].last_used_at, 'the token in use shows when it was last used');
  assert.equal((await srv.api('GET', '/api/v2/users/alice/tokens')).json.count, 2, 'admins see anyone\'s');

  // another member: 404 for her tokens, her token ids, her sessions
  for (const [m, p] of [['GET', '/api/v2/users/alice/tokens'], ['DELETE', `/api/v2/users/alice/tokens/${laptop.id}`],
    ['DELETE', `/api/v2/users/me/tokens/${laptop.id}`], ['GET', '/api/v2/users/alice/sessions']]) {
    r = await srv.api(m, p, { token: bob.token });
    assert.equal(r.status, 404, `${m} ${p}: ${r.text}`);
  }
  assert.equal((await srv.api('GET', '/api/v2/users/me', { token: laptop.token })).status, 200, 'still alive');

  // bad lifetimes are 422
  for (const lifetime of [0, -5, 'tomorrow', 1.5, 400000000]) {
    r = await srv.api('POST', '/api/v2/users/me/tokens', { token: alice.token, body: { lifetime } });
    assert.equal(r.status, 422, `${lifetime}: ${r.text}`);
    assert.equal(r.json.errors[0].location, 'body.lifetime');
  }

  // the cookie is a session, not the token; it dies with its token
  const { cookie } = await browserSession(app, laptop.token);
  assert.ok(!cookie.includes(laptop.token), 'the token is in the cookie');
  assert.equal((await withCookie(app, cookie)).status, 200);
  assert.equal((await withCookie('/api/v2/users/me', cookie)).status, 401, 'the session is only for its path');
  assert.equal((await withCookie(app, `taskbox_session=${laptop.token}`)).status, 401, 'a token is no cookie');
  r = await srv.api('GET', '/api/v2/users/me/sessions', { token: alice.token });
  assert.equal(r.json.count, 1);
  assert.equal(r.json.sessions[0].token_id, laptop.id);
  assert.equal(r.json.sessions[0].path, '/@alice/web/');
  assert.ok(!r.text.includes(cookie.split('=')[1]));
  const hours = (Date.parse(r.json.sessions[0].expires_at) - Date.now()) / 3600000;
  assert.ok(hours > 23.9 && hours <= 24, `a session lasts 24 h, not ${hours}`);
  assert.equal((await srv.api('DELETE', `/api/v2/users/alice/tokens/${laptop.id}`, { token: alice.token })).status, 204);
  r = await srv.api('GET', '/api/v2/users/me', { token: laptop.token });
  assert.equal(r.status, 401);
  r = await withCookie(app, cookie);
  assert.equal(r.status, 401, 'revoking the token kills its session');
  assert.match(r.type, /application\/problem\+json/);
  assert.equal((await srv.api('GET', '/api/v2/users/me/sessions', { token: alice.token })).json.count, 0);

  // a session is revoked on its own; its token lives on
  const phone = (await srv.api('POST', '/api/v2/users/me/tokens', { token: alice.token, body: { name: 'phone' } })).json;
  const s2 = await browserSession(app, phone.token);
  const sid = (await srv.api('GET', '/api/v2/users/me/sessions', { token: alice.token })).json.sessions[0].id;
  assert.equal((await srv.api('DELETE', `/api/v2/users/me/sessions/${sid}`, { token: bob.token })).status, 404);
  assert.equal((await srv.api('DELETE', `/api/v2/users/me/sessions/${sid}`, { token: alice.token })).status, 204);
  assert.equal((await withCookie(app, s2.cookie)).status, 401);
  assert.equal((await srv.api('GET', '/api/v2/users/me', { token: phone.token })).status, 200);

  // a short-lived token: its session ends with it, then both are refused
  const brief = (await srv.api('POST', '/api/v2/users/me/tokens', { token: alice.token, body: { name: 'brief', lifetime: 2 } })).json;
  const left = Date.parse(brief.expires_at) - Date.now();
  assert.ok(left > 1000 && left <= 2000, `expires in ${left} ms`);
  const s3 = await browserSession(app, brief.token);
  assert.match(s3.header, /Max-Age=[12];?/);
  assert.equal((await withCookie(app, s3.cookie)).status, 200);
  await sleep(left + 300);
  r = await withCookie(app, s3.cookie);
  assert.equal(r.status, 401, 'an expired session cookie is refused');
  assert.match(r.json.detail, /session has expired/);
  r = await srv.api('GET', '/api/v2/users/me', { token: brief.token });
  assert.equal(r.status, 401);
  assert.match(r.headers.get('content-type'), /application\/problem\+json/);
  assert.match(r.json.detail, /token expired at .*taskbox token create/);
  r = await srv.api('GET', '/api/v2/users/me/tokens', { token: alice.token });
  assert.deepEqual(r.json.tokens.filter((t) => t.expired).map((t) => t.name), ['brief']);
  await srv.api('DELETE', '/api/v2/tasks/alice/web', { token: alice.token });
});
