// fake-github.mjs: a fake GitHub for tests, in process (no npm deps).
//
// startFakeGitHub({clientId, clientSecret, users: [{id, login, name}],
//   tokenTtl?, apiToken?, interval?}) serves, on 127.0.0.1 (http):
// - the OAuth app's endpoints, checked as GitHub checks them:
//   GET /login/oauth/authorize (an HTML page with an "Authorize" button
//   that sends the browser to redirect_uri?code&state; client_id and
//   redirect_uri are checked, the account that approves is authorizeAs()'s,
//   else the first user), POST /login/oauth/access_token (the
//   authorization_code grant with client_secret and the same redirect_uri;
//   urn:ietf:params:oauth:grant-type:device_code; refresh_token, which
//   rotates: the refresh token spent is gone), POST /login/device/code.
//   Replies are JSON when the request accepts application/json, else
//   form-encoded, as GitHub's; errors as GitHub's: HTTP 200 with {error,
//   error_description}. With tokenTtl (seconds) access tokens expire and
//   come with refresh tokens (GitHub's "expiring user tokens").
// - GET /user with "Authorization: Bearer T" or "token T": the account of
//   a token it issued, not revoked or expired; else 401 {"message": "Bad
//   credentials"}.
// - the REST calls of coder/create-task-action's comment step: GET and
//   POST /repos/{o}/{r}/issues/{n}/comments, PATCH
//   /repos/{o}/{r}/issues/comments/{id}, wanting apiToken (the Actions
//   GITHUB_TOKEN) or a user token; 401 otherwise.
// Everything under /api/v3 too (GitHub Enterprise's API prefix).
//
// Returns {url, apiUrl (= url), approveDevice(user_code, login),
// authorizeAs(login), revoke(access_token), comments (Map "owner/repo#n"
// -> [{id, body, user}]), requests ([{method, path, auth}]), issued
// ([{grant, login, access_token, refresh_token}]: every token given),
// close()}.
import http from 'node:http';
import crypto from 'node:crypto';

const BAD_CREDENTIALS = { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' };

export async function startFakeGitHub({ clientId, clientSecret, users = [], tokenTtl, apiToken, interval = 1 } = {}) {
  const byLogin = new Map(users.map((u) => [u.login, u]));
  const codes = new Map(); // code -> {login, redirectUri, clientId}
  const devices = new Map(); // device_code -> {userCode, login|null, expires, denied}
  const access = new Map(); // token -> {login, expires|null, revoked}
  const refresh = new Map(); // refresh token -> login
  const comments = new Map();
  const requests = [];
  const issued = [];
  let nextApprover = null;
  let nextComment = 1000;

  const rand = (prefix, n = 20) => prefix + crypto.randomBytes(n).toString('hex');

  function issue(login, grant) {
    const t = { access_token: rand(tokenTtl ? 'ghu_' : 'gho_'), token_type: 'bearer', scope: 'repo,read:user' };
    const entry = { login, expires: null, revoked: false };
    if (tokenTtl) {
      entry.expires = Date.now() + tokenTtl * 1000;
      t.expires_in = tokenTtl;
      t.refresh_token = rand('ghr_', 30);
      t.refresh_token_expires_in = 15897600;
      refresh.set(t.refresh_token, login);
    }
    access.set(t.access_token, entry);
    issued.push({ grant, login, access_token: t.access_token, refresh_token: t.refresh_token ?? null });
    return t;
  }

  function tokenUser(auth) {
    const m = /^(?:Bearer|token) (\S+)$/i.exec(auth ?? '');
    if (!m) return null;
    const e = access.get(m[1]);
    if (!e || e.revoked || (e.expires !== null && e.expires <= Date.now())) return null;
    return byLogin.get(e.login) ?? null;
  }

  function apiCaller(auth) {
    const m = /^(?:Bearer|token) (\S+)$/i.exec(auth ?? '');
    if (m && apiToken && m[1] === apiToken) return { login: 'github-actions[bot]', id: 41898282 };
    return tokenUser(auth);
  }

  function userJson(u) {
    return {
      login: u.login, id: u.id, node_id: `U_${u.id}`, type: 'User', site_admin: false,
      name: u.name ?? null, email: null,
      avatar_url: `https://avatars.example.invalid/u/${u.id}`,
      html_url: `https://github.example.invalid/${u.login}`,
    };
  }

  function send(res, status, body, type = 'application/json; charset=utf-8') {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  // the token endpoint's answer: JSON or form-encoded, as asked
  function oauthReply(req, res, obj) {
    if ((req.headers.accept ?? '').includes('application/json')) return send(res, 200, obj);
    return send(res, 200, new URLSearchParams(Object.entries(obj).map(([k, v]) => [k, String(v)])).toString(),
      'application/x-www-form-urlencoded; charset=utf-8');
  }

  const oauthError = (req, res, error, description) =>
    oauthReply(req, res, { error, error_description: description, error_uri: 'https://docs.github.com' });

  async function readBody(req) {
    const chunks = [];
    let n = 0;
    for await (const c of req) {
      n += c.length;
      if (n > 1 << 20) throw new Error('body too large');
      chunks.push(c);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  function params(req, text, url) {
    const type = req.headers['content-type'] ?? '';
    if (type.includes('application/json')) {
      try { return JSON.parse(text || '{}'); } catch { return {}; }
    }
    const p = Object.fromEntries(new URLSearchParams(text));
    for (const [k, v] of url.searchParams) p[k] ??= v;
    return p;
  }

  function accessToken(req, res, p) {
    if (p.client_id !== clientId) return oauthError(req, res, 'incorrect_client_credentials', 'The client_id and/or client_secret passed are incorrect.');
    const grant = p.grant_type ?? 'authorization_code';
    if (grant === 'urn:ietf:params:oauth:grant-type:device_code') {
      const d = devices.get(p.device_code);
      if (!d) return oauthError(req, res, 'incorrect_device_code', 'The device_code provided is not valid.');
      if (d.expires <= Date.now()) return oauthError(req, res, 'expired_token', 'The device_code has expired.');
      if (d.denied) return oauthError(req, res, 'access_denied', 'The authorization request was denied.');
      if (!d.login) return oauthError(req, res, 'authorization_pending', 'The authorization request is still pending.');
      devices.delete(p.device_code);
      return oauthReply(req, res, issue(d.login, 'device_code'));
    }
    if (p.client_secret !== clientSecret) return oauthError(req, res, 'incorrect_client_credentials', 'The client_id and/or client_secret passed are incorrect.');
    if (grant === 'authorization_code') {
      const c = codes.get(p.code);
      if (!c) return oauthError(req, res, 'bad_verification_code', 'The code passed is incorrect or expired.');
      codes.delete(p.code);
      if (p.redirect_uri !== undefined && p.redirect_uri !== c.redirectUri)
        return oauthError(req, res, 'redirect_uri_mismatch', 'The redirect_uri MUST match the registered callback URL for this application.');
      return oauthReply(req, res, issue(c.login, 'authorization_code'));
    }
    if (grant === 'refresh_token') {
      const login = refresh.get(p.refresh_token);
      if (!login) return oauthError(req, res, 'bad_refresh_token', 'The refresh token passed is incorrect or expired.');
      refresh.delete(p.refresh_token); // rotating
      return oauthReply(req, res, issue(login, 'refresh_token'));
    }
    return oauthError(req, res, 'unsupported_grant_type', `grant_type ${grant} is not supported`);
  }

  function authorizePage(res, url) {
    const q = url.searchParams;
    if (q.get('client_id') !== clientId) return send(res, 404, '<p>Not Found: no such application</p>', 'text/html');
    const redirect = q.get('redirect_uri') ?? '';
    if (!/^https?:\/\/[^/]+\/.*callback/.test(redirect)) return send(res, 400, '<p>The redirect_uri is not valid</p>', 'text/html');
    const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    const who = nextApprover ?? users[0]?.login ?? '';
    const hidden = ['client_id', 'redirect_uri', 'state', 'scope']
      .map((k) => `<input type="hidden" name="${k}" value="${esc(q.get(k) ?? '')}">`).join('');
    send(res, 200, `<!doctype html><html><head><title>Authorize application</title></head><body>
<h1>Authorize taskbox</h1><p>Signed in as <b id="login">${esc(who)}</b></p>
<form method="post" action="/login/oauth/authorize">${hidden}<button type="submit" name="authorize" value="1">Authorize</button></form>
</body></html>`, 'text/html; charset=utf-8');
  }

  function authorizeApprove(res, p) {
    if (p.client_id !== clientId) return send(res, 404, 'no such application', 'text/plain');
    const login = nextApprover ?? users[0]?.login;
    nextApprover = null;
    const code = rand('', 10);
    codes.set(code, { login, redirectUri: p.redirect_uri, clientId });
    const to = new URL(p.redirect_uri);
    to.searchParams.set('code', code);
    if (p.state) to.searchParams.set('state', p.state);
    res.writeHead(302, { Location: to.toString() });
    res.end();
  }

  async function restApi(req, res, path, text) {
    const caller = apiCaller(req.headers.authorization);
    if (!caller) return send(res, 401, BAD_CREDENTIALS);
    let m = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/.exec(path);
    if (m) {
      const key = `${m[1]}/${m[2]}#${m[3]}`;
      if (!comments.has(key)) comments.set(key, []);
      const list = comments.get(key);
      if (req.method === 'GET') return send(res, 200, list.map((c) => commentJson(c, m[1], m[2])));
      if (req.method === 'POST') {
        let body;
        try { body = JSON.parse(text).body; } catch { /* checked below */ }
        if (typeof body !== 'string') return send(res, 422, { message: 'Invalid request. "body" wasn\'t supplied.' });
        const c = { id: nextComment++, body, user: { login: caller.login, id: caller.id }, issue: key };
        list.push(c);
        return send(res, 201, commentJson(c, m[1], m[2]));
      }
    }
    m = /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/.exec(path);
    if (m && req.method === 'PATCH') {
      let body;
      try { body = JSON.parse(text).body; } catch { /* checked below */ }
      const c = [...comments.values()].flat().find((x) => x.id === Number(m[3]));
      if (!c) return send(res, 404, { message: 'Not Found' });
      if (typeof body !== 'string') return send(res, 422, { message: 'Invalid request.' });
      c.body = body;
      return send(res, 200, commentJson(c, m[1], m[2]));
    }
    return send(res, 404, { message: 'Not Found' });
  }

  function commentJson(c, owner, repo) {
    return {
      id: c.id, node_id: `IC_${c.id}`, body: c.body, user: c.user,
      html_url: `https://github.example.invalid/${owner}/${repo}/issues/${c.issue.split('#')[1]}#issuecomment-${c.id}`,
      created_at: new Date().toISOString(), updated_at: new Date().toISOString(),
    };
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://fake');
    let path = url.pathname;
    requests.push({ method: req.method, path, auth: req.headers.authorization ?? null });
    let text = '';
    try { text = await readBody(req); } catch { return send(res, 413, { message: 'too large' }); }
    try {
      if (path === '/login/oauth/authorize' && req.method === 'GET') return authorizePage(res, url);
      if (path === '/login/oauth/authorize' && req.method === 'POST') return authorizeApprove(res, params(req, text, url));
      if (path === '/login/oauth/access_token' && req.method === 'POST') return accessToken(req, res, params(req, text, url));
      if (path === '/login/device/code' && req.method === 'POST') {
        const p = params(req, text, url);
        if (p.client_id !== clientId) return oauthError(req, res, 'incorrect_client_credentials', 'The client_id is not valid.');
        const deviceCode = rand('', 20);
        const userCode = `${rand('', 2).toUpperCase()}-${rand('', 2).toUpperCase()}`;
        devices.set(deviceCode, { userCode, login: null, denied: false, expires: Date.now() + 900000 });
        return oauthReply(req, res, { device_code: deviceCode, user_code: userCode, verification_uri: `${base}/login/device`, expires_in: 900, interval });
      }
      if (path === '/login/device' && req.method === 'GET')
        return send(res, 200, '<!doctype html><title>Device activation</title><p>Enter the code shown by your device.</p>', 'text/html');
      if (path.startsWith('/api/v3/')) path = path.slice('/api/v3'.length);
      if (path === '/user' && req.method === 'GET') {
        const u = tokenUser(req.headers.authorization);
        return u ? send(res, 200, userJson(u)) : send(res, 401, BAD_CREDENTIALS);
      }
      if (path.startsWith('/repos/')) return restApi(req, res, path, text);
      return send(res, 404, { message: 'Not Found' });
    } catch (e) {
      return send(res, 500, { message: String(e) });
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;

  return {
    url: base,
    apiUrl: base,
    comments,
    requests,
    issued,
    // the account that approves the device code user_code (pending until then)
    approveDevice(userCode, login) {
      if (!byLogin.has(login)) throw new Error(`fake GitHub: no user ${login}`);
      for (const d of devices.values()) if (d.userCode === userCode) { d.login = login; return true; }
      throw new Error(`fake GitHub: no device code ${userCode}`);
    },
    // deny the device code user_code (access_denied)
    denyDevice(userCode) {
      for (const d of devices.values()) if (d.userCode === userCode) { d.denied = true; return true; }
      throw new Error(`fake GitHub: no device code ${userCode}`);
    },
    // who approves the next browser authorization
    authorizeAs(login) {
      if (!byLogin.has(login)) throw new Error(`fake GitHub: no user ${login}`);
      nextApprover = login;
    },
    // revoke an access token (GET /user answers 401 for it)
    revoke(token) {
      const e = access.get(token);
      if (!e) throw new Error('fake GitHub: unknown token');
      e.revoked = true;
    },
    // forget a refresh token (the next refresh gets bad_refresh_token)
    revokeRefresh(token) { refresh.delete(token); },
    // the newest token issued to login, or null
    latest(login) { return [...issued].reverse().find((t) => t.login === login) ?? null; },
    close() { server.closeAllConnections?.(); return new Promise((resolve) => server.close(resolve)); },
  };
}
