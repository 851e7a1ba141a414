/*
 * fuzz-template.c: libFuzzer over the YAML loader, template validation and
 * module parsing + rendering (everything a pushed file reaches).
 */
#include "common.h"

#include "server/module.h"
#include "server/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *errors = NULL, *t, *m;
	static const struct module_ctx ctx = {
		.home = "/home/agent",
		.workdir = "/home/agent/workspace",
		.taskbox = "/run/bin/taskbox",
		.llm_url = "http://127.0.0.1:4000",
		.proxy_url = "http://127.0.0.1:3128",
		.tools_dir = "/var/cache/taskbox/tools",
		.task_id = "fuzz",
	};

	t = template_parse((const char *)data, size, &errors);
	json_decref(errors);
	errors = NULL;
	m = module_parse((const char *)data, size, &errors);
	json_decref(errors);
	errors = NULL;
	if (m != NULL) {
		json_t *tmpl =
			t ? json_incref(t)
			  : json_pack("{s:{s:s}}", "agent", "module", "x");
		json_t *out = module_render(m, tmpl, &ctx, &errors);

		json_decref(out);
		json_decref(errors);
		json_decref(tmpl);
	}
	json_decref(m);
	json_decref(t);
	return 0;
}
