/*
 * ynode.c: libyaml's event parser folded into a ynode tree.
 *
 * Data model: a stack of open containers (at most YAML_MAX_DEPTH). A
 * finished node is attached to the container on top: for a map it is a
 * key when the map has as many keys as values, else the value of the last
 * key. Duplicate keys are found when a map closes, by sorting its keys, so
 * a map with many keys costs n log n, not n squared.
 */
#include "common.h"

#include <yaml.h>

#include "core/ynode.h"

struct loader {
	yaml_parser_t parser;
	struct ynode *stack[YAML_MAX_DEPTH + 1];
	size_t nkeys[YAML_MAX_DEPTH + 1]; /* keys seen per open map */
	int depth;
	size_t nodes;
	struct ynode *root;
	char *cause;
};

/* Set the first error as "line L, column C: message". */
static PRINTFLIKE(4, 5) void load_error(struct loader *l, int line, int column,
					const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (l->cause != NULL)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	l->cause = xasprintf("line %d, column %d: %s", line, column, msg);
	free(msg);
}

/* Append p to a node array of n entries, growing it by doubling. */
static struct ynode **
array_push(struct ynode **a, size_t n, struct ynode *p)
{
	if (n == 0 || (n & (n - 1)) == 0)
		a = xreallocarray(a, n < 4 ? 4 : n * 2, sizeof(*a));
	a[n] = p;
	return a;
}

/* A new node at the event's start mark. */
static struct ynode *
node_new(struct loader *l, enum ynode_kind kind, const yaml_event_t *ev)
{
	struct ynode *n;

	if (++l->nodes > YAML_MAX_NODES) {
		load_error(l, (int)ev->start_mark.line + 1,
			   (int)ev->start_mark.column + 1, "more than %d nodes",
			   YAML_MAX_NODES);
		return NULL;
	}
	n = xcalloc(1, sizeof(*n));
	n->kind = kind;
	n->line = (int)ev->start_mark.line + 1;
	n->column = (int)ev->start_mark.column + 1;
	return n;
}

/* Whether the container on top expects a key next. */
static bool
expects_key(const struct loader *l)
{
	const struct ynode *top;

	if (l->depth == 0)
		return false;
	top = l->stack[l->depth - 1];
	return top->kind == YN_MAP && l->nkeys[l->depth - 1] == top->n;
}

/* Attach a finished node to the open container (or make it the root). */
static void
attach(struct loader *l, struct ynode *n)
{
	struct ynode *top;

	if (l->depth == 0) {
		l->root = n;
		return;
	}
	top = l->stack[l->depth - 1];
	if (top->kind == YN_SEQ) {
		top->items = array_push(top->items, top->n, n);
		top->n++;
	} else if (expects_key(l)) {
		top->keys = array_push(top->keys, top->n, n);
		l->nkeys[l->depth - 1]++;
	} else {
		top->items = array_push(top->items, top->n, n);
		top->n++;
	}
}

/* Order keys by text, then by position. */
static int
key_cmp(const void *a, const void *b)
{
	const struct ynode *x = *(struct ynode *const *)a;
	const struct ynode *y = *(struct ynode *const *)b;
	int c = strcmp(x->scalar, y->scalar);

	if (c != 0)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->column < y->column ? -1 : x->column > y->column;
}

/* Report the first duplicate key of a closed map; false if one exists. */
static bool
check_duplicates(struct loader *l, const struct ynode *map)
{
	struct ynode **sorted, *dup = NULL;
	size_t i;

	if (map->n < 2)
		return true;
	sorted = xreallocarray(NULL, map->n, sizeof(*sorted));
	memcpy(sorted, map->keys, map->n * sizeof(*sorted));
	qsort(sorted, map->n, sizeof(*sorted), key_cmp);
	for (i = 1; i < map->n; i++) {
		if (strcmp(sorted[i - 1]->scalar, sorted[i]->scalar) != 0)
			continue;
		if (dup == NULL || sorted[i]->line < dup->line ||
		    (sorted[i]->line == dup->line &&
		     sorted[i]->column < dup->column))
			dup = sorted[i];
	}
	free(sorted);
	if (dup != NULL)
		load_error(l, dup->line, dup->column, "duplicate key '%s'",
			   dup->scalar);
	return dup == NULL;
}

/* Reject anchors and tags other than the standard ones. */
static bool
check_props(struct loader *l, const yaml_event_t *ev, const yaml_char_t *anchor,
	    const yaml_char_t *tag)
{
	int line = (int)ev->start_mark.line + 1;
	int col = (int)ev->start_mark.column + 1;

	if (anchor != NULL) {
		load_error(l, line, col, "anchors and aliases are not allowed");
		return false;
	}
	if (tag != NULL && strncmp((const char *)tag, "tag:yaml.org,2002:",
				   strlen("tag:yaml.org,2002:")) != 0) {
		load_error(l, line, col, "unsupported tag '%s'",
			   (const char *)tag);
		return false;
	}
	return true;
}

/* Open a map or sequence. */
static bool
open_container(struct loader *l, const yaml_event_t *ev, enum ynode_kind kind)
{
	struct ynode *n;

	if (expects_key(l)) {
		load_error(l, (int)ev->start_mark.line + 1,
			   (int)ev->start_mark.column + 1,
			   "map keys must be scalars");
		return false;
	}
	if (l->depth >= YAML_MAX_DEPTH) {
		load_error(l, (int)ev->start_mark.line + 1,
			   (int)ev->start_mark.column + 1,
			   "nested deeper than %d levels", YAML_MAX_DEPTH);
		return false;
	}
	n = node_new(l, kind, ev);
	if (n == NULL)
		return false;
	attach(l, n);
	l->stack[l->depth] = n;
	l->nkeys[l->depth] = 0;
	l->depth++;
	return true;
}

/* Handle one parser event; false stops the load. */
static bool
on_event(struct loader *l, const yaml_event_t *ev, int *docs)
{
	struct ynode *n;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1) {
			load_error(l, (int)ev->start_mark.line + 1,
				   (int)ev->start_mark.column + 1,
				   "more than one document");
			return false;
		}
		return true;
	case YAML_ALIAS_EVENT:
		load_error(l, (int)ev->start_mark.line + 1,
			   (int)ev->start_mark.column + 1,
			   "anchors and aliases are not allowed");
		return false;
	case YAML_SCALAR_EVENT:
		if (!check_props(l, ev, ev->data.scalar.anchor,
				 ev->data.scalar.tag))
			return false;
		n = node_new(l, YN_SCALAR, ev);
		if (n == NULL)
			return false;
		n->scalar = xstrndup((const char *)ev->data.scalar.value,
				     ev->data.scalar.length);
		n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
			    (ev->data.scalar.tag != NULL &&
			     strcmp((const char *)ev->data.scalar.tag,
				    YAML_STR_TAG) == 0);
		if (strlen(n->scalar) != ev->data.scalar.length) {
			attach(l, n);
			load_error(l, n->line, n->column,
				   "NUL character in a scalar");
			return false;
		}
		attach(l, n);
		return true;
	case YAML_MAPPING_START_EVENT:
		return check_props(l, ev, ev->data.mapping_start.anchor,
				   ev->data.mapping_start.tag) &&
		       open_container(l, ev, YN_MAP);
	case YAML_SEQUENCE_START_EVENT:
		return check_props(l, ev, ev->data.sequence_start.anchor,
				   ev->data.sequence_start.tag) &&
		       open_container(l, ev, YN_SEQ);
	case YAML_MAPPING_END_EVENT:
		BUG_ON(l->depth == 0);
		l->depth--;
		return check_duplicates(l, l->stack[l->depth]);
	case YAML_SEQUENCE_END_EVENT:
		BUG_ON(l->depth == 0);
		l->depth--;
		return true;
	default:
		return true;
	}
}

struct ynode *
yaml_load(const char *text, size_t len, char **cause)
{
	struct loader l = {0};
	yaml_event_t ev;
	int docs = 0;
	bool done = false;

	*cause = NULL;
	if (len > YAML_MAX_INPUT) {
		*cause = xasprintf("document larger than %d bytes",
				   YAML_MAX_INPUT);
		return NULL;
	}
	if (!yaml_parser_initialize(&l.parser))
		fatal("yaml: out of memory");
	yaml_parser_set_input_string(&l.parser, (const unsigned char *)text,
				     len);
	while (!done) {
		if (!yaml_parser_parse(&l.parser, &ev)) {
			load_error(&l, (int)l.parser.problem_mark.line + 1,
				   (int)l.parser.problem_mark.column + 1,
				   "%s%s%s",
				   l.parser.problem ? l.parser.problem
						    : "syntax error",
				   l.parser.context ? " " : "",
				   l.parser.context ? l.parser.context : "");
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		if (!on_event(&l, &ev, &docs))
			done = true;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&l.parser);
	if (l.cause == NULL && l.root == NULL)
		l.cause = xstrdup("line 1, column 1: empty document");
	if (l.cause != NULL) {
		/* The root holds every node attached so far, except the
		 * last key of an open map whose value never came. */
		for (int d = 0; d < l.depth; d++)
			if (l.stack[d]->kind == YN_MAP &&
			    l.nkeys[d] > l.stack[d]->n)
				ynode_free(l.stack[d]->keys[l.stack[d]->n]);
		ynode_free(l.root);
		*cause = l.cause;
		return NULL;
	}
	return l.root;
}

struct ynode *
ynode_get(const struct ynode *map, const char *key)
{
	size_t i;

	if (map == NULL || map->kind != YN_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (strcmp(map->keys[i]->scalar, key) == 0)
			return map->items[i];
	return NULL;
}

bool
ynode_is_null(const struct ynode *n)
{
	if (n == NULL || n->kind != YN_SCALAR || n->quoted)
		return false;
	return n->scalar[0] == '\0' || strcmp(n->scalar, "~") == 0 ||
	       strcmp(n->scalar, "null") == 0 ||
	       strcmp(n->scalar, "Null") == 0 || strcmp(n->scalar, "NULL") == 0;
}

void
ynode_free(struct ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; n->keys != NULL && i < n->n; i++)
		ynode_free(n->keys[i]);
	for (i = 0; i < n->n; i++)
		ynode_free(n->items[i]);
	free(n->keys);
	free(n->items);
	free(n->scalar);
	free(n);
}

/* A plain scalar typed by the YAML 1.2 core schema. */
static json_t *
scalar_typed(const struct ynode *n)
{
	const char *s = n->scalar;
	char *end;
	long long ll;
	double d;

	if (n->quoted)
		return json_string(s);
	if (ynode_is_null(n))
		return json_null();
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 ||
	    strcmp(s, "TRUE") == 0)
		return json_true();
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 ||
	    strcmp(s, "FALSE") == 0)
		return json_false();
	if ((s[0] >= '0' && s[0] <= '9') ||
	    ((s[0] == '-' || s[0] == '+') && s[1] >= '0' && s[1] <= '9')) {
		errno = 0;
		ll = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0')
			return json_integer(ll);
		errno = 0;
		d = strtod(s, &end);
		if (errno == 0 && *end == '\0' && strchr(s, 'x') == NULL &&
		    strchr(s, 'X') == NULL)
			return json_real(d);
	}
	return json_string(s);
}

/* Shared walk of ynode_to_json and ynode_to_json_typed. */
static json_t *
to_json(const struct ynode *n, bool typed)
{
	json_t *j;
	size_t i;

	switch (n->kind) {
	case YN_SCALAR:
		return typed ? scalar_typed(n) : json_string(n->scalar);
	case YN_SEQ:
		j = json_array();
		for (i = 0; i < n->n; i++)
			json_array_append_new(j, to_json(n->items[i], typed));
		return j;
	case YN_MAP:
		j = json_object();
		for (i = 0; i < n->n; i++)
			json_object_set_new(j, n->keys[i]->scalar,
					    to_json(n->items[i], typed));
		return j;
	}
	BUG();
}

json_t *
ynode_to_json(const struct ynode *n)
{
	return to_json(n, false);
}

json_t *
ynode_to_json_typed(const struct ynode *n)
{
	return to_json(n, true);
}
