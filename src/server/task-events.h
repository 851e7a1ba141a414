/*
 * task-events.h: GET /api/v2/events, every visible task's changes on one
 * SSE stream (task-events.c).
 */
#ifndef TASKBOX_SERVER_TASK_EVENTS_H
#define TASKBOX_SERVER_TASK_EVENTS_H

#include <jansson.h>
#include <stddef.h>

struct http_req;
struct task;

#define TASK_EVENTS_PER_USER 16		/* streams one user may hold */
#define TASK_EVENTS_MAX	     1024	/* streams on the server */
#define TASK_EVENTS_QUEUE    (1u << 20) /* unsent bytes before a drop */

/*
 * Turn req into an events stream for caller (auth_user's row) showing
 * the tasks of owner_id (NULL: any owner's; "" matches nobody) that
 * auth_may_access_task lets caller see. Replies 429 instead when the
 * user or the server holds its limit of streams. What it needs of
 * caller and owner_id is copied.
 */
void task_events_open(struct http_req *req, const json_t *caller,
		      const char *owner_id);
/* User user_id's credentials, role or status may have changed (NULL:
 * anyone's): end each of their streams that auth would not let in now. */
void task_events_recheck(const char *user_id);
/* Task t changed (or appeared): its Task goes out at the next flush. */
void task_events_mark(struct task *t);
/* Task t is being freed (deleted here or on its replica): task_deleted
 * goes out now and a pending change is forgotten. */
void task_events_gone(struct task *t);
/* Send the Task of every task marked since the last flush (the loop's
 * prepare hook: the changes of one loop turn make one event per task). */
void task_events_flush(void);
/* Streams open now (the metrics). */
size_t task_events_streams(void);

#endif
