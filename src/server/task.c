/*
 * task.c: one task's lifecycle, from the accepted prompt to deletion.
 *
 * A live task is a small state machine driven by the loop:
 *
 *   pending --prepare--> (install) --> (disk) --launch--> initializing
 *     initializing: the sandbox runs; the runtime inside reports its
 *       phases over the ready pipe: "setup", "listening", "agent PID"
 *     "listening" -> subscribe to the runtime's /events (status, messages)
 *     "agent PID" -> active
 *   the sandbox exits -> error (or unknown after a clean agent exit),
 *     with the reason: setup failed, agent exited N, runtime died
 *   error/unknown --restart--> pending: launched again like a resume
 *     (files and state file kept; setup again when no agent ran)
 *   delete -> kill everything (cgroup + pid namespace), wait for the
 *     exit, remove the directories, soft-delete the row, reply 202
 *
 * status (pending, initializing, active, error, unknown) is stored; the
 * agent's current_state lives in memory (the runtime is its source).
 * Whatever happens, status changes are pushed to the task's SSE
 * subscribers as "task" events, and the runtime's own events are passed
 * through. Until the runtime recorded user input (the prompt), its idle
 * reads as working ("Sending the prompt"). Input sent to the task goes
 * through its send queue (queue.c), which is told of the runtime's user
 * input, state changes and exit.
 *
 * Limits: the template's workspace.limits held to the server's maxima
 * (srv->max; a limit the template leaves unset is the maximum), and a
 * disk image (ws/disk.c, DATA/disks/ID.img) mounted on DATA/tasks/ID
 * before the first launch and at every resume, so everything the
 * workspace can write on the host (home, run, log) is inside it.
 *
 * Directories: DATA/tasks/ID/{home,run,log}; home is /home/agent inside
 * (the workspace is home/workspace), run is /run/taskbox (sockets, state
 * file, setup script and log), log keeps the sandbox's stderr.
 */
#include "common.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/text.h"
#include "http/client.h"
#include "http/http.h"
#include "http/sse.h"
#include "runtime/msgfmt.h"
#include "server.h"
#include "server/identity.h"
#include "server/install.h"
#include "server/module.h"
#include "server/queue.h"
#include "store/store.h"
#include "ws/disk.h"
#include "ws/ws.h"

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

enum task_phase {
	PHASE_PENDING,
	PHASE_INSTALL,
	PHASE_DISK, /* a child makes or mounts the disk image */
	PHASE_LAUNCHED,
	PHASE_SETUP,
	PHASE_LISTENING,
	PHASE_AGENT,
	PHASE_EXITED,
};

struct task_sub {
	struct http_sse *sse;
	struct task *task;
	struct task_sub *next;
};

struct task {
	struct task *next;
	int refs;
	json_t *row;	 /* the tasks row plus owner_name */
	json_t *tmpl;	 /* normalized template spec */
	json_t *version; /* template version row */
	json_t *launch;	 /* module_render output */
	char *dir, *run_dir, *home_dir;
	char *runtime_sock;
	char *status, *reason, *ws_status, *lifecycle;
	json_t *state; /* current_state or NULL */
	char *last_agent_message;
	enum task_phase phase;
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
	bool deleting;
	struct http_req *delete_req;
	bool pausing;		    /* stopping for a pause */
	struct http_req *pause_req; /* answered once stopped */
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
	bool disk_busy;		 /* a disk_mount child runs for this task */
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
};

static void task_set_status(struct task *t, const char *status,
			    const char *reason);
static void task_notify(struct task *t, const char *tmpl_hook,
			const char *previous);
static void task_on_stop_timeout(void *data);
static void task_on_idle_timeout(void *data);
static void task_state_changed(struct task *t, const char *previous);
static void task_webhook(struct task *t, const char *url, const char *previous,
			 bool private_ok);
static void task_launch(struct task *t);
static void task_broadcast(struct task *t);

/* ---- small helpers -------------------------------------------------- */

const char *
task_id(struct task *t)
{
	return json_string_value(json_object_get(t->row, "id"));
}

const char *
task_owner_id(struct task *t)
{
	return json_string_value(json_object_get(t->row, "owner_id"));
}

const char *
task_status(struct task *t)
{
	return t->status;
}

const char *
task_stopping(struct task *t)
{
	return t->deleting ? "being deleted" : t->pausing ? "pausing" : NULL;
}

const char *
task_runtime_socket(struct task *t)
{
	return t->phase >= PHASE_LISTENING && t->phase < PHASE_EXITED
		       ? t->runtime_sock
		       : NULL;
}

struct tqueue *
task_queue(struct task *t)
{
	return t->queue;
}

/* Set one of t's recorded facts (laid_out, prompt_delivered,
 * agent_started: column names) once, in memory and in its row. */
static void
task_mark(struct task *t, bool *flag, const char *column)
{
	char *sql;

	if (*flag)
		return;
	*flag = true;
	sql = xasprintf("UPDATE tasks SET %s = 1 WHERE id = ?", column);
	if (store_exec(srv->store, sql, "s", task_id(t)) < 0)
		log_warn("task %s: cannot record %s", task_id(t), column);
	free(sql);
}

const char *
task_state_name(struct task *t)
{
	return t->state ? json_string_value(json_object_get(t->state, "state"))
			: "";
}

const char *
task_last_message(struct task *t)
{
	return t->last_agent_message;
}

/* The task's name. */
static const char *
task_name(struct task *t)
{
	return json_string_value(json_object_get(t->row, "name"));
}

const char *
task_name_of(struct task *t)
{
	return task_name(t);
}

struct task *
task_find_id(const char *id)
{
	for (struct task *t = srv->tasks; t != NULL; t = t->next)
		if (strcmp(task_id(t), id) == 0)
			return t;
	return NULL;
}

struct task *
task_find_named(const char *owner_id, const char *ref)
{
	for (struct task *t = srv->tasks; t != NULL; t = t->next)
		if (!t->deleting && strcmp(task_owner_id(t), owner_id) == 0 &&
		    (strcasecmp(task_name(t), ref) == 0 ||
		     strcmp(task_id(t), ref) == 0))
			return t;
	return NULL;
}

/* Whether the task's template version is an admin's (or built in): only
 * those may open egress to private ranges or send webhooks there. */
static bool
task_by_admin(const struct task *t)
{
	return json_integer_value(json_object_get(t->version, "by_admin")) != 0;
}

/* Whether the process behind pidfd is still running. */
static bool
pidfd_alive(int pidfd)
{
	return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
}

/* Pin t's runtime (again, once the pinned one is gone): 0 or -ESRCH. */
static int
task_pin_runtime(struct task *t)
{
	if (t->runtime_pidfd >= 0 && pidfd_alive(t->runtime_pidfd))
		return 0;
	if (t->runtime_pidfd >= 0)
		close(t->runtime_pidfd);
	t->runtime_pidfd =
		t->ws != NULL ? ws_runtime_pidfd(t->ws, &t->runtime_pid) : -1;
	return t->runtime_pidfd >= 0 ? 0 : -ESRCH;
}

bool
task_peer_ok(int fd, void *data)
{
	struct task *t = data;
	struct ucred cr;
	socklen_t len = sizeof cr;

	if (t->ws == NULL ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return false;
	/* the listener must be the runtime's own: the process the sandbox
	 * runs, found from bwrap's side and pinned by a pidfd, not any
	 * process of the sandbox (its sockets are in a directory the task
	 * controls) */
	if ((!srv->root || t->uid == 0 || cr.uid == t->uid) &&
	    task_pin_runtime(t) == 0 && cr.pid == t->runtime_pid)
		return true;
	/* a task can make this happen at will: once a minute is enough */
	if (t->peer_warned_ms == 0 || now_ms() - t->peer_warned_ms > 60000) {
		log_warn("task %s: a workspace socket is served by pid %d "
			 "(uid %d), not by the task's runtime: refused",
			 task_name(t), (int)cr.pid, (int)cr.uid);
		t->peer_warned_ms = now_ms();
	}
	return false;
}

/* Replace *slot with a copy of s. */
static void
set_str(char **slot, const char *s)
{
	char *copy = xstrdup(s ? s : "");

	free(*slot);
	*slot = copy;
}

/* Set current_state (message cut to 160 characters). */
static void
task_set_state(struct task *t, const char *state, const char *message)
{
	char stamp[32], cut[4 * TASK_MESSAGE_MAX + 1];
	size_t n = 0, chars = 0;

	/* first line only, at most 160 characters */
	for (const char *p = message ? message : "";
	     *p != '\0' && *p != '\n' && chars < TASK_MESSAGE_MAX; p++) {
		if (((unsigned char)*p & 0xc0) != 0x80)
			chars++;
		if (n + 1 < sizeof cut)
			cut[n++] = *p;
	}
	while (n > 0 && ((unsigned char)cut[n - 1] & 0xc0) == 0xc0)
		n--; /* never end inside a character */
	cut[n] = '\0';
	if (t->state != NULL &&
	    strcmp(json_string_value(json_object_get(t->state, "state")),
		   state) == 0 &&
	    strcmp(json_string_value(json_object_get(t->state, "message")),
		   cut) == 0 &&
	    strcmp(json_string_value(json_object_get(t->state, "uri")),
		   t->report_uri ? t->report_uri : "") == 0)
		return;
	time_rfc3339(wall_ms(), stamp);
	/* state may point into the old t->state: build before dropping it */
	json_t *old = t->state;

	t->state = json_pack("{s:s, s:s, s:s, s:s}", "state", state, "message",
			     cut, "uri", t->report_uri ? t->report_uri : "",
			     "timestamp", stamp);
	state = json_string_value(json_object_get(t->state, "state"));
	/* the history is append-only */
	store_exec(srv->store,
		   "INSERT INTO task_states (task_id, state, message, uri, "
		   "created_at) VALUES (?, ?, ?, ?, ?)",
		   "ssssi", task_id(t), state, cut,
		   t->report_uri ? t->report_uri : "", (int64_t)wall_ms());
	if (++t->state_rows % 100 == 0)
		/* a chatty (or hostile) agent: keep the latest rows */
		store_exec(
			srv->store,
			"DELETE FROM task_states WHERE task_id = ? AND id <= "
			"(SELECT MAX(id) FROM task_states WHERE task_id = ?) "
			"- ?",
			"ssi", task_id(t), task_id(t),
			(int64_t)TASK_STATES_KEPT);
	task_state_changed(
		t,
		old ? json_string_value(json_object_get(old, "state")) : NULL);
	json_decref(old);
	task_broadcast(t);
}

/* ---- limits ------------------------------------------------------------ */

/* One limit: the template's value held to the server's maximum m; a
 * value the template leaves unset (0) is the maximum. */
static int64_t
task_limit(json_t *limits, const char *field, int64_t m)
{
	int64_t v = json_integer_value(json_object_get(limits, field));

	if (v <= 0 || (m > 0 && v > m))
		return m;
	return v;
}

/* The limits t's workspace runs with (*disk 0: no disk limit). */
static void
task_limits(struct task *t, struct ws_limits *l, int64_t *disk)
{
	json_t *limits = json_object_get(json_object_get(t->tmpl, "workspace"),
					 "limits");

	l->memory_bytes =
		task_limit(limits, "memory_bytes", srv->max.memory_bytes);
	l->pids = task_limit(limits, "pids", srv->max.pids);
	l->cpu_millicores =
		task_limit(limits, "cpu_millicores", srv->max.cpu_millicores);
	*disk = task_limit(limits, "disk_bytes", srv->max.disk_bytes);
}

int
task_admit(const char *owner_id, bool resume, char **why)
{
	long total = 0, running = 0;

	for (struct task *t = srv->tasks; t != NULL; t = t->next) {
		if (t->deleting)
			continue;
		total++;
		if (strcmp(task_owner_id(t), owner_id) == 0 &&
		    (strcmp(t->status, "pending") == 0 ||
		     strcmp(t->status, "initializing") == 0 ||
		     strcmp(t->status, "active") == 0))
			running++;
	}
	if (!resume && total >= srv->max_tasks) {
		*why = xasprintf("the server holds %ld tasks, its maximum "
				 "(--max-tasks); delete finished tasks first",
				 total);
		return 429;
	}
	if (running >= srv->max_running_per_user) {
		*why = xasprintf("the owner has %ld tasks starting or running, "
				 "the maximum per user "
				 "(--max-running-per-user); pause or delete "
				 "one first",
				 running);
		return 429;
	}
	return 0;
}

/* ---- JSON ------------------------------------------------------------- */

/* Fill the fields every Task JSON has from a stored row. */
static json_t *
task_json_base(const json_t *row, const json_t *version)
{
	char created[32], updated[32], *app_url;
	const char *owner =
		json_string_value(json_object_get(row, "owner_name"));
	const char *name = json_string_value(json_object_get(row, "name"));
	json_t *spec = json_object_get(version, "spec_json");
	json_t *apps = json_array(), *app;
	size_t i;

	time_rfc3339((uint64_t)json_integer_value(
			     json_object_get(row, "created_at")),
		     created);
	time_rfc3339((uint64_t)json_integer_value(
			     json_object_get(row, "updated_at")),
		     updated);
	app_url = xasprintf("/@%s/%s/apps/chat/", owner, name);
	json_array_append_new(apps, json_pack("{s:s, s:s, s:s}", "slug", "chat",
					      "display_name", "Chat", "url",
					      app_url));
	json_array_foreach(json_object_get(spec, "apps"), i, app)
	{
		char *url = xasprintf(
			"/@%s/%s/apps/%s/", owner, name,
			json_string_value(json_object_get(app, "slug")));

		json_array_append_new(
			apps,
			json_pack("{s:O, s:s, s:s}", "slug",
				  json_object_get(app, "slug"), "display_name",
				  json_string_value(
					  json_object_get(app, "display_name"))
					  ?: json_string_value(json_object_get(
						     app, "slug")),
				  "url", url));
		free(url);
	}
	json_t *j = json_pack(
		"{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:s, s:O, s:O, s:O, "
		"s:O, s:O, s:O, s:O, s:O, s:s, s:o, s:s, s:s}",
		"id", json_object_get(row, "id"), "name",
		json_object_get(row, "name"), "display_name",
		json_object_get(row, "display_name"), "owner_id",
		json_object_get(row, "owner_id"), "owner_name",
		json_object_get(row, "owner_name"), "template_id",
		json_object_get(version, "id"), "template_name",
		json_object_get(version, "name"), "template_display_name",
		json_string_value(json_object_get(spec, "display_name"))
			?: json_string_value(json_object_get(version, "name")),
		"template_version_id",
		json_object_get(row, "template_version_id"), "workspace_id",
		json_object_get(row, "id"), "workspace_name",
		json_object_get(row, "name"), "initial_prompt",
		json_object_get(row, "prompt"), "agent_type",
		json_object_get(row, "agent_type"), "status",
		json_object_get(row, "status"), "status_reason",
		json_object_get(row, "status_reason"), "workspace_status",
		json_object_get(row, "workspace_status"), "app_url", app_url,
		"apps", apps, "created_at", created, "updated_at", updated);

	free(app_url);
	return j;
}

json_t *
task_json_row(const json_t *row)
{
	json_t *version = catalog_version_get(
		json_string_value(json_object_get(row, "template_version_id")));
	json_t *j = task_json_base(row, version);

	json_object_set_new(j, "workspace_agent_lifecycle", json_string("off"));
	json_object_set_new(j, "current_state", json_null());
	json_object_set_new(j, "startup", json_null());
	json_decref(version);
	return j;
}

/* Add "limits" (what the workspace gets) and "warnings" (limits that
 * are not enforced here) to j. */
static void
task_json_limits(struct task *t, json_t *j)
{
	struct ws_limits l;
	int64_t disk;
	json_t *w = json_array();

	task_limits(t, &l, &disk);
	json_object_set_new(
		j, "limits",
		json_pack("{s:I, s:I, s:o, s:o}", "memory_bytes",
			  (json_int_t)l.memory_bytes, "pids",
			  (json_int_t)l.pids, "cpu_millicores",
			  l.cpu_millicores > 0 ? json_integer(l.cpu_millicores)
					       : json_null(),
			  "disk_bytes",
			  disk > 0 ? json_integer(disk) : json_null()));
	if (t->ws_warn != NULL)
		json_array_append_new(w, json_string(t->ws_warn));
	if (t->disk_warn != NULL)
		json_array_append_new(w, json_string(t->disk_warn));
	json_object_set_new(j, "warnings", w);
}

json_t *
task_json(struct task *t)
{
	json_t *j = task_json_base(t->row, t->version);

	json_object_set_new(j, "status", json_string(t->status));
	json_object_set_new(j, "status_reason", json_string(t->reason));
	json_object_set_new(j, "workspace_status", json_string(t->ws_status));
	json_object_set_new(j, "workspace_agent_lifecycle",
			    json_string(t->lifecycle));
	json_object_set_new(j, "current_state",
			    t->state ? json_deep_copy(t->state) : json_null());
	task_json_limits(t, j);
	if (t->ws_ms != 0) {
		json_t *st = json_object();

		json_object_set_new(
			st, "workspace_ms",
			json_integer((json_int_t)(t->ws_ms - t->accepted_ms)));
		json_object_set_new(
			st, "agent_ms",
			t->agent_ms ? json_integer((json_int_t)(t->agent_ms -
								t->accepted_ms))
				    : json_null());
		json_object_set_new(j, "startup", st);
	} else {
		json_object_set_new(j, "startup", json_null());
	}
	return j;
}

/* ---- subscribers ------------------------------------------------------ */

/* Send event to every subscriber of t. */
static void
task_publish(struct task *t, const char *event, const char *data)
{
	for (struct task_sub *s = t->subs; s != NULL; s = s->next)
		http_sse_send(s->sse, event, data);
}

void
task_publish_event(struct task *t, const char *event, const char *data)
{
	task_publish(t, event, data);
}

/* Push the Task JSON to subscribers. */
static void
task_broadcast(struct task *t)
{
	json_t *j;
	char *s;

	if (t->subs == NULL)
		return;
	j = task_json(t);
	s = json_dumps(j, JSON_COMPACT);
	task_publish(t, "task", s);
	free(s);
	json_decref(j);
}

static void
task_sub_closed(struct http_sse *sse UNUSED, void *data)
{
	struct task_sub *sub = data;
	struct task_sub **pp;

	if (sub->task != NULL) {
		for (pp = &sub->task->subs; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == sub) {
				*pp = sub->next;
				break;
			}
		}
	}
	free(sub);
}

void
task_events(struct task *t, struct http_req *req)
{
	struct task_sub *sub = xcalloc(1, sizeof *sub);
	json_t *j = task_json(t);
	char *s = json_dumps(j, JSON_COMPACT);

	sub->task = t;
	sub->sse = http_sse_start(req, TASK_SSE_QUEUE, task_sub_closed, sub);
	sub->next = t->subs;
	t->subs = sub;
	http_sse_send(sub->sse, "task", s);
	free(s);
	json_decref(j);
}

/* ---- status ------------------------------------------------------------ */

/* Store and publish a new status (and reason). */
static void
task_set_status(struct task *t, const char *status, const char *reason)
{
	if (strcmp(t->status, status) == 0 &&
	    strcmp(t->reason, reason ? reason : "") == 0)
		return;
	set_str(&t->status, status);
	set_str(&t->reason, reason);
	if (strcmp(status, "error") == 0)
		log_warn("task %s: error: %s", task_name(t), t->reason);
	else
		log_info("task %s: %s", task_name(t), status);
	if (!t->deleting)
		store_exec(srv->store,
			   "UPDATE tasks SET status = ?, status_reason = ?, "
			   "workspace_status = ?, updated_at = ? WHERE id = ?",
			   "sssis", t->status, t->reason, t->ws_status,
			   (int64_t)wall_ms(), task_id(t));
	task_broadcast(t);
}

/* Fail the task with a reason built from fmt. */
static void PRINTFLIKE(2, 3) task_fail(struct task *t, const char *fmt, ...)
{
	va_list ap;
	char *reason;

	va_start(ap, fmt);
	reason = xvasprintf(fmt, ap);
	va_end(ap);
	set_str(&t->ws_status, "failed");
	set_str(&t->lifecycle, "off");
	task_set_state(t, "failure", reason);
	task_set_status(t, "error", reason);
	free(reason);
}

/* ---- the runtime's events ---------------------------------------------- */

static void task_events_connect(struct task *t);

/* Map the runtime's status payload onto current_state. */
static void
task_on_runtime_status(struct task *t, json_t *j)
{
	const char *state = json_string_value(json_object_get(j, "state"));
	const char *status = json_string_value(json_object_get(j, "status"));
	json_t *dialog = json_object_get(j, "dialog");
	const char *last = t->last_agent_message;

	if (state == NULL)
		state = status && strcmp(status, "stable") == 0 ? "idle"
								: "working";
	if (strcmp(state, "idle") == 0 && !t->prompt_seen &&
	    !t->prompt_delivered)
		/* the runtime is about to type the prompt: not idle yet for
		 * anyone who waits for the agent to finish it (a prompt
		 * delivered before is not sent again) */
		task_set_state(t, "working", "Sending the prompt");
	else if (strcmp(state, "waiting") == 0)
		task_set_state(
			t, "waiting",
			json_string_value(json_object_get(dialog, "text"))
				?: "Waiting for an answer");
	else if (strcmp(state, "idle") == 0 && t->report_summary != NULL)
		/* the agent reported this turn: its words, our state */
		task_set_state(t, "idle", t->report_summary);
	else if (strcmp(state, "idle") == 0) {
		/* what the agent said, never terminal chrome */
		char *h = msgfmt_headline(last ? last : "");

		task_set_state(t, "idle", *h != '\0' ? h : "Waiting for input");
		free(h);
	} else if (strcmp(state, "starting") == 0)
		task_set_state(t, "working", "Agent is starting");
	else if (strcmp(state, "working") == 0)
		task_set_state(t, "working", t->report_summary ?: "Working");
	tqueue_on_state(t);
}

/* One SSE event from the runtime. */
static int
task_on_runtime_event(const char *event, const char *data, void *cbdata)
{
	struct task *t = cbdata;
	json_t *j = json_loads(data, 0, NULL);
	const char *role, *summary, *link, *state;

	if (j == NULL)
		return 0;
	if (strcmp(event, "status_change") == 0) {
		task_on_runtime_status(t, j);
	} else if (strcmp(event, "message_update") == 0) {
		role = json_string_value(json_object_get(j, "role"));
		if (role != NULL && strcmp(role, "agent") == 0)
			set_str(&t->last_agent_message,
				json_string_value(
					json_object_get(j, "message")));
		if (role != NULL && strcmp(role, "user") == 0) {
			/* a new turn: the last report is stale */
			free(t->report_summary);
			t->report_summary = NULL;
			t->prompt_seen = true;
			task_mark(t, &t->prompt_delivered, "prompt_delivered");
			tqueue_on_user_input(t);
		}
	} else if (strcmp(event, "task_report") == 0) {
		/* the agent's own words: summary and link, never the state
		 * (working, idle, waiting come from deterministic signals) */
		summary = json_string_value(json_object_get(j, "summary"));
		link = json_string_value(json_object_get(j, "link"));
		state = json_string_value(json_object_get(t->state, "state"));
		/* the runtime is the task's: bound what it may make us keep */
		if (link != NULL && strlen(link) > 2048)
			link = NULL;
		if (summary != NULL && strlen(summary) > 4 * TASK_MESSAGE_MAX)
			summary = NULL;
		set_str(&t->report_uri, link ? link : "");
		if (summary != NULL && *summary != '\0')
			set_str(&t->report_summary, summary);
		if (state != NULL)
			task_set_state(
				t, state,
				t->report_summary
					?: json_string_value(json_object_get(
						   t->state, "message")));
	}
	task_publish(t, event, data);
	json_decref(j);
	return 0;
}

/* Subscribe to the runtime's events again later: 50 ms, doubling up to
 * 10 s while it keeps failing (a socket the peer check refuses, say). */
static void
task_events_retry(struct task *t)
{
	uint64_t delay = 50ull << (t->retries < 8 ? t->retries : 8);

	t->retries++;
	ev_timer_start(srv->loop, &t->retry,
		       now_ms() + (delay < 10000 ? delay : 10000));
}

static void
task_events_body(struct hclient *c UNUSED, const char *buf, size_t len,
		 void *data)
{
	struct task *t = data;

	if (sse_parser_feed(&t->sse, buf, len) < 0) {
		log_warn("task %s: runtime event over the size limit",
			 task_name(t));
		hclient_free(t->events);
		t->events = NULL;
		sse_parser_release(&t->sse);
		task_events_retry(t);
		return;
	}
	t->retries = 0; /* the runtime is talking */
}

static void
task_events_done(struct hclient *c UNUSED, int err, void *data)
{
	struct task *t = data;

	t->events = NULL;
	sse_parser_release(&t->sse);
	if (t->phase < PHASE_EXITED && !t->deleting) {
		/* the runtime restarted its listener or is going away */
		log_debug("task %s: runtime event stream ended (%d)",
			  task_name(t), err);
		task_events_retry(t);
	}
}

/* Subscribe to the runtime's /events. */
static void
task_events_connect(struct task *t)
{
	static const struct hclient_cb cbs = {
		.body = task_events_body,
		.done = task_events_done,
		.peer = task_peer_ok,
	};
	static const char *const hdrs[] = {"Accept", "text/event-stream", NULL};
	char *cause = NULL;

	if (t->events != NULL || t->phase >= PHASE_EXITED || t->deleting)
		return;
	sse_parser_init(&t->sse, task_on_runtime_event, t);
	t->events = hclient_start(srv->loop, t->runtime_sock, "GET", "/events",
				  hdrs, NULL, 0, &cbs, t, &cause);
	if (t->events == NULL) {
		log_debug("task %s: %s", task_name(t), cause);
		free(cause);
		sse_parser_release(&t->sse);
		task_events_retry(t);
	}
}

static void
task_on_retry(void *data)
{
	task_events_connect(data);
}

/* ---- the ready pipe ------------------------------------------------------ */

/* One line from the runtime inside. */
static void
task_on_ready_line(struct task *t, const char *line)
{
	if (strcmp(line, "setup") == 0) {
		t->phase = PHASE_SETUP;
		task_set_state(t, "working", "Running setup script");
	} else if (strcmp(line, "listening") == 0) {
		t->phase = PHASE_LISTENING;
		set_str(&t->lifecycle, "starting");
		task_set_state(t, "working", "Starting agent");
		task_events_connect(t);
	} else if (str_starts_with(line, "agent ")) {
		t->phase = PHASE_AGENT;
		t->fresh_agent = false; /* there is a session to continue */
		task_mark(t, &t->agent_started, "agent_started");
		t->agent_ms = now_ms();
		set_str(&t->lifecycle, "ready");
		log_info("task %s: agent running %llu ms after the prompt "
			 "was accepted",
			 task_name(t),
			 (unsigned long long)(t->agent_ms - t->accepted_ms));
		task_set_status(t, "active", "");
	} else if (str_starts_with(line, "exit ")) {
		long v;

		if (parse_long(line + 5, -1, 255, &v) == 0)
			t->runtime_exit = (int)v;
	}
}

static void
task_on_ready(struct ev_io *io UNUSED, uint32_t events UNUSED, void *data)
{
	struct task *t = data;
	char buf[512];
	ssize_t r = read(t->ready_fd, buf, sizeof buf);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		ev_io_del(t->ready_io);
		t->ready_io = NULL;
		close(t->ready_fd);
		t->ready_fd = -1;
		return;
	}
	if (buf_append(&t->ready_buf, buf, (size_t)r) < 0) {
		buf_clear(&t->ready_buf);
		return;
	}
	for (;;) {
		char *nl = memchr(t->ready_buf.data, '\n', t->ready_buf.len);
		char *line;

		if (nl == NULL)
			break;
		line = xstrndup(t->ready_buf.data,
				(size_t)(nl - t->ready_buf.data));
		buf_consume(&t->ready_buf,
			    (size_t)(nl - t->ready_buf.data) + 1);
		task_on_ready_line(t, line);
		free(line);
	}
}

/* ---- workspace exit ------------------------------------------------------ */

/*
 * Open a file that lives in a directory the task controls: never follow a
 * symlink, never block on a FIFO, only regular files. fd or -1.
 */
static int
task_open_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat sb;

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The last non-empty line of a file (new string) or NULL. */
static char *
file_last_line(const char *path)
{
	char buf[4096];
	int fd = task_open_file(path);
	off_t size;
	ssize_t n;
	char *end, *start;

	if (fd < 0)
		return NULL;
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)sizeof buf - 1)
		lseek(fd, size - (off_t)sizeof buf + 1, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	end = buf + n;
	while (end > buf &&
	       (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	*end = '\0';
	start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	return *start ? utf8_sanitize(start) : NULL;
}

static void task_finish_delete(struct task *t);
static void task_finish_pause(struct task *t);

static void
task_on_ws_exit(struct ws *ws UNUSED, int wstatus, void *data)
{
	struct task *t = data;
	enum task_phase was = t->phase;
	char *path, *last;

	t->phase = PHASE_EXITED;
	if (t->events != NULL) {
		hclient_free(t->events);
		t->events = NULL;
		sse_parser_release(&t->sse);
	}
	t->prompt_seen = false;
	tqueue_on_stop(t);
	ev_timer_stop(srv->loop, &t->retry);
	ev_timer_stop(srv->loop, &t->stop_timer);
	if (t->deleting) {
		task_finish_delete(t);
		return;
	}
	set_str(&t->lifecycle, "off");
	store_exec(srv->store, "UPDATE tasks SET ws_pid = NULL WHERE id = ?",
		   "s", task_id(t));
	if (t->pausing) {
		task_finish_pause(t);
		return;
	}
	if (was <= PHASE_SETUP &&
	    (t->runtime_exit == 3 ||
	     (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 3))) {
		path = xasprintf("%s/setup.log", t->run_dir);
		last = file_last_line(path);
		task_fail(t, "the setup script failed%s%s", last ? ": " : "",
			  last ? last : "");
		free(last);
		free(path);
		return;
	}
	if (was < PHASE_AGENT) {
		path = xasprintf("%s/log", t->dir);
		last = file_last_line(path);
		task_fail(t, "the workspace stopped before the agent ran%s%s",
			  last ? ": " : "", last ? last : "");
		free(last);
		free(path);
		return;
	}
	if (wstatus == -1) {
		task_fail(t, "the workspace stopped (it was started by an "
			     "earlier server process: its exit status is "
			     "unknown)");
	} else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
		set_str(&t->ws_status, "stopped");
		task_set_state(t, "complete", "The agent exited");
		task_set_status(t, "unknown", "the agent exited with status 0");
	} else if (WIFEXITED(wstatus)) {
		task_fail(t, "the agent exited with status %d",
			  WEXITSTATUS(wstatus));
	} else {
		task_fail(t, "the workspace was killed by signal %d",
			  WTERMSIG(wstatus));
	}
}

/* ---- deletion --------------------------------------------------------- */

/* Remove task id's files: unmount its disk image and remove it, then
 * rm -rf its directory, all in a child (never blocks the loop). */
static void
task_remove_files(const char *id)
{
	char *dir = xasprintf("%s/%s", srv->tasks_dir, id);
	char *img = xasprintf("%s/%s.img", srv->disks_dir, id);
	char *argv[] = {"rm", "-rf", "--one-file-system", dir, NULL};
	char *cause = NULL;

	if (disk_remove(srv->loop, img, dir, argv, &cause) < 0) {
		log_warn("cannot remove '%s': %s", dir, cause);
		free(cause);
	}
	free(img);
	free(dir);
}

/* Drop t from the live list and free it. */
static void
task_free(struct task *t)
{
	struct task **pp;

	for (pp = &srv->tasks; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	for (struct task_sub *s = t->subs; s != NULL; s = s->next) {
		s->task = NULL;
		http_sse_end(s->sse);
	}
	if (t->events != NULL)
		hclient_free(t->events);
	sse_parser_release(&t->sse);
	ev_timer_stop(srv->loop, &t->retry);
	if (t->ready_io != NULL)
		ev_io_del(t->ready_io);
	if (t->ready_fd >= 0)
		close(t->ready_fd);
	if (t->runtime_pidfd >= 0)
		close(t->runtime_pidfd);
	buf_release(&t->ready_buf);
	if (t->ws != NULL)
		ws_free(t->ws);
	egress_free(t->egress);
	json_decref(t->row);
	json_decref(t->tmpl);
	json_decref(t->version);
	json_decref(t->launch);
	json_decref(t->state);
	free(t->dir);
	free(t->run_dir);
	free(t->home_dir);
	free(t->runtime_sock);
	free(t->status);
	free(t->reason);
	free(t->ws_status);
	free(t->lifecycle);
	free(t->last_agent_message);
	free(t->report_uri);
	free(t->report_summary);
	free(t->disk_warn);
	free(t->ws_warn);
	tqueue_free(t->queue);
	ev_timer_stop(srv->loop, &t->stop_timer);
	ev_timer_stop(srv->loop, &t->idle_timer);
	free(t);
}

/*
 * Deleting many tasks (a user's, a template's) waits until every one is
 * gone before the rows they point at go: a sweep is the filter and what
 * to call then, checked each time a task is freed.
 */
struct task_sweep {
	char *owner_id;	   /* the tasks of this user, or NULL */
	char *template_id; /* the tasks of this template, or NULL */
	void (*done)(void *data);
	void *data;
	struct task_sweep *next;
};

static struct task_sweep *task_sweeps;

/* Does t fall under sweep s? */
static bool
task_sweep_matches(const struct task_sweep *s, struct task *t)
{
	const char *tid = json_string_value(json_object_get(t->version, "id"));

	if (s->owner_id != NULL)
		return strcmp(task_owner_id(t), s->owner_id) == 0;
	return tid != NULL && strcmp(tid, s->template_id) == 0;
}

/* Call (and drop) the sweeps whose tasks are all gone. */
static void
task_sweeps_check(void)
{
	struct task_sweep **pp = &task_sweeps, *ready = NULL, *s;

	while ((s = *pp) != NULL) {
		struct task *t = srv->tasks;

		/* only the tasks it deletes: one made meanwhile (refused
		 * now, see task_sweep_pending) would keep it waiting */
		while (t != NULL && !(t->deleting && task_sweep_matches(s, t)))
			t = t->next;
		if (t != NULL) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		s->next = ready;
		ready = s;
	}
	/* outside the walk: done may start another sweep */
	while ((s = ready) != NULL) {
		ready = s->next;
		s->done(s->data);
		free(s->owner_id);
		free(s->template_id);
		free(s);
	}
}

/* Is a sweep deleting the tasks of this owner or template? */
static bool
task_sweep_pending(const char *owner_id, const char *template_id)
{
	for (struct task_sweep *s = task_sweeps; s != NULL; s = s->next) {
		if (s->owner_id != NULL && owner_id != NULL &&
		    strcmp(s->owner_id, owner_id) == 0)
			return true;
		if (s->template_id != NULL && template_id != NULL &&
		    strcmp(s->template_id, template_id) == 0)
			return true;
	}
	return false;
}

void
task_delete_all(const char *owner_id, const char *template_id,
		void (*done)(void *data), void *data)
{
	struct task_sweep *s = xcalloc(1, sizeof *s);
	struct task *t, *next;

	BUG_ON((owner_id == NULL) == (template_id == NULL));
	s->owner_id = owner_id ? xstrdup(owner_id) : NULL;
	s->template_id = template_id ? xstrdup(template_id) : NULL;
	s->done = done;
	s->data = data;
	for (t = srv->tasks; t != NULL; t = next) {
		next = t->next; /* task_delete may free t at once */
		if (!t->deleting && task_sweep_matches(s, t))
			task_delete(t);
	}
	s->next = task_sweeps;
	task_sweeps = s;
	task_sweeps_check();
}

/* The workspace is gone: remove files, answer the DELETE, free. */
static void
task_finish_delete(struct task *t)
{
	if (t->pause_req != NULL) {
		http_reply_problem(t->pause_req, 409,
				   "the task was deleted while pausing");
		t->pause_req = NULL;
	}
	task_remove_files(task_id(t));
	if (t->ws == NULL) /* e.g. it died while the server was down */
		srv->backend->forget(task_id(t));
	set_str(&t->ws_status, "deleted");
	task_broadcast(t);
	if (t->delete_req != NULL)
		http_reply(t->delete_req, 202, NULL, "", 0);
	log_info("task %s deleted", task_name(t));
	task_free(t);
	task_sweeps_check();
}

void
task_delete(struct task *t)
{
	t->deleting = true;
	store_exec(srv->store,
		   "UPDATE tasks SET deleted_at = ?, workspace_status = "
		   "'deleted' WHERE id = ?",
		   "is", (int64_t)wall_ms(), task_id(t));
	tqueue_forget(t);
	set_str(&t->ws_status, "stopping");
	egress_free(t->egress);
	t->egress = NULL;
	if (t->ws != NULL && t->phase != PHASE_EXITED) {
		ws_kill(t->ws); /* task_on_ws_exit finishes */
		return;
	}
	if (t->disk_busy)
		return; /* task_on_disk finishes once the mount is done */
	task_finish_delete(t);
}

void
task_delete_reply(struct task *t, struct http_req *req)
{
	if (t->deleting) {
		http_reply_problem(req, 409, "the task is being deleted");
		return;
	}
	t->delete_req = req;
	http_req_defer(req);
	task_delete(t);
}

/* The start time of pid (/proc/PID/stat field 22, clock ticks), or 0:
 * with the pid it names one process across pid reuse. */
static int64_t
proc_starttime(pid_t pid)
{
	char path[64], buf[1024];
	int fd;
	ssize_t n;
	char *p;
	int field = 2;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (p == NULL)
		return 0;
	for (p++; *p != '\0'; p++) {
		if (*p == ' ' && ++field == 22)
			return strtoll(p + 1, NULL, 10);
	}
	return 0;
}

/* ---- launching ------------------------------------------------------------
 */

/*
 * Make (when missing) and open directory name under dfd, never through a
 * link, its mode and owner set on the open fd (a path could be swapped
 * for a link in between): fd or -errno.
 */
static int
task_dir_at(struct task *t, int dfd, const char *name, mode_t mode)
{
	int fd, r = 0;

	if (mkdirat(dfd, name, mode) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && srv->root && t->uid != 0 &&
	    fchown(fd, t->uid, t->uid) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* Open a directory of the task's by path (the path above it is the
 * server's): fd or -errno. */
static int
task_dir_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/*
 * Make run/apps a directory of the task's again (before each launch: the
 * task ran in run/ before a pause and may have left a link or a file
 * there, which bwrap would follow when mounting it); 0 or -errno.
 */
static int
task_apps_dir(struct task *t)
{
	struct stat st;
	int dfd, r = 0;

	dfd = open(t->run_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fstatat(dfd, "apps", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(st.st_mode) && unlinkat(dfd, "apps", 0) < 0)
		r = -errno;
	if (r == 0 && mkdirat(dfd, "apps", 0700) < 0 && errno != EEXIST)
		r = -errno;
	if (r == 0 && srv->root && t->uid != 0 &&
	    fchownat(dfd, "apps", t->uid, t->uid, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	close(dfd);
	return r;
}

/* Make and open every parent directory of rel under dfd, one at a time
 * and never through a link: the fd of the last one (rel's last
 * component is at *name) or -errno. */
static int
task_mkdirs(struct task *t, int dfd, const char *rel, const char **name)
{
	char *copy = xstrdup(rel), *p = copy, *slash;
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0), next;

	if (fd < 0)
		fd = -errno;
	while (fd >= 0 && (slash = strchr(p, '/')) != NULL) {
		*slash = '\0';
		if (*p != '\0' && strcmp(p, ".") != 0) {
			next = task_dir_at(t, fd, p, 0700);
			close(fd);
			fd = next;
		}
		p = slash + 1;
	}
	*name = rel + (p - copy);
	free(copy);
	return fd;
}

/* Write file name under dfd (a directory of the task's), owned by the
 * task: whatever was there (a link, a FIFO) is replaced, never followed
 * or opened; 0 or -errno. */
static int
task_write_file(struct task *t, int dfd, const char *name, const char *content,
		mode_t mode)
{
	struct stat st;
	int fd, r = 0;

	mode &= 0700; /* the task's alone, whatever a module asks */
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	fd = openat(dfd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW |
			    O_NONBLOCK,
		    mode);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && write_all(fd, content, strlen(content)) < 0)
		r = -errno;
	if (r == 0 && srv->root && t->uid != 0 &&
	    fchown(fd, t->uid, t->uid) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Seed files ([{path, mode, content}], relative) into the home. */
static int
task_seed_files(struct task *t, json_t *files, char **cause)
{
	json_t *f;
	size_t i;
	int r, hfd = task_dir_open(t->home_dir), dfd;
	const char *name;

	if (hfd < 0) {
		*cause = xasprintf("cannot open '%s': %s", t->home_dir,
				   strerror(-hfd));
		return hfd;
	}
	json_array_foreach(files, i, f)
	{
		const char *rel = json_string_value(json_object_get(f, "path"));
		const char *content =
			json_string_value(json_object_get(f, "content"));
		json_int_t mode =
			json_integer_value(json_object_get(f, "mode"));

		if (rel == NULL || content == NULL || rel[0] == '/' ||
		    strstr(rel, "..") != NULL)
			continue;
		if ((dfd = task_mkdirs(t, hfd, rel, &name)) < 0)
			r = dfd;
		else if (t->resuming &&
			 faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			/* the agent's own changes since the first start win */
			r = 0;
		else
			r = task_write_file(t, dfd, name, content,
					    mode ? (mode_t)mode : 0600);
		if (dfd >= 0)
			close(dfd);
		if (r < 0) {
			*cause = xasprintf("cannot seed '%s/%s': %s",
					   t->home_dir, rel, strerror(-r));
			close(hfd);
			return r;
		}
	}
	close(hfd);
	return 0;
}

/* Does this launch run the template's setup script? A first start
 * does, a resume does not, a restart does when no agent ran before (the
 * setup never got through). */
static bool
task_runs_setup(struct task *t)
{
	const char *setup = json_string_value(json_object_get(
		json_object_get(t->tmpl, "workspace"), "setup"));

	return setup != NULL && *setup != '\0' &&
	       (!t->resuming || t->fresh_agent);
}

/* Write the setup script into run/ when this launch runs it (run/ is
 * the task's: never follow a link there); 0 or -errno with *cause. */
static int
task_write_setup(struct task *t, char **cause)
{
	int r, rfd;

	if (!task_runs_setup(t))
		return 0;
	if ((r = rfd = task_dir_open(t->run_dir)) >= 0) {
		r = task_write_file(
			t, rfd, "setup.sh",
			json_string_value(json_object_get(
				json_object_get(t->tmpl, "workspace"),
				"setup")),
			0700);
		close(rfd);
	}
	if (r < 0)
		*cause = xasprintf("cannot write the setup script: %s",
				   strerror(-r));
	return r;
}

/* Lay out the task's directories and seed the home. */
static int
task_prepare_dirs(struct task *t, char **cause)
{
	int r, pfd, dfd = -1, hfd = -1, fd = -1;

	/* the tasks directory is the server's; below, one level at a time */
	if ((r = pfd = open(srv->tasks_dir,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = -errno;
	else if ((r = dfd = task_dir_at(t, pfd, task_id(t), 0700)) >= 0 &&
		 (r = hfd = task_dir_at(t, dfd, "home", 0700)) >= 0 &&
		 (r = fd = task_dir_at(t, hfd, "workspace", 0700)) >= 0) {
		close(fd);
		if ((r = fd = task_dir_at(t, dfd, "run", 0700)) >= 0)
			close(fd);
	}
	if (pfd >= 0)
		close(pfd);
	if (dfd >= 0)
		close(dfd);
	if (hfd >= 0)
		close(hfd);
	if (r < 0) {
		*cause = xasprintf("cannot create the workspace directories "
				   "under '%s': %s",
				   t->dir, strerror(-r));
		return r;
	}
	if ((r = task_seed_files(t, json_object_get(t->launch, "files"),
				 cause)) < 0)
		return r;
	return task_write_setup(t, cause);
}

/* A strv builder. */
struct strv {
	char **v;
	size_t n;
};

static void PRINTFLIKE(2, 3) strv_addf(struct strv *s, const char *fmt, ...)
{
	va_list ap;

	s->v = xreallocarray(s->v, s->n + 2, sizeof *s->v);
	va_start(ap, fmt);
	s->v[s->n++] = xvasprintf(fmt, ap);
	va_end(ap);
	s->v[s->n] = NULL;
}

/* Set NAME=value in s, replacing an earlier NAME (its string wiped). */
static void
strv_setenv(struct strv *s, const char *name, const char *value)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < s->n; i++) {
		if (strncmp(s->v[i], name, len) == 0 && s->v[i][len] == '=') {
			explicit_bzero(s->v[i], strlen(s->v[i]));
			free(s->v[i]);
			s->v[i] = xasprintf("%s=%s", name, value);
			return;
		}
	}
	strv_addf(s, "%s=%s", name, value);
}

/* Free s; env entries may hold secrets, so every string is wiped. */
static void
strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		explicit_bzero(s->v[i], strlen(s->v[i]));
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* The port of an app URL http://127.0.0.1:PORT/... or 0. */
static long
app_port(const char *url)
{
	const char *p = strstr(url, "://");
	const char *colon;
	char digits[8];
	size_t n = 0;
	long v;

	if (p == NULL || (colon = strchr(p + 3, ':')) == NULL)
		return 0;
	for (colon++; *colon >= '0' && *colon <= '9' && n < 6; colon++)
		digits[n++] = *colon;
	digits[n] = '\0';
	return parse_long(digits, 1, 65535, &v) == 0 ? v : 0;
}

/* Build argv and env for the sandbox and start it. */
static void
task_launch_ws(struct task *t)
{
	struct strv argv = {0}, env = {0};
	json_t *ws_spec = json_object_get(t->tmpl, "workspace");
	json_t *v, *app;
	int64_t disk;
	const char *k;
	const char *owner =
		json_string_value(json_object_get(t->row, "owner_name"));
	struct ws_mount mounts[5];
	const char *hide[1] = {srv->data_dir};
	struct stat st;
	const char *inst_dir;
	struct ws_spec spec = {0};
	int pipefd[2], logfd;
	char *cause = NULL, *log_path, *path_env;
	json_t *id_env = NULL, *id_files = NULL; /* identity.c */
	char *apps_dir = xasprintf("%s/apps", t->run_dir);
	size_t i;
	int r;

	if (identity_prepare(
		    t->tmpl, task_owner_id(t),
		    json_string_value(json_object_get(t->version, "id")),
		    json_string_value(json_object_get(t->version, "name")),
		    &id_env, &id_files, &cause) < 0)
		goto fail;
	/* On resume the home is the agent's: it may hold links planted to
	 * steer a root server's mkdir/chmod/open. Nothing is re-seeded. */
	if (t->ready_io != NULL) { /* a resume: the last run's pipe */
		ev_io_del(t->ready_io);
		t->ready_io = NULL;
	}
	if (t->ready_fd >= 0) {
		close(t->ready_fd);
		t->ready_fd = -1;
	}
	buf_clear(&t->ready_buf);
	if (!t->resuming && (task_prepare_dirs(t, &cause) < 0 ||
			     task_seed_files(t, id_files, &cause) < 0))
		goto fail;
	/* from here the home is the agent's: a restart never seeds it */
	task_mark(t, &t->laid_out, "laid_out");
	if (t->resuming && task_write_setup(t, &cause) < 0)
		goto fail;
	if ((r = task_apps_dir(t)) < 0) {
		cause = xasprintf("cannot prepare '%s': %s", apps_dir,
				  strerror(-r));
		goto fail;
	}
	t->egress = egress_new(t->run_dir, ws_spec, task_by_admin(t),
			       task_name(t), srv->root ? t->uid : 0, &cause);
	if (t->egress == NULL)
		goto fail;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		cause = xasprintf("pipe: %s", strerror(errno));
		goto fail;
	}
	t->ready_fd = pipefd[0];
	fd_set_nonblock(t->ready_fd);
	t->ready_io =
		ev_io_add(srv->loop, t->ready_fd, EPOLLIN, task_on_ready, t);

	strv_addf(&argv, "%s", TASK_BIN);
	strv_addf(&argv, "agent");
	strv_addf(&argv, "--type=%s",
		  json_string_value(json_object_get(t->launch, "type"))
			  ?: "custom");
	strv_addf(&argv, "--socket=%s/agent.sock", TASK_RUN);
	strv_addf(&argv, "--state-file=%s/state.json", TASK_RUN);
	strv_addf(&argv, "--ready-fd=%d", pipefd[1]);
	strv_addf(&argv, "--chat-base-path=/@%s/%s/apps/chat/chat", owner,
		  task_name(t));
	strv_addf(&argv, "--forward=127.0.0.1:%d=%s/llm.sock", TASK_LLM_PORT,
		  TASK_RUN);
	strv_addf(&argv, "--forward=127.0.0.1:%d=%s/egress.sock",
		  TASK_PROXY_PORT, TASK_RUN);
	json_array_foreach(json_object_get(t->tmpl, "apps"), i, app)
	{
		long port = app_port(
			json_string_value(json_object_get(app, "url")) ?: "");

		if (port > 0)
			strv_addf(
				&argv, "--forward=%s/%s.sock=127.0.0.1:%ld",
				TASK_APPS,
				json_string_value(json_object_get(app, "slug")),
				port);
	}
	if (task_runs_setup(t)) {
		strv_addf(&argv, "--setup=%s/setup.sh", TASK_RUN);
		strv_addf(&argv, "--setup-log=%s/setup.log", TASK_RUN);
		strv_addf(&argv, "--setup-timeout=%lld",
			  (long long)(json_integer_value(json_object_get(
					      ws_spec, "setup_timeout_s"))
					      ?: 600));
	}
	if (!t->prompt_delivered) /* the server saw it typed: never twice */
		strv_addf(&argv, "--initial-prompt=%s",
			  json_string_value(json_object_get(t->row, "prompt")));
	strv_addf(&argv, "--");
	json_array_foreach(json_object_get(t->launch, "argv"), i, v)
		strv_addf(&argv, "%s", json_string_value(v));
	if (t->resuming && !t->fresh_agent) /* continue its own session */
		json_array_foreach(json_object_get(t->launch, "resume_args"), i,
				   v)
			strv_addf(&argv, "%s", json_string_value(v));

	path_env = xstrdup("");
	json_array_foreach(json_object_get(t->launch, "path"), i, v)
	{
		char *n = xasprintf("%s%s:", path_env, json_string_value(v));

		free(path_env);
		path_env = n;
	}
	strv_addf(&env, "PATH=%s/usr/local/bin:/usr/bin:/bin", path_env);
	free(path_env);
	strv_addf(&env, "HOME=%s", TASK_HOME);
	strv_addf(&env, "USER=agent");
	/* whatever system-wide git config a build of git looks for is the
	 * host's, never the workspace's */
	strv_addf(&env, "GIT_CONFIG_NOSYSTEM=1");
	strv_addf(&env, "GIT_ATTR_NOSYSTEM=1");
	strv_addf(&env, "LOGNAME=agent");
	strv_addf(&env, "SHELL=/bin/bash");
	strv_addf(&env, "TERM=xterm-256color");
	strv_addf(&env, "LANG=C.UTF-8");
	strv_addf(&env, "TASKBOX_TASK_ID=%s", task_id(t));
	strv_addf(&env, "TASKBOX_TASK_NAME=%s", task_name(t));
	strv_addf(&env, "HTTPS_PROXY=http://127.0.0.1:%d", TASK_PROXY_PORT);
	strv_addf(&env, "https_proxy=http://127.0.0.1:%d", TASK_PROXY_PORT);
	strv_addf(&env, "NO_PROXY=127.0.0.1,localhost");
	strv_addf(&env, "no_proxy=127.0.0.1,localhost");
	{
		/* sanitizer settings of a test build reach the runtime */
		static const char *const pass[] = {
			"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};

		for (i = 0; i < ARRAY_SIZE(pass); i++)
			if (getenv(pass[i]) != NULL)
				strv_addf(&env, "%s=%s", pass[i],
					  getenv(pass[i]));
	}
	json_object_foreach(json_object_get(t->launch, "env"), k, v)
		strv_addf(&env, "%s=%s", k, json_string_value(v));
	json_object_foreach(json_object_get(ws_spec, "env"), k, v)
		strv_addf(&env, "%s=%s", k, json_string_value(v));
	{
		/* parameter values: TASKBOX_PARAM_<NAME> (A-Z0-9_) */
		json_t *params = json_loads(
			json_string_value(json_object_get(t->row, "parameters"))
				?: "{}",
			0, NULL);

		json_object_foreach(params, k, v)
		{
			char name[80];
			size_t n = 0;
			char *val = json_is_string(v)
					    ? xstrdup(json_string_value(v))
					    : json_dumps(v, JSON_ENCODE_ANY);

			for (const char *c = k;
			     *c != '\0' && n + 1 < sizeof name; c++)
				name[n++] =
					(char)(isalnum((unsigned char)*c)
						       ? toupper((
								 unsigned char)*c)
						       : '_');
			name[n] = '\0';
			strv_addf(&env, "TASKBOX_PARAM_%s=%s", name,
				  val ? val : "");
			free(val);
		}
		json_decref(params);
	}
	/* identity.c: GITHUB_TOKEN, GH_TOKEN, env_secrets (win over all) */
	json_object_foreach(id_env, k, v)
		strv_setenv(&env, k, json_string_value(v));
	identity_env_free(id_env);
	id_env = NULL;

	mounts[0] = (struct ws_mount){t->home_dir, TASK_HOME, false};
	mounts[1] = (struct ws_mount){t->run_dir, TASK_RUN, false};
	mounts[2] = (struct ws_mount){apps_dir, TASK_APPS, false};
	mounts[3] = (struct ws_mount){srv->exe, TASK_BIN, true};
	/* the task's own agent install at the same path inside, read-only
	 * (the host's view would do, but not under a masked dir such as
	 * /tmp or /home); none of the other installs */
	inst_dir = json_string_value(
		json_object_get(json_object_get(t->launch, "install"), "dir"));
	mounts[4] = (struct ws_mount){inst_dir, inst_dir, true};
	log_path = xasprintf("%s/log", t->dir);
	logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	free(log_path);

	spec.id = task_id(t);
	spec.argv = argv.v;
	spec.env = env.v;
	spec.chdir = TASK_WORKDIR;
	spec.hostname = task_name(t);
	spec.user = "agent"; /* its own passwd entry; no host gitconfig */
	spec.home = TASK_HOME;
	spec.mounts = mounts;
	spec.n_mounts = ARRAY_SIZE(mounts);
	if (inst_dir == NULL || stat(inst_dir, &st) < 0 || !S_ISDIR(st.st_mode))
		spec.n_mounts--; /* a preinstalled agent (check) */
	spec.hide = hide;
	spec.n_hide = ARRAY_SIZE(hide);
	task_limits(t, &spec.limits, &disk);
	spec.uid = srv->root ? t->uid : 0;
	spec.gid = srv->root ? t->uid : 0;
	spec.keep_fds = &pipefd[1];
	spec.n_keep_fds = 1;
	spec.log_fd = logfd;
	spec.detach = true; /* survives a server crash; re-attached */
	/* other tasks' disk images (and the pool's) stay out of it */
	spec.mounts_dir = srv->data_dir;
	spec.keep_mount = t->dir;
	t->ws = srv->backend->start(srv->loop, &spec, task_on_ws_exit, t,
				    &cause);
	close(pipefd[1]);
	if (logfd >= 0)
		close(logfd);
	strv_free(&argv);
	strv_free(&env);
	json_decref(id_files);
	id_files = NULL;
	if (t->ws == NULL)
		goto fail;
	free(apps_dir);
	apps_dir = NULL;
	t->ws_ms = now_ms();
	{
		pid_t pid = ws_pid(t->ws);

		store_exec(
			srv->store,
			"UPDATE tasks SET ws_pid = ?, ws_starttime = ? WHERE "
			"id = ?",
			"iis", (int64_t)pid, proc_starttime(pid), task_id(t));
	}
	free(t->ws_warn);
	t->ws_warn = ws_warnings(t->ws) ? xstrdup(ws_warnings(t->ws)) : NULL;
	if (t->ws_warn != NULL)
		log_warn("task %s: %s", task_name(t), t->ws_warn);
	t->phase = PHASE_LAUNCHED;
	set_str(&t->ws_status, "running");
	task_set_state(t, "working",
		       t->resuming ? "Resuming workspace"
				   : "Starting workspace");
	task_set_status(t, "initializing", "");
	return;
fail:
	strv_free(&argv);
	strv_free(&env);
	identity_env_free(id_env);
	json_decref(id_files);
	free(apps_dir);
	task_fail(t, "%s", cause ? cause : "cannot start the workspace");
	free(cause);
}

/* Whether t gets a disk image (limit disk), noting in t->disk_warn when
 * its limit is not enforced: no mechanism here, or files made without an
 * image (a task older than the limit). */
static bool
task_disk_note(struct task *t, int64_t disk)
{
	char *img;
	bool have;

	free(t->disk_warn);
	t->disk_warn = NULL;
	if (disk <= 0)
		return false;
	if (srv->disk_off != NULL) {
		t->disk_warn =
			xasprintf("disk limit not enforced: %s", srv->disk_off);
		return false;
	}
	img = xasprintf("%s/%s.img", srv->disks_dir, task_id(t));
	have = access(img, F_OK) == 0;
	free(img);
	/* (t->dir alone may be the empty mount point of a failed disk) */
	if (!have && (t->laid_out || access(t->home_dir, F_OK) == 0)) {
		t->disk_warn = xstrdup("disk limit not enforced: the task's "
				       "files were made without a disk image");
		return false;
	}
	return true;
}

/* The disk child of task id finished: launch, or fail the task, or
 * finish its delete (which waited for the mount to be done). */
static void
task_on_disk(int err, const char *cause, void *data)
{
	char *id = data;
	struct task *t = task_find_id(id);

	free(id);
	if (t == NULL)
		return;
	t->disk_busy = false;
	log_debug("task %s: disk ready %llu ms after the request", task_name(t),
		  (unsigned long long)(now_ms() - t->accepted_ms));
	if (t->deleting) {
		task_finish_delete(t);
		return;
	}
	if (err < 0) {
		log_warn("task %s: disk: %s", task_name(t), cause);
		task_fail(t, "cannot prepare the workspace's disk: %s", cause);
		return;
	}
	task_launch_ws(t);
}

/* Mount t's disk image (made at its first start) in a child, then start
 * the sandbox; without an image, start it at once. */
static void
task_launch(struct task *t)
{
	struct ws_limits l;
	int64_t disk;
	char *img, *id, *from = NULL, *cause = NULL;
	int r;

	task_limits(t, &l, &disk);
	if (!task_disk_note(t, disk)) {
		if (t->disk_warn != NULL)
			log_warn("task %s: %s", task_name(t), t->disk_warn);
		task_launch_ws(t);
		return;
	}
	img = xasprintf("%s/%s.img", srv->disks_dir, task_id(t));
	/* a new task takes a ready-made image when one of its size is
	 * there (a rename); else the child makes it */
	if (access(img, F_OK) < 0 && disk_pool_take(img, disk, &from) == 0)
		log_debug("task %s: disk from the pool", task_name(t));
	id = xstrdup(task_id(t));
	r = disk_mount(srv->loop, img, t->dir, disk, srv->root ? t->uid : 0,
		       from, task_on_disk, id, &cause);
	free(img);
	free(from);
	if (r < 0) {
		free(id);
		task_fail(t, "cannot prepare the workspace's disk: %s", cause);
		free(cause);
		return;
	}
	t->disk_busy = true;
	t->phase = PHASE_DISK;
}

/* ---- installing agents ------------------------------------------------- */

/* install.c's answer for a waiting task: launch it, or fail with why. */
static void
task_on_installed(const char *id, const char *cause)
{
	struct task *t = task_find_id(id);

	if (t == NULL || t->deleting || t->phase != PHASE_INSTALL)
		return;
	if (cause != NULL) {
		task_fail(t, "installing the agent failed: %s", cause);
		return;
	}
	task_launch(t);
}

/* Install the module's agent (or wait for the install under way), then
 * launch t. */
static void
task_install(struct task *t, json_t *install)
{
	t->phase = PHASE_INSTALL;
	task_set_state(t, "working", "Installing the agent");
	task_set_status(t, "initializing", "");
	install_start(install, task_id(t), task_on_installed);
}

/* ---- starting ----------------------------------------------------------- */

/* Install the agent when its binary is missing, then launch t. */
static void
task_install_or_launch(struct task *t)
{
	json_t *install = json_object_get(t->launch, "install");

	if (json_is_object(install) && !install_present(install))
		task_install(t, install);
	else
		task_launch(t);
}

/* Does the rendered launch (env values, seeded files) mention s? */
static bool
launch_uses(json_t *launch, const char *s)
{
	json_t *v;
	const char *k;
	size_t i;

	json_object_foreach(json_object_get(launch, "env"), k,
			    v) if (strstr(json_string_value(v) ?: "", s) !=
				   NULL) return true;
	json_array_foreach(
		json_object_get(launch, "files"), i,
		v) if (strstr(json_string_value(json_object_get(v, "content"))
				      ?: "",
			      s) != NULL) return true;
	return false;
}

/* The LLM pass-through's URL inside a workspace, into buf. */
static const char *
task_llm_url(char buf[64])
{
	snprintf(buf, 64, "http://127.0.0.1:%d", TASK_LLM_PORT);
	return buf;
}

/* module_render for a workspace of task_id ("" for a pre-check): new
 * launch object, or NULL with *errors. */
static json_t *
task_module_render(json_t *module, json_t *tmpl, const char *task_id,
		   json_t **errors)
{
	struct module_ctx ctx = {0};
	char llm_url[64], proxy_url[64];

	snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d",
		 TASK_PROXY_PORT);
	ctx.home = TASK_HOME;
	ctx.workdir = TASK_WORKDIR;
	ctx.taskbox = TASK_BIN;
	ctx.llm_url = task_llm_url(llm_url);
	ctx.proxy_url = proxy_url;
	ctx.tools_dir = srv->tools_dir;
	ctx.task_id = task_id;
	return module_render(module, tmpl, &ctx, errors);
}

int
task_precheck(json_t *version, json_t *module, const char *owner_id,
	      char **cause)
{
	json_t *tmpl = json_object_get(version, "spec_json");
	const char *name = json_string_value(json_object_get(version, "name"));
	const char *module_name = json_string_value(
		json_object_get(json_object_get(tmpl, "agent"), "module"));
	json_t *launch, *errors = NULL, *env = NULL, *files = NULL;
	char llm_url[64];
	bool needs_llm;

	if (task_sweep_pending(owner_id, json_string_value(json_object_get(
						 version, "id")))) {
		*cause = xasprintf("the %s is being deleted",
				   task_sweep_pending(owner_id, NULL)
					   ? "user"
					   : "template");
		return 409;
	}
	if (module == NULL) {
		*cause = xasprintf("template '%s' uses agent module '%s', "
				   "which does not exist (taskbox module "
				   "list)",
				   name, module_name ? module_name : "");
		return 400;
	}
	launch = task_module_render(module, tmpl, "", &errors);
	if (launch == NULL) {
		*cause = xasprintf(
			"the agent module '%s' cannot run template '%s': %s",
			module_name, name,
			json_string_value(json_object_get(
				json_array_get(errors, 0), "message"))
				?: "invalid options");
		json_decref(errors);
		return 400;
	}
	needs_llm = launch_uses(launch, task_llm_url(llm_url));
	json_decref(launch);
	if (needs_llm && srv->llm_url == NULL) {
		*cause = xasprintf("template '%s' runs an agent that needs an "
				   "LLM endpoint and this server has none: "
				   "start it with --llm-url URL (and "
				   "--llm-key-file FILE)",
				   name);
		return 400;
	}
	/* the secrets the workspace start will decrypt: there and open */
	if (identity_prepare(tmpl, owner_id,
			     json_string_value(json_object_get(version, "id")),
			     name, &env, &files, cause) < 0)
		return 400;
	identity_env_free(env);
	json_decref(files);
	return 0;
}

/* A live task object for row, not started (phase pending). */
static struct task *
task_new(json_t *row)
{
	struct task *t = xcalloc(1, sizeof *t);

	t->row = json_incref(row);
	t->ready_fd = -1;
	t->runtime_pidfd = -1;
	t->runtime_exit = -1;
	t->status = xstrdup("pending");
	t->reason = xstrdup("");
	t->ws_status = xstrdup("pending");
	t->lifecycle = xstrdup("created");
	t->queue = tqueue_new();
	buf_init(&t->ready_buf, 4096);
	ev_timer_init(&t->retry, task_on_retry, t);
	ev_timer_init(&t->stop_timer, task_on_stop_timeout, t);
	ev_timer_init(&t->idle_timer, task_on_idle_timeout, t);
	t->dir = xasprintf("%s/%s", srv->tasks_dir, task_id(t));
	t->run_dir = xasprintf("%s/run", t->dir);
	t->home_dir = xasprintf("%s/home", t->dir);
	t->laid_out = json_integer_value(json_object_get(row, "laid_out"));
	t->prompt_delivered =
		json_integer_value(json_object_get(row, "prompt_delivered"));
	t->agent_started =
		json_integer_value(json_object_get(row, "agent_started"));
	t->runtime_sock = xasprintf("%s/agent.sock", t->run_dir);
	t->uid = srv->task_uid_base +
		 (uid_t)(json_integer_value(json_object_get(row, "seq")) %
			 50000);
	t->next = srv->tasks;
	srv->tasks = t;
	return t;
}

struct task *
task_start(json_t *row, json_t *tmpl_version, json_t *module_spec,
	   uint64_t accepted_ms)
{
	struct task *t = task_new(row);
	struct module_ctx ctx = {0};
	json_t *errors = NULL;
	char *llm_url = xasprintf("http://127.0.0.1:%d", TASK_LLM_PORT);
	char *proxy_url = xasprintf("http://127.0.0.1:%d", TASK_PROXY_PORT);

	t->version = json_incref(tmpl_version);
	t->tmpl = json_incref(json_object_get(tmpl_version, "spec_json"));
	t->accepted_ms = accepted_ms;

	ctx.home = TASK_HOME;
	ctx.workdir = TASK_WORKDIR;
	ctx.taskbox = TASK_BIN;
	ctx.llm_url = llm_url;
	ctx.proxy_url = proxy_url;
	ctx.tools_dir = srv->tools_dir;
	ctx.task_id = task_id(t);
	t->launch = module_render(module_spec, t->tmpl, &ctx, &errors);
	task_set_state(t, "working", "Preparing workspace");
	if (t->launch == NULL) {
		json_t *first = json_array_get(errors, 0);

		task_fail(t, "the agent module cannot run this template: %s",
			  json_string_value(json_object_get(first, "message"))
				  ?: "invalid options");
		json_decref(errors);
		goto out;
	}
	if (srv->llm_url == NULL && launch_uses(t->launch, ctx.llm_url)) {
		task_fail(t, "the agent needs an LLM endpoint and this server "
			     "has none: start it with --llm-url URL (and "
			     "--llm-key-file FILE)");
		goto out;
	}
	task_install_or_launch(t);
out:
	free(llm_url);
	free(proxy_url);
	return t;
}

/* ---- logs ------------------------------------------------------------- */

/* Turn AgentAPI messages into the Tasks logs shape (new reference). */
static json_t *
task_logs_from(json_t *messages, bool snapshot, const char *snapshot_at)
{
	json_t *logs = json_array(), *m;
	size_t i;

	json_array_foreach(messages, i, m)
	{
		const char *role =
			json_string_value(json_object_get(m, "role"));
		json_t *content = json_object_get(m, "content");

		if (content == NULL)
			content = json_object_get(m, "message");
		if (role != NULL && strcmp(role, "agent") == 0 &&
		    json_string_length(content) == 0)
			continue; /* a screen with nothing said yet */
		json_array_append_new(
			logs,
			json_pack("{s:O, s:O, s:s, s:O}", "id",
				  json_object_get(m, "id"), "content",
				  content ? content : json_string(""), "type",
				  role && strcmp(role, "user") == 0 ? "input"
								    : "output",
				  "time", json_object_get(m, "time")));
	}
	return json_pack("{s:o, s:I, s:b, s:s?}", "logs", logs, "count",
			 (json_int_t)json_array_size(logs), "snapshot",
			 snapshot, "snapshot_at", snapshot_at);
}

struct task_call {
	struct http_req *req;
	char *id;
};

static void
task_on_messages(int status, json_t *reply, int err, void *data)
{
	struct task_call *c = data;

	if (err < 0 || status != 200 || reply == NULL)
		http_reply_problem(c->req, 502,
				   "the agent runtime did not answer (%s)",
				   err < 0 ? strerror(-err) : "bad reply");
	else
		http_reply_json(
			c->req, 200,
			task_logs_from(json_object_get(reply, "messages"),
				       false, NULL));
	free(c->id);
	free(c);
}

void
task_logs(struct task *t, struct http_req *req)
{
	const char *sock = task_runtime_socket(t);
	struct task_call *c;

	if (sock == NULL) {
		/* not running: the runtime's state file is the snapshot */
		char *path = xasprintf("%s/state.json", t->run_dir);
		int fd = task_open_file(path);
		json_t *st = NULL;
		struct stat sb;
		char stamp[32] = "";

		/* written by the runtime inside: bounded, regular file only */
		if (fd >= 0 && fstat(fd, &sb) == 0 &&
		    sb.st_size <= TASK_STATE_MAX) {
			st = json_loadfd(fd, 0, NULL);
			time_rfc3339((uint64_t)sb.st_mtime * 1000, stamp);
		}
		if (fd >= 0)
			close(fd);
		free(path);
		if (st == NULL && (strcmp(t->status, "pending") == 0 ||
				   strcmp(t->status, "initializing") == 0)) {
			http_reply_json(req, 200,
					task_logs_from(NULL, true, NULL));
			return;
		}
		if (st == NULL) {
			http_reply_problem(req, 409,
					   "the task is %s and kept no "
					   "transcript",
					   t->status);
			return;
		}
		http_reply_json(req, 200,
				task_logs_from(json_object_get(st, "messages"),
					       true, stamp));
		json_decref(st);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->req = req;
	c->id = xstrdup(task_id(t));
	http_req_defer(req);
	hclient_json(srv->loop, sock, "GET", "/messages", NULL, task_peer_ok, t,
		     task_on_messages, c);
}

/* ---- server start and stop ---------------------------------------------- */

char *
task_app_socket(struct task *t, const char *slug)
{
	json_t *app;
	size_t i;

	if (t->phase < PHASE_LISTENING || t->phase >= PHASE_EXITED)
		return NULL;
	json_array_foreach(json_object_get(t->tmpl, "apps"), i, app)
	{
		const char *s = json_string_value(json_object_get(app, "slug"));

		if (s != NULL && strcmp(s, slug) == 0)
			return xasprintf("%s/apps/%s.sock", t->run_dir, slug);
	}
	return NULL;
}

const char *
task_app_base_path(struct task *t, const char *slug)
{
	json_t *app;
	size_t i;

	json_array_foreach(json_object_get(t->tmpl, "apps"), i, app)
	{
		const char *s = json_string_value(json_object_get(app, "slug"));
		const char *url =
			json_string_value(json_object_get(app, "url"));
		const char *p;

		if (s == NULL || strcmp(s, slug) != 0 || url == NULL)
			continue;
		p = strstr(url, "://");
		p = p ? strchr(p + 3, '/') : NULL;
		return p ? p : "/";
	}
	return "/";
}

/* ---- pause, resume, input, history ------------------------------------ */

/* A new pidfd of t's runtime (the pinned one, duplicated), or -1. */
static int
task_runtime_pidfd(struct task *t)
{
	if (task_pin_runtime(t) < 0)
		return -1;
	return fcntl(t->runtime_pidfd, F_DUPFD_CLOEXEC, 0);
}

static void
task_on_stop_timeout(void *data)
{
	struct task *t = data;

	log_warn("task %s: the runtime did not stop in time: killing the "
		 "workspace",
		 task_name(t));
	if (t->ws != NULL && t->phase != PHASE_EXITED)
		ws_kill(t->ws);
}

/* Stop t's workspace so that the runtime saves its state first. */
static void
task_stop_gracefully(struct task *t)
{
	int pidfd = task_runtime_pidfd(t);
	int sent = -1;

	t->pausing = true;
	set_str(&t->ws_status, "stopping");
	task_set_state(t,
		       json_string_value(json_object_get(t->state, "state"))
			       ?: "working",
		       "Pausing");
	if (pidfd >= 0) {
		sent = (int)syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL,
				    0);
		close(pidfd);
	}
	if (sent == 0) {
		/* the runtime saves its state file and stops the agent */
		ev_timer_start(srv->loop, &t->stop_timer,
			       now_ms() + TASK_STOP_GRACE_MS);
		return;
	}
	ws_kill(t->ws);
}

/* The workspace of a pausing task is gone. */
static void
task_finish_pause(struct task *t)
{
	struct http_req *req = t->pause_req;

	t->pausing = false;
	t->pause_req = NULL;
	const char *before =
		json_string_value(json_object_get(t->state, "state"));
	bool was_idle = before != NULL && strcmp(before, "idle") == 0;

	set_str(&t->ws_status, "stopped");
	/* the status first: a client never sees "active idle Paused", which
	 * reads as the end of a turn */
	task_set_status(t, "paused", "");
	task_set_state(t, "idle", "Paused");
	if (was_idle) {
		/* a pause (asked for or after the idle timeout) is news too;
		 * from another state the change itself was notified */
		const char *hook = json_string_value(json_object_get(
			json_object_get(t->tmpl, "workspace"), "webhook"));

		task_notify(t, hook, "idle");
	}
	if (req != NULL)
		http_reply_json(req, 200, task_json(t));
	if (t->ws != NULL) {
		ws_free(t->ws);
		t->ws = NULL;
	}
	egress_free(t->egress);
	t->egress = NULL;
}

void
task_pause(struct task *t, struct http_req *req)
{
	if (t->pausing || t->deleting) {
		http_reply_problem(req, 409, "the task is already stopping");
		return;
	}
	if (t->ws == NULL || t->phase == PHASE_EXITED ||
	    (strcmp(t->status, "active") != 0 &&
	     strcmp(t->status, "initializing") != 0)) {
		http_reply_problem(req, 409,
				   "the task is %s: only an active or "
				   "initializing task can be paused",
				   t->status);
		return;
	}
	t->pause_req = req;
	http_req_defer(req);
	task_stop_gracefully(t);
}

/* Render the module for t again (resume, restart); false after failing
 * the task. */
static bool
task_render(struct task *t)
{
	const char *module_name = json_string_value(
		json_object_get(json_object_get(t->tmpl, "agent"), "module"));
	json_t *module = module_name ? catalog_module_spec(module_name) : NULL;
	json_t *errors = NULL;

	if (module == NULL) {
		task_fail(t, "the agent module '%s' no longer exists",
			  module_name ? module_name : "");
		return false;
	}
	json_decref(t->launch);
	t->launch = task_module_render(module, t->tmpl, task_id(t), &errors);
	json_decref(module);
	if (t->launch == NULL) {
		task_fail(t, "the agent module cannot run this template: %s",
			  json_string_value(json_object_get(
				  json_array_get(errors, 0), "message"))
				  ?: "invalid options");
		json_decref(errors);
		return false;
	}
	return true;
}

/* Start a stopped task's workspace again (resume, restart): the files,
 * home and state file of the last run are kept. */
static void
task_relaunch(struct task *t)
{
	t->accepted_ms = now_ms();
	t->agent_ms = 0;
	t->ws_ms = 0;
	t->runtime_exit = -1;
	t->retries = 0;
	t->phase = PHASE_PENDING;
	set_str(&t->last_agent_message, "");
	if (task_render(t))
		task_install_or_launch(t);
}

void
task_resume(struct task *t, struct http_req *req)
{
	char *why = NULL;
	int code;

	if (srv->stopping) {
		http_reply_problem(req, 503, "the server is shutting down");
		return;
	}
	if (strcmp(t->status, "paused") != 0 || t->ws != NULL) {
		http_reply_problem(req, 409,
				   "the task is %s: only a paused task can be "
				   "resumed",
				   t->status);
		return;
	}
	/* a paused task does not count as running: resuming it must fit */
	if ((code = task_admit(task_owner_id(t), true, &why)) != 0) {
		http_reply_problem(req, (unsigned)code, "%s", why);
		free(why);
		return;
	}
	t->resuming = true;
	t->fresh_agent = !t->agent_started;
	task_relaunch(t);
	http_reply_json(req, 202, task_json(t));
}

/* May t restart now: its status, the owner's running tasks, the
 * pre-checks? 0, or the status to answer with *why (a new string). */
static int
task_may_restart(struct task *t, char **why)
{
	const char *module_name = json_string_value(
		json_object_get(json_object_get(t->tmpl, "agent"), "module"));
	json_t *module;
	int code;

	if (srv->stopping) {
		*why = xstrdup("the server is shutting down");
		return 503;
	}
	if (t->deleting) {
		*why = xstrdup("the task is being deleted");
		return 409;
	}
	if (strcmp(t->status, "error") != 0 &&
	    strcmp(t->status, "unknown") != 0) {
		*why = xasprintf("the task is %s: only a task in error or "
				 "unknown status can be restarted%s",
				 t->status,
				 strcmp(t->status, "paused") == 0
					 ? " (resume a paused task)"
					 : "");
		return 409;
	}
	if (t->disk_busy || (t->ws != NULL && t->phase != PHASE_EXITED)) {
		*why = xstrdup("the task's workspace is still stopping: try "
			       "again in a moment");
		return 409;
	}
	if ((code = task_admit(task_owner_id(t), true, why)) != 0)
		return code;
	/* what made the first start fail before anything ran may still be
	 * true: say so and leave the task as it is */
	module = module_name ? catalog_module_spec(module_name) : NULL;
	code = task_precheck(t->version, module, task_owner_id(t), why);
	json_decref(module);
	return code;
}

/* nftw: remove one entry of a task directory no task code ever ran in. */
static int
task_clear_entry(const char *path, const struct stat *st UNUSED, int flag,
		 struct FTW *ftw UNUSED)
{
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 &&
	    errno != ENOENT)
		log_warn("cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* Restarting a task whose home was never laid out (its first start
 * failed before that, the disk's child perhaps half-way): what is left
 * (a half-made image, an empty mount point, server-made directories)
 * goes, so that the start is a first start again, with its disk. */
static void
task_clear_unlaid(struct task *t)
{
	char *img = xasprintf("%s/%s.img", srv->disks_dir, task_id(t));

	if (srv->root && umount2(t->dir, MNT_DETACH) < 0 && errno != EINVAL &&
	    errno != ENOENT)
		log_warn("task %s: cannot unmount '%s': %s", task_name(t),
			 t->dir, strerror(errno));
	if (unlink(img) < 0 && errno != ENOENT)
		log_warn("task %s: cannot remove '%s': %s", task_name(t), img,
			 strerror(errno));
	(void)nftw(t->dir, task_clear_entry, 16,
		   FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	free(img);
}

void
task_restart(struct task *t, struct http_req *req)
{
	char *why = NULL;
	int code;

	if ((code = task_may_restart(t, &why)) != 0) {
		http_reply_problem(req, (unsigned)code, "%s", why);
		free(why);
		return;
	}
	/* the last run's workspace is gone; its egress sockets too */
	if (t->ws != NULL) {
		ws_free(t->ws);
		t->ws = NULL;
	}
	egress_free(t->egress);
	t->egress = NULL;
	/* a home laid out by an earlier run is the agent's now: kept, never
	 * re-seeded (as on resume); when no agent ran the setup script runs
	 * again and there is no session to continue; a delivered prompt is
	 * not sent again. All three from what the server recorded, never
	 * from the task's files (nor from whether its disk is mounted). */
	t->resuming = t->laid_out;
	t->fresh_agent = !t->agent_started;
	if (!t->laid_out)
		task_clear_unlaid(t);
	free(t->report_summary);
	t->report_summary = NULL;
	set_str(&t->report_uri, "");
	log_info("task %s: restarting (%s)", task_name(t),
		 !t->resuming	  ? "first start again"
		 : t->fresh_agent ? "setup again"
				  : "continuing the session");
	set_str(&t->ws_status, "pending");
	task_set_state(t, "working", "Preparing workspace");
	task_set_status(t, "pending", "");
	task_relaunch(t);
	http_reply_json(req, 202, task_json(t));
}

void
task_set_input(struct task *t, struct http_req *req, const char *input)
{
	if (strcmp(t->status, "paused") != 0) {
		http_reply_problem(req, 409,
				   "the task is %s: the prompt can only be "
				   "edited while it is paused",
				   t->status);
		return;
	}
	if (store_exec(srv->store,
		       "UPDATE tasks SET prompt = ?, updated_at = ? WHERE id "
		       "= ?",
		       "sis", input, (int64_t)wall_ms(), task_id(t)) < 0) {
		http_reply_problem(req, 500, "cannot store the prompt");
		return;
	}
	json_object_set_new(t->row, "prompt", json_string(input));
	http_reply(req, 204, NULL, "", 0);
}

void
task_states(struct task *t, struct http_req *req)
{
	json_t *rows = store_rows(srv->store, NULL,
				  "SELECT state, message, uri, created_at FROM "
				  "task_states WHERE task_id = ? ORDER BY id",
				  "s", task_id(t));
	json_t *out = json_array(), *row;
	size_t i;

	json_array_foreach(rows, i, row)
	{
		char stamp[32];

		time_rfc3339((uint64_t)json_integer_value(
				     json_object_get(row, "created_at")),
			     stamp);
		json_array_append_new(
			out, json_pack("{s:O, s:O, s:O, s:s}", "state",
				       json_object_get(row, "state"), "message",
				       json_object_get(row, "message"), "uri",
				       json_object_get(row, "uri"), "timestamp",
				       stamp));
	}
	json_decref(rows);
	http_reply_json(req, 200,
			json_pack("{s:o, s:I}", "states", out, "count",
				  (json_int_t)json_array_size(out)));
}

/* ---- server restart and shutdown ------------------------------------------
 */

/* Re-attach to t's workspace that a crashed server left running; false
 * when it is gone. */
static bool
task_reattach(struct task *t, const json_t *row)
{
	pid_t pid = (pid_t)json_integer_value(json_object_get(row, "ws_pid"));
	int64_t start =
		json_integer_value(json_object_get(row, "ws_starttime"));
	struct ws_limits lim;
	int64_t disk;
	char *cause = NULL;

	if (pid <= 0 || start == 0 || proc_starttime(pid) != start)
		return false;
	task_limits(t, &lim, &disk);
	task_disk_note(t, disk);
	t->ws = srv->backend->attach(srv->loop, task_id(t), pid, &lim,
				     task_on_ws_exit, t, &cause);
	if (t->ws == NULL) {
		log_warn("task %s: %s", task_name(t), cause);
		free(cause);
		return false;
	}
	t->egress = egress_new(
		t->run_dir, json_object_get(t->tmpl, "workspace"),
		task_by_admin(t), task_name(t), srv->root ? t->uid : 0, &cause);
	if (t->egress == NULL) {
		log_warn("task %s: %s", task_name(t), cause);
		free(cause);
	}
	/* the runtime was serving when we went away: talk to it again */
	t->phase = PHASE_AGENT;
	set_str(&t->ws_status, "running");
	set_str(&t->lifecycle, "ready");
	task_events_connect(t);
	log_info("task %s: re-attached to its running workspace (pid %d)",
		 task_name(t), (int)pid);
	return true;
}

/* Images no live task owns (its delete was cut short by a crash):
 * unmount and remove them with their directories. */
static void
task_recover_disks(void)
{
	DIR *d = opendir(srv->disks_dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char *id;

		if (n <= 4 || strcmp(e->d_name + n - 4, ".img") != 0)
			continue;
		id = xstrndup(e->d_name, n - 4);
		if (task_find_id(id) == NULL && strchr(id, '/') == NULL) {
			log_info("removing the disk image of deleted task %s",
				 id);
			task_remove_files(id);
		}
		free(id);
	}
	closedir(d);
}

void
task_recover_all(void)
{
	json_t *rows, *row;
	size_t i;

	tqueue_recover();
	rows = store_rows(srv->store, NULL,
			  "SELECT t.*, u.username AS owner_name FROM tasks t "
			  "JOIN users u ON u.id = t.owner_id WHERE "
			  "t.deleted_at IS NULL ORDER BY t.seq",
			  "");
	json_array_foreach(rows, i, row)
	{
		struct task *t = task_new(row);
		json_t *last;
		const char *status =
			json_string_value(json_object_get(row, "status"));
		bool live = strcmp(status, "active") == 0 ||
			    strcmp(status, "initializing") == 0 ||
			    strcmp(status, "pending") == 0;

		t->version = catalog_version_get(json_string_value(
			json_object_get(row, "template_version_id")));
		t->tmpl = json_incref(json_object_get(t->version, "spec_json"));
		t->phase = PHASE_EXITED;
		set_str(&t->status, status);
		set_str(&t->reason, json_string_value(json_object_get(
					    row, "status_reason")));
		set_str(&t->ws_status, json_string_value(json_object_get(
					       row, "workspace_status")));
		set_str(&t->lifecycle, "off");
		last = store_row(srv->store,
				 "SELECT state, message, uri, created_at FROM "
				 "task_states WHERE task_id = ? ORDER BY id "
				 "DESC LIMIT 1",
				 "s", task_id(t));
		if (last != NULL) {
			char stamp[32];

			time_rfc3339(
				(uint64_t)json_integer_value(
					json_object_get(last, "created_at")),
				stamp);
			t->state = json_pack(
				"{s:O, s:O, s:O, s:s}", "state",
				json_object_get(last, "state"), "message",
				json_object_get(last, "message"), "uri",
				json_object_get(last, "uri"), "timestamp",
				stamp);
			json_decref(last);
		}
		if (!live) {
			struct ws_limits l;
			int64_t disk;

			task_limits(t, &l, &disk);
			(void)task_disk_note(t, disk);
		}
		if (live && !task_reattach(t, row)) {
			set_str(&t->ws_status, "stopped");
			task_set_state(t, "failure",
				       "The workspace stopped while the server "
				       "was down");
			task_set_status(t, "error",
					"the workspace stopped while the "
					"server was down");
		}
	}
	json_decref(rows);
	task_recover_disks();
}

int
task_shutdown_all(void)
{
	int n = 0;

	for (struct task *t = srv->tasks; t != NULL; t = t->next) {
		if (t->ws == NULL || t->phase == PHASE_EXITED)
			continue;
		n++;
		if (!t->pausing && !t->deleting)
			task_stop_gracefully(t);
	}
	return n;
}

/* ---- idle timeout and webhooks ------------------------------------------ */

static void
task_on_idle_timeout(void *data)
{
	struct task *t = data;
	const char *state =
		json_string_value(json_object_get(t->state, "state"));

	if (t->ws == NULL || t->phase == PHASE_EXITED || t->pausing ||
	    t->deleting || strcmp(t->status, "active") != 0 || state == NULL ||
	    (strcmp(state, "idle") != 0 && strcmp(state, "waiting") != 0))
		return;
	log_info("task %s: idle for %lld s: pausing", task_name(t),
		 (long long)json_integer_value(
			 json_object_get(json_object_get(t->tmpl, "workspace"),
					 "idle_timeout_s")));
	task_stop_gracefully(t);
}

/* A running `taskbox webhook-post`. */
struct webhook_child {
	pid_t pid;
	int pidfd;
	struct ev_io *io;
	char *task_id;
};

static unsigned webhook_children;
#define WEBHOOK_CHILDREN_MAX 64

/* A sender finished: reap it, send what waited meanwhile. */
static void
webhook_on_exit(struct ev_io *io UNUSED, uint32_t events UNUSED, void *data)
{
	struct webhook_child *w = data;
	struct task *t = task_find_id(w->task_id);

	waitpid(w->pid, NULL, 0);
	ev_io_del(w->io);
	close(w->pidfd);
	webhook_children--;
	if (t != NULL) {
		t->webhooks--;
		if (t->webhook_pending && t->webhooks == 0 &&
		    t->state != NULL) {
			t->webhook_pending = false;
			task_notify(
				t,
				json_string_value(json_object_get(
					json_object_get(t->tmpl, "workspace"),
					"webhook")),
				NULL);
		}
	}
	free(w->task_id);
	free(w);
}

/* POST the state change to a webhook, from a child; private_ok lets it
 * reach private ranges (an admin's webhook). */
static void
task_webhook(struct task *t, const char *url, const char *previous,
	     bool private_ok)
{
	char *argv[] = {srv->exe, "webhook-post",
			private_ok ? "--private-ok" : (char *)url,
			private_ok ? (char *)url : NULL, NULL};
	json_t *payload;
	char *text, *link;
	int in[2];
	struct webhook_child *w;
	posix_spawn_file_actions_t fa;

	if (t->webhooks >= TASK_WEBHOOKS_MAX ||
	    webhook_children >= WEBHOOK_CHILDREN_MAX) {
		/* senders still busy (a slow receiver, a flapping agent):
		 * the latest state goes out when one finishes */
		t->webhook_pending = true;
		return;
	}
	link = xasprintf(
		"%s/@%s/%s/apps/chat/", srv->url ? srv->url : "",
		json_string_value(json_object_get(t->row, "owner_name")),
		task_name(t));
	payload = json_pack("{s:s, s:{s:s, s:s, s:O, s:s}, s:O, s:s?, s:s}",
			    "event", "task.state", "task", "id", task_id(t),
			    "name", task_name(t), "owner",
			    json_object_get(t->row, "owner_name"), "status",
			    t->status, "state", t->state, "previous_state",
			    previous, "link", link);
	text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	free(link);
	if (text == NULL || pipe2(in, O_CLOEXEC) < 0) {
		free(text);
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->task_id = xstrdup(task_id(t));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	if (posix_spawn(&w->pid, srv->exe, &fa, NULL, argv, environ) != 0) {
		log_warn("task %s: cannot run the webhook sender: %s",
			 task_name(t), strerror(errno));
		free(w->task_id);
		free(w);
	} else {
		w->pidfd = (int)syscall(SYS_pidfd_open, w->pid, 0);
		if (w->pidfd < 0)
			fatal("pidfd_open: %s", strerror(errno));
		w->io = ev_io_add(srv->loop, w->pidfd, EPOLLIN, webhook_on_exit,
				  w);
		t->webhooks++;
		webhook_children++;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	/* the payload is far below the pipe's buffer: never blocks */
	if (write_all(in[1], text, strlen(text)) < 0)
		log_warn("task %s: webhook payload: %s", task_name(t),
			 strerror(errno));
	close(in[1]);
	free(text);
}

/* Send the change to the template's webhook and the owner's. */
static void
task_notify(struct task *t, const char *tmpl_hook, const char *previous)
{
	json_t *owner = store_row(
		srv->store, "SELECT webhook_url, role FROM users WHERE id = ?",
		"s", task_owner_id(t));
	const char *user_hook =
		json_string_value(json_object_get(owner, "webhook_url"));

	if (tmpl_hook != NULL)
		task_webhook(t, tmpl_hook, previous, task_by_admin(t));
	if (user_hook != NULL && *user_hook != '\0' &&
	    (tmpl_hook == NULL || strcmp(user_hook, tmpl_hook) != 0))
		task_webhook(t, user_hook, previous, auth_is_admin(owner));
	json_decref(owner);
}

/* current_state changed from previous (NULL: the first one). */
static void
task_state_changed(struct task *t, const char *previous)
{
	json_t *ws = json_object_get(t->tmpl, "workspace");
	const char *state =
		json_string_value(json_object_get(t->state, "state"));
	json_int_t idle =
		json_integer_value(json_object_get(ws, "idle_timeout_s"));
	const char *hook = json_string_value(json_object_get(ws, "webhook"));
	bool resting =
		strcmp(state, "idle") == 0 || strcmp(state, "waiting") == 0;

	if (previous != NULL && strcmp(previous, state) == 0)
		return; /* a new message only */
	/* working pushes the idle timeout back; resting starts it */
	if (!resting)
		ev_timer_stop(srv->loop, &t->idle_timer);
	else if (idle > 0)
		ev_timer_start(srv->loop, &t->idle_timer,
			       now_ms() + (uint64_t)idle * 1000);
	/* notify on working -> idle, waiting, complete, failure */
	if (previous != NULL && strcmp(state, "working") != 0)
		task_notify(t, hook, previous);
}
