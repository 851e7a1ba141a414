/*
 * test-fdlimit.c: the descriptor split and turning a client away with
 * the spare descriptor when accept() has none left.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/fdlimit.h"

static void
test_split(void **state UNUSED)
{
	struct fdlimit_split s;

	/* a test's small limit: every share is there; the server's own
	 * holds the gateway's idle upstream connections too */
	fdlimit_split(200, &s);
	assert_int_equal(s.reserve, 32 + FDLIMIT_UPSTREAM_IDLE);
	assert_int_equal(s.http_conns, 34);
	assert_int_equal(s.task_fds, 200 - 64 - 68);
	/* a large limit: the API's share stops at 512 connections */
	fdlimit_split(1 << 20, &s);
	assert_int_equal(s.http_conns, 512);
	assert_int_equal(s.reserve + 2 * s.http_conns + s.task_fds, 1 << 20);
	/* Debian's default soft limit */
	fdlimit_split(1024, &s);
	assert_int_equal(s.reserve + 2 * s.http_conns + s.task_fds, 1024);
	assert_true(s.task_fds > 0);
}

static void
test_shed_when_out_of_descriptors(void **state UNUSED)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct rlimit rl;
	char *cause = NULL, buf[64];
	int lfd, cfd, fill[64], nfill = 0;
	ssize_t n;

	snprintf(sa.sun_path, sizeof sa.sun_path, "/tmp/tbx-fdl-%d",
		 (int)getpid());
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(lfd, 8), 0);
	cfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sizeof sa), 0);
	/* a limit just above what is open, then fill it */
	assert_int_equal(fdlimit_init(cfd + 8, &cause), 0);
	assert_int_equal(fdlimit_get(), cfd + 8);
	while (nfill < 64 && (fill[nfill] = dup(0)) >= 0)
		nfill++;
	assert_true(nfill < 64);
	assert_int_equal(accept(lfd, NULL, NULL), -1);
	assert_int_equal(errno, EMFILE);
	assert_true(fdlimit_exhausted(errno));
	/* the spare makes room for one accept: the client is told */
	assert_int_equal(fdlimit_shed(lfd, "busy\n"), 0);
	n = read(cfd, buf, sizeof buf);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "busy\n", 5);
	assert_int_equal(read(cfd, buf, sizeof buf), 0);
	/* and the spare is held again: still no room */
	assert_int_equal(dup(0), -1);
	while (nfill > 0)
		close(fill[--nfill]);
	close(cfd);
	close(lfd);
	unlink(sa.sun_path);
	getrlimit(RLIMIT_NOFILE, &rl);
	assert_true(rl.rlim_cur == (rlim_t)fdlimit_get());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_shed_when_out_of_descriptors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
