/*
 * test-sock.c: endpoint spec parsing and the relay over socketpairs.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/relay.h"
#include "core/sock.h"

/* Parse spec and return the error (freeing any cause). */
static int
parse(const char *spec, bool passive, struct sock_spec *sp)
{
	char *cause = NULL;
	int r = sock_spec_parse(spec, passive, sp, &cause);

	if (r < 0)
		assert_non_null(cause);
	free(cause);
	return r;
}

static void
test_spec_parse(void **state)
{
	struct sock_spec sp;
	struct sockaddr_in *sin = (struct sockaddr_in *)&sp.addr;

	assert_int_equal(parse("127.0.0.1:4000", false, &sp), 0);
	assert_int_equal(sp.family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 4000);
	assert_int_equal(parse("tcp:localhost:80", false, &sp), 0);
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	assert_int_equal(parse("[::1]:8000", false, &sp), 0);
	assert_int_equal(sp.family, AF_INET6);
	assert_int_equal(sp.port, 8000);
	assert_int_equal(parse("tcp:[::]:0", true, &sp), 0);
	assert_int_equal(parse("unix:rel.sock", false, &sp), 0);
	assert_int_equal(sp.family, AF_UNIX);
	assert_string_equal(sp.path, "rel.sock");
	assert_int_equal(parse("/run/taskbox/llm.sock", false, &sp), 0);
	assert_string_equal(sp.path, "/run/taskbox/llm.sock");

	assert_int_equal(parse("127.0.0.1:0", false, &sp), -EINVAL);
	assert_int_equal(parse("127.0.0.1:65536", true, &sp), -EINVAL);
	assert_int_equal(parse("127.0.0.1", false, &sp), -EINVAL);
	assert_int_equal(parse(":80", false, &sp), -EINVAL);
	assert_int_equal(parse("example.com:80", false, &sp), -EINVAL);
	assert_int_equal(parse("::1:80", false, &sp), -EINVAL);
	assert_int_equal(parse("[::1]80", false, &sp), -EINVAL);
	assert_int_equal(parse("[127.0.0.1]:80", false, &sp), -EINVAL);
	assert_int_equal(parse("unix:", false, &sp), -EINVAL);
	assert_int_equal(parse("", false, &sp), -EINVAL);
}

struct relay_test {
	struct ev_loop *loop;
	int calls;
	int error;
};

static void
relay_test_done(struct relay *r, void *data)
{
	struct relay_test *t = data;

	t->calls++;
	t->error = relay_error(r);
	ev_loop_stop(t->loop, 0);
}

/* Read fd to EOF into buf; returns the length. */
static size_t
read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
		len += (size_t)n;
	return len;
}

static void
test_relay_half_close(void **state)
{
	struct relay_test t = {.loop = ev_loop_new()};
	int x[2], y[2];
	struct relay *r;
	char buf[64];
	size_t n;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, x), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, y), 0);
	/* x[0] -- relay(a = x[1], b = y[0]) -- y[1] */
	r = relay_new(t.loop, x[1], y[0], relay_test_done, &t);
	relay_prefill(r, true, "head:", 5);
	assert_int_equal(t.calls, 0);
	assert_int_equal(write(x[0], "hello", 5), 5);
	shutdown(x[0], SHUT_WR);
	assert_int_equal(write(y[1], "world", 5), 5);
	shutdown(y[1], SHUT_WR);
	ev_loop_run(t.loop);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.error, 0);
	assert_int_equal(relay_bytes(r, true), 10);
	assert_int_equal(relay_bytes(r, false), 5);
	n = read_all(y[1], buf, sizeof buf);
	assert_int_equal(n, 10);
	assert_memory_equal(buf, "head:hello", 10);
	n = read_all(x[0], buf, sizeof buf);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "world", 5);
	relay_free(r);
	close(x[0]);
	close(y[1]);
	ev_loop_free(t.loop);
}

static void
test_relay_connect_refused(void **state)
{
	struct relay_test t = {.loop = ev_loop_new()};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof sin;
	char *cause = NULL, spec[64];
	int x[2], l, b;
	struct relay *r;

	/* a port that was free a moment ago */
	l = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof sin), 0);
	getsockname(l, (struct sockaddr *)&sin, &len);
	close(l);
	snprintf(spec, sizeof spec, "127.0.0.1:%u", ntohs(sin.sin_port));
	b = sock_connect_spec(spec, &cause);
	assert_true(b >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, x), 0);
	r = relay_new(t.loop, x[1], b, relay_test_done, &t);
	ev_loop_run(t.loop);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.error, -ECONNREFUSED);
	relay_free(r);
	close(x[0]);
	ev_loop_free(t.loop);
}

static void
test_relay_free_early(void **state)
{
	struct relay_test t = {.loop = ev_loop_new()};
	int x[2], y[2];
	struct relay *r;
	char c;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, x), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, y), 0);
	r = relay_new(t.loop, x[1], y[0], relay_test_done, &t);
	relay_free(r);
	assert_int_equal(t.calls, 0);
	/* both ends were closed */
	assert_int_equal(read(x[0], &c, 1), 0);
	assert_int_equal(read(y[1], &c, 1), 0);
	close(x[0]);
	close(y[1]);
	ev_loop_free(t.loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_parse),
		cmocka_unit_test(test_relay_half_close),
		cmocka_unit_test(test_relay_connect_refused),
		cmocka_unit_test(test_relay_free_early),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
