// lib.mjs: helpers shared by the node benchmarks.
//
// The runtime itself is started with tests/harness/runtime.mjs
// (startRuntime spawns `taskbox agent --port 0` directly, no shell).
import fs from 'node:fs';

export { startRuntime, fakeAgent, tmpdir, writeScript, sleep, root, bin, SseClient } from '../tests/harness/runtime.mjs';

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
