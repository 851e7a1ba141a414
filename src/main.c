/*
 * main.c: the taskbox binary's entry point; dispatches to a subcommand.
 *
 * One binary is the agent runtime (`taskbox agent`), the CLI client
 * (`taskbox login`, `taskbox task ...`, see src/cli/), the server, and
 * what an agent runs inside its task: `taskbox mcp` and `taskbox hook`.
 */
#include "common.h"

#include "cli/cli.h"
#include "cli/lint.h"
#include "mcp/mcp.h"
#include "runtime/runtime.h"
#include "server/server-main.h"
#include "server/webhook.h"
#include "ws/sandbox-cli.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: taskbox COMMAND [ARGS...]\n"
		   "\n"
		   "commands:\n"
		   "  agent [options] -- CMD...   run an agent behind an "
		   "AgentAPI-compatible API\n"
		   "  agent format --type T ...   run the message formatter "
		   "on a raw screen diff\n"
		   "  server [--listen ADDR] [--data DIR]  run the Tasks "
		   "server\n"
		   "  login URL [--token TOKEN]   log in to a taskbox server\n"
		   "  task COMMAND ...            create, list, watch, "
		   "attach to tasks\n"
		   "  template push|list|lint ... manage templates\n"
		   "  module push|list|lint ...   manage agent modules\n"
		   "  user create|list ...        manage users (admin)\n"
		   "  token create ...            create an API token\n"
		   "  sandbox run [options] -- CMD  run CMD in an isolated "
		   "workspace\n"
		   "  sandbox check               report the isolation "
		   "available here\n"
		   "  mcp                         MCP server for the agent "
		   "inside a task\n"
		   "  hook EVENT [PAYLOAD]        pass an agent hook to the "
		   "task's runtime\n"
		   "  version                     print the version\n"
		   "\n"
		   "Client commands take --url URL and --token TOKEN (or "
		   "TASKBOX_URL,\n"
		   "TASKBOX_TOKEN); see `taskbox COMMAND --help`.\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "agent") == 0)
		return runtime_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 ||
	    strcmp(argv[1], "--version") == 0) {
		printf("taskbox %s\n", TASKBOX_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if ((strcmp(argv[1], "template") == 0 ||
	     strcmp(argv[1], "module") == 0) &&
	    argc > 2 && strcmp(argv[2], "lint") == 0)
		return lint_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "sandbox") == 0)
		return sandbox_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "mcp") == 0)
		return mcp_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "hook") == 0)
		return hook_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "server") == 0)
		return server_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "webhook-post") == 0) /* spawned by the server */
		return webhook_main(argc - 1, argv + 1);
	if (cli_is_verb(argv[1]))
		return cli_main(argc, argv);
	fprintf(stderr, "taskbox: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
