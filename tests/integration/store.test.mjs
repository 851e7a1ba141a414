// store.test.mjs: the store's backends themselves. The store's unit
// binary (tests/unit/test-store.c: placeholders, types, constraint
// errors, transactions, migrations once and at once, a broken
// connection) runs against a private PostgreSQL cluster here (the unit
// tier runs it against SQLite); a server on PostgreSQL keeps its state
// across a restart; a database it cannot reach fails its start at once
// with a message that names no password.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, bin, tmpdir } from '../harness/server.mjs';
import { pgDatabase, pgSql, pgBindir } from '../harness/pg.mjs';

const skip = !pgBindir() && 'PostgreSQL is not installed';
const unit = path.join(path.dirname(bin), 'tests/unit/test-store');

test('the store unit tests pass against PostgreSQL', { skip }, () => {
  assert.ok(fs.existsSync(unit), `${unit} is built`);
  const one = pgDatabase(), two = pgDatabase();
  const r = spawnSync(unit, [], {
    encoding: 'utf8', timeout: 120000,
    env: { ...process.env, TASKBOX_TEST_STORE_SPEC: one.uri, TASKBOX_TEST_STORE_SPEC2: two.uri },
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /PASSED  \] 8 test/);
  // the migrations ran once in each: one version row
  assert.equal(pgSql(two.name, 'SELECT count(*), max(version) FROM taskbox_schema').trim(), '1|6');
});

test('a server on PostgreSQL keeps users, templates and tasks across a restart', { skip }, async () => {
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
