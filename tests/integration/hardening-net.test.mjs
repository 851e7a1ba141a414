// hardening-net.test.mjs: nothing a member writes (egress allowlists,
// webhook URLs) reaches this host, loopback, link-local or special
// ranges; private ranges only through an admin's template.
//
// The attacks run as a member with a token of their own, against a real
// server, real sandboxes and real sockets: push-time refusals carry line
// and column and store nothing; connect-time refusals hold for names that
// resolve to this host (its hostname) and for webhooks whose name only
// resolves to loopback when they are sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns/promises';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { outsideHost } from '../harness/outside.mjs';
import { startServer, customTemplate, waitFor, sleep, taskDir, exists } from '../harness/server.mjs';

let srv, member, outside, local, localPort;
const localSeen = [];
const hostname = os.hostname().toLowerCase();

before(async () => {
  // a service on this host's loopback that nothing may reach
  local = http.createServer((req, res) => { localSeen.push(req.url); res.end('loopback secret'); });
  await new Promise((r) => local.listen(0, '127.0.0.1', r));
  localPort = local.address().port;
  outside = await outsideHost({ redirect: `http://127.0.0.1:${localPort}/redirected` });
  srv = await startServer();
  member = await srv.user('mallory');
});

after(async () => {
  await srv?.stop();
  local?.close();
  await outside?.stop();
});

function egressTemplate(name, egress, extra = []) {
  return [`name: ${name}`, 'workspace:', '  egress:', ...egress.map((e) => `    - ${JSON.stringify(e)}`),
    ...extra, 'agent:', '  module: custom', '  command: [sleep, "1000"]', 'ai_task:', '  app: chat'].join('\n') + '\n';
}

// The results file a probing task writes in its workspace, once complete.
function results(t) {
  const p = path.join(taskDir(srv, t.id), 'home/workspace/results');
  if (!exists(p)) return null;
  const text = fs.readFileSync(p, 'utf8');
  return text.includes('done=1') ? text : null;
}

test('a member cannot allow this host, loopback, link-local, special or private addresses', async () => {
  const srvPort = new URL(srv.base).port;
  const bad = [
    [`127.0.0.1:${srvPort}`, /special address/],
    ['0.0.0.0:80', /special address/],
    ['*.0.0.1', /names only/],
    ['localhost:80', /own host/],
    ['api.localhost', /own host/],
    ['169.254.169.254', /special address/],
    ['2130706433:80', /special address/],
    ['0x7f.1:22', /special address/],
    [`${outside.local}:80`, /own host/], // an address of this machine
    [`${outside.addr}:${outside.port}`, /private address/],
  ];
  for (const [entry, why] of bad) {
    const r = await srv.pushTemplate(egressTemplate('evil', ['example.com', entry]), member.token);
    assert.equal(r.status, 422, `${entry}: ${r.text}`);
    assert.match(r.headers.get('content-type'), /problem\+json/);
    const err = r.json.errors.find((e) => e.location === 'workspace.egress[1]');
    assert.ok(err, `${entry}: ${r.text}`);
    assert.equal(err.line, 5, entry);
    assert.equal(err.column, 7, entry);
    assert.match(err.message, why, entry);
  }
  const priv = await srv.pushTemplate(egressTemplate('evil', ['example.com'], ['  egress_private: true']), member.token);
  assert.equal(priv.status, 422, priv.text);
  assert.match(priv.text, /egress_private/);
  assert.equal((await srv.api('GET', '/api/v2/templates/evil')).status, 404, 'nothing was stored');

  // an admin may allow a private address, never this host
  assert.equal((await srv.pushTemplate(egressTemplate('adm-lo', [`127.0.0.1:${srvPort}`]))).status, 422);
  assert.equal((await srv.pushTemplate(egressTemplate('adm-priv', [`${outside.addr}:${outside.port}`]))).status, 201);
});

test('CONNECT to a name that resolves to this host, or to a listed address, is refused', async () => {
  const srvPort = new URL(srv.base).port;
  let resolvesHere = true;
  try { await dns.lookup(hostname); } catch { resolvesHere = false; }
  const probe = [
    // the server's own API through its hostname (allowlisted: resolves here)
    `echo "api=$(curl -sS -m 5 --noproxy '' -p -x http://127.0.0.1:3128 http://${hostname}:${srvPort}/api/v2/templates 2>&1 | head -c 300)"`,
    // numbers are never matched by wildcards, nor reached unlisted
    `echo "num=$(curl -sS -m 5 --noproxy '' -p -x http://127.0.0.1:3128 http://127.0.0.1:${localPort}/num 2>&1 | head -c 300)"`,
    `echo "v6=$(curl -sS -m 5 --noproxy '' -p -x http://127.0.0.1:3128 'http://[::1]:${localPort}/v6' 2>&1 | head -c 300)"`,
    `echo "private=$(curl -sS -m 5 --noproxy '' -p -x http://127.0.0.1:3128 http://${outside.addr}:${outside.port}/member 2>&1 | head -c 300)"`,
    'echo done=1',
  ].join('; ');
  const y = [`name: prober`, 'workspace:', '  egress:', `    - "${hostname}:${srvPort}"`, '    - "*.example.com"',
    'agent:', '  module: custom', `  command: [sh, -c, ${JSON.stringify(`(${probe}) > results 2>&1; exec sleep 1000`)}]`,
    'ai_task:', '  app: chat'].join('\n') + '\n';
  const r = await srv.pushTemplate(y, member.token);
  assert.equal(r.status, 201, r.text);
  const t = await srv.createTask({ template: 'prober', input: 'x', name: 'prober' }, { token: member.token });
  const out = await waitFor(() => results(t), { what: 'probe results', timeout: 30000 });
  if (resolvesHere) assert.match(out, /api=.*403/, out);
  assert.doesNotMatch(out, /"templates"|loopback secret/, 'nothing of this host answered');
  assert.match(out, /num=.*403/, out);
  assert.match(out, /v6=.*403/, out);
  assert.match(out, /private=.*403/, 'a member cannot reach a private address');
  assert.equal(localSeen.length, 0, 'the loopback service saw nothing');
  assert.ok(!outside.seen.some((s) => s.url === '/member'));
  if (resolvesHere) assert.match(srv.log, /CONNECT .* denied: .*(own host|special address)/);
  assert.equal((await srv.api('DELETE', `/api/v2/tasks/mallory/prober`, { token: member.token })).status, 202);
});

test('webhooks never reach this host: at set time, at send time, and not through a redirect', async () => {
  for (const url of [`http://127.0.0.1:${localPort}/`, `http://[::1]:${localPort}/`, `http://localhost:${localPort}/`,
    'http://169.254.169.254/latest/meta-data/', `http://user@0.0.0.0:${localPort}/`, `${outside.url}/private`]) {
    const r = await srv.api('PATCH', '/api/v2/users/me', { token: member.token, body: { webhook_url: url } });
    assert.equal(r.status, 422, `${url}: ${r.text}`);
  }
  const tmpl = await srv.pushTemplate(`name: hooked\nworkspace:\n  webhook: http://127.0.0.1:${localPort}/t\n`, member.token);
  assert.equal(tmpl.status, 422);
  assert.equal(tmpl.json.errors[0].line, 3);

  // a name is accepted when set (it may resolve anywhere later) but its
  // addresses are checked by the sender: this host's name is refused
  const set = await srv.api('PATCH', '/api/v2/users/me', { token: member.token,
    body: { webhook_url: `http://${hostname}:${localPort}/by-name` } });
  assert.equal(set.status, 200, set.text);
  // an admin's webhook may go to a private address, but a redirect from
  // there to loopback is not followed
  const adm = await srv.api('PATCH', '/api/v2/users/me', { body: { webhook_url: `${outside.url}/admin-hook` } });
  assert.equal(adm.status, 200, adm.text);
  const shell = ['bash', '--norc', '--noprofile', '-i'];
  assert.equal((await srv.pushTemplate(customTemplate('quick', shell, { env: { PS1: '$ ' } }), member.token)).status, 201);
  assert.equal((await srv.pushTemplate(customTemplate('quick-admin', shell, { env: { PS1: '$ ' } }))).status, 201);
  await srv.createTask({ template: 'quick', input: 'x', name: 'q1' }, { token: member.token });
  await srv.createTask({ template: 'quick-admin', input: 'x', name: 'q2' });
  await waitFor(() => outside.seen.some((s) => s.url === '/admin-hook'), { what: 'the admin webhook', timeout: 20000 });
  await waitFor(() => /webhook on .* leads to .*: refused/.test(srv.log), { what: 'the refusal', timeout: 20000 });
  await sleep(500);
  assert.equal(localSeen.length, 0, 'no webhook reached the loopback service');
  assert.doesNotMatch(srv.log, /by-name/, 'the URL is not logged');
  await srv.api('DELETE', '/api/v2/tasks/mallory/q1', { token: member.token });
  await srv.api('DELETE', '/api/v2/tasks/admin/q2');
});
