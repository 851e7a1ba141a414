// readiness.test.mjs: when the runtime sends the initial prompt.
//
// Without a hook the agent is ready once its input prompt has been on a
// quiet screen for stable_ms. An agent's own start hook (`taskbox hook
// session-start`, Claude Code's SessionStart) lets the first readiness
// skip the quiet wait: an agent that keeps animating its banner (Claude's
// logo) gets its prompt as soon as its input prompt shows. The hook comes
// from inside the workspace (untrusted): it never sends the prompt before
// the input prompt shows, and counts only before the first readiness.
//
// The agent here is a small terminal program written by the test: a
// banner line redrawn every 100 ms (FRAME_MS) at the top of the screen, forever, and
// a "> " prompt below it once it is up. It records input that arrives
// before its prompt shows ("EARLY INPUT") and answers every line with
// "got: LINE".
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { bin, tmpdir, waitFor } from '../harness/runtime.mjs';

const dir = tmpdir('taskbox-ready-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const agent = path.join(dir, 'banner-agent.mjs');
fs.writeFileSync(agent, `
import { spawnSync } from 'node:child_process';
const [hook, promptAfter] = [process.env.HOOK === '1', Number(process.env.PROMPT_AFTER_MS || 0)];
const out = (s) => process.stdout.write(s);
let frame = 0, shown = false, early = '', line = '';
process.stdin.setRawMode(true);
process.stdin.setEncoding('utf8');
out('\\x1b[2J\\x1b[Hframe 0\\r\\n');
// the agent's own start hook, before its prompt is up
if (hook) spawnSync(${JSON.stringify(bin)}, ['hook', 'session-start'], { input: '{"source":"startup"}' });
setInterval(() => out('\\x1b7\\x1b[1;1H\\x1b[Kframe ' + (++frame) + '\\x1b8'), Number(process.env.FRAME_MS || 100));
setTimeout(() => { shown = true; out(early ? 'EARLY INPUT\\r\\n> ' : '> '); }, promptAfter);
// SLOW_INPUT_MS: input is read that long after it first arrives, in one
// batch (an agent busy with something else); like Gemini CLI, an Enter
// read with the paste is a newline in the input, not a submission
const slow = Number(process.env.SLOW_INPUT_MS || 0);
let pending = null;
function read(d) {
  const pasted = d.includes('\\x1b[201~');
  const text = d.replace(/\\x1b\\[20[01]~/g, '');
  for (const ch of text) {
    if (ch === '\\r' && pasted) { line += ' / '; out(' / '); }
    else if (ch === '\\r') { out('\\r\\ngot: ' + line + '\\r\\n> '); line = ''; }
    else { line += ch; out(ch); }
  }
}
process.stdin.on('data', (d) => {
  if (!shown) { early += d; return; }
  if (!slow) return read(d);
  if (pending === null) { pending = ''; setTimeout(() => { const p = pending; pending = null; read(p); }, slow); }
  pending += d;
});
`);

// One request over the runtime's unix socket; resolves {status, json}.
function call(sock, method, p, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const r = http.request({ socketPath: sock, method, path: p, headers: data ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, json, text });
      });
    });
    r.on('error', reject);
    r.end(data);
  });
}

// `taskbox agent --socket` around the banner agent with the prompt.
async function start(name, env, prompt = ['--initial-prompt', 'first prompt']) {
  const sock = path.join(dir, `${name}.sock`);
  const child = spawn(bin, ['agent', '--socket', sock, '--type', 'custom', ...prompt, '--', 'node', agent], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await waitFor(() => fs.existsSync(sock) || child.exitCode !== null, { what: 'runtime socket' });
  assert.ok(fs.existsSync(sock), stderr);
  return {
    sock,
    // the whole transcript as text (the screen is only streamed)
    screen: async () => (await call(sock, 'GET', '/messages')).json.messages.map((m) => m.content).join('\n'),
    messages: async () => (await call(sock, 'GET', '/messages')).json.messages,
    status: async () => (await call(sock, 'GET', '/status')).json,
    stop: async () => { child.kill('SIGTERM'); await exited; },
    get stderr() { return stderr; },
  };
}

test('a start hook sends the prompt while the banner still animates', async () => {
  const rt = await start('hooked', { HOOK: '1' });
  try {
    // the screen never settles: only the hook makes the agent ready
    await waitFor(async () => (await rt.screen()).includes('got: first prompt'),
      { timeout: 20000, what: `the prompt delivered\n${rt.stderr}` });
    const users = (await rt.messages()).filter((m) => m.role === 'user').map((m) => m.content);
    assert.deepEqual(users, ['first prompt']);
    assert.equal((await rt.screen()).split('got: first prompt').length - 1, 1, 'delivered once');
  } finally {
    await rt.stop();
  }
});

test('a start hook before the input prompt shows waits for the prompt', async () => {
  const rt = await start('early', { HOOK: '1', PROMPT_AFTER_MS: '1500' });
  try {
    await waitFor(async () => (await rt.screen()).includes('got: first prompt'),
      { timeout: 20000, what: `the prompt delivered\n${rt.stderr}` });
    const screen = await rt.screen();
    assert.doesNotMatch(screen, /EARLY INPUT/, 'nothing was typed before the prompt showed');
    assert.equal(screen.split('got: first prompt').length - 1, 1, 'delivered once');
  } finally {
    await rt.stop();
  }
});

test('a start hook after the first readiness changes nothing', async () => {
  const rt = await start('late', { HOOK: '1' });
  try {
    await waitFor(async () => (await rt.screen()).includes('got: first prompt'),
      { timeout: 20000, what: `the prompt delivered\n${rt.stderr}` });
    // the banner animates on: by the screen alone the agent is working
    await waitFor(async () => (await rt.status()).status === 'running', { what: 'running after the prompt' });
    const r = await call(rt.sock, 'POST', '/internal/hook', { event: 'session-start', payload: { source: 'clear' } });
    assert.equal(r.status, 200, r.text);
    const st = await rt.status();
    assert.equal(st.status, 'running', 'a later start hook does not make the agent idle');
    assert.equal(st.state, 'working');
  } finally {
    await rt.stop();
  }
});

test('a message to an agent animating faster than the echo guard is sent', async () => {
  // every 10 ms the screen changes: the echo never "settles" for 60 ms
  // (and without the start hook the agent would never be stable)
  const rt = await start('fast', { HOOK: '1', FRAME_MS: '10' }, []);
  try {
    await waitFor(async () => (await rt.status()).status === 'stable', { what: 'stable' });
    const r = await call(rt.sock, 'POST', '/message', { content: 'hello there', type: 'user' });
    assert.equal(r.status, 200, r.text);
    await waitFor(async () => (await rt.screen()).includes('got: hello there'),
      { timeout: 20000, what: `the message delivered\n${rt.stderr}` });
  } finally {
    await rt.stop();
  }
});

test('Enter waits for the echo of the paste, not for any screen change', async () => {
  // the banner changes the screen while the agent has not read the paste
  // yet: an Enter then would reach it with the paste and be a newline
  const rt = await start('slow', { HOOK: '1', SLOW_INPUT_MS: '400' });
  try {
    await waitFor(async () => (await rt.screen()).includes('got: first prompt'),
      { timeout: 20000, what: `the prompt submitted\n${rt.stderr}` });
    assert.doesNotMatch(await rt.screen(), /first prompt \//, 'no Enter read as a newline');
  } finally {
    await rt.stop();
  }
});
