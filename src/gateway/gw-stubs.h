/*
 * gw-stubs.h: TEMPORARY. The interfaces of the plan (provider.h, route.h,
 * vtoken.h, account.h, metrics_gateway) that other helpers own, until
 * their branches are merged; gw-stubs.c implements them crudely.
 */
#ifndef TASKBOX_GATEWAY_GW_STUBS_H
#define TASKBOX_GATEWAY_GW_STUBS_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway/usage.h"

enum provider_type {
	PROVIDER_ANTHROPIC,
	PROVIDER_OPENAI,
	PROVIDER_GEMINI,
	PROVIDER_BEDROCK,
	PROVIDER_VERTEX,
	PROVIDER_OPENAI_COMPATIBLE,
	PROVIDER_OLLAMA
};
struct provider {
	unsigned refs;
	char *name;
	enum provider_type type;
	char *url;
	bool url_given;
	char *region;
	char *project;
	char *ca_pem;
	char *key;
	char *aws_access_key_id, *aws_secret_access_key, *aws_session_token;
	char *service_account;
	uint64_t generation;
};
const char *provider_type_name(enum provider_type t);
struct provider *provider_get(const char *name);
void provider_unref(struct provider *p);

enum gw_format {
	GW_FORMAT_ANTHROPIC,
	GW_FORMAT_OPENAI,
	GW_FORMAT_GEMINI,
	GW_FORMAT_BEDROCK
};
enum gw_auth { GW_AUTH_KEY, GW_AUTH_SIGV4, GW_AUTH_VERTEX, GW_AUTH_NONE };
struct gw_route {
	char *url;
	char *host;
	char *model;
	enum gw_format format;
	enum usage_format usage;
	enum gw_auth auth;
	const char *service;
};
int gw_route(const struct provider *p, const char *method, const char *target,
	     struct gw_route *out, char **cause);
void gw_route_release(struct gw_route *r);
char *gw_error_body(enum gw_format f, int status, const char *message,
		    const char **ctype);
char *gw_auth_header(const struct provider *p, const char *name,
		     const char *value);
void gw_curl_setup(CURL *easy, const struct provider *p);

typedef void (*vtoken_fn)(const char *token, const char *error, void *data);
struct vtoken_wait;
struct vtoken_wait *vtoken_get(struct provider *p, vtoken_fn fn, void *data);
void vtoken_cancel(struct vtoken_wait *w);

struct account_key {
	const char *task_id, *owner_id, *template_id, *provider, *provider_type,
		*model;
};
void account_record(const struct account_key *k, const struct usage *u);
int account_check(const char *task_id, const char *owner_id,
		  const char *template_id, char **reason);
void account_exceeded(const char *task_id, const char *reason);

void metrics_gateway(const char *provider, const char *model, int status,
		     uint64_t first_byte_us, uint64_t total_us,
		     const struct usage *u, bool upstream_error);

#endif
