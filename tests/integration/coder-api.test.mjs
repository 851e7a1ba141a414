// coder-api.test.mjs: the Coder-compatible paths (docs/API.md "Coder-
// compatible paths"): the task API's twin under /api/experimental/tasks
// with Coder's wire values for current_state.state, the built-in
// organization, templates by organization and by id, template versions,
// and Coder's `message` and `validations` in every error body. A real
// server; tasks run the built-in `shell` template (bash as a custom
// agent) in real workspaces.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, customTemplate, waitFor, SseClient } from '../harness/server.mjs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const EXP = '/api/experimental/tasks';
const CODER_STATES = ['working', 'idle', 'complete', 'failed'];
const CODER_STATUSES = ['pending', 'initializing', 'active', 'paused', 'unknown', 'error'];

let srv, alice, bob;

before(async () => {
  srv = await startServer();
  alice = await srv.user('alice');
  bob = await srv.user('bob');
});

after(async () => {
  await srv.stop();
  fs.rmSync(srv.data, { recursive: true, force: true });
});

// A Coder client's call: Coder-Session-Token, as Coder's clients send it.
async function coder(method, p, { token = alice.token, body } = {}) {
  return srv.api(method, p, { token: null, body, headers: { 'Coder-Session-Token': token } });
}

// A Task as Coder's clients parse it (the action's schema), field by field.
function assertCoderTask(t, what) {
  assert.match(t.id, UUID, `${what}: id`);
  assert.ok(typeof t.name === 'string' && t.name.length > 0, `${what}: name`);
  assert.match(t.owner_id, UUID, `${what}: owner_id`);
  assert.match(t.template_id, UUID, `${what}: template_id`);
  assert.match(t.created_at, RFC3339, `${what}: created_at`);
  assert.match(t.updated_at, RFC3339, `${what}: updated_at`);
  assert.ok(CODER_STATUSES.includes(t.status), `${what}: status ${t.status}`);
  if (t.current_state !== null) {
    assert.ok(CODER_STATES.includes(t.current_state.state), `${what}: current_state.state ${t.current_state.state}`);
    assert.equal(typeof t.current_state.taskbox_state, 'string', `${what}: taskbox_state`);
  }
}

// A problem body with Coder's members.
function assertProblem(r, status, message) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type'), /^application\/problem\+json/);
  assert.equal(r.json.status, status);
  assert.equal(typeof r.json.message, 'string');
  assert.equal(r.json.message, r.json.detail, 'message is the detail');
  if (message) assert.match(r.json.message, message);
}

test('every error body carries Coder\'s message, and validations for field errors', async () => {
  // no such endpoint, no credentials, a method not allowed
  assertProblem(await srv.api('GET', '/api/v2/nothing-here'), 404, /no such endpoint/);
  const anon = await srv.api('GET', '/api/v2/organizations', { token: null });
  assertProblem(anon, 401);
  assert.equal(anon.json.validations, undefined, 'no field: no validations');
  // a field error: validations name the field
  const bad = await coder('POST', `${EXP}/me`, { body: { input: '' } });
  assertProblem(bad, 422, /input/);
  assert.deepEqual(bad.json.validations, [{ field: 'body.input', detail: bad.json.errors[0].message }]);
  // a bad query parameter
  const q = await coder('GET', '/api/v2/tasks?limit=0');
  assertProblem(q, 400, /limit/);
  assert.deepEqual(q.json.validations, [{ field: 'query.limit', detail: q.json.errors[0].message }]);
  // a template push's errors (built by api-templates.c) too
  const push = await srv.pushTemplate('name: Bad Name\n', alice.token);
  assertProblem(push, 422, /invalid/);
  assert.deepEqual(push.json.validations, [{ field: 'name', detail: push.json.errors[0].message }]);
  assert.match(push.json.validations[0].detail, /invalid name 'Bad Name'/);
});

test('the one organization, by name and by id', async () => {
  const list = await coder('GET', '/api/v2/organizations');
  assert.equal(list.status, 200, list.text);
  assert.ok(Array.isArray(list.json));
  assert.equal(list.json.length, 1);
  const org = list.json[0];
  assert.match(org.id, UUID);
  assert.equal(org.name, 'default');
  assert.equal(org.display_name, 'Default');
  assert.equal(org.description, '');
  assert.equal(org.is_default, true);
  assert.equal(org.icon, '');
  assert.match(org.created_at, RFC3339);
  assert.match(org.updated_at, RFC3339);
  for (const ref of ['default', org.id, org.id.toUpperCase()]) {
    const one = await coder('GET', `/api/v2/organizations/${ref}`);
    assert.equal(one.status, 200, `${ref}: ${one.text}`);
    assert.deepEqual(one.json, org);
  }
  assertProblem(await coder('GET', '/api/v2/organizations/acme'), 404, /organization 'acme'/);
  assertProblem(await coder('GET', '/api/v2/organizations/acme/templates/shell'), 404, /organization 'acme'/);
  assertProblem(await coder('GET', '/api/v2/organizations/default/members'), 404, /no such endpoint/);
  assertProblem(await coder('GET', '/api/v2/organizations/default/templates/shell/x'), 404, /no such endpoint/);
});

// A Template as Coder's clients parse it, plus taskbox's members.
function assertCoderTemplate(t, org, what) {
  assert.match(t.id, UUID, `${what}: id`);
  assert.equal(typeof t.name, 'string');
  assert.equal(typeof t.description, 'string');
  assert.equal(t.organization_id, org.id, `${what}: organization_id`);
  assert.equal(t.organization_name, 'default');
  assert.match(t.active_version_id, UUID, `${what}: active_version_id`);
  assert.equal(t.active_version_id, t.version_id);
  assert.match(t.created_at, RFC3339);
  assert.match(t.updated_at, RFC3339);
  assert.ok(t.updated_at >= t.created_at, `${what}: updated_at ${t.updated_at} before created_at ${t.created_at}`);
}

test('templates by organization, by name and by id; template versions', async () => {
  const org = (await coder('GET', '/api/v2/organizations/default')).json;
  const list = await coder('GET', '/api/v2/organizations/default/templates');
  assert.equal(list.status, 200, list.text);
  assert.ok(Array.isArray(list.json), 'a bare array, as Coder answers');
  const own = (await srv.api('GET', '/api/v2/templates')).json.templates;
  assert.deepEqual(list.json.map((t) => t.name), own.map((t) => t.name));
  for (const t of list.json) assertCoderTemplate(t, org, t.name);
  // taskbox's own list has the members too
  for (const t of own) assertCoderTemplate(t, org, `v2 ${t.name}`);

  const shell = await coder('GET', '/api/v2/organizations/default/templates/shell');
  assert.equal(shell.status, 200, shell.text);
  assertCoderTemplate(shell.json, org, 'shell');
  assert.equal(shell.json.name, 'shell');
  const byOrgId = await coder('GET', `/api/v2/organizations/${org.id}/templates/shell`);
  assert.deepEqual(byOrgId.json, shell.json);
  // GET /api/v2/templates/{id}: the uuid as well as the name
  const byId = await coder('GET', `/api/v2/templates/${shell.json.id}`);
  const byName = await coder('GET', '/api/v2/templates/shell');
  assert.equal(byId.status, 200, byId.text);
  assert.deepEqual(byId.json, byName.json);
  assert.equal(byId.json.active_version_id, shell.json.active_version_id);
  const missing = await coder('GET', '/api/v2/organizations/default/templates/no-such');
  assertProblem(missing, 404, /no template 'no-such'/);

  // the built-in's active version: no pusher
  const v = await coder('GET', `/api/v2/templateversions/${shell.json.active_version_id}`);
  assert.equal(v.status, 200, v.text);
  assert.equal(v.json.id, shell.json.active_version_id);
  assert.equal(v.json.template_id, shell.json.id);
  assert.equal(v.json.organization_id, org.id);
  assert.equal(v.json.name, `v${shell.json.version}`);
  assert.equal(v.json.message, '');
  assert.equal(v.json.readme, '');
  assert.deepEqual(v.json.job, { status: 'succeeded' });
  assert.equal(v.json.created_by, null);
  assert.equal(v.json.archived, false);
  assert.deepEqual(v.json.warnings, []);
  assert.match(v.json.created_at, RFC3339);
  assert.match(v.json.updated_at, RFC3339);

  // a member's template, pushed twice: the second version is the active
  // one, its pusher named, the first still readable
  const y1 = customTemplate('coder-tpl', ['bash', '--norc', '--noprofile', '-i']);
  const p1 = await srv.pushTemplate(y1, alice.token);
  assert.equal(p1.status, 201, p1.text);
  assertCoderTemplate(p1.json, org, 'push reply');
  const p2 = await srv.pushTemplate(y1.replace('agent:', 'description: second\nagent:'), alice.token);
  assert.equal(p2.status, 201, p2.text);
  assert.notEqual(p2.json.active_version_id, p1.json.active_version_id);
  const t2 = (await coder('GET', '/api/v2/organizations/default/templates/coder-tpl', { token: bob.token })).json;
  assert.equal(t2.active_version_id, p2.json.active_version_id);
  assert.equal(t2.description, 'second');
  const v2 = (await coder('GET', `/api/v2/templateversions/${t2.active_version_id}`, { token: bob.token })).json;
  assert.equal(v2.name, 'v2');
  assert.deepEqual(v2.created_by, { id: alice.id, username: 'alice' });
  const v1 = (await coder('GET', `/api/v2/templateversions/${p1.json.active_version_id}`, { token: bob.token })).json;
  assert.equal(v1.name, 'v1');
  assert.equal(v1.template_id, t2.id);

  assertProblem(await coder('GET', '/api/v2/templateversions/00000000-0000-4000-8000-000000000000'), 404,
    /no template version '00000000-0000-4000-8000-000000000000'/);
  assertProblem(await coder('GET', '/api/v2/templateversions/not-a-uuid'), 404, /no template version/);
  assertProblem(await coder('GET', `/api/v2/templateversions/${t2.active_version_id}/nothing`), 404, /no such endpoint/);
  assertProblem(await coder('GET', `/api/v2/templateversions/${t2.active_version_id}`, { token: 'nope' }), 401);
});

test('the task API under /api/experimental/tasks: create, get, list, send, pause, resume, delete', async () => {
  const tpl = (await coder('GET', '/api/v2/organizations/default/templates/shell')).json;
  const c = await coder('POST', `${EXP}/alice`, {
    body: { name: 'gh-1', template_version_id: tpl.active_version_id, input: 'echo first-$((6*7))' },
  });
  assert.equal(c.status, 201, c.text);
  assertCoderTask(c.json, 'create reply');
  assert.equal(c.json.name, 'gh-1');
  assert.equal(c.json.owner_id, alice.id);
  assert.equal(c.json.template_id, tpl.id);
  const id = c.json.id;

  // by id and by name; the same task on taskbox's path
  const a = await coder('GET', `${EXP}/alice/${id}`);
  assert.equal(a.status, 200, a.text);
  assertCoderTask(a.json, 'get by id');
  const b = await coder('GET', `${EXP}/alice/gh-1`);
  assert.equal(b.json.id, id);
  assert.equal((await coder('GET', `/api/v2/tasks/alice/${id}`)).json.name, 'gh-1');

  // the list the action reads (q=owner:NAME)
  const l = await coder('GET', `${EXP}?q=${encodeURIComponent('owner:alice')}`);
  assert.equal(l.status, 200, l.text);
  assert.ok(Array.isArray(l.json.tasks));
  assert.deepEqual(l.json.tasks.map((t) => t.name), ['gh-1']);
  for (const t of l.json.tasks) assertCoderTask(t, 'list');
  const all = await coder('GET', EXP);
  assert.deepEqual(all.json.tasks.map((t) => t.id), [id]);

  // active and idle, as the action waits for before sending
  await waitFor(async () => {
    const t = (await coder('GET', `${EXP}/alice/${id}`)).json;
    return t.status === 'active' && t.current_state?.state === 'idle';
  }, { timeout: 60000, what: 'gh-1 active and idle on the experimental path' });
  const idle = (await coder('GET', `${EXP}/alice/${id}`)).json;
  assert.equal(idle.current_state.taskbox_state, 'idle');

  const s = await coder('POST', `${EXP}/alice/${id}/send`, { body: { input: 'echo second-$((7*8))' } });
  assert.ok(s.status >= 200 && s.status < 300, s.text);
  await waitFor(async () => {
    const logs = (await coder('GET', `${EXP}/alice/${id}/logs`)).json;
    return (logs.logs ?? []).some((e) => e.type === 'output' && /second-56/.test(e.content));
  }, { timeout: 30000, what: 'the sent input ran' });

  // someone else's task does not exist on these paths either
  for (const [m, p, body] of [
    ['GET', `${EXP}/alice/${id}`],
    ['GET', `${EXP}/alice/gh-1`],
    ['POST', `${EXP}/alice/${id}/send`, { input: 'echo nope' }],
    ['POST', `${EXP}/alice/${id}/pause`],
    ['DELETE', `${EXP}/alice/${id}`],
  ])
    assertProblem(await coder(m, p, { token: bob.token, body }), 404, /no task/);
  assert.deepEqual((await coder('GET', `${EXP}?q=owner:alice`, { token: bob.token })).json.tasks, []);
  assertProblem(await coder('POST', `${EXP}/alice`, {
    token: bob.token, body: { name: 'gh-2', template_version_id: tpl.active_version_id, input: 'x' },
  }), 403);

  // pause and resume
  const pz = await coder('POST', `${EXP}/alice/${id}/pause`);
  assert.equal(pz.status, 200, pz.text);
  await waitFor(async () => (await coder('GET', `${EXP}/alice/${id}`)).json.status === 'paused',
    { timeout: 30000, what: 'paused' });
  const rs = await coder('POST', `${EXP}/alice/${id}/resume`);
  assert.ok(rs.status >= 200 && rs.status < 300, rs.text);
  await waitFor(async () => (await coder('GET', `${EXP}/alice/${id}`)).json.status === 'active',
    { timeout: 60000, what: 'active again' });

  // a method the twin does not have, and delete
  assertProblem(await coder('PUT', `${EXP}/alice/${id}`), 405);
  const d = await coder('DELETE', `${EXP}/alice/${id}`);
  assert.equal(d.status, 202, d.text);
  await waitFor(async () => (await coder('GET', `${EXP}/alice/${id}`)).status === 404,
    { timeout: 30000, what: 'gone' });
  assertProblem(await coder('GET', `${EXP}/alice/${id}`), 404, /no task 'alice\//);
});

test('a failed task reads failed on Coder\'s path and failure on taskbox\'s; a dialog reads idle', async () => {
  const r = await srv.pushTemplate(customTemplate('coder-bad', ['bash'], { setup: 'echo cannot clone >&2\nexit 3' }), alice.token);
  assert.equal(r.status, 201, r.text);
  const c = await coder('POST', `${EXP}/me`, { body: { template: 'coder-bad', name: 'broken', input: 'x' } });
  assert.equal(c.status, 201, c.text);
  const v2 = await srv.waitTask('alice', 'broken', { status: 'error', token: alice.token });
  assert.equal(v2.current_state.state, 'failure');
  assert.equal(v2.current_state.taskbox_state, undefined, 'taskbox\'s path is unchanged');
  const exp = (await coder('GET', `${EXP}/alice/broken`)).json;
  assertCoderTask(exp, 'failed task');
  assert.equal(exp.status, 'error');
  assert.equal(exp.current_state.state, 'failed');
  assert.equal(exp.current_state.taskbox_state, 'failure');
  assert.equal(exp.current_state.message, v2.current_state.message);
  const l = (await coder('GET', `${EXP}?q=owner:alice`)).json.tasks.find((t) => t.name === 'broken');
  assert.equal(l.current_state.state, 'failed');
  const l2 = (await coder('GET', '/api/v2/tasks?q=owner:alice')).json.tasks.find((t) => t.name === 'broken');
  assert.equal(l2.current_state.state, 'failure');
  // the task's SSE: Coder's values on Coder's path only
  const ev = new SseClient(srv.base + `${EXP}/alice/broken/events`, { 'Coder-Session-Token': alice.token });
  const ev2 = new SseClient(srv.base + '/api/v2/tasks/alice/broken/events', { 'Coder-Session-Token': alice.token });
  const first = await ev.wait((e) => e.event === 'task');
  const first2 = await ev2.wait((e) => e.event === 'task');
  ev.close();
  ev2.close();
  assert.equal(first.data.current_state.state, 'failed');
  assert.equal(first2.data.current_state.state, 'failure');
  assert.equal((await coder('DELETE', `${EXP}/alice/broken`)).status, 202);

  // a dialog the agent waits on: idle for Coder, waiting kept beside
  const prompt = "printf 'Allow the edit?\\n\\u276f 1. Yes\\n  2. No\\n'; read -r -n 1 a; echo answered-$a";
  assert.equal((await coder('POST', `${EXP}/me`, { body: { template: 'shell', name: 'asker', input: prompt } })).status, 201);
  const ex = new SseClient(srv.base + `${EXP}/alice/asker/events`, { 'Coder-Session-Token': alice.token });
  await ex.ready;
  await srv.waitTask('alice', 'asker', { state: 'waiting', timeout: 60000, token: alice.token });
  const w = (await coder('GET', `${EXP}/alice/asker`)).json;
  assert.equal(w.current_state.state, 'idle');
  assert.equal(w.current_state.taskbox_state, 'waiting');
  assert.match(w.current_state.message, /Allow the edit/);
  // the change pushed on Coder's stream has Coder's value too
  const pushed = await ex.wait((e) => e.event === 'task' && e.data.current_state?.taskbox_state === 'waiting', 30000);
  assert.equal(pushed.data.current_state.state, 'idle');
  for (const e of ex.events.filter((x) => x.event === 'task'))
    assertCoderTask(e.data, 'an SSE task event');
  ex.close();
  assert.equal((await coder('DELETE', `${EXP}/alice/asker`)).status, 202);
});
