// state-message.test.mjs: a task's state message is what the agent said,
// never terminal chrome. A bash task prints a tool-style box and then its
// words; the idle state message is the words, and the task's log holds the
// whole reply. Runs a real server and a real sandbox.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, customTemplate, waitFor } from '../harness/server.mjs';

let srv;

before(async () => {
  srv = await startServer();
  const r = await srv.pushTemplate(customTemplate('sh', ['bash', '--norc', '--noprofile', '-i'], {
    env: { PS1: '$ ' },
  }));
  assert.equal(r.status, 201, r.text);
});

after(async () => { await srv?.stop(); });

test('the idle state message skips boxes and tool output', async () => {
  const input = "printf '%s\\n' '╭────────────────────╮' '│ ✓  Shell x > y     │' '╰────────────────────╯' '  ⎿  Tip: a tip' 'Done: a > b.'";
  await srv.createTask({ template: 'sh', input, name: 'chrome' });
  const t = await waitFor(async () => {
    const x = await srv.task('admin', 'chrome');
    return x.current_state?.state === 'idle' && x.current_state.message !== 'Waiting for input' ? x : null;
  }, { timeout: 30000, what: 'idle with a message' });
  assert.equal(t.current_state.message, 'Done: a > b.');
  const logs = (await srv.api('GET', '/api/v2/tasks/admin/chrome/logs')).json.logs;
  const out = logs.filter((e) => e.type === 'output').map((e) => e.content).join('\n');
  assert.match(out, /│ ✓ {2}Shell x > y/);
  assert.match(out, /Done: a > b\.$/);
});
