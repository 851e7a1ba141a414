// tasks.mjs: the Tasks server under load (bench/tasks.sh runs it).
//
//   start   prompt accepted -> agent process running in its sandbox, over
//           START_TASKS (100) sequential tasks with a custom agent; the
//           server stamps both ends (Task JSON startup.agent_ms) and we also
//           time POST -> "active" seen by the client
//   idle    IDLE_TASKS (200) tasks idle at once: server RSS and CPU over
//           IDLE_SECONDS, memory per task beyond the agent's own (cgroup
//           v1 memory usage of a task whose agent is `sleep`, and PSS of
//           its bwrap + runtime processes)
//   wrk     GET /api/v2/tasks and GET /api/v2/tasks/{user}/{task} with the
//           idle tasks present: requests/s and p99 from wrk
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { startServer, customTemplate, waitFor } from '../tests/harness/server.mjs';

const START = Number(process.env.START_TASKS || 100);
const IDLE = Number(process.env.IDLE_TASKS || 200);
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS || 30);

const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };
const fmt = (x) => x.toFixed(1);

function procStat(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const tck = 100; // USER_HZ
  return { cpuMs: (Number(f[11]) + Number(f[12])) * 1000 / tck };
}
function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}
function pssKiB(pid) {
  try {
    const m = /^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return Number(m[1]);
  } catch { return 0; }
}
function cgroupProcs(id) {
  try {
    return fs.readFileSync(`/sys/fs/cgroup/pids/taskbox/${id}/cgroup.procs`, 'utf8').trim().split('\n').filter(Boolean);
  } catch { return []; }
}
function comm(pid) {
  try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return '?'; }
}

// 200 tasks of one user at once: above the default caps
const srv = await startServer({ args: ['--log-level', 'warn', '--max-running-per-user', '1000', '--max-tasks', '1000'] });
const pid = srv.child.pid;
try {
  await srv.pushTemplate(customTemplate('bench', ['sh', '-c', 'exec sleep 100000']));
  console.log(`server pid ${pid}, ${execFileSync('nproc').toString().trim()} cores`);

  // ---- start latency
  const server = [], client = [], ws = [];
  for (let i = 0; i < START; i++) {
    const t0 = performance.now();
    const t = await srv.createTask({ template: 'bench', input: 'x', name: `s${i}` });
    const a = await waitFor(async () => {
      const x = await srv.task('admin', t.name);
      return x.status === 'active' && x;
    }, { interval: 2, what: 'active' });
    client.push(performance.now() - t0);
    server.push(a.startup.agent_ms);
    ws.push(a.startup.workspace_ms);
    await srv.api('DELETE', `/api/v2/tasks/admin/${t.name}`);
  }
  console.log(`\nstart: prompt accepted -> agent running, ${START} tasks (custom agent)`);
  console.log(`  server-stamped  p50 ${pct(server, 50)} ms  p90 ${pct(server, 90)} ms  p99 ${pct(server, 99)} ms  max ${Math.max(...server)} ms`);
  console.log(`  sandbox started p50 ${pct(ws, 50)} ms  p99 ${pct(ws, 99)} ms`);
  console.log(`  client POST -> sees active  p50 ${fmt(pct(client, 50))} ms  p99 ${fmt(pct(client, 99))} ms (includes polling every 2 ms)`);

  // ---- idle tasks
  const rss0 = rssKiB(pid);
  const ids = [];
  for (let i = 0; i < IDLE; i++) {
    const t = await srv.createTask({ template: 'bench', input: 'x', name: `idle${i}` });
    ids.push(t.id);
  }
  await waitFor(async () => {
    const l = await srv.api('GET', '/api/v2/tasks?q=status:active');
    return l.json.count === IDLE;
  }, { timeout: 120000, interval: 200, what: `${IDLE} active tasks` });
  await new Promise((r) => setTimeout(r, 2000));
  const c0 = procStat(pid).cpuMs;
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const c1 = procStat(pid).cpuMs;
  const rss1 = rssKiB(pid);
  // per task: everything in its cgroup except the agent (sleep)
  const per = [], cg = [];
  for (const id of ids.slice(0, 20)) {
    let kib = 0;
    for (const p of cgroupProcs(id)) if (comm(p) !== 'sleep') kib += pssKiB(p);
    per.push(kib);
    try { cg.push(Number(fs.readFileSync(`/sys/fs/cgroup/memory/taskbox/${id}/memory.usage_in_bytes`, 'utf8')) / 1024); } catch { /* no v1 memory */ }
  }
  console.log(`\nidle: ${IDLE} tasks active at once`);
  console.log(`  server RSS ${(rss0 / 1024).toFixed(1)} MiB before, ${(rss1 / 1024).toFixed(1)} MiB with ${IDLE} tasks (+${((rss1 - rss0) / IDLE).toFixed(1)} KiB per task)`);
  console.log(`  server CPU while idle: ${fmt((c1 - c0) / IDLE_SECONDS * 60)} ms per minute`);
  console.log(`  per task beyond the agent: PSS of bwrap + runtime p50 ${(pct(per, 50) / 1024).toFixed(2)} MiB` +
    (cg.length ? `; cgroup memory usage (incl. page cache) p50 ${(pct(cg, 50) / 1024).toFixed(2)} MiB` : ''));

  // ---- wrk
  for (const p of ['/api/v2/tasks', '/api/v2/tasks/admin/idle7']) {
    const out = execFileSync('wrk', ['-t2', '-c16', '-d10s', '--latency', '-H', `Authorization: Bearer ${srv.token}`, srv.base + p]).toString();
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)[1];
    const p99 = /99%\s+([\d.]+\w+)/.exec(out)[1];
    const p50 = /50%\s+([\d.]+\w+)/.exec(out)[1];
    console.log(`\nwrk -t2 -c16 -d10s GET ${p} (${IDLE} tasks): ${rps} req/s, p50 ${p50}, p99 ${p99}`);
  }
} finally {
  await srv.stop();
}
