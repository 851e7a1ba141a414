/*
 * test-install.c: the pure parts of agent installs (install-parse.c):
 * tar's listing summed, the marker compared, user info cut out of
 * messages, the last line of a tool's log.
 */
#include "common.h"

#include <limits.h>
#include <setjmp.h>
#include <cmocka.h>

#include "server/install-parse.h"

/* install_tar_add over one NUL-terminated line. */
static long long
add(long long total, const char *line)
{
	return install_tar_add(total, line, strlen(line));
}

static void
test_tar_lines(void **state UNUSED)
{
	/* GNU tar 1.34's lines, with --numeric-owner */
	assert_int_equal(add(0, "-rw-r--r-- 0/0               3 2026-12-01 "
				"14:26 d/a b\n"),
			 3);
	assert_int_equal(add(10, "-rw-r--r-- 1000/1000 5000 2026-12-01 "
				 "14:26 d/big"),
			 5010);
	assert_int_equal(add(7, "drwxr-xr-x 0/0 0 2026-12-01 14:26 d/\n"), 7);
	assert_int_equal(add(7, "hrw-r--r-- 0/0 0 2026-12-01 14:26 d/h link "
				"to d/a b\n"),
			 7);
	/* a device's size field is MAJOR,MINOR: nothing */
	assert_int_equal(add(7, "crw-r--r-- 0/0 1,3 2026-12-01 14:26 d/c\n"),
			 7);
	/* not a member's line: nothing */
	assert_int_equal(add(7, ""), 7);
	assert_int_equal(add(7, "\n"), 7);
	assert_int_equal(add(7, "-rw-r--r--\n"), 7);
	assert_int_equal(add(7, "-rw-r--r-- 0/0\n"), 7);
	assert_int_equal(add(7, "-rw-r--r-- 0/0 12\n"), 7);
	assert_int_equal(add(7, "-rw-r--r-- 0/0 12x 2026-12-01\n"), 7);
	assert_int_equal(add(7, "-rw-r--r-- 0/0 -12 2026-12-01\n"), 7);
	assert_int_equal(add(7, " 0/0 12 2026-12-01\n"), 7);
	/* the length is the line's end, whatever follows */
	assert_int_equal(install_tar_add(0, "-rw 0/0 12 x", 9), 0);
	assert_int_equal(install_tar_add(0, "-rw 0/0 12 x", 11), 12);
}

static void
test_tar_saturates(void **state UNUSED)
{
	/* sizes no tar gives, from a hostile listing: no overflow */
	assert_int_equal(add(0, "-rw 0/0 99999999999999999999999 d t n\n"),
			 LLONG_MAX);
	assert_int_equal(add(0, "-rw 0/0 9223372036854775807 d t n\n"),
			 LLONG_MAX);
	assert_int_equal(add(0, "-rw 0/0 9223372036854775806 d t n\n"),
			 LLONG_MAX - 1);
	assert_int_equal(add(2, "-rw 0/0 9223372036854775806 d t n\n"),
			 LLONG_MAX);
	assert_int_equal(add(LLONG_MAX, "-rw 0/0 1 d t n\n"), LLONG_MAX);
	assert_int_equal(add(LLONG_MAX - 5, "-rw 0/0 5 d t n\n"), LLONG_MAX);
}

static void
test_marker(void **state UNUSED)
{
	const char *want = "url https://x/a.tgz\nsha256 ab\n";

	assert_true(install_marker_match(want, strlen(want), want));
	/* a byte less, a byte more, a NUL and more after it */
	assert_false(install_marker_match(want, strlen(want) - 1, want));
	assert_false(install_marker_match("url https://x/a.tgz\nsha256 ab\nx",
					  strlen(want) + 1, want));
	assert_false(install_marker_match("url https://x/a.tgz\nsha256 ab\n\0z",
					  strlen(want) + 2, want));
	assert_false(install_marker_match("url https://x/a.tgz\nsha256 ac\n",
					  strlen(want), want));
	assert_true(install_marker_match("", 0, ""));
	assert_false(install_marker_match("", 0, want));
}

/* install_scrub_userinfo on a copy of in: equal to out? */
static void
scrub(const char *in, const char *out)
{
	char *s = xstrdup(in);

	install_scrub_userinfo(s);
	assert_string_equal(s, out);
	free(s);
}

static void
test_scrub(void **state UNUSED)
{
	scrub("no url here", "no url here");
	scrub("Looking in indexes: https://bob:s3cret@pypi.example/simple",
	      "Looking in indexes: https://pypi.example/simple");
	/* a password holding '@' unescaped goes whole */
	scrub("https://bob:p@ss@host/x and http://u@h:8080 too",
	      "https://host/x and http://h:8080 too");
	/* an '@' past the authority is no user info */
	scrub("https://host/a@b", "https://host/a@b");
	scrub("'https://u:p@host' \"http://v@w\"",
	      "'https://host' \"http://w\"");
	/* "'" is a sub-delim: a password may hold it unescaped */
	scrub("pip from https://bob:it's@pypi.example/simple failed",
	      "pip from https://pypi.example/simple failed");
	scrub("'https://u:p'w@host' ok", "'https://host' ok");
	scrub("x://@", "x://");
	scrub("://a@://b@c", "://://c");
}

/* install_log_tail of in into out[size]: equal to want? */
static void
tail(const char *in, size_t size, const char *want)
{
	char out[64];

	assert_true(size <= sizeof out);
	install_log_tail(in, strlen(in), out, size);
	assert_string_equal(out, want);
}

static void
test_log_tail(void **state UNUSED)
{
	tail("", 64, "");
	tail("\n\r\n  \n", 64, "");
	tail("one\ntwo\n", 64, "two");
	tail("one\ntwo \r\n\n", 64, "two");
	tail("only", 64, "only");
	tail("a\nERROR:\tno\x1b[31m match\x7f\r\n", 64,
	     "ERROR: no [31m match ");
	/* cut at size - 1 bytes, never inside a UTF-8 sequence */
	tail("x\nabcdef", 4, "abc");
	tail("x\nab\xc3\xa9z", 4, "ab");
	tail("x\nab\xc3\xa9z", 5, "ab\xc3\xa9");
	tail("x\n\xe2\x94\x80\xe2\x94\x80", 6, "\xe2\x94\x80");
	tail("abc", 1, "");
	/* bytes after a NUL count: a NUL is a control byte */
	{
		char out[16];

		install_log_tail("a\nb\0c\n", 6, out, sizeof out);
		assert_string_equal(out, "b c");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tar_lines),
		cmocka_unit_test(test_tar_saturates),
		cmocka_unit_test(test_marker),
		cmocka_unit_test(test_scrub),
		cmocka_unit_test(test_log_tail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
