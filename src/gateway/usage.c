/*
 * usage.c: token usage read from an LLM response as it streams past (see
 * usage.h).
 *
 * A reader has one framing, picked by its format and the body's first
 * byte, and one struct usage that every complete part updates in place
 * (each API's figures are cumulative, so a later one overwrites):
 *   - SSE: src/http/sse.c splits events (its line and event buffers held
 *     to USAGE_MAX_FRAME); each event's data is one JSON object, parsed
 *     whole and read per format.
 *   - JSON: a byte-at-a-time scanner follows strings and nesting without
 *     keeping the document; of each record (the root object, or each
 *     object of a root array: Gemini's streamed JSON) it captures only the
 *     values of the keys it wants (`usage`, `model`, ...) into a bounded
 *     buffer and parses those.
 *   - eventstream: one frame at a time in a bounded buffer (prelude with
 *     its CRC32, headers, payload, message CRC32); a `chunk` event's
 *     payload `{"bytes": base64}` is an Anthropic streaming event
 *     (invoke-with-response-stream); for Converse (converse-stream) a
 *     `metadata` event's payload is plain JSON whose `usage` is the
 *     TokenUsage, and it is the stream's last event.
 * Converse's TokenUsage (inputTokens, outputTokens, totalTokens,
 * cacheReadInputTokens, cacheWriteInputTokens) maps to Anthropic's names:
 * Bedrock passes Anthropic's own split through, inputTokens without the
 * cache reads and writes (totalTokens is then the sum of all four); when
 * totalTokens is inputTokens + outputTokens while cache figures are not
 * 0, inputTokens counted them and they are subtracted.
 * The first failure (a bound, a CRC) is kept and later bytes ignored.
 */
#include "common.h"

#include <jansson.h>
#include <sodium.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/text.h"
#include "gateway/usage.h"
#include "http/sse.h"

enum usage_framing { FRAMING_UNKNOWN, FRAMING_SSE, FRAMING_JSON, FRAMING_ES };

/* Where the JSON scanner is inside the current record object. */
enum jscan_state {
	JS_OUTSIDE,	 /* not directly inside a record */
	JS_EXPECT_KEY,	 /* after `{` or `,` */
	JS_KEY,		 /* inside the key string */
	JS_EXPECT_COLON, /* after the key */
	JS_EXPECT_VALUE, /* after `:` */
	JS_VALUE,	 /* inside the value, until `,` or `}` at this depth */
};

#define JSCAN_KEY_MAX 32
#define ES_PRELUDE    12

struct jscan {
	unsigned depth;	    /* containers open */
	unsigned rec_depth; /* the depth of record objects: 1 or 2 */
	bool in_str, esc;
	enum jscan_state state;
	char key[JSCAN_KEY_MAX + 1];
	size_t key_len;
	bool capture;	  /* the current value is one we want */
	struct buf value; /* its bytes so far */
};

struct usage_reader {
	enum usage_format format;
	enum usage_framing framing;
	int err;     /* the first failure, or 0 */
	char *cause; /* why, owned */
	bool ended;  /* a stream's last event (per format) was read */
	struct usage u;
	struct sse_parser sse;
	struct jscan js;
	struct buf frame; /* eventstream: the frame being assembled */
};

/* Keep the first failure and its cause. */
static int
usage_fail(struct usage_reader *r, int err, const char *cause)
{
	if (r->err == 0) {
		r->err = err;
		r->cause = xstrdup(cause);
	}
	return r->err;
}

/* An unsigned count from a JSON member, or 0. */
static uint64_t
usage_count(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return 0;
	return (uint64_t)json_integer_value(v);
}

/* Store a count when obj has the member (a later figure overwrites). */
static void
usage_set(uint64_t *dst, json_t *obj, const char *key)
{
	if (json_is_integer(json_object_get(obj, key)))
		*dst = usage_count(obj, key);
}

/* Remember the model name from a JSON string (cut to fit, UTF-8 whole). */
static void
usage_model(struct usage_reader *r, json_t *v)
{
	const char *s = json_string_value(v);
	size_t n;

	if (s == NULL || s[0] == '\0')
		return;
	n = utf8_cut(s, strnlen(s, USAGE_MODEL_MAX - 1));
	memcpy(r->u.model, s, n);
	r->u.model[n] = '\0';
}

/* Whether format f's streams are eventstreams (Bedrock's). */
static bool
usage_es_format(enum usage_format f)
{
	return f == USAGE_BEDROCK_EVENTSTREAM || f == USAGE_BEDROCK_CONVERSE;
}

/* Apply a Converse TokenUsage object to o (see the top of the file). */
static void
usage_converse(struct usage *o, json_t *u)
{
	uint64_t in = usage_count(u, "inputTokens");
	uint64_t cached;

	o->output_tokens = usage_count(u, "outputTokens");
	o->cache_read_input_tokens = usage_count(u, "cacheReadInputTokens");
	o->cache_creation_input_tokens =
		usage_count(u, "cacheWriteInputTokens");
	cached = o->cache_read_input_tokens + o->cache_creation_input_tokens;
	if (cached > 0 && in >= cached &&
	    json_is_integer(json_object_get(u, "totalTokens")) &&
	    usage_count(u, "totalTokens") == in + o->output_tokens)
		in -= cached;
	o->input_tokens = in;
}

/* Apply a usage object in the reader's format to r->u. */
static void
usage_apply(struct usage_reader *r, json_t *u)
{
	struct usage *o = &r->u;
	json_t *d;
	uint64_t in, cached;

	if (!json_is_object(u))
		return;
	o->requests = 1;
	switch (r->format) {
	case USAGE_ANTHROPIC:
	case USAGE_BEDROCK_EVENTSTREAM:
		usage_set(&o->input_tokens, u, "input_tokens");
		usage_set(&o->output_tokens, u, "output_tokens");
		usage_set(&o->cache_read_input_tokens, u,
			  "cache_read_input_tokens");
		usage_set(&o->cache_creation_input_tokens, u,
			  "cache_creation_input_tokens");
		break;
	case USAGE_OPENAI_CHAT:
	case USAGE_OPENAI_RESPONSES: {
		bool chat = r->format == USAGE_OPENAI_CHAT;

		in = usage_count(u, chat ? "prompt_tokens" : "input_tokens");
		d = json_object_get(u, chat ? "prompt_tokens_details"
					    : "input_tokens_details");
		cached = usage_count(d, "cached_tokens");
		o->input_tokens = in > cached ? in - cached : 0;
		o->cache_read_input_tokens = cached;
		o->output_tokens = usage_count(u, chat ? "completion_tokens"
						       : "output_tokens");
		break;
	}
	case USAGE_GEMINI:
		in = usage_count(u, "promptTokenCount");
		cached = usage_count(u, "cachedContentTokenCount");
		o->input_tokens = in > cached ? in - cached : 0;
		o->cache_read_input_tokens = cached;
		o->output_tokens = usage_count(u, "candidatesTokenCount") +
				   usage_count(u, "thoughtsTokenCount");
		break;
	case USAGE_BEDROCK_CONVERSE:
		usage_converse(o, u);
		break;
	}
}

/* Read one streamed event (an SSE data object or a Bedrock chunk). */
static void
usage_event(struct usage_reader *r, json_t *ev)
{
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *m;

	switch (r->format) {
	case USAGE_ANTHROPIC:
	case USAGE_BEDROCK_EVENTSTREAM:
		if (type == NULL)
			return;
		if (strcmp(type, "message_start") == 0) {
			m = json_object_get(ev, "message");
			usage_model(r, json_object_get(m, "model"));
			usage_apply(r, json_object_get(m, "usage"));
		} else if (strcmp(type, "message_delta") == 0) {
			usage_apply(r, json_object_get(ev, "usage"));
		} else if (strcmp(type, "message_stop") == 0) {
			r->ended = true;
		}
		break;
	case USAGE_OPENAI_CHAT:
		usage_model(r, json_object_get(ev, "model"));
		usage_apply(r, json_object_get(ev, "usage"));
		break;
	case USAGE_OPENAI_RESPONSES:
		/* response.created/.in_progress/.completed/.incomplete/.failed
		 * carry the response; only the last ones have its usage */
		if (type == NULL || strncmp(type, "response.", 9) != 0)
			return;
		m = json_object_get(ev, "response");
		usage_model(r, json_object_get(m, "model"));
		usage_apply(r, json_object_get(m, "usage"));
		r->ended |= strcmp(type, "response.completed") == 0 ||
			    strcmp(type, "response.incomplete") == 0 ||
			    strcmp(type, "response.failed") == 0;
		break;
	case USAGE_GEMINI:
		usage_model(r, json_object_get(ev, "modelVersion"));
		usage_apply(r, json_object_get(ev, "usageMetadata"));
		break;
	case USAGE_BEDROCK_CONVERSE:
		break; /* its JSON and metadata events are read directly */
	}
}

/*
 * Whether an SSE event of this name can say anything: content deltas,
 * the bulk of a stream, are not parsed (events without a name are).
 */
static bool
usage_sse_wants(struct usage_reader *r, const char *event)
{
	if (strcmp(event, "message") == 0)
		return true;
	if (r->format == USAGE_ANTHROPIC)
		return strncmp(event, "message_", 8) == 0;
	if (r->format == USAGE_OPENAI_RESPONSES)
		return strncmp(event, "response.", 9) == 0 &&
		       strstr(event, ".delta") == NULL;
	return true;
}

/* SSE callback: parse the event's data as JSON and read it. */
static int
usage_sse_event(const char *event, const char *data, void *arg)
{
	struct usage_reader *r = arg;
	json_t *ev;

	if (strcmp(data, "[DONE]") == 0)
		r->ended = true; /* Chat Completions' last event */
	if (data[0] != '{' || !usage_sse_wants(r, event))
		return 0;
	ev = json_loads(data, 0, NULL);
	if (ev != NULL)
		usage_event(r, ev);
	json_decref(ev);
	return 0;
}

/* Whether key is one whose value the JSON framing wants. */
static bool
usage_json_wants(struct usage_reader *r, const char *key)
{
	if (r->format == USAGE_GEMINI)
		return strcmp(key, "usageMetadata") == 0 ||
		       strcmp(key, "modelVersion") == 0;
	return strcmp(key, "usage") == 0 || strcmp(key, "model") == 0;
}

/* A captured record member is complete: read it. */
static void
usage_json_member(struct usage_reader *r)
{
	struct jscan *js = &r->js;
	json_t *v;

	if (!js->capture)
		return;
	js->capture = false;
	v = json_loadb(js->value.data, js->value.len, JSON_DECODE_ANY, NULL);
	buf_clear(&js->value);
	if (v == NULL)
		return;
	if (strcmp(js->key, "model") == 0 ||
	    strcmp(js->key, "modelVersion") == 0)
		usage_model(r, v);
	else
		usage_apply(r, v);
	json_decref(v);
}

/* Start a record member's value at byte c (the capture starts with it). */
static void
usage_json_value_start(struct usage_reader *r)
{
	struct jscan *js = &r->js;

	js->key[js->key_len] = '\0';
	js->capture =
		js->key_len < JSCAN_KEY_MAX && usage_json_wants(r, js->key);
	js->state = JS_VALUE;
}

/* The JSON scanner on one byte; 0 or a failure. */
static int
usage_json_byte(struct usage_reader *r, char c)
{
	struct jscan *js = &r->js;
	bool at_rec = js->depth == js->rec_depth;

	if (js->in_str) {
		if (js->esc)
			js->esc = false;
		else if (c == '\\')
			js->esc = true;
		else if (c == '"')
			js->in_str = false;
		if (at_rec && js->state == JS_KEY) {
			if (!js->in_str)
				js->state = JS_EXPECT_COLON;
			else if (js->key_len < JSCAN_KEY_MAX)
				js->key[js->key_len++] = c;
			return 0;
		}
	} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
		if (js->state != JS_VALUE || !at_rec)
			return 0;
	} else if (c == '"') {
		js->in_str = true;
		if (at_rec && js->state == JS_EXPECT_KEY) {
			js->state = JS_KEY;
			js->key_len = 0;
			return 0;
		}
		if (at_rec && js->state == JS_EXPECT_VALUE)
			usage_json_value_start(r);
	} else if (c == '{' || c == '[') {
		if (js->depth == 0)
			js->rec_depth = c == '{' ? 1 : 2;
		if (at_rec && js->state == JS_EXPECT_VALUE)
			usage_json_value_start(r);
		if (js->depth == UINT_MAX)
			return usage_fail(r, -EBADMSG, "JSON nested too deep");
		js->depth++;
		if (js->depth == js->rec_depth) {
			js->state = c == '{' ? JS_EXPECT_KEY : JS_OUTSIDE;
			return 0;
		}
	} else if (c == '}' || c == ']') {
		if (js->depth == 0)
			return usage_fail(r, -EBADMSG, "JSON closes too much");
		if (at_rec) {
			usage_json_member(r);
			js->state = JS_OUTSIDE;
			js->depth--;
			return 0;
		}
		js->depth--;
	} else if (at_rec && c == ':' && js->state == JS_EXPECT_COLON) {
		js->state = JS_EXPECT_VALUE;
		return 0;
	} else if (at_rec && c == ',') {
		usage_json_member(r);
		js->state = JS_EXPECT_KEY;
		return 0;
	} else if (at_rec && js->state == JS_EXPECT_VALUE) {
		usage_json_value_start(r); /* a number, true, false, null */
	}
	if (js->capture && buf_append(&js->value, &c, 1) < 0)
		return usage_fail(r, -ENOBUFS, "a usage JSON value over 1 MiB");
	return 0;
}

/* Big-endian 32 bits at p. */
static uint32_t
usage_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* CRC32 (zlib's, the eventstream's polynomial) of n bytes. */
static uint32_t
usage_crc(const unsigned char *p, size_t n)
{
	return (uint32_t)crc32(crc32(0, Z_NULL, 0), p, (uInt)n);
}

/*
 * Find string header name in an eventstream frame's headers; its value
 * and length in *v, *vlen. Returns 1 found, 0 absent, -EBADMSG malformed.
 */
static int
usage_es_header(const unsigned char *h, size_t len, const char *name,
		const unsigned char **v, size_t *vlen)
{
	static const unsigned char fixed[] = {0, 0, 1, 2, 4, 8, 0, 0, 8, 16};
	size_t i = 0, nlen = strlen(name);

	while (i < len) {
		size_t klen = h[i], n;
		unsigned char type;

		if (klen == 0 || len - i < 1 + klen + 1)
			return -EBADMSG;
		type = h[i + 1 + klen];
		if (type > 9)
			return -EBADMSG;
		n = fixed[type];
		if (type == 6 || type == 7) {
			if (len - i < 1 + klen + 1 + 2)
				return -EBADMSG;
			n = 2 +
			    ((size_t)h[i + 2 + klen] << 8 | h[i + 3 + klen]);
		}
		if (len - i - 1 - klen - 1 < n)
			return -EBADMSG;
		if (type == 7 && klen == nlen &&
		    memcmp(h + i + 1, name, nlen) == 0) {
			*v = h + i + 1 + klen + 1 + 2;
			*vlen = n - 2;
			return 1;
		}
		i += 1 + klen + 1 + n;
	}
	return 0;
}

/* Whether header name is a string equal to want. */
static bool
usage_es_is(const unsigned char *h, size_t len, const char *name,
	    const char *want)
{
	const unsigned char *v;
	size_t vlen;

	return usage_es_header(h, len, name, &v, &vlen) == 1 &&
	       vlen == strlen(want) && memcmp(v, want, vlen) == 0;
}

/* Read a Bedrock `chunk` payload: {"bytes": base64 of an event}. */
static void
usage_es_chunk(struct usage_reader *r, const unsigned char *p, size_t len)
{
	json_t *payload = json_loadb((const char *)p, len, 0, NULL), *ev;
	const char *b64 = json_string_value(json_object_get(payload, "bytes"));
	unsigned char *bin;
	size_t blen = 0, n;

	if (b64 != NULL) {
		n = strlen(b64);
		bin = xmalloc(n / 4 * 3 + 3);
		if (sodium_base642bin(bin, n / 4 * 3 + 3, b64, n, NULL, &blen,
				      NULL,
				      sodium_base64_VARIANT_ORIGINAL) == 0) {
			ev = json_loadb((const char *)bin, blen, 0, NULL);
			if (ev != NULL)
				usage_event(r, ev);
			json_decref(ev);
		}
		free(bin);
	}
	json_decref(payload);
}

/* Read a Converse `metadata` payload: {"usage": TokenUsage, ...}, the
 * stream's last event. */
static void
usage_es_metadata(struct usage_reader *r, const unsigned char *p, size_t len)
{
	json_t *payload = json_loadb((const char *)p, len, 0, NULL);

	usage_apply(r, json_object_get(payload, "usage"));
	r->ended = true;
	json_decref(payload);
}

/* One whole, CRC-checked eventstream frame of total bytes at f. */
static int
usage_es_frame(struct usage_reader *r, const unsigned char *f, size_t total)
{
	size_t hlen = usage_be32(f + 4);
	const unsigned char *h = f + ES_PRELUDE;
	const unsigned char *v;
	size_t vlen;

	if (usage_be32(f + total - 4) != usage_crc(f, total - 4))
		return usage_fail(r, -EBADMSG, "eventstream message CRC");
	/* no header has an empty name: this walks and checks all of them */
	if (usage_es_header(h, hlen, "", &v, &vlen) < 0)
		return usage_fail(r, -EBADMSG, "eventstream headers");
	if (!usage_es_is(h, hlen, ":message-type", "event"))
		return 0;
	if (r->format == USAGE_BEDROCK_EVENTSTREAM &&
	    usage_es_is(h, hlen, ":event-type", "chunk"))
		usage_es_chunk(r, h + hlen, total - ES_PRELUDE - hlen - 4);
	else if (r->format == USAGE_BEDROCK_CONVERSE &&
		 usage_es_is(h, hlen, ":event-type", "metadata"))
		usage_es_metadata(r, h + hlen, total - ES_PRELUDE - hlen - 4);
	return 0;
}

/* Eventstream framing: assemble frames, never more than one at a time. */
static int
usage_es_feed(struct usage_reader *r, const unsigned char *p, size_t len)
{
	struct buf *b = &r->frame;

	while (len > 0) {
		size_t need = ES_PRELUDE, n;
		const unsigned char *f = (const unsigned char *)b->data;

		if (b->len >= ES_PRELUDE)
			need = usage_be32(f);
		n = need - b->len < len ? need - b->len : len;
		if (buf_append(b, p, n) < 0)
			BUG(); /* need was checked against the limit */
		p += n;
		len -= n;
		f = (const unsigned char *)b->data;
		if (b->len == ES_PRELUDE) {
			uint32_t total = usage_be32(f),
				 hlen = usage_be32(f + 4);

			if (usage_be32(f + 8) != usage_crc(f, 8))
				return usage_fail(r, -EBADMSG,
						  "eventstream prelude CRC");
			if (total > USAGE_MAX_FRAME)
				return usage_fail(r, -ENOBUFS,
						  "an eventstream frame over "
						  "1 MiB");
			if (total < ES_PRELUDE + 4 ||
			    hlen > total - ES_PRELUDE - 4)
				return usage_fail(r, -EBADMSG,
						  "eventstream lengths");
		}
		if (b->len >= ES_PRELUDE && b->len == usage_be32(f)) {
			int e = usage_es_frame(r, f, b->len);

			buf_clear(b);
			if (e < 0)
				return e;
		}
	}
	return 0;
}

/*
 * Pick the framing from the first non-blank byte (an eventstream's first
 * byte is 0 for any frame under 16 MiB: a JSON body there is an error
 * Bedrock sent, read as an Anthropic one, or converse's reply).
 */
static void
usage_pick_framing(struct usage_reader *r, unsigned char c)
{
	if (usage_es_format(r->format) && c != '{') {
		r->framing = FRAMING_ES;
		buf_init(&r->frame, USAGE_MAX_FRAME);
	} else if (c == '{' || c == '[') {
		r->framing = FRAMING_JSON;
		buf_init(&r->js.value, USAGE_MAX_FRAME);
	} else {
		r->framing = FRAMING_SSE;
		sse_parser_init(&r->sse, usage_sse_event, r);
		r->sse.line.limit = USAGE_MAX_FRAME;
		r->sse.data.limit = USAGE_MAX_FRAME;
	}
}

struct usage_reader *
usage_reader_new(enum usage_format format)
{
	struct usage_reader *r = xcalloc(1, sizeof(*r));

	r->format = format;
	return r;
}

int
usage_reader_feed(struct usage_reader *r, const void *data, size_t len)
{
	const unsigned char *p = data;
	int e;

	if (r->err != 0)
		return r->err;
	if (r->framing == FRAMING_UNKNOWN) {
		while (len > 0 && !usage_es_format(r->format) &&
		       (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
			p++;
			len--;
		}
		if (len == 0)
			return 0;
		usage_pick_framing(r, *p);
	}
	switch (r->framing) {
	case FRAMING_SSE:
		e = sse_parser_feed(&r->sse, (const char *)p, len);
		if (e < 0)
			return usage_fail(r, e,
					  "an SSE line or event over "
					  "1 MiB");
		return 0;
	case FRAMING_JSON:
		for (size_t i = 0; i < len; i++)
			if ((e = usage_json_byte(r, (char)p[i])) < 0)
				return e;
		return 0;
	case FRAMING_ES:
		return usage_es_feed(r, p, len);
	case FRAMING_UNKNOWN:
		break;
	}
	BUG();
}

int
usage_reader_finish(struct usage_reader *r, struct usage *out, char **cause)
{
	if (r->err == 0) {
		bool cut = false;

		switch (r->framing) {
		case FRAMING_SSE:
			cut = r->sse.line.len > 0 || r->sse.has_data;
			break;
		case FRAMING_JSON:
			cut = r->js.depth > 0 || r->js.in_str;
			break;
		case FRAMING_ES:
			cut = r->frame.len > 0;
			break;
		case FRAMING_UNKNOWN:
			break;
		}
		if (cut)
			usage_fail(r, -ENOMSG, "the body ended inside a part");
		/* Gemini's streams have no last event of their own */
		else if ((r->framing == FRAMING_SSE ||
			  r->framing == FRAMING_ES) &&
			 r->format != USAGE_GEMINI && !r->ended)
			usage_fail(r, -ENOMSG,
				   "the stream ended before its last event");
	}
	*out = r->u;
	if (cause != NULL)
		*cause = r->err != 0 ? xstrdup(r->cause) : NULL;
	return r->err;
}

size_t
usage_reader_held(const struct usage_reader *r)
{
	size_t n = r->js.value.len + r->frame.len;

	if (r->framing == FRAMING_SSE)
		n += r->sse.line.len + r->sse.event.len + r->sse.data.len;
	return n;
}

void
usage_reader_free(struct usage_reader *r)
{
	if (r == NULL)
		return;
	if (r->framing == FRAMING_SSE)
		sse_parser_release(&r->sse);
	buf_release(&r->js.value);
	buf_release(&r->frame);
	free(r->cause);
	free(r);
}
