// usage.test.mjs: LLM usage, prices and budgets (gateway/account.c,
// server/api-usage.c) through the API and the CLI.
//
// Everything but the last test runs against any server: prices, user
// budgets, workspace.budget in templates, the report's validation and a
// task's (empty) usage. The last drives the gateway: a task whose agent
// sends Anthropic Messages requests through llm.sock to the fake LLM
// (tests/harness/fake-llm.mjs, which reports 10 input and 5 output tokens
// per request) until its user's budget stops it; it runs once the gateway
// (src/gateway/gateway.c) is in the tree, and is skipped, saying so,
// before that. First, the accounting's unit binary
// (tests/unit/test-account.c) against a private PostgreSQL database.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, customTemplate, waitFor, bin, root, tmpdir, taskDir, exists } from '../harness/server.mjs';
import { startFakeLlm } from '../harness/llm.mjs';
import { pgDatabase, pgBindir } from '../harness/pg.mjs';
import { outsideHost } from '../harness/outside.mjs';

const gateway = fs.existsSync(path.join(root, 'src/gateway/gateway.c'));
let srv, alice, llm, llmLog;

test('the accounting unit tests pass against PostgreSQL (sums, saturation, budgets)',
  { skip: process.env.TASKBOX_TEST_STORE !== 'postgresql' ? 'the PostgreSQL run does it'
    : !pgBindir() && 'PostgreSQL is not installed' }, () => {
    const unit = path.join(path.dirname(bin), 'tests/unit/test-account');
    assert.ok(fs.existsSync(unit), `${unit} is built`);
    const r = spawnSync(unit, [], { encoding: 'utf8', timeout: 120000,
      env: { ...process.env, TASKBOX_TEST_STORE_SPEC: pgDatabase().uri } });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /PASSED  \] \d+ test/);
  });

function cli(args, token = srv.token) {
  const r = spawnSync(bin, args, {
    env: { ...process.env, TASKBOX_URL: srv.base, TASKBOX_TOKEN: token, HOME: tmpdir('usage-home-') },
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function problem(r, status, location) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type'), /application\/problem\+json/);
  if (location) assert.ok(r.json.errors?.some((e) => e.location === location), r.text);
}

before(async () => {
  const dir = tmpdir('usage-llm-');
  llmLog = path.join(dir, 'llm.jsonl');
  llm = await startFakeLlm({ default: 'ok' }, { dir, log: llmLog });
  srv = await startServer({ args: ['--llm-url', llm.url] });
  alice = await srv.user('alice');
});

after(async () => {
  await srv?.stop();
  llm?.child.kill();
});

test('prices: the built-in table, admin overrides, validation', async () => {
  let r = await srv.api('GET', '/api/v2/prices', { token: alice.token });
  assert.equal(r.status, 200, r.text);
  const sonnet = r.json.builtin.find((p) => p.model === 'claude-sonnet-4');
  assert.deepEqual({ input: sonnet.input, output: sonnet.output }, { input: 3, output: 15 });
  assert.ok(r.json.builtin.some((p) => p.model === 'gpt-5'));
  assert.ok(r.json.builtin.some((p) => p.model === 'gemini-2.5-flash'));
  assert.deepEqual(r.json.overrides, []);

  r = await srv.api('PUT', '/api/v2/prices/anthropic/claude-x', { token: alice.token, body: { input: 1, output: 2 } });
  problem(r, 403);
  r = await srv.api('PUT', '/api/v2/prices/nosuch/claude-x', { body: { input: 1, output: 2 } });
  problem(r, 422, 'path.type');
  r = await srv.api('PUT', '/api/v2/prices/anthropic/Bad%20Model', { body: { input: 1, output: 2 } });
  problem(r, 422, 'path.model');
  r = await srv.api('PUT', '/api/v2/prices/anthropic/claude-x', { body: { input: -1, output: 2 } });
  problem(r, 422, 'body.input');
  r = await srv.api('PUT', '/api/v2/prices/anthropic/claude-x', { body: { input: 1 } });
  problem(r, 422, 'body.output');
  r = await srv.api('PUT', '/api/v2/prices/anthropic/claude-x', { body: { input: 1e12, output: 1 } });
  problem(r, 422, 'body.input');

  r = await srv.api('PUT', '/api/v2/prices/anthropic/claude-x', { body: { input: 1.5, output: 7, cache_read: 0.25 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.json.input, r.json.output, r.json.cache_read, r.json.cache_write], [1.5, 7, 0.25, 1.5]);
  r = await srv.api('GET', '/api/v2/prices');
  assert.deepEqual(r.json.overrides.map((p) => [p.provider_type, p.model, p.input]), [['anthropic', 'claude-x', 1.5]]);

  // the CLI: set, list, delete
  let c = cli(['price', 'set', 'openai', 'gpt-test', '--input', '0.5', '--output', '4']);
  assert.equal(c.code, 0, c.err);
  c = cli(['price', 'list']);
  assert.equal(c.code, 0, c.err);
  assert.match(c.out, /openai\s+gpt-test\s+0\.5\s+4\s+0\.5\s+0\.5\s+admin/);
  assert.match(c.out, /claude-sonnet-4\s+3\s+15\s+0\.3\s+3\.75\s+built-in/);
  c = cli(['price', 'set', 'openai', 'gpt-test', '--input', 'lots', '--output', '4']);
  assert.equal(c.code, 2);
  c = cli(['price', 'set', 'openai', 'gpt-test', '--input', '1', '--output', '4'], alice.token);
  assert.equal(c.code, 1);
  assert.match(c.err, /only an admin/);
  c = cli(['price', 'delete', 'openai', 'gpt-test']);
  assert.equal(c.code, 0, c.err);
  c = cli(['price', 'delete', 'openai', 'gpt-test']);
  assert.equal(c.code, 1);
  r = await srv.api('DELETE', '/api/v2/prices/anthropic/claude-x');
  assert.equal(r.status, 204);
  r = await srv.api('DELETE', '/api/v2/prices/anthropic/claude-x');
  problem(r, 404);
});

test('user budgets: admins set, users read their own', async () => {
  let r = await srv.api('GET', '/api/v2/users/me/budget', { token: alice.token });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.tokens, null);
  assert.equal(r.json.usd, null);
  assert.equal(r.json.month.usage.requests, 0);
  assert.match(r.json.month.from, /^\d{4}-\d\d-01T00:00:00\.000Z$/);

  r = await srv.api('PUT', '/api/v2/users/alice/budget', { token: alice.token, body: { tokens: 5 } });
  problem(r, 403);
  r = await srv.api('GET', '/api/v2/users/admin/budget', { token: alice.token });
  problem(r, 404);
  for (const [body, loc] of [[{ tokens: 0 }, 'body.tokens'], [{ tokens: 1.5 }, 'body.tokens'],
    [{ tokens: 1e16 }, 'body.tokens'], [{ usd: -1 }, 'body.usd'], [{ usd: 'x' }, 'body.usd'],
    [{ dollars: 1 }, 'body']]) {
    r = await srv.api('PUT', '/api/v2/users/alice/budget', { body });
    problem(r, 422, loc);
  }
  // above 0 but under a nano-USD: a nano-USD, never a budget of 0
  r = await srv.api('PUT', '/api/v2/users/alice/budget', { body: { usd: 1e-12 } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.usd, 1e-9);
  r = await srv.api('PUT', '/api/v2/users/alice/budget', { body: { tokens: 1000, usd: 2.5 } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual([r.json.tokens, r.json.usd], [1000, 2.5]);

  // the CLI keeps the kind it is not given
  let c = cli(['user', 'set', 'alice', '--budget-usd', '4']);
  assert.equal(c.code, 0, c.err);
  assert.match(c.out, /alice's monthly budget: 1000 tokens, USD 4\.00/);
  c = cli(['user', 'set', 'alice', '--budget-tokens', 'none']);
  assert.equal(c.code, 0, c.err);
  r = await srv.api('GET', '/api/v2/users/alice/budget', { token: alice.token });
  assert.deepEqual([r.json.tokens, r.json.usd], [null, 4]);
  c = cli(['user', 'set', 'alice', '--budget-usd', '-3']);
  assert.equal(c.code, 2);
  r = await srv.api('PUT', '/api/v2/users/alice/budget', { body: {} });
  assert.deepEqual([r.json.tokens, r.json.usd], [null, null]);
});

test('usage report: validation, members see their own', async () => {
  for (const [q, loc] of [['group_by=day', 'query.group_by'], ['from=yesterday', 'query.from'],
    ['to=2026-13-01T00:00:00Z', 'query.to'], ['from=2000&to=1000', 'query.from'],
    ['from=2026-01-01T00:00:00', 'query.from']]) {
    const r = await srv.api('GET', `/api/v2/usage?${q}`);
    problem(r, 400, loc);
  }
  for (const by of ['user', 'template', 'provider', 'model']) {
    const r = await srv.api('GET', `/api/v2/usage?group_by=${by}&from=2026-01-01T00:00:00%2B02:00&to=4102444800`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.group_by, by);
    assert.equal(r.json.from, '2025-12-31T22:00:00.000Z');
    assert.equal(r.json.to, '2100-01-01T00:00:00.000Z');
  }
  const c = cli(['usage', '--group-by', 'model'], alice.token);
  assert.equal(c.code, 0, c.err);
  assert.match(c.out, /KEY\s+NAME\s+REQUESTS/);
  assert.match(c.out, /total\s+0\s+0\s+0\s+0\s+0\s+0\.0000/);
  assert.equal(cli(['usage', '--group-by', 'day']).code, 1);
});

test('workspace.budget in templates is validated', async () => {
  const base = customTemplate('budgeted', ['sleep', '1000']);
  const bad = [['tokens: 0', /workspace\.budget\.tokens/], ['usd: -2', /workspace\.budget\.usd/],
    ['usd: lots', /workspace\.budget\.usd/], ['dollars: 3', /workspace\.budget/]];
  for (const [line, re] of bad) {
    const yaml = base.replace('  backend: local\n', `  backend: local\n  budget:\n    ${line}\n`);
    const r = await srv.pushTemplate(yaml, alice.token);
    assert.equal(r.status, 422, `${line}: ${r.text}`);
    assert.match(r.text, re);
  }
  const yaml = base.replace('  backend: local\n', '  backend: local\n  budget:\n    tokens: 20\n    usd: 0.5\n');
  const r = await srv.pushTemplate(yaml, alice.token);
  assert.equal(r.status, 201, r.text);
});

test('a task carries its usage: zero before any request', async () => {
  const task = await srv.createTask({ template: 'budgeted', input: 'x', name: 'idle-one' }, { token: alice.token });
  assert.deepEqual(task.usage, { requests: 0, input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, cost_usd: 0 });
  const r = await srv.api('GET', '/api/v2/tasks/alice/idle-one/usage', { token: alice.token });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.total.requests, 0);
  assert.deepEqual(r.json.models, []);
  const other = await srv.user('mallory');
  problem(await srv.api('GET', '/api/v2/tasks/alice/idle-one/usage', { token: other.token }), 404);
  const c = cli(['task', 'usage', 'alice/idle-one']);
  assert.equal(c.code, 0, c.err);
  assert.match(c.out, /MODEL\s+PROVIDER\s+REQUESTS/);
  await srv.api('DELETE', '/api/v2/tasks/alice/idle-one', { token: alice.token });
});

test('through the gateway: usage counted, a budget pauses the task, resume after raising it',
  { skip: gateway ? false : 'the gateway (src/gateway/gateway.c) is not in the tree yet' }, async (ctx) => {
    // one request per line of input (a send); the replies are kept and
    // numbered on from what an earlier run left
    const agent = [
      'i=$(ls status.* 2>/dev/null | wc -l); printf "$ "; while read -r l; do i=$((i+1));',
      '  code=$(curl -s -o reply.$i -w "%{http_code}" -m 20 http://127.0.0.1:4000/v1/messages',
      '    -H "content-type: application/json" -H "x-api-key: placeholder" -H "anthropic-version: 2023-06-01"',
      `    -d '{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}');`,
      '  echo $code > status.$i; echo "reply $i: $code"; printf "$ "; done',
    ].join(' ');
    // the template's webhook hears of the pause as of any other (an
    // admin's template: a member's webhook may not reach private ranges)
    const hook = await outsideHost();
    ctx.after(() => hook.stop());
    let r = await srv.pushTemplate(customTemplate('metered', ['sh', '-c', agent])
      .replace('  backend: local\n', `  backend: local\n  webhook: ${hook.url}/metered\n`));
    assert.equal(r.status, 201, r.text);
    r = await srv.api('PUT', '/api/v2/users/alice/budget', { body: { tokens: 30 } });
    assert.equal(r.status, 200, r.text);
    const task = await srv.createTask({ template: 'metered', input: 'x', name: 'metered' }, { token: alice.token });
    const ws = path.join(taskDir(srv, task.id), 'home/workspace');
    const status = (i) => path.join(ws, `status.${i}`);
    // the prompt ("x") is request 1
    await waitFor(() => exists(status(1)), { what: 'request 1', timeout: 30000 });
    const request = async (i) => {
      await srv.waitTask('alice', 'metered', { state: 'idle', token: alice.token });
      const s = await srv.api('POST', '/api/v2/tasks/alice/metered/send', { token: alice.token, body: { input: `go ${i}` } });
      assert.ok(s.status < 300, `${s.text}\n${srv.log}`);
      await waitFor(() => exists(status(i)) && /^\d{3}\n$/.test(fs.readFileSync(status(i), 'utf8')),
        { what: `request ${i}`, timeout: 30000 });
      return fs.readFileSync(status(i), 'utf8').trim();
    };
    assert.equal(fs.readFileSync(status(1), 'utf8').trim(), '200');
    assert.equal(await request(2), '200');
    // 2 x (10 + 5) tokens: the budget of 30 is used up
    const t = await waitFor(async () => {
      const x = await srv.task('alice', 'metered', alice.token);
      return x.usage.requests === 2 ? x : null;
    }, { what: 'usage in the Task JSON' });
    assert.equal(t.usage.input_tokens, 20);
    assert.equal(t.usage.output_tokens, 10);
    // claude-sonnet-4-5 at USD 3 / 15 per million: 2 x (30 + 75) micro-USD
    assert.ok(Math.abs(t.usage.cost_usd - 0.00021) < 1e-12, String(t.usage.cost_usd));
    r = await srv.api('GET', '/api/v2/tasks/alice/metered/usage', { token: alice.token });
    assert.deepEqual(r.json.models.map((m) => [m.model, m.requests, m.priced]), [['claude-sonnet-4-5', 2, true]]);
    r = await srv.api('GET', '/api/v2/usage?group_by=user', { token: alice.token });
    assert.deepEqual(r.json.groups.map((g) => [g.name, g.input_tokens]), [['alice', 20]]);
    // another member sees none of it, whatever the grouping and range
    const mallet = await srv.user('mallet');
    for (const by of ['user', 'template', 'provider', 'model']) {
      r = await srv.api('GET', `/api/v2/usage?group_by=${by}&from=0&to=4102444800`, { token: mallet.token });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.groups, [], by);
      assert.equal(r.json.total.requests, 0);
    }
    problem(await srv.api('GET', '/api/v2/tasks/alice/metered/usage', { token: mallet.token }), 404);
    problem(await srv.api('GET', '/api/v2/users/alice/budget', { token: mallet.token }), 404);
    problem(await srv.api('PUT', '/api/v2/users/mallet/budget', { token: mallet.token, body: { tokens: 1e12 } }), 403);

    // the third is refused before the upstream sees it; the pause may
    // stop the agent before it writes down the 429 (and the send's reply
    // may be the stopping runtime's)
    const upstream = () => fs.readFileSync(llmLog, 'utf8').split('\n').filter((l) => l.includes('/v1/messages')).length;
    assert.equal(upstream(), 2);
    await srv.waitTask('alice', 'metered', { state: 'idle', token: alice.token });
    await srv.api('POST', '/api/v2/tasks/alice/metered/send', { token: alice.token, body: { input: 'go 3' } });
    const paused = await srv.waitTask('alice', 'metered', { status: 'paused', token: alice.token });
    assert.match(paused.current_state.message, /^budget exceeded: user's monthly tokens 30\/30/);
    await waitFor(() => hook.seen.some((g) => {
      const b = !g.failed && JSON.parse(g.body);
      return b && b.event === 'task.state' && b.task.status === 'paused' &&
        /^budget exceeded: user's monthly tokens 30\/30/.test(b.state.message);
    }), { what: 'the webhook of the budget pause', timeout: 20000 });
    assert.equal(upstream(), 2, 'the refused request never reached the provider');
    if (exists(status(3))) {
      assert.equal(fs.readFileSync(status(3), 'utf8').trim(), '429');
      assert.match(fs.readFileSync(path.join(ws, 'reply.3'), 'utf8'), /budget exceeded/);
    }
    r = await srv.api('POST', '/api/v2/tasks/alice/metered/resume', { token: alice.token });
    problem(r, 409);
    assert.match(r.json.detail, /budget exceeded/);

    r = await srv.api('PUT', '/api/v2/users/alice/budget', { body: { tokens: 1000 } });
    assert.equal(r.status, 200, r.text);
    r = await srv.api('POST', '/api/v2/tasks/alice/metered/resume', { token: alice.token });
    assert.equal(r.status, 202, r.text);
    await srv.waitTask('alice', 'metered', { token: alice.token });
    // the session goes on: the next request is numbered after the files
    const next = fs.readdirSync(ws).filter((f) => f.startsWith('status.')).length + 1;
    assert.equal(await request(next), '200');
    assert.equal(upstream(), 3);

    // the template's budget: a new version of it holds its running task
    // (45 tokens used: 3 x 15)
    const budgeted = (tokens) => customTemplate('metered', ['sh', '-c', agent])
      .replace('  backend: local\n', `  backend: local\n  webhook: ${hook.url}/metered\n  budget:\n    tokens: ${tokens}\n`);
    r = await srv.pushTemplate(budgeted(45));
    assert.equal(r.status, 201, r.text);
    await srv.waitTask('alice', 'metered', { state: 'idle', token: alice.token });
    await srv.api('POST', '/api/v2/tasks/alice/metered/send', { token: alice.token, body: { input: 'go again' } });
    const again = await srv.waitTask('alice', 'metered', { status: 'paused', token: alice.token });
    assert.match(again.current_state.message, /^budget exceeded: task tokens 45\/45/);
    assert.equal(upstream(), 3);
    r = await srv.api('POST', '/api/v2/tasks/alice/metered/resume', { token: alice.token });
    problem(r, 409);
    assert.match(r.json.detail, /task tokens 45\/45/);
    r = await srv.pushTemplate(budgeted(1000));
    assert.equal(r.status, 201, r.text);
    r = await srv.api('POST', '/api/v2/tasks/alice/metered/resume', { token: alice.token });
    assert.equal(r.status, 202, r.text);
    await srv.waitTask('alice', 'metered', { token: alice.token });
    const last = fs.readdirSync(ws).filter((f) => f.startsWith('status.')).length + 1;
    assert.equal(await request(last), '200');
    assert.equal(upstream(), 4);
    await srv.api('DELETE', '/api/v2/tasks/alice/metered', { token: alice.token });
    // a deleted task's usage stays in the reports
    r = await srv.api('GET', '/api/v2/usage?group_by=user');
    assert.deepEqual(r.json.groups.map((g) => [g.name, g.requests]), [['alice', 4]]);
  });
