// tasks.js: /tasks, start a task and see every task one may see.
//
// The page holds one page of tasks (GET /api/v2/tasks, newest first, 50 a
// page; `after` cursors for next, a stack of them for previous) in `rows`,
// a Map from task id to {task, tr, cells}: each cell remembers the key of
// what it shows, so a Task event from the shared stream (ctx.onTask)
// rewrites only the cells whose data changed, in place. A new task that
// matches the filters (status, and for admins owner) appears at its place
// on the first page; one that stops matching, or is deleted, goes. After a
// reconnect the page is loaded again (events may have been missed). The
// filters live in the URL (?status=&owner=) so a reload keeps them.
//
// The form above the table asks for the prompt, the Task template (those
// the user may use: task_capable), its preset (the template's named
// parameter sets, the default one preselected, or none) and the template's
// parameters (from the Template JSON; 'AI Prompt' is the prompt itself),
// which a chosen preset fills in and the user may still change. A 422's
// errors[] are shown next to the field they name.

import { api, ApiError, seg, taskPath } from '../api.js';
import { h, clear, field, safeUrl, timeEl, badge, usageText, usageTitle } from '../dom.js';
import { loadTemplates, taskTemplates } from '../main.js';

const PAGE = 50;
const STATUSES = ['pending', 'initializing', 'active', 'paused', 'error', 'unknown'];
const PROMPT_PARAM = 'AI Prompt';

export async function render(root, ctx) {
  const isAdmin = ctx.app.user?.role === 'admin';
  await loadTemplates().catch(() => {});
  if (!ctx.active()) return;
  const templates = taskTemplates();
  const live = h('p', { class: 'sr-only', 'aria-live': 'polite', id: 'tasks-live' });
  const say = (text) => {
    live.textContent = text;
  };

  root.append(h('h1', {}, 'Tasks'), live);
  if (templates.length === 0) {
    root.append(
      h(
        'div',
        { class: 'panel tasks-empty' },
        h('h2', {}, 'No Tasks template yet'),
        h('p', {}, 'The Tasks tab will appear automatically after you add a Tasks-compatible template: one with an ai_task block and an “AI Prompt” parameter or an ai_task.app.'),
        h('p', {}, h('a', { href: '/templates' }, 'Go to the templates to add one')),
      ),
    );
  }
  const list = await taskTable(ctx, isAdmin, say);
  if (templates.length) root.append(createForm(ctx, templates, say, list.upsert));
  root.append(list.el);
}

/* ---- the form ---------------------------------------------------------- */

// The form that starts a task; its errors stay next to their fields.
function createForm(ctx, templates, say, onCreated) {
  const prompt = h('textarea', { name: 'prompt', rows: 3, required: true, id: 'task-prompt' });
  const select = h(
    'select',
    { name: 'template', id: 'task-template' },
    templates.map((t) => h('option', { value: t.name }, t.display_name || t.name)),
  );
  const presetSel = h('select', { name: 'preset', id: 'task-preset' });
  const paramBox = h('div', { class: 'task-params' });
  const formError = h('p', { class: 'form-error', role: 'alert', id: 'task-form-error' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Create task');
  const errs = new Map(); // field key -> <p> of its error
  let paramInputs = []; // [{param, input}]

  const errEl = (key) => {
    const p = h('p', { class: 'field-error', id: `task-err-${key.replace(/[^a-z0-9]+/gi, '-')}` });
    errs.set(key, p);
    return p;
  };
  const promptField = field('Prompt', prompt);
  promptField.append(errEl('input'));
  const templateField = field('Template', select);
  templateField.append(errEl('template'));
  const presetField = field('Preset', presetSel, 'a named set of the template\u2019s parameters');
  presetField.append(errEl('preset'));

  // The template's presets in the select, its default chosen ('' = none).
  function showPresets(t) {
    const presets = t?.presets || [];
    const dflt = presets.find((p) => p.default);
    clear(
      presetSel,
      presets.map((p) => h('option', { value: p.name, selected: p === dflt }, p.description ? `${p.name} \u2014 ${p.description}` : p.name)),
      h('option', { value: '', selected: !dflt }, 'None'),
    );
    presetField.hidden = presets.length === 0;
  }

  // Fill the parameter fields with the chosen preset's values over the
  // template's defaults.
  function applyPreset() {
    const t = templates.find((x) => x.name === select.value);
    const preset = (t?.presets || []).find((p) => p.name === presetSel.value);
    for (const { param, input } of paramInputs) {
      const v = preset && Object.hasOwn(preset.parameters, param.name) ? preset.parameters[param.name] : param.default;
      if (param.type === 'bool') input.checked = v === true;
      else input.value = v === null || v === undefined ? '' : String(v);
    }
  }

  function showTemplate() {
    const t = templates.find((x) => x.name === select.value);
    showPresets(t);
    errs.forEach((_, k) => k.startsWith('param:') && errs.delete(k));
    paramInputs = [];
    const fields = [];
    for (const p of t?.parameters || []) {
      if (p.name === PROMPT_PARAM) continue;
      let input;
      if (p.type === 'bool') {
        input = h('input', { type: 'checkbox', checked: p.default === true });
      } else {
        input = h('input', {
          type: p.type === 'number' ? 'number' : 'text',
          step: p.type === 'number' ? 'any' : null,
          value: p.default === null || p.default === undefined ? '' : String(p.default),
          required: !!p.required,
        });
      }
      input.dataset.param = p.name;
      const label = `${p.display_name || p.name}${p.required ? ' (required)' : ''}`;
      const f = field(label, input, p.description || null);
      if (p.type === 'bool') f.classList.add('field-check');
      f.append(errEl(`param:${p.name}`));
      paramInputs.push({ param: p, input });
      fields.push(f);
    }
    clear(paramBox, fields.length ? h('fieldset', {}, h('legend', {}, 'Parameters'), fields) : null);
    applyPreset();
    const desc = t?.description;
    clear(templateHint, desc || '');
  }
  const templateHint = h('p', { class: 'hint' });
  templateField.append(templateHint);

  function clearErrors() {
    formError.textContent = '';
    for (const p of errs.values()) p.textContent = '';
    for (const el of [prompt, select, presetSel, ...paramInputs.map((x) => x.input)]) el.removeAttribute('aria-invalid');
  }

  // Put one of a 422's errors next to its field; false when none fits.
  function placeError(e) {
    const msg = e.message || e.detail || '';
    let key = null;
    let el = null;
    if (e.location === 'body.input') [key, el] = ['input', prompt];
    else if (e.location === 'body.template' || e.location === 'body.template_version_id') [key, el] = ['template', select];
    else if (e.location === 'body.preset' || e.location === 'body.template_version_preset_id') [key, el] = ['preset', presetSel];
    else if (e.location === 'body.parameters') {
      const hit = paramInputs.find((x) => msg.includes(`'${x.param.name}'`));
      if (hit) [key, el] = [`param:${hit.param.name}`, hit.input];
    }
    const p = key && errs.get(key);
    if (!p) return false;
    p.textContent = msg;
    el.setAttribute('aria-invalid', 'true');
    el.setAttribute('aria-describedby', [el.getAttribute('aria-describedby'), p.id].filter(Boolean).join(' '));
    return el;
  }

  async function submit(ev) {
    ev.preventDefault();
    clearErrors();
    const parameters = {};
    for (const { param, input } of paramInputs) {
      if (param.type === 'bool') parameters[param.name] = input.checked;
      else if (input.value.trim() === '') continue;
      else if (param.type === 'number') parameters[param.name] = Number(input.value);
      else parameters[param.name] = input.value;
    }
    button.disabled = true;
    try {
      const body = { input: prompt.value, template: select.value, parameters };
      if (presetSel.value) body.preset = presetSel.value;
      const t = await api('POST', '/api/v2/tasks/me', body);
      prompt.value = '';
      say(`Task ${t.name} created`);
      ctx.toast(`Task ${t.name} created`);
      onCreated(t);
    } catch (e) {
      let first = null;
      for (const x of e instanceof ApiError ? e.errors : []) first = placeError(x) || first;
      if (!first) formError.textContent = e.detail || String(e);
      else first.focus();
    } finally {
      button.disabled = false;
    }
  }

  select.addEventListener('change', showTemplate);
  presetSel.addEventListener('change', applyPreset);
  showTemplate();
  const form = h(
    'form',
    { class: 'panel task-form', 'aria-labelledby': 'task-form-title', onSubmit: submit },
    h('h2', { id: 'task-form-title' }, 'Start a task'),
    formError,
    h('div', { class: 'task-form-grid' }, promptField, h('div', { class: 'task-form-side' }, templateField, presetField)),
    paramBox,
    h('div', { class: 'row' }, button),
  );
  return form;
}

/* ---- the table --------------------------------------------------------- */

// The filters, the paged table and the bulk delete.
async function taskTable(ctx, isAdmin, say) {
  const filters = {
    status: STATUSES.includes(ctx.query.get('status')) ? ctx.query.get('status') : '',
    owner: isAdmin ? ctx.query.get('owner') || '' : '',
  };
  const rows = new Map(); // id -> {task, tr, cells: {name: {key, td}}}
  const cursors = [null]; // cursors[i]: the `after` of page i
  let pageNo = 0;
  let next = null;
  let count = 0;
  let loading = null; // the load in flight
  let reloadAgain = false;

  const countEl = h('p', { class: 'tasks-count', id: 'tasks-count', 'aria-live': 'polite' });
  const tbody = h('tbody');
  const selectAll = h('input', { type: 'checkbox', id: 'tasks-select-all', onChange: () => toggleAll(selectAll.checked) });
  const table = h(
    'table',
    { class: 'cards tasks-table', 'aria-describedby': 'tasks-count' },
    h('caption', { class: 'sr-only' }, 'Tasks, newest first'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col', class: 'col-select' }, h('span', { class: 'sr-only' }, 'Select')),
        ['Name', 'Template', 'Status', 'Agent state', 'Usage', 'Owner', 'Created', 'Actions'].map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    tbody,
  );
  const empty = h('p', { class: 'muted tasks-none', hidden: true }, 'No tasks here yet.');
  const prev = h('button', { type: 'button', onClick: () => go(pageNo - 1) }, '← Previous');
  const nextBtn = h('button', { type: 'button', onClick: () => go(pageNo + 1) }, 'Next →');
  const pageEl = h('span', { class: 'muted' });
  const pager = h('nav', { class: 'row tasks-pages', 'aria-label': 'Pages of tasks' }, prev, pageEl, nextBtn);

  // bulk delete with a confirm step in the page
  const delBtn = h('button', { type: 'button', class: 'danger', disabled: true, onClick: askDelete }, 'Delete selected');
  const confirmText = h('p', { id: 'tasks-confirm-text' });
  const confirmYes = h('button', { type: 'button', class: 'danger', onClick: doDelete }, 'Delete');
  const confirmNo = h('button', { type: 'button', onClick: () => closeConfirm() }, 'Cancel');
  const confirmBox = h(
    'div',
    { class: 'panel tasks-confirm', role: 'alertdialog', 'aria-labelledby': 'tasks-confirm-text', hidden: true },
    confirmText,
    h('div', { class: 'row' }, confirmYes, confirmNo),
  );

  const statusSel = h(
    'select',
    { id: 'tasks-status', onChange: () => setFilter('status', statusSel.value) },
    h('option', { value: '' }, 'Any status'),
    STATUSES.map((s) => h('option', { value: s, selected: s === filters.status }, s)),
  );
  const filterBar = h('div', { class: 'row tasks-filters' }, field('Status', statusSel));
  if (isAdmin) {
    const ownerSel = h('select', { id: 'tasks-owner', onChange: () => setFilter('owner', ownerSel.value) }, h('option', { value: '' }, 'Everyone'));
    filterBar.append(field('Owner', ownerSel));
    api('GET', '/api/v2/users')
      .then((r) => {
        const names = (r.users || []).map((u) => u.username).sort();
        if (filters.owner && !names.includes(filters.owner)) names.push(filters.owner);
        for (const n of names) ownerSel.append(h('option', { value: n, selected: n === filters.owner }, n));
      })
      .catch((e) => ctx.toast(`The users could not be listed: ${e.detail}`, 'error'));
  }
  filterBar.append(h('div', { class: 'row tasks-bulk' }, h('label', { class: 'check' }, selectAll, 'Select all on this page'), delBtn));

  const q = () =>
    [filters.status && `status:${filters.status}`, filters.owner && `owner:"${filters.owner}"`].filter(Boolean).join(' ');

  const matches = (t) => (!filters.status || t.status === filters.status) && (!filters.owner || t.owner_name === filters.owner);

  function setFilter(k, v) {
    filters[k] = v;
    const u = new URLSearchParams();
    if (filters.status) u.set('status', filters.status);
    if (filters.owner) u.set('owner', filters.owner);
    history.replaceState(null, '', `/tasks${u.size ? `?${u}` : ''}`);
    cursors.length = 1;
    go(0);
  }

  function go(n) {
    if (n < 0 || n >= cursors.length) return;
    pageNo = n;
    load();
  }

  // Load the current page; loads asked for meanwhile run once after it.
  function load() {
    if (loading) {
      reloadAgain = true;
      return loading;
    }
    const u = new URLSearchParams({ limit: String(PAGE) });
    if (q()) u.set('q', q());
    if (cursors[pageNo]) u.set('after', cursors[pageNo]);
    loading = api('GET', `/api/v2/tasks?${u}`)
      .then((r) => {
        if (!ctx.active()) return;
        next = r.next || null;
        cursors.length = pageNo + 1;
        if (next) cursors.push(next);
        count = r.count ?? r.tasks.length;
        showPage(r.tasks || []);
      })
      .catch((e) => ctx.toast(`The tasks could not be loaded: ${e.detail}`, 'error'))
      .finally(() => {
        loading = null;
        if (reloadAgain && ctx.active()) {
          reloadAgain = false;
          load();
        }
      });
    return loading;
  }

  function showPage(tasks) {
    rows.clear();
    const trs = tasks.map((t) => makeRow(t).tr);
    tbody.replaceChildren(...trs);
    selectAll.checked = false;
    closeConfirm();
    renderMeta();
  }

  function renderMeta() {
    countEl.textContent = `${count} ${count === 1 ? 'task' : 'tasks'}`;
    empty.hidden = rows.size > 0;
    table.hidden = rows.size === 0;
    prev.disabled = pageNo === 0;
    nextBtn.disabled = !next;
    pageEl.textContent = `Page ${pageNo + 1}`;
    pager.hidden = pageNo === 0 && !next;
    updateSelection();
  }

  /* rows */

  const CELLS = {
    select: {
      label: null,
      key: (t) => t.name,
      build: (t, r) => {
        const cb = h('input', { type: 'checkbox', id: `sel-${t.id}`, class: 'task-select', onChange: updateSelection });
        if (r.cells?.select) cb.checked = r.cells.select.td.querySelector('input')?.checked;
        return [cb, h('label', { for: cb.id, class: 'sr-only' }, `Select ${t.name}`)];
      },
    },
    name: {
      label: 'Name',
      key: (t) => `${t.owner_name}\u0000${t.name}\u0000${t.display_name}`,
      build: (t) => [
        h('a', { href: `/tasks/${seg(t.owner_name)}/${seg(t.name)}`, class: 'task-name' }, t.name),
        t.display_name && t.display_name !== t.name ? h('div', { class: 'muted task-display' }, t.display_name) : null,
      ],
    },
    template: { label: 'Template', key: (t) => t.template_display_name || t.template_name, build: (t) => t.template_display_name || t.template_name || '—' },
    status: {
      label: 'Status',
      key: (t) => `${t.status}\u0000${t.status_reason}\u0000${t.workspace_status}`,
      build: (t) => [
        badge(t.status),
        t.workspace_status === 'stopping' ? h('span', { class: 'muted' }, ' stopping…') : null,
        t.status_reason ? h('div', { class: 'muted task-reason' }, t.status_reason) : null,
      ],
    },
    state: {
      label: 'Agent state',
      key: (t) => JSON.stringify(t.current_state || null),
      build: (t) => {
        const s = t.current_state;
        if (!s) return h('span', { class: 'muted' }, '—');
        const href = safeUrl(s.uri);
        return [
          badge(s.state),
          s.message ? h('div', { class: 'task-message' }, s.message) : null,
          href ? h('a', { href, class: 'task-uri', rel: 'noopener noreferrer', target: '_blank' }, s.uri) : null,
        ];
      },
    },
    usage: {
      label: 'Usage',
      key: (t) => JSON.stringify(t.usage || null),
      build: (t) => h('span', { class: 'task-usage', title: usageTitle(t.usage) }, usageText(t.usage)),
    },
    owner: { label: 'Owner', key: (t) => t.owner_name, build: (t) => t.owner_name },
    created: { label: 'Created', key: (t) => t.created_at, build: (t) => timeEl(t.created_at) },
    actions: {
      label: 'Actions',
      key: (t) => `${t.status}\u0000${t.workspace_status}\u0000${t.name}`,
      build: (t) => {
        const stopping = t.workspace_status === 'stopping';
        if ((t.status === 'active' || t.status === 'initializing') && !stopping)
          return h('button', { type: 'button', class: 'small', 'aria-label': `Pause ${t.name}`, onClick: (ev) => act(t.id, 'pause', ev.currentTarget) }, 'Pause');
        if (t.status === 'paused') return h('button', { type: 'button', class: 'small', 'aria-label': `Resume ${t.name}`, onClick: (ev) => act(t.id, 'resume', ev.currentTarget) }, 'Resume');
        return null;
      },
    },
  };

  function makeRow(t) {
    const r = { task: t, tr: h('tr', { 'data-id': t.id }), cells: null };
    const cells = {};
    for (const [name, c] of Object.entries(CELLS)) {
      const td = h(name === 'name' ? 'th' : 'td', { class: `col-${name}`, 'data-label': c.label, scope: name === 'name' ? 'row' : null }, c.build(t, r));
      cells[name] = { key: c.key(t), td };
      r.tr.append(td);
    }
    r.cells = cells;
    rows.set(t.id, r);
    return r;
  }

  // Rewrite only the cells whose data changed.
  function updateRow(r, t) {
    r.task = t;
    for (const [name, c] of Object.entries(CELLS)) {
      const cell = r.cells[name];
      const key = c.key(t);
      if (key === cell.key) continue;
      const focused = cell.td.contains(document.activeElement);
      clear(cell.td, c.build(t, r));
      cell.key = key;
      if (focused) cell.td.querySelector('button, a, input')?.focus();
    }
  }

  function removeRow(id) {
    const r = rows.get(id);
    if (!r) return false;
    r.tr.remove();
    rows.delete(id);
    return true;
  }

  // Where a task that is new to the page goes; false when not on it.
  function insertRow(t) {
    if (pageNo !== 0 || !matches(t)) return false;
    const r = makeRow(t);
    const after = [...rows.values()].find((x) => x !== r && older(x.task, t));
    if (after) tbody.insertBefore(r.tr, after.tr);
    else if (!next) tbody.append(r.tr);
    else {
      rows.delete(t.id); // older than this page: on a later one
      return false;
    }
    return true;
  }

  const older = (a, b) => a.created_at < b.created_at || (a.created_at === b.created_at && a.id < b.id);

  // One Task from the event stream, a create or an action's reply.
  function upsert(t) {
    const r = rows.get(t.id);
    if (r && matches(t)) updateRow(r, t);
    else if (r) {
      removeRow(t.id);
      count = Math.max(0, count - 1);
    } else if (matches(t) && insertRow(t)) {
      count++;
      // tasks created while the first page is shown join it: past twice a
      // page, load it again (its PAGE newest, and the cursor to the rest)
      if (rows.size > 2 * PAGE) {
        load();
        return;
      }
    } else return;
    renderMeta();
  }

  ctx.onTask((t, kind) => {
    if (kind === 'task') upsert(t);
    else if (kind === 'deleted') {
      if (removeRow(t.id)) {
        count = Math.max(0, count - 1);
        renderMeta();
      }
    } else if (kind === 'reconnected') load();
  });

  /* actions */

  async function act(id, what, button) {
    const r = rows.get(id);
    if (!r) return;
    button.disabled = true;
    button.textContent = what === 'pause' ? 'Pausing…' : 'Resuming…';
    try {
      const t = await api('POST', taskPath(r.task, what));
      say(`${t.name} is ${t.status}`);
      const now = rows.get(id);
      if (now) now.cells.actions.key = null; // the button is redrawn
      upsert(t);
    } catch (e) {
      ctx.toast(`${r.task.name}: ${e.detail}`, 'error');
      if (rows.get(id)) {
        const cell = rows.get(id).cells.actions;
        cell.key = null;
        updateRow(rows.get(id), rows.get(id).task);
      }
    }
  }

  const selected = () => [...rows.values()].filter((r) => r.cells.select.td.querySelector('input').checked);

  function updateSelection() {
    const n = selected().length;
    delBtn.disabled = n === 0;
    delBtn.textContent = n ? `Delete selected (${n})` : 'Delete selected';
    selectAll.checked = n > 0 && n === rows.size;
    selectAll.indeterminate = n > 0 && n < rows.size;
    if (n === 0) closeConfirm();
  }

  function toggleAll(on) {
    for (const r of rows.values()) r.cells.select.td.querySelector('input').checked = on;
    updateSelection();
  }

  function askDelete() {
    const sel = selected();
    if (!sel.length) return;
    confirmText.textContent =
      sel.length === 1
        ? `Delete ${sel[0].task.name}? Its workspace and files are removed.`
        : `Delete these ${sel.length} tasks? Their workspaces and files are removed.`;
    confirmBox.hidden = false;
    confirmNo.focus();
  }

  function closeConfirm(focusBack) {
    if (confirmBox.hidden) return;
    confirmBox.hidden = true;
    if (focusBack) delBtn.focus();
  }

  async function doDelete() {
    const sel = selected();
    confirmYes.disabled = true;
    let done = 0;
    const failed = [];
    const queue = [...sel];
    const worker = async () => {
      for (let r = queue.shift(); r; r = queue.shift()) {
        try {
          await api('DELETE', taskPath(r.task));
          done++;
          if (removeRow(r.task.id)) count = Math.max(0, count - 1);
        } catch (e) {
          failed.push(`${r.task.name}: ${e.detail}`);
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    confirmYes.disabled = false;
    closeConfirm();
    renderMeta();
    say(`${done} ${done === 1 ? 'task' : 'tasks'} deleted`);
    if (failed.length) ctx.toast(`Not deleted: ${failed.join('; ')}`, 'error');
    else ctx.toast(`${done} ${done === 1 ? 'task' : 'tasks'} deleted`);
    delBtn.focus();
  }

  await load();
  const el = h(
    'section',
    { class: 'tasks-list', 'aria-labelledby': 'tasks-list-title' },
    h('div', { class: 'row tasks-head' }, h('h2', { id: 'tasks-list-title' }, isAdmin ? 'All tasks' : 'Your tasks'), countEl),
    filterBar,
    confirmBox,
    h('div', { class: 'table-wrap' }, table),
    empty,
    pager,
  );
  return { el, upsert };
}
