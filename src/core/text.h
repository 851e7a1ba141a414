/*
 * text.h: line arrays and UTF-8 helpers for the pure text layers
 * (message extraction, status detection).
 */
#ifndef TASKBOX_TEXT_H
#define TASKBOX_TEXT_H

/* A string split into lines; each line is its own NUL-terminated copy. */
struct lines {
	char **v;
	size_t n;
	size_t cap;
};

void lines_split(struct lines *l, const char *s);
void lines_release(struct lines *l);
void lines_push(struct lines *l, const char *s, size_t len);
/* Remove lines [from, to). */
void lines_remove(struct lines *l, size_t from, size_t to);
/* Join lines [from, to) with '\n'; returns a new string. */
char *lines_join(const struct lines *l, size_t from, size_t to);
/* Drop whitespace-only lines at both ends. */
void lines_trim_blank(struct lines *l);

/* The value of the hex digit c (either case), or -1. */
int hex_value(int c);

bool str_is_blank(const char *s);
bool str_starts_with(const char *s, const char *prefix);
/* Strip leading and trailing ASCII whitespace in place; returns s. */
char *str_trim(char *s);
/* A copy of path with what a request line may not hold %-escaped. */
char *str_escape_path(const char *path);
/* Decode UTF-8 into code points (invalid bytes become U+FFFD). */
uint32_t *utf8_decode(const char *s, size_t *n);
bool utf8_valid(const char *s, size_t len);
/* Encode c into u[4] (surrogates and out-of-range become U+FFFD);
 * returns the byte count. */
size_t utf8_encode(uint32_t c, char *u);
/* A copy of s with invalid UTF-8 replaced by U+FFFD; new string. */
char *utf8_sanitize(const char *s);
/*
 * The length of the longest prefix of s[0..len) that does not end inside
 * a UTF-8 sequence: a lead byte within the last three bytes whose
 * sequence needs more bytes than are left is dropped with what follows
 * it. Only that case is cut; invalid bytes (stray continuation bytes,
 * 0xF8-0xFF) stay as they are and count as characters of their own, so
 * at most 3 bytes are dropped. For a string cut to max bytes:
 * utf8_cut(s, strnlen(s, max)).
 */
size_t utf8_cut(const char *s, size_t len);

#endif
