/*
 * client.c: HTTP/1.0 over a unix socket (or TCP: a sock.c endpoint, the
 * replicas forwarding to each other), driven by the event loop.
 *
 * One struct hclient is one exchange: connect, write the request, read the
 * head (bounded), then stream the body to the caller until the peer
 * closes. A handle frees itself after its done callback; hclient_free()
 * before that cancels it. Callbacks may call hclient_free() on their own
 * handle: the free is deferred until the callback returns.
 */
#include "common.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "core/buf.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/sock.h"

#define HCLIENT_HEAD_LIMIT (64 * 1024)
#define HCLIENT_JSON_LIMIT (8 * 1024 * 1024)

struct hclient {
	struct ev_loop *loop;
	struct ev_io *io;
	int fd;
	struct buf out;
	size_t out_off;
	struct buf head;
	bool in_body;
	bool paused;
	bool in_cb;
	bool dead;
	struct hclient_cb cb;
	void *data;
	struct ev_timer kick; /* reports a failure from the loop */
	int pending_err;
	int write_err; /* the peer stopped reading the request (-errno) */
};

/* Free c now (no callbacks in flight). */
static void
hclient_destroy(struct hclient *c)
{
	ev_timer_stop(c->loop, &c->kick);
	if (c->io != NULL)
		ev_io_del(c->io);
	if (c->fd >= 0)
		close(c->fd);
	buf_release(&c->out);
	buf_release(&c->head);
	free(c);
}

/* Finish the exchange with err and release the handle. */
static void
hclient_finish(struct hclient *c, int err)
{
	if (c->cb.done != NULL) {
		c->in_cb = true;
		c->cb.done(c, err, c->data);
		c->in_cb = false;
	}
	hclient_destroy(c);
}

/* Parse the response head in c->head; returns the status or -EPROTO. */
static int
hclient_parse_head(struct hclient *c, size_t head_len)
{
	char *text = xstrndup(c->head.data, head_len);
	struct hclient_header *h = NULL;
	size_t n = 0;
	char *save = NULL;
	char *line = strtok_r(text, "\r\n", &save);
	int status = -EPROTO;

	if (line != NULL && strncmp(line, "HTTP/1.", 7) == 0 &&
	    strlen(line) >= 12) {
		long v;
		char code[4] = {line[9], line[10], line[11], 0};

		if (parse_long(code, 100, 599, &v) == 0)
			status = (int)v;
	}
	if (status < 0)
		goto out;
	while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		char *colon = strchr(line, ':');

		if (colon == NULL)
			continue;
		*colon = '\0';
		h = xreallocarray(h, n + 1, sizeof *h);
		h[n].name = line;
		h[n].value = colon + 1;
		while (*h[n].value == ' ' || *h[n].value == '\t')
			h[n].value++;
		n++;
	}
	if (c->cb.head != NULL) {
		c->in_cb = true;
		c->cb.head(c, status, h, n, c->data);
		c->in_cb = false;
	}
out:
	free(h);
	free(text);
	return status;
}

/* Hand body bytes to the caller; false if the handle died meanwhile. */
static bool
hclient_deliver(struct hclient *c, const char *p, size_t n)
{
	if (n > 0 && c->cb.body != NULL) {
		c->in_cb = true;
		c->cb.body(c, p, n, c->data);
		c->in_cb = false;
	}
	return !c->dead;
}

/* Read what is there; false when the handle is gone. */
static bool
hclient_read(struct hclient *c)
{
	char buf[16384];

	for (int rounds = 0; rounds < 16 && !c->paused; rounds++) {
		ssize_t r = read(c->fd, buf, sizeof buf);

		if (r == 0) {
			hclient_finish(c, c->in_body	 ? 0
					  : c->write_err ? c->write_err
							 : -EPROTO);
			return false;
		}
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return true;
			hclient_finish(c, c->in_body || c->write_err == 0
						  ? -errno
						  : c->write_err);
			return false;
		}
		if (c->in_body) {
			if (!hclient_deliver(c, buf, (size_t)r))
				goto dead;
			continue;
		}
		if (buf_append(&c->head, buf, (size_t)r) < 0) {
			hclient_finish(c, -EMSGSIZE);
			return false;
		}
		char *end = memmem(c->head.data, c->head.len, "\r\n\r\n", 4);

		if (end == NULL)
			continue;
		size_t head_len = (size_t)(end - c->head.data);

		c->in_body = true;
		if (hclient_parse_head(c, head_len) < 0) {
			if (c->dead)
				goto dead;
			hclient_finish(c, -EPROTO);
			return false;
		}
		if (c->dead)
			goto dead;
		if (!hclient_deliver(c, end + 4, c->head.len - head_len - 4))
			goto dead;
		buf_release(&c->head);
	}
	return true;
dead:
	hclient_destroy(c);
	return false;
}

static void
hclient_on_io(struct ev_io *io UNUSED, uint32_t events, void *data)
{
	struct hclient *c = data;

	if (c->out_off < c->out.len) {
		ssize_t w = write(c->fd, c->out.data + c->out_off,
				  c->out.len - c->out_off);

		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			/* the peer stopped reading, maybe after answering
			 * (an early 413): what it said is still there */
			c->write_err = -errno;
			buf_release(&c->out);
			c->out_off = 0;
			ev_io_set_events(c->io, EPOLLIN);
			hclient_read(c);
			return;
		}
		if (w > 0)
			c->out_off += (size_t)w;
		if (c->out_off < c->out.len)
			return;
		buf_release(&c->out);
		c->out_off = 0;
		if (c->paused) {
			ev_io_del(c->io);
			c->io = NULL;
		} else {
			ev_io_set_events(c->io, EPOLLIN);
		}
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		hclient_read(c);
}

static void
hclient_on_kick(void *data)
{
	struct hclient *c = data;

	hclient_finish(c, c->pending_err);
}

struct hclient *
hclient_start(struct ev_loop *loop, const char *sock_path, const char *method,
	      const char *path, const char *const *headers, const void *body,
	      size_t len, const struct hclient_cb *cb, void *data, char **cause)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct hclient *c;
	struct stat st;
	bool host = false;
	int fd, pfd;

	if (sock_path[0] != '/') {
		/* a TCP endpoint (sock.c's spec): another replica */
		if ((fd = sock_connect_spec(sock_path, cause)) < 0)
			return NULL;
		goto connected;
	}
	/* the path is in a directory the workspace controls: a link there
	 * must not lead anywhere else, so connect to the inode found
	 * without following one */
	pfd = open(sock_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0 || fstat(pfd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		*cause = pfd < 0 ? xasprintf("cannot connect to '%s': %s",
					     sock_path, strerror(errno))
				 : xasprintf("'%s' is not a socket", sock_path);
		if (pfd >= 0)
			close(pfd);
		return NULL;
	}
	snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d", pfd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*cause = xasprintf("socket: %s", strerror(errno));
		close(pfd);
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 &&
	    errno != EINPROGRESS) {
		*cause = xasprintf("cannot connect to '%s': %s", sock_path,
				   strerror(errno));
		close(pfd);
		close(fd);
		return NULL;
	}
	close(pfd);
connected:
	if (cb->peer != NULL && !cb->peer(fd, data)) {
		*cause = xasprintf("'%s' is not served by the expected process",
				   sock_path);
		close(fd);
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->loop = loop;
	c->fd = fd;
	c->cb = *cb;
	c->data = data;
	buf_init(&c->out, 0);
	buf_init(&c->head, HCLIENT_HEAD_LIMIT);
	ev_timer_init(&c->kick, hclient_on_kick, c);
	buf_printf(&c->out, "%s %s HTTP/1.0\r\n", method, path);
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i += 2) {
		buf_printf(&c->out, "%s: %s\r\n", headers[i], headers[i + 1]);
		host = host || strcasecmp(headers[i], "Host") == 0;
	}
	if (!host)
		buf_puts(&c->out, "Host: localhost\r\n");
	if (body != NULL || strcmp(method, "POST") == 0 ||
	    strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0)
		buf_printf(&c->out, "Content-Length: %zu\r\n", len);
	buf_puts(&c->out, "Connection: close\r\n\r\n");
	if (body != NULL)
		buf_append(&c->out, body, len);
	c->io = ev_io_add(loop, fd, EPOLLOUT, hclient_on_io, c);
	return c;
}

void
hclient_pause(struct hclient *c, bool paused)
{
	if (c->paused == paused)
		return;
	c->paused = paused;
	if (c->out.len != 0)
		return; /* still writing; hclient_on_io picks it up */
	/* out of epoll while paused: a hung-up peer would report EPOLLHUP
	 * on every loop pass even with no events asked for */
	if (paused) {
		ev_io_del(c->io);
		c->io = NULL;
	} else {
		c->io = ev_io_add(c->loop, c->fd, EPOLLIN, hclient_on_io, c);
	}
}

void
hclient_free(struct hclient *c)
{
	if (c == NULL)
		return;
	if (c->in_cb) {
		c->dead = true;
		c->cb.done = NULL;
		c->cb.body = NULL;
		return;
	}
	hclient_destroy(c);
}

/* ---- JSON exchanges ------------------------------------------------- */

struct hclient_json_req {
	hclient_json_cb cb;
	void *data;
	bool (*peer)(int fd, void *data);
	void *peer_data;
	int status;
	struct buf body;
	bool too_big;
};

static void
hclient_json_head(struct hclient *c UNUSED, int status,
		  const struct hclient_header *h UNUSED, size_t n UNUSED,
		  void *data)
{
	struct hclient_json_req *j = data;

	j->status = status;
}

static void
hclient_json_body(struct hclient *c UNUSED, const char *buf, size_t len,
		  void *data)
{
	struct hclient_json_req *j = data;

	if (buf_append(&j->body, buf, len) < 0)
		j->too_big = true;
}

static void
hclient_json_done(struct hclient *c UNUSED, int err, void *data)
{
	struct hclient_json_req *j = data;
	json_t *reply = NULL;

	if (err == 0 && j->too_big)
		err = -EMSGSIZE;
	if (err == 0 && j->body.len > 0)
		reply = json_loadb(j->body.data, j->body.len, 0, NULL);
	j->cb(j->status, reply, err, j->data);
	json_decref(reply);
	buf_release(&j->body);
	free(j);
}

static bool
hclient_json_peer(int fd, void *data)
{
	struct hclient_json_req *j = data;

	return j->peer(fd, j->peer_data);
}

struct hclient *
hclient_json(struct ev_loop *loop, const char *sock_path, const char *method,
	     const char *path, json_t *body, bool (*peer)(int fd, void *data),
	     void *peer_data, hclient_json_cb cb, void *data)
{
	struct hclient_cb cbs = {
		.head = hclient_json_head,
		.body = hclient_json_body,
		.done = hclient_json_done,
	};
	static const char *const json_headers[] = {"Content-Type",
						   "application/json", "Accept",
						   "application/json", NULL};
	struct hclient_json_req *j = xcalloc(1, sizeof *j);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char *cause = NULL;
	struct hclient *c;

	j->cb = cb;
	j->data = data;
	j->peer = peer;
	j->peer_data = peer_data;
	if (peer != NULL)
		cbs.peer = hclient_json_peer;
	buf_init(&j->body, HCLIENT_JSON_LIMIT);
	c = hclient_start(loop, sock_path, method, path, json_headers, text,
			  text ? strlen(text) : 0, &cbs, j, &cause);
	free(text);
	if (c == NULL) {
		/* report from the loop like every other outcome */
		static const struct hclient_cb none = {0};

		log_debug("%s", cause);
		free(cause);
		c = xcalloc(1, sizeof *c);
		c->loop = loop;
		c->fd = -1;
		c->cb = none;
		c->cb.done = hclient_json_done;
		c->data = j;
		c->pending_err = -ECONNREFUSED;
		buf_init(&c->out, 0);
		buf_init(&c->head, 0);
		ev_timer_init(&c->kick, hclient_on_kick, c);
		ev_timer_start(loop, &c->kick, now_ms());
	}
	return c;
}
