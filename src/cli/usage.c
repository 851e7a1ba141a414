/*
 * usage.c: `taskbox usage`, `taskbox price set|list|delete` and `taskbox
 * task usage TASK`: LLM tokens, cost and prices.
 *
 * Data model: none; each command is one or two calls of api-usage.c's
 * endpoints, printed as a table (or as the server's JSON with -o json).
 * Costs print in USD with 4 decimals, tokens as integers.
 */
#include "common.h"

#include <getopt.h>
#include <math.h>

#include "cli/cli.h"

static const char usage_usage[] =
	"usage: taskbox usage [--group-by user|template|provider|model]\n"
	"                     [--from TIME] [--to TIME] [-o json]\n"
	"\n"
	"LLM requests, tokens and cost (admins: everyone's; members: their\n"
	"own). TIME is RFC 3339 (2026-12-01T00:00:00Z) or unix seconds;\n"
	"the default is this UTC month.\n";

static const char price_usage[] =
	"usage: taskbox price set TYPE MODEL --input X --output Y\n"
	"                         [--cache-read Z] [--cache-write W]\n"
	"       taskbox price list [-o json]\n"
	"       taskbox price delete TYPE MODEL\n"
	"\n"
	"Prices in USD per million tokens for a provider TYPE (anthropic,\n"
	"openai, gemini, bedrock, vertex, openai-compatible, ollama) and a\n"
	"model-name prefix; they override the built-in table (the vendors'\n"
	"list prices). Cache prices default to the input price. Admins.\n";

/* The integer member key of o as text into buf. */
static const char *
usage_int(json_t *o, const char *key, char *buf, size_t len)
{
	snprintf(buf, len, "%lld",
		 (long long)json_integer_value(json_object_get(o, key)));
	return buf;
}

/* Append a row of first (and second, or NULL) and o's sums to t. */
static void
usage_row(struct cli_table *t, const char *first, const char *second, json_t *o)
{
	char b[5][24], cost[32];
	const char *cols[8];
	size_t n = 0;

	cols[n++] = first;
	if (second != NULL)
		cols[n++] = second;
	cols[n++] = usage_int(o, "requests", b[0], sizeof b[0]);
	cols[n++] = usage_int(o, "input_tokens", b[1], sizeof b[1]);
	cols[n++] = usage_int(o, "output_tokens", b[2], sizeof b[2]);
	cols[n++] = usage_int(o, "cache_read_input_tokens", b[3], sizeof b[3]);
	cols[n++] =
		usage_int(o, "cache_creation_input_tokens", b[4], sizeof b[4]);
	snprintf(cost, sizeof cost, "%.4f",
		 json_number_value(json_object_get(o, "cost_usd")));
	cols[n++] = cost;
	cli_table_row(t, cols);
}

int
cli_task_usage(struct client *c, const char *ref, bool json)
{
	char *path = cli_task_path(ref, "/usage"), *cause = NULL;
	struct cli_table t;
	json_t *out = NULL, *m;
	size_t i;
	int r = client_json(c, "GET", path, NULL, &out, &cause);
	static const char *const head[] = {
		"MODEL",  "PROVIDER",	"REQUESTS",    "INPUT",
		"OUTPUT", "CACHE READ", "CACHE WRITE", "COST USD"};

	free(path);
	if (r)
		return cli_fail(cause);
	if (json) {
		cli_print_json(out);
		json_decref(out);
		return 0;
	}
	cli_table_init(&t, ARRAY_SIZE(head));
	cli_table_row(&t, head);
	json_array_foreach(json_object_get(out, "models"), i, m)
	{
		char *model =
			xasprintf("%s%s", cli_str(m, "model"),
				  json_is_false(json_object_get(m, "priced"))
					  ? " (not priced)"
					  : "");

		usage_row(&t, model, cli_str(m, "provider"), m);
		free(model);
	}
	usage_row(&t, "total", "", json_object_get(out, "total"));
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(out);
	return 0;
}

int
cli_usage_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"group-by", required_argument, NULL, 'g'},
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"output", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0}};
	static const char *const head[] = {
		"KEY",	  "NAME",	"REQUESTS",    "INPUT",
		"OUTPUT", "CACHE READ", "CACHE WRITE", "COST USD"};
	const char *by = "user", *from = NULL, *to = NULL;
	char *path, *e, *cause = NULL;
	struct cli_table t;
	struct client c;
	json_t *out = NULL, *g;
	bool json = false;
	size_t i;
	int o, r;

	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			fputs(usage_usage, stdout);
			return 0;
		case 'g':
			by = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") != 0 &&
			    strcmp(optarg, "table") != 0)
				return cli_usage_error(
					usage_usage, "-o takes table or json");
			json = strcmp(optarg, "json") == 0;
			break;
		case ':':
			return cli_usage_error(usage_usage,
					       "option '%s' needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error(usage_usage,
					       "unknown option '%s'",
					       argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_usage_error(usage_usage, "unexpected '%s'",
				       argv[optind]);
	if (cli_connect(&c))
		return 1;
	e = client_escape(by);
	path = xasprintf("/api/v2/usage?group_by=%s", e);
	free(e);
	for (int k = 0; k < 2; k++) {
		const char *v = k == 0 ? from : to;
		char *p;

		if (v == NULL)
			continue;
		e = client_escape(v);
		p = xasprintf("%s&%s=%s", path, k == 0 ? "from" : "to", e);
		free(e);
		free(path);
		path = p;
	}
	r = client_json(&c, "GET", path, NULL, &out, &cause);
	free(path);
	client_release(&c);
	if (r)
		return cli_fail(cause);
	if (json) {
		cli_print_json(out);
		json_decref(out);
		return 0;
	}
	printf("from %s to %s, by %s\n", cli_str(out, "from"),
	       cli_str(out, "to"), cli_str(out, "group_by"));
	cli_table_init(&t, ARRAY_SIZE(head));
	cli_table_row(&t, head);
	json_array_foreach(json_object_get(out, "groups"), i, g)
		usage_row(&t, cli_str(g, "key"), cli_str(g, "name"), g);
	usage_row(&t, "total", "", json_object_get(out, "total"));
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(out);
	return 0;
}

/* A price flag's value: a number of USD per million tokens; -1 if bad. */
static double
price_arg(const char *s)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(d) || d < 0)
		return -1;
	return d;
}

/* `taskbox price list`. */
static int
price_list(struct client *c, bool json)
{
	static const char *const head[] = {
		"TYPE",	      "MODEL",	     "INPUT", "OUTPUT",
		"CACHE READ", "CACHE WRITE", "SOURCE"};
	char *cause = NULL;
	struct cli_table t;
	json_t *out = NULL, *p;
	size_t i;
	int r = client_json(c, "GET", "/api/v2/prices", NULL, &out, &cause);

	if (r)
		return cli_fail(cause);
	if (json) {
		cli_print_json(out);
		json_decref(out);
		return 0;
	}
	cli_table_init(&t, ARRAY_SIZE(head));
	cli_table_row(&t, head);
	for (int k = 0; k < 2; k++) {
		json_array_foreach(
			json_object_get(out, k ? "builtin" : "overrides"), i, p)
		{
			char v[4][32];
			const char *cols[7];
			static const char *const keys[] = {
				"input", "output", "cache_read", "cache_write"};

			for (int j = 0; j < 4; j++)
				snprintf(v[j], sizeof v[j], "%g",
					 json_number_value(
						 json_object_get(p, keys[j])));
			cols[0] = k ? cli_str(p, "provider_types")
				    : cli_str(p, "provider_type");
			cols[1] = cli_str(p, "model");
			cols[2] = v[0];
			cols[3] = v[1];
			cols[4] = v[2];
			cols[5] = v[3];
			cols[6] = k ? "built-in" : "admin";
			cli_table_row(&t, cols);
		}
	}
	cli_table_print(&t, stdout);
	printf("USD per million tokens; an admin's price comes first\n");
	cli_table_release(&t);
	json_decref(out);
	return 0;
}

int
cli_price(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"input", required_argument, NULL, 'i'},
		{"output", required_argument, NULL, 'O'},
		{"cache-read", required_argument, NULL, 'r'},
		{"cache-write", required_argument, NULL, 'w'},
		{"format", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0}};
	static const char *const fields[] = {"input", "output", "cache_read",
					     "cache_write"};
	double v[4] = {-1, -1, -1, -1};
	const char *verb;
	char *path = NULL, *t, *m, *cause = NULL;
	struct client c;
	json_t *body = NULL, *out = NULL;
	bool json = false;
	int o, r;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(price_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	verb = argv[1];
	opterr = 0;
	optind = 0;
	argc--;
	argv++;
	while ((o = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		int k = o == 'i' ? 0 : o == 'O' ? 1 : o == 'r' ? 2 : 3;

		switch (o) {
		case 'h':
			fputs(price_usage, stdout);
			return 0;
		case 'i':
		case 'O':
		case 'r':
		case 'w':
			if ((v[k] = price_arg(optarg)) < 0)
				return cli_usage_error(
					price_usage,
					"--%s takes USD per million tokens",
					opts[k + 1].name);
			break;
		case 'o':
			json = strcmp(optarg, "json") == 0;
			break;
		case ':':
			return cli_usage_error(price_usage,
					       "option '%s' needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error(price_usage,
					       "unknown option '%s'",
					       argv[optind - 1]);
		}
	}
	if (strcmp(verb, "list") == 0 || strcmp(verb, "ls") == 0) {
		if (optind != argc)
			return cli_usage_error(price_usage, "unexpected '%s'",
					       argv[optind]);
		if (cli_connect(&c))
			return 1;
		r = price_list(&c, json);
		client_release(&c);
		return r;
	}
	if (strcmp(verb, "set") != 0 && strcmp(verb, "delete") != 0 &&
	    strcmp(verb, "rm") != 0)
		return cli_usage_error(price_usage, "unknown command '%s'",
				       verb);
	if (argc - optind != 2)
		return cli_usage_error(price_usage, "expected TYPE MODEL");
	if (strcmp(verb, "set") == 0 && (v[0] < 0 || v[1] < 0))
		return cli_usage_error(price_usage,
				       "set needs --input and --output");
	if (cli_connect(&c))
		return 1;
	t = client_escape(argv[optind]);
	m = client_escape(argv[optind + 1]);
	path = xasprintf("/api/v2/prices/%s/%s", t, m);
	free(t);
	free(m);
	if (strcmp(verb, "set") == 0) {
		body = json_object();
		for (int k = 0; k < 4; k++)
			if (v[k] >= 0)
				json_object_set_new(body, fields[k],
						    json_real(v[k]));
		r = client_json(&c, "PUT", path, body, &out, &cause);
	} else {
		r = client_json(&c, "DELETE", path, NULL, &out, &cause);
	}
	if (r)
		r = cli_fail(cause);
	else if (body != NULL)
		printf("%s %s: input %g, output %g, cache read %g, cache "
		       "write %g USD per million tokens\n",
		       argv[optind], argv[optind + 1],
		       json_number_value(json_object_get(out, "input")),
		       json_number_value(json_object_get(out, "output")),
		       json_number_value(json_object_get(out, "cache_read")),
		       json_number_value(json_object_get(out, "cache_write")));
	else
		printf("deleted the price of %s %s\n", argv[optind],
		       argv[optind + 1]);
	json_decref(body);
	json_decref(out);
	free(path);
	client_release(&c);
	return r;
}

int
cli_user_budget(struct client *c, const char *user, const char *usd,
		const char *tokens)
{
	char *u = client_escape(user), *path, *cause = NULL, *end;
	json_t *cur = NULL, *body = NULL, *out = NULL, *t, *d;
	int r;

	path = xasprintf("/api/v2/users/%s/budget", u);
	free(u);
	if ((r = client_json(c, "GET", path, NULL, &cur, &cause)) != 0)
		goto fail;
	body = json_pack("{s:O, s:O}", "tokens", json_object_get(cur, "tokens"),
			 "usd", json_object_get(cur, "usd"));
	if (tokens != NULL && strcmp(tokens, "none") == 0) {
		json_object_set_new(body, "tokens", json_null());
	} else if (tokens != NULL) {
		long long n;

		errno = 0;
		n = strtoll(tokens, &end, 10);
		if (errno != 0 || end == tokens || *end != '\0' || n < 1) {
			r = cli_usage_error("", "--budget-tokens takes a "
						"number of tokens or none");
			goto out;
		}
		json_object_set_new(body, "tokens", json_integer(n));
	}
	if (usd != NULL && strcmp(usd, "none") == 0) {
		json_object_set_new(body, "usd", json_null());
	} else if (usd != NULL) {
		double v = price_arg(usd);

		if (!(v > 0)) {
			r = cli_usage_error("", "--budget-usd takes USD "
						"above 0 or none");
			goto out;
		}
		json_object_set_new(body, "usd", json_real(v));
	}
	if ((r = client_json(c, "PUT", path, body, &out, &cause)) != 0)
		goto fail;
	t = json_object_get(out, "tokens");
	d = json_object_get(out, "usd");
	printf("%s's monthly budget: ", user);
	if (json_is_integer(t))
		printf("%lld tokens", (long long)json_integer_value(t));
	else
		printf("no token limit");
	if (json_is_number(d))
		printf(", USD %.2f\n", json_number_value(d));
	else
		printf(", no USD limit\n");
	goto out;
fail:
	r = cli_fail(cause);
out:
	json_decref(cur);
	json_decref(body);
	json_decref(out);
	free(path);
	return r;
}
