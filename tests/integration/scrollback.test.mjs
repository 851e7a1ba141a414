// scrollback.test.mjs: the runtime's screen has the agent's terminal
// height (50 rows by default); the rows that scroll off its top are kept
// as text (--scrollback, 1000 by default) and the messages read them as
// the rows of a taller screen. A reply longer than the screen arrives
// whole; one longer than the scrollback and the screen keeps its tail.
// A shell loop runs as a `custom` agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRuntime, runBin } from '../harness/runtime.mjs';

// Prints N numbered lines of turn T for each line read, then a prompt
// (the user's words are not in the reply: echo removal would take them).
function program(n) {
  return [
    'stty -echo',
    'printf "ready\\n$ "',
    't=0',
    'while read l; do',
    '  t=$((t+1)); printf "\\r"',
    `  i=0; while [ $i -lt ${n} ]; do printf "turn %d row %03d\\n" $t $i; i=$((i+1)); done`,
    '  printf "$ "',
    'done',
  ].join('\n');
}

const expected = (n, t, from = 0) =>
  Array.from({ length: n - from }, (_, i) => `turn ${t} row ${String(from + i).padStart(3, '0')}`).join('\n');

test('a reply longer than the screen arrives whole (200 lines on 80x50)', async () => {
  const rt = await startRuntime(['--term-width', '80', '--term-height', '50', '--type', 'custom'],
    ['sh', '-c', `stty size; ${program(200)}`]);
  try {
    await rt.waitStable();
    for (const [t, word] of [[1, 'alpha'], [2, 'bravo']]) {
      const r = await rt.say(word);
      assert.equal(r.status, 200, r.text);
      const m = await rt.reply();
      assert.equal(m.role, 'agent');
      assert.equal(m.content, expected(200, t));
    }
    // the agent's terminal is the screen's height, not the scrollback's
    const msgs = await rt.messages();
    assert.equal(msgs[0].content.split('\n')[0], '50 80');
  } finally {
    await rt.stop();
  }
});

test('the scrollback is bounded: a reply longer than it keeps its tail', async () => {
  // 10 rows of screen, 30 of scrollback: 40 rows of a 100-line reply
  const rt = await startRuntime(['--term-width', '80', '--term-height', '10', '--scrollback', '30',
    '--type', 'custom'], ['sh', '-c', program(100)]);
  try {
    const r = await rt.say('alpha');
    assert.equal(r.status, 200, r.text);
    const m = await rt.reply();
    const lines = m.content.split('\n');
    assert.ok(lines.length >= 35 && lines.length <= 40, m.content);
    assert.equal(m.content, expected(100, 1, 100 - lines.length));
  } finally {
    await rt.stop();
  }
});

test('--scrollback is validated', async () => {
  for (const args of [['--scrollback', '-1'], ['--scrollback', '100001'],
    ['--term-width', '1000', '--scrollback', '20000']]) {
    const r = await runBin(['agent', '--port', '0', ...args, '--', 'true']);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /scrollback/);
  }
});
