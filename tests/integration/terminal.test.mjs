// terminal.test.mjs: GET /internal/terminal, the agent's terminal as a
// snapshot (an ANSI repaint of the screen) then the raw PTY output, a
// resize with a new snapshot, a fresh snapshot for a client that fell
// behind, the subscriber limit, and the same stream through the server's
// proxy (/@owner/task/apps/chat/internal/terminal).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startRuntime, SseClient, waitFor } from '../harness/runtime.mjs';
import { startServer } from '../harness/server.mjs';

const b64 = (s) => Buffer.from(s, 'base64').toString('utf8');
const outputs = (s) => s.events.filter((e) => e.event === 'output').map((e) => b64(e.data.b64)).join('');

// A program that prints red text, waits for a line, echoes it.
const prog = [
  'sh', '-c',
  "printf 'plain \\033[31mRED\\033[0m end\\n'; read x; printf 'after %s\\n' \"$x\"; " +
  "read y; head -c 30000000 /dev/zero | tr '\\0' x; printf '\\nDONE\\n'; exec sleep 100000",
];

test('a snapshot repaints the screen, output carries the later bytes, a resize sends both again', async () => {
  const rt = await startRuntime(['--term-width', '80', '--term-height', '24'], prog);
  const streams = [];
  try {
    const screen = new SseClient(rt.url('/internal/screen'));
    streams.push(screen);
    await screen.wait((e) => e.event === 'screen' && e.data.screen.includes('RED end'));
    const term = new SseClient(rt.url('/internal/terminal'));
    streams.push(term);
    await term.ready;
    assert.equal(term.status, 200);
    const snap = await term.wait((e) => e.event === 'snapshot');
    assert.equal(term.events[0], snap, 'the snapshot comes first');
    assert.equal(snap.data.cols, 80);
    assert.equal(snap.data.rows, 24);
    const repaint = b64(snap.data.b64);
    assert.match(repaint, /\x1b\[0;31mRED/, 'the red run keeps its SGR 31');
    assert.match(repaint, /plain/);
    assert.match(repaint, /\x1b\[2J/, 'the screen is cleared first');
    assert.match(repaint, /\x1b\[2;1H\x1b\[\?7h/, 'the cursor ends on the next row');

    // later output: the raw bytes, in order (the tty echoes the input)
    assert.equal((await rt.post('/message', { type: 'raw', content: 'hello\r' })).status, 200);
    await waitFor(() => outputs(term).includes('after hello'), { what: 'the output event' });
    assert.match(outputs(term), /^hello\r\nafter hello\r\n/);
    const later = new SseClient(rt.url('/internal/terminal'));
    streams.push(later);
    const snap2 = await later.wait((e) => e.event === 'snapshot');
    assert.match(b64(snap2.data.b64), /after hello/);

    // a resize: resize {cols, rows} then a snapshot at the new size
    assert.equal((await rt.post('/internal/resize', { cols: 100, rows: 30 })).status, 200);
    const rs = await term.wait((e) => e.event === 'resize');
    assert.deepEqual(rs.data, { cols: 100, rows: 30 });
    const i = term.events.indexOf(rs);
    await waitFor(() => term.events.length > i + 1, { what: 'the snapshot after the resize' });
    assert.equal(term.events[i + 1].event, 'snapshot');
    assert.equal(term.events[i + 1].data.cols, 100);
    assert.equal(term.events[i + 1].data.rows, 30);
    assert.match(b64(term.events[i + 1].data.b64), /after hello/);
    for (const s of streams) assert.equal(s.error, undefined);
  } finally {
    for (const s of streams) s.close();
    await rt.stop();
  }
});

// Read SSE records from a raw socket (pause() it to stop reading): the
// response head, then HTTP/1.1 chunks.
function rawStream(base, path) {
  const u = new URL(base);
  const sock = net.connect(Number(u.port), u.hostname);
  const st = { sock, raw: Buffer.alloc(0), body: '', head: false, events: [] };
  sock.on('connect', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`));
  sock.on('data', (d) => {
    st.raw = Buffer.concat([st.raw, d]);
    if (!st.head) {
      const k = st.raw.indexOf('\r\n\r\n');
      if (k < 0) return;
      assert.match(st.raw.subarray(0, k).toString(), /^HTTP\/1\.1 200 .*transfer-encoding: chunked/is);
      st.raw = st.raw.subarray(k + 4);
      st.head = true;
    }
    for (;;) {
      const nl = st.raw.indexOf('\r\n');
      if (nl < 0) break;
      const size = parseInt(st.raw.subarray(0, nl).toString(), 16);
      if (st.raw.length < nl + 2 + size + 2) break;
      st.body += st.raw.subarray(nl + 2, nl + 2 + size).toString('latin1');
      st.raw = st.raw.subarray(nl + 2 + size + 2);
    }
    let k;
    while ((k = st.body.indexOf('\n\n')) >= 0) {
      const rec = st.body.slice(0, k);
      st.body = st.body.slice(k + 2);
      const ev = /^event: (.*)$/m.exec(rec)?.[1];
      const data = /^data: (.*)$/m.exec(rec)?.[1];
      if (ev && data) st.events.push({ event: ev, data: JSON.parse(data) });
    }
  });
  sock.on('error', () => {});
  return st;
}

test('a client more than 256 KiB behind gets a fresh snapshot instead of the backlog; 32 subscribers', async () => {
  const rt = await startRuntime(['--term-width', '80', '--term-height', '24'], prog);
  const streams = [];
  let slow;
  try {
    const screen = new SseClient(rt.url('/internal/screen'));
    streams.push(screen);
    await screen.wait((e) => e.event === 'screen' && e.data.screen.includes('RED end'));
    slow = rawStream(rt.base, '/internal/terminal');
    await waitFor(() => slow.events.some((e) => e.event === 'snapshot'), { what: 'the first snapshot' });
    slow.sock.pause();
    assert.equal((await rt.post('/message', { type: 'raw', content: 'a\rb\r' })).status, 200);
    await screen.wait((e) => e.event === 'screen' && e.data.screen.includes('DONE'), 120000);
    slow.sock.resume();
    await waitFor(() => slow.events.filter((e) => e.event === 'snapshot').some((e) => b64(e.data.b64).includes('DONE')),
      { what: 'a snapshot showing the end', timeout: 60000 });
    const got = slow.events.filter((e) => e.event === 'output').reduce((n, e) => n + Buffer.from(e.data.b64, 'base64').length, 0);
    assert.ok(got < 30000000, `the backlog was dropped (${got} bytes of output sent)`);
    assert.ok(slow.events.filter((e) => e.event === 'snapshot').length >= 2);

    // 32 subscribers at most (the slow one holds a place)
    const subs = [];
    for (let i = 0; i < 31; i++) {
      const s = new SseClient(rt.url('/internal/terminal'));
      streams.push(s);
      subs.push(s);
      await s.ready;
      assert.equal(s.status, 200, `subscriber ${i + 2}`);
    }
    const r = await rt.get('/internal/terminal');
    assert.equal(r.status, 429);
    assert.match(r.text, /too many terminal subscribers/);
  } finally {
    slow?.sock.destroy();
    for (const s of streams) s.close();
    await rt.stop();
  }
});

test('the terminal through the server: /@owner/task/apps/chat/internal/terminal', async () => {
  const srv = await startServer();
  let term;
  try {
    await srv.createTask({ template: 'shell', input: "printf '\\033[32mGREEN\\033[0m\\n'", name: 'term' });
    await srv.waitTask('admin', 'term');
    term = new SseClient(`${srv.base}/@admin/term/apps/chat/internal/terminal`, { Authorization: `Bearer ${srv.token}` });
    await term.ready;
    assert.equal(term.status, 200);
    // the prompt was typed: wait for a snapshot or output showing it ran
    await waitFor(async () => {
      const snaps = term.events.filter((e) => e.event === 'snapshot').map((e) => b64(e.data.b64)).join('');
      return /\x1b\[0;32mGREEN/.test(snaps) || /\x1b\[32mGREEN/.test(outputs(term));
    }, { what: 'GREEN on the terminal', timeout: 30000 });
    await srv.waitTask('admin', 'term', { state: 'idle' });
    assert.equal(term.events[0].event, 'snapshot');
    assert.equal((await srv.api('POST', '/@admin/term/apps/chat/message', { body: { type: 'raw', content: 'echo via-proxy\r' } })).status, 200);
    await waitFor(() => /via-proxy\r\n/.test(outputs(term).replace(/echo via-proxy/, '')),
      { what: 'the command output' }).catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(outputs(term))}`); });
  } finally {
    term?.close();
    await srv.stop();
  }
});
