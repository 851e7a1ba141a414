/*
 * pty.h: the agent process in a pseudo-terminal.
 *
 * The child runs in its own session and process group with the PTY as
 * controlling terminal. Output is delivered through a callback as it is
 * read; writes are queued (bounded) and flushed when the PTY is writable.
 * The process is finished when both its exit status is known (pidfd) and
 * the PTY has closed or drained, whichever comes second (tmux's job.c).
 */
#ifndef TASKBOX_RUNTIME_PTY_H
#define TASKBOX_RUNTIME_PTY_H

struct ev_loop;
struct pty_proc;

#define PTY_WRITE_LIMIT (4 << 20)

struct pty_callbacks {
	void (*output)(const char *data, size_t len, void *arg);
	/* status as from waitpid() */
	void (*exited)(int status, void *arg);
	void *arg;
};

/*
 * Start argv in a PTY of cols x rows with env (NULL-terminated
 * "KEY=VALUE" list added to ours). Returns NULL with *cause set when the
 * program cannot be started (exec errors are reported, not just exit 127).
 */
struct pty_proc *pty_spawn(struct ev_loop *loop, char *const argv[],
			   char *const env[], unsigned cols, unsigned rows,
			   const struct pty_callbacks *cb, char **cause);
void pty_free(struct pty_proc *p);
pid_t pty_pid(struct pty_proc *p);
/* Queue bytes for the agent; -ENOBUFS past PTY_WRITE_LIMIT. */
int pty_write(struct pty_proc *p, const void *data, size_t len);
int pty_resize(struct pty_proc *p, unsigned cols, unsigned rows);
/* Signal the whole process group. */
void pty_kill(struct pty_proc *p, int sig);
/* Collect the exit status if the child ended (or wait when block);
 * true once it is known. For shutdown, outside the loop. */
bool pty_reap(struct pty_proc *p, bool block);

#endif
