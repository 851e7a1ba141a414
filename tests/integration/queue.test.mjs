// queue.test.mjs: the send queue of a task. Input sent while the agent
// works (or starts) is queued in order on the server, bounded, persisted
// across a server restart, delivered once the agent is idle after its last
// input, visible and cancellable; a waiting dialog is answered only by an
// explicit answer. Tasks run bash as a custom agent in real workspaces.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { startServer, customTemplate, waitFor, SseClient, tmpdir, bin, storeSql, killWorkspace } from '../harness/server.mjs';
import { runBin } from '../harness/runtime.mjs';

let srv;
const servers = [];

const shell = customTemplate('qsh', ['bash', '--norc', '--noprofile', '-i'], { env: { PS1: '$ ' } });

before(async () => {
  srv = await startServer();
  servers.push(srv);
  const r = await srv.pushTemplate(shell);
  assert.equal(r.status, 201, r.text);
});

const savedEnv = { ...process.env };
after(async () => {
  // stop every server (a killed one is just awaited), then drop the data
  // directories: a task a failed test left keeps its disk image
  for (const s of servers) await s.stop();
  for (const s of servers) fs.rmSync(s.data, { recursive: true, force: true });
  process.env = savedEnv;
  fs.rmSync(cfg, { recursive: true, force: true });
});

const send = (s, name, input, token) =>
  s.api('POST', `/api/v2/tasks/admin/${name}/send`, { body: { input }, ...(token ? { token } : {}) });
const logs = async (s, name) => (await s.api('GET', `/api/v2/tasks/admin/${name}/logs`)).json;
const inputs = (l) => (l.logs ?? []).filter((e) => e.type === 'input').map((e) => e.content);
const outputs = (l) => (l.logs ?? []).filter((e) => e.type === 'output').map((e) => e.content).join('\n');

test('input sent while the agent works is queued in order and delivered after each turn', async () => {
  const prompt = 'sleep 3; echo first-done';
  await srv.createTask({ template: 'qsh', input: prompt, name: 'busy' });
  const events = new SseClient(srv.base + `/api/v2/tasks/admin/busy/events?access_token=${srv.token}`);
  await events.ready;
  // queued while still starting or working: 202 with the position
  const a = await send(srv, 'busy', 'echo q-one');
  assert.equal(a.status, 202, a.text);
  assert.equal(a.json.status, 'queued');
  assert.equal(a.json.position, 1);
  assert.match(a.json.id, /^[0-9a-f-]{36}$/);
  const b = await send(srv, 'busy', 'sleep 1; echo q-two');
  assert.equal(b.status, 202, b.text);
  assert.equal(b.json.position, 2);
  const c = await send(srv, 'busy', 'echo q-three');
  assert.equal(c.json.position, 3);
  const q = (await srv.api('GET', '/api/v2/tasks/admin/busy/queue')).json;
  assert.deepEqual(q.entries.map((e) => [e.input, e.position]),
    [['echo q-one', 1], ['sleep 1; echo q-two', 2], ['echo q-three', 3]]);
  assert.equal(q.entries[0].id, a.json.id);
  assert.ok(q.entries[0].created_at);
  await events.wait((e) => e.event === 'queue' && e.data.op === 'queued' && e.data.entry.id === c.json.id);

  await waitFor(async () => /q-three/.test(outputs(await logs(srv, 'busy'))), { what: 'the queue drained', timeout: 30000 });
  assert.deepEqual(inputs(await logs(srv, 'busy')), [prompt, 'echo q-one', 'sleep 1; echo q-two', 'echo q-three'],
    'each input once, in order');
  // each input came after the previous turn's output: input, its output, ...
  const seq = (await logs(srv, 'busy')).logs.map((e) => `${e.type}:${e.content}`);
  assert.deepEqual(seq, [`input:${prompt}`, 'output:first-done', 'input:echo q-one', 'output:q-one',
    'input:sleep 1; echo q-two', 'output:q-two', 'input:echo q-three', 'output:q-three']);
  for (const x of [a, b, c]) {
    await events.wait((e) => e.event === 'queue' && e.data.op === 'delivered' && e.data.id === x.json.id);
    await events.wait((e) => e.event === 'queue' && e.data.op === 'replied' && e.data.id === x.json.id, 30000);
  }
  const replied = events.events.find((e) => e.event === 'queue' && e.data.op === 'replied' && e.data.id === c.json.id);
  assert.match(replied.data.message, /q-three/);
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/busy/queue')).json.count, 0);

  // idle with an empty queue: delivered at once, 200
  await srv.waitTask('admin', 'busy', { state: 'idle' });
  const now = await send(srv, 'busy', 'echo at-once');
  assert.equal(now.status, 200, now.text);
  assert.equal(now.json.status, 'delivered');
  await waitFor(async () => /at-once/.test(outputs(await logs(srv, 'busy'))), { what: 'the direct send ran' });
  events.close();
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/busy')).status, 202);
});

test('the queue is bounded (429), entries can be cancelled, bad input is refused', async () => {
  await srv.createTask({ template: 'qsh', input: 'sleep 600', name: 'full' });
  const ids = [];
  for (let i = 1; i <= 32; i++) {
    const r = await send(srv, 'full', `echo n-${i}`);
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.position, i);
    ids.push(r.json.id);
  }
  const over = await send(srv, 'full', 'echo one-too-many');
  assert.equal(over.status, 429);
  assert.equal(over.headers.get('content-type'), 'application/problem+json');
  assert.match(over.json.detail, /maximum of 32/);

  const del = await srv.api('DELETE', `/api/v2/tasks/admin/full/queue/${ids[1]}`);
  assert.equal(del.status, 204, del.text);
  assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/full/queue/${ids[1]}`)).status, 404, 'gone');
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/full/queue/nope')).status, 404);
  const q = (await srv.api('GET', '/api/v2/tasks/admin/full/queue')).json;
  assert.equal(q.count, 31);
  assert.equal(q.entries[1].input, 'echo n-3');
  assert.equal(q.entries[1].position, 2, 'positions close up');
  assert.equal((await send(srv, 'full', 'echo fits-again')).status, 202);

  for (const bad of ['', '   ', ' leading', 'trailing\n', 'x'.repeat(32 * 1024 + 1)])
    assert.equal((await send(srv, 'full', bad)).status, 422, JSON.stringify(bad.slice(0, 20)));
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/full')).status, 202);
});

test('a waiting dialog is not answered by the queue, only by an explicit answer', async () => {
  // the dialog opens a while after the prompt; `2`, a valid option, is
  // queued before it opens: the queue must not answer it
  const prompt = "sleep 3; printf 'Allow the edit?\\n\\u276f 1. Yes\\n  2. No\\n'; read -r -n 1 a; printf '\\033[2J\\033[H'; echo answered-$a";
  // (the screen is cleared after the answer: a dialog left on the screen
  // would still read as open)
  await srv.createTask({ template: 'qsh', input: prompt, name: 'asker' });
  const q = await send(srv, 'asker', '2');
  assert.equal(q.status, 202, q.text);
  assert.equal(q.json.position, 1);
  const w = await srv.waitTask('admin', 'asker', { state: 'waiting', timeout: 30000 })
    .catch(async (e) => { console.log(JSON.stringify(await logs(srv, 'asker')), JSON.stringify(await srv.task('admin', 'asker'))); throw e; });
  assert.match(w.current_state.message, /Allow the edit/);
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/asker/queue')).json.count, 1, 'still queued');
  assert.doesNotMatch(outputs(await logs(srv, 'asker')), /answered-/);
  // an answer that is none of the options: 409 with the runtime's
  // reason, never queued (it would never answer anything)
  const no = await send(srv, 'asker', 'maybe later');
  assert.equal(no.status, 409, no.text);
  assert.equal(no.json.reason, 'not_an_option');
  assert.match(no.json.detail, /answer with an option number 1-2/);
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/asker/queue')).json.count, 1, 'not queued');
  // the explicit answer
  const ans = await send(srv, 'asker', '1');
  assert.equal(ans.status, 200, ans.text);
  assert.equal(ans.json.status, 'answered');
  await waitFor(async () => /answered-/.test(outputs(await logs(srv, 'asker'))), { what: 'the dialog answered', timeout: 20000 });
  const out = outputs(await logs(srv, 'asker'));
  assert.match(out, /answered-1/);
  assert.doesNotMatch(out, /answered-2/);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/asker')).status, 202);
});

test('status --watch and --until idle do not take a pause for the end of a turn', async () => {
  process.env.XDG_CONFIG_HOME = cfg;
  delete process.env.TASKBOX_URL;
  delete process.env.TASKBOX_TOKEN;
  assert.equal((await tb(['login', srv.base, '--token', srv.token])).code, 0);
  await srv.createTask({ template: 'qsh', input: 'sleep 600', name: 'pausewatch' });
  await srv.waitTask('admin', 'pausewatch', { state: 'working', timeout: 30000 });
  const w = tbSpawn(['task', 'status', '--watch', 'pausewatch']);
  const u = tbSpawn(['task', 'status', 'pausewatch', '--until', 'idle']);
  await waitFor(() => /working/.test(w.out()) && /working/.test(u.out()), { what: 'the watches printed working' });
  // the events seen by a client: never active with idle "Paused"
  const events = new SseClient(srv.base + `/api/v2/tasks/admin/pausewatch/events?access_token=${srv.token}`);
  await events.ready;
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/pausewatch/pause')).status, 200);
  const wr = await w.exited, ur = await u.exited;
  assert.equal(wr.code, 1, wr.stdout + wr.stderr);
  assert.match(wr.stderr, /paused/);
  assert.equal(ur.code, 1, ur.stdout + ur.stderr);
  assert.match(ur.stderr, /is paused, not idle/);
  await events.wait((e) => e.event === 'task' && e.data.status === 'paused');
  const bad = events.events.filter((e) => e.event === 'task' && e.data.status === 'active' && e.data.current_state?.message === 'Paused');
  assert.deepEqual(bad, []);
  events.close();
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/pausewatch')).status, 202);
});

test('the queue is the owner\'s and admins\': others get 404', async () => {
  const bob = await srv.user('qbob');
  await srv.createTask({ template: 'qsh', input: 'sleep 600', name: 'private' });
  const mine = await send(srv, 'private', 'echo secret');
  assert.equal(mine.status, 202);
  const base = '/api/v2/tasks/admin/private';
  for (const [m, p, body] of [['POST', `${base}/send`, { input: 'echo x' }], ['GET', `${base}/queue`],
    ['DELETE', `${base}/queue/${mine.json.id}`]]) {
    const r = await srv.api(m, p, { token: bob.token, body });
    assert.equal(r.status, 404, `${m} ${p}: ${r.status}`);
    assert.doesNotMatch(r.text, /secret/);
  }
  assert.equal((await srv.api('GET', `${base}/queue`)).json.count, 1, 'nothing changed');
  assert.equal((await srv.api('DELETE', base)).status, 202);
});

test('a server restart with entries queued: none lost, none delivered twice', async () => {
  const a = await startServer();
  servers.push(a);
  assert.equal((await a.pushTemplate(shell)).status, 201);
  const prompt = 'sleep 4; echo before-restart';
  await a.createTask({ template: 'qsh', input: prompt, name: 'durable' });
  const sent = [];
  for (const x of ['echo kept-1', 'echo kept-2', 'echo kept-3']) {
    const r = await send(a, 'durable', x);
    assert.equal(r.status, 202, r.text);
    sent.push(x);
  }
  await a.waitTask('admin', 'durable', { state: 'working' });
  a.child.kill('SIGKILL');
  await a.exited;
  const b = await startServer({ data: a.data, token: a.token });
  servers.push(b);
  await waitFor(async () => /kept-3/.test(outputs(await logs(b, 'durable'))), { what: 'queue delivered after the restart', timeout: 30000 });
  await b.waitTask('admin', 'durable', { state: 'idle' });
  assert.deepEqual(inputs(await logs(b, 'durable')), [prompt, ...sent]);
  assert.equal((await b.api('GET', '/api/v2/tasks/admin/durable/queue')).json.count, 0);
  assert.equal((await b.api('DELETE', '/api/v2/tasks/admin/durable')).status, 202);
});

// ---- the CLI: send [--wait], queue, status --watch [--until], resume ----

const cfg = tmpdir('taskbox-queue-cfg-');
const tb = (args, opts) => runBin(args, { timeout: 60000, ...opts });

// Start the CLI in the background: {child, out(), exited}.
function tbSpawn(args) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  return { child, out: () => stdout, exited };
}

test('CLI: send prints delivered or queued, --wait prints the reply; queue lists and cancels', async () => {
  process.env.XDG_CONFIG_HOME = cfg;
  delete process.env.TASKBOX_URL;
  delete process.env.TASKBOX_TOKEN;
  assert.equal((await tb(['login', srv.base, '--token', srv.token])).code, 0);
  await srv.createTask({ template: 'qsh', input: 'echo started', name: 'clisend' });
  await srv.waitTask('admin', 'clisend', { state: 'idle' });
  const now = await tb(['task', 'send', '--wait', 'clisend', 'echo reply-$((6*7))']);
  assert.equal(now.code, 0, now.stderr + now.stdout);
  assert.match(now.stdout, /^delivered$/m);
  assert.match(now.stdout, /^reply-42$/m, 'the reply is printed');

  // busy: queued, then delivered, then its reply
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/clisend/send', { body: { input: 'sleep 2; echo slow-done' } })).status, 200);
  const later = await tb(['task', 'send', '--wait', 'clisend', 'echo later-$((2+3))']);
  assert.equal(later.code, 0, later.stderr + later.stdout);
  assert.match(later.stdout, /^queued at position 1 \(id [0-9a-f-]{36}\)$/m);
  assert.match(later.stdout, /^later-5$/m);
  assert.doesNotMatch(later.stdout, /slow-done/, 'the reply is to this input, not the turn before');

  // without --wait; the queue verb lists and cancels
  await srv.waitTask('admin', 'clisend', { state: 'idle' });
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/clisend/send', { body: { input: 'sleep 600' } })).status, 200);
  const q = await tb(['task', 'send', 'clisend', 'echo never']);
  assert.equal(q.code, 0, q.stderr);
  const id = /queued at position 1 \(id ([0-9a-f-]{36})\)/.exec(q.stdout)?.[1];
  assert.ok(id, q.stdout);
  const list = await tb(['task', 'queue', 'clisend']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^POS\s+ID\s+QUEUED\s+INPUT/m);
  assert.match(list.stdout, new RegExp(`^1\\s+${id}\\s+.*echo never`, 'm'));
  const cancel = await tb(['task', 'queue', 'clisend', '--cancel', id]);
  assert.equal(cancel.code, 0, cancel.stderr);
  const again = await tb(['task', 'queue', 'clisend', '--cancel', id]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no queued input/);
  assert.match((await tb(['task', 'queue', 'clisend'])).stderr, /nothing queued/);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/clisend')).status, 202);
});

test('CLI: send --wait prints a dialog the agent opens instead of a reply, exit status 3', async () => {
  process.env.XDG_CONFIG_HOME = cfg;
  delete process.env.TASKBOX_URL;
  delete process.env.TASKBOX_TOKEN;
  assert.equal((await tb(['login', srv.base, '--token', srv.token])).code, 0);
  await srv.createTask({ template: 'qsh', input: 'echo started', name: 'cliask' });
  await srv.waitTask('admin', 'cliask', { state: 'idle' });
  const r = await tb(['task', 'send', '--wait', '--timeout', '30', 'cliask',
    "printf '\\033[2J\\033[HOverwrite the file?\\n\\u276f 1. Yes\\n  2. No\\n'; read -r -n 1 a; printf '\\033[2J\\033[H'; echo got-$a"]);
  assert.equal(r.code, 3, r.stderr + r.stdout);
  assert.match(r.stdout, /^delivered$/m);
  assert.match(r.stdout, /Overwrite the file\?/);
  assert.match(r.stderr, /waits on a dialog/);
  const a = await tb(['task', 'send', '--wait', '--timeout', '30', 'cliask', '2']);
  assert.equal(a.code, 0, a.stderr + a.stdout);
  assert.match(a.stdout, /^answered the dialog$/m);
  assert.match(a.stdout, /got-2/);
  // an answer followed at once by another dialog: that one is printed,
  // exit status 3 again (not a wait for a reply that cannot come)
  const two = await tb(['task', 'send', '--wait', '--timeout', '30', 'cliask',
    "printf '\\033[2J\\033[HDelete the cache?\\n\\u276f 1. Yes\\n  2. No\\n'; read -r -n 1 a; printf '\\033[2J\\033[HPush the branch?\\n\\u276f 1. Yes\\n  2. No\\n'; read -r -n 1 b; printf '\\033[2J\\033[H'; echo got-$a-$b"]);
  assert.equal(two.code, 3, two.stderr + two.stdout);
  assert.match(two.stdout, /Delete the cache\?/);
  const b1 = await tb(['task', 'send', '--wait', '--timeout', '30', 'cliask', '1']);
  assert.equal(b1.code, 3, b1.stderr + b1.stdout);
  assert.match(b1.stdout, /^answered the dialog$/m);
  assert.match(b1.stdout, /Push the branch\?/);
  const b2 = await tb(['task', 'send', '--wait', '--timeout', '30', 'cliask', '2']);
  assert.equal(b2.code, 0, b2.stderr + b2.stdout);
  assert.match(b2.stdout, /got-1-2/);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/cliask')).status, 202);
});

test('CLI: status --watch follows until the prompt\'s turn ended; --until; resume waits for the agent', async () => {
  process.env.XDG_CONFIG_HOME = cfg;
  assert.equal((await tb(['login', srv.base, '--token', srv.token])).code, 0);
  // a setup script, so the watch is there before the agent starts
  const slow = customTemplate('qslow', ['bash', '--norc', '--noprofile', '-i'], { env: { PS1: '$ ' }, setup: 'sleep 1' });
  assert.equal((await srv.pushTemplate(slow)).status, 201);
  const c = await tb(['task', 'create', '--no-wait', '--template', 'qslow', '--name', 'watched', 'sleep 2; echo watched-done']);
  assert.equal(c.code, 0, c.stderr);
  const w = await tb(['task', 'status', '--watch', 'watched']);
  assert.equal(w.code, 0, w.stderr + w.stdout);
  assert.match(outputs(await logs(srv, 'watched')), /watched-done/, 'the watch ended after the prompt ran, not before');
  assert.match(w.stdout, /active\s+idle/);

  // --until: an idle task, followed until it is paused
  const bad = await tb(['task', 'status', 'watched', '--until', 'sleepy']);
  assert.equal(bad.code, 2);
  const u = tbSpawn(['task', 'status', 'watched', '--until', 'paused']);
  await waitFor(() => /idle/.test(u.out()), { what: 'the watch printed the idle state' });
  assert.equal(u.child.exitCode, null, 'still following after idle');
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/watched/pause')).status, 200);
  const ur = await u.exited;
  assert.equal(ur.code, 0, ur.stderr);
  assert.match(ur.stdout, /paused/);

  // resume waits until the agent runs, with progress
  const r = await tb(['task', 'resume', 'watched']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /task admin\/watched is active: /);
  assert.equal((await srv.task('admin', 'watched')).status, 'active');
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/watched')).status, 202);
});

test('a server killed while it delivers an input never delivers it again (at most once)', async () => {
  // an agent that takes its first line (the prompt) and then reads the
  // next without echo and never reacts: the delivery stays in flight
  const mute = customTemplate('qmute', ['sh', '-c',
    'printf "$ "; read -r p; echo "ran $p"; stty -echo; printf "$ "; read -r q; exec sleep 1000']);
  const a = await startServer();
  servers.push(a);
  assert.equal((await a.pushTemplate(mute)).status, 201);
  await a.createTask({ template: 'qmute', input: 'hello', name: 'mute' });
  const r = await send(a, 'mute', 'echo only-once');
  assert.equal(r.status, 202, r.text);
  await waitFor(async () => (await a.api('GET', '/api/v2/tasks/admin/mute/queue')).json.entries[0]?.state === 'sending',
    { what: 'the delivery in flight', timeout: 20000 });
  a.child.kill('SIGKILL');
  await a.exited;
  const b = await startServer({ data: a.data, token: a.token });
  servers.push(b);
  assert.match(b.log, new RegExp(`queued input ${r.json.id} was being delivered when the server stopped; it is not sent again`));
  // kept until the runtime, stable again (its send gave up: the agent
  // never reacted), shows it never recorded it: failed, not sent again
  await waitFor(async () => (await b.api('GET', '/api/v2/tasks/admin/mute/queue')).json.count === 0,
    { what: 'the entry settled', timeout: 60000 });
  assert.match(b.log, new RegExp(`queued input ${r.json.id} dropped: the server restarted while delivering it; not confirmed`));
  assert.equal((await b.api('DELETE', `/api/v2/tasks/admin/mute/queue/${r.json.id}`)).status, 404);
  assert.doesNotMatch(outputs(await logs(b, 'mute')), /only-once/);
  assert.equal((await b.task('admin', 'mute')).status, 'active', 'the task itself goes on');
  assert.equal((await b.api('DELETE', '/api/v2/tasks/admin/mute')).status, 202);
});

test('queued input does not block deleting its template or owner; a stopping task refuses input', async () => {
  // a forced template delete removes its tasks' rows, queued input too
  const t = customTemplate('qgone', ['bash', '--norc', '--noprofile', '-i'], { env: { PS1: '$ ' } });
  assert.equal((await srv.pushTemplate(t)).status, 201);
  await srv.createTask({ template: 'qgone', input: 'sleep 600', name: 'qgone-task' });
  assert.equal((await send(srv, 'qgone-task', 'echo never')).status, 202);
  const r = await srv.api('DELETE', '/api/v2/templates/qgone?force=true');
  assert.equal(r.status, 204, r.text);
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/qgone-task')).status, 404);

  // a pausing task: 409, nothing queued for the stopped agent
  await srv.createTask({ template: 'qsh', input: 'sleep 600', name: 'qstopping' });
  await srv.waitTask('admin', 'qstopping', { state: 'working', timeout: 30000 });
  const pause = srv.api('POST', '/api/v2/tasks/admin/qstopping/pause');
  const during = await waitFor(async () => {
    const x = await send(srv, 'qstopping', 'echo late');
    return x.status === 409 ? x : null;
  }, { what: 'a send refused while stopping' });
  assert.match(during.json.detail, /pausing|paused/);
  assert.equal((await pause).status, 200);
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/qstopping/queue')).json.count, 0);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/qstopping')).status, 202);
});

test('a server killed while the runtime types an input settles it as delivered once the runtime recorded it', async () => {
  // the agent takes the prompt, then reads the next line unechoed after
  // a while: the delivery is in flight when the server is killed and
  // the runtime records it afterwards (or before the new server looks)
  const slow = customTemplate('qlate', ['sh', '-c',
    'printf "$ "; read -r p; echo "ran $p"; stty -echo; printf "$ "; sleep 6; read -r q; echo took-it; printf "$ "; exec sleep 1000']);
  const a = await startServer();
  servers.push(a);
  assert.equal((await a.pushTemplate(slow)).status, 201);
  await a.createTask({ template: 'qlate', input: 'hello', name: 'late' });
  const r = await send(a, 'late', 'echo typed-once');
  assert.equal(r.status, 202, r.text);
  await waitFor(async () => (await a.api('GET', '/api/v2/tasks/admin/late/queue')).json.entries[0]?.state === 'sending',
    { what: 'the delivery in flight', timeout: 20000 });
  a.child.kill('SIGKILL');
  await a.exited;
  const b = await startServer({ data: a.data, token: a.token });
  servers.push(b);
  await waitFor(() => new RegExp(`queued input ${r.json.id} was delivered before the server restarted`).test(b.log),
    { what: 'the entry settled as delivered', timeout: 40000 });
  assert.equal((await b.api('GET', '/api/v2/tasks/admin/late/queue')).json.count, 0);
  assert.doesNotMatch(b.log, /not confirmed/);
  await waitFor(async () => /took-it/.test(outputs(await logs(b, 'late'))), { what: 'the agent took it' });
  assert.deepEqual(inputs(await logs(b, 'late')), ['hello', 'echo typed-once'], 'once');
  assert.equal((await b.api('DELETE', '/api/v2/tasks/admin/late')).status, 202);
});

test('a full conversation fails the input for good: queued ones fail in turn, a direct send gets 409, send --wait exits non-zero', async () => {
  process.env.XDG_CONFIG_HOME = cfg;
  delete process.env.TASKBOX_URL;
  delete process.env.TASKBOX_TOKEN;
  assert.equal((await tb(['login', srv.base, '--token', srv.token])).code, 0);
  // the runtime's bound, lowered: the first message, the prompt and its
  // reply, one more input and its reply
  const small = customTemplate('qsmall', ['bash', '--norc', '--noprofile', '-i'],
    { env: { PS1: '$ ', TASKBOX_MAX_MESSAGES: '5' } });
  assert.equal((await srv.pushTemplate(small)).status, 201);
  await srv.createTask({ template: 'qsmall', input: 'echo started', name: 'fullconv' });
  await srv.waitTask('admin', 'fullconv', { state: 'idle' });
  const events = new SseClient(srv.base + `/api/v2/tasks/admin/fullconv/events?access_token=${srv.token}`);
  await events.ready;
  const one = await send(srv, 'fullconv', 'sleep 4; echo one-done');
  assert.equal(one.status, 200, one.text);
  const two = await send(srv, 'fullconv', 'echo two');
  assert.equal(two.status, 202, two.text);
  const w = tbSpawn(['task', 'send', '--wait', '--timeout', '120', 'fullconv', 'echo three']);
  const wr = await w.exited;
  assert.equal(wr.code, 1, wr.stdout + wr.stderr);
  assert.match(wr.stdout, /^queued at position 2/m);
  assert.match(wr.stderr, /was not delivered: the conversation holds the maximum of 5 messages/);
  const failed = await events.wait((e) => e.event === 'queue' && e.data.op === 'failed' && e.data.id === two.json.id);
  assert.equal(failed.data.code, 'conversation_full');
  assert.match(failed.data.reason, /maximum of 5 messages/);
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/fullconv/queue')).json.count, 0, 'the queue moved on');
  await srv.waitTask('admin', 'fullconv', { state: 'idle' });
  const four = await send(srv, 'fullconv', 'echo four');
  assert.equal(four.status, 409, four.text);
  assert.equal(four.json.reason, 'conversation_full');
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/fullconv/queue')).json.count, 0, 'not queued');
  assert.deepEqual(inputs(await logs(srv, 'fullconv')), ['echo started', 'sleep 4; echo one-done']);
  // two, three and the direct four, each once
  const ids = events.events.filter((e) => e.event === 'queue' && e.data.op === 'failed').map((e) => e.data.id);
  assert.equal(ids.length, 3, JSON.stringify(ids));
  assert.equal(new Set(ids).size, 3, 'each failed once');
  events.close();
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/fullconv')).status, 202);
});

test('five answers in a row: send --wait on the first stops at the next dialog; the oldest awaited reply is told lost', async () => {
  process.env.XDG_CONFIG_HOME = cfg;
  delete process.env.TASKBOX_URL;
  delete process.env.TASKBOX_TOKEN;
  assert.equal((await tb(['login', srv.base, '--token', srv.token])).code, 0);
  const prompt = "for i in 1 2 3 4 5 6; do printf '\\033[2J\\033[HQuestion %s?\\n\\u276f 1. Yes\\n  2. No\\n' $i; read -r -n 1 a; done; printf '\\033[2J\\033[H'; echo all-answered";
  await srv.createTask({ template: 'qsh', input: prompt, name: 'quiz' });
  const events = new SseClient(srv.base + `/api/v2/tasks/admin/quiz/events?access_token=${srv.token}`);
  const asking = (i) => waitFor(async () => new RegExp(`Question ${i}\\?`).test((await srv.task('admin', 'quiz')).current_state?.message ?? ''),
    { what: `question ${i}`, timeout: 30000 });
  await asking(1);
  // the CLI: an answer, then another dialog: printed, exit status 3
  const w = await tb(['task', 'send', '--wait', '--timeout', '60', 'quiz', '1']);
  assert.equal(w.code, 3, w.stdout + w.stderr);
  assert.match(w.stdout, /^answered the dialog$/m);
  assert.match(w.stdout, /Question 2\?/);
  // the server: of more than four awaited replies the oldest is told lost
  const ids = [];
  for (let i = 2; i <= 6; i++) {
    await asking(i);
    const r = await send(srv, 'quiz', '1');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'answered');
    ids.push(r.json.id);
  }
  // six answers, four kept: the CLI's and the first of the API's are lost
  const lost = await events.wait((e) => e.event === 'queue' && e.data.op === 'reply_lost' && e.data.id === ids[0]);
  assert.match(lost.data.reason, /no longer kept/);
  events.close();
  await waitFor(async () => /all-answered/.test(outputs(await logs(srv, 'quiz'))), { what: 'the quiz ended' });
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/quiz')).status, 202);
});

test('a send to a task still starting after a resume is queued (202) and delivered once the agent is ready', async () => {
  // the agent takes 2 s to start, every run
  const late = customTemplate('qlatestart', ['sh', '-c', 'sleep 2; exec bash --norc --noprofile -i'], { env: { PS1: '$ ' } });
  assert.equal((await srv.pushTemplate(late)).status, 201);
  await srv.createTask({ template: 'qlatestart', input: 'echo first-run', name: 'resumed' });
  await srv.waitTask('admin', 'resumed', { state: 'idle' });
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/resumed/pause')).status, 200);
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/resumed/resume')).status, 202);
  const r = await send(srv, 'resumed', 'echo after-resume');
  assert.equal(r.status, 202, r.text);
  assert.equal(r.json.status, 'queued');
  assert.equal(r.json.position, 1);
  await waitFor(async () => /after-resume/.test(outputs(await logs(srv, 'resumed'))),
    { what: 'delivered after the resume', timeout: 30000 });
  assert.deepEqual(inputs(await logs(srv, 'resumed')), ['echo first-run', 'echo after-resume'], 'the prompt not again, the input once');
  assert.equal((await srv.api('GET', '/api/v2/tasks/admin/resumed/queue')).json.count, 0);
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/resumed')).status, 202);
});

test('a sending entry of a task whose workspace died while the server was down fails at start, never left sending', async () => {
  // the delivery in flight, as above; then the workspace dies too
  const mute = customTemplate('qmute', ['sh', '-c',
    'printf "$ "; read -r p; echo "ran $p"; stty -echo; printf "$ "; read -r q; exec sleep 1000']);
  const a = await startServer();
  servers.push(a);
  assert.equal((await a.pushTemplate(mute)).status, 201);
  const t = await a.createTask({ template: 'qmute', input: 'hello', name: 'gone' });
  const r = await send(a, 'gone', 'echo never-typed');
  assert.equal(r.status, 202, r.text);
  await waitFor(async () => (await a.api('GET', '/api/v2/tasks/admin/gone/queue')).json.entries[0]?.state === 'sending',
    { what: 'the delivery in flight', timeout: 20000 });
  a.child.kill('SIGKILL');
  await a.exited;
  await killWorkspace(a, t.id);
  const b = await startServer({ data: a.data, token: a.token });
  servers.push(b);
  assert.equal((await b.task('admin', 'gone')).status, 'error');
  // no runtime is left to confirm it: failed, not listed as sending
  // (which no cancel could remove) until a restart or a delete
  assert.equal((await b.api('GET', '/api/v2/tasks/admin/gone/queue')).json.count, 0);
  assert.match(b.log, new RegExp(`queued input ${r.json.id} dropped: the server restarted while delivering it; not confirmed`));
  assert.equal((await b.api('DELETE', `/api/v2/tasks/admin/gone/queue/${r.json.id}`)).status, 404);
  assert.equal((await b.api('DELETE', '/api/v2/tasks/admin/gone')).status, 202);
});

test('an entry left sending by a server before migration 13 (no sent_at) is not taken for an older message of its text', async () => {
  const a = await startServer();
  servers.push(a);
  assert.equal((await a.pushTemplate(shell)).status, 201);
  const t = await a.createTask({ template: 'qsh', input: 'echo same-text', name: 'oldrow' });
  await a.waitTask('admin', 'oldrow', { state: 'idle' });
  a.child.kill('SIGKILL');
  await a.exited;
  // what an older server left: 'sending', sent_at 0 (the column's default)
  const id = '00000000-0000-4000-8000-000000000013';
  storeSql(a.data, "INSERT INTO task_queue (id, task_id, seq, input, state, created_by, created_at) VALUES (?, ?, 1, 'echo same-text', 'sending', '', 1)", id, t.id);
  const b = await startServer({ data: a.data, token: a.token });
  servers.push(b);
  await waitFor(async () => (await b.api('GET', '/api/v2/tasks/admin/oldrow/queue')).json.count === 0,
    { what: 'the entry settled', timeout: 30000 });
  // the prompt of the same text came long before: unconfirmed
  assert.match(b.log, new RegExp(`queued input ${id} dropped: the server restarted while delivering it; not confirmed`));
  assert.doesNotMatch(b.log, /was delivered before the server restarted/);
  assert.deepEqual(inputs(await logs(b, 'oldrow')), ['echo same-text']);
  assert.equal((await b.api('DELETE', '/api/v2/tasks/admin/oldrow')).status, 202);
});
