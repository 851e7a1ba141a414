// list.mjs: the task list against one task under wrk (bench/list.sh).
//
// TASKS (1000) tasks of one user: LIVE (20) of them run `sleep` in their
// workspace, the rest ran an agent that exited at once (status unknown:
// no workspace left, which keeps 1,000 tasks light on a small machine;
// their Task JSON is the same size). Then wrk on
//   GET /api/v2/tasks?limit=50   (a server without pages answers all)
//   GET /api/v2/tasks/admin/NAME
// in the same run, and the ratio of their requests per second; then the
// whole list (GET /api/v2/tasks, up to 1,000 tasks) for the record.
import { execFileSync } from 'node:child_process';
import { startServer, customTemplate, waitFor } from '../tests/harness/server.mjs';

const TASKS = Number(process.env.TASKS || 1000);
const LIVE = Math.min(TASKS, Number(process.env.LIVE || 20));
const DURATION = process.env.WRK_DURATION || '10s';
const PAR = 4; // creates in flight

const srv = await startServer({
  args: ['--log-level', 'warn', '--max-running-per-user', String(TASKS + 10), '--max-tasks', String(TASKS + 10),
    '--max-disk', '0'],
  env: { TASKBOX_CHECK_TASK_JSON: '0' },
});
try {
  await srv.pushTemplate(customTemplate('live', ['sh', '-c', 'exec sleep 100000']));
  await srv.pushTemplate(customTemplate('done', ['sh', '-c', 'exit 0']));
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < TASKS) {
      const i = next++;
      await srv.createTask({ template: i < LIVE ? 'live' : 'done', input: `task ${i}: a prompt of a few words`, name: `t${i}` });
    }
  };
  await Promise.all(Array.from({ length: PAR }, worker));
  await waitFor(async () => {
    const r = await srv.api('GET', '/api/v2/tasks?q=' + encodeURIComponent('status:pending'));
    const s = await srv.api('GET', '/api/v2/tasks?q=' + encodeURIComponent('status:initializing'));
    return r.json.count === 0 && s.json.count === 0;
  }, { timeout: 600000, interval: 1000, what: 'every task started' });
  console.log(`${TASKS} tasks (${LIVE} running) made in ${((performance.now() - t0) / 1000).toFixed(0)} s; ` +
    `${execFileSync('nproc').toString().trim()} cores`);
  const body = await srv.api('GET', '/api/v2/tasks?limit=50');
  console.log(`list?limit=50: ${body.json.tasks.length} tasks, ${body.text.length} bytes, count ${body.json.count}`);

  const wrk = (p) => {
    const out = execFileSync('wrk', ['-t2', '-c8', `-d${DURATION}`, '--latency', '-H', `Authorization: Bearer ${srv.token}`,
      srv.base + p]).toString();
    if (/Non-2xx/.test(out)) throw new Error(`wrk saw errors on ${p}:\n${out}`);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
    const p99 = /99%\s+([\d.]+\w+)/.exec(out)[1];
    console.log(`wrk -t2 -c8 -d${DURATION} GET ${p}: ${rps.toFixed(0)} req/s, p99 ${p99}`);
    return rps;
  };
  const list = wrk('/api/v2/tasks?limit=50');
  const one = wrk(`/api/v2/tasks/admin/t${Math.floor(TASKS / 2)}`);
  console.log(`ratio one task / list page: ${(one / list).toFixed(2)}x`);
  if (process.env.WHOLE !== '0') wrk('/api/v2/tasks'); // the whole list, for the record
} finally {
  await srv.stop();
}
