// forward.test.mjs: `taskbox agent --forward`, `--ready-fd` and `--setup`:
// relays between TCP and unix sockets carrying real data (large transfers,
// backpressure, half-close, a target that is down), progress lines on an
// inherited pipe, and the setup script run before the agent starts.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  startRuntime, runBin, tmpdir, writeScript, fakeAgent, bin, sleep, waitFor,
} from '../harness/runtime.mjs';

const dir = tmpdir('taskbox-fwd-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const chat = { banner: 'Fake Agent 1.0', turns: [{ expect: 'quit', reply: 'bye', exit: 0 }] };
const agentCmd = () => ['node', fakeAgent, writeScript(dir, chat, 'chat.json')];

// The address a forward listens on, from the runtime's log.
function forwardAddr(rt, target) {
  const m = new RegExp(`forward (\\S+) -> ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`).exec(rt.stderr);
  assert.ok(m, `no forward to ${target} in the log: ${rt.stderr}`);
  const a = m[1];
  if (a.startsWith('unix:')) return { path: a.slice(5) };
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
}

// A server that sends back everything it reads and ends after the client did.
function echoServer(listenArg) {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  return new Promise((resolve) => srv.listen(listenArg, () => resolve(srv)));
}

// Connect, write data, end our side; resolves with all bytes read back.
function roundTrip(addr, data) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ ...addr, allowHalfOpen: true });
    const chunks = [];
    s.on('connect', () => s.end(data));
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => { s.destroy(); resolve(Buffer.concat(chunks)); });
    s.on('error', reject);
  });
}

function closeServer(srv) {
  return new Promise((resolve) => srv.close(() => resolve()));
}

// Spawn the runtime with a pipe on fd 3 for --ready-fd; collects stderr and
// the lines written to fd 3.
function spawnWithReady(args, cmd, { cwd } = {}) {
  const child = spawn(bin, ['agent', '--port', '0', '--ready-fd', '3', ...args, '--', ...cmd],
    { cwd, env: { ...process.env, FWD_TEST_VAR: 'from-test' }, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  const h = { child, stderr: '', ready: '' };
  child.stderr.on('data', (d) => { h.stderr += d; });
  child.stdio[3].on('data', (d) => { h.ready += d; });
  h.readyEnded = new Promise((resolve) => child.stdio[3].on('close', resolve));
  h.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return h;
}

describe('forward', () => {
  test('tcp to unix: 4 MiB both ways, intact', async () => {
    const sock = path.join(dir, 'llm.sock');
    const srv = await echoServer(sock);
    const rt = await startRuntime(['--forward', `127.0.0.1:0=${sock}`], agentCmd());
    try {
      const addr = forwardAddr(rt, sock);
      assert.equal(addr.host, '127.0.0.1');
      const data = crypto.randomBytes(4 << 20);
      const back = await roundTrip(addr, data);
      assert.equal(back.length, data.length);
      assert.ok(back.equals(data), 'echoed bytes differ');
      // several at once
      const many = await Promise.all([1, 2, 3, 4, 5].map((n) => roundTrip(addr, Buffer.alloc(n * 1000, n))));
      many.forEach((b, i) => assert.ok(b.equals(Buffer.alloc((i + 1) * 1000, i + 1))));
    } finally {
      await rt.stop();
      await closeServer(srv);
    }
  });

  test('unix to tcp: 4 MiB both ways; the socket is mode 0600 and removed on exit', async () => {
    const srv = await echoServer({ host: '127.0.0.1', port: 0 });
    const port = srv.address().port;
    const sock = path.join(dir, 'app-web.sock');
    fs.writeFileSync(sock + '.x', ''); // unrelated file next to it stays
    const rt = await startRuntime(['--forward', `unix:${sock}=tcp:127.0.0.1:${port}`], agentCmd());
    try {
      assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
      const data = crypto.randomBytes(4 << 20);
      const back = await roundTrip({ path: sock }, data);
      assert.ok(back.equals(data), 'echoed bytes differ');
    } finally {
      await rt.stop();
      await closeServer(srv);
    }
    assert.equal(fs.existsSync(sock), false);
  });

  test('a stale socket file is replaced; a regular file is not', async () => {
    const stale = path.join(dir, 'stale.sock');
    // a listener killed with SIGKILL leaves its socket file behind
    const k = spawn('node', ['-e', `require('net').createServer().listen(${JSON.stringify(stale)})`], { stdio: 'ignore' });
    await waitFor(() => fs.existsSync(stale), { what: 'stale socket' });
    k.kill('SIGKILL');
    await new Promise((r) => k.on('exit', r));
    assert.ok(fs.existsSync(stale));
    const srv = await echoServer({ host: '127.0.0.1', port: 0 });
    const rt = await startRuntime(['--forward', `${stale}=127.0.0.1:${srv.address().port}`], agentCmd());
    try {
      const back = await roundTrip({ path: stale }, Buffer.from('ping'));
      assert.equal(back.toString(), 'ping');
    } finally {
      await rt.stop();
      await closeServer(srv);
    }
    const file = path.join(dir, 'plain-file');
    fs.writeFileSync(file, 'keep me');
    const r = await runBin(['agent', '--port', '0', '--forward', `${file}=127.0.0.1:1`, '--', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /exists and is not a socket/);
    assert.equal(fs.readFileSync(file, 'utf8'), 'keep me');
  });

  test('backpressure: a target that does not read stalls the sender, nothing is lost', async () => {
    let conn;
    let received = 0;
    const hash = crypto.createHash('sha256');
    const gotAll = new Promise((resolve) => {
      const srv = net.createServer((s) => {
        conn = s;
        s.pause();
        s.on('data', (c) => { received += c.length; hash.update(c); });
        s.on('end', () => { s.end(); resolve(srv); });
      });
      srv.listen(path.join(dir, 'slow.sock'));
    });
    const sock = path.join(dir, 'slow.sock');
    await waitFor(() => fs.existsSync(sock), { what: 'slow server' });
    const rt = await startRuntime(['--forward', `127.0.0.1:0=${sock}`], agentCmd());
    try {
      const addr = forwardAddr(rt, sock);
      const data = crypto.randomBytes(32 << 20);
      const client = net.connect(addr);
      await new Promise((r) => client.on('connect', r));
      client.write(data);
      client.end();
      await waitFor(() => conn, { what: 'connection at the target' });
      await sleep(700);
      // kernel buffers plus the relay's 64 KiB cannot hold 32 MiB
      assert.equal(received, 0);
      assert.ok(client.writableLength > 0, 'the client should still be blocked');
      const before = client.writableLength;
      conn.resume();
      const srv = await gotAll;
      assert.equal(received, data.length);
      assert.equal(hash.digest('hex'), crypto.createHash('sha256').update(data).digest('hex'));
      assert.ok(before > 0);
      client.destroy();
      await closeServer(srv);
    } finally {
      await rt.stop();
    }
  });

  test('half-close: the client ends its side and still gets the reply', async () => {
    const srv = net.createServer({ allowHalfOpen: true }, (s) => {
      let n = 0;
      s.on('data', (c) => { n += c.length; });
      s.on('end', async () => { await sleep(100); s.end(`got ${n} bytes`); });
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    const sock = path.join(dir, 'half.sock');
    const rt = await startRuntime(['--forward', `${sock}=localhost:${srv.address().port}`], agentCmd());
    try {
      const back = await roundTrip({ path: sock }, Buffer.from('hello world'));
      assert.equal(back.toString(), 'got 11 bytes');
    } finally {
      await rt.stop();
      await closeServer(srv);
    }
  });

  test('target down: the connection is closed, the runtime keeps serving', async () => {
    const free = net.createServer();
    await new Promise((r) => free.listen(0, '127.0.0.1', r));
    const deadPort = free.address().port;
    await closeServer(free);
    const missing = path.join(dir, 'nobody-here.sock');
    const rt = await startRuntime([
      '--forward', `127.0.0.1:0=${missing}`,
      '--forward', `127.0.0.1:0=127.0.0.1:${deadPort}`,
    ], agentCmd());
    try {
      for (const target of [missing, `127.0.0.1:${deadPort}`]) {
        const addr = forwardAddr(rt, target);
        for (let i = 0; i < 3; i++) {
          const back = await roundTrip(addr, Buffer.from('anyone?')).catch((e) => e);
          assert.ok(back instanceof Error ? /ECONNRESET|EPIPE/.test(back.code) : back.length === 0,
            `expected a closed connection, got ${back}`);
        }
      }
      assert.equal((await rt.get('/status')).status, 200);
      assert.equal(rt.child.exitCode, null);
    } finally {
      await rt.stop();
    }
  });

  test('bad forward specs and flags are rejected with exit 2', async () => {
    const cases = [
      [['--forward', 'nope'], /bad --forward 'nope': use LISTEN=TARGET/],
      [['--forward', '127.0.0.1:4000'], /use LISTEN=TARGET/],
      [['--forward', 'example.com:80=/run/x.sock'], /numeric address or localhost/],
      [['--forward', '127.0.0.1:99999=/run/x.sock'], /port must be 0 to 65535/],
      [['--forward', '127.0.0.1:4000=127.0.0.1:0'], /port must be 1 to 65535/],
      [['--forward', '::1:4000=/run/x.sock'], /IPv6 addresses in brackets/],
      [['--forward', '127.0.0.1:4000=unix:'], /empty socket path/],
      [['--forward', `127.0.0.1:4000=/${'x'.repeat(200)}`], /socket path longer/],
      [['--forward', '[::1]:4000=[nope]:80'], /numeric address/],
      [Array.from({ length: 17 }, (_, i) => ['--forward', `127.0.0.1:${4000 + i}=/x`]).flat(), /at most 16 --forward/],
      [['--ready-fd', '99'], /--ready-fd must be an open file descriptor/],
      [['--ready-fd', 'x'], /--ready-fd must be/],
      [['--setup', '/nonexistent/setup.sh'], /cannot read setup script/],
      [['--setup-timeout', '0'], /--setup-timeout must be/],
    ];
    for (const [args, re] of cases) {
      const r = await runBin(['agent', ...args, '--', 'true']);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
    }
    // IPv6 listen spec parses (binding may fail on hosts without ::1)
    const r = await runBin(['agent', '--port', '0', '--forward', '[::1]:0=127.0.0.1:1', '--', 'true']);
    assert.notEqual(r.code, 2);
    // a listener that cannot be bound: exit 1 with the reason
    const busy = net.createServer();
    await new Promise((res) => busy.listen(0, '127.0.0.1', res));
    const r2 = await runBin(['agent', '--port', '0', '--forward', `127.0.0.1:${busy.address().port}=/x`, '--', 'true']);
    await closeServer(busy);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /cannot listen on '127\.0\.0\.1:\d+': Address already in use/);
  });
});

describe('ready fd', () => {
  test('lines in order: listening, agent PID, exit CODE; the agent does not inherit the fd', async () => {
    const h = spawnWithReady([], agentCmd());
    await waitFor(() => /agent \d+\n/.test(h.ready), { what: 'agent line' });
    const m = /^listening\nagent (\d+)\n$/.exec(h.ready);
    assert.ok(m, JSON.stringify(h.ready));
    const agentPid = Number(m[1]);
    const pipe = fs.readlinkSync(`/proc/${h.child.pid}/fd/3`);
    assert.match(pipe, /^(pipe|socket):/);
    for (const fd of fs.readdirSync(`/proc/${agentPid}/fd`)) {
      let l = '';
      try { l = fs.readlinkSync(`/proc/${agentPid}/fd/${fd}`); } catch { /* gone */ }
      assert.notEqual(l, pipe, `the agent holds the ready pipe as fd ${fd}`);
    }
    h.child.kill('SIGTERM');
    const { code } = await h.exited;
    await h.readyEnded;
    assert.equal(code, 0);
    assert.equal(h.ready, `listening\nagent ${agentPid}\nexit 0\n`);
  });

  test('a reader that went away does not kill the runtime', async () => {
    const h = spawnWithReady([], agentCmd());
    await waitFor(() => h.ready.includes('agent'), { what: 'agent line' });
    h.child.stdio[3].destroy();
    await sleep(100);
    h.child.kill('SIGTERM');
    const { code, signal } = await h.exited;
    assert.equal(signal, null);
    assert.equal(code, 0);
  });
});

describe('setup script', () => {
  test('runs before the agent in its directory and environment; output appended to the log', async () => {
    const work = fs.mkdtempSync(path.join(dir, 'work-'));
    const setup = path.join(dir, 'setup-ok.sh');
    fs.writeFileSync(setup, [
      'echo setup-stdout',
      'echo setup-stderr >&2',
      'pwd > made-by-setup',
      'printf %s "$TERM $FWD_TEST_VAR" > env-seen',
      'read -r line && echo "stdin had: $line"',
      'sleep 0.3',
    ].join('\n') + '\n');
    const log = path.join(dir, 'setup.log');
    fs.writeFileSync(log, 'earlier line\n');
    const cmd = ['sh', '-c', 'test -f made-by-setup && touch agent-saw-it; exec "$@"', 'sh', ...agentCmd()];
    const h = spawnWithReady(['--setup', setup, '--setup-log', log], cmd, { cwd: work });
    try {
      await waitFor(() => h.ready.includes('agent '), { what: 'agent line', timeout: 15000 });
      assert.match(h.ready, /^setup\nlistening\nagent \d+\n$/);
      await waitFor(() => fs.existsSync(path.join(work, 'agent-saw-it')), { what: 'agent saw the file' });
      assert.equal(fs.readFileSync(path.join(work, 'made-by-setup'), 'utf8').trim(), fs.realpathSync(work));
      assert.equal(fs.readFileSync(path.join(work, 'env-seen'), 'utf8'), 'xterm-256color from-test');
      const text = fs.readFileSync(log, 'utf8');
      assert.match(text, /^earlier line\n/);
      assert.match(text, /setup-stdout/);
      assert.match(text, /setup-stderr/);
      assert.doesNotMatch(text, /stdin had/);
    } finally {
      h.child.kill('SIGTERM');
      await h.exited;
    }
  });

  test('failure: exit 3 with the status, the agent never starts', async () => {
    const work = fs.mkdtempSync(path.join(dir, 'work-'));
    const setup = path.join(dir, 'setup-fail.sh');
    fs.writeFileSync(setup, 'echo about to fail >&2\nexit 7\n');
    const h = spawnWithReady(['--setup', setup], ['touch', path.join(work, 'agent-ran')]);
    const { code } = await h.exited;
    await h.readyEnded;
    assert.equal(code, 3);
    assert.match(h.stderr, /about to fail/);
    assert.match(h.stderr, /taskbox agent: setup script failed: exit status 7\n/);
    assert.equal(h.ready, 'setup\nexit 3\n');
    assert.equal(fs.existsSync(path.join(work, 'agent-ran')), false);
  });

  test('killed by a signal: exit 3', async () => {
    const setup = path.join(dir, 'setup-sig.sh');
    fs.writeFileSync(setup, 'kill -TERM $$\n');
    const r = await runBin(['agent', '--port', '0', '--setup', setup, '--', 'true']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /setup script failed: killed by signal 15/);
  });

  test('timeout: the whole process group is killed, exit 3', async () => {
    const work = fs.mkdtempSync(path.join(dir, 'work-'));
    const setup = path.join(dir, 'setup-slow.sh');
    fs.writeFileSync(setup, 'sleep 30 &\necho $! > bg.pid\nsleep 30\n');
    const t0 = Date.now();
    const h = spawnWithReady(['--setup', setup, '--setup-timeout', '1'], ['true'], { cwd: work });
    const { code } = await h.exited;
    const took = Date.now() - t0;
    assert.equal(code, 3);
    assert.match(h.stderr, /setup script failed: timed out after 1 s/);
    assert.ok(took >= 900 && took < 8000, `took ${took} ms`);
    const bg = Number(fs.readFileSync(path.join(work, 'bg.pid'), 'utf8'));
    await waitFor(() => {
      try {
        return /^\d+ \S+ Z/.test(fs.readFileSync(`/proc/${bg}/stat`, 'utf8'));
      } catch { return true; }
    }, { what: 'background sleep killed', timeout: 3000 });
  });

  test('SIGTERM while setup runs stops it and the runtime', async () => {
    const setup = path.join(dir, 'setup-long.sh');
    fs.writeFileSync(setup, 'sleep 30\n');
    const h = spawnWithReady(['--setup', setup], ['true']);
    await waitFor(() => h.ready.includes('setup'), { what: 'setup line' });
    h.child.kill('SIGTERM');
    const { code } = await h.exited;
    assert.equal(code, 0);
    await h.readyEnded;
    assert.equal(h.ready, 'setup\nexit 0\n');
  });

  test('forwards already work while setup runs', async () => {
    const srv = await echoServer({ host: '127.0.0.1', port: 0 });
    const sock = path.join(dir, 'during-setup.sock');
    const setup = path.join(dir, 'setup-uses-forward.sh');
    fs.writeFileSync(setup, `node -e "
      const s = require('net').connect('${sock}');
      let d = '';
      s.on('connect', () => s.end('through the forward'));
      s.on('data', (c) => d += c);
      s.on('end', () => { if (d !== 'through the forward') process.exit(1); });
    "\n`);
    const h = spawnWithReady(['--setup', setup, '--forward', `${sock}=127.0.0.1:${srv.address().port}`], agentCmd());
    try {
      await waitFor(() => h.ready.includes('agent ') || h.child.exitCode !== null, { what: 'agent line', timeout: 15000 });
      assert.match(h.ready, /^setup\nlistening\nagent \d+\n$/, h.stderr);
    } finally {
      h.child.kill('SIGTERM');
      await h.exited;
      await closeServer(srv);
    }
  });
});
