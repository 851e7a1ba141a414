// login.js: /login, sign in with a username and password or with a token.
//
// Both forms post to /api/v2/users/login; the server answers with a session
// cookie (HttpOnly: the app never holds a credential) and the CSRF token the
// app sends with every write. ?next= brings the user back where they were
// (app paths only: never another origin).

import { api, setCsrf } from '../api.js';
import { h, field } from '../dom.js';
import { app, appPath, loadTemplates } from '../main.js';

export async function render(root, ctx) {
  const next = appPath(ctx.query.get('next')) || '/tasks';
  const alert = h('p', { class: 'form-error', role: 'alert', id: 'login-error' });

  async function signIn(form, body) {
    const button = form.querySelector('button[type=submit]');
    alert.textContent = '';
    button.disabled = true;
    try {
      const r = await api('POST', '/api/v2/users/login', body, { quiet401: true });
      app.user = r.user;
      app.templates = null;
      setCsrf(r.csrf_token);
      await loadTemplates().catch(() => {});
      ctx.navigate(next, { replace: true });
    } catch (e) {
      alert.textContent = e.status === 401 ? 'Wrong username or password.' : e.detail;
      if (e.status === 401 && body.token) alert.textContent = 'That token is not valid (unknown, revoked or expired).';
      button.disabled = false;
    }
  }

  const username = h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const passwordForm = h(
    'form',
    {
      class: 'stack',
      'aria-labelledby': 'login-title',
      onSubmit: (ev) => {
        ev.preventDefault();
        signIn(passwordForm, { username: username.value.trim(), password: password.value });
      },
    },
    field('Username', username),
    field('Password', password),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  const token = h('input', { name: 'token', type: 'password', autocomplete: 'off', required: true, placeholder: 'tbx_…' });
  const tokenForm = h(
    'form',
    {
      class: 'stack',
      onSubmit: (ev) => {
        ev.preventDefault();
        signIn(tokenForm, { token: token.value.trim() });
      },
    },
    field('API token', token, 'A token from `taskbox token create` or the first start of the server.'),
    h('button', { type: 'submit' }, 'Sign in with a token'),
  );
  root.append(
    h(
      'div',
      { class: 'login' },
      h('h1', { id: 'login-title' }, 'Sign in to taskbox'),
      app.user ? h('p', { class: 'muted' }, `You are signed in as ${app.user.username}. Signing in again replaces that session.`) : null,
      alert,
      passwordForm,
      h('details', { class: 'token-login' }, h('summary', {}, 'Sign in with a token instead'), tokenForm),
    ),
  );
  username.focus();
}
