/*
 * route.h: where an agent's LLM request goes. The gateway reads a
 * request from a task's llm.sock; gw_route maps its method and target to
 * the provider's upstream URL, the format its errors and usage take and
 * how it is authenticated. Also here: the error bodies an agent of each
 * API shows, the placeholder key swap and the TLS settings of every
 * upstream handle.
 */
#ifndef TASKBOX_GATEWAY_ROUTE_H
#define TASKBOX_GATEWAY_ROUTE_H

#include <curl/curl.h>

#include "gateway/provider.h"
#include "gateway/usage.h"

#define GW_TARGET_MAX 4096 /* the longest request target taken, bytes */

enum gw_format {
	GW_FORMAT_ANTHROPIC,
	GW_FORMAT_OPENAI,
	GW_FORMAT_GEMINI,
	GW_FORMAT_BEDROCK
};
enum gw_auth { GW_AUTH_KEY, GW_AUTH_SIGV4, GW_AUTH_VERTEX, GW_AUTH_NONE };

struct gw_route {
	char *url;   /* the whole upstream URL (new) */
	char *host;  /* its host[:port], as SigV4 signs it */
	char *model; /* named by the path, else NULL: take it from the body */
	enum gw_format format; /* of error replies to the agent */
	/* how to read the response (text/event-stream or
	 * application/vnd.amazon.eventstream refine it: see route.c) */
	enum usage_format usage;
	enum gw_auth auth;
	const char *service; /* SigV4 signing name ("bedrock") */
};

/*
 * Map an agent's request (method, target as sent to llm.sock) to the
 * upstream for p. 0, or an HTTP status (400: a target that could leave
 * the provider's base: `..`, `//`, `@`, `#`, controls, not starting with
 * '/'; 404: a path this provider type does not serve; 405: a path it
 * serves for another method) + *cause (new string). *out is filled only
 * on 0; release it with gw_route_release.
 */
int gw_route(const struct provider *p, const char *method, const char *target,
	     struct gw_route *out, char **cause);
/* The format of errors for a request gw_route refused (or that never got
 * as far): the provider type's own API, or for types that speak several
 * (openai-compatible, ollama) or no provider (p NULL) a guess from the
 * target (NULL is fine). */
enum gw_format gw_route_format(const struct provider *p, const char *target);
/* Free r's strings; r reads as empty after. */
void gw_route_release(struct gw_route *r);

/* The error body an agent of this format shows (new string) and its
 * Content-Type. */
char *gw_error_body(enum gw_format f, int status, const char *message,
		    const char **ctype);
/* The x-amzn-ErrorType header value a Bedrock client expects with a
 * status (a static string: "ThrottlingException", ...). */
const char *gw_amzn_error_type(int status);

/*
 * Header line name: what the gateway sends instead for GW_AUTH_KEY
 * ("x-api-key: KEY" style value, new string), or NULL to drop it. Auth
 * headers the agent sent (Authorization, x-api-key, x-goog-api-key,
 * api-key) carry the placeholder: replaced by p->key ("Bearer KEY" when
 * it goes in Authorization, KEY in the others) in the header
 * gw_auth_header_name names, dropped when p->key is NULL or p is not a
 * key-authenticated type (bedrock, vertex: the gateway adds its own).
 * Any other header: a copy of value.
 */
char *gw_auth_header(const struct provider *p, const char *name,
		     const char *value);
/*
 * The header an auth header name the agent sent goes upstream as: where
 * the provider's API takes its key. Anthropic: x-api-key (an OAuth token,
 * "sk-ant-oat...", in Authorization); OpenAI: Authorization; Gemini:
 * x-goog-api-key; openai-compatible and ollama, which take several: name
 * itself. A static string or name.
 */
const char *gw_auth_header_name(const struct provider *p, const char *name);
/* TLS and protocol settings for any easy handle aimed at p: https/http
 * only, no redirects, no proxy (whatever the environment says), peer and
 * host verified, p->ca_pem as CURLOPT_CAINFO_BLOB when set. */
void gw_curl_setup(CURL *easy, const struct provider *p);

#endif
