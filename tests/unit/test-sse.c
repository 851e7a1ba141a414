/*
 * test-sse.c: the CLI's text/event-stream parser, fed in pieces.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "http/sse.h"
#include "core/buf.h"

/* Collects "event=data;" for each dispatched event. */
static int
collect(const char *event, const char *data, void *arg)
{
	buf_printf(arg, "%s=%s;", event, data);
	return strcmp(data, "stop") == 0 ? 7 : 0;
}

/* Feed s one byte at a time (or whole); returns the collected events. */
static char *
parse(const char *s, bool bytewise, int *ret)
{
	struct sse_parser p;
	struct buf out;
	int r = 0;

	buf_init(&out, 0);
	buf_append(&out, "", 0);
	sse_parser_init(&p, collect, &out);
	if (bytewise) {
		for (size_t i = 0; s[i] && r == 0; i++)
			r = sse_parser_feed(&p, s + i, 1);
	} else {
		r = sse_parser_feed(&p, s, strlen(s));
	}
	sse_parser_release(&p);
	if (ret != NULL)
		*ret = r;
	return buf_steal(&out);
}

/* Events, comments, multi-line data and all three line endings. */
static void
test_sse_events(void **state)
{
	const char *in = ": hello\n\n"
			 "event: task\ndata: {\"a\":1}\n\n"
			 "data:x\r\ndata: y\r\n\r\n"
			 "event: screen\rdata: z\r\r"
			 "id: 3\nretry: 10\n\n"
			 "event: partial\ndata: never";

	for (int bytewise = 0; bytewise < 2; bytewise++) {
		char *s = parse(in, bytewise, NULL);

		assert_string_equal(s, "task={\"a\":1};message=x\ny;screen=z;");
		free(s);
	}
}

/* A callback's non-zero value stops the parse and comes back. */
static void
test_sse_stop(void **state)
{
	int r;
	char *s = parse("data: a\n\ndata: stop\n\ndata: b\n\n", false, &r);

	assert_int_equal(r, 7);
	assert_string_equal(s, "message=a;message=stop;");
	free(s);
}

/* A line longer than the limit fails instead of growing without end. */
static void
test_sse_limit(void **state)
{
	struct sse_parser p;
	char *chunk = xmalloc(1 << 20);
	int r = 0;

	memset(chunk, 'x', 1 << 20);
	sse_parser_init(&p, collect, NULL);
	for (int i = 0; i < 8 && r == 0; i++)
		r = sse_parser_feed(&p, chunk, 1 << 20);
	assert_int_equal(r, -ENOBUFS);
	sse_parser_release(&p);
	free(chunk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sse_events),
		cmocka_unit_test(test_sse_stop),
		cmocka_unit_test(test_sse_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
