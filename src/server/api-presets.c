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
#include "server/api-coder.h"
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

/* GET /api/v2/templateversions/{id}/presets (api_coder_version_route:
 * the caller is signed in and the version found). */
static void
api_presets_version(struct http_req *req, json_t *caller UNUSED,
		    json_t *version)
{
	const char *vid =
		json_string_value(json_object_get(version, "version_id"));
	json_t *spec = json_object_get(version, "spec_json");
	json_t *presets = template_presets_json(spec, vid), *out, *p;
	size_t i;

	out = json_array();
	json_array_foreach(presets, i, p)
		json_array_append_new(out, preset_coder_json(spec, p));
	http_reply_json(req, 200, out);
	json_decref(presets);
}

void
api_presets_register(void)
{
	api_coder_version_route("presets", api_presets_version);
}
