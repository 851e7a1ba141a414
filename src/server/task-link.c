/*
 * task-link.c: the server's link to a task's runtime.
 *
 * The runtime inside the sandbox writes its phases to the ready pipe
 * ("setup", "listening", "agent PID", "exit N"); once it listens, the
 * server subscribes to its /events (an SSE stream over agent.sock,
 * resubscribed with backoff while it fails) and maps status changes,
 * messages and reports onto the task's current_state. Every socket in
 * run/ is the task's: a peer is trusted only when SO_PEERCRED names the
 * runtime's own process, pinned by a pidfd. The workspace's exit ends
 * the link and sets the task's status from the reason; the logs come
 * from the runtime, or from its state file when it is not running.
 */
#include "common.h"

#include <fcntl.h>
#include <sys/socket.h>
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
#include "server/queue.h"
#include "server/task-int.h"
#include "store/store-rows.h"
#include "ws/ws.h"

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

/* A new pidfd of t's runtime (the pinned one, duplicated), or -1. */
int
task_runtime_pidfd(struct task *t)
{
	if (task_pin_runtime(t) < 0)
		return -1;
	return fcntl(t->runtime_pidfd, F_DUPFD_CLOEXEC, 0);
}

/* The start time of pid (/proc/PID/stat field 22, clock ticks), or 0:
 * with the pid it names one process across pid reuse. */
int64_t
task_proc_starttime(pid_t pid)
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

/* Is event one of the runtime's own event names (runtime/api.c)? Only
 * those are passed on to the task's subscribers: the server's own names
 * (task, queue, ...) are never the runtime's to send. */
static bool
task_runtime_event_known(const char *event)
{
	static const char *const names[] = {
		"message_update", "status_change", "task_report",
		"agent_error",	  "agent_hook",	   "screen",
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(event, names[i]) == 0)
			return true;
	return false;
}

/* One SSE event from the runtime. */
static int
task_on_runtime_event(const char *event, const char *data, void *cbdata)
{
	struct task *t = cbdata;
	json_t *j;
	const char *role, *summary, *link, *state;

	if (!task_runtime_event_known(event))
		return 0;
	if ((j = json_loads(data, 0, NULL)) == NULL)
		return 0;
	if (strcmp(event, "status_change") == 0) {
		task_on_runtime_status(t, j);
	} else if (strcmp(event, "message_update") == 0) {
		role = json_string_value(json_object_get(j, "role"));
		if (role != NULL && strcmp(role, "agent") == 0)
			task_set_str(&t->last_agent_message,
				     json_string_value(
					     json_object_get(j, "message")));
		if (role != NULL && strcmp(role, "user") == 0) {
			/* a new turn: the last report is stale */
			free(t->report_summary);
			t->report_summary = NULL;
			t->prompt_seen = true;
			task_mark(t, &t->prompt_delivered, "prompt_delivered");
			tqueue_on_user_input(
				t,
				json_string_value(
					json_object_get(j, "message")),
				json_string_value(json_object_get(j, "time")));
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
		task_set_str(&t->report_uri, link ? link : "");
		if (summary != NULL && *summary != '\0')
			task_set_str(&t->report_summary, summary);
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
	if (task_ws_runs(t) && t->st != TASK_STATE_DELETING) {
		/* the runtime restarted its listener or is going away */
		log_debug("task %s: runtime event stream ended (%d)",
			  task_name(t), err);
		task_events_retry(t);
	}
}

/* Subscribe to the runtime's /events. */
void
task_events_connect(struct task *t)
{
	static const struct hclient_cb cbs = {
		.body = task_events_body,
		.done = task_events_done,
		.peer = task_peer_ok,
	};
	static const char *const hdrs[] = {"Accept", "text/event-stream", NULL};
	char *cause = NULL;

	if (t->events != NULL || !task_ws_runs(t) ||
	    t->st == TASK_STATE_DELETING)
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

void
task_on_retry(void *data)
{
	task_events_connect(data);
}

/* One line from the runtime inside: a move when the state allows it (a
 * task that stops stays stopping), the facts it tells in any state. */
static void
task_on_ready_line(struct task *t, const char *line)
{
	if (strcmp(line, "setup") == 0) {
		if (task_state_allows(t->st, TASK_STATE_SETUP)) {
			task_transition(t, TASK_STATE_SETUP, "");
			task_set_state(t, "working", "Running setup script");
		}
	} else if (strcmp(line, "listening") == 0) {
		if (task_state_allows(t->st, TASK_STATE_STARTING)) {
			task_transition(t, TASK_STATE_STARTING, "");
			task_set_state(t, "working", "Starting agent");
			task_events_connect(t);
		}
	} else if (str_starts_with(line, "agent ")) {
		t->fresh_agent = false; /* there is a session to continue */
		task_mark(t, &t->agent_started, "agent_started");
		t->agent_ms = now_ms();
		task_changed(t); /* startup, even when no move follows */
		log_info("task %s: agent running %llu ms after the prompt "
			 "was accepted",
			 task_name(t),
			 (unsigned long long)(t->agent_ms - t->accepted_ms));
		if (task_state_allows(t->st, TASK_STATE_ACTIVE))
			task_transition(t, TASK_STATE_ACTIVE, "");
	} else if (str_starts_with(line, "exit ")) {
		long v;

		if (parse_long(line + 5, -1, 255, &v) == 0)
			t->runtime_exit = (int)v;
	}
}

void
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

void
task_on_ws_exit(struct ws *ws UNUSED, int wstatus, void *data)
{
	struct task *t = data;
	enum task_state was = t->st;
	enum task_exit how;
	char *path, *last;

	if (t->events != NULL) {
		hclient_free(t->events);
		t->events = NULL;
		sse_parser_release(&t->sse);
	}
	t->prompt_seen = false;
	tqueue_on_stop(t);
	ev_timer_stop(srv->loop, &t->retry);
	ev_timer_stop(srv->loop, &t->stop_timer);
	if (was == TASK_STATE_DELETING) {
		task_finish_delete(t);
		return;
	}
	store_task_clear_ws(srv->store, task_id(t));
	(void)task_state_on_exit(was, wstatus, t->runtime_exit, &how);
	switch (how) {
	case TASK_EXIT_PAUSED:
		task_finish_pause(t);
		break;
	case TASK_EXIT_SETUP_FAILED:
		path = xasprintf("%s/setup.log", t->run_dir);
		last = file_last_line(path);
		task_fail(t, "the setup script failed%s%s", last ? ": " : "",
			  last ? last : "");
		free(last);
		free(path);
		break;
	case TASK_EXIT_BEFORE_AGENT:
		path = xasprintf("%s/log", t->dir);
		last = file_last_line(path);
		task_fail(t, "the workspace stopped before the agent ran%s%s",
			  last ? ": " : "", last ? last : "");
		free(last);
		free(path);
		break;
	case TASK_EXIT_STATUS_UNKNOWN:
		task_fail(t, "the workspace stopped (it was started by an "
			     "earlier server process: its exit status is "
			     "unknown)");
		break;
	case TASK_EXIT_AGENT_CLEAN:
		task_set_state(t, "complete", "The agent exited");
		task_transition(t, TASK_STATE_UNKNOWN,
				"the agent exited with status 0");
		break;
	case TASK_EXIT_AGENT_STATUS:
		task_fail(t, "the agent exited with status %d",
			  WEXITSTATUS(wstatus));
		break;
	case TASK_EXIT_SIGNAL:
		task_fail(t, "the workspace was killed by signal %d",
			  WTERMSIG(wstatus));
		break;
	case TASK_EXIT_DELETED:
		BUG(); /* finished above */
	}
}

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
		if (st == NULL &&
		    (strcmp(t->view.status, "pending") == 0 ||
		     strcmp(t->view.status, "initializing") == 0)) {
			http_reply_json(req, 200,
					task_logs_from(NULL, true, NULL));
			return;
		}
		if (st == NULL) {
			http_reply_problem(req, 409,
					   "the task is %s and kept no "
					   "transcript",
					   t->view.status);
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
