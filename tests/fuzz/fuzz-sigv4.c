/*
 * fuzz-sigv4.c: libFuzzer over the SigV4 signer's readers of request
 * bytes (src/gateway/sigv4.c): the path and query encoders and the whole
 * signing of a request whose path, query and a header value come from
 * the input.
 *
 * The input is split at its first two NULs into path, query and header
 * value. Properties: nothing crashes; a canonical query is stable (the
 * canonical form of a canonical query is itself); a canonical URI starts
 * with '/', holds only unreserved bytes, '/' and %XX escapes, and no
 * empty, "." or ".." segment; a signed request has an Authorization.
 */
#include "common.h"

#include <ctype.h>

#include "gateway/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Check the shape of a canonical URI; abort on a violation. */
static void
fuzz_sigv4_check_uri(const char *u)
{
	size_t n = strlen(u);

	BUG_ON(u[0] != '/');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)u[i];

		if (c == '%') {
			BUG_ON(i + 2 >= n);
			BUG_ON(!isxdigit((unsigned char)u[i + 1]) ||
			       !isxdigit((unsigned char)u[i + 2]));
			i += 2;
			continue;
		}
		BUG_ON(!(isalnum(c) || strchr("-._~/", c)));
	}
	BUG_ON(strstr(u, "//") || strstr(u, "/./") || strstr(u, "/../"));
	BUG_ON(n >= 2 && strcmp(u + n - 2, "/.") == 0);
	BUG_ON(n >= 3 && strcmp(u + n - 3, "/..") == 0);
}

/* One input: its parts through the encoders and the signer. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = xmalloc(size + 2), *path, *query, *value, *q, *q2, *u;
	struct sigv4_header h[] = {{"Host", "h.example"}, {"X-Fuzz", NULL}};
	struct sigv4_request req = {
		.method = "POST", .headers = h, .nheaders = ARRAY_SIZE(h)};
	struct sigv4_credentials creds = {"AKIDEXAMPLE", "secret", "token"};
	struct sigv4_scope scope = {"us-east-1", "bedrock", 1733011200,
				    SIGV4_CONTENT_SHA256};
	struct sigv4_signed s;
	char *cause = NULL;

	memcpy(in, data, size);
	in[size] = in[size + 1] = '\0';
	path = in;
	query = path + strlen(path) + 1;
	if (query > in + size)
		query = in + size;
	value = query + strlen(query) + 1;
	if (value > in + size)
		value = in + size;

	q = sigv4_canonical_query(query, strlen(query), &cause);
	if (q) {
		q2 = sigv4_canonical_query(q, strlen(q), NULL);
		/* a canonical query past the limit may be refused */
		BUG_ON(!q2 && strlen(q) <= SIGV4_PATH_MAX);
		BUG_ON(q2 && strcmp(q, q2) != 0);
		free(q2);
	}
	free(q);
	free(cause);
	cause = NULL;

	u = sigv4_canonical_uri(path, strlen(path), &cause);
	if (u)
		fuzz_sigv4_check_uri(u);
	free(u);
	free(cause);
	cause = NULL;

	req.path = path;
	req.query = query;
	req.body = data;
	req.body_len = size;
	h[1].value = value;
	if (sigv4_sign(&req, &creds, &scope, &s, &cause) == 0)
		BUG_ON(!s.authorization || s.nadd != 4);
	sigv4_signed_release(&s);
	free(cause);
	free(in);
	return 0;
}
