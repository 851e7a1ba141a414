/*
 * term.c: GET /internal/terminal, the agent's terminal as a stream a
 * terminal emulator in a browser (xterm.js) replays.
 *
 * Data model: each subscriber (struct term_sub, in rt->terms) gets a
 * `snapshot` {cols, rows, b64} first: vt_screen_ansi's repaint of the
 * screen, base64; then `output` {b64} with the PTY's bytes as they came
 * (fed to the screen model first, so a snapshot always includes every
 * byte before the next output event), and on a resize `resize` {cols,
 * rows} and a new snapshot. Output waits in the subscriber's pending
 * buffer and goes to its SSE stream only while fewer than TERM_LOW bytes
 * are queued there (the stream's drain callback sends the rest): a
 * client that falls TERM_BEHIND bytes behind loses that output and gets
 * a fresh snapshot instead (need_snapshot: output is dropped until it is
 * sent, since the snapshot will show it). At most TERM_MAX_SUBS
 * subscribers (429 past it).
 */
#include "common.h"

#include <sodium.h>

#include "core/buf.h"
#include "core/log.h"
#include "http/http.h"
#include "runtime.h"
#include "vt/screen.h"

#define TERM_BEHIND (256u << 10) /* pending output before a snapshot */
#define TERM_LOW    (64u << 10)	 /* stream queue below which we send */
/* the stream's hard limit: room for a snapshot of the largest screen */
#define TERM_QUEUE (64u << 20)

struct term_sub {
	struct runtime *rt;
	struct http_sse *sse;
	struct buf pending; /* output not sent yet */
	bool need_resize;
	bool need_snapshot; /* pending is empty and stays so until sent */
	struct term_sub *next;
};

/* Send event with JSON data head (an object opened, fields and a comma)
 * followed by "b64": len bytes of data in base64. */
static void
term_send_b64(struct term_sub *t, const char *event, const char *head,
	      const void *data, size_t len)
{
	size_t n =
		sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	size_t hl = strlen(head);
	char *json = xmalloc(hl + n + 16);

	memcpy(json, head, hl);
	memcpy(json + hl, "\"b64\":\"", 7);
	sodium_bin2base64(json + hl + 7, n, data, len,
			  sodium_base64_VARIANT_ORIGINAL);
	memcpy(json + hl + 7 + n - 1, "\"}", 3);
	http_sse_send(t->sse, event, json);
	free(json);
}

/* Send t what it waits for while its stream's queue is low: a resize,
 * a snapshot, or its pending output. */
static void
term_flush(struct term_sub *t)
{
	struct runtime *rt = t->rt;
	unsigned cols = vt_screen_cols(rt->screen);
	unsigned rows = vt_screen_rows(rt->screen);
	char head[64];

	if (http_stream_queued(t->sse) >= TERM_LOW)
		return; /* the drain callback comes back */
	if (t->need_resize) {
		snprintf(head, sizeof head, "{\"cols\":%u,\"rows\":%u}", cols,
			 rows);
		http_sse_send(t->sse, "resize", head);
		t->need_resize = false;
	}
	if (t->need_snapshot) {
		size_t len;
		char *ansi = vt_screen_ansi(rt->screen, &len);

		snprintf(head, sizeof head, "{\"cols\":%u,\"rows\":%u,", cols,
			 rows);
		term_send_b64(t, "snapshot", head, ansi, len);
		free(ansi);
		t->need_snapshot = false;
	} else if (t->pending.len > 0) {
		term_send_b64(t, "output", "{", t->pending.data,
			      t->pending.len);
		buf_clear(&t->pending);
	}
}

/* The stream's queue went down: send more. */
static void
term_drained(struct http_sse *sse UNUSED, void *data)
{
	term_flush(data);
}

/* The stream ended: unlink and free t. */
static void
term_closed(struct http_sse *sse UNUSED, void *data)
{
	struct term_sub *t = data;

	for (struct term_sub **pp = &t->rt->terms; *pp != NULL;
	     pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			t->rt->nterms--;
			break;
		}
	}
	buf_release(&t->pending);
	free(t);
}

void
term_get(struct http_req *req, void *data)
{
	struct runtime *rt = data;
	struct term_sub *t;

	if (rt->nterms >= TERM_MAX_SUBS) {
		http_reply_problem(req, 429,
				   "too many terminal subscribers (limit %d)",
				   TERM_MAX_SUBS);
		return;
	}
	t = xcalloc(1, sizeof *t);
	t->rt = rt;
	buf_init(&t->pending, 0);
	t->need_snapshot = true;
	t->sse = http_sse_start(req, TERM_QUEUE, term_closed, t);
	http_stream_on_drain(t->sse, term_drained);
	t->next = rt->terms;
	rt->terms = t;
	rt->nterms++;
	term_flush(t);
}

void
term_output(struct runtime *rt, const char *data, size_t len)
{
	for (struct term_sub *t = rt->terms; t != NULL; t = t->next) {
		if (t->need_snapshot)
			continue; /* the snapshot will show it */
		if (t->pending.len + len > TERM_BEHIND) {
			buf_clear(&t->pending);
			t->need_snapshot = true;
		} else {
			buf_append(&t->pending, data, len);
		}
		term_flush(t);
	}
}

void
term_resized(struct runtime *rt)
{
	for (struct term_sub *t = rt->terms; t != NULL; t = t->next) {
		buf_clear(&t->pending);
		t->need_resize = true;
		t->need_snapshot = true;
		term_flush(t);
	}
}
