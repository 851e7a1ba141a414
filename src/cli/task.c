/*
 * task.c: `taskbox task ...`, the verbs users drive tasks with.
 *
 * Every verb maps onto /api/v2/tasks (docs/API.md): create posts and then
 * follows the task's SSE `task` events (with a slow poll as a safety net)
 * until the task is active or failed (resume does the same); status
 * --watch, logs -f and send --wait follow the same stream. A TASK argument is
 * NAME, OWNER/NAME or an id, owned by `me` unless an owner is given.
 */
#include "common.h"

#include <getopt.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/text.h"

/* Largest prompt read from stdin. */
#define TASK_MAX_INPUT (1u << 20)

/* Width of the MESSAGE column of `task list`. */
#define TASK_MESSAGE_WIDTH 48

/* Options of all task verbs; each verb accepts a subset. */
struct task_opts {
	const char *template;
	const char *name;
	const char *display_name;
	const char *owner;
	const char *status;
	const char *until;  /* status --watch --until STATE */
	const char *cancel; /* queue --cancel ID */
	const char *preset; /* create --preset NAME|none */
	json_t *params;
	long timeout;
	bool no_wait, use_stdin, all, watch, follow, yes, json, wait;
};

/* State shared by the event callbacks of one followed task. */
struct task_follow {
	struct client *c;
	char *path;	   /* the task's API path */
	char *last;	   /* the last progress or status line printed */
	bool json;	   /* print events as JSON lines */
	long last_id;	   /* logs -f: the last message printed */
	char *last_text;   /* logs -f: its text */
	bool open_line;	   /* logs: the last message's line is not ended */
	const char *until; /* status --watch: the state or status to reach */
	const char *send;  /* send: the input (posted once subscribed) */
	bool subscribed;   /* send: the stream is open */
	char *entry;	   /* send --wait: the id of the input sent */
	bool delivered;	   /* send: "delivered" was printed */
	bool answered;	   /* send: the input answered a dialog */
	char *stamp;	   /* send --wait: current_state.timestamp before
			    * the input was posted */
	bool starting;	   /* create, resume: a status other than paused */
};

enum {
	TASK_GO_ON = 0,
	TASK_DONE = 1,
	TASK_FAILED = 2,
	TASK_DIALOG = 3, /* send --wait: the agent asks; exit status 3 */
};

static const char create_usage[] =
	"usage: taskbox task create [flags] PROMPT|--stdin\n"
	"\n"
	"  --template T        the template (default: the server's default)\n"
	"  --name N            the task's name (default: derived from the "
	"prompt)\n"
	"  --display-name D    a human-readable title\n"
	"  --param K=V         a template parameter (repeatable; wins over "
	"the\n"
	"                      preset's)\n"
	"  --preset NAME|none  the template's preset of parameters to start "
	"from\n"
	"                      (default: the template's default preset, if "
	"any;\n"
	"                      none: no preset)\n"
	"  --owner USER        create it for another user (admin)\n"
	"  --stdin             read the prompt from stdin\n"
	"  --no-wait           return once the task is created\n"
	"  --timeout SECONDS   give up waiting after this long (default 600)\n";
static const char list_usage[] =
	"usage: taskbox task list [--all] [--status S] [-o table|json]\n"
	"\n"
	"  -a, --all       every user's tasks you may see (admins: all)\n"
	"  --status S      only tasks in status S (pending, initializing, "
	"active,\n"
	"                  error, unknown)\n";
static const char status_usage[] =
	"usage: taskbox task status TASK [--watch [--until STATE]] [-o json]\n"
	"\n"
	"  -w, --watch     follow changes until the agent is idle after its\n"
	"                  prompt or waits for an answer, or the task "
	"completes\n"
	"                  or fails\n"
	"  --until STATE   (implies --watch) follow until current_state or\n"
	"                  status is STATE: idle, working, waiting, complete,\n"
	"                  failure, pending, initializing, active, paused,\n"
	"                  error or unknown (a state counts while the task\n"
	"                  is active); exits 1 if the task fails, pauses or\n"
	"                  stops first\n";
static const char logs_usage[] =
	"usage: taskbox task logs TASK [-f] [-o json]\n"
	"\n"
	"  -f, --follow    keep printing new agent messages\n";
static const char send_usage[] =
	"usage: taskbox task send [--wait] TASK TEXT|--stdin\n"
	"\n"
	"Sends the agent a message: delivered at once when it is idle, else\n"
	"queued on the server and delivered in order when it is ready. While\n"
	"the agent waits on a dialog, an option (number or text) answers it.\n"
	"\n"
	"  --wait              wait for the agent's reply and print it; when\n"
	"                      the agent opens a dialog instead, print it and\n"
	"                      exit with status 3 (answer with send again);\n"
	"                      status 1 when the input failed, was cancelled\n"
	"                      or its reply is no longer kept\n"
	"  --timeout SECONDS   give up waiting after this long (default 600)\n";
static const char queue_usage[] =
	"usage: taskbox task queue TASK [--cancel ID] [-o json]\n"
	"\n"
	"Lists the messages waiting for the agent, in delivery order.\n"
	"\n"
	"  --cancel ID     remove a message before it is delivered\n";
static const char pause_usage[] =
	"usage: taskbox task pause TASK\n"
	"\n"
	"Stops the workspace; files, home and the transcript are kept.\n";
static const char resume_usage[] =
	"usage: taskbox task resume [--no-wait] [--timeout SECONDS] TASK\n"
	"\n"
	"Starts the workspace again and waits until the agent runs; the agent\n"
	"continues its session and the prompt is not sent again.\n";
static const char restart_usage[] =
	"usage: taskbox task restart TASK [--no-wait] [--timeout SECONDS]\n"
	"\n"
	"Starts a fresh workspace run for a task in error or unknown status:\n"
	"its files and transcript are kept, the prompt is not sent again, a\n"
	"setup script that never got through runs again. Waits until the task\n"
	"is active, like create.\n";
static const char states_usage[] =
	"usage: taskbox task states TASK [-o json]\n";
static const char tusage_usage[] =
	"usage: taskbox task usage TASK [-o json]\n"
	"\n"
	"The task's LLM requests, tokens and cost, in all and per model.\n";
static const char delete_usage[] =
	"usage: taskbox task delete TASK... [-y]\n"
	"\n"
	"  -y, --yes       do not ask for confirmation\n";
static const char attach_usage[] =
	"usage: taskbox task attach TASK\n"
	"\n"
	"Show the agent's live terminal and type into it; Ctrl-] detaches.\n";
static const char task_usage[] =
	"usage: taskbox task COMMAND ...\n"
	"\n"
	"  create [flags] PROMPT|--stdin   start a task\n"
	"  list [--all] [--status S]       list tasks\n"
	"  status TASK [--watch]           show a task's status\n"
	"  logs TASK [-f]                  show the conversation\n"
	"  send [--wait] TASK TEXT|--stdin send the agent a message\n"
	"  queue TASK [--cancel ID]        messages waiting for the agent\n"
	"  pause TASK / resume TASK        stop the workspace / start it "
	"again\n"
	"  restart TASK                    a fresh run of a failed task\n"
	"  states TASK                     the history of the agent's state\n"
	"  usage TASK                      its LLM tokens and cost\n"
	"  delete TASK... [-y]             delete tasks\n"
	"  attach TASK                     the agent's live terminal\n"
	"\n"
	"TASK is NAME, OWNER/NAME or an id. Run `taskbox task COMMAND "
	"--help`.\n";

/* ---- helpers ----------------------------------------------------------- */

/* The task's "OWNER/NAME". */
static char *
task_label(json_t *t)
{
	return xasprintf("%s/%s", cli_str(t, "owner_name"), cli_str(t, "name"));
}

/* current_state.key of a task, or "". */
static const char *
task_state(json_t *t, const char *key)
{
	return cli_str(json_object_get(t, "current_state"), key);
}

/* The absolute URL of the task's chat app. */
static char *
task_app_url(struct client *c, json_t *t)
{
	const char *u = cli_str(t, "app_url");

	if (u[0] == '/')
		return xasprintf("%s%s", c->url, u);
	return xstrdup(u);
}

/* The API path of a task object (by owner name and id). */
static char *
task_path_of(json_t *t, const char *suffix)
{
	const char *id = cli_str(t, "id");
	char *ref = xasprintf("%s/%s", cli_str(t, "owner_name"),
			      id[0] ? id : cli_str(t, "name"));
	char *p = cli_task_path(ref, suffix);

	free(ref);
	return p;
}

/* Join argv[0..n) with spaces. */
static char *
task_join(int n, char **argv)
{
	struct buf b;

	buf_init(&b, 0);
	buf_append(&b, "", 0);
	for (int i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i ? " " : "", argv[i]);
	return buf_steal(&b);
}

/* The text to send: args joined, or stdin; trimmed; NULL after an error. */
static char *
task_input(const struct task_opts *o, int n, char **argv, const char *usage,
	   int *rc)
{
	char *cause = NULL, *s, *t;

	if (o->use_stdin == (n > 0)) {
		*rc = cli_usage_error(usage, o->use_stdin
						     ? "give the text or "
						       "--stdin, not both"
						     : "expected the text or "
						       "--stdin");
		return NULL;
	}
	s = o->use_stdin ? cli_read_stdin(TASK_MAX_INPUT, &cause)
			 : task_join(n, argv);
	if (s == NULL) {
		*rc = cli_fail(cause);
		return NULL;
	}
	t = xstrdup(str_trim(s));
	free(s);
	if (t[0] == '\0') {
		free(t);
		cli_error("the text is empty");
		*rc = 1;
		return NULL;
	}
	return t;
}

/* Local wall-clock "HH:MM:SS" into buf[16]. */
static void
task_clock(char buf[16])
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(buf, 16, "%H:%M:%S", &tm);
}

/* ---- create ------------------------------------------------------------ */

/* Print start-up progress of t; TASK_DONE once active, TASK_FAILED on error. */
static int
task_progress(struct task_follow *f, json_t *t)
{
	const char *status = cli_str(t, "status");
	const char *msg = task_state(t, "message");
	char *label, *url;

	if (strcmp(status, "active") == 0) {
		label = task_label(t);
		url = task_app_url(f->c, t);
		printf("task %s is active: %s\n", label, url);
		free(label);
		free(url);
		return TASK_DONE;
	}
	if (strcmp(status, "error") == 0) {
		label = task_label(t);
		cli_error("task %s failed: %s", label,
			  cli_str(t, "status_reason")[0]
				  ? cli_str(t, "status_reason")
				  : "unknown error");
		free(label);
		return TASK_FAILED;
	}
	/* resume answers before the task leaves paused */
	if (strcmp(status, "unknown") == 0 ||
	    (strcmp(status, "paused") == 0 && f->starting)) {
		label = task_label(t);
		cli_error("task %s stopped before its agent ran: %s", label,
			  cli_str(t, "status_reason")[0]
				  ? cli_str(t, "status_reason")
				  : status);
		free(label);
		return TASK_FAILED;
	}
	if (strcmp(status, "paused") != 0)
		f->starting = true;
	if (msg[0] != '\0' && (f->last == NULL || strcmp(msg, f->last) != 0)) {
		printf("  %s\n", msg);
		fflush(stdout);
		free(f->last);
		f->last = xstrdup(msg);
	}
	return TASK_GO_ON;
}

/* SSE callback of create: `task` events carry the Task. */
static int
task_create_event(const char *event, const char *data, void *arg)
{
	json_t *t;
	int r;

	if (strcmp(event, "task") != 0)
		return TASK_GO_ON;
	t = json_loads(data, 0, NULL);
	if (t == NULL)
		return TASK_GO_ON;
	r = task_progress(arg, t);
	json_decref(t);
	return r;
}

/* Periodic poll while waiting: covers events missed before subscribing. */
static int
task_create_tick(void *arg)
{
	struct task_follow *f = arg;
	json_t *t = NULL;
	char *cause = NULL;
	int r = TASK_GO_ON;

	if (client_json(f->c, "GET", f->path, NULL, &t, &cause) == 0)
		r = task_progress(f, t);
	free(cause);
	json_decref(t);
	return r;
}

/*
 * Follow task t (a Task object) with progress lines until it is active
 * (0) or failed (1), or timeout seconds passed (1).
 */
static int
task_await(struct client *c, json_t *t, long timeout)
{
	struct task_follow f = {.c = c};
	struct client_stream_ops ops = {.on_event = task_create_event,
					.on_tick = task_create_tick,
					.fd = -1,
					.tick_ms = 2000};
	char *cause = NULL, *events;
	int r;

	f.path = task_path_of(t, NULL);
	r = task_progress(&f, t);
	if (r == TASK_GO_ON) {
		events = xasprintf("%s/events", f.path);
		ops.timeout_ms = (uint64_t)timeout * 1000;
		r = client_stream(c, events, &ops, &f, &cause);
		free(events);
		if (r == 0) {
			/* The stream ended early: poll until done. */
			uint64_t end = now_ms() + ops.timeout_ms;

			while ((r = task_create_tick(&f)) == TASK_GO_ON &&
			       now_ms() < end)
				sleep(2);
			if (r == TASK_GO_ON) {
				cause = xasprintf("gave up after %ld seconds",
						  timeout);
				r = -ETIMEDOUT;
			}
		}
		if (r < 0)
			cli_fail(cause);
	}
	free(f.path);
	free(f.last);
	return r == TASK_DONE ? 0 : 1;
}

/*
 * The default preset's name of the template a create uses (ref, else the
 * server's default template), as the web form preselects it: a new
 * string, or NULL when it has none or cannot be read (the create then
 * says what is wrong with the template). *known: false when what was
 * read lacks the members of a server that knows presets (one that
 * predates them ignores a create's preset).
 */
static char *
task_default_preset(struct client *c, const char *ref, bool *known)
{
	json_t *reply = NULL, *tmpl = NULL, *p;
	char *cause = NULL, *path, *out = NULL;
	size_t i;

	if (ref != NULL) {
		char *e = client_escape(ref);

		path = xasprintf("/api/v2/templates/%s", e);
		free(e);
		if (client_json(c, "GET", path, NULL, &reply, &cause) == 0)
			tmpl = json_incref(reply);
		free(path);
	} else if (client_json(c, "GET", "/api/v2/templates", NULL, &reply,
			       &cause) == 0) {
		ref = json_string_value(
			json_object_get(reply, "default_template"));
		json_array_foreach(json_object_get(reply, "templates"), i,
				   p) if (ref != NULL &&
					  strcmp(cli_str(p, "name"), ref) == 0)
			tmpl = json_incref(p);
	}
	/* read, without what a server that knows presets answers */
	if (tmpl != NULL)
		*known = json_object_get(tmpl, "presets") != NULL;
	else if (json_object_get(reply, "templates") != NULL)
		*known = json_object_get(reply, "default_template") != NULL;
	else
		*known = true; /* not read: the create says why */
	json_array_foreach(json_object_get(tmpl, "presets"), i,
			   p) if (json_is_true(json_object_get(p, "default")))
		out = xstrdup(cli_str(p, "name"));
	free(cause);
	json_decref(tmpl);
	json_decref(reply);
	return out;
}

/* `taskbox task create`. */
static int
task_create(struct client *c, const struct task_opts *o, int n, char **argv)
{
	json_t *body, *t = NULL;
	char *input, *cause = NULL, *owner, *path, *label;
	bool known;
	int r;

	input = task_input(o, n, argv, create_usage, &r);
	if (input == NULL)
		return r;
	body = json_pack("{s:s}", "input", input);
	free(input);
	if (o->template)
		json_object_set_new(body, "template", json_string(o->template));
	if (o->name)
		json_object_set_new(body, "name", json_string(o->name));
	if (o->display_name)
		json_object_set_new(body, "display_name",
				    json_string(o->display_name));
	if (o->params)
		json_object_set(body, "parameters", o->params);
	if (o->preset != NULL && strcmp(o->preset, "none") != 0) {
		free(task_default_preset(c, o->template, &known));
		if (!known) {
			json_decref(body);
			return cli_fail(xasprintf(
				"the server does not know presets (it "
				"predates them) and would ignore --preset "
				"'%s': nothing was created",
				o->preset));
		}
		json_object_set_new(body, "preset", json_string(o->preset));
	} else if (o->preset == NULL) {
		char *dflt = task_default_preset(c, o->template, &known);

		if (dflt != NULL) {
			printf("using the template's default preset '%s' "
			       "(--preset none: no preset)\n",
			       dflt);
			json_object_set_new(body, "preset", json_string(dflt));
		}
		free(dflt);
	}
	owner = client_escape(o->owner ? o->owner : "me");
	path = xasprintf("/api/v2/tasks/%s", owner);
	free(owner);
	r = client_json(c, "POST", path, body, &t, &cause);
	free(path);
	json_decref(body);
	if (r != 0)
		return cli_fail(cause);
	label = task_label(t);
	printf("created task %s\n", label);
	fflush(stdout);
	free(label);
	r = o->no_wait ? 0 : task_await(c, t, o->timeout);
	json_decref(t);
	return r;
}

/* ---- list -------------------------------------------------------------- */

/* Copy s cut to at most width code points (with an ellipsis), one line. */
static char *
task_truncate(const char *s, size_t width)
{
	struct buf b;
	size_t cps = 0;

	buf_init(&b, 0);
	buf_append(&b, "", 0);
	for (const char *p = s; *p; p++) {
		bool start = ((unsigned char)*p & 0xc0) != 0x80;

		if (start && ++cps > width) {
			/* drop the last code point for the ellipsis */
			if (b.len > 0)
				b.len = utf8_cut(b.data, b.len - 1);
			b.data[b.len] = '\0';
			buf_puts(&b, "…");
			break;
		}
		buf_append(&b, *p == '\n' || *p == '\t' ? " " : p, 1);
	}
	return buf_steal(&b);
}

/* `taskbox task list`. */
static int
task_list(struct client *c, const struct task_opts *o)
{
	struct buf q;
	json_t *reply = NULL, *tasks, *t;
	struct cli_table tab;
	char *cause = NULL, *path, *esc;
	size_t i;

	buf_init(&q, 0);
	buf_append(&q, "", 0);
	if (!o->all)
		buf_puts(&q, "owner:me");
	if (o->status)
		buf_printf(&q, "%sstatus:%s", q.len ? " " : "", o->status);
	esc = client_escape(q.data);
	path = q.len ? xasprintf("/api/v2/tasks?q=%s", esc)
		     : xstrdup("/api/v2/tasks");
	free(esc);
	buf_release(&q);
	if (client_json(c, "GET", path, NULL, &reply, &cause)) {
		free(path);
		return cli_fail(cause);
	}
	free(path);
	tasks = json_object_get(reply, "tasks");
	if (o->json) {
		cli_print_json(tasks ? tasks : reply);
		json_decref(reply);
		return 0;
	}
	cli_table_init(&tab, o->all ? 6 : 5);
	if (o->all)
		cli_table_row(&tab,
			      (const char *[]){"NAME", "OWNER", "STATUS",
					       "STATE", "MESSAGE", "CREATED"});
	else
		cli_table_row(&tab, (const char *[]){"NAME", "STATUS", "STATE",
						     "MESSAGE", "CREATED"});
	json_array_foreach(tasks, i, t)
	{
		char age[64], *msg;
		const char *state = task_state(t, "state");

		cli_age(cli_str(t, "created_at"), age, sizeof age);
		msg = task_truncate(task_state(t, "message"),
				    TASK_MESSAGE_WIDTH);
		if (o->all)
			cli_table_row(&tab,
				      (const char *[]){cli_str(t, "name"),
						       cli_str(t, "owner_name"),
						       cli_str(t, "status"),
						       state[0] ? state : "-",
						       msg, age});
		else
			cli_table_row(&tab,
				      (const char *[]){cli_str(t, "name"),
						       cli_str(t, "status"),
						       state[0] ? state : "-",
						       msg, age});
		free(msg);
	}
	if (json_array_size(tasks) == 0)
		fprintf(stderr, "no tasks\n");
	else
		cli_table_print(&tab, stdout);
	cli_table_release(&tab);
	json_decref(reply);
	return 0;
}

/* ---- status ------------------------------------------------------------ */

/* Print a task's status block. */
static void
task_print_status(struct client *c, json_t *t)
{
	char *label = task_label(t), *url = task_app_url(c, t);
	const char *reason = cli_str(t, "status_reason");

	printf("task:     %s\n", label);
	printf("status:   %s\n", cli_str(t, "status"));
	if (reason[0])
		printf("reason:   %s\n", reason);
	printf("state:    %s\n",
	       task_state(t, "state")[0] ? task_state(t, "state") : "-");
	printf("message:  %s\n", task_state(t, "message"));
	printf("uri:      %s\n", task_state(t, "uri"));
	printf("app:      %s\n", url);
	fflush(stdout);
	free(label);
	free(url);
}

/* status --watch: print a change; TASK_DONE/TASK_FAILED when it settled. */
static int
task_watch_update(struct task_follow *f, json_t *t)
{
	const char *status = cli_str(t, "status");
	const char *state = task_state(t, "state");
	char *line, clock[16];

	if (f->json) {
		char *s = json_dumps(t, JSON_COMPACT);

		if (s && (f->last == NULL || strcmp(s, f->last) != 0)) {
			puts(s);
			free(f->last);
			f->last = s;
		} else {
			free(s);
		}
	} else {
		line = xasprintf("%-12s %-9s %s", status,
				 state[0] ? state : "-",
				 task_state(t, "message"));
		if (f->last == NULL || strcmp(line, f->last) != 0) {
			task_clock(clock);
			printf("%s  %s\n", clock, line);
			free(f->last);
			f->last = line;
		} else {
			free(line);
		}
	}
	fflush(stdout);
	/* a state counts only while the task is active (a paused task
	 * keeps its last state, idle "Paused"), or when it is final */
	if (f->until != NULL &&
	    (strcmp(status, f->until) == 0 ||
	     (strcmp(state, f->until) == 0 && (strcmp(status, "active") == 0 ||
					       strcmp(state, "complete") == 0 ||
					       strcmp(state, "failure") == 0))))
		return TASK_DONE;
	if (strcmp(status, "error") == 0) {
		if (!f->json) {
			line = task_label(t);
			cli_error("task %s failed: %s", line,
				  cli_str(t, "status_reason"));
			free(line);
		}
		return TASK_FAILED;
	}
	/* paused, or the agent exited (unknown): with --until the state
	 * awaited cannot come any more */
	if (strcmp(status, "paused") == 0 ||
	    (f->until != NULL && strcmp(status, "unknown") == 0)) {
		if (!f->json) {
			line = task_label(t);
			if (f->until != NULL)
				cli_error("task %s is %s, not %s", line, status,
					  f->until);
			else
				cli_error("task %s is paused", line);
			free(line);
		}
		return TASK_FAILED;
	}
	if (f->until != NULL)
		return TASK_GO_ON;
	/* the server reports the idle before the prompt was typed as
	 * working: idle here is the end of the prompt's turn */
	if ((strcmp(status, "active") == 0 && state[0] &&
	     strcmp(state, "working") != 0) ||
	    strcmp(status, "unknown") == 0)
		return TASK_DONE;
	return TASK_GO_ON;
}

/* SSE callback of status --watch. */
static int
task_watch_event(const char *event, const char *data, void *arg)
{
	json_t *t;
	int r;

	if (strcmp(event, "task") != 0)
		return TASK_GO_ON;
	t = json_loads(data, 0, NULL);
	if (t == NULL)
		return TASK_GO_ON;
	r = task_watch_update(arg, t);
	json_decref(t);
	return r;
}

/* `taskbox task status`. */
static int
task_status(struct client *c, const struct task_opts *o, const char *ref)
{
	struct task_follow f = {.c = c, .json = o->json, .until = o->until};
	struct client_stream_ops ops = {.on_event = task_watch_event, .fd = -1};
	char *path = cli_task_path(ref, NULL), *cause = NULL, *events;
	json_t *t = NULL;
	int r;

	r = client_json(c, "GET", path, NULL, &t, &cause);
	if (r != 0) {
		free(path);
		return cli_fail(cause);
	}
	if (o->json && !o->watch)
		cli_print_json(t);
	else if (!o->watch)
		task_print_status(c, t);
	if (!o->watch) {
		r = strcmp(cli_str(t, "status"), "error") == 0;
		goto out;
	}
	r = task_watch_update(&f, t);
	if (r == TASK_GO_ON) {
		events = task_path_of(t, "/events");
		r = client_stream(c, events, &ops, &f, &cause);
		free(events);
		if (r < 0)
			cli_fail(cause);
		else if (r == 0)
			cli_error("the server ended the event stream");
	}
	r = r == TASK_DONE ? 0 : 1;
out:
	json_decref(t);
	free(f.last);
	free(path);
	return r;
}

/* ---- logs -------------------------------------------------------------- */

/* Print one message; an update of the last one prints only its new tail. */
static void
task_log_print(struct task_follow *f, long id, const char *type,
	       const char *when, const char *content)
{
	size_t n = f->last_text ? strlen(f->last_text) : 0;

	if (id == f->last_id && f->last_text != NULL &&
	    strncmp(content, f->last_text, n) == 0) {
		fputs(content + n, stdout);
	} else {
		if (f->open_line)
			putchar('\n');
		printf("[%s] %s: %s", when, type, content);
	}
	f->open_line = true;
	f->last_id = id;
	free(f->last_text);
	f->last_text = xstrdup(content);
	fflush(stdout);
}

/* SSE callback of logs -f: message_update events. */
static int
task_logs_event(const char *event, const char *data, void *arg)
{
	struct task_follow *f = arg;
	json_t *m, *id;
	const char *role;

	if (strcmp(event, "message_update") != 0)
		return TASK_GO_ON;
	if (f->json) {
		puts(data);
		fflush(stdout);
		return TASK_GO_ON;
	}
	m = json_loads(data, 0, NULL);
	id = json_object_get(m, "id");
	if (m != NULL && json_is_integer(id)) {
		role = cli_str(m, "role");
		task_log_print(f, (long)json_integer_value(id),
			       strcmp(role, "user") == 0 ? "input" : "output",
			       cli_str(m, "time"), cli_str(m, "message"));
	}
	json_decref(m);
	return TASK_GO_ON;
}

/* `taskbox task logs`. */
static int
task_logs(struct client *c, const struct task_opts *o, const char *ref)
{
	struct task_follow f = {.c = c, .json = o->json, .last_id = -1};
	struct client_stream_ops ops = {.on_event = task_logs_event, .fd = -1};
	char *path = cli_task_path(ref, "/logs"), *cause = NULL, *events;
	json_t *reply = NULL, *logs, *e;
	size_t i;
	int r = 0;

	if (client_json(c, "GET", path, NULL, &reply, &cause)) {
		free(path);
		return cli_fail(cause);
	}
	free(path);
	logs = json_object_get(reply, "logs");
	if (o->json && !o->follow) {
		cli_print_json(reply);
		json_decref(reply);
		return 0;
	}
	json_array_foreach(logs, i, e)
	{
		json_t *id = json_object_get(e, "id");

		if (o->json) {
			char *s = json_dumps(e, JSON_COMPACT);

			puts(s ? s : "{}");
			free(s);
			continue;
		}
		task_log_print(
			&f,
			json_is_integer(id) ? (long)json_integer_value(id) : -2,
			cli_str(e, "type"), cli_str(e, "time"),
			cli_str(e, "content"));
	}
	json_decref(reply);
	if (o->follow) {
		events = cli_task_path(ref, "/events");
		r = client_stream(c, events, &ops, &f, &cause);
		free(events);
	}
	if (f.open_line)
		putchar('\n');
	free(f.last_text);
	return r < 0 ? cli_fail(cause) : 0;
}

/* ---- send, delete ------------------------------------------------------ */

/* POST .../send with input; print what became of it and keep its id in
 * f->entry. TASK_GO_ON, or TASK_FAILED after printing why. */
static int
task_send_post(struct task_follow *f, const char *ref, const char *input)
{
	char *path = cli_task_path(ref, "/send"), *cause = NULL;
	json_t *body = json_pack("{s:s}", "input", input), *reply = NULL;
	const char *status;
	int r = client_json(f->c, "POST", path, body, &reply, &cause);

	free(path);
	json_decref(body);
	if (r != 0) {
		cli_fail(cause);
		return TASK_FAILED;
	}
	status = cli_str(reply, "status");
	if (strcmp(status, "queued") == 0)
		printf("queued at position %lld (id %s)\n",
		       (long long)json_integer_value(
			       json_object_get(reply, "position")),
		       cli_str(reply, "id"));
	else if (strcmp(status, "answered") == 0)
		printf("answered the dialog\n");
	else
		printf("delivered\n");
	f->delivered = strcmp(status, "queued") != 0;
	f->answered = strcmp(status, "answered") == 0;
	fflush(stdout);
	free(f->entry);
	f->entry = xstrdup(cli_str(reply, "id"));
	json_decref(reply);
	return TASK_GO_ON;
}

/* send --wait: `queue` events about our input; `task` events say the
 * stream is open (then the input is posted, from the tick) or that the
 * task stopped. */
static int
task_send_event(const char *event, const char *data, void *arg)
{
	struct task_follow *f = arg;
	json_t *j = json_loads(data, 0, NULL);
	const char *op = cli_str(j, "op");
	int r = TASK_GO_ON;

	if (j == NULL)
		return TASK_GO_ON;
	if (strcmp(event, "task") == 0) {
		const char *status = cli_str(j, "status");

		f->subscribed = true;
		if (f->entry != NULL && (strcmp(status, "error") == 0 ||
					 strcmp(status, "paused") == 0 ||
					 strcmp(status, "unknown") == 0)) {
			cli_error("the task is %s before it replied%s%s",
				  status,
				  cli_str(j, "status_reason")[0] ? ": " : "",
				  cli_str(j, "status_reason"));
			r = TASK_FAILED;
		} else if (f->entry == NULL) {
			free(f->stamp);
			f->stamp = xstrdup(task_state(j, "timestamp"));
		} else if (f->delivered &&
			   strcmp(task_state(j, "state"), "waiting") == 0 &&
			   (!f->answered ||
			    strcmp(task_state(j, "timestamp"),
				   f->stamp ? f->stamp : "") != 0)) {
			/* the reply is a question (after an answer: another
			 * dialog, a state of its own): no idle comes until
			 * it is answered */
			printf("%s\n", task_state(j, "message"));
			cli_error("the agent waits on a dialog; answer it with "
				  "`taskbox task send TASK OPTION`");
			r = TASK_DIALOG;
		}
	} else if (strcmp(event, "queue") == 0 && f->entry != NULL &&
		   strcmp(cli_str(j, "id"), f->entry) == 0) {
		if (strcmp(op, "replied") == 0) {
			printf("%s\n", cli_str(j, "message"));
			r = TASK_DONE;
		} else if (strcmp(op, "failed") == 0) {
			/* a runtime timeout (504), or a server restart, may
			 * follow a partial write; a full conversation not */
			cli_error("the input %s delivered: %s",
				  strcmp(cli_str(j, "code"),
					 "conversation_full") == 0
					  ? "was not"
					  : "may not have been",
				  cli_str(j, "reason"));
			r = TASK_FAILED;
		} else if (strcmp(op, "reply_lost") == 0) {
			cli_error("the input was delivered, but %s",
				  cli_str(j, "reason"));
			r = TASK_FAILED;
		} else if (strcmp(op, "cancelled") == 0) {
			cli_error("the input was cancelled before delivery");
			r = TASK_FAILED;
		} else if (strcmp(op, "delivered") == 0 && !f->delivered) {
			printf("delivered\n");
			f->delivered = true;
		}
		fflush(stdout);
	}
	json_decref(j);
	return r;
}

/* send --wait: post the input once the stream is open, so no event
 * about it can be missed (posting from a curl callback is not allowed). */
static int
task_send_tick(void *arg)
{
	struct task_follow *f = arg;

	if (!f->subscribed || f->entry != NULL)
		return TASK_GO_ON;
	return task_send_post(f, f->path, f->send);
}

/* `taskbox task send`. */
static int
task_send(struct client *c, const struct task_opts *o, int n, char **argv)
{
	struct task_follow f = {.c = c};
	struct client_stream_ops ops = {.on_event = task_send_event,
					.on_tick = task_send_tick,
					.fd = -1,
					.tick_ms = 20};
	char *input, *events, *cause = NULL;
	int r;

	input = task_input(o, n - 1, argv + 1, send_usage, &r);
	if (input == NULL)
		return r;
	f.path = argv[0];
	f.send = input;
	if (!o->wait) {
		r = task_send_post(&f, argv[0], input) == TASK_FAILED;
		goto out;
	}
	events = cli_task_path(argv[0], "/events");
	ops.timeout_ms = (uint64_t)o->timeout * 1000;
	r = client_stream(c, events, &ops, &f, &cause);
	free(events);
	if (r < 0)
		cli_fail(cause);
	else if (r == 0)
		cli_error("the server ended the event stream before the reply");
	r = r == TASK_DONE ? 0 : r == TASK_DIALOG ? 3 : 1;
out:
	free(input);
	free(f.entry);
	free(f.stamp);
	return r;
}

/* `taskbox task queue`: list the waiting inputs, or cancel one. */
static int
task_queue(struct client *c, const struct task_opts *o, const char *ref)
{
	char *path, *cause = NULL, *esc;
	json_t *out = NULL, *e;
	struct cli_table tab;
	size_t i;

	if (o->cancel != NULL) {
		esc = client_escape(o->cancel);
		path = xasprintf("/queue/%s", esc);
		free(esc);
		esc = cli_task_path(ref, path);
		free(path);
		if (client_json(c, "DELETE", esc, NULL, NULL, &cause)) {
			free(esc);
			return cli_fail(cause);
		}
		free(esc);
		printf("cancelled %s\n", o->cancel);
		return 0;
	}
	path = cli_task_path(ref, "/queue");
	if (client_json(c, "GET", path, NULL, &out, &cause)) {
		free(path);
		return cli_fail(cause);
	}
	free(path);
	if (o->json) {
		cli_print_json(out);
		json_decref(out);
		return 0;
	}
	cli_table_init(&tab, 4);
	cli_table_row(&tab, (const char *[]){"POS", "ID", "QUEUED", "INPUT"});
	json_array_foreach(json_object_get(out, "entries"), i, e)
	{
		char age[64], pos[24], *text;

		cli_age(cli_str(e, "created_at"), age, sizeof age);
		snprintf(pos, sizeof pos, "%lld",
			 (long long)json_integer_value(
				 json_object_get(e, "position")));
		text = task_truncate(cli_str(e, "input"), TASK_MESSAGE_WIDTH);
		cli_table_row(&tab, (const char *[]){pos, cli_str(e, "id"), age,
						     text});
		free(text);
	}
	if (json_array_size(json_object_get(out, "entries")) == 0)
		fprintf(stderr, "nothing queued\n");
	else
		cli_table_print(&tab, stdout);
	cli_table_release(&tab);
	json_decref(out);
	return 0;
}

/* POST .../pause or .../resume and print the task's new status; resume
 * then waits until the agent runs, as create does (unless --no-wait). */
static int
task_lifecycle(struct client *c, const struct task_opts *o, const char *ref,
	       const char *what)
{
	char *path = cli_task_path(ref, what), *cause = NULL;
	json_t *t = NULL;
	int r = client_json(c, "POST", path, NULL, &t, &cause);

	free(path);
	if (r)
		return cli_fail(cause);
	printf("task %s: %s\n", cli_str(t, "name"), cli_str(t, "status"));
	fflush(stdout);
	if (strcmp(what, "/resume") == 0 && !o->no_wait)
		r = task_await(c, t, o->timeout);
	json_decref(t);
	return r;
}

/* `taskbox task restart`: POST .../restart, then wait like create. */
static int
task_restart(struct client *c, const struct task_opts *o, const char *ref)
{
	char *path = cli_task_path(ref, "/restart"), *cause = NULL, *label;
	json_t *t = NULL;
	int r = client_json(c, "POST", path, NULL, &t, &cause);

	free(path);
	if (r)
		return cli_fail(cause);
	label = task_label(t);
	printf("restarting task %s\n", label);
	fflush(stdout);
	free(label);
	r = o->no_wait ? 0 : task_await(c, t, o->timeout);
	json_decref(t);
	return r;
}

/* GET .../states: one line per state change. */
static int
task_states(struct client *c, const struct task_opts *o, const char *ref)
{
	char *path = cli_task_path(ref, "/states"), *cause = NULL;
	json_t *out = NULL, *st;
	size_t i;
	int r = client_json(c, "GET", path, NULL, &out, &cause);

	free(path);
	if (r)
		return cli_fail(cause);
	if (o->json) {
		cli_print_json(out);
	} else {
		json_array_foreach(json_object_get(out, "states"), i, st)
			printf("%s  %-8s %s%s%s\n", cli_str(st, "timestamp"),
			       cli_str(st, "state"), cli_str(st, "message"),
			       *cli_str(st, "uri") ? "  " : "",
			       cli_str(st, "uri"));
	}
	json_decref(out);
	return 0;
}

/* Ask "question [y/N]" on the terminal; true for yes. */
static bool
task_confirm(const char *question)
{
	char *line = NULL;
	size_t cap = 0;
	bool yes;

	fprintf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	if (getline(&line, &cap, stdin) < 0) {
		free(line);
		return false;
	}
	yes = line[0] == 'y' || line[0] == 'Y';
	free(line);
	return yes;
}

/* `taskbox task delete`. */
static int
task_delete(struct client *c, const struct task_opts *o, int n, char **refs)
{
	bool ask = !o->yes && isatty(STDIN_FILENO);
	int failed = 0;

	for (int i = 0; i < n; i++) {
		char *path = cli_task_path(refs[i], NULL), *cause = NULL, *q;

		if (ask) {
			q = xasprintf("delete task %s?", refs[i]);
			if (!task_confirm(q)) {
				free(q);
				free(path);
				fprintf(stderr, "kept %s\n", refs[i]);
				continue;
			}
			free(q);
		}
		if (client_json(c, "DELETE", path, NULL, NULL, &cause)) {
			failed = cli_fail(cause);
		} else {
			printf("deleted task %s\n", refs[i]);
		}
		free(path);
	}
	return failed;
}

/* ---- dispatch ---------------------------------------------------------- */

enum task_verb {
	VERB_CREATE,
	VERB_LIST,
	VERB_STATUS,
	VERB_LOGS,
	VERB_SEND,
	VERB_DELETE,
	VERB_ATTACH,
	VERB_PAUSE,
	VERB_RESUME,
	VERB_STATES,
	VERB_USAGE,
	VERB_RESTART,
	VERB_QUEUE,
};

static const struct option create_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"template", required_argument, NULL, 'T'},
	{"name", required_argument, NULL, 'n'},
	{"display-name", required_argument, NULL, 'D'},
	{"param", required_argument, NULL, 'p'},
	{"preset", required_argument, NULL, 'P'},
	{"owner", required_argument, NULL, 'O'},
	{"stdin", no_argument, NULL, 'I'},
	{"no-wait", no_argument, NULL, 'W'},
	{"timeout", required_argument, NULL, 't'},
	{NULL, 0, NULL, 0}};
static const struct option list_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"all", no_argument, NULL, 'a'},
	{"status", required_argument, NULL, 's'},
	{"output", required_argument, NULL, 'o'},
	{NULL, 0, NULL, 0}};
static const struct option status_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"watch", no_argument, NULL, 'w'},
	{"until", required_argument, NULL, 'U'},
	{"output", required_argument, NULL, 'o'},
	{NULL, 0, NULL, 0}};
static const struct option logs_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"follow", no_argument, NULL, 'f'},
	{"output", required_argument, NULL, 'o'},
	{NULL, 0, NULL, 0}};
static const struct option send_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"stdin", no_argument, NULL, 'I'},
	{"wait", no_argument, NULL, 'K'},
	{"timeout", required_argument, NULL, 't'},
	{NULL, 0, NULL, 0}};
static const struct option queue_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"cancel", required_argument, NULL, 'C'},
	{"output", required_argument, NULL, 'o'},
	{NULL, 0, NULL, 0}};
static const struct option resume_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"no-wait", no_argument, NULL, 'W'},
	{"timeout", required_argument, NULL, 't'},
	{NULL, 0, NULL, 0}};
static const struct option delete_opts[] = {{"help", no_argument, NULL, 'h'},
					    {"yes", no_argument, NULL, 'y'},
					    {NULL, 0, NULL, 0}};
static const struct option attach_opts[] = {{"help", no_argument, NULL, 'h'},
					    {NULL, 0, NULL, 0}};
static const struct option restart_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"no-wait", no_argument, NULL, 'W'},
	{"timeout", required_argument, NULL, 't'},
	{NULL, 0, NULL, 0}};

static const struct {
	const char *name;
	const char *alias;
	enum task_verb verb;
	const char *usage;
	const struct option *opts;
	const char *shortopts;
	int min_args, max_args; /* positional arguments; -1: any */
} task_verbs[] = {
	{"create", NULL, VERB_CREATE, create_usage, create_opts, ":h", 0, -1},
	{"list", "ls", VERB_LIST, list_usage, list_opts, ":hao:", 0, 0},
	{"status", NULL, VERB_STATUS, status_usage, status_opts, ":hwo:", 1, 1},
	{"logs", NULL, VERB_LOGS, logs_usage, logs_opts, ":hfo:", 1, 1},
	{"send", NULL, VERB_SEND, send_usage, send_opts, ":h", 1, -1},
	{"delete", "rm", VERB_DELETE, delete_usage, delete_opts, ":hy", 1, -1},
	{"attach", NULL, VERB_ATTACH, attach_usage, attach_opts, ":h", 1, 1},
	{"pause", NULL, VERB_PAUSE, pause_usage, attach_opts, ":h", 1, 1},
	{"resume", NULL, VERB_RESUME, resume_usage, resume_opts, ":h", 1, 1},
	{"queue", NULL, VERB_QUEUE, queue_usage, queue_opts, ":ho:", 1, 1},
	{"states", NULL, VERB_STATES, states_usage, list_opts, ":ho:", 1, 1},
	{"usage", NULL, VERB_USAGE, tusage_usage, list_opts, ":ho:", 1, 1},
	{"restart", NULL, VERB_RESTART, restart_usage, restart_opts, ":h", 1,
	 1},
};

/* Is s a current_state or a status that --until can wait for? */
static bool
task_until_valid(const char *s)
{
	static const char *const names[] = {
		"working", "idle",    "waiting",      "complete",
		"failure", "pending", "initializing", "active",
		"paused",  "error",   "unknown"};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	return false;
}

/* Parse one verb's flags into o; -1 for --help (printed), else exit code. */
static int
task_parse(int k, int argc, char **argv, struct task_opts *o)
{
	const char *usage = task_verbs[k].usage;
	const char *eq;
	long v;
	int c;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, task_verbs[k].shortopts,
				task_verbs[k].opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			return -1;
		case 'T':
			o->template = optarg;
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'D':
			o->display_name = optarg;
			break;
		case 'O':
			o->owner = optarg;
			break;
		case 'P':
			o->preset = optarg;
			break;
		case 'p':
			eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg)
				return cli_usage_error(
					usage, "--param takes KEY=VALUE");
			if (o->params == NULL)
				o->params = json_object();
			{
				char *key =
					xstrndup(optarg, (size_t)(eq - optarg));

				json_object_set_new(o->params, key,
						    json_string(eq + 1));
				free(key);
			}
			break;
		case 'I':
			o->use_stdin = true;
			break;
		case 'W':
			o->no_wait = true;
			break;
		case 't':
			if (parse_long(optarg, 1, 86400, &v) < 0)
				return cli_usage_error(
					usage, "--timeout takes 1-86400 "
					       "seconds");
			o->timeout = v;
			break;
		case 'a':
			o->all = true;
			break;
		case 's':
			o->status = optarg;
			break;
		case 'w':
			o->watch = true;
			break;
		case 'U':
			if (!task_until_valid(optarg))
				return cli_usage_error(
					usage,
					"--until takes a state (working, "
					"idle, waiting, complete, failure) or "
					"a status (pending, initializing, "
					"active, paused, error, unknown)");
			o->until = optarg;
			o->watch = true;
			break;
		case 'K':
			o->wait = true;
			break;
		case 'C':
			o->cancel = optarg;
			break;
		case 'f':
			o->follow = true;
			break;
		case 'y':
			o->yes = true;
			break;
		case 'o':
			if (strcmp(optarg, "json") == 0)
				o->json = true;
			else if (strcmp(optarg, "table") != 0)
				return cli_usage_error(
					usage, "-o takes table or json");
			break;
		case ':':
			return cli_usage_error(usage,
					       "option '%s' needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error(usage, "unknown option '%s'",
					       argv[optind - 1]);
		}
	}
	c = argc - optind;
	if (c < task_verbs[k].min_args)
		return cli_usage_error(usage, "expected TASK");
	if (task_verbs[k].max_args >= 0 && c > task_verbs[k].max_args)
		return cli_usage_error(usage, "unexpected '%s'",
				       argv[optind + task_verbs[k].max_args]);
	return 0;
}

/* `taskbox task VERB ...`: parse the verb's flags and run it. */
int
cli_task(int argc, char **argv)
{
	struct task_opts o = {.timeout = 600};
	struct client c;
	int k = -1, r;
	char **args;
	int nargs;

	if (argc < 2)
		return cli_usage_error(task_usage, "expected a task command");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(task_usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(task_verbs); i++) {
		if (strcmp(argv[1], task_verbs[i].name) == 0 ||
		    (task_verbs[i].alias &&
		     strcmp(argv[1], task_verbs[i].alias) == 0))
			k = (int)i;
	}
	if (k < 0)
		return cli_usage_error(task_usage, "unknown task command '%s'",
				       argv[1]);
	r = task_parse(k, argc - 1, argv + 1, &o);
	if (r != 0) {
		json_decref(o.params);
		return r < 0 ? 0 : r;
	}
	args = argv + 1 + optind;
	nargs = argc - 1 - optind;
	if (task_verbs[k].verb == VERB_ATTACH && !isatty(STDIN_FILENO)) {
		cli_error("attach needs a terminal: stdin is not a tty");
		return 1;
	}
	if (cli_connect(&c)) {
		json_decref(o.params);
		return 1;
	}
	switch (task_verbs[k].verb) {
	case VERB_CREATE:
		r = task_create(&c, &o, nargs, args);
		break;
	case VERB_LIST:
		r = task_list(&c, &o);
		break;
	case VERB_STATUS:
		r = task_status(&c, &o, args[0]);
		break;
	case VERB_LOGS:
		r = task_logs(&c, &o, args[0]);
		break;
	case VERB_SEND:
		r = task_send(&c, &o, nargs, args);
		break;
	case VERB_DELETE:
		r = task_delete(&c, &o, nargs, args);
		break;
	case VERB_ATTACH:
		r = cli_task_attach(&c, args[0]);
		break;
	case VERB_PAUSE:
	case VERB_RESUME:
		r = task_lifecycle(&c, &o, args[0],
				   task_verbs[k].verb == VERB_PAUSE
					   ? "/pause"
					   : "/resume");
		break;
	case VERB_QUEUE:
		r = task_queue(&c, &o, args[0]);
		break;
	case VERB_STATES:
		r = task_states(&c, &o, args[0]);
		break;
	case VERB_USAGE:
		r = cli_task_usage(&c, args[0], o.json);
		break;
	case VERB_RESTART:
		r = task_restart(&c, &o, args[0]);
		break;
	default:
		BUG();
	}
	json_decref(o.params);
	client_release(&c);
	return r;
}
