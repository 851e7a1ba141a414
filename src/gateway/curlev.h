/*
 * curlev.h: libcurl easy handles run on the server's one multi handle,
 * driven by the event loop; nothing blocks.
 */
#ifndef TASKBOX_GATEWAY_CURLEV_H
#define TASKBOX_GATEWAY_CURLEV_H

#include <curl/curl.h>

typedef void (*curlev_done_fn)(CURL *easy, CURLcode rc, void *data);
/* Run easy on the server's one libcurl multi handle, driven by srv->loop;
 * done is called once from the loop when the transfer ends (never from
 * inside curlev_add). */
void curlev_add(CURL *easy, curlev_done_fn done, void *data);
/* Take easy off the multi before it ended: done is not called; the caller
 * frees easy. */
void curlev_cancel(CURL *easy);

#endif
