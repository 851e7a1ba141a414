// templates.js: /templates (the templates every user may use, and a form
// to push a new one) and /templates/{name} (one template: its YAML, its
// versions, a form to push a version, delete).
//
// A template is YAML the server validates: a 422 lists problems with a
// line and a column, shown as a list (each moves the textarea's caret
// there) and in a line-numbered view of what was sent with those lines
// marked. The YAML, names and descriptions are always text nodes (dom.js),
// never markup. Anyone pushes a new name; a name's author (its first
// version's pusher) and the admins push versions and delete it; built-ins
// are the admins'.

import { api, seg } from '../api.js';
import { h, clear, timeEl, badge } from '../dom.js';
import { serverForm, confirmButton } from '../form.js';
import { app, loadTemplates } from '../main.js';

const VIEW_ALL_LINES = 400; // more lines than this: only those near a problem

export async function render(root, ctx) {
  if (ctx.params.name !== undefined) return renderOne(root, ctx, ctx.params.name);
  return renderList(root, ctx);
}

/* ---- the list ---------------------------------------------------------- */

function verdict(t) {
  if (t.task_capable) return h('span', { class: 'verdict' }, badge('Tasks: yes', 'active'));
  return h('span', { class: 'verdict' }, badge('Not for Tasks', 'waiting'), t.task_reason ? h('span', { class: 'muted' }, ` ${t.task_reason}`) : null);
}

async function renderList(root, ctx) {
  ctx.setTitle('Templates');
  const body = h('tbody');
  const count = h('p', { class: 'muted' });
  const table = h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'cards templates-table' },
      h('caption', { class: 'sr-only' }, 'Templates'),
      h(
        'thead',
        {},
        h('tr', {}, ['Template', 'Description', 'Tasks', 'Built in', 'Version'].map((c) => h('th', { scope: 'col' }, c))),
      ),
      body,
    ),
  );

  async function reload() {
    const list = await loadTemplates(true);
    if (!ctx.active()) return;
    count.textContent = list.length === 1 ? '1 template' : `${list.length} templates`;
    clear(
      body,
      list.map((t) =>
        h(
          'tr',
          { 'data-name': t.name },
          h(
            'td',
            { 'data-label': 'Template' },
            h('a', { href: `/templates/${seg(t.name)}` }, t.display_name || t.name),
            t.display_name && t.display_name !== t.name ? h('div', { class: 'muted mono' }, t.name) : null,
          ),
          h('td', { 'data-label': 'Description' }, t.description || h('span', { class: 'muted' }, '—')),
          h('td', { 'data-label': 'Tasks' }, verdict(t)),
          h('td', { 'data-label': 'Built in' }, t.builtin ? 'built in' : 'pushed'),
          h('td', { 'data-label': 'Version' }, String(t.version)),
        ),
      ),
    );
  }

  const push = pushForm(ctx, {
    label: 'New template',
    initial: '',
    done: async (t) => {
      await reload();
      return `Pushed ${t.name}, version ${t.version}.`;
    },
  });
  root.append(
    h('h1', {}, 'Templates'),
    h(
      'p',
      { class: 'muted' },
      'A template says what a task runs: its agent, workspace and apps. Templates that can run as Tasks show "Tasks: yes"; the others say why not.',
    ),
    count,
    table,
    h('section', { class: 'panel', 'aria-labelledby': 'new-template' }, h('h2', { id: 'new-template' }, 'New template'), push),
  );
  await reload();
}

/* ---- one template ------------------------------------------------------ */

async function renderOne(root, ctx, name) {
  let t, versions;
  try {
    [t, versions] = await Promise.all([
      api('GET', `/api/v2/templates/${seg(name)}`),
      api('GET', `/api/v2/templates/${seg(name)}/versions`),
    ]);
  } catch (e) {
    if (e.status === 404) return ctx.notFound();
    throw e;
  }
  if (!ctx.active()) return;
  ctx.setTitle(t.display_name || t.name);
  const me = app.user;
  const admin = me?.role === 'admin';
  const mine = versions.author_id && versions.author_id === me?.id;
  const mayManage = admin || (mine && !t.builtin);

  const versionRows = versions.versions.map((v) =>
    h(
      'tr',
      {},
      h('td', { 'data-label': 'Version' }, String(v.version), v.active ? h('span', { class: 'muted' }, ' (active)') : null),
      h('td', { 'data-label': 'Pushed by' }, v.created_by || (v.created_by_id ? 'a deleted user' : 'built in')),
      h('td', { 'data-label': 'When' }, timeEl(v.created_at)),
    ),
  );
  const parts = [
    h('p', {}, h('a', { href: '/templates' }, '← Templates')),
    h('h1', {}, t.display_name || t.name),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Name'),
      h('dd', { class: 'mono' }, t.name),
      h('dt', {}, 'Description'),
      h('dd', {}, t.description || '—'),
      h('dt', {}, 'Tasks'),
      h('dd', {}, verdict(t)),
      h('dt', {}, 'Kind'),
      h('dd', {}, t.builtin ? 'built in' : `pushed${versions.author ? ` by ${versions.author}` : ''}`),
      h('dt', {}, 'Version'),
      h('dd', {}, String(t.version)),
    ),
    h('h2', { id: 'yaml-title' }, 'YAML'),
    h('pre', { class: 'yaml', tabindex: '0', 'aria-labelledby': 'yaml-title' }, t.yaml),
    h('h2', { id: 'versions-title' }, 'Versions'),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'cards', 'aria-labelledby': 'versions-title' },
        h('thead', {}, h('tr', {}, ['Version', 'Pushed by', 'When'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, versionRows),
      ),
    ),
    versions.count >= 100 ? h('p', { class: 'hint' }, 'The newest 100 versions.') : null,
  ];
  if (mayManage) {
    parts.push(
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'push-version' },
        h('h2', { id: 'push-version' }, 'Push a version'),
        h('p', { class: 'hint' }, `A push of YAML named ${t.name} makes version ${t.version + 1} (the same YAML again makes none).`),
        pushForm(ctx, {
          label: 'Push a version',
          initial: t.yaml,
          done: async (nt) => {
            // the page is drawn again: the toast (a live region) says it
            ctx.toast(`Pushed ${nt.name}, version ${nt.version}.`);
            await loadTemplates(true).catch(() => {});
            ctx.navigate(`/templates/${seg(nt.name)}`, { replace: true });
            return `Pushed ${nt.name}, version ${nt.version}.`;
          },
        }),
      ),
    );
    const force = h('input', { type: 'checkbox', id: 'delete-force' });
    parts.push(
      h(
        'section',
        { class: 'panel danger-zone', 'aria-labelledby': 'delete-title' },
        h('h2', { id: 'delete-title' }, 'Delete'),
        confirmButton(
          'Delete template',
          `Delete ${t.name} with all its versions and its secrets?`,
          async () => {
            await api('DELETE', `/api/v2/templates/${seg(t.name)}${force.checked ? '?force=true' : ''}`);
            await loadTemplates(true).catch(() => {});
            ctx.toast(`Deleted template ${t.name}.`);
            ctx.navigate('/templates');
          },
          h(
            'div',
            { class: 'check' },
            force,
            h('label', { for: 'delete-force' }, 'Also delete the tasks that use it (their workspaces and files). Without this, a template that tasks use is not deleted.'),
          ),
        ),
      ),
    );
  }
  root.append(...parts.filter(Boolean));
}

/* ---- pushing YAML ------------------------------------------------------ */

// The offset in text of 1-based line and column (clamped).
function offsetOf(text, line, column) {
  const lines = text.split('\n');
  let off = 0;
  const l = Math.min(Math.max(1, line | 0), lines.length);
  for (let i = 0; i < l - 1; i++) off += lines[i].length + 1;
  return off + Math.min(Math.max(0, (column | 0) - 1), lines[l - 1].length);
}

// The YAML as numbered lines, the lines of problems marked (all of it,
// or only the lines near a problem when it is long).
function lineView(text, problems) {
  const lines = text.split('\n');
  const bad = new Map();
  for (const p of problems) {
    if (p.line > 0) bad.set(p.line, [...(bad.get(p.line) || []), p]);
  }
  const keep = new Set();
  if (lines.length <= VIEW_ALL_LINES) {
    lines.forEach((_, i) => keep.add(i + 1));
  } else {
    for (const l of bad.keys()) for (let i = l - 2; i <= l + 2; i++) if (i >= 1 && i <= lines.length) keep.add(i);
  }
  const items = [];
  let last = 0;
  for (const n of [...keep].sort((a, b) => a - b)) {
    if (last && n !== last + 1) items.push(h('li', { class: 'gap', 'aria-hidden': 'true' }, '…'));
    last = n;
    const here = bad.get(n);
    items.push(
      h(
        'li',
        { class: here ? 'bad' : null, 'data-line': String(n) },
        h('span', { class: 'ln' }, String(n)),
        h('code', {}, lines[n - 1] || ' '),
        here ? h('span', { class: 'sr-only' }, ` (problem: ${here.map((p) => p.message).join('; ')})`) : null,
      ),
    );
  }
  return h('ol', { class: 'yaml-lines', 'aria-label': 'The YAML sent, with the lines that have problems marked' }, items);
}

// The push form: a textarea of YAML and Push; done(template) says what
// happened (its text goes in the status line).
function pushForm(ctx, { label, initial, done }) {
  const yaml = h('textarea', {
    class: 'yaml-input mono',
    rows: '16',
    spellcheck: 'false',
    autocapitalize: 'none',
    autocomplete: 'off',
    required: true,
    value: initial,
  });
  const problems = h('div', { class: 'yaml-problems' });
  const f = serverForm({
    label,
    submit: 'Push',
    onSubmit: async (form) => {
      clear(problems);
      const text = yaml.value;
      try {
        const t = await api('POST', '/api/v2/templates', text, { type: 'application/yaml' });
        form.done(await done(t));
        if (t.warnings?.length) ctx.toast(`Pushed with ${t.warnings.length} warning(s): ${t.warnings.map((w) => w.message).join('; ')}`);
        if (!initial) yaml.value = '';
      } catch (e) {
        const located = (e.errors || []).filter((x) => x.line > 0);
        if (e.status !== 422 || located.length === 0) throw e;
        form.alert.textContent = `The template is invalid: ${located.length === 1 ? '1 problem' : `${located.length} problems`}.`;
        yaml.setAttribute('aria-invalid', 'true');
        const goTo = (p) => {
          const at = offsetOf(yaml.value, p.line, p.column);
          yaml.focus();
          yaml.setSelectionRange(at, at);
          // scroll the textarea so the line is in view
          const lh = yaml.scrollHeight / Math.max(1, yaml.value.split('\n').length);
          yaml.scrollTop = Math.max(0, (p.line - 3) * lh);
        };
        clear(
          problems,
          h(
            'ol',
            { class: 'yaml-errors', 'aria-label': 'Problems' },
            located.map((p) =>
              h(
                'li',
                {},
                h(
                  'button',
                  { type: 'button', class: 'link', onClick: () => goTo(p), title: 'Move the cursor there' },
                  `line ${p.line}, column ${p.column}: ${p.message}`,
                ),
                p.location ? h('span', { class: 'muted mono' }, ` (${p.location})`) : null,
              ),
            ),
          ),
          lineView(text, located),
        );
      }
    },
  });
  f.build(
    f.add('yaml', 'Template YAML', yaml, 'The whole template, as a file would hold it. Its name: says which template it is (a new one, or a new version of yours).'),
  );
  f.el.append(problems);
  return f.el;
}
