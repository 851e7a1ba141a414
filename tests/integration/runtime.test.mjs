// runtime.test.mjs: the real `taskbox agent` over HTTP, driving the
// scripted fake agent (tests/harness/fake-agent.mjs).
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  startRuntime, runBin, tmpdir, writeScript, fakeAgent, SseClient, sleep, waitFor,
} from '../harness/runtime.mjs';

const dir = tmpdir();
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const chat = {
  banner: 'Fake Agent 1.0',
  turns: [
    { expect: 'hello', reply: 'Hi! I am the fake agent.\n宽字符 ok 🎉', think_ms: 200 },
    { expect: 'second', reply: 'Second answer,\nover two lines.', think_ms: 100 },
    { expect: 'slow', reply: 'Slow answer.', think_ms: 1500 },
    { expect: 'tool', think_ms: 100, dialog: { question: 'Do you want to proceed?', options: ['Yes', 'No, and tell me what to do'] }, reply: 'Tool ran.' },
    { expect: 'quit', reply: 'bye', exit: 3 },
  ],
};

function agentCmd(script = chat, name) {
  return ['node', fakeAgent, writeScript(dir, script, name)];
}

describe('conversation', () => {
  test('multi-turn conversation: replies without echo or prompt', async () => {
    const rt = await startRuntime([], agentCmd());
    try {
      const s = await rt.waitStable();
      assert.equal(s.agent_type, 'custom');
      assert.equal(s.transport, 'pty');
      assert.equal(s.state, 'idle');
      const first = await rt.messages();
      assert.equal(first.length, 1);
      assert.equal(first[0].role, 'agent');
      assert.match(first[0].content, /terminal: DA ok, CPR ok/);

      let r = await rt.say('hello agent');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { ok: true });
      let m = await rt.reply();
      assert.equal(m.role, 'agent');
      assert.equal(m.content, 'Hi! I am the fake agent.\n宽字符 ok 🎉');

      r = await rt.say('second question');
      assert.equal(r.status, 200);
      m = await rt.reply();
      assert.equal(m.content, 'Second answer,\nover two lines.');

      const all = await rt.messages();
      assert.deepEqual(all.map((x) => [x.id, x.role]), [[0, 'agent'], [1, 'user'], [2, 'agent'], [3, 'user'], [4, 'agent']]);
      assert.equal(all[1].content, 'hello agent');
      assert.equal(all[3].content, 'second question');
      for (const x of all) assert.match(x.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    } finally {
      await rt.stop();
    }
  });

  test('busy agent: 409 problem+json, nothing lost or duplicated', async () => {
    const rt = await startRuntime([], agentCmd());
    try {
      const r1 = await rt.say('slow one');
      assert.equal(r1.status, 200);
      const s = await rt.status();
      assert.equal(s.status, 'running');
      const r2 = await rt.post('/message', { content: 'hello while busy', type: 'user' });
      assert.equal(r2.status, 409);
      assert.match(r2.headers.get('content-type'), /application\/problem\+json/);
      assert.equal(r2.json.status, 409);
      assert.match(r2.json.detail, /waiting for user input/);
      assert.equal(r2.json.reason, 'busy');
      // GET endpoints answer while the agent works
      const g = await rt.get('/messages');
      assert.equal(g.status, 200);
      const m = await rt.reply();
      assert.equal(m.content, 'Slow answer.');
      const users = (await rt.messages()).filter((x) => x.role === 'user');
      assert.deepEqual(users.map((x) => x.content), ['slow one']);
    } finally {
      await rt.stop();
    }
  });

  test('concurrent sends: exactly one is delivered, the rest get 409', async () => {
    const rt = await startRuntime([], agentCmd());
    try {
      await rt.waitStable();
      const rs = await Promise.all([1, 2, 3].map(() => rt.post('/message', { content: 'hello agent', type: 'user' })));
      assert.deepEqual(rs.map((r) => r.status).sort(), [200, 409, 409]);
      assert.deepEqual(rs.filter((r) => r.status === 409).map((r) => r.json.reason), ['busy', 'busy']);
      await rt.reply();
      const users = (await rt.messages()).filter((x) => x.role === 'user');
      assert.equal(users.length, 1);
    } finally {
      await rt.stop();
    }
  });

  test('raw keys go straight to the terminal', async () => {
    const rt = await startRuntime([], agentCmd());
    try {
      await rt.say('slow one');
      const r = await rt.post('/message', { content: '\u0003', type: 'raw' });
      assert.equal(r.status, 200);
      await rt.waitStable();
      const m = await rt.messages();
      assert.match(m[m.length - 1].content, /interrupted/);
      assert.doesNotMatch(m[m.length - 1].content, /Slow answer/);
    } finally {
      await rt.stop();
    }
  });

  test('dialog: reported as waiting with its text, answered through the API', async () => {
    const rt = await startRuntime([], agentCmd());
    try {
      await rt.say('use the tool');
      const s = await waitFor(async () => {
        const x = await rt.status();
        return x.state === 'waiting' ? x : null;
      }, { what: 'waiting state' });
      assert.equal(s.status, 'stable');
      assert.equal(s.dialog.text, 'Do you want to proceed?');
      assert.deepEqual(s.dialog.options, ['Yes', 'No, and tell me what to do']);
      assert.equal(s.dialog.selected, 1);
      const bad = await rt.post('/message', { content: 'maybe later', type: 'user' });
      assert.equal(bad.status, 409);
      assert.match(bad.json.detail, /waiting on a dialog/);
      assert.equal(bad.json.reason, 'not_an_option');
      // taskbox's send queue marks its input: never a dialog's answer
      const queued = await rt.post('/message', { content: '1', type: 'user', if_idle: true });
      assert.equal(queued.status, 409, queued.text);
      assert.match(queued.json.detail, /if_idle is not an answer/);
      assert.equal(queued.json.reason, 'waiting');
      assert.equal((await rt.status()).state, 'waiting');
      const ok = await rt.post('/message', { content: '1', type: 'user' });
      assert.equal(ok.status, 200);
      const m = await rt.reply();
      assert.equal(m.content, 'You chose: Yes\nTool ran.');
      assert.equal((await rt.status()).state, 'idle');
    } finally {
      await rt.stop();
    }
  });

  test('the agent exiting ends the runtime with its status', async () => {
    const rt = await startRuntime([], agentCmd());
    await rt.say('quit now');
    const { code } = await rt.exited;
    assert.equal(code, 3);
  });

  test('a known agent that dies at startup leaves its error as message 0', async () => {
    const dir = tmpdir();
    const go = path.join(dir, 'go');
    const prog = `printf "Invalid API key - please run /login\\n"; while [ ! -e ${go} ]; do sleep 0.05; done; exit 1`;
    const rt = await startRuntime(['--type', 'claude'], ['sh', '-c', prog]);
    const sse = new SseClient(rt.url('/events'));
    await sse.wait((e) => e.event === 'status_change');
    fs.writeFileSync(go, '');
    const m = await sse.wait((e) => e.event === 'message_update' && e.data.id === 0 && e.data.message !== '');
    assert.equal(m.data.message, 'Invalid API key - please run /login');
    assert.equal(m.data.role, 'agent');
    sse.close();
    const { code } = await rt.exited;
    assert.equal(code, 1);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('terminal and process', () => {
  test('--term-width/--term-height and /internal/resize reach the agent', async () => {
    const rt = await startRuntime(['--term-width', '100', '--term-height', '40'], agentCmd());
    try {
      await rt.say('size?');
      assert.equal((await rt.reply()).content, 'size 100x40');
      const r = await rt.post('/internal/resize', { cols: 132, rows: 50 });
      assert.equal(r.status, 200);
      await rt.say('size?');
      assert.equal((await rt.reply()).content, 'size 132x50');
      assert.equal((await rt.post('/internal/resize', { cols: 5, rows: 50 })).status, 422);
    } finally {
      await rt.stop();
    }
  });

  test("stopping the runtime kills the agent's whole process group", async () => {
    const rt = await startRuntime([], agentCmd());
    await rt.say('spawn');
    const m = await rt.reply();
    const pid = Number(/child (\d+)/.exec(m.content)[1]);
    assert.ok(pid > 0);
    process.kill(pid, 0); // alive
    const { code } = await rt.stop();
    assert.equal(code, 0);
    await waitFor(() => {
      try { process.kill(pid, 0); return false; } catch { return true; }
    }, { what: `child ${pid} gone` });
  });

  test('a reaction that only moves the cursor counts: Enter is not sent twice', async () => {
    const prog = "stty -echo; printf '> '; read l; echo; sleep 4; echo \"got ${#l} chars\"; " +
      "if read -t 1 m; then echo \"extra:$m\"; else echo single; fi; printf '> '; exec sleep 100";
    const rt = await startRuntime([], ['bash', '-c', prog]);
    try {
      await rt.waitStable();
      const r = await rt.post('/message', { content: 'once please', type: 'user' });
      assert.equal(r.status, 200);
      const m = await waitFor(async () => {
        const ms = await rt.messages();
        const last = ms[ms.length - 1];
        return /single|extra/.test(last.content) ? last : null;
      }, { timeout: 15000, what: 'the agent to finish reading' });
      assert.match(m.content, /got \d+ chars/); // the paste markers are read too
      assert.match(m.content, /single/);
    } finally {
      await rt.stop();
    }
  });

  test('an agent that never reacts: 504 after retries, nothing recorded', async () => {
    // a "prompt" that neither echoes nor reads
    const rt = await startRuntime([], ['bash', '-c', "stty -echo; printf '> '; exec sleep 100"]);
    try {
      await rt.waitStable();
      const t0 = Date.now();
      const r = await rt.post('/message', { content: 'anyone there', type: 'user' });
      assert.equal(r.status, 504);
      assert.match(r.json.detail, /did not react/);
      assert.ok(Date.now() - t0 >= 14000);
      assert.equal((await rt.messages()).filter((x) => x.role === 'user').length, 0);
    } finally {
      await rt.stop();
    }
  });
});

test('an initial prompt the agent never reacts to is reported, not typed again', async () => {
  const dir = tmpdir();
  const state = path.join(dir, 'state.json');
  const rt = await startRuntime(['-I', 'the only prompt', '--state-file', state],
    ['bash', '-c', "stty -echo; printf '> '; exec sleep 100"]);
  try {
    await waitFor(() => /failed to send the initial prompt/.test(rt.stderr), { what: 'the prompt failed', timeout: 40000 });
    assert.equal(JSON.parse(fs.readFileSync(state, 'utf8')).initial_prompt_sent, true, 'saved: not again after a restart');
    // idle again after the failure: the prompt is not pasted a second time
    // (a second paste would start at the first idle; give it a moment)
    await rt.waitStable();
    await sleep(2000);
    assert.equal(rt.stderr.match(/sending the initial prompt/g).length, 1, rt.stderr);
  } finally {
    await rt.stop();
  }
});

describe('events', () => {
  test('SSE: replay for new subscribers, live updates, status changes', async () => {
    const rt = await startRuntime([], agentCmd());
    try {
      await rt.waitStable();
      const sse = new SseClient(rt.url('/events'));
      const first = await sse.wait((e) => e.event === 'status_change');
      assert.equal(sse.status, 200);
      assert.match(sse.headers.get('content-type'), /text\/event-stream/);
      assert.equal(sse.headers.get('cache-control'), 'no-cache, no-store, must-revalidate');
      assert.equal(first.data.status, 'stable');
      assert.equal(first.data.agent_type, 'custom');
      assert.equal(sse.events[0].event, 'message_update');
      assert.equal(sse.events[0].data.id, 0);
      assert.ok('message' in sse.events[0].data && !('content' in sse.events[0].data));

      await rt.say('hello agent');
      await sse.wait((e) => e.event === 'message_update' && e.data.role === 'user' && e.data.message === 'hello agent');
      await sse.wait((e) => e.event === 'status_change' && e.data.status === 'running');
      await sse.wait((e) => e.event === 'message_update' && e.data.id === 2 && e.data.message.includes('🎉'));
      const n = sse.events.length;
      await sse.wait((e, i) => e.event === 'status_change' && e.data.status === 'stable' && sse.events.indexOf(e) > 2);
      assert.ok(sse.events.length >= n);
      sse.close();

      // reconnect: the replay carries everything said so far
      const again = new SseClient(rt.url('/events'));
      await again.wait((e) => e.event === 'status_change');
      const ids = again.events.filter((e) => e.event === 'message_update').map((e) => e.data.id);
      assert.deepEqual(ids, [0, 1, 2]);
      assert.equal(again.events.find((e) => e.data.id === 2).data.message, 'Hi! I am the fake agent.\n宽字符 ok 🎉');
      again.close();
    } finally {
      await rt.stop();
    }
  });

  test('/internal/screen streams the screen', async () => {
    const rt = await startRuntime([], agentCmd());
    try {
      await rt.waitStable();
      const sse = new SseClient(rt.url('/internal/screen'));
      const e = await sse.wait((x) => x.event === 'screen');
      assert.match(e.data.screen, /Fake Agent 1\.0/);
      await rt.say('hello agent');
      await sse.wait((x) => x.event === 'screen' && x.data.screen.includes('宽字符 ok'));
      sse.close();
    } finally {
      await rt.stop();
    }
  });
});

describe('upload', () => {
  test('multipart upload stores the file; limits and bad bodies', async () => {
    const rt = await startRuntime([], agentCmd());
    try {
      const fd = new FormData();
      fd.append('file', new Blob(['hello upload\n']), 'notes.txt');
      let r = await fetch(rt.url('/upload'), { method: 'POST', body: fd });
      let j = await r.json();
      assert.equal(r.status, 200);
      assert.equal(j.ok, true);
      assert.match(j.filePath, /\/notes\.txt$/);
      assert.equal(fs.readFileSync(j.filePath, 'utf8'), 'hello upload\n');

      const big = new FormData();
      big.append('file', new Blob([Buffer.alloc(10 * 1024 * 1024 + 10, 65)]), 'big.bin');
      r = await fetch(rt.url('/upload'), { method: 'POST', body: big });
      assert.equal(r.status, 413);
      assert.match((await r.json()).detail, /10MB/);

      r = await fetch(rt.url('/upload'), { method: 'POST', body: 'x', headers: { 'Content-Type': 'text/plain' } });
      assert.equal(r.status, 422);
      await r.text();

      const nofile = new FormData();
      nofile.append('other', 'x');
      r = await fetch(rt.url('/upload'), { method: 'POST', body: nofile });
      assert.equal(r.status, 422);
      assert.match((await r.json()).detail, /"file" field is required/);

      const evil = new FormData();
      evil.append('file', new Blob(['x']), '..');
      r = await fetch(rt.url('/upload'), { method: 'POST', body: evil });
      assert.equal(r.status, 422);
      await r.text();
      await rt.stop();
      // uploads live as long as the runtime
      assert.equal(fs.existsSync(j.filePath), false);
    } finally {
      await rt.stop();
    }
  });
});

describe('validation', () => {
  test('malformed and oversized bodies get problem+json errors', async () => {
    const rt = await startRuntime([], agentCmd());
    try {
      await rt.waitStable();
      const cases = [
        ['{', 422, /malformed JSON/],
        ['[]', 422, /JSON object/],
        ['', 422, /empty/],
        [{ type: 'user' }, 422, /"content" is required/],
        [{ content: 5, type: 'user' }, 422, /must be a string/],
        [{ content: 'x', type: 'shout' }, 422, /"user" or "raw"/],
        [{ content: 'x' }, 422, /"user" or "raw"/],
        [{ content: '', type: 'user' }, 422, /must not be empty/],
        [{ content: '  padded ', type: 'user' }, 422, /trimmed/],
        [{ content: 'x'.repeat(300 * 1024), type: 'user' }, 422, /longer than/],
      ];
      for (const [body, status, re] of cases) {
        const r = await rt.post('/message', body);
        assert.equal(r.status, status, JSON.stringify(body).slice(0, 80));
        assert.match(r.headers.get('content-type'), /problem\+json/);
        assert.equal(r.json.status, status);
        assert.match(r.json.detail, re);
        assert.ok(Array.isArray(r.json.errors) && r.json.errors.length > 0);
      }
      // 413 comes from Content-Length, before the body: a head that
      // announces 2 MiB gets it with no body sent (a client still
      // writing the body may see the connection closed first)
      const { hostname, port } = new URL(rt.base);
      const head = await new Promise((resolve, reject) => {
        const sock = net.connect(Number(port), hostname, () => sock.write(
          `POST /message HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`));
        let got = '';
        sock.on('data', (d) => { got += d; if (got.includes('\r\n')) { sock.destroy(); resolve(got); } });
        sock.on('error', reject);
        sock.on('close', () => resolve(got));
        // a server that waits for the body answers nothing: fail, not hang
        sock.setTimeout(10000, () => sock.destroy());
      });
      assert.match(head, /^HTTP\/1\.1 413 /, head.slice(0, 200));
      const nf = await rt.get('/nope');
      assert.equal(nf.status, 404);
      assert.equal(nf.json.status, 404);
      const na = await rt.post('/status', {});
      assert.equal(na.status, 405);
      // nothing of the above reached the conversation
      assert.equal((await rt.messages()).length, 1);
      assert.equal((await rt.status()).status, 'stable');
    } finally {
      await rt.stop();
    }
  });

  test('bad command-line flags fail with a clear message', async () => {
    const cases = [
      [['agent', '--port', 'abc', '--', 'true'], /--port must be/],
      [['agent', '--type', 'nope', '--', 'true'], /unknown agent type 'nope'/],
      [['agent', '--term-width', '5', '--', 'true'], /--term-width must be/],
      [['agent', '--bogus', '--', 'true'], /unknown option '--bogus'/],
      [['agent'], /no agent command/],
      [['agent', '--allowed-hosts', 'http://x', '--', 'true'], /bad --allowed-hosts entry/],
      [['agent', '--auth-token-file', '/nonexistent', '--', 'true'], /cannot open/],
    ];
    for (const [args, re] of cases) {
      const r = await runBin(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, re);
    }
    const r = await runBin(['agent', '--port', '0', '--', '/nonexistent/agent']);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /cannot run '\/nonexistent\/agent': No such file/);
  });
});

describe('security', () => {
  test('Host allowlist, Origin and CORS', async () => {
    const rt = await startRuntime([], agentCmd());
    try {
      const get = (headers) => new Promise((resolve) => {
        // fetch cannot set Host; use a raw request
        const u = new URL(rt.url('/status'));
        const s = net.connect(Number(u.port), '127.0.0.1', () => {
          const h = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
          s.write(`GET /status HTTP/1.1\r\n${h}Connection: close\r\n\r\n`);
        });
        let d = '';
        s.on('data', (c) => { d += c; });
        s.on('end', () => resolve(d));
      });
      assert.match(await get({ Host: 'localhost:1234' }), /^HTTP\/1\.1 200/);
      assert.match(await get({ Host: '[::1]:3284' }), /^HTTP\/1\.1 200/);
      assert.match(await get({ Host: 'LOCALHOST.' }), /^HTTP\/1\.1 200/);
      const bad = await get({ Host: 'evil.example.com' });
      assert.match(bad, /^HTTP\/1\.1 400/);
      assert.match(bad, /Invalid host header/);
      const evil = await rt.get('/status', { Origin: 'http://evil.example.com' });
      assert.equal(evil.status, 403);
      const ok = await rt.get('/status', { Origin: 'http://localhost:3000' });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('access-control-allow-origin'), 'http://localhost:3000');
      const pre = await fetch(rt.url('/message'), { method: 'OPTIONS', headers: { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'POST' } });
      assert.equal(pre.status, 204);
      assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
      // a cross-site POST is refused before it reaches the agent
      const post = await rt.post('/message', { content: 'hello agent', type: 'user' }, { Origin: 'http://evil.example.com' });
      assert.equal(post.status, 403);
      assert.equal((await rt.messages()).length, 1);
    } finally {
      await rt.stop();
    }
  });

  test('--allowed-hosts and --allowed-origins wildcards', async () => {
    const rt = await startRuntime(['--allowed-hosts', '*', '--allowed-origins', 'https://*.example.com'], agentCmd());
    try {
      assert.equal((await rt.get('/status', { Origin: 'https://app.example.com' })).status, 200);
      assert.equal((await rt.get('/status', { Origin: 'https://example.org' })).status, 403);
    } finally {
      await rt.stop();
    }
  });

  test('--auth-token-file: every endpoint needs the bearer token', async () => {
    const tok = path.join(dir, 'token');
    fs.writeFileSync(tok, 's3cret-token\n');
    const rt = await startRuntime(['--auth-token-file', tok], agentCmd());
    try {
      for (const p of ['/status', '/messages', '/events', '/internal/screen', '/openapi.json', '/chat/']) {
        const r = await rt.get(p);
        assert.equal(r.status, 401, p);
        assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      }
      assert.equal((await rt.post('/message', { content: 'x', type: 'raw' })).status, 401);
      assert.equal((await rt.get('/status', { Authorization: 'Bearer wrong' })).status, 401);
      assert.equal((await rt.get('/status', { Authorization: 'Bearer s3cret-token' })).status, 200);
      assert.equal((await rt.get('/status?access_token=s3cret-token')).status, 200);
    } finally {
      await rt.stop();
    }
  });

  test('unix socket listener', async () => {
    const sock = path.join(dir, 'rt.sock');
    const { spawn } = await import('node:child_process');
    const { bin } = await import('../harness/runtime.mjs');
    const child = spawn(bin, ['agent', '--socket', sock, '--', ...agentCmd()], { stdio: 'ignore' });
    try {
      await waitFor(() => fs.existsSync(sock), { what: 'socket' });
      assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
      const body = await waitFor(() => new Promise((resolve) => {
        const s = net.connect(sock, () => s.write('GET /status HTTP/1.1\r\nHost: anything\r\nConnection: close\r\n\r\n'));
        let d = '';
        s.on('data', (c) => { d += c; });
        s.on('end', () => resolve(d.includes('"status"') ? d : null));
        s.on('error', () => resolve(null));
      }), { what: 'status over the socket' });
      assert.match(body, /^HTTP\/1\.1 200/);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('state and prompt', () => {
  test('initial prompt sent once; state file survives a restart without replay', async () => {
    const state = path.join(dir, 'state', 'rt.json');
    const script = { turns: [{ expect: 'hello', reply: 'Hi from the first run.', think_ms: 100 }, { expect: 'second', reply: 'Second run reply.' }] };
    let rt = await startRuntime(['-I', 'hello from the prompt', '--state-file', state], agentCmd(script, 's-state.json'));
    try {
      await waitFor(async () => (await rt.messages()).length >= 3, { what: 'prompt reply' });
      const m = await rt.reply();
      assert.equal(m.content, 'Hi from the first run.');
      // SIGUSR1 saves without exiting
      rt.child.kill('SIGUSR1');
      await waitFor(() => fs.existsSync(state), { what: 'state file' });
      assert.equal(fs.statSync(state).mode & 0o777, 0o600);
    } finally {
      await rt.stop();
    }
    const saved = JSON.parse(fs.readFileSync(state, 'utf8'));
    assert.equal(saved.version, 1);
    assert.equal(saved.initial_prompt, 'hello from the prompt');
    assert.equal(saved.initial_prompt_sent, true);
    assert.equal(saved.messages[1].message, 'hello from the prompt');

    rt = await startRuntime(['-I', 'hello from the prompt', '--state-file', state], agentCmd(script, 's-state.json'));
    try {
      await rt.waitStable();
      await sleep(700); // time in which a replay would have happened
      const ms = await rt.messages();
      assert.equal(ms.filter((x) => x.role === 'user').length, 1);
      assert.equal(ms[2].content, 'Hi from the first run.');
      const screen = new SseClient(rt.url('/internal/screen'));
      const e = await screen.wait((x) => x.event === 'screen');
      screen.close();
      assert.doesNotMatch(e.data.screen, /hello from the prompt/);
      await rt.say('second run');
      const m = await rt.reply();
      assert.equal(m.content, 'Second run reply.');
    } finally {
      await rt.stop();
    }
  });

  test('piped stdin is the initial prompt', async () => {
    const rt = await startRuntime([], agentCmd(), { input: 'hello via stdin\n' });
    try {
      await waitFor(async () => (await rt.messages()).length >= 3, { what: 'reply' });
      const m = await rt.reply();
      assert.equal(m.content, 'Hi! I am the fake agent.\n宽字符 ok 🎉');
      assert.equal((await rt.messages())[1].content, 'hello via stdin');
    } finally {
      await rt.stop();
    }
  });

  test('a corrupt state file is reported as agent_error and changes nothing', async () => {
    const state = path.join(dir, 'corrupt.json');
    fs.writeFileSync(state, '{"version": 1, "messages": [');
    const rt = await startRuntime(['--state-file', state], agentCmd());
    try {
      const sse = new SseClient(rt.url('/events'));
      const e = await sse.wait((x) => x.event === 'agent_error');
      sse.close();
      assert.equal(e.data.level, 'warning');
      assert.match(e.data.message, /Failed to restore previous session/);
      await rt.waitStable();
      assert.equal((await rt.messages()).length, 1);
    } finally {
      await rt.stop();
    }
  });

  test('--pid-file refuses a live pid and is removed on exit', async () => {
    const pidf = path.join(dir, 'rt.pid');
    const rt = await startRuntime(['--pid-file', pidf], agentCmd());
    try {
      assert.equal(Number(fs.readFileSync(pidf, 'utf8')), rt.child.pid);
      const r = await runBin(['agent', '--pid-file', pidf, '--port', '0', '--', 'true']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /names running process/);
    } finally {
      await rt.stop();
    }
    assert.equal(fs.existsSync(pidf), false);
  });
});

describe('hostile input', () => {
  const raw = (rt, text) => new Promise((resolve) => {
    const u = new URL(rt.url('/'));
    const sock = net.connect(Number(u.port), '127.0.0.1', () => sock.write(text));
    let d = Buffer.alloc(0);
    sock.on('data', (c) => { d = Buffer.concat([d, c]); });
    sock.on('end', () => resolve(d.toString('latin1')));
    sock.on('error', () => resolve(d.toString('latin1')));
  });

  test('invalid UTF-8 in paths and headers gets an error, not a crash', async () => {
    const tok = path.join(dir, 'token2');
    fs.writeFileSync(tok, 'tok\n');
    const rt = await startRuntime(['--auth-token-file', tok], agentCmd());
    try {
      const a = await raw(rt, 'GET /%ff\xfe HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer tok\r\nConnection: close\r\n\r\n');
      assert.match(a, /^HTTP\/1\.1 404/);
      const b = await raw(rt, 'GET /status HTTP/1.1\r\nHost: localhost\r\nOrigin: http://\xff\xfe\r\nConnection: close\r\n\r\n');
      assert.match(b, /^HTTP\/1\.1 403/);
      assert.equal((await rt.get('/status', { Authorization: 'Bearer tok' })).status, 200);
    } finally {
      await rt.stop();
    }
  });

  test('surrogates and control bytes from the agent reach clients as valid JSON', async () => {
    const rt = await startRuntime([], ['sh', '-c', "printf 'hello \\355\\240\\200 \\001 ok\\n> '; exec cat"]);
    try {
      await rt.waitStable();
      const ms = await rt.messages();
      assert.equal(ms.length, 1);
      assert.match(ms[0].content, /hello \ufffd/);
      const sse = new SseClient(rt.url('/internal/screen'));
      await sse.wait((e) => e.event === 'screen');
      sse.close();
      const ev = new SseClient(rt.url('/events'));
      await ev.wait((e) => e.event === 'status_change');
      ev.close();
    } finally {
      await rt.stop();
    }
  });

  test('a large replay of control characters still reaches a new subscriber', async () => {
    const state = path.join(dir, 'ctl-state.json');
    const messages = [];
    for (let i = 0; i < 12; i++) messages.push({ id: i, message: '\u0001'.repeat(200000), role: i % 2 ? 'user' : 'agent', time: '2026-01-01T00:00:00Z' });
    fs.writeFileSync(state, JSON.stringify({ version: 1, messages, initial_prompt: '', initial_prompt_sent: false }));
    const rt = await startRuntime(['--state-file', state], agentCmd());
    try {
      const ev = new SseClient(rt.url('/events'));
      await ev.wait((e) => e.event === 'status_change', 20000);
      assert.equal(ev.events.filter((e) => e.event === 'message_update').length, 12);
      ev.close();
    } finally {
      await rt.stop('SIGKILL'); // keep the test's state file as it was
    }
  });

  test('terminal size is capped', async () => {
    const r = await runBin(['agent', '--term-width', '1000', '--term-height', '10000', '--', 'true']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /over the limit of \d+ cells/);
    const rt = await startRuntime([], agentCmd());
    try {
      const x = await rt.post('/internal/resize', { cols: 1000, rows: 10000 });
      assert.equal(x.status, 422);
    } finally {
      await rt.stop();
    }
  });

  test('the runtime answers and exits cleanly when a client connects during shutdown', async () => {
    const rt = await startRuntime([], ['sh', '-c', "trap '' HUP TERM; printf '> '; while :; do sleep 1; done"]);
    await rt.waitStable();
    rt.child.kill('SIGTERM');
    await sleep(300);
    // the listener is closed or answers; either way no crash
    const sse = new SseClient(rt.url('/events'));
    await sleep(500);
    sse.close();
    const { code, signal } = await rt.exited;
    assert.equal(signal, null);
    assert.equal(code, 0);
  });
});

describe('documents', () => {
  test('openapi.json describes every endpoint; / redirects to the chat', async () => {
    const rt = await startRuntime([], agentCmd());
    try {
      const o = await rt.get('/openapi.json');
      assert.equal(o.status, 200);
      for (const p of ['/status', '/messages', '/message', '/upload', '/events', '/internal/screen']) {
        assert.ok(o.json.paths[p], `openapi lacks ${p}`);
      }
      const r = await fetch(rt.url('/'), { redirect: 'manual' });
      assert.equal(r.status, 307);
      assert.equal(r.headers.get('location'), '/chat/embed');
      const page = await rt.get('/chat/embed');
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type'), /text\/html/);
      const js = await rt.get('/chat/app.js');
      assert.equal(js.status, 200);
      assert.equal((await rt.get('/chat/../../etc/passwd')).status, 404);
    } finally {
      await rt.stop();
    }
  });
});
