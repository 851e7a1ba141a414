/*
 * api-coder.c: the parts of Coder's API that taskbox's own has no twin
 * for, in Coder's shapes, so that Coder's clients (its create-task
 * GitHub Action, scripts written against Coder) work unmodified.
 *
 * Data model: nothing of its own. There is one organization, built in:
 * TASKBOX_ORG_ID named TASKBOX_ORG_NAME, holding every template; its
 * timestamps are fixed (ORG_CREATED). A Coder template is a taskbox
 * template (catalog_template_json has Coder's members), its active
 * version a template_versions row; a version's Coder name is "v<N>".
 * Sub-resources of a version (its presets) are other files' handlers,
 * found in a small table by the path segment after the id
 * (api_coder_version_route). Reads need a signed-in user, as the
 * template reads of api-templates.c. The task API's Coder mount
 * (/api/experimental/tasks, api-tasks.c) rewrites each Task JSON with
 * api_coder_task.
 */
#include "common.h"

#include "http/http.h"
#include "server.h"
#include "server/api-coder.h"
#include "store/store-rows.h"

#define ORG_CREATED	  "2026-01-01T00:00:00Z"
#define ORG_PATH	  "/api/v2/organizations"
#define VERSION_PATH	  "/api/v2/templateversions/"
#define VERSION_SUBS_MAX  4
#define PATH_SEGMENTS_MAX 4

/* The sub-resources of a template version (api_coder_version_route). */
static struct {
	const char *sub;
	api_version_fn fn;
} version_subs[VERSION_SUBS_MAX];
static size_t nversion_subs;

/* Coder's wire value for each current_state.state of taskbox's. */
static const struct {
	const char *taskbox, *coder;
} coder_states[] = {
	{"working", "working"},
	{"idle", "idle"},
	{"complete", "complete"},
	{"failure", "failed"},
	/* an open dialog: the agent waits for the user (AgentAPI reports
	 * it as stable) */
	{"waiting", "idle"},
};

void
api_coder_task(json_t *task)
{
	json_t *cs = json_object_get(task, "current_state");
	const char *state = json_string_value(json_object_get(cs, "state"));
	const char *coder = "working"; /* a value Coder has no word for */

	if (state == NULL)
		return; /* null: no state yet */
	for (size_t i = 0; i < ARRAY_SIZE(coder_states); i++)
		if (strcmp(state, coder_states[i].taskbox) == 0)
			coder = coder_states[i].coder;
	json_object_set(cs, "taskbox_state", json_object_get(cs, "state"));
	json_object_set_new(cs, "state", json_string(coder));
}

char *
api_coder_task_text(const char *text, size_t len, size_t *out_len)
{
	json_t *j = json_loadb(text, len, 0, NULL);
	char *s;

	if (j == NULL)
		fatal("a kept Task JSON is not JSON");
	api_coder_task(j);
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s == NULL)
		fatal("cannot encode a Task JSON");
	*out_len = strlen(s);
	return s;
}

void
api_coder_version_route(const char *sub, api_version_fn fn)
{
	BUG_ON(nversion_subs == VERSION_SUBS_MAX || strchr(sub, '/') != NULL);
	version_subs[nversion_subs].sub = sub;
	version_subs[nversion_subs].fn = fn;
	nversion_subs++;
}

/* Split path (after its fixed prefix) into at most max segments, in
 * copy (a new string the caller frees); the count, or max + 1 when
 * there are more. */
static size_t
path_segments(const char *path, char **copy, char *seg[], size_t max)
{
	size_t n = 0;

	*copy = xstrdup(path);
	for (char *save = NULL, *p = strtok_r(*copy, "/", &save); p != NULL;
	     p = strtok_r(NULL, "/", &save)) {
		if (n == max)
			return max + 1;
		seg[n++] = p;
	}
	return n;
}

/* Coder's Organization (new reference). */
static json_t *
org_json(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "id",
			 TASKBOX_ORG_ID, "name", TASKBOX_ORG_NAME,
			 "display_name", "Default", "description", "",
			 "is_default", 1, "created_at", ORG_CREATED,
			 "updated_at", ORG_CREATED, "icon", "");
}

/* Is ref the organization: its name or its id (any case)? */
static bool
org_is(const char *ref)
{
	return strcmp(ref, TASKBOX_ORG_NAME) == 0 ||
	       strcasecmp(ref, TASKBOX_ORG_ID) == 0;
}

/* GET /api/v2/organizations: [Organization], the one there is. */
static void
api_orgs_list(struct http_req *req, void *data UNUSED)
{
	json_t *caller = auth_user(req);

	if (caller == NULL)
		return;
	http_reply_json(req, 200, json_pack("[o]", org_json()));
	json_decref(caller);
}

/* GET /api/v2/organizations/{org}/templates: every template, a bare
 * array as Coder answers. */
static void
api_org_templates(struct http_req *req)
{
	json_t *rows = store_templates_list(srv->store), *out, *row;
	size_t i;

	if (rows == NULL) {
		http_reply_problem(req, 500, "cannot read the templates");
		return;
	}
	out = json_array();
	json_array_foreach(rows, i, row)
		json_array_append_new(out, catalog_template_json(row));
	http_reply_json(req, 200, out);
	json_decref(rows);
}

/* GET /api/v2/organizations/{org}/templates/{name}: the template (its
 * name, or its id). */
static void
api_org_template(struct http_req *req, const char *org, const char *name)
{
	json_t *row = catalog_template_find(name);

	if (row == NULL)
		http_reply_problem(req, 404,
				   "no template '%s' in organization '%s'",
				   name, org);
	else
		http_reply_json(req, 200, catalog_template_json(row));
	json_decref(row);
}

/* Everything under /api/v2/organizations/: {org}, {org}/templates,
 * {org}/templates/{name}. */
static void
api_orgs_prefix(struct http_req *req, void *data UNUSED)
{
	char *copy = NULL, *seg[PATH_SEGMENTS_MAX];
	json_t *caller = auth_user(req);
	size_t n;

	if (caller == NULL)
		return;
	n = path_segments(http_req_path(req) + strlen(ORG_PATH "/"), &copy, seg,
			  3);
	if (n == 0 || n > 3 || (n > 1 && strcmp(seg[1], "templates") != 0))
		http_reply_problem(req, 404, "no such endpoint: '%s'",
				   http_req_path(req));
	else if (!org_is(seg[0]))
		http_reply_problem(req, 404,
				   "no organization '%s': the one organization "
				   "is '%s'",
				   seg[0], TASKBOX_ORG_NAME);
	else if (n == 1)
		http_reply_json(req, 200, org_json());
	else if (n == 2)
		api_org_templates(req);
	else
		api_org_template(req, seg[0], seg[2]);
	free(copy);
	json_decref(caller);
}

/* Coder's TemplateVersion of version (a catalog_version_get row; new
 * reference). */
static json_t *
version_json(const json_t *version)
{
	const char *by = json_string_value(
		json_object_get(version, "version_created_by"));
	json_t *user = by != NULL ? store_user_get(srv->store, by) : NULL;
	char *name = xasprintf(
		"v%" JSON_INTEGER_FORMAT,
		json_integer_value(json_object_get(version, "version")));
	json_t *out;
	char stamp[32];

	time_rfc3339((uint64_t)json_integer_value(
			     json_object_get(version, "version_created_at")),
		     stamp);
	out = json_pack(
		"{s:O, s:O, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:b, "
		"s:[]}",
		"id", json_object_get(version, "version_id"), "template_id",
		json_object_get(version, "id"), "organization_id",
		TASKBOX_ORG_ID, "name", name, "message", "", "created_at",
		stamp, "updated_at", stamp, "readme", "", "job", "status",
		"succeeded", "archived", 0, "warnings");
	json_object_set_new(
		out, "created_by",
		user != NULL
			? json_pack("{s:O, s:O}", "id",
				    json_object_get(user, "id"), "username",
				    json_object_get(user, "username"))
			: json_null());
	json_decref(user);
	free(name);
	return out;
}

/* Everything under /api/v2/templateversions/: {id} (Coder's
 * TemplateVersion) and {id}/SUB (api_coder_version_route). */
static void
api_versions_prefix(struct http_req *req, void *data UNUSED)
{
	char *copy = NULL, *seg[PATH_SEGMENTS_MAX];
	json_t *caller = auth_user(req), *version = NULL;
	api_version_fn fn = NULL;
	size_t n;

	if (caller == NULL)
		return;
	n = path_segments(http_req_path(req) + strlen(VERSION_PATH), &copy, seg,
			  2);
	for (size_t i = 0; n == 2 && i < nversion_subs; i++)
		if (strcmp(seg[1], version_subs[i].sub) == 0)
			fn = version_subs[i].fn;
	if (n == 0 || n > 2 || (n == 2 && fn == NULL)) {
		http_reply_problem(req, 404, "no such endpoint: '%s'",
				   http_req_path(req));
		goto out;
	}
	if ((version = catalog_version_get(seg[0])) == NULL) {
		http_reply_problem(req, 404, "no template version '%s'",
				   seg[0]);
		goto out;
	}
	if (fn != NULL)
		fn(req, caller, version);
	else
		http_reply_json(req, 200, version_json(version));
out:
	free(copy);
	json_decref(version);
	json_decref(caller);
}

void
api_coder_register(struct http_server *http)
{
	http_server_route(http, "GET", ORG_PATH, 0, 0, api_orgs_list, NULL);
	http_server_route(http, "GET", ORG_PATH "/", HTTP_ROUTE_PREFIX, 0,
			  api_orgs_prefix, NULL);
	http_server_route(http, "GET", VERSION_PATH, HTTP_ROUTE_PREFIX, 0,
			  api_versions_prefix, NULL);
}
