/*
 * common.c: allocator family, fatal errors, clocks and tiny helpers.
 *
 * The x-allocators never return NULL: a daemon that cannot allocate a few
 * bytes has no sensible way on, so they abort through fatal().
 */
#include "common.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void
bug_at(const char *file, int line, const char *func)
{
	fprintf(stderr, "taskbox: BUG at %s:%d in %s()\n", file, line, func);
	abort();
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("taskbox: fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		fatal("out of memory (%zu bytes)", size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);

	if (q == NULL)
		fatal("out of memory (%zu bytes)", size);
	return q;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	void *q = reallocarray(p, n ? n : 1, size ? size : 1);

	if (q == NULL)
		fatal("out of memory (%zu x %zu bytes)", n, size);
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		fatal("out of memory (vasprintf)");
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
time_rfc3339(uint64_t wall, char buf[32])
{
	time_t secs = (time_t)(wall / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&secs, &tm);
	n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 32 - n, ".%03uZ", (unsigned)(wall % 1000));
}

int
time_parse_rfc3339(const char *s, uint64_t *out)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	unsigned ms = 0;
	time_t secs;

	if (p == NULL)
		return -EINVAL;
	if (*p == '.') {
		unsigned scale = 100;

		for (p++; *p >= '0' && *p <= '9'; p++) {
			ms += (unsigned)(*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p != 'Z' && *p != '+' && *p != '-')
		return -EINVAL;
	/* before 1970 the wall clock in ms (unsigned) would wrap */
	if ((secs = timegm(&tm)) < 0)
		return -EINVAL;
	*out = (uint64_t)secs * 1000 + ms;
	return 0;
}

int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int
fd_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void
sock_reply_close(int fd, const char *reply)
{
	char sink[4096];

	/* a fresh socket's send buffer takes it whole, or the peer is gone */
	if (reply != NULL && write(fd, reply, strlen(reply)) < 0)
		reply = NULL;
	shutdown(fd, SHUT_WR);
	/* what the peer already sent is read away: closing with unread
	 * bytes would send a reset that can destroy the reply in flight */
	for (int i = 0; i < 4 && read(fd, sink, sizeof sink) > 0; i++)
		;
	close(fd);
}
