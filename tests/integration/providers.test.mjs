// providers.test.mjs: the LLM providers (docs/API.md, Providers) through
// the API and the CLI, on the store TASKBOX_TEST_STORE names.
//
// Credentials go in and never come back out: every API reply and CLI
// output is kept and searched for them at the end, and so are the
// store's bytes (the SQLite file and its WAL, or the PostgreSQL dump). A
// module pushed by the test dumps its environment, so the test sees what
// a task gets of its provider: the entry of the provider's type, its
// region and project, and none of its credentials.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, waitFor, taskDir, exists, bin, tmpdir, storeBytes, testStore } from '../harness/server.mjs';

const tag = `${process.pid}x${Date.now()}`;
const DEFAULT_KEY = `sk-default-${tag}`;
const ANT_KEY = `sk-ant-${tag}`;
const AWS_SECRET = `aws/secret+${tag}`;
const AWS_TOKEN = `aws-session-${tag}`;
const CLI_KEY = `sk-cli-${tag}`;
const { privateKey } = crypto.generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});
const SA = JSON.stringify({
  type: 'service_account',
  project_id: 'acme-proj',
  private_key_id: `kid${tag}`,
  private_key: privateKey,
  client_email: 'tb@acme-proj.iam.gserviceaccount.com',
  client_id: '1',
  token_uri: 'https://oauth2.googleapis.com/token',
});
// what must never show: the keys, and the private key's base64 body
const secrets = [DEFAULT_KEY, ANT_KEY, AWS_SECRET, AWS_TOKEN, CLI_KEY,
  privateKey.split('\n')[5]];

let srv, bob, dir;
const seen = []; // every API body and CLI output

async function api(method, p, opts) {
  const r = await srv.api(method, p, opts);
  seen.push(r.text);
  return r;
}

function cli(args, { token = srv.token, input } = {}) {
  // the server's --url goes before the verb: after `provider` it is the
  // provider's
  const r = spawnSync(bin, ['--url', srv.base, '--token', token, ...args],
    { encoding: 'utf8', input, env: { ...process.env, XDG_CONFIG_HOME: dir } });
  seen.push(r.stdout, r.stderr);
  return r;
}

function file(name, text) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text, { mode: 0o600 });
  return p;
}

// A self-signed certificate (PEM) from the openssl CLI.
function certPem() {
  const key = path.join(dir, 'ca.key'), crt = path.join(dir, 'ca.crt');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
    '-out', crt, '-subj', '/CN=taskbox test CA', '-days', '1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return fs.readFileSync(crt, 'utf8');
}

// The module the tasks run: dumps its environment into the workspace.
const probeModule = `name: probe
agent_type: custom
command: [sh, -c, "env > env.txt; echo done > done; exec sleep 1000"]
default_provider: anthropic
providers:
  anthropic:
    env: {PROBE_BASE: "{{llm_url}}", PROBE_TYPE: "{{provider}}"}
  vertex:
    env:
      PROBE_BASE: "{{llm_url}}/vertex"
      PROBE_TYPE: "{{provider}}"
      PROBE_REGION: "{{region}}"
      PROBE_PROJECT: "{{project}}"
`;

function probeTemplate(name, provider) {
  return `name: ${name}\nagent:\n  module: probe\n${provider ? `  provider: ${provider}\n` : ''}ai_task:\n  app: chat\n`;
}

// Create a task of template and return the environment its agent got.
async function probeEnv(template, name) {
  const r = await api('POST', '/api/v2/tasks/me', { body: { template, input: 'x', name } });
  assert.equal(r.status, 201, r.text);
  const ws = path.join(taskDir(srv, r.json.id), 'home/workspace');
  await waitFor(() => exists(path.join(ws, 'done')), { what: `${name} dumped`, timeout: 30000 });
  const text = fs.readFileSync(path.join(ws, 'env.txt'), 'utf8');
  seen.push(text);
  return Object.fromEntries(text.split('\n').filter(Boolean).map((l) => {
    const i = l.indexOf('=');
    return [l.slice(0, i), l.slice(i + 1)];
  }));
}

before(async () => {
  dir = tmpdir('taskbox-providers-');
  const keyFile = file('default.key', `${DEFAULT_KEY}\n`);
  srv = await startServer({ args: ['--llm-url', 'http://127.0.0.1:9/v1/', '--llm-key-file', keyFile] });
  bob = await srv.user('bob');
});

after(async () => { await srv?.stop(); });

test('--llm-url makes the provider default (openai-compatible), its key set', async () => {
  const r = await api('GET', '/api/v2/providers/default');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.type, 'openai-compatible');
  assert.equal(r.json.url, 'http://127.0.0.1:9/v1');
  assert.equal(r.json.url_given, true);
  assert.equal(r.json.has_key, true);
  assert.equal(r.json.key, undefined);
});

test('admins set every type; replies say which credentials are set', async () => {
  const ca = certPem();
  const put = async (name, body) => {
    const r = await api('PUT', `/api/v2/providers/${name}`, { body });
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  let p = await put('ant', { type: 'anthropic', key: ANT_KEY, ca_pem: ca });
  assert.equal(p.url, 'https://api.anthropic.com');
  assert.equal(p.url_given, false);
  assert.equal(p.has_key, true);
  assert.equal(p.has_ca, true);
  p = await put('br', { type: 'bedrock', region: 'eu-central-1', aws_access_key_id: 'AKIAIOSFODNN7EXAMPLE',
    aws_secret_access_key: AWS_SECRET, aws_session_token: AWS_TOKEN });
  assert.equal(p.url, 'https://bedrock-runtime.eu-central-1.amazonaws.com');
  assert.deepEqual([p.has_aws_access_key_id, p.has_aws_secret_access_key, p.has_aws_session_token, p.has_key],
    [true, true, true, false]);
  p = await put('gcp', { type: 'vertex', service_account: SA, region: 'europe-west4' });
  assert.equal(p.url, 'https://europe-west4-aiplatform.googleapis.com');
  assert.equal(p.project, 'acme-proj', 'the project defaults to the key file\'s');
  assert.equal(p.has_service_account, true);
  p = await put('gcp-global', { type: 'vertex', service_account: SA, project: 'other-proj' });
  assert.equal(p.url, 'https://aiplatform.googleapis.com');
  assert.equal(p.region, 'global');
  assert.equal(p.project, 'other-proj');
  p = await put('gem', { type: 'gemini', key: ANT_KEY, url: 'https://gw.example.com:8443/base/' });
  assert.equal(p.url, 'https://gw.example.com:8443/base');
  p = await put('oai', { type: 'openai', key: ANT_KEY });
  assert.equal(p.url, 'https://api.openai.com');
  p = await put('llama', { type: 'ollama', url: 'http://[::1]:11434' });
  assert.equal(p.has_key, false);
  // PUT replaces the whole record
  p = await put('oai', { type: 'openai-compatible', url: 'http://litellm.internal:4000' });
  assert.equal(p.type, 'openai-compatible');
  assert.equal(p.has_key, false);

  const list = await api('GET', '/api/v2/providers');
  assert.deepEqual(list.json.providers.map((x) => x.name),
    ['ant', 'br', 'default', 'gcp', 'gcp-global', 'gem', 'llama', 'oai']);
  assert.equal(list.json.count, 8);
});

test('bad input: problem+json naming the field, never the value', async () => {
  const bad = [
    [{ type: 'azure', key: 'k' }, 'body.type'],
    [{ key: 'k' }, 'body.type'],
    [{ type: 7 }, 'body.type'],
    [{ type: 'anthropic' }, 'body.key'],
    [{ type: 'anthropic', key: 'two words' }, 'body.key'],
    [{ type: 'anthropic', key: 'x'.repeat(9000) }, 'body.key'],
    [{ type: 'anthropic', key: 'k', region: 'us-east-1' }, 'body.region'],
    [{ type: 'anthropic', key: 'k', colour: 'red' }, 'body'],
    [{ type: 'openai-compatible' }, 'body.url'],
    [{ type: 'openai-compatible', url: 'ftp://h' }, 'body.url'],
    [{ type: 'openai-compatible', url: 'https://user:pw@h' }, 'body.url'],
    [{ type: 'openai-compatible', url: 'https://h/?q=1' }, 'body.url'],
    [{ type: 'openai-compatible', url: 'https://h/#f' }, 'body.url'],
    [{ type: 'openai-compatible', url: 'https:///v1' }, 'body.url'],
    [{ type: 'openai-compatible', url: 'https://h:99999' }, 'body.url'],
    [{ type: 'openai-compatible', url: 'https://h/a/../b' }, 'body.url'],
    [{ type: 'openai-compatible', url: 'https://h\n.com' }, 'body.url'],
    [{ type: 'openai-compatible', url: 'https://h.com:+443' }, 'body.url'],
    [{ type: 'openai-compatible', url: 'https://[fe80::1%25eth0]:80' }, 'body.url'],
    [{ type: 'openai-compatible', url: 'https://[1.2.3.4]' }, 'body.url'],
    [{ type: 'openai-compatible', url: 'https://h%2ecom' }, 'body.url'],
    [{ type: 'openai-compatible', url: `https://h.com/${'a'.repeat(2100)}` }, 'body.url'],
    [{ type: 'ollama', url: 'http://h', key: 'k' }, 'body.key'],
    [{ type: 'bedrock', aws_access_key_id: 'AKIAIOSFODNN7EXAMPLE', aws_secret_access_key: 's' }, 'body.region'],
    [{ type: 'bedrock', region: 'US_EAST', aws_access_key_id: 'AKIAIOSFODNN7EXAMPLE', aws_secret_access_key: 's' }, 'body.region'],
    [{ type: 'bedrock', region: 'us-east-1', aws_secret_access_key: 's' }, 'body.aws_access_key_id'],
    [{ type: 'bedrock', region: 'us-east-1', aws_access_key_id: 'akia-lower', aws_secret_access_key: 's' }, 'body.aws_access_key_id'],
    [{ type: 'vertex' }, 'body.service_account'],
    [{ type: 'vertex', service_account: '{"type": "service_account"}' }, 'body.service_account'],
    [{ type: 'vertex', service_account: SA, project: 'Bad Project' }, 'body.project'],
    [{ type: 'anthropic', key: 'k', ca_pem: 'not a certificate' }, 'body.ca_pem'],
    [{ type: 'anthropic', key: 'k', ca_pem: privateKey }, 'body.ca_pem'],
  ];
  for (const [body, loc] of bad) {
    const r = await api('PUT', '/api/v2/providers/x', { body });
    assert.equal(r.status, 422, `${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
    assert.match(r.headers.get('content-type'), /application\/problem\+json/);
    assert.equal(r.json.errors[0].location, loc, r.text);
    assert.equal(r.json.errors[0].value, undefined);
  }
  const name = await api('PUT', '/api/v2/providers/Bad_Name', { body: { type: 'ollama', url: 'http://h' } });
  assert.equal(name.status, 422);
  assert.equal(name.json.errors[0].location, 'path.name');
  const notJson = await api('PUT', '/api/v2/providers/x', { body: `{"type": "anthropic", "key": "${ANT_KEY}"` });
  assert.equal(notJson.status, 400);
  assert.ok(!notJson.text.includes(ANT_KEY), notJson.text);
  // an embedded NUL would cut a credential short: the JSON is refused
  const nul = await api('PUT', '/api/v2/providers/x', { body: '{"type": "anthropic", "key": "sk-a\\u0000b"}' });
  assert.equal(nul.status, 400, nul.text);
  assert.equal((await api('GET', '/api/v2/providers/x')).status, 404, 'nothing was stored');
  assert.equal((await api('DELETE', '/api/v2/providers/x')).status, 404);
});

test('members read names, types and urls; writes are refused', async () => {
  const list = await api('GET', '/api/v2/providers', { token: bob.token });
  assert.equal(list.status, 200);
  const ant = list.json.providers.find((p) => p.name === 'ant');
  assert.equal(ant.url, 'https://api.anthropic.com');
  assert.equal(ant.has_key, undefined, 'members do not see which credentials are set');
  assert.equal((await api('GET', '/api/v2/providers/ant', { token: bob.token })).status, 200);
  const put = await api('PUT', '/api/v2/providers/ant', { token: bob.token, body: { type: 'ollama', url: 'http://evil' } });
  assert.equal(put.status, 403);
  assert.equal((await api('DELETE', '/api/v2/providers/ant', { token: bob.token })).status, 403);
  assert.equal((await api('GET', '/api/v2/providers/ant')).json.type, 'anthropic', 'unchanged');
  assert.equal((await api('GET', '/api/v2/providers', { token: null })).status, 401);
  const c = cli(['provider', 'set', 'mine', '--type', 'ollama', '--url', 'http://h'], { token: bob.token });
  assert.equal(c.status, 1);
  assert.match(c.stderr, /only admins/);
});

test('CLI: set from files, list, delete', async () => {
  const keyFile = file('cli.key', `${CLI_KEY}\n`);
  let r = cli(['provider', 'set', 'lite', '--type', 'openai-compatible', '--url', 'https://litellm.example.com/v1',
    '--key-file', keyFile]);
  assert.equal(r.status, 0, r.stderr);
  let p = (await api('GET', '/api/v2/providers/lite')).json;
  assert.equal(p.has_key, true);
  assert.equal(p.url, 'https://litellm.example.com/v1');
  r = cli(['provider', 'set', 'aws', '--type', 'bedrock', '--region', 'us-west-2', '--aws-access-key-id',
    'AKIAIOSFODNN7EXAMPLE', '--aws-secret-access-key-file', '-', '--aws-session-token-file',
    file('tok', AWS_TOKEN)], { input: `${AWS_SECRET}\n` });
  assert.equal(r.status, 0, r.stderr);
  p = (await api('GET', '/api/v2/providers/aws')).json;
  assert.deepEqual([p.has_aws_secret_access_key, p.has_aws_session_token], [true, true]);
  r = cli(['provider', 'set', 'vx', '--type', 'vertex', '--service-account-file', file('sa.json', SA),
    '--region', 'us-east5', '--project', 'p-1', '--ca-file', file('ca.pem', certPem())]);
  assert.equal(r.status, 0, r.stderr);
  p = (await api('GET', '/api/v2/providers/vx')).json;
  assert.deepEqual([p.project, p.region, p.has_ca], ['p-1', 'us-east5', true]);

  r = cli(['provider', 'list']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^lite\s+openai-compatible\s+https:\/\/litellm\.example\.com\/v1\s+key\s*$/m);
  assert.match(r.stdout, /^aws\s+bedrock\s+\S+\s+us-west-2\s+aws-key-id,aws-secret,aws-session\s*$/m);
  r = cli(['provider', 'list', '-o', 'json']);
  assert.ok(JSON.parse(r.stdout).some((x) => x.name === 'vx' && x.has_service_account));

  r = cli(['provider', 'set', 'bad', '--type', 'bedrock', '--region', 'us-west-2']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /aws_access_key_id/);
  r = cli(['provider', 'set', 'nokey', '--type', 'anthropic', '--key-file', path.join(dir, 'missing')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot read/);
  // a credential file that gives nothing is an error, never a provider
  // silently stored without its key
  fs.mkdirSync(path.join(dir, 'keydir'), { recursive: true });
  for (const [f, why] of [[file('empty.key', '\n'), /empty/], [path.join(dir, 'keydir'), /cannot read/],
    [file('latin1.key', Buffer.from([0x73, 0x6b, 0xe9, 0x0a])), /UTF-8/]]) {
    r = cli(['provider', 'set', 'silent', '--type', 'openai-compatible', '--url', 'http://h', '--key-file', f]);
    assert.equal(r.status, 1, `${f}: ${r.stdout}`);
    assert.match(r.stderr, why);
  }
  r = cli(['provider', 'set', 'silent', '--type', 'openai-compatible', '--url', 'http://h', '--key-file', '-',
    '--ca-file', '-'], { input: `${CLI_KEY}\n` });
  assert.equal(r.status, 1, 'stdin read twice');
  assert.equal((await api('GET', '/api/v2/providers/silent')).status, 404);
  r = cli(['provider', 'set', 'notype', '--url', 'http://h']);
  assert.equal(r.status, 2);
  r = cli(['provider', 'delete', 'lite']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal((await api('GET', '/api/v2/providers/lite')).status, 404);
  r = cli(['provider', 'delete', 'lite']);
  assert.equal(r.status, 1);
});

test('task create: a missing provider, an unsupported type: 400 naming both', async () => {
  const mod = await api('POST', '/api/v2/modules', { body: probeModule, headers: { 'Content-Type': 'application/yaml' } });
  assert.equal(mod.status, 201, mod.text);
  for (const [name, provider] of [['probe-none', 'nope'], ['probe-br', 'br']])
    assert.equal((await srv.pushTemplate(probeTemplate(name, provider))).status, 201);
  let r = await api('POST', '/api/v2/tasks/me', { body: { template: 'probe-none', input: 'x', name: 'n1' } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.detail, /provider 'nope' does not exist/);
  r = await api('POST', '/api/v2/tasks/me', { body: { template: 'probe-br', input: 'x', name: 'n2' } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.detail, /module 'probe' does not support provider 'br' of type 'bedrock'/);
  assert.equal((await api('GET', '/api/v2/tasks/me/n1')).status, 404, 'no task was made');
  // a module without providers that reaches the LLM through its argv
  const argvModule = 'name: probe-argv\nagent_type: custom\ncommand: [sh, -c, "exec sleep 1000", "{{llm_url}}"]\n';
  assert.equal((await api('POST', '/api/v2/modules', { body: argvModule,
    headers: { 'Content-Type': 'application/yaml' } })).status, 201);
  assert.equal((await srv.pushTemplate(probeTemplate('probe-argv', 'nope').replace('module: probe',
    'module: probe-argv'))).status, 201);
  r = await api('POST', '/api/v2/tasks/me', { body: { template: 'probe-argv', input: 'x', name: 'n3' } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.detail, /provider 'nope' does not exist/);
});

test('a task gets its provider type\'s entry, region and project, no credential', async () => {
  assert.equal((await srv.pushTemplate(probeTemplate('probe-vx', 'gcp'))).status, 201);
  assert.equal((await srv.pushTemplate(probeTemplate('probe-default'))).status, 201);
  let env = await probeEnv('probe-vx', 'vx1');
  assert.equal(env.PROBE_TYPE, 'vertex');
  assert.equal(env.PROBE_BASE, 'http://127.0.0.1:4000/vertex');
  assert.equal(env.PROBE_REGION, 'europe-west4');
  assert.equal(env.PROBE_PROJECT, 'acme-proj');
  // 'default' is openai-compatible: the module has no such entry, so its
  // default_provider's applies
  env = await probeEnv('probe-default', 'df1');
  assert.equal(env.PROBE_TYPE, 'anthropic');
  assert.equal(env.PROBE_BASE, 'http://127.0.0.1:4000');
  assert.equal(env.PROBE_REGION, undefined);
});

test('resuming a task whose provider is gone is refused; it stays paused', async () => {
  const put = await api('PUT', '/api/v2/providers/temp', { body: { type: 'anthropic', key: ANT_KEY } });
  assert.equal(put.status, 200, put.text);
  assert.equal((await srv.pushTemplate(probeTemplate('probe-temp', 'temp'))).status, 201);
  await probeEnv('probe-temp', 'tmp1');
  let p;
  await waitFor(async () => (p = await api('POST', '/api/v2/tasks/me/tmp1/pause')).status === 200,
    { what: 'tmp1 paused', timeout: 60000 });
  assert.equal(p.json.status, 'paused');
  assert.equal((await api('DELETE', '/api/v2/providers/temp')).status, 204);
  const r = await api('POST', '/api/v2/tasks/me/tmp1/resume');
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.detail, /provider 'temp' does not exist/);
  assert.equal((await api('GET', '/api/v2/tasks/me/tmp1')).json.status, 'paused');
});

test('a restart keeps the providers and opens their credentials', async () => {
  const data = srv.data, token = srv.token;
  await srv.stop();
  srv = await startServer({ data, token }); // no --llm-url: default stays
  const d = await api('GET', '/api/v2/providers/default');
  assert.equal(d.json.url, 'http://127.0.0.1:9/v1');
  assert.equal(d.json.has_key, true);
  assert.equal((await api('GET', '/api/v2/providers/gcp')).json.has_service_account, true);
  assert.doesNotMatch(srv.log, /do not open|left out/);
});

test('TASKBOX_LLM_URL makes default too; a bad --llm-url stops the start', async () => {
  const other = await startServer({ env: { TASKBOX_LLM_URL: 'https://litellm.example.com' } });
  try {
    const d = await other.api('GET', '/api/v2/providers/default');
    assert.equal(d.json.url, 'https://litellm.example.com');
    assert.equal(d.json.has_key, false);
  } finally {
    await other.stop();
  }
  await assert.rejects(startServer({ args: ['--llm-url', 'http://user:pw@h:1'] }),
    /--llm-url: url must be/);
  // a key file that gives no key is not a provider without one
  await assert.rejects(startServer({ args: ['--llm-url', 'http://h:1', '--llm-key-file', file('blank.key', ' \n')] }),
    /blank\.key' is empty/);
  await assert.rejects(startServer({ args: ['--llm-url', 'http://h:1', '--llm-key-file',
    file('long.key', `${'k'.repeat(9000)}\n`)] }), /long\.key' is longer than/);
});

test('credentials never in a reply, an output or the store in clear', async () => {
  const all = seen.join('\n');
  for (const s of secrets) assert.ok(!all.includes(s), `a reply showed ${s.slice(0, 12)}...`);
  assert.ok(!srv.log.includes(ANT_KEY) && !srv.log.includes(DEFAULT_KEY), 'the log holds no key');
  let bytes = storeBytes(srv);
  const wal = path.join(srv.data, 'taskbox.db-wal');
  if (testStore !== 'postgresql' && fs.existsSync(wal)) bytes = Buffer.concat([bytes, fs.readFileSync(wal)]);
  assert.ok(bytes.includes('acme-proj') || bytes.includes('europe-west4'), 'the store was read');
  for (const s of secrets) assert.ok(!bytes.includes(s), `the store holds ${s.slice(0, 12)}... in clear`);
});
