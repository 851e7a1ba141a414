// tasks.test.mjs: the real Claude Code from npm as a task of a real
// server, in its bubblewrap workspace, reaching the project's fake LLM
// only through the server's LLM pass-through (the workspace's 127.0.0.1:4000
// forwarded over a unix socket). tests/run starts this file inside
// tests/harness/netns-run.sh (loopback only).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root, tmpdir, waitFor, SseClient } from '../harness/runtime.mjs';
import { startServer, taskDir, exists } from '../harness/server.mjs';

const tools = process.env.TASKBOX_TOOLS || '/var/cache/taskbox/tools';
const scratch = tmpdir('taskbox-e2e-tasks-');
const script = {
  turns: [
    { match: 'say hello', reply: 'Hello from fake LLM, turn one.' },
    { match: 'write the file', tool: { kind: 'write_file', path: 'hello.txt', content: 'hi from fake llm' }, reply: 'Done writing hello.txt.' },
    { match: 'report your progress', tool: { kind: 'call', name: 'mcp__taskbox__report_task',
      input: { summary: 'Opened the pull request', link: 'https://example.com/pr/1', state: 'working' } }, reply: 'Reported.' },
  ],
  default: 'Hello from fake LLM',
};
let llm, srv;
const llmLog = path.join(scratch, 'llm.jsonl');
const keyFile = path.join(scratch, 'key');

before(async () => {
  const links = execFileSync('ip', ['-o', 'link', 'show']).toString();
  assert.doesNotMatch(links, /^\d+: (?!lo:)/m, 'e2e tests must run inside netns-run.sh');
  fs.writeFileSync(path.join(scratch, 'script.json'), JSON.stringify(script));
  fs.writeFileSync(keyFile, 'sk-ant-server-side-key\n');
  llm = spawn('node', [path.join(root, 'tests/harness/fake-llm.mjs'), '--port', '0', '--script',
    path.join(scratch, 'script.json'), '--log', llmLog], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    llm.stdout.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    llm.on('exit', (c) => reject(new Error(`fake LLM exited ${c}`)));
  });
  srv = await startServer({ args: ['--llm-url', `http://127.0.0.1:${port}`, '--llm-key-file', keyFile, '--tools', tools] });
});

after(async () => {
  await srv?.stop();
  llm?.kill();
});

// The agent's output entries of a task's logs.
async function outputs(name) {
  const r = await srv.api('GET', `/api/v2/tasks/admin/${name}/logs`);
  return r.json.logs.filter((l) => l.type === 'output').map((l) => l.content);
}

test('Claude Code runs as a task: prompt, reply, tool call, follow-up', async () => {
  const created = await srv.createTask({ template: 'claude-code', input: 'say hello', name: 'claude' });
  assert.equal(created.agent_type, 'claude');
  const t = await srv.waitTask('admin', 'claude', { timeout: 60000 });
  await waitFor(async () => (await outputs('claude')).includes('Hello from fake LLM, turn one.'),
    { timeout: 60000, what: 'the first reply' });
  await srv.waitTask('admin', 'claude', { state: 'idle', timeout: 30000 });

  const sent = await srv.api('POST', '/api/v2/tasks/admin/claude/send', { body: { input: 'write the file' } });
  assert.equal(sent.status, 200, sent.text);
  const file = path.join(taskDir(srv, t.id), 'home/workspace/hello.txt');
  await waitFor(() => exists(file), { timeout: 60000, what: 'hello.txt written by the tool call' });
  assert.equal(fs.readFileSync(file, 'utf8'), 'hi from fake llm\n');
  // the reply after the tool call (Claude shows "Ran 1 shell command" above it)
  await waitFor(async () => (await outputs('claude')).some((o) => /Done writing hello\.txt\.$/.test(o)),
    { timeout: 60000, what: 'the second reply' });
  const logs = (await srv.api('GET', '/api/v2/tasks/admin/claude/logs')).json.logs;
  assert.deepEqual(logs.filter((l) => l.type === 'input').map((l) => l.content), ['say hello', 'write the file']);

  // the provider saw the server's key, never the workspace's placeholder
  const reqs = fs.readFileSync(llmLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    .filter((r) => r.path.includes('/v1/messages'));
  assert.ok(reqs.length >= 2);
  for (const r of reqs) {
    const auth = r.headers['x-api-key'] || r.headers.authorization || '';
    assert.match(auth, /sk-ant-server-side-key/);
  }
  // ... and the key is nowhere in the workspace
  const home = path.join(taskDir(srv, t.id), 'home');
  const grep = spawn('grep', ['-rl', 'sk-ant-server-side-key', home]);
  const found = await new Promise((r) => { let o = ''; grep.stdout.on('data', (d) => { o += d; }); grep.on('exit', () => r(o)); });
  assert.equal(found, '');
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/claude')).status, 202);
});

test('Claude Code: pause and resume continue its session; the prompt is never sent again', async () => {
  const first = 'say hello from the first start';
  await srv.createTask({ template: 'claude-code', input: first, name: 'resumable' });
  await waitFor(async () => (await outputs('resumable')).includes('Hello from fake LLM, turn one.'),
    { timeout: 60000, what: 'the first reply' });
  await srv.waitTask('admin', 'resumable', { state: 'idle', timeout: 30000 });
  const p = await srv.api('POST', '/api/v2/tasks/admin/resumable/pause');
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.status, 'paused');
  const snap = (await srv.api('GET', '/api/v2/tasks/admin/resumable/logs')).json;
  assert.equal(snap.snapshot, true);
  assert.ok(snap.logs.some((l) => l.content === 'Hello from fake LLM, turn one.'));

  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/resumable/resume')).status, 202);
  await srv.waitTask('admin', 'resumable', { state: 'idle', timeout: 60000 });
  const sent = await srv.api('POST', '/api/v2/tasks/admin/resumable/send', { body: { input: 'say hello after resume' } });
  assert.equal(sent.status, 200, sent.text);
  const last = await waitFor(() => {
    const reqs = fs.readFileSync(llmLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
      .filter((r) => r.path.includes('/v1/messages') && JSON.stringify(r.body ?? '').includes('say hello after resume'));
    return reqs.length > 0 && reqs[reqs.length - 1];
  }, { timeout: 60000, what: 'the request after resume' });
  const body = JSON.stringify(last.body);
  // --continue: the earlier turn is in the conversation the agent sends
  assert.ok(body.includes('Hello from fake LLM, turn one.'), 'the session continued');
  assert.equal(body.split(first).length - 1, 1, 'the first prompt is in the history exactly once');
  const logs = (await srv.api('GET', '/api/v2/tasks/admin/resumable/logs')).json.logs;
  assert.deepEqual(logs.filter((l) => l.type === 'input').map((l) => l.content), [first, 'say hello after resume']);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/resumable')).status, 202);
});

test('Claude Code hooks drive the state; report_task sets message and uri, never the state', async () => {
  await srv.createTask({ template: 'claude-code', input: 'please report your progress', name: 'reporter' });
  await srv.waitTask('admin', 'reporter', { timeout: 60000 });
  const events = new SseClient(srv.base + `/api/v2/tasks/admin/reporter/events?access_token=${srv.token}`);
  await events.ready;
  const t = await waitFor(async () => {
    const x = await srv.task('admin', 'reporter');
    return x.current_state?.state === 'idle' && x.current_state.uri && x;
  }, { timeout: 60000, what: 'idle with the report' }).catch(async (e) => {
    const reqs = fs.readFileSync(llmLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const last = reqs.filter((q) => JSON.stringify(q.body ?? '').includes('report your progress')).pop();
    console.log('TOOLS', JSON.stringify((last?.body?.tools || []).map((x) => x.name)), 'ANSWER', JSON.stringify(last?.answer));
    console.log('LOGS', JSON.stringify((await srv.api('GET', '/api/v2/tasks/admin/reporter/logs')).json));
    console.log('TASK', JSON.stringify(await srv.task('admin', 'reporter')));
    throw e;
  });
  assert.equal(t.current_state.message, 'Opened the pull request');
  assert.equal(t.current_state.uri, 'https://example.com/pr/1');
  // the model said "working" in its report: the deterministic idle stands
  events.close();
  const h = (await srv.api('GET', '/api/v2/tasks/admin/reporter/states')).json.states;
  assert.ok(h.some((x) => x.state === 'working'));
  assert.equal(h[h.length - 1].state, 'idle');
  // a second turn: Claude's hooks report its start and its end
  const ev2 = new SseClient(srv.base + `/api/v2/tasks/admin/reporter/events?access_token=${srv.token}`);
  await ev2.ready;
  const sent = await srv.api('POST', '/api/v2/tasks/admin/reporter/send', { body: { input: 'say hello' } });
  assert.equal(sent.status, 200, sent.text);
  await waitFor(() => ev2.events.some((e) => e.event === 'agent_hook' && e.data.event === 'user-prompt-submit'),
    { timeout: 60000, what: 'the UserPromptSubmit hook' });
  await waitFor(() => ev2.events.some((e) => e.event === 'agent_hook' && e.data.event === 'stop'),
    { timeout: 60000, what: 'the Stop hook' });
  await srv.waitTask('admin', 'reporter', { state: 'idle', timeout: 30000 });
  ev2.close();
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/reporter')).status, 202);
});

test('a Claude Code permission dialog is waiting with its text and can be answered', async () => {
  const y = fs.readFileSync(path.join(root, 'templates/claude-code.yaml'), 'utf8')
    .replace(/^name: .*$/m, 'name: claude-ask')
    .replace(/^agent:\n/m, 'agent:\n  permission_mode: default\n');
  const r = await srv.pushTemplate(y);
  assert.equal(r.status, 201, r.text);
  const t = await srv.createTask({ template: 'claude-ask', input: 'write the file', name: 'asker' });
  const w = await srv.waitTask('admin', 'asker', { state: 'waiting', timeout: 60000 });
  assert.match(w.current_state.message, /proceed|allow|permission/i);
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/asker/send', { body: { input: '1' } })).status, 200);
  const file = path.join(taskDir(srv, t.id), 'home/workspace/hello.txt');
  await waitFor(() => exists(file), { timeout: 60000, what: 'the tool ran after the answer' });
  await srv.waitTask('admin', 'asker', { state: 'idle', timeout: 60000 });
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/asker')).status, 202);
});
