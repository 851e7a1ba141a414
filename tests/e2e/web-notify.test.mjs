// web-notify.test.mjs: the web app's notifications in Chromium against a
// real server: with notifications turned on, a task of mine that goes
// idle after working, or waits on a dialog, while I look at another page
// raises a browser notification and a count in the title; looking at the
// page again clears the count; with them off, only the count.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitFor } from '../harness/server.mjs';
import { skip, launch, newPage, useToken, realProblems } from '../harness/browser.mjs';

let server, browser, alice;
before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await launch();
  alice = await server.user('alice');
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

// Record every Notification the page makes (window.__notes).
function spyNotifications(page) {
  return page.addInitScript(() => {
    window.__notes = [];
    const Real = window.Notification;
    class Spy extends Real {
      constructor(title, opts) {
        super(title, opts);
        window.__notes.push({ title, body: opts?.body || '' });
      }
    }
    window.Notification = Spy;
  });
}

test('a task of mine going idle after work raises a notification and a title count', { skip, timeout: 180000 }, async () => {
  const page = await newPage(browser);
  await page.context().grantPermissions(['notifications'], { origin: server.base });
  await spyNotifications(page);
  await useToken(page, server.base, alice.token);
  const t = await server.createTask({ input: 'echo ready', template: 'shell' }, { token: alice.token });
  await server.waitTask('alice', t.name, { state: 'idle', token: alice.token, timeout: 90000 });

  await page.goto(`${server.base}/settings`);
  const toggle = page.getByRole('button', { name: 'Notifications off' });
  await toggle.click();
  await page.getByRole('button', { name: 'Notifications on' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Notifications on' }).getAttribute('aria-pressed'), 'true');
  // the stream has seen the task before it changes (the first sight
  // notifies nothing)
  await page.waitForTimeout(1000);

  const r = await server.api('POST', `/api/v2/tasks/alice/${t.name}/send`, { token: alice.token, body: { input: 'sleep 2; echo done-$((6*7))' } });
  assert.ok(r.status === 200 || r.status === 202, r.text);
  await waitFor(() => page.evaluate(() => window.__notes.length > 0), { timeout: 60000, what: 'a notification' });
  const notes = await page.evaluate(() => window.__notes);
  assert.match(notes[0].title, new RegExp(`${t.name}|${t.display_name}`));
  assert.match(notes[0].title, /idle|waiting/);
  await waitFor(async () => /^\(\d+\) /.test(await page.title()), { what: 'a count in the title' });

  // turned off: no more notifications, the count still grows
  await page.getByRole('button', { name: 'Notifications on' }).click();
  await page.getByRole('button', { name: 'Notifications off' }).waitFor();
  const before = notes.length;
  const unread = Number(await page.evaluate(() => document.documentElement.dataset.unread));
  await server.api('POST', `/api/v2/tasks/alice/${t.name}/send`, { token: alice.token, body: { input: 'sleep 2; echo again' } });
  await waitFor(async () => Number(await page.evaluate(() => document.documentElement.dataset.unread)) > unread,
    { timeout: 60000, what: 'the count grows' });
  assert.equal((await page.evaluate(() => window.__notes)).length, before);
  assert.deepEqual(realProblems(page), []);
  await page.context().close();
});
