/*
 * price.h: what LLM tokens cost, and the built-in price table.
 *
 * A price is four integers in micro-USD per million tokens (input,
 * output, cache reads, cache writes), so "USD 3 per million input
 * tokens" is 3000000. The built-in table holds the vendors' list prices
 * as of 2026 per provider type and model-name prefix; an admin's
 * overrides (gateway/account.c, PUT /api/v2/prices) come first. A model
 * neither knows costs nothing and is reported as not priced.
 */
#ifndef TASKBOX_GATEWAY_PRICE_H
#define TASKBOX_GATEWAY_PRICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct usage;

/* The highest price accepted: USD 100000 per million tokens. */
#define PRICE_MICRO_MAX 100000000000LL
#define PRICE_MODEL_MAX 128

struct price {
	int64_t input, output, cache_read, cache_write; /* micro-USD / M */
};

/* The provider types, as provider.h names them, in a fixed order; NULL
 * past the last. */
const char *price_type_name(size_t i);
/* Is s one of the provider types? */
bool price_type_known(const char *s);

/*
 * The part of a model name prices match on (into out, at most
 * PRICE_MODEL_MAX bytes, lower case): past a vendor or path prefix
 * ("models/", "anthropic/", ".../models/"), a Bedrock region and vendor
 * ("us.anthropic."), so that every route to one model matches one row.
 */
void price_model_key(const char *model, char out[PRICE_MODEL_MAX + 1]);

/* Does prefix match key up to a boundary of the name: key's end or one
 * of - @ : _ / right after it (claude-opus-4 matches claude-opus-4-1 and
 * claude-opus-4@2025, gpt-5 not gpt-5.1)? */
bool price_prefix_matches(const char *key, const char *prefix);

/*
 * The built-in price of model (any spelling price_model_key reads) for
 * provider type: the longest matching prefix of the type's families
 * (anthropic for anthropic, bedrock, vertex; openai for openai; gemini
 * for gemini and vertex; every family for openai-compatible; none for
 * ollama). true and *out, or false.
 */
bool price_builtin(const char *type, const char *model, struct price *out);

/* The built-in rows one by one (for GET /api/v2/prices): false past the
 * last; *types a comma-separated list of the provider types it serves. */
bool price_builtin_row(size_t i, const char **prefix, const char **types,
		       struct price *out);

/* What u costs at p, in nano-USD (rounded). */
int64_t price_cost_nusd(const struct price *p, const struct usage *u);

#endif
