// server.test.mjs: the Tasks server against real bubblewrap workspaces.
//
// Every task here runs a custom agent (a shell program) inside a real
// sandbox started by the server; nothing is mocked. Isolation and
// authorization tests live in isolation.test.mjs and authz.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, customTemplate, waitFor, SseClient, exists, taskDir, bin, storeBytes } from '../harness/server.mjs';

let srv;

before(async () => {
  srv = await startServer();
  const r = await srv.pushTemplate(customTemplate('sh', ['bash', '--norc', '--noprofile', '-i'], {
    env: { PS1: '$ ' },
  }));
  assert.equal(r.status, 201, r.text);
});

after(async () => { await srv?.stop(); });

test('first start prints an admin token; the API wants a token', async () => {
  assert.match(srv.token, /^tbx_[0-9a-f]{64}$/);
  const me = await srv.api('GET', '/api/v2/users/me');
  assert.equal(me.status, 200);
  assert.equal(me.json.username, 'admin');
  assert.equal(me.json.role, 'admin');
  const none = await srv.api('GET', '/api/v2/users/me', { token: null });
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('content-type'), 'application/problem+json');
  const bad = await srv.api('GET', '/api/v2/tasks', { token: 'tbx_' + '0'.repeat(64) });
  assert.equal(bad.status, 401);
  const coder = await fetch(srv.base + '/api/v2/users/me', { headers: { 'Coder-Session-Token': srv.token } });
  assert.equal(coder.status, 200);
  // the database keeps no token in clear
  const db = storeBytes(srv);
  assert.equal(db.includes(Buffer.from(srv.token)), false);
});

test('the first start names the CLI as a shell would run it', async () => {
  // a PATH whose taskbox is this binary: plain `taskbox`
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskbox-path-'));
  fs.symlinkSync(path.resolve(bin), path.join(dir, 'taskbox'));
  const onPath = await startServer({ env: { PATH: `${dir}:${process.env.PATH}` } });
  await onPath.stop();
  assert.match(onPath.out, /^ {2}taskbox login http:\/\/127\.0\.0\.1:\d+ --token tbx_/m, onPath.out);
  // none on PATH: the binary's own path, which works when pasted
  const off = await startServer({ env: { PATH: '/usr/bin:/bin' } });
  await off.stop();
  const real = fs.realpathSync(path.resolve(bin));
  assert.ok(off.out.includes(`  ${real} login http://`), off.out);
  assert.ok(off.out.includes(`  ${real} task list`), off.out);
  fs.rmSync(dir, { recursive: true });
});

test('built-in templates are there and task-capable', async () => {
  const r = await srv.api('GET', '/api/v2/templates');
  const names = r.json.templates.map((t) => t.name);
  for (const n of ['claude-code', 'codex', 'gemini', 'aider', 'goose', 'shell', 'custom'])
    assert.ok(names.includes(n), `missing built-in template ${n}`);
  assert.ok(r.json.templates.every((t) => t.builtin === false || t.task_capable));
  // the parameters as normalized, for the web form
  const custom = await srv.api('GET', '/api/v2/templates/custom');
  assert.deepEqual(custom.json.parameters.find((p) => p.name === 'command'),
    { name: 'command', display_name: 'Command', description: 'The program\'s command line (run by bash -c in the workspace).',
      type: 'string', default: null, required: true });
  assert.ok(r.json.templates.every((t) => Array.isArray(t.parameters)));
  const m = await srv.api('GET', '/api/v2/modules');
  assert.deepEqual(m.json.modules.map((x) => x.name).sort(),
    ['aider', 'claude-code', 'codex', 'custom', 'gemini', 'goose']);
});

test('template push: versions, precise errors, Task-capability', async () => {
  const y = customTemplate('versioned', ['bash']);
  const a = await srv.pushTemplate(y);
  assert.equal(a.status, 201);
  assert.equal(a.json.version, 1);
  assert.equal(a.json.task_capable, true);
  const same = await srv.pushTemplate(y);
  assert.equal(same.json.version, 1, 'an identical push makes no new version');
  const b = await srv.pushTemplate(y.replace('backend: local', 'backend: local\n  setup_timeout: 30'));
  assert.equal(b.json.version, 2);

  const bad = await srv.pushTemplate('name: Bad Name\nworkspace:\n  limits:\n    memory: lots\n');
  assert.equal(bad.status, 422);
  assert.ok(bad.json.errors.length >= 2, bad.text);
  const mem = bad.json.errors.find((e) => /memory/.test(e.location));
  assert.equal(mem.line, 4);
  assert.equal(mem.column, 13);
  const syntax = await srv.pushTemplate('name: x\n  bad: [\n');
  assert.equal(syntax.status, 422);
  assert.ok(syntax.json.errors[0].line >= 2, syntax.text);

  const plain = await srv.pushTemplate('name: plain\nagent:\n  module: custom\n  command: [bash]\n');
  assert.equal(plain.status, 201);
  assert.equal(plain.json.task_capable, false);
  assert.match(plain.json.task_reason, /no ai_task/);
  const t = await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'plain', input: 'x' } });
  assert.equal(t.status, 400);
  assert.match(t.json.detail, /not a task template: no ai_task/);
});

test('agent.approval_policy: known values only, with the line and column', async () => {
  const y = (v) => `name: codex-ask\nagent:\n  module: codex\n  approval_policy: ${v}\nai_task:\n  app: chat\n`;
  const bad = await srv.pushTemplate(y('sometimes'));
  assert.equal(bad.status, 422, bad.text);
  const e = bad.json.errors.find((x) => x.location === 'agent.approval_policy');
  assert.ok(e, bad.text);
  assert.equal(e.line, 4);
  assert.equal(e.column, 20);
  assert.match(e.message, /unknown approval policy 'sometimes'/);
  // Codex 0.169 refuses to start with it
  assert.equal((await srv.pushTemplate(y('untrusted'))).status, 422);
  const ok = await srv.pushTemplate(y('on-request'));
  assert.equal(ok.status, 201, ok.text);
});

test('a custom-agent task: create, watch, logs, send, events, delete', async () => {
  const created = await srv.createTask({ template: 'sh', input: 'echo one-$((40+2))', name: 'calc' });
  assert.equal(created.name, 'calc');
  assert.ok(['pending', 'initializing', 'active'].includes(created.status));
  assert.equal(created.app_url, '/@admin/calc/apps/chat/');
  const t = await srv.waitTask('admin', 'calc');
  assert.equal(t.workspace_status, 'running');
  assert.equal(typeof t.startup.agent_ms, 'number');

  const events = new SseClient(srv.base + `/api/v2/tasks/admin/calc/events?access_token=${srv.token}`);
  await events.ready;
  await waitFor(async () => {
    const l = await srv.api('GET', '/api/v2/tasks/admin/calc/logs');
    return l.json.logs.some((e) => e.type === 'output' && /one-42/.test(e.content)) && l.json;
  }, { what: 'the prompt ran' });
  const logs = (await srv.api('GET', '/api/v2/tasks/admin/calc/logs')).json;
  assert.equal(logs.snapshot, false);
  const inputs = logs.logs.filter((e) => e.type === 'input');
  assert.deepEqual(inputs.map((e) => e.content), ['echo one-$((40+2))'], 'the prompt was sent exactly once');

  await waitFor(async () => (await srv.task('admin', 'calc')).current_state?.state === 'idle', { what: 'idle' });
  const sent = await srv.api('POST', '/api/v2/tasks/admin/calc/send', { body: { input: 'echo two-$((2*21))' } });
  assert.equal(sent.status, 200, sent.text);
  await waitFor(async () => {
    const l = await srv.api('GET', '/api/v2/tasks/admin/calc/logs');
    return l.json.logs.some((e) => e.type === 'output' && /two-42/.test(e.content));
  }, { what: 'the sent input ran' });
  await waitFor(() => events.events.some((e) => e.event === 'message_update' && /two-42/.test(e.data.message)),
    { what: 'message_update on the task stream' });
  assert.ok(events.events.some((e) => e.event === 'task' && e.data.status === 'active'));
  events.close();
  // the stream's client went away: more events find it closed, which is
  // routine and not worth a log line at the default level
  await waitFor(async () => (await srv.task('admin', 'calc')).current_state?.state === 'idle', { what: 'idle' });
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/calc/send', { body: { input: 'echo three-$((6*7))' } })).status, 200);
  await waitFor(async () => {
    const l = await srv.api('GET', '/api/v2/tasks/admin/calc/logs');
    return l.json.logs.some((e) => e.type === 'output' && /three-42/.test(e.content));
  }, { what: 'the third input ran' });
  assert.doesNotMatch(srv.log, /Failed to send the chunked response body/);
  // nor are TCP options that a unix socket does not have (the runtime's)
  assert.doesNotMatch(fs.readFileSync(path.join(taskDir(srv, t.id), 'log'), 'utf8'), /TCP_NODELAY|TCP_CORK|push the data/);

  const empty = await srv.api('POST', '/api/v2/tasks/admin/calc/send', { body: { input: '' } });
  assert.equal(empty.status, 422);
  const chat = await srv.api('GET', '/@admin/calc/apps/chat/status');
  assert.equal(chat.status, 200);
  assert.equal(chat.json.agent_type, 'custom');

  const dir = taskDir(srv, t.id);
  assert.ok(exists(dir));
  const del = await srv.api('DELETE', '/api/v2/tasks/admin/calc');
  assert.equal(del.status, 202);
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/calc')).status, 404);
  await waitFor(() => !exists(dir), { what: 'workspace directory removed' });
});

test('the built-in custom template runs the command given as its parameter', async () => {
  const t = await srv.createTask({ template: 'custom', input: 'print(6 * 7, "from python")', name: 'py',
    parameters: { command: 'cd /tmp && PYTHONSTARTUP= python3 -q -i' } });
  await srv.waitTask('admin', 'py');
  await waitFor(async () => {
    const l = await srv.api('GET', '/api/v2/tasks/admin/py/logs');
    return l.json.logs.some((e) => e.type === 'output' && /^42 from python$/m.test(e.content));
  }, { what: 'the prompt ran in python' });
  assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/${t.name}`)).status, 202);
  const none = await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'custom', input: 'x' } });
  assert.equal(none.status, 422, none.text);
  assert.match(none.json.detail, /command.*required/);
});

test('names: unique per owner, generated from the prompt, validated', async () => {
  const a = await srv.createTask({ template: 'sh', input: 'Fix the flaky login test, please!' });
  assert.equal(a.name, 'fix-the-flaky-login-test');
  assert.equal(a.display_name, 'Fix the flaky login test, please!');
  const b = await srv.createTask({ template: 'sh', input: 'Fix the flaky login test, please!' });
  assert.match(b.name, /^fix-the-flaky-login-test-[0-9a-f]{4}$/);
  const clash = await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'sh', input: 'x', name: a.name } });
  assert.equal(clash.status, 409);
  assert.match(clash.json.detail, /already has a task named/);
  const invalid = await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'sh', input: 'x', name: 'Not OK' } });
  assert.equal(invalid.status, 422);
  assert.equal(invalid.json.errors[0].location, 'body.name');
  for (const body of [{}, { input: '' }, { input: 'x', template: 'nope' }, { input: 'x'.repeat(40000), template: 'sh' },
    { input: 'x', template: 'sh', parameters: { nope: 1 } }]) {
    const r = await srv.api('POST', '/api/v2/tasks/me', { body });
    assert.equal(r.status, 422, JSON.stringify(body).slice(0, 80) + ' ' + r.text);
  }
  // Coder's API: a body that is not JSON is a 400; one that parses but does
  // not validate stays a 422
  const notjson = await srv.api('POST', '/api/v2/tasks/me', { body: '{"input":', headers: { 'Content-Type': 'application/json' } });
  assert.equal(notjson.status, 400, notjson.text);
  assert.match(notjson.json.detail, /malformed JSON at line 1/);
  assert.equal(notjson.json.errors[0].location, 'body');
  // the bytes a parse stopped at are never quoted back (a secret's value)
  const cut = await srv.api('PUT', '/api/v2/users/me/secrets/leak', { body: '{"value":"sk-leak-me', headers: { 'Content-Type': 'application/json' } });
  assert.equal(cut.status, 400, cut.text);
  assert.doesNotMatch(cut.text, /sk-leak/);
  const empty = await srv.api('POST', '/api/v2/tasks/me', { body: '', headers: { 'Content-Type': 'application/json' } });
  assert.equal(empty.status, 400, empty.text);
  const array = await srv.api('POST', '/api/v2/tasks/me', { body: '[1]', headers: { 'Content-Type': 'application/json' } });
  assert.equal(array.status, 422, array.text);
  for (const t of [a, b])
    assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/${t.name}`)).status, 202);
  const again = await srv.createTask({ template: 'sh', input: 'y', name: a.name });
  assert.equal(again.name, a.name, 'a deleted task frees its name');
  await srv.api('DELETE', `/api/v2/tasks/admin/${a.name}`);
});

test('a task that fails to start reports error with the reason', async () => {
  await srv.pushTemplate(customTemplate('badsetup', ['bash'], { setup: 'echo preparing\necho no such repository >&2\nexit 3' }));
  await srv.createTask({ template: 'badsetup', input: 'x', name: 'badsetup' });
  const t = await srv.waitTask('admin', 'badsetup', { status: 'error' });
  assert.match(t.status_reason, /setup script failed.*no such repository/);
  assert.equal(t.current_state.state, 'failure');

  await srv.pushTemplate(customTemplate('nocmd', ['/nonexistent/agent']));
  await srv.createTask({ template: 'nocmd', input: 'x', name: 'nocmd' });
  const n = await srv.waitTask('admin', 'nocmd', { status: 'error' });
  assert.match(n.status_reason, /nonexistent/);

  // an LLM agent on a server without an LLM endpoint: refused at create
  // (a pre-check, restart.test.mjs), saying what to do
  const nl = await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'claude-code', input: 'x', name: 'nollm' } });
  assert.equal(nl.status, 400, nl.text);
  assert.match(nl.json.detail, /--llm-url/);

  const list = await srv.api('GET', '/api/v2/tasks?q=' + encodeURIComponent('owner:me status:error'));
  assert.deepEqual(list.json.tasks.map((x) => x.name).sort(), ['badsetup', 'nocmd']);
  const logs = await srv.api('GET', '/api/v2/tasks/admin/nocmd/logs');
  assert.ok([200, 409].includes(logs.status));
  for (const n2 of ['badsetup', 'nocmd'])
    assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/${n2}`)).status, 202);
});

test('the setup script runs before the agent; workspace apps are proxied', async () => {
  const server = "require('http').createServer((q,s)=>{s.setHeader('content-type','text/plain');" +
    "s.end('app says '+q.url)}).listen(8000,'127.0.0.1')";
  await srv.pushTemplate(customTemplate('withapp', ['bash', '--norc', '-i'], {
    setup: `echo made-by-setup > setup-proof\n(node -e "${server}" >/dev/null 2>&1 &)`,
    apps: [{ slug: 'web', url: 'http://127.0.0.1:8000/base/' }],
  }));
  const t = await srv.createTask({ template: 'withapp', input: 'cat setup-proof', name: 'withapp' });
  await srv.waitTask('admin', 'withapp');
  const r = await waitFor(async () => {
    const x = await srv.api('GET', '/@admin/withapp/apps/web/page?x=1');
    return x.status === 200 && x;
  }, { what: 'the app answers' });
  assert.equal(r.text, 'app says /base/page?x=1');
  assert.ok(t.apps.some((a) => a.slug === 'web' && a.url === '/@admin/withapp/apps/web/'));
  await waitFor(async () => {
    const l = await srv.api('GET', '/api/v2/tasks/admin/withapp/logs');
    return l.json.logs.some((e) => /made-by-setup/.test(e.content));
  }, { what: 'setup output visible to the agent' });
  // a browser arriving with ?access_token= gets a cookie scoped to the task
  // and a redirect that drops the token from the URL
  const b = await fetch(srv.base + `/@admin/withapp/apps/chat/status?x=1&access_token=${srv.token}`, { redirect: 'manual' });
  assert.equal(b.status, 303);
  assert.equal(b.headers.get('location'), '/@admin/withapp/apps/chat/status?x=1');
  const cookie = b.headers.get('set-cookie');
  assert.match(cookie, /taskbox_session=.*Path=\/@admin\/withapp\/; HttpOnly; SameSite=Strict/);
  const c = await fetch(srv.base + '/@admin/withapp/apps/chat/status', { headers: { Cookie: cookie.split(';')[0] } });
  assert.equal(c.status, 200);
  assert.equal((await c.json()).agent_type, 'custom');
  // template apps get an opaque origin: they cannot use the user's cookie
  assert.match(r.headers.get('content-security-policy'), /^sandbox/);
  // the runtime's API answers are data: inert even if opened as a page
  assert.equal(c.headers.get('content-security-policy'), "sandbox; default-src 'none'");
  const ctl = await srv.api('GET', '/@admin/withapp/apps/web/a%0d%0aX-Evil:%201');
  assert.equal(ctl.status, 400);
  const ui = await fetch(srv.base + `/@admin/withapp/apps/chat/chat/embed`, { headers: { Authorization: `Bearer ${srv.token}` } });
  assert.equal(ui.status, 200);
  assert.match(await ui.text(), /<html/i);
  // the chat UI is the server's own page: it talks to this origin only
  assert.match(ui.headers.get('content-security-policy'), /connect-src 'self'/);
  await srv.api('DELETE', '/api/v2/tasks/admin/withapp');
});

test('parameter values reach the workspace as TASKBOX_PARAM_*', async () => {
  const y = [
    'name: params',
    'parameters:',
    '  - name: Repo URL',
    '    default: https://example.com/r.git',
    '  - name: Depth',
    '    type: number',
    '    default: 1',
    'agent:',
    '  module: custom',
    '  command: ["sh", "-c", "env | grep TASKBOX_PARAM_ | sort > params; exec sleep 1000"]',
    'ai_task:',
    '  app: chat',
  ].join('\n') + '\n';
  assert.equal((await srv.pushTemplate(y)).status, 201);
  const t = await srv.createTask({ template: 'params', input: 'x', name: 'params', parameters: { Depth: 3 } });
  const file = path.join(taskDir(srv, t.id), 'home/workspace/params');
  await waitFor(() => exists(file) && fs.readFileSync(file, 'utf8').includes('DEPTH'), { what: 'params written' });
  assert.equal(fs.readFileSync(file, 'utf8'), 'TASKBOX_PARAM_DEPTH=3\nTASKBOX_PARAM_REPO_URL=https://example.com/r.git\n');
  const bad = await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'params', input: 'x', parameters: { Depth: [1] } } });
  assert.equal(bad.status, 422);
  await srv.api('DELETE', '/api/v2/tasks/admin/params');
});
