/*
 * api-users.c: /api/v2/users and tokens.
 *
 * Admins create users (the reply carries the new user's first token,
 * shown once); anyone makes more tokens for themselves, admins for
 * anyone. Tokens and browser sessions are listed (never a hash or a
 * value) and revoked by their user and by admins; for any other member
 * they do not exist (404). Usernames are 1-32 of [a-z0-9-], not starting
 * with '-'.
 *
 * Roles: admin, member, and task-creator (a member that may also create
 * tasks for active members: a bot's token, as Coder's GitHub Action
 * uses; auth.c decides). The user list is everyone for admins and
 * task-creators (who look users up by their linked GitHub account:
 * q=github_com_user_id:N), the caller alone for a member; nobody's
 * webhook_url but their own reaches a non-admin. The User JSON has
 * Coder's members too: organization_ids (the one organization),
 * github_com_user_id (absent when no GitHub account is linked) and an
 * email that is always an address Coder's clients accept
 * (USERNAME@taskbox.invalid when none is set: email_set false).
 */
#include "common.h"

#include <ctype.h>
#include <sodium.h>

#include "core/log.h"
#include "core/netpolicy.h"
#include "core/text.h"
#include "http/http.h"
#include "server/api-errors.h"
#include "server.h"
#include "server/identity.h"
#include "server/password.h"
#include "store/store-rows.h"

#define TOKEN_LIFETIME_MAX (10 * 365 * 86400LL) /* seconds */
#define USER_ROLE_MUST	   "role must be 'admin', 'member' or 'task-creator'"
#define USER_Q_TERMS	   16 /* terms in one ?q= */

/*
 * Is email an address Coder's clients accept (their schema's check):
 * [A-Za-z0-9_'+.-] before the '@', not starting with '.', no "..", the
 * last character before '@' not '.' or '\''; then labels of
 * [A-Za-z0-9-] (not starting with '-') joined by dots, the last of two
 * or more letters.
 */
static bool
user_email_ok(const char *email)
{
	const char *at = strchr(email, '@'), *p, *label;

	if (at == NULL || at == email || email[0] == '.' ||
	    strstr(email, "..") != NULL || at[-1] == '.' || at[-1] == '\'')
		return false;
	for (p = email; p < at; p++)
		if (!isalnum((unsigned char)*p) && strchr("_'+-.", *p) == NULL)
			return false;
	for (label = p = at + 1;; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == label || *label == '-')
				return false;
			if (*p == '\0')
				break;
			label = p + 1;
		} else if (!isalnum((unsigned char)*p) && *p != '-') {
			return false;
		}
	}
	if (label == at + 1 || p - label < 2)
		return false; /* one label only, or a short last one */
	for (p = label; *p != '\0'; p++)
		if (!isalpha((unsigned char)*p))
			return false;
	return true;
}

json_t *
api_user_json(const json_t *row)
{
	const char *email = json_string_value(json_object_get(row, "email"));
	const json_t *gh = json_object_get(row, "github_user_id");
	/* an address their schema accepts, always: the one set (rules
	 * older than this check may have let others in), else made up */
	bool email_set = email != NULL && user_email_ok(email);
	char stamp[32];
	json_t *j;

	time_rfc3339((uint64_t)json_integer_value(
			     json_object_get(row, "created_at")),
		     stamp);
	j = json_pack(
		"{s:O, s:O, s:O, s:s, s:b, s:s, s:s, s:b, s:s, s:s, s:[s], "
		"s:s}",
		"id", json_object_get(row, "id"), "username",
		json_object_get(row, "username"), "role",
		json_object_get(row, "role"), "status",
		json_string_value(json_object_get(row, "status")) ?: "active",
		"has_password",
		json_integer_value(json_object_get(row, "has_password")) != 0,
		"name", json_string_value(json_object_get(row, "name")) ?: "",
		"email", email_set ? email : "", "email_set", email_set,
		"webhook_url",
		json_string_value(json_object_get(row, "webhook_url")) ?: "",
		"created_at", stamp, "organization_ids", TASKBOX_ORG_ID,
		"github_login",
		json_string_value(json_object_get(row, "github_login")) ?: "");
	/* Coder's clients take a number or nothing: never null */
	if (json_is_integer(gh) && json_integer_value(gh) > 0)
		json_object_set(j, "github_com_user_id", (json_t *)gh);
	if (!email_set)
		json_object_set_new(
			j, "email",
			json_sprintf("%s@taskbox.invalid",
				     json_string_value(
					     json_object_get(row, "username"))
					     ?: "user"));
	return j;
}

/* Why url is not a usable webhook for a user (or NULL): ≤ 2048 bytes,
 * netpolicy's URL check, private ranges for admins only; "" clears it. */
static const char *
user_check_webhook(const char *url, bool admin)
{
	const char *why;
	bool priv;

	if (*url == '\0')
		return NULL;
	if (strlen(url) > 2048)
		return "must be at most 2048 bytes";
	if ((why = net_check_url(url, &priv)) != NULL)
		return why;
	if (priv && !admin)
		return "is a private address: only admins' webhooks may go "
		       "there";
	return NULL;
}

/* Why email is not an address a user may set (or NULL): git's checks
 * (identity.c) and Coder's clients' ("" clears it). */
static const char *
user_check_email(const char *email)
{
	const char *why = identity_check_email(email);

	if (why == NULL && *email != '\0' && !user_email_ok(email))
		why = "email must be an address like name@example.com: "
		      "letters, digits and _ ' + - . before the '@', a "
		      "domain with a dot after it";
	return why;
}

/* Is name a valid username? */
static bool
user_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 32 || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return strcmp(name, "me") != 0;
}

static void
api_buildinfo(struct http_req *req, void *data UNUSED)
{
	http_reply_json(req, 200,
			json_pack("{s:s}", "version", TASKBOX_VERSION));
}

static void
api_users_me(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_user(req);

	if (user == NULL)
		return;
	http_reply_json(req, 200, api_user_json(user));
	json_decref(user);
}

/* One term of a user list's q: key, and its value as given. */
struct user_term {
	char key[24];
	char val[64];
};

/*
 * Read q (Coder's user search: github_com_user_id:N, username:NAME,
 * status:S, role:R, separated by spaces, all of them to match) into
 * terms; how many, or -1 after a 400 that names the term at fault.
 */
static int
users_q_parse(struct http_req *req, const char *q, struct user_term *terms)
{
	int n = 0;
	long long id;
	char *end;

	for (const char *p = q; *p != '\0';) {
		size_t klen, vlen;
		const char *colon, *stop;
		struct user_term *t = &terms[n];

		if (*p == ' ' || *p == '+') {
			p++;
			continue;
		}
		/* '+' is a space too: form-encoded queries (Go's, the
		 * browser's URLSearchParams) send one for each */
		stop = p + strcspn(p, " +");
		colon = memchr(p, ':', (size_t)(stop - p));
		if (n == USER_Q_TERMS) {
			http_reply_bad_query(req, "query.q",
					     "q takes at most %d terms",
					     USER_Q_TERMS);
			return -1;
		}
		klen = colon ? (size_t)(colon - p) : 0;
		vlen = colon ? (size_t)(stop - colon - 1) : 0;
		if (colon != NULL && vlen >= sizeof t->val) {
			http_reply_bad_query(req, "query.q",
					     "a q term's value is at most %zu "
					     "characters",
					     sizeof t->val - 1);
			return -1;
		}
		if (colon == NULL || klen >= sizeof t->key || vlen == 0) {
			http_reply_bad_query(req, "query.q",
					     "q takes terms key:value: "
					     "github_com_user_id:N, "
					     "username:NAME, status:S, role:R");
			return -1;
		}
		memcpy(t->key, p, klen);
		t->key[klen] = '\0';
		memcpy(t->val, colon + 1, vlen);
		t->val[vlen] = '\0';
		p = stop;
		n++;
		if (strcmp(t->key, "github_com_user_id") == 0) {
			errno = 0;
			id = strtoll(t->val, &end, 10);
			if (errno != 0 || *end != '\0' || id < 1 ||
			    !isdigit((unsigned char)t->val[0])) {
				http_reply_bad_query(
					req, "query.q",
					"github_com_user_id must be a "
					"GitHub user id: a whole number "
					"from 1");
				return -1;
			}
		} else if (strcmp(t->key, "status") == 0) {
			if (strcmp(t->val, "active") != 0 &&
			    strcmp(t->val, "suspended") != 0) {
				http_reply_bad_query(req, "query.q",
						     "status must be active or "
						     "suspended");
				return -1;
			}
		} else if (strcmp(t->key, "role") == 0) {
			if (!auth_role_valid(t->val)) {
				http_reply_bad_query(req, "query.q",
						     USER_ROLE_MUST);
				return -1;
			}
		} else if (strcmp(t->key, "username") != 0) {
			http_reply_bad_query(req, "query.q",
					     "unknown term '%s': q takes "
					     "github_com_user_id:, username:, "
					     "status: and role:",
					     t->key);
			return -1;
		}
	}
	return n;
}

/* Does the user row match every one of the n terms? */
static bool
users_q_match(const json_t *row, const struct user_term *terms, int n)
{
	for (int i = 0; i < n; i++) {
		const struct user_term *t = &terms[i];
		const char *v;

		if (strcmp(t->key, "github_com_user_id") == 0) {
			const json_t *gh =
				json_object_get(row, "github_user_id");

			if (!json_is_integer(gh) ||
			    json_integer_value(gh) != strtoll(t->val, NULL, 10))
				return false;
			continue;
		}
		v = json_string_value(json_object_get(row, t->key));
		if (v == NULL || strcmp(v, t->val) != 0)
			return false;
	}
	return true;
}

/* GET /api/v2/users[?q=]: {users, count}; everyone for admins and
 * task-creators, the caller alone for a member. */
static void
api_users_list(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_user(req), *rows = NULL, *out, *row, *j;
	const char *q = http_req_query(req, "q");
	const char *me, *role;
	struct user_term terms[USER_Q_TERMS];
	int nterms = 0;
	size_t i;

	if (user == NULL)
		return;
	me = json_string_value(json_object_get(user, "id"));
	role = json_string_value(json_object_get(user, "role"));
	if (q != NULL && (nterms = users_q_parse(req, q, terms)) < 0)
		goto out;
	if (auth_is_admin(user) ||
	    (role != NULL && strcmp(role, "task-creator") == 0)) {
		rows = store_users_list(srv->store);
	} else {
		rows = json_array();
		json_array_append_new(rows, store_user_get(srv->store, me));
	}
	if (rows == NULL) {
		http_reply_problem(req, 500, "cannot read the users");
		goto out;
	}
	out = json_array();
	json_array_foreach(rows, i, row)
	{
		if (!json_is_object(row) || !users_q_match(row, terms, nterms))
			continue;
		j = api_user_json(row);
		/* a webhook URL may carry a secret: its user's and admins' */
		if (!auth_is_admin(user) &&
		    !json_equal(json_object_get(row, "id"),
				json_object_get(user, "id")))
			json_object_del(j, "webhook_url");
		json_array_append_new(out, j);
	}
	http_reply_json(req, 200,
			json_pack("{s:o, s:I}", "users", out, "count",
				  (json_int_t)json_array_size(out)));
out:
	json_decref(rows);
	json_decref(user);
}

/* A user created with a password, waiting for its hash. */
struct user_create {
	struct http_req *req;
	json_t *reply; /* the 201's body (the User and its token) */
};

/* The new user's password is hashed: store it, answer 201. */
static void
api_users_created(int r, char *hash, void *data)
{
	struct user_create *c = data;
	const char *id = json_string_value(json_object_get(c->reply, "id"));

	if (r == 0)
		r = store_user_set_password(srv->store, id, hash);
	auth_user_changed(id);
	if (r < 0) {
		http_reply_problem(c->req, api_status_for_errno(r),
				   "the user was created, but not its "
				   "password: set it again");
		json_decref(c->reply);
	} else {
		json_object_set_new(c->reply, "has_password", json_true());
		http_reply_json(c->req, 201, c->reply);
	}
	free(hash);
	free(c);
}

static void
api_users_create(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_user(req), *body = NULL, *row, *out;
	const char *name, *role = "member", *password = NULL, *why;
	struct user_create *c;
	char id[37];
	char *token;
	int r;

	if (user == NULL)
		return;
	if (!auth_is_admin(user)) {
		http_reply_problem(req, 403, "only admins can create users");
		goto out;
	}
	if ((body = http_req_json(req)) == NULL)
		goto out;
	name = json_string_value(json_object_get(body, "username"));
	if (name == NULL || !user_name_valid(name)) {
		http_reply_invalid(req, "body.username",
				   json_object_get(body, "username"),
				   "username must be 1-32 characters of "
				   "a-z, 0-9 and '-', not starting with '-'");
		goto out;
	}
	if (json_object_get(body, "role") != NULL) {
		role = json_string_value(json_object_get(body, "role"));
		if (!auth_role_valid(role)) {
			http_reply_invalid(req, "body.role",
					   json_object_get(body, "role"),
					   USER_ROLE_MUST);
			goto out;
		}
	}
	password = json_string_value(json_object_get(body, "password"));
	if (json_object_get(body, "password") != NULL &&
	    (why = password_check(password)) != NULL) {
		http_reply_invalid(req, "body.password", NULL, "%s", why);
		goto out;
	}
	store_uuid(id);
	r = store_user_insert(srv->store, id, name, role, (int64_t)wall_ms());
	if (r == -EEXIST) {
		http_reply_problem(req, api_status_for_errno(r),
				   "user '%s' already exists", name);
		goto out;
	}
	if (r < 0) {
		http_reply_problem(req, api_status_for_errno(r),
				   "cannot store the user");
		goto out;
	}
	token = auth_token_create(id, "initial", 0, NULL);
	row = store_user_get(srv->store, id);
	out = api_user_json(row);
	json_object_set_new(out, "token", json_string(token));
	json_decref(row);
	free(token);
	if (password == NULL) {
		http_reply_json(req, 201, out);
		goto out;
	}
	c = xcalloc(1, sizeof *c);
	c->req = req;
	c->reply = out;
	if (password_hash_async(srv->loop, password, api_users_created, c) <
	    0) {
		free(c);
		json_decref(out);
		http_reply_header(req, "Retry-After", "1");
		http_reply_problem(req, 503,
				   "user '%s' was created without its "
				   "password: the server is busy hashing "
				   "others; set it again",
				   name);
		goto out;
	}
	http_req_defer(req);
out:
	if (body != NULL && password != NULL)
		sodium_memzero((char *)password, strlen(password));
	json_decref(body);
	json_decref(user);
}

/* POST /api/v2/users/{user}/tokens */
static void
api_users_prefix(struct http_req *req, void *data UNUSED)
{
	const char *rest = http_req_path(req) + strlen("/api/v2/users/");
	const char *slash = strchr(rest, '/');
	json_t *user = auth_user(req), *body = NULL, *target = NULL, *row;
	json_t *life;
	char *ref = NULL, *token;
	const char *name = "cli";
	size_t len;

	if (user == NULL)
		return;
	if (slash == NULL || strcmp(slash, "/tokens") != 0) {
		http_reply_problem(req, 404, "no such endpoint: '%s'",
				   http_req_path(req));
		goto out;
	}
	ref = xstrndup(rest, (size_t)(slash - rest));
	target = auth_lookup_user(user, ref);
	if (target == NULL) {
		http_reply_problem(req, 404, "no user '%s'", ref);
		goto out;
	}
	if (!auth_may_act_for(
		    user, json_string_value(json_object_get(target, "id")))) {
		http_reply_problem(req, 403,
				   "only admins can make tokens for others");
		goto out;
	}
	http_req_body(req, &len);
	body = len == 0 ? json_object() : http_req_json(req);
	if (body == NULL)
		goto out;
	if (json_object_get(body, "name") != NULL) {
		name = json_string_value(json_object_get(body, "name"));
		if (name == NULL || strlen(name) == 0 || strlen(name) > 64 ||
		    !utf8_valid(name, strlen(name))) {
			http_reply_invalid(req, "body.name",
					   json_object_get(body, "name"),
					   "name must be a string of 1-64 "
					   "characters");
			goto out;
		}
	}
	life = json_object_get(body, "lifetime");
	if (life != NULL && !json_is_null(life) &&
	    (!json_is_integer(life) || json_integer_value(life) < 1 ||
	     json_integer_value(life) > TOKEN_LIFETIME_MAX)) {
		http_reply_invalid(req, "body.lifetime", life,
				   "lifetime must be a number of seconds "
				   "from 1 to %lld (10 years), or null for "
				   "a token that does not expire",
				   TOKEN_LIFETIME_MAX);
		goto out;
	}
	token = auth_token_create(
		json_string_value(json_object_get(target, "id")), name,
		json_is_integer(life) ? (int64_t)json_integer_value(life) : 0,
		&row);
	if (token == NULL) {
		http_reply_problem(req, 500, "cannot store the token");
		goto out;
	}
	json_object_set_new(row, "token", json_string(token));
	json_object_set(row, "user", json_object_get(target, "username"));
	http_reply_json(req, 201, row);
	free(token);
out:
	free(ref);
	json_decref(target);
	json_decref(body);
	json_decref(user);
}

/*
 * GET .../users/{user}/tokens|sessions and DELETE .../{id} for kind
 * ("tokens" or "sessions") of target; rest is what follows the kind.
 */
static void
users_credentials(struct http_req *req, const json_t *target, const char *kind,
		  const char *rest)
{
	bool tokens = strcmp(kind, "tokens") == 0;
	const char *uid = json_string_value(json_object_get(target, "id"));
	json_t *rows, *out, *row;
	size_t i;
	int r;

	if (strcmp(http_req_method(req), "GET") == 0 && *rest == '\0') {
		/* expired sessions are gone for good; expired tokens are
		 * listed (marked) until revoked */
		rows = tokens ? store_tokens_list(srv->store, uid)
			      : store_sessions_list(srv->store, uid,
						    (int64_t)wall_ms());
		out = json_array();
		json_array_foreach(rows, i, row) json_array_append_new(
			out,
			tokens ? auth_token_json(row) : auth_session_json(row));
		json_decref(rows);
		http_reply_json(req, 200,
				json_pack("{s:o, s:I}", kind, out, "count",
					  (json_int_t)json_array_size(out)));
		return;
	}
	if (strcmp(http_req_method(req), "DELETE") != 0 || rest[0] != '/' ||
	    rest[1] == '\0' || strchr(rest + 1, '/') != NULL) {
		http_reply_problem(req, 404, "no such endpoint: '%s'",
				   http_req_path(req));
		return;
	}
	r = tokens ? store_token_delete(srv->store, rest + 1, uid)
		   : store_session_delete(srv->store, rest + 1, uid);
	auth_user_changed(uid);
	if (r == -ENOENT)
		http_reply_problem(req, 404, "no %s '%s'",
				   tokens ? "token" : "session", rest + 1);
	else if (r < 0)
		http_reply_problem(req, api_status_for_errno(r),
				   "cannot revoke the %s",
				   tokens ? "token" : "session");
	else
		http_reply(req, 204, NULL, "", 0);
}

/* A user delete waiting for the user's tasks to be gone. */
struct user_delete {
	struct http_req *req;
	char *id, *name;
};

/* The user's tasks are gone (task_delete_all): delete, answer. */
static void
api_users_deleted(void *data)
{
	struct user_delete *d = data;
	int r = store_user_delete(srv->store, d->id);

	auth_user_changed(d->id);

	if (r == -EBUSY)
		http_reply_problem(d->req, api_status_for_errno(r),
				   "user '%s' still has tasks (created while "
				   "their tasks were being deleted, or running "
				   "on another replica): try again",
				   d->name);
	else if (r < 0)
		http_reply_problem(d->req, api_status_for_errno(r),
				   "cannot delete user '%s'", d->name);
	else
		http_reply(d->req, 204, NULL, "", 0);
	if (r == 0)
		log_info("user %s deleted", d->name);
	free(d->id);
	free(d->name);
	free(d);
}

/*
 * DELETE /api/v2/users/{user}[?delete_tasks=true] (admins): refused
 * (409) while the user has tasks unless delete_tasks, which deletes them
 * first (the reply comes once they are gone); never the caller, so
 * never the last admin.
 */
static void
api_users_delete(struct http_req *req, json_t *user, const char *ref)
{
	bool delete_tasks;
	json_t *target = NULL, *n = NULL;
	json_int_t tasks, admins;
	struct user_delete *d;

	if (!auth_is_admin(user)) {
		http_reply_problem(req, 403, "only admins can delete users");
		return;
	}
	if (http_req_query_flag(req, "delete_tasks", &delete_tasks) < 0) {
		http_reply_invalid(req, "query.delete_tasks", NULL,
				   "delete_tasks must be true or false");
		return;
	}
	if ((target = auth_lookup_user(user, ref)) == NULL) {
		http_reply_problem(req, 404, "no user '%s'", ref);
		return;
	}
	n = store_user_counts(srv->store,
			      json_string_value(json_object_get(target, "id")));
	tasks = json_integer_value(json_object_get(n, "tasks"));
	admins = json_integer_value(json_object_get(n, "admins"));
	if (json_equal(json_object_get(target, "id"),
		       json_object_get(user, "id")) ||
	    (auth_is_admin(target) && admins <= 1)) {
		http_reply_problem(req, 409,
				   "an admin cannot delete themself (and the "
				   "last admin stays): ask another admin");
	} else if (tasks > 0 && !delete_tasks) {
		http_reply_problem(
			req, 409,
			"user '%s' has %" JSON_INTEGER_FORMAT " task%s: "
			"delete them first, or with the user "
			"(?delete_tasks=true)",
			json_string_value(json_object_get(target, "username")),
			tasks, tasks == 1 ? "" : "s");
	} else {
		d = xcalloc(1, sizeof *d);
		d->req = req;
		d->id = xstrdup(
			json_string_value(json_object_get(target, "id")));
		d->name = xstrdup(
			json_string_value(json_object_get(target, "username")));
		/* they are signed out first: no task of theirs is made
		 * while theirs are being deleted */
		store_user_sign_out(srv->store, d->id);
		auth_user_changed(d->id);
		http_req_defer(req);
		task_delete_all(d->id, NULL, api_users_deleted, d);
	}
	json_decref(n);
	json_decref(target);
}

/* GET and DELETE below /api/v2/users/{user}/: tokens and sessions here,
 * secrets in api-secrets.c; DELETE of /api/v2/users/{user} itself. */
static void
api_users_sub(struct http_req *req, void *data UNUSED)
{
	const char *rest = http_req_path(req) + strlen("/api/v2/users/");
	const char *slash = strchr(rest, '/'), *kind = NULL;
	json_t *user, *target;
	char *ref;

	if (slash == NULL && strcmp(http_req_method(req), "DELETE") == 0) {
		if ((user = auth_user(req)) == NULL)
			return;
		api_users_delete(req, user, rest);
		json_decref(user);
		return;
	}
	if (slash != NULL && strcmp(slash, "/budget") == 0 &&
	    strcmp(http_req_method(req), "GET") == 0) {
		api_usage_budget(req);
		return;
	}
	if (slash != NULL && (str_starts_with(slash, "/tokens") ||
			      str_starts_with(slash, "/sessions"))) {
		kind = slash[1] == 't' ? "tokens" : "sessions";
		if (slash[strlen(kind) + 1] != '\0' &&
		    slash[strlen(kind) + 1] != '/')
			kind = NULL;
	}
	if (kind == NULL) {
		api_secrets_user(req, NULL);
		return;
	}
	if ((user = auth_user(req)) == NULL)
		return;
	ref = xstrndup(rest, (size_t)(slash - rest));
	target = auth_lookup_user(user, ref);
	if (target == NULL ||
	    !auth_may_act_for(user,
			      json_string_value(json_object_get(target, "id"))))
		http_reply_problem(req, 404, "no user '%s'", ref);
	else
		users_credentials(req, target, kind, slash + 1 + strlen(kind));
	free(ref);
	json_decref(target);
	json_decref(user);
}

/*
 * The role and status of a PATCH body (each NULL when absent) for target
 * by user: admins only, never for themselves. true, or false after a
 * reply.
 */
static bool
users_patch_access(struct http_req *req, const json_t *user,
		   const json_t *target, const json_t *body, const char **role,
		   const char **status)
{
	json_t *r = json_object_get(body, "role");
	json_t *s = json_object_get(body, "status");

	*role = json_string_value(r);
	*status = json_string_value(s);
	if (r == NULL && s == NULL)
		return true;
	if (!auth_is_admin(user)) {
		http_reply_problem(req, 403,
				   "only admins can change roles and "
				   "statuses");
		return false;
	}
	if (json_equal(json_object_get(user, "id"),
		       json_object_get(target, "id"))) {
		http_reply_problem(req, 409,
				   "you cannot change your own role or "
				   "status: ask another admin");
		return false;
	}
	if (r != NULL && !auth_role_valid(*role)) {
		http_reply_invalid(req, "body.role", r, USER_ROLE_MUST);
		return false;
	}
	if (s != NULL &&
	    (*status == NULL || (strcmp(*status, "active") != 0 &&
				 strcmp(*status, "suspended") != 0))) {
		http_reply_invalid(req, "body.status", s,
				   "status must be 'active' or 'suspended'");
		return false;
	}
	return true;
}

/*
 * The github_com_user_id of a PATCH body for target by user (admins
 * only; a GitHub user id >= 1, or null to unlink) into *gh: 0 when
 * absent, -1 for null. true, or false after a reply.
 */
static bool
users_patch_github(struct http_req *req, const json_t *user, const json_t *body,
		   int64_t *gh)
{
	json_t *v = json_object_get(body, "github_com_user_id");

	*gh = 0;
	if (v == NULL)
		return true;
	if (!auth_is_admin(user)) {
		http_reply_problem(req, 403,
				   "only admins can set a user's GitHub "
				   "account (link your own from the settings: "
				   "taskbox user link github)");
		return false;
	}
	if (json_is_null(v)) {
		*gh = -1;
		return true;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		http_reply_invalid(req, "body.github_com_user_id", v,
				   "github_com_user_id must be a GitHub user "
				   "id (a whole number from 1), or null to "
				   "unlink");
		return false;
	}
	*gh = (int64_t)json_integer_value(v);
	return true;
}

/* Link target to GitHub user gh (-1: unlink) as an admin asked; the
 * login is kept when the id stays the same. 0, or -EEXIST when another
 * user has it, or -EIO. */
static int
users_set_github(const json_t *target, int64_t gh)
{
	const json_t *cur = json_object_get(target, "github_user_id");
	const char *login =
		json_string_value(json_object_get(target, "github_login"));

	if (!json_is_integer(cur) || json_integer_value(cur) != gh)
		login = "";
	return store_user_set_github(
		srv->store, json_string_value(json_object_get(target, "id")),
		gh, login ? login : "");
}

/* PATCH /api/v2/users/{user}: {name?, email?, webhook_url?} (self or
 * admin), {role?, status?} (admins, for others), {github_com_user_id?}
 * (admins): a suspended user's sessions end, their tokens are refused
 * until they are active again. */
static void
api_users_patch(struct http_req *req, void *data UNUSED)
{
	const char *ref = http_req_path(req) + strlen("/api/v2/users/");
	static const char *const fields[] = {"name", "email", "webhook_url"};
	json_t *user = auth_user(req), *body = NULL, *target = NULL, *row;
	const char *vals[3] = {NULL, NULL, NULL};
	const char *role, *status, *tid;
	int64_t gh;
	int r;

	if (user == NULL)
		return;
	if (*ref == '\0' || strchr(ref, '/') != NULL) {
		http_reply_problem(req, 404, "no such endpoint: '%s'",
				   http_req_path(req));
		goto out;
	}
	target = auth_lookup_user(user, ref);
	if (target == NULL ||
	    !auth_may_act_for(
		    user, json_string_value(json_object_get(target, "id")))) {
		http_reply_problem(req, 404, "no user '%s'", ref);
		goto out;
	}
	if ((body = http_req_json(req)) == NULL)
		goto out;
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		json_t *v = json_object_get(body, fields[i]);
		const char *why;
		char *loc;

		if (v == NULL)
			continue;
		vals[i] = json_string_value(v);
		why = vals[i] == NULL ? "must be a string"
		      : i == 0	      ? identity_check_name(vals[i])
		      : i == 1	      ? user_check_email(vals[i])
				      : user_check_webhook(vals[i],
							   auth_is_admin(target));
		if (why != NULL) {
			loc = xasprintf("body.%s", fields[i]);
			http_reply_invalid(req, loc, v, "%s", why);
			free(loc);
			goto out;
		}
	}
	if (!users_patch_access(req, user, target, body, &role, &status) ||
	    !users_patch_github(req, user, body, &gh))
		goto out;
	tid = json_string_value(json_object_get(target, "id"));
	r = gh != 0 ? users_set_github(target, gh) : 0;
	if (r == -EEXIST) {
		http_reply_problem(req, 409,
				   "GitHub user %lld is linked to another "
				   "user: unlink it there first",
				   (long long)gh);
		goto out;
	}
	if (r == 0)
		r = store_user_set_profile(srv->store, tid, vals[0], vals[1],
					   vals[2]);
	if (r == 0 && (role != NULL || status != NULL))
		r = store_user_set_access(srv->store, tid, role, status);
	if (r == 0 && status != NULL && strcmp(status, "suspended") == 0)
		r = store_user_end_sessions(srv->store, tid, NULL);
	auth_user_changed(tid);
	if (r == 0 && (role != NULL || status != NULL))
		log_info("user %s: %s%s%s%s",
			 json_string_value(json_object_get(target, "username")),
			 role ? "role " : "", role ? role : "",
			 role && status ? ", " : "", status ? status : "");
	if (r == 0 && gh < 0)
		log_info(
			"user %s: GitHub account unlinked",
			json_string_value(json_object_get(target, "username")));
	else if (r == 0 && gh > 0)
		log_info("user %s: GitHub user %lld linked",
			 json_string_value(json_object_get(target, "username")),
			 (long long)gh);
	if (r < 0) {
		http_reply_problem(req, api_status_for_errno(r),
				   "cannot store the user");
		goto out;
	}
	row = store_user_get(srv->store,
			     json_string_value(json_object_get(target, "id")));
	http_reply_json(req, 200, api_user_json(row));
	json_decref(row);
out:
	json_decref(body);
	json_decref(target);
	json_decref(user);
}

void
api_users_register(struct http_server *http)
{
	api_login_register(http);
	http_server_route(http, "GET", "/api/v2/buildinfo", 0, 0, api_buildinfo,
			  NULL);
	http_server_route(http, "GET", "/api/v2/users/me", 0, 0, api_users_me,
			  NULL);
	http_server_route(http, "GET", "/api/v2/users", 0, 0, api_users_list,
			  NULL);
	http_server_route(http, "POST", "/api/v2/users", 0, 16384,
			  api_users_create, NULL);
	http_server_route(http, "POST", "/api/v2/users/", HTTP_ROUTE_PREFIX,
			  4096, api_users_prefix, NULL);
	http_server_route(http, "PATCH", "/api/v2/users/", HTTP_ROUTE_PREFIX,
			  4096, api_users_patch, NULL);
	http_server_route(http, "GET", "/api/v2/users/", HTTP_ROUTE_PREFIX, 0,
			  api_users_sub, NULL);
	http_server_route(http, "DELETE", "/api/v2/users/", HTTP_ROUTE_PREFIX,
			  0, api_users_sub, NULL);
}
