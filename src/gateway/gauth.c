/*
 * gauth.c: Google service-account authentication, the pure parts
 * (gauth.h).
 *
 * Data model: a struct gauth_key holds the service account's RSA key as
 * an OpenSSL EVP_PKEY (OpenSSL clears its private numbers when it is
 * freed) and four checked strings (client_email, private_key_id,
 * token_uri, project_id). The key file's PEM text lives only in the
 * caller's buffer and in jansson's parse tree, which is wiped with
 * OPENSSL_cleanse before it is released; no message ever quotes it (nor
 * jansson's own error text, which can quote the input). An assertion is
 * built fresh each time from the key and the time the caller passes:
 * JSON header and claims (jansson, compact), base64url without padding,
 * an RS256 signature (EVP_DigestSign, SHA-256, PKCS#1 v1.5). A token
 * reply becomes a struct gauth_token: the access token (printable ASCII,
 * it goes into an Authorization header) and two absolute times, when it
 * expires and when to refresh it (GAUTH_REFRESH_MARGIN before, or half
 * its life for a short one); its text is wiped when cleared.
 */
#include "common.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gateway/gauth.h"

#define PEM_BEGIN    "-----BEGIN PRIVATE KEY-----"
#define PEM_END	     "-----END PRIVATE KEY-----"
#define RSA_BITS_MIN 2048
#define RSA_BITS_MAX 8192
/* the last second whose assertion still expires before year 10000 */
#define TIME_MAX (INT64_C(253402300799) - GAUTH_LIFETIME)

struct gauth_key {
	EVP_PKEY *pkey;
	char *email;
	char *id;
	char *token_uri;
	char *project;
};

/* The characters a field may hold: 1 when c fits. */
typedef int (*gauth_char_ok)(int c);

/* Printable ASCII without space. */
static int
char_visible(int c)
{
	return c > 0x20 && c < 0x7f;
}

/* A key id: letters, digits, '-' and '_'. */
static int
char_key_id(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A project id: lower-case letters, digits, '-', and '.' ':' of the
 * older domain-scoped ids. */
static int
char_project(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == ':';
}

/* Wipe a JSON string's bytes in place (jansson frees without wiping). */
static void
json_string_wipe(json_t *s)
{
	if (json_is_string(s))
		OPENSSL_cleanse((char *)json_string_value(s),
				json_string_length(s));
}

/*
 * The string member name of o, 1..max bytes, each passing ok (NULL: any
 * byte but NUL). Returns it (owned by o), or NULL with a new *cause.
 */
static const char *
json_field(json_t *o, const char *what, const char *name, size_t max,
	   gauth_char_ok ok, char **cause)
{
	json_t *v = json_object_get(o, name);
	const char *s;
	size_t len;

	if (!v) {
		*cause = xasprintf("%s: '%s' is missing", what, name);
		return NULL;
	}
	if (!json_is_string(v)) {
		*cause = xasprintf("%s: '%s' is not a string", what, name);
		return NULL;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0 || len > max || strlen(s) != len) {
		*cause = xasprintf("%s: '%s' is empty, too long or holds NUL",
				   what, name);
		return NULL;
	}
	for (size_t i = 0; ok && i < len; i++) {
		if (!ok((unsigned char)s[i])) {
			*cause = xasprintf("%s: '%s' holds a character not "
					   "allowed there",
					   what, name);
			return NULL;
		}
	}
	return s;
}

/* A password callback that gives none (a key file's key is never
 * encrypted; OpenSSL's default would read the terminal). */
static int
no_password(char *buf UNUSED, int size UNUSED, int rw UNUSED, void *u UNUSED)
{
	return -1;
}

/* Whether pkey signs a test message and its own public half verifies it
 * (a damaged key can decode and be wrong). */
static bool
key_signs(EVP_PKEY *pkey)
{
	static const unsigned char msg[] = "taskbox gauth key check";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t siglen = 0;
	bool ok = false;

	if (!ctx)
		fatal("out of memory");
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, msg, sizeof(msg)) != 1)
		goto out;
	sig = xmalloc(siglen);
	if (EVP_DigestSign(ctx, sig, &siglen, msg, sizeof(msg)) != 1)
		goto out;
	EVP_MD_CTX_reset(ctx);
	ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	     EVP_DigestVerify(ctx, sig, siglen, msg, sizeof(msg)) == 1;
out:
	ERR_clear_error();
	free(sig);
	EVP_MD_CTX_free(ctx);
	return ok;
}

/*
 * The RSA key in pem (a PKCS#8 "PRIVATE KEY" block, whitespace around
 * it only). Returns a new EVP_PKEY, or NULL with a new *cause.
 */
static EVP_PKEY *
key_from_pem(const char *pem, size_t len, char **cause)
{
	const char *end;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	int bits;

	while (len > 0 && strchr(" \t\r\n", *pem)) {
		pem++;
		len--;
	}
	end = memmem(pem, len, PEM_END, strlen(PEM_END));
	if (len < strlen(PEM_BEGIN) ||
	    memcmp(pem, PEM_BEGIN, strlen(PEM_BEGIN)) != 0 || !end) {
		*cause = xstrdup("key file: 'private_key' is not a PEM "
				 "PKCS#8 private key (BEGIN PRIVATE KEY)");
		return NULL;
	}
	for (const char *p = end + strlen(PEM_END); p < pem + len; p++) {
		if (!strchr(" \t\r\n", *p)) {
			*cause = xstrdup("key file: 'private_key' has bytes "
					 "after its END line");
			return NULL;
		}
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		fatal("out of memory");
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	BIO_free(bio);
	if (!pkey) {
		ERR_clear_error();
		*cause = xstrdup("key file: 'private_key' does not decode "
				 "(bad base64 or PKCS#8)");
		return NULL;
	}
	bits = EVP_PKEY_get_bits(pkey);
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA || bits < RSA_BITS_MIN ||
	    bits > RSA_BITS_MAX) {
		EVP_PKEY_free(pkey);
		*cause = xasprintf("key file: 'private_key' is not an RSA key "
				   "of %d to %d bits",
				   RSA_BITS_MIN, RSA_BITS_MAX);
		return NULL;
	}
	if (!key_signs(pkey)) {
		EVP_PKEY_free(pkey);
		*cause = xstrdup("key file: 'private_key' is damaged (its "
				 "signatures do not verify)");
		return NULL;
	}
	return pkey;
}

int
gauth_key_parse(const char *text, size_t len, struct gauth_key **out,
		char **cause)
{
	static const char what[] = "key file";
	const char *type, *email, *id, *uri, *project, *pem;
	struct gauth_key *k = NULL;
	json_t *o = NULL, *pk;
	json_error_t jerr;
	int rc = -EINVAL;

	*out = NULL;
	if (len > GAUTH_KEY_FILE_MAX) {
		*cause = xasprintf("key file: larger than %d bytes",
				   GAUTH_KEY_FILE_MAX);
		return -E2BIG;
	}
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		/* jerr.text can quote the input: the position only */
		*cause = xasprintf("key file: not JSON (line %d, column %d)",
				   jerr.line, jerr.column);
		return -EINVAL;
	}
	if (!json_is_object(o)) {
		*cause = xstrdup("key file: not a JSON object");
		goto out;
	}
	if (!(type = json_field(o, what, "type", 64, char_visible, cause)))
		goto out;
	if (strcmp(type, "service_account") != 0) {
		/* named when a word (authorized_user, external_account) */
		if (strlen(type) <= 32 &&
		    strspn(type, "abcdefghijklmnopqrstuvwxyz_") == strlen(type))
			*cause = xasprintf("key file: type is '%s', not "
					   "'service_account'",
					   type);
		else
			*cause = xstrdup("key file: type is not "
					 "'service_account'");
		goto out;
	}
	if (!(email = json_field(o, what, "client_email", 254, char_visible,
				 cause)) ||
	    !(id = json_field(o, what, "private_key_id", 128, char_key_id,
			      cause)) ||
	    !(uri = json_field(o, what, "token_uri", 2048, char_visible,
			       cause)) ||
	    !(project = json_field(o, what, "project_id", 128, char_project,
				   cause)) ||
	    !(pem = json_field(o, what, "private_key", GAUTH_KEY_FILE_MAX, NULL,
			       cause)))
		goto out;
	if (!strchr(email, '@')) {
		*cause = xstrdup("key file: 'client_email' is not an address");
		goto out;
	}
	if (strncmp(uri, "https://", 8) != 0 || uri[8] == '\0') {
		*cause = xstrdup("key file: 'token_uri' is not an https URL");
		goto out;
	}
	k = xcalloc(1, sizeof(*k));
	if (!(k->pkey = key_from_pem(pem, strlen(pem), cause)))
		goto out;
	k->email = xstrdup(email);
	k->id = xstrdup(id);
	k->token_uri = xstrdup(uri);
	k->project = xstrdup(project);
	*out = k;
	k = NULL;
	rc = 0;
out:
	pk = json_is_object(o) ? json_object_get(o, "private_key") : NULL;
	json_string_wipe(pk);
	json_decref(o);
	gauth_key_free(k);
	return rc;
}

void
gauth_key_free(struct gauth_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k->email);
	free(k->id);
	free(k->token_uri);
	free(k->project);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

/* The key's client_email. */
const char *
gauth_key_email(const struct gauth_key *k)
{
	return k->email;
}

/* The key's private_key_id. */
const char *
gauth_key_id(const struct gauth_key *k)
{
	return k->id;
}

/* The key's token_uri. */
const char *
gauth_key_token_uri(const struct gauth_key *k)
{
	return k->token_uri;
}

/* The key's project_id. */
const char *
gauth_key_project(const struct gauth_key *k)
{
	return k->project;
}

/* Base64url without padding of len bytes at p; returns a new string. */
static char *
b64url(const void *p, size_t len)
{
	char *s = xmalloc(4 * ((len + 2) / 3) + 1);
	int n;

	BUG_ON(len > INT_MAX / 2);
	n = EVP_EncodeBlock((unsigned char *)s, p, (int)len);
	while (n > 0 && s[n - 1] == '=')
		n--;
	s[n] = '\0';
	for (char *c = s; *c; c++) {
		if (*c == '+')
			*c = '-';
		else if (*c == '/')
			*c = '_';
	}
	return s;
}

/* Base64url of o's compact JSON (member order kept); returns a new
 * string; takes ownership of o. */
static char *
b64url_json(json_t *o)
{
	char *j = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER), *s;

	if (!j)
		fatal("out of memory");
	s = b64url(j, strlen(j));
	free(j);
	json_decref(o);
	return s;
}

/* The RS256 signature of len bytes at p with pkey, base64url; returns a
 * new string, or NULL with a new *cause. */
static char *
rs256(EVP_PKEY *pkey, const char *p, size_t len, char **cause)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char *s = NULL;

	if (!ctx)
		fatal("out of memory");
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)p, len) !=
		    1)
		goto out;
	sig = xmalloc(siglen);
	if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)p, len) !=
	    1)
		goto out;
	s = b64url(sig, siglen);
out:
	if (!s) {
		unsigned long e = ERR_get_error();

		*cause = xasprintf("RS256 signing failed: %s",
				   e ? ERR_reason_error_string(e) : "unknown");
		ERR_clear_error();
	}
	free(sig);
	EVP_MD_CTX_free(ctx);
	return s;
}

int
gauth_assertion(const struct gauth_key *k, int64_t now, char **out,
		char **cause)
{
	char *head, *claims, *input, *sig;

	*out = NULL;
	if (now < 0 || now > TIME_MAX) {
		*cause = xasprintf("assertion: time %lld out of range",
				   (long long)now);
		return -EINVAL;
	}
	head = b64url_json(json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ",
				     "JWT", "kid", k->id));
	claims = b64url_json(json_pack(
		"{s:s, s:s, s:s, s:I, s:I}", "iss", k->email, "scope",
		GAUTH_SCOPE, "aud", k->token_uri, "iat", (json_int_t)now, "exp",
		(json_int_t)(now + GAUTH_LIFETIME)));
	input = xasprintf("%s.%s", head, claims);
	free(head);
	free(claims);
	sig = rs256(k->pkey, input, strlen(input), cause);
	if (!sig) {
		free(input);
		return -EIO;
	}
	*out = xasprintf("%s.%s", input, sig);
	free(input);
	free(sig);
	return 0;
}

/* Append s to b (a string of *len bytes) form-urlencoded: unreserved
 * bytes as they are, every other byte as %XX; returns the new b. */
static char *
form_append(char *b, size_t *len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);

	b = xrealloc(b, *len + 3 * n + 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c)) {
			b[(*len)++] = (char)c;
		} else {
			b[(*len)++] = '%';
			b[(*len)++] = hex[c >> 4];
			b[(*len)++] = hex[c & 15];
		}
	}
	b[*len] = '\0';
	return b;
}

char *
gauth_token_body(const char *assertion)
{
	char *b = xstrdup("grant_type=");
	size_t len = strlen(b);

	b = form_append(b, &len, "urn:ietf:params:oauth:grant-type:jwt-bearer");
	b = xrealloc(b, len + sizeof("&assertion="));
	memcpy(b + len, "&assertion=", sizeof("&assertion="));
	len += strlen("&assertion=");
	return form_append(b, &len, assertion);
}

/* s cut to max bytes with anything but printable ASCII as '?'; returns
 * a new string (for error codes and descriptions from the endpoint). */
static char *
printable(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *t = xstrndup(s, n);

	for (size_t i = 0; i < n; i++)
		if (t[i] < 0x20 || t[i] > 0x7e)
			t[i] = '?';
	return t;
}

/* The error reply o (holding "error"): returns -EACCES with a new
 * *cause naming the error and its description. */
static int
token_error(json_t *o, char **cause)
{
	json_t *e = json_object_get(o, "error");
	json_t *d = json_object_get(o, "error_description");
	char *es, *ds;

	es = printable(json_is_string(e) ? json_string_value(e)
					 : "(not a "
					   "string)",
		       64);
	ds = printable(json_is_string(d) ? json_string_value(d) : "", 200);
	*cause = xasprintf("token endpoint refused: %s%s%s%s", es,
			   *ds ? " (" : "", ds, *ds ? ")" : "");
	free(es);
	free(ds);
	return -EACCES;
}

int
gauth_token_parse(const char *body, size_t len, int64_t now,
		  struct gauth_token *tok, char **cause)
{
	static const char what[] = "token reply";
	const char *token, *type;
	json_t *o, *exp;
	json_error_t jerr;
	json_int_t expires_in;
	int rc = -EINVAL;

	memset(tok, 0, sizeof(*tok));
	if (len > GAUTH_REPLY_MAX) {
		*cause = xasprintf("token reply: larger than %d bytes",
				   GAUTH_REPLY_MAX);
		return -E2BIG;
	}
	if (now < 0 || now > TIME_MAX) {
		*cause = xasprintf("token reply: time %lld out of range",
				   (long long)now);
		return -EINVAL;
	}
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		*cause = xasprintf("token reply: not JSON (line %d, column %d)",
				   jerr.line, jerr.column);
		return -EINVAL;
	}
	if (!json_is_object(o)) {
		*cause = xstrdup("token reply: not a JSON object");
		goto out;
	}
	if (json_object_get(o, "error")) {
		rc = token_error(o, cause);
		goto out;
	}
	if (!(token = json_field(o, what, "access_token", GAUTH_TOKEN_MAX,
				 char_visible, cause)) ||
	    !(type = json_field(o, what, "token_type", 32, char_visible,
				cause)))
		goto out;
	if (strcasecmp(type, "Bearer") != 0) {
		*cause = xstrdup("token reply: 'token_type' is not Bearer");
		goto out;
	}
	exp = json_object_get(o, "expires_in");
	if (!json_is_integer(exp)) {
		*cause = xstrdup("token reply: 'expires_in' is missing or not "
				 "an integer");
		goto out;
	}
	expires_in = json_integer_value(exp);
	/* a life shorter than the margin is taken (refreshed half way,
	 * a 1 s one on each second): refusing it would fail every request */
	if (expires_in < 1 || expires_in > GAUTH_EXPIRES_MAX) {
		*cause = xasprintf("token reply: 'expires_in' %lld is not in "
				   "[1, %d] s",
				   (long long)expires_in, GAUTH_EXPIRES_MAX);
		goto out;
	}
	tok->access_token = xstrdup(token);
	tok->expires_at = now + expires_in;
	tok->refresh_at = tok->expires_at -
			  MIN((int64_t)GAUTH_REFRESH_MARGIN, expires_in / 2);
	rc = 0;
out:
	if (json_is_object(o))
		json_string_wipe(json_object_get(o, "access_token"));
	json_decref(o);
	return rc;
}

bool
gauth_token_fresh(const struct gauth_token *tok, int64_t now)
{
	return tok->access_token && now < tok->refresh_at;
}

void
gauth_token_clear(struct gauth_token *tok)
{
	if (tok->access_token) {
		OPENSSL_cleanse(tok->access_token, strlen(tok->access_token));
		free(tok->access_token);
	}
	memset(tok, 0, sizeof(*tok));
}
