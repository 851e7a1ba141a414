/*
 * api-coder.h: the Coder-compatible endpoints that have no taskbox twin
 * (the built-in organization, template versions) and Coder's wire values
 * in a Task JSON, for the task API's /api/experimental/tasks mount
 * (api-tasks.c).
 */
#ifndef TASKBOX_SERVER_API_CODER_H
#define TASKBOX_SERVER_API_CODER_H

#include <jansson.h>

struct http_server;
struct http_req;

/* Answer GET /api/v2/templateversions/{id}/SUB for the signed-in caller
 * (borrowed) and version (a catalog_version_get row, borrowed). */
typedef void (*api_version_fn)(struct http_req *req, json_t *caller,
			       json_t *version);

void api_coder_register(struct http_server *http);
/*
 * Serve GET /api/v2/templateversions/{id}/sub with fn (sub: one path
 * segment, a static string; at most 4 of them): the version is looked
 * up (404 when unknown) and the caller signed in before fn runs.
 */
void api_coder_version_route(const char *sub, api_version_fn fn);
/*
 * Give task (a Task JSON object, changed in place) Coder's wire values:
 * current_state.state one of working, idle, complete, failed (taskbox's
 * failure -> failed, waiting -> idle), taskbox's own value kept in
 * current_state.taskbox_state.
 */
void api_coder_task(json_t *task);
/* text (a Task JSON text of len bytes) with api_coder_task's values: a
 * new string of *out_len bytes. */
char *api_coder_task_text(const char *text, size_t len, size_t *out_len);

#endif
