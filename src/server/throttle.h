/*
 * throttle.h: counting failed sign-ins per key (a username, a client
 * address) in a bounded table, on a clock the caller passes (pure: the
 * unit tests drive it).
 *
 * Every attempt counts as a failure when it starts (so that attempts in
 * flight count too); a success takes it back. THROTTLE_FREE failures per
 * THROTTLE_WINDOW_MS cost nothing, then each failed reply waits
 * 2^(n - THROTTLE_FREE) s, at most THROTTLE_DELAY_MAX_MS; past
 * THROTTLE_BOUND failures in the window attempts are refused until it
 * ends.
 */
#ifndef TASKBOX_THROTTLE_H
#define TASKBOX_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#define THROTTLE_WINDOW_MS    (15 * 60 * 1000)
#define THROTTLE_FREE	      5
#define THROTTLE_BOUND	      20
#define THROTTLE_DELAY_MAX_MS 30000
#define THROTTLE_KEY_MAX      64

struct throttle;

/* A table of at most cap keys (when full, an ended window goes first,
 * then the fewest attempts). */
struct throttle *throttle_new(size_t cap);
void throttle_free(struct throttle *t);
/*
 * An attempt for key at now: its number in the window (1 the first),
 * or 0 when the window is past THROTTLE_BOUND, with *retry_ms how long
 * until it ends.
 */
unsigned throttle_attempt(struct throttle *t, const char *key, uint64_t now,
			  uint64_t *retry_ms);
/* The attempt for key succeeded: forget key's failures (clear true) or
 * take that one attempt back. */
void throttle_success(struct throttle *t, const char *key, bool clear);
/* How long the reply to a failed attempt numbered n waits (ms). */
uint64_t throttle_delay_ms(unsigned n);
/* How many keys the table holds. */
size_t throttle_size(const struct throttle *t);

#endif
