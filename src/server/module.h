/*
 * module.h: agent modules, YAML data describing how to install, configure
 * and launch one agent CLI, and their rendering for one task.
 *
 * module_parse validates a module file into normalized JSON; module_render
 * turns that JSON, a normalized template (template.h) and the sandbox
 * paths into the launch plan: argv, env, seeded files, install, PATH.
 */
#ifndef TASKBOX_MODULE_H
#define TASKBOX_MODULE_H

#include <jansson.h>

struct module_ctx {
	const char *home;      /* agent home inside the sandbox */
	const char *workdir;   /* the agent's working directory */
	const char *taskbox;   /* taskbox binary inside the sandbox */
	const char *llm_url;   /* LLM pass-through base URL inside */
	const char *proxy_url; /* egress CONNECT proxy inside */
	const char *tools_dir; /* module installs (same path in and out) */
	const char *task_id;
	/* The task's LLM provider (gateway/provider.h): its name, type,
	 * region and project; NULL when unknown (the module's
	 * default_provider entry applies, no region or project). */
	const char *provider;
	const char *provider_type;
	const char *region;
	const char *project;
};

/*
 * Parse and validate a module (len bytes of YAML). Returns a new
 * normalized module, or NULL with *errors = a new array of
 * {message, location, line, column}.
 */
json_t *module_parse(const char *yaml, size_t len, json_t **errors);

/*
 * Render module for the normalized template tmpl (its agent block) and
 * ctx; the providers entry is picked by ctx->provider_type (an error
 * when the module has providers but none for it). Returns a new {type,
 * argv, env, files, install, path, resume_args, provider (the entry
 * used), mcp (whether the agent is given `taskbox mcp`)},
 * or NULL with *errors = a new array of {message, location}.
 */
json_t *module_render(const json_t *module, const json_t *tmpl,
		      const struct module_ctx *ctx, json_t **errors);

/*
 * The module's install block placed under tools_dir (new reference, NULL
 * when the module has none): the normalized block plus dir (where it is
 * installed), bin_dir (for PATH) and bin_path (the executable). npm:
 * TOOLS/DIR; pip: a virtualenv TOOLS/DIR/VERSION; url: TOOLS/DIR/VERSION.
 */
json_t *module_install(const json_t *module, const char *tools_dir);

/*
 * The key of module's providers entry for a provider of type (owned by
 * module): the type's own entry, else for "openai-compatible" the
 * default_provider's; NULL when the module has none.
 */
const char *module_provider_entry(const json_t *module, const char *type);
/* Whether module_provider_entry finds an entry for type. */
bool module_supports_provider(const json_t *module, const char *type);

/*
 * Serialize a JSON object as TOML (tables for nested objects, inline
 * arrays); returns a new string.
 */
char *module_toml(const json_t *obj);

#endif
