/*
 * lint.c: `taskbox template lint FILE...` and `taskbox module lint
 * FILE...`: validate files with the server's own parsers and print
 * "FILE:LINE:COLUMN: location: message" per error, or "FILE: ok (...)".
 * Exit status 1 when any file has errors, 2 on usage errors.
 */
#include "common.h"

#include <jansson.h>

#include "cli/lint.h"
#include "core/ynode.h"
#include "server/module.h"
#include "server/template.h"

/* Read at most YAML_MAX_INPUT + 1 bytes of path; NULL with errno set. */
static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;

	if (f == NULL)
		return NULL;
	data = xmalloc(YAML_MAX_INPUT + 2);
	*len = fread(data, 1, YAML_MAX_INPUT + 1, f);
	if (ferror(f)) {
		fclose(f);
		free(data);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	data[*len] = '\0';
	return data;
}

/* Print each error of a parse as FILE:LINE:COLUMN: location: message. */
static void
print_errors(const char *path, const json_t *errors)
{
	const json_t *e;
	size_t i;

	json_array_foreach(errors, i, e)
	{
		const char *loc =
			json_string_value(json_object_get(e, "location"));

		printf("%s:%d:%d: %s%s%s\n", path,
		       (int)json_integer_value(json_object_get(e, "line")),
		       (int)json_integer_value(json_object_get(e, "column")),
		       loc && *loc ? loc : "", loc && *loc ? ": " : "",
		       json_string_value(json_object_get(e, "message")));
	}
}

/* Lint one file; true when it is valid. */
static bool
lint_file(const char *path, bool is_template)
{
	json_t *r, *errors = NULL;
	size_t len;
	char *data = read_file(path, &len);

	if (data == NULL) {
		printf("%s: cannot read: %s\n", path, strerror(errno));
		return false;
	}
	r = is_template ? template_parse(data, len, &errors)
			: module_parse(data, len, &errors);
	free(data);
	if (r == NULL) {
		print_errors(path, errors);
		json_decref(errors);
		return false;
	}
	if (is_template) {
		printf("%s: ok (%s: %s)\n", path,
		       json_is_true(json_object_get(r, "task_capable"))
			       ? "task template"
			       : "not a task template",
		       json_string_value(json_object_get(r, "task_reason")));
	} else {
		const char *k;
		json_t *v;
		bool first = true;

		printf("%s: ok (module %s, type %s, providers:", path,
		       json_string_value(json_object_get(r, "name")),
		       json_string_value(json_object_get(r, "agent_type")));
		json_object_foreach(json_object_get(r, "providers"), k, v)
		{
			printf("%s%s", first ? " " : ", ", k);
			first = false;
		}
		printf("%s)\n", first ? " none" : "");
	}
	json_decref(r);
	return true;
}

int
lint_main(int argc, char **argv)
{
	bool is_template, ok = true;
	int i;

	if (argc < 3 || strcmp(argv[1], "lint") != 0) {
		fprintf(stderr,
			"usage: taskbox template|module lint FILE...\n");
		return 2;
	}
	is_template = strcmp(argv[0], "template") == 0;
	for (i = 2; i < argc; i++)
		if (!lint_file(argv[i], is_template))
			ok = false;
	return ok ? 0 : 1;
}
