// browser.mjs: the web app's tests drive Debian's Chromium through
// playwright-core (from $TASKBOX_NODE_MODULES, installed by
// scripts/bootstrap.sh deps --test) against a real server.
//
// launch() starts a headless Chromium; newPage() opens a page that records
// every page error, console error (CSP violations included) and failed
// request of the app in page.problems; signIn() goes through /login,
// useToken() signs a context in through the API (for tests about
// something else); axe() runs axe-core in the page and returns its
// serious and critical violations; shot() saves a screenshot to
// tests/out/screenshots (TASKBOX_SCREENSHOT_DIR to change), the artifact
// CI keeps.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');

function requireDeps() {
  const dir = process.env.TASKBOX_NODE_MODULES;
  if (!dir) return null;
  // resolves from DIR/node_modules and, when DIR is node_modules, DIR itself
  return createRequire(path.join(path.resolve(dir), 'noop.js'));
}

const req = requireDeps();
export const playwright = req ? req('playwright-core') : null;
// node:test's skip value for the browser tests
export const skip = playwright ? false : 'TASKBOX_NODE_MODULES is not set (needs playwright-core); skipping the browser tests';

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-dev-shm-usage',
];

export function launch() {
  return playwright.chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

export const PHONE = { width: 390, height: 844 };

// A new context + page; page.problems collects what went wrong in it.
export async function newPage(browser, { viewport = { width: 1280, height: 800 }, base } = {}) {
  const context = await browser.newContext({ viewport, baseURL: base });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') page.problems.push(`console: ${m.text()}`);
  });
  return page;
}

// Console errors the app causes on purpose (a 4xx the page shows).
export function realProblems(page, allow = []) {
  return page.problems.filter((p) => !/Failed to load resource: the server responded with a status of (401|403|404|409|422|429)/.test(p) && !allow.some((re) => re.test(p)));
}

// Sign in through the /login page with a username and password, or a
// token ({token}); waits until the app left /login.
export async function signIn(page, base, creds) {
  await page.goto(`${base}/login`);
  if (creds.token) {
    await page.getByText('Sign in with a token instead').click();
    await page.getByLabel('API token').fill(creds.token);
    await page.getByRole('button', { name: 'Sign in with a token' }).click();
  } else {
    await page.getByLabel('Username').fill(creds.username);
    await page.getByLabel('Password').fill(creds.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

// Sign page's context in with a token through the API (the cookie lands
// in the context, as after the /login page).
export async function useToken(page, base, token) {
  const r = await page.context().request.post(`${base}/api/v2/users/login`, {
    data: { token },
    headers: { Origin: base },
  });
  if (r.status() !== 200) throw new Error(`login: ${r.status()} ${await r.text()}`);
}

let axeSource = null;

// axe-core's serious and critical violations on the page as it is now
// ([{id, impact, help, targets}]).
export async function axe(page) {
  axeSource ??= fs.readFileSync(req.resolve('axe-core/axe.min.js'), 'utf8');
  // evaluated through the DevTools protocol: the page's CSP does not apply
  await page.evaluate(axeSource);
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
}

export const screenshotDir = process.env.TASKBOX_SCREENSHOT_DIR || path.join(repoRoot, 'tests', 'out', 'screenshots');

// Save a screenshot as NAME.png; returns its path.
export async function shot(page, name, { fullPage = false } = {}) {
  fs.mkdirSync(screenshotDir, { recursive: true });
  const p = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: p, fullPage });
  return p;
}
