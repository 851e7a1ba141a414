/*
 * resolve.h: asynchronous name resolution for the event loop (c-ares).
 *
 * A resolver runs inside one ev loop: resolve_start() never blocks, a
 * numeric host is answered at once, a name is answered later through a
 * callback that runs from the loop, never from inside resolve_start().
 * The answer is a list of addresses with the port set; the caller holds
 * each to its own policy (netpolicy) before it connects.
 */
#ifndef TASKBOX_RESOLVE_H
#define TASKBOX_RESOLVE_H

#include <sys/socket.h>

#include "ev.h"

#define RESOLVE_MAX_ADDRS 16 /* more addresses in an answer are dropped */

struct resolve;
struct resolve_req;

/* The addresses of one answer, in the resolver's order. */
struct resolve_addrs {
	struct sockaddr_storage addr[RESOLVE_MAX_ADDRS];
	socklen_t len[RESOLVE_MAX_ADDRS];
	size_t n;
};

/*
 * The answer to a pending request: err 0 and res with at least one
 * address, or -errno (-ENOENT no such name, -ETIMEDOUT no answer in
 * time, -ECANCELED the resolver is being freed, -EHOSTUNREACH any other
 * failure) with a readable cause. Both are borrowed for the call; the
 * request is gone when it returns (do not cancel it).
 */
typedef void (*resolve_cb)(const struct resolve_addrs *res, int err,
			   const char *cause, void *data);

struct resolve_opts {
	unsigned max_pending; /* requests at once, cancelled ones included */
	unsigned try_ms;      /* c-ares's first timeout per server and try */
	unsigned tries;	      /* c-ares's tries per server */
	/* "host:port,..." instead of /etc/resolv.conf's (NULL: those) */
	const char *servers;
};

/* A resolver on loop; NULL and *cause when c-ares cannot start. */
struct resolve *resolve_new(struct ev_loop *loop,
			    const struct resolve_opts *opts, char **cause);

/* Free r: pending requesters get -ECANCELED first. */
void resolve_free(struct resolve *r);

/*
 * Resolve host for a TCP connection to port. Returns 0 with *out filled
 * when host is a numeric address (no callback follows); 1 with *reqp set
 * when an answer will come through cb (once, from the loop, after at most
 * timeout_ms) unless resolve_cancel(*reqp) comes first; -EAGAIN when
 * max_pending requests are in flight, or -EINVAL for an empty or overlong
 * name, each with *cause (the caller frees it).
 */
int resolve_start(struct resolve *r, const char *host, unsigned port,
		  unsigned timeout_ms, resolve_cb cb, void *data,
		  struct resolve_addrs *out, struct resolve_req **reqp,
		  char **cause);

/* Forget a pending request: its callback never runs and req is gone.
 * Safe to call from any callback but the request's own. */
void resolve_cancel(struct resolve_req *req);

/* Requests in flight (cancelled ones until c-ares lets go of them). */
size_t resolve_pending(const struct resolve *r);

#endif
