/*
 * send.c: the send engine (see send.h for the protocol).
 */
#include "common.h"

#include "send.h"

void
send_init(struct send_engine *se, const struct send_config *cfg)
{
	memset(se, 0, sizeof *se);
	se->cfg = *cfg;
}

void
send_start(struct send_engine *se, uint64_t now)
{
	se->phase = SEND_PASTED;
	se->t_paste = now;
	se->t_change = now;
	se->echo_seen = false;
	se->crs = 0;
	se->reenters = 0;
	se->reenter_due = false;
}

void
send_on_render(struct send_engine *se, uint64_t now, bool changed, bool echoed)
{
	if (!changed)
		return;
	if (se->phase == SEND_PASTED) {
		se->echo_seen = se->echo_seen || echoed;
		se->t_change = now;
	} else if (se->phase == SEND_ENTERED && echoed &&
		   se->reenters < se->cfg.reenter_max) {
		/* the text stays in the box: Enter again soon, unless the
		 * box empties first (the first such change sets the time) */
		if (!se->reenter_due) {
			se->reenter_due = true;
			/* 250 ms, then twice as long each time: an agent
			 * still busy ending its turn (Gemini runs its hooks)
			 * drops an Enter */
			uint64_t wait = se->cfg.reenter_ms
					<< MIN(se->reenters, 16u);

			se->t_next_cr = MIN(se->t_next_cr,
					    now + MIN(wait, se->cfg.retry_ms));
		}
	} else if (se->phase == SEND_ENTERED) {
		se->phase = SEND_DONE;
	}
}

/* When the guard after the paste ends: the echo settled, or the screen
 * stayed quiet without it, or it kept changing for guard_max_ms. */
static uint64_t
send_guard_end(const struct send_engine *se)
{
	uint64_t end = se->t_change + (se->echo_seen ? se->cfg.echo_quiet_ms
						     : se->cfg.no_echo_ms);

	return MIN(end, se->t_paste + se->cfg.guard_max_ms);
}

bool
send_poll(struct send_engine *se, uint64_t now)
{
	switch (se->phase) {
	case SEND_PASTED:
		if (now < send_guard_end(se))
			return false;
		se->phase = SEND_ENTERED;
		se->t_enter = now;
		se->t_next_cr = now + se->cfg.retry_ms;
		se->crs = 1;
		return true;
	case SEND_ENTERED:
		if (now >= se->t_enter + se->cfg.timeout_ms) {
			se->phase = SEND_FAILED;
			return false;
		}
		if (now >= se->t_next_cr) {
			se->t_next_cr = now + se->cfg.retry_ms;
			se->crs++;
			if (se->reenter_due) {
				se->reenter_due = false;
				se->reenters++;
			}
			return true;
		}
		return false;
	default:
		return false;
	}
}

uint64_t
send_next_deadline(const struct send_engine *se)
{
	switch (se->phase) {
	case SEND_PASTED:
		return send_guard_end(se);
	case SEND_ENTERED:
		return MIN(se->t_next_cr, se->t_enter + se->cfg.timeout_ms);
	default:
		return UINT64_MAX;
	}
}

bool
send_active(const struct send_engine *se)
{
	return se->phase == SEND_PASTED || se->phase == SEND_ENTERED;
}
