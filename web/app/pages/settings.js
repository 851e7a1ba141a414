// settings.js: /settings, the signed-in user's own account.
//
// Sections: profile (name and email, the git author and committer of the
// user's tasks), the GitHub account linked through the server's GitHub
// OAuth app (/external-auth/github; admins also configure the app here),
// the GitHub token (the user secret github_token, as
// `taskbox user set-token github` sets it), other secrets (names and
// dates only: values go in and never come back), the webhook URL, API
// tokens (a new one shown once), browser sessions, the password. Each
// form shows the server's errors at its fields and says what it did in
// a status line. A value of a secret or token never stays in the page
// after it was sent, except a new API token, shown once on purpose.

import { api, seg } from '../api.js';
import { h, clear, timeEl } from '../dom.js';
import { serverForm, shownOnce, confirmButton } from '../form.js';
import { app } from '../main.js';

const GITHUB = 'github_token';
const ME = '/api/v2/users/me';

const LIFETIMES = [
  ['', 'Never expires'],
  [String(86400), '1 day'],
  [String(7 * 86400), '7 days'],
  [String(30 * 86400), '30 days'],
  [String(90 * 86400), '90 days'],
  [String(365 * 86400), '1 year'],
];

const section = (id, title, ...children) => h('section', { class: 'panel settings-section', 'aria-labelledby': id }, h('h2', { id }, title), ...children);

export async function render(root, ctx) {
  ctx.setTitle('Settings');
  const me = await api('GET', ME);
  if (!ctx.active()) return;
  const account = await githubAccountSection(ctx);
  root.append(
    h('h1', {}, 'Settings'),
    profile(me),
    account.el,
    ...(me.role === 'admin' ? [await githubAppSection(ctx, account.reload)] : []),
    await secretsSection(ctx),
    webhook(me),
    await tokensSection(ctx),
    await sessionsSection(ctx),
    password(),
  );
}

/* ---- profile ----------------------------------------------------------- */

function profile(me) {
  const name = h('input', { value: me.name || '', autocomplete: 'name', maxlength: '128' });
  // email_set false: me.email is made up (USERNAME@taskbox.invalid)
  const shown = me.email_set === false ? '' : me.email || '';
  const email = h('input', { type: 'email', value: shown, autocomplete: 'email', maxlength: '254' });
  const f = serverForm({
    label: 'Profile',
    submit: 'Save profile',
    onSubmit: async (form) => {
      const change = { name: name.value.trim() };
      if (email.value.trim() !== shown) change.email = email.value.trim();
      const u = await api('PATCH', ME, change);
      app.user = { ...app.user, name: u.name, email: u.email };
      form.done('Profile saved.');
    },
  });
  return section(
    'profile-title',
    'Profile',
    h(
      'p',
      { class: 'hint' },
      `Your tasks commit with this name and email as the git author and committer (unless their template says otherwise). Empty: your username (${me.username}) and ${me.username}@taskbox.invalid.`,
    ),
    f.build(f.add('name', 'Name', name), f.add('email', 'Email', email)),
  );
}

/* ---- GitHub account (external auth) ------------------------------------- */

const EXTAUTH = '/api/v2/external-auth/github';
// what /external-auth/github/callback's error codes mean
const LINK_ERRORS = {
  state: 'the answer from GitHub did not belong to a link started in this browser, or it took longer than 10 minutes. Link again.',
  inactive: 'your account is not active.',
  denied: 'GitHub access was denied.',
  no_code: 'GitHub sent no authorization code. Link again.',
  not_configured: 'no GitHub OAuth app is configured: ask an admin.',
  busy: 'the server is busy talking to GitHub. Try again.',
  taken: 'another taskbox user has already linked that GitHub account.',
  store: 'the link could not be stored. Try again.',
  github: 'GitHub refused the authorization or the account could not be read. Link again; the server log says more.',
};

// The caller's GitHub link: {el, reload}.
async function githubAccountSection(ctx) {
  const state = h('p', { class: 'github-account-state', role: 'status' });
  const actions = h('div', { class: 'row github-account-actions' });
  const linked = ctx.query.get('external_auth') === 'github';
  const code = ctx.query.get('external_auth_error');
  // codes, never text from the URL (a crafted link could say anything)
  const failed = code && `Linking failed: ${LINK_ERRORS[code] || LINK_ERRORS.github}`;
  const outcome = h('p', { class: failed ? 'form-error' : 'form-ok', role: failed ? 'alert' : 'status' },
    failed || (linked ? 'Your GitHub account is linked.' : ''));

  async function reload() {
    let st = null;
    try {
      st = await api('GET', EXTAUTH);
    } catch (e) {
      if (e.status !== 404) throw e;
    }
    if (!ctx.active()) return;
    if (!st) {
      clear(state, 'GitHub accounts cannot be linked yet: an admin sets up the GitHub OAuth app first.');
      clear(actions);
      return;
    }
    const link = h('a', { class: 'button primary', href: '/external-auth/github' }, st.user ? 'Link again' : 'Link GitHub account');
    const unlink = confirmButton('Unlink GitHub account', 'Unlink your GitHub account? Tasks of templates that use your GitHub token fall back to your GitHub token secret.', async () => {
      await api('DELETE', EXTAUTH);
      clear(outcome);
      await reload();
      ctx.toast('The GitHub account is unlinked.');
    });
    if (st.authenticated) {
      clear(state, 'Linked to GitHub as ', h('strong', { class: 'github-login' }, st.user.login), st.user.name ? ` (${st.user.name})` : '', '.');
      clear(actions, unlink);
    } else if (st.user) {
      clear(state, h('span', { class: 'form-error' }, `The link to ${st.user.login} no longer works: ${st.error || 'link again'}.`));
      clear(actions, link, unlink);
    } else {
      clear(state, 'No GitHub account is linked.');
      clear(actions, link);
    }
  }
  await reload();
  const el = section(
    'github-account-title',
    'GitHub account',
    h('p', { class: 'hint' }, 'Link your GitHub account: templates with github: {token: owner} give your tasks its token (before a GitHub token set below), and automation finds you by your GitHub id. From a terminal: `taskbox user link github`.'),
    outcome,
    state,
    actions,
  );
  return { el, reload };
}

// The OAuth app's form (admins); changed() runs after a save or delete.
async function githubAppSection(ctx, changed) {
  let cfg = null;
  try {
    cfg = await api('GET', `${EXTAUTH}/config`);
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  const clientId = h('input', { value: cfg?.client_id || '', autocomplete: 'off', spellcheck: 'false', required: true, maxlength: '128' });
  const secret = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', required: !cfg, placeholder: cfg ? 'unchanged' : '' });
  const base = h('input', { type: 'url', value: cfg?.base_url || 'https://github.com', autocomplete: 'off' });
  const apiUrl = h('input', { type: 'url', value: cfg?.api_url || '', autocomplete: 'off', placeholder: 'https://api.github.com' });
  const scopes = h('input', { value: cfg?.scopes || 'repo read:user', autocomplete: 'off', spellcheck: 'false' });
  // what GitHub sends browsers back to: stored, so the server never takes
  // it from a request's Host
  const callback = h('input', { type: 'url', value: cfg?.callback_url || `${location.origin}/external-auth/github/callback`, autocomplete: 'off', spellcheck: 'false' });
  const del = h('div', { class: 'row' });
  const f = serverForm({
    label: 'GitHub OAuth app',
    submit: 'Save GitHub OAuth app',
    onSubmit: async (form) => {
      const body = { client_id: clientId.value.trim(), base_url: base.value.trim(), scopes: scopes.value.trim() };
      if (secret.value) body.client_secret = secret.value.trim();
      if (apiUrl.value.trim()) body.api_url = apiUrl.value.trim();
      if (callback.value.trim()) body.callback_url = callback.value.trim();
      secret.value = ''; // never stays in the page
      try {
        cfg = await api('PUT', `${EXTAUTH}/config`, body);
      } finally {
        if (body.client_secret) body.client_secret = '';
      }
      secret.required = false;
      secret.placeholder = 'unchanged';
      apiUrl.value = cfg.api_url;
      callback.value = cfg.callback_url;
      showDelete();
      await changed();
      form.done('GitHub OAuth app saved. The client secret is not shown again.');
    },
  });
  function showDelete() {
    clear(
      del,
      cfg
        ? confirmButton('Delete GitHub OAuth app', 'Delete the GitHub OAuth app? Nobody can link an account until it is set again; linked accounts stay linked but are not refreshed.', async () => {
            await api('DELETE', `${EXTAUTH}/config`);
            cfg = null;
            secret.required = true;
            secret.placeholder = '';
            showDelete();
            await changed();
            ctx.toast('The GitHub OAuth app is deleted.');
          })
        : null,
    );
  }
  showDelete();
  return section(
    'github-app-title',
    'GitHub OAuth app',
    h('p', { class: 'hint' }, 'Admins: the OAuth app users link their GitHub accounts through. Enable its device flow for `taskbox user link github`. For GitHub Enterprise, set its base URL (the API URL defaults to BASE/api/v3).'),
    f.build(
      f.add('client_id', 'Client ID', clientId),
      f.add('client_secret', 'Client secret', secret, cfg ? 'Set: leave empty to keep it (needed again when the base URL changes).' : 'Never shown again once saved.'),
      f.add('base_url', 'GitHub base URL', base),
      f.add('api_url', 'GitHub API URL', apiUrl, 'Empty: https://api.github.com, or BASE/api/v3.'),
      f.add('scopes', 'Scopes', scopes),
      f.add('callback_url', 'Callback URL', callback, 'Must equal the OAuth app\'s authorization callback URL at GitHub; ends with /external-auth/github/callback.'),
    ),
    del,
  );
}

/* ---- GitHub token and secrets ------------------------------------------ */

async function secretsSection(ctx) {
  const githubState = h('p', { class: 'github-state' });
  const body = h('tbody');
  const table = h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'cards secrets-table' },
      h('caption', { class: 'sr-only' }, 'Your secrets'),
      h('thead', {}, h('tr', {}, ['Name', 'Set', 'Changed', h('span', { class: 'sr-only' }, 'Actions')].map((c) => h('th', { scope: 'col' }, c)))),
      body,
    ),
  );
  const empty = h('p', { class: 'muted' }, 'No secrets yet.');
  const removeGithub = h('div', { class: 'github-remove' });

  async function reload() {
    const r = await api('GET', `${ME}/secrets`);
    if (!ctx.active()) return;
    const gh = r.secrets.find((s) => s.name === GITHUB);
    clear(githubState, gh ? ['A GitHub token is linked (set ', timeEl(gh.updated_at || gh.created_at), ').'] : 'No GitHub token is linked.');
    clear(
      removeGithub,
      gh
        ? confirmButton('Unlink the GitHub token', 'Delete the stored GitHub token? Tasks of templates that need it will not start.', async () => {
            await api('DELETE', `${ME}/secrets/${GITHUB}`);
            await reload();
            ctx.toast('The GitHub token is unlinked.');
          })
        : null,
    );
    const others = r.secrets.filter((s) => s.name !== GITHUB);
    empty.hidden = others.length > 0;
    table.hidden = others.length === 0;
    clear(
      body,
      others.map((s) =>
        h(
          'tr',
          { 'data-secret': s.name },
          h('td', { 'data-label': 'Name', class: 'mono' }, s.name),
          h('td', { 'data-label': 'Set' }, timeEl(s.created_at)),
          h('td', { 'data-label': 'Changed' }, timeEl(s.updated_at)),
          h(
            'td',
            { 'data-label': 'Actions' },
            confirmButton(`Delete ${s.name}`, `Delete the secret ${s.name}? Tasks that need it will not start.`, async () => {
              await api('DELETE', `${ME}/secrets/${seg(s.name)}`);
              await reload();
              ctx.toast(`Deleted the secret ${s.name}.`);
            }),
          ),
        ),
      ),
    );
  }

  const ghValue = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
  const gf = serverForm({
    label: 'Link a GitHub token',
    submit: 'Save GitHub token',
    onSubmit: async (form) => {
      const value = ghValue.value.trim();
      ghValue.value = '';
      await api('PUT', `${ME}/secrets/${GITHUB}`, { value });
      await reload();
      form.done('GitHub token saved. It is not shown again.');
    },
  });

  const sName = h('input', { autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', required: true, maxlength: '64' });
  const sValue = h('textarea', { rows: '2', autocomplete: 'off', spellcheck: 'false', required: true, class: 'mono' });
  const sf = serverForm({
    label: 'Set a secret',
    submit: 'Save secret',
    onSubmit: async (form) => {
      const name = sName.value.trim();
      const value = sValue.value;
      sValue.value = ''; // the value never stays in the page
      await api('PUT', `${ME}/secrets/${seg(name)}`, { value });
      sName.value = '';
      await reload();
      form.done(`Secret ${name} saved. Its value is not shown again.`);
    },
  });
  await reload();
  return h(
    'div',
    {},
    section(
      'github-title',
      'GitHub token',
      h('p', { class: 'hint' }, 'Templates with github: {token: owner} give your tasks this token (GITHUB_TOKEN, GH_TOKEN and git over https). The same as `taskbox user set-token github`. It is never shown again.'),
      githubState,
      removeGithub,
      gf.build(gf.add('value', 'GitHub personal access token', ghValue, 'A fine-grained or classic token from github.com/settings/tokens.')),
    ),
    section(
      'secrets-title',
      'Secrets',
      h('p', { class: 'hint' }, 'Values stored for you (the GitHub token above is one, github_token). Only names and dates are shown; a value can be replaced or deleted, never read back. A template\'s own secrets (env_secrets) are set with `taskbox secret set NAME --template T`.'),
      empty,
      table,
      h('h3', {}, 'Set a secret'),
      sf.build(sf.add('name', 'Secret name', sName, 'Letters, digits and _ (a name that exists is replaced).'), sf.add('value', 'Value', sValue)),
    ),
  );
}

/* ---- webhook ------------------------------------------------------------ */

function webhook(me) {
  const url = h('input', { type: 'url', value: me.webhook_url || '', placeholder: 'https://example.com/hook', autocomplete: 'off', maxlength: '2048' });
  const f = serverForm({
    label: 'Webhook',
    submit: 'Save webhook',
    onSubmit: async (form) => {
      const u = await api('PATCH', ME, { webhook_url: url.value.trim() });
      url.value = u.webhook_url || '';
      form.done(u.webhook_url ? 'Webhook saved.' : 'Webhook removed.');
    },
  });
  return section(
    'webhook-title',
    'Webhook',
    h('p', { class: 'hint' }, 'The server POSTs a JSON notice to this URL when one of your tasks goes idle, waiting, complete, failed or paused. Not the server itself nor a private address (admins excepted). Empty: none.'),
    f.build(f.add('webhook_url', 'Webhook URL', url)),
  );
}

/* ---- API tokens ---------------------------------------------------------- */

async function tokensSection(ctx) {
  const body = h('tbody');
  const once = h('div', { class: 'once-slot' });

  async function reload() {
    const r = await api('GET', `${ME}/tokens`);
    if (!ctx.active()) return;
    clear(
      body,
      r.tokens.map((t) =>
        h(
          'tr',
          { 'data-token': t.id },
          h('td', { 'data-label': 'Name' }, t.name),
          h('td', { 'data-label': 'Created' }, timeEl(t.created_at)),
          h('td', { 'data-label': 'Last used' }, timeEl(t.last_used_at)),
          h('td', { 'data-label': 'Expires' }, t.expired ? h('span', { class: 'badge badge-error' }, 'expired') : t.expires_at ? timeUntil(t.expires_at) : 'never'),
          h(
            'td',
            { 'data-label': 'Actions' },
            confirmButton(`Revoke ${t.name}`, `Revoke the token ${t.name}? Programs using it and browser sessions signed in with it stop working.`, async () => {
              await api('DELETE', `${ME}/tokens/${seg(t.id)}`);
              await reload();
              ctx.toast(`Revoked the token ${t.name}.`);
            }),
          ),
        ),
      ),
    );
  }

  const name = h('input', { autocomplete: 'off', required: true, maxlength: '64', placeholder: 'laptop cli' });
  const life = h('select', {}, LIFETIMES.map(([v, t]) => h('option', { value: v, selected: v === String(30 * 86400) }, t)));
  const f = serverForm({
    label: 'New API token',
    submit: 'Create token',
    onSubmit: async (form) => {
      clear(once);
      const t = await api('POST', `${ME}/tokens`, { name: name.value.trim(), lifetime: life.value ? Number(life.value) : null });
      name.value = '';
      clear(once, shownOnce(`New token ${t.name}`, t.token));
      await reload();
      form.done(`Token ${t.name} created. Copy it now: it is not shown again.`);
    },
  });
  await reload();
  return section(
    'tokens-title',
    'API tokens',
    h('p', { class: 'hint' }, 'For the CLI, scripts and the MCP server (Authorization: Bearer TOKEN). A token is shown once, when it is made.'),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'cards tokens-table' },
        h('caption', { class: 'sr-only' }, 'Your API tokens'),
        h('thead', {}, h('tr', {}, ['Name', 'Created', 'Last used', 'Expires', h('span', { class: 'sr-only' }, 'Actions')].map((c) => h('th', { scope: 'col' }, c)))),
        body,
      ),
    ),
    h('h3', {}, 'New token'),
    f.build(f.add('name', 'Token name', name), f.add('lifetime', 'Lifetime', life)),
    once,
  );
}

// "in 3 d" for a future time, in a <time>.
function timeUntil(iso) {
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const d = new Date(iso);
  const text = s < 3600 ? `in ${Math.max(1, Math.round(s / 60))} min` : s < 86400 ? `in ${Math.round(s / 3600)} h` : `in ${Math.round(s / 86400)} d`;
  return h('time', { datetime: iso, title: d.toLocaleString() }, text);
}

/* ---- browser sessions ---------------------------------------------------- */

async function sessionsSection(ctx) {
  const body = h('tbody');

  async function reload() {
    const r = await api('GET', `${ME}/sessions`);
    if (!ctx.active()) return;
    clear(
      body,
      r.sessions.map((s) =>
        h(
          'tr',
          { 'data-session': s.id },
          h('td', { 'data-label': 'Session', class: 'mono' }, String(s.id).slice(0, 8)),
          h('td', { 'data-label': 'For' }, s.path === '/' ? 'the web app' : h('span', { class: 'mono' }, s.path)),
          h('td', { 'data-label': 'Started' }, timeEl(s.created_at)),
          h('td', { 'data-label': 'Ends' }, s.expires_at ? timeUntil(s.expires_at) : '—'),
          h(
            'td',
            { 'data-label': 'Actions' },
            confirmButton('End session', 'End this session? A browser using it is signed out (this one too, if it is this one).', async () => {
              await api('DELETE', `${ME}/sessions/${seg(s.id)}`);
              await reload();
              ctx.toast('Session ended.');
            }),
          ),
        ),
      ),
    );
  }
  await reload();
  return section(
    'sessions-title',
    'Browser sessions',
    h('p', { class: 'hint' }, 'Where you are signed in: this app, and task apps opened in a browser.'),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'cards sessions-table' },
        h('caption', { class: 'sr-only' }, 'Your browser sessions'),
        h('thead', {}, h('tr', {}, ['Session', 'For', 'Started', 'Ends', h('span', { class: 'sr-only' }, 'Actions')].map((c) => h('th', { scope: 'col' }, c)))),
        body,
      ),
    ),
  );
}

/* ---- password ------------------------------------------------------------ */

function password() {
  const hasOld = app.user?.has_password !== false;
  const old = h('input', { type: 'password', autocomplete: 'current-password', required: true });
  const pw = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: '8', maxlength: '1024' });
  const again = h('input', { type: 'password', autocomplete: 'new-password', required: true });
  const f = serverForm({
    label: 'Password',
    submit: 'Change password',
    onSubmit: async (form) => {
      if (pw.value !== again.value) {
        form.fail({ errors: [{ location: 'body.again', message: 'The two new passwords differ.' }] });
        return;
      }
      const body = { password: pw.value };
      if (hasOld) body.old_password = old.value;
      try {
        await api('PUT', `${ME}/password`, body);
      } catch (e) {
        if (e.status === 403 && !e.errors.some((x) => x.location)) e.errors = [{ location: 'body.old_password', message: e.detail }];
        throw e;
      } finally {
        old.value = '';
        pw.value = '';
        again.value = '';
      }
      if (app.user) app.user.has_password = true;
      form.done('Password changed. Your other sessions were ended.');
    },
  });
  return section(
    'password-title',
    'Password',
    h('p', { class: 'hint' }, 'For signing in to this app; 8 to 1024 characters. Changing it signs you out everywhere else.'),
    f.build(
      hasOld ? f.add('old_password', 'Current password', old) : null,
      f.add('password', 'New password', pw),
      f.add('again', 'New password again', again),
    ),
  );
}
