/*
 * task-remote.c: the tasks another replica runs, as this replica shows
 * them (task-remote.h).
 *
 * Data model: a remote task is a struct task like any other in the live
 * list and the list's order (so GET, the list and SSE serve it as they
 * serve a local one), with t->replica naming the replica that runs it.
 * It has no workspace, runtime link, egress, timers or send queue of
 * its own: it stays in TASK_STATE_RECOVERING, whose view is the row's,
 * its row and last current_state read from the store whenever the owner
 * says the task changed (replica.c's NOTIFYs). While the owner misses
 * its heartbeats, t->replica_down shows status unknown with the reason
 * replica.c gives; the row comes back when the owner does. Requests
 * that need the workspace are forwarded to the owner (replica.c); the
 * task files never start or stop a remote task.
 */
#include "common.h"

#include "core/log.h"
#include "server.h"
#include "server/replica.h"
#include "server/task-int.h"
#include "server/task-remote.h"
#include "store/store-rows.h"

/* What every status_reason of a replica's tasks says while it is down. */
static const char *
task_remote_down_reason(const struct task *t)
{
	return replica_down_reason(t->replica) ?: "its replica does not answer";
}

/* Set t's view from its row, then from its replica's state. */
static void
task_remote_view(struct task *t)
{
	const char *reason =
		json_string_value(json_object_get(t->row, "status_reason"));

	t->view = task_row_view(t->row);
	if (t->replica_down) {
		t->view.status = "unknown";
		reason = task_remote_down_reason(t);
	}
	task_set_str(&t->reason, reason);
}

void
task_load_state(struct task *t)
{
	json_t *last = store_task_state_last(srv->store, task_id(t));
	char stamp[32];

	if (last == NULL)
		return;
	time_rfc3339((uint64_t)json_integer_value(
			     json_object_get(last, "created_at")),
		     stamp);
	json_decref(t->state);
	t->state = json_pack("{s:O, s:O, s:O, s:s}", "state",
			     json_object_get(last, "state"), "message",
			     json_object_get(last, "message"), "uri",
			     json_object_get(last, "uri"), "timestamp", stamp);
	json_decref(last);
}

struct task *
task_remote_add(json_t *row)
{
	struct task *t = task_new(row, TASK_STATE_RECOVERING);

	t->replica =
		xstrdup(json_string_value(json_object_get(row, "replica_id")));
	t->replica_down = replica_down_reason(t->replica) != NULL;
	t->version = catalog_version_get(
		json_string_value(json_object_get(row, "template_version_id")));
	t->tmpl = json_incref(json_object_get(t->version, "spec_json"));
	task_load_state(t);
	task_remote_view(t);
	return t;
}

/* Is row (a store_task_get row or NULL) a live task another replica
 * runs? */
static bool
task_remote_row(const json_t *row)
{
	const char *r = json_string_value(json_object_get(row, "replica_id"));

	return row != NULL &&
	       json_is_null(json_object_get(row, "deleted_at")) && r != NULL &&
	       strcmp(r, replica_self()) != 0;
}

/* Show remote task t's deletion to its subscribers and drop it. */
static void
task_remote_drop(struct task *t)
{
	t->view.workspace_status = "deleted";
	t->view.lifecycle = "off";
	task_broadcast(t);
	log_debug("task %s: deleted on replica %s", task_name(t), t->replica);
	task_free(t);
}

/* Show row (a live row of another replica's task) on t, or on a new
 * remote task. */
static void
task_remote_apply(struct task *t, json_t *row)
{
	if (t == NULL) {
		task_remote_add(row);
		return;
	}
	json_decref(t->row);
	t->row = json_incref(row);
	task_load_state(t);
	task_remote_view(t);
	task_broadcast(t);
}

void
task_remote_refresh(const char *id)
{
	struct task *t = task_find_id(id);
	json_t *row;

	if (t != NULL && t->replica == NULL)
		return; /* this replica runs it */
	row = store_task_get(srv->store, id);
	if (task_remote_row(row))
		task_remote_apply(t, row);
	else if (t != NULL)
		task_remote_drop(t);
	json_decref(row);
}

void
task_remote_event(const char *id, const char *event, const char *data)
{
	struct task *t = task_find_id(id);

	if (t != NULL && t->replica != NULL)
		task_publish(t, event, data);
}

void
task_remote_replica(const char *replica_id, const char *reason)
{
	json_t *ids = json_array(), *id;
	size_t i;

	for (struct task *t = srv->tasks; t != NULL; t = t->next)
		if (t->replica != NULL && strcmp(t->replica, replica_id) == 0)
			json_array_append_new(ids, json_string(task_id(t)));
	json_array_foreach(ids, i, id)
	{
		struct task *t = task_find_id(json_string_value(id));

		if (t == NULL)
			continue;
		t->replica_down = reason != NULL;
		if (reason != NULL) {
			task_remote_view(t);
			task_broadcast(t);
		} else {
			task_remote_refresh(task_id(t));
		}
	}
	json_decref(ids);
}

void
task_remote_resync(void)
{
	json_t *rows = store_tasks_live(srv->store), *row, *seen;
	struct task *t, *next;
	size_t i;

	if (rows == NULL)
		return; /* the store is away: the next resync */
	seen = json_object();
	json_array_foreach(rows, i, row)
	{
		const char *id = json_string_value(json_object_get(row, "id"));

		json_object_set_new(seen, id, json_true());
		t = task_find_id(id);
		if (task_remote_row(row) && (t == NULL || t->replica != NULL))
			task_remote_apply(t, row);
	}
	for (t = srv->tasks; t != NULL; t = next) {
		next = t->next;
		if (t->replica != NULL &&
		    json_object_get(seen, task_id(t)) == NULL)
			task_remote_drop(t);
	}
	json_decref(seen);
	json_decref(rows);
}

const char *
task_replica(const struct task *t)
{
	return t->replica;
}

bool
task_remote_running(const struct task *t)
{
	const char *s = json_string_value(json_object_get(t->row, "status"));

	return s != NULL &&
	       (strcmp(s, "pending") == 0 || strcmp(s, "initializing") == 0 ||
		strcmp(s, "active") == 0);
}
