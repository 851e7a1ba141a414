/*
 * fuzz-mcp.c: libFuzzer over `taskbox mcp` (src/mcp/mcp.c), the JSON-RPC
 * server an agent talks to on stdin, and its client of the runtime
 * (src/mcp/rtcall.c).
 *
 * The input is stdin (lines of JSON-RPC), then optionally a NUL and the
 * runtime's answer. mcp_main runs in this process with stdin on a memfd
 * and stdout on /dev/null. A thread plays the runtime on a unix socket in
 * a private temporary directory: it reads each request whole and answers
 * every one with the answer part of the input (nothing without a NUL), so
 * report_task and task_info see good, bad and malformed replies. No
 * network, nothing written outside the directory.
 */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mcp/mcp.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], sock_path[96];
static int saved_stdin = -1, saved_stdout = -1, lfd = -1;
/* the runtime's answer for the current input (set before mcp_main) */
static const uint8_t *answer;
static size_t answer_len;

/* Remove the socket and the private directory at exit. */
static void
fuzz_mcp_cleanup(void)
{
	unlink(sock_path);
	rmdir(dir);
}

/* Read a whole request (head and Content-Length body) from fd. */
static void
fuzz_mcp_read_request(int fd)
{
	char req[16384];
	size_t len = 0;
	const char *end = NULL, *cl;

	while (len < sizeof req - 1) {
		ssize_t n = read(fd, req + len, sizeof req - 1 - len);

		if (n <= 0)
			return;
		len += (size_t)n;
		req[len] = '\0';
		if (end == NULL && (end = strstr(req, "\r\n\r\n")) == NULL)
			continue;
		cl = strstr(req, "Content-Length: ");
		if (cl == NULL ||
		    end + 4 + strtoul(cl + 16, NULL, 10) <= req + len)
			return;
	}
}

/* The fake runtime: one connection at a time, each answered alike. */
static void *
fuzz_mcp_runtime(void *arg UNUSED)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			continue;
		fuzz_mcp_read_request(fd);
		if (answer_len > 0 &&
		    write_all(fd, (const char *)answer, answer_len) < 0)
			fatal("fake runtime: %s", strerror(errno));
		close(fd);
	}
	return NULL;
}

/* A private directory with the fake runtime's socket. */
int
LLVMFuzzerInitialize(int *argc UNUSED, char ***argv UNUSED)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *tmp = getenv("TMPDIR");
	pthread_t th;

	snprintf(dir, sizeof dir, "%s/fuzz-mcp.XXXXXX",
		 tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp: %s", strerror(errno));
	snprintf(sock_path, sizeof sock_path, "%s/agent.sock", dir);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(lfd, 4) < 0)
		fatal("cannot listen on '%s': %s", sock_path, strerror(errno));
	atexit(fuzz_mcp_cleanup);
	if (pthread_create(&th, NULL, fuzz_mcp_runtime, NULL) != 0)
		fatal("cannot start the fake runtime");
	setenv("TASKBOX_RUNTIME_SOCKET", sock_path, 1);
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
	const uint8_t *nul = memchr(data, 0, size);
	size_t n = nul ? (size_t)(nul - data) : size;
	int in = memfd_create("fuzz-mcp", MFD_CLOEXEC);
	int out = open("/dev/null", O_WRONLY | O_CLOEXEC);

	answer = nul ? nul + 1 : NULL;
	answer_len = nul ? size - n - 1 : 0;
	if (in < 0 || out < 0 || write_all(in, data, n) < 0 ||
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
