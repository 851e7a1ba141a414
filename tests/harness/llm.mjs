// llm.mjs: the project's fake LLM (fake-llm.mjs) as a child process for the
// end-to-end tests: startFakeLlm() writes the script, starts it on a free
// loopback port and resolves once it listens.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// Start fake-llm.mjs with script (an object, written to dir/script.json)
// logging requests to log; args: more of its flags (--require-key, --aws-*,
// --service-account, --usage); tls: {cert, key} of tls.mjs's makeTestCa to
// serve https; name: the script file's name when one dir holds several
// fakes. Returns {child, port, url}.
export async function startFakeLlm(script, { dir, log, args = [], tls, name = 'script.json' }) {
  const sp = path.join(dir, name);
  fs.writeFileSync(sp, JSON.stringify(script));
  const t = tls ? ['--tls-cert', tls.cert, '--tls-key', tls.key] : [];
  const child = spawn('node', [path.join(here, 'fake-llm.mjs'), '--port', '0', '--script', sp, '--log', log, ...t, ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (c) => reject(new Error(`fake LLM exited ${c}`)));
  });
  return { child, port, url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}` };
}
