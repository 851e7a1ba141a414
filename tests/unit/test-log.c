/*
 * test-log.c: the log's flood folding (log_limit_check, log_tally) as
 * timelines.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/log.h"

/* Feed msg at t; returns whether it is printed. */
static bool
feed(struct log_limit *l, const char *msg, uint64_t t,
     char notes[2][LOG_NOTE_MAX])
{
	return log_limit_check(l, msg, t, notes);
}

static void
test_repeats_folded(void **state UNUSED)
{
	struct log_limit l = {0};
	char notes[2][LOG_NOTE_MAX];

	assert_true(feed(&l, "warn cannot accept: EMFILE", 1000, notes));
	assert_string_equal(notes[0], "");
	/* the same line a thousand times within a second: nothing */
	for (int i = 0; i < 1000; i++) {
		assert_false(feed(&l, "warn cannot accept: EMFILE", 1000 + i,
				  notes));
		assert_string_equal(notes[0], "");
	}
	/* another line: the count first, then the line */
	assert_true(feed(&l, "info something else", 2500, notes));
	assert_string_equal(notes[0], "last message repeated 1000 times");
	assert_string_equal(notes[1], "");
	/* the earlier line is new again */
	assert_true(feed(&l, "warn cannot accept: EMFILE", 2600, notes));
}

static void
test_repeats_summarised_while_they_last(void **state UNUSED)
{
	struct log_limit l = {0};
	char notes[2][LOG_NOTE_MAX];
	unsigned summaries = 0;

	assert_true(feed(&l, "error x", 0, notes));
	/* a line every millisecond for 30 s: one summary every 10 s */
	for (uint64_t t = 1; t <= 30000; t++) {
		assert_false(feed(&l, "error x", t, notes));
		if (notes[0][0] != '\0') {
			summaries++;
			assert_int_equal(t % LOG_REPEAT_MS, 0);
		}
	}
	assert_int_equal(summaries, 3);
	assert_string_equal(notes[0], "last message repeated 10000 times");
}

static void
test_lines_capped_per_second(void **state UNUSED)
{
	struct log_limit l = {0};
	char notes[2][LOG_NOTE_MAX], msg[32];
	unsigned printed = 0;

	for (int i = 0; i < LOG_LINES_PER_SEC + 100; i++) {
		snprintf(msg, sizeof msg, "info line %d", i);
		if (feed(&l, msg, 5000 + (uint64_t)i % 900, notes))
			printed++;
	}
	assert_int_equal(printed, LOG_LINES_PER_SEC);
	/* the next second: the count of the dropped ones, then the line */
	assert_true(feed(&l, "info later", 6000, notes));
	assert_string_equal(notes[0],
			    "100 messages suppressed (more than 200 a second)");
	/* a dropped line does not count as printed: no repeat note */
	assert_true(feed(&l, "info line 250", 6001, notes));
	assert_string_equal(notes[0], "");
}

static void
test_tally(void **state UNUSED)
{
	struct log_tally t = {0};
	unsigned n = 0, lines = 0, total = 0;

	/* the first at once, with a count of one */
	assert_true(log_tally(&t, 500, &n));
	assert_int_equal(n, 1);
	/* then one line per 10 s carrying the count since the last */
	for (uint64_t ms = 501; ms <= 30500; ms++) {
		if (log_tally(&t, ms, &n)) {
			lines++;
			total += n;
		}
	}
	assert_int_equal(lines, 3);
	assert_int_equal(total, 30000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repeats_folded),
		cmocka_unit_test(test_repeats_summarised_while_they_last),
		cmocka_unit_test(test_lines_capped_per_second),
		cmocka_unit_test(test_tally),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
