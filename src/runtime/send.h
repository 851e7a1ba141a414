/*
 * send.h: the send engine, a pure state machine over a clock.
 *
 * A user message is typed as a bracketed paste; the engine then waits a
 * short guard, asks for a carriage return, and waits for the screen to
 * react. The guard: echo_quiet_ms after the last screen change once the
 * pasted text shows on screen (the caller says so: a screen that changes
 * for another reason, a banner or spinner, is no echo: agents read an
 * Enter that comes with their paste as a newline); no_echo_ms of quiet
 * when the text does not show (a silent agent, a "[Pasted text]"
 * placeholder); at most guard_max_ms after the paste (an agent that
 * animates without pause). It asks for the carriage return again every
 * retry_ms and gives up after timeout_ms. A change after Enter that still
 * shows the text in the agent's input box is no reaction: the Enter
 * became a newline (Gemini takes one that comes too soon after a paste
 * so) or was dropped (an agent still ending its turn); Enter comes again
 * reenter_ms later, then twice as long each time, at most reenter_max
 * times. The caller performs the writes and feeds renders.
 */
#ifndef TASKBOX_RUNTIME_SEND_H
#define TASKBOX_RUNTIME_SEND_H

enum send_phase {
	SEND_IDLE,
	SEND_PASTED,  /* paste written, waiting for the guard */
	SEND_ENTERED, /* carriage return written, waiting for a reaction */
	SEND_DONE,
	SEND_FAILED,
};

struct send_config {
	uint64_t echo_quiet_ms; /* echo seen: this long after the last change */
	uint64_t no_echo_ms;	/* no echo: this long after the last change */
	uint64_t guard_max_ms;	/* the guard ends this long after the paste */
	uint64_t retry_ms;	/* resend the carriage return this often */
	/* after Enter, the screen changed but the text is still in the
	 * input box: Enter again this long after that change (doubling
	 * each time), at most reenter_max times */
	uint64_t reenter_ms;
	unsigned reenter_max;
	uint64_t timeout_ms; /* no reaction this long after it: fail */
};

struct send_engine {
	struct send_config cfg;
	enum send_phase phase;
	uint64_t t_paste;
	uint64_t t_change; /* last screen change while pasted */
	bool echo_seen;	   /* the pasted text showed */
	uint64_t t_enter;
	uint64_t t_next_cr; /* the next carriage return is due */
	unsigned crs;	    /* carriage returns written */
	unsigned reenters;  /* of them, for text left in the input box */
	bool reenter_due;   /* one of those is due at t_next_cr */
};

void send_init(struct send_engine *se, const struct send_config *cfg);
/* A paste was written at now. */
void send_start(struct send_engine *se, uint64_t now);
/* A render at now: did the screen change, does it show the pasted text
 * (before Enter: more often than before the paste; after it: still in
 * the agent's input box). */
void send_on_render(struct send_engine *se, uint64_t now, bool changed,
		    bool echoed);
/* Advance the clock; true when a carriage return must be written now. */
bool send_poll(struct send_engine *se, uint64_t now);
uint64_t send_next_deadline(const struct send_engine *se);
bool send_active(const struct send_engine *se);

#endif
