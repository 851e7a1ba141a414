// api.js: the server's REST API and event streams, as the app uses them.
//
// Requests ride on the browser session cookie (HttpOnly: the app never
// sees it); every write carries the session's CSRF token (X-Taskbox-CSRF),
// which the app learns from GET /api/v2/users/me/session. Errors come back
// as ApiError with the problem+json fields, so a page shows the server's
// own message. A 401 sends the browser to /login (the session expired or
// was revoked), unless the caller asked to handle it.

let csrfToken = null;
let onUnauthorized = () => {};

export function setCsrf(token) {
  csrfToken = token || null;
}

// Called on a 401 from any request not made with {quiet401: true}.
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body?.detail || body?.title || `HTTP ${status}`;
    super(detail);
    this.status = status;
    this.title = body?.title || '';
    this.detail = detail;
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
  }
}

// One API call: the parsed JSON body (null for 204), or an ApiError.
// body: an object (sent as JSON), a string (sent as is, with opts.type
// as its Content-Type) or undefined.
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    if (typeof body === 'string' || body instanceof Blob) {
      headers['Content-Type'] = opts.type || 'text/plain';
      init.body = body;
    } else {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-Taskbox-CSRF'] = csrfToken;
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { detail: `the server cannot be reached (${e.message})` });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 200) };
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && !opts.quiet401) onUnauthorized(err);
    throw err;
  }
  return res.status === 204 ? null : data;
}

// A path segment, encoded ("a b" -> "a%20b").
export const seg = (s) => encodeURIComponent(String(s));

// The API path of a task: /api/v2/tasks/OWNER/ID[/rest].
export function taskPath(task, rest = '') {
  const owner = task.owner_name || task.owner_id;
  return `/api/v2/tasks/${seg(owner)}/${seg(task.id)}${rest ? `/${rest}` : ''}`;
}

// An EventSource that comes back: handlers is {eventName: fn(data)},
// plus open() on every (re)connect, so the caller can reload what it may
// have missed. Returns {close()}. The browser retries a dropped stream by
// itself; a refused one (401, 429, 5xx) is retried here with backoff.
export function events(path, handlers) {
  let es = null;
  let closed = false;
  let delay = 1000;
  let timer = null;
  const connect = () => {
    es = new EventSource(path, { withCredentials: true });
    es.onopen = () => {
      delay = 1000;
      handlers.open?.();
    };
    es.onerror = () => {
      if (closed || es.readyState !== EventSource.CLOSED) return;
      handlers.error?.();
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
    for (const [name, fn] of Object.entries(handlers)) {
      if (name === 'open' || name === 'error') continue;
      es.addEventListener(name, (ev) => {
        let data;
        try {
          data = JSON.parse(ev.data);
        } catch {
          return;
        }
        fn(data);
      });
    }
  };
  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      es?.close();
    },
  };
}
