/*
 * client.h: a small HTTP/1.0 client over a unix socket, inside the loop.
 *
 * The server reaches each task's agent runtime (and the apps the runtime
 * forwards) through unix sockets in the task's run directory. Requests are
 * HTTP/1.0 with Connection: close, so a response body is every byte until
 * the peer closes: no chunked decoding, and a streamed body (SSE, a
 * proxied page) arrives as it is written. The head is limited to 64 KiB.
 */
#ifndef TASKBOX_HTTP_CLIENT_H
#define TASKBOX_HTTP_CLIENT_H

#include <jansson.h>

struct ev_loop;
struct hclient;

struct hclient_header {
	char *name;
	char *value;
};

struct hclient_cb {
	/* The status line and headers arrived. */
	void (*head)(struct hclient *c, int status,
		     const struct hclient_header *h, size_t n, void *data);
	/* Some body bytes. */
	void (*body)(struct hclient *c, const char *buf, size_t len,
		     void *data);
	/* The exchange ended: 0 at a clean end, else -errno. */
	void (*done)(struct hclient *c, int err, void *data);
	/* Optional: is the peer of the connected socket fd the expected one?
	 * (The socket path lives in a directory a task controls: it could be
	 * a symlink to any socket on the host.) */
	bool (*peer)(int fd, void *data);
};

/*
 * Send method path (with headers as name, value, ..., NULL and an optional
 * body; a Host header replaces the default "localhost") to the unix
 * socket at sock_path, or to a TCP endpoint of sock.c when sock_path is
 * not absolute (HOST:PORT: another replica). Callbacks come from the loop,
 * never from inside this call. Returns NULL with *cause set when the
 * socket cannot be reached at all.
 */
struct hclient *hclient_start(struct ev_loop *loop, const char *sock_path,
			      const char *method, const char *path,
			      const char *const *headers, const void *body,
			      size_t len, const struct hclient_cb *cb,
			      void *data, char **cause);
/* Stop or resume reading the response (backpressure). */
void hclient_pause(struct hclient *c, bool paused);
/* Cancel (no more callbacks) or release after done. */
void hclient_free(struct hclient *c);

/* A finished JSON exchange: status, the parsed body (NULL if none or not
 * JSON; borrowed), err as in done. */
typedef void (*hclient_json_cb)(int status, json_t *reply, int err, void *data);
/* Send an optional JSON body, collect up to 8 MiB of reply, parse it;
 * peer (optional) checks the socket's peer as in struct hclient_cb. */
struct hclient *hclient_json(struct ev_loop *loop, const char *sock_path,
			     const char *method, const char *path, json_t *body,
			     bool (*peer)(int fd, void *data), void *peer_data,
			     hclient_json_cb cb, void *data);

#endif
