/*
 * api-tasks.c: /api/v2/tasks, in the shapes of Coder's Tasks API.
 *
 * The same API is mounted at Coder's older path, /api/experimental/tasks
 * (tasks_mounts): the same handlers and checks, each Task JSON there
 * with Coder's wire values (api_coder_task_text).
 *
 * Visibility: a task is visible to its owner, to admins, and to the
 * task-creator that created it while it keeps that role
 * (auth_may_access_task); to anyone else it does not exist (404, never
 * 403, so names do not leak). Creating a task for another user needs an
 * admin, or a task-creator for an active member (auth_may_create_for);
 * tasks.created_by records who did. Task names are unique per owner
 * (case-insensitive) among tasks not deleted; without a name one is made
 * from the prompt.
 */
#include "common.h"

#include <ctype.h>
#include <sodium.h>
#include <sys/utsname.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/text.h"
#include "http/http.h"
#include "server/api-errors.h"
#include "server.h"
#include "server/api-coder.h"
#include "server/install.h"
#include "server/module.h"
#include "server/queue.h"
#include "server/replica.h"
#include "server/task-events.h"
#include "server/task-remote.h"
#include "store/store-rows.h"

#define TASK_INPUT_MAX	 (32 * 1024)
#define TASK_NAME_MAX	 32
#define TASK_DISPLAY_MAX 64
#define TASK_BODY_LIMIT	 (256 * 1024)
/* GET /api/v2/tasks: without limit, the whole list up to this many (then
 * next); limit at most TASK_LIST_LIMIT_MAX; a page stops early rather
 * than make a body over TASK_LIST_BODY_MAX */
#define TASK_LIST_ALL	    1000
#define TASK_LIST_LIMIT_MAX 500
#define TASK_LIST_BODY_MAX  (16u << 20)
#define TASK_CURSOR_LEN	    22

/* Where the task API is mounted: taskbox's path, and Coder's whose Task
 * JSON carries Coder's wire values (its texts passed through wire). */
static const struct tasks_mount {
	const char *root;
	task_text_fn wire;
} tasks_mounts[] = {
	{"/api/v2/tasks", NULL},
	{"/api/experimental/tasks", api_coder_task_text},
};

/* The mount req's path is under (every request here is under one). */
static const struct tasks_mount *
tasks_mount_of(struct http_req *req)
{
	const char *path = http_req_path(req);

	for (size_t i = 1; i < ARRAY_SIZE(tasks_mounts); i++)
		if (str_starts_with(path, tasks_mounts[i].root))
			return &tasks_mounts[i];
	return &tasks_mounts[0];
}

/* Reply status with t's Task JSON as req's mount shows it. */
static void
task_reply(struct http_req *req, unsigned status, struct task *t)
{
	size_t len;
	const char *text =
		task_json_text_as(t, tasks_mount_of(req)->wire, &len);

	http_reply(req, status, "application/json", text, len);
}

/* The number of characters in UTF-8 s. */
static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Is name a valid task name: [a-z0-9-], 1-32, no leading/trailing '-'? */
static bool
task_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > TASK_NAME_MAX || name[0] == '-' || name[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

/* A task name from the prompt's first words, whole words up to 24
 * characters (new string). */
static char *
task_name_from_prompt(const char *prompt)
{
	char out[64];
	size_t n = 0, words = 0, cut = 0;
	bool dash = false;

	for (const char *p = prompt; *p != '\0' && words < 5 && n < 40; p++) {
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			if (dash && n > 0) {
				if (n <= 24)
					cut = n;
				out[n++] = '-';
				words++;
			}
			dash = false;
			out[n++] = c;
		} else {
			dash = true;
		}
	}
	if (n <= 24)
		cut = n;
	if (cut == 0)
		cut = MIN(n, 24); /* one long word */
	out[cut] = '\0';
	return cut > 0 ? xstrdup(out) : xstrdup("task");
}

/* The first line of the prompt, cut to 64 characters (new string). */
static char *
task_display_from_prompt(const char *prompt)
{
	size_t n = 0, chars = 0;

	/* up to the start of the character past the last one kept */
	for (; prompt[n] != '\0' && prompt[n] != '\n'; n++)
		if (((unsigned char)prompt[n] & 0xc0) != 0x80 &&
		    chars++ == TASK_DISPLAY_MAX)
			break;
	return xstrndup(prompt, n);
}

/* Find the visible task {user}/{task} (by id or name, any case) or reply
 * 404; borrowed. The live tasks are every task not deleted, so memory
 * answers (the store's lower(name) match scanned the whole table). */
static struct task *
task_lookup(struct http_req *req, const json_t *caller, const char *user_ref,
	    const char *task_ref)
{
	json_t *owner = auth_lookup_user(caller, user_ref);
	struct task *t = NULL;

	if (owner != NULL)
		t = task_find_named(
			json_string_value(json_object_get(owner, "id")),
			task_ref);
	if (t != NULL &&
	    !auth_may_access_task(caller, task_owner_id(t), task_created_by(t)))
		t = NULL;
	if (t == NULL)
		http_reply_problem(req, 404, "no task '%s/%s'", user_ref,
				   task_ref);
	json_decref(owner);
	return t;
}

/* Check the create body's parameters against the template's. */
static bool
task_check_parameters(struct http_req *req, json_t *spec, json_t *given,
		      json_t **out)
{
	json_t *params = json_object_get(spec, "parameters"), *p, *v;
	const char *k;
	size_t i;

	*out = json_object();
	if (given != NULL && !json_is_object(given)) {
		http_reply_invalid(req, "body.parameters", given,
				   "parameters must be an object of name to "
				   "value");
		return false;
	}
	json_object_foreach(given, k, v)
	{
		bool known = false;

		json_array_foreach(params, i, p) if (
			strcmp(json_string_value(json_object_get(p, "name")),
			       k) == 0) known = true;
		if (!known || strcmp(k, "AI Prompt") == 0) {
			http_reply_invalid(req, "body.parameters", v,
					   known ? "'AI Prompt' comes from "
						   "'input'"
						 : "the template has no "
						   "parameter '%s'",
					   k);
			return false;
		}
		if (!json_is_string(v) && !json_is_number(v) &&
		    !json_is_boolean(v)) {
			http_reply_invalid(req, "body.parameters", v,
					   "parameter '%s' must be a string, "
					   "number or boolean",
					   k);
			return false;
		}
		json_object_set(*out, k, v);
	}
	json_array_foreach(params, i, p)
	{
		const char *name =
			json_string_value(json_object_get(p, "name"));

		if (strcmp(name, "AI Prompt") == 0 ||
		    json_object_get(*out, name) != NULL)
			continue;
		if (json_object_get(p, "default") != NULL &&
		    !json_is_null(json_object_get(p, "default")))
			json_object_set(*out, name,
					json_object_get(p, "default"));
		else if (json_is_true(json_object_get(p, "required"))) {
			http_reply_invalid(req, "body.parameters", NULL,
					   "parameter '%s' is required", name);
			return false;
		}
	}
	return true;
}

/*
 * The preset of version that the create body names, by Coder's
 * template_version_preset_id or by name (preset); at most one of them.
 * *preset is borrowed from version (NULL when the body names none; Coder's
 * Go client sends the nil uuid then) and id its id ("" for none). False
 * after a 422 (both, or not a string) or a 400 (no such preset).
 */
static bool
task_body_preset(struct http_req *req, const json_t *body,
		 const json_t *version, const json_t **preset, char id[37])
{
	static const char nil[] = "00000000-0000-0000-0000-000000000000";
	json_t *jid = json_object_get(body, "template_version_preset_id");
	json_t *jname = json_object_get(body, "preset");
	const char *vid =
		json_string_value(json_object_get(version, "version_id"));

	*preset = NULL;
	id[0] = '\0';
	if (json_is_null(jid) ||
	    (json_is_string(jid) && strcmp(json_string_value(jid), nil) == 0))
		jid = NULL;
	if (json_is_null(jname))
		jname = NULL;
	if (jid != NULL && jname != NULL) {
		http_reply_invalid(req, "body.preset", jname,
				   "give template_version_preset_id or "
				   "preset, not both");
		return false;
	}
	if ((jid != NULL && !json_is_string(jid)) ||
	    (jname != NULL && !json_is_string(jname))) {
		http_reply_invalid(
			req,
			jid ? "body.template_version_preset_id" : "body.preset",
			jid ? jid : jname, "must be a string: a preset's %s",
			jid ? "id" : "name");
		return false;
	}
	if (jid == NULL && jname == NULL)
		return true;
	*preset = template_preset_find(json_object_get(version, "spec_json"),
				       vid, json_string_value(jid),
				       json_string_value(jname));
	if (*preset == NULL) {
		const char *what = json_string_value(jid ? jid : jname);

		/* no name is that long: not echoed in full */
		if (strlen(what) > 4 * TEMPLATE_PRESET_NAME_MAX)
			what = "(over 64 characters)";
		/* 400 (Coder's status) with the field named, as for a query */
		http_reply_bad_query(
			req,
			jid ? "body.template_version_preset_id" : "body.preset",
			"template '%s' version %" JSON_INTEGER_FORMAT
			" (%s) has no preset %s'%s'",
			json_string_value(json_object_get(version, "name")),
			json_integer_value(json_object_get(version, "version")),
			vid, jid ? "with id " : "", what);
		return false;
	}
	template_preset_id(
		vid, json_string_value(json_object_get(*preset, "name")), id);
	return true;
}

static void api_tasks_create(struct http_req *req, json_t *caller,
			     const char *user_ref, bool probed);

/* A create request waiting for the install probe. */
struct create_probe {
	struct http_req *req;
	json_t *caller;
	char *user_ref;
};

/* The probe answered: refuse the create, or run it again (probed). */
static void
api_tasks_on_probe(const char *cause, void *data)
{
	struct create_probe *c = data;

	if (cause != NULL)
		http_reply_problem(c->req, 400,
				   "the agent is not installed and cannot be: "
				   "%s",
				   cause);
	else
		api_tasks_create(c->req, c->caller, c->user_ref, true);
	json_decref(c->caller);
	free(c->user_ref);
	free(c);
}

/* May a task of module start? Not on another machine than its install's
 * arch (false after a 400). When the agent is neither installed nor
 * installing, its package index or URL must answer first: false after
 * deferring req for that probe (install.c), which runs the create again. */
static bool
api_tasks_installable(struct http_req *req, json_t *caller,
		      const char *user_ref, const json_t *module)
{
	json_t *inst = module_install(module, srv->tools_dir);
	char *url = inst ? install_probe_url(inst, srv->pip_index_url) : NULL;
	const char *arch = json_string_value(json_object_get(inst, "arch"));
	struct create_probe *c;
	struct utsname u;

	if (arch != NULL && uname(&u) == 0 && strcmp(u.machine, arch) != 0) {
		http_reply_problem(
			req, 400,
			"the agent '%s' is built for %s and this "
			"machine is %s",
			json_string_value(json_object_get(module, "name")),
			arch, u.machine);
		json_decref(inst);
		free(url);
		return false;
	}
	if (url == NULL || install_present(inst) || install_running(inst)) {
		json_decref(inst);
		free(url);
		return true;
	}
	c = xcalloc(1, sizeof *c);
	c->req = req;
	c->caller = json_incref(caller);
	c->user_ref = xstrdup(user_ref);
	http_req_defer(req);
	install_probe(inst, api_tasks_on_probe, c);
	json_decref(inst);
	free(url);
	return false;
}

/* POST /api/v2/tasks/{user}; probed: the install probe answered. */
static void
api_tasks_create(struct http_req *req, json_t *caller, const char *user_ref,
		 bool probed)
{
	uint64_t accepted = now_ms();
	json_t *owner = NULL, *body = NULL, *tmplrow = NULL, *version = NULL;
	json_t *module = NULL, *params = NULL, *row = NULL;
	json_t *merged = NULL, *given;
	const json_t *preset;
	const char *input, *tref, *name, *display, *module_name, *refusal;
	const char *me = json_string_value(json_object_get(caller, "id"));
	char preset_id[37];
	char *gen_name = NULL, *gen_display = NULL, *ptext = NULL;
	char *cause = NULL;
	char id[37];
	struct task *t;
	int r = -EEXIST;

	owner = auth_lookup_user(caller, user_ref);
	if (owner == NULL) {
		http_reply_problem(req, 404, "no user '%s'", user_ref);
		goto out;
	}
	if (auth_may_create_for(caller, owner, &refusal) < 0) {
		http_reply_problem(req, 403, "%s", refusal);
		goto out;
	}
	if ((body = http_req_json(req)) == NULL)
		goto out;
	input = json_string_value(json_object_get(body, "input"));
	if (input == NULL || str_is_blank(input)) {
		http_reply_invalid(req, "body.input",
				   json_object_get(body, "input"),
				   "input (the prompt) must be a non-empty "
				   "string");
		goto out;
	}
	if (strlen(input) > TASK_INPUT_MAX) {
		http_reply_invalid(req, "body.input", NULL,
				   "input is %zu bytes; the limit is %d",
				   strlen(input), TASK_INPUT_MAX);
		goto out;
	}
	if (json_object_get(body, "template_version_id") != NULL) {
		const char *vid = json_string_value(
			json_object_get(body, "template_version_id"));

		version = vid ? catalog_version_get(vid) : NULL;
		if (version == NULL) {
			http_reply_invalid(
				req, "body.template_version_id",
				json_object_get(body, "template_version_id"),
				"no such template version");
			goto out;
		}
	} else {
		tref = json_object_get(body, "template") != NULL
			       ? json_string_value(
					 json_object_get(body, "template"))
			       : server_default_template();
		tmplrow = tref ? catalog_template_find(tref) : NULL;
		if (tmplrow == NULL) {
			http_reply_invalid(req, "body.template",
					   json_object_get(body, "template"),
					   "no template '%s' (taskbox template "
					   "list)",
					   tref ? tref : "");
			goto out;
		}
		version = catalog_version_get(json_string_value(
			json_object_get(tmplrow, "version_id")));
	}
	if (json_integer_value(json_object_get(version, "task_capable")) == 0) {
		http_reply_problem(
			req, 400, "template '%s' is not a task template: %s",
			json_string_value(json_object_get(version, "name")),
			json_string_value(
				json_object_get(version, "task_reason")));
		goto out;
	}
	/* a preset's parameters first, the body's override them */
	if (!task_body_preset(req, body, version, &preset, preset_id))
		goto out;
	given = json_object_get(body, "parameters");
	if (preset != NULL && (given == NULL || json_is_object(given))) {
		merged = json_deep_copy(json_object_get(preset, "parameters"));
		if (given != NULL)
			json_object_update(merged, given);
		given = merged;
	}
	if (!task_check_parameters(req, json_object_get(version, "spec_json"),
				   given, &params))
		goto out;
	module_name = json_string_value(json_object_get(
		json_object_get(json_object_get(version, "spec_json"), "agent"),
		"module"));
	module = module_name ? catalog_module_spec(module_name) : NULL;
	if ((r = task_precheck(version, module,
			       json_string_value(json_object_get(owner, "id")),
			       &cause)) != 0) {
		http_reply_problem(req, (unsigned)r, "%s", cause);
		goto out;
	}
	r = -EEXIST;
	name = json_string_value(json_object_get(body, "name"));
	if (json_object_get(body, "name") != NULL &&
	    (name == NULL || !task_name_valid(name))) {
		http_reply_invalid(req, "body.name",
				   json_object_get(body, "name"),
				   "name must be 1-32 characters of a-z, 0-9 "
				   "and '-', not starting or ending with '-'");
		goto out;
	}
	display = json_string_value(json_object_get(body, "display_name"));
	if (json_object_get(body, "display_name") != NULL &&
	    (display == NULL || utf8_chars(display) > TASK_DISPLAY_MAX)) {
		http_reply_invalid(req, "body.display_name",
				   json_object_get(body, "display_name"),
				   "display_name must be a string of at most "
				   "%d characters",
				   TASK_DISPLAY_MAX);
		goto out;
	}
	if (display == NULL || *display == '\0')
		display = gen_display = task_display_from_prompt(input);
	if (name == NULL)
		name = gen_name = task_name_from_prompt(input);
	{
		char *why = NULL;
		int code = task_admit(
			json_string_value(json_object_get(owner, "id")), false,
			&why);

		if (code < 0) {
			http_reply_problem(req, api_status_for_errno(code),
					   "%s", why);
			free(why);
			goto out;
		}
	}
	/* after every other check: a refused create starts no probe */
	if (!probed && !api_tasks_installable(req, caller, user_ref, module))
		goto out;
	ptext = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
	store_uuid(id);
	for (int attempt = 0; attempt < 6 && r == -EEXIST; attempt++) {
		if (attempt > 0) {
			char *n;

			if (gen_name == NULL)
				break; /* a given name clashed */
			n = xasprintf("%.*s-%04x", 27, gen_name,
				      randombytes_uniform(0x10000));
			free(gen_name);
			name = gen_name = n;
		}
		r = store_task_insert(
			srv->store, id,
			json_string_value(json_object_get(owner, "id")), name,
			display,
			json_string_value(
				json_object_get(version, "version_id")),
			ptext, preset_id, input,
			json_string_value(json_object_get(module, "agent_type"))
				?: "custom",
			replica_self(),
			json_equal(json_object_get(owner, "id"),
				   json_object_get(caller, "id"))
				? ""
				: me,
			(int64_t)wall_ms());
	}
	if (r == -EEXIST) {
		http_reply_problem(
			req, api_status_for_errno(r),
			"%s already has a task named '%s'; pick "
			"another name or delete that task",
			json_string_value(json_object_get(owner, "username")),
			name);
		goto out;
	}
	if (r < 0) {
		http_reply_problem(req, api_status_for_errno(r),
				   "cannot store the task");
		goto out;
	}
	row = store_task_get(srv->store, id);
	log_info("task %s/%s created from template %s",
		 json_string_value(json_object_get(owner, "username")), name,
		 json_string_value(json_object_get(version, "name")));
	t = task_start(row, version, module, accepted);
	task_reply(req, 201, t);
out:
	free(gen_name);
	free(gen_display);
	free(ptext);
	free(cause);
	json_decref(owner);
	json_decref(body);
	json_decref(tmplrow);
	json_decref(version);
	json_decref(module);
	json_decref(params);
	json_decref(merged);
	json_decref(row);
}

/* Take the next term of q ("key:value" or key:"quoted value"). */
static const char *
q_next(const char *p, char *key, size_t ksz, char *val, size_t vsz)
{
	size_t n = 0;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return NULL;
	while (*p != '\0' && *p != ':' && *p != ' ' && n + 1 < ksz)
		key[n++] = *p++;
	key[n] = '\0';
	n = 0;
	if (*p == ':')
		p++;
	if (*p == '"') {
		for (p++; *p != '\0' && *p != '"' && n + 1 < vsz; p++)
			val[n++] = *p;
		if (*p == '"')
			p++;
	} else {
		while (*p != '\0' && *p != ' ' && n + 1 < vsz)
			val[n++] = *p++;
	}
	val[n] = '\0';
	while (*p != '\0' && *p != ' ')
		p++;
	return p;
}

/*
 * Read the query's q into *owner_ref and, when status_ref is given,
 * *status_ref (new strings, NULL when absent); false after a 400 naming
 * a filter it does not know (status: too, without status_ref).
 */
static bool
task_q_parse(struct http_req *req, char **owner_ref, char **status_ref)
{
	const char *q = http_req_query(req, "q");
	char key[32], val[128];

	for (const char *p = q ? q : ""; p != NULL;) {
		p = q_next(p, key, sizeof key, val, sizeof val);
		if (p == NULL)
			break;
		if (strcmp(key, "owner") == 0) {
			free(*owner_ref);
			*owner_ref = xstrdup(val);
		} else if (status_ref != NULL && strcmp(key, "status") == 0) {
			free(*status_ref);
			*status_ref = xstrdup(val);
		} else if (strcmp(key, "organization") != 0) {
			/* (organization: one organization here) */
			http_reply_invalid(
				req, "query.q", NULL,
				"unknown filter '%s': use "
				"owner:<user|me>%s",
				key, status_ref ? " and status:<status>" : "");
			return false;
		}
	}
	return true;
}

/* Encode a list cursor: where t sits in the order, 16 bytes as
 * base64url (22 characters, no padding). */
static void
task_cursor_encode(const struct task *t, char out[TASK_CURSOR_LEN + 1])
{
	unsigned char bin[16];
	int64_t created, seq;

	task_cursor(t, &created, &seq);
	for (int i = 0; i < 8; i++) {
		bin[i] = (unsigned char)((uint64_t)created >> (56 - 8 * i));
		bin[8 + i] = (unsigned char)((uint64_t)seq >> (56 - 8 * i));
	}
	sodium_bin2base64(out, TASK_CURSOR_LEN + 1, bin, sizeof bin,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Decode a cursor into q; false if it is not one. */
static bool
task_cursor_decode(const char *s, struct task_query *q)
{
	unsigned char bin[16];
	size_t n = 0;
	uint64_t created = 0, seq = 0;

	if (strlen(s) != TASK_CURSOR_LEN ||
	    sodium_base642bin(bin, sizeof bin, s, strlen(s), NULL, &n, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    n != sizeof bin)
		return false;
	for (int i = 0; i < 8; i++) {
		created = created << 8 | bin[i];
		seq = seq << 8 | bin[8 + i];
	}
	if (created > INT64_MAX || seq > INT64_MAX)
		return false;
	q->after = true;
	q->after_created = (int64_t)created;
	q->after_seq = (int64_t)seq;
	return true;
}

/* Read limit and after into q; false after a 400 naming the one that
 * is wrong. */
static bool
task_list_page_args(struct http_req *req, struct task_query *q)
{
	const char *limit = http_req_query(req, "limit");
	const char *after = http_req_query(req, "after");
	long n;

	q->limit = TASK_LIST_ALL;
	if (limit != NULL) {
		if (parse_long(limit, 1, TASK_LIST_LIMIT_MAX, &n) < 0) {
			http_reply_bad_query(req, "query.limit",
					     "limit must be a whole number "
					     "from 1 to %d",
					     TASK_LIST_LIMIT_MAX);
			return false;
		}
		q->limit = (size_t)n;
	}
	if (after != NULL && !task_cursor_decode(after, q)) {
		http_reply_bad_query(req, "query.after",
				     "after must be a cursor from a "
				     "list's \"next\"");
		return false;
	}
	return true;
}

/* GET /api/v2/tasks: {tasks, count, next}. The page is the tasks'
 * kept JSON texts joined (task_json_text): nothing is encoded again
 * unless it changed (on Coder's mount the rewritten texts, kept too). */
static void
api_tasks_list(struct http_req *req, json_t *caller)
{
	const struct tasks_mount *m = tasks_mount_of(req);
	char next[TASK_CURSOR_LEN + 1];
	char *owner_ref = NULL, *status_ref = NULL;
	struct task_query tq = {0};
	struct task **page = NULL;
	json_t *owner = NULL;
	size_t n, total, shown = 0;
	bool more;
	struct buf b;

	if (!task_q_parse(req, &owner_ref, &status_ref) ||
	    !task_list_page_args(req, &tq))
		goto out;
	if (owner_ref != NULL) {
		owner = auth_lookup_user(caller, owner_ref);
		tq.owner_id =
			owner ? json_string_value(json_object_get(owner, "id"))
			      : "";
	}
	/* what the caller may see of them (admins: everything) */
	if (!auth_is_admin(caller))
		tq.viewer = caller;
	tq.status = status_ref;
	page = xreallocarray(NULL, tq.limit, sizeof *page);
	n = task_query(&tq, page, &total, &more);
	buf_init(&b, 0);
	buf_puts(&b, "{\"tasks\":[");
	for (; shown < n; shown++) {
		size_t len;
		const char *text =
			task_json_text_as(page[shown], m->wire, &len);

		/* a page ends early rather than grow past the cap */
		if (shown > 0 && b.len + len > TASK_LIST_BODY_MAX)
			break;
		if (shown > 0)
			buf_puts(&b, ",");
		buf_append(&b, text, len);
	}
	more = more || shown < n;
	buf_printf(&b, "],\"count\":%zu,\"next\":", total);
	if (more && shown > 0) {
		task_cursor_encode(page[shown - 1], next);
		buf_printf(&b, "\"%s\"}", next);
	} else {
		buf_puts(&b, "null}");
	}
	http_reply(req, 200, "application/json", b.data, b.len);
	buf_release(&b);
out:
	free(page);
	free(owner_ref);
	free(status_ref);
	json_decref(owner);
}

/* The body's "input" (a string of 1..TASK_INPUT_MAX bytes, not blank when
 * asked), the body kept in *body; NULL after replying 422. */
static const char *
body_input(struct http_req *req, json_t **body, bool no_blank)
{
	const char *input;

	if ((*body = http_req_json(req)) == NULL)
		return NULL;
	input = json_string_value(json_object_get(*body, "input"));
	if (input == NULL || *input == '\0' ||
	    (no_blank && str_is_blank(input)) ||
	    strlen(input) > TASK_INPUT_MAX) {
		http_reply_invalid(
			req, "body.input", json_object_get(*body, "input"),
			"input must be a non-empty string of at most "
			"%d bytes",
			TASK_INPUT_MAX);
		return NULL;
	}
	return input;
}

/* Is the send body's input what the agent runtime takes (not blank, no
 * leading or trailing whitespace)? Checked before it is queued, so a
 * queued input never fails for its form later; 422 otherwise. */
static bool
input_trimmed(struct http_req *req, json_t *body)
{
	json_t *v = json_object_get(body, "input");
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (str_is_blank(s) || isspace((unsigned char)s[0]) ||
	    isspace((unsigned char)s[n - 1]) || strlen(s) != n) {
		http_reply_invalid(req, "body.input", v,
				   "input must not be blank, start or end "
				   "with whitespace, or hold NUL bytes");
		return false;
	}
	return true;
}

/* The HTTP status for a task function's negative errno. */
static unsigned
task_errno_status(int err)
{
	static const struct {
		int err;
		unsigned status;
	} map[] = {
		{ENOENT, 404},	  /* the task is gone */
		{EPERM, 409},	  /* its state never allows it */
		{EAGAIN, 409},	  /* its state allows it in a moment */
		{EBUSY, 409},	  /* it (or its user, template) is stopping */
		{EINVAL, 400},	  /* a pre-check refused it */
		{EDQUOT, 429},	  /* --max-running-per-user */
		{ESHUTDOWN, 503}, /* the server shuts down */
	};

	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (-err == map[i].err)
			return map[i].status;
	return 500;
}

/* Answer req for a task function's result r: nothing when it answered
 * (0), else the problem for r with cause (freed). */
static void
task_reply_result(struct http_req *req, int r, char *cause)
{
	if (r < 0)
		http_reply_problem(req, task_errno_status(r), "%s",
				   cause ? cause : strerror(-r));
	free(cause);
}

/* Everything under /api/v2/tasks/ (and Coder's mount) */
static void
api_tasks_prefix(struct http_req *req, void *data UNUSED)
{
	const struct tasks_mount *m = tasks_mount_of(req);
	const char *method = http_req_method(req);
	char *rest = xstrdup(http_req_path(req) + strlen(m->root) + 1);
	char *parts[4] = {0};
	size_t n = 0;
	json_t *caller = auth_user(req), *body = NULL;
	struct task *t;
	char *cause = NULL;
	int r;

	if (caller == NULL) {
		free(rest);
		return;
	}
	for (char *save = NULL, *p = strtok_r(rest, "/", &save);
	     p != NULL && n < ARRAY_SIZE(parts); p = strtok_r(NULL, "/", &save))
		parts[n++] = p;
	if (n == 1 && strcmp(method, "POST") == 0) {
		api_tasks_create(req, caller, parts[0], false);
		goto out;
	}
	if (n < 2 || n > 4 || (n == 4 && strcmp(parts[2], "queue") != 0)) {
		http_reply_problem(req, 404, "no such endpoint: '%s'",
				   http_req_path(req));
		goto out;
	}
	if ((t = task_lookup(req, caller, parts[0], parts[1])) == NULL)
		goto out;
	if (task_replica(t) != NULL &&
	    !(strcmp(method, "GET") == 0 &&
	      (n == 2 || strcmp(parts[2], "events") == 0 ||
	       strcmp(parts[2], "states") == 0 ||
	       strcmp(parts[2], "usage") == 0))) {
		/* another replica runs its workspace (replica.c); the Task,
		 * its events and its history are served here */
		replica_forward(req, t);
		goto out;
	}
	if (n == 2 && strcmp(method, "GET") == 0) {
		task_reply(req, 200, t);
	} else if (n == 2 && strcmp(method, "DELETE") == 0) {
		r = task_delete_reply(t, req, &cause);
		task_reply_result(req, r, cause);
	} else if (n == 3 && strcmp(parts[2], "send") == 0 &&
		   strcmp(method, "POST") == 0) {
		const char *input = body_input(req, &body, false);

		if (input == NULL || !input_trimmed(req, body))
			goto out;
		tqueue_send(t, req, input,
			    json_string_value(json_object_get(caller, "id")));
	} else if (n == 3 && strcmp(parts[2], "queue") == 0 &&
		   strcmp(method, "GET") == 0) {
		tqueue_list(t, req);
	} else if (n == 4 && strcmp(method, "DELETE") == 0) {
		tqueue_cancel(t, req, parts[3]);
	} else if (n == 3 && strcmp(parts[2], "logs") == 0 &&
		   strcmp(method, "GET") == 0) {
		task_logs(t, req);
	} else if (n == 3 && strcmp(parts[2], "events") == 0 &&
		   strcmp(method, "GET") == 0) {
		task_events(t, req, caller, m->wire);
	} else if (n == 3 && strcmp(parts[2], "states") == 0 &&
		   strcmp(method, "GET") == 0) {
		task_states(t, req);
	} else if (n == 3 && strcmp(parts[2], "usage") == 0 &&
		   strcmp(method, "GET") == 0) {
		api_usage_task(req, t);
	} else if (n == 3 && strcmp(parts[2], "pause") == 0 &&
		   strcmp(method, "POST") == 0) {
		r = task_pause(t, req, &cause);
		task_reply_result(req, r, cause);
	} else if (n == 3 && strcmp(parts[2], "resume") == 0 &&
		   strcmp(method, "POST") == 0) {
		r = task_resume(t, req, &cause);
		task_reply_result(req, r, cause);
	} else if (n == 3 && strcmp(parts[2], "restart") == 0 &&
		   strcmp(method, "POST") == 0) {
		r = task_restart(t, req, &cause);
		task_reply_result(req, r, cause);
	} else if (n == 3 && strcmp(parts[2], "input") == 0 &&
		   strcmp(method, "PATCH") == 0) {
		const char *input = body_input(req, &body, true);

		if (input == NULL)
			goto out;
		r = task_set_input(t, req, input, &cause);
		task_reply_result(req, r, cause);
	} else {
		http_reply_problem(req, n >= 3 ? 404 : 405,
				   "%s is not supported on '%s'", method,
				   http_req_path(req));
	}
out:
	json_decref(body);
	json_decref(caller);
	free(rest);
}

static void
api_tasks_root(struct http_req *req, void *data UNUSED)
{
	json_t *caller = auth_user(req);

	if (caller == NULL)
		return;
	api_tasks_list(req, caller);
	json_decref(caller);
}

/* GET /api/v2/limits: the server's maxima (set by the admin with the
 * --max-* flags) and whether the disk limit is enforced. */
static void
api_limits(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_user(req);
	const struct template_max *m = &srv->max;

	if (user == NULL)
		return;
	http_reply_json(
		req, 200,
		json_pack("{s:I, s:I, s:o, s:o, s:I, s:I, s:b, s:o}",
			  "memory_bytes", (json_int_t)m->memory_bytes, "pids",
			  (json_int_t)m->pids, "cpu_millicores",
			  m->cpu_millicores > 0
				  ? json_integer(m->cpu_millicores)
				  : json_null(),
			  "disk_bytes",
			  m->disk_bytes > 0 ? json_integer(m->disk_bytes)
					    : json_null(),
			  "running_per_user",
			  (json_int_t)srv->max_running_per_user, "tasks",
			  (json_int_t)srv->max_tasks, "disk_enforced",
			  m->disk_bytes > 0 && srv->disk_off == NULL,
			  "disk_warning",
			  srv->disk_off ? json_sprintf("disk limit not "
						       "enforced: %s",
						       srv->disk_off)
					: json_null()));
	json_decref(user);
}

/*
 * GET /api/v2/events: the changes of the tasks the caller may see (an
 * admin's: every task's), or of owner:NAME's with q, as an SSE stream
 * (task-events.c).
 */
static void
api_events(struct http_req *req, void *data UNUSED)
{
	json_t *caller = auth_user(req), *owner = NULL;
	const char *owner_id = NULL;
	char *owner_ref = NULL;

	if (caller == NULL)
		return;
	if (!task_q_parse(req, &owner_ref, NULL))
		goto out;
	if (owner_ref != NULL) {
		owner = auth_lookup_user(caller, owner_ref);
		owner_id =
			owner ? json_string_value(json_object_get(owner, "id"))
			      : "";
	}
	/* the stream shows only what the caller may see, as the list */
	task_events_open(req, caller, owner_id);
out:
	free(owner_ref);
	json_decref(owner);
	json_decref(caller);
}

void
api_tasks_register(struct http_server *http)
{
	http_server_route(http, "GET", "/api/v2/events", 0, 0, api_events,
			  NULL);
	http_server_route(http, "GET", "/api/v2/limits", 0, 0, api_limits,
			  NULL);
	for (size_t i = 0; i < ARRAY_SIZE(tasks_mounts); i++) {
		char *sub = xasprintf("%s/", tasks_mounts[i].root);

		http_server_route(http, "GET", tasks_mounts[i].root, 0, 0,
				  api_tasks_root, NULL);
		http_server_route(http, "GET", sub, HTTP_ROUTE_PREFIX, 0,
				  api_tasks_prefix, NULL);
		http_server_route(http, "POST", sub, HTTP_ROUTE_PREFIX,
				  TASK_BODY_LIMIT, api_tasks_prefix, NULL);
		http_server_route(http, "DELETE", sub, HTTP_ROUTE_PREFIX, 0,
				  api_tasks_prefix, NULL);
		http_server_route(http, "PATCH", sub, HTTP_ROUTE_PREFIX,
				  TASK_BODY_LIMIT, api_tasks_prefix, NULL);
		free(sub);
	}
}
