/*
 * fuzz-gwhttp.c: libFuzzer over what an agent writes to its llm.sock, as
 * the gateway reads it (src/gateway/gwhttp.c): a request head, then a
 * chunked body fed in pieces whose sizes the input's first byte picks.
 *
 * Checked: a parsed head has a method, a target without blanks, at most
 * GW_HEADERS_MAX headers and never both framings; a decoded body never
 * passes GW_BODY_MAX nor holds more bytes than the input did, and the
 * decoder consumes exactly what it took.
 */
#include "common.h"

#include "core/buf.h"
#include "gateway/gwhttp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end, *why = NULL;
	struct gw_chunked ch = {0};
	struct gw_req req;
	struct buf in, body;
	size_t step, off;
	int r = 0;

	if (size < 1)
		return 0;
	step = (size_t)data[0] % 64 + 1;
	p++;
	size--;
	end = memmem(p, size, "\r\n\r\n", 4);
	if (end != NULL) {
		size_t hl = (size_t)(end - p) + 4;

		if (gw_req_parse(p, hl, &req, &why) == 0) {
			if (req.method == NULL || req.target == NULL ||
			    strpbrk(req.target, " \t\r\n") != NULL ||
			    req.nh > GW_HEADERS_MAX ||
			    (req.chunked && req.content_length >= 0))
				BUG();
		} else if (why == NULL) {
			BUG();
		}
		gw_req_release(&req);
	}
	buf_init(&in, 0);
	buf_init(&body, GW_BODY_MAX);
	for (off = 0; off < size && r == 0; off += step) {
		size_t n = size - off < step ? size - off : step;
		size_t before = in.len + body.len;

		buf_append(&in, p + off, n);
		r = gw_chunked_feed(&ch, &in, &body, &why);
		if (r == 0 && in.len + body.len > before + n)
			BUG();
	}
	if (body.len > size || body.len > GW_BODY_MAX)
		BUG();
	if (r > 1 && why == NULL)
		BUG();
	buf_release(&in);
	buf_release(&body);
	return 0;
}
