/*
 * store-providers.c: the providers table (store-rows.h).
 *
 * Data model: one row per provider name with its type, url, region,
 * project and ca_pem ('' when not given) and its credentials as one
 * sealed JSON object (nonce, ciphertext: base64) that only
 * gateway/provider.c opens; generation changes with every write. Rows
 * never hold a credential in clear.
 */
#include "common.h"

#include "store/store-rows.h"

int
store_provider_upsert(struct store *st, const struct store_provider_row *row,
		      int64_t now)
{
	return store_exec(
		st,
		"INSERT INTO providers (name, type, url, region, project, "
		"ca_pem, nonce, ciphertext, generation, created_at, "
		"updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON "
		"CONFLICT (name) DO UPDATE SET type = excluded.type, url = "
		"excluded.url, region = excluded.region, project = "
		"excluded.project, ca_pem = excluded.ca_pem, nonce = "
		"excluded.nonce, ciphertext = excluded.ciphertext, "
		"generation = excluded.generation, updated_at = "
		"excluded.updated_at",
		"ssssssssiii", row->name, row->type, row->url, row->region,
		row->project, row->ca_pem, row->nonce, row->ciphertext,
		row->generation, now, now);
}

json_t *
store_providers_list(struct store *st)
{
	return store_rows(st, NULL,
			  "SELECT name, type, url, region, project, ca_pem, "
			  "nonce, ciphertext, generation, created_at, "
			  "updated_at FROM providers ORDER BY name",
			  "");
}

int64_t
store_providers_count(struct store *st)
{
	json_t *row = store_row(st, "SELECT count(*) AS n FROM providers", "");
	int64_t n = row ? (int64_t)json_integer_value(json_object_get(row, "n"))
			: -EIO;

	json_decref(row);
	return n;
}

int
store_provider_delete(struct store *st, const char *name)
{
	int r = store_exec(st, "DELETE FROM providers WHERE name = ?", "s",
			   name);

	if (r < 0)
		return r;
	return store_changes(st) > 0 ? 0 : -ENOENT;
}
