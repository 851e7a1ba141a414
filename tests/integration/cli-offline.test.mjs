// cli-offline.test.mjs: the client verbs where no server is needed:
// usage errors (exit 2), --help (exit 0), a missing session, and the
// message for a server that is not running.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { runBin, tmpdir } from '../harness/runtime.mjs';

const dir = tmpdir('taskbox-cli-');
const saved = { ...process.env };
let deadUrl;

// A port nothing listens on: bind one, note it, close it.
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

before(async () => {
  // runBin inherits process.env: point the session at an empty config dir.
  process.env.XDG_CONFIG_HOME = dir;
  delete process.env.TASKBOX_URL;
  delete process.env.TASKBOX_TOKEN;
  deadUrl = `http://127.0.0.1:${await freePort()}`;
});
after(() => {
  process.env = saved;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('usage', () => {
  const usageErrors = [
    ['task'],
    ['task', 'bogus'],
    ['task', 'list', '--bogus'],
    ['task', 'list', '-o', 'yaml'],
    ['task', 'list', 'extra'],
    ['task', 'status'],
    ['task', 'logs'],
    ['task', 'send'],
    ['task', 'delete'],
    ['task', 'attach'],
    ['task', 'create', '--param', 'novalue', 'hi'],
    ['task', 'create', '--timeout', 'soon', 'hi'],
    ['task', 'create', '--template'],
    ['user'],
    ['user', 'frob', 'bob'],
    ['user', 'delete'],
    ['template', 'delete'],
    ['template', 'push', '--force', 'x.yaml'],
    ['task', 'restart'],
    ['user', 'create'],
    ['token'],
    ['template'],
    ['template', 'push'],
    ['module', 'frob'],
    ['login'],
    ['login', 'a', 'b'],
    ['--url'],
  ];
  for (const args of usageErrors) {
    test(`taskbox ${args.join(' ')} exits 2 with usage`, async () => {
      const r = await runBin(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^taskbox: /);
      assert.equal(r.stdout, '');
    });
  }

  const helps = [
    ['task', '--help'], ['task', 'create', '--help'], ['task', 'list', '--help'],
    ['task', 'status', '--help'], ['task', 'logs', '--help'], ['task', 'send', '--help'],
    ['task', 'delete', '--help'], ['task', 'attach', '--help'], ['user', '--help'],
    ['token', '--help'], ['template', '--help'], ['module', '--help'], ['login', '--help'],
    ['--url', 'http://x', '--help'],
  ];
  for (const args of helps) {
    test(`taskbox ${args.join(' ')} prints usage`, async () => {
      const r = await runBin(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^usage: taskbox /);
      assert.equal(r.stderr, '');
    });
  }

  test('the top-level usage lists the client commands', async () => {
    const r = await runBin(['--help']);
    assert.equal(r.code, 0);
    for (const verb of ['login', 'task', 'template', 'module', 'user', 'token'])
      assert.match(r.stdout, new RegExp(`^  ${verb} `, 'm'));
  });
});

describe('without a server', () => {
  test('no session: asks to log in', async () => {
    const r = await runBin(['task', 'list']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'taskbox: not logged in: run `taskbox login URL`\n');
  });

  test('connection refused names the URL and the server command', async () => {
    for (const args of [
      ['--url', deadUrl, '--token', 't', 'task', 'list'],
      ['task', 'status', 'x', `--url=${deadUrl}`],
      ['--url', deadUrl, 'template', 'list'],
    ]) {
      const r = await runBin(args);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr,
        `taskbox: cannot reach the server at ${deadUrl}: is \`taskbox server\` running?\n`);
    }
  });

  test('TASKBOX_URL is used, a bare host:port gets http://', async () => {
    process.env.TASKBOX_URL = deadUrl.replace('http://', '') + '/';
    try {
      const r = await runBin(['task', 'list']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`cannot reach the server at ${deadUrl}:`));
    } finally {
      delete process.env.TASKBOX_URL;
    }
  });

  test('login against no server fails and writes no session', async () => {
    const r = await runBin(['login', deadUrl, '--token', 'secret']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach the server/);
    assert.equal(fs.existsSync(`${dir}/taskbox/session.json`), false);
  });

  test('login without a token on stdin says so', async () => {
    const r = await runBin(['login', deadUrl], { input: '' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no token given/);
  });

  test('attach refuses without a terminal', async () => {
    const r = await runBin(['--url', deadUrl, 'task', 'attach', 'x']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /stdin is not a tty/);
  });

  test('template push reports a missing file before any request', async () => {
    const r = await runBin(['--url', deadUrl, 'template', 'push', `${dir}/nope.yaml`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot open '.*nope\.yaml'/);
  });

  test('the saved session supplies the URL', async () => {
    fs.mkdirSync(`${dir}/taskbox`, { recursive: true });
    fs.writeFileSync(`${dir}/taskbox/session.json`,
      JSON.stringify({ url: 'http://127.0.0.1:1', token: 'secret' }));
    try {
      const r = await runBin(['task', 'list']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot reach the server at http:\/\/127\.0\.0\.1:1:/);
    } finally {
      fs.rmSync(`${dir}/taskbox`, { recursive: true, force: true });
    }
  });
});
