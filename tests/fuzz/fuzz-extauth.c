/*
 * fuzz-extauth.c: libFuzzer target for the bytes GitHub (or whatever an
 * admin's OAuth app base URL answers with) sends taskbox
 * (src/server/extauth-parse.c): the token endpoint's reply and GET
 * /user's, and the URL an admin configures. The first byte picks the
 * parser; the rest is its input. A token that parses must be printable
 * without spaces, a user positive with a printable login, a normalized
 * URL http(s) without a trailing '/'. Crashes, sanitizer reports and
 * these aborts are the findings.
 */
#include "common.h"

#include "server/extauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether s is printable ASCII without spaces (NULL: true). */
static bool
fuzz_printable(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (*s <= 0x20 || *s >= 0x7f)
			return false;
	return true;
}

/* Parse a token endpoint's reply; check what one that parses holds. */
static void
fuzz_token(const char *p, size_t n)
{
	struct extauth_token t = {0};
	char *error = NULL, *cause = NULL;
	int r = extauth_token_parse(p, n, 1764572400000, &t, &error, &cause);

	if (r == 0) {
		if (t.access_token == NULL || !fuzz_printable(t.access_token) ||
		    !fuzz_printable(t.refresh_token) ||
		    (t.expires_at != 0 && t.expires_at <= 1764572400000))
			abort();
		extauth_token_clear(&t);
	} else if (cause == NULL || (r == -EPERM && error == NULL)) {
		abort();
	}
	free(error);
	free(cause);
}

/* Parse GET /user's reply; check what one that parses holds. */
static void
fuzz_user(const char *p, size_t n)
{
	struct extauth_user u = {0};
	char *cause = NULL;

	if (extauth_user_parse(p, n, &u, &cause) == 0) {
		if (u.id <= 0 || u.login == NULL || *u.login == '\0' ||
		    !fuzz_printable(u.login) || u.name == NULL ||
		    u.avatar_url == NULL)
			abort();
		extauth_user_clear(&u);
	} else if (cause == NULL) {
		abort();
	}
	free(cause);
}

/* Normalize an admin's URL (and as a callback URL); check the results. */
static void
fuzz_url(const char *p)
{
	char *u = extauth_url_norm(p);
	size_t n;

	if (u == NULL)
		return;
	n = strlen(u);
	if ((strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) ||
	    (n > 0 && u[n - 1] == '/') || strpbrk(u, "?#@\"' ") != NULL)
		abort();
	free(u);
	/* a callback URL is such a URL ending with the callback's path */
	if ((u = extauth_callback_norm(p)) == NULL)
		return;
	n = strlen(u);
	if (n < strlen(EXTAUTH_CALLBACK_PATH) ||
	    strcmp(u + n - strlen(EXTAUTH_CALLBACK_PATH),
		   EXTAUTH_CALLBACK_PATH) != 0)
		abort();
	free(u);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *p;

	if (size == 0)
		return 0;
	p = xstrndup((const char *)data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		fuzz_token((const char *)data + 1, size - 1);
		break;
	case 1:
		fuzz_user((const char *)data + 1, size - 1);
		break;
	default:
		fuzz_url(p);
		break;
	}
	free(p);
	return 0;
}
