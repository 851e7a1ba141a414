/*
 * http.h: the HTTP layer over libmicrohttpd, run inside our event loop.
 *
 * libmicrohttpd runs in external-epoll mode: its epoll fd joins the loop
 * and MHD_run happens on readiness and at its timeout. A route handler
 * replies at once (http_reply_*), defers the reply (http_req_defer, the
 * connection is suspended until http_reply_* is called later), or turns
 * the request into an SSE stream (http_sse_start). Every request body has
 * a per-route size limit enforced before it is buffered; a guard callback
 * checks Host, Origin and tokens before any handler runs. Errors are
 * RFC 9457 problem+json bodies. Connections are accepted by this layer
 * with a total and a per-client limit and a deadline for each request
 * head (http_limits); running out of descriptors turns clients away and
 * retries instead of stopping.
 */
#ifndef TASKBOX_HTTP_H
#define TASKBOX_HTTP_H

#include <jansson.h>

struct ev_loop;
struct http_server;
struct http_req;
struct http_sse;

typedef void (*http_handler)(struct http_req *req, void *data);
/* Returns true to go on; false after it replied with an error. */
typedef bool (*http_guard)(struct http_req *req, void *data);
typedef void (*http_sse_close_cb)(struct http_sse *sse, void *data);
/* A reply was queued: the matched route's method and path pattern (the
 * server's strings, NULL when no route matched) and the status. */
typedef void (*http_reply_cb)(const char *method, const char *route,
			      unsigned status, void *data);

enum http_route_flags {
	HTTP_ROUTE_PREFIX = 1 << 0, /* path matches as a prefix */
};

/* What a server lets clients hold (http_server_set_limits). */
struct http_limits {
	unsigned max_conns;	 /* connections at once (0: 512) */
	unsigned max_per_client; /* per address or IPv6 /64 (0: no limit) */
	unsigned
		head_timeout_ms; /* to send a whole request head (0: none),
				    from accept or the previous request's end */
};

struct http_server *http_server_new(struct ev_loop *loop);
/* Set the limits before listening (the defaults: 512 connections, no
 * per-client limit, 10 s for a request head). */
void http_server_set_limits(struct http_server *srv,
			    const struct http_limits *l);
/*
 * Listen on host:port (TCP, port 0 picks one) or on a unix socket path
 * when path is not NULL; 0 or -errno with *cause set.
 */
int http_server_listen(struct http_server *srv, const char *host, int port,
		       const char *path, char **cause);
/* The bound TCP port (after listening on port 0). */
int http_server_port(struct http_server *srv);
void http_server_free(struct http_server *srv);
void http_server_set_guard(struct http_server *srv, http_guard guard,
			   void *data);
/* Call cb for every reply (metrics: route patterns keep labels few). */
void http_server_on_reply(struct http_server *srv, http_reply_cb cb,
			  void *data);
/*
 * The status of a request whose body is empty or not JSON at all (default
 * 422, as AgentAPI answers; Coder's API answers 400). A body that parses but
 * does not validate is 422 either way.
 */
void http_server_set_bad_json_status(struct http_server *srv, unsigned status);
/* Origins allowed for CORS ("*" allows all); copies the list. */
void http_server_set_origins(struct http_server *srv, char **origins, size_t n);
void http_server_route(struct http_server *srv, const char *method,
		       const char *path, int flags, size_t body_limit,
		       http_handler handler, void *data);
/* Called by the loop's prepare hook: run MHD if needed, return timeout. */
int http_server_prepare(struct http_server *srv);
/* End every SSE stream and deferred request (before shutdown). */
void http_server_drain(struct http_server *srv);

const char *http_req_method(struct http_req *req);
const char *http_req_path(struct http_req *req);
const char *http_req_header(struct http_req *req, const char *name);
const char *http_req_query(struct http_req *req, const char *name);
/* A boolean query flag: absent is false; true, 1 or the bare name
 * (?force) true; false or 0 false; 0, or -EINVAL for anything else. */
int http_req_query_flag(struct http_req *req, const char *name, bool *on);
/* The query string, re-encoded, "?a=b&..." or "" (new string); the
 * parameter named skip (if any) is left out. */
char *http_req_query_string(struct http_req *req, const char *skip);
const char *http_req_body(struct http_req *req, size_t *len);
struct MHD_Connection *http_req_conn(struct http_req *req);
/* Is origin same-origin with the Host header or an allowed origin? */
bool http_req_origin_allowed(struct http_req *req, const char *origin);
/* Parse the body as a JSON object; replies 422 and returns NULL if not. */
json_t *http_req_json(struct http_req *req);

void http_reply(struct http_req *req, unsigned status, const char *ctype,
		const void *data, size_t len);
/* Takes ownership of body. */
void http_reply_json(struct http_req *req, unsigned status, json_t *body);
void http_reply_problem(struct http_req *req, unsigned status, const char *fmt,
			...) PRINTFLIKE(3, 4);
/*
 * A problem+json body with detail and errors (taken; NULL: one error
 * saying detail), and Coder's "message" and "validations" (every
 * problem body has them: see http.c).
 */
void http_reply_problem_errors(struct http_req *req, unsigned status,
			       const char *detail, json_t *errors);
/* A problem with a machine-readable "reason" member besides detail (e.g.
 * the runtime's 409s: busy, not_an_option, conversation_full). */
void http_reply_problem_reason(struct http_req *req, unsigned status,
			       const char *reason, const char *fmt, ...)
	PRINTFLIKE(4, 5);
/* Problem with errors[]: location is e.g. "body.type", value may be NULL. */
void http_reply_invalid(struct http_req *req, const char *location,
			json_t *value, const char *fmt, ...) PRINTFLIKE(4, 5);
/* A bad query parameter: 400 with errors[] naming location, e.g.
 * "query.limit" (Coder answers 400 for its query parameters). */
void http_reply_bad_query(struct http_req *req, const char *location,
			  const char *fmt, ...) PRINTFLIKE(3, 4);
void http_reply_redirect(struct http_req *req, unsigned status,
			 const char *location);
void http_reply_header(struct http_req *req, const char *name,
		       const char *value);
/* Stop counting req's connection against its client's limit (a
 * connection found to be a trusted peer's: another replica). */
void http_req_uncount(struct http_req *req);
/* Keep the connection waiting; reply later with http_reply_*. */
void http_req_defer(struct http_req *req);

/* Turn req into an SSE stream; on_close runs when the stream ends. */
struct http_sse *http_sse_start(struct http_req *req, size_t queue_limit,
				http_sse_close_cb on_close, void *data);
/* Queue one event; -ENOBUFS ends the stream (the client must reconnect). */
int http_sse_send(struct http_sse *sse, const char *event, const char *data);
void http_sse_end(struct http_sse *sse);

/*
 * A plain streamed response (a proxied body): status and headers
 * (name, value, ..., NULL) now, bytes as they come, http_sse_end() to
 * finish. A write past queue_limit fails with -ENOBUFS; the caller stops
 * reading its source while http_stream_queued() is high and resumes in
 * the drain callback (the queue fell below half its limit).
 */
struct http_sse *http_stream_start(struct http_req *req, unsigned status,
				   const char *const *headers,
				   size_t queue_limit,
				   http_sse_close_cb on_close, void *data);
int http_stream_write(struct http_sse *sse, const void *data, size_t len);
size_t http_stream_queued(struct http_sse *sse);
void http_stream_on_drain(struct http_sse *sse, http_sse_close_cb cb);

const char *http_reason(unsigned status);

#endif
