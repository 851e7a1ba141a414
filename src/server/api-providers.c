/*
 * api-providers.c: /api/v2/providers and /api/v2/providers/{name}.
 *
 * Admins create, replace and delete the LLM providers; every signed-in
 * user may read them, members without the has_* credential flags. A
 * PUT's body is the whole provider ({type, url, region, project, key,
 * aws_access_key_id, aws_secret_access_key, aws_session_token,
 * service_account, ca_pem}, gateway/provider.h validates it) and replaces
 * what was there; its credentials are sealed in the store and never come
 * back: replies say which are set, errors name the field, never a value.
 * The request bodies are wiped once handled.
 */
#include "common.h"

#include "core/log.h"
#include "gateway/provider.h"
#include "http/http.h"
#include "server.h"
#include "server/api-errors.h"

/* A service account (64 KiB) and a CA (256 KiB) escaped as JSON, and
 * the rest. */
#define PROVIDERS_BODY_LIMIT (1024u * 1024)

/* Wipe the request's raw body (it may hold credentials). */
static void
providers_wipe_body(struct http_req *req)
{
	size_t len;
	const char *raw = http_req_body(req, &len);

	if (raw != NULL)
		explicit_bzero((char *)raw, len);
}

/* Wipe the string members of the parsed body in place. */
static void
providers_wipe_json(json_t *body)
{
	const char *k;
	json_t *v;

	json_object_foreach(body, k, v) if (json_is_string(v)) explicit_bzero(
		(char *)json_string_value(v), json_string_length(v));
}

/* The provider named name as a client may see it (new), or NULL. */
static json_t *
providers_find(const char *name, bool creds)
{
	json_t *list = provider_list(creds), *p, *hit = NULL;
	size_t i;

	json_array_foreach(list, i, p)
	{
		if (hit == NULL &&
		    strcmp(json_string_value(json_object_get(p, "name")),
			   name) == 0)
			hit = json_incref(p);
	}
	json_decref(list);
	return hit;
}

/* PUT /api/v2/providers/{name}: 200 with the provider. */
static void
providers_put(struct http_req *req, const char *name)
{
	json_t *body = http_req_json(req);
	const char *field = NULL;
	char *cause = NULL, *loc;
	int r;

	if (body == NULL) {
		providers_wipe_body(req);
		return;
	}
	r = provider_save(name, body, &field, &cause);
	if (r == -EINVAL) {
		if (field == NULL || strcmp(field, "body") == 0)
			loc = xstrdup("body");
		else if (strcmp(field, "name") == 0)
			loc = xstrdup("path.name");
		else
			loc = xasprintf("body.%s", field);
		/* never quote a value back: it may be a credential */
		http_reply_invalid(req, loc, NULL, "%s", cause);
		free(loc);
	} else if (r < 0) {
		http_reply_problem(req, r == -ENOSPC ? 409 : 500, "%s",
				   cause ? cause : "cannot store the provider");
	} else {
		json_t *p = providers_find(name, true);

		log_info("provider '%s' set", name);
		if (p != NULL)
			http_reply_json(req, 200, p);
		else
			http_reply_problem(req, 500,
					   "the provider was stored but does "
					   "not read back");
	}
	free(cause);
	providers_wipe_json(body);
	json_decref(body);
	providers_wipe_body(req);
}

/* GET /api/v2/providers. */
static void
api_providers_list(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_user(req), *list;

	if (user == NULL)
		return;
	list = provider_list(auth_is_admin(user));
	if (list == NULL)
		http_reply_problem(req, 500, "cannot read the providers");
	else
		http_reply_json(req, 200,
				json_pack("{s:o, s:I}", "providers", list,
					  "count",
					  (json_int_t)json_array_size(list)));
	json_decref(user);
}

/* GET, PUT or DELETE /api/v2/providers/{name}. */
static void
api_providers_one(struct http_req *req, void *data UNUSED)
{
	const char *method = http_req_method(req);
	const char *name = http_req_path(req) + strlen("/api/v2/providers/");
	json_t *user = auth_user(req), *p;
	int r;

	if (user == NULL) {
		providers_wipe_body(req);
		return;
	}
	if (!provider_name_valid(name)) {
		json_t *v = json_string(name); /* NULL if not UTF-8 */

		http_reply_invalid(req, "path.name", v,
				   "provider names are 1-63 of [a-z0-9-], not "
				   "starting with '-'");
		json_decref(v);
	} else if (strcmp(method, "GET") == 0) {
		p = providers_find(name, auth_is_admin(user));
		if (p == NULL)
			http_reply_problem(req, 404, "no provider '%s'", name);
		else
			http_reply_json(req, 200, p);
	} else if (!auth_is_admin(user)) {
		http_reply_problem(req, 403, "only admins can %s providers",
				   strcmp(method, "PUT") == 0 ? "set"
							      : "delete");
	} else if (strcmp(method, "PUT") == 0) {
		providers_put(req, name);
	} else {
		r = provider_delete(name);
		if (r == -ENOENT)
			http_reply_problem(req, 404, "no provider '%s'", name);
		else if (r < 0)
			http_reply_problem(req, api_status_for_errno(r),
					   "cannot delete the provider");
		else {
			log_info("provider '%s' deleted", name);
			http_reply(req, 204, NULL, "", 0);
		}
	}
	providers_wipe_body(req);
	json_decref(user);
}

void
api_providers_register(struct http_server *http)
{
	http_server_route(http, "GET", "/api/v2/providers", 0, 0,
			  api_providers_list, NULL);
	http_server_route(http, "GET", "/api/v2/providers/", HTTP_ROUTE_PREFIX,
			  0, api_providers_one, NULL);
	http_server_route(http, "PUT", "/api/v2/providers/", HTTP_ROUTE_PREFIX,
			  PROVIDERS_BODY_LIMIT, api_providers_one, NULL);
	http_server_route(http, "DELETE", "/api/v2/providers/",
			  HTTP_ROUTE_PREFIX, 0, api_providers_one, NULL);
}
