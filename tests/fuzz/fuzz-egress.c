/*
 * fuzz-egress.c: libFuzzer over what a sandboxed agent writes to the
 * egress proxy (src/server/egress.c): the request line of an HTTPS_PROXY
 * CONNECT on egress.sock. The input is one request head as the proxy sees
 * it when "\r\n\r\n" arrived (or all of it when it never does). What
 * llm.sock reads is fuzzed by fuzz-gwhttp.c.
 *
 * Checked: a parsed CONNECT host is the target's text before its last
 * ':' (without the brackets of "[v6]:port") with a port in 1-65535.
 */
#include "common.h"

#include "gateway/gateway.h"
#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The server's context, defined in server.c; the pure functions fuzzed
 * here never read it. */
struct server *srv;

/* The gateway egress.c hands llm.sock to: never reached here. */
struct gateway *
gateway_new(const char *task_id UNUSED, const char *owner_id UNUSED,
	    const char *template_id UNUSED, const char *provider UNUSED)
{
	return NULL;
}

/* Never reached. */
void
gateway_free(struct gateway *g UNUSED)
{
}

/* Never reached. */
void
gateway_accept(struct gateway *g UNUSED, int fd UNUSED)
{
}

/* None. */
size_t
gateway_conns(const struct gateway *g UNUSED)
{
	return 0;
}

/* None. */
size_t
gateway_conns_total(void)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char method[16], target[512], host[EGRESS_HOST_MAX];
	char *head = xstrndup((const char *)data, size);
	const char *why = NULL;
	long port = 0;
	int status;

	status = egress_parse_head(head, method, target, host, &port, &why);
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
	free(head);
	return 0;
}
