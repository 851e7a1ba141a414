/*
 * auth.c: who is calling.
 *
 * A token is "tbx_" + 64 hex digits of randomness; the database keeps only
 * its SHA-256 (tokens carry 256 bits of entropy, so a slow password hash
 * adds nothing), looked up through a unique index, with an optional
 * expiry (expires_at, null: never). Accepted from Authorization: Bearer,
 * Coder-Session-Token, and ?access_token= on GET (EventSource cannot set
 * headers).
 *
 * A browser never holds the token in a cookie: an app URL opened with
 * ?access_token= trades it for a session (proxy.c), "tbs_" + 64 hex
 * digits, stored hashed with its user, the token it came from, the path
 * it is good for (/@user/task/) and an expiry (24 h, never past the
 * token's). The taskbox_session cookie carries that id; it answers only
 * under its path, dies with its token (ON DELETE CASCADE, and the
 * token's expiry is checked with it) and is listed and revoked like
 * tokens. A user keeps at most AUTH_SESSIONS_MAX sessions (the oldest
 * go first).
 *
 * Signing in (api-login.c) makes a site session: path "/", from a
 * password (no token; srv->session_lifetime_ms) or from a token (tied to
 * it, never outliving it). A cookie-authenticated write needs a
 * same-origin Origin, and with a site session also X-Taskbox-CSRF: the
 * HMAC-SHA256 of "taskbox csrf" keyed with the cookie's secret, which
 * only the holder of the cookie can compute and nothing stores. A
 * suspended user's tokens and sessions are refused.
 *
 * The cache: every request is authenticated, and with PostgreSQL each
 * store read is a network round trip on the one event loop, so the rows
 * of auth_user (by token hash, by session hash) and auth_lookup_user (by
 * the reference as given: an id or a username) are kept in memory: per
 * kind AUTH_CACHE_SLOTS direct-mapped slots (the key's hash picks the
 * slot; a newcomer evicts its occupant), each holding its key, the
 * user's id, a copy of the row and when it was read. A hit is younger
 * than AUTH_CACHE_AGE_MS (a safety net for writes made outside the
 * server) and expiries are checked on every hit as on a read. Misses are
 * not cached. Every write to a user, their tokens or their sessions
 * calls auth_user_changed, which drops that user's entries here and
 * tells the other replicas (replica.c), which drop theirs; a replica
 * that lost its cluster connection drops everything.
 *
 * An app capability (server.h has its layout) is checked without the
 * store but for its user's row: the MAC binds user, task, slug and
 * expiry, under a key derived from the secrets key (secrets.c), so any
 * replica with the same key accepts it and nothing needs to be stored
 * or revoked: it dies with its expiry, its user's suspension or
 * deletion, or the task's.
 */
#include "common.h"

#include <sodium.h>

#include "core/text.h"
#include "http/http.h"
#include "server.h"
#include "server/replica.h"
#include "server/secrets.h"
#include "server/task-events.h"
#include "store/store-rows.h"

#define AUTH_TOKEN_PREFIX   "tbx_"
#define AUTH_SESSION_PREFIX "tbs_"
#define AUTH_SESSION_MS	    (24 * 3600 * 1000LL)
#define AUTH_CSRF_HEADER    "X-Taskbox-CSRF"
#define AUTH_SESSIONS_MAX   100
#define AUTH_CACHE_SLOTS    4096
#define AUTH_CACHE_AGE_MS   5000
#define AUTH_TOUCH_GAP_MS   60000
#define AUTH_CAP_KEY_LABEL  "taskbox app capability key v1"
#define AUTH_CAP_MAC_BYTES  crypto_auth_hmacsha256_BYTES
#define AUTH_CAP_BYTES	    (8 + 16 + AUTH_CAP_MAC_BYTES)
#define AUTH_CAP_B64	    sodium_base64_VARIANT_URLSAFE_NO_PADDING

enum auth_cache_kind {
	AUTH_CACHE_TOKEN,
	AUTH_CACHE_SESSION,
	AUTH_CACHE_USER,
	AUTH_CACHE_KINDS,
};

struct auth_cache_entry {
	char *key;	  /* the hash or the user ref; NULL: empty */
	char *user_id;	  /* whose row */
	json_t *row;	  /* the store's row (a private copy) */
	uint64_t read_at; /* now_ms() of the store read */
	int64_t touched;  /* wall_ms() the token's use was last noted */
};

static struct auth_cache_entry auth_cache[AUTH_CACHE_KINDS][AUTH_CACHE_SLOTS];

/* The slot of key in its kind's table (FNV-1a). */
static struct auth_cache_entry *
auth_cache_slot(enum auth_cache_kind kind, const char *key)
{
	uint32_t h = 2166136261u;

	for (const char *p = key; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &auth_cache[kind][h % AUTH_CACHE_SLOTS];
}

/* Empty entry e. */
static void
auth_cache_clear(struct auth_cache_entry *e)
{
	free(e->key);
	free(e->user_id);
	json_decref(e->row);
	memset(e, 0, sizeof *e);
}

/* The cached entry for key if it is there and young enough, or NULL;
 * borrowed. */
static struct auth_cache_entry *
auth_cache_get(enum auth_cache_kind kind, const char *key)
{
	struct auth_cache_entry *e = auth_cache_slot(kind, key);

	if (e->key == NULL || strcmp(e->key, key) != 0)
		return NULL;
	if (now_ms() - e->read_at >= AUTH_CACHE_AGE_MS) {
		auth_cache_clear(e);
		return NULL;
	}
	return e;
}

/* Keep a copy of row (a user row with "id", borrowed) under key. */
static struct auth_cache_entry *
auth_cache_put(enum auth_cache_kind kind, const char *key, const json_t *row)
{
	struct auth_cache_entry *e = auth_cache_slot(kind, key);
	const char *uid = json_string_value(json_object_get(row, "id"));

	auth_cache_clear(e);
	if (uid == NULL)
		return NULL;
	e->key = xstrdup(key);
	e->user_id = xstrdup(uid);
	e->row = json_deep_copy(row);
	e->read_at = now_ms();
	return e;
}

/* The row of the user behind key (a new reference, the caller's to
 * change), from the cache or read with find (then cached); NULL when
 * there is none. With *e the cache entry (borrowed) when one holds it. */
static json_t *
auth_cache_find(enum auth_cache_kind kind, const char *key,
		json_t *(*find)(struct store *, const char *),
		struct auth_cache_entry **e)
{
	struct auth_cache_entry *hit = auth_cache_get(kind, key);
	json_t *row;

	if (hit == NULL) {
		if ((row = find(srv->store, key)) == NULL) {
			*e = NULL;
			return NULL;
		}
		*e = auth_cache_put(kind, key, row);
		return row;
	}
	*e = hit;
	return json_deep_copy(hit->row);
}

void
auth_cache_forget(const char *user_id)
{
	for (int k = 0; k < AUTH_CACHE_KINDS; k++)
		for (size_t i = 0; i < AUTH_CACHE_SLOTS; i++) {
			struct auth_cache_entry *e = &auth_cache[k][i];

			if (e->key != NULL &&
			    (user_id == NULL ||
			     strcmp(e->user_id, user_id) == 0))
				auth_cache_clear(e);
		}
	/* open event streams were let in by what may have changed */
	task_events_recheck(user_id);
	proxy_streams_recheck(user_id);
}

void
auth_user_changed(const char *user_id)
{
	if (user_id == NULL)
		return;
	auth_cache_forget(user_id);
	replica_auth_changed(user_id);
}

/* Hex SHA-256 of token into out. */
static void
auth_hash(const char *token, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	sodium_bin2hex(out, 65, h, sizeof h);
}

/* A new "PREFIX" + 64 hex digits of randomness; its hash into hash. */
static char *
auth_secret_new(const char *prefix, char hash[65])
{
	unsigned char raw[32];
	char hex[65];
	char *secret;

	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
	secret = xasprintf("%s%s", prefix, hex);
	sodium_memzero(raw, sizeof raw);
	sodium_memzero(hex, sizeof hex);
	auth_hash(secret, hash);
	return secret;
}

/* An RFC 3339 string for a stored time in ms, or null (new reference). */
static json_t *
auth_time(const json_t *ms)
{
	char stamp[32];

	if (!json_is_integer(ms))
		return json_null();
	time_rfc3339((uint64_t)json_integer_value(ms), stamp);
	return json_string(stamp);
}

char *
auth_token_create(const char *user_id, const char *name, int64_t lifetime_s,
		  json_t **row)
{
	char hash[65], id[37];
	char *token;
	int64_t now = (int64_t)wall_ms();
	json_t *expires = lifetime_s > 0 ? json_integer(now + lifetime_s * 1000)
					 : json_null();

	token = auth_secret_new(AUTH_TOKEN_PREFIX, hash);
	store_uuid(id);
	if (store_token_insert(srv->store, id, user_id, name, hash, now,
			       lifetime_s > 0 ? now + lifetime_s * 1000 : 0) <
	    0) {
		free(token);
		json_decref(expires);
		return NULL;
	}
	if (row != NULL) {
		json_t *created = json_integer(now);

		*row = json_pack("{s:s, s:s, s:o, s:o}", "id", id, "name", name,
				 "created_at", auth_time(created), "expires_at",
				 auth_time(expires));
		json_decref(created);
	}
	json_decref(expires);
	return token;
}

json_t *
auth_token_json(const json_t *row)
{
	const json_t *exp = json_object_get(row, "expires_at");

	return json_pack("{s:O, s:O, s:o, s:o, s:o, s:b}", "id",
			 json_object_get(row, "id"), "name",
			 json_object_get(row, "name"), "created_at",
			 auth_time(json_object_get(row, "created_at")),
			 "last_used_at",
			 auth_time(json_object_get(row, "last_used_at")),
			 "expires_at", auth_time(exp), "expired",
			 json_is_integer(exp) && json_integer_value(exp) <=
							 (json_int_t)wall_ms());
}

json_t *
auth_session_json(const json_t *row)
{
	return json_pack(
		"{s:O, s:O, s:O, s:o, s:o}", "id", json_object_get(row, "id"),
		"token_id", json_object_get(row, "token_id"), "path",
		json_object_get(row, "path"), "created_at",
		auth_time(json_object_get(row, "created_at")), "expires_at",
		auth_time(json_object_get(row, "expires_at")));
}

char *
auth_session_create(const json_t *user, const char *path, int64_t *max_age_s)
{
	const json_t *texp = json_object_get(user, "token_expires_at");
	const char *uid = json_string_value(json_object_get(user, "id"));
	int64_t now = (int64_t)wall_ms(), expires = now + AUTH_SESSION_MS;
	char hash[65], id[37];
	char *session;

	if (json_is_integer(texp) && json_integer_value(texp) < expires)
		expires = json_integer_value(texp);
	if (json_string_value(json_object_get(user, "token_id")) == NULL ||
	    expires <= now)
		return NULL;
	session = auth_secret_new(AUTH_SESSION_PREFIX, hash);
	store_uuid(id);
	/* expired ones go, and a user keeps at most AUTH_SESSIONS_MAX */
	store_sessions_prune(srv->store, uid, now, AUTH_SESSIONS_MAX - 1);
	auth_user_changed(uid);
	if (store_session_insert(
		    srv->store, id, hash, uid,
		    json_string_value(json_object_get(user, "token_id")), path,
		    now, expires) < 0) {
		free(session);
		return NULL;
	}
	*max_age_s = (expires - now + 999) / 1000;
	return session;
}

char *
auth_site_session_create(const json_t *user, int64_t *expires_at)
{
	const json_t *texp = json_object_get(user, "token_expires_at");
	const char *uid = json_string_value(json_object_get(user, "id"));
	const char *tid = json_string_value(json_object_get(user, "token_id"));
	int64_t now = (int64_t)wall_ms();
	int64_t expires = now + srv->session_lifetime_ms;
	char hash[65], id[37];
	char *session;

	if (tid != NULL && json_is_integer(texp) &&
	    json_integer_value(texp) < expires)
		expires = json_integer_value(texp);
	if (uid == NULL || expires <= now)
		return NULL;
	session = auth_secret_new(AUTH_SESSION_PREFIX, hash);
	store_uuid(id);
	store_sessions_prune(srv->store, uid, now, AUTH_SESSIONS_MAX - 1);
	auth_user_changed(uid);
	if (store_session_insert(srv->store, id, hash, uid, tid, "/", now,
				 expires) < 0) {
		free(session);
		return NULL;
	}
	*expires_at = expires;
	return session;
}

void
auth_csrf_token(const char *session, char out[65])
{
	static const char msg[] = "taskbox csrf";
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, (const unsigned char *)session,
				    strlen(session));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg,
				      sizeof msg - 1);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(out, 65, mac, sizeof mac);
	sodium_memzero(&st, sizeof st);
}

/* Is user (a row of the store) suspended? Replies 401 when it is. */
static bool
auth_suspended(struct http_req *req, const json_t *user)
{
	const char *status = json_string_value(json_object_get(user, "status"));

	if (status == NULL || strcmp(status, "suspended") != 0)
		return false;
	if (req != NULL)
		http_reply_problem(req, 401, "the account is suspended");
	return true;
}

/* The token value from a "name=value; ..." Cookie header, or NULL. */
static char *
auth_cookie(const char *cookies)
{
	const char *p = cookies;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		if (str_starts_with(p, "taskbox_session=")) {
			const char *v = p + strlen("taskbox_session=");
			const char *end = strchr(v, ';');

			return end ? xstrndup(v, (size_t)(end - v))
				   : xstrdup(v);
		}
		p = strchr(p, ';');
	}
	return NULL;
}

/* The token the request presents (new string) or NULL; *cookie tells
 * whether it came from the session cookie. */
static char *
auth_presented(struct http_req *req, bool *cookie)
{
	const char *h = http_req_header(req, "Authorization");
	const char *q;

	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0)
		return xstrdup(h + 7);
	h = http_req_header(req, "Coder-Session-Token");
	if (h != NULL)
		return xstrdup(h);
	q = http_req_query(req, "access_token");
	if (q != NULL && strcmp(http_req_method(req), "GET") == 0)
		return xstrdup(q);
	h = http_req_header(req, "Cookie");
	*cookie = h != NULL;
	return h ? auth_cookie(h) : NULL;
}

/* The caller of a request with a session cookie (new reference), or
 * NULL after replying 401. */
static json_t *
auth_session_user(struct http_req *req, const char *hash)
{
	int64_t now = (int64_t)wall_ms();
	const json_t *texp;
	struct auth_cache_entry *e;
	const char *path;
	json_t *user;

	user = auth_cache_find(AUTH_CACHE_SESSION, hash,
			       store_session_find_by_hash, &e);
	if (user == NULL) {
		http_reply_problem(req, 401,
				   "the session is not valid (revoked, or "
				   "signed out): open the app's link with "
				   "?access_token= again");
		return NULL;
	}
	texp = json_object_get(user, "token_expires_at");
	path = json_string_value(json_object_get(user, "session_path"));
	if (json_integer_value(json_object_get(user, "session_expires_at")) <=
		    now ||
	    (json_is_integer(texp) && json_integer_value(texp) <= now)) {
		http_reply_problem(req, 401,
				   "the session has expired: open the app's "
				   "link with ?access_token= again");
	} else if (path == NULL || !str_starts_with(http_req_path(req), path)) {
		http_reply_problem(req, 401,
				   "the session cookie is good only under "
				   "'%s': send a token",
				   path ? path : "?");
	} else if (!auth_suspended(req, user)) {
		return user;
	}
	json_decref(user);
	return NULL;
}

/* The caller of a request with a token (new reference), or NULL after
 * replying 401; notes when the token was last used (once a minute). */
static json_t *
auth_token_user(struct http_req *req, const char *hash)
{
	int64_t now = (int64_t)wall_ms();
	struct auth_cache_entry *e;
	const json_t *texp;
	json_t *user;
	char stamp[32];

	user = auth_cache_find(AUTH_CACHE_TOKEN, hash, store_token_find_by_hash,
			       &e);
	if (user == NULL) {
		http_reply_problem(req, 401, "the token is not valid");
		return NULL;
	}
	texp = json_object_get(user, "token_expires_at");
	if (json_is_integer(texp) && json_integer_value(texp) <= now) {
		time_rfc3339((uint64_t)json_integer_value(texp), stamp);
		http_reply_problem(req, 401,
				   "the token expired at %s: make a new one "
				   "(taskbox token create)",
				   stamp);
		json_decref(user);
		return NULL;
	}
	if (auth_suspended(req, user)) {
		json_decref(user);
		return NULL;
	}
	/* the store notes it once a minute; a cached token asks only then */
	if (e == NULL || now - e->touched >= AUTH_TOUCH_GAP_MS) {
		store_token_touch(
			srv->store,
			json_string_value(json_object_get(user, "token_id")),
			now, AUTH_TOUCH_GAP_MS);
		if (e != NULL)
			e->touched = now;
	}
	return user;
}

json_t *
auth_user(struct http_req *req)
{
	bool cookie = false;
	char *token = auth_presented(req, &cookie);
	const char *method = http_req_method(req);
	const char *origin = http_req_header(req, "Origin");
	const char *path;
	char hash[65], csrf[65];
	json_t *user;

	if (token == NULL) {
		http_reply_problem(req, 401,
				   "this endpoint needs a token: send "
				   "'Authorization: Bearer TOKEN' (taskbox "
				   "login, taskbox token create)");
		return NULL;
	}
	if (cookie && strcmp(method, "GET") != 0 &&
	    strcmp(method, "HEAD") != 0 &&
	    (origin == NULL || !http_req_origin_allowed(req, origin))) {
		/* a cookie rides along with cross-site forms: refuse */
		free(token);
		http_reply_problem(req, 403,
				   "a cookie-authenticated %s needs a "
				   "same-origin Origin header",
				   method);
		return NULL;
	}
	auth_hash(str_trim(token), hash);
	if (cookie)
		auth_csrf_token(str_trim(token), csrf);
	sodium_memzero(token, strlen(token));
	free(token);
	if (!cookie) {
		if ((user = auth_token_user(req, hash)) != NULL)
			json_object_set_new(user, "auth_hash",
					    json_string(hash));
		return user;
	}
	if ((user = auth_session_user(req, hash)) == NULL)
		return NULL;
	json_object_set_new(user, "auth_hash", json_string(hash));
	path = json_string_value(json_object_get(user, "session_path"));
	if (path != NULL && strcmp(path, "/") == 0 &&
	    strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		const char *sent = http_req_header(req, AUTH_CSRF_HEADER);

		if (sent == NULL || strlen(sent) != 64 ||
		    sodium_memcmp(sent, csrf, 64) != 0) {
			http_reply_problem(req, 403,
					   "a %s with the session cookie "
					   "needs the header " AUTH_CSRF_HEADER
					   ": the csrf_token of the sign-in",
					   method);
			json_decref(user);
			return NULL;
		}
	}
	json_object_set_new(user, "csrf_token", json_string(csrf));
	sodium_memzero(csrf, sizeof csrf);
	return user;
}

json_t *
auth_recheck(const char *hash, bool cookie)
{
	int64_t now = (int64_t)wall_ms();
	const json_t *texp, *sexp;
	json_t *user = cookie ? store_session_find_by_hash(srv->store, hash)
			      : store_token_find_by_hash(srv->store, hash);

	if (user == NULL)
		return NULL;
	texp = json_object_get(user, "token_expires_at");
	sexp = json_object_get(user, "session_expires_at");
	if ((json_is_integer(texp) && json_integer_value(texp) <= now) ||
	    (json_is_integer(sexp) && json_integer_value(sexp) <= now) ||
	    auth_suspended(NULL, user)) {
		json_decref(user);
		return NULL;
	}
	return user;
}

json_t *
auth_site_user(struct http_req *req)
{
	const char *h = http_req_header(req, "Cookie");
	char *token = h ? auth_cookie(h) : NULL;
	const char *path;
	char hash[65];
	json_t *user;

	if (token == NULL)
		return NULL;
	auth_hash(str_trim(token), hash);
	sodium_memzero(token, strlen(token));
	free(token);
	user = auth_recheck(hash, true);
	path = json_string_value(json_object_get(user, "session_path"));
	if (user != NULL && (path == NULL || strcmp(path, "/") != 0)) {
		json_decref(user);
		return NULL;
	}
	return user;
}

json_t *
auth_token_lookup(const char *token, const char **why)
{
	int64_t now = (int64_t)wall_ms();
	struct auth_cache_entry *e;
	const json_t *texp;
	json_t *user;
	char hash[65];

	auth_hash(token, hash);
	user = auth_cache_find(AUTH_CACHE_TOKEN, hash, store_token_find_by_hash,
			       &e);
	if (user == NULL) {
		*why = "the token is not valid";
		return NULL;
	}
	texp = json_object_get(user, "token_expires_at");
	if (json_is_integer(texp) && json_integer_value(texp) <= now)
		*why = "the token has expired: make a new one";
	else if (auth_suspended(NULL, user))
		*why = "the account is suspended";
	else
		return user;
	json_decref(user);
	return NULL;
}

bool
auth_is_admin(const json_t *user)
{
	const char *role = json_string_value(json_object_get(user, "role"));

	return role != NULL && strcmp(role, "admin") == 0;
}

bool
auth_may_act_for(const json_t *caller, const char *owner_id)
{
	const char *me = json_string_value(json_object_get(caller, "id"));

	return auth_is_admin(caller) ||
	       (me != NULL && owner_id != NULL && strcmp(me, owner_id) == 0);
}

bool
auth_role_valid(const char *role)
{
	return role != NULL &&
	       (strcmp(role, "admin") == 0 || strcmp(role, "member") == 0 ||
		strcmp(role, "task-creator") == 0);
}

/* Is user a task-creator now (its row's role)? */
static bool
auth_is_task_creator(const json_t *user)
{
	const char *role = json_string_value(json_object_get(user, "role"));

	return role != NULL && strcmp(role, "task-creator") == 0;
}

bool
auth_may_access_task(const json_t *caller, const char *owner_id,
		     const char *created_by)
{
	const char *me = json_string_value(json_object_get(caller, "id"));
	const char *why;
	json_t *owner;
	bool ok;

	if (auth_may_act_for(caller, owner_id))
		return true;
	/* its creator, while it could still create it: its role stays
	 * task-creator and the owner is still an active member (a bot
	 * never drives a task of a suspended user or of one promoted since,
	 * whose secrets a resume would hand the task) */
	if (me == NULL || created_by == NULL || *created_by == '\0' ||
	    strcmp(me, created_by) != 0 || !auth_is_task_creator(caller))
		return false;
	owner = auth_lookup_user(caller, owner_id);
	ok = owner != NULL && auth_may_create_for(caller, owner, &why) == 0;
	json_decref(owner);
	return ok;
}

int
auth_may_create_for(const json_t *caller, const json_t *owner, const char **why)
{
	const char *status =
		json_string_value(json_object_get(owner, "status"));

	if (auth_may_act_for(caller,
			     json_string_value(json_object_get(owner, "id"))))
		return 0;
	if (!auth_is_task_creator(caller)) {
		*why = "only admins and task creators can create tasks for "
		       "other users";
		return -EPERM;
	}
	if (auth_is_admin(owner) || auth_is_task_creator(owner)) {
		*why = "a task creator creates tasks for members only, not "
		       "for admins or other task creators";
		return -EPERM;
	}
	if (status != NULL && strcmp(status, "active") != 0) {
		*why = "the user is suspended: tasks cannot be created for "
		       "them";
		return -EPERM;
	}
	return 0;
}

json_t *
auth_lookup_user(const json_t *caller, const char *ref)
{
	struct auth_cache_entry *e;

	if (strcmp(ref, "me") == 0)
		ref = json_string_value(json_object_get(caller, "id"));
	if (ref == NULL)
		return NULL;
	return auth_cache_find(AUTH_CACHE_USER, ref, store_user_find, &e);
}

/* The 16 bytes of a lowercase UUID uuid into bin; false if it is not one. */
static bool
auth_uuid_bin(const char *uuid, unsigned char bin[16])
{
	static const int dashes[] = {8, 13, 18, 23};
	size_t j = 0, d = 0;

	if (strlen(uuid) != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		const char *hex = "0123456789abcdef", *h;

		if (d < ARRAY_SIZE(dashes) && (int)i == dashes[d]) {
			if (uuid[i] != '-')
				return false;
			d++;
			continue;
		}
		if ((h = strchr(hex, uuid[i])) == NULL)
			return false;
		if (j % 2 == 0)
			bin[j / 2] = (unsigned char)((h - hex) << 4);
		else
			bin[j / 2] |= (unsigned char)(h - hex);
		j++;
	}
	return true;
}

/* The text of the UUID of 16 bytes bin into out. */
static void
auth_uuid_text(const unsigned char bin[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 bin[0], bin[1], bin[2], bin[3], bin[4], bin[5], bin[6], bin[7],
		 bin[8], bin[9], bin[10], bin[11], bin[12], bin[13], bin[14],
		 bin[15]);
}

/* The MAC of an app capability for these fields into mac. */
static void
auth_app_cap_mac(const char *user_id, const char *task_id, const char *slug,
		 int64_t expires, unsigned char mac[AUTH_CAP_MAC_BYTES])
{
	const char *const parts[] = {"app", user_id, task_id, slug};
	unsigned char key[SECRETS_KEY_BYTES];
	crypto_auth_hmacsha256_state st;
	char exp[24];

	secrets_derive_key(AUTH_CAP_KEY_LABEL, key);
	crypto_auth_hmacsha256_init(&st, key, sizeof key);
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
		/* each with its NUL: no field can run into the next */
		crypto_auth_hmacsha256_update(&st,
					      (const unsigned char *)parts[i],
					      strlen(parts[i]) + 1);
	snprintf(exp, sizeof exp, "%lld", (long long)expires);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)exp,
				      strlen(exp));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(key, sizeof key);
	sodium_memzero(&st, sizeof st);
}

char *
auth_app_cap_new(const char *user_id, const char *task_id, const char *slug,
		 int64_t lifetime_s)
{
	unsigned char raw[AUTH_CAP_BYTES];
	uint64_t exp = wall_ms() / 1000 + (uint64_t)lifetime_s;
	size_t n = sodium_base64_ENCODED_LEN(sizeof raw, AUTH_CAP_B64);
	char *cap;

	if (!auth_uuid_bin(user_id, raw + 8))
		return NULL;
	for (int i = 0; i < 8; i++)
		raw[i] = (unsigned char)(exp >> (56 - 8 * i));
	auth_app_cap_mac(user_id, task_id, slug, (int64_t)exp, raw + 24);
	cap = xmalloc(n);
	sodium_bin2base64(cap, n, raw, sizeof raw, AUTH_CAP_B64);
	return cap;
}

/* Decode cap into raw; false if it is not a capability's shape. */
static bool
auth_app_cap_decode(const char *cap, unsigned char raw[AUTH_CAP_BYTES])
{
	size_t len = strlen(cap), got = 0;

	return len == sodium_base64_ENCODED_LEN(AUTH_CAP_BYTES, AUTH_CAP_B64) -
			       1 &&
	       sodium_base642bin(raw, AUTH_CAP_BYTES, cap, len, NULL, &got,
				 NULL, AUTH_CAP_B64) == 0 &&
	       got == AUTH_CAP_BYTES;
}

bool
auth_app_cap_parse(const char *cap, char user_id[37])
{
	unsigned char raw[AUTH_CAP_BYTES];

	if (!auth_app_cap_decode(cap, raw))
		return false;
	auth_uuid_text(raw + 8, user_id);
	return true;
}

json_t *
auth_app_cap_user(const char *cap, const char *task_id, const char *slug)
{
	unsigned char raw[AUTH_CAP_BYTES], mac[AUTH_CAP_MAC_BYTES];
	struct auth_cache_entry *e;
	uint64_t exp = 0;
	char uid[37];
	json_t *user;

	if (!auth_app_cap_decode(cap, raw))
		return NULL;
	for (int i = 0; i < 8; i++)
		exp = exp << 8 | raw[i];
	if (exp > INT64_MAX)
		return NULL;
	auth_uuid_text(raw + 8, uid);
	auth_app_cap_mac(uid, task_id, slug, (int64_t)exp, mac);
	if (sodium_memcmp(mac, raw + 24, sizeof mac) != 0 ||
	    exp <= wall_ms() / 1000)
		return NULL;
	user = auth_cache_find(AUTH_CACHE_USER, uid, store_user_find, &e);
	if (user != NULL && auth_suspended(NULL, user)) {
		json_decref(user);
		return NULL;
	}
	return user;
}
