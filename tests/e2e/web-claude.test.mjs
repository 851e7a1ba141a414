// web-claude.test.mjs: a real Claude Code task in the web app, in
// Chromium, against the project's fake LLM (tests/harness/fake-llm.mjs)
// through the server's LLM pass-through. tests/run starts it inside
// tests/harness/netns-run.sh --private-tmp (loopback only).
//
// The task (the claude-code template with Claude's permission prompts on)
// is created through the API, then its page /tasks/admin/NAME is opened
// signed in with a site session: the sidebar chat (web/chat/, an iframe)
// shows the first reply as markdown, sends a prompt (a write with the
// session's CSRF token), shows Claude's permission dialog and answers it
// with its buttons; the tool runs. The Terminal tab (web/app/terminal.js)
// shows the agent's screen, read-only; after "Take control" the keys typed
// into it reach the agent's input box (read back from the runtime's own
// screen), in order. Screenshots: task-claude-chat, task-terminal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root, tmpdir, waitFor, SseClient } from '../harness/runtime.mjs';
import { startServer, taskDir, exists } from '../harness/server.mjs';
import { startFakeLlm } from '../harness/llm.mjs';
import { skip, launch, newPage, useToken, axe, shot, realProblems } from '../harness/browser.mjs';

const tools = process.env.TASKBOX_TOOLS || '/var/cache/taskbox/tools';
const scratch = tmpdir('taskbox-e2e-web-claude-');
const NAME = 'webclaude';
const script = {
  turns: [
    { match: 'say hello', reply: 'Hello from **fake LLM**:\n\n```sh\necho "<b>not bold</b>"\n```\n\n- one\n- two' },
    { match: 'write the file', tool: { kind: 'write_file', path: 'hello.txt', content: 'hi from the web' }, reply: 'Done writing hello.txt.' },
  ],
  default: 'Hello from fake LLM',
};
let llm, srv, browser;
const llmLog = path.join(scratch, 'llm.jsonl');
const keyFile = path.join(scratch, 'key');

before(async () => {
  if (skip) return;
  const links = execFileSync('ip', ['-o', 'link', 'show']).toString();
  assert.doesNotMatch(links, /^\d+: (?!lo:)/m, 'e2e tests must run inside netns-run.sh');
  fs.writeFileSync(keyFile, 'sk-ant-server-side-key\n');
  const fake = await startFakeLlm(script, { dir: scratch, log: llmLog });
  llm = fake.child;
  const port = fake.port;
  srv = await startServer({ args: ['--llm-url', `http://127.0.0.1:${port}`, '--llm-key-file', keyFile, '--tools', tools] });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  llm?.kill();
  fs.rmSync(scratch, { recursive: true, force: true });
});

// The task's terminal screen as the runtime renders it (plain text).
async function screen(name) {
  const sc = new SseClient(srv.base + `/@admin/${name}/apps/chat/internal/screen`,
    { Authorization: `Bearer ${srv.token}` });
  await waitFor(() => sc.events.length > 0, { timeout: 5000, what: 'the screen' }).catch(() => {});
  sc.close();
  return sc.events[0]?.data?.screen ?? '';
}

// The raw keys a page POSTed to the agent, in order.
function rawPosts(page) {
  const sent = [];
  page.on('request', (r) => {
    if (r.method() !== 'POST' || !r.url().endsWith('/apps/chat/message')) return;
    const b = r.postDataJSON();
    if (b?.type === 'raw') sent.push({ content: b.content, csrf: r.headers()['x-taskbox-csrf'] ?? null });
  });
  return sent;
}

test('a Claude Code task in the web app: markdown chat, a permission dialog answered, the terminal watched and typed into', { skip, timeout: 240000 }, async (ctx) => {
  // Claude Code with its permission prompts on (the built-in template
  // skips them for unattended tasks)
  const y = fs.readFileSync(path.join(root, 'templates/claude-code.yaml'), 'utf8')
    .replace(/^name: .*$/m, 'name: claude-code-ask')
    .replace(/^agent:\n/m, 'agent:\n  permission_mode: default\n');
  const r = await srv.pushTemplate(y);
  assert.equal(r.status, 201, r.text);
  const created = await srv.createTask({ template: 'claude-code-ask', input: 'say hello', name: NAME });
  assert.equal(created.agent_type, 'claude');
  const t = await srv.waitTask('admin', NAME, { state: 'idle', timeout: 120000 });

  const page = await newPage(browser, { viewport: { width: 1400, height: 900 } });
  await useToken(page, srv.base, srv.token);
  const raw = rawPosts(page);
  await page.goto(`${srv.base}/tasks/admin/${NAME}`);
  const chat = page.frameLocator('iframe[title="Chat with the agent"]');

  // the first reply, rendered as markdown in the chat
  const hello = chat.locator('.msg-agent .body.md', { hasText: 'Hello from' });
  await hello.waitFor({ timeout: 30000 });
  // Claude Code draws bold and code blocks itself (their markers never
  // reach the screen); its list markers do: the list is a <ul>
  assert.equal(await hello.locator('li').count(), 2);
  assert.equal(await hello.locator('ul > li', { hasText: 'two' }).count(), 1);
  assert.match(await hello.textContent(), /echo "<b>not bold<\/b>"/);
  assert.equal(await chat.locator('.msg-agent b').count(), 0, 'markup in the reply stays text');
  assert.equal(await chat.locator('.msg-user', { hasText: 'say hello' }).count(), 1);

  // a prompt from the chat: a cookie write carrying the CSRF token
  await chat.locator('#status[data-status="stable"]').waitFor({ state: 'attached', timeout: 30000 });
  const post = page.waitForRequest((q) => q.method() === 'POST' && q.url().endsWith('/apps/chat/message'));
  await chat.locator('#input').fill('write the file');
  await chat.locator('#input').press('Enter');
  const req = await post;
  assert.ok(req.headers()['x-taskbox-csrf'], 'the chat sends the session CSRF token');
  assert.equal((await req.response()).status(), 200);

  // Claude asks before running the tool: answered with the chat's buttons
  const dialog = chat.locator('#dialog');
  await dialog.waitFor({ timeout: 60000 });
  assert.match(await dialog.textContent(), /proceed|allow|permission/i);
  await chat.locator('#dialog-options button').first().waitFor();
  await shot(page, 'task-claude-chat');
  // the whole page, top bar included (the README's picture)
  await shot(page, 'task-claude-page', { fullPage: true });
  assert.match(await chat.locator('#dialog-options button').first().textContent(), /Yes/);
  await chat.locator('#dialog-options button').first().click();
  const file = path.join(taskDir(srv, t.id), 'home/workspace/hello.txt');
  await waitFor(() => exists(file) && fs.readFileSync(file, 'utf8') === 'hi from the web\n',
    { timeout: 60000, what: 'hello.txt written after the answer' });
  await chat.locator('.msg-agent', { hasText: 'Done writing hello.txt.' }).waitFor({ timeout: 60000 });
  await dialog.waitFor({ state: 'hidden' });
  await srv.waitTask('admin', NAME, { state: 'idle', timeout: 60000 });

  // the Terminal tab: the agent's screen, read-only
  await page.getByRole('tab', { name: 'Terminal' }).click();
  const term = page.locator('.term');
  await page.locator('.term[data-conn="connected"]').waitFor({ timeout: 20000 });
  await term.locator('.term-mode', { hasText: 'read-only' }).waitFor();
  const rows = term.locator('.xterm-rows');
  await waitFor(async () => (await rows.textContent()).includes('Done writing hello.txt.'),
    { timeout: 20000, what: "the agent's reply on the terminal" });
  const textarea = term.locator('textarea');
  assert.match(await textarea.getAttribute('aria-label'), /terminal/i, 'the terminal is labelled');
  await textarea.focus();
  await page.keyboard.type('ignored');
  assert.equal(raw.length, 0, 'a read-only terminal sends no keys');

  // take control: the keys typed reach the agent's input box, in order
  await page.getByRole('button', { name: 'Take control' }).click();
  await term.locator('.term-mode', { hasText: "you are typing into the agent's terminal" }).waitFor();
  const typed = 'typed from the browser 42';
  await textarea.focus();
  await page.keyboard.type(typed);
  await waitFor(() => raw.map((x) => x.content).join('') === typed,
    { timeout: 10000, what: `the keys POSTed (${JSON.stringify(raw)})` });
  assert.ok(raw.every((x) => x.csrf), 'every key POST carries the CSRF token');
  await waitFor(async () => (await screen(NAME)).includes(typed), { timeout: 20000, what: "the typed text in the agent's input box" });
  await waitFor(async () => (await rows.textContent()).includes(typed), { timeout: 20000, what: 'the typed text echoed on the terminal' });
  await shot(page, 'task-terminal');
  const violations = await axe(page);
  assert.deepEqual(violations, []);
  ctx.diagnostic(`${raw.length} POSTs for ${typed.length} keys`);

  // release: read-only again
  await page.getByRole('button', { name: 'Release' }).click();
  await term.locator('.term-mode', { hasText: 'read-only' }).waitFor();
  const before = raw.length;
  await textarea.focus();
  await page.keyboard.type('x');
  assert.equal(raw.length, before);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
  assert.equal((await srv.api('DELETE', `/api/v2/tasks/admin/${NAME}`)).status, 202);
});
