// web-extauth.test.mjs: linking a GitHub account from the web app's
// settings in Chromium, against a real server and the fake GitHub of
// tests/harness/fake-github.mjs: an admin sets up the OAuth app in the
// settings page (the secret never comes back into the page), a member
// clicks Link, approves on the fake's authorize page and lands back on
// settings showing the login; unlinking; a refused callback says why.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../harness/server.mjs';
import { startFakeGitHub } from '../harness/fake-github.mjs';
import { skip, launch, newPage, signIn, axe, shot, realProblems } from '../harness/browser.mjs';

const CLIENT_ID = 'Iv1.webclient0001';
const CLIENT_SECRET = `web-client-secret-${process.pid}`;

let server, browser, gh;
before(async () => {
  if (skip) return;
  gh = await startFakeGitHub({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, users: [{ id: 7001, login: 'octocat', name: 'The Octocat' }] });
  server = await startServer();
  browser = await launch();
  const r = await server.api('POST', '/api/v2/users', { body: { username: 'alice', role: 'member', password: 'correct horse battery' } });
  assert.equal(r.status, 201, r.text);
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await gh?.close();
});

test('an admin sets up the GitHub OAuth app in settings', { skip }, async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, { token: server.token });
  await page.goto(`${server.base}/settings`);
  await page.getByRole('heading', { name: 'GitHub OAuth app' }).waitFor();
  await page.getByText('GitHub accounts cannot be linked yet').waitFor();
  await page.getByLabel('Client ID').fill(CLIENT_ID);
  await page.getByLabel('Client secret').fill(CLIENT_SECRET);
  await page.getByLabel('GitHub base URL').fill(gh.url);
  await page.getByLabel('GitHub API URL').fill(gh.url);
  // prefilled with the address this browser uses; a bad one is refused at
  // its field
  const callback = page.getByLabel('Callback URL');
  assert.equal(await callback.inputValue(), `${server.base}/external-auth/github/callback`);
  await callback.fill(`${server.base}/callback`);
  await page.getByRole('button', { name: 'Save GitHub OAuth app' }).click();
  await page.getByText(/callback_url must be/).waitFor();
  assert.equal((await server.api('GET', '/api/v2/external-auth/github/config')).status, 404, 'nothing saved');
  await callback.fill(`${server.base}/external-auth/github/callback`);
  await page.getByLabel('Client secret').fill(CLIENT_SECRET);
  await page.getByRole('button', { name: 'Save GitHub OAuth app' }).click();
  await page.getByText('GitHub OAuth app saved.').waitFor();
  await page.getByRole('link', { name: 'Link GitHub account' }).waitFor(); // the account section follows
  assert.equal(await page.getByLabel('Client secret').inputValue(), '', 'the secret does not stay in the page');
  await page.getByRole('heading', { name: 'GitHub OAuth app' }).scrollIntoViewIfNeeded();
  await shot(page, 'settings-github-app');
  assert.ok(!(await page.content()).includes(CLIENT_SECRET));
  const r = await server.api('GET', '/api/v2/external-auth/github/config');
  assert.equal(r.json.client_id, CLIENT_ID);
  assert.equal(r.json.base_url, gh.url);
  assert.equal(r.json.callback_url, `${server.base}/external-auth/github/callback`);
  assert.deepEqual(await axe(page), []);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('a member links their GitHub account through GitHub\'s authorize page, then unlinks it', { skip }, async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, { username: 'alice', password: 'correct horse battery' });
  await page.goto(`${server.base}/settings`);
  await page.getByText('No GitHub account is linked.').waitFor();
  assert.equal(await page.getByRole('heading', { name: 'GitHub OAuth app' }).count(), 0, 'members do not see the app config');
  assert.deepEqual(await axe(page), []);
  await page.getByRole('link', { name: 'Link GitHub account' }).click();
  await page.waitForURL((u) => u.toString().startsWith(`${gh.url}/login/oauth/authorize`));
  await page.getByRole('button', { name: 'Authorize' }).click();
  await page.waitForURL(`${server.base}/settings?external_auth=github`);
  await page.getByText('Your GitHub account is linked.').waitFor();
  await page.locator('.github-login', { hasText: 'octocat' }).waitFor();
  await shot(page, 'settings-github-linked');
  assert.doesNotMatch(await page.locator('#main').innerText(), /^(null|undefined)$/m);
  const st = await page.evaluate(async () => (await fetch('/api/v2/external-auth/github')).json());
  assert.equal(st.authenticated, true);
  assert.equal(st.user.login, 'octocat');

  await page.getByRole('button', { name: 'Unlink GitHub account' }).click();
  await page.getByRole('button', { name: 'Yes, unlink GitHub account' }).click();
  await page.getByText('No GitHub account is linked.').waitFor();
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('a callback that is not this browser\'s is refused and settings say so', { skip }, async () => {
  const page = await newPage(browser);
  await signIn(page, server.base, { username: 'alice', password: 'correct horse battery' });
  await page.goto(`${server.base}/external-auth/github/callback?code=abc&state=forged`);
  await page.waitForURL((u) => u.pathname === '/settings' && u.searchParams.has('external_auth_error'));
  await page.getByRole('alert').filter({ hasText: 'Linking failed' }).waitFor();
  await page.getByText('No GitHub account is linked.').waitFor();
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});
