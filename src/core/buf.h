/*
 * buf.h: a growable byte buffer with an optional hard limit.
 *
 * Buffers fed from outside (HTTP bodies, PTY backlog, SSE queues) set a
 * limit at init; an append past it fails with -ENOBUFS and changes nothing.
 */
#ifndef TASKBOX_BUF_H
#define TASKBOX_BUF_H

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t limit; /* 0: unlimited */
};

void buf_init(struct buf *b, size_t limit);
void buf_release(struct buf *b);
void buf_clear(struct buf *b);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) PRINTFLIKE(2, 3);
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Return data NUL-terminated (the NUL is not counted in len). */
const char *buf_cstr(struct buf *b);
/* Take ownership of the NUL-terminated data; b is left empty. */
char *buf_steal(struct buf *b);

#endif
