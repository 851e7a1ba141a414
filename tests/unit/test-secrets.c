/*
 * test-secrets.c: the secretbox wrap and unwrap of secrets.c, tamper
 * detection, the binding of a value to its row, and the key file rules
 * (created 0600 once; missing with stored secrets is an error).
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/secrets.h"
#include "server/template.h"
#include "store/store.h"

static unsigned char key[SECRETS_KEY_BYTES];

static int
setup_key(void **state UNUSED)
{
	assert_true(sodium_init() >= 0);
	randombytes_buf(key, sizeof key);
	return 0;
}

/* Flip one bit of the decoded base64 b64 at byte i; new base64. */
static char *
flip(const char *b64, size_t i)
{
	unsigned char bin[70000];
	size_t len = 0, n = sodium_base64_ENCODED_LEN(
				sizeof bin, sodium_base64_VARIANT_ORIGINAL);
	char *out = xmalloc(n);

	assert_int_equal(sodium_base642bin(bin, sizeof bin, b64, strlen(b64),
					   NULL, &len, NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	assert_true(i < len);
	bin[i] ^= 0x01;
	sodium_bin2base64(out, n, bin, len, sodium_base64_VARIANT_ORIGINAL);
	return out;
}

static void
test_roundtrip(void **state UNUSED)
{
	static const size_t sizes[] = {0, 1, 40, SECRETS_VALUE_MAX};
	char *big = xmalloc(SECRETS_VALUE_MAX);

	memset(big, 'v', SECRETS_VALUE_MAX);
	memcpy(big, "ghp_abc", 7);
	for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
		char *nonce, *ct, *out = NULL;
		size_t len = 99;

		secrets_seal(key, "user/u1/github_token", big, sizes[k], &nonce,
			     &ct);
		assert_null(strstr(ct, "ghp_abc"));
		assert_int_equal(secrets_open(key, "user/u1/github_token",
					      nonce, ct, &out, &len),
				 0);
		assert_int_equal(len, sizes[k]);
		assert_memory_equal(out, big, sizes[k]);
		assert_int_equal(out[len], '\0');
		secrets_free(out);
		free(nonce);
		free(ct);
	}
	free(big);
}

static void
test_nonce_fresh(void **state UNUSED)
{
	char *n1, *c1, *n2, *c2;

	secrets_seal(key, "l", "same", 4, &n1, &c1);
	secrets_seal(key, "l", "same", 4, &n2, &c2);
	assert_string_not_equal(n1, n2);
	assert_string_not_equal(c1, c2);
	free(n1);
	free(c1);
	free(n2);
	free(c2);
}

static void
test_tamper(void **state UNUSED)
{
	unsigned char other[SECRETS_KEY_BYTES];
	char *nonce, *ct, *bad, *out = NULL;
	size_t len, n;

	secrets_seal(key, "template/t1/pat", "hunter2", 7, &nonce, &ct);
	/* every byte of the ciphertext (MAC included) and of the nonce */
	n = crypto_secretbox_MACBYTES + strlen("template/t1/pat") + 1 + 7;
	for (size_t i = 0; i < n; i++) {
		bad = flip(ct, i);
		assert_int_equal(secrets_open(key, "template/t1/pat", nonce,
					      bad, &out, &len),
				 -EBADMSG);
		free(bad);
	}
	for (size_t i = 0; i < crypto_secretbox_NONCEBYTES; i++) {
		bad = flip(nonce, i);
		assert_int_equal(secrets_open(key, "template/t1/pat", bad, ct,
					      &out, &len),
				 -EBADMSG);
		free(bad);
	}
	/* another key, another row, truncated, not base64 */
	memcpy(other, key, sizeof other);
	other[0] ^= 0x80;
	assert_int_equal(
		secrets_open(other, "template/t1/pat", nonce, ct, &out, &len),
		-EBADMSG);
	assert_int_equal(
		secrets_open(key, "template/t2/pat", nonce, ct, &out, &len),
		-EBADMSG);
	assert_int_equal(
		secrets_open(key, "template/t1/pa", nonce, ct, &out, &len),
		-EBADMSG);
	bad = xstrndup(ct, 8);
	assert_int_equal(
		secrets_open(key, "template/t1/pat", nonce, bad, &out, &len),
		-EBADMSG);
	free(bad);
	assert_int_equal(
		secrets_open(key, "template/t1/pat", "!!", ct, &out, &len),
		-EBADMSG);
	assert_null(out);
	free(nonce);
	free(ct);
}

static void
test_names(void **state UNUSED)
{
	assert_true(secrets_name_valid("github_token"));
	assert_true(secrets_name_valid("_X9"));
	assert_false(secrets_name_valid(""));
	assert_false(secrets_name_valid("9a"));
	assert_false(secrets_name_valid("a-b"));
	assert_false(secrets_name_valid("a/b"));
	assert_true(template_secret_name_valid("OPENAI_KEY"));
	assert_false(template_secret_name_valid("x.y"));
}

/* A derived key is HMAC-SHA256(the key in keyp, label): one per label,
 * never the key itself. */
static void
test_derive(const char *keyp)
{
	unsigned char file[SECRETS_KEY_BYTES], want[SECRETS_KEY_BYTES];
	unsigned char one[SECRETS_KEY_BYTES], two[SECRETS_KEY_BYTES];
	FILE *f = fopen(keyp, "rb");

	assert_non_null(f);
	assert_int_equal(fread(file, 1, sizeof file, f), sizeof file);
	fclose(f);
	secrets_derive_key("one", one);
	secrets_derive_key("two", two);
	crypto_auth_hmacsha256(want, (const unsigned char *)"one", 3, file);
	assert_memory_equal(one, want, sizeof want);
	assert_memory_not_equal(one, two, sizeof one);
	assert_memory_not_equal(one, file, sizeof one);
}

static void
test_store(void **state UNUSED)
{
	char dir[] = "/tmp/test-secrets-XXXXXX";
	char *db, *keyp, *v = NULL, *cause = NULL;
	struct store *st;
	struct stat sb;
	json_t *list, *row;

	assert_non_null(mkdtemp(dir));
	db = xasprintf("%s/t.db", dir);
	keyp = xasprintf("%s/secrets.key", dir);
	assert_int_equal(store_open(db, &st, &cause), 0);
	assert_int_equal(secrets_init(st, keyp, &cause), 0);
	assert_int_equal(stat(keyp, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, SECRETS_KEY_BYTES);
	test_derive(keyp);

	assert_int_equal(secrets_set("user", "u1", "", "a", "one", 3), 0);
	assert_int_equal(secrets_set("user", "u1", "", "a", "uno", 3), 0);
	assert_int_equal(secrets_set("user", "u2", "", "a", "two", 3), 0);
	assert_int_equal(secrets_set("user", "u1", "", "big", "x",
				     SECRETS_VALUE_MAX + 1),
			 -EINVAL);
	list = secrets_list("user", "u1", "");
	assert_int_equal(json_array_size(list), 1);
	assert_null(json_object_get(json_array_get(list, 0), "value"));
	json_decref(list);
	assert_int_equal(secrets_get("user", "u1", "", "a", &v), 0);
	assert_string_equal(v, "uno");
	secrets_free(v);
	assert_int_equal(secrets_get("user", "u1", "", "zz", &v), -ENOENT);

	/* a ciphertext copied onto another row does not open there */
	row = store_row(st,
			"SELECT nonce, ciphertext FROM secrets WHERE "
			"scope_id = 'u2'",
			"");
	assert_int_equal(
		store_exec(
			st,
			"UPDATE secrets SET nonce = ?, ciphertext = ? "
			"WHERE scope_id = 'u1'",
			"ss", json_string_value(json_object_get(row, "nonce")),
			json_string_value(json_object_get(row, "ciphertext"))),
		0);
	json_decref(row);
	assert_int_equal(secrets_get("user", "u1", "", "a", &v), -EBADMSG);
	assert_int_equal(secrets_delete("user", "u1", "", "a"), 0);
	assert_int_equal(secrets_delete("user", "u1", "", "a"), -ENOENT);

	/* template secrets: shared (admin-set) and one member's own */
	assert_int_equal(secrets_set("template", "t1", "", "k", "all", 3), 0);
	assert_int_equal(secrets_set("template", "t1", "m1", "k", "mine", 4),
			 0);
	assert_int_equal(secrets_get("template", "t1", "m1", "k", &v), 0);
	assert_string_equal(v, "mine");
	secrets_free(v);
	assert_int_equal(secrets_get("template", "t1", "", "k", &v), 0);
	assert_string_equal(v, "all");
	secrets_free(v);
	assert_int_equal(secrets_get("template", "t1", "m2", "k", &v), -ENOENT);
	list = secrets_list("template", "t1", "m2");
	assert_int_equal(json_array_size(list), 1);
	assert_true(json_is_true(
		json_object_get(json_array_get(list, 0), "shared")));
	json_decref(list);
	list = secrets_list("template", "t1", "m1");
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	/* a member's value moved to the shared row does not open there */
	row = store_row(st,
			"SELECT nonce, ciphertext FROM secrets WHERE "
			"user_id = 'm1'",
			"");
	store_exec(st,
		   "UPDATE secrets SET nonce = ?, ciphertext = ? WHERE "
		   "scope_id = 't1' AND user_id = ''",
		   "ss", json_string_value(json_object_get(row, "nonce")),
		   json_string_value(json_object_get(row, "ciphertext")));
	json_decref(row);
	assert_int_equal(secrets_get("template", "t1", "", "k", &v), -EBADMSG);
	/* a row migration 4 gave to an author (sealed under the shared
	 * label) opens and is sealed again under its own */
	assert_int_equal(secrets_set("template", "t2", "", "k", "old", 3), 0);
	store_exec(st,
		   "UPDATE secrets SET user_id = 'm1' WHERE scope_id = "
		   "'t2'",
		   "");
	assert_int_equal(secrets_get("template", "t2", "m1", "k", &v), 0);
	assert_string_equal(v, "old");
	secrets_free(v);
	row = store_row(st,
			"SELECT nonce, ciphertext FROM secrets WHERE "
			"scope_id = 't2'",
			"");
	store_exec(st,
		   "INSERT INTO secrets (id, scope, scope_id, user_id, name, "
		   "nonce, ciphertext, created_at, updated_at) VALUES ('x', "
		   "'template', 't2', '', 'k', ?, ?, 0, 0)",
		   "ss", json_string_value(json_object_get(row, "nonce")),
		   json_string_value(json_object_get(row, "ciphertext")));
	json_decref(row);
	assert_int_equal(secrets_get("template", "t2", "", "k", &v), -EBADMSG);
	assert_int_equal(secrets_get("template", "t2", "m1", "k", &v), 0);
	secrets_free(v);

	/* the key is read back; a missing key with secrets stored fails */
	assert_int_equal(secrets_init(st, keyp, &cause), 0);
	assert_int_equal(secrets_get("user", "u2", "", "a", &v), 0);
	assert_string_equal(v, "two");
	secrets_free(v);
	unlink(keyp);
	assert_int_equal(secrets_init(st, keyp, &cause), -ENOKEY);
	assert_non_null(strstr(cause, "missing"));
	assert_int_not_equal(access(keyp, F_OK), 0);
	free(cause);
	cause = NULL;
	store_exec(st, "DELETE FROM secrets", "");
	assert_int_equal(secrets_init(st, keyp, &cause), 0);
	secrets_release();
	store_close(st);
	unlink(keyp);
	unlink(db);
	free(db);
	free(keyp);
	db = xasprintf("%s/t.db-wal", dir);
	unlink(db);
	free(db);
	db = xasprintf("%s/t.db-shm", dir);
	unlink(db);
	free(db);
	rmdir(dir);
}

static void
test_identity_render(void **state UNUSED)
{
	char *out = NULL;

	assert_int_equal(template_identity_render("{{owner.name}} via bot "
						  "<{{ owner.username }}>",
						  "Ada", "a@x", "ada", &out),
			 0);
	assert_string_equal(out, "Ada via bot <ada>");
	free(out);
	assert_int_equal(template_identity_render("{{owner.email}}", "Ada",
						  "a@x", "ada", &out),
			 0);
	assert_string_equal(out, "a@x");
	free(out);
	assert_int_equal(
		template_identity_render("{{owner.token}}", "", "", "", &out),
		-EINVAL);
	assert_int_equal(
		template_identity_render("{{owner.name", "", "", "", &out),
		-EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_nonce_fresh),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_identity_render),
	};

	return cmocka_run_group_tests(tests, setup_key, NULL);
}
