/*
 * gauth.h: the pure parts of Google service-account authentication (the
 * OAuth 2.0 JWT-bearer grant, RFC 7523, as Google documents it for
 * service accounts): the key file, the signed assertion, the token
 * request's body and the token endpoint's reply. No I/O: the caller
 * reads the key file, posts the body to gauth_key_token_uri() and passes
 * the reply and the time (seconds since the epoch) in.
 */
#ifndef TASKBOX_GAUTH_H
#define TASKBOX_GAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GAUTH_SCOPE	     "https://www.googleapis.com/auth/cloud-platform"
#define GAUTH_LIFETIME	     3600	 /* the assertion's exp - iat, s */
#define GAUTH_KEY_FILE_MAX   (64 * 1024) /* a key file's bytes */
#define GAUTH_REPLY_MAX	     (64 * 1024) /* a token reply's bytes */
#define GAUTH_TOKEN_MAX	     4096	 /* an access token's bytes */
#define GAUTH_EXPIRES_MAX    86400	 /* the longest expires_in taken */
#define GAUTH_REFRESH_MARGIN 300	 /* refresh this long before expiry */

/* A parsed service-account key: the RSA key and the strings around it. */
struct gauth_key;

/* A token from the endpoint, with absolute times (s since the epoch). */
struct gauth_token {
	char *access_token; /* printable ASCII, wiped by gauth_token_clear */
	int64_t expires_at; /* when Google stops taking it */
	int64_t refresh_at; /* when to ask for the next one */
};

/*
 * Parse a service-account key file's text (len bytes, at most
 * GAUTH_KEY_FILE_MAX): type "service_account", client_email, private_key
 * (PEM, PKCS#8, RSA of at least 2048 bits), private_key_id, token_uri
 * (https) and project_id are required. Returns 0 and a new key in *out,
 * or -EINVAL (-E2BIG past the limit) with a new *cause that never holds
 * the key. The caller still owns (and should wipe) text.
 */
int gauth_key_parse(const char *text, size_t len, struct gauth_key **out,
		    char **cause);
/* Free k (NULL is fine), wiping its key material. */
void gauth_key_free(struct gauth_key *k);
/* The key's strings, owned by k. */
const char *gauth_key_email(const struct gauth_key *k);
const char *gauth_key_id(const struct gauth_key *k);
const char *gauth_key_token_uri(const struct gauth_key *k);
const char *gauth_key_project(const struct gauth_key *k);

/*
 * The signed assertion for k at now: header {alg RS256, typ JWT, kid},
 * claims {iss, scope, aud, iat now, exp now + GAUTH_LIFETIME}, each
 * base64url without padding, signed RS256. Returns 0 and a new string in
 * *out, or -EINVAL (now out of range) / -EIO (OpenSSL) with a new *cause.
 */
int gauth_assertion(const struct gauth_key *k, int64_t now, char **out,
		    char **cause);
/* The token request's body (application/x-www-form-urlencoded) for
 * assertion; returns a new string. */
char *gauth_token_body(const char *assertion);

/*
 * Parse the token endpoint's reply (len bytes, at most GAUTH_REPLY_MAX)
 * received at now: {access_token, expires_in, token_type "Bearer"} fills
 * *tok (released with gauth_token_clear) and returns 0; an error reply
 * {error, error_description} returns -EACCES, anything else -EINVAL
 * (-E2BIG past the limit), each with a new *cause.
 */
int gauth_token_parse(const char *body, size_t len, int64_t now,
		      struct gauth_token *tok, char **cause);
/* Whether tok is still good to use at now (before its refresh time). */
bool gauth_token_fresh(const struct gauth_token *tok, int64_t now);
/* Wipe and free tok's token; tok reads as empty (never fresh) after. */
void gauth_token_clear(struct gauth_token *tok);

#endif
