/*
 * webhook.c: deliver one state-change webhook, in a child process.
 *
 * The server never waits on the network in its loop: for each webhook it
 * spawns `taskbox webhook-post URL` with the JSON payload on stdin and
 * reaps it through a pidfd. The child POSTs with libcurl, retrying
 * network errors, 429 and 5xx with exponential backoff (1 s, 4 s, 16 s),
 * and gives up after four tries or on any other 4xx.
 *
 * The URL was written by a member: every address curl is about to connect
 * to passes netpolicy (never this machine, loopback, link-local; private
 * ranges only with --private-ok, for admins' webhooks), no proxy from the
 * environment is used and redirects are not followed.
 */
#include "common.h"

#include <curl/curl.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/netpolicy.h"
#include "core/text.h"
#include "server/webhook.h"

#define WEBHOOK_BODY_LIMIT (64 * 1024)
#define WEBHOOK_TRIES	   4

/* Discard the response body. */
static size_t
webhook_discard(char *ptr UNUSED, size_t size, size_t n, void *data UNUSED)
{
	return size * n;
}

/* What the address policy said about the last address curl tried. */
struct webhook_policy {
	bool private_ok;
	const char *refused; /* static reason, NULL if none was refused */
};

/* curl's socket opener: refuse addresses the policy forbids. */
static curl_socket_t
webhook_open_socket(void *data, curlsocktype purpose UNUSED,
		    struct curl_sockaddr *a)
{
	struct webhook_policy *p = data;
	const char *why = net_check(&a->addr, p->private_ok);

	if (why != NULL) {
		p->refused = why;
		return CURL_SOCKET_BAD;
	}
	p->refused = NULL; /* an allowed address: a failure is the network's */
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

int
webhook_main(int argc, char **argv)
{
	struct webhook_policy policy = {0};
	struct buf body;
	char chunk[4096];
	ssize_t n;
	unsigned delay = 1;
	long status = 0;
	int r = 1;

	if (argc == 3 && strcmp(argv[1], "--private-ok") == 0) {
		policy.private_ok = true;
		argc--;
		argv++;
	}
	if (argc != 2 || (!str_starts_with(argv[1], "http://") &&
			  !str_starts_with(argv[1], "https://"))) {
		fprintf(stderr, "usage: taskbox webhook-post [--private-ok] "
				"URL < JSON\n");
		return 2;
	}
	buf_init(&body, WEBHOOK_BODY_LIMIT);
	while ((n = read(STDIN_FILENO, chunk, sizeof chunk)) > 0) {
		if (buf_append(&body, chunk, (size_t)n) < 0) {
			fprintf(stderr,
				"taskbox webhook-post: payload over "
				"%d bytes\n",
				WEBHOOK_BODY_LIMIT);
			goto out;
		}
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (int try = 1; try <= WEBHOOK_TRIES; try++) {
		CURL *h = curl_easy_init();
		struct curl_slist *hdrs = NULL;
		CURLcode cr;

		hdrs = curl_slist_append(hdrs,
					 "Content-Type: application/json");
		hdrs = curl_slist_append(hdrs, "User-Agent: taskbox-webhook");
		curl_easy_setopt(h, CURLOPT_URL, argv[1]);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS,
				 body.data ? body.data : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body.len);
		curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, webhook_discard);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(h, CURLOPT_PROXY, "");
		curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION,
				 webhook_open_socket);
		curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &policy);
		policy.refused = NULL;
		cr = curl_easy_perform(h);
		status = 0;
		if (cr == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		curl_slist_free_all(hdrs);
		curl_easy_cleanup(h);
		if (cr == CURLE_OK && status >= 200 && status < 300) {
			r = 0;
			break;
		}
		if (cr == CURLE_OK && status >= 400 && status < 500 &&
		    status != 429)
			break; /* the receiver said no: retrying will not help
				*/
		if (cr != CURLE_OK && policy.refused != NULL)
			break; /* the address will not become allowed */
		if (try < WEBHOOK_TRIES) {
			sleep(delay);
			delay *= 4;
		}
	}
	if (r != 0) {
		/* the URL may carry a secret (Slack-style): name only its host
		 */
		const char *host = strstr(argv[1], "://") + 3;
		int hlen = (int)strcspn(host, "/?#");

		if (policy.refused != NULL)
			fprintf(stderr,
				"taskbox webhook-post: the webhook on %.*s "
				"leads to %s: refused\n",
				hlen, host, policy.refused);
		else
			fprintf(stderr,
				"taskbox webhook-post: the webhook on %.*s "
				"failed (last status %ld)\n",
				hlen, host, status);
	}
	curl_global_cleanup();
out:
	buf_release(&body);
	return r;
}
