/*
 * runtime.c: the agent runtime's lifecycle.
 *
 * Data flow of one message: POST /message → runtime_send_user() renders
 * the screen (the "before" snapshot), writes a bracketed paste and parks
 * the request; the send engine decides when to write the carriage return
 * and when the agent reacted; then the user message is recorded and the
 * request answered. PTY output → vt_screen_feed() and the status engine;
 * when output pauses the screen is rendered once, the last agent message
 * recomputed (conv_update) and changes pushed to SSE subscribers.
 *
 * The loop only wakes for PTY output, HTTP traffic and the deadlines the
 * status and send engines ask for; an idle agent costs nothing.
 */
#include "common.h"

#include <ctype.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ev.h"
#include "core/fdlimit.h"
#include "core/forward.h"
#include "core/log.h"
#include "core/proc.h"
#include "core/sock.h"
#include "core/text.h"
#include "http/http.h"
#include "pty.h"
#include "runtime.h"
#include "state.h"
#include "vt/screen.h"

static const struct status_config runtime_status_defaults = {
	.render_quiet_ms = 8,
	.render_max_ms = 25,
	.stable_ms = 500,
	.hook_grace_ms = 250,
};

static const struct send_config runtime_send_defaults = {
	.echo_quiet_ms = 60,
	.no_echo_ms = 250,
	.guard_max_ms = 1500,
	.retry_ms = 3000,
	.reenter_ms = 250,
	.reenter_max = 5, /* after 250, 500, 1000, 2000, 3000 ms */
	.timeout_ms = 15000,
};

static void runtime_schedule(struct runtime *rt);
static void runtime_start_prompt(struct runtime *rt);

const char *
runtime_screen(struct runtime *rt)
{
	return rt->screen_text ? rt->screen_text : "";
}

enum status_value
runtime_status(struct runtime *rt)
{
	return status_value(&rt->status, now_ms());
}

enum status_state
runtime_state(struct runtime *rt)
{
	return status_state(&rt->status, now_ms());
}

void
runtime_add_error(struct runtime *rt, const char *level, const char *fmt, ...)
{
	struct runtime_error *e;
	va_list ap;
	char *raw;

	if (rt->nerrors == RUNTIME_MAX_ERRORS) {
		free(rt->errors[0].message);
		memmove(rt->errors, rt->errors + 1,
			(RUNTIME_MAX_ERRORS - 1) * sizeof *rt->errors);
		rt->nerrors--;
	}
	e = &rt->errors[rt->nerrors++];
	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	e->message = utf8_sanitize(raw); /* causes quote paths and input */
	free(raw);
	e->level = level;
	e->time = wall_ms();
	log_warn("%s", e->message);
	api_broadcast_error(rt, e);
}

/* Broadcast a status_change when status or state moved. */
static void
runtime_update_status(struct runtime *rt)
{
	uint64_t now = now_ms();
	enum status_value v = status_value(&rt->status, now);
	enum status_state s = status_state(&rt->status, now);

	if (v == rt->last_status && s == rt->last_state)
		return;
	rt->last_status = v;
	rt->last_state = s;
	rt->ever_idle = rt->ever_idle || s == STATE_IDLE;
	log_debug("status %s (%s)", status_value_name(v), status_state_name(s));
	api_broadcast_status(rt);
	/* the output settled: the free pages of the heap go back (a long
	 * reply's lines, read out of the terminal and freed, left them) */
	if (v == STATUS_STABLE)
		malloc_trim(0);
}

/* How often needle occurs in hay (without overlaps). */
static unsigned
runtime_count(const char *hay, const char *needle)
{
	size_t k = strlen(needle);
	unsigned n = 0;

	for (const char *p = strstr(hay, needle); p != NULL;
	     p = strstr(p + k, needle))
		n++;
	return n;
}

/*
 * What the echo of a paste of text shows: the end of its last non-blank
 * line, at most 16 bytes cut at a character boundary, so that an input
 * box that wraps or indents the text still shows it in one piece. NULL
 * for blank text. Returns a new string.
 */
static char *
runtime_echo_probe(const char *text)
{
	const char *end = text + strlen(text), *start, *p;

	while (end > text && isspace((unsigned char)end[-1]))
		end--;
	if (end == text)
		return NULL;
	for (start = end; start > text && start[-1] != '\n' &&
			  start[-1] != '\r' && end - start < 16;)
		start--;
	/* not inside a UTF-8 sequence */
	for (p = start; p < end && ((unsigned char)*p & 0xc0) == 0x80;)
		p++;
	while (p < end && isspace((unsigned char)*p))
		p++;
	return p < end ? xstrndup(p, (size_t)(end - p)) : NULL;
}

/* Whether the screen shows the pasted text: before Enter, more often
 * than it showed it before the paste (the echo); after it, still on the
 * agent's input line (msgfmt_box_holds: only for agents whose input box
 * is redrawn, Gemini CLI). A dialog after Enter is a reaction: it never
 * counts, so no second Enter can answer it. */
static bool
runtime_echoed(const struct runtime *rt, const char *screen)
{
	if (rt->send_probe == NULL)
		return false;
	if (rt->send.phase == SEND_PASTED)
		return runtime_count(screen, rt->send_probe) > rt->send_probe_n;
	return rt->send.phase == SEND_ENTERED && !rt->has_dialog &&
	       msgfmt_box_holds(rt->cfg.type, screen, rt->send_probe);
}

/* Render the screen and feed every engine that reads it. */
static void
runtime_render(struct runtime *rt)
{
	uint64_t now = now_ms();
	bool changed, ready, busy;
	const char *text = vt_screen_render(rt->screen, &changed);

	rt->screen_text = text;
	ready = msgfmt_ready(rt->cfg.type, text);
	busy = msgfmt_busy(rt->cfg.type, text);
	if (changed) {
		msgfmt_dialog_release(&rt->dialog);
		rt->has_dialog = msgfmt_dialog(rt->cfg.type, text, &rt->dialog);
	}
	status_on_render(&rt->status, now, changed, ready, busy,
			 rt->has_dialog ? msgfmt_dialog_hash(&rt->dialog) : 0);
	if (send_active(&rt->send))
		send_on_render(&rt->send, now, changed,
			       changed && runtime_echoed(rt, text));
	if (!changed)
		return;
	api_broadcast_screen(rt);
	/* during a send the screen shows the echo, not a reply */
	if (rt->send.phase == SEND_IDLE) {
		/* messages read lines, with terminal wraps joined back */
		long id = conv_update(rt->conv, vt_screen_lines(rt->screen),
				      wall_ms());

		if (id >= 0)
			api_broadcast_message(rt,
					      conv_get(rt->conv, (size_t)id));
	}
}

/* The initial prompt was pasted (typed in full or in part): never again,
 * in this run or the next one (the state file says so). */
static void
runtime_prompt_done(struct runtime *rt)
{
	char *cause = NULL;

	rt->prompt_sent = true;
	if (rt->cfg.state_file != NULL &&
	    state_save(rt->cfg.state_file, rt->conv, rt->prompt, true, &cause) <
		    0) {
		log_warn("%s", cause);
		free(cause);
	}
}

/*
 * The end of the previous reply: what the agent drew after the snapshot
 * and above the echo of the input just sent. An agent's end-of-turn hook
 * can come before it drew the end of its reply (Claude Code after a slow
 * turn), and the next input is pasted at once; that end would then be in
 * no message. The previous agent message is taken again from the screen
 * cut at the echo's last row.
 */
static void
runtime_finish_previous(struct runtime *rt)
{
	const char *lines = vt_screen_lines(rt->screen);
	const char *echo = NULL, *p, *row;
	char *cut;
	long id;

	if (rt->send_probe == NULL || lines == NULL || rt->send_before == NULL)
		return;
	/* the last row showing the input that the snapshot did not have:
	 * the previous reply may quote the same words ("yes or no") */
	for (p = strstr(lines, rt->send_probe); p != NULL;
	     p = strstr(p + 1, rt->send_probe)) {
		const char *end = strchr(p, '\n');
		char *line;

		for (row = p; row > lines && row[-1] != '\n';)
			row--;
		line = end != NULL ? xstrndup(row, (size_t)(end - row))
				   : xstrdup(row);
		if (strstr(rt->send_before, line) == NULL)
			echo = row;
		free(line);
	}
	if (echo == NULL)
		return;
	cut = xstrndup(lines, (size_t)(echo - lines));
	id = conv_update(rt->conv, cut, wall_ms());
	if (id >= 0)
		api_broadcast_message(rt, conv_get(rt->conv, (size_t)id));
	free(cut);
}

/* Finish the send in progress with success (err NULL) or an error. */
static void
runtime_send_finish(struct runtime *rt, const char *err)
{
	if (err == NULL) {
		long id;

		runtime_finish_previous(rt);
		id = conv_add_user(rt->conv, rt->send_text, rt->send_before,
				   wall_ms());

		if (id >= 0)
			api_broadcast_message(rt,
					      conv_get(rt->conv, (size_t)id));
		if (rt->send_req != NULL)
			http_reply_json(rt->send_req, 200,
					json_pack("{s:b}", "ok", 1));
		if (rt->send_is_prompt) {
			runtime_prompt_done(rt);
			log_info("initial prompt delivered");
		}
	} else {
		/* the agent may have some of it: typing it again on the next
		 * idle would give it the prompt twice. Saved before the
		 * failure is reported, so whoever sees the report finds it
		 * saved. */
		if (rt->send_is_prompt)
			runtime_prompt_done(rt);
		if (rt->send_req != NULL)
			http_reply_problem(rt->send_req, 504, "%s", err);
		else
			runtime_add_error(rt, "error",
					  "failed to send the initial prompt: "
					  "%s",
					  err);
	}
	rt->send_req = NULL;
	free(rt->send_text);
	free(rt->send_before);
	free(rt->send_probe);
	rt->send_text = rt->send_before = rt->send_probe = NULL;
	rt->send_is_prompt = false;
	rt->send.phase = SEND_IDLE;
	status_set_sending(&rt->status, false);
	/* what the agent printed meanwhile belongs to the new turn */
	if (rt->screen_text != NULL) {
		long id = conv_update(rt->conv, vt_screen_lines(rt->screen),
				      wall_ms());

		if (id >= 0)
			api_broadcast_message(rt,
					      conv_get(rt->conv, (size_t)id));
	}
}

/* Send the initial prompt if it is due: the agent is idle for the first
 * time and nothing is being sent. */
static void
runtime_maybe_prompt(struct runtime *rt)
{
	/* idle may come from a hook (untrusted, and early): the prompt also
	 * waits for the input prompt on screen and no dialog */
	if (!rt->prompt_sent && rt->prompt != NULL && !send_active(&rt->send) &&
	    status_state(&rt->status, now_ms()) == STATE_IDLE &&
	    rt->status.ready && !rt->has_dialog)
		runtime_start_prompt(rt);
}

/* Timer: renders due, send steps, status changes, the initial prompt. */
static void
runtime_tick(void *data)
{
	struct runtime *rt = data;
	uint64_t now = now_ms();

	if (status_render_due(&rt->status, now))
		runtime_render(rt);
	/* an Enter is due: judge the screen as it is now */
	if (send_active(&rt->send) && send_next_deadline(&rt->send) <= now &&
	    rt->status.dirty)
		runtime_render(rt);
	if (send_active(&rt->send) && send_poll(&rt->send, now)) {
		/* a dialog that came after the Enter was its reaction */
		if (rt->send.crs > 1 && rt->has_dialog)
			rt->send.phase = SEND_DONE;
		else if (pty_write(rt->pty, "\r", 1) < 0)
			rt->send.phase = SEND_FAILED;
	}
	if (rt->send.phase == SEND_DONE)
		runtime_send_finish(rt, NULL);
	else if (rt->send.phase == SEND_FAILED)
		runtime_send_finish(rt,
				    "the agent did not react to the message "
				    "within 15 s; it may be hung (see "
				    "/internal/screen)");
	runtime_update_status(rt);
	runtime_maybe_prompt(rt);
	runtime_schedule(rt);
}

/* Arm the timer for the earliest deadline of the engines. */
static void
runtime_schedule(struct runtime *rt)
{
	uint64_t now = now_ms();
	uint64_t dl = status_next_deadline(&rt->status, now);

	if (send_active(&rt->send))
		dl = MIN(dl, send_next_deadline(&rt->send));
	if (dl == UINT64_MAX)
		ev_timer_stop(rt->loop, &rt->tick);
	else if (!rt->tick.active || rt->tick.deadline != dl)
		ev_timer_start(rt->loop, &rt->tick, dl);
}

static void
runtime_on_output(const char *data, size_t len, void *arg)
{
	struct runtime *rt = arg;

	vt_screen_feed(rt->screen, data, len);
	term_output(rt, data, len); /* after the feed: snapshots show it */
	status_on_output(&rt->status, now_ms());
	runtime_schedule(rt);
}

/* Terminal answers (DA, CPR) go back to the agent. */
static void
runtime_on_reply(const char *data, size_t len, void *arg)
{
	struct runtime *rt = arg;

	if (rt->pty != NULL)
		pty_write(rt->pty, data, len);
}

static void
runtime_shutdown(struct runtime *rt, int code)
{
	if (rt->exiting)
		return;
	rt->exiting = true;
	rt->exit_code = code;
	ev_loop_stop(rt->loop, code);
}

static void
runtime_on_exit(int status, void *arg)
{
	struct runtime *rt = arg;
	int code;

	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else
		code = 128 + WTERMSIG(status);
	/* show the final screen to late readers */
	runtime_render(rt);
	if (rt->send.phase == SEND_IDLE) {
		long id = conv_on_exit(rt->conv, vt_screen_lines(rt->screen),
				       wall_ms());

		if (id >= 0)
			api_broadcast_message(rt,
					      conv_get(rt->conv, (size_t)id));
	}
	status_set_exited(&rt->status);
	runtime_update_status(rt);
	if (code != 0 && !rt->exiting) {
		runtime_add_error(rt, "error",
				  "the agent exited with status %d", code);
		fprintf(stderr, "%s\n", runtime_screen(rt));
	}
	log_info("agent exited with status %d", code);
	runtime_shutdown(rt, code);
}

/* Write a paste of text and start the send engine. */
static int
runtime_paste(struct runtime *rt, const char *text)
{
	struct buf b;
	int r;

	/* the snapshot the reply is diffed against */
	if (rt->status.dirty || rt->screen_text == NULL)
		runtime_render(rt);
	buf_init(&b, 0);
	buf_puts(&b, "\x1b[200~");
	buf_puts(&b, text);
	buf_puts(&b, "\x1b[201~");
	r = pty_write(rt->pty, b.data, b.len);
	buf_release(&b);
	if (r < 0)
		return r;
	rt->send_before = xstrdup(vt_screen_lines(rt->screen));
	rt->send_text = xstrdup(text);
	rt->send_probe = runtime_echo_probe(text);
	rt->send_probe_n =
		rt->send_probe != NULL
			? runtime_count(rt->send_before, rt->send_probe)
			: 0;
	send_start(&rt->send, now_ms());
	status_set_sending(&rt->status, true);
	runtime_update_status(rt);
	runtime_schedule(rt);
	return 0;
}

static void
runtime_start_prompt(struct runtime *rt)
{
	log_info("agent ready, sending the initial prompt");
	rt->send_is_prompt = true;
	rt->send_req = NULL;
	if (runtime_paste(rt, rt->prompt) < 0) {
		rt->send_is_prompt = false;
		runtime_add_error(rt, "error",
				  "cannot write the initial prompt to the "
				  "agent");
		rt->prompt_sent = true;
	}
}

/* The most messages the conversation may hold: CONV_MAX_MESSAGES, or
 * fewer when TASKBOX_MAX_MESSAGES (a template's env) asks for 2 to that. */
static long
runtime_max_messages(void)
{
	const char *e = getenv("TASKBOX_MAX_MESSAGES");
	long v;

	if (e != NULL && parse_long(e, 2, CONV_MAX_MESSAGES, &v) == 0)
		return v;
	return CONV_MAX_MESSAGES;
}

int
runtime_send_user(struct runtime *rt, struct http_req *req, const char *text,
		  char **cause)
{
	long max = runtime_max_messages();
	int r;

	if (send_active(&rt->send)) {
		*cause = xstrdup("another message is being sent to the agent");
		return -EBUSY;
	}
	if ((long)conv_count(rt->conv) + 2 > max) {
		*cause = xasprintf("the conversation holds the maximum of %ld "
				   "messages",
				   max);
		return -ENOSPC;
	}
	r = runtime_paste(rt, text);
	if (r < 0) {
		*cause = xasprintf("cannot write to the agent: %s",
				   strerror(-r));
		return -EIO;
	}
	rt->send_req = req;
	return 0;
}

/* Free a report and what it holds. */
static void
runtime_report_free(struct runtime_report *r)
{
	if (r == NULL)
		return;
	free(r->summary);
	free(r->link);
	free(r->state);
	free(r);
}

void
runtime_set_report(struct runtime *rt, struct runtime_report *r)
{
	runtime_report_free(rt->report);
	rt->report = r;
	log_info("report: %s", r->summary);
	api_broadcast_report(rt);
}

/* Whether a SessionStart payload is a new session: Claude Code says
 * "resume" for --continue (its history redraws after the hook, and input
 * then is dropped), "clear" or "compact" later on. No source: new. */
static bool
runtime_session_is_new(const json_t *payload)
{
	const char *source =
		json_string_value(json_object_get(payload, "source"));

	return source == NULL || strcmp(source, "startup") == 0;
}

/* Whether a Codex notify payload says the turn is complete. */
static bool
runtime_codex_turn_done(const json_t *payload)
{
	const char *type = json_string_value(json_object_get(payload, "type"));

	return type != NULL && strcmp(type, "agent-turn-complete") == 0;
}

/* Stop holding readiness for the agent's MCP server: the server said it
 * is up (timed_out false) or --wait-mcp passed. */
static void
runtime_mcp_release(struct runtime *rt, bool timed_out)
{
	if (!rt->mcp_waiting)
		return;
	rt->mcp_waiting = false;
	ev_timer_stop(rt->loop, &rt->mcp_timer);
	status_set_held(&rt->status, false);
	if (timed_out)
		runtime_add_error(rt, "warning",
				  "the agent's MCP server did not connect "
				  "within %u s; going on without it",
				  rt->cfg.wait_mcp);
	else
		log_info("the agent's MCP server is connected");
	runtime_update_status(rt);
	runtime_maybe_prompt(rt);
	runtime_schedule(rt);
}

/* --wait-mcp timer: the agent's MCP server never said it is up. */
static void
runtime_mcp_timeout(void *data)
{
	runtime_mcp_release(data, true);
}

void
runtime_on_hook(struct runtime *rt, const char *event, const json_t *payload,
		const char **message)
{
	enum status_hook h = STATUS_HOOK_NONE;
	uint64_t now;

	*message = json_string_value(json_object_get(payload, "message"));
	if (strcmp(event, "mcp-ready") == 0) {
		/* taskbox mcp listed its tools to the agent (the agent's
		 * claim, like any hook: it can only hurry its own prompt) */
		api_broadcast_hook(rt, event, *message);
		runtime_mcp_release(rt, false);
		return;
	}
	/* judge the screen as it is now, not as of the last render */
	if (rt->status.dirty)
		runtime_render(rt);
	now = now_ms();
	if (strcmp(event, "user-prompt-submit") == 0)
		h = STATUS_HOOK_WORKING;
	else if (strcmp(event, "stop") == 0 ||
		 (strcmp(event, "codex-notify") == 0 &&
		  runtime_codex_turn_done(payload)))
		h = STATUS_HOOK_IDLE;
	else if (strcmp(event, "notification") == 0 && rt->has_dialog)
		h = STATUS_HOOK_WAITING;
	else if (strcmp(event, "session-start") == 0 && !rt->ever_idle &&
		 runtime_session_is_new(payload))
		/* only makes the first readiness earlier: later ones (a
		 * cleared or compacted session) are the screen's to judge */
		h = STATUS_HOOK_STARTED;
	log_debug("hook %s", event);
	if (h == STATUS_HOOK_WAITING) {
		free(rt->hook_message);
		rt->hook_message = *message ? utf8_sanitize(*message) : NULL;
	}
	api_broadcast_hook(rt, event, *message);
	if (h != STATUS_HOOK_NONE && !send_active(&rt->send) &&
	    !rt->status.exited) {
		status_on_hook(&rt->status, now, h);
		runtime_update_status(rt);
		runtime_maybe_prompt(rt);
		runtime_schedule(rt);
	}
}

int
runtime_send_raw(struct runtime *rt, const char *data, size_t len)
{
	return pty_write(rt->pty, data, len);
}

int
runtime_resize(struct runtime *rt, unsigned cols, unsigned rows)
{
	int r = vt_screen_resize(rt->screen, cols, rows);

	if (r == 0)
		r = pty_resize(rt->pty, cols, rows);
	if (r == 0) {
		rt->cfg.cols = cols;
		rt->cfg.rows = rows;
		term_resized(rt);
	}
	return r;
}

static void
runtime_save_state(struct runtime *rt)
{
	char *cause = NULL;

	if (rt->cfg.state_file == NULL)
		return;
	if (state_save(rt->cfg.state_file, rt->conv, rt->prompt,
		       rt->prompt_sent, &cause) < 0) {
		runtime_add_error(rt, "error", "cannot save state: %s", cause);
		free(cause);
		return;
	}
	log_info("state saved to '%s'", rt->cfg.state_file);
}

static void
runtime_on_signal(int signo, void *data)
{
	struct runtime *rt = data;

	if (signo == SIGUSR1) {
		runtime_save_state(rt);
		return;
	}
	log_info("signal %d, shutting down", signo);
	runtime_shutdown(rt, 0);
}

static int
runtime_prepare(void *data)
{
	struct runtime *rt = data;

	return http_server_prepare(rt->http);
}

/* ---- arguments -------------------------------------------------------- */

static void
runtime_usage(FILE *f)
{
	fprintf(f,
		"usage: taskbox agent [options] -- COMMAND [ARGS...]\n"
		"       taskbox agent format --type TYPE --user FILE < RAW\n"
		"\n"
		"Run a terminal AI agent in a pseudo-terminal and serve an\n"
		"AgentAPI-compatible chat API for it.\n"
		"\n"
		"  -t, --type TYPE            agent type (%s);\n"
		"                             default: from the command name\n"
		"  -p, --port PORT            TCP port (default 3284, 0 picks "
		"one)\n"
		"      --host ADDR            address to bind (default "
		"127.0.0.1)\n"
		"      --socket PATH          listen on a unix socket instead\n"
		"  -W, --term-width N         terminal width (default 80)\n"
		"  -H, --term-height N        terminal height (default 50)\n"
		"      --scrollback N         rows kept above the screen for "
		"messages\n"
		"                             (default 1000, 0-100000)\n"
		"  -I, --initial-prompt TEXT  prompt sent once the agent is "
		"ready\n"
		"                             (default: stdin when it is not "
		"a terminal)\n"
		"  -s, --state-file FILE      keep the transcript in FILE "
		"across restarts\n"
		"      --pid-file FILE        write our pid to FILE\n"
		"  -a, --allowed-hosts LIST   Host headers accepted "
		"(default localhost,127.0.0.1,[::1])\n"
		"  -o, --allowed-origins LIST CORS origins (default "
		"http://localhost:3284,...)\n"
		"      --auth-token-file FILE require Authorization: Bearer "
		"<token>\n"
		"      --stable-ms N          quiet time before stable "
		"(default 500)\n"
		"  -c, --chat-base-path PATH  public path of the chat UI "
		"(default /chat)\n"
		"      --log-level LEVEL      error, warn, info or debug\n"
		"      --forward LISTEN=TARGET\n"
		"                             relay connections on LISTEN to "
		"TARGET\n"
		"                             (HOST:PORT, tcp:HOST:PORT, "
		"unix:PATH or\n"
		"                             /PATH; up to %d)\n"
		"      --ready-fd N           write progress lines to fd N: "
		"setup,\n"
		"                             listening, agent PID, exit "
		"CODE\n"
		"      --setup FILE           run /bin/sh FILE before serving "
		"and\n"
		"                             starting the agent; failure "
		"exits 3\n"
		"      --setup-log FILE       append its output to FILE "
		"(default stderr)\n"
		"      --setup-timeout SECS   kill it after SECS (default "
		"600)\n"
		"      --wait-mcp SECS        the agent starts our MCP server "
		"(taskbox mcp):\n"
		"                             not ready before it listed its "
		"tools, or\n"
		"                             SECS passed (0-3600, default 0: "
		"no wait)\n",
		agent_type_list(), RUNTIME_MAX_FORWARDS);
}

static void
runtime_free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* Replace *list with the items of a comma (or space) separated string. */
static void
runtime_set_list(char ***list, size_t *n, const char *s)
{
	char *copy = xstrdup(s), *tok, *save = NULL;

	runtime_free_list(*list, *n);
	*list = NULL;
	*n = 0;
	for (tok = strtok_r(copy, ", ", &save); tok != NULL;
	     tok = strtok_r(NULL, ", ", &save)) {
		*list = xreallocarray(*list, *n + 1, sizeof **list);
		(*list)[(*n)++] = xstrdup(tok);
	}
	free(copy);
}

static void
runtime_config_release(struct runtime_config *cfg)
{
	runtime_free_list(cfg->allowed_hosts, cfg->nallowed_hosts);
	runtime_free_list(cfg->allowed_origins, cfg->nallowed_origins);
	free(cfg->token);
	free(cfg->initial_prompt);
	for (size_t i = 0; i < cfg->nforwards; i++) {
		free(cfg->forwards[i].listen);
		free(cfg->forwards[i].target);
	}
	memset(cfg, 0, sizeof *cfg);
	cfg->ready_fd = -1;
}

/* Validate one --allowed-hosts entry: a bare host name or [IPv6]. */
static bool
runtime_host_entry_ok(const char *h)
{
	if (strcmp(h, "*") == 0)
		return true;
	if (strchr(h, '/') || strstr(h, "://"))
		return false;
	if (h[0] == '[')
		return strchr(h, ']') != NULL && strchr(h, ']')[1] == '\0';
	return strchr(h, ':') == NULL;
}

/* Read a token file: one line, not empty, at most 4 KiB. */
static char *
runtime_read_token(const char *path, char **cause)
{
	char buf[4097];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		*cause = xasprintf("cannot open '%s': %s", path,
				   strerror(errno));
		return NULL;
	}
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0) {
		*cause = xasprintf("cannot read '%s': %s", path,
				   strerror(errno));
		return NULL;
	}
	if (n == (ssize_t)sizeof buf - 1) {
		*cause = xasprintf("'%s' is larger than 4 KiB", path);
		return NULL;
	}
	buf[n] = '\0';
	str_trim(buf);
	if (buf[0] == '\0' || strpbrk(buf, " \t\r\n") != NULL) {
		*cause =
			xasprintf("'%s' must hold one token on one line", path);
		return NULL;
	}
	return xstrdup(buf);
}

/* Read all of stdin (piped initial prompt), bounded. */
static char *
runtime_read_stdin(char **cause)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;

	buf_init(&b, RUNTIME_MAX_MESSAGE);
	while ((n = read(STDIN_FILENO, chunk, sizeof chunk)) > 0) {
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			*cause = xasprintf("initial prompt on stdin is over "
					   "%u bytes",
					   RUNTIME_MAX_MESSAGE);
			buf_release(&b);
			return NULL;
		}
	}
	return buf_steal(&b);
}

/* Add one --forward LISTEN=TARGET to cfg; 0, or 2 with a message. */
static int
runtime_add_forward(struct runtime_config *cfg, const char *val)
{
	const char *eq = strchr(val, '=');
	struct sock_spec sp;
	char *listen, *cause = NULL;

	if (cfg->nforwards == RUNTIME_MAX_FORWARDS) {
		fprintf(stderr, "taskbox agent: at most %d --forward options\n",
			RUNTIME_MAX_FORWARDS);
		return 2;
	}
	if (eq == NULL) {
		fprintf(stderr,
			"taskbox agent: bad --forward '%s': use "
			"LISTEN=TARGET, e.g. 127.0.0.1:4000=/run/llm.sock\n",
			val);
		return 2;
	}
	listen = xstrndup(val, (size_t)(eq - val));
	if (sock_spec_parse(listen, true, &sp, &cause) < 0 ||
	    sock_spec_parse(eq + 1, false, &sp, &cause) < 0) {
		fprintf(stderr, "taskbox agent: bad --forward '%s': %s\n", val,
			cause);
		free(cause);
		free(listen);
		return 2;
	}
	cfg->forwards[cfg->nforwards].listen = listen;
	cfg->forwards[cfg->nforwards].target = xstrdup(eq + 1);
	cfg->nforwards++;
	return 0;
}

/* The flags of `taskbox agent` without a short form. */
enum runtime_opt {
	RUNTIME_OPT_HOST = 256,
	RUNTIME_OPT_SOCKET,
	RUNTIME_OPT_PID_FILE,
	RUNTIME_OPT_TOKEN_FILE,
	RUNTIME_OPT_STABLE_MS,
	RUNTIME_OPT_LOG_LEVEL,
	RUNTIME_OPT_FORWARD,
	RUNTIME_OPT_READY_FD,
	RUNTIME_OPT_SETUP,
	RUNTIME_OPT_SETUP_LOG,
	RUNTIME_OPT_SETUP_TIMEOUT,
	RUNTIME_OPT_SCROLLBACK,
	RUNTIME_OPT_WAIT_MCP,
};

/* "+": options end at the first non-option (the agent command). */
static const char runtime_shortopts[] = "+:ht:p:W:H:I:s:a:o:c:";

static const struct option runtime_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"type", required_argument, NULL, 't'},
	{"port", required_argument, NULL, 'p'},
	{"host", required_argument, NULL, RUNTIME_OPT_HOST},
	{"socket", required_argument, NULL, RUNTIME_OPT_SOCKET},
	{"term-width", required_argument, NULL, 'W'},
	{"term-height", required_argument, NULL, 'H'},
	{"initial-prompt", required_argument, NULL, 'I'},
	{"state-file", required_argument, NULL, 's'},
	{"pid-file", required_argument, NULL, RUNTIME_OPT_PID_FILE},
	{"allowed-hosts", required_argument, NULL, 'a'},
	{"allowed-origins", required_argument, NULL, 'o'},
	{"auth-token-file", required_argument, NULL, RUNTIME_OPT_TOKEN_FILE},
	{"stable-ms", required_argument, NULL, RUNTIME_OPT_STABLE_MS},
	{"chat-base-path", required_argument, NULL, 'c'},
	{"log-level", required_argument, NULL, RUNTIME_OPT_LOG_LEVEL},
	{"forward", required_argument, NULL, RUNTIME_OPT_FORWARD},
	{"ready-fd", required_argument, NULL, RUNTIME_OPT_READY_FD},
	{"setup", required_argument, NULL, RUNTIME_OPT_SETUP},
	{"setup-log", required_argument, NULL, RUNTIME_OPT_SETUP_LOG},
	{"setup-timeout", required_argument, NULL, RUNTIME_OPT_SETUP_TIMEOUT},
	{"scrollback", required_argument, NULL, RUNTIME_OPT_SCROLLBACK},
	{"wait-mcp", required_argument, NULL, RUNTIME_OPT_WAIT_MCP},
	{NULL, 0, NULL, 0},
};

/* Apply one parsed option o with value val to cfg (token_file, type and
 * prompt_given are the parser's); 0, or 2 with a message printed. */
static int
runtime_apply_opt(struct runtime_config *cfg, int o, const char *val,
		  const char **token_file, const char **type,
		  bool *prompt_given)
{
	long v;

	switch (o) {
	case 'h':
		runtime_usage(stdout);
		exit(0);
	case 't':
		*type = val;
		break;
	case 'p':
		if (parse_long(val, 0, 65535, &v) < 0) {
			fprintf(stderr,
				"taskbox agent: --port must be 0 to 65535, got "
				"'%s'\n",
				val);
			return 2;
		}
		cfg->port = (int)v;
		break;
	case RUNTIME_OPT_HOST:
		cfg->host = val;
		break;
	case RUNTIME_OPT_SOCKET:
		cfg->socket_path = val;
		break;
	case 'W':
	case 'H':
		if (parse_long(val, 10, o == 'W' ? 1000 : 10000, &v) < 0) {
			fprintf(stderr,
				"taskbox agent: %s must be 10 to %d, got "
				"'%s'\n",
				o == 'W' ? "--term-width" : "--term-height",
				o == 'W' ? 1000 : 10000, val);
			return 2;
		}
		if (o == 'W')
			cfg->cols = (unsigned)v;
		else
			cfg->rows = (unsigned)v;
		break;
	case RUNTIME_OPT_SCROLLBACK:
		if (parse_long(val, 0, VT_MAX_SCROLLBACK, &v) < 0) {
			fprintf(stderr,
				"taskbox agent: --scrollback must be 0 to %u, "
				"got '%s'\n",
				VT_MAX_SCROLLBACK, val);
			return 2;
		}
		cfg->scrollback = (unsigned)v;
		break;
	case 'I':
		free(cfg->initial_prompt);
		cfg->initial_prompt = xstrdup(val);
		*prompt_given = true;
		break;
	case 's':
		cfg->state_file = val;
		break;
	case RUNTIME_OPT_PID_FILE:
		cfg->pid_file = val;
		break;
	case 'a':
		runtime_set_list(&cfg->allowed_hosts, &cfg->nallowed_hosts,
				 val);
		for (size_t k = 0; k < cfg->nallowed_hosts; k++) {
			if (!runtime_host_entry_ok(cfg->allowed_hosts[k])) {
				fprintf(stderr,
					"taskbox agent: bad --allowed-hosts "
					"entry '%s': use bare host names, no "
					"scheme or port\n",
					cfg->allowed_hosts[k]);
				return 2;
			}
		}
		break;
	case 'o':
		runtime_set_list(&cfg->allowed_origins, &cfg->nallowed_origins,
				 val);
		break;
	case RUNTIME_OPT_TOKEN_FILE:
		*token_file = val;
		break;
	case RUNTIME_OPT_STABLE_MS:
		if (parse_long(val, 50, 60000, &v) < 0) {
			fprintf(stderr,
				"taskbox agent: --stable-ms must be 50 to "
				"60000, got '%s'\n",
				val);
			return 2;
		}
		cfg->stable_ms = (uint64_t)v;
		break;
	case 'c':
		cfg->chat_base_path = val;
		break;
	case RUNTIME_OPT_LOG_LEVEL: {
		enum log_level lvl;

		if (log_parse_level(val, &lvl) < 0) {
			fprintf(stderr, "taskbox agent: --log-level must be "
					"error, warn, info or debug\n");
			return 2;
		}
		log_set_level(lvl);
		break;
	}
	case RUNTIME_OPT_FORWARD:
		return runtime_add_forward(cfg, val);
	case RUNTIME_OPT_READY_FD:
		if (parse_long(val, 1, INT32_MAX, &v) < 0 ||
		    fcntl((int)v, F_GETFD) < 0) {
			fprintf(stderr,
				"taskbox agent: --ready-fd must be an open "
				"file descriptor, got '%s'\n",
				val);
			return 2;
		}
		/* the agent and the setup script must not hold it */
		fcntl((int)v, F_SETFD, FD_CLOEXEC);
		cfg->ready_fd = (int)v;
		break;
	case RUNTIME_OPT_SETUP:
		if (access(val, R_OK) < 0) {
			fprintf(stderr,
				"taskbox agent: cannot read setup script "
				"'%s': %s\n",
				val, strerror(errno));
			return 2;
		}
		cfg->setup = val;
		break;
	case RUNTIME_OPT_SETUP_LOG:
		cfg->setup_log = val;
		break;
	case RUNTIME_OPT_SETUP_TIMEOUT:
		if (parse_long(val, 1, 86400, &v) < 0) {
			fprintf(stderr,
				"taskbox agent: --setup-timeout must be 1 to "
				"86400 seconds, got '%s'\n",
				val);
			return 2;
		}
		cfg->setup_timeout = (unsigned)v;
		break;
	case RUNTIME_OPT_WAIT_MCP:
		if (parse_long(val, 0, 3600, &v) < 0) {
			fprintf(stderr,
				"taskbox agent: --wait-mcp must be 0 to 3600 "
				"seconds, got '%s'\n",
				val);
			return 2;
		}
		cfg->wait_mcp = (unsigned)v;
		break;
	default:
		BUG();
	}
	return 0;
}

/* Parse argv into cfg; returns 0, or 2 with a message printed. */
static int
runtime_parse_args(int argc, char **argv, struct runtime_config *cfg)
{
	const char *token_file = NULL, *type = NULL;
	bool prompt_given = false;
	int i, o;

	memset(cfg, 0, sizeof *cfg);
	cfg->host = "127.0.0.1";
	cfg->port = 3284;
	cfg->cols = 80;
	cfg->rows = RUNTIME_DEFAULT_ROWS;
	cfg->scrollback = RUNTIME_DEFAULT_SCROLLBACK;
	cfg->stable_ms = runtime_status_defaults.stable_ms;
	cfg->chat_base_path = "/chat";
	cfg->ready_fd = -1;
	cfg->setup_timeout = 600;
	runtime_set_list(&cfg->allowed_hosts, &cfg->nallowed_hosts,
			 "localhost,127.0.0.1,[::1]");
	runtime_set_list(&cfg->allowed_origins, &cfg->nallowed_origins,
			 "http://localhost:3284,http://localhost:3000,"
			 "http://localhost:3001");

	opterr = 0;
	optind = 1;
	while ((o = getopt_long(argc, argv, runtime_shortopts, runtime_opts,
				NULL)) != -1) {
		/* the flag getopt stopped at: a long one without "=VALUE",
		 * else the short option's letter */
		const char *a = argv[optind - 1];
		char flag[64];

		if (o == ':' || o == '?') {
			if (str_starts_with(a, "--") || optopt == 0)
				snprintf(flag, sizeof flag, "%.*s",
					 (int)strcspn(a, "="), a);
			else
				snprintf(flag, sizeof flag, "-%c", optopt);
			fprintf(stderr,
				o == ':' ? "taskbox agent: option '%s' needs a "
					   "value\n"
					 : "taskbox agent: unknown option '%s' "
					   "(see --help)\n",
				flag);
			return 2;
		}
		if (runtime_apply_opt(cfg, o, optarg, &token_file, &type,
				      &prompt_given) != 0)
			return 2;
	}
	i = optind;
	if (i < argc && strcmp(argv[i - 1], "--") != 0) {
		fprintf(stderr,
			"taskbox agent: unexpected argument '%s'; put the "
			"agent command after '--'\n",
			argv[i]);
		return 2;
	}
	if ((uint64_t)cfg->cols * cfg->rows > RUNTIME_MAX_CELLS) {
		fprintf(stderr,
			"taskbox agent: a %ux%u terminal is over the limit of "
			"%u cells\n",
			cfg->cols, cfg->rows, RUNTIME_MAX_CELLS);
		return 2;
	}
	if ((uint64_t)cfg->cols * cfg->scrollback > RUNTIME_MAX_SB_CELLS) {
		fprintf(stderr,
			"taskbox agent: %u rows of %u columns of scrollback "
			"are over the limit of %u cells\n",
			cfg->scrollback, cfg->cols, RUNTIME_MAX_SB_CELLS);
		return 2;
	}
	if (i >= argc) {
		fprintf(stderr,
			"taskbox agent: no agent command given; usage: "
			"taskbox agent [options] -- COMMAND [ARGS...]\n");
		return 2;
	}
	cfg->argv = argv + i;
	if (type != NULL) {
		if (agent_type_parse(type, &cfg->type) < 0) {
			fprintf(stderr,
				"taskbox agent: unknown agent type '%s'; known "
				"types: %s\n",
				type, agent_type_list());
			return 2;
		}
	} else {
		cfg->type = agent_type_detect(cfg->argv);
	}
	if (token_file != NULL) {
		char *cause = NULL;

		cfg->token = runtime_read_token(token_file, &cause);
		if (cfg->token == NULL) {
			fprintf(stderr, "taskbox agent: %s\n", cause);
			free(cause);
			return 2;
		}
	}
	if (!prompt_given && !isatty(STDIN_FILENO)) {
		char *cause = NULL;

		cfg->initial_prompt = runtime_read_stdin(&cause);
		if (cfg->initial_prompt == NULL) {
			fprintf(stderr, "taskbox agent: %s\n", cause);
			free(cause);
			return 2;
		}
	}
	if (cfg->initial_prompt != NULL) {
		str_trim(cfg->initial_prompt);
		if (cfg->initial_prompt[0] == '\0') {
			free(cfg->initial_prompt);
			cfg->initial_prompt = NULL;
		} else if (strlen(cfg->initial_prompt) > RUNTIME_MAX_MESSAGE) {
			fprintf(stderr,
				"taskbox agent: the initial prompt is over %u "
				"bytes\n",
				RUNTIME_MAX_MESSAGE);
			return 2;
		}
	}
	return 0;
}

/* Write our pid, refusing when the file names a live process. */
static int
runtime_write_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[32];
	long pid;

	if (f != NULL) {
		if (fgets(line, sizeof line, f) != NULL &&
		    parse_long(str_trim(line), 1, INT32_MAX, &pid) == 0 &&
		    pid != getpid() && kill((pid_t)pid, 0) == 0) {
			fclose(f);
			fprintf(stderr,
				"taskbox agent: pid file '%s' names running "
				"process %ld; is another runtime running?\n",
				path, pid);
			return -EEXIST;
		}
		fclose(f);
	}
	f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "taskbox agent: cannot write '%s': %s\n", path,
			strerror(errno));
		return -errno;
	}
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	return 0;
}

static void
runtime_remove_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[32];
	long pid;

	if (f == NULL)
		return;
	if (fgets(line, sizeof line, f) != NULL &&
	    parse_long(str_trim(line), 1, INT32_MAX, &pid) == 0 &&
	    pid == getpid())
		unlink(path);
	fclose(f);
}

static int
runtime_unlink_cb(const char *path, const struct stat *sb UNUSED,
		  int type UNUSED, struct FTW *ftw UNUSED)
{
	if (remove(path) < 0)
		log_warn("cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* Remove the upload directory tree (small; done once at shutdown). */
static void
runtime_remove_uploads(const char *dir)
{
	if (dir != NULL)
		nftw(dir, runtime_unlink_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* Stop the agent: SIGHUP then SIGTERM to the group, SIGKILL after 5 s. */
static void
runtime_stop_agent(struct runtime *rt)
{
	if (rt->pty == NULL)
		return;
	pty_kill(rt->pty, SIGHUP);
	pty_kill(rt->pty, SIGTERM);
	for (int i = 0; i < 50 && !pty_reap(rt->pty, false); i++)
		usleep(100000);
	/* whatever is left of the group, leader or not */
	pty_kill(rt->pty, SIGKILL);
	pty_reap(rt->pty, true);
}

/* Write one progress line to --ready-fd; a reader gone is no error. */
static void PRINTFLIKE(2, 3) runtime_ready(int fd, const char *fmt, ...)
{
	va_list ap;
	char *line;

	if (fd < 0)
		return;
	va_start(ap, fmt);
	line = xvasprintf(fmt, ap);
	va_end(ap);
	if (write_all(fd, line, strlen(line)) < 0)
		log_debug("--ready-fd: %s", strerror(errno));
	free(line);
}

/* Kill what is left of the setup script's process group and reap it. */
static void
runtime_setup_kill(struct runtime *rt)
{
	if (rt->setup == NULL)
		return;
	(void)proc_kill(rt->setup, SIGKILL);
	proc_free(rt->setup);
	rt->setup = NULL;
	if (rt->loop != NULL)
		ev_timer_stop(rt->loop, &rt->setup_timer);
}

/* Serve HTTP and spawn the agent; 0, or the exit code with a message
 * printed. */
static int
runtime_start(struct runtime *rt)
{
	struct pty_callbacks cb = {.output = runtime_on_output,
				   .exited = runtime_on_exit,
				   .arg = rt};
	char *env[] = {"TERM=xterm-256color", NULL, NULL};
	char *cause = NULL, *sock_env = NULL;

	rt->http = http_server_new(rt->loop);
	api_register(rt);
	if (http_server_listen(rt->http, rt->cfg.host, rt->cfg.port,
			       rt->cfg.socket_path, &cause) < 0) {
		fprintf(stderr, "taskbox agent: %s\n", cause);
		free(cause);
		return 1;
	}
	ev_loop_set_prepare(rt->loop, runtime_prepare, rt);
	runtime_ready(rt->cfg.ready_fd, "listening\n");

	/* taskbox mcp and taskbox hook find us through it */
	if (rt->cfg.socket_path != NULL) {
		sock_env = xasprintf("TASKBOX_RUNTIME_SOCKET=%s",
				     rt->cfg.socket_path);
		env[1] = sock_env;
	}
	rt->pty = pty_spawn(rt->loop, rt->cfg.argv, env, rt->cfg.cols,
			    rt->cfg.rows, &cb, &cause);
	free(sock_env);
	if (rt->pty == NULL) {
		fprintf(stderr, "taskbox agent: %s\n", cause);
		free(cause);
		return 127;
	}
	runtime_ready(rt->cfg.ready_fd, "agent %d\n", (int)pty_pid(rt->pty));
	if (rt->mcp_waiting) /* the agent's own start counts, not setup's */
		ev_timer_start(rt->loop, &rt->mcp_timer,
			       now_ms() + (uint64_t)rt->cfg.wait_mcp * 1000);
	if (rt->cfg.socket_path != NULL)
		log_info("listening on unix:%s, agent %s (%s) pid %d",
			 rt->cfg.socket_path, rt->cfg.argv[0],
			 agent_type_name(rt->cfg.type), (int)pty_pid(rt->pty));
	else
		log_info("listening on http://%s:%d, agent %s (%s) pid %d",
			 rt->cfg.host, http_server_port(rt->http),
			 rt->cfg.argv[0], agent_type_name(rt->cfg.type),
			 (int)pty_pid(rt->pty));
	return 0;
}

/* Setup script timer: past the timeout, kill its process group. */
static void
runtime_setup_timeout(void *data)
{
	struct runtime *rt = data;

	rt->setup_timed_out = true;
	(void)proc_kill(rt->setup, SIGKILL);
}

/* The setup script exited: start serving and the agent, or exit 3. */
static void
runtime_setup_done(struct proc *p, int status, void *data)
{
	struct runtime *rt = data;
	char why[64];
	int code;

	ev_timer_stop(rt->loop, &rt->setup_timer);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    !rt->setup_timed_out) {
		/* daemons it started in the background keep running */
		proc_free(p);
		rt->setup = NULL;
		log_info("setup script '%s' done", rt->cfg.setup);
		code = runtime_start(rt);
		if (code != 0)
			runtime_shutdown(rt, code);
		return;
	}
	runtime_setup_kill(rt);
	if (rt->setup_timed_out)
		fprintf(stderr,
			"taskbox agent: setup script failed: timed out after "
			"%u s\n",
			rt->cfg.setup_timeout);
	else if (WIFEXITED(status))
		fprintf(stderr,
			"taskbox agent: setup script failed: exit status %d\n",
			WEXITSTATUS(status));
	else
		fprintf(stderr, "taskbox agent: setup script failed: %s\n",
			proc_status_str(status, why, sizeof why));
	runtime_shutdown(rt, 3);
}

/*
 * Start the setup script in its own process group, its output appended
 * to the setup log; the loop learns of its exit through a pidfd. While
 * it runs, forwards already work and nothing is served.
 */
static int
runtime_setup_start(struct runtime *rt)
{
	char *argv[] = {"/bin/sh", (char *)rt->cfg.setup, NULL};
	char *env[] = {"TERM=xterm-256color", NULL};
	struct proc_spec spec = {.argv = argv,
				 .env = env,
				 .flags = PROC_PGROUP,
				 .fd_out = STDERR_FILENO,
				 .fd_err = STDERR_FILENO};
	char *cause = NULL;
	int r;

	spec.fd_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (rt->cfg.setup_log != NULL) {
		spec.fd_out =
			open(rt->cfg.setup_log,
			     O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (spec.fd_out < 0) {
			r = -errno;
			fprintf(stderr,
				"taskbox agent: setup script failed: cannot "
				"open log '%s': %s\n",
				rt->cfg.setup_log, strerror(-r));
			goto out;
		}
		spec.fd_err = spec.fd_out;
	}
	r = proc_spawn(&spec, &rt->setup, NULL, &cause);
	if (r < 0) {
		fprintf(stderr, "taskbox agent: setup script failed: %s\n",
			cause);
		free(cause);
		goto out;
	}
	proc_watch(rt->setup, rt->loop, runtime_setup_done, rt);
	ev_timer_init(&rt->setup_timer, runtime_setup_timeout, rt);
	ev_timer_start(rt->loop, &rt->setup_timer,
		       now_ms() + (uint64_t)rt->cfg.setup_timeout * 1000);
	log_info("running setup script '%s' (pid %d)", rt->cfg.setup,
		 (int)proc_pid(rt->setup));
	runtime_ready(rt->cfg.ready_fd, "setup\n");
out:
	if (spec.fd_in >= 0)
		close(spec.fd_in);
	if (spec.fd_out != STDERR_FILENO && spec.fd_out >= 0)
		close(spec.fd_out);
	return r;
}

/* Free everything rt holds; safe on a partly started runtime. */
static void
runtime_free(struct runtime *rt)
{
	runtime_setup_kill(rt);
	for (size_t i = 0; i < rt->nforwards; i++)
		forward_free(rt->forwards[i]);
	if (rt->http != NULL)
		http_server_free(rt->http);
	if (rt->pty != NULL)
		pty_free(rt->pty);
	runtime_remove_uploads(rt->upload_dir);
	msgfmt_dialog_release(&rt->dialog);
	conv_free(rt->conv);
	if (rt->screen != NULL)
		vt_screen_free(rt->screen);
	ev_loop_free(rt->loop);
	for (size_t i = 0; i < rt->nerrors; i++)
		free(rt->errors[i].message);
	free(rt->upload_dir);
	free(rt->prompt);
	free(rt->send_text);
	free(rt->send_before);
	free(rt->send_probe);
	runtime_report_free(rt->report);
	free(rt->hook_message);
	runtime_config_release(&rt->cfg);
	free(rt);
}

/* Load the state file, if any; a bad one is reported, not fatal. */
static void
runtime_load_state(struct runtime *rt)
{
	char *saved = NULL, *cause = NULL;
	bool sent = false;
	int r;

	if (rt->cfg.state_file == NULL)
		return;
	r = state_load(rt->cfg.state_file, rt->conv, &saved, &sent, &cause);
	if (r == -ENOENT)
		return;
	if (r < 0) {
		runtime_add_error(rt, "warning",
				  "Failed to restore previous session: %s",
				  cause);
		free(cause);
		return;
	}
	log_info("restored %zu messages from '%s'", conv_count(rt->conv),
		 rt->cfg.state_file);
	if (sent) {
		/* never replay a prompt the agent already had */
		rt->prompt_sent = true;
		if (rt->prompt != NULL && saved != NULL &&
		    strcmp(rt->prompt, saved) != 0)
			log_warn("the initial prompt differs from the one "
				 "already sent; not sending it");
	}
	free(saved);
}

int
runtime_main(int argc, char **argv)
{
	struct runtime *rt;
	char *cause = NULL;
	bool pid_written = false;
	int code, ready_fd;

	if (argc >= 2 && strcmp(argv[1], "format") == 0)
		return runtime_format_main(argc - 1, argv + 1);
	/* a --ready-fd or forward reader gone must not kill us */
	signal(SIGPIPE, SIG_IGN);
	/* buffers of 64 KiB and more (a tall render, a GET's JSON) get pages
	 * of their own, given back when freed, not kept in the heap */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	/* the agent runs as our uid: it must not ptrace us or take our
	 * listening sockets with pidfd_getfd (exec makes it dumpable again) */
	if (prctl(PR_SET_DUMPABLE, 0) < 0)
		log_warn("prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	rt = xcalloc(1, sizeof *rt);
	code = runtime_parse_args(argc, argv, &rt->cfg);
	if (code != 0)
		goto out;
	if (rt->cfg.pid_file != NULL) {
		if (runtime_write_pid(rt->cfg.pid_file) < 0) {
			code = 1;
			goto out;
		}
		pid_written = true;
	}
	/* keep the limit of open files, take the spare that turns an API
	 * client away with a 503 when it is reached */
	if (fdlimit_init(-1, &cause) < 0) {
		log_warn("%s", cause);
		free(cause);
		cause = NULL;
	}
	rt->loop = ev_loop_new();
	rt->screen =
		vt_screen_new(rt->cfg.cols, rt->cfg.rows, runtime_on_reply, rt);
	/* a normal-height screen; what scrolls off stays as text for the
	 * messages (a reply longer than the screen keeps its head) */
	vt_screen_set_scrollback(rt->screen, rt->cfg.scrollback);
	rt->conv = conv_new(rt->cfg.type);
	status_init(&rt->status, &runtime_status_defaults, now_ms());
	rt->status.cfg.stable_ms = rt->cfg.stable_ms;
	send_init(&rt->send, &runtime_send_defaults);
	ev_timer_init(&rt->tick, runtime_tick, rt);
	ev_timer_init(&rt->mcp_timer, runtime_mcp_timeout, rt);
	if (rt->cfg.wait_mcp > 0) {
		rt->mcp_waiting = true;
		status_set_held(&rt->status, true);
	}
	rt->prompt = rt->cfg.initial_prompt;
	rt->cfg.initial_prompt = NULL;
	rt->last_status = STATUS_RUNNING;
	rt->last_state = STATE_STARTING;
	runtime_load_state(rt);

	for (size_t i = 0; i < rt->cfg.nforwards; i++) {
		struct forward *f =
			forward_new(rt->loop, rt->cfg.forwards[i].listen,
				    rt->cfg.forwards[i].target, &cause);

		if (f == NULL) {
			fprintf(stderr, "taskbox agent: --forward: %s\n",
				cause);
			code = 1;
			goto out;
		}
		rt->forwards[rt->nforwards++] = f;
	}

	ev_signal_add(rt->loop, SIGTERM, runtime_on_signal, rt);
	ev_signal_add(rt->loop, SIGINT, runtime_on_signal, rt);
	ev_signal_add(rt->loop, SIGHUP, runtime_on_signal, rt);
	ev_signal_add(rt->loop, SIGUSR1, runtime_on_signal, rt);

	if (rt->cfg.setup != NULL) {
		if (runtime_setup_start(rt) < 0) {
			code = 3;
			goto out;
		}
	} else {
		code = runtime_start(rt);
		if (code != 0)
			goto out;
	}

	code = ev_loop_run(rt->loop);

	/* a setup script still running when we were stopped */
	runtime_setup_kill(rt);
	if (rt->pty != NULL)
		runtime_save_state(rt);
	if (rt->http != NULL)
		http_server_drain(rt->http);
	runtime_stop_agent(rt);
out:
	if (pid_written)
		runtime_remove_pid(rt->cfg.pid_file);
	free(cause);
	ready_fd = rt->cfg.ready_fd;
	runtime_free(rt);
	runtime_ready(ready_fd, "exit %d\n", code);
	return code;
}

/* ---- taskbox agent format ------------------------------------------ */

static char *
runtime_read_file(const char *path, char **cause)
{
	FILE *f = fopen(path, "r");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL) {
		*cause = xasprintf("cannot open '%s': %s", path,
				   strerror(errno));
		return NULL;
	}
	buf_init(&b, 64u << 20);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (buf_append(&b, chunk, n) < 0) {
			*cause = xasprintf("'%s' is over 64 MiB", path);
			fclose(f);
			buf_release(&b);
			return NULL;
		}
	}
	fclose(f);
	return buf_steal(&b);
}

int
runtime_format_main(int argc, char **argv)
{
	const char *type = NULL, *user = NULL, *before = NULL;
	enum agent_type t;
	char *cause = NULL, *raw, *utext = NULL, *calls = NULL, *tmp;
	bool show_calls = false, inspect = false;

	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "--type") == 0 ||
		     strcmp(argv[i], "-t") == 0) &&
		    i + 1 < argc)
			type = argv[++i];
		else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (strcmp(argv[i], "--before") == 0 && i + 1 < argc)
			before = argv[++i];
		else if (strcmp(argv[i], "--tool-calls") == 0)
			show_calls = true;
		else if (strcmp(argv[i], "--inspect") == 0)
			inspect = true;
		else {
			fprintf(stderr,
				"usage: taskbox agent format --type TYPE "
				"[--user FILE] [--before SCREEN] "
				"[--tool-calls] "
				"< RAW\n");
			return 2;
		}
	}
	if (type == NULL || agent_type_parse(type, &t) < 0) {
		fprintf(stderr,
			"taskbox agent format: --type must be one of: %s\n",
			agent_type_list());
		return 2;
	}
	if (user != NULL && (utext = runtime_read_file(user, &cause)) == NULL) {
		fprintf(stderr, "taskbox agent format: %s\n", cause);
		free(cause);
		return 1;
	}
	raw = runtime_read_file("/dev/stdin", &cause);
	if (raw == NULL) {
		fprintf(stderr, "taskbox agent format: %s\n", cause);
		free(cause);
		free(utext);
		return 1;
	}
	if (inspect) {
		/* stdin is a whole screen: print what status reads off it */
		struct msgfmt_dialog d;

		printf("ready: %s\nbusy: %s\n",
		       msgfmt_ready(t, raw) ? "yes" : "no",
		       msgfmt_busy(t, raw) ? "yes" : "no");
		if (msgfmt_dialog(t, raw, &d)) {
			printf("dialog: %s\n", d.text);
			if (d.context != NULL)
				printf("context: %s\n", d.context);
			for (size_t i = 0; i < d.noptions; i++)
				printf("option %zu%s: %s\n", i + 1,
				       (int)i == d.selected ? " (selected)"
							    : "",
				       d.options[i]);
			msgfmt_dialog_release(&d);
		} else {
			printf("dialog: none\n");
		}
		free(raw);
		free(utext);
		return 0;
	}
	if (before != NULL) {
		/* stdin is a whole screen: diff it against the one before */
		char *old = runtime_read_file(before, &cause);

		if (old == NULL) {
			fprintf(stderr, "taskbox agent format: %s\n", cause);
			free(cause);
			free(raw);
			free(utext);
			return 1;
		}
		tmp = msgfmt_screen_diff(t, old, raw, utext);
		free(old);
		free(raw);
		raw = tmp;
	}
	tmp = msgfmt_format(t, raw, utext, &calls);
	if (show_calls)
		fputs(calls ? calls : "", stdout);
	else
		fputs(tmp, stdout);
	free(tmp);
	free(calls);
	free(raw);
	free(utext);
	return 0;
}
