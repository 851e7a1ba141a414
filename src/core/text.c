/*
 * text.c: line arrays and UTF-8 helpers.
 */
#include "common.h"

#include <ctype.h>

#include "text.h"

void
lines_push(struct lines *l, const char *s, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
	}
	l->v[l->n++] = xstrndup(s, len);
}

void
lines_split(struct lines *l, const char *s)
{
	memset(l, 0, sizeof *l);
	for (;;) {
		const char *nl = strchr(s, '\n');

		if (nl == NULL) {
			lines_push(l, s, strlen(s));
			return;
		}
		lines_push(l, s, (size_t)(nl - s));
		s = nl + 1;
	}
}

void
lines_release(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

void
lines_remove(struct lines *l, size_t from, size_t to)
{
	if (to > l->n)
		to = l->n;
	if (from >= to)
		return;
	for (size_t i = from; i < to; i++)
		free(l->v[i]);
	memmove(l->v + from, l->v + to, (l->n - to) * sizeof *l->v);
	l->n -= to - from;
}

char *
lines_join(const struct lines *l, size_t from, size_t to)
{
	size_t len = 0, o = 0;
	char *s;

	if (to > l->n)
		to = l->n;
	for (size_t i = from; i < to; i++)
		len += strlen(l->v[i]) + 1;
	s = xmalloc(len + 1);
	for (size_t i = from; i < to; i++) {
		size_t n = strlen(l->v[i]);

		if (i > from)
			s[o++] = '\n';
		memcpy(s + o, l->v[i], n);
		o += n;
	}
	s[o] = '\0';
	return s;
}

/* The value of a hex digit, or -1. */
int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
str_is_blank(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!isspace((unsigned char)*s))
			return false;
	}
	return true;
}

void
lines_trim_blank(struct lines *l)
{
	size_t a = 0;

	while (l->n > 0 && str_is_blank(l->v[l->n - 1])) {
		free(l->v[l->n - 1]);
		l->n--;
	}
	while (a < l->n && str_is_blank(l->v[a]))
		a++;
	lines_remove(l, 0, a);
}

bool
str_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

char *
str_trim(char *s)
{
	size_t n = strlen(s), a = 0;

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	while (a < n && isspace((unsigned char)s[a]))
		a++;
	memmove(s, s + a, n - a);
	s[n - a] = '\0';
	return s;
}

char *
str_escape_path(const char *path)
{
	static const char keep[] = "-._~/!$&'()*+,;=:@";
	static const char hex[] = "0123456789ABCDEF";
	char *s = xmalloc(3 * strlen(path) + 1), *o = s;

	for (const unsigned char *p = (const unsigned char *)path; *p != '\0';
	     p++) {
		if (isalnum(*p) || strchr(keep, *p) != NULL) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return s;
}

/* Decode one code point at s; sets *adv to the bytes used. */
static uint32_t
utf8_next(const unsigned char *s, size_t *adv)
{
	uint32_t c = s[0];
	size_t n, i;

	if (c < 0x80) {
		*adv = 1;
		return c;
	}
	if ((c & 0xe0) == 0xc0) {
		n = 2;
		c &= 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		c &= 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		c &= 0x07;
	} else {
		*adv = 1;
		return 0xfffd;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*adv = i;
			return 0xfffd;
		}
		c = (c << 6) | (s[i] & 0x3f);
	}
	*adv = n;
	if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ||
	    (n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
	    (n == 4 && c < 0x10000))
		return 0xfffd;
	return c;
}

uint32_t *
utf8_decode(const char *s, size_t *n)
{
	size_t len = strlen(s), k = 0, adv;
	uint32_t *out = xcalloc(len + 1, sizeof *out);

	for (size_t i = 0; i < len; i += adv)
		out[k++] = utf8_next((const unsigned char *)s + i, &adv);
	*n = k;
	return out;
}

bool
utf8_valid(const char *s, size_t len)
{
	size_t adv;

	for (size_t i = 0; i < len; i += adv) {
		const unsigned char *p = (const unsigned char *)s + i;
		size_t need = p[0] < 0x80	      ? 1
			      : (p[0] & 0xe0) == 0xc0 ? 2
			      : (p[0] & 0xf0) == 0xe0 ? 3
						      : 4;

		if (i + need > len)
			return false;
		if (utf8_next(p, &adv) == 0xfffd &&
		    !(len - i >= 3 && memcmp(p, "\xef\xbf\xbd", 3) == 0))
			return false;
	}
	return true;
}

char *
utf8_sanitize(const char *s)
{
	size_t n, o = 0;
	uint32_t *u = utf8_decode(s, &n);
	char *out = xmalloc(n * 4 + 1);

	for (size_t i = 0; i < n; i++)
		o += utf8_encode(u[i], out + o);
	out[o] = '\0';
	free(u);
	return out;
}

size_t
utf8_encode(uint32_t c, char *u)
{
	if (c >= 0xd800 && c <= 0xdfff)
		c = 0xfffd;
	if (c < 0x80) {
		u[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		u[0] = (char)(0xc0 | (c >> 6));
		u[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c > 0x10ffff)
		c = 0xfffd;
	if (c < 0x10000) {
		u[0] = (char)(0xe0 | (c >> 12));
		u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	u[0] = (char)(0xf0 | (c >> 18));
	u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	u[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	u[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

size_t
utf8_cut(const char *s, size_t len)
{
	for (size_t back = 1; back <= 3 && back <= len; back++) {
		unsigned char c = (unsigned char)s[len - back];
		size_t need;

		if ((c & 0xc0) == 0x80)
			continue; /* a continuation byte: look further back */
		need = c < 0xc0	  ? 1
		       : c < 0xe0 ? 2
		       : c < 0xf0 ? 3
		       : c < 0xf8 ? 4
				  : 1;
		return need > back ? len - back : len;
	}
	return len; /* no lead byte near the end: nothing to complete */
}
