/*
 * gwhttp.c: parse an agent's request head and decode a chunked body.
 *
 * Data model: gw_req_parse walks the head once, line by line; every part
 * it keeps is a new string in the struct gw_req. gw_chunked_feed keeps
 * only its phase and the bytes left of the current chunk, so a body can
 * arrive in any pieces; a size line or a trailer line longer than
 * GW_LINE_MAX is refused.
 */
#include "common.h"

#include <ctype.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/text.h"
#include "gateway/gwhttp.h"

#define GW_LINE_MAX 4096 /* a chunk-size or trailer line */

enum { GW_CH_SIZE, GW_CH_DATA, GW_CH_DATA_END, GW_CH_TRAILER };

/* Is c a token character (RFC 9110)? */
static bool
gw_tchar(unsigned char c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Does the comma-separated list value hold token (any case)? */
static bool
gw_list_has(const char *value, const char *token)
{
	size_t tl = strlen(token);

	for (const char *p = value; *p != '\0';) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == tl && strncasecmp(p, token, tl) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* Parse the request line "METHOD SP TARGET SP HTTP/1.x" (n bytes). */
static int
gw_req_line(const char *p, size_t n, struct gw_req *out, const char **why)
{
	const char *sp1 = memchr(p, ' ', n), *sp2;
	size_t ml, tl;

	*why = "malformed request line";
	if (sp1 == NULL)
		return 400;
	ml = (size_t)(sp1 - p);
	sp2 = memchr(sp1 + 1, ' ', n - ml - 1);
	if (sp2 == NULL || ml == 0 || ml > 32)
		return 400;
	tl = (size_t)(sp2 - sp1 - 1);
	for (size_t i = 0; i < ml; i++)
		if (!gw_tchar((unsigned char)p[i]))
			return 400;
	if (tl == 0)
		return 400;
	if (tl > GW_REQ_TARGET_MAX) {
		*why = "request target too long";
		return 431;
	}
	for (size_t i = 0; i < tl; i++)
		if ((unsigned char)sp1[1 + i] <= ' ' || sp1[1 + i] == 0x7f)
			return 400;
	if ((size_t)(p + n - sp2 - 1) != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) ||
	    (sp2[8] != '0' && sp2[8] != '1')) {
		*why = "only HTTP/1.0 and HTTP/1.1 are served";
		return 400;
	}
	out->method = xstrndup(p, ml);
	out->target = xstrndup(sp1 + 1, tl);
	out->minor = sp2[8] - '0';
	out->close = out->minor == 0;
	return 0;
}

/* Take one header's meaning for framing and the connection. */
static int
gw_req_note(struct gw_req *out, const struct gw_header *h, const char **why)
{
	if (strcasecmp(h->name, "Content-Length") == 0) {
		char *end;
		unsigned long long v;

		if (h->value[0] < '0' || h->value[0] > '9' ||
		    strlen(h->value) > 18) {
			*why = "bad Content-Length";
			return 400;
		}
		errno = 0;
		v = strtoull(h->value, &end, 10);
		if (*end != '\0' || errno != 0 ||
		    (out->content_length >= 0 &&
		     (uint64_t)out->content_length != v)) {
			*why = "bad Content-Length";
			return 400;
		}
		out->content_length = (int64_t)v;
	} else if (strcasecmp(h->name, "Transfer-Encoding") == 0) {
		if (strcasecmp(h->value, "chunked") != 0) {
			*why = "only the chunked transfer coding is served";
			return 501;
		}
		if (out->chunked) {
			*why = "Transfer-Encoding given twice";
			return 400;
		}
		out->chunked = true;
	} else if (strcasecmp(h->name, "Connection") == 0) {
		if (gw_list_has(h->value, "close"))
			out->close = true;
		else if (gw_list_has(h->value, "keep-alive"))
			out->close = false;
	} else if (strcasecmp(h->name, "Expect") == 0) {
		if (strcasecmp(h->value, "100-continue") != 0) {
			*why = "unsupported Expect";
			return 417;
		}
		out->expect_continue = true;
	}
	return 0;
}

/* Parse one header line (n bytes, no CRLF) into out->h. */
static int
gw_req_header_line(const char *p, size_t n, struct gw_req *out,
		   const char **why)
{
	const char *colon = memchr(p, ':', n);
	const char *v, *ve;
	struct gw_header *h;

	*why = "malformed header line";
	if (colon == NULL || colon == p)
		return 400;
	for (const char *q = p; q < colon; q++)
		if (!gw_tchar((unsigned char)*q))
			return 400; /* also obs-fold: a leading blank */
	for (v = colon + 1; v < p + n && (*v == ' ' || *v == '\t'); v++)
		;
	for (ve = p + n; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
		;
	for (const char *q = v; q < ve; q++)
		if (((unsigned char)*q < ' ' && *q != '\t') || *q == 0x7f)
			return 400;
	if (out->nh >= GW_HEADERS_MAX) {
		*why = "too many header lines";
		return 431;
	}
	h = &out->h[out->nh++];
	h->name = xstrndup(p, (size_t)(colon - p));
	h->value = xstrndup(v, (size_t)(ve - v));
	return gw_req_note(out, h, why);
}

int
gw_req_parse(const char *head, size_t len, struct gw_req *out, const char **why)
{
	const char *p = head, *end = head + len;
	bool first = true;
	int r;

	memset(out, 0, sizeof *out);
	out->content_length = -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n;

		if (nl == NULL || nl == p || nl[-1] != '\r') {
			*why = "header lines must end with CRLF";
			return 400;
		}
		n = (size_t)(nl - p) - 1;
		if (n == 0) {
			if (first || nl + 1 != end) {
				*why = "malformed request head";
				return 400;
			}
			break;
		}
		if (memchr(p, '\0', n) != NULL) {
			*why = "NUL in the request head";
			return 400;
		}
		r = first ? gw_req_line(p, n, out, why)
			  : gw_req_header_line(p, n, out, why);
		if (r != 0)
			return r;
		first = false;
		p = nl + 1;
	}
	if (first || p >= end) {
		*why = "incomplete request head";
		return 400;
	}
	if (out->chunked && out->content_length >= 0) {
		*why = "both Content-Length and Transfer-Encoding";
		return 400;
	}
	return 0;
}

void
gw_req_release(struct gw_req *r)
{
	free(r->method);
	free(r->target);
	for (size_t i = 0; i < r->nh; i++) {
		free(r->h[i].name);
		free(r->h[i].value);
	}
	memset(r, 0, sizeof *r);
}

const char *
gw_req_header(const struct gw_req *r, const char *name)
{
	for (size_t i = 0; i < r->nh; i++)
		if (strcasecmp(r->h[i].name, name) == 0)
			return r->h[i].value;
	return NULL;
}

bool
gw_req_conn_listed(const struct gw_req *r, const char *name)
{
	for (size_t i = 0; i < r->nh; i++)
		if (strcasecmp(r->h[i].name, "Connection") == 0 &&
		    gw_list_has(r->h[i].value, name))
			return true;
	return false;
}

/* One CRLF-ended line at the start of in: its length without CRLF, -1
 * when it is not all in yet, -2 when too long or not CRLF-ended. */
static ssize_t
gw_line(const struct buf *in)
{
	const char *nl = memchr(in->data, '\n', in->len);

	if (nl == NULL)
		return in->len > GW_LINE_MAX ? -2 : -1;
	if (nl == in->data || nl[-1] != '\r' ||
	    (size_t)(nl - in->data) > GW_LINE_MAX)
		return -2;
	return nl - in->data - 1;
}

int
gw_chunked_feed(struct gw_chunked *st, struct buf *in, struct buf *body,
		const char **why)
{
	*why = "malformed chunked body";
	for (;;) {
		ssize_t n;

		switch (st->phase) {
		case GW_CH_SIZE: {
			uint64_t v = 0;
			ssize_t i;

			if ((n = gw_line(in)) == -1)
				return 0;
			if (n < 0)
				return 400;
			for (i = 0; i < n && hex_value(in->data[i]) >= 0; i++) {
				if (v > GW_BODY_MAX) {
					*why = "request body too large";
					return 413;
				}
				v = v * 16 + (uint64_t)hex_value(in->data[i]);
			}
			if (i == 0)
				return 400;
			while (i < n &&
			       (in->data[i] == ' ' || in->data[i] == '\t'))
				i++; /* BWS before an extension */
			if (i < n && in->data[i] != ';')
				return 400;
			if (v > GW_BODY_MAX - body->len) {
				*why = "request body too large";
				return 413;
			}
			buf_consume(in, (size_t)n + 2);
			st->left = v;
			st->phase = v == 0 ? GW_CH_TRAILER : GW_CH_DATA;
			break;
		}
		case GW_CH_DATA: {
			size_t take =
				in->len < st->left ? in->len : (size_t)st->left;

			if (take == 0)
				return 0;
			if (buf_append(body, in->data, take) < 0) {
				*why = "request body too large";
				return 413;
			}
			buf_consume(in, take);
			st->left -= take;
			if (st->left == 0)
				st->phase = GW_CH_DATA_END;
			break;
		}
		case GW_CH_DATA_END:
			if (in->len < 2)
				return 0;
			if (in->data[0] != '\r' || in->data[1] != '\n')
				return 400;
			buf_consume(in, 2);
			st->phase = GW_CH_SIZE;
			break;
		default: /* trailers, dropped, up to the blank line */
			if ((n = gw_line(in)) == -1)
				return 0;
			if (n < 0)
				return 400;
			buf_consume(in, (size_t)n + 2);
			if (n == 0)
				return 1;
			break;
		}
	}
}
