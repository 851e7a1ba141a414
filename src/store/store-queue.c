/*
 * store-queue.c: the task_queue table, the send queue (store-rows.h).
 *
 * Data model: an entry (id) of a task, numbered by seq in the task's
 * order, holds the input and who sent it; it is 'queued' until the server
 * starts delivering it and 'sending' (since sent_at, wall ms) while it
 * does. A delivered or cancelled entry is deleted. server/queue.c keeps the
 * rules (at most once, one delivery at a time); these are its statements.
 */
#include "common.h"

#include "store/store-rows.h"

#define QUEUE_COLUMNS "id, task_id, seq, input, state, created_by, created_at"

/* The integer column n of the first row of sql (one string parameter
 * each of a and b, b may be unused), or err when there is no row. */
static int64_t
store_queue_count(struct store *st, const char *sql, const char *fmt,
		  const char *a, const char *b, int64_t err)
{
	json_t *row = store_row(st, sql, fmt, a, b);
	int64_t n = row ? (int64_t)json_integer_value(json_object_get(row, "n"))
			: err;

	json_decref(row);
	return n;
}

int
store_queue_push(struct store *st, const char *id, const char *task_id,
		 const char *input, const char *state, const char *created_by,
		 int64_t now)
{
	return store_exec(st,
			  "INSERT INTO task_queue (id, task_id, seq, input, "
			  "state, created_by, created_at, sent_at) VALUES (?, "
			  "?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM "
			  "task_queue WHERE task_id = ?), ?, ?, ?, ?, ?)",
			  "ssssssii", id, task_id, task_id, input, state,
			  created_by, now,
			  strcmp(state, "sending") == 0 ? now : (int64_t)0);
}

int64_t
store_queue_length(struct store *st, const char *task_id)
{
	return store_queue_count(
		st, "SELECT count(*) AS n FROM task_queue WHERE task_id = ?",
		"s", task_id, NULL, -EIO);
}

int64_t
store_queue_position(struct store *st, const char *id, const char *task_id)
{
	return store_queue_count(st,
				 "SELECT (SELECT count(*) FROM task_queue q2 "
				 "WHERE q2.task_id = q.task_id AND q2.seq <= "
				 "q.seq) AS n FROM task_queue q WHERE q.id = ? "
				 "AND q.task_id = ?",
				 "ss", id, task_id, 0);
}

json_t *
store_queue_get(struct store *st, const char *id)
{
	return store_row(
		st, "SELECT " QUEUE_COLUMNS " FROM task_queue WHERE id = ?",
		"s", id);
}

json_t *
store_queue_state(struct store *st, const char *id, const char *task_id)
{
	return store_row(st,
			 "SELECT state FROM task_queue WHERE id = ? AND "
			 "task_id = ?",
			 "ss", id, task_id);
}

json_t *
store_queue_list(struct store *st, const char *task_id)
{
	return store_rows(st, NULL,
			  "SELECT " QUEUE_COLUMNS " FROM task_queue WHERE "
			  "task_id = ? ORDER BY seq",
			  "s", task_id);
}

json_t *
store_queue_head(struct store *st, const char *task_id)
{
	return store_row(st,
			 "SELECT id, input FROM task_queue WHERE task_id = ? "
			 "AND state = 'queued' ORDER BY seq LIMIT 1",
			 "s", task_id);
}

int
store_queue_mark_sending(struct store *st, const char *id, int64_t now)
{
	int r = store_exec(st,
			   "UPDATE task_queue SET state = 'sending', sent_at = "
			   "? WHERE id = ? AND state = 'queued'",
			   "is", now, id);

	if (r < 0)
		return r;
	return store_changes(st) == 1 ? 0 : -ENOENT;
}

int
store_queue_requeue(struct store *st, const char *id)
{
	return store_exec(st,
			  "UPDATE task_queue SET state = 'queued' WHERE id = ?",
			  "s", id);
}

int
store_queue_delete(struct store *st, const char *id)
{
	int r = store_exec(st, "DELETE FROM task_queue WHERE id = ?", "s", id);

	if (r < 0)
		return r;
	return store_changes(st) > 0 ? 0 : -ENOENT;
}

int
store_queue_clear(struct store *st, const char *task_id)
{
	return store_exec(st, "DELETE FROM task_queue WHERE task_id = ?", "s",
			  task_id);
}

json_t *
store_queue_sending(struct store *st, const char *replica_id)
{
	return store_rows(st, NULL,
			  "SELECT q.id, t.name FROM task_queue q JOIN tasks t "
			  "ON t.id = q.task_id WHERE q.state = 'sending' AND "
			  "t.replica_id = ?",
			  "s", replica_id);
}

json_t *
store_queue_unsettled(struct store *st, const char *task_id)
{
	return store_rows(st, NULL,
			  "SELECT id, input, sent_at FROM task_queue WHERE "
			  "task_id = ? AND state = 'sending' ORDER BY seq",
			  "s", task_id);
}

int
store_queue_recover(struct store *st)
{
	return store_exec(st,
			  "DELETE FROM task_queue WHERE task_id IN (SELECT "
			  "id FROM tasks WHERE deleted_at IS NOT NULL)",
			  "");
}
