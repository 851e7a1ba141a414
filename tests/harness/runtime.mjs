// runtime.mjs: helpers for tests that drive a real `taskbox agent`.
//
// startRuntime() spawns the binary (TASKBOX_BIN, default build/taskbox)
// on a free port, waits for its "listening on" log line and returns a
// handle with fetch helpers; SseClient reads an SSE stream with fetch.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const bin = process.env.TASKBOX_BIN || path.join(root, 'build/taskbox');
export const fakeAgent = path.join(root, 'tests/harness/fake-agent.mjs');

// Every directory tmpdir() made goes when the test process exits (a test
// server's data holds workspace disk images of 512 MiB each: left behind,
// test runs fill the disk). TASKBOX_KEEP_TMP=1 keeps them for a post-mortem.
const made = [];
process.on('exit', () => {
  if (process.env.TASKBOX_KEEP_TMP === '1') return;
  for (const d of made) {
    unmountUnder(d);
    try { fs.rmSync(d, { recursive: true, force: true, maxRetries: 2 }); } catch { /* busy: leave it */ }
  }
});

export function tmpdir(prefix = 'taskbox-test-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

// Unmount what is mounted under dir (the disk images a stopped server left:
// tasks not deleted keep their data for a restart, and the pool of ready
// images), deepest first, so test runs do not pile up loop devices.
export function unmountUnder(dir) {
  if (process.getuid() !== 0) return;
  const prefix = dir + '/';
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
}

export function writeScript(dir, script, name = 'script.json') {
  const p = path.join(dir, name);
  fs.writeFileSync(p, JSON.stringify(script));
  return p;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll fn until it returns a truthy value or the timeout passes.
export async function waitFor(fn, { timeout = 10000, interval = 25, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await sleep(interval);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

export class Runtime {
  constructor(child, base) {
    this.child = child;
    this.base = base;
    this.stderr = '';
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  url(p) { return this.base + p; }

  async get(p, headers = {}) {
    const r = await fetch(this.url(p), { headers });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, headers: r.headers, text, json };
  }

  async post(p, body, headers = {}) {
    const init = { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers } };
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const r = await fetch(this.url(p), init);
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, headers: r.headers, text, json };
  }

  async status() { return (await this.get('/status')).json; }
  async messages() { return (await this.get('/messages')).json.messages; }

  async waitStable(timeout = 10000) {
    return waitFor(async () => {
      const s = await this.status();
      return s.status === 'stable' ? s : null;
    }, { timeout, what: 'status stable' });
  }

  // Send a user message once the agent is stable; returns the response.
  async say(text) {
    await this.waitStable();
    return this.post('/message', { content: text, type: 'user' });
  }

  // The reply to the last user message, once the agent is stable again.
  async reply() {
    await sleep(50);
    await this.waitStable();
    const m = await this.messages();
    return m[m.length - 1];
  }

  async stop(signal = 'SIGTERM') {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

// Start `taskbox agent [args] -- cmd...`; resolves once it listens.
// clearEnv: the agent gets exactly env (as `env -i` would), not ours too.
export async function startRuntime(args, cmd, { env = {}, stdin = 'ignore', input, cwd, clearEnv = false } = {}) {
  const child = spawn(bin, ['agent', '--port', '0', ...args, '--', ...cmd], {
    cwd,
    env: clearEnv ? env : { ...process.env, ...env },
    stdio: [input !== undefined ? 'pipe' : stdin, 'ignore', 'pipe'],
  });
  if (input !== undefined) {
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  }
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`runtime did not start: ${log}`)), 10000);
    child.stderr.on('data', (d) => {
      log += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(log);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`runtime exited ${code}: ${log}`)); });
  });
  const rt = new Runtime(child, `http://127.0.0.1:${port}`);
  rt.stderr = log;
  child.stderr.on('data', (d) => { rt.stderr += d; });
  return rt;
}

// Run the binary to completion; returns {code, stdout, stderr}.
export function runBin(args, { input, timeout = 10000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    child.stdin.on('error', () => {}); // the program may exit before reading
    child.stdin.end(input ?? '');
  });
}

// A minimal SSE reader over fetch: collects {event, data, t} records, t
// being CLOCK_MONOTONIC in ms when the record arrived (benchmarks compare
// it with stamps taken in other processes). onEvent, if given, is called
// for each record as it arrives; `ready` resolves once the response
// headers are in.
export class SseClient {
  constructor(url, headers = {}, onEvent = null) {
    this.events = [];
    this.ctrl = new AbortController();
    this.waiters = [];
    this.onEvent = onEvent;
    this.ready = new Promise((resolve) => { this.setReady = resolve; });
    this.done = this.run(url, headers);
  }

  async run(url, headers) {
    let res;
    try {
      res = await fetch(url, { headers, signal: this.ctrl.signal });
    } catch (e) { this.error = e; this.setReady(); return; }
    this.setReady();
    this.status = res.status;
    this.headers = res.headers;
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        const t = Number(process.hrtime.bigint()) / 1e6;
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const rec = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          const data = [];
          for (const line of rec.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length === 0) continue; // comment / keep-alive
          const ev = { event, data: JSON.parse(data.join('\n')), t };
          this.events.push(ev);
          if (this.onEvent) this.onEvent(ev);
          this.waiters = this.waiters.filter((w) => !w());
        }
      }
      this.ended = true;
    } catch (e) {
      if (e.name !== 'AbortError') this.error = e;
    }
  }

  // Wait until pred matches one of the events; returns it.
  wait(pred, timeout = 10000) {
    const found = this.events.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`SSE wait timed out; got ${JSON.stringify(this.events.map((e) => e.event))}`)), timeout);
      this.waiters.push(() => {
        const f = this.events.find(pred);
        if (f) { clearTimeout(timer); resolve(f); return true; }
        return false;
      });
    });
  }

  close() { this.ctrl.abort(); }
}
