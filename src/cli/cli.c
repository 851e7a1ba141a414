/*
 * cli.c: the CLI's dispatcher, its shared helpers, and the small verbs
 * (login, user, token).
 *
 * Global flags --url and --token may appear anywhere before `--`; they
 * are taken out of argv before the verb parses its own flags. The
 * session (client.h) fills in what the flags and the environment leave
 * open; a saved token is only sent to the server it was saved for.
 */
#include "common.h"

#include <getopt.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/text.h"

static const char *cli_flag_url;
static const char *cli_flag_token;

static const char cli_usage[] =
	"usage: taskbox [--url URL] [--token TOKEN] COMMAND ...\n"
	"\n"
	"client commands:\n"
	"  login URL [--token TOKEN]     log in to a taskbox server\n"
	"  task create|list|status|logs|send|restart|delete|attach ...\n"
	"  template push|list|delete ... manage templates\n"
	"  module push|list ...          manage agent modules\n"
	"  user create|list|delete ...   manage users (admin)\n"
	"  user set|set-token ...        your name, email, GitHub token\n"
	"  user link|unlink github       link your GitHub account\n"
	"  user set-password [USER]      your password (admins: anyone's)\n"
	"  secret set|list|delete ...    your secrets or a template's\n"
	"  provider set|list|delete ...  LLM providers (set, delete: admin)\n"
	"  token create|list|revoke ...  API tokens: make, list, revoke\n"
	"  usage [--group-by X] ...      LLM tokens and cost (admins: all)\n"
	"  price set|list|delete ...     LLM prices (admins set them)\n"
	"  external-auth set|show|delete github  the GitHub OAuth app "
	"(admin)\n"
	"\n"
	"The server and token come from --url/--token, TASKBOX_URL/"
	"TASKBOX_TOKEN,\n"
	"or the session `taskbox login` saved. Run `taskbox COMMAND --help`.\n";

static const struct {
	const char *name;
	int (*fn)(int, char **);
} cli_verbs[] = {
	{"login", cli_login},
	{"user", cli_user},
	{"users", cli_user},
	{"token", cli_token},
	{"tokens", cli_token},
	{"template", cli_template},
	{"templates", cli_template},
	{"module", cli_module},
	{"modules", cli_module},
	{"task", cli_task},
	{"tasks", cli_task},
	{"secret", cli_secret},
	{"secrets", cli_secret},
	{"provider", cli_provider},
	{"providers", cli_provider},
	{"usage", cli_usage_report},
	{"price", cli_price},
	{"prices", cli_price},
	{"external-auth", cli_external_auth},
};

/* Whether main() should hand argv to cli_main(). */
bool
cli_is_verb(const char *name)
{
	if (strncmp(name, "--url", 5) == 0 || strncmp(name, "--token", 7) == 0)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(cli_verbs); i++) {
		if (strcmp(name, cli_verbs[i].name) == 0)
			return true;
	}
	return false;
}

/*
 * Take --url/--token (and their =VALUE forms) out of argv; -1 if bad.
 * After the verb `provider`, --url is the provider's own (the server's
 * goes before the verb there).
 */
static int
cli_global_flags(int *argc, char **argv)
{
	int i = 1, j = 1;
	const char *verb = NULL;

	for (; i < *argc; i++) {
		const char *a = argv[i], **dst = NULL, *v = NULL;
		bool own_url = verb != NULL && (strcmp(verb, "provider") == 0 ||
						strcmp(verb, "providers") == 0);

		if (strcmp(a, "--") == 0)
			break;
		if (own_url && str_starts_with(a, "--url")) {
			argv[j++] = argv[i];
			continue;
		}
		if (verb == NULL && a[0] != '-')
			verb = a;
		if (strcmp(a, "--url") == 0 || strcmp(a, "--token") == 0) {
			dst = a[2] == 'u' ? &cli_flag_url : &cli_flag_token;
			if (i + 1 >= *argc) {
				cli_error("option '%s' needs a value", a);
				return -1;
			}
			v = argv[++i];
		} else if (strncmp(a, "--url=", 6) == 0) {
			dst = &cli_flag_url;
			v = a + 6;
		} else if (strncmp(a, "--token=", 8) == 0) {
			dst = &cli_flag_token;
			v = a + 8;
		}
		if (dst != NULL)
			*dst = v;
		else
			argv[j++] = argv[i];
	}
	for (; i < *argc; i++)
		argv[j++] = argv[i];
	argv[j] = NULL;
	*argc = j;
	return 0;
}

/* Take out the global flags and run the verb. */
int
cli_main(int argc, char **argv)
{
	if (cli_global_flags(&argc, argv) < 0)
		return 2;
	if (argc < 2) {
		fputs(cli_usage, stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(cli_usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cli_verbs); i++) {
		if (strcmp(argv[1], cli_verbs[i].name) == 0)
			return cli_verbs[i].fn(argc - 1, argv + 1);
	}
	return cli_usage_error(cli_usage, "unknown command '%s'", argv[1]);
}

/* ---- shared helpers -------------------------------------------------- */

/* Print `taskbox: MESSAGE` to stderr. */
void
cli_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("taskbox: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Print a cause as an error, free it, and return exit code 1. */
int
cli_fail(char *cause)
{
	cli_error("%s", cause ? cause : "failed");
	free(cause);
	return 1;
}

/* Print a usage error and the usage text; returns exit code 2. */
int
cli_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fputs("taskbox: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	fputs(usage, stderr);
	return 2;
}

/* Resolve the server and token (flags, environment, session) and start c. */
int
cli_connect(struct client *c)
{
	const char *url = cli_flag_url, *token = cli_flag_token;
	char *surl = NULL, *stoken = NULL, *cause = NULL, *a, *b;

	if (url == NULL)
		url = getenv("TASKBOX_URL");
	if (token == NULL)
		token = getenv("TASKBOX_TOKEN");
	if (url != NULL && url[0] == '\0')
		url = NULL;
	if (token != NULL && token[0] == '\0')
		token = NULL;
	if ((url == NULL || token == NULL) &&
	    client_session_load(&surl, &stoken, &cause) < 0)
		return cli_fail(cause);
	if (url == NULL)
		url = surl;
	if (url == NULL) {
		free(stoken);
		cli_error("not logged in: run `taskbox login URL`");
		return 1;
	}
	if (token == NULL && surl != NULL && stoken != NULL) {
		/* The saved token goes only to the server it came from. */
		a = client_url_normalize(url);
		b = client_url_normalize(surl);
		if (strcmp(a, b) == 0)
			token = stoken;
		free(a);
		free(b);
	}
	client_init(c, url, token);
	free(surl);
	free(stoken);
	return 0;
}

/* Build /api/v2/tasks/{user}/{task}SUFFIX from NAME, OWNER/NAME or an id. */
char *
cli_task_path(const char *ref, const char *suffix)
{
	const char *slash = strchr(ref, '/');
	char *owner, *name, *p;

	if (slash != NULL) {
		char *o = xstrndup(ref, (size_t)(slash - ref));

		owner = client_escape(o);
		name = client_escape(slash + 1);
		free(o);
	} else {
		owner = xstrdup("me");
		name = client_escape(ref);
	}
	p = xasprintf("/api/v2/tasks/%s/%s%s", owner, name,
		      suffix ? suffix : "");
	free(owner);
	free(name);
	return p;
}

/* Read all of stdin up to limit bytes. */
char *
cli_read_stdin(size_t limit, char **cause)
{
	struct buf b;
	char chunk[8192];
	ssize_t n;

	buf_init(&b, limit);
	buf_append(&b, "", 0);
	while ((n = read(STDIN_FILENO, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*cause = xasprintf("cannot read stdin: %s",
					   strerror(errno));
			buf_release(&b);
			return NULL;
		}
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			*cause = xasprintf("stdin is longer than %zu bytes",
					   limit);
			buf_release(&b);
			return NULL;
		}
	}
	return buf_steal(&b);
}

/* Format how long ago an RFC 3339 time was, like "5m ago". */
void
cli_age(const char *rfc3339, char *buf, size_t len)
{
	struct tm tm = {0};
	time_t t, now = time(NULL);
	long d;

	if (rfc3339 == NULL ||
	    strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm) == NULL) {
		snprintf(buf, len, "%s", rfc3339 ? rfc3339 : "");
		return;
	}
	t = timegm(&tm);
	d = (long)difftime(now, t);
	if (d < 0)
		d = 0;
	if (d < 60)
		snprintf(buf, len, "%lds ago", d);
	else if (d < 3600)
		snprintf(buf, len, "%ldm ago", d / 60);
	else if (d < 86400)
		snprintf(buf, len, "%ldh ago", d / 3600);
	else
		snprintf(buf, len, "%ldd ago", d / 86400);
}

/* A string member of o, or "" when it is absent or not a string. */
const char *
cli_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* Print j indented to stdout. */
void
cli_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (s == NULL)
		fatal("cannot encode JSON");
	puts(s);
	free(s);
}

/* Start an empty table of ncols columns. */
void
cli_table_init(struct cli_table *t, size_t ncols)
{
	t->ncols = ncols;
	t->nrows = 0;
	t->cells = NULL;
}

/* Append a row, copying its cells. */
void
cli_table_row(struct cli_table *t, const char *const *cols)
{
	t->cells = xreallocarray(t->cells, (t->nrows + 1) * t->ncols,
				 sizeof *t->cells);
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] =
			xstrdup(cols[i] ? cols[i] : "");
	t->nrows++;
}

/* Display columns of a UTF-8 string (one per code point). */
static size_t
cli_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* Print the table with columns padded to their widest cell. */
void
cli_table_print(struct cli_table *t, FILE *f)
{
	size_t *w = xcalloc(t->ncols, sizeof *w);

	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++)
			w[c] = MAX(w[c], cli_width(t->cells[r * t->ncols + c]));
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c + 1 == t->ncols) {
				fprintf(f, "%s\n", s);
				break;
			}
			fprintf(f, "%s%*s", s, (int)(w[c] - cli_width(s) + 2),
				"");
		}
	}
	free(w);
}

/* Free the table's cells. */
void
cli_table_release(struct cli_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
}

/* ---- login ----------------------------------------------------------- */

static const char login_usage[] =
	"usage: taskbox login URL [--token TOKEN]\n"
	"\n"
	"Check the token against the server and save both in\n"
	"$XDG_CONFIG_HOME/taskbox/session.json (mode 0600). Without --token\n"
	"the token is read from stdin (not echoed on a terminal).\n";

/* Read one line from stdin, without echo when it is a terminal. */
char *
cli_read_secret(const char *prompt)
{
	struct termios old, raw;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (tty) {
		fputs(prompt, stderr);
		raw = old;
		raw.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
	}
	n = getline(&line, &cap, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	str_trim(line);
	return line;
}

/* `taskbox login URL`: check a token and save the session. */
int
cli_login(int argc, char **argv)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct client c;
	char *token, *cause = NULL;
	json_t *me = NULL;
	int o, r;

	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (o == 'h') {
			fputs(login_usage, stdout);
			return 0;
		}
		return cli_usage_error(login_usage, "unknown option '%s'",
				       argv[optind - 1]);
	}
	if (argc - optind != 1)
		return cli_usage_error(login_usage, "expected one URL");
	if (cli_flag_token != NULL)
		token = xstrdup(cli_flag_token);
	else
		token = cli_read_secret("token: ");
	if (token == NULL || token[0] == '\0') {
		free(token);
		cli_error("no token given: pass --token TOKEN or type it on "
			  "stdin");
		return 1;
	}
	client_init(&c, argv[optind], token);
	r = client_json(&c, "GET", "/api/v2/users/me", NULL, &me, &cause);
	if (r != 0) {
		r = cli_fail(cause);
		goto out;
	}
	if (client_session_save(c.url, token, &cause) < 0) {
		r = cli_fail(cause);
		goto out;
	}
	printf("logged in to %s as %s\n", c.url, cli_str(me, "username"));
out:
	json_decref(me);
	client_release(&c);
	free(token);
	return r;
}

/* ---- user, token ----------------------------------------------------- */

static const char user_usage[] =
	"usage: taskbox user create NAME [--role admin|member|task-creator]\n"
	"                                [--password]\n"
	"                                             create a user; prints "
	"its token once;\n"
	"                                             --password: typed "
	"twice, or stdin\n"
	"       taskbox user list [-o table|json]     list users (members: "
	"themself)\n"
	"       taskbox user delete NAME [--delete-tasks]\n"
	"                                             delete a user (admin); "
	"with\n"
	"                                             --delete-tasks their "
	"tasks too\n"
	"       taskbox user set --name N --email E   your git identity\n"
	"       taskbox user set USER --role R | --suspend | --activate |\n"
	"                         --github-id N|none  (admin)\n"
	"       taskbox user set-token github         link a GitHub token\n"
	"       taskbox user link|unlink github       link your GitHub "
	"account\n"
	"       taskbox user set-password [USER]      set a password\n";

/* Parse `-o table|json`; returns true for json, -1 on a bad value. */
static int
cli_output_flag(const char *v)
{
	if (strcmp(v, "json") == 0)
		return 1;
	if (strcmp(v, "table") == 0)
		return 0;
	return -1;
}

/* `taskbox user list`. */
static int
cli_user_list(struct client *c, bool json)
{
	json_t *reply = NULL, *users, *u;
	struct cli_table t;
	char *cause = NULL;
	size_t i;

	if (client_json(c, "GET", "/api/v2/users", NULL, &reply, &cause))
		return cli_fail(cause);
	users = json_object_get(reply, "users");
	if (json) {
		cli_print_json(users ? users : reply);
		json_decref(reply);
		return 0;
	}
	cli_table_init(&t, 4);
	cli_table_row(
		&t, (const char *[]){"USERNAME", "ROLE", "GITHUB", "CREATED"});
	json_array_foreach(users, i, u)
	{
		const json_t *gh = json_object_get(u, "github_com_user_id");
		char age[64], github[64] = "";

		/* the login when known, else the linked id */
		if (*cli_str(u, "github_login") != '\0')
			snprintf(github, sizeof github, "%s",
				 cli_str(u, "github_login"));
		else if (json_is_integer(gh))
			snprintf(github, sizeof github, "%" JSON_INTEGER_FORMAT,
				 json_integer_value(gh));
		cli_age(cli_str(u, "created_at"), age, sizeof age);
		cli_table_row(&t, (const char *[]){cli_str(u, "username"),
						   cli_str(u, "role"), github,
						   age});
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(reply);
	return 0;
}

int
cli_delete_named(struct client *c, const char *kind, const char *what,
		 const char *name, const char *query)
{
	char *esc = client_escape(name), *cause = NULL;
	char *path = xasprintf("/api/v2/%s/%s%s", kind, esc, query);
	int r = client_json(c, "DELETE", path, NULL, NULL, &cause);

	free(path);
	free(esc);
	if (r)
		return cli_fail(cause);
	printf("deleted %s %s\n", what, name);
	return 0;
}

/* DELETE /api/v2/users/NAME[?delete_tasks=true]. */
static int
cli_user_delete(struct client *c, const char *name, bool tasks)
{
	return cli_delete_named(c, "users", "user", name,
				tasks ? "?delete_tasks=true" : "");
}

/* `taskbox user create|list|delete`. */
int
cli_user(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"admin", no_argument, NULL, 'a'},
		{"output", required_argument, NULL, 'o'},
		{"delete-tasks", no_argument, NULL, 'd'},
		{"role", required_argument, NULL, 'r'},
		{"password", no_argument, NULL, 'p'},
		{NULL, 0, NULL, 0}};
	bool admin = false, delete_tasks = false, output = false;
	bool password = false;
	const char *role = NULL;
	char *pw;
	int json = 0, o, r;
	struct client c;
	json_t *body, *reply = NULL;
	char *cause = NULL;
	const char *sub;

	if (argc > 1 &&
	    (strcmp(argv[1], "set") == 0 || strcmp(argv[1], "set-token") == 0 ||
	     strcmp(argv[1], "set-password") == 0))
		return cli_user_set(argc - 1, argv + 1);
	if (argc > 1 &&
	    (strcmp(argv[1], "link") == 0 || strcmp(argv[1], "unlink") == 0))
		return cli_user_link(argc - 1, argv + 1);
	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			fputs(user_usage, stdout);
			return 0;
		case 'a':
			admin = true;
			break;
		case 'd':
			delete_tasks = true;
			break;
		case 'r':
			role = optarg;
			break;
		case 'p':
			password = true;
			break;
		case 'o':
			output = true;
			json = cli_output_flag(optarg);
			if (json < 0)
				return cli_usage_error(
					user_usage, "-o takes table or json");
			break;
		case ':':
			return cli_usage_error(user_usage,
					       "option '%s' needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error(user_usage,
					       "unknown option '%s'",
					       argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error(user_usage, "expected create or list");
	sub = argv[optind++];
	if (strcmp(sub, "list") == 0 || strcmp(sub, "ls") == 0) {
		if (optind != argc)
			return cli_usage_error(user_usage, "unexpected '%s'",
					       argv[optind]);
		if (admin || delete_tasks)
			return cli_usage_error(
				user_usage, "%s does not go with list",
				admin ? "--admin" : "--delete-tasks");
		if (cli_connect(&c))
			return 1;
		r = cli_user_list(&c, json);
		client_release(&c);
		return r;
	}
	if (strcmp(sub, "delete") == 0 || strcmp(sub, "rm") == 0) {
		if (argc - optind != 1)
			return cli_usage_error(user_usage, "expected one NAME");
		if (admin || output)
			return cli_usage_error(user_usage,
					       "%s does not go with delete",
					       admin ? "--admin" : "-o");
		if (cli_connect(&c))
			return 1;
		r = cli_user_delete(&c, argv[optind], delete_tasks);
		client_release(&c);
		return r;
	}
	if (strcmp(sub, "create") != 0)
		return cli_usage_error(user_usage, "unknown user command '%s'",
				       sub);
	if (argc - optind != 1)
		return cli_usage_error(user_usage, "expected one NAME");
	if (delete_tasks)
		return cli_usage_error(user_usage,
				       "--delete-tasks goes with delete");
	if (admin && role != NULL && strcmp(role, "admin") != 0)
		return cli_usage_error(user_usage,
				       "--admin and --role %s disagree", role);
	if (cli_connect(&c))
		return 1;
	body = json_pack("{s:s, s:s}", "username", argv[optind], "role",
			 role	 ? role
			 : admin ? "admin"
				 : "member");
	if (password) {
		if ((pw = cli_read_password("password", &cause)) == NULL) {
			json_decref(body);
			client_release(&c);
			return cli_fail(cause);
		}
		json_object_set_new(body, "password", json_string(pw));
		explicit_bzero(pw, strlen(pw));
		free(pw);
		if (json_object_get(body, "password") == NULL) {
			json_decref(body);
			client_release(&c);
			cli_error("the password is not valid UTF-8");
			return 1;
		}
	}
	r = client_json(&c, "POST", "/api/v2/users", body, &reply, &cause);
	if (password)
		explicit_bzero(
			(char *)json_string_value(
				json_object_get(body, "password")),
			json_string_length(json_object_get(body, "password")));
	json_decref(body);
	if (r != 0) {
		r = cli_fail(cause);
	} else if (json) {
		cli_print_json(reply);
	} else {
		fprintf(stderr, "created %s %s; its token (shown only once):\n",
			cli_str(reply, "role"), cli_str(reply, "username"));
		printf("%s\n", cli_str(reply, "token"));
	}
	json_decref(reply);
	client_release(&c);
	return r;
}

static const char token_usage[] =
	"usage: taskbox token create [--user NAME] [--name NAME] "
	"[--lifetime N[smhdw]]\n"
	"       taskbox token list [--user NAME] [-o table|json]\n"
	"       taskbox token revoke ID [--user NAME]\n"
	"\n"
	"Create an API token for yourself (or, as an admin, for NAME) and\n"
	"print it; it is shown only once. --lifetime makes it expire (30d,\n"
	"12h, 3600; none by default). list shows ids, names, last use and\n"
	"expiry, never a token; revoke deletes one (and the browser\n"
	"sessions made from it).\n";

/* Parse N[smhdw] into seconds (1 s .. 10 years); -1 if it is not one. */
static long long
cli_parse_lifetime(const char *v)
{
	static const struct {
		char unit;
		long long secs;
	} units[] = {
		{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800}};
	size_t n = strlen(v);
	long long mult = 1;
	char *num;
	long val;
	int r;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (v[n - 1] == units[i].unit) {
			mult = units[i].secs;
			n--;
		}
	num = xstrndup(v, n);
	r = parse_long(num, 1, 10L * 365 * 86400, &val);
	free(num);
	if (r < 0 || val * mult > 10LL * 365 * 86400)
		return -1;
	return val * mult;
}

/* `taskbox token list`. */
static int
cli_token_list(struct client *c, const char *path, bool json)
{
	json_t *reply = NULL, *tokens, *tk;
	struct cli_table t;
	char *cause = NULL;
	size_t i;

	if (client_json(c, "GET", path, NULL, &reply, &cause))
		return cli_fail(cause);
	tokens = json_object_get(reply, "tokens");
	if (json) {
		cli_print_json(tokens ? tokens : reply);
		json_decref(reply);
		return 0;
	}
	cli_table_init(&t, 5);
	cli_table_row(&t, (const char *[]){"ID", "NAME", "CREATED", "LAST USED",
					   "EXPIRES"});
	json_array_foreach(tokens, i, tk)
	{
		char created[64], used[64];
		const char *exp = cli_str(tk, "expires_at");

		cli_age(cli_str(tk, "created_at"), created, sizeof created);
		if (*cli_str(tk, "last_used_at") != '\0')
			cli_age(cli_str(tk, "last_used_at"), used, sizeof used);
		else
			snprintf(used, sizeof used, "never");
		if (json_is_true(json_object_get(tk, "expired")))
			exp = "expired";
		else if (*exp == '\0')
			exp = "never";
		cli_table_row(&t, (const char *[]){cli_str(tk, "id"),
						   cli_str(tk, "name"), created,
						   used, exp});
	}
	cli_table_print(&t, stdout);
	cli_table_release(&t);
	json_decref(reply);
	return 0;
}

/* `taskbox token create|list|revoke`. */
int
cli_token(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"user", required_argument, NULL, 'u'},
		{"name", required_argument, NULL, 'n'},
		{"lifetime", required_argument, NULL, 'l'},
		{"output", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0}};
	const char *user = "me", *name = NULL, *sub;
	long long lifetime = 0;
	struct client c;
	json_t *body, *reply = NULL;
	char *cause = NULL, *u, *path, *id;
	int o, r, json = 0;

	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			fputs(token_usage, stdout);
			return 0;
		case 'u':
			user = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'l':
			lifetime = cli_parse_lifetime(optarg);
			if (lifetime < 0)
				return cli_usage_error(
					token_usage,
					"--lifetime wants N[smhdw] between 1 "
					"second and 10 years, not '%s'",
					optarg);
			break;
		case 'o':
			json = cli_output_flag(optarg);
			if (json < 0)
				return cli_usage_error(
					token_usage, "-o takes table or json");
			break;
		case ':':
			return cli_usage_error(token_usage,
					       "option '%s' needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error(token_usage,
					       "unknown option '%s'",
					       argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error(token_usage,
				       "expected create, list or revoke");
	sub = argv[optind++];
	if (strcmp(sub, "ls") == 0)
		sub = "list";
	if (strcmp(sub, "create") != 0 && strcmp(sub, "list") != 0 &&
	    strcmp(sub, "revoke") != 0)
		return cli_usage_error(token_usage,
				       "unknown token command '%s'", sub);
	if (argc - optind != (strcmp(sub, "revoke") == 0 ? 1 : 0))
		return cli_usage_error(token_usage,
				       strcmp(sub, "revoke") == 0
					       ? "expected one token ID"
					       : "unexpected arguments");
	if (cli_connect(&c))
		return 1;
	u = client_escape(user);
	path = xasprintf("/api/v2/users/%s/tokens", u);
	if (strcmp(sub, "list") == 0) {
		r = cli_token_list(&c, path, json);
	} else if (strcmp(sub, "revoke") == 0) {
		char *full;

		id = client_escape(argv[optind]);
		full = xasprintf("%s/%s", path, id);
		r = client_json(&c, "DELETE", full, NULL, &reply, &cause);
		if (r != 0)
			r = cli_fail(cause);
		else
			fprintf(stderr, "revoked token %s\n", argv[optind]);
		json_decref(reply);
		free(full);
		free(id);
	} else {
		body = name ? json_pack("{s:s}", "name", name) : json_object();
		if (lifetime > 0)
			json_object_set_new(body, "lifetime",
					    json_integer(lifetime));
		r = client_json(&c, "POST", path, body, &reply, &cause);
		if (r != 0)
			r = cli_fail(cause);
		else if (json)
			cli_print_json(reply);
		else
			printf("%s\n", cli_str(reply, "token"));
		json_decref(reply);
		json_decref(body);
	}
	free(path);
	free(u);
	client_release(&c);
	return r;
}
