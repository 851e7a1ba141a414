/*
 * auth.c: who is calling.
 *
 * A token is "tbx_" + 64 hex digits of randomness; the database keeps only
 * its SHA-256 (tokens carry 256 bits of entropy, so a slow password hash
 * adds nothing), looked up through a unique index. Accepted from
 * Authorization: Bearer, Coder-Session-Token, the taskbox_session cookie,
 * and ?access_token= on GET (EventSource cannot set headers).
 */
#include "common.h"

#include <sodium.h>

#include "core/text.h"
#include "http/http.h"
#include "server.h"
#include "store/store.h"

#define AUTH_TOKEN_PREFIX "tbx_"

/* Hex SHA-256 of token into out. */
static void
auth_hash(const char *token, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	sodium_bin2hex(out, 65, h, sizeof h);
}

char *
auth_token_create(const char *user_id, const char *name, json_t **row)
{
	unsigned char raw[32];
	char hex[65], hash[65], id[37];
	char *token;
	char stamp[32];

	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
	token = xasprintf(AUTH_TOKEN_PREFIX "%s", hex);
	auth_hash(token, hash);
	store_uuid(id);
	if (store_exec(srv->store,
		       "INSERT INTO tokens (id, user_id, name, hash, "
		       "created_at) VALUES (?, ?, ?, ?, ?)",
		       "ssssi", id, user_id, name, hash,
		       (int64_t)wall_ms()) < 0) {
		free(token);
		return NULL;
	}
	if (row != NULL) {
		time_rfc3339(wall_ms(), stamp);
		*row = json_pack("{s:s, s:s, s:s}", "id", id, "name", name,
				 "created_at", stamp);
	}
	return token;
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

json_t *
auth_user(struct http_req *req)
{
	bool cookie = false;
	char *token = auth_presented(req, &cookie);
	const char *method = http_req_method(req);
	const char *origin = http_req_header(req, "Origin");
	char hash[65];
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
	free(token);
	user = store_row(srv->store,
			 "SELECT u.id, u.username, u.role, u.name, u.email, "
			 "u.webhook_url, u.created_at, t.id AS token_id FROM "
			 "tokens t JOIN users u ON "
			 "u.id = t.user_id WHERE t.hash = ?",
			 "s", hash);
	if (user == NULL) {
		http_reply_problem(req, 401, "the token is not valid");
		return NULL;
	}
	return user;
}

bool
auth_is_admin(const json_t *user)
{
	const char *role = json_string_value(json_object_get(user, "role"));

	return role != NULL && strcmp(role, "admin") == 0;
}

json_t *
auth_lookup_user(const json_t *caller, const char *ref)
{
	if (strcmp(ref, "me") == 0)
		ref = json_string_value(json_object_get(caller, "id"));
	return store_row(srv->store,
			 "SELECT id, username, role, name, email, created_at "
			 "FROM users "
			 "WHERE id = ? OR username = ?",
			 "ss", ref, ref);
}
