// auth-cache.test.mjs: the server keeps the rows behind tokens and
// {user} path parts in memory (auth.c); a change made through the API
// is seen by the very next request: a revoked token, a deleted user (by
// token and by name), a user made again under the same name, a changed
// profile. A role changed in the database behind the server's back is
// seen within the cache's age limit. Runs on the store TASKBOX_TEST_STORE
// names; replicas.test.mjs checks that a change on one replica reaches
// the other's cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitFor, storeSql } from '../harness/server.mjs';

let srv;

before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

const me = (token) => srv.api('GET', '/api/v2/users/me', { token });

test('a revoked token is refused by the next request', async () => {
  const alice = await srv.user('alice');
  const r = await srv.api('POST', '/api/v2/users/me/tokens', { token: alice.token, body: { name: 'laptop' } });
  assert.equal(r.status, 201, r.text);
  const laptop = r.json;
  // read twice: the second answer comes from the cache
  for (let i = 0; i < 2; i++) assert.equal((await me(laptop.token)).status, 200);
  const del = await srv.api('DELETE', `/api/v2/users/me/tokens/${laptop.id}`, { token: alice.token });
  assert.equal(del.status, 204, del.text);
  assert.equal((await me(laptop.token)).status, 401, 'the revoked token still answered');
  assert.equal((await me(alice.token)).status, 200, 'her other token lives on');
});

test('a deleted user is gone at once, by token and by name; the name can be taken again', async () => {
  const carol = await srv.user('carol');
  for (let i = 0; i < 2; i++) {
    assert.equal((await me(carol.token)).status, 200);
    assert.equal((await srv.api('GET', '/api/v2/users/carol/tokens')).status, 200);
  }
  const del = await srv.api('DELETE', '/api/v2/users/carol');
  assert.equal(del.status, 204, del.text);
  assert.equal((await me(carol.token)).status, 401, 'a deleted user\'s token still answered');
  assert.equal((await srv.api('GET', '/api/v2/users/carol/tokens')).status, 404, 'the name still found the user');
  assert.equal((await srv.api('GET', `/api/v2/users/${carol.id}/tokens`)).status, 404, 'the id still found the user');

  const again = await srv.user('carol');
  assert.notEqual(again.id, carol.id);
  const mine = await me(again.token);
  assert.equal(mine.status, 200, mine.text);
  assert.equal(mine.json.id, again.id);
  const list = await srv.api('DELETE', `/api/v2/users/carol/tokens/${carol.id}`);
  assert.equal(list.status, 404, 'the new carol is found (and has no such token)');
});

test('a changed profile shows in the next request', async () => {
  const dan = await srv.user('dan');
  assert.equal((await me(dan.token)).status, 200);
  const p = await srv.api('PATCH', '/api/v2/users/me', { token: dan.token, body: { name: 'Daniel Brown' } });
  assert.equal(p.status, 200, p.text);
  const r = await me(dan.token);
  assert.equal(r.json.name, 'Daniel Brown', r.text);
});

test('a role changed in the database is seen within the cache\'s age limit', async () => {
  const erin = await srv.user('erin');
  // a member's user list is themself alone, an admin's everyone
  const seen = async () => (await srv.api('GET', '/api/v2/users', { token: erin.token })).json.count;
  assert.equal(await seen(), 1);
  storeSql(srv.data, 'UPDATE users SET role = ? WHERE id = ?', 'admin', erin.id);
  await waitFor(async () => (await seen()) > 1, { what: 'erin an admin' });
  storeSql(srv.data, 'UPDATE users SET role = ? WHERE id = ?', 'member', erin.id);
  await waitFor(async () => (await seen()) === 1, { what: 'erin a member again' });
});
