/*
 * test-store.c: the store against a real backend.
 *
 * The backend is the one TASKBOX_TEST_STORE_SPEC names (a PostgreSQL URI,
 * as tests/integration/store.test.mjs passes) or a new SQLite file; a
 * second empty database for the two-openers test comes from
 * TASKBOX_TEST_STORE_SPEC2 (else another new SQLite file). Each test
 * works in its own table, so the database is only ever added to. What
 * is checked: the placeholders' translation, values round-tripping with
 * the same JSON from either backend, constraint errors, transactions,
 * migrations run once however often and however many open, every row of
 * a database at schema 10 kept through migration 11 (which rebuilds the
 * SQLite users table: a third empty database, TASKBOX_TEST_STORE_SPEC3,
 * else a new SQLite file; skipped on PostgreSQL without it), and (with
 * PostgreSQL) a broken connection coming back.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "core/buf.h"
#include "store/store-backend.h"
#include "store/store.h"

static char *spec, *spec2, *spec3, *tmp;
static struct store *st;

/* A new SQLite file path in the test's directory (a new string). */
static char *
test_sqlite_path(const char *name)
{
	return xasprintf("%s/%s.db", tmp, name);
}

/* Open the store under test once for all tests. */
static int
setup(void **state)
{
	char *cause = NULL;
	char tmpl[] = "/tmp/taskbox-test-store-XXXXXX";

	tmp = xstrdup(mkdtemp(tmpl));
	spec = getenv("TASKBOX_TEST_STORE_SPEC")
		       ? xstrdup(getenv("TASKBOX_TEST_STORE_SPEC"))
		       : test_sqlite_path("one");
	spec2 = getenv("TASKBOX_TEST_STORE_SPEC2")
			? xstrdup(getenv("TASKBOX_TEST_STORE_SPEC2"))
			: test_sqlite_path("two");
	spec3 = getenv("TASKBOX_TEST_STORE_SPEC3")
			? xstrdup(getenv("TASKBOX_TEST_STORE_SPEC3"))
		: store_spec_is_postgres(spec) ? NULL
					       : test_sqlite_path("three");
	if (store_open(spec, &st, &cause) < 0) {
		fprintf(stderr, "cannot open the store: %s\n", cause);
		return -1;
	}
	return 0;
}

/* Close the store and remove the SQLite files. */
static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", tmp);

	store_close(st);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove '%s'\n", tmp);
	free(cmd);
	free(spec);
	free(spec2);
	free(spec3);
	free(tmp);
	return 0;
}

/* Assert that the PostgreSQL text of sql is want. */
static void
check_placeholders(const char *sql, const char *want)
{
	char *got = store_pg_placeholders(sql);

	assert_string_equal(got, want);
	free(got);
}

static void
test_placeholders(void **state)
{
	check_placeholders("SELECT ? , ?", "SELECT $1 , $2");
	/* in literals, quoted names and comments a '?' is text */
	check_placeholders("SELECT '?', 'it''s ?', \"a?\" FROM t WHERE x = ?",
			   "SELECT '?', 'it''s ?', \"a?\" FROM t WHERE x = $1");
	check_placeholders("SELECT ? -- ?\n, ? /* ? */ , ?",
			   "SELECT $1 -- ?\n, $2 /* ? */ , $3");
	/* numbered ones keep their number; a bare one follows the largest */
	check_placeholders("a = ?1 OR b = ?1 AND c < ?2 OR d = ?",
			   "a = $1 OR b = $1 AND c < $2 OR d = $3");
	/* an unterminated literal or comment is copied as it is */
	check_placeholders("SELECT 'x?", "SELECT 'x?");
	check_placeholders("SELECT /* ?", "SELECT /* ?");
}

static void
test_placeholder_in_literal_runs(void **state)
{
	json_t *row = store_row(st, "SELECT '?' AS q, 'a''?b' AS r, ? AS v",
				"s", "x");

	assert_non_null(row);
	assert_string_equal(json_string_value(json_object_get(row, "q")), "?");
	assert_string_equal(json_string_value(json_object_get(row, "r")),
			    "a'?b");
	assert_string_equal(json_string_value(json_object_get(row, "v")), "x");
	json_decref(row);
}

static void
test_types(void **state)
{
	const char *text = "it's \"quoted\"; -- not a comment; é 日本 🎉 ?";
	json_t *row;

	assert_int_equal(store_exec(st,
				    "CREATE TABLE t_types (k TEXT PRIMARY KEY, "
				    "n BIGINT, s TEXT, f INTEGER)",
				    ""),
			 0);
	assert_int_equal(store_exec(st,
				    "INSERT INTO t_types (k, n, s, f) VALUES "
				    "(?, ?, ?, ?)",
				    "sisI", "max", (int64_t)INT64_MAX, text, 1),
			 0);
	assert_int_equal(store_exec(st,
				    "INSERT INTO t_types (k, n, s, f) VALUES "
				    "(?, ?, ?, ?)",
				    "sisI", "min", (int64_t)INT64_MIN, NULL, 0),
			 0);
	row = store_row(st, "SELECT * FROM t_types WHERE k = ?", "s", "max");
	assert_non_null(row);
	assert_true(json_is_integer(json_object_get(row, "n")));
	assert_true(json_integer_value(json_object_get(row, "n")) == INT64_MAX);
	assert_string_equal(json_string_value(json_object_get(row, "s")), text);
	assert_int_equal(json_integer_value(json_object_get(row, "f")), 1);
	json_decref(row);
	row = store_row(st, "SELECT * FROM t_types WHERE k = ?", "s", "min");
	assert_true(json_integer_value(json_object_get(row, "n")) == INT64_MIN);
	assert_true(json_is_null(json_object_get(row, "s")));
	json_decref(row);
	/* a count, a sum, a NULL parameter: integers and null as SQLite
	 * gives them */
	row = store_row(st,
			"SELECT count(*) AS c, sum(f) AS total, "
			"count(CASE WHEN k <> ? THEN 1 END) AS others, "
			"max(?) AS absent FROM t_types",
			"ss", "max", NULL);
	assert_non_null(row);
	assert_true(json_is_integer(json_object_get(row, "c")));
	assert_int_equal(json_integer_value(json_object_get(row, "c")), 2);
	assert_true(json_is_integer(json_object_get(row, "total")));
	assert_int_equal(json_integer_value(json_object_get(row, "total")), 1);
	assert_int_equal(json_integer_value(json_object_get(row, "others")), 1);
	assert_true(json_is_null(json_object_get(row, "absent")));
	json_decref(row);
	row = store_row(st, "SELECT (f = 1) AS b FROM t_types WHERE k = ?", "s",
			"max");
	assert_true(json_is_integer(json_object_get(row, "b")));
	assert_int_equal(json_integer_value(json_object_get(row, "b")), 1);
	json_decref(row);
	/* an 'I' as a truth value (as api-users.c lists tokens) */
	row = store_row(st,
			"SELECT count(*) AS c FROM t_types WHERE (? OR n > ?)",
			"Ii", 0, (int64_t)0);
	assert_int_equal(json_integer_value(json_object_get(row, "c")), 1);
	json_decref(row);
}

static void
test_unique(void **state)
{
	json_t *rows;
	int err;

	assert_int_equal(store_exec(st,
				    "CREATE TABLE t_unique (k TEXT PRIMARY "
				    "KEY, v TEXT NOT NULL)",
				    ""),
			 0);
	assert_int_equal(store_exec(st,
				    "INSERT INTO t_unique (k, v) VALUES (?, ?)",
				    "ss", "a", "1"),
			 0);
	assert_int_equal(store_exec(st,
				    "INSERT INTO t_unique (k, v) VALUES (?, ?)",
				    "ss", "a", "2"),
			 -EEXIST);
	rows = store_rows(st, &err, "INSERT INTO t_unique (k, v) VALUES (?, ?)",
			  "ss", "a", "3");
	assert_null(rows);
	assert_int_equal(err, -EEXIST);
	/* the store goes on after it */
	rows = store_rows(st, &err, "SELECT v FROM t_unique", "");
	assert_int_equal(err, 0);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
	/* an error that is not a constraint */
	assert_int_equal(store_exec(st, "SELECT * FROM no_such_table", ""),
			 -EIO);
}

static void
test_transaction(void **state)
{
	json_t *row;

	assert_int_equal(store_exec(st,
				    "CREATE TABLE t_tx (k TEXT PRIMARY KEY, "
				    "n BIGINT NOT NULL)",
				    ""),
			 0);
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(
		store_exec(st, "INSERT INTO t_tx (k, n) VALUES ('a', 1)", ""),
		0);
	/* the caller's pattern: the first error, then ROLLBACK */
	assert_int_equal(
		store_exec(st, "INSERT INTO t_tx (k, n) VALUES ('a', 2)", ""),
		-EEXIST);
	store_rollback(st);
	row = store_row(st, "SELECT count(*) AS c FROM t_tx", "");
	assert_int_equal(json_integer_value(json_object_get(row, "c")), 0);
	json_decref(row);
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_exec(st,
				    "INSERT INTO t_tx (k, n) VALUES ('a', 1), "
				    "('b', 1), ('c', 2)",
				    ""),
			 0);
	assert_int_equal(store_commit(st), 0);
	assert_int_equal(
		store_exec(st, "UPDATE t_tx SET n = n + 1 WHERE n = ?", "I", 1),
		0);
	assert_int_equal(store_changes(st), 2);
	assert_int_equal(
		store_exec(st, "DELETE FROM t_tx WHERE k = ?", "s", "none"), 0);
	assert_int_equal(store_changes(st), 0);
}

static void
test_reopen(void **state)
{
	struct store *again;
	char *cause = NULL;

	assert_int_equal(store_schema_version(st), store_migrations_count);
	/* the test tables stay; migrations do not run again */
	assert_int_equal(store_open(spec, &again, &cause), 0);
	assert_int_equal(store_schema_version(again), store_migrations_count);
	assert_int_equal(store_exec(again,
				    "INSERT INTO t_unique (k, v) VALUES (?, ?)",
				    "ss", "reopened", "x"),
			 0);
	store_close(again);
}

static void
test_two_open_at_once(void **state)
{
	int go[2], status;
	pid_t pids[2];
	struct store *one;
	char *cause = NULL;
	json_t *row;

	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct store *mine;
			char c;

			close(go[1]);
			/* both start when the pipe closes */
			if (read(go[0], &c, 1) < 0)
				_exit(3);
			if (store_open(spec2, &mine, &cause) < 0) {
				fprintf(stderr, "child %d: %s\n", i, cause);
				_exit(1);
			}
			_exit(store_schema_version(mine) ==
					      store_migrations_count
				      ? 0
				      : 2);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	/* one schema: each table once, each built-in row once */
	assert_int_equal(store_open(spec2, &one, &cause), 0);
	row = store_row(one,
			"SELECT count(*) AS c FROM counters WHERE name = ?",
			"s", "task_seq");
	assert_non_null(row);
	assert_int_equal(json_integer_value(json_object_get(row, "c")), 1);
	json_decref(row);
	store_close(one);
}

/*
 * Run sql (statements; no parameters) on the database at spec without
 * the store (which would migrate it): sqlite3 or libpq. 0, or -1 after
 * printing why.
 */
static int
raw_script(const char *at, const char *sql)
{
	int r = 0;

	if (store_spec_is_postgres(at)) {
		PGconn *c = PQconnectdb(at);
		PGresult *res = PQexec(c, sql);

		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(stderr, "raw_script: %s\n", PQerrorMessage(c));
			r = -1;
		}
		PQclear(res);
		PQfinish(c);
	} else {
		sqlite3 *db = NULL;
		char *err = NULL;

		if (sqlite3_open(at, &db) != SQLITE_OK ||
		    sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
			fprintf(stderr, "raw_script: %s\n",
				err ? err : sqlite3_errmsg(db));
			r = -1;
		}
		sqlite3_free(err);
		sqlite3_close(db);
	}
	return r;
}

/* How many rows table holds in the store in. */
static int64_t
count_of(struct store *in, const char *table)
{
	char *sql = xasprintf("SELECT count(*) AS n FROM %s", table);
	json_t *row = store_row(in, sql, "");
	int64_t n;

	free(sql);
	assert_non_null(row);
	n = (int64_t)json_integer_value(json_object_get(row, "n"));
	json_decref(row);
	return n;
}

/* What a database at schema 10 holds (the tables of every migration up to
 * it, written as that schema had them). */
static const char v10_rows[] =
	"INSERT INTO users (id, username, role, created_at, name, email, "
	"webhook_url, password_hash, status) VALUES "
	"('u-a', 'ada', 'admin', 1, 'Ada L', 'ada@example.com', "
	"'https://hooks.example.com/a', '$argon2id$hash-a', 'active'), "
	"('u-b', 'bob', 'member', 2, '', '', '', '', 'suspended');"
	"INSERT INTO tokens (id, user_id, name, hash, created_at, "
	"last_used_at, expires_at) VALUES "
	"('t-a', 'u-a', 'cli', 'hash-a', 1, 5, NULL), "
	"('t-b', 'u-b', 'ci', 'hash-b', 2, NULL, 9000000000000);"
	"INSERT INTO sessions (id, hash, user_id, token_id, path, "
	"created_at, expires_at) VALUES "
	"('s-a', 'shash-a', 'u-a', 't-a', '/@ada/x/', 3, 9000000000000), "
	"('s-b', 'shash-b', 'u-b', NULL, '/', 3, 9000000000000);"
	"INSERT INTO templates (id, name, builtin, created_at, "
	"active_version_id) VALUES ('tp', 'tpl', 0, 1, 'v1');"
	"INSERT INTO template_versions (id, template_id, version, yaml, "
	"spec, task_capable, task_reason, created_by, created_at) VALUES "
	"('v1', 'tp', 1, 'name: tpl', '{}', 1, '', 'u-a', 1);"
	"INSERT INTO tasks (id, seq, owner_id, name, display_name, "
	"template_version_id, parameters, prompt, status, workspace_status, "
	"agent_type, created_at, updated_at, replica_id) VALUES "
	"('k1', 1, 'u-b', 'one', 'One', 'v1', '{}', 'hi', 'active', "
	"'running', 'claude', 4, 5, ''), "
	"('k2', 2, 'u-a', 'two', 'Two', 'v1', '{}', 'yo', 'paused', "
	"'stopped', 'claude', 6, 7, '');"
	"INSERT INTO task_states (task_id, state, message, uri, created_at) "
	"VALUES ('k1', 'working', 'on it', '', 8), ('k1', 'idle', 'done', "
	"'', 9);"
	"INSERT INTO task_queue (id, task_id, seq, input, state, "
	"created_by, created_at) VALUES ('q1', 'k1', 1, 'next', 'queued', "
	"'u-a', 10);"
	"INSERT INTO secrets (id, scope, scope_id, user_id, name, nonce, "
	"ciphertext, created_at, updated_at) VALUES ('sec1', 'user', "
	"'u-b', '', 'github_token', 'nonce', 'sealed', 1, 1), ('sec2', "
	"'template', 'tp', 'u-b', 'api_key', 'nonce2', 'sealed2', 2, 2);"
	"INSERT INTO usage (task_id, hour_ms, provider, model, owner_id, "
	"template_id, provider_type, requests, input_tokens, "
	"output_tokens, cache_read_input_tokens, "
	"cache_creation_input_tokens, cost_nusd) VALUES ('k1', 3600000, "
	"'p', 'm', 'u-b', 'tp', 'anthropic', 2, 10, 20, 3, 4, 5000);"
	"INSERT INTO user_budgets (user_id, tokens, usd_nusd, updated_at) "
	"VALUES ('u-b', 1000, NULL, 1), ('u-a', NULL, 7000000000, 1);";

static void
test_migration_11_keeps_rows(void **state)
{
	static const struct {
		const char *table;
		int64_t n;
	} counts[] = {
		{"users", 2},
		{"tokens", 2},
		{"sessions", 2},
		{"tasks", 2},
		{"task_states", 2},
		{"task_queue", 1},
		{"secrets", 2},
		{"usage", 1},
		{"user_budgets", 2},
		{"templates", 1},
		{"template_versions", 1},
	};
	struct buf b;
	struct store *v;
	char *cause = NULL;
	json_t *row;

	if (spec3 == NULL)
		skip(); /* PostgreSQL without a third database */
	/* the schema as version 10 left it, and its rows */
	buf_init(&b, 0);
	for (int i = 0; i < 10; i++)
		buf_printf(&b, "%s;",
			   store_spec_is_postgres(spec3)
				   ? store_migrations[i].pg
				   : store_migrations[i].sqlite);
	if (store_spec_is_postgres(spec3))
		buf_puts(&b, "CREATE TABLE taskbox_schema (id INTEGER PRIMARY "
			     "KEY CHECK (id = 1), version INTEGER NOT NULL);"
			     "INSERT INTO taskbox_schema VALUES (1, 10);");
	else
		buf_puts(&b, "PRAGMA user_version = 10;");
	buf_puts(&b, v10_rows);
	assert_int_equal(raw_script(spec3, b.data), 0);
	buf_release(&b);

	/* the store migrates it: every row is there */
	if (store_open(spec3, &v, &cause) < 0)
		fail_msg("migration: %s", cause);
	assert_int_equal(store_schema_version(v), store_migrations_count);
	for (size_t i = 0; i < ARRAY_SIZE(counts); i++)
		if (count_of(v, counts[i].table) != counts[i].n)
			fail_msg("%s: %lld rows", counts[i].table,
				 (long long)count_of(v, counts[i].table));
	row = store_row(v,
			"SELECT username, role, created_at, name, email, "
			"webhook_url, password_hash, status, github_user_id, "
			"github_login FROM users WHERE id = 'u-a'",
			"");
	assert_non_null(row);
	assert_string_equal(json_string_value(json_object_get(row, "name")),
			    "Ada L");
	assert_string_equal(json_string_value(json_object_get(row, "email")),
			    "ada@example.com");
	assert_string_equal(
		json_string_value(json_object_get(row, "webhook_url")),
		"https://hooks.example.com/a");
	assert_string_equal(
		json_string_value(json_object_get(row, "password_hash")),
		"$argon2id$hash-a");
	assert_string_equal(json_string_value(json_object_get(row, "role")),
			    "admin");
	assert_true(json_is_null(json_object_get(row, "github_user_id")));
	assert_string_equal(
		json_string_value(json_object_get(row, "github_login")), "");
	json_decref(row);
	row = store_row(v, "SELECT status FROM users WHERE id = 'u-b'", "");
	assert_string_equal(json_string_value(json_object_get(row, "status")),
			    "suspended");
	json_decref(row);
	/* the rows that point at users still find them */
	row = store_row(v,
			"SELECT u.username FROM tokens t JOIN users u ON "
			"u.id = t.user_id JOIN sessions s ON s.token_id = "
			"t.id WHERE t.hash = 'hash-a'",
			"");
	assert_non_null(row);
	json_decref(row);
	row = store_row(v,
			"SELECT created_by, preset_id, status FROM tasks "
			"WHERE id = 'k1'",
			"");
	assert_string_equal(
		json_string_value(json_object_get(row, "created_by")), "");
	assert_string_equal(
		json_string_value(json_object_get(row, "preset_id")), "");
	assert_string_equal(json_string_value(json_object_get(row, "status")),
			    "active");
	json_decref(row);
	row = store_row(v,
			"SELECT requests, cost_nusd FROM usage WHERE "
			"owner_id = 'u-b'",
			"");
	assert_int_equal(json_integer_value(json_object_get(row, "cost_nusd")),
			 5000);
	json_decref(row);
	/* migration 13: a queued entry kept, never sent (sent_at 0) */
	row = store_row(v,
			"SELECT input, state, sent_at FROM task_queue WHERE "
			"id = 'q1'",
			"");
	assert_non_null(row);
	assert_string_equal(json_string_value(json_object_get(row, "input")),
			    "next");
	assert_string_equal(json_string_value(json_object_get(row, "state")),
			    "queued");
	assert_int_equal(json_integer_value(json_object_get(row, "sent_at")),
			 0);
	json_decref(row);
	/* the new role is allowed, others are not; the foreign keys hold
	 * on the new table: a user with tasks stays, tokens, sessions and
	 * budgets cascade */
	assert_int_equal(store_exec(v,
				    "UPDATE users SET role = 'task-creator' "
				    "WHERE id = 'u-b'",
				    ""),
			 0);
	assert_int_equal(
		store_exec(v,
			   "UPDATE users SET role = 'owner' WHERE id = 'u-b'",
			   ""),
		-EEXIST);
	assert_int_equal(
		store_exec(v, "DELETE FROM users WHERE id = 'u-b'", ""),
		-EEXIST);
	assert_int_equal(
		store_exec(v, "DELETE FROM tasks WHERE owner_id = 'u-a'", ""),
		0);
	assert_int_equal(
		store_exec(v, "DELETE FROM users WHERE id = 'u-a'", ""), 0);
	assert_int_equal(count_of(v, "tokens"), 1);
	assert_int_equal(count_of(v, "sessions"), 1);
	assert_int_equal(count_of(v, "user_budgets"), 1);
	store_close(v);
}

/* The schema version of the SQLite file at path, read without the
 * store (-1 on error). */
static int
raw_user_version(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int v = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

/*
 * SQLite at schema 10 with a row a hand edit left pointing at a deleted
 * user (the sqlite3 shell has foreign keys off): migration 11 keeps it
 * and runs; one that fails changes nothing and says why; foreign keys
 * are enforced afterwards.
 */
static void
test_migration_11_sqlite_edges(void **state)
{
	char *path, *cause = NULL;
	struct store *v;
	struct buf b;

	if (store_spec_is_postgres(spec))
		skip();
	path = test_sqlite_path("edges");
	buf_init(&b, 0);
	for (int i = 0; i < 10; i++)
		buf_printf(&b, "%s;", store_migrations[i].sqlite);
	buf_puts(&b, "PRAGMA user_version = 10;");
	buf_puts(&b, v10_rows);
	buf_puts(&b, "INSERT INTO tokens (id, user_id, name, hash, "
		     "created_at) VALUES ('t-x', 'u-gone', 'old', 'hash-x', "
		     "1);"
		     /* in the way of migration 11's rebuild */
		     "CREATE TABLE users_v11 (x);");
	assert_int_equal(raw_script(path, b.data), 0);
	buf_release(&b);

	/* a migration that fails: nothing of it stays, the cause is named */
	assert_true(store_open(path, &v, &cause) < 0);
	assert_non_null(strstr(cause, "migration 11 failed"));
	assert_non_null(strstr(cause, "users_v11"));
	free(cause);
	cause = NULL;
	assert_int_equal(raw_user_version(path), 10);
	assert_int_equal(raw_script(path, "INSERT INTO users (id, username, "
					  "role, created_at) VALUES ('u-t', "
					  "'tc', 'task-creator', 1)"),
			 -1); /* the old CHECK: the rebuild was undone */

	/* the broken row was there before: kept, not the migration's */
	assert_int_equal(raw_script(path, "DROP TABLE users_v11"), 0);
	if (store_open(path, &v, &cause) < 0)
		fail_msg("migration: %s", cause);
	assert_int_equal(store_schema_version(v), store_migrations_count);
	assert_int_equal(count_of(v, "users"), 2);
	assert_int_equal(count_of(v, "tokens"), 3);
	assert_int_equal(count_of(v, "sessions"), 2);
	/* enforced again once migrated */
	assert_int_equal(store_exec(v,
				    "INSERT INTO tokens (id, user_id, name, "
				    "hash, created_at) VALUES ('t-y', "
				    "'u-none', 'n', 'hash-y', 1)",
				    ""),
			 -EEXIST);
	assert_int_equal(
		store_exec(v, "DELETE FROM users WHERE id = 'u-b'", ""),
		-EEXIST); /* its tasks point at it */
	store_close(v);
	free(path);
}

static void
test_pg_reconnect(void **state)
{
	json_t *row;

	if (strcmp(store_backend(st), "postgresql") != 0)
		skip();
	/* the server ends this connection: the statement fails (sent
	 * again once, failing again), the next one runs on a new one */
	assert_int_equal(
		store_exec(st, "SELECT pg_terminate_backend(pg_backend_pid())",
			   ""),
		-EIO);
	row = store_row(st, "SELECT 1 AS one", "");
	assert_non_null(row);
	assert_int_equal(json_integer_value(json_object_get(row, "one")), 1);
	json_decref(row);
	/* inside a transaction: the transaction is gone, its ROLLBACK
	 * passes, the next statement runs */
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_exec(st,
				    "INSERT INTO t_tx (k, n) VALUES "
				    "('lost', 1)",
				    ""),
			 0);
	assert_int_equal(
		store_exec(st, "SELECT pg_terminate_backend(pg_backend_pid())",
			   ""),
		-EIO);
	assert_int_equal(store_exec(st,
				    "INSERT INTO t_tx (k, n) VALUES "
				    "('after', 1)",
				    ""),
			 -EIO);
	store_rollback(st);
	row = store_row(st,
			"SELECT count(*) AS c FROM t_tx WHERE k IN "
			"('lost', 'after')",
			"");
	assert_non_null(row);
	assert_int_equal(json_integer_value(json_object_get(row, "c")), 0);
	json_decref(row);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placeholders),
		cmocka_unit_test(test_placeholder_in_literal_runs),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_unique),
		cmocka_unit_test(test_transaction),
		cmocka_unit_test(test_reopen),
		cmocka_unit_test(test_two_open_at_once),
		cmocka_unit_test(test_migration_11_keeps_rows),
		cmocka_unit_test(test_migration_11_sqlite_edges),
		cmocka_unit_test(test_pg_reconnect),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
