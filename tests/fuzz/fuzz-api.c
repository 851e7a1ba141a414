/*
 * fuzz-api.c: libFuzzer over the validation of request bodies and
 * paths of the Tasks API (src/server/api-tasks.c, api-users.c,
 * api-secrets.c) that needs no running server.
 *
 * The handlers interleave checks with the store and the HTTP replies, so
 * there is no seam to call them without a server; their checks are static
 * functions. This file includes the three API files to reach them (the
 * fuzz build links the rest of the server but not those three) and feeds
 * them what a request carries: the input is a JSON body, parsed as
 * http_req_json does. Its "input" goes through the task name and display
 * name made from a prompt, "name" / "username" / "webhook_url" through
 * their validators, "q" through the task list's query terms, "path"
 * through the secrets path split.
 *
 * Checked: a name made from a prompt is a valid task name, a display name
 * is a prefix of the prompt's first line of at most 64 characters that
 * does not end inside a UTF-8 character.
 */
#include "../../src/server/api-secrets.c"
#include "../../src/server/api-tasks.c"
#include "../../src/server/api-users.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Check the names made from a prompt. */
static void
fuzz_api_prompt(const char *prompt)
{
	char *name = task_name_from_prompt(prompt);
	char *display = task_display_from_prompt(prompt);
	size_t n = strlen(display);

	if (strcmp(name, "task") != 0 && !task_name_valid(name))
		BUG();
	if (strncmp(display, prompt, n) != 0 || memchr(display, '\n', n) ||
	    utf8_chars(display) > TASK_DISPLAY_MAX ||
	    (n > 0 && ((unsigned char)prompt[n] & 0xc0) == 0x80))
		BUG();
	free(name);
	free(display);
}

/* Take q apart into its terms, as the task list does. */
static void
fuzz_api_query(const char *q)
{
	char key[32], val[128];
	const char *p = q;

	while ((p = q_next(p, key, sizeof key, val, sizeof val)) != NULL) {
		if (strlen(key) >= sizeof key || strlen(val) >= sizeof val)
			BUG();
	}
}

/* Split path as the secrets routes do. */
static void
fuzz_api_secrets_path(const char *path)
{
	static const char *const prefixes[] = {"/api/v2/users/",
					       "/api/v2/templates/"};

	for (size_t i = 0; i < 2; i++) {
		char *ref = NULL, *name = NULL;

		if (!str_starts_with(path, prefixes[i]))
			continue;
		if (secrets_path(path, prefixes[i], &ref, &name) &&
		    (*ref == '\0' || strchr(ref, '/') != NULL ||
		     (name != NULL && (*name == '\0' || strchr(name, '/')))))
			BUG();
		free(ref);
		free(name);
		if (i == 1) /* the templates route's own check */
			api_secrets_is_template_path(path);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = json_loadb((const char *)data, size, 0, NULL);
	const char *s;

	if (!json_is_object(body))
		goto out;
	if ((s = json_string_value(json_object_get(body, "input"))) != NULL) {
		fuzz_api_prompt(s);
		str_is_blank(s);
	}
	if ((s = json_string_value(json_object_get(body, "name"))) != NULL)
		task_name_valid(s);
	if ((s = json_string_value(json_object_get(body, "username"))) != NULL)
		user_name_valid(s);
	if ((s = json_string_value(json_object_get(body, "webhook_url"))))
		user_check_webhook(s, (size & 1) != 0);
	if ((s = json_string_value(json_object_get(body, "q"))) != NULL)
		fuzz_api_query(s);
	if ((s = json_string_value(json_object_get(body, "path"))) != NULL)
		fuzz_api_secrets_path(s);
out:
	json_decref(body);
	return 0;
}
