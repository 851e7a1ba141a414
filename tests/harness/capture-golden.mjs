// capture-golden.mjs: record golden screens from the real agent CLIs.
//
// Run inside tests/harness/netns-run.sh (loopback only). For each CLI
// named on the command line (claude, codex, gemini) it starts the fake
// LLM and `taskbox agent` around the CLI exactly as tests/e2e/agents.test.mjs
// does, waits for the agent to be ready, sends PROMPT and writes
//   tests/golden/<cli>/<case>/before.txt  the screen before the message
//   tests/golden/<cli>/<case>/msg.txt     the screen after the reply
//   tests/golden/<cli>/<case>/user.txt    the message
//   tests/golden/<cli>/<case>/start.txt   the startup screen (not a golden
//                                         input; kept to look at)
// expected.txt is written by a person who read the screens, never by this
// script. Usage: node capture-golden.mjs CASE cli...
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root, startRuntime, SseClient, sleep, waitFor } from './runtime.mjs';

const tools = process.env.TASKBOX_TOOLS || '/var/cache/taskbox/tools';
const harness = path.join(root, 'tests/harness');
const [caseName, ...clis] = process.argv.slice(2);
const PROMPT = 'show the special characters';
const REPLY = [
  'Real output with prompt characters:',
  'a > b and <div class="x">html</div>',
  '$ echo done',
  '❯ not a prompt',
  '│ a pipe in text │',
  'The end > really.',
].join('\n');

const scratch = fs.mkdtempSync('/var/tmp/taskbox-capture-');
const sp = path.join(scratch, 'script.json');
fs.writeFileSync(sp, JSON.stringify({ turns: [{ match: 'special characters', reply: REPLY }], default: 'Hello' }));
const llm = spawn('node', [path.join(harness, 'fake-llm.mjs'), '--port', '0', '--script', sp, '--log', path.join(scratch, 'llm.jsonl')], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve) => {
  let out = '';
  llm.stdout.on('data', (d) => { out += d; const m = /listening (\d+)/.exec(out); if (m) resolve(Number(m[1])); });
});
const llmUrl = `http://127.0.0.1:${port}`;
const bins = { claude: 'claude/node_modules/.bin/claude', codex: 'codex/node_modules/.bin/codex', gemini: 'gemini/node_modules/.bin/gemini' };
const args = { claude: ['--dangerously-skip-permissions'], codex: [], gemini: ['--yolo'] };

async function screen(rt) {
  const sse = new SseClient(rt.url('/internal/screen'));
  const e = await sse.wait((x) => x.event === 'screen');
  sse.close();
  return e.data.screen;
}

try {
  for (const cli of clis) {
    const home = path.join(scratch, cli, 'home'), work = path.join(scratch, cli, 'work');
    execFileSync(path.join(harness, 'seed-agent-home.sh'), [cli, home, work, llmUrl]);
    const env = {};
    for (const line of execFileSync(path.join(harness, 'agent-env.sh'), [cli, home, llmUrl]).toString().split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
    }
    const rt = await startRuntime([], [path.join(tools, bins[cli]), ...args[cli]], { env, cwd: work, clearEnv: true });
    try {
      await rt.waitStable(90000);
      const before = await screen(rt);
      const r = await rt.say(PROMPT);
      if (r.status !== 200) throw new Error(r.text);
      await sleep(500);
      await waitFor(async () => (await rt.status()).status === 'stable' && (await rt.messages()).length >= 3, { timeout: 90000, what: 'reply' });
      const after = await screen(rt);
      const dir = path.join(root, 'tests/golden', cli, caseName);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'before.txt'), before.replaceAll(scratch, '/var/tmp/taskbox-capture.XXXXXX'));
      fs.writeFileSync(path.join(dir, 'msg.txt'), after.replaceAll(scratch, '/var/tmp/taskbox-capture.XXXXXX'));
      fs.writeFileSync(path.join(dir, 'user.txt'), PROMPT);
      const ms = await rt.messages();
      console.log(`== ${cli}: message 0 ${JSON.stringify(ms[0].content.slice(0, 200))}`);
      console.log(`== ${cli}: reply\n${ms[ms.length - 1].content}`);
    } finally {
      await rt.stop();
    }
  }
} finally {
  llm.kill();
  fs.rmSync(scratch, { recursive: true, force: true });
}
