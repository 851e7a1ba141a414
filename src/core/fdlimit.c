/*
 * fdlimit.c: the process's file descriptor limit and how it is shared.
 *
 * Data model: the soft RLIMIT_NOFILE in effect, the soft limit found at
 * start (children of the server get it back: a sandboxed program gains
 * nothing from the server's million descriptors, and old programs that
 * loop over every possible descriptor would crawl), and one spare
 * descriptor open on /dev/null. The spare is the classic answer to
 * EMFILE on a listening socket: level-triggered epoll would report the
 * waiting connection on every pass and the client would hang in the
 * backlog; instead the spare is closed, the connection accepted, told why
 * and closed, and the spare opened again.
 */
#include "common.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdlimit.h"

static long fdlimit_cur;
static struct rlimit fdlimit_orig;
static bool fdlimit_have_orig;
static int fdlimit_spare = -1;

int
fdlimit_init(long max, char **cause)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		*cause = xasprintf("getrlimit: %s", strerror(errno));
		return -errno;
	}
	fdlimit_orig = rl;
	fdlimit_have_orig = true;
	if (max > 0) {
		if (rl.rlim_max != RLIM_INFINITY && (rlim_t)max > rl.rlim_max) {
			*cause =
				xasprintf("--max-fds %ld is above the hard "
					  "limit of open files (%llu)",
					  max, (unsigned long long)rl.rlim_max);
			return -EINVAL;
		}
		rl.rlim_cur = (rlim_t)max;
	} else if (max == 0) {
		rl.rlim_cur = rl.rlim_max;
	}
	/* Linux caps the limit at fs.nr_open anyway */
	if (rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 1 << 20;
	if (max >= 0 && setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		*cause = xasprintf("cannot set the limit of open files to "
				   "%llu: %s",
				   (unsigned long long)rl.rlim_cur,
				   strerror(errno));
		return -errno;
	}
	fdlimit_cur = (long)rl.rlim_cur;
	if (fdlimit_spare < 0)
		fdlimit_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return 0;
}

long
fdlimit_get(void)
{
	struct rlimit rl;

	if (fdlimit_cur > 0)
		return fdlimit_cur;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1024;
	return (long)rl.rlim_cur;
}

void
fdlimit_split(long limit, struct fdlimit_split *out)
{
	long reserve = MAX(32, limit / 16) + FDLIMIT_UPSTREAM_IDLE;
	long rest = MAX(limit - reserve, 0);
	long http = MIN(512, MAX(rest / 4, 8));

	out->reserve = (unsigned)reserve;
	out->http_conns = (unsigned)http;
	out->task_fds = (unsigned)MAX(rest - 2 * http, 0);
}

void
fdlimit_restore_child(void)
{
	if (fdlimit_have_orig)
		(void)setrlimit(RLIMIT_NOFILE, &fdlimit_orig);
}

bool
fdlimit_exhausted(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS ||
	       err == ENOMEM;
}

int
fdlimit_shed(int listen_fd, const char *reply)
{
	int fd, r = 0;

	if (fdlimit_spare < 0)
		return -EBADF;
	close(fdlimit_spare);
	fdlimit_spare = -1;
	fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		r = -errno;
	} else {
		sock_reply_close(fd, reply);
	}
	fdlimit_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return r;
}
