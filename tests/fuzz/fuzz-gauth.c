/*
 * fuzz-gauth.c: libFuzzer target for the untrusted bytes of Google
 * service-account auth (src/gateway/gauth.c): a key file a user uploads
 * and a token endpoint's reply. The first byte picks the parser (even:
 * key file, odd: token reply); the rest is its input. A key that parses
 * signs an assertion, which must have three parts; a token that parses
 * must be printable and fresh before its expiry. Crashes, sanitizer
 * reports and these aborts are the findings.
 */
#include "common.h"

#include "gateway/gauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse a key file; sign and check the assertion of one that parses. */
static void
fuzz_key(const char *p, size_t n)
{
	struct gauth_key *k;
	char *cause = NULL, *jwt, *body;

	if (gauth_key_parse(p, n, &k, &cause) < 0) {
		if (!cause || strstr(cause, "-----BEGIN"))
			abort();
		free(cause);
		return;
	}
	if (gauth_assertion(k, 1764572400, &jwt, &cause) < 0)
		abort();
	if (!strchr(jwt, '.') || strchr(strchr(jwt, '.') + 1, '.') == NULL)
		abort();
	body = gauth_token_body(jwt);
	free(body);
	free(jwt);
	gauth_key_free(k);
}

/* Parse a token reply; check what one that parses holds. */
static void
fuzz_reply(const char *p, size_t n)
{
	struct gauth_token t;
	char *cause = NULL;

	if (gauth_token_parse(p, n, 1764572400, &t, &cause) < 0) {
		if (!cause)
			abort();
		free(cause);
		return;
	}
	for (const char *c = t.access_token; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f)
			abort();
	if (!gauth_token_fresh(&t, 1764572400) ||
	    gauth_token_fresh(&t, t.expires_at) || t.refresh_at > t.expires_at)
		abort();
	gauth_token_clear(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_key((const char *)data + 1, size - 1);
	else
		fuzz_reply((const char *)data + 1, size - 1);
	return 0;
}
