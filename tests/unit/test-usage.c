/*
 * test-usage.c: token usage from LLM responses (src/gateway/usage.c).
 *
 * Each API's response, written by hand after the providers' documented
 * shapes, is fed whole, byte by byte and in random chunks: every way must
 * read the same usage. Bedrock eventstream frames are built here by a
 * small encoder with its own bitwise CRC32 and base64 (not the code under
 * test), then broken: a bad CRC, a cut stream, a frame over the bound.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/buf.h"
#include "gateway/usage.h"

/* What one read gave. */
struct got {
	int err;
	struct usage u;
	size_t max_held;
};

/* Feed len bytes in chunks (0: whole, 1: bytes, else random from seed). */
static struct got
feed(enum usage_format fmt, const void *data, size_t len, unsigned mode)
{
	struct usage_reader *r = usage_reader_new(fmt);
	const char *p = data;
	unsigned seed = mode;
	struct got g = {0};
	char *cause = NULL;
	size_t off = 0;

	while (off < len) {
		size_t n = len - off;

		if (mode == 1)
			n = 1;
		else if (mode > 1 && n > 1)
			n = 1 + (size_t)rand_r(&seed) % (n < 300 ? n : 300);
		usage_reader_feed(r, p + off, n);
		if (usage_reader_held(r) > g.max_held)
			g.max_held = usage_reader_held(r);
		off += n;
	}
	g.err = usage_reader_finish(r, &g.u, &cause);
	assert_true((g.err == 0) == (cause == NULL));
	free(cause);
	usage_reader_free(r);
	return g;
}

/* Read data every way; all must agree; returns the whole read. */
static struct got
read_all(enum usage_format fmt, const void *data, size_t len)
{
	struct got whole = feed(fmt, data, len, 0);

	for (unsigned mode = 1; mode < 12; mode++) {
		struct got g = feed(fmt, data, len, mode);

		assert_int_equal(g.err, whole.err);
		assert_memory_equal(&g.u, &whole.u, sizeof(g.u));
	}
	assert_true(whole.max_held <= USAGE_MAX_HELD);
	return whole;
}

/* Expect these counts and model from a read. */
static void
expect(struct got g, int err, uint64_t in, uint64_t out, uint64_t cread,
       uint64_t cwrite, const char *model)
{
	assert_int_equal(g.err, err);
	assert_int_equal(g.u.requests, in + out > 0 ? 1 : 0);
	assert_int_equal(g.u.input_tokens, in);
	assert_int_equal(g.u.output_tokens, out);
	assert_int_equal(g.u.cache_read_input_tokens, cread);
	assert_int_equal(g.u.cache_creation_input_tokens, cwrite);
	assert_string_equal(g.u.model, model);
}

#define READ(fmt, s) read_all(fmt, s, strlen(s))

/* Anthropic Messages, non-streamed; a decoy `usage` inside the content. */
static void
test_anthropic_json(void **state)
{
	const char *body =
		"{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\","
		"\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-"
		"20250929\","
		"\"content\":[{\"type\":\"text\",\"text\":\"a \\\"usage\\\": "
		"{\\\"input_tokens\\\": 9} }]\"},{\"type\":\"tool_use\","
		"\"id\":\"toolu_1\",\"name\":\"get\",\"input\":{\"usage\":"
		"{\"input_tokens\":999},\"model\":\"no\"}}],\n"
		"  \"stop_reason\": \"tool_use\", \"stop_sequence\": null,\n"
		"  \"usage\" : { \"input_tokens\": 2095,"
		" \"cache_creation_input_tokens\": 12,"
		" \"cache_read_input_tokens\": 1024, \"output_tokens\": 503,"
		" \"service_tier\": \"standard\" } }\n";

	expect(READ(USAGE_ANTHROPIC, body), 0, 2095, 503, 1024, 12,
	       "claude-sonnet-4-5-20250929");
}

static const char anthropic_sse[] =
	"event: message_start\n"
	"data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
	"\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
	"\"model\":\"claude-opus-4-1-20250805\",\"stop_reason\":null,"
	"\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,"
	"\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":2000,"
	"\"output_tokens\":2}}}\n\n"
	"event: content_block_start\n"
	"data: {\"type\":\"content_block_start\",\"index\":0,"
	"\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
	"event: ping\ndata: {\"type\": \"ping\"}\n\n"
	"event: content_block_delta\n"
	"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
	"{\"type\":\"text_delta\",\"text\":\"Hello \\\"usage\\\"\"}}\n\n"
	"event: content_block_stop\n"
	"data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
	"event: message_delta\n"
	"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
	"\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}"
	"\n\n"
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/* Anthropic Messages streamed: message_start, then the cumulative delta. */
static void
test_anthropic_sse(void **state)
{
	const char *model = "claude-opus-4-1-20250805";
	size_t n = strlen(anthropic_sse);
	struct buf b;

	expect(READ(USAGE_ANTHROPIC, anthropic_sse), 0, 472, 15, 2000, 100,
	       model);
	/* cut after message_delta (an event boundary): its figures, flagged */
	expect(read_all(USAGE_ANTHROPIC, anthropic_sse,
			strstr(anthropic_sse, "event: message_stop") -
				anthropic_sse),
	       -ENOMSG, 472, 15, 2000, 100, model);
	/* cut inside the delta's data line: the start's figures */
	expect(read_all(USAGE_ANTHROPIC, anthropic_sse,
			strstr(anthropic_sse, "\"output_tokens\":15") -
				anthropic_sse),
	       -ENOMSG, 472, 2, 2000, 100, model);
	/* content events are not read, whatever their data says */
	buf_init(&b, 0);
	buf_append(&b, anthropic_sse, n);
	buf_puts(&b, "event: content_block_delta\ndata: {\"type\":"
		     "\"message_delta\",\"usage\":{\"output_tokens\":99}}\n\n");
	expect(read_all(USAGE_ANTHROPIC, b.data, b.len), 0, 472, 15, 2000, 100,
	       model);
	buf_release(&b);
}

/* Chat Completions: cached tokens come out of prompt_tokens. */
static void
test_openai_chat(void **state)
{
	const char *body =
		"{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":"
		"\"chat.completion\",\"created\":1741570283,\"model\":"
		"\"gpt-4.1-2025-04-14\",\"choices\":[{\"index\":0,\"message\":{"
		"\"role\":\"assistant\",\"content\":\"Hi\",\"refusal\":null,"
		"\"annotations\":[]},\"logprobs\":null,\"finish_reason\":"
		"\"stop\"}],\"usage\":{\"prompt_tokens\":1200,"
		"\"completion_tokens\":10,\"total_tokens\":1210,"
		"\"prompt_tokens_details\":{\"cached_tokens\":1024,"
		"\"audio_tokens\":0},\"completion_tokens_details\":{"
		"\"reasoning_tokens\":0}},\"service_tier\":\"default\"}";
	const char *sse =
		"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
		"\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\","
		"\"choices\":"
		"[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
		"\"\"},\"finish_reason\":null}],\"usage\":null}\r\n\r\n"
		"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
		"\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\","
		"\"choices\":"
		"[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_"
		"reason\":"
		"null}],\"usage\":null}\r\n\r\n"
		": keepalive\r\n\r\n"
		"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
		"\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\","
		"\"choices\":"
		"[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":3,"
		"\"total_tokens\":23,\"prompt_tokens_details\":{"
		"\"cached_tokens\":0}}}\r\n\r\n"
		"data: [DONE]\r\n\r\n";

	expect(READ(USAGE_OPENAI_CHAT, body), 0, 176, 10, 1024, 0,
	       "gpt-4.1-2025-04-14");
	expect(READ(USAGE_OPENAI_CHAT, sse), 0, 20, 3, 0, 0,
	       "gpt-4o-mini-2024-07-18");
	expect(read_all(USAGE_OPENAI_CHAT, sse,
			strstr(sse, "data: [DONE]") - sse),
	       -ENOMSG, 20, 3, 0, 0, "gpt-4o-mini-2024-07-18");
}

/* Responses API: usage in the body, or in response.completed. */
static void
test_openai_responses(void **state)
{
	const char *body =
		"{\"id\":\"resp_67ccd2bed1ec8190\",\"object\":\"response\","
		"\"created_at\":1741476542,\"status\":\"completed\",\"error\":"
		"null,\"model\":\"gpt-4.1-2025-04-14\",\"output\":[{\"type\":"
		"\"message\",\"id\":\"msg_1\",\"status\":\"completed\","
		"\"role\":"
		"\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":"
		"\"Hi\",\"annotations\":[]}]}],\"usage\":{\"input_tokens\":328,"
		"\"input_tokens_details\":{\"cached_tokens\":128},"
		"\"output_tokens\":52,\"output_tokens_details\":{"
		"\"reasoning_tokens\":0},\"total_tokens\":380}}";
	const char *sse =
		"event: response.created\n"
		"data: {\"type\":\"response.created\",\"sequence_number\":0,"
		"\"response\":{\"id\":\"resp_1\",\"object\":\"response\","
		"\"status\":\"in_progress\",\"model\":\"o4-mini-2025-04-16\","
		"\"output\":[],\"usage\":null}}\n\n"
		"event: response.output_text.delta\n"
		"data: {\"type\":\"response.output_text.delta\",\"item_id\":"
		"\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":"
		"\"Hi\",\"sequence_number\":4}\n\n"
		"event: response.completed\n"
		"data: {\"type\":\"response.completed\",\"sequence_number\":9,"
		"\"response\":{\"id\":\"resp_1\",\"object\":\"response\","
		"\"status\":\"completed\",\"model\":\"o4-mini-2025-04-16\","
		"\"output\":[],\"usage\":{\"input_tokens\":37,"
		"\"input_tokens_details\":{\"cached_tokens\":0},"
		"\"output_tokens\":11,\"output_tokens_details\":{"
		"\"reasoning_tokens\":64},\"total_tokens\":48}}}\n\n";

	expect(READ(USAGE_OPENAI_RESPONSES, body), 0, 200, 52, 128, 0,
	       "gpt-4.1-2025-04-14");
	expect(READ(USAGE_OPENAI_RESPONSES, sse), 0, 37, 11, 0, 0,
	       "o4-mini-2025-04-16");
}

#define GEMINI_CHUNK(text, prompt, cand, thoughts)                             \
	"{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" text          \
	"\"}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{"           \
	"\"promptTokenCount\":" #prompt ",\"candidatesTokenCount\":" #cand     \
	",\"totalTokenCount\":999,\"cachedContentTokenCount\":40,"             \
	"\"thoughtsTokenCount\":" #thoughts "},\"modelVersion\":"              \
	"\"gemini-2.5-flash\",\"responseId\":\"x1\"}"

/* Gemini: one JSON, alt=sse chunks, the streamed JSON array. */
static void
test_gemini(void **state)
{
	const char *sse = "data: " GEMINI_CHUNK(
		"Hel", 100, 1, 30) "\r\n\r\n"
				   "data: " GEMINI_CHUNK("lo", 100, 20,
							 30) "\r\n\r\n";
	const char *array = "[" GEMINI_CHUNK(
		"Hel", 100, 1, 0) ",\r\n" GEMINI_CHUNK("lo", 100, 20, 0) "]";
	const char *cut = "[" GEMINI_CHUNK(
		"Hel", 100, 1,
		0) ",\r\n"
		   "{\"candidates\":[{\"content\":{\"parts\":[{\"te";

	expect(READ(USAGE_GEMINI, GEMINI_CHUNK("Hi", 100, 20, 30)), 0, 60, 50,
	       40, 0, "gemini-2.5-flash");
	expect(READ(USAGE_GEMINI, sse), 0, 60, 50, 40, 0, "gemini-2.5-flash");
	expect(READ(USAGE_GEMINI, array), 0, 60, 20, 40, 0, "gemini-2.5-flash");
	expect(READ(USAGE_GEMINI, cut), -ENOMSG, 60, 1, 40, 0,
	       "gemini-2.5-flash");
}

/* The test's own CRC32 (IEEE, reflected 0xEDB88320), bit by bit. */
static uint32_t
test_crc32(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
	}
	return ~c;
}

/* The test's own base64 (standard alphabet, padded). */
static void
test_base64(struct buf *out, const char *s, size_t n)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
		"wxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		char q[4];

		v |= i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0;
		v |= i + 2 < n ? p[i + 2] : 0;
		q[0] = a[v >> 18 & 63];
		q[1] = a[v >> 12 & 63];
		q[2] = i + 1 < n ? a[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? a[v & 63] : '=';
		buf_append(out, q, 4);
	}
}

/* Append a big-endian u32. */
static void
put32(struct buf *b, uint32_t v)
{
	unsigned char q[4] = {v >> 24, v >> 16, v >> 8, v};

	buf_append(b, q, 4);
}

/* Append a string header (type 7). */
static void
put_header(struct buf *b, const char *name, const char *value)
{
	unsigned char n = (unsigned char)strlen(name), t = 7;
	unsigned char l[2] = {strlen(value) >> 8, strlen(value) & 0xff};

	buf_append(b, &n, 1);
	buf_append(b, name, n);
	buf_append(b, &t, 1);
	buf_append(b, l, 2);
	buf_append(b, value, strlen(value));
}

/* Append one eventstream frame of event type etype, message type mtype
 * ("event"/"exception"), a payload. */
static void
put_event(struct buf *out, const char *etype, const char *mtype,
	  const char *payload, size_t plen)
{
	struct buf h, f;

	buf_init(&h, 0);
	buf_init(&f, 0);
	put_header(&h, ":event-type", etype);
	put_header(&h, ":content-type", "application/json");
	/* a header of another type (a bool true) to step over */
	buf_append(&h, "\x05:flag\x00", 7);
	put_header(&h, ":message-type", mtype);
	put32(&f, (uint32_t)(12 + h.len + plen + 4));
	put32(&f, (uint32_t)h.len);
	put32(&f, test_crc32((unsigned char *)f.data, 8));
	buf_append(&f, h.data, h.len);
	buf_append(&f, payload, plen);
	put32(&f, test_crc32((unsigned char *)f.data, f.len));
	buf_append(out, f.data, f.len);
	buf_release(&h);
	buf_release(&f);
}

/* Append one invoke-with-response-stream frame (event type chunk). */
static void
put_frame(struct buf *out, const char *mtype, const char *payload, size_t plen)
{
	put_event(out, "chunk", mtype, payload, plen);
}

/* Append a Bedrock chunk frame carrying one Anthropic event. */
static void
put_chunk(struct buf *out, const char *event)
{
	struct buf p;

	buf_init(&p, 0);
	buf_puts(&p, "{\"bytes\":\"");
	test_base64(&p, event, strlen(event));
	buf_puts(&p, "\",\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO\"}");
	put_frame(out, "event", p.data, p.len);
	buf_release(&p);
}

/* A Bedrock stream; *delta_at gets the offset of the message_delta frame. */
static void
bedrock_stream(struct buf *out, size_t *delta_at)
{
	put_chunk(out, "{\"type\":\"message_start\",\"message\":{\"id\":"
		       "\"msg_bdrk_1\",\"type\":\"message\",\"role\":"
		       "\"assistant\",\"model\":\"claude-3-5-haiku-20241022\","
		       "\"content\":[],\"stop_reason\":null,\"usage\":{"
		       "\"input_tokens\":25,\"cache_creation_input_tokens\":0,"
		       "\"cache_read_input_tokens\":7,\"output_tokens\":1}}}");
	put_chunk(out, "{\"type\":\"content_block_delta\",\"index\":0,"
		       "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}");
	put_frame(out, "exception",
		  "{\"message\":\"not counted, not an error\"}", 40);
	*delta_at = out->len;
	put_chunk(out, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
		       "\"end_turn\"},\"usage\":{\"output_tokens\":12}}");
	put_chunk(out, "{\"type\":\"message_stop\","
		       "\"amazon-bedrock-invocationMetrics\":{"
		       "\"inputTokenCount\":25,\"outputTokenCount\":12,"
		       "\"invocationLatency\":512,\"firstByteLatency\":300}}");
}

/* Bedrock eventstream: whole, bad CRCs, cut, a frame over the bound. */
static void
test_bedrock(void **state)
{
	const char *model = "claude-3-5-haiku-20241022";
	struct buf s, big;
	size_t at;

	buf_init(&s, 0);
	bedrock_stream(&s, &at);
	expect(read_all(USAGE_BEDROCK_EVENTSTREAM, s.data, s.len), 0, 25, 12, 7,
	       0, model);
	/* cut inside the message_delta frame: the start's figures */
	expect(read_all(USAGE_BEDROCK_EVENTSTREAM, s.data, at + 30), -ENOMSG,
	       25, 1, 7, 0, model);
	/* a payload byte of the message_delta frame flipped */
	s.data[at + 120] ^= 0x20;
	expect(read_all(USAGE_BEDROCK_EVENTSTREAM, s.data, s.len), -EBADMSG, 25,
	       1, 7, 0, model);
	s.data[at + 120] ^= 0x20;
	/* its prelude CRC */
	s.data[at + 9] ^= 1;
	expect(read_all(USAGE_BEDROCK_EVENTSTREAM, s.data, s.len), -EBADMSG, 25,
	       1, 7, 0, model);
	s.data[at + 9] ^= 1;
	/* Bedrock's error (or invoke) body on a streamed call: JSON */
	expect(READ(USAGE_BEDROCK_EVENTSTREAM,
		    "{\"message\":\"Too many requests\"}"),
	       0, 0, 0, 0, 0, "");
	expect(READ(USAGE_BEDROCK_EVENTSTREAM,
		    "{\"model\":\"claude-3-5-haiku-20241022\",\"usage\":{"
		    "\"input_tokens\":25,\"output_tokens\":12,"
		    "\"cache_read_input_tokens\":7}}"),
	       0, 25, 12, 7, 0, model);
	/* a frame of 2 MiB (a valid one) */
	buf_init(&big, 0);
	buf_append(&big, s.data, at);
	{
		char *pad = xmalloc(2u << 20);

		memset(pad, ' ', 2u << 20);
		put_frame(&big, "event", pad, 2u << 20);
		free(pad);
	}
	expect(read_all(USAGE_BEDROCK_EVENTSTREAM, big.data, big.len), -ENOBUFS,
	       25, 1, 7, 0, model);
	buf_release(&big);
	buf_release(&s);
}

/* Append a converse-stream event: its payload is the event's JSON. */
static void
put_conv(struct buf *out, const char *etype, const char *json)
{
	put_event(out, etype, "event", json, strlen(json));
}

/* A converse-stream reply as Bedrock sends it (each payload padded with
 * "p"); *meta_at gets the offset of the metadata frame. */
static void
converse_stream(struct buf *out, size_t *meta_at)
{
	put_conv(out, "messageStart",
		 "{\"p\":\"abcd\",\"role\":\"assistant\"}");
	put_conv(out, "contentBlockDelta",
		 "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"{\\\"usage\\\""
		 ":{\\\"inputTokens\\\":9}}\"},\"p\":\"abcdefgh\"}");
	put_conv(out, "contentBlockStop", "{\"contentBlockIndex\":0}");
	/* an invoke chunk here is none of converse's: not read */
	put_chunk(out, "{\"type\":\"message_delta\",\"usage\":{"
		       "\"output_tokens\":99}}");
	put_conv(out, "messageStop", "{\"stopReason\":\"end_turn\"}");
	*meta_at = out->len;
	put_conv(out, "metadata",
		 "{\"usage\":{\"inputTokens\":25,\"outputTokens\":12,"
		 "\"totalTokens\":2137,\"cacheReadInputTokens\":2000,"
		 "\"cacheWriteInputTokens\":100},\"metrics\":{"
		 "\"latencyMs\":912},\"p\":\"abcdefghijklmnop\"}");
}

/* Bedrock Converse: converse's JSON (cache figures outside inputTokens,
 * or inside it as totalTokens tells), converse-stream's metadata event,
 * cut and broken streams, errors. The model is the path's (not here). */
static void
test_converse(void **state)
{
	struct buf s;
	size_t at;

	expect(READ(USAGE_BEDROCK_CONVERSE,
		    "{\"output\":{\"message\":{\"role\":\"assistant\","
		    "\"content\":[{\"toolUse\":{\"toolUseId\":\"t1\",\"name\":"
		    "\"x\",\"input\":{\"usage\":{\"inputTokens\":999}}}},"
		    "{\"text\":\"\\\"usage\\\": {}\"}]}},\"stopReason\":"
		    "\"tool_use\",\n \"usage\": {\"inputTokens\": 25,"
		    " \"outputTokens\": 12, \"totalTokens\": 2137,"
		    " \"cacheReadInputTokens\": 2000,"
		    " \"cacheWriteInputTokens\": 100},"
		    " \"metrics\": {\"latencyMs\": 1275}}\n"),
	       0, 25, 12, 2000, 100, "");
	/* inputTokens counting the cache: totalTokens is in + out */
	expect(READ(USAGE_BEDROCK_CONVERSE,
		    "{\"usage\":{\"inputTokens\":2125,\"outputTokens\":12,"
		    "\"totalTokens\":2137,\"cacheReadInputTokens\":2000,"
		    "\"cacheWriteInputTokens\":100}}"),
	       0, 25, 12, 2000, 100, "");
	/* no cache, no totalTokens */
	expect(READ(USAGE_BEDROCK_CONVERSE,
		    "{\"usage\":{\"inputTokens\":30,\"outputTokens\":628}}"),
	       0, 30, 628, 0, 0, "");
	/* Bedrock's error body */
	expect(READ(USAGE_BEDROCK_CONVERSE,
		    "{\"message\":\"The security token included in the "
		    "request is invalid.\"}"),
	       0, 0, 0, 0, 0, "");

	buf_init(&s, 0);
	converse_stream(&s, &at);
	expect(read_all(USAGE_BEDROCK_CONVERSE, s.data, s.len), 0, 25, 12, 2000,
	       100, "");
	/* cut before or inside the metadata event: its last event missing */
	expect(read_all(USAGE_BEDROCK_CONVERSE, s.data, at), -ENOMSG, 0, 0, 0,
	       0, "");
	expect(read_all(USAGE_BEDROCK_CONVERSE, s.data, at + 40), -ENOMSG, 0, 0,
	       0, 0, "");
	/* a payload byte of the metadata frame flipped */
	s.data[at + 110] ^= 0x01;
	expect(read_all(USAGE_BEDROCK_CONVERSE, s.data, s.len), -EBADMSG, 0, 0,
	       0, 0, "");
	s.data[at + 110] ^= 0x01;
	/* the same stream read as invoke's: its chunk only, no last event */
	expect(read_all(USAGE_BEDROCK_EVENTSTREAM, s.data, s.len), -ENOMSG, 0,
	       99, 0, 0, "");
	/* a throttling exception mid-stream, then nothing */
	buf_clear(&s);
	put_conv(&s, "messageStart", "{\"role\":\"assistant\"}");
	put_event(&s, "throttlingException", "exception",
		  "{\"message\":\"Too many tokens\"}", 29);
	expect(read_all(USAGE_BEDROCK_CONVERSE, s.data, s.len), -ENOMSG, 0, 0,
	       0, 0, "");
	buf_release(&s);
}

/* Lines and values over the bound give up; a big body does not. */
static void
test_bounds(void **state)
{
	size_t n = USAGE_MAX_FRAME + 10;
	struct buf b;

	/* an SSE line over 1 MiB, then a good event: given up, bounded */
	buf_init(&b, 0);
	buf_puts(&b, anthropic_sse);
	buf_puts(&b, "data: {\"type\":\"content_block_delta\",\"x\":\"");
	for (size_t i = 0; i < n; i++)
		buf_append(&b, "a", 1);
	buf_puts(&b, "\"}\n\n");
	buf_puts(&b, "data: {\"type\":\"message_delta\",\"usage\":"
		     "{\"output_tokens\":99}}\n\n");
	expect(read_all(USAGE_ANTHROPIC, b.data, b.len), -ENOBUFS, 472, 15,
	       2000, 100, "claude-opus-4-1-20250805");
	buf_release(&b);

	/* a 3 MiB text in a JSON body is not kept: usage read */
	buf_init(&b, 0);
	buf_puts(&b, "{\"model\":\"m\",\"content\":[{\"text\":\"");
	for (size_t i = 0; i < 3 * n; i++)
		buf_append(&b, i % 7 ? "x" : "\\\"", i % 7 ? 1 : 2);
	buf_puts(&b,
		 "\"}],\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}");
	{
		struct got g = read_all(USAGE_ANTHROPIC, b.data, b.len);

		expect(g, 0, 3, 4, 0, 0, "m");
		assert_true(g.max_held < 100);
	}
	buf_release(&b);

	/* a usage value over 1 MiB: given up */
	buf_init(&b, 0);
	buf_puts(&b, "{\"model\":\"m\",\"usage\":{\"pad\":\"");
	for (size_t i = 0; i < n; i++)
		buf_append(&b, "y", 1);
	buf_puts(&b, "\",\"input_tokens\":3}}");
	expect(read_all(USAGE_ANTHROPIC, b.data, b.len), -ENOBUFS, 0, 0, 0, 0,
	       "m");
	buf_release(&b);
}

/* Empty, blank, cut and garbage bodies: no usage, no crash. */
static void
test_odd_bodies(void **state)
{
	expect(READ(USAGE_ANTHROPIC, ""), 0, 0, 0, 0, 0, "");
	expect(READ(USAGE_OPENAI_CHAT, " \r\n"), 0, 0, 0, 0, 0, "");
	expect(READ(USAGE_ANTHROPIC, "{\"type\":\"error\",\"error\":{\"type\":"
				     "\"overloaded_error\",\"message\":"
				     "\"Overloaded\"}}"),
	       0, 0, 0, 0, 0, "");
	expect(READ(USAGE_OPENAI_RESPONSES, "data: {\"type\":\"response.comp"),
	       -ENOMSG, 0, 0, 0, 0, "");
	/* a key longer than the scanner keeps (a fuzz finding) */
	expect(READ(USAGE_ANTHROPIC,
		    "{\"usage_and_a_key_of_more_than_32_bytes\""
		    ":{\"input_tokens\":1},\"usage\":{"
		    "\"input_tokens\":2}}"),
	       0, 2, 0, 0, 0, "");
	/* not `{` or `[` first: read as SSE, a line never ended */
	expect(READ(USAGE_GEMINI, "}}]]{\"usageMetadata\":7}"), -ENOMSG, 0, 0,
	       0, 0, "");
	expect(READ(USAGE_GEMINI, "{\"a\":1}}]{\"usageMetadata\":{}}"),
	       -EBADMSG, 0, 0, 0, 0, "");
	expect(read_all(USAGE_BEDROCK_EVENTSTREAM, "\0\0\0\x10\0\0\0\0junkjunk",
			16),
	       -EBADMSG, 0, 0, 0, 0, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anthropic_json),
		cmocka_unit_test(test_anthropic_sse),
		cmocka_unit_test(test_openai_chat),
		cmocka_unit_test(test_openai_responses),
		cmocka_unit_test(test_gemini),
		cmocka_unit_test(test_bedrock),
		cmocka_unit_test(test_converse),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_odd_bodies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
