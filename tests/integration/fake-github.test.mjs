// fake-github.test.mjs: the fake GitHub of tests/harness/fake-github.mjs
// behaves as GitHub's OAuth and REST endpoints do where taskbox and
// coder/create-task-action rely on it: form-encoded token replies unless
// JSON is accepted, errors as HTTP 200 {error}, client secret and
// redirect_uri checks, codes good once, device codes pending until
// approved, rotating refresh tokens, expiring tokens, revocation, the
// /api/v3 prefix and the issue comment calls with their token checks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeGitHub } from '../harness/fake-github.mjs';

const ID = 'Iv1.selfcheck';
const SECRET = 'self-check-secret';
const API_TOKEN = 'ghs_actionsToken0001';
let gh, ghx;

before(async () => {
  const users = [{ id: 1, login: 'octocat', name: 'The Octocat' }, { id: 2, login: 'hubot', name: 'Hubot' }];
  gh = await startFakeGitHub({ clientId: ID, clientSecret: SECRET, users, apiToken: API_TOKEN });
  ghx = await startFakeGitHub({ clientId: ID, clientSecret: SECRET, users, tokenTtl: 1 });
});
after(async () => {
  await gh?.close();
  await ghx?.close();
});

const form = (o) => new URLSearchParams(o).toString();
async function token(fake, params, json = true) {
  const r = await fetch(`${fake.url}/login/oauth/access_token`, {
    method: 'POST', body: form(params),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(json ? { Accept: 'application/json' } : {}) },
  });
  assert.equal(r.status, 200, 'GitHub answers 200, errors included');
  const text = await r.text();
  return json ? JSON.parse(text) : Object.fromEntries(new URLSearchParams(text));
}

// Authorize as login through the page's form; returns the code.
async function authorize(fake, login, redirect = 'http://127.0.0.1:9/external-auth/github/callback') {
  fake.authorizeAs(login);
  const q = { client_id: ID, redirect_uri: redirect, state: 's1', scope: 'repo' };
  const page = await fetch(`${fake.url}/login/oauth/authorize?${form(q)}`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<button[^>]*>Authorize<\/button>/);
  const r = await fetch(`${fake.url}/login/oauth/authorize`, { method: 'POST', body: form(q), redirect: 'manual' });
  assert.equal(r.status, 302);
  const to = new URL(r.headers.get('location'));
  assert.equal(to.origin + to.pathname, redirect);
  assert.equal(to.searchParams.get('state'), 's1');
  return to.searchParams.get('code');
}

const user = (fake, t, scheme = 'Bearer', prefix = '') => fetch(`${fake.url}${prefix}/user`, { headers: { Authorization: `${scheme} ${t}` } });

test('the authorization code grant checks the client, the secret and the redirect_uri; a code is good once', async () => {
  let r = await fetch(`${gh.url}/login/oauth/authorize?client_id=other&redirect_uri=x`);
  assert.equal(r.status, 404);
  const redirect = 'http://127.0.0.1:9/external-auth/github/callback';
  let code = await authorize(gh, 'hubot');
  assert.equal((await token(gh, { client_id: ID, client_secret: 'wrong', code, redirect_uri: redirect })).error, 'incorrect_client_credentials');
  assert.equal((await token(gh, { client_id: ID, client_secret: SECRET, code, redirect_uri: 'http://elsewhere/callback' })).error, 'redirect_uri_mismatch');
  code = await authorize(gh, 'hubot');
  // form-encoded unless JSON is asked for
  const t = await token(gh, { client_id: ID, client_secret: SECRET, code, redirect_uri: redirect }, false);
  assert.match(t.access_token, /^gho_/);
  assert.equal(t.token_type, 'bearer');
  assert.equal(t.refresh_token, undefined, 'no refresh token without tokenTtl');
  assert.equal((await token(gh, { client_id: ID, client_secret: SECRET, code, redirect_uri: redirect })).error, 'bad_verification_code');
  r = await user(gh, t.access_token);
  assert.equal(r.status, 200);
  const u = await r.json();
  assert.equal(u.login, 'hubot');
  assert.equal(u.id, 2);
  assert.equal((await user(gh, t.access_token, 'token', '/api/v3')).status, 200, 'token auth and the Enterprise prefix');
  gh.revoke(t.access_token);
  r = await user(gh, t.access_token);
  assert.equal(r.status, 401);
  assert.deepEqual((await r.json()).message, 'Bad credentials');
  assert.equal((await user(gh, 'nope')).status, 401);
});

test('the device flow: pending until approved, denied, unknown codes', async () => {
  const r = await fetch(`${gh.url}/login/device/code`, { method: 'POST', body: form({ client_id: ID, scope: 'repo' }), headers: { Accept: 'application/json' } });
  const d = await r.json();
  assert.match(d.user_code, /^[0-9A-F]{4}-[0-9A-F]{4}$/);
  assert.equal(d.verification_uri, `${gh.url}/login/device`);
  const grant = 'urn:ietf:params:oauth:grant-type:device_code';
  assert.equal((await token(gh, { client_id: ID, device_code: d.device_code, grant_type: grant })).error, 'authorization_pending');
  assert.equal((await token(gh, { client_id: ID, device_code: 'nope', grant_type: grant })).error, 'incorrect_device_code');
  gh.approveDevice(d.user_code, 'octocat');
  const t = await token(gh, { client_id: ID, device_code: d.device_code, grant_type: grant });
  assert.equal((await (await user(gh, t.access_token)).json()).login, 'octocat');
  const e = await (await fetch(`${gh.url}/login/device/code`, { method: 'POST', body: form({ client_id: ID }), headers: { Accept: 'application/json' } })).json();
  gh.denyDevice(e.user_code);
  assert.equal((await token(gh, { client_id: ID, device_code: e.device_code, grant_type: grant })).error, 'access_denied');
});

test('expiring tokens come with rotating refresh tokens', async () => {
  const code = await authorize(ghx, 'octocat');
  const t = await token(ghx, { client_id: ID, client_secret: SECRET, code, redirect_uri: 'http://127.0.0.1:9/external-auth/github/callback' });
  assert.equal(t.expires_in, 1);
  assert.match(t.refresh_token, /^ghr_/);
  const n = await token(ghx, { client_id: ID, client_secret: SECRET, grant_type: 'refresh_token', refresh_token: t.refresh_token });
  assert.match(n.access_token, /^ghu_/);
  assert.notEqual(n.refresh_token, t.refresh_token);
  assert.equal((await token(ghx, { client_id: ID, client_secret: SECRET, grant_type: 'refresh_token', refresh_token: t.refresh_token })).error, 'bad_refresh_token', 'spent');
  // a token past its expiry is refused (polled: no timing assumption)
  const deadline = Date.now() + 10000;
  while ((await user(ghx, n.access_token)).status === 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await user(ghx, n.access_token)).status, 401);
});

test('issue comments: the Actions token or a user token, under / and /api/v3', async () => {
  const base = `${gh.url}/repos/acme/app/issues/7/comments`;
  assert.equal((await fetch(base)).status, 401);
  assert.equal((await fetch(base, { headers: { Authorization: 'token wrong' } })).status, 401);
  let r = await fetch(base, { method: 'POST', headers: { Authorization: `token ${API_TOKEN}` }, body: JSON.stringify({ body: 'Task created: x' }) });
  assert.equal(r.status, 201);
  const c = await r.json();
  r = await fetch(`${gh.url}/api/v3/repos/acme/app/issues/comments/${c.id}`, { method: 'PATCH', headers: { Authorization: `Bearer ${API_TOKEN}` }, body: JSON.stringify({ body: 'edited' }) });
  assert.equal(r.status, 200);
  r = await fetch(base, { headers: { Authorization: `Bearer ${API_TOKEN}` } });
  assert.deepEqual((await r.json()).map((x) => x.body), ['edited']);
  assert.deepEqual(gh.comments.get('acme/app#7').map((x) => x.body), ['edited']);
  assert.ok(gh.requests.some((q) => q.method === 'PATCH' && q.auth === `Bearer ${API_TOKEN}`));
});
