/*
 * price.c: the built-in price table and the cost of a response.
 *
 * Data model: a static table of (family, model-name prefix, price). A
 * family is one vendor's models (Anthropic's Claude, OpenAI's GPT and o
 * series, Google's Gemini); a provider type serves one or more families
 * (Bedrock and Vertex resell Claude at Anthropic's list prices, Vertex
 * Gemini at Google's; an openai-compatible proxy such as LiteLLM may
 * serve any). A lookup takes the longest prefix of the model key among
 * the type's families, a prefix matching only up to a boundary of the
 * name (its end, or - @ : _ /: gpt-5 is not gpt-5.1). Figures: the vendors'
 * published list prices as of 2026, in USD per million tokens (standard tier,
 * short contexts; Anthropic's cache write is the 5-minute one; OpenAI and
 * Google do not charge cache writes apart: they cost the input price). They
 * change: an admin overrides any of them (PUT /api/v2/prices).
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

/* clang-format off */
/* USD per million tokens as micro-USD per million */
#define USD(x) ((int64_t)((x) * 1000000.0 + 0.5))
/* input, output, cache read, cache write */
#define P(i, o, r, w) {USD(i), USD(o), USD(r), USD(w)}
#define ANT FAM_ANTHROPIC
#define OAI FAM_OPENAI
#define GEM FAM_GEMINI

static const struct price_row {
	unsigned family;
	const char *prefix;
	struct price p;
} price_rows[] = {
	/* Anthropic: input, output, cache read, cache write (5 min) */
	{ANT, "claude-opus-4-5",       P(5, 25, 0.5, 6.25)},
	{ANT, "claude-opus-4-6",       P(5, 25, 0.5, 6.25)},
	{ANT, "claude-opus-4-7",       P(5, 25, 0.5, 6.25)},
	{ANT, "claude-opus-4",         P(15, 75, 1.5, 18.75)},
	{ANT, "claude-sonnet-4",       P(3, 15, 0.3, 3.75)},
	{ANT, "claude-haiku-4",        P(1, 5, 0.1, 1.25)},
	{ANT, "claude-3-7-sonnet",     P(3, 15, 0.3, 3.75)},
	{ANT, "claude-3-5-sonnet",     P(3, 15, 0.3, 3.75)},
	{ANT, "claude-3-5-haiku",      P(0.8, 4, 0.08, 1)},
	/* OpenAI: cached input is the cache read; no cache write charge */
	{OAI, "gpt-5-nano",            P(0.05, 0.4, 0.005, 0.05)},
	{OAI, "gpt-5-mini",            P(0.25, 2, 0.025, 0.25)},
	{OAI, "gpt-5",                 P(1.25, 10, 0.125, 1.25)},
	{OAI, "gpt-4.1-nano",          P(0.1, 0.4, 0.025, 0.1)},
	{OAI, "gpt-4.1-mini",          P(0.4, 1.6, 0.1, 0.4)},
	{OAI, "gpt-4.1",               P(2, 8, 0.5, 2)},
	{OAI, "gpt-4o-mini",           P(0.15, 0.6, 0.075, 0.15)},
	{OAI, "gpt-4o",                P(2.5, 10, 1.25, 2.5)},
	{OAI, "o4-mini",               P(1.1, 4.4, 0.275, 1.1)},
	{OAI, "o3-mini",               P(1.1, 4.4, 0.55, 1.1)},
	{OAI, "o3",                    P(2, 8, 0.5, 2)},
	/* Google: prompts up to 200k tokens; context cache reads */
	{GEM, "gemini-2.5-pro",        P(1.25, 10, 0.125, 1.25)},
	{GEM, "gemini-2.5-flash-lite", P(0.1, 0.4, 0.01, 0.1)},
	{GEM, "gemini-2.5-flash",      P(0.3, 2.5, 0.03, 0.3)},
	{GEM, "gemini-2.0-flash",      P(0.1, 0.4, 0.025, 0.1)},
	/* clang-format on */
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
price_prefix_matches(const char *key, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(key, prefix, n) == 0 && strchr("-@:_/", key[n]) != NULL;
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

		if (!(r->family & fam) || !price_prefix_matches(key, r->prefix))
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
