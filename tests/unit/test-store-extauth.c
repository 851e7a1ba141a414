/*
 * test-store-extauth.c: external auth's statements (store-extauth.c)
 * against a real SQLite database: the config row, a link's generation
 * and refresh claim (one claimant at a time, none for a stale generation
 * or an invalid link), writes that lose to a newer link, the expiry
 * queries, and links going with their user.
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

	snprintf(f->dir, sizeof f->dir, "/tmp/test-extauth-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->db = xasprintf("%s/t.db", f->dir);
	assert_int_equal(store_open(f->db, &f->st, &cause), 0);
	assert_int_equal(store_user_insert(f->st, "u1", "ada", "member", 1), 0);
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

/* A link of user_id expiring at expires_at (0: never). */
static struct store_extauth_link_row
link_row(const char *user_id, int64_t expires_at, const char *ct)
{
	return (struct store_extauth_link_row){
		.user_id = user_id,
		.provider = "github",
		.external_id = user_id[1] == '1' ? 11 : 22,
		.login = "octocat",
		.name = "",
		.avatar_url = "",
		.nonce = "n",
		.ciphertext = ct,
		.expires_at = expires_at,
		.refreshable = expires_at > 0,
		.set_user_github = true,
	};
}

static void
test_config(void **state)
{
	struct fixture *f = *state;
	struct store_extauth_config_row c = {"github",
					     "id1",
					     "https://github.com",
					     "https://api.github.com",
					     "repo",
					     "https://tb.example/external-auth/"
					     "github/callback",
					     "n",
					     "c"};
	json_t *row;

	assert_null(store_extauth_config_get(f->st, "github"));
	assert_int_equal(store_extauth_config_put(f->st, &c, 10), 0);
	c.client_id = "id2";
	assert_int_equal(store_extauth_config_put(f->st, &c, 20), 0);
	row = store_extauth_config_get(f->st, "github");
	assert_string_equal(
		json_string_value(json_object_get(row, "client_id")), "id2");
	assert_string_equal(
		json_string_value(json_object_get(row, "callback_url")),
		"https://tb.example/external-auth/github/callback");
	assert_int_equal(num(row, "created_at"), 10);
	assert_int_equal(num(row, "updated_at"), 20);
	json_decref(row);
	c.callback_url = "https://tb2.example/external-auth/github/callback";
	assert_int_equal(store_extauth_config_put(f->st, &c, 30), 0);
	row = store_extauth_config_get(f->st, "github");
	assert_string_equal(
		json_string_value(json_object_get(row, "callback_url")),
		"https://tb2.example/external-auth/github/callback");
	json_decref(row);
	assert_int_equal(store_extauth_config_delete(f->st, "github"), 0);
	assert_int_equal(store_extauth_config_delete(f->st, "github"), -ENOENT);
}

static void
test_claim_and_generation(void **state)
{
	struct fixture *f = *state;
	struct store_extauth_link_row r = link_row("u1", 5000, "c1");
	json_t *row, *rows;

	assert_int_equal(store_extauth_link_put(f->st, &r, 100), 0);
	row = store_extauth_link_get(f->st, "u1", "github");
	assert_int_equal(num(row, "generation"), 1);
	assert_int_equal(num(row, "expires_at"), 5000);
	assert_int_equal(num(row, "refreshable"), 1);
	json_decref(row);

	/* one claimant; another waits until the claim runs out */
	assert_int_equal(
		store_extauth_link_claim(f->st, "u1", "github", 1, 1100, 1000),
		1);
	assert_int_equal(
		store_extauth_link_claim(f->st, "u1", "github", 1, 1200, 1050),
		0);
	assert_int_equal(
		store_extauth_link_claim(f->st, "u1", "github", 1, 1300, 1100),
		0);
	assert_int_equal(
		store_extauth_link_claim(f->st, "u1", "github", 1, 1300, 1101),
		1);
	/* a stale generation claims nothing */
	assert_int_equal(
		store_extauth_link_claim(f->st, "u1", "github", 7, 9000, 5000),
		0);

	/* the refreshed token: generation 2, claim released */
	r.ciphertext = "c2";
	r.expires_at = 9000;
	assert_int_equal(store_extauth_link_refreshed(f->st, &r, 1, 1200), 0);
	row = store_extauth_link_get(f->st, "u1", "github");
	assert_int_equal(num(row, "generation"), 2);
	assert_int_equal(num(row, "refresh_claim"), 0);
	assert_int_equal(num(row, "expires_at"), 9000);
	json_decref(row);
	/* a second write at the spent generation loses */
	assert_int_equal(store_extauth_link_refreshed(f->st, &r, 1, 1300),
			 -ENOENT);

	rows = store_extauth_links_expiring(f->st, "github", 10000, 16, 1300);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
	rows = store_extauth_links_expiring(f->st, "github", 9000, 16, 1300);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	row = store_extauth_link_next_expiry(f->st, "github");
	assert_int_equal(num(row, "expires_at"), 9000);
	json_decref(row);

	/* invalid at an old generation: nothing; at the current: marked */
	assert_int_equal(store_extauth_link_invalidate(f->st, "u1", "github", 1,
						       "no", 1400),
			 0);
	row = store_extauth_link_get(f->st, "u1", "github");
	assert_string_equal(json_string_value(json_object_get(row, "error")),
			    "");
	json_decref(row);
	assert_int_equal(store_extauth_link_invalidate(f->st, "u1", "github", 2,
						       "refused", 1400),
			 0);
	assert_int_equal(
		store_extauth_link_claim(f->st, "u1", "github", 2, 9000, 9000),
		0);
	rows = store_extauth_links_expiring(f->st, "github", 99999, 16, 9001);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	row = store_extauth_link_next_expiry(f->st, "github");
	assert_true(json_is_null(json_object_get(row, "expires_at")));
	json_decref(row);

	/* linking again: good, a new generation */
	r.ciphertext = "c3";
	assert_int_equal(store_extauth_link_put(f->st, &r, 1500), 0);
	row = store_extauth_link_get(f->st, "u1", "github");
	assert_string_equal(json_string_value(json_object_get(row, "error")),
			    "");
	assert_int_equal(num(row, "generation"), 3);
	assert_int_equal(num(row, "created_at"), 100);
	json_decref(row);
}

static void
test_links_go_with_their_user(void **state)
{
	struct fixture *f = *state;
	struct store_extauth_link_row r = link_row("u2", 0, "c");
	json_t *row;

	assert_int_equal(store_extauth_link_put(f->st, &r, 100), 0);
	row = store_extauth_link_get(f->st, "u2", "github");
	assert_true(json_is_null(json_object_get(row, "expires_at")));
	assert_int_equal(num(row, "refreshable"), 0);
	json_decref(row);
	assert_int_equal(store_user_delete(f->st, "u2"), 0);
	assert_null(store_extauth_link_get(f->st, "u2", "github"));
	assert_int_equal(store_extauth_link_delete(f->st, "u1", "github"),
			 -ENOENT);
}

/* A claimed link (its refresh running or failing) does not hide the next
 * one: with a batch of one, the timer reaches u2 while u1 is claimed. */
static void
test_claimed_links_do_not_starve(void **state)
{
	struct fixture *f = *state;
	struct store_extauth_link_row r1 = link_row("u1", 1000, "c1");
	struct store_extauth_link_row r2 = link_row("u2", 2000, "c2");
	json_t *rows;

	assert_int_equal(store_extauth_link_put(f->st, &r1, 100), 0);
	assert_int_equal(store_extauth_link_put(f->st, &r2, 100), 0);
	assert_int_equal(
		store_extauth_link_claim(f->st, "u1", "github", 1, 5000, 200),
		1);
	rows = store_extauth_links_expiring(f->st, "github", 9000, 1, 300);
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(rows, 0), "user_id")),
			    "u2");
	json_decref(rows);
	/* once the claim ran out, u1 (the soonest) comes first again */
	rows = store_extauth_links_expiring(f->st, "github", 9000, 1, 5001);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(rows, 0), "user_id")),
			    "u1");
	json_decref(rows);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_and_generation,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_links_go_with_their_user,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_claimed_links_do_not_starve, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
