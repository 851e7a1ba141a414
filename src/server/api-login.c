/*
 * api-login.c: signing in and out, the browser session, passwords.
 *
 * POST /api/v2/users/login trades {username, password} or {token} for a
 * site session (auth.c: path "/", the taskbox_session cookie) and its
 * csrf_token; logout ends it; GET /api/v2/users/me/session describes it.
 * PUT /api/v2/users/{user}/password sets a password and ends the user's
 * other sessions.
 *
 * Data model: a password sign-in is a struct login that lives from the
 * request to its reply. Its attempt is counted first against the
 * username and the client's address (throttle.c; past the bound: 429 at
 * once), then its check runs on the password worker (password.c, the
 * reply deferred) against the user's hash, or a dummy one for an unknown
 * user or one without a password (the same work, the same 401). A wrong
 * password's reply waits on a loop timer (login_timer) as long as the
 * throttle says. A password change is a struct pw_change for the time
 * its hash is made.
 */
#include "common.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <sodium.h>

#include "core/ev.h"
#include "core/log.h"
#include "core/text.h"
#include "http/http.h"
#include "server.h"
#include "server/api-errors.h"
#include "server/password.h"
#include "server/throttle.h"
#include "store/store-rows.h"

#define LOGIN_BODY_LIMIT   16384 /* a 1024-byte password, escaped */
#define LOGIN_THROTTLE_CAP 4096
#define LOGIN_WRONG	   "wrong username or password"
/* PUT /api/v2/users/... also carries secrets (api-secrets.c's limit) */
#define LOGIN_PUT_LIMIT (512u * 1024)

struct login {
	struct http_req *req;
	char *user_id;	/* NULL: no such user */
	char *username; /* as given */
	char addr[64];	/* the client's throttle key */
	unsigned n;	/* the attempt's number in the window */
	bool secure;	/* the cookie gets Secure */
	bool suspended; /* the user is suspended */
	struct ev_timer timer;
};

static struct throttle *login_by_user, *login_by_addr;

/* The throttle key of the request's client: its IPv4 address or its
 * IPv6 /64, into out[64]. */
static void
login_client_key(struct http_req *req, char out[64])
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		http_req_conn(req), MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	snprintf(out, 64, "local");
	if (sa != NULL && sa->sa_family == AF_INET) {
		inet_ntop(AF_INET,
			  &((const struct sockaddr_in *)(const void *)sa)
				   ->sin_addr,
			  out, 64);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		struct in6_addr a =
			((const struct sockaddr_in6 *)(const void *)sa)
				->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(&a)) {
			inet_ntop(AF_INET, a.s6_addr + 12, out, 64);
			return;
		}
		memset(a.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &a, out, 64);
	}
}

/* Did the request come over https (a proxy in front says so)? */
static bool
login_secure(struct http_req *req)
{
	const char *p = http_req_header(req, "X-Forwarded-Proto");

	return (p != NULL && strcasecmp(p, "https") == 0) ||
	       str_starts_with(srv->url, "https://");
}

/* Reply 200 with a new site session for user (a store row with id;
 * token_id when it came from a token): the cookie and the body. */
static void
login_reply_session(struct http_req *req, const json_t *user, bool secure)
{
	int64_t expires, now = (int64_t)wall_ms();
	char *session, *cookie;
	char csrf[65], stamp[32];
	json_t *row;

	session = auth_site_session_create(user, &expires);
	if (session == NULL) {
		http_reply_problem(req, 500, "cannot start a session");
		return;
	}
	auth_csrf_token(session, csrf);
	cookie = xasprintf("taskbox_session=%s; Path=/; HttpOnly; "
			   "SameSite=Strict; Max-Age=%lld%s",
			   session, (long long)((expires - now + 999) / 1000),
			   secure ? "; Secure" : "");
	row = store_user_get(srv->store,
			     json_string_value(json_object_get(user, "id")));
	time_rfc3339((uint64_t)expires, stamp);
	http_reply_header(req, "Set-Cookie", cookie);
	http_reply_header(req, "Cache-Control", "no-store");
	http_reply_json(req, 200,
			json_pack("{s:o, s:s, s:s}", "user",
				  row ? api_user_json(row) : json_object(),
				  "csrf_token", csrf, "expires_at", stamp));
	json_decref(row);
	sodium_memzero(session, strlen(session));
	sodium_memzero(cookie, strlen(cookie));
	sodium_memzero(csrf, sizeof csrf);
	free(session);
	free(cookie);
}

/* Free l. */
static void
login_free(struct login *l)
{
	ev_timer_stop(srv->loop, &l->timer);
	free(l->user_id);
	free(l->username);
	free(l);
}

/* A wrong password's delay is over: answer 401. */
static void
login_timer(void *data)
{
	struct login *l = data;

	http_reply_problem(l->req, 401, LOGIN_WRONG);
	login_free(l);
}

/* The worker checked the password of l (data): answer, or wait first. */
static void
login_checked(int r, char *hash UNUSED, void *data)
{
	struct login *l = data;
	uint64_t delay;
	json_t *user;

	if (r == 0 && l->user_id != NULL) {
		/* the right password: the attempt did not fail */
		throttle_success(login_by_user, l->username, true);
		throttle_success(login_by_addr, l->addr, false);
		if (l->suspended) {
			http_reply_problem(l->req, 403,
					   "the account is suspended");
		} else {
			user = json_pack("{s:s}", "id", l->user_id);
			login_reply_session(l->req, user, l->secure);
			json_decref(user);
			log_info("user %s signed in with a password",
				 l->username);
		}
		login_free(l);
		return;
	}
	if (r != 0 && r != -EACCES) {
		http_reply_problem(l->req, 503,
				   "cannot check the password now: try "
				   "again");
		login_free(l);
		return;
	}
	delay = throttle_delay_ms(l->n);
	if (delay == 0) {
		login_timer(l);
		return;
	}
	ev_timer_start(srv->loop, &l->timer, now_ms() + delay);
}

/* 429 with Retry-After (retry_ms from now). */
static void
login_refuse(struct http_req *req, uint64_t retry_ms, const char *whose)
{
	char after[24];

	snprintf(after, sizeof after, "%llu",
		 (unsigned long long)((retry_ms + 999) / 1000));
	http_reply_header(req, "Retry-After", after);
	http_reply_problem(req, 429,
			   "too many failed sign-ins %s: try again in %s "
			   "seconds",
			   whose, after);
}

/* POST /api/v2/users/login {token}. */
static void
login_token(struct http_req *req, const char *token)
{
	const char *why = NULL;
	char *copy = xstrdup(token);
	json_t *user;

	user = auth_token_lookup(str_trim(copy), &why);
	sodium_memzero(copy, strlen(copy));
	free(copy);
	if (user == NULL) {
		http_reply_problem(req, 401, "%s", why);
		return;
	}
	login_reply_session(req, user, login_secure(req));
	json_decref(user);
}

/* POST /api/v2/users/login {username, password} (the check deferred). */
static void
login_password(struct http_req *req, const char *username, const char *password)
{
	struct login *l;
	uint64_t retry_ms, now = now_ms();
	unsigned nu, na;
	json_t *row;
	const char *hash = NULL;
	int r;

	if (login_by_user == NULL) {
		login_by_user = throttle_new(LOGIN_THROTTLE_CAP);
		login_by_addr = throttle_new(LOGIN_THROTTLE_CAP);
	}
	l = xcalloc(1, sizeof *l);
	l->req = req;
	l->username = xstrdup(username);
	l->secure = login_secure(req);
	ev_timer_init(&l->timer, login_timer, l);
	login_client_key(req, l->addr);
	if ((na = throttle_attempt(login_by_addr, l->addr, now, &retry_ms)) ==
	    0) {
		login_refuse(req, retry_ms, "from this address");
		login_free(l);
		return;
	}
	if ((nu = throttle_attempt(login_by_user, username, now, &retry_ms)) ==
	    0) {
		throttle_success(login_by_addr, l->addr, false);
		login_refuse(req, retry_ms, "for this user");
		login_free(l);
		return;
	}
	l->n = MAX(na, nu);
	row = store_user_login(srv->store, username);
	if (row != NULL) {
		l->user_id =
			xstrdup(json_string_value(json_object_get(row, "id")));
		l->suspended =
			strcmp(json_string_value(json_object_get(row, "status"))
				       ?: "",
			       "suspended") == 0;
		hash = json_string_value(json_object_get(row, "password_hash"));
	}
	r = password_verify_async(srv->loop, hash, password, login_checked, l);
	json_decref(row);
	if (r < 0) {
		throttle_success(login_by_user, username, false);
		throttle_success(login_by_addr, l->addr, false);
		http_reply_header(req, "Retry-After", "1");
		http_reply_problem(req, 503,
				   "too many sign-ins at once: try again");
		login_free(l);
		return;
	}
	http_req_defer(req);
}

static void
api_login(struct http_req *req, void *data UNUSED)
{
	const char *origin = http_req_header(req, "Origin");
	const char *username, *password, *token;
	json_t *body;

	/* another site's form would sign the browser in as someone else */
	if (origin != NULL && !http_req_origin_allowed(req, origin)) {
		http_reply_problem(req, 403,
				   "signing in needs a same-origin Origin "
				   "header");
		return;
	}
	if ((body = http_req_json(req)) == NULL)
		return;
	username = json_string_value(json_object_get(body, "username"));
	password = json_string_value(json_object_get(body, "password"));
	token = json_string_value(json_object_get(body, "token"));
	if (token != NULL && username == NULL && password == NULL) {
		login_token(req, token);
	} else if (username == NULL || strlen(username) > 64) {
		http_reply_invalid(req, "body.username",
				   json_object_get(body, "username"),
				   "send {username, password} or {token}");
	} else if (password == NULL || strlen(password) > PASSWORD_MAX) {
		http_reply_invalid(req, "body.password", NULL,
				   "password must be a string of at most %d "
				   "bytes",
				   PASSWORD_MAX);
	} else {
		login_password(req, username, password);
	}
	/* the body held the password: wipe it */
	if (password != NULL)
		sodium_memzero((char *)password, strlen(password));
	if (token != NULL)
		sodium_memzero((char *)token, strlen(token));
	json_decref(body);
}

/* The cookie that ends the browser's session. */
static void
login_clear_cookie(struct http_req *req)
{
	http_reply_header(req, "Set-Cookie",
			  login_secure(req)
				  ? "taskbox_session=; Path=/; HttpOnly; "
				    "SameSite=Strict; Max-Age=0; Secure"
				  : "taskbox_session=; Path=/; HttpOnly; "
				    "SameSite=Strict; Max-Age=0");
}

static void
api_logout(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_user(req);
	const char *sid, *uid;

	if (user == NULL)
		return;
	sid = json_string_value(json_object_get(user, "session_id"));
	uid = json_string_value(json_object_get(user, "id"));
	if (sid != NULL) {
		store_session_delete(srv->store, sid, uid);
		auth_user_changed(uid);
	}
	login_clear_cookie(req);
	http_reply(req, 204, NULL, "", 0);
	json_decref(user);
}

static void
api_session(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_user(req), *row;
	const json_t *exp;
	char stamp[32];

	if (user == NULL)
		return;
	exp = json_object_get(user, "session_expires_at");
	if (json_object_get(user, "session_id") == NULL || exp == NULL) {
		http_reply_problem(req, 404,
				   "not signed in with a browser session");
		json_decref(user);
		return;
	}
	time_rfc3339((uint64_t)json_integer_value(exp), stamp);
	row = store_user_get(srv->store,
			     json_string_value(json_object_get(user, "id")));
	http_reply_json(
		req, 200,
		json_pack("{s:o, s:O, s:s, s:s}", "user",
			  row ? api_user_json(row) : json_object(),
			  "csrf_token", json_object_get(user, "csrf_token"),
			  "expires_at", stamp, "method",
			  json_is_string(json_object_get(user, "token_id"))
				  ? "token"
				  : "password"));
	json_decref(row);
	json_decref(user);
}

/* A password change waiting for its hash. */
struct pw_change {
	struct http_req *req;
	char *user_id;
	char *keep; /* the caller's session (kept), or NULL */
};

/* The hash of a new password is made: store it, end the other
 * sessions, answer 204. */
static void
pw_change_hashed(int r, char *hash, void *data)
{
	struct pw_change *c = data;

	if (r == 0)
		r = store_user_set_password(srv->store, c->user_id, hash);
	if (r == 0)
		r = store_user_end_sessions(srv->store, c->user_id, c->keep);
	auth_user_changed(c->user_id);
	if (r < 0)
		http_reply_problem(c->req, api_status_for_errno(r),
				   "cannot store the password");
	else
		http_reply(c->req, 204, NULL, "", 0);
	free(hash);
	free(c->user_id);
	free(c->keep);
	free(c);
}

/* The old password of a self-service change was checked. */
struct pw_check {
	struct pw_change *c;
	char *password;
};

/* The old password matched (or not): go on with the new one, or 403. */
static void
pw_old_checked(int r, char *hash UNUSED, void *data)
{
	struct pw_check *k = data;
	struct pw_change *c = k->c;

	if (r == 0)
		r = password_hash_async(srv->loop, k->password,
					pw_change_hashed, c);
	else if (r == -EACCES)
		http_reply_problem(c->req, 403, "old_password is wrong");
	else
		http_reply_problem(c->req, 503,
				   "cannot check the password now: try "
				   "again");
	if (r == -EAGAIN)
		http_reply_problem(c->req, 503,
				   "too many password changes at once: try "
				   "again");
	if (r != 0) {
		free(c->user_id);
		free(c->keep);
		free(c);
	}
	sodium_memzero(k->password, strlen(k->password));
	free(k->password);
	free(k);
}

/* PUT /api/v2/users/{user}/password {password, old_password?}: self
 * (old_password when one is set) or an admin for anyone. */
static void
api_password_put(struct http_req *req, json_t *user, const char *ref)
{
	json_t *target = NULL, *body = NULL, *cur = NULL;
	const char *why, *old, *uid, *hash;
	struct pw_change *c;
	bool self;
	int r;

	target = auth_lookup_user(user, ref);
	uid = json_string_value(json_object_get(target, "id"));
	if (target == NULL || !auth_may_act_for(user, uid)) {
		http_reply_problem(req, 404, "no user '%s'", ref);
		goto out;
	}
	if ((body = http_req_json(req)) == NULL)
		goto out;
	if ((why = password_check(json_string_value(
		     json_object_get(body, "password")))) != NULL) {
		http_reply_invalid(req, "body.password", NULL, "%s", why);
		goto out;
	}
	self = json_equal(json_object_get(user, "id"),
			  json_object_get(target, "id"));
	old = json_string_value(json_object_get(body, "old_password"));
	cur = store_user_password(srv->store, uid);
	hash = json_string_value(json_object_get(cur, "password_hash"));
	c = xcalloc(1, sizeof *c);
	c->req = req;
	c->user_id = xstrdup(uid);
	if (self && json_string_value(json_object_get(user, "session_id")))
		c->keep = xstrdup(
			json_string_value(json_object_get(user, "session_id")));
	if (self && hash != NULL && *hash != '\0' && !auth_is_admin(user)) {
		struct pw_check *k = xcalloc(1, sizeof *k);

		if (old == NULL) {
			http_reply_invalid(req, "body.old_password", NULL,
					   "old_password is needed to change "
					   "your password");
			free(k);
			free(c->user_id);
			free(c->keep);
			free(c);
			goto out;
		}
		k->c = c;
		k->password = xstrdup(
			json_string_value(json_object_get(body, "password")));
		r = password_verify_async(srv->loop, hash, old, pw_old_checked,
					  k);
		if (r < 0) {
			sodium_memzero(k->password, strlen(k->password));
			free(k->password);
			free(k);
		}
	} else {
		r = password_hash_async(
			srv->loop,
			json_string_value(json_object_get(body, "password")),
			pw_change_hashed, c);
	}
	if (r < 0) {
		free(c->user_id);
		free(c->keep);
		free(c);
		http_reply_header(req, "Retry-After", "1");
		http_reply_problem(req, 503,
				   "too many password changes at once: try "
				   "again");
		goto out;
	}
	http_req_defer(req);
out:
	if (body != NULL) {
		const char *p[] = {
			json_string_value(json_object_get(body, "password")),
			json_string_value(
				json_object_get(body, "old_password"))};

		for (size_t i = 0; i < ARRAY_SIZE(p); i++)
			if (p[i] != NULL)
				sodium_memzero((char *)p[i], strlen(p[i]));
	}
	json_decref(cur);
	json_decref(body);
	json_decref(target);
}

/* PUT below /api/v2/users/: .../password here, secrets handed on. */
static void
api_users_put(struct http_req *req, void *data UNUSED)
{
	const char *rest = http_req_path(req) + strlen("/api/v2/users/");
	const char *slash = strchr(rest, '/');
	json_t *user;
	char *ref;

	if (slash != NULL && strcmp(slash, "/budget") == 0) {
		api_usage_budget(req);
		return;
	}
	if (slash == NULL || strcmp(slash, "/password") != 0) {
		api_secrets_user(req, NULL);
		return;
	}
	if ((user = auth_user(req)) == NULL)
		return;
	ref = xstrndup(rest, (size_t)(slash - rest));
	api_password_put(req, user, ref);
	free(ref);
	json_decref(user);
}

void
api_login_register(struct http_server *http)
{
	http_server_route(http, "POST", "/api/v2/users/login", 0,
			  LOGIN_BODY_LIMIT, api_login, NULL);
	http_server_route(http, "POST", "/api/v2/users/logout", 0, 0,
			  api_logout, NULL);
	http_server_route(http, "GET", "/api/v2/users/me/session", 0, 0,
			  api_session, NULL);
	http_server_route(http, "PUT", "/api/v2/users/", HTTP_ROUTE_PREFIX,
			  LOGIN_PUT_LIMIT, api_users_put, NULL);
}
