/*
 * msgfmt.h: from terminal screens to chat messages, without I/O.
 *
 * The agent's reply is what is new on screen since the snapshot taken
 * before the last user message (msgfmt_screen_diff), with the echoed
 * user input, the agent's input box, status bars, spinners and our own
 * report_task tool-call blocks removed (msgfmt_format). The same module
 * reads the screen for status: is the input prompt there (ready), is the
 * agent visibly busy, is a permission or question dialog open.
 */
#ifndef TASKBOX_RUNTIME_MSGFMT_H
#define TASKBOX_RUNTIME_MSGFMT_H

#include "agent.h"

/* Lines of after that are new relative to before; user (or NULL) is the
 * input sent after before was taken, whose echo anchors the new part when
 * rows above it were redrawn. Returns a new string. */
char *msgfmt_screen_diff(enum agent_type t, const char *before,
			 const char *after, const char *user);
/* Does the agent's input line on screen still hold text ending in probe
 * (an Enter that became a newline)? Only for agents whose input box is
 * redrawn after a submit (Gemini CLI); false for the others. */
bool msgfmt_box_holds(enum agent_type t, const char *screen, const char *probe);
/* Remove the echo of user from the top of msg; returns a new string. */
char *msgfmt_remove_echo(enum agent_type t, const char *msg, const char *user);
/* Remove the input box and everything under it; returns a new string. */
char *msgfmt_remove_box(enum agent_type t, const char *msg);
/* Remove spinners, status lines and reply bullets; returns a new string. */
char *msgfmt_strip_chrome(enum agent_type t, const char *msg);
/*
 * Remove report_task tool-call blocks; returns a new string. When calls
 * is not NULL it receives the removed blocks joined by "\n---\n" (or
 * NULL when none).
 */
char *msgfmt_strip_tool_calls(enum agent_type t, const char *msg, char **calls);
/* The whole pipeline on a raw diff; returns a new string. calls is as
 * for msgfmt_strip_tool_calls. */
char *msgfmt_format(enum agent_type t, const char *raw, const char *user,
		    char **calls);

/*
 * The line of msg that says what the agent did, for a task's state
 * message: the first line with words in it that is not terminal chrome
 * (borders, boxes, tool-output trees, tips, spinners), without its
 * bullet. Only the first MSGFMT_HEADLINE_MAX_LINES lines (at most
 * MSGFMT_HEADLINE_MAX_BYTES) are read: the message comes from the agent
 * and the server computes this in its event loop. Returns a new string,
 * "" when there is none.
 */
char *msgfmt_headline(const char *msg);
#define MSGFMT_HEADLINE_MAX_LINES 200
#define MSGFMT_HEADLINE_MAX_BYTES 65536

/* The agent's input prompt is on screen. */
bool msgfmt_ready(enum agent_type t, const char *screen);
/* The agent shows that it is working ("esc to interrupt"). */
bool msgfmt_busy(enum agent_type t, const char *screen);

#define MSGFMT_MAX_OPTIONS 9

/* An open permission or question dialog read off the screen. */
struct msgfmt_dialog {
	char *text;    /* the question */
	char *context; /* what it is about (a command), or NULL */
	char *options[MSGFMT_MAX_OPTIONS]; /* "Yes", "No, ..." */
	size_t noptions;
	int selected; /* index of the highlighted option or -1 */
};

/* Find an open dialog in the bottom of the screen; true when found. */
bool msgfmt_dialog(enum agent_type t, const char *screen,
		   struct msgfmt_dialog *d);
void msgfmt_dialog_release(struct msgfmt_dialog *d);
/* A non-zero hash of the dialog's text, options and selection. */
uint64_t msgfmt_dialog_hash(const struct msgfmt_dialog *d);

#endif
