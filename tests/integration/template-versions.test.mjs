// template-versions.test.mjs: GET /api/v2/templates/{name}/versions, the
// versions of a template newest first, who pushed each, its author.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, customTemplate } from '../harness/server.mjs';

let server, alice;
before(async () => {
  server = await startServer();
  alice = await server.user('alice');
});
after(async () => { await server?.stop(); });

const push = (yaml, token) => server.api('POST', '/api/v2/templates', { token, body: yaml, headers: { 'Content-Type': 'application/yaml' } });

test('versions are listed newest first with their pushers and the author', async () => {
  const y = customTemplate('vers', ['sleep', '100']);
  assert.equal((await push(y, alice.token)).status, 201);
  assert.equal((await push(`${y}# 2\n`, alice.token)).status, 201);
  // an admin replaces it: version 3 is the admin's, the author stays alice
  assert.equal((await push(`${y}# 3\n`, server.token)).status, 201);
  const r = await server.api('GET', '/api/v2/templates/vers/versions', { token: alice.token });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.count, 3);
  assert.deepEqual(r.json.versions.map((v) => [v.version, v.created_by, v.active]), [[3, 'admin', true], [2, 'alice', false], [1, 'alice', false]]);
  assert.equal(r.json.author, 'alice');
  assert.equal(r.json.author_id, alice.id);
  assert.equal(r.json.versions[2].created_by_id, alice.id);
  for (const v of r.json.versions) {
    assert.match(v.id, /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(v.created_at)), v.created_at);
    assert.equal(v.yaml, undefined);
  }
  // the same YAML again makes no version
  assert.equal((await push(`${y}# 3\n`, server.token)).status, 201);
  assert.equal((await server.api('GET', '/api/v2/templates/vers/versions', { token: alice.token })).json.count, 3);
});

test('a built-in has no author; unknown names and paths are 404; a token is needed', async () => {
  const list = await server.api('GET', '/api/v2/templates');
  const builtin = list.json.templates.find((t) => t.builtin);
  if (builtin) {
    const r = await server.api('GET', `/api/v2/templates/${builtin.name}/versions`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.author, null);
    assert.equal(r.json.versions[0].created_by, null);
  }
  assert.equal((await server.api('GET', '/api/v2/templates/nope/versions')).status, 404);
  assert.equal((await server.api('GET', '/api/v2/templates/vers/versions/x')).status, 404);
  assert.equal((await server.api('GET', '/api/v2/templates/vers/other')).status, 404);
  assert.equal((await server.api('GET', '/api/v2/templates//versions')).status, 404);
  assert.equal((await server.api('GET', '/api/v2/templates/vers/versions', { token: null })).status, 401);
});

test('a user deleted: their versions say so (created_by null, the id kept)', async () => {
  const bob = await server.user('bob');
  assert.equal((await push(customTemplate('bobs', ['true']), bob.token)).status, 201);
  const d = await server.api('DELETE', '/api/v2/users/bob');
  assert.equal(d.status, 204, d.text);
  const r = await server.api('GET', '/api/v2/templates/bobs/versions');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.versions[0].created_by, null);
  assert.equal(r.json.author, null);
  assert.equal(r.json.author_id, bob.id);
  assert.equal(r.json.versions[0].created_by_id, bob.id);
});
