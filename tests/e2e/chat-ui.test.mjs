// chat-ui.test.mjs: the embedded chat UI (web/chat/) in headless Chromium,
// against the real `taskbox agent` driving the scripted fake agent.
//
// Needs playwright-core from $TASKBOX_NODE_MODULES (a node_modules directory
// or a directory holding one) and Debian's /usr/bin/chromium; skipped when
// TASKBOX_NODE_MODULES is not set. Screenshots go to $TASKBOX_SCREENSHOT_DIR
// or a new temp directory; either way the path is printed and kept.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startRuntime, tmpdir, writeScript, fakeAgent } from '../harness/runtime.mjs';

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-dev-shm-usage',
];

const script = {
  banner: 'Fake Agent 1.0',
  turns: [
    { expect: 'hello', think_ms: 300, reply: 'Hello from the fake agent.\nDocs: https://example.com/docs.' },
    { expect: 'markdown', think_ms: 100, reply: '## Result\nSome **bold** words and `<img src=x onerror=alert(1)>` inline.\n<img src=x onerror=alert(2)>\n```python\nprint("<b>hi</b>")\n```\n- first item\n- second item\nSee [the docs](https://example.com/md).' },
    { expect: 'deploy', think_ms: 100, dialog: { question: 'Do you want to proceed?', options: ['Yes', 'No'] }, reply: 'Deployed.' },
  ],
  default_reply: 'ok',
};

function loadPlaywright() {
  const dir = process.env.TASKBOX_NODE_MODULES;
  if (!dir) return null;
  // resolves from DIR/node_modules and, when DIR is node_modules, DIR itself
  return createRequire(path.join(path.resolve(dir), 'noop.js'))('playwright-core');
}

const playwright = loadPlaywright();
const skip = playwright ? false : 'TASKBOX_NODE_MODULES is not set (needs playwright-core); skipping the chat UI test';
const dir = tmpdir('taskbox-chat-ui-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// A POST /message with this type and content.
function isMessagePost(req, type, content) {
  if (req.method() !== 'POST' || !req.url().endsWith('/message')) return false;
  const body = req.postDataJSON();
  return body?.type === type && body.content === content;
}

function launch() {
  return playwright.chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

async function sendText(page, text) {
  await page.locator('#status[data-status="stable"]').waitFor();
  await page.locator('#input').fill(text);
  await page.locator('#input').press('Enter');
}

test('chat UI: conversation, dialog, control keys, themes', { skip, timeout: 30000 }, async (t) => {
  const shots = process.env.TASKBOX_SCREENSHOT_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'taskbox-chat-ui-shots-'));
  fs.mkdirSync(shots, { recursive: true });
  const rt = await startRuntime([], ['node', fakeAgent, writeScript(dir, script)]);
  let browser;
  const problems = [];
  try {
    browser = await launch();
    const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    page.setDefaultTimeout(8000);
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });

    await page.goto(rt.url('/chat/'));
    await page.locator('#status[data-status="stable"]').waitFor();
    assert.equal(await page.locator('h1').textContent(), 'taskbox chat');
    assert.equal(await page.locator('#agent-type').textContent(), 'custom');

    // the API base is computed from the page path (proxy prefixes included)
    const bases = await page.evaluate(async () => {
      const { apiBaseFor } = await import('./app.js');
      return [
        apiBaseFor(new URL('http://h/chat/')),
        apiBaseFor(new URL('http://h/chat/embed')),
        apiBaseFor(new URL('http://h/@alice/task1/apps/chat/chat/embed/')),
        apiBaseFor(new URL('http://h/chat/?url=http://other:3284')),
      ];
    });
    assert.deepEqual(bases, ['http://h/', 'http://h/', 'http://h/@alice/task1/apps/chat/', 'http://other:3284/']);

    // a user message: optimistic bubble, then the agent's reply with a link
    await sendText(page, 'hello agent');
    await page.locator('.msg-user', { hasText: 'hello agent' }).first().waitFor();
    await page.locator('.msg-agent', { hasText: 'Hello from the fake agent.' }).waitFor();
    assert.equal(await page.locator('.msg-agent a[href="https://example.com/docs"]').count(), 1);
    await page.locator('#status[data-status="stable"]').waitFor();
    assert.equal(await page.locator('.msg-user', { hasText: 'hello agent' }).count(), 1, 'the draft is gone');

    // markdown: the agent's message as DOM nodes, markup in it as text
    await sendText(page, 'markdown please');
    const md = page.locator('.msg-agent .body.md', { hasText: 'second item' });
    await md.waitFor();
    assert.equal(await md.locator('pre code').textContent(), 'print("<b>hi</b>")');
    assert.equal(await md.locator('.md-lang').textContent(), 'python');
    assert.equal(await md.locator('strong').textContent(), 'bold');
    assert.equal(await md.locator('h4.md-h2').textContent(), 'Result');
    assert.equal(await md.locator('li').count(), 2);
    assert.equal(await md.locator('a[href="https://example.com/md"]').textContent(), 'the docs');
    assert.equal(await md.locator('code', { hasText: 'onerror=alert(1)' }).count(), 1);
    assert.match(await md.textContent(), /<img src=x onerror=alert\(2\)>/);
    assert.equal(await page.locator('#messages img, #messages b').count(), 0, 'no markup from the agent became elements');
    assert.equal(await page.locator('.msg-user .body.md').count(), 0, 'user messages stay plain text');
    await page.screenshot({ path: path.join(shots, 'markdown-light.png') });
    await page.locator('#status[data-status="stable"]').waitFor();

    // an upload appends @"path" to the draft
    const upload = page.waitForResponse((r) => r.url().endsWith('/upload'));
    await page.locator('#file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('notes\n') });
    assert.equal((await upload).status(), 200);
    await page.waitForFunction(() => /^ @"\/.+\/notes\.txt"$/.test(document.getElementById('input').value));
    await page.locator('#input').fill('');

    // a dialog: shown with one button per option; the answer is its number
    await sendText(page, 'deploy it');
    await page.locator('#dialog', { hasText: 'Do you want to proceed?' }).waitFor();
    await page.locator('#status[data-status="waiting"]').waitFor();
    await page.screenshot({ path: path.join(shots, 'dialog-light.png') });
    const answer = page.waitForRequest((r) => isMessagePost(r, 'user', '1'));
    await page.locator('#dialog-options button', { hasText: 'Yes' }).click();
    await answer;
    await page.locator('.msg-agent', { hasText: 'Deployed.' }).waitFor();
    await page.locator('#dialog').waitFor({ state: 'hidden' });

    // control keys go out as raw messages
    await page.locator('#status[data-status="stable"]').waitFor();
    await page.getByRole('tab', { name: 'Control' }).click();
    assert.equal(await page.locator('#panel-control').isVisible(), true);
    let raw = page.waitForRequest((r) => isMessagePost(r, 'raw', '\x03'));
    await page.getByRole('button', { name: 'Ctrl-C (interrupt)' }).click();
    assert.equal((await (await raw).response()).status(), 200);
    raw = page.waitForRequest((r) => isMessagePost(r, 'raw', 'x'));
    await page.locator('#capture').pressSequentially('x');
    await raw;
    raw = page.waitForRequest((r) => isMessagePost(r, 'raw', '\x7f'));
    await page.locator('#capture').press('Backspace');
    await raw;
    await page.screenshot({ path: path.join(shots, 'control-light.png') });

    // dark theme and embed mode (no header)
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.getByRole('tab', { name: 'Text' }).click();
    await page.screenshot({ path: path.join(shots, 'chat-dark.png') });
    await page.goto(rt.url('/chat/embed'));
    await page.locator('.msg-agent', { hasText: 'Deployed.' }).waitFor();
    assert.equal(await page.locator('#topbar').isVisible(), false);
    await page.screenshot({ path: path.join(shots, 'embed-dark.png') });

    assert.deepEqual(problems, []);
    t.diagnostic(`screenshots in ${shots}`);
  } finally {
    await browser?.close();
    await rt.stop();
  }
});

test('chat UI: token from the page URL reaches assets, events and POSTs', { skip, timeout: 20000 }, async () => {
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, 'ui-s3cret\n');
  const rt = await startRuntime(['--auth-token-file', tokenFile], ['node', fakeAgent, writeScript(dir, script, 'token.json')]);
  let browser;
  try {
    browser = await launch();
    const page = await browser.newPage();
    page.setDefaultTimeout(8000);
    await page.goto(rt.url('/chat/embed?access_token=ui-s3cret'));
    await page.locator('#status[data-status="stable"]').waitFor({ state: 'attached' });
    assert.equal(await page.locator('#topbar').isVisible(), false, 'embed mode hides the header');
    const post = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/message'));
    await page.locator('#input').fill('hello with a token');
    await page.locator('#input').press('Enter');
    const req = await post;
    assert.equal(await req.headerValue('authorization'), 'Bearer ui-s3cret');
    assert.equal((await req.response()).status(), 200);
    await page.locator('.msg-agent', { hasText: 'Hello from the fake agent.' }).waitFor();
  } finally {
    await browser?.close();
    await rt.stop();
  }
});
