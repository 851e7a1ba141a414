/*
 * main.c: the taskbox binary's entry point; dispatches to a subcommand.
 *
 * One binary is the agent runtime (`taskbox agent`), and later the
 * server, the MCP server and the CLI.
 */
#include "common.h"

#include "cli/lint.h"
#include "runtime/runtime.h"

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
		   "  template lint FILE...       validate template files\n"
		   "  module lint FILE...         validate agent module files\n"
		   "  version                     print the version\n");
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
	if ((strcmp(argv[1], "template") == 0 ||
	     strcmp(argv[1], "module") == 0) &&
	    argc > 2 && strcmp(argv[2], "lint") == 0)
		return lint_main(argc - 1, argv + 1);
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
	fprintf(stderr, "taskbox: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
