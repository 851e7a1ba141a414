/*
 * status.h: the status engine, a pure state machine over a clock.
 *
 * Inputs are events with their time: PTY output arrived, a render was
 * done (did the screen change, is the input prompt there, is the agent
 * visibly busy, is a dialog open). Outputs: whether a render is due, the
 * next deadline the loop must wake for, and the status. Nothing happens
 * while the agent prints nothing: with no output there is no deadline
 * once the status has settled.
 *
 * Agent hooks (the agent's own "turn started / turn ended" callbacks)
 * override the screen's verdict: a prompt-submit hook is working at once,
 * a stop hook idle at once without waiting stable_ms. The screen takes
 * over again when it contradicts the hook (see status_on_hook). A start
 * hook (the agent's own "session started") makes the first readiness not
 * wait for a quiet screen: an agent that animates its banner is idle as
 * soon as its input prompt shows. While held (the agent's own tools not
 * connected yet: status_set_held) an idle agent is still starting, so
 * nothing is typed before its tools are there.
 */
#ifndef TASKBOX_RUNTIME_STATUS_H
#define TASKBOX_RUNTIME_STATUS_H

enum status_value {
	STATUS_RUNNING,
	STATUS_STABLE,
};

/* The richer state reported next to status. */
enum status_state {
	STATE_STARTING, /* agent's prompt not seen yet */
	STATE_WORKING,	/* output is changing or the agent shows it works */
	STATE_IDLE,	/* quiet, input prompt on screen */
	STATE_WAITING,	/* a permission or question dialog is open */
	STATE_EXITED,	/* the agent process ended */
};

/* What an agent hook said about the turn. */
enum status_hook {
	STATUS_HOOK_NONE,
	STATUS_HOOK_WORKING, /* a prompt was submitted */
	STATUS_HOOK_IDLE,    /* the turn ended */
	STATUS_HOOK_WAITING, /* the agent asks for an answer to its dialog */
	STATUS_HOOK_STARTED, /* the agent started and takes input */
};

struct status_config {
	uint64_t render_quiet_ms; /* render once output paused this long */
	uint64_t render_max_ms;	  /* ...or at most this long after it began */
	uint64_t stable_ms;	  /* screen unchanged this long → stable */
	uint64_t hook_grace_ms;	  /* screen changes ignored after a hook */
};

struct status_engine {
	struct status_config cfg;
	bool dirty;	      /* output arrived since the last render */
	uint64_t dirty_since; /* first output after the last render */
	uint64_t last_output;
	uint64_t last_change; /* last render that changed the screen */
	bool ready;	      /* input prompt seen in the last render */
	bool ever_ready;
	bool busy;
	uint64_t dialog;       /* hash of the open dialog, 0 for none */
	uint64_t dialog_since; /* when that dialog appeared */
	bool exited;
	bool sending; /* the send engine is working */
	bool held;    /* idle reads as starting (tools not connected yet) */
	enum status_hook hook;
	uint64_t hook_time;
};

void status_init(struct status_engine *st, const struct status_config *cfg,
		 uint64_t now);
void status_on_output(struct status_engine *st, uint64_t now);
bool status_render_due(const struct status_engine *st, uint64_t now);
/*
 * dialog is a hash of the open dialog's text and options, or 0: a dialog
 * that stays the same for stable_ms is waiting even if something else on
 * screen animates (Claude blinks the pending tool's bullet).
 */
void status_on_render(struct status_engine *st, uint64_t now, bool changed,
		      bool ready, bool busy, uint64_t dialog);
/*
 * An agent hook at now. WORKING holds until the screen changes or for
 * stable_ms; IDLE holds until, past hook_grace_ms, a screen change shows
 * the agent busy or without its input prompt. A dialog on screen under an
 * IDLE or WAITING hook is waiting at once; WAITING ends with any screen
 * change past hook_grace_ms. STARTED is idle whenever the last render
 * shows the input prompt, no busy marker and no dialog,
 * however recently the screen changed; a busy marker or a dialog ends it
 * (the screen alone decides from then on), a screen without the prompt
 * does not.
 */
void status_on_hook(struct status_engine *st, uint64_t now,
		    enum status_hook hook);
void status_set_sending(struct status_engine *st, bool sending);
/* Hold (or release) readiness: while held, idle is reported as starting;
 * working, waiting and exited are reported as they are. */
void status_set_held(struct status_engine *st, bool held);
void status_set_exited(struct status_engine *st);
/* The next time the loop must call in, or UINT64_MAX for none. */
uint64_t status_next_deadline(const struct status_engine *st, uint64_t now);
enum status_state status_state(const struct status_engine *st, uint64_t now);
enum status_value status_value(const struct status_engine *st, uint64_t now);
const char *status_value_name(enum status_value v);
const char *status_state_name(enum status_state s);

#endif
