/*
 * test-template.c: the YAML loader, template validation and normalization,
 * Task-template detection, limits and the built-in templates.
 */
#include "common.h"

#include <ctype.h>
#include <dirent.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/ynode.h"
#include "server/template.h"

/* Parse yaml that must be valid; returns the normalized template. */
static json_t *
parse_ok(const char *yaml)
{
	json_t *errors = NULL, *t = template_parse(yaml, strlen(yaml), &errors);

	if (t == NULL) {
		char *s = json_dumps(errors, JSON_INDENT(1));

		fprintf(stderr, "unexpected errors: %s\n", s);
		free(s);
	}
	assert_non_null(t);
	assert_null(errors);
	return t;
}

/* Parse yaml that must be invalid; returns the error array. */
static json_t *
parse_bad(const char *yaml)
{
	json_t *errors = NULL, *t = template_parse(yaml, strlen(yaml), &errors);

	assert_null(t);
	assert_non_null(errors);
	assert_true(json_array_size(errors) > 0);
	return errors;
}

/* Assert errors holds one at loc, line, column whose message has sub. */
static void
has_error(const json_t *errors, const char *loc, int line, int col,
	  const char *sub)
{
	const json_t *e;
	size_t i;

	json_array_foreach(errors, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "location")),
			   loc) != 0)
			continue;
		assert_int_equal(json_integer_value(json_object_get(e, "line")),
				 line);
		assert_int_equal(
			json_integer_value(json_object_get(e, "column")), col);
		assert_non_null(strstr(
			json_string_value(json_object_get(e, "message")), sub));
		return;
	}
	fprintf(stderr, "no error at %s\n", loc);
	fail();
}

static void
test_yaml_tree(void **state)
{
	const char *y = "a: 1\nb:\n  - x\n  - 'y'\nc: {d: ~}\n";
	char *cause;
	struct ynode *n = yaml_load(y, strlen(y), &cause);
	json_t *j;

	assert_non_null(n);
	assert_int_equal(n->kind, YN_MAP);
	assert_int_equal(n->n, 3);
	assert_int_equal(ynode_get(n, "b")->kind, YN_SEQ);
	assert_int_equal(ynode_get(n, "b")->items[1]->line, 4);
	assert_int_equal(ynode_get(n, "b")->items[1]->column, 5);
	assert_true(ynode_get(n, "b")->items[1]->quoted);
	assert_true(ynode_is_null(ynode_get(ynode_get(n, "c"), "d")));
	j = ynode_to_json(n);
	assert_string_equal(json_string_value(json_object_get(j, "a")), "1");
	json_decref(j);
	j = ynode_to_json_typed(n);
	assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
	assert_string_equal(
		json_string_value(json_array_get(json_object_get(j, "b"), 1)),
		"y");
	assert_true(
		json_is_null(json_object_get(json_object_get(j, "c"), "d")));
	json_decref(j);
	ynode_free(n);
}

/* yaml_load must fail with a cause containing sub. */
static void
load_fails(const char *y, size_t len, const char *sub)
{
	char *cause = NULL;
	struct ynode *n = yaml_load(y, len, &cause);

	assert_null(n);
	assert_non_null(cause);
	if (strstr(cause, sub) == NULL)
		fprintf(stderr, "cause: %s\n", cause);
	assert_non_null(strstr(cause, sub));
	free(cause);
}

static void
test_yaml_rejects(void **state)
{
	const char *bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n";
	struct buf_s {
		char *p;
	} big;
	size_t i;
	char *deep;

	load_fails(bomb, strlen(bomb),
		   "line 1, column 4: anchors and aliases are not allowed");
	load_fails("a: 1\na: 2\n", 10, "line 2, column 1: duplicate key 'a'");
	load_fails("[1]: x\n", 7, "map keys must be scalars");
	load_fails("? {a: 1}\n: x\n", 13, "map keys must be scalars");
	load_fails("a: 1\n---\nb: 2\n", 14, "more than one document");
	load_fails("a: [1\n", 6, "line 2, column 1:");
	load_fails("", 0, "empty document");
	load_fails("a: !custom x\n", 13, "unsupported tag");

	deep = xmalloc(200);
	for (i = 0; i < 40; i++)
		deep[i] = '[';
	deep[40] = '\0';
	load_fails(deep, 40, "nested deeper than 32 levels");
	for (i = 0; i < 32; i++)
		deep[i] = '[';
	for (i = 32; i < 64; i++)
		deep[i] = ']';
	{
		char *cause;
		struct ynode *n = yaml_load(deep, 64, &cause);

		assert_non_null(n);
		ynode_free(n);
	}
	free(deep);

	big.p = xmalloc(YAML_MAX_INPUT + 2);
	memset(big.p, ' ', YAML_MAX_INPUT + 1);
	load_fails(big.p, YAML_MAX_INPUT + 1, "larger than");
	/* 100,001 scalars in well under 1 MiB. */
	memcpy(big.p, "[", 1);
	for (i = 0; i < 100001; i++)
		memcpy(big.p + 1 + i * 2, "1,", 2);
	big.p[1 + 100001 * 2 - 1] = ']';
	load_fails(big.p, 1 + 100001 * 2, "more than 100000 nodes");
	free(big.p);
}

static const char *full = "name: claude-code\n"
			  "display_name: Claude Code\n"
			  "workspace:\n"
			  "  limits: {memory: 2GiB, pids: 512, cpu: 1.5}\n"
			  "  egress: [registry.npmjs.org, \"*.GitHub.com\",\n"
			  "           \"example.com:8443\"]\n"
			  "  env: {N: 3, B: true, S: text}\n"
			  "  setup: |\n"
			  "    npm ci\n"
			  "  setup_timeout: 120\n"
			  "  home: ephemeral\n"
			  "parameters:\n"
			  "  - name: AI Prompt\n"
			  "  - name: count\n"
			  "    type: number\n"
			  "    default: 3\n"
			  "  - name: fast\n"
			  "    type: bool\n"
			  "    default: true\n"
			  "apps:\n"
			  "  - slug: web\n"
			  "    display_name: Preview\n"
			  "    url: http://127.0.0.1:8000/\n"
			  "    health: /\n"
			  "agent:\n"
			  "  module: claude-code\n"
			  "  model: claude-sonnet-4-5\n"
			  "  provider: bedrock\n"
			  "  mcp_servers:\n"
			  "    fs: {command: mcp-fs, args: [--root, .], env: "
			  "{A: b}}\n"
			  "  args: [--verbose]\n"
			  "  env: {K: V}\n"
			  "ai_task:\n"
			  "  sidebar_app: web\n";

static void
test_normalize(void **state)
{
	json_t *t = parse_ok(full), *ws, *lim, *p, *a, *ag;

	assert_string_equal(json_string_value(json_object_get(t, "name")),
			    "claude-code");
	assert_string_equal(
		json_string_value(json_object_get(t, "description")), "");
	ws = json_object_get(t, "workspace");
	assert_string_equal(json_string_value(json_object_get(ws, "backend")),
			    "local");
	lim = json_object_get(ws, "limits");
	assert_int_equal(
		json_integer_value(json_object_get(lim, "memory_bytes")),
		2LL << 30);
	assert_int_equal(json_integer_value(json_object_get(lim, "pids")), 512);
	assert_int_equal(
		json_integer_value(json_object_get(lim, "cpu_millicores")),
		1500);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(ws, "egress"), 1)),
			    "*.github.com");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(ws, "env"), "N")),
			    "3");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(ws, "env"), "B")),
			    "true");
	assert_string_equal(json_string_value(json_object_get(ws, "setup")),
			    "npm ci\n");
	assert_int_equal(
		json_integer_value(json_object_get(ws, "setup_timeout_s")),
		120);
	assert_string_equal(json_string_value(json_object_get(ws, "home")),
			    "ephemeral");
	p = json_object_get(t, "parameters");
	assert_int_equal(json_array_size(p), 3);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(p, 0), "type")),
			    "string");
	assert_true(json_is_true(
		json_object_get(json_array_get(p, 0), "required")));
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(p, 1), "default")),
			 3);
	assert_true(json_is_false(
		json_object_get(json_array_get(p, 1), "required")));
	assert_true(
		json_is_true(json_object_get(json_array_get(p, 2), "default")));
	a = json_array_get(json_object_get(t, "apps"), 0);
	assert_string_equal(json_string_value(json_object_get(a, "health")),
			    "/");
	ag = json_object_get(t, "agent");
	assert_string_equal(json_string_value(json_object_get(ag, "provider")),
			    "bedrock");
	assert_string_equal(
		json_string_value(json_array_get(
			json_object_get(
				json_object_get(
					json_object_get(ag, "mcp_servers"),
					"fs"),
				"args"),
			1)),
		".");
	assert_true(json_is_null(json_object_get(ag, "permission_mode")));
	/* unattended tasks never ask unless the template says so */
	assert_string_equal(
		json_string_value(json_object_get(ag, "approval_policy")),
		"never");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(t, "ai_task"),
						  "sidebar_app")),
		"web");
	assert_true(json_is_true(json_object_get(t, "task_capable")));
	assert_string_equal(
		json_string_value(json_object_get(t, "task_reason")),
		"ai_task with an 'AI Prompt' parameter");
	json_decref(t);
}

static void
test_defaults(void **state)
{
	json_t *t = parse_ok("name: minimal\n"), *ws;

	assert_string_equal(
		json_string_value(json_object_get(t, "display_name")),
		"minimal");
	ws = json_object_get(t, "workspace");
	assert_string_equal(json_string_value(json_object_get(ws, "backend")),
			    "local");
	assert_string_equal(json_string_value(json_object_get(ws, "home")),
			    "persistent");
	assert_int_equal(
		json_integer_value(json_object_get(ws, "setup_timeout_s")),
		600);
	assert_int_equal(json_array_size(json_object_get(ws, "egress")), 0);
	/* unset limits stay null: the server's maximum applies */
	assert_true(json_is_null(json_object_get(json_object_get(ws, "limits"),
						 "memory_bytes")));
	assert_true(json_is_null(
		json_object_get(json_object_get(ws, "limits"), "pids")));
	assert_true(json_is_null(
		json_object_get(json_object_get(ws, "limits"), "disk_bytes")));
	assert_true(json_is_null(json_object_get(json_object_get(ws, "limits"),
						 "cpu_millicores")));
	assert_true(json_is_null(json_object_get(t, "agent")));
	assert_true(json_is_null(json_object_get(t, "ai_task")));
	assert_true(json_is_false(json_object_get(t, "task_capable")));
	assert_string_equal(
		json_string_value(json_object_get(t, "task_reason")),
		"no ai_task block");
	json_decref(t);
}

static void
test_units(void **state)
{
	int64_t v;

	assert_int_equal(template_parse_memory("2GiB", &v), 0);
	assert_int_equal(v, 2LL << 30);
	assert_int_equal(template_parse_memory("512Mi", &v), 0);
	assert_int_equal(v, 512LL << 20);
	assert_int_equal(template_parse_memory("1.5G", &v), 0);
	assert_int_equal(v, 1500000000LL);
	assert_int_equal(template_parse_memory("100K", &v), 0);
	assert_int_equal(v, 100000);
	assert_int_equal(template_parse_memory("1048576", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(template_parse_memory("2 GiB", &v), -EINVAL);
	assert_int_equal(template_parse_memory("-1G", &v), -EINVAL);
	assert_int_equal(template_parse_memory("1.G", &v), -EINVAL);
	assert_int_equal(template_parse_memory("99999999999999999999", &v),
			 -EINVAL);
	assert_int_equal(template_parse_cpu("1.5", &v), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(template_parse_cpu("0.01", &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(template_parse_cpu("500m", &v), 0);
	assert_int_equal(v, 500);
	assert_int_equal(template_parse_cpu("0.0001", &v), -EINVAL);
	assert_int_equal(template_parse_cpu("two", &v), -EINVAL);
}

static void
test_errors(void **state)
{
	json_t *e = parse_bad(
		"name: Bad_Name\n"				    /* 1 */
		"display_nme: x\n"				    /* 2 */
		"workspace:\n"					    /* 3 */
		"  backend: podman\n"				    /* 4 */
		"  limits: {memory: 2XB, pids: 5, cpu: 100}\n"	    /* 5 */
		"  egress: [\"bad host\", \"*.ok.com\", x.com:0]\n" /* 6 */
		"  env: {1BAD: x, GOOD: [1]}\n"			    /* 7 */
		"  setup_timeout: 0\n"				    /* 8 */
		"  home: sometimes\n"				    /* 9 */
		"parameters:\n"					    /* 10 */
		"  - name: AI Prompt\n"				    /* 11 */
		"  - name: AI Prompt\n"				    /* 12 */
		"    type: float\n"				    /* 13 */
		"  - display_name: no name\n"			    /* 14 */
		"apps:\n"					    /* 15 */
		"  - slug: chat\n"				    /* 16 */
		"    url: http://example.com/\n"		    /* 17 */
		"  - slug: web\n"				    /* 18 */
		"    url: http://127.0.0.1:8000/\n"		    /* 19 */
		"    health: nope\n"				    /* 20 */
		"  - slug: web\n"				    /* 21 */
		"    url: http://localhost:80\n"		    /* 22 */
		"agent:\n"					    /* 23 */
		"  module: claude-code\n"			    /* 24 */
		"  provider: Azure_1\n"				    /* 25 */
		"  mcp_servers: {taskbox: {args: [x]}}\n"	    /* 26 */
		"ai_task:\n"					    /* 27 */
		"  app: nope\n"					    /* 28 */
		"  extra: 1\n");				    /* 29 */

	has_error(e, "name", 1, 7, "invalid name 'Bad_Name'");
	has_error(e, "display_nme", 2, 1, "did you mean 'display_name'?");
	has_error(e, "workspace.backend", 4, 12, "not available yet");
	has_error(e, "workspace.limits.memory", 5, 20, "invalid size '2XB'");
	has_error(e, "workspace.limits.pids", 5, 31, "from 16 to 1000000");
	has_error(e, "workspace.limits.cpu", 5, 39, "from 0.01 to 64");
	has_error(e, "workspace.egress[0]", 6, 12, "cannot allow 'bad host'");
	has_error(e, "workspace.egress[2]", 6, 36, "cannot allow 'x.com:0'");
	has_error(e, "workspace.env.1BAD", 7, 9, "invalid variable name");
	has_error(e, "workspace.env.GOOD", 7, 24, "must be a string");
	has_error(e, "workspace.setup_timeout", 8, 18, "from 1 to 3600");
	has_error(e, "workspace.home", 9, 9, "persistent or ephemeral");
	has_error(e, "parameters[1].name", 12, 11, "duplicate parameter");
	has_error(e, "parameters[1].type", 13, 11, "unknown type 'float'");
	/* A missing key is reported at the enclosing map. */
	has_error(e, "parameters[2].name", 14, 5, "'name' is required");
	has_error(e, "apps[0].slug", 16, 11, "reserved");
	has_error(e, "apps[0].url", 17, 10, "http://127.0.0.1:PORT");
	has_error(e, "apps[1].health", 20, 13, "starting with '/'");
	has_error(e, "apps[2].slug", 21, 11, "duplicate app slug 'web'");
	has_error(e, "agent.provider", 25, 13,
		  "invalid provider name 'Azure_1'");
	has_error(e, "agent.mcp_servers.taskbox", 26, 17, "reserved");
	has_error(e, "agent.mcp_servers.taskbox.command", 26, 26,
		  "'command' is required");
	has_error(e, "ai_task.app", 28, 8, "no app 'nope'");
	has_error(e, "ai_task.extra", 29, 3, "unknown key 'extra'");
	/* Sorted by position. */
	assert_int_equal(json_integer_value(
				 json_object_get(json_array_get(e, 0), "line")),
			 1);
	json_decref(e);

	e = parse_bad("display_name: x\n");
	has_error(e, "name", 1, 1, "'name' is required");
	json_decref(e);

	e = parse_bad("name: x\nai_task: {app: chat}\n");
	has_error(e, "agent", 2, 1, "needs an agent block");
	json_decref(e);

	e = parse_bad("name: x\nagent: {model: m}\n");
	has_error(e, "agent.module", 2, 8, "'module' is required");
	json_decref(e);

	e = parse_bad("name: x\nagent:\n  module: codex\n"
		      "  approval_policy: sometimes\n");
	has_error(e, "agent.approval_policy", 4, 20,
		  "unknown approval policy 'sometimes'");
	json_decref(e);

	e = parse_bad("- a\n- b\n");
	has_error(e, "", 1, 1, "must be a map");
	json_decref(e);

	e = parse_bad("name: x\nworkspace:\n  limits: {memory: 1Mi}\n");
	has_error(e, "workspace.limits.memory", 3, 20, "16MiB to 1TiB");
	json_decref(e);

	e = parse_bad("name: a\nname: b\n");
	has_error(e, "", 2, 1, "duplicate key 'name'");
	json_decref(e);

	e = parse_bad("name: [unclosed\n");
	has_error(e, "", 2, 1, "");
	json_decref(e);

	e = parse_bad("name: x\nparameters:\n  - name: n\n    type: number\n"
		      "    default: abc\n");
	has_error(e, "parameters[0].default", 5, 14, "must be a number");
	json_decref(e);
}

/* Egress entries and webhooks that lead to this host are errors at their
 * position; private addresses are admin_only, not errors. */
static void
test_egress_policy(void **state)
{
	json_t *e = parse_bad("name: net\n"			   /* 1 */
			      "workspace:\n"			   /* 2 */
			      "  egress:\n"			   /* 3 */
			      "    - 127.0.0.1:7500\n"		   /* 4 */
			      "    - 0.0.0.0:80\n"		   /* 5 */
			      "    - \"*.0.0.1\"\n"		   /* 6 */
			      "    - localhost\n"		   /* 7 */
			      "    - 169.254.169.254\n"		   /* 8 */
			      "    - 2130706433:80\n"		   /* 9 */
			      "    - \"*.localhost\"\n"		   /* 10 */
			      "  webhook: http://[::1]:9/hook\n"); /* 11 */
	json_t *t, *errors = NULL, *admin;
	const char *ok = "name: net\n"
			 "workspace:\n"
			 "  egress: [api.example.com, 10.1.2.3:5432]\n"
			 "  egress_private: true\n"
			 "  webhook: http://192.168.1.9/hook\n";

	has_error(e, "workspace.egress[0]", 4, 7, "special address");
	has_error(e, "workspace.egress[1]", 5, 7, "special address");
	has_error(e, "workspace.egress[2]", 6, 7, "names only");
	has_error(e, "workspace.egress[3]", 7, 7, "own host");
	has_error(e, "workspace.egress[4]", 8, 7, "special address");
	has_error(e, "workspace.egress[5]", 9, 7, "special address");
	has_error(e, "workspace.egress[6]", 10, 7, "own host");
	has_error(e, "workspace.webhook", 11, 12, "special address");
	json_decref(e);

	t = template_parse(ok, strlen(ok), &errors);
	assert_non_null(t);
	admin = json_object_get(t, "admin_only");
	assert_int_equal(json_array_size(admin), 3);
	has_error(admin, "workspace.egress[1]", 3, 29, "private address");
	has_error(admin, "workspace.egress_private", 4, 19, "admin");
	has_error(admin, "workspace.webhook", 5, 12, "private address");
	json_decref(t);
}

static void
test_task_detection(void **state)
{
	json_t *t, *e;

	t = parse_ok("name: x\nagent: {module: codex}\nai_task: {app: chat}\n");
	assert_true(json_is_true(json_object_get(t, "task_capable")));
	assert_string_equal(
		json_string_value(json_object_get(t, "task_reason")),
		"ai_task.app 'chat'");
	json_decref(t);

	t = parse_ok("name: x\nparameters: [{name: AI Prompt}]\n"
		     "agent: {module: codex}\nai_task: {}\n");
	assert_true(json_is_true(json_object_get(t, "task_capable")));
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(t, "ai_task"),
						  "sidebar_app")),
		"chat");
	json_decref(t);

	t = parse_ok("name: x\nagent: {module: codex}\nai_task:\n");
	assert_true(json_is_false(json_object_get(t, "task_capable")));
	assert_string_equal(
		json_string_value(json_object_get(t, "task_reason")),
		"ai_task has neither an 'AI Prompt' parameter nor "
		"ai_task.app");
	json_decref(t);

	/* Exactly "AI Prompt". */
	t = parse_ok("name: x\nparameters: [{name: ai prompt}]\n"
		     "agent: {module: codex}\nai_task: {sidebar_app: chat}\n");
	assert_true(json_is_false(json_object_get(t, "task_capable")));
	json_decref(t);

	t = parse_ok("name: x\nparameters: [{name: AI Prompt}]\n");
	assert_true(json_is_false(json_object_get(t, "task_capable")));
	assert_string_equal(
		json_string_value(json_object_get(t, "task_reason")),
		"no ai_task block");
	json_decref(t);

	t = parse_ok("name: x\napps: [{slug: ui, url: 'http://localhost:3000'}]"
		     "\nagent: {module: codex}\nai_task: {app: ui}\n");
	assert_string_equal(
		json_string_value(json_object_get(t, "task_reason")),
		"ai_task.app 'ui'");
	json_decref(t);

	e = parse_bad("name: x\nagent: {module: codex}\nai_task: {app: ui}\n");
	has_error(e, "ai_task.app", 3, 16, "no app 'ui'");
	json_decref(e);
}

/* Read a whole file from the source tree. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;

	assert_non_null(f);
	data = xmalloc(YAML_MAX_INPUT + 1);
	*len = fread(data, 1, YAML_MAX_INPUT, f);
	fclose(f);
	data[*len] = '\0';
	return data;
}

static void
test_builtin_templates(void **state)
{
	static const char *const names[] = {"claude-code", "codex", "gemini",
					    "aider",	   "goose", "shell"};
	size_t i, len;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		char *path =
			xasprintf("%s/templates/%s.yaml", SRCDIR, names[i]);
		char *data = slurp(path, &len);
		json_t *errors = NULL, *t = template_parse(data, len, &errors);

		if (t == NULL)
			fprintf(stderr, "%s: %s\n", path,
				json_dumps(errors, 0));
		assert_non_null(t);
		assert_string_equal(
			json_string_value(json_object_get(t, "name")),
			names[i]);
		assert_true(json_is_true(json_object_get(t, "task_capable")));
		json_decref(t);
		free(data);
		free(path);
	}
}

/* Limits above the server's maxima: errors at their line and column for
 * a member, clamped with warnings for an admin; unset ones stay null. */
static void
test_maxima(void **state)
{
	static const char yaml[] = "name: big\n"
				   "workspace:\n"
				   "  limits:\n"
				   "    memory: 1TiB\n"
				   "    pids: 1000000\n"
				   "    cpu: 8\n"
				   "    disk: 2TiB\n";
	const struct template_max max = {4LL << 30, 4096, 2000, 10LL << 30};
	json_t *errors = NULL, *warnings = NULL, *t, *lim;

	(void)state;
	t = template_parse_max(yaml, strlen(yaml), &max, false, &errors,
			       &warnings);
	assert_null(t);
	assert_null(warnings);
	assert_int_equal(json_array_size(errors), 4);
	has_error(errors, "workspace.limits.memory", 4, 13, "maximum of 4GiB");
	has_error(errors, "workspace.limits.pids", 5, 11, "maximum of 4096");
	has_error(errors, "workspace.limits.cpu", 6, 10, "2.000 cores");
	has_error(errors, "workspace.limits.disk", 7, 11, "--max-disk");
	json_decref(errors);
	errors = NULL;

	t = template_parse_max(yaml, strlen(yaml), &max, true, &errors,
			       &warnings);
	assert_non_null(t);
	assert_null(errors);
	assert_int_equal(json_array_size(warnings), 4);
	has_error(warnings, "workspace.limits.memory", 4, 13,
		  "clamped to 4GiB");
	lim = json_object_get(json_object_get(t, "workspace"), "limits");
	assert_int_equal(
		json_integer_value(json_object_get(lim, "memory_bytes")),
		4LL << 30);
	assert_int_equal(json_integer_value(json_object_get(lim, "pids")),
			 4096);
	assert_int_equal(
		json_integer_value(json_object_get(lim, "cpu_millicores")),
		2000);
	assert_int_equal(json_integer_value(json_object_get(lim, "disk_bytes")),
			 10LL << 30);
	json_decref(warnings);
	json_decref(t);

	/* within the maxima: nothing to say */
	t = template_parse_max("name: ok\nworkspace: {limits: {disk: 1GiB}}\n",
			       43, &max, false, &errors, &warnings);
	assert_non_null(t);
	assert_null(warnings);
	json_decref(t);
}

/* A template with parameters of each type and two presets. */
static const char presets_yaml[] =
	"name: p\n"
	"parameters:\n"
	"  - {name: AI Prompt}\n"
	"  - {name: model, default: small}\n"
	"  - {name: depth, type: number, default: 1}\n"
	"  - {name: fast, type: bool, default: false}\n"
	"presets:\n"
	"  - name: Quick\n"
	"    default: true\n"
	"    description: a fast pass\n"
	"    parameters: {model: tiny, depth: 2, fast: true}\n"
	"  - name: Deep dive\n"
	"    parameters:\n"
	"      depth: 2.5\n"
	"      model: 42\n"
	"  - name: Plain\n";

/* presets: normalized with typed values, defaults filled in. */
static void
test_presets(void **state)
{
	json_t *t = parse_ok(presets_yaml), *ps, *p, *v;

	(void)state;
	ps = json_object_get(t, "presets");
	assert_int_equal(json_array_size(ps), 3);
	p = json_array_get(ps, 0);
	assert_string_equal(json_string_value(json_object_get(p, "name")),
			    "Quick");
	assert_string_equal(
		json_string_value(json_object_get(p, "description")),
		"a fast pass");
	assert_true(json_is_true(json_object_get(p, "default")));
	v = json_object_get(p, "parameters");
	assert_int_equal(json_object_size(v), 3);
	assert_string_equal(json_string_value(json_object_get(v, "model")),
			    "tiny");
	assert_int_equal(json_integer_value(json_object_get(v, "depth")), 2);
	assert_true(json_is_true(json_object_get(v, "fast")));
	p = json_array_get(ps, 1);
	assert_true(json_is_false(json_object_get(p, "default")));
	assert_string_equal(
		json_string_value(json_object_get(p, "description")), "");
	v = json_object_get(p, "parameters");
	assert_true(json_real_value(json_object_get(v, "depth")) == 2.5);
	/* a string parameter keeps the text of a number */
	assert_string_equal(json_string_value(json_object_get(v, "model")),
			    "42");
	p = json_array_get(ps, 2);
	assert_int_equal(json_object_size(json_object_get(p, "parameters")), 0);
	json_decref(t);

	/* none at all: an empty list */
	t = parse_ok("name: x\n");
	assert_int_equal(json_array_size(json_object_get(t, "presets")), 0);
	json_decref(t);
}

/* Every preset problem at its line and column. */
static void
test_preset_errors(void **state)
{
	json_t *e, *t;
	struct buf b;

	(void)state;
	e = parse_bad("name: p\n"
		      "parameters:\n"
		      "  - {name: AI Prompt}\n"
		      "  - {name: depth, type: number}\n"
		      "  - {name: fast, type: bool}\n"
		      "presets:\n"
		      "  - name: A\n"
		      "    default: true\n"
		      "  - name: B\n"
		      "    default: true\n"
		      "    parameters: {depth: deep, fast: maybe, nope: 1}\n"
		      "  - name: A\n"
		      "  - {name: C, parameters: {AI Prompt: hi}}\n"
		      "  - {name: none}\n"
		      "  - {name: \"\"}\n"
		      "  - {name: D, colour: red, parameters: [depth]}\n"
		      "  - just a string\n");
	has_error(e, "presets[1].default", 10, 14, "only one preset may be");
	has_error(e, "presets[1].default", 10, 14, "('A' is)");
	has_error(e, "presets[1].parameters.depth", 11, 25, "must be a number");
	has_error(e, "presets[1].parameters.fast", 11, 37,
		  "must be true or false");
	has_error(e, "presets[1].parameters.nope", 11, 44,
		  "no parameter 'nope'");
	has_error(e, "presets[2].name", 12, 11, "duplicate preset 'A'");
	has_error(e, "presets[3].parameters.AI Prompt", 13, 28,
		  "task's prompt");
	has_error(e, "presets[4].name", 14, 12, "reserved");
	has_error(e, "presets[5].name", 15, 12, "invalid preset name");
	has_error(e, "presets[6].colour", 16, 15, "unknown key");
	has_error(e, "presets[6].parameters", 16, 40, "must be a map");
	has_error(e, "presets[7]", 17, 5, "must be a map");
	json_decref(e);

	e = parse_bad("name: p\npresets: {a: 1}\n");
	has_error(e, "presets", 2, 10, "must be a list");
	json_decref(e);

	/* a name over 64 characters (multi-byte ones count once) */
	e = parse_bad("name: p\npresets:\n  - name: "
		      "éééééééééééééééééééééééééééééééééééééééééééééééééééééééé"
		      "ééééééééé\n");
	has_error(e, "presets[0].name", 3, 11, "1-64 characters");
	json_decref(e);
	json_decref(parse_ok("name: p\npresets:\n  - name: "
			     "ééééééééééééééééééééééééééééééééééééééééééééééééé"
			     "ééééééééééééééé\n"));

	/* at most TEMPLATE_PRESETS_MAX */
	buf_init(&b, 0);
	buf_puts(&b, "name: p\npresets:\n");
	for (int i = 0; i < TEMPLATE_PRESETS_MAX; i++)
		buf_printf(&b, "  - {name: p%d}\n", i);
	t = template_parse(b.data, b.len, &e);
	assert_non_null(t);
	assert_int_equal(json_array_size(json_object_get(t, "presets")),
			 TEMPLATE_PRESETS_MAX);
	json_decref(t);
	buf_puts(&b, "  - {name: one-too-many}\n");
	t = template_parse(b.data, b.len, &e);
	assert_null(t);
	has_error(e, "presets[32]", 3 + TEMPLATE_PRESETS_MAX, 5, "at most 32");
	json_decref(e);
	buf_release(&b);
}

/* Preset ids: derived from the version and the name, stable, a uuid of
 * version 8 and variant 10, lowercase. */
static void
test_preset_id(void **state)
{
	static const char v1[] = "0b9e3f5c-1d2a-4c6e-8f00-123456789abc";
	static const char v2[] = "0b9e3f5c-1d2a-4c6e-8f00-123456789abd";
	char a[37], b[37], c[37], d[37];
	json_t *t, *ps;

	(void)state;
	template_preset_id(v1, "Fast", a);
	/* SHA-256("taskbox-preset" NUL v1 NUL "Fast"), computed elsewhere */
	assert_string_equal(a, "157956f5-e493-88ca-aabe-d155a550499f");
	template_preset_id(v1, "Fast", b);
	assert_string_equal(a, b);
	template_preset_id(v2, "Fast", c);
	template_preset_id(v1, "fast", d);
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	for (const char *id = c; id != NULL; id = id == c ? d : NULL) {
		assert_int_equal(strlen(id), 36);
		for (int i = 0; i < 36; i++)
			if (i == 8 || i == 13 || i == 18 || i == 23)
				assert_int_equal(id[i], '-');
			else
				assert_non_null(
					strchr("0123456789abcdef", id[i]));
		assert_int_equal(id[14], '8');
		assert_non_null(strchr("89ab", id[19]));
	}
	/* no separator confusion: ("ab", "c") is not ("a", "bc") */
	template_preset_id("ab", "c", c);
	template_preset_id("a", "bc", d);
	assert_string_not_equal(c, d);

	/* found by id (any case) or name; listed with their ids */
	t = parse_ok(presets_yaml);
	template_preset_id(v1, "Deep dive", a);
	assert_ptr_equal(template_preset_find(t, v1, a, NULL),
			 json_array_get(json_object_get(t, "presets"), 1));
	for (char *p = a; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	assert_non_null(template_preset_find(t, v1, a, NULL));
	assert_null(template_preset_find(t, v2, a, NULL));
	assert_ptr_equal(template_preset_find(t, v1, NULL, "Plain"),
			 json_array_get(json_object_get(t, "presets"), 2));
	assert_null(template_preset_find(t, v1, NULL, "plain"));
	assert_null(template_preset_find(t, v1, NULL, NULL));
	ps = template_presets_json(t, v1);
	assert_int_equal(json_array_size(ps), 3);
	template_preset_id(v1, "Quick", b);
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(ps, 0), "id")),
		b);
	assert_true(json_is_true(
		json_object_get(json_array_get(ps, 0), "default")));
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(json_array_get(ps, 0), "parameters"),
			"depth")),
		2);
	json_decref(ps);
	json_decref(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yaml_tree),
		cmocka_unit_test(test_yaml_rejects),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_egress_policy),
		cmocka_unit_test(test_task_detection),
		cmocka_unit_test(test_maxima),
		cmocka_unit_test(test_builtin_templates),
		cmocka_unit_test(test_presets),
		cmocka_unit_test(test_preset_errors),
		cmocka_unit_test(test_preset_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
