// scale.mjs: 1,000 light tasks on one server (bench/scale.sh runs it).
//
//   empty   prompt accepted -> agent running for PROBE_TASKS (50) tasks
//           started one after the other on an empty server (each deleted
//           before the next): the server's stamp (startup.agent_ms) and
//           the client's POST -> "active"
//   ramp    SCALE_TASKS (1000) tasks with a `sleep` agent, created
//           BATCH (50) at a time, each batch waited for until all of it
//           is active: the ramp's time, per batch and in all
//   idle    the SCALE_TASKS active: server RSS, descriptors and CPU over
//           IDLE_SECONDS; PSS of bwrap + runtime of SAMPLE tasks
//           (smaps_rollup) and their memory cgroup's usage
//   loaded  the same PROBE_TASKS starts while the SCALE_TASKS run
//   delete  every task deleted; the time until none is left, then a
//           check that no bwrap or loop device of this server remains
//
// The server's pid goes to SCALE_PIDFILE when set (for perf record).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { startServer, customTemplate, waitFor, sleep } from '../tests/harness/server.mjs';
import { percentile } from './lib.mjs';

const N = Number(process.env.SCALE_TASKS || 1000);
const BATCH = Number(process.env.BATCH || 50);
const PROBE = Number(process.env.PROBE_TASKS || 50);
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS || 30);
const SAMPLE = Number(process.env.SAMPLE || 20);
const DISK = process.env.SCALE_DISK || '0';

const ms = (x) => x.toFixed(1);
const mib = (kib) => (kib / 1024).toFixed(2);
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

function cpuMs(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; // USER_HZ 100
}
function statusKiB(pid, key) {
  const re = new RegExp(`^${key}:\\s+(\\d+)`, 'm');
  return Number(re.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}
function pssKiB(pid) {
  try {
    return Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]);
  } catch { return 0; }
}
function readOr(p, dflt) {
  try { return fs.readFileSync(p, 'utf8'); } catch { return dflt; }
}
const comm = (pid) => readOr(`/proc/${pid}/comm`, '?').trim();
const cgroupProcs = (id) => readOr(`/sys/fs/cgroup/pids/taskbox/${id}/cgroup.procs`, '').trim().split('\n').filter(Boolean);
const fds = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
// bwrap processes whose command line names dir (this server's data)
const bwraps = (dir) => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) &&
  comm(p) === 'bwrap' && readOr(`/proc/${p}/cmdline`, '').includes(dir)).length;

function summary(name, v) {
  return `${name} p50 ${ms(percentile(v, 50))}  p90 ${ms(percentile(v, 90))}  p99 ${ms(percentile(v, 99))}  max ${ms(Math.max(...v))} ms`;
}

// PROBE_TASKS starts one after the other: server stamp and client time.
async function probe(srv, prefix) {
  const server = [], client = [], sandbox = [];
  for (let i = 0; i < PROBE; i++) {
    const t0 = performance.now();
    const t = await srv.createTask({ template: 'bench', input: 'x', name: `${prefix}${i}` });
    const a = await waitFor(async () => {
      const x = await srv.task('admin', t.name);
      if (x.status === 'error') throw new Error(`${t.name}: ${x.status_reason}`);
      return x.status === 'active' && x;
    }, { interval: 2, timeout: 60000, what: `${t.name} active` });
    client.push(performance.now() - t0);
    server.push(a.startup.agent_ms);
    sandbox.push(a.startup.workspace_ms);
    await srv.api('DELETE', `/api/v2/tasks/admin/${t.name}`);
  }
  // the deleted probes stop in the background: let them go first
  await waitFor(async () => (await srv.api('GET', `/api/v2/tasks/admin/${prefix}${PROBE - 1}`)).status === 404,
    { interval: 100, timeout: 60000, what: 'probes gone' });
  return { server, client, sandbox };
}

// Wait until every named task is active; returns when the last is.
async function allActive(srv, names) {
  let left = names;
  const end = Date.now() + 300000;
  while (left.length) {
    if (Date.now() > end) throw new Error(`${left.length} tasks not active, e.g. ${left[0]}`);
    const next = [];
    for (const n of left) {
      const x = await srv.task('admin', n);
      if (x?.status === 'error') throw new Error(`${n}: ${x.status_reason}`);
      if (x?.status !== 'active') next.push(n);
    }
    left = next;
    if (left.length) await sleep(50);
  }
}

// one client stands for many: no per-client connection cap (50 POSTs at once)
const args = ['--log-level', 'warn', '--max-disk', DISK, '--max-conns-per-client', '0',
  '--max-running-per-user', String(N + PROBE + 10), '--max-tasks', String(N + PROBE + 10)];
const srv = await startServer({ args });
const pid = srv.child.pid;
if (process.env.SCALE_PIDFILE) fs.writeFileSync(process.env.SCALE_PIDFILE, `${pid}\n`);
const mark = (what) => { if (process.env.SCALE_PIDFILE) fs.writeFileSync(`${process.env.SCALE_PIDFILE}.phase`, `${what}\n`); };
const names = [];
try {
  await srv.pushTemplate(customTemplate('bench', ['sh', '-c', 'exec sleep 100000']));
  console.log(`server pid ${pid}, ${os.cpus().length} cores, --max-disk ${DISK}, ` +
    `RLIMIT_NOFILE ${/Max open files\s+(\d+)/.exec(readOr(`/proc/${pid}/limits`, ''))?.[1]}, load ${load()}`);

  mark('empty');
  const empty = await probe(srv, 'e');
  console.log(`\nempty server: prompt accepted -> agent running, ${PROBE} tasks one by one (load ${load()})`);
  console.log(`  ${summary('server-stamped', empty.server)}`);
  console.log(`  ${summary('sandbox started', empty.sandbox)}`);
  console.log(`  ${summary('client POST -> active', empty.client)}`);

  // ---- ramp
  mark('ramp');
  const rss0 = statusKiB(pid, 'VmRSS'), fd0 = fds(pid);
  // the loop's answer time meanwhile: a GET every 20 ms
  const pings = [];
  let pinging = true;
  const pinger = (async () => {
    while (pinging) {
      const t = performance.now();
      await srv.api('GET', '/api/v2/buildinfo');
      pings.push(performance.now() - t);
      await sleep(20);
    }
  })();
  const t0 = performance.now();
  const batches = [];
  for (let b = 0; b < N; b += BATCH) {
    const tb = performance.now();
    const these = [];
    for (let i = b; i < Math.min(N, b + BATCH); i++) these.push(`t${i}`);
    const made = await Promise.all(these.map((name) =>
      srv.createTask({ template: 'bench', input: 'x', name })));
    names.push(...made.map((t) => t.name));
    await allActive(srv, these);
    batches.push(performance.now() - tb);
  }
  const ramp = performance.now() - t0;
  pinging = false;
  await pinger;
  console.log(`\nramp: ${N} tasks, ${BATCH} created at once, each batch all active before the next (load ${load()})`);
  console.log(`  ${(ramp / 1000).toFixed(1)} s in all, ${ms(ramp / N)} ms per task; batch ${summary('', batches).trim()}`);
  console.log(`  first batch ${ms(batches[0])} ms, last ${ms(batches[batches.length - 1])} ms`);
  console.log(`  GET /api/v2/buildinfo meanwhile (${pings.length}, every 20 ms): ${summary('', pings).trim()}`);

  // ---- idle
  mark('idle');
  await sleep(2000);
  const c0 = cpuMs(pid);
  await sleep(IDLE_SECONDS * 1000);
  const c1 = cpuMs(pid);
  const rss1 = statusKiB(pid, 'VmRSS'), fd1 = fds(pid);
  const ids = [];
  for (const n of names.slice(0, SAMPLE)) ids.push((await srv.task('admin', n)).id);
  const per = [], cg = [], nproc = [];
  for (const id of ids) {
    let kib = 0;
    const procs = cgroupProcs(id);
    nproc.push(procs.length);
    for (const p of procs) if (comm(p) !== 'sleep') kib += pssKiB(p);
    per.push(kib);
    const u = readOr(`/sys/fs/cgroup/memory/taskbox/${id}/memory.usage_in_bytes`, null);
    if (u) cg.push(Number(u) / 1024);
  }
  const active = (await srv.api('GET', '/api/v2/tasks?q=status:active&limit=1')).json;
  console.log(`\nidle: ${N} tasks active (server says ${active?.count}), ${IDLE_SECONDS} s (load ${load()})`);
  console.log(`  server RSS ${mib(rss0)} MiB before the ramp, ${mib(rss1)} MiB with ${N} (+${((rss1 - rss0) / N).toFixed(1)} KiB per task)`);
  console.log(`  server descriptors ${fd0} before, ${fd1} with ${N} (${((fd1 - fd0) / N).toFixed(2)} per task)`);
  console.log(`  server CPU while idle: ${ms((c1 - c0) / IDLE_SECONDS * 60)} ms per minute`);
  console.log(`  per task (${SAMPLE} sampled, ${percentile(nproc, 50)} processes each): PSS of bwrap + runtime ` +
    `p50 ${mib(percentile(per, 50))} MiB max ${mib(Math.max(...per))} MiB` +
    (cg.length ? `; memory cgroup usage (incl. page cache) p50 ${mib(percentile(cg, 50))} MiB` : ''));

  const list = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await srv.api('GET', '/api/v2/tasks');
    list.push(performance.now() - t);
  }
  console.log(`  GET /api/v2/tasks (all ${N}), 10 in a row: p50 ${ms(percentile(list, 50))} ms, max ${ms(Math.max(...list))} ms`);

  // ---- starts under load
  mark('loaded');
  const loaded = await probe(srv, 'l');
  console.log(`\n${N} tasks running: prompt accepted -> agent running, ${PROBE} tasks one by one (load ${load()})`);
  console.log(`  ${summary('server-stamped', loaded.server)}`);
  console.log(`  ${summary('sandbox started', loaded.sandbox)}`);
  console.log(`  ${summary('client POST -> active', loaded.client)}`);
  console.log(`  p99 ratio loaded / empty: server ${(percentile(loaded.server, 99) / percentile(empty.server, 99)).toFixed(2)}x, ` +
    `client ${(percentile(loaded.client, 99) / percentile(empty.client, 99)).toFixed(2)}x`);
} catch (e) {
  console.log(`\nfailed: ${e.message}; the server's log ends:\n${srv.log.slice(-2000)}`);
  process.exitCode = 1;
} finally {
  // ---- delete
  mark('delete');
  const td = performance.now();
  // a DELETE that fails (status or connection) is counted and sent again
  const failed = {};
  let again = [];
  for (let b = 0; b < names.length; b += BATCH) {
    await Promise.all(names.slice(b, b + BATCH).map(async (n) => {
      let why;
      try {
        const r = await srv.api('DELETE', `/api/v2/tasks/admin/${n}`);
        if (r.status === 202 || r.status === 204) return;
        why = String(r.status);
      } catch (e) { why = e.cause?.code || e.message; }
      failed[why] = (failed[why] || 0) + 1;
      again.push(n);
    }));
  }
  if (again.length) console.log(`\ndelete: ${again.length} DELETEs failed ${JSON.stringify(failed)}, sent again one by one`);
  for (const n of again) await srv.api('DELETE', `/api/v2/tasks/admin/${n}`);
  try {
    await waitFor(async () => {
      const l = (await srv.api('GET', '/api/v2/tasks?limit=1')).json;
      return l && l.count === 0;
    }, { interval: 500, timeout: 300000, what: 'no task left' });
    console.log(`\ndelete: ${names.length} tasks gone in ${((performance.now() - td) / 1000).toFixed(1)} s, ${bwraps(srv.data)} bwrap of this server left`);
  } catch (e) {
    console.log(`\ndelete: ${e.message}`);
  }
  await srv.stop();
  mark('done');
  const loops = execFileSync('losetup', ['-a']).toString().split('\n').filter((l) => l.includes(srv.data));
  console.log(`after stop: ${bwraps(srv.data)} bwrap of this server, ${loops.length} loop devices of this server`);
}
