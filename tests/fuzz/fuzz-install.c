/*
 * fuzz-install.c: libFuzzer target for what the agent installer reads
 * (src/server/install-parse.c): tar's listing of a downloaded archive,
 * the tail of a tool's log, a marker file, and messages whose URLs lose
 * their user info. The first byte picks the parser; the rest is its
 * input. The checks: the listing's total never falls and stays >= 0 (no
 * overflow), a marker matches its own text and nothing else, a scrubbed
 * message has no '@' left in any URL's authority, a log tail fits, has
 * no control byte and is valid UTF-8 when the log was. Crashes,
 * sanitizer reports and these aborts are the findings.
 */
#include "common.h"

#include "core/text.h"
#include "server/install-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Sum the listing p[0..n) line by line as the installer does. */
static void
fuzz_tar(const char *p, size_t n)
{
	long long total = 0, next;

	for (size_t i = 0; i < n;) {
		const char *nl = memchr(p + i, '\n', n - i);
		size_t len = nl != NULL ? (size_t)(nl - (p + i)) + 1 : n - i;

		next = install_tar_add(total, p + i, len);
		if (next < total)
			abort();
		total = next;
		i += len;
	}
}

/* Split p at its first NUL into a marker's text and a file's bytes. */
static void
fuzz_marker(const char *p, size_t n)
{
	const char *nul = memchr(p, '\0', n);
	char *want;
	size_t wn, hn;

	if (nul == NULL)
		return;
	wn = (size_t)(nul - p);
	hn = n - wn - 1;
	want = xstrndup(p, wn);
	if (!install_marker_match(want, wn, want))
		abort();
	if (install_marker_match(nul + 1, hn, want) !=
	    (hn == wn && memcmp(nul + 1, want, wn) == 0))
		abort();
	free(want);
}

/* Scrub s; no "://" is followed by an '@' before its authority ends. */
static void
fuzz_scrub(char *s)
{
	install_scrub_userinfo(s);
	for (char *p = strstr(s, "://"); p != NULL; p = strstr(p + 1, "://")) {
		size_t n = strcspn(p + 3, "/ \t\r\n\"<>");

		if (memchr(p + 3, '@', n) != NULL)
			abort();
	}
}

/* The tail of the log p[0..n) into a buffer of 1 + (the first byte) %
 * 64 bytes, or 301 (what the installer gives) when that byte is 0. */
static void
fuzz_tail(const char *p, size_t n)
{
	char out[302];
	size_t size, len;

	if (n == 0)
		return;
	size = (unsigned char)p[0] == 0 ? 301 : 1 + (unsigned char)p[0] % 64;
	memset(out, 'x', sizeof out);
	install_log_tail(p + 1, n - 1, out, size);
	len = strnlen(out, sizeof out);
	if (len >= size || out[len] != '\0')
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			abort();
	if (utf8_valid(p + 1, n - 1) && !utf8_valid(out, len))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;
	char *s;

	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_tar(p, size - 1);
		break;
	case 1:
		fuzz_marker(p, size - 1);
		break;
	case 2:
		s = xstrndup(p, size - 1);
		fuzz_scrub(s);
		free(s);
		break;
	default:
		fuzz_tail(p, size - 1);
		break;
	}
	return 0;
}
