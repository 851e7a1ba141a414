/*
 * test-sigv4.c: AWS SigV4 signing (src/gateway/sigv4.c). AWS's published
 * IAM example; Bedrock invokes with a model id holding ':' sent raw and
 * encoded (signatures checked against botocore's for the same request);
 * a session token; query and path canonical forms; header whitespace and
 * repeated names; requests refused with a reason.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gateway/sigv4.h"

#define KEY_ID	     "AKIDEXAMPLE"
#define SECRET	     "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define BEDROCK_HOST "bedrock-runtime.us-east-1.amazonaws.com"
#define BODY	     "{\"max_tokens\":10}"
#define BODY_SHA256                                                            \
	"fd033e0cefc1464734936d42f65476452b53ee7e7f8db75c8ece9414044c8f4e"
#define DEC_1_2024 1733011200 /* 2024-12-01T00:00:00Z */

/* The value of header name among what s adds, or NULL. */
static const char *
added(const struct sigv4_signed *s, const char *name)
{
	for (size_t i = 0; i < s->nadd; i++)
		if (strcmp(s->add[i].name, name) == 0)
			return s->add[i].value;
	return NULL;
}

/* AWS's example: GET /?Action=ListUsers&Version=2010-05-08 on IAM. */
static void
test_aws_iam_example(void **state)
{
	struct sigv4_header h[] = {
		{"Host", "iam.amazonaws.com"},
		{"Content-Type",
		 "application/x-www-form-urlencoded; charset=utf-8"},
	};
	struct sigv4_request req = {
		.method = "GET",
		.path = "/",
		.query = "Action=ListUsers&Version=2010-05-08",
		.headers = h,
		.nheaders = ARRAY_SIZE(h),
	};
	struct sigv4_credentials creds = {KEY_ID, SECRET, NULL};
	struct sigv4_scope scope = {"us-east-1", "iam", 1440938160, 0};
	struct sigv4_signed s;
	char *cause = NULL;

	assert_int_equal(sigv4_sign(&req, &creds, &scope, &s, &cause), 0);
	assert_string_equal(s.canonical_request,
			    "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
			    "content-type:application/x-www-form-urlencoded; "
			    "charset=utf-8\n"
			    "host:iam.amazonaws.com\n"
			    "x-amz-date:20150830T123600Z\n\n"
			    "content-type;host;x-amz-date\n"
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4"
			    "95991b7852b855");
	assert_string_equal(s.string_to_sign,
			    "AWS4-HMAC-SHA256\n20150830T123600Z\n"
			    "20150830/us-east-1/iam/aws4_request\n"
			    "f536975d06c0309214f805bb90ccff089219ecd68b2577efef"
			    "23edd43b7e1a59");
	assert_string_equal(s.signature, "5d672d79c15b13162d9279b0855cfba6789a8"
					 "edb4c82c400e06b5924a6f2b5d7");
	assert_string_equal(
		added(&s, "Authorization"),
		"AWS4-HMAC-SHA256 "
		"Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
		"SignedHeaders=content-type;host;x-amz-date, "
		"Signature="
		"5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b59"
		"24a6f2b5d7");
	assert_string_equal(added(&s, "X-Amz-Date"), "20150830T123600Z");
	/* no token, no content hash header unless asked */
	assert_int_equal(s.nadd, 2);
	assert_null(added(&s, "X-Amz-Security-Token"));
	assert_null(added(&s, "X-Amz-Content-Sha256"));
	sigv4_signed_release(&s);
}

/* A Bedrock invoke with the model id's ':' raw on the request line: the
 * canonical URI encodes it once; X-Amz-Content-Sha256 asked for. */
static void
test_bedrock_invoke(void **state)
{
	struct sigv4_header h[] = {
		{"Host", BEDROCK_HOST},
		{"Content-Type", "application/json"},
	};
	struct sigv4_request req = {
		.method = "POST",
		.path = "/model/anthropic.claude-3-5-sonnet-20241022-v2:0/"
			"invoke",
		.headers = h,
		.nheaders = ARRAY_SIZE(h),
		.body = BODY,
		.body_len = strlen(BODY),
	};
	struct sigv4_credentials creds = {KEY_ID, SECRET, NULL};
	struct sigv4_scope scope = {"us-east-1", "bedrock", DEC_1_2024,
				    SIGV4_CONTENT_SHA256};
	struct sigv4_signed s;

	assert_int_equal(sigv4_sign(&req, &creds, &scope, &s, NULL), 0);
	assert_string_equal(
		s.canonical_request,
		"POST\n/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/"
		"invoke\n\n"
		"content-type:application/json\n"
		"host:" BEDROCK_HOST "\n"
		"x-amz-content-sha256:" BODY_SHA256 "\n"
		"x-amz-date:20241201T000000Z\n\n"
		"content-type;host;x-amz-content-sha256;x-amz-"
		"date\n" BODY_SHA256);
	/* botocore's signature for the same request */
	assert_string_equal(s.signature, "c8712dc6c16dcfd9dc205f1a5ed5c8b75052a"
					 "cdb78d0649e62f46e14ce08b3b2");
	assert_string_equal(added(&s, "X-Amz-Content-Sha256"), BODY_SHA256);
	assert_int_equal(s.nadd, 3);
	sigv4_signed_release(&s);

	/* the body's hash given instead of the body: the same signature */
	req.body = NULL;
	req.body_len = 0;
	req.body_sha256 = BODY_SHA256;
	assert_int_equal(sigv4_sign(&req, &creds, &scope, &s, NULL), 0);
	assert_string_equal(s.signature, "c8712dc6c16dcfd9dc205f1a5ed5c8b75052a"
					 "cdb78d0649e62f46e14ce08b3b2");
	sigv4_signed_release(&s);
}

/* The SDK's spelling (':' sent as %3A) with a session token: %253A in
 * the canonical URI, the token added and signed. */
static void
test_session_token(void **state)
{
	struct sigv4_header h[] = {
		{"Content-Type", "application/json"},
		{"host", BEDROCK_HOST},
		/* replaced by ours, not signed twice */
		{"X-Amz-Security-Token", "stale"},
		{"Authorization", "Bearer placeholder"},
	};
	struct sigv4_request req = {
		.method = "POST",
		.path = "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/"
			"invoke",
		.headers = h,
		.nheaders = ARRAY_SIZE(h),
		.body = BODY,
		.body_len = strlen(BODY),
	};
	struct sigv4_credentials creds = {KEY_ID, SECRET,
					  "FwoGZXIvYXdzEXAMPLE//token+=="};
	struct sigv4_scope scope = {"us-west-2", "bedrock", DEC_1_2024, 0};
	struct sigv4_signed s;

	assert_int_equal(sigv4_sign(&req, &creds, &scope, &s, NULL), 0);
	assert_string_equal(
		s.canonical_request,
		"POST\n/model/anthropic.claude-3-5-sonnet-20241022-v2%253A0/"
		"invoke\n\n"
		"content-type:application/json\n"
		"host:" BEDROCK_HOST "\n"
		"x-amz-date:20241201T000000Z\n"
		"x-amz-security-token:FwoGZXIvYXdzEXAMPLE//token+==\n\n"
		"content-type;host;x-amz-date;x-amz-security-"
		"token\n" BODY_SHA256);
	assert_string_equal(
		added(&s, "Authorization"),
		"AWS4-HMAC-SHA256 "
		"Credential=AKIDEXAMPLE/20241201/us-west-2/bedrock/"
		"aws4_request, "
		"SignedHeaders=content-type;host;x-amz-date;x-amz-security-"
		"token, "
		"Signature="
		"76bb4fa67c4b0720b04cbedb874db45c496c40f0a8553468b178c9"
		"97d0ef4b8c");
	assert_string_equal(added(&s, "X-Amz-Security-Token"),
			    "FwoGZXIvYXdzEXAMPLE//token+==");
	assert_int_equal(s.nadd, 3);
	sigv4_signed_release(&s);
}

/* The canonical query of q. */
static void
check_query(const char *q, const char *want)
{
	char *cause = NULL, *got = sigv4_canonical_query(q, strlen(q), &cause);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* Query parameters: decoded, RFC 3986-encoded, sorted by name then
 * value; empty parameters dropped; a name alone has an empty value. */
static void
test_query(void **state)
{
	check_query("", "");
	check_query("&&", "");
	check_query("prefix=a/b c&Z=1&a=%3d%3D&a=%3D&empty&t=%7E+",
		    "Z=1&a=%3D&a=%3D%3D&empty=&prefix=a%2Fb%20c&t=~%2B");
	/* sorted by the encoded name: "%5B" < "A" < "a" */
	check_query("a=1&A=2&%5b=3&[=4", "%5B=3&%5B=4&A=2&a=1");
	/* a '=' in a value, UTF-8 bytes, a name with an empty value */
	check_query("k=a=b&n=%C3%A9&é=", "%C3%A9=&k=a%3Db&n=%C3%A9");
	/* already canonical: unchanged */
	check_query("Z=1&a=%3D&a=%3D%3D&empty=&prefix=a%2Fb%20c&t=~%2B",
		    "Z=1&a=%3D&a=%3D%3D&empty=&prefix=a%2Fb%20c&t=~%2B");
}

/* The canonical URI of p. */
static void
check_uri(const char *p, const char *want)
{
	char *got = sigv4_canonical_uri(p, strlen(p), NULL);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* Paths: encoded once more, dot and empty segments removed. */
static void
test_uri(void **state)
{
	check_uri("", "/");
	check_uri("/", "/");
	check_uri("/..", "/");
	check_uri("//", "/");
	check_uri("/a//b/./c/../d/", "/a/b/d/");
	check_uri("/a/b/..", "/a");
	check_uri("/m:0 x/~y", "/m%3A0%20x/~y");
	check_uri("/m%3A0", "/m%253A0");
	check_uri("/é", "/%C3%A9");
}

/* Header values trimmed, inner runs of spaces and tabs made one space;
 * names lowercased and sorted; a repeated name's values joined with ','
 * in the order given; user-agent left unsigned. */
static void
test_header_whitespace(void **state)
{
	struct sigv4_header h[] = {
		{"X-Multi", "  x "},	    {"My-Header1", "   a   b \t  c  "},
		{"Host", "\texample.com "}, {"User-Agent", "claude-cli/2.0"},
		{"x-multi", " y \t z "},    {"X-Empty", "  "},
		{"X-Quoted", "\"a   b\""},
	};
	struct sigv4_request req = {
		.method = "GET",
		.path = "",
		.headers = h,
		.nheaders = ARRAY_SIZE(h),
	};
	struct sigv4_credentials creds = {KEY_ID, SECRET, ""};
	struct sigv4_scope scope = {"us-east-1", "bedrock", 0, 0};
	struct sigv4_signed s;

	assert_int_equal(sigv4_sign(&req, &creds, &scope, &s, NULL), 0);
	assert_string_equal(
		s.canonical_request,
		"GET\n/\n\n"
		"host:example.com\n"
		"my-header1:a b c\n"
		"x-amz-date:19700101T000000Z\n"
		"x-empty:\n"
		"x-multi:x,y z\n"
		"x-quoted:\"a b\"\n\n"
		"host;my-header1;x-amz-date;x-empty;x-multi;x-quoted\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8"
		"55");
	/* an empty session token is none */
	assert_null(added(&s, "X-Amz-Security-Token"));
	sigv4_signed_release(&s);
}

/* Sign req with one change and expect -EINVAL with a cause holding why. */
static void
check_refused(const struct sigv4_request *req,
	      const struct sigv4_credentials *creds,
	      const struct sigv4_scope *scope, const char *why)
{
	struct sigv4_signed s;
	char *cause = NULL;

	assert_int_equal(sigv4_sign(req, creds, scope, &s, &cause), -EINVAL);
	assert_non_null(cause);
	assert_non_null(strstr(cause, why));
	assert_null(s.authorization);
	sigv4_signed_release(&s);
	free(cause);
}

/* What cannot be signed is refused with a reason, nothing half-made. */
static void
test_refused(void **state)
{
	struct sigv4_header h[SIGV4_HEADERS_MAX + 1];
	struct sigv4_header bad[] = {{"Host", "h"}, {"X-A", "a\r\nb"}};
	struct sigv4_header badname[] = {{"Host", "h"}, {"X A", "a"}};
	struct sigv4_request req = {
		.method = "GET", .path = "/", .headers = h, .nheaders = 1};
	struct sigv4_credentials creds = {KEY_ID, SECRET, NULL};
	struct sigv4_scope scope = {"us-east-1", "bedrock", 0, 0};
	struct sigv4_request r;
	char *longpath = xmalloc(SIGV4_PATH_MAX + 2);

	for (size_t i = 0; i < ARRAY_SIZE(h); i++)
		h[i] = (struct sigv4_header){"Host", "h"};
	r = req;
	r.query = "a=%4";
	check_refused(&r, &creds, &scope, "percent-escape");
	r = req;
	r.headers = &h[1];
	r.nheaders = 0;
	check_refused(&r, &creds, &scope, "no host");
	r = req;
	r.nheaders = ARRAY_SIZE(h);
	check_refused(&r, &creds, &scope, "too many headers");
	r = req;
	r.headers = bad;
	r.nheaders = 2;
	check_refused(&r, &creds, &scope, "header value");
	r.headers = badname;
	check_refused(&r, &creds, &scope, "header name");
	r = req;
	r.path = "model/x";
	check_refused(&r, &creds, &scope, "path");
	r.path = "/a?b";
	check_refused(&r, &creds, &scope, "path");
	memset(longpath, 'a', SIGV4_PATH_MAX + 1);
	longpath[0] = '/';
	longpath[SIGV4_PATH_MAX + 1] = '\0';
	r.path = longpath;
	check_refused(&r, &creds, &scope, "too long");
	r = req;
	r.method = "GET /";
	check_refused(&r, &creds, &scope, "method");
	r = req;
	r.body_sha256 = "ABC";
	check_refused(&r, &creds, &scope, "SHA-256");

	creds.session_token = "a\nb";
	check_refused(&req, &creds, &scope, "session token");
	creds.session_token = NULL;
	creds.access_key_id = "AKID/EXAMPLE";
	check_refused(&req, &creds, &scope, "access key");
	creds.access_key_id = KEY_ID;
	scope.region = "US EAST";
	check_refused(&req, &creds, &scope, "region");
	scope.region = "us-east-1";
	scope.time = -1;
	check_refused(&req, &creds, &scope, "time");
	free(longpath);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aws_iam_example),
		cmocka_unit_test(test_bedrock_invoke),
		cmocka_unit_test(test_session_token),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_header_whitespace),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
