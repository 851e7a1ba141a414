/*
 * usage.h: token usage read from an LLM response as it streams past.
 *
 * The gateway feeds a response body through a usage reader in whatever
 * chunks the network gives, and forwards the same bytes unchanged; the
 * reader keeps a bounded state (one SSE line and event, one eventstream
 * frame, or one captured JSON value: USAGE_MAX_FRAME bytes at most), never
 * the response. Past the bound it gives up on that response and says so.
 */
#ifndef TASKBOX_GATEWAY_USAGE_H
#define TASKBOX_GATEWAY_USAGE_H

#include <stdint.h>

/*
 * The API a response comes from. For the first four the body may be a
 * JSON document or an SSE stream (told apart by its first byte: `{` or
 * `[` is JSON). Bedrock's non-streamed invoke body is an Anthropic
 * Messages JSON: read it as USAGE_ANTHROPIC. USAGE_BEDROCK_CONVERSE reads
 * both Converse replies: the JSON of converse (a body starting with `{`)
 * and the eventstream of converse-stream (anything else).
 */
enum usage_format {
	USAGE_ANTHROPIC,	   /* Messages API */
	USAGE_OPENAI_CHAT,	   /* Chat Completions */
	USAGE_OPENAI_RESPONSES,	   /* Responses API */
	USAGE_GEMINI,		   /* generateContent, streamGenerateContent */
	USAGE_BEDROCK_EVENTSTREAM, /* invoke-with-response-stream */
	USAGE_BEDROCK_CONVERSE,	   /* converse, converse-stream */
};

#define USAGE_MAX_FRAME (1u << 20)
#define USAGE_MODEL_MAX 128

/*
 * Counts under Anthropic's names: input_tokens excludes cache reads and
 * writes (other APIs count cached tokens inside their prompt figure; the
 * reader subtracts them), output_tokens includes thinking.
 */
struct usage {
	uint64_t requests; /* 1 once a usage figure was read, else 0 */
	uint64_t input_tokens;
	uint64_t output_tokens;
	uint64_t cache_read_input_tokens;
	uint64_t cache_creation_input_tokens;
	char model[USAGE_MODEL_MAX]; /* the last model name seen, or "" */
};

struct usage_reader;

/* A new reader for one response body; free with usage_reader_free(). */
struct usage_reader *usage_reader_new(enum usage_format format);

/*
 * Feed the next len bytes of the body (any chunking). Returns 0, or the
 * negative errno of the failure that made the reader give up (it then
 * ignores further bytes): -ENOBUFS past USAGE_MAX_FRAME, -EBADMSG on a
 * broken frame (an eventstream CRC, a bad length).
 */
int usage_reader_feed(struct usage_reader *r, const void *data, size_t len);

/*
 * End of the body: fill *out with what the complete parts said. Returns
 * 0 for a clean end, else the first failure: the feed errors above, or
 * -ENOMSG when the body ended inside a line, frame or JSON value, or a
 * stream before its last event (message_stop, [DONE], response.completed
 * or .incomplete or .failed; Gemini has none); *cause
 * (when not NULL) gets a new string saying why, which the caller frees.
 */
int usage_reader_finish(struct usage_reader *r, struct usage *out,
			char **cause);

/*
 * Bytes r holds now (line, event, frame or captured value): never more
 * than USAGE_MAX_HELD, whatever was fed.
 */
size_t usage_reader_held(const struct usage_reader *r);
#define USAGE_MAX_HELD (2 * USAGE_MAX_FRAME + 256)

/* Free r (NULL is fine). */
void usage_reader_free(struct usage_reader *r);

#endif
