// server.mjs: helpers for tests that drive a real `taskbox server`.
//
// startServer() spawns the binary with a fresh data directory on a free
// port, reads the one-time admin token from its first-start banner and
// returns a handle: api() for REST calls with any token, user() to make
// more users, task helpers that wait on real state, and stop().
// With TASKBOX_TEST_STORE=postgresql every server keeps its state in a
// new database of a private PostgreSQL cluster (pg.mjs) instead of
// DATA/taskbox.db; a restart with the same data directory gets the same
// database back.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bin, root, tmpdir, waitFor, SseClient, sleep, unmountUnder } from './runtime.mjs';
import { pgDatabase, pgDump, pgSql } from './pg.mjs';

export { bin, root, tmpdir, waitFor, SseClient, sleep, unmountUnder };

export class Server {
  constructor(child, base, token, data) {
    this.child = child;
    this.base = base;
    this.token = token; // the admin's
    this.data = data;
    this.log = '';
    this.stopping = false;
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => {
      if (!this.stopping) process.stderr.write(`taskbox server died (${code ?? signal}):\n${this.log}\n`);
      resolve({ code, signal });
    }));
  }

  // One REST call; token null sends none. Returns {status, json, text, headers}.
  async api(method, p, { token = this.token, body, headers = {} } = {}) {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    const init = { method, headers: h };
    if (body !== undefined) {
      if (typeof body === 'string') init.body = body;
      else { init.body = JSON.stringify(body); h['Content-Type'] ??= 'application/json'; }
    }
    const r = await fetch(this.base + p, init);
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, json, text, headers: r.headers };
  }

  // Create a user; returns {name, token, id}.
  async user(name, role = 'member') {
    const r = await this.api('POST', '/api/v2/users', { body: { username: name, role } });
    if (r.status !== 201) throw new Error(`user create: ${r.status} ${r.text}`);
    return { name, token: r.json.token, id: r.json.id };
  }

  async createTask(body, { token = this.token, owner = 'me' } = {}) {
    const r = await this.api('POST', `/api/v2/tasks/${owner}`, { token, body });
    if (r.status !== 201) throw new Error(`task create: ${r.status} ${r.text}`);
    return r.json;
  }

  async task(owner, name, token = this.token) {
    return (await this.api('GET', `/api/v2/tasks/${owner}/${name}`, { token })).json;
  }

  // Wait until the task's status (and optionally state) match.
  async waitTask(owner, name, { status = 'active', state, timeout = 30000, token = this.token } = {}) {
    return waitFor(async () => {
      const t = await this.task(owner, name, token);
      if (t && t.status === 'error' && status !== 'error')
        throw new Error(`task ${owner}/${name} failed: ${t.status_reason}\n${this.log}`);
      if (!t || t.status !== status) return null;
      if (state && (!t.current_state || t.current_state.state !== state)) return null;
      return t;
    }, { timeout, what: `task ${owner}/${name} ${status}${state ? '/' + state : ''}` });
  }

  async pushTemplate(yaml, token = this.token) {
    return this.api('POST', '/api/v2/templates', { token, body: yaml, headers: { 'Content-Type': 'application/yaml' } });
  }

  async stop(signal = 'SIGTERM') {
    this.stopping = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const r = await this.exited;
    unmountUnder(this.data);
    // a sanitizer's report (the tests run the ASan+UBSan build) fails the
    // test that stopped the server, leaks included
    const report = /^(==\d+==ERROR: \w+Sanitizer|.*: runtime error: )/m.exec(this.log);
    if (report) {
      const at = this.log.indexOf(report[0]);
      throw new Error(`the server's sanitizer report:\n${this.log.slice(at, at + 4000)}`);
    }
    return r;
  }
}

// The store the tests run against: 'sqlite' (the default) or
// 'postgresql' (TASKBOX_TEST_STORE).
export const testStore = process.env.TASKBOX_TEST_STORE === 'postgresql' ? 'postgresql' : 'sqlite';

// data directory -> the PostgreSQL database of the server that used it
const pgStores = new Map();

// The --store arguments of a server on data: none with SQLite; with
// PostgreSQL the database data had, or a new one.
export function storeArgs(data) {
  if (testStore !== 'postgresql') return [];
  if (!pgStores.has(data)) pgStores.set(data, pgDatabase());
  return ['--store', pgStores.get(data).uri];
}

// The PostgreSQL database ({name, uri}) of the server on data, or null.
export function pgStoreOf(data) {
  return pgStores.get(data) ?? null;
}

// What the server's store holds on disk, as a Buffer: the SQLite file,
// or the dump of its PostgreSQL database (for tests that look for what
// must never be stored in clear).
export function storeBytes(server) {
  const db = pgStoreOf(server.data);
  if (db) return Buffer.from(pgDump(db.name));
  return fs.readFileSync(path.join(server.data, 'taskbox.db'));
}

// Run one statement on the store of the server that used data, next to
// it (tests that look at rows, or set up what an old database holds):
// '?' and '?N' take args; returns the rows as arrays of values.
export function storeSql(data, sql, ...args) {
  const db = pgStoreOf(data);
  if (db) {
    const lit = (v) => v === null || v === undefined ? 'NULL'
      : typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`;
    let next = 0;
    const text = sql.replace(/\?(\d*)/g, (_, n) => lit(args[n ? (next = Math.max(next, Number(n))) - 1 : next++]));
    if (!/^\s*SELECT\b/i.test(text)) { pgSql(db.name, text); return []; }
    const out = pgSql(db.name, `SELECT coalesce(json_agg(x), '[]') FROM (${text}) x`);
    return JSON.parse(out).map((row) => Object.values(row));
  }
  const py = spawnSync('python3', ['-c', `import sqlite3,sys,json
c=sqlite3.connect(sys.argv[1], timeout=10)
r=c.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall()
c.commit()
print(json.dumps([list(x) for x in r]))`, path.join(data, 'taskbox.db'), sql, JSON.stringify(args)], { encoding: 'utf8' });
  if (py.status !== 0) throw new Error(`storeSql: ${py.stderr}`);
  return JSON.parse(py.stdout);
}

// Start `taskbox server` on a free port with a new data directory.
// Pass data (and the admin token) of an earlier server to restart it.
// exe: another taskbox binary than TASKBOX_BIN (benchmarks compare two).
export async function startServer({ args = [], env = {}, data, token: knownToken, exe = bin } = {}) {
  data ??= tmpdir('taskbox-server-');
  // --on-exit pause: a stopped test server leaves no workspace behind
  // workspace disks are allocated in full: small ones keep test runs
  // light on the machine's disk unless a test asks for a size
  const disk = args.includes('--max-disk') ? [] : ['--max-disk', '512MiB'];
  // TASKBOX_CHECK_TASK_JSON: the server compares each kept Task JSON
  // with a fresh encoding and aborts on a stale one (benchmarks set 0)
  const store = args.includes('--store') ? [] : storeArgs(data);
  const child = spawn(exe, ['server', '--listen', '127.0.0.1:0', '--data', data, '--on-exit', 'pause', ...disk, ...store, ...args], {
    env: { TASKBOX_CHECK_TASK_JSON: '1', ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '', err = '';
  child.stderr.on('data', (d) => { err += d; });
  const { base, token } = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}\n${err}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        const t = /login token \(shown once\): (\S+)/.exec(out);
        resolve({ base: m[1], token: t ? t[1] : knownToken ?? null });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}:\n${out}\n${err}`)); });
  });
  const s = new Server(child, base, token, data);
  s.out = out; // what the start printed (the first start's hints)
  s.log = err;
  child.stderr.on('data', (d) => { s.log += d; });
  return s;
}

// A template YAML for a custom agent running cmd (argv list).
export function customTemplate(name, cmd, { limits, egress, setup, apps, env } = {}) {
  const y = [
    `name: ${name}`,
    'workspace:',
    '  backend: local',
  ];
  if (limits) y.push('  limits:', ...Object.entries(limits).map(([k, v]) => `    ${k}: ${v}`));
  if (egress) y.push(`  egress: ${JSON.stringify(egress)}`);
  if (env) y.push('  env:', ...Object.entries(env).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`));
  if (setup) y.push('  setup: |', ...setup.split('\n').map((l) => `    ${l}`));
  if (apps) {
    y.push('apps:');
    for (const a of apps) y.push(`  - slug: ${a.slug}`, `    url: ${a.url}`);
  }
  y.push('agent:', '  module: custom', `  command: ${JSON.stringify(cmd)}`, 'ai_task:', '  app: chat');
  return y.join('\n') + '\n';
}

// Files of a task's workspace on the host (tests look, never write).
export function taskDir(server, id) {
  return path.join(server.data, 'tasks', id);
}

export function exists(p) {
  try { fs.accessSync(p); return true; } catch { return false; }
}

// SIGKILL the workspace of task id of server (its bwrap binds the task's
// directory: nothing of other tests matches), as if it died while no
// server watched; waits until its processes are gone.
export async function killWorkspace(server, id) {
  const procs = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      return cmd.split('\0')[0].endsWith('bwrap') && cmd.includes(taskDir(server, id));
    } catch { return false; }
  });
  if (procs.length === 0) throw new Error(`no workspace of task ${id} found`);
  for (const p of procs) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
  await waitFor(() => procs.every((p) => !exists(`/proc/${p}`)), { what: 'workspace killed' });
}
