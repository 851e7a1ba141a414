// stores.mjs: SQLite against PostgreSQL, two servers in one run
// (bench/stores.sh runs it).
//
// Two servers of the same binary: one on its default SQLite store
// (DATA/taskbox.db), one on a database of a private PostgreSQL cluster
// (tests/harness/pg.mjs: unix socket, no fsync, synchronous_commit off,
// as the tests run it). Every phase alternates between them, the order
// swapped each round, so that the machine's noise falls on both alike:
//
//   start   RUNS (40) light tasks one after another on each (a custom
//           `sleep` agent, --max-disk 0): prompt accepted -> agent
//           running (server-stamped, startup.agent_ms; the sandbox's
//           part startup.workspace_ms) and POST -> "active" seen by the
//           client (polling every 2 ms); each task deleted before the
//           next; WARMUP (2) first tasks of each not counted
//   create  LIST_TASKS (200) tasks on each, CHUNK (50) at a time with
//           PAR (4) POSTs in flight, alternating chunk by chunk: POSTs
//           per second and the POST's answer time. LIVE (10) of them run
//           `sleep`, the others an agent that exits at once (no
//           workspace left, the same Task JSON), as bench/list.mjs
//   wrk     with the LIST_TASKS present: wrk -t2 -c8 -dWRK_DURATION (8s)
//           on GET /api/v2/tasks?limit=50 and GET /api/v2/tasks/admin/NAME,
//           ROUNDS (2) rounds alternating store by store
//
// Then a table and the ratios PostgreSQL / SQLite. Everything is deleted,
// both servers stopped, the cluster removed (pg.mjs at exit); the end
// checks that no bwrap or loop device of either server is left.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { startServer, customTemplate, waitFor } from '../tests/harness/server.mjs';
import { pgCluster, pgDatabase } from '../tests/harness/pg.mjs';
import { percentile, table } from './lib.mjs';

const RUNS = Number(process.env.RUNS || 40);
const WARMUP = Number(process.env.WARMUP || 2);
const N = Number(process.env.LIST_TASKS || 200);
const LIVE = Math.min(N, Number(process.env.LIVE || 10));
const CHUNK = Number(process.env.CHUNK || 50);
const PAR = Number(process.env.PAR || 4);
const DURATION = process.env.WRK_DURATION || '8s';
const ROUNDS = Number(process.env.ROUNDS || 2);

const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const f1 = (x) => x.toFixed(1);
const readOr = (p, dflt) => { try { return fs.readFileSync(p, 'utf8'); } catch { return dflt; } };
// bwrap processes whose command line names dir (a server's data)
const bwraps = (dir) => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) &&
  readOr(`/proc/${p}/comm`, '').trim() === 'bwrap' && readOr(`/proc/${p}/cmdline`, '').includes(dir)).length;
const loops = (dir) => execFileSync('losetup', ['-a']).toString().split('\n').filter((l) => l.includes(dir)).length;
// the stores in the order of round r (swapped each round)
const order = (r) => (r % 2 ? ['postgresql', 'sqlite'] : ['sqlite', 'postgresql']);

const caps = ['--log-level', 'warn', '--max-disk', '0', '--max-conns-per-client', '0',
  '--max-running-per-user', String(N + RUNS + 20), '--max-tasks', String(N + RUNS + 20)];
const env = { TASKBOX_CHECK_TASK_JSON: '0' };
const c = pgCluster();
const db = pgDatabase();
const servers = {};
servers.sqlite = await startServer({ args: caps, env });
servers.postgresql = await startServer({ args: [...caps, '--store', db.uri], env });
const made = { sqlite: [], postgresql: [] };

// One task from POST to active on srv: {server, sandbox, client} ms.
async function startOne(srv, name) {
  const t0 = performance.now();
  const t = await srv.createTask({ template: 'bench', input: 'x', name });
  const a = await waitFor(async () => {
    const x = await srv.task('admin', t.name);
    if (x.status === 'error') throw new Error(`${t.name}: ${x.status_reason}`);
    return x.status === 'active' && x;
  }, { interval: 2, timeout: 60000, what: `${t.name} active` });
  const client = performance.now() - t0;
  await srv.api('DELETE', `/api/v2/tasks/admin/${t.name}`);
  return { server: a.startup.agent_ms, sandbox: a.startup.workspace_ms, client };
}

// Tasks from..to-1 created on srv, PAR at once: the POST times (ms).
async function createChunk(srv, store, from, to) {
  const lat = [];
  let next = from;
  const worker = async () => {
    while (next < to) {
      const i = next++;
      const t0 = performance.now();
      await srv.createTask({ template: i < LIVE ? 'live' : 'done', input: `task ${i}: a prompt of a few words`, name: `l${i}` });
      lat.push(performance.now() - t0);
      made[store].push(`l${i}`);
    }
  };
  await Promise.all(Array.from({ length: PAR }, worker));
  return lat;
}

// wrk on path p of srv: {rps, p50, p99} (latencies as wrk prints them).
function wrk(srv, p) {
  const out = execFileSync('wrk', ['-t2', '-c8', `-d${DURATION}`, '--latency', '-H',
    `Authorization: Bearer ${srv.token}`, srv.base + p]).toString();
  if (/Non-2xx/.test(out)) throw new Error(`wrk saw errors on ${p}:\n${out}`);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]),
    p50: /50%\s+([\d.]+\w+)/.exec(out)[1],
    p99: /99%\s+([\d.]+\w+)/.exec(out)[1],
  };
}

const res = {};
try {
  for (const s of Object.keys(servers)) {
    const srv = servers[s];
    await srv.pushTemplate(customTemplate('bench', ['sh', '-c', 'exec sleep 100000']));
    await srv.pushTemplate(customTemplate('live', ['sh', '-c', 'exec sleep 100000']));
    await srv.pushTemplate(customTemplate('done', ['sh', '-c', 'exit 0']));
    res[s] = { server: [], sandbox: [], client: [], post: [], postMs: 0, list: [], one: [] };
  }
  const pgv = execFileSync(`${c.bindir}/postgres`, ['--version']).toString().trim();
  console.log(`${os.cpus().length} cores, ${os.cpus()[0].model}, ${execFileSync('uname', ['-r']).toString().trim()}; ` +
    `${pgv} (cluster up in ${c.ms.toFixed(0)} ms); load ${load()}`);
  console.log(`sqlite pid ${servers.sqlite.child.pid}, postgresql pid ${servers.postgresql.child.pid} (${db.name})`);

  // ---- start
  for (let i = 0; i < WARMUP + RUNS; i++) {
    for (const s of order(i)) {
      const r = await startOne(servers[s], `s${i}`);
      if (i < WARMUP) continue;
      for (const k of ['server', 'sandbox', 'client']) res[s][k].push(r[k]);
    }
  }
  // the deleted tasks stop in the background: let them go first
  for (const srv of Object.values(servers)) {
    await waitFor(async () => (await srv.api('GET', '/api/v2/tasks?limit=1')).json.count === 0,
      { interval: 100, timeout: 60000, what: 'start tasks gone' });
  }
  console.log(`start: ${RUNS} tasks each, alternating (load ${load()})`);

  // ---- create
  for (let b = 0, r = 0; b < N; b += CHUNK, r++) {
    for (const s of order(r)) {
      const t0 = performance.now();
      res[s].post.push(...await createChunk(servers[s], s, b, Math.min(N, b + CHUNK)));
      res[s].postMs += performance.now() - t0;
    }
  }
  for (const srv of Object.values(servers)) {
    await waitFor(async () => {
      const p = await srv.api('GET', '/api/v2/tasks?limit=1&q=' + encodeURIComponent('status:pending'));
      const q = await srv.api('GET', '/api/v2/tasks?limit=1&q=' + encodeURIComponent('status:initializing'));
      return p.json.count === 0 && q.json.count === 0;
    }, { timeout: 300000, interval: 500, what: 'every task started' });
  }
  console.log(`create: ${N} tasks each (${LIVE} running), ${CHUNK} at a time, ${PAR} in flight (load ${load()})`);

  // ---- wrk
  const one = `/api/v2/tasks/admin/l${Math.floor(N / 2)}`;
  for (const s of Object.keys(servers)) {
    const b = await servers[s].api('GET', '/api/v2/tasks?limit=50');
    console.log(`${s}: list?limit=50 ${b.json.tasks.length} tasks, ${b.text.length} bytes, count ${b.json.count}`);
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of order(r)) res[s].list.push(wrk(servers[s], '/api/v2/tasks?limit=50'));
    for (const s of order(r + 1)) res[s].one.push(wrk(servers[s], one));
  }
  console.log(`wrk: ${ROUNDS} rounds, -t2 -c8 -d${DURATION} (load ${load()})\n`);

  // ---- the table
  const p = (a, q) => f1(percentile(a, q));
  const rps = (a) => a.reduce((x, y) => x + y.rps, 0) / a.length;
  const row = (name, f) => [name, f('sqlite'), f('postgresql'), ratio(name, f)];
  const ratio = (name, f) => {
    const a = parseFloat(f('sqlite')), b = parseFloat(f('postgresql'));
    return Number.isFinite(a) && Number.isFinite(b) && a > 0 ? `${(b / a).toFixed(2)}x` : '';
  };
  table([
    ['', 'sqlite', 'postgresql', 'pg / sqlite'],
    row('prompt -> agent running p50 (server, ms)', (s) => p(res[s].server, 50)),
    row('prompt -> agent running p90 (server, ms)', (s) => p(res[s].server, 90)),
    row('  of it sandbox started p50 (ms)', (s) => p(res[s].sandbox, 50)),
    row('POST -> active seen p50 (client, ms)', (s) => p(res[s].client, 50)),
    row('POST -> active seen p90 (client, ms)', (s) => p(res[s].client, 90)),
    row(`POST create, ${PAR} in flight (per s)`, (s) => f1(res[s].post.length / res[s].postMs * 1000)),
    row('POST create answer p50 (ms)', (s) => p(res[s].post, 50)),
    row('POST create answer p90 (ms)', (s) => p(res[s].post, 90)),
    row('GET tasks?limit=50 (req/s, mean)', (s) => f1(rps(res[s].list))),
    row('GET tasks/admin/NAME (req/s, mean)', (s) => f1(rps(res[s].one))),
  ]);
  console.log('\nwrk rounds (req/s, p50, p99):');
  for (const s of Object.keys(servers)) {
    console.log(`  ${s.padEnd(10)} list ${res[s].list.map((x) => `${f1(x.rps)} ${x.p50} ${x.p99}`).join(' | ')}`);
    console.log(`  ${''.padEnd(10)} one  ${res[s].one.map((x) => `${f1(x.rps)} ${x.p50} ${x.p99}`).join(' | ')}`);
  }
} catch (e) {
  console.log(`\nfailed: ${e.message}`);
  for (const [s, srv] of Object.entries(servers)) console.log(`${s} log ends:\n${srv.log.slice(-1500)}`);
  process.exitCode = 1;
} finally {
  // ---- clean up
  for (const [s, srv] of Object.entries(servers)) {
    // a DELETE that fails (status or connection) is counted, sent again
    const failed = {};
    for (let b = 0; b < made[s].length; b += CHUNK) {
      await Promise.all(made[s].slice(b, b + CHUNK).map(async (n) => {
        let why;
        try {
          const r = await srv.api('DELETE', `/api/v2/tasks/admin/${n}`);
          if (r.status === 202 || r.status === 204 || r.status === 404) return;
          why = `${r.status} ${r.json?.detail ?? r.json?.title ?? ''}`;
        } catch (e) { why = e.cause?.code || e.message; }
        failed[why] = (failed[why] || 0) + 1;
        await srv.api('DELETE', `/api/v2/tasks/admin/${n}`).catch(() => null);
      }));
    }
    if (Object.keys(failed).length) console.log(`${s}: DELETEs failed ${JSON.stringify(failed)}, sent again`);
    try {
      await waitFor(async () => (await srv.api('GET', '/api/v2/tasks?limit=1')).json?.count === 0,
        { interval: 500, timeout: 120000, what: `${s}: no task left` });
    } catch (e) {
      const l = (await srv.api('GET', '/api/v2/tasks?limit=5')).json;
      console.log(`${e.message}: ${l?.count} left, e.g. ${JSON.stringify(l?.tasks?.map((t) => [t.name, t.status, t.status_reason]))}`);
    }
    await srv.stop();
    console.log(`${s} stopped: ${bwraps(srv.data)} bwrap, ${loops(srv.data)} loop devices of it left`);
    fs.rmSync(srv.data, { recursive: true, force: true });
  }
  // the cluster goes at exit (pg.mjs), after both servers
}
