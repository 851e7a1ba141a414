/*
 * schema.c: error collection and typed getters for the YAML validators.
 *
 * Getters never stop at the first problem: they record an error with the
 * offending node's position and return "absent", so callers go on and
 * report everything else too.
 */
#include "common.h"

#include "server/schema.h"

void
schema_init(struct schema *s)
{
	s->errors = json_array();
	s->admin_only = json_array();
}

/* Position of an error object, for sorting. */
static long
error_pos(const json_t *e)
{
	return (long)json_integer_value(json_object_get(e, "line")) * 100000 +
	       (long)json_integer_value(json_object_get(e, "column"));
}

json_t *
schema_finish(struct schema *s, json_t *result, json_t **errors)
{
	size_t i, j, n = json_array_size(s->errors);
	json_t *sorted;

	if (n == 0) {
		json_decref(s->errors);
		s->errors = NULL;
		*errors = NULL;
		if (result != NULL && json_array_size(s->admin_only) > 0)
			json_object_set(result, "admin_only", s->admin_only);
		json_decref(s->admin_only);
		s->admin_only = NULL;
		return result;
	}
	json_decref(s->admin_only);
	s->admin_only = NULL;
	/* Stable insertion sort by position: errors come in walk order. */
	sorted = json_array();
	for (i = 0; i < n; i++) {
		json_t *e = json_array_get(s->errors, i);

		for (j = json_array_size(sorted); j > 0; j--)
			if (error_pos(json_array_get(sorted, j - 1)) <=
			    error_pos(e))
				break;
		json_array_insert(sorted, j, e);
	}
	json_decref(s->errors);
	s->errors = NULL;
	json_decref(result);
	*errors = sorted;
	return NULL;
}

/* Append {message (fmt, ap), location, line, column} to list. */
static void PRINTFLIKE(4, 0)
	schema_record(json_t *list, const struct ynode *at, const char *loc,
		      const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);

	json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:i}", "message",
					      msg, "location", loc ? loc : "",
					      "line", at ? at->line : 1,
					      "column", at ? at->column : 1));
	free(msg);
}

void
schema_error(struct schema *s, const struct ynode *at, const char *loc,
	     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	schema_record(s->errors, at, loc, fmt, ap);
	va_end(ap);
}

void
schema_admin_only(struct schema *s, const struct ynode *at, const char *loc,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	schema_record(s->admin_only, at, loc, fmt, ap);
	va_end(ap);
}

char *
schema_loc(const char *parent, const char *key)
{
	if (parent == NULL || *parent == '\0')
		return xstrdup(key);
	return xasprintf("%s.%s", parent, key);
}

char *
schema_loc_index(const char *parent, size_t i)
{
	return xasprintf("%s[%zu]", parent, i);
}

/* Levenshtein distance of two short strings, capped at 3. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[65], prev, tmp;

	if (la > 64 || lb > 64)
		return 3;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1),
				     prev + (a[i - 1] != b[j - 1]));
			prev = tmp;
		}
	}
	return MIN(row[lb], (size_t)3);
}

bool
schema_map(struct schema *s, const struct ynode *n, const char *loc,
	   const char *const *allowed)
{
	size_t i, k;

	if (n == NULL || n->kind != YN_MAP) {
		schema_error(s, n, loc, "must be a map");
		return false;
	}
	for (i = 0; i < n->n; i++) {
		const char *key = n->keys[i]->scalar;
		const char *hint = NULL;
		char *kloc;
		bool ok = false;

		for (k = 0; allowed[k] != NULL && !ok; k++)
			ok = strcmp(key, allowed[k]) == 0;
		if (ok)
			continue;
		for (k = 0; allowed[k] != NULL && hint == NULL; k++)
			if (strcasecmp(key, allowed[k]) == 0 ||
			    (strlen(allowed[k]) > 3 &&
			     edit_distance(key, allowed[k]) <= 2))
				hint = allowed[k];
		kloc = schema_loc(loc, key);
		if (hint != NULL)
			schema_error(s, n->keys[i], kloc,
				     "unknown key '%s' (did you mean '%s'?)",
				     key, hint);
		else
			schema_error(s, n->keys[i], kloc, "unknown key '%s'",
				     key);
		free(kloc);
	}
	return true;
}

const char *
schema_str(struct schema *s, const struct ynode *map, const char *key,
	   const char *loc, bool required, size_t maxlen)
{
	const struct ynode *v = ynode_get(map, key);
	char *kloc = schema_loc(loc, key);
	const char *r = NULL;

	if (v == NULL || ynode_is_null(v)) {
		if (required)
			schema_error(s, v ? v : map, kloc, "'%s' is required",
				     key);
	} else if (v->kind != YN_SCALAR) {
		schema_error(s, v, kloc, "must be a string");
	} else if (maxlen > 0 && strlen(v->scalar) > maxlen) {
		schema_error(s, v, kloc, "longer than %zu characters", maxlen);
	} else {
		r = v->scalar;
	}
	free(kloc);
	return r;
}

bool
schema_bool(struct schema *s, const struct ynode *map, const char *key,
	    const char *loc, bool dflt)
{
	const struct ynode *v = ynode_get(map, key);
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "on"};
	static const char *const no[] = {"false", "False", "FALSE", "no",
					 "off"};
	char *kloc;
	size_t i;

	if (v == NULL || ynode_is_null(v))
		return dflt;
	if (v->kind == YN_SCALAR && !v->quoted) {
		for (i = 0; i < ARRAY_SIZE(yes); i++) {
			if (strcmp(v->scalar, yes[i]) == 0)
				return true;
			if (strcmp(v->scalar, no[i]) == 0)
				return false;
		}
	}
	kloc = schema_loc(loc, key);
	schema_error(s, v, kloc, "must be true or false");
	free(kloc);
	return dflt;
}

bool
schema_is_slug(const char *s, size_t max)
{
	size_t i;

	if (s[0] == '\0' || s[0] == '-' || strlen(s) > max)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

bool
schema_is_env_name(const char *s)
{
	size_t i;

	if (s[0] == '\0' || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

json_t *
schema_strings(struct schema *s, const struct ynode *n, const char *loc)
{
	json_t *a = json_array();
	size_t i;

	if (n == NULL || ynode_is_null(n))
		return a;
	if (n->kind != YN_SEQ) {
		schema_error(s, n, loc, "must be a list of strings");
		return a;
	}
	for (i = 0; i < n->n; i++) {
		if (n->items[i]->kind != YN_SCALAR) {
			char *iloc = schema_loc_index(loc, i);

			schema_error(s, n->items[i], iloc, "must be a string");
			free(iloc);
			continue;
		}
		json_array_append_new(a, json_string(n->items[i]->scalar));
	}
	return a;
}

json_t *
schema_env(struct schema *s, const struct ynode *n, const char *loc)
{
	json_t *env = json_object();
	size_t i;

	if (n == NULL || ynode_is_null(n))
		return env;
	if (n->kind != YN_MAP) {
		schema_error(s, n, loc, "must be a map of NAME: value");
		return env;
	}
	for (i = 0; i < n->n; i++) {
		const char *name = n->keys[i]->scalar;
		char *kloc = schema_loc(loc, name);

		if (!schema_is_env_name(name))
			schema_error(s, n->keys[i], kloc,
				     "invalid variable name '%s' (want "
				     "[A-Za-z_][A-Za-z0-9_]*)",
				     name);
		else if (n->items[i]->kind != YN_SCALAR)
			schema_error(s, n->items[i], kloc,
				     "value must be a string");
		else
			json_object_set_new(
				env, name,
				json_string(ynode_is_null(n->items[i])
						    ? ""
						    : n->items[i]->scalar));
		free(kloc);
	}
	return env;
}
