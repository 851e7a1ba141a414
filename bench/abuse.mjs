// abuse.mjs: the API under abuse, as a new client sees it (bench/abuse.sh).
//
//   idle       REQUESTS (200) GETs of /api/v2/users/me, each on a new
//              connection from 127.0.0.1, one every PACE_MS (60) so they
//              span more than the 10 s head timeout of the attack below
//   slowloris  the same while SLOW_CONNS (600) connections from 127.0.0.2
//              send a request head a line every 400 ms (and come back a
//              second after being cut or refused)
//   fd         the same while TASKS (5) tasks each open 64 connections to
//              the LLM pass-through that the provider never answers; the
//              server runs with --max-fds MAX_FDS (1024, Debian's default
//              soft limit) so the budget is reached
// Defaults of the server otherwise (64 connections per client, 10 s head
// timeout).
import http from 'node:http';
import net from 'node:net';
import { startServer, customTemplate, waitFor, sleep } from '../tests/harness/server.mjs';

const REQUESTS = Number(process.env.REQUESTS || 200);
const SLOW = Number(process.env.SLOW_CONNS || 600);
const TASKS = Number(process.env.TASKS || 5);
const MAX_FDS = process.env.MAX_FDS || '1024';
const PACE = Number(process.env.PACE_MS || 60); // between requests: 200 span 12 s

const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };

const upstream = net.createServer((s) => { s.resume(); s.on('error', () => {}); });
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const srv = await startServer({ args: ['--max-fds', MAX_FDS,
  '--llm-url', `http://127.0.0.1:${upstream.address().port}`] });
const u = new URL(srv.base);

function one() {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: u.hostname, port: u.port, path: '/api/v2/users/me', agent: false,
      localAddress: '127.0.0.1', headers: { Authorization: `Bearer ${srv.token}` }, timeout: 10000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : Infinity));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(Infinity));
  });
}

async function measure(name) {
  const ms = [];
  for (let i = 0; i < REQUESTS; i++) {
    ms.push(await one());
    await sleep(PACE);
  }
  const failed = ms.filter((x) => x === Infinity).length;
  const f = (p) => pct(ms, p) === Infinity ? 'fail' : `${pct(ms, p).toFixed(2)} ms`;
  console.log(`${name.padEnd(34)} p50 ${f(50)}  p90 ${f(90)}  p99 ${f(99)}  failed ${failed}/${REQUESTS}`);
}

try {
  await measure('idle');

  // ---- slowloris
  let stop = false, opens = 0;
  const socks = new Set();
  const open = () => {
    if (stop || opens >= 50 * SLOW) return;
    opens++;
    const s = net.connect({ host: u.hostname, port: Number(u.port), localAddress: '127.0.0.2' });
    let timer;
    socks.add(s);
    s.on('connect', () => {
      s.write('GET /api/v2/users/me HTTP/1.1\r\nHost: x\r\n');
      timer = setInterval(() => s.write('X-Pad: y\r\n'), 400);
    });
    s.on('error', () => {});
    s.on('close', () => { clearInterval(timer); socks.delete(s); setTimeout(open, 1000); });
  };
  for (let i = 0; i < SLOW; i++) open();
  await sleep(1000);
  await measure(`during a ${SLOW}-connection slowloris`);
  stop = true;
  for (const s of socks) s.destroy();
  await sleep(200);

  // ---- fd pressure
  const js = 'const net=require("net");for(let i=0;i<64;i++){const s=net.connect(4000,"127.0.0.1");' +
    's.on("connect",()=>s.write("POST /v1/messages HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 0\\r\\n\\r\\n"));' +
    's.on("error",()=>{});}setInterval(()=>{},60000);';
  await srv.pushTemplate(customTemplate('holder', ['node', '-e', js]));
  for (let i = 0; i < TASKS; i++) await srv.createTask({ template: 'holder', input: 'x', name: `h${i}` });
  for (let i = 0; i < TASKS; i++) await srv.waitTask('admin', `h${i}`);
  await sleep(3000); // the connections are opened and refused past the budget
  const fds = (await import('node:fs')).readdirSync(`/proc/${srv.child.pid}/fd`).length;
  const m = /open files: (\d+) \((\d+) for the server, (\d+) API connections, (\d+) for tasks/.exec(srv.log);
  await measure(`during fd pressure (${TASKS}x64 LLM conns)`);
  console.log(`  server: ${fds} descriptors open of ${MAX_FDS}; budget: ${m ? `${m[2]} server, ${m[3]} API connections, ${m[4]} for tasks` : '?'}`);
  for (let i = 0; i < TASKS; i++) await srv.api('DELETE', `/api/v2/tasks/admin/h${i}`);
  await measure('after');
  const lines = srv.log.split('\n').length;
  console.log(`  server log: ${lines} lines, ${srv.log.length} bytes for the whole run ` +
    `(${opens} slowloris connections, ${TASKS * 64} LLM connections)`);
} finally {
  await srv.stop();
  upstream.close();
}
