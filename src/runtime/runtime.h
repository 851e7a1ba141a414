/*
 * runtime.h: `taskbox agent`, the agent runtime.
 *
 * One process, one event loop, one agent in a PTY. runtime.c owns the
 * lifecycle (arguments, spawn, render scheduling, sends, state file,
 * shutdown); api.c serves the AgentAPI-compatible HTTP endpoints over
 * the struct runtime they share, term.c the terminal stream.
 */
#ifndef TASKBOX_RUNTIME_H
#define TASKBOX_RUNTIME_H

#include <jansson.h>

#include "core/ev.h"

#include "agent.h"
#include "conv.h"
#include "msgfmt.h"
#include "send.h"
#include "status.h"

struct ev_loop;
struct proc;
struct http_server;
struct http_req;
struct http_sse;
struct forward;
struct pty_proc;
struct vt_screen;
struct term_sub;

#define RUNTIME_MAX_ERRORS	100
#define RUNTIME_MAX_MESSAGE	(256u << 10) /* bytes of one user message */
#define RUNTIME_MAX_UPLOAD	(10u << 20)
#define RUNTIME_MAX_SUBSCRIBERS 128
/* cols x rows: libtsm keeps ~66 bytes per cell */
#define RUNTIME_MAX_CELLS 400000u
/* cols x scrollback rows: text, a few bytes per cell */
#define RUNTIME_MAX_SB_CELLS 10000000u
/* the agent's terminal, and the rows kept above it for messages */
#define RUNTIME_DEFAULT_ROWS	   50
#define RUNTIME_DEFAULT_SCROLLBACK 1000
#define RUNTIME_MAX_FORWARDS	   16

/* One --forward LISTEN=TARGET; both specs as in core/sock.h. */
struct runtime_forward_spec {
	char *listen;
	char *target;
};

struct runtime_config {
	enum agent_type type;
	const char *host;
	int port;
	const char *socket_path;
	unsigned cols;
	unsigned rows;
	unsigned scrollback; /* rows kept above the screen, as text */
	char *initial_prompt;
	const char *state_file;
	const char *pid_file;
	char **allowed_hosts;
	size_t nallowed_hosts;
	char **allowed_origins;
	size_t nallowed_origins;
	char *token; /* from --auth-token-file */
	const char *chat_base_path;
	uint64_t stable_ms;
	struct runtime_forward_spec forwards[RUNTIME_MAX_FORWARDS];
	size_t nforwards;
	int ready_fd;		/* --ready-fd, or -1 */
	const char *setup;	/* --setup script, or NULL */
	const char *setup_log;	/* NULL: inherit stderr */
	unsigned setup_timeout; /* seconds */
	unsigned wait_mcp;	/* --wait-mcp seconds, 0: the agent has none */
	char **argv;
};

struct runtime_error {
	char *message;
	const char *level; /* "warning" | "error" */
	uint64_t time;
};

/* The agent's last self-report (report_task through POST /internal/report). */
struct runtime_report {
	char *summary;
	char *link;  /* NULL when none */
	char *state; /* NULL when none */
	uint64_t time;
};

struct runtime_sub {
	struct http_sse *sse;
	bool screen; /* /internal/screen rather than /events */
	struct runtime_sub *next;
};

struct runtime {
	struct runtime_config cfg;
	struct ev_loop *loop;
	struct http_server *http;
	struct pty_proc *pty;
	struct vt_screen *screen;
	const char *screen_text; /* last render, owned by screen */
	struct conv *conv;
	struct status_engine status;
	struct send_engine send;
	struct ev_timer tick;
	struct msgfmt_dialog dialog;
	bool has_dialog;

	/* the send in progress */
	struct http_req *send_req; /* NULL for the initial prompt */
	char *send_text;
	char *send_before;
	char *send_probe;      /* the text's tail: its echo on screen */
	unsigned send_probe_n; /* times it showed before the paste */
	bool send_is_prompt;

	char *prompt;	  /* initial prompt, NULL when none */
	bool prompt_sent; /* delivered, now or in an earlier run */

	struct runtime_report *report; /* NULL until the agent reports */
	char *hook_message; /* dialog text from the last notification hook */

	struct runtime_error errors[RUNTIME_MAX_ERRORS];
	size_t nerrors;
	struct runtime_sub *subs;
	size_t nsubs;
	struct term_sub *terms; /* GET /internal/terminal (term.c) */
	size_t nterms;

	enum status_value last_status;
	enum status_state last_state;
	bool ever_idle; /* idle once in this run: start hooks count no more */
	char *upload_dir;

	struct forward *forwards[RUNTIME_MAX_FORWARDS];
	size_t nforwards;

	/* the setup script, while it runs */
	struct proc *setup; /* NULL when none runs */
	struct ev_timer setup_timer;
	bool setup_timed_out;

	/* --wait-mcp: readiness held until the agent's MCP server is up */
	bool mcp_waiting;
	struct ev_timer mcp_timer;

	bool exiting;
	int exit_code;
};

/* `taskbox agent ...`; returns the process exit code. */
int runtime_main(int argc, char **argv);
/* `taskbox agent format --type T --user FILE` (stdin → stdout). */
int runtime_format_main(int argc, char **argv);

/* runtime.c, for api.c */
const char *runtime_screen(struct runtime *rt);
enum status_value runtime_status(struct runtime *rt);
enum status_state runtime_state(struct runtime *rt);
/* Start sending a user message; 0, -EBUSY, -ENOSPC or -EIO (cause set). */
int runtime_send_user(struct runtime *rt, struct http_req *req,
		      const char *text, char **cause);
int runtime_send_raw(struct runtime *rt, const char *data, size_t len);
void runtime_add_error(struct runtime *rt, const char *level, const char *fmt,
		       ...) PRINTFLIKE(3, 4);
int runtime_resize(struct runtime *rt, unsigned cols, unsigned rows);
/*
 * An agent hook fired (POST /internal/hook): feed the status engine.
 * payload is the hook's JSON (any type, may be NULL); message, when the
 * payload has one, is set to a pointer into it.
 */
void runtime_on_hook(struct runtime *rt, const char *event,
		     const json_t *payload, const char **message);
/* Store a self-report; takes ownership of r. */
void runtime_set_report(struct runtime *rt, struct runtime_report *r);

/* api.c */
void api_register(struct runtime *rt);
void api_broadcast_message(struct runtime *rt, const struct conv_msg *m);
void api_broadcast_status(struct runtime *rt);
void api_broadcast_screen(struct runtime *rt);
void api_broadcast_error(struct runtime *rt, const struct runtime_error *e);
void api_broadcast_report(struct runtime *rt);
void api_broadcast_hook(struct runtime *rt, const char *event,
			const char *message);
json_t *api_status_json(struct runtime *rt);

/* term.c: GET /internal/terminal (the handler, data is rt) */
#define TERM_MAX_SUBS 32
void term_get(struct http_req *req, void *data);
/* PTY output, already fed to the screen model: to the subscribers. */
void term_output(struct runtime *rt, const char *data, size_t len);
/* The terminal was resized: resize and a snapshot to the subscribers. */
void term_resized(struct runtime *rt);

#endif
