/*
 * forward.c: a listening endpoint whose connections are relayed to a
 * target endpoint.
 *
 * Data model: a forward owns its listening fd and a list of connections,
 * each one relay (relay.c) between the accepted socket (a) and a socket
 * connecting to the target (b). A relay that ends removes and frees its
 * connection from its done callback. Past FORWARD_MAX_CONNS connections
 * new ones are accepted and closed at once; when the process is out of
 * file descriptors, accepting pauses for 100 ms instead of spinning on a
 * listener that stays readable.
 */
#include "common.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "forward.h"
#include "log.h"
#include "relay.h"
#include "sock.h"

#define FORWARD_ACCEPT_BATCH 64
#define FORWARD_PAUSE_MS     100

struct forward_conn {
	struct forward *f;
	struct relay *relay;
	struct forward_conn *prev;
	struct forward_conn *next;
};

struct forward {
	struct ev_loop *loop;
	int fd;
	struct ev_io *io;
	struct ev_timer resume;
	char *name;	 /* what we listen on, as a spec */
	char *target;	 /* target spec */
	char *unix_path; /* a socket file to remove, or NULL */
	struct forward_conn *conns;
	size_t nconns;
};

/* Unlink and free one connection (its relay already ended or not). */
static void
forward_conn_free(struct forward_conn *c)
{
	struct forward *f = c->f;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		f->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	f->nconns--;
	relay_free(c->relay);
	free(c);
}

/* Relay done: log how it ended and drop the connection. */
static void
forward_on_done(struct relay *r, void *data)
{
	struct forward_conn *c = data;
	int err = relay_error(r);

	if (err != 0)
		log_debug("forward %s -> %s: connection ended: %s", c->f->name,
			  c->f->target, strerror(-err));
	forward_conn_free(c);
}

/* Connect one accepted socket to the target and start relaying. */
static void
forward_start(struct forward *f, int fd)
{
	struct forward_conn *c;
	char *cause = NULL;
	int one = 1, t;

	if (f->nconns >= FORWARD_MAX_CONNS) {
		log_warn("forward %s -> %s: over %d connections, refusing one",
			 f->name, f->target, FORWARD_MAX_CONNS);
		close(fd);
		return;
	}
	t = sock_connect_spec(f->target, &cause);
	if (t < 0) {
		log_warn("forward %s: %s", f->name, cause);
		free(cause);
		close(fd);
		return;
	}
	/* fails harmlessly on unix sockets */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c = xcalloc(1, sizeof *c);
	c->f = f;
	c->next = f->conns;
	if (f->conns != NULL)
		f->conns->prev = c;
	f->conns = c;
	f->nconns++;
	c->relay = relay_new(f->loop, fd, t, forward_on_done, c);
}

/* Timer: accept again after running out of file descriptors. */
static void
forward_resume(void *data)
{
	struct forward *f = data;

	ev_io_set_events(f->io, EPOLLIN);
}

/* Listener readable: accept a batch of connections. */
static void
forward_on_accept(struct ev_io *io UNUSED, uint32_t events UNUSED, void *data)
{
	struct forward *f = data;

	for (int i = 0; i < FORWARD_ACCEPT_BATCH; i++) {
		int fd = accept4(f->fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			forward_start(f, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		log_warn("forward %s: accept: %s", f->name, strerror(errno));
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			ev_io_set_events(f->io, 0);
			ev_timer_start(f->loop, &f->resume,
				       now_ms() + FORWARD_PAUSE_MS);
		}
		return;
	}
}

struct forward *
forward_new(struct ev_loop *loop, const char *listen_spec,
	    const char *target_spec, char **cause)
{
	struct sock_spec sp;
	struct forward *f;
	int fd, r;

	r = sock_spec_parse(target_spec, false, &sp, cause);
	if (r < 0)
		return NULL;
	r = sock_spec_parse(listen_spec, true, &sp, cause);
	if (r < 0)
		return NULL;
	fd = sock_listen_spec(listen_spec, cause);
	if (fd < 0)
		return NULL;
	f = xcalloc(1, sizeof *f);
	f->loop = loop;
	f->fd = fd;
	f->name = sock_local_name(fd);
	f->target = xstrdup(target_spec);
	if (sp.family == AF_UNIX)
		f->unix_path = xstrdup(sp.path);
	ev_timer_init(&f->resume, forward_resume, f);
	f->io = ev_io_add(loop, fd, EPOLLIN, forward_on_accept, f);
	log_info("forward %s -> %s", f->name, f->target);
	return f;
}

const char *
forward_listen_name(const struct forward *f)
{
	return f->name;
}

size_t
forward_count(const struct forward *f)
{
	return f->nconns;
}

void
forward_free(struct forward *f)
{
	if (f == NULL)
		return;
	while (f->conns != NULL)
		forward_conn_free(f->conns);
	ev_timer_stop(f->loop, &f->resume);
	ev_io_del(f->io);
	close(f->fd);
	if (f->unix_path != NULL) {
		unlink(f->unix_path);
		free(f->unix_path);
	}
	free(f->name);
	free(f->target);
	free(f);
}
