/*
 * fuzz-mcp.c: libFuzzer over `taskbox mcp` (src/mcp/mcp.c), the JSON-RPC
 * server an agent talks to on stdin: the input is its whole stdin (lines
 * of JSON-RPC), answered on stdout.
 *
 * mcp_main runs in this process with stdin on a memfd holding the input
 * and stdout on /dev/null. The runtime socket is a path in a private
 * temporary directory where nothing listens, so tools/call takes the
 * "cannot reach the runtime" path without any network.
 */
#include "common.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mcp/mcp.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static int saved_stdin = -1, saved_stdout = -1;

/* Remove the private directory at exit. */
static void
fuzz_mcp_cleanup(void)
{
	rmdir(dir);
}

/* A private directory for the (absent) runtime socket. */
int
LLVMFuzzerInitialize(int *argc UNUSED, char ***argv UNUSED)
{
	const char *tmp = getenv("TMPDIR");
	char sock[96];

	snprintf(dir, sizeof dir, "%s/fuzz-mcp.XXXXXX",
		 tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp: %s", strerror(errno));
	atexit(fuzz_mcp_cleanup);
	snprintf(sock, sizeof sock, "%s/agent.sock", dir);
	setenv("TASKBOX_RUNTIME_SOCKET", sock, 1);
	setenv("TASKBOX_TASK_ID", "fuzz", 1);
	setenv("TASKBOX_TASK_NAME", "fuzz-task", 1);
	saved_stdin = dup(STDIN_FILENO);
	saved_stdout = dup(STDOUT_FILENO);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[] = {"mcp", NULL};
	int in = memfd_create("fuzz-mcp", MFD_CLOEXEC);
	int out = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (in < 0 || out < 0 || write_all(in, data, size) < 0 ||
	    lseek(in, 0, SEEK_SET) < 0)
		fatal("cannot set up stdin: %s", strerror(errno));
	dup2(in, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	close(in);
	close(out);
	mcp_main(1, argv);
	dup2(saved_stdin, STDIN_FILENO);
	dup2(saved_stdout, STDOUT_FILENO);
	return 0;
}
