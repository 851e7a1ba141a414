/*
 * ws.c: the backend-independent workspace calls, dispatched on the
 * struct ws_head every backend's workspace starts with.
 */
#include "common.h"

#include "ws.h"

static const struct ws_backend *const ws_backends[] = {
	&ws_local_backend,
};

const struct ws_backend *
ws_backend_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(ws_backends); i++)
		if (strcmp(ws_backends[i]->name, name) == 0)
			return ws_backends[i];
	return NULL;
}

/* The backend of ws. */
static const struct ws_backend *
ws_backend_of(struct ws *ws)
{
	return ((struct ws_head *)ws)->backend;
}

void
ws_kill(struct ws *ws)
{
	ws_backend_of(ws)->kill(ws);
}

void
ws_free(struct ws *ws)
{
	if (ws != NULL)
		ws_backend_of(ws)->free(ws);
}

pid_t
ws_pid(struct ws *ws)
{
	return ws_backend_of(ws)->pid(ws);
}

int
ws_runtime_pidfd(struct ws *ws, pid_t *pid)
{
	return ws_backend_of(ws)->runtime_pidfd(ws, pid);
}

int
ws_count_procs(struct ws *ws)
{
	return ws_backend_of(ws)->count_procs(ws);
}

const char *
ws_warnings(struct ws *ws)
{
	return ws_backend_of(ws)->warnings(ws);
}
