/*
 * test-extauth.c: the pure parts of external auth (extauth-parse.c):
 * GitHub's token and user replies parsed strictly, the config's checks.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "server/extauth.h"

/* Parse s as a token reply at time 1000 ms: the return value. */
static int
parse(const char *s, struct extauth_token *tok, char **error, char **cause)
{
	/* the parser wipes the reply's strings: give it a copy */
	char *copy = xstrdup(s);
	int r = extauth_token_parse(copy, strlen(copy), 1000, tok, error,
				    cause);

	free(copy);
	return r;
}

static void
test_token_ok(void **state UNUSED)
{
	struct extauth_token tok;
	char *error, *cause;

	assert_int_equal(parse("{\"access_token\":\"gho_abc\",\"token_type\":"
			       "\"bearer\",\"scope\":\"repo\"}",
			       &tok, &error, &cause),
			 0);
	assert_string_equal(tok.access_token, "gho_abc");
	assert_null(tok.refresh_token);
	assert_int_equal(tok.expires_at, 0);
	extauth_token_clear(&tok);
	assert_null(tok.access_token);

	assert_int_equal(parse("{\"access_token\":\"ghu_x\",\"expires_in\":"
			       "28800,\"refresh_token\":\"ghr_y\","
			       "\"token_type\":\"Bearer\"}",
			       &tok, &error, &cause),
			 0);
	assert_int_equal(tok.expires_at, 1000 + 28800 * 1000LL);
	assert_string_equal(tok.refresh_token, "ghr_y");
	extauth_token_clear(&tok);
}

static void
test_token_error(void **state UNUSED)
{
	struct extauth_token tok;
	char *error, *cause;

	assert_int_equal(parse("{\"error\":\"authorization_pending\","
			       "\"error_description\":\"wait\\u0007 a bit\"}",
			       &tok, &error, &cause),
			 -EPERM);
	assert_string_equal(error, "authorization_pending");
	assert_string_equal(cause, "wait a bit"); /* controls dropped */
	assert_null(tok.access_token);
	free(error);
	free(cause);
}

static void
test_token_malformed(void **state UNUSED)
{
	static const char *const bad[] = {
		"",
		"[]",
		"access_token=gho_x&token_type=bearer", /* form, not JSON */
		"{}",
		"{\"access_token\":\"\"}",
		"{\"access_token\":\"has space\"}",
		"{\"access_token\":7}",
		"{\"access_token\":\"a\",\"token_type\":\"mac\"}",
		"{\"access_token\":\"a\",\"expires_in\":\"60\"}",
		"{\"access_token\":\"a\",\"expires_in\":0}",
		"{\"access_token\":\"a\",\"refresh_token\":\"b c\"}",
		"{\"access_token\":\"a\",\"access_token\":\"b\"}",
		"{\"error\":\"Bad-Thing\"}",
		"{\"error\":7}",
	};
	struct extauth_token tok;
	char *error, *cause;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(parse(bad[i], &tok, &error, &cause), -EPROTO);
		assert_null(tok.access_token);
		assert_null(error);
		assert_non_null(cause);
		free(cause);
	}
}

static void
test_user(void **state UNUSED)
{
	struct extauth_user u;
	char *cause = NULL;
	const char *ok = "{\"login\":\"octo-cat\",\"id\":583231,\"name\":"
			 "null,\"avatar_url\":\"https://a.example/u/1\"}";

	assert_int_equal(extauth_user_parse(ok, strlen(ok), &u, &cause), 0);
	assert_int_equal(u.id, 583231);
	assert_string_equal(u.login, "octo-cat");
	assert_string_equal(u.name, "");
	assert_string_equal(u.avatar_url, "https://a.example/u/1");
	extauth_user_clear(&u);

	static const char *const bad[] = {
		"{\"login\":\"x\"}",
		"{\"login\":\"x\",\"id\":0}",
		"{\"login\":\"x\",\"id\":\"1\"}",
		"{\"login\":\"a b\",\"id\":1}",
		"{\"login\":\"a/b\",\"id\":1}",
		"{\"login\":\"x\",\"id\":1,\"name\":5}",
		"{\"message\":\"Bad credentials\"}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(
			extauth_user_parse(bad[i], strlen(bad[i]), &u, &cause),
			-EPROTO);
		free(cause);
		cause = NULL;
	}
}

static void
test_config_checks(void **state UNUSED)
{
	char *u;

	u = extauth_url_norm("https://ghe.example.com:8443/x/");
	assert_string_equal(u, "https://ghe.example.com:8443/x");
	free(u);
	u = extauth_url_norm("http://127.0.0.1:9");
	assert_string_equal(u, "http://127.0.0.1:9");
	free(u);
	assert_null(extauth_url_norm("ftp://github.com"));
	assert_null(extauth_url_norm("https://"));
	assert_null(extauth_url_norm("https:///x"));
	assert_null(extauth_url_norm("https://u:p@github.com"));
	assert_null(extauth_url_norm("https://github.com/?q"));
	assert_null(extauth_url_norm("https://github.com/#f"));
	assert_null(extauth_url_norm("https://git hub.com"));
	assert_null(extauth_url_norm(""));
	u = extauth_callback_norm("https://tb.example.com/p/external-auth/"
				  "github/callback/");
	assert_string_equal(u, "https://tb.example.com/p/external-auth/github/"
			       "callback");
	free(u);
	assert_null(extauth_callback_norm("https://tb.example.com/"));
	assert_null(extauth_callback_norm("https://tb.example.com/external-"
					  "auth/github/callback?x=1"));
	assert_null(extauth_callback_norm("https://tb.example.com/external-"
					  "auth/github/callbackx"));
	assert_null(extauth_callback_norm("https:///external-auth/github/"
					  "callback"));
	assert_null(extauth_callback_norm("ftp://tb.example.com/external-"
					  "auth/github/callback"));
	assert_true(extauth_scopes_valid("repo read:user"));
	assert_true(extauth_scopes_valid(""));
	assert_false(extauth_scopes_valid("repo;rm"));
	assert_false(extauth_printable("", 4));
	assert_false(extauth_printable("abcde", 4));
	assert_true(extauth_printable("abcd", 4));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_ok),
		cmocka_unit_test(test_token_error),
		cmocka_unit_test(test_token_malformed),
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_config_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
