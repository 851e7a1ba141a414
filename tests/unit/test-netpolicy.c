/*
 * test-netpolicy.c: every spelling of a forbidden address is classified
 * as such; private and public ranges; local names.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/netpolicy.h"

/* The class of a literal host, or -1 if it is not one. */
static int
klass(const char *host)
{
	struct sockaddr_storage ss;

	if (net_literal(host, &ss) < 0)
		return -1;
	return (int)net_classify((struct sockaddr *)&ss);
}

static void
test_forbidden_spellings(void **state)
{
	static const char *const bad[] = {
		"127.0.0.1",
		"127.1",
		"2130706433",
		"0x7f000001",
		"0177.0.0.1",
		"0.0.0.0",
		"0",
		"[::1]",
		"::1",
		"::",
		"::ffff:127.0.0.1",
		"[::ffff:7f00:1]",
		"::127.0.0.1",
		"64:ff9b::7f00:1",
		"2002:7f00:1::",
		"169.254.169.254",
		"fe80::1",
		"224.0.0.1",
		"ff02::1",
		"255.255.255.255",
		"240.0.0.1",
		"192.0.0.8",
		"198.18.0.1",
		"203.0.113.9",
		"::ffff:0:7f00:1",
		"64:ff9b:1::1",
		"2001:db8::1",
		"2001::1",
		"100::1",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		print_message("%s\n", bad[i]);
		assert_int_equal(klass(bad[i]), NET_FORBIDDEN);
	}
}

static void
test_private_and_public(void **state)
{
	assert_int_equal(klass("10.1.2.3"), NET_PRIVATE);
	assert_int_equal(klass("172.16.0.1"), NET_PRIVATE);
	assert_int_equal(klass("172.31.255.255"), NET_PRIVATE);
	assert_int_equal(klass("192.168.1.1"), NET_PRIVATE);
	assert_int_equal(klass("100.64.0.1"), NET_PRIVATE);
	assert_int_equal(klass("fd00::2"), NET_PRIVATE);
	assert_int_equal(klass("::ffff:10.0.0.1"), NET_PRIVATE);
	assert_int_equal(klass("172.32.0.1"), NET_PUBLIC);
	assert_int_equal(klass("8.8.8.8"), NET_PUBLIC);
	assert_int_equal(klass("2606:4700::1"), NET_PUBLIC);
	assert_int_equal(klass("100.128.0.1"), NET_PUBLIC);
}

static void
test_not_literals(void **state)
{
	assert_int_equal(klass("example.com"), -1);
	assert_int_equal(klass("127.0.0.1 x"), -1);
	assert_int_equal(klass(""), -1);
	assert_int_equal(klass("[]"), -1);
	assert_int_equal(klass("1.2.3.4.5"), -1);
}

static void
test_local_names(void **state)
{
	bool priv;

	assert_true(net_name_local("localhost"));
	assert_true(net_name_local("LOCALHOST."));
	assert_true(net_name_local("api.localhost"));
	assert_true(net_name_local("ip6-loopback"));
	assert_false(net_name_local("notlocalhost"));
	assert_false(net_name_local("localhost.example.com"));
	assert_non_null(net_check_host("localhost", &priv));
	assert_non_null(net_check_host("[::1]", &priv));
	assert_null(net_check_host("example.com", &priv));
	assert_false(priv);
	assert_null(net_check_host("10.9.8.7", &priv));
	assert_true(priv);
}

static void
test_url_host(void **state)
{
	char h[64];

	assert_int_equal(net_url_host("http://a.example:80/x", h, sizeof h), 0);
	assert_string_equal(h, "a.example");
	assert_int_equal(net_url_host("https://u:p@127.0.0.1/x@y", h, sizeof h),
			 0);
	assert_string_equal(h, "127.0.0.1");
	assert_int_equal(net_url_host("http://[::1]:8080/", h, sizeof h), 0);
	assert_string_equal(h, "::1");
	assert_int_equal(net_url_host("http://x.example?a=@b", h, sizeof h), 0);
	assert_string_equal(h, "x.example");
	assert_int_equal(net_url_host("http:///x", h, sizeof h), -EINVAL);
	assert_int_equal(net_url_host("http://[::1/", h, sizeof h), -EINVAL);
	assert_int_equal(net_url_host("nothing", h, sizeof h), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forbidden_spellings),
		cmocka_unit_test(test_private_and_public),
		cmocka_unit_test(test_not_literals),
		cmocka_unit_test(test_local_names),
		cmocka_unit_test(test_url_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
