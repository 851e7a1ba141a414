/*
 * provider.c: `taskbox provider set|list|delete`, the LLM providers an
 * admin manages (docs/API.md, Providers).
 *
 * `set` sends the whole provider (PUT /api/v2/providers/NAME replaces
 * it). Credentials are never taken from the command line, where other
 * users see argv: they are read from files (--key-file, ...; `-` is
 * stdin), their copies wiped once sent. The server never sends one back:
 * `list` shows which are set.
 */
#include "common.h"

#include <getopt.h>
#include <unistd.h>

#include "cli/cli.h"

/* A file's bytes the CLI reads: a CA bundle's (the server takes 256 KiB). */
#define PROVIDER_FILE_MAX (256u * 1024)

static const char provider_usage[] =
	"usage: taskbox provider set NAME --type TYPE [--url URL] [--region "
	"R]\n"
	"           [--key-file F] [--aws-access-key-id ID\n"
	"           --aws-secret-access-key-file F [--aws-session-token-file "
	"F]]\n"
	"           [--service-account-file F] [--project P] [--ca-file F]\n"
	"       taskbox provider list [-o table|json]\n"
	"       taskbox provider delete NAME\n"
	"\n"
	"The LLM providers templates name in agent.provider (admins set and\n"
	"delete them; none named: the provider 'default'). TYPE is anthropic,\n"
	"openai, gemini, bedrock (--region and AWS keys), vertex (a service\n"
	"account key file; --region, default global; --project, default the\n"
	"key's), openai-compatible (LiteLLM, vLLM, ...: --url, optional key)\n"
	"or ollama (--url). --url overrides the type's endpoint (http:// or\n"
	"https://); --ca-file verifies it with that CA instead of the "
	"system's.\n"
	"Credentials are read from files (- for stdin), stored sealed and "
	"never\n"
	"shown again. set replaces the whole provider.\n";

/*
 * The text of file path ("-": stdin, once), at most PROVIDER_FILE_MAX
 * bytes, not empty; a one-line credential (line) loses its trailing
 * newline. A new string, or NULL with *cause: a file that gives nothing
 * is an error, never a provider stored without its credential.
 */
static char *
provider_read_file(const char *path, bool line, char **cause)
{
	static bool stdin_read;
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "re");
	char *buf;
	size_t n;
	bool big;
	int err;

	if (is_stdin && stdin_read) {
		*cause = xstrdup("only one credential can come from stdin");
		return NULL;
	}
	stdin_read = stdin_read || is_stdin;
	if (f == NULL) {
		*cause = xasprintf("cannot read '%s': %s", path,
				   strerror(errno));
		return NULL;
	}
	/* no stdio buffer: the only copy is buf, wiped by the caller */
	if (!is_stdin)
		setvbuf(f, NULL, _IONBF, 0);
	buf = xmalloc(PROVIDER_FILE_MAX + 2);
	n = fread(buf, 1, PROVIDER_FILE_MAX + 1, f);
	err = ferror(f) ? errno : 0;
	if (!is_stdin)
		fclose(f);
	buf[n] = '\0';
	big = n > PROVIDER_FILE_MAX;
	while (line && n > 0 &&
	       (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
		buf[n - 1] == '\t'))
		buf[--n] = '\0';
	if (err != 0)
		*cause = xasprintf("cannot read '%s': %s", path, strerror(err));
	else if (big)
		*cause = xasprintf("'%s' is larger than 256 KiB", path);
	else if (strlen(buf) != n)
		*cause = xasprintf("'%s' holds a NUL byte", path);
	else if (n == 0)
		*cause = xasprintf("'%s' is empty", path);
	else
		return buf;
	explicit_bzero(buf, PROVIDER_FILE_MAX + 2);
	free(buf);
	return NULL;
}

/* Wipe the string members of body (credentials read from files). */
static void
provider_wipe(json_t *body)
{
	const char *k;
	json_t *v;

	json_object_foreach(body, k, v)
	{
		if (json_is_string(v))
			explicit_bzero((char *)json_string_value(v),
				       json_string_length(v));
	}
}

/* `taskbox provider list`. */
static int
provider_list(struct client *c, bool json)
{
	json_t *reply = NULL, *p;
	struct cli_table t;
	char *cause = NULL;
	size_t i;
	int r = client_json(c, "GET", "/api/v2/providers", NULL, &reply,
			    &cause);

	if (r != 0)
		return cli_fail(cause);
	if (json) {
		cli_print_json(json_object_get(reply, "providers"));
		json_decref(reply);
		return 0;
	}
	cli_table_init(&t, 5);
	cli_table_row(&t, (const char *[]){"NAME", "TYPE", "URL", "REGION",
					   "CREDENTIALS"});
	json_array_foreach(json_object_get(reply, "providers"), i, p)
	{
		static const char *const flags[][2] = {
			{"has_key", "key"},
			{"has_aws_access_key_id", "aws-key-id"},
			{"has_aws_secret_access_key", "aws-secret"},
			{"has_aws_session_token", "aws-session"},
			{"has_service_account", "service-account"},
			{"has_ca", "ca"},
		};
		char creds[128] = "";
		const char *region = cli_str(p, "region");
		char *where = *cli_str(p, "project")
				      ? xasprintf("%s/%s", region,
						  cli_str(p, "project"))
				      : xstrdup(region);

		for (size_t f = 0; f < ARRAY_SIZE(flags); f++)
			if (json_is_true(json_object_get(p, flags[f][0])))
				snprintf(creds + strlen(creds),
					 sizeof creds - strlen(creds), "%s%s",
					 *creds ? "," : "", flags[f][1]);
		if (json_object_get(p, "has_key") == NULL)
			snprintf(creds, sizeof creds, "(admins see)");
		cli_table_row(&t, (const char *[]){cli_str(p, "name"),
						   cli_str(p, "type"),
						   cli_str(p, "url"), where,
						   *creds ? creds : "-"});
		free(where);
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(reply);
	return 0;
}

/* `taskbox provider set NAME` with body made from the flags. */
static int
provider_set(struct client *c, const char *name, json_t *body)
{
	char *esc = client_escape(name), *cause = NULL;
	char *path = xasprintf("/api/v2/providers/%s", esc);
	json_t *reply = NULL;
	int r = client_json(c, "PUT", path, body, &reply, &cause);

	free(esc);
	free(path);
	json_decref(reply);
	if (r != 0)
		return cli_fail(cause);
	printf("set provider %s\n", name);
	return 0;
}

/* Credential flags: the body member a file's text goes to. */
enum {
	OPT_TYPE = 256,
	OPT_URL,
	OPT_REGION,
	OPT_PROJECT,
	OPT_AWS_ID,
	OPT_KEY_FILE,
	OPT_AWS_SECRET_FILE,
	OPT_AWS_TOKEN_FILE,
	OPT_SA_FILE,
	OPT_CA_FILE,
};

int
cli_provider(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"output", required_argument, NULL, 'o'},
		{"type", required_argument, NULL, OPT_TYPE},
		{"url", required_argument, NULL, OPT_URL},
		{"region", required_argument, NULL, OPT_REGION},
		{"project", required_argument, NULL, OPT_PROJECT},
		{"aws-access-key-id", required_argument, NULL, OPT_AWS_ID},
		{"key-file", required_argument, NULL, OPT_KEY_FILE},
		{"aws-secret-access-key-file", required_argument, NULL,
		 OPT_AWS_SECRET_FILE},
		{"aws-session-token-file", required_argument, NULL,
		 OPT_AWS_TOKEN_FILE},
		{"service-account-file", required_argument, NULL, OPT_SA_FILE},
		{"ca-file", required_argument, NULL, OPT_CA_FILE},
		{NULL, 0, NULL, 0}};
	/* the body member of each flag after OPT_TYPE, in enum order */
	static const char *const members[] = {
		"type",
		"url",
		"region",
		"project",
		"aws_access_key_id",
		"key",
		"aws_secret_access_key",
		"aws_session_token",
		"service_account",
		"ca_pem",
	};
	json_t *body = json_object(), *v;
	bool json = false, flags = false;
	const char *sub;
	char *cause = NULL, *text;
	struct client c;
	int o, r = 2;

	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			fputs(provider_usage, stdout);
			r = 0;
			goto out;
		case 'o':
			if (strcmp(optarg, "json") != 0 &&
			    strcmp(optarg, "table") != 0) {
				r = cli_usage_error(provider_usage,
						    "-o takes table or json");
				goto out;
			}
			json = strcmp(optarg, "json") == 0;
			break;
		case ':':
			r = cli_usage_error(provider_usage,
					    "option '%s' needs a value",
					    argv[optind - 1]);
			goto out;
		case '?':
			r = cli_usage_error(provider_usage,
					    "unknown option '%s'",
					    argv[optind - 1]);
			goto out;
		default:
			flags = true;
			if (o < OPT_KEY_FILE) {
				json_object_set_new(body, members[o - OPT_TYPE],
						    json_string(optarg));
				break;
			}
			text = provider_read_file(
				optarg, o != OPT_SA_FILE && o != OPT_CA_FILE,
				&cause);
			if (text == NULL) {
				r = cli_fail(cause);
				goto out;
			}
			v = json_string(text); /* NULL: not UTF-8 */
			explicit_bzero(text, strlen(text));
			free(text);
			if (v == NULL) {
				r = cli_fail(xasprintf("'%s' is not UTF-8 "
						       "text",
						       optarg));
				goto out;
			}
			json_object_set_new(body, members[o - OPT_TYPE], v);
		}
	}
	if (optind >= argc) {
		r = cli_usage_error(provider_usage,
				    "expected set, list or delete");
		goto out;
	}
	sub = argv[optind++];
	if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0) {
		if (optind != argc || flags) {
			r = cli_usage_error(provider_usage,
					    "list takes no NAME or flags");
			goto out;
		}
		if (cli_connect(&c)) {
			r = 1;
			goto out;
		}
		r = provider_list(&c, json);
		client_release(&c);
		goto out;
	}
	if (strcmp(sub, "set") != 0 && strcmp(sub, "delete") != 0 &&
	    strcmp(sub, "rm") != 0) {
		r = cli_usage_error(provider_usage,
				    "unknown provider command '%s'", sub);
		goto out;
	}
	if (argc - optind != 1) {
		r = cli_usage_error(provider_usage, "expected one NAME");
		goto out;
	}
	if (strcmp(sub, "set") == 0 && json_object_get(body, "type") == NULL) {
		r = cli_usage_error(provider_usage, "set needs --type");
		goto out;
	}
	if (strcmp(sub, "set") != 0 && flags) {
		r = cli_usage_error(provider_usage, "delete takes no flags");
		goto out;
	}
	if (cli_connect(&c)) {
		r = 1;
		goto out;
	}
	if (strcmp(sub, "set") == 0)
		r = provider_set(&c, argv[optind], body);
	else
		r = cli_delete_named(&c, "providers", "provider", argv[optind],
				     "");
	client_release(&c);
out:
	provider_wipe(body);
	json_decref(body);
	return r;
}
