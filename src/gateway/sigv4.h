/*
 * sigv4.h: AWS Signature Version 4 (header signing, AWS4-HMAC-SHA256) for
 * the LLM gateway, which signs an agent's unsigned Bedrock requests. Pure:
 * no I/O, the time is passed in.
 *
 * The request is described as it will be sent upstream: the path as it
 * appears on the request line (percent-encoded or not: it is signed as
 * those bytes, encoded once more, which is what non-S3 services such as
 * Bedrock expect; S3 is not supported), the query as sent (decoded and
 * re-encoded in RFC 3986 form for signing; a '+' is a literal plus), the
 * headers to sign (a "host" header is required; "user-agent", "expect" and
 * "x-amzn-trace-id" are left unsigned because intermediaries rewrite
 * them, and the headers sigv4 adds are replaced if given), and the body or
 * its SHA-256 in hex. The result is the headers to add to the request.
 */
#ifndef TASKBOX_SIGV4_H
#define TASKBOX_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#define SIGV4_PATH_MAX	  8192 /* bytes of path, of query */
#define SIGV4_HEADERS_MAX 64   /* headers in a request */
#define SIGV4_VALUE_MAX	  8192 /* bytes of a header value, of a token */

struct sigv4_header {
	const char *name;
	const char *value;
};

struct sigv4_request {
	const char *method;
	const char *path;  /* as sent, no query; "" is "/" */
	const char *query; /* as sent, without '?'; NULL or "" for none */
	const struct sigv4_header *headers;
	size_t nheaders;
	const void *body; /* body_len bytes, read unless body_sha256 */
	size_t body_len;
	const char *body_sha256; /* 64 hex digits, or NULL */
};

struct sigv4_credentials {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token; /* NULL or "" for none */
};

enum sigv4_flags {
	SIGV4_CONTENT_SHA256 = 1 << 0, /* add (and sign) X-Amz-Content-Sha256 */
};

struct sigv4_scope {
	const char *region;  /* us-east-1 */
	const char *service; /* bedrock */
	int64_t time;	     /* seconds since the epoch (UTC) */
	enum sigv4_flags flags;
};

#define SIGV4_ADD_MAX 4

/* What sigv4_sign produces; every string is owned by the struct. */
struct sigv4_signed {
	struct sigv4_header add[SIGV4_ADD_MAX]; /* headers to add, in order */
	size_t nadd;
	char *authorization;
	char amz_date[17];	 /* 20150830T123600Z */
	char content_sha256[65]; /* the payload hash (hex) */
	char *security_token;	 /* NULL without a session token */
	char *canonical_request; /* for tests and debugging */
	char *string_to_sign;	 /* idem */
	char signature[65];
};

/*
 * Sign req with creds for scope into *out (released with
 * sigv4_signed_release; left empty on a failure): 0, or -EINVAL with *cause
 * (a new string) for a request or credentials that cannot be signed
 * (missing host, control bytes in a value, a bad percent-escape in the
 * query, limits passed).
 */
int sigv4_sign(const struct sigv4_request *req,
	       const struct sigv4_credentials *creds,
	       const struct sigv4_scope *scope, struct sigv4_signed *out,
	       char **cause);
/* Free what out holds and zero it. */
void sigv4_signed_release(struct sigv4_signed *out);

/*
 * The canonical URI of path (len bytes, as sent): dot segments and empty
 * segments removed, then every byte but unreserved ones and '/'
 * percent-encoded. Returns a new string, or NULL with *cause past
 * SIGV4_PATH_MAX or for a path that is not empty and does not start
 * with '/' (or holds '?', '#' or a NUL).
 */
char *sigv4_canonical_uri(const char *path, size_t len, char **cause);
/*
 * The canonical query string of query (len bytes, as sent): parameters
 * split on '&' (empty ones dropped) and '=', percent-decoded, re-encoded
 * (RFC 3986 unreserved kept), sorted by name then value. Returns a new
 * string ("" for none), or NULL with *cause for a bad percent-escape, a
 * NUL, or past SIGV4_PATH_MAX.
 */
char *sigv4_canonical_query(const char *query, size_t len, char **cause);

#endif
