/*
 * test-throttle.c: failed sign-ins per key on an injected clock: free
 * attempts, the growing delay, the bound and its Retry-After, a success
 * taking its attempt back or clearing the key, a new window, and the
 * table's bound evicting an ended window, else the fewest attempts (a
 * flood of new keys keeps an attacked key's count).
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "server/throttle.h"

static void
test_delays(void **state UNUSED)
{
	for (unsigned n = 1; n <= THROTTLE_FREE; n++)
		assert_int_equal(throttle_delay_ms(n), 0);
	assert_int_equal(throttle_delay_ms(6), 2000);
	assert_int_equal(throttle_delay_ms(7), 4000);
	assert_int_equal(throttle_delay_ms(9), 16000);
	assert_int_equal(throttle_delay_ms(10), THROTTLE_DELAY_MAX_MS);
	assert_int_equal(throttle_delay_ms(1000), THROTTLE_DELAY_MAX_MS);
}

static void
test_bound_and_window(void **state UNUSED)
{
	struct throttle *t = throttle_new(16);
	uint64_t retry, now = 1000000;

	for (unsigned n = 1; n <= THROTTLE_BOUND; n++)
		assert_int_equal(throttle_attempt(t, "alice", now + n, &retry),
				 n);
	/* the 21st is refused until the window that began at now + 1 ends */
	assert_int_equal(throttle_attempt(t, "alice", now + 100, &retry), 0);
	assert_int_equal(retry, THROTTLE_WINDOW_MS - 99);
	/* another key is not concerned */
	assert_int_equal(throttle_attempt(t, "bob", now + 100, &retry), 1);
	/* a new window starts afresh */
	assert_int_equal(throttle_attempt(t, "alice",
					  now + 1 + THROTTLE_WINDOW_MS, &retry),
			 1);
	throttle_free(t);
}

static void
test_success(void **state UNUSED)
{
	struct throttle *t = throttle_new(16);
	uint64_t retry;

	for (int i = 0; i < 7; i++)
		throttle_attempt(t, "carol", 10, &retry);
	/* an address's right password takes its one attempt back */
	throttle_success(t, "carol", false);
	assert_int_equal(throttle_attempt(t, "carol", 11, &retry), 7);
	/* a username's clears its count */
	throttle_success(t, "carol", true);
	assert_int_equal(throttle_attempt(t, "carol", 12, &retry), 1);
	/* a key never seen: nothing to do */
	throttle_success(t, "dave", true);
	assert_int_equal(throttle_size(t), 1);
	throttle_free(t);
}

static void
test_bounded_table(void **state UNUSED)
{
	struct throttle *t = throttle_new(3);
	uint64_t retry;
	char key[THROTTLE_KEY_MAX + 32];

	throttle_attempt(t, "old", 1, &retry);
	throttle_attempt(t, "old", 2, &retry);
	throttle_attempt(t, "mid", 5, &retry);
	throttle_attempt(t, "new", 9, &retry);
	/* full: a fourth key takes the place of the fewest attempts' oldest */
	throttle_attempt(t, "newest", 10, &retry);
	assert_int_equal(throttle_size(t), 3);
	assert_int_equal(throttle_attempt(t, "old", 11, &retry), 3);
	assert_int_equal(throttle_attempt(t, "mid", 12, &retry), 1);
	/* an ended window goes first, whatever its count */
	assert_int_equal(
		throttle_attempt(t, "x", 11 + THROTTLE_WINDOW_MS, &retry), 1);
	assert_int_equal(
		throttle_attempt(t, "old", 12 + THROTTLE_WINDOW_MS, &retry), 1);
	/* keys are cut: a long one is the same as its first bytes */
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	throttle_attempt(t, key, 20, &retry);
	key[THROTTLE_KEY_MAX + 5] = 'x';
	assert_int_equal(throttle_attempt(t, key, 21, &retry), 2);
	throttle_free(t);
}

/* A flood of new keys (usernames tried once each, from many addresses)
 * does not reset the count of the key under attack. */
static void
test_flood_keeps_the_attacked(void **state UNUSED)
{
	struct throttle *t = throttle_new(8);
	uint64_t retry;
	char key[32];

	for (unsigned n = 1; n <= THROTTLE_BOUND; n++)
		throttle_attempt(t, "admin", n, &retry);
	for (unsigned i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "noise%u", i);
		assert_int_equal(throttle_attempt(t, key, 100 + i, &retry), 1);
	}
	assert_int_equal(throttle_size(t), 8);
	assert_int_equal(throttle_attempt(t, "admin", 500, &retry), 0);
	assert_true(retry > 0);
	throttle_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delays),
		cmocka_unit_test(test_bound_and_window),
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_bounded_table),
		cmocka_unit_test(test_flood_keeps_the_attacked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
