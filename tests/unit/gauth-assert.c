/*
 * gauth-assert.c: a test-only program printing the signed assertion
 * gauth.c makes for a service-account key file at a given time
 * (`gauth-assert KEY.json UNIX-SECONDS`), for
 * tests/integration/gauth.test.mjs to check with Node's own crypto.
 */
#include "common.h"

#include <limits.h>

#include "gateway/gauth.h"

/* Read all of path into a new string; NULL on failure. */
static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *s = xmalloc(GAUTH_KEY_FILE_MAX + 2);

	if (!f) {
		free(s);
		return NULL;
	}
	*len = fread(s, 1, GAUTH_KEY_FILE_MAX + 1, f);
	fclose(f);
	s[*len] = '\0';
	return s;
}

int
main(int argc, char **argv)
{
	struct gauth_key *k;
	char *text, *cause = NULL, *jwt;
	size_t len;
	long now;
	int rc;

	if (argc != 3 || parse_long(argv[2], 0, LONG_MAX, &now) < 0) {
		fprintf(stderr, "usage: gauth-assert KEY.json UNIX-SECONDS\n");
		return 2;
	}
	if (!(text = read_file(argv[1], &len))) {
		fprintf(stderr, "gauth-assert: cannot read '%s'\n", argv[1]);
		return 1;
	}
	rc = gauth_key_parse(text, len, &k, &cause);
	free(text);
	if (rc < 0) {
		fprintf(stderr, "gauth-assert: %s\n", cause);
		free(cause);
		return 1;
	}
	rc = gauth_assertion(k, now, &jwt, &cause);
	gauth_key_free(k);
	if (rc < 0) {
		fprintf(stderr, "gauth-assert: %s\n", cause);
		free(cause);
		return 1;
	}
	printf("%s\n", jwt);
	free(jwt);
	return 0;
}
