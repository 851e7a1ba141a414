/*
 * webhook.c: deliver one state-change webhook, in a child process.
 *
 * The server never waits on the network in its loop: for each webhook it
 * spawns `taskbox webhook-post URL` with the JSON payload on stdin and
 * reaps it through a pidfd. The child POSTs with libcurl, retrying
 * network errors, 429 and 5xx with exponential backoff (1 s, 4 s, 16 s),
 * and gives up after four tries or on any other 4xx.
 */
#include "common.h"

#include <curl/curl.h>
#include <unistd.h>

#include "core/buf.h"
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

int
webhook_main(int argc, char **argv)
{
	struct buf body;
	char chunk[4096];
	ssize_t n;
	unsigned delay = 1;
	long status = 0;
	int r = 1;

	if (argc != 2 || (!str_starts_with(argv[1], "http://") &&
			  !str_starts_with(argv[1], "https://"))) {
		fprintf(stderr, "usage: taskbox webhook-post URL < JSON\n");
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

		fprintf(stderr,
			"taskbox webhook-post: the webhook on %.*s failed "
			"(last status %ld)\n",
			hlen, host, status);
	}
	curl_global_cleanup();
out:
	buf_release(&body);
	return r;
}
