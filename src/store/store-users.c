/*
 * store-users.c: the users, tokens and sessions tables (store-rows.h).
 *
 * Data model: a user (id, unique username, role 'admin', 'member' or
 * 'task-creator', profile: name, email, webhook_url; an argon2id
 * password_hash, '' for none; status 'active' or 'suspended'; the linked
 * GitHub account: github_user_id, unique, NULL for none, and
 * github_login); their tokens (a hash of the secret,
 * an optional expiry, last use noted once a minute) and browser sessions
 * (a hash of the cookie, the token it came from or NULL for one made
 * from a password, the path it is good under, an expiry). Rows handed
 * to the server never carry password_hash, only has_password (0 or 1),
 * except store_user_login's and store_user_password's. Tokens and sessions
 * cascade with their user, and sessions with their token. Tasks, secrets and
 * queue rows point at users without a cascade: store_user_delete removes them
 * first.
 */
#include "common.h"

#include "store/store-rows.h"

#define USER_COLUMNS                                                           \
	"id, username, role, created_at, name, email, webhook_url, status, "   \
	"github_user_id, github_login, "                                       \
	"CASE WHEN password_hash = '' THEN 0 ELSE 1 END AS has_password"
/* what auth.c's rows carry of the user (u: users) */
#define USER_AUTH_COLUMNS                                                      \
	"u.id, u.username, u.role, u.name, u.email, u.webhook_url, "           \
	"u.created_at, u.status, u.github_user_id, u.github_login, "           \
	"CASE WHEN u.password_hash = '' THEN 0 ELSE 1 END AS has_password"
#define TOKEN_COLUMNS                                                          \
	"id, user_id, name, hash, created_at, last_used_at, expires_at"
#define SESSION_COLUMNS                                                        \
	"id, hash, user_id, token_id, path, created_at, expires_at"

json_t *
store_users_list(struct store *st)
{
	return store_rows(
		st, NULL,
		"SELECT " USER_COLUMNS " FROM users ORDER BY username", "");
}

int
store_user_insert(struct store *st, const char *id, const char *username,
		  const char *role, int64_t now)
{
	return store_exec(st,
			  "INSERT INTO users (id, username, role, created_at) "
			  "VALUES (?, ?, ?, ?)",
			  "sssi", id, username, role, now);
}

json_t *
store_user_get(struct store *st, const char *id)
{
	return store_row(st, "SELECT " USER_COLUMNS " FROM users WHERE id = ?",
			 "s", id);
}

json_t *
store_user_find(struct store *st, const char *ref)
{
	return store_row(st,
			 "SELECT " USER_COLUMNS
			 " FROM users WHERE id = ? OR username = ?",
			 "ss", ref, ref);
}

json_t *
store_user_find_github(struct store *st, int64_t github_user_id)
{
	return store_row(st,
			 "SELECT " USER_COLUMNS
			 " FROM users WHERE github_user_id = ?",
			 "i", github_user_id);
}

int
store_user_set_github(struct store *st, const char *id, int64_t github_user_id,
		      const char *login)
{
	if (github_user_id <= 0)
		return store_exec(st,
				  "UPDATE users SET github_user_id = NULL, "
				  "github_login = '' WHERE id = ?",
				  "s", id);
	return store_exec(st,
			  "UPDATE users SET github_user_id = ?, github_login = "
			  "? WHERE id = ?",
			  "iss", github_user_id, login, id);
}

json_t *
store_user_identity(struct store *st, const char *id)
{
	return store_row(st,
			 "SELECT username, name, email FROM users WHERE id = ?",
			 "s", id);
}

json_t *
store_user_webhook(struct store *st, const char *id)
{
	return store_row(st, "SELECT webhook_url, role FROM users WHERE id = ?",
			 "s", id);
}

int
store_user_set_profile(struct store *st, const char *id, const char *name,
		       const char *email, const char *webhook_url)
{
	return store_exec(st,
			  "UPDATE users SET name = coalesce(?, name), email = "
			  "coalesce(?, email), webhook_url = coalesce(?, "
			  "webhook_url) WHERE id = ?",
			  "ssss", name, email, webhook_url, id);
}

json_t *
store_user_login(struct store *st, const char *username)
{
	return store_row(st,
			 "SELECT id, status, password_hash FROM users WHERE "
			 "username = ?",
			 "s", username);
}

json_t *
store_user_password(struct store *st, const char *id)
{
	return store_row(st, "SELECT password_hash FROM users WHERE id = ?",
			 "s", id);
}

int
store_user_set_password(struct store *st, const char *id, const char *hash)
{
	int r = store_exec(st,
			   "UPDATE users SET password_hash = ? WHERE id = ?",
			   "ss", hash, id);

	if (r < 0)
		return r;
	return store_changes(st) > 0 ? 0 : -ENOENT;
}

int
store_user_set_access(struct store *st, const char *id, const char *role,
		      const char *status)
{
	return store_exec(st,
			  "UPDATE users SET role = coalesce(?, role), status = "
			  "coalesce(?, status) WHERE id = ?",
			  "sss", role, status, id);
}

int
store_user_end_sessions(struct store *st, const char *id, const char *keep)
{
	return store_exec(st,
			  "DELETE FROM sessions WHERE user_id = ? AND id <> ?",
			  "ss", id, keep ? keep : "");
}

int64_t
store_users_count(struct store *st)
{
	json_t *row = store_row(st, "SELECT count(*) AS n FROM users", "");
	int64_t n = row ? (int64_t)json_integer_value(json_object_get(row, "n"))
			: -EIO;

	json_decref(row);
	return n;
}

json_t *
store_user_first_admin(struct store *st)
{
	return store_row(st,
			 "SELECT id FROM users WHERE role = 'admin' "
			 "ORDER BY created_at, id LIMIT 1",
			 "");
}

json_t *
store_user_counts(struct store *st, const char *id)
{
	return store_row(
		st,
		"SELECT (SELECT count(*) FROM tasks WHERE owner_id = ? "
		"AND deleted_at IS NULL) AS tasks, (SELECT count(*) "
		"FROM users WHERE role = 'admin') AS admins",
		"s", id);
}

int
store_user_sign_out(struct store *st, const char *id)
{
	int r = store_exec(st, "DELETE FROM sessions WHERE user_id = ?", "s",
			   id);
	int r2 =
		store_exec(st, "DELETE FROM tokens WHERE user_id = ?", "s", id);

	return r < 0 ? r : r2;
}

int
store_user_delete(struct store *st, const char *id)
{
	/* every statement takes id once or twice */
	static const char *const sql[] = {
		"DELETE FROM task_states WHERE task_id IN (SELECT id FROM "
		"tasks WHERE owner_id = ?)",
		"DELETE FROM task_queue WHERE task_id IN (SELECT id FROM "
		"tasks WHERE owner_id = ?)",
		"DELETE FROM tasks WHERE owner_id = ?",
		"DELETE FROM secrets WHERE (scope = 'user' AND scope_id = ?) "
		"OR user_id = ?",
		"DELETE FROM users WHERE id = ?",
	};
	json_t *busy;
	int r;

	if ((r = store_begin(st)) < 0)
		return r;
	/* a task made (with one of their tokens) while theirs were being
	 * deleted */
	busy = store_row(st,
			 "SELECT id FROM tasks WHERE owner_id = ? AND "
			 "deleted_at IS NULL LIMIT 1",
			 "s", id);
	r = busy != NULL ? -EBUSY : 0;
	json_decref(busy);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(sql); i++)
		r = store_exec(st, sql[i], i == 3 ? "ss" : "s", id, id);
	if (r == 0)
		r = store_commit(st);
	if (r < 0)
		store_rollback(st);
	return r;
}

int
store_token_insert(struct store *st, const char *id, const char *user_id,
		   const char *name, const char *hash, int64_t now,
		   int64_t expires_at)
{
	if (expires_at <= 0)
		return store_exec(
			st,
			"INSERT INTO tokens (id, user_id, name, hash, "
			"created_at) VALUES (?, ?, ?, ?, ?)",
			"ssssi", id, user_id, name, hash, now);
	return store_exec(st,
			  "INSERT INTO tokens (id, user_id, name, hash, "
			  "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
			  "ssssii", id, user_id, name, hash, now, expires_at);
}

json_t *
store_token_find_by_hash(struct store *st, const char *hash)
{
	return store_row(st,
			 "SELECT " USER_AUTH_COLUMNS ", t.id AS token_id, "
			 "t.expires_at AS token_expires_at FROM "
			 "tokens t JOIN users u ON "
			 "u.id = t.user_id WHERE t.hash = ?",
			 "s", hash);
}

int
store_token_touch(struct store *st, const char *id, int64_t now, int64_t gap_ms)
{
	return store_exec(st,
			  "UPDATE tokens SET last_used_at = ? WHERE id = ? AND "
			  "(last_used_at IS NULL OR last_used_at < ?)",
			  "isi", now, id, now - gap_ms);
}

json_t *
store_tokens_list(struct store *st, const char *user_id)
{
	return store_rows(st, NULL,
			  "SELECT " TOKEN_COLUMNS " FROM tokens WHERE user_id "
			  "= ? ORDER BY created_at, id",
			  "s", user_id);
}

/* Run a DELETE of one row; 0, -ENOENT when it matched none, or -EIO. */
static int
store_delete_one(struct store *st, const char *sql, const char *a,
		 const char *b)
{
	int r = store_exec(st, sql, "ss", a, b);

	if (r < 0)
		return r;
	return store_changes(st) > 0 ? 0 : -ENOENT;
}

int
store_token_delete(struct store *st, const char *id, const char *user_id)
{
	return store_delete_one(
		st, "DELETE FROM tokens WHERE id = ? AND user_id = ?", id,
		user_id);
}

int
store_session_insert(struct store *st, const char *id, const char *hash,
		     const char *user_id, const char *token_id,
		     const char *path, int64_t now, int64_t expires_at)
{
	return store_exec(st,
			  "INSERT INTO sessions (id, hash, user_id, token_id, "
			  "path, created_at, expires_at) VALUES (?, ?, ?, ?, "
			  "?, ?, ?)",
			  "sssssii", id, hash, user_id, token_id, path, now,
			  expires_at);
}

int
store_sessions_prune(struct store *st, const char *user_id, int64_t now,
		     int keep)
{
	int r = store_exec(st, "DELETE FROM sessions WHERE expires_at <= ?",
			   "i", now);
	int r2 = store_exec(st,
			    "DELETE FROM sessions WHERE user_id = ? AND id NOT "
			    "IN (SELECT id FROM sessions WHERE user_id = ? "
			    "ORDER BY created_at DESC, id DESC LIMIT ?)",
			    "ssI", user_id, user_id, keep);

	return r < 0 ? r : r2;
}

json_t *
store_session_find_by_hash(struct store *st, const char *hash)
{
	return store_row(st,
			 "SELECT " USER_AUTH_COLUMNS ", t.id AS token_id, "
			 "t.expires_at AS token_expires_at, s.id AS "
			 "session_id, s.path AS session_path, s.expires_at AS "
			 "session_expires_at FROM sessions s LEFT JOIN tokens "
			 "t ON t.id = s.token_id JOIN users u ON u.id = "
			 "s.user_id "
			 "WHERE s.hash = ?",
			 "s", hash);
}

json_t *
store_sessions_list(struct store *st, const char *user_id, int64_t now)
{
	return store_rows(st, NULL,
			  "SELECT " SESSION_COLUMNS " FROM sessions WHERE "
			  "user_id = ? AND expires_at > ? ORDER BY created_at, "
			  "id",
			  "si", user_id, now);
}

int
store_session_delete(struct store *st, const char *id, const char *user_id)
{
	return store_delete_one(
		st, "DELETE FROM sessions WHERE id = ? AND user_id = ?", id,
		user_id);
}
