/*
 * test-provider.c: LLM providers (src/gateway/provider.c): type names,
 * the validation of every member per type, the defaults (URLs, vertex's
 * region and project), what provider_json shows, and the cache over a
 * real SQLite store: saved credentials open again, a write refreshes it,
 * an unchanged row keeps its provider, the count limit.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <unistd.h>

#include "gateway/provider.h"
#include "server/secrets.h"
#include "store/store.h"

/* A service-account key file's JSON text with a new RSA key (new). */
static char *
service_account(const char *project)
{
	EVP_PKEY *pk = EVP_RSA_gen(2048);
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem, *text;
	long n;
	json_t *j;

	assert_non_null(pk);
	assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, pk, NULL, NULL, 0,
						       NULL, NULL),
			 1);
	n = BIO_get_mem_data(bio, &pem);
	j = json_pack("{s:s, s:s, s:s, s:s%, s:s, s:s}", "type",
		      "service_account", "project_id", project,
		      "private_key_id", "k1", "private_key", pem, (size_t)n,
		      "client_email", "sa@p.iam.gserviceaccount.com",
		      "token_uri", "https://oauth2.googleapis.com/token");
	text = json_dumps(j, 0);
	json_decref(j);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return text;
}

/* s as a JSON string literal (new). */
static char *
jstr(const char *s)
{
	json_t *j = json_string(s);
	char *out = json_dumps(j, JSON_ENCODE_ANY);

	json_decref(j);
	return out;
}

/* Whether j's JSON text holds s. */
static bool
json_holds(const json_t *j, const char *s)
{
	char *text = json_dumps(j, 0);
	bool r = strstr(text, s) != NULL;

	free(text);
	return r;
}

/* provider_build of the JSON text spec; NULL with *field and *cause. */
static struct provider *
build(const char *name, const char *spec, const char **field, char **cause)
{
	json_t *j = json_loads(spec, 0, NULL);
	struct provider *p;

	assert_non_null(j);
	free(*cause);
	*cause = NULL;
	p = provider_build(name, j, field, cause);
	json_decref(j);
	return p;
}

/* Assert spec is refused naming field. */
static void
refused(const char *spec, const char *field)
{
	const char *f = NULL;
	char *cause = NULL;
	struct provider *p = build("x", spec, &f, &cause);

	if (p != NULL)
		fail_msg("accepted: %s", spec);
	assert_non_null(cause);
	if (strcmp(f, field) != 0)
		fail_msg("%s: field %s, not %s (%s)", spec, f, field, cause);
	free(cause);
}

static void
test_types(void **state UNUSED)
{
	static const char *const names[] = {
		"anthropic",	     "openai", "gemini", "bedrock", "vertex",
		"openai-compatible", "ollama"};
	enum provider_type t;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		assert_int_equal(provider_type_parse(names[i], &t), 0);
		assert_int_equal(t, (enum provider_type)i);
		assert_string_equal(provider_type_name(t), names[i]);
	}
	assert_int_equal(provider_type_parse("azure", &t), -EINVAL);
	assert_int_equal(provider_type_parse("", &t), -EINVAL);
	assert_true(provider_name_valid("default"));
	assert_true(provider_name_valid("a"));
	assert_true(provider_name_valid("my-litellm-2"));
	assert_false(provider_name_valid(""));
	assert_false(provider_name_valid("-x"));
	assert_false(provider_name_valid("Big"));
	assert_false(provider_name_valid("a_b"));
	assert_false(provider_name_valid("a/b"));
	assert_true(provider_name_valid("a2345678901234567890123456789012345678"
					"9012345678901234567890123"));
	assert_false(provider_name_valid("a234567890123456789012345678901234567"
					 "890123456789012345678901234"));
}

static void
test_defaults(void **state UNUSED)
{
	const char *f = NULL;
	char *cause = NULL, *sa = service_account("acme-1");
	char *sa_json = jstr(sa), *spec;
	struct provider *p;
	json_t *j;

	p = build("a", "{\"type\": \"anthropic\", \"key\": \"sk-1\"}", &f,
		  &cause);
	assert_non_null(p);
	assert_string_equal(p->url, "https://api.anthropic.com");
	assert_false(p->url_given);
	assert_string_equal(p->key, "sk-1");
	assert_null(p->region);
	j = provider_json(p, true);
	assert_true(json_is_true(json_object_get(j, "has_key")));
	assert_null(json_object_get(j, "key"));
	assert_false(json_holds(j, "sk-1"));
	json_decref(j);
	j = provider_json(p, false);
	assert_null(json_object_get(j, "has_key"));
	json_decref(j);
	provider_unref(p);

	p = build("o", "{\"type\": \"openai\", \"key\": \"k\"}", &f, &cause);
	assert_string_equal(p->url, "https://api.openai.com");
	provider_unref(p);
	p = build("g", "{\"type\": \"gemini\", \"key\": \"k\"}", &f, &cause);
	assert_string_equal(p->url,
			    "https://generativelanguage.googleapis.com");
	provider_unref(p);
	p = build("b",
		  "{\"type\": \"bedrock\", \"region\": \"us-east-2\", "
		  "\"aws_access_key_id\": \"AKIAIOSFODNN7EXAMPLE\", "
		  "\"aws_secret_access_key\": \"s/e+c\"}",
		  &f, &cause);
	assert_non_null(p);
	assert_string_equal(p->url,
			    "https://bedrock-runtime.us-east-2.amazonaws.com");
	assert_null(p->aws_session_token);
	provider_unref(p);
	/* --url overrides, trailing '/' dropped, http allowed */
	p = build("b",
		  "{\"type\": \"bedrock\", \"region\": \"us-east-2\", "
		  "\"url\": \"http://127.0.0.1:8080/aws/\", "
		  "\"aws_access_key_id\": \"AKIAIOSFODNN7EXAMPLE\", "
		  "\"aws_secret_access_key\": \"s\", \"aws_session_token\": "
		  "\"t\"}",
		  &f, &cause);
	assert_string_equal(p->url, "http://127.0.0.1:8080/aws");
	assert_true(p->url_given);
	assert_string_equal(p->aws_session_token, "t");
	provider_unref(p);

	spec = xasprintf("{\"type\": \"vertex\", \"service_account\": %s}",
			 sa_json);
	p = build("v", spec, &f, &cause);
	assert_non_null(p);
	assert_string_equal(p->region, "global");
	assert_string_equal(p->url, "https://aiplatform.googleapis.com");
	assert_string_equal(p->project, "acme-1");
	assert_string_equal(p->service_account, sa);
	provider_unref(p);
	free(spec);
	spec = xasprintf("{\"type\": \"vertex\", \"region\": \"us-east5\", "
			 "\"project\": \"other\", \"service_account\": %s}",
			 sa_json);
	p = build("v", spec, &f, &cause);
	assert_string_equal(p->url,
			    "https://us-east5-aiplatform.googleapis.com");
	assert_string_equal(p->project, "other");
	provider_unref(p);
	free(spec);

	p = build("l",
		  "{\"type\": \"openai-compatible\", \"url\": "
		  "\"https://[::1]:4000\"}",
		  &f, &cause);
	assert_non_null(p);
	assert_null(p->key);
	provider_unref(p);
	p = build("l",
		  "{\"type\": \"ollama\", \"url\": \"http://h:11434\", "
		  "\"region\": null, \"key\": \"\"}",
		  &f, &cause);
	assert_non_null(p);
	assert_null(p->key);
	provider_unref(p);
	free(sa);
	free(sa_json);
	free(cause);
}

static void
test_refused(void **state UNUSED)
{
	char *sa = service_account("acme-1"), *sa_json = jstr(sa), *spec;

	refused("[]", "body");
	refused("{\"type\": \"azure\"}", "type");
	refused("{\"type\": 1}", "type");
	refused("{\"key\": \"k\"}", "type");
	refused("{\"type\": \"anthropic\", \"zone\": \"x\"}", "body");
	refused("{\"type\": \"anthropic\"}", "key");
	refused("{\"type\": \"anthropic\", \"key\": \"a b\"}", "key");
	refused("{\"type\": \"anthropic\", \"key\": \"\\u00e9\"}", "key");
	refused("{\"type\": \"anthropic\", \"key\": \"k\", \"region\": "
		"\"r\"}",
		"region");
	refused("{\"type\": \"anthropic\", \"key\": \"k\", \"project\": "
		"\"p\"}",
		"project");
	refused("{\"type\": \"anthropic\", \"key\": \"k\", "
		"\"aws_session_token\": \"t\"}",
		"aws_session_token");
	refused("{\"type\": \"openai-compatible\"}", "url");
	refused("{\"type\": \"ollama\", \"url\": \"http://h\", \"key\": "
		"\"k\"}",
		"key");
	static const char *const urls[] = {
		"h.com",
		"ftp://h.com",
		"https://",
		"https:///x",
		"https://u@h.com",
		"https://u:p@h.com/",
		"https://h.com/?a=b",
		"https://h.com#x",
		"https://h.com:0",
		"https://h.com:65536",
		"https://h.com:x",
		"https://h .com",
		"https://h.com//x",
		"https://h.com/../x",
		"https://h.com/a/..",
		"https://-h.com",
		"https://h\\.com",
		"HTTPS://h.com",
		"https://h.com:+443",
		"https://h.com:-1",
		"https://[1.2.3.4]",
		"https://[...]",
		"https://[::1::2]:80",
	};
	for (size_t i = 0; i < ARRAY_SIZE(urls); i++) {
		json_t *j = json_pack("{s:s, s:s}", "type", "openai-compatible",
				      "url", urls[i]);
		const char *f = NULL;
		char *cause = NULL;
		struct provider *p = provider_build("x", j, &f, &cause);

		if (p != NULL)
			fail_msg("url accepted: %s", urls[i]);
		assert_string_equal(f, "url");
		free(cause);
		json_decref(j);
	}
	refused("{\"type\": \"bedrock\", \"aws_access_key_id\": "
		"\"AKIAIOSFODNN7EXAMPLE\", \"aws_secret_access_key\": \"s\"}",
		"region");
	refused("{\"type\": \"bedrock\", \"region\": \"us.east\", "
		"\"aws_access_key_id\": \"AKIAIOSFODNN7EXAMPLE\", "
		"\"aws_secret_access_key\": \"s\"}",
		"region");
	refused("{\"type\": \"bedrock\", \"region\": \"us-east-1\", "
		"\"aws_access_key_id\": \"AKIA\", \"aws_secret_access_key\": "
		"\"s\"}",
		"aws_access_key_id");
	refused("{\"type\": \"bedrock\", \"region\": \"us-east-1\", "
		"\"aws_access_key_id\": \"AKIAIOSFODNN7EXAMPLE\"}",
		"aws_secret_access_key");
	refused("{\"type\": \"bedrock\", \"region\": \"us-east-1\", "
		"\"aws_access_key_id\": \"AKIAIOSFODNN7EXAMPLE\", "
		"\"aws_secret_access_key\": \"s\", \"key\": \"k\"}",
		"key");
	refused("{\"type\": \"vertex\"}", "service_account");
	refused("{\"type\": \"vertex\", \"service_account\": \"{}\"}",
		"service_account");
	spec = xasprintf("{\"type\": \"vertex\", \"project\": \"A B\", "
			 "\"service_account\": %s}",
			 sa_json);
	refused(spec, "project");
	free(spec);
	refused("{\"type\": \"anthropic\", \"key\": \"k\", \"ca_pem\": "
		"\"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END "
		"CERTIFICATE-----\\n\"}",
		"ca_pem");
	free(sa);
	free(sa_json);
}

/* The cache over a new SQLite store and secrets key in dir. */
static void
test_cache(void **state UNUSED)
{
	char dir[] = "/tmp/test-provider-XXXXXX", *db, *keyp, *cause = NULL;
	const char *f = NULL;
	struct provider *p, *q;
	struct store *st;
	json_t *spec, *list;
	uint64_t gen;

	assert_non_null(mkdtemp(dir));
	db = xasprintf("%s/t.db", dir);
	keyp = xasprintf("%s/secrets.key", dir);
	assert_int_equal(store_open(db, &st, &cause), 0);
	assert_int_equal(secrets_init(st, keyp, &cause), 0);
	assert_int_equal(provider_cache_start(st, NULL, &cause), 0);
	assert_null(provider_get("default"));

	spec = json_pack("{s:s, s:s, s:s}", "type", "openai-compatible", "url",
			 "http://127.0.0.1:9/v1", "key", "sk-secret-1");
	assert_int_equal(provider_save("default", spec, &f, &cause), 0);
	p = provider_get("default");
	assert_non_null(p);
	assert_string_equal(p->key, "sk-secret-1");
	assert_string_equal(p->url, "http://127.0.0.1:9/v1");
	gen = p->generation;
	assert_true(gen != 0);
	/* nothing changed: the same provider stays */
	assert_int_equal(provider_cache_reload(), 0);
	q = provider_get("default");
	assert_ptr_equal(p, q);
	provider_unref(q);
	/* a write: a new provider and generation; the old one lives on */
	json_object_set_new(spec, "key", json_string("sk-secret-2"));
	assert_int_equal(provider_save("default", spec, &f, &cause), 0);
	q = provider_get("default");
	assert_ptr_not_equal(p, q);
	assert_true(q->generation != gen);
	assert_string_equal(q->key, "sk-secret-2");
	assert_string_equal(p->key, "sk-secret-1");
	provider_unref(p);
	provider_unref(q);
	/* an invalid spec is not stored */
	json_object_set_new(spec, "url", json_string("ftp://h"));
	assert_int_equal(provider_save("bad", spec, &f, &cause), -EINVAL);
	assert_string_equal(f, "url");
	free(cause);
	cause = NULL;
	assert_null(provider_get("bad"));
	list = provider_list(true);
	assert_int_equal(json_array_size(list), 1);
	assert_false(json_holds(list, "sk-secret"));
	json_decref(list);

	/* the seal is bound to the whole row: a store writer can neither
	 * move a provider's credentials to another row nor aim them at
	 * another url (a new generation makes the cache read the row) */
	json_object_set_new(spec, "url", json_string("http://127.0.0.1:9/v1"));
	assert_int_equal(provider_save("moved", spec, &f, &cause), 0);
	assert_int_equal(store_exec(st,
				    "UPDATE providers SET url = "
				    "'https://evil.example', generation = 7 "
				    "WHERE name = 'default'",
				    ""),
			 0);
	assert_int_equal(
		store_exec(st,
			   "UPDATE providers SET (nonce, ciphertext, "
			   "generation) = (SELECT nonce, ciphertext, 8 FROM "
			   "providers WHERE name = 'default') WHERE name = "
			   "'moved'",
			   ""),
		0);
	assert_int_equal(provider_cache_reload(), 0);
	if ((p = provider_get("default")) != NULL)
		fail_msg("a tampered url opened: %s", p->url);
	assert_null(provider_get("moved"));
	assert_int_equal(provider_delete("moved"), 0);
	json_object_set_new(spec, "key", json_string("sk-secret-3"));
	assert_int_equal(provider_save("default", spec, &f, &cause), 0);
	/* reads of the list come from the cache: no credential is opened
	 * per request (a row that no longer opens, same generation, stays
	 * listed as the cache has it) */
	assert_int_equal(store_exec(st,
				    "UPDATE providers SET ciphertext = 'AAAA' "
				    "WHERE name = 'default'",
				    ""),
			 0);
	list = provider_list(false);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 0), "url")),
			    "http://127.0.0.1:9/v1");
	json_decref(list);

	/* the limit */
	json_decref(spec);
	spec = json_pack("{s:s, s:s}", "type", "ollama", "url", "http://h");
	for (int i = 1; i < PROVIDER_COUNT_MAX; i++) {
		char name[16];

		snprintf(name, sizeof name, "p%d", i);
		assert_int_equal(provider_save(name, spec, &f, &cause), 0);
	}
	assert_int_equal(provider_save("one-more", spec, &f, &cause), -ENOSPC);
	free(cause);
	cause = NULL;
	assert_int_equal(provider_save("p1", spec, &f, &cause), 0);
	assert_int_equal(provider_delete("p1"), 0);
	assert_int_equal(provider_delete("p1"), -ENOENT);
	assert_null(provider_get("p1"));
	assert_non_null((p = provider_get("p2")));
	provider_unref(p);
	json_decref(spec);

	provider_cache_stop();
	secrets_release();
	store_close(st);
	for (const char *const *s =
		     (const char *const[]){"", "-wal", "-shm", NULL};
	     *s != NULL; s++) {
		char *fp = xasprintf("%s%s", db, *s);

		unlink(fp);
		free(fp);
	}
	unlink(keyp);
	rmdir(dir);
	free(db);
	free(keyp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
