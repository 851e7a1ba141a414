// presets.test.mjs: template presets (Coder's workspace presets) against a
// real server and real workspaces: `presets:` in a pushed template and its
// errors at line and column, GET /api/v2/templateversions/{id}/presets in
// Coder's shape with ids derived per version, task creation with
// template_version_preset_id or preset (the preset's parameters first, the
// request's over them, all of them in the workspace's environment), and
// `taskbox task create --preset`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startServer, tmpdir, waitFor, taskDir, exists } from '../harness/server.mjs';
import { runBin } from '../harness/runtime.mjs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const cfg = tmpdir('taskbox-presets-cfg-');
const saved = { ...process.env };
let srv;

// The template: its agent writes the parameters it got to a file.
const YAML = [
  'name: pre',
  'parameters:',
  '  - name: AI Prompt',
  '  - name: Model',
  '    default: small',
  '  - name: Depth',
  '    type: number',
  '    default: 1',
  '  - name: Fast',
  '    type: bool',
  '    default: false',
  'presets:',
  '  - name: Quick',
  '    default: true',
  '    description: a fast pass',
  '    parameters: {Model: tiny, Depth: 2, Fast: true}',
  '  - name: Deep dive',
  '    parameters:',
  '      Depth: 9',
  'agent:',
  '  module: custom',
  '  command: ["sh", "-c", "env | grep TASKBOX_PARAM_ | sort > params; exec sleep 1000"]',
  'ai_task:',
  '  app: chat',
].join('\n') + '\n';

before(async () => {
  // tasks that name no template get `pre` (the CLI's default preset)
  srv = await startServer({ args: ['--default-template', 'pre'] });
  process.env.XDG_CONFIG_HOME = cfg; // runBin inherits process.env
  process.env.TASKBOX_URL = srv.base;
  process.env.TASKBOX_TOKEN = srv.token;
  const r = await srv.pushTemplate(YAML);
  assert.equal(r.status, 201, r.text);
});

after(async () => {
  await srv?.stop();
  process.env = saved;
  fs.rmSync(cfg, { recursive: true, force: true });
});

const tb = (args) => runBin(args, { timeout: 60000 });
const template = async () => (await srv.api('GET', '/api/v2/templates/pre')).json;
const presets = (vid, token) => srv.api('GET', `/api/v2/templateversions/${vid}/presets`, { token });

// The TASKBOX_PARAM_* lines task t's agent wrote, once it wrote them.
async function paramsOf(t) {
  const file = path.join(taskDir(srv, t.id), 'home/workspace/params');
  await waitFor(() => exists(file) && fs.readFileSync(file, 'utf8').includes('MODEL'), { what: `params of ${t.name}`, timeout: 60000 });
  return fs.readFileSync(file, 'utf8');
}

// Delete a task (202 while its workspace stops, 204 when none ran).
async function del(name) {
  const r = await srv.api('DELETE', `/api/v2/tasks/admin/${name}`);
  assert.ok([202, 204].includes(r.status), r.text);
}

test('the Template JSON lists the presets with ids; the presets endpoint answers Coder\'s shape', async () => {
  const t = await template();
  assert.deepEqual(t.presets.map((p) => [p.name, p.default, p.description]), [['Quick', true, 'a fast pass'], ['Deep dive', false, '']]);
  assert.deepEqual(t.presets[0].parameters, { Model: 'tiny', Depth: 2, Fast: true });
  for (const p of t.presets) assert.match(p.id, UUID);
  assert.notEqual(t.presets[0].id, t.presets[1].id);

  const member = await srv.user('mia');
  const r = await presets(t.version_id, member.token);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, [
    {
      ID: t.presets[0].id, Name: 'Quick', Default: true, Description: 'a fast pass', Icon: '',
      Parameters: [{ Name: 'Model', Value: 'tiny' }, { Name: 'Depth', Value: '2' }, { Name: 'Fast', Value: 'true' }],
      DesiredPrebuildInstances: null,
    },
    { ID: t.presets[1].id, Name: 'Deep dive', Default: false, Description: '', Icon: '', Parameters: [{ Name: 'Depth', Value: '9' }], DesiredPrebuildInstances: null },
  ]);
  // stable across reads
  assert.deepEqual((await presets(t.version_id)).json, r.json);

  // a template without presets: []
  assert.equal((await srv.pushTemplate('name: nopre\n')).status, 201);
  const np = (await srv.api('GET', '/api/v2/templates/nopre')).json;
  assert.deepEqual(np.presets, []);
  assert.deepEqual((await presets(np.version_id)).json, []);

  // unknown versions and paths: 404 problems; a token is needed
  for (const p of ['00000000-0000-4000-8000-000000000000', 'nope']) {
    const u = await presets(p);
    assert.equal(u.status, 404, u.text);
    assert.equal(u.headers.get('content-type'), 'application/problem+json');
    assert.match(u.json.detail, /no template version/);
  }
  assert.equal((await srv.api('GET', `/api/v2/templateversions/${t.version_id}/other`)).status, 404);
  assert.equal((await srv.api('GET', '/api/v2/templateversions//presets')).status, 404);
  assert.equal((await presets(t.version_id, null)).status, 401);
});

test('bad presets: 422 with each problem at its line and column', async () => {
  const bad = [
    'name: badpre',
    'parameters:',
    '  - {name: Depth, type: number}',
    'presets:',
    '  - name: A',
    '    default: true',
    '  - name: B',
    '    default: true',
    '    parameters: {Depth: deep, Colour: red}',
    '  - name: A',
  ].join('\n') + '\n';
  const r = await srv.pushTemplate(bad);
  assert.equal(r.status, 422, r.text);
  assert.equal(r.headers.get('content-type'), 'application/problem+json');
  const at = (loc) => r.json.errors.find((e) => e.location === loc);
  assert.deepEqual([at('presets[1].default').line, at('presets[1].default').column], [8, 14]);
  assert.match(at('presets[1].default').message, /only one preset may be the default \('A' is\)/);
  assert.deepEqual([at('presets[1].parameters.Depth').line, at('presets[1].parameters.Depth').column], [9, 25]);
  assert.match(at('presets[1].parameters.Depth').message, /must be a number/);
  assert.deepEqual([at('presets[1].parameters.Colour').line, at('presets[1].parameters.Colour').column], [9, 31]);
  assert.match(at('presets[1].parameters.Colour').message, /no parameter 'Colour'/);
  assert.deepEqual([at('presets[2].name').line, at('presets[2].name').column], [10, 11]);
  assert.match(at('presets[2].name').message, /duplicate preset 'A'/);
  assert.equal(r.json.errors.length, 4);
  assert.match(r.json.detail, /line 8, column 14/);
  // nothing was stored
  assert.equal((await srv.api('GET', '/api/v2/templates/badpre')).status, 404);
});

test('a new version has new preset ids; the old version keeps its own', async () => {
  const v1 = await template();
  assert.equal((await srv.pushTemplate(`${YAML}# v2\n`)).status, 201);
  const v2 = await template();
  assert.notEqual(v2.version_id, v1.version_id);
  assert.deepEqual(v2.presets.map((p) => p.name), ['Quick', 'Deep dive']);
  for (let i = 0; i < 2; i++) {
    assert.match(v2.presets[i].id, UUID);
    assert.notEqual(v2.presets[i].id, v1.presets[i].id);
  }
  assert.deepEqual((await presets(v1.version_id)).json.map((p) => p.ID), v1.presets.map((p) => p.id));
  assert.deepEqual((await presets(v2.version_id)).json.map((p) => p.ID), v2.presets.map((p) => p.id));
});

test('create with template_version_preset_id: the preset\'s parameters reach the workspace', async () => {
  const t = await template();
  const task = await srv.createTask({ name: 'byid', input: 'x', template_version_id: t.version_id, template_version_preset_id: t.presets[0].id });
  assert.equal(task.template_version_preset_id, t.presets[0].id);
  assert.equal((await srv.task('admin', 'byid')).template_version_preset_id, t.presets[0].id);
  assert.equal(await paramsOf(task), 'TASKBOX_PARAM_DEPTH=2\nTASKBOX_PARAM_FAST=true\nTASKBOX_PARAM_MODEL=tiny\n');
  // the list carries it too
  const list = (await srv.api('GET', '/api/v2/tasks')).json.tasks;
  assert.equal(list.find((x) => x.name === 'byid').template_version_preset_id, t.presets[0].id);
  await del('byid');
});

test('create with a preset by name: the request\'s parameters win over the preset\'s', async () => {
  const t = await template();
  const task = await srv.createTask({ name: 'byname', input: 'x', template: 'pre', preset: 'Deep dive', parameters: { Model: 'large' } });
  assert.equal(task.template_version_preset_id, t.presets[1].id);
  // Depth from the preset, Model from the request, Fast the default
  assert.equal(await paramsOf(task), 'TASKBOX_PARAM_DEPTH=9\nTASKBOX_PARAM_FAST=false\nTASKBOX_PARAM_MODEL=large\n');
  await del('byname');
});

test('no preset: null; both, unknown ones and wrong types are refused, naming the version and the preset', async () => {
  const t = await template();
  const none = await srv.createTask({ name: 'nopreset', input: 'x', template: 'pre' });
  assert.equal(none.template_version_preset_id, null);
  // Coder's Go client sends the nil uuid for none
  const nil = await srv.createTask({ name: 'nilpreset', input: 'x', template: 'pre', template_version_preset_id: '00000000-0000-0000-0000-000000000000' });
  assert.equal(nil.template_version_preset_id, null);
  assert.equal(await paramsOf(nil), 'TASKBOX_PARAM_DEPTH=1\nTASKBOX_PARAM_FAST=false\nTASKBOX_PARAM_MODEL=small\n');

  const post = (body) => srv.api('POST', '/api/v2/tasks/me', { body: { input: 'x', template: 'pre', ...body } });
  const both = await post({ preset: 'Quick', template_version_preset_id: t.presets[0].id });
  assert.equal(both.status, 422, both.text);
  assert.equal(both.json.errors[0].location, 'body.preset');

  const byName = await post({ preset: 'Nope' });
  assert.equal(byName.status, 400, byName.text);
  assert.equal(byName.headers.get('content-type'), 'application/problem+json');
  assert.match(byName.json.detail, new RegExp(`template 'pre' version \\d+ \\(${t.version_id}\\) has no preset 'Nope'`));
  assert.equal(byName.json.errors[0].location, 'body.preset');

  // an id of another version's preset is unknown to this one
  assert.equal((await srv.pushTemplate(`${YAML}# v3\n`)).status, 201);
  const byId = await post({ template_version_preset_id: t.presets[0].id });
  assert.equal(byId.status, 400, byId.text);
  assert.match(byId.json.detail, new RegExp(`has no preset with id '${t.presets[0].id}'`));
  assert.equal(byId.json.errors[0].location, 'body.template_version_preset_id');
  // ... but it is one of the version it came from
  const old = await post({ template: undefined, template_version_id: t.version_id, template_version_preset_id: t.presets[0].id, name: 'oldversion' });
  assert.equal(old.status, 201, old.text);
  assert.equal(old.json.template_version_preset_id, t.presets[0].id);

  const long = await post({ preset: 'x'.repeat(10000) });
  assert.equal(long.status, 400, long.text);
  assert.ok(long.text.length < 2000, 'a long name is not echoed');
  assert.equal((await post({ preset: 3 })).status, 422);
  assert.equal((await post({ template_version_preset_id: {} })).status, 422);
  // a request parameter the template lacks is still refused under a preset
  const unknownParam = await post({ preset: 'Quick', parameters: { Colour: 'red' } });
  assert.equal(unknownParam.status, 422, unknownParam.text);
  assert.match(unknownParam.json.detail, /no parameter 'Colour'/);
  for (const n of ['nopreset', 'nilpreset', 'oldversion']) await del(n);
});

test('taskbox task create --preset NAME|none, and the default preset without it', async () => {
  const t = await template();
  const list = (await srv.api('GET', '/api/v2/templates')).json;
  assert.equal(list.default_template, 'pre');

  const help = await tb(['task', 'create', '--help']);
  assert.match(help.stdout, /--preset NAME\|none/);

  // no --template and no --preset: the default template's default preset
  const dflt = await tb(['task', 'create', '--no-wait', '--name', 'clidefault', 'x']);
  assert.equal(dflt.code, 0, dflt.stderr);
  assert.match(dflt.stdout, /default preset 'Quick'/);
  assert.equal((await srv.task('admin', 'clidefault')).template_version_preset_id, t.presets[0].id);

  const named = await tb(['task', 'create', '--no-wait', '--template', 'pre', '--preset', 'Deep dive', '--param', 'Model=cli', '--name', 'clinamed', 'x']);
  assert.equal(named.code, 0, named.stderr);
  const nt = await srv.task('admin', 'clinamed');
  assert.equal(nt.template_version_preset_id, t.presets[1].id);
  assert.equal(await paramsOf(nt), 'TASKBOX_PARAM_DEPTH=9\nTASKBOX_PARAM_FAST=false\nTASKBOX_PARAM_MODEL=cli\n');

  const none = await tb(['task', 'create', '--no-wait', '--template', 'pre', '--preset', 'none', '--name', 'clinone', 'x']);
  assert.equal(none.code, 0, none.stderr);
  assert.doesNotMatch(none.stdout, /preset/);
  assert.equal((await srv.task('admin', 'clinone')).template_version_preset_id, null);

  const unknown = await tb(['task', 'create', '--no-wait', '--template', 'pre', '--preset', 'Nope', 'x']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /template 'pre' version \d+ .* has no preset 'Nope'/);

  // a template without presets: nothing is said, nothing applied
  const plain = await tb(['task', 'create', '--no-wait', '--template', 'nopre', '--name', 'cliplain', 'x']);
  assert.notEqual(plain.code, 0); // nopre is not a Task template
  assert.doesNotMatch(plain.stdout, /preset/);
  for (const n of ['clidefault', 'clinamed', 'clinone']) await del(n);
});

test('--preset against a server that predates presets: refused before anything is created', async () => {
  // an older server: its Template JSON has no `presets`, and a create
  // body's unknown `preset` member would be ignored
  const posts = [];
  const old = http.createServer((req, res) => {
    if (req.method === 'POST') posts.push(req.url);
    const tmpl = { id: '11111111-1111-4111-8111-111111111111', name: 'pre', task_capable: true, parameters: [] };
    const body = req.url === '/api/v2/templates/pre' ? tmpl
      : req.url === '/api/v2/templates' ? { templates: [tmpl], count: 1 }
      : { id: '22222222-2222-4222-8222-222222222222', name: 'x', owner_name: 'admin', status: 'pending' };
    res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise((resolve) => old.listen(0, '127.0.0.1', resolve));
  process.env.TASKBOX_URL = `http://127.0.0.1:${old.address().port}`;
  try {
    const r = await tb(['task', 'create', '--no-wait', '--template', 'pre', '--preset', 'Quick', 'x']);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /does not know presets/);
    const dflt = await tb(['task', 'create', '--no-wait', '--preset', 'Quick', 'x']);
    assert.equal(dflt.code, 1, dflt.stdout);
    assert.match(dflt.stderr, /does not know presets/);
    assert.deepEqual(posts, [], 'nothing created');
    // without --preset (no default to apply) and with --preset none: created
    assert.equal((await tb(['task', 'create', '--no-wait', '--template', 'pre', 'x'])).code, 0);
    assert.equal((await tb(['task', 'create', '--no-wait', '--template', 'pre', '--preset', 'none', 'x'])).code, 0);
    assert.equal(posts.length, 2);
  } finally {
    process.env.TASKBOX_URL = srv.base;
    await new Promise((resolve) => old.close(resolve));
  }
});
