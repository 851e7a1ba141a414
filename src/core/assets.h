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

#endif
