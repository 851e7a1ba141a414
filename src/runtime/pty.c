/*
 * pty.c: spawn and drive the agent in a pseudo-terminal.
 *
 * State machine: RUNNING → (child exited | PTY closed) → both → DONE.
 * The exit status comes from core/proc's pidfd watch; the PTY closes with EIO
 * once every holder of the slave is gone. When the child exited but daemons it
 * left keep the PTY open, we do not wait for them: DONE is reached when the
 * child exited and the PTY has no more output to read right now.
 */
#include "common.h"

#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/proc.h"
#include "pty.h"

#define PTY_READ_CHUNK	     65536
#define PTY_READS_PER_WAKEUP 8

struct pty_proc {
	struct ev_loop *loop;
	struct pty_callbacks cb;
	struct proc *proc;
	int master;
	struct ev_io *io;
	struct buf out; /* pending writes */
	bool child_done;
	bool pty_closed;
	bool finished;
	int status;
	struct ev_timer finish;
};

static void pty_update_events(struct pty_proc *p);

/* Report the exit once both halves are done (deferred to the loop). */
static void
pty_finish(void *data)
{
	struct pty_proc *p = data;

	if (p->finished)
		return;
	p->finished = true;
	if (p->io != NULL) {
		ev_io_del(p->io);
		p->io = NULL;
	}
	p->cb.exited(p->status, p->cb.arg);
}

static void
pty_check_done(struct pty_proc *p)
{
	if (p->child_done && p->pty_closed && !p->finished)
		ev_timer_start(p->loop, &p->finish, 0);
}

/* Read what the PTY has; returns false when it closed. */
static bool
pty_read_some(struct pty_proc *p)
{
	static char chunk[PTY_READ_CHUNK];

	for (int i = 0; i < PTY_READS_PER_WAKEUP; i++) {
		ssize_t n = read(p->master, chunk, sizeof chunk);

		if (n > 0) {
			p->cb.output(chunk, (size_t)n, p->cb.arg);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		return false; /* EIO: slave closed, or EOF */
	}
	return true;
}

static void
pty_on_io(struct ev_io *io UNUSED, uint32_t events, void *data)
{
	struct pty_proc *p = data;

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (!pty_read_some(p)) {
			/* level-triggered HUP would wake us forever */
			p->pty_closed = true;
			ev_io_del(p->io);
			p->io = NULL;
			pty_check_done(p);
			return;
		}
		if (p->child_done && !(events & EPOLLIN)) {
			p->pty_closed = true;
			pty_check_done(p);
		}
	}
	if ((events & EPOLLOUT) && p->out.len > 0) {
		ssize_t n = write(p->master, p->out.data, p->out.len);

		if (n > 0)
			buf_consume(&p->out, (size_t)n);
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			buf_clear(&p->out);
		pty_update_events(p);
	}
}

static void
pty_update_events(struct pty_proc *p)
{
	if (p->io != NULL && !p->pty_closed)
		ev_io_set_events(p->io,
				 EPOLLIN | (p->out.len > 0 ? EPOLLOUT : 0));
}

/* The child exited: drain the PTY and finish once it is closed. */
static void
pty_on_exit(struct proc *proc UNUSED, int status, void *data)
{
	struct pty_proc *p = data;

	p->status = status;
	p->child_done = true;
	/* drain what is left; daemons holding the slave do not keep us */
	if (p->io != NULL)
		(void)pty_read_some(p);
	p->pty_closed = true;
	pty_check_done(p);
}

/* In the child (a new session, the slave on 0, 1, 2): take the PTY as
 * controlling terminal and exec argv; an errno when that fails. */
static int
pty_child(void *arg)
{
	char *const *argv = arg;

	if (ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0)
		return errno;
	execvp(argv[0], argv);
	return errno;
}

struct pty_proc *
pty_spawn(struct ev_loop *loop, char *const argv[], char *const env[],
	  unsigned cols, unsigned rows, const struct pty_callbacks *cb,
	  char **cause)
{
	struct winsize ws = {.ws_row = (unsigned short)rows,
			     .ws_col = (unsigned short)cols};
	struct proc_spec spec = {.argv = argv, /* for messages */
				 .env = env,
				 .fn = pty_child,
				 .arg = (void *)argv,
				 .flags = PROC_SESSION | PROC_GROUP_DIES};
	struct pty_proc *p;
	struct proc *proc = NULL;
	int master, slave;

	if (openpty(&master, &slave, NULL, NULL, &ws) < 0) {
		*cause = xasprintf("openpty: %s", strerror(errno));
		return NULL;
	}
	/* neither stays open in the agent but as its 0, 1, 2 */
	(void)fcntl(master, F_SETFD, FD_CLOEXEC);
	(void)fcntl(slave, F_SETFD, FD_CLOEXEC);
	spec.fd_in = spec.fd_out = spec.fd_err = slave;
	if (proc_spawn(&spec, &proc, NULL, cause) < 0) {
		close(master);
		close(slave);
		return NULL;
	}
	close(slave);

	p = xcalloc(1, sizeof *p);
	p->loop = loop;
	p->cb = *cb;
	p->proc = proc;
	p->master = master;
	buf_init(&p->out, PTY_WRITE_LIMIT);
	ev_timer_init(&p->finish, pty_finish, p);
	fd_set_nonblock(master);
	p->io = ev_io_add(loop, master, EPOLLIN, pty_on_io, p);
	proc_watch(proc, loop, pty_on_exit, p);
	return p;
}

void
pty_free(struct pty_proc *p)
{
	if (p == NULL)
		return;
	ev_timer_stop(p->loop, &p->finish);
	if (p->io != NULL)
		ev_io_del(p->io);
	proc_free(p->proc); /* kills and reaps a child still running */
	close(p->master);
	buf_release(&p->out);
	free(p);
}

pid_t
pty_pid(struct pty_proc *p)
{
	return proc_pid(p->proc);
}

int
pty_write(struct pty_proc *p, const void *data, size_t len)
{
	if (p->pty_closed)
		return -EPIPE;
	if (p->out.len == 0) {
		ssize_t n = write(p->master, data, len);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0) {
			data = (const char *)data + n;
			len -= (size_t)n;
		}
	}
	if (len == 0)
		return 0;
	if (buf_append(&p->out, data, len) < 0)
		return -ENOBUFS;
	pty_update_events(p);
	return 0;
}

int
pty_resize(struct pty_proc *p, unsigned cols, unsigned rows)
{
	struct winsize ws = {.ws_row = (unsigned short)rows,
			     .ws_col = (unsigned short)cols};

	if (ioctl(p->master, TIOCSWINSZ, &ws) < 0)
		return -errno;
	return 0;
}

void
pty_kill(struct pty_proc *p, int sig)
{
	/* the group; the leader alone (through its pidfd, which cannot hit
	 * a reused pid) if it left the group */
	(void)proc_kill(p->proc, sig);
}

bool
pty_reap(struct pty_proc *p, bool block)
{
	if (p->child_done)
		return true;
	if (proc_reap(p->proc, block, &p->status) != 1)
		return false;
	p->child_done = true;
	proc_unwatch(p->proc);
	return true;
}
