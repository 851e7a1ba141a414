// agents.test.mjs: real agent CLIs from npm (Claude Code, Codex, Gemini
// CLI, pinned by scripts/install-agents.sh) behind `taskbox agent`, talking
// to the project's fake LLM on loopback. tests/run starts this file inside
// tests/harness/netns-run.sh: a network namespace with only loopback, so
// nothing can leave the machine; each CLI's own switches (seeded config,
// env from agent-env.sh) keep it from even trying.
//
// For each CLI: a two-turn conversation whose /messages replies equal what
// the fake LLM said, a tool call that writes a file in the working
// directory, status running → stable at each turn's end (seen on SSE).
// For Claude Code without skip-permissions: the permission dialog is
// reported as waiting and answering it through the API lets the tool run.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startFakeLlm } from '../harness/llm.mjs';
import { root, startRuntime, SseClient, waitFor, sleep } from '../harness/runtime.mjs';

const tools = process.env.TASKBOX_TOOLS || '/var/cache/taskbox/tools';
const harness = path.join(root, 'tests/harness');
const scratch = fs.mkdtempSync('/var/tmp/taskbox-e2e-'); // codex refuses homes under /tmp
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const script = {
  turns: [
    { match: 'say hello', reply: 'Hello from fake LLM, turn one.' },
    { match: 'write the file', tool: { kind: 'write_file', path: 'hello.txt', content: 'hi from fake llm' }, reply: 'Done writing hello.txt.' },
  ],
  default: 'Hello from fake LLM',
};

let llm, llmUrl;
const llmLog = path.join(scratch, 'llm.jsonl');

before(async () => {
  // we must be in a namespace with nothing but loopback
  const links = execFileSync('ip', ['-o', 'link', 'show']).toString();
  assert.doesNotMatch(links, /^\d+: (?!lo:)/m, 'e2e tests must run inside netns-run.sh');
  const fake = await startFakeLlm(script, { dir: scratch, log: llmLog });
  llm = fake.child;
  const port = fake.port;
  llmUrl = `http://127.0.0.1:${port}`;
});
after(() => llm?.kill());

const bins = {
  claude: path.join(tools, 'claude/node_modules/.bin/claude'),
  codex: path.join(tools, 'codex/node_modules/.bin/codex'),
  gemini: path.join(tools, 'gemini/node_modules/.bin/gemini'),
};
const args = {
  claude: ['--dangerously-skip-permissions'],
  codex: [],
  gemini: ['--yolo'],
};

// Seed a home and working directory for type; returns {home, work, env}.
function prepare(type, name) {
  const home = path.join(scratch, name, 'home');
  const work = path.join(scratch, name, 'work');
  execFileSync(path.join(harness, 'seed-agent-home.sh'), [type, home, work, llmUrl]);
  const env = {};
  for (const line of execFileSync(path.join(harness, 'agent-env.sh'), [type, home, llmUrl]).toString().split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  // the sanitizer settings reach the runtime; the agent ignores them
  for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS']) if (process.env[k]) env[k] = process.env[k];
  return { home, work, env };
}

// Start the runtime around the CLI with exactly the agent's environment.
async function startAgent(type, name, agentArgs = args[type]) {
  const { work, env } = prepare(type, name);
  const rt = await startRuntime([], [bins[type], ...agentArgs], { env, cwd: work, clearEnv: true });
  return { rt, work };
}

async function turn(rt, sse, text) {
  const mark = sse.events.length;
  const r = await rt.say(text);
  assert.equal(r.status, 200, r.text);
  await sse.wait((e) => sse.events.indexOf(e) >= mark && e.event === 'status_change' && e.data.status === 'running', 30000);
  const stable = await sse.wait((e) => sse.events.indexOf(e) >= mark && e.event === 'status_change' && e.data.status === 'stable' && sse.events.slice(mark, sse.events.indexOf(e)).some((x) => x.event === 'status_change' && x.data.status === 'running'), 90000);
  assert.equal(stable.data.state, 'idle');
  const ms = await rt.messages();
  const last = ms[ms.length - 1];
  assert.equal(last.role, 'agent');
  assert.equal(ms[ms.length - 2].content, text);
  return last.content;
}

for (const type of ['claude', 'codex', 'gemini']) {
  describe(type, () => {
    test(`${type}: two turns, exact replies, a tool call that writes a file`, async () => {
      const { rt, work } = await startAgent(type, `${type}-chat`);
      try {
        const s = await rt.waitStable(90000);
        assert.equal(s.agent_type, type);
        // the startup screen (logo, tips, warnings) is not a message
        assert.deepEqual((await rt.messages()).map((m) => [m.id, m.role, m.content]), [[0, 'agent', '']]);
        const sse = new SseClient(rt.url('/events'));
        await sse.wait((e) => e.event === 'status_change');

        const one = await turn(rt, sse, 'say hello');
        assert.equal(one, 'Hello from fake LLM, turn one.');

        const two = await turn(rt, sse, 'Please write the file hello.txt now');
        assert.match(two, /Done writing hello\.txt\.$/);
        assert.doesNotMatch(two, /Please write the file/);
        assert.equal(fs.readFileSync(path.join(work, 'hello.txt'), 'utf8'), 'hi from fake llm\n');
        sse.close();

        const reqs = fs.readFileSync(llmLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        assert.ok(reqs.length >= 3);
      } finally {
        await rt.stop();
      }
    });
  });
}

describe('claude permission dialog', () => {
  test('claude without skip-permissions: dialog reported as waiting, answered through the API', async () => {
    const { rt, work } = await startAgent('claude', 'claude-perm', ['--permission-mode', 'default']);
    try {
      await rt.waitStable(90000);
      const r = await rt.say('Please write the file hello.txt now');
      assert.equal(r.status, 200);
      const s = await waitFor(async () => {
        const x = await rt.status();
        return x.state === 'waiting' ? x : null;
      }, { timeout: 60000, what: 'permission dialog' });
      assert.equal(s.status, 'stable');
      assert.equal(s.dialog.text, 'Do you want to proceed?');
      assert.match(s.dialog.context, /hello\.txt/);
      assert.equal(s.dialog.options[0], 'Yes');
      assert.ok(s.dialog.options.includes('No'));
      assert.equal(fs.existsSync(path.join(work, 'hello.txt')), false);
      const ok = await rt.post('/message', { content: 'Yes', type: 'user' });
      assert.equal(ok.status, 200);
      await waitFor(() => fs.existsSync(path.join(work, 'hello.txt')), { timeout: 30000, what: 'hello.txt' });
      await sleep(100);
      const st = await rt.waitStable(60000);
      assert.equal(st.state, 'idle');
      const ms = await rt.messages();
      assert.match(ms[ms.length - 1].content, /Done writing hello\.txt\./);
    } finally {
      await rt.stop();
    }
  });
});
