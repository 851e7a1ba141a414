/*
 * catalog.c: templates and agent modules in the store.
 *
 * A template push validates the YAML (template.c) and stores it as a new
 * version when it differs from the active one; the version keeps the YAML
 * as written and the normalized spec the tasks run from. Modules are kept
 * by name (latest wins). The built-in modules/ and templates/ files are
 * compiled into the binary and imported at every start, so a new user has
 * templates for every agent without importing anything.
 */
#include "common.h"

#include "core/assets.h"
#include "core/log.h"
#include "core/text.h"
#include "core/ynode.h"
#include "gateway/account.h"
#include "server.h"
#include "server/module.h"
#include "server/template.h"
#include "store/store-rows.h"

json_t *
catalog_template_json(const json_t *row)
{
	json_t *spec = json_loads(
		json_string_value(json_object_get(row, "spec")), 0, NULL);
	char stamp[32];
	json_t *out, *params;

	time_rfc3339((uint64_t)json_integer_value(
			     json_object_get(row, "created_at")),
		     stamp);
	out = json_pack(
		"{s:O, s:O, s:s, s:s, s:O, s:O, s:b, s:O, s:b, s:s}", "id",
		json_object_get(row, "id"), "name",
		json_object_get(row, "name"), "display_name",
		json_string_value(json_object_get(spec, "display_name"))
			?: json_string_value(json_object_get(row, "name")),
		"description",
		json_string_value(json_object_get(spec, "description")) ?: "",
		"version", json_object_get(row, "version"), "version_id",
		json_object_get(row, "version_id"), "task_capable",
		json_integer_value(json_object_get(row, "task_capable")) != 0,
		"task_reason", json_object_get(row, "task_reason"), "builtin",
		json_integer_value(json_object_get(row, "builtin")) != 0,
		"created_at", stamp);
	/* Coder's Template members (one organization here) */
	time_rfc3339((uint64_t)json_integer_value(
			     json_object_get(row, "updated_at")),
		     stamp);
	json_object_set_new(out, "updated_at", json_string(stamp));
	json_object_set(out, "active_version_id",
			json_object_get(row, "version_id"));
	json_object_set_new(out, "organization_id",
			    json_string(TASKBOX_ORG_ID));
	json_object_set_new(out, "organization_name",
			    json_string(TASKBOX_ORG_NAME));
	/* the normalized parameters, for a form that asks for them */
	params = json_object_get(spec, "parameters");
	json_object_set_new(out, "parameters",
			    json_is_array(params) ? json_deep_copy(params)
						  : json_array());
	/* the active version's presets, with their derived ids */
	json_object_set_new(
		out, "presets",
		template_presets_json(spec, json_string_value(json_object_get(
						    row, "version_id"))
						    ?: ""));
	json_decref(spec);
	return out;
}

json_t *
catalog_template_find(const char *ref)
{
	return store_template_find(srv->store, ref);
}

json_t *
catalog_version_get(const char *version_id)
{
	json_t *row = store_template_version_get(srv->store, version_id);

	if (row != NULL)
		json_object_set_new(
			row, "spec_json",
			json_loads(
				json_string_value(json_object_get(row, "spec")),
				0, NULL));
	return row;
}

/* The errors of a push the store could not keep: a server-side failure
 * ("status" 507 when the disk is full, else 500), not the file's. */
static json_t *
catalog_store_error(int r, const char *what)
{
	if (r == -ENOSPC)
		return json_pack("[{s:s, s:i}]", "message",
				 "the server's disk is full: nothing was "
				 "stored, try again once there is space",
				 "status", 507);
	if (r == -EEXIST) /* another push of the same name won the race */
		return json_pack("[{s:s+, s:i}]", "message", "another ", what,
				 " of this name was stored at the same time: "
				 "try again",
				 "status", 409);
	return json_pack("[{s:s+, s:i}]", "message", "cannot store the ", what,
			 "status", 500);
}

/*
 * The error (a new array) when spec's agent module does not exist, at
 * the line and column of agent.module in yaml; NULL when it exists or
 * the template names none.
 */
static json_t *
catalog_check_module(const json_t *spec, const char *yaml, size_t len)
{
	const char *name = json_string_value(
		json_object_get(json_object_get(spec, "agent"), "module"));
	json_t *module = name ? catalog_module_spec(name) : NULL;
	struct ynode *root, *at;
	char *cause = NULL, *msg;
	json_t *err;

	if (name == NULL || module != NULL) {
		json_decref(module);
		return NULL;
	}
	/* the YAML parsed once already: only its positions are wanted */
	root = yaml_load(yaml, len, &cause);
	free(cause);
	at = ynode_get(ynode_get(root, "agent"), "module");
	msg = xasprintf("no agent module '%s' on this server (taskbox module "
			"list): push the module first",
			name);
	err = json_pack("[{s:s, s:s, s:i, s:i}]", "message", msg, "location",
			"agent.module", "line", at ? at->line : 1, "column",
			at ? at->column : 1);
	ynode_free(root);
	free(msg);
	return err;
}

/* Is the template of row user_id's: the author of its first version,
 * and not built in? */
static bool
catalog_template_owned(const json_t *row, const char *user_id)
{
	json_t *first = store_template_author(
		srv->store, json_string_value(json_object_get(row, "id")));
	const char *author =
		json_string_value(json_object_get(first, "created_by"));
	bool own = author != NULL && user_id != NULL &&
		   strcmp(author, user_id) == 0 &&
		   json_integer_value(json_object_get(row, "builtin")) == 0;

	json_decref(first);
	return own;
}

bool
catalog_template_may_manage(const json_t *row, const json_t *user)
{
	return auth_is_admin(user) ||
	       catalog_template_owned(
		       row, json_string_value(json_object_get(user, "id")));
}

int
catalog_template_delete(const char *template_id)
{
	return store_template_delete(srv->store, template_id);
}

json_t *
catalog_template_push(const char *yaml, size_t len, const char *created_by,
		      bool builtin, bool may_replace, json_t **errors)
{
	json_t *warnings = NULL;
	/* above a server maximum: a member's push is refused, an admin's
	 * (and a built-in) is clamped with a warning */
	json_t *spec = template_parse_max(yaml, len, &srv->max, may_replace,
					  errors, &warnings);
	json_t *cur = NULL, *out = NULL, *w;
	size_t i;
	const char *name;
	char *text = NULL, *yaml_copy = NULL;
	char vid[37], tid[37];
	int64_t now = (int64_t)wall_ms();
	int r = -EIO;

	if (spec == NULL)
		return NULL;
	if (!may_replace &&
	    json_array_size(json_object_get(spec, "admin_only")) > 0) {
		/* private egress, private webhooks: an admin's decision */
		*errors = json_incref(json_object_get(spec, "admin_only"));
		json_decref(warnings);
		json_decref(spec);
		return NULL;
	}
	if ((*errors = catalog_check_module(spec, yaml, len)) != NULL) {
		json_decref(warnings);
		json_decref(spec);
		return NULL;
	}
	name = json_string_value(json_object_get(spec, "name"));
	text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
	yaml_copy = xstrndup(yaml, len);
	cur = catalog_template_find(name);
	if (cur != NULL && !may_replace) {
		/* only the template's author (or an admin) makes versions;
		 * built-ins belong to the admins */
		if (!catalog_template_owned(cur, created_by)) {
			*errors = json_pack(
				"[{s:s, s:s, s:i, s:i}]", "message",
				"a template with this name exists and belongs "
				"to someone else (or is built in); only admins "
				"can replace it: pick another name",
				"location", "name", "line", 1, "column", 1);
			goto out;
		}
	}
	if (cur != NULL &&
	    strcmp(json_string_value(json_object_get(cur, "yaml")),
		   yaml_copy) == 0) {
		out = catalog_template_json(cur);
		goto out;
	}
	if (cur == NULL)
		store_uuid(tid);
	else
		snprintf(tid, sizeof tid, "%s",
			 json_string_value(json_object_get(cur, "id")));
	store_uuid(vid);
	r = store_template_version_add(
		srv->store, tid, cur == NULL ? name : NULL, builtin ? 1 : 0,
		vid, yaml_copy, text,
		json_is_true(json_object_get(spec, "task_capable")) ? 1 : 0,
		json_string_value(json_object_get(spec, "task_reason")) ?: "",
		created_by, now);
	if (r < 0) {
		*errors = catalog_store_error(r, "template");
		goto out;
	}
	account_template_spec(tid, spec); /* its workspace.budget */
	json_decref(cur);
	cur = catalog_template_find(name);
	out = cur ? catalog_template_json(cur) : NULL;
out:
	if (out == NULL && *errors == NULL)
		*errors = catalog_store_error(-EIO, "template");
	if (out != NULL && warnings != NULL) {
		json_array_foreach(warnings, i, w) log_warn(
			"template %s:%lld:%lld: %s", name,
			(long long)json_integer_value(
				json_object_get(w, "line")),
			(long long)json_integer_value(
				json_object_get(w, "column")),
			json_string_value(json_object_get(w, "message")));
		json_object_set(out, "warnings", warnings);
	}
	json_decref(warnings);
	json_decref(cur);
	json_decref(spec);
	free(text);
	free(yaml_copy);
	return out;
}

/* Public JSON of a modules row (new reference). */
static json_t *
catalog_module_json(const json_t *row)
{
	json_t *spec = json_loads(
		json_string_value(json_object_get(row, "spec")), 0, NULL);
	char stamp[32];
	json_t *out;

	time_rfc3339((uint64_t)json_integer_value(
			     json_object_get(row, "updated_at")),
		     stamp);
	out = json_pack(
		"{s:O, s:s, s:s, s:b, s:s}", "name",
		json_object_get(row, "name"), "display_name",
		json_string_value(json_object_get(spec, "display_name"))
			?: json_string_value(json_object_get(row, "name")),
		"agent_type",
		json_string_value(json_object_get(spec, "agent_type"))
			?: "custom",
		"builtin",
		json_integer_value(json_object_get(row, "builtin")) != 0,
		"updated_at", stamp);
	json_decref(spec);
	return out;
}

json_t *
catalog_module_push(const char *yaml, size_t len, const char *created_by,
		    bool builtin, bool may_replace, json_t **errors)
{
	json_t *spec = module_parse(yaml, len, errors);
	json_t *cur, *out = NULL;
	const char *name;
	char *text, *yaml_copy;
	int64_t now = (int64_t)wall_ms();
	int r;

	if (spec == NULL)
		return NULL;
	name = json_string_value(json_object_get(spec, "name"));
	if (!may_replace && !builtin &&
	    json_is_object(json_object_get(spec, "install"))) {
		/* npm runs package scripts on the host, outside any sandbox */
		*errors = json_pack("[{s:s, s:s}]", "message",
				    "only admins can push modules with an "
				    "'install' block (it runs on the server); "
				    "use 'check' for an agent already on PATH",
				    "location", "install");
		json_decref(spec);
		return NULL;
	}
	cur = store_module_get(srv->store, name);
	if (cur != NULL && !may_replace &&
	    (json_integer_value(json_object_get(cur, "builtin")) != 0 ||
	     created_by == NULL ||
	     strcmp(json_string_value(json_object_get(cur, "created_by")) ?: "",
		    created_by) != 0)) {
		*errors = json_pack("[{s:s, s:s}]", "message",
				    "a module with this name exists and "
				    "belongs to someone else; only admins can "
				    "replace it",
				    "location", "name");
		json_decref(cur);
		json_decref(spec);
		return NULL;
	}
	json_decref(cur);
	text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
	yaml_copy = xstrndup(yaml, len);
	r = store_module_upsert(srv->store, name, yaml_copy, text,
				builtin ? 1 : 0, created_by, now);
	if (r == 0) {
		cur = store_module_get(srv->store, name);
		out = catalog_module_json(cur);
		json_decref(cur);
	} else {
		*errors = catalog_store_error(r, "module");
	}
	free(text);
	free(yaml_copy);
	json_decref(spec);
	return out;
}

json_t *
catalog_module_spec(const char *name)
{
	json_t *row = store_module_spec(srv->store, name);
	json_t *spec = NULL;

	if (row != NULL)
		spec = json_loads(
			json_string_value(json_object_get(row, "spec")), 0,
			NULL);
	json_decref(row);
	return spec;
}

/* Log the errors of a built-in file (a bug in the tree). */
static void
catalog_log_errors(const char *name, json_t *errors)
{
	size_t i;
	json_t *e;

	json_array_foreach(errors, i, e) log_error(
		"%s:%lld:%lld: %s", name,
		(long long)json_integer_value(json_object_get(e, "line")),
		(long long)json_integer_value(json_object_get(e, "column")),
		json_string_value(json_object_get(e, "message")));
}

int
catalog_import_builtins(char **cause)
{
	/* modules first: templates name them */
	static const char *const dirs[] = {"modules/", "templates/"};

	for (size_t d = 0; d < ARRAY_SIZE(dirs); d++) {
		for (const struct asset *a = assets; a->name != NULL; a++) {
			json_t *errors = NULL, *out;

			if (!str_starts_with(a->name, dirs[d]))
				continue;
			if (d == 0)
				out = catalog_module_push((const char *)a->data,
							  a->len, NULL, true,
							  true, &errors);
			else
				out = catalog_template_push(
					(const char *)a->data, a->len, NULL,
					true, true, &errors);
			if (out == NULL) {
				catalog_log_errors(a->name, errors);
				json_decref(errors);
				*cause = xasprintf("built-in '%s' is invalid",
						   a->name);
				return -EINVAL;
			}
			json_decref(out);
		}
	}
	return 0;
}
