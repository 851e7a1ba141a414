/*
 * module.c: agent module validation and rendering.
 *
 * Data model: a module file is validated once into normalized JSON:
 *   {name, display_name, agent_type, install {kind, npm|pip|url, package,
 *    version, sha256, format, bin, dir} | null (parse_install), check, command,
 * args_if, args_unless, default_provider, providers {name: {env, files}}, env,
 * env_if, files [{path, mode, format, content}], mcp {file, key, fields, extra}
 * | null, system_prompt {file} | null} Strings may hold {{var}} references,
 * checked at parse time against a fixed list. Rendering substitutes them,
 * merges provider files into the module's files (maps deep-merged by path),
 * adds the MCP server entries and the system prompt file, and serializes each
 * file (JSON, TOML, or JSON for YAML files, since JSON is valid YAML).
 */
#include "common.h"

#include <ctype.h>
#include <strings.h>

#include "core/buf.h"
#include "core/ynode.h"
#include "server/module.h"
#include "server/schema.h"

static const char *const variables[] = {
	"home",
	"workdir",
	"taskbox",
	"llm_url",
	"proxy_url",
	"tools_dir",
	"task_id",
	"model",
	"permission_mode",
	"system_prompt",
	"provider",
	"region",
	"project",
	"bin",
	"approval_policy",
	NULL,
};

/* Template agent options that args_if/args_unless/env_if may test. */
static const char *const options[] = {"model", "permission_mode",
				      "system_prompt", NULL};

static const char *const agent_types[] = {"claude", "codex",  "gemini", "aider",
					  "goose",  "custom", NULL};

static const char *const provider_names[] = {
	"anthropic",	     "openai", "gemini", "bedrock", "vertex", "ollama",
	"openai-compatible", NULL,
};

/* Whether s is one of list (NULL-terminated). */
static bool
in_list(const char *s, const char *const *list)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* Check the {{var}} references of one scalar. */
static void
check_vars_str(struct schema *s, const struct ynode *n, const char *loc)
{
	const char *p = n->scalar, *end;

	while ((p = strstr(p, "{{")) != NULL) {
		const char *a = p + 2, *b;
		char *name;

		end = strstr(a, "}}");
		if (end == NULL) {
			schema_error(s, n, loc, "unterminated '{{'");
			return;
		}
		while (*a == ' ')
			a++;
		for (b = end; b > a && b[-1] == ' '; b--)
			;
		name = xstrndup(a, (size_t)(b - a));
		if (!in_list(name, variables))
			schema_error(s, n, loc, "unknown variable '{{%s}}'",
				     name);
		free(name);
		p = end + 2;
	}
}

/* Check every {{var}} reference in a tree, keys included. */
static void
check_vars(struct schema *s, const struct ynode *n, const char *loc)
{
	size_t i;

	if (n->kind == YN_SCALAR) {
		check_vars_str(s, n, loc);
		return;
	}
	for (i = 0; i < n->n; i++) {
		char *l = n->kind == YN_MAP
				  ? schema_loc(loc, n->keys[i]->scalar)
				  : schema_loc_index(loc, i);

		if (n->kind == YN_MAP)
			check_vars_str(s, n->keys[i], l);
		check_vars(s, n->items[i], l);
		free(l);
	}
}

/* {option: [args]} for args_if and args_unless. */
static json_t *
parse_option_args(struct schema *s, const struct ynode *n, const char *loc)
{
	json_t *o = json_object();
	size_t i;

	if (n == NULL || ynode_is_null(n))
		return o;
	if (n->kind != YN_MAP) {
		schema_error(s, n, loc, "must be a map of option: [args]");
		return o;
	}
	for (i = 0; i < n->n; i++) {
		const char *opt = n->keys[i]->scalar;
		char *l = schema_loc(loc, opt);

		if (!in_list(opt, options))
			schema_error(s, n->keys[i], l,
				     "unknown option '%s' (want model, "
				     "permission_mode or system_prompt)",
				     opt);
		else
			json_object_set_new(o, opt,
					    schema_strings(s, n->items[i], l));
		free(l);
	}
	return o;
}

/* {option: {NAME: value}} for env_if. */
static json_t *
parse_option_env(struct schema *s, const struct ynode *n, const char *loc)
{
	json_t *o = json_object();
	size_t i;

	if (n == NULL || ynode_is_null(n))
		return o;
	if (n->kind != YN_MAP) {
		schema_error(s, n, loc, "must be a map of option: {env}");
		return o;
	}
	for (i = 0; i < n->n; i++) {
		const char *opt = n->keys[i]->scalar;
		char *l = schema_loc(loc, opt);

		if (!in_list(opt, options))
			schema_error(s, n->keys[i], l,
				     "unknown option '%s' (want model, "
				     "permission_mode or system_prompt)",
				     opt);
		else
			json_object_set_new(o, opt,
					    schema_env(s, n->items[i], l));
		free(l);
	}
	return o;
}

/* The format a path implies by its extension. */
static const char *
format_of(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot == NULL)
		return "text";
	if (strcmp(dot, ".json") == 0)
		return "json";
	if (strcmp(dot, ".toml") == 0)
		return "toml";
	if (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0)
		return "yaml";
	return "text";
}

/* Whether p is a safe relative path: not absolute, no ".." part. */
static bool
is_relative_path(const char *p)
{
	const char *c;

	if (*p == '\0' || *p == '/')
		return false;
	for (c = p; c != NULL; c = strchr(c, '/')) {
		if (*c == '/')
			c++;
		if (strncmp(c, "..", 2) == 0 && (c[2] == '/' || c[2] == '\0'))
			return false;
	}
	return true;
}

/* A path key of map (relative to home), or NULL after an error. */
static const char *
path_key(struct schema *s, const struct ynode *map, const char *key,
	 const char *loc)
{
	const char *p = schema_str(s, map, key, loc, true, 1024);
	char *l;

	if (p == NULL || is_relative_path(p))
		return p;
	l = schema_loc(loc, key);
	schema_error(s, ynode_get(map, key), l,
		     "must be a path relative to the agent home, without "
		     "'..'");
	free(l);
	return NULL;
}

/* One entry of files. */
static json_t *
parse_file(struct schema *s, const struct ynode *n, const char *loc)
{
	static const char *const keys[] = {"path", "mode", "format", "content",
					   NULL};
	const char *path, *format, *mode;
	const struct ynode *c;
	long m = 0600;
	char *l, *end;
	json_t *content = NULL;

	if (!schema_map(s, n, loc, keys))
		return NULL;
	path = path_key(s, n, "path", loc);
	format = schema_str(s, n, "format", loc, false, 0);
	mode = schema_str(s, n, "mode", loc, false, 0);
	if (mode != NULL) {
		const char *digits =
			strncmp(mode, "0o", 2) == 0 ? mode + 2 : mode;

		errno = 0;
		m = strtol(digits, &end,
			   digits[0] == '0' || digits != mode ? 8 : 10);
		if (errno != 0 || *end != '\0' || *digits == '\0' || m < 0 ||
		    m > 07777) {
			l = schema_loc(loc, "mode");
			schema_error(s, ynode_get(n, "mode"), l,
				     "invalid mode '%s' (want e.g. 0600)",
				     mode);
			free(l);
			m = 0600;
		}
	}
	if (format == NULL) {
		format = path ? format_of(path) : "text";
	} else if (strcmp(format, "json") != 0 && strcmp(format, "toml") != 0 &&
		   strcmp(format, "yaml") != 0 && strcmp(format, "text") != 0) {
		l = schema_loc(loc, "format");
		schema_error(s, ynode_get(n, "format"), l,
			     "unknown format '%s' (want json, toml, yaml or "
			     "text)",
			     format);
		free(l);
		format = "text";
	}
	c = ynode_get(n, "content");
	l = schema_loc(loc, "content");
	if (c == NULL) {
		schema_error(s, n, l, "'content' is required");
	} else if (strcmp(format, "text") == 0) {
		if (c->kind != YN_SCALAR)
			schema_error(s, c, l,
				     "must be a string for text files");
		else
			content = json_string(c->scalar);
	} else if (c->kind != YN_MAP) {
		schema_error(s, c, l, "must be a map for %s files", format);
	} else {
		content = ynode_to_json_typed(c);
	}
	free(l);
	if (path == NULL || content == NULL) {
		json_decref(content);
		return NULL;
	}
	return json_pack("{s:s, s:i, s:s, s:o}", "path", path, "mode", (int)m,
			 "format", format, "content", content);
}

/* The files list. */
static json_t *
parse_files(struct schema *s, const struct ynode *n, const char *loc)
{
	json_t *a = json_array(), *f;
	size_t i;

	if (n == NULL || ynode_is_null(n))
		return a;
	if (n->kind != YN_SEQ) {
		schema_error(s, n, loc, "must be a list");
		return a;
	}
	for (i = 0; i < n->n; i++) {
		char *l = schema_loc_index(loc, i);

		f = parse_file(s, n->items[i], l);
		if (f != NULL)
			json_array_append_new(a, f);
		free(l);
	}
	return a;
}

/* The providers map: {name: {env, files}}. */
static json_t *
parse_providers(struct schema *s, const struct ynode *n)
{
	static const char *const keys[] = {"env", "files", NULL};
	json_t *o = json_object();
	size_t i;

	if (n == NULL || ynode_is_null(n))
		return o;
	if (n->kind != YN_MAP) {
		schema_error(s, n, "providers", "must be a map");
		return o;
	}
	for (i = 0; i < n->n; i++) {
		const char *name = n->keys[i]->scalar;
		const struct ynode *v = n->items[i];
		char *l = schema_loc("providers", name), *el, *fl;

		if (!in_list(name, provider_names))
			schema_error(s, n->keys[i], l, "unknown provider '%s'",
				     name);
		if (!ynode_is_null(v) && !schema_map(s, v, l, keys)) {
			free(l);
			continue;
		}
		el = schema_loc(l, "env");
		fl = schema_loc(l, "files");
		json_object_set_new(
			o, name,
			json_pack("{s:o, s:o}", "env",
				  schema_env(s, ynode_get(v, "env"), el),
				  "files",
				  parse_files(s, ynode_get(v, "files"), fl)));
		free(el);
		free(fl);
		free(l);
	}
	return o;
}

/* Is s safe as one path component and a pinned version: [A-Za-z0-9._+-],
 * not starting with '.'? */
static bool
install_version_ok(const char *s)
{
	if (*s == '\0' || *s == '.')
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("._+-", *s) == NULL)
			return false;
	return true;
}

/* Is s a relative path inside the install dir (no '..', no '//', not
 * absolute), of printable ASCII? */
static bool
install_relpath_ok(const char *s)
{
	const char *p;

	if (*s == '\0' || *s == '/' || strstr(s, "//") != NULL ||
	    s[strlen(s) - 1] == '/')
		return false;
	for (p = s; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '\\')
			return false;
	for (p = s; p != NULL; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0'))
			return false;
		if (p[0] == '.' && (p[1] == '/' || p[1] == '\0'))
			return false;
	}
	return true;
}

/* The archive format of a download URL from its path's suffix: "tar.gz",
 * "tar.bz2", "tar.xz", "zip", or "binary" for anything else. */
static const char *
install_format(const char *url)
{
	static const char *const sfx[][2] = {
		{".tar.gz", "tar.gz"},	 {".tgz", "tar.gz"},
		{".tar.bz2", "tar.bz2"}, {".tbz2", "tar.bz2"},
		{".tar.xz", "tar.xz"},	 {".txz", "tar.xz"},
		{".zip", "zip"},
	};
	size_t n = strcspn(url, "?#");

	for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
		size_t k = strlen(sfx[i][0]);

		if (n >= k && strncasecmp(url + n - k, sfx[i][0], k) == 0)
			return sfx[i][1];
	}
	return "binary";
}

/* Check the url kind's url and sha256; false after an error. */
static bool
install_url_ok(struct schema *s, const struct ynode *n, const char *url,
	       const char *sha)
{
	bool ok = true;

	if (strncmp(url, "https://", 8) != 0 &&
	    strncmp(url, "http://", 7) != 0) {
		schema_error(s, ynode_get(n, "url"), "install.url",
			     "must be an http:// or https:// URL");
		ok = false;
	}
	for (const char *p = url; ok && *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f) {
			schema_error(s, ynode_get(n, "url"), "install.url",
				     "must not hold spaces or control or "
				     "non-ASCII characters (percent-encode "
				     "them)");
			ok = false;
		}
	if (ok && strcmp(install_format(url), "zip") == 0) {
		schema_error(s, ynode_get(n, "url"), "install.url",
			     "zip archives are not supported: use a .tar.gz, "
			     ".tar.bz2 or .tar.xz archive or a single "
			     "executable");
		ok = false;
	}
	if (sha == NULL) {
		schema_error(s, n, "install.sha256",
			     "'sha256' is required with 'url' (the hex SHA-256 "
			     "of the file)");
		return false;
	}
	if (strlen(sha) != 64 || strspn(sha, "0123456789abcdefABCDEF") != 64) {
		schema_error(s, ynode_get(n, "sha256"), "install.sha256",
			     "must be 64 hex digits");
		return false;
	}
	return ok;
}

/* Is name a Python distribution name (PEP 508: letters, digits, '.', '_',
 * '-', starting and ending with a letter or digit)? */
static bool
install_pip_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || !isalnum((unsigned char)name[0]) ||
	    !isalnum((unsigned char)name[n - 1]))
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvw"
			    "xyz0123456789._-") == n;
}

/*
 * The install block, one of three kinds (exactly one of npm, pip, url):
 *   {npm, version, bin, dir}: npm install into TOOLS/DIR
 *   {pip, version, bin, dir}: a virtualenv TOOLS/DIR/VERSION, pip install
 *     PIP==VERSION from the server's index (--pip-index-url)
 *   {url, sha256, version, bin, dir, arch}: the file at url, checked
 *     against sha256, unpacked (tar.gz, tar.bz2, tar.xz) or kept (one
 *     executable) in TOOLS/DIR/VERSION; bin is the executable's path
 *     inside; arch, when given, the only machine (uname -m) it runs on
 * Normalized: {kind, npm|pip|url, package, version, sha256, format, bin,
 * dir}.
 */
static json_t *
parse_install(struct schema *s, const struct ynode *n, const char *name)
{
	static const char *const keys[] = {"npm",    "pip",	"url",
					   "sha256", "version", "bin",
					   "dir",    "arch",	NULL};
	const char *npm, *pip, *url, *sha, *version, *bin, *dir, *kind, *arch;
	bool ok = true, archive;
	json_t *r;

	if (n == NULL || ynode_is_null(n))
		return json_null();
	if (!schema_map(s, n, "install", keys))
		return json_null();
	npm = schema_str(s, n, "npm", "install", false, 214);
	pip = schema_str(s, n, "pip", "install", false, 100);
	url = schema_str(s, n, "url", "install", false, 2048);
	sha = schema_str(s, n, "sha256", "install", false, 64);
	version = schema_str(s, n, "version", "install", true, 64);
	bin = schema_str(s, n, "bin", "install", true, 200);
	dir = schema_str(s, n, "dir", "install", false, 0);
	arch = schema_str(s, n, "arch", "install", false, 32);
	if ((npm != NULL) + (pip != NULL) + (url != NULL) != 1) {
		schema_error(s, n, "install",
			     "give exactly one of 'npm', 'pip' or 'url'");
		return json_null();
	}
	kind = npm ? "npm" : pip ? "pip" : "url";
	if (dir != NULL && !schema_is_slug(dir, 63)) {
		schema_error(s, ynode_get(n, "dir"), "install.dir",
			     "must be a single directory name [a-z0-9-]");
		ok = false;
	}
	/* only an archive holds directories */
	archive = url != NULL && strcmp(install_format(url), "binary") != 0;
	if (bin != NULL && (!install_relpath_ok(bin) ||
			    (!archive && strchr(bin, '/') != NULL))) {
		schema_error(s, ynode_get(n, "bin"), "install.bin",
			     archive ? "must be a relative path inside the "
				       "archive (no '..')"
				     : "must be a file name, not a path");
		ok = false;
	}
	if (version != NULL && npm == NULL && !install_version_ok(version)) {
		schema_error(s, ynode_get(n, "version"), "install.version",
			     "must be a pinned version of [A-Za-z0-9._+-]");
		ok = false;
	}
	if (pip != NULL && !install_pip_name_ok(pip)) {
		schema_error(s, ynode_get(n, "pip"), "install.pip",
			     "must be a Python package name (letters, digits, "
			     "'.', '_', '-')");
		ok = false;
	}
	if (sha != NULL && url == NULL) {
		schema_error(s, ynode_get(n, "sha256"), "install.sha256",
			     "only used with 'url'");
		ok = false;
	}
	if (url != NULL && !install_url_ok(s, n, url, sha))
		ok = false;
	if (arch != NULL &&
	    (url == NULL || *arch == '\0' ||
	     strspn(arch, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
		     strlen(arch))) {
		schema_error(s, ynode_get(n, "arch"), "install.arch",
			     url ? "must be a machine name as uname -m "
				   "prints it (x86_64, aarch64)"
				 : "only used with 'url'");
		ok = false;
	}
	if (!ok || version == NULL || bin == NULL)
		return json_null();
	r = json_pack("{s:s, s:s, s:s, s:s}", "kind", kind, "version", version,
		      "bin", bin, "dir", dir ? dir : name);
	if (npm != NULL)
		json_object_set_new(r, "npm",
				    json_sprintf("%s@%s", npm, version));
	if (pip != NULL)
		json_object_set_new(r, "pip", json_string(pip));
	if (url != NULL) {
		char *lower = xstrdup(sha);

		for (char *p = lower; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		json_object_set_new(r, "url", json_string(url));
		json_object_set_new(r, "sha256", json_string(lower));
		json_object_set_new(r, "format",
				    json_string(install_format(url)));
		free(lower);
	}
	if (arch != NULL)
		json_object_set_new(r, "arch", json_string(arch));
	json_object_set_new(r, "package",
			    json_string(npm   ? npm
					: pip ? pip
					      : url));
	return r;
}

json_t *
module_install(const json_t *module, const char *tools_dir)
{
	const json_t *inst = json_object_get(module, "install");
	const char *kind, *dir, *version, *bin;
	char *home, *path, *bin_dir;
	json_t *r;

	if (!json_is_object(inst))
		return NULL;
	kind = json_string_value(json_object_get(inst, "kind")) ?: "npm";
	dir = json_string_value(json_object_get(inst, "dir")) ?: "";
	version = json_string_value(json_object_get(inst, "version")) ?: "";
	bin = json_string_value(json_object_get(inst, "bin")) ?: "";
	if (strcmp(kind, "npm") == 0) {
		home = xasprintf("%s/%s", tools_dir ?: "", dir);
		bin_dir = xasprintf("%s/node_modules/.bin", home);
		path = xasprintf("%s/%s", bin_dir, bin);
	} else {
		home = xasprintf("%s/%s/%s", tools_dir ?: "", dir, version);
		if (strcmp(kind, "pip") == 0)
			path = xasprintf("%s/bin/%s", home, bin);
		else
			path = xasprintf("%s/%s", home, bin);
		bin_dir = xstrndup(path, (size_t)(strrchr(path, '/') - path));
	}
	r = json_deep_copy(inst);
	json_object_set_new(r, "kind", json_string(kind));
	json_object_set_new(r, "dir", json_string(home));
	json_object_set_new(r, "bin_dir", json_string(bin_dir));
	json_object_set_new(r, "bin_path", json_string(path));
	free(home);
	free(bin_dir);
	free(path);
	return r;
}

/* The mcp block: {file, key, fields, extra}. */
static json_t *
parse_mcp(struct schema *s, const struct ynode *n)
{
	static const char *const keys[] = {"file", "key", "fields", "extra",
					   NULL};
	static const char *const fkeys[] = {"command", "args", "env", "name",
					    NULL};
	const struct ynode *fields, *extra;
	const char *file, *key;
	json_t *f;
	size_t i;

	if (n == NULL || ynode_is_null(n))
		return json_null();
	if (!schema_map(s, n, "mcp", keys))
		return json_null();
	file = path_key(s, n, "file", "mcp");
	key = schema_str(s, n, "key", "mcp", true, 256);
	f = json_pack("{s:s, s:s, s:s}", "command", "command", "args", "args",
		      "env", "env");
	fields = ynode_get(n, "fields");
	if (fields != NULL && schema_map(s, fields, "mcp.fields", fkeys)) {
		for (i = 0; i < fields->n; i++) {
			const char *v = fields->items[i]->scalar;

			if (fields->items[i]->kind == YN_SCALAR && v != NULL &&
			    *v != '\0')
				json_object_set_new(f, fields->keys[i]->scalar,
						    json_string(v));
		}
	}
	extra = ynode_get(n, "extra");
	if (extra != NULL && extra->kind != YN_MAP) {
		schema_error(s, extra, "mcp.extra", "must be a map");
		extra = NULL;
	}
	if (file == NULL || key == NULL) {
		json_decref(f);
		return json_null();
	}
	return json_pack("{s:s, s:s, s:s, s:o, s:o}", "file", file, "format",
			 format_of(file), "key", key, "fields", f, "extra",
			 extra ? ynode_to_json_typed(extra) : json_object());
}

json_t *
module_parse(const char *yaml, size_t len, json_t **errors)
{
	static const char *const keys[] = {
		"name",	       "display_name", "agent_type",
		"install",     "check",	       "command",
		"args_if",     "args_unless",  "default_provider",
		"providers",   "env",	       "env_if",
		"files",       "mcp",	       "system_prompt",
		"resume_args", NULL,
	};
	static const char *const spkeys[] = {"file", NULL};
	struct schema s;
	struct ynode *root;
	const struct ynode *cmd, *sp;
	const char *name, *type, *dp, *check, *spfile = NULL;
	json_t *m, *providers;
	char *cause;

	schema_init(&s);
	root = yaml_load(yaml, len, &cause);
	if (root == NULL) {
		int line = 1, col = 1;
		const char *msg = strstr(cause, ": ");

		if (sscanf(cause, "line %d, column %d: ", &line, &col) == 2 &&
		    msg != NULL) {
			struct ynode at = {.line = line, .column = col};

			schema_error(&s, &at, "", "%s", msg + 2);
		} else {
			schema_error(&s, NULL, "", "%s", cause);
		}
		free(cause);
		return schema_finish(&s, NULL, errors);
	}
	if (!schema_map(&s, root, "", keys)) {
		ynode_free(root);
		return schema_finish(&s, NULL, errors);
	}
	check_vars(&s, root, "");
	name = schema_str(&s, root, "name", "", true, 0);
	if (name != NULL && !schema_is_slug(name, 63)) {
		schema_error(&s, ynode_get(root, "name"), "name",
			     "invalid name '%s' (want [a-z0-9][a-z0-9-]*)",
			     name);
		name = NULL;
	}
	type = schema_str(&s, root, "agent_type", "", true, 0);
	if (type != NULL && !in_list(type, agent_types)) {
		schema_error(&s, ynode_get(root, "agent_type"), "agent_type",
			     "unknown agent type '%s' (want claude, codex, "
			     "gemini, aider, goose or custom)",
			     type);
		type = NULL;
	}
	m = json_pack("{s:s, s:s, s:s}", "name", name ? name : "",
		      "display_name",
		      schema_str(&s, root, "display_name", "", false, 64)
			      ?: (name ? name : ""),
		      "agent_type", type ? type : "custom");
	json_object_set_new(m, "install",
			    parse_install(&s, ynode_get(root, "install"),
					  name ? name : ""));
	check = schema_str(&s, root, "check", "", false, 256);
	if (check != NULL && !json_is_null(json_object_get(m, "install")))
		schema_error(&s, ynode_get(root, "check"), "check",
			     "use either install or check, not both");
	json_object_set_new(m, "check", json_pack("s?", check));
	cmd = ynode_get(root, "command");
	if (cmd != NULL && !ynode_is_null(cmd)) {
		json_t *argv = schema_strings(&s, cmd, "command");

		if (json_array_size(argv) == 0)
			schema_error(&s, cmd, "command",
				     "must be a non-empty list");
		json_object_set_new(m, "command", argv);
	} else {
		json_object_set_new(m, "command", json_null());
	}
	cmd = ynode_get(root, "resume_args");
	json_object_set_new(m, "resume_args",
			    cmd != NULL && !ynode_is_null(cmd)
				    ? schema_strings(&s, cmd, "resume_args")
				    : json_array());
	json_object_set_new(
		m, "args_if",
		parse_option_args(&s, ynode_get(root, "args_if"), "args_if"));
	json_object_set_new(m, "args_unless",
			    parse_option_args(&s,
					      ynode_get(root, "args_unless"),
					      "args_unless"));
	providers = parse_providers(&s, ynode_get(root, "providers"));
	dp = schema_str(&s, root, "default_provider", "", false, 0);
	if (dp != NULL && json_object_get(providers, dp) == NULL) {
		schema_error(&s, ynode_get(root, "default_provider"),
			     "default_provider",
			     "'%s' is not listed under providers", dp);
		dp = NULL;
	} else if (dp == NULL && json_object_size(providers) > 0) {
		schema_error(&s, root, "default_provider",
			     "'default_provider' is required when providers "
			     "are listed");
	}
	json_object_set_new(m, "default_provider", json_pack("s?", dp));
	json_object_set_new(m, "providers", providers);
	json_object_set_new(m, "env",
			    schema_env(&s, ynode_get(root, "env"), "env"));
	json_object_set_new(
		m, "env_if",
		parse_option_env(&s, ynode_get(root, "env_if"), "env_if"));
	json_object_set_new(m, "files",
			    parse_files(&s, ynode_get(root, "files"), "files"));
	json_object_set_new(m, "mcp", parse_mcp(&s, ynode_get(root, "mcp")));
	sp = ynode_get(root, "system_prompt");
	if (sp != NULL && !ynode_is_null(sp) &&
	    schema_map(&s, sp, "system_prompt", spkeys))
		spfile = path_key(&s, sp, "file", "system_prompt");
	json_object_set_new(m, "system_prompt",
			    spfile ? json_pack("{s:s}", "file", spfile)
				   : json_null());
	ynode_free(root);
	return schema_finish(&s, m, errors);
}

const char *
module_provider_entry(const json_t *module, const char *type)
{
	const json_t *map = json_object_get(module, "providers");
	const char *k;
	json_t *v;

	if (type == NULL)
		return NULL;
	/* the map's own key: it lives as long as module */
	json_object_foreach((json_t *)map, k, v)
	{
		if (strcmp(k, type) == 0)
			return k;
	}
	/* LiteLLM and friends speak every vendor's format */
	if (strcmp(type, "openai-compatible") == 0)
		return module_provider_entry(
			module, json_string_value(json_object_get(
					module, "default_provider")));
	return NULL;
}

bool
module_supports_provider(const json_t *module, const char *provider)
{
	return module_provider_entry(module, provider) != NULL;
}

/* Replace every {{var}} in in by its value in vars; a new string. */
static char *
subst(const char *in, const json_t *vars)
{
	struct buf b;
	const char *p = in, *open, *close;

	buf_init(&b, 0);
	while ((open = strstr(p, "{{")) != NULL &&
	       (close = strstr(open + 2, "}}")) != NULL) {
		const char *a = open + 2, *e = close;
		char *name;

		buf_append(&b, p, (size_t)(open - p));
		while (*a == ' ')
			a++;
		while (e > a && e[-1] == ' ')
			e--;
		name = xstrndup(a, (size_t)(e - a));
		buf_puts(&b,
			 json_string_value(json_object_get(vars, name)) ?: "");
		free(name);
		p = close + 2;
	}
	buf_puts(&b, p);
	return buf_steal(&b);
}

/* A deep copy of j with {{var}} substituted in strings and keys. */
static json_t *
subst_json(const json_t *j, const json_t *vars)
{
	const char *k;
	json_t *v, *out;
	size_t i;
	char *str;

	switch (json_typeof(j)) {
	case JSON_STRING:
		str = subst(json_string_value(j), vars);
		out = json_string(str);
		free(str);
		return out;
	case JSON_ARRAY:
		out = json_array();
		json_array_foreach(j, i, v)
			json_array_append_new(out, subst_json(v, vars));
		return out;
	case JSON_OBJECT:
		out = json_object();
		json_object_foreach((json_t *)j, k, v)
		{
			str = subst(k, vars);
			json_object_set_new(out, str, subst_json(v, vars));
			free(str);
		}
		return out;
	default:
		return json_deep_copy(j);
	}
}

/* Merge src into dst: objects recursively, anything else replaced. */
static void
deep_merge(json_t *dst, const json_t *src)
{
	const char *k;
	json_t *v, *d;

	json_object_foreach((json_t *)src, k, v)
	{
		d = json_object_get(dst, k);
		if (json_is_object(d) && json_is_object(v))
			deep_merge(d, v);
		else
			json_object_set_new(dst, k, json_deep_copy(v));
	}
}

/* The object at a dotted path in root, created as needed. */
static json_t *
object_at(json_t *root, const char *dotted)
{
	char *copy = xstrdup(dotted), *save = NULL, *part;
	json_t *o = root, *next;

	for (part = strtok_r(copy, ".", &save); part != NULL;
	     part = strtok_r(NULL, ".", &save)) {
		next = json_object_get(o, part);
		if (!json_is_object(next)) {
			next = json_object();
			json_object_set_new(o, part, next);
		}
		o = next;
	}
	free(copy);
	return o;
}

/* The files entry for path in files (a list), created when missing. */
static json_t *
file_entry(json_t *files, const char *path, const char *format)
{
	json_t *f;
	size_t i;

	json_array_foreach(
		files, i,
		f) if (strcmp(json_string_value(json_object_get(f, "path")),
			      path) == 0) return f;
	f = json_pack("{s:s, s:i, s:s, s:o}", "path", path, "mode", 0600,
		      "format", format, "content",
		      strcmp(format, "text") == 0 ? json_string("")
						  : json_object());
	json_array_append_new(files, f);
	return f;
}

/* Add files (substituted) to out, merging structured content by path. */
static void
merge_files(json_t *out, const json_t *files, const json_t *vars)
{
	json_t *f, *e, *content;
	size_t i;
	char *path;

	json_array_foreach(files, i, f)
	{
		path = subst(json_string_value(json_object_get(f, "path")),
			     vars);
		e = file_entry(out, path,
			       json_string_value(json_object_get(f, "format")));
		json_object_set(e, "mode", json_object_get(f, "mode"));
		json_object_set(e, "format", json_object_get(f, "format"));
		content = subst_json(json_object_get(f, "content"), vars);
		if (json_is_object(content) &&
		    json_is_object(json_object_get(e, "content")))
			deep_merge(json_object_get(e, "content"), content);
		else
			json_object_set(e, "content", content);
		json_decref(content);
		free(path);
	}
}

/* One MCP server entry in the module's field names. */
static json_t *
mcp_entry(const json_t *mcp, const char *name, const char *command,
	  const json_t *args, const json_t *env)
{
	const json_t *fields = json_object_get(mcp, "fields");
	json_t *e = json_deep_copy(json_object_get(mcp, "extra"));
	const char *nf = json_string_value(json_object_get(fields, "name"));

	if (nf != NULL)
		json_object_set_new(e, nf, json_string(name));
	json_object_set_new(
		e, json_string_value(json_object_get(fields, "command")),
		json_string(command));
	json_object_set_new(e,
			    json_string_value(json_object_get(fields, "args")),
			    json_deep_copy(args));
	json_object_set_new(e,
			    json_string_value(json_object_get(fields, "env")),
			    json_deep_copy(env));
	return e;
}

/* A TOML basic string: quoted, with escapes. */
static void
toml_string(struct buf *b, const char *str)
{
	const char *c;

	buf_puts(b, "\"");
	for (c = str; *c != '\0'; c++) {
		unsigned char u = (unsigned char)*c;

		if (u == '"' || u == '\\')
			buf_printf(b, "\\%c", u);
		else if (u == '\n')
			buf_puts(b, "\\n");
		else if (u == '\t')
			buf_puts(b, "\\t");
		else if (u < 0x20 || u == 0x7f)
			buf_printf(b, "\\u%04x", u);
		else
			buf_append(b, c, 1);
	}
	buf_puts(b, "\"");
}

/* A TOML key: bare when possible, else a quoted string. */
static void
toml_key(struct buf *b, const char *k)
{
	const char *c;
	bool bare = *k != '\0';

	for (c = k; *c != '\0'; c++)
		bare = bare &&
		       ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			(*c >= '0' && *c <= '9') || *c == '_' || *c == '-');
	if (bare)
		buf_puts(b, k);
	else
		toml_string(b, k);
}

/* A TOML value: string, number, bool, array or inline table. */
static void
toml_value(struct buf *b, const json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;
	char num[64];

	switch (json_typeof(v)) {
	case JSON_STRING:
		toml_string(b, json_string_value(v));
		break;
	case JSON_INTEGER:
		buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		buf_puts(b, num);
		if (strpbrk(num, ".eEn") == NULL)
			buf_puts(b, ".0");
		break;
	case JSON_TRUE:
		buf_puts(b, "true");
		break;
	case JSON_FALSE:
		buf_puts(b, "false");
		break;
	case JSON_ARRAY:
		buf_puts(b, "[");
		json_array_foreach(v, i, x)
		{
			buf_puts(b, i ? ", " : "");
			toml_value(b, x);
		}
		buf_puts(b, "]");
		break;
	case JSON_OBJECT:
		buf_puts(b, "{");
		i = 0;
		json_object_foreach((json_t *)v, k, x)
		{
			if (json_is_null(x))
				continue;
			buf_puts(b, i++ ? ", " : " ");
			toml_key(b, k);
			buf_puts(b, " = ");
			toml_value(b, x);
		}
		buf_puts(b, i ? " }" : "}");
		break;
	case JSON_NULL:
		buf_puts(b, "\"\"");
		break;
	}
}

/* One TOML table: its plain keys, then its sub-tables under headers. */
static void
toml_table(struct buf *b, const json_t *obj, const char *header)
{
	const char *k;
	json_t *v;
	bool plain = false;

	json_object_foreach((json_t *)obj, k, v)
	{
		if (json_is_object(v) || json_is_null(v))
			continue;
		if (!plain && header != NULL)
			buf_printf(b, "%s[%s]\n", b->len ? "\n" : "", header);
		plain = true;
		toml_key(b, k);
		buf_puts(b, " = ");
		toml_value(b, v);
		buf_puts(b, "\n");
	}
	if (!plain && header != NULL && json_object_size(obj) == 0)
		buf_printf(b, "%s[%s]\n", b->len ? "\n" : "", header);
	json_object_foreach((json_t *)obj, k, v)
	{
		struct buf h;

		if (!json_is_object(v))
			continue;
		buf_init(&h, 0);
		if (header != NULL)
			buf_printf(&h, "%s.", header);
		toml_key(&h, k);
		toml_table(b, v, buf_cstr(&h));
		buf_release(&h);
	}
}

char *
module_toml(const json_t *obj)
{
	struct buf b;

	buf_init(&b, 0);
	toml_table(&b, obj, NULL);
	buf_cstr(&b);
	return buf_steal(&b);
}

/* Serialize one rendered file's content by its format. */
static char *
serialize(const json_t *f)
{
	const char *format = json_string_value(json_object_get(f, "format"));
	const json_t *c = json_object_get(f, "content");
	char *s, *r;

	if (json_is_string(c))
		return xstrdup(json_string_value(c));
	if (strcmp(format, "toml") == 0)
		return module_toml(c);
	s = json_dumps(c, JSON_INDENT(2));
	if (s == NULL)
		fatal("json_dumps: out of memory");
	r = xasprintf("%s\n", s);
	free(s);
	return r;
}

/* Add a render error {message, location}. */
static PRINTFLIKE(3, 4) void render_error(json_t *errors, const char *loc,
					  const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	json_array_append_new(errors, json_pack("{s:s, s:s}", "message", msg,
						"location", loc));
	free(msg);
}

/* The {{var}} values for one render. */
static json_t *
render_vars(const json_t *module, const json_t *agent, const char *provider,
	    const struct module_ctx *ctx, char **bin_dir)
{
	const json_t *inst = json_object_get(module, "install");
	const char *opt;
	json_t *vars;
	size_t i;

	vars = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "home",
			 ctx->home ?: "", "workdir", ctx->workdir ?: "",
			 "taskbox", ctx->taskbox ?: "", "llm_url",
			 ctx->llm_url ?: "", "proxy_url", ctx->proxy_url ?: "",
			 "tools_dir", ctx->tools_dir ?: "", "task_id",
			 ctx->task_id ?: "", "provider", provider ?: "");
	json_object_set_new(vars, "region", json_string(ctx->region ?: ""));
	json_object_set_new(vars, "project", json_string(ctx->project ?: ""));
	for (i = 0; options[i] != NULL; i++) {
		opt = json_string_value(json_object_get(agent, options[i]));
		json_object_set_new(vars, options[i], json_string(opt ?: ""));
	}
	/* always set: the template validated it, "never" by default */
	opt = json_string_value(json_object_get(agent, "approval_policy"));
	json_object_set_new(vars, "approval_policy",
			    json_string(opt ?: "never"));
	*bin_dir = NULL;
	if (json_is_object(inst)) {
		json_t *ri = module_install(module, ctx->tools_dir);

		/* not a virtualenv's bin: its python and pip would shadow
		 * the system's for everything the agent runs */
		if (strcmp(json_string_value(json_object_get(ri, "kind")),
			   "pip") != 0)
			*bin_dir = xstrdup(json_string_value(
				json_object_get(ri, "bin_dir")));
		json_object_set(vars, "bin", json_object_get(ri, "bin_path"));
		json_decref(ri);
	} else {
		json_object_set_new(
			vars, "bin",
			json_string(json_string_value(
					    json_object_get(module, "check"))
					    ?: ""));
	}
	return vars;
}

/* Append args_if (option set) or args_unless (option unset) pieces. */
static void
option_args(json_t *argv, const json_t *module, const json_t *vars,
	    const char *which, bool when_set)
{
	const char *opt;
	json_t *args, *a, *v;
	size_t i;

	json_object_foreach(json_object_get(module, which), opt, args)
	{
		bool set =
			*json_string_value(json_object_get(vars, opt)) != '\0';

		if (set != when_set)
			continue;
		json_array_foreach(args, i, a)
		{
			v = subst_json(a, vars);
			json_array_append_new(argv, v);
		}
	}
}

/* Merge env (substituted when vars is set) into out. */
static void
merge_env(json_t *out, const json_t *env, const json_t *vars)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)env, k, v) json_object_set_new(
		out, k, vars ? subst_json(v, vars) : json_deep_copy(v));
}

json_t *
module_render(const json_t *module, const json_t *tmpl,
	      const struct module_ctx *ctx, json_t **errors)
{
	const json_t *agent = json_object_get(tmpl, "agent");
	const json_t *mcp = json_object_get(module, "mcp");
	const char *provider, *type, *opt, *k, *sp, *name;
	json_t *errs = json_array(), *vars, *argv, *env, *files, *pv, *v, *out,
	       *servers, *taskbox_args, *taskbox_env, *f, *inst;
	char *bin_dir, *s;
	size_t i;

	name = json_string_value(json_object_get(module, "name"));
	/* the entry of the provider's type; without one known, the
	 * module's default */
	type = ctx->provider_type
		       ?: json_string_value(
				  json_object_get(module, "default_provider"));
	provider = module_provider_entry(module, type);
	if (ctx->provider_type != NULL && provider == NULL &&
	    json_object_size(json_object_get(module, "providers")) > 0)
		render_error(errs, "agent.provider",
			     "module '%s' does not support provider '%s' of "
			     "type '%s'",
			     name,
			     ctx->provider ?: json_string_value(json_object_get(
						      agent, "provider"))
						      ?: type,
			     type);
	if (!json_is_array(json_object_get(agent, "command")) &&
	    !json_is_array(json_object_get(module, "command")))
		render_error(errs, "agent.command",
			     "module '%s' needs the launch command in "
			     "agent.command",
			     name);
	if (json_array_size(errs) > 0) {
		*errors = errs;
		return NULL;
	}
	json_decref(errs);
	*errors = NULL;
	vars = render_vars(module, agent, provider, ctx, &bin_dir);
	pv = provider ? json_object_get(json_object_get(module, "providers"),
					provider)
		      : NULL;

	/* argv: the command, option pieces, then the template's args. */
	if (json_is_array(json_object_get(agent, "command")))
		argv = json_deep_copy(json_object_get(agent, "command"));
	else
		argv = subst_json(json_object_get(module, "command"), vars);
	option_args(argv, module, vars, "args_if", true);
	option_args(argv, module, vars, "args_unless", false);
	json_array_extend(argv, json_object_get(agent, "args"));

	/* env: module, provider, option env, then the template's. */
	env = json_object();
	merge_env(env, json_object_get(module, "env"), vars);
	if (pv != NULL)
		merge_env(env, json_object_get(pv, "env"), vars);
	json_object_foreach(
		json_object_get(module, "env_if"), opt,
		v) if (*json_string_value(json_object_get(vars, opt)) != '\0')
		merge_env(env, v, vars);
	merge_env(env, json_object_get(agent, "env"), NULL);

	/* files: module, provider, MCP servers, system prompt. */
	files = json_array();
	merge_files(files, json_object_get(module, "files"), vars);
	if (pv != NULL)
		merge_files(files, json_object_get(pv, "files"), vars);
	if (json_is_object(mcp)) {
		f = file_entry(
			files, json_string_value(json_object_get(mcp, "file")),
			json_string_value(json_object_get(mcp, "format")));
		servers = object_at(
			json_object_get(f, "content"),
			json_string_value(json_object_get(mcp, "key")));
		taskbox_args = json_pack("[s]", "mcp");
		taskbox_env = json_pack("{s:s}", "TASKBOX_TASK_ID",
					ctx->task_id ?: "");
		json_object_set_new(servers, "taskbox",
				    mcp_entry(mcp, "taskbox",
					      ctx->taskbox ?: "", taskbox_args,
					      taskbox_env));
		json_decref(taskbox_args);
		json_decref(taskbox_env);
		json_object_foreach(json_object_get(agent, "mcp_servers"), k, v)
			json_object_set_new(
				servers, k,
				mcp_entry(mcp, k,
					  json_string_value(json_object_get(
						  v, "command")),
					  json_object_get(v, "args"),
					  json_object_get(v, "env")));
	}
	sp = json_string_value(json_object_get(agent, "system_prompt"));
	if (sp != NULL &&
	    json_is_object(json_object_get(module, "system_prompt"))) {
		f = file_entry(files,
			       json_string_value(json_object_get(
				       json_object_get(module, "system_prompt"),
				       "file")),
			       "text");
		json_object_set_new(f, "content", json_string(sp));
	}
	json_array_foreach(files, i, f)
	{
		s = serialize(f);
		json_object_set_new(f, "content", json_string(s));
		json_object_del(f, "format");
		free(s);
	}

	inst = json_object_get(module, "install");
	out = json_pack(
		"{s:s, s:o, s:o, s:o}", "type",
		json_string_value(json_object_get(module, "agent_type")),
		"argv", argv, "env", env, "files", files);
	/* appended to argv when a paused task resumes (--continue ...) */
	json_object_set_new(
		out, "resume_args",
		json_is_array(json_object_get(module, "resume_args"))
			? subst_json(json_object_get(module, "resume_args"),
				     vars)
			: json_array());
	json_object_set_new(out, "install",
			    json_is_object(inst)
				    ? module_install(module, ctx->tools_dir)
				    : json_null());
	json_object_set_new(out, "path",
			    bin_dir ? json_pack("[s]", bin_dir) : json_array());
	json_object_set_new(out, "provider", json_pack("s?", provider));
	/* the agent starts `taskbox mcp`: its first input waits for it */
	json_object_set_new(out, "mcp", json_boolean(json_is_object(mcp)));
	free(bin_dir);
	json_decref(vars);
	return out;
}
