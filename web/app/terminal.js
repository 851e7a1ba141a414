// terminal.js: the agent's terminal in the task page, drawn by xterm.js.
//
// The runtime streams its PTY as server-sent events on
// /@{owner}/{task}/apps/chat/internal/terminal: `snapshot` {cols, rows,
// b64} repaints the whole screen (the terminal is reset to that size
// first), `output` {b64} carries the raw PTY bytes in order, `resize`
// {cols, rows} announces a new size (a snapshot follows). The browser
// never resizes the agent: the xterm.js terminal takes the PTY's size and
// the box around it scrolls when it is larger than the space.
//
// Read-only unless canType is given (disableStdin); setControl(true|false)
// lets typed keys through or stops them: xterm's onData strings are
// queued and POSTed to .../apps/chat/message as {type: "raw"}, one
// request at a time, everything typed meanwhile going out in the next
// one (in order, never one request per key under fast typing). The queue
// is bounded; past the bound the keys are dropped and the status says so.
//
// xterm.js comes from /app/vendor/xterm.mjs (embedded when the build found
// it); without it the tab says the build has no terminal.

import { api, seg } from './api.js';
import { h, clear } from './dom.js';

const XTERM_JS = '/app/vendor/xterm.mjs';
const XTERM_CSS = '/app/vendor/xterm.css';
const MAX_DIM = 500; // cols and rows taken from the stream, at most
const MAX_BATCH = 4096; // characters of one raw POST
const MAX_PENDING = 65536; // characters typed and not yet sent
const RETRY_MS = 1000;
const RETRY_MAX_MS = 30000;

// A dark theme whose 16 colours read on its background (WCAG AA).
const THEME = {
  background: '#0d1117',
  foreground: '#e6edf3',
  cursor: '#e6edf3',
  black: '#7d8590',
  red: '#ff7b72',
  green: '#3fb950',
  yellow: '#d29922',
  blue: '#58a6ff',
  magenta: '#bc8cff',
  cyan: '#39c5cf',
  white: '#b1bac4',
  brightBlack: '#8b949e',
  brightRed: '#ffa198',
  brightGreen: '#56d364',
  brightYellow: '#e3b341',
  brightBlue: '#79c0ff',
  brightMagenta: '#d2a8ff',
  brightCyan: '#56d4dd',
  brightWhite: '#ffffff',
};

let xtermModule = null; // the import() promise, shared by every mount

// Add xterm.css to the document once.
function loadCss() {
  if (document.querySelector('link[data-xterm-css]')) return;
  document.head.append(h('link', { rel: 'stylesheet', href: XTERM_CSS, 'data-xterm-css': '' }));
}

// xterm.js's Terminal class, or null when the build has none (404);
// throws on other failures.
async function loadXterm() {
  xtermModule ??= import(XTERM_JS);
  try {
    return (await xtermModule).Terminal;
  } catch (e) {
    xtermModule = null;
    const r = await fetch(XTERM_JS, { method: 'HEAD', credentials: 'same-origin' }).catch(() => null);
    if (r && r.status === 404) return null;
    throw e;
  }
}

// The bytes of a base64 string (a Uint8Array; empty when malformed).
export function decodeB64(b64) {
  let bin;
  try {
    bin = atob(typeof b64 === 'string' ? b64 : '');
  } catch {
    return new Uint8Array(0);
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// A terminal dimension from the stream, or null when it is not one.
function dim(n) {
  return Number.isInteger(n) && n >= 1 && n <= MAX_DIM ? n : null;
}

// Mount the terminal of task owner/task into container, typing allowed
// from the start when canType; returns {dispose(), setControl(bool)}. The
// container's children are replaced.
export function mountTerminal(container, { owner, task, canType = false }) {
  const base = `/@${seg(owner)}/${seg(task)}/apps/chat`;
  const modeEl = h('span', { class: 'term-mode' });
  const connEl = h('span', { class: 'term-conn' });
  const errEl = h('span', { class: 'term-error', hidden: true });
  const status = h('p', { class: 'term-status', role: 'status', 'aria-live': 'polite' }, modeEl, ' · ', connEl, errEl);
  const screen = h('div', { class: 'term-screen', role: 'group' });
  const root = h('div', { class: 'term' }, status, screen);
  clear(container, root);

  let term = null;
  let control = Boolean(canType);
  let disposed = false;
  let es = null;
  let timer = null;
  let delay = RETRY_MS;
  let pending = '';
  let sending = false;

  const setConn = (text, kind) => {
    connEl.textContent = text;
    connEl.dataset.state = kind;
    root.dataset.conn = kind;
  };
  const setError = (text) => {
    errEl.textContent = text || '';
    errEl.hidden = !text;
  };
  const renderMode = () => {
    modeEl.textContent = control ? 'you are typing into the agent\'s terminal' : 'read-only';
    root.classList.toggle('term-typing', control);
    const label = control ? 'The agent\'s terminal: keys you type go to the agent' : 'The agent\'s terminal (read-only)';
    screen.setAttribute('aria-label', label);
    if (term) {
      term.options.disableStdin = !control;
      term.textarea?.setAttribute('aria-label', label);
    }
  };

  // Send what was typed: one request at a time, the rest batched after it.
  const flush = async () => {
    if (sending || pending === '' || disposed) return;
    sending = true;
    const content = pending.slice(0, MAX_BATCH);
    pending = pending.slice(content.length);
    try {
      await api('POST', `${base}/message`, { type: 'raw', content });
      setError('');
    } catch (e) {
      setError(`keys not delivered: ${e.message}`);
    } finally {
      sending = false;
      flush();
    }
  };
  const type = (data) => {
    if (!control || disposed) return;
    if (pending.length + data.length > MAX_PENDING) {
      setError('typing faster than the agent takes keys: some were dropped');
      return;
    }
    pending += data;
    flush();
  };

  const onEvent = (name, fn) => es.addEventListener(name, (ev) => {
    let data;
    try {
      data = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (data && typeof data === 'object') fn(data);
  });
  const resize = (d) => {
    const cols = dim(d.cols);
    const rows = dim(d.rows);
    if (cols && rows && (cols !== term.cols || rows !== term.rows)) term.resize(cols, rows);
  };
  const connect = () => {
    if (disposed) return;
    setConn('connecting…', 'connecting');
    es = new EventSource(`${base}/internal/terminal`, { withCredentials: true });
    es.onopen = () => {
      delay = RETRY_MS;
      setConn('connected', 'connected');
    };
    es.onerror = () => {
      if (disposed) return;
      if (es.readyState !== EventSource.CLOSED) {
        setConn('disconnected, reconnecting…', 'reconnecting');
        return;
      }
      // refused (401, 404, 5xx): the browser gives up, retry here
      setConn('disconnected, retrying…', 'reconnecting');
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    };
    onEvent('snapshot', (d) => {
      term.reset();
      resize(d);
      term.write(decodeB64(d.b64));
      root.dataset.snapshot = String(Number(root.dataset.snapshot || 0) + 1);
    });
    onEvent('output', (d) => term.write(decodeB64(d.b64)));
    onEvent('resize', resize);
  };

  const start = async () => {
    loadCss();
    setConn('loading the terminal…', 'connecting');
    let Terminal;
    try {
      Terminal = await loadXterm();
    } catch (e) {
      if (!disposed) clear(screen, h('p', { class: 'term-missing' }, `The terminal could not be loaded: ${e.message}`));
      setConn('not connected', 'off');
      return;
    }
    if (disposed) return;
    if (!Terminal) {
      clear(screen, h('p', { class: 'term-missing' }, 'This taskbox was built without xterm.js: the terminal cannot be shown.'));
      setConn('not connected', 'off');
      return;
    }
    term = new Terminal({
      cols: 80,
      rows: 24,
      disableStdin: true,
      scrollback: 1000,
      convertEol: false,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace',
      fontSize: 13,
      theme: THEME,
      // colours the agent picks are lifted to WCAG AA against their background
      minimumContrastRatio: 4.5,
    });
    term.open(screen);
    term.onData(type);
    renderMode();
    connect();
  };

  renderMode();
  start();

  return {
    // Let typed keys through (true) or make the terminal read-only again.
    setControl(on) {
      control = Boolean(on);
      if (!control) pending = '';
      renderMode();
      if (control) term?.focus();
      return control;
    },
    // Close the stream and free the terminal; the container is emptied.
    dispose() {
      if (disposed) return;
      disposed = true;
      clearTimeout(timer);
      es?.close();
      term?.dispose();
      term = null;
      pending = '';
      container.replaceChildren();
    },
  };
}
