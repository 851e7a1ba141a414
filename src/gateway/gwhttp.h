/*
 * gwhttp.h: the agent's side of the LLM gateway's HTTP/1.1, pure.
 *
 * A request head (everything up to and including the blank line) is
 * parsed into a struct gw_req that owns copies of its parts; a chunked
 * request body is decoded incrementally from the connection's input
 * buffer. Strict where laxness lets a request mean two things (both
 * Content-Length and Transfer-Encoding, differing lengths, folded or
 * control-laden headers: all 400); bounded everywhere.
 */
#ifndef TASKBOX_GATEWAY_GWHTTP_H
#define TASKBOX_GATEWAY_GWHTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define GW_HEAD_MAX	  (64u * 1024)	      /* a request head, bytes */
#define GW_HEADERS_MAX	  128		      /* header lines of a request */
#define GW_BODY_MAX	  (32u * 1024 * 1024) /* a request body, bytes */
#define GW_REQ_TARGET_MAX 8192		      /* a request target, bytes */

struct gw_header {
	char *name;
	char *value; /* surrounding blanks trimmed */
};

struct gw_req {
	char *method;
	char *target;
	int minor; /* HTTP/1.minor */
	struct gw_header h[GW_HEADERS_MAX];
	size_t nh;
	int64_t content_length; /* -1: none given */
	bool chunked;		/* Transfer-Encoding: chunked */
	bool close;		/* the connection ends after this request */
	bool expect_continue;	/* Expect: 100-continue */
};

/*
 * Parse the request head (len bytes ending with the blank line) into
 * *out (gw_req_release frees it, also after a failure): 0, or the status
 * to refuse with (400, 431 past GW_HEADERS_MAX or GW_REQ_TARGET_MAX, 501 for a
 * transfer coding other than chunked) and *why (a static string).
 */
int gw_req_parse(const char *head, size_t len, struct gw_req *out,
		 const char **why);
void gw_req_release(struct gw_req *r);
/* The value of the first header called name (any case), or NULL. */
const char *gw_req_header(const struct gw_req *r, const char *name);
/* Does a Connection header of r list name (any case), making it a
 * hop-by-hop header that is not passed on? */
bool gw_req_conn_listed(const struct gw_req *r, const char *name);

/* The state of one chunked body being decoded. */
struct gw_chunked {
	int phase;     /* size line, data, CRLF after data, trailers */
	uint64_t left; /* bytes of the current chunk still to come */
};

/*
 * Move what in holds of a chunked body into body (at most GW_BODY_MAX),
 * consuming it from in: 1 when the body ended (what follows stays in in),
 * 0 when more is needed, else 400 or 413 with *why.
 */
int gw_chunked_feed(struct gw_chunked *st, struct buf *in, struct buf *body,
		    const char **why);

#endif
