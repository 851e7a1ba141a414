// main.js: the web app's entry: who is signed in, the top bar, the router,
// the one event stream every page shares, notifications and toasts.
//
// Every page path of the server answers the same shell (index.html); this
// module picks the page module for location.pathname (pages/*.js, each
// exporting render(root, ctx)) and re-renders on history navigation. Links
// inside the app are followed without a reload. The app holds one
// EventSource on /api/v2/events (Task changes of every task the user may
// see); pages subscribe to it through ctx.onTask, and it drives the
// notifications (opt-in) and the title badge.

import { api, setCsrf, setUnauthorizedHandler, events } from './api.js';
import { h, clear, $ } from './dom.js';

// path pattern -> page module, title, whether signed-out users may see it
const ROUTES = [
  { re: /^\/login\/?$/, page: 'login', title: 'Sign in', public: true },
  { re: /^\/tasks\/?$/, page: 'tasks', title: 'Tasks' },
  { re: /^\/tasks\/([^/]+)\/([^/]+)\/?$/, page: 'task', title: 'Task', keys: ['owner', 'task'] },
  { re: /^\/templates\/?$/, page: 'templates', title: 'Templates' },
  { re: /^\/templates\/([^/]+)\/?$/, page: 'templates', title: 'Template', keys: ['name'] },
  { re: /^\/settings\/?$/, page: 'settings', title: 'Settings' },
  { re: /^\/users\/?$/, page: 'users', title: 'Users', admin: true },
];

// What every page may read: the signed-in user and the Task templates.
export const app = {
  user: null, // User JSON, null when signed out
  templates: null, // [Template] the user may use, null until loaded
};

const taskListeners = new Set();
let stream = null;
let current = null; // {cleanups: [fn]} of the page on screen

/* ---- toasts ------------------------------------------------------------ */

// A short message at the bottom of the screen (errors stay until closed).
export function toast(text, level = 'info') {
  const box = $('#toasts');
  const close = h('button', { type: 'button', class: 'quiet', 'aria-label': 'Dismiss', onClick: () => el.remove() }, '×');
  const el = h('div', { class: `toast toast-${level}`, role: level === 'error' ? 'alert' : null }, h('span', {}, text), close);
  box.append(el);
  while (box.children.length > 4) box.firstChild.remove();
  if (level !== 'error') setTimeout(() => el.remove(), 6000);
}

/* ---- session ----------------------------------------------------------- */

// Who is signed in (from the session cookie); false when nobody.
export async function loadSession() {
  try {
    const s = await api('GET', '/api/v2/users/me/session', undefined, { quiet401: true });
    app.user = s.user;
    setCsrf(s.csrf_token);
    return true;
  } catch (e) {
    if (e.status === 401 || e.status === 404) {
      app.user = null;
      setCsrf(null);
      return false;
    }
    throw e;
  }
}

// The templates the user may use (cached; force reloads).
export async function loadTemplates(force = false) {
  if (app.templates && !force) return app.templates;
  const r = await api('GET', '/api/v2/templates');
  app.templates = r.templates || [];
  renderNav();
  return app.templates;
}

export const taskTemplates = () => (app.templates || []).filter((t) => t.task_capable);

async function signOut() {
  try {
    await api('POST', '/api/v2/users/logout', undefined, { quiet401: true });
  } catch {
    /* signed out either way */
  }
  app.user = null;
  app.templates = null;
  setCsrf(null);
  stopStream();
  navigate('/login', { replace: true });
}

/* ---- navigation -------------------------------------------------------- */

// Go to an app path without a reload (replace: no new history entry).
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route(true);
}

// A same-origin path the app may go to after signing in ("/tasks"), or
// null (another origin, "//host", API paths).
export function appPath(p) {
  if (typeof p !== 'string' || !p.startsWith('/') || p.startsWith('//') || p.startsWith('/\\')) return null;
  const path = p.split(/[?#]/)[0];
  return ROUTES.some((r) => r.re.test(path)) ? p : null;
}

function renderNav() {
  const nav = $('#nav');
  const links = [];
  const tasksReady = taskTemplates().length > 0;
  if (tasksReady) links.push(['/tasks', 'Tasks']);
  links.push(['/templates', 'Templates'], ['/settings', 'Settings']);
  if (app.user?.role === 'admin') links.push(['/users', 'Users']);
  const here = location.pathname;
  clear(
    nav,
    h(
      'ul',
      {},
      links.map(([href, text]) =>
        h('li', {}, h('a', { href, 'aria-current': here === href || here.startsWith(`${href}/`) ? 'page' : null }, text)),
      ),
    ),
    app.templates && !tasksReady
      ? h('p', { class: 'nav-hint' }, 'No Tasks template yet: the Tasks tab will appear automatically after you add a Tasks-compatible template.')
      : null,
  );
  $('#who-name').textContent = app.user ? app.user.username : '';
  $('#topbar').hidden = !app.user;
}

async function route(focus) {
  const path = location.pathname;
  for (const fn of current?.cleanups || []) {
    try {
      fn();
    } catch {
      /* a page's cleanup must not stop the next page */
    }
  }
  current = { cleanups: [] };
  const me = current;
  const main = $('#main');
  if (path === '/' || path === '') {
    history.replaceState(null, '', app.user ? '/tasks' : '/login');
    return route(focus);
  }
  const r = ROUTES.find((x) => x.re.test(path));
  if (r && !r.public && !app.user) {
    history.replaceState(null, '', `/login?next=${encodeURIComponent(path + location.search)}`);
    return route(focus);
  }
  if (app.user) {
    startStream();
    if (!app.templates) await loadTemplates().catch(() => {});
  }
  renderNav();
  if (me !== current) return;
  const params = {};
  let bad = false;
  if (r?.keys) {
    const m = path.match(r.re);
    r.keys.forEach((k, i) => {
      try {
        params[k] = decodeURIComponent(m[i + 1]);
      } catch {
        bad = true; // "/tasks/a/%zz": no such page
      }
    });
  }
  document.title = `${r && !bad ? r.title : 'Not found'} · taskbox`;
  if (!r || bad || (r.admin && app.user?.role !== 'admin')) {
    clear(main, notFound());
    return;
  }
  // the page draws into its own box: whatever a page still being
  // rendered appends after the user left it lands in a detached box,
  // never on the page that replaced it
  const root = h('div', { class: 'page' });
  const ctx = {
    params,
    query: new URLSearchParams(location.search),
    app,
    navigate,
    toast,
    setTitle: (t) => {
      if (me === current) document.title = `${t} · taskbox`;
    },
    onLeave: (fn) => me.cleanups.push(fn),
    onTask: (fn) => {
      taskListeners.add(fn);
      me.cleanups.push(() => taskListeners.delete(fn));
    },
    active: () => me === current,
    notFound: () => clear(root, notFound()),
  };
  try {
    const mod = await import(`./pages/${r.page}.js`);
    if (me !== current) return;
    clear(main, root);
    await mod.render(root, ctx);
  } catch (e) {
    if (me !== current) return;
    clear(root, h('div', { class: 'panel error-panel', role: 'alert' }, h('h1', {}, 'Something went wrong'), h('p', {}, e.message || String(e))));
  }
  if (focus && me === current) main.focus({ preventScroll: true });
}

function notFound() {
  return h(
    'div',
    { class: 'panel' },
    h('h1', {}, 'Not found'),
    h('p', {}, 'There is nothing here, or it is not yours to see.'),
    h('p', {}, h('a', { href: '/tasks' }, 'Back to the tasks')),
  );
}

/* ---- the shared event stream and notifications ------------------------- */

const lastSeen = new Map(); // task id -> {state, status}
let unread = 0;

function startStream() {
  if (stream) return;
  stream = events('/api/v2/events', {
    task: (t) => {
      notice(t);
      for (const fn of taskListeners) fn(t, 'task');
    },
    task_deleted: (d) => {
      lastSeen.delete(d.id);
      for (const fn of taskListeners) fn(d, 'deleted');
    },
    open: () => {
      for (const fn of taskListeners) fn(null, 'reconnected');
    },
  });
}

function stopStream() {
  stream?.close();
  stream = null;
}

// A change of one of my tasks worth telling: waiting for me, idle after
// working, complete, failed. Returns the text or null.
function noticeText(t, before) {
  const s = t.current_state?.state;
  if (!s || s === before?.state) return null;
  if (s === 'waiting') return 'is waiting for an answer';
  if (s === 'idle' && before?.state === 'working') return 'is idle: its turn is done';
  if (s === 'complete') return 'is complete';
  if (s === 'failure' || s === 'failed') return 'failed';
  return null;
}

function notice(t) {
  const before = lastSeen.get(t.id);
  lastSeen.set(t.id, { state: t.current_state?.state, status: t.status });
  if (!app.user || t.owner_id !== app.user.id || before === undefined) return;
  const what = noticeText(t, before);
  if (!what) return;
  const onIt = location.pathname.endsWith(`/${t.id}`) || location.pathname.endsWith(`/${t.name}`);
  if (document.hidden || !onIt) {
    unread++;
    renderBadge();
  }
  if (notifyOn() && (document.hidden || !onIt)) {
    const body = t.current_state?.message || '';
    try {
      const n = new Notification(`${t.display_name || t.name} ${what}`, { body, tag: t.id });
      n.onclick = () => {
        window.focus();
        navigate(`/tasks/${encodeURIComponent(t.owner_name)}/${encodeURIComponent(t.name)}`);
      };
    } catch {
      /* a browser without the Notification constructor */
    }
  }
}

function renderBadge() {
  const base = document.title.replace(/^\(\d+\) /, '');
  document.title = unread > 0 ? `(${unread}) ${base}` : base;
  document.documentElement.dataset.unread = String(unread);
}

const notifyOn = () => 'Notification' in window && Notification.permission === 'granted' && localStorage.getItem('taskbox.notify') === 'on';

function renderNotifyToggle() {
  const b = $('#notify-toggle');
  const on = notifyOn();
  b.textContent = on ? 'Notifications on' : 'Notifications off';
  b.setAttribute('aria-pressed', String(on));
  b.hidden = !('Notification' in window);
}

async function toggleNotify() {
  if (notifyOn()) {
    localStorage.setItem('taskbox.notify', 'off');
  } else {
    const p = await Notification.requestPermission();
    if (p === 'granted') localStorage.setItem('taskbox.notify', 'on');
    else toast('The browser did not allow notifications', 'error');
  }
  renderNotifyToggle();
}

/* ---- start ------------------------------------------------------------- */

async function start() {
  setUnauthorizedHandler(() => {
    if (location.pathname.startsWith('/login')) return;
    app.user = null;
    stopStream();
    navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
  });
  document.addEventListener('click', (ev) => {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const a = ev.target.closest?.('a[href]');
    if (!a || a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
    if (!appPath(a.pathname)) return;
    ev.preventDefault();
    navigate(a.pathname + a.search);
  });
  window.addEventListener('popstate', () => route(true));
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      unread = 0;
      renderBadge();
    }
  });
  $('#sign-out').addEventListener('click', signOut);
  $('#notify-toggle').addEventListener('click', toggleNotify);
  renderNotifyToggle();
  try {
    await loadSession();
  } catch (e) {
    clear($('#main'), h('p', { role: 'alert' }, `The server cannot be reached: ${e.message}`));
    return;
  }
  route(false);
}

start();
