/*
 * fuzz-usage.c: libFuzzer over the token-usage reader (src/gateway/usage.c)
 * that will read every LLM response the gateway passes on.
 *
 * The input's first byte picks the format (any of them), the second a
 * chunk size; the rest is a response body, read once whole and once in
 * chunks of that size. Both reads must give the same result and usage
 * (where the network cuts the body must not matter), and the bytes the
 * reader holds never pass USAGE_MAX_HELD.
 */
#include "common.h"

#include "gateway/usage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read len bytes in chunks of at most chunk; the result, usage in *u. */
static int
fuzz_usage_read(enum usage_format fmt, const uint8_t *p, size_t len,
		size_t chunk, struct usage *u)
{
	struct usage_reader *r = usage_reader_new(fmt);
	char *cause = NULL;
	int e;

	for (size_t off = 0; off < len; off += chunk) {
		usage_reader_feed(r, p + off,
				  len - off < chunk ? len - off : chunk);
		if (usage_reader_held(r) > USAGE_MAX_HELD)
			BUG();
	}
	e = usage_reader_finish(r, u, &cause);
	if ((e == 0) != (cause == NULL) ||
	    strnlen(u->model, USAGE_MODEL_MAX) == USAGE_MODEL_MAX)
		BUG();
	free(cause);
	usage_reader_free(r);
	return e;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct usage whole, cut;
	enum usage_format fmt;
	size_t chunk;

	if (size < 2)
		return 0;
	fmt = (enum usage_format)(data[0] % (USAGE_BEDROCK_CONVERSE + 1));
	chunk = 1 + data[1] % 64;
	memset(&whole, 0, sizeof(whole));
	memset(&cut, 0, sizeof(cut));
	if (fuzz_usage_read(fmt, data + 2, size - 2, size, &whole) !=
		    fuzz_usage_read(fmt, data + 2, size - 2, chunk, &cut) ||
	    memcmp(&whole, &cut, sizeof(whole)) != 0)
		BUG();
	return 0;
}
