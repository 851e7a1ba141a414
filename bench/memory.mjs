#!/usr/bin/env node
// memory.mjs: runtime RSS after a long transcript (run by bench/memory.sh).
//
// For each terminal size, starts `taskbox agent -W 80 -H ROWS
// --scrollback SB` around the scripted fake agent and sends MEM_TURNS user messages, each answered
// with MEM_LINES distinct lines (default 50 x 200 = 10,000 reply lines),
// waiting for status stable between turns. Reads VmRSS/VmHWM of the
// runtime process (not the agent) from /proc before the first message,
// after the last turn, and after a GET /messages of the whole transcript,
// and counts the lines the conversation actually holds.
//
// RssAnon is the runtime's own memory (heap, libtsm's cells); the rest of
// VmRSS is file-backed pages of the binary and its shared libraries.
//
// env: MEM_TURNS (50), MEM_LINES (200), MEM_ROWS ("1000 50"),
//      MEM_SCROLLBACK ("0 1000": each size with each; "" passes no
//      --scrollback, for binaries without it)
import { startRuntime, fakeAgent, tmpdir, writeScript, sleep, procStatus, table } from './lib.mjs';

const turns = Number(process.env.MEM_TURNS || 50);
const lines = Number(process.env.MEM_LINES || 200);
const rowsList = (process.env.MEM_ROWS || '1000 50').split(/\s+/).filter(Boolean).map(Number);
const sbEnv = process.env.MEM_SCROLLBACK ?? '0 1000';
const sbList = sbEnv.trim() === '' ? [null] : sbEnv.split(/\s+/).filter(Boolean).map(Number);
const configs = rowsList.flatMap((h) => sbList.map((sb) => ({ h, sb })));

const words = 'alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega render buffer screen'.split(' ');
function reply(turn) {
  const out = [];
  for (let l = 0; l < lines; l++) {
    let s = `t${String(turn).padStart(3, '0')} l${String(l).padStart(3, '0')}:`;
    for (let k = 0; s.length < 50 + ((turn * 7 + l * 13) % 25); k++) s += ' ' + words[(turn + l * 3 + k * 5) % words.length];
    out.push(s + '.');
  }
  return out.join('\n');
}

const dir = tmpdir('taskbox-bench-mem-');
const script = writeScript(dir, {
  banner: 'memory bench agent',
  turns: Array.from({ length: turns }, (_, i) => ({ think_ms: 30, reply: reply(i) })),
});

async function waitStable(rt, timeout = 30000) {
  const end = Date.now() + timeout;
  for (;;) {
    const s = await rt.status();
    if (s.status === 'stable') return s;
    if (Date.now() > end) throw new Error(`not stable after ${timeout} ms: ${JSON.stringify(s)}`);
    await sleep(20);
  }
}

const rows = [['size', 'scrollback', 'RSS before', 'RSS after turns', 'RSS after GET', 'VmHWM', 'RssAnon after GET',
  'messages', 'lines held', 'JSON KiB', 'seconds']];
for (const { h, sb } of configs) {
  const t0 = Date.now();
  const args = ['--term-width', '80', '--term-height', String(h)];
  if (sb !== null) args.push('--scrollback', String(sb));
  const rt = await startRuntime(args, ['node', fakeAgent, script]);
  try {
    await waitStable(rt);
    const before = procStatus(rt.child.pid);
    for (let i = 0; i < turns; i++) {
      const r = await rt.post('/message', { content: `question number ${i}`, type: 'user' });
      if (r.status !== 200) throw new Error(`POST /message ${r.status}: ${r.text}`);
      await sleep(50);
      await waitStable(rt);
    }
    const after = procStatus(rt.child.pid);
    const res = await rt.get('/messages');
    const msgs = res.json.messages;
    const held = msgs.filter((m) => m.role === 'agent').reduce((n, m) => n + (m.content ? m.content.split('\n').length : 0), 0);
    const afterGet = procStatus(rt.child.pid);
    const mib = (k) => `${(k / 1024).toFixed(1)} MiB`;
    rows.push([`80x${h}`, sb === null ? '-' : String(sb), mib(before.VmRSS), mib(after.VmRSS), mib(afterGet.VmRSS),
      mib(afterGet.VmHWM), mib(afterGet.RssAnon), msgs.length, held, (res.text.length / 1024).toFixed(0), ((Date.now() - t0) / 1000).toFixed(1)]);
  } finally {
    await rt.stop();
  }
}
console.log(`memory: runtime RSS, ${turns} turns x ${lines} reply lines (fake agent), default stable-ms`);
console.log();
table(rows);
console.log();
console.log('lines held = lines in all agent messages of GET /messages (a reply longer than the screen');
console.log('keeps only what was on screen and in the scrollback). VmHWM = peak RSS of the runtime process');
console.log('over its life. RssAnon = its anonymous memory (not the shared libraries\' pages).');
