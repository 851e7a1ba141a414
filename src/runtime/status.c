/*
 * status.c: the status engine.
 *
 * stable means: no output pending, the last screen change is at least
 * stable_ms old, the input prompt is recognised, the agent does not show
 * a busy marker and no send is in progress. An open dialog counts as
 * settled too (state waiting), so a client can answer it. An agent
 * hook overrides the screen until the screen contradicts it. A held
 * engine (the agent's MCP server not connected yet) is starting where it
 * would be idle.
 */
#include "common.h"

#include "status.h"

void
status_init(struct status_engine *st, const struct status_config *cfg,
	    uint64_t now)
{
	memset(st, 0, sizeof *st);
	st->cfg = *cfg;
	st->last_change = now;
}

void
status_on_output(struct status_engine *st, uint64_t now)
{
	if (!st->dirty) {
		st->dirty = true;
		st->dirty_since = now;
	}
	st->last_output = now;
}

bool
status_render_due(const struct status_engine *st, uint64_t now)
{
	if (!st->dirty)
		return false;
	return now >= st->last_output + st->cfg.render_quiet_ms ||
	       now >= st->dirty_since + st->cfg.render_max_ms;
}

void
status_on_render(struct status_engine *st, uint64_t now, bool changed,
		 bool ready, bool busy, uint64_t dialog)
{
	if (dialog != st->dialog)
		st->dialog_since = now;
	st->dirty = false;
	if (changed)
		st->last_change = now;
	if (st->hook == STATUS_HOOK_STARTED) {
		/* still starting (no prompt yet) does not contradict it */
		if (busy || dialog != 0)
			st->hook = STATUS_HOOK_NONE;
	} else if (changed && st->hook == STATUS_HOOK_WORKING)
		st->hook = STATUS_HOOK_NONE; /* the screen shows the work */
	else if (changed && st->hook != STATUS_HOOK_NONE &&
		 now >= st->hook_time + st->cfg.hook_grace_ms &&
		 (st->hook == STATUS_HOOK_WAITING || busy || !ready))
		st->hook = STATUS_HOOK_NONE; /* the agent went on working */
	st->ready = ready;
	st->ever_ready = st->ever_ready || ready;
	st->busy = busy;
	st->dialog = dialog;
}

void
status_on_hook(struct status_engine *st, uint64_t now, enum status_hook hook)
{
	st->hook = hook;
	st->hook_time = now;
}

void
status_set_sending(struct status_engine *st, bool sending)
{
	st->sending = sending;
	if (sending)
		st->hook = STATUS_HOOK_NONE;
}

void
status_set_held(struct status_engine *st, bool held)
{
	st->held = held;
}

void
status_set_exited(struct status_engine *st)
{
	st->exited = true;
}

uint64_t
status_next_deadline(const struct status_engine *st, uint64_t now)
{
	uint64_t settle;

	if (st->exited)
		return UINT64_MAX;
	if (st->dirty)
		return MIN(st->last_output + st->cfg.render_quiet_ms,
			   st->dirty_since + st->cfg.render_max_ms);
	settle = st->last_change + st->cfg.stable_ms;
	if (st->hook == STATUS_HOOK_WORKING)
		settle = MAX(settle, st->hook_time + st->cfg.stable_ms);
	if (st->dialog != 0)
		settle = MIN(settle, st->dialog_since + st->cfg.stable_ms);
	return settle > now ? settle : UINT64_MAX;
}

/* The state by the screen, the hooks and the send engine alone. */
static enum status_state
status_state_unheld(const struct status_engine *st, uint64_t now)
{
	bool quiet = !st->dirty && now >= st->last_change + st->cfg.stable_ms;

	if (st->exited)
		return STATE_EXITED;
	if (st->sending)
		return STATE_WORKING;
	if (st->hook == STATUS_HOOK_WORKING &&
	    now < st->hook_time + st->cfg.stable_ms)
		return STATE_WORKING;
	if (st->dialog != 0 &&
	    (st->hook == STATUS_HOOK_IDLE || st->hook == STATUS_HOOK_WAITING ||
	     now >= st->dialog_since + st->cfg.stable_ms))
		return STATE_WAITING;
	if (st->hook == STATUS_HOOK_IDLE)
		return STATE_IDLE;
	/* started: its prompt is enough, an animated banner is no work */
	if (st->hook == STATUS_HOOK_STARTED && st->ready && !st->busy &&
	    st->dialog == 0)
		return STATE_IDLE;
	if (!st->ready && !st->dialog)
		return st->ever_ready ? STATE_WORKING : STATE_STARTING;
	if (!quiet || st->busy)
		return STATE_WORKING;
	return STATE_IDLE;
}

enum status_state
status_state(const struct status_engine *st, uint64_t now)
{
	enum status_state s = status_state_unheld(st, now);

	return st->held && s == STATE_IDLE ? STATE_STARTING : s;
}

enum status_value
status_value(const struct status_engine *st, uint64_t now)
{
	enum status_state s = status_state(st, now);

	return s == STATE_IDLE || s == STATE_WAITING ? STATUS_STABLE
						     : STATUS_RUNNING;
}

const char *
status_value_name(enum status_value v)
{
	return v == STATUS_STABLE ? "stable" : "running";
}

const char *
status_state_name(enum status_state s)
{
	static const char *names[] = {"starting", "working", "idle", "waiting",
				      "exited"};

	return names[s];
}
