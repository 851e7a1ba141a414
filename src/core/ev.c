/*
 * ev.c: epoll event loop with one-shot timers and signalfd.
 *
 * Data model: io handles live in a list owned by the loop; deleting one
 * inside a callback only marks it dead, and dead handles are freed after
 * the dispatch pass (the redis/tmux deferred-free pattern). Timers are
 * embedded by their owners and kept in a list sorted by deadline.
 */
#include "common.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ev.h"
#include "log.h"

#define EV_MAX_SIGNALS 8

struct ev_io {
	struct ev_loop *loop;
	int fd;
	uint32_t events;
	ev_io_cb cb;
	void *data;
	bool dead;
	struct ev_io *next;
};

struct ev_signal {
	int signo;
	ev_signal_cb cb;
	void *data;
};

struct ev_loop {
	int epfd;
	bool running;
	int code;
	struct ev_io *ios;
	bool have_dead;
	struct ev_timer *timers;
	ev_prepare_cb prepare;
	void *prepare_data;
	int sigfd;
	struct ev_io *sigio;
	sigset_t sigmask;
	struct ev_signal signals[EV_MAX_SIGNALS];
	size_t nsignals;
};

struct ev_loop *
ev_loop_new(void)
{
	struct ev_loop *loop = xcalloc(1, sizeof *loop);

	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		fatal("epoll_create1: %s", strerror(errno));
	loop->sigfd = -1;
	sigemptyset(&loop->sigmask);
	return loop;
}

/* Free io handles marked dead during dispatch. */
static void
ev_reap_dead(struct ev_loop *loop)
{
	struct ev_io **pp = &loop->ios;

	while (*pp != NULL) {
		struct ev_io *io = *pp;

		if (io->dead) {
			*pp = io->next;
			free(io);
		} else {
			pp = &io->next;
		}
	}
	loop->have_dead = false;
}

void
ev_loop_free(struct ev_loop *loop)
{
	if (loop == NULL)
		return;
	for (struct ev_io *io = loop->ios; io != NULL; io = io->next)
		io->dead = true;
	ev_reap_dead(loop);
	if (loop->sigfd >= 0)
		close(loop->sigfd);
	close(loop->epfd);
	free(loop);
}

void
ev_loop_set_prepare(struct ev_loop *loop, ev_prepare_cb cb, void *data)
{
	loop->prepare = cb;
	loop->prepare_data = data;
}

struct ev_io *
ev_io_add(struct ev_loop *loop, int fd, uint32_t events, ev_io_cb cb,
	  void *data)
{
	struct ev_io *io = xcalloc(1, sizeof *io);
	struct epoll_event ee = {.events = events, .data.ptr = io};

	io->loop = loop;
	io->fd = fd;
	io->events = events;
	io->cb = cb;
	io->data = data;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ee) < 0)
		fatal("epoll_ctl add fd %d: %s", fd, strerror(errno));
	io->next = loop->ios;
	loop->ios = io;
	return io;
}

void
ev_io_set_events(struct ev_io *io, uint32_t events)
{
	struct epoll_event ee = {.events = events, .data.ptr = io};

	if (io->events == events)
		return;
	io->events = events;
	if (epoll_ctl(io->loop->epfd, EPOLL_CTL_MOD, io->fd, &ee) < 0)
		log_warn("epoll_ctl mod fd %d: %s", io->fd, strerror(errno));
}

int
ev_io_fd(struct ev_io *io)
{
	return io->fd;
}

void
ev_io_del(struct ev_io *io)
{
	if (io == NULL || io->dead)
		return;
	epoll_ctl(io->loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->dead = true;
	io->loop->have_dead = true;
}

void
ev_timer_init(struct ev_timer *t, ev_timer_cb cb, void *data)
{
	memset(t, 0, sizeof *t);
	t->cb = cb;
	t->data = data;
}

void
ev_timer_stop(struct ev_loop *loop, struct ev_timer *t)
{
	struct ev_timer **pp;

	if (!t->active)
		return;
	for (pp = &loop->timers; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->active = false;
	t->next = NULL;
}

void
ev_timer_start(struct ev_loop *loop, struct ev_timer *t, uint64_t deadline)
{
	struct ev_timer **pp;

	ev_timer_stop(loop, t);
	t->deadline = deadline;
	for (pp = &loop->timers; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->deadline > deadline)
			break;
	}
	t->next = *pp;
	*pp = t;
	t->active = true;
}

/* Read pending signals from the signalfd and dispatch them. */
static void
ev_signal_read(struct ev_io *io, uint32_t events UNUSED, void *data)
{
	struct ev_loop *loop = data;
	struct signalfd_siginfo si;

	while (read(ev_io_fd(io), &si, sizeof si) == sizeof si) {
		for (size_t i = 0; i < loop->nsignals; i++) {
			if (loop->signals[i].signo == (int)si.ssi_signo)
				loop->signals[i].cb((int)si.ssi_signo,
						    loop->signals[i].data);
		}
	}
}

int
ev_signal_add(struct ev_loop *loop, int signo, ev_signal_cb cb, void *data)
{
	if (loop->nsignals == EV_MAX_SIGNALS)
		return -ENOSPC;
	sigaddset(&loop->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &loop->sigmask, NULL) < 0)
		return -errno;
	int fd = signalfd(loop->sigfd, &loop->sigmask,
			  SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (loop->sigfd < 0) {
		loop->sigfd = fd;
		loop->sigio =
			ev_io_add(loop, fd, EPOLLIN, ev_signal_read, loop);
	}
	loop->signals[loop->nsignals++] =
		(struct ev_signal){.signo = signo, .cb = cb, .data = data};
	return 0;
}

/* Fire every timer whose deadline has passed. */
static void
ev_run_timers(struct ev_loop *loop)
{
	uint64_t now = now_ms();

	while (loop->timers != NULL && loop->timers->deadline <= now) {
		struct ev_timer *t = loop->timers;

		loop->timers = t->next;
		t->next = NULL;
		t->active = false;
		t->cb(t->data);
	}
}

void
ev_loop_stop(struct ev_loop *loop, int code)
{
	loop->running = false;
	loop->code = code;
}

int
ev_loop_run(struct ev_loop *loop)
{
	struct epoll_event evs[64];

	loop->running = true;
	while (loop->running) {
		int timeout = -1, n;

		if (loop->prepare != NULL)
			timeout = loop->prepare(loop->prepare_data);
		if (!loop->running)
			break;
		if (loop->timers != NULL) {
			uint64_t now = now_ms(), dl = loop->timers->deadline;
			int t = dl <= now ? 0 : (int)MIN(dl - now, 3600000);

			if (timeout < 0 || t < timeout)
				timeout = t;
		}
		n = epoll_wait(loop->epfd, evs, ARRAY_SIZE(evs), timeout);
		if (n < 0 && errno != EINTR)
			fatal("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct ev_io *io = evs[i].data.ptr;

			if (!io->dead)
				io->cb(io, evs[i].events, io->data);
		}
		if (loop->have_dead)
			ev_reap_dead(loop);
		ev_run_timers(loop);
	}
	return loop->code;
}
