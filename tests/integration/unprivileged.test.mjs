// unprivileged.test.mjs: the server run as an unprivileged user (nobody):
// no cgroups to write, no uid to switch to; workspaces still start in
// bubblewrap through an unprivileged user namespace, keep the data
// directory hidden and die completely on delete.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bin, tmpdir, waitFor, customTemplate, exists } from '../harness/server.mjs';

const isRoot = process.getuid() === 0;
const NOBODY = 65534;
let child, base, token, dir, log = '';

async function api(method, p, body) {
  const init = { method, headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] = typeof body === 'string' ? 'application/yaml' : 'application/json';
  }
  const r = await fetch(base + p, init);
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text };
}

// Pids whose command line mentions s.
function procsMentioning(s) {
  const out = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(s)) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

before(async () => {
  if (!isRoot) return;
  // a copy of the binary and a data directory nobody can use
  dir = tmpdir('taskbox-unpriv-');
  fs.chmodSync(dir, 0o755);
  const exe = path.join(dir, 'taskbox');
  fs.copyFileSync(bin, exe);
  fs.chmodSync(exe, 0o755);
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  fs.chownSync(data, NOBODY, NOBODY);
  child = spawn('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups',
    '--inh-caps=-all', exe, 'server', '--listen', '127.0.0.1:0', '--data', data, '--on-exit', 'pause'], {
    env: { ...process.env, HOME: data },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.on('data', (d) => { log += d; });
  let out = '';
  ({ base, token } = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out} ${log}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      const t = /login token \(shown once\): (\S+)/.exec(out);
      if (m && t) { clearTimeout(timer); resolve({ base: m[1], token: t[1] }); }
    });
    child.on('exit', (c) => { clearTimeout(timer); reject(new Error(`server exited ${c}: ${out} ${log}`)); });
  }));
});

after(() => {
  child?.kill();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('an unprivileged server runs isolated tasks', { skip: !isRoot && 'needs root to switch to nobody' }, async () => {
  const y = customTemplate('probe', ['sh', '-c',
    `(echo "uid=$(id -u)"; echo "data=$(ls -A ${dir} 2>&1 | tr '\\n' ' ')"; echo "net=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ')"; echo done=1) > results; exec sleep 1000`]);
  assert.equal((await api('POST', '/api/v2/templates', y)).status, 201);
  const t = (await api('POST', '/api/v2/tasks/me', { template: 'probe', input: 'x', name: 'probe' })).json;
  assert.ok(t && t.id, log);
  const file = path.join(dir, 'data/tasks', t.id, 'home/workspace/results');
  await waitFor(() => exists(file) && fs.readFileSync(file, 'utf8').includes('done=1'), { what: 'probe results', timeout: 20000 });
  const r = Object.fromEntries(fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
  assert.equal(r.uid, '1000');
  assert.doesNotMatch(r.data, /taskbox\.db|tasks/, 'the data directory is not visible');
  assert.equal(r.net, 'lo');
  const st = fs.statSync(file);
  assert.equal(st.uid, NOBODY, 'files belong to the server user on the host');
  assert.match(log, /cgroup|rlimit|not enforced/i, 'the missing cgroup limits are reported');
  assert.equal((await api('DELETE', '/api/v2/tasks/me/probe')).status, 202);
  await waitFor(() => !exists(path.join(dir, 'data/tasks', t.id)), { what: 'workspace removed' });
  // no process of the sandbox is left (without cgroups, the kill must
  // reach bwrap's pid-1 init itself)
  await waitFor(() => procsMentioning(t.id).length === 0, { what: 'the sandbox\'s processes gone', timeout: 5000 });
});
