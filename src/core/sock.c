/*
 * sock.c: parse endpoint specs and open listening or connecting sockets.
 *
 * Specs are parsed into a struct sock_spec (a sockaddr ready for bind or
 * connect) without any name lookup: the runtime lives in a network
 * namespace with nothing but loopback, and a spec that needs DNS is a
 * mistake worth reporting early. Unix listeners are created with mode
 * 0600 (umask around bind) and replace a socket file nobody listens on.
 */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sock.h"

/* Fill out as a unix address for path. */
static int
sock_parse_unix(const char *spec, const char *path, struct sock_spec *out,
		char **cause)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&out->addr;

	if (path[0] == '\0') {
		*cause =
			xasprintf("bad endpoint '%s': empty socket path", spec);
		return -EINVAL;
	}
	if (strlen(path) >= sizeof sun->sun_path) {
		*cause = xasprintf("bad endpoint '%s': socket path longer "
				   "than %zu bytes",
				   spec, sizeof sun->sun_path - 1);
		return -EINVAL;
	}
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	out->family = AF_UNIX;
	out->addrlen = sizeof *sun;
	out->path = sun->sun_path;
	return 0;
}

int
sock_spec_parse(const char *spec, bool passive, struct sock_spec *out,
		char **cause)
{
	const char *s = spec, *colon;
	char host[64];
	size_t hlen;
	long port;
	bool v6 = false;

	memset(out, 0, sizeof *out);
	if (strncmp(s, "unix:", 5) == 0)
		return sock_parse_unix(spec, s + 5, out, cause);
	if (s[0] == '/')
		return sock_parse_unix(spec, s, out, cause);
	if (strncmp(s, "tcp:", 4) == 0)
		s += 4;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end[1] != ':')
			goto bad_form;
		s++;
		v6 = true;
		hlen = (size_t)(end - s);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			goto bad_form;
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen) != NULL) {
			*cause = xasprintf("bad endpoint '%s': write IPv6 "
					   "addresses in brackets, [::1]:PORT",
					   spec);
			return -EINVAL;
		}
	}
	if (hlen == 0 || hlen >= sizeof host)
		goto bad_form;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (parse_long(colon + 1, passive ? 0 : 1, 65535, &port) < 0) {
		*cause = xasprintf("bad endpoint '%s': the port must be %d to "
				   "65535",
				   spec, passive ? 0 : 1);
		return -EINVAL;
	}
	out->port = (int)port;
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->addr;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto bad_host;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		out->family = AF_INET6;
		out->addrlen = sizeof *sin6;
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->addr;

		if (strcmp(host, "localhost") == 0)
			memcpy(host, "127.0.0.1", sizeof "127.0.0.1");
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto bad_host;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		out->family = AF_INET;
		out->addrlen = sizeof *sin;
	}
	return 0;

bad_form:
	*cause = xasprintf("bad endpoint '%s': use HOST:PORT, tcp:HOST:PORT, "
			   "unix:PATH or an absolute path",
			   spec);
	return -EINVAL;
bad_host:
	*cause = xasprintf("bad endpoint '%s': the host must be a numeric "
			   "address or localhost (no DNS)",
			   spec);
	return -EINVAL;
}

/* Remove a unix socket file nobody listens on; -EADDRINUSE if one does. */
static int
sock_unlink_stale(const struct sock_spec *sp, char **cause)
{
	struct stat st;
	int fd, r;

	if (lstat(sp->path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		*cause = xasprintf("cannot listen on '%s': it exists and is "
				   "not a socket",
				   sp->path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	r = connect(fd, (const struct sockaddr *)&sp->addr, sp->addrlen);
	close(fd);
	if (r == 0) {
		*cause = xasprintf("cannot listen on '%s': another process "
				   "listens there",
				   sp->path);
		return -EADDRINUSE;
	}
	unlink(sp->path);
	return 0;
}

int
sock_listen_spec(const char *spec, char **cause)
{
	struct sock_spec sp;
	int fd, r, one = 1;

	r = sock_spec_parse(spec, true, &sp, cause);
	if (r < 0)
		return r;
	if (sp.family == AF_UNIX && (r = sock_unlink_stale(&sp, cause)) < 0)
		return r;
	fd = socket(sp.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		*cause = xasprintf("cannot listen on '%s': socket: %s", spec,
				   strerror(errno));
		return r;
	}
	if (sp.family == AF_UNIX) {
		/* never visible with wider permissions than 0600 */
		mode_t old = umask(0177);

		r = bind(fd, (const struct sockaddr *)&sp.addr, sp.addrlen);
		umask(old);
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		r = bind(fd, (const struct sockaddr *)&sp.addr, sp.addrlen);
	}
	if (r < 0 || listen(fd, 128) < 0) {
		r = -errno;
		*cause = xasprintf("cannot listen on '%s': %s", spec,
				   strerror(errno));
		close(fd);
		return r;
	}
	return fd;
}

int
sock_connect_spec(const char *spec, char **cause)
{
	struct sock_spec sp;
	int fd, r, one = 1;

	r = sock_spec_parse(spec, false, &sp, cause);
	if (r < 0)
		return r;
	fd = socket(sp.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		*cause = xasprintf("cannot connect to '%s': socket: %s", spec,
				   strerror(errno));
		return r;
	}
	if (sp.family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)&sp.addr, sp.addrlen) < 0 &&
	    errno != EINPROGRESS) {
		r = -errno;
		*cause = xasprintf("cannot connect to '%s': %s", spec,
				   strerror(errno));
		close(fd);
		return r;
	}
	return fd;
}

char *
sock_local_name(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[INET6_ADDRSTRLEN];

	memset(&ss, 0, sizeof ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return xasprintf("fd %d", fd);
	switch (ss.ss_family) {
	case AF_INET: {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		return xasprintf("%s:%u", host, ntohs(sin->sin_port));
	}
	case AF_INET6: {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		return xasprintf("[%s]:%u", host, ntohs(sin6->sin6_port));
	}
	case AF_UNIX: {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ss;

		return xasprintf("unix:%.*s", (int)sizeof sun->sun_path,
				 sun->sun_path);
	}
	default:
		return xasprintf("fd %d", fd);
	}
}
