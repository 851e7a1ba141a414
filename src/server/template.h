/*
 * template.h: validate a template (YAML) and normalize it to JSON.
 *
 * The normalized JSON has every default filled in and units resolved
 * (memory_bytes, pids, cpu_millicores, disk_bytes: null when the template
 * sets none; setup_timeout_s), plus task_capable and
 * task_reason from Task-template detection, and presets (named parameter
 * sets, their ids derived from the version). See docs/TEMPLATES.md.
 */
#ifndef TASKBOX_TEMPLATE_H
#define TASKBOX_TEMPLATE_H

#include <jansson.h>

/* The parameter that makes a template a Task template (legacy form). */
#define TEMPLATE_PROMPT_PARAM "AI Prompt"
/* presets: how many a template may have, a name's length in characters,
 * and the name that means "no preset" (reserved) */
#define TEMPLATE_PRESETS_MAX	 32
#define TEMPLATE_PRESET_NAME_MAX 64
#define TEMPLATE_PRESET_NONE	 "none"
/* workspace.budget's bounds: tokens and USD per task */
#define TEMPLATE_BUDGET_TOKENS_MAX 1000000000000L
#define TEMPLATE_BUDGET_USD_MAX	   1000000

/*
 * Parse and validate yaml (len bytes). Returns a new normalized template,
 * or NULL with *errors = a new array of {message, location, line, column}
 * holding every problem found.
 */
json_t *template_parse(const char *yaml, size_t len, json_t **errors);

/* Server-wide maxima of workspace.limits (0: no maximum). */
struct template_max {
	int64_t memory_bytes;
	int64_t pids;
	int64_t cpu_millicores;
	int64_t disk_bytes;
};

/*
 * template_parse, then hold workspace.limits to max: a limit above its
 * maximum is an error at its line and column (clamp false: a member's
 * push), or is lowered to the maximum with a warning {message, location,
 * line, column} added to *warnings (a new array, NULL when none; clamp
 * true: an admin's push). Unset limits stay null.
 */
json_t *template_parse_max(const char *yaml, size_t len,
			   const struct template_max *max, bool clamp,
			   json_t **errors, json_t **warnings);

/* Write bytes as "4GiB", "64MiB" (exact IEC units) or "N bytes". */
void template_format_size(int64_t bytes, char *buf, size_t size);

/* Parse "2GiB", "512Mi", "1.5G", "1048576" into bytes; 0 or -EINVAL. */
int template_parse_memory(const char *s, int64_t *bytes);

/* Parse "1.5", "0.25", "500m" into millicores; 0 or -EINVAL. */
int template_parse_cpu(const char *s, int64_t *millicores);

/*
 * Substitute {{owner.name}}, {{owner.email}} and {{owner.username}} in s
 * (an identity.author/committer value) into *out (new string). 0, or
 * -EINVAL for any other {{...}} (*out then unset).
 */
int template_identity_render(const char *s, const char *name, const char *email,
			     const char *username, char **out);

/* Whether s is a secret name: [A-Za-z_][A-Za-z0-9_]{0,63}. */
bool template_secret_name_valid(const char *s);

/*
 * The id of version_id's preset name, derived and never stored: the first
 * 16 bytes of SHA-256("taskbox-preset" NUL version_id NUL name) with the
 * RFC 9562 version 8 and variant bits set, as a lowercase 8-4-4-4-12 uuid
 * in out.
 */
void template_preset_id(const char *version_id, const char *name, char out[37]);

/*
 * The preset of spec (a normalized template of version_id) whose id is
 * id (any case) or whose name is name (either may be NULL); borrowed from
 * spec, or NULL.
 */
const json_t *template_preset_find(const json_t *spec, const char *version_id,
				   const char *id, const char *name);

/* spec's presets as [{id, name, description, default, parameters}] (a new
 * reference; [] when none). */
json_t *template_presets_json(const json_t *spec, const char *version_id);

#endif
