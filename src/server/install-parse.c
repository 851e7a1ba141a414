/*
 * install-parse.c: the pure parts of agent installs (install-parse.h):
 * what the installer's child reads of tar's listing and of a tool's log,
 * the marker comparison, and URLs' user info cut out of messages.
 *
 * Data model: none; every function works on the bytes it is given (not
 * necessarily NUL-terminated where a length comes with them) and touches
 * nothing else. The installer (install.c) does the reading and the
 * processes; a unit test and a fuzzer (tests/fuzz/fuzz-install.c) drive
 * these.
 */
#include "common.h"

#include <limits.h>
#include "core/text.h"
#include "server/install-parse.h"

/* Is c a blank between the words of a listing line? */
static bool
tar_blank(char c)
{
	return c == ' ' || c == '\t';
}

long long
install_tar_add(long long total, const char *line, size_t n)
{
	const char *p = line, *end = line + n;
	long long size = 0;
	size_t digits = 0;

	BUG_ON(total < 0);
	/* MODE and UID/GID: two words, each followed by blanks */
	for (int word = 0; word < 2; word++) {
		const char *w = p;

		while (p < end && !tar_blank(*p) && *p != '\n')
			p++;
		if (p == w || p == end || !tar_blank(*p))
			return total;
		while (p < end && tar_blank(*p))
			p++;
	}
	/* SIZE: digits, then a blank (the date follows) */
	for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
		int d = *p - '0';

		size = size > (LLONG_MAX - d) / 10 ? LLONG_MAX : size * 10 + d;
	}
	if (digits == 0 || p == end || !tar_blank(*p))
		return total;
	return size > LLONG_MAX - total ? LLONG_MAX : total + size;
}

bool
install_marker_match(const char *have, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(have, want, n) == 0;
}

void
install_scrub_userinfo(char *s)
{
	for (char *p = strstr(s, "://"); p != NULL; p = strstr(p, "://")) {
		char *host = p + 3;
		/* never "'": a password may hold it (a sub-delim), and
		 * "'https://host'" has no '@' to cut anyway */
		size_t n = strcspn(host, "/ \t\r\n\"<>");
		/* the last '@': a password may hold one, unescaped */
		char *at = memrchr(host, '@', n);

		if (at != NULL)
			memmove(host, at + 1, strlen(at + 1) + 1);
		p = host;
	}
}

void
install_log_tail(const char *log, size_t n, char *out, size_t size)
{
	size_t start, len;

	BUG_ON(size == 0);
	while (n > 0 &&
	       (log[n - 1] == '\n' || log[n - 1] == '\r' || log[n - 1] == ' '))
		n--;
	start = n;
	while (start > 0 && log[start - 1] != '\n')
		start--;
	len = n - start;
	if (len > size - 1)
		len = utf8_cut(log + start, size - 1);
	memcpy(out, log + start, len);
	out[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
}
