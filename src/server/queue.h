/*
 * queue.h: a task's send queue (queue.c): input sent while the agent is
 * not ready waits in the store, in order, and is delivered at most once
 * when the agent is idle after its last input.
 *
 * api-tasks.c calls tqueue_send/list/cancel for the routes; task.c owns
 * one struct tqueue per live task and tells it what the runtime reports
 * (user input recorded, state changes, the runtime gone, the task
 * deleted).
 */
#ifndef TASKBOX_QUEUE_H
#define TASKBOX_QUEUE_H

struct task;
struct tqueue;
struct http_req;

struct tqueue *tqueue_new(void);
void tqueue_free(struct tqueue *q);

/* POST .../send by user id by: delivered at once (200), queued (202),
 * a waiting dialog's answer (200), or refused: 409 (not running, pausing,
 * deleted, runtime timeout), 422 (not a valid input or answer), 429
 * (queue full), 502 (the runtime failed). */
void tqueue_send(struct task *t, struct http_req *req, const char *input,
		 const char *by);
/* Queue input at the tail and reply 202 (429 when full). */
void tqueue_enqueue(struct task *t, struct http_req *req, const char *input,
		    const char *by);
/* GET .../queue: {entries: [{id, input, created_at, position, state}]}. */
void tqueue_list(struct task *t, struct http_req *req);
/* DELETE .../queue/{id}: 204; 404 when not queued; 409 while sending. */
void tqueue_cancel(struct task *t, struct http_req *req, const char *id);

/* The runtime recorded user input text at when (RFC 3339; a
 * message_update with role user, replays included). */
void tqueue_on_user_input(struct task *t, const char *text, const char *when);
/* current_state changed (task_agent_state): an idle ends the open turn
 * and delivers the next entry. */
void tqueue_on_state(struct task *t);
void tqueue_on_idle(struct task *t);
/* The runtime is gone (stopped, paused, failed; at start, a task not
 * re-attached): its turn flags too, and the entries a stopped server left
 * 'sending' that it never recorded fail (unconfirmed). */
void tqueue_on_stop(struct task *t);
/* The task is deleted: its entries go. */
void tqueue_forget(struct task *t);
/* At server start: entries a stopped server was delivering are logged
 * (settled once the task's runtime is stable, never sent again), entries
 * of deleted tasks removed. */
void tqueue_recover(void);

#endif
