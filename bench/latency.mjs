#!/usr/bin/env node
// latency.mjs: API latencies of the runtime (run by bench/latency.sh).
//
// Runs `taskbox agent` around stamp-agent.mjs (it stamps each reply with
// CLOCK_MONOTONIC just before writing it) with one SSE client on /events,
// and for each of LAT_TURNS turns measures:
//   (a) reply written by the agent -> first SSE message_update whose
//       message holds that reply's stamp;
//   (b) POST /message -> its response ({"ok":true} once the agent reacted);
//   (c) the agent's last write of the turn (the same stamped write: reply
//       and prompt together) -> SSE status_change to "stable".
// Two scenarios: an almost empty 80x1000 screen, and the same screen
// already filled with LAT_FILL lines (default 990) so every reply scrolls a
// full 1000-row screen. After the turns of each scenario, one more turn has
// the agent stream a stamped line every 5 ms for 1 s:
//   (a') streamed line written -> first SSE message_update holding it
// (output never pauses for the 8 ms render quiet time, so renders happen
// at the 50 ms cap).
//
// env: LAT_TURNS (50), LAT_DELAY_MS (250, agent think time after Enter),
//      LAT_FILL (990), LAT_ROWS (1000)
import path from 'node:path';
import { startRuntime, root, sleep, mono, percentile, table, SseClient } from './lib.mjs';

const turns = Number(process.env.LAT_TURNS || 50);
const delay = Number(process.env.LAT_DELAY_MS || 250);
const fill = Number(process.env.LAT_FILL ?? 990);
const rows = Number(process.env.LAT_ROWS || 1000);
const agent = path.join(root, 'bench/stamp-agent.mjs');

async function scenario(fillLines) {
  const rt = await startRuntime(['--term-width', '80', '--term-height', String(rows)],
    ['node', agent, String(delay), String(fillLines)]);
  const stamps = new Map(); // turn -> {stamp, sse}
  const streamed = new Map(); // "turn i" -> {stamp, sse}
  let status = null;
  let stableWaiter = null;
  const sse = new SseClient(rt.url('/events'), {}, (ev) => {
    if (ev.event === 'message_update' && ev.data.role === 'agent') {
      for (const m of ev.data.message.matchAll(/STAMP (\d+) ([\d.]+)/g)) {
        const k = Number(m[1]);
        if (!stamps.has(k)) stamps.set(k, { stamp: Number(m[2]), sse: ev.t });
      }
      for (const m of ev.data.message.matchAll(/SS (\d+ \d+) ([\d.]+)/g)) {
        if (!streamed.has(m[1])) streamed.set(m[1], { stamp: Number(m[2]), sse: ev.t });
      }
    } else if (ev.event === 'status_change') {
      status = ev.data.status;
      if (status === 'stable' && stableWaiter) stableWaiter(ev.t);
    }
  });
  await sse.ready;
  const waitStableEvent = (timeout = 10000) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no stable status_change')), timeout);
    stableWaiter = (t) => { clearTimeout(timer); stableWaiter = null; resolve(t); };
  });
  const a = [], b = [], c = [];
  try {
    // ready: poll until stable
    for (let i = 0; ; i++) {
      if ((await rt.status()).status === 'stable') break;
      if (i > 500) throw new Error('agent never became stable');
      await sleep(20);
    }
    for (let k = 0; k < turns; k++) {
      const stable = waitStableEvent();
      const t0 = mono();
      const r = await rt.post('/message', { content: `ping ${k}`, type: 'user' });
      b.push(mono() - t0);
      if (r.status !== 200) throw new Error(`POST /message ${r.status}: ${r.text}`);
      const tStable = await stable;
      const s = stamps.get(k);
      if (!s) throw new Error(`turn ${k}: stable before the stamped reply reached SSE`);
      a.push(s.sse - s.stamp);
      c.push(tStable - s.stamp);
    }
    const stable = waitStableEvent();
    await rt.post('/message', { content: 'stream please', type: 'user' });
    await stable;
  } finally {
    sse.close();
    await rt.stop();
  }
  return { a, b, c, d: [...streamed.values()].map((s) => s.sse - s.stamp) };
}

const f = (v) => v.toFixed(1);
const row = (name, v, goal, ok) => [name, v.length, f(percentile(v, 50)), f(percentile(v, 90)), f(Math.max(...v)), goal, ok ? 'ok' : 'MISSED'];
const out = [['measure', 'n', 'p50 ms', 'p90 ms', 'max ms', 'goal', '']];
const scenarios = [['empty screen', 0], [`${fill} lines on screen`, fill]].filter(([, n], i) => i === 0 || n > 0);
for (const [name, n] of scenarios) {
  const { a, b, c, d } = await scenario(n);
  out.push([`-- 80x${rows}, ${name}`, '', '', '', '', '', '']);
  out.push(row('(a) reply write -> SSE message_update', a, 'p50 <= 30', percentile(a, 50) <= 30));
  out.push(row('(b) POST /message -> response', b, 'p90 <= 400', percentile(b, 90) <= 400));
  out.push(row("(a') streamed line -> SSE message_update", d, 'p50 <= 30', percentile(d, 50) <= 30));
  out.push(row('(c) last write -> SSE status stable', c, 'p90 <= 1000', percentile(c, 90) <= 1000));
}
console.log(`latency: ${turns} turns per scenario, agent replies ${delay} ms after Enter, clock CLOCK_MONOTONIC`);
console.log();
table(out);
console.log();
console.log('(c) includes the 500 ms stable-ms quiet period by design.');
