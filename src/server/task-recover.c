/*
 * task-recover.c: the live tasks again after a server (re)start.
 *
 * Every task row not deleted becomes a live task, recovering (showing
 * its row), with its last recorded current_state, and moves at once: a
 * task that was running is re-attached to its workspace (active) when
 * the recorded pid still names the same process (its start time), else
 * it is in error; the others take the state their stored status names.
 * Disk images without a task (a delete cut short) are removed. With
 * replicas, only this replica's tasks are re-attached; the others'
 * become remote tasks (task-remote.c).
 */
#include "common.h"

#include <dirent.h>

#include "core/log.h"
#include "server.h"
#include "server/queue.h"
#include "server/replica.h"
#include "server/task-int.h"
#include "server/task-remote.h"
#include "store/store-rows.h"
#include "ws/ws.h"

/* Re-attach to t's workspace that a crashed server left running; false
 * when it is gone. */
static bool
task_reattach(struct task *t, const json_t *row)
{
	pid_t pid = (pid_t)json_integer_value(json_object_get(row, "ws_pid"));
	int64_t start =
		json_integer_value(json_object_get(row, "ws_starttime"));
	struct ws_limits lim;
	struct egress_task who = task_egress_who(t);
	int64_t disk;
	char *cause = NULL;

	if (pid <= 0 || start == 0 || task_proc_starttime(pid) != start)
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
	t->egress =
		egress_new(t->run_dir, json_object_get(t->tmpl, "workspace"),
			   task_by_admin(t), task_name(t), &who,
			   srv->root ? t->uid : 0, &cause);
	if (t->egress == NULL) {
		log_warn("task %s: %s", task_name(t), cause);
		free(cause);
	}
	/* the runtime was serving when we went away (or about to: nothing
	 * reads its ready pipe now): talk to it again */
	task_transition(t, TASK_STATE_ACTIVE, "");
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

/* The state of a task stored with status (not a running one). */
static enum task_state
task_recovered_state(const char *status)
{
	if (strcmp(status, "paused") == 0)
		return TASK_STATE_PAUSED;
	if (strcmp(status, "unknown") == 0)
		return TASK_STATE_UNKNOWN;
	return TASK_STATE_ERROR; /* error, or a status this server does not
				    know */
}

void
task_recover_all(void)
{
	json_t *rows, *row;
	size_t i;

	tqueue_recover();
	rows = store_tasks_live(srv->store);
	json_array_foreach(rows, i, row)
	{
		struct task *t;
		const char *status =
			json_string_value(json_object_get(row, "status"));
		bool live = strcmp(status, "active") == 0 ||
			    strcmp(status, "initializing") == 0 ||
			    strcmp(status, "pending") == 0;

		if (strcmp(json_string_value(json_object_get(row, "replica_id"))
				   ?: "",
			   replica_self()) != 0) {
			/* another replica runs it (task-remote.c) */
			task_remote_add(row);
			continue;
		}
		t = task_new(row, TASK_STATE_RECOVERING);
		t->version = catalog_version_get(json_string_value(
			json_object_get(row, "template_version_id")));
		t->tmpl = json_incref(json_object_get(t->version, "spec_json"));
		task_load_state(t);
		if (!live) {
			struct ws_limits l;
			int64_t disk;

			task_limits(t, &l, &disk);
			(void)task_disk_note(t, disk);
			task_transition(t, task_recovered_state(status), NULL);
		}
		if (live && !task_reattach(t, row)) {
			task_set_state(t, "failure",
				       "The workspace stopped while the server "
				       "was down");
			task_transition(t, TASK_STATE_ERROR,
					"the workspace stopped while the "
					"server was down");
		}
		if (t->ws == NULL)
			/* no runtime to settle its queue's deliveries
			 * against */
			tqueue_on_stop(t);
	}
	json_decref(rows);
	task_recover_disks();
}
