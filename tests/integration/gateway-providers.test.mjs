// The gateway's routing and Vertex tokens (src/gateway/route.c, vtoken.c)
// through a live server: node clients speak to tasks' llm.sock the way
// Claude Code and Gemini CLI do in their Vertex and Bedrock modes, and the
// harness's fake upstream (https, a throwaway CA given as the providers'
// ca_pem) checks credentials as the real services do: Vertex wants a
// bearer token its own /token issued after verifying the JWT assertion,
// Bedrock a SigV4 signature that botocore recomputes. Checked: the
// agent's project and location replaced by the provider's, Gemini CLI's
// express-mode path (no project) given them, one token fetched and reused,
// Bedrock runtime and control-plane paths signed, a target that would
// leave the base refused in the provider's error format, a token_uri off
// the allowlist refused before any assertion leaves. Goose's and Aider's
// paths: Bedrock Converse (JSON, and an eventstream botocore decodes) and
// Vertex's OpenAI-compatible chat completions, with the exact usage each
// task recorded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startServer, customTemplate, root, tmpdir, taskDir, waitFor } from '../harness/server.mjs';
import { startFakeLlm } from '../harness/llm.mjs';
import { makeTestCa } from '../harness/tls.mjs';

const python = 'python3';
const probe = spawnSync(python, ['-c', 'import botocore.auth, botocore.eventstream'], { encoding: 'utf8' });
const skip = probe.status !== 0 ? 'python3-botocore is not installed (scripts/bootstrap.sh)' : false;

const scratch = tmpdir('taskbox-gwprov-');
const AKID = 'AKIDFAKETEST00000001';
const SECRET = 'fake/secret+key/for/the/fake/bedrock0001';
const script = { turns: [{ match: 'say hello', reply: 'Hello from the fake upstream.' }], default: 'default reply' };
const log = path.join(scratch, 'fake.jsonl');
// distinct figures, so a name mapped wrong shows (Anthropic's names)
const USAGE = { input_tokens: 100, output_tokens: 20, cache_read_input_tokens: 3, cache_creation_input_tokens: 4 };
let srv, fake, ca;
const tasks = {};

// The fake's log: one record per request.
function seen() {
  try {
    return fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch { return []; }
}

// The log once it has n records matching pred (the fake writes a record
// after its answer ends, so it may trail the client's end by a little).
async function seenWhen(pred, n, what) {
  const recs = await waitFor(() => {
    const all = seen();
    return all.filter(pred).length >= n ? all : null;
  }, { what });
  return recs;
}

// One request on task t's llm.sock; resolves {status, headers, text}.
function request(t, method, p, { headers = {}, body } = {}) {
  const socketPath = path.join(taskDir(srv, tasks[t].id), 'run', 'llm.sock');
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: p, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
        text: Buffer.concat(chunks).toString('latin1') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// A provider, a custom template using it and a running task of it.
async function providerTask(name, provider) {
  const p = await srv.api('PUT', `/api/v2/providers/${name}`, { body: provider });
  assert.equal(p.status, 200, p.text);
  const y = customTemplate(`t-${name}`, ['sleep', '1000']).replace('  module: custom\n',
    `  module: custom\n  provider: ${name}\n`);
  const r = await srv.pushTemplate(y);
  assert.equal(r.status, 201, r.text);
  tasks[name] = await srv.createTask({ template: `t-${name}`, input: 'x', name: `t-${name}` });
  assert.ok(tasks[name].id, JSON.stringify(tasks[name]));
  await srv.waitTask('admin', `t-${name}`);
}

const claudeBody = JSON.stringify({ anthropic_version: 'vertex-2023-10-16', max_tokens: 64,
  messages: [{ role: 'user', content: 'say hello' }] });
const geminiBody = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'say hello' }] }] });

before(async () => {
  if (skip) return;
  ca = makeTestCa(path.join(scratch, 'tls'));
  const sa = JSON.parse(fs.readFileSync(path.join(root, 'tests/unit/gauth/throwaway-service-account.json'), 'utf8'));
  const saFile = path.join(scratch, 'sa.json');
  fs.writeFileSync(saFile, JSON.stringify(sa));
  fake = await startFakeLlm(script, { dir: scratch, log, tls: ca,
    args: ['--aws-access-key-id', AKID, '--aws-secret-access-key', SECRET, '--aws-region', 'us-west-2',
      '--service-account', saFile, '--usage', JSON.stringify(USAGE)] });
  srv = await startServer();
  await providerTask('vx', { type: 'vertex', url: fake.url, region: 'us-east5', project: 'real-proj',
    service_account: JSON.stringify({ ...sa, token_uri: `${fake.url}/token` }), ca_pem: ca.caPem });
  await providerTask('bx', { type: 'bedrock', url: fake.url, region: 'us-west-2',
    aws_access_key_id: AKID, aws_secret_access_key: SECRET, ca_pem: ca.caPem });
  await providerTask('bconv', { type: 'bedrock', url: fake.url, region: 'us-west-2',
    aws_access_key_id: AKID, aws_secret_access_key: SECRET, ca_pem: ca.caPem });
  await providerTask('vopen', { type: 'vertex', url: fake.url, region: 'europe-west4', project: 'open-proj',
    service_account: JSON.stringify({ ...sa, token_uri: `${fake.url}/token` }), ca_pem: ca.caPem });
  await providerTask('vbad', { type: 'vertex', url: fake.url, region: 'us-east5',
    service_account: JSON.stringify({ ...sa, token_uri: 'https://token.evil.example/token' }), ca_pem: ca.caPem });
});

after(async () => {
  await srv?.stop();
  fake?.child.kill();
});

test('Claude Code on Vertex: project and location replaced, one token fetched and reused', { skip }, async () => {
  const a = await request('vx', 'POST',
    '/vertex/v1/projects/taskbox/locations/global/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict',
    { headers: { 'content-type': 'application/json', authorization: 'Bearer placeholder' }, body: claudeBody });
  assert.equal(a.status, 200, a.text);
  assert.match(a.text, /Hello from the fake upstream/);
  const b = await request('vx', 'POST',
    '/vertex/v1/projects/taskbox/locations/global/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict',
    { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...JSON.parse(claudeBody), stream: true }) });
  assert.equal(b.status, 200, b.text);
  assert.match(b.text, /message_stop/);
  const recs = await seenWhen((r) => r.api === 'vertex-anthropic', 2, 'two Vertex Claude calls in the log');
  const calls = recs.filter((r) => r.api === 'vertex-anthropic');
  assert.equal(calls.length, 2, JSON.stringify(recs.map((r) => r.path)));
  for (const r of calls) {
    assert.match(r.path, /^\/v1\/projects\/real-proj\/locations\/us-east5\/publishers\/anthropic\/models\/claude-sonnet-4-5@20250929:(raw|streamRaw)Predict$/);
    assert.match(r.headers.authorization, /^Bearer /);
    assert.notEqual(r.headers.authorization, 'Bearer placeholder');
  }
  assert.equal(recs.filter((r) => r.path === '/token').length, 1, 'one token for both requests');
});

test('Gemini CLI on Vertex with an API key set: the express-mode path gets the project', { skip }, async () => {
  const r = await request('vx', 'POST',
    '/vertex/v1beta1/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse',
    { headers: { 'content-type': 'application/json', 'x-goog-api-key': 'placeholder' }, body: geminiBody });
  assert.equal(r.status, 200, r.text);
  assert.match(r.text, /"text":"upstream\."\}\]\},"index":0,"finishReason":"STOP"/);
  const up = (await seenWhen((x) => x.api === 'vertex-google', 1, 'the Gemini call in the log'))
    .filter((x) => x.api === 'vertex-google').at(-1);
  assert.equal(up.path, '/v1beta1/projects/real-proj/locations/us-east5/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse');
  assert.equal(up.headers['x-goog-api-key'], undefined, 'the placeholder key does not go to Vertex');
  assert.equal(seen().filter((x) => x.path === '/token').length, 1, 'still the one token');
});

test('Claude Code on Bedrock: runtime and control-plane paths signed for the fake', { skip }, async () => {
  const inv = await request('bx', 'POST', '/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke',
    { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ anthropic_version: 'bedrock-2023-05-31',
      max_tokens: 64, messages: [{ role: 'user', content: 'say hello' }] }) });
  assert.equal(inv.status, 200, inv.text);
  assert.match(inv.text, /Hello from the fake upstream/);
  const st = await request('bx', 'POST',
    '/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream',
    { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ anthropic_version: 'bedrock-2023-05-31',
      max_tokens: 64, messages: [{ role: 'user', content: 'say hello' }] }) });
  assert.equal(st.status, 200, st.text);
  assert.equal(st.headers['content-type'], 'application/vnd.amazon.eventstream');
  const prof = await request('bx', 'GET', '/bedrock/inference-profiles?maxResults=100&typeEquals=SYSTEM_DEFINED');
  assert.equal(prof.status, 200, prof.text);
  const bedrock = (r) => /^\/(model|inference-profiles)[/?]/.test(r.path);
  const paths = (await seenWhen(bedrock, 3, 'the Bedrock calls in the log')).filter(bedrock).map((r) => r.path);
  assert.ok(paths.includes('/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke'), paths.join('\n'));
  assert.ok(paths.includes('/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream'));
  assert.ok(paths.includes('/inference-profiles?maxResults=100&typeEquals=SYSTEM_DEFINED'));
});

test('targets that leave the base, and paths a type does not serve, are refused', { skip }, async () => {
  const n = seen().length;
  const dots = await request('bx', 'POST', '/bedrock/model/%2e%2e/invoke', { body: '{}' });
  assert.equal(dots.status, 400, dots.text);
  assert.equal(dots.headers['x-amzn-errortype'], 'ValidationException', 'in the Bedrock format');
  assert.match(JSON.parse(dots.text).message, /'\.', '\.\.'/);
  const at = await request('vx', 'POST', '/vertex/v1/projects/x@evil/locations/l/publishers/anthropic/models/m:rawPredict',
    { body: '{}' });
  assert.equal(at.status, 400, at.text);
  assert.equal(JSON.parse(at.text).error.type, 'invalid_request_error', 'in the Anthropic format');
  const other = await request('bx', 'POST', '/v1/chat/completions', { body: '{}' });
  assert.equal(other.status, 404, other.text);
  assert.match(JSON.parse(other.text).message, /POST \/v1\/chat\/completions is not served for bedrock provider 'bx'/);
  assert.equal(seen().length, n, 'nothing reached the upstream');
});

test('a token_uri off the allowlist: a clear error, no assertion sent anywhere', { skip }, async () => {
  const n = seen().length;
  const r = await request('vbad', 'POST',
    '/vertex/v1/projects/p/locations/l/publishers/anthropic/models/claude-x@1:rawPredict',
    { headers: { 'content-type': 'application/json' }, body: claudeBody });
  assert.equal(r.status, 502, r.text);
  const e = JSON.parse(r.text);
  assert.equal(e.type, 'error');
  assert.match(e.error.message, /token_uri 'https:\/\/token\.evil\.example\/token' is not allowed/);
  assert.doesNotMatch(r.text, /PRIVATE KEY/);
  assert.equal(seen().length, n);
});

// An application/vnd.amazon.eventstream body decoded by botocore (not our
// code): [[event type, message type, payload JSON], ...]; throws on a bad
// CRC or length.
function botocoreEvents(bytes) {
  const py = 'import sys, json\nfrom botocore.eventstream import EventStreamBuffer\n' +
    'b = EventStreamBuffer()\nb.add_data(sys.stdin.buffer.read())\n' +
    'print(json.dumps([[m.headers.get(":event-type"), m.headers.get(":message-type"),' +
    ' json.loads(m.payload)] for m in b]))\n';
  const r = spawnSync(python, ['-c', py], { input: bytes, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

// The usage a task recorded: its total (less the cost) and its models.
async function taskUsage(name) {
  const u = await srv.api('GET', `/api/v2/tasks/admin/t-${name}/usage`);
  assert.equal(u.status, 200, u.text);
  const { cost_usd: _, ...total } = u.json.total;
  return { total, models: u.json.models.map((m) => m.model) };
}

// Anthropic's names n times over, with the request count.
const times = (n) => ({ requests: n, input_tokens: USAGE.input_tokens * n, output_tokens: USAGE.output_tokens * n,
  cache_read_input_tokens: USAGE.cache_read_input_tokens * n,
  cache_creation_input_tokens: USAGE.cache_creation_input_tokens * n });

test('Goose and Aider on Bedrock: Converse and ConverseStream signed, usage exact', { skip }, async () => {
  const model = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
  const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'say hello' }] }],
    system: [{ text: 'You are Goose.' }], inferenceConfig: { maxTokens: 64 } });
  // the SDK's own signature and date: dropped, signed anew
  const agentSig = { 'content-type': 'application/json', authorization: 'AWS4-HMAC-SHA256 Credential=taskbox-placeholder-not-a-key/x',
    'x-amz-date': '20000101T000000Z' };
  const c = await request('bconv', 'POST', `/bedrock/model/${model}/converse`, { headers: agentSig, body });
  assert.equal(c.status, 200, c.text);
  const cj = JSON.parse(c.text);
  assert.deepEqual(cj.output.message.content, [{ text: 'Hello from the fake upstream.' }]);
  assert.deepEqual(cj.usage, { inputTokens: 100, outputTokens: 20, totalTokens: 127, cacheReadInputTokens: 3,
    cacheWriteInputTokens: 4 });
  const st = await request('bconv', 'POST', `/bedrock/model/${encodeURIComponent(model)}/converse-stream`,
    { headers: agentSig, body });
  assert.equal(st.status, 200, st.text);
  assert.equal(st.headers['content-type'], 'application/vnd.amazon.eventstream');
  const evs = botocoreEvents(Buffer.from(st.text, 'latin1'));
  assert.deepEqual(evs.map(([t]) => t).filter((t, i, a) => t !== a[i - 1]),
    ['messageStart', 'contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata']);
  assert.equal(evs.filter(([t]) => t === 'contentBlockDelta').map(([, , p]) => p.delta.text).join(''),
    'Hello from the fake upstream.');
  assert.deepEqual(evs.at(-1)[2].usage, cj.usage);
  const conv = (r) => r.api === 'bedrock-converse';
  const recs = (await seenWhen(conv, 2, 'both Converse calls in the log')).filter(conv);
  assert.deepEqual(recs.map((r) => r.path).sort(), [
    '/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse',
    '/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse-stream']);
  for (const r of recs) {
    assert.equal(r.sigv4, 'ok', 'botocore verified the gateway\'s signature');
    assert.doesNotMatch(r.headers.authorization, /placeholder/);
    assert.notEqual(r.headers['x-amz-date'], '20000101T000000Z');
  }
  // usage: both calls, under Anthropic's names, the model from the path
  const u = await taskUsage('bconv');
  assert.deepEqual(u.total, times(2), JSON.stringify(u));
  assert.deepEqual(u.models, [model]);
  // a Converse error in the Bedrock format; not served for other types
  const bad = await request('bconv', 'POST', '/bedrock/model/%2e%2e/converse', { body: '{}' });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.headers['x-amzn-errortype'], 'ValidationException');
  const other = await request('vopen', 'POST', `/bedrock/model/${model}/converse`, { body });
  assert.equal(other.status, 404, other.text);
});

test('Goose and Aider on Vertex: OpenAI-compatible chat completions with a fetched token, usage exact', { skip }, async () => {
  const tokens = seen().filter((r) => r.path === '/token').length;
  const body = { model: 'google/gemini-2.5-flash', messages: [{ role: 'user', content: 'say hello' }] };
  const hdr = { 'content-type': 'application/json', authorization: 'Bearer taskbox-placeholder' };
  const j = await request('vopen', 'POST',
    '/vertex/v1beta1/projects/taskbox/locations/global/endpoints/openapi/chat/completions',
    { headers: hdr, body: JSON.stringify(body) });
  assert.equal(j.status, 200, j.text);
  const jj = JSON.parse(j.text);
  assert.equal(jj.choices[0].message.content, 'Hello from the fake upstream.');
  assert.deepEqual(jj.usage, { prompt_tokens: 103, prompt_tokens_details: { cached_tokens: 3 }, completion_tokens: 20,
    total_tokens: 123 });
  const s = await request('vopen', 'POST',
    '/vertex/v1/projects/taskbox/locations/us-central1/endpoints/openapi/chat/completions',
    { headers: hdr, body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }) });
  assert.equal(s.status, 200, s.text);
  assert.match(s.headers['content-type'], /text\/event-stream/);
  assert.match(s.text, /data: \[DONE\]/);
  const open = (r) => r.api === 'vertex-openapi';
  const recs = (await seenWhen(open, 2, 'both Vertex OpenAI calls in the log')).filter(open);
  assert.deepEqual(recs.map((r) => r.path).sort(), [
    '/v1/projects/open-proj/locations/europe-west4/endpoints/openapi/chat/completions',
    '/v1beta1/projects/open-proj/locations/europe-west4/endpoints/openapi/chat/completions']);
  for (const r of recs) {
    assert.equal(r.bearer, 'ok', 'a token the fake\'s /token issued');
    assert.notEqual(r.headers.authorization, 'Bearer taskbox-placeholder');
  }
  assert.equal(seen().filter((r) => r.path === '/token').length, tokens + 1, 'one token for both');
  // usage: OpenAI's cached tokens out of the prompt figure; cache writes
  // are not reported by this API (the fake reports none)
  const u = await taskUsage('vopen');
  assert.deepEqual(u.total, { ...times(2), cache_creation_input_tokens: 0 }, JSON.stringify(u));
  assert.deepEqual(u.models, ['google/gemini-2.5-flash']);
  // errors in the OpenAI format
  const bad = await request('vopen', 'POST',
    '/vertex/v1/projects/x@evil/locations/l/endpoints/openapi/chat/completions', { body: '{}' });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(JSON.parse(bad.text).error.type, 'invalid_request_error');
});
