/*
 * test-status.c: the status engine driven by a fake clock.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "runtime/status.h"

static const struct status_config cfg = {
	.render_quiet_ms = 10,
	.render_max_ms = 50,
	.stable_ms = 500,
	.hook_grace_ms = 100,
};

static void
test_settles_to_stable(void **state)
{
	struct status_engine st;
	uint64_t t = 1000;

	status_init(&st, &cfg, t);
	assert_int_equal(status_state(&st, t), STATE_STARTING);
	status_on_output(&st, t);
	assert_false(status_render_due(&st, t + 5));
	assert_int_equal(status_next_deadline(&st, t + 5), t + 10);
	assert_true(status_render_due(&st, t + 10));
	status_on_render(&st, t + 10, true, true, false, 0);
	/* quiet but not long enough */
	assert_int_equal(status_value(&st, t + 400), STATUS_RUNNING);
	assert_int_equal(status_state(&st, t + 400), STATE_WORKING);
	assert_int_equal(status_next_deadline(&st, t + 400), t + 510);
	assert_int_equal(status_value(&st, t + 510), STATUS_STABLE);
	assert_int_equal(status_state(&st, t + 510), STATE_IDLE);
	/* settled: no more wakeups while the agent prints nothing */
	assert_int_equal(status_next_deadline(&st, t + 600), UINT64_MAX);
}

static void
test_continuous_output_renders_at_max(void **state)
{
	struct status_engine st;
	uint64_t t = 0;

	status_init(&st, &cfg, t);
	for (t = 0; t < 49; t += 5) {
		status_on_output(&st, t);
		assert_false(status_render_due(&st, t));
	}
	status_on_output(&st, 50);
	assert_true(status_render_due(&st, 50));
}

static void
test_not_ready_busy_dialog(void **state)
{
	struct status_engine st;
	uint64_t t = 0;

	status_init(&st, &cfg, t);
	status_on_output(&st, 0);
	status_on_render(&st, 10, true, false, false, 0);
	assert_int_equal(status_state(&st, 2000), STATE_STARTING);
	assert_int_equal(status_value(&st, 2000), STATUS_RUNNING);
	/* busy marker keeps it working even when quiet */
	status_on_output(&st, 2000);
	status_on_render(&st, 2010, true, true, true, 0);
	assert_int_equal(status_state(&st, 5000), STATE_WORKING);
	/* a dialog without the input box: waiting, which is stable */
	status_on_output(&st, 5000);
	status_on_render(&st, 5010, true, false, false, 42);
	assert_int_equal(status_state(&st, 5100), STATE_WORKING);
	assert_int_equal(status_state(&st, 5600), STATE_WAITING);
	assert_int_equal(status_value(&st, 5600), STATUS_STABLE);
	/* a send in progress is never stable */
	status_set_sending(&st, true);
	assert_int_equal(status_value(&st, 9000), STATUS_RUNNING);
	status_set_sending(&st, false);
	status_set_exited(&st);
	assert_int_equal(status_state(&st, 9000), STATE_EXITED);
	assert_int_equal(status_next_deadline(&st, 9000), UINT64_MAX);
}

static void
test_once_ready_box_gone_is_working(void **state)
{
	struct status_engine st;

	status_init(&st, &cfg, 0);
	status_on_output(&st, 0);
	status_on_render(&st, 10, true, true, false, 0);
	status_on_output(&st, 1000);
	status_on_render(&st, 1010, true, false, false, 0);
	assert_int_equal(status_state(&st, 3000), STATE_WORKING);
}

static void
test_dialog_with_animation_is_waiting(void **state)
{
	struct status_engine st;

	status_init(&st, &cfg, 0);
	status_on_render(&st, 10, true, true, false, 0);
	/* the same dialog while something blinks every 300 ms */
	for (uint64_t t = 1000; t < 3000; t += 300) {
		status_on_output(&st, t);
		status_on_render(&st, t + 10, true, false, false, 7);
	}
	assert_int_equal(status_state(&st, 3000), STATE_WAITING);
	/* a different dialog starts its own clock */
	status_on_render(&st, 3010, true, false, false, 9);
	assert_int_equal(status_state(&st, 3100), STATE_WORKING);
	assert_int_equal(status_next_deadline(&st, 3100), 3510);
}

static void
test_hooks_override_the_screen(void **state)
{
	struct status_engine st;
	uint64_t t = 1000;

	status_init(&st, &cfg, t);
	status_on_render(&st, t, true, true, false, 0);
	assert_int_equal(status_state(&st, t + 500), STATE_IDLE);
	/* a prompt submitted in the terminal: working at once */
	status_on_hook(&st, t + 600, STATUS_HOOK_WORKING);
	assert_int_equal(status_state(&st, t + 600), STATE_WORKING);
	assert_int_equal(status_next_deadline(&st, t + 600), t + 1100);
	/* the stop hook: idle at once, not stable_ms after the last change */
	status_on_render(&st, t + 700, true, false, true, 0);
	status_on_render(&st, t + 800, true, true, false, 0);
	status_on_hook(&st, t + 810, STATUS_HOOK_IDLE);
	assert_int_equal(status_state(&st, t + 810), STATE_IDLE);
	/* a late redraw inside the grace keeps it */
	status_on_render(&st, t + 850, true, false, true, 0);
	assert_int_equal(status_state(&st, t + 850), STATE_IDLE);
	/* the agent prompt is back: still idle */
	status_on_render(&st, t + 1000, true, true, false, 0);
	assert_int_equal(status_state(&st, t + 1000), STATE_IDLE);
	/* the agent works on: the screen takes over */
	status_on_render(&st, t + 1100, true, true, true, 0);
	assert_int_equal(status_state(&st, t + 1100), STATE_WORKING);
	/* a stop hook under a dialog is waiting at once */
	status_on_render(&st, t + 1200, true, false, false, 42);
	status_on_hook(&st, t + 1210, STATUS_HOOK_IDLE);
	assert_int_equal(status_state(&st, t + 1210), STATE_WAITING);
	/* a send ends the override */
	status_set_sending(&st, true);
	status_set_sending(&st, false);
	assert_int_equal(status_state(&st, t + 1220), STATE_WORKING);
}

/* A start hook: an animated banner under the prompt is idle at once. */
static void
test_start_hook_skips_the_quiet_wait(void **state)
{
	struct status_engine st;
	uint64_t t = 1000;

	status_init(&st, &cfg, t);
	/* the hook can come before the agent's prompt shows */
	status_on_hook(&st, t, STATUS_HOOK_STARTED);
	assert_int_equal(status_state(&st, t), STATE_STARTING);
	status_on_render(&st, t + 50, true, false, false, 0);
	assert_int_equal(status_state(&st, t + 50), STATE_STARTING);
	/* past the grace the prompt is still missing: the hook holds */
	status_on_render(&st, t + 300, true, false, false, 0);
	assert_int_equal(status_state(&st, t + 300), STATE_STARTING);
	/* the prompt shows: idle without stable_ms of quiet */
	status_on_render(&st, t + 400, true, true, false, 0);
	assert_int_equal(status_state(&st, t + 400), STATE_IDLE);
	/* the banner animates: still idle, between renders too */
	status_on_output(&st, t + 450);
	assert_int_equal(status_state(&st, t + 455), STATE_IDLE);
	status_on_render(&st, t + 460, true, true, false, 0);
	assert_int_equal(status_state(&st, t + 460), STATE_IDLE);
	/* a busy marker ends it: the screen decides again */
	status_on_render(&st, t + 600, true, true, true, 0);
	assert_int_equal(status_state(&st, t + 600), STATE_WORKING);
	status_on_render(&st, t + 700, true, true, false, 0);
	assert_int_equal(status_state(&st, t + 700), STATE_WORKING);
	assert_int_equal(status_state(&st, t + 1200), STATE_IDLE);

	/* a dialog ends it too, and a send does */
	status_on_hook(&st, t + 1300, STATUS_HOOK_STARTED);
	status_on_render(&st, t + 1400, true, false, false, 42);
	assert_int_equal(status_state(&st, t + 1400), STATE_WORKING);
	status_on_render(&st, t + 1500, true, true, false, 0);
	assert_int_equal(status_state(&st, t + 1500), STATE_WORKING);
	status_on_hook(&st, t + 1600, STATUS_HOOK_STARTED);
	status_set_sending(&st, true);
	status_set_sending(&st, false);
	status_on_render(&st, t + 1700, true, true, false, 0);
	assert_int_equal(status_state(&st, t + 1700), STATE_WORKING);
}

/* Held (tools not connected): idle reads as starting, nothing else. */
static void
test_held_idle_is_starting(void **state)
{
	struct status_engine st;
	uint64_t t = 1000;

	status_init(&st, &cfg, t);
	status_set_held(&st, true);
	status_on_render(&st, t + 10, true, true, false, 0);
	assert_int_equal(status_state(&st, t + 100), STATE_WORKING);
	/* quiet with the prompt on screen: still starting */
	assert_int_equal(status_state(&st, t + 510), STATE_STARTING);
	assert_int_equal(status_value(&st, t + 510), STATUS_RUNNING);
	/* a start hook or a turn-end hook does not make it idle either */
	status_on_hook(&st, t + 600, STATUS_HOOK_STARTED);
	assert_int_equal(status_state(&st, t + 600), STATE_STARTING);
	status_on_hook(&st, t + 700, STATUS_HOOK_IDLE);
	assert_int_equal(status_state(&st, t + 700), STATE_STARTING);
	/* a dialog is waiting all the same: someone must answer it */
	status_on_render(&st, t + 800, true, false, false, 42);
	assert_int_equal(status_state(&st, t + 1300), STATE_WAITING);
	status_on_render(&st, t + 1400, true, true, false, 0);
	assert_int_equal(status_state(&st, t + 1900), STATE_STARTING);
	/* released: the same quiet screen is idle at once */
	status_set_held(&st, false);
	assert_int_equal(status_state(&st, t + 1900), STATE_IDLE);
	status_set_held(&st, true);
	status_set_exited(&st);
	assert_int_equal(status_state(&st, t + 2000), STATE_EXITED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settles_to_stable),
		cmocka_unit_test(test_continuous_output_renders_at_max),
		cmocka_unit_test(test_not_ready_busy_dialog),
		cmocka_unit_test(test_once_ready_box_gone_is_working),
		cmocka_unit_test(test_dialog_with_animation_is_waiting),
		cmocka_unit_test(test_hooks_override_the_screen),
		cmocka_unit_test(test_start_hook_skips_the_quiet_wait),
		cmocka_unit_test(test_held_idle_is_starting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
