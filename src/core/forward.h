/*
 * forward.h: accept on one endpoint, relay each connection to another.
 *
 * The sandboxed runtime's way through its network namespace: a TCP
 * port on loopback forwarded to a unix socket bind-mounted from the
 * host, or a unix socket forwarded to an app listening inside. Endpoint
 * specs are those of sock.h.
 */
#ifndef TASKBOX_FORWARD_H
#define TASKBOX_FORWARD_H

#include "ev.h"

/* Concurrent connections per forward; more are accepted and closed. */
#define FORWARD_MAX_CONNS 256

struct forward;

/* Listen on listen_spec and relay every connection to target_spec. */
struct forward *forward_new(struct ev_loop *loop, const char *listen_spec,
			    const char *target_spec, char **cause);
/* The address listened on as a spec (port 0 resolved); owned by f. */
const char *forward_listen_name(const struct forward *f);
/* Connections being relayed now. */
size_t forward_count(const struct forward *f);
/* Close the listener and every connection; removes a unix socket file. */
void forward_free(struct forward *f);

#endif
