// extauth.test.mjs: external auth for GitHub (server/extauth.c,
// api-extauth.c) against the fake GitHub of tests/harness/fake-github.mjs:
// the admin's OAuth app config, the device flow (API and `taskbox user
// link github`), the web flow's state and callback, what a link records
// (users.github_user_id and login), the status check that notices a
// revoked token, refresh of expiring tokens (and a refused refresh
// token), unlinking, and a workspace of a `github: {token: owner}`
// template getting the linked token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startServer, customTemplate, waitFor, taskDir, exists, bin, tmpdir, storeSql, storeBytes } from '../harness/server.mjs';
import { startFakeGitHub } from '../harness/fake-github.mjs';

const CLIENT_ID = 'Iv1.fakeclient0001';
const CLIENT_SECRET = `fake-client-secret-${process.pid}-${Date.now()}`;
const USERS = [
  { id: 5001, login: 'octocat', name: 'The Octocat' },
  { id: 5002, login: 'hubot', name: 'Hubot' },
  { id: 5003, login: 'monalisa', name: 'Mona Lisa' },
  { id: 5004, login: 'spacecat', name: null },
  { id: 5005, login: 'ghost', name: 'Ghost' },
];

let gh, srv, alice, bob, carol;
// the expiring-token world: its own fake and server
let ghx, srvx, dave, erin;

const dump = ['env > env.txt', 'echo done > done', 'exec sleep 1000'].join('; ');

function config(fake, extra = {}) {
  return { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, base_url: fake.url, api_url: fake.url, ...extra };
}

before(async () => {
  gh = await startFakeGitHub({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, users: USERS });
  ghx = await startFakeGitHub({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, users: USERS, tokenTtl: 30 });
  srv = await startServer({ env: { TASKBOX_EXTAUTH_CHECK_INTERVAL: '0' } });
  srvx = await startServer({ env: { TASKBOX_EXTAUTH_REFRESH_MARGIN: '26', TASKBOX_EXTAUTH_CHECK_INTERVAL: '0' } });
  alice = await srv.user('alice');
  bob = await srv.user('bob');
  carol = await srv.user('carol');
  dave = await srvx.user('dave');
  erin = await srvx.user('erin');
});

after(async () => {
  for (const s of [srv, srvx]) {
    if (!s) continue;
    await s.stop();
    // an ASan build reports leaks and errors as it exits
    assert.doesNotMatch(s.log, /Sanitizer/, s.log);
  }
  await gh?.close();
  await ghx?.close();
});

// Link user (a {token}) on server s to the fake's login through the
// device flow over the API.
async function deviceLink(s, fake, user, login) {
  let r = await s.api('GET', '/api/v2/external-auth/github/device', { token: user.token });
  assert.equal(r.status, 200, r.text);
  const { device_code: code, user_code: userCode } = r.json;
  fake.approveDevice(userCode, login);
  r = await s.api('POST', '/api/v2/external-auth/github/device', { token: user.token, body: { device_code: code } });
  assert.equal(r.status, 204, r.text);
}

test('the OAuth app config: admins only, the secret never comes back, bad input is a 422', async () => {
  let r = await srv.api('GET', '/api/v2/external-auth/github/config');
  assert.equal(r.status, 404);
  r = await srv.api('GET', '/api/v2/external-auth/github', { token: alice.token });
  assert.equal(r.status, 404, 'not configured');
  assert.match(r.json.detail, /not configured/);
  r = await srv.api('GET', '/api/v2/external-auth', { token: alice.token });
  assert.deepEqual(r.json, { providers: [{ id: 'github', type: 'github', display_name: 'GitHub', configured: false, authenticated: false }] });

  for (const m of ['GET', 'PUT', 'DELETE']) {
    r = await srv.api(m, '/api/v2/external-auth/github/config', { token: alice.token, body: m === 'PUT' ? config(gh) : undefined });
    assert.equal(r.status, 403, `${m}: ${r.text}`);
  }
  for (const [body, loc] of [
    [{ client_secret: 'x' }, 'body.client_id'],
    [{ client_id: 'has space', client_secret: 'x' }, 'body.client_id'],
    [{ client_id: CLIENT_ID }, 'body.client_secret'],
    [{ client_id: CLIENT_ID, client_secret: 'x', base_url: 'ftp://github.com' }, 'body.base_url'],
    [{ client_id: CLIENT_ID, client_secret: 'x', base_url: 'https://u:p@github.com' }, 'body.base_url'],
    [{ client_id: CLIENT_ID, client_secret: 'x', api_url: 'https://api.github.com/?x=1' }, 'body.api_url'],
    [{ client_id: CLIENT_ID, client_secret: 'x', scopes: 'repo;rm' }, 'body.scopes'],
    [{ client_id: CLIENT_ID, client_secret: 'x', extra: 1 }, 'body'],
    [{ client_id: 7, client_secret: 'x' }, 'body.client_id'],
    [{ client_id: CLIENT_ID, client_secret: 'x', callback_url: 'https://tb.example.com/callback' }, 'body.callback_url'],
    [{ client_id: CLIENT_ID, client_secret: 'x', callback_url: 'ftp://tb.example.com/external-auth/github/callback' }, 'body.callback_url'],
    [{ client_id: CLIENT_ID, client_secret: 'x', callback_url: 'https://tb.example.com/external-auth/github/callback?x=1' }, 'body.callback_url'],
    [{ client_id: CLIENT_ID, client_secret: 'x', callback_url: 7 }, 'body.callback_url'],
  ]) {
    r = await srv.api('PUT', '/api/v2/external-auth/github/config', { body });
    assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.json.errors[0].location, loc, r.text);
  }
  // GitHub.com's defaults
  r = await srv.api('PUT', '/api/v2/external-auth/github/config', { body: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.base_url, 'https://github.com');
  assert.equal(r.json.api_url, 'https://api.github.com');
  assert.equal(r.json.scopes, 'repo read:user');
  // no callback_url: the address of the admin's request
  assert.equal(r.json.callback_url, `${srv.base}/external-auth/github/callback`);
  // an Enterprise base gets /api/v3; a callback_url is normalized
  r = await srv.api('PUT', '/api/v2/external-auth/github/config', { body: { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, base_url: 'https://ghe.example.com/', callback_url: 'https://tb.example.com/x/external-auth/github/callback/' } });
  assert.equal(r.json.api_url, 'https://ghe.example.com/api/v3');
  assert.equal(r.json.callback_url, 'https://tb.example.com/x/external-auth/github/callback');
  // left out, the stored one stays
  r = await srv.api('PUT', '/api/v2/external-auth/github/config', { body: config(gh) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.callback_url, 'https://tb.example.com/x/external-auth/github/callback');
  r = await srv.api('PUT', '/api/v2/external-auth/github/config', { body: config(gh, { callback_url: `${srv.base}/external-auth/github/callback` }) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.callback_url, `${srv.base}/external-auth/github/callback`);
  assert.equal(r.json.has_client_secret, true);
  assert.equal(r.json.client_id, CLIENT_ID);
  assert.equal(r.json.base_url, gh.url);
  // the secret is kept when a form leaves it out
  r = await srv.api('PUT', '/api/v2/external-auth/github/config', { body: { client_id: CLIENT_ID, base_url: gh.url, api_url: gh.url, scopes: 'repo' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.scopes, 'repo');
  // ... but never sent to another GitHub: a new base_url needs it again
  // (else an admin's session could point the app at a host that collects
  // the secret at the next code exchange)
  r = await srv.api('PUT', '/api/v2/external-auth/github/config', { body: { client_id: CLIENT_ID, base_url: 'https://collector.example.com', api_url: gh.url } });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.errors[0].location, 'body.client_secret', r.text);
  r = await srv.api('GET', '/api/v2/external-auth/github/config');
  assert.equal(r.json.base_url, gh.url, 'unchanged');
  assert.equal(r.status, 200);
  assert.ok(!r.text.includes(CLIENT_SECRET), 'the secret is never returned');
  assert.ok(!storeBytes(srv).includes(Buffer.from(CLIENT_SECRET)), 'the secret is sealed in the store');
  r = await srv.api('GET', '/api/v2/external-auth', { token: alice.token });
  assert.equal(r.json.providers[0].configured, true);
  // and the kept secret works (the fake checks it at the code exchange)
  assert.equal((await srvx.api('PUT', '/api/v2/external-auth/github/config', { body: config(ghx) })).status, 200);
});

test('the device flow links the account, records its id and login, and unlinking clears them', async () => {
  let r = await srv.api('GET', '/api/v2/external-auth/github', { token: alice.token });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, {
    authenticated: false, device: true, display_name: 'GitHub', user: null, app_installable: false,
    installations: [], app_install_url: '', expires_at: null, error: '',
  });
  r = await srv.api('GET', '/api/v2/external-auth/github/device', { token: alice.token });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.json).sort(), ['device_code', 'expires_in', 'interval', 'user_code', 'verification_uri']);
  assert.equal(r.json.verification_uri, `${gh.url}/login/device`);
  const { device_code: code, user_code: userCode } = r.json;
  r = await srv.api('POST', '/api/v2/external-auth/github/device', { token: alice.token, body: { device_code: code } });
  assert.equal(r.status, 400);
  assert.equal(r.json.detail, 'authorization_pending');
  r = await srv.api('POST', '/api/v2/external-auth/github/device', { token: alice.token, body: { device_code: 'nope' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.detail, 'incorrect_device_code');
  r = await srv.api('POST', '/api/v2/external-auth/github/device', { token: alice.token, body: {} });
  assert.equal(r.status, 422);
  gh.approveDevice(userCode, 'octocat');
  r = await srv.api('POST', '/api/v2/external-auth/github/device', { token: alice.token, body: { device_code: code } });
  assert.equal(r.status, 204, r.text);

  r = await srv.api('GET', '/api/v2/external-auth/github', { token: alice.token });
  assert.equal(r.json.authenticated, true, r.text);
  assert.deepEqual(r.json.user, { id: 5001, login: 'octocat', name: 'The Octocat', avatar_url: 'https://avatars.example.invalid/u/5001' });
  assert.equal(r.json.expires_at, null);
  const alice0 = storeSql(srv.data, 'SELECT github_user_id, github_login FROM users WHERE username = ?', 'alice');
  assert.deepEqual(alice0, [[5001, 'octocat']]);
  // what Coder's clients look users up by
  r = await srv.api('GET', '/api/v2/users?q=' + encodeURIComponent('github_com_user_id:5001'));
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.users.map((u) => u.username), ['alice']);
  r = await srv.api('GET', '/api/v2/users/me', { token: alice.token });
  assert.equal(r.json.github_com_user_id, 5001);
  assert.equal(r.json.github_login, 'octocat');
  const token = gh.latest('octocat').access_token;
  assert.ok(!storeBytes(srv).includes(Buffer.from(token)), 'the token is sealed in the store');
  assert.ok(!srv.log.includes(token), 'the token is never logged');
  r = await srv.api('GET', '/api/v2/external-auth', { token: alice.token });
  assert.equal(r.json.providers[0].authenticated, true);
  r = await srv.api('GET', '/api/v2/external-auth', { token: bob.token });
  assert.equal(r.json.providers[0].authenticated, false, 'links are per user');

  // another taskbox user cannot take the same GitHub account
  const d = await srv.api('GET', '/api/v2/external-auth/github/device', { token: bob.token });
  gh.approveDevice(d.json.user_code, 'octocat');
  r = await srv.api('POST', '/api/v2/external-auth/github/device', { token: bob.token, body: { device_code: d.json.device_code } });
  assert.equal(r.status, 409, r.text);
  assert.match(r.json.detail, /another taskbox user has linked the GitHub account octocat/);

  // unlink: the id the link set goes too
  r = await srv.api('DELETE', '/api/v2/external-auth/github', { token: alice.token });
  assert.equal(r.status, 204);
  r = await srv.api('DELETE', '/api/v2/external-auth/github', { token: alice.token });
  assert.equal(r.status, 404);
  assert.deepEqual(storeSql(srv.data, 'SELECT github_user_id, github_login FROM users WHERE username = ?', 'alice'), [[null, '']]);
  r = await srv.api('GET', '/api/v2/users?q=' + encodeURIComponent('github_com_user_id:5001'));
  assert.deepEqual(r.json.users, []);
  r = await srv.api('GET', '/api/v2/users/me', { token: alice.token });
  assert.equal('github_com_user_id' in r.json, false, 'absent when not linked');
  r = await srv.api('GET', '/api/v2/external-auth/github', { token: alice.token });
  assert.equal(r.json.authenticated, false);
});

test('a device code is its requester\'s: another user polling it links nothing', async () => {
  let r = await srv.api('GET', '/api/v2/external-auth/github/device', { token: alice.token });
  assert.equal(r.status, 200, r.text);
  const { device_code: code, user_code: userCode } = r.json;
  gh.approveDevice(userCode, 'ghost');
  // bob learned alice's device code (a shared terminal, a log): refused
  // before it reaches GitHub, so alice's approval is not spent either
  r = await srv.api('POST', '/api/v2/external-auth/github/device', { token: bob.token, body: { device_code: code } });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.detail, 'incorrect_device_code');
  r = await srv.api('GET', '/api/v2/external-auth/github', { token: bob.token });
  assert.equal(r.json.authenticated, false);
  r = await srv.api('POST', '/api/v2/external-auth/github/device', { token: alice.token, body: { device_code: code } });
  assert.equal(r.status, 204, r.text);
  r = await srv.api('GET', '/api/v2/external-auth/github', { token: alice.token });
  assert.equal(r.json.user.login, 'ghost');
  assert.equal((await srv.api('DELETE', '/api/v2/external-auth/github', { token: alice.token })).status, 204);
});

test('an id an admin set stays when the link goes', async () => {
  storeSql(srv.data, 'UPDATE users SET github_user_id = 5003, github_login = ? WHERE username = ?', 'monalisa', 'carol');
  await deviceLink(srv, gh, carol, 'monalisa');
  assert.deepEqual(storeSql(srv.data, 'SELECT github_user_id FROM users WHERE username = ?', 'carol'), [[5003]]);
  const r = await srv.api('DELETE', '/api/v2/external-auth/github', { token: carol.token });
  assert.equal(r.status, 204);
  assert.deepEqual(storeSql(srv.data, 'SELECT github_user_id FROM users WHERE username = ?', 'carol'), [[5003]]);
});

test('`taskbox user link github` runs the device flow; unlink removes it', async () => {
  const home = tmpdir('taskbox-cli-');
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: home, TASKBOX_URL: srv.base, TASKBOX_TOKEN: bob.token };
  const child = spawn(bin, ['user', 'link', 'github'], { env });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const m = await waitFor(() => /code:?\s+([A-F0-9]{4}-[A-F0-9]{4})/.exec(out + err), { what: 'the user code', timeout: 20000 });
  assert.ok((out + err).includes(`${gh.url}/login/device`), out + err);
  gh.approveDevice(m[1], 'hubot');
  assert.equal(await exited, 0, out + err);
  assert.match(out, /linked the GitHub account hubot/);
  let r = await srv.api('GET', '/api/v2/external-auth/github', { token: bob.token });
  assert.equal(r.json.user.login, 'hubot');

  const unlink = spawn(bin, ['user', 'unlink', 'github'], { env });
  let uout = '';
  unlink.stdout.on('data', (d) => { uout += d; });
  unlink.stderr.on('data', (d) => { uout += d; });
  assert.equal(await new Promise((resolve) => unlink.on('exit', resolve)), 0, uout);
  r = await srv.api('GET', '/api/v2/external-auth/github', { token: bob.token });
  assert.equal(r.json.authenticated, false);
});

// Sign token's user in; returns the session cookie ("taskbox_session=...").
async function sessionCookie(s, token) {
  const r = await s.api('POST', '/api/v2/users/login', { token: null, body: { token } });
  assert.equal(r.status, 200, r.text);
  return r.headers.get('set-cookie').split(';')[0];
}

// GET without following redirects.
const get = (url, cookie) => fetch(url, { redirect: 'manual', headers: cookie ? { Cookie: cookie } : {} });

// Start the web flow for a session: {state, stateCookie, authorize (URL)}.
async function webStart(cookie) {
  const r = await get(`${srv.base}/external-auth/github`, cookie);
  assert.equal(r.status, 303);
  const authorize = new URL(r.headers.get('location'));
  assert.equal(authorize.origin + authorize.pathname, `${gh.url}/login/oauth/authorize`);
  assert.equal(authorize.searchParams.get('client_id'), CLIENT_ID);
  assert.equal(authorize.searchParams.get('redirect_uri'), `${srv.base}/external-auth/github/callback`);
  const set = r.headers.get('set-cookie');
  assert.match(set, /HttpOnly/);
  assert.match(set, /SameSite=Lax/);
  return { state: authorize.searchParams.get('state'), stateCookie: set.split(';')[0], authorize };
}

// Approve on the fake's page as login; returns the callback URL it sends
// the browser to.
async function approve(authorize, login) {
  gh.authorizeAs(login);
  const page = await get(authorize.toString());
  assert.equal(page.status, 200);
  assert.match(await page.text(), /Authorize/);
  const r = await fetch(`${gh.url}/login/oauth/authorize`, {
    method: 'POST', redirect: 'manual',
    body: new URLSearchParams(Object.fromEntries(authorize.searchParams)),
  });
  assert.equal(r.status, 302);
  return r.headers.get('location');
}

test('the web flow: a signed-in browser links; a wrong, foreign or missing state is refused', async () => {
  // not signed in: to the login page
  let r = await get(`${srv.base}/external-auth/github`);
  assert.equal(r.status, 303);
  assert.match(r.headers.get('location'), /^\/login\?next=/);
  // a token is not a site session
  r = await fetch(`${srv.base}/external-auth/github`, { redirect: 'manual', headers: { Authorization: `Bearer ${carol.token}` } });
  assert.equal(r.status, 303);
  assert.match(r.headers.get('location'), /^\/login/);

  const carolCookie = await sessionCookie(srv, carol.token);
  const bobCookie = await sessionCookie(srv, bob.token);
  const mine = await webStart(carolCookie);
  const theirs = await webStart(bobCookie);
  const callback = await approve(mine.authorize, 'spacecat');
  assert.ok(callback.startsWith(`${srv.base}/external-auth/github/callback?`), callback);
  const refused = async (url, cookie) => {
    const x = await get(url, cookie);
    assert.equal(x.status, 303);
    const to = new URL(x.headers.get('location'), srv.base);
    assert.equal(to.pathname, '/settings');
    assert.equal(to.searchParams.get('external_auth_error'), 'state', to.toString());
  };
  // no state cookie
  await refused(callback, carolCookie);
  // someone else's state (and its cookie) with carol's code: the state
  // does not match the cookie
  const foreign = new URL(callback);
  foreign.searchParams.set('state', theirs.state);
  await refused(foreign.toString(), mine.stateCookie);
  // a state whose MAC is wrong, cookie and query alike
  const forged = mine.state.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
  const bad = new URL(callback);
  bad.searchParams.set('state', forged);
  await refused(bad.toString(), `taskbox_extauth_state=${forged}`);
  // another user's valid state with its own cookie links that user (the
  // MAC binds the state to who started it), never carol
  r = await srv.api('GET', '/api/v2/external-auth/github', { token: carol.token });
  assert.equal(r.json.authenticated, false);

  // the real thing
  r = await get(callback, mine.stateCookie);
  assert.equal(r.status, 303, await r.text());
  assert.equal(r.headers.get('location'), '/settings?external_auth=github');
  assert.match(r.headers.get('set-cookie'), /taskbox_extauth_state=;.*Max-Age=0/);
  r = await srv.api('GET', '/api/v2/external-auth/github', { token: carol.token });
  assert.equal(r.json.authenticated, true, r.text);
  assert.equal(r.json.user.login, 'spacecat');
  assert.equal(r.json.user.name, '');
  // a code is good once
  r = await get(callback, mine.stateCookie);
  assert.equal(new URL(r.headers.get('location'), srv.base).searchParams.get('external_auth_error'), 'github');
  assert.match(srv.log, /refused \(github\): GitHub refused the code: bad_verification_code/);
});

// A request to srv with headers fetch() will not send (Host):
// {status, headers, json}.
function raw(method, p, headers, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(srv.base);
    const q = http.request({ host: u.hostname, port: u.port, path: p, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, json: text.startsWith('{') ? JSON.parse(text) : null }));
    });
    q.on('error', reject);
    q.end(body);
  });
}

test('the callback URL: behind a proxy the admin\'s PUT decides it; the web flow never takes the request\'s Host', async () => {
  const henry = await srv.user('henry');
  const mallory = await srv.user('mallory');
  const henryCookie = await sessionCookie(srv, henry.token);
  const malloryCookie = await sessionCookie(srv, mallory.token);
  const stored = `${srv.base}/external-auth/github/callback`;
  const proxy = { Host: 'taskbox.example.com', 'X-Forwarded-Proto': 'https' };
  try {
    // a new config without callback_url: the address the admin used
    assert.equal((await srv.api('DELETE', '/api/v2/external-auth/github/config')).status, 204);
    const body = JSON.stringify(config(gh));
    let r = await raw('PUT', '/api/v2/external-auth/github/config',
      { ...proxy, Authorization: `Bearer ${srv.token}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }, body);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.callback_url, 'https://taskbox.example.com/external-auth/github/callback');
    // the start page sends it, whatever address the browser used
    for (const headers of [{ ...proxy, Cookie: henryCookie }, { Host: 'other.example.com', Cookie: henryCookie }]) {
      r = await raw('GET', '/external-auth/github', headers);
      assert.equal(r.status, 303);
      assert.equal(new URL(r.headers.location).searchParams.get('redirect_uri'), 'https://taskbox.example.com/external-auth/github/callback');
    }
    r = await srv.api('PUT', '/api/v2/external-auth/github/config', { body: config(gh, { callback_url: stored }) });
    assert.equal(r.json.callback_url, stored, r.text);

    // a callback with a forged Host exchanges the code with the stored
    // redirect_uri (GitHub would refuse any other)
    const mine = await webStart(henryCookie);
    const cb = new URL(await approve(mine.authorize, 'monalisa'));
    r = await raw('GET', cb.pathname + cb.search, { Host: 'attacker.example.com', Cookie: mine.stateCookie });
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, '/settings?external_auth=github');
    r = await srv.api('GET', '/api/v2/external-auth/github', { token: henry.token });
    assert.equal(r.json.user?.login, 'monalisa', JSON.stringify(r.json));

    // the attack: mallory starts a flow, sends the victim to GitHub with
    // a redirect_uri of a host mallory holds (GitHub allows subdomains of
    // the callback's host), gets the victim's code there and redeems it
    // at taskbox with a Host that names that redirect_uri
    const theirs = await webStart(malloryCookie);
    theirs.authorize.searchParams.set('redirect_uri', 'http://attacker.example.com/external-auth/github/callback');
    const stolen = new URL(await approve(theirs.authorize, 'ghost'));
    assert.equal(stolen.host, 'attacker.example.com');
    r = await raw('GET', stolen.pathname + stolen.search, { Host: 'attacker.example.com', Cookie: theirs.stateCookie });
    assert.equal(r.status, 303);
    assert.equal(new URL(r.headers.location, srv.base).searchParams.get('external_auth_error'), 'github', r.headers.location);
    r = await srv.api('GET', '/api/v2/external-auth/github', { token: mallory.token });
    assert.equal(r.json.authenticated, false, 'the victim\'s account is not linked to mallory');
    assert.equal(r.json.user, null);
    assert.match(srv.log, /redirect_uri_mismatch/);
  } finally {
    await srv.api('PUT', '/api/v2/external-auth/github/config', { body: config(gh, { callback_url: stored }) });
    await srv.api('DELETE', '/api/v2/external-auth/github', { token: henry.token });
  }
});

test('a revoked token: the status check marks the link invalid', async () => {
  await deviceLink(srv, gh, alice, 'octocat');
  gh.revoke(gh.latest('octocat').access_token);
  let r = await srv.api('GET', '/api/v2/external-auth/github', { token: alice.token });
  assert.equal(r.json.authenticated, false, r.text);
  assert.match(r.json.error, /GitHub refused the token .*link your GitHub account again/);
  assert.equal(r.json.user.login, 'octocat');
  r = await srv.api('GET', '/api/v2/external-auth', { token: alice.token });
  assert.equal(r.json.providers[0].authenticated, false);
  // linking again makes it good
  await deviceLink(srv, gh, alice, 'octocat');
  r = await srv.api('GET', '/api/v2/external-auth/github', { token: alice.token });
  assert.equal(r.json.authenticated, true, r.text);
});

// Run a task of template on s for user; returns its environment.
async function taskEnv(s, template, user, name) {
  const r = await s.api('POST', '/api/v2/tasks/me', { token: user.token, body: { template, input: 'x', name } });
  assert.equal(r.status, 201, r.text);
  const dir = path.join(taskDir(s, r.json.id), 'home/workspace');
  await waitFor(() => exists(path.join(dir, 'done')), { what: `${name} dumped`, timeout: 30000 });
  return Object.fromEntries(fs.readFileSync(path.join(dir, 'env.txt'), 'utf8').split('\n').filter(Boolean)
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

test('a `github: {token: owner}` template gets the linked token, else the github_token secret, else a pre-check names both', async () => {
  for (const s of [srv, srvx]) {
    const r = await s.pushTemplate(customTemplate('gh-owner', ['sh', '-c', dump]) + 'github: {token: owner}\n');
    assert.equal(r.status, 201, r.text);
  }
  const env = await taskEnv(srv, 'gh-owner', alice, 'linked');
  assert.equal(env.GITHUB_TOKEN, gh.latest('octocat').access_token);
  assert.equal(env.GH_TOKEN, env.GITHUB_TOKEN);

  // bob (unlinked): the secret; none: the pre-check says both ways
  let r = await srv.api('POST', '/api/v2/tasks/me', { token: bob.token, body: { template: 'gh-owner', input: 'x', name: 'none' } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.detail, /taskbox user link github/);
  assert.match(r.json.detail, /taskbox user set-token github/);
  r = await srv.api('PUT', '/api/v2/users/me/secrets/github_token', { token: bob.token, body: { value: 'ghp_bobsecret0001' } });
  assert.equal(r.status, 204);
  assert.equal((await taskEnv(srv, 'gh-owner', bob, 'secret')).GITHUB_TOKEN, 'ghp_bobsecret0001');
  // a link wins over the secret
  await deviceLink(srv, gh, bob, 'hubot');
  assert.equal((await taskEnv(srv, 'gh-owner', bob, 'both')).GITHUB_TOKEN, gh.latest('hubot').access_token);
});

test('expiring tokens are refreshed before they expire; a task gets the new one', async () => {
  await deviceLink(srvx, ghx, dave, 'octocat');
  const first = ghx.latest('octocat');
  let r = await srvx.api('GET', '/api/v2/external-auth/github', { token: dave.token });
  assert.equal(r.json.authenticated, true);
  assert.ok(Date.parse(r.json.expires_at) > Date.now(), r.json.expires_at);
  // 30 s tokens, a 26 s margin: refreshed about 4 s after they are issued
  await waitFor(() => ghx.issued.some((t) => t.login === 'octocat' && t.grant === 'refresh_token'),
    { what: 'a refresh', timeout: 30000, interval: 200 });
  const refreshed = ghx.issued.filter((t) => t.login === 'octocat' && t.grant === 'refresh_token');
  assert.ok(refreshed.length >= 1);
  // the rotated refresh token was spent once: no grant used it twice
  assert.ok(ghx.requests.filter((q) => q.path === '/login/oauth/access_token').length >= 2);
  const env = await taskEnv(srvx, 'gh-owner', dave, 'refreshed');
  assert.notEqual(env.GITHUB_TOKEN, first.access_token);
  assert.ok(refreshed.concat(ghx.issued.filter((t) => t.grant === 'refresh_token')).some((t) => t.access_token === env.GITHUB_TOKEN),
    'the task has a token from a refresh');
  r = await srvx.api('GET', '/api/v2/external-auth/github', { token: dave.token });
  assert.equal(r.json.authenticated, true, r.text);
});

test('a refused refresh token makes the link invalid', async () => {
  await deviceLink(srvx, ghx, erin, 'hubot');
  // every refresh token of hubot's is gone from the fake from now on
  const r = await waitFor(async () => {
    for (const t of ghx.issued) if (t.login === 'hubot' && t.refresh_token) ghx.revokeRefresh(t.refresh_token);
    const x = await srvx.api('GET', '/api/v2/external-auth/github', { token: erin.token });
    return x.json.authenticated === false ? x : null;
  }, { what: 'the link invalid', timeout: 30000, interval: 200 });
  assert.match(r.json.error, /GitHub refused the refresh token: link your GitHub account again/);
  // a task falls back (none here: the pre-check refuses)
  const c = await srvx.api('POST', '/api/v2/tasks/me', { token: erin.token, body: { template: 'gh-owner', input: 'x', name: 'x' } });
  assert.equal(c.status, 400, c.text);
});

test('deleting a user drops their link', async () => {
  const frank = await srv.user('frank');
  await deviceLink(srv, gh, frank, 'ghost');
  assert.deepEqual(storeSql(srv.data, 'SELECT count(*) FROM external_auth_links WHERE user_id = ?', frank.id), [[1]]);
  const r = await srv.api('DELETE', '/api/v2/users/frank');
  assert.ok(r.status === 204 || r.status === 200, r.text);
  await waitFor(() => storeSql(srv.data, 'SELECT count(*) FROM external_auth_links WHERE user_id = ?', frank.id)[0][0] === 0,
    { what: 'the link gone' });
});

test('`taskbox external-auth set|show|delete github` (admins)', async () => {
  const home = tmpdir('taskbox-cli-');
  const secretFile = path.join(home, 'secret');
  fs.writeFileSync(secretFile, `${CLIENT_SECRET}\n`, { mode: 0o600 });
  const cli = (args, token = srv.token) => spawnSync(bin, args, {
    encoding: 'utf8',
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: home, TASKBOX_URL: srv.base, TASKBOX_TOKEN: token },
  });
  let r = cli(['external-auth', 'set', 'github', '--client-id', CLIENT_ID, '--client-secret-file', secretFile,
    '--base-url', gh.url, '--api-url', gh.url, '--scopes', 'repo read:user']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`set the GitHub OAuth app ${CLIENT_ID.replace('.', '\\.')}`));
  r = cli(['external-auth', 'set', 'github', '--client-id', CLIENT_ID, '--client-secret-file', secretFile,
    '--base-url', gh.url, '--api-url', gh.url, '--callback-url', 'https://tb.example.com/external-auth/github/callback']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /callback URL https:\/\/tb\.example\.com\/external-auth\/github\/callback/);
  r = cli(['external-auth', 'set', 'github', '--client-id', CLIENT_ID, '--client-secret-file', secretFile,
    '--base-url', gh.url, '--api-url', gh.url, '--callback-url', 'https://tb.example.com/']);
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr, /callback_url/);
  r = cli(['external-auth', 'show', 'github']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /client secret: set/);
  assert.match(r.stdout, /callback url: +https:\/\/tb\.example\.com\/external-auth\/github\/callback/);
  assert.match(r.stdout, new RegExp(`base url: +${gh.url}`));
  assert.ok(!r.stdout.includes(CLIENT_SECRET));
  r = cli(['external-auth', 'show', 'github', '-o', 'json']);
  assert.equal(JSON.parse(r.stdout).client_id, CLIENT_ID);
  r = cli(['external-auth', 'show', 'github'], alice.token);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /only admins/);
  r = cli(['external-auth', 'set', 'github', '--client-id', CLIENT_ID]);
  assert.equal(r.status, 2, 'a usage error');
  r = cli(['external-auth', 'show', 'gitlab']);
  assert.equal(r.status, 2);
  r = cli(['external-auth', 'delete', 'github']);
  assert.equal(r.status, 0, r.stderr);
  r = cli(['external-auth', 'show', 'github']);
  assert.equal(r.status, 1);
  r = cli(['user', 'link', 'github'], alice.token);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not configured/);
});

test('a GitHub that answers garbage, too much or errors: clear 502s, nothing linked, the server stays up', async () => {
  // a hostile or broken "GitHub": each request takes the next behaviour
  const modes = [];
  const bad = http.createServer((req, res) => {
    req.resume();
    const mode = modes.shift() || 'text';
    if (mode === 'text') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('<html>not json'); }
    if (mode === 'huge') { res.writeHead(200, { 'content-type': 'application/json' }); res.end(`{"device_code":"${'a'.repeat(200000)}"}`); }
    if (mode === 'status') { res.writeHead(500); res.end('{}'); }
    if (mode === 'reset') req.socket.destroy();
    if (mode === 'redirect') { res.writeHead(302, { location: gh.url + '/login/device/code' }); res.end(); }
    if (mode === 'token-no-user') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"access_token":"gho_garbage_user","token_type":"bearer"}'); }
    if (mode === 'user-garbage') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"id":"5001","login":"octocat"}'); }
  });
  await new Promise((resolve) => bad.listen(0, '127.0.0.1', resolve));
  const badUrl = `http://127.0.0.1:${bad.address().port}`;
  const gina = await srv.user('gina');
  try {
    let r = await srv.api('PUT', '/api/v2/external-auth/github/config', { body: config({ url: badUrl }) });
    assert.equal(r.status, 200, r.text);
    for (const mode of ['text', 'huge', 'status', 'reset', 'redirect']) {
      modes.push(mode);
      r = await srv.api('GET', '/api/v2/external-auth/github/device', { token: gina.token });
      assert.equal(r.status, 502, `${mode}: ${r.text}`);
      assert.ok(r.json.detail.length < 300, `${mode}: a short detail`);
    }
    // a poll whose token comes back, then a GET /user that makes no sense
    modes.push('token-no-user', 'user-garbage');
    // the poll needs a code the server gave carol: take one from the real fake
    assert.equal((await srv.api('PUT', '/api/v2/external-auth/github/config', { body: config(gh) })).status, 200);
    const d = await srv.api('GET', '/api/v2/external-auth/github/device', { token: gina.token });
    assert.equal((await srv.api('PUT', '/api/v2/external-auth/github/config', { body: config({ url: badUrl }) })).status, 200);
    r = await srv.api('POST', '/api/v2/external-auth/github/device', { token: gina.token, body: { device_code: d.json.device_code } });
    assert.equal(r.status, 502, r.text);
    assert.ok(!r.text.includes('gho_garbage_user'), 'the token is not quoted back');
    assert.ok(!srv.log.includes('gho_garbage_user'), 'nor logged');
    r = await srv.api('GET', '/api/v2/external-auth/github', { token: gina.token });
    assert.equal(r.json.authenticated, false);
    assert.equal((await srv.api('GET', '/api/v2/users/me', { token: gina.token })).status, 200, 'still up');
  } finally {
    await new Promise((resolve) => bad.close(resolve));
  }
});
