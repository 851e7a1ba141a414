#!/usr/bin/env node
// fake-agent.mjs: a scripted terminal "agent" for the runtime's tests.
//
// It behaves like a small inline TUI: prints a "> " prompt, echoes what is
// typed (bracketed paste markers stripped), and on Enter answers with the
// next scripted reply after a "thinking" spinner. It asks the terminal for
// DA and CPR at start and reports whether the answers came, so tests see
// that terminal queries are answered.
//
// usage: node fake-agent.mjs SCRIPT.json
//   "size?" prints the terminal size; "spawn" starts `sleep 1000` as a child.
// script: {"banner": "text", "turns": [{"expect": "substring", "think_ms": 300,
//          "reply": "text", "dialog": {"question": "...", "options": ["Yes","No"]},
//          "exit": 3}], "default_reply": "..."}
// A turn with "expect" is used when the typed line contains it; turns are
// otherwise taken in order. A dialog turn shows a numbered menu after the
// spinner and waits for a digit or Enter before replying.
// "mcp": {"command": [...], "after_ms": N, "list": true}: N ms after the
// start (its prompt shows at start_delay_ms) the agent starts that MCP
// server on stdio, initializes it and, unless list is false, lists its
// tools, as Claude Code does with the servers in its config. Every line
// submitted is then answered first with "tools at input: NAMES" (or
// "none" while the list has not come).
import { spawn } from 'node:child_process';
import fs from 'node:fs';

const script = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const out = (s) => process.stdout.write(s);
const turns = script.turns || [];
let next = 0;
let line = '';
let state = 'starting'; // starting | prompt | busy | dialog
let dialog = null;
let answers = '';
let thinking = null; // the running spinner: {iv, timer}

let mcpTools = null; // the names tools/list gave, once it answered

process.stdin.setRawMode(true);
process.stdin.setEncoding('utf8');

// Start the script's MCP server and talk to it (see "mcp" above).
function startMcp(cfg) {
  const c = spawn(cfg.command[0], cfg.command.slice(1), { stdio: ['pipe', 'pipe', 'ignore'] });
  const send = (m) => c.stdin.write(JSON.stringify(m) + '\n');
  let buf = '';
  c.stdout.setEncoding('utf8');
  c.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      if (msg.id === 1) {
        send({ jsonrpc: '2.0', method: 'notifications/initialized' });
        if (cfg.list !== false) send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
      } else if (msg.id === 2) {
        mcpTools = msg.result.tools.map((t) => t.name);
      }
    }
  });
  c.stdin.on('error', () => {});
  send({ jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fake-agent', version: '1' } } });
}
if (script.mcp) setTimeout(() => startMcp(script.mcp), script.mcp.after_ms ?? 0);

function prompt() {
  state = 'prompt';
  line = '';
  out('> ');
}

function pickTurn(text) {
  const i = turns.findIndex((t, k) => k >= next && t.expect && text.includes(t.expect));
  if (i >= 0) { next = i + 1; return turns[i]; }
  while (next < turns.length && turns[next].expect && !text.includes(turns[next].expect)) next++;
  if (next < turns.length && !turns[next].expect) return turns[next++];
  return { reply: script.default_reply ?? `unexpected input: ${text}` };
}

function printReply(text) {
  out(text.split('\n').join('\r\n') + '\r\n');
}

function spinner(ms, done) {
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let f = 0;
  const draw = () => out(`\r\x1b[K${frames[f++ % frames.length]} Thinking… (esc to interrupt)`);
  draw();
  const iv = setInterval(draw, 100);
  const timer = setTimeout(() => { stopThinking(); done(); }, ms);
  thinking = { iv, timer };
}

function stopThinking() {
  if (!thinking) return;
  clearInterval(thinking.iv);
  clearTimeout(thinking.timer);
  thinking = null;
  out('\r\x1b[K');
}

function showDialog(turn) {
  state = 'dialog';
  dialog = { turn, selected: 0 };
  drawDialog(false);
}

function drawDialog(redraw) {
  const { turn, selected } = dialog;
  const opts = turn.dialog.options;
  if (redraw) out(`\x1b[${opts.length + 1}A\r\x1b[J`);
  out(`${turn.dialog.question}\r\n`);
  opts.forEach((o, i) => out(`${i === selected ? '❯' : ' '} ${i + 1}. ${o}\r\n`));
}

function answerDialog(index) {
  const { turn } = dialog;
  const opts = turn.dialog.options;
  out(`\x1b[${opts.length + 1}A\r\x1b[J`);
  out(`You chose: ${opts[index]}\r\n`);
  dialog = null;
  finishTurn(turn);
}

function finishTurn(turn) {
  if (turn.reply !== undefined) printReply(turn.reply);
  if (turn.exit !== undefined) {
    process.stdin.setRawMode(false);
    process.exit(turn.exit);
  }
  prompt();
}

async function submit() {
  const text = line.trim();
  out('\r\n');
  if (text === '') { prompt(); return; }
  if (text === 'size?') { // report the terminal size (resize tests)
    printReply(`size ${process.stdout.columns}x${process.stdout.rows}`);
    prompt();
    return;
  }
  if (text === 'spawn') { // leave a child in our process group
    const { spawn } = await import('node:child_process');
    const c = spawn('sleep', ['1000'], { stdio: 'ignore' });
    printReply(`child ${c.pid}`);
    prompt();
    return;
  }
  if (script.mcp) printReply(`tools at input: ${mcpTools ? mcpTools.join(',') : 'none'}`);
  const turn = pickTurn(text);
  state = 'busy';
  spinner(turn.think_ms ?? 150, () => {
    if (turn.dialog) showDialog(turn); else finishTurn(turn);
  });
}

function onInput(data) {
  if (state === 'starting') { answers += data; return; }
  if (data.includes('\x03')) {
    stopThinking();
    out('^C\r\ninterrupted\r\n');
    prompt();
    return;
  }
  if (state === 'dialog') {
    const opts = dialog.turn.dialog.options;
    for (const ch of data) {
      if (ch >= '1' && ch <= String(opts.length)) { answerDialog(Number(ch) - 1); return; }
      if (ch === '\r') { answerDialog(dialog.selected); return; }
    }
    if (data === '\x1b[B') { dialog.selected = Math.min(opts.length - 1, dialog.selected + 1); drawDialog(true); }
    if (data === '\x1b[A') { dialog.selected = Math.max(0, dialog.selected - 1); drawDialog(true); }
    return;
  }
  if (state !== 'prompt') return; // busy: type-ahead is dropped
  if (data === '\x1b') { out('\r\ninterrupted\r\n'); prompt(); return; }
  const text = data.replace(/\x1b\[20[01]~/g, '');
  for (const ch of text) {
    if (ch === '\r' || ch === '\n') { submit(); return; }
    if (ch === '\x7f' || ch === '\b') {
      if (line.length) { line = line.slice(0, -1); out('\b \b'); }
      continue;
    }
    if (ch < ' ') continue;
    line += ch;
    out(ch);
  }
}

process.stdin.on('data', onInput);

// Ask the terminal who it is and where the cursor is; expect answers.
out('\x1b[c\x1b[6n');
setTimeout(() => {
  const da = /\x1b\[\?[\d;]*c/.test(answers);
  const cpr = /\x1b\[\d+;\d+R/.test(answers);
  if (script.banner) printReply(script.banner);
  printReply(`terminal: DA ${da ? 'ok' : 'missing'}, CPR ${cpr ? 'ok' : 'missing'}`);
  prompt();
}, script.start_delay_ms ?? 100);
