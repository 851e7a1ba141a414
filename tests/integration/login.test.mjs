// login.test.mjs: signing in to the server (api-login.c, auth.c).
//
// A site session from a password (the first start's one-time password,
// a password an admin or the user set) or from a token; the cookie's
// attributes; CSRF for cookie writes; sign out; a password change ends
// the other sessions; wrong and unknown users get the same 401; the
// throttle of failed sign-ins (429 + Retry-After past its bound, a
// success clears the username's count); suspended users; roles and
// statuses only by admins; the password stored as an argon2id hash; the
// CLI verbs reading the password from stdin; the loop answering while
// hashes run. Runs on the store TASKBOX_TEST_STORE names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { startServer, storeSql, storeBytes, bin, tmpdir } from '../harness/server.mjs';

let srv;
let adminPassword;

before(async () => {
  srv = await startServer();
  const m = /login password of 'admin' \(shown once[^)]*\): (\S+)/.exec(srv.out);
  adminPassword = m?.[1];
});
after(async () => { await srv?.stop(); });

// POST /api/v2/users/login; returns {status, json, text, headers, cookie}.
async function login(body, headers = {}, server = srv) {
  const r = await server.api('POST', '/api/v2/users/login', { token: null, body, headers });
  const set = r.headers.getSetCookie?.() ?? [];
  const m = set.map((c) => /^taskbox_session=([^;]*)/.exec(c)).find(Boolean);
  return { ...r, setCookie: set, cookie: m ? m[1] : null };
}

// A call with the session cookie (and optionally the CSRF header and an
// Origin of the server's own).
function withCookie(method, p, cookie, { csrf, origin = true, body, server = srv } = {}) {
  const headers = { Cookie: `taskbox_session=${cookie}` };
  if (csrf) headers['X-Taskbox-CSRF'] = csrf;
  if (origin === true) headers.Origin = server.base;
  else if (origin) headers.Origin = origin;
  return server.api(method, p, { token: null, headers, body });
}

// Make user name with password pw (set by the admin); returns its token.
async function userWithPassword(name, pw, role = 'member') {
  const r = await srv.api('POST', '/api/v2/users', { body: { username: name, role, password: pw } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

test('the first start prints a password that signs the admin in', async () => {
  assert.ok(adminPassword, `no password in the banner:\n${srv.out}`);
  const r = await login({ username: 'admin', password: adminPassword });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.user.username, 'admin');
  assert.equal(r.json.user.has_password, true);
  assert.equal(r.json.user.status, 'active');
  assert.match(r.json.csrf_token, /^[0-9a-f]{64}$/);
  assert.ok(Date.parse(r.json.expires_at) > Date.now());
  assert.match(r.cookie, /^tbs_[0-9a-f]{64}$/);
  const me = await withCookie('GET', '/api/v2/users/me', r.cookie);
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.username, 'admin');
});

test('the cookie: HttpOnly, SameSite=Strict, Path=/, Max-Age; Secure behind https', async () => {
  const r = await login({ username: 'admin', password: adminPassword });
  assert.equal(r.status, 200, r.text);
  const c = r.setCookie.find((x) => x.startsWith('taskbox_session='));
  const attrs = c.split(';').slice(1).map((a) => a.trim());
  assert.ok(attrs.includes('HttpOnly'), c);
  assert.ok(attrs.includes('SameSite=Strict'), c);
  assert.ok(attrs.includes('Path=/'), c);
  const age = attrs.find((a) => a.startsWith('Max-Age='));
  assert.equal(Number(age.slice(8)), 7 * 86400, c);
  assert.ok(!attrs.includes('Secure'), 'Secure over plain http');
  const s = await login({ username: 'admin', password: adminPassword }, { 'X-Forwarded-Proto': 'https' });
  assert.equal(s.status, 200, s.text);
  assert.ok(s.setCookie.some((x) => x.startsWith('taskbox_session=') && / Secure(;|$)/.test(x)), s.setCookie.join('\n'));
});

test('a wrong password and an unknown user get the same 401', async () => {
  const a = await login({ username: 'admin', password: 'not the password' });
  const b = await login({ username: 'nobody-here', password: 'not the password' });
  assert.equal(a.status, 401);
  assert.equal(b.status, 401);
  assert.equal(a.json.detail, 'wrong username or password');
  assert.equal(b.text, a.text);
  assert.equal(a.cookie, null);
  // a user without a password is refused the same way
  await srv.user('nopass');
  const c = await login({ username: 'nopass', password: 'whatever-it-is' });
  assert.equal(c.status, 401);
  assert.equal(c.text, a.text);
});

test('sign in with a token: a session tied to it, method token', async () => {
  const tok = await srv.api('POST', '/api/v2/users/me/tokens', { body: { name: 'short', lifetime: 3600 } });
  assert.equal(tok.status, 201, tok.text);
  const r = await login({ token: tok.json.token });
  assert.equal(r.status, 200, r.text);
  assert.ok(Date.parse(r.json.expires_at) <= Date.parse(tok.json.expires_at), 'the session outlives its token');
  const s = await withCookie('GET', '/api/v2/users/me/session', r.cookie);
  assert.equal(s.status, 200, s.text);
  assert.equal(s.json.method, 'token');
  assert.equal(s.json.csrf_token, r.json.csrf_token);
  // listed with path "/" and its token
  const list = await srv.api('GET', '/api/v2/users/me/sessions');
  const mine = list.json.sessions.find((x) => x.token_id === tok.json.id);
  assert.ok(mine, list.text);
  assert.equal(mine.path, '/');
  // revoking the token ends the session
  assert.equal((await srv.api('DELETE', `/api/v2/users/me/tokens/${tok.json.id}`)).status, 204);
  assert.equal((await withCookie('GET', '/api/v2/users/me', r.cookie)).status, 401);
  // another site's page cannot sign the browser in (login CSRF)
  const tok2 = await srv.api('POST', '/api/v2/users/me/tokens', { body: { name: 'csrf' } });
  const cross = await login({ token: tok2.json.token }, { Origin: 'https://evil.example' });
  assert.equal(cross.status, 403, cross.text);
  assert.equal(cross.cookie, null);
  const same = await login({ token: tok2.json.token }, { Origin: srv.base });
  assert.equal(same.status, 200, same.text);
  // a bad token
  const bad = await login({ token: 'tbx_' + '0'.repeat(64) });
  assert.equal(bad.status, 401);
  assert.equal(bad.cookie, null);
});

test('a password session is listed (path /, no token) and ended by DELETE', async () => {
  await userWithPassword('lena', 'lena-password-1');
  const r = await login({ username: 'lena', password: 'lena-password-1' });
  const list = await withCookie('GET', '/api/v2/users/me/sessions', r.cookie);
  assert.equal(list.status, 200, list.text);
  assert.equal(list.json.count, 1, list.text);
  const [mine] = list.json.sessions;
  assert.equal(mine.path, '/');
  assert.equal(mine.token_id, null);
  const s = await withCookie('GET', '/api/v2/users/me/session', r.cookie);
  assert.equal(s.json.method, 'password');
  const del = await srv.api('DELETE', `/api/v2/users/lena/sessions/${mine.id}`);
  assert.equal(del.status, 204, del.text);
  assert.equal((await withCookie('GET', '/api/v2/users/me', r.cookie)).status, 401);
  // a 1024-byte password is fine, 1025 is not
  const long = 'p'.repeat(1024);
  assert.equal((await srv.api('PUT', '/api/v2/users/lena/password', { body: { password: long } })).status, 204);
  assert.equal((await login({ username: 'lena', password: long })).status, 200);
  assert.equal((await srv.api('PUT', '/api/v2/users/lena/password', { body: { password: long + 'p' } })).status, 422);
});

test('GET /users/me/session: 404 for a token caller', async () => {
  const r = await srv.api('GET', '/api/v2/users/me/session');
  assert.equal(r.status, 404, r.text);
  assert.match(r.json.detail, /not signed in with a browser session/);
});

test('a cookie write needs X-Taskbox-CSRF and a same-origin Origin', async () => {
  const r = await login({ username: 'admin', password: adminPassword });
  const body = { name: 'Ada Admin' };
  const none = await withCookie('PATCH', '/api/v2/users/me', r.cookie, { body });
  assert.equal(none.status, 403, none.text);
  const wrong = await withCookie('PATCH', '/api/v2/users/me', r.cookie, { body, csrf: '0'.repeat(64) });
  assert.equal(wrong.status, 403, wrong.text);
  const foreign = await withCookie('PATCH', '/api/v2/users/me', r.cookie, { body, csrf: r.json.csrf_token, origin: 'http://evil.example' });
  assert.equal(foreign.status, 403, foreign.text);
  const noOrigin = await withCookie('PATCH', '/api/v2/users/me', r.cookie, { body, csrf: r.json.csrf_token, origin: null });
  assert.equal(noOrigin.status, 403, noOrigin.text);
  const ok = await withCookie('PATCH', '/api/v2/users/me', r.cookie, { body, csrf: r.json.csrf_token });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.name, 'Ada Admin');
  // another session's CSRF token does not do
  const other = await login({ username: 'admin', password: adminPassword });
  const cross = await withCookie('PATCH', '/api/v2/users/me', r.cookie, { body, csrf: other.json.csrf_token });
  assert.equal(cross.status, 403, cross.text);
});

test('sign out ends the session and clears the cookie', async () => {
  const r = await login({ username: 'admin', password: adminPassword });
  assert.equal((await withCookie('GET', '/api/v2/users/me', r.cookie)).status, 200);
  const noCsrf = await withCookie('POST', '/api/v2/users/logout', r.cookie);
  assert.equal(noCsrf.status, 403, noCsrf.text);
  const out = await withCookie('POST', '/api/v2/users/logout', r.cookie, { csrf: r.json.csrf_token });
  assert.equal(out.status, 204, out.text);
  const cleared = out.headers.getSetCookie().find((c) => c.startsWith('taskbox_session='));
  assert.match(cleared, /^taskbox_session=;.*Max-Age=0/);
  const after = await withCookie('GET', '/api/v2/users/me', r.cookie);
  assert.equal(after.status, 401, after.text);
});

test('a password change ends the other sessions and keeps the caller\'s', async () => {
  await userWithPassword('erin', 'first-password');
  const a = await login({ username: 'erin', password: 'first-password' });
  const b = await login({ username: 'erin', password: 'first-password' });
  assert.equal(a.status, 200, a.text);
  assert.equal(b.status, 200, b.text);
  // self: the old password is needed
  const noOld = await withCookie('PUT', '/api/v2/users/me/password', a.cookie, { csrf: a.json.csrf_token, body: { password: 'second-password' } });
  assert.equal(noOld.status, 422, noOld.text);
  const badOld = await withCookie('PUT', '/api/v2/users/me/password', a.cookie, { csrf: a.json.csrf_token, body: { password: 'second-password', old_password: 'nope-nope' } });
  assert.equal(badOld.status, 403, badOld.text);
  const short = await withCookie('PUT', '/api/v2/users/me/password', a.cookie, { csrf: a.json.csrf_token, body: { password: 'short', old_password: 'first-password' } });
  assert.equal(short.status, 422, short.text);
  const ok = await withCookie('PUT', '/api/v2/users/me/password', a.cookie, { csrf: a.json.csrf_token, body: { password: 'second-password', old_password: 'first-password' } });
  assert.equal(ok.status, 204, ok.text);
  assert.equal((await withCookie('GET', '/api/v2/users/me', a.cookie)).status, 200, 'the caller\'s session was ended');
  assert.equal((await withCookie('GET', '/api/v2/users/me', b.cookie)).status, 401, 'the other session lives on');
  assert.equal((await login({ username: 'erin', password: 'first-password' })).status, 401);
  assert.equal((await login({ username: 'erin', password: 'second-password' })).status, 200);
  // an admin sets anyone's without the old one; a member not another's
  const byAdmin = await srv.api('PUT', '/api/v2/users/erin/password', { body: { password: 'third-password' } });
  assert.equal(byAdmin.status, 204, byAdmin.text);
  assert.equal((await withCookie('GET', '/api/v2/users/me', a.cookie)).status, 401, 'an admin\'s change left her session');
  const mallory = await srv.user('mallory');
  const other = await srv.api('PUT', '/api/v2/users/erin/password', { token: mallory.token, body: { password: 'mallory-was-here' } });
  assert.equal(other.status, 404, other.text);
});

test('passwords are stored as argon2id hashes, never in clear', async () => {
  await userWithPassword('frank', 'frank-secret-pw-123');
  const rows = storeSql(srv.data, 'SELECT password_hash FROM users WHERE username = ?', 'frank');
  assert.match(rows[0][0], /^\$argon2id\$/);
  assert.ok(!storeBytes(srv).includes('frank-secret-pw-123'), 'the password is in the store');
  assert.ok(!storeBytes(srv).includes(adminPassword), 'the admin password is in the store');
});

test('the loop answers while password hashes run', async () => {
  await userWithPassword('gina', 'gina-password-1');
  const order = [];
  const logins = Array.from({ length: 8 }, () =>
    login({ username: 'gina', password: 'gina-password-1' }).then((r) => { order.push('login'); return r; }));
  const info = srv.api('GET', '/api/v2/buildinfo', { token: null }).then((r) => { order.push('buildinfo'); return r; });
  const rs = await Promise.all([info, ...logins]);
  assert.equal(rs[0].status, 200);
  for (const r of rs.slice(1)) assert.equal(r.status, 200, r.text);
  assert.equal(order[0], 'buildinfo', order.join(' '));
});

test('a suspended user is refused on every credential; suspending ends their sessions', async () => {
  const sam = await userWithPassword('sam', 'sam-password-1');
  const s = await login({ username: 'sam', password: 'sam-password-1' });
  assert.equal(s.status, 200, s.text);
  const sus = await srv.api('PATCH', '/api/v2/users/sam', { body: { status: 'suspended' } });
  assert.equal(sus.status, 200, sus.text);
  assert.equal(sus.json.status, 'suspended');
  const byToken = await srv.api('GET', '/api/v2/users/me', { token: sam.token });
  assert.equal(byToken.status, 401, byToken.text);
  assert.equal(byToken.json.detail, 'the account is suspended');
  assert.equal((await withCookie('GET', '/api/v2/users/me', s.cookie)).status, 401, 'the session outlived the suspension');
  const pw = await login({ username: 'sam', password: 'sam-password-1' });
  assert.equal(pw.status, 403, pw.text);
  assert.equal(pw.cookie, null);
  const wrong = await login({ username: 'sam', password: 'not-sams-password' });
  assert.equal(wrong.status, 401, 'a wrong password tells nothing about the account');
  const tok = await login({ token: sam.token });
  assert.equal(tok.status, 401, tok.text);
  assert.match(tok.json.detail, /suspended/);
  // active again: the token works, and a password session can be made
  const act = await srv.api('PATCH', '/api/v2/users/sam', { body: { status: 'active' } });
  assert.equal(act.status, 200, act.text);
  assert.equal((await srv.api('GET', '/api/v2/users/me', { token: sam.token })).status, 200);
  const again = await login({ username: 'sam', password: 'sam-password-1' });
  assert.equal(again.status, 200, again.text);
  assert.equal((await withCookie('GET', '/api/v2/users/me', again.cookie)).status, 200);
});

test('roles and statuses: admins only, never their own', async () => {
  const mia = await srv.user('mia');
  await srv.user('noah');
  const own = await srv.api('PATCH', '/api/v2/users/me', { token: mia.token, body: { role: 'admin' } });
  assert.equal(own.status, 403, own.text);
  const ownStatus = await srv.api('PATCH', '/api/v2/users/me', { token: mia.token, body: { status: 'suspended' } });
  assert.equal(ownStatus.status, 403, ownStatus.text);
  const other = await srv.api('PATCH', '/api/v2/users/noah', { token: mia.token, body: { status: 'suspended' } });
  assert.equal(other.status, 404, other.text);
  assert.equal((await srv.api('GET', '/api/v2/users/me', { token: mia.token })).json.role, 'member');
  const self = await srv.api('PATCH', '/api/v2/users/me', { body: { role: 'member' } });
  assert.equal(self.status, 409, self.text);
  assert.match(self.json.detail, /your own role or status/);
  const selfSus = await srv.api('PATCH', '/api/v2/users/admin', { body: { status: 'suspended' } });
  assert.equal(selfSus.status, 409, selfSus.text);
  const bad = await srv.api('PATCH', '/api/v2/users/mia', { body: { role: 'root' } });
  assert.equal(bad.status, 422, bad.text);
  const badStatus = await srv.api('PATCH', '/api/v2/users/mia', { body: { status: 'gone' } });
  assert.equal(badStatus.status, 422, badStatus.text);
  const up = await srv.api('PATCH', '/api/v2/users/mia', { body: { role: 'admin' } });
  assert.equal(up.status, 200, up.text);
  assert.equal(up.json.role, 'admin');
  assert.equal((await srv.api('GET', '/api/v2/users/me', { token: mia.token })).json.role, 'admin', 'the cache kept the old role');
  const list = await srv.api('GET', '/api/v2/users');
  const row = list.json.users.find((u) => u.username === 'mia');
  assert.equal(row.status, 'active');
  assert.equal(row.has_password, false);
});

// One login from a given local address (127.0.0.X: the server keys its
// throttle on the client's address).
function loginFrom(server, localAddress, body) {
  const url = new URL('/api/v2/users/login', server.base);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', localAddress, agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) },
    }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

test('failed sign-ins are slowed down, then refused with 429; a success clears the username', async () => {
  // a server of its own: its throttle counts this test's failures only
  const t = await startServer({ args: ['--session-lifetime', '2h'] });
  try {
    const mk = await t.api('POST', '/api/v2/users', { body: { username: 'tina', password: 'tina-password-1' } });
    assert.equal(mk.status, 201, mk.text);
    const bad = { username: 'tina', password: 'wrong-password' };
    const good = { username: 'tina', password: 'tina-password-1' };
    const many = (addr, body, n) => Promise.all(Array.from({ length: n }, () => loginFrom(t, addr, body)));
    // the username's bound, in parallel: 20 failures for an unknown
    // user from two addresses, then a fresh address is refused too
    const ursula = (async () => {
      const rs = [...await many('127.0.0.6', { username: 'ursula', password: 'x' }, 10),
        ...await many('127.0.0.7', { username: 'ursula', password: 'x' }, 10)];
      for (const r of rs) assert.equal(r.status, 401, r.text);
      const r = await loginFrom(t, '127.0.0.8', { username: 'ursula', password: 'x' });
      assert.equal(r.status, 429, r.text);
      assert.ok(Number(r.headers['retry-after']) > 0, JSON.stringify(r.headers));
    })();
    // 15 failures for tina from .2
    for (const r of await many('127.0.0.2', bad, 15)) assert.equal(r.status, 401, r.text);
    // a success from .3 clears tina's count
    const ok = await loginFrom(t, '127.0.0.3', good);
    assert.equal(ok.status, 200, ok.text);
    assert.match(String(ok.headers['set-cookie']), /Max-Age=7200(;|$)/, '--session-lifetime 2h');
    // so 6 more from .4 are plain 401s (not cleared: 21 > 20, a 429)
    for (const r of await many('127.0.0.4', bad, 6)) assert.equal(r.status, 401, r.text);
    // .2 reaches the address's bound: 5 more fail, then even the right
    // password is refused from there
    for (const r of await many('127.0.0.2', bad, 5)) assert.equal(r.status, 401, r.text);
    const refused = await loginFrom(t, '127.0.0.2', good);
    assert.equal(refused.status, 429, refused.text);
    const after = Number(refused.headers['retry-after']);
    assert.ok(after > 0 && after <= 900, `Retry-After: ${refused.headers['retry-after']}`);
    // another address still signs tina in
    assert.equal((await loginFrom(t, '127.0.0.5', good)).status, 200);
    await ursula;
  } finally {
    await t.stop();
  }
});

// Run the CLI against srv with token; input goes to its stdin (a pipe,
// not a terminal). Returns {code, stdout, stderr}.
function cli(args, { token = srv.token, input = '' } = {}) {
  const env = { ...process.env, TASKBOX_URL: srv.base, TASKBOX_TOKEN: token, XDG_CONFIG_HOME: tmpdir('taskbox-cli-') };
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

test('the CLI: user create --password, set-password, set --suspend/--activate/--role, passwords from stdin', async () => {
  const mk = await cli(['user', 'create', 'carl', '--role', 'member', '--password'], { input: 'carl-password-1\n' });
  assert.equal(mk.code, 0, mk.stderr);
  const carlToken = mk.stdout.trim();
  assert.match(carlToken, /^tbx_/);
  assert.equal((await login({ username: 'carl', password: 'carl-password-1' })).status, 200);
  // his own change: the current password first, then the new one
  const wrongOld = await cli(['user', 'set-password'], { token: carlToken, input: 'not-his-password\ncarl-password-2\n' });
  assert.notEqual(wrongOld.code, 0);
  assert.match(wrongOld.stderr, /old_password is wrong/);
  const own = await cli(['user', 'set-password'], { token: carlToken, input: 'carl-password-1\ncarl-password-2\n' });
  assert.equal(own.code, 0, own.stderr);
  assert.equal((await login({ username: 'carl', password: 'carl-password-2' })).status, 200);
  // an admin sets his without the old one
  const byAdmin = await cli(['user', 'set-password', 'carl'], { input: 'carl-password-3\n' });
  assert.equal(byAdmin.code, 0, byAdmin.stderr);
  assert.equal((await login({ username: 'carl', password: 'carl-password-2' })).status, 401);
  assert.equal((await login({ username: 'carl', password: 'carl-password-3' })).status, 200);
  const short = await cli(['user', 'set-password', 'carl'], { input: 'short\n' });
  assert.notEqual(short.code, 0);
  assert.match(short.stderr, /8 to 1024 bytes/);
  const none = await cli(['user', 'set-password', 'carl'], { input: '' });
  assert.notEqual(none.code, 0);
  // suspend, activate, role
  const sus = await cli(['user', 'set', 'carl', '--suspend']);
  assert.equal(sus.code, 0, sus.stderr);
  assert.match(sus.stdout, /suspended/);
  assert.equal((await login({ username: 'carl', password: 'carl-password-3' })).status, 403);
  const meSus = await cli(['user', 'set', '--name', 'Carl'], { token: carlToken });
  assert.notEqual(meSus.code, 0);
  assert.match(meSus.stderr, /suspended/);
  assert.equal((await cli(['user', 'set', 'carl', '--activate'])).code, 0);
  assert.equal((await login({ username: 'carl', password: 'carl-password-3' })).status, 200);
  const promote = await cli(['user', 'set', 'carl', '--role', 'admin']);
  assert.equal(promote.code, 0, promote.stderr);
  assert.match(promote.stdout, /carl: admin, active/);
  const self = await cli(['user', 'set', 'admin', '--suspend']);
  assert.notEqual(self.code, 0);
  assert.match(self.stderr, /your own role or status/);
  // nothing in argv or on the terminal: the password never shows
  assert.ok(!mk.stdout.includes('carl-password-1') && !mk.stderr.includes('carl-password-1'));
});
