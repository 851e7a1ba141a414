/*
 * assets.h: files compiled into the binary by tools/embed.c
 * (web/chat/..., src/runtime/openapi.json), looked up by source path.
 */
#ifndef TASKBOX_ASSETS_H
#define TASKBOX_ASSETS_H

#include <stddef.h>

struct asset {
	const char *name; /* path relative to the source root */
	const unsigned char *data;
	size_t len;
};

extern const struct asset assets[];

/* The asset named name (a source path), or NULL. */
const struct asset *asset_find(const char *name);
/* The Content-Type for a file name. */
const char *asset_mime(const char *name);
/* The chat UI's file for rest, the path after ".../chat/" ("", "embed",
 * "app.js", "embed/style.css"...), or NULL. */
const struct asset *asset_chat(const char *rest);

#endif
