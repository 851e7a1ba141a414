/*
 * pty.c: spawn and drive the agent in a pseudo-terminal.
 *
 * State machine: RUNNING → (child exited | PTY closed) → both → DONE.
 * The exit status comes from a pidfd; the PTY closes with EIO once every
 * holder of the slave is gone. When the child exited but daemons it left
 * keep the PTY open, we do not wait for them: DONE is reached when the
 * child exited and the PTY has no more output to read right now.
 */
#include "common.h"

#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ev.h"
#include "core/log.h"
#include "pty.h"

#define PTY_READ_CHUNK	     65536
#define PTY_READS_PER_WAKEUP 8

struct pty_proc {
	struct ev_loop *loop;
	struct pty_callbacks cb;
	pid_t pid;
	int master;
	int pidfd;
	struct ev_io *io;
	struct ev_io *pidio;
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

static void
pty_on_pidfd(struct ev_io *io UNUSED, uint32_t events UNUSED, void *data)
{
	struct pty_proc *p = data;
	int status;

	if (waitpid(p->pid, &status, WNOHANG) != p->pid)
		return;
	p->status = status;
	p->child_done = true;
	ev_io_del(p->pidio);
	p->pidio = NULL;
	/* drain what is left; daemons holding the slave do not keep us */
	if (p->io != NULL && !pty_read_some(p))
		p->pty_closed = true;
	p->pty_closed = true;
	pty_check_done(p);
}

/* In the child: exec argv; on failure write errno to errfd and exit. */
NORETURN static void
pty_child(char *const argv[], char *const env[], int errfd)
{
	sigset_t none;
	int e;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	for (size_t i = 0; env != NULL && env[i] != NULL; i++)
		putenv(env[i]);
	execvp(argv[0], argv);
	e = errno;
	(void)!write(errfd, &e, sizeof e);
	_exit(127);
}

struct pty_proc *
pty_spawn(struct ev_loop *loop, char *const argv[], char *const env[],
	  unsigned cols, unsigned rows, const struct pty_callbacks *cb,
	  char **cause)
{
	struct winsize ws = {.ws_row = (unsigned short)rows,
			     .ws_col = (unsigned short)cols};
	struct pty_proc *p;
	int errpipe[2], e = 0;
	ssize_t n;
	pid_t pid;
	int master;

	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		*cause = xasprintf("pipe: %s", strerror(errno));
		return NULL;
	}
	pid = forkpty(&master, NULL, NULL, &ws);
	if (pid < 0) {
		*cause = xasprintf("forkpty: %s", strerror(errno));
		close(errpipe[0]);
		close(errpipe[1]);
		return NULL;
	}
	if (pid == 0) {
		close(errpipe[0]);
		pty_child(argv, env, errpipe[1]);
	}
	close(errpipe[1]);
	do
		n = read(errpipe[0], &e, sizeof e);
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n == sizeof e) {
		*cause = xasprintf("cannot run '%s': %s", argv[0], strerror(e));
		waitpid(pid, NULL, 0);
		close(master);
		return NULL;
	}

	p = xcalloc(1, sizeof *p);
	p->loop = loop;
	p->cb = *cb;
	p->pid = pid;
	p->master = master;
	buf_init(&p->out, PTY_WRITE_LIMIT);
	ev_timer_init(&p->finish, pty_finish, p);
	fd_set_nonblock(master);
	p->io = ev_io_add(loop, master, EPOLLIN, pty_on_io, p);
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p->pidfd < 0)
		fatal("pidfd_open: %s (Linux 5.3 or later is needed)",
		      strerror(errno));
	p->pidio = ev_io_add(loop, p->pidfd, EPOLLIN, pty_on_pidfd, p);
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
	if (p->pidio != NULL)
		ev_io_del(p->pidio);
	if (!p->child_done) {
		pty_kill(p, SIGKILL);
		pty_reap(p, true);
	}
	close(p->pidfd);
	close(p->master);
	buf_release(&p->out);
	free(p);
}

pid_t
pty_pid(struct pty_proc *p)
{
	return p->pid;
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
	if (kill(-p->pid, sig) < 0 && errno == ESRCH && !p->child_done)
		syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0);
}

bool
pty_reap(struct pty_proc *p, bool block)
{
	int status;

	if (p->child_done)
		return true;
	if (waitpid(p->pid, &status, block ? 0 : WNOHANG) != p->pid)
		return false;
	p->status = status;
	p->child_done = true;
	if (p->pidio != NULL) {
		ev_io_del(p->pidio);
		p->pidio = NULL;
	}
	return true;
}
