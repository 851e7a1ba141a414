/*
 * rtcall.c: a blocking HTTP/1.0 client for the runtime's unix socket.
 *
 * `taskbox mcp` and `taskbox hook` are short-lived commands that make one
 * request at a time, so this is a connect, one write, reads until the
 * runtime closes, with a deadline and a bounded reply, and nothing else.
 */
#include "common.h"

#include <jansson.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/buf.h"
#include "mcp.h"

const char *
rtcall_socket(void)
{
	const char *s = getenv("TASKBOX_RUNTIME_SOCKET");

	return s != NULL && *s != '\0' ? s : MCP_DEFAULT_SOCKET;
}

/* Wait until fd is ready for events or the deadline passes; 0 or -errno. */
static int
rtcall_wait(int fd, short events, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	uint64_t now = now_ms();
	int r;

	if (now >= deadline)
		return -ETIMEDOUT;
	do
		r = poll(&p, 1, (int)(deadline - now));
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

/* Parse "HTTP/1.x NNN ..." and find the body; 0 or -EPROTO. */
static int
rtcall_parse(struct buf *b, int *status, char **reply)
{
	const char *data = buf_cstr(b), *end;
	long code;
	char num[4];

	if (b->len < 12 || strncmp(data, "HTTP/1.", 7) != 0)
		return -EPROTO;
	memcpy(num, data + 9, 3);
	num[3] = '\0';
	if (parse_long(num, 100, 599, &code) < 0)
		return -EPROTO;
	end = strstr(data, "\r\n\r\n");
	if (end == NULL)
		return -EPROTO;
	*status = (int)code;
	*reply = xstrdup(end + 4);
	return 0;
}

int
rtcall(const char *method, const char *path, const char *body, int timeout_ms,
       int *status, char **reply, char **cause)
{
	const char *sock = rtcall_socket();
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t blen = body ? strlen(body) : 0, off = 0;
	char *req = NULL, chunk[4096];
	struct buf in;
	ssize_t n;
	int fd, r;

	buf_init(&in, MCP_MAX_REPLY);
	if (strlen(sock) >= sizeof sa.sun_path) {
		*cause =
			xasprintf("runtime socket path '%s' is too long", sock);
		buf_release(&in);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		*cause = xasprintf("socket: %s", strerror(errno));
		buf_release(&in);
		return r;
	}
	/* a unix connect completes or fails at once */
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    fd_set_nonblock(fd) < 0) {
		r = -errno;
		*cause = xasprintf("cannot connect to the runtime at '%s': %s",
				   sock, strerror(errno));
		goto out;
	}
	req = xasprintf("%s %s HTTP/1.0\r\nHost: localhost\r\n"
			"Content-Type: application/json\r\n"
			"Content-Length: %zu\r\n\r\n%s",
			method, path, blen, body ? body : "");
	while (req[off] != '\0') {
		if ((r = rtcall_wait(fd, POLLOUT, deadline)) < 0)
			goto io_error;
		n = send(fd, req + off, strlen(req + off), MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			r = -errno;
			goto io_error;
		}
		off += n > 0 ? (size_t)n : 0;
	}
	for (;;) {
		if ((r = rtcall_wait(fd, POLLIN, deadline)) < 0)
			goto io_error;
		n = read(fd, chunk, sizeof chunk);
		if (n == 0)
			break;
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			r = -errno;
			goto io_error;
		}
		if (n > 0 && buf_append(&in, chunk, (size_t)n) < 0) {
			r = -EMSGSIZE;
			*cause = xasprintf(
				"the runtime's reply is over %u bytes",
				MCP_MAX_REPLY);
			goto out;
		}
	}
	r = rtcall_parse(&in, status, reply);
	if (r < 0)
		*cause = xasprintf("the runtime at '%s' sent a malformed reply",
				   sock);
	goto out;
io_error:
	*cause = xasprintf(
		"%s %s on the runtime at '%s': %s", method, path, sock,
		r == -ETIMEDOUT ? "no answer in time" : strerror(-r));
out:
	close(fd);
	free(req);
	buf_release(&in);
	return r;
}

char *
rtcall_detail(const char *reply)
{
	json_t *j = json_loads(reply, 0, NULL);
	const char *d = json_string_value(json_object_get(j, "detail"));
	char *s = xstrdup(d ? d : reply);

	json_decref(j);
	return s;
}
