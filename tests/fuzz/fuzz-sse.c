/*
 * fuzz-sse.c: libFuzzer over the text/event-stream parser (src/http/sse.c)
 * that reads a task runtime's event stream in the server and the CLI.
 *
 * The input's first byte picks a chunk size; the rest is fed once whole
 * and once in chunks of that size. Both parses must hand over the same
 * events in the same order (the parser is incremental: where the network
 * cuts the stream must not matter).
 */
#include "common.h"

#include "core/buf.h"
#include "http/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Append one event to the transcript in arg. */
static int
fuzz_sse_event(const char *event, const char *data, void *arg)
{
	struct buf *out = arg;

	buf_printf(out, "%zu:%s\n%zu:%s\n", strlen(event), event, strlen(data),
		   data);
	return 0;
}

/* Parse len bytes in chunks of at most chunk; the parse result. */
static int
fuzz_sse_parse(const char *p, size_t len, size_t chunk, struct buf *out)
{
	struct sse_parser sp;
	int r = 0;

	sse_parser_init(&sp, fuzz_sse_event, out);
	for (size_t off = 0; off < len && r == 0; off += chunk)
		r = sse_parser_feed(&sp, p + off,
				    len - off < chunk ? len - off : chunk);
	sse_parser_release(&sp);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf whole, cut;
	size_t chunk;
	int r1, r2;

	if (size == 0)
		return 0;
	chunk = 1 + data[0] % 64;
	buf_init(&whole, 0);
	buf_init(&cut, 0);
	r1 = fuzz_sse_parse((const char *)data + 1, size - 1, size, &whole);
	r2 = fuzz_sse_parse((const char *)data + 1, size - 1, chunk, &cut);
	if (r1 != r2 || whole.len != cut.len ||
	    (whole.len > 0 && memcmp(whole.data, cut.data, whole.len) != 0))
		BUG();
	buf_release(&whole);
	buf_release(&cut);
	return 0;
}
