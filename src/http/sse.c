/*
 * sse.c: an incremental text/event-stream parser (see sse.h).
 *
 * The parser keeps the current line until its end of line arrives, then
 * applies it to the event being assembled: `event:` sets the name,
 * `data:` appends a line, `:` comments and other fields are ignored, and
 * a blank line dispatches the event if it had any data.
 */
#include "common.h"

#include "http/sse.h"

/* Prepare p to parse a new stream, calling cb for each event. */
void
sse_parser_init(struct sse_parser *p, sse_event_cb cb, void *arg)
{
	buf_init(&p->line, SSE_MAX_LINE);
	buf_init(&p->event, 256);
	buf_init(&p->data, SSE_MAX_EVENT);
	p->has_data = false;
	p->skip_lf = false;
	p->cb = cb;
	p->arg = arg;
}

/* Free the parser's buffers. */
void
sse_parser_release(struct sse_parser *p)
{
	buf_release(&p->line);
	buf_release(&p->event);
	buf_release(&p->data);
}

/* Apply one complete line (without its end of line) to the event. */
static int
sse_parser_line(struct sse_parser *p, const char *s, size_t len)
{
	const char *colon, *v;
	size_t flen, vlen;
	int r = 0;

	if (len == 0) {
		if (p->has_data)
			r = p->cb(p->event.len ? buf_cstr(&p->event)
					       : "message",
				  buf_cstr(&p->data), p->arg);
		buf_clear(&p->event);
		buf_clear(&p->data);
		p->has_data = false;
		return r;
	}
	if (s[0] == ':')
		return 0;
	colon = memchr(s, ':', len);
	flen = colon ? (size_t)(colon - s) : len;
	v = colon ? colon + 1 : s + len;
	vlen = (size_t)(s + len - v);
	if (vlen > 0 && v[0] == ' ') {
		v++;
		vlen--;
	}
	if (flen == 5 && memcmp(s, "event", 5) == 0) {
		buf_clear(&p->event);
		if (buf_append(&p->event, v, vlen) < 0)
			return -ENOBUFS;
	} else if (flen == 4 && memcmp(s, "data", 4) == 0) {
		if (p->has_data && buf_append(&p->data, "\n", 1) < 0)
			return -ENOBUFS;
		if (buf_append(&p->data, v, vlen) < 0)
			return -ENOBUFS;
		p->has_data = true;
	}
	return 0;
}

/* Split bytes into lines and apply each complete one. */
int
sse_parser_feed(struct sse_parser *p, const char *data, size_t len)
{
	size_t i = 0;
	int r;

	while (i < len) {
		const char *start = data + i;
		size_t n = 0;

		if (p->skip_lf) {
			p->skip_lf = false;
			if (data[i] == '\n') {
				i++;
				continue;
			}
		}
		while (i + n < len && start[n] != '\n' && start[n] != '\r')
			n++;
		if (buf_append(&p->line, start, n) < 0)
			return -ENOBUFS;
		i += n;
		if (i == len)
			break; /* the line is not complete yet */
		p->skip_lf = data[i] == '\r';
		i++;
		r = sse_parser_line(p, p->line.data ? p->line.data : "",
				    p->line.len);
		buf_clear(&p->line);
		if (r != 0)
			return r;
	}
	return 0;
}
