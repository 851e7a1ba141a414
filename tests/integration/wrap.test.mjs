// wrap.test.mjs: messages are the lines a program printed, not the rows
// of the terminal: a line longer than the terminal width comes back whole
// (the terminal wrapped it), two lines the program broke stay two lines,
// and output with prompt characters ('>', '$', HTML) is never taken for
// the input box. A shell loop runs as a `custom` agent in a 40-column
// terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRuntime } from '../harness/runtime.mjs';

const LONG = 'Linux host 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux';
const program = [
  'printf "ready\\n$ "',
  'while read l; do',
  `  printf "%s\\n" "${LONG}"`,
  '  printf "first line\\nsecond line\\n"',
  `  printf "%s\\n" "a > b" "<p>html</p>" "0123456789012345678901234567890123456789"`,
  '  printf "end\\n$ "',
  'done',
].join('\n');

test('soft-wrapped lines are joined, explicit newlines kept', async () => {
  const rt = await startRuntime(['--term-width', '40', '--type', 'custom'], ['sh', '-c', program]);
  try {
    await rt.waitStable();
    const r = await rt.say('go');
    assert.equal(r.status, 200, r.text);
    const m = await rt.reply();
    assert.equal(m.role, 'agent');
    assert.equal(m.content, [LONG, 'first line', 'second line', 'a > b', '<p>html</p>',
      '0123456789012345678901234567890123456789', 'end'].join('\n'));
    // the screen keeps the terminal's rows
    const screen = await new Promise((resolve, reject) => {
      fetch(rt.url('/internal/screen')).then(async (res) => {
        const reader = res.body.getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += Buffer.from(value).toString();
          const i = buf.indexOf('\n\n');
          if (i >= 0) {
            reader.cancel();
            resolve(JSON.parse(buf.slice(0, i).split('\n').find((l) => l.startsWith('data: ')).slice(6)).screen);
            return;
          }
        }
        reject(new Error('no screen event'));
      }, reject);
    });
    // the rows of the wrapped line, one a row; the lines stay apart
    const rows = screen.split('\n');
    assert.ok(rows.includes(LONG.slice(0, 40)), screen);
    assert.ok(rows.includes(LONG.slice(40)), screen);
    assert.ok(!screen.includes(LONG), screen);
    assert.ok(rows.includes('first line') && rows.includes('second line'), screen);
  } finally {
    await rt.stop();
  }
});

// A wrapped line at the top of a 10-row terminal scrolls half off while
// the program answers: the reply is what the program printed after the
// message, never the half of the old line left on screen. The program
// turns echo off, so the screen changes only by its reply.
test('a wrapped line scrolled half off the top does not leak into the reply', async () => {
  const fill = Array.from({ length: 7 }, (_, i) => `line ${i}`).join('\\n');
  const prog = [
    'stty -echo',
    `printf "%s\\n${fill}\\n$ " "${LONG}"`,
    'while read l; do printf "\\rthe reply\\n$ "; done',
  ].join('\n');
  const rt = await startRuntime(['--term-width', '40', '--term-height', '10', '--type', 'custom'],
    ['sh', '-c', prog]);
  try {
    await rt.waitStable();
    const r = await rt.say('go');
    assert.equal(r.status, 200, r.text);
    const m = await rt.reply();
    assert.equal(m.role, 'agent');
    assert.equal(m.content, 'the reply');
  } finally {
    await rt.stop();
  }
});
