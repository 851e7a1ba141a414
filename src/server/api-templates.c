/*
 * api-templates.c: /api/v2/templates and /api/v2/modules.
 *
 * A push takes the YAML as the body (application/yaml, text/yaml,
 * text/plain) or as {"yaml": "..."} (application/json). Validation errors
 * are 422 with one entry per problem, each with line and column. A
 * template is deleted with its versions and secrets once no task uses it
 * (or, forced, once the tasks that did are deleted). Its versions are
 * listed newest first (the newest VERSIONS_MAX).
 */
#include "common.h"

#include "core/log.h"
#include "http/http.h"
#include "server/api-errors.h"
#include "server.h"
#include "store/store-rows.h"

#define YAML_BODY_LIMIT (1024 * 1024)
#define VERSIONS_MAX	100 /* versions listed, newest first */

/* The pushed YAML (new string) or NULL after replying. */
static char *
push_body(struct http_req *req, size_t *len)
{
	const char *ctype = http_req_header(req, "Content-Type");
	const char *body = http_req_body(req, len);
	json_t *j;
	char *yaml;

	if (ctype != NULL && strncmp(ctype, "application/json", 16) == 0) {
		if ((j = http_req_json(req)) == NULL)
			return NULL;
		if (!json_is_string(json_object_get(j, "yaml"))) {
			http_reply_invalid(req, "body.yaml", NULL,
					   "expected {\"yaml\": \"...\"} or a "
					   "YAML body with Content-Type "
					   "application/yaml");
			json_decref(j);
			return NULL;
		}
		*len = json_string_length(json_object_get(j, "yaml"));
		yaml = xstrndup(json_string_value(json_object_get(j, "yaml")),
				*len);
		json_decref(j);
		return yaml;
	}
	if (*len == 0) {
		http_reply_invalid(req, "body", NULL,
				   "the body is empty; send the YAML");
		return NULL;
	}
	return xstrndup(body, *len);
}

/* Reply 422 with the validation errors (taken). */
static void
push_invalid(struct http_req *req, const char *what, json_t *errors)
{
	json_t *first = json_array_get(errors, 0);
	size_t n = json_array_size(errors);
	char *detail = xasprintf(
		"%s is invalid (%zu problem%s); line %lld, column %lld: %s",
		what, n, n == 1 ? "" : "s",
		(long long)json_integer_value(json_object_get(first, "line")),
		(long long)json_integer_value(json_object_get(first, "column")),
		json_string_value(json_object_get(first, "message")) ?: "?");

	http_reply_problem_errors(req, 422, detail, errors);
	free(detail);
}

/* What a push stores: catalog_template_push or catalog_module_push. */
struct push_kind {
	const char *what;
	json_t *(*push)(const char *yaml, size_t len, const char *created_by,
			bool builtin, bool may_replace, json_t **errors);
};

static const struct push_kind push_template = {"the template",
					       catalog_template_push};
static const struct push_kind push_module = {"the module", catalog_module_push};

/* POST /api/v2/templates and /api/v2/modules (data is the kind). */
static void
api_push(struct http_req *req, void *data)
{
	const struct push_kind *kind = data;
	json_t *user = auth_user(req), *errors = NULL, *out, *first;
	json_int_t status;
	size_t len;
	char *yaml;

	if (user == NULL)
		return;
	if ((yaml = push_body(req, &len)) == NULL)
		goto out;
	out = kind->push(yaml, len,
			 json_string_value(json_object_get(user, "id")), false,
			 auth_is_admin(user), &errors);
	first = json_array_get(errors, 0);
	status = json_integer_value(json_object_get(first, "status"));
	if (out != NULL) {
		http_reply_json(req, 201, out);
	} else if (status >= 409) { /* not the file's fault: a race, the
				     * server's disk */
		http_reply_problem(
			req, (int)status, "%s",
			json_string_value(json_object_get(first, "message")));
		json_decref(errors);
	} else {
		push_invalid(req, kind->what, errors);
	}
	free(yaml);
out:
	json_decref(user);
}

static void
api_templates_list(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_user(req), *rows, *out, *row;
	size_t i;

	if (user == NULL)
		return;
	rows = store_templates_list(srv->store);
	out = json_array();
	json_array_foreach(rows, i, row)
		json_array_append_new(out, catalog_template_json(row));
	/* default_template: what a create that names none uses (the CLI
	 * preselects its default preset as the web form does) */
	http_reply_json(req, 200,
			json_pack("{s:o, s:I, s:s}", "templates", out, "count",
				  (json_int_t)json_array_size(out),
				  "default_template",
				  server_default_template()));
	json_decref(rows);
	json_decref(user);
}

/*
 * GET /api/v2/templates/{name}/versions: the newest VERSIONS_MAX
 * versions of a template, newest first, with who pushed each, and its
 * author (the first version's pusher: they and the admins manage it). Every
 * user may read them, as the template itself.
 */
static void
api_templates_versions(struct http_req *req, const char *name)
{
	json_t *row, *rows, *out, *v, *author, *who;
	const char *author_id;
	char stamp[32];
	size_t i;

	if ((row = catalog_template_find(name)) == NULL) {
		http_reply_problem(req, 404, "no template '%s'", name);
		return;
	}
	rows = store_template_versions(
		srv->store, json_string_value(json_object_get(row, "id")),
		VERSIONS_MAX);
	out = json_array();
	json_array_foreach(rows, i, v)
	{
		time_rfc3339((uint64_t)json_integer_value(
				     json_object_get(v, "created_at")),
			     stamp);
		json_array_append_new(
			out, json_pack("{s:O, s:O, s:s, s:O, s:O, s:b}", "id",
				       json_object_get(v, "id"), "version",
				       json_object_get(v, "version"),
				       "created_at", stamp, "created_by",
				       json_object_get(v, "created_by_name")
					       ?: json_null(),
				       "created_by_id",
				       json_object_get(v, "created_by")
					       ?: json_null(),
				       "active",
				       json_integer_value(json_object_get(
					       v, "active")) != 0));
	}
	author = store_template_author(
		srv->store, json_string_value(json_object_get(row, "id")));
	author_id = json_string_value(json_object_get(author, "created_by"));
	who = author_id != NULL ? store_user_get(srv->store, author_id) : NULL;
	http_reply_json(
		req, 200,
		json_pack("{s:o, s:I, s:O, s:O}", "versions", out, "count",
			  (json_int_t)json_array_size(out), "author",
			  json_object_get(who, "username") ?: json_null(),
			  "author_id",
			  json_object_get(author, "created_by")
				  ?: json_null()));
	json_decref(who);
	json_decref(author);
	json_decref(rows);
	json_decref(row);
}

static void
api_templates_get(struct http_req *req, void *data UNUSED)
{
	const char *name = http_req_path(req) + strlen("/api/v2/templates/");
	const char *slash = strchr(name, '/');
	json_t *user, *row, *out;
	char *ref;

	if (api_secrets_is_template_path(http_req_path(req))) {
		api_secrets_template(req, NULL);
		return;
	}
	if ((user = auth_user(req)) == NULL)
		return;
	if (slash != NULL) {
		ref = xstrndup(name, (size_t)(slash - name));
		if (strcmp(slash, "/versions") == 0 && *ref != '\0')
			api_templates_versions(req, ref);
		else
			http_reply_problem(req, 404, "no such endpoint: '%s'",
					   http_req_path(req));
		free(ref);
		json_decref(user);
		return;
	}
	row = catalog_template_find(name);
	if (row == NULL) {
		http_reply_problem(req, 404, "no template '%s'", name);
	} else {
		out = catalog_template_json(row);
		json_object_set(out, "yaml", json_object_get(row, "yaml"));
		http_reply_json(req, 200, out);
	}
	json_decref(row);
	json_decref(user);
}

/* A template delete waiting for its tasks to be gone. */
struct template_delete {
	struct http_req *req;
	char *id, *name;
};

/* The tasks are gone (task_delete_all): delete the rows, answer. */
static void
api_templates_deleted(void *data)
{
	struct template_delete *d = data;
	int r = catalog_template_delete(d->id);

	if (r == -EBUSY)
		http_reply_problem(d->req, api_status_for_errno(r),
				   "a task of template '%s' was created while "
				   "it was being deleted: try again",
				   d->name);
	else if (r < 0)
		http_reply_problem(d->req, api_status_for_errno(r),
				   "cannot delete template '%s'", d->name);
	else
		http_reply(d->req, 204, NULL, "", 0);
	if (r == 0)
		log_info("template %s deleted", d->name);
	free(d->id);
	free(d->name);
	free(d);
}

/*
 * DELETE /api/v2/templates/{name}[?force=true]: the author or an admin
 * (built-ins: admins). Refused (409) while tasks use it; force deletes
 * them first (a member's force only their own tasks), the reply comes
 * once they are gone.
 */
static void
api_templates_delete(struct http_req *req, json_t *user, const char *name)
{
	bool force;
	json_t *row = NULL, *uses = NULL;
	const char *uid = json_string_value(json_object_get(user, "id"));
	struct template_delete *d;
	json_int_t all, others;

	if (http_req_query_flag(req, "force", &force) < 0) {
		http_reply_invalid(req, "query.force", NULL,
				   "force must be true or false");
		goto out;
	}
	if ((row = catalog_template_find(name)) == NULL) {
		http_reply_problem(req, 404, "no template '%s'", name);
		goto out;
	}
	if (!catalog_template_may_manage(row, user)) {
		http_reply_problem(req, 403,
				   "only the template's author or an admin can "
				   "delete it (built-in templates: admins)");
		goto out;
	}
	uses = store_template_uses(
		srv->store, json_string_value(json_object_get(row, "id")), uid);
	all = json_integer_value(json_object_get(uses, "n"));
	others = json_integer_value(json_object_get(uses, "others"));
	if (all > 0 && !force) {
		http_reply_problem(req, 409,
				   "%" JSON_INTEGER_FORMAT " task%s use%s "
				   "template '%s': delete them first, or "
				   "delete them with it (?force=true)",
				   all, all == 1 ? "" : "s",
				   all == 1 ? "s" : "", name);
		goto out;
	}
	if (others > 0 && !auth_is_admin(user)) {
		http_reply_problem(req, 409,
				   "%" JSON_INTEGER_FORMAT " task%s of other "
				   "users use%s template '%s': only an admin "
				   "can delete them",
				   others, others == 1 ? "" : "s",
				   others == 1 ? "s" : "", name);
		goto out;
	}
	d = xcalloc(1, sizeof *d);
	d->req = req;
	d->id = xstrdup(json_string_value(json_object_get(row, "id")));
	d->name = xstrdup(name);
	http_req_defer(req);
	task_delete_all(NULL, d->id, api_templates_deleted, d);
out:
	json_decref(uses);
	json_decref(row);
}

/* DELETE under /api/v2/templates/: .../secrets/NAME is api-secrets.c's. */
static void
api_templates_delete_route(struct http_req *req, void *data UNUSED)
{
	const char *name = http_req_path(req) + strlen("/api/v2/templates/");
	json_t *user;

	if (api_secrets_is_template_path(http_req_path(req))) {
		api_secrets_template(req, NULL);
		return;
	}
	if ((user = auth_user(req)) == NULL)
		return;
	if (*name == '\0' || strchr(name, '/') != NULL)
		http_reply_problem(req, 404, "no such endpoint: '%s'",
				   http_req_path(req));
	else
		api_templates_delete(req, user, name);
	json_decref(user);
}

static void
api_modules_list(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_user(req), *rows, *out, *row;
	size_t i;

	if (user == NULL)
		return;
	rows = store_modules_list(srv->store);
	out = json_array();
	json_array_foreach(rows, i, row)
	{
		json_t *spec = json_loads(
			json_string_value(json_object_get(row, "spec")), 0,
			NULL);

		json_array_append_new(
			out,
			json_pack("{s:O, s:s, s:s, s:b}", "name",
				  json_object_get(row, "name"), "display_name",
				  json_string_value(
					  json_object_get(spec, "display_name"))
					  ?: "",
				  "agent_type",
				  json_string_value(
					  json_object_get(spec, "agent_type"))
					  ?: "custom",
				  "builtin",
				  json_integer_value(json_object_get(
					  row, "builtin")) != 0));
		json_decref(spec);
	}
	http_reply_json(req, 200,
			json_pack("{s:o, s:I}", "modules", out, "count",
				  (json_int_t)json_array_size(out)));
	json_decref(rows);
	json_decref(user);
}

void
api_templates_register(struct http_server *http)
{
	http_server_route(http, "GET", "/api/v2/templates", 0, 0,
			  api_templates_list, NULL);
	http_server_route(http, "POST", "/api/v2/templates", 0, YAML_BODY_LIMIT,
			  api_push, (void *)&push_template);
	http_server_route(http, "GET", "/api/v2/templates/", HTTP_ROUTE_PREFIX,
			  0, api_templates_get, NULL);
	http_server_route(http, "DELETE", "/api/v2/templates/",
			  HTTP_ROUTE_PREFIX, 0, api_templates_delete_route,
			  NULL);
	http_server_route(http, "GET", "/api/v2/modules", 0, 0,
			  api_modules_list, NULL);
	http_server_route(http, "POST", "/api/v2/modules", 0, YAML_BODY_LIMIT,
			  api_push, (void *)&push_module);
}
