/*
 * hook.c: `taskbox hook EVENT [PAYLOAD]`, run by an agent's own hooks.
 *
 * Claude Code and Gemini CLI hooks write a JSON payload on stdin; Codex's
 * notify program gets it as the last argument. Either way the payload
 * (at most HOOK_MAX_PAYLOAD bytes; not JSON is passed on as a string)
 * goes to the runtime as POST /internal/hook {event, payload}. A hook
 * must never break the agent: the exit status is always 0, nothing is
 * written on stdout (Claude adds a UserPromptSubmit hook's stdout to the
 * prompt) and a failure is one line on stderr.
 */
#include "common.h"

#include <jansson.h>
#include <signal.h>
#include <unistd.h>

#include "core/text.h"
#include "cli/cli.h"
#include "mcp.h"

#define HOOK_MAX_PAYLOAD (1u << 20)
#define HOOK_TIMEOUT	 3000 /* ms: hooks block the agent's turn */

/* Read the payload from stdin, bounded; "" on a terminal (no payload). */
static char *
hook_read_stdin(char **cause)
{
	if (isatty(STDIN_FILENO))
		return xstrdup("");
	return cli_read_stdin(HOOK_MAX_PAYLOAD, cause);
}

/* The payload as JSON: parsed, a string when not JSON, null when empty. */
static json_t *
hook_payload(const char *raw)
{
	json_t *j;
	char *s = xstrdup(raw);

	str_trim(s);
	if (*s == '\0') {
		free(s);
		return json_null();
	}
	j = json_loads(s, JSON_DECODE_ANY, NULL);
	if (j == NULL)
		j = json_stringn(s, strlen(s));
	free(s);
	/* jansson refuses invalid UTF-8 in a string: drop such payloads */
	return j ? j : json_null();
}

int
hook_main(int argc, char **argv)
{
	const char *event = argc > 1 ? argv[1] : NULL;
	char *raw = NULL, *cause = NULL, *body, *reply = NULL, *detail;
	json_t *req;
	int status = 0;

	if (event == NULL || strcmp(event, "--help") == 0 ||
	    strcmp(event, "-h") == 0 || argc > 3) {
		fprintf(stderr,
			"usage: taskbox hook EVENT [PAYLOAD]\n"
			"\n"
			"Pass an agent hook to the task's runtime at "
			"$TASKBOX_RUNTIME_SOCKET\n(default %s). EVENT: "
			"session-start, user-prompt-submit,\nstop, "
			"notification, codex-notify or any other name. The\n"
			"payload is read from stdin unless given as an "
			"argument.\nAlways exits 0.\n",
			MCP_DEFAULT_SOCKET);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3)
		raw = xstrdup(argv[2]);
	else if ((raw = hook_read_stdin(&cause)) == NULL) {
		fprintf(stderr, "taskbox hook %s: %s; sent without it\n", event,
			cause);
		free(cause);
		raw = xstrdup("");
	}
	req = json_pack("{s:s, s:o}", "event", event, "payload",
			hook_payload(raw));
	free(raw);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (body == NULL) {
		fprintf(stderr, "taskbox hook: cannot encode the event\n");
		return 0;
	}
	if (rtcall("POST", "/internal/hook", body, HOOK_TIMEOUT, &status,
		   &reply, &cause) < 0) {
		fprintf(stderr, "taskbox hook %s: %s\n", event, cause);
		free(cause);
	} else if (status != 200) {
		detail = rtcall_detail(reply);
		fprintf(stderr,
			"taskbox hook %s: the runtime answered %d: %s\n", event,
			status, detail);
		free(detail);
	}
	free(reply);
	free(body);
	return 0;
}
