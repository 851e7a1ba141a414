// form.js: forms whose errors come from the server, for the settings,
// users and templates pages.
//
// serverForm() makes a <form> whose fields are registered by name; a
// failed submit (an ApiError) puts each problem+json errors[] entry
// whose location names a field ("body.name", "query.delete_tasks",
// "path.name") next to that field (aria-invalid, tied by
// aria-describedby), and anything else in the form's alert. Success is
// said in the form's status line (role=status: screen readers announce
// it). Nothing here parses markup.

import { h, field } from './dom.js';

let seq = 0;

// A form: opts = {label, submit (button text), onSubmit(f) (async; throw
// an ApiError to show it), danger}. Returns f with f.el (the <form>),
// f.add(name, label, control, hint) (a field, registered), f.done(text),
// f.fail(error), f.reset(), f.button.
export function serverForm({ label, submit, onSubmit, danger = false, className = 'stack' }) {
  const id = `form-${++seq}`;
  const fields = new Map();
  const alert = h('p', { class: 'form-error', role: 'alert', id: `${id}-alert` });
  const status = h('p', { class: 'form-ok', role: 'status', id: `${id}-status` });
  const button = h('button', { type: 'submit', class: danger ? 'danger' : 'primary' }, submit);
  const el = h('form', { class: className, 'aria-label': label });
  const f = {
    el,
    button,
    alert,
    status,
    add(name, text, control, hint) {
      const wrap = field(text, control, hint);
      const err = h('p', { class: 'field-error', id: `${control.id}-error` });
      const described = control.getAttribute('aria-describedby');
      control.setAttribute('aria-describedby', described ? `${described} ${err.id}` : err.id);
      control.name ||= name;
      wrap.append(err);
      fields.set(name, { control, err });
      return wrap;
    },
    // Put children in the form, then the button, the alert, the status.
    build(...children) {
      el.append(...children.flat().filter(Boolean), h('div', { class: 'row' }, button), alert, status);
      return el;
    },
    reset() {
      alert.textContent = '';
      status.textContent = '';
      for (const { control, err } of fields.values()) {
        err.textContent = '';
        control.removeAttribute('aria-invalid');
      }
    },
    done(text) {
      status.textContent = text;
    },
    fail(e) {
      let shown = 0;
      let first = null;
      for (const x of e.errors || []) {
        const name = String(x.location || '').replace(/^(body|query|path)\./, '');
        const fl = fields.get(name);
        if (!fl) continue;
        fl.err.textContent = x.message || e.detail;
        fl.control.setAttribute('aria-invalid', 'true');
        first ??= fl.control;
        shown++;
      }
      if (shown === 0 || shown < (e.errors || []).length) alert.textContent = e.detail || e.message || String(e);
      first?.focus();
    },
  };
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    f.reset();
    button.disabled = true;
    try {
      await onSubmit(f);
    } catch (e) {
      f.fail(e);
    } finally {
      button.disabled = false;
    }
  });
  return f;
}

// A value shown once (a new token) with a button that copies it.
export function shownOnce(label, value) {
  const out = h('input', { readonly: true, value, class: 'mono once-value', 'aria-label': label });
  const said = h('span', { role: 'status', class: 'muted' });
  const copy = h(
    'button',
    {
      type: 'button',
      onClick: async () => {
        try {
          await navigator.clipboard.writeText(value);
          said.textContent = 'Copied.';
        } catch {
          out.select();
          said.textContent = 'Select and copy it (the browser refused the clipboard).';
        }
      },
    },
    'Copy',
  );
  return h(
    'div',
    { class: 'once' },
    h('p', {}, h('strong', {}, label), ': shown this once; copy it now.'),
    h('div', { class: 'row' }, out, copy, said),
  );
}

// A button that asks again in place before doing something destructive:
// the first click shows "what? [confirm] [cancel]" (plus extra, e.g. a
// checkbox); confirm runs act() (async); its error is shown there.
export function confirmButton(text, question, act, extra = null) {
  const alert = h('span', { class: 'form-error', role: 'alert' });
  const box = h('div', { class: 'confirm', hidden: true });
  const start = h('button', { type: 'button', class: 'danger', onClick: () => {
    box.hidden = false;
    start.hidden = true;
    yes.focus();
  } }, text);
  const yes = h('button', { type: 'button', class: 'danger', onClick: async () => {
    alert.textContent = '';
    yes.disabled = true;
    try {
      await act();
    } catch (e) {
      alert.textContent = e.detail || e.message;
    } finally {
      yes.disabled = false;
    }
  } }, `Yes, ${text[0].toLowerCase()}${text.slice(1)}`);
  const no = h('button', { type: 'button', onClick: () => {
    box.hidden = true;
    start.hidden = false;
    alert.textContent = '';
    start.focus();
  } }, 'Cancel');
  box.append(h('p', {}, question), extra, h('div', { class: 'row' }, yes, no), alert);
  return h('div', { class: 'confirm-wrap' }, start, box);
}
