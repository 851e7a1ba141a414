/*
 * store-tasks.c: the tasks, task_states and counters tables
 * (store-rows.h).
 *
 * Data model: a task row (id, a seq that is never handed out twice, its
 * owner, a name unique per owner among tasks not deleted, the template
 * version it runs, parameters (and the id of the version's preset they
 * started from, '' for none) and prompt, status, status_reason and
 * workspace_status as last recorded, the workspace's process for
 * re-attaching, and three facts the server saw: laid_out,
 * prompt_delivered, agent_started). deleted_at marks a task whose files
 * are going away; its row goes with its owner or template. task_states is
 * the append-only history of current_state, trimmed to the latest rows.
 * counters holds task_seq, the last seq handed out. replica_id names the
 * replica that runs the task's workspace ('' with one server).
 */
#include "common.h"

#include "store/store-rows.h"

/* Every column of tasks t, and the owner's username as owner_name. */
#define TASK_SELECT                                                            \
	"SELECT t.id, t.seq, t.owner_id, t.name, t.display_name, "             \
	"t.template_version_id, t.parameters, t.prompt, t.status, "            \
	"t.status_reason, t.workspace_status, t.agent_type, t.created_at, "    \
	"t.updated_at, t.deleted_at, t.ws_pid, t.ws_starttime, t.laid_out, "   \
	"t.prompt_delivered, t.agent_started, t.replica_id, t.preset_id, "     \
	"t.created_by, "                                                       \
	"u.username AS owner_name "                                            \
	"FROM tasks t JOIN users u ON u.id = t.owner_id "

int
store_task_insert(struct store *st, const char *id, const char *owner_id,
		  const char *name, const char *display_name,
		  const char *version_id, const char *parameters,
		  const char *preset_id, const char *prompt,
		  const char *agent_type, const char *replica_id,
		  const char *created_by, int64_t now)
{
	int r;

	if ((r = store_begin(st)) < 0)
		return r;
	r = store_exec(st,
		       "UPDATE counters SET value = value + 1 WHERE name = "
		       "'task_seq'",
		       "");
	if (r == 0)
		r = store_exec(
			st,
			"INSERT INTO tasks (id, seq, owner_id, name, "
			"display_name, template_version_id, parameters, "
			"preset_id, prompt, status, workspace_status, "
			"agent_type, created_at, updated_at, replica_id, "
			"created_by) VALUES (?, (SELECT value FROM counters "
			"WHERE name = 'task_seq'), ?, ?, ?, ?, ?, ?, ?, "
			"'pending', 'pending', ?, ?, ?, ?, ?)",
			"sssssssssiiss", id, owner_id, name, display_name,
			version_id, parameters, preset_id, prompt, agent_type,
			now, now, replica_id, created_by ? created_by : "");
	if (r == 0)
		r = store_commit(st);
	if (r < 0)
		store_rollback(st);
	return r;
}

json_t *
store_task_get(struct store *st, const char *id)
{
	return store_row(st, TASK_SELECT "WHERE t.id = ?", "s", id);
}

json_t *
store_task_find(struct store *st, const char *owner_id, const char *ref)
{
	return store_row(st,
			 "SELECT id FROM tasks WHERE owner_id = ? AND "
			 "deleted_at IS NULL AND (id = ? OR lower(name) = "
			 "lower(?))",
			 "sss", owner_id, ref, ref);
}

json_t *
store_tasks_list(struct store *st, const char *owner_id)
{
	if (owner_id == NULL)
		return store_rows(st, NULL,
				  TASK_SELECT "WHERE t.deleted_at IS NULL "
					      "ORDER BY t.created_at DESC, "
					      "t.seq DESC",
				  "");
	return store_rows(st, NULL,
			  TASK_SELECT "WHERE t.deleted_at IS NULL AND "
				      "t.owner_id = ? ORDER BY t.created_at "
				      "DESC, t.seq DESC",
			  "s", owner_id);
}

json_t *
store_tasks_live(struct store *st)
{
	return store_rows(st, NULL,
			  TASK_SELECT "WHERE t.deleted_at IS NULL ORDER BY "
				      "t.seq",
			  "");
}

int
store_task_set_status(struct store *st, const char *id, const char *status,
		      const char *reason, const char *ws_status, int64_t now)
{
	return store_exec(st,
			  "UPDATE tasks SET status = ?, status_reason = ?, "
			  "workspace_status = ?, updated_at = ? WHERE id = ?",
			  "sssis", status, reason, ws_status, now, id);
}

int
store_task_set_prompt(struct store *st, const char *id, const char *prompt,
		      int64_t now)
{
	return store_exec(st,
			  "UPDATE tasks SET prompt = ?, updated_at = ? WHERE "
			  "id = ?",
			  "sis", prompt, now, id);
}

int
store_task_set_flag(struct store *st, const char *id, const char *column)
{
	static const char *const sql[][2] = {
		{"laid_out", "UPDATE tasks SET laid_out = 1 WHERE id = ?"},
		{"prompt_delivered",
		 "UPDATE tasks SET prompt_delivered = 1 WHERE id = ?"},
		{"agent_started",
		 "UPDATE tasks SET agent_started = 1 WHERE id = ?"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(sql); i++)
		if (strcmp(column, sql[i][0]) == 0)
			return store_exec(st, sql[i][1], "s", id);
	BUG();
}

int
store_task_set_ws(struct store *st, const char *id, int64_t pid,
		  int64_t starttime)
{
	return store_exec(st,
			  "UPDATE tasks SET ws_pid = ?, ws_starttime = ? WHERE "
			  "id = ?",
			  "iis", pid, starttime, id);
}

int
store_task_clear_ws(struct store *st, const char *id)
{
	return store_exec(st, "UPDATE tasks SET ws_pid = NULL WHERE id = ?",
			  "s", id);
}

int
store_task_set_deleted(struct store *st, const char *id, int64_t now)
{
	return store_exec(st,
			  "UPDATE tasks SET deleted_at = ?, workspace_status = "
			  "'deleted' WHERE id = ?",
			  "is", now, id);
}

int
store_task_state_add(struct store *st, const char *id, const char *state,
		     const char *message, const char *uri, int64_t now)
{
	return store_exec(st,
			  "INSERT INTO task_states (task_id, state, message, "
			  "uri, created_at) VALUES (?, ?, ?, ?, ?)",
			  "ssssi", id, state, message, uri, now);
}

int
store_task_states_trim(struct store *st, const char *id, int64_t keep)
{
	return store_exec(st,
			  "DELETE FROM task_states WHERE task_id = ? AND id <= "
			  "(SELECT MAX(id) FROM task_states WHERE task_id = ?) "
			  "- ?",
			  "ssi", id, id, keep);
}

json_t *
store_task_states(struct store *st, const char *id)
{
	return store_rows(st, NULL,
			  "SELECT state, message, uri, created_at FROM "
			  "task_states WHERE task_id = ? ORDER BY id",
			  "s", id);
}

json_t *
store_task_state_last(struct store *st, const char *id)
{
	return store_row(st,
			 "SELECT state, message, uri, created_at FROM "
			 "task_states WHERE task_id = ? ORDER BY id DESC "
			 "LIMIT 1",
			 "s", id);
}

int
store_tasks_claim(struct store *st, const char *replica_id)
{
	return store_exec(st,
			  "UPDATE tasks SET replica_id = ? WHERE replica_id = "
			  "'' AND deleted_at IS NULL",
			  "s", replica_id);
}
