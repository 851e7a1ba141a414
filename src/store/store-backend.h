/*
 * store-backend.h: what store.c asks of a backend (SQLite, PostgreSQL).
 *
 * A backend embeds struct store as its first member and fills in ops.
 * store.c turns the variadic calls of store.h into an array of
 * struct store_param and dispatches; the backend runs the statement,
 * maps its columns to JSON (integers as integers, text as strings, NULL
 * as null: the same object whichever backend) and its errors to -errno.
 * The migration list is shared: each step carries its SQLite and its
 * PostgreSQL text side by side, and each backend records the version in
 * its own way. Private to src/store/.
 */
#ifndef TASKBOX_STORE_BACKEND_H
#define TASKBOX_STORE_BACKEND_H

#include <jansson.h>
#include <stdint.h>

#include "store.h"

/* One bound parameter: 's' (s, NULL for SQL NULL), 'i' or 'I' (i). */
struct store_param {
	char type;
	const char *s;
	int64_t i;
};

struct store_ops {
	const char *name;
	/* Run sql: its rows as a new array (empty for a statement without
	 * rows), or NULL with *err set (-EEXIST, -ENOSPC, -EIO). */
	json_t *(*run)(struct store *st, int *err, const char *sql,
		       const struct store_param *params, int n);
	int (*changes)(struct store *st);
	void (*close)(struct store *st);
	/* what opens a write transaction */
	const char *begin;
};

struct store {
	const struct store_ops *ops;
	int version;
	void (*timing)(uint64_t ns, void *data); /* store_on_timing */
	void *timing_data;
};

/* One schema step in both dialects. */
struct store_migration {
	const char *sqlite;
	const char *pg;
};

extern const struct store_migration store_migrations[];
extern const int store_migrations_count;

int store_sqlite_open(const char *path, struct store **out, char **cause);
int store_pg_open(const char *uri, struct store **out, char **cause);

/* The PostgreSQL text of sql: '?' and '?N' as $k and $N outside quotes
 * and comments (a new string). */
char *store_pg_placeholders(const char *sql);

#endif
