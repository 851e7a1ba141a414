/*
 * test-text.c: line arrays, UTF-8 helpers and the bounded buffer.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/text.h"

static void
test_lines_roundtrip(void **state)
{
	struct lines l;
	char *s;

	lines_split(&l, "\n\na\n  \nb\n\n");
	assert_int_equal(l.n, 7);
	lines_trim_blank(&l);
	assert_int_equal(l.n, 3);
	s = lines_join(&l, 0, l.n);
	assert_string_equal(s, "a\n  \nb");
	free(s);
	lines_release(&l);
}

static void
test_utf8(void **state)
{
	size_t n;
	uint32_t *u = utf8_decode("a宽🎉\xff", &n);

	assert_int_equal(n, 4);
	assert_int_equal(u[1], 0x5bbd);
	assert_int_equal(u[2], 0x1f389);
	assert_int_equal(u[3], 0xfffd);
	free(u);
	assert_true(utf8_valid("宽字符", strlen("宽字符")));
	assert_false(utf8_valid("\xe5\xae", 2));
}

static void
test_buf_limit(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(buf_append(&b, "12345", 5), 0);
	assert_int_equal(buf_append(&b, "6789", 4), -ENOBUFS);
	assert_int_equal(b.len, 5); /* a failed append changes nothing */
	assert_string_equal(buf_cstr(&b), "12345");
	buf_consume(&b, 2);
	assert_string_equal(buf_cstr(&b), "345");
	buf_release(&b);
}

static void
test_utf8_cut(void **state UNUSED)
{
	const char *s = "a宽🎉"; /* 1 + 3 + 4 bytes */

	assert_int_equal(utf8_cut(s, 0), 0);
	assert_int_equal(utf8_cut(s, 1), 1);
	/* inside 宽: back to its lead byte */
	assert_int_equal(utf8_cut(s, 2), 1);
	assert_int_equal(utf8_cut(s, 3), 1);
	assert_int_equal(utf8_cut(s, 4), 4);
	/* inside the 4-byte emoji, at each of its bytes */
	for (size_t n = 5; n < 8; n++)
		assert_int_equal(utf8_cut(s, n), 4);
	assert_int_equal(utf8_cut(s, 8), 8);
	/* a string cut to max bytes */
	assert_int_equal(utf8_cut(s, strnlen(s, 6)), 4);
	assert_int_equal(utf8_cut(s, strnlen(s, 100)), 8);
	/* 2-byte sequence */
	assert_int_equal(utf8_cut("é", 1), 0);
	assert_int_equal(utf8_cut("é", 2), 2);
	/* invalid bytes stay: stray continuation bytes, 0xff */
	assert_int_equal(utf8_cut("a\x80\x80\x80\x80", 5), 5);
	assert_int_equal(utf8_cut("ab\xff", 3), 3);
	/* a lone lead byte at the end is incomplete: dropped */
	assert_int_equal(utf8_cut("ab\xe5", 3), 2);
	/* a lead byte whose sequence ended already (too many continuation
	 * bytes follow): nothing to complete */
	assert_int_equal(utf8_cut("\xc3\xa9\x80", 3), 3);
}

static void
test_escape_path(void **state UNUSED)
{
	char *s = str_escape_path("/@a/t/apps/w/~k/Ab_-9/x y?%\r\n\xc3\xa9");

	assert_string_equal(s, "/@a/t/apps/w/~k/Ab_-9/x%20y%3F%25%0D%0A%C3%A9");
	free(s);
	s = str_escape_path("");
	assert_string_equal(s, "");
	free(s);
}

static void
test_parse_long(void **state)
{
	long v;

	assert_int_equal(parse_long("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_long("42x", 0, 100, &v), -EINVAL);
	assert_int_equal(parse_long("101", 0, 100, &v), -EINVAL);
	assert_int_equal(parse_long("", 0, 100, &v), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_roundtrip),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_utf8_cut),
		cmocka_unit_test(test_buf_limit),
		cmocka_unit_test(test_parse_long),
		cmocka_unit_test(test_escape_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
