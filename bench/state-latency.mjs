// state-latency.mjs: agent turn ends -> task state idle on the task's SSE
// stream, with the real Claude Code as a task against the fake LLM, with
// its hooks (the Stop hook) and without them (the same module minus the
// hooks: the screen engine alone). bench/state-latency.sh runs it inside a
// loopback-only network namespace.
//
// A turn ends when the agent's final reply reaches the task stream
// (message_update carrying it); we stamp that and the first "task" event
// whose current_state is idle after it.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { startServer, tmpdir, waitFor, SseClient } from '../tests/harness/server.mjs';
import { root } from '../tests/harness/runtime.mjs';

const TURNS = Number(process.env.TURNS || 10);
const tools = process.env.TASKBOX_TOOLS || '/var/cache/taskbox/tools';
const scratch = tmpdir('taskbox-bench-state-');
const reply = (i) => `Reply number ${i} from the fake LLM.`;
const script = { turns: Array.from({ length: TURNS + 1 }, (_, i) => ({ match: `turn ${i} please`, reply: reply(i) })), default: 'ok' };
fs.writeFileSync(path.join(scratch, 'script.json'), JSON.stringify(script));

const llm = spawn('node', [path.join(root, 'tests/harness/fake-llm.mjs'), '--port', '0', '--script', path.join(scratch, 'script.json')],
  { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve) => {
  let out = '';
  llm.stdout.on('data', (d) => { out += d; const m = /listening (\d+)/.exec(out); if (m) resolve(Number(m[1])); });
});
const srv = await startServer({ args: ['--llm-url', `http://127.0.0.1:${port}`, '--tools', tools, '--log-level', 'warn'] });

const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };

// A claude-code module without the hooks (same name space, own name).
const mod = fs.readFileSync(path.join(root, 'modules/claude-code.yaml'), 'utf8');
const noHooks = mod.replace(/^name: claude-code$/m, 'name: claude-nohooks')
  .replace(/^      hooks:\n(?:        .*\n)+/m, '');
async function setup() {
  let r = await srv.api('POST', '/api/v2/modules', { body: noHooks, headers: { 'Content-Type': 'application/yaml' } });
  if (r.status !== 201) throw new Error(`module: ${r.text}`);
  const tmpl = fs.readFileSync(path.join(root, 'templates/claude-code.yaml'), 'utf8')
    .replace(/^name: .*$/m, 'name: claude-nohooks').replace(/module: claude-code/, 'module: claude-nohooks');
  r = await srv.pushTemplate(tmpl);
  if (r.status !== 201) throw new Error(`template: ${r.text}`);
}

async function measure(template) {
  const name = `bench-${template}`;
  await srv.createTask({ template, input: 'turn 0 please', name });
  await srv.waitTask('admin', name, { state: 'idle', timeout: 90000 });
  const ev = new SseClient(srv.base + `/api/v2/tasks/admin/${name}/events?access_token=${srv.token}`);
  await ev.ready;
  const lat = [];
  for (let i = 1; i <= TURNS; i++) {
    const from = ev.events.length;
    const sent = await srv.api('POST', `/api/v2/tasks/admin/${name}/send`, { body: { input: `turn ${i} please` } });
    if (sent.status !== 200 && sent.status !== 202) throw new Error(`send: ${sent.text}`);
    let tEnd = null, tIdle = null;
    await waitFor(() => {
      for (const e of ev.events.slice(from)) {
        if (tEnd === null && e.event === 'message_update' && e.data.role === 'agent' && e.data.message.includes(reply(i))) tEnd = e.t;
        if (tEnd !== null && e.t >= tEnd && e.event === 'task' && e.data.current_state?.state === 'idle') { tIdle = e.t; break; }
      }
      return tIdle !== null;
    }, { timeout: 60000, interval: 5, what: `turn ${i} idle` });
    lat.push(tIdle - tEnd);
    await srv.waitTask('admin', name, { state: 'idle' });
  }
  ev.close();
  await srv.api('DELETE', `/api/v2/tasks/admin/${name}`);
  return lat;
}

try {
  await setup();
  for (const [label, template] of [['with hooks (Stop)', 'claude-code'], ['screen only', 'claude-nohooks']]) {
    const l = await measure(template);
    console.log(`${label.padEnd(18)} turn end -> idle on the task stream, ${TURNS} turns: ` +
      `p50 ${pct(l, 50).toFixed(0)} ms, p90 ${pct(l, 90).toFixed(0)} ms, max ${Math.max(...l).toFixed(0)} ms`);
  }
} finally {
  await srv.stop();
  llm.kill();
}
