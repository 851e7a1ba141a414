/*
 * provider.h: the LLM providers a template's agent talks to through the
 * gateway.
 *
 * A provider is a named, admin-managed record (the providers table): a
 * type, an upstream URL (the type's default unless given), a region and
 * project where the type has them, an optional CA, and credentials that
 * are sealed in the store and never leave the server. The server keeps
 * every provider in memory; provider_get reads that cache and never
 * blocks. Writes through provider_save/provider_delete refresh it at
 * once; a timer reloads it every PROVIDER_RELOAD_MS for the writes of
 * other replicas.
 */
#ifndef TASKBOX_PROVIDER_H
#define TASKBOX_PROVIDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct store;
struct ev_loop;

#define PROVIDER_NAME_MAX  63
#define PROVIDER_COUNT_MAX 256		/* providers a server holds */
#define PROVIDER_URL_MAX   2048		/* a --url's bytes */
#define PROVIDER_KEY_MAX   8192		/* an API key's or AWS value's bytes */
#define PROVIDER_CA_MAX	   (256 * 1024) /* a --ca-file's bytes */
#define PROVIDER_RELOAD_MS 30000
#define PROVIDER_DEFAULT   "default" /* the provider of no agent.provider */

enum provider_type {
	PROVIDER_ANTHROPIC,
	PROVIDER_OPENAI,
	PROVIDER_GEMINI,
	PROVIDER_BEDROCK,
	PROVIDER_VERTEX,
	PROVIDER_OPENAI_COMPATIBLE,
	PROVIDER_OLLAMA
};

struct provider { /* immutable once made; shared by reference */
	unsigned refs;
	char *name;
	enum provider_type type;
	char *url;	/* scheme://host[:port][/base], no trailing '/' */
	bool url_given; /* --url was given (else the type's default) */
	char *region;	/* bedrock, vertex; else NULL */
	char *project;	/* vertex; else NULL */
	char *ca_pem;	/* --ca-file's PEM text; NULL: the system CAs */
	char *key; /* anthropic, openai, gemini, openai-compatible; NULL: none
		    */
	char *aws_access_key_id, *aws_secret_access_key,
		*aws_session_token; /* bedrock */
	char *service_account;	    /* vertex: the key file's JSON text */
	uint64_t generation;	    /* changes whenever the record changes */
};

/* "openai-compatible", ... */
const char *provider_type_name(enum provider_type t);
/* 0 or -EINVAL. */
int provider_type_parse(const char *s, enum provider_type *out);
/* Whether s is a provider name: [a-z0-9][a-z0-9-]{0,62}. */
bool provider_name_valid(const char *s);

/*
 * The named provider from the in-memory cache (never blocks), a new
 * reference; NULL when none.
 */
struct provider *provider_get(const char *name);
/* Drop a reference; the last one wipes the credentials (NULL is fine). */
void provider_unref(struct provider *p);

/* ---- the pure parts (unit-tested) ---- */

/*
 * Make provider name from spec, a JSON object {type, url, region,
 * project, key, aws_access_key_id, aws_secret_access_key,
 * aws_session_token, service_account, ca_pem} (strings; absent, null and
 * "" alike mean not given), after validating every member against the
 * type. Returns a new provider (one reference, generation 0), or NULL
 * with *field (the member at fault, static) and *cause (new; it never
 * quotes a credential).
 */
struct provider *provider_build(const char *name, const json_t *spec,
				const char **field, char **cause);
/*
 * What a client may see of p (new object): name, type, url, url_given,
 * region, project; with creds (admins) also has_ca and has_key,
 * has_aws_access_key_id, ... for each credential that is set. Never a
 * credential's value.
 */
json_t *provider_json(const struct provider *p, bool creds);

/* ---- the cache and the store (server only) ---- */

/*
 * Load every provider from st into the cache and reload it every
 * PROVIDER_RELOAD_MS on loop (loop NULL: no timer). Needs secrets_init.
 * 0, or -errno with a new *cause.
 */
int provider_cache_start(struct store *st, struct ev_loop *loop, char **cause);
/* Stop the timer and drop the cache. */
void provider_cache_stop(void);
/* Read the store again now (after a write). 0 or -EIO. */
int provider_cache_reload(void);

/*
 * Validate spec as provider_build does and store it as name (insert or
 * replace, credentials sealed), then refresh the cache. 0, -EINVAL with
 * *field and *cause, -ENOSPC (PROVIDER_COUNT_MAX reached) or -EIO with
 * *cause.
 */
int provider_save(const char *name, const json_t *spec, const char **field,
		  char **cause);
/* Delete provider name and refresh the cache. 0, -ENOENT or -EIO. */
int provider_delete(const char *name);
/*
 * The stored providers as provider_json objects sorted by name (new
 * array): the store's rows, each the cached provider while its
 * generation is unchanged (no credential opened); NULL on a store error.
 */
json_t *provider_list(bool creds);

#endif
