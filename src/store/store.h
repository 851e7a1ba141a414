/*
 * store.h: the server's persistent state (SQLite in WAL mode).
 *
 * Rows come back as jansson objects (column name -> value, integers as
 * integers, text as strings, NULL as null) so the API layer can shape
 * replies without copying fields one by one. Every call is synchronous;
 * statements are small and indexed, and WAL keeps readers from blocking.
 * The schema is versioned (PRAGMA user_version) and migrated on open.
 */
#ifndef TASKBOX_STORE_H
#define TASKBOX_STORE_H

#include <jansson.h>

struct store;

/* Open (creating and migrating) the database at path. */
int store_open(const char *path, struct store **out, char **cause);
void store_close(struct store *st);
/* Call cb with the time each store_rows, store_row and store_exec call
 * took (metrics); NULL stops. */
void store_on_timing(struct store *st, void (*cb)(uint64_t ns, void *data),
		     void *data);
/* The schema version after migrations. */
int store_schema_version(struct store *st);

/*
 * Run sql with parameters described by fmt ('s' string or NULL, 'i'
 * int64_t, 'I' int) and return the rows as a new array, or NULL on error
 * (logged). *err, when given, gets 0 or -errno (-EEXIST for a unique
 * constraint).
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
