/*
 * test-gwhttp.c: what the LLM gateway reads from an agent on llm.sock
 * (src/gateway/gwhttp.c): request heads (framing, keep-alive, Expect,
 * trimmed values) and the ones refused with their status (smuggling
 * shapes, folds, controls, limits); chunked bodies fed a byte at a time,
 * with extensions and trailers, a pipelined request left in place, and
 * the malformed and oversized ones.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "core/buf.h"
#include "gateway/gwhttp.h"

/* Parse the NUL-terminated head s; the status, with *r filled. */
static int
parse(const char *s, struct gw_req *r, const char **why)
{
	*why = NULL;
	return gw_req_parse(s, strlen(s), r, why);
}

static void
test_head(void **state UNUSED)
{
	struct gw_req r;
	const char *why;

	assert_int_equal(parse("POST /v1/messages?beta=true HTTP/1.1\r\n"
			       "Host: x\r\nContent-Length: 12\r\n"
			       "x-api-key:   placeholder  \r\n"
			       "Expect: 100-continue\r\n\r\n",
			       &r, &why),
			 0);
	assert_string_equal(r.method, "POST");
	assert_string_equal(r.target, "/v1/messages?beta=true");
	assert_int_equal(r.minor, 1);
	assert_int_equal(r.content_length, 12);
	assert_false(r.chunked);
	assert_false(r.close);
	assert_true(r.expect_continue);
	assert_string_equal(gw_req_header(&r, "X-API-KEY"), "placeholder");
	assert_null(gw_req_header(&r, "authorization"));
	gw_req_release(&r);

	assert_int_equal(parse("GET /v1/models HTTP/1.1\r\n"
			       "Connection: TE, close\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n",
			       &r, &why),
			 0);
	assert_true(r.close);
	assert_true(r.chunked);
	assert_int_equal(r.content_length, -1);
	gw_req_release(&r);

	/* headers a Connection header lists are hop-by-hop: not passed on */
	assert_int_equal(parse("GET /v1/models HTTP/1.1\r\n"
			       "Connection: keep-alive, X-Secret\r\n"
			       "connection: ,Anthropic-Beta ,\r\n"
			       "X-Secret: 1\r\nX-Secret-2: 2\r\n\r\n",
			       &r, &why),
			 0);
	assert_true(gw_req_conn_listed(&r, "x-secret"));
	assert_true(gw_req_conn_listed(&r, "anthropic-beta"));
	assert_false(gw_req_conn_listed(&r, "X-Secret-2"));
	assert_false(gw_req_conn_listed(&r, "Host"));
	gw_req_release(&r);

	/* HTTP/1.0 closes unless it asks to stay */
	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &r, &why), 0);
	assert_true(r.close);
	gw_req_release(&r);
	assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n"
			       "\r\n",
			       &r, &why),
			 0);
	assert_false(r.close);
	gw_req_release(&r);
}

static void
test_head_refused(void **state UNUSED)
{
	static const struct {
		const char *head;
		int status;
	} bad[] = {
		{"HELLO\r\n\r\n", 400},
		{"GET /x HTTP/2.0\r\n\r\n", 400},
		{"GET  /x HTTP/1.1\r\n\r\n", 400},
		{"GET /x HTTP/1.1\n\n", 400},
		{"GET /x HTTP/1.1\r\n folded: yes\r\n\r\n", 400},
		{"GET /x HTTP/1.1\r\nbad name: v\r\n\r\n", 400},
		{"GET /x HTTP/1.1\r\nname: a\x01z\r\n\r\n", 400},
		{"GET /x HTTP/1.1\r\nnocolon\r\n\r\n", 400},
		{"POST /x HTTP/1.1\r\nContent-Length: 3\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n",
		 400},
		{"POST /x HTTP/1.1\r\nContent-Length: 3\r\n"
		 "Content-Length: 4\r\n\r\n",
		 400},
		{"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
		{"POST /x HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400},
		{"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		 501},
		{"POST /x HTTP/1.1\r\nExpect: something\r\n\r\n", 417},
	};
	struct gw_req r;
	const char *why;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int st = parse(bad[i].head, &r, &why);

		if (st != bad[i].status)
			fail_msg("%s: %d, want %d", bad[i].head, st,
				 bad[i].status);
		assert_non_null(why);
		gw_req_release(&r);
	}
}

static void
test_head_limits(void **state UNUSED)
{
	struct buf b;
	struct gw_req r;
	const char *why;

	buf_init(&b, 0);
	buf_puts(&b, "GET /x HTTP/1.1\r\n");
	for (int i = 0; i <= GW_HEADERS_MAX; i++)
		buf_printf(&b, "h%d: v\r\n", i);
	buf_puts(&b, "\r\n");
	assert_int_equal(gw_req_parse(b.data, b.len, &r, &why), 431);
	gw_req_release(&r);
	buf_clear(&b);
	buf_puts(&b, "GET /");
	for (int i = 0; i < GW_REQ_TARGET_MAX; i++)
		buf_puts(&b, "a");
	buf_puts(&b, " HTTP/1.1\r\n\r\n");
	assert_int_equal(gw_req_parse(b.data, b.len, &r, &why), 431);
	gw_req_release(&r);
	buf_release(&b);
}

/* Feed s to a chunked decoder one byte at a time; the last result. */
static int
feed_bytes(const char *s, struct buf *in, struct buf *body, const char **why)
{
	struct gw_chunked st = {0};
	int r = 0;

	for (size_t i = 0; s[i] != '\0' && r == 0; i++) {
		buf_append(in, &s[i], 1);
		r = gw_chunked_feed(&st, in, body, why);
	}
	return r;
}

static void
test_chunked(void **state UNUSED)
{
	struct buf in, body;
	const char *why;

	buf_init(&in, 0);
	buf_init(&body, GW_BODY_MAX);
	assert_int_equal(feed_bytes("5;ext=1\r\nhello\r\nA \r\n, world!!!\r\n"
				    "0\r\nx-trailer: 1\r\n\r\nGET",
				    &in, &body, &why),
			 1);
	assert_int_equal(body.len, 15);
	assert_memory_equal(body.data, "hello, world!!!", 15);
	/* what follows the body stays for the next request (fed byte by
	 * byte, the decoder stopped at its end) */
	assert_int_equal(in.len, 0);
	buf_clear(&body);
	{
		struct gw_chunked st = {0};

		buf_puts(&in, "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n");
		assert_int_equal(gw_chunked_feed(&st, &in, &body, &why), 1);
		assert_int_equal(body.len, 3);
		assert_int_equal(in.len, strlen("GET / HTTP/1.1\r\n"));
	}
	buf_release(&in);
	buf_release(&body);
}

static void
test_chunked_refused(void **state UNUSED)
{
	static const struct {
		const char *body;
		int status;
	} bad[] = {
		{"x\r\n", 400},
		{"3\r\nabcd\r\n", 400},
		{"3\nabc\r\n", 400},
		{"-3\r\nabc\r\n", 400},
		{"3 junk\r\nabc\r\n0\r\n\r\n", 400},
		{"2000001\r\n", 413}, /* 32 MiB + 1 */
		{"ffffffffffffffffffff\r\n", 413},
	};
	struct buf in, body;
	const char *why;

	buf_init(&in, 0);
	buf_init(&body, GW_BODY_MAX);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int r = feed_bytes(bad[i].body, &in, &body, &why);

		if (r != bad[i].status)
			fail_msg("%s: %d, want %d", bad[i].body, r,
				 bad[i].status);
		buf_clear(&in);
		buf_clear(&body);
	}
	/* a size line that never ends */
	{
		struct gw_chunked st = {0};

		for (int i = 0; i < 5000; i++)
			buf_puts(&in, "0");
		assert_int_equal(gw_chunked_feed(&st, &in, &body, &why), 400);
	}
	buf_release(&in);
	buf_release(&body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_head_refused),
		cmocka_unit_test(test_head_limits),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_chunked_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
