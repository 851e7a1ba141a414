// fakes.test.mjs: the fake upstreams of tests/harness/fake-llm.mjs check
// credentials the way the real services do, and answer in their framing,
// checked here by implementations that are not the fake's:
// - Bedrock: requests signed by python3-botocore (SigV4Auth) are taken; one
//   changed body byte, a changed signed header, another secret or no
//   signature are refused with AWS's 403; the event stream of
//   invoke-with-response-stream is decoded by botocore's EventStreamBuffer
//   (which checks both CRC32s) and by a decoder here on zlib's CRC32.
// - Google: a JWT-bearer assertion signed with another key, for another
//   audience or expired gets invalid_grant; the right one (signed here, and
//   one made by taskbox's own gauth.c) gets a token, and Vertex's Claude and
//   Gemini routes take only such tokens.
// - --require-key: each API's own 401 shape; --usage: the figures each API
//   reports; https with a throwaway CA from tests/harness/tls.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import zlib from 'node:zlib';
import { bin, root, tmpdir } from '../harness/runtime.mjs';
import { startFakeLlm } from '../harness/llm.mjs';
import { makeTestCa } from '../harness/tls.mjs';

const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const probe = spawnSync(python, ['-c', 'import botocore.auth, botocore.eventstream'], { encoding: 'utf8' });
const skip = probe.status !== 0 && 'python3-botocore is not installed (scripts/bootstrap.sh installs it)';

const scratch = tmpdir('taskbox-fakes-');
const AKID = 'AKIDFAKETEST00000001';
const SECRET = 'fake/secret+key/for/the/fake/bedrock0001';
const USAGE = { input_tokens: 123, output_tokens: 45, cache_read_input_tokens: 6, cache_creation_input_tokens: 7 };
const script = { turns: [{ match: 'say hello', reply: 'Hello from the fake upstream.' }], default: 'default reply' };
const gaDir = path.join(root, 'tests/unit/gauth');
let ca, fake, base, sa, saFile;
const log = path.join(scratch, 'fake.jsonl');

before(async () => {
  if (skip) return;
  ca = makeTestCa(path.join(scratch, 'tls'));
  // the throwaway test service account, its token_uri at this fake
  sa = JSON.parse(fs.readFileSync(path.join(gaDir, 'throwaway-service-account.json'), 'utf8'));
  saFile = path.join(scratch, 'sa.json');
  fs.writeFileSync(saFile, JSON.stringify(sa));
  fake = await startFakeLlm(script, {
    dir: scratch, log, tls: ca,
    args: ['--aws-access-key-id', AKID, '--aws-secret-access-key', SECRET, '--aws-region', 'us-west-2',
      '--service-account', saFile, '--require-key', 'sk-right', '--usage', JSON.stringify(USAGE)],
  });
  base = fake.url;
  sa.token_uri = `${base}/token`;
});

after(() => fake?.child.kill());

// One https request to the fake trusting only the test CA; returns
// {status, headers, body (Buffer)}.
function request(method, target, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(`${base}${target}`, { method, headers, ca: ca.caPem }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
const json = (r) => JSON.parse(r.body.toString('utf8'));

// botocore's SigV4 headers for a request (its own clock).
function botocoreSign(method, target, body, { secret = SECRET, region = 'us-west-2', headers = {} } = {}) {
  const r = spawnSync(python, ['-c', String.raw`
import json, sys, base64
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
r = json.load(sys.stdin)
req = AWSRequest(method=r['method'], url=r['url'], data=base64.b64decode(r['body']), headers=r['headers'])
SigV4Auth(Credentials(r['akid'], r['secret']), 'bedrock', r['region']).add_auth(req)
json.dump(dict(req.headers.items()), sys.stdout)
`], { input: JSON.stringify({ method, url: `https://127.0.0.1:${fake.port}${target}`, body: Buffer.from(body).toString('base64'),
    headers, akid: AKID, secret, region }), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

// Decode an event stream with botocore (checks both CRCs): the messages'
// headers and payloads, or {error} when it refuses the bytes.
function botocoreDecode(buf) {
  const r = spawnSync(python, ['-c', String.raw`
import json, sys, base64
from botocore.eventstream import EventStreamBuffer
b = EventStreamBuffer()
b.add_data(sys.stdin.buffer.read())
out = []
try:
    for m in b:
        out.append({'headers': m.headers, 'payload': m.payload.decode()})
    print(json.dumps(out))
except Exception as e:
    print(json.dumps({'error': type(e).__name__}))
`], { input: buf });
  assert.equal(r.status, 0, String(r.stderr));
  return JSON.parse(r.stdout.toString());
}

// The same decoding here, on zlib's CRC32 (Node >= 20.15).
function nodeDecode(buf) {
  const out = [];
  let off = 0;
  while (off < buf.length) {
    const total = buf.readUInt32BE(off);
    const hlen = buf.readUInt32BE(off + 4);
    assert.equal(buf.readUInt32BE(off + 8), zlib.crc32(buf.subarray(off, off + 8)), 'prelude CRC');
    assert.equal(buf.readUInt32BE(off + total - 4), zlib.crc32(buf.subarray(off, off + total - 4)), 'message CRC');
    const headers = {};
    for (let h = off + 12; h < off + 12 + hlen;) {
      const n = buf.readUInt8(h);
      const name = buf.toString('utf8', h + 1, h + 1 + n);
      assert.equal(buf.readUInt8(h + 1 + n), 7, 'string header');
      const vlen = buf.readUInt16BE(h + 2 + n);
      headers[name] = buf.toString('utf8', h + 4 + n, h + 4 + n + vlen);
      h += 4 + n + vlen;
    }
    out.push({ headers, payload: buf.toString('utf8', off + 12 + hlen, off + total - 4) });
    off += total;
  }
  return out;
}

const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1%3A0';
const claudeBody = JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 100,
  messages: [{ role: 'user', content: 'say hello' }] });

test('Bedrock: a botocore-signed stream is taken, in event-stream framing', { skip }, async () => {
  const target = `/model/${MODEL}/invoke-with-response-stream`;
  const h = botocoreSign('POST', target, claudeBody, { headers: { 'Content-Type': 'application/json' } });
  const r = await request('POST', target, { headers: h, body: claudeBody });
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(r.headers['content-type'], 'application/vnd.amazon.eventstream');
  const frames = botocoreDecode(r.body);
  assert.ok(Array.isArray(frames), JSON.stringify(frames));
  assert.deepEqual(nodeDecode(r.body), frames);
  const events = frames.map((f) => {
    assert.deepEqual(f.headers, { ':event-type': 'chunk', ':content-type': 'application/json', ':message-type': 'event' });
    return JSON.parse(Buffer.from(JSON.parse(f.payload).bytes, 'base64').toString('utf8'));
  });
  assert.equal(events[0].type, 'message_start');
  assert.equal(events[0].message.model, decodeURIComponent(MODEL));
  assert.equal(events[0].message.usage.input_tokens, USAGE.input_tokens);
  assert.equal(events[0].message.usage.cache_read_input_tokens, USAGE.cache_read_input_tokens);
  assert.equal(events.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text).join(''),
    'Hello from the fake upstream.');
  assert.equal(events.at(-2).usage.output_tokens, USAGE.output_tokens);
  assert.equal(events.at(-1).type, 'message_stop');
  assert.equal(events.at(-1)['amazon-bedrock-invocationMetrics'].outputTokenCount, USAGE.output_tokens);
  // one changed byte anywhere breaks a CRC botocore checks
  for (const at of [5, 10, 40, r.body.length - 2]) {
    const bad = Buffer.from(r.body);
    bad[at] ^= 1;
    const d = botocoreDecode(bad);
    assert.ok(!Array.isArray(d) || d.length < frames.length, `byte ${at} changed is noticed`);
  }
});

test('Bedrock: invoke answers Messages JSON; inference-profiles an empty list', { skip }, async () => {
  const target = `/model/${MODEL}/invoke`;
  const r = await request('POST', target, { headers: botocoreSign('POST', target, claudeBody), body: claudeBody });
  assert.equal(r.status, 200, r.body.toString());
  const m = json(r);
  assert.equal(m.content[0].text, 'Hello from the fake upstream.');
  assert.deepEqual(m.usage, USAGE);
  const q = '/inference-profiles?maxResults=1000&typeEquals=SYSTEM_DEFINED';
  const p = await request('GET', q, { headers: botocoreSign('GET', q, '') });
  assert.equal(p.status, 200, p.body.toString());
  assert.deepEqual(json(p), { inferenceProfileSummaries: [] });
});

test('Bedrock: a changed byte, header, secret or region, or no signature, is refused', { skip }, async () => {
  const target = `/model/${MODEL}/invoke`;
  const h = botocoreSign('POST', target, claudeBody, { headers: { 'Content-Type': 'application/json' } });
  const changed = claudeBody.replace('say hello', 'say hellp');
  const cases = [
    ['body byte', h, changed, 'InvalidSignatureException'],
    ['signed header', { ...h, 'Content-Type': 'application/jsox' }, claudeBody, 'InvalidSignatureException'],
    ['date', { ...h, 'X-Amz-Date': h['X-Amz-Date'].replace(/\dZ$/, (c) => `${(Number(c[0]) + 1) % 10}Z`) }, claudeBody, 'InvalidSignatureException'],
    ['secret', botocoreSign('POST', target, claudeBody, { secret: SECRET + 'x' }), claudeBody, 'InvalidSignatureException'],
    ['region', botocoreSign('POST', target, claudeBody, { region: 'us-east-1' }), claudeBody, 'InvalidSignatureException'],
    ['no signature', { 'Content-Type': 'application/json' }, claudeBody, 'MissingAuthenticationTokenException'],
  ];
  for (const [what, headers, body, type] of cases) {
    const r = await request('POST', target, { headers, body });
    assert.equal(r.status, 403, `${what}: ${r.body}`);
    assert.ok(r.headers['x-amzn-errortype'].startsWith(type + ':'), `${what}: ${r.headers['x-amzn-errortype']}`);
    assert.equal(typeof json(r).message, 'string');
  }
  // the unchanged request is still taken
  assert.equal((await request('POST', target, { headers: h, body: claudeBody })).status, 200);
});

// A JWT-bearer assertion of claims signed with key (a PEM).
function assertion(key, claims, head = { alg: 'RS256', typ: 'JWT', kid: sa.private_key_id }) {
  const b = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b(head)}.${b(claims)}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}
const grant = (jwt) => request('POST', '/token', {
  headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwt }).toString(),
});

test('Google: only a right assertion gets a token, and Vertex takes only its tokens', { skip }, async () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: sa.client_email, scope: 'https://www.googleapis.com/auth/cloud-platform',
    aud: sa.token_uri, iat: now, exp: now + 3600 };
  const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const refused = [
    ['another key', assertion(other, claims), 'invalid_grant'],
    ['another audience', assertion(sa.private_key, { ...claims, aud: 'https://oauth2.googleapis.com/token' }), 'invalid_grant'],
    ['expired', assertion(sa.private_key, { ...claims, iat: now - 7200, exp: now - 3600 }), 'invalid_grant'],
    ['too long', assertion(sa.private_key, { ...claims, exp: now + 7200 }), 'invalid_grant'],
    ['another issuer', assertion(sa.private_key, { ...claims, iss: 'someone@else.iam.gserviceaccount.com' }), 'invalid_grant'],
    ['no scope', assertion(sa.private_key, { ...claims, scope: 'openid' }), 'invalid_scope'],
    ['alg none', assertion(sa.private_key, claims, { alg: 'none' }), 'invalid_grant'],
  ];
  for (const [what, jwt, error] of refused) {
    const r = await grant(jwt);
    assert.equal(r.status, 400, `${what}: ${r.body}`);
    assert.equal(json(r).error, error, what);
  }
  const r = await grant(assertion(sa.private_key, claims));
  assert.equal(r.status, 200, r.body.toString());
  const tok = json(r);
  assert.equal(tok.token_type, 'Bearer');
  assert.equal(tok.expires_in, 3600);

  const vertex = '/v1/projects/p1/locations/global/publishers';
  const body = JSON.stringify({ anthropic_version: 'vertex-2023-10-16', max_tokens: 50, messages: [{ role: 'user', content: 'say hello' }] });
  for (const bad of [null, 'ya29.forged', sa.private_key_id]) {
    const v = await request('POST', `${vertex}/anthropic/models/claude-x:rawPredict`,
      { headers: bad ? { Authorization: `Bearer ${bad}` } : {}, body });
    assert.equal(v.status, 401, v.body.toString());
    assert.equal(json(v).error.status, 'UNAUTHENTICATED');
  }
  const auth = { Authorization: `Bearer ${tok.access_token}`, 'Content-Type': 'application/json' };
  // the express-mode path (no project, no location) takes API keys only
  const ex = await request('POST', '/v1beta1/publishers/google/models/gemini-x:generateContent',
    { headers: auth, body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'say hello' }] }] }) });
  assert.equal(ex.status, 401, ex.body.toString());
  const raw = await request('POST', `${vertex}/anthropic/models/claude-x:rawPredict`, { headers: auth, body });
  assert.equal(raw.status, 200, raw.body.toString());
  assert.equal(json(raw).content[0].text, 'Hello from the fake upstream.');
  assert.equal(json(raw).model, 'claude-x');
  const st = await request('POST', `${vertex}/anthropic/models/claude-x:streamRawPredict`, { headers: auth, body });
  assert.equal(st.headers['content-type'], 'text/event-stream');
  assert.match(st.body.toString(), /event: message_stop/);
  const gem = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'say hello' }] }] });
  const g = await request('POST', `${vertex}/google/models/gemini-x:streamGenerateContent?alt=sse`, { headers: auth, body: gem });
  assert.equal(g.status, 200);
  const chunks = g.body.toString().split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
  assert.equal(chunks.map((c) => c.candidates[0].content.parts[0].text).join(''), 'Hello from the fake upstream.');
  assert.deepEqual(chunks.at(-1).usageMetadata, { promptTokenCount: 129, candidatesTokenCount: 45, totalTokenCount: 174, cachedContentTokenCount: 6 });
});

test("Google: taskbox's own gauth.c assertion gets a token", { skip }, async () => {
  const prog = path.join(path.dirname(bin), 'tests/unit/gauth-assert');
  assert.ok(fs.existsSync(prog), `${prog} is built`);
  const keyFile = path.join(scratch, 'sa-here.json');
  fs.writeFileSync(keyFile, JSON.stringify(sa));
  const r = spawnSync(prog, [keyFile, String(Math.floor(Date.now() / 1000))], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const g = await grant(r.stdout.trim());
  assert.equal(g.status, 200, g.body.toString());
});

test('--require-key: each API answers its own 401; --usage: its own figures', { skip }, async () => {
  const msg = JSON.stringify({ model: 'claude-x', max_tokens: 10, messages: [{ role: 'user', content: 'say hello' }] });
  let r = await request('POST', '/v1/messages', { headers: { 'x-api-key': 'sk-wrong' }, body: msg });
  assert.equal(r.status, 401);
  assert.deepEqual(json(r), { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });
  r = await request('POST', '/v1/messages', { headers: { 'x-api-key': 'sk-right' }, body: msg });
  assert.equal(r.status, 200);
  assert.deepEqual(json(r).usage, USAGE);

  const resp = JSON.stringify({ model: 'gpt-x', input: 'say hello' });
  r = await request('POST', '/v1/responses', { body: resp });
  assert.equal(r.status, 401);
  assert.equal(json(r).error.code, 'invalid_api_key');
  r = await request('POST', '/v1/responses', { headers: { Authorization: 'Bearer sk-right' }, body: resp });
  assert.equal(r.status, 200);
  assert.deepEqual(json(r).usage, { input_tokens: 129, input_tokens_details: { cached_tokens: 6 }, output_tokens: 45,
    output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 174 });

  const gem = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'say hello' }] }] });
  r = await request('POST', '/v1beta/models/gemini-x:generateContent', { headers: { 'x-goog-api-key': 'sk-wrong' }, body: gem });
  assert.equal(r.status, 401);
  assert.equal(json(r).error.status, 'UNAUTHENTICATED');
  r = await request('POST', '/v1beta/models/gemini-x:generateContent?key=sk-right', { body: gem });
  assert.equal(r.status, 200);
  assert.equal(json(r).usageMetadata.promptTokenCount, 129);

  // the log has what each answer reported, under Anthropic's names (a
  // record is written once its answer is: in any order)
  const recs = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const of = (p) => recs.filter((x) => x.usage && x.path.startsWith(p)).map((x) => x.usage);
  assert.deepEqual(of('/v1/messages'), [USAGE]);
  assert.deepEqual(of('/v1/responses'), [{ ...USAGE, cache_creation_input_tokens: 0 }]);
  assert.deepEqual(of('/v1beta/models/gemini-x:generateContent'), [{ ...USAGE, cache_creation_input_tokens: 0 }]);
});

test('https: the fake is trusted only through the test CA', { skip }, async () => {
  await assert.rejects(new Promise((resolve, reject) => {
    https.get(`${base}/health`, (res) => { res.resume(); resolve(); }).on('error', reject);
  }), /self[- ]signed|unable to (get|verify)/i);
  const r = await request('GET', '/health');
  assert.equal(r.status, 200);
  // the server certificate names 127.0.0.1 and localhost
  const x = new crypto.X509Certificate(fs.readFileSync(ca.cert));
  assert.match(x.subjectAltName, /IP Address:127\.0\.0\.1/);
  assert.match(x.subjectAltName, /DNS:localhost/);
  assert.ok(x.verify(new crypto.X509Certificate(ca.caPem).publicKey));
});
