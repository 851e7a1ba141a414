/*
 * asset.c: finding the files compiled into the binary (assets.h) and the
 * chat UI's file for a path under /chat/, for the runtime and for the
 * server, which serves the chat UI itself (never a workspace's copy).
 */
#include "common.h"

#include "assets.h"
#include "text.h"

const struct asset *
asset_find(const char *name)
{
	for (const struct asset *a = assets; a->name != NULL; a++) {
		if (strcmp(a->name, name) == 0)
			return a;
	}
	return NULL;
}

const char *
asset_mime(const char *name)
{
	static const char *const types[][2] = {
		{".html", "text/html; charset=utf-8"},
		{".js", "text/javascript; charset=utf-8"},
		{".mjs", "text/javascript; charset=utf-8"},
		{".css", "text/css; charset=utf-8"},
		{".json", "application/json"},
		{".svg", "image/svg+xml"},
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot != NULL && i < ARRAY_SIZE(types); i++)
		if (strcmp(dot, types[i][0]) == 0)
			return types[i][1];
	return "application/octet-stream";
}

const struct asset *
asset_chat(const char *rest)
{
	const struct asset *a;
	char *name;

	/* pages: "", "embed", "embed/" all serve the one-page app */
	if (*rest == '\0' || strcmp(rest, "embed") == 0 ||
	    strcmp(rest, "embed/") == 0 || strcmp(rest, "index.html") == 0)
		return asset_find("web/chat/index.html");
	if (str_starts_with(rest, "embed/"))
		rest += strlen("embed/");
	if (strstr(rest, "..") != NULL)
		return NULL;
	name = xasprintf("web/chat/%s", rest);
	a = asset_find(name);
	free(name);
	return a;
}
