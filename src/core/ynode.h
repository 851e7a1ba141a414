/*
 * ynode.h: load one YAML document into a small tree of maps, sequences and
 * scalars, with the 1-based line and column of every node.
 *
 * The loader is strict on purpose: no anchors or aliases (no "billion
 * laughs"), one document, scalar and unique map keys, bounded depth, node
 * count and input size. Scalars stay text; the caller decides their type.
 */
#ifndef TASKBOX_YNODE_H
#define TASKBOX_YNODE_H

#include <jansson.h>

#define YAML_MAX_INPUT (1024 * 1024)
#define YAML_MAX_DEPTH 32
#define YAML_MAX_NODES 100000

enum ynode_kind { YN_MAP, YN_SEQ, YN_SCALAR };

struct ynode {
	enum ynode_kind kind;
	int line, column;     /* 1-based start of the node */
	char *scalar;	      /* YN_SCALAR: the text, never NULL */
	bool quoted;	      /* YN_SCALAR: quoted, block or !!str tagged */
	size_t n;	      /* map: pairs; seq: items */
	struct ynode **keys;  /* YN_MAP: scalar key nodes, n of them */
	struct ynode **items; /* YN_MAP: values; YN_SEQ: items */
};

/*
 * Parse text (len bytes, no NUL needed) into a new tree; NULL with *cause
 * set to a new string ("line L, column C: ...") on any error.
 */
struct ynode *yaml_load(const char *text, size_t len, char **cause);

/* The value of key in map, or NULL (also when map is not a map). */
struct ynode *ynode_get(const struct ynode *map, const char *key);

/* Whether n is a plain null scalar: empty, "~" or "null". */
bool ynode_is_null(const struct ynode *n);

/* Free a tree; NULL is fine. */
void ynode_free(struct ynode *n);

/* The tree as JSON, every scalar a string; returns a new reference. */
json_t *ynode_to_json(const struct ynode *n);

/*
 * The tree as JSON with plain scalars typed by the YAML 1.2 core schema
 * (null, true/false, integers, floats); quoted scalars stay strings.
 */
json_t *ynode_to_json_typed(const struct ynode *n);

#endif
