/*
 * task.c: one task's lifecycle, from the accepted prompt to deletion:
 * the registry of live tasks (lookup, create, free), their state's
 * transitions and current_state, the Task JSON and the SSE subscribers.
 * The steps live in task-launch.c, task-link.c, task-stop.c,
 * task-recover.c and task-notify.c (task-int.h has struct task).
 *
 * A live task is in one enum task_state (task-state.c has the states and
 * the table of legal moves) and task_transition is the only way it
 * changes; status, workspace_status and workspace_agent_lifecycle are
 * derived from it (t->view). The loop drives it:
 *
 *   pending -> (installing) -> (disk) -> launched: the sandbox runs; the
 *     runtime inside reports over the ready pipe: "setup" -> setup,
 *     "listening" -> starting (subscribe to its /events), "agent PID"
 *     -> active
 *   the sandbox exits -> error (or unknown after a clean agent exit),
 *     with the reason: setup failed, agent exited N, runtime died
 *   pause -> pausing -> paused; resume and restart (from error/unknown)
 *     -> pending: launched again (files and state file kept; setup again
 *     when no agent ran)
 *   delete -> deleting: kill everything (cgroup + pid namespace), wait
 *     for the exit, remove the directories, soft-delete the row, reply
 *     202 -> deleted
 *
 * status and status_reason are stored at every move; the agent's
 * current_state lives in memory (the runtime is its source).
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
 *
 * The list: besides srv->tasks, the live tasks sit in task_order, an
 * array in creation order (created_at, then seq: unique), so a page of
 * GET /api/v2/tasks starts at its cursor by a binary search and never
 * sorts. Each task keeps its Task JSON encoded (json_text) until
 * task_changed() drops it; task_broadcast() calls it, since every change
 * a client should see is broadcast, and the few changes no broadcast
 * follows call it themselves. With TASKBOX_CHECK_TASK_JSON=1 in the
 * environment (the integration tests set it) every use of a kept text
 * compares it with a fresh encoding and aborts on a difference: a
 * change that forgot task_changed() fails the tests.
 *
 * Replicas: task_changed() and task_publish() of a task this replica
 * runs also tell the other replicas (replica.c); a task another replica
 * runs (t->replica, task-remote.c) is shown from its row and never told
 * back.
 */
#include "common.h"

#include <search.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/text.h"
#include "gateway/account.h"
#include "http/client.h"
#include "http/http.h"
#include "server.h"
#include "server/metrics.h"
#include "server/queue.h"
#include "server/replica.h"
#include "server/task-events.h"
#include "server/task-remote.h"
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
task_created_by(struct task *t)
{
	return json_string_value(json_object_get(t->row, "created_by")) ?: "";
}

const char *
task_status(struct task *t)
{
	return t->view.status;
}

const char *
task_stopping(struct task *t)
{
	return t->view.stopping;
}

const char *
task_runtime_socket(struct task *t)
{
	return t->view.runtime ? t->runtime_sock : NULL;
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
task_agent_state(struct task *t)
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
		if (t->st != TASK_STATE_DELETING &&
		    strcmp(task_owner_id(t), owner_id) == 0 &&
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

/* s when it is one of the known strings (a NULL-ended list), else the
 * first one: a static string for a task_view. */
static const char *
task_known(const char *s, const char *const *known)
{
	for (size_t i = 0; s != NULL && known[i] != NULL; i++)
		if (strcmp(s, known[i]) == 0)
			return known[i];
	return known[0];
}

/* The view a stored row shows (what a recovered task shows until the
 * server looked at it, and a remote task always). */
struct task_view
task_row_view(const json_t *row)
{
	static const char *const statuses[] = {
		"error",  "pending", "initializing", "active",
		"paused", "unknown", NULL,
	};
	static const char *const ws_statuses[] = {
		"stopped",  "pending", "starting", "running",
		"stopping", "failed",  "deleted",  NULL,
	};
	struct task_view v = {0};

	v.status = task_known(json_string_value(json_object_get(row, "status")),
			      statuses);
	v.workspace_status = task_known(
		json_string_value(json_object_get(row, "workspace_status")),
		ws_statuses);
	v.lifecycle = "off";
	return v;
}

/* The live tasks, oldest first (task_key_cmp). */
static struct task **task_order;
static size_t task_norder, task_order_cap;

void
task_cursor(const struct task *t, int64_t *created, int64_t *seq)
{
	*created = json_integer_value(json_object_get(t->row, "created_at"));
	*seq = json_integer_value(json_object_get(t->row, "seq"));
}

/* Compare t's place in the order with (created, seq): <0, 0, >0. */
static int
task_key_cmp(const struct task *t, int64_t created, int64_t seq)
{
	int64_t c, s;

	task_cursor(t, &c, &s);
	if (c != created)
		return c < created ? -1 : 1;
	return s < seq ? -1 : s > seq ? 1 : 0;
}

/* The index of the first task at or after (created, seq) in the order. */
static size_t
task_order_find(int64_t created, int64_t seq)
{
	size_t lo = 0, hi = task_norder;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (task_key_cmp(task_order[mid], created, seq) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Put t in the order (new tasks land at the end: no move). */
static void
task_order_add(struct task *t)
{
	int64_t c, s;
	size_t i;

	task_cursor(t, &c, &s);
	i = task_order_find(c, s);
	if (task_norder == task_order_cap) {
		task_order_cap = task_order_cap ? 2 * task_order_cap : 64;
		task_order = xreallocarray(task_order, task_order_cap,
					   sizeof *task_order);
	}
	memmove(task_order + i + 1, task_order + i,
		(task_norder - i) * sizeof *task_order);
	task_order[i] = t;
	task_norder++;
}

/* Take t out of the order. */
static void
task_order_remove(struct task *t)
{
	int64_t c, s;
	size_t i;

	task_cursor(t, &c, &s);
	for (i = task_order_find(c, s); i < task_norder; i++)
		if (task_order[i] == t)
			break;
	BUG_ON(i == task_norder);
	memmove(task_order + i, task_order + i + 1,
		(task_norder - i - 1) * sizeof *task_order);
	task_norder--;
	if (task_norder == 0) {
		free(task_order);
		task_order = NULL;
		task_order_cap = 0;
	}
}

/* Does t pass q's filters? */
static bool
task_query_match(struct task *t, const struct task_query *q)
{
	return t->st < TASK_STATE_DELETING &&
	       (q->owner_id == NULL ||
		strcmp(task_owner_id(t), q->owner_id) == 0) &&
	       (q->status == NULL || strcmp(t->view.status, q->status) == 0) &&
	       (q->viewer == NULL ||
		auth_may_access_task(q->viewer, task_owner_id(t),
				     task_created_by(t)));
}

size_t
task_query(const struct task_query *q, struct task **page, size_t *total,
	   bool *more)
{
	size_t n = 0, start = task_norder;

	*total = 0;
	*more = false;
	if (q->after)
		start = task_order_find(q->after_created, q->after_seq);
	/* the count: cheap comparisons, no encoding */
	for (size_t i = 0; i < task_norder; i++)
		if (task_query_match(task_order[i], q))
			(*total)++;
	for (size_t i = start; i > 0; i--) {
		struct task *t = task_order[i - 1];

		if (!task_query_match(t, q))
			continue;
		if (n == q->limit) {
			*more = true;
			break;
		}
		page[n++] = t;
	}
	return n;
}

void
task_foreach(void (*cb)(struct task *t, void *data), void *data)
{
	for (struct task *t = srv->tasks; t != NULL; t = t->next)
		if (t->st < TASK_STATE_DELETING)
			cb(t, data);
}

size_t
task_subscribers(const struct task *t)
{
	size_t n = 0;

	for (const struct task_sub *s = t->subs; s != NULL; s = s->next)
		n++;
	return n;
}

/* A live task object for row in state st (pending: not started;
 * recovering: loaded at server start, showing what its row says). */
struct task *
task_new(json_t *row, enum task_state st)
{
	struct task *t = xcalloc(1, sizeof *t), **found;
	struct task_view prev = task_row_view(row);

	BUG_ON(st != TASK_STATE_PENDING && st != TASK_STATE_RECOVERING);
	t->row = json_incref(row);
	t->ready_fd = -1;
	t->runtime_pidfd = -1;
	t->runtime_exit = -1;
	t->st = st;
	t->view =
		task_state_view(st, st == TASK_STATE_RECOVERING ? &prev : NULL);
	t->reason = xstrdup(st == TASK_STATE_RECOVERING
				    ? json_string_value(json_object_get(
					      row, "status_reason"))
					      ?: ""
				    : "");
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
	task_order_add(t);
	task_events_mark(t);
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
	task_order_remove(t);
	task_events_gone(t);
	free(t->json_text);
	free(t->wired_text);
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
	free(t->reason);
	free(t->last_agent_message);
	free(t->report_uri);
	free(t->report_summary);
	free(t->pause_message);
	free(t->disk_warn);
	free(t->ws_warn);
	tqueue_free(t->queue);
	free(t->replica);
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

	/* first line only, up to the start of the character past the last
	 * one kept */
	for (const char *p = message ? message : ""; *p != '\0' && *p != '\n';
	     p++) {
		if (((unsigned char)*p & 0xc0) != 0x80 &&
		    chars++ == TASK_MESSAGE_MAX)
			break;
		if (n + 1 < sizeof cut)
			cut[n++] = *p;
	}
	n = utf8_cut(cut, n); /* never end inside a character */
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
		if (t->st == TASK_STATE_DELETING)
			continue;
		total++;
		if (strcmp(task_owner_id(t), owner_id) == 0 &&
		    (t->replica != NULL ? task_remote_running(t)
					: task_state_running(t->st)))
			running++;
	}
	if (!resume && total >= srv->max_tasks) {
		*why = xasprintf("the server holds %ld tasks, its maximum "
				 "(--max-tasks); delete finished tasks first",
				 total);
		return -EDQUOT;
	}
	if (running >= srv->max_running_per_user) {
		*why = xasprintf("the owner has %ld tasks starting or running, "
				 "the maximum per user "
				 "(--max-running-per-user); pause or delete "
				 "one first",
				 running);
		return -EDQUOT;
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
	const char *sidebar, *preset;
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

	/* the app the web app shows next to the others (chat by default) */
	sidebar = json_string_value(json_object_get(
		json_object_get(spec, "ai_task"), "sidebar_app"));
	json_object_set_new(j, "sidebar_app", json_string(sidebar ?: "chat"));
	/* the version's preset it started from (Coder's name), null: none */
	preset = json_string_value(json_object_get(row, "preset_id"));
	json_object_set_new(j, "template_version_preset_id",
			    preset != NULL && *preset != '\0'
				    ? json_string(preset)
				    : json_null());
	free(app_url);
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
	struct account_sum usage;

	json_object_set_new(j, "status", json_string(t->view.status));
	json_object_set_new(j, "status_reason", json_string(t->reason));
	json_object_set_new(j, "workspace_status",
			    json_string(t->view.workspace_status));
	json_object_set_new(j, "workspace_agent_lifecycle",
			    json_string(t->view.lifecycle));
	json_object_set_new(j, "current_state",
			    t->state ? json_deep_copy(t->state) : json_null());
	task_json_limits(t, j);
	account_task_sum(task_id(t), &usage);
	json_object_set_new(j, "usage", account_sum_json(&usage));
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

void
task_usage_changed(const char *task_id)
{
	struct task *t = task_find_id(task_id);

	if (t != NULL && t->st != TASK_STATE_DELETING)
		task_broadcast(t);
}

/* Send event to every subscriber of t (a "task" event through the
 * subscriber's wire, made once for all that have one). */
void
task_publish(struct task *t, const char *event, const char *data)
{
	bool task_event = strcmp(event, "task") == 0;
	char *wired = NULL;
	size_t len;

	for (struct task_sub *s = t->subs; s != NULL; s = s->next) {
		if (s->wire == NULL || !task_event) {
			http_sse_send(s->sse, event, data);
			continue;
		}
		if (wired == NULL)
			wired = s->wire(data, strlen(data), &len);
		http_sse_send(s->sse, event, wired);
	}
	free(wired);
	/* the other replicas' subscribers: a "task" event they make from
	 * the row themselves (task_changed) */
	if (t->replica == NULL && strcmp(event, "task") != 0)
		replica_task_event(task_id(t), event, data);
}

void
task_publish_event(struct task *t, const char *event, const char *data)
{
	task_publish(t, event, data);
}

/* Something the Task JSON shows changed: drop the kept text. */
void
task_changed(struct task *t)
{
	free(t->json_text);
	t->json_text = NULL;
	t->json_len = 0;
	free(t->wired_text);
	t->wired_text = NULL;
	task_events_mark(t); /* the /api/v2/events streams */
	if (t->replica == NULL)
		replica_task_changed(task_id(t)); /* the other replicas */
}

/* Is TASKBOX_CHECK_TASK_JSON set (read once)? */
static bool
task_json_checked(void)
{
	static int on = -1;

	if (on < 0) {
		const char *v = getenv("TASKBOX_CHECK_TASK_JSON");

		on = v != NULL && strcmp(v, "1") == 0;
	}
	return on;
}

const char *
task_json_text(struct task *t, size_t *len)
{
	json_t *j;
	char *s;

	if (t->json_text != NULL && !task_json_checked()) {
		*len = t->json_len;
		return t->json_text;
	}
	j = task_json(t);
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s == NULL)
		fatal("cannot encode task %s", task_id(t));
	if (t->json_text != NULL && strcmp(s, t->json_text) != 0) {
		log_error("task %s: its kept JSON is stale (a change without "
			  "task_changed):\n  kept  %.2000s\n  fresh %.2000s",
			  task_id(t), t->json_text, s);
		BUG();
	}
	free(t->json_text);
	t->json_text = s;
	t->json_len = strlen(s);
	*len = t->json_len;
	return t->json_text;
}

const char *
task_json_text_as(struct task *t, task_text_fn wire, size_t *len)
{
	const char *text = task_json_text(t, len);
	size_t wlen;
	char *w;

	if (wire == NULL)
		return text;
	if (t->wired_text != NULL && t->wired_fn == wire &&
	    !task_json_checked()) {
		*len = t->wired_len;
		return t->wired_text;
	}
	w = wire(text, *len, &wlen);
	/* checked: a kept text must be what it would be made again */
	if (t->wired_text != NULL && t->wired_fn == wire &&
	    strcmp(w, t->wired_text) != 0) {
		log_error("task %s: its kept wired JSON is stale", task_id(t));
		BUG();
	}
	free(t->wired_text);
	t->wired_text = w;
	t->wired_len = wlen;
	t->wired_fn = wire;
	*len = wlen;
	return w;
}

/* Push the Task JSON to subscribers (every change a client should see
 * comes here: the kept text is dropped first). */
void
task_broadcast(struct task *t)
{
	size_t len;

	task_changed(t);
	if (t->subs == NULL)
		return;
	task_publish(t, "task", task_json_text(t, &len));
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
	free(sub->user_id);
	free(sub);
}

void
task_events(struct task *t, struct http_req *req, const json_t *caller,
	    task_text_fn wire)
{
	struct task_sub *sub = xcalloc(1, sizeof *sub);
	const char *hash =
		json_string_value(json_object_get(caller, "auth_hash"));
	size_t len;

	BUG_ON(hash == NULL);
	sub->task = t;
	sub->wire = wire;
	sub->user_id =
		xstrdup(json_string_value(json_object_get(caller, "id")) ?: "");
	snprintf(sub->hash, sizeof sub->hash, "%s", hash);
	sub->cookie = json_object_get(caller, "session_id") != NULL;
	sub->sse = http_sse_start(req, TASK_SSE_QUEUE, task_sub_closed, sub);
	sub->next = t->subs;
	t->subs = sub;
	http_sse_send(sub->sse, "task", task_json_text_as(t, wire, &len));
}

void
task_subs_recheck(const char *user_id)
{
	for (struct task *t = srv->tasks; t != NULL; t = t->next) {
		struct task_sub *s, *next;

		for (s = t->subs; s != NULL; s = next) {
			json_t *row;

			next = s->next;
			/* the subscriber's rights changed, or the owner's
			 * (a creator's access depends on them) */
			if (user_id != NULL &&
			    strcmp(s->user_id, user_id) != 0 &&
			    strcmp(task_owner_id(t), user_id) != 0)
				continue;
			row = auth_recheck(s->hash, s->cookie);
			if (row == NULL ||
			    !auth_may_access_task(row, task_owner_id(t),
						  task_created_by(t)))
				http_sse_end(s->sse);
			json_decref(row);
		}
	}
}

/*
 * Move t to state to (a legal move of task-state.c's table, else
 * -EINVAL and nothing changes), with the status reason (NULL keeps it);
 * the view is derived again, stored in the row when what it shows
 * changed (never once deleting: the row is gone) and pushed to the
 * subscribers.
 */
int
task_transition(struct task *t, enum task_state to, const char *reason)
{
	const char *event = task_state_move(t->st, to);
	struct task_view was = t->view;
	bool shown;

	if (event == NULL) {
		log_error("task %s: no move from %s to %s", task_name(t),
			  task_state_str(t->st), task_state_str(to));
		return -EINVAL;
	}
	log_debug("task %s: %s -> %s (%s)", task_name(t), task_state_str(t->st),
		  task_state_str(to), event);
	t->st = to;
	t->view = task_state_view(to, &was);
	shown = strcmp(was.status, t->view.status) != 0 ||
		strcmp(was.workspace_status, t->view.workspace_status) != 0 ||
		strcmp(was.lifecycle, t->view.lifecycle) != 0;
	if (reason != NULL && strcmp(t->reason, reason) != 0) {
		task_set_str(&t->reason, reason);
		shown = true;
	}
	if (!shown)
		return 0;
	/* (a task recovered at server start has no accepted start) */
	if (to == TASK_STATE_ACTIVE && strcmp(was.status, "active") != 0 &&
	    t->accepted_ms != 0)
		metrics_task_active(now_ms() - t->accepted_ms);
	if (to == TASK_STATE_ERROR)
		log_warn("task %s: error: %s", task_name(t), t->reason);
	else if (strcmp(was.status, t->view.status) != 0)
		log_info("task %s: %s", task_name(t), t->view.status);
	if (to != TASK_STATE_DELETING && to != TASK_STATE_DELETED)
		store_task_set_status(srv->store, task_id(t), t->view.status,
				      t->reason, t->view.workspace_status,
				      (int64_t)wall_ms());
	task_broadcast(t);
	return 0;
}

/* Does t's workspace run (started and not yet seen to exit)? */
bool
task_ws_runs(const struct task *t)
{
	/* a delete waits only for a workspace that ran when it came */
	return t->ws != NULL &&
	       ((t->st >= TASK_STATE_LAUNCHED && t->st <= TASK_STATE_PAUSING) ||
		t->st == TASK_STATE_DELETING);
}

/* Fail the task with a reason built from fmt. */
void PRINTFLIKE(2, 3) task_fail(struct task *t, const char *fmt, ...)
{
	va_list ap;
	char *reason;

	va_start(ap, fmt);
	reason = xvasprintf(fmt, ap);
	va_end(ap);
	task_set_state(t, "failure", reason);
	task_transition(t, TASK_STATE_ERROR, reason);
	free(reason);
}

int
task_set_input(struct task *t, struct http_req *req, const char *input,
	       char **cause)
{
	int r = task_state_may(t->st, TASK_OP_INPUT);

	if (r < 0) {
		*cause = xasprintf("the task is %s: the prompt can only be "
				   "edited while it is paused",
				   t->view.stopping ?: t->view.status);
		return r;
	}
	if (store_task_set_prompt(srv->store, task_id(t), input,
				  (int64_t)wall_ms()) < 0) {
		*cause = xstrdup("cannot store the prompt");
		return -EIO;
	}
	json_object_set_new(t->row, "prompt", json_string(input));
	task_changed(t);
	http_reply(req, 204, NULL, "", 0);
	return 0;
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

	if (!t->view.runtime)
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
