// mcp-ready.test.mjs: a task's first input waits for the agent's tools.
//
// An agent started with our MCP server in its config (Claude Code, Codex,
// Gemini CLI, Goose) connects to it a while after its input prompt shows;
// a prompt typed before then reaches a model without report_task. With
// --wait-mcp the runtime holds readiness until `taskbox mcp` says the
// agent listed its tools (an mcp-ready hook), or the agent connected and
// listed nothing for a grace period, or the wait passed (then a warning,
// and the prompt goes anyway).
//
// The fake agent starts the real `taskbox mcp` late (script "mcp") and
// says, when a line is submitted, which tools it had at that moment.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { bin, fakeAgent, tmpdir, writeScript, waitFor } from '../harness/runtime.mjs';

const dir = tmpdir('taskbox-mcpready-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// One GET over the runtime's unix socket; resolves the parsed body.
function get(sock, p) {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: sock, path: p }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve(JSON.parse(text)));
    }).on('error', reject);
  });
}

// The runtime's /events, collected in order.
function events(sock) {
  const list = [];
  let buf = '';
  const req = http.get({ socketPath: sock, path: '/events', headers: { Accept: 'text/event-stream' } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const rec = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message', data = '';
        for (const l of rec.split('\n')) {
          if (l.startsWith('event:')) event = l.slice(6).trim();
          else if (l.startsWith('data:')) data += l.slice(5).trim();
        }
        list.push({ event, data: data ? JSON.parse(data) : null });
      }
    });
  });
  req.on('error', () => {});
  return { list, close: () => req.destroy() };
}

// `taskbox agent --socket` around the fake agent with its MCP server
// starting after afterMs (list: whether it lists the tools).
async function start(name, { afterMs, list = true, args = [] }) {
  const sock = path.join(dir, `${name}.sock`);
  const sp = writeScript(dir, {
    banner: 'fake agent',
    mcp: { command: [bin, 'mcp'], after_ms: afterMs, list },
    turns: [{ reply: 'first reply', think_ms: 50 }],
    default_reply: 'more',
  }, `${name}.json`);
  const child = spawn(bin, ['agent', '--socket', sock, '--type', 'custom', '--initial-prompt', 'first prompt',
    ...args, '--', 'node', fakeAgent, sp], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await waitFor(() => fs.existsSync(sock) || child.exitCode !== null, { what: 'runtime socket' });
  assert.ok(fs.existsSync(sock), stderr);
  const ev = events(sock);
  return {
    ev,
    transcript: async () => (await get(sock, '/messages')).messages.map((m) => m.content).join('\n'),
    stop: async () => { ev.close(); child.kill('SIGTERM'); await exited; },
    get stderr() { return stderr; },
  };
}

// Index of the first event matching pred, -1 for none.
const at = (ev, pred) => ev.list.findIndex(pred);
const isPrompt = (e) => e.event === 'message_update' && e.data.role === 'user' && e.data.message === 'first prompt';

test('without --wait-mcp the prompt beats a late MCP server (the race)', async () => {
  const rt = await start('race', { afterMs: 4000 });
  try {
    await waitFor(async () => (await rt.transcript()).includes('first reply'),
      { timeout: 20000, what: `the prompt answered\n${rt.stderr}` });
    assert.match(await rt.transcript(), /tools at input: none/);
  } finally {
    await rt.stop();
  }
});

test('--wait-mcp: the prompt goes once the agent listed its tools', async () => {
  const rt = await start('late', { afterMs: 4000, args: ['--wait-mcp', '60'] });
  try {
    await waitFor(async () => (await rt.transcript()).includes('first reply'),
      { timeout: 30000, what: `the prompt answered\n${rt.stderr}` });
    const text = await rt.transcript();
    assert.match(text, /tools at input: report_task,task_info/);
    assert.doesNotMatch(text, /tools at input: none/);
    // taskbox mcp's hook came first, and no timeout warning
    const ready = at(rt.ev, (e) => e.event === 'agent_hook' && e.data.event === 'mcp-ready');
    assert.ok(ready >= 0, JSON.stringify(rt.ev.list));
    assert.ok(ready < at(rt.ev, isPrompt));
    assert.equal(at(rt.ev, (e) => e.event === 'agent_error'), -1);
  } finally {
    await rt.stop();
  }
});

test('--wait-mcp: an agent that connects but lists nothing gets its prompt after a grace', async () => {
  const rt = await start('lazy', { afterMs: 0, list: false, args: ['--wait-mcp', '120'] });
  try {
    await waitFor(async () => (await rt.transcript()).includes('first reply'),
      { timeout: 60000, what: `the prompt answered\n${rt.stderr}` });
    const ready = at(rt.ev, (e) => e.event === 'agent_hook' && e.data.event === 'mcp-ready');
    assert.ok(ready >= 0 && ready < at(rt.ev, isPrompt), JSON.stringify(rt.ev.list));
    // the MCP server's grace, not the runtime's wait, let it go
    assert.equal(at(rt.ev, (e) => e.event === 'agent_error'), -1);
  } finally {
    await rt.stop();
  }
});

test('--wait-mcp: an MCP server that never connects delays the prompt, then a warning and the prompt', async () => {
  const rt = await start('never', { afterMs: 600000, args: ['--wait-mcp', '2'] });
  try {
    await waitFor(async () => (await rt.transcript()).includes('first reply'),
      { timeout: 30000, what: `the prompt answered\n${rt.stderr}` });
    assert.match(await rt.transcript(), /tools at input: none/);
    const warn = at(rt.ev, (e) => e.event === 'agent_error' && /MCP server did not connect within 2 s/.test(e.data.message));
    assert.ok(warn >= 0, JSON.stringify(rt.ev.list));
    assert.equal(rt.ev.list[warn].data.level, 'warning');
    assert.ok(warn < at(rt.ev, isPrompt), 'the warning came before the prompt');
    assert.match(rt.stderr, /did not connect within 2 s/);
  } finally {
    await rt.stop();
  }
});

test('--wait-mcp is checked', async () => {
  for (const v of ['-1', '3601', 'x']) {
    const r = spawn(bin, ['agent', '--wait-mcp', v, '--', 'true'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    r.stderr.on('data', (d) => { err += d; });
    const code = await new Promise((resolve) => r.on('exit', resolve));
    assert.equal(code, 2);
    assert.match(err, /--wait-mcp must be 0 to 3600/);
  }
});
