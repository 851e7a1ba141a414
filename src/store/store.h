/*
 * store.h: the server's persistent state, in SQLite (the embedded
 * default, WAL mode: store-sqlite.c) or PostgreSQL (libpq: store-pg.c).
 *
 * Rows come back as jansson objects (column name -> value, integers and
 * booleans as integers, text as strings, NULL as null; the same objects
 * from either backend) so the API layer can shape replies without
 * copying fields one by one. Every call is synchronous; statements are
 * small and indexed. Statements are written once for both backends:
 * '?' (or '?N') placeholders and SQL both dialects read alike. The
 * schema is versioned (SQLite: PRAGMA user_version; PostgreSQL: the
 * taskbox_schema table) and migrated on open.
 */
#ifndef TASKBOX_STORE_H
#define TASKBOX_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct store;

/*
 * Open (creating and migrating) the database spec names: a
 * postgresql:// or postgres:// URI (libpq's syntax), else the path of a
 * SQLite file. 0, or -errno with *cause (never naming a password).
 */
int store_open(const char *spec, struct store **out, char **cause);
void store_close(struct store *st);
/* True when spec names a PostgreSQL database rather than a file. */
bool store_spec_is_postgres(const char *spec);
/* Call cb with the time each store_rows, store_row and store_exec call
 * took (metrics); NULL stops. */
void store_on_timing(struct store *st, void (*cb)(uint64_t ns, void *data),
		     void *data);
/* The schema version after migrations. */
int store_schema_version(struct store *st);
/* "sqlite" or "postgresql". */
const char *store_backend(struct store *st);

/*
 * Run sql with parameters described by fmt ('s' string or NULL, 'i'
 * int64_t, 'I' int) and return the rows as a new array, or NULL on error
 * (logged). *err, when given, gets 0 or -errno (-EEXIST for a unique
 * constraint). An 'I' takes its type from where it stands (an integer
 * column, or a truth value: 0 or 1); an 's' is text, an 'i' a 64-bit
 * integer.
 */
json_t *store_rows(struct store *st, int *err, const char *sql, const char *fmt,
		   ...);
/* The first row of store_rows (new reference) or NULL. */
json_t *store_row(struct store *st, const char *sql, const char *fmt, ...);
/* Run a statement without rows; 0, -EEXIST (unique), -ENOSPC (the disk
 * is full), or -EIO. */
int store_exec(struct store *st, const char *sql, const char *fmt, ...);
/* Rows changed by the last store_exec. */
int store_changes(struct store *st);
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);

/* A random UUIDv4 into out. */
void store_uuid(char out[37]);

#endif
