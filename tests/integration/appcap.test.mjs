// appcap.test.mjs: a template app's URLs carry a capability (proxy.c,
// auth.c). A GET of /@owner/task/apps/slug/... authenticated the usual
// way is answered 303 to .../apps/slug/~k/CAP/... (the query kept, the
// token dropped); that URL needs no cookie nor token (a sandboxed page's
// own requests have an opaque origin and carry none). Every way a
// capability can be wrong answers the same 404: a tampered MAC, another
// task, another slug, the chat app, expired, a suspended, deleted or
// demoted user, a member who is not the owner. Expired and foreign ones
// are made here with the key the server derives from its secrets key
// (a good one made the same way is accepted, so the format is the
// server's). Proxied replies say Referrer-Policy: no-referrer. Two
// replicas (PostgreSQL) with the same secrets key accept each other's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, customTemplate, waitFor, storeSql, tmpdir } from '../harness/server.mjs';
import { pgDatabase } from '../harness/pg.mjs';

// the app: echoes what it was asked, redirects on /go (to its own root's
// /landed) and /back (to the task's plain app path)
const APP = `cat > app.js <<'EOF'
require('http').createServer((q, s) => {
  if (q.url.endsWith('/go')) { s.writeHead(302, { location: '/landed' }); return s.end(); }
  if (q.url.endsWith('/back')) { s.writeHead(302, { location: '/@alice/site/apps/web/x' }); return s.end(); }
  s.setHeader('content-type', 'text/plain');
  s.end(q.method + ' ' + q.url + ' referer=' + (q.headers.referer || '-') + ' cookie=' + (q.headers.cookie || '-'));
}).listen(8000, '127.0.0.1');
EOF
(node app.js >/dev/null 2>&1 &)`;
const CAP = /^\/@alice\/site\/apps\/web\/~k\/([A-Za-z0-9_-]{75})\/page\?x=1$/;

const TEMPLATE = customTemplate('capapp', ['bash', '--norc', '-i'], {
  setup: APP,
  apps: [{ slug: 'web', url: 'http://127.0.0.1:8000/' }, { slug: 'other', url: 'http://127.0.0.1:8000/o/' }],
});

let srv, alice, bob, site, site2, capKey;

before(async () => {
  srv = await startServer();
  assert.equal((await srv.pushTemplate(TEMPLATE)).status, 201);
  alice = await srv.user('alice');
  bob = await srv.user('bob');
  site = await srv.createTask({ template: 'capapp', input: 'true', name: 'site' }, { token: alice.token });
  site2 = await srv.createTask({ template: 'capapp', input: 'true', name: 'site2' }, { token: alice.token });
  for (const n of ['site', 'site2']) {
    await srv.waitTask('alice', n, { token: alice.token, timeout: 60000 });
    await waitFor(async () => (await get(`/@alice/${n}/apps/web/`, alice.token)).status === 200, { what: `the app of ${n}` });
  }
  // the key the server derives from its secrets key (auth.c)
  const key = fs.readFileSync(path.join(srv.data, 'secrets.key'));
  capKey = crypto.createHmac('sha256', key).update('taskbox app capability key v1').digest();
});

after(async () => {
  if (srv) {
    await srv.stop();
    fs.rmSync(srv.data, { recursive: true, force: true });
  }
});

// A request of p (redirects followed) with token, or none.
async function get(p, token, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(srv.base + p, { ...init, headers });
  return { status: r.status, text: await r.text(), headers: r.headers, url: r.url };
}

// The Location of a GET of p that is not followed.
async function capOf(p, token, slug = 'web') {
  const r = await fetch(srv.base + p, { redirect: 'manual', headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 303, await r.text());
  const m = r.headers.get('location').match(new RegExp(`/apps/${slug}/~k/([A-Za-z0-9_-]{75})/`));
  assert.ok(m, r.headers.get('location'));
  return m[1];
}

// A capability made with the server's key, as auth.c makes one.
function craft(userId, taskId, slug, expires) {
  const mac = crypto.createHmac('sha256', capKey).update(`app\0${userId}\0${taskId}\0${slug}\0${expires}`).digest();
  const exp = Buffer.alloc(8);
  exp.writeBigUInt64BE(BigInt(expires));
  return Buffer.concat([exp, Buffer.from(userId.replace(/-/g, ''), 'hex'), mac]).toString('base64url');
}

const now = () => Math.floor(Date.now() / 1000);
const capPath = (cap, rest = 'page', task = 'site', slug = 'web') => `/@alice/${task}/apps/${slug}/~k/${cap}/${rest}`;

// the one answer of every bad capability
let refused;
async function assertRefused(p, what) {
  const r = await get(p, null, { redirect: 'manual' });
  assert.equal(r.status, 404, `${what}: ${r.status} ${r.text}`);
  const detail = JSON.parse(r.text).detail;
  refused ??= detail;
  assert.equal(detail, refused, `${what}: the same answer whatever failed`);
  assert.doesNotMatch(r.text, /GET \/page/, what);
}

test('a GET without a capability is answered 303 to the path with one; that URL needs no cookie nor token', async () => {
  for (const [how, init] of [
    ['a token', { headers: { Authorization: `Bearer ${alice.token}` } }],
    ['?access_token=', {}],
  ]) {
    const p = how === '?access_token=' ? `/@alice/site/apps/web/page?x=1&access_token=${alice.token}` : '/@alice/site/apps/web/page?x=1';
    const r = await fetch(srv.base + p, { ...init, redirect: 'manual' });
    assert.equal(r.status, 303, how);
    const loc = r.headers.get('location');
    assert.match(loc, CAP, how);
    assert.equal(r.headers.get('set-cookie'), null, `${how}: no cookie`);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    // the capability alone, a Referer and a Cookie sent along are not passed on
    const a = await get(loc, null, { headers: { Referer: srv.base + loc, Cookie: 'taskbox_session=tbs_x' } });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.text, 'GET /page?x=1 referer=- cookie=-');
    assert.equal(a.headers.get('referrer-policy'), 'no-referrer', 'the capability leaks to no third party');
    assert.match(a.headers.get('content-security-policy'), /^sandbox allow-scripts/);
  }
  // a fetch that follows lands on the app
  const f = await get('/@alice/site/apps/web/a/b?y=2', alice.token);
  assert.equal(f.text, 'GET /a/b?y=2 referer=- cookie=-');
  assert.match(new URL(f.url).pathname, /^\/@alice\/site\/apps\/web\/~k\/[A-Za-z0-9_-]{75}\/a\/b$/);
  // the app's own root, with and without its trailing slash
  for (const p of ['/@alice/site/apps/web', '/@alice/site/apps/web/']) {
    const cap = await capOf(p, alice.token);
    const r = await get(`/@alice/site/apps/web/~k/${cap}/`);
    assert.equal(r.text, 'GET / referer=- cookie=-');
    const bare = await get(`/@alice/site/apps/web/~k/${cap}`);
    assert.equal(bare.text, 'GET / referer=- cookie=-');
  }
  // another user's task is no more visible than before
  const b = await fetch(srv.base + '/@alice/site/apps/web/', { redirect: 'manual', headers: { Authorization: `Bearer ${bob.token}` } });
  assert.equal(b.status, 404);
  // no credential at all: 401 as before
  assert.equal((await get('/@alice/site/apps/web/', null, { redirect: 'manual' })).status, 401);
});

test('with a capability: other methods, the app\'s redirects keep it, another slug\'s prefix is separate', async () => {
  const cap = await capOf('/@alice/site/apps/web/page?x=1', alice.token);
  const post = await get(capPath(cap, 'form'), null, { method: 'POST', body: 'a=1', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'null' } });
  assert.equal(post.status, 200, post.text);
  assert.equal(post.text, 'POST /form referer=- cookie=-');
  for (const [to, want] of [['go', '/landed'], ['back', '/x']]) {
    const r = await fetch(srv.base + capPath(cap, to), { redirect: 'manual' });
    assert.equal(r.status, 302, to);
    assert.equal(r.headers.get('location'), `/@alice/site/apps/web/~k/${cap}${want}`, to);
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
  }
  // the other app has its own capability, and its base path
  const o = await capOf('/@alice/site/apps/other/q', alice.token, 'other');
  assert.notEqual(o, cap);
  assert.equal((await get(capPath(o, 'q', 'site', 'other'))).text, 'GET /o/q referer=- cookie=-');
  // a non-GET with a token (an API client) is proxied as it is
  const api = await get('/@alice/site/apps/web/hook', alice.token, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
  assert.equal(api.text, 'POST /hook referer=- cookie=-');
});

test('a bad capability is the same 404 whatever is wrong with it', async () => {
  const cap = await capOf('/@alice/site/apps/web/page?x=1', alice.token);
  const o = await capOf('/@alice/site/apps/other/', alice.token, 'other');
  // one made with the key is accepted: the crafted ones below are real
  assert.equal((await get(capPath(craft(alice.id, site.id, 'web', now() + 600)))).status, 200);
  // tampered: the MAC, the expiry, the user
  const raw = Buffer.from(cap, 'base64url');
  for (const [what, at] of [['the MAC', 40], ['the expiry', 7], ['the user', 10]]) {
    const t = Buffer.from(raw);
    t[at] ^= 1;
    await assertRefused(capPath(t.toString('base64url')), `tampered ${what}`);
  }
  await assertRefused(capPath(cap.slice(0, -1)), 'cut short');
  // a POST is refused the same way before its body is read
  const t = Buffer.from(raw);
  t[40] ^= 1;
  const post = await get(capPath(t.toString('base64url'), 'form'), null, { method: 'POST', body: 'a=1', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  assert.equal(post.status, 404, post.text);
  assert.equal(JSON.parse(post.text).detail, refused);
  await assertRefused(capPath('x'), 'not one');
  await assertRefused(capPath(cap, 'page', 'site2'), 'another task');
  await assertRefused(capPath(cap, 'q', 'site', 'other'), 'another slug');
  await assertRefused(capPath(o, 'page'), 'the other slug\'s on this one');
  await assertRefused(capPath(cap, 'status', 'site', 'chat'), 'the chat app');
  await assertRefused(capPath(craft(alice.id, site.id, 'chat', now() + 600), 'status', 'site', 'chat'), 'one made for chat');
  await assertRefused(capPath(craft(alice.id, site.id, 'web', now() - 5)), 'expired');
  await assertRefused(capPath(craft(bob.id, site.id, 'web', now() + 600)), 'a member who is not the owner');
  await assertRefused(capPath(craft(crypto.randomUUID(), site.id, 'web', now() + 600)), 'no such user');
  // the capability does not stand for anything outside its app
  const api = await get(`/api/v2/tasks/alice/site?access_token=${cap}`);
  assert.equal(api.status, 401);
  // and the good one still works
  assert.equal((await get(capPath(cap))).status, 200);
});

test('a capability dies with its user\'s suspension, role or account', async () => {
  const dan = await srv.user('dan', 'admin');
  const eve = await srv.user('eve', 'admin');
  // admins act for alice: the 303 gives them one
  const forDan = await capOf('/@alice/site/apps/web/page?x=1', dan.token);
  const forEve = await capOf('/@alice/site/apps/web/page?x=1', eve.token);
  const forAlice = await capOf('/@alice/site/apps/web/page?x=1', alice.token);
  for (const c of [forDan, forEve, forAlice]) assert.equal((await get(capPath(c))).status, 200);

  // status and role set in the store (the server's cache sees them
  // within its age limit, auth.c; the API's PATCH drops it at once)
  const set = (col, v, name) => storeSql(srv.data, `UPDATE users SET ${col} = ? WHERE username = ?`, v, name);
  const refusedSoon = (p, what) => waitFor(async () => (await get(p, null, { redirect: 'manual' })).status === 404, { what, timeout: 20000 }).then(() => assertRefused(p, what));
  const acceptedSoon = (p, what) => waitFor(async () => (await get(p)).status === 200, { what, timeout: 20000 });

  set('status', 'suspended', 'eve');
  await refusedSoon(capPath(forEve), 'a suspended user');
  set('status', 'active', 'eve');
  await acceptedSoon(capPath(forEve), 'active again');
  set('role', 'member', 'eve');
  await refusedSoon(capPath(forEve), 'an admin made a member');

  const r = await srv.api('DELETE', '/api/v2/users/dan');
  assert.equal(r.status, 204, r.text);
  await assertRefused(capPath(forDan), 'a deleted user');

  set('status', 'suspended', 'alice');
  await refusedSoon(capPath(forAlice), 'the owner suspended');
  set('status', 'active', 'alice');
  await acceptedSoon(capPath(forAlice), 'the owner active again');
});

test('replicas with the same secrets key: the capability works through either', async () => {
  const db = pgDatabase();
  const servers = [];
  try {
    const a = await startServer({ args: ['--store', db.uri, '--replica', 'a'] });
    servers.push(a);
    const dataB = tmpdir('taskbox-server-');
    fs.copyFileSync(path.join(a.data, 'secrets.key'), path.join(dataB, 'secrets.key'));
    fs.chmodSync(path.join(dataB, 'secrets.key'), 0o600);
    const b = await startServer({ data: dataB, token: a.token, args: ['--store', db.uri, '--replica', 'b'] });
    servers.push(b);
    assert.equal((await a.pushTemplate(TEMPLATE)).status, 201);
    await a.createTask({ template: 'capapp', input: 'true', name: 'rsite' });
    await a.waitTask('admin', 'rsite', { timeout: 60000 });
    await b.waitTask('admin', 'rsite', { timeout: 60000 });
    // through B, which forwards to A (which runs it and makes the capability)
    const loc = await waitFor(async () => {
      const r = await fetch(b.base + '/@admin/rsite/apps/web/page?x=1', { redirect: 'manual', headers: { Authorization: `Bearer ${a.token}` } });
      return r.status === 303 && r.headers.get('location');
    }, { what: 'the 303 through B' });
    assert.match(loc, /^\/@admin\/rsite\/apps\/web\/~k\/[A-Za-z0-9_-]{75}\/page\?x=1$/);
    for (const s of [b, a]) {
      const r = await waitFor(async () => {
        const x = await fetch(s.base + loc);
        return x.status === 200 && x;
      }, { what: 'the app with the capability alone' });
      assert.equal(await r.text(), 'GET /page?x=1 referer=- cookie=-');
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    }
    const post = await fetch(b.base + loc.replace('/page?x=1', '/form'), { method: 'POST', body: 'a=1' });
    assert.equal(await post.text(), 'POST /form referer=- cookie=-');
    // a MAC changed: refused on either
    const cap = loc.split('/')[6];
    const bad = loc.replace(cap, cap.slice(0, 60) + (cap[60] === 'A' ? 'B' : 'A') + cap.slice(61));
    for (const s of [b, a]) assert.equal((await fetch(s.base + bad)).status, 404);
  } finally {
    for (const s of servers.reverse()) {
      await s.stop();
      fs.rmSync(s.data, { recursive: true, force: true });
    }
  }
});

test('a capability is never traded for a session cookie, whatever ?access_token= it carries', async () => {
  const cap = await capOf('/@alice/site/apps/web/page?x=1', alice.token);
  for (const tok of ['nonsense', alice.token]) {
    const r = await fetch(srv.base + capPath(cap) + `?x=1&access_token=${tok}`, { redirect: 'manual' });
    assert.equal(r.headers.get('set-cookie'), null, `${tok === 'nonsense' ? 'a made-up' : 'a real'} token: no session for the capability`);
    const text = await r.text();
    assert.equal(r.status, 200, text);
    // the token never reaches the app
    assert.equal(text, 'GET /page?x=1 referer=- cookie=-');
  }
  // the chat app still trades a real token for a cookie scoped to the task
  const c = await fetch(srv.base + `/@alice/site/apps/chat/status?access_token=${alice.token}`, { redirect: 'manual' });
  assert.equal(c.status, 303);
  const cookie = c.headers.get('set-cookie');
  assert.match(cookie, /^taskbox_session=tbs_[^;]+; Path=\/@alice\/site\/; HttpOnly; SameSite=Strict/);
  assert.equal(c.headers.get('location'), '/@alice/site/apps/chat/status');
  const session = cookie.split(';')[0];
  assert.equal((await get('/@alice/site/apps/chat/status', null, { headers: { Cookie: session } })).status, 200);
  // that cookie opens the template app the usual way (303 to a capability)
  const w = await fetch(srv.base + '/@alice/site/apps/web/page', { redirect: 'manual', headers: { Cookie: session } });
  assert.equal(w.status, 303);
  assert.match(w.headers.get('location'), /\/apps\/web\/~k\/[A-Za-z0-9_-]{75}\/page$/);
  // and is no help to a bad capability
  const bad = Buffer.from(cap, 'base64url');
  bad[40] ^= 1;
  await assertRefused(capPath(bad.toString('base64url')), 'a bad capability with a good scoped cookie');
  const r = await get(capPath(bad.toString('base64url')), null, { redirect: 'manual', headers: { Cookie: session } });
  assert.equal(r.status, 404, r.text);
});

test('a site session cookie is no help to a bad capability; HEAD is answered 303 too', async () => {
  const login = await fetch(srv.base + '/api/v2/users/login', { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: srv.base }, body: JSON.stringify({ token: alice.token }) });
  assert.equal(login.status, 200, await login.text());
  const site = login.headers.get('set-cookie').split(';')[0];
  const h = await fetch(srv.base + '/@alice/site/apps/web/page', { method: 'HEAD', redirect: 'manual', headers: { Cookie: site } });
  assert.equal(h.status, 303);
  const cap = h.headers.get('location').match(/~k\/([A-Za-z0-9_-]{75})\//)[1];
  const bad = Buffer.from(cap, 'base64url');
  bad[40] ^= 1;
  for (const method of ['GET', 'POST']) {
    const r = await get(capPath(bad.toString('base64url')), null, { method, redirect: 'manual', headers: { Cookie: site, Origin: srv.base }, body: method === 'POST' ? 'a=1' : undefined });
    assert.equal(r.status, 404, `${method}: ${r.text}`);
  }
});

test('the rest of the path reaches the app as it was escaped: no query or fragment made of %3F or %23', async () => {
  const cap = await capOf('/@alice/site/apps/web/page', alice.token);
  for (const [sent, seen] of [
    ['a%3Fb=1', '/a%3Fb=1'],
    ['a%23b', '/a%23b'],
    ['a%20b/caf%C3%A9', '/a%20b/caf%C3%A9'],
    ['100%25', '/100%25'],
    ['x?q=%3F', '/x?q=%3F'],
  ]) {
    const r = await get(capPath(cap, sent));
    assert.equal(r.status, 200, `${sent}: ${r.text}`);
    assert.equal(r.text, `GET ${seen} referer=- cookie=-`, sent);
  }
  // the 303 keeps the same escaping
  const r = await fetch(srv.base + '/@alice/site/apps/web/a%3Fb?c=%26', { redirect: 'manual', headers: { Authorization: `Bearer ${alice.token}` } });
  assert.match(r.headers.get('location'), /\/~k\/[A-Za-z0-9_-]{75}\/a%3Fb\?c=%26$/);
});
