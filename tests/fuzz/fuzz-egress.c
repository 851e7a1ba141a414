/*
 * fuzz-egress.c: libFuzzer over what a sandboxed agent writes to the
 * egress proxy (src/server/egress.c): the request line of an HTTPS_PROXY
 * CONNECT on egress.sock and the LLM request head on llm.sock, which is
 * rewritten with the provider key. The input is one request head as the
 * proxy sees it when "\r\n\r\n" arrived (or all of it when it never does).
 *
 * Checked: a parsed CONNECT host is the target's text before its last
 * ':' (without the brackets of "[v6]:port") with a port in 1-65535, and
 * the rewritten LLM head has exactly one Host line (the upstream's).
 */
#include "common.h"

#include "core/buf.h"
#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The server's context, defined in server.c; the pure functions fuzzed
 * here never read it. */
struct server *srv;

/* Count the header lines (after the request line) that are Host. */
static size_t
fuzz_egress_hosts(const char *head, size_t len)
{
	const char *p = memchr(head, '\n', len);
	size_t n = 0;

	for (p = p ? p + 1 : head + len; p < head + len;) {
		const char *nl = memchr(p, '\n', (size_t)(head + len - p));

		if (head + len - p >= 5 && strncasecmp(p, "Host:", 5) == 0)
			n++;
		p = nl ? nl + 1 : head + len;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char method[16], target[512], host[EGRESS_HOST_MAX];
	char *head = xstrndup((const char *)data, size);
	size_t len = strlen(head);
	const char *end = strstr(head, "\r\n\r\n");
	size_t head_len = end ? (size_t)(end - head) + 4 : len;
	const char *why = NULL;
	struct buf out;
	long port = 0;
	int status;

	status = egress_parse_head(head, false, method, target, host, &port,
				   &why);
	if (status != 0 && (why == NULL || (status != 400 && status != 405)))
		BUG();
	if (status == 0) {
		/* "[v6]:port": the host is between the brackets */
		size_t hl = strlen(host);
		bool br = target[0] == '[' && target[hl + 1] == ']';
		const char *t = br ? target + 1 : target;

		if (strcmp(method, "CONNECT") != 0 || port < 1 ||
		    port > 65535 || strncmp(t, host, hl) != 0 ||
		    t[hl + (br ? 1 : 0)] != ':')
			BUG();
	}

	status = egress_parse_head(head, true, method, target, host, &port,
				   &why);
	if (status == 0) {
		buf_init(&out, 0);
		egress_llm_head(&out, head, head_len, "upstream.test:4000",
				(size & 1) ? "sk-fuzz" : NULL);
		/* the request line ends with a newline: a Host line follows */
		if (memchr(head, '\n', head_len) != NULL &&
		    fuzz_egress_hosts(out.data, out.len) != 1)
			BUG();
		buf_release(&out);
	}
	free(head);
	return 0;
}
