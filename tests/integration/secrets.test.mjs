// secrets.test.mjs: user and template secrets, the git identity and the
// GitHub token of a workspace.
//
// The agents dump their environment, ~/.gitconfig, what git reports as
// author and committer, and what git's credential helper answers for
// github.com into their workspace; the test reads those files from the
// host. Secret values must show up there and only there: never in an API
// reply, the server's log, or the database files in clear.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, customTemplate, waitFor, taskDir, exists, bin, tmpdir, testStore, storeBytes } from '../harness/server.mjs';

const tag = `${process.pid}${Date.now()}`;
const GH = `ghp_ownerToken${tag}`;
const BOT = `ghp_botToken${tag}`;
const OPENAI = `sk-openai-${tag}`;
const values = [GH, BOT, OPENAI];

let srv, alice, bob, data, adminToken;
const replies = []; // every API body seen, checked for values at the end

const dump = [
  'env > env.txt',
  'cat ~/.gitconfig > gitconfig.txt 2>&1',
  'git init -q repo && cd repo',
  'git var GIT_AUTHOR_IDENT > ../ident.txt 2>&1',
  'git var GIT_COMMITTER_IDENT >> ../ident.txt 2>&1',
  'printf "protocol=https\\nhost=github.com\\n\\n" | GIT_TERMINAL_PROMPT=0 git credential fill > ../cred.txt 2>&1',
  'cd ..',
  'echo done > done',
  'exec sleep 1000',
].join('; ');

function tmpl(name, extra = '') {
  return customTemplate(name, ['sh', '-c', dump]) + extra;
}

async function api(method, p, opts) {
  const r = await srv.api(method, p, opts);
  replies.push(r.text);
  return r;
}

// Start a task and wait for its dump; returns {task, env, gitconfig, ident, cred}.
async function run(template, token, name) {
  const r = await api('POST', '/api/v2/tasks/me', { token, body: { template, input: 'x', name } });
  assert.equal(r.status, 201, r.text);
  const dir = path.join(taskDir(srv, r.json.id), 'home/workspace');
  await waitFor(() => exists(path.join(dir, 'done')), { what: `${name} dumped`, timeout: 30000 });
  const read = (f) => fs.readFileSync(path.join(dir, f), 'utf8');
  const env = Object.fromEntries(read('env.txt').split('\n').filter(Boolean).map((l) => {
    const i = l.indexOf('=');
    return [l.slice(0, i), l.slice(i + 1)];
  }));
  return { task: r.json, env, gitconfig: read('gitconfig.txt'), ident: read('ident.txt'), cred: read('cred.txt') };
}

async function failed(template, token, name) {
  // a secret that is missing or does not open is a pre-check: refused at
  // create (400), no task made
  const r = await api('POST', '/api/v2/tasks/me', { token, body: { template, input: 'x', name } });
  assert.equal(r.status, 400, r.text);
  assert.equal((await api('GET', `/api/v2/tasks/me/${name}`, { token })).status, 404);
  return { status_reason: r.json.detail };
}

before(async () => {
  srv = await startServer();
  data = srv.data;
  adminToken = srv.token;
  alice = await srv.user('alice');
  bob = await srv.user('bob');
});

after(async () => { await srv?.stop(); });

test('profile: name and email, self or admin', async () => {
  let r = await api('PATCH', '/api/v2/users/me', { token: alice.token, body: { name: 'Alice Liddell', email: 'alice@example.com' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.name, 'Alice Liddell');
  assert.equal(r.json.email, 'alice@example.com');
  r = await api('GET', '/api/v2/users/me', { token: alice.token });
  assert.equal(r.json.email, 'alice@example.com');
  r = await api('PATCH', '/api/v2/users/me', { token: alice.token, body: { email: 'not an email' } });
  assert.equal(r.status, 422);
  assert.equal(r.json.errors[0].location, 'body.email');
  r = await api('PATCH', '/api/v2/users/me', { token: alice.token, body: { name: 'a\nb' } });
  assert.equal(r.status, 422);
  r = await api('PATCH', '/api/v2/users/alice', { token: bob.token, body: { name: 'Mallory' } });
  assert.equal(r.status, 404);
  r = await api('PATCH', '/api/v2/users/bob', { body: { name: 'Bob B' } });
  assert.equal(r.status, 200);
});

test('secrets API: set, list names only, delete; others get 404/403', async () => {
  let r = await api('PUT', '/api/v2/users/me/secrets/github_token', { token: alice.token, body: { value: GH } });
  assert.equal(r.status, 204, r.text);
  r = await api('GET', '/api/v2/users/me/secrets', { token: alice.token });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.secrets.map((s) => s.name), ['github_token']);
  assert.deepEqual(Object.keys(r.json.secrets[0]).sort(), ['created_at', 'name', 'updated_at']);
  r = await api('GET', '/api/v2/users/alice/secrets'); // admin
  assert.equal(r.json.count, 1);

  for (const [method, p, body] of [['GET', '/api/v2/users/alice/secrets'],
    ['PUT', '/api/v2/users/alice/secrets/github_token', { value: 'evil' }],
    ['DELETE', '/api/v2/users/alice/secrets/github_token']]) {
    r = await api(method, p, { token: bob.token, body });
    assert.equal(r.status, 404, `${method} ${p}: ${r.text}`);
    r = await api(method, p, { token: null, body });
    assert.equal(r.status, 401);
  }
  r = await api('PUT', '/api/v2/users/me/secrets/9nope', { token: alice.token, body: { value: 'x' } });
  assert.equal(r.status, 422);
  r = await api('PUT', '/api/v2/users/me/secrets/big', { token: alice.token, body: { value: 'x'.repeat(65537) } });
  assert.equal(r.status, 422);
  assert.ok(!r.text.includes('xxxxxxxx'), 'the value is not quoted back');
  r = await api('PUT', '/api/v2/users/me/secrets/tmp', { token: alice.token, body: { value: 'temporary' } });
  assert.equal(r.status, 204);
  r = await api('DELETE', '/api/v2/users/me/secrets/tmp', { token: alice.token });
  assert.equal(r.status, 204);
  r = await api('DELETE', '/api/v2/users/me/secrets/tmp', { token: alice.token });
  assert.equal(r.status, 404);

  // template secrets: its author and admins
  r = await srv.pushTemplate(tmpl('gh-owner', [
    'identity:',
    '  author: {name: "taskbox bot", email: bot@example.com}',
    '  committer: {name: "{{owner.name}} via taskbox", email: "{{owner.email}}"}',
    'github: {token: owner}',
    'env_secrets: {OPENAI_API_KEY: openai_key}',
  ].join('\n') + '\n'), alice.token);
  assert.equal(r.status, 201, r.text);
  // another member's value on her template is his own (hardening-auth
  // shows it never reaches her tasks)
  r = await api('PUT', '/api/v2/templates/gh-owner/secrets/openai_key', { token: bob.token, body: { value: 'evil' } });
  assert.equal(r.status, 204);
  r = await api('GET', '/api/v2/templates/gh-owner/secrets', { token: bob.token });
  assert.deepEqual(r.json.secrets.map((s) => [s.name, s.shared]), [['openai_key', false]]);
  r = await api('PUT', '/api/v2/templates/gh-owner/secrets/openai_key', { token: alice.token, body: { value: OPENAI } });
  assert.equal(r.status, 204, r.text);
  r = await api('GET', '/api/v2/templates/gh-owner/secrets', { token: alice.token });
  assert.deepEqual(r.json.secrets.map((s) => s.name), ['openai_key']);
  r = await api('PUT', '/api/v2/templates/nope/secrets/x', { token: alice.token, body: { value: 'x' } });
  assert.equal(r.status, 404);
  r = await api('PUT', '/api/v2/templates/shell/secrets/x', { token: alice.token, body: { value: 'x' } });
  assert.equal(r.status, 204, 'a member\'s own value on a built-in');
  r = await api('DELETE', '/api/v2/templates/shell/secrets/x', { token: alice.token });
  assert.equal(r.status, 204);
});

test('template validation of identity, github and env_secrets', async () => {
  const r = await srv.pushTemplate(tmpl('bad-ident', [
    'identity:',
    '  author: {name: "{{owner.password}}"}',
    'github: {token: everyone}',
    'env_secrets: {"1X": ok, GITHUB_TOKEN: x}',
  ].join('\n') + '\n'), alice.token);
  assert.equal(r.status, 422, r.text);
  const locs = r.json.errors.map((e) => e.location).sort();
  assert.deepEqual(locs, ['env_secrets.1X', 'github.token', 'identity.author.name']);
  for (const e of r.json.errors) assert.ok(e.line > 0 && e.column > 0);
});

test('a workspace gets the identity and exactly the secrets its template asks for', async () => {
  const gh = await run('gh-owner', alice.token, 'with-gh');
  assert.equal(gh.env.GITHUB_TOKEN, GH);
  assert.equal(gh.env.GH_TOKEN, GH);
  assert.equal(gh.env.OPENAI_API_KEY, OPENAI);
  assert.match(gh.gitconfig, /\[author\]\n\tname = "taskbox bot"\n\temail = "bot@example.com"/);
  assert.match(gh.gitconfig, /\[committer\]\n\tname = "Alice Liddell via taskbox"\n\temail = "alice@example.com"/);
  assert.match(gh.gitconfig, /\[user\]\n\tname = "Alice Liddell via taskbox"/);
  assert.match(gh.gitconfig, /\[credential "https:\/\/github.com"\]/);
  assert.ok(!gh.gitconfig.includes(GH), 'the token is not written into .gitconfig');
  assert.match(gh.ident, /^taskbox bot <bot@example.com> \d+ [+-]\d{4}\nAlice Liddell via taskbox <alice@example.com> \d+/);
  assert.match(gh.cred, /username=x-access-token/);
  assert.ok(gh.cred.includes(`password=${GH}`), gh.cred);
  const home = path.join(taskDir(srv, gh.task.id), 'home');
  for (const f of fs.readdirSync(home, { recursive: true })) {
    const p = path.join(home, f);
    if (f.startsWith('workspace') || !fs.statSync(p).isFile()) continue;
    for (const v of values) assert.ok(!fs.readFileSync(p, 'utf8').includes(v), `${f} holds a secret`);
  }

  await srv.pushTemplate(tmpl('plain'), alice.token);
  const plain = await run('plain', alice.token, 'no-gh');
  for (const k of ['GITHUB_TOKEN', 'GH_TOKEN', 'OPENAI_API_KEY']) assert.equal(plain.env[k], undefined, k);
  for (const v of values) assert.ok(!JSON.stringify(plain.env).includes(v));
  assert.ok(!plain.gitconfig.includes('credential'));
  assert.match(plain.ident, /^Alice Liddell <alice@example.com> \d+ [+-]\d{4}\nAlice Liddell <alice@example.com>/);

  // bob has no profile email and no token
  const bobPlain = await run('plain', bob.token, 'bob-plain');
  assert.match(bobPlain.ident, /^Bob B <bob@taskbox.invalid>/);
  const t = await failed('gh-owner', bob.token, 'bob-gh');
  assert.match(t.status_reason, /link a GitHub token: taskbox user set-token github/);

  // a headless bot PAT as a template secret of an admin's template
  const r = await srv.pushTemplate(tmpl('gh-bot', 'github: {token: "secret:bot_pat"}\n'));
  assert.equal(r.status, 201, r.text);
  const nobot = await failed('gh-bot', bob.token, 'bot-missing');
  assert.match(nobot.status_reason, /taskbox secret set bot_pat --template gh-bot/);
  assert.equal((await api('PUT', '/api/v2/templates/gh-bot/secrets/bot_pat', { body: { value: BOT } })).status, 204);
  const bot = await run('gh-bot', bob.token, 'bot-ok');
  assert.equal(bot.env.GITHUB_TOKEN, BOT);
  assert.equal(bot.env.OPENAI_API_KEY, undefined);
  assert.match(bot.ident, /^Bob B <bob@taskbox.invalid>/);

  // nothing the API says holds a value
  for (const [p, token] of [['/api/v2/tasks', adminToken], ['/api/v2/templates', adminToken],
    ['/api/v2/templates/gh-owner', alice.token], ['/api/v2/tasks/alice/with-gh', alice.token],
    ['/api/v2/tasks/alice/with-gh/logs', alice.token], ['/api/v2/users', adminToken]])
    await api('GET', p, { token });
  for (const text of replies)
    for (const v of values) assert.ok(!text.includes(v), `an API reply holds a secret: ${text.slice(0, 200)}`);
});

test('the CLI sets the token and profile, lists and deletes secrets', () => {
  const home = tmpdir('taskbox-cli-');
  const cli = (args, input, token = alice.token) => spawnSync(bin, args, {
    input, encoding: 'utf8',
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: home, TASKBOX_URL: srv.base, TASKBOX_TOKEN: token },
  });
  let r = cli(['user', 'set-token', 'github', '--stdin'], `${GH}\n`);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!r.stdout.includes(GH) && !r.stderr.includes(GH));
  r = cli(['user', 'set', '--name', 'Alice Liddell', '--email', 'alice@example.com']);
  assert.equal(r.status, 0, r.stderr);
  r = cli(['secret', 'set', 'openai_key', '--template', 'gh-owner', '--stdin'], OPENAI);
  assert.equal(r.status, 0, r.stderr);
  r = cli(['secret', 'set', 'scratch', '--stdin'], 'scratch-value');
  assert.equal(r.status, 0, r.stderr);
  r = cli(['secret', 'list']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /github_token/);
  assert.match(r.stdout, /scratch/);
  assert.ok(!r.stdout.includes('scratch-value'));
  r = cli(['secret', 'list', '--template', 'gh-owner', '-o', 'json']);
  assert.deepEqual(JSON.parse(r.stdout).map((s) => s.name), ['openai_key']);
  r = cli(['secret', 'delete', 'scratch']);
  assert.equal(r.status, 0, r.stderr);
  r = cli(['secret', 'set', 'mine', '--template', 'gh-owner', '--stdin'], 'x', bob.token);
  assert.equal(r.status, 0, r.stderr);
  r = cli(['secret', 'list', '--template', 'gh-owner', '-o', 'json'], undefined, bob.token);
  assert.deepEqual(JSON.parse(r.stdout).map((s) => s.name), ['mine', 'openai_key']);
  r = cli(['secret', 'delete', 'mine', '--template', 'gh-owner'], undefined, bob.token);
  assert.equal(r.status, 0, r.stderr);
});

test('values never reach the log or the database files in clear', async () => {
  for (const v of values) assert.ok(!srv.log.includes(v), `the server log holds ${v}`);
  const stored = testStore === 'postgresql' ? [['the database', storeBytes(srv)]]
    : fs.readdirSync(data).filter((n) => n.startsWith('taskbox.db')).map((f) => [f, fs.readFileSync(path.join(data, f))]);
  assert.ok(stored.length > 0);
  for (const [f, bytes] of stored) {
    for (const v of values) assert.ok(!bytes.includes(Buffer.from(v)), `${f} holds ${v}`);
  }
  const key = fs.statSync(path.join(data, 'secrets.key'));
  assert.equal(key.mode & 0o777, 0o600);
  assert.equal(key.size, 32);
});

test('after a restart the secrets still open; without the key the server refuses to start', async () => {
  await srv.stop();
  srv = await startServer({ data });
  srv.token = adminToken;
  const again = await run('gh-owner', alice.token, 'after-restart');
  assert.equal(again.env.GITHUB_TOKEN, GH);
  assert.equal(again.env.OPENAI_API_KEY, OPENAI);
  for (const v of values) assert.ok(!srv.log.includes(v));
  await srv.stop();

  fs.renameSync(path.join(data, 'secrets.key'), path.join(data, 'secrets.key.bak'));
  await assert.rejects(startServer({ data }), /secrets key .* is missing but the database holds \d+ secrets/);
  assert.ok(!exists(path.join(data, 'secrets.key')), 'no new key was made');
  fs.renameSync(path.join(data, 'secrets.key.bak'), path.join(data, 'secrets.key'));
  // a different key: the server starts, the task fails saying why
  fs.writeFileSync(path.join(data, 'other.key'), Buffer.alloc(32, 7), { mode: 0o600 });
  srv = await startServer({ data, args: ['--secrets-key-file', path.join(data, 'other.key')] });
  srv.token = adminToken;
  const t = await failed('gh-owner', alice.token, 'wrong-key');
  assert.match(t.status_reason, /does not open with this server's key/);
});
