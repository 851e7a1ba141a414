/*
 * schema.h: helpers shared by the template and module validators: error
 * collection with line, column and a dotted location, and typed getters
 * over ynode maps that record an error instead of failing.
 *
 * Every error is {"message", "location", "line", "column"}; validators
 * collect all of them, so a user fixes a file in one round.
 */
#ifndef TASKBOX_SCHEMA_H
#define TASKBOX_SCHEMA_H

#include <jansson.h>

#include "core/ynode.h"

struct schema {
	json_t *errors;	    /* array, owned */
	json_t *admin_only; /* what only an admin may write: same shape */
};

/* Start collecting. */
void schema_init(struct schema *s);

/*
 * Finish: NULL and *errors = the sorted error array when there were errors
 * (result is then freed), else result and *errors = NULL. Anything
 * recorded with schema_admin_only is left in result's "admin_only" array.
 */
json_t *schema_finish(struct schema *s, json_t *result, json_t **errors);

/* Record an error at node at (or line 1 column 1 when NULL). */
void schema_error(struct schema *s, const struct ynode *at, const char *loc,
		  const char *fmt, ...) PRINTFLIKE(4, 5);

/* Record that node at holds what only an admin may write (message: why);
 * not an error for an admin, one for anyone else. */
void schema_admin_only(struct schema *s, const struct ynode *at,
		       const char *loc, const char *fmt, ...) PRINTFLIKE(4, 5);

/* A new "parent.key" (or "key" at the root). */
char *schema_loc(const char *parent, const char *key);

/* A new "parent[i]". */
char *schema_loc_index(const char *parent, size_t i);

/*
 * Check that n is a map whose keys are all in allowed (NULL-terminated);
 * unknown keys are errors (with a suggestion when one is a typo away).
 * Returns false when n is not a map.
 */
bool schema_map(struct schema *s, const struct ynode *n, const char *loc,
		const char *const *allowed);

/*
 * The scalar text of map[key]; NULL when absent, null or not a scalar
 * (an error unless absent/null and optional). maxlen 0 means no limit.
 */
const char *schema_str(struct schema *s, const struct ynode *map,
		       const char *key, const char *loc, bool required,
		       size_t maxlen);

/* map[key] as a boolean (true/false, yes/no); dflt when absent. */
bool schema_bool(struct schema *s, const struct ynode *map, const char *key,
		 const char *loc, bool dflt);

/* Whether s matches [a-z0-9][a-z0-9-]* of at most max characters. */
bool schema_is_slug(const char *s, size_t max);

/* Whether s is an environment variable name [A-Za-z_][A-Za-z0-9_]*. */
bool schema_is_env_name(const char *s);

/* A list of scalars as a JSON array of strings (new reference). */
json_t *schema_strings(struct schema *s, const struct ynode *n,
		       const char *loc);

/* A map of environment variables {NAME: "value"} (new reference). */
json_t *schema_env(struct schema *s, const struct ynode *n, const char *loc);

#endif
