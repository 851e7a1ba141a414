/*
 * common.h: included first by every taskbox source file.
 *
 * Holds the allocator family (which aborts on out-of-memory), the BUG()
 * macro for broken invariants, and a few small helpers used everywhere.
 */
#ifndef TASKBOX_COMMON_H
#define TASKBOX_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#define TASKBOX_VERSION "0.1.0"

#define ARRAY_SIZE(a)	 (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)	 ((a) < (b) ? (a) : (b))
#define MAX(a, b)	 ((a) > (b) ? (a) : (b))
#define UNUSED		 __attribute__((unused))
#define PRINTFLIKE(f, a) __attribute__((format(printf, f, a)))
#define NORETURN	 __attribute__((noreturn))

/* Abort with the location: for broken invariants, never for bad input. */
#define BUG() bug_at(__FILE__, __LINE__, __func__)
#define BUG_ON(c)                                                              \
	do {                                                                   \
		if (c)                                                         \
			BUG();                                                 \
	} while (0)

NORETURN void bug_at(const char *file, int line, const char *func);
NORETURN void fatal(const char *fmt, ...) PRINTFLIKE(1, 2);

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTFLIKE(1, 2);
char *xvasprintf(const char *fmt, va_list ap) PRINTFLIKE(1, 0);

/* Monotonic and wall clocks in milliseconds. */
uint64_t now_ms(void);
uint64_t wall_ms(void);

/* Format wall time in ms as RFC 3339 UTC with milliseconds into buf[32]. */
void time_rfc3339(uint64_t wall, char buf[32]);
/* Parse an RFC 3339 time (1970 or later, an optional fraction, the offset
 * not applied: what time_rfc3339 writes) into wall ms; 0 or -EINVAL. */
int time_parse_rfc3339(const char *s, uint64_t *out);

/* Strict decimal parse of a whole string into [min, max]; 0 or -EINVAL. */
int parse_long(const char *s, long min, long max, long *out);

/* Set O_NONBLOCK and FD_CLOEXEC on fd; 0 or -errno. */
int fd_set_nonblock(int fd);

/* Write all of buf to a blocking fd; 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);

/* Answer a connection that is not taken: write reply (may be NULL) to
 * the nonblocking socket fd, end it and close it. */
void sock_reply_close(int fd, const char *reply);

#endif
