// install.test.mjs: agent modules that the server installs itself.
//
// A real server with its tools dir under /tmp (a dir the sandbox masks)
// installs a pip module from a local PEP 503 index (a wheel built here)
// and a url module from a local file server (a tarball built here), and
// runs each as a task in a real workspace. Also: a wrong sha256, an
// unreachable URL or index (refused at create), the built-in aider and
// goose on a server with no route out (refused at create), installs
// shared between tasks, and --tools values the server refuses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startServer, waitFor, tmpdir, bin, exists } from '../harness/server.mjs';
import {
  startFileServer, closedPort, buildWheel, simpleIndex, buildTarball, sha256, startDripServer,
} from '../harness/pkgserver.mjs';

// The test agents: a greeting, then a shell-style prompt ("$ ", what the
// runtime waits for before it sends) and one answer per line read.
const WHEEL_SOURCE = `import os, sys

def main():
    print('hello from the wheel')
    while True:
        print('$ ', end='', flush=True)
        line = sys.stdin.readline()
        if not line:
            break
        if 'path' in line:
            print('PATH is ' + os.environ['PATH'])
        print('wheel got: ' + line.strip())
`;
// answers whether each path read exists in its sandbox (the line may
// come with a terminal's bracketed-paste marks: only the path is kept)
const SEER = '#!/bin/sh\nprintf "$ "\nwhile IFS= read -r p; do p=$(printf %s "$p" | grep -o "/[A-Za-z0-9/._-]*" | head -n 1); ' +
  'if [ -e "$p" ]; then echo "seen: $p"; else echo "unseen: $p"; fi; printf "$ "; done\n';
const SCRIPT = '#!/bin/sh\necho "hello from the archive"\nprintf "$ "\n' +
  'while IFS= read -r line; do echo "archive got: $line"; printf "$ "; done\n';

let srv, files, work, tools, tarball, tarSha, binary, binSha;

async function pushModule(yaml) {
  return srv.api('POST', '/api/v2/modules', { body: yaml, headers: { 'Content-Type': 'application/yaml' } });
}

// A module of agent type custom running its installed bin, and a
// template of the same name using it.
async function moduleAndTemplate(name, install) {
  const m = await pushModule(`name: ${name}\nagent_type: custom\ninstall:\n` +
    Object.entries(install).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}\n`).join('') +
    'command: ["{{bin}}"]\n');
  assert.equal(m.status, 201, m.text);
  const t = await srv.pushTemplate(`name: ${name}\nworkspace:\n  backend: local\nagent:\n  module: ${name}\nai_task:\n  app: chat\n`);
  assert.equal(t.status, 201, t.text);
}

async function sawOutput(name, re) {
  return waitFor(async () => {
    const l = await srv.api('GET', `/api/v2/tasks/admin/${name}/logs`);
    return l.json?.logs?.some((e) => e.type === 'output' && re.test(e.content));
  }, { what: `${name} printed ${re}`, timeout: 60000 });
}

before(async () => {
  work = tmpdir('taskbox-install-');
  fs.chmodSync(work, 0o755); // the task's uid walks to the tools dir
  tools = path.join(work, 'tools'); // under /tmp: masked in the sandbox
  const pub = path.join(work, 'pub');
  fs.mkdirSync(pub);
  const wheel = buildWheel(work, { name: 'tbx-hello', version: '1.0.0', mod: 'tbx_hello', script: 'tbx-hello', source: WHEEL_SOURCE });
  simpleIndex(pub, 'tbx-hello', wheel);
  // a release archive with the executable in a subdirectory
  const tree = path.join(work, 'tree');
  fs.mkdirSync(path.join(tree, 'tbx', 'bin'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'tbx', 'bin', 'tbx-url'), SCRIPT, { mode: 0o755 });
  tarball = buildTarball(path.join(pub, 'tbx-url-1.0.0.tar.gz'), tree);
  tarSha = sha256(tarball);
  // a single executable
  binary = path.join(pub, 'tbx-one');
  fs.writeFileSync(binary, SCRIPT, { mode: 0o755 });
  binSha = sha256(binary);
  files = await startFileServer(pub);
  // small disk images: this file runs many tasks
  srv = await startServer({ args: ['--tools', tools, '--pip-index-url', `${files.base}/simple/`, '--max-disk', '32MiB', '--max-running-per-user', '50'] });
});

after(async () => {
  await srv?.stop();
  await files?.close();
  fs.rmSync(srv.data, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

test('pip: a private virtualenv from the index, shared by concurrent and later tasks', async () => {
  await moduleAndTemplate('tbx-pip', { pip: 'tbx-hello', version: '1.0.0', bin: 'tbx-hello' });
  const [a, b] = await Promise.all(['pip-one', 'pip-two'].map((name) =>
    srv.api('POST', '/api/v2/tasks/me', { body: { template: 'tbx-pip', input: `ping ${name}`, name } })));
  assert.equal(a.status, 201, a.text);
  assert.equal(b.status, 201, b.text);
  for (const name of ['pip-one', 'pip-two']) {
    await srv.waitTask('admin', name, { timeout: 120000 });
    await sawOutput(name, /hello from the wheel/);
    await sawOutput(name, new RegExp(`wheel got: ping ${name}`));
  }
  assert.equal(files.hits.get('/files/tbx_hello-1.0.0-py3-none-any.whl'), 1, 'one install for both tasks');
  const venv = path.join(tools, 'tbx-pip', '1.0.0');
  assert.ok(exists(path.join(venv, 'bin', 'tbx-hello')));
  // the marker: outside the tree, naming what was installed from where
  assert.equal(fs.readFileSync(`${venv}.installed`, 'utf8'), `pip tbx-hello==1.0.0\nindex ${files.base}/simple/\n`);
  assert.ok(!exists(path.join(venv, '.taskbox-installed')));
  // installed: a later task neither probes the index nor installs
  const pageHits = files.hits.get('/simple/tbx-hello/');
  await srv.createTask({ template: 'tbx-pip', input: 'again', name: 'pip-three' });
  await srv.waitTask('admin', 'pip-three');
  await sawOutput('pip-three', /wheel got: again/);
  assert.equal(files.hits.get('/simple/tbx-hello/'), pageHits);
  assert.equal(files.hits.get('/files/tbx_hello-1.0.0-py3-none-any.whl'), 1);
});

test('url: a tarball checked against its sha256, unpacked, its bin run; a single executable too', async () => {
  await moduleAndTemplate('tbx-url', {
    url: `${files.base}/tbx-url-1.0.0.tar.gz`, sha256: tarSha, version: '1.0.0', bin: 'tbx/bin/tbx-url',
  });
  await srv.createTask({ template: 'tbx-url', input: 'hi tarball', name: 'url-one' });
  await srv.waitTask('admin', 'url-one', { timeout: 60000 });
  await sawOutput('url-one', /archive got: hi tarball/);
  assert.ok(exists(path.join(tools, 'tbx-url', '1.0.0', 'tbx', 'bin', 'tbx-url')));

  await moduleAndTemplate('tbx-one', { url: `${files.base}/tbx-one`, sha256: binSha, version: '2', bin: 'tbx-one' });
  await srv.createTask({ template: 'tbx-one', input: 'hi binary', name: 'url-two' });
  await srv.waitTask('admin', 'url-two', { timeout: 60000 });
  await sawOutput('url-two', /archive got: hi binary/);
  assert.equal(fs.statSync(path.join(tools, 'tbx-one', '2', 'tbx-one')).mode & 0o777, 0o755);
});

test('a wrong sha256 fails with the reason, installs nothing, and can be retried', async () => {
  const wrong = 'ab'.repeat(32);
  await moduleAndTemplate('tbx-bad', {
    url: `${files.base}/tbx-url-1.0.0.tar.gz`, sha256: wrong, version: '1.0.0', bin: 'tbx/bin/tbx-url',
  });
  await srv.createTask({ template: 'tbx-bad', input: 'x', name: 'bad-sha' });
  const t = await srv.waitTask('admin', 'bad-sha', { status: 'error', timeout: 60000 });
  assert.match(t.status_reason, new RegExp(`sha256 of ${files.base}/tbx-url-1.0.0.tar.gz is ${tarSha} but the module pins ${wrong}`));
  // nothing installed, no temporary dir left; only the lock and the log
  assert.deepEqual(fs.readdirSync(path.join(tools, 'tbx-bad')).sort(), ['1.0.0.lock', '1.0.0.log']);
  // the admin fixes the module: the next task installs it
  await moduleAndTemplate('tbx-bad', {
    url: `${files.base}/tbx-url-1.0.0.tar.gz`, sha256: tarSha, version: '1.0.0', bin: 'tbx/bin/tbx-url',
  });
  await srv.createTask({ template: 'tbx-bad', input: 'fixed', name: 'good-sha' });
  await srv.waitTask('admin', 'good-sha', { timeout: 60000 });
  await sawOutput('good-sha', /archive got: fixed/);
});

test('an unreachable URL, an unknown package or an unreachable index: 400 at create, no task', async () => {
  const port = await closedPort();
  await moduleAndTemplate('tbx-gone', {
    url: `http://127.0.0.1:${port}/tool.tar.gz`, sha256: tarSha, version: '1', bin: 'tool',
  });
  const r = await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'tbx-gone', input: 'x', name: 'gone' } });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.headers.get('content-type'), 'application/problem+json');
  assert.match(r.json.detail, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}/tool\\.tar\\.gz: .*`));
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/gone')).status, 404, 'no task was created');

  await moduleAndTemplate('tbx-nopkg', { pip: 'tbx-nothing', version: '1.0', bin: 'x' });
  const n = await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'tbx-nopkg', input: 'x', name: 'nopkg' } });
  assert.equal(n.status, 400, n.text);
  assert.match(n.json.detail, /the package index has no package 'tbx-nothing'/);

  // a server whose pip index does not answer
  const other = await startServer({ args: ['--tools', path.join(work, 'tools2'), '--pip-index-url', `http://127.0.0.1:${port}/simple`, '--max-disk', '32MiB'] });
  try {
    const m = await other.api('POST', '/api/v2/modules', {
      body: 'name: tbx-pip\nagent_type: custom\ninstall: {pip: tbx-hello, version: 1.0.0, bin: tbx-hello}\ncommand: ["{{bin}}"]\n',
      headers: { 'Content-Type': 'application/yaml' },
    });
    assert.equal(m.status, 201, m.text);
    assert.equal((await other.pushTemplate('name: tbx-pip\nagent:\n  module: tbx-pip\nai_task:\n  app: chat\n')).status, 201);
    const p = await other.api('POST', '/api/v2/tasks/me', { body: { template: 'tbx-pip', input: 'x' } });
    assert.equal(p.status, 400, p.text);
    assert.match(p.json.detail, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}/simple/tbx-hello/`));
    assert.equal((await other.api('GET', '/api/v2/tasks')).json.count, 0);
  } finally {
    await other.stop();
    fs.rmSync(other.data, { recursive: true, force: true });
  }
});

test('--tools under /tmp: an agent already installed there runs in the sandbox', async () => {
  // an npm-layout install made by hand: nothing to download
  const binDir = path.join(tools, 'tbx-npm', 'node_modules', '.bin');
  fs.mkdirSync(binDir, { recursive: true });
  fs.writeFileSync(path.join(binDir, 'tbx-npm'), SCRIPT, { mode: 0o755 });
  await moduleAndTemplate('tbx-npm', { npm: 'tbx-npm', version: '1.0.0', bin: 'tbx-npm' });
  await srv.createTask({ template: 'tbx-npm', input: 'from tmp', name: 'npm-tmp' });
  await srv.waitTask('admin', 'npm-tmp');
  await sawOutput('npm-tmp', /archive got: from tmp/);
});

test('--tools refused where the workspace would see masked dirs', () => {
  const parent = tmpdir('taskbox-install-data-');
  const data = path.join(parent, 'data');
  const closed = tmpdir('taskbox-install-closed-');
  // a tools dir still to be made, through a link into a closed dir
  const open = tmpdir('taskbox-install-open-');
  fs.chmodSync(open, 0o755);
  fs.mkdirSync(path.join(closed, 'in'), { mode: 0o755 });
  fs.symlinkSync(path.join(closed, 'in'), path.join(open, 'link'));
  for (const [tools, re] of [
    ['/tmp', /--tools '\/tmp': .* not \/tmp/],
    ['/root/', /not \/root/],
    ['/home', /not \/home/],
    // a dir the installer's and the workspaces' uids cannot enter
    [closed, /is closed to other users \(mode without o\+x\)/],
    [path.join(open, 'link', 'tools'), new RegExp(`'${closed}' is closed to other users`)],
    [parent, /holds the data directory/],
    [path.join(data, 'tasks'), /inside the data directory/],
  ]) {
    const r = spawnSync(bin, ['server', '--listen', '127.0.0.1:0', '--data', data, '--tools', tools], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, re);
  }
  for (const d of [parent, closed, open]) fs.rmSync(d, { recursive: true, force: true });
});

// A server (startServer's handle) in a network namespace of its own with
// only loopback up: no route to pypi.org or github.com. Its API is
// reached from inside that namespace (nsenter + curl).
async function startOfflineServer(args) {
  const wrap = path.join(work, 'netns-server');
  fs.writeFileSync(wrap, '#!/bin/sh\nexec unshare --net -- sh -c ' +
    '\'ip link set lo up && exec "$@"\' netns "$TBX_SERVER_BIN" "$@"\n', { mode: 0o755 });
  const s = await startServer({ exe: wrap, env: { TBX_SERVER_BIN: bin }, args });
  s.nsApi = (method, p, body) => {
    const r = spawnSync('nsenter', [`--net=/proc/${s.child.pid}/ns/net`, 'curl', '-sS', '--max-time', '60',
      '-X', method, '-H', `Authorization: Bearer ${s.token}`, '-H', 'Content-Type: application/json',
      ...(body ? ['--data-binary', JSON.stringify(body)] : []), '-w', '\n%{http_code}', `${s.base}${p}`],
    { encoding: 'utf8', timeout: 90000 });
    assert.equal(r.status, 0, r.stderr);
    const nl = r.stdout.lastIndexOf('\n');
    const text = r.stdout.slice(0, nl);
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: Number(r.stdout.slice(nl + 1)), text, json };
  };
  return s;
}

test('the built-in aider and goose with no route out: 400 at create naming what could not be reached, nothing created', async () => {
  const t4 = path.join(work, 'tools-offline');
  // the defaults: pypi.org's index, the module's GitHub release URL
  const s = await startOfflineServer(['--tools', t4, '--llm-url', 'http://127.0.0.1:9', '--max-disk', '32MiB']);
  try {
    // the namespace really has no way out
    const out = spawnSync('nsenter', [`--net=/proc/${s.child.pid}/ns/net`, 'curl', '-sS', '--max-time', '10', 'https://pypi.org/simple/'], { encoding: 'utf8' });
    assert.notEqual(out.status, 0, 'pypi.org answered from the test namespace');
    for (const [template, url] of [
      ['aider', 'https://pypi.org/simple/aider-chat/'],
      ['goose', 'https://github.com/block/goose/releases/download/v1.3.1/goose-x86_64-unknown-linux-gnu.tar.bz2'],
    ]) {
      const r = s.nsApi('POST', '/api/v2/tasks/me', { template, input: 'hello', name: `offline-${template}` });
      assert.equal(r.status, 400, r.text);
      assert.match(r.json.detail, new RegExp(`cannot be: cannot reach ${url.replace(/[.?]/g, '\\$&')}: `), r.text);
      assert.equal(s.nsApi('GET', `/api/v2/tasks/admin/offline-${template}`).status, 404, 'no task was created');
    }
    assert.equal(s.nsApi('GET', '/api/v2/tasks').json.count, 0);
    // nothing installed, no install begun
    assert.deepEqual(exists(t4) ? fs.readdirSync(t4) : [], []);
  } finally {
    await s.stop();
    fs.rmSync(s.data, { recursive: true, force: true });
  }
});

test('--tools under /home/x and /root/x: an install there runs in the sandbox, or the server refuses a dir its uids cannot enter', async () => {
  // only /home and /root themselves are masked as a whole (TOOLS/DIR
  // would be a user's home); below them a dir works when the installer's
  // and the workspaces' uids may enter it: /root is 0700 on Debian
  for (const parent of ['/home', '/root']) {
    const t5 = fs.mkdtempSync(path.join(parent, 'taskbox-tools-'));
    fs.chmodSync(t5, 0o755);
    if ((fs.statSync(parent).mode & 0o001) === 0) {
      const data = tmpdir('taskbox-install-data-');
      const r = spawnSync(bin, ['server', '--listen', '127.0.0.1:0', '--data', data, '--tools', t5], { encoding: 'utf8', timeout: 10000 });
      fs.rmSync(t5, { recursive: true, force: true });
      fs.rmSync(data, { recursive: true, force: true });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`--tools '${t5}': '${parent}' is closed to other users .*the installs \\(uid \\d+\\) and the workspaces`));
      continue;
    }
    const s = await startServer({ args: ['--tools', t5, '--pip-index-url', `${files.base}/simple/`, '--max-disk', '32MiB'] });
    try {
      const m = await s.api('POST', '/api/v2/modules', {
        body: `name: tbx-home\nagent_type: custom\ninstall: {url: "${files.base}/tbx-url-1.0.0.tar.gz", sha256: "${tarSha}", version: "1", bin: tbx/bin/tbx-url}\ncommand: ["{{bin}}"]\n`,
        headers: { 'Content-Type': 'application/yaml' },
      });
      assert.equal(m.status, 201, m.text);
      assert.equal((await s.pushTemplate('name: tbx-home\nworkspace:\n  backend: local\nagent:\n  module: tbx-home\nai_task:\n  app: chat\n')).status, 201);
      await s.createTask({ template: 'tbx-home', input: `from ${parent}`, name: 'home' });
      await s.waitTask('admin', 'home', { timeout: 60000 });
      await waitFor(async () => {
        const l = await s.api('GET', '/api/v2/tasks/admin/home/logs');
        return l.json?.logs?.some((e) => e.type === 'output' && e.content.includes(`archive got: from ${parent}`));
      }, { what: `the agent installed under ${t5} answered`, timeout: 60000 });
      assert.ok(exists(path.join(t5, 'tbx-home', '1', 'tbx', 'bin', 'tbx-url')));
    } finally {
      await s.stop();
      fs.rmSync(s.data, { recursive: true, force: true });
      fs.rmSync(t5, { recursive: true, force: true });
    }
  }
});

// ---- the hostile reviewer's findings -------------------------------------

// A tarball of a tree made by fill(dir); its path and sha256 under pub.
function archive(name, fill) {
  const tree = fs.mkdtempSync(path.join(work, 'tree-'));
  fs.chmodSync(tree, 0o755); // its '.' entry: what a release archive has
  fill(tree);
  const out = buildTarball(path.join(work, 'pub', name), tree);
  return { url: `${files.base}/${name}`, sha: sha256(out) };
}

test('an archive cannot make the installer write through its links, nor point bin outside', async () => {
  const victim = path.join(work, 'victim');
  fs.writeFileSync(victim, 'precious\n');
  const a = archive('evil-link.tar.gz', (d) => {
    fs.writeFileSync(path.join(d, 'tool'), SCRIPT, { mode: 0o755 });
    fs.symlinkSync(victim, path.join(d, '.taskbox-installed'));
    fs.symlinkSync(victim, path.join(d, '.installed'));
  });
  await moduleAndTemplate('tbx-evil', { url: a.url, sha256: a.sha, version: '1', bin: 'tool' });
  await srv.createTask({ template: 'tbx-evil', input: 'evil', name: 'evil-link' });
  await srv.waitTask('admin', 'evil-link', { timeout: 60000 });
  await sawOutput('evil-link', /archive got: evil/);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', 'the host file was not truncated');

  // bin a link to a host executable: refused
  const b = archive('evil-bin.tar.gz', (d) => fs.symlinkSync('/bin/sh', path.join(d, 'tool')));
  await moduleAndTemplate('tbx-evilbin', { url: b.url, sha256: b.sha, version: '1', bin: 'tool' });
  await srv.createTask({ template: 'tbx-evilbin', input: 'x', name: 'evil-bin' });
  const t = await srv.waitTask('admin', 'evil-bin', { status: 'error', timeout: 60000 });
  assert.match(t.status_reason, /installed no executable/);
  assert.ok(!exists(path.join(tools, 'tbx-evilbin', '1.installed')));
});

test('archive modes are normalized: no setuid, no world-writable dir, a 0700 bin runs', async () => {
  const a = archive('modes.tar.gz', (d) => {
    fs.writeFileSync(path.join(d, 'tool'), SCRIPT);
    fs.chmodSync(path.join(d, 'tool'), 0o700);
    fs.writeFileSync(path.join(d, 'suid'), 'x');
    fs.chmodSync(path.join(d, 'suid'), 0o4755);
    fs.mkdirSync(path.join(d, 'open'));
    fs.chmodSync(path.join(d, 'open'), 0o777);
  });
  await moduleAndTemplate('tbx-modes', { url: a.url, sha256: a.sha, version: '1', bin: 'tool' });
  await srv.createTask({ template: 'tbx-modes', input: 'modes', name: 'modes' });
  await srv.waitTask('admin', 'modes', { timeout: 60000 });
  await sawOutput('modes', /archive got: modes/);
  const d = path.join(tools, 'tbx-modes', '1');
  assert.equal(fs.statSync(path.join(d, 'suid')).mode & 0o7777, 0o755);
  assert.equal(fs.statSync(path.join(d, 'open')).mode & 0o7777, 0o755);
  assert.equal(fs.statSync(path.join(d, 'tool')).mode & 0o7777, 0o755);
  assert.equal(fs.statSync(path.join(d, 'tool')).uid, 0);
});

test('a changed install block installs again, at create and at resume; the marker records it', async () => {
  const one = archive('chg-1.tar.gz', (d) => fs.writeFileSync(path.join(d, 'tool'), SCRIPT, { mode: 0o755 }));
  const two = archive('chg-2.tar.gz', (d) => fs.writeFileSync(path.join(d, 'tool'),
    SCRIPT.replaceAll('archive', 'second'), { mode: 0o755 }));
  await moduleAndTemplate('tbx-chg', { url: one.url, sha256: one.sha, version: '1', bin: 'tool' });
  await srv.createTask({ template: 'tbx-chg', input: 'first', name: 'chg-one' });
  await srv.waitTask('admin', 'chg-one', { timeout: 60000 });
  await sawOutput('chg-one', /archive got: first/);
  assert.equal(fs.readFileSync(path.join(tools, 'tbx-chg', '1.installed'), 'utf8'), `url ${one.url}\nsha256 ${one.sha}\n`);
  // paused, the module changes, resumed: the new block is installed first
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/chg-one/pause')).status, 200);
  await moduleAndTemplate('tbx-chg', { url: two.url, sha256: two.sha, version: '1', bin: 'tool' });
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/chg-one/resume')).status, 202);
  await srv.waitTask('admin', 'chg-one', { timeout: 60000 });
  assert.ok((await srv.api('POST', '/api/v2/tasks/admin/chg-one/send', { body: { input: 'resumed' } })).status < 300);
  await sawOutput('chg-one', /second got: resumed/);
  assert.equal(fs.readFileSync(path.join(tools, 'tbx-chg', '1.installed'), 'utf8'), `url ${two.url}\nsha256 ${two.sha}\n`);
  await srv.createTask({ template: 'tbx-chg', input: 'again', name: 'chg-two' });
  await srv.waitTask('admin', 'chg-two', { timeout: 60000 });
  await sawOutput('chg-two', /second got: again/);
});

test('a workspace sees its own install only; a pip agent does not put its virtualenv on PATH', async () => {
  const a = archive('seer.tar.gz', (d) => fs.writeFileSync(path.join(d, 'seer'), SEER, { mode: 0o755 }));
  await moduleAndTemplate('tbx-seer', { url: a.url, sha256: a.sha, version: '1', bin: 'seer' });
  const other = path.join(tools, 'tbx-other', '1'); // another module's install
  fs.mkdirSync(other, { recursive: true });
  const own = path.join(tools, 'tbx-seer', '1', 'seer');
  await srv.createTask({ template: 'tbx-seer', input: own, name: 'seer' });
  await srv.waitTask('admin', 'seer', { timeout: 60000 });
  await sawOutput('seer', new RegExp(`(?<!un)seen: ${own}`));
  const s = await srv.api('POST', '/api/v2/tasks/admin/seer/send', { body: { input: other } });
  assert.ok(s.status < 300, s.text);
  await sawOutput('seer', new RegExp(`unseen: ${other}`));

  await srv.createTask({ template: 'tbx-pip', input: 'path', name: 'pip-path' });
  await srv.waitTask('admin', 'pip-path', { timeout: 60000 });
  await sawOutput('pip-path', /PATH is /);
  const logs = (await srv.api('GET', '/api/v2/tasks/admin/pip-path/logs')).json.logs;
  const line = logs.map((e) => e.content).join('\n').match(/PATH is (\S+)/)[1];
  assert.ok(!line.includes('tbx-pip'), line);
});

test('a failing probe runs once for concurrent and repeated creates (cached), and an arch mismatch is refused', async () => {
  await moduleAndTemplate('tbx-404', { url: `${files.base}/missing.tar.gz`, sha256: tarSha, version: '1', bin: 'x' });
  const rs = await Promise.all([1, 2].map(() => srv.api('POST', '/api/v2/tasks/me', { body: { template: 'tbx-404', input: 'x' } })));
  rs.push(await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'tbx-404', input: 'x' } }));
  for (const r of rs) {
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.detail, /missing\.tar\.gz answered HTTP 404/);
  }
  assert.equal(files.hits.get('/missing.tar.gz'), 1);

  await moduleAndTemplate('tbx-arch', { url: `${files.base}/tbx-one`, sha256: binSha, version: '1', bin: 'tbx-one', arch: 's390x' });
  const r = await srv.api('POST', '/api/v2/tasks/me', { body: { template: 'tbx-arch', input: 'x' } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.detail, /built for s390x and this machine is/);
});

test('an install runs as an unprivileged uid, dies with the server, and its leftovers go at the next install', async () => {
  const drip = await startDripServer();
  let dripOpen = true;
  const data = tmpdir('taskbox-install-drip-');
  const t2 = path.join(work, 'tools-drip');
  let s2 = await startServer({ data, args: ['--tools', t2, '--pip-index-url', `${files.base}/simple/`, '--max-disk', '32MiB'] });
  try {
    const push = async (url, sha) => {
      const m = await s2.api('POST', '/api/v2/modules', {
        body: `name: tbx-drip\nagent_type: custom\ninstall: {url: "${url}", sha256: "${sha}", version: "1", bin: tool}\ncommand: ["{{bin}}"]\n`,
        headers: { 'Content-Type': 'application/yaml' },
      });
      assert.equal(m.status, 201, m.text);
    };
    await push(`${drip.base}/tool`, binSha);
    assert.equal((await s2.pushTemplate('name: tbx-drip\nworkspace:\n  backend: local\nagent:\n  module: tbx-drip\nai_task:\n  app: chat\n')).status, 201);
    await s2.createTask({ template: 'tbx-drip', input: 'x', name: 'drip' });
    // the module's dir appears with the install child's first step
    const tmp = await waitFor(() => exists(path.join(t2, 'tbx-drip')) &&
      fs.readdirSync(path.join(t2, 'tbx-drip')).find((n) => n.startsWith('1.tmp-')),
      { what: 'the temporary dir', timeout: 30000 });
    const pid = Number(tmp.slice('1.tmp-'.length));
    // the tree is the installer's, not root's: below the task uids
    assert.equal(fs.statSync(path.join(t2, 'tbx-drip', tmp)).uid, 200000 - 1);
    await s2.stop();
    await waitFor(() => { try { process.kill(pid, 0); return false; } catch { return true; } },
      { what: `install child ${pid} gone`, timeout: 20000 });
    assert.ok(exists(path.join(t2, 'tbx-drip', tmp)), 'a killed install leaves its temporary dir');
    await drip.close(); // the restarted task's own install fails fast
    dripOpen = false;
    // the next install (the block fixed) removes it first
    s2 = await startServer({ data, token: s2.token, args: ['--tools', t2, '--pip-index-url', `${files.base}/simple/`, '--max-disk', '32MiB'] });
    await push(`${files.base}/tbx-one`, binSha);
    await s2.createTask({ template: 'tbx-drip', input: 'x', name: 'drip-two' });
    await s2.waitTask('admin', 'drip-two', { timeout: 60000 });
    assert.deepEqual(fs.readdirSync(path.join(t2, 'tbx-drip')).filter((n) => n.includes('.tmp-')), []);
  } finally {
    await s2.stop();
    if (dripOpen) await drip.close();
    fs.rmSync(data, { recursive: true, force: true });
  }
});

test('pip index credentials never show; no probe before admission; an http:// index off loopback is refused at start', async () => {
  const creds = files.base.replace('http://', 'http://alice:s3cret@');
  const t3 = path.join(work, 'tools3');
  const other = await startServer({ args: ['--tools', t3, '--pip-index-url', `${creds}/simple/`, '--max-disk', '32MiB', '--max-tasks', '1'] });
  try {
    for (const [name, pkg] of [['tbx-nopkg', 'tbx-nothing'], ['tbx-pip', 'tbx-hello']]) {
      const m = await other.api('POST', '/api/v2/modules', {
        body: `name: ${name}\nagent_type: custom\ninstall: {pip: ${pkg}, version: 1.0.0, bin: tbx-hello}\ncommand: ["{{bin}}"]\n`,
        headers: { 'Content-Type': 'application/yaml' },
      });
      assert.equal(m.status, 201, m.text);
      assert.equal((await other.pushTemplate(`name: ${name}\nworkspace:\n  backend: local\nagent:\n  module: ${name}\nai_task:\n  app: chat\n`)).status, 201);
    }
    const p = await other.api('POST', '/api/v2/tasks/me', { body: { template: 'tbx-nopkg', input: 'x' } });
    assert.equal(p.status, 400, p.text);
    assert.match(p.json.detail, new RegExp(`no package 'tbx-nothing' \\(${files.base.replace(/\./g, '\\.')}/simple/tbx-nothing/ answered HTTP 404\\)`));
    assert.doesNotMatch(p.text, /s3cret|alice/);
    // an install from it: the marker names the index without them
    await other.createTask({ template: 'tbx-pip', input: 'creds', name: 'creds' });
    await other.waitTask('admin', 'creds', { timeout: 120000 });
    assert.equal(fs.readFileSync(path.join(t3, 'tbx-pip', '1.0.0.installed'), 'utf8'), `pip tbx-hello==1.0.0\nindex ${files.base}/simple/\n`);
    assert.doesNotMatch(other.log, /s3cret/);
    // (--max-tasks 1) a create refused by admission probes nothing
    const m = await other.api('POST', '/api/v2/modules', {
      body: `name: tbx-never\nagent_type: custom\ninstall: {url: "${files.base}/never.tar.gz", sha256: "${tarSha}", version: "1", bin: x}\ncommand: ["{{bin}}"]\n`,
      headers: { 'Content-Type': 'application/yaml' },
    });
    assert.equal(m.status, 201, m.text);
    assert.equal((await other.pushTemplate('name: tbx-never\nworkspace:\n  backend: local\nagent:\n  module: tbx-never\nai_task:\n  app: chat\n')).status, 201);
    const n = await other.api('POST', '/api/v2/tasks/me', { body: { template: 'tbx-never', input: 'x' } });
    assert.equal(n.status, 429, n.text);
    assert.equal(files.hits.get('/never.tar.gz'), undefined, 'no probe before admission');
  } finally {
    await other.stop();
    fs.rmSync(other.data, { recursive: true, force: true });
  }
  const parent = tmpdir('taskbox-install-idx-');
  fs.chmodSync(parent, 0o755); // else its tools dir is refused first
  const r = spawnSync(bin, ['server', '--listen', '127.0.0.1:0', '--data', path.join(parent, 'data'), '--tools', path.join(parent, 'tools'),
    '--pip-index-url', 'http://pypi.example.com/simple'], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /pip ignores an http:\/\/ index that is not on loopback/);
  fs.rmSync(parent, { recursive: true, force: true });
});
