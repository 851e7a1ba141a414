/*
 * template.h: validate a template (YAML) and normalize it to JSON.
 *
 * The normalized JSON has every default filled in and units resolved
 * (memory_bytes, cpu_millicores, setup_timeout_s), plus task_capable and
 * task_reason from Task-template detection. See docs/TEMPLATES.md.
 */
#ifndef TASKBOX_TEMPLATE_H
#define TASKBOX_TEMPLATE_H

#include <jansson.h>

/* The parameter that makes a template a Task template (legacy form). */
#define TEMPLATE_PROMPT_PARAM "AI Prompt"

/*
 * Parse and validate yaml (len bytes). Returns a new normalized template,
 * or NULL with *errors = a new array of {message, location, line, column}
 * holding every problem found.
 */
json_t *template_parse(const char *yaml, size_t len, json_t **errors);

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

#endif
