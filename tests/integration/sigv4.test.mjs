// sigv4.test.mjs: src/gateway/sigv4.c against an independent signer,
// Debian's python3-botocore (botocore.auth.SigV4Auth). ~200 varied
// requests (methods, Bedrock paths with ':' and spaces, sent encoded or
// not, dot segments, queries with reserved characters spelled in several
// ways, headers with odd whitespace and repeated names, bodies given as
// bytes or as their hash, with and without a session token or
// X-Amz-Content-Sha256) are signed by both: the test-only
// tests/unit/sigv4-sign and botocore at the same fixed time. Their
// Authorization headers must be identical. Skipped only without botocore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { bin } from '../harness/runtime.mjs';

const signer = path.join(path.dirname(bin), 'tests/unit/sigv4-sign');
// Debian's python3 (a python3 earlier on PATH may lack botocore or have
// another one)
const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const probe = spawnSync(python, ['-c', 'import botocore.auth'], { encoding: 'utf8' });
const skip = probe.status !== 0 &&
  'python3-botocore is not installed (scripts/bootstrap.sh installs it)';

// botocore signs every request of a JSON list on stdin at its own time:
// SigV4Auth.add_auth takes the time from datetime.datetime.utcnow() in
// botocore.auth (overwriting request.context['timestamp']; newer botocore
// calls get_current_datetime() there), so those names are replaced by a
// clock that reads the request's time. The
// query goes in as decoded (name, value) pairs: botocore encodes them.
const botocoreSigner = String.raw`
import datetime, json, sys
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

now = [None]
class FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return now[0]
class FixedModule:
    datetime = FixedDatetime
botocore.auth.datetime = FixedModule
if hasattr(botocore.auth, 'get_current_datetime'):
    botocore.auth.get_current_datetime = lambda: now[0]

class Auth(SigV4Auth):
    def canonical_request(self, request):
        self.canonical = super().canonical_request(request)
        return self.canonical

out = []
for r in json.load(sys.stdin):
    now[0] = FixedDatetime.utcfromtimestamp(r['time'])
    creds = Credentials(r['access_key_id'], r['secret'], r.get('session_token'))
    body = bytes.fromhex(r.get('body_hex', ''))
    req = AWSRequest(method=r['method'], url='https://' + r['host'] + r['path'],
                     data=body, params=[tuple(p) for p in r['params']])
    for name, value in r['headers']:
        req.headers[name] = value
    if r.get('content_sha256'):
        req.headers['X-Amz-Content-SHA256'] = r['body_sha256_of']
    auth = Auth(creds, r['service'], r['region'])
    auth.add_auth(req)
    out.append({'authorization': req.headers['Authorization'],
                'canonical_request': auth.canonical})
json.dump(out, sys.stdout)
`;

// A small seeded generator: the same requests on every run.
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(20261201);
const pick = (a) => a[Math.floor(rand() * a.length)];
const int = (n) => Math.floor(rand() * n);
const chars = (alphabet, n) => Array.from({ length: n }, () => pick(alphabet)).join('');
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

// A string spelled as a client might send it: every escape-worthy
// character encoded, or some left raw (those a URL allows), upper- or
// lowercase hex.
function spell(s, rawOk) {
  let out = '';
  for (const ch of s) {
    if (/[A-Za-z0-9\-._~]/.test(ch) || (rawOk.includes(ch) && rand() < 0.5)) {
      out += ch;
      continue;
    }
    let e = encodeURIComponent(ch);
    if (e === ch) e = '%' + ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
    out += rand() < 0.3 ? e.toLowerCase() : e;
  }
  return out;
}

const MODELS = [
  'anthropic.claude-3-5-sonnet-20241022-v2:0',
  'us.anthropic.claude-sonnet-4-20250514-v1:0',
  'anthropic.claude-3-haiku-20240307-v1:0',
  'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0',
  'my model:1 (test)',
  'mødel:ü',
];
const ACTIONS = ['invoke', 'invoke-with-response-stream', 'converse', 'converse-stream', 'count-tokens'];
const QCHARS = ALNUM + " !$'()*+,/:;@[]~-._&=%#?é☃";

function genPath() {
  const model = pick(MODELS);
  // how the client put the model id on the request line
  const id = pick([
    () => spell(model, ':@!$\'()*+,;'),
    () => encodeURIComponent(model),
    () => model.replace(/\//g, '%2F'),
  ])();
  let p = `/model/${id}/${pick(ACTIONS)}`;
  if (rand() < 0.1) p = p.replace('/model/', pick(['//model/', '/./model/', '/x/../model/']));
  if (rand() < 0.1) p += '/';
  if (rand() < 0.05) p = pick(['', '/', '/a//b/./c/..', '/..', '/%2e%2E/x']);
  return p;
}

function genQuery() {
  const params = [];
  const n = rand() < 0.4 ? 0 : 1 + int(5);
  for (let i = 0; i < n; i++) {
    const name = rand() < 0.2 && params.length ? params[0][0] : chars(QCHARS, 1 + int(8));
    params.push([name, rand() < 0.15 ? '' : chars(QCHARS, int(12))]);
  }
  const raw = ":@!$'()*,;/?+";
  const query = params.map(([k, v]) =>
    v === '' && rand() < 0.5 ? spell(k, raw) : spell(k, raw) + '=' + spell(v, raw)).join('&');
  return { query, params };
}

function genWhitespace(v) {
  const ws = () => chars(' \t', int(4));
  return ws() + v.split(' ').join(pick([' ', '  ', '\t', ' \t  '])) + ws();
}

function genHeaders(host) {
  const headers = [[pick(['Host', 'host', 'HOST']), rand() < 0.2 ? ` ${host} ` : host]];
  const extra = [
    ['Content-Type', 'application/json'],
    ['Accept', 'application/vnd.amazon.eventstream'],
    ['anthropic-version', 'bedrock-2023-05-31'],
    ['X-Amzn-Bedrock-Accept', '*/*'],
    ['X-Amzn-Bedrock-Trace', 'ENABLED'],
    ['x-custom', 'a  b   c'],
    ['X-Custom', 'second value'],
    ['Content-Length', String(int(5000))],
    ['x-empty', ''],
    ['X-Odd_Name!', "quote \"it\" and 'this'"],
  ];
  for (const [n, v] of extra) {
    if (rand() < 0.35) headers.push([n, rand() < 0.5 ? genWhitespace(v) : v]);
  }
  // a repeated name after others
  if (rand() < 0.2) headers.push(['x-custom', genWhitespace('again  here')]);
  // names sigv4 leaves unsigned, as botocore does
  if (rand() < 0.1) headers.push(['User-Agent', 'claude-cli/2.0']);
  return headers.sort(() => rand() - 0.5);
}

function genBody() {
  switch (int(4)) {
    case 0: return Buffer.alloc(0);
    case 1: return Buffer.from(JSON.stringify({
      anthropic_version: 'bedrock-2023-05-31', max_tokens: 10,
      messages: [{ role: 'user', content: 'hi ' + chars(ALNUM, int(40)) }],
    }));
    case 2: return crypto.randomBytes(int(300));
    default: return Buffer.from('π ≈ 3.14\n\0\r\n');
  }
}

function genRequest() {
  const region = pick(['us-east-1', 'us-west-2', 'eu-west-3', 'us-gov-west-1']);
  const host = pick([`bedrock-runtime.${region}.amazonaws.com`, 'bedrock.example.com:8443']);
  const { query, params } = genQuery();
  const body = genBody();
  const sha = crypto.createHash('sha256').update(body).digest('hex');
  const r = {
    method: pick(['GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD']),
    host, path: genPath(), query, params,
    headers: genHeaders(host),
    access_key_id: pick(['AKIA', 'ASIA']) + chars(ALNUM.slice(0, 36), 16),
    secret: chars(ALNUM + '/+', 40),
    region, service: pick(['bedrock', 'bedrock', 'bedrock', 'execute-api', 'iam']),
    time: 946684800 + int(30 * 365 * 86400),
    body_sha256_of: sha,
    content_sha256: rand() < 0.4,
  };
  if (rand() < 0.5) r.body_hex = body.toString('hex');
  else r.body_sha256 = sha;
  if (!r.body_hex) r.botocore_body_hex = body.toString('hex');
  if (rand() < 0.4) r.session_token = chars(ALNUM + '/+=', 40 + int(300));
  return r;
}

test('sigv4-sign and botocore sign ~200 varied requests alike', { skip }, () => {
  assert.ok(fs.existsSync(signer), `${signer} is built`);
  const reqs = Array.from({ length: 200 }, genRequest);
  const py = spawnSync(python, ['-c', botocoreSigner], {
    input: JSON.stringify(reqs.map((r) => ({ ...r, body_hex: r.body_hex ?? r.botocore_body_hex }))),
    encoding: 'utf8', maxBuffer: 64 << 20,
  });
  assert.equal(py.status, 0, py.stderr);
  const want = JSON.parse(py.stdout);
  let withQuery = 0, withToken = 0;
  reqs.forEach((r, i) => {
    const c = spawnSync(signer, [], { input: JSON.stringify(r), encoding: 'utf8' });
    assert.equal(c.status, 0, `request ${i}: ${c.stdout}${c.stderr}`);
    const got = JSON.parse(c.stdout);
    const ctx = `request ${i}: ${JSON.stringify(r)}\nours:\n${got.canonical_request}\n` +
      `botocore:\n${want[i].canonical_request}`;
    assert.equal(got.canonical_request, want[i].canonical_request, ctx);
    assert.equal(got.headers.Authorization, want[i].authorization, ctx);
    assert.equal(got.headers['X-Amz-Security-Token'], r.session_token, ctx);
    assert.equal(got.headers['X-Amz-Content-Sha256'],
      r.content_sha256 ? r.body_sha256_of : undefined, ctx);
    withQuery += r.params.length > 0;
    withToken += !!r.session_token;
  });
  // the generator covers what it claims to
  assert.ok(withQuery > 50 && withToken > 50, `${withQuery} queries, ${withToken} tokens`);
});

test('sigv4-sign refuses what it cannot sign, with a reason', () => {
  assert.ok(fs.existsSync(signer), `${signer} is built`);
  const base = {
    method: 'POST', path: '/model/m:0/invoke', query: '',
    headers: [['Host', 'bedrock-runtime.us-east-1.amazonaws.com']],
    access_key_id: 'AKIDEXAMPLE', secret: 'secret', region: 'us-east-1',
    service: 'bedrock', time: 1440938160,
  };
  const cases = [
    [{ query: 'a=%zz' }, /percent-escape/],
    [{ headers: [['Content-Type', 'x']] }, /no host/],
    [{ headers: [['Host', 'h'], ['X-A', 'a\r\nb']] }, /header value/],
    [{ path: 'model/x' }, /path/],
    [{ region: 'US EAST' }, /region/],
  ];
  for (const [change, why] of cases) {
    const c = spawnSync(signer, [], { input: JSON.stringify({ ...base, ...change }), encoding: 'utf8' });
    assert.equal(c.status, 1, c.stdout);
    assert.match(JSON.parse(c.stdout).error, why);
  }
});
