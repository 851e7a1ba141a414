/*
 * store-secrets.c: the secrets table (store-rows.h).
 *
 * Data model: one row per (scope 'user' or 'template', scope_id, user_id,
 * name) holding a nonce and a ciphertext (base64 text) that only
 * server/secrets.c opens; user_id is '' for a secret every user of the
 * scope gets. Rows never hold a value in clear.
 */
#include "common.h"

#include "store/store-rows.h"

int64_t
store_secrets_count(struct store *st)
{
	json_t *row = store_row(st, "SELECT count(*) AS n FROM secrets", "");
	int64_t n = row ? (int64_t)json_integer_value(json_object_get(row, "n"))
			: -EIO;

	json_decref(row);
	return n;
}

int
store_secret_upsert(struct store *st, const char *id, const char *scope,
		    const char *scope_id, const char *user_id, const char *name,
		    const char *nonce, const char *ct, int64_t now)
{
	return store_exec(
		st,
		"INSERT INTO secrets (id, scope, scope_id, user_id, "
		"name, nonce, ciphertext, created_at, updated_at) VALUES "
		"(?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scope, "
		"scope_id, user_id, name) DO UPDATE SET nonce = "
		"excluded.nonce, ciphertext = excluded.ciphertext, "
		"updated_at = excluded.updated_at",
		"sssssssii", id, scope, scope_id, user_id, name, nonce, ct, now,
		now);
}

json_t *
store_secrets_list(struct store *st, const char *scope, const char *scope_id,
		   const char *user_id)
{
	return store_rows(st, NULL,
			  "SELECT name, user_id, created_at, updated_at FROM "
			  "secrets WHERE scope = ? AND scope_id = ? AND "
			  "(user_id = '' OR user_id = ?) ORDER BY name, "
			  "user_id",
			  "sss", scope, scope_id, user_id);
}

json_t *
store_secret_get(struct store *st, const char *scope, const char *scope_id,
		 const char *user_id, const char *name)
{
	return store_row(
		st,
		"SELECT id, nonce, ciphertext FROM secrets WHERE scope "
		"= ? AND scope_id = ? AND user_id = ? AND name = ?",
		"ssss", scope, scope_id, user_id, name);
}

int
store_secret_reseal(struct store *st, const char *id, const char *nonce,
		    const char *ct)
{
	return store_exec(st,
			  "UPDATE secrets SET nonce = ?, ciphertext = ? WHERE "
			  "id = ?",
			  "sss", nonce, ct, id);
}

int
store_secret_delete(struct store *st, const char *scope, const char *scope_id,
		    const char *user_id, const char *name)
{
	int r = store_exec(st,
			   "DELETE FROM secrets WHERE scope = ? AND scope_id = "
			   "? AND user_id = ? AND name = ?",
			   "ssss", scope, scope_id, user_id, name);

	if (r < 0)
		return r;
	return store_changes(st) > 0 ? 0 : -ENOENT;
}
