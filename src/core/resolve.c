/*
 * resolve.c: asynchronous name resolution for the event loop, on c-ares.
 *
 * Why c-ares and not getaddrinfo in a thread pool: the server stays one
 * thread (it forks sandboxes and installers; no thread can hold a lock
 * across those forks), a lookup that hangs costs a few bytes rather than
 * a pinned thread (with two threads, two slow names a task chose would
 * stall every other task's lookups), and a timeout really ends a query
 * instead of abandoning a thread inside libc. c-ares reads
 * /etc/resolv.conf and /etc/hosts like libc (CARES_HOSTS in the
 * environment names another hosts file: the tests' private names); it
 * does not run NSS modules (mDNS, LDAP), which egress does not need. Its
 * sockets are watched by the loop through the socket-state callback, its
 * retries are driven by one loop timer.
 *
 * Data model: a struct resolve owns one c-ares channel, the ev handles of
 * the channel's sockets (struct resolve_sock, a list) and every request
 * (struct resolve_req, a list). A request has two holders: c-ares, until
 * its completion callback (resolve_on_answer) has run (in_ares), and the
 * requester, until its callback has run or it cancelled (cb != NULL). It
 * is freed when both have let go, so a cancelled request c-ares still
 * works on stays counted in npending: max_pending bounds what c-ares
 * holds, not only what requesters wait for. The requester's callback
 * always runs from the loop: an answer c-ares gives inside
 * ares_getaddrinfo (a name from /etc/hosts) is kept and delivered by the
 * request's timer at once. The channel is made anew when it is idle and
 * older than RESOLVE_FRESH_MS, so a changed resolv.conf is taken up.
 */
#include "common.h"

#include <ares.h>
#include <netinet/in.h>

#include "log.h"
#include "netpolicy.h"
#include "resolve.h"

#define RESOLVE_NAME_MAX 253   /* a DNS name, without the final dot */
#define RESOLVE_FRESH_MS 60000 /* re-read resolv.conf when idle after */

struct resolve_sock {
	struct resolve *r;
	int fd;
	struct ev_io *io;
	struct resolve_sock *next;
};

struct resolve_req {
	struct resolve *r;
	resolve_cb cb; /* NULL once answered or cancelled */
	void *data;
	char *host;
	unsigned port;
	unsigned timeout_ms;
	struct ev_timer timer; /* the timeout, or the kept answer is due */
	bool in_ares;	       /* c-ares holds it until resolve_on_answer */
	bool starting;	       /* inside ares_getaddrinfo */
	bool answered;	       /* err, cause and res are the answer */
	int err;
	char *cause;
	struct resolve_addrs res;
	struct resolve_req *next, **prevp;
};

struct resolve {
	struct ev_loop *loop;
	struct resolve_opts opts;
	char *servers;
	ares_channel ch;
	uint64_t born;	      /* when ch was made */
	struct ev_timer tick; /* c-ares's next retry */
	struct resolve_sock *socks;
	struct resolve_req *reqs;
	size_t npending;
	bool freeing;
};

/* c-ares opened, changed or closed a socket: watch it accordingly. */
static void resolve_on_sock_state(void *data, ares_socket_t fd, int readable,
				  int writable);

/* Make a channel for r into *ch; 0 or -errno with *cause. */
static int
resolve_channel_new(struct resolve *r, ares_channel *ch, char **cause)
{
	struct ares_options o = {
		.timeout = (int)r->opts.try_ms,
		.tries = (int)r->opts.tries,
		.sock_state_cb = resolve_on_sock_state,
		.sock_state_cb_data = r,
	};
	int s;

	s = ares_init_options(ch, &o,
			      ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
				      ARES_OPT_SOCK_STATE_CB);
	if (s != ARES_SUCCESS) {
		*cause = xasprintf("cannot start the resolver: %s",
				   ares_strerror(s));
		return -EIO;
	}
	if (r->servers != NULL &&
	    (s = ares_set_servers_ports_csv(*ch, r->servers)) != ARES_SUCCESS) {
		*cause = xasprintf("bad DNS servers '%s': %s", r->servers,
				   ares_strerror(s));
		ares_destroy(*ch);
		return -EINVAL;
	}
	return 0;
}

/* Arm the loop timer for c-ares's next retry, or stop it when idle. */
static void
resolve_arm(struct resolve *r)
{
	struct timeval tv, *t = ares_timeout(r->ch, NULL, &tv);

	if (t == NULL) {
		ev_timer_stop(r->loop, &r->tick);
		return;
	}
	ev_timer_start(r->loop, &r->tick,
		       now_ms() + (uint64_t)t->tv_sec * 1000 +
			       (uint64_t)(t->tv_usec + 999) / 1000);
}

/* c-ares's retry time came: let it time out and resend. */
static void
resolve_on_tick(void *data)
{
	struct resolve *r = data;

	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	resolve_arm(r);
}

/* A socket of c-ares is ready: let it read or write. */
static void
resolve_on_io(struct ev_io *io UNUSED, uint32_t events, void *data)
{
	struct resolve_sock *s = data;
	struct resolve *r = s->r; /* s may be freed inside ares_process_fd */
	ares_socket_t fd = s->fd;

	ares_process_fd(
		r->ch,
		events & (EPOLLIN | EPOLLERR | EPOLLHUP) ? fd : ARES_SOCKET_BAD,
		events & EPOLLOUT ? fd : ARES_SOCKET_BAD);
	resolve_arm(r);
}

static void
resolve_on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolve *r = data;
	struct resolve_sock **pp, *s;
	uint32_t events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);

	for (pp = &r->socks; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->fd == fd)
			break;
	}
	s = *pp;
	if (events == 0) {
		if (s != NULL) {
			*pp = s->next;
			ev_io_del(s->io);
			free(s);
		}
		return;
	}
	if (s != NULL) {
		ev_io_set_events(s->io, events);
		return;
	}
	s = xcalloc(1, sizeof *s);
	s->r = r;
	s->fd = fd;
	s->io = ev_io_add(r->loop, fd, events, resolve_on_io, s);
	s->next = r->socks;
	r->socks = s;
}

/* Free req once neither c-ares nor its requester holds it. */
static void
resolve_req_release(struct resolve_req *req)
{
	if (req->in_ares || req->cb != NULL)
		return;
	ev_timer_stop(req->r->loop, &req->timer);
	*req->prevp = req->next;
	if (req->next != NULL)
		req->next->prevp = req->prevp;
	req->r->npending--;
	free(req->cause);
	free(req->host);
	free(req);
}

/* Hand req's answer to its requester, then let go of it. */
static void
resolve_deliver(struct resolve_req *req)
{
	resolve_cb cb = req->cb;

	ev_timer_stop(req->r->loop, &req->timer);
	req->cb = NULL;
	cb(req->err == 0 ? &req->res : NULL, req->err, req->cause, req->data);
	resolve_req_release(req);
}

/* The errno for an unsuccessful c-ares status. */
static int
resolve_errno(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
		return -ENOENT;
	case ARES_ETIMEOUT:
		return -ETIMEDOUT;
	case ARES_EDESTRUCTION:
	case ARES_ECANCELLED:
		return -ECANCELED;
	default:
		return -EHOSTUNREACH;
	}
}

/* Set the port of an IPv4 or IPv6 address. */
static void
resolve_set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

/* Keep c-ares's answer (takes ownership of ai) in req. */
static void
resolve_keep(struct resolve_req *req, int status, struct ares_addrinfo *ai)
{
	struct ares_addrinfo_node *n;

	req->answered = true;
	for (n = ai ? ai->nodes : NULL; n != NULL; n = n->ai_next) {
		struct resolve_addrs *res = &req->res;

		if (res->n == RESOLVE_MAX_ADDRS)
			break;
		if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) ||
		    n->ai_addrlen > sizeof res->addr[0])
			continue;
		memset(&res->addr[res->n], 0, sizeof res->addr[0]);
		memcpy(&res->addr[res->n], n->ai_addr, n->ai_addrlen);
		resolve_set_port(&res->addr[res->n], req->port);
		res->len[res->n++] = n->ai_addrlen;
	}
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	if (status == ARES_SUCCESS && req->res.n > 0)
		return;
	req->err = status == ARES_SUCCESS ? -ENOENT : resolve_errno(status);
	req->cause =
		xasprintf("cannot resolve '%s': %s", req->host,
			  status == ARES_SUCCESS ? "no IPv4 or IPv6 address"
						 : ares_strerror(status));
}

/* c-ares is done with req (an answer, an error, or the channel's end). */
static void
resolve_on_answer(void *arg, int status, int timeouts UNUSED,
		  struct ares_addrinfo *ai)
{
	struct resolve_req *req = arg;

	req->in_ares = false;
	if (req->cb == NULL) {
		if (ai != NULL)
			ares_freeaddrinfo(ai);
		resolve_req_release(req);
		return;
	}
	resolve_keep(req, status, ai);
	if (req->starting) /* never call back inside resolve_start */
		ev_timer_start(req->r->loop, &req->timer, now_ms());
	else
		resolve_deliver(req);
}

/* req's timer: its kept answer is due, or it had none in time. */
static void
resolve_on_timer(void *data)
{
	struct resolve_req *req = data;

	if (!req->answered) {
		req->err = -ETIMEDOUT;
		req->cause = xasprintf("cannot resolve '%s': no answer in "
				       "%u ms",
				       req->host, req->timeout_ms);
	}
	resolve_deliver(req);
}

struct resolve *
resolve_new(struct ev_loop *loop, const struct resolve_opts *opts, char **cause)
{
	struct resolve *r = xcalloc(1, sizeof *r);
	int s = ares_library_init(ARES_LIB_INIT_ALL);

	if (s != ARES_SUCCESS) {
		*cause = xasprintf("cannot start c-ares: %s", ares_strerror(s));
		free(r);
		return NULL;
	}
	r->loop = loop;
	r->opts = *opts;
	r->servers = opts->servers ? xstrdup(opts->servers) : NULL;
	r->opts.servers = NULL;
	ev_timer_init(&r->tick, resolve_on_tick, r);
	if (resolve_channel_new(r, &r->ch, cause) < 0) {
		free(r->servers);
		free(r);
		ares_library_cleanup();
		return NULL;
	}
	r->born = now_ms();
	return r;
}

void
resolve_free(struct resolve *r)
{
	if (r == NULL)
		return;
	r->freeing = true;
	/* every request c-ares holds is answered ARES_EDESTRUCTION */
	ares_destroy(r->ch);
	while (r->reqs != NULL) {
		struct resolve_req *req = r->reqs;

		req->err = -ECANCELED;
		free(req->cause);
		req->cause = xasprintf("cannot resolve '%s': the resolver "
				       "stopped",
				       req->host);
		if (req->cb != NULL)
			resolve_deliver(req);
		else
			resolve_req_release(req);
	}
	BUG_ON(r->socks != NULL);
	ev_timer_stop(r->loop, &r->tick);
	free(r->servers);
	free(r);
	ares_library_cleanup();
}

/* Make the channel anew when it is idle and old (resolv.conf changes). */
static void
resolve_refresh(struct resolve *r)
{
	ares_channel fresh;
	char *cause = NULL;

	if (r->npending > 0 || now_ms() - r->born < RESOLVE_FRESH_MS)
		return;
	if (resolve_channel_new(r, &fresh, &cause) < 0) {
		log_warn("resolver: keeping the old configuration: %s", cause);
		free(cause);
		return;
	}
	ares_destroy(r->ch);
	r->ch = fresh;
	r->born = now_ms();
}

int
resolve_start(struct resolve *r, const char *host, unsigned port,
	      unsigned timeout_ms, resolve_cb cb, void *data,
	      struct resolve_addrs *out, struct resolve_req **reqp,
	      char **cause)
{
	/* ENVHOSTS: CARES_HOSTS, if set, names the hosts file */
	struct ares_addrinfo_hints hints = {.ai_flags = ARES_AI_ENVHOSTS,
					    .ai_family = AF_UNSPEC,
					    .ai_socktype = SOCK_STREAM};
	struct resolve_req *req;
	size_t len = strlen(host);

	BUG_ON(r->freeing);
	if (net_literal(host, &out->addr[0]) == 0) {
		resolve_set_port(&out->addr[0], port);
		out->len[0] = out->addr[0].ss_family == AF_INET
				      ? sizeof(struct sockaddr_in)
				      : sizeof(struct sockaddr_in6);
		out->n = 1;
		return 0;
	}
	if (len == 0 || len > RESOLVE_NAME_MAX) {
		*cause = xasprintf("cannot resolve '%.64s': not a host name",
				   host);
		return -EINVAL;
	}
	if (r->npending >= r->opts.max_pending) {
		*cause = xasprintf("cannot resolve '%s': %zu lookups are "
				   "already in progress",
				   host, r->npending);
		return -EAGAIN;
	}
	resolve_refresh(r);
	req = xcalloc(1, sizeof *req);
	req->r = r;
	req->cb = cb;
	req->data = data;
	req->host = xstrdup(host);
	req->port = port;
	req->timeout_ms = timeout_ms;
	ev_timer_init(&req->timer, resolve_on_timer, req);
	ev_timer_start(r->loop, &req->timer, now_ms() + timeout_ms);
	req->next = r->reqs;
	if (r->reqs != NULL)
		r->reqs->prevp = &req->next;
	req->prevp = &r->reqs;
	r->reqs = req;
	r->npending++;
	req->in_ares = true;
	req->starting = true;
	ares_getaddrinfo(r->ch, host, NULL, &hints, resolve_on_answer, req);
	req->starting = false;
	resolve_arm(r);
	*reqp = req;
	return 1;
}

void
resolve_cancel(struct resolve_req *req)
{
	if (req == NULL || req->cb == NULL)
		return;
	req->cb = NULL;
	ev_timer_stop(req->r->loop, &req->timer);
	resolve_req_release(req);
}

size_t
resolve_pending(const struct resolve *r)
{
	return r->npending;
}
