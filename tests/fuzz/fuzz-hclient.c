/*
 * fuzz-hclient.c: libFuzzer over the HTTP client's response parser
 * (src/http/client.c), which reads what a task's runtime (and the apps it
 * forwards) answer the server: a socket in a directory the task controls.
 *
 * One unix socket listens in a private temporary directory. Per input the
 * real client connects to it and the fuzzer answers with the input, cut
 * into chunks written one per loop pass (so the head arrives in pieces as
 * from a slow peer). The first byte picks the chunk size and the mode:
 * hclient_json (the runtime's JSON calls) or raw callbacks that look at
 * every header and cancel the exchange in the middle of the body when a
 * body byte is '!' (the deferred free inside a callback).
 */
#include "common.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/ev.h"
#include "http/client.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static char dir[64], sock_path[96];
static int lfd = -1;

/* One exchange: the answer still to write and how the client fared. */
struct fuzz_hc {
	int peer;
	const uint8_t *p;
	size_t left, chunk;
	bool asked; /* the client's request arrived */
	bool done;
	struct hclient *c;
};

/* Remove the socket and its directory at exit. */
static void
fuzz_hc_cleanup(void)
{
	if (lfd >= 0)
		close(lfd);
	unlink(sock_path);
	rmdir(dir);
}

/* Listen on a socket in a new private directory under $TMPDIR. */
int
LLVMFuzzerInitialize(int *argc UNUSED, char ***argv UNUSED)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof dir, "%s/fuzz-hclient.XXXXXX",
		 tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp: %s", strerror(errno));
	snprintf(sock_path, sizeof sock_path, "%s/s", dir);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(lfd, 4) < 0)
		fatal("cannot listen on '%s': %s", sock_path, strerror(errno));
	atexit(fuzz_hc_cleanup);
	signal(SIGPIPE, SIG_IGN);
	loop = ev_loop_new();
	return 0;
}

/* Before each loop pass: take the request, write the next chunk of the
 * answer or end it. */
static int
fuzz_hc_prepare(void *data)
{
	struct fuzz_hc *x = data;
	size_t n = x->left < x->chunk ? x->left : x->chunk;

	if (x->peer < 0)
		return -1;
	if (!x->asked) {
		char req[4096];

		/* one write of the client's: all of it or nothing yet */
		if (read(x->peer, req, sizeof req) <= 0)
			return -1;
		x->asked = true;
	}
	if (n > 0) {
		ssize_t w = write(x->peer, x->p, n);

		if (w > 0) {
			x->p += w;
			x->left -= (size_t)w;
		} else if (errno != EAGAIN) {
			x->left = 0; /* the client is gone */
		}
	}
	if (x->left == 0) {
		/* end of the answer: the client sees EOF */
		shutdown(x->peer, SHUT_WR);
		close(x->peer);
		x->peer = -1;
	}
	return -1;
}

/* The JSON exchange ended. */
static void
fuzz_hc_json_done(int status UNUSED, json_t *reply, int err UNUSED, void *data)
{
	struct fuzz_hc *x = data;

	if (reply != NULL)
		free(json_dumps(reply, JSON_COMPACT));
	x->done = true;
	ev_loop_stop(loop, 0);
}

/* Look at every header, as the proxy does. */
static void
fuzz_hc_head(struct hclient *c UNUSED, int status,
	     const struct hclient_header *h, size_t n, void *data UNUSED)
{
	size_t total = 0;

	if (status < 100 || status > 599)
		BUG();
	for (size_t i = 0; i < n; i++)
		total += strlen(h[i].name) + strlen(h[i].value);
	(void)total;
}

/* Body bytes: a '!' cancels the exchange from inside the callback. */
static void
fuzz_hc_body(struct hclient *c, const char *buf, size_t len, void *data)
{
	struct fuzz_hc *x = data;

	if (memchr(buf, '!', len) != NULL) {
		hclient_free(c);
		x->done = true;
		ev_loop_stop(loop, 0);
	}
}

/* The raw exchange ended. */
static void
fuzz_hc_done(struct hclient *c UNUSED, int err UNUSED, void *data)
{
	struct fuzz_hc *x = data;

	x->done = true;
	ev_loop_stop(loop, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct hclient_cb cbs = {
		.head = fuzz_hc_head,
		.body = fuzz_hc_body,
		.done = fuzz_hc_done,
	};
	struct fuzz_hc x = {.peer = -1};
	char *cause = NULL;

	if (size == 0)
		return 0;
	x.chunk = 1 + (size_t)(data[0] >> 1) * 64;
	x.p = data + 1;
	x.left = size - 1;
	if (data[0] & 1) {
		x.c = hclient_start(loop, sock_path, "GET", "/status", NULL,
				    NULL, 0, &cbs, &x, &cause);
		if (x.c == NULL)
			fatal("%s", cause);
	} else {
		x.c = hclient_json(loop, sock_path, "GET", "/status", NULL,
				   NULL, NULL, fuzz_hc_json_done, &x);
	}
	x.peer = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (x.peer < 0)
		fatal("accept: %s", strerror(errno));
	ev_loop_set_prepare(loop, fuzz_hc_prepare, &x);
	ev_loop_run(loop);
	ev_loop_set_prepare(loop, NULL, NULL);
	if (x.peer >= 0)
		close(x.peer);
	if (!x.done)
		BUG();
	return 0;
}
