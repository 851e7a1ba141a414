/*
 * sigv4-sign.c: signs one request with src/gateway/sigv4.c, for
 * tests/integration/sigv4.test.mjs (which signs the same requests with
 * botocore and compares). Test-only, not installed.
 *
 * Reads one JSON object on stdin: method, path, query, headers (an array
 * of [name, value]), body_hex or body_sha256, access_key_id, secret,
 * session_token, region, service, time (seconds), content_sha256 (bool).
 * Prints {"headers": {name: value}, "canonical_request", "string_to_sign"}
 * and exits 0, or prints {"error": cause} and exits 1.
 */
#include "common.h"

#include <jansson.h>

#include "gateway/sigv4.h"

/* The string member key of o, or NULL. */
static const char *
str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Decode the hex string s into a new buffer of *len bytes. */
static char *
unhex(const char *s, size_t *len)
{
	size_t n = s ? strlen(s) / 2 : 0;
	char *out = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			fatal("bad body_hex");
		out[i] = (char)v;
	}
	*len = n;
	return out;
}

/* Print {"error": cause} and return 1. */
static int
fail(const char *cause)
{
	json_t *e = json_pack("{ss}", "error", cause);

	json_dumpf(e, stdout, 0);
	putchar('\n');
	json_decref(e);
	return 1;
}

int
main(void)
{
	json_error_t jerr;
	json_t *in = json_loadf(stdin, 0, &jerr), *hs, *out, *added;
	struct sigv4_header headers[SIGV4_HEADERS_MAX + 1];
	struct sigv4_request req = {0};
	struct sigv4_credentials creds = {0};
	struct sigv4_scope scope = {0};
	struct sigv4_signed s;
	char *body, *cause = NULL;
	size_t i;
	json_t *h;
	int r;

	if (!in)
		return fail(jerr.text);
	hs = json_object_get(in, "headers");
	json_array_foreach(hs, i, h)
	{
		if (i > SIGV4_HEADERS_MAX)
			break;
		headers[i].name = json_string_value(json_array_get(h, 0));
		headers[i].value = json_string_value(json_array_get(h, 1));
	}
	req.method = str(in, "method");
	req.path = str(in, "path");
	req.query = str(in, "query");
	req.headers = headers;
	req.nheaders = json_array_size(hs);
	body = unhex(str(in, "body_hex"), &req.body_len);
	req.body = body;
	req.body_sha256 = str(in, "body_sha256");
	creds.access_key_id = str(in, "access_key_id");
	creds.secret_access_key = str(in, "secret");
	creds.session_token = str(in, "session_token");
	scope.region = str(in, "region");
	scope.service = str(in, "service");
	scope.time = json_integer_value(json_object_get(in, "time"));
	if (json_is_true(json_object_get(in, "content_sha256")))
		scope.flags |= SIGV4_CONTENT_SHA256;

	r = sigv4_sign(&req, &creds, &scope, &s, &cause);
	if (r < 0) {
		r = fail(cause);
		goto out;
	}
	added = json_object();
	for (i = 0; i < s.nadd; i++)
		json_object_set_new(added, s.add[i].name,
				    json_string(s.add[i].value));
	out = json_pack("{sOssss}", "headers", added, "canonical_request",
			s.canonical_request, "string_to_sign",
			s.string_to_sign);
	json_dumpf(out, stdout, 0);
	putchar('\n');
	json_decref(out);
	json_decref(added);
out:
	sigv4_signed_release(&s);
	free(cause);
	free(body);
	json_decref(in);
	return r;
}
