/*
 * task-stop.c: stopping a task's workspace, for good or for a while.
 *
 * Delete kills the workspace (cgroup and pid namespace), waits for its
 * exit (or for a disk child under way), removes its files in a child
 * (unmount, rm -rf) and frees the task; deleting a user's or a
 * template's tasks is a sweep that calls back once all of them are
 * gone. Pause sends the runtime SIGTERM (it saves its state file) with
 * a timer that kills the workspace after a grace period; resume and
 * restart render the module again and launch with the files kept (a
 * restart after a first start that failed early first clears what it
 * left, in a child, while the task is pending).
 */
#include "common.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/log.h"
#include "core/proc.h"
#include "gateway/account.h"
#include "gateway/gateway.h"
#include "http/http.h"
#include "server.h"
#include "server/metrics.h"
#include "server/queue.h"
#include "server/task-int.h"
#include "store/store-rows.h"
#include "ws/disk.h"
#include "ws/ws.h"

/* Remove task id's files: unmount its disk image and remove it, then
 * rm -rf its directory, all in a child (never blocks the loop). */
void
task_remove_files(const char *id)
{
	char *dir = xasprintf("%s/%s", srv->tasks_dir, id);
	char *img = xasprintf("%s/%s.img", srv->disks_dir, id);
	char *argv[] = {"rm", "-rf", "--one-file-system", dir, NULL};
	char *cause = NULL;

	if (disk_remove(srv->loop, img, dir, argv, &cause) < 0) {
		log_warn("cannot remove '%s': %s", dir, cause);
		free(cause);
	}
	free(img);
	free(dir);
}

/*
 * Deleting many tasks (a user's, a template's) waits until every one is
 * gone before the rows they point at go: a sweep is the filter and what
 * to call then, checked each time a task is freed.
 */
struct task_sweep {
	char *owner_id;	   /* the tasks of this user, or NULL */
	char *template_id; /* the tasks of this template, or NULL */
	void (*done)(void *data);
	void *data;
	struct task_sweep *next;
};

static struct task_sweep *task_sweeps;

/* Does t fall under sweep s? */
static bool
task_sweep_matches(const struct task_sweep *s, struct task *t)
{
	const char *tid = json_string_value(json_object_get(t->version, "id"));

	if (s->owner_id != NULL)
		return strcmp(task_owner_id(t), s->owner_id) == 0;
	return tid != NULL && strcmp(tid, s->template_id) == 0;
}

/* Call (and drop) the sweeps whose tasks are all gone. */
static void
task_sweeps_check(void)
{
	struct task_sweep **pp = &task_sweeps, *ready = NULL, *s;

	while ((s = *pp) != NULL) {
		struct task *t = srv->tasks;

		/* only the tasks it deletes: one made meanwhile (refused
		 * now, see task_sweep_pending) would keep it waiting */
		while (t != NULL && !(t->st == TASK_STATE_DELETING &&
				      task_sweep_matches(s, t)))
			t = t->next;
		if (t != NULL) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		s->next = ready;
		ready = s;
	}
	/* outside the walk: done may start another sweep */
	while ((s = ready) != NULL) {
		ready = s->next;
		s->done(s->data);
		free(s->owner_id);
		free(s->template_id);
		free(s);
	}
}

/* Is a sweep deleting the tasks of this owner or template? */
bool
task_sweep_pending(const char *owner_id, const char *template_id)
{
	for (struct task_sweep *s = task_sweeps; s != NULL; s = s->next) {
		if (s->owner_id != NULL && owner_id != NULL &&
		    strcmp(s->owner_id, owner_id) == 0)
			return true;
		if (s->template_id != NULL && template_id != NULL &&
		    strcmp(s->template_id, template_id) == 0)
			return true;
	}
	return false;
}

void
task_delete_all(const char *owner_id, const char *template_id,
		void (*done)(void *data), void *data)
{
	struct task_sweep *s = xcalloc(1, sizeof *s);
	struct task *t, *next;

	BUG_ON((owner_id == NULL) == (template_id == NULL));
	s->owner_id = owner_id ? xstrdup(owner_id) : NULL;
	s->template_id = template_id ? xstrdup(template_id) : NULL;
	s->done = done;
	s->data = data;
	for (t = srv->tasks; t != NULL; t = next) {
		next = t->next; /* task_delete may free t at once */
		/* another replica's task keeps the rows: the caller's
		 * delete answers 409 (busy) */
		if (t->st != TASK_STATE_DELETING && t->replica == NULL &&
		    task_sweep_matches(s, t))
			task_delete(t);
	}
	s->next = task_sweeps;
	task_sweeps = s;
	task_sweeps_check();
}

/* The workspace is gone: remove files, answer the DELETE, free. */
void
task_finish_delete(struct task *t)
{
	if (t->pause_req != NULL) {
		http_reply_problem(t->pause_req, 409,
				   "the task was deleted while pausing");
		t->pause_req = NULL;
	}
	task_remove_files(task_id(t));
	if (t->ws == NULL) /* e.g. it died while the server was down */
		srv->backend->forget(task_id(t));
	task_transition(t, TASK_STATE_DELETED, NULL);
	account_task_forget(task_id(t));
	if (t->delete_req != NULL)
		http_reply(t->delete_req, 202, NULL, "", 0);
	log_info("task %s deleted", task_name(t));
	task_free(t);
	task_sweeps_check();
}

void
task_delete(struct task *t)
{
	bool runs = task_ws_runs(t);

	BUG_ON(t->st == TASK_STATE_DELETING);
	task_transition(t, TASK_STATE_DELETING, NULL);
	store_task_set_deleted(srv->store, task_id(t), (int64_t)wall_ms());
	tqueue_forget(t);
	egress_free(t->egress);
	t->egress = NULL;
	gateway_task_gone(task_id(t)); /* its LLM responses still read */
	if (runs) {
		ws_kill(t->ws); /* task_on_ws_exit finishes */
		return;
	}
	if (t->disk_busy)
		return; /* task_on_disk finishes once the mount is done */
	task_finish_delete(t);
}

int
task_delete_reply(struct task *t, struct http_req *req, char **cause)
{
	int r = task_state_may(t->st, TASK_OP_DELETE);

	if (r < 0) {
		*cause = xstrdup("the task is being deleted");
		return r;
	}
	t->delete_req = req;
	http_req_defer(req);
	task_delete(t);
	return 0;
}

void
task_on_stop_timeout(void *data)
{
	struct task *t = data;

	log_warn("task %s: the runtime did not stop in time: killing the "
		 "workspace",
		 task_name(t));
	if (task_ws_runs(t))
		ws_kill(t->ws);
}

/* Stop t's workspace so that the runtime saves its state first. */
void
task_stop_gracefully(struct task *t)
{
	int pidfd = task_runtime_pidfd(t);
	int sent = -1;

	task_transition(t, TASK_STATE_PAUSING, NULL);
	task_set_state(t,
		       json_string_value(json_object_get(t->state, "state"))
			       ?: "working",
		       "Pausing");
	if (pidfd >= 0) {
		sent = (int)syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL,
				    0);
		close(pidfd);
	}
	if (sent == 0) {
		/* the runtime saves its state file and stops the agent */
		ev_timer_start(srv->loop, &t->stop_timer,
			       now_ms() + TASK_STOP_GRACE_MS);
		return;
	}
	ws_kill(t->ws);
}

/* The workspace of a pausing task is gone. */
void
task_finish_pause(struct task *t)
{
	struct http_req *req = t->pause_req;

	t->pause_req = NULL;
	const char *before =
		json_string_value(json_object_get(t->state, "state"));
	bool was_idle = before != NULL && strcmp(before, "idle") == 0;

	/* the status first: a client never sees "active idle Paused", which
	 * reads as the end of a turn */
	task_transition(t, TASK_STATE_PAUSED, "");
	task_set_state(t, "idle", t->pause_message ?: "Paused");
	free(t->pause_message);
	t->pause_message = NULL;
	if (was_idle) {
		/* a pause (asked for or after the idle timeout) is news too;
		 * from another state the change itself was notified */
		const char *hook = json_string_value(json_object_get(
			json_object_get(t->tmpl, "workspace"), "webhook"));

		task_notify(t, hook, "idle");
	}
	if (req != NULL)
		http_reply_json(req, 200, task_json(t));
	if (t->ws != NULL) {
		ws_free(t->ws);
		t->ws = NULL;
	}
	egress_free(t->egress);
	t->egress = NULL;
}

int
task_pause(struct task *t, struct http_req *req, char **cause)
{
	int r = task_state_may(t->st, TASK_OP_PAUSE);

	if (r == -EBUSY) {
		*cause = xstrdup("the task is already stopping");
		return r;
	}
	if (r == -EAGAIN) {
		*cause = xasprintf("the task is %s: its workspace is not "
				   "running yet; pause it in a moment",
				   t->view.status);
		return r;
	}
	if (r < 0) {
		*cause = xasprintf("the task is %s: only an active or "
				   "initializing task can be paused",
				   t->view.status);
		return r;
	}
	t->pause_req = req;
	http_req_defer(req);
	task_stop_gracefully(t);
	return 0;
}

void
task_pause_with(const char *id, const char *message)
{
	struct task *t = task_find_id(id);

	/* once: a task pausing (or paused) already keeps its message */
	if (t == NULL || t->replica != NULL ||
	    task_state_may(t->st, TASK_OP_PAUSE) < 0)
		return;
	log_info("task %s: pausing: %s", task_name(t), message);
	task_set_str(&t->pause_message, message);
	task_stop_gracefully(t);
}

/* Render the module for t again (resume, restart); false after failing
 * the task. */
static bool
task_render(struct task *t)
{
	const char *module_name = json_string_value(
		json_object_get(json_object_get(t->tmpl, "agent"), "module"));
	json_t *module = module_name ? catalog_module_spec(module_name) : NULL;
	json_t *errors = NULL;

	if (module == NULL) {
		task_fail(t, "the agent module '%s' no longer exists",
			  module_name ? module_name : "");
		return false;
	}
	json_decref(t->launch);
	t->launch = task_module_render(module, t->tmpl, task_id(t), &errors);
	json_decref(module);
	if (t->launch == NULL) {
		task_fail(t, "the agent module cannot run this template: %s",
			  json_string_value(json_object_get(
				  json_array_get(errors, 0), "message"))
				  ?: "invalid options");
		json_decref(errors);
		return false;
	}
	return true;
}

/* Start a stopped task's workspace again (resume, restart; t is
 * pending): the files, home and state file of the last run are kept. */
static void
task_relaunch(struct task *t)
{
	t->accepted_ms = now_ms();
	metrics_task_start();
	t->agent_ms = 0;
	t->ws_ms = 0;
	task_changed(t); /* startup */
	t->runtime_exit = -1;
	t->retries = 0;
	task_set_str(&t->last_agent_message, "");
	if (task_render(t))
		task_install_or_launch(t);
}

/*
 * A create's pre-checks again for t (resume, restart): its provider and
 * module, its secrets. 0, or -EBUSY (409) or -EINVAL (400) and *why (a
 * new string).
 */
static int
task_recheck(struct task *t, char **why)
{
	const char *module_name = json_string_value(
		json_object_get(json_object_get(t->tmpl, "agent"), "module"));
	json_t *module = module_name ? catalog_module_spec(module_name) : NULL;
	int code = task_precheck(t->version, module, task_owner_id(t), why);

	json_decref(module);
	return code == 0 ? 0 : code == 409 ? -EBUSY : -EINVAL;
}

int
task_resume(struct task *t, struct http_req *req, char **cause)
{
	int r;

	if (srv->stopping) {
		*cause = xstrdup("the server is shutting down");
		return -ESHUTDOWN;
	}
	if ((r = task_state_may(t->st, TASK_OP_RESUME)) < 0) {
		*cause = xasprintf("the task is %s: only a paused task can be "
				   "resumed%s",
				   t->view.stopping ?: t->view.status,
				   r == -EAGAIN ? " (it is pausing: resume it "
						  "once paused)"
						: "");
		return r;
	}
	/* a paused task does not count as running: resuming it must fit */
	if (task_admit(task_owner_id(t), true, cause) != 0)
		return -EDQUOT;
	/* what a create checks (the provider, its type, the secrets) may
	 * have gone meanwhile: say so and leave the task paused */
	if ((r = task_recheck(t, cause)) < 0)
		return r;
	/* over a budget: the agent's next request would be refused; the
	 * budgets as the store has them now (raised on another replica:
	 * two lookups, not a reload a member could repeat at will) */
	account_refresh(task_owner_id(t),
			json_string_value(json_object_get(t->version, "id")));
	if (account_check(task_id(t), task_owner_id(t),
			  json_string_value(json_object_get(t->version, "id")),
			  cause) < 0)
		return -EPERM;
	t->resuming = true;
	t->fresh_agent = !t->agent_started;
	/* pending at once: a second resume is refused, whatever the launch
	 * waits for (install, disk) */
	task_transition(t, TASK_STATE_PENDING, "");
	task_relaunch(t);
	http_reply_json(req, 202, task_json(t));
	return 0;
}

/* May t restart now: its state, the owner's running tasks, the
 * pre-checks? 0, or a negative errno and *why (a new string). */
static int
task_may_restart(struct task *t, char **why)
{
	int code;

	if (srv->stopping) {
		*why = xstrdup("the server is shutting down");
		return -ESHUTDOWN;
	}
	if ((code = task_state_may(t->st, TASK_OP_RESTART)) == -EBUSY &&
	    t->st == TASK_STATE_DELETING) {
		*why = xstrdup("the task is being deleted");
		return code;
	}
	if (code < 0) {
		*why = xasprintf("the task is %s: only a task in error or "
				 "unknown status can be restarted%s",
				 t->view.stopping ?: t->view.status,
				 t->st == TASK_STATE_PAUSED
					 ? " (resume a paused task)"
					 : "");
		return code;
	}
	if (t->disk_busy || task_ws_runs(t)) {
		*why = xstrdup("the task's workspace is still stopping: try "
			       "again in a moment");
		return -EAGAIN;
	}
	if (task_admit(task_owner_id(t), true, why) != 0)
		return -EDQUOT;
	/* what made the first start fail before anything ran may still be
	 * true: say so and leave the task as it is */
	return task_recheck(t, why);
}

/* nftw: remove one entry of a task directory no task code ever ran in. */
static int
task_clear_entry(const char *path, const struct stat *st UNUSED, int flag,
		 struct FTW *ftw UNUSED)
{
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 &&
	    errno != ENOENT)
		log_warn("cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* Restarting a task whose home was never laid out (its first start
 * failed before that, the disk's child perhaps half-way): in a child
 * process (arg is the task, as forked), what is left (a half-made image,
 * an empty mount point, server-made directories) goes, so that the start
 * is a first start again, with its disk. Failures are logged; the start
 * goes on. */
static int
task_clear_child(void *arg)
{
	struct task *t = arg;
	char *img = xasprintf("%s/%s.img", srv->disks_dir, task_id(t));

	if (srv->root && umount2(t->dir, MNT_DETACH) < 0 && errno != EINVAL &&
	    errno != ENOENT)
		log_warn("task %s: cannot unmount '%s': %s", task_name(t),
			 t->dir, strerror(errno));
	if (unlink(img) < 0 && errno != ENOENT)
		log_warn("task %s: cannot remove '%s': %s", task_name(t), img,
			 strerror(errno));
	(void)nftw(t->dir, task_clear_entry, 16,
		   FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	free(img);
	return 0;
}

/* The clearing child of task id (a string owned here) exited: start the
 * task (pending since the restart), or finish its delete, which waited
 * for the child. */
static void
task_on_cleared(struct proc *p, int status, void *data)
{
	char *id = data;
	struct task *t = task_find_id(id);
	char buf[64];

	if (status != 0)
		log_warn("task %s: clearing its leftovers: %s", id,
			 proc_status_str(status, buf, sizeof buf));
	free(id);
	proc_free(p);
	if (t == NULL)
		return;
	t->disk_busy = false;
	if (t->st == TASK_STATE_DELETING) {
		task_finish_delete(t);
		return;
	}
	if (t->st != TASK_STATE_PENDING) { /* nothing else leaves pending */
		log_error("task %s: leftovers cleared in state %s",
			  task_name(t), task_state_str(t->st));
		return;
	}
	if (srv->stopping) {
		task_fail(t, "the server shut down before the restart began");
		return;
	}
	task_relaunch(t);
}

/* Start clearing what a first start of t that failed left (see
 * task_clear_child), off the loop; task_on_cleared launches t after.
 * Until then t->disk_busy holds a delete back. 0, or -errno and *cause
 * (a new string) when no child could start. */
static int
task_clear_unlaid(struct task *t, char **cause)
{
	struct proc_spec spec = {.fn = task_clear_child,
				 .arg = t,
				 .flags = PROC_PGROUP | PROC_NOWAIT |
					  PROC_CLOSE_FDS};
	struct proc *p;
	char *why = NULL;
	int r;

	if ((r = proc_spawn(&spec, &p, NULL, &why)) < 0) {
		*cause = xasprintf("cannot clear what the failed start left: "
				   "%s",
				   why);
		free(why);
		return r;
	}
	proc_watch(p, srv->loop, task_on_cleared, xstrdup(task_id(t)));
	t->disk_busy = true;
	return 0;
}

int
task_restart(struct task *t, struct http_req *req, char **cause)
{
	int r;

	if ((r = task_may_restart(t, cause)) < 0)
		return r;
	/* the last run's workspace is gone; its egress sockets too */
	if (t->ws != NULL) {
		ws_free(t->ws);
		t->ws = NULL;
	}
	egress_free(t->egress);
	t->egress = NULL;
	/* a home laid out by an earlier run is the agent's now: kept, never
	 * re-seeded (as on resume); when no agent ran the setup script runs
	 * again and there is no session to continue; a delivered prompt is
	 * not sent again. All three from what the server recorded, never
	 * from the task's files (nor from whether its disk is mounted). */
	t->resuming = t->laid_out;
	t->fresh_agent = !t->agent_started;
	if (!t->laid_out && (r = task_clear_unlaid(t, cause)) < 0)
		return r;
	free(t->report_summary);
	t->report_summary = NULL;
	task_set_str(&t->report_uri, "");
	log_info("task %s: restarting (%s)", task_name(t),
		 !t->resuming	  ? "first start again"
		 : t->fresh_agent ? "setup again"
				  : "continuing the session");
	task_set_state(t, "working", "Preparing workspace");
	task_transition(t, TASK_STATE_PENDING, "");
	if (!t->disk_busy) /* else once the leftovers are gone */
		task_relaunch(t);
	http_reply_json(req, 202, task_json(t));
	return 0;
}

int
task_shutdown_all(void)
{
	int n = 0;

	for (struct task *t = srv->tasks; t != NULL; t = t->next) {
		if (!task_ws_runs(t))
			continue;
		n++;
		if (t->st != TASK_STATE_PAUSING && t->st != TASK_STATE_DELETING)
			task_stop_gracefully(t);
	}
	return n;
}
