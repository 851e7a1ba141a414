/*
 * secret.c: `taskbox secret set|list|delete`, the profile verbs
 * `taskbox user set` and `taskbox user set-token github`, and passwords:
 * `taskbox user set-password` (and cli_read_password for `user create
 * --password`).
 *
 * A secret's value is never taken from the command line (other users
 * see argv in ps): it is read from the terminal without echo, or with
 * --stdin from all of stdin (one trailing newline dropped). The server
 * never sends a value back, so there is no `secret get`. A password is
 * typed twice without echo on a terminal, or is one line of stdin when
 * stdin is not one (spaces around it are dropped either way).
 */
#include "common.h"

#include <getopt.h>
#include <limits.h>
#include <unistd.h>

#include "cli/cli.h"

#define SECRET_VALUE_MAX (64u * 1024)

/* The value to store: stdin (--stdin) or a line typed without echo. */
static char *
secret_read_value(bool from_stdin, char **cause)
{
	char *v;
	size_t n;

	if (!from_stdin) {
		v = cli_read_secret("value: ");
		if (v == NULL)
			*cause = xstrdup("no value given on stdin");
		return v;
	}
	v = cli_read_stdin(SECRET_VALUE_MAX + 2, cause);
	if (v == NULL)
		return NULL;
	n = strlen(v);
	if (n > 0 && v[n - 1] == '\n')
		v[--n] = '\0';
	if (n > 0 && v[n - 1] == '\r')
		v[--n] = '\0';
	return v;
}

/* PUT {value} to path, wiping the copies; the exit code. */
static int
secret_put(struct client *c, const char *path, char *value)
{
	json_t *body = json_pack("{s:s}", "value", value), *reply = NULL;
	char *cause = NULL;
	int r;

	explicit_bzero(value, strlen(value));
	free(value);
	if (body == NULL) {
		cli_error("the value is not valid UTF-8");
		return 1;
	}
	r = client_json(c, "PUT", path, body, &reply, &cause);
	explicit_bzero(
		(char *)json_string_value(json_object_get(body, "value")),
		json_string_length(json_object_get(body, "value")));
	json_decref(body);
	json_decref(reply);
	return r != 0 ? cli_fail(cause) : 0;
}

/* /api/v2/templates/T/secrets or /api/v2/users/me/secrets [+ /NAME]. */
static char *
secret_path(const char *tmpl, const char *name)
{
	char *t = tmpl ? client_escape(tmpl) : NULL;
	char *n = name ? client_escape(name) : NULL;
	char *p = xasprintf("/api/v2/%s%s/secrets%s%s",
			    tmpl ? "templates/" : "users/", tmpl ? t : "me",
			    n ? "/" : "", n ? n : "");

	free(t);
	free(n);
	return p;
}

static const char secret_usage[] =
	"usage: taskbox secret set NAME [--template T] [--stdin]\n"
	"       taskbox secret list [--template T] [-o table|json]\n"
	"       taskbox secret delete NAME [--template T]\n"
	"\n"
	"Your secrets, or with --template a template's: an admin's value\n"
	"there is for every user of the template, a member's only for that\n"
	"member's own tasks (it wins over the admin's there). A value is\n"
	"typed without echo, or read from stdin with --stdin; it is never\n"
	"shown again. Templates use them through github.token: secret:NAME\n"
	"and env_secrets (docs/TEMPLATES.md).\n";

/* `taskbox secret list`. */
static int
secret_list(struct client *c, const char *tmpl, bool json)
{
	json_t *reply = NULL, *s;
	struct cli_table t;
	char *cause = NULL, *path = secret_path(tmpl, NULL);
	size_t i;
	int r = client_json(c, "GET", path, NULL, &reply, &cause);

	free(path);
	if (r != 0)
		return cli_fail(cause);
	if (json) {
		cli_print_json(json_object_get(reply, "secrets"));
		json_decref(reply);
		return 0;
	}
	cli_table_init(&t, 4);
	cli_table_row(&t,
		      (const char *[]){"NAME", "FOR", "CREATED", "UPDATED"});
	json_array_foreach(json_object_get(reply, "secrets"), i, s)
	{
		char created[64], updated[64];
		const char *who = tmpl == NULL ? "you"
				  : json_is_true(json_object_get(s, "shared"))
					  ? "everyone"
					  : "you";

		cli_age(cli_str(s, "created_at"), created, sizeof created);
		cli_age(cli_str(s, "updated_at"), updated, sizeof updated);
		cli_table_row(&t, (const char *[]){cli_str(s, "name"), who,
						   created, updated});
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(reply);
	return 0;
}

int
cli_secret(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"template", required_argument, NULL, 't'},
		{"stdin", no_argument, NULL, 's'},
		{"output", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0}};
	const char *tmpl = NULL, *sub;
	bool from_stdin = false, json = false;
	char *cause = NULL, *path, *value;
	struct client c;
	json_t *reply = NULL;
	int o, r;

	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			fputs(secret_usage, stdout);
			return 0;
		case 't':
			tmpl = optarg;
			break;
		case 's':
			from_stdin = true;
			break;
		case 'o':
			if (strcmp(optarg, "json") != 0 &&
			    strcmp(optarg, "table") != 0)
				return cli_usage_error(
					secret_usage, "-o takes table or json");
			json = strcmp(optarg, "json") == 0;
			break;
		case ':':
			return cli_usage_error(secret_usage,
					       "option '%s' needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error(secret_usage,
					       "unknown option '%s'",
					       argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error(secret_usage,
				       "expected set, list or delete");
	sub = argv[optind++];
	if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0) {
		if (optind != argc)
			return cli_usage_error(secret_usage, "unexpected '%s'",
					       argv[optind]);
		if (cli_connect(&c))
			return 1;
		r = secret_list(&c, tmpl, json);
		client_release(&c);
		return r;
	}
	if (strcmp(sub, "set") != 0 && strcmp(sub, "delete") != 0 &&
	    strcmp(sub, "rm") != 0)
		return cli_usage_error(secret_usage,
				       "unknown secret command '%s'", sub);
	if (argc - optind != 1)
		return cli_usage_error(secret_usage, "expected one NAME");
	if (cli_connect(&c))
		return 1;
	path = secret_path(tmpl, argv[optind]);
	if (strcmp(sub, "set") == 0) {
		value = secret_read_value(from_stdin, &cause);
		r = value ? secret_put(&c, path, value) : cli_fail(cause);
	} else {
		r = client_json(&c, "DELETE", path, NULL, &reply, &cause);
		r = r != 0 ? cli_fail(cause) : 0;
		json_decref(reply);
	}
	free(path);
	client_release(&c);
	return r;
}

static const char user_set_usage[] =
	"usage: taskbox user set [USER] [--name NAME] [--email EMAIL]\n"
	"       taskbox user set USER --role admin|member|task-creator | "
	"--suspend | --activate\n"
	"       taskbox user set USER --github-id N|none\n"
	"       taskbox user set-token github [--user U] [--stdin]\n"
	"       taskbox user set-password [USER]\n"
	"       taskbox user set USER [--budget-usd X|none] "
	"[--budget-tokens N|none]\n"
	"\n"
	"set: your name and email, the default git author and committer of\n"
	"your tasks (empty clears: the username and USERNAME@taskbox.invalid\n"
	"apply); admins: another user's role, or suspend them (their tokens\n"
	"and sessions are refused) and make them active again. A\n"
	"task-creator is a member that may also create tasks for active\n"
	"members (a bot's token); it sees the tasks it created while it has\n"
	"that role.\n"
	"--github-id (admins): the GitHub user id linked to USER (what\n"
	"GET /api/v2/users?q=github_com_user_id:N finds); none unlinks.\n"
	"set-token github: link the GitHub token that templates with\n"
	"`github: {token: owner}` give your tasks (GITHUB_TOKEN, GH_TOKEN and\n"
	"git over https); typed without echo or read with --stdin.\n"
	"set-password: your password (admins: anyone's), 8 to 1024 bytes,\n"
	"typed twice without echo, or one line of stdin; changing your own\n"
	"asks for the current one first (on stdin: the line before).\n"
	"--budget-usd, --budget-tokens (admins): USER's monthly LLM budget\n"
	"(UTC calendar month; none: no limit); the other kind is kept.\n";

char *
cli_read_password(const char *what, char **cause)
{
	bool tty = isatty(STDIN_FILENO);
	char *prompt = xasprintf("%s: ", what);
	char *again, *p = cli_read_secret(prompt);

	free(prompt);
	if (p == NULL || *p == '\0') {
		free(p);
		*cause = xasprintf("no %s given", what);
		return NULL;
	}
	if (!tty)
		return p;
	prompt = xasprintf("%s again: ", what);
	again = cli_read_secret(prompt);
	free(prompt);
	if (again == NULL || strcmp(again, p) != 0) {
		*cause = xstrdup("the two passwords differ");
		explicit_bzero(p, strlen(p));
		free(p);
		p = NULL;
	}
	if (again != NULL) {
		explicit_bzero(again, strlen(again));
		free(again);
	}
	return p;
}

/* Wipe and free the strings of body named by keys (NULL-terminated). */
static void
secret_wipe(json_t *body, const char *const *keys)
{
	for (; *keys != NULL; keys++) {
		json_t *v = json_object_get(body, *keys);

		if (json_is_string(v))
			explicit_bzero((char *)json_string_value(v),
				       json_string_length(v));
	}
	json_decref(body);
}

/* `taskbox user set-password [USER]`: the exit code. */
static int
user_set_password(struct client *c, const char *user)
{
	static const char *const keys[] = {"password", "old_password", NULL};
	json_t *me = NULL, *body = json_object(), *reply = NULL;
	char *cause = NULL, *pw, *old = NULL, *u, *path;
	bool self;
	int r;

	if (client_json(c, "GET", "/api/v2/users/me", NULL, &me, &cause))
		return cli_fail(cause);
	self = strcmp(user, "me") == 0 ||
	       strcmp(user, cli_str(me, "username")) == 0 ||
	       strcmp(user, cli_str(me, "id")) == 0;
	if (self && json_is_true(json_object_get(me, "has_password")) &&
	    strcmp(cli_str(me, "role"), "admin") != 0) {
		old = cli_read_secret("current password: ");
		if (old == NULL) {
			json_decref(me);
			json_decref(body);
			cli_error("no current password given");
			return 1;
		}
		json_object_set_new(body, "old_password", json_string(old));
		explicit_bzero(old, strlen(old));
		free(old);
	}
	json_decref(me);
	if ((pw = cli_read_password("new password", &cause)) == NULL) {
		secret_wipe(body, keys);
		return cli_fail(cause);
	}
	json_object_set_new(body, "password", json_string(pw));
	explicit_bzero(pw, strlen(pw));
	free(pw);
	if (json_object_get(body, "password") == NULL) {
		secret_wipe(body, keys);
		cli_error("the password is not valid UTF-8");
		return 1;
	}
	u = client_escape(user);
	path = xasprintf("/api/v2/users/%s/password", u);
	r = client_json(c, "PUT", path, body, &reply, &cause);
	secret_wipe(body, keys);
	json_decref(reply);
	free(path);
	free(u);
	if (r != 0)
		return cli_fail(cause);
	fprintf(stderr, "password set%s\n",
		self ? "; your other sessions are signed out" : "");
	return 0;
}

/* Print what `taskbox user set` left of the user (a User). */
static void
user_set_print(json_t *u)
{
	const json_t *gh = json_object_get(u, "github_com_user_id");

	printf("%s: %s, %s, name '%s', email '%s'", cli_str(u, "username"),
	       cli_str(u, "role"), cli_str(u, "status"), cli_str(u, "name"),
	       json_is_false(json_object_get(u, "email_set"))
		       ? ""
		       : cli_str(u, "email"));
	if (json_is_integer(gh))
		printf(", GitHub user %" JSON_INTEGER_FORMAT "%s%s",
		       json_integer_value(gh),
		       *cli_str(u, "github_login") ? " " : "",
		       cli_str(u, "github_login"));
	printf("\n");
}

int
cli_user_set(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"user", required_argument, NULL, 'u'},
		{"name", required_argument, NULL, 'n'},
		{"email", required_argument, NULL, 'e'},
		{"stdin", no_argument, NULL, 's'},
		{"role", required_argument, NULL, 'r'},
		{"suspend", no_argument, NULL, 'S'},
		{"activate", no_argument, NULL, 'A'},
		{"budget-usd", required_argument, NULL, 'B'},
		{"budget-tokens", required_argument, NULL, 'N'},
		{"github-id", required_argument, NULL, 'G'},
		{NULL, 0, NULL, 0}};
	const char *user = "me", *name = NULL, *email = NULL, *role = NULL;
	const char *status = NULL, *budget_usd = NULL, *budget_tokens = NULL;
	const char *github_id = NULL;
	bool token = strcmp(argv[0], "set-token") == 0, from_stdin = false;
	bool set_pw = strcmp(argv[0], "set-password") == 0;
	char *cause = NULL, *path, *u, *value;
	json_t *body, *reply = NULL;
	struct client c;
	long gh = 0;
	int o, r;

	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			fputs(user_set_usage, stdout);
			return 0;
		case 'u':
			user = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'e':
			email = optarg;
			break;
		case 's':
			from_stdin = true;
			break;
		case 'r':
			role = optarg;
			break;
		case 'S':
		case 'A':
			if (status != NULL)
				return cli_usage_error(
					user_set_usage,
					"--suspend or --activate, not both");
			status = o == 'S' ? "suspended" : "active";
			break;
		case 'B':
			budget_usd = optarg;
			break;
		case 'N':
			budget_tokens = optarg;
			break;
		case 'G':
			github_id = optarg;
			break;
		case ':':
			return cli_usage_error(user_set_usage,
					       "option '%s' needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error(user_set_usage,
					       "unknown option '%s'",
					       argv[optind - 1]);
		}
	}
	if (token && (argc - optind != 1 || strcmp(argv[optind], "github")))
		return cli_usage_error(user_set_usage,
				       "set-token takes one provider: github");
	if (!token && argc - optind == 1)
		user = argv[optind++];
	if (set_pw) {
		if (optind != argc || name || email || role || status ||
		    github_id || from_stdin)
			return cli_usage_error(user_set_usage,
					       "set-password takes one USER at "
					       "most");
		if (cli_connect(&c))
			return 1;
		r = user_set_password(&c, user);
		client_release(&c);
		return r;
	}
	if (!token && !set_pw && optind == argc &&
	    (budget_usd != NULL || budget_tokens != NULL)) {
		if (name || email || role || status || github_id || from_stdin)
			return cli_usage_error(user_set_usage,
					       "--budget-* go on their own");
		if (cli_connect(&c))
			return 1;
		r = cli_user_budget(&c, user, budget_usd, budget_tokens);
		client_release(&c);
		return r;
	}
	if (!token &&
	    (optind != argc || (name == NULL && email == NULL && role == NULL &&
				status == NULL && github_id == NULL)))
		return cli_usage_error(user_set_usage,
				       "set takes --name, --email, --role, "
				       "--github-id, --suspend or --activate");
	if (github_id != NULL && strcmp(github_id, "none") != 0 &&
	    parse_long(github_id, 1, LONG_MAX, &gh) < 0)
		return cli_usage_error(user_set_usage,
				       "--github-id takes a GitHub user id "
				       "(a whole number from 1) or none");
	if (cli_connect(&c))
		return 1;
	u = client_escape(user);
	if (token) {
		path = xasprintf("/api/v2/users/%s/secrets/github_token", u);
		value = secret_read_value(from_stdin, &cause);
		r = value ? secret_put(&c, path, value) : cli_fail(cause);
		if (r == 0)
			fprintf(stderr, "linked the GitHub token\n");
	} else {
		path = xasprintf("/api/v2/users/%s", u);
		body = json_object();
		if (name != NULL)
			json_object_set_new(body, "name", json_string(name));
		if (email != NULL)
			json_object_set_new(body, "email", json_string(email));
		if (role != NULL)
			json_object_set_new(body, "role", json_string(role));
		if (status != NULL)
			json_object_set_new(body, "status",
					    json_string(status));
		if (github_id != NULL)
			json_object_set_new(body, "github_com_user_id",
					    strcmp(github_id, "none") == 0
						    ? json_null()
						    : json_integer(gh));
		r = client_json(&c, "PATCH", path, body, &reply, &cause);
		if (r != 0)
			r = cli_fail(cause);
		else
			user_set_print(reply);
		json_decref(body);
		json_decref(reply);
	}
	free(path);
	free(u);
	client_release(&c);
	return r;
}
