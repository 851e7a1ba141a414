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
 * migrations run once however often and however many open, and (with
 * PostgreSQL) a broken connection coming back.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store-backend.h"
#include "store/store.h"

static char *spec, *spec2, *tmp;
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
		cmocka_unit_test(test_pg_reconnect),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
