/*
 * test-store-rows.c: the named statements of store-rows.h against a real
 * SQLite database: what each returns (rows, -EEXIST, -ENOENT, -EBUSY),
 * the transactions that are one function, and the rewrites made for
 * PostgreSQL (session pruning without LIMIT -1, the task counter taken
 * without the trigger, integers for what were booleans).
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>
#include <unistd.h>

#include "store/store-rows.h"

struct fixture {
	char dir[32];
	char *db;
	struct store *st;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	char *cause = NULL;

	snprintf(f->dir, sizeof f->dir, "/tmp/test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->db = xasprintf("%s/t.db", f->dir);
	assert_int_equal(store_open(f->db, &f->st, &cause), 0);
	assert_int_equal(store_user_insert(f->st, "u1", "ada", "admin", 1), 0);
	assert_int_equal(store_user_insert(f->st, "u2", "bob", "member", 2), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *p;

	store_close(f->st);
	for (int i = 0; i < 3; i++) {
		p = xasprintf("%s%s", f->db,
			      i == 0   ? ""
			      : i == 1 ? "-wal"
				       : "-shm");
		unlink(p);
		free(p);
	}
	rmdir(f->dir);
	free(f->db);
	free(f);
	return 0;
}

/* The integer key of row (0 when missing). */
static int64_t
num(const json_t *row, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(row, key));
}

/* The string key of row ("" when missing). */
static const char *
str(const json_t *row, const char *key)
{
	return json_string_value(json_object_get(row, key)) ?: "";
}

/* Add template tmpl (version 1 by author) and return its version id. */
static void
add_template(struct store *st, const char *tid, const char *vid,
	     const char *author)
{
	assert_int_equal(store_template_version_add(st, tid, tid, 0, vid,
						    "name: x", "{}", 1, "",
						    author, 5),
			 0);
}

static void
test_users(void **state)
{
	struct fixture *f = *state;
	json_t *row, *rows;

	assert_int_equal(store_user_insert(f->st, "u3", "ada", "member", 3),
			 -EEXIST);
	assert_int_equal(store_users_count(f->st), 2);
	row = store_user_get(f->st, "u2");
	assert_string_equal(str(row, "username"), "bob");
	assert_non_null(json_object_get(row, "webhook_url"));
	json_decref(row);
	row = store_user_find(f->st, "bob");
	assert_string_equal(str(row, "id"), "u2");
	json_decref(row);
	assert_null(store_user_find(f->st, "carol"));
	assert_int_equal(store_user_set_profile(f->st, "u2", "Bob", NULL,
						"https://h.example/x"),
			 0);
	assert_int_equal(store_user_set_profile(f->st, "u2", NULL, "b@x", NULL),
			 0);
	row = store_user_identity(f->st, "u2");
	assert_string_equal(str(row, "name"), "Bob");
	assert_string_equal(str(row, "email"), "b@x");
	json_decref(row);
	row = store_user_webhook(f->st, "u2");
	assert_string_equal(str(row, "webhook_url"), "https://h.example/x");
	assert_string_equal(str(row, "role"), "member");
	json_decref(row);
	row = store_user_first_admin(f->st);
	assert_string_equal(str(row, "id"), "u1");
	json_decref(row);
	rows = store_users_list(f->st);
	assert_int_equal(json_array_size(rows), 2);
	assert_string_equal(str(json_array_get(rows, 0), "username"), "ada");
	json_decref(rows);
}

static void
test_tokens_sessions(void **state)
{
	struct fixture *f = *state;
	json_t *row, *rows;
	char id[8], hash[8];

	assert_int_equal(
		store_token_insert(f->st, "t1", "u2", "cli", "h1", 100, 0), 0);
	assert_int_equal(
		store_token_insert(f->st, "t2", "u2", "ci", "h2", 100, 500), 0);
	assert_int_equal(
		store_token_insert(f->st, "t3", "u2", "x", "h2", 100, 0),
		-EEXIST);
	row = store_token_find_by_hash(f->st, "h1");
	assert_string_equal(str(row, "username"), "bob");
	assert_string_equal(str(row, "token_id"), "t1");
	assert_true(json_is_null(json_object_get(row, "token_expires_at")));
	json_decref(row);
	row = store_token_find_by_hash(f->st, "h2");
	assert_int_equal(num(row, "token_expires_at"), 500);
	json_decref(row);

	/* last use is noted at most once per gap */
	assert_int_equal(store_token_touch(f->st, "t1", 1000, 60), 0);
	assert_int_equal(store_token_touch(f->st, "t1", 1050, 60), 0);
	rows = store_tokens_list(f->st, "u2");
	assert_int_equal(json_array_size(rows), 2);
	assert_int_equal(num(json_array_get(rows, 0), "last_used_at"), 1000);
	json_decref(rows);

	/* a user keeps the newest sessions; expired ones go */
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof id, "s%d", i);
		snprintf(hash, sizeof hash, "sh%d", i);
		assert_int_equal(store_sessions_prune(f->st, "u2", 10 + i, 2),
				 0);
		assert_int_equal(store_session_insert(f->st, id, hash, "u2",
						      "t1", "/@bob/", 10 + i,
						      1000),
				 0);
	}
	rows = store_sessions_list(f->st, "u2", 0);
	assert_int_equal(json_array_size(rows), 3);
	assert_string_equal(str(json_array_get(rows, 0), "id"), "s2");
	json_decref(rows);
	row = store_session_find_by_hash(f->st, "sh4");
	assert_string_equal(str(row, "session_path"), "/@bob/");
	assert_int_equal(num(row, "session_expires_at"), 1000);
	json_decref(row);
	rows = store_sessions_list(f->st, "u2", 1000);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	assert_int_equal(store_sessions_prune(f->st, "u2", 1000, 2), 0);
	assert_null(store_session_find_by_hash(f->st, "sh4"));

	assert_int_equal(store_token_delete(f->st, "t1", "u1"), -ENOENT);
	assert_int_equal(store_token_delete(f->st, "t1", "u2"), 0);
	assert_int_equal(store_session_delete(f->st, "s4", "u2"), -ENOENT);
	assert_int_equal(store_user_sign_out(f->st, "u2"), 0);
	assert_null(store_token_find_by_hash(f->st, "h2"));
}

static void
test_passwords_sessions(void **state)
{
	struct fixture *f = *state;
	json_t *row;

	/* no password: has_password 0, login's hash '' */
	row = store_user_get(f->st, "u2");
	assert_int_equal(num(row, "has_password"), 0);
	assert_string_equal(str(row, "status"), "active");
	assert_null(json_object_get(row, "password_hash"));
	json_decref(row);
	assert_int_equal(store_user_set_password(f->st, "u2", "$argon2id$x"),
			 0);
	assert_int_equal(store_user_set_password(f->st, "nobody", "h"),
			 -ENOENT);
	row = store_user_login(f->st, "bob");
	assert_string_equal(str(row, "id"), "u2");
	assert_string_equal(str(row, "password_hash"), "$argon2id$x");
	json_decref(row);
	assert_null(store_user_login(f->st, "u2")); /* by username only */
	row = store_user_find(f->st, "bob");
	assert_int_equal(num(row, "has_password"), 1);
	json_decref(row);
	/* role and status, each kept when NULL */
	assert_int_equal(store_user_set_access(f->st, "u2", NULL, "suspended"),
			 0);
	assert_int_equal(store_user_set_access(f->st, "u2", "admin", NULL), 0);
	row = store_user_get(f->st, "u2");
	assert_string_equal(str(row, "status"), "suspended");
	assert_string_equal(str(row, "role"), "admin");
	json_decref(row);
	assert_true(store_user_set_access(f->st, "u2", NULL, "gone") < 0);
	/* a session without a token (a password's), found with its user */
	assert_int_equal(store_session_insert(f->st, "s1", "h1", "u2", NULL,
					      "/", 10, 1000),
			 0);
	assert_int_equal(store_session_insert(f->st, "s2", "h2", "u2", NULL,
					      "/", 11, 1000),
			 0);
	row = store_session_find_by_hash(f->st, "h1");
	assert_string_equal(str(row, "id"), "u2");
	assert_true(json_is_null(json_object_get(row, "token_id")));
	assert_string_equal(str(row, "session_path"), "/");
	assert_string_equal(str(row, "status"), "suspended");
	json_decref(row);
	/* all but one session end, then all */
	assert_int_equal(store_user_end_sessions(f->st, "u2", "s1"), 0);
	row = store_sessions_list(f->st, "u2", 0);
	assert_int_equal(json_array_size(row), 1);
	json_decref(row);
	assert_int_equal(store_user_end_sessions(f->st, "u2", NULL), 0);
	row = store_sessions_list(f->st, "u2", 0);
	assert_int_equal(json_array_size(row), 0);
	json_decref(row);
}

static void
test_catalog(void **state)
{
	struct fixture *f = *state;
	json_t *row, *rows;

	add_template(f->st, "tpl", "v1", "u2");
	assert_int_equal(store_template_version_add(f->st, "tpl", NULL, 0, "v2",
						    "name: y", "{}", 0, "why",
						    "u2", 6),
			 0);
	/* a second template of the same name: nothing of it stays */
	assert_int_equal(store_template_version_add(f->st, "tpl2", "tpl", 0,
						    "v9", "", "{}", 0, "", NULL,
						    7),
			 -EEXIST);
	assert_null(store_template_version_get(f->st, "v9"));
	row = store_template_find(f->st, "tpl");
	assert_string_equal(str(row, "version_id"), "v2");
	assert_int_equal(num(row, "version"), 2);
	assert_string_equal(str(row, "yaml"), "name: y");
	json_decref(row);
	row = store_template_version_get(f->st, "v1");
	assert_int_equal(num(row, "by_admin"), 0);
	assert_int_equal(num(row, "version"), 1);
	json_decref(row);
	add_template(f->st, "built", "vb", NULL);
	row = store_template_version_get(f->st, "vb");
	assert_true(json_is_integer(json_object_get(row, "by_admin")));
	assert_int_equal(num(row, "by_admin"), 1);
	json_decref(row);
	row = store_template_author(f->st, "tpl");
	assert_string_equal(str(row, "created_by"), "u2");
	json_decref(row);
	rows = store_templates_list(f->st);
	assert_int_equal(json_array_size(rows), 2);
	assert_string_equal(str(json_array_get(rows, 0), "name"), "built");
	json_decref(rows);

	assert_int_equal(store_module_upsert(f->st, "m", "a: 1", "{\"a\":1}", 0,
					     "u2", 10),
			 0);
	assert_int_equal(
		store_module_upsert(f->st, "m", "a: 1", "{}", 1, NULL, 20), 0);
	row = store_module_get(f->st, "m");
	assert_int_equal(num(row, "updated_at"), 10); /* same yaml: kept */
	assert_string_equal(str(row, "created_by"), "u2");
	json_decref(row);
	assert_int_equal(
		store_module_upsert(f->st, "m", "a: 2", "{}", 1, NULL, 30), 0);
	row = store_module_spec(f->st, "m");
	assert_string_equal(str(row, "spec"), "{}");
	json_decref(row);
	rows = store_modules_list(f->st);
	assert_int_equal(num(json_array_get(rows, 0), "builtin"), 1);
	json_decref(rows);
}

static void
test_tasks(void **state)
{
	struct fixture *f = *state;
	json_t *row, *rows;
	char state_msg[16];

	add_template(f->st, "tpl", "v1", "u2");
	assert_int_equal(store_task_insert(f->st, "k1", "u2", "One", "One",
					   "v1", "{}", "", "hi", "claude", "",
					   "", 10),
			 0);
	/* the name is unique per owner in any case; no seq is used up */
	assert_int_equal(store_task_insert(f->st, "k2", "u2", "one", "one",
					   "v1", "{}", "", "hi", "claude", "",
					   "", 11),
			 -EEXIST);
	assert_int_equal(store_task_insert(f->st, "k2", "u1", "one", "one",
					   "v1", "{}", "p-1", "hi", "claude",
					   "", "u2", 12),
			 0);
	row = store_task_get(f->st, "k2");
	assert_int_equal(num(row, "seq"), 2);
	assert_string_equal(str(row, "owner_name"), "ada");
	assert_string_equal(str(row, "created_by"), "u2");
	assert_string_equal(str(row, "status"), "pending");
	assert_string_equal(str(row, "preset_id"), "p-1");
	assert_int_equal(num(row, "laid_out"), 0);
	assert_true(json_is_null(json_object_get(row, "ws_pid")));
	json_decref(row);
	row = store_task_find(f->st, "u2", "ONE");
	assert_string_equal(str(row, "id"), "k1");
	json_decref(row);

	assert_int_equal(
		store_task_set_status(f->st, "k1", "active", "", "running", 20),
		0);
	assert_int_equal(store_task_set_prompt(f->st, "k1", "again", 21), 0);
	assert_int_equal(store_task_set_flag(f->st, "k1", "prompt_delivered"),
			 0);
	assert_int_equal(store_task_set_ws(f->st, "k1", 4242, 99), 0);
	row = store_task_get(f->st, "k1");
	assert_string_equal(str(row, "workspace_status"), "running");
	assert_string_equal(str(row, "prompt"), "again");
	assert_int_equal(num(row, "prompt_delivered"), 1);
	assert_int_equal(num(row, "ws_pid"), 4242);
	assert_int_equal(num(row, "updated_at"), 21);
	json_decref(row);
	assert_int_equal(store_task_clear_ws(f->st, "k1"), 0);

	rows = store_tasks_list(f->st, NULL);
	assert_int_equal(json_array_size(rows), 2);
	assert_string_equal(str(json_array_get(rows, 0), "id"), "k2");
	json_decref(rows);
	rows = store_tasks_list(f->st, "u2");
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);

	for (int i = 0; i < 10; i++) {
		snprintf(state_msg, sizeof state_msg, "m%d", i);
		assert_int_equal(store_task_state_add(f->st, "k1", "working",
						      state_msg, "", 30 + i),
				 0);
	}
	assert_int_equal(store_task_states_trim(f->st, "k1", 3), 0);
	rows = store_task_states(f->st, "k1");
	assert_int_equal(json_array_size(rows), 3);
	assert_string_equal(str(json_array_get(rows, 0), "message"), "m7");
	json_decref(rows);
	row = store_task_state_last(f->st, "k1");
	assert_string_equal(str(row, "message"), "m9");
	json_decref(row);

	/* a deleted task's seq and name are free again, its seq is not */
	assert_int_equal(store_task_set_deleted(f->st, "k2", 40), 0);
	rows = store_tasks_live(f->st);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
	assert_int_equal(store_task_insert(f->st, "k3", "u1", "one", "one",
					   "v1", "{}", "", "hi", "claude", "",
					   "", 41),
			 0);
	row = store_task_get(f->st, "k3");
	assert_int_equal(num(row, "seq"), 3);
	json_decref(row);

	row = store_template_uses(f->st, "tpl", "u2");
	assert_int_equal(num(row, "n"), 2);
	assert_int_equal(num(row, "others"), 1);
	json_decref(row);
	row = store_user_counts(f->st, "u2");
	assert_int_equal(num(row, "tasks"), 1);
	assert_int_equal(num(row, "admins"), 1);
	json_decref(row);
}

static void
test_queue(void **state)
{
	struct fixture *f = *state;
	json_t *row, *rows;

	add_template(f->st, "tpl", "v1", "u2");
	assert_int_equal(store_task_insert(f->st, "k1", "u2", "t", "t", "v1",
					   "{}", "", "", "claude", "", "", 1),
			 0);
	assert_int_equal(
		store_queue_push(f->st, "q1", "k1", "a", "queued", "u2", 2), 0);
	assert_int_equal(
		store_queue_push(f->st, "q2", "k1", "b", "queued", "u2", 3), 0);
	assert_int_equal(store_queue_length(f->st, "k1"), 2);
	assert_int_equal(store_queue_position(f->st, "q2", "k1"), 2);
	assert_int_equal(store_queue_position(f->st, "q2", "k9"), 0);
	row = store_queue_head(f->st, "k1");
	assert_string_equal(str(row, "id"), "q1");
	assert_string_equal(str(row, "input"), "a");
	json_decref(row);
	assert_int_equal(store_queue_mark_sending(f->st, "q1", 5), 0);
	assert_int_equal(store_queue_mark_sending(f->st, "q1", 6), -ENOENT);
	row = store_queue_state(f->st, "q1", "k1");
	assert_string_equal(str(row, "state"), "sending");
	json_decref(row);
	row = store_queue_head(f->st, "k1");
	assert_string_equal(str(row, "id"), "q2");
	json_decref(row);
	rows = store_queue_sending(f->st, "");
	assert_string_equal(str(json_array_get(rows, 0), "name"), "t");
	json_decref(rows);
	rows = store_queue_unsettled(f->st, "k1");
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(str(json_array_get(rows, 0), "input"), "a");
	assert_int_equal(num(json_array_get(rows, 0), "sent_at"), 5);
	json_decref(rows);
	assert_int_equal(store_queue_requeue(f->st, "q1"), 0);
	rows = store_queue_list(f->st, "k1");
	assert_int_equal(json_array_size(rows), 2);
	assert_int_equal(num(json_array_get(rows, 1), "seq"), 2);
	assert_string_equal(str(json_array_get(rows, 0), "state"), "queued");
	json_decref(rows);
	assert_int_equal(store_queue_delete(f->st, "q1"), 0);
	assert_int_equal(store_queue_delete(f->st, "q1"), -ENOENT);
	row = store_queue_get(f->st, "q2");
	assert_string_equal(str(row, "created_by"), "u2");
	json_decref(row);
	assert_int_equal(store_queue_mark_sending(f->st, "q2", 7), 0);
	/* a 'sending' entry stays for the restarted server to settle */
	assert_int_equal(store_queue_recover(f->st), 0);
	assert_int_equal(store_queue_length(f->st, "k1"), 1);
	assert_int_equal(store_queue_delete(f->st, "q2"), 0);
	assert_int_equal(
		store_queue_push(f->st, "q3", "k1", "c", "queued", "u2", 4), 0);
	assert_int_equal(store_queue_clear(f->st, "k1"), 0);
	assert_int_equal(store_queue_length(f->st, "k1"), 0);
}

static void
test_deletes(void **state)
{
	struct fixture *f = *state;
	json_t *rows;

	add_template(f->st, "tpl", "v1", "u1");
	assert_int_equal(store_task_insert(f->st, "k1", "u2", "t", "t", "v1",
					   "{}", "", "", "claude", "", "", 1),
			 0);
	assert_int_equal(store_task_state_add(f->st, "k1", "idle", "", "", 2),
			 0);
	assert_int_equal(
		store_queue_push(f->st, "q1", "k1", "a", "queued", "u2", 2), 0);
	assert_int_equal(store_secret_upsert(f->st, "s1", "user", "u2", "", "K",
					     "n", "c", 3),
			 0);
	assert_int_equal(store_secret_upsert(f->st, "s2", "template", "tpl",
					     "u2", "K", "n", "c", 3),
			 0);
	assert_int_equal(store_secret_upsert(f->st, "s3", "template", "tpl", "",
					     "K", "n", "c", 3),
			 0);
	/* a live task holds its owner and its template */
	assert_int_equal(store_user_delete(f->st, "u2"), -EBUSY);
	assert_int_equal(store_template_delete(f->st, "tpl"), -EBUSY);
	assert_int_equal(store_secrets_count(f->st), 3);

	assert_int_equal(store_task_set_deleted(f->st, "k1", 4), 0);
	assert_int_equal(store_user_delete(f->st, "u2"), 0);
	assert_null(store_user_get(f->st, "u2"));
	assert_null(store_task_get(f->st, "k1"));
	assert_int_equal(store_queue_length(f->st, "k1"), 0);
	rows = store_task_states(f->st, "k1");
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	assert_int_equal(store_secrets_count(f->st), 1); /* the shared one */
	assert_int_equal(store_template_delete(f->st, "tpl"), 0);
	assert_null(store_template_find(f->st, "tpl"));
	assert_int_equal(store_secrets_count(f->st), 0);
}

static void
test_secrets_rows(void **state)
{
	struct fixture *f = *state;
	json_t *row, *rows;

	assert_int_equal(store_secret_upsert(f->st, "s1", "template", "tpl", "",
					     "B", "n1", "c1", 1),
			 0);
	assert_int_equal(store_secret_upsert(f->st, "s2", "template", "tpl",
					     "u2", "A", "n2", "c2", 1),
			 0);
	assert_int_equal(store_secret_upsert(f->st, "s3", "template", "tpl",
					     "u1", "A", "n3", "c3", 1),
			 0);
	/* the same key seals anew and keeps its id */
	assert_int_equal(store_secret_upsert(f->st, "s9", "template", "tpl", "",
					     "B", "n4", "c4", 2),
			 0);
	row = store_secret_get(f->st, "template", "tpl", "", "B");
	assert_string_equal(str(row, "id"), "s1");
	assert_string_equal(str(row, "nonce"), "n4");
	json_decref(row);
	rows = store_secrets_list(f->st, "template", "tpl", "u2");
	assert_int_equal(json_array_size(rows), 2);
	assert_string_equal(str(json_array_get(rows, 0), "name"), "A");
	assert_int_equal(num(json_array_get(rows, 1), "updated_at"), 2);
	json_decref(rows);
	assert_int_equal(store_secret_reseal(f->st, "s2", "n5", "c5"), 0);
	row = store_secret_get(f->st, "template", "tpl", "u2", "A");
	assert_string_equal(str(row, "ciphertext"), "c5");
	json_decref(row);
	assert_int_equal(
		store_secret_delete(f->st, "template", "tpl", "u2", "A"), 0);
	assert_int_equal(
		store_secret_delete(f->st, "template", "tpl", "u2", "A"),
		-ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens_sessions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_passwords_sessions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_catalog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tasks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deletes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_secrets_rows, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
