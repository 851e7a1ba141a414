/*
 * test-send.c: the send engine driven by a fake clock: echoing agents,
 * silent agents, agents that need a second Enter, and dead agents.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "runtime/send.h"

static const struct send_config cfg = {
	.echo_quiet_ms = 60,
	.no_echo_ms = 250,
	.guard_max_ms = 1500,
	.retry_ms = 3000,
	.reenter_ms = 250,
	.reenter_max = 2,
	.timeout_ms = 15000,
};

static void
test_echoing_agent(void **state)
{
	struct send_engine se;

	send_init(&se, &cfg);
	send_start(&se, 100);
	assert_true(send_active(&se));
	assert_false(send_poll(&se, 110));
	send_on_render(&se, 120, true, true); /* the echo */
	assert_int_equal(send_next_deadline(&se), 180);
	assert_false(send_poll(&se, 170));
	send_on_render(&se, 150, true, true); /* more echo: guard moves */
	assert_false(send_poll(&se, 200));
	assert_true(send_poll(&se, 210)); /* carriage return now */
	assert_int_equal(se.phase, SEND_ENTERED);
	send_on_render(&se, 230, false, false);
	assert_int_equal(se.phase, SEND_ENTERED);
	send_on_render(&se, 240, true, false);
	assert_int_equal(se.phase, SEND_DONE);
	assert_false(send_active(&se));
}

static void
test_silent_agent_gets_guard(void **state)
{
	struct send_engine se;

	send_init(&se, &cfg);
	send_start(&se, 0);
	assert_int_equal(send_next_deadline(&se), 250);
	assert_false(send_poll(&se, 249));
	assert_true(send_poll(&se, 250));
}

/*
 * A banner animates before the agent shows the paste (it is still busy):
 * those changes are no echo, so no Enter 60 ms after them; once the echo
 * shows, 60 ms after the last change.
 */
static void
test_animation_is_no_echo(void **state)
{
	struct send_engine se;

	send_init(&se, &cfg);
	send_start(&se, 0);
	send_on_render(&se, 100, true, false); /* a banner frame */
	assert_false(send_poll(&se, 160));
	assert_int_equal(send_next_deadline(&se), 350);
	send_on_render(&se, 200, true, false); /* another one */
	assert_false(send_poll(&se, 350));
	send_on_render(&se, 300, true, true); /* the echo at last */
	assert_int_equal(send_next_deadline(&se), 360);
	assert_true(send_poll(&se, 360));
	/* unrecognised changes settle after no_echo_ms of quiet */
	send_start(&se, 1000);
	send_on_render(&se, 1100, true, false);
	assert_false(send_poll(&se, 1349));
	assert_true(send_poll(&se, 1350));
}

/* An animation faster than the echo guard: Enter comes at guard_max_ms. */
static void
test_animated_agent_guard_ends(void **state)
{
	struct send_engine se;
	uint64_t t;

	send_init(&se, &cfg);
	send_start(&se, 0);
	for (t = 20; t < 1500; t += 50) {
		send_on_render(&se, t, true, t == 20);
		assert_false(send_poll(&se, t));
	}
	assert_int_equal(send_next_deadline(&se), 1500);
	assert_true(send_poll(&se, 1500));
	assert_int_equal(se.phase, SEND_ENTERED);
}

static void
test_retry_then_timeout(void **state)
{
	struct send_engine se;

	send_init(&se, &cfg);
	send_start(&se, 0);
	assert_true(send_poll(&se, 250));
	assert_false(send_poll(&se, 3000));
	assert_true(send_poll(&se, 3250)); /* second Enter */
	assert_int_equal(se.crs, 2);
	assert_true(send_poll(&se, 6250));
	assert_true(send_poll(&se, 9250));
	assert_true(send_poll(&se, 12250));
	assert_false(send_poll(&se, 15249));
	assert_false(send_poll(&se, 15250));
	assert_int_equal(se.phase, SEND_FAILED);
	assert_false(send_active(&se));
}

static void
test_reaction_after_retry(void **state)
{
	struct send_engine se;

	send_init(&se, &cfg);
	send_start(&se, 0);
	assert_true(send_poll(&se, 250));
	assert_true(send_poll(&se, 3250));
	send_on_render(&se, 3300, true, false);
	assert_int_equal(se.phase, SEND_DONE);
}

/*
 * The Enter became a newline (Gemini takes one that comes too soon after
 * a paste so): the screen changes, the text stays in the input box. That
 * is no reaction: Enter again 250 ms later; done once the box empties.
 */
static void
test_enter_taken_as_newline(void **state)
{
	struct send_engine se;

	send_init(&se, &cfg);
	send_start(&se, 0);
	send_on_render(&se, 10, true, true);
	assert_true(send_poll(&se, 70));     /* Enter */
	send_on_render(&se, 80, true, true); /* a newline in the box */
	assert_int_equal(se.phase, SEND_ENTERED);
	assert_int_equal(send_next_deadline(&se), 330);
	send_on_render(&se, 200, true, true); /* more of it: same time */
	assert_false(send_poll(&se, 329));
	assert_true(send_poll(&se, 330)); /* Enter again */
	assert_int_equal(se.crs, 2);
	send_on_render(&se, 400, true, false); /* the box emptied */
	assert_int_equal(se.phase, SEND_DONE);
}

/* The box emptying before the second Enter is due: no second Enter. */
static void
test_box_empties_in_time(void **state)
{
	struct send_engine se;

	send_init(&se, &cfg);
	send_start(&se, 0);
	send_on_render(&se, 10, true, true);
	assert_true(send_poll(&se, 70));
	send_on_render(&se, 80, true, true);
	send_on_render(&se, 150, true, false);
	assert_int_equal(se.phase, SEND_DONE);
	assert_false(send_poll(&se, 330));
	assert_int_equal(se.crs, 1);
}

/* An input box that seems to keep the text for good (a wrong reading of
 * the screen) costs at most reenter_max more Enters, then any change
 * counts as the reaction, as it did before. */
static void
test_reenters_are_bounded(void **state)
{
	struct send_engine se;
	uint64_t t = 70;

	send_init(&se, &cfg);
	send_start(&se, 0);
	send_on_render(&se, 10, true, true);
	assert_true(send_poll(&se, t));
	for (unsigned i = 0; i < cfg.reenter_max; i++) {
		send_on_render(&se, t + 10, true, true);
		t += 10 + (cfg.reenter_ms << i); /* doubling */
		assert_false(send_poll(&se, t - 1));
		assert_true(send_poll(&se, t));
	}
	send_on_render(&se, t + 10, true, true);
	assert_int_equal(se.phase, SEND_DONE);
	assert_int_equal(se.crs, 1 + cfg.reenter_max);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echoing_agent),
		cmocka_unit_test(test_silent_agent_gets_guard),
		cmocka_unit_test(test_animation_is_no_echo),
		cmocka_unit_test(test_animated_agent_guard_ends),
		cmocka_unit_test(test_retry_then_timeout),
		cmocka_unit_test(test_reaction_after_retry),
		cmocka_unit_test(test_enter_taken_as_newline),
		cmocka_unit_test(test_box_empties_in_time),
		cmocka_unit_test(test_reenters_are_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
