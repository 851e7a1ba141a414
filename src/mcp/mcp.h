/*
 * mcp.h: the commands an agent runs inside its workspace to talk to the
 * runtime that hosts it: `taskbox mcp` (an MCP server over stdio with
 * report_task and task_info) and `taskbox hook EVENT` (agent hooks).
 * Both reach the runtime over its unix socket, $TASKBOX_RUNTIME_SOCKET
 * or MCP_DEFAULT_SOCKET, with a small blocking HTTP/1.0 client.
 */
#ifndef TASKBOX_MCP_H
#define TASKBOX_MCP_H

#define MCP_DEFAULT_SOCKET "/run/taskbox/agent.sock"
#define MCP_MAX_REPLY	   (1u << 20) /* bytes of a runtime reply */

/* `taskbox mcp`; returns the process exit code. */
int mcp_main(int argc, char **argv);
/* `taskbox hook EVENT [PAYLOAD]`; returns 0 whatever happens. */
int hook_main(int argc, char **argv);

/* The runtime's socket path: $TASKBOX_RUNTIME_SOCKET or the default. */
const char *rtcall_socket(void);
/*
 * Send one request (body: JSON or NULL) to the runtime and read the whole
 * reply within timeout_ms. Returns 0 with *status and *reply (a new
 * NUL-terminated body) set, or a negative errno with *cause set.
 */
int rtcall(const char *method, const char *path, const char *body,
	   int timeout_ms, int *status, char **reply, char **cause);
/* The detail of a problem+json reply, or the body itself; a new string. */
char *rtcall_detail(const char *reply);

#endif
