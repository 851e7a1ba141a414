/*
 * test-proc.c: child processes through core/proc: exits and signals
 * decoded, exec errors with their errno, group kill reaching a
 * grandchild, none after the reap, adopted processes, a cancelled
 * watch, a spawn that does not wait for the exec (PROC_ASYNC), a child
 * fn holding none of the parent's fds (PROC_CLOSE_FDS).
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/proc.h"

/* What an exit callback saw. */
struct seen {
	struct ev_loop *loop;
	int calls;
	int status;
};

/* Exit callback: record and stop the loop. */
static void
on_exit_stop(struct proc *p UNUSED, int status, void *data)
{
	struct seen *s = data;

	s->calls++;
	s->status = status;
	ev_loop_stop(s->loop, 0);
}

/* Exit callback that must never run. */
static void
on_exit_count(struct proc *p UNUSED, int status UNUSED, void *data)
{
	struct seen *s = data;

	s->calls++;
}

/* Spawn argv, watch it in a loop until it exits; its status. */
static int
run_status(char *const argv[], enum proc_flags flags)
{
	struct proc_spec spec = {.argv = argv, .flags = flags};
	struct seen s = {.loop = ev_loop_new()};
	struct proc *p = NULL;
	char *cause = NULL;

	assert_int_equal(proc_spawn(&spec, &p, NULL, &cause), 0);
	assert_null(cause);
	proc_watch(p, s.loop, on_exit_stop, &s);
	ev_loop_run(s.loop);
	assert_int_equal(s.calls, 1);
	assert_true(proc_exited(p));
	assert_int_equal(proc_status(p), s.status);
	proc_free(p);
	ev_loop_free(s.loop);
	return s.status;
}

static void
test_exit_status(void **state UNUSED)
{
	char *t[] = {"true", NULL}, *f[] = {"false", NULL};
	char *seven[] = {"sh", "-c", "exit 7", NULL};
	char buf[64];
	int st;

	st = run_status(t, 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	st = run_status(f, PROC_PGROUP);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	st = run_status(seven, PROC_SESSION);
	assert_int_equal(WEXITSTATUS(st), 7);
	assert_string_equal(proc_status_str(st, buf, sizeof buf), "exit 7");
}

static void
test_signal_decoded(void **state UNUSED)
{
	char *argv[] = {"sh", "-c", "kill -TERM $$", NULL};
	char buf[64];
	int st = run_status(argv, 0);

	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGTERM);
	assert_string_equal(proc_status_str(st, buf, sizeof buf),
			    "killed by signal 15");
	assert_string_equal(proc_status_str(-1, buf, sizeof buf),
			    "status unknown");
}

static void
test_exec_error(void **state UNUSED)
{
	char *argv[] = {"/nonexistent/taskbox-no-such-program", NULL};
	struct proc_spec spec = {.argv = argv};
	struct proc *p = NULL;
	char *cause = NULL;
	int stage = -1;

	assert_int_equal(proc_spawn(&spec, &p, &stage, &cause), -ENOENT);
	assert_null(p);
	assert_int_equal(stage, 0);
	assert_non_null(strstr(cause,
			       "cannot run "
			       "'/nonexistent/taskbox-no-such-program'"));
	assert_non_null(strstr(cause, strerror(ENOENT)));
	free(cause);
	/* nothing left behind: no child to reap */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* A child step of its own that fails. */
static int
fail_at_stage(void *arg UNUSED)
{
	proc_child_fail(3, EACCES);
}

/* A child that returns an errno. */
static int
return_errno(void *arg UNUSED)
{
	return EPERM;
}

static void
test_child_fn_errors(void **state UNUSED)
{
	struct proc_spec spec = {.fn = fail_at_stage};
	struct proc *p = NULL;
	char *cause = NULL;
	int stage = 0;

	assert_int_equal(proc_spawn(&spec, &p, &stage, &cause), -EACCES);
	assert_int_equal(stage, 3);
	free(cause);
	cause = NULL;
	spec.fn = return_errno;
	assert_int_equal(proc_spawn(&spec, &p, &stage, &cause), -EPERM);
	assert_int_equal(stage, 0);
	free(cause);
}

/* A child fn: exit 0 when the fd in arg is closed, 1 when still open. */
static int
fd_is_closed(void *arg)
{
	_exit(fcntl(*(int *)arg, F_GETFD) < 0 && errno == EBADF ? 0 : 1);
}

/* Spawn fd_is_closed on fd with flags; its exit code. */
static int
child_sees_fd(int fd, enum proc_flags flags)
{
	struct proc_spec spec = {
		.fn = fd_is_closed, .arg = &fd, .flags = flags | PROC_NOWAIT};
	struct seen s = {.loop = ev_loop_new()};
	struct proc *p = NULL;
	char *cause = NULL;

	assert_int_equal(proc_spawn(&spec, &p, NULL, &cause), 0);
	proc_watch(p, s.loop, on_exit_stop, &s);
	ev_loop_run(s.loop);
	proc_free(p);
	ev_loop_free(s.loop);
	assert_true(WIFEXITED(s.status));
	return WEXITSTATUS(s.status);
}

static void
test_close_fds(void **state UNUSED)
{
	int fd = open("/dev/null", O_RDONLY); /* not close-on-exec */

	assert_true(fd > 2);
	assert_int_equal(child_sees_fd(fd, 0), 1);
	assert_int_equal(child_sees_fd(fd, PROC_CLOSE_FDS), 0);
	close(fd);
}

/* A child that blocks until its parent writes a byte, then fails. */
static int
wait_then_fail(void *arg)
{
	char c;

	(void)!read(*(int *)arg, &c, 1);
	proc_child_fail(3, EACCES);
}

static void
test_async_does_not_wait(void **state UNUSED)
{
	char *argv[] = {"/nonexistent/taskbox-no-such-program", NULL};
	struct proc_spec spec = {.fn = wait_then_fail, .flags = PROC_ASYNC};
	int gate[2], st;
	struct proc *p = NULL;
	char *cause = NULL;

	/* the child is still blocked when proc_spawn returns: a waiting
	 * spawn would hang here (the test's timeout) */
	assert_int_equal(pipe(gate), 0);
	spec.arg = &gate[0];
	assert_int_equal(proc_spawn(&spec, &p, NULL, &cause), 0);
	assert_null(cause);
	assert_false(proc_exited(p));
	assert_int_equal(write(gate[1], "x", 1), 1);
	assert_int_equal(proc_reap(p, true, &st), 1);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 127);
	proc_free(p);
	close(gate[0]);
	close(gate[1]);
	/* an exec failure is the exit status too */
	st = run_status(argv, PROC_ASYNC);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 127);
}

static void
test_group_kill_reaches_grandchild(void **state UNUSED)
{
	char *argv[] = {"sh", "-c", "sleep 1000 & echo $!; wait", NULL};
	int out[2], st = 0;
	struct proc_spec spec = {.argv = argv, .flags = PROC_PGROUP};
	struct proc *p = NULL;
	char *cause = NULL, line[32] = "";
	ssize_t n;
	pid_t gc;

	/* orphans come back to us, so the grandchild can be waited for */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	spec.fd_out = out[1];
	assert_int_equal(proc_spawn(&spec, &p, NULL, &cause), 0);
	close(out[1]);
	n = read(out[0], line, sizeof line - 1);
	assert_true(n > 0);
	close(out[0]);
	gc = (pid_t)strtol(line, NULL, 10);
	assert_true(gc > 0);
	assert_int_equal(proc_kill(p, SIGKILL), 0);
	assert_int_equal(proc_reap(p, true, &st), 1);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	/* the sleep was in the group: killed too, not just orphaned */
	assert_int_equal(waitpid(gc, &st, 0), gc);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	/* a reaped child is not signalled (its pid may be reused) */
	assert_int_equal(proc_kill(p, SIGKILL), -ESRCH);
	proc_free(p);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

/* What the group test's exit callback does and saw. */
struct group_seen {
	struct ev_loop *loop;
	bool kill_in_cb;
	int kill_r;
};

/* Exit callback: optionally kill the group (the leader is not reaped
 * yet) and free the handle inside its own callback. */
static void
on_exit_group(struct proc *p, int status UNUSED, void *data)
{
	struct group_seen *g = data;

	if (g->kill_in_cb) {
		g->kill_r = proc_kill(p, SIGKILL);
		proc_free(p); /* deferred until the callback returns */
	}
	ev_loop_stop(g->loop, 0);
}

/* Spawn a group leader that leaves a sleep in its group and exits; the
 * sleep's pid. */
static pid_t
spawn_leaving_leader(struct proc **p)
{
	char *argv[] = {"sh", "-c", "sleep 1000 & echo $!", NULL};
	struct proc_spec spec = {.argv = argv, .flags = PROC_PGROUP};
	char *cause = NULL, line[32] = "";
	int out[2];
	ssize_t n;

	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	spec.fd_out = out[1];
	assert_int_equal(proc_spawn(&spec, p, NULL, &cause), 0);
	close(out[1]);
	n = read(out[0], line, sizeof line - 1);
	assert_true(n > 0);
	close(out[0]);
	return (pid_t)strtol(line, NULL, 10);
}

/* After the leader's reap its group id may be reused by a stranger's
 * group: proc_kill must not signal it then; inside the exit callback
 * (the leader a zombie still holding the id) it reaches the group. */
static void
test_no_group_kill_after_reap(void **state UNUSED)
{
	struct group_seen g = {.loop = ev_loop_new()};
	struct proc *p = NULL;
	int st;
	pid_t gc;

	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	gc = spawn_leaving_leader(&p);
	proc_watch(p, g.loop, on_exit_group, &g);
	ev_loop_run(g.loop);
	assert_true(proc_exited(p));
	/* reaped: its id is no longer known to be ours */
	assert_int_equal(proc_kill(p, SIGKILL), -ESRCH);
	assert_int_equal(kill(gc, 0), 0); /* the member was not signalled */
	assert_int_equal(waitpid(gc, &st, WNOHANG), 0);
	proc_free(p);
	kill(gc, SIGKILL);
	assert_int_equal(waitpid(gc, &st, 0), gc);

	/* from inside the callback the leftover is killed */
	g.kill_in_cb = true;
	gc = spawn_leaving_leader(&p);
	proc_watch(p, g.loop, on_exit_group, &g);
	ev_loop_run(g.loop);
	assert_int_equal(g.kill_r, 0);
	assert_int_equal(waitpid(gc, &st, 0), gc);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	/* and the leader was reaped after the callback */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	ev_loop_free(g.loop);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

static void
test_cancelled_watch(void **state UNUSED)
{
	char *cat[] = {"cat", NULL}, *t[] = {"true", NULL};
	struct proc_spec spec = {.argv = cat};
	struct seen cancelled = {0}, other = {.loop = ev_loop_new()};
	struct proc *p = NULL, *q = NULL;
	char *cause = NULL;
	int in[2], st;

	cancelled.loop = other.loop;
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	spec.fd_in = in[0];
	assert_int_equal(proc_spawn(&spec, &p, NULL, &cause), 0);
	close(in[0]);
	proc_watch(p, other.loop, on_exit_count, &cancelled);
	assert_int_equal(proc_reap(p, false, NULL), 0); /* still running */
	proc_unwatch(p);
	close(in[1]); /* cat exits */
	assert_int_equal(proc_reap(p, true, &st), 1);
	assert_true(WIFEXITED(st));
	/* the loop runs until another child's exit: p's pidfd, readable
	 * since before, is no longer watched */
	spec = (struct proc_spec){.argv = t};
	assert_int_equal(proc_spawn(&spec, &q, NULL, &cause), 0);
	proc_watch(q, other.loop, on_exit_stop, &other);
	ev_loop_run(other.loop);
	assert_int_equal(other.calls, 1);
	assert_int_equal(cancelled.calls, 0);
	proc_free(p);
	proc_free(q);
	ev_loop_free(other.loop);
}

static void
test_adopted(void **state UNUSED)
{
	struct seen s = {.loop = ev_loop_new()};
	struct proc *p = NULL;
	char *cause = NULL;
	int st, fds[2];
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;

		close(fds[1]);
		(void)!read(fds[0], &c, 1);
		_exit(5);
	}
	close(fds[0]);
	/* watched as if someone else's: no reap, status unknown */
	assert_int_equal(proc_open(pid, false, false, &p, &cause), 0);
	assert_int_equal(proc_reap(p, false, NULL), -ECHILD);
	proc_watch(p, s.loop, on_exit_stop, &s);
	close(fds[1]);
	ev_loop_run(s.loop);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.status, -1);
	proc_free(p); /* leaves it alone: the zombie is still ours */
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(WEXITSTATUS(st), 5);
	ev_loop_free(s.loop);
	/* a pid that is gone */
	assert_true(proc_open(pid, false, false, &p, &cause) < 0);
	assert_non_null(cause);
	free(cause);
}

/* proc_free on a running child kills and reaps it. */
static void
test_free_running(void **state UNUSED)
{
	char *argv[] = {"sleep", "1000", NULL};
	struct proc_spec spec = {.argv = argv, .flags = PROC_SESSION};
	struct proc *p = NULL;
	char *cause = NULL;
	pid_t pid;

	assert_int_equal(proc_spawn(&spec, &p, NULL, &cause), 0);
	pid = proc_pid(p);
	assert_int_equal(getsid(pid), pid);
	proc_free(p);
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_signal_decoded),
		cmocka_unit_test(test_exec_error),
		cmocka_unit_test(test_child_fn_errors),
		cmocka_unit_test(test_close_fds),
		cmocka_unit_test(test_async_does_not_wait),
		cmocka_unit_test(test_group_kill_reaches_grandchild),
		cmocka_unit_test(test_no_group_kill_after_reap),
		cmocka_unit_test(test_cancelled_watch),
		cmocka_unit_test(test_adopted),
		cmocka_unit_test(test_free_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
