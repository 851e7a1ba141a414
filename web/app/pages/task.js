// task.js: /tasks/{owner}/{task}, one task's page ({task}: its name or id).
//
// Data model: `task` is the Task JSON last seen (GET on load, then every
// change from ctx.onTask, the app's shared event stream); `dialog` is the
// runtime's open dialog ({text, options}) from the task's own SSE stream
// (status_change events), null when none. The page has a top bar (name,
// status, the agent's state, actions) that is redrawn on every change, and
// a body whose layout depends only on the status's "mode": `live`
// (active: the sidebar app, the tabs of the other apps, Terminal, History),
// `starting` (pending, initializing: a progress state), `paused` (the log
// snapshot, modify prompt, resume) or `failed` (error, unknown: the reason
// and restart). The body is rebuilt only when the mode changes, so the
// iframes are not reloaded by a state change. Template apps are iframes of
// /@owner/task/apps/slug/, which the server sends on (303) to the same
// path with a capability (.../apps/slug/~k/CAP/...) and serves under a
// CSP sandbox (an opaque origin): the page cannot read where the user
// went inside one, so the preview app's URL bar keeps its own history of
// the paths it navigated to, never showing a capability.

import { api, events, taskPath, ApiError } from '../api.js';
import { h, clear, badge, timeEl, safeUrl, field, usageText, usageTitle } from '../dom.js';

// how many log entries the paused view shows (the newest)
const MAX_LOG_ENTRIES = 200;
// how many paths the preview's URL bar remembers
const MAX_PREVIEW_HISTORY = 100;
// the sandbox flags of template apps (as the server's CSP sandbox)
const APP_SANDBOX = 'allow-scripts allow-forms allow-popups allow-downloads allow-modals';

// The page's mode for a task status.
function modeOf(status) {
  if (status === 'active') return 'live';
  if (status === 'paused') return 'paused';
  if (status === 'error' || status === 'unknown') return 'failed';
  return 'starting';
}

// The chat's page (served by the server binary) or a template app's root.
function appSrc(task, app) {
  if (app.slug === 'chat') return `${app.url}chat/embed`;
  return app.url;
}

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

export async function render(root, ctx) {
  let task;
  try {
    task = await api('GET', `/api/v2/tasks/${encodeURIComponent(ctx.params.owner)}/${encodeURIComponent(ctx.params.task)}`);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 400)) {
      ctx.notFound();
      return;
    }
    throw e;
  }
  if (!ctx.active()) return;
  // opened by id (the URL Coder's clients build) or in another case: the
  // address bar shows the task's own path, without a new history entry
  const own = `/tasks/${encodeURIComponent(task.owner_name)}/${encodeURIComponent(task.name)}`;
  if (location.pathname !== own) history.replaceState(history.state, '', own + location.search + location.hash);

  let mode = null;
  let dialog = null;
  let deleting = false; // this page asked for the delete
  let body = null; // the current mode's {el, update(task), dispose()}
  const cleanups = [];
  ctx.onLeave(() => {
    body?.dispose?.();
    for (const fn of cleanups) fn();
  });

  const announce = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
  const head = h('header', { class: 'task-head' });
  const banner = h('section', { class: 'dialog-banner', 'aria-label': 'The agent asks', hidden: true });
  const bodyBox = h('div', { class: 'task-body-box' });
  root.append(h('div', { class: 'task-page' }, head, announce, banner, bodyBox));

  /* ---- actions --------------------------------------------------------- */

  let busy = false;
  async function act(label, method, rest) {
    if (busy) return;
    busy = true;
    drawHead();
    try {
      const r = await api(method, taskPath(task, rest));
      if (r && r.id === task.id) apply(r);
    } catch (e) {
      ctx.toast(`${label}: ${e.detail || e.message}`, 'error');
    } finally {
      busy = false;
      if (ctx.active()) drawHead();
    }
  }

  let confirming = false;
  async function doDelete() {
    busy = true;
    deleting = true;
    drawHead();
    try {
      await api('DELETE', taskPath(task));
      ctx.toast(`Deleted ${task.display_name || task.name}`);
      ctx.navigate('/tasks');
    } catch (e) {
      deleting = false;
      busy = false;
      confirming = false;
      ctx.toast(`Delete: ${e.detail || e.message}`, 'error');
      if (ctx.active()) drawHead();
    }
  }

  /* ---- the top bar ----------------------------------------------------- */

  function stateLine() {
    const s = task.current_state;
    if (!s) return h('span', { class: 'muted' }, 'No state reported yet');
    const href = safeUrl(s.uri);
    return h(
      'span',
      { class: 'task-state' },
      badge(s.state),
      s.message ? h('span', { class: 'task-message' }, s.message) : null,
      href ? h('a', { href, target: '_blank', rel: 'noopener noreferrer', class: 'task-uri' }, s.uri) : null,
    );
  }

  function drawHead() {
    // the bar is rebuilt on every change: a keyboard user's focus on one
    // of its buttons comes back to the button of the same name
    const focused = head.contains(document.activeElement) ? document.activeElement.textContent : null;
    const st = task.status;
    const buttons = [];
    if (st === 'active' || st === 'initializing')
      buttons.push(h('button', { type: 'button', disabled: busy, onClick: () => act('Pause', 'POST', 'pause') }, 'Pause'));
    if (st === 'paused')
      buttons.push(h('button', { type: 'button', class: 'primary', disabled: busy, onClick: () => act('Resume', 'POST', 'resume') }, 'Resume'));
    if (st === 'error' || st === 'unknown')
      buttons.push(h('button', { type: 'button', class: 'primary', disabled: busy, onClick: () => act('Restart', 'POST', 'restart') }, 'Restart'));
    buttons.push(
      h(
        'button',
        {
          type: 'button',
          class: 'danger',
          disabled: busy || confirming,
          onClick: () => {
            confirming = true;
            drawHead();
            head.querySelector('.confirm-delete button.danger')?.focus();
          },
        },
        'Delete',
      ),
    );
    const confirm = confirming
      ? h(
          'div',
          { class: 'confirm-delete', role: 'group', 'aria-label': 'Confirm the delete' },
          h('p', {}, 'Delete this task? Its workspace and files are removed; this cannot be undone.'),
          h('button', { type: 'button', class: 'danger', disabled: busy, onClick: doDelete }, 'Delete the task'),
          h(
            'button',
            {
              type: 'button',
              disabled: busy,
              onClick: () => {
                confirming = false;
                drawHead();
                head.querySelector('.task-actions button.danger')?.focus();
              },
            },
            'Cancel',
          ),
        )
      : null;
    clear(
      head,
      h(
        'div',
        { class: 'task-title' },
        h('h1', {}, task.display_name || task.name),
        badge(st),
        task.workspace_status === 'stopping' ? h('span', { class: 'muted' }, 'stopping…') : null,
      ),
      h('p', { class: 'task-state-line' }, h('span', { class: 'sr-only' }, 'Agent state: '), stateLine()),
      h(
        'dl',
        { class: 'task-meta' },
        h('div', {}, h('dt', {}, 'Template'), h('dd', {}, task.template_display_name || task.template_name)),
        h('div', {}, h('dt', {}, 'Owner'), h('dd', {}, task.owner_name)),
        h('div', {}, h('dt', {}, 'Created'), h('dd', {}, timeEl(task.created_at))),
        h('div', {}, h('dt', {}, 'LLM usage'), h('dd', { class: 'task-usage', title: usageTitle(task.usage) }, usageText(task.usage))),
      ),
      h('div', { class: 'task-actions row' }, buttons),
      confirm,
    );
    if (focused !== null) {
      const again = [...head.querySelectorAll('button')].find((b) => b.textContent === focused && !b.disabled);
      (again || head.querySelector('.task-actions button:not([disabled])'))?.focus();
    }
    ctx.setTitle(task.display_name || task.name);
  }

  /* ---- the dialog banner ----------------------------------------------- */

  let answering = false;
  function drawBanner() {
    const d = task.status === 'active' && task.current_state?.state === 'waiting' ? dialog : null;
    banner.hidden = !d;
    if (!d) {
      clear(banner);
      return;
    }
    const answer = async (n) => {
      answering = true;
      drawBanner();
      try {
        await api('POST', taskPath(task, 'send'), { input: String(n) });
      } catch (e) {
        ctx.toast(`Answer: ${e.detail || e.message}`, 'error');
      } finally {
        answering = false;
        if (ctx.active()) drawBanner();
      }
    };
    clear(
      banner,
      h('h2', {}, 'The agent asks'),
      h('p', { class: 'dialog-text' }, d.text || ''),
      h(
        'div',
        { class: 'dialog-options' },
        (d.options || []).map((text, i) =>
          h(
            'button',
            { type: 'button', class: ['option', d.selected === i + 1 ? 'selected' : ''], disabled: answering, onClick: () => answer(i + 1) },
            h('span', { class: 'num', 'aria-hidden': 'true' }, `${i + 1}`),
            ` ${text}`,
          ),
        ),
      ),
    );
  }

  /* ---- keeping up ------------------------------------------------------ */

  let afterApply = () => {};
  function apply(t) {
    const before = task;
    task = t;
    if (t.current_state?.state !== 'waiting') dialog = null;
    if (before.status !== t.status) announce.textContent = `Status: ${t.status}`;
    else if (before.current_state?.state !== t.current_state?.state && t.current_state) announce.textContent = `Agent: ${t.current_state.state}`;
    drawHead();
    drawBanner();
    const m = modeOf(t.status);
    if (m !== mode) {
      body?.dispose?.();
      mode = m;
      body = BODIES[m](task, ctx, apply);
      clear(bodyBox, body.el);
    } else {
      body.update?.(task);
    }
    afterApply();
  }

  async function reload() {
    try {
      apply(await api('GET', taskPath(task)));
    } catch (e) {
      if (e.status === 404 && !deleting) gone();
    }
  }

  function gone() {
    clear(
      root,
      h('div', { class: 'panel', role: 'alert' }, h('h1', {}, 'This task was deleted'), h('p', {}, h('a', { href: '/tasks' }, 'Back to the tasks'))),
    );
  }

  ctx.onTask((t, kind) => {
    if (kind === 'reconnected') reload();
    else if (kind === 'deleted' && t?.id === task.id && !deleting) gone();
    else if (kind === 'task' && t?.id === task.id) apply(t);
  });

  // the runtime's status (its dialog) comes on the task's own stream, from
  // the next change on: what is open already is asked of the runtime
  const onStatus = (s) => {
    dialog = s?.state === 'waiting' && s.dialog && Array.isArray(s.dialog.options) ? s.dialog : null;
    drawBanner();
  };
  let asking = false;
  async function askDialog() {
    if (asking || task.status !== 'active' || task.current_state?.state !== 'waiting' || dialog) return;
    asking = true;
    try {
      onStatus(await api('GET', `${task.app_url}status`));
    } catch {
      /* the next status_change tells */
    } finally {
      asking = false;
    }
  }
  const stream = events(taskPath(task, 'events'), { status_change: onStatus, open: askDialog });
  cleanups.push(() => stream.close());
  afterApply = askDialog;

  apply(task);
}

/* ---- bodies, one per mode ------------------------------------------------ */

const BODIES = { live: liveBody, starting: startingBody, paused: pausedBody, failed: failedBody };

// pending / initializing: a progress state.
function startingBody(task) {
  const msg = h('p', { class: 'muted' });
  const el = h(
    'section',
    { class: 'panel task-progress', 'aria-label': 'Starting' },
    h('h2', {}, 'Starting the workspace'),
    h('progress', { 'aria-label': 'Starting the workspace' }),
    msg,
  );
  const update = (t) => {
    msg.textContent = t.current_state?.message || (t.status === 'pending' ? 'Waiting for the workspace' : 'Starting the agent');
  };
  update(task);
  return { el, update };
}

// error / unknown: the reason and Restart (the top bar's button).
function failedBody(task) {
  const reason = h('pre', { class: 'task-reason' });
  const title = h('h2', {});
  const el = h(
    'section',
    { class: 'panel error-panel task-failed', 'aria-labelledby': nextId('failed') },
    title,
    reason,
    h('p', { class: 'muted' }, 'Restart runs the workspace again on the task’s files; the agent continues its session.'),
  );
  title.id = el.getAttribute('aria-labelledby');
  const update = (t) => {
    title.textContent = t.status === 'unknown' ? 'The task’s state is unknown' : 'The task failed';
    reason.textContent = t.status_reason || 'No reason was recorded.';
  };
  update(task);
  return { el, update };
}

// paused: the log snapshot (the conversation when it stopped), modify prompt.
function pausedBody(task, ctx, apply) {
  const convo = h('div', { class: 'paused-log' }, h('p', { class: 'muted' }, 'Loading the log…'));
  const prompt = h('textarea', { name: 'input', rows: 4, maxlength: 32768 });
  prompt.value = task.initial_prompt || '';
  const saveErr = h('p', { class: 'form-error', role: 'alert' });
  const form = h(
    'form',
    {
      class: 'stack modify-prompt',
      'aria-labelledby': 'modify-prompt-title',
      onSubmit: async (ev) => {
        ev.preventDefault();
        const button = form.querySelector('button[type=submit]');
        saveErr.textContent = '';
        button.disabled = true;
        try {
          await api('PATCH', taskPath(task, 'input'), { input: prompt.value.trim() });
          ctx.toast('Prompt saved: it is sent when the task resumes, if the agent has not had it yet');
        } catch (e) {
          saveErr.textContent = e.detail || e.message;
        } finally {
          button.disabled = false;
        }
      },
    },
    h('h2', { id: 'modify-prompt-title' }, 'Modify prompt'),
    field('Prompt', prompt, 'Used only if the prompt was not delivered to the agent yet (a task paused while starting); a delivered prompt is never sent again.'),
    saveErr,
    h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Save prompt')),
  );
  const resume = h(
    'button',
    {
      type: 'button',
      class: 'primary',
      onClick: async () => {
        resume.disabled = true;
        try {
          apply(await api('POST', taskPath(task, 'resume')));
        } catch (e) {
          ctx.toast(`Resume: ${e.detail || e.message}`, 'error');
          resume.disabled = false;
        }
      },
    },
    'Resume',
  );
  const el = h(
    'div',
    { class: 'task-paused' },
    h(
      'section',
      { class: 'panel', 'aria-label': 'Paused' },
      h('h2', {}, 'Paused'),
      h('p', {}, 'The workspace is stopped. Resume starts it again and the agent continues its session.'),
      resume,
    ),
    h('section', { class: 'panel', 'aria-label': 'Log snapshot' }, h('h2', {}, 'Log snapshot'), convo),
    h('section', { class: 'panel' }, form),
  );

  (async () => {
    let r;
    try {
      r = await api('GET', taskPath(task, 'logs'));
    } catch (e) {
      clear(convo, h('p', { class: 'form-error' }, `The log cannot be read: ${e.detail || e.message}`));
      return;
    }
    const logs = Array.isArray(r.logs) ? r.logs : [];
    const shown = logs.slice(-MAX_LOG_ENTRIES);
    clear(
      convo,
      h('p', { class: 'hint' }, r.snapshot ? ['Saved when the workspace stopped', r.snapshot_at ? [' (', timeEl(r.snapshot_at), ')'] : null, '.'] : 'From the running agent.'),
      logs.length > shown.length ? h('p', { class: 'hint' }, `The last ${shown.length} of ${logs.length} messages.`) : null,
      shown.length === 0
        ? h('p', { class: 'muted' }, 'No messages yet.')
        : h(
            'ol',
            { class: 'log-list' },
            shown.map((m) =>
              h(
                'li',
                { class: `log-${m.type === 'input' ? 'input' : 'output'}` },
                h('p', { class: 'log-who' }, m.type === 'input' ? 'You' : 'Agent', ' ', timeEl(m.time)),
                h('pre', { class: 'log-text' }, m.content || ''),
              ),
            ),
          ),
    );
  })();
  return { el };
}

// active: the sidebar app, and tabs for the other apps, Terminal, History.
function liveBody(task, ctx) {
  const disposers = [];
  const sideApp = (task.apps || []).find((a) => a.slug === (task.sidebar_app || 'chat')) || (task.apps || [])[0];
  const sidebar = h(
    'aside',
    { class: 'task-sidebar', 'aria-label': sideApp ? sideApp.display_name : 'Chat' },
    sideApp ? appFrame(task, sideApp) : h('p', { class: 'muted' }, 'This task has no apps.'),
  );

  const tabs = [];
  for (const a of task.apps || []) {
    if (a === sideApp) continue;
    tabs.push({ key: `app-${a.slug}`, label: a.display_name || a.slug, make: () => (a.slug === 'preview' ? previewPanel(task, a) : appPanel(task, a)) });
  }
  tabs.push({ key: 'terminal', label: 'Terminal', make: () => terminalPanel(task) });
  tabs.push({ key: 'history', label: 'History', make: () => historyPanel(task) });

  const list = h('div', { role: 'tablist', 'aria-label': 'Workspace', class: 'tabs' });
  const panels = h('div', { class: 'tab-panels' });
  let selected = -1;
  for (const [i, t] of tabs.entries()) {
    t.id = nextId('tab');
    t.panelId = `${t.id}-panel`;
    t.button = h(
      'button',
      {
        type: 'button',
        role: 'tab',
        id: t.id,
        'aria-controls': t.panelId,
        'aria-selected': 'false',
        tabindex: -1,
        onClick: () => select(i, false),
        onKeydown: (ev) => {
          const n = tabs.length;
          const to = { ArrowRight: (i + 1) % n, ArrowLeft: (i - 1 + n) % n, Home: 0, End: n - 1 }[ev.key];
          if (to === undefined) return;
          ev.preventDefault();
          select(to, true);
        },
      },
      t.label,
    );
    t.panel = h('div', { role: 'tabpanel', id: t.panelId, 'aria-labelledby': t.id, tabindex: 0, class: 'tab-panel', hidden: true });
    list.append(t.button);
    panels.append(t.panel);
  }

  function select(i, focus) {
    if (selected === i) {
      if (focus) tabs[i].button.focus();
      return;
    }
    if (selected >= 0) {
      const old = tabs[selected];
      old.button.setAttribute('aria-selected', 'false');
      old.button.tabIndex = -1;
      old.panel.hidden = true;
      old.view?.hide?.();
    }
    selected = i;
    const t = tabs[i];
    t.button.setAttribute('aria-selected', 'true');
    t.button.tabIndex = 0;
    t.panel.hidden = false;
    if (!t.view) {
      t.view = t.make();
      t.panel.append(t.view.el);
      if (t.view.dispose) disposers.push(() => t.view.dispose());
    }
    t.view.show?.();
    if (focus) t.button.focus();
    t.button.scrollIntoView?.({ block: 'nearest', inline: 'nearest' });
  }
  select(0, false);

  const el = h('div', { class: 'task-live' }, sidebar, h('section', { class: 'task-main', 'aria-label': 'Workspace apps' }, list, panels));
  return {
    el,
    update: (t) => {
      for (const tab of tabs) tab.view?.update?.(t);
    },
    dispose: () => {
      for (const fn of disposers) fn();
    },
  };
}

// An iframe of one app (the chat's page, or a sandboxed template app).
function appFrame(task, app, src = appSrc(task, app)) {
  const attrs = { src, title: app.slug === 'chat' ? 'Chat with the agent' : `App: ${app.display_name || app.slug}`, class: 'app-frame' };
  if (app.slug !== 'chat') attrs.sandbox = APP_SANDBOX;
  return h('iframe', attrs);
}

function appPanel(task, app) {
  return { el: appFrame(task, app) };
}

// The preview app: a URL bar over the iframe, with its own history.
function previewPanel(task, app) {
  const base = app.url.replace(/\/$/, '');
  const stack = ['/'];
  let at = 0;
  let frame = appFrame(task, app);
  const holder = h('div', { class: 'preview-frame' }, frame);
  const path = h('input', { name: 'path', value: '/', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none' });
  const back = h('button', { type: 'button', 'aria-label': 'Back', onClick: () => go(at - 1) }, '←');
  const fwd = h('button', { type: 'button', 'aria-label': 'Forward', onClick: () => go(at + 1) }, '→');
  const reload = h('button', { type: 'button', 'aria-label': 'Reload', onClick: () => show(stack[at]) }, '↻');

  // Normalise what was typed into a path under the app ("/a?b"), without
  // a capability pasted in from an app's URL.
  function clean(p) {
    let s = String(p || '').trim();
    try {
      const u = new URL(s, 'http://app.invalid/');
      s = u.pathname + u.search + u.hash;
    } catch {
      s = '/';
    }
    if (s.startsWith(base + '/')) s = s.slice(base.length);
    s = s.replace(/^\/?~k\/[^/?#]*/, '');
    return s.startsWith('/') ? s : `/${s}`;
  }

  // Load p in the frame without adding to the window's history: a
  // replaced frame starts with no history entries of its own.
  function show(p) {
    path.value = p;
    const next = appFrame(task, app, base + p);
    frame.replaceWith(next);
    frame = next;
    back.disabled = at === 0;
    fwd.disabled = at === stack.length - 1;
  }

  function go(i) {
    if (i < 0 || i >= stack.length) return;
    at = i;
    show(stack[at]);
  }

  function navigateTo(p) {
    stack.splice(at + 1);
    stack.push(p);
    while (stack.length > MAX_PREVIEW_HISTORY) stack.shift();
    at = stack.length - 1;
    show(p);
  }

  const form = h(
    'form',
    {
      class: 'url-bar',
      'aria-label': 'Preview address',
      onSubmit: (ev) => {
        ev.preventDefault();
        navigateTo(clean(path.value));
      },
    },
    back,
    fwd,
    reload,
    h('label', { for: nextId('x'), class: 'sr-only' }, 'Path'),
    path,
    h('button', { type: 'submit' }, 'Go'),
  );
  path.id = form.querySelector('label').htmlFor;
  back.disabled = true;
  fwd.disabled = true;
  return {
    el: h('div', { class: 'preview' }, form, h('p', { class: 'hint' }, 'Links followed inside the preview are not shown in the address.'), holder),
  };
}

// The agent's live terminal (web/app/terminal.js, loaded when opened).
function terminalPanel(task) {
  const box = h('div', { class: 'terminal-box' });
  const control = h('button', { type: 'button', 'aria-pressed': 'false', disabled: true }, 'Take control');
  const note = h('p', { class: 'hint' }, 'Read-only: take control to type into the agent’s terminal.');
  let term = null;
  let canType = false;
  let disposed = false;
  control.addEventListener('click', () => {
    if (!term) return;
    canType = !canType;
    term.setControl(canType);
    control.textContent = canType ? 'Release' : 'Take control';
    control.setAttribute('aria-pressed', String(canType));
    note.textContent = canType ? 'Your keys go to the agent’s terminal.' : 'Read-only: take control to type into the agent’s terminal.';
  });
  const status = h('p', { class: 'muted' }, 'Loading the terminal…');
  (async () => {
    let mod;
    try {
      mod = await import('../terminal.js');
    } catch {
      status.textContent = 'The terminal is not available in this build.';
      return;
    }
    if (disposed) return;
    status.remove();
    term = mod.mountTerminal(box, { owner: task.owner_name, task: task.name, canType: false });
    control.disabled = false;
  })();
  return {
    el: h('div', { class: 'terminal-panel' }, h('div', { class: 'row' }, control, note), status, box),
    dispose: () => {
      disposed = true;
      term?.dispose();
    },
  };
}

// The state history, newest first; reloaded on a state change while shown.
function historyPanel(task) {
  const wrap = h('div', { class: 'table-wrap' });
  let shown = false;
  let last = null;
  async function load() {
    let r;
    try {
      r = await api('GET', taskPath(task, 'states'));
    } catch (e) {
      clear(wrap, h('p', { class: 'form-error' }, `The history cannot be read: ${e.detail || e.message}`));
      return;
    }
    const rows = (r.states || []).slice().reverse();
    clear(
      wrap,
      rows.length === 0
        ? h('p', { class: 'muted' }, 'No states yet.')
        : h(
            'table',
            { class: 'cards history' },
            h('caption', { class: 'sr-only' }, 'State history, newest first'),
            h('thead', {}, h('tr', {}, ['Time', 'State', 'Message', 'Link'].map((c) => h('th', { scope: 'col' }, c)))),
            h(
              'tbody',
              {},
              rows.map((s) => {
                const href = safeUrl(s.uri);
                return h(
                  'tr',
                  {},
                  h('td', { 'data-label': 'Time' }, timeEl(s.timestamp || s.time)),
                  h('td', { 'data-label': 'State' }, badge(s.state)),
                  h('td', { 'data-label': 'Message' }, s.message || ''),
                  h('td', { 'data-label': 'Link' }, href ? h('a', { href, target: '_blank', rel: 'noopener noreferrer' }, s.uri) : ''),
                );
              }),
            ),
          ),
    );
  }
  return {
    el: wrap,
    show: () => {
      shown = true;
      load();
    },
    hide: () => {
      shown = false;
    },
    update: (t) => {
      const key = JSON.stringify(t.current_state);
      if (shown && key !== last) load();
      last = key;
    },
  };
}
