// egress-dns.test.mjs: a task's CONNECT to a name never stalls the server.
//
// The server's resolver is pointed (TASKBOX_DNS_SERVERS) at a DNS server
// this test runs and never answers, and given a private hosts file
// (CARES_HOSTS). While a task's CONNECT to a name waits on that silent
// server, the API keeps answering; the CONNECT then fails with a clear
// error. A name the hosts file maps to loopback is still refused: the
// address policy holds for every answer. Order is asserted, never time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, customTemplate, waitFor, taskDir, exists, tmpdir } from '../harness/server.mjs';

let srv, dns;
const questions = []; // names the silent DNS server was asked for

// The name asked in a DNS query (QNAME after the 12-byte header).
function qname(msg) {
  const labels = [];
  for (let i = 12; i < msg.length && msg[i] !== 0; i += msg[i] + 1)
    labels.push(msg.subarray(i + 1, i + 1 + msg[i]).toString());
  return labels.join('.');
}

before(async () => {
  dns = dgram.createSocket('udp4');
  dns.on('message', (msg) => questions.push(qname(msg)));
  await new Promise((r) => dns.bind(0, '127.0.0.1', r));
  const dir = tmpdir('taskbox-dns-');
  const hosts = path.join(dir, 'hosts');
  fs.writeFileSync(hosts, '127.0.0.1 loopy.test\n');
  srv = await startServer({ env: {
    TASKBOX_DNS_SERVERS: `127.0.0.1:${dns.address().port}`,
    CARES_HOSTS: hosts,
  } });
});

after(async () => {
  await srv?.stop();
  dns?.close();
});

// The probe's results file, or null while it is running.
function results(t) {
  const p = path.join(taskDir(srv, t.id), 'home/workspace/results');
  return exists(p) ? fs.readFileSync(p, 'utf8') : '';
}

test('the API answers while a CONNECT waits on DNS, which then fails clearly', async () => {
  const curl = (url) => `curl -sS -m 120 --noproxy '' -p -x http://127.0.0.1:3128 ${url} 2>&1 | head -c 300`;
  const probe = [
    `echo "loopy=$(${curl('http://loopy.test:80/')})"`,
    `echo "hang=$(${curl('https://hang.test/')})"`,
    'echo done=1',
  ].join('\n');
  const y = customTemplate('dns-prober', ['sh', '-c', `(${probe}) > results 2>&1; exec sleep 1000`],
    { egress: ['loopy.test:80', 'hang.test'] });
  assert.equal((await srv.pushTemplate(y)).status, 201);
  const t = await srv.createTask({ template: 'dns-prober', input: 'x', name: 'dns' });

  // a name resolving to loopback: refused after its (hosts file) answer
  const loopy = await waitFor(() => /loopy=.*\n/.exec(results(t))?.[0], { what: 'the loopy probe', timeout: 60000 });
  assert.match(loopy, /403/, loopy);
  assert.match(srv.log, /CONNECT loopy\.test:80 denied: loopy\.test:80 leads to/);

  // the CONNECT to hang.test is waiting on the silent server ...
  await waitFor(() => questions.includes('hang.test'), { what: 'the question for hang.test', timeout: 60000 });
  // ... and the API answers meanwhile
  const list = await srv.api('GET', '/api/v2/tasks');
  assert.equal(list.status, 200, list.text);
  assert.ok(list.json.tasks.some((x) => x.id === t.id), list.text);
  assert.doesNotMatch(results(t), /hang=/, 'the CONNECT was still pending when the API answered');
  assert.doesNotMatch(srv.log, /hang\.test:443 failed/);

  // then the CONNECT fails with the reason in the log and a 502 to curl
  const out = await waitFor(() => (/done=1/.test(results(t)) ? results(t) : null), { what: 'the hang probe', timeout: 60000 });
  assert.match(out, /hang=.*502/, out);
  assert.match(srv.log, /CONNECT hang\.test:443 failed: cannot resolve 'hang\.test': /);
  assert.ok(!questions.includes('loopy.test'), 'the hosts file answered loopy.test');
  assert.equal((await srv.api('DELETE', '/api/v2/tasks/admin/dns')).status, 202);
});
