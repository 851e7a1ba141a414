/*
 * template.c: template validation, normalization and Task-template
 * detection.
 *
 * Data model: the YAML tree (core/yaml.c) is walked once, block by block;
 * each block's parser returns its normalized JSON and records every error
 * in a struct schema. Cross-references (ai_task naming an app, parameter
 * and app uniqueness) are checked after the blocks they refer to. Nothing
 * here does I/O: the server, the CLI linter and the tests call it alike.
 */
#include "common.h"

#include "core/text.h"

#include <limits.h>
#include <math.h>
#include <sodium.h>

#include "core/buf.h"
#include "core/netpolicy.h"
#include "core/ynode.h"
#include "server/schema.h"
#include "server/template.h"

#define MEMORY_MIN	      (16LL << 20)
#define MEMORY_MAX	      (1LL << 40)
#define DISK_MIN	      (16LL << 20)
#define DISK_MAX	      (64LL << 40)
#define DEFAULT_PIDS	      4096
#define DEFAULT_SETUP_TIMEOUT 600

/*
 * agent.approval_policy: when the agent asks before it acts (the values
 * Codex 0.169 still takes: it refuses "untrusted" at start, "granular" is
 * a table). The workspace is the sandbox, so an unattended task never
 * asks by default.
 */
static const char *const approval_policies[] = {
	"never",
	"on-request",
	"on-failure",
	NULL,
};

/* Parse a decimal "I[.F]" prefix into units of 10^-scale; end after it. */
static int
parse_fixed(const char *s, int scale, int64_t max, int64_t *out,
	    const char **end)
{
	int64_t v = 0;
	int digits = 0, i;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > max / 10)
			return -EINVAL;
		v = v * 10 + (*s - '0');
	}
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		for (; *s >= '0' && *s <= '9'; s++) {
			if (digits == scale)
				return -EINVAL;
			if (v > max / 10)
				return -EINVAL;
			v = v * 10 + (*s - '0');
			digits++;
		}
	}
	for (i = digits; i < scale; i++) {
		if (v > max / 10)
			return -EINVAL;
		v *= 10;
	}
	*out = v;
	*end = s;
	return 0;
}

int
template_parse_memory(const char *s, int64_t *bytes)
{
	static const struct {
		const char *suffix;
		int64_t mult;
	} units[] = {
		{"", 1},
		{"B", 1},
		{"K", 1000},
		{"k", 1000},
		{"KB", 1000},
		{"kB", 1000},
		{"M", 1000000},
		{"MB", 1000000},
		{"G", 1000000000},
		{"GB", 1000000000},
		{"T", 1000000000000LL},
		{"TB", 1000000000000LL},
		{"Ki", 1LL << 10},
		{"KiB", 1LL << 10},
		{"Mi", 1LL << 20},
		{"MiB", 1LL << 20},
		{"Gi", 1LL << 30},
		{"GiB", 1LL << 30},
		{"Ti", 1LL << 40},
		{"TiB", 1LL << 40},
	};
	const char *end;
	int64_t milli;
	size_t i;

	/* Thousandths of a unit, so "1.5G" stays integer arithmetic. */
	if (parse_fixed(s, 3, INT64_MAX / 1000, &milli, &end) < 0)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (milli > INT64_MAX / units[i].mult)
			return -EINVAL;
		*bytes = milli * units[i].mult / 1000;
		return 0;
	}
	return -EINVAL;
}

int
template_parse_cpu(const char *s, int64_t *millicores)
{
	const char *end;
	int64_t v;
	size_t len = strlen(s);

	if (len > 1 && s[len - 1] == 'm') {
		if (parse_fixed(s, 0, 1000000, &v, &end) < 0 || *end != 'm' ||
		    end[1] != '\0')
			return -EINVAL;
	} else if (parse_fixed(s, 3, 1000000000, &v, &end) < 0 ||
		   *end != '\0') {
		return -EINVAL;
	}
	*millicores = v;
	return 0;
}

/* map[key] as a scalar string for a number; NULL and an error otherwise. */
static const struct ynode *
number_node(struct schema *s, const struct ynode *map, const char *key,
	    const char *loc)
{
	const struct ynode *v = ynode_get(map, key);

	if (v == NULL || ynode_is_null(v))
		return NULL;
	if (v->kind != YN_SCALAR) {
		char *kloc = schema_loc(loc, key);

		schema_error(s, v, kloc, "must be a number");
		free(kloc);
		return NULL;
	}
	return v;
}

/* An integer key in [min, max]; dflt when absent. */
static long
int_in_range(struct schema *s, const struct ynode *map, const char *key,
	     const char *loc, long min, long max, long dflt)
{
	const struct ynode *v = number_node(s, map, key, loc);
	long out;
	char *kloc;

	if (v == NULL)
		return dflt;
	if (parse_long(v->scalar, min, max, &out) == 0)
		return out;
	kloc = schema_loc(loc, key);
	schema_error(s, v, kloc, "must be an integer from %ld to %ld", min,
		     max);
	free(kloc);
	return dflt;
}

/* A size key (memory, disk) of workspace.limits in [min, max] bytes, set
 * in j as field; an absent key stays null. */
static void
parse_size(struct schema *s, const struct ynode *n, const char *key,
	   const char *field, int64_t min, int64_t max, const char *range,
	   json_t *j)
{
	const struct ynode *v = number_node(s, n, key, "workspace.limits");
	char *loc;
	int64_t bytes;

	if (v == NULL)
		return;
	loc = schema_loc("workspace.limits", key);
	if (template_parse_memory(v->scalar, &bytes) < 0)
		schema_error(s, v, loc,
			     "invalid size '%s' (want e.g. 2GiB, 512Mi, 1G)",
			     v->scalar);
	else if (bytes < min || bytes > max)
		schema_error(s, v, loc, "must be from %s", range);
	else
		json_object_set_new(j, field, json_integer(bytes));
	free(loc);
}

/* workspace.limits; a limit the template does not set stays null (the
 * server's maximum applies at launch). */
static json_t *
parse_limits(struct schema *s, const struct ynode *n)
{
	static const char *const keys[] = {"memory", "pids", "cpu", "disk",
					   NULL};
	const char *loc = "workspace.limits";
	const struct ynode *v;
	int64_t cpu;
	json_t *j = json_object();

	json_object_set_new(j, "memory_bytes", json_null());
	json_object_set_new(j, "pids", json_null());
	json_object_set_new(j, "cpu_millicores", json_null());
	json_object_set_new(j, "disk_bytes", json_null());
	if (n == NULL || ynode_is_null(n) || !schema_map(s, n, loc, keys))
		return j;
	parse_size(s, n, "memory", "memory_bytes", MEMORY_MIN, MEMORY_MAX,
		   "16MiB to 1TiB", j);
	parse_size(s, n, "disk", "disk_bytes", DISK_MIN, DISK_MAX,
		   "16MiB to 64TiB", j);
	if (number_node(s, n, "pids", loc) != NULL)
		json_object_set_new(
			j, "pids",
			json_integer(int_in_range(s, n, "pids", loc, 16,
						  1000000, DEFAULT_PIDS)));
	v = number_node(s, n, "cpu", loc);
	if (v != NULL) {
		if (template_parse_cpu(v->scalar, &cpu) < 0 || cpu < 10 ||
		    cpu > 64000)
			schema_error(s, v, "workspace.limits.cpu",
				     "must be from 0.01 to 64 cores (e.g. "
				     "1.5 or 500m)");
		else
			json_object_set_new(j, "cpu_millicores",
					    json_integer(cpu));
	}
	return j;
}

/* Whether h is a host name: labels of [a-z0-9-], not starting/ending '-'. */
static bool
is_hostname(const char *h, size_t len)
{
	size_t i, label = 0;

	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		char c = h[i];

		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && h[len - 1] != '-';
}

/*
 * One egress entry, lower-cased into *out; NULL, or why it is refused.
 * *is_private is set for a private address (an admin's template only).
 */
static const char *
egress_entry(const char *in, char **out, bool *is_private)
{
	char *h = xstrdup(in), *colon, *p, *last;
	const char *why = NULL;
	bool wild;
	long port;

	*is_private = false;
	for (p = h; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	wild = strncmp(h, "*.", 2) == 0;
	colon = strchr(wild ? h + 2 : h, ':');
	if (colon != NULL && parse_long(colon + 1, 1, 65535, &port) < 0)
		goto bad;
	if (colon != NULL)
		*colon = '\0';
	if (!is_hostname(wild ? h + 2 : h, strlen(wild ? h + 2 : h)))
		goto bad;
	last = strrchr(h, '.');
	last = last ? last + 1 : h;
	if (wild && last[strspn(last, "0123456789")] == '\0') {
		why = "a wildcard matches host names only, never addresses";
		goto refused;
	}
	if (wild && net_name_local(h + 2))
		why = "a name of the server's own host";
	else if (!wild)
		why = net_check_host(h, is_private);
	if (why != NULL)
		goto refused;
	if (colon != NULL)
		*colon = ':';
	*out = h;
	return NULL;
bad:
	free(h);
	return "want host, *.domain or host:port";
refused:
	free(h);
	return why;
}

/* workspace.egress: a list of host[:port] with an optional "*." prefix;
 * private addresses are admin_only. */
static json_t *
parse_egress(struct schema *s, const struct ynode *n)
{
	json_t *a = json_array();
	size_t i;

	if (n == NULL || ynode_is_null(n))
		return a;
	if (n->kind != YN_SEQ) {
		schema_error(s, n, "workspace.egress",
			     "must be a list of host names");
		return a;
	}
	for (i = 0; i < n->n; i++) {
		const struct ynode *it = n->items[i];
		char *loc = schema_loc_index("workspace.egress", i), *h = NULL;
		const char *v = it->kind == YN_SCALAR ? it->scalar : "";
		const char *why = "want host, *.domain or host:port";
		bool priv = false;

		if (it->kind == YN_SCALAR)
			why = egress_entry(v, &h, &priv);
		if (why != NULL) {
			schema_error(s, it, loc, "cannot allow '%s': %s", v,
				     why);
		} else {
			if (priv)
				schema_admin_only(s, it, loc,
						  "'%s' is a private address: "
						  "only an admin's template "
						  "may allow private ranges",
						  v);
			json_array_append_new(a, json_string(h));
		}
		free(h);
		free(loc);
	}
	return a;
}

/*
 * workspace.budget {tokens, usd}: what each task of the template may
 * spend on LLM requests (gateway/account.c); null when absent, and a
 * kind left out has no limit.
 */
static json_t *
parse_budget(struct schema *s, const struct ynode *n)
{
	static const char *const keys[] = {"tokens", "usd", NULL};
	const char *loc = "workspace.budget";
	const struct ynode *v;
	json_t *j;
	long tokens;
	char *end;
	double usd;

	if (n == NULL || ynode_is_null(n) || !schema_map(s, n, loc, keys))
		return json_null();
	j = json_object();
	tokens = int_in_range(s, n, "tokens", loc, 1,
			      TEMPLATE_BUDGET_TOKENS_MAX, 0);
	json_object_set_new(j, "tokens",
			    tokens > 0 ? json_integer(tokens) : json_null());
	json_object_set_new(j, "usd", json_null());
	if ((v = number_node(s, n, "usd", loc)) != NULL) {
		errno = 0;
		usd = strtod(v->scalar, &end);
		if (errno != 0 || end == v->scalar || *end != '\0' ||
		    !isfinite(usd) || usd <= 0 || usd > TEMPLATE_BUDGET_USD_MAX)
			schema_error(s, v, "workspace.budget.usd",
				     "must be a number above 0 up to %d",
				     TEMPLATE_BUDGET_USD_MAX);
		else
			json_object_set_new(j, "usd", json_real(usd));
	}
	return j;
}

/* The workspace block. */
static json_t *
parse_workspace(struct schema *s, const struct ynode *n)
{
	static const char *const keys[] = {
		"backend", "limits",	     "egress", "env",
		"setup",   "setup_timeout",  "home",   "idle_timeout",
		"webhook", "egress_private", "budget", NULL,
	};
	const char *loc = "workspace", *backend, *home, *setup;
	json_t *j = json_object();
	bool ismap;

	ismap = n != NULL && !ynode_is_null(n) && schema_map(s, n, loc, keys);
	if (!ismap)
		n = NULL;
	backend = schema_str(s, n, "backend", loc, false, 0);
	if (backend == NULL) {
		backend = "local";
	} else if (strcmp(backend, "podman") == 0 ||
		   strcmp(backend, "kubernetes") == 0) {
		schema_error(s, ynode_get(n, "backend"), "workspace.backend",
			     "backend '%s' is not available yet", backend);
	} else if (strcmp(backend, "local") != 0) {
		schema_error(s, ynode_get(n, "backend"), "workspace.backend",
			     "unknown backend '%s' (want local)", backend);
	}
	json_object_set_new(j, "backend", json_string(backend));
	json_object_set_new(j, "limits",
			    parse_limits(s, ynode_get(n, "limits")));
	json_object_set_new(j, "egress",
			    parse_egress(s, ynode_get(n, "egress")));
	/* allowlisted names may resolve to private addresses (admins only) */
	if (schema_bool(s, n, "egress_private", loc, false)) {
		schema_admin_only(s, ynode_get(n, "egress_private"),
				  "workspace.egress_private",
				  "only an admin's template may allow private "
				  "ranges");
		json_object_set_new(j, "egress_private", json_true());
	} else {
		json_object_set_new(j, "egress_private", json_false());
	}
	json_object_set_new(
		j, "env", schema_env(s, ynode_get(n, "env"), "workspace.env"));
	setup = schema_str(s, n, "setup", loc, false, 256 * 1024);
	json_object_set_new(j, "setup",
			    setup ? json_string(setup) : json_null());
	json_object_set_new(
		j, "setup_timeout_s",
		json_integer(int_in_range(s, n, "setup_timeout", loc, 1, 3600,
					  DEFAULT_SETUP_TIMEOUT)));
	/* pause the task after this long idle or waiting (0: never) */
	json_object_set_new(j, "idle_timeout_s",
			    json_integer(int_in_range(s, n, "idle_timeout", loc,
						      0, 30 * 24 * 3600, 0)));
	{
		/* state changes are POSTed here (http or https) */
		const char *hook =
			schema_str(s, n, "webhook", loc, false, 2048);
		const char *why;
		bool priv;

		if (hook != NULL && (why = net_check_url(hook, &priv)) != NULL)
			schema_error(s, ynode_get(n, "webhook"),
				     "workspace.webhook", "%s", why);
		else if (hook != NULL && priv)
			schema_admin_only(s, ynode_get(n, "webhook"),
					  "workspace.webhook",
					  "a private address: only an admin's "
					  "template may send webhooks there");
		json_object_set_new(j, "webhook",
				    hook ? json_string(hook) : json_null());
	}
	home = schema_str(s, n, "home", loc, false, 0);
	if (home == NULL) {
		home = "persistent";
	} else if (strcmp(home, "persistent") != 0 &&
		   strcmp(home, "ephemeral") != 0) {
		schema_error(s, ynode_get(n, "home"), "workspace.home",
			     "must be persistent or ephemeral");
	}
	json_object_set_new(j, "home", json_string(home));
	json_object_set_new(j, "budget",
			    parse_budget(s, ynode_get(n, "budget")));
	return j;
}

/* The scalar v converted to a parameter's type (an error at kloc, and
 * NULL, when it is not one); a new reference. */
static json_t *
param_value(struct schema *s, const struct ynode *v, const char *type,
	    const char *kloc)
{
	json_t *r = NULL;
	char *end;
	double d;
	long l;

	if (v->kind != YN_SCALAR) {
		schema_error(s, v, kloc, "must be a %s", type);
	} else if (strcmp(type, "string") == 0) {
		r = json_string(v->scalar);
	} else if (strcmp(type, "bool") == 0) {
		if (strcmp(v->scalar, "true") == 0)
			r = json_true();
		else if (strcmp(v->scalar, "false") == 0)
			r = json_false();
		else
			schema_error(s, v, kloc, "must be true or false");
	} else if (parse_long(v->scalar, LONG_MIN, LONG_MAX, &l) == 0) {
		r = json_integer(l);
	} else {
		errno = 0;
		d = strtod(v->scalar, &end);
		if (errno == 0 && end != v->scalar && *end == '\0' &&
		    isfinite(d))
			r = json_real(d);
		else
			schema_error(s, v, kloc, "must be a number");
	}
	return r;
}

/* A parameter's default converted to its type; NULL after an error. */
static json_t *
param_default(struct schema *s, const struct ynode *v, const char *type,
	      const char *loc)
{
	char *kloc = schema_loc(loc, "default");
	json_t *r = param_value(s, v, type, kloc);

	free(kloc);
	return r;
}

/* One entry of parameters. */
static json_t *
parse_parameter(struct schema *s, const struct ynode *n, const char *loc)
{
	static const char *const keys[] = {
		"name",	   "display_name", "description", "type",
		"default", "required",	   NULL,
	};
	const char *name, *type, *dn, *desc;
	const struct ynode *dv;
	json_t *j, *dflt = NULL;

	if (!schema_map(s, n, loc, keys))
		return NULL;
	name = schema_str(s, n, "name", loc, true, 64);
	dn = schema_str(s, n, "display_name", loc, false, 64);
	desc = schema_str(s, n, "description", loc, false, 1024);
	type = schema_str(s, n, "type", loc, false, 0);
	if (type == NULL) {
		type = "string";
	} else if (strcmp(type, "string") != 0 && strcmp(type, "number") != 0 &&
		   strcmp(type, "bool") != 0) {
		char *kloc = schema_loc(loc, "type");

		schema_error(s, ynode_get(n, "type"), kloc,
			     "unknown type '%s' (want string, number or bool)",
			     type);
		free(kloc);
		type = "string";
	}
	dv = ynode_get(n, "default");
	if (dv != NULL && !(ynode_is_null(dv) && strcmp(type, "string") != 0))
		dflt = param_default(s, dv, type, loc);
	if (name == NULL)
		name = "";
	j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:b}", "name", name,
		      "display_name", dn ? dn : name, "description",
		      desc ? desc : "", "type", type, "default",
		      dflt ? dflt : json_null(), "required",
		      schema_bool(s, n, "required", loc, dflt == NULL));
	return j;
}

/* The parameters list; names must be unique. */
static json_t *
parse_parameters(struct schema *s, const struct ynode *n)
{
	json_t *a = json_array(), *p;
	size_t i, k;

	if (n == NULL || ynode_is_null(n))
		return a;
	if (n->kind != YN_SEQ) {
		schema_error(s, n, "parameters", "must be a list");
		return a;
	}
	for (i = 0; i < n->n; i++) {
		char *loc = schema_loc_index("parameters", i);
		const char *name;

		p = parse_parameter(s, n->items[i], loc);
		if (p == NULL) {
			free(loc);
			continue;
		}
		name = json_string_value(json_object_get(p, "name"));
		for (k = 0; k < json_array_size(a); k++) {
			json_t *o = json_array_get(a, k);

			if (*name != '\0' &&
			    strcmp(json_string_value(
					   json_object_get(o, "name")),
				   name) == 0) {
				char *nloc = schema_loc(loc, "name");

				schema_error(s, ynode_get(n->items[i], "name"),
					     nloc, "duplicate parameter '%s'",
					     name);
				free(nloc);
			}
		}
		json_array_append_new(a, p);
		free(loc);
	}
	return a;
}

/* Whether name is a preset's name: 1-TEMPLATE_PRESET_NAME_MAX characters
 * of UTF-8 without control characters, not all blank. */
static bool
preset_name_valid(const char *name)
{
	size_t chars = 0;
	bool blank = true;

	for (const unsigned char *c = (const unsigned char *)name; *c != '\0';
	     c++) {
		if (*c < ' ' || *c == 0x7f)
			return false;
		if ((*c & 0xc0) != 0x80)
			chars++;
		blank = blank && *c == ' ';
	}
	return chars >= 1 && chars <= TEMPLATE_PRESET_NAME_MAX && !blank;
}

/* The parameter named name in params (parse_parameters's), or NULL. */
static const json_t *
param_find(const json_t *params, const char *name)
{
	const json_t *p;
	size_t i;

	json_array_foreach(params, i, p)
	{
		const char *o = json_string_value(json_object_get(p, "name"));

		if (o != NULL && strcmp(o, name) == 0)
			return p;
	}
	return NULL;
}

/* A preset's parameters {param: value}: each a template parameter other
 * than the prompt, its value of that parameter's type. */
static json_t *
parse_preset_values(struct schema *s, const struct ynode *n, const char *loc,
		    const json_t *params)
{
	json_t *o = json_object();

	if (n == NULL || ynode_is_null(n))
		return o;
	if (n->kind != YN_MAP) {
		schema_error(s, n, loc, "must be a map of parameter: value");
		return o;
	}
	for (size_t i = 0; i < n->n; i++) {
		const char *name = n->keys[i]->scalar;
		const json_t *p = param_find(params, name);
		char *kloc = schema_loc(loc, name);
		json_t *v;

		if (p == NULL)
			schema_error(s, n->keys[i], kloc,
				     "the template has no parameter '%s'",
				     name);
		else if (strcmp(name, TEMPLATE_PROMPT_PARAM) == 0)
			schema_error(s, n->keys[i], kloc,
				     "'%s' is the task's prompt: a preset "
				     "cannot set it",
				     name);
		else if ((v = param_value(
				  s, n->items[i],
				  json_string_value(json_object_get(p, "type")),
				  kloc)) != NULL)
			json_object_set_new(o, name, v);
		free(kloc);
	}
	return o;
}

/* One entry of presets: {name, description, default, parameters}. */
static json_t *
parse_preset(struct schema *s, const struct ynode *n, const char *loc,
	     const json_t *params)
{
	static const char *const keys[] = {"name", "description", "default",
					   "parameters", NULL};
	const char *name, *desc;
	char *kloc;
	json_t *values;

	if (!schema_map(s, n, loc, keys))
		return NULL;
	name = schema_str(s, n, "name", loc, true, 0);
	kloc = schema_loc(loc, "name");
	if (name != NULL && !preset_name_valid(name)) {
		schema_error(s, ynode_get(n, "name"), kloc,
			     "invalid preset name (want 1-%d characters, no "
			     "control characters)",
			     TEMPLATE_PRESET_NAME_MAX);
		name = NULL;
	} else if (name != NULL && strcmp(name, TEMPLATE_PRESET_NONE) == 0) {
		schema_error(s, ynode_get(n, "name"), kloc,
			     "preset name '%s' is reserved (it means no "
			     "preset)",
			     name);
		name = NULL;
	}
	free(kloc);
	desc = schema_str(s, n, "description", loc, false, 1024);
	kloc = schema_loc(loc, "parameters");
	values = parse_preset_values(s, ynode_get(n, "parameters"), kloc,
				     params);
	free(kloc);
	return json_pack("{s:s, s:s, s:b, s:o}", "name", name ? name : "",
			 "description", desc ? desc : "", "default",
			 schema_bool(s, n, "default", loc, false), "parameters",
			 values);
}

/*
 * The presets list over the parsed parameters: at most
 * TEMPLATE_PRESETS_MAX, names unique, at most one default.
 */
static json_t *
parse_presets(struct schema *s, const struct ynode *n, const json_t *params)
{
	json_t *a = json_array(), *p;
	const char *dflt = NULL;

	if (n == NULL || ynode_is_null(n))
		return a;
	if (n->kind != YN_SEQ) {
		schema_error(s, n, "presets",
			     "must be a list of {name, description, default, "
			     "parameters}");
		return a;
	}
	if (n->n > TEMPLATE_PRESETS_MAX) {
		char *loc = schema_loc_index("presets", TEMPLATE_PRESETS_MAX);

		schema_error(s, n->items[TEMPLATE_PRESETS_MAX], loc,
			     "too many presets: at most %d",
			     TEMPLATE_PRESETS_MAX);
		free(loc);
		return a;
	}
	for (size_t i = 0; i < n->n; i++) {
		char *loc = schema_loc_index("presets", i), *kloc;
		const char *name;

		p = parse_preset(s, n->items[i], loc, params);
		if (p == NULL) {
			free(loc);
			continue;
		}
		name = json_string_value(json_object_get(p, "name"));
		for (size_t k = 0; *name != '\0' && k < json_array_size(a);
		     k++) {
			if (strcmp(json_string_value(json_object_get(
					   json_array_get(a, k), "name")),
				   name) != 0)
				continue;
			kloc = schema_loc(loc, "name");
			schema_error(s, ynode_get(n->items[i], "name"), kloc,
				     "duplicate preset '%s'", name);
			free(kloc);
			break;
		}
		if (json_is_true(json_object_get(p, "default"))) {
			kloc = schema_loc(loc, "default");
			if (dflt != NULL)
				schema_error(s,
					     ynode_get(n->items[i], "default"),
					     kloc,
					     "only one preset may be the "
					     "default ('%s' is)",
					     dflt);
			else
				dflt = *name != '\0' ? name : "?";
			free(kloc);
		}
		json_array_append_new(a, p);
		free(loc);
	}
	return a;
}

/* Whether u is http://127.0.0.1:PORT[/path] or http://localhost:PORT. */
static bool
is_local_url(const char *u)
{
	const char *p, *slash;
	char port[8];
	long v;

	if (strncmp(u, "http://127.0.0.1:", 17) == 0)
		p = u + 17;
	else if (strncmp(u, "http://localhost:", 17) == 0)
		p = u + 17;
	else
		return false;
	slash = strchr(p, '/');
	if ((slash ? (size_t)(slash - p) : strlen(p)) >= sizeof(port))
		return false;
	snprintf(port, sizeof(port), "%.*s",
		 (int)(slash ? (size_t)(slash - p) : strlen(p)), p);
	if (parse_long(port, 1, 65535, &v) < 0)
		return false;
	for (; slash != NULL && *slash != '\0'; slash++)
		if ((unsigned char)*slash <= ' ' || *slash == '#')
			return false;
	return true;
}

/* One entry of apps. */
static json_t *
parse_app(struct schema *s, const struct ynode *n, const char *loc)
{
	static const char *const keys[] = {"slug", "display_name", "url",
					   "health", NULL};
	const char *slug, *dn, *url, *health;
	char *kloc;

	if (!schema_map(s, n, loc, keys))
		return NULL;
	slug = schema_str(s, n, "slug", loc, true, 0);
	dn = schema_str(s, n, "display_name", loc, false, 64);
	url = schema_str(s, n, "url", loc, true, 2048);
	health = schema_str(s, n, "health", loc, false, 1024);
	kloc = schema_loc(loc, "slug");
	if (slug != NULL && !schema_is_slug(slug, 63)) {
		schema_error(s, ynode_get(n, "slug"), kloc,
			     "invalid slug '%s' (want [a-z0-9][a-z0-9-]*)",
			     slug);
		slug = NULL;
	} else if (slug != NULL && strcmp(slug, "chat") == 0) {
		schema_error(s, ynode_get(n, "slug"), kloc,
			     "slug 'chat' is reserved for the built-in chat "
			     "app");
		slug = NULL;
	}
	free(kloc);
	if (url != NULL && !is_local_url(url)) {
		kloc = schema_loc(loc, "url");
		schema_error(s, ynode_get(n, "url"), kloc,
			     "must be http://127.0.0.1:PORT[/path] or "
			     "http://localhost:PORT[/path]");
		free(kloc);
	}
	if (health != NULL && health[0] != '/') {
		kloc = schema_loc(loc, "health");
		schema_error(s, ynode_get(n, "health"), kloc,
			     "must be a path starting with '/'");
		free(kloc);
	}
	return json_pack("{s:s?, s:s?, s:s?, s:s?}", "slug", slug,
			 "display_name", dn ? dn : slug, "url", url, "health",
			 health);
}

/* The apps list; slugs must be unique. */
static json_t *
parse_apps(struct schema *s, const struct ynode *n)
{
	json_t *a = json_array(), *app;
	size_t i, k;

	if (n == NULL || ynode_is_null(n))
		return a;
	if (n->kind != YN_SEQ) {
		schema_error(s, n, "apps", "must be a list");
		return a;
	}
	for (i = 0; i < n->n; i++) {
		char *loc = schema_loc_index("apps", i);
		const char *slug;

		app = parse_app(s, n->items[i], loc);
		free(loc);
		if (app == NULL)
			continue;
		slug = json_string_value(json_object_get(app, "slug"));
		for (k = 0; slug != NULL && k < json_array_size(a); k++) {
			const char *o = json_string_value(
				json_object_get(json_array_get(a, k), "slug"));

			if (o != NULL && strcmp(o, slug) == 0) {
				loc = xasprintf("apps[%zu].slug", i);
				schema_error(s, ynode_get(n->items[i], "slug"),
					     loc, "duplicate app slug '%s'",
					     slug);
				free(loc);
			}
		}
		json_array_append_new(a, app);
	}
	return a;
}

/* agent.mcp_servers: {name: {command, args, env}}. */
static json_t *
parse_mcp_servers(struct schema *s, const struct ynode *n)
{
	static const char *const keys[] = {"command", "args", "env", NULL};
	json_t *o = json_object();
	size_t i, c;

	if (n == NULL || ynode_is_null(n))
		return o;
	if (n->kind != YN_MAP) {
		schema_error(s, n, "agent.mcp_servers",
			     "must be a map of name: {command, args, env}");
		return o;
	}
	for (i = 0; i < n->n; i++) {
		const char *name = n->keys[i]->scalar, *cmd;
		const struct ynode *v = n->items[i];
		char *loc = schema_loc("agent.mcp_servers", name), *kloc;
		bool ok = *name != '\0';

		for (c = 0; name[c] != '\0'; c++)
			ok = ok && (name[c] == '-' || name[c] == '_' ||
				    (name[c] >= 'a' && name[c] <= 'z') ||
				    (name[c] >= 'A' && name[c] <= 'Z') ||
				    (name[c] >= '0' && name[c] <= '9'));
		if (!ok)
			schema_error(s, n->keys[i], loc,
				     "invalid server name '%s' (want "
				     "[A-Za-z0-9_-]+)",
				     name);
		else if (strcmp(name, "taskbox") == 0)
			schema_error(s, n->keys[i], loc,
				     "server name 'taskbox' is reserved");
		if (!schema_map(s, v, loc, keys)) {
			free(loc);
			continue;
		}
		cmd = schema_str(s, v, "command", loc, true, 4096);
		kloc = schema_loc(loc, "args");
		json_object_set_new(
			o, name,
			json_pack("{s:s, s:o, s:o}", "command", cmd ? cmd : "",
				  "args",
				  schema_strings(s, ynode_get(v, "args"), kloc),
				  "env", json_null()));
		free(kloc);
		kloc = schema_loc(loc, "env");
		json_object_set_new(json_object_get(o, name), "env",
				    schema_env(s, ynode_get(v, "env"), kloc));
		free(kloc);
		free(loc);
	}
	return o;
}

/* The agent block; NULL when absent. */
static json_t *
parse_agent(struct schema *s, const struct ynode *n)
{
	static const char *const keys[] = {
		"module",      "model",		  "provider", "permission_mode",
		"mcp_servers", "system_prompt",	  "args",     "env",
		"command",     "approval_policy", NULL,
	};
	const char *loc = "agent", *module, *provider, *approval;
	json_t *j;
	size_t i;

	if (n == NULL)
		return NULL;
	if (!schema_map(s, n, loc, keys))
		return NULL;
	module = schema_str(s, n, "module", loc, true, 0);
	if (module != NULL && !schema_is_slug(module, 63)) {
		schema_error(s, ynode_get(n, "module"), "agent.module",
			     "invalid module name '%s'", module);
		module = NULL;
	}
	/* a provider's name (taskbox provider list): whether it exists
	 * is checked at task create, where providers are known */
	provider = schema_str(s, n, "provider", loc, false, 0);
	if (provider != NULL && !schema_is_slug(provider, 63)) {
		schema_error(s, ynode_get(n, "provider"), "agent.provider",
			     "invalid provider name '%s' (1-63 of [a-z0-9-], "
			     "not starting with '-')",
			     provider);
		provider = NULL;
	}
	approval = schema_str(s, n, "approval_policy", loc, false, 0);
	for (i = 0; approval != NULL && approval_policies[i] != NULL; i++)
		if (strcmp(approval, approval_policies[i]) == 0)
			break;
	if (approval != NULL && approval_policies[i] == NULL) {
		schema_error(s, ynode_get(n, "approval_policy"),
			     "agent.approval_policy",
			     "unknown approval policy '%s' (want never, "
			     "on-request or on-failure)",
			     approval);
		approval = NULL;
	}
	j = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s}", "module", module,
		      "model", schema_str(s, n, "model", loc, false, 256),
		      "provider", provider, "permission_mode",
		      schema_str(s, n, "permission_mode", loc, false, 64),
		      "approval_policy", approval ? approval : "never");
	json_object_set_new(j, "mcp_servers",
			    parse_mcp_servers(s, ynode_get(n, "mcp_servers")));
	json_object_set_new(j, "system_prompt",
			    json_pack("s?", schema_str(s, n, "system_prompt",
						       loc, false, 64 * 1024)));
	json_object_set_new(
		j, "args",
		schema_strings(s, ynode_get(n, "args"), "agent.args"));
	json_object_set_new(j, "env",
			    schema_env(s, ynode_get(n, "env"), "agent.env"));
	if (ynode_get(n, "command") != NULL) {
		json_t *cmd = schema_strings(s, ynode_get(n, "command"),
					     "agent.command");

		if (json_array_size(cmd) == 0)
			schema_error(s, ynode_get(n, "command"),
				     "agent.command",
				     "must be a non-empty list");
		json_object_set_new(j, "command", cmd);
	}
	/* json_pack's s? leaves keys out: make absent options explicit. */
	if (!json_object_get(j, "model"))
		json_object_set_new(j, "model", json_null());
	if (!json_object_get(j, "provider"))
		json_object_set_new(j, "provider", json_null());
	if (!json_object_get(j, "permission_mode"))
		json_object_set_new(j, "permission_mode", json_null());
	if (!json_object_get(j, "command"))
		json_object_set_new(j, "command", json_null());
	return j;
}

int
template_identity_render(const char *s, const char *name, const char *email,
			 const char *username, char **out)
{
	static const char *const vars[] = {"owner.name", "owner.email",
					   "owner.username"};
	const char *vals[] = {name, email, username};
	struct buf b;
	const char *p = s, *open_, *close_;

	buf_init(&b, 64 * 1024);
	while ((open_ = strstr(p, "{{")) != NULL) {
		size_t i, len;
		const char *v;

		buf_append(&b, p, (size_t)(open_ - p));
		close_ = strstr(open_ + 2, "}}");
		if (close_ == NULL)
			goto bad;
		v = open_ + 2;
		while (*v == ' ')
			v++;
		len = (size_t)(close_ - v);
		while (len > 0 && v[len - 1] == ' ')
			len--;
		for (i = 0; i < ARRAY_SIZE(vars); i++)
			if (strlen(vars[i]) == len &&
			    strncmp(v, vars[i], len) == 0)
				break;
		if (i == ARRAY_SIZE(vars))
			goto bad;
		buf_append(&b, vals[i], strlen(vals[i]));
		p = close_ + 2;
	}
	buf_append(&b, p, strlen(p));
	*out = xstrndup(buf_cstr(&b), b.len);
	buf_release(&b);
	return 0;
bad:
	buf_release(&b);
	return -EINVAL;
}

bool
template_secret_name_valid(const char *s)
{
	return schema_is_env_name(s) && strlen(s) <= 64;
}

/* identity.author or identity.committer: {name?, email?}. */
static json_t *
parse_person(struct schema *s, const struct ynode *map, const char *key)
{
	static const char *const keys[] = {"name", "email", NULL};
	static const char *const fields[] = {"name", "email"};
	const struct ynode *n = ynode_get(map, key);
	char *loc = schema_loc("identity", key);
	json_t *j = json_pack("{s:n, s:n}", "name", "email");

	if (n == NULL || ynode_is_null(n) || !schema_map(s, n, loc, keys)) {
		free(loc);
		return j;
	}
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		const char *v = schema_str(s, n, fields[i], loc, false, 256);
		char *kloc, *out;
		bool ok = true;

		if (v == NULL)
			continue;
		kloc = schema_loc(loc, fields[i]);
		for (const char *c = v; *c != '\0'; c++)
			ok = ok && (unsigned char)*c >= ' ' && *c != '<' &&
			     *c != '>' && *c != 0x7f;
		if (!ok)
			schema_error(s, ynode_get(n, fields[i]), kloc,
				     "must not hold control characters, '<' "
				     "or '>'");
		else if (template_identity_render(v, "n", "e", "u", &out) < 0)
			schema_error(s, ynode_get(n, fields[i]), kloc,
				     "unknown variable (want {{owner.name}}, "
				     "{{owner.email}} or {{owner.username}})");
		else {
			free(out);
			json_object_set_new(j, fields[i], json_string(v));
		}
		free(kloc);
	}
	free(loc);
	return j;
}

/* The identity block: {author, committer}, each {name, email} or nulls. */
static json_t *
parse_identity(struct schema *s, const struct ynode *n)
{
	static const char *const keys[] = {"author", "committer", NULL};

	if (n != NULL && !ynode_is_null(n) &&
	    !schema_map(s, n, "identity", keys))
		n = NULL;
	if (n != NULL && ynode_is_null(n))
		n = NULL;
	return json_pack("{s:o, s:o}", "author", parse_person(s, n, "author"),
			 "committer", parse_person(s, n, "committer"));
}

/* The github block: {token: "owner" | "secret:NAME"}; NULL when absent. */
static json_t *
parse_github(struct schema *s, const struct ynode *n)
{
	static const char *const keys[] = {"token", NULL};
	const char *token;

	if (n == NULL || ynode_is_null(n))
		return NULL;
	if (!schema_map(s, n, "github", keys))
		return NULL;
	token = schema_str(s, n, "token", "github", true, 0);
	if (token == NULL)
		return NULL;
	if (strcmp(token, "owner") != 0 &&
	    !(strncmp(token, "secret:", 7) == 0 &&
	      template_secret_name_valid(token + 7))) {
		schema_error(s, ynode_get(n, "token"), "github.token",
			     "must be owner or secret:NAME (NAME of "
			     "[A-Za-z_][A-Za-z0-9_]*, at most 64)");
		return NULL;
	}
	return json_pack("{s:s}", "token", token);
}

/* env_secrets: {ENV_NAME: secret_name}; names clash with nothing set by
 * workspace.env or github. */
static json_t *
parse_env_secrets(struct schema *s, const struct ynode *n, const json_t *env,
		  bool github)
{
	json_t *o = json_object();

	if (n == NULL || ynode_is_null(n))
		return o;
	if (n->kind != YN_MAP) {
		schema_error(s, n, "env_secrets",
			     "must be a map of ENV_NAME: secret_name");
		return o;
	}
	for (size_t i = 0; i < n->n; i++) {
		const char *name = n->keys[i]->scalar;
		const struct ynode *v = n->items[i];
		char *loc = schema_loc("env_secrets", name);

		if (!schema_is_env_name(name))
			schema_error(s, n->keys[i], loc,
				     "invalid variable name '%s' (want "
				     "[A-Za-z_][A-Za-z0-9_]*)",
				     name);
		else if (json_object_get(env, name) != NULL)
			schema_error(s, n->keys[i], loc,
				     "'%s' is also set in workspace.env", name);
		else if (github && (strcmp(name, "GITHUB_TOKEN") == 0 ||
				    strcmp(name, "GH_TOKEN") == 0))
			schema_error(s, n->keys[i], loc,
				     "'%s' is set by github.token", name);
		else if (v->kind != YN_SCALAR || ynode_is_null(v) ||
			 !template_secret_name_valid(v->scalar))
			schema_error(s, v, loc,
				     "must name a template secret "
				     "([A-Za-z_][A-Za-z0-9_]*, at most 64)");
		else
			json_object_set_new(o, name, json_string(v->scalar));
		free(loc);
	}
	return o;
}

/* Whether slug is "chat" or the slug of one of apps. */
static bool
app_exists(const json_t *apps, const char *slug)
{
	size_t i;
	json_t *a;

	if (strcmp(slug, "chat") == 0)
		return true;
	json_array_foreach(apps, i, a)
	{
		const char *o = json_string_value(json_object_get(a, "slug"));

		if (o != NULL && strcmp(o, slug) == 0)
			return true;
	}
	return false;
}

/* The ai_task block; NULL when absent. */
static json_t *
parse_ai_task(struct schema *s, const struct ynode *n, const json_t *apps)
{
	static const char *const keys[] = {"sidebar_app", "app", NULL};
	const char *loc = "ai_task", *sidebar, *app;

	if (n == NULL)
		return NULL;
	if (!ynode_is_null(n) && !schema_map(s, n, loc, keys))
		return json_object();
	sidebar = schema_str(s, n, "sidebar_app", loc, false, 0);
	app = schema_str(s, n, "app", loc, false, 0);
	if (sidebar != NULL && !app_exists(apps, sidebar)) {
		schema_error(s, ynode_get(n, "sidebar_app"),
			     "ai_task.sidebar_app",
			     "no app '%s' (want chat or an app slug)", sidebar);
		sidebar = NULL;
	}
	if (app != NULL && !app_exists(apps, app)) {
		schema_error(s, ynode_get(n, "app"), "ai_task.app",
			     "no app '%s' (want chat or an app slug)", app);
		app = NULL;
	}
	return json_pack("{s:s, s:o}", "sidebar_app",
			 sidebar ? sidebar : (app ? app : "chat"), "app",
			 app ? json_string(app) : json_null());
}

/* Task-template detection: sets task_capable and task_reason. */
static void
detect_task(json_t *t)
{
	json_t *ai = json_object_get(t, "ai_task"), *p;
	const char *app = json_string_value(json_object_get(ai, "app"));
	bool prompt = false;
	char *reason;
	size_t i;

	json_array_foreach(json_object_get(t, "parameters"), i, p)
	{
		const char *name =
			json_string_value(json_object_get(p, "name"));

		if (name != NULL && strcmp(name, TEMPLATE_PROMPT_PARAM) == 0)
			prompt = true;
	}
	if (json_is_null(ai) || ai == NULL) {
		json_object_set_new(t, "task_capable", json_false());
		json_object_set_new(t, "task_reason",
				    json_string("no ai_task block"));
		return;
	}
	if (!prompt && app == NULL) {
		json_object_set_new(t, "task_capable", json_false());
		json_object_set_new(t, "task_reason",
				    json_string("ai_task has neither an 'AI "
						"Prompt' parameter nor "
						"ai_task.app"));
		return;
	}
	if (prompt && app != NULL)
		reason = xasprintf("ai_task.app '%s' and an 'AI Prompt' "
				   "parameter",
				   app);
	else if (app != NULL)
		reason = xasprintf("ai_task.app '%s'", app);
	else
		reason = xstrdup("ai_task with an 'AI Prompt' parameter");
	json_object_set_new(t, "task_capable", json_true());
	json_object_set_new(t, "task_reason", json_string(reason));
	free(reason);
}

/* The key node of key in map (its position), or NULL. */
static const struct ynode *
key_node(const struct ynode *map, const char *key)
{
	size_t i;

	for (i = 0; i < map->n; i++)
		if (strcmp(map->keys[i]->scalar, key) == 0)
			return map->keys[i];
	return NULL;
}

json_t *
template_parse(const char *yaml, size_t len, json_t **errors)
{
	static const char *const keys[] = {
		"name",	      "display_name", "description", "workspace",
		"parameters", "apps",	      "agent",	     "ai_task",
		"identity",   "github",	      "env_secrets", "presets",
		NULL,
	};
	struct schema s;
	struct ynode *root;
	const struct ynode *ai;
	const char *name, *dn, *desc;
	json_t *t, *agent, *task;
	char *cause;

	schema_init(&s);
	root = yaml_load(yaml, len, &cause);
	if (root == NULL) {
		int line = 1, col = 1;

		/* yaml_load's cause starts with "line L, column C: ". */
		if (sscanf(cause, "line %d, column %d: ", &line, &col) == 2) {
			struct ynode at = {.line = line, .column = col};
			const char *msg = strstr(cause, ": ");

			schema_error(&s, &at, "", "%s", msg ? msg + 2 : cause);
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
	name = schema_str(&s, root, "name", "", true, 0);
	if (name != NULL && !schema_is_slug(name, 63)) {
		schema_error(&s, ynode_get(root, "name"), "name",
			     "invalid name '%s' (want [a-z0-9][a-z0-9-]*, at "
			     "most 63 characters)",
			     name);
		name = NULL;
	}
	dn = schema_str(&s, root, "display_name", "", false, 64);
	desc = schema_str(&s, root, "description", "", false, 1024);
	t = json_pack("{s:s, s:s, s:s}", "name", name ? name : "",
		      "display_name", dn ? dn : (name ? name : ""),
		      "description", desc ? desc : "");
	json_object_set_new(t, "workspace",
			    parse_workspace(&s, ynode_get(root, "workspace")));
	json_object_set_new(
		t, "parameters",
		parse_parameters(&s, ynode_get(root, "parameters")));
	json_object_set_new(t, "presets",
			    parse_presets(&s, ynode_get(root, "presets"),
					  json_object_get(t, "parameters")));
	json_object_set_new(t, "apps", parse_apps(&s, ynode_get(root, "apps")));
	agent = parse_agent(&s, ynode_get(root, "agent"));
	json_object_set_new(t, "agent", agent ? agent : json_null());
	ai = ynode_get(root, "ai_task");
	task = parse_ai_task(&s, ai, json_object_get(t, "apps"));
	json_object_set_new(t, "ai_task", task ? task : json_null());
	if (ai != NULL && ynode_get(root, "agent") == NULL)
		schema_error(&s, key_node(root, "ai_task"), "agent",
			     "ai_task needs an agent block with a module");
	json_object_set_new(t, "identity",
			    parse_identity(&s, ynode_get(root, "identity")));
	{
		json_t *gh = parse_github(&s, ynode_get(root, "github"));

		json_object_set_new(t, "github", gh ? gh : json_null());
		json_object_set_new(
			t, "env_secrets",
			parse_env_secrets(
				&s, ynode_get(root, "env_secrets"),
				json_object_get(json_object_get(t, "workspace"),
						"env"),
				gh != NULL));
	}
	detect_task(t);
	ynode_free(root);
	return schema_finish(&s, t, errors);
}

void
template_format_size(int64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};

	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		int64_t u = 1LL << (10 * (4 - i));

		if (bytes >= u && bytes % u == 0) {
			snprintf(buf, size, "%lld%s", (long long)(bytes / u),
				 units[i]);
			return;
		}
	}
	snprintf(buf, size, "%lld bytes", (long long)bytes);
}

/* Text of a limit's value for a message: sizes in IEC units, cpu in
 * cores. */
static void
max_text(const char *field, int64_t v, char *buf, size_t size)
{
	if (strcmp(field, "cpu_millicores") == 0)
		snprintf(buf, size, "%lld.%03lld cores", (long long)(v / 1000),
			 (long long)(v % 1000));
	else if (strcmp(field, "pids") == 0)
		snprintf(buf, size, "%lld", (long long)v);
	else
		template_format_size(v, buf, size);
}

json_t *
template_parse_max(const char *yaml, size_t len, const struct template_max *max,
		   bool clamp, json_t **errors, json_t **warnings)
{
	static const struct {
		const char *key, *field, *flag;
		size_t off;
	} lims[] = {
		{"memory", "memory_bytes", "--max-memory",
		 offsetof(struct template_max, memory_bytes)},
		{"pids", "pids", "--max-pids",
		 offsetof(struct template_max, pids)},
		{"cpu", "cpu_millicores", "--max-cpus",
		 offsetof(struct template_max, cpu_millicores)},
		{"disk", "disk_bytes", "--max-disk",
		 offsetof(struct template_max, disk_bytes)},
	};
	json_t *t = template_parse(yaml, len, errors), *lj;
	const struct ynode *ln;
	struct ynode *root;
	struct schema s;
	char *cause = NULL;

	*warnings = NULL;
	if (t == NULL || max == NULL)
		return t;
	/* valid YAML: load it again for the line and column of each key */
	root = yaml_load(yaml, len, &cause);
	if (root == NULL) {
		free(cause);
		return t;
	}
	schema_init(&s);
	ln = ynode_get(ynode_get(root, "workspace"), "limits");
	lj = json_object_get(json_object_get(t, "workspace"), "limits");
	for (size_t i = 0; i < ARRAY_SIZE(lims); i++) {
		int64_t m = *(const int64_t *)(const void *)((const char *)max +
							     lims[i].off);
		json_t *v = json_object_get(lj, lims[i].field);
		const struct ynode *at = ynode_get(ln, lims[i].key);
		char have[32], most[32], *loc;

		if (m <= 0 || !json_is_integer(v) || json_integer_value(v) <= m)
			continue;
		max_text(lims[i].field, json_integer_value(v), have,
			 sizeof have);
		max_text(lims[i].field, m, most, sizeof most);
		loc = schema_loc("workspace.limits", lims[i].key);
		if (!clamp) {
			schema_error(&s, at, loc,
				     "%s is above this server's maximum of %s "
				     "(only an admin raises it: %s)",
				     have, most, lims[i].flag);
		} else {
			char *msg = xasprintf("%s is above this server's "
					      "maximum; clamped to %s (%s)",
					      have, most, lims[i].flag);

			if (*warnings == NULL)
				*warnings = json_array();
			json_array_append_new(
				*warnings,
				json_pack("{s:s, s:s, s:i, s:i}", "message",
					  msg, "location", loc, "line",
					  at ? at->line : 1, "column",
					  at ? at->column : 1));
			free(msg);
			json_object_set_new(lj, lims[i].field, json_integer(m));
		}
		free(loc);
	}
	ynode_free(root);
	return schema_finish(&s, t, errors);
}

void
template_preset_id(const char *version_id, const char *name, char out[37])
{
	static const char domain[] = "taskbox-preset";
	crypto_hash_sha256_state st;
	unsigned char md[crypto_hash_sha256_BYTES];
	size_t o = 0;

	/* "taskbox-preset" NUL version_id NUL name */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)domain,
				  sizeof domain);
	crypto_hash_sha256_update(&st, (const unsigned char *)version_id,
				  strlen(version_id) + 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)name,
				  strlen(name));
	crypto_hash_sha256_final(&st, md);
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x80); /* version 8 */
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80); /* variant 10 */
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		snprintf(out + o, 3, "%02x", md[i]);
		o += 2;
	}
	out[o] = '\0';
}

const json_t *
template_preset_find(const json_t *spec, const char *version_id, const char *id,
		     const char *name)
{
	const json_t *p;
	size_t i;

	json_array_foreach(json_object_get(spec, "presets"), i, p)
	{
		const char *pname =
			json_string_value(json_object_get(p, "name"));
		char pid[37];

		if (pname == NULL)
			continue;
		if (name != NULL && strcmp(pname, name) == 0)
			return p;
		if (id == NULL)
			continue;
		template_preset_id(version_id, pname, pid);
		if (strcasecmp(pid, id) == 0)
			return p;
	}
	return NULL;
}

json_t *
template_presets_json(const json_t *spec, const char *version_id)
{
	json_t *out = json_array();
	const json_t *p;
	size_t i;

	json_array_foreach(json_object_get(spec, "presets"), i, p)
	{
		const char *name =
			json_string_value(json_object_get(p, "name"));
		char id[37];

		if (name == NULL)
			continue;
		template_preset_id(version_id, name, id);
		json_array_append_new(
			out,
			json_pack("{s:s, s:s, s:O, s:b, s:O}", "id", id, "name",
				  name, "description",
				  json_object_get(p, "description"), "default",
				  json_is_true(json_object_get(p, "default")),
				  "parameters",
				  json_object_get(p, "parameters")));
	}
	return out;
}
