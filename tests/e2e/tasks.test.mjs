// tasks.test.mjs: the real agent CLIs from npm (Claude Code, Codex, Gemini
// CLI) as tasks of one real server, each in its bubblewrap workspace,
// reaching the project's fake LLM only through the server's LLM
// pass-through (the workspace's 127.0.0.1:4000 forwarded over a unix
// socket). tests/run starts this file inside tests/harness/netns-run.sh
// (loopback only).
//
// For each agent, one task through its whole life: the first reply equals
// what the LLM said, a tool call (a shell command the agent really runs)
// writes a file in the workspace, a follow-up, the agent's own hook
// (Claude's and Gemini's Stop/AfterAgent, Codex's notify) reaching the
// runtime and the state idle, and pause + resume continuing the agent's
// own session with the first prompt once in its history. The agents run
// concurrently: they share the server and the fake LLM, and every check
// of the LLM's request log picks its agent's API and its own prompts.
// Claude's permission dialog and Codex's approval dialog each make their
// task `waiting` with the question, and the task API's answer lets the
// command run.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root, tmpdir, waitFor, SseClient } from '../harness/runtime.mjs';
import { startFakeLlm } from '../harness/llm.mjs';
import { startServer, taskDir, exists } from '../harness/server.mjs';

const tools = process.env.TASKBOX_TOOLS || '/var/cache/taskbox/tools';
const scratch = tmpdir('taskbox-e2e-tasks-');
const script = {
  turns: [
    { match: 'say hello', reply: 'Hello from fake LLM, turn one.' },
    { match: 'write the file', tool: { kind: 'write_file', path: 'hello.txt', content: 'hi from fake llm' }, reply: 'Done writing hello.txt.' },
    { match: 'now follow up', reply: 'Follow-up answered.' },
    // Codex asks before a command it deems dangerous, even with no
    // sandbox of its own (approval_policy on-request)
    { match: 'clean up and mark', tool: { kind: 'shell', command: 'rm -rf stale && touch approved.txt' },
      reply: 'Cleaned up and marked.' },
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
  fs.writeFileSync(keyFile, 'sk-ant-server-side-key\n');
  const fake = await startFakeLlm(script, { dir: scratch, log: llmLog });
  llm = fake.child;
  const port = fake.port;
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

// The fake LLM's requests so far.
function llmRequests() {
  return fs.readFileSync(llmLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

// A send is taken at once, never refused: 200 when the agent took it
// (delivered, or a dialog's answer), 202 when the server queued it (the
// agent is still starting after a resume, or working).
async function send(name, input) {
  const r = await srv.api('POST', `/api/v2/tasks/admin/${name}/send`, { body: { input } });
  assert.ok(r.status === 200 || r.status === 202, `send '${input}' to ${name}: ${r.status} ${r.text}`);
  const want = r.status === 202 ? ['queued'] : ['delivered', 'answered'];
  assert.ok(want.includes(r.json?.status), `send '${input}' to ${name}: ${r.status} ${r.text}`);
  return r;
}

// The task's terminal screen as the runtime renders it.
async function screen(name) {
  const sc = new SseClient(srv.base + `/@admin/${name}/apps/chat/internal/screen`,
    { Authorization: `Bearer ${srv.token}` });
  await waitFor(() => sc.events.length > 0, { timeout: 5000, what: 'the screen' }).catch(() => {});
  sc.close();
  return sc.events[0]?.data?.screen ?? '';
}

// Wait until the outputs satisfy ok. When they never do and the text
// sent last still sits below the input box's rule, the agent took the
// carriage return as a newline: say so rather than "timed out".
async function reply(name, sent, ok, what) {
  try {
    await waitFor(async () => ok(await outputs(name)), { timeout: 60000, what: `${name}'s ${what}` });
  } catch (e) {
    const s = await screen(name);
    const box = s.slice(s.lastIndexOf('────'));
    if (box.includes(sent))
      throw new Error(`${name}: '${sent}' is still in the input box, never submitted ` +
        `(the carriage return after the paste was taken as a newline):\n${s.trim()}`);
    throw e;
  }
}

// Now on the clock of SseClient's event times.
const now = () => Number(process.hrtime.bigint()) / 1e6;

// The task's event stream, open before anything it should see happens.
async function events(name) {
  const ev = new SseClient(srv.base + `/api/v2/tasks/admin/${name}/events?access_token=${srv.token}`);
  await ev.ready;
  return ev;
}

// Wait until the agent's own end-of-turn hook has reached the runtime
// (an agent_hook event on the task's stream, which only `taskbox hook`
// posting to the runtime produces) and the task is idle.
async function hookedIdle(agent, ev, what, since) {
  await waitFor(() => ev.events.some((e) => e.event === 'agent_hook' && e.data.event === agent.endHook && e.t >= since),
    { timeout: 60000, what: `${agent.type}'s ${agent.endHook} hook after ${what}` });
  await srv.waitTask('admin', agent.type, { state: 'idle', timeout: 30000 });
}

// Each built-in agent: its template, the fake LLM path of its main
// requests, and the hook event its turn end sends to `taskbox hook`.
const agents = [
  { type: 'claude', template: 'claude-code', api: '/v1/messages', endHook: 'stop' },
  { type: 'codex', template: 'codex', api: '/v1/responses', endHook: 'codex-notify' },
  { type: 'gemini', template: 'gemini', api: ':streamGenerateContent', endHook: 'stop' },
];

// One agent's task from its first prompt to a resumed session.
async function lifecycle(agent) {
  const name = agent.type;
  const first = `say hello, ${name}`;
  const created = await srv.createTask({ template: agent.template, input: first, name });
  assert.equal(created.agent_type, agent.type);
  const t = await srv.waitTask('admin', name, { timeout: 60000 });
  // the reply is what the LLM said, as a message of its own
  await reply(name, first, (o) => o.includes('Hello from fake LLM, turn one.'), 'first reply');
  await srv.waitTask('admin', name, { state: 'idle', timeout: 30000 });

  // a shell tool call the agent runs in its workspace, then the reply
  let ev = await events(name);
  let since = now();
  await send(name, 'write the file');
  const file = path.join(taskDir(srv, t.id), 'home/workspace/hello.txt');
  // the shell creates the file before printf writes to it
  await waitFor(() => exists(file) && fs.readFileSync(file, 'utf8') === 'hi from fake llm\n',
    { timeout: 60000, what: `hello.txt written by ${name}'s tool call` });
  await reply(name, 'write the file', (o) => o.some((x) => /Done writing hello\.txt\.$/.test(x)),
    'reply after the tool call');
  await hookedIdle(agent, ev, 'the tool call', since);
  ev.close();
  // the fake LLM logs a request once its answer is written: wait for it
  await waitFor(() => llmRequests().some((r) => r.path.includes(agent.api) && r.answer?.action === 'reply'
    && r.answer.text === 'Done writing hello.txt.' && JSON.stringify(r.body ?? '').includes('write the file')),
  { timeout: 10000, what: `${name}'s tool result going back to the LLM (its request in the fake LLM's log)` });

  // a follow-up: its own turn, its own hook
  ev = await events(name);
  since = now();
  await send(name, 'now follow up');
  // (ends with: Claude's animated logo can make the message start earlier)
  await reply(name, 'now follow up', (o) => o.some((x) => /(^|\n)Follow-up answered\.$/.test(x)),
    'reply to the follow-up');
  await hookedIdle(agent, ev, 'the follow-up', since);
  ev.close();
  const logs = (await srv.api('GET', `/api/v2/tasks/admin/${name}/logs`)).json.logs;
  assert.deepEqual(logs.filter((l) => l.type === 'input').map((l) => l.content),
    [first, 'write the file', 'now follow up']);

  // pause + resume: the agent's own session goes on, the prompt is not sent again
  const p = await srv.api('POST', `/api/v2/tasks/admin/${name}/pause`);
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.status, 'paused');
  const snap = (await srv.api('GET', `/api/v2/tasks/admin/${name}/logs`)).json;
  assert.equal(snap.snapshot, true);
  assert.equal((await srv.api('POST', `/api/v2/tasks/admin/${name}/resume`)).status, 202);
  await srv.waitTask('admin', name, { state: 'idle', timeout: 60000 });
  ev = await events(name);
  const again = `say hello after resume, ${name}`;
  since = now();
  await send(name, again);
  const last = await waitFor(() => llmRequests().filter((r) => r.path.includes(agent.api)
    && JSON.stringify(r.body ?? '').includes(again)).pop(), { timeout: 60000, what: `${name}'s request after resume` });
  const body = JSON.stringify(last.body);
  assert.ok(body.includes('Done writing hello.txt.'), `${name} continued its session`);
  assert.equal(body.split(first).length - 1, 1, `${name}'s first prompt is in its history exactly once`);
  await hookedIdle(agent, ev, 'the resume', since);
  ev.close();
  const inputs = (await srv.api('GET', `/api/v2/tasks/admin/${name}/logs`)).json.logs
    .filter((l) => l.type === 'input').map((l) => l.content);
  assert.deepEqual(inputs, [first, 'write the file', 'now follow up', again]);
  return t;
}

// On failure: what the task shows and what its LLM was asked and said.
async function dump(agent) {
  const logs = await srv.api('GET', `/api/v2/tasks/admin/${agent.type}/logs`);
  console.log(`${agent.type} LOGS`, JSON.stringify(logs.json?.logs?.slice(-12)));
  console.log(`${agent.type} TASK`, JSON.stringify(await srv.task('admin', agent.type)));
  console.log(`${agent.type} SCREEN`, JSON.stringify(await screen(agent.type)));
  for (const r of llmRequests().filter((q) => q.path.includes(agent.api)).slice(-4))
    console.log(`${agent.type} LLM`, r.path, JSON.stringify(r.answer), JSON.stringify(r.body).slice(-600));
}

describe('agents as tasks', { concurrency: 3 }, () => {
  for (const agent of agents) {
    test(`${agent.template} as a task: reply, tool call, follow-up, hooks, pause + resume`, async () => {
      const t = await lifecycle(agent).catch(async (e) => {
        await dump(agent);
        throw e;
      });
      if (agent.type === 'claude') {
        // the provider saw the server's key, never the workspace's placeholder
        const reqs = llmRequests().filter((r) => r.path.includes('/v1/messages'));
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
      }
      assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/${agent.type}`)).status, 202);
    });
  }

  test('Claude Code hooks drive the state; report_task sets message and uri, never the state', async () => {
    await srv.createTask({ template: 'claude-code', input: 'please report your progress', name: 'reporter' });
    await srv.waitTask('admin', 'reporter', { timeout: 60000 });
    const t = await waitFor(async () => {
      const x = await srv.task('admin', 'reporter');
      return x.current_state?.state === 'idle' && x.current_state.uri && x;
    }, { timeout: 60000, what: 'idle with the report' });
    assert.equal(t.current_state.message, 'Opened the pull request');
    assert.equal(t.current_state.uri, 'https://example.com/pr/1');
    // the model said "working" in its report: the deterministic idle stands
    const h = (await srv.api('GET', '/api/v2/tasks/admin/reporter/states')).json.states;
    assert.ok(h.some((x) => x.state === 'working'));
    assert.equal(h[h.length - 1].state, 'idle');
    // a second turn: Claude's hooks report its start and its end
    const ev2 = await events('reporter');
    await send('reporter', 'say hello');
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
    await send('asker', '1');
    const file = path.join(taskDir(srv, t.id), 'home/workspace/hello.txt');
    await waitFor(() => exists(file), { timeout: 60000, what: 'the tool ran after the answer' });
    await srv.waitTask('admin', 'asker', { state: 'idle', timeout: 60000 });
    assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/asker')).status, 202);
  });

  test('a Codex approval dialog (approval_policy on-request) is waiting with its question and can be answered', async () => {
    const y = fs.readFileSync(path.join(root, 'templates/codex.yaml'), 'utf8')
      .replace(/^name: .*$/m, 'name: codex-ask')
      .replace(/^agent:\n/m, 'agent:\n  approval_policy: on-request\n');
    const r = await srv.pushTemplate(y);
    assert.equal(r.status, 201, r.text);
    const t = await srv.createTask({ template: 'codex-ask', input: 'clean up and mark it approved', name: 'approver' });
    const file = path.join(taskDir(srv, t.id), 'home/workspace/approved.txt');
    try {
      const w = await srv.waitTask('admin', 'approver', { state: 'waiting', timeout: 60000 });
      assert.equal(w.current_state.message, 'Would you like to run the following command?');
      assert.equal(exists(file), false, 'the command waits for its approval');
      // the task API's answer: option 1 by its number, while the task waits
      const a = await send('approver', '1');
      assert.equal(a.status, 200, a.text);
      assert.equal(a.json.status, 'answered');
      await waitFor(() => exists(file), { timeout: 60000, what: 'the approved command ran' });
      await reply('approver', '1', (o) => o.some((x) => /Cleaned up and marked\.$/.test(x)),
        'reply after the approval');
      const idle = await waitFor(async () => {
        const x = await srv.task('admin', 'approver');
        return x.current_state?.state === 'idle' && x;
      }, { timeout: 60000, what: 'idle after the approval' });
      assert.equal(idle.current_state.message, 'Cleaned up and marked.');
    } catch (e) {
      await dump({ type: 'approver', api: '/v1/responses' });
      throw e;
    }
    assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/approver')).status, 202);
  });
});
