/*
 * task-events.c: GET /api/v2/events, the changes of every task a caller
 * may see on one SSE stream (the web app's live task list).
 *
 * Data model: the open streams are a list of struct events_sub, each
 * with the user holding it (for the per-user limit and, with its role,
 * for auth_may_access_task: what it may see) and the owner whose tasks
 * it shows (NULL: every task the user may see). A change of a
 * task (task_changed(), which every broadcast calls, and a new task)
 * only marks it: marked tasks sit in a list threaded through struct task
 * (events_next, events_marked), and the loop's prepare hook
 * (task_events_flush) sends each one's Task JSON, its kept text
 * (task_json_text), once to every stream that shows it, so the changes
 * of one loop turn make one event per task. A freed task (deleted here,
 * or on the replica that runs it) leaves the list and sends
 * task_deleted {id} at once. Nothing is marked while no stream is open.
 *
 * A stream keeps what let it in: the hash of the caller's credential,
 * the caller's role, and the credential's expiry. When a user's
 * credentials, role or status may have changed (auth.c forgets their
 * cached rows: task_events_recheck) each of their streams asks the
 * store again and ends if the credential is gone or expired, the user
 * suspended, or their role changed (what they may see changed with
 * it, unless the stream shows their own tasks only); a stream past its
 * expiry ends at its next event. The client reconnects and is
 * authenticated again.
 *
 * Limits: TASK_EVENTS_PER_USER streams per user and TASK_EVENTS_MAX on
 * the server (429 past either); a stream whose unsent bytes pass
 * TASK_EVENTS_QUEUE is ended by the HTTP layer (the client reconnects
 * and reloads the list). The HTTP layer's heartbeat sends a comment
 * every 15 s.
 */
#include "common.h"

#include "http/http.h"
#include "server.h"
#include "server/task-events.h"
#include "server/task-int.h"

struct events_sub {
	struct http_sse *sse;
	char *user_id;
	json_t *viewer;	    /* {id, role}: the caller as it opened */
	char *owner_id;	    /* NULL: every task the viewer may see */
	char hash[65];	    /* the credential's (auth_recheck) */
	bool cookie;	    /* hash is a session's */
	int64_t expires_at; /* the credential's expiry (ms; 0: never) */
	struct events_sub *next;
};

static struct events_sub *events_subs;
static size_t events_nsubs;
static struct task *events_marked; /* threaded through events_next */

size_t
task_events_streams(void)
{
	return events_nsubs;
}

/* The HTTP layer ended sub's stream: unlink and free it. */
static void
task_events_closed(struct http_sse *sse UNUSED, void *data)
{
	struct events_sub *sub = data, **pp;

	for (pp = &events_subs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == sub) {
			*pp = sub->next;
			events_nsubs--;
			break;
		}
	}
	free(sub->user_id);
	json_decref(sub->viewer);
	free(sub->owner_id);
	free(sub);
}

/* The earlier of the credential expiries in caller (ms; 0: never). */
static int64_t
task_events_expiry(const json_t *caller)
{
	static const char *const keys[] = {"token_expires_at",
					   "session_expires_at"};
	int64_t at = 0;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const json_t *v = json_object_get(caller, keys[i]);

		if (json_is_integer(v) &&
		    (at == 0 || json_integer_value(v) < at))
			at = json_integer_value(v);
	}
	return at;
}

void
task_events_open(struct http_req *req, const json_t *caller,
		 const char *owner_id)
{
	const char *user_id = json_string_value(json_object_get(caller, "id"));
	const char *hash =
		json_string_value(json_object_get(caller, "auth_hash"));
	struct events_sub *sub;
	size_t mine = 0;

	BUG_ON(user_id == NULL || hash == NULL);

	for (sub = events_subs; sub != NULL; sub = sub->next)
		mine += strcmp(sub->user_id, user_id) == 0;
	if (mine >= TASK_EVENTS_PER_USER) {
		http_reply_problem(req, 429,
				   "too many event streams for this user "
				   "(limit %d)",
				   TASK_EVENTS_PER_USER);
		return;
	}
	if (events_nsubs >= TASK_EVENTS_MAX) {
		http_reply_problem(req, 429,
				   "too many event streams (limit %d)",
				   TASK_EVENTS_MAX);
		return;
	}
	sub = xcalloc(1, sizeof *sub);
	sub->user_id = xstrdup(user_id);
	sub->owner_id = owner_id ? xstrdup(owner_id) : NULL;
	snprintf(sub->hash, sizeof sub->hash, "%s", hash);
	sub->cookie = json_object_get(caller, "session_id") != NULL;
	sub->viewer = json_pack(
		"{s:s, s:s}", "id", user_id, "role",
		json_string_value(json_object_get(caller, "role")) ?: "");
	sub->expires_at = task_events_expiry(caller);
	sub->sse =
		http_sse_start(req, TASK_EVENTS_QUEUE, task_events_closed, sub);
	sub->next = events_subs;
	events_subs = sub;
	events_nsubs++;
}

/* Send event (its data) to every stream that shows t's owner's tasks. */
static void
task_events_send(struct task *t, const char *event, const char *data)
{
	const char *owner = task_owner_id(t), *by = task_created_by(t);
	int64_t now = (int64_t)wall_ms();

	for (struct events_sub *s = events_subs; s != NULL; s = s->next) {
		if (s->expires_at != 0 && s->expires_at <= now) {
			http_sse_end(s->sse); /* the credential expired */
			continue;
		}
		if ((s->owner_id == NULL ||
		     (owner != NULL && strcmp(s->owner_id, owner) == 0)) &&
		    auth_may_access_task(s->viewer, owner, by))
			http_sse_send(s->sse, event, data);
	}
}

void
task_events_recheck(const char *user_id)
{
	struct events_sub *s, *next;
	json_t *row;
	bool ok;

	for (s = events_subs; s != NULL; s = next) {
		next = s->next;
		if (user_id != NULL && strcmp(s->user_id, user_id) != 0)
			continue;
		row = auth_recheck(s->hash, s->cookie);
		/* a stream of the caller's own tasks shows the same under
		 * any role */
		ok = row != NULL &&
		     (json_equal(json_object_get(row, "role"),
				 json_object_get(s->viewer, "role")) ||
		      (s->owner_id != NULL &&
		       strcmp(s->owner_id, s->user_id) == 0));
		json_decref(row);
		if (!ok)
			http_sse_end(s->sse);
	}
	task_subs_recheck(user_id); /* and each task's own streams */
}

void
task_events_mark(struct task *t)
{
	if (events_subs == NULL || t->events_marked)
		return;
	t->events_marked = true;
	t->events_next = events_marked;
	events_marked = t;
}

void
task_events_gone(struct task *t)
{
	json_t *j;
	char *s;

	if (t->events_marked) {
		struct task **pp = &events_marked;

		while (*pp != t)
			pp = &(*pp)->events_next;
		*pp = t->events_next;
		t->events_marked = false;
	}
	if (events_subs == NULL)
		return;
	j = json_pack("{s:s}", "id", task_id(t));
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s == NULL)
		fatal("out of memory");
	task_events_send(t, "task_deleted", s);
	free(s);
}

void
task_events_flush(void)
{
	while (events_marked != NULL) {
		struct task *t = events_marked;
		size_t len;

		events_marked = t->events_next;
		t->events_marked = false;
		t->events_next = NULL;
		if (events_subs != NULL)
			task_events_send(t, "task", task_json_text(t, &len));
	}
}
