/*
 * route.c: where an agent's LLM request goes (route.h).
 *
 * Data model: a fixed table of patterns, one per (provider types, method,
 * path) an agent CLI uses: the Anthropic Messages API, OpenAI Responses
 * and Chat Completions, the Gemini API, Bedrock's runtime and control
 * plane (InvokeModel and Converse), and Vertex's Anthropic and Google
 * publishers and its OpenAI-compatible chat completions. A pattern's path is
 * split in segments; a segment is a literal or a variable with an
 * optional literal suffix: {m} the model (reported, URL-decoded, in
 * gw_route.model), {i} an identifier of the same shape (not reported),
 * {p} and {l} the project and location (replaced by the provider's).
 * The agent is untrusted: its target is checked byte by byte first (a
 * path from '/', no "//", no "." or ".." segment even escaped, no
 * controls, spaces, '\', '#', '@' outside the last segment, valid %XX
 * escapes, at most GW_TARGET_MAX bytes), then matched, and the upstream
 * path is rebuilt from the pattern: literals as written, variables
 * decoded, checked and re-encoded. Only the query goes on as the agent
 * wrote it (checked, less any `key=` for Google APIs, whose key the
 * gateway supplies). Bedrock and Vertex targets may carry the `/bedrock`
 * or `/vertex` prefix the modules give their base URLs; it is dropped.
 *
 * gw_route.usage is the format of a successful reply. The gateway refines
 * it by the reply's Content-Type: a Bedrock stream (USAGE_BEDROCK_
 * EVENTSTREAM) answered with anything but application/vnd.amazon.
 * eventstream is a JSON error, read as USAGE_ANTHROPIC; the other formats
 * (USAGE_BEDROCK_CONVERSE too: converse's JSON or converse-stream's
 * eventstream) tell their framings apart by the body's first byte.
 */
#include "common.h"

#include <jansson.h>
#include <strings.h>

#include "buf.h"
#include "core/text.h"
#include "gateway/route.h"

#define T(x)	     (1u << PROVIDER_##x)
#define ANTHROPICISH (T(ANTHROPIC) | T(OPENAI_COMPATIBLE) | T(OLLAMA))
#define OPENAIISH    (T(OPENAI) | T(OPENAI_COMPATIBLE) | T(OLLAMA))
#define GEMINIISH    (T(GEMINI) | T(OPENAI_COMPATIBLE))
#define SEGS_MAX     16

/* One path an agent uses, for the provider types that serve it. */
struct pattern {
	unsigned types; /* 1 << enum provider_type */
	const char *method;
	const char *path; /* '/'-separated segments, see above */
	enum gw_format format;
	enum usage_format usage;
	bool control;	/* Bedrock's control plane, not its runtime */
	const char *up; /* the upstream path, when not path itself */
};

#define VERTEX_ROWS(v)                                                         \
	{T(VERTEX),                                                            \
	 "POST",                                                               \
	 "/" v "/projects/{p}/locations/{l}/publishers/anthropic/models/"      \
	 "count-tokens:rawPredict",                                            \
	 GW_FORMAT_ANTHROPIC,                                                  \
	 USAGE_ANTHROPIC,                                                      \
	 false},                                                               \
		{T(VERTEX),                                                    \
		 "POST",                                                       \
		 "/" v "/projects/{p}/locations/{l}/publishers/anthropic/"     \
		 "models/{m}:rawPredict",                                      \
		 GW_FORMAT_ANTHROPIC,                                          \
		 USAGE_ANTHROPIC,                                              \
		 false},                                                       \
		{T(VERTEX),                                                    \
		 "POST",                                                       \
		 "/" v "/projects/{p}/locations/{l}/publishers/anthropic/"     \
		 "models/{m}:streamRawPredict",                                \
		 GW_FORMAT_ANTHROPIC,                                          \
		 USAGE_ANTHROPIC,                                              \
		 false},                                                       \
		{T(VERTEX),                                                    \
		 "POST",                                                       \
		 "/" v "/projects/{p}/locations/{l}/publishers/google/"        \
		 "models/{m}:generateContent",                                 \
		 GW_FORMAT_GEMINI,                                             \
		 USAGE_GEMINI,                                                 \
		 false},                                                       \
		{T(VERTEX),                                                    \
		 "POST",                                                       \
		 "/" v "/projects/{p}/locations/{l}/publishers/google/"        \
		 "models/{m}:streamGenerateContent",                           \
		 GW_FORMAT_GEMINI,                                             \
		 USAGE_GEMINI,                                                 \
		 false},                                                       \
	{                                                                      \
		T(VERTEX), "POST",                                             \
			"/" v "/projects/{p}/locations/{l}/publishers/google/" \
			"models/{m}:countTokens",                              \
			GW_FORMAT_GEMINI, USAGE_GEMINI, false                  \
	}

#define GEMINI_ROWS(v)                                                         \
	{GEMINIISH,	   "POST",	 "/" v "/models/{m}:generateContent",  \
	 GW_FORMAT_GEMINI, USAGE_GEMINI, false},                               \
		{GEMINIISH,                                                    \
		 "POST",                                                       \
		 "/" v "/models/{m}:streamGenerateContent",                    \
		 GW_FORMAT_GEMINI,                                             \
		 USAGE_GEMINI,                                                 \
		 false},                                                       \
		{GEMINIISH,                                                    \
		 "POST",                                                       \
		 "/" v "/models/{m}:countTokens",                              \
		 GW_FORMAT_GEMINI,                                             \
		 USAGE_GEMINI,                                                 \
		 false},                                                       \
		{GEMINIISH,	   "GET",	 "/" v "/models",              \
		 GW_FORMAT_GEMINI, USAGE_GEMINI, false},                       \
	{                                                                      \
		GEMINIISH, "GET", "/" v "/models/{i}", GW_FORMAT_GEMINI,       \
			USAGE_GEMINI, false                                    \
	}

/* Gemini CLI in Vertex mode with an API key set (its "express mode")
 * leaves out the project and location: the service account needs them */
#define VERTEX_EXPRESS_ROW(v, action)                                          \
	{                                                                      \
		T(VERTEX), "POST",                                             \
			"/" v "/publishers/google/models/{m}:" action,         \
			GW_FORMAT_GEMINI, USAGE_GEMINI, false,                 \
			"/" v "/projects/{p}/locations/{l}/publishers/google/" \
			"models/{m}:" action                                   \
	}
#define VERTEX_EXPRESS_ROWS(v)                                                 \
	VERTEX_EXPRESS_ROW(v, "generateContent"),                              \
		VERTEX_EXPRESS_ROW(v, "streamGenerateContent"),                \
		VERTEX_EXPRESS_ROW(v, "countTokens"),                          \
	{                                                                      \
		T(VERTEX), "GET", "/" v "/publishers/google/models/{i}",       \
			GW_FORMAT_GEMINI, USAGE_GEMINI, false, NULL            \
	}

static const struct pattern patterns[] = {
	/* Anthropic Messages: Claude Code, LiteLLM, Ollama */
	{ANTHROPICISH, "POST", "/v1/messages", GW_FORMAT_ANTHROPIC,
	 USAGE_ANTHROPIC, false},
	{ANTHROPICISH, "POST", "/v1/messages/count_tokens", GW_FORMAT_ANTHROPIC,
	 USAGE_ANTHROPIC, false},
	{T(ANTHROPIC), "GET", "/v1/models", GW_FORMAT_ANTHROPIC,
	 USAGE_ANTHROPIC, false},
	{T(ANTHROPIC), "GET", "/v1/models/{i}", GW_FORMAT_ANTHROPIC,
	 USAGE_ANTHROPIC, false},
	/* OpenAI: Codex, Aider, Goose */
	{OPENAIISH, "POST", "/v1/responses", GW_FORMAT_OPENAI,
	 USAGE_OPENAI_RESPONSES, false},
	{OPENAIISH, "POST", "/v1/chat/completions", GW_FORMAT_OPENAI,
	 USAGE_OPENAI_CHAT, false},
	{OPENAIISH, "GET", "/v1/models", GW_FORMAT_OPENAI, USAGE_OPENAI_CHAT,
	 false},
	{OPENAIISH, "GET", "/v1/models/{i}", GW_FORMAT_OPENAI,
	 USAGE_OPENAI_CHAT, false},
	/* Gemini API: Gemini CLI */
	GEMINI_ROWS("v1beta"),
	GEMINI_ROWS("v1"),
	/* Bedrock: Claude Code in Bedrock mode */
	{T(BEDROCK), "POST", "/model/{m}/invoke", GW_FORMAT_BEDROCK,
	 USAGE_ANTHROPIC, false},
	{T(BEDROCK), "POST", "/model/{m}/invoke-with-response-stream",
	 GW_FORMAT_BEDROCK, USAGE_BEDROCK_EVENTSTREAM, false},
	{T(BEDROCK), "POST", "/model/{m}/count-tokens", GW_FORMAT_BEDROCK,
	 USAGE_ANTHROPIC, false},
	/* Bedrock Converse: Goose, Aider (LiteLLM's bedrock/ID) */
	{T(BEDROCK), "POST", "/model/{m}/converse", GW_FORMAT_BEDROCK,
	 USAGE_BEDROCK_CONVERSE, false},
	{T(BEDROCK), "POST", "/model/{m}/converse-stream", GW_FORMAT_BEDROCK,
	 USAGE_BEDROCK_CONVERSE, false},
	{T(BEDROCK), "GET", "/inference-profiles", GW_FORMAT_BEDROCK,
	 USAGE_ANTHROPIC, true},
	{T(BEDROCK), "GET", "/inference-profiles/{i}", GW_FORMAT_BEDROCK,
	 USAGE_ANTHROPIC, true},
	/* Vertex: Claude Code and Gemini CLI in Vertex mode */
	VERTEX_ROWS("v1"),
	VERTEX_ROWS("v1beta1"),
	/* Vertex's OpenAI-compatible endpoint: Aider and Goose; the model
	 * ("google/gemini-2.5-pro") is in the body */
	{T(VERTEX), "POST",
	 "/v1/projects/{p}/locations/{l}/endpoints/openapi/chat/completions",
	 GW_FORMAT_OPENAI, USAGE_OPENAI_CHAT, false},
	{T(VERTEX), "POST",
	 "/v1beta1/projects/{p}/locations/{l}/endpoints/openapi/chat/"
	 "completions",
	 GW_FORMAT_OPENAI, USAGE_OPENAI_CHAT, false},
	VERTEX_EXPRESS_ROWS("v1"),
	VERTEX_EXPRESS_ROWS("v1beta1"),
};

/* A target split in segments (pointers into a copy of its path). */
struct segs {
	char *seg[SEGS_MAX];
	int n;
};

/* A variable's raw value: len bytes of a segment. */
struct var {
	const char *s;
	size_t len;
};

/* A provider type's name for messages (provider.c has the same table;
 * route.c does not link against it, to stay pure). */
static const char *
type_label(enum provider_type t)
{
	static const char *const names[] = {
		[PROVIDER_ANTHROPIC] = "anthropic",
		[PROVIDER_OPENAI] = "openai",
		[PROVIDER_GEMINI] = "gemini",
		[PROVIDER_BEDROCK] = "bedrock",
		[PROVIDER_VERTEX] = "vertex",
		[PROVIDER_OPENAI_COMPATIBLE] = "openai-compatible",
		[PROVIDER_OLLAMA] = "ollama",
	};

	return (unsigned)t < ARRAY_SIZE(names) ? names[t] : "unknown";
}

/* Unreserved characters of RFC 3986. */
static bool
unreserved(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* Characters a path segment or query may hold besides unreserved ones
 * and escapes (sub-delims, ':', and '/' '?' in the query). */
static bool
delim_ok(int c, bool query)
{
	if (strchr("!$&'()*+,;=:", c))
		return c != '\0';
	return query && (c == '/' || c == '?');
}

/* Percent-decode s into a new string; NULL when an escape is broken or
 * decodes to NUL. */
static char *
pct_decode(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;

	for (; *s; s++) {
		if (*s != '%') {
			*o++ = *s;
			continue;
		}
		if (hex_value(s[1]) < 0 || hex_value(s[2]) < 0 ||
		    hex_value(s[1]) * 16 + hex_value(s[2]) == 0) {
			free(out);
			return NULL;
		}
		*o++ = (char)(hex_value(s[1]) * 16 + hex_value(s[2]));
		s += 2;
	}
	*o = '\0';
	return out;
}

/* Append s to b, escaping every byte that is not unreserved nor in
 * keep. */
static void
pct_encode(struct buf *b, const char *s, const char *keep)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (unreserved(c) || (keep && strchr(keep, c)))
			buf_append(b, s, 1);
		else
			buf_printf(b, "%%%02X", c);
	}
}

/* Check the bytes of one raw segment (query: the query string, path:
 * a segment; last: the path's last segment, where a model may hold '@').
 * 0 or 400 with *cause. */
static int
check_chars(const char *s, bool query, bool last, char **cause)
{
	for (const char *c = s; *c; c++) {
		unsigned char u = (unsigned char)*c;

		if (u == '%') {
			if (hex_value(c[1]) < 0 || hex_value(c[2]) < 0) {
				*cause = xstrdup("broken %-escape in target");
				return 400;
			}
			continue;
		}
		if (u == '@' && last && !query)
			continue;
		if (!unreserved(u) && !delim_ok(u, query)) {
			if (u <= 0x20 || u >= 0x7f)
				*cause = xasprintf("byte 0x%02x in target", u);
			else
				*cause = xasprintf("'%c' in target", u);
			return 400;
		}
	}
	return 0;
}

/* Check a raw target and split its path (copied into *path, which the
 * caller frees) in segments and its query (*query points into *path, or
 * NULL). 0 or 400 with *cause. */
static int
split_target(const char *target, char **path, char **query, struct segs *s,
	     char **cause)
{
	size_t len = strlen(target);
	char *p, *q, *next;

	*path = NULL;
	if (len == 0 || target[0] != '/') {
		*cause = xstrdup("target must be a path starting with '/'");
		return 400;
	}
	if (len > GW_TARGET_MAX) {
		*cause =
			xasprintf("target longer than %d bytes", GW_TARGET_MAX);
		return 400;
	}
	*path = p = xstrdup(target);
	q = strchr(p, '?');
	*query = NULL;
	if (q) {
		*q = '\0';
		*query = q + 1;
		if (check_chars(*query, true, false, cause))
			return 400;
	}
	if (strstr(p, "//")) {
		*cause = xstrdup("'//' in target");
		return 400;
	}
	s->n = 0;
	for (char *seg = p + 1; seg; seg = next) {
		char *dec;
		bool dots;

		next = strchr(seg, '/');
		if (next)
			*next++ = '\0';
		if (s->n == SEGS_MAX) {
			*cause = xasprintf("more than %d path segments",
					   SEGS_MAX);
			return 400;
		}
		if (check_chars(seg, false, next == NULL, cause))
			return 400;
		dec = pct_decode(seg);
		if (!dec) {
			*cause = xstrdup("NUL escape in target");
			return 400;
		}
		dots = !strcmp(dec, ".") || !strcmp(dec, "..");
		for (const char *c = dec; *c && !dots; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f ||
			    *c == '\\')
				dots = true;
		free(dec);
		if (dots) {
			*cause = xstrdup("'.', '..' or a control or '\\' "
					 "escaped in a target segment");
			return 400;
		}
		s->seg[s->n++] = seg;
	}
	return 0;
}

/* Whether the segment seg matches the pattern segment pat; a variable's
 * value (the segment less the suffix) goes to *var. */
static bool
seg_match(const char *pat, const char *seg, struct var *var)
{
	const char *suffix;
	size_t sl, gl = strlen(seg);

	if (pat[0] != '{')
		return !strcmp(pat, seg);
	suffix = pat + 3;
	sl = strlen(suffix);
	if (gl <= sl || strcmp(seg + gl - sl, suffix))
		return false;
	var->s = seg;
	var->len = gl - sl;
	return true;
}

/* Whether the agent's segments match pattern pt; the raw value of its
 * model or id variable goes to *mv. */
static bool
path_match(const struct pattern *pt, const struct segs *s, struct var *mv)
{
	struct var ignored;
	char pat[256], *save = NULL, *tok;
	int i = 0;

	snprintf(pat, sizeof(pat), "%s", pt->path + 1);
	for (tok = strtok_r(pat, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save), i++)
		if (i >= s->n ||
		    !seg_match(tok, s->seg[i],
			       tok[0] == '{' && (tok[1] == 'm' || tok[1] == 'i')
				       ? mv
				       : &ignored))
			return false;
	return i == s->n;
}

/* A model or identifier as the agent escaped it: decoded into a new
 * string when it is 1..USAGE_MODEL_MAX-1 bytes of letters, digits,
 * "-._~" and the extra characters this type's ids hold (a Bedrock ARN's
 * '/' only between pieces that are not empty, "." or ".."); else NULL. */
static char *
model_decode(const struct var *raw, enum provider_type t)
{
	const char *extra = t == PROVIDER_BEDROCK  ? ":/"
			    : t == PROVIDER_VERTEX ? "@"
						   : "";
	char *copy = xstrndup(raw->s, raw->len), *m = pct_decode(copy);

	free(copy);
	if (!m)
		return NULL;
	if (!*m || strlen(m) >= USAGE_MODEL_MAX)
		goto bad;
	for (const char *c = m; *c; c++)
		if (!unreserved((unsigned char)*c) && !strchr(extra, *c))
			goto bad;
	for (const char *c = m, *end; c; c = *end ? end + 1 : NULL) {
		end = c + strcspn(c, "/");
		if (end == c || (end - c == 1 && c[0] == '.') ||
		    (end - c == 2 && c[0] == '.' && c[1] == '.'))
			goto bad;
	}
	return m;
bad:
	free(m);
	return NULL;
}

/* The Vertex project: the provider's, else the key file's project_id
 * (new string), or NULL. */
static char *
vertex_project(const struct provider *p)
{
	json_t *o, *v;
	char *out = NULL;

	if (p->project)
		return xstrdup(p->project);
	if (!p->service_account)
		return NULL;
	o = json_loads(p->service_account, 0, NULL);
	v = json_object_get(o, "project_id");
	if (json_is_string(v) && json_string_length(v) > 0)
		out = xstrdup(json_string_value(v));
	json_decref(o);
	return out;
}

/* Append the query less any key= parameter (Google APIs: the gateway
 * supplies the key) to b, with its '?'. */
static void
append_query(struct buf *b, const char *query, bool drop_key)
{
	const char *q = query, *amp;
	bool first = true;

	while (q && *q) {
		size_t n;

		amp = strchr(q, '&');
		n = amp ? (size_t)(amp - q) : strlen(q);
		if (n > 0 &&
		    !(drop_key && ((n == 3 && !strncmp(q, "key", 3)) ||
				   (n >= 4 && !strncmp(q, "key=", 4))))) {
			buf_puts(b, first ? "?" : "&");
			buf_append(b, q, n);
			first = false;
		}
		q = amp ? amp + 1 : NULL;
	}
}

/* The host[:port] of url as a client sends it in Host (the scheme's
 * default port left out), new string. */
static char *
url_host(const char *url)
{
	const char *h = strstr(url, "://"), *end;
	size_t n;

	h = h ? h + 3 : url;
	end = h + strcspn(h, "/?#");
	n = (size_t)(end - h);
	if (!strncmp(url, "https://", 8) && n > 4 &&
	    !strncmp(end - 4, ":443", 4))
		n -= 4;
	else if (!strncmp(url, "http://", 7) && n > 3 &&
		 !strncmp(end - 3, ":80", 3))
		n -= 3;
	return xstrndup(h, n);
}

/* The base URL a pattern's requests go to, new string; NULL with *cause
 * when the provider lacks what it needs. */
static char *
base_url(const struct provider *p, const struct pattern *pt, char **cause)
{
	if (pt->control && !p->url_given) {
		if (!p->region) {
			*cause = xasprintf("provider '%s' has no region",
					   p->name);
			return NULL;
		}
		return xasprintf("https://bedrock.%s.amazonaws.com", p->region);
	}
	if (!p->url || !*p->url) {
		*cause = xasprintf("provider '%s' has no URL", p->name);
		return NULL;
	}
	return xstrdup(p->url);
}

/* Rebuild the upstream path of pattern pt (its up, else its path) from
 * the agent's model or id mv into b, filling r->model. 0, or a status
 * with *cause. */
static int
build_path(const struct provider *p, const struct pattern *pt,
	   const struct var *mv, struct buf *b, struct gw_route *r,
	   char **cause)
{
	const char *keep = p->type == PROVIDER_VERTEX ? "@" : NULL;
	char pat[256], *save = NULL, *tok, *v;

	snprintf(pat, sizeof(pat), "%s", (pt->up ? pt->up : pt->path) + 1);
	for (tok = strtok_r(pat, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		buf_puts(b, "/");
		if (tok[0] != '{') {
			buf_puts(b, tok);
			continue;
		}
		switch (tok[1]) {
		case 'm':
		case 'i':
			v = model_decode(mv, p->type);
			if (!v) {
				*cause = xstrdup("bad model or id in target");
				return 400;
			}
			pct_encode(b, v, keep);
			if (tok[1] == 'm' && !r->model)
				r->model = v;
			else
				free(v);
			break;
		case 'p':
			v = vertex_project(p);
			if (!v) {
				*cause = xasprintf("provider '%s' has no "
						   "project",
						   p->name);
				return 500;
			}
			pct_encode(b, v, NULL);
			free(v);
			break;
		case 'l':
			pct_encode(b, p->region ? p->region : "global", NULL);
			break;
		default:
			BUG();
		}
		buf_puts(b, tok + 3);
	}
	return 0;
}

/* Drop the `/bedrock` or `/vertex` prefix a module put in a Bedrock or
 * Vertex base URL from s. */
static void
drop_prefix(const struct provider *p, struct segs *s)
{
	const char *want = p->type == PROVIDER_BEDROCK	? "bedrock"
			   : p->type == PROVIDER_VERTEX ? "vertex"
							: NULL;

	if (want && s->n > 1 && !strcmp(s->seg[0], want)) {
		memmove(s->seg, s->seg + 1,
			(size_t)(s->n - 1) * sizeof(char *));
		s->n--;
	}
}

int
gw_route(const struct provider *p, const char *method, const char *target,
	 struct gw_route *out, char **cause)
{
	struct var mv = {0};
	char *path = NULL, *query, *base = NULL;
	const struct pattern *pt = NULL;
	struct gw_route r = {0};
	bool other_method = false;
	struct segs s;
	struct buf b;
	int rc;

	*cause = NULL;
	buf_init(&b, 0);
	if ((unsigned)p->type > PROVIDER_OLLAMA)
		BUG();
	if (!*method || strlen(method) > 16 ||
	    strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method)) {
		*cause = xstrdup("bad method");
		return 400;
	}
	rc = split_target(target, &path, &query, &s, cause);
	if (rc)
		goto out;
	drop_prefix(p, &s);
	for (size_t i = 0; i < ARRAY_SIZE(patterns) && !pt; i++) {
		if (!(patterns[i].types & (1u << p->type)) ||
		    !path_match(&patterns[i], &s, &mv))
			continue;
		if (!strcmp(patterns[i].method, method))
			pt = &patterns[i];
		else
			other_method = true;
	}
	if (!pt) {
		rc = other_method ? 405 : 404;
		*cause = xasprintf("%.16s %.*s is not served for %s "
				   "provider '%s'",
				   method, (int)MIN(strcspn(target, "?"), 200),
				   target, type_label(p->type), p->name);
		goto out;
	}
	base = base_url(p, pt, cause);
	if (!base) {
		rc = 500;
		goto out;
	}
	buf_puts(&b, base);
	rc = build_path(p, pt, &mv, &b, &r, cause);
	if (rc)
		goto out;
	append_query(&b, query,
		     pt->format == GW_FORMAT_GEMINI ||
			     p->type == PROVIDER_VERTEX);
	r.url = buf_steal(&b);
	r.host = url_host(r.url);
	r.format = pt->format;
	r.usage = pt->usage;
	r.auth = p->type == PROVIDER_BEDROCK  ? GW_AUTH_SIGV4
		 : p->type == PROVIDER_VERTEX ? GW_AUTH_VERTEX
		 : p->key		      ? GW_AUTH_KEY
					      : GW_AUTH_NONE;
	r.service = p->type == PROVIDER_BEDROCK ? "bedrock" : NULL;
	*out = r;
	memset(&r, 0, sizeof(r));
out:
	gw_route_release(&r);
	buf_release(&b);
	free(base);
	free(path);
	return rc;
}

/* The API a target looks like it is for (see gw_route_format). */
static enum gw_format
format_guess(const char *target)
{
	if (!target)
		return GW_FORMAT_OPENAI;
	if (!strncmp(target, "/v1/messages", 12))
		return GW_FORMAT_ANTHROPIC;
	if (strstr(target, "/publishers/anthropic/"))
		return GW_FORMAT_ANTHROPIC;
	if (strstr(target, "/v1beta") ||
	    strstr(target, "/publishers/google/") ||
	    strstr(target, "GenerateContent") ||
	    strstr(target, "generateContent") || strstr(target, ":countTokens"))
		return GW_FORMAT_GEMINI;
	if (!strncmp(target, "/bedrock/", 9) || !strncmp(target, "/model/", 7))
		return GW_FORMAT_BEDROCK;
	return GW_FORMAT_OPENAI;
}

enum gw_format
gw_route_format(const struct provider *p, const char *target)
{
	switch (p ? p->type : PROVIDER_OPENAI_COMPATIBLE) {
	case PROVIDER_ANTHROPIC:
		return GW_FORMAT_ANTHROPIC;
	case PROVIDER_OPENAI:
		return GW_FORMAT_OPENAI;
	case PROVIDER_GEMINI:
		return GW_FORMAT_GEMINI;
	case PROVIDER_BEDROCK:
		return GW_FORMAT_BEDROCK;
	case PROVIDER_VERTEX:
		if (target && strstr(target, "/endpoints/openapi/"))
			return GW_FORMAT_OPENAI;
		return target && strstr(target, "/publishers/google/")
			       ? GW_FORMAT_GEMINI
			       : GW_FORMAT_ANTHROPIC;
	default:
		return format_guess(target);
	}
}

void
gw_route_release(struct gw_route *r)
{
	free(r->url);
	free(r->host);
	free(r->model);
	r->url = r->host = r->model = NULL;
}

/* Status → error type name of each format, by the status's exact value
 * first, else its class. */
struct err_name {
	int status;
	const char *anthropic, *openai, *gemini, *amzn;
};

static const struct err_name err_names[] = {
	{400, "invalid_request_error", "invalid_request_error",
	 "INVALID_ARGUMENT", "ValidationException"},
	{401, "authentication_error", "invalid_request_error",
	 "UNAUTHENTICATED", "UnrecognizedClientException"},
	{403, "permission_error", "permission_error", "PERMISSION_DENIED",
	 "AccessDeniedException"},
	{404, "not_found_error", "invalid_request_error", "NOT_FOUND",
	 "ResourceNotFoundException"},
	{405, "invalid_request_error", "invalid_request_error", "UNIMPLEMENTED",
	 "ValidationException"},
	{408, "timeout_error", "timeout_error", "DEADLINE_EXCEEDED",
	 "ModelTimeoutException"},
	{413, "request_too_large", "invalid_request_error", "INVALID_ARGUMENT",
	 "ValidationException"},
	{429, "rate_limit_error", "rate_limit_error", "RESOURCE_EXHAUSTED",
	 "ThrottlingException"},
	{500, "api_error", "server_error", "INTERNAL",
	 "InternalServerException"},
	{502, "api_error", "server_error", "UNAVAILABLE",
	 "ServiceUnavailableException"},
	{503, "overloaded_error", "server_error", "UNAVAILABLE",
	 "ServiceUnavailableException"},
	{504, "timeout_error", "server_error", "DEADLINE_EXCEEDED",
	 "ModelTimeoutException"},
	{529, "overloaded_error", "server_error", "UNAVAILABLE",
	 "ServiceUnavailableException"},
};

/* The names for status: its own row, else 400's for 4xx, 500's for the
 * rest. */
static const struct err_name *
err_name(int status)
{
	for (size_t i = 0; i < ARRAY_SIZE(err_names); i++)
		if (err_names[i].status == status)
			return &err_names[i];
	return status >= 400 && status < 500 ? &err_names[0] : &err_names[8];
}

/* OpenAI's error code for a status (what Codex and the OpenAI SDKs look
 * at), or NULL. */
static const char *
openai_code(int status)
{
	switch (status) {
	case 401:
		return "invalid_api_key";
	case 404:
		return "not_found";
	case 429:
		return "rate_limit_exceeded";
	default:
		return NULL;
	}
}

char *
gw_error_body(enum gw_format f, int status, const char *message,
	      const char **ctype)
{
	const struct err_name *n = err_name(status);
	json_t *o;
	char *s;

	if (!message)
		message = "error";
	switch (f) {
	case GW_FORMAT_ANTHROPIC:
		o = json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error",
			      "type", n->anthropic, "message", message);
		break;
	case GW_FORMAT_OPENAI:
		o = json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message",
			      message, "type", n->openai, "param", "code",
			      openai_code(status));
		break;
	case GW_FORMAT_GEMINI:
		o = json_pack("{s:{s:i, s:s, s:s}}", "error", "code", status,
			      "message", message, "status", n->gemini);
		break;
	case GW_FORMAT_BEDROCK:
		o = json_pack("{s:s}", "message", message);
		break;
	default:
		BUG();
	}
	if (!o) /* message is not UTF-8 */
		return gw_error_body(f, status, "error (message not UTF-8)",
				     ctype);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		fatal("out of memory");
	*ctype = "application/json";
	return s;
}

const char *
gw_amzn_error_type(int status)
{
	return err_name(status)->amzn;
}

/* Whether name is one of the headers agents send a key in. */
static bool
auth_name(const char *name)
{
	static const char *const auth[] = {"authorization", "x-api-key",
					   "x-goog-api-key", "api-key"};

	for (size_t i = 0; i < ARRAY_SIZE(auth); i++)
		if (!strcasecmp(name, auth[i]))
			return true;
	return false;
}

const char *
gw_auth_header_name(const struct provider *p, const char *name)
{
	if (!auth_name(name))
		return name;
	switch (p->type) {
	case PROVIDER_ANTHROPIC:
		if (p->key && !strncmp(p->key, "sk-ant-oat", 10))
			return "Authorization";
		return "x-api-key";
	case PROVIDER_OPENAI:
		return "Authorization";
	case PROVIDER_GEMINI:
		return "x-goog-api-key";
	default:
		return name;
	}
}

char *
gw_auth_header(const struct provider *p, const char *name, const char *value)
{
	if (!auth_name(name))
		return xstrdup(value);
	if (!p->key || p->type == PROVIDER_BEDROCK ||
	    p->type == PROVIDER_VERTEX)
		return NULL;
	if (!strcasecmp(gw_auth_header_name(p, name), "authorization"))
		return xasprintf("Bearer %s", p->key);
	return xstrdup(p->key);
}

void
gw_curl_setup(CURL *easy, const struct provider *p)
{
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 0L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(easy, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	/* straight to the provider: no proxy the server's environment names
	 * (libcurl honours http_proxy, https_proxy, ALL_PROXY by default) */
	curl_easy_setopt(easy, CURLOPT_PROXY, "");
	if (p->ca_pem) {
		struct curl_blob blob = {
			.data = p->ca_pem,
			.len = strlen(p->ca_pem),
			.flags = CURL_BLOB_COPY,
		};

		curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
	}
}
