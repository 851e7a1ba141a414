/*
 * curlev.c: the server's libcurl multi handle on srv->loop.
 *
 * Data model: one CURLM (curlev_multi), made with the first transfer; a
 * list of the transfers it runs (struct curlev_xfer: the easy handle, its
 * done callback and data), searched by easy handle, so CURLOPT_PRIVATE
 * stays the caller's; one ev_io per socket libcurl asks us to watch
 * (struct curlev_sock, assigned to the socket with curl_multi_assign);
 * one ev_timer for the multi's timeout; the multi keeps
 * FDLIMIT_UPSTREAM_IDLE idle connections beyond those the running
 * transfers or curlev_reserve hold (curlev_bound_idle). libcurl is only ever
 * called from the loop's callbacks, never from inside its own callbacks: a
 * timeout of 0 arms the timer for now. Finished transfers are read with
 * curl_multi_info_read after each curl_multi_socket_action, taken off the
 * multi, then their done callback runs, which may add or cancel others.
 */
#include "common.h"

#include "core/ev.h"
#include "core/fdlimit.h"
#include "core/log.h"
#include "gateway/curlev.h"
#include "server/server.h"

struct curlev_xfer {
	CURL *easy;
	curlev_done_fn done;
	void *data;
	struct curlev_xfer *next;
};

struct curlev_sock {
	struct ev_io *io;
	curl_socket_t fd;
};

static CURLM *curlev_multi;
static struct ev_timer curlev_timer;
static struct curlev_xfer *curlev_xfers;
static size_t curlev_n;
static size_t curlev_reserved; /* connections the callers may hold */

/*
 * Bound the connections libcurl keeps after a transfer: those the running
 * transfers or the callers' reservation (curlev_reserve) hold, plus
 * FDLIMIT_UPSTREAM_IDLE idle ones. CURLMOPT_MAXCONNECTS counts the
 * connections in use too: a fixed bound would close one at the end of
 * nearly every transfer once more than it run at once. Called whenever
 * either count changes (libcurl applies it as a transfer ends).
 */
static void
curlev_bound_idle(void)
{
	size_t held = MAX(curlev_n, curlev_reserved);

	if (curlev_multi != NULL)
		curl_multi_setopt(curlev_multi, CURLMOPT_MAXCONNECTS,
				  (long)(held + FDLIMIT_UPSTREAM_IDLE));
}

/* Find the transfer of easy (and the link to it), or NULL. */
static struct curlev_xfer **
curlev_find(CURL *easy)
{
	struct curlev_xfer **pp;

	for (pp = &curlev_xfers; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->easy == easy)
			return pp;
	return NULL;
}

/* Take every finished transfer off the multi and call its done. */
static void
curlev_check_done(void)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(curlev_multi, &left)) != NULL) {
		struct curlev_xfer **pp, *x;

		if (msg->msg != CURLMSG_DONE)
			continue;
		pp = curlev_find(msg->easy_handle);
		if (pp == NULL) {
			curl_multi_remove_handle(curlev_multi,
						 msg->easy_handle);
			continue;
		}
		x = *pp;
		*pp = x->next;
		/* msg points into the multi: read it before the remove */
		CURLcode rc = msg->data.result;

		curl_multi_remove_handle(curlev_multi, x->easy);
		curlev_n--;
		curlev_bound_idle();
		x->done(x->easy, rc, x->data);
		free(x);
	}
}

/* A socket libcurl watches is ready. */
static void
curlev_on_io(struct ev_io *io, uint32_t events, void *data UNUSED)
{
	int mask = 0, running;

	if (events & EPOLLIN)
		mask |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		mask |= CURL_CSELECT_ERR;
	curl_multi_socket_action(curlev_multi, ev_io_fd(io), mask, &running);
	curlev_check_done();
}

/* The multi's timeout passed. */
static void
curlev_on_timer(void *data UNUSED)
{
	int running;

	curl_multi_socket_action(curlev_multi, CURL_SOCKET_TIMEOUT, 0,
				 &running);
	curlev_check_done();
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what libcurl asks, or stop. */
static int
curlev_socket_cb(CURL *easy UNUSED, curl_socket_t s, int what,
		 void *clientp UNUSED, void *socketp)
{
	struct curlev_sock *cs = socketp;
	uint32_t ev = 0;

	if (what == CURL_POLL_REMOVE) {
		if (cs != NULL) {
			ev_io_del(cs->io);
			free(cs);
			curl_multi_assign(curlev_multi, s, NULL);
		}
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= EPOLLOUT;
	if (cs == NULL) {
		cs = xcalloc(1, sizeof *cs);
		cs->fd = s;
		cs->io = ev_io_add(srv->loop, s, ev, curlev_on_io, cs);
		curl_multi_assign(curlev_multi, s, cs);
	} else {
		ev_io_set_events(cs->io, ev);
	}
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: (re)arm or stop the multi's one timer. */
static int
curlev_timer_cb(CURLM *multi UNUSED, long timeout_ms, void *clientp UNUSED)
{
	if (timeout_ms < 0)
		ev_timer_stop(srv->loop, &curlev_timer);
	else
		ev_timer_start(srv->loop, &curlev_timer,
			       now_ms() + (uint64_t)timeout_ms);
	return 0;
}

/* Make the multi handle the first time. */
static void
curlev_init(void)
{
	if (curlev_multi != NULL)
		return;
	curlev_multi = curl_multi_init();
	if (curlev_multi == NULL)
		fatal("cannot make a libcurl multi handle");
	ev_timer_init(&curlev_timer, curlev_on_timer, NULL);
	curl_multi_setopt(curlev_multi, CURLMOPT_SOCKETFUNCTION,
			  curlev_socket_cb);
	curl_multi_setopt(curlev_multi, CURLMOPT_TIMERFUNCTION,
			  curlev_timer_cb);
	/* idle upstream connections kept for reuse, server-wide: fdlimit
	 * counts them in the server's own share of descriptors */
	curlev_bound_idle();
}

void
curlev_add(CURL *easy, curlev_done_fn done, void *data)
{
	struct curlev_xfer *x = xcalloc(1, sizeof *x);
	CURLMcode mc;

	curlev_init();
	x->easy = easy;
	x->done = done;
	x->data = data;
	x->next = curlev_xfers;
	curlev_xfers = x;
	curlev_n++;
	curlev_bound_idle();
	mc = curl_multi_add_handle(curlev_multi, easy);
	/* only a bug (an easy added twice, a bad handle) fails here */
	if (mc != CURLM_OK)
		fatal("curl_multi_add_handle: %s", curl_multi_strerror(mc));
}

void
curlev_cancel(CURL *easy)
{
	struct curlev_xfer **pp = curlev_multi ? curlev_find(easy) : NULL;
	struct curlev_xfer *x;

	if (pp == NULL)
		return;
	x = *pp;
	*pp = x->next;
	curl_multi_remove_handle(curlev_multi, easy);
	curlev_n--;
	curlev_bound_idle();
	free(x);
}

void
curlev_reserve(size_t n)
{
	curlev_reserved = n;
	curlev_bound_idle();
}

size_t
curlev_running(void)
{
	return curlev_n;
}
