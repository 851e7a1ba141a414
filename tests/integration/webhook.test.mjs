// webhook.test.mjs: a template's webhook gets state changes (retried
// with backoff when the receiver fails), and its idle timeout pauses the
// task, pushed back while the agent works.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { outsideHost } from '../harness/outside.mjs';
import { startServer, waitFor, sleep } from '../harness/server.mjs';

// The receiver is outside this host (the server refuses its own); the
// first delivery gets a 503. got: what it received, bodies parsed.
let srv, hook;
const got = () => hook.seen.map((g) => (g.failed ? { failed: true } : { ...g, body: JSON.parse(g.body) }));

before(async () => {
  hook = await outsideHost({ failFirst: 1 });
  srv = await startServer();
  const y = [
    'name: watched',
    'workspace:',
    `  webhook: ${hook.url}/hook`,
    '  idle_timeout: 3',
    '  env: {PS1: "$ "}',
    'agent:',
    '  module: custom',
    '  command: [bash, --norc, --noprofile, -i]',
    'ai_task:',
    '  app: chat',
  ].join('\n') + '\n';
  const r = await srv.pushTemplate(y);
  assert.equal(r.status, 201, r.text);
  assert.equal((await srv.pushTemplate('name: badhook\nworkspace:\n  webhook: ftp://x\n')).status, 422);
});

after(async () => { await srv?.stop(); await hook?.stop(); });

test('state changes reach the webhook, retried; idle timeout pauses, work pushes it back', async () => {
  // the owner's own webhook gets them too
  const bad = await srv.api('PATCH', '/api/v2/users/me', { body: { webhook_url: 'file:///etc/passwd' } });
  assert.equal(bad.status, 422);
  const me = await srv.api('PATCH', '/api/v2/users/me', { body: { webhook_url: `${hook.url}/user` } });
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.webhook_url, `${hook.url}/user`);
  await srv.createTask({ template: 'watched', input: 'echo hi', name: 'watched' });
  await srv.waitTask('admin', 'watched', { state: 'idle' });
  const ev = await waitFor(() => got().find((g) => !g.failed && g.body.state.state === 'idle'),
    { what: 'an idle webhook', timeout: 15000 });
  assert.ok(got()[0].failed, 'the first delivery failed and was retried');
  assert.equal(ev.body.event, 'task.state');
  assert.equal(ev.body.task.name, 'watched');
  assert.equal(ev.body.previous_state, 'working');
  assert.match(ev.body.link, /\/@admin\/watched\/apps\/chat\/$/);
  assert.equal(ev.headers['content-type'], 'application/json');
  await waitFor(() => got().some((g) => g.url === '/user' && g.body.state.state === 'idle'), { what: 'the user webhook' });

  // work for longer than the timeout: no pause meanwhile
  assert.equal((await srv.api('POST', '/api/v2/tasks/admin/watched/send', { body: { input: 'sleep 5; echo woke' } })).status, 200);
  await sleep(4000);
  assert.equal((await srv.task('admin', 'watched')).status, 'active', 'working pushed the idle timeout back');
  const paused = await srv.waitTask('admin', 'watched', { status: 'paused', timeout: 20000 });
  assert.equal(paused.workspace_status, 'stopped');
  await waitFor(() => got().some((g) => !g.failed && g.body.task.status === 'paused' && g.body.state.message === 'Paused'),
    { what: 'the pause webhook' });
  await srv.api('DELETE', '/api/v2/tasks/admin/watched');
});
