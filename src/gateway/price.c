/*
 * price.c: the built-in price table and the cost of a response.
 *
 * Data model: a static table of (family, model-name prefix, price). A
 * family is one vendor's models (Anthropic's Claude, OpenAI's GPT and o
 * series, Google's Gemini); a provider type serves one or more families
 * (Bedrock and Vertex resell Claude at Anthropic's list prices, Vertex
 * Gemini at Google's; an openai-compatible proxy such as LiteLLM may
 * serve any). A lookup takes the longest prefix of the model key among
 * the type's families. Figures: the vendors' published list prices as
 * of 2026, in USD per million tokens (standard tier, short contexts;
 * Anthropic's cache write is the 5-minute one; OpenAI and Google do not
 * charge cache writes apart: they cost the input price). They change:
 * an admin overrides any of them (PUT /api/v2/prices).
 */
#include "common.h"

#include <ctype.h>
#include <math.h>

#include "core/text.h"
#include "gateway/price.h"
#include "gateway/usage.h"

enum price_family {
	FAM_ANTHROPIC = 1 << 0,
	FAM_OPENAI = 1 << 1,
	FAM_GEMINI = 1 << 2,
};

/* USD per million tokens as micro-USD per million */
#define USD(x) ((int64_t)((x)*1000000.0 + 0.5))

static const struct price_row {
	unsigned family;
	const char *prefix;
	struct price p;
} price_rows[] = {
	/* Anthropic: input, output, cache read, cache write (5 min) */
	{FAM_ANTHROPIC,
	 "claude-opus-4-5",
	 {USD(5), USD(25), USD(0.5), USD(6.25)}},
	{FAM_ANTHROPIC,
	 "claude-opus-4",
	 {USD(15), USD(75), USD(1.5), USD(18.75)}},
	{FAM_ANTHROPIC,
	 "claude-sonnet-4",
	 {USD(3), USD(15), USD(0.3), USD(3.75)}},
	{FAM_ANTHROPIC,
	 "claude-haiku-4",
	 {USD(1), USD(5), USD(0.1), USD(1.25)}},
	{FAM_ANTHROPIC,
	 "claude-3-7-sonnet",
	 {USD(3), USD(15), USD(0.3), USD(3.75)}},
	{FAM_ANTHROPIC,
	 "claude-3-5-sonnet",
	 {USD(3), USD(15), USD(0.3), USD(3.75)}},
	{FAM_ANTHROPIC,
	 "claude-3-5-haiku",
	 {USD(0.8), USD(4), USD(0.08), USD(1)}},
	/* OpenAI: cached input is the cache read; no cache write charge */
	{FAM_OPENAI,
	 "gpt-5-nano",
	 {USD(0.05), USD(0.4), USD(0.005), USD(0.05)}},
	{FAM_OPENAI, "gpt-5-mini", {USD(0.25), USD(2), USD(0.025), USD(0.25)}},
	{FAM_OPENAI, "gpt-5", {USD(1.25), USD(10), USD(0.125), USD(1.25)}},
	{FAM_OPENAI,
	 "gpt-4.1-nano",
	 {USD(0.1), USD(0.4), USD(0.025), USD(0.1)}},
	{FAM_OPENAI, "gpt-4.1-mini", {USD(0.4), USD(1.6), USD(0.1), USD(0.4)}},
	{FAM_OPENAI, "gpt-4.1", {USD(2), USD(8), USD(0.5), USD(2)}},
	{FAM_OPENAI,
	 "gpt-4o-mini",
	 {USD(0.15), USD(0.6), USD(0.075), USD(0.15)}},
	{FAM_OPENAI, "gpt-4o", {USD(2.5), USD(10), USD(1.25), USD(2.5)}},
	{FAM_OPENAI, "o4-mini", {USD(1.1), USD(4.4), USD(0.275), USD(1.1)}},
	{FAM_OPENAI, "o3-mini", {USD(1.1), USD(4.4), USD(0.55), USD(1.1)}},
	{FAM_OPENAI, "o3", {USD(2), USD(8), USD(0.5), USD(2)}},
	/* Google: prompts up to 200k tokens; context cache reads */
	{FAM_GEMINI,
	 "gemini-2.5-pro",
	 {USD(1.25), USD(10), USD(0.125), USD(1.25)}},
	{FAM_GEMINI,
	 "gemini-2.5-flash-lite",
	 {USD(0.1), USD(0.4), USD(0.01), USD(0.1)}},
	{FAM_GEMINI,
	 "gemini-2.5-flash",
	 {USD(0.3), USD(2.5), USD(0.03), USD(0.3)}},
	{FAM_GEMINI,
	 "gemini-2.0-flash",
	 {USD(0.1), USD(0.4), USD(0.025), USD(0.1)}},
};

/* The provider types and the families each serves. */
static const struct {
	const char *name;
	unsigned families;
} price_types[] = {
	{"anthropic", FAM_ANTHROPIC},
	{"openai", FAM_OPENAI},
	{"gemini", FAM_GEMINI},
	{"bedrock", FAM_ANTHROPIC},
	{"vertex", FAM_ANTHROPIC | FAM_GEMINI},
	{"openai-compatible", FAM_ANTHROPIC | FAM_OPENAI | FAM_GEMINI},
	{"ollama", 0},
};

const char *
price_type_name(size_t i)
{
	return i < ARRAY_SIZE(price_types) ? price_types[i].name : NULL;
}

bool
price_type_known(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(price_types); i++)
		if (strcmp(s, price_types[i].name) == 0)
			return true;
	return false;
}

/* The families type serves (0: unknown type or none). */
static unsigned
price_type_families(const char *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(price_types); i++)
		if (strcmp(type, price_types[i].name) == 0)
			return price_types[i].families;
	return 0;
}

void
price_model_key(const char *model, char out[PRICE_MODEL_MAX + 1])
{
	static const char *const regions[] = {"us.",	 "eu.", "apac.",
					      "global.", "jp.", "au.",
					      "us-gov.", "ca."};
	const char *s = strrchr(model, '/');
	size_t n = 0;

	s = s ? s + 1 : model;
	for (size_t i = 0; i < ARRAY_SIZE(regions); i++) {
		size_t len = strlen(regions[i]);

		if (strncasecmp(s, regions[i], len) == 0 &&
		    strncasecmp(s + len, "anthropic.", 10) == 0) {
			s += len;
			break;
		}
	}
	if (strncasecmp(s, "anthropic.", 10) == 0)
		s += 10;
	for (; s[n] != '\0' && n < PRICE_MODEL_MAX; n++)
		out[n] = (char)tolower((unsigned char)s[n]);
	out[n] = '\0';
}

bool
price_builtin(const char *type, const char *model, struct price *out)
{
	unsigned fam = price_type_families(type);
	char key[PRICE_MODEL_MAX + 1];
	const struct price_row *best = NULL;

	price_model_key(model, key);
	for (size_t i = 0; i < ARRAY_SIZE(price_rows); i++) {
		const struct price_row *r = &price_rows[i];

		if (!(r->family & fam) || !str_starts_with(key, r->prefix))
			continue;
		if (best == NULL || strlen(r->prefix) > strlen(best->prefix))
			best = r;
	}
	if (best == NULL)
		return false;
	*out = best->p;
	return true;
}

bool
price_builtin_row(size_t i, const char **prefix, const char **types,
		  struct price *out)
{
	static const char *const fam_types[] = {
		[FAM_ANTHROPIC] = "anthropic,bedrock,vertex,openai-compatible",
		[FAM_OPENAI] = "openai,openai-compatible",
		[FAM_GEMINI] = "gemini,vertex,openai-compatible",
	};

	if (i >= ARRAY_SIZE(price_rows))
		return false;
	*prefix = price_rows[i].prefix;
	*types = fam_types[price_rows[i].family];
	*out = price_rows[i].p;
	return true;
}

int64_t
price_cost_nusd(const struct price *p, const struct usage *u)
{
	/* micro-USD per million tokens is nano-USD per thousand tokens */
	double n = ((double)u->input_tokens * (double)p->input +
		    (double)u->output_tokens * (double)p->output +
		    (double)u->cache_read_input_tokens * (double)p->cache_read +
		    (double)u->cache_creation_input_tokens *
			    (double)p->cache_write) /
		   1000.0;

	return n >= 9.2e18 ? INT64_MAX : (int64_t)llround(n);
}
