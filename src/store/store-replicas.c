/*
 * store-replicas.c: the replicas and cluster tables (store-rows.h).
 *
 * Data model: one replicas row per replica that ever ran on this
 * database (its name, the address the others forward to, when it
 * started and its last heartbeat, both by the database's clock in ms);
 * one cluster row holding the secret that signs forwarded requests (64
 * hex digits). The heartbeat itself and the reads of the other replicas
 * go over the cluster connection (store-cluster.c), not through here:
 * these are the synchronous statements of a replica's start.
 * PostgreSQL only (clock_timestamp()): SQLite has one server, no
 * replicas.
 */
#include "common.h"

#include <sodium.h>

#include "store/store-rows.h"

/* The database's clock in ms, as SQL both dialects read alike. */
#define STORE_NOW_MS                                                           \
	"CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"

int64_t
store_replica_clock(struct store *st)
{
	json_t *row = store_row(st, "SELECT " STORE_NOW_MS " AS now", "");
	int64_t now =
		row ? json_integer_value(json_object_get(row, "now")) : -1;

	json_decref(row);
	return now;
}

int
store_cluster_secret(struct store *st, char out[65])
{
	unsigned char key[32];
	char hex[65];
	json_t *row;
	const char *s;
	int r;

	randombytes_buf(key, sizeof key);
	sodium_bin2hex(hex, sizeof hex, key, sizeof key);
	sodium_memzero(key, sizeof key);
	r = store_exec(st,
		       "INSERT INTO cluster (id, secret) VALUES (1, ?) ON "
		       "CONFLICT (id) DO NOTHING",
		       "s", hex);
	sodium_memzero(hex, sizeof hex);
	if (r < 0)
		return r;
	row = store_row(st, "SELECT secret FROM cluster WHERE id = 1", "");
	s = json_string_value(json_object_get(row, "secret"));
	if (s == NULL || strlen(s) != 64) {
		json_decref(row);
		return -EIO;
	}
	memcpy(out, s, 65);
	json_decref(row);
	return 0;
}

int
store_replica_register(struct store *st, const char *id, const char *address)
{
	return store_exec(st,
			  "INSERT INTO replicas (id, address, started_at, "
			  "heartbeat_at) VALUES (?, ?, " STORE_NOW_MS
			  ", " STORE_NOW_MS ") ON CONFLICT (id) DO UPDATE SET "
			  "address = excluded.address, started_at = "
			  "excluded.started_at, heartbeat_at = "
			  "excluded.heartbeat_at",
			  "ss", id, address);
}

json_t *
store_replica_get(struct store *st, const char *id)
{
	return store_row(
		st,
		"SELECT id, address, started_at, heartbeat_at, " STORE_NOW_MS
		" - heartbeat_at AS age_ms FROM replicas WHERE id = ?",
		"s", id);
}
