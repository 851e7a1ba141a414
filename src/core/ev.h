/*
 * ev.h: the event loop every taskbox daemon runs on one thread.
 *
 * epoll for file descriptors, a sorted list of one-shot timers on the
 * monotonic clock (the epoll_wait timeout is the nearest deadline), and
 * signalfd for signals. A prepare hook runs before each sleep and may
 * shorten it (libmicrohttpd's own timeout enters there).
 */
#ifndef TASKBOX_EV_H
#define TASKBOX_EV_H

#include <sys/epoll.h>

struct ev_loop;
struct ev_io;

typedef void (*ev_io_cb)(struct ev_io *io, uint32_t events, void *data);
typedef void (*ev_timer_cb)(void *data);
typedef void (*ev_signal_cb)(int signo, void *data);
/* Returns the longest the loop may sleep in ms, or -1 for no limit. */
typedef int (*ev_prepare_cb)(void *data);

struct ev_timer {
	uint64_t deadline;
	ev_timer_cb cb;
	void *data;
	bool active;
	struct ev_timer *next;
};

struct ev_loop *ev_loop_new(void);
void ev_loop_free(struct ev_loop *loop);
/* Run until ev_loop_stop(); returns the code given to it. */
int ev_loop_run(struct ev_loop *loop);
void ev_loop_stop(struct ev_loop *loop, int code);
void ev_loop_set_prepare(struct ev_loop *loop, ev_prepare_cb cb, void *data);

/* Watch fd for events (EPOLLIN/EPOLLOUT); returns a new handle. */
struct ev_io *ev_io_add(struct ev_loop *loop, int fd, uint32_t events,
			ev_io_cb cb, void *data);
void ev_io_set_events(struct ev_io *io, uint32_t events);
int ev_io_fd(struct ev_io *io);
/* Stop watching and free the handle (safe inside its own callback). */
void ev_io_del(struct ev_io *io);

void ev_timer_init(struct ev_timer *t, ev_timer_cb cb, void *data);
/* (Re)arm t to fire once at the monotonic deadline (ms). */
void ev_timer_start(struct ev_loop *loop, struct ev_timer *t,
		    uint64_t deadline);
void ev_timer_stop(struct ev_loop *loop, struct ev_timer *t);

/* Block signo and deliver it through the loop; 0 or -errno. */
int ev_signal_add(struct ev_loop *loop, int signo, ev_signal_cb cb, void *data);

#endif
