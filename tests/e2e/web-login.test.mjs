// web-login.test.mjs: signing in to the web app in Chromium, against a real
// server: a password, a token, a wrong password, signing out, where "/"
// goes, ?next=, and a phone-sized screen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../harness/server.mjs';
import { skip, launch, newPage, signIn, axe, shot, PHONE, realProblems } from '../harness/browser.mjs';

let server, browser;
before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await launch();
  const r = await server.api('POST', '/api/v2/users', { body: { username: 'alice', role: 'member', password: 'correct horse battery' } });
  assert.equal(r.status, 201, r.text);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('signed out: / and app pages go to /login, which keeps where to return', { skip }, async () => {
  const page = await newPage(browser);
  await page.goto(`${server.base}/`);
  await page.waitForURL(`${server.base}/login`);
  await page.getByRole('heading', { name: 'Sign in to taskbox' }).waitFor();
  assert.equal(await page.locator('#topbar').isVisible(), false, 'no navigation while signed out');
  await page.goto(`${server.base}/settings`);
  await page.waitForURL(`${server.base}/login?next=%2Fsettings`);
  assert.deepEqual(await axe(page), []);
  await shot(page, 'login');
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('a password signs in; a wrong one says so; signing out ends the session', { skip }, async () => {
  const page = await newPage(browser);
  await page.goto(`${server.base}/login`);
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/login');

  // ?next= brings her back; an outside address never
  await page.goto(`${server.base}/login?next=${encodeURIComponent('//evil.example/x')}`);
  await signIn(page, server.base, { username: 'alice', password: 'correct horse battery' });
  assert.equal(new URL(page.url()).pathname, '/tasks');
  await page.locator('#who-name', { hasText: 'alice' }).waitFor();
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'taskbox_session');
  assert.ok(session, 'a session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'the page cannot read it');
  // members have no Users page
  assert.equal(await page.getByRole('link', { name: 'Users' }).count(), 0);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${server.base}/login`);
  // the old cookie is dead on the server, not only dropped by the browser
  const r = await server.api('GET', '/api/v2/users/me', { token: null, headers: { Cookie: `taskbox_session=${session.value}` } });
  assert.equal(r.status, 401);
  await page.goto(`${server.base}/tasks`);
  await page.waitForURL(/\/login\?next=/);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('a token signs in, and next= returns to the page asked for', { skip }, async () => {
  const page = await newPage(browser);
  await page.goto(`${server.base}/settings`);
  await page.waitForURL(/\/login\?next=/);
  // on this page, not signIn()'s fresh /login: next= must survive
  await page.getByText('Sign in with a token instead').click();
  await page.getByLabel('API token').fill(server.token);
  await page.getByRole('button', { name: 'Sign in with a token' }).click();
  await page.waitForURL(`${server.base}/settings`);
  await page.getByRole('link', { name: 'Users' }).waitFor();
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});

test('the login page on a phone', { skip }, async () => {
  const page = await newPage(browser, { viewport: PHONE });
  await page.goto(`${server.base}/login`);
  await page.getByLabel('Username').waitFor();
  const box = await page.locator('.login').boundingBox();
  assert.ok(box.width <= PHONE.width, 'the form fits the screen');
  assert.deepEqual(await axe(page), []);
  await shot(page, 'login-phone');
  await signIn(page, server.base, { username: 'alice', password: 'correct horse battery' });
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});
