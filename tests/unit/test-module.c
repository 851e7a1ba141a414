/*
 * test-module.c: agent module validation, rendering of every built-in
 * module with every provider it supports, and the TOML writer.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/ynode.h"
#include "server/module.h"
#include "server/template.h"

static const struct module_ctx ctx = {
	.home = "/srv/agent",
	.workdir = "/srv/agent/workspace",
	.taskbox = "/run/taskbox/taskbox",
	.llm_url = "http://127.0.0.1:4000",
	.proxy_url = "http://127.0.0.1:3128",
	.tools_dir = "/opt/tools",
	.task_id = "t-123",
};

/* Load and parse modules/NAME.yaml from the source tree. */
static json_t *
builtin_module(const char *name)
{
	char *path = xasprintf("%s/modules/%s.yaml", SRCDIR, name);
	FILE *f = fopen(path, "rb");
	char *data = xmalloc(YAML_MAX_INPUT + 1);
	json_t *errors = NULL, *m;
	size_t len;

	assert_non_null(f);
	len = fread(data, 1, YAML_MAX_INPUT, f);
	fclose(f);
	m = module_parse(data, len, &errors);
	if (m == NULL) {
		char *s = json_dumps(errors, 0);

		fprintf(stderr, "%s: %s\n", path, s);
		free(s);
	}
	assert_non_null(m);
	free(data);
	free(path);
	return m;
}

/* A normalized template from YAML. */
static json_t *
tmpl(const char *yaml)
{
	json_t *errors = NULL, *t = template_parse(yaml, strlen(yaml), &errors);

	assert_non_null(t);
	return t;
}

/*
 * Render module name with a template's agent block given as YAML. The
 * tests name each provider after its type: agent.provider gives the
 * provider's type (none: the module's default).
 */
static json_t *
render(const char *name, const char *agent_yaml)
{
	char *y = xasprintf("name: t\nagent:\n%s", agent_yaml);
	json_t *m = builtin_module(name), *t = tmpl(y), *errors = NULL, *r;
	struct module_ctx c = ctx;

	c.provider_type = json_string_value(
		json_object_get(json_object_get(t, "agent"), "provider"));
	r = module_render(m, t, &c, &errors);
	if (r == NULL) {
		char *s = json_dumps(errors, 0);

		fprintf(stderr, "render %s: %s\n", name, s);
		free(s);
	}
	assert_non_null(r);
	json_decref(m);
	json_decref(t);
	free(y);
	return r;
}

/* env[k] of a render. */
static const char *
env(const json_t *r, const char *k)
{
	return json_string_value(json_object_get(json_object_get(r, "env"), k));
}

/* argv[i] of a render. */
static const char *
arg(const json_t *r, size_t i)
{
	return json_string_value(json_array_get(json_object_get(r, "argv"), i));
}

/* The content of the rendered file at path, or NULL. */
static const char *
file(const json_t *r, const char *path)
{
	const json_t *f;
	size_t i;

	json_array_foreach(
		json_object_get(r, "files"), i,
		f) if (strcmp(json_string_value(json_object_get(f, "path")),
			      path) ==
		       0) return json_string_value(json_object_get(f,
								   "content"));
	return NULL;
}

/* A rendered JSON file, parsed (new reference). */
static json_t *
json_file(const json_t *r, const char *path)
{
	const char *c = file(r, path);
	json_t *j;

	assert_non_null(c);
	j = json_loads(c, 0, NULL);
	assert_non_null(j);
	return j;
}

static void
test_claude_anthropic(void **state)
{
	json_t *r = render("claude-code", "  module: claude-code\n"), *cj, *mcp;

	assert_string_equal(json_string_value(json_object_get(r, "type")),
			    "claude");
	assert_string_equal(arg(r, 0),
			    "/opt/tools/claude/node_modules/.bin/claude");
	assert_string_equal(arg(r, 1), "--dangerously-skip-permissions");
	assert_int_equal(json_array_size(json_object_get(r, "argv")), 2);
	assert_string_equal(env(r, "ANTHROPIC_BASE_URL"), ctx.llm_url);
	assert_string_equal(env(r, "ANTHROPIC_AUTH_TOKEN"),
			    "taskbox-placeholder");
	assert_string_equal(env(r, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"),
			    "1");
	assert_string_equal(
		env(r, "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL"),
		"1");
	assert_null(env(r, "ANTHROPIC_MODEL"));
	assert_null(env(r, "CLAUDE_CODE_USE_BEDROCK"));
	cj = json_file(r, ".claude.json");
	assert_true(
		json_is_true(json_object_get(cj, "hasCompletedOnboarding")));
	assert_true(json_is_true(
		json_object_get(json_object_get(json_object_get(cj, "projects"),
						"/srv/agent/workspace"),
				"hasTrustDialogAccepted")));
	mcp = json_object_get(json_object_get(cj, "mcpServers"), "taskbox");
	/* the runtime is told to wait for it (--wait-mcp) */
	assert_true(json_is_true(json_object_get(r, "mcp")));
	assert_string_equal(json_string_value(json_object_get(mcp, "command")),
			    "/run/taskbox/taskbox");
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(mcp, "args"), 0)),
			    "mcp");
	assert_string_equal(json_string_value(json_object_get(mcp, "type")),
			    "stdio");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(mcp, "env"),
						  "TASKBOX_TASK_ID")),
		"t-123");
	json_decref(cj);
	cj = json_file(r, ".claude/settings.json");
	assert_true(json_is_true(
		json_object_get(cj, "skipDangerousModePermissionPrompt")));
	{
		static const char *const ev[][2] = {
			{"UserPromptSubmit", "user-prompt-submit"},
			{"Stop", "stop"},
			{"Notification", "notification"}};

		for (size_t k = 0; k < ARRAY_SIZE(ev); k++) {
			json_t *h = json_object_get(
				json_array_get(
					json_object_get(
						json_object_get(cj, "hooks"),
						ev[k][0]),
					0),
				"hooks");
			char *want = xasprintf("/run/taskbox/taskbox hook %s",
					       ev[k][1]);

			assert_string_equal(
				json_string_value(json_object_get(
					json_array_get(h, 0), "type")),
				"command");
			assert_string_equal(
				json_string_value(json_object_get(
					json_array_get(h, 0), "command")),
				want);
			free(want);
		}
	}
	json_decref(cj);
	assert_null(file(r, ".claude/CLAUDE.md"));
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(r, "install"), "npm")),
			    "@anthropic-ai/claude-code@2.1.331");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(r, "install"), "dir")),
			    "/opt/tools/claude");
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(r, "path"), 0)),
			    "/opt/tools/claude/node_modules/.bin");
	json_decref(r);
}

static void
test_claude_options(void **state)
{
	json_t *r =
		render("claude-code", "  module: claude-code\n"
				      "  model: claude-sonnet-4-5\n"
				      "  permission_mode: acceptEdits\n"
				      "  system_prompt: Be brief.\n"
				      "  args: [--verbose]\n"
				      "  env: {ANTHROPIC_AUTH_TOKEN: mine}\n"
				      "  mcp_servers:\n"
				      "    fs: {command: mcp-fs, args: [.]}\n");
	json_t *cj, *fs;

	assert_string_equal(arg(r, 1), "--model");
	assert_string_equal(arg(r, 2), "claude-sonnet-4-5");
	assert_string_equal(arg(r, 3), "--permission-mode");
	assert_string_equal(arg(r, 4), "acceptEdits");
	assert_string_equal(arg(r, 5), "--verbose");
	assert_int_equal(json_array_size(json_object_get(r, "argv")), 6);
	assert_string_equal(env(r, "ANTHROPIC_MODEL"), "claude-sonnet-4-5");
	/* The template's env wins over the module's. */
	assert_string_equal(env(r, "ANTHROPIC_AUTH_TOKEN"), "mine");
	assert_string_equal(file(r, ".claude/CLAUDE.md"), "Be brief.");
	cj = json_file(r, ".claude.json");
	fs = json_object_get(json_object_get(cj, "mcpServers"), "fs");
	assert_string_equal(json_string_value(json_object_get(fs, "command")),
			    "mcp-fs");
	assert_non_null(
		json_object_get(json_object_get(cj, "mcpServers"), "taskbox"));
	json_decref(cj);
	json_decref(r);
}

static void
test_claude_providers(void **state)
{
	json_t *r;

	r = render("claude-code", "  module: claude-code\n"
				  "  provider: bedrock\n");
	assert_string_equal(env(r, "CLAUDE_CODE_USE_BEDROCK"), "1");
	assert_string_equal(env(r, "ANTHROPIC_BEDROCK_BASE_URL"),
			    "http://127.0.0.1:4000/bedrock");
	assert_string_equal(env(r, "CLAUDE_CODE_SKIP_BEDROCK_AUTH"), "1");
	assert_null(env(r, "ANTHROPIC_BASE_URL"));
	json_decref(r);
	r = render("claude-code", "  module: claude-code\n"
				  "  provider: vertex\n");
	assert_string_equal(env(r, "CLAUDE_CODE_USE_VERTEX"), "1");
	assert_string_equal(env(r, "ANTHROPIC_VERTEX_BASE_URL"),
			    "http://127.0.0.1:4000/vertex/v1");
	assert_string_equal(env(r, "CLOUD_ML_REGION"), "global");
	json_decref(r);
	r = render("claude-code", "  module: claude-code\n"
				  "  provider: openai-compatible\n");
	assert_string_equal(env(r, "ANTHROPIC_BASE_URL"), ctx.llm_url);
	json_decref(r);
}

static void
test_codex(void **state)
{
	static const char *const provs[] = {"openai", "openai-compatible",
					    "ollama"};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(provs); i++) {
		char *a = xasprintf("  module: codex\n  provider: %s\n",
				    provs[i]);
		json_t *r = render("codex", a);
		const char *toml = file(r, ".codex/config.toml");

		assert_string_equal(
			json_string_value(json_object_get(r, "type")), "codex");
		assert_string_equal(arg(r, 0),
				    "/opt/tools/codex/node_modules/.bin/codex");
		assert_string_equal(env(r, "OPENAI_API_KEY"),
				    "taskbox-placeholder");
		assert_string_equal(env(r, "CODEX_HOME"), "/srv/agent/.codex");
		assert_non_null(toml);
		assert_non_null(strstr(toml, "model_provider = \"taskbox\"\n"));
		assert_non_null(strstr(toml, "check_for_update_on_startup = "
					     "false\n"));
		/* no sandbox of its own inside ours; never asks by default */
		assert_non_null(strstr(toml, "sandbox_mode = "
					     "\"danger-full-access\"\n"));
		assert_non_null(strstr(toml, "approval_policy = \"never\"\n"));
		assert_non_null(strstr(toml, "[model_providers.taskbox]\n"));
		assert_non_null(strstr(toml, "base_url = "
					     "\"http://127.0.0.1:4000/v1\"\n"));
		assert_non_null(strstr(toml, "wire_api = \"responses\"\n"));
		assert_non_null(strstr(toml, "daemon_auto_start = false\n"));
		assert_non_null(strstr(toml, "[analytics]\nenabled = false\n"));
		assert_non_null(strstr(toml, "[projects.\"/srv/agent/"
					     "workspace\"]\ntrust_level = "
					     "\"trusted\"\n"));
		assert_non_null(strstr(toml, "[mcp_servers.taskbox]\n"
					     "command = "
					     "\"/run/taskbox/taskbox\"\n"
					     "args = [\"mcp\"]\n"));
		/* top level: before the first table */
		assert_non_null(strstr(toml,
				       "notify = [\"/run/taskbox/taskbox\", "
				       "\"hook\", \"codex-notify\"]\n"));
		assert_true(strstr(toml, "notify = ") < strchr(toml, '['));
		assert_non_null(strstr(toml, "[mcp_servers.taskbox.env]\n"
					     "TASKBOX_TASK_ID = \"t-123\"\n"));
		if (strcmp(provs[i], "ollama") == 0)
			assert_non_null(strstr(toml, "model = "
						     "\"gpt-oss:20b\"\n"));
		else
			assert_non_null(strstr(toml, "model = \"gpt-5\"\n"));
		assert_string_equal(
			json_string_value(json_object_get(
				json_object_get(r, "install"), "npm")),
			"@openai/codex@0.169.0");
		json_decref(r);
		free(a);
	}
}

/* The template's approval policy reaches Codex's config. */
static void
test_codex_approval(void **state)
{
	json_t *r = render("codex", "  module: codex\n"
				    "  approval_policy: on-request\n");
	const char *toml = file(r, ".codex/config.toml");

	assert_non_null(strstr(toml, "approval_policy = \"on-request\"\n"));
	json_decref(r);
}

static void
test_gemini(void **state)
{
	json_t *r = render("gemini", "  module: gemini\n"
				     "  system_prompt: Hi\n"),
	       *s;

	assert_string_equal(json_string_value(json_object_get(r, "type")),
			    "gemini");
	assert_string_equal(arg(r, 1), "--yolo");
	assert_string_equal(env(r, "GOOGLE_GEMINI_BASE_URL"), ctx.llm_url);
	assert_string_equal(env(r, "GEMINI_API_KEY"), "taskbox-placeholder");
	assert_string_equal(env(r, "GEMINI_CLI_NO_RELAUNCH"), "true");
	s = json_file(r, ".gemini/settings.json");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(s, "security"), "auth"),
			"selectedType")),
		"gemini-api-key");
	assert_true(json_is_false(json_object_get(json_object_get(s, "privacy"),
						  "usageStatisticsEnabled")));
	assert_true(json_is_false(
		json_object_get(json_object_get(s, "telemetry"), "enabled")));
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(s, "mcpServers"),
					"taskbox"),
			"command")),
		"/run/taskbox/taskbox");
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(
				json_object_get(
					json_array_get(
						json_object_get(
							json_object_get(
								s, "hooks"),
							"AfterAgent"),
						0),
					"hooks"),
				0),
			"command")),
		"/run/taskbox/taskbox hook stop");
	assert_string_equal(file(r, ".gemini/GEMINI.md"), "Hi");
	json_decref(s);
	json_decref(r);

	r = render("gemini", "  module: gemini\n  provider: vertex\n");
	assert_string_equal(env(r, "GOOGLE_GENAI_USE_VERTEXAI"), "true");
	assert_null(env(r, "GOOGLE_GEMINI_BASE_URL"));
	s = json_file(r, ".gemini/settings.json");
	/* The provider's file is merged into the module's. */
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(s, "security"), "auth"),
			"selectedType")),
		"vertex-ai");
	assert_true(json_is_false(json_object_get(
		json_object_get(json_object_get(s, "security"), "folderTrust"),
		"enabled")));
	json_decref(s);
	json_decref(r);
}

static void
test_aider(void **state)
{
	json_t *r, *inst;

	r = render("aider", "  module: aider\n  model: sonnet\n");
	assert_string_equal(json_string_value(json_object_get(r, "type")),
			    "aider");
	assert_string_equal(arg(r, 0), "/opt/tools/aider/0.86.1/bin/aider");
	assert_string_equal(arg(r, 1), "--yes-always");
	assert_string_equal(arg(r, 5), "--model");
	assert_string_equal(arg(r, 6), "sonnet");
	assert_string_equal(env(r, "ANTHROPIC_API_BASE"), ctx.llm_url);
	inst = json_object_get(r, "install");
	assert_string_equal(json_string_value(json_object_get(inst, "kind")),
			    "pip");
	assert_string_equal(json_string_value(json_object_get(inst, "pip")),
			    "aider-chat");
	assert_string_equal(json_string_value(json_object_get(inst, "dir")),
			    "/opt/tools/aider/0.86.1");
	/* the virtualenv's bin (its python, pip) stays off PATH */
	assert_int_equal(json_array_size(json_object_get(r, "path")), 0);
	json_decref(r);
	r = render("aider", "  module: aider\n  provider: openai\n");
	assert_string_equal(env(r, "OPENAI_API_BASE"),
			    "http://127.0.0.1:4000/v1");
	json_decref(r);
	r = render("aider", "  module: aider\n  provider: ollama\n");
	assert_string_equal(env(r, "OLLAMA_API_BASE"), ctx.llm_url);
	json_decref(r);
	r = render("aider", "  module: aider\n  provider: openai-compatible\n"
			    "  system_prompt: Rules.\n");
	assert_string_equal(env(r, "OPENAI_API_BASE"),
			    "http://127.0.0.1:4000/v1");
	assert_string_equal(file(r, ".taskbox/CONVENTIONS.md"), "Rules.");
	json_decref(r);
}

static void
test_goose(void **state)
{
	json_t *r, *c, *tb, *inst;

	r = render("goose", "  module: goose\n  model: claude-opus-4\n");
	assert_string_equal(json_string_value(json_object_get(r, "type")),
			    "goose");
	assert_string_equal(arg(r, 0), "/opt/tools/goose/1.3.1/goose");
	assert_string_equal(arg(r, 1), "session");
	inst = json_object_get(r, "install");
	assert_string_equal(json_string_value(json_object_get(inst, "kind")),
			    "url");
	assert_string_equal(json_string_value(json_object_get(inst, "format")),
			    "tar.bz2");
	assert_int_equal(
		strlen(json_string_value(json_object_get(inst, "sha256"))), 64);
	assert_string_equal(env(r, "GOOSE_PROVIDER"), "anthropic");
	assert_string_equal(env(r, "GOOSE_MODEL"), "claude-opus-4");
	assert_string_equal(env(r, "ANTHROPIC_HOST"), ctx.llm_url);
	c = json_file(r, ".config/goose/config.yaml");
	tb = json_object_get(json_object_get(c, "extensions"), "taskbox");
	assert_string_equal(json_string_value(json_object_get(tb, "cmd")),
			    "/run/taskbox/taskbox");
	assert_string_equal(json_string_value(json_object_get(tb, "name")),
			    "taskbox");
	assert_string_equal(json_string_value(json_object_get(tb, "type")),
			    "stdio");
	assert_non_null(json_object_get(tb, "envs"));
	assert_non_null(
		json_object_get(json_object_get(c, "extensions"), "developer"));
	json_decref(c);
	json_decref(r);
	r = render("goose", "  module: goose\n  provider: openai\n");
	assert_string_equal(env(r, "GOOSE_PROVIDER"), "openai");
	assert_string_equal(env(r, "OPENAI_HOST"), ctx.llm_url);
	json_decref(r);
	r = render("goose", "  module: goose\n  provider: ollama\n");
	assert_string_equal(env(r, "OLLAMA_HOST"), ctx.llm_url);
	json_decref(r);
	r = render("goose", "  module: goose\n  provider: openai-compatible\n");
	assert_string_equal(env(r, "GOOSE_PROVIDER"), "openai");
	json_decref(r);
}

static void
test_custom(void **state)
{
	json_t *m = builtin_module("custom"), *t, *r, *errors = NULL;

	r = render("custom", "  module: custom\n  command: [bash, --norc]\n"
			     "  args: [-i]\n");
	assert_string_equal(json_string_value(json_object_get(r, "type")),
			    "custom");
	assert_string_equal(arg(r, 0), "bash");
	assert_string_equal(arg(r, 2), "-i");
	assert_true(json_is_false(json_object_get(r, "mcp")));
	assert_int_equal(json_array_size(json_object_get(r, "files")), 0);
	assert_int_equal(json_object_size(json_object_get(r, "env")), 0);
	json_decref(r);

	/* No command; a module without providers needs none. */
	t = tmpl("name: t\nagent: {module: custom, provider: openai}\n");
	r = module_render(m, t, &ctx, &errors);
	assert_null(r);
	assert_int_equal(json_array_size(errors), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(errors, 0), "location")),
			    "agent.command");
	json_decref(errors);
	json_decref(t);
	assert_false(module_supports_provider(m, "openai"));
	assert_false(module_supports_provider(m, "openai-compatible"));
	json_decref(m);
	m = builtin_module("claude-code");
	assert_true(module_supports_provider(m, "bedrock"));
	assert_false(module_supports_provider(m, "gemini"));
	json_decref(m);
}

/* A provider of a type the module lacks: the error names both. */
static void
test_provider_type_unsupported(void **state)
{
	json_t *m = builtin_module("claude-code"), *errors = NULL, *r;
	json_t *t = tmpl("name: t\nagent: {module: claude-code, provider: "
			 "my-gem}\n");
	struct module_ctx c = ctx;
	const char *msg;

	c.provider = "my-gem";
	c.provider_type = "gemini";
	r = module_render(m, t, &c, &errors);
	assert_null(r);
	msg = json_string_value(
		json_object_get(json_array_get(errors, 0), "message"));
	assert_non_null(strstr(msg, "'claude-code'"));
	assert_non_null(strstr(msg, "'my-gem'"));
	assert_non_null(strstr(msg, "'gemini'"));
	json_decref(errors);
	json_decref(t);
	json_decref(m);
}

/* openai-compatible falls back to the module's default_provider entry;
 * region and project come from the provider. */
static void
test_provider_fallback_and_vars(void **state)
{
	json_t *m = builtin_module("gemini");
	json_t *mod, *errors = NULL, *t, *r;
	struct module_ctx c = ctx;
	static const char yaml[] =
		"name: x\nagent_type: custom\ncommand: [run]\n"
		"default_provider: vertex\n"
		"providers:\n"
		"  vertex: {env: {R: \"{{region}}\", P: \"{{project}}\", "
		"T: \"{{provider}}\"}}\n";

	/* Gemini CLI has no openai-compatible entry of its own */
	assert_null(json_object_get(json_object_get(m, "providers"),
				    "openai-compatible"));
	assert_string_equal(module_provider_entry(m, "openai-compatible"),
			    "gemini");
	assert_null(module_provider_entry(m, "bedrock"));
	json_decref(m);

	mod = module_parse(yaml, strlen(yaml), &errors);
	assert_non_null(mod);
	t = tmpl("name: t\nagent: {module: x, provider: gcp}\n");
	c.provider = "gcp";
	c.provider_type = "openai-compatible";
	c.region = "europe-west4";
	c.project = "acme-1";
	r = module_render(mod, t, &c, &errors);
	assert_non_null(r);
	assert_string_equal(env(r, "R"), "europe-west4");
	assert_string_equal(env(r, "P"), "acme-1");
	assert_string_equal(env(r, "T"), "vertex");
	json_decref(r);
	c.provider_type = "bedrock";
	assert_null(module_render(mod, t, &c, &errors));
	json_decref(errors);
	json_decref(t);
	json_decref(mod);
}

static void
test_builtin_templates_render(void **state)
{
	static const char *const names[] = {"claude-code", "codex", "gemini",
					    "aider",	   "goose", "shell"};
	size_t i, len;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		char *path =
			xasprintf("%s/templates/%s.yaml", SRCDIR, names[i]);
		FILE *f = fopen(path, "rb");
		char *data = xmalloc(YAML_MAX_INPUT + 1);
		json_t *errors = NULL, *t, *m, *r;

		assert_non_null(f);
		len = fread(data, 1, YAML_MAX_INPUT, f);
		fclose(f);
		t = template_parse(data, len, &errors);
		assert_non_null(t);
		m = builtin_module(json_string_value(json_object_get(
			json_object_get(t, "agent"), "module")));
		r = module_render(m, t, &ctx, &errors);
		assert_non_null(r);
		json_decref(r);
		json_decref(m);
		json_decref(t);
		free(data);
		free(path);
	}
}

/* module_parse must fail with an error at loc, line, col. */
static void
module_error(const char *yaml, const char *loc, int line, int col,
	     const char *sub)
{
	json_t *errors = NULL, *m = module_parse(yaml, strlen(yaml), &errors);
	const json_t *e;
	size_t i;

	assert_null(m);
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
		json_decref(errors);
		return;
	}
	fprintf(stderr, "no error at %s: %s\n", loc, json_dumps(errors, 0));
	fail();
}

static void
test_module_errors(void **state)
{
	module_error("name: x\nagent_type: claude\ncommand: ['{{nope}}']\n",
		     "command[0]", 3, 11, "unknown variable '{{nope}}'");
	module_error("name: x\nagent_type: claude\nenv: {A: '{{home'}\n",
		     "env.A", 3, 10, "unterminated");
	module_error("name: x\nagent_type: robot\n", "agent_type", 2, 13,
		     "unknown agent type");
	module_error("name: x\nagent_type: claude\nargs_if: {color: [x]}\n",
		     "args_if.color", 3, 11, "unknown option");
	module_error("name: x\nagent_type: claude\nproviders: {anthropic: {}}\n"
		     "default_provider: openai\n",
		     "default_provider", 4, 19, "not listed");
	module_error("name: x\nagent_type: claude\nfiles:\n"
		     "  - path: ../etc/passwd\n    content: x\n",
		     "files[0].path", 4, 11, "relative");
	module_error("name: x\nagent_type: claude\nfiles:\n"
		     "  - path: a.json\n    content: text\n",
		     "files[0].content", 5, 14, "must be a map");
	module_error("name: x\nagent_type: claude\ninstall: {npm: x, bin: y}\n",
		     "install.version", 3, 10, "'version' is required");
	module_error("name: x\nagent_type: claude\n"
		     "install: {npm: x, pip: y, version: '1', bin: z}\n",
		     "install", 3, 10, "exactly one of");
	module_error("name: x\nagent_type: claude\n"
		     "install: {pip: 'a b', version: '1', bin: z}\n",
		     "install.pip", 3, 16, "Python package name");
	module_error("name: x\nagent_type: claude\n"
		     "install: {pip: a, version: ../1, bin: z}\n",
		     "install.version", 3, 28, "pinned version");
	module_error(
		"name: x\nagent_type: claude\n"
		"install: {url: 'https://h/a.tgz', version: '1', bin: z}\n",
		"install.sha256", 3, 10, "'sha256' is required");
	module_error("name: x\nagent_type: claude\n"
		     "install: {url: 'ftp://h/a', sha256: ab, version: '1', "
		     "bin: z}\n",
		     "install.url", 3, 16, "http://");
	module_error(
		"name: x\nagent_type: claude\n"
		"install: {url: 'https://h/a.zip', version: '1', bin: z, "
		"sha256: "
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaa}\n",
		"install.url", 3, 16, "zip archives");
	module_error(
		"name: x\nagent_type: claude\n"
		"install: {url: 'https://h/a.tgz', version: '1', "
		"bin: ../z, sha256: "
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaa}\n",
		"install.bin", 3, 54, "inside the archive");
	module_error(
		"name: x\nagent_type: claude\n"
		"install: {url: 'https://h/a', version: '1', bin: d/z, "
		"sha256: "
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaa}\n",
		"install.bin", 3, 50, "file name");
	module_error("name: x\nagent_type: claude\ninstal: {}\n", "instal", 3,
		     1, "did you mean 'install'?");
	module_error("name: x\nagent_type: claude\nproviders: {azure: {}}\n",
		     "providers.azure", 3, 13, "unknown provider");
}

static void
test_toml(void **state)
{
	json_t *j = json_loads("{\"a\": \"x\\\"y\\n\", \"n\": 2, \"f\": 1.0, "
			       "\"t\": {\"b\": true, \"arr\": [1, \"s\"], "
			       "\"deep\": {\"k\": \"v\"}}, \"z\": false, "
			       "\"my key\": {}}",
			       0, NULL);
	char *s = module_toml(j);

	assert_string_equal(s, "a = \"x\\\"y\\n\"\n"
			       "n = 2\n"
			       "f = 1.0\n"
			       "z = false\n"
			       "\n[t]\n"
			       "b = true\n"
			       "arr = [1, \"s\"]\n"
			       "\n[t.deep]\n"
			       "k = \"v\"\n"
			       "\n[\"my key\"]\n");
	free(s);
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claude_anthropic),
		cmocka_unit_test(test_claude_options),
		cmocka_unit_test(test_claude_providers),
		cmocka_unit_test(test_provider_type_unsupported),
		cmocka_unit_test(test_provider_fallback_and_vars),
		cmocka_unit_test(test_codex),
		cmocka_unit_test(test_codex_approval),
		cmocka_unit_test(test_gemini),
		cmocka_unit_test(test_aider),
		cmocka_unit_test(test_goose),
		cmocka_unit_test(test_custom),
		cmocka_unit_test(test_builtin_templates_render),
		cmocka_unit_test(test_module_errors),
		cmocka_unit_test(test_toml),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
