// users.js: /users, for admins (the router shows members Not found, and
// the API refuses them anyway).
//
// The users with their role, status and linked GitHub account; roles are
// admin, member and task-creator (a member that may also create tasks
// for active members: a bot's token). An admin creates a user (with a
// password, or without one: the new user's first API token is shown
// once either way), changes another user's role, suspends or activates
// them (PATCH /api/v2/users/{user} {role} or {status}; never oneself) and
// deletes them (confirmed in place; delete_tasks deletes their tasks
// first, else a user who has tasks is not deleted).

import { api, seg } from '../api.js';
import { h, clear, timeEl, badge } from '../dom.js';
import { serverForm, shownOnce, confirmButton } from '../form.js';
import { app } from '../main.js';

const ROLES = ['member', 'task-creator', 'admin'];
const ROLE_TEXT = { member: 'a member', 'task-creator': 'a task-creator', admin: 'an admin' };

export async function render(root, ctx) {
  ctx.setTitle('Users');
  const body = h('tbody');
  const said = h('p', { class: 'sr-only', role: 'status' });

  async function reload() {
    const r = await api('GET', '/api/v2/users');
    if (!ctx.active()) return;
    clear(body, r.users.map((u) => row(u)));
  }

  // One user's actions: a role select, suspend/activate, delete; none
  // for oneself (the server refuses them).
  function actions(u) {
    if (u.id === app.user?.id) return h('span', { class: 'muted' }, 'you');
    const err = h('span', { class: 'form-error', role: 'alert' });
    const patch = async (change, text) => {
      err.textContent = '';
      try {
        await api('PATCH', `/api/v2/users/${seg(u.username)}`, change);
        said.textContent = text;
        ctx.toast(text);
        await reload();
      } catch (e) {
        err.textContent = e.detail;
      }
    };
    const role = h(
      'select',
      { id: `role-${u.id}`, 'aria-label': `Role of ${u.username}` },
      ROLES.map((r) => h('option', { value: r, selected: u.role === r }, r)),
    );
    const suspended = u.status === 'suspended';
    const deleteTasks = h('input', { type: 'checkbox', id: `delete-tasks-${u.id}` });
    return h(
      'div',
      { class: 'user-actions' },
      h(
        'div',
        { class: 'row' },
        role,
        h('button', { type: 'button', onClick: () => patch({ role: role.value }, `${u.username} is now ${ROLE_TEXT[role.value]}.`) }, 'Set role'),
        h(
          'button',
          {
            type: 'button',
            class: suspended ? null : 'danger',
            onClick: () =>
              patch(
                { status: suspended ? 'active' : 'suspended' },
                suspended ? `${u.username} is active again.` : `${u.username} is suspended: their tokens and sessions stop working.`,
              ),
          },
          suspended ? `Activate ${u.username}` : `Suspend ${u.username}`,
        ),
      ),
      confirmButton(
        `Delete ${u.username}`,
        `Delete ${u.username}? Their tokens, sessions and secrets go with them.`,
        async () => {
          await api('DELETE', `/api/v2/users/${seg(u.username)}${deleteTasks.checked ? '?delete_tasks=true' : ''}`);
          said.textContent = `Deleted ${u.username}.`;
          ctx.toast(`Deleted ${u.username}.`);
          await reload();
        },
        h(
          'div',
          { class: 'check' },
          deleteTasks,
          h(
            'label',
            { for: deleteTasks.id },
            'Also delete their tasks, workspaces and files. Without this, a user who has tasks is not deleted (delete or hand over the tasks first).',
          ),
        ),
      ),
      err,
    );
  }

  function row(u) {
    return h(
      'tr',
      { 'data-user': u.username },
      h('td', { 'data-label': 'Username', class: 'mono' }, u.username),
      h('td', { 'data-label': 'Name' }, u.name || h('span', { class: 'muted' }, '—')),
      h('td', { 'data-label': 'Email' }, (u.email_set !== false && u.email) || h('span', { class: 'muted' }, '—')),
      h('td', { 'data-label': 'Role' }, u.role),
      h('td', { 'data-label': 'GitHub', class: 'mono' }, u.github_login || (u.github_com_user_id ? String(u.github_com_user_id) : h('span', { class: 'muted' }, '—'))),
      h('td', { 'data-label': 'Status' }, badge(u.status || 'active', u.status === 'suspended' ? 'paused' : 'active')),
      h('td', { 'data-label': 'Created' }, timeEl(u.created_at)),
      h('td', { 'data-label': 'Actions' }, actions(u)),
    );
  }

  const username = h('input', { autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', required: true, maxlength: '32', pattern: '[a-z0-9][a-z0-9\\-]*' });
  const role = h('select', {}, ROLES.map((r) => h('option', { value: r, selected: r === 'member' }, r)));
  const password = h('input', { type: 'password', autocomplete: 'new-password', minlength: '8', maxlength: '1024' });
  const once = h('div', { class: 'once-slot' });
  const f = serverForm({
    label: 'New user',
    submit: 'Create user',
    onSubmit: async (form) => {
      clear(once);
      const req = { username: username.value.trim(), role: role.value };
      if (password.value) req.password = password.value;
      password.value = '';
      const u = await api('POST', '/api/v2/users', req);
      username.value = '';
      clear(once, shownOnce(`${u.username}'s first API token`, u.token));
      await reload();
      form.done(`Created ${u.username}${req.password ? ': they can sign in with that password' : ''}. Their token is shown below, once.`);
    },
  });

  root.append(
    h('h1', {}, 'Users'),
    said,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'cards users-table' },
        h('caption', { class: 'sr-only' }, 'Users'),
        h('thead', {}, h('tr', {}, ['Username', 'Name', 'Email', 'Role', 'GitHub', 'Status', 'Created', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
        body,
      ),
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'new-user' },
      h('h2', { id: 'new-user' }, 'New user'),
      f.build(
        f.add('username', 'Username', username, '1-32 of a-z, 0-9 and -, not starting with -.'),
        f.add('role', 'Role', role, 'A task-creator is a member that may also create tasks for active members (a bot, such as a GitHub Action).'),
        f.add('password', 'Password (optional)', password, '8 to 1024 characters. Without one, they sign in with the token shown after creating them.'),
      ),
      once,
    ),
  );
  await reload();
}
