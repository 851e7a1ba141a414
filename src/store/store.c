/*
 * store.c: SQLite behind store.h.
 *
 * One connection, used from the server's loop thread only. WAL journal,
 * synchronous=NORMAL (a crash loses at most the last transactions, never
 * consistency), foreign keys on, a busy timeout for the CLI or a second
 * process reading the same file. Migrations are an append-only list:
 * migration N moves the schema from user_version N-1 to N inside one
 * transaction; never edit a released one, add the next.
 */
#include "common.h"

#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "store.h"

struct store {
	sqlite3 *db;
	int version;
	void (*timing)(uint64_t ns, void *data); /* store_on_timing */
	void *timing_data;
};

static const char *const store_migrations[] = {
	/* 1: users, tokens, templates, modules, tasks */
	"CREATE TABLE users ("
	"  id TEXT PRIMARY KEY,"
	"  username TEXT NOT NULL UNIQUE,"
	"  role TEXT NOT NULL CHECK (role IN ('admin', 'member')),"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE tokens ("
	"  id TEXT PRIMARY KEY,"
	"  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  hash TEXT NOT NULL UNIQUE,"
	"  created_at INTEGER NOT NULL,"
	"  last_used_at INTEGER);"
	"CREATE TABLE templates ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  builtin INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  active_version_id TEXT);"
	"CREATE TABLE template_versions ("
	"  id TEXT PRIMARY KEY,"
	"  template_id TEXT NOT NULL REFERENCES templates(id),"
	"  version INTEGER NOT NULL,"
	"  yaml TEXT NOT NULL,"
	"  spec TEXT NOT NULL,"
	"  task_capable INTEGER NOT NULL,"
	"  task_reason TEXT NOT NULL,"
	"  created_by TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (template_id, version));"
	"CREATE TABLE modules ("
	"  name TEXT PRIMARY KEY,"
	"  yaml TEXT NOT NULL,"
	"  spec TEXT NOT NULL,"
	"  builtin INTEGER NOT NULL,"
	"  created_by TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE TABLE tasks ("
	"  id TEXT PRIMARY KEY,"
	"  seq INTEGER NOT NULL UNIQUE,"
	"  owner_id TEXT NOT NULL REFERENCES users(id),"
	"  name TEXT NOT NULL,"
	"  display_name TEXT NOT NULL,"
	"  template_version_id TEXT NOT NULL"
	"    REFERENCES template_versions(id),"
	"  parameters TEXT NOT NULL,"
	"  prompt TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  status_reason TEXT NOT NULL DEFAULT '',"
	"  workspace_status TEXT NOT NULL,"
	"  agent_type TEXT NOT NULL DEFAULT '',"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  deleted_at INTEGER);"
	"CREATE UNIQUE INDEX tasks_owner_name ON tasks (owner_id, lower(name))"
	"  WHERE deleted_at IS NULL;"
	"CREATE INDEX tasks_owner_created ON tasks (owner_id, created_at);",
	/* 2: user identity (name, email); encrypted secrets */
	"ALTER TABLE users ADD COLUMN name TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';"
	"CREATE TABLE secrets ("
	"  id TEXT PRIMARY KEY,"
	"  scope TEXT NOT NULL CHECK (scope IN ('user', 'template')),"
	"  scope_id TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  nonce TEXT NOT NULL,"
	"  ciphertext TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  UNIQUE (scope, scope_id, name));",
	/* 3: the state history; the workspace's process for re-attaching */
	"CREATE TABLE task_states ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  task_id TEXT NOT NULL REFERENCES tasks(id),"
	"  state TEXT NOT NULL,"
	"  message TEXT NOT NULL,"
	"  uri TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL);"
	"CREATE INDEX task_states_task ON task_states (task_id, id);"
	"ALTER TABLE tasks ADD COLUMN ws_pid INTEGER;"
	"ALTER TABLE tasks ADD COLUMN ws_starttime INTEGER;"
	"ALTER TABLE users ADD COLUMN webhook_url TEXT NOT NULL DEFAULT '';",
	/*
	 * 4: whose a template secret is (user_id '' = every user of the
	 * template, set by an admin; else only that user's tasks); token
	 * expiry; browser sessions. A template secret stored before is
	 * attributed to the template's author when the author is not an
	 * admin (they, or an admin, set it: the safe reading is theirs
	 * alone); for built-ins and admins' templates only admins could set
	 * it, so it stays shared.
	 */
	"CREATE TABLE secrets_v4 ("
	"  id TEXT PRIMARY KEY,"
	"  scope TEXT NOT NULL CHECK (scope IN ('user', 'template')),"
	"  scope_id TEXT NOT NULL,"
	"  user_id TEXT NOT NULL DEFAULT '',"
	"  name TEXT NOT NULL,"
	"  nonce TEXT NOT NULL,"
	"  ciphertext TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  UNIQUE (scope, scope_id, user_id, name));"
	"CREATE TEMP VIEW secrets_author AS SELECT s.id AS id, ("
	"  SELECT v.created_by FROM template_versions v"
	"  WHERE v.template_id = s.scope_id ORDER BY v.version LIMIT 1)"
	"  AS author FROM secrets s WHERE s.scope = 'template';"
	"INSERT INTO secrets_v4 SELECT s.id, s.scope, s.scope_id,"
	"  coalesce((SELECT a.author FROM secrets_author a"
	"    WHERE a.id = s.id AND a.author IS NOT NULL AND"
	"    (SELECT role FROM users WHERE id = a.author) IS NOT 'admin'),"
	"    ''),"
	"  s.name, s.nonce, s.ciphertext, s.created_at, s.updated_at"
	"  FROM secrets s;"
	"DROP VIEW secrets_author;"
	"DROP TABLE secrets;"
	"ALTER TABLE secrets_v4 RENAME TO secrets;"
	"ALTER TABLE tokens ADD COLUMN expires_at INTEGER;"
	"CREATE TABLE sessions ("
	"  id TEXT PRIMARY KEY,"
	"  hash TEXT NOT NULL UNIQUE,"
	"  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  token_id TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,"
	"  path TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL);"
	"CREATE INDEX sessions_token ON sessions (token_id);"
	"CREATE INDEX sessions_user ON sessions (user_id, created_at);",
	/*
	 * 5: the send queue (server/queue.c). An entry is 'queued' until
	 * the server starts delivering it, 'sending' while it does; a
	 * delivered or cancelled entry is deleted. 'sending' is committed
	 * before the runtime is asked, so a crash in between never sends
	 * it again (at most once).
	 */
	"CREATE TABLE task_queue ("
	"  id TEXT PRIMARY KEY,"
	"  task_id TEXT NOT NULL REFERENCES tasks(id),"
	"  seq INTEGER NOT NULL,"
	"  input TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('queued', 'sending')),"
	"  created_by TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (task_id, seq));",
	/*
	 * 6: what the server itself saw of a task, never read back from
	 * its files: its home was laid out (a restart never seeds it
	 * again), its prompt was delivered, an agent ran. Tasks from
	 * before count as all three (never re-seed, never send twice).
	 * And the last task seq handed out, which only grows: a deleted
	 * task's seq (its uid) is never given again while its files may
	 * still be going away.
	 */
	"ALTER TABLE tasks ADD COLUMN laid_out INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN prompt_delivered INTEGER NOT NULL "
	"  DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN agent_started INTEGER NOT NULL "
	"  DEFAULT 0;"
	"UPDATE tasks SET laid_out = 1, prompt_delivered = 1, "
	"  agent_started = 1;"
	"CREATE TABLE counters ("
	"  name TEXT PRIMARY KEY,"
	"  value INTEGER NOT NULL);"
	"INSERT INTO counters (name, value) SELECT 'task_seq', "
	"  COALESCE(MAX(seq), 0) FROM tasks;"
	"CREATE TRIGGER tasks_seq AFTER INSERT ON tasks BEGIN"
	"  UPDATE counters SET value = max(value, NEW.seq)"
	"  WHERE name = 'task_seq';"
	"END;",
};

void
store_uuid(char out[37])
{
	unsigned char b[16];

	randombytes_buf(b, sizeof b);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Run a parameterless script; 0 or -EIO with *cause. */
static int
store_script(struct store *st, const char *sql, char **cause)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		*cause = xstrdup(msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

/* Bring the schema up to date, one transaction per migration. */
static int
store_migrate(struct store *st, char **cause)
{
	json_t *row = store_row(st, "PRAGMA user_version", "");
	int have = row ? (int)json_integer_value(
				 json_object_get(row, "user_version"))
		       : 0;
	int want = (int)ARRAY_SIZE(store_migrations);

	json_decref(row);
	if (have > want) {
		*cause = xasprintf("the database has schema version %d but "
				   "this taskbox knows only up to %d: use a "
				   "newer taskbox",
				   have, want);
		return -EPROTO;
	}
	for (int v = have; v < want; v++) {
		char *sql = xasprintf("BEGIN IMMEDIATE; %s; PRAGMA "
				      "user_version = %d; COMMIT;",
				      store_migrations[v], v + 1);
		int r = store_script(st, sql, cause);

		free(sql);
		if (r < 0) {
			char *inner = *cause;

			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			*cause = xasprintf("migration %d failed: %s", v + 1,
					   inner);
			free(inner);
			return r;
		}
		log_info("database migrated to schema version %d", v + 1);
	}
	st->version = want;
	return 0;
}

/*
 * Make path and its -wal and -shm files (when they exist) mode 0600
 * without following links; the database is created 0600 when missing, so
 * SQLite, which gives -wal and -shm the database's mode, never makes them
 * readable by others. 0 or -errno with *cause.
 */
static int
store_private(const char *path, char **cause)
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

int
store_open(const char *path, struct store **out, char **cause)
{
	struct store *st = xcalloc(1, sizeof *st);
	int r;

	if (sodium_init() < 0) {
		*cause = xstrdup("libsodium failed to initialise");
		free(st);
		return -EIO;
	}
	if ((r = store_private(path, cause)) < 0) {
		free(st);
		return r;
	}
	if (sqlite3_open_v2(path, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		*cause = xasprintf("cannot open the database '%s': %s", path,
				   sqlite3_errmsg(st->db));
		sqlite3_close(st->db);
		free(st);
		return -EIO;
	}
	sqlite3_busy_timeout(st->db, 5000);
	r = store_script(st,
			 "PRAGMA journal_mode = WAL;"
			 "PRAGMA synchronous = NORMAL;"
			 "PRAGMA foreign_keys = ON;",
			 cause);
	if (r == 0)
		r = store_migrate(st, cause);
	if (r < 0) {
		store_close(st);
		return r;
	}
	*out = st;
	return 0;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	sqlite3_close(st->db);
	free(st);
}

int
store_schema_version(struct store *st)
{
	return st->version;
}

/* Prepare sql and bind fmt's parameters from ap; NULL on error. */
static sqlite3_stmt *
store_prepare(struct store *st, const char *sql, const char *fmt, va_list ap)
{
	sqlite3_stmt *stmt;

	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		log_error("SQL error in '%s': %s", sql, sqlite3_errmsg(st->db));
		return NULL;
	}
	for (int i = 0; fmt[i] != '\0'; i++) {
		switch (fmt[i]) {
		case 's': {
			const char *s = va_arg(ap, const char *);

			if (s == NULL)
				sqlite3_bind_null(stmt, i + 1);
			else
				sqlite3_bind_text(stmt, i + 1, s, -1,
						  SQLITE_TRANSIENT);
			break;
		}
		case 'i':
			sqlite3_bind_int64(stmt, i + 1, va_arg(ap, int64_t));
			break;
		case 'I':
			sqlite3_bind_int(stmt, i + 1, va_arg(ap, int));
			break;
		default:
			BUG();
		}
	}
	return stmt;
}

/* Map a failed step to -errno, logging what is not a constraint. */
static int
store_step_error(struct store *st, int rc, const char *sql)
{
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return -EEXIST;
	log_error("SQL error in '%s': %s", sql, sqlite3_errmsg(st->db));
	return (rc & 0xff) == SQLITE_FULL ? -ENOSPC : -EIO;
}

/* store_rows with a va_list. */
static json_t *
store_vrows(struct store *st, int *err, const char *sql, const char *fmt,
	    va_list ap)
{
	sqlite3_stmt *stmt = store_prepare(st, sql, fmt, ap);
	json_t *rows;
	int rc;

	if (err != NULL)
		*err = 0;
	if (stmt == NULL) {
		if (err != NULL)
			*err = -EIO;
		return NULL;
	}
	rows = json_array();
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		json_t *row = json_object();
		int n = sqlite3_column_count(stmt);

		for (int i = 0; i < n; i++) {
			const char *name = sqlite3_column_name(stmt, i);
			json_t *v;

			switch (sqlite3_column_type(stmt, i)) {
			case SQLITE_INTEGER:
				v = json_integer(sqlite3_column_int64(stmt, i));
				break;
			case SQLITE_NULL:
				v = json_null();
				break;
			default:
				v = json_stringn(
					(const char *)sqlite3_column_text(stmt,
									  i),
					(size_t)sqlite3_column_bytes(stmt, i));
				if (v ==
				    NULL) /* not UTF-8: never stored by us */
					v = json_null();
				break;
			}
			json_object_set_new(row, name, v);
		}
		json_array_append_new(rows, row);
	}
	if (rc != SQLITE_DONE) {
		int e = store_step_error(st, rc, sql);

		if (err != NULL)
			*err = e;
		json_decref(rows);
		rows = NULL;
	}
	sqlite3_finalize(stmt);
	return rows;
}

void
store_on_timing(struct store *st, void (*cb)(uint64_t ns, void *data),
		void *data)
{
	st->timing = cb;
	st->timing_data = data;
}

/* The monotonic clock in nanoseconds (0 when nobody times the calls). */
static uint64_t
store_clock(const struct store *st)
{
	struct timespec ts;

	if (st->timing == NULL)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Report the time since start (store_clock) of one call. */
static void
store_timed(const struct store *st, uint64_t start)
{
	if (st->timing != NULL)
		st->timing(store_clock(st) - start, st->timing_data);
}

json_t *
store_rows(struct store *st, int *err, const char *sql, const char *fmt, ...)
{
	uint64_t start = store_clock(st);
	va_list ap;
	json_t *rows;

	va_start(ap, fmt);
	rows = store_vrows(st, err, sql, fmt, ap);
	va_end(ap);
	store_timed(st, start);
	return rows;
}

json_t *
store_row(struct store *st, const char *sql, const char *fmt, ...)
{
	uint64_t start = store_clock(st);
	va_list ap;
	json_t *rows, *row = NULL;

	va_start(ap, fmt);
	rows = store_vrows(st, NULL, sql, fmt, ap);
	va_end(ap);
	store_timed(st, start);
	if (rows != NULL && json_array_size(rows) > 0)
		row = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return row;
}

int
store_exec(struct store *st, const char *sql, const char *fmt, ...)
{
	uint64_t start = store_clock(st);
	va_list ap;
	sqlite3_stmt *stmt;
	int rc, r = 0;

	va_start(ap, fmt);
	stmt = store_prepare(st, sql, fmt, ap);
	va_end(ap);
	if (stmt == NULL) {
		store_timed(st, start);
		return -EIO;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		r = store_step_error(st, rc, sql);
	sqlite3_finalize(stmt);
	store_timed(st, start);
	return r;
}

int
store_changes(struct store *st)
{
	return sqlite3_changes(st->db);
}

int
store_begin(struct store *st)
{
	return store_exec(st, "BEGIN IMMEDIATE", "");
}

int
store_commit(struct store *st)
{
	return store_exec(st, "COMMIT", "");
}

void
store_rollback(struct store *st)
{
	store_exec(st, "ROLLBACK", "");
}
