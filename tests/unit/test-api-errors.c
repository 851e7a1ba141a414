/*
 * test-api-errors.c: the errno → HTTP status table of the api-*.c files.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "server/api-errors.h"

static void
test_table(void **state UNUSED)
{
	assert_int_equal(api_status_for_errno(0), 200);
	assert_int_equal(api_status_for_errno(-ENOENT), 404);
	/* the sign does not matter */
	assert_int_equal(api_status_for_errno(ENOENT), 404);
	assert_int_equal(api_status_for_errno(-EEXIST), 409);
	assert_int_equal(api_status_for_errno(-EBUSY), 409);
	assert_int_equal(api_status_for_errno(-EACCES), 403);
	assert_int_equal(api_status_for_errno(-ENOSPC), 507);
	assert_int_equal(api_status_for_errno(-ECONNREFUSED), 502);
	assert_int_equal(api_status_for_errno(-ETIMEDOUT), 504);
	/* what the table does not name is the server's fault */
	assert_int_equal(api_status_for_errno(-EIO), 500);
	assert_int_equal(api_status_for_errno(-ENOMEM), 500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
