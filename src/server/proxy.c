/*
 * proxy.c: /@{user}/{task}/apps/{slug}/... to the workspace.
 *
 * "chat" is the agent runtime: its AgentAPI endpoints (JSON and SSE, an
 * allowlist) are proxied under a CSP sandbox, so whatever a task puts
 * behind its socket never runs on the server's origin; the chat UI itself
 * (.../apps/chat/chat/...) comes from the server's own binary. Any other
 * slug is a template app the runtime forwards from a unix socket to its
 * port inside the sandbox, under a CSP sandbox too. A request is
 * authenticated like the API (a browser may arrive at the chat app with
 * ?access_token= and then gets a session cookie scoped to the task's
 * path, not the token, and a redirect that drops the token from the URL),
 * sent as HTTP/1.0 over the socket (whose peer must be the task's
 * runtime: the path is in a directory the task controls), and the
 * response streamed back as it comes (SSE included) with backpressure:
 * reading from the workspace pauses while more than 1 MiB waits for the
 * browser. A task another replica runs has its whole request forwarded
 * there (replica.c), the chat UI's files included.
 *
 * A template app's page has an opaque origin, so what it asks for itself
 * (its stylesheets, images, links, forms) is cross-site and carries no
 * SameSite=Strict cookie. So its URLs carry a capability instead:
 * /@user/task/apps/slug/~k/CAP/... (auth.c makes and checks CAP, bound to
 * the user, the task and the slug, good for PROXY_CAP_LIFETIME_S). A GET
 * of the app without one, authenticated the usual way, is answered 303 to
 * the same path with a fresh one (other methods are proxied as they
 * are, for API clients); a request with one needs nothing else, and any
 * failure of it is the same 404. The chat app never takes one.
 * Every proxied reply says Referrer-Policy: no-referrer, so the
 * capability never reaches a third party in a Referer, and a Location
 * inside the app keeps it.
 *
 * A response being streamed (proxy_live, the chat's SSE above all) keeps
 * what let it in: its user, the credential (its hash, or the
 * capability), the task's id, owner and creator. When a user's
 * credentials, role or status may have changed (auth.c:
 * proxy_streams_recheck) each of their streams is asked again and ends
 * if auth_may_access_task would not let it in now.
 */
#include "common.h"

#include <sodium.h>

#include "core/assets.h"
#include "core/log.h"
#include "core/text.h"
#include "http/client.h"
#include "http/http.h"
#include "server.h"
#include "server/replica.h"
#include "server/task-remote.h"

#define PROXY_BODY_LIMIT (16 * 1024 * 1024)
#define PROXY_QUEUE	 (4 * 1024 * 1024)
#define PROXY_HIGH_WATER (1024 * 1024)
/* what starts a capability in an app's path, and how long one is good */
#define PROXY_CAP_MARK	     "~k/"
#define PROXY_CAP_LIFETIME_S (12 * 3600)

struct proxy {
	struct http_req *req;
	struct task *task; /* valid only while starting (peer check) */
	struct http_sse *stream;
	struct hclient *client;
	char *prefix; /* /@user/task/apps/slug, then /~k/CAP when it had one */
	char *plain;  /* /@user/task/apps/slug */
	bool sandboxed; /* a template app: CSP sandbox on its pages */
	/* who it was let in for (proxy_streams_recheck) */
	char *user_id, *cap, *task_id, *owner_id, *created_by, *slug;
	char hash[65];	    /* the credential's, when not a capability */
	bool cookie;	    /* hash is a session's */
	struct proxy *next; /* in proxy_live */
};

/* Every proxy between its start and proxy_free. */
static struct proxy *proxy_live;

/* What the chat app proxies to the runtime: AgentAPI's endpoints. */
static const char *const proxy_chat_api[] = {
	"status",	   "messages",
	"message",	   "upload",
	"events",	   "internal/screen",
	"internal/resize", "internal/terminal",
	"openapi.json",
};

/* Content types a runtime may answer with; anything else is relabelled. */
static const char *const proxy_chat_types[] = {
	"application/json",
	"application/problem+json",
	"text/event-stream",
};

/* Request headers passed on to the workspace. */
static const char *const proxy_pass_request[] = {
	"Content-Type",	 "Accept",	  "Accept-Language",
	"Last-Event-ID", "If-None-Match", "If-Modified-Since",
	"User-Agent",	 "Range",
};

/* Response headers passed back to the browser. */
static const char *const proxy_pass_response[] = {
	"Content-Type",
	"Cache-Control",
	"ETag",
	"Last-Modified",
	"Content-Disposition",
	"Content-Range",
	"Accept-Ranges",
	"Expires",
	"Pragma",
	"X-Accel-Buffering",
};

static bool
proxy_peer(int fd, void *data)
{
	struct proxy *p = data;

	return task_peer_ok(fd, p->task);
}

static void
proxy_free(struct proxy *p)
{
	for (struct proxy **pp = &proxy_live; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	free(p->prefix);
	free(p->plain);
	free(p->user_id);
	free(p->cap);
	free(p->task_id);
	free(p->owner_id);
	free(p->created_by);
	free(p->slug);
	free(p);
}

void
proxy_streams_recheck(const char *user_id)
{
	struct proxy *p, *next;

	for (p = proxy_live; p != NULL; p = next) {
		json_t *who;

		next = p->next;
		/* the caller's rights changed, or the owner's (a creator's
		 * access depends on them) */
		if (p->stream == NULL ||
		    (user_id != NULL && strcmp(p->user_id, user_id) != 0 &&
		     strcmp(p->owner_id, user_id) != 0))
			continue;
		who = p->cap != NULL
			      ? auth_app_cap_user(p->cap, p->task_id, p->slug)
			      : auth_recheck(p->hash, p->cookie);
		if (who == NULL ||
		    !auth_may_access_task(who, p->owner_id, p->created_by)) {
			if (p->client != NULL)
				hclient_free(p->client);
			p->client = NULL;
			http_sse_end(p->stream); /* frees p */
		}
		json_decref(who);
	}
}

static void
proxy_stream_closed(struct http_sse *sse UNUSED, void *data)
{
	struct proxy *p = data;

	/* the browser went away or the response ended */
	if (p->client != NULL)
		hclient_free(p->client);
	proxy_free(p);
}

static void
proxy_stream_drained(struct http_sse *sse UNUSED, void *data)
{
	struct proxy *p = data;

	if (p->client != NULL)
		hclient_pause(p->client, false);
}

/* Whether a runtime's Content-Type is one of its API's. */
static bool
proxy_chat_type_ok(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(proxy_chat_types); i++) {
		size_t n = strlen(proxy_chat_types[i]);

		if (strncasecmp(type, proxy_chat_types[i], n) == 0 &&
		    (type[n] == '\0' || type[n] == ';'))
			return true;
	}
	return false;
}

/* Where the app's Location v leads (a new string): a path inside the app
 * stays inside the prefix, the capability included. */
static char *
proxy_location(const struct proxy *p, const char *v)
{
	size_t n = strlen(p->plain);

	if (v[0] != '/' || str_starts_with(v, p->prefix))
		return xstrdup(v);
	if (strncmp(v, p->plain, n) == 0 &&
	    (v[n] == '/' || v[n] == '?' || v[n] == '\0'))
		return xasprintf("%s%s", p->prefix, v + n);
	return xasprintf("%s%s", p->prefix, v);
}

static void
proxy_head(struct hclient *c UNUSED, int status, const struct hclient_header *h,
	   size_t n, void *data)
{
	struct proxy *p = data;
	const char **out = xcalloc(2 * (n + 4) + 1, sizeof *out);
	char *location = NULL;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < ARRAY_SIZE(proxy_pass_response); j++) {
			if (strcasecmp(h[i].name, proxy_pass_response[j]) != 0)
				continue;
			out[k++] = proxy_pass_response[j];
			out[k++] = h[i].value;
			if (!p->sandboxed &&
			    strcasecmp(h[i].name, "Content-Type") == 0 &&
			    !proxy_chat_type_ok(h[i].value))
				out[k - 1] = "application/octet-stream";
		}
		if (strcasecmp(h[i].name, "Location") == 0) {
			if (location != NULL)
				continue; /* the first one counts */
			location = proxy_location(p, h[i].value);
			out[k++] = "Location";
			out[k++] = location;
		}
	}
	if (p->sandboxed) {
		/* a template app shares the server's origin: give its pages
		 * an opaque one, so they cannot call the API or other tasks
		 * with the user's cookie */
		out[k++] = "Content-Security-Policy";
		out[k++] = "sandbox allow-scripts allow-forms allow-popups "
			   "allow-downloads allow-modals";
	} else {
		/* the runtime's API: data, never a page of the server's
		 * origin, whatever the task put behind the socket */
		out[k++] = "Content-Security-Policy";
		out[k++] = "sandbox; default-src 'none'";
	}
	/* the capability in the page's URL stays on this origin */
	out[k++] = "Referrer-Policy";
	out[k++] = "no-referrer";
	out[k] = NULL;
	p->stream = http_stream_start(p->req, (unsigned)status, out,
				      PROXY_QUEUE, proxy_stream_closed, p);
	http_stream_on_drain(p->stream, proxy_stream_drained);
	free(location);
	free(out);
}

static void
proxy_body(struct hclient *c, const char *buf, size_t len, void *data)
{
	struct proxy *p = data;

	if (http_stream_write(p->stream, buf, len) < 0) {
		/* the browser is gone or hopelessly behind */
		hclient_free(c);
		p->client = NULL;
		http_sse_end(p->stream);
		return;
	}
	if (http_stream_queued(p->stream) > PROXY_HIGH_WATER)
		hclient_pause(c, true);
}

static void
proxy_done(struct hclient *c UNUSED, int err, void *data)
{
	struct proxy *p = data;

	p->client = NULL;
	if (p->stream != NULL) {
		http_sse_end(p->stream); /* proxy_stream_closed frees p */
		return;
	}
	http_reply_problem(p->req, 502, "the workspace app did not answer: %s",
			   err < 0 ? strerror(-err) : "no response");
	proxy_free(p);
}

/* Collect the request headers to pass on (name, value, ..., NULL). */
static const char **
proxy_request_headers(struct http_req *req)
{
	const char **out =
		xcalloc(2 * ARRAY_SIZE(proxy_pass_request) + 1, sizeof *out);
	size_t k = 0;

	for (size_t i = 0; i < ARRAY_SIZE(proxy_pass_request); i++) {
		const char *v = http_req_header(req, proxy_pass_request[i]);

		if (v != NULL) {
			out[k++] = proxy_pass_request[i];
			out[k++] = v;
		}
	}
	out[k] = NULL;
	return out;
}

/* Whether r (a path under the chat app, no leading '/') is one of the
 * runtime's API endpoints. */
static bool
proxy_chat_api_ok(const char *r)
{
	for (size_t i = 0; i < ARRAY_SIZE(proxy_chat_api); i++)
		if (strcmp(r, proxy_chat_api[i]) == 0)
			return true;
	return false;
}

/* The chat page's Content-Security-Policy (computed once, kept for the
 * life of the process): scripts from this origin and the page's one inline
 * loader, allowed by its hash, so no other inline script can ever run on
 * the server's origin (the page is not sandboxed: it sends the user's
 * writes). A page without the loader gets 'self' only. */
static const char *
proxy_chat_csp(void)
{
	static char *csp;
	static const char open[] = "\n<script>", close[] = "</script>";
	const struct asset *a = asset_find("web/chat/index.html");
	const char *from = NULL, *to = NULL;
	char hash[80] = "";

	if (csp != NULL)
		return csp;
	if (a != NULL)
		from = memmem(a->data, a->len, open, strlen(open));
	if (from != NULL) {
		from += strlen(open);
		to = memmem(from,
			    a->len - (size_t)(from - (const char *)a->data),
			    close, strlen(close));
	}
	if (to != NULL) {
		unsigned char h[crypto_hash_sha256_BYTES];
		char b64[sodium_base64_ENCODED_LEN(
			crypto_hash_sha256_BYTES,
			sodium_base64_VARIANT_ORIGINAL)];

		crypto_hash_sha256(h, (const unsigned char *)from,
				   (unsigned long long)(to - from));
		sodium_bin2base64(b64, sizeof b64, h, sizeof h,
				  sodium_base64_VARIANT_ORIGINAL);
		snprintf(hash, sizeof hash, " 'sha256-%s'", b64);
	}
	csp = xasprintf("default-src 'self'; script-src 'self'%s; "
			"style-src 'self' 'unsafe-inline'; "
			"img-src 'self' data:; connect-src 'self'; "
			"frame-ancestors 'self'; base-uri 'none'; "
			"form-action 'self'; object-src 'none'",
			hash);
	return csp;
}

/* Serve the chat UI from the binary: r is "", "chat" or "chat/...",
 * query the request's query string without the token ("" or "?..."). */
static void
proxy_chat_ui(struct http_req *req, const char *user, const char *task,
	      const char *r, const char *query)
{
	const struct asset *a;

	if (*r == '\0' || strcmp(r, "chat") == 0) {
		/* the runtime's root and /chat go to the page */
		char *to = xasprintf("/@%s/%s/apps/chat/chat/embed%s", user,
				     task, query);

		http_reply_redirect(req, 307, to);
		free(to);
		return;
	}
	a = asset_chat(r + strlen("chat/"));
	if (a == NULL) {
		http_reply_problem(req, 404, "no such file: '/%s'", r);
		return;
	}
	/* the page talks to this origin only: a ?url= naming another API
	 * base cannot make it send what the user types elsewhere */
	web_reply_asset(req, a, proxy_chat_csp());
}

/* The task of a capability's path (owner, name and slug as the path has
 * them; borrowed) with the capability's user in *caller (new reference),
 * or NULL when cap is not good for it, whatever failed. */
static struct task *
proxy_cap_task(const char *owner, const char *name, const char *slug,
	       const char *cap, json_t **caller)
{
	char uid[37];
	json_t *row, *who = NULL;
	const char *owner_id;
	struct task *t = NULL;

	*caller = NULL;
	if (strcmp(slug, "chat") == 0 || !auth_app_cap_parse(cap, uid))
		return NULL;
	row = auth_lookup_user(NULL, strcmp(owner, "me") == 0 ? uid : owner);
	owner_id = json_string_value(json_object_get(row, "id"));
	if (owner_id != NULL)
		t = task_find_named(owner_id, name);
	if (t != NULL)
		who = auth_app_cap_user(cap, task_id(t), slug);
	if (who != NULL &&
	    auth_may_access_task(who, owner_id, task_created_by(t))) {
		*caller = who;
	} else {
		json_decref(who);
		t = NULL;
	}
	json_decref(row);
	return t;
}

/* An app's path taken apart: pieces of copy (the path after "/@"), NULL
 * when missing; cap is NULL when the path has no capability. */
struct proxy_path {
	char *copy;
	char *user, *task, *apps, *slug;
	char *cap;
	char *rest;  /* after the app's prefix and its capability */
	bool shaped; /* /@USER/TASK/apps/SLUG[/...] */
};

/* Take path (under "/@") apart into pp; proxy_path_release frees it. */
static void
proxy_path_parse(struct proxy_path *pp, const char *path)
{
	char *save = NULL;

	memset(pp, 0, sizeof *pp);
	pp->copy = xstrdup(path + 2);
	pp->user = strtok_r(pp->copy, "/", &save);
	pp->task = strtok_r(NULL, "/", &save);
	pp->apps = strtok_r(NULL, "/", &save);
	pp->slug = strtok_r(NULL, "/", &save);
	pp->shaped = pp->user != NULL && pp->task != NULL && pp->apps != NULL &&
		     pp->slug != NULL && strcmp(pp->apps, "apps") == 0;
	pp->rest = save != NULL ? save : pp->copy + strlen(pp->copy);
	if (pp->shaped && str_starts_with(pp->rest, PROXY_CAP_MARK)) {
		pp->cap = pp->rest + strlen(PROXY_CAP_MARK);
		pp->rest = pp->cap + strcspn(pp->cap, "/");
		if (*pp->rest == '/')
			*pp->rest++ = '\0';
	}
}

static void
proxy_path_release(struct proxy_path *pp)
{
	free(pp->copy);
}

/* The task of pp's capability with its user in *caller (new reference),
 * or NULL after answering 404, whatever failed. */
static struct task *
proxy_cap_check(struct http_req *req, const struct proxy_path *pp,
		json_t **caller)
{
	struct task *t =
		proxy_cap_task(pp->user, pp->task, pp->slug, pp->cap, caller);

	if (t == NULL)
		http_reply_problem(req, 404,
				   "no such app link (expired, or not for "
				   "this app): open the app from its task "
				   "again");
	return t;
}

bool
proxy_cap_guard(struct http_req *req, bool *ok)
{
	struct proxy_path pp;
	json_t *caller = NULL;
	bool is;

	if (!str_starts_with(http_req_path(req), "/@"))
		return false;
	proxy_path_parse(&pp, http_req_path(req));
	is = pp.cap != NULL;
	if (is)
		*ok = proxy_cap_check(req, &pp, &caller) != NULL;
	json_decref(caller);
	proxy_path_release(&pp);
	return is;
}

/* Answer a GET of template app slug of task t (owner and name as the path
 * has them) by caller, who has no capability: 303 to the same path (rest
 * after the app's prefix) with a fresh one, the query kept but for
 * access_token. */
static void
proxy_cap_redirect(struct http_req *req, const json_t *caller, struct task *t,
		   const char *owner, const char *name, const char *slug,
		   const char *rest)
{
	char *cap = auth_app_cap_new(
		json_string_value(json_object_get(caller, "id")), task_id(t),
		slug, PROXY_CAP_LIFETIME_S);
	char *path, *escaped, *query, *to;

	if (cap == NULL) {
		http_reply_problem(req, 500, "cannot make a link to the app");
		return;
	}
	path = xasprintf("/@%s/%s/apps/%s/" PROXY_CAP_MARK "%s/%s", owner, name,
			 slug, cap, rest);
	escaped = str_escape_path(path);
	query = http_req_query_string(req, "access_token");
	to = xasprintf("%s%s", escaped, query);
	http_reply_header(req, "Cache-Control", "no-store");
	http_reply_header(req, "Referrer-Policy", "no-referrer");
	http_reply_redirect(req, 303, to);
	free(to);
	free(query);
	free(escaped);
	free(path);
	free(cap);
}

static void
proxy_handle(struct http_req *req, void *data UNUSED)
{
	static const struct hclient_cb cbs = {
		.head = proxy_head,
		.body = proxy_body,
		.done = proxy_done,
		.peer = proxy_peer,
	};
	const char *path = http_req_path(req);
	struct proxy_path pp;
	char *user, *task, *slug, *rest, *cap;
	char *sock = NULL, *upstream = NULL, *query = NULL, *cause = NULL;
	const char **hdrs = NULL;
	const char *body;
	size_t len;
	json_t *caller = NULL;
	struct task *t = NULL;
	struct proxy *p;
	const char *ui = NULL; /* a path of the chat UI */
	const char *method = http_req_method(req);

	proxy_path_parse(&pp, path);
	user = pp.user;
	task = pp.task;
	slug = pp.slug;
	rest = pp.rest;
	cap = pp.cap;
	if (cap != NULL) {
		/* a template app's own request: the capability is its
		 * credential, never a cookie or a token */
		if ((t = proxy_cap_check(req, &pp, &caller)) == NULL)
			goto out;
	} else if ((caller = auth_user(req)) == NULL) {
		goto out;
	} else if (!pp.shaped) {
		http_reply_problem(req, 404,
				   "app URLs look like "
				   "/@USER/TASK/apps/SLUG/...");
		goto out;
	}
	for (const char *c = rest; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			http_reply_problem(req, 400,
					   "control characters in the path");
			goto out;
		}
	}
	if (cap == NULL) {
		json_t *owner = auth_lookup_user(caller, user);

		if (owner != NULL)
			t = task_find_named(
				json_string_value(json_object_get(owner, "id")),
				task);
		if (t != NULL && !auth_may_access_task(caller, task_owner_id(t),
						       task_created_by(t)))
			t = NULL;
		json_decref(owner);
	}
	if (t == NULL) {
		http_reply_problem(req, 404, "no task '%s/%s'", user, task);
		goto out;
	}
	if (task_replica(t) != NULL) {
		/* another replica runs the workspace (replica.c) */
		replica_forward(req, t);
		goto out;
	}
	if (strcmp(slug, "chat") == 0) {
		const char *s = task_runtime_socket(t);
		const char *r = rest + strspn(rest, "/");

		/* reports and hooks come from the agent inside, never
		 * through the proxy */
		if (str_starts_with(r, "internal/report") ||
		    str_starts_with(r, "internal/hook")) {
			http_reply_problem(req, 403,
					   "'/%s' is only for the agent inside "
					   "the workspace",
					   r);
			goto out;
		}
		if (*r == '\0' || strcmp(r, "chat") == 0 ||
		    str_starts_with(r, "chat/")) {
			ui = r;
		} else if (!proxy_chat_api_ok(r)) {
			http_reply_problem(req, 404,
					   "the chat app serves AgentAPI's "
					   "endpoints and the chat UI only, "
					   "not '/%s'",
					   r);
			goto out;
		}
		sock = s ? xstrdup(s) : NULL;
		upstream = xasprintf("/%s", rest);
	} else {
		const char *base = task_app_base_path(t, slug);
		/* the path arrived decoded: escaped again, so a %3F or %23
		 * in it is not a query or a fragment to the app */
		char *escaped = str_escape_path(rest);

		sock = task_app_socket(t, slug);
		upstream = xasprintf("%s%s%s", base,
				     base[strlen(base) - 1] == '/' ? "" : "/",
				     escaped);
		free(escaped);
	}
	if (sock == NULL && ui == NULL) {
		if (strcmp(task_status(t), "active") == 0)
			http_reply_problem(req, 404, "the task has no app '%s'",
					   slug);
		else
			http_reply_problem(req, 503,
					   "the task is not running (%s): its "
					   "apps are unavailable",
					   task_status(t));
		goto out;
	}
	if (cap == NULL && strcmp(slug, "chat") != 0 &&
	    (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)) {
		/* a template app's page: its URLs carry a capability */
		proxy_cap_redirect(req, caller, t, user, task, slug, rest);
		goto out;
	}
	if (cap == NULL && http_req_query(req, "access_token") != NULL &&
	    strcmp(method, "GET") == 0 &&
	    http_req_header(req, "Authorization") == NULL &&
	    http_req_header(req, "Coder-Session-Token") == NULL) {
		/* a browser arrived with the token in the URL (auth_user took
		 * it from there): trade it for a session cookie scoped to
		 * this task (never the token itself, auth.c) and drop it from
		 * the address bar before any page of the workspace can read
		 * it; a capability's request was not authenticated by it
		 * and is never traded */
		char *scope = xasprintf("/@%s/%s/", user, task);
		int64_t max_age = 0;
		char *session = auth_session_create(caller, scope, &max_age);
		char *cookie, *clean, *to;

		if (session == NULL) {
			http_reply_problem(req, 500,
					   "cannot start a browser session");
			free(scope);
			goto out;
		}
		cookie = xasprintf("taskbox_session=%s; Path=%s; HttpOnly; "
				   "SameSite=Strict; Max-Age=%lld",
				   session, scope, (long long)max_age);
		clean = http_req_query_string(req, "access_token");
		to = xasprintf("%s%s", path, clean);
		http_reply_header(req, "Set-Cookie", cookie);
		http_reply_header(req, "Cache-Control", "no-store");
		http_reply_redirect(req, 303, to);
		explicit_bzero(session, strlen(session));
		explicit_bzero(cookie, strlen(cookie));
		free(session);
		free(to);
		free(clean);
		free(cookie);
		free(scope);
		goto out;
	}
	query = http_req_query_string(req, "access_token");
	if (ui != NULL) {
		proxy_chat_ui(req, user, task, ui, query);
		goto out;
	}
	{
		char *full = xasprintf("%s%s", upstream, query);

		free(upstream);
		upstream = full;
	}
	p = xcalloc(1, sizeof *p);
	p->req = req;
	p->task = t;
	p->plain = xasprintf("/@%s/%s/apps/%s", user, task, slug);
	p->prefix = cap ? xasprintf("%s/" PROXY_CAP_MARK "%s", p->plain, cap)
			: xstrdup(p->plain);
	p->sandboxed = strcmp(slug, "chat") != 0;
	p->user_id =
		xstrdup(json_string_value(json_object_get(caller, "id")) ?: "");
	p->cap = cap ? xstrdup(cap) : NULL;
	p->task_id = xstrdup(task_id(t));
	p->owner_id = xstrdup(task_owner_id(t));
	p->created_by = xstrdup(task_created_by(t));
	p->slug = xstrdup(slug);
	snprintf(p->hash, sizeof p->hash, "%s",
		 json_string_value(json_object_get(caller, "auth_hash")) ?: "");
	p->cookie = json_object_get(caller, "session_id") != NULL;
	p->next = proxy_live;
	proxy_live = p;
	hdrs = proxy_request_headers(req);
	body = http_req_body(req, &len);
	p->client = hclient_start(srv->loop, sock, method, upstream, hdrs,
				  len ? body : NULL, len, &cbs, p, &cause);
	if (p->client == NULL) {
		log_debug("proxy: %s", cause);
		http_reply_problem(req, 502,
				   "the workspace app is not "
				   "reachable yet");
		proxy_free(p);
		goto out;
	}
	http_req_defer(req);
out:
	free(hdrs);
	free(cause);
	free(query);
	free(upstream);
	free(sock);
	proxy_path_release(&pp);
	json_decref(caller);
}

void
proxy_register(struct http_server *http)
{
	static const char *const methods[] = {"GET", "POST", "PUT", "PATCH",
					      "DELETE"};

	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		http_server_route(http, methods[i], "/@", HTTP_ROUTE_PREFIX,
				  PROXY_BODY_LIMIT, proxy_handle, NULL);
}
