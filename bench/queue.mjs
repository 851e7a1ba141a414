// queue.mjs: the send queue's own cost. A bash task gets a turn that
// takes a second and, while it works, a second input that is queued;
// stamps on the task's SSE stream: the turn's idle ("task" event), the
// queued input's `queue` delivered event and the runtime's user
// message_update for it. Prints p50/p90/max of idle -> delivered and
// idle -> recorded by the runtime over RUNS turns (default 10), plus
// send answer times (at once: 200 after the agent took it; queued: 202).
// bench/queue.sh runs it; needs root (workspaces), ~30 s.
import fs from 'node:fs';
import { startServer, customTemplate, waitFor, SseClient } from '../tests/harness/server.mjs';

const RUNS = Number(process.env.RUNS || 10);
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };
const line = (label, a) => `${label.padEnd(36)} p50 ${pct(a, 50).toFixed(1)} ms, p90 ${pct(a, 90).toFixed(1)} ms, max ${Math.max(...a).toFixed(1)} ms`;
const ms = () => Number(process.hrtime.bigint()) / 1e6;

const srv = await startServer({ args: ['--log-level', 'warn'] });
try {
  let r = await srv.pushTemplate(customTemplate('qbench', ['bash', '--norc', '--noprofile', '-i'], { env: { PS1: '$ ' } }));
  if (r.status !== 201) throw new Error(r.text);
  await srv.createTask({ template: 'qbench', input: 'echo ready', name: 'qbench' });
  await srv.waitTask('admin', 'qbench', { state: 'idle', timeout: 60000 });
  const ev = new SseClient(srv.base + `/api/v2/tasks/admin/qbench/events?access_token=${srv.token}`);
  await ev.ready;
  const toDelivered = [], toRecorded = [], atOnce = [], queued = [];
  for (let i = 1; i <= RUNS; i++) {
    let t0 = ms();
    const a = await srv.api('POST', '/api/v2/tasks/admin/qbench/send', { body: { input: `sleep 1; echo turn-${i}` } });
    atOnce.push(ms() - t0);
    if (a.status !== 200) throw new Error(`send: ${a.status} ${a.text}`);
    const from = ev.events.length;
    t0 = ms();
    const b = await srv.api('POST', '/api/v2/tasks/admin/qbench/send', { body: { input: `echo next-${i}` } });
    queued.push(ms() - t0);
    if (b.status !== 202) throw new Error(`queued send: ${b.status} ${b.text}`);
    let tIdle = null, tDelivered = null, tUser = null;
    await waitFor(() => {
      for (const e of ev.events.slice(from)) {
        if (tIdle === null && e.event === 'task' && e.data.current_state?.state === 'idle') tIdle = e.t;
        if (e.event === 'queue' && e.data.op === 'delivered' && e.data.id === b.json.id) tDelivered = e.t;
        if (e.event === 'message_update' && e.data.role === 'user' && e.data.message === `echo next-${i}`) tUser = e.t;
      }
      return tIdle !== null && tDelivered !== null && tUser !== null;
    }, { timeout: 30000, interval: 5, what: `turn ${i}` });
    toDelivered.push(tDelivered - tIdle);
    toRecorded.push(tUser - tIdle);
    await ev.wait((e) => e.event === 'queue' && e.data.op === 'replied' && e.data.id === b.json.id, 30000);
  }
  ev.close();
  console.log(`send queue, bash task, ${RUNS} turns`);
  console.log(line('send answered (delivered at once)', atOnce));
  console.log(line('send answered (queued, 202)', queued));
  console.log(line('turn idle -> queued input delivered', toDelivered));
  console.log(line('turn idle -> runtime recorded it', toRecorded));
  await srv.api('DELETE', '/api/v2/tasks/admin/qbench');
} finally {
  await srv.stop();
  fs.rmSync(srv.data, { recursive: true, force: true });
}
