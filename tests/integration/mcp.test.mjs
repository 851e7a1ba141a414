// mcp.test.mjs: `taskbox mcp` and `taskbox hook` against a real runtime.
//
// A `taskbox agent --socket` with the fake agent stands in for a task.
// The MCP server is driven by the official SDK client (found through
// $TASKBOX_NODE_MODULES; those tests are skipped without it) and by raw
// lines for the protocol corners; hooks are run as the agents run them
// and must move the state before the screen's stability would.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { bin, fakeAgent, tmpdir, writeScript, waitFor, sleep } from '../harness/runtime.mjs';

const dir = tmpdir('taskbox-mcp-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// The SDK's client classes, or null when TASKBOX_NODE_MODULES is not set.
function loadSdk() {
  const nm = process.env.TASKBOX_NODE_MODULES;
  if (!nm) return null;
  const req = createRequire(path.join(path.resolve(nm), 'noop.js'));
  return {
    Client: req('@modelcontextprotocol/sdk/client/index.js').Client,
    StdioClientTransport: req('@modelcontextprotocol/sdk/client/stdio.js').StdioClientTransport,
  };
}
const sdk = loadSdk();

// One request over the runtime's unix socket; resolves {status, json}.
function call(sock, method, p, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const r = http.request({ socketPath: sock, method, path: p, headers: data ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, json, text });
      });
    });
    r.on('error', reject);
    if (data) r.write(data);
    r.end();
  });
}

// The runtime's /events over its socket, collected.
class Events {
  constructor(sock) {
    this.events = [];
    this.buf = '';
    this.req = http.get({ socketPath: sock, path: '/events', headers: { Accept: 'text/event-stream' } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d) => {
        this.buf += d;
        let i;
        while ((i = this.buf.indexOf('\n\n')) >= 0) {
          const rec = this.buf.slice(0, i);
          this.buf = this.buf.slice(i + 2);
          let event = 'message', data = '';
          for (const l of rec.split('\n')) {
            if (l.startsWith('event:')) event = l.slice(6).trim();
            else if (l.startsWith('data:')) data += l.slice(5).trim();
          }
          this.events.push({ event, data: data ? JSON.parse(data) : null });
        }
      });
    });
    this.req.on('error', () => {});
  }

  wait(pred, timeout = 5000) {
    return waitFor(() => this.events.find(pred), { timeout, what: 'event' });
  }

  close() { this.req.destroy(); }
}

// Start `taskbox agent --socket` around the fake agent.
async function startRuntime(name, script, args = []) {
  const sock = path.join(dir, `${name}.sock`);
  const sp = writeScript(dir, script, `${name}.json`);
  const child = spawn(bin, ['agent', '--socket', sock, '--type', 'custom', ...args, '--', 'node', fakeAgent, sp], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await waitFor(() => fs.existsSync(sock) || child.exitCode !== null, { what: 'runtime socket' });
  assert.ok(fs.existsSync(sock), stderr);
  return {
    sock,
    status: async () => (await call(sock, 'GET', '/status')).json,
    stop: async () => { child.kill('SIGTERM'); await exited; },
    get stderr() { return stderr; },
  };
}

// Run `taskbox ARGS` with input; resolves {code, stdout, stderr}.
function run(args, { input = '', env = {} } = {}) {
  const r = spawnSync(bin, args, { input, env: { ...process.env, ...env }, timeout: 10000 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

// Write JSON-RPC lines to `taskbox mcp`; resolves the parsed reply lines.
function rawMcp(lines, env = {}) {
  const r = run(['mcp'], { input: lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n', env });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

const init = (version, id = 1) => ({ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });

const script = { banner: 'fake agent', turns: [{ reply: 'first reply', think_ms: 100 }], default_reply: 'more' };
let rt;
before(async () => { rt = await startRuntime('main', script); });
after(async () => { await rt?.stop(); });

describe('taskbox mcp with the SDK client', { skip: sdk ? false : 'TASKBOX_NODE_MODULES is not set (needs @modelcontextprotocol/sdk)' }, () => {
  let client;
  before(async () => {
    client = new sdk.Client({ name: 'taskbox-test', version: '1.0.0' });
    const transport = new sdk.StdioClientTransport({ command: bin, args: ['mcp'], env: { PATH: process.env.PATH, TASKBOX_RUNTIME_SOCKET: rt.sock, TASKBOX_TASK_ID: 't-1', TASKBOX_TASK_NAME: 'fix-it' }, stderr: 'pipe' });
    await client.connect(transport);
  });
  after(async () => { await client?.close(); });

  test('initialize: server info, tools capability, instructions', () => {
    assert.deepEqual(client.getServerVersion().name, 'taskbox');
    assert.ok(client.getServerCapabilities().tools);
    const ins = client.getInstructions();
    assert.match(ins, /report_task/);
    assert.ok(ins.length < 200);
  });

  test('tools/list: report_task and task_info, small', async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['report_task', 'task_info']);
    const rep = tools.find((t) => t.name === 'report_task');
    assert.deepEqual(rep.inputSchema.required, ['summary']);
    assert.equal(rep.inputSchema.properties.summary.type, 'string');
    assert.equal(rep.inputSchema.properties.summary.maxLength, 160);
    assert.deepEqual(rep.inputSchema.properties.state.enum, ['working', 'idle', 'failure', 'complete']);
    assert.equal(rep.inputSchema.properties.link.type, 'string');
    // what the model carries on every turn: a few hundred tokens at most
    const size = JSON.stringify({ tools }).length + client.getInstructions().length;
    assert.ok(size < 1400, `tools/list + instructions is ${size} bytes`);
  });

  test('report_task reaches the runtime: task_report on SSE, report in /status', async () => {
    const ev = new Events(rt.sock);
    try {
      await ev.wait((e) => e.event === 'status_change');
      const before = (await rt.status()).state;
      const r = await client.callTool({ name: 'report_task', arguments: { summary: 'Cloning the repository', link: 'https://example.com/pr/1', state: 'working' } });
      assert.ok(!r.isError, JSON.stringify(r));
      assert.equal(r.content[0].text, 'reported');
      const e = await ev.wait((x) => x.event === 'task_report');
      assert.equal(e.data.summary, 'Cloning the repository');
      assert.equal(e.data.link, 'https://example.com/pr/1');
      assert.equal(e.data.state, 'working');
      assert.match(e.data.time, /^\d{4}-\d\d-\d\dT/);
      const s = await rt.status();
      assert.equal(s.report.summary, 'Cloning the repository');
      // a self-report never moves the state
      assert.equal(s.state, before);
      // a new subscriber gets the last report in its replay
      const ev2 = new Events(rt.sock);
      try {
        const e2 = await ev2.wait((x) => x.event === 'task_report');
        assert.equal(e2.data.summary, 'Cloning the repository');
      } finally { ev2.close(); }
    } finally { ev.close(); }
  });

  test('report_task with bad arguments: tool errors saying why', async () => {
    const cases = [
      [{ summary: 'x'.repeat(161) }, /160/],
      [{ summary: 'fine', state: 'done' }, /state/],
      [{}, /summary.*required/],
      [{ summary: 'two\nlines' }, /newlines/],
      [{ summary: 'ok', link: 'x'.repeat(3000) }, /link/],
    ];
    for (const [args, re] of cases) {
      const r = await client.callTool({ name: 'report_task', arguments: args });
      assert.equal(r.isError, true, JSON.stringify(args));
      assert.match(r.content[0].text, re);
    }
    assert.notEqual((await rt.status()).report.summary, 'fine');
  });

  test('task_info: id, name and the runtime status', async () => {
    const r = await client.callTool({ name: 'task_info', arguments: {} });
    const info = JSON.parse(r.content[0].text);
    assert.equal(info.id, 't-1');
    assert.equal(info.name, 'fix-it');
    assert.equal(info.status.agent_type, 'custom');
  });

  test('unknown tool: an error', async () => {
    await assert.rejects(client.callTool({ name: 'nope', arguments: {} }), /unknown tool/);
  });
});

describe('taskbox mcp, raw protocol', () => {
  test('version negotiation: a supported old version is echoed, an unknown one gets ours', () => {
    let [r] = rawMcp([init('2024-11-05')]);
    assert.equal(r.result.protocolVersion, '2024-11-05');
    assert.equal(r.result.serverInfo.name, 'taskbox');
    [r] = rawMcp([init('2025-03-26')]);
    assert.equal(r.result.protocolVersion, '2025-03-26');
    [r] = rawMcp([init('1999-01-01')]);
    assert.equal(r.result.protocolVersion, '2025-06-18');
    [r] = rawMcp([{ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }]);
    assert.equal(r.error.code, -32602);
  });

  test('parse error, batch, unknown method, before initialize, notifications', () => {
    const out = rawMcp([
      '{"jsonrpc": "2.0", "id": 1, "method": ',
      '[{"jsonrpc":"2.0","id":2,"method":"ping"}]',
      { jsonrpc: '2.0', id: 3, method: 'tools/list' },
      { jsonrpc: '2.0', id: 4, method: 'ping' },
      init('2025-06-18', 5),
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', method: 'notifications/whatever' },
      { jsonrpc: '2.0', id: 'x', method: 'resources/list' },
      { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'report_task', arguments: 'nope' } },
      { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'nope' } },
      { jsonrpc: '2.0', id: 9, method: 'tools/list' },
    ]);
    assert.equal(out.length, 9, JSON.stringify(out));
    assert.deepEqual([out[0].id, out[0].error.code], [null, -32700]);
    assert.deepEqual([out[1].id, out[1].error.code], [null, -32600]);
    assert.equal(out[2].id, 3);
    assert.match(out[2].error.message, /initialize/);
    assert.deepEqual(out[3], { jsonrpc: '2.0', id: 4, result: {} });
    assert.equal(out[4].id, 5);
    assert.deepEqual([out[5].id, out[5].error.code], ['x', -32601]);
    assert.deepEqual([out[6].id, out[6].error.code], [7, -32602]);
    assert.deepEqual([out[7].id, out[7].error.code], [8, -32602]);
    assert.equal(out[8].result.tools.length, 2);
  });

  test('a line over 1 MiB is refused and the next one still works', () => {
    const out = rawMcp(['"' + 'x'.repeat((1 << 20) + 10) + '"', init('2025-06-18', 2)]);
    assert.equal(out[0].error.code, -32700);
    assert.match(out[0].error.message, /over/);
    assert.equal(out[1].id, 2);
  });

  test('outside a runtime report_task is a tool error naming the socket', () => {
    const out = rawMcp([init('2025-06-18'), { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'report_task', arguments: { summary: 'hi' } } }], { TASKBOX_RUNTIME_SOCKET: path.join(dir, 'none.sock') });
    assert.equal(out[1].result.isError, true);
    assert.match(out[1].result.content[0].text, /none\.sock/);
  });
});

describe('taskbox hook', () => {
  test('stop makes the state idle at once, user-prompt-submit working; agent_hook on SSE', async () => {
    // 5 s stability: anything faster than that was the hook
    const h = await startRuntime('hooks', { banner: 'fake agent', turns: [] }, ['--stable-ms', '5000']);
    const ev = new Events(h.sock);
    try {
      await ev.wait((e) => e.event === 'status_change');
      await sleep(300); // the prompt is on screen, the screen quiet
      assert.notEqual((await h.status()).state, 'idle');
      let t0 = Date.now();
      let r = run(['hook', 'stop'], { input: '{"hook_event_name":"Stop","stop_hook_active":false}', env: { TASKBOX_RUNTIME_SOCKET: h.sock } });
      assert.equal(r.code, 0);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, '');
      let s = await h.status();
      assert.equal(s.state, 'idle');
      assert.equal(s.status, 'stable');
      assert.ok(Date.now() - t0 < 2000);
      const e = await ev.wait((x) => x.event === 'agent_hook');
      assert.equal(e.data.event, 'stop');

      r = run(['hook', 'user-prompt-submit'], { input: '{"prompt":"hi"}', env: { TASKBOX_RUNTIME_SOCKET: h.sock } });
      assert.equal(r.code, 0);
      s = await h.status();
      assert.equal(s.state, 'working');
      assert.equal(s.status, 'running');

      // Codex: the payload as the last argument
      t0 = Date.now();
      r = run(['hook', 'codex-notify', '{"type":"agent-turn-complete","last-assistant-message":"done"}'], { env: { TASKBOX_RUNTIME_SOCKET: h.sock } });
      assert.equal(r.code, 0);
      assert.equal((await h.status()).state, 'idle');
      // other notify types change nothing
      run(['hook', 'user-prompt-submit'], { env: { TASKBOX_RUNTIME_SOCKET: h.sock } });
      run(['hook', 'codex-notify', '{"type":"other"}'], { env: { TASKBOX_RUNTIME_SOCKET: h.sock } });
      assert.equal((await h.status()).state, 'working');
      // a generic event passes through with its message
      run(['hook', 'notification'], { input: '{"message":"Claude needs your permission"}', env: { TASKBOX_RUNTIME_SOCKET: h.sock } });
      const n = await ev.wait((x) => x.event === 'agent_hook' && x.data.event === 'notification');
      assert.equal(n.data.message, 'Claude needs your permission');
      // no dialog on screen: a notification does not make it waiting
      assert.notEqual((await h.status()).state, 'waiting');
    } finally {
      ev.close();
      await h.stop();
    }
  });

  test('the screen still drives the status without hooks, and takes over after a stop hook', async () => {
    const h = await startRuntime('screen', { banner: 'fake agent', turns: [{ reply: 'slow reply', think_ms: 1500 }] }, ['--stable-ms', '300']);
    try {
      await waitFor(async () => (await h.status()).state === 'idle', { what: 'idle from the screen' });
      const r = await call(h.sock, 'POST', '/message', { content: 'go', type: 'user' });
      assert.equal(r.status, 200, r.text);
      // a stop hook while the spinner runs: the spinner wins after the grace
      run(['hook', 'stop'], { env: { TASKBOX_RUNTIME_SOCKET: h.sock } });
      await sleep(600);
      assert.equal((await h.status()).state, 'working');
      await waitFor(async () => (await h.status()).state === 'idle', { what: 'idle after the reply' });
    } finally {
      await h.stop();
    }
  });

  test('hook failures: exit 0, a reason on stderr, nothing on stdout', () => {
    let r = run(['hook', 'stop'], { env: { TASKBOX_RUNTIME_SOCKET: path.join(dir, 'none.sock') } });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /none\.sock/);
    r = run(['hook', 'Bad Event'], { env: { TASKBOX_RUNTIME_SOCKET: rt.sock } });
    assert.equal(r.code, 0);
    assert.match(r.stderr, /422/);
    r = run(['hook']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /usage/);
  });

  test('the runtime validates /internal/report and /internal/hook', async () => {
    let r = await call(rt.sock, 'POST', '/internal/report', { summary: 'ok', extra: 1 });
    assert.equal(r.status, 422);
    r = await call(rt.sock, 'POST', '/internal/report', { summary: 'é'.repeat(160) });
    assert.equal(r.status, 200, r.text);
    r = await call(rt.sock, 'POST', '/internal/report', { summary: '   ' });
    assert.equal(r.status, 422);
    r = await call(rt.sock, 'POST', '/internal/hook', { payload: {} });
    assert.equal(r.status, 422);
    r = await call(rt.sock, 'POST', '/internal/hook', 'not json');
    assert.equal(r.status, 422);
  });
});
