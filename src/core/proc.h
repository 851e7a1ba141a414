/*
 * proc.h: child processes in the loop (spawn, pidfd exit watch, group
 * kill, reap), and processes that are not our children (adopted by pid:
 * their exit is watched, never reaped).
 *
 * A struct proc owns one pidfd. Exit statuses are waitpid()-style ints
 * (WIFEXITED and friends work on them); -1 when unknown (an adopted
 * process is reaped by someone else).
 */
#ifndef TASKBOX_PROC_H
#define TASKBOX_PROC_H

#include <sys/types.h>

struct ev_loop;
struct proc;

enum proc_flags {
	/* the child leads a new process group */
	PROC_PGROUP = 1 << 0,
	/* the child leads a new session (and group) */
	PROC_SESSION = 1 << 1,
	/* fn works on without exec: proc_spawn does not wait for it (only
	 * setup errors come back) */
	PROC_NOWAIT = 1 << 2,
	/* with PROC_PGROUP: once the leader is seen to exit (watch or
	 * proc_reap), what is left of its group is SIGKILLed before the
	 * reap */
	PROC_GROUP_DIES = 1 << 3,
	/* proc_spawn returns once forked, without waiting for the exec: a
	 * failure in the child (proc_child_fail) is its exit status 127,
	 * and fn tells why its own way (the loop runs on meanwhile) */
	PROC_ASYNC = 1 << 4,
	/* fn runs with only the standard fds (and the start-error pipe):
	 * a long-lived child then holds none of the server's sockets */
	PROC_CLOSE_FDS = 1 << 5,
};

/*
 * Runs in the child after fork (signals reset, group/session made, fds
 * and env set); it execs, _exits, or returns: 0 exits 0, a positive
 * errno is reported to proc_spawn as a start failure. To name a step of
 * its own, it calls proc_child_fail.
 */
typedef int (*proc_child_fn)(void *arg);
/* The process exited; status as from waitpid(), -1 when unknown. */
typedef void (*proc_exit_cb)(struct proc *p, int status, void *data);

struct proc_spec {
	char *const *argv; /* execvp(argv[0], argv) when fn is NULL */
	char *const *env;  /* "K=V" put into the child's env; or NULL */
	proc_child_fn fn;  /* else run in the child */
	void *arg;	   /* for fn */
	enum proc_flags flags;
	int fd_in, fd_out, fd_err; /* dup'ed onto 0, 1, 2 when > 0 */
};

/*
 * Fork and start spec; *out is a new handle the caller frees. Unless
 * PROC_ASYNC, exec failures (and fn's) come back here over a
 * close-on-exec pipe: -errno
 * with *cause ("cannot run 'x': ...") and, when stage is not NULL, the
 * step proc_child_fail named (0 for exec). Fork or pidfd_open failures
 * are -errno with *cause too; nothing is left running then.
 */
int proc_spawn(const struct proc_spec *spec, struct proc **out, int *stage,
	       char **cause);
/* In a child of proc_spawn: report err (positive errno) at stage and
 * _exit(127). */
void proc_child_fail(int stage, int err) __attribute__((noreturn));

/*
 * A handle for pid: our child when child (reaped by proc_reap), else an
 * adopted process (exit watched, not reaped). group: pid leads its own
 * process group (proc_kill signals it). 0 with *out, or -errno + *cause.
 */
int proc_open(pid_t pid, bool child, bool group, struct proc **out,
	      char **cause);

/* Call cb once from loop when the process exits (an own child is reaped
 * right after cb, so cb may still proc_kill its group; proc_free inside
 * cb is deferred until then); replaces an earlier watch. */
void proc_watch(struct proc *p, struct ev_loop *loop, proc_exit_cb cb,
		void *data);
/* Stop watching; the process is left alone. */
void proc_unwatch(struct proc *p);

/* Signal the process group (own children that lead one, until the
 * leader is reaped: then its id may be a stranger's group), else the
 * process itself through its pidfd while it runs; 0 or -errno (-ESRCH:
 * none). */
int proc_kill(struct proc *p, int sig);
/* Collect an own child's exit (waitid P_PIDFD, blocking when block):
 * 1 once known (*status set when not NULL), 0 still running, -errno. */
int proc_reap(struct proc *p, bool block, int *status);

pid_t proc_pid(const struct proc *p);
int proc_pidfd(const struct proc *p);
/* Whether the process has exited (as far as seen: reaped or watched). */
bool proc_exited(const struct proc *p);
/* The exit status once known, else -1. */
int proc_status(const struct proc *p);
/* "exit N" / "killed by signal N" / "status unknown" into buf. */
const char *proc_status_str(int status, char *buf, size_t size);

/*
 * Free p: an own child not yet reaped has its group (or itself) killed
 * with SIGKILL and is reaped; an adopted process is left running.
 */
void proc_free(struct proc *p);

#endif
