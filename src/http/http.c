/*
 * http.c: libmicrohttpd in external-epoll mode inside our event loop.
 *
 * Data model: one struct http_req per request, created on the first
 * access-handler call (headers only) and freed in the request-completed
 * callback. A reply is built into req->pending and queued from inside the
 * access handler, the only place MHD allows it: a deferred request is
 * suspended and, when its reply is ready, resumed so MHD calls the handler
 * again to queue it. An SSE stream is a callback response whose reader
 * suspends the connection when its queue is empty and is resumed when an
 * event is queued. All suspended connections are listed so shutdown can
 * resume them first (MHD requires it).
 *
 * Connections are accepted here, not by MHD (which, on EMFILE, stops
 * accepting until one of its own connections closes, and then never
 * again if none does): one struct http_conn per accepted socket, handed
 * to MHD with MHD_add_connection and freed when MHD reports it closed.
 * Each counts against its client (an IPv4 address, an IPv6 /64; unix
 * peers are not counted) and the server's connection limit; at the limit
 * the listening socket leaves epoll until a connection closes, and out of
 * descriptors a waiting client is turned away with the spare descriptor
 * (fdlimit.c) and accepting retried after HTTP_ACCEPT_RETRY_MS. A
 * connection waiting for a request head (after accept, or after its last
 * request completed) sits in a FIFO, which is also deadline order: the
 * head timer shuts down the sockets whose head did not arrive in time,
 * however slowly it trickles. Once the access handler saw the head the
 * connection leaves the FIFO, so SSE streams, streamed responses and
 * suspended (deferred) requests are never cut.
 */
#include "common.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ev.h"
#include "core/fdlimit.h"
#include "core/log.h"
#include "core/text.h"
#include "http.h"

#define HTTP_DEFAULT_BODY_LIMIT (1 << 20)
#define HTTP_HEARTBEAT_MS	15000
#define HTTP_MAX_CONNECTIONS	512
#define HTTP_HEAD_TIMEOUT_MS	10000
#define HTTP_ACCEPT_BATCH	64 /* per wakeup; the backlog is SOMAXCONN */
#define HTTP_ACCEPT_RETRY_MS	100

/* One client (an address, or an IPv6 /64) and its open connections. */
struct http_client {
	unsigned char key[16];
	size_t keylen;
	char name[64];
	unsigned n;
	struct http_client *next;
};

/* One accepted connection, from accept to MHD's close notification. */
struct http_conn {
	struct http_server *srv;
	struct MHD_Connection *conn; /* set when MHD took it */
	int fd;
	struct http_client *client; /* NULL: not counted (unix peers) */
	uint64_t head_start;	    /* waiting for a head since */
	bool in_head;		    /* in the head FIFO */
	bool released;		    /* counted out (closed) */
	struct http_conn *prev, *next;
};

struct http_route {
	char *method;
	char *path;
	int flags;
	size_t body_limit;
	http_handler handler;
	void *data;
};

struct http_sse {
	struct http_server *srv;
	struct http_req *req;
	struct MHD_Connection *conn;
	struct buf queue;
	bool suspended;
	bool ending;
	bool raw; /* a plain stream (proxied body): no keep-alive comments */
	http_sse_close_cb on_close;
	http_sse_close_cb on_drain; /* the queue fell below half its limit */
	void *data;
	struct http_sse *next;
};

struct http_header {
	char *name;
	char *value;
};

struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	char *method;
	char *path;
	const struct http_route *route;
	struct buf body;
	bool too_large;
	bool dispatched;
	bool deferred;	/* waiting for a late reply */
	bool suspended; /* MHD_suspend_connection in effect */
	bool replied;	/* a reply was queued or is pending */
	struct MHD_Response *pending;
	unsigned pending_status;
	struct http_header extra[12];
	size_t nextra;
	struct http_req *next_deferred;
};

struct http_server {
	struct ev_loop *loop;
	struct MHD_Daemon *mhd;
	struct ev_io *io;
	int listen_fd;
	int port;
	char *unix_path;
	bool need_run;
	struct http_route *routes;
	size_t nroutes;
	struct http_limits limits;
	struct ev_io *accept_io; /* NULL while accepting is paused */
	struct ev_timer accept_retry;
	unsigned nconns;
	struct http_client *clients;
	struct http_conn *adding; /* inside MHD_add_connection */
	struct http_conn *head_first, *head_last;
	struct ev_timer head_timer;
	/* floods logged as counts */
	struct log_tally cut_tally, refuse_tally, emfile_tally;
	http_guard guard;
	void *guard_data;
	http_reply_cb on_reply;
	void *on_reply_data;
	char **origins;
	size_t norigins;
	struct http_sse *streams;
	struct http_req *deferred;
	struct ev_timer heartbeat;
	bool draining;		  /* shutting down: no new waits */
	unsigned bad_json_status; /* http_server_set_bad_json_status */
};

static const struct {
	unsigned status;
	const char *reason;
} http_reasons[] = {
	{200, "OK"},
	{201, "Created"},
	{204, "No Content"},
	{303, "See Other"},
	{307, "Temporary Redirect"},
	{400, "Bad Request"},
	{401, "Unauthorized"},
	{403, "Forbidden"},
	{404, "Not Found"},
	{405, "Method Not Allowed"},
	{409, "Conflict"},
	{413, "Content Too Large"},
	{415, "Unsupported Media Type"},
	{422, "Unprocessable Entity"},
	{429, "Too Many Requests"},
	{500, "Internal Server Error"},
	{503, "Service Unavailable"},
	{504, "Gateway Timeout"},
};

const char *
http_reason(unsigned status)
{
	for (size_t i = 0; i < ARRAY_SIZE(http_reasons); i++) {
		if (http_reasons[i].status == status)
			return http_reasons[i].reason;
	}
	return "Error";
}

/* ---- server ---------------------------------------------------------- */

static void
http_on_ready(struct ev_io *io UNUSED, uint32_t events UNUSED, void *data)
{
	struct http_server *srv = data;

	srv->need_run = true;
}

int
http_server_prepare(struct http_server *srv)
{
	MHD_UNSIGNED_LONG_LONG to;

	if (srv->mhd == NULL)
		return -1;
	/* run on readiness, after a resume, and when MHD's timeout is due */
	for (int i = 0; i < 8; i++) {
		if (!srv->need_run &&
		    !(MHD_get_timeout(srv->mhd, &to) == MHD_YES && to == 0))
			break;
		srv->need_run = false;
		MHD_run(srv->mhd);
	}
	if (srv->need_run)
		return 0;
	if (MHD_get_timeout(srv->mhd, &to) == MHD_YES)
		return (int)MIN(to, 60000);
	return -1;
}

/* Make the next loop iteration run MHD (after a resume). */
static void
http_kick(struct http_server *srv)
{
	srv->need_run = true;
}

static void http_accept_retry(void *data);
static void http_head_check(void *data);

static void
http_heartbeat(void *data)
{
	struct http_server *srv = data;

	for (struct http_sse *s = srv->streams; s != NULL; s = s->next) {
		if (!s->ending && !s->raw)
			http_sse_send(s, NULL, NULL);
	}
	/* no streams, no wakeups: http_sse_start arms it again */
	if (srv->streams != NULL)
		ev_timer_start(srv->loop, &srv->heartbeat,
			       now_ms() + HTTP_HEARTBEAT_MS);
}

/* ---- connections ---------------------------------------------------- */

/* The client key of a peer address: IPv4 (also mapped), an IPv6 /64;
 * 0 for peers that are not counted (unix sockets). */
static size_t
http_client_key(const struct sockaddr_storage *ss, unsigned char key[16],
		char name[64])
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		memcpy(key, &in->sin_addr, 4);
		inet_ntop(AF_INET, &in->sin_addr, name, 64);
		return 4;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
			(const struct sockaddr_in6 *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			memcpy(key, in6->sin6_addr.s6_addr + 12, 4);
			inet_ntop(AF_INET, key, name, 64);
			return 4;
		}
		/* one host often has a whole /64 to pick from */
		memcpy(key, in6->sin6_addr.s6_addr, 8);
		inet_ntop(AF_INET6, &in6->sin6_addr, name, 64);
		return 8;
	}
	return 0;
}

/* The client record of ss, created with no connections if new; NULL
 * for peers that are not counted. */
static struct http_client *
http_client_get(struct http_server *srv, const struct sockaddr_storage *ss)
{
	unsigned char key[16];
	char name[64] = "";
	size_t len = http_client_key(ss, key, name);
	struct http_client *cl;

	if (len == 0)
		return NULL;
	for (cl = srv->clients; cl != NULL; cl = cl->next) {
		if (cl->keylen == len && memcmp(cl->key, key, len) == 0)
			return cl;
	}
	cl = xcalloc(1, sizeof *cl);
	memcpy(cl->key, key, len);
	cl->keylen = len;
	snprintf(cl->name, sizeof cl->name, "%s", name);
	cl->next = srv->clients;
	srv->clients = cl;
	return cl;
}

/* Forget cl once it has no connection left. */
static void
http_client_put(struct http_server *srv, struct http_client *cl)
{
	struct http_client **pp;

	if (cl == NULL || cl->n > 0)
		return;
	for (pp = &srv->clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	free(cl);
}

/* Take hc out of the head FIFO. */
static void
http_head_done(struct http_conn *hc)
{
	struct http_server *srv = hc->srv;

	if (!hc->in_head)
		return;
	if (hc->prev != NULL)
		hc->prev->next = hc->next;
	else
		srv->head_first = hc->next;
	if (hc->next != NULL)
		hc->next->prev = hc->prev;
	else
		srv->head_last = hc->prev;
	hc->prev = hc->next = NULL;
	hc->in_head = false;
}

/* hc waits for a request head from now on (end of the FIFO). */
static void
http_head_wait(struct http_conn *hc)
{
	struct http_server *srv = hc->srv;

	if (srv->limits.head_timeout_ms == 0 || srv->draining)
		return;
	http_head_done(hc);
	hc->head_start = now_ms();
	hc->prev = srv->head_last;
	if (srv->head_last != NULL)
		srv->head_last->next = hc;
	else
		srv->head_first = hc;
	srv->head_last = hc;
	hc->in_head = true;
	if (!srv->head_timer.active)
		ev_timer_start(srv->loop, &srv->head_timer,
			       hc->head_start + srv->limits.head_timeout_ms);
}

/* The head timer: cut the connections whose head is late. */
static void
http_head_check(void *data)
{
	struct http_server *srv = data;
	uint64_t now = now_ms(), timeout = srv->limits.head_timeout_ms;
	struct http_conn *hc;
	unsigned n;

	/* heads that arrived while the loop was busy (timers run after I/O
	 * callbacks, MHD reads at the next prepare): read them first */
	if (srv->mhd != NULL && srv->head_first != NULL &&
	    srv->head_first->head_start + timeout <= now)
		MHD_run(srv->mhd);
	while ((hc = srv->head_first) != NULL &&
	       hc->head_start + timeout <= now) {
		http_head_done(hc);
		if (log_tally(&srv->cut_tally, now, &n))
			log_info("closed %u connection(s) whose request head "
				 "took over %llu ms (the last from %s)",
				 n, (unsigned long long)timeout,
				 hc->client != NULL ? hc->client->name
						    : "a local peer");
		/* MHD owns the socket: it sees the end and closes it */
		shutdown(hc->fd, SHUT_RDWR);
		srv->need_run = true;
	}
	if (srv->head_first != NULL)
		ev_timer_start(srv->loop, &srv->head_timer,
			       srv->head_first->head_start + timeout);
}

/* Count hc out: its client, the server's total, the head FIFO. */
static void
http_conn_release(struct http_conn *hc)
{
	struct http_server *srv = hc->srv;

	if (hc->released)
		return;
	hc->released = true;
	http_head_done(hc);
	if (hc->client != NULL) {
		hc->client->n--;
		http_client_put(srv, hc->client);
		hc->client = NULL;
	}
	srv->nconns--;
}

static void http_on_accept(struct ev_io *io, uint32_t events, void *data);

/* Stop accepting; with retry_ms > 0 try again after that long, else
 * when a connection closes. */
static void
http_accept_pause(struct http_server *srv, unsigned retry_ms)
{
	if (srv->accept_io != NULL) {
		ev_io_del(srv->accept_io);
		srv->accept_io = NULL;
	}
	if (retry_ms > 0)
		ev_timer_start(srv->loop, &srv->accept_retry,
			       now_ms() + retry_ms);
}

/* Accept again (after a pause). */
static void
http_accept_resume(struct http_server *srv)
{
	if (srv->accept_io != NULL || srv->draining || srv->listen_fd < 0)
		return;
	ev_timer_stop(srv->loop, &srv->accept_retry);
	srv->accept_io = ev_io_add(srv->loop, srv->listen_fd, EPOLLIN,
				   http_on_accept, srv);
}

static void
http_accept_retry(void *data)
{
	http_accept_resume(data);
}

/* Answer a connection that is not taken with status and close it. */
static void
http_refuse(int fd, unsigned status, const char *detail)
{
	char body[512], msg[1024];

	snprintf(body, sizeof body,
		 "{\"type\":\"about:blank\",\"title\":\"%s\","
		 "\"status\":%u,\"detail\":\"%s\",\"message\":\"%s\"}",
		 http_reason(status), status, detail, detail);
	snprintf(msg, sizeof msg,
		 "HTTP/1.1 %u %s\r\nContent-Type: application/problem+json"
		 "\r\nContent-Length: %zu\r\nConnection: close\r\n"
		 "Retry-After: 1\r\n\r\n%s",
		 status, http_reason(status), strlen(body), body);
	sock_reply_close(fd, msg);
}

/* A new connection: check its client's limit and hand it to MHD. */
static void
http_conn_add(struct http_server *srv, int fd, struct sockaddr_storage *ss,
	      socklen_t sl)
{
	struct http_client *cl = http_client_get(srv, ss);
	struct http_conn *hc;
	bool ok;

	if (cl != NULL && srv->limits.max_per_client > 0 &&
	    cl->n >= srv->limits.max_per_client) {
		char detail[128];
		unsigned n;

		if (log_tally(&srv->refuse_tally, now_ms(), &n))
			log_warn("refused %u connection(s) over the limit of "
				 "%u per client (--max-conns-per-client; the "
				 "last from %s)",
				 n, srv->limits.max_per_client, cl->name);
		snprintf(detail, sizeof detail,
			 "too many connections from your address (at most "
			 "%u at once)",
			 srv->limits.max_per_client);
		http_refuse(fd, 429, detail);
		return;
	}
	hc = xcalloc(1, sizeof *hc);
	hc->srv = srv;
	hc->fd = fd;
	hc->client = cl;
	if (cl != NULL)
		cl->n++;
	srv->nconns++;
	http_head_wait(hc);
	srv->adding = hc;
	ok = MHD_add_connection(srv->mhd, fd, (struct sockaddr *)ss, sl) ==
	     MHD_YES;
	srv->adding = NULL;
	/* on failure MHD closed the socket (and may have said so) */
	if (!ok || hc->released) {
		http_conn_release(hc);
		free(hc);
	}
	srv->need_run = true;
}

static void
http_on_accept(struct ev_io *io UNUSED, uint32_t events UNUSED, void *data)
{
	struct http_server *srv = data;

	for (int i = 0; i < HTTP_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		unsigned n;
		int fd, r;

		if (srv->nconns >= srv->limits.max_conns) {
			/* the rest wait in the backlog; a close resumes */
			http_accept_pause(srv, 0);
			return;
		}
		memset(&ss, 0, sizeof ss);
		fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &sl,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			http_conn_add(srv, fd, &ss, sl);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		if (!fdlimit_exhausted(errno)) {
			/* ECONNABORTED and the like: that client is gone */
			if (errno == ECONNABORTED || errno == EPROTO ||
			    errno == EPERM)
				continue;
			log_error("cannot accept connections: %s",
				  strerror(errno));
			http_accept_pause(srv, 1000);
			return;
		}
		r = errno;
		if (log_tally(&srv->emfile_tally, now_ms(), &n))
			log_warn("cannot accept connections (%u time(s)): %s; "
				 "waiting clients are turned away, retrying "
				 "every %d ms",
				 n, strerror(r), HTTP_ACCEPT_RETRY_MS);
		fdlimit_shed(srv->listen_fd,
			     "HTTP/1.1 503 Service Unavailable\r\n"
			     "Content-Length: 0\r\nConnection: close\r\n"
			     "Retry-After: 1\r\n\r\n");
		http_accept_pause(srv, HTTP_ACCEPT_RETRY_MS);
		return;
	}
}

/* MHD took a connection (inside http_conn_add) or closed one. */
static void
http_on_connection(void *cls, struct MHD_Connection *conn,
		   void **socket_context,
		   enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	struct http_conn *hc;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		hc = srv->adding;
		if (hc != NULL) {
			hc->conn = conn;
			*socket_context = hc;
		}
		return;
	}
	hc = *socket_context;
	*socket_context = NULL;
	if (hc == NULL)
		return;
	http_conn_release(hc);
	if (hc != srv->adding)
		free(hc);
	/* a slot (and a descriptor) is free again */
	if (srv->accept_io == NULL && !srv->accept_retry.active)
		http_accept_resume(srv);
}

/* The connection record of conn, or NULL. */
static struct http_conn *
http_conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

/* libmicrohttpd's messages about routine events: a client that went away
 * while a stream was open; TCP options on a unix socket (the runtime's
 * agent.sock), three per response. */
static bool
http_mhd_routine(const char *msg)
{
	static const char *const prefixes[] = {
		"Failed to send the chunked response body",
		"Setting TCP_NODELAY option to ON state failed",
		"Setting TCP_CORK option to OFF state failed",
		"Failed to push the data from buffers to the network",
	};

	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		if (str_starts_with(msg, prefixes[i]))
			return true;
	}
	return false;
}

/* libmicrohttpd's own messages, through our (rate-limited) log. */
static void
http_mhd_log(void *cls UNUSED, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (http_mhd_routine(msg))
		log_debug("http: %s", msg);
	else
		log_warn("http: %s", msg);
}

struct http_server *
http_server_new(struct ev_loop *loop)
{
	struct http_server *srv = xcalloc(1, sizeof *srv);

	srv->loop = loop;
	srv->listen_fd = -1;
	srv->limits.max_conns = HTTP_MAX_CONNECTIONS;
	srv->limits.head_timeout_ms = HTTP_HEAD_TIMEOUT_MS;
	srv->bad_json_status = 422;
	ev_timer_init(&srv->heartbeat, http_heartbeat, srv);
	ev_timer_init(&srv->accept_retry, http_accept_retry, srv);
	ev_timer_init(&srv->head_timer, http_head_check, srv);
	return srv;
}

void
http_server_set_limits(struct http_server *srv, const struct http_limits *l)
{
	srv->limits = *l;
	if (srv->limits.max_conns == 0)
		srv->limits.max_conns = HTTP_MAX_CONNECTIONS;
}

void
http_server_set_bad_json_status(struct http_server *srv, unsigned status)
{
	srv->bad_json_status = status;
}

void
http_server_set_guard(struct http_server *srv, http_guard guard, void *data)
{
	srv->guard = guard;
	srv->guard_data = data;
}

void
http_server_on_reply(struct http_server *srv, http_reply_cb cb, void *data)
{
	srv->on_reply = cb;
	srv->on_reply_data = data;
}

void
http_server_set_origins(struct http_server *srv, char **origins, size_t n)
{
	srv->origins = xcalloc(n + 1, sizeof *srv->origins);
	for (size_t i = 0; i < n; i++)
		srv->origins[i] = xstrdup(origins[i]);
	srv->norigins = n;
}

void
http_server_route(struct http_server *srv, const char *method, const char *path,
		  int flags, size_t body_limit, http_handler handler,
		  void *data)
{
	struct http_route *r;

	srv->routes = xreallocarray(srv->routes, srv->nroutes + 1,
				    sizeof *srv->routes);
	r = &srv->routes[srv->nroutes++];
	r->method = xstrdup(method);
	r->path = xstrdup(path);
	r->flags = flags;
	r->body_limit = body_limit ? body_limit : HTTP_DEFAULT_BODY_LIMIT;
	r->handler = handler;
	r->data = data;
}

/* Find the route for method and path; *path_known tells whether any
 * route has that path (for 405 versus 404). */
static const struct http_route *
http_find_route(struct http_server *srv, const char *method, const char *path,
		bool *path_known)
{
	*path_known = false;
	for (size_t i = 0; i < srv->nroutes; i++) {
		const struct http_route *r = &srv->routes[i];
		bool match = r->flags & HTTP_ROUTE_PREFIX
				     ? str_starts_with(path, r->path)
				     : strcmp(path, r->path) == 0;

		if (!match)
			continue;
		*path_known = true;
		if (strcmp(r->method, method) == 0 ||
		    (strcmp(r->method, "GET") == 0 &&
		     strcmp(method, "HEAD") == 0))
			return r;
	}
	return NULL;
}

static void http_req_complete(void *cls, struct MHD_Connection *conn,
			      void **con_cls,
			      enum MHD_RequestTerminationCode toe);
static enum MHD_Result http_on_request(void *cls, struct MHD_Connection *conn,
				       const char *url, const char *method,
				       const char *version,
				       const char *upload_data,
				       size_t *upload_data_size,
				       void **con_cls);

/* Bind a listening socket for host:port or a unix path. */
static int
http_bind(struct http_server *srv, const char *host, int port, const char *path,
	  char **cause)
{
	int fd = -1, r;

	if (path != NULL) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};

		if (strlen(path) >= sizeof sun.sun_path) {
			*cause = xasprintf("socket path too long: '%s'", path);
			return -ENAMETOOLONG;
		}
		strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    0);
		if (fd < 0)
			goto sys_error;
		unlink(path);
		{
			/* never visible with wider permissions than 0600 */
			mode_t old = umask(0177);

			r = bind(fd, (struct sockaddr *)&sun, sizeof sun);
			umask(old);
		}
		if (r < 0 || listen(fd, SOMAXCONN) < 0)
			goto sys_error;
		srv->unix_path = xstrdup(path);
	} else {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
					 .ai_flags =
						 AI_PASSIVE | AI_NUMERICSERV},
				*ai = NULL;
		char portstr[16];
		int one = 1;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;

		snprintf(portstr, sizeof portstr, "%d", port);
		r = getaddrinfo(host, portstr, &hints, &ai);
		if (r != 0) {
			*cause = xasprintf("cannot resolve '%s': %s", host,
					   gai_strerror(r));
			return -EINVAL;
		}
		fd = socket(ai->ai_family,
			    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			freeaddrinfo(ai);
			goto sys_error;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(fd, SOMAXCONN) < 0) {
			freeaddrinfo(ai);
			goto sys_error;
		}
		freeaddrinfo(ai);
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET)
				srv->port = ntohs(
					((struct sockaddr_in *)&ss)->sin_port);
			else if (ss.ss_family == AF_INET6)
				srv->port = ntohs(((struct sockaddr_in6 *)&ss)
							  ->sin6_port);
		}
	}
	srv->listen_fd = fd;
	return 0;
sys_error:
	r = -errno;
	if (path != NULL)
		*cause = xasprintf("cannot listen on '%s': %s", path,
				   strerror(errno));
	else
		*cause = xasprintf("cannot listen on %s:%d: %s", host, port,
				   strerror(errno));
	if (fd >= 0)
		close(fd);
	return r;
}

int
http_server_listen(struct http_server *srv, const char *host, int port,
		   const char *path, char **cause)
{
	const union MHD_DaemonInfo *info;
	int r;

	r = http_bind(srv, host, port, path, cause);
	if (r < 0)
		return r;
	/* we accept (http_on_accept), MHD serves */
	srv->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
			MHD_USE_NO_LISTEN_SOCKET,
		0, NULL, NULL, http_on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
		http_mhd_log, srv, MHD_OPTION_NOTIFY_COMPLETED,
		http_req_complete, srv, MHD_OPTION_NOTIFY_CONNECTION,
		http_on_connection, srv, MHD_OPTION_CONNECTION_LIMIT,
		srv->limits.max_conns, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)120, MHD_OPTION_END);
	if (srv->mhd == NULL) {
		*cause = xstrdup("cannot start the HTTP server");
		return -EIO;
	}
	info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL) {
		*cause = xstrdup("the HTTP library has no epoll support");
		return -ENOTSUP;
	}
	srv->io = ev_io_add(srv->loop, info->epoll_fd, EPOLLIN, http_on_ready,
			    srv);
	srv->need_run = true;
	http_accept_resume(srv);
	return 0;
}

int
http_server_port(struct http_server *srv)
{
	return srv->port;
}

void
http_server_drain(struct http_server *srv)
{
	/* accept no new connections */
	http_accept_pause(srv, 0);
	ev_timer_stop(srv->loop, &srv->accept_retry);
	srv->draining = true;
	while (srv->deferred != NULL) {
		struct http_req *req = srv->deferred;

		http_reply_problem(req, 503, "the server is shutting down");
	}
	for (struct http_sse *s = srv->streams; s != NULL; s = s->next)
		http_sse_end(s);
	if (srv->mhd != NULL) {
		/* let MHD flush what it can without blocking */
		for (int i = 0; i < 4; i++)
			MHD_run(srv->mhd);
	}
}

void
http_server_free(struct http_server *srv)
{
	if (srv == NULL)
		return;
	http_server_drain(srv);
	ev_timer_stop(srv->loop, &srv->heartbeat);
	if (srv->io != NULL)
		ev_io_del(srv->io);
	if (srv->mhd != NULL)
		MHD_stop_daemon(srv->mhd); /* closes (and frees) every conn */
	/* after MHD: its last notifications may touch them */
	ev_timer_stop(srv->loop, &srv->head_timer);
	ev_timer_stop(srv->loop, &srv->accept_retry);
	if (srv->accept_io != NULL)
		ev_io_del(srv->accept_io);
	while (srv->clients != NULL) {
		struct http_client *cl = srv->clients;

		srv->clients = cl->next;
		free(cl);
	}
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->unix_path != NULL) {
		unlink(srv->unix_path);
		free(srv->unix_path);
	}
	for (size_t i = 0; i < srv->nroutes; i++) {
		free(srv->routes[i].method);
		free(srv->routes[i].path);
	}
	free(srv->routes);
	for (size_t i = 0; i < srv->norigins; i++)
		free(srv->origins[i]);
	free(srv->origins);
	free(srv);
}

/* ---- requests ------------------------------------------------------- */

const char *
http_req_method(struct http_req *req)
{
	return req->method;
}

const char *
http_req_path(struct http_req *req)
{
	return req->path;
}

const char *
http_req_header(struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
http_req_query(struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
					   name);
}

int
http_req_query_flag(struct http_req *req, const char *name, bool *on)
{
	const char *v = NULL;
	size_t n = 0;

	*on = false;
	if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND,
					  name, strlen(name), &v,
					  &n) != MHD_YES)
		return 0;
	if (v == NULL || *v == '\0' || strcmp(v, "true") == 0 ||
	    strcmp(v, "1") == 0)
		*on = true;
	else if (strcmp(v, "false") != 0 && strcmp(v, "0") != 0)
		return -EINVAL;
	return 0;
}

/* Percent-encode s onto b (RFC 3986 unreserved characters stay). */
static void
http_query_encode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~') {
			buf_append(b, s, 1);
		} else {
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

			buf_append(b, esc, 3);
		}
	}
}

struct http_query_ctx {
	struct buf *b;
	const char *skip;
};

static enum MHD_Result
http_query_add(void *cls, enum MHD_ValueKind kind UNUSED, const char *key,
	       const char *value)
{
	struct http_query_ctx *q = cls;

	if (q->skip != NULL && strcmp(key, q->skip) == 0)
		return MHD_YES;
	buf_puts(q->b, q->b->len == 0 ? "?" : "&");
	http_query_encode(q->b, key);
	if (value != NULL) {
		buf_puts(q->b, "=");
		http_query_encode(q->b, value);
	}
	return MHD_YES;
}

char *
http_req_query_string(struct http_req *req, const char *skip)
{
	struct buf b;
	struct http_query_ctx q = {&b, skip};
	char *s;

	buf_init(&b, 0);
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND,
				  http_query_add, &q);
	s = xstrndup(b.data ? b.data : "", b.len);
	buf_release(&b);
	return s;
}

const char *
http_req_body(struct http_req *req, size_t *len)
{
	*len = req->body.len;
	return buf_cstr(&req->body);
}

struct MHD_Connection *
http_req_conn(struct http_req *req)
{
	return req->conn;
}

static void PRINTFLIKE(2, 3)
	http_reply_unreadable(struct http_req *req, const char *fmt, ...);

json_t *
http_req_json(struct http_req *req)
{
	json_error_t err;
	json_t *j;

	/* any Content-Type: curl -d sends form encoding; Origin guards CSRF */
	if (req->body.len == 0) {
		http_reply_unreadable(req,
				      "request body is empty; expected a JSON "
				      "object");
		return NULL;
	}
	j = json_loadb(buf_cstr(&req->body), req->body.len,
		       JSON_REJECT_DUPLICATES, &err);
	if (j == NULL) {
		/* jansson quotes the bytes it stopped at ("near '...'"):
		 * never echo a body back, it may hold a secret */
		char *near = strstr(err.text, " near '");

		if (near != NULL)
			*near = '\0';
		http_reply_unreadable(req,
				      "malformed JSON at line %d column %d: %s",
				      err.line, err.column, err.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		http_reply_invalid(req, "body", NULL, "expected a JSON object");
		return NULL;
	}
	return j;
}

bool
http_req_origin_allowed(struct http_req *req, const char *origin)
{
	struct http_server *srv = req->srv;
	const char *host = http_req_header(req, "Host");
	const char *o = strstr(origin, "://");

	if (strcmp(origin, "null") == 0)
		return false;
	if (host != NULL && o != NULL && strcasecmp(o + 3, host) == 0)
		return true;
	for (size_t i = 0; i < srv->norigins; i++) {
		const char *a = srv->origins[i];
		const char *star = strstr(a, "*");

		if (strcmp(a, "*") == 0 || strcasecmp(a, origin) == 0)
			return true;
		if (star != NULL) {
			/* wildcard such as https://STAR.example.com */
			size_t pre = (size_t)(star - a),
			       post = strlen(star + 1);

			if (strlen(origin) > pre + post &&
			    strncasecmp(origin, a, pre) == 0 &&
			    strcasecmp(origin + strlen(origin) - post,
				       star + 1) == 0)
				return true;
		}
	}
	return false;
}

/* Add CORS and fixed headers to a response before queueing it. */
static void
http_decorate(struct http_req *req, struct MHD_Response *resp)
{
	const char *origin = http_req_header(req, "Origin");

	if (origin != NULL && http_req_origin_allowed(req, origin)) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin",
					origin);
		MHD_add_response_header(
			resp, "Access-Control-Allow-Credentials", "true");
		MHD_add_response_header(resp, "Access-Control-Expose-Headers",
					"Link");
		MHD_add_response_header(resp, "Vary", "Origin");
	}
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (req->srv->limits.head_timeout_ms >= 2000) {
		/* clients close idle connections before the head timeout
		 * would: no request races the server's close */
		char ka[32];

		snprintf(ka, sizeof ka, "timeout=%u",
			 req->srv->limits.head_timeout_ms / 1000 - 1);
		MHD_add_response_header(resp, "Keep-Alive", ka);
	}
	for (size_t i = 0; i < req->nextra; i++)
		MHD_add_response_header(resp, req->extra[i].name,
					req->extra[i].value);
}

void
http_reply_header(struct http_req *req, const char *name, const char *value)
{
	BUG_ON(req->nextra == ARRAY_SIZE(req->extra));
	req->extra[req->nextra].name = xstrdup(name);
	req->extra[req->nextra].value = xstrdup(value);
	req->nextra++;
}

/* Store resp as the reply; queue it now or after a resume. */
static void
http_set_reply(struct http_req *req, unsigned status, struct MHD_Response *resp)
{
	if (req->replied) {
		MHD_destroy_response(resp);
		return;
	}
	http_decorate(req, resp);
	req->pending = resp;
	req->pending_status = status;
	req->replied = true;
	if (req->srv->on_reply != NULL)
		req->srv->on_reply(req->route ? req->route->method : NULL,
				   req->route ? req->route->path : NULL, status,
				   req->srv->on_reply_data);
	if (req->deferred) {
		struct http_req **pp = &req->srv->deferred;

		while (*pp != NULL && *pp != req)
			pp = &(*pp)->next_deferred;
		if (*pp == req)
			*pp = req->next_deferred;
		req->deferred = false;
		if (req->suspended) {
			req->suspended = false;
			MHD_resume_connection(req->conn);
			http_kick(req->srv);
		}
	}
}

void
http_reply(struct http_req *req, unsigned status, const char *ctype,
	   const void *data, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		len, (void *)data, MHD_RESPMEM_MUST_COPY);

	if (ctype != NULL)
		MHD_add_response_header(resp, "Content-Type", ctype);
	http_set_reply(req, status, resp);
}

void
http_reply_json(struct http_req *req, unsigned status, json_t *body)
{
	char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;

	if (s == NULL) {
		log_error("cannot encode the JSON reply to %s %s", req->method,
			  req->path);
		json_decref(body);
		http_reply_problem(req, 500, "cannot encode the reply");
		return;
	}
	http_reply(req, status, "application/json", s, strlen(s));
	free(s);
	json_decref(body);
}

/*
 * Add Coder's members to problem p: "message" (the detail, else the
 * title) and, when some of its errors name a location, "validations"
 * ([{field: location, detail: message}], those errors in order).
 */
static void
http_problem_coder(json_t *p)
{
	const char *detail = json_string_value(json_object_get(p, "detail"));
	json_t *errors = json_object_get(p, "errors"), *e, *v = NULL;
	size_t i;

	if (detail == NULL || *detail == '\0')
		detail = json_string_value(json_object_get(p, "title"));
	json_object_set_new(p, "message", json_string(detail ? detail : ""));
	json_array_foreach(errors, i, e)
	{
		const char *field =
			json_string_value(json_object_get(e, "location"));

		if (field == NULL)
			continue;
		if (v == NULL)
			v = json_array();
		json_array_append_new(
			v, json_pack("{s:s, s:s}", "field", field, "detail",
				     json_string_value(
					     json_object_get(e, "message"))
					     ?: ""));
	}
	if (v != NULL)
		json_object_set_new(p, "validations", v);
}

/* A problem+json body: detail, errors (taken; NULL: one error saying
 * detail) and, when reason is not NULL, a "reason" member. */
static void
http_reply_problem_body(struct http_req *req, unsigned status,
			const char *raw_detail, json_t *errors,
			const char *reason)
{
	/* details quote client input (paths, headers): make it valid UTF-8 */
	char *detail = utf8_sanitize(raw_detail);
	json_t *p = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank",
			      "title", http_reason(status), "status",
			      (int)status, "detail", detail);
	char *s;

	if (errors == NULL)
		errors = json_pack("[{s:s}]", "message", detail);
	if (p == NULL || errors == NULL)
		fatal("cannot build a problem+json body");
	json_object_set_new(p, "errors", errors);
	if (reason != NULL)
		json_object_set_new(p, "reason", json_string(reason));
	http_problem_coder(p);
	s = json_dumps(p, JSON_COMPACT);
	if (s == NULL)
		fatal("cannot encode a problem+json body");
	http_reply(req, status, "application/problem+json", s, strlen(s));
	free(s);
	free(detail);
	json_decref(p);
}

void
http_reply_problem_errors(struct http_req *req, unsigned status,
			  const char *detail, json_t *errors)
{
	http_reply_problem_body(req, status, detail, errors, NULL);
}

void
http_reply_problem_reason(struct http_req *req, unsigned status,
			  const char *reason, const char *fmt, ...)
{
	va_list ap;
	char *detail;

	va_start(ap, fmt);
	detail = xvasprintf(fmt, ap);
	va_end(ap);
	http_reply_problem_body(req, status, detail, NULL, reason);
	free(detail);
}

void
http_reply_problem(struct http_req *req, unsigned status, const char *fmt, ...)
{
	va_list ap;
	char *detail;

	va_start(ap, fmt);
	detail = xvasprintf(fmt, ap);
	va_end(ap);
	if (status == 401)
		http_reply_header(req, "WWW-Authenticate", "Bearer");
	http_reply_problem_errors(req, status, detail, NULL);
	free(detail);
}

/* A problem whose one error is about the request's field at location. */
static void
http_reply_field(struct http_req *req, unsigned status, const char *location,
		 json_t *value, const char *detail)
{
	char *clean = utf8_sanitize(detail);
	json_t *e =
		json_pack("{s:s, s:s}", "message", clean, "location", location);

	free(clean);
	if (value != NULL)
		json_object_set(e, "value", value);
	http_reply_problem_errors(req, status, detail, json_pack("[o]", e));
}

void
http_reply_invalid(struct http_req *req, const char *location, json_t *value,
		   const char *fmt, ...)
{
	va_list ap;
	char *detail;

	va_start(ap, fmt);
	detail = xvasprintf(fmt, ap);
	va_end(ap);
	http_reply_field(req, 422, location, value, detail);
	free(detail);
}

void
http_reply_bad_query(struct http_req *req, const char *location,
		     const char *fmt, ...)
{
	va_list ap;
	char *detail;

	va_start(ap, fmt);
	detail = xvasprintf(fmt, ap);
	va_end(ap);
	http_reply_field(req, 400, location, NULL, detail);
	free(detail);
}

/* A body that is not JSON: the server's status for it (400 or 422). */
static void
http_reply_unreadable(struct http_req *req, const char *fmt, ...)
{
	va_list ap;
	char *detail;

	va_start(ap, fmt);
	detail = xvasprintf(fmt, ap);
	va_end(ap);
	http_reply_field(req, req->srv->bad_json_status, "body", NULL, detail);
	free(detail);
}

void
http_reply_redirect(struct http_req *req, unsigned status, const char *location)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		0, (void *)"", MHD_RESPMEM_PERSISTENT);

	MHD_add_response_header(resp, "Location", location);
	http_set_reply(req, status, resp);
}

void
http_req_uncount(struct http_req *req)
{
	struct http_conn *hc = http_conn_of(req->conn);

	if (hc == NULL || hc->client == NULL)
		return;
	hc->client->n--;
	http_client_put(hc->srv, hc->client);
	hc->client = NULL;
}

void
http_req_defer(struct http_req *req)
{
	if (req->replied || req->deferred)
		return;
	if (req->srv->draining) {
		http_reply_problem(req, 503, "the server is shutting down");
		return;
	}
	req->deferred = true;
	req->next_deferred = req->srv->deferred;
	req->srv->deferred = req;
}

static void
http_req_free(struct http_req *req)
{
	if (req->pending != NULL)
		MHD_destroy_response(req->pending);
	for (size_t i = 0; i < req->nextra; i++) {
		free(req->extra[i].name);
		free(req->extra[i].value);
	}
	buf_release(&req->body);
	free(req->method);
	free(req->path);
	free(req);
}

static void
http_req_complete(void *cls UNUSED, struct MHD_Connection *conn, void **con_cls,
		  enum MHD_RequestTerminationCode toe UNUSED)
{
	struct http_req *req = *con_cls;
	struct http_conn *hc = http_conn_of(conn);

	/* a kept-alive connection has the same time for its next head */
	if (hc != NULL)
		http_head_wait(hc);
	if (req == NULL)
		return;
	if (req->deferred) {
		/* MHD never completes a suspended request; be safe anyway */
		struct http_req **pp = &req->srv->deferred;

		while (*pp != NULL && *pp != req)
			pp = &(*pp)->next_deferred;
		if (*pp == req)
			*pp = req->next_deferred;
	}
	http_req_free(req);
	*con_cls = NULL;
}

/* Queue the pending reply; must run inside the access handler. */
static enum MHD_Result
http_queue_pending(struct http_req *req)
{
	struct MHD_Response *resp = req->pending;
	enum MHD_Result r;

	req->pending = NULL;
	r = MHD_queue_response(req->conn, req->pending_status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result
http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
		const char *method, const char *version UNUSED,
		const char *upload_data, size_t *upload_data_size,
		void **con_cls)
{
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;

	if (req == NULL) {
		struct http_conn *hc = http_conn_of(conn);
		bool known;
		const char *cl;

		/* the head is in: no head timeout while this request lasts */
		if (hc != NULL)
			http_head_done(hc);
		req = xcalloc(1, sizeof *req);
		req->srv = srv;
		req->conn = conn;
		req->method = xstrdup(method);
		req->path = xstrdup(url);
		*con_cls = req;
		req->route = http_find_route(srv, method, url, &known);
		buf_init(&req->body, req->route ? req->route->body_limit
						: HTTP_DEFAULT_BODY_LIMIT);
		if (srv->guard != NULL && !srv->guard(req, srv->guard_data))
			return http_queue_pending(req);
		if (strcmp(method, "OPTIONS") == 0)
			goto dispatch; /* CORS preflight is answered below */
		if (req->route == NULL) {
			if (known)
				http_reply_problem(req, 405,
						   "method %s is not allowed "
						   "on '%s'",
						   method, url);
			else
				http_reply_problem(req, 404,
						   "no such endpoint: '%s'",
						   url);
			return http_queue_pending(req);
		}
		cl = http_req_header(req, "Content-Length");
		if (cl != NULL && strtoull(cl, NULL, 10) > req->body.limit) {
			http_reply_problem(req, 413,
					   "request body of %s bytes is over "
					   "the limit of %zu bytes",
					   cl, req->body.limit);
			return http_queue_pending(req);
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!req->too_large &&
		    buf_append(&req->body, upload_data, *upload_data_size) < 0)
			req->too_large = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->pending != NULL)
		return http_queue_pending(req);
	if (req->dispatched) {
		/* resumed without a reply (spurious): wait again */
		if (req->deferred && !req->suspended) {
			req->suspended = true;
			MHD_suspend_connection(conn);
		}
		return MHD_YES;
	}
dispatch:
	req->dispatched = true;
	if (req->too_large) {
		http_reply_problem(req, 413,
				   "request body is over the limit of %zu "
				   "bytes",
				   req->body.limit);
	} else if (strcmp(method, "OPTIONS") == 0) {
		const char *origin = http_req_header(req, "Origin");
		struct MHD_Response *resp = MHD_create_response_from_buffer(
			0, (void *)"", MHD_RESPMEM_PERSISTENT);

		if (origin != NULL && http_req_origin_allowed(req, origin)) {
			MHD_add_response_header(
				resp, "Access-Control-Allow-Methods",
				"GET, POST, PUT, PATCH, DELETE, OPTIONS");
			MHD_add_response_header(
				resp, "Access-Control-Allow-Headers",
				"Accept, Authorization, Content-Type, "
				"X-CSRF-Token, Coder-Session-Token, "
				"Last-Event-ID");
			MHD_add_response_header(resp, "Access-Control-Max-Age",
						"300");
		}
		http_set_reply(req, 204, resp);
	} else {
		req->route->handler(req, req->route->data);
	}
	if (req->pending != NULL)
		return http_queue_pending(req);
	if (req->deferred) {
		req->suspended = true;
		MHD_suspend_connection(conn);
		return MHD_YES;
	}
	if (!req->replied) {
		log_error("handler for %s %s did not reply", method, url);
		http_reply_problem(req, 500, "internal error");
		return http_queue_pending(req);
	}
	return MHD_YES;
}

/* ---- SSE ------------------------------------------------------------ */

static ssize_t
http_sse_read(void *cls, uint64_t pos UNUSED, char *out, size_t max)
{
	struct http_sse *sse = cls;
	size_t n;

	if (sse->queue.len == 0) {
		if (sse->ending)
			return MHD_CONTENT_READER_END_OF_STREAM;
		sse->suspended = true;
		MHD_suspend_connection(sse->conn);
		return 0;
	}
	n = MIN(max, sse->queue.len);
	memcpy(out, sse->queue.data, n);
	buf_consume(&sse->queue, n);
	if (sse->on_drain != NULL && sse->queue.len < sse->queue.limit / 2)
		sse->on_drain(sse, sse->data);
	return (ssize_t)n;
}

static void
http_sse_free(void *cls)
{
	struct http_sse *sse = cls;
	struct http_sse **pp = &sse->srv->streams;

	while (*pp != NULL && *pp != sse)
		pp = &(*pp)->next;
	if (*pp == sse)
		*pp = sse->next;
	if (sse->on_close != NULL)
		sse->on_close(sse, sse->data);
	buf_release(&sse->queue);
	free(sse);
}

static void http_sse_wake(struct http_sse *sse);

/* Start a callback response for req fed from a queue of queue_limit bytes. */
static struct http_sse *
http_stream_new(struct http_req *req, size_t queue_limit,
		http_sse_close_cb on_close, void *data,
		struct MHD_Response **resp)
{
	struct http_sse *sse = xcalloc(1, sizeof *sse);

	BUG_ON(req->replied);
	sse->srv = req->srv;
	sse->ending = req->srv->draining; /* never suspends while draining */
	sse->req = req;
	sse->conn = req->conn;
	sse->on_close = on_close;
	sse->data = data;
	buf_init(&sse->queue, queue_limit);
	*resp = MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, 16384, http_sse_read, sse, http_sse_free);
	sse->next = req->srv->streams;
	req->srv->streams = sse;
	return sse;
}

struct http_sse *
http_sse_start(struct http_req *req, size_t queue_limit,
	       http_sse_close_cb on_close, void *data)
{
	struct MHD_Response *resp;
	struct http_sse *sse =
		http_stream_new(req, queue_limit, on_close, data, &resp);

	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control",
				"no-cache, no-store, must-revalidate");
	MHD_add_response_header(resp, "Pragma", "no-cache");
	MHD_add_response_header(resp, "Expires", "0");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	MHD_add_response_header(resp, "X-Proxy-Buffering", "no");
	http_set_reply(req, 200, resp);
	if (!req->srv->heartbeat.active)
		ev_timer_start(req->srv->loop, &req->srv->heartbeat,
			       now_ms() + HTTP_HEARTBEAT_MS);
	return sse;
}

struct http_sse *
http_stream_start(struct http_req *req, unsigned status,
		  const char *const *headers, size_t queue_limit,
		  http_sse_close_cb on_close, void *data)
{
	struct MHD_Response *resp;
	struct http_sse *sse =
		http_stream_new(req, queue_limit, on_close, data, &resp);

	sse->raw = true;
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i += 2)
		MHD_add_response_header(resp, headers[i], headers[i + 1]);
	http_set_reply(req, status, resp);
	return sse;
}

int
http_stream_write(struct http_sse *sse, const void *data, size_t len)
{
	if (sse->ending)
		return -EPIPE;
	if (buf_append(&sse->queue, data, len) < 0)
		return -ENOBUFS;
	http_sse_wake(sse);
	return 0;
}

size_t
http_stream_queued(struct http_sse *sse)
{
	return sse->queue.len;
}

void
http_stream_on_drain(struct http_sse *sse, http_sse_close_cb cb)
{
	sse->on_drain = cb;
}

/* Wake the stream's connection if its reader is waiting. */
static void
http_sse_wake(struct http_sse *sse)
{
	if (sse->suspended) {
		sse->suspended = false;
		MHD_resume_connection(sse->conn);
		http_kick(sse->srv);
	}
}

int
http_sse_send(struct http_sse *sse, const char *event, const char *data)
{
	struct buf ev;
	int r;

	if (sse->ending)
		return -EPIPE;
	buf_init(&ev, 0);
	if (event == NULL) {
		buf_puts(&ev, ": ping\n\n");
	} else {
		buf_printf(&ev, "event: %s\n", event);
		/* one data: line per line of data */
		for (const char *p = data;;) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);

			buf_puts(&ev, "data: ");
			buf_append(&ev, p, n);
			buf_puts(&ev, "\n");
			if (nl == NULL)
				break;
			p = nl + 1;
		}
		buf_puts(&ev, "\n");
	}
	r = buf_append(&sse->queue, ev.data, ev.len);
	buf_release(&ev);
	if (r < 0) {
		log_warn("SSE client too slow: queue over %zu bytes, "
			 "closing its stream",
			 sse->queue.limit);
		buf_clear(&sse->queue);
		http_sse_end(sse);
		return r;
	}
	http_sse_wake(sse);
	return 0;
}

void
http_sse_end(struct http_sse *sse)
{
	sse->ending = true;
	http_sse_wake(sse);
}
