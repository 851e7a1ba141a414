/*
 * api.c: the AgentAPI-compatible HTTP surface of the runtime.
 *
 * Endpoints and field names follow AgentAPI (shared contract, see
 * docs/ARCHITECTURE.md): /status, /messages, /message, /upload, /events,
 * /internal/screen, /openapi.json, /chat. Differences, all additive or
 * in error codes: /status carries `state`, `dialog` and `pid`; a busy
 * agent gets 409 (AgentAPI: 500); an agent that never reacts gets 504;
 * POST /message takes an optional "if_idle": true (taskbox's send queue),
 * refused with 409 while a dialog waits instead of answering it; every
 * 409 of POST /message says why in a "reason" member (busy, waiting,
 * not_an_option, conversation_full: docs/API.md);
 * Origin is enforced for cross-site requests; an optional bearer token.
 * Additions for the agent inside the workspace: POST /internal/report
 * (report_task, SSE task_report) and POST /internal/hook (agent hooks,
 * SSE agent_hook, fed to the status engine).
 */
#include "common.h"

#include <ctype.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/assets.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/text.h"
#include "http/http.h"
#include "runtime.h"

#define API_SSE_QUEUE (8u << 20)

#define API_MAX_SUMMARY	     160  /* characters, as Coder's app status */
#define API_MAX_LINK	     2048 /* bytes */
#define API_MAX_HOOK_BODY    ((1u << 20) + 4096)
#define API_MAX_HOOK_EVENT   64
#define API_MAX_HOOK_MESSAGE 1024 /* bytes of the message passed on */

/* ---- JSON shapes ---------------------------------------------------- */

static json_t *
api_message_json(const struct conv_msg *m, const char *text_field)
{
	char ts[32];

	time_rfc3339(m->time, ts);
	return json_pack("{s:i, s:s, s:s, s:s}", "id", (int)m->id, text_field,
			 m->content, "role", conv_role_name(m->role), "time",
			 ts);
}

static json_t *
api_dialog_json(struct runtime *rt)
{
	json_t *opts;

	if (!rt->has_dialog)
		return json_null();
	opts = json_array();
	for (size_t i = 0; i < rt->dialog.noptions; i++)
		json_array_append_new(opts, json_string(rt->dialog.options[i]));
	return json_pack("{s:s, s:s?, s:o, s:i}", "text",
			 rt->dialog.text[0] == '\0' && rt->hook_message != NULL
				 ? rt->hook_message
				 : rt->dialog.text,
			 "context", rt->dialog.context, "options", opts,
			 "selected", rt->dialog.selected + 1);
}

/* The last self-report as task_report and /status carry it, or null. */
static json_t *
api_report_json(const struct runtime_report *r)
{
	char ts[32];

	if (r == NULL)
		return json_null();
	time_rfc3339(r->time, ts);
	return json_pack("{s:s, s:s?, s:s?, s:s}", "summary", r->summary,
			 "link", r->link, "state", r->state, "time", ts);
}

json_t *
api_status_json(struct runtime *rt)
{
	enum status_state s = runtime_state(rt);

	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "status",
			 status_value_name(runtime_status(rt)), "agent_type",
			 agent_type_name(rt->cfg.type), "transport", "pty",
			 "state", status_state_name(s), "dialog",
			 s == STATE_WAITING ? api_dialog_json(rt) : json_null(),
			 "report", api_report_json(rt->report));
}

/* ---- broadcasting ---------------------------------------------------- */

static char *
api_dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (s == NULL)
		log_error("cannot encode an event as JSON; dropped");
	return s;
}

static void
api_send_to(struct runtime *rt, bool screen, const char *event,
	    const char *data)
{
	if (data == NULL)
		return; /* could not be encoded; logged */
	for (struct runtime_sub *s = rt->subs; s != NULL; s = s->next) {
		if (s->screen == screen)
			http_sse_send(s->sse, event, data);
	}
}

void
api_broadcast_message(struct runtime *rt, const struct conv_msg *m)
{
	char *d;

	if (rt->subs == NULL)
		return;
	d = api_dump(api_message_json(m, "message"));
	api_send_to(rt, false, "message_update", d);
	free(d);
}

static json_t *
api_status_event_json(struct runtime *rt)
{
	json_t *j = api_status_json(rt);

	json_object_del(j, "transport");
	json_object_del(j, "report"); /* task_report carries it */
	return j;
}

void
api_broadcast_status(struct runtime *rt)
{
	char *d;

	if (rt->subs == NULL)
		return;
	d = api_dump(api_status_event_json(rt));
	api_send_to(rt, false, "status_change", d);
	free(d);
}

static json_t *
api_error_json(const struct runtime_error *e)
{
	char ts[32];

	time_rfc3339(e->time, ts);
	return json_pack("{s:s, s:s, s:s}", "message", e->message, "level",
			 e->level, "time", ts);
}

void
api_broadcast_error(struct runtime *rt, const struct runtime_error *e)
{
	char *d;

	if (rt->subs == NULL)
		return;
	d = api_dump(api_error_json(e));
	api_send_to(rt, false, "agent_error", d);
	free(d);
}

void
api_broadcast_report(struct runtime *rt)
{
	char *d;

	if (rt->subs == NULL)
		return;
	d = api_dump(api_report_json(rt->report));
	api_send_to(rt, false, "task_report", d);
	free(d);
}

void
api_broadcast_hook(struct runtime *rt, const char *event, const char *message)
{
	char ts[32], *msg = NULL, *d;

	if (rt->subs == NULL)
		return;
	time_rfc3339(wall_ms(), ts);
	if (message != NULL) {
		/* cut on a character boundary */
		size_t n = utf8_cut(message,
				    strnlen(message, API_MAX_HOOK_MESSAGE));

		msg = xstrndup(message, n);
	}
	d = api_dump(json_pack("{s:s, s:s, s:s?}", "event", event, "time", ts,
			       "message", msg));
	api_send_to(rt, false, "agent_hook", d);
	free(d);
	free(msg);
}

/* The screen as /internal/screen sends it: right-trimmed. */
static char *
api_screen_event(struct runtime *rt)
{
	char *text = xstrdup(runtime_screen(rt));
	size_t n = strlen(text);

	while (n > 0 && strchr(" \t\n\r\f\v", text[n - 1]))
		text[--n] = '\0';
	json_t *j = json_pack("{s:s}", "screen", text);
	free(text);
	return api_dump(j);
}

void
api_broadcast_screen(struct runtime *rt)
{
	char *d;
	bool any = false;

	for (struct runtime_sub *s = rt->subs; s != NULL && !any; s = s->next)
		any = s->screen;
	if (!any)
		return;
	d = api_screen_event(rt);
	api_send_to(rt, true, "screen", d);
	free(d);
}

/* ---- handlers --------------------------------------------------------- */

static void
api_get_status(struct http_req *req, void *data)
{
	struct runtime *rt = data;

	http_reply_json(req, 200, api_status_json(rt));
}

static void
api_get_messages(struct http_req *req, void *data)
{
	struct runtime *rt = data;
	json_t *a = json_array();

	for (size_t i = 0; i < conv_count(rt->conv); i++)
		json_array_append_new(
			a, api_message_json(conv_get(rt->conv, i), "content"));
	http_reply_json(req, 200, json_pack("{s:o}", "messages", a));
}

/* Answer an open dialog with the option text names, if it names one. */
static int
api_dialog_option(struct runtime *rt, const char *content)
{
	long n;

	if (parse_long(content, 1, (long)rt->dialog.noptions, &n) == 0)
		return (int)n;
	for (size_t i = 0; i < rt->dialog.noptions; i++) {
		if (strcasecmp(rt->dialog.options[i], content) == 0)
			return (int)i + 1;
	}
	for (size_t i = 0; i < rt->dialog.noptions; i++) {
		if (strncasecmp(rt->dialog.options[i], content,
				strlen(content)) == 0)
			return (int)i + 1;
	}
	return -1;
}

static void
api_post_message(struct http_req *req, void *data)
{
	struct runtime *rt = data;
	json_t *body = http_req_json(req), *jc, *jt;
	const char *content, *type;
	char *cause = NULL;
	int r;

	if (body == NULL)
		return;
	jc = json_object_get(body, "content");
	jt = json_object_get(body, "type");
	if (!json_is_string(jc)) {
		http_reply_invalid(req, "body.content", jc,
				   jc ? "\"content\" must be a string"
				      : "\"content\" is required");
		goto out;
	}
	if (!json_is_string(jt) || (strcmp(json_string_value(jt), "user") &&
				    strcmp(json_string_value(jt), "raw"))) {
		http_reply_invalid(req, "body.type", jt,
				   "\"type\" must be \"user\" or \"raw\"");
		goto out;
	}
	content = json_string_value(jc);
	type = json_string_value(jt);
	if (json_string_length(jc) > RUNTIME_MAX_MESSAGE) {
		http_reply_invalid(req, "body.content", NULL,
				   "message is longer than %u bytes",
				   RUNTIME_MAX_MESSAGE);
		goto out;
	}
	if (memchr(content, '\0', json_string_length(jc)) != NULL) {
		http_reply_invalid(req, "body.content", NULL,
				   "message must not contain NUL bytes");
		goto out;
	}
	if (strcmp(type, "raw") == 0) {
		if (json_string_length(jc) == 0) {
			http_reply_invalid(req, "body.content", jc,
					   "message must not be empty");
			goto out;
		}
		r = runtime_send_raw(rt, content, json_string_length(jc));
		if (r < 0)
			http_reply_problem(req, 503,
					   "cannot write to the agent: %s",
					   strerror(-r));
		else
			http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
		goto out;
	}
	if (*content == '\0' || str_is_blank(content)) {
		http_reply_invalid(req, "body.content", jc,
				   "message must not be empty");
		goto out;
	}
	if (isspace((unsigned char)content[0]) ||
	    isspace((unsigned char)content[strlen(content) - 1])) {
		http_reply_invalid(req, "body.content", jc,
				   "message must be trimmed of leading and "
				   "trailing whitespace");
		goto out;
	}
	if (runtime_state(rt) == STATE_WAITING &&
	    json_is_true(json_object_get(body, "if_idle"))) {
		/* taskbox's send queue: its input is for the idle agent and
		 * never answers a dialog that opened meanwhile */
		http_reply_problem_reason(req, 409, "waiting",
					  "the agent is waiting on a dialog "
					  "(%s); input sent with if_idle is "
					  "not an answer",
					  rt->dialog.text);
		goto out;
	}
	if (runtime_state(rt) == STATE_WAITING) {
		int opt = api_dialog_option(rt, content);
		char key[2] = {0};

		if (opt < 0) {
			http_reply_problem_reason(
				req, 409, "not_an_option",
				"the agent is waiting on a dialog "
				"(%s); answer with an option number "
				"1-%zu or its text, or send raw keys",
				rt->dialog.text, rt->dialog.noptions);
			goto out;
		}
		key[0] = (char)('0' + opt);
		r = runtime_send_raw(rt, key, 1);
		if (r < 0)
			http_reply_problem(req, 503,
					   "cannot write to the agent: %s",
					   strerror(-r));
		else
			http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
		goto out;
	}
	if (runtime_status(rt) != STATUS_STABLE) {
		http_reply_problem_reason(
			req, 409, "busy",
			"message can only be sent when the agent is "
			"waiting for user input (status is \"running\", "
			"state \"%s\"); retry when /status says \"stable\"",
			status_state_name(runtime_state(rt)));
		goto out;
	}
	r = runtime_send_user(rt, req, content, &cause);
	if (r == -EBUSY || r == -ENOSPC) {
		http_reply_problem_reason(
			req, 409, r == -EBUSY ? "busy" : "conversation_full",
			"%s", cause);
	} else if (r < 0) {
		http_reply_problem(req, 503, "%s", cause);
	} else {
		http_req_defer(req);
	}
	free(cause);
out:
	json_decref(body);
}

/* ---- upload ------------------------------------------------------------ */

struct api_upload {
	struct buf data;
	char *filename;
	bool have_file;
	bool too_big;
};

static enum MHD_Result
api_upload_iter(void *cls, enum MHD_ValueKind kind UNUSED, const char *key,
		const char *filename, const char *content_type UNUSED,
		const char *transfer_encoding UNUSED, const char *data,
		uint64_t off UNUSED, size_t size)
{
	struct api_upload *u = cls;

	if (strcmp(key, "file") != 0)
		return MHD_YES;
	if (!u->have_file) {
		u->have_file = true;
		u->filename = xstrdup(filename ? filename : "");
	}
	if (size > 0 && buf_append(&u->data, data, size) < 0)
		u->too_big = true;
	return MHD_YES;
}

/* A safe basename for an uploaded file, or NULL. */
static char *
api_upload_name(const char *name)
{
	const char *b = strrchr(name, '/');
	char *s;

	b = b ? b + 1 : name;
	if (*b == '\0' || strcmp(b, ".") == 0 || strcmp(b, "..") == 0 ||
	    strlen(b) > 255 || !utf8_valid(b, strlen(b)))
		return NULL;
	s = xstrdup(b);
	for (char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == '\\')
			*p = '_';
	}
	return s;
}

static void
api_post_upload(struct http_req *req, void *data)
{
	struct runtime *rt = data;
	struct api_upload u = {0};
	struct MHD_PostProcessor *pp;
	const char *body, *ct = http_req_header(req, "Content-Type");
	char *name = NULL, *dir = NULL, *path = NULL, hex[17];
	uint64_t h = 1469598103934665603ULL;
	size_t len;
	int fd;

	if (ct == NULL || strncasecmp(ct, "multipart/form-data", 19) != 0) {
		http_reply_invalid(req, "body", NULL,
				   "expected multipart/form-data with a "
				   "\"file\" field");
		return;
	}
	buf_init(&u.data, RUNTIME_MAX_UPLOAD);
	pp = MHD_create_post_processor(http_req_conn(req), 65536,
				       api_upload_iter, &u);
	if (pp == NULL) {
		http_reply_invalid(req, "body", NULL,
				   "cannot parse the multipart body");
		goto out;
	}
	body = http_req_body(req, &len);
	if (MHD_post_process(pp, body, len) != MHD_YES) {
		MHD_destroy_post_processor(pp);
		http_reply_invalid(req, "body", NULL,
				   "malformed multipart body");
		goto out;
	}
	MHD_destroy_post_processor(pp);
	if (u.too_big) {
		http_reply_problem(req, 413, "file size exceeds 10MB limit");
		goto out;
	}
	if (!u.have_file) {
		http_reply_invalid(req, "body.file", NULL,
				   "the \"file\" field is required");
		goto out;
	}
	name = api_upload_name(u.filename);
	if (name == NULL) {
		http_reply_invalid(req, "body.file", NULL,
				   "the file needs a plain file name");
		goto out;
	}
	if (rt->upload_dir == NULL) {
		char tmpl[] = "/tmp/taskbox-uploads-XXXXXX";

		if (mkdtemp(tmpl) == NULL) {
			http_reply_problem(req, 500,
					   "cannot create the upload "
					   "directory: %s",
					   strerror(errno));
			goto out;
		}
		rt->upload_dir = xstrdup(tmpl);
	}
	for (size_t i = 0; i < u.data.len; i++) {
		h ^= (unsigned char)u.data.data[i];
		h *= 1099511628211ULL;
	}
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
	dir = xasprintf("%s/%s", rt->upload_dir, hex);
	path = xasprintf("%s/%s", dir, name);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		http_reply_problem(req, 500, "cannot create '%s': %s", dir,
				   strerror(errno));
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0644);
	if (fd < 0 ||
	    write_all(fd, u.data.data ? u.data.data : "", u.data.len) < 0) {
		http_reply_problem(req, 500, "cannot write '%s': %s", path,
				   strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		goto out;
	}
	close(fd);
	http_reply_json(req, 200,
			json_pack("{s:b, s:s}", "ok", 1, "filePath", path));
out:
	buf_release(&u.data);
	free(u.filename);
	free(name);
	free(dir);
	free(path);
}

/* ---- SSE ----------------------------------------------------------------- */

static void
api_sub_closed(struct http_sse *sse, void *data)
{
	struct runtime *rt = data;

	for (struct runtime_sub **pp = &rt->subs; *pp != NULL;
	     pp = &(*pp)->next) {
		if ((*pp)->sse == sse) {
			struct runtime_sub *s = *pp;

			*pp = s->next;
			free(s);
			rt->nsubs--;
			return;
		}
	}
}

static struct runtime_sub *
api_subscribe(struct runtime *rt, struct http_req *req, bool screen,
	      size_t extra)
{
	struct runtime_sub *s;

	if (rt->nsubs >= RUNTIME_MAX_SUBSCRIBERS) {
		http_reply_problem(req, 503,
				   "too many event subscribers (limit %d)",
				   RUNTIME_MAX_SUBSCRIBERS);
		return NULL;
	}
	s = xcalloc(1, sizeof *s);
	s->screen = screen;
	s->sse = http_sse_start(req, API_SSE_QUEUE + extra, api_sub_closed, rt);
	s->next = rt->subs;
	rt->subs = s;
	rt->nsubs++;
	return s;
}

/* Append one SSE record to the replay being built. */
static void
api_replay_add(struct buf *replay, const char *event, char *data)
{
	if (data == NULL)
		return;
	buf_printf(replay, "%s", event);
	buf_append(replay, "", 1);
	buf_puts(replay, data);
	buf_append(replay, "", 1);
	free(data);
}

static void
api_get_events(struct http_req *req, void *data)
{
	struct runtime *rt = data;
	struct runtime_sub *s;
	struct buf replay;

	/*
	 * A new subscriber first gets the whole current state. Build it
	 * first (event NUL data NUL ...) so the stream's queue limit is for
	 * live events on top of whatever the replay takes.
	 */
	buf_init(&replay, 0);
	for (size_t i = 0; i < conv_count(rt->conv); i++)
		api_replay_add(&replay, "message_update",
			       api_dump(api_message_json(conv_get(rt->conv, i),
							 "message")));
	api_replay_add(&replay, "status_change",
		       api_dump(api_status_event_json(rt)));
	if (rt->report != NULL)
		api_replay_add(&replay, "task_report",
			       api_dump(api_report_json(rt->report)));
	for (size_t i = 0; i < rt->nerrors; i++)
		api_replay_add(&replay, "agent_error",
			       api_dump(api_error_json(&rt->errors[i])));
	s = api_subscribe(rt, req, false, replay.len * 2);
	for (size_t o = 0; s != NULL && o < replay.len;) {
		const char *ev = replay.data + o;
		const char *d = ev + strlen(ev) + 1;

		http_sse_send(s->sse, ev, d);
		o = (size_t)(d - replay.data) + strlen(d) + 1;
	}
	buf_release(&replay);
}

static void
api_get_screen(struct http_req *req, void *data)
{
	struct runtime *rt = data;
	struct runtime_sub *s = api_subscribe(rt, req, true, 0);
	char *d;

	if (s == NULL)
		return;
	d = api_screen_event(rt);
	if (d != NULL)
		http_sse_send(s->sse, "screen", d);
	free(d);
}

static void
api_post_resize(struct http_req *req, void *data)
{
	struct runtime *rt = data;
	json_t *body = http_req_json(req);
	json_int_t cols, rows;

	if (body == NULL)
		return;
	if (json_unpack(body, "{s:I, s:I}", "cols", &cols, "rows", &rows) < 0 ||
	    cols < 10 || cols > 1000 || rows < 10 || rows > 10000 ||
	    cols * rows > RUNTIME_MAX_CELLS ||
	    cols * rt->cfg.scrollback > RUNTIME_MAX_SB_CELLS) {
		http_reply_invalid(req, "body", NULL,
				   "expected {\"cols\": 10-1000, \"rows\": "
				   "10-10000} with at most %u cells (%u with "
				   "the scrollback)",
				   RUNTIME_MAX_CELLS, RUNTIME_MAX_SB_CELLS);
	} else if (runtime_resize(rt, (unsigned)cols, (unsigned)rows) < 0) {
		http_reply_problem(req, 500, "cannot resize the terminal");
	} else {
		http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
	}
	json_decref(body);
}

/* ---- reports and hooks from inside the workspace ----------------------- */

/* Whether s has a control character (C0, DEL or C1). */
static bool
api_has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f ||
		    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return true;
	}
	return false;
}

/* Check an optional string field; NULL when fine, else the reason. */
static const char *
api_opt_string(const json_t *v, size_t max, bool *present)
{
	*present = v != NULL && !json_is_null(v);
	if (!*present)
		return NULL;
	if (!json_is_string(v))
		return "must be a string";
	if (json_string_length(v) > max)
		return "is too long";
	if (memchr(json_string_value(v), '\0', json_string_length(v)) ||
	    api_has_control(json_string_value(v)))
		return "must not contain control characters or newlines";
	return NULL;
}

static void
api_post_report(struct http_req *req, void *data)
{
	static const char *const states[] = {"working", "idle", "failure",
					     "complete", NULL};
	struct runtime *rt = data;
	json_t *body = http_req_json(req), *js, *jl, *jst;
	struct runtime_report *r;
	const char *why, *k;
	json_t *v;
	bool have;
	size_t n;

	if (body == NULL)
		return;
	json_object_foreach(body, k, v)
	{
		if (strcmp(k, "summary") && strcmp(k, "link") &&
		    strcmp(k, "state")) {
			http_reply_invalid(req, "body", NULL,
					   "unknown field \"%s\"; expected "
					   "summary, link and state",
					   k);
			goto out;
		}
	}
	js = json_object_get(body, "summary");
	jl = json_object_get(body, "link");
	jst = json_object_get(body, "state");
	if (!json_is_string(js)) {
		http_reply_invalid(req, "body.summary", js,
				   js ? "\"summary\" must be a string"
				      : "\"summary\" is required");
		goto out;
	}
	free(utf8_decode(json_string_value(js), &n));
	if (n > API_MAX_SUMMARY) {
		http_reply_invalid(req, "body.summary", NULL,
				   "\"summary\" is %zu characters long; the "
				   "limit is %d",
				   n, API_MAX_SUMMARY);
		goto out;
	}
	if ((why = api_opt_string(js, SIZE_MAX, &have)) != NULL ||
	    str_is_blank(json_string_value(js))) {
		http_reply_invalid(req, "body.summary", NULL, "\"summary\" %s",
				   why ? why : "must not be empty");
		goto out;
	}
	if ((why = api_opt_string(jl, API_MAX_LINK, &have)) != NULL) {
		http_reply_invalid(req, "body.link", NULL,
				   "\"link\" %s (at most %d bytes, one line)",
				   why, API_MAX_LINK);
		goto out;
	}
	if (jst != NULL && !json_is_null(jst)) {
		bool ok = false;

		for (size_t i = 0; states[i] != NULL && json_is_string(jst);
		     i++)
			ok = ok ||
			     strcmp(json_string_value(jst), states[i]) == 0;
		if (!ok) {
			http_reply_invalid(req, "body.state", jst,
					   "\"state\" must be one of working, "
					   "idle, failure, complete");
			goto out;
		}
	}
	r = xcalloc(1, sizeof *r);
	r->summary = xstrdup(json_string_value(js));
	if (have && json_string_length(jl) > 0)
		r->link = xstrdup(json_string_value(jl));
	if (json_is_string(jst))
		r->state = xstrdup(json_string_value(jst));
	r->time = wall_ms();
	runtime_set_report(rt, r);
	http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
out:
	json_decref(body);
}

/* Whether an event name is 1-64 of [a-z0-9._-]. */
static bool
api_hook_event_ok(const char *e)
{
	size_t n = strlen(e);

	if (n == 0 || n > API_MAX_HOOK_EVENT)
		return false;
	for (; *e != '\0'; e++) {
		if (!islower((unsigned char)*e) &&
		    !isdigit((unsigned char)*e) && !strchr("._-", *e))
			return false;
	}
	return true;
}

static void
api_post_hook(struct http_req *req, void *data)
{
	struct runtime *rt = data;
	json_t *body = http_req_json(req), *je;
	const char *message;

	if (body == NULL)
		return;
	je = json_object_get(body, "event");
	if (!json_is_string(je) || !api_hook_event_ok(json_string_value(je))) {
		http_reply_invalid(req, "body.event", je,
				   "\"event\" must be a hook name of 1-%d "
				   "characters a-z, 0-9, '.', '_' or '-'",
				   API_MAX_HOOK_EVENT);
		goto out;
	}
	runtime_on_hook(rt, json_string_value(je),
			json_object_get(body, "payload"), &message);
	http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
out:
	json_decref(body);
}

/* ---- static files ---------------------------------------------------- */

static void
api_reply_asset(struct http_req *req, const struct asset *a)
{
	http_reply_header(req, "Cache-Control", "no-cache");
	http_reply(req, 200, asset_mime(a->name), a->data, a->len);
}

static void
api_get_chat(struct http_req *req, void *data UNUSED)
{
	const char *path = http_req_path(req);
	const struct asset *a;

	if (strcmp(path, "/chat") == 0) {
		http_reply_redirect(req, 307, "/chat/");
		return;
	}
	a = asset_chat(path + strlen("/chat/"));
	if (a == NULL)
		http_reply_problem(req, 404, "no such file: '%s'", path);
	else
		api_reply_asset(req, a);
}

static void
api_get_openapi(struct http_req *req, void *data UNUSED)
{
	api_reply_asset(req, asset_find("src/runtime/openapi.json"));
}

static void
api_get_root(struct http_req *req, void *data)
{
	struct runtime *rt = data;
	char *loc = xasprintf("%s/embed", rt->cfg.chat_base_path);

	http_reply_redirect(req, 307, loc);
	free(loc);
}

/* ---- guard -------------------------------------------------------------- */

/* The host name of a Host header, lower-cased, without port. */
static char *
api_host_name(const char *host)
{
	char *h;
	size_t n;

	if (host[0] == '[') {
		const char *e = strchr(host, ']');

		if (e == NULL)
			return NULL;
		h = xstrndup(host, (size_t)(e - host) + 1);
	} else {
		h = xstrndup(host, strcspn(host, ":"));
	}
	for (char *p = h; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	n = strlen(h);
	if (n > 1 && h[n - 1] == '.')
		h[n - 1] = '\0';
	return h;
}

static bool
api_host_allowed(struct runtime *rt, const char *host)
{
	char *h;
	bool ok = false;

	if (host == NULL || (h = api_host_name(host)) == NULL)
		return false;
	for (size_t i = 0; i < rt->cfg.nallowed_hosts && !ok; i++) {
		const char *a = rt->cfg.allowed_hosts[i];

		ok = strcmp(a, "*") == 0 || strcasecmp(a, h) == 0;
	}
	free(h);
	return ok;
}

/* Constant-time string comparison for tokens. */
static bool
api_token_equal(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	unsigned char d = na != nb;

	for (size_t i = 0; i < na; i++)
		d |= (unsigned char)(a[i] ^ b[i % (nb ? nb : 1)]);
	return d == 0;
}

static bool
api_guard(struct http_req *req, void *data)
{
	struct runtime *rt = data;
	const char *host = http_req_header(req, "Host");
	const char *origin = http_req_header(req, "Origin");

	if (rt->cfg.socket_path == NULL && !api_host_allowed(rt, host)) {
		struct buf list;

		buf_init(&list, 0);
		for (size_t i = 0; i < rt->cfg.nallowed_hosts; i++)
			buf_printf(&list, "%s%s", i ? ", " : "",
				   rt->cfg.allowed_hosts[i]);
		http_reply_problem(req, 400,
				   "Invalid host header. Allowed hosts: %s",
				   buf_cstr(&list));
		buf_release(&list);
		return false;
	}
	if (origin != NULL && !http_req_origin_allowed(req, origin)) {
		http_reply_problem(req, 403,
				   "origin '%s' is not allowed; add it with "
				   "--allowed-origins",
				   origin);
		return false;
	}
	if (rt->cfg.token != NULL &&
	    strcmp(http_req_method(req), "OPTIONS") != 0) {
		const char *auth = http_req_header(req, "Authorization");
		const char *tok = NULL;

		if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
			tok = auth + 7;
		else if (strcmp(http_req_method(req), "GET") == 0)
			tok = http_req_query(req, "access_token");
		if (tok == NULL) {
			http_reply_problem(req, 401,
					   "authentication required: send "
					   "Authorization: Bearer <token>");
			return false;
		}
		if (!api_token_equal(tok, rt->cfg.token)) {
			http_reply_problem(req, 401, "invalid token");
			return false;
		}
	}
	return true;
}

void
api_register(struct runtime *rt)
{
	struct http_server *h = rt->http;

	http_server_set_guard(h, api_guard, rt);
	http_server_set_origins(h, rt->cfg.allowed_origins,
				rt->cfg.nallowed_origins);
	http_server_route(h, "GET", "/status", 0, 0, api_get_status, rt);
	http_server_route(h, "GET", "/messages", 0, 0, api_get_messages, rt);
	http_server_route(h, "POST", "/message", 0,
			  RUNTIME_MAX_MESSAGE * 6 + 4096, api_post_message, rt);
	http_server_route(h, "POST", "/upload", 0, RUNTIME_MAX_UPLOAD + 65536,
			  api_post_upload, rt);
	http_server_route(h, "GET", "/events", 0, 0, api_get_events, rt);
	http_server_route(h, "GET", "/internal/screen", 0, 0, api_get_screen,
			  rt);
	http_server_route(h, "GET", "/internal/terminal", 0, 0, term_get, rt);
	http_server_route(h, "POST", "/internal/resize", 0, 0, api_post_resize,
			  rt);
	http_server_route(h, "POST", "/internal/report", 0, 16384,
			  api_post_report, rt);
	http_server_route(h, "POST", "/internal/hook", 0, API_MAX_HOOK_BODY,
			  api_post_hook, rt);
	http_server_route(h, "GET", "/openapi.json", 0, 0, api_get_openapi, rt);
	http_server_route(h, "GET", "/chat", HTTP_ROUTE_PREFIX, 0, api_get_chat,
			  rt);
	http_server_route(h, "GET", "/", 0, 0, api_get_root, rt);
}
