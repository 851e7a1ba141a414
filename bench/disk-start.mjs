// disk-start.mjs: task start with and without the disk image (bench/disk-start.sh).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, customTemplate, waitFor, tmpdir } from '../tests/harness/server.mjs';

const RUNS = Number(process.env.RUNS || 40);
const SIZE = process.env.DISK || '10GiB';
const caps = ['--max-running-per-user', '1000', '--max-tasks', '1000', '--log-level', 'warn'];
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };

const servers = {
  'no image (--max-disk 0)': await startServer({ args: ['--max-disk', '0', ...caps] }),
  [`image (--max-disk ${SIZE})`]: await startServer({ args: ['--max-disk', SIZE, ...caps] }),
};
const res = {};
try {
  for (const [k, srv] of Object.entries(servers)) {
    await srv.pushTemplate(customTemplate('bench', ['sh', '-c', 'exec sleep 100000']));
    res[k] = { ws: [], agent: [] };
  }
  console.log(`${RUNS} tasks per server, alternating; ${execFileSync('nproc').toString().trim()} cores, ${execFileSync('uname', ['-r']).toString().trim()}`);
  for (let i = 0; i < RUNS; i++) {
    for (const [k, srv] of Object.entries(servers)) {
      const t = await srv.createTask({ template: 'bench', input: 'x', name: `d${i}` });
      const a = await waitFor(async () => {
        const x = await srv.task('admin', t.name);
        return x.status === 'active' && x;
      }, { interval: 2, what: 'active' });
      res[k].ws.push(a.startup.workspace_ms);
      res[k].agent.push(a.startup.agent_ms);
      await srv.api('DELETE', `/api/v2/tasks/admin/${t.name}`);
    }
  }
  console.log('\nprompt accepted -> sandbox started / -> agent running (server-stamped, ms)');
  for (const [k, r] of Object.entries(res))
    console.log(`  ${k.padEnd(28)} sandbox p50 ${pct(r.ws, 50)} p90 ${pct(r.ws, 90)}   agent p50 ${pct(r.agent, 50)} p90 ${pct(r.agent, 90)}`);
  const [a, b] = Object.values(res);
  console.log(`  added by the image: p50 ${pct(b.agent, 50) - pct(a.agent, 50)} ms, p90 ${pct(b.agent, 90) - pct(a.agent, 90)} ms (agent running)`);

  // the parts on their own: mke2fs of a fresh sparse image
  const dir = tmpdir('taskbox-mkfs-');
  const times = [];
  for (let i = 0; i < 10; i++) {
    const img = path.join(dir, `i${i}.img`);
    fs.writeFileSync(img, '');
    execFileSync('truncate', ['-s', SIZE.replace(/iB$/, ''), img]);
    const t0 = performance.now();
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-m', '0', '-E',
      'nodiscard,lazy_itable_init=1,lazy_journal_init=1', img]);
    times.push(performance.now() - t0);
    fs.rmSync(img);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`  mke2fs ${SIZE} alone (sparse file): p50 ${pct(times, 50).toFixed(1)} ms p90 ${pct(times, 90).toFixed(1)} ms`);
} finally {
  for (const srv of Object.values(servers)) await srv.stop();
}
