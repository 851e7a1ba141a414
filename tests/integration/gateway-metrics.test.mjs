// gateway-metrics.test.mjs: the LLM gateway's figures in GET /metrics,
// fed by real requests through a task's llm.sock (the socket the task's
// 127.0.0.1:4000 forwards to, reached here from the host) to an upstream
// in this process that echoes the request's model with fixed usage.
//
// Runs once the gateway has landed (src/gateway/gateway.c in the tree):
// the pass-through before it reports nothing. tests/unit/test-metrics.c
// covers metrics_gateway itself (bounds, escaping) without it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startServer, customTemplate, taskDir, root, waitFor } from '../harness/server.mjs';

const landed = fs.existsSync(path.join(root, 'src/gateway/gateway.c'));
const skip = landed ? false : 'the gateway (src/gateway/gateway.c) has not landed';

const usage = { input_tokens: 12, output_tokens: 7, cache_read_input_tokens: 5, cache_creation_input_tokens: 3 };
let upstream, srv, sock;

// The upstream: Anthropic Messages, plain or SSE, the model echoed.
function answer(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let b = {};
    try { b = JSON.parse(Buffer.concat(chunks).toString()); } catch { /* empty */ }
    const msg = { id: 'msg_1', type: 'message', role: 'assistant', model: b.model, content: [{ type: 'text', text: 'hi' }],
      stop_reason: 'end_turn', stop_sequence: null, usage };
    if (!b.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(msg));
      return;
    }
    const ev = (type, data) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(ev('message_start', { message: { ...msg, content: [], usage: { ...usage, output_tokens: 1 } } }) +
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'hi' } }) +
      ev('content_block_stop', { index: 0 }) +
      ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 7 } }) +
      ev('message_stop', {}));
  });
}

// POST /v1/messages on llm.sock; resolves {status, text}.
function post(body) {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method: 'POST', path: '/v1/messages', agent: false, headers: {
      host: 'localhost', 'content-type': 'application/json', 'anthropic-version': '2023-06-01',
      'x-api-key': 'placeholder', 'content-length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

// GET /metrics as {'name{labels}': value}.
async function metrics() {
  const r = await srv.api('GET', '/metrics');
  assert.equal(r.status, 200, r.text);
  const out = {};
  for (const line of r.text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

before(async () => {
  if (!landed) return;
  upstream = http.createServer(answer);
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
  srv = await startServer({ args: ['--llm-url', `http://127.0.0.1:${upstream.address().port}`] });
  const r = await srv.pushTemplate(customTemplate('holder', ['sleep', '100000']));
  assert.ok(r.status < 300, r.text);
  const t = await srv.createTask({ template: 'holder', input: 'x', name: 'gm' });
  await srv.waitTask('admin', 'gm');
  sock = path.join(taskDir(srv, t.id), 'run', 'llm.sock');
});

after(async () => {
  await srv?.stop();
  upstream?.close();
});

test('requests, tokens by kind and both latencies per provider and model', { skip }, async () => {
  const L = 'provider="default",model="claude-m1"';
  assert.equal((await post({ model: 'claude-m1', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] })).status, 200);
  const s = await post({ model: 'claude-m1', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'x' }] });
  assert.equal(s.status, 200);
  assert.match(s.text, /message_stop/);
  // the gateway reports a request when it ended: after the reply's end
  const m = await waitFor(async () => {
    const x = await metrics();
    return x[`taskbox_gateway_requests_total{${L},code="200"}`] === 2 ? x : null;
  }, { what: 'two requests in /metrics' });
  assert.equal(m[`taskbox_gateway_tokens_total{${L},kind="input"}`], 24);
  assert.equal(m[`taskbox_gateway_tokens_total{${L},kind="output"}`], 14);
  assert.equal(m[`taskbox_gateway_tokens_total{${L},kind="cache_read"}`], 10);
  assert.equal(m[`taskbox_gateway_tokens_total{${L},kind="cache_creation"}`], 6);
  assert.equal(m[`taskbox_gateway_upstream_errors_total{${L}}`], 0);
  assert.equal(m[`taskbox_gateway_first_byte_seconds_count{${L}}`], 2);
  assert.equal(m[`taskbox_gateway_duration_seconds_count{${L}}`], 2);
  assert.equal(m[`taskbox_gateway_duration_seconds_bucket{${L},le="+Inf"}`], 2);
});

test('a model name from the agent cannot break the text or grow it', { skip }, async () => {
  const evil = 'evil"} 1\n# TYPE x counter\nx{a="';
  assert.equal((await post({ model: evil, max_tokens: 8, messages: [{ role: 'user', content: 'x' }] })).status, 200);
  const text = await waitFor(async () => {
    const r = await srv.api('GET', '/metrics');
    return r.text.includes('model="evil\\"} 1?# TYPE x counter?x{a=\\""') ? r.text : null;
  }, { what: 'the escaped model in /metrics' });
  assert.doesNotMatch(text, /^# TYPE x /m);
  assert.doesNotMatch(text, /^x\{/m);
  // many models: the label sets stop growing
  for (let i = 0; i < 200; i++)
    assert.equal((await post({ model: `m-${i}`, max_tokens: 8, messages: [{ role: 'user', content: 'x' }] })).status, 200);
  const m = await waitFor(async () => {
    const x = await metrics();
    const n = Object.keys(x).filter((k) => k.startsWith('taskbox_gateway_duration_seconds_count{')).length;
    const total = Object.entries(x).filter(([k]) => k.startsWith('taskbox_gateway_duration_seconds_count{'))
      .reduce((a, [, v]) => a + v, 0);
    return total >= 203 ? { n, total } : null;
  }, { what: '203 requests in /metrics' });
  assert.ok(m.n <= 128 + 16 + 1, `${m.n} label sets`);
  assert.ok((await metrics())['taskbox_gateway_requests_total{provider="default",model="other",code="200"}'] > 0);
});

test('an upstream that is down counts as an upstream error', { skip }, async () => {
  upstream.close();
  upstream.closeAllConnections();
  const r = await post({ model: 'claude-down', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] });
  assert.ok(r.status >= 500, `status ${r.status}`);
  await waitFor(async () => {
    const x = await metrics();
    return Object.entries(x).some(([k, v]) => k.startsWith('taskbox_gateway_upstream_errors_total{provider="default"') && v >= 1);
  }, { what: 'an upstream error in /metrics' });
});
