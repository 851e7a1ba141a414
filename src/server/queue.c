/*
 * queue.c: the send queue of a task (POST .../send, GET .../queue,
 * DELETE .../queue/{id}).
 *
 * Input sent to a task whose agent is not ready (still starting, working,
 * or an earlier entry waits) is kept in order, at most QUEUE_MAX entries
 * per task, in the store's task_queue table, and handed to the runtime
 * (its POST /message) one at a time when the agent is ready: the task is
 * active, its current_state is idle, and the turn of the last input
 * ended (an idle seen after the runtime recorded that input).
 *
 * Data model, per task (struct tqueue, owned by the task):
 *   length      entries queued or sending, a mirror of the store
 *   sending     the entry being handed to the runtime, or NULL; at most one
 *   turn_open   the runtime recorded user input and no idle came since
 *   replies     the inputs (entries, dialog answers) whose reply, the next
 *               idle, is awaited: one, or a few when a dialog came between;
 *               the oldest of more than QUEUE_REPLIES gets `reply_lost`
 *   unsettled   entries a stopped server left 'sending' ({id, input,
 *               sent_at} rows, loaded with length), settled against the
 *               runtime's transcript before anything else is delivered
 *
 * Delivery is at most once, as the prompt is: an entry is marked 'sending'
 * (with its sent_at) in the store before the runtime is asked and deleted
 * once it answered. The runtime's 409s say why (their "reason"): busy or
 * waiting proves nothing was written, and the entry goes back to the head;
 * conversation_full fails it for good (`failed`, the next one is tried);
 * any other failure drops it with a `failed` event too. A server that
 * stops in between finds 'sending' entries at start and never sends them
 * again: once the task's runtime is stable (idle or waiting, so not
 * mid-send), an entry whose text the runtime recorded as a user message
 * since its sent_at was delivered (`delivered`, then its reply), any
 * other failed, unconfirmed; so is every one when the runtime stops
 * first, or when the task is not re-attached at start.
 *
 * A waiting dialog is never answered by a queued entry: the queue holds
 * while the state is waiting, and a delivery carries "if_idle": true, so
 * a runtime whose dialog opened after the idle we saw answers 409 (the
 * entry goes back to the head) instead of taking it as the answer. A task
 * that is pausing or being deleted gets no delivery and refuses sends.
 * Input sent while the agent waits goes to the runtime as the answer; an
 * answer the runtime refuses as not one of the dialog's options fails
 * with that 409 (never queued), one it refuses as busy (the dialog
 * closed meanwhile) is queued like any other input.
 *
 * Every change is published on the task's SSE stream as a `queue` event:
 * {op: queued|delivered|cancelled|failed|replied|reply_lost, id, ...};
 * failed carries a reason and a code (conversation_full, unconfirmed,
 * error).
 */
#include "common.h"

#include "core/log.h"
#include "http/client.h"
#include "http/http.h"
#include "server.h"
#include "server/queue.h"
#include "server/replica.h"
#include "store/store-rows.h"

#define QUEUE_MAX     32
#define QUEUE_REPLIES 4

struct tqueue {
	unsigned length;
	char *sending;	   /* id of the entry being delivered */
	bool turn_open;	   /* user input recorded, no idle since */
	unsigned users;	   /* user inputs the runtime recorded */
	unsigned users_at; /* ... when the delivery in flight started */
	char *replies[QUEUE_REPLIES]; /* ids awaiting the next idle */
	bool loaded;		      /* length was read from the store */
	json_t *unsettled; /* rows left 'sending' by a stopped server */
};

/* One delivery in flight: the runtime's answer finds the task again by
 * id (it may be gone meanwhile). */
struct tqueue_call {
	char *task_id;
	char *entry_id;
	struct http_req *req; /* the send waiting on an immediate delivery */
	bool answer;	      /* a dialog answer, not a stored entry */
	char *input;	      /* an answer's text, queued if refused */
	char *by;	      /* ... and who sent it */
};

static void tqueue_pump(struct task *t);
static void tqueue_replies_publish(struct task *t);

/* ---- small helpers ------------------------------------------------------ */

/* Forget the inputs awaiting a reply. */
static void
tqueue_replies_clear(struct tqueue *q)
{
	for (size_t i = 0; i < QUEUE_REPLIES; i++) {
		free(q->replies[i]);
		q->replies[i] = NULL;
	}
}

static struct tqueue *tqueue_of(struct task *t);
static void tqueue_publish(struct task *t, json_t *j);

/* Await the reply to input id of t; when QUEUE_REPLIES are awaited
 * already, the oldest gets `reply_lost` (its waiter is told, never left
 * waiting). */
static void
tqueue_replies_add(struct task *t, const char *id)
{
	struct tqueue *q = tqueue_of(t);

	if (q->replies[0] != NULL)
		tqueue_publish(t,
			       json_pack("{s:s, s:s, s:s}", "op", "reply_lost",
					 "id", q->replies[0], "reason",
					 "more inputs were answered before "
					 "its reply came; its reply is no "
					 "longer kept (see the task's logs)"));
	free(q->replies[0]);
	memmove(q->replies, q->replies + 1,
		(QUEUE_REPLIES - 1) * sizeof q->replies[0]);
	q->replies[QUEUE_REPLIES - 1] = xstrdup(id);
}

struct tqueue *
tqueue_new(void)
{
	return xcalloc(1, sizeof(struct tqueue));
}

void
tqueue_free(struct tqueue *q)
{
	if (q == NULL)
		return;
	free(q->sending);
	tqueue_replies_clear(q);
	json_decref(q->unsettled);
	free(q);
}

/* The task's queue, its length loaded from the store once (loaded stays
 * false while the store fails: the bound is never checked against a
 * length it could not read). */
static struct tqueue *
tqueue_of(struct task *t)
{
	struct tqueue *q = task_queue(t);

	if (!q->loaded) {
		int64_t n = store_queue_length(srv->store, task_id(t));

		/* read once, before this server delivers anything: every
		 * 'sending' entry then is a stopped server's */
		if (n >= 0 && q->unsettled == NULL)
			q->unsettled =
				store_queue_unsettled(srv->store, task_id(t));
		if (n >= 0 && q->unsettled != NULL) {
			q->length = (unsigned)n;
			q->loaded = true;
		} else {
			log_warn("task %s: cannot read its send queue",
				 task_name_of(t));
		}
	}
	return q;
}

/* Publish a `queue` event on t's stream; takes ownership of j. */
static void
tqueue_publish(struct task *t, json_t *j)
{
	char *s;

	json_object_set_new(j, "length",
			    json_integer((json_int_t)tqueue_of(t)->length));
	s = json_dumps(j, JSON_COMPACT);
	if (s != NULL)
		task_publish_event(t, "queue", s);
	free(s);
	json_decref(j);
}

/* 1-based position of entry id among t's entries (0: not queued). */
static unsigned
tqueue_position(struct task *t, const char *id)
{
	return (unsigned)store_queue_position(srv->store, id, task_id(t));
}

/* The Entry JSON of a stored row (new reference). */
static json_t *
tqueue_entry_json(const json_t *row, unsigned position)
{
	char stamp[32];

	time_rfc3339((uint64_t)json_integer_value(
			     json_object_get(row, "created_at")),
		     stamp);
	return json_pack("{s:O, s:O, s:s, s:I, s:s}", "id",
			 json_object_get(row, "id"), "input",
			 json_object_get(row, "input"), "created_at", stamp,
			 "position", (json_int_t)position, "state",
			 json_string_value(json_object_get(row, "state")));
}

/* Is the agent ready for the next entry? Never while the store could not
 * be read: the entries a stopped server left 'sending' are unknown, and
 * one read later would take this server's own delivery for theirs. */
static bool
tqueue_ready(struct task *t)
{
	struct tqueue *q = tqueue_of(t);

	return q->loaded && q->sending == NULL && !q->turn_open &&
	       json_array_size(q->unsettled) == 0 &&
	       strcmp(task_status(t), "active") == 0 &&
	       task_stopping(t) == NULL && task_runtime_socket(t) != NULL &&
	       strcmp(task_agent_state(t), "idle") == 0;
}

/* Store a new entry at the tail (state 'queued' or 'sending'); its id in
 * id[37]. Negative errno. */
static int
tqueue_insert(struct task *t, const char *input, const char *by,
	      const char *state, char id[37])
{
	int r;

	store_uuid(id);
	r = store_queue_push(srv->store, id, task_id(t), input, state, by,
			     (int64_t)wall_ms());
	if (r == 0)
		tqueue_of(t)->length++;
	return r;
}

/* Remove entry id of t from the store (delivered, dropped, cancelled). */
static void
tqueue_remove(struct task *t, const char *id)
{
	struct tqueue *q = tqueue_of(t);
	int r = store_queue_delete(srv->store, id);

	if (r < 0 && r != -ENOENT) {
		/* the row stays; the length is read again */
		log_warn("task %s: cannot remove queued input %s",
			 task_name_of(t), id);
		q->loaded = false;
		return;
	}
	if (r == 0 && q->length > 0)
		q->length--;
}

/* ---- delivery ------------------------------------------------------------ */

static void tqueue_on_sent(int status, json_t *reply, int err, void *data);

/* Hand input to the runtime: the stored entry id, or (answer_by set) an
 * answer to the dialog by that user under a new id; req is the send
 * waiting for the outcome (or NULL). */
static void
tqueue_deliver(struct task *t, const char *id, const char *input,
	       const char *answer_by, struct http_req *req)
{
	struct tqueue *q = tqueue_of(t);
	struct tqueue_call *c = xcalloc(1, sizeof *c);
	/* if_idle: input for the idle agent; a dialog that opened since
	 * the state was idle gets 409 (requeued), not this as its answer */
	json_t *body = json_pack("{s:s, s:s, s:b}", "content", input, "type",
				 "user", "if_idle", answer_by == NULL);

	c->task_id = xstrdup(task_id(t));
	c->entry_id = xstrdup(id);
	c->req = req;
	c->answer = answer_by != NULL;
	if (c->answer) {
		c->input = xstrdup(input);
		c->by = xstrdup(answer_by);
	} else {
		free(q->sending);
		q->sending = xstrdup(id);
		q->users_at = q->users;
	}
	if (req != NULL)
		http_req_defer(req);
	hclient_json(srv->loop, task_runtime_socket(t), "POST", "/message",
		     body, task_peer_ok, t, tqueue_on_sent, c);
	json_decref(body);
}

/* The runtime took entry id: forget it, await its reply. */
static void
tqueue_delivered(struct task *t, const char *id)
{
	struct tqueue *q = tqueue_of(t);

	tqueue_remove(t, id);
	tqueue_replies_add(t, id);
	log_info("task %s: queued input %s delivered", task_name_of(t), id);
	tqueue_publish(t, json_pack("{s:s, s:s}", "op", "delivered", "id", id));
	/* the whole turn may have gone by before this answer came: the
	 * input was recorded, and an idle since (tqueue_on_idle left the
	 * replies for us) */
	if (q->users > q->users_at && !q->turn_open &&
	    strcmp(task_agent_state(t), "idle") == 0) {
		tqueue_replies_publish(t);
		tqueue_on_idle(t);
	}
}

/* Put entry id back at the head: the runtime did not take it. */
static void
tqueue_requeue(struct task *t, const char *id)
{
	if (store_queue_requeue(srv->store, id) < 0)
		/* left 'sending': never pumped, and settled by the next
		 * server start (failed unless the runtime recorded it) */
		log_warn("task %s: cannot put queued input %s back",
			 task_name_of(t), id);
}

/* Fail entry id of t for good (removed, a `failed` event with why and
 * code): it is never delivered. */
static void
tqueue_fail(struct task *t, const char *id, const char *why, const char *code)
{
	tqueue_remove(t, id);
	log_warn("task %s: queued input %s dropped: %s", task_name_of(t), id,
		 why);
	tqueue_publish(t, json_pack("{s:s, s:s, s:s, s:s}", "op", "failed",
				    "id", id, "reason", why, "code", code));
}

/* The runtime answered a delivery (status, or err < 0). */
static void
tqueue_on_sent(int status, json_t *reply, int err, void *data)
{
	struct tqueue_call *c = data;
	struct task *t = task_find_id(c->task_id);
	struct tqueue *q = t ? tqueue_of(t) : NULL;
	const char *detail =
		json_string_value(json_object_get(reply, "detail"));
	/* runtime/api.c says why it refused (409): busy, waiting,
	 * not_an_option, conversation_full */
	const char *reason =
		err == 0 && status == 409
			? json_string_value(json_object_get(reply, "reason"))
			: NULL;
	bool refused = err == 0 && status == 409;
	bool full = refused && reason != NULL &&
		    strcmp(reason, "conversation_full") == 0;
	bool not_option = refused && reason != NULL &&
			  strcmp(reason, "not_an_option") == 0;
	/* nothing reached the agent: refused before any byte was written */
	bool untouched = err == -ECONNREFUSED || refused;
	bool pump = !c->answer;
	char *why = NULL;

	if (q != NULL && !c->answer) {
		free(q->sending);
		q->sending = NULL;
	}
	if (t != NULL && task_stopping(t) != NULL &&
	    strcmp(task_stopping(t), "being deleted") == 0)
		t = NULL; /* its entries go with it */
	if (t == NULL) {
		if (c->req != NULL)
			http_reply_problem(c->req, 409,
					   "the task was deleted meanwhile");
		goto out;
	}
	if (err == 0 && status == 200) {
		if (c->answer) {
			/* the dialog closes; what follows is the reply */
			q->turn_open = true;
			tqueue_replies_add(t, c->entry_id);
			/* the state was waiting when it was sent: an idle
			 * now came after it */
			if (strcmp(task_agent_state(t), "idle") == 0)
				tqueue_on_idle(t);
		} else {
			tqueue_delivered(t, c->entry_id);
		}
		if (c->req != NULL)
			http_reply_json(c->req, 200,
					json_pack("{s:s, s:s}", "id",
						  c->entry_id, "status",
						  c->answer ? "answered"
							    : "delivered"));
		goto out;
	}
	why = err < 0 ? xasprintf("the agent runtime did not answer: %s",
				  strerror(-err))
		      : xasprintf("%s",
				  detail ? detail : "the agent refused it");
	if (full || (not_option && c->answer)) {
		/* for good: the conversation takes no more input, or the
		 * answer is none of the dialog's options */
		if (!c->answer)
			tqueue_fail(t, c->entry_id, why, reason);
		if (c->req != NULL)
			http_reply_problem_reason(c->req, 409, reason, "%s",
						  why);
		goto out;
	}
	if (untouched && !c->answer) {
		unsigned pos;

		tqueue_requeue(t, c->entry_id);
		pos = tqueue_position(t, c->entry_id);
		if (c->req != NULL) {
			json_t *row = store_queue_get(srv->store, c->entry_id);

			tqueue_publish(t,
				       json_pack("{s:s, s:o}", "op", "queued",
						 "entry",
						 tqueue_entry_json(row, pos)));
			json_decref(row);
			http_reply_json(c->req, 202,
					json_pack("{s:s, s:s, s:I}", "id",
						  c->entry_id, "status",
						  "queued", "position",
						  (json_int_t)pos));
		}
		/* the runtime's next state change tries again; not now, or a
		 * runtime that keeps refusing would be asked in a loop */
		pump = false;
		goto out;
	}
	if (c->answer && refused && c->req != NULL) {
		/* busy: the dialog closed meanwhile; queue it behind the
		 * others */
		tqueue_enqueue(t, c->req, c->input, c->by);
		goto out;
	}
	if (!c->answer)
		/* some of it may have reached the agent: never again */
		tqueue_fail(t, c->entry_id, why, "error");
	if (c->req != NULL)
		http_reply_problem(c->req,
				   err < 0	   ? 502
				   : status == 422 ? 422
				   : status == 504 ? 409
						   : 502,
				   "%s", why);
out:
	if (t != NULL && pump)
		tqueue_pump(t);
	free(why);
	free(c->task_id);
	free(c->entry_id);
	free(c->input);
	free(c->by);
	free(c);
}

/* Deliver the head entry if the agent is ready. */
static void
tqueue_pump(struct task *t)
{
	struct tqueue *q;
	json_t *row;
	const char *id;
	int r;

	if (!tqueue_ready(t) || (q = tqueue_of(t))->length == 0)
		return;
	row = store_queue_head(srv->store, task_id(t));
	id = json_string_value(json_object_get(row, "id"));
	if (id == NULL) {
		json_decref(row);
		return;
	}
	/* committed before the runtime is asked: a crash cannot replay it */
	r = store_queue_mark_sending(srv->store, id, (int64_t)wall_ms());
	if (r < 0 && r != -ENOENT)
		log_warn("task %s: cannot mark queued input %s for delivery: "
			 "%s",
			 task_name_of(t), id, strerror(-r));
	else if (r == 0)
		tqueue_deliver(t, id,
			       json_string_value(json_object_get(row, "input")),
			       NULL, NULL);
	json_decref(row);
}

/* ---- events from the task ------------------------------------------- */

void
tqueue_on_user_input(struct task *t, const char *text, const char *when)
{
	struct tqueue *q = tqueue_of(t);
	uint64_t when_ms;
	int64_t at = when != NULL && time_parse_rfc3339(when, &when_ms) == 0
			     ? (int64_t)when_ms
			     : -1;
	json_t *row;
	size_t i;

	q->users++;
	q->turn_open = true;
	/* an entry a stopped server was sending: recorded since it was
	 * sent, so the runtime took it (replays come before the state) */
	json_array_foreach(q->unsettled, i, row)
	{
		const char *id = json_string_value(json_object_get(row, "id"));
		char *copy;

		json_int_t sent_at =
			json_integer_value(json_object_get(row, "sent_at"));

		/* sent_at 0: left by a server before migration 13, when
		 * it was sent is unknown (an older message of the same
		 * text is no proof): never confirmed */
		if (text == NULL || at < 0 || sent_at <= 0 || at < sent_at ||
		    strcmp(text, json_string_value(
					 json_object_get(row, "input"))) != 0)
			continue;
		copy = xstrdup(id);
		json_array_remove(q->unsettled, i);
		tqueue_remove(t, copy);
		tqueue_replies_add(t, copy);
		log_info("task %s: queued input %s was delivered before the "
			 "server restarted",
			 task_name_of(t), copy);
		tqueue_publish(t, json_pack("{s:s, s:s}", "op", "delivered",
					    "id", copy));
		free(copy);
		break;
	}
}

/* The runtime is stable (idle or waiting: not mid-send) and its
 * transcript was replayed: the entries left unsettled were never
 * recorded, so they fail (never sent again). */
static void
tqueue_settle(struct task *t)
{
	struct tqueue *q = tqueue_of(t);
	json_t *row;
	size_t i;

	json_array_foreach(q->unsettled, i, row)
		tqueue_fail(t, json_string_value(json_object_get(row, "id")),
			    "the server restarted while delivering it; not "
			    "confirmed",
			    "unconfirmed");
	json_array_clear(q->unsettled);
}

/* The turn ended: publish the reply (the last agent message) to each
 * input awaiting one. */
static void
tqueue_replies_publish(struct task *t)
{
	struct tqueue *q = tqueue_of(t);
	const char *msg = task_last_message(t);

	for (size_t i = 0; i < QUEUE_REPLIES; i++) {
		if (q->replies[i] == NULL)
			continue;
		tqueue_publish(t, json_pack("{s:s, s:s, s:s}", "op", "replied",
					    "id", q->replies[i], "message",
					    msg ? msg : ""));
	}
	tqueue_replies_clear(q);
}

void
tqueue_on_idle(struct task *t)
{
	struct tqueue *q = tqueue_of(t);

	/* while an entry is sending, its id is not among the replies yet:
	 * tqueue_delivered publishes them when the runtime answers */
	if (q->turn_open && q->sending == NULL)
		tqueue_replies_publish(t);
	q->turn_open = false;
	tqueue_pump(t);
}

void
tqueue_on_state(struct task *t)
{
	const char *state = task_agent_state(t);

	if (strcmp(state, "idle") == 0 || strcmp(state, "waiting") == 0)
		tqueue_settle(t);
	if (strcmp(state, "idle") == 0)
		tqueue_on_idle(t);
}

void
tqueue_on_stop(struct task *t)
{
	struct tqueue *q = tqueue_of(t);

	/* entries a stopped server left: this runtime never recorded them
	 * (its replay came first), and it can no longer */
	tqueue_settle(t);
	/* a new runtime replays its transcript: the flags come back */
	q->turn_open = false;
	q->users = q->users_at = 0;
	tqueue_replies_clear(q);
}

void
tqueue_forget(struct task *t)
{
	if (store_queue_clear(srv->store, task_id(t)) < 0)
		/* removed with the task's rows, or at the next start */
		log_warn("task %s: cannot remove its queued input",
			 task_name_of(t));
	tqueue_of(t)->length = 0;
	json_array_clear(tqueue_of(t)->unsettled);
}

void
tqueue_recover(void)
{
	json_t *rows = store_queue_sending(srv->store, replica_self()), *row;
	size_t i;

	json_array_foreach(rows, i, row)
		log_warn("task %s: queued input %s was being delivered when "
			 "the server stopped; it is not sent again, and is "
			 "settled against the agent's transcript",
			 json_string_value(json_object_get(row, "name")),
			 json_string_value(json_object_get(row, "id")));
	if (store_queue_recover(srv->store) < 0)
		log_warn("cannot clean up the send queue at start");
	json_decref(rows);
}

/* ---- the API -------------------------------------------------------- */

void
tqueue_enqueue(struct task *t, struct http_req *req, const char *input,
	       const char *by)
{
	struct tqueue *q = tqueue_of(t);
	char id[37];
	json_t *row;
	unsigned pos;

	if (!q->loaded) {
		http_reply_problem(req, 500, "cannot read the task's queue");
		return;
	}
	if (q->length >= QUEUE_MAX) {
		http_reply_problem(req, 429,
				   "the task's queue holds the maximum of %d "
				   "inputs; wait for the agent or cancel one "
				   "(GET .../queue)",
				   QUEUE_MAX);
		return;
	}
	if (tqueue_insert(t, input, by, "queued", id) < 0) {
		http_reply_problem(req, 500, "cannot store the input");
		return;
	}
	pos = tqueue_position(t, id);
	row = store_queue_get(srv->store, id);
	tqueue_publish(t, json_pack("{s:s, s:o}", "op", "queued", "entry",
				    tqueue_entry_json(row, pos)));
	json_decref(row);
	log_info("task %s: input %s queued at %u", task_name_of(t), id, pos);
	http_reply_json(req, 202,
			json_pack("{s:s, s:s, s:I}", "id", id, "status",
				  "queued", "position", (json_int_t)pos));
	tqueue_pump(t);
}

void
tqueue_send(struct task *t, struct http_req *req, const char *input,
	    const char *by)
{
	struct tqueue *q = tqueue_of(t);
	const char *status = task_status(t);
	char id[37];

	if (task_stopping(t) != NULL) {
		http_reply_problem(req, 409, "the task is %s",
				   task_stopping(t));
		return;
	}
	if (strcmp(status, "active") != 0 && strcmp(status, "pending") != 0 &&
	    strcmp(status, "initializing") != 0) {
		http_reply_problem(req, 409,
				   "the task is %s; input can only be sent to "
				   "a task that is starting or active%s",
				   status,
				   strcmp(status, "paused") == 0
					   ? " (resume it first)"
					   : "");
		return;
	}
	if (strcmp(task_agent_state(t), "waiting") == 0 &&
	    task_runtime_socket(t) != NULL && q->sending == NULL) {
		/* an explicit answer to the dialog (or queued if it is not) */
		store_uuid(id);
		tqueue_deliver(t, id, input, by, req);
		return;
	}
	if (q->length > 0 || !tqueue_ready(t)) {
		tqueue_enqueue(t, req, input, by);
		return;
	}
	/* idle and nothing waits: deliver at once, stored as 'sending' */
	if (tqueue_insert(t, input, by, "sending", id) < 0) {
		http_reply_problem(req, 500, "cannot store the input");
		return;
	}
	tqueue_deliver(t, id, input, NULL, req);
}

void
tqueue_list(struct task *t, struct http_req *req)
{
	json_t *rows = store_queue_list(srv->store, task_id(t));
	json_t *out = json_array(), *row;
	size_t i;

	json_array_foreach(rows, i, row) json_array_append_new(
		out, tqueue_entry_json(row, (unsigned)i + 1));
	json_decref(rows);
	http_reply_json(req, 200,
			json_pack("{s:o, s:I, s:I}", "entries", out, "count",
				  (json_int_t)json_array_size(out), "max",
				  (json_int_t)QUEUE_MAX));
}

void
tqueue_cancel(struct task *t, struct http_req *req, const char *id)
{
	json_t *row = store_queue_state(srv->store, id, task_id(t));
	const char *state = json_string_value(json_object_get(row, "state"));

	if (state == NULL) {
		http_reply_problem(req, 404,
				   "no queued input '%s' (delivered, cancelled "
				   "or never queued)",
				   id);
	} else if (strcmp(state, "sending") == 0) {
		http_reply_problem(req, 409,
				   "input '%s' is being delivered to the agent",
				   id);
	} else {
		tqueue_remove(t, id);
		tqueue_publish(t, json_pack("{s:s, s:s}", "op", "cancelled",
					    "id", id));
		http_reply(req, 204, NULL, "", 0);
	}
	json_decref(row);
}
