/*
 * sandbox-cli.h: the `taskbox sandbox` subcommand (run, check, bench).
 */
#ifndef TASKBOX_WS_SANDBOX_CLI_H
#define TASKBOX_WS_SANDBOX_CLI_H

/* Entry point; argv[0] is "sandbox". Returns the process exit code. */
int sandbox_main(int argc, char **argv);

#endif
