// isolation.test.mjs: what a task can and cannot reach from inside.
//
// The agents here are shell programs that probe their sandbox and write
// what they saw into their workspace; the test reads the results from the
// host. Outside traffic goes to a server in a network namespace of its
// own (tests/harness/outside.mjs), reachable only through the server's
// egress proxy (allowlisted by an admin's template: a private address);
// the host's loopback only through the LLM pass-through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { outsideHost } from '../harness/outside.mjs';
import { startServer, customTemplate, waitFor, tmpdir, taskDir, exists } from '../harness/server.mjs';

const isRoot = process.getuid() === 0;
let srv, host, hostPort, outside, seen = [];
const marker = `tbx-iso-${process.pid}-${Date.now()}`;
const keyFile = path.join(tmpdir(), 'llm.key');

function results(t) {
  const p = path.join(taskDir(srv, t.id), 'home/workspace/results');
  if (!exists(p)) return null;
  const text = fs.readFileSync(p, 'utf8');
  if (!text.includes('done=1')) return null;
  return Object.fromEntries(text.trim().split('\n').map((l) => {
    const i = l.indexOf('=');
    return [l.slice(0, i), l.slice(i + 1)];
  }));
}

function procsWith(mark) {
  const out = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(mark)) out.push(pid);
    } catch { /* gone */ }
  }
  return out;
}

before(async () => {
  host = http.createServer((req, res) => {
    seen.push({ url: req.url, headers: req.headers });
    res.end(`hello from host ${req.url}`);
  });
  await new Promise((r) => host.listen(0, '127.0.0.1', r));
  hostPort = host.address().port;
  outside = await outsideHost();
  fs.writeFileSync(keyFile, 'sk-real-provider-key\n', { mode: 0o600 });
  if (isRoot) fs.writeFileSync(`/root/.${marker}`, 'host secret');
  srv = await startServer({ args: ['--llm-url', `http://127.0.0.1:${hostPort}`, '--llm-key-file', keyFile] });
});

after(async () => {
  await srv?.stop();
  host?.close();
  await outside?.stop();
  if (isRoot) fs.rmSync(`/root/.${marker}`, { force: true });
});

test('files, network and egress from inside a task', async () => {
  const a = await srv.pushTemplate(customTemplate('keeper', ['sh', '-c', 'echo top-secret > secret; exec sleep 1000']));
  assert.equal(a.status, 201, a.text);
  const keeper = await srv.createTask({ template: 'keeper', input: 'x', name: 'keeper' });
  await srv.waitTask('admin', 'keeper');
  await waitFor(() => exists(path.join(taskDir(srv, keeper.id), 'home/workspace/secret')), { what: 'secret written' });

  const D = srv.data;
  const hostname = os.hostname().toLowerCase(); // resolves to this host
  const probe = [
    `echo "ls_data=$(ls -A ${D} 2>&1 | tr '\\n' ' ')"`,
    `echo "read_db=$(head -c 16 ${D}/taskbox.db 2>&1 | tr -dc 'a-zA-Z :')"`,
    `echo "other=$(cat ${path.join(D, "tasks", keeper.id, "home", "workspace", "secret")} 2>&1)"`,
    `echo "root_marker=$(cat /root/.${marker} 2>&1)"`,
    `echo "ro=$(touch /usr/x 2>&1 | grep -c Read-only)"`,
    `echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')"`,
    `echo "direct=$(curl -s -m 3 http://127.0.0.1:${hostPort}/direct; echo rc=$?)"`,
    `echo "allowed=$(curl -s -m 5 --noproxy '' -p -x http://127.0.0.1:3128 http://${outside.addr}:${outside.port}/via-proxy)"`,
    `echo "denied=$(curl -sS -m 5 --noproxy '' -p -x http://127.0.0.1:3128 http://127.0.0.1:9/x 2>&1 | head -c 200)"`,
    `echo "byname=$(curl -sS -m 5 --noproxy '' -p -x http://127.0.0.1:3128 http://${hostname}:${hostPort}/x 2>&1 | head -c 200)"`,
    `echo "denied_name=$(curl -s -m 5 --noproxy '' -x http://127.0.0.1:3128 https://example.com/ 2>&1; echo rc=$?)"`,
    `echo "llm=$(curl -s -m 5 http://127.0.0.1:4000/v1/messages -H 'x-api-key: placeholder' -d '{}')"`,
    'echo "whoami=$(id -un) $(id -gn) $(getent passwd 1000 | cut -d: -f1,6)"',
    'echo "gitconfig_size=$(wc -c < /etc/gitconfig 2>/dev/null || echo none)"',
    'echo "gitconfig_origins=$(git config --show-origin --list 2>/dev/null | grep -c /etc/)"',
    'echo "etc_fds=$(ls -l /proc/self/fd/ | grep -c taskbox-etc)"',
    'echo "done=1"',
  ].join('; ');
  const b = await srv.pushTemplate(customTemplate('prober', ['sh', '-c', `(${probe}) > results 2>&1; exec sleep 1000`],
    { egress: [`${outside.addr}:${outside.port}`, `${hostname}:${hostPort}`] }));
  assert.equal(b.status, 201, b.text);
  const t = await srv.createTask({ template: 'prober', input: 'x', name: 'prober' });
  const r = await waitFor(() => results(t), { what: 'probe results', timeout: 30000 });

  assert.equal(r.ls_data.trim(), '', 'the data directory is hidden');
  assert.equal(r.read_db.includes('SQLite'), false, 'the database is unreadable');
  assert.doesNotMatch(r.other, /top-secret/, 'another task\'s files are unreadable');
  assert.doesNotMatch(r.root_marker, /host secret/, 'host home directories are hidden');
  assert.equal(r.ro, '1', 'the host root is read-only');
  assert.equal(r.ifaces.trim(), 'lo', 'only loopback');
  // the workspace has its own account, not the host's uid 1000, and none of
  // the host's system-wide git settings
  assert.equal(r.whoami.trim(), 'agent agent agent:/home/agent', r.whoami);
  assert.match(r.gitconfig_size.trim(), /^(0|none)$/, r.gitconfig_size);
  assert.equal(r.gitconfig_origins.trim(), '0', 'no system-wide git setting applies');
  assert.equal(r.etc_fds.trim(), '0', 'no descriptor of the server comes in');
  assert.match(r.direct, /rc=7/, 'the host is not reachable directly');
  assert.equal(r.allowed, 'hello from outside /via-proxy', 'an allowlisted host is reachable through the proxy');
  assert.match(r.denied, /403|not in the template's egress allowlist/, r.denied);
  assert.match(r.byname, /403/, 'a name leading to this host is refused even when allowlisted');
  assert.ok(!seen.some((x) => x.url === '/x'), 'nothing reached the host');
  assert.doesNotMatch(r.denied_name, /Example Domain/);
  assert.match(r.denied_name, /rc=56/);
  assert.equal(r.llm, 'hello from host /v1/messages', 'the LLM pass-through reaches the provider');
  const llmReq = seen.find((s) => s.url === '/v1/messages');
  assert.equal(llmReq.headers['x-api-key'], 'sk-real-provider-key', 'the server adds the real key');
  assert.ok(/denied/.test(srv.log) && /CONNECT 127\.0\.0\.1:9 denied/.test(srv.log), 'decisions are logged');

  for (const n of ['keeper', 'prober'])
    assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/${n}`)).status, 202);
});

test('a fork bomb and a memory hog are contained; the server stays responsive', async () => {
  await srv.pushTemplate(customTemplate('bomb', ['sh', '-c', 'b(){ b|b& }; b; exec sleep 1000'],
    { limits: { pids: 64, memory: '256MiB' } }));
  await srv.pushTemplate(customTemplate('hog', ['sh', '-c',
    'tail /dev/zero; echo "hog=$?" > results; echo done=1 >> results; exec sleep 1000'],
  { limits: { memory: '64MiB', pids: 64 } }));
  const bomb = await srv.createTask({ template: 'bomb', input: 'x', name: 'bomb' });
  const hog = await srv.createTask({ template: 'hog', input: 'x', name: 'hog' });
  const pidsMax = `/sys/fs/cgroup/pids/taskbox/${bomb.id}/pids.max`;
  if (isRoot && exists(pidsMax)) {
    await waitFor(() => exists(pidsMax), { what: 'cgroup' });
    assert.equal(fs.readFileSync(pidsMax, 'utf8').trim(), '64');
  }
  // while the bomb goes off, the API answers every request
  for (let i = 0; i < 20; i++) {
    const r = await srv.api('GET', '/api/v2/tasks');
    assert.equal(r.status, 200);
  }
  const r = await waitFor(() => results(hog), { what: 'the hog was killed', timeout: 30000 });
  assert.equal(r.hog, '137', 'the memory hog is OOM-killed');
  const del = await srv.api('DELETE', '/api/v2/tasks/admin/bomb');
  assert.equal(del.status, 202);
  await srv.api('DELETE', '/api/v2/tasks/admin/hog');
  if (isRoot) assert.equal(exists(path.dirname(pidsMax)), false, 'the cgroup is removed');
});

test('after delete no process of the task is left, daemons included', async () => {
  const mark = `${marker}-daemon`;
  await srv.pushTemplate(customTemplate('daemon', ['bash', '-c',
    `setsid bash -c 'exec -a ${mark} sleep 1000' & disown; exec -a ${mark}-agent sleep 1000`]));
  await srv.createTask({ template: 'daemon', input: 'x', name: 'daemon' });
  await srv.waitTask('admin', 'daemon');
  await waitFor(() => procsWith(mark).length >= 2, { what: 'daemon running' });
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/daemon')).status, 202);
  assert.deepEqual(procsWith(mark), [], 'nothing of the task survives the delete');
});
