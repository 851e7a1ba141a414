// gateway.test.mjs: the real agent CLIs as tasks of one real server,
// reaching fake upstreams that check credentials the way the real services
// do (tests/harness/fake-llm.mjs) only through the server's LLM gateway:
// Claude Code in Bedrock mode (each request's SigV4 signature recomputed by
// python3-botocore) and in Vertex mode (bearer tokens the fake's own Google
// token endpoint issued after checking the service account's RS256
// assertion), Codex on OpenAI and Gemini CLI on the Gemini API (keys the
// fakes require) and on Vertex; Claude Code on Anthropic and on an
// openai-compatible gateway (LiteLLM's place), Codex on one too and on
// Ollama (no key). Every upstream is https with a throwaway CA
// the providers trust through --ca-file. Providers are made with
// `taskbox provider set`, one per upstream.
//
// For each: the reply is exactly what the upstream said; the agent runs a
// tool call that dumps its environment into the workspace, and no
// credential (provider key, AWS secret, service-account key, the access
// tokens the fake issued) is anywhere in the workspace's files; the task's
// usage (GET /api/v2/tasks/{u}/{t}/usage) equals what its upstream reported
// (each fake serves one task and logs each answer's usage). Then, with
// Claude Code on Bedrock: a budget stop (the task pauses with "budget
// exceeded", resume is refused while over, a raised budget lets it resume
// and the session goes on) and a wrong AWS secret (the upstream's 403
// reaches the agent); with Codex a wrong OpenAI key and with Gemini CLI a
// wrong Gemini key (the upstream's 401 reaches them); with Claude Code
// and Codex an upstream that is down (the agent shows the gateway's 502 in
// its own API's format, naming the provider; Gemini CLI 0.61 retries a 5xx
// for minutes, and with general.maxAttempts 1 it loops without a pause). Claude Code on Vertex gets
// tokens that live 2 s: its second turn, after the first token expired,
// works on a new grant. Last, GET /metrics counts requests for every
// provider used and one provider's tokens as its upstream reported them.
// tests/run starts this file inside tests/harness/netns-run.sh.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { root, tmpdir, waitFor, SseClient, bin } from '../harness/runtime.mjs';
import { startFakeLlm } from '../harness/llm.mjs';
import { makeTestCa } from '../harness/tls.mjs';
import { startServer, taskDir, exists } from '../harness/server.mjs';

const tools = process.env.TASKBOX_TOOLS || '/var/cache/taskbox/tools';
const scratch = tmpdir('taskbox-e2e-gateway-');
const tag = `${process.pid}x${Date.now()}`;
const REPLY = 'Hello through the gateway.';
const script = {
  turns: [
    { match: 'say hello', reply: REPLY },
    { match: 'dump your env', tool: { kind: 'shell', command: 'env > agent-env.txt' }, reply: 'Env dumped.' },
    { match: 'now follow up', reply: 'Follow-up answered.' },
  ],
  default: 'Default gateway reply.',
};
// Distinct figures per upstream: a mix-up between tasks shows.
const usage = (n) => ({ input_tokens: 100 + n, output_tokens: 20 + n, cache_read_input_tokens: 30 + n,
  cache_creation_input_tokens: 10 + n });

// Credentials: none may reach a workspace.
const AKID = 'AKIDE2EGATEWAY000001';
const AWS_SECRET = `aws/e2e+secret/${tag}`;
const AWS_TOKEN = `aws-e2e-session-${tag}`;
const OPENAI_KEY = `sk-openai-e2e-${tag}`;
const GEMINI_KEY = `AIza-e2e-${tag}`;
const ANT_KEY = `sk-ant-e2e-${tag}`;
const LITELLM_KEY = `sk-litellm-e2e-${tag}`;
const { privateKey } = crypto.generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});
const VERTEX_TTL = 2;
const secrets = [AWS_SECRET, AWS_TOKEN, OPENAI_KEY, GEMINI_KEY, ANT_KEY, LITELLM_KEY, privateKey.split('\n')[5]];

let srv, ca;
const fakes = {}; // name -> {child, url, log}
const started = [];

// A fake upstream of its own (its own log, so its usage is one task's).
async function fake(name, args, s = script) {
  const log = path.join(scratch, `${name}.jsonl`);
  const f = await startFakeLlm(s, { dir: scratch, log, tls: ca, name: `${name}-script.json`, args });
  started.push(f.child);
  fakes[name] = { ...f, log };
  return fakes[name];
}

// What a fake logged so far.
function requests(name) {
  const t = fs.existsSync(fakes[name].log) ? fs.readFileSync(fakes[name].log, 'utf8').trim() : '';
  return t ? t.split('\n').map((l) => JSON.parse(l)) : [];
}

// A file of the test's own (credentials go to the CLI as files).
function file(name, text) {
  const p = path.join(scratch, name);
  fs.writeFileSync(p, text, { mode: 0o600 });
  return p;
}

// `taskbox provider set NAME ...` as the admin; asserts it succeeded.
function providerSet(name, args) {
  const r = spawnSync(bin, ['--url', srv.base, '--token', srv.token, 'provider', 'set', name, ...args],
    { encoding: 'utf8', env: { ...process.env, XDG_CONFIG_HOME: scratch } });
  assert.equal(r.status, 0, `provider set ${name}: ${r.stdout}${r.stderr}`);
}

// A port nothing listens on.
async function closedPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

// A template: the built-in one of module base, named name, on provider,
// with agent env and a workspace budget when given.
async function template(base, name, provider, { env, budget } = {}) {
  let y = fs.readFileSync(path.join(root, `templates/${base}.yaml`), 'utf8')
    .replace(/^name: .*$/m, `name: ${name}`);
  const agentExtra = [`  provider: ${provider}`];
  if (env) agentExtra.push(`  env: ${JSON.stringify(env)}`);
  y = /^ {2}provider: .*$/m.test(y) ? y.replace(/^ {2}provider: .*$/m, agentExtra.join('\n'))
    : y.replace(/^agent:\n/m, `agent:\n${agentExtra.join('\n')}\n`);
  if (budget) y = y.replace(/^workspace:\n/m, `workspace:\n  budget: ${JSON.stringify(budget)}\n`);
  const r = await srv.pushTemplate(y);
  assert.ok(r.status === 200 || r.status === 201, `template ${name}: ${r.status} ${r.text}`);
}

before(async () => {
  const links = execFileSync('ip', ['-o', 'link', 'show']).toString();
  assert.doesNotMatch(links, /^\d+: (?!lo:)/m, 'e2e tests must run inside netns-run.sh');
  ca = makeTestCa(path.join(scratch, 'tls'));
  const bedrockArgs = ['--aws-access-key-id', AKID, '--aws-secret-access-key', AWS_SECRET, '--aws-region', 'us-west-2'];
  // the first with a session token (temporary credentials)
  await fake('bedrock', [...bedrockArgs, '--aws-session-token', AWS_TOKEN, '--usage', JSON.stringify(usage(1))]);
  // Claude Code's requests at start (a "." to each model it may use)
  // cost nothing here: the task's first turn is within the budget, then
  // it is over, so the pause comes once the agent has a session
  const zero = { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
  await fake('budget', bedrockArgs, { ...script, usage: zero,
    turns: script.turns.map((t) => ({ ...t, usage: usage(2) })) });
  await fake('wrongsecret', [...bedrockArgs]);
  await fake('openai', ['--require-key', OPENAI_KEY, '--usage', JSON.stringify(usage(3))]);
  await fake('wrongkey', ['--require-key', OPENAI_KEY]);
  await fake('gemini', ['--require-key', GEMINI_KEY, '--usage', JSON.stringify(usage(4))]);
  await fake('gemwrong', ['--require-key', GEMINI_KEY]);
  await fake('anthropic', ['--require-key', ANT_KEY, '--usage', JSON.stringify(usage(7))]);
  await fake('litellm', ['--require-key', LITELLM_KEY, '--usage', JSON.stringify(usage(8))]);
  await fake('litellm2', ['--require-key', LITELLM_KEY, '--usage', JSON.stringify(usage(9))]);
  await fake('ollama', ['--usage', JSON.stringify(usage(10))]);
  // the service account: its token_uri is its Vertex fake's /token
  for (const [name, n] of [['vertex', 5], ['gvertex', 6]]) {
    const saFile = path.join(scratch, `${name}-sa.json`);
    fs.writeFileSync(saFile, JSON.stringify({ type: 'service_account', project_id: 'sa-project',
      private_key_id: `kid${tag}`, private_key: privateKey, client_email: `taskbox-e2e@sa-project.iam.gserviceaccount.com`,
      client_id: '1', token_uri: 'https://oauth2.googleapis.com/token' }), { mode: 0o600 });
    // Claude Code's tokens live 2 s, less than the gateway's refresh
    // margin (GAUTH_REFRESH_MARGIN): each is used for a second at most
    const ttl = name === 'vertex' ? ['--token-ttl', String(VERTEX_TTL)] : [];
    const f = await fake(name, ['--service-account', saFile, ...ttl, '--usage', JSON.stringify(usage(n))]);
    const sa = JSON.parse(fs.readFileSync(saFile, 'utf8'));
    fs.writeFileSync(saFile, JSON.stringify({ ...sa, token_uri: `${f.url}/token` }), { mode: 0o600 });
  }
  srv = await startServer({ args: ['--tools', tools] });

  const tls = ['--ca-file', ca.ca];
  let files = 0;
  const aws = (secret) => ['--region', 'us-west-2', '--aws-access-key-id', AKID,
    '--aws-secret-access-key-file', file(`aws-secret-${++files}`, secret), ...tls];
  providerSet('bedrock1', ['--type', 'bedrock', '--url', fakes.bedrock.url, ...aws(AWS_SECRET),
    '--aws-session-token-file', file('aws-token', AWS_TOKEN)]);
  providerSet('bedrock-budget', ['--type', 'bedrock', '--url', fakes.budget.url, ...aws(AWS_SECRET)]);
  providerSet('bedrock-wrong', ['--type', 'bedrock', '--url', fakes.wrongsecret.url, ...aws(`${AWS_SECRET}-not`)]);
  providerSet('bedrock-down', ['--type', 'bedrock', '--url', `https://127.0.0.1:${await closedPort()}`, ...aws(AWS_SECRET)]);
  providerSet('vertex1', ['--type', 'vertex', '--url', fakes.vertex.url, '--region', 'us-east5', '--project', 'proj-e2e',
    '--service-account-file', path.join(scratch, 'vertex-sa.json'), ...tls]);
  providerSet('vertex2', ['--type', 'vertex', '--url', fakes.gvertex.url, '--region', 'us-central1', '--project', 'proj-gem',
    '--service-account-file', path.join(scratch, 'gvertex-sa.json'), ...tls]);
  providerSet('openai1', ['--type', 'openai', '--url', fakes.openai.url, '--key-file', file('openai-key', OPENAI_KEY), ...tls]);
  providerSet('openai-wrong', ['--type', 'openai', '--url', fakes.wrongkey.url, '--key-file', file('openai-wrong', `${OPENAI_KEY}x`), ...tls]);
  providerSet('gemini1', ['--type', 'gemini', '--url', fakes.gemini.url, '--key-file', file('gemini-key', GEMINI_KEY), ...tls]);
  providerSet('gemini-wrong', ['--type', 'gemini', '--url', fakes.gemwrong.url, '--key-file', file('gemini-wrong', `${GEMINI_KEY}x`), ...tls]);
  providerSet('openai-down', ['--type', 'openai', '--url', `https://127.0.0.1:${await closedPort()}`,
    '--key-file', file('openai-down', OPENAI_KEY), ...tls]);
  providerSet('anthropic1', ['--type', 'anthropic', '--url', fakes.anthropic.url, '--key-file', file('ant-key', ANT_KEY), ...tls]);
  const litellmKey = file('litellm-key', LITELLM_KEY);
  providerSet('litellm1', ['--type', 'openai-compatible', '--url', fakes.litellm.url, '--key-file', litellmKey, ...tls]);
  providerSet('litellm2', ['--type', 'openai-compatible', '--url', fakes.litellm2.url, '--key-file', litellmKey, ...tls]);
  providerSet('ollama1', ['--type', 'ollama', '--url', fakes.ollama.url, ...tls]);

  // Claude Code retries a failing upstream for minutes unless told not to
  const once = { CLAUDE_CODE_MAX_RETRIES: '1' };
  await template('claude-code', 'claude-bedrock', 'bedrock1');
  await template('claude-code', 'claude-vertex', 'vertex1');
  await template('codex', 'codex-openai', 'openai1');
  await template('gemini', 'gemini-api', 'gemini1');
  await template('gemini', 'gemini-vertex', 'vertex2');
  await template('claude-code', 'claude-anthropic', 'anthropic1');
  await template('claude-code', 'claude-litellm', 'litellm1');
  await template('codex', 'codex-litellm', 'litellm2');
  await template('codex', 'codex-ollama', 'ollama1');
  await template('claude-code', 'claude-budget', 'bedrock-budget', { budget: { tokens: 100 } });
  await template('claude-code', 'claude-down', 'bedrock-down', { env: once });
  await template('claude-code', 'claude-wrong', 'bedrock-wrong', { env: once });
  await template('codex', 'codex-wrong', 'openai-wrong');
  await template('gemini', 'gemini-wrong', 'gemini-wrong');
  // (Codex's config has request_max_retries and stream_max_retries 0)
  await template('codex', 'codex-down', 'openai-down');
});

after(async () => {
  await srv?.stop();
  for (const c of started) c.kill();
});

// The agent's output entries of a task's logs.
async function outputs(name) {
  const r = await srv.api('GET', `/api/v2/tasks/admin/${name}/logs`);
  return (r.json?.logs ?? []).filter((l) => l.type === 'output').map((l) => l.content);
}

// The task's terminal screen as the runtime renders it.
async function screen(name) {
  const sc = new SseClient(srv.base + `/@admin/${name}/apps/chat/internal/screen`,
    { Authorization: `Bearer ${srv.token}` });
  await waitFor(() => sc.events.length > 0, { timeout: 5000, what: 'the screen' }).catch(() => {});
  sc.close();
  return sc.events[0]?.data?.screen ?? '';
}

// Wait until the agent's outputs or its screen match re (with the line
// breaks of a wrapped message taken as spaces).
async function shows(name, re, what) {
  const flat = (s) => s.replace(/\s*\n\s*(?=\S)/g, ' ');
  try {
    return await waitFor(async () => (await outputs(name)).some((o) => re.test(o) || re.test(flat(o))) ||
      re.test(flat(await screen(name))),
      { timeout: 90000, interval: 500, what: `${name}: ${what}` });
  } catch (e) {
    throw new Error(`${e.message}\nOUTPUTS ${JSON.stringify((await outputs(name)).slice(-6))}\nSCREEN\n${await screen(name)}`);
  }
}

// A send taken (the agent may still be starting: 409 means retry).
async function send(name, input) {
  const r = await waitFor(async () => {
    const x = await srv.api('POST', `/api/v2/tasks/admin/${name}/send`, { body: { input } });
    return x.status !== 409 && x;
  }, { timeout: 60000, interval: 200, what: `${name} taking '${input}'` });
  assert.ok(r.status >= 200 && r.status < 300, `send '${input}' to ${name}: ${r.status} ${r.text}`);
}

// Files under dir holding any of needles (grep -rlF).
function holders(dir, needles) {
  const r = spawnSync('grep', ['-rlF', ...needles.flatMap((n) => ['-e', n]), dir], { encoding: 'utf8' });
  return r.stdout.trim();
}

// Sum of the usage a fake's answers reported.
function reported(name) {
  const sum = { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
  let n = 0;
  for (const r of requests(name)) {
    if (!r.usage) continue;
    n++;
    for (const k of Object.keys(sum)) sum[k] += r.usage[k];
  }
  return { sum, n };
}

// The task's usage equals what its upstream reported.
async function usageMatches(task, fakeName) {
  let last;
  const ok = await waitFor(async () => {
    last = (await srv.api('GET', `/api/v2/tasks/admin/${task}/usage`)).json;
    const { sum } = reported(fakeName);
    return last?.total && Object.keys(sum).every((k) => last.total[k] === sum[k]);
  }, { timeout: 15000, interval: 250, what: `${task}'s usage` }).catch(() => false);
  const { sum, n } = reported(fakeName);
  assert.ok(ok, `usage of ${task}: ${JSON.stringify(last)}, the upstream reported ${JSON.stringify(sum)}`);
  assert.ok(last.total.requests >= n, `requests ${last.total.requests} >= ${n} answered`);
  assert.equal(typeof last.total.cost_usd, 'number');
}

// The per-agent cases: template, the fake, what each of its requests must
// show of the credentials, the model requests' paths.
const cases = [
  { name: 'claude-bedrock', fake: 'bedrock', api: /\/model\/[^/]+\/invoke-with-response-stream$/,
    cred: (r) => r.sigv4 === 'ok', env: /^CLAUDE_CODE_USE_BEDROCK=1$/m },
  { name: 'claude-vertex', fake: 'vertex', api: /publishers\/anthropic\/models\/[^/]+:streamRawPredict$/,
    cred: (r) => r.path === '/token' ? r.grant === 'ok' : r.bearer === 'ok', env: /^CLAUDE_CODE_USE_VERTEX=1$/m,
    where: { project: 'proj-e2e', location: 'us-east5' }, ttl: VERTEX_TTL },
  { name: 'codex-openai', fake: 'openai', api: /\/v1\/responses$/, cred: (r) => r.key !== 'refused',
    key: OPENAI_KEY, env: /^OPENAI_API_KEY=/m },
  { name: 'gemini-api', fake: 'gemini', api: /:streamGenerateContent/, cred: (r) => r.key !== 'refused',
    key: GEMINI_KEY, env: /^GEMINI_API_KEY=/m },
  { name: 'gemini-vertex', fake: 'gvertex', api: /publishers\/google\/models\/[^/]+:streamGenerateContent/,
    cred: (r) => r.path === '/token' ? r.grant === 'ok' : r.bearer === 'ok', env: /^GOOGLE_GENAI_USE_VERTEXAI=true$/m,
    where: { project: 'proj-gem', location: 'us-central1' } },
  { name: 'claude-anthropic', fake: 'anthropic', api: /\/v1\/messages$/, cred: (r) => r.key !== 'refused',
    key: ANT_KEY, env: /^ANTHROPIC_BASE_URL=/m },
  { name: 'claude-litellm', fake: 'litellm', api: /\/v1\/messages$/, cred: (r) => r.key !== 'refused',
    key: LITELLM_KEY, env: /^ANTHROPIC_BASE_URL=/m },
  { name: 'codex-litellm', fake: 'litellm2', api: /\/v1\/responses$/, cred: (r) => r.key !== 'refused',
    key: LITELLM_KEY, env: /^OPENAI_API_KEY=/m },
  { name: 'codex-ollama', fake: 'ollama', api: /\/v1\/(responses|chat\/completions)$/, cred: () => true,
    env: /^HOME=/m },
];

describe('agents through the gateway', { concurrency: 1 }, () => {
  for (const c of cases) {
    test(`${c.name}: exact reply, no credential in the workspace, usage as reported`, async () => {
      const t = await srv.createTask({ template: c.name, input: 'say hello', name: c.name });
      await srv.waitTask('admin', c.name, { timeout: 60000 });
      await shows(c.name, new RegExp(`(^|\\n)${REPLY.replace('.', '\\.')}$`), 'the reply');
      await srv.waitTask('admin', c.name, { state: 'idle', timeout: 60000 });
      const reqs = requests(c.fake);
      assert.ok(reqs.some((r) => c.api.test(r.path.split('?')[0]) && r.answer?.text === REPLY),
        `the model request reached the upstream: ${reqs.map((r) => r.path)}`);
      for (const r of reqs) assert.ok(c.cred(r), `${c.name}: credentials of ${r.method} ${r.path}: ${JSON.stringify(r)}`);
      if (c.key) for (const r of reqs) assert.ok(JSON.stringify(r.headers).includes(c.key), `${r.path} carried the key`);
      if (c.where) {
        for (const r of reqs.filter((x) => x.vertex)) assert.deepEqual({ project: r.vertex.project, location: r.vertex.location }, c.where);
      }

      // a short-lived token: wait for the last one to expire, so the next
      // turn needs a new grant
      const grants = () => requests(c.fake).filter((r) => r.path === '/token');
      const granted = grants().length;
      if (c.ttl) {
        const last = Math.max(...grants().map((r) => r.t));
        await waitFor(() => Date.now() / 1000 > last + c.ttl, { timeout: 10000, interval: 200, what: 'the token to expire' });
      }

      // the agent's own tool call dumps its environment into the workspace
      await send(c.name, 'dump your env');
      const home = path.join(taskDir(srv, t.id), 'home');
      const envFile = path.join(home, 'workspace/agent-env.txt');
      await waitFor(() => exists(envFile) && c.env.test(fs.readFileSync(envFile, 'utf8')),
        { timeout: 90000, what: `${c.name}'s environment in agent-env.txt` });
      await shows(c.name, /(^|\n)Env dumped\.$/, 'the reply after the tool call');
      await srv.waitTask('admin', c.name, { state: 'idle', timeout: 60000 });
      if (c.ttl) {
        // both turns worked (every request's bearer was good: c.cred
        // below), the second on a token granted after the first expired
        assert.ok(granted >= 1 && grants().length > granted, `grants: ${granted} then ${grants().length}`);
        for (const r of requests(c.fake)) assert.ok(c.cred(r), `${r.method} ${r.path}: ${JSON.stringify(r)}`);
      }
      const tokens = requests(c.fake).map((r) => r.token_issued).filter(Boolean);
      assert.equal(holders(home, [...secrets, ...tokens]), '', 'no credential in the workspace');

      await usageMatches(c.name, c.fake);
      assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/${c.name}`)).status, 202);
    });
  }

  test('a budget stops the task; resume is refused until it is raised, then the session goes on', async () => {
    const name = 'claude-budget';
    await srv.createTask({ template: name, input: 'say hello', name });
    // the first request is within the budget (nothing used yet); it is
    // then over: the next request the agent makes is refused, one of its
    // own or the follow-up's
    const isPaused = async () => (await srv.task('admin', name))?.status === 'paused';
    await waitFor(async () => await isPaused() || (await outputs(name)).some((o) => o.includes(REPLY)),
      { timeout: 90000, interval: 500, what: `${name}'s first reply or its pause` });
    // (a request of the agent's own after the reply may go over first:
    // the send then meets a task being paused, and is refused)
    let sent = null;
    if (!(await isPaused())) {
      sent = await waitFor(async () => {
        const x = await srv.api('POST', `/api/v2/tasks/admin/${name}/send`, { body: { input: 'now follow up' } });
        return (x.status !== 409 || await isPaused()) && x;
      }, { timeout: 60000, interval: 200, what: `${name} taking the follow-up` });
    }
    await waitFor(isPaused, { timeout: 90000, interval: 500,
      what: `${name} paused by its budget (the follow-up: ${sent ? `${sent.status} ${sent.text}` : 'not sent'})` });
    const paused = await srv.task('admin', name);
    assert.match(paused.current_state?.message ?? '', /^budget exceeded: task tokens \d+\/100$/);
    assert.ok(requests('budget').some((r) => r.answer?.text === REPLY), 'the first turn was within the budget');
    const r = await srv.api('POST', `/api/v2/tasks/admin/${name}/resume`);
    assert.equal(r.status, 409, r.text);
    assert.match(r.text, /budget exceeded/);
    await usageMatches(name, 'budget');

    await template('claude-code', name, 'bedrock-budget', { budget: { tokens: 1000000 } });
    assert.equal((await srv.api('POST', `/api/v2/tasks/admin/${name}/resume`)).status, 202);
    await srv.waitTask('admin', name, { state: 'idle', timeout: 90000 }).catch(async (e) => {
      console.log('BUDGET LLM', JSON.stringify(requests('budget').map((r) => [r.path, r.answer, JSON.stringify(r.body).slice(0, 300)])));
      console.log('BUDGET OUTPUTS', JSON.stringify(await outputs(name)));
      console.log('BUDGET LOGS', JSON.stringify((await srv.api('GET', `/api/v2/tasks/admin/${name}/logs`)).json));
      throw e;
    });
    await send(name, 'now follow up');
    await shows(name, /(^|\n)Follow-up answered\.$/, 'the reply after the resume');
    const last = requests('budget').filter((x) => JSON.stringify(x.body ?? '').includes('now follow up')).pop();
    assert.ok(JSON.stringify(last.body).includes('say hello'), 'the session went on');
    await usageMatches(name, 'budget');
    assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/${name}`)).status, 202);
  });

  // the gateway's 502 (504: a timeout) in each agent's format names the
  // provider
  const down = [
    ['claude-down', /API Error: 50[24] [^\n]*'bedrock-down'/],
    ['codex-down', /50[24] Bad Gateway[^\n]*'openai-down'/],
  ];
  for (const [name, re] of down) {
    test(`an upstream that is down: ${name} shows the error`, async () => {
      await srv.createTask({ template: name, input: 'say hello', name });
      await srv.waitTask('admin', name, { timeout: 60000 });
      await shows(name, re, 'the gateway error');
      assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/${name}`)).status, 202);
    });
  }

  test("a wrong AWS secret: Bedrock's 403 reaches the agent", async () => {
    const name = 'claude-wrong';
    await srv.createTask({ template: name, input: 'say hello', name });
    await srv.waitTask('admin', name, { timeout: 60000 });
    // the fake Bedrock's own words
    await shows(name, /API Error: 403 The request signature we calculated does not match/, "Bedrock's refusal");
    const reqs = requests('wrongsecret');
    assert.ok(reqs.length >= 1 && reqs.every((r) => r.sigv4 === 'InvalidSignatureException'), JSON.stringify(reqs.map((r) => r.sigv4)));
    assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/${name}`)).status, 202);
  });

  test("a wrong OpenAI key: OpenAI's 401 reaches Codex", async () => {
    const name = 'codex-wrong';
    await srv.createTask({ template: name, input: 'say hello', name });
    await srv.waitTask('admin', name, { timeout: 60000 });
    // the fake OpenAI's own words
    await shows(name, /401 Unauthorized: Incorrect API key provided/, "OpenAI's refusal");
    assert.ok(requests('wrongkey').some((r) => r.key === 'refused'));
    assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/${name}`)).status, 202);
  });

  test("a wrong Gemini key: the Gemini API's 401 reaches Gemini CLI", async () => {
    const name = 'gemini-wrong';
    await srv.createTask({ template: name, input: 'say hello', name });
    await srv.waitTask('admin', name, { timeout: 60000 });
    // the fake Gemini API's own words
    await shows(name, /API key not valid\. Please pass a valid API key\./, "the Gemini API's refusal");
    const reqs = requests('gemwrong');
    assert.ok(reqs.length >= 1 && reqs.every((r) => r.key === 'refused'), JSON.stringify(reqs.map((r) => r.key)));
    assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/${name}`)).status, 202);
  });

  test('GET /metrics: requests for every provider used, tokens as the upstream reported', async () => {
    const r = await srv.api('GET', '/metrics');
    assert.equal(r.status, 200, r.text);
    const lines = r.text.split('\n').filter((l) => l && !l.startsWith('#'));
    // the sum of a metric's samples whose labels include provider
    const total = (metric, provider, extra = '') => lines
      .filter((l) => l.startsWith(`${metric}{`) && l.includes(`provider="${provider}"`) && l.includes(extra))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    const used = ['bedrock1', 'vertex1', 'openai1', 'gemini1', 'vertex2', 'anthropic1', 'litellm1', 'litellm2',
      'ollama1', 'bedrock-budget', 'bedrock-wrong', 'openai-wrong', 'gemini-wrong'];
    for (const p of used) assert.ok(total('taskbox_gateway_requests_total', p) > 0, `requests of ${p}`);
    // anthropic1 served one task, all of whose answers the fake logged
    const { sum } = reported('anthropic');
    const kinds = { input: 'input_tokens', output: 'output_tokens', cache_read: 'cache_read_input_tokens',
      cache_creation: 'cache_creation_input_tokens' };
    for (const [kind, k] of Object.entries(kinds)) {
      assert.equal(total('taskbox_gateway_tokens_total', 'anthropic1', `kind="${kind}"`), sum[k], `${kind} tokens of anthropic1`);
    }
    assert.ok(sum.input_tokens > 0);
    assert.ok(total('taskbox_gateway_upstream_errors_total', 'openai-down') > 0, 'the down upstream counted');
  });
});
