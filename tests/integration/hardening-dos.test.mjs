// hardening-dos.test.mjs: one member's tasks or one anonymous client must
// not take the API away from everyone else (issue 8, items 3 and 4).
//
// The server runs with small maxima so the attacks stay small: 200 open
// files (--max-fds), 16 connections per client, 2 s for a request head.
// (a) Two tasks open as many LLM connections as they can and hold them;
// the server's budget for tasks refuses the excess with a 503, a fresh
// client keeps getting answers, the log stays small, and the budget comes
// back when the tasks go; egress handshakes without a head get a 408.
// (b) 600 half-open connections from 127.0.0.2 trickle header bytes; they
// are refused past the per-client limit or cut at the head timeout, a
// fresh client from 127.0.0.1 keeps getting answers, and an open SSE
// stream is not cut. (c) A runtime (the same HTTP layer) whose
// descriptors are all taken answers a new client at once (a 503 through
// the spare descriptor), and normally again as soon as they come back,
// though an SSE stream stayed open all along (libmicrohttpd 0.9.75
// resumes accepting only when one of its own connections closes).
import { test, before, after } from 'node:test';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { startServer, customTemplate, waitFor, taskDir, exists, SseClient, sleep, bin } from '../harness/server.mjs';

let srv, upstream, port;
const held = new Set(); // sockets the fake LLM provider holds

// What a task runs: open nLlm connections to the LLM pass-through (each
// with a request the provider never answers) and hold them, and open
// nEgress bare ones to the egress proxy that never send a request head;
// write how many were held, refused (503) or closed as late (408, with
// the longest time to that).
function holder(nLlm, nEgress) {
  const js = `
const net = require('net'), fs = require('fs');
const r = { held: 0, refused: 0, late: 0, late_ms: 0 }; let n = 0; const all = [];
function one(port, payload) {
  const s = net.connect(port, '127.0.0.1'); all.push(s);
  let done = false, t0 = 0;
  const fin = (what) => { if (done) return; done = true; r[what]++;
    if (what === 'late') r.late_ms = Math.max(r.late_ms, Date.now() - t0);
    if (++n === ${nLlm + nEgress}) fs.writeFileSync('results', Object.entries(r).map(([k, v]) => k + '=' + v).join('\\n') + '\\ndone=1\\n'); };
  s.on('connect', () => { t0 = Date.now(); if (payload) { s.write(payload); setTimeout(() => fin('held'), 2500); } });
  s.on('data', (d) => { const t = String(d); if (/^HTTP\\/1\\.1 503/.test(t)) fin('refused'); else if (/^HTTP\\/1\\.1 408/.test(t)) fin('late'); });
  s.on('close', () => fin('refused'));
  s.on('error', () => {});
}
function start() {
  for (let i = 0; i < ${nLlm}; i++) one(4000, 'POST /v1/messages HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 0\\r\\n\\r\\n');
  for (let i = 0; i < ${nEgress}; i++) one(3128, null);
}
const gate = setInterval(() => { if (fs.existsSync('go')) { clearInterval(gate); start(); } }, 50);
setInterval(() => {}, 60000);`;
  return ['node', '-e', js.replace(/\n/g, ' ')];
}

// Open the gate of the holders (they connect once 'go' exists): after
// every one of them started, so none takes the descriptors another
// task's own sockets need before it launched.
async function go(...tasks) {
  for (const t of tasks) await srv.waitTask('admin', t.name);
  for (const t of tasks) fs.writeFileSync(path.join(taskDir(srv, t.id), 'home/workspace/go'), '');
}

function results(t) {
  const p = path.join(taskDir(srv, t.id), 'home/workspace/results');
  if (!exists(p)) return null;
  const text = fs.readFileSync(p, 'utf8');
  if (!text.includes('done=1')) return null;
  return Object.fromEntries(text.trim().split('\n').map((l) => l.split('=')).map(([k, v]) => [k, Number(v)]));
}

// One GET from a new connection (no pooled socket), from addr; resolves
// {status, ms}.
function fresh(p, { token = srv?.token, addr = '127.0.0.1', base = srv?.base } = {}) {
  const u = new URL(base + p);
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: u.hostname, port: u.port, path: u.pathname, agent: false, localAddress: addr,
      headers: token ? { Authorization: `Bearer ${token}` } : {}, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Date.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to GET ${p} within 5 s`)));
    req.on('error', reject);
  });
}

async function answersFast(what) {
  const r = await fresh('/api/v2/users/me');
  assert.equal(r.status, 200, what);
  assert.ok(r.ms < 1000, `${what}: answered in ${r.ms} ms`);
}

before(async () => {
  upstream = net.createServer((s) => {
    held.add(s);
    s.resume(); // read (and drop) the request: the end is seen
    s.on('error', () => {});
    s.on('close', () => held.delete(s));
  });
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
  port = upstream.address().port;
  srv = await startServer({ args: ['--llm-url', `http://127.0.0.1:${port}`, '--max-fds', '200',
    '--max-conns-per-client', '16', '--header-timeout', '2'] });
});

after(async () => {
  await srv?.stop();
  for (const s of held) s.destroy();
  upstream?.close();
});

test('fd pressure from tasks: the budget refuses the excess, the API keeps answering', async (t) => {
  const m = /open files: 200 \(\d+ for the server, \d+ API connections, (\d+) for tasks/.exec(srv.log);
  assert.ok(m, `the server states its descriptor budget:\n${srv.log}`);
  const taskFds = Number(m[1]);
  assert.equal((await srv.pushTemplate(customTemplate('holder', holder(70, 0)))).status, 201);
  const a = await srv.createTask({ template: 'holder', input: 'x', name: 'hold-a' });
  const b = await srv.createTask({ template: 'holder', input: 'x', name: 'hold-b' });
  await go(a, b);
  // while the tasks open their connections, a fresh client is answered
  const during = [];
  const ra = await waitFor(async () => {
    during.push(await fresh('/api/v2/users/me'));
    return results(a) && results(b);
  }, { what: 'both tasks done', timeout: 30000, interval: 200 }).then(() => results(a));
  const rb = results(b);
  for (const r of during) {
    assert.equal(r.status, 200);
    assert.ok(r.ms < 1000, `answered in ${r.ms} ms during the attack`);
  }
  // two live tasks: 8 descriptors each, 2 per connection
  const budget = Math.floor((taskFds - 2 * 8) / 2);
  const total = ra.held + rb.held;
  t.diagnostic(`held ${ra.held} + ${rb.held} of a budget of ${budget}; refused ${ra.refused} + ${rb.refused}; ` +
    `slowest answer ${Math.max(...during.map((r) => r.ms))} ms of ${during.length}`);
  assert.ok(total <= budget, `${total} connections held, budget ${budget}`);
  assert.ok(total >= budget / 2, `the tasks got their share: ${total} of ${budget}`);
  assert.equal(ra.held + ra.refused, 70);
  assert.ok(ra.held <= 64 && rb.held <= 64, 'at most 64 per task');
  assert.ok(ra.refused + rb.refused >= 140 - budget, 'the excess is refused with a 503');
  assert.ok(held.size <= budget, `${held.size} upstream connections`);
  await answersFast('at the budget');
  // no room for another task's own sockets: it fails to start, clearly
  const x = await srv.createTask({ template: 'holder', input: 'x', name: 'hold-x' });
  const tx = await srv.waitTask('admin', x.name, { status: 'error' });
  assert.match(tx.status_reason, /file descriptors for tasks are all in use/, tx.status_reason);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/hold-x')).status, 202);
  // the log says it with a count, not once per refusal
  const refusals = srv.log.split('\n').filter((l) => /egress task=hold-.: refused \d+ connection/.test(l)).length;
  assert.ok(refusals >= 1 && refusals <= 4, `${refusals} refusal lines`);
  assert.ok(srv.log.length < 64 * 1024, `log of ${srv.log.length} bytes`);

  for (const n of ['hold-a', 'hold-b'])
    assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/${n}`)).status, 202);
  await answersFast('after the tasks went');
  await waitFor(() => held.size === 0, { what: 'upstream connections closed' });
  // the budget came back: a new task holds all it asks for; handshakes
  // that never send a head are closed at the head timeout (2 s)
  assert.equal((await srv.pushTemplate(customTemplate('holder2', holder(20, 5)))).status, 201);
  const c = await srv.createTask({ template: 'holder2', input: 'x', name: 'hold-c' });
  await go(c);
  const rc = await waitFor(() => results(c), { what: 'task c done', timeout: 30000 });
  assert.deepEqual({ ...rc, late_ms: 0 }, { held: 20, refused: 0, late: 5, late_ms: 0, done: 1 });
  assert.ok(rc.late_ms >= 1500 && rc.late_ms < 5000, `idle handshakes closed after ${rc.late_ms} ms`);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/hold-c')).status, 202);
});

test('slowloris from one address: refused past its limit, cut at the head timeout; SSE untouched', async (t) => {
  assert.equal((await srv.pushTemplate(customTemplate('idle', ['sh', '-c', 'exec sleep 1000']))).status, 201);
  await srv.createTask({ template: 'idle', input: 'x', name: 'idle' });
  await srv.waitTask('admin', 'idle');
  const sse = new SseClient(srv.base + `/api/v2/tasks/admin/idle/events?access_token=${srv.token}`);
  await sse.ready;
  assert.equal(sse.status, 200);
  let sseClosed = false;
  sse.done.then(() => { sseClosed = true; });

  const u = new URL(srv.base);
  const conns = [];
  let opens = 0, stop = false;
  const open = () => {
    if (stop || opens >= 4000) return;
    opens++;
    const rec = { opened: Date.now(), closed: 0, refused: false };
    const s = net.connect({ host: u.hostname, port: Number(u.port), localAddress: '127.0.0.2' });
    rec.s = s;
    s.on('connect', () => {
      rec.connected = Date.now();
      s.write('GET /api/v2/buildinfo HTTP/1.1\r\nHost: x\r\n');
      rec.timer = setInterval(() => s.write('X-Pad: y\r\n'), 400);
    });
    s.on('data', (d) => { if (/^HTTP\/1\.1 429/.test(String(d))) rec.refused = true; });
    s.on('error', () => {});
    s.on('close', () => {
      rec.closed = Date.now();
      clearInterval(rec.timer);
      setTimeout(open, 1000); // the attacker comes back
    });
    conns.push(rec);
  };
  for (let i = 0; i < 600; i++) open();
  const t0 = Date.now();
  while (Date.now() - t0 < 7000) {
    await answersFast('during the slowloris');
    await sleep(250);
  }
  stop = true;
  const cut = conns.filter((c) => c.connected && c.closed && !c.refused && c.closed - c.connected >= 1500);
  const open2 = conns.filter((c) => !c.closed);
  // nothing the attacker holds has been open much longer than the timeout
  for (const c of open2) assert.ok(Date.now() - c.opened < 4500, 'an attacker connection outlived the head timeout');
  assert.ok(cut.length >= 16, `${cut.length} trickling connections cut`);
  for (const c of cut) assert.ok(c.closed - c.connected < 4500, `cut after ${c.closed - c.connected} ms`);
  assert.ok(conns.filter((c) => c.refused).length > 100, 'connections past the per-client limit get a 429');
  t.diagnostic(`${opens} attacking connections: ${cut.length} cut, ${conns.filter((c) => c.refused).length} refused with 429`);
  for (const c of conns) c.s.destroy();
  await answersFast('after the slowloris');
  assert.equal(sseClosed, false, 'the SSE stream stays open');
  sse.ctrl.abort();
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/idle')).status, 202);
  const lines = srv.log.split('\n').filter((l) => /closed \d+ connection|refused \d+ connection/.test(l)).length;
  assert.ok(lines >= 2 && lines <= 6, `${lines} log lines for ${opens} attacking connections`);
});

test('a body without credentials is refused before it is read: trickled bodies hold no slot', async () => {
  const u = new URL(srv.base);
  const conns = [];
  // from four addresses, as many connections as each may hold
  for (const from of ['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6']) {
    for (let i = 0; i < 16; i++) {
      const rec = { answer: '', closed: false };
      const s = net.connect({ host: u.hostname, port: Number(u.port), localAddress: from });
      s.on('connect', () => {
        s.write('POST /api/v2/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{');
        rec.timer = setInterval(() => s.write(' '), 300);
      });
      s.on('data', (d) => { rec.answer += d; });
      s.on('error', () => {});
      s.on('close', () => { rec.closed = true; clearInterval(rec.timer); });
      rec.s = s;
      conns.push(rec);
    }
  }
  await waitFor(() => conns.every((c) => /^HTTP\/1\.1 401/.test(c.answer)), { what: 'every anonymous body refused', timeout: 5000 });
  await answersFast('with trickled anonymous bodies');
  for (const c of conns) { clearInterval(c.timer); c.s.destroy(); }
});

test('out of descriptors: a new client is answered at once, and accepting resumes with an SSE stream open', async (t) => {
  const up = net.createServer((s) => { s.resume(); s.on('error', () => {}); });
  await new Promise((r) => up.listen(0, '127.0.0.1', r));
  const child = spawn('prlimit', ['--nofile=64:64', '--', bin, 'agent', '--port', '0',
    '--forward', `127.0.0.1:0=127.0.0.1:${up.address().port}`, '--', 'sleep', '1000'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const socks = [];
  try {
    const apiPort = await waitFor(() => /listening on http:\/\/[^:]+:(\d+)/.exec(log)?.[1], { what: 'runtime listening' });
    const base = `http://127.0.0.1:${apiPort}`;
    const [fh, fp] = (await waitFor(() => /forward (\S+) -> 127/.exec(log)?.[1], { what: 'forward' })).split(':');
    // an SSE stream that stays open throughout
    let sseRes = null, sseClosed = false;
    const sse = http.get({ host: '127.0.0.1', port: apiPort, path: '/events', agent: false }, (res) => {
      sseRes = res;
      res.on('data', () => {});
      res.on('close', () => { sseClosed = true; });
    });
    sse.on('error', () => {});
    await waitFor(() => sseRes, { what: 'SSE open' });
    assert.equal((await fresh('/status', { base, token: null })).status, 200);
    // take every descriptor with forwarded connections
    for (let i = 0; i < 60; i++) {
      const s = net.connect(Number(fp), fh);
      s.on('error', () => {});
      socks.push(s);
    }
    await sleep(1000);
    // turned away with a 503 (or served, when the forward's churn left a
    // descriptor free), never left waiting in the backlog
    const busy = await fresh('/status', { base, token: null });
    assert.ok([503, 200].includes(busy.status), `status ${busy.status}`);
    assert.ok(busy.ms < 1000, `${busy.status} after ${busy.ms} ms`);
    await sleep(1000); // still out of descriptors: retries, not a flood of lines
    for (const s of socks) s.destroy();
    await sleep(300);
    const back = await fresh('/status', { base, token: null });
    assert.equal(back.status, 200, 'accepting resumed');
    assert.ok(back.ms < 1000, `answered in ${back.ms} ms`);
    assert.equal(sseClosed, false, 'the SSE stream stayed open');
    t.diagnostic(`runtime log: ${log.length} bytes; ${busy.status} in ${busy.ms} ms, then 200 in ${back.ms} ms`);
    assert.ok(log.length < 16 * 1024, `runtime log of ${log.length} bytes`);
    sse.destroy();
  } finally {
    for (const s of socks) s.destroy();
    child.kill();
    up.close();
  }
});
