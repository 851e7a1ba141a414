/*
 * store-extauth.c: external auth's tables (store-rows.h).
 *
 * Data model: external_auth_configs, one row per provider ('github')
 * with the OAuth app's client id, base and API URLs, scopes, the callback
 * URL taskbox sends as redirect_uri and its client secret sealed (nonce,
 * ciphertext); external_auth_links, one row per user and provider with the
 * token JSON sealed, the account's id, login, name and avatar, its expiry
 * (NULL: never), whether it can be refreshed, an error ('' while good), a
 * generation that every token write bumps and a refresh claim (ms) that lets
 * one replica at a time refresh a token. Only server/extauth.c opens the seals.
 * Links cascade with their user.
 */
#include "common.h"

#include "store/store-rows.h"

#define LINK_COLUMNS                                                           \
	"user_id, provider, external_id, login, name, avatar_url, nonce, "     \
	"ciphertext, expires_at, refreshable, error, set_user_github, "        \
	"generation, refresh_claim, checked_at, created_at, updated_at"

json_t *
store_extauth_config_get(struct store *st, const char *provider)
{
	return store_row(st,
			 "SELECT provider, client_id, base_url, api_url, "
			 "scopes, callback_url, nonce, ciphertext, created_at, "
			 "updated_at "
			 "FROM external_auth_configs WHERE provider = ?",
			 "s", provider);
}

int
store_extauth_config_put(struct store *st,
			 const struct store_extauth_config_row *row,
			 int64_t now)
{
	return store_exec(
		st,
		"INSERT INTO external_auth_configs (provider, client_id, "
		"base_url, api_url, scopes, callback_url, nonce, ciphertext, "
		"created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
		"ON CONFLICT (provider) DO UPDATE SET client_id = "
		"excluded.client_id, base_url = excluded.base_url, api_url = "
		"excluded.api_url, scopes = excluded.scopes, callback_url = "
		"excluded.callback_url, nonce = excluded.nonce, "
		"ciphertext = excluded.ciphertext, updated_at = "
		"excluded.updated_at",
		"ssssssssii", row->provider, row->client_id, row->base_url,
		row->api_url, row->scopes, row->callback_url, row->nonce,
		row->ciphertext, now, now);
}

int
store_extauth_config_delete(struct store *st, const char *provider)
{
	int r = store_exec(st,
			   "DELETE FROM external_auth_configs WHERE provider "
			   "= ?",
			   "s", provider);

	if (r < 0)
		return r;
	return store_changes(st) > 0 ? 0 : -ENOENT;
}

json_t *
store_extauth_link_get(struct store *st, const char *user_id,
		       const char *provider)
{
	return store_row(st,
			 "SELECT " LINK_COLUMNS " FROM external_auth_links "
			 "WHERE user_id = ? AND provider = ?",
			 "ss", user_id, provider);
}

int
store_extauth_link_put(struct store *st,
		       const struct store_extauth_link_row *row, int64_t now)
{
	return store_exec(
		st,
		"INSERT INTO external_auth_links (user_id, provider, "
		"external_id, login, name, avatar_url, nonce, ciphertext, "
		"expires_at, refreshable, error, set_user_github, generation, "
		"refresh_claim, checked_at, created_at, updated_at) VALUES "
		"(?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? > 0 THEN ? END, ?, '', "
		"?, 1, 0, ?, ?, ?) ON CONFLICT (user_id, provider) DO UPDATE "
		"SET external_id = excluded.external_id, login = "
		"excluded.login, name = excluded.name, avatar_url = "
		"excluded.avatar_url, nonce = excluded.nonce, ciphertext = "
		"excluded.ciphertext, expires_at = excluded.expires_at, "
		"refreshable = excluded.refreshable, error = '', "
		"set_user_github = excluded.set_user_github, generation = "
		"external_auth_links.generation + 1, refresh_claim = 0, "
		"checked_at = excluded.checked_at, updated_at = "
		"excluded.updated_at",
		"ssisssssiiIIiii", row->user_id, row->provider,
		row->external_id, row->login, row->name, row->avatar_url,
		row->nonce, row->ciphertext, row->expires_at, row->expires_at,
		row->refreshable ? 1 : 0, row->set_user_github ? 1 : 0, now,
		now, now);
}

int
store_extauth_link_refreshed(struct store *st,
			     const struct store_extauth_link_row *row,
			     int64_t generation, int64_t now)
{
	int r = store_exec(
		st,
		"UPDATE external_auth_links SET nonce = ?, ciphertext = ?, "
		"expires_at = CASE WHEN ? > 0 THEN ? END, refreshable = ?, "
		"generation = generation + 1, refresh_claim = 0, updated_at = "
		"? WHERE user_id = ? AND provider = ? AND generation = ?",
		"ssiiIissi", row->nonce, row->ciphertext, row->expires_at,
		row->expires_at, row->refreshable ? 1 : 0, now, row->user_id,
		row->provider, generation);

	if (r < 0)
		return r;
	return store_changes(st) > 0 ? 0 : -ENOENT;
}

int
store_extauth_link_delete(struct store *st, const char *user_id,
			  const char *provider)
{
	int r = store_exec(st,
			   "DELETE FROM external_auth_links WHERE user_id = ? "
			   "AND provider = ?",
			   "ss", user_id, provider);

	if (r < 0)
		return r;
	return store_changes(st) > 0 ? 0 : -ENOENT;
}

int
store_extauth_link_invalidate(struct store *st, const char *user_id,
			      const char *provider, int64_t generation,
			      const char *error, int64_t now)
{
	return store_exec(st,
			  "UPDATE external_auth_links SET error = ?, "
			  "refresh_claim = 0, updated_at = ? WHERE user_id = "
			  "? AND provider = ? AND generation = ?",
			  "sissi", error, now, user_id, provider, generation);
}

int
store_extauth_link_checked(struct store *st, const char *user_id,
			   const char *provider, const char *login,
			   const char *name, const char *avatar_url,
			   int64_t now)
{
	return store_exec(st,
			  "UPDATE external_auth_links SET checked_at = ?, "
			  "login = ?, name = ?, avatar_url = ? WHERE user_id "
			  "= ? AND provider = ?",
			  "isssss", now, login, name, avatar_url, user_id,
			  provider);
}

int
store_extauth_link_claim(struct store *st, const char *user_id,
			 const char *provider, int64_t generation,
			 int64_t until, int64_t now)
{
	int r = store_exec(st,
			   "UPDATE external_auth_links SET refresh_claim = ? "
			   "WHERE user_id = ? AND provider = ? AND generation "
			   "= ? AND error = '' AND refresh_claim < ?",
			   "issii", until, user_id, provider, generation, now);

	if (r < 0)
		return r;
	return store_changes(st) > 0 ? 1 : 0;
}

json_t *
store_extauth_links_expiring(struct store *st, const char *provider,
			     int64_t before, int64_t limit, int64_t now)
{
	return store_rows(st, NULL,
			  "SELECT user_id, generation, expires_at, "
			  "refresh_claim FROM external_auth_links WHERE "
			  "provider = ? AND refreshable = 1 AND error = '' AND "
			  "expires_at IS NOT NULL AND expires_at < ? AND "
			  "refresh_claim < ? ORDER BY expires_at LIMIT ?",
			  "siii", provider, before, now, limit);
}

json_t *
store_extauth_link_next_expiry(struct store *st, const char *provider)
{
	return store_row(st,
			 "SELECT min(expires_at) AS expires_at FROM "
			 "external_auth_links WHERE provider = ? AND "
			 "refreshable = 1 AND error = '' AND expires_at IS NOT "
			 "NULL",
			 "s", provider);
}
