/*
 * test-gauth.c: Google service-account auth (src/gateway/gauth.c) with
 * the throwaway key in tests/unit/gauth/: the key file (good, each field
 * missing, the wrong type, bad PEM, keys of the wrong kind or size), the
 * assertion decoded back (header, claims) and its signature checked with
 * the public key through OpenSSL's verify, the form body, the token
 * reply (good, an error reply, missing or absurd fields) and when a
 * token is fresh on an injected clock.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gateway/gauth.h"

#define FIXTURE SRCDIR "/tests/unit/gauth/"
#define NOW	INT64_C(1764572400) /* 2025-12-01T07:00:00Z */

/* The bytes of a fixture file as a new string. */
static char *
fixture(const char *name)
{
	char *path = xasprintf("%s%s", FIXTURE, name);
	FILE *f = fopen(path, "r");
	char *s = xmalloc(GAUTH_KEY_FILE_MAX);
	size_t n;

	assert_non_null(f);
	n = fread(s, 1, GAUTH_KEY_FILE_MAX - 1, f);
	s[n] = '\0';
	fclose(f);
	free(path);
	return s;
}

/* The fixture key file as JSON. */
static json_t *
key_json(void)
{
	char *s = fixture("throwaway-service-account.json");
	json_t *o = json_loads(s, 0, NULL);

	assert_non_null(o);
	free(s);
	return o;
}

/* Parse o (taking ownership) as a key file; returns the error (0 with
 * *k set) and the cause in *cause. */
static int
parse_json(json_t *o, struct gauth_key **k, char **cause)
{
	char *s = json_dumps(o, 0);
	int rc;

	*cause = NULL;
	rc = gauth_key_parse(s, strlen(s), k, cause);
	free(s);
	json_decref(o);
	return rc;
}

/* The key file o (taken) is refused with a cause holding want and no key
 * material. */
static void
assert_refused(json_t *o, const char *want)
{
	struct gauth_key *k = (struct gauth_key *)1;
	char *cause;

	assert_int_equal(parse_json(o, &k, &cause), -EINVAL);
	assert_null(k);
	assert_non_null(cause);
	if (!strstr(cause, want))
		fail_msg("cause '%s' lacks '%s'", cause, want);
	assert_null(strstr(cause, "MII"));
	assert_null(strstr(cause, "-----"));
	free(cause);
}

static void
test_key_good(void **state UNUSED)
{
	struct gauth_key *k;
	char *cause;

	assert_int_equal(parse_json(key_json(), &k, &cause), 0);
	assert_string_equal(gauth_key_email(k), "throwaway-test@taskbox-test-0"
						".iam.gserviceaccount.com");
	assert_string_equal(gauth_key_id(k),
			    "0123456789abcdef0123456789abcdef01234567");
	assert_string_equal(gauth_key_token_uri(k),
			    "https://oauth2.googleapis.com/token");
	assert_string_equal(gauth_key_project(k), "taskbox-test-0");
	gauth_key_free(k);
	gauth_key_free(NULL);
}

static void
test_key_missing(void **state UNUSED)
{
	static const char *const fields[] = {
		"type",	     "client_email", "private_key",
		"token_uri", "project_id",   "private_key_id",
	};

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		json_t *o = key_json();
		char *want = xasprintf("'%s' is missing", fields[i]);

		json_object_del(o, fields[i]);
		assert_refused(o, want);
		free(want);

		o = key_json();
		json_object_set_new(o, fields[i], json_integer(7));
		want = xasprintf("'%s' is not a string", fields[i]);
		assert_refused(o, want);
		free(want);

		o = key_json();
		json_object_set_new(o, fields[i], json_string(""));
		assert_refused(o, "is empty");
	}
}

static void
test_key_fields(void **state UNUSED)
{
	json_t *o = key_json();
	struct gauth_key *k;
	char *cause;

	json_object_set_new(o, "type", json_string("authorized_user"));
	assert_refused(o, "type is 'authorized_user', not 'service_account'");
	o = key_json();
	json_object_set_new(o, "type", json_string("-----BEGIN-x"));
	assert_refused(o, "key file: type is not 'service_account'");
	o = key_json();
	json_object_set_new(o, "token_uri",
			    json_string("http://oauth2.googleapis.com/token"));
	assert_refused(o, "not an https URL");
	o = key_json();
	json_object_set_new(o, "client_email", json_string("nobody"));
	assert_refused(o, "not an address");
	o = key_json();
	json_object_set_new(o, "client_email", json_string("a b@c"));
	assert_refused(o, "'client_email' holds a character");
	o = key_json();
	json_object_set_new(o, "project_id", json_string("Upper"));
	assert_refused(o, "'project_id' holds a character");
	o = key_json();
	json_object_set_new(o, "private_key_id", json_string("ab\"cd"));
	assert_refused(o, "'private_key_id' holds a character");
	o = key_json();
	/* jansson refuses \u0000 itself (no JSON_ALLOW_NUL) */
	json_object_set_new(o, "project_id", json_stringn("a\0b", 3));
	assert_refused(o, "not JSON");

	assert_int_equal(gauth_key_parse("{\"type\":", 8, &k, &cause), -EINVAL);
	assert_string_equal(cause, "key file: not JSON (line 1, column 8)");
	free(cause);
	assert_int_equal(gauth_key_parse("[1]", 3, &k, &cause), -EINVAL);
	assert_string_equal(cause, "key file: not a JSON object");
	free(cause);
	assert_int_equal(gauth_key_parse("{\"type\":\"a\",\"type\":\"b\"}", 24,
					 &k, &cause),
			 -EINVAL);
	free(cause);
	assert_int_equal(
		gauth_key_parse("{}", GAUTH_KEY_FILE_MAX + 1, &k, &cause),
		-E2BIG);
	free(cause);
}

/* A PEM PKCS#8 text of pkey (taken) as a new string. */
static char *
pem_of(EVP_PKEY *pkey)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *s;
	long n;

	assert_int_equal(PEM_write_bio_PKCS8PrivateKey(b, pkey, NULL, NULL, 0,
						       NULL, NULL),
			 1);
	n = BIO_get_mem_data(b, &p);
	s = xstrndup(p, (size_t)n);
	BIO_free(b);
	EVP_PKEY_free(pkey);
	return s;
}

/* The fixture key file with private_key replaced by pem (taken). */
static json_t *
key_with_pem(char *pem)
{
	json_t *o = key_json();

	json_object_set_new(o, "private_key", json_string(pem));
	free(pem);
	return o;
}

static void
test_key_bad_pem(void **state UNUSED)
{
	json_t *o = key_json();
	char *pem =
		xstrdup(json_string_value(json_object_get(o, "private_key")));
	char *mid = pem + strlen(pem) / 2;

	json_decref(o);
	assert_refused(key_with_pem(xstrdup("not a key")),
		       "not a PEM PKCS#8 private key");
	/* a PKCS#1 block is not PKCS#8 */
	assert_refused(key_with_pem(xstrdup("-----BEGIN RSA PRIVATE KEY-----"
					    "\nAAAA\n-----END RSA PRIVATE "
					    "KEY-----\n")),
		       "not a PEM PKCS#8 private key");
	/* trailing bytes after the block */
	assert_refused(key_with_pem(xasprintf("%sjunk", pem)),
		       "bytes after its END line");
	/* the right frame around damaged base64 */
	*mid = *mid == 'A' ? '!' : 'A';
	mid[1] = '*';
	assert_refused(key_with_pem(xstrdup(pem)), "does not decode");
	free(pem);
	/* a key that decodes with one number changed (found by the fuzzer) */
	o = key_json();
	pem = xstrdup(json_string_value(json_object_get(o, "private_key")));
	json_decref(o);
	mid = strstr(pem, "N7HoelCQ");
	assert_non_null(mid);
	mid[4] = 'l';
	assert_refused(key_with_pem(pem), "is damaged");
	/* not RSA, too small */
	assert_refused(key_with_pem(pem_of(
			       EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"))),
		       "not an RSA key of 2048 to 8192 bits");
	assert_refused(key_with_pem(pem_of(EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
							     (size_t)1024))),
		       "not an RSA key of 2048 to 8192 bits");
}

/* The fixture key, parsed. */
static struct gauth_key *
key_fixture(void)
{
	struct gauth_key *k;
	char *cause = NULL;

	assert_int_equal(parse_json(key_json(), &k, &cause), 0);
	return k;
}

/* Decode base64url without padding; a new buffer of *len bytes, NUL
 * after; NULL when it is not base64url. */
static unsigned char *
b64url_decode(const char *s, size_t n, size_t *len)
{
	char *t = xmalloc(n + 4);
	unsigned char *out = xmalloc(n + 4);
	size_t m = n;
	int r;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+' || s[i] == '/' || s[i] == '=')
			goto bad;
		t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	}
	while (m % 4)
		t[m++] = '=';
	r = EVP_DecodeBlock(out, (unsigned char *)t, (int)m);
	if (r < 0)
		goto bad;
	*len = (size_t)r - (m - n);
	out[*len] = '\0';
	free(t);
	return out;
bad:
	free(t);
	free(out);
	return NULL;
}

/* The JSON of a base64url part. */
static json_t *
part_json(const char *s, size_t n)
{
	size_t len;
	unsigned char *d = b64url_decode(s, n, &len);
	json_t *o;

	assert_non_null(d);
	o = json_loadb((char *)d, len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(o);
	free(d);
	return o;
}

/* Whether jwt's signature verifies with the fixture's public key. */
static bool
verifies(const char *jwt)
{
	char *path = xasprintf("%s%s", FIXTURE, "throwaway-test-key.pub.pem");
	FILE *f = fopen(path, "r");
	EVP_PKEY *pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const char *dot = strrchr(jwt, '.');
	unsigned char *sig;
	size_t siglen;
	int ok;

	assert_non_null(pub);
	sig = b64url_decode(dot + 1, strlen(dot + 1), &siglen);
	assert_non_null(sig);
	assert_int_equal(siglen, 256);
	assert_int_equal(
		EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub), 1);
	ok = EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)jwt,
			      (size_t)(dot - jwt));
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pub);
	free(sig);
	fclose(f);
	free(path);
	return ok == 1;
}

static void
test_assertion(void **state UNUSED)
{
	struct gauth_key *k = key_fixture();
	char *jwt, *jwt2, *cause = NULL;
	const char *d1, *d2;
	json_t *h, *c;

	assert_int_equal(gauth_assertion(k, NOW, &jwt, &cause), 0);
	assert_null(strpbrk(jwt, "+/= \n"));
	d1 = strchr(jwt, '.');
	assert_non_null(d1);
	d2 = strchr(d1 + 1, '.');
	assert_non_null(d2);
	assert_null(strchr(d2 + 1, '.'));

	h = part_json(jwt, (size_t)(d1 - jwt));
	assert_int_equal(json_object_size(h), 3);
	assert_string_equal(json_string_value(json_object_get(h, "alg")),
			    "RS256");
	assert_string_equal(json_string_value(json_object_get(h, "typ")),
			    "JWT");
	assert_string_equal(json_string_value(json_object_get(h, "kid")),
			    "0123456789abcdef0123456789abcdef01234567");
	c = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
	assert_int_equal(json_object_size(c), 5);
	assert_string_equal(json_string_value(json_object_get(c, "iss")),
			    gauth_key_email(k));
	assert_string_equal(json_string_value(json_object_get(c, "scope")),
			    "https://www.googleapis.com/auth/cloud-platform");
	assert_string_equal(json_string_value(json_object_get(c, "aud")),
			    "https://oauth2.googleapis.com/token");
	assert_true(json_integer_value(json_object_get(c, "iat")) == NOW);
	assert_true(json_integer_value(json_object_get(c, "exp")) ==
		    NOW + 3600);
	json_decref(h);
	json_decref(c);

	assert_true(verifies(jwt));
	/* the same time signs the same (PKCS#1 v1.5), another differs */
	assert_int_equal(gauth_assertion(k, NOW, &jwt2, &cause), 0);
	assert_string_equal(jwt, jwt2);
	free(jwt2);
	assert_int_equal(gauth_assertion(k, NOW + 1, &jwt2, &cause), 0);
	assert_string_not_equal(jwt, jwt2);
	assert_true(verifies(jwt2));
	free(jwt2);
	/* a claim changed, the signature kept: refused */
	jwt[d1 - jwt + 3] = jwt[d1 - jwt + 3] == 'x' ? 'y' : 'x';
	assert_false(verifies(jwt));
	free(jwt);

	assert_int_equal(gauth_assertion(k, -1, &jwt, &cause), -EINVAL);
	assert_null(jwt);
	free(cause);
	assert_int_equal(gauth_assertion(k, INT64_MAX, &jwt, &cause), -EINVAL);
	free(cause);
	gauth_key_free(k);
}

static void
test_body(void **state UNUSED)
{
	char *b = gauth_token_body("aB0.c-d_e");

	assert_string_equal(b, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3A"
			       "grant-type%3Ajwt-bearer&assertion=aB0.c-d_e");
	free(b);
	b = gauth_token_body("x+y/=& z");
	assert_string_equal(b, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3A"
			       "grant-type%3Ajwt-bearer&assertion="
			       "x%2By%2F%3D%26%20z");
	free(b);
}

/* Parse the reply s at NOW. */
static int
reply(const char *s, struct gauth_token *t, char **cause)
{
	*cause = NULL;
	return gauth_token_parse(s, strlen(s), NOW, t, cause);
}

/* The reply s is refused (-EINVAL) with a cause holding want. */
static void
assert_reply_refused(const char *s, const char *want)
{
	struct gauth_token t;
	char *cause;

	assert_int_equal(reply(s, &t, &cause), -EINVAL);
	assert_null(t.access_token);
	if (!strstr(cause, want))
		fail_msg("reply %s: cause '%s' lacks '%s'", s, cause, want);
	free(cause);
}

static void
test_token_reply(void **state UNUSED)
{
	struct gauth_token t;
	char *cause;

	assert_int_equal(reply("{\"access_token\":\"ya29.c.b0-_x\","
			       "\"expires_in\":3599,\"token_type\":\"Bearer\"}",
			       &t, &cause),
			 0);
	assert_string_equal(t.access_token, "ya29.c.b0-_x");
	assert_true(t.expires_at == NOW + 3599);
	assert_true(t.refresh_at == NOW + 3599 - 300);
	gauth_token_clear(&t);

	assert_reply_refused("{\"expires_in\":3599,\"token_type\":\"Bearer\"}",
			     "'access_token' is missing");
	assert_reply_refused("{\"access_token\":\"a\",\"token_type\":"
			     "\"Bearer\"}",
			     "'expires_in' is missing");
	assert_reply_refused("{\"access_token\":\"a\",\"expires_in\":3599}",
			     "'token_type' is missing");
	assert_reply_refused("{\"access_token\":\"a\",\"expires_in\":3599,"
			     "\"token_type\":\"MAC\"}",
			     "not Bearer");
	assert_reply_refused("{\"access_token\":\"a\\r\\nX-Evil: 1\","
			     "\"expires_in\":3599,\"token_type\":\"Bearer\"}",
			     "'access_token' holds a character");
	assert_reply_refused("{\"access_token\":\"a\",\"expires_in\":\"3599\","
			     "\"token_type\":\"Bearer\"}",
			     "not an integer");
	assert_reply_refused("{\"access_token\":\"a\",\"expires_in\":3599.5,"
			     "\"token_type\":\"Bearer\"}",
			     "not an integer");
	assert_reply_refused("{\"access_token\":\"a\",\"expires_in\":0,"
			     "\"token_type\":\"Bearer\"}",
			     "'expires_in' 0 is not in");
	assert_reply_refused("{\"access_token\":\"a\",\"expires_in\":-60,"
			     "\"token_type\":\"Bearer\"}",
			     "'expires_in' -60 is not in");
	assert_reply_refused("{\"access_token\":\"a\",\"expires_in\":"
			     "999999999999,\"token_type\":\"Bearer\"}",
			     "is not in [1, 86400] s");
	assert_reply_refused("[]", "not a JSON object");
	assert_reply_refused("<html>", "not JSON");
}

static void
test_token_error(void **state UNUSED)
{
	struct gauth_token t;
	char *cause;

	assert_int_equal(reply("{\"error\":\"invalid_grant\","
			       "\"error_description\":\"Invalid JWT "
			       "Signature.\"}",
			       &t, &cause),
			 -EACCES);
	assert_string_equal(cause, "token endpoint refused: invalid_grant "
				   "(Invalid JWT Signature.)");
	assert_null(t.access_token);
	free(cause);
	/* an error wins over a token; control bytes never reach the cause */
	assert_int_equal(reply("{\"error\":\"bad\\nline\",\"access_token\":"
			       "\"a\",\"expires_in\":3599,\"token_type\":"
			       "\"Bearer\"}",
			       &t, &cause),
			 -EACCES);
	assert_string_equal(cause, "token endpoint refused: bad?line");
	free(cause);
	assert_int_equal(reply("{\"error\":7}", &t, &cause), -EACCES);
	assert_string_equal(cause, "token endpoint refused: (not a string)");
	free(cause);
}

static void
test_token_limits(void **state UNUSED)
{
	struct gauth_token t;
	char *big = xmalloc(GAUTH_REPLY_MAX + 2), *s, *cause;

	memset(big, ' ', GAUTH_REPLY_MAX + 1);
	big[GAUTH_REPLY_MAX + 1] = '\0';
	assert_int_equal(reply(big, &t, &cause), -E2BIG);
	free(cause);
	free(big);

	big = xmalloc(GAUTH_TOKEN_MAX + 2);
	memset(big, 'a', GAUTH_TOKEN_MAX + 1);
	big[GAUTH_TOKEN_MAX + 1] = '\0';
	s = xasprintf("{\"access_token\":\"%s\",\"expires_in\":3599,"
		      "\"token_type\":\"bearer\"}",
		      big);
	assert_reply_refused(s, "too long");
	free(s);
	big[GAUTH_TOKEN_MAX] = '\0';
	s = xasprintf("{\"access_token\":\"%s\",\"expires_in\":3599,"
		      "\"token_type\":\"bearer\"}",
		      big);
	assert_int_equal(reply(s, &t, &cause), 0);
	assert_int_equal(strlen(t.access_token), GAUTH_TOKEN_MAX);
	gauth_token_clear(&t);
	free(s);
	free(big);
}

static void
test_token_clock(void **state UNUSED)
{
	struct gauth_token t;
	char *cause;

	assert_int_equal(reply("{\"access_token\":\"tok\",\"expires_in\":3600,"
			       "\"token_type\":\"Bearer\"}",
			       &t, &cause),
			 0);
	/* fresh until five minutes before it expires */
	assert_true(gauth_token_fresh(&t, NOW));
	assert_true(gauth_token_fresh(&t, NOW + 3600 - 301));
	assert_false(gauth_token_fresh(&t, NOW + 3600 - 300));
	assert_false(gauth_token_fresh(&t, NOW + 3600));
	gauth_token_clear(&t);
	assert_null(t.access_token);
	assert_false(gauth_token_fresh(&t, NOW));

	/* a short life is refreshed half way */
	assert_int_equal(reply("{\"access_token\":\"tok\",\"expires_in\":200,"
			       "\"token_type\":\"Bearer\"}",
			       &t, &cause),
			 0);
	assert_true(t.refresh_at == NOW + 100);
	assert_true(gauth_token_fresh(&t, NOW + 99));
	assert_false(gauth_token_fresh(&t, NOW + 100));
	gauth_token_clear(&t);
	/* shorter than two minutes too (it used to be refused): 3 s is
	 * good for 2, 1 s for the second it came in */
	assert_int_equal(reply("{\"access_token\":\"tok\",\"expires_in\":3,"
			       "\"token_type\":\"Bearer\"}",
			       &t, &cause),
			 0);
	assert_true(t.refresh_at == NOW + 2);
	assert_true(gauth_token_fresh(&t, NOW + 1));
	assert_false(gauth_token_fresh(&t, NOW + 2));
	gauth_token_clear(&t);
	assert_int_equal(reply("{\"access_token\":\"tok\",\"expires_in\":1,"
			       "\"token_type\":\"Bearer\"}",
			       &t, &cause),
			 0);
	assert_true(gauth_token_fresh(&t, NOW));
	assert_false(gauth_token_fresh(&t, NOW + 1));
	gauth_token_clear(&t);

	assert_int_equal(gauth_token_parse("{}", 2, -5, &t, &cause), -EINVAL);
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_good),
		cmocka_unit_test(test_key_missing),
		cmocka_unit_test(test_key_fields),
		cmocka_unit_test(test_key_bad_pem),
		cmocka_unit_test(test_assertion),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_token_reply),
		cmocka_unit_test(test_token_error),
		cmocka_unit_test(test_token_limits),
		cmocka_unit_test(test_token_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
