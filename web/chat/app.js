// app.js: the taskbox chat UI, a plain ES module with no dependencies.
//
// It speaks the AgentAPI wire contract of the runtime: GET events (SSE) for
// messages, status and agent errors; POST message to send text or raw keys;
// POST upload for files. State lives in one object; render functions sync
// the DOM with it. The API base is everything in the page path before its
// last "chat" segment, or the ?url= query parameter; ?access_token= is passed
// on to every API call. On the taskbox server (the page path starts with
// /@) the page may ride on the user's site session cookie: its writes then
// carry the session's CSRF token (X-Taskbox-CSRF), read once from GET
// /api/v2/users/me/session (none without a site session: as before).
// Agent messages are rendered as markdown (markdown.js), the user's own
// stay plain text.

// markdown.js, loaded with this module's query (a token-protected
// runtime answers 401 to a request without ?access_token=)
const mdUrl = new URL('markdown.js', import.meta.url);
mdUrl.search = new URL(import.meta.url).search;
const { renderMarkdown } = await import(mdUrl.href);

const KEYS = {
  up: '\x1b[A',
  down: '\x1b[B',
  right: '\x1b[C',
  left: '\x1b[D',
  esc: '\x1b',
  tab: '\t',
  'shift-tab': '\x1b[Z',
  enter: '\r',
  backspace: '\x7f',
  'ctrl-c': '\x03',
};
const CAPTURE_KEYS = {
  Enter: '\r',
  Backspace: '\x7f',
  Escape: '\x1b',
  ArrowUp: '\x1b[A',
  ArrowDown: '\x1b[B',
  ArrowRight: '\x1b[C',
  ArrowLeft: '\x1b[D',
  Home: '\x1b[H',
  End: '\x1b[F',
  Delete: '\x1b[3~',
  PageUp: '\x1b[5~',
  PageDown: '\x1b[6~',
};
const RECONNECT_MS = 3000;
const TOAST_MS = 8000;
const MAX_TOASTS = 5;
const MAX_ERRORS_SEEN = 256; // agent errors remembered (not toasted twice)
const MAX_UPLOAD = 10 * 1024 * 1024;
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/g;

const $ = (id) => document.getElementById(id);

/* ---- where the API is ---------------------------------------------------- */

function withSlash(url) {
  return url.endsWith('/') ? url : `${url}/`;
}

// The API base URL for a page location (see the header comment).
export function apiBaseFor(loc) {
  const override = new URLSearchParams(loc.search).get('url');
  if (override) return withSlash(new URL(override, loc.href).href);
  const segs = loc.pathname.split('/');
  const i = segs.lastIndexOf('chat');
  if (i > 0) return `${loc.origin}${segs.slice(0, i).join('/')}/`;
  const page = loc.pathname.replace(/\/embed\/?$/, '/');
  return new URL('../', new URL(page, loc.origin)).href;
}

export function isEmbed(loc) {
  return /\/embed\/?$/.test(loc.pathname);
}

/* ---- HTTP ------------------------------------------------------------------ */

class ApiError extends Error {}

function makeApi(base, token) {
  const url = (path, query = {}) => {
    const u = new URL(path, base);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u.href;
  };
  const headers = (extra = {}) => (token ? { ...extra, Authorization: `Bearer ${token}` } : extra);
  const csrf = makeCsrf(token);

  async function post(path, body, retried = false) {
    const isForm = body instanceof FormData;
    const extra = isForm ? {} : { 'Content-Type': 'application/json' };
    const csrfToken = await csrf.get();
    if (csrfToken) extra['X-Taskbox-CSRF'] = csrfToken;
    let res;
    try {
      res = await fetch(url(path), {
        method: 'POST',
        headers: headers(extra),
        body: isForm ? body : JSON.stringify(body),
        credentials: 'same-origin',
      });
    } catch {
      throw new ApiError('Cannot reach the agent runtime.');
    }
    const data = await res.json().catch(() => null);
    if (res.status === 403 && !retried && csrf.canRefresh()) {
      // the session may have been renewed since: read its token again
      csrf.reset();
      return post(path, body, true);
    }
    if (!res.ok) throw new ApiError(problemText(res, data));
    return data;
  }

  const eventsUrl = () => url('events', token ? { access_token: token } : {});
  return { post, eventsUrl };
}

// The site session's CSRF token, when the page is on the taskbox server
// (its path starts with /@) and the browser is signed in there: get()
// resolves to the token or null (no site session, or a token in the URL).
function makeCsrf(token) {
  const onServer = !token && location.pathname.startsWith('/@');
  let pending = null;
  let fetched = false;
  const read = async () => {
    try {
      const res = await fetch(new URL('/api/v2/users/me/session', location.origin).href, {
        headers: { Accept: 'application/json' },
        credentials: 'same-origin',
      });
      if (!res.ok) return null;
      const data = await res.json();
      return typeof data?.csrf_token === 'string' ? data.csrf_token : null;
    } catch {
      return null;
    }
  };
  return {
    get() {
      if (!onServer) return Promise.resolve(null);
      if (!pending) {
        fetched = true;
        pending = read();
      }
      return pending;
    },
    canRefresh: () => onServer && fetched,
    reset() {
      pending = null;
    },
  };
}

// The human-readable part of a problem+json error body.
function problemText(res, data) {
  if (data && typeof data === 'object') {
    const text = data.detail || data.errors?.[0]?.message || data.title;
    if (text) return text;
  }
  return `${res.status} ${res.statusText || 'request failed'}`;
}

/* ---- state ------------------------------------------------------------------ */

const state = {
  connected: false,
  status: null, // last status_change: {status, agent_type, state, dialog}
  messages: new Map(), // id → {id, role, content, time}
  replay: null, // the Map being rebuilt from a fresh subscription
  draft: null, // {content, afterId}: the user message being POSTed
  sending: false,
  answering: false,
  uploading: 0,
  errorsSeen: new Set(),
};

function phase() {
  if (!state.connected || !state.status) return 'offline';
  const s = state.status.state;
  if (s === 'waiting' || s === 'exited' || s === 'starting') return s;
  return state.status.status === 'stable' ? 'stable' : 'running';
}

function canType() {
  return state.connected && state.status?.status === 'stable' && !state.sending;
}

function lastId() {
  let max = -1;
  for (const id of state.messages.keys()) max = Math.max(max, id);
  return max;
}

function draftVisible() {
  if (!state.draft) return false;
  for (const m of state.messages.values()) {
    if (m.role === 'user' && m.id > state.draft.afterId) return false;
  }
  return true;
}

/* ---- DOM helpers ------------------------------------------------------------ */

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  el.append(...children);
  return el;
}

// Text with its http(s) URLs turned into links.
function linkify(text) {
  const frag = document.createDocumentFragment();
  let at = 0;
  for (const m of text.matchAll(URL_RE)) {
    const href = trimUrl(m[0]);
    frag.append(text.slice(at, m.index));
    frag.append(h('a', { href, target: '_blank', rel: 'noopener noreferrer' }, href));
    at = m.index + href.length;
  }
  frag.append(text.slice(at));
  return frag;
}

// Drop trailing punctuation that is more likely prose than URL.
function trimUrl(url) {
  let u = url.replace(/[.,;:!?'"]+$/, '');
  while (/[)\]}]$/.test(u)) {
    const close = u.at(-1);
    const open = { ')': '(', ']': '[', '}': '{' }[close];
    if (u.split(open).length >= u.split(close).length) break;
    u = u.slice(0, -1).replace(/[.,;:!?'"]+$/, '');
  }
  return u;
}

function typingDots(label) {
  return h('span', { class: 'typing', role: 'img', 'aria-label': label },
    h('span'), h('span'), h('span'));
}

/* ---- messages ------------------------------------------------------------------ */

const messagesEl = $('messages');
const listEl = $('message-list');
const nodes = new Map(); // key → element

function atBottom() {
  return messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 48;
}

function scrollToBottom() {
  messagesEl.scrollTop = messagesEl.scrollHeight;
}

function formatTime(time) {
  const d = new Date(time);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
}

// <article><span>who (for screen readers)</span><div class=body/></article>
function createMessage() {
  return h('article', { class: 'msg' }, h('span', { class: 'visually-hidden' }), h('div', { class: 'body' }));
}

function updateMessage(el, m) {
  const sig = `${m.role}\0${m.pending ? 1 : 0}\0${m.content}`;
  if (el.dataset.sig === sig) return;
  el.dataset.sig = sig;
  el.className = `msg msg-${m.role}${m.pending ? ' msg-pending' : ''}`;
  el.firstChild.textContent = m.role === 'user' ? 'You said:' : 'Agent said:';
  const body = el.lastChild;
  if (m.time) el.title = formatTime(m.time);
  if (m.role === 'agent' && m.content.trim() === '') {
    body.replaceChildren(typingDots('The agent is working'));
  } else if (m.role === 'agent') {
    body.classList.add('md');
    body.replaceChildren(renderMarkdown(m.content));
  } else {
    body.classList.remove('md');
    body.replaceChildren(linkify(m.content));
  }
}

// The messages to show: the conversation, the draft and a working marker.
function visibleMessages() {
  // an empty agent message (the startup screen of a known agent, or a
  // reply not begun) is not shown; the working marker stands for it
  const items = [...state.messages.values()]
    .filter((m) => m.role !== 'agent' || m.content.trim() !== '')
    .sort((a, b) => a.id - b.id);
  if (draftVisible()) {
    items.push({ key: 'draft', role: 'user', content: state.draft.content, pending: true });
  }
  const last = items.at(-1);
  if (last?.role === 'user' && (state.draft || phase() === 'running')) {
    items.push({ key: 'working', role: 'agent', content: '', pending: true });
  }
  return items;
}

function renderMessages() {
  const stick = atBottom();
  const keep = new Set();
  let prev = null;
  for (const m of visibleMessages()) {
    const key = m.key ?? `m${m.id}`;
    let el = nodes.get(key);
    if (!el) nodes.set(key, (el = createMessage()));
    updateMessage(el, m);
    const want = prev ? prev.nextSibling : listEl.firstChild;
    if (el !== want) listEl.insertBefore(el, want);
    keep.add(key);
    prev = el;
  }
  for (const [key, el] of nodes) {
    if (!keep.has(key)) {
      el.remove();
      nodes.delete(key);
    }
  }
  $('empty').hidden = keep.size > 0;
  if (stick) scrollToBottom();
}

/* ---- status, dialog, input state ------------------------------------------------ */

const HINTS = {
  offline: 'Offline: reconnecting to the agent…',
  starting: 'The agent is starting…',
  running: 'The agent is working. Interrupt sends Esc.',
  waiting: 'The agent is asking a question; answer it above.',
  exited: 'The agent has exited.',
  stable: 'Enter sends, Shift+Enter adds a new line.',
};

function renderStatus() {
  const p = phase();
  const box = $('status');
  box.dataset.status = p;
  $('status-text').textContent = p;
  box.title = state.status ? `status ${state.status.status}, state ${state.status.state}` : 'not connected';
  $('agent-type').textContent = state.status?.agent_type ?? '';
  $('hint').dataset.status = p;
  $('hint-text').textContent = state.sending ? 'Sending…' : HINTS[p];
}

let dialogKey = '';

function renderDialog() {
  const d = phase() === 'waiting' ? state.status.dialog : null;
  $('dialog').hidden = !d;
  if (!d) {
    dialogKey = '';
    return;
  }
  $('dialog-text').textContent = d.text;
  const key = JSON.stringify([d.text, d.options]);
  if (key !== dialogKey) {
    dialogKey = key;
    $('dialog-options').replaceChildren(...d.options.map(optionButton));
  }
  for (const b of $('dialog-options').children) {
    b.classList.toggle('selected', Number(b.dataset.n) === d.selected);
    b.disabled = state.answering;
  }
}

function optionButton(text, i) {
  const n = i + 1;
  return h('button', { type: 'button', class: 'option', 'data-n': String(n), onclick: () => answer(n) },
    h('span', { class: 'num', 'aria-hidden': 'true' }, `${n}`), ` ${text}`);
}

function renderInput() {
  const input = $('input');
  const enabled = canType();
  input.disabled = !enabled;
  input.placeholder = enabled ? 'Type a message…' : 'Wait for the agent…';
  $('send').disabled = !enabled || input.value.trim() === '';
  $('interrupt').disabled = !state.connected;
  $('upload').disabled = state.uploading > 0;
  $('upload').classList.toggle('busy', state.uploading > 0);
  for (const b of document.querySelectorAll('[data-key]')) b.disabled = !state.connected;
  restoreFocus(input);
}

// Give the textarea its focus back once the agent answered what we sent,
// unless the user has moved on to something else meanwhile.
let refocus = false;

function restoreFocus(input) {
  if (!refocus || input.disabled) return;
  refocus = false;
  const active = document.activeElement;
  if (active === null || active === document.body || active === input) input.focus();
}

function render() {
  renderStatus();
  renderDialog();
  renderMessages();
  renderInput();
}

/* ---- toasts ---------------------------------------------------------------------- */

function toast(text, { level = 'error', sticky = false } = {}) {
  const box = $('toasts');
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss' }, '×');
  const el = h('div', { class: `toast toast-${level}${sticky ? ' sticky' : ''}`, role: level === 'error' ? 'alert' : 'status' },
    h('p', {}, text), close);
  close.addEventListener('click', () => el.remove());
  if (!sticky) setTimeout(() => el.remove(), TOAST_MS);
  box.append(el);
  while (box.children.length > MAX_TOASTS) box.firstChild.remove();
}

/* ---- events from the runtime ------------------------------------------------------ */

let api;

function onMessageUpdate(data) {
  // the runtime is inside the task: a content that is not a string must
  // not break the whole conversation's rendering
  const content = data.message ?? data.content ?? '';
  const m = { id: data.id, role: data.role, content: typeof content === 'string' ? content : String(content), time: data.time };
  (state.replay ?? state.messages).set(m.id, m);
  if (!state.replay) renderMessages();
}

function onStatusChange(data) {
  if (state.replay) {
    // the replay of a new subscription ends with the status
    state.messages = state.replay;
    state.replay = null;
  }
  state.connected = true;
  state.status = data;
  render();
}

function onAgentError(data) {
  const key = `${data.time}\0${data.message}`;
  if (state.errorsSeen.has(key)) return;
  state.errorsSeen.add(key);
  // a task may send errors forever: forget the oldest (a Set keeps order)
  if (state.errorsSeen.size > MAX_ERRORS_SEEN) state.errorsSeen.delete(state.errorsSeen.values().next().value);
  toast(data.message, { level: data.level === 'warning' ? 'warning' : 'error', sticky: true });
}

function listen(es, name, fn) {
  es.addEventListener(name, (e) => {
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      return;
    }
    fn(data);
  });
}

function connect() {
  const es = new EventSource(api.eventsUrl());
  es.addEventListener('open', () => {
    state.replay = new Map();
  });
  listen(es, 'message_update', onMessageUpdate);
  listen(es, 'status_change', onStatusChange);
  listen(es, 'agent_error', onAgentError);
  es.addEventListener('error', () => {
    es.close();
    state.connected = false;
    state.replay = null;
    render();
    setTimeout(connect, RECONNECT_MS);
  });
}

/* ---- actions --------------------------------------------------------------------- */

async function sendText() {
  const input = $('input');
  const content = input.value.trim();
  if (content === '' || !canType()) return;
  state.draft = { content, afterId: lastId() };
  state.sending = true;
  refocus = true;
  input.value = '';
  autosize();
  render();
  scrollToBottom();
  try {
    await api.post('message', { content, type: 'user' });
  } catch (e) {
    if (input.value.trim() === '') input.value = content;
    toast(e.message);
  } finally {
    state.draft = null;
    state.sending = false;
    autosize();
    render();
  }
}

async function answer(n) {
  state.answering = true;
  renderDialog();
  try {
    await api.post('message', { content: String(n), type: 'user' });
  } catch (e) {
    toast(e.message);
  } finally {
    state.answering = false;
    renderDialog();
  }
}

let rawQueue = Promise.resolve();

// Send keys in order; each waits for the previous one.
function sendRaw(content) {
  rawQueue = rawQueue
    .then(() => api.post('message', { content, type: 'raw' }))
    .catch((e) => toast(e.message));
  return rawQueue;
}

async function upload(file) {
  if (file.size > MAX_UPLOAD) {
    toast(`${file.name} is larger than the 10 MiB upload limit.`);
    return;
  }
  const form = new FormData();
  form.append('file', file, file.name);
  state.uploading++;
  renderInput();
  try {
    const r = await api.post('upload', form);
    appendToDraft(` @"${r.filePath}"`);
  } catch (e) {
    toast(`Upload of ${file.name} failed: ${e.message}`);
  } finally {
    state.uploading--;
    renderInput();
  }
}

function appendToDraft(text) {
  const input = $('input');
  input.value += text;
  autosize();
  renderInput();
  if (!input.disabled) input.focus();
}

function uploadAll(files) {
  for (const f of files) upload(f);
}

/* ---- wiring -------------------------------------------------------------------------- */

function autosize() {
  const input = $('input');
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight + 2, window.innerHeight * 0.4)}px`;
}

function wireTextPanel() {
  const input = $('input');
  $('panel-text').addEventListener('submit', (e) => {
    e.preventDefault();
    sendText();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendText();
    }
  });
  input.addEventListener('input', () => {
    autosize();
    renderInput();
  });
  input.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files ?? [])];
    if (files.length) {
      e.preventDefault();
      uploadAll(files);
    }
  });
  $('upload').addEventListener('click', () => $('file').click());
  $('file').addEventListener('change', (e) => {
    uploadAll([...e.target.files]);
    e.target.value = '';
  });
  $('interrupt').addEventListener('click', () => sendRaw(KEYS.esc));
}

// The bytes a key press in the capture box stands for, or null.
function captureSequence(e) {
  if (e.isComposing || e.metaKey) return null;
  if (e.ctrlKey && !e.altKey && !e.shiftKey && /^[a-z]$/i.test(e.key)) {
    return String.fromCharCode(e.key.toLowerCase().charCodeAt(0) & 0x1f);
  }
  if (e.ctrlKey || e.altKey) return null;
  return CAPTURE_KEYS[e.key] ?? null;
}

function wireControlPanel() {
  for (const b of document.querySelectorAll('[data-key]')) {
    b.addEventListener('click', () => sendRaw(KEYS[b.dataset.key]));
  }
  const capture = $('capture');
  capture.addEventListener('keydown', (e) => {
    const seq = captureSequence(e);
    if (seq) {
      e.preventDefault();
      sendRaw(seq);
    }
  });
  // printable characters (and IME or mobile input) arrive as input events
  capture.addEventListener('input', () => {
    if (capture.value) sendRaw(capture.value);
    capture.value = '';
  });
}

function selectTab(tab, focus = false) {
  for (const t of document.querySelectorAll('[role="tab"]')) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')).hidden = !on;
  }
  if (focus) tab.focus();
}

function wireTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const [i, tab] of tabs.entries()) {
    tab.addEventListener('click', () => selectTab(tab));
    tab.addEventListener('keydown', (e) => {
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      selectTab(tabs[(to + tabs.length) % tabs.length], true);
    });
  }
}

function hasFiles(e) {
  return [...(e.dataTransfer?.types ?? [])].includes('Files');
}

function wireDrop() {
  const overlay = $('drop-overlay');
  let depth = 0;
  const show = (on) => {
    overlay.hidden = !on;
  };
  document.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    depth++;
    show(true);
  });
  document.addEventListener('dragleave', (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) show(false);
  });
  document.addEventListener('dragover', (e) => {
    if (hasFiles(e)) e.preventDefault();
  });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    show(false);
    uploadAll([...e.dataTransfer.files]);
  });
}

function main() {
  const params = new URLSearchParams(location.search);
  api = makeApi(apiBaseFor(location), params.get('access_token'));
  if (isEmbed(location)) document.documentElement.classList.add('embed');
  wireTabs();
  wireTextPanel();
  wireControlPanel();
  wireDrop();
  window.addEventListener('resize', autosize);
  render();
  connect();
}

main();
