#!/usr/bin/env node
// gen-ansi.mjs: deterministic mixed terminal output for bench/ingest.sh.
//
// usage: node bench/gen-ansi.mjs OUT [BYTES] [SEED]
// Writes BYTES (default 50 MiB) of what a busy terminal program prints:
// plain ASCII lines (some longer than 80 columns, so they wrap), SGR
// colours (16, 256 and truecolour, bold/underline/reverse), relative cursor
// movement and erases, CJK and emoji (double width), `\r` progress-bar
// overwrites, scroll regions and SU/SD scrolling, tabs and OSC titles. No
// terminal queries (DA, CPR): `cat` cannot answer them. The same SEED
// gives the same bytes; the output ends on a complete line.
import fs from 'node:fs';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: gen-ansi.mjs OUT [BYTES] [SEED]\n');
  process.exit(2);
}
const target = Number(process.argv[3] || 50 * 1024 * 1024);
let seed = Number(process.argv[4] || 20240601) >>> 0;

// mulberry32
function rnd() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = (a) => a[Math.floor(rnd() * a.length)];

const words = ('the quick brown fox jumps over lazy dog build test compile link error warning ' +
  'note info debug trace request response server client socket buffer parse render screen ' +
  'terminal cursor scroll region colour glyph width height index value result status ready ' +
  'running stable message agent runtime session window pane output input stream event update ' +
  'function return struct static const unsigned size_t char void bool true false null undefined ' +
  'import export async await promise resolve reject timeout interval handler callback module ' +
  'src/runtime/agent.c src/vt/screen.c src/http/http.c 0x7ffd1234 42 1024 65536 3.14159 -1 ' +
  'PASS FAIL OK SKIP [1/234] [17/234] (cached) --verbose --release ==> --> => :: ; {} () []').split(' ');
const cjk = '的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生会自着去之过家学对' +
  '漢字表示端末幅全角文字列処理画面描画確認日本語中文한국어테스트터미널';
const emoji = ['😀', '😂', '🚀', '✨', '🔥', '✅', '❌', '⚠️', '📦', '🐛', '🎉', '💡', '🧪', '👍', '🌏', '⏳'];

function text(cols) {
  let s = '';
  while (s.length < cols) s += (s ? ' ' : '') + pick(words);
  return s.slice(0, cols);
}

function sgr() {
  switch (int(0, 5)) {
    case 0: return `\x1b[${int(30, 37)}m`;
    case 1: return `\x1b[1;${int(90, 97)}m`;
    case 2: return `\x1b[38;5;${int(0, 255)}m`;
    case 3: return `\x1b[38;2;${int(0, 255)};${int(0, 255)};${int(0, 255)}m`;
    case 4: return `\x1b[${pick([4, 7, 3, 2])};48;5;${int(0, 255)}m`;
    default: return `\x1b[0;${int(31, 36)};${int(41, 46)}m`;
  }
}

// One "item": one or a few lines of output.
function item() {
  const r = rnd();
  if (r < 0.34) { // plain line, sometimes wrapping
    return text(rnd() < 0.15 ? int(81, 200) : int(10, 79)) + '\n';
  }
  if (r < 0.52) { // coloured segments
    let s = '';
    for (let n = int(2, 6); n > 0; n--) s += sgr() + text(int(4, 14)) + ' ';
    return s + '\x1b[0m' + (rnd() < 0.5 ? '\x1b[K' : '') + '\n';
  }
  if (r < 0.64) { // CJK and emoji, double width
    let s = '', w = 0, lim = int(20, 76);
    while (w < lim) {
      const k = rnd();
      if (k < 0.6) { s += cjk[int(0, cjk.length - 1)]; w += 2; }
      else if (k < 0.75) { s += pick(emoji); w += 2; }
      else { const t = text(int(2, 8)) + ' '; s += t; w += t.length; }
    }
    return (rnd() < 0.3 ? sgr() + s + '\x1b[0m' : s) + '\n';
  }
  if (r < 0.74) { // progress bar overwritten with \r
    const width = int(20, 50), steps = int(3, 12);
    let s = '';
    for (let i = 1; i <= steps; i++) {
      const done = Math.round((width * i) / steps);
      s += `\r${pick(['Downloading', 'Building', 'Linking', 'Indexing'])} [` + '#'.repeat(done) +
        ' '.repeat(width - done) + `] ${Math.round((100 * i) / steps)}%` + (rnd() < 0.5 ? '\x1b[K' : '');
    }
    return s + '\n';
  }
  if (r < 0.86) { // cursor movement, erases, save/restore
    const up = int(1, 4);
    let s = text(int(10, 40));
    s += `\x1b7\x1b[${up}A\x1b[${int(1, 60)}G${sgr()}${text(int(3, 12))}\x1b[0m\x1b8`;
    s += `\x1b[${int(1, 5)}D\x1b[K${text(int(3, 20))}`;
    if (rnd() < 0.3) s += `\r\x1b[2K${text(int(10, 60))}`;
    if (rnd() < 0.3) s += `\x1b[${int(1, 3)}C\t${text(int(3, 10))}\x1b[1K`;
    return s + '\n';
  }
  if (r < 0.92) { // scroll region (fits 50 rows too), lines scrolled inside it
    const top = int(1, 10), bot = top + int(5, 30);
    let s = `\x1b7\x1b[${top};${bot}r\x1b[${bot};1H`;
    for (let n = int(2, 8); n > 0; n--) s += '\n' + sgr() + text(int(10, 70)) + '\x1b[0m';
    if (rnd() < 0.5) s += `\x1b[${top};1H\x1bM${text(int(5, 30))}`; // reverse index at the top
    return s + '\x1b[r\x1b8' + text(int(5, 30)) + '\n';
  }
  if (r < 0.96) { // SU / SD, insert / delete lines
    return `${pick(['\x1b[S', '\x1b[2S', '\x1b[T', '\x1b[L', '\x1b[M', '\x1b[2L'])}${text(int(10, 60))}\n`;
  }
  if (r < 0.98) { // OSC title, cursor hide/show, tabs
    return `\x1b]0;${text(int(5, 30))}\x07\x1b[?25l${text(8)}\t${text(8)}\t${text(8)}\x1b[?25h\n`;
  }
  // a box
  const w = int(20, 70);
  return '┌' + '─'.repeat(w) + '┐\n│' + text(w) + '│\n└' + '─'.repeat(w) + '┘\n';
}

const fd = fs.openSync(out, 'w');
let total = 0;
let chunk = [];
let clen = 0;
while (total < target) {
  const s = item();
  const b = Buffer.byteLength(s);
  if (total + b > target) break;
  chunk.push(s);
  clen += b;
  total += b;
  if (clen > 1 << 20) {
    fs.writeSync(fd, chunk.join(''));
    chunk = [];
    clen = 0;
  }
}
// pad to exactly the target with a plain line
const pad = target - total;
if (pad > 0) chunk.push(pad > 1 ? 'x'.repeat(pad - 1) + '\n' : '\n');
fs.writeSync(fd, chunk.join(''));
fs.closeSync(fd);
