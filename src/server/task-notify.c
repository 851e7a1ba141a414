/*
 * task-notify.c: what hangs off a change of a task's current_state.
 *
 * A resting agent (idle, waiting) starts the template's idle timer,
 * which pauses the task; working stops it. A change to anything but
 * working is posted to the template's and the owner's webhooks, each by
 * a `taskbox webhook-post` child (at most two per task and 64 in all;
 * past that the latest state goes out when a sender finishes).
 */
#include "common.h"

#include <fcntl.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/log.h"
#include "core/proc.h"
#include "server.h"
#include "server/task-int.h"
#include "store/store-rows.h"

void
task_on_idle_timeout(void *data)
{
	struct task *t = data;
	const char *state =
		json_string_value(json_object_get(t->state, "state"));

	if (t->st != TASK_STATE_ACTIVE || t->ws == NULL || state == NULL ||
	    (strcmp(state, "idle") != 0 && strcmp(state, "waiting") != 0))
		return;
	log_info("task %s: idle for %lld s: pausing", task_name(t),
		 (long long)json_integer_value(
			 json_object_get(json_object_get(t->tmpl, "workspace"),
					 "idle_timeout_s")));
	task_stop_gracefully(t);
}

/* A running `taskbox webhook-post`. */
struct webhook_child {
	struct proc *proc;
	char *task_id;
};

static unsigned webhook_children;
#define WEBHOOK_CHILDREN_MAX 64

/* A sender finished (proc_exit_cb): send what waited meanwhile. */
static void
webhook_on_exit(struct proc *p, int status UNUSED, void *data)
{
	struct webhook_child *w = data;
	struct task *t = task_find_id(w->task_id);

	proc_free(p); /* deferred until the reap after this callback */
	webhook_children--;
	if (t != NULL) {
		t->webhooks--;
		if (t->webhook_pending && t->webhooks == 0 &&
		    t->state != NULL) {
			t->webhook_pending = false;
			task_notify(
				t,
				json_string_value(json_object_get(
					json_object_get(t->tmpl, "workspace"),
					"webhook")),
				NULL);
		}
	}
	free(w->task_id);
	free(w);
}

/* POST the state change to a webhook, from a child; private_ok lets it
 * reach private ranges (an admin's webhook). */
static void
task_webhook(struct task *t, const char *url, const char *previous,
	     bool private_ok)
{
	char *argv[] = {srv->exe, "webhook-post",
			private_ok ? "--private-ok" : (char *)url,
			private_ok ? (char *)url : NULL, NULL};
	json_t *payload;
	char *text, *link;
	int in[2];
	struct webhook_child *w = NULL;
	struct proc_spec spec = {0};
	struct proc *proc;
	char *cause = NULL;

	if (t->webhooks >= TASK_WEBHOOKS_MAX ||
	    webhook_children >= WEBHOOK_CHILDREN_MAX) {
		/* senders still busy (a slow receiver, a flapping agent):
		 * the latest state goes out when one finishes */
		t->webhook_pending = true;
		return;
	}
	link = xasprintf(
		"%s/@%s/%s/apps/chat/", srv->url ? srv->url : "",
		json_string_value(json_object_get(t->row, "owner_name")),
		task_name(t));
	payload = json_pack("{s:s, s:{s:s, s:s, s:O, s:s}, s:O, s:s?, s:s}",
			    "event", "task.state", "task", "id", task_id(t),
			    "name", task_name(t), "owner",
			    json_object_get(t->row, "owner_name"), "status",
			    t->view.status, "state", t->state, "previous_state",
			    previous, "link", link);
	text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	free(link);
	if (text == NULL || pipe2(in, O_CLOEXEC) < 0) {
		free(text);
		return;
	}
	spec.argv = argv;
	spec.fd_in = in[0];
	if (proc_spawn(&spec, &proc, NULL, &cause) < 0) {
		log_warn("task %s: cannot run the webhook sender: %s",
			 task_name(t), cause);
		free(cause);
	} else {
		w = xcalloc(1, sizeof *w);
		w->proc = proc;
		w->task_id = xstrdup(task_id(t));
		proc_watch(proc, srv->loop, webhook_on_exit, w);
		t->webhooks++;
		webhook_children++;
	}
	close(in[0]);
	/* the payload is far below the pipe's buffer: never blocks; no
	 * sender, no reader */
	if (w != NULL && write_all(in[1], text, strlen(text)) < 0)
		log_warn("task %s: webhook payload: %s", task_name(t),
			 strerror(errno));
	close(in[1]);
	free(text);
}

/* Send the change to the template's webhook and the owner's. */
void
task_notify(struct task *t, const char *tmpl_hook, const char *previous)
{
	json_t *owner = store_user_webhook(srv->store, task_owner_id(t));
	const char *user_hook =
		json_string_value(json_object_get(owner, "webhook_url"));

	if (tmpl_hook != NULL)
		task_webhook(t, tmpl_hook, previous, task_by_admin(t));
	if (user_hook != NULL && *user_hook != '\0' &&
	    (tmpl_hook == NULL || strcmp(user_hook, tmpl_hook) != 0))
		task_webhook(t, user_hook, previous, auth_is_admin(owner));
	json_decref(owner);
}

/* current_state changed from previous (NULL: the first one). */
void
task_state_changed(struct task *t, const char *previous)
{
	json_t *ws = json_object_get(t->tmpl, "workspace");
	const char *state =
		json_string_value(json_object_get(t->state, "state"));
	json_int_t idle =
		json_integer_value(json_object_get(ws, "idle_timeout_s"));
	const char *hook = json_string_value(json_object_get(ws, "webhook"));
	bool resting =
		strcmp(state, "idle") == 0 || strcmp(state, "waiting") == 0;

	if (previous != NULL && strcmp(previous, state) == 0)
		return; /* a new message only */
	/* working pushes the idle timeout back; resting starts it */
	if (!resting)
		ev_timer_stop(srv->loop, &t->idle_timer);
	else if (idle > 0)
		ev_timer_start(srv->loop, &t->idle_timer,
			       now_ms() + (uint64_t)idle * 1000);
	/* notify on working -> idle, waiting, complete, failure */
	if (previous != NULL && strcmp(state, "working") != 0)
		task_notify(t, hook, previous);
}
