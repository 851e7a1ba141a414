// web.test.mjs: how the server serves the web app (web/app/): the shell on
// every page path, its files under /app/ with the CSP, ETags and gzip,
// nothing else. The pages themselves are tested in Chromium
// (tests/e2e/web-*.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { startServer } from '../harness/server.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

// A GET with exactly these headers (fetch would add Accept-Encoding and
// decompress); headers.get() as fetch's.
function get(p, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get(server.base + p, { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: { get: (n) => res.headers[n.toLowerCase()] ?? null }, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

test('every page path answers the shell, with the CSP and no inline script', async () => {
  const shell = await get('/');
  assert.equal(shell.status, 200);
  assert.match(shell.headers.get('content-type'), /^text\/html/);
  const html = shell.body.toString();
  assert.match(html, /<script type="module" src="\/app\/main.js"><\/script>/);
  // every script has a src: the CSP allows no inline one
  assert.deepEqual([...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>/g)], []);
  const csp = shell.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self';/);
  assert.doesNotMatch(csp, /script-src[^;]*unsafe/);
  assert.match(csp, /object-src 'none'/);
  assert.match(csp, /frame-ancestors 'self'/);
  assert.equal(shell.headers.get('x-content-type-options'), 'nosniff');
  for (const p of ['/login', '/tasks', '/tasks/', '/tasks/alice/fix-it', '/templates', '/templates/shell', '/settings', '/users']) {
    const r = await get(p);
    assert.equal(r.status, 200, p);
    assert.equal(r.body.toString(), html, p);
  }
  for (const p of ['/tasksx', '/login2', '/nothing', '/app', '/app/', '/app/index.html', '/app/../web/chat/app.js', '/app/%2e%2e/x']) {
    const r = await get(p);
    assert.equal(r.status, 404, p);
    assert.match(r.headers.get('content-type'), /problem\+json/, p);
  }
});

test('assets: types, ETag revalidation, gzip, the embedded xterm.js', async () => {
  const js = await get('/app/main.js');
  assert.equal(js.status, 200);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(js.headers.get('cache-control'), 'no-cache');
  const etag = js.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{16}"$/);
  assert.equal((await get('/app/main.js', { 'If-None-Match': etag })).status, 304);
  assert.equal((await get('/app/main.js', { 'If-None-Match': '"0000000000000000"' })).status, 200);

  const gz = await get('/app/main.js', { 'Accept-Encoding': 'gzip, deflate' });
  assert.equal(gz.headers.get('content-encoding'), 'gzip');
  assert.ok(gz.body.length < js.body.length);
  assert.deepEqual(zlib.gunzipSync(gz.body), js.body);

  assert.equal((await get('/app/style.css')).headers.get('content-type'), 'text/css; charset=utf-8');
  const xterm = await get('/app/vendor/xterm.mjs');
  assert.equal(xterm.status, 200, 'built without xterm.js (scripts/bootstrap.sh deps installs it into $TASKBOX_TOOLS/webdeps; reconfigure the build)');
  assert.equal(xterm.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.match(xterm.body.toString(), /export\s*\{[^}]*as Terminal\s*\}/);
  assert.equal((await get('/app/vendor/xterm.css')).status, 200);
});

test('page paths take no writes', async () => {
  for (const m of ['POST', 'PUT', 'DELETE']) {
    const r = await fetch(`${server.base}/tasks`, { method: m });
    assert.ok(r.status === 404 || r.status === 405 || r.status === 401, `${m} /tasks: ${r.status}`);
  }
});
