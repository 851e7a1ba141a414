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
// its key. Hostile shapes: headers the agent's Connection lists and a
// second credential header stay home; request bodies held are bounded per
// task (503); requests sent ahead are served as the agent reads (no 431,
// no unbounded answers); an agent that stops reading is dropped; an agent
// that hangs up after the content is still charged the output tokens of
// the final usage event (the transfer read on without it), and deleting
// its task cancels that transfer; no proxy
// from the server's environment; a response header with a bare CR is
// dropped; a gzip reply sent unasked still has its usage read. Then, against the harness's fake upstreams over https with a
// test CA (tests/harness/fake-llm.mjs, which checks credentials as the
// services do): Anthropic with a key, Bedrock signed by SigV4 (verified by
// botocore) streamed in eventstream framing and not, Vertex with a token
// the gateway fetched by the JWT grant; the usage each task recorded
// equals what the fake reported; a workspace budget gives a 429 in the
// provider's format and pauses the task; an https provider whose
// certificate is not trusted is a 502. A streamed Chat Completions request
// is asked for its usage (stream_options.include_usage). Last, a task with a budget may
// have 8 requests in flight: more get a 429 and the task goes on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { startServer, customTemplate, waitFor, tmpdir, taskDir, root } from '../harness/server.mjs';
import { startFakeLlm } from '../harness/llm.mjs';
import { makeTestCa } from '../harness/tls.mjs';

const KEY = `sk-gateway-test-${crypto.randomBytes(8).toString('hex')}`;
const keyFile = path.join(tmpdir(), 'gw-llm.key');
let srv, upstream, upPort, task;
const seen = []; // {method, url, headers, body} of each upstream request
let release = null; // lets the streaming reply go on
const held = []; // releases of the streams asked with x-test-hold

// The provider: Anthropic-like. x-test-status asks for an error status;
// "stream": true replies by SSE, holding its end until the test releases
// it (or 20 s pass: then `released` stays false and the test fails);
// GET /v1/models replies with `size` pseudo-random bytes.
function provider(req, res) {
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    const entry = { method: req.method, url: req.url, headers: req.headers, raw: req.rawHeaders, body };
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
      res.on('close', () => { entry.closed = !res.writableFinished; });
      const content = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,' +
        '"delta":{"type":"text_delta","text":"hello"}}\n\n';
      if (req.headers['x-test-content-first']) res.write(content); // then the usage, once released
      entry.released = await new Promise((resolve) => {
        const late = setTimeout(() => resolve(false), 20000);
        const go = () => { clearTimeout(late); resolve(true); };
        if (req.headers['x-test-hold']) held.push(go);
        else release = go;
      });
      if (!req.headers['x-test-content-first']) res.write(content);
      res.write('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":7}}\n\n');
      res.end('event: message_stop\ndata: {"type":"message_stop"}\n\n');
      return;
    }
    if (req.headers['x-test-gzip']) { // encoded though nobody asked
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(zlib.gzipSync(JSON.stringify({ id: 'm3', type: 'message', model: 'claude-test',
        content: [{ type: 'text', text: 'zipped' }], usage: { input_tokens: 3, output_tokens: 2 } })));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' });
    res.end(JSON.stringify({ id: 'm2', type: 'message', model: 'claude-test', echo: body.length,
      content: [{ type: 'text', text: `hello ${req.method} ${req.url}` },],
      usage: { input_tokens: 3, output_tokens: 2 } }));
  });
}

function sock(t = task) {
  return path.join(taskDir(srv, t.id), 'run', 'llm.sock');
}

// One request on llm.sock with node's client; resolves {status, headers,
// text, reused}.
function request(method, p, { headers = {}, body, agent = false, t = task } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock(t), method, path: p, headers, agent }, (res) => {
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
  // a proxy in the server's environment that must not be used (nothing
  // listens there), and a small bound on the request bodies held at once
  const proxy = 'http://127.0.0.1:9';
  srv = await startServer({ args: ['--llm-url', `http://127.0.0.1:${upPort}`, '--llm-key-file', keyFile],
    env: { http_proxy: proxy, https_proxy: proxy, HTTPS_PROXY: proxy, ALL_PROXY: proxy, all_proxy: proxy,
      NO_PROXY: '', no_proxy: '', TASKBOX_GATEWAY_BUFFER_MAX: String(64 << 20),
      TASKBOX_GATEWAY_STALL_MS: '10000' } });
  // inside: the environment, and one request as an agent sends it
  const inside = 'env > envdump; curl -s -m 10 http://127.0.0.1:4000/v1/messages -H "x-api-key: placeholder" ' +
    '-H "content-type: application/json" -d "{\\"inside\\":1}" > inside.json; exec sleep 1000';
  assert.equal((await srv.pushTemplate(customTemplate('gw', ['sh', '-c', inside]))).status, 201);
  task = await srv.createTask({ template: 'gw', input: 'x', name: 'gw' });
  await srv.waitTask('admin', 'gw');
});

after(async () => {
  release?.();
  fake?.child.kill();
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

test('headers a Connection header lists stay home; one credential header goes upstream', async () => {
  const r = await request('POST', '/v1/messages', { headers: { 'x-api-key': 'placeholder',
    authorization: 'Bearer placeholder', connection: 'keep-alive, X-Hop-Secret', 'x-hop-secret': 'agent-only',
    'x-kept': 'yes', 'content-type': 'application/json' }, body: '{"hop":1}' });
  assert.equal(r.status, 200, r.text);
  const up = seen.find((s) => s.body.toString() === '{"hop":1}');
  assert.equal(up.headers['x-hop-secret'], undefined, 'a header named by Connection is hop-by-hop');
  assert.equal(up.headers['x-kept'], 'yes');
  const creds = [];
  for (let i = 0; i < up.raw.length; i += 2) {
    if (/^(authorization|x-api-key|x-goog-api-key|api-key)$/i.test(up.raw[i])) creds.push(up.raw[i + 1]);
  }
  assert.deepEqual(creds, [KEY], 'the key once, in the header the provider reads');
});

test('request bodies held at once are bounded per task and server-wide: 503 in the provider format', async () => {
  // 64 MiB on the server (TASKBOX_GATEWAY_BUFFER_MAX), so 8 MiB per task:
  // a 6 MiB body held while its stream runs, then more than 2 MiB
  const pad = 'a'.repeat(6 << 20);
  const held = request('POST', '/v1/messages', { headers: { 'x-api-key': 'placeholder',
    'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-test', stream: true, pad }) });
  await waitFor(() => seen.find((e) => e.body.length > (6 << 20)), { what: 'the 6 MiB request upstream' });
  // just over the share, all of it read before the refusal (no EPIPE)
  const more = 'x'.repeat((2 << 20) + 4096);
  const b = await raw(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: ${3 << 20}\r\n\r\n${more}`);
  assert.match(b, /^HTTP\/1\.1 503 /, 'the task would hold more than its share');
  const j = JSON.parse(b.slice(b.indexOf('\r\n\r\n') + 4));
  assert.equal(j.type, 'error', 'an Anthropic error for an Anthropic path');
  assert.match(j.error.message, /too many request bodies/);
  release();
  const h = await held;
  assert.equal(h.status, 200);
  assert.match(h.text, /message_stop/);
  // the first body was given back when its exchange ended
  const c = await request('POST', '/v1/messages', { headers: { 'x-api-key': 'placeholder',
    'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-test', more }) });
  assert.equal(c.status, 200, c.text);
});

test('requests sent ahead are served only as the agent reads the answers', async () => {
  const one = 'GET /v9/pipelined HTTP/1.1\r\nHost: x\r\n\r\n';
  const single = await raw(one.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
  assert.match(single, /^HTTP\/1\.1 404 /);
  const K = 50000; // ~2 MB of requests, ~13 MB of answers
  const s = net.connect(sock());
  await new Promise((r) => s.on('connect', r));
  s.pause(); // the agent reads nothing for now
  let got = 0, err = null;
  s.on('error', (e) => { err = e; });
  s.on('data', (d) => { got += d.length; });
  const written = new Promise((r) => s.write(one.repeat(K), () => r(true)));
  // a gateway that kept reading would queue every answer in memory; this
  // one stops, so the requests cannot all leave the agent
  const early = await Promise.race([written, new Promise((r) => setTimeout(() => r(false), 5000))]);
  assert.equal(err, null, 'the connection held (no 431 for requests sent ahead)');
  assert.equal(early, false, 'the gateway read on while its answers were not read');
  s.resume();
  assert.equal(await written, true);
  const each = single.length - 'Connection: close\r\n'.length;
  await waitFor(() => got >= K * each, { timeout: 150000, what: 'every answer' });
  assert.equal(got, K * each, 'each request answered once');
  s.destroy();
});

test('a gzip response the provider sent unasked: passed on as it came, its usage read', async () => {
  const usage = async () => (await srv.api('GET', '/api/v2/tasks/admin/gw/usage')).json.total;
  const before = await waitFor(usage, { what: 'the usage' });
  const r = await new Promise((resolve, reject) => {
    const q = http.request({ socketPath: sock(), method: 'POST', path: '/v1/messages', agent: false,
      headers: { 'x-api-key': 'placeholder', 'x-test-gzip': '1', 'content-type': 'application/json' } }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    q.on('error', reject);
    q.end('{"model":"claude-test"}');
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-encoding'], 'gzip');
  assert.match(zlib.gunzipSync(r.body).toString(), /zipped/);
  await waitFor(async () => {
    const u = await usage();
    return u.requests === before.requests + 1 && u.input_tokens === before.input_tokens + 3 &&
      u.output_tokens === before.output_tokens + 2;
  }, { what: 'the usage of the gzip response counted' });
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

test('an agent that stops reading a response is dropped (its transfer read on without it)', async () => {
  // TASKBOX_GATEWAY_STALL_MS is 10 s here (120 s by default)
  const size = 32 * 1024 * 1024;
  const s = net.connect(sock());
  let got = 0;
  const closed = new Promise((r) => s.on('close', r));
  s.on('error', () => {});
  s.on('connect', () => s.write(`GET /v1/models?size=${size} HTTP/1.1\r\nx-api-key: placeholder\r\n\r\n`));
  s.on('data', (d) => { got += d.length; });
  await waitFor(() => got > 0, { what: 'the response begins' });
  s.pause(); // the agent reads nothing more
  await waitFor(() => /gateway task=\S+: the agent did not read the response/.test(srv.log),
    { timeout: 90000, interval: 200, what: 'the stalled agent dropped' });
  s.resume(); // what was queued, then the end
  await closed;
  assert.ok(got < size, `the response was cut (${got} of ${size} bytes)`);
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

// ---- every kind of credential, against the harness's fakes over https ----

const AKID = 'AKIDGATEWAYTEST00001';
const AWS_SECRET = `gw/test+secret/${crypto.randomBytes(4).toString('hex')}`;
const ANT_KEY = `sk-ant-gw-${crypto.randomBytes(6).toString('hex')}`;
const FAKE_USAGE = { input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 3, cache_creation_input_tokens: 4 };
const ANT_BODY = JSON.stringify({ model: 'claude-sonnet-4', max_tokens: 16,
  messages: [{ role: 'user', content: 'say hello' }] });
const ANT_STREAM = JSON.stringify({ ...JSON.parse(ANT_BODY), stream: true });
const BR_BODY = JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 16,
  messages: [{ role: 'user', content: 'say hello' }] });
const VX_BODY = JSON.stringify({ anthropic_version: 'vertex-2023-10-16', max_tokens: 16,
  messages: [{ role: 'user', content: 'say hello' }] });
let fake, fakeLog, ca;
const tasks = {};

// What the fake logged so far.
function fakeRequests() {
  const t = fs.existsSync(fakeLog) ? fs.readFileSync(fakeLog, 'utf8').trim() : '';
  return t ? t.split('\n').map((l) => JSON.parse(l)) : [];
}

// A task of a template on provider (with a workspace budget when given).
async function providerTask(name, provider, budget) {
  const y = `name: ${name}\n${budget ? `workspace:\n  budget: ${JSON.stringify(budget)}\n` : ''}` +
    `agent:\n  module: gwprobe\n  provider: ${provider}\nai_task:\n  app: chat\n`;
  const r = await srv.pushTemplate(y);
  assert.equal(r.status, 201, r.text);
  tasks[name] = await srv.createTask({ template: name, input: 'x', name });
  await srv.waitTask('admin', name);
  return tasks[name];
}

test('providers of every credential kind over https: key, SigV4, Vertex token', async () => {
  const scratch = tmpdir('taskbox-gw-');
  ca = makeTestCa(path.join(scratch, 'tls'));
  const sa = JSON.parse(fs.readFileSync(path.join(root, 'tests/unit/gauth/throwaway-service-account.json'), 'utf8'));
  const saFile = path.join(scratch, 'sa.json');
  fs.writeFileSync(saFile, JSON.stringify(sa), { mode: 0o600 });
  fakeLog = path.join(scratch, 'fake.jsonl');
  fake = await startFakeLlm({ turns: [{ match: 'say hello', reply: 'Hello through the gateway.' }], default: 'default' }, {
    dir: scratch, log: fakeLog, tls: ca,
    args: ['--aws-access-key-id', AKID, '--aws-secret-access-key', AWS_SECRET, '--aws-region', 'us-west-2',
      '--service-account', saFile, '--require-key', ANT_KEY, '--usage', JSON.stringify(FAKE_USAGE)],
  });
  const mod = await srv.api('POST', '/api/v2/modules', { headers: { 'Content-Type': 'application/yaml' },
    body: 'name: gwprobe\nagent_type: custom\ncommand: [sh, -c, "exec sleep 1000"]\n' +
      'default_provider: anthropic\nproviders:\n' +
      ['anthropic', 'bedrock', 'vertex'].map((t) => `  ${t}:\n    env: {PROBE_BASE: "{{llm_url}}"}\n`).join('') });
  assert.ok(mod.status === 201 || mod.status === 200, mod.text);
  const put = async (name, body) => {
    const r = await srv.api('PUT', `/api/v2/providers/${name}`, { body });
    assert.equal(r.status, 200, r.text);
  };
  await put('ant', { type: 'anthropic', url: fake.url, key: ANT_KEY, ca_pem: ca.caPem });
  await put('ant-wrong', { type: 'anthropic', url: fake.url, key: `${ANT_KEY}-not`, ca_pem: ca.caPem });
  await put('ant-untrusted', { type: 'anthropic', url: fake.url, key: ANT_KEY });
  await put('bed', { type: 'bedrock', url: fake.url, region: 'us-west-2', aws_access_key_id: AKID,
    aws_secret_access_key: AWS_SECRET, ca_pem: ca.caPem });
  await put('vtx', { type: 'vertex', url: fake.url, region: 'us-east5', project: 'proj-gw',
    service_account: JSON.stringify({ ...sa, token_uri: `${fake.url}/token` }), ca_pem: ca.caPem });

  // Anthropic: the key in place of the placeholder, JSON and SSE
  const a = await providerTask('t-ant', 'ant');
  const aj = await request('POST', '/v1/messages', { t: a, headers: { 'x-api-key': 'placeholder',
    'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: ANT_BODY });
  assert.equal(aj.status, 200, aj.text);
  assert.match(aj.text, /Hello through the gateway\./);
  const as = await request('POST', '/v1/messages', { t: a, headers: { 'x-api-key': 'placeholder',
    'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: ANT_STREAM });
  assert.equal(as.status, 200, as.text);
  assert.match(as.headers['content-type'], /text\/event-stream/);
  assert.match(as.text, /message_stop/);

  // Bedrock: unsigned from the agent (its own Authorization dropped),
  // signed by the gateway; the fake's botocore check accepts it
  const b = await providerTask('t-bed', 'bed');
  const model = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
  const bi = await request('POST', `/model/${encodeURIComponent(model)}/invoke`, { t: b,
    headers: { 'content-type': 'application/json', authorization: 'Bearer placeholder', 'x-amz-date': '20000101T000000Z' },
    body: BR_BODY });
  assert.equal(bi.status, 200, bi.text);
  assert.match(bi.text, /Hello through the gateway\./);
  const bs = await request('POST', `/model/${encodeURIComponent(model)}/invoke-with-response-stream`, { t: b,
    headers: { 'content-type': 'application/json' }, body: BR_BODY });
  assert.equal(bs.status, 200, bs.text);
  assert.match(bs.headers['content-type'], /application\/vnd\.amazon\.eventstream/);
  // (the fake logs a stream once it ended)
  const bedReqs = await waitFor(() => {
    const l = fakeRequests().filter((r) => r.path.startsWith('/model/'));
    return l.length === 2 ? l : null;
  }, { what: 'both Bedrock requests logged' });
  for (const r of bedReqs) assert.doesNotMatch(r.headers.authorization, /placeholder/);
  assert.notEqual(bedReqs[0].headers['x-amz-date'], '20000101T000000Z', "the agent's x-amz-date was dropped");

  // Vertex: a token fetched by the JWT grant at the fake's /token
  const v = await providerTask('t-vtx', 'vtx');
  const vr = await request('POST', '/v1/projects/ignored/locations/ignored/publishers/anthropic/models/' +
    'claude-sonnet-4@20250514:rawPredict', { t: v, headers: { 'content-type': 'application/json' }, body: VX_BODY });
  assert.equal(vr.status, 200, vr.text);
  assert.match(vr.text, /Hello through the gateway\./);
  const vx = await waitFor(() => fakeRequests().find((r) => r.path.includes(':rawPredict')),
    { what: `the Vertex request logged (${fakeRequests().map((r) => r.path).join(' ')})` });
  assert.match(vx.path, /^\/v1\/projects\/proj-gw\/locations\/us-east5\//, 'the provider\'s project and region');
  assert.ok(fakeRequests().some((r) => r.path === '/token'), 'a token was fetched');

  // usage: what the fake reported, per task
  for (const [name, n] of [['t-ant', 2], ['t-bed', 2], ['t-vtx', 1]]) {
    const u = await srv.api('GET', `/api/v2/tasks/admin/${name}/usage`);
    assert.equal(u.status, 200, u.text);
    assert.deepEqual({ ...u.json.total, cost_usd: 0 }, { requests: n, input_tokens: 100 * n, output_tokens: 20 * n,
      cache_read_input_tokens: 3 * n, cache_creation_input_tokens: 4 * n, cost_usd: 0 }, `${name}: ${u.text}`);
  }
});

test("a wrong key: the provider's 401 reaches the agent; an untrusted certificate: 502", async () => {
  const w = await providerTask('t-wrong', 'ant-wrong');
  const r = await request('POST', '/v1/messages', { t: w, headers: { 'x-api-key': 'placeholder',
    'content-type': 'application/json' }, body: ANT_BODY });
  assert.equal(r.status, 401, r.text);
  assert.equal(JSON.parse(r.text).type, 'error');
  assert.equal(JSON.parse(r.text).error.type, 'authentication_error', 'the provider\'s own error');
  const u = await providerTask('t-untrusted', 'ant-untrusted');
  const e = await request('POST', '/v1/messages', { t: u, headers: { 'x-api-key': 'placeholder',
    'content-type': 'application/json' }, body: ANT_BODY });
  assert.equal(e.status, 502, e.text);
  assert.match(JSON.parse(e.text).error.message, /provider 'ant-untrusted' \(anthropic\) cannot be reached/);
  assert.doesNotMatch(e.text, new RegExp(ANT_KEY));
});

test('a response header line with a control byte is not passed on', async () => {
  // a provider that puts a bare CR in a header (libcurl keeps it)
  const bad = net.createServer((c) => {
    c.once('data', () => c.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Split: a\rInjected: yes\r\n' +
      'X-Ok: 1\r\nContent-Length: 2\r\n\r\n{}'));
    c.on('error', () => {});
  });
  await new Promise((r) => bad.listen(0, '127.0.0.1', r));
  try {
    const put = await srv.api('PUT', '/api/v2/providers/ant-crlf', {
      body: { type: 'anthropic', url: `http://127.0.0.1:${bad.address().port}`, key: ANT_KEY } });
    assert.equal(put.status, 200, put.text);
    const t = await providerTask('t-crlf', 'ant-crlf');
    const text = await new Promise((resolve, reject) => {
      const s = net.connect(sock(t));
      const chunks = [];
      s.on('connect', () => s.write('POST /v1/messages HTTP/1.1\r\nx-api-key: placeholder\r\n' +
        `Content-Type: application/json\r\nConnection: close\r\nContent-Length: ${ANT_BODY.length}\r\n\r\n${ANT_BODY}`));
      s.on('data', (d) => chunks.push(d));
      s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      s.on('error', reject);
    });
    assert.match(text, /^HTTP\/1\.1 200 /, text);
    assert.match(text, /\r\nX-Ok: 1\r\n/i);
    assert.doesNotMatch(text, /Injected|X-Split/i, 'the line with a bare CR was dropped');
    assert.doesNotMatch(text, /\r(?!\n)/, 'no bare CR reaches the agent');
  } finally {
    bad.close();
  }
});

test('past a workspace budget: 429 in the provider format, the task paused', async () => {
  const t = await providerTask('t-budget', 'ant', { tokens: 50 });
  const hdr = { 'x-api-key': 'placeholder', 'content-type': 'application/json' };
  const n0 = fakeRequests().length;
  const first = await request('POST', '/v1/messages', { t, headers: hdr, body: ANT_BODY });
  assert.equal(first.status, 200, 'nothing used yet: within the budget');
  // the fake logs a request after answering it: wait for its line
  const n = await waitFor(() => fakeRequests().length === n0 + 1 && n0 + 1, { what: 'the first request logged' });
  const over = await request('POST', '/v1/messages', { t, headers: hdr, body: ANT_BODY });
  assert.equal(over.status, 429, over.text);
  const j = JSON.parse(over.text);
  assert.equal(j.type, 'error');
  assert.match(j.error.message, /budget exceeded/);
  assert.equal(fakeRequests().length, n, 'the refused request did not reach the provider');
  const paused = await waitFor(async () => {
    const x = await srv.task('admin', 't-budget');
    return x?.status === 'paused' ? x : null;
  }, { what: 't-budget paused' });
  assert.match(paused.current_state?.message ?? '', /^budget exceeded/);
});

test('a streamed Chat Completions request is asked for its usage; a body the gateway cannot read is refused', async () => {
  const hdr = { authorization: 'Bearer placeholder', 'content-type': 'application/json', 'x-test-status': '200' };
  const up = async (body) => {
    const r = await request('POST', '/v1/chat/completions', { headers: hdr, body });
    assert.equal(r.status, 200, r.text);
    return seen.at(-1).body.toString();
  };
  // not streamed: passed on byte for byte
  const plain = '{ "model": "m",\n "messages": [] }\n';
  assert.equal(await up(plain), plain);
  // streamed without usage: the member is added, the rest as sent
  let sent = JSON.parse(await up('{"model":"m","stream":true,"max_tokens":16,"messages":[{"role":"user","content":"hi"}]}  \n'));
  assert.deepEqual(sent, { model: 'm', stream: true, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }],
    stream_options: { include_usage: true } });
  // stream_options without include_usage, or false: set
  sent = JSON.parse(await up('{"model":"m","stream":true,"max_tokens":16,"stream_options":{"include_usage":false}}'));
  assert.deepEqual(sent, { model: 'm', stream: true, max_tokens: 16, stream_options: { include_usage: true } });
  // asked already: untouched
  const asked = '{"model":"m","stream":true,"stream_options":{"include_usage":true}}';
  assert.equal(await up(asked), asked);
  // what a provider might read otherwise than the gateway: refused
  for (const body of ['{"model":"m","stream":false,"stream":true}', '[1]', '{"model":', '{"stream":true,"stream_options":1}']) {
    const r = await request('POST', '/v1/chat/completions', { headers: hdr, body });
    assert.equal(r.status, 400, `${body}: ${r.text}`);
    assert.equal(JSON.parse(r.text).error.type, 'invalid_request_error', r.text);
  }
});

test('a task with a budget may have 8 requests in flight: more get a 429, no pause', async () => {
  const y = customTemplate('gw-budget', ['sh', '-c', 'exec sleep 1000'])
    .replace('  backend: local\n', '  backend: local\n  budget:\n    tokens: 1000000\n');
  assert.equal((await srv.pushTemplate(y)).status, 201);
  const t = await srv.createTask({ template: 'gw-budget', input: 'x', name: 'gw-budget' });
  await srv.waitTask('admin', 'gw-budget');
  // twelve at once, each held by the provider until released: usage is
  // known only when one ends, so each is checked against zero
  const answers = [];
  const reqs = Array.from({ length: 12 }, () => request('POST', '/v1/messages', { t,
    headers: { 'x-api-key': 'placeholder', 'content-type': 'application/json', 'x-test-hold': '1' },
    body: JSON.stringify({ model: 'claude-test', stream: true }) }).then((r) => { answers.push(r); return r; }));
  await waitFor(() => held.length + answers.length === 12, { what: 'every request upstream or answered' });
  assert.equal(held.length, 8, 'requests in flight at once');
  assert.equal(answers.length, 4);
  for (const a of answers) {
    assert.equal(a.status, 429, a.text);
    assert.match(a.text, /in flight/);
  }
  held.splice(0).forEach((go) => go());
  const all = await Promise.all(reqs);
  assert.equal(all.filter((r) => r.status === 200).length, 8);
  // a request after them goes through: the count went down
  const after1 = request('POST', '/v1/messages', { t, headers: { 'x-api-key': 'placeholder',
    'content-type': 'application/json' }, body: '{"model":"claude-test"}' });
  assert.equal((await after1).status, 200);
  const x = await srv.task('admin', 'gw-budget');
  assert.notEqual(x.status, 'paused', 'too many at once is no reason to pause');
  await srv.api('DELETE', '/api/v2/tasks/admin/gw-budget');
});

// A streamed request held by the provider after its content: the agent reads
// the content and hangs up before the final usage event. Resolves the
// provider's log entry once the gateway either detached the transfer or
// cancelled it (its log names the request), or the provider saw its
// connection close.
let cuts = 0;
async function cutAfterContent(t) {
  const target = `/v1/messages?cut=${++cuts}`;
  const req = http.request({ socketPath: sock(t), method: 'POST', path: target, agent: false,
    headers: { 'x-api-key': 'placeholder', 'content-type': 'application/json', 'x-test-hold': '1',
      'x-test-content-first': '1' } });
  req.on('error', () => {});
  req.end(JSON.stringify({ model: 'claude-test', stream: true }));
  const res = await new Promise((resolve) => req.on('response', resolve));
  let text = '';
  res.setEncoding('utf8');
  await new Promise((resolve) => res.on('data', (d) => { text += d; if (/text_delta/.test(text)) resolve(); }));
  req.destroy(); // the content came; the agent goes away
  const entry = await waitFor(() => seen.find((e) => e.url === target), { what: 'the request upstream' });
  await waitFor(() => srv.log.includes(`POST ${target} ended`) || entry.closed,
    { what: `the gateway saw the agent of ${target} go` });
  return entry;
}

test('an agent that hangs up after the content, before the usage: its output tokens are counted', async () => {
  const usage = async () => (await srv.api('GET', '/api/v2/tasks/admin/gw/usage')).json.total;
  // the in-task request of before() is in
  await waitFor(() => fs.existsSync(path.join(taskDir(srv, task.id), 'home', 'workspace', 'inside.json')) &&
    fs.statSync(path.join(taskDir(srv, task.id), 'home', 'workspace', 'inside.json')).size > 0,
  { what: 'the in-task request answered' });
  const before = await usage();
  const entry = await cutAfterContent(task);
  assert.equal(entry.closed, undefined, 'the transfer was not cancelled when the agent went');
  held.splice(0).forEach((go) => go()); // now the provider sends message_delta
  const after1 = await waitFor(async () => {
    const u = await usage();
    return u.requests === before.requests + 1 ? u : null;
  }, { what: 'the cut request counted' });
  assert.equal(after1.input_tokens, before.input_tokens + 11);
  assert.equal(after1.output_tokens, before.output_tokens + 7, 'the output tokens of the final usage event');
  assert.equal(entry.released, true);
});

test('a task deleted while a response its agent left is read: the transfer is cancelled, the server goes on', async () => {
  assert.equal((await srv.pushTemplate(customTemplate('gw-del', ['sh', '-c', 'exec sleep 1000']))).status, 201);
  const t = await srv.createTask({ template: 'gw-del', input: 'x', name: 'gw-del' });
  await srv.waitTask('admin', 'gw-del');
  const entry = await cutAfterContent(t);
  assert.equal(entry.closed, undefined, 'detached, not cancelled');
  const del = await srv.api('DELETE', '/api/v2/tasks/admin/gw-del');
  assert.ok(del.status === 202 || del.status === 204 || del.status === 200, del.text);
  await waitFor(() => entry.closed === true, { what: 'the provider sees the transfer cancelled' });
  held.splice(0).forEach((go) => go());
  await waitFor(async () => (await srv.api('GET', '/api/v2/tasks/admin/gw-del')).status === 404,
    { what: 'the task gone' });
  const r = await request('POST', '/v1/messages', { headers: { 'x-api-key': 'placeholder',
    'content-type': 'application/json' }, body: '{"model":"claude-test"}' });
  assert.equal(r.status, 200, 'the gateway of another task still serves');
});

test('a task paused while a response its agent left is read: the response is still counted', async () => {
  assert.equal((await srv.pushTemplate(customTemplate('gw-pause', ['sh', '-c', 'exec sleep 1000']))).status, 201);
  await srv.createTask({ template: 'gw-pause', input: 'x', name: 'gw-pause' });
  const t = await srv.waitTask('admin', 'gw-pause');
  const entry = await cutAfterContent(t);
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/gw-pause/pause')).status, 200);
  await srv.waitTask('admin', 'gw-pause', { status: 'paused' });
  assert.equal(entry.closed, undefined, 'the pause did not cancel the transfer');
  held.splice(0).forEach((go) => go());
  await waitFor(async () => {
    const u = (await srv.api('GET', '/api/v2/tasks/admin/gw-pause/usage')).json.total;
    return u.requests === 1 && u.input_tokens === 11 && u.output_tokens === 7;
  }, { what: 'the response of the paused task counted' });
});

test('a task has 8 responses read without their agent at most: the 9th is cancelled, counted as read', async () => {
  const usage = async () => (await srv.api('GET', '/api/v2/tasks/admin/gw/usage')).json.total;
  const before = await usage();
  const entries = [];
  for (let i = 0; i < 9; i++) entries.push(await cutAfterContent(task));
  assert.deepEqual(entries.map((e) => e.closed === true), [...Array(8).fill(false), true]);
  assert.match(srv.log, /with 8 such responses of the task and \d+ on the server running: cancelled/);
  held.splice(0).forEach((go) => go());
  await waitFor(async () => {
    const u = await usage();
    return u.requests === before.requests + 9 && u.output_tokens === before.output_tokens + 8 * 7 + 1 &&
      u.input_tokens === before.input_tokens + 9 * 11;
  }, { what: 'the eight read to their end, the ninth as far as it was read' });
});

test('a response read without its agent when the server stops: cancelled cleanly', async () => {
  await cutAfterContent(task); // left running: the stop ends it
});

test('the server stops cleanly, without a sanitizer report', async () => {
  const s = srv;
  srv = null;
  await s.stop();
  assert.doesNotMatch(s.log, /Sanitizer|runtime error:/, s.log);
});
