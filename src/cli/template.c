/*
 * template.c: `taskbox template` and `taskbox module`: push YAML files
 * to the server, list what it holds, delete a template.
 *
 * Both kinds are pushed the same way (the YAML text as
 * application/yaml, a directory meaning its *.yaml and *.yml files in
 * name order); a rejected file's errors are printed compiler-style as
 * FILE:LINE:COLUMN: message so editors can jump to them.
 */
#include "common.h"

#include <dirent.h>
#include <getopt.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/buf.h"

/* Largest YAML file the CLI sends. */
#define TEMPLATE_MAX_FILE (4u << 20)

/* What differs between templates and modules. */
struct template_kind {
	const char *noun;  /* "template" */
	const char *path;  /* "/api/v2/templates" */
	const char *field; /* the list reply's array: "templates" */
	const char *usage;
};

static const char template_usage[] =
	"usage: taskbox template push FILE|DIR...     create templates or new "
	"versions\n"
	"       taskbox template list [-o table|json]  list templates\n"
	"       taskbox template delete NAME [--force] delete a template (its "
	"author or\n"
	"                                              an admin); --force "
	"deletes the\n"
	"                                              tasks that use it too\n";

static const char module_usage[] =
	"usage: taskbox module push FILE|DIR...       create agent modules or "
	"new versions\n"
	"       taskbox module list [-o table|json]    list agent modules\n";

static const struct template_kind template_kind = {
	"template", "/api/v2/templates", "templates", template_usage};
static const struct template_kind module_kind = {"module", "/api/v2/modules",
						 "modules", module_usage};

/* Whether a directory entry's name ends in .yaml or .yml. */
static int
template_yaml_name(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	if (d->d_name[0] == '.')
		return 0;
	return (n > 5 && strcmp(d->d_name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(d->d_name + n - 4, ".yml") == 0);
}

/* Read a whole file (up to TEMPLATE_MAX_FILE); NULL with *cause. */
static char *
template_read(const char *path, size_t *len, char **cause)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[8192];
	size_t n;

	if (f == NULL) {
		*cause = xasprintf("cannot open '%s': %s", path,
				   strerror(errno));
		return NULL;
	}
	buf_init(&b, TEMPLATE_MAX_FILE);
	buf_append(&b, "", 0);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (buf_append(&b, chunk, n) < 0) {
			*cause = xasprintf("'%s' is larger than %u bytes", path,
					   TEMPLATE_MAX_FILE);
			goto fail;
		}
	}
	if (ferror(f)) {
		*cause = xasprintf("cannot read '%s': %s", path,
				   strerror(errno));
		goto fail;
	}
	fclose(f);
	*len = b.len;
	return buf_steal(&b);
fail:
	fclose(f);
	buf_release(&b);
	return NULL;
}

/* Print a rejected push: each error as FILE:LINE:COLUMN: message. */
static void
template_print_errors(const char *file, json_t *problem, const char *cause)
{
	json_t *errs = json_object_get(problem, "errors"), *e;
	size_t i;

	if (json_array_size(errs) == 0) {
		cli_error("%s: %s", file, cause);
		return;
	}
	fflush(stdout);
	json_array_foreach(errs, i, e)
	{
		json_t *line = json_object_get(e, "line");
		json_t *col = json_object_get(e, "column");
		const char *msg = cli_str(e, "message");
		const char *loc = cli_str(e, "location");
		const char *sep = *loc ? ": " : "";

		if (json_is_integer(line) && json_is_integer(col))
			fprintf(stderr,
				"%s:%" JSON_INTEGER_FORMAT
				":%" JSON_INTEGER_FORMAT ": %s%s%s\n",
				file, json_integer_value(line),
				json_integer_value(col), loc, sep, msg);
		else if (json_is_integer(line))
			fprintf(stderr, "%s:%" JSON_INTEGER_FORMAT ": %s%s%s\n",
				file, json_integer_value(line), loc, sep, msg);
		else
			fprintf(stderr, "%s: %s%s%s\n", file, loc, sep, msg);
	}
}

/* Push one file; 0, or 1 after printing why not. */
static int
template_push_file(struct client *c, const struct template_kind *k,
		   const char *file)
{
	json_t *reply = NULL;
	char *text, *cause = NULL;
	size_t len;
	int r;

	text = template_read(file, &len, &cause);
	if (text == NULL)
		return cli_fail(cause);
	r = client_call(c, "POST", k->path, NULL, "application/yaml", text, len,
			&reply, &cause);
	free(text);
	if (r < 0)
		return cli_fail(cause);
	if (r > 0) {
		template_print_errors(file, reply, cause);
		free(cause);
		json_decref(reply);
		return 1;
	}
	printf("pushed %s%s", k == &module_kind ? "module " : "",
	       cli_str(reply, "name"));
	if (json_is_integer(json_object_get(reply, "version")))
		printf(" version %" JSON_INTEGER_FORMAT,
		       json_integer_value(json_object_get(reply, "version")));
	if (k == &template_kind) {
		if (json_is_true(json_object_get(reply, "task_capable")))
			printf(" (task template)");
		else
			printf(" (not a task template: %s)",
			       cli_str(reply, "task_reason"));
	}
	putchar('\n');
	json_decref(reply);
	return 0;
}

/* Push each FILE or each YAML file of each DIR; 0 if all went in. */
static int
template_push(struct client *c, const struct template_kind *k, int n,
	      char **paths)
{
	int failed = 0;

	for (int i = 0; i < n; i++) {
		struct dirent **ents;
		struct stat st;
		int m;

		if (stat(paths[i], &st) < 0) {
			cli_error("cannot open '%s': %s", paths[i],
				  strerror(errno));
			failed = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed |= template_push_file(c, k, paths[i]);
			continue;
		}
		m = scandir(paths[i], &ents, template_yaml_name, alphasort);
		if (m < 0) {
			cli_error("cannot read '%s': %s", paths[i],
				  strerror(errno));
			failed = 1;
			continue;
		}
		if (m == 0) {
			cli_error("no *.yaml files in '%s'", paths[i]);
			failed = 1;
		}
		for (int j = 0; j < m; j++) {
			char *f = xasprintf("%s/%s", paths[i], ents[j]->d_name);

			failed |= template_push_file(c, k, f);
			free(f);
			free(ents[j]);
		}
		free(ents);
	}
	return failed;
}

/* List templates or modules as a table or JSON. */
static int
template_list(struct client *c, const struct template_kind *k, bool json)
{
	json_t *reply = NULL, *items, *it;
	struct cli_table t;
	char *cause = NULL;
	size_t i;

	if (client_json(c, "GET", k->path, NULL, &reply, &cause))
		return cli_fail(cause);
	items = json_object_get(reply, k->field);
	if (json) {
		cli_print_json(items ? items : reply);
		json_decref(reply);
		return 0;
	}
	cli_table_init(&t, k == &template_kind ? 4 : 3);
	if (k == &template_kind)
		cli_table_row(&t, (const char *[]){"NAME", "VERSION", "TASK",
						   "DESCRIPTION"});
	else
		cli_table_row(
			&t, (const char *[]){"NAME", "VERSION", "DESCRIPTION"});
	json_array_foreach(items, i, it)
	{
		json_t *v = json_object_get(it, "version");
		char ver[32] = "";
		const char *desc = cli_str(it, "description");

		if (json_is_integer(v))
			snprintf(ver, sizeof ver, "%" JSON_INTEGER_FORMAT,
				 json_integer_value(v));
		if (desc[0] == '\0')
			desc = cli_str(it, "display_name");
		if (k == &template_kind)
			cli_table_row(&t, (const char *[]){
						  cli_str(it, "name"), ver,
						  json_is_true(json_object_get(
							  it, "task_capable"))
							  ? "yes"
							  : "no",
						  desc});
		else
			cli_table_row(&t, (const char *[]){cli_str(it, "name"),
							   ver, desc});
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(reply);
	return 0;
}

/* DELETE /api/v2/templates/NAME[?force=true]. */
static int
template_delete(struct client *c, const char *name, bool force)
{
	return cli_delete_named(c, "templates", "template", name,
				force ? "?force=true" : "");
}

/* The shared command line of `template` and `module`. */
static int
template_main(const struct template_kind *k, int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"output", required_argument, NULL, 'o'},
		{"force", no_argument, NULL, 'f'},
		{NULL, 0, NULL, 0}};
	int json = 0, force = 0, o, r;
	bool output = false;
	struct client c;
	const char *sub;

	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			fputs(k->usage, stdout);
			return 0;
		case 'f':
			force = 1;
			break;
		case 'o':
			output = true;
			json = strcmp(optarg, "json") == 0;
			if (!json && strcmp(optarg, "table") != 0)
				return cli_usage_error(
					k->usage, "-o takes table or json");
			break;
		case ':':
			return cli_usage_error(k->usage,
					       "option '%s' needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error(k->usage, "unknown option '%s'",
					       argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error(k->usage, "expected push or list");
	sub = argv[optind++];
	if (strcmp(sub, "push") == 0) {
		if (optind >= argc)
			return cli_usage_error(k->usage,
					       "expected FILE or DIR");
	} else if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0) {
		if (optind != argc)
			return cli_usage_error(k->usage, "unexpected '%s'",
					       argv[optind]);
	} else if (k == &template_kind &&
		   (strcmp(sub, "delete") == 0 || strcmp(sub, "rm") == 0)) {
		if (argc - optind != 1)
			return cli_usage_error(k->usage, "expected one NAME");
	} else {
		return cli_usage_error(k->usage, "unknown %s command '%s'",
				       k->noun, sub);
	}
	if (force && strcmp(sub, "delete") != 0 && strcmp(sub, "rm") != 0)
		return cli_usage_error(k->usage, "--force goes with delete");
	if (output && strcmp(sub, "list") != 0 && strcmp(sub, "ls") != 0)
		return cli_usage_error(k->usage, "-o goes with list");
	if (cli_connect(&c))
		return 1;
	if (strcmp(sub, "push") == 0)
		r = template_push(&c, k, argc - optind, argv + optind);
	else if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0)
		r = template_list(&c, k, json);
	else
		r = template_delete(&c, argv[optind], force);
	client_release(&c);
	return r;
}

/* `taskbox template push|list|delete`. */
int
cli_template(int argc, char **argv)
{
	return template_main(&template_kind, argc, argv);
}

/* `taskbox module push|list`. */
int
cli_module(int argc, char **argv)
{
	return template_main(&module_kind, argc, argv);
}
