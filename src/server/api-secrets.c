/*
 * api-secrets.c: /api/v2/users/{user}/secrets and
 * /api/v2/templates/{template}/secrets.
 *
 * A value goes in with PUT and never comes back out: lists carry names
 * and times only, errors never quote a value, nothing is logged. User
 * secrets are their owner's (and the admins'); a member asking for
 * another user's gets 404, as for tasks. On a template, an admin manages
 * the values every user of the template gets (the bot-token case); any
 * other user, its author included, manages values of their own that
 * only their own tasks get (and that win over the shared one there):
 * nobody's value reaches another member's task.
 */
#include "common.h"

#include "http/http.h"
#include "server/api-errors.h"
#include "server.h"
#include "server/secrets.h"
#include "store/store.h"

#define SECRETS_BODY_LIMIT (512u * 1024) /* 64 KiB escaped as JSON */

/* A path below prefix split as REF/secrets[/NAME]; false if it is not. */
static bool
secrets_path(const char *path, const char *prefix, char **ref, char **name)
{
	const char *rest = path + strlen(prefix);
	const char *slash = strchr(rest, '/');
	const char *after;

	if (slash == NULL || slash == rest ||
	    strncmp(slash, "/secrets", 8) != 0)
		return false;
	after = slash + 8;
	if (*after != '\0' && (*after != '/' || after[1] == '\0' ||
			       strchr(after + 1, '/') != NULL))
		return false;
	*ref = xstrndup(rest, (size_t)(slash - rest));
	*name = *after == '/' ? xstrdup(after + 1) : NULL;
	return true;
}

/*
 * The scope a request addresses: ("user", id, "") or ("template", id,
 * "" for an admin, else the caller's id) into *scope_id and *user_id
 * (new), after checking the caller may manage it; false after replying.
 */
static bool
secrets_scope(struct http_req *req, const json_t *user, bool tmpl,
	      const char *ref, char **scope_id, char **user_id)
{
	const char *me = json_string_value(json_object_get(user, "id"));
	json_t *row;
	bool ok;

	if (!tmpl) {
		row = auth_lookup_user(user, ref);
		ok = row != NULL &&
		     auth_may_act_for(user, json_string_value(json_object_get(
						    row, "id")));
		if (!ok)
			http_reply_problem(req, 404, "no user '%s'", ref);
		else
			*scope_id = xstrdup(
				json_string_value(json_object_get(row, "id")));
		*user_id = xstrdup("");
		json_decref(row);
		return ok;
	}
	row = catalog_template_find(ref);
	if (row == NULL) {
		http_reply_problem(req, 404, "no template '%s'", ref);
		return false;
	}
	*scope_id = xstrdup(json_string_value(json_object_get(row, "id")));
	*user_id = xstrdup(auth_is_admin(user) ? "" : me);
	json_decref(row);
	return true;
}

/* PUT: store {value}; 204. */
static void
secrets_put(struct http_req *req, const char *scope, const char *scope_id,
	    const char *user_id, const char *name)
{
	json_t *body = http_req_json(req), *value;
	const char *raw;
	size_t len, raw_len;
	int r;

	if (body == NULL) {
		/* a body that does not parse may still hold the value */
		raw = http_req_body(req, &raw_len);
		explicit_bzero((char *)raw, raw_len);
		return;
	}
	value = json_object_get(body, "value");
	len = json_string_length(value);
	if (!json_is_string(value) || len == 0 || len > SECRETS_VALUE_MAX) {
		/* never quote the value back */
		http_reply_invalid(req, "body.value", NULL,
				   "value must be a non-empty string of at "
				   "most %u bytes",
				   SECRETS_VALUE_MAX);
	} else if ((r = secrets_set(scope, scope_id, user_id, name,
				    json_string_value(value), len)) < 0) {
		http_reply_problem(req, api_status_for_errno(r),
				   "cannot store the secret");
	} else {
		http_reply(req, 204, NULL, "", 0);
	}
	/* the parsed body and the raw one hold the value: wipe them */
	if (json_is_string(value))
		explicit_bzero((char *)json_string_value(value), len);
	raw = http_req_body(req, &raw_len);
	explicit_bzero((char *)raw, raw_len);
	json_decref(body);
}

/* Any method on .../secrets[/NAME] under prefix (tmpl: templates). */
static void
secrets_handle(struct http_req *req, const char *prefix, bool tmpl)
{
	const char *method = http_req_method(req);
	json_t *user = auth_user(req);
	char *ref = NULL, *name = NULL, *scope_id = NULL, *user_id = NULL;
	const char *scope = tmpl ? "template" : "user";
	int r;

	if (user == NULL)
		return;
	if (!secrets_path(http_req_path(req), prefix, &ref, &name) ||
	    (strcmp(method, "GET") == 0) != (name == NULL)) {
		http_reply_problem(req, 404, "no such endpoint: '%s'",
				   http_req_path(req));
		goto out;
	}
	if (!secrets_scope(req, user, tmpl, ref, &scope_id, &user_id))
		goto out;
	if (name != NULL && !secrets_name_valid(name)) {
		json_t *v = json_string(name); /* NULL if not UTF-8 */

		http_reply_invalid(req, "path.name", v,
				   "secret names are 1-64 of [A-Za-z0-9_], "
				   "not starting with a digit");
		json_decref(v);
		goto out;
	}
	if (strcmp(method, "GET") == 0) {
		json_t *list = secrets_list(scope, scope_id, user_id);

		http_reply_json(req, 200,
				json_pack("{s:o, s:I}", "secrets", list,
					  "count",
					  (json_int_t)json_array_size(list)));
	} else if (strcmp(method, "PUT") == 0) {
		secrets_put(req, scope, scope_id, user_id, name);
	} else {
		r = secrets_delete(scope, scope_id, user_id, name);
		if (r == -ENOENT && tmpl && *user_id != '\0')
			http_reply_problem(req, api_status_for_errno(r),
					   "no secret '%s' of yours on this "
					   "template (only admins delete the "
					   "shared ones)",
					   name);
		else if (r == -ENOENT)
			http_reply_problem(req, api_status_for_errno(r),
					   "no secret '%s'", name);
		else if (r < 0)
			http_reply_problem(req, api_status_for_errno(r),
					   "cannot delete the secret");
		else
			http_reply(req, 204, NULL, "", 0);
	}
out:
	free(ref);
	free(name);
	free(scope_id);
	free(user_id);
	json_decref(user);
}

void
api_secrets_user(struct http_req *req, void *data UNUSED)
{
	secrets_handle(req, "/api/v2/users/", false);
}

void
api_secrets_template(struct http_req *req, void *data UNUSED)
{
	secrets_handle(req, "/api/v2/templates/", true);
}

bool
api_secrets_is_template_path(const char *path)
{
	const char *rest = path + strlen("/api/v2/templates/");
	const char *slash = strchr(rest, '/');

	return slash != NULL && strncmp(slash, "/secrets", 8) == 0;
}

void
api_secrets_register(struct http_server *http)
{
	/* GET and DELETE under /api/v2/users/ are api-users.c's (it hands
	 * .../secrets over to api_secrets_user) */
	http_server_route(http, "PUT", "/api/v2/users/", HTTP_ROUTE_PREFIX,
			  SECRETS_BODY_LIMIT, api_secrets_user, NULL);
	/* GET and DELETE /api/v2/templates/... are api-templates.c's (it
	 * hands .../secrets over to api_secrets_template) */
	http_server_route(http, "PUT", "/api/v2/templates/", HTTP_ROUTE_PREFIX,
			  SECRETS_BODY_LIMIT, api_secrets_template, NULL);
}
