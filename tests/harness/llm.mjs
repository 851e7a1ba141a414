// llm.mjs: the project's fake LLM (fake-llm.mjs) as a child process for the
// end-to-end tests: startFakeLlm() writes the script, starts it on a free
// loopback port and resolves once it listens.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// Start fake-llm.mjs with script (an object, written to dir/script.json)
// logging requests to log; returns {child, port, url}.
export async function startFakeLlm(script, { dir, log }) {
  const sp = path.join(dir, 'script.json');
  fs.writeFileSync(sp, JSON.stringify(script));
  const child = spawn('node', [path.join(here, 'fake-llm.mjs'), '--port', '0', '--script', sp, '--log', log],
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
  return { child, port, url: `http://127.0.0.1:${port}` };
}
