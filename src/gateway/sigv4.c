/*
 * sigv4.c: AWS Signature Version 4 header signing (sigv4.h), over
 * libcrypto's SHA-256 and HMAC.
 *
 * Data model: nothing persists between calls. sigv4_sign builds, in
 * bounded buffers, the canonical request (method, canonical URI,
 * canonical query, canonical headers, signed header names, payload hash,
 * one per line), hashes it into the string to sign (algorithm, time,
 * credential scope "DATE/REGION/SERVICE/aws4_request", that hash), derives
 * the signing key by the HMAC chain "AWS4"+secret -> date -> region ->
 * service -> "aws4_request", and signs. The headers are sorted as an array
 * of (lowercased name, trimmed value, input position) entries, so that
 * repeated names keep the order they were given in and are joined with
 * ','. Every input is validated first; nothing here aborts on input.
 */
#include "common.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <time.h>

#include "core/buf.h"
#include "core/text.h"
#include "gateway/sigv4.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"

/* One header to sign, lowercased and trimmed. */
struct sigv4_hdr {
	char *name;
	char *value;
	size_t pos; /* in the request: repeated names keep this order */
};

/* Set *cause to a new string saying why; returns -EINVAL. */
static int
sigv4_fail(char **cause, const char *why)
{
	if (cause)
		*cause = xstrdup(why);
	return -EINVAL;
}

/* True for RFC 3986 unreserved bytes: ALPHA DIGIT - . _ ~ */
static bool
sigv4_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* True for an RFC 9110 token byte (header names, methods). */
static bool
sigv4_tchar(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Append len bytes of s to b, encoding every byte that is not unreserved
 * (nor '/' when keep_slash). */
static int
sigv4_encode(struct buf *b, const char *s, size_t len, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	char esc[3] = {'%', 0, 0};
	int r = 0;

	for (size_t i = 0; i < len && r == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if (sigv4_unreserved(c) || (keep_slash && c == '/')) {
			r = buf_append(b, &s[i], 1);
		} else {
			esc[1] = hex[c >> 4];
			esc[2] = hex[c & 15];
			r = buf_append(b, esc, 3);
		}
	}
	return r;
}

/* Percent-decode len bytes of s, then append them encoded to b; -EINVAL
 * for a bad escape. */
static int
sigv4_reencode(struct buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int r;

		if (c == '%') {
			int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
			int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;

			if (lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		r = sigv4_encode(b, &c, 1, false);
		if (r < 0)
			return r;
	}
	return 0;
}

char *
sigv4_canonical_uri(const char *path, size_t len, char **cause)
{
	struct buf b;
	/* the start of each kept segment in b, to pop on ".." */
	size_t *starts = NULL, nseg = 0;
	size_t i = 0;
	char *uri;

	if (len == 0)
		return xstrdup("/");
	if (len > SIGV4_PATH_MAX) {
		sigv4_fail(cause, "the path is too long");
		return NULL;
	}
	if (path[0] != '/' || memchr(path, '\0', len) ||
	    memchr(path, '?', len) || memchr(path, '#', len)) {
		sigv4_fail(cause, "the path must start with '/' and hold no "
				  "'?', '#' or NUL");
		return NULL;
	}
	buf_init(&b, 0);
	starts = xcalloc(len, sizeof *starts);
	while (i < len) {
		const char *seg = path + i;
		const char *slash = memchr(seg, '/', len - i);
		size_t n = slash ? (size_t)(slash - seg) : len - i;

		i += n + 1;
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			if (nseg > 0)
				b.len = starts[--nseg];
			continue;
		}
		starts[nseg++] = b.len;
		buf_append(&b, "/", 1);
		sigv4_encode(&b, seg, n, false);
	}
	/* a trailing '/' stays when a segment is left to end */
	if (b.len == 0 || (path[len - 1] == '/' && nseg > 0))
		buf_append(&b, "/", 1);
	free(starts);
	/* not buf_steal: a ".." shortened b behind its terminating NUL */
	uri = xstrndup(b.data, b.len);
	buf_release(&b);
	return uri;
}

/* One query parameter, its name and value encoded. */
struct sigv4_param {
	char *name;
	char *value;
};

/* Order parameters by encoded name, then value (bytes). */
static int
sigv4_param_cmp(const void *a, const void *b)
{
	const struct sigv4_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

char *
sigv4_canonical_query(const char *query, size_t len, char **cause)
{
	struct sigv4_param *p = NULL;
	size_t np = 0, i = 0;
	struct buf b;
	char *out = NULL;

	if (len > SIGV4_PATH_MAX) {
		sigv4_fail(cause, "the query is too long");
		return NULL;
	}
	if (memchr(query, '\0', len)) {
		sigv4_fail(cause, "the query holds a NUL");
		return NULL;
	}
	/* at most one parameter per two bytes ("a&b&"), plus one */
	p = xcalloc(len / 2 + 1, sizeof *p);
	buf_init(&b, 0);
	while (i < len) {
		const char *s = query + i;
		const char *amp = memchr(s, '&', len - i);
		size_t n = amp ? (size_t)(amp - s) : len - i;
		const char *eq = memchr(s, '=', n);
		size_t nn = eq ? (size_t)(eq - s) : n;

		i += n + 1;
		if (n == 0)
			continue;
		buf_clear(&b);
		if (sigv4_reencode(&b, s, nn) < 0)
			goto bad;
		p[np].name = xstrndup(b.data ? b.data : "", b.len);
		buf_clear(&b);
		if (eq && sigv4_reencode(&b, eq + 1, n - nn - 1) < 0) {
			free(p[np].name);
			goto bad;
		}
		p[np++].value = xstrndup(b.data ? b.data : "", b.len);
	}
	qsort(p, np, sizeof *p, sigv4_param_cmp);
	buf_clear(&b);
	for (i = 0; i < np; i++)
		buf_printf(&b, "%s%s=%s", i ? "&" : "", p[i].name, p[i].value);
	out = xstrndup(b.data ? b.data : "", b.len);
	goto out;
bad:
	sigv4_fail(cause, "bad percent-escape in the query");
out:
	for (i = 0; i < np; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
	buf_release(&b);
	return out;
}

/* Write the lowercase hex of n bytes of md into out (2n + 1 bytes). */
static void
sigv4_hex(const unsigned char *md, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * n] = '\0';
}

/* SHA-256 of len bytes of p as hex into out[65]. */
static void
sigv4_sha256_hex(const void *p, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(p, len, md);
	sigv4_hex(md, sizeof md, out);
}

/* HMAC-SHA256 of s under key (klen bytes) into md[32]. */
static void
sigv4_hmac(const void *key, size_t klen, const char *s,
	   unsigned char md[SHA256_DIGEST_LENGTH])
{
	unsigned int n = SHA256_DIGEST_LENGTH;

	if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)s,
		  strlen(s), md, &n))
		fatal("sigv4: HMAC-SHA256 failed");
}

/* True when s is a non-empty string of at most max bytes none of which
 * is a control byte (HTAB allowed when tab) or DEL. */
static bool
sigv4_printable(const char *s, size_t max, bool tab)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];

		if ((c < 0x20 && !(tab && c == '\t')) || c == 0x7f)
			return false;
	}
	return n <= max;
}

/* True when s is non-empty and all its bytes are in set or alphanumeric
 * (lowercase only when lower). */
static bool
sigv4_word(const char *s, const char *set, bool lower)
{
	if (!s || !*s || strlen(s) > 128)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      (!lower && c >= 'A' && c <= 'Z') || strchr(set, c)))
			return false;
	}
	return true;
}

/* A new copy of value with leading and trailing spaces and tabs removed
 * and inner runs of them turned into one space. */
static char *
sigv4_trimall(const char *value)
{
	char *out = xmalloc(strlen(value) + 1), *o = out;
	bool space = false;

	for (const char *s = value; *s; s++) {
		if (*s == ' ' || *s == '\t') {
			space = o != out;
			continue;
		}
		if (space)
			*o++ = ' ';
		space = false;
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* Order headers by name, then by their place in the request. */
static int
sigv4_hdr_cmp(const void *a, const void *b)
{
	const struct sigv4_hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* True for the names left unsigned or replaced by what sigv4 adds. */
static bool
sigv4_skipped(const char *lname)
{
	static const char *const skip[] = {
		"authorization",	"x-amz-date", "x-amz-security-token",
		"x-amz-content-sha256", "user-agent", "expect",
		"x-amzn-trace-id",
	};

	for (size_t i = 0; i < ARRAY_SIZE(skip); i++)
		if (strcmp(lname, skip[i]) == 0)
			return true;
	return false;
}

/* Check everything sigv4_sign reads; 0 or -EINVAL with *cause. */
static int
sigv4_check(const struct sigv4_request *req,
	    const struct sigv4_credentials *creds,
	    const struct sigv4_scope *scope, char **cause)
{
	const char *m = req->method;

	if (!m || !*m || strlen(m) > 32)
		return sigv4_fail(cause, "bad method");
	for (; *m; m++)
		if (!sigv4_tchar((unsigned char)*m))
			return sigv4_fail(cause, "bad method");
	if (!req->path)
		return sigv4_fail(cause, "no path");
	if (req->nheaders > SIGV4_HEADERS_MAX)
		return sigv4_fail(cause, "too many headers");
	if (req->body_len > 0 && !req->body && !req->body_sha256)
		return sigv4_fail(cause, "no body");
	if (req->body_sha256 &&
	    (strlen(req->body_sha256) != 64 ||
	     strspn(req->body_sha256, "0123456789abcdef") != 64))
		return sigv4_fail(cause, "the body's SHA-256 must be 64 "
					 "lowercase hex digits");
	if (!sigv4_word(creds->access_key_id, "", false))
		return sigv4_fail(cause, "bad access key id");
	if (!sigv4_printable(creds->secret_access_key, SIGV4_VALUE_MAX,
			     false) ||
	    !*creds->secret_access_key)
		return sigv4_fail(cause, "bad secret access key");
	if (creds->session_token && *creds->session_token &&
	    (!sigv4_printable(creds->session_token, SIGV4_VALUE_MAX, false) ||
	     strchr(creds->session_token, ' ')))
		return sigv4_fail(cause, "bad session token");
	if (!sigv4_word(scope->region, "-", true))
		return sigv4_fail(cause, "bad region");
	if (!sigv4_word(scope->service, "-", true))
		return sigv4_fail(cause, "bad service");
	/* up to 9999-12-31T23:59:59Z: 16 characters of date */
	if (scope->time < 0 || scope->time > 253402300799LL)
		return sigv4_fail(cause, "the time is out of range");
	return 0;
}

/* The headers to sign from req plus those sigv4 adds, sorted, into *out
 * (a new array of *n entries); -EINVAL with *cause for a bad header or
 * no host. */
static int
sigv4_headers(const struct sigv4_request *req, const struct sigv4_signed *s,
	      struct sigv4_hdr **out, size_t *n, char **cause)
{
	struct sigv4_hdr *h = xcalloc(req->nheaders + SIGV4_ADD_MAX, sizeof *h);
	bool host = false;
	size_t k = 0;

	*out = h;
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct sigv4_header *in = &req->headers[i];
		char *name;

		if (!in->name || !*in->name || strlen(in->name) > 256)
			return sigv4_fail(cause, "bad header name");
		for (const char *c = in->name; *c; c++)
			if (!sigv4_tchar((unsigned char)*c))
				return sigv4_fail(cause, "bad header name");
		if (!in->value ||
		    (*in->value &&
		     !sigv4_printable(in->value, SIGV4_VALUE_MAX, true)))
			return sigv4_fail(cause, "bad header value");
		name = xstrdup(in->name);
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (sigv4_skipped(name)) {
			free(name);
			continue;
		}
		host |= strcmp(name, "host") == 0;
		h[k].name = name;
		h[k].value = sigv4_trimall(in->value);
		h[k].pos = k;
		k++;
		*n = k;
	}
	if (!host)
		return sigv4_fail(cause, "no host header");
	for (size_t i = 0; i < s->nadd; i++) {
		h[k].name = xstrdup(s->add[i].name);
		for (char *c = h[k].name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		h[k].value = xstrdup(s->add[i].value);
		h[k].pos = k;
		*n = ++k;
	}
	qsort(h, k, sizeof *h, sigv4_hdr_cmp);
	return 0;
}

/* Append the canonical headers and the signed header names (a new
 * string in *signed_names) of h[0..n) to b. */
static void
sigv4_put_headers(struct buf *b, const struct sigv4_hdr *h, size_t n,
		  char **signed_names)
{
	struct buf names;

	buf_init(&names, 0);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0) {
			buf_printf(b, ",%s", h[i].value);
			continue;
		}
		buf_printf(b, "%s%s:%s", i ? "\n" : "", h[i].name, h[i].value);
		buf_printf(&names, "%s%s", i ? ";" : "", h[i].name);
	}
	buf_puts(b, "\n");
	*signed_names = xstrndup(names.data ? names.data : "", names.len);
	buf_release(&names);
}

/* Add the header name: value (value a string out owns) to out->add. */
static void
sigv4_add(struct sigv4_signed *out, const char *name, const char *value)
{
	BUG_ON(out->nadd >= SIGV4_ADD_MAX);
	out->add[out->nadd].name = name;
	out->add[out->nadd].value = value;
	out->nadd++;
}

/* The signature of sts under secret for date/region/service, as hex into
 * out[65]. */
static void
sigv4_signature(const char *secret, const char *date,
		const struct sigv4_scope *scope, const char *sts, char out[65])
{
	unsigned char k[SHA256_DIGEST_LENGTH];
	char *key = xasprintf("AWS4%s", secret);

	sigv4_hmac(key, strlen(key), date, k);
	explicit_bzero(key, strlen(key));
	free(key);
	sigv4_hmac(k, sizeof k, scope->region, k);
	sigv4_hmac(k, sizeof k, scope->service, k);
	sigv4_hmac(k, sizeof k, "aws4_request", k);
	sigv4_hmac(k, sizeof k, sts, k);
	sigv4_hex(k, sizeof k, out);
	explicit_bzero(k, sizeof k);
}

int
sigv4_sign(const struct sigv4_request *req,
	   const struct sigv4_credentials *creds,
	   const struct sigv4_scope *scope, struct sigv4_signed *out,
	   char **cause)
{
	struct sigv4_hdr *h = NULL;
	size_t nh = 0;
	char *uri = NULL, *query = NULL, *names = NULL;
	char date[9], hash[65];
	struct buf b;
	struct tm tm;
	time_t t;
	int r;

	memset(out, 0, sizeof *out);
	/* unlimited: every part is bounded (3 * 8 KiB of path and of query,
	 * 64 headers of 8 KiB, 3 added ones), the whole under 1 MiB */
	buf_init(&b, 0);
	r = sigv4_check(req, creds, scope, cause);
	if (r < 0)
		goto out;
	t = (time_t)scope->time;
	gmtime_r(&t, &tm);
	strftime(out->amz_date, sizeof out->amz_date, "%Y%m%dT%H%M%SZ", &tm);
	memcpy(date, out->amz_date, 8);
	date[8] = '\0';
	if (req->body_sha256)
		memcpy(out->content_sha256, req->body_sha256, 65);
	else
		sigv4_sha256_hex(req->body ? req->body : "", req->body_len,
				 out->content_sha256);

	sigv4_add(out, "X-Amz-Date", out->amz_date);
	if (creds->session_token && *creds->session_token) {
		out->security_token = xstrdup(creds->session_token);
		sigv4_add(out, "X-Amz-Security-Token", out->security_token);
	}
	if (scope->flags & SIGV4_CONTENT_SHA256)
		sigv4_add(out, "X-Amz-Content-Sha256", out->content_sha256);

	r = -EINVAL;
	uri = sigv4_canonical_uri(req->path, strlen(req->path), cause);
	if (!uri)
		goto out;
	query = sigv4_canonical_query(req->query ? req->query : "",
				      req->query ? strlen(req->query) : 0,
				      cause);
	if (!query)
		goto out;
	r = sigv4_headers(req, out, &h, &nh, cause);
	if (r < 0)
		goto out;

	buf_printf(&b, "%s\n%s\n%s\n", req->method, uri, query);
	sigv4_put_headers(&b, h, nh, &names);
	buf_printf(&b, "\n%s\n%s", names, out->content_sha256);
	out->canonical_request = xstrndup(b.data, b.len);

	sigv4_sha256_hex(b.data, b.len, hash);
	out->string_to_sign = xasprintf(
		SIGV4_ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s",
		out->amz_date, date, scope->region, scope->service, hash);
	sigv4_signature(creds->secret_access_key, date, scope,
			out->string_to_sign, out->signature);
	out->authorization = xasprintf(
		SIGV4_ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, "
				"SignedHeaders=%s, Signature=%s",
		creds->access_key_id, date, scope->region, scope->service,
		names, out->signature);
	/* Authorization first: it is what the caller must not miss */
	memmove(&out->add[1], &out->add[0], out->nadd * sizeof out->add[0]);
	out->add[0].name = "Authorization";
	out->add[0].value = out->authorization;
	out->nadd++;
	r = 0;
out:
	if (r < 0)
		sigv4_signed_release(out);
	for (size_t i = 0; i < nh; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
	free(uri);
	free(query);
	free(names);
	buf_release(&b);
	return r;
}

void
sigv4_signed_release(struct sigv4_signed *out)
{
	free(out->authorization);
	free(out->security_token);
	free(out->canonical_request);
	free(out->string_to_sign);
	memset(out, 0, sizeof *out);
}
