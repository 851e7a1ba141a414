/*
 * curlev.h: libcurl transfers driven by the server's event loop.
 *
 * One CURLM for the server, made with the first transfer, watches its
 * sockets and its timer through srv->loop (CURLMOPT_SOCKETFUNCTION,
 * CURLMOPT_TIMERFUNCTION, curl_multi_socket_action): nothing blocks.
 */
#ifndef TASKBOX_GATEWAY_CURLEV_H
#define TASKBOX_GATEWAY_CURLEV_H

#include <curl/curl.h>

typedef void (*curlev_done_fn)(CURL *easy, CURLcode rc, void *data);

/*
 * Run easy on the server's one libcurl multi handle, driven by srv->loop;
 * done is called once from the loop when the transfer ends (never from
 * inside curlev_add). The caller keeps easy and frees it, in done or
 * after curlev_cancel.
 */
void curlev_add(CURL *easy, curlev_done_fn done, void *data);
/* Take easy off the multi before it ended: done is not called; the caller
 * frees easy. An easy that is not running is ignored. */
void curlev_cancel(CURL *easy);
/* Let libcurl keep up to n connections (in use or idle) besides
 * FDLIMIT_UPSTREAM_IDLE idle ones: n is what the callers' descriptor
 * budget already counts (one upstream per gateway connection). */
void curlev_reserve(size_t n);
/* Transfers running now (for tests and limits). */
size_t curlev_running(void);

#endif
