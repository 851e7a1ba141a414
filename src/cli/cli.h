/*
 * cli.h: the `taskbox` client verbs (login, user, token, template,
 * module, task) and the helpers they share.
 *
 * Each verb parses its flags, calls the server through client.h and
 * prints. Exit codes: 0 success, 1 a failure (printed as `taskbox: ...`),
 * 2 a usage error.
 */
#ifndef TASKBOX_CLI_CLI_H
#define TASKBOX_CLI_CLI_H

#include <jansson.h>

#include "cli/client.h"

/* Whether name is a top-level verb handled by cli_main. */
bool cli_is_verb(const char *name);

/* Run the CLI: argv[0] is the program, argv[1] the verb or a global flag. */
int cli_main(int argc, char **argv);

/* ---- shared by the verb files ---------------------------------------- */

/* Print `taskbox: ...` to stderr. */
void cli_error(const char *fmt, ...) PRINTFLIKE(1, 2);

/* Print cause as an error and free it; returns 1 (the exit code). */
int cli_fail(char *cause);

/* Print a usage error and the usage text to stderr; returns 2. */
int cli_usage_error(const char *usage, const char *fmt, ...) PRINTFLIKE(2, 3);

/* Connect c to the session's server; 0, or 1 after printing why not. */
int cli_connect(struct client *c);

/*
 * Split a task reference (NAME, OWNER/NAME or an id) into the
 * /api/v2/tasks/{user}/{task} path plus suffix (e.g. "/logs").
 */
char *cli_task_path(const char *ref, const char *suffix);
/* DELETE /api/v2/KIND/NAME (query, e.g. "?force=true", or ""), then say
 * "deleted WHAT NAME"; the exit code. */
int cli_delete_named(struct client *c, const char *kind, const char *what,
		     const char *name, const char *query);

/* Read one line from stdin, without echo when it is a terminal (prompt
 * on stderr then); NULL at end of input. */
char *cli_read_secret(const char *prompt);

/* Read all of stdin (up to limit bytes); NULL with *cause past it. */
char *cli_read_stdin(size_t limit, char **cause);

/* "5m ago" for an RFC 3339 time, into buf. */
void cli_age(const char *rfc3339, char *buf, size_t len);

/* A string member of o, or "" when absent. */
const char *cli_str(json_t *o, const char *key);

/* Print j pretty to stdout. */
void cli_print_json(json_t *j);

/* A text table printed with aligned columns. */
struct cli_table {
	size_t ncols;
	size_t nrows;
	char **cells; /* nrows * ncols, owned */
};

void cli_table_init(struct cli_table *t, size_t ncols);
/* Append a row of ncols strings (copied; NULL is ""). */
void cli_table_row(struct cli_table *t, const char *const *cols);
void cli_table_print(struct cli_table *t, FILE *f);
void cli_table_release(struct cli_table *t);

/* Verb entry points; argv[0] is the verb's name. */
int cli_login(int argc, char **argv);
int cli_user(int argc, char **argv);
int cli_token(int argc, char **argv);
int cli_template(int argc, char **argv);
int cli_module(int argc, char **argv);
int cli_task(int argc, char **argv);
int cli_secret(int argc, char **argv);
int cli_provider(int argc, char **argv);
/* extauth.c: `taskbox external-auth ...`; `taskbox user link|unlink
 * github` (argv[0] is link or unlink). */
int cli_external_auth(int argc, char **argv);
int cli_user_link(int argc, char **argv);
/* A password typed twice without echo on a terminal, else one line of
 * stdin (new string, the caller wipes it), or NULL with *cause; what
 * names it in the prompt. */
char *cli_read_password(const char *what, char **cause);
/* `taskbox user set|set-token|set-password ...`; argv[0] is the verb. */
int cli_user_set(int argc, char **argv);
int cli_task_attach(struct client *c, const char *ref);
/* usage.c: `taskbox usage`, `taskbox price`, `taskbox task usage TASK`
 * (json: print the reply as it is). */
int cli_usage_report(int argc, char **argv);
int cli_price(int argc, char **argv);
int cli_task_usage(struct client *c, const char *ref, bool json);
/* `taskbox user set USER --budget-usd X --budget-tokens N` (either NULL:
 * kept; "none": no limit); the exit code. */
int cli_user_budget(struct client *c, const char *user, const char *usd,
		    const char *tokens);

#endif
