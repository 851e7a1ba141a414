/*
 * vtoken.h: OAuth2 bearer tokens for vertex providers, fetched with the
 * service account's JWT-bearer grant (gauth.h) over curlev and cached
 * per provider record until shortly before they expire.
 */
#ifndef TASKBOX_GATEWAY_VTOKEN_H
#define TASKBOX_GATEWAY_VTOKEN_H

#include "gateway/provider.h"

/* Called once with a token (borrowed for the call) or an error message
 * that never holds key material. */
typedef void (*vtoken_fn)(const char *token, const char *error, void *data);
struct vtoken_wait;

/*
 * A bearer token for vertex provider p: cached per provider (name +
 * generation) until GAUTH_REFRESH_MARGIN before expiry; else one fetch
 * (curlev) at a time per provider, every waiter called when it ends.
 * Returns NULL after calling fn at once (cached, or an error such as a
 * token_uri not on the allowlist), else a handle for vtoken_cancel. p is
 * borrowed for the call only.
 */
struct vtoken_wait *vtoken_get(struct provider *p, vtoken_fn fn, void *data);
/* Forget a waiter before its call: fn is not called. */
void vtoken_cancel(struct vtoken_wait *w);

#endif
