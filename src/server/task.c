/*
 * task.c: one task's lifecycle, from the accepted prompt to deletion:
 * the registry of live tasks (lookup, create, free), their status and
 * current_state, the Task JSON and the SSE subscribers. The steps live
 * in task-launch.c, task-link.c, task-stop.c, task-recover.c and
 * task-notify.c (task-int.h has struct task).
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

#include <search.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ev.h"
#include "core/log.h"
#include "http/client.h"
#include "http/http.h"
#include "server.h"
#include "server/queue.h"
#include "server/task-int.h"
#include "store/store-rows.h"
#include "ws/ws.h"

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
void
task_mark(struct task *t, bool *flag, const char *column)
{
	if (*flag)
		return;
	*flag = true;
	if (store_task_set_flag(srv->store, task_id(t), column) < 0)
		log_warn("task %s: cannot record %s", task_id(t), column);
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
const char *
task_name(struct task *t)
{
	return json_string_value(json_object_get(t->row, "name"));
}

const char *
task_name_of(struct task *t)
{
	return task_name(t);
}

/*
 * The live tasks by id, beside the srv->tasks list: a tsearch tree of
 * struct task pointers ordered by task_id, so that a lookup (every
 * runtime event, every row of a task list) stays O(log n) with
 * thousands of tasks. A lookup's key is the address of task_key, which
 * stands for the string in task_key_id.
 */
static void *task_index;
static const char task_key;
static const char *task_key_id;

/* The id an element (or the lookup key) of task_index stands for. */
static const char *
task_index_id(const void *p)
{
	return p == &task_key ? task_key_id : task_id((struct task *)p);
}

/* Order two elements of task_index by id (tsearch's comparison). */
static int
task_index_cmp(const void *a, const void *b)
{
	return strcmp(task_index_id(a), task_index_id(b));
}

struct task *
task_find_id(const char *id)
{
	struct task **found;

	task_key_id = id;
	found = tfind(&task_key, &task_index, task_index_cmp);
	task_key_id = NULL;
	return found != NULL ? *found : NULL;
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
bool
task_by_admin(const struct task *t)
{
	return json_integer_value(json_object_get(t->version, "by_admin")) != 0;
}

/* Replace *slot with a copy of s. */
void
task_set_str(char **slot, const char *s)
{
	char *copy = xstrdup(s ? s : "");

	free(*slot);
	*slot = copy;
}

/* A live task object for row, not started (phase pending). */
struct task *
task_new(json_t *row)
{
	struct task *t = xcalloc(1, sizeof *t), **found;

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
	/* one live task per id: task-recover and create check first */
	found = tsearch(t, &task_index, task_index_cmp);
	if (found == NULL)
		fatal("out of memory");
	BUG_ON(*found != t);
	t->next = srv->tasks;
	srv->tasks = t;
	return t;
}

/* Drop t from the live list and free it. */
void
task_free(struct task *t)
{
	struct task **pp;

	for (pp = &srv->tasks; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	(void)tdelete(t, &task_index, task_index_cmp);
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

/* Set current_state (message cut to 160 characters). */
void
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
	store_task_state_add(srv->store, task_id(t), state, cut,
			     t->report_uri ? t->report_uri : "",
			     (int64_t)wall_ms());
	if (++t->state_rows % 100 == 0)
		/* a chatty (or hostile) agent: keep the latest rows */
		store_task_states_trim(srv->store, task_id(t),
				       (int64_t)TASK_STATES_KEPT);
	task_state_changed(
		t,
		old ? json_string_value(json_object_get(old, "state")) : NULL);
	json_decref(old);
	task_broadcast(t);
}

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
void
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

/* Send event to every subscriber of t. */
void
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
void
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

/* Store and publish a new status (and reason). */
void
task_set_status(struct task *t, const char *status, const char *reason)
{
	if (strcmp(t->status, status) == 0 &&
	    strcmp(t->reason, reason ? reason : "") == 0)
		return;
	task_set_str(&t->status, status);
	task_set_str(&t->reason, reason);
	if (strcmp(status, "error") == 0)
		log_warn("task %s: error: %s", task_name(t), t->reason);
	else
		log_info("task %s: %s", task_name(t), status);
	if (!t->deleting)
		store_task_set_status(srv->store, task_id(t), t->status,
				      t->reason, t->ws_status,
				      (int64_t)wall_ms());
	task_broadcast(t);
}

/* Fail the task with a reason built from fmt. */
void PRINTFLIKE(2, 3) task_fail(struct task *t, const char *fmt, ...)
{
	va_list ap;
	char *reason;

	va_start(ap, fmt);
	reason = xvasprintf(fmt, ap);
	va_end(ap);
	task_set_str(&t->ws_status, "failed");
	task_set_str(&t->lifecycle, "off");
	task_set_state(t, "failure", reason);
	task_set_status(t, "error", reason);
	free(reason);
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
	if (store_task_set_prompt(srv->store, task_id(t), input,
				  (int64_t)wall_ms()) < 0) {
		http_reply_problem(req, 500, "cannot store the prompt");
		return;
	}
	json_object_set_new(t->row, "prompt", json_string(input));
	http_reply(req, 204, NULL, "", 0);
}

void
task_states(struct task *t, struct http_req *req)
{
	json_t *rows = store_task_states(srv->store, task_id(t));
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
