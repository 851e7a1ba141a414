/*
 * api-presets.c: GET /api/v2/templateversions/{id}/presets, a template
 * version's presets in Coder's shape.
 *
 * Data model: nothing is stored here. A preset lives in its version's
 * normalized spec (template.c); its id is derived from the version id and
 * its name (template_preset_id), so the same version always answers the
 * same ids and another version of the same template other ones. Coder's
 * Preset is {ID, Name, Default, Description, Icon, Parameters: [{Name,
 * Value}], DesiredPrebuildInstances}: values are strings there, so a
 * number or a bool is written as its text.
 */
#include "common.h"

#include "http/http.h"
#include "server.h"
#include "server/template.h"

/* A preset parameter's value as Coder's string (a new string). */
static char *
preset_value_text(const json_t *v)
{
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_true(v))
		return xstrdup("true");
	if (json_is_false(v))
		return xstrdup("false");
	return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

/* One preset of template_presets_json as Coder's Preset, its parameters
 * in the order of the template's (spec's) list (new reference). */
static json_t *
preset_coder_json(const json_t *spec, const json_t *p)
{
	json_t *params = json_array(), *v, *tp;
	size_t i;

	json_array_foreach(json_object_get(spec, "parameters"), i, tp)
	{
		const char *k = json_string_value(json_object_get(tp, "name"));
		char *text;

		v = k ? json_object_get(json_object_get(p, "parameters"), k)
		      : NULL;
		if (v == NULL)
			continue;
		text = preset_value_text(v);
		json_array_append_new(params, json_pack("{s:s, s:s}", "Name", k,
							"Value", text));
		free(text);
	}
	return json_pack("{s:O, s:O, s:O, s:O, s:s, s:o, s:n}", "ID",
			 json_object_get(p, "id"), "Name",
			 json_object_get(p, "name"), "Default",
			 json_object_get(p, "default"), "Description",
			 json_object_get(p, "description"), "Icon", "",
			 "Parameters", params, "DesiredPrebuildInstances");
}

void
api_presets_get(struct http_req *req, const char *version_id)
{
	json_t *user = auth_user(req), *version, *presets, *out, *p;
	size_t i;

	if (user == NULL)
		return;
	version = catalog_version_get(version_id);
	if (version == NULL) {
		http_reply_problem(req, 404, "no template version '%s'",
				   version_id);
		json_decref(user);
		return;
	}
	presets = template_presets_json(json_object_get(version, "spec_json"),
					version_id);
	out = json_array();
	json_array_foreach(presets, i, p) json_array_append_new(
		out,
		preset_coder_json(json_object_get(version, "spec_json"), p));
	http_reply_json(req, 200, out);
	json_decref(presets);
	json_decref(version);
	json_decref(user);
}

/* H-api wires /api/v2/templateversions/{id}/presets to api_presets_get */
/* (temporary: the lead folds this into H-api's templateversions
 * dispatcher at merge, and removes it) */

/* GET /api/v2/templateversions/...: {id}/presets, else 404. */
static void
api_presets_route(struct http_req *req, void *data UNUSED)
{
	const char *rest =
		http_req_path(req) + strlen("/api/v2/templateversions/");
	const char *slash = strchr(rest, '/');
	char *id;

	if (slash == NULL || slash == rest || strcmp(slash, "/presets") != 0) {
		http_reply_problem(req, 404, "no such endpoint: '%s'",
				   http_req_path(req));
		return;
	}
	id = xstrndup(rest, (size_t)(slash - rest));
	api_presets_get(req, id);
	free(id);
}

void
api_presets_register(struct http_server *http)
{
	http_server_route(http, "GET", "/api/v2/templateversions/",
			  HTTP_ROUTE_PREFIX, 0, api_presets_route, NULL);
}
/* end of the temporary block */
