// gateway.mjs: what an LLM gateway adds to a request (bench/gateway.sh).
//
// One fixed-reply upstream (bench/gateway-upstream.mjs, its own process)
// and, in the same run, the same requests sent by the same client:
//
//   direct    to the upstream on 127.0.0.1
//   taskbox   to a task's llm.sock (RUN/llm.sock on the host: the socket
//             the task's 127.0.0.1:4000 forwards to), the server started
//             with --llm-url at the upstream; the pass-through today, the
//             gateway once it replaces it (same socket, same provider
//             `default`). GW_BINS="name=PATH,..." runs several binaries.
//   portkey   Portkey's gateway (npm @portkey-ai/gateway, PORTKEY_DIR) on
//             127.0.0.1, provider anthropic, x-portkey-custom-host at the
//             upstream
//
// at 1 and 100 concurrent clients (keep-alive agents; each mode's own
// connections): a plain request (latency to the end of the reply) and a
// stream (the upstream sends message_start at once and the rest
// STREAM_DELAY_MS later: the time to the first body byte). Rounds
// alternate the modes; percentiles pool the rounds. "added" = the mode's
// percentile minus direct's, so the client's own cost cancels out. CPU per
// request: utime+stime of the gateway's process (/proc/PID/stat) over its
// runs, divided by their requests.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServer, customTemplate, taskDir, sleep } from '../tests/harness/server.mjs';
import { percentile, table } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.ROUNDS || 5);
const N1 = Number(process.env.N1 || 1000); // plain requests a round, 1 client
const N100 = Number(process.env.N100 || 3000); // plain requests a round, 100 clients
const S1 = Number(process.env.STREAMS1 || 50);
const S100 = Number(process.env.STREAMS100 || 1000);
const DELAY = Number(process.env.STREAM_DELAY_MS || 20);
const TASKS = Number(process.env.TASKS || 4); // clients spread over their llm.sock (64 connections a task)
const PORTKEY_DIR = process.env.PORTKEY_DIR;
const BINS = (process.env.GW_BINS || `taskbox=${process.env.TASKBOX_BIN}`).split(',').map((s) => {
  const i = s.indexOf('=');
  return { name: s.slice(0, i), exe: path.resolve(s.slice(i + 1)) };
});
const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;

// utime + stime of a process, in seconds.
function cpu(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3
  return (Number(f[11]) + Number(f[12])) / TICK;
}

// Spawn a node child that prints a line matching re once ready.
function child(args, re, opts = {}) {
  const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start:\n${out}`)), 30000);
    const on = (d) => {
      out += d;
      const m = re.exec(out);
      if (m) { clearTimeout(timer); resolve({ c, m }); }
    };
    c.stdout.on('data', on);
    c.stderr.on('data', (d) => { out += d; });
    c.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${args[0]} exited ${code}:\n${out}`)); });
  });
}

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

const body = (stream) => JSON.stringify({
  model: 'claude-bench', max_tokens: 64, stream,
  messages: [{ role: 'user', content: 'Say hello to the benchmark.' }],
});
const plainBody = body(false), streamBody = body(true);
const baseHeaders = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'bench-placeholder' };

// One request; resolves {ms, fb} (to the end and to the first body byte,
// in ms) or null on an error or a status other than 200.
function one(mode, i, stream) {
  const data = stream ? streamBody : plainBody;
  const o = mode.options(i);
  return new Promise((resolve) => {
    const t0 = performance.now();
    let fb = 0;
    const req = http.request({ ...o, method: 'POST', agent: mode.agent,
      headers: { ...baseHeaders, ...o.headers, 'content-length': Buffer.byteLength(data) } }, (res) => {
      if (!req.reusedSocket && mode.cur) mode.cur.conns++;
      res.on('data', () => { if (fb === 0) fb = performance.now(); });
      res.on('end', () => {
        if (res.statusCode !== 200) {
          if (mode.errors++ < 3) console.error(`${mode.name}: status ${res.statusCode}`);
          resolve(null);
          return;
        }
        resolve({ ms: performance.now() - t0, fb: fb - t0 });
      });
      res.on('error', () => resolve(null));
    });
    req.on('error', (e) => { if (mode.errors++ < 3) console.error(`${mode.name}: ${e.message}`); resolve(null); });
    req.end(data);
  });
}

// n requests by conc clients; returns the results that succeeded.
async function run(mode, conc, n, stream) {
  let next = 0;
  const out = [];
  const worker = async (w) => {
    while (next < n) {
      next++;
      const r = await one(mode, w, stream);
      if (r) out.push(r);
    }
  };
  await Promise.all(Array.from({ length: conc }, (_, w) => worker(w)));
  return out;
}

let upPortGlobal = 0;
// Connections the upstream accepted so far (one more for this question).
function upstreamConns() {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: upPortGlobal, path: '/_bench/connections', agent: false }, (res) => {
      let t = '';
      res.on('data', (d) => { t += d; });
      res.on('end', () => resolve(Number(t)));
    }).on('error', reject);
  });
}

const procs = [];
const servers = [];
try {
  // ---- the upstream
  const up = await child([path.join(here, 'gateway-upstream.mjs'), String(DELAY)], /listening (\d+)/);
  procs.push(up.c);
  const upPort = Number(up.m[1]);
  upPortGlobal = upPort;
  const modes = [{
    name: 'direct', pid: null,
    options: () => ({ host: '127.0.0.1', port: upPort, path: '/v1/messages' }),
  }];

  // ---- taskbox: a server per binary, TASKS tasks each
  for (const b of BINS) {
    const srv = await startServer({ exe: b.exe, args: ['--llm-url', `http://127.0.0.1:${upPort}`],
      env: { TASKBOX_CHECK_TASK_JSON: '0' } });
    servers.push(srv);
    const r = await srv.pushTemplate(customTemplate('gwbench', ['sleep', '1000000']));
    if (r.status >= 300) throw new Error(`template: ${r.status} ${r.text}`);
    const socks = [];
    for (let i = 0; i < TASKS; i++) {
      const t = await srv.createTask({ template: 'gwbench', input: 'x', name: `gw${i}` });
      await srv.waitTask('admin', `gw${i}`);
      socks.push(path.join(taskDir(srv, t.id), 'run', 'llm.sock'));
    }
    modes.push({
      name: b.name, pid: srv.child.pid, srv,
      options: (i) => ({ socketPath: socks[i % socks.length], path: '/v1/messages', headers: { host: 'localhost' } }),
    });
  }

  // ---- Portkey
  if (PORTKEY_DIR) {
    const port = await freePort();
    const pk = await child([path.join(PORTKEY_DIR, 'node_modules/@portkey-ai/gateway/build/start-server.js'),
      `--port=${port}`, '--headless'], /Ready for connections/,
    { cwd: PORTKEY_DIR });
    procs.push(pk.c);
    modes.push({
      name: 'portkey', pid: pk.c.pid,
      options: () => ({ host: '127.0.0.1', port, path: '/v1/messages', headers: {
        'x-portkey-provider': 'anthropic', 'x-portkey-custom-host': `http://127.0.0.1:${upPort}/v1` } }),
    });
  } else {
    console.log('PORTKEY_DIR not set: Portkey left out (bench/gateway.sh installs it)');
  }
  for (const m of modes) {
    m.agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
    m.errors = 0;
    m.cur = null; // the res[conc] that counts new connections
    m.res = {};
  }

  // ---- warm-up (JIT, pools), then the rounds
  for (const m of modes) {
    if ((await run(m, 10, 300, false)).length === 0) throw new Error(`${m.name}: no request succeeded`);
    await run(m, 10, 30, true);
  }
  const upCpu = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const conc of [1, 100]) {
      const order = modes.map((_, i) => modes[(i + round) % modes.length]);
      for (const m of order) {
        const r = (m.res[conc] ??= { plain: [], stream: [], cpuPlain: 0, cpuStream: 0, nPlain: 0, nStream: 0 });
        const u0 = cpu(up.c.pid);
        const k0 = await upstreamConns();
        r.conns ??= 0;
        m.cur = r;
        let c0 = m.pid ? cpu(m.pid) : 0;
        const plain = await run(m, conc, conc === 1 ? N1 : N100, false);
        let c1 = m.pid ? cpu(m.pid) : 0;
        r.plain.push(...plain);
        r.cpuPlain += c1 - c0;
        r.nPlain += plain.length;
        c0 = c1;
        const stream = await run(m, conc, conc === 1 ? S1 : S100, true);
        c1 = m.pid ? cpu(m.pid) : 0;
        r.stream.push(...stream);
        r.cpuStream += c1 - c0;
        r.nStream += stream.length;
        upCpu[m.name] = (upCpu[m.name] ?? 0) + cpu(up.c.pid) - u0;
        r.upConns = (r.upConns ?? 0) + (await upstreamConns()) - k0 - 1; // less the count's own
      }
    }
  }

  // ---- report
  const us = (ms) => `${Math.round(ms * 1000)}`;
  const pct = (a, k, p) => percentile(a.map((x) => x[k]), p);
  const direct = modes[0];
  for (const conc of [1, 100]) {
    console.log(`\n${conc} client${conc > 1 ? 's' : ''}: plain request (to the end of the reply), stream (to its first byte); µs`);
    const rows = [['path', 'n', 'p50', 'p99', 'added p50', 'added p99', 'streams', 'first byte p50', 'p99',
      'added p50', 'added p99', 'CPU/req', 'CPU/stream', 'errors']];
    for (const m of modes) {
      const r = m.res[conc], d = direct.res[conc];
      const a50 = pct(r.plain, 'ms', 50) - pct(d.plain, 'ms', 50), a99 = pct(r.plain, 'ms', 99) - pct(d.plain, 'ms', 99);
      const f50 = pct(r.stream, 'fb', 50) - pct(d.stream, 'fb', 50), f99 = pct(r.stream, 'fb', 99) - pct(d.stream, 'fb', 99);
      rows.push([m.name, r.nPlain, us(pct(r.plain, 'ms', 50)), us(pct(r.plain, 'ms', 99)),
        m === direct ? '' : us(a50), m === direct ? '' : us(a99),
        r.nStream, us(pct(r.stream, 'fb', 50)), us(pct(r.stream, 'fb', 99)),
        m === direct ? '' : us(f50), m === direct ? '' : us(f99),
        m.pid ? us(r.cpuPlain * 1000 / r.nPlain) : '', m.pid ? us(r.cpuStream * 1000 / r.nStream) : '', m.errors]);
      r.a50 = a50;
      r.f50 = f50;
    }
    table(rows);
    const pk = modes.find((m) => m.name === 'portkey');
    for (const m of modes.slice(1)) {
      if (m === pk || !pk) continue;
      const ratio = (x, y) => (x > 0 ? `${(y / x).toFixed(1)}x` : 'n/a (added <= 0)');
      console.log(`${m.name} vs portkey, ${conc} client(s): added p50 ${us(m.res[conc].a50)} vs ${us(pk.res[conc].a50)} µs ` +
        `(${ratio(m.res[conc].a50, pk.res[conc].a50)} less); added first byte p50 ${us(m.res[conc].f50)} vs ${us(pk.res[conc].f50)} µs`);
    }
  }
  console.log('\nnew connections per request, client -> path and -> upstream (measured runs): ' + [1, 100].map((c) =>
    `${c} client(s): ` + modes.map((m) => {
      const r = m.res[c], n = r.nPlain + r.nStream;
      return `${m.name} ${(r.conns / n).toFixed(3)} / ${(r.upConns / n).toFixed(3)}`;
    }).join(', ')).join('; '));
  console.log(`upstream CPU over the runs (s): ${Object.entries(upCpu).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}; ` +
    `clock tick ${1000 / TICK} ms; stream delay ${DELAY} ms; ${ROUNDS} rounds; ${TASKS} tasks' llm.sock`);
  for (const m of modes) {
    if (m.srv && m.errors > 0) {
      const lines = m.srv.log.split('\n').filter((l) => /egress|llm|descriptor|503|open files/i.test(l));
      console.log(`${m.name}: ${m.errors} errors; the server said (last 5 of ${lines.length}):\n  ${lines.slice(-5).join('\n  ')}`);
    }
  }
  console.log(`load: ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`);
} finally {
  for (const s of servers) await s.stop();
  for (const c of procs) c.kill();
}
