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

/* Feed a C string. */
static void
feed(struct vt_screen *s, const char *in)
{
	vt_screen_feed(s, in, strlen(in));
}

static void
test_soft_wrap(void **state)
{
	struct vt_screen *s = vt_screen_new(10, 6, NULL, NULL);

	/* a line longer than the terminal, then two lines the program broke */
	feed(s, "GNU/Linux x86_64\r\nfirst\r\nsecond\r\n");
	assert_string_equal(vt_screen_render(s, NULL),
			    "GNU/Linux\nx86_64\nfirst\nsecond");
	assert_string_equal(vt_screen_lines(s),
			    "GNU/Linux x86_64\nfirst\nsecond");
	/* exactly the width, then a newline: two lines */
	feed(s, "\x1b[2J\x1b[H0123456789\r\nnext");
	vt_screen_render(s, NULL);
	assert_string_equal(vt_screen_lines(s), "0123456789\nnext");
	/* a blank at the wrap point is kept; blank lines between stay */
	feed(s, "\x1b[2J\x1b[Hone two  three\r\n\r\nend");
	vt_screen_render(s, NULL);
	assert_string_equal(vt_screen_lines(s), "one two  three\n\nend");
	/* a row rewritten from its start is no longer a continuation */
	feed(s, "\x1b[2J\x1b[H0123456789abc\x1b[2;1Hxyz");
	vt_screen_render(s, NULL);
	assert_string_equal(vt_screen_lines(s), "0123456789\nxyz");
	/* nor is a row whose row above was written again */
	feed(s, "\x1b[2J\x1b[H0123456789abc\x1b[1;3HZ");
	vt_screen_render(s, NULL);
	assert_string_equal(vt_screen_lines(s), "01Z3456789\nabc");
	vt_screen_free(s);
}

static void
test_soft_wrap_scroll(void **state)
{
	struct vt_screen *s = vt_screen_new(10, 3, NULL, NULL);

	/* the wrap mark moves up with its row when the screen scrolls */
	feed(s, "a\r\nb\r\n0123456789AB\r\nc");
	assert_string_equal(vt_screen_render(s, NULL), "0123456789\nAB\nc");
	assert_string_equal(vt_screen_lines(s), "0123456789AB\nc");
	/* a wrap on the bottom row scrolls too */
	feed(s, "\x1b[2J\x1b[H\r\n\r\n0123456789XY");
	assert_string_equal(vt_screen_render(s, NULL), "\n0123456789\nXY");
	assert_string_equal(vt_screen_lines(s), "\n0123456789XY");
	/* the alternate screen starts without marks; the main one keeps its */
	feed(s, "\x1b[?1049h\x1b[Hp\r\nq");
	vt_screen_render(s, NULL);
	assert_string_equal(vt_screen_lines(s), "p\nq");
	feed(s, "\x1b[?1049l");
	vt_screen_render(s, NULL);
	assert_string_equal(vt_screen_lines(s), "\n0123456789XY");
	/* erasing the screen erases the marks */
	feed(s, "\x1b[2J\x1b[H0123456789\x1b[2;1H\x1b[KZ");
	vt_screen_render(s, NULL);
	assert_string_equal(vt_screen_lines(s), "0123456789\nZ");
	vt_screen_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_text),
		cmocka_unit_test(test_wide_and_queries),
		cmocka_unit_test(test_resize_and_scroll),
		cmocka_unit_test(test_soft_wrap),
		cmocka_unit_test(test_soft_wrap_scroll),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
