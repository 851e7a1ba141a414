/*
 * test-vtoken.c: Vertex bearer tokens (src/gateway/vtoken.c), included
 * here with a fake curlev that records the transfers instead of running
 * them; the test plays the token endpoint by feeding the entry's reply
 * and ending the fetch, on an injected clock. Covered: the request (URI,
 * form body, the assertion's claims), one fetch for many waiters, the
 * cache and its refresh (a life shorter than the margin too), error replies and
 * transport errors reaching every waiter without caching, cancel, a provider
 * record that changes mid-fetch, callbacks that start the next fetch or cancel
 * a sibling, and the token_uri allowlist.
 */
#include "../../src/gateway/vtoken.c"

#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#define FIXTURE SRCDIR "/tests/unit/gauth/throwaway-service-account.json"
#define NOW	INT64_C(1764572400)

/* The fake curlev: transfers added and not yet ended. */
static struct {
	int added;
	CURL *easy[8];
	void *data[8];
	int n;
} fake;

/* Record a transfer the code under test starts. */
void
curlev_add(CURL *easy, curlev_done_fn done, void *data)
{
	assert_ptr_equal(done, fetch_done);
	assert_true(fake.n < 8);
	fake.easy[fake.n] = easy;
	fake.data[fake.n++] = data;
	fake.added++;
}

/* vtoken never cancels a transfer: its fetches always run to the end. */
void
curlev_cancel(CURL *easy)
{
	(void)easy;
	fail_msg("curlev_cancel called");
}

static int64_t now = NOW;

/* The injected clock. */
static int64_t
clock_test(void)
{
	return now;
}

/* What one waiter was called with. */
struct call {
	int calls;
	char token[64];
	char error[512];
	struct vtoken_wait *cancel; /* cancel this one when called */
	struct provider *refetch;   /* call vtoken_get(refetch) when called */
	struct call *refetch_call;
	struct vtoken_wait *refetch_wait;
};

/* A waiter's callback: record, then do what the test asked. */
static void
on_token(const char *token, const char *error, void *data)
{
	struct call *c = data;

	c->calls++;
	assert_true((token == NULL) != (error == NULL));
	snprintf(c->token, sizeof(c->token), "%s", token ? token : "");
	snprintf(c->error, sizeof(c->error), "%s", error ? error : "");
	if (c->cancel)
		vtoken_cancel(c->cancel);
	if (c->refetch)
		c->refetch_wait =
			vtoken_get(c->refetch, on_token, c->refetch_call);
}

/* The fixture key file with token_uri replaced (NULL: as it is), new
 * string. */
static char *
key_file(const char *token_uri)
{
	json_t *o = json_load_file(FIXTURE, 0, NULL);
	char *s;

	assert_non_null(o);
	if (token_uri)
		json_object_set_new(o, "token_uri", json_string(token_uri));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* A vertex provider record. */
static struct provider
vprov(const char *name, char *sa, uint64_t gen)
{
	struct provider p = {
		.refs = 1,
		.name = (char *)name,
		.type = PROVIDER_VERTEX,
		.url = "https://us-east5-aiplatform.googleapis.com",
		.region = "us-east5",
		.service_account = sa,
		.generation = gen,
	};
	return p;
}

/* End fetch i of the fake with status and reply body. */
static void
finish(int i, CURLcode rc, long status, const char *reply)
{
	struct vtoken_entry *e = fake.data[i];

	assert_true(i < fake.n);
	if (reply)
		assert_int_equal(
			reply_write((char *)reply, 1, strlen(reply), e),
			strlen(reply));
	fetch_finish(e, rc, status);
	fake.easy[i] = NULL;
}

/* A token reply of token good for expires_in seconds. */
static char *
reply(const char *token, int expires_in)
{
	return xasprintf("{\"access_token\":\"%s\",\"expires_in\":%d,"
			 "\"token_type\":\"Bearer\"}",
			 token, expires_in);
}

/* Decode base64url s (len bytes) to a new NUL-terminated string. */
static char *
b64url(const char *s, size_t len)
{
	char *in = xmalloc(len + 4), *out = xmalloc(len + 4);
	size_t n = len;
	int m;

	for (size_t i = 0; i < len; i++)
		in[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (n % 4)
		in[n++] = '=';
	m = EVP_DecodeBlock((unsigned char *)out, (unsigned char *)in, (int)n);
	assert_true(m >= 0);
	out[m] = '\0';
	free(in);
	return out;
}

/* Reset the fake and the cache between tests. */
static int
setup(void **state)
{
	(void)state;
	memset(&fake, 0, sizeof(fake));
	now = NOW;
	vtoken_now = clock_test;
	unsetenv("TASKBOX_GOOGLE_TOKEN_URIS");
	while (entries) {
		struct vtoken_entry *e = entries;

		entries = e->next;
		e->stale = true;
		if (e->easy)
			fetch_clear(e);
		assert_null(e->waiters);
		entry_maybe_free(e);
	}
	return 0;
}

/* Two waiters share one fetch to Google's endpoint with the JWT-bearer
 * body; both get the token; the next get is served from the cache until
 * its refresh time, then one new fetch. */
static void
test_fetch_and_cache(void **state)
{
	char *sa = key_file(NULL), *r = reply("ya29.first", 3600);
	struct provider p = vprov("vx", sa, 1);
	struct call a = {0}, b = {0}, c = {0}, d = {0};
	struct vtoken_wait *wa, *wb;
	struct vtoken_entry *e;
	const char *jwt, *dot1, *dot2;
	char *claims;
	json_t *o;

	(void)state;
	wa = vtoken_get(&p, on_token, &a);
	wb = vtoken_get(&p, on_token, &b);
	assert_non_null(wa);
	assert_non_null(wb);
	assert_int_equal(fake.added, 1);
	e = fake.data[0];
	assert_string_equal(e->uri, "https://oauth2.googleapis.com/token");
	/* the form body and the assertion's claims */
	jwt = strstr(e->body, "&assertion=");
	assert_non_null(jwt);
	assert_true(!strncmp(e->body,
			     "grant_type=urn%3Aietf%3Aparams%3Aoauth%3A"
			     "grant-type%3Ajwt-bearer",
			     jwt - e->body));
	jwt += strlen("&assertion=");
	dot1 = strchr(jwt, '.');
	assert_non_null(dot1);
	dot2 = strchr(dot1 + 1, '.');
	assert_non_null(dot2);
	claims = b64url(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	o = json_loads(claims, 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "aud")),
			    "https://oauth2.googleapis.com/token");
	assert_string_equal(
		json_string_value(json_object_get(o, "iss")),
		"throwaway-test@taskbox-test-0.iam.gserviceaccount.com");
	assert_int_equal(json_integer_value(json_object_get(o, "iat")), NOW);
	json_decref(o);
	free(claims);
	assert_int_equal(a.calls + b.calls, 0);

	finish(0, CURLE_OK, 200, r);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_string_equal(a.token, "ya29.first");
	assert_string_equal(b.token, "ya29.first");
	assert_null(e->easy);
	assert_null(e->body);

	/* cached: called at once, no handle, no fetch */
	now = NOW + 3600 - GAUTH_REFRESH_MARGIN - 1;
	assert_null(vtoken_get(&p, on_token, &c));
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.token, "ya29.first");
	assert_int_equal(fake.added, 1);
	/* past the refresh time: a new fetch */
	now = NOW + 3600 - GAUTH_REFRESH_MARGIN;
	assert_non_null(vtoken_get(&p, on_token, &d));
	assert_int_equal(fake.added, 2);
	free(r);
	r = reply("ya29.second", 3600);
	finish(1, CURLE_OK, 200, r);
	assert_string_equal(d.token, "ya29.second");
	free(r);
	free(sa);
}

/* An error reply and a transport error reach every waiter, nothing is
 * cached, the next get fetches again; the messages hold no key. */
static void
test_errors(void **state)
{
	char *sa = key_file(NULL);
	struct provider p = vprov("vx", sa, 1);
	struct call a = {0}, b = {0}, c = {0}, d = {0};
	char *big;

	(void)state;
	assert_non_null(vtoken_get(&p, on_token, &a));
	assert_non_null(vtoken_get(&p, on_token, &b));
	finish(0, CURLE_OK, 400,
	       "{\"error\":\"invalid_grant\",\"error_description\":"
	       "\"Invalid JWT Signature.\"}");
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_string_equal(a.token, "");
	assert_non_null(strstr(a.error, "invalid_grant"));
	assert_non_null(strstr(a.error, "answered 400"));
	assert_null(strstr(a.error, "PRIVATE"));

	assert_non_null(vtoken_get(&p, on_token, &c));
	assert_int_equal(fake.added, 2);
	finish(1, CURLE_COULDNT_CONNECT, 0, NULL);
	assert_int_equal(c.calls, 1);
	assert_non_null(strstr(c.error, "oauth2.googleapis.com"));
	assert_non_null(strstr(c.error, "connect"));

	/* a 200 that is not a token */
	assert_non_null(vtoken_get(&p, on_token, &d));
	finish(2, CURLE_OK, 200, "<html>captive portal</html>");
	assert_int_equal(d.calls, 1);
	assert_non_null(strstr(d.error, "answered 200"));

	/* a reply past GAUTH_REPLY_MAX fails the transfer */
	memset(&d, 0, sizeof(d));
	assert_non_null(vtoken_get(&p, on_token, &d));
	big = xmalloc(GAUTH_REPLY_MAX + 2);
	memset(big, ' ', GAUTH_REPLY_MAX + 1);
	big[GAUTH_REPLY_MAX + 1] = '\0';
	assert_int_equal(reply_write(big, 1, GAUTH_REPLY_MAX + 1, fake.data[3]),
			 0);
	free(big);
	finish(3, CURLE_WRITE_ERROR, 200, NULL);
	assert_non_null(strstr(d.error, "too large"));
	free(sa);
}

/* A token whose life is shorter than GAUTH_REFRESH_MARGIN (and than two
 * minutes) still serves: its waiters get it, a get within its first half
 * life is served from the cache, one past it makes one new fetch (no
 * loop, no error); a callback's get while the 1 s token is fresh is
 * served from the cache too. */
static void
test_short_life(void **state)
{
	char *sa = key_file(NULL), *r = reply("ya29.short", 4);
	struct provider p = vprov("vx", sa, 1);
	struct call a = {0}, b = {0}, c = {0}, d = {0};

	(void)state;
	assert_non_null(vtoken_get(&p, on_token, &a));
	finish(0, CURLE_OK, 200, r);
	assert_int_equal(a.calls, 1);
	assert_string_equal(a.token, "ya29.short");
	assert_string_equal(a.error, "");
	now = NOW + 1;
	assert_null(vtoken_get(&p, on_token, &b));
	assert_string_equal(b.token, "ya29.short");
	assert_int_equal(fake.added, 1);
	now = NOW + 2;
	assert_non_null(vtoken_get(&p, on_token, &c));
	assert_int_equal(fake.added, 2);
	free(r);
	r = reply("ya29.one-second", 1);
	c.refetch = &p;
	c.refetch_call = &d;
	finish(1, CURLE_OK, 200, r);
	assert_string_equal(c.token, "ya29.one-second");
	assert_null(c.refetch_wait);
	assert_int_equal(d.calls, 1);
	assert_string_equal(d.token, "ya29.one-second");
	assert_int_equal(fake.added, 2);
	free(r);
	free(sa);
}

/* A cancelled waiter is not called; the others are, in order; a callback
 * may cancel a later sibling and start the next fetch. */
static void
test_cancel_reentry(void **state)
{
	char *sa = key_file(NULL), *r = reply("tok", 3600);
	struct provider p = vprov("vx", sa, 1);
	struct call a = {0}, b = {0}, c = {0}, d = {0}, again = {0};
	struct vtoken_wait *wb, *wc;

	(void)state;
	assert_non_null(vtoken_get(&p, on_token, &a));
	wb = vtoken_get(&p, on_token, &b);
	wc = vtoken_get(&p, on_token, &c);
	assert_non_null(vtoken_get(&p, on_token, &d));
	vtoken_cancel(wb);
	vtoken_cancel(NULL);
	a.cancel = wc;	/* a cancels c from inside its callback */
	a.refetch = &p; /* ... and asks again: an error, so a new fetch */
	a.refetch_call = &again;
	finish(0, CURLE_OK, 500, "{\"error\":\"backend\"}");
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 0);
	assert_int_equal(c.calls, 0);
	assert_int_equal(d.calls, 1);
	/* the refetch started during the callbacks, its waiter untouched */
	assert_int_equal(again.calls, 0);
	assert_non_null(a.refetch_wait);
	assert_int_equal(fake.added, 2);
	finish(1, CURLE_OK, 200, r);
	assert_int_equal(again.calls, 1);
	assert_string_equal(again.token, "tok");
	free(r);
	free(sa);
}

/* The provider record changes during a fetch: the new generation gets
 * its own fetch and token; the old fetch still answers its waiters and
 * its entry is freed (ASan checks). */
static void
test_generation(void **state)
{
	char *sa = key_file(NULL), *r1 = reply("old", 3600),
	     *r2 = reply("new", 3600);
	struct provider p1 = vprov("vx", sa, 1), p2 = vprov("vx", sa, 2);
	struct provider other = vprov("vy", sa, 1);
	struct call a = {0}, b = {0}, c = {0}, o = {0};

	(void)state;
	assert_non_null(vtoken_get(&p1, on_token, &a));
	assert_non_null(vtoken_get(&p2, on_token, &b));
	assert_non_null(vtoken_get(&other, on_token, &o));
	assert_int_equal(fake.added, 3);
	finish(0, CURLE_OK, 200, r1);
	assert_string_equal(a.token, "old");
	finish(1, CURLE_OK, 200, r2);
	assert_string_equal(b.token, "new");
	/* the cache holds the new generation's token only */
	assert_null(vtoken_get(&p2, on_token, &c));
	assert_string_equal(c.token, "new");
	assert_int_equal(o.calls, 0);
	finish(2, CURLE_OK, 200, r1);
	assert_string_equal(o.token, "old");
	free(r1);
	free(r2);
	free(sa);
}

/* token_uri: Google's, the provider's own --url origin, or listed in
 * TASKBOX_GOOGLE_TOKEN_URIS; anything else refused at once, before any
 * assertion leaves; a non-vertex provider too. */
static void
test_allowlist(void **state)
{
	static const char *const refused[] = {
		"https://oauth2.googleapis.com.evil.example/token",
		"https://evil.example/token",
		"https://fake.test:84430/token",
		"https://fake.test:8443@evil.example/token",
		"https://oauth2.googleapis.com/token2",
	};
	struct provider p;
	struct call c;
	char *sa;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		sa = key_file(refused[i]);
		p = vprov("vx", sa, i + 10);
		p.url = "https://fake.test:8443";
		p.url_given = true;
		memset(&c, 0, sizeof(c));
		assert_null(vtoken_get(&p, on_token, &c));
		assert_int_equal(c.calls, 1);
		if (!strstr(c.error, "not allowed"))
			fail_msg("%s: %s", refused[i], c.error);
		free(sa);
	}
	assert_int_equal(fake.added, 0);

	/* the provider's own origin, when --url was given */
	sa = key_file("https://fake.test:8443/token");
	p = vprov("vx", sa, 100);
	p.url = "https://fake.test:8443";
	p.url_given = true;
	p.ca_pem = "-----BEGIN CERTIFICATE-----\n";
	assert_non_null(vtoken_get(&p, on_token, &c));
	assert_int_equal(fake.added, 1);
	finish(0, CURLE_COULDNT_CONNECT, 0, NULL);
	p.url_given = false;
	p.generation++;
	memset(&c, 0, sizeof(c));
	assert_null(vtoken_get(&p, on_token, &c));
	assert_non_null(strstr(c.error, "not allowed"));
	/* listed for tests */
	setenv("TASKBOX_GOOGLE_TOKEN_URIS",
	       "https://a.test/t,https://fake.test:8443/token", 1);
	p.generation++;
	assert_non_null(vtoken_get(&p, on_token, &c));
	assert_int_equal(fake.added, 2);
	finish(1, CURLE_COULDNT_CONNECT, 0, NULL);
	setenv("TASKBOX_GOOGLE_TOKEN_URIS", "https://fake.test:8443/tok", 1);
	p.generation++;
	memset(&c, 0, sizeof(c));
	assert_null(vtoken_get(&p, on_token, &c));
	assert_non_null(strstr(c.error, "not allowed"));
	free(sa);

	/* a broken key file, a provider of another type */
	p = vprov("vx", "{\"type\":\"service_account\"}", 200);
	memset(&c, 0, sizeof(c));
	assert_null(vtoken_get(&p, on_token, &c));
	assert_int_equal(c.calls, 1);
	assert_non_null(strstr(c.error, "vertex provider 'vx'"));
	p.type = PROVIDER_BEDROCK;
	memset(&c, 0, sizeof(c));
	assert_null(vtoken_get(&p, on_token, &c));
	assert_non_null(strstr(c.error, "no service account"));
	assert_int_equal(fake.added, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_fetch_and_cache, setup),
		cmocka_unit_test_setup(test_errors, setup),
		cmocka_unit_test_setup(test_short_life, setup),
		cmocka_unit_test_setup(test_cancel_reentry, setup),
		cmocka_unit_test_setup(test_generation, setup),
		cmocka_unit_test_setup(test_allowlist, setup),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	setup(NULL);
	curl_global_cleanup();
	return rc;
}
