/*
 * sse.h: an incremental parser for text/event-stream bodies.
 *
 * Bytes go in as they arrive from the network; each complete event
 * (`event:` name, `data:` lines joined by newlines, ended by a blank
 * line) is handed to a callback. Lines and events have hard size limits.
 */
#ifndef TASKBOX_HTTP_SSE_H
#define TASKBOX_HTTP_SSE_H

#include "core/buf.h"

/* Called per event; return non-zero to stop the parse. */
typedef int (*sse_event_cb)(const char *event, const char *data, void *arg);

struct sse_parser {
	struct buf line;  /* the incomplete current line */
	struct buf event; /* the event name; "message" when absent */
	struct buf data;  /* data lines of the current event */
	bool has_data;
	bool skip_lf; /* the last line ended with CR: skip a following LF */
	sse_event_cb cb;
	void *arg;
};

#define SSE_MAX_LINE  (4u << 20)
#define SSE_MAX_EVENT (8u << 20)

void sse_parser_init(struct sse_parser *p, sse_event_cb cb, void *arg);
void sse_parser_release(struct sse_parser *p);

/*
 * Feed len bytes. Returns 0, the callback's non-zero value when it asked
 * to stop, or -ENOBUFS when a line or an event is over its limit.
 */
int sse_parser_feed(struct sse_parser *p, const char *data, size_t len);

#endif
