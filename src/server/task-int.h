/*
 * task-int.h: what the task-*.c files share and nothing else includes.
 *
 * struct task is one live task: its row and template, its state (one
 * enum task_state, task-state.c, changed only by task_transition) and the
 * API view derived from it, the workspace and its runtime link (ready pipe,
 * events stream, pinned pidfd), its SSE subscribers, the stop and idle timers
 * and the facts the server recorded in its row. The server's list of
 * them is srv->tasks. server.h declares the task API the rest of the
 * server uses; the files behind it:
 *
 *   task.c          the registry, the state's transitions, current_state,
 *                   JSON, subscribers
 *   task-launch.c   module render, directories and seeding, argv, env,
 *                   mounts, disk, install, the sandbox's start
 *   task-link.c     the runtime link: ready pipe, events, peer checks,
 *                   the workspace's exit, logs
 *   task-stop.c     delete (and sweeps), pause, resume, restart, the
 *                   stop timer, shutdown
 *   task-recover.c  re-attach at server start
 *   task-notify.c   the idle timer, webhooks
 *   task-remote.c   tasks another replica runs, mirrored from the store
 */
#ifndef TASKBOX_TASK_INT_H
#define TASKBOX_TASK_INT_H

#include <sys/types.h>

#include "core/buf.h"
#include "core/ev.h"
#include "http/sse.h"
#include "server/task-state.h"

struct http_req;
struct ws;
struct ws_limits;

#define TASK_HOME    "/home/agent"
#define TASK_WORKDIR "/home/agent/workspace"
#define TASK_RUN     "/run/taskbox"
/* App sockets: a mount of their own, so a task cannot rename or link one
 * of the runtime's app listeners over agent.sock (EXDEV) */
#define TASK_APPS	   "/run/taskbox/apps"
#define TASK_BIN	   "/run/bin/taskbox"
#define TASK_LLM_PORT	   4000
#define TASK_PROXY_PORT	   3128
#define TASK_SSE_QUEUE	   (4u << 20)
#define TASK_MESSAGE_MAX   160
#define TASK_STATE_MAX	   (64 << 20)
#define TASK_STOP_GRACE_MS 5000
#define TASK_STATES_KEPT   1000
#define TASK_WEBHOOKS_MAX  2 /* in flight per task */

struct task_sub {
	struct http_sse *sse;
	struct task *task;
	task_text_fn wire; /* its "task" events' text (NULL: as kept) */
	char *user_id;	   /* who opened it, with their credential's hash */
	char hash[65];	   /* (auth_recheck: task_subs_recheck) */
	bool cookie;	   /* hash is a session's */
	struct task_sub *next;
};

struct task {
	struct task *next;
	json_t *row;	 /* the tasks row plus owner_name */
	json_t *tmpl;	 /* normalized template spec */
	json_t *version; /* template version row */
	json_t *launch;	 /* module_render output */
	char *dir, *run_dir, *home_dir;
	char *runtime_sock;
	enum task_state st;    /* changed by task_transition only */
	struct task_view view; /* what the API shows, derived from st */
	char *reason;	       /* status_reason */
	json_t *state;	       /* current_state or NULL */
	char *last_agent_message;
	struct ws *ws;
	struct egress *egress;
	int ready_fd;
	struct ev_io *ready_io;
	struct buf ready_buf;
	int runtime_exit; /* from "exit N", -1 unknown */
	struct hclient *events;
	struct sse_parser sse;
	struct ev_timer retry;
	int retries;
	struct task_sub *subs;
	uint64_t accepted_ms, ws_ms, agent_ms;
	struct http_req *delete_req;
	struct http_req *pause_req; /* answered once stopped */
	char *pause_message;	    /* the state message once paused (NULL:
				       "Paused"): task_pause_with */
	struct ev_timer stop_timer; /* SIGKILL if SIGTERM is not enough */
	bool resuming;		    /* the launch continues a session */
	bool fresh_agent;     /* restart: no agent ran before: setup again, no
				 resume_args */
	char *report_uri;     /* from the agent's report_task */
	char *report_summary; /* ... and its summary this turn */
	unsigned state_rows;  /* history rows written by this process */
	unsigned webhooks;    /* webhook senders running */
	bool webhook_pending; /* a change came while at the cap */
	struct ev_timer idle_timer; /* template idle_timeout: pause */
	uid_t uid;
	pid_t runtime_pid;	 /* the runtime, once a socket showed it: */
	int runtime_pidfd;	 /* pinned (-1: not yet) */
	uint64_t peer_warned_ms; /* last "refused" warning (rate limit) */
	bool disk_busy;		 /* a disk child (mount; a restart's
				    clearing) runs for this task */
	char *disk_warn;	 /* why the disk limit is not enforced */
	char *ws_warn;	      /* which limits the last start did not enforce */
	struct tqueue *queue; /* the send queue (queue.c) */
	bool prompt_seen;     /* the runtime recorded user input (the
				 prompt) since it started */
	/* what the server saw, kept in the tasks row (never read back from
	 * the task's own files, which it may change): */
	bool laid_out;	       /* its home was made and seeded */
	bool prompt_delivered; /* the runtime typed the prompt */
	bool agent_started;    /* an agent ran (a session to continue) */
	/* the Task JSON encoded (task_json_text); NULL: to be made again.
	 * task_changed() drops it: task_broadcast does, and so must every
	 * change of what the JSON shows that no broadcast follows */
	char *json_text;
	size_t json_len;
	/* json_text through wired_fn (task_json_text_as), dropped with it:
	 * a Coder client's list rewrites each Task once per change */
	task_text_fn wired_fn;
	char *wired_text;
	size_t wired_len;
	/* a remote task (task-remote.c): the replica that runs it (NULL: this
	 * one runs it); it stays recovering, showing its row, and down
	 * says that replica stopped answering (status unknown) */
	char *replica;
	bool replica_down;
	/* marked for the events streams' next flush (task-events.c) */
	bool events_marked;
	struct task *events_next;
};

/* task.c */
const char *task_name(struct task *t);
void task_mark(struct task *t, bool *flag, const char *column);
bool task_by_admin(const struct task *t);
void task_set_str(char **slot, const char *s);
struct task *task_new(json_t *row, enum task_state st);
struct task_view task_row_view(const json_t *row);
void task_free(struct task *t);
void task_set_state(struct task *t, const char *state, const char *message);
void task_limits(struct task *t, struct ws_limits *l, int64_t *disk);
void task_publish(struct task *t, const char *event, const char *data);
void task_broadcast(struct task *t);
int task_transition(struct task *t, enum task_state to, const char *reason);
bool task_ws_runs(const struct task *t);
void task_changed(struct task *t);
void task_fail(struct task *t, const char *fmt, ...) PRINTFLIKE(2, 3);

/* task-link.c */
int64_t task_proc_starttime(pid_t pid);
int task_runtime_pidfd(struct task *t);
void task_events_connect(struct task *t);
void task_on_retry(void *data);
void task_on_ready(struct ev_io *io, uint32_t events, void *data);
void task_on_ws_exit(struct ws *ws, int wstatus, void *data);

/* task-launch.c */
bool task_disk_note(struct task *t, int64_t disk);
void task_install_or_launch(struct task *t);
struct egress_task task_egress_who(struct task *t);
json_t *task_module_render(json_t *module, json_t *tmpl, const char *task_id,
			   json_t **errors);

/* task-stop.c */
void task_remove_files(const char *id);
bool task_sweep_pending(const char *owner_id, const char *template_id);
void task_finish_delete(struct task *t);
void task_on_stop_timeout(void *data);
void task_stop_gracefully(struct task *t);
void task_finish_pause(struct task *t);

/* task-remote.c */
/* t's current_state from its latest stored one (none: left as is). */
void task_load_state(struct task *t);

/* task-notify.c */
void task_on_idle_timeout(void *data);
void task_notify(struct task *t, const char *tmpl_hook, const char *previous);
void task_state_changed(struct task *t, const char *previous);

#endif
