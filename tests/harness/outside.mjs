// outside.mjs: a host "outside" this machine, for egress and webhook tests.
//
// The server refuses every address of its own host (loopback included), so
// a test that needs something reachable puts it in a network namespace of
// its own, joined to ours by a veth pair: 10.231.N.1 on our side, the
// server's HTTP listener on 10.231.N.2 inside. That is a private address:
// only an admin's template may reach it. The listener records every
// request (method, url, headers, body) and answers `hello from outside
// URL`; failFirst makes the first N answers 503, redirect answers every
// request with a 302 to that URL. Needs root (ip netns).
import { spawn, execFileSync } from 'node:child_process';
import readline from 'node:readline';

const server = `
const http = require('node:http');
let fail = Number(process.env.FAIL_FIRST || 0);
const s = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    const failed = fail > 0;
    if (failed) fail--;
    console.log(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body, failed }));
    if (failed) { res.statusCode = 503; res.end(); return; }
    if (process.env.REDIRECT) { res.writeHead(302, { Location: process.env.REDIRECT }); res.end(); return; }
    res.end('hello from outside ' + req.url);
  });
});
s.listen(8080, process.env.ADDR, () => console.log('LISTENING'));
`;

function ip(...args) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export async function outsideHost({ failFirst = 0, redirect = '' } = {}) {
  const n = 1 + (process.pid % 200) + Math.floor(Math.random() * 50);
  const ns = `tbx-out-${process.pid}-${n}`;
  const veth = `tbxo${process.pid % 10000}${n}`.slice(0, 12);
  const local = `10.231.${n}.1`, addr = `10.231.${n}.2`;
  ip('netns', 'add', ns);
  try {
    ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'out0', 'netns', ns);
    ip('addr', 'add', `${local}/30`, 'dev', veth);
    ip('link', 'set', veth, 'up');
    ip('-n', ns, 'addr', 'add', `${addr}/30`, 'dev', 'out0');
    ip('-n', ns, 'link', 'set', 'out0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  } catch (e) {
    try { ip('link', 'del', veth); } catch { /* never made */ }
    ip('netns', 'del', ns);
    throw e;
  }
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', server], {
    env: { ...process.env, ADDR: addr, FAIL_FIRST: String(failFirst), REDIRECT: redirect },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const seen = [];
  const lines = readline.createInterface({ input: child.stdout });
  await new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`outside host exited ${code}`)));
    lines.on('line', (l) => {
      if (l === 'LISTENING') resolve();
      else seen.push(JSON.parse(l));
    });
  });
  return {
    addr, port: 8080, local, seen,
    url: `http://${addr}:8080`,
    async stop() {
      child.kill('SIGKILL');
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.on('exit', r)));
      try { ip('link', 'del', veth); } catch { /* gone with the namespace */ }
      ip('netns', 'del', ns);
    },
  };
}
