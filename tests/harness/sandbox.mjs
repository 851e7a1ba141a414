// sandbox.mjs: helpers for tests of `taskbox sandbox` (the local
// workspace backend): run it (optionally as another user or with a
// changed environment), find processes by a marker argument via /proc,
// and read cgroup files.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { bin } from './runtime.mjs';

export const isRoot = process.getuid && process.getuid() === 0;

// A marker unique to this test run, usable as a `sleep` argument
// (sleep 1000.<digits>) so processes can be found by their argv.
export function marker() {
  return `1000.${process.pid}${Math.floor(Math.random() * 1e6)}`;
}

// Start `taskbox sandbox ARGS...`; returns {child, done} where done
// resolves to {code, signal, stdout, stderr}. opts.env is merged into the
// environment; opts.asUser runs it under setpriv as that uid/gid.
export function startSandbox(args, { env = {}, asUser = null, timeout = 30000 } = {}) {
  let cmd = bin, argv = ['sandbox', ...args];
  if (asUser !== null) {
    argv = ['--reuid', String(asUser), '--regid', String(asUser), '--clear-groups', bin, ...argv];
    cmd = 'setpriv';
  }
  const child = spawn(cmd, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    cwd: '/',
  });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
  const done = new Promise((resolve) => child.on('close', (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal, stdout, stderr });
  }));
  return { child, done };
}

// Run `taskbox sandbox run [opts] -- CMD...` to completion.
export function sandboxRun(opts, cmd, more = {}) {
  return startSandbox(['run', ...opts, '--', ...cmd], more).done;
}

// Pids of processes whose argv contains the marker as a whole argument.
export function procsWith(mark) {
  const found = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let argv;
    try { argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    if (argv.some((a) => a === mark || a.endsWith(` ${mark}`) || a.includes(mark))) {
      // skip the taskbox and bwrap processes that carry CMD in their argv
      if (argv[0].endsWith('taskbox') || argv[0].endsWith('bwrap') || argv[0] === 'setpriv') continue;
      found.push(Number(d));
    }
  }
  return found;
}

// The real uid of a process on the host, or null once it is gone.
export function hostUid(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m);
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

// Read a cgroup v1 file of workspace id, or null.
export function cgroupFile(ctrl, id, file) {
  try { return fs.readFileSync(`/sys/fs/cgroup/${ctrl}/taskbox/${id}/${file}`, 'utf8').trim(); } catch { return null; }
}
