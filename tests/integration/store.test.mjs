// store.test.mjs: the store's backends themselves. The store's unit
// binary (tests/unit/test-store.c: placeholders, types, constraint
// errors, transactions, migrations once and at once, the rows of a
// schema-10 database kept through migration 11, a broken connection)
// runs against a private PostgreSQL cluster here (the unit
// tier runs it against SQLite); two servers starting at once on a new
// database migrate it once; a server on PostgreSQL keeps its state
// across a restart; a database it cannot reach fails its start at once
// with a message that names no password.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, bin, tmpdir } from '../harness/server.mjs';
import { pgDatabase, pgSql, pgBindir } from '../harness/pg.mjs';

const skip = !pgBindir() && 'PostgreSQL is not installed';
const unit = path.join(path.dirname(bin), 'tests/unit/test-store');

test('the store unit tests pass against PostgreSQL', { skip }, () => {
  assert.ok(fs.existsSync(unit), `${unit} is built`);
  const one = pgDatabase(), two = pgDatabase(), three = pgDatabase();
  const r = spawnSync(unit, [], {
    encoding: 'utf8', timeout: 120000,
    env: { ...process.env, TASKBOX_TEST_STORE_SPEC: one.uri, TASKBOX_TEST_STORE_SPEC2: two.uri, TASKBOX_TEST_STORE_SPEC3: three.uri },
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /PASSED  \] 9 test/);
  // the migrations ran once in each: one version row
  assert.equal(pgSql(two.name, 'SELECT count(*), max(version) FROM taskbox_schema').trim(), '1|13');
});

test('a server on PostgreSQL keeps its users across a restart, migrating once', { skip }, async () => {
  const db = pgDatabase();
  let s = await startServer({ args: ['--store', db.uri] });
  try {
    const bob = await s.user('bob');
    assert.ok(!fs.existsSync(path.join(s.data, 'taskbox.db')), 'no SQLite file is made');
    await s.stop();
    s = await startServer({ data: s.data, token: s.token, args: ['--store', db.uri] });
    const me = await s.api('GET', '/api/v2/users/me', { token: bob.token });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.username, 'bob');
    assert.doesNotMatch(s.log, /migrated to schema version/, 'no migration runs twice');
    assert.match(pgSql(db.name, 'SELECT username FROM users ORDER BY username'), /^admin\nbob\n$/);
  } finally {
    await s.stop();
  }
});

test('a database it cannot reach fails the start with the reason and no password', { skip }, () => {
  const data = tmpdir('taskbox-nodb-');
  const r = spawnSync(bin, ['server', '--listen', '127.0.0.1:0', '--data', data,
    '--store', `postgresql://taskbox:s3cr3t-pw@/nodb?host=${encodeURIComponent(path.join(data, 'nosock'))}`], {
    encoding: 'utf8', timeout: 30000, killSignal: 'SIGKILL',
  });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /cannot connect to the PostgreSQL database: .*nosock/);
  assert.doesNotMatch(r.stderr + r.stdout, /s3cr3t-pw/);
  assert.doesNotMatch(r.stdout, /login token/);
});

// Run `taskbox server` on its own data directory against store until it
// listens or exits; returns {listening, log} and stops it.
function serverUntilUp(store) {
  const data = tmpdir('taskbox-two-');
  const c = spawn(bin, ['server', '--listen', '127.0.0.1:0', '--data', data, '--on-exit', 'pause', '--store', store]);
  let out = '', log = '';
  return new Promise((resolve) => {
    c.stderr.on('data', (d) => { log += d; });
    c.stdout.on('data', (d) => {
      out += d;
      if (/listening on http/.test(out)) c.kill('SIGTERM');
    });
    c.on('exit', () => resolve({ listening: /listening on http/.test(out), log }));
  });
}

test('two servers starting at once on a new database migrate it once', { skip }, async () => {
  const db = pgDatabase();
  const both = await Promise.all([serverUntilUp(db.uri), serverUntilUp(db.uri)]);
  const logs = both.map((b) => b.log).join('\n');
  for (let v = 1; v <= 6; v++)
    assert.equal(logs.split(`migrated to schema version ${v}\n`).length - 1, 1, `version ${v} once:\n${logs}`);
  assert.doesNotMatch(logs, /migration \d+ failed|cannot take the migration lock/);
  assert.ok(both.some((b) => b.listening), logs);
  // (the second may lose the race to import the built-ins: that is the
  // catalog's, not the schema's) a later start finds the schema whole
  const again = await serverUntilUp(db.uri);
  assert.ok(again.listening, again.log);
  assert.doesNotMatch(again.log, /migrated/);
  assert.equal(pgSql(db.name, 'SELECT version FROM taskbox_schema').trim(), '13');
});
