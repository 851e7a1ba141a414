/*
 * test-resolve.c: the loop's resolver on a real loop and real c-ares.
 *
 * Names come from a private hosts file (CARES_HOSTS) or go to a DNS
 * server that never answers: a UDP socket the test holds and never
 * reads, so a lookup hangs for as long as a test needs. Nothing leaves
 * this machine. Assertions are on order (the callback had not run when
 * resolve_start returned; a cancelled callback never ran before a later
 * one), never on durations.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/resolve.h"

struct fixture {
	struct ev_loop *loop;
	struct resolve *r;
	int dns; /* the silent DNS server */
	char servers[64];
	char hosts[256];
	struct ev_timer guard;
};

/* What one callback saw. */
struct seen {
	struct fixture *f;
	int calls;
	int err;
	char cause[256];
	struct resolve_addrs res;
	bool stop; /* stop the loop when called */
};

/* A test that waits forever is a failed test. */
static void
guard_fired(void *data UNUSED)
{
	fail_msg("the loop waited too long for a callback");
}

/* Record an answer, and stop the loop if asked. */
static void
on_answer(const struct resolve_addrs *res, int err, const char *cause,
	  void *data)
{
	struct seen *s = data;

	s->calls++;
	s->err = err;
	snprintf(s->cause, sizeof s->cause, "%s", cause ? cause : "");
	if (res != NULL)
		s->res = *res;
	if (s->stop)
		ev_loop_stop(s->f->loop, 0);
}

/* A callback that must never run. */
static void
on_never(const struct resolve_addrs *res UNUSED, int err UNUSED,
	 const char *cause UNUSED, void *data UNUSED)
{
	fail_msg("a cancelled request was answered");
}

/* A resolver (max 2 pending) on the silent server; hosts from a file. */
static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof sa;
	struct resolve_opts o = {.max_pending = 2, .try_ms = 60000, .tries = 1};
	char *cause = NULL;
	FILE *h;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->dns = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(f->dns >= 0);
	assert_int_equal(bind(f->dns, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(f->dns, (struct sockaddr *)&sa, &sl), 0);
	snprintf(f->servers, sizeof f->servers, "127.0.0.1:%u",
		 ntohs(sa.sin_port));
	snprintf(f->hosts, sizeof f->hosts, "%s/test-resolve-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = mkstemp(f->hosts);
	assert_true(fd >= 0);
	h = fdopen(fd, "w");
	fprintf(h, "192.0.2.7 box.test\n2001:db8::7 box.test\n");
	fclose(h);
	setenv("CARES_HOSTS", f->hosts, 1);
	f->loop = ev_loop_new();
	o.servers = f->servers;
	f->r = resolve_new(f->loop, &o, &cause);
	assert_non_null(f->r);
	ev_timer_init(&f->guard, guard_fired, NULL);
	ev_timer_start(f->loop, &f->guard, now_ms() + 60000);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	resolve_free(f->r);
	ev_timer_stop(f->loop, &f->guard);
	ev_loop_free(f->loop);
	close(f->dns);
	unlink(f->hosts);
	unsetenv("CARES_HOSTS");
	free(f);
	return 0;
}

/* The port of an IPv4 or IPv6 address. */
static unsigned
port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void
test_numeric_needs_no_callback(void **state)
{
	struct fixture *f = *state;
	static const char *const hosts[] = {"127.0.0.1", "::1", "[::1]",
					    "192.0.2.1", "0x7f000001"};
	struct resolve_addrs out;
	struct resolve_req *req = NULL;
	char *cause = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(hosts); i++) {
		memset(&out, 0, sizeof out);
		assert_int_equal(resolve_start(f->r, hosts[i], 8080, 1000,
					       on_never, NULL, &out, &req,
					       &cause),
				 0);
		assert_int_equal(out.n, 1);
		assert_int_equal(port_of(&out.addr[0]), 8080);
	}
	assert_null(req);
	assert_null(cause);
	assert_int_equal(resolve_pending(f->r), 0);
	assert_int_equal(out.addr[0].ss_family, AF_INET); /* 0x7f000001 */
}

static void
test_hosts_file_answer_comes_from_the_loop(void **state)
{
	struct fixture *f = *state;
	struct seen s = {.f = f, .stop = true};
	struct resolve_addrs out;
	struct resolve_req *req = NULL;
	char *cause = NULL;
	char text[INET6_ADDRSTRLEN];
	bool v4 = false, v6 = false;

	assert_int_equal(resolve_start(f->r, "box.test", 443, 30000, on_answer,
				       &s, &out, &req, &cause),
			 1);
	assert_non_null(req);
	assert_int_equal(s.calls, 0); /* never inside resolve_start */
	ev_loop_run(f->loop);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.err, 0);
	assert_int_equal(s.res.n, 2);
	for (size_t i = 0; i < s.res.n; i++) {
		const struct sockaddr_storage *a = &s.res.addr[i];

		assert_int_equal(port_of(a), 443);
		if (a->ss_family == AF_INET) {
			inet_ntop(AF_INET,
				  &((const struct sockaddr_in *)a)->sin_addr,
				  text, sizeof text);
			assert_string_equal(text, "192.0.2.7");
			v4 = true;
		} else {
			inet_ntop(AF_INET6,
				  &((const struct sockaddr_in6 *)a)->sin6_addr,
				  text, sizeof text);
			assert_string_equal(text, "2001:db8::7");
			v6 = true;
		}
	}
	assert_true(v4 && v6);
	assert_int_equal(resolve_pending(f->r), 0);
}

static void
test_silent_server_times_out(void **state)
{
	struct fixture *f = *state;
	struct seen s = {.f = f, .stop = true};
	struct resolve_addrs out;
	struct resolve_req *req;
	char *cause = NULL, query[512];

	assert_int_equal(resolve_start(f->r, "hang.test", 443, 200, on_answer,
				       &s, &out, &req, &cause),
			 1);
	ev_loop_run(f->loop);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.err, -ETIMEDOUT);
	assert_string_equal(s.cause,
			    "cannot resolve 'hang.test': no answer in 200 ms");
	/* the question did go to the server, which never answered */
	assert_true(recv(f->dns, query, sizeof query, 0) > 12);
	/* c-ares still holds the query: it counts against the bound */
	assert_int_equal(resolve_pending(f->r), 1);
}

static void
test_cancel_before_answer(void **state)
{
	struct fixture *f = *state;
	struct seen later = {.f = f, .stop = true};
	struct resolve_addrs out;
	struct resolve_req *hang, *kept, *req;
	char *cause = NULL;

	/* one waiting on the silent server, one whose answer c-ares gave
	 * at once (hosts file) and is kept for the loop: cancel both */
	assert_int_equal(resolve_start(f->r, "hang.test", 443, 100, on_never,
				       NULL, &out, &hang, &cause),
			 1);
	assert_int_equal(resolve_start(f->r, "box.test", 443, 100, on_never,
				       NULL, &out, &kept, &cause),
			 1);
	resolve_cancel(hang);
	resolve_cancel(kept);
	/* the hosts-file one is gone; c-ares still holds the silent one */
	assert_int_equal(resolve_pending(f->r), 1);
	/* a later request's timeout comes after the cancelled ones' */
	assert_int_equal(resolve_start(f->r, "box.test", 443, 30000, on_answer,
				       &later, &out, &req, &cause),
			 1);
	ev_loop_run(f->loop);
	assert_int_equal(later.calls, 1);
	assert_int_equal(later.err, 0);
}

static void
test_queue_full(void **state)
{
	struct fixture *f = *state;
	struct seen a = {.f = f}, b = {.f = f};
	struct resolve_addrs out;
	struct resolve_req *ra, *rb, *rc = NULL;
	char *cause = NULL;

	assert_int_equal(resolve_start(f->r, "one.hang.test", 443, 30000,
				       on_answer, &a, &out, &ra, &cause),
			 1);
	assert_int_equal(resolve_start(f->r, "two.hang.test", 443, 30000,
				       on_answer, &b, &out, &rb, &cause),
			 1);
	assert_int_equal(resolve_start(f->r, "three.hang.test", 443, 30000,
				       on_never, NULL, &out, &rc, &cause),
			 -EAGAIN);
	assert_null(rc);
	assert_string_equal(cause, "cannot resolve 'three.hang.test': 2 "
				   "lookups are already in progress");
	free(cause);
	cause = NULL;
	/* a cancelled query c-ares still works on keeps its place */
	resolve_cancel(ra);
	assert_int_equal(resolve_start(f->r, "three.hang.test", 443, 30000,
				       on_never, NULL, &out, &rc, &cause),
			 -EAGAIN);
	free(cause);
	cause = NULL;
	/* numeric hosts need no place */
	assert_int_equal(resolve_start(f->r, "192.0.2.1", 443, 30000, on_never,
				       NULL, &out, &rc, &cause),
			 0);
	/* bad names are refused before the queue */
	assert_int_equal(resolve_start(f->r, "", 443, 30000, on_never, NULL,
				       &out, &rc, &cause),
			 -EINVAL);
	free(cause);
	/* freeing the resolver answers the live requester, not the
	 * cancelled one (teardown frees it) */
	resolve_free(f->r);
	f->r = NULL;
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.err, -ECANCELED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_numeric_needs_no_callback,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_hosts_file_answer_comes_from_the_loop, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_silent_server_times_out,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_before_answer,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_full, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
