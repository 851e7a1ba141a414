// coder-action.test.mjs: Coder's GitHub Action (coder/create-task-action)
// works against taskbox unmodified. tests/harness/coder-action.mjs replays
// the action call by call (its paths, headers, bodies and its strict zod
// parsing of every reply) as a child process with the inputs a GitHub
// runner passes; here it runs against a real server and a fake GitHub
// (tests/harness/fake-github.mjs: the issue comments, the device flow),
// as a workflow would on an issue: both identity modes (a GitHub user id
// linked to a user by an admin or by the user's own device-flow link, an
// explicit username), the template's default and a named preset, a first
// run that creates the task gh-<issue> and comments its URL, a second run
// that waits for the agent to be idle and sends the new prompt, a task
// re-created after a delete (the comment is edited, not repeated), a
// task-creator bot token creating for a member, and the refusals: a
// member creating for someone else (403), an unknown preset, an unknown
// template (404 with Coder's `message`), an unlinked GitHub id. Tasks run
// bash as a custom agent.
// Needs zod, @actions/core and @actions/github from $TASKBOX_NODE_MODULES
// (tests/package.json); skipped without it, like the other npm tests.
import { test as nodeTest, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, waitFor, tmpdir } from '../harness/server.mjs';
import { startFakeGitHub } from '../harness/fake-github.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const actionScript = path.join(here, '..', 'harness', 'coder-action.mjs');
const skip = process.env.TASKBOX_NODE_MODULES ? false
  : 'TASKBOX_NODE_MODULES is not set (needs zod and @actions/github)';

// The Actions GITHUB_TOKEN the fake GitHub accepts for the comments.
const GH_API_TOKEN = 'ghs_contract_test_token';
// The OAuth app taskbox links accounts with, and GitHub's accounts.
const GH_CLIENT = 'Iv1.contracttest';
const GH_SECRET = 'contract-test-secret';
const GH_USERS = [{ id: 6001, login: 'dave-gh', name: 'Dave' }];

// A shell agent with a parameter the presets set (the agent's
// environment has it as TASKBOX_PARAM_FLAVOR).
const TEMPLATE = `name: coder-sh
workspace:
  backend: local
  env:
    PS1: "$ "
parameters:
  - name: Flavor
    default: none
presets:
  - name: plain
    default: true
    parameters: {Flavor: plain}
  - name: spicy
    description: The other one
    parameters: {Flavor: spicy}
agent:
  module: custom
  command: [bash, --norc, --noprofile, -i]
ai_task:
  app: chat
`;

let srv, gh, dir;
const users = {};

before(async () => {
  if (skip) return;
  const nm = createRequire(path.join(path.resolve(process.env.TASKBOX_NODE_MODULES), 'noop.js'));
  for (const m of ['zod', '@actions/core', '@actions/github']) {
    try { nm.resolve(m); } catch {
      throw new Error(`${m} is not in $TASKBOX_NODE_MODULES: run scripts/bootstrap.sh deps --test`);
    }
  }
  dir = tmpdir('taskbox-coder-action-');
  srv = await startServer();
  gh = await startFakeGitHub({ clientId: GH_CLIENT, clientSecret: GH_SECRET, users: GH_USERS, apiToken: GH_API_TOKEN });
  const t = await srv.pushTemplate(TEMPLATE);
  assert.equal(t.status, 201, t.text);
  users.alice = await srv.user('alice');
  users.bob = await srv.user('bob');
  users.carol = await srv.user('carol');
  users.bot = await srv.user('issuebot', 'task-creator');
  users.dave = await srv.user('dave');
  // an admin links alice to her GitHub account
  const link = await srv.api('PATCH', '/api/v2/users/alice', { body: { github_com_user_id: 4242 } });
  assert.equal(link.status, 200, link.text);
  assert.equal(link.json.github_com_user_id, 4242);
});

after(async () => {
  if (skip) return;
  await srv?.stop();
  // an ASan build reports leaks and errors as it exits
  if (srv) assert.doesNotMatch(srv.log, /Sanitizer/, srv.log);
  await gh?.close();
  if (srv) fs.rmSync(srv.data, { recursive: true, force: true });
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

let runs = 0;

// Run the action with inputs (name -> value, as in a workflow's `with:`)
// the way a runner does: INPUT_* variables with action.yaml's defaults,
// GITHUB_OUTPUT and GITHUB_API_URL, nothing else of this process's
// environment. Resolves {code, stdout, stderr, outputs, calls}: calls are
// the Coder calls made, [{method, path, status}] in order.
async function runAction(inputs, { apiUrl = gh.apiUrl } = {}) {
  const n = ++runs;
  const outFile = path.join(dir, `output-${n}`);
  const traceFile = path.join(dir, `trace-${n}`);
  fs.writeFileSync(outFile, '');
  const all = {
    'coder-url': srv.base,
    'github-token': GH_API_TOKEN,
    'coder-organization': 'default',
    'coder-task-name-prefix': 'gh',
    'comment-on-issue': 'true',
    ...inputs,
  };
  const env = {
    PATH: process.env.PATH,
    TASKBOX_NODE_MODULES: process.env.TASKBOX_NODE_MODULES,
    GITHUB_ACTIONS: 'true',
    GITHUB_OUTPUT: outFile,
    GITHUB_API_URL: apiUrl,
    // the action's wait, shortened: its defaults are 2 s polls and 30 s
    // of stable idle
    TASKBOX_ACTION_POLL_MS: '250',
    TASKBOX_ACTION_STABLE_IDLE_MS: '1500',
    TASKBOX_ACTION_WAIT_MS: '120000',
    TASKBOX_ACTION_TRACE: traceFile,
  };
  for (const [k, v] of Object.entries(all)) env[`INPUT_${k.replace(/ /g, '_').toUpperCase()}`] = v;
  const child = spawn(process.execPath, [actionScript], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const code = await new Promise((resolve) => child.on('close', (c) => resolve(c)));
  const outputs = {};
  const text = fs.readFileSync(outFile, 'utf8');
  for (const m of text.matchAll(/^([^<\n]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)) outputs[m[1]] = m[3];
  const calls = fs.existsSync(traceFile)
    ? fs.readFileSync(traceFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
    : [];
  return { code, stdout, stderr, outputs, calls, all: `${stdout}\n${stderr}` };
}

// The calls as "METHOD path" lines (status separately asserted).
const lines = (calls) => calls.map((c) => `${c.method} ${c.path}`);

// The task's log entries of a type, as strings.
async function logs(owner, id, type) {
  const r = await srv.api('GET', `/api/v2/tasks/${owner}/${id}/logs`);
  assert.equal(r.status, 200, r.text);
  return r.json.logs.filter((e) => e.type === type).map((e) => e.content);
}

// Wait until the task's output has a line matching re.
async function waitOutput(owner, id, re) {
  await waitFor(async () => (await logs(owner, id, 'output')).some((o) => o.split('\n').some((l) => re.test(l.trim()))),
    { timeout: 60000, what: `output ${re} of ${owner}/${id}` });
}

// The template's presets, by name: {ID, Name, Default}.
async function presets() {
  const t = await srv.api('GET', '/api/v2/organizations/default/templates/coder-sh');
  assert.equal(t.status, 200, t.text);
  const p = await srv.api('GET', `/api/v2/templateversions/${t.json.active_version_id}/presets`);
  assert.equal(p.status, 200, p.text);
  return { version: t.json.active_version_id, byName: Object.fromEntries(p.json.map((x) => [x.Name, x])) };
}

const issue = (n) => `https://github.com/acme/widgets/issues/${n}`;
// The bodies of the comments on acme/widgets#n.
const commentsOn = (n) => (gh.comments.get(`acme/widgets#${n}`) ?? []).map((c) => c.body);
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

// One step of the workflow story below (in order; skipped without the
// npm modules). Top-level tests: each has the tier's per-test timeout.
const test = (name, fn) => nodeTest(name, { skip }, fn);

let first; // alice's task gh-7: {id, url}

test('GitHub user id: the first run creates gh-7 with the default preset and comments its URL', async () => {
  const { version, byName } = await presets();
  const r = await runAction({
    'github-user-id': '4242',
    'coder-token': users.alice.token,
    'coder-template-name': 'coder-sh',
    'github-issue-url': issue(7),
    'coder-task-prompt': 'echo "first-$TASKBOX_PARAM_FLAVOR"',
  });
  assert.equal(r.code, 0, r.all);
  assert.equal(r.outputs['coder-username'], 'alice');
  assert.equal(r.outputs['task-name'], 'gh-7');
  assert.equal(r.outputs['task-created'], 'true');
  const m = new RegExp(`^${srv.base}/tasks/alice/(${UUID})$`).exec(r.outputs['task-url']);
  assert.ok(m, r.outputs['task-url']);
  first = { id: m[1], url: r.outputs['task-url'] };
  assert.deepEqual(lines(r.calls), [
    'GET /api/v2/users?q=github_com_user_id%3A4242',
    'GET /api/v2/organizations/default/templates/coder-sh',
    `GET /api/v2/templateversions/${version}/presets`,
    'GET /api/experimental/tasks?q=owner%3Aalice',
    'POST /api/experimental/tasks/alice',
  ]);
  assert.deepEqual(r.calls.map((c) => c.status), [200, 200, 200, 200, 201]);

  // the comment on the issue, made with the Actions token
  assert.deepEqual(commentsOn(7), [`Task created: ${first.url}`]);
  assert.deepEqual(gh.requests.filter((x) => x.path.startsWith('/repos/acme/widgets/issues/7'))
    .map((x) => `${x.method} ${x.path}`),
  ['GET /repos/acme/widgets/issues/7/comments', 'POST /repos/acme/widgets/issues/7/comments']);

  // the URL opens the task page; the task is alice's, with the preset
  const page = await fetch(first.url, { headers: { Authorization: `Bearer ${users.alice.token}` } });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  const t = await srv.api('GET', `/api/v2/tasks/alice/${first.id}`, { token: users.alice.token });
  assert.equal(t.status, 200, t.text);
  assert.equal(t.json.id, first.id);
  assert.equal(t.json.name, 'gh-7');
  assert.equal(t.json.owner_id, users.alice.id);
  assert.equal(t.json.template_version_preset_id, byName.plain.ID);
  // the prompt ran with the default preset's parameter
  await waitOutput('alice', first.id, /^first-plain$/);
});

test('the second run finds gh-7, waits for the agent to be idle and sends the new prompt', async () => {
  assert.ok(first, 'needs the first run');
  const r = await runAction({
    'github-user-id': '4242',
    'coder-token': users.alice.token,
    'coder-template-name': 'coder-sh',
    'github-issue-url': issue(7),
    'coder-task-prompt': 'echo second-run',
  });
  assert.equal(r.code, 0, r.all);
  assert.equal(r.outputs['task-created'], 'false');
  assert.equal(r.outputs['task-url'], first.url);
  assert.equal(r.outputs['task-name'], 'gh-7');
  const l = lines(r.calls);
  assert.equal(l[3], 'GET /api/experimental/tasks?q=owner%3Aalice');
  // polled by id until active and idle for the stable while, then sent
  const polls = l.slice(4, -1);
  assert.ok(polls.length >= 2, l.join('\n'));
  for (const p of polls) assert.equal(p, `GET /api/experimental/tasks/alice/${first.id}`);
  assert.equal(l.at(-1), `POST /api/experimental/tasks/alice/${first.id}/send`);
  assert.ok(r.calls.every((c) => c.status >= 200 && c.status < 300), JSON.stringify(r.calls));
  // the prompt reached the agent after the first one
  await waitOutput('alice', first.id, /^second-run$/);
  assert.deepEqual(await logs('alice', first.id, 'input'),
    ['echo "first-$TASKBOX_PARAM_FLAVOR"', 'echo second-run']);
  // a send does not comment
  assert.equal(commentsOn(7).length, 1);
});

test('a task re-created after a delete edits the comment instead of adding one', async () => {
  assert.ok(first, 'needs the first run');
  const del = await srv.api('DELETE', `/api/v2/tasks/alice/${first.id}`);
  assert.ok(del.status === 200 || del.status === 202 || del.status === 204, del.text);
  await waitFor(async () => (await srv.api('GET', `/api/v2/tasks/alice/${first.id}`)).status === 404,
    { timeout: 60000, what: 'gh-7 deleted' });
  const r = await runAction({
    'github-user-id': '4242',
    'coder-token': users.alice.token,
    'coder-template-name': 'coder-sh',
    'github-issue-url': issue(7),
    'coder-task-prompt': 'echo again',
  });
  assert.equal(r.code, 0, r.all);
  assert.equal(r.outputs['task-created'], 'true');
  assert.notEqual(r.outputs['task-url'], first.url);
  const list = gh.comments.get('acme/widgets#7');
  assert.equal(list.length, 1);
  assert.equal(list[0].body, `Task created: ${r.outputs['task-url']}`);
  assert.equal(gh.requests.filter((x) => x.method === 'PATCH' &&
    x.path === `/repos/acme/widgets/issues/comments/${list[0].id}`).length, 1);
});

test('an explicit username with a named preset', async () => {
  const { byName } = await presets();
  const r = await runAction({
    'coder-username': 'bob',
    'coder-token': users.bob.token,
    'coder-template-name': 'coder-sh',
    'coder-template-preset': 'spicy',
    'github-issue-url': issue(8),
    'coder-task-prompt': 'echo "flavor-$TASKBOX_PARAM_FLAVOR"',
  }, { apiUrl: `${gh.apiUrl}/api/v3` });
  assert.equal(r.code, 0, r.all);
  assert.equal(r.outputs['coder-username'], 'bob');
  assert.equal(r.outputs['task-name'], 'gh-8');
  // no user lookup: the template comes first
  assert.equal(lines(r.calls)[0], 'GET /api/v2/organizations/default/templates/coder-sh');
  const id = r.outputs['task-url'].split('/').at(-1);
  const t = await srv.api('GET', `/api/v2/tasks/bob/${id}`, { token: users.bob.token });
  assert.equal(t.status, 200, t.text);
  assert.equal(t.json.template_version_preset_id, byName.spicy.ID);
  await waitOutput('bob', id, /^flavor-spicy$/);
  assert.deepEqual(commentsOn(8), [`Task created: ${r.outputs['task-url']}`]);
  // through GitHub Enterprise's API prefix
  assert.ok(gh.requests.some((x) => x.method === 'POST' && x.path.endsWith('/repos/acme/widgets/issues/8/comments')));
});

test('a member token creating a task for someone else is refused with 403', async () => {
  const r = await runAction({
    'coder-username': 'carol',
    'coder-token': users.alice.token,
    'coder-template-name': 'coder-sh',
    'github-issue-url': issue(11),
    'coder-task-prompt': 'echo not-allowed',
  });
  assert.notEqual(r.code, 0, r.all);
  assert.match(r.stdout, /^::error::Coder API error: Forbidden$/m);
  assert.match(r.stderr, /^HTTP status: 403$/m);
  assert.deepEqual(r.calls.at(-1), { method: 'POST', path: '/api/experimental/tasks/carol', status: 403 });
  const body = JSON.parse(/^body: (.*)$/m.exec(r.stderr)[1]);
  assert.equal(typeof body.message, 'string');
  assert.ok(body.message.length > 0);
  const list = await srv.api('GET', '/api/v2/tasks?q=owner:carol');
  assert.equal(list.status, 200, list.text);
  assert.equal(list.json.tasks.length, 0);
  assert.deepEqual(commentsOn(11), []);
});

test('an unknown preset fails with the action\'s message, before any task call', async () => {
  const r = await runAction({
    'coder-username': 'bob',
    'coder-token': users.bob.token,
    'coder-template-name': 'coder-sh',
    'coder-template-preset': 'nosuch',
    'github-issue-url': issue(12),
    'coder-task-prompt': 'echo x',
  });
  assert.notEqual(r.code, 0, r.all);
  assert.match(r.stdout, /^::error::Preset nosuch not found$/m);
  assert.equal(r.calls.length, 2, JSON.stringify(r.calls));
});

test('an unknown template: 404 with Coder\'s message', async () => {
  const r = await runAction({
    'coder-username': 'bob',
    'coder-token': users.bob.token,
    'coder-template-name': 'no-such-template',
    'github-issue-url': issue(13),
    'coder-task-prompt': 'echo x',
  });
  assert.notEqual(r.code, 0, r.all);
  assert.match(r.stdout, /^::error::Coder API error: Not Found$/m);
  assert.match(r.stderr, /^HTTP status: 404$/m);
  assert.deepEqual(r.calls, [{ method: 'GET', path: '/api/v2/organizations/default/templates/no-such-template', status: 404 }]);
  const body = JSON.parse(/^body: (.*)$/m.exec(r.stderr)[1]);
  assert.match(body.message, /no-such-template/);
});

test('an unknown organization: 404', async () => {
  const r = await runAction({
    'coder-username': 'bob',
    'coder-token': users.bob.token,
    'coder-organization': 'elsewhere',
    'coder-template-name': 'coder-sh',
    'github-issue-url': issue(13),
    'coder-task-prompt': 'echo x',
  });
  assert.notEqual(r.code, 0, r.all);
  assert.match(r.stderr, /^HTTP status: 404$/m);
  const body = JSON.parse(/^body: (.*)$/m.exec(r.stderr)[1]);
  assert.equal(typeof body.message, 'string');
});

test('a GitHub id no user has linked fails with the action\'s message', async () => {
  const r = await runAction({
    'github-user-id': '999999',
    'coder-token': users.bot.token,
    'coder-template-name': 'coder-sh',
    'github-issue-url': issue(14),
    'coder-task-prompt': 'echo x',
  });
  assert.notEqual(r.code, 0, r.all);
  assert.match(r.stdout, /^::error::No Coder user found with GitHub user ID 999999$/m);
  assert.deepEqual(r.calls, [{ method: 'GET', path: '/api/v2/users?q=github_com_user_id%3A999999', status: 200 }]);
});

test('a task-creator bot creates for a member, then finds and sends to that task', async () => {
  const base = {
    'coder-username': 'carol',
    'coder-token': users.bot.token,
    'coder-template-name': 'coder-sh',
    'github-issue-url': issue(21),
  };
  const r = await runAction({ ...base, 'coder-task-prompt': 'echo bot-first' });
  assert.equal(r.code, 0, r.all);
  assert.equal(r.outputs['task-created'], 'true');
  const m = new RegExp(`/tasks/carol/(${UUID})$`).exec(r.outputs['task-url']);
  assert.ok(m, r.outputs['task-url']);
  const id = m[1];
  // carol owns it and sees it
  const t = await srv.api('GET', `/api/v2/tasks/carol/${id}`, { token: users.carol.token });
  assert.equal(t.status, 200, t.text);
  assert.equal(t.json.owner_id, users.carol.id);
  await waitOutput('carol', id, /^bot-first$/);

  const again = await runAction({ ...base, 'coder-task-prompt': 'echo bot-second' });
  assert.equal(again.code, 0, again.all);
  assert.equal(again.outputs['task-created'], 'false');
  assert.equal(again.outputs['task-url'], r.outputs['task-url']);
  assert.equal(lines(again.calls).at(-1), `POST /api/experimental/tasks/carol/${id}/send`);
  await waitOutput('carol', id, /^bot-second$/);
  assert.deepEqual(commentsOn(21), [`Task created: ${r.outputs['task-url']}`]);
});

test('a task-creator bot may not create for an admin', async () => {
  const r = await runAction({
    'coder-username': 'admin',
    'coder-token': users.bot.token,
    'coder-template-name': 'coder-sh',
    'github-issue-url': issue(22),
    'coder-task-prompt': 'echo x',
  });
  assert.notEqual(r.code, 0, r.all);
  assert.match(r.stderr, /^HTTP status: 403$/m);
  assert.equal(r.calls.at(-1).method, 'POST');
});

test('a user who linked GitHub through the device flow is found by its GitHub id', async () => {
  const cfg = await srv.api('PUT', '/api/v2/external-auth/github/config', {
    body: { client_id: GH_CLIENT, client_secret: GH_SECRET, base_url: gh.url, api_url: gh.apiUrl },
  });
  assert.equal(cfg.status, 200, cfg.text);
  let r = await srv.api('GET', '/api/v2/external-auth/github/device', { token: users.dave.token });
  assert.equal(r.status, 200, r.text);
  gh.approveDevice(r.json.user_code, 'dave-gh');
  r = await srv.api('POST', '/api/v2/external-auth/github/device', { token: users.dave.token, body: { device_code: r.json.device_code } });
  assert.equal(r.status, 204, r.text);

  // the workflow's bot token, the id of the GitHub user who opened the issue
  const run = await runAction({
    'github-user-id': '6001',
    'coder-token': users.bot.token,
    'coder-template-name': 'coder-sh',
    'github-issue-url': issue(30),
    'coder-task-prompt': 'echo linked-by-device',
  });
  assert.equal(run.code, 0, run.all);
  assert.equal(run.outputs['coder-username'], 'dave');
  assert.equal(run.outputs['task-created'], 'true');
  assert.deepEqual(lines(run.calls).slice(0, 1), ['GET /api/v2/users?q=github_com_user_id%3A6001']);
  const id = run.outputs['task-url'].split('/').at(-1);
  await waitOutput('dave', id, /^linked-by-device$/);
  assert.deepEqual(commentsOn(30), [`Task created: ${run.outputs['task-url']}`]);
});
