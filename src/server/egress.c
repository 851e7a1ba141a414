/*
 * egress.c: a task's only ways out of its sandbox.
 *
 * The sandbox has no network but loopback. Its runtime forwards
 * 127.0.0.1:3128 to RUN/egress.sock and 127.0.0.1:4000 to RUN/llm.sock;
 * this file listens on both for one task.
 *
 * egress.sock speaks HTTP CONNECT (HTTPS_PROXY): the target host must
 * match the template's allowlist ("host", "*.domain", "host:port"; an
 * entry without a port allows 443 and 80), otherwise 403 with the reason.
 * Every decision is logged. Name resolution uses getaddrinfo and so
 * blocks the loop for the time of a lookup (allowlisted hosts only).
 *
 * llm.sock is a pass-through to the configured LLM provider endpoint
 * (plain HTTP upstream: a local gateway, LiteLLM, Ollama, vLLM, the test
 * suite's fake): the request head is rewritten (Host, Connection: close,
 * and the provider key in place of the workspace's placeholder in
 * Authorization / x-api-key / x-goog-api-key), then bytes are relayed
 * both ways. Keys stay on the server.
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
#include "core/log.h"
#include "core/relay.h"
#include "server.h"

#define EGRESS_HEAD_LIMIT 16384
#define EGRESS_MAX_CONNS  64

struct egress_conn;

struct egress_listener {
	struct egress *e;
	int fd;
	struct ev_io *io;
	bool llm;
	char *path;
};

struct egress {
	struct egress_listener l[2];
	json_t *allow;
	char *task;
	struct egress_conn *conns;
	size_t nconns;	       /* in their handshake */
	struct relay **relays; /* relaying (tunnels, LLM requests) */
	size_t nrelays;
};

struct egress_conn {
	struct egress *e;
	bool llm;
	int fd;
	struct ev_io *io;
	struct buf head;
	int up;
	struct ev_io *up_io;
	struct buf out; /* what goes to the upstream first */
	char *target;
	struct egress_conn *next;
};

/* Close a connection that never reached the relay stage. */
static void
egress_conn_free(struct egress_conn *c, bool close_fds)
{
	struct egress_conn **pp;

	for (pp = &c->e->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			c->e->nconns--;
			break;
		}
	}
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
			      : status == 502 ? "Bad Gateway"
					      : "Bad Request",
			      reason);

	if (write(c->fd, msg, strlen(msg)) < 0)
		log_debug("egress: cannot answer the client: %s",
			  strerror(errno));
	free(msg);
	egress_conn_free(c, true);
}

/* Does host:port match the allowlist? */
static bool
egress_allowed(json_t *allow, const char *host, long port)
{
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

/* Is sa loopback, link-local, unspecified or multicast? */
static bool
egress_special(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(
			((const struct sockaddr_in *)sa)->sin_addr.s_addr);

		return (a >> 24) == 127 || (a >> 16) == 0xa9fe || a == 0 ||
		       (a >> 28) == 0xe;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
		       IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_MULTICAST(a) ||
		       IN6_IS_ADDR_V4MAPPED(a);
	}
	return true;
}

/*
 * Start a nonblocking TCP connect to host:port; fd or -errno. A name (not
 * a literal address the allowlist names) must not lead to this machine's
 * loopback, link-local (cloud metadata) or other special addresses.
 */
static int
egress_connect(const char *host, const char *port, bool by_name, char **cause)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int fd = -1, r;

	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0) {
		*cause = xasprintf("cannot resolve '%s': %s", host,
				   gai_strerror(r));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (by_name && egress_special(ai->ai_addr)) {
			errno = EACCES;
			continue;
		}
		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		*cause = xasprintf("cannot connect to %s:%s: %s", host, port,
				   strerror(errno));
		return -ECONNREFUSED;
	}
	return fd;
}

static void
egress_relay_done(struct relay *r, void *data)
{
	struct egress *e = data;

	for (size_t i = 0; i < e->nrelays; i++) {
		if (e->relays[i] == r) {
			e->relays[i] = e->relays[--e->nrelays];
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

		log_info("egress task=%s %s", c->e->task, why);
		egress_refuse(c, 502, why);
		free(why);
		return;
	}
	if (!c->llm) {
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
	if (c->out.len > 0)
		relay_prefill(r, true, c->out.data, c->out.len);
	egress_conn_free(c, false);
}

/* Rewrite an LLM request head for the upstream into out. */
void
egress_llm_head(struct buf *out, const char *head, size_t len,
		const char *upstream_host, const char *key)
{
	const char *p = head, *end = head + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		const char *colon = memchr(p, ':', n);
		size_t nlen = colon ? (size_t)(colon - p) : 0;

		if (p == head || colon == NULL) {
			buf_append(out, p, n);
		} else if ((nlen == 4 && strncasecmp(p, "Host", 4) == 0) ||
			   (nlen == 10 &&
			    strncasecmp(p, "Connection", 10) == 0) ||
			   (nlen == 10 &&
			    strncasecmp(p, "Keep-Alive", 10) == 0)) {
			/* replaced below */
		} else if (key != NULL && nlen == 13 &&
			   strncasecmp(p, "Authorization", 13) == 0) {
			buf_printf(out, "Authorization: Bearer %s\r\n", key);
		} else if (key != NULL && nlen == 9 &&
			   strncasecmp(p, "x-api-key", 9) == 0) {
			buf_printf(out, "x-api-key: %s\r\n", key);
		} else if (key != NULL && nlen == 14 &&
			   strncasecmp(p, "x-goog-api-key", 14) == 0) {
			buf_printf(out, "x-goog-api-key: %s\r\n", key);
		} else {
			buf_append(out, p, n);
		}
		p += n;
		if (p == head + n) {
			/* after the request line */
			buf_printf(out, "Host: %s\r\nConnection: close\r\n",
				   upstream_host);
		}
	}
}

/* Parse the request line (and a CONNECT target) of a head; pure. */
int
egress_parse_head(const char *head, bool llm, char *method, char *target,
		  char *host, long *port, const char **why)
{
	const char *colon;

	if (sscanf(head, "%15s %511s HTTP/1.", method, target) != 2) {
		*why = "malformed request line";
		return 400;
	}
	if (llm)
		return 0;
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
	snprintf(host, EGRESS_HOST_MAX, "%.*s", (int)(colon - target), target);
	return 0;
}

/* The request head is complete: decide and connect. */
static void
egress_on_head(struct egress_conn *c, size_t head_len)
{
	char method[16], target[512], host[EGRESS_HOST_MAX], port[8];
	char *cause = NULL;
	const char *colon, *reason;
	long portnum;
	int status = egress_parse_head(c->head.data, c->llm, method, target,
				       host, &portnum, &reason);

	if (status != 0) {
		egress_refuse(c, status, reason);
		return;
	}
	if (c->llm) {
		const char *u = srv->llm_url;
		const char *hp;
		size_t hl;

		if (u == NULL) {
			egress_refuse(c, 502,
				      "no LLM endpoint is configured on the "
				      "server (taskbox server --llm-url)");
			return;
		}
		hp = strstr(u, "://");
		hp = hp ? hp + 3 : u;
		hl = strcspn(hp, "/");
		snprintf(host, sizeof host, "%.*s", (int)hl, hp);
		colon = strrchr(host, ':');
		snprintf(port, sizeof port, "%s", colon ? colon + 1 : "80");
		c->target = xstrdup(host);
		if (colon != NULL)
			host[colon - host] = '\0';
		egress_llm_head(&c->out, c->head.data, head_len, c->target,
				srv->llm_key);
		buf_append(&c->out, c->head.data + head_len,
			   c->head.len - head_len);
		log_debug("egress task=%s LLM %s %s", c->e->task, method,
			  target);
	} else {
		snprintf(port, sizeof port, "%ld", portnum);
		c->target = xstrdup(target);
		if (!egress_allowed(c->e->allow, host, portnum)) {
			char *why = xasprintf("%s is not in the template's "
					      "egress allowlist",
					      target);

			log_info("egress task=%s CONNECT %s denied", c->e->task,
				 target);
			egress_refuse(c, 403, why);
			free(why);
			return;
		}
		log_info("egress task=%s CONNECT %s allowed", c->e->task,
			 target);
		buf_append(&c->out, c->head.data + head_len,
			   c->head.len - head_len);
	}
	{
		unsigned char addr[sizeof(struct in6_addr)];
		bool numeric = inet_pton(AF_INET, host, addr) == 1 ||
			       inet_pton(AF_INET6, host, addr) == 1;

		/* the LLM endpoint is the admin's choice: anything goes */
		c->up = egress_connect(host, port, !c->llm && !numeric, &cause);
	}
	if (c->up < 0) {
		egress_refuse(c, 502, cause);
		free(cause);
		return;
	}
	ev_io_del(c->io);
	c->io = NULL;
	c->up_io = ev_io_add(srv->loop, c->up, EPOLLOUT, egress_on_up, c);
}

static void
egress_on_client(struct ev_io *io UNUSED, uint32_t events UNUSED, void *data)
{
	struct egress_conn *c = data;
	char buf[4096];
	ssize_t r = read(c->fd, buf, sizeof buf);
	char *end;

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

static void
egress_on_accept(struct ev_io *io UNUSED, uint32_t events UNUSED, void *data)
{
	struct egress_listener *l = data;
	struct egress_conn *c;
	int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (l->e->nconns + l->e->nrelays >= EGRESS_MAX_CONNS) {
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->e = l->e;
	c->llm = l->llm;
	c->fd = fd;
	c->up = -1;
	buf_init(&c->head, EGRESS_HEAD_LIMIT);
	buf_init(&c->out, 0);
	c->io = ev_io_add(srv->loop, fd, EPOLLIN, egress_on_client, c);
	c->next = l->e->conns;
	l->e->conns = c;
	l->e->nconns++;
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
egress_new(const char *run_dir, json_t *allow, const char *task_name, uid_t uid,
	   char **cause)
{
	struct egress *e = xcalloc(1, sizeof *e);
	static const char *const names[] = {"egress.sock", "llm.sock"};

	e->allow = allow ? json_incref(allow) : json_array();
	e->task = xstrdup(task_name);
	for (size_t i = 0; i < 2; i++) {
		struct egress_listener *l = &e->l[i];

		l->e = e;
		l->llm = i == 1;
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
	for (size_t i = 0; i < e->nrelays; i++)
		relay_free(e->relays[i]);
	free(e->relays);
	for (size_t i = 0; i < 2; i++) {
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
