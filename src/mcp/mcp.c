/*
 * mcp.c: `taskbox mcp`, the MCP server an agent starts inside its task.
 *
 * Transport: stdio, one JSON-RPC 2.0 message per line (at most
 * MCP_MAX_LINE bytes), no batches. State: whether initialize was
 * answered, and whether the runtime was told that the agent has our
 * tools (one `mcp-ready` hook: after the first tools/list answer, or
 * MCP_LIST_GRACE ms after notifications/initialized when the agent lists
 * no tools by then; a runtime started with --wait-mcp holds the initial
 * prompt for it; best effort, never an error of the session). Tools:
 * report_task (POST /internal/report on the runtime, which turns it into a
 * task_report event) and task_info (the task's id and name from the environment
 * plus the runtime's /status). The tool list is kept small on purpose: every
 * byte of it is in the model's context on every turn.
 */
#include "common.h"

#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "core/buf.h"
#include "mcp.h"

#define MCP_MAX_LINE (1u << 20)
#define MCP_TIMEOUT  5000 /* ms for one call to the runtime */
/* ms after notifications/initialized to say ready without a tools/list */
#define MCP_LIST_GRACE	  3000
#define MCP_READY_TIMEOUT 2000 /* ms for the mcp-ready hook */

#define RPC_PARSE_ERROR	     -32700
#define RPC_INVALID_REQUEST  -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS   -32602

/* Protocol versions we speak, newest first. */
static const char *const mcp_versions[] = {"2025-06-18", "2025-03-26",
					   "2024-11-05", NULL};

static const char mcp_instructions[] =
	"Use report_task to keep the user watching this task informed of "
	"your progress.";

/* The tools/list result; short descriptions keep the context small. */
static const char mcp_tools_json[] =
	"{\"tools\": ["
	"{\"name\": \"report_task\","
	" \"description\": \"Tell the user watching this task what you are "
	"doing. Call it when you start a step, finish the task or get "
	"blocked.\","
	" \"inputSchema\": {\"type\": \"object\", \"properties\": {"
	"  \"summary\": {\"type\": \"string\", \"maxLength\": 160,"
	"   \"description\": \"One line, at most 160 characters\"},"
	"  \"link\": {\"type\": \"string\","
	"   \"description\": \"URL of a result, such as a pull request\"},"
	"  \"state\": {\"type\": \"string\","
	"   \"enum\": [\"working\", \"idle\", \"failure\", \"complete\"],"
	"   \"description\": \"complete or failure once the task is "
	"done\"}},"
	" \"required\": [\"summary\"], \"additionalProperties\": false}},"
	"{\"name\": \"task_info\","
	" \"description\": \"Get this task's id, name and the agent's "
	"current status.\","
	" \"inputSchema\": {\"type\": \"object\", \"properties\": {}},"
	" \"annotations\": {\"readOnlyHint\": true}}"
	"]}";

struct mcp {
	bool initialized;
	bool listed;	    /* tools/list answered: tell the runtime */
	bool announced;	    /* the runtime was told (or could not be) */
	uint64_t ready_due; /* tell it then (0: not yet initialized) */
	json_t *tools;	    /* the tools/list result */
};

/* Write one message as a line on stdout; exits when stdout is gone. */
static void
mcp_write(json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);

	json_decref(msg);
	if (s == NULL)
		fatal("cannot encode a JSON-RPC message");
	if (write_all(STDOUT_FILENO, s, strlen(s)) < 0 ||
	    write_all(STDOUT_FILENO, "\n", 1) < 0) {
		fprintf(stderr, "taskbox mcp: stdout: %s\n", strerror(errno));
		exit(1);
	}
	free(s);
}

/* A JSON-RPC error response; takes a reference to id (NULL: null). */
static json_t *PRINTFLIKE(3, 4)
	mcp_error(json_t *id, int code, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	json_t *r;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	r = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
		      id ? id : json_null(), "error", "code", code, "message",
		      msg);
	free(msg);
	return r;
}

/* A JSON-RPC result response; takes ownership of result. */
static json_t *
mcp_result(json_t *id, json_t *result)
{
	return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id,
			 "result", result);
}

/* A tools/call result holding one text; isError when error. */
static json_t *
mcp_tool_text(const char *text, bool error)
{
	json_t *r = json_pack("{s:[{s:s, s:s}]}", "content", "type", "text",
			      "text", text);

	if (error)
		json_object_set_new(r, "isError", json_true());
	return r;
}

/* initialize: answer the client's version if we speak it, else ours. */
static json_t *
mcp_initialize(struct mcp *m, json_t *id, json_t *params)
{
	const char *want =
		json_string_value(json_object_get(params, "protocolVersion"));
	const char *version = mcp_versions[0];

	if (want == NULL)
		return mcp_error(id, RPC_INVALID_PARAMS,
				 "initialize: params.protocolVersion must be "
				 "a string");
	for (size_t i = 0; mcp_versions[i] != NULL; i++) {
		if (strcmp(want, mcp_versions[i]) == 0)
			version = mcp_versions[i];
	}
	m->initialized = true;
	return mcp_result(id,
			  json_pack("{s:s, s:{s:{}}, s:{s:s, s:s}, s:s}",
				    "protocolVersion", version, "capabilities",
				    "tools", "serverInfo", "name", "taskbox",
				    "version", TASKBOX_VERSION, "instructions",
				    mcp_instructions));
}

/* report_task: forward the arguments to the runtime as they are. */
static json_t *
mcp_report_task(json_t *args)
{
	char *body = json_dumps(args, JSON_COMPACT), *reply = NULL;
	char *cause = NULL, *detail, *text;
	int status = 0;
	json_t *r;

	if (body == NULL)
		fatal("cannot encode report_task arguments");
	if (rtcall("POST", "/internal/report", body, MCP_TIMEOUT, &status,
		   &reply, &cause) < 0) {
		text = xasprintf("cannot report: %s", cause);
		r = mcp_tool_text(text, true);
		free(text);
		free(cause);
		free(body);
		return r;
	}
	free(body);
	if (status == 200) {
		free(reply);
		return mcp_tool_text("reported", false);
	}
	detail = rtcall_detail(reply);
	if (status == 422)
		text = xasprintf("invalid arguments: %s", detail);
	else
		text = xasprintf("the runtime refused the report (%d): %s",
				 status, detail);
	r = mcp_tool_text(text, true);
	free(text);
	free(detail);
	free(reply);
	return r;
}

/* task_info: id and name from our environment, the runtime's /status. */
static json_t *
mcp_task_info(void)
{
	const char *id = getenv("TASKBOX_TASK_ID");
	const char *name = getenv("TASKBOX_TASK_NAME");
	char *reply = NULL, *cause = NULL, *text;
	json_t *info, *st = NULL, *r;
	int status = 0;

	info = json_pack("{s:s?, s:s?}", "id", id, "name", name);
	if (rtcall("GET", "/status", NULL, MCP_TIMEOUT, &status, &reply,
		   &cause) < 0) {
		json_object_set_new(info, "status_error", json_string(cause));
		free(cause);
	} else if (status != 200 || (st = json_loads(reply, 0, NULL)) == NULL) {
		json_object_set_new(
			info, "status_error",
			json_string("the runtime's /status failed"));
	} else {
		json_object_set_new(info, "status", st);
	}
	free(reply);
	text = json_dumps(info, JSON_COMPACT);
	json_decref(info);
	r = mcp_tool_text(text ? text : "{}", false);
	free(text);
	return r;
}

/* tools/call: unknown tools and bad params are protocol errors. */
static json_t *
mcp_tools_call(json_t *id, json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t *args = json_object_get(params, "arguments");

	if (name == NULL)
		return mcp_error(id, RPC_INVALID_PARAMS,
				 "tools/call: params.name must be a string");
	if (args != NULL && !json_is_object(args))
		return mcp_error(id, RPC_INVALID_PARAMS,
				 "tools/call: params.arguments must be an "
				 "object");
	if (strcmp(name, "report_task") == 0) {
		json_t *a = args ? json_incref(args) : json_object();
		json_t *r = mcp_report_task(a);

		json_decref(a);
		return mcp_result(id, r);
	}
	if (strcmp(name, "task_info") == 0)
		return mcp_result(id, mcp_task_info());
	return mcp_error(id, RPC_INVALID_PARAMS, "unknown tool '%.100s'", name);
}

/* Tell the runtime once that the agent has our tools (after says why);
 * a failure is one line on stderr, never an error of the session. */
static void
mcp_announce(struct mcp *m, const char *after)
{
	char *body, *reply = NULL, *cause = NULL, *detail;
	json_t *req;
	int status = 0;

	if (m->announced)
		return;
	m->announced = true;
	req = json_pack("{s:s, s:{s:s}}", "event", "mcp-ready", "payload",
			"after", after);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (body == NULL)
		fatal("cannot encode the mcp-ready hook");
	if (rtcall("POST", "/internal/hook", body, MCP_READY_TIMEOUT, &status,
		   &reply, &cause) < 0) {
		fprintf(stderr, "taskbox mcp: cannot tell the runtime: %s\n",
			cause);
		free(cause);
	} else if (status != 200) {
		detail = rtcall_detail(reply);
		fprintf(stderr,
			"taskbox mcp: the runtime answered mcp-ready with "
			"%d: %s\n",
			status, detail);
		free(detail);
	}
	free(reply);
	free(body);
}

/* Wait until stdin is readable; announce when the grace after
 * notifications/initialized passes first. */
static void
mcp_wait_input(struct mcp *m)
{
	struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
	uint64_t now;
	int r;

	while (!m->announced && m->ready_due != 0) {
		now = now_ms();
		if (now >= m->ready_due) {
			mcp_announce(m, "initialized");
			return;
		}
		r = poll(&p, 1, (int)(m->ready_due - now));
		if (r > 0 || (r < 0 && errno != EINTR))
			return;
	}
}

/* Handle one request (id set) or notification; returns the response. */
static json_t *
mcp_dispatch(struct mcp *m, const char *method, json_t *id, json_t *params)
{
	if (id == NULL) { /* notifications/initialized, cancelled, ... */
		if (strcmp(method, "notifications/initialized") == 0 &&
		    m->initialized && m->ready_due == 0)
			m->ready_due = now_ms() + MCP_LIST_GRACE;
		return NULL;
	}
	if (params != NULL && !json_is_object(params))
		return mcp_error(id, RPC_INVALID_PARAMS,
				 "params must be an object");
	if (strcmp(method, "initialize") == 0)
		return mcp_initialize(m, id, params);
	if (strcmp(method, "ping") == 0)
		return mcp_result(id, json_object());
	if (strcmp(method, "tools/list") != 0 &&
	    strcmp(method, "tools/call") != 0)
		return mcp_error(id, RPC_METHOD_NOT_FOUND,
				 "method '%.100s' not found", method);
	if (!m->initialized)
		return mcp_error(id, RPC_INVALID_REQUEST,
				 "the server is not initialized; send "
				 "initialize first");
	if (strcmp(method, "tools/list") == 0) {
		m->listed = true;
		return mcp_result(id, json_incref(m->tools));
	}
	return mcp_tools_call(id, params);
}

/* Handle one line; returns the response to write, or NULL for none. */
static json_t *
mcp_handle(struct mcp *m, const char *line, size_t len)
{
	json_error_t err;
	json_t *msg = json_loadb(line, len, 0, &err), *id, *r;
	const char *method, *version;

	if (msg == NULL)
		return mcp_error(NULL, RPC_PARSE_ERROR,
				 "parse error at column %d: %s", err.column,
				 err.text);
	if (json_is_array(msg)) {
		json_decref(msg);
		return mcp_error(NULL, RPC_INVALID_REQUEST,
				 "batch requests are not supported");
	}
	id = json_object_get(msg, "id");
	if (id != NULL && !json_is_string(id) && !json_is_integer(id)) {
		json_decref(msg);
		return mcp_error(NULL, RPC_INVALID_REQUEST,
				 "id must be a string or an integer");
	}
	method = json_string_value(json_object_get(msg, "method"));
	version = json_string_value(json_object_get(msg, "jsonrpc"));
	if (!json_is_object(msg) || version == NULL ||
	    strcmp(version, "2.0") != 0) {
		r = mcp_error(id, RPC_INVALID_REQUEST,
			      "not a JSON-RPC 2.0 message");
	} else if (method == NULL) {
		/* a response to a request we never send: ignore it */
		r = json_object_get(msg, "result") ||
				    json_object_get(msg, "error")
			    ? NULL
			    : mcp_error(id, RPC_INVALID_REQUEST,
					"method must be a string");
	} else {
		r = mcp_dispatch(m, method, id, json_object_get(msg, "params"));
	}
	json_decref(msg);
	return r;
}

/* Handle a line unless it is blank. */
static void
mcp_line(struct mcp *m, const char *line, size_t len)
{
	json_t *r;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return;
	r = mcp_handle(m, line, len);
	if (r != NULL)
		mcp_write(r);
	/* after the answer: the agent has the tools once it read it */
	if (m->listed)
		mcp_announce(m, "tools/list");
}

int
mcp_main(int argc, char **argv)
{
	struct mcp m = {0};
	struct buf in;
	char chunk[65536];
	bool skipping = false; /* inside a line over the limit */
	json_error_t err;
	ssize_t n;

	if (argc > 1) {
		fprintf(argc == 2 && (strcmp(argv[1], "--help") == 0 ||
				      strcmp(argv[1], "-h") == 0)
				? stdout
				: stderr,
			"usage: taskbox mcp\n"
			"\n"
			"An MCP server on stdin/stdout for the agent of a "
			"task: report_task\nand task_info. It reaches the "
			"runtime at $TASKBOX_RUNTIME_SOCKET\n(default "
			"%s) and tells it (hook mcp-ready) once the agent\n"
			"listed the tools.\n",
			MCP_DEFAULT_SOCKET);
		return argc == 2 && (strcmp(argv[1], "--help") == 0 ||
				     strcmp(argv[1], "-h") == 0)
			       ? 0
			       : 2;
	}
	signal(SIGPIPE, SIG_IGN);
	m.tools = json_loads(mcp_tools_json, 0, &err);
	if (m.tools == NULL)
		BUG();
	buf_init(&in, MCP_MAX_LINE + sizeof chunk);
	for (;;) {
		const char *p = chunk, *nl;
		size_t left;

		mcp_wait_input(&m);
		if ((n = read(STDIN_FILENO, chunk, sizeof chunk)) == 0)
			break;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "taskbox mcp: stdin: %s\n",
				strerror(errno));
			break;
		}
		left = (size_t)n;
		while ((nl = memchr(p, '\n', left)) != NULL) {
			size_t k = (size_t)(nl - p);

			if (!skipping && in.len + k <= MCP_MAX_LINE) {
				buf_append(&in, p, k);
				mcp_line(&m, buf_cstr(&in), in.len);
			} else if (!skipping) {
				mcp_write(mcp_error(NULL, RPC_PARSE_ERROR,
						    "message over %u bytes",
						    MCP_MAX_LINE));
			}
			skipping = false;
			buf_clear(&in);
			left -= k + 1;
			p = nl + 1;
		}
		if (skipping || left == 0)
			continue;
		if (in.len + left > MCP_MAX_LINE) {
			mcp_write(mcp_error(NULL, RPC_PARSE_ERROR,
					    "message over %u bytes",
					    MCP_MAX_LINE));
			skipping = true;
			buf_clear(&in);
			continue;
		}
		buf_append(&in, p, left);
	}
	if (in.len > 0 && !skipping)
		mcp_line(&m, buf_cstr(&in), in.len);
	buf_release(&in);
	json_decref(m.tools);
	return 0;
}
