/*
 * provider.h: named LLM providers, admin-managed records (type, URL,
 * region, project, CA and sealed credentials) that the gateway routes and
 * signs for. A record is immutable once made and shared by reference;
 * a change makes a new record with a new generation.
 */
#ifndef TASKBOX_GATEWAY_PROVIDER_H
#define TASKBOX_GATEWAY_PROVIDER_H

#include <stdbool.h>
#include <stdint.h>

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

/* The type's name: "openai-compatible", ... */
const char *provider_type_name(enum provider_type t);
/* Parse a type's name into *out: 0 or -EINVAL. */
int provider_type_parse(const char *s, enum provider_type *out);
/* The named provider from the in-memory cache (never blocks), a new
 * reference; NULL when none. */
struct provider *provider_get(const char *name);
/* Drop a reference (NULL is fine). */
void provider_unref(struct provider *p);

#endif
