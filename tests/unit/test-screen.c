/*
 * test-screen.c: the libtsm screen model: text rendering, wide
 * characters, terminal query answers, change detection and resize.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/buf.h"
#include "vt/screen.h"

static void
collect(const char *data, size_t len, void *arg)
{
	buf_append(arg, data, len);
}

static void
test_render_text(void **state)
{
	struct buf replies;
	struct vt_screen *s;
	bool changed;

	buf_init(&replies, 0);
	s = vt_screen_new(20, 10, collect, &replies);
	vt_screen_feed(s, "hello\r\n\r\n  world  \r\n", 21);
	assert_string_equal(vt_screen_render(s, &changed), "hello\n\n  world");
	assert_true(changed);
	vt_screen_render(s, &changed);
	assert_false(changed);
	vt_screen_feed(s, "\x1b[H\x1b[2J", 7);
	assert_string_equal(vt_screen_render(s, &changed), "");
	assert_true(changed);
	vt_screen_free(s);
	buf_release(&replies);
}

static void
test_wide_and_queries(void **state)
{
	struct buf replies;
	struct vt_screen *s;
	const char *in = "\x1b[c\x1b[3;5H\x1b[6n\x1b[H宽🎉x";

	buf_init(&replies, 0);
	s = vt_screen_new(20, 5, collect, &replies);
	vt_screen_feed(s, in, strlen(in));
	assert_string_equal(vt_screen_render(s, NULL), "宽🎉x");
	assert_non_null(strstr(buf_cstr(&replies), "\x1b[?"));
	assert_non_null(strstr(buf_cstr(&replies), "\x1b[3;5R"));
	vt_screen_free(s);
	buf_release(&replies);
}

static void
test_resize_and_scroll(void **state)
{
	struct vt_screen *s = vt_screen_new(10, 3, NULL, NULL);

	vt_screen_feed(s, "1\r\n2\r\n3\r\n4", 10);
	assert_string_equal(vt_screen_render(s, NULL), "2\n3\n4");
	assert_int_equal(vt_screen_resize(s, 30, 5), 0);
	assert_int_equal(vt_screen_cols(s), 30);
	assert_int_equal(vt_screen_rows(s), 5);
	vt_screen_feed(s, "\r\nabcdefghijklmnopqrstuvwxyz", 28);
	assert_non_null(strstr(vt_screen_render(s, NULL),
			       "abcdefghijklmnopqrstuvwxyz"));
	vt_screen_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_text),
		cmocka_unit_test(test_wide_and_queries),
		cmocka_unit_test(test_resize_and_scroll),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
