/*
 * proc.c: child processes in the loop (see proc.h).
 *
 * Data model: one struct proc per process, holding its pid, a pidfd
 * (opened right after fork, so a reused pid is never signalled or
 * waited for), whether it is our child (reaped with waitid(P_PIDFD)) or
 * adopted (not ours: its exit is seen on the pidfd, its status is
 * unknown), whether it leads a process group, and at most one exit
 * watch (an ev_io on the pidfd with a callback). State: RUNNING →
 * EXITED (the pidfd said so; an own child stays a zombie, its status
 * read with WNOWAIT, while its exit callback runs) → reaped; the watch
 * fires once at that edge and is removed. A leader's group is signalled
 * only while the leader is unreaped: after the reap its id may be a
 * stranger's group.
 *
 * Spawning follows libuv: the child reports a failure before or at
 * exec as {stage, errno} over a close-on-exec pipe, so the parent knows
 * synchronously whether the program started (EOF: it did). With
 * PROC_ASYNC there is no pipe and no wait: what the child does before
 * its exec (joining cgroups, a mount namespace: milliseconds each under
 * load) does not hold the loop, and a failure is its exit (127).
 */
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/proc.h"

struct proc {
	pid_t pid;
	int pidfd;
	bool child;
	bool group;
	bool group_dies;
	bool exited;
	bool zombie;	   /* exited, status known, not reaped yet */
	bool in_cb;	   /* inside its exit callback */
	bool free_pending; /* proc_free came inside the callback */
	int status;
	struct ev_io *io;
	proc_exit_cb cb;
	void *data;
};

/* What a failed child writes on the pipe. */
struct proc_child_err {
	int stage;
	int err;
};

/* The write end of the error pipe, in a child of proc_spawn. */
static int proc_child_errfd = -1;

void
proc_child_fail(int stage, int err)
{
	struct proc_child_err e = {.stage = stage, .err = err};

	if (proc_child_errfd >= 0)
		(void)!write(proc_child_errfd, &e, sizeof e);
	_exit(127);
}

/* In the child: close every fd above the standard ones but the
 * start-error pipe. */
static void
proc_child_close_fds(void)
{
	int e = proc_child_errfd;

	if (e > 3)
		(void)close_range(3, (unsigned)e - 1, 0);
	(void)close_range(e >= 3 ? (unsigned)e + 1 : 3, ~0U, 0);
}

/* In the child: a fresh process's signals, the group or session, the
 * standard fds, then exec or fn. */
NORETURN static void
proc_child(const struct proc_spec *spec, bool nowait)
{
	sigset_t none;
	int r;

	/* the loop's signalfd blocks signals: not for the child */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	if ((spec->flags & PROC_SESSION) && setsid() < 0)
		proc_child_fail(0, errno);
	if ((spec->flags & PROC_PGROUP) && !(spec->flags & PROC_SESSION) &&
	    setpgid(0, 0) < 0)
		proc_child_fail(0, errno);
	if ((spec->fd_in > 0 && dup2(spec->fd_in, 0) < 0) ||
	    (spec->fd_out > 0 && dup2(spec->fd_out, 1) < 0) ||
	    (spec->fd_err > 0 && dup2(spec->fd_err, 2) < 0))
		proc_child_fail(0, errno);
	for (size_t i = 0; spec->env != NULL && spec->env[i] != NULL; i++)
		putenv(spec->env[i]);
	if (nowait) {
		close(proc_child_errfd);
		proc_child_errfd = -1;
	}
	if (spec->fn != NULL) {
		if (spec->flags & PROC_CLOSE_FDS)
			proc_child_close_fds();
		r = spec->fn(spec->arg);
		if (r == 0)
			_exit(0);
		proc_child_fail(0, r);
	}
	execvp(spec->argv[0], spec->argv);
	proc_child_fail(0, errno);
}

/* A new handle for pid with its pidfd; 0 or -errno with *cause. */
static int
proc_new(pid_t pid, bool child, bool group, struct proc **out, char **cause)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct proc *p;

	if (fd < 0) {
		int e = errno;

		*cause = xasprintf("pidfd_open %d: %s", (int)pid, strerror(e));
		return -e;
	}
	p = xcalloc(1, sizeof *p);
	p->pid = pid;
	p->pidfd = fd;
	p->child = child;
	p->group = group;
	p->status = -1;
	*out = p;
	return 0;
}

int
proc_spawn(const struct proc_spec *spec, struct proc **out, int *stage,
	   char **cause)
{
	const char *what = spec->argv != NULL ? spec->argv[0] : "child";
	bool nowait = (spec->flags & PROC_NOWAIT) != 0;
	bool async = (spec->flags & PROC_ASYNC) != 0;
	struct proc_child_err e;
	int errpipe[2] = {-1, -1}, r;
	ssize_t n;
	pid_t pid;

	BUG_ON(spec->fn == NULL && spec->argv == NULL);
	if (stage != NULL)
		*stage = 0;
	if (!async && pipe2(errpipe, O_CLOEXEC) < 0) {
		r = -errno;
		*cause = xasprintf("cannot start '%s': pipe: %s", what,
				   strerror(-r));
		return r;
	}
	fflush(NULL); /* else buffered output is written twice */
	pid = fork();
	if (pid < 0) {
		r = -errno;
		if (!async) {
			close(errpipe[0]);
			close(errpipe[1]);
		}
		*cause = xasprintf("cannot start '%s': fork: %s", what,
				   strerror(-r));
		return r;
	}
	if (pid == 0) {
		if (!async)
			close(errpipe[0]);
		proc_child_errfd = errpipe[1];
		proc_child(spec, nowait && !async);
	}
	n = 0;
	if (!async) {
		close(errpipe[1]);
		do
			n = read(errpipe[0], &e, sizeof e);
		while (n < 0 && errno == EINTR);
		close(errpipe[0]);
	}
	if (n == sizeof e) {
		(void)waitpid(pid, NULL, 0);
		if (stage != NULL)
			*stage = e.stage;
		*cause =
			xasprintf("cannot run '%s': %s", what, strerror(e.err));
		return e.err > 0 ? -e.err : -EIO;
	}
	r = proc_new(pid, true,
		     (spec->flags & (PROC_PGROUP | PROC_SESSION)) != 0, out,
		     cause);
	if (r == 0)
		(*out)->group_dies = (spec->flags & PROC_GROUP_DIES) != 0;
	if (r < 0) {
		/* out of fds, say: it cannot be watched, so undo it */
		kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
	}
	return r;
}

int
proc_open(pid_t pid, bool child, bool group, struct proc **out, char **cause)
{
	return proc_new(pid, child, group, out, cause);
}

/* waitid's siginfo as a waitpid() status. */
static int
proc_status_of(const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED:
		return (si->si_status & 0xff) << 8;
	case CLD_DUMPED:
		return (si->si_status & 0x7f) | 0x80;
	default:
		return si->si_status & 0x7f;
	}
}

/* Wait for an own child's exit without reaping it (WNOWAIT: its pid, and
 * so its group's id, stay ours; PROC_GROUP_DIES kills what is left of the
 * group then): 1 once exited (p->status set), 0 still running, -errno. */
static int
proc_peek(struct proc *p, bool block)
{
	siginfo_t si;
	int r;

	do {
		memset(&si, 0, sizeof si);
		r = waitid(P_PIDFD, (id_t)p->pidfd, &si,
			   WEXITED | WNOWAIT | (block ? 0 : WNOHANG));
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (si.si_pid == 0)
		return 0;
	p->exited = true;
	p->zombie = true;
	p->status = proc_status_of(&si);
	if (p->group_dies)
		(void)kill(-p->pid, SIGKILL);
	return 1;
}

/* Reap an exited own child (proc_peek saw it exit). */
static void
proc_bury(struct proc *p)
{
	siginfo_t si;
	int r;

	if (!p->zombie)
		return;
	do
		r = waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG);
	while (r < 0 && errno == EINTR);
	p->zombie = false;
}

int
proc_reap(struct proc *p, bool block, int *status)
{
	int r;

	if (!p->exited) {
		if (!p->child)
			return -ECHILD;
		r = proc_peek(p, block);
		if (r <= 0)
			return r;
	}
	proc_bury(p);
	if (status != NULL)
		*status = p->status;
	return 1;
}

/* The pidfd is readable: the process exited. An own child's callback
 * runs before its reap, so it may still signal the group safely (the
 * zombie holds the group's id); the reap follows, then a proc_free the
 * callback asked for. */
static void
proc_on_exit(struct ev_io *io UNUSED, uint32_t events UNUSED, void *data)
{
	struct proc *p = data;

	if (p->child && !p->exited && proc_peek(p, false) == 0)
		return;
	p->exited = true;
	proc_unwatch(p);
	p->in_cb = true;
	if (p->cb != NULL)
		p->cb(p, p->status, p->data);
	p->in_cb = false;
	proc_bury(p);
	if (p->free_pending)
		proc_free(p);
}

void
proc_watch(struct proc *p, struct ev_loop *loop, proc_exit_cb cb, void *data)
{
	proc_unwatch(p);
	p->cb = cb;
	p->data = data;
	p->io = ev_io_add(loop, p->pidfd, EPOLLIN, proc_on_exit, p);
}

void
proc_unwatch(struct proc *p)
{
	if (p->io != NULL)
		ev_io_del(p->io);
	p->io = NULL;
}

int
proc_kill(struct proc *p, int sig)
{
	/* only while the leader is unreaped (running, or a zombie inside
	 * its exit callback): once it is reaped and its group empty, the
	 * id may be anyone's group, so a reaped leader's group is never
	 * signalled; an adopted one's is not ours */
	if (p->child && p->group && (!p->exited || p->zombie)) {
		if (kill(-p->pid, sig) == 0)
			return 0;
		if (errno != ESRCH)
			return -errno;
		/* the leader left its group: it alone */
	}
	if (p->exited) /* a reaped child's pid may be someone else's */
		return -ESRCH;
	if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

pid_t
proc_pid(const struct proc *p)
{
	return p->pid;
}

int
proc_pidfd(const struct proc *p)
{
	return p->pidfd;
}

bool
proc_exited(const struct proc *p)
{
	return p->exited;
}

int
proc_status(const struct proc *p)
{
	return p->status;
}

const char *
proc_status_str(int status, char *buf, size_t size)
{
	if (status == -1)
		snprintf(buf, size, "status unknown");
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	else if (WIFEXITED(status))
		snprintf(buf, size, "exit %d", WEXITSTATUS(status));
	else
		snprintf(buf, size, "status %d", status);
	return buf;
}

void
proc_free(struct proc *p)
{
	if (p == NULL)
		return;
	if (p->in_cb) {
		p->free_pending = true; /* proc_on_exit frees it */
		return;
	}
	proc_unwatch(p);
	if (p->child && !p->exited)
		(void)proc_kill(p, SIGKILL);
	if (p->child)
		(void)proc_reap(p, true, NULL);
	close(p->pidfd);
	free(p);
}
