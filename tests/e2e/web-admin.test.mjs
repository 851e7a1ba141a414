// web-admin.test.mjs: the /templates, /settings and /users pages in
// Chromium against a real server.
//
// Templates: a push from the page is listed with its Task verdict; an
// invalid one shows each problem at its line and column (the same as the
// API's 422), marks the line and moves the caret there; YAML holding
// markup stays text. Settings: the profile, an API token (shown once,
// works, revoked then 401), a secret (its value never in the page), the
// GitHub token, the webhook, the password (then /login with the new
// one). Users: members get Not found and no Users link; an admin creates
// a user with a password who then signs in, changes a role, suspends
// them (their session then 401s: back to /login), deletes them. axe on
// every page, desktop and phone; screenshots of each.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, customTemplate, waitFor } from '../harness/server.mjs';
import { skip, launch, newPage, signIn, useToken, axe, shot, PHONE, realProblems } from '../harness/browser.mjs';

let server, browser, adminPassword;
const alice = { username: 'alice', password: 'alice-password-1' };

before(async () => {
  if (skip) return;
  server = await startServer();
  adminPassword = /login password of 'admin' \(shown once[^)]*\): (\S+)/.exec(server.out)?.[1];
  const r = await server.api('POST', '/api/v2/users', { body: { username: alice.username, password: alice.password } });
  assert.equal(r.status, 201, r.text);
  alice.token = r.json.token;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// A page signed in as creds through /login (desktop unless viewport).
async function pageAs(creds, viewport) {
  const page = await newPage(browser, viewport ? { viewport } : {});
  await signIn(page, server.base, creds);
  return page;
}

// axe on the page as it is, and again at phone size (saved as
// NAME-phone.png when a name is given).
async function axeBoth(page, what, name) {
  assert.deepEqual(await axe(page), [], `axe (desktop) on ${what}`);
  const size = page.viewportSize();
  await page.setViewportSize(PHONE);
  assert.deepEqual(await axe(page), [], `axe (phone) on ${what}`);
  if (name) await shot(page, `${name}-phone`);
  await page.setViewportSize(size);
}

const XSS = '<img src=x onerror=window.__xss=1>';

test('templates: a push is listed with its verdict, errors at their line and column, YAML stays text', { skip }, async () => {
  // one that cannot run as a Task (no ai_task): its reason is shown
  const plain = customTemplate('web-plain', ['true']).replace(/ai_task:\n  app: chat\n/, '');
  const pr = await server.api('POST', '/api/v2/templates', { token: alice.token, body: plain, headers: { 'Content-Type': 'application/yaml' } });
  assert.equal(pr.status, 201, pr.text);
  const page = await pageAs(alice);
  await page.goto(`${server.base}/templates`);
  await page.getByRole('heading', { name: 'Templates', exact: true }).waitFor();

  // a valid template, whose description is markup
  const yaml = customTemplate('web-ok', ['sleep', '1000']).replace('workspace:', `description: ${JSON.stringify(XSS)}\nworkspace:`);
  await page.getByLabel('Template YAML').fill(yaml);
  await page.getByRole('button', { name: 'Push', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Pushed web-ok, version 1.' }).waitFor();
  const api = await server.api('GET', '/api/v2/templates/web-ok', { token: alice.token });
  assert.equal(api.status, 200);
  const row = page.locator('tr[data-name="web-ok"]');
  await row.waitFor();
  const verdict = api.json.task_capable ? 'Tasks: yes' : 'Not for Tasks';
  assert.match(await row.locator('td[data-label="Tasks"]').innerText(), new RegExp(verdict));
  if (!api.json.task_capable) assert.ok((await row.innerText()).includes(api.json.task_reason));
  assert.equal(await row.locator('td[data-label="Description"]').innerText(), XSS);
  assert.equal(await page.locator('main img').count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  if (!pr.json.task_capable) {
    const cell = await page.locator('tr[data-name="web-plain"] td[data-label="Tasks"]').innerText();
    assert.ok(cell.includes('Not for Tasks') && cell.includes(pr.json.task_reason), cell);
  }
  await shot(page, 'templates', { fullPage: true });
  await axeBoth(page, '/templates', 'templates');

  // an invalid one: the API's own problems, each at its line and column
  const bad = 'name: web-bad\nworkspace:\n  backend: local\nagent:\n  module: no-such-module\n  command: ["true"]\nai_task:\n  app: chat\n';
  const want = await server.api('POST', '/api/v2/templates', { token: alice.token, body: bad, headers: { 'Content-Type': 'application/yaml' } });
  assert.equal(want.status, 422, want.text);
  const first = want.json.errors[0];
  assert.ok(first.line > 0 && first.column > 0, want.text);
  await page.getByLabel('Template YAML').fill(bad);
  await page.getByRole('button', { name: 'Push', exact: true }).click();
  const item = page.getByRole('button', { name: `line ${first.line}, column ${first.column}: ${first.message}` });
  await item.waitFor();
  assert.equal(await page.locator('.yaml-errors li').count(), want.json.errors.filter((e) => e.line > 0).length);
  assert.equal(await page.locator(`.yaml-lines li.bad[data-line="${first.line}"]`).count(), 1);
  assert.match(await page.getByRole('alert').filter({ hasText: 'invalid' }).innerText(), /The template is invalid: \d+ problems?\./);
  await item.click();
  const caret = await page.getByLabel('Template YAML').evaluate((t) => [document.activeElement === t, t.selectionStart]);
  const lines = bad.split('\n');
  const offset = lines.slice(0, first.line - 1).reduce((n, l) => n + l.length + 1, 0) + first.column - 1;
  assert.deepEqual(caret, [true, offset]);
  assert.equal((await server.api('GET', '/api/v2/templates/web-bad', { token: alice.token })).status, 404);
  await shot(page, 'template-errors');
  await axeBoth(page, '/templates with errors');

  // the template's page: its YAML as text, its versions
  await page.getByRole('link', { name: 'web-ok' }).first().click();
  await page.waitForURL(/\/templates\/web-ok$/);
  const pre = page.locator('pre.yaml');
  assert.equal(await pre.textContent(), yaml);
  assert.equal(await page.locator('main img').count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  // a second version pushed from the page
  await page.getByLabel('Template YAML').fill(`${yaml}# v2\n`);
  await page.getByRole('button', { name: 'Push', exact: true }).click();
  await page.locator('#toasts').getByText('Pushed web-ok, version 2.').waitFor();
  await page.locator('table[aria-labelledby="versions-title"] tbody tr').nth(1).waitFor();
  const versions = await server.api('GET', '/api/v2/templates/web-ok/versions', { token: alice.token });
  assert.equal(versions.status, 200, versions.text);
  assert.deepEqual(versions.json.versions.map((v) => [v.version, v.created_by, v.active]), [[2, 'alice', true], [1, 'alice', false]]);
  assert.equal(versions.json.author, 'alice');
  await axeBoth(page, '/templates/web-ok');

  // another member sees it but may not delete it; its author may
  const bobTok = (await server.api('POST', '/api/v2/users', { body: { username: 'tmpl-viewer' } })).json.token;
  const other = await newPage(browser);
  await useToken(other, server.base, bobTok);
  await other.goto(`${server.base}/templates/web-ok`);
  await other.locator('pre.yaml').waitFor();
  assert.equal(await other.getByRole('button', { name: 'Delete template' }).count(), 0);
  await other.goto(`${server.base}/templates/no-such-template`);
  await other.getByRole('heading', { name: 'Not found' }).waitFor();
  assert.deepEqual(realProblems(other), []);
  await other.context().close();

  await page.getByRole('button', { name: 'Delete template' }).click();
  await page.getByRole('button', { name: 'Yes, delete template' }).click();
  await page.waitForURL(/\/templates$/);
  await page.getByRole('heading', { name: 'Templates', exact: true }).waitFor();
  await waitFor(async () => (await page.locator('tr[data-name="web-ok"]').count()) === 0);
  assert.equal((await server.api('GET', '/api/v2/templates/web-ok', { token: alice.token })).status, 404);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('settings: profile, API tokens, secrets, GitHub token, webhook, password', { skip }, async () => {
  const page = await pageAs(alice);
  await page.goto(`${server.base}/settings`);
  await page.getByRole('heading', { name: 'Settings' }).waitFor();

  // profile: no email set shows none (the API's made-up address is not hers)
  assert.equal(await page.getByLabel('Email', { exact: true }).inputValue(), '');
  await page.getByLabel('Name', { exact: true }).fill('Alice Example');
  await page.getByLabel('Email', { exact: true }).fill('alice@example.com');
  await page.getByRole('button', { name: 'Save profile' }).click();
  await page.getByRole('status').filter({ hasText: 'Profile saved.' }).waitFor();
  let me = await server.api('GET', '/api/v2/users/me', { token: alice.token });
  assert.equal(me.json.name, 'Alice Example');
  assert.equal(me.json.email, 'alice@example.com');
  // a server error is shown at its field
  await page.getByLabel('Name', { exact: true }).fill('Alice <b>');
  await page.getByRole('button', { name: 'Save profile' }).click();
  const nameField = page.getByLabel('Name', { exact: true });
  await waitFor(async () => (await nameField.getAttribute('aria-invalid')) === 'true');
  assert.notEqual(await page.locator('.field-error').first().innerText(), '');
  await page.getByLabel('Name', { exact: true }).fill('Alice Example');

  // an API token: shown once, works, revoked then 401
  await page.getByLabel('Token name').fill('e2e token');
  await page.getByRole('button', { name: 'Create token' }).click();
  const once = page.getByLabel('New token e2e token');
  await once.waitFor();
  const token = await once.inputValue();
  assert.equal((await server.api('GET', '/api/v2/users/me', { token })).json.username, 'alice');
  await page.getByRole('button', { name: 'Copy' }).waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'API tokens' }).waitFor();
  await page.locator('tr[data-token]').filter({ hasText: 'e2e token' }).waitFor();
  assert.ok(!(await page.content()).includes(token), 'the token is shown once only');
  await page.getByRole('button', { name: 'Revoke e2e token' }).click();
  await page.getByRole('button', { name: 'Yes, revoke e2e token' }).click();
  await waitFor(async () => (await page.locator('tr[data-token]').filter({ hasText: 'e2e token' }).count()) === 0);
  assert.equal((await server.api('GET', '/api/v2/users/me', { token })).status, 401);

  // a secret: its value never in the page
  const value = 'sekret-value-4711';
  await page.getByLabel('Secret name').fill('MY_SECRET');
  await page.getByLabel('Value', { exact: true }).fill(value);
  await page.getByRole('button', { name: 'Save secret' }).click();
  await page.getByRole('status').filter({ hasText: 'Secret MY_SECRET saved.' }).waitFor();
  await page.locator('tr[data-secret="MY_SECRET"]').waitFor();
  const inPage = (v) => page.evaluate((x) => document.documentElement.outerHTML.includes(x) || [...document.querySelectorAll('input, textarea')].some((e) => e.value.includes(x)), v);
  assert.equal(await inPage(value), false);
  let secrets = await server.api('GET', '/api/v2/users/me/secrets', { token: alice.token });
  assert.deepEqual(secrets.json.secrets.map((s) => s.name), ['MY_SECRET']);
  // a bad name: the server's error at the name field
  await page.getByLabel('Secret name').fill('bad name!');
  await page.getByLabel('Value', { exact: true }).fill(value);
  await page.getByRole('button', { name: 'Save secret' }).click();
  await waitFor(async () => (await page.getByLabel('Secret name').getAttribute('aria-invalid')) === 'true');
  assert.equal(await inPage(value), false);
  // the GitHub token
  assert.match(await page.locator('.github-state').innerText(), /No GitHub token is linked/);
  await page.getByLabel('GitHub personal access token').fill('ghp_e2eGithubValue');
  await page.getByRole('button', { name: 'Save GitHub token' }).click();
  await waitFor(async () => /A GitHub token is linked/.test(await page.locator('.github-state').innerText()));
  assert.equal(await inPage('ghp_e2eGithubValue'), false);
  await shot(page, 'settings', { fullPage: true });
  await axeBoth(page, '/settings', 'settings');
  // the secret deleted
  await page.getByRole('button', { name: 'Delete MY_SECRET' }).click();
  await page.getByRole('button', { name: 'Yes, delete MY_SECRET' }).click();
  await waitFor(async () => (await page.locator('tr[data-secret="MY_SECRET"]').count()) === 0);
  secrets = await server.api('GET', '/api/v2/users/me/secrets', { token: alice.token });
  assert.deepEqual(secrets.json.secrets.map((s) => s.name), ['github_token']);

  // the webhook
  await page.getByLabel('Webhook URL').fill('https://hooks.example.com/taskbox');
  await page.getByRole('button', { name: 'Save webhook' }).click();
  await page.getByRole('status').filter({ hasText: 'Webhook saved.' }).waitFor();
  me = await server.api('GET', '/api/v2/users/me', { token: alice.token });
  assert.equal(me.json.webhook_url, 'https://hooks.example.com/taskbox');

  // browser sessions are listed
  assert.ok((await page.locator('tr[data-session]').count()) >= 1);

  // the password: a wrong current one is refused at its field; then the
  // new one signs in through /login
  await page.getByLabel('Current password').fill('not-the-password');
  await page.getByLabel('New password', { exact: true }).fill('alice-password-2');
  await page.getByLabel('New password again').fill('alice-password-2');
  await page.getByRole('button', { name: 'Change password' }).click();
  await waitFor(async () => (await page.getByLabel('Current password').getAttribute('aria-invalid')) === 'true');
  await page.getByLabel('Current password').fill(alice.password);
  await page.getByLabel('New password', { exact: true }).fill('alice-password-2');
  await page.getByLabel('New password again').fill('alice-password-2');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByRole('status').filter({ hasText: 'Password changed.' }).waitFor();
  alice.password = 'alice-password-2';
  const again = await pageAs(alice);
  await again.goto(`${server.base}/settings`);
  await again.getByRole('heading', { name: 'Settings' }).waitFor();
  assert.deepEqual(realProblems(again), []);
  await again.context().close();
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('users: members get Not found; an admin creates, re-roles, suspends and deletes a user', { skip }, async () => {
  assert.ok(adminPassword, `no admin password in the banner:\n${server.out}`);
  // a member: no Users link, Not found
  const member = await pageAs(alice);
  await member.goto(`${server.base}/users`);
  await member.getByRole('heading', { name: 'Not found' }).waitFor();
  assert.equal(await member.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).count(), 0);
  assert.deepEqual(realProblems(member), []);
  await member.context().close();

  // the login page
  const page = await newPage(browser);
  await page.goto(`${server.base}/login`);
  await page.getByRole('heading', { name: 'Sign in to taskbox' }).waitFor();
  await shot(page, 'login');
  await axeBoth(page, '/login');
  await signIn(page, server.base, { username: 'admin', password: adminPassword });
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
  await page.waitForURL(/\/users$/);
  await page.locator('tr[data-user="alice"]').waitFor();

  // create bob with a password: his token shown once; he signs in
  await page.getByLabel('Username').fill('bob');
  await page.getByLabel('Password (optional)').fill('bob-password-1');
  await page.getByRole('button', { name: 'Create user' }).click();
  await page.getByRole('status').filter({ hasText: 'Created bob' }).waitFor();
  const bobToken = await page.getByLabel("bob's first API token").inputValue();
  assert.equal((await server.api('GET', '/api/v2/users/me', { token: bobToken })).json.username, 'bob');
  await page.locator('tr[data-user="bob"]').waitFor();
  // a taken name: the server's error
  await page.getByLabel('Username').fill('bob');
  await page.getByRole('button', { name: 'Create user' }).click();
  await page.locator('.form-error').filter({ hasText: 'already exists' }).waitFor();
  await shot(page, 'users');
  await axeBoth(page, '/users', 'users');

  const bob = await pageAs({ username: 'bob', password: 'bob-password-1' });
  await bob.goto(`${server.base}/settings`);
  await bob.getByRole('heading', { name: 'Settings' }).waitFor();

  // a role change
  await page.getByLabel('Role of bob').selectOption('admin');
  await page.locator('tr[data-user="bob"]').getByRole('button', { name: 'Set role' }).click();
  await page.getByRole('status').filter({ hasText: 'bob is now an admin.' }).first().waitFor();
  let users = await server.api('GET', '/api/v2/users');
  assert.equal(users.json.users.find((u) => u.username === 'bob').role, 'admin');
  await page.getByLabel('Role of bob').selectOption('task-creator');
  await page.locator('tr[data-user="bob"]').getByRole('button', { name: 'Set role' }).click();
  await page.getByRole('status').filter({ hasText: 'bob is now a task-creator.' }).first().waitFor();
  users = await server.api('GET', '/api/v2/users');
  assert.equal(users.json.users.find((u) => u.username === 'bob').role, 'task-creator');
  await page.getByLabel('Role of bob').selectOption('member');
  await page.locator('tr[data-user="bob"]').getByRole('button', { name: 'Set role' }).click();
  await page.getByRole('status').filter({ hasText: 'bob is now a member.' }).first().waitFor();

  // suspended: bob's session 401s and his page goes to /login
  await page.getByRole('button', { name: 'Suspend bob' }).click();
  await page.getByRole('button', { name: 'Activate bob' }).waitFor();
  users = await server.api('GET', '/api/v2/users');
  assert.equal(users.json.users.find((u) => u.username === 'bob').status, 'suspended');
  assert.equal((await server.api('GET', '/api/v2/users/me', { token: bobToken })).status, 401);
  await bob.getByRole('link', { name: 'Templates' }).click();
  await bob.waitForURL(/\/login\?next=/);
  await bob.context().close();
  await page.getByRole('button', { name: 'Activate bob' }).click();
  await page.getByRole('button', { name: 'Suspend bob' }).waitFor();

  // deleted, with the confirmation in place
  await page.getByRole('button', { name: 'Delete bob' }).click();
  await page.getByRole('button', { name: 'Yes, delete bob' }).click();
  await waitFor(async () => (await page.locator('tr[data-user="bob"]').count()) === 0);
  users = await server.api('GET', '/api/v2/users');
  assert.equal(users.json.users.some((u) => u.username === 'bob'), false);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});
