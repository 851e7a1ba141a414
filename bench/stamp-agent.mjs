#!/usr/bin/env node
// stamp-agent.mjs: a terminal "agent" that timestamps its replies, for
// bench/latency.mjs.
//
// usage: node stamp-agent.mjs [DELAY_MS] [FILL_LINES]
// Prints FILL_LINES filler lines (default 0), then a "> " prompt, and
// echoes what is typed (bracketed paste markers stripped). On Enter it
// reacts at once with a visible "working..." line (a bare newline would not
// change the rendered screen, so the runtime would not see the reaction),
// then DELAY_MS later (default 250) replaces it, in a single write, with
// its reply, a stamp line and the next prompt:
//   reply N to "TEXT"
//   STAMP N T
//   >
// T is CLOCK_MONOTONIC in ms (process.hrtime) read just before that write,
// the same clock the bench reads, so the bench measures from the agent's
// write to what it sees on the API. That write is also the agent's last
// of the turn. stdout on a TTY is written synchronously by node on Linux.
// A message starting with "stream" is answered instead by streaming: a line
// "SS N I T" every 5 ms for 1 s (output never pauses for 8 ms, so the
// runtime renders at its 50 ms cap), then the prompt.
const delay = Number(process.argv[2] || 250);
const fill = Number(process.argv[3] || 0);
const mono = () => Number(process.hrtime.bigint()) / 1e6;
const out = (s) => process.stdout.write(s);

process.stdin.setRawMode(true);
process.stdin.setEncoding('utf8');

let line = '';
let busy = false;
let n = 0;

let banner = 'stamp agent\r\n';
for (let i = 0; i < fill; i++) banner += `filler line ${i}: the quick brown fox jumps over the lazy dog.\r\n`;
out(banner + '> ');

function submit() {
  const text = line.trim();
  line = '';
  if (text === '') { out('\r\n> '); return; }
  out('\r\nworking...');
  busy = true;
  const k = n++;
  if (text.startsWith('stream')) {
    let i = 0;
    const end = mono() + 1000;
    const iv = setInterval(() => {
      const t = mono();
      out(`${i === 0 ? '\r\x1b[K' : ''}SS ${k} ${i++} ${t.toFixed(3)}\r\n`);
      if (t >= end) {
        clearInterval(iv);
        busy = false;
        out(`STAMP ${k} ${mono().toFixed(3)}\r\n> `);
      }
    }, 5);
    return;
  }
  setTimeout(() => {
    busy = false;
    const t = mono();
    out(`\r\x1b[Kreply ${k} to "${text}"\r\nSTAMP ${k} ${t.toFixed(3)}\r\n> `);
  }, delay);
}

process.stdin.on('data', (data) => {
  if (busy) return;
  for (const ch of data.replace(/\x1b\[20[01]~/g, '')) {
    if (ch === '\r' || ch === '\n') { submit(); return; }
    if (ch < ' ') continue;
    line += ch;
    out(ch);
  }
});
