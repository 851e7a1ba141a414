// dom.js: building the page from data without ever parsing markup.
//
// h() makes elements; every string child becomes a text node and every
// attribute value is set as an attribute or property, so task names,
// prompts, agent output and template YAML can never turn into markup.
// There is no innerHTML anywhere in the app. Event handlers are functions
// passed as on<Event> attributes.

// Properties set as such rather than as attributes.
const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'indeterminate', 'multiple', 'required']);

// An element: h('button', {class: 'primary', onClick: fn}, 'Create task').
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && k.length > 2 && /[A-Z]/.test(k[2])) {
      if (typeof v !== 'function') throw new TypeError(`${k} must be a function`);
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'class') {
      el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    } else if (k === 'for') {
      el.htmlFor = v;
    } else if (k === 'style') {
      throw new TypeError('style attributes are not used: add a class');
    } else if (PROPS.has(k)) {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

// Append children (nodes, strings, numbers, arrays of them; null skipped).
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Replace an element's children.
export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// A URL safe to put in href: http(s) or a same-origin path; else null
// (javascript:, data: and the like from an agent never become links).
export function safeUrl(u) {
  if (typeof u !== 'string' || u === '') return null;
  try {
    const url = new URL(u, location.origin);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.href;
  } catch {
    /* not a URL */
  }
  return null;
}

// "3 min ago" for an RFC 3339 time; the full time goes in a title.
export function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// A <time> element for an RFC 3339 time, relative, with the local time.
export function timeEl(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: d.toLocaleString() }, ago(iso));
}

// A labelled form control: h('label') around the text, then the control.
// id ties them together for screen readers.
export function field(label, control, hint) {
  if (!control.id) control.id = `f-${Math.random().toString(36).slice(2, 9)}`;
  const parts = [h('label', { for: control.id }, label), control];
  if (hint) {
    const hid = `${control.id}-hint`;
    control.setAttribute('aria-describedby', hid);
    parts.push(h('p', { class: 'hint', id: hid }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

// The coloured word for a task status or state.
export function badge(word, kind = word) {
  return h('span', { class: `badge badge-${kind || 'none'}` }, word || '—');
}

// A task's LLM usage (the Task JSON's `usage`) in a few words: tokens
// (input + output + cache) and cost, e.g. "1.2k tokens · $0.0042"; "—"
// before any request.
export function usageText(u) {
  if (!u || !u.requests) return '—';
  const tokens = u.input_tokens + u.output_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
  const t = tokens >= 1e6 ? `${(tokens / 1e6).toFixed(1)}M` : tokens >= 1e3 ? `${(tokens / 1e3).toFixed(1)}k` : String(tokens);
  const usd = u.cost_usd >= 1 ? u.cost_usd.toFixed(2) : u.cost_usd.toFixed(4);
  return `${t} tokens · $${usd}`;
}

// The same in full, for a tooltip.
export function usageTitle(u) {
  if (!u) return '';
  return `${u.requests} request${u.requests === 1 ? '' : 's'}; input ${u.input_tokens}, output ${u.output_tokens}, ` +
    `cache read ${u.cache_read_input_tokens}, cache write ${u.cache_creation_input_tokens} tokens; ` +
    `USD ${u.cost_usd}`;
}
