// lib.mjs: helpers shared by the node benchmarks.
//
// The runtime itself is started with tests/harness/runtime.mjs
// (startRuntime spawns `taskbox agent --port 0` directly, no shell).
import fs from 'node:fs';

export { startRuntime, fakeAgent, tmpdir, writeScript, sleep, root, bin } from '../tests/harness/runtime.mjs';

// CLOCK_MONOTONIC in milliseconds (fractional): the same clock in every
// process on the machine, so an agent and the bench can share stamps.
export const mono = () => Number(process.hrtime.bigint()) / 1e6;

// VmRSS, VmHWM, ... of a process in KiB.
export function procStatus(pid) {
  const out = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(Vm\w+|RssAnon|RssFile):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

export function percentile(values, p) {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const k = Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1));
  return v[k];
}

export const median = (v) => percentile(v, 50);

// Print rows (arrays) as a table: first column left-aligned, the others
// right-aligned; the first row is the header.
export function table(rows) {
  const w = [];
  for (const r of rows) r.forEach((c, i) => { w[i] = Math.max(w[i] || 0, String(c).length); });
  for (const r of rows) {
    console.log(r.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ').trimEnd());
  }
}

// An SSE reader that stamps every event with mono() when its record is
// complete. onEvent(ev) is called synchronously for each {event, data, t}.
export class TimedSse {
  constructor(url, onEvent) {
    this.ctrl = new AbortController();
    this.onEvent = onEvent;
    this.ready = new Promise((resolve) => { this.setReady = resolve; });
    this.done = this.run(url);
  }

  async run(url) {
    let res;
    try {
      res = await fetch(url, { signal: this.ctrl.signal });
    } catch (e) { this.error = e; this.setReady(); return; }
    this.setReady();
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        const t = mono();
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
          if (data.length === 0) continue;
          this.onEvent({ event, data: JSON.parse(data.join('\n')), t });
        }
      }
    } catch (e) {
      if (e.name !== 'AbortError') this.error = e;
    }
  }

  close() { this.ctrl.abort(); }
}
