// The LLM gateway behind a task's llm.sock (src/gateway/gateway.c): node
// clients on the host speak to the socket of a live task the way its agent
// does through 127.0.0.1:4000, and a tiny provider here answers. Checked:
// a streamed response reaches the agent chunk by chunk while the provider
// is still writing; several requests on one kept-alive connection; a
// chunked request body; the head and body limits (431, 413) and malformed
// requests (400); a target that would leave the provider's base (400);
// the provider's key put in place of the workspace's placeholder and
// found nowhere in the workspace; no Accept-Encoding or hop-by-hop header
// upstream; an upstream 401 passed through with its body; a slow reader
// still gets every byte of a large response (backpressure); a provider
// that is down is a 502 in the agent's provider format naming it, never
// its key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { startServer, customTemplate, waitFor, tmpdir, taskDir } from '../harness/server.mjs';

const KEY = `sk-gateway-test-${crypto.randomBytes(8).toString('hex')}`;
const keyFile = path.join(tmpdir(), 'gw-llm.key');
let srv, upstream, upPort, task;
const seen = []; // {method, url, headers, body} of each upstream request
let release = null; // lets the streaming reply go on

// The provider: Anthropic-like. x-test-status asks for an error status;
// "stream": true replies by SSE, holding its end until the test releases
// it (or 20 s pass: then `released` stays false and the test fails);
// GET /v1/models replies with `size` pseudo-random bytes.
function provider(req, res) {
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    const entry = { method: req.method, url: req.url, headers: req.headers, body };
    seen.push(entry);
    const want = Number(req.headers['x-test-status'] || 0);
    if (req.headers['x-api-key'] !== KEY && req.headers.authorization !== `Bearer ${KEY}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }));
      return;
    }
    if (want) {
      res.writeHead(want, { 'content-type': 'application/json', 'x-upstream': 'yes' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: `upstream says ${want}` } }));
      return;
    }
    if (req.url.startsWith('/v1/models')) {
      const size = Number(new URL(req.url, 'http://x').searchParams.get('size'));
      const data = crypto.createHash('sha256').update('seed').digest();
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let sent = 0;
      const pump = () => {
        while (sent < size) {
          const n = Math.min(65536, size - sent);
          const buf = Buffer.alloc(n);
          for (let i = 0; i < n; i++) buf[i] = data[(sent + i) % 32] ^ ((sent + i) >> 8 & 0xff);
          sent += n;
          if (!res.write(buf)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
      return;
    }
    let json = {};
    try { json = JSON.parse(body.toString() || '{}'); } catch { /* not JSON */ }
    if (json.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('event: message_start\ndata: {"type":"message_start","message":{"id":"m1","model":"claude-test",' +
        '"usage":{"input_tokens":11,"output_tokens":1}}}\n\n');
      entry.released = await new Promise((resolve) => {
        const late = setTimeout(() => resolve(false), 20000);
        release = () => { clearTimeout(late); resolve(true); };
      });
      res.write('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,' +
        '"delta":{"type":"text_delta","text":"hello"}}\n\n');
      res.write('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":7}}\n\n');
      res.end('event: message_stop\ndata: {"type":"message_stop"}\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' });
    res.end(JSON.stringify({ id: 'm2', type: 'message', model: 'claude-test', echo: body.length,
      content: [{ type: 'text', text: `hello ${req.method} ${req.url}` },],
      usage: { input_tokens: 3, output_tokens: 2 } }));
  });
}

function sock() {
  return path.join(taskDir(srv, task.id), 'run', 'llm.sock');
}

// One request on llm.sock with node's client; resolves {status, headers,
// text, reused}.
function request(method, p, { headers = {}, body, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock(), method, path: p, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
        text: Buffer.concat(chunks).toString(), reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// Raw bytes to llm.sock; resolves with all it answers until it closes.
function raw(bytes, { end = false } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock());
    const chunks = [];
    s.on('connect', () => { s.write(bytes); if (end) s.end(); });
    s.on('data', (d) => chunks.push(d));
    s.on('close', () => resolve(Buffer.concat(chunks).toString()));
    s.on('error', (e) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks).toString()) : reject(e)));
  });
}

before(async () => {
  upstream = http.createServer(provider);
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
  upPort = upstream.address().port;
  fs.writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  srv = await startServer({ args: ['--llm-url', `http://127.0.0.1:${upPort}`, '--llm-key-file', keyFile] });
  // inside: the environment, and one request as an agent sends it
  const inside = 'env > envdump; curl -s -m 10 http://127.0.0.1:4000/v1/messages -H "x-api-key: placeholder" ' +
    '-H "content-type: application/json" -d "{\\"inside\\":1}" > inside.json; exec sleep 1000';
  assert.equal((await srv.pushTemplate(customTemplate('gw', ['sh', '-c', inside]))).status, 201);
  task = await srv.createTask({ template: 'gw', input: 'x', name: 'gw' });
  await srv.waitTask('admin', 'gw');
});

after(async () => {
  release?.();
  await srv?.stop();
  upstream?.close();
  fs.rmSync(keyFile, { force: true });
});

test('the key is put in by the gateway and is nowhere in the workspace', async () => {
  const ws = path.join(taskDir(srv, task.id), 'home', 'workspace');
  const reply = await waitFor(() => {
    try { return JSON.parse(fs.readFileSync(path.join(ws, 'inside.json'), 'utf8')); } catch { return null; }
  }, { what: 'the in-task request answered' });
  assert.equal(reply.content[0].text, 'hello POST /v1/messages', 'the task reached the provider through llm.sock');
  const r = seen.find((s) => s.body.toString() === '{"inside":1}');
  assert.equal(r.headers['x-api-key'], KEY, 'the placeholder was replaced by the key');
  // no file the task can read holds the key
  const hits = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && fs.readFileSync(p).includes(KEY)) hits.push(p);
    }
  };
  walk(path.join(taskDir(srv, task.id), 'home'));
  assert.deepEqual(hits, [], 'the key is in no workspace file');
  assert.ok(fs.readFileSync(path.join(ws, 'envdump'), 'utf8').length > 0);
  // a Bearer placeholder too
  const b = await request('POST', '/v1/chat/completions', { headers: { authorization: 'Bearer placeholder',
    'content-type': 'application/json' }, body: '{"model":"m"}' });
  assert.equal(b.status, 200, b.text);
  assert.equal(seen.at(-1).headers.authorization, `Bearer ${KEY}`);
});

test('a stream reaches the agent chunk by chunk while the provider writes', async () => {
  const first = await new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock(), method: 'POST', path: '/v1/messages', agent: false,
      headers: { 'x-api-key': 'placeholder', 'content-type': 'application/json', 'accept-encoding': 'gzip, br',
        connection: 'keep-alive' } }, (res) => {
      let text = '';
      let firstChunk = null;
      res.setEncoding('utf8');
      res.on('data', (d) => {
        if (firstChunk === null) {
          firstChunk = d;
          release(); // only now may the provider finish
        }
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, firstChunk, text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ model: 'claude-test', stream: true }));
  });
  assert.equal(first.status, 200);
  assert.equal(first.headers['content-type'], 'text/event-stream');
  assert.equal(first.headers['transfer-encoding'], 'chunked');
  assert.match(first.firstChunk, /message_start/);
  assert.doesNotMatch(first.firstChunk, /message_stop/, 'the first chunk came before the provider ended');
  assert.match(first.text, /message_stop/);
  const up = seen.at(-1);
  assert.equal(up.released, true, 'the provider was released by the agent having the first chunk');
  assert.equal(up.headers['accept-encoding'], undefined, 'no Accept-Encoding upstream');
  assert.notEqual(up.headers.connection, 'keep-alive-from-agent');
  assert.equal(up.headers['x-api-key'], KEY);
});

test('several requests on one kept-alive connection, a chunked body among them', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const before = seen.length;
  const rs = [];
  for (let i = 0; i < 3; i++)
    rs.push(await request('POST', `/v1/messages?n=${i}`, { agent, headers: { 'x-api-key': 'placeholder',
      'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-test', n: i }) }));
  // a body of unknown length goes chunked
  rs.push(await new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock(), method: 'POST', path: '/v1/messages', agent,
      headers: { 'x-api-key': 'placeholder', 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.write('{"model":"claude-test",');
    req.end('"parts":2}');
  }));
  agent.destroy();
  assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200]);
  assert.deepEqual(rs.map((r) => r.reused), [false, true, true, true], 'one connection served them all');
  assert.deepEqual(seen.slice(before).map((s) => s.url), ['/v1/messages?n=0', '/v1/messages?n=1', '/v1/messages?n=2',
    '/v1/messages']);
  assert.equal(seen.at(-1).body.toString(), '{"model":"claude-test","parts":2}', 'the chunked body was decoded');
  assert.equal(JSON.parse(rs[3].text).echo, 33);
});

test('limits and malformed requests are refused with the reason', async () => {
  const big = await raw(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-pad: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 431 /);
  assert.match(big, /request head too large/);
  const body = await raw('POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 33554433\r\n\r\n{');
  assert.match(body, /^HTTP\/1\.1 413 /);
  assert.match(body, /request body too large/);
  assert.match(await raw('HELLO\r\n\r\n'), /^HTTP\/1\.1 400 /);
  assert.match(await raw('POST /v1/messages HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n'),
    /^HTTP\/1\.1 400 /, 'both framings: refused');
  assert.match(await raw('GET /v1/x HTTP/1.1\r\n folded: no\r\n\r\n'), /^HTTP\/1\.1 400 /);
  const n = seen.length;
  const escape = await raw('GET /v1/../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(escape, /^HTTP\/1\.1 400 /, escape);
  const at = await raw('GET @evil.example/v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(at, /^HTTP\/1\.1 400 /, at);
  const nf = await request('POST', '/v9/nowhere', { headers: { 'x-api-key': 'placeholder' }, body: '{}' });
  assert.equal(nf.status, 404, nf.text);
  assert.ok(JSON.parse(nf.text).error.message, 'a JSON error with a message');
  assert.equal(seen.length, n, 'nothing of these reached the provider');
});

test('upstream errors pass through with their body', async () => {
  const r = await request('POST', '/v1/messages', { headers: { 'x-api-key': 'placeholder', 'x-test-status': '401',
    'content-type': 'application/json' }, body: '{"model":"claude-test"}' });
  assert.equal(r.status, 401);
  assert.equal(r.headers['x-upstream'], 'yes');
  assert.equal(JSON.parse(r.text).error.message, 'upstream says 401');
  const s = await request('POST', '/v1/messages', { headers: { 'x-api-key': 'placeholder', 'x-test-status': '529',
    'content-type': 'application/json' }, body: '{}' });
  assert.equal(s.status, 529);
});

test('a slow reader gets every byte of a large response', async () => {
  const size = 12 * 1024 * 1024;
  const got = await new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock(), method: 'GET', path: `/v1/models?size=${size}`, agent: false,
      headers: { 'x-api-key': 'placeholder' } }, (res) => {
      const h = crypto.createHash('sha256');
      let n = 0;
      res.pause(); // the agent reads nothing for a while: the gateway must hold back
      setTimeout(() => {
        res.on('data', (d) => { n += d.length; h.update(d); });
        res.on('end', () => resolve({ status: res.statusCode, n, digest: h.digest('hex') }));
        res.resume();
      }, 1500);
    });
    req.on('error', reject);
    req.end();
  });
  const data = crypto.createHash('sha256').update('seed').digest();
  const want = crypto.createHash('sha256');
  for (let off = 0; off < size; off += 65536) {
    const b = Buffer.alloc(Math.min(65536, size - off));
    for (let i = 0; i < b.length; i++) b[i] = data[(off + i) % 32] ^ ((off + i) >> 8 & 0xff);
    want.update(b);
  }
  assert.equal(got.status, 200);
  assert.equal(got.n, size);
  assert.equal(got.digest, want.digest('hex'));
});

test('a provider that is down: 502 in the agent\'s format, naming it', async () => {
  // a port nothing listens on
  const dead = net.createServer();
  await new Promise((r) => dead.listen(0, '127.0.0.1', r));
  const deadPort = dead.address().port;
  await new Promise((r) => dead.close(r));
  const s2 = await startServer({ args: ['--llm-url', `http://127.0.0.1:${deadPort}`, '--llm-key-file', keyFile] });
  try {
    assert.equal((await s2.pushTemplate(customTemplate('idle', ['sh', '-c', 'exec sleep 1000']))).status, 201);
    const t = await s2.createTask({ template: 'idle', input: 'x', name: 'idle' });
    await s2.waitTask('admin', 'idle');
    const r = await new Promise((resolve, reject) => {
      const req = http.request({ socketPath: path.join(taskDir(s2, t.id), 'run', 'llm.sock'), method: 'POST',
        path: '/v1/messages', agent: false, headers: { 'x-api-key': 'placeholder', 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
      });
      req.on('error', reject);
      req.end('{"model":"claude-test"}');
    });
    assert.equal(r.status, 502, r.text);
    const j = JSON.parse(r.text);
    assert.equal(j.type, 'error', 'an Anthropic error for an Anthropic path');
    assert.match(j.error.message, /provider 'default'/);
    assert.match(j.error.message, /cannot be reached/);
    assert.doesNotMatch(r.text, new RegExp(KEY));
  } finally {
    await s2.stop();
  }
});

test('the server stops cleanly, without a sanitizer report', async () => {
  const s = srv;
  srv = null;
  await s.stop();
  assert.doesNotMatch(s.log, /Sanitizer|runtime error:/, s.log);
});
