// hardening-workspace.test.mjs: a task cannot put its own pages on the
// server's origin, nor make the server talk to anything but the runtime
// the server launched.
//
// The attacking agent replaces /run/taskbox/agent.sock with a server of its
// own that answers every request with HTML and a script. The chat UI must
// still be the server's own file, the runtime's API must be refused (the
// peer is not the runtime: the server pins that process), and the refusal
// is logged once, not once per request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, customTemplate, waitFor, root, taskDir, exists, tmpdir, testStore } from '../harness/server.mjs';
import { pgDatabase, pgDropDatabase } from '../harness/pg.mjs';

let srv;

before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

const takeover = `
import os, socket
p = '/run/taskbox/agent.sock'
os.unlink(p)
s = socket.socket(socket.AF_UNIX)
s.bind(p)
s.listen(64)
open('bound', 'w').write('1')
body = b'<html><script>fetch("/api/v2/users/me")</script>TAKEOVER</html>'
while True:
    c, _ = s.accept()
    try:
        c.recv(65536)
        c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Type: text/html\\r\\nContent-Length: %d\\r\\n\\r\\n' % len(body) + body)
    except OSError:
        pass
    c.close()
`;

async function get(p) {
  const r = await fetch(srv.base + p, { headers: { Authorization: `Bearer ${srv.token}` }, redirect: 'manual' });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

test('the chat API is data only: CSP sandbox, nosniff, an allowlist of endpoints', async () => {
  await srv.pushTemplate(customTemplate('plain', ['sleep', '1000']));
  await srv.createTask({ template: 'plain', input: 'x', name: 'plain' });
  await srv.waitTask('admin', 'plain');
  const st = await get('/@admin/plain/apps/chat/status');
  assert.equal(st.status, 200, st.text);
  assert.match(st.headers.get('content-type'), /application\/json/);
  assert.match(st.headers.get('content-security-policy'), /^sandbox/);
  assert.equal(st.headers.get('x-content-type-options'), 'nosniff');
  assert.equal((await get('/@admin/plain/apps/chat/openapi.json.html')).status, 404);
  assert.match((await get('/@admin/plain/apps/chat/openapi.json')).text, /"openapi"/);
  assert.equal((await get('/@admin/plain/apps/chat/chat/../../status')).status, 404);
  // a body the runtime refuses early is its 413, not a 502
  const big = await fetch(srv.base + '/@admin/plain/apps/chat/message', {
    method: 'POST', headers: { Authorization: `Bearer ${srv.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'user', content: 'x'.repeat(2 * 1024 * 1024) }),
  });
  assert.equal(big.status, 413, await big.text());
  const root = await get('/@admin/plain/apps/chat/');
  assert.equal(root.status, 307);
  assert.match(root.headers.get('location'), /\/@admin\/plain\/apps\/chat\/chat\/embed$/);
  await srv.api('DELETE', '/api/v2/tasks/admin/plain');
});

test('a task that replaces its runtime socket cannot serve pages or API answers', async () => {
  const r = await srv.pushTemplate(customTemplate('thief', ['python3', '-c', takeover]));
  assert.equal(r.status, 201, r.text);
  const t = await srv.createTask({ template: 'thief', input: 'x', name: 'thief' });
  await srv.waitTask('admin', 'thief');
  await waitFor(() => exists(path.join(taskDir(srv, t.id), 'home/workspace/bound')), { what: 'the socket replaced' });

  const ui = await get('/@admin/thief/apps/chat/chat/embed');
  assert.equal(ui.status, 200);
  assert.equal(ui.text, fs.readFileSync(path.join(root, 'web/chat/index.html'), 'utf8'), 'the chat UI is the server\'s own');
  const js = await get('/@admin/thief/apps/chat/chat/app.js');
  assert.equal(js.text, fs.readFileSync(path.join(root, 'web/chat/app.js'), 'utf8'));
  for (let i = 0; i < 20; i++) {
    const api = await get('/@admin/thief/apps/chat/status');
    assert.equal(api.status, 502, api.text);
    assert.doesNotMatch(api.text, /TAKEOVER/);
  }
  const other = await get('/@admin/thief/apps/chat/page.html');
  assert.equal(other.status, 404);
  assert.doesNotMatch(other.text, /TAKEOVER/);
  const warnings = srv.log.match(/not by the task's runtime: refused/g) ?? [];
  assert.equal(warnings.length, 1, 'the refusal is logged once, not per request');
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/thief')).status, 202);
});

const relink = `
import ctypes, errno, http.server, json, os, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = b'{"status":"FORGED-BY-AGENT"}'
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(('127.0.0.1', 8000), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
libc = ctypes.CDLL(None, use_errno=True)
res = {}
res['ptrace'] = ctypes.get_errno() if libc.ptrace(16, 2, 0, 0) < 0 else 0
pidfd = libc.syscall(434, 2, 0)
res['getfd'] = ctypes.get_errno() if pidfd < 0 or libc.syscall(438, pidfd, 3, 0) < 0 else 0
for name, op, to in (('rename', os.rename, 'agent.sock'), ('link', os.link, 'new.sock')):
    try:
        op('/run/taskbox/apps/web.sock', '/run/taskbox/' + to)
        res[name] = 0
    except OSError as e:
        res[name] = e.errno
os.unlink('/run/taskbox/agent.sock')
os.symlink('/run/taskbox/apps/web.sock', '/run/taskbox/agent.sock')
open('results', 'w').write(json.dumps(res))
threading.Event().wait()
`;

test('a task cannot pass one of its runtime\'s other sockets off as the runtime\'s own', async () => {
  const y = customTemplate('relink', ['python3', '-c', relink], { apps: [{ slug: 'web', url: 'http://127.0.0.1:8000/' }] });
  assert.equal((await srv.pushTemplate(y)).status, 201);
  const t = await srv.createTask({ template: 'relink', input: 'x', name: 'relink' });
  await srv.waitTask('admin', 'relink');
  const file = path.join(taskDir(srv, t.id), 'home/workspace/results');
  const res = JSON.parse(await waitFor(() => exists(file) && fs.readFileSync(file, 'utf8'), { what: 'the attack ran' }));
  assert.notEqual(res.ptrace, 0, 'the runtime cannot be traced');
  assert.notEqual(res.getfd, 0, 'the runtime\'s sockets cannot be taken');
  assert.equal(res.rename, 18, 'an app socket cannot be renamed over agent.sock (EXDEV)');
  assert.equal(res.link, 18, 'nor linked there');
  // (a template app's GET is sent on to its URL with a capability)
  const app = { text: await (await fetch(srv.base + '/@admin/relink/apps/web/', { headers: { Authorization: `Bearer ${srv.token}` } })).text() };
  assert.match(app.text, /FORGED-BY-AGENT/, 'the app itself is the task\'s to serve');
  for (const p of ['status', 'messages']) {
    const r = await get(`/@admin/relink/apps/chat/${p}`);
    assert.equal(r.status, 502, r.text);
    assert.doesNotMatch(r.text, /FORGED/);
  }
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/relink')).status, 202);
});

test('a push on a full disk is the server\'s failure (507), stores nothing, and the server goes on', async (t) => {
  if (process.getuid() !== 0) return t.skip('needs root to mount a small filesystem');
  const mnt = tmpdir('taskbox-full-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'tmpfs', mnt]);
  let s, db;
  try {
    // the store's files on the same filesystem: the SQLite file in the
    // data directory, or the PostgreSQL database in a tablespace there
    db = testStore === 'postgresql' ? pgDatabase({ location: path.join(mnt, 'pg') }) : null;
    s = await startServer({ data: path.join(mnt, 'data'), args: db ? ['--store', db.uri] : [] });
    // fill what is left of the filesystem
    const filler = path.join(mnt, 'filler');
    const fd = fs.openSync(filler, 'w');
    const chunk = Buffer.alloc(1 << 20);
    try { for (;;) fs.writeSync(fd, chunk); } catch (e) { assert.equal(e.code, 'ENOSPC'); }
    try { for (;;) fs.writeSync(fd, chunk.subarray(0, 4096)); } catch (e) { assert.equal(e.code, 'ENOSPC'); }
    fs.closeSync(fd);
    const yaml = customTemplate('big', ['sleep', '1']) + `# ${'x'.repeat(512 * 1024)}\n`;
    const r = await s.pushTemplate(yaml);
    assert.equal(r.status, 507, r.text);
    assert.match(r.headers.get('content-type'), /problem\+json/);
    assert.match(r.json.detail, /disk is full/);
    const list = await s.api('GET', '/api/v2/templates');
    assert.equal(list.status, 200, 'the server goes on');
    assert.ok(!list.json.templates.some((x) => x.name === 'big'), 'nothing was stored');
    fs.rmSync(filler);
    assert.equal((await s.pushTemplate(yaml)).status, 201, 'with space again the same push works');
  } finally {
    await s?.stop();
    if (db) {
      fs.rmSync(path.join(mnt, 'filler'), { force: true });
      pgDropDatabase(db);
    }
    execFileSync('umount', ['-l', mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  }
});

test('a task that errored before a restart leaves no cgroup after DELETE', async (t) => {
  const s = await startServer();
  await s.pushTemplate(customTemplate('failer', ['sh', '-c', 'sleep 1; exit 3']));
  const task = await s.createTask({ template: 'failer', input: 'x', name: 'failer' });
  await s.waitTask('admin', 'failer');
  const cgroups = ['memory', 'pids', 'cpu'].map((c) => `/sys/fs/cgroup/${c}/taskbox/${task.id}`).filter(exists);
  if (cgroups.length === 0) { await s.stop(); return t.skip('no v1 cgroups here'); }
  await s.waitTask('admin', 'failer', { status: 'error' });
  await s.stop();
  const again = await startServer({ data: s.data, token: s.token });
  try {
    assert.equal((await again.task('admin', 'failer')).status, 'error');
    assert.equal((await again.api('DELETE', '/api/v2/tasks/admin/failer')).status, 202);
    assert.deepEqual(cgroups.filter(exists), [], 'the cgroups are removed');
  } finally {
    await again.stop();
  }
});
