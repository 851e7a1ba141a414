/*
 * gw-stubs.c: TEMPORARY stand-ins for other helpers' functions (see
 * gw-stubs.h): the provider `default` from --llm-url/--llm-key-file, a
 * route that appends the target to its URL, no accounting.
 */
#include "common.h"

#include <jansson.h>

#include "gateway/gw-stubs.h"
#include "server/server.h"

/* The type's name. */
const char *
provider_type_name(enum provider_type t)
{
	return t == PROVIDER_ANTHROPIC ? "anthropic" : "openai-compatible";
}

/* The provider `default` of --llm-url, a new one each time. */
struct provider *
provider_get(const char *name)
{
	struct provider *p;

	if (strcmp(name, "default") != 0 || srv->llm_url == NULL)
		return NULL;
	p = xcalloc(1, sizeof *p);
	p->refs = 1;
	p->name = xstrdup(name);
	p->type = PROVIDER_OPENAI_COMPATIBLE;
	p->url = xstrdup(srv->llm_url);
	p->key = srv->llm_key ? xstrdup(srv->llm_key) : NULL;
	return p;
}

/* Drop a reference. */
void
provider_unref(struct provider *p)
{
	if (p == NULL || --p->refs > 0)
		return;
	free(p->name);
	free(p->url);
	free(p->key);
	free(p);
}

/* p->url + target. */
int
gw_route(const struct provider *p, const char *method UNUSED,
	 const char *target, struct gw_route *out, char **cause)
{
	const char *hp = strstr(p->url, "://");

	memset(out, 0, sizeof *out);
	if (target[0] != '/' || strstr(target, "..") != NULL ||
	    strstr(target, "//") != NULL || strchr(target, '@') != NULL) {
		*cause = xstrdup("bad target");
		return 400;
	}
	out->url = xasprintf("%s%s", p->url, target);
	hp = hp ? hp + 3 : p->url;
	out->host = xstrndup(hp, strcspn(hp, "/"));
	out->format = strncmp(target, "/v1/messages", 12) == 0
			      ? GW_FORMAT_ANTHROPIC
			      : GW_FORMAT_OPENAI;
	out->usage = out->format == GW_FORMAT_ANTHROPIC ? USAGE_ANTHROPIC
							: USAGE_OPENAI_CHAT;
	out->auth = GW_AUTH_KEY;
	return 0;
}

/* Free r's strings. */
void
gw_route_release(struct gw_route *r)
{
	free(r->url);
	free(r->host);
	free(r->model);
}

/* A JSON error. */
char *
gw_error_body(enum gw_format f, int status UNUSED, const char *message,
	      const char **ctype)
{
	json_t *o = f == GW_FORMAT_ANTHROPIC
			    ? json_pack("{s:s, s:{s:s, s:s}}", "type", "error",
					"error", "type", "api_error", "message",
					message)
			    : json_pack("{s:{s:s, s:s}}", "error", "message",
					message, "type", "api_error");
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	*ctype = "application/json";
	return s;
}

/* The placeholder replaced by the key. */
char *
gw_auth_header(const struct provider *p, const char *name,
	       const char *value UNUSED)
{
	if (p->key == NULL)
		return NULL;
	if (strcasecmp(name, "Authorization") == 0)
		return xasprintf("Authorization: Bearer %s", p->key);
	return xasprintf("%s: %s", name, p->key);
}

/* No TLS options. */
void
gw_curl_setup(CURL *easy, const struct provider *p UNUSED)
{
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
}

/* Never a token. */
struct vtoken_wait *
vtoken_get(struct provider *p UNUSED, vtoken_fn fn, void *data)
{
	fn(NULL, "vertex is not built yet", data);
	return NULL;
}

/* Nothing to cancel. */
void
vtoken_cancel(struct vtoken_wait *w UNUSED)
{
}

/* Not recorded. */
void
account_record(const struct account_key *k UNUSED, const struct usage *u UNUSED)
{
}

/* Never over. */
int
account_check(const char *task_id UNUSED, const char *owner_id UNUSED,
	      const char *template_id UNUSED, char **reason UNUSED)
{
	return 0;
}

/* Nothing. */
void
account_exceeded(const char *task_id UNUSED, const char *reason UNUSED)
{
}

/* Nothing. */
void
metrics_gateway(const char *provider UNUSED, const char *model UNUSED,
		int status UNUSED, uint64_t first_byte_us UNUSED,
		uint64_t total_us UNUSED, const struct usage *u UNUSED,
		bool upstream_error UNUSED)
{
}
