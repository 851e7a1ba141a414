/*
 * relay.h: copy bytes both ways between two stream sockets in the loop.
 *
 * Each direction has a 64 KiB buffer; a side is not read while the
 * buffer towards the other side is full (backpressure). EOF on one side
 * becomes shutdown(SHUT_WR) on the other once its buffer has drained.
 * When both directions are finished, or on the first error, both fds are
 * closed and the done callback runs once, from the loop.
 */
#ifndef TASKBOX_RELAY_H
#define TASKBOX_RELAY_H

#include "ev.h"

#define RELAY_BUF_SIZE (64u << 10)

struct relay;

/* Called once when the relay ended; may call relay_free(r). */
typedef void (*relay_done_cb)(struct relay *r, void *data);

/*
 * Relay between connected stream sockets a and b; takes ownership of
 * both. b may still be connecting (nonblocking connect in progress): the
 * relay waits for it to become writable and checks SO_ERROR.
 */
struct relay *relay_new(struct ev_loop *loop, int a, int b, relay_done_cb done,
			void *data);
/* Queue data to be written to b (to_b) or a before anything relayed. */
void relay_prefill(struct relay *r, bool to_b, const void *data, size_t len);
/* 0, or the -errno that ended the relay. */
int relay_error(const struct relay *r);
/* Bytes written so far to b (to_b) or to a. */
uint64_t relay_bytes(const struct relay *r, bool to_b);
/* Close both fds (if still open) and free r; done is not called. */
void relay_free(struct relay *r);

#endif
