/*
 * egress.c: a task's only ways out of its sandbox.
 *
 * The sandbox has no network but loopback. Its runtime forwards
 * 127.0.0.1:3128 to RUN/egress.sock and 127.0.0.1:4000 to RUN/llm.sock;
 * this file listens on both for one task.
 *
 * egress.sock speaks HTTP CONNECT (HTTPS_PROXY): the target host must
 * match the template's allowlist ("host", "*.domain", "host:port"; an
 * entry without a port allows 443 and 80; wildcards match names, never
 * addresses), otherwise 403 with the reason. Every address the target
 * resolves to then passes netpolicy: never this machine, loopback,
 * link-local or special ranges; private ranges only for an admin's
 * template (a private address it lists, or any name with egress_private).
 * Decisions are logged (at most 20 a task per 10 s; the rest counted).
 * Names are resolved by core/resolve.c without blocking the loop (one
 * resolver for the server, made with the first task; TASKBOX_DNS_SERVERS
 * may name other servers than resolv.conf's): a connection waits for its
 * answer at most EGRESS_RESOLVE_MS with its client unread, and one that
 * goes away meanwhile cancels its lookup. The address policy is held to
 * every address of the answer, and the socket connects to the address
 * just checked.
 *
 * llm.sock's connections are handed to the task's LLM gateway
 * (gateway/gateway.c), which serves them as HTTP/1.1 and sends the
 * requests on to the provider the template names, with its credentials:
 * keys stay on the server.
 *
 * Every connection holds descriptors of the server (the task's end, then
 * the upstream too), so they are bounded: EGRESS_MAX_CONNS per task
 * (handshakes, tunnels and the gateway's connections together), and
 * on the whole server what fdlimit_split left for tasks (srv->task_fds),
 * of which each live task's own sockets take EGRESS_TASK_FDS and each
 * connection two. A connection over either bound gets a 503 and is
 * closed, and a task does not start when its own sockets would not fit
 * (egress_new); the API's share stays untouched. A connection whose request
 * head is not in after srv->head_timeout_ms (the API's --header-timeout)
 * gets a 408: an idle handshake holds no slot for long (the gateway does
 * the same for its first request head). Out of
 * descriptors anyway, a
 * listener turns the waiting client away and pauses for
 * EGRESS_RETRY_MS instead of spinning on a readable socket.
 */
#include "common.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ev.h"
#include "core/fdlimit.h"
#include "core/log.h"
#include "core/netpolicy.h"
#include "core/relay.h"
#include "core/resolve.h"
#include "gateway/gateway.h"
#include "server.h"

#define EGRESS_HEAD_LIMIT 16384
/* decisions logged per task and window (egress_decision) */
#define EGRESS_DECISIONS    20
#define EGRESS_DECISIONS_MS 10000
#define EGRESS_MAX_CONNS    64
#define EGRESS_TASK_FDS	    8 /* listeners, pidfd, pipes, runtime socket */
#define EGRESS_RETRY_MS	    100
#define EGRESS_RESOLVE_MS   10000 /* a name's answer is late after */
#define EGRESS_LOOKUPS	    256	  /* lookups in flight, server-wide */

/* Connections (handshakes and relays) of every task, and live tasks. */
static size_t egress_open;
static size_t egress_tasks;
static struct log_tally egress_emfile_tally;
static struct resolve *egress_resolver; /* made with the first task */

struct egress_conn;

struct egress_listener {
	struct egress *e;
	int fd;
	struct ev_io *io; /* NULL while paused */
	struct ev_timer retry;
	bool llm;
	char *path;
};

struct egress {
	struct egress_listener l[2];
	json_t *allow;
	bool private_literals; /* private addresses it lists are allowed */
	bool private_names;    /* names may resolve to private addresses */
	char *task;
	struct egress_conn *conns;
	struct log_tally refused;  /* connections over a bound */
	struct log_tally late;	   /* connections without a head in time */
	uint64_t decisions_window; /* egress_decision's rate limit: */
	unsigned decisions, decisions_dropped;
	size_t nconns;	       /* in their handshake */
	struct relay **relays; /* relaying (tunnels, LLM requests) */
	size_t nrelays;
	struct gateway *gw; /* serves llm.sock */
};

struct egress_conn {
	struct egress *e;
	int fd;
	struct ev_io *io;
	struct buf head;
	int up;
	struct ev_io *up_io;
	struct buf out;		    /* what goes to the upstream first */
	struct ev_timer head_timer; /* the request head is late */
	char *target;
	char *host;		       /* to resolve and connect to, */
	unsigned port;		       /* held to the address policy */
	bool private_ok;	       /* private ranges too */
	struct resolve_req *resolving; /* the lookup it waits for */
	struct egress_conn *next;
};

/* Close a connection that never reached the relay stage. */
/*
 * Log one decision of task e's proxy. A task decides how often it asks:
 * at most EGRESS_DECISIONS lines per EGRESS_DECISIONS_MS each, the rest
 * counted and reported when the next window opens.
 */
static void PRINTFLIKE(2, 3)
	egress_decision(struct egress *e, const char *fmt, ...)
{
	uint64_t now = now_ms();
	va_list ap;
	char *msg;

	if (now - e->decisions_window >= EGRESS_DECISIONS_MS) {
		if (e->decisions_dropped > 0)
			log_info("egress task=%s: %u more decisions not logged",
				 e->task, e->decisions_dropped);
		e->decisions_window = now;
		e->decisions = 0;
		e->decisions_dropped = 0;
	}
	if (e->decisions >= EGRESS_DECISIONS) {
		e->decisions_dropped++;
		return;
	}
	e->decisions++;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	log_info("egress task=%s %s", e->task, msg);
	free(msg);
}

static void
egress_conn_free(struct egress_conn *c, bool close_fds)
{
	struct egress_conn **pp;

	for (pp = &c->e->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			c->e->nconns--;
			egress_open--;
			break;
		}
	}
	ev_timer_stop(srv->loop, &c->head_timer);
	resolve_cancel(c->resolving);
	if (c->io != NULL)
		ev_io_del(c->io);
	if (c->up_io != NULL)
		ev_io_del(c->up_io);
	if (close_fds) {
		if (c->fd >= 0)
			close(c->fd);
		if (c->up >= 0)
			close(c->up);
	}
	buf_release(&c->head);
	buf_release(&c->out);
	free(c->target);
	free(c->host);
	free(c);
}

/* Answer the client with a short HTTP error and close. */
static void
egress_refuse(struct egress_conn *c, int status, const char *reason)
{
	char *msg = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
			      "Connection: close\r\n\r\ntaskbox egress: %s\n",
			      status,
			      status == 403   ? "Forbidden"
			      : status == 405 ? "Method Not Allowed"
			      : status == 408 ? "Request Timeout"
			      : status == 502 ? "Bad Gateway"
			      : status == 503 ? "Service Unavailable"
					      : "Bad Request",
			      reason);

	if (write(c->fd, msg, strlen(msg)) < 0)
		log_debug("egress: cannot answer the client: %s",
			  strerror(errno));
	free(msg);
	egress_conn_free(c, true);
}

/* Does host:port match the allowlist? Wildcards match names only. */
static bool
egress_allowed(json_t *allow, const char *host, long port)
{
	struct sockaddr_storage ss;
	bool numeric = net_literal(host, &ss) == 0;
	json_t *v;
	size_t i;

	json_array_foreach(allow, i, v)
	{
		const char *entry = json_string_value(v);
		const char *colon = entry ? strrchr(entry, ':') : NULL;
		size_t hlen = colon ? (size_t)(colon - entry) : strlen(entry);
		long eport = 0;

		if (entry == NULL)
			continue;
		if (colon != NULL &&
		    parse_long(colon + 1, 1, 65535, &eport) < 0)
			continue;
		if (eport != 0 ? port != eport : (port != 443 && port != 80))
			continue;
		if (hlen > 2 && entry[0] == '*' && entry[1] == '.') {
			size_t sl = hlen - 1, nl = strlen(host); /* ".domain" */

			if (numeric)
				continue;
			if (nl > sl &&
			    strncasecmp(host + nl - sl, entry + 1, sl) == 0)
				return true;
			continue;
		}
		if (strlen(host) == hlen && strncasecmp(host, entry, hlen) == 0)
			return true;
	}
	return false;
}

static void egress_on_up(struct ev_io *io, uint32_t events, void *data);

/*
 * Start a nonblocking TCP connect to the first address of res that c may
 * reach; fd or -errno with *cause. Every address is held to the address
 * policy (c->private_ok allows private ranges) right before the socket
 * connects to it.
 */
static int
egress_connect(struct egress_conn *c, const struct resolve_addrs *res,
	       char **cause)
{
	const char *why = NULL;
	int fd = -1, err = ECONNREFUSED;

	for (size_t i = 0; i < res->n; i++) {
		const struct sockaddr *sa =
			(const struct sockaddr *)&res->addr[i];
		const char *w = net_check(sa, c->private_ok);

		if (w != NULL) {
			why = w;
			continue;
		}
		fd = socket(sa->sa_family,
			    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, sa, res->len[i]) == 0 || errno == EINPROGRESS)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0 && why != NULL) {
		*cause = xasprintf("%s:%u leads to %s: refused", c->host,
				   c->port, why);
		return -EACCES;
	}
	if (fd < 0) {
		*cause = xasprintf("cannot connect to %s:%u: %s", c->host,
				   c->port, strerror(err));
		return -ECONNREFUSED;
	}
	return fd;
}

/* Connect c to an address of res (or refuse it); its client waits. */
static void
egress_dial(struct egress_conn *c, const struct resolve_addrs *res)
{
	char *cause = NULL;

	c->up = egress_connect(c, res, &cause);
	if (c->up < 0) {
		if (c->up == -EACCES)
			egress_decision(c->e, "CONNECT %s denied: %s",
					c->target, cause);
		egress_refuse(c, c->up == -EACCES ? 403 : 502, cause);
		free(cause);
		return;
	}
	ev_io_del(c->io);
	c->io = NULL;
	c->up_io = ev_io_add(srv->loop, c->up, EPOLLOUT, egress_on_up, c);
}

/* The answer to c's lookup came (or none did in time). */
static void
egress_on_resolved(const struct resolve_addrs *res, int err, const char *cause,
		   void *data)
{
	struct egress_conn *c = data;

	c->resolving = NULL;
	if (err < 0) {
		egress_decision(c->e, "CONNECT %s failed: %s", c->target,
				cause);
		egress_refuse(c, 502, cause);
		return;
	}
	egress_dial(c, res);
}

/* Resolve c->host without blocking, then dial; its client stays unread
 * until then (only its hangup is watched). */
static void
egress_resolve(struct egress_conn *c)
{
	struct resolve_addrs res;
	char *cause = NULL;
	int r;

	r = resolve_start(egress_resolver, c->host, c->port, EGRESS_RESOLVE_MS,
			  egress_on_resolved, c, &res, &c->resolving, &cause);
	if (r == 0) {
		egress_dial(c, &res);
		return;
	}
	if (r < 0) {
		egress_refuse(c, r == -EAGAIN ? 503 : 502, cause);
		free(cause);
		return;
	}
	ev_io_set_events(c->io, 0); /* EPOLLHUP and EPOLLERR still come */
}

static void
egress_relay_done(struct relay *r, void *data)
{
	struct egress *e = data;

	for (size_t i = 0; i < e->nrelays; i++) {
		if (e->relays[i] == r) {
			e->relays[i] = e->relays[--e->nrelays];
			egress_open--;
			break;
		}
	}
	relay_free(r);
}

/* The upstream connected (or failed): start relaying. */
static void
egress_on_up(struct ev_io *io UNUSED, uint32_t events UNUSED, void *data)
{
	struct egress_conn *c = data;
	int err = 0;
	socklen_t len = sizeof err;
	struct relay *r;
	int fd, up;

	if (getsockopt(c->up, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		char *why = xasprintf("cannot connect to %s: %s", c->target,
				      strerror(err));

		egress_decision(c->e, "%s", why);
		egress_refuse(c, 502, why);
		free(why);
		return;
	}
	{
		static const char ok[] =
			"HTTP/1.1 200 Connection Established\r\n\r\n";

		if (write(c->fd, ok, sizeof ok - 1) < 0) {
			egress_conn_free(c, true);
			return;
		}
	}
	/* the relay watches both fds from now on */
	ev_io_del(c->up_io);
	c->up_io = NULL;
	fd = c->fd;
	up = c->up;
	c->fd = c->up = -1;
	r = relay_new(srv->loop, fd, up, egress_relay_done, c->e);
	c->e->relays = xreallocarray(c->e->relays, c->e->nrelays + 1,
				     sizeof *c->e->relays);
	c->e->relays[c->e->nrelays++] = r;
	egress_open++; /* counted out with the handshake just below */
	if (c->out.len > 0)
		relay_prefill(r, true, c->out.data, c->out.len);
	egress_conn_free(c, false);
}

/* Parse the request line and CONNECT target of a head; pure. */
int
egress_parse_head(const char *head, char *method, char *target, char *host,
		  long *port, const char **why)
{
	const char *colon;

	if (sscanf(head, "%15s %511s HTTP/1.", method, target) != 2) {
		*why = "malformed request line";
		return 400;
	}
	if (strcmp(method, "CONNECT") != 0) {
		*why = "only CONNECT is supported: use HTTPS_PROXY";
		return 405;
	}
	colon = strrchr(target, ':');
	if (colon == NULL || parse_long(colon + 1, 1, 65535, port) < 0 ||
	    (size_t)(colon - target) >= EGRESS_HOST_MAX) {
		*why = "CONNECT needs host:port";
		return 400;
	}
	if (target[0] == '[' && colon > target + 1 && colon[-1] == ']')
		snprintf(host, EGRESS_HOST_MAX, "%.*s",
			 (int)(colon - target - 2), target + 1); /* [v6]:port */
	else
		snprintf(host, EGRESS_HOST_MAX, "%.*s", (int)(colon - target),
			 target);
	return 0;
}

/* The request head is complete: decide and connect. */
static void
egress_on_head(struct egress_conn *c, size_t head_len)
{
	char method[16], target[512], host[EGRESS_HOST_MAX];
	const char *reason;
	long portnum;
	int status = egress_parse_head(c->head.data, method, target, host,
				       &portnum, &reason);
	struct sockaddr_storage ss;

	ev_timer_stop(srv->loop, &c->head_timer);
	if (status != 0) {
		egress_refuse(c, status, reason);
		return;
	}
	c->target = xstrdup(target);
	if (!egress_allowed(c->e->allow, host, portnum)) {
		char *why = xasprintf("%s is not in the template's egress "
				      "allowlist",
				      target);

		egress_decision(c->e, "CONNECT %s denied", target);
		egress_refuse(c, 403, why);
		free(why);
		return;
	}
	egress_decision(c->e, "CONNECT %s allowed", target);
	buf_append(&c->out, c->head.data + head_len, c->head.len - head_len);
	c->host = xstrdup(host);
	c->port = (unsigned)portnum;
	c->private_ok = net_literal(host, &ss) == 0 ? c->e->private_literals
						    : c->e->private_names;
	egress_resolve(c);
}

static void
egress_on_client(struct ev_io *io UNUSED, uint32_t events, void *data)
{
	struct egress_conn *c = data;
	char buf[4096];
	ssize_t r;
	char *end;

	if (c->resolving != NULL) {
		/* unread until the answer: only a hangup is news */
		if (events & (EPOLLHUP | EPOLLERR))
			egress_conn_free(c, true);
		return;
	}
	r = read(c->fd, buf, sizeof buf);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		egress_conn_free(c, true);
		return;
	}
	if (buf_append(&c->head, buf, (size_t)r) < 0) {
		egress_refuse(c, 400, "request head too large");
		return;
	}
	end = memmem(c->head.data, c->head.len, "\r\n\r\n", 4);
	if (end != NULL) {
		buf_append(&c->head, "", 1); /* for sscanf; not counted */
		c->head.len--;
		egress_on_head(c, (size_t)(end - c->head.data) + 4);
	}
}

/* Why a new connection of e cannot be taken, or NULL. */
static const char *
egress_over_budget(struct egress *e)
{
	size_t gw = gateway_conns(e->gw);

	if (e->nconns + e->nrelays + gw >= EGRESS_MAX_CONNS)
		return "too many connections from this task";
	/* srv->task_fds == 0: no budget (not set up by the server) */
	if (srv->task_fds > 0 &&
	    EGRESS_TASK_FDS * egress_tasks +
			    2 * (egress_open + gateway_conns_total() + 1) >
		    srv->task_fds)
		return "the server's connections for tasks are all in use";
	return NULL;
}

static void egress_on_accept(struct ev_io *io, uint32_t events, void *data);

/* A connection sent no whole request head in time: 408 and close. */
static void
egress_head_late(void *data)
{
	struct egress_conn *c = data;
	unsigned n;

	if (log_tally(&c->e->late, now_ms(), &n))
		log_info("egress task=%s: closed %u connection(s) without a "
			 "request head after %u ms",
			 c->e->task, n, srv->head_timeout_ms);
	egress_refuse(c, 408, "no request head in time");
}

/* Watch the listener again after a pause. */
static void
egress_resume(void *data)
{
	struct egress_listener *l = data;

	if (l->io == NULL)
		l->io = ev_io_add(srv->loop, l->fd, EPOLLIN, egress_on_accept,
				  l);
}

static void
egress_on_accept(struct ev_io *io UNUSED, uint32_t events UNUSED, void *data)
{
	struct egress_listener *l = data;
	struct egress_conn *c;
	const char *why;
	unsigned n;
	int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		if (!fdlimit_exhausted(errno))
			return;
		if (log_tally(&egress_emfile_tally, now_ms(), &n))
			log_warn("egress: cannot accept (%u time(s), the last "
				 "for task=%s): %s; pausing",
				 n, l->e->task, strerror(errno));
		fdlimit_shed(l->fd, "HTTP/1.1 503 Service Unavailable\r\n"
				    "Connection: close\r\n\r\n"
				    "taskbox egress: the server is out of "
				    "file descriptors\n");
		ev_io_del(l->io);
		l->io = NULL;
		ev_timer_start(srv->loop, &l->retry,
			       now_ms() + EGRESS_RETRY_MS);
		return;
	}
	if ((why = egress_over_budget(l->e)) != NULL) {
		char *msg = xasprintf("HTTP/1.1 503 Service Unavailable\r\n"
				      "Content-Type: text/plain\r\n"
				      "Connection: close\r\n\r\n"
				      "taskbox egress: %s\n",
				      why);

		if (log_tally(&l->e->refused, now_ms(), &n))
			log_warn("egress task=%s: refused %u connection(s): %s",
				 l->e->task, n, why);
		sock_reply_close(fd, msg);
		free(msg);
		return;
	}
	if (l->llm) {
		gateway_accept(l->e->gw, fd);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->e = l->e;
	c->fd = fd;
	c->up = -1;
	buf_init(&c->head, EGRESS_HEAD_LIMIT);
	buf_init(&c->out, 0);
	c->io = ev_io_add(srv->loop, fd, EPOLLIN, egress_on_client, c);
	ev_timer_init(&c->head_timer, egress_head_late, c);
	if (srv->head_timeout_ms > 0)
		ev_timer_start(srv->loop, &c->head_timer,
			       now_ms() + srv->head_timeout_ms);
	c->next = l->e->conns;
	l->e->conns = c;
	l->e->nconns++;
	egress_open++;
}

/* Listen on a unix socket at path, reachable by the task's uid. */
static int
egress_listen(const char *path, uid_t uid, char **cause)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof sa.sun_path) {
		*cause = xasprintf("socket path '%s' is too long: use a "
				   "shorter --data directory",
				   path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* the mode comes from the umask at bind: never chmod a path in a
	 * directory the task can write (a link swapped in would be followed) */
	mode_t old = umask(0177);
	int b = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof sa);

	umask(old);
	if (fd < 0 || b < 0 || listen(fd, 64) < 0) {
		*cause = xasprintf("cannot listen on '%s': %s", path,
				   strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	/* lchown: a link swapped in for the socket is not followed */
	if (uid != 0 && lchown(path, uid, uid) < 0)
		log_warn("cannot hand '%s' to uid %d: %s", path, (int)uid,
			 strerror(errno));
	return fd;
}

struct egress *
egress_new(const char *run_dir, json_t *ws, bool by_admin,
	   const char *task_name, const struct egress_task *who, uid_t uid,
	   char **cause)
{
	struct egress *e = xcalloc(1, sizeof *e);
	static const char *const names[] = {"egress.sock", "llm.sock"};
	json_t *allow = json_object_get(ws, "egress");

	/* a new task's own sockets must fit beside what tasks hold now */
	if (srv->task_fds > 0 &&
	    EGRESS_TASK_FDS * (egress_tasks + 1) +
			    2 * (egress_open + gateway_conns_total()) >
		    srv->task_fds) {
		*cause = xasprintf("the server's file descriptors for tasks "
				   "are all in use (%u: --max-fds); try again "
				   "when other tasks stopped",
				   srv->task_fds);
		free(e);
		return NULL;
	}
	if (egress_resolver == NULL) {
		struct resolve_opts o = {.max_pending = EGRESS_LOOKUPS,
					 .try_ms = 2000,
					 .tries = 2,
					 .servers =
						 getenv("TASKBOX_DNS_SERVERS")};

		egress_resolver = resolve_new(srv->loop, &o, cause);
		if (egress_resolver == NULL) {
			free(e);
			return NULL;
		}
	}
	e->allow = allow ? json_incref(allow) : json_array();
	e->private_literals = by_admin;
	e->private_names =
		by_admin && json_is_true(json_object_get(ws, "egress_private"));
	e->task = xstrdup(task_name);
	e->gw = gateway_new(who->task_id, who->owner_id, who->template_id,
			    who->provider);
	egress_tasks++;
	for (size_t i = 0; i < 2; i++) {
		struct egress_listener *l = &e->l[i];

		l->e = e;
		l->llm = i == 1;
		ev_timer_init(&l->retry, egress_resume, l);
		l->path = xasprintf("%s/%s", run_dir, names[i]);
		l->fd = egress_listen(l->path, uid, cause);
		if (l->fd < 0) {
			egress_free(e);
			return NULL;
		}
		l->io = ev_io_add(srv->loop, l->fd, EPOLLIN, egress_on_accept,
				  l);
	}
	return e;
}

void
egress_free(struct egress *e)
{
	if (e == NULL)
		return;
	while (e->conns != NULL)
		egress_conn_free(e->conns, true);
	gateway_free(e->gw);
	for (size_t i = 0; i < e->nrelays; i++)
		relay_free(e->relays[i]);
	egress_open -= e->nrelays;
	egress_tasks--;
	free(e->relays);
	for (size_t i = 0; i < 2; i++) {
		ev_timer_stop(srv->loop, &e->l[i].retry);
		if (e->l[i].io != NULL)
			ev_io_del(e->l[i].io);
		if (e->l[i].fd > 0)
			close(e->l[i].fd);
		free(e->l[i].path);
	}
	json_decref(e->allow);
	free(e->task);
	free(e);
}
