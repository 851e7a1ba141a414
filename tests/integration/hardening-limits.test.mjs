// hardening-limits.test.mjs: server-wide resource maxima (issue 8, item 2).
//
// The server runs with small maxima. A member's template above any of
// them is refused at push (422, line and column, nothing stored); an
// admin's is clamped with a warning and its task runs with the clamped
// limit; running and total task caps refuse creation without creating
// anything; a workspace that writes past its disk limit gets ENOSPC
// inside its own image and the host's data directory does not grow; the
// image and its mount go with the task, survive pause/resume and a
// restart, and a server without root says the disk limit is not enforced.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, customTemplate, waitFor, tmpdir, taskDir, exists, bin } from '../harness/server.mjs';

const isRoot = process.getuid() === 0;
const MAX = ['--max-memory', '256MiB', '--max-pids', '256', '--max-cpus', '1', '--max-disk', '64MiB',
  '--max-running-per-user', '2', '--max-tasks', '4'];
let srv, member;

before(async () => {
  srv = await startServer({ args: MAX });
  member = await srv.user('mallory');
});

after(async () => {
  await srv?.stop();
});

// Delete every task of the server and wait until their files are gone.
async function deleteAll() {
  const list = (await srv.api('GET', '/api/v2/tasks')).json.tasks;
  for (const t of list) {
    const r = await srv.api('DELETE', `/api/v2/tasks/${t.owner_name}/${t.name}`);
    assert.equal(r.status, 202, r.text);
  }
  for (const t of list) {
    const img = path.join(srv.data, 'disks', `${t.id}.img`);
    await waitFor(() => !exists(taskDir(srv, t.id)) && !exists(img) && !mounted(taskDir(srv, t.id)),
      { what: `task ${t.name} removed` });
  }
}

function mounted(dir) {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
}

// The processes of a task's sandbox: bwrap binding its dir, and below.
function sandboxProcs(dir) {
  const out = [];
  const kids = (p) => {
    try {
      for (const tid of fs.readdirSync(`/proc/${p}/task`))
        for (const c of fs.readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim().split(' ').filter(Boolean)) {
          out.push(c);
          kids(c);
        }
    } catch { /* gone */ }
  };
  for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.split('\0')[0].endsWith('bwrap') && cmd.includes(dir)) { out.push(p); kids(p); }
    } catch { /* gone */ }
  }
  return out;
}

// Bytes the data directory holds on its own filesystem (mounts and the
// disk images left out).
function dataBytes() {
  const out = execFileSync('du', ['-sxB1', '--exclude=disks', srv.data], { encoding: 'utf8' });
  return Number(out.split('\t')[0]);
}

test('a member cannot push a template above a maximum; nothing is stored', async () => {
  const cases = [
    ['memory', '1TiB', /1TiB is above this server's maximum of 256MiB/],
    ['pids', '1000000', /1000000 is above this server's maximum of 256/],
    ['cpu', '8', /above this server's maximum of 1\.000 cores/],
    ['disk', '2GiB', /2GiB is above this server's maximum of 64MiB/],
  ];
  for (const [key, value, re] of cases) {
    const name = `big-${key}`;
    const r = await srv.pushTemplate(customTemplate(name, ['sleep', '1000'], { limits: { [key]: value } }), member.token);
    assert.equal(r.status, 422, r.text);
    assert.match(r.headers.get('content-type'), /application\/problem\+json/);
    const e = r.json.errors.find((x) => x.location === `workspace.limits.${key}`);
    assert.ok(e, r.text);
    assert.match(e.message, re);
    assert.match(e.message, /--max-/, 'says which flag raises it');
    // customTemplate: name, workspace, backend, limits, then the key
    assert.equal(e.line, 5);
    assert.equal(e.column, 5 + key.length + 2);
    assert.match(r.json.detail, /line 5, column/);
    assert.equal((await srv.api('GET', `/api/v2/templates/${name}`, { token: member.token })).status, 404,
      'nothing was stored');
  }
  // at the maximum is fine
  const ok = await srv.pushTemplate(customTemplate('fits', ['sleep', '1000'],
    { limits: { memory: '256MiB', pids: 256, cpu: 1, disk: '64MiB' } }), member.token);
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.json.warnings, undefined);
});

test('an admin\'s template is clamped with a warning; its task gets the clamped limits', async () => {
  const r = await srv.pushTemplate(customTemplate('clamped', ['sleep', '1000'],
    { limits: { memory: '1TiB', pids: 1000000, cpu: 8, disk: '2GiB' } }));
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.warnings.length, 4, r.text);
  const w = r.json.warnings.find((x) => x.location === 'workspace.limits.memory');
  assert.match(w.message, /clamped to 256MiB/);
  assert.equal(w.line, 5);
  assert.match(srv.log, /template clamped:5:\d+: 1TiB is above this server's maximum; clamped to 256MiB/);

  const t = await srv.createTask({ template: 'clamped', input: 'x', name: 'clamped' });
  assert.deepEqual(t.limits, { memory_bytes: 256 << 20, pids: 256, cpu_millicores: 1000, disk_bytes: 64 << 20 });
  await srv.waitTask('admin', 'clamped');
  // the cgroup holds the clamped values (v1 here, v2 elsewhere)
  const v1 = `/sys/fs/cgroup/memory/taskbox/${t.id}/memory.limit_in_bytes`;
  const v1p = `/sys/fs/cgroup/pids/taskbox/${t.id}/pids.max`;
  if (isRoot && exists(v1)) {
    assert.equal(fs.readFileSync(v1, 'utf8').trim(), String(256 << 20));
    assert.equal(fs.readFileSync(v1p, 'utf8').trim(), '256');
  }

  // a template that sets no limit gets the maxima, never "unlimited"
  await srv.pushTemplate(customTemplate('unset', ['sleep', '1000']));
  const u = await srv.createTask({ template: 'unset', input: 'x', name: 'unset' });
  assert.deepEqual(u.limits, { memory_bytes: 256 << 20, pids: 256, cpu_millicores: 1000, disk_bytes: 64 << 20 });

  const lim = await srv.api('GET', '/api/v2/limits', { token: member.token });
  assert.equal(lim.status, 200);
  assert.equal(lim.json.memory_bytes, 256 << 20);
  assert.equal(lim.json.running_per_user, 2);
  assert.equal(lim.json.tasks, 4);
  await deleteAll();
});

test('the running-per-user and total caps refuse creation and create nothing', async () => {
  const mine = { token: member.token };
  for (const n of ['one', 'two'])
    await srv.createTask({ template: 'fits', input: 'x', name: n }, mine);
  const over = await srv.api('POST', '/api/v2/tasks/me', { ...mine, body: { template: 'fits', input: 'x', name: 'three' } });
  assert.equal(over.status, 429, over.text);
  assert.match(over.json.detail, /2 tasks starting or running.*--max-running-per-user/);
  assert.equal((await srv.api('GET', '/api/v2/tasks/me/three', mine)).status, 404, 'nothing created');

  // a paused task does not count as running; resuming it must fit again
  await srv.waitTask('mallory', 'one', mine);
  const p = await srv.api('POST', '/api/v2/tasks/me/one/pause', mine);
  assert.equal(p.status, 200, p.text);
  await srv.createTask({ template: 'fits', input: 'x', name: 'three' }, mine);
  const res = await srv.api('POST', '/api/v2/tasks/me/one/resume', mine);
  assert.equal(res.status, 429, res.text);

  // total: paused tasks count; the admin's too
  await srv.createTask({ template: 'fits', input: 'x', name: 'four' });
  const total = await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'fits', input: 'x', name: 'five' } });
  assert.equal(total.status, 429, total.text);
  assert.match(total.json.detail, /holds 4 tasks.*--max-tasks/);
  const list = (await srv.api('GET', '/api/v2/tasks')).json;
  assert.equal(list.count, 4, 'nothing created');
  await deleteAll();
});

test('a workspace cannot write past its disk limit; the image goes with the task',
  { skip: !isRoot && 'disk images need root' }, async () => {
    await srv.pushTemplate(customTemplate('filler', ['sh', '-c',
      'echo keep > kept; dd if=/dev/zero of=big bs=1M count=200 2>err; echo "rc=$?" > results; ' +
      'echo "err=$(head -n 1 err)" >> results; echo "df=$(df -k . | tail -n 1)" >> results; rm -f big; ' +
      'echo done=1 >> results; exec sleep 1000']));
    const before = dataBytes();
    const t = await srv.createTask({ template: 'filler', input: 'x', name: 'filler' });
    const dir = taskDir(srv, t.id);
    const img = path.join(srv.data, 'disks', `${t.id}.img`);
    const file = path.join(dir, 'home/workspace/results');
    await waitFor(() => exists(file) && fs.readFileSync(file, 'utf8').includes('done=1'), { what: 'filler results', timeout: 30000 });
    const r = fs.readFileSync(file, 'utf8');
    assert.match(r, /rc=1/, r);
    assert.match(r, /err=dd: error writing 'big': No space left on device/, r);
    assert.ok(mounted(dir), 'the task dir is a mount');
    const st = fs.statSync(img);
    assert.equal(st.size, 64 << 20);
    assert.ok(st.blocks * 512 <= (65 << 20), `the image holds its size and a little metadata (${st.blocks * 512})`);
    const grew = dataBytes() - before;
    assert.ok(grew < 8 << 20, `the data directory outside the image grew ${grew} bytes`);
    assert.deepEqual(t.warnings, []);

    // another task's sandbox holds no copy of this task's filesystem
    // (which would keep it alive after its delete)
    const peer = await srv.createTask({ template: 'fits', input: 'x', name: 'peer' });
    await srv.waitTask('admin', 'peer');
    const procs = sandboxProcs(taskDir(srv, peer.id));
    assert.ok(procs.length >= 2, 'found the peer sandbox');
    for (const p of procs) {
      let mi = '';
      try { mi = fs.readFileSync(`/proc/${p}/mountinfo`, 'utf8'); } catch { continue; }
      assert.equal(mi.includes(dir), false, `process ${p} of another sandbox sees ${dir}`);
    }
    assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/peer')).status, 202);

    // pause and resume: the same disk, still limited
    await srv.waitTask('admin', 'filler');
    assert.equal((await srv.api('POST', '/api/v2/tasks/admin/filler/pause')).status, 200);
    assert.ok(mounted(dir), 'a paused task keeps its mount');
    assert.equal((await srv.api('POST', '/api/v2/tasks/admin/filler/resume')).status, 202);
    await srv.waitTask('admin', 'filler');
    assert.equal(fs.readFileSync(path.join(dir, 'home/workspace/kept'), 'utf8'), 'keep\n');

    // a restart: the task comes back paused with its disk; an image no
    // task owns (a delete cut short by a crash) is unmounted and removed
    const orphan = '00000000-0000-4000-8000-00000000dead';
    const oimg = path.join(srv.data, 'disks', `${orphan}.img`);
    const odir = path.join(srv.data, 'tasks', orphan);
    execFileSync('truncate', ['-s', '32M', oimg]);
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', oimg]);
    fs.mkdirSync(odir);
    execFileSync('mount', ['-o', 'loop', oimg, odir]);
    const { data, token } = srv;
    await srv.stop();
    srv = await startServer({ args: MAX, data, token });
    await waitFor(() => !exists(oimg) && !mounted(odir) && !exists(odir), { what: 'the orphan image removed' });
    assert.equal((await srv.api('POST', '/api/v2/tasks/admin/filler/resume')).status, 202);
    await srv.waitTask('admin', 'filler');
    assert.ok(mounted(dir));
    assert.equal(fs.readFileSync(path.join(dir, 'home/workspace/kept'), 'utf8'), 'keep\n');

    assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/filler')).status, 202);
    await waitFor(() => !exists(dir), { what: 'task dir removed' });
    assert.equal(mounted(dir), false, 'no mount left');
    assert.equal(exists(img), false, 'no image left');
  });

test('an unprivileged server says the disk limit is not enforced', { skip: !isRoot && 'needs root to switch to nobody' }, async () => {
  const NOBODY = 65534;
  const dir = tmpdir('taskbox-limits-unpriv-');
  fs.chmodSync(dir, 0o755);
  const exe = path.join(dir, 'taskbox');
  fs.copyFileSync(bin, exe);
  fs.chmodSync(exe, 0o755);
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  fs.chownSync(data, NOBODY, NOBODY);
  const child = spawn('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups',
    '--inh-caps=-all', exe, 'server', '--listen', '127.0.0.1:0', '--data', data, '--on-exit', 'pause'],
  { env: { ...process.env, HOME: data }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '', out = '';
  child.stderr.on('data', (d) => { log += d; });
  try {
    const { base, token } = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start: ${out} ${log}`)), 15000);
      child.stdout.on('data', (d) => {
        out += d;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        const t = /login token \(shown once\): (\S+)/.exec(out);
        if (m && t) { clearTimeout(timer); resolve({ base: m[1], token: t[1] }); }
      });
      child.on('exit', (c) => { clearTimeout(timer); reject(new Error(`server exited ${c}: ${out} ${log}`)); });
    });
    const api = async (method, p, body) => {
      const init = { method, headers: { Authorization: `Bearer ${token}` } };
      if (body !== undefined) {
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
        init.headers['Content-Type'] = typeof body === 'string' ? 'application/yaml' : 'application/json';
      }
      const r = await fetch(base + p, init);
      return { status: r.status, json: await r.json().catch(() => null) };
    };
    assert.match(log, /disk limit not enforced: the server is not root/);
    const lim = await api('GET', '/api/v2/limits');
    assert.equal(lim.json.disk_enforced, false);
    assert.equal((await api('POST', '/api/v2/templates', customTemplate('w', ['sleep', '1000']))).status, 201);
    const t = (await api('POST', '/api/v2/tasks/me', { template: 'w', input: 'x', name: 'w' })).json;
    assert.ok(t.warnings.some((w) => /disk limit not enforced/.test(w)), JSON.stringify(t.warnings));
    assert.equal(exists(path.join(data, 'disks', `${t.id}.img`)), false);
    assert.equal((await api('DELETE', '/api/v2/tasks/me/w')).status, 202);
    await waitFor(() => !exists(path.join(data, 'tasks', t.id)), { what: 'workspace removed' });
  } finally {
    child.kill();
    await new Promise((r) => (child.exitCode !== null ? r() : child.on('exit', r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a disk the host has no room for fails the start with the reason, and nothing is left', async (t) => {
  if (!isRoot) return t.skip('disk images need root');
  const mnt = tmpdir('taskbox-small-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=200m,mode=0755', 'tmpfs', mnt]);
  let s;
  try {
    s = await startServer({ data: path.join(mnt, 'data'), args: ['--max-disk', '1GiB'] });
    await s.pushTemplate(customTemplate('roomy', ['sleep', '1000']));
    await s.createTask({ template: 'roomy', input: 'x', name: 'roomy' });
    const task = await s.waitTask('admin', 'roomy', { status: 'error' });
    assert.match(task.status_reason, /no room for a 1024 MiB workspace disk/, task.status_reason);
    assert.deepEqual(fs.readdirSync(path.join(s.data, 'disks')).filter((f) => f.endsWith('.img')), []);
  } finally {
    await s?.stop();
    execFileSync('umount', ['-l', mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  }
});
