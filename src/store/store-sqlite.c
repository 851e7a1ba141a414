/*
 * store-sqlite.c: SQLite behind store.h (the embedded default).
 *
 * One connection, used from the server's loop thread only. WAL journal,
 * synchronous=NORMAL (a crash loses at most the last transactions, never
 * consistency), foreign keys on, a busy timeout for the CLI or a second
 * process reading the same file. The schema version is PRAGMA
 * user_version, read and bumped inside the migration's write
 * transaction, so two processes opening the same file at once migrate
 * it once.
 */
#include "common.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "store-backend.h"

struct store_sqlite {
	struct store base;
	sqlite3 *db;
};

static const struct store_ops store_sqlite_ops;

/* The SQLite side of st. */
static struct store_sqlite *
store_sqlite(struct store *st)
{
	return (struct store_sqlite *)st;
}

/* Run a parameterless script; 0 or -EIO with *cause. */
static int
store_sqlite_script(struct store_sqlite *sq, const char *sql, char **cause)
{
	char *msg = NULL;

	if (sqlite3_exec(sq->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		*cause = xstrdup(msg ? msg : sqlite3_errmsg(sq->db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

/* The schema version (PRAGMA user_version), -1 on error. */
static int
store_sqlite_user_version(struct store_sqlite *sq)
{
	sqlite3_stmt *stmt;
	int v = -1;

	if (sqlite3_prepare_v2(sq->db, "PRAGMA user_version", -1, &stmt,
			       NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* How many rows break a foreign key (PRAGMA foreign_key_check), the
 * first one in *first as a sentence (a new string, NULL when none);
 * -1 when the check cannot run (*first says why). */
static long
store_sqlite_fk_broken(struct store_sqlite *sq, char **first)
{
	sqlite3_stmt *stmt;
	long n = 0;
	int rc;

	*first = NULL;
	if (sqlite3_prepare_v2(sq->db, "PRAGMA foreign_key_check", -1, &stmt,
			       NULL) != SQLITE_OK) {
		*first = xasprintf("cannot check its foreign keys: %s",
				   sqlite3_errmsg(sq->db));
		return -1;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n++ == 0)
			*first = xasprintf(
				"%s row %lld points at a %s row that does "
				"not exist",
				(const char *)sqlite3_column_text(stmt, 0),
				(long long)sqlite3_column_int64(stmt, 1),
				(const char *)sqlite3_column_text(stmt, 2));
	}
	if (rc != SQLITE_DONE) {
		free(*first);
		*first = xasprintf("cannot check its foreign keys: %s",
				   sqlite3_errmsg(sq->db));
		n = -1;
	}
	sqlite3_finalize(stmt);
	return n;
}

/*
 * Bring the schema up to date, one write transaction per migration; the
 * version is read inside it, so a second process waits and skips what
 * the first did. Foreign keys are off while migrations run (SQLite's
 * way to rebuild a table others point at: a DROP would otherwise
 * cascade), and a migration may not leave more rows breaking one than
 * there were before it (rows a hand edit with foreign keys off left
 * are kept and logged) when it commits.
 */
static int
store_sqlite_migrate(struct store_sqlite *sq, char **cause)
{
	int want = store_migrations_count, have;

	for (;;) {
		char *sql, *broken = NULL;
		long before, after;
		int r;

		if ((r = store_sqlite_script(sq, "BEGIN IMMEDIATE", cause)) < 0)
			return r;
		have = store_sqlite_user_version(sq);
		if (have < 0 || have >= want) {
			sqlite3_exec(sq->db, "COMMIT", NULL, NULL, NULL);
			break;
		}
		/* rows broken before (edited by hand with foreign keys off)
		 * are not the migration's: it may not add any */
		if ((before = store_sqlite_fk_broken(sq, &broken)) > 0)
			log_warn("the database breaks %ld foreign key(s) "
				 "(PRAGMA foreign_key_check): %s",
				 before, broken);
		free(broken);
		broken = NULL;
		sql = xasprintf("%s; PRAGMA user_version = %d;",
				store_migrations[have].sqlite, have + 1);
		r = store_sqlite_script(sq, sql, cause);
		free(sql);
		if (r == 0 &&
		    (after = store_sqlite_fk_broken(sq, &broken)) != 0 &&
		    (after < 0 || before < 0 || after > before)) {
			*cause = after < 0 ? xstrdup(broken)
					   : xasprintf("it would leave a "
						       "foreign key broken "
						       "(%ld rows, %ld "
						       "before): %s",
						       after, before, broken);
			r = -EIO;
		}
		free(broken);
		broken = NULL;
		if (r == 0)
			r = store_sqlite_script(sq, "COMMIT", cause);
		if (r < 0) {
			char *inner = *cause;

			sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
			*cause = xasprintf("migration %d failed: %s", have + 1,
					   inner);
			free(inner);
			return r;
		}
		log_info("database migrated to schema version %d", have + 1);
	}
	if (have < 0) {
		*cause = xasprintf("cannot read the schema version: %s",
				   sqlite3_errmsg(sq->db));
		return -EIO;
	}
	if (have > want) {
		*cause = xasprintf("the database has schema version %d but "
				   "this taskbox knows only up to %d: use a "
				   "newer taskbox",
				   have, want);
		return -EPROTO;
	}
	sq->base.version = want;
	return 0;
}

/*
 * Make path and its -wal and -shm files (when they exist) mode 0600
 * without following links; the database is created 0600 when missing, so
 * SQLite, which gives -wal and -shm the database's mode, never makes them
 * readable by others. 0 or -errno with *cause.
 */
static int
store_sqlite_private(const char *path, char **cause)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};

	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		char *p = xasprintf("%s%s", path, suffixes[i]);
		int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
		int fd = open(p, i == 0 ? flags | O_CREAT : flags, 0600);
		int e = fd < 0 ? errno : 0;

		if (fd >= 0 && fchmod(fd, 0600) < 0)
			e = errno;
		if (fd >= 0)
			close(fd);
		if (e != 0 && !(i > 0 && e == ENOENT)) {
			*cause = xasprintf("cannot make '%s' private: %s", p,
					   strerror(e));
			free(p);
			return -e;
		}
		free(p);
	}
	return 0;
}

/*
 * Put the database in WAL mode. Another process switching the same new
 * file at the same moment makes SQLite answer busy at once, without its
 * busy timeout: wait here instead (5 s at most, at start only).
 */
static int
store_sqlite_wal(struct store_sqlite *sq, char **cause)
{
	for (int i = 0;; i++) {
		char *msg = NULL;
		int rc = sqlite3_exec(sq->db, "PRAGMA journal_mode = WAL", NULL,
				      NULL, &msg);

		if (rc == SQLITE_OK)
			return 0;
		if ((rc & 0xff) != SQLITE_BUSY || i >= 500) {
			*cause = xstrdup(msg ? msg : sqlite3_errmsg(sq->db));
			sqlite3_free(msg);
			return -EIO;
		}
		sqlite3_free(msg);
		usleep(10000);
	}
}

int
store_sqlite_open(const char *path, struct store **out, char **cause)
{
	struct store_sqlite *sq = xcalloc(1, sizeof *sq);
	int r;

	sq->base.ops = &store_sqlite_ops;
	if ((r = store_sqlite_private(path, cause)) < 0) {
		free(sq);
		return r;
	}
	if (sqlite3_open_v2(path, &sq->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		*cause = xasprintf("cannot open the database '%s': %s", path,
				   sqlite3_errmsg(sq->db));
		sqlite3_close(sq->db);
		free(sq);
		return -EIO;
	}
	sqlite3_busy_timeout(sq->db, 5000);
	r = store_sqlite_wal(sq, cause);
	if (r == 0)
		r = store_sqlite_script(sq,
					"PRAGMA synchronous = NORMAL;"
					"PRAGMA foreign_keys = OFF;",
					cause);
	if (r == 0)
		r = store_sqlite_migrate(sq, cause);
	if (r == 0)
		r = store_sqlite_script(sq, "PRAGMA foreign_keys = ON;", cause);
	if (r < 0) {
		store_close(&sq->base);
		return r;
	}
	*out = &sq->base;
	return 0;
}

/* Close the database and free st. */
static void
store_sqlite_close(struct store *st)
{
	sqlite3_close(store_sqlite(st)->db);
	free(st);
}

/* Prepare sql and bind its n parameters; NULL on error (logged). */
static sqlite3_stmt *
store_sqlite_prepare(struct store_sqlite *sq, const char *sql,
		     const struct store_param *p, int n)
{
	sqlite3_stmt *stmt;

	if (sqlite3_prepare_v2(sq->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		log_error("SQL error in '%s': %s", sql, sqlite3_errmsg(sq->db));
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		if (p[i].type == 's' && p[i].s == NULL)
			sqlite3_bind_null(stmt, i + 1);
		else if (p[i].type == 's')
			sqlite3_bind_text(stmt, i + 1, p[i].s, -1,
					  SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(stmt, i + 1, p[i].i);
	}
	return stmt;
}

/* Map a failed step to -errno, logging what is not a constraint. */
static int
store_sqlite_step_error(struct store_sqlite *sq, int rc, const char *sql)
{
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return -EEXIST;
	log_error("SQL error in '%s': %s", sql, sqlite3_errmsg(sq->db));
	return (rc & 0xff) == SQLITE_FULL ? -ENOSPC : -EIO;
}

/* Column i of stmt's current row as JSON (a new reference). */
static json_t *
store_sqlite_value(sqlite3_stmt *stmt, int i)
{
	json_t *v;

	switch (sqlite3_column_type(stmt, i)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(stmt, i));
	case SQLITE_FLOAT:
		return json_real(sqlite3_column_double(stmt, i));
	case SQLITE_NULL:
		return json_null();
	default:
		v = json_stringn((const char *)sqlite3_column_text(stmt, i),
				 (size_t)sqlite3_column_bytes(stmt, i));
		/* not UTF-8: never stored by us */
		return v != NULL ? v : json_null();
	}
}

/* The run op: step through sql's rows. */
static json_t *
store_sqlite_run(struct store *st, int *err, const char *sql,
		 const struct store_param *p, int n)
{
	struct store_sqlite *sq = store_sqlite(st);
	sqlite3_stmt *stmt = store_sqlite_prepare(sq, sql, p, n);
	json_t *rows;
	int rc;

	if (stmt == NULL) {
		*err = -EIO;
		return NULL;
	}
	rows = json_array();
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		json_t *row = json_object();
		int cols = sqlite3_column_count(stmt);

		for (int i = 0; i < cols; i++)
			json_object_set_new(row, sqlite3_column_name(stmt, i),
					    store_sqlite_value(stmt, i));
		json_array_append_new(rows, row);
	}
	if (rc != SQLITE_DONE) {
		*err = store_sqlite_step_error(sq, rc, sql);
		json_decref(rows);
		rows = NULL;
	}
	sqlite3_finalize(stmt);
	return rows;
}

/* The changes op. */
static int
store_sqlite_changes(struct store *st)
{
	return sqlite3_changes(store_sqlite(st)->db);
}

static const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.run = store_sqlite_run,
	.changes = store_sqlite_changes,
	.close = store_sqlite_close,
	.begin = "BEGIN IMMEDIATE",
};
