/*
 * fuzz-route.c: libFuzzer target for the gateway's routing
 * (src/gateway/route.c): the method and target an untrusted agent sends
 * on llm.sock. The first byte picks the provider type (mod 7) and bits
 * 3..4 whether --url was given and a region set; the rest is the method,
 * a NUL, the target. A route that is taken must stay under the
 * provider's base (no dot segment, no "//", '#', '\', controls or spaces
 * in the path, '@' only in a Vertex model) with a sane model and host; a
 * refusal must be 400, 404, 405 or 500 with a cause; every format's error
 * body for the cause must be JSON; the error format of any target is one
 * of the four. These aborts, crashes and sanitizer
 * reports are the findings.
 */
#include "common.h"

#include <jansson.h>

#include "gateway/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The base URL of each type, as provider.c makes it by default. */
static const char *const urls[] = {
	"https://api.anthropic.com",
	"https://api.openai.com",
	"https://generativelanguage.googleapis.com",
	"https://bedrock-runtime.us-east-1.amazonaws.com",
	"https://us-east5-aiplatform.googleapis.com",
	"http://127.0.0.1:4000/base",
	"http://127.0.0.1:11434",
};

/* Abort unless s is JSON. */
static void
check_json(const char *s)
{
	json_t *o = json_loads(s, 0, NULL);

	if (!o)
		abort();
	json_decref(o);
}

/* Check a route that was taken. */
static void
check_route(const struct provider *p, const struct gw_route *r)
{
	const char *path = strstr(r->url, "://"), *q;

	if (!path || !r->host || !*r->host)
		abort();
	path = strchr(path + 3, '/');
	if (!path)
		abort();
	if (strncmp(r->url, p->url, strlen(p->url)) &&
	    strncmp(r->url, "https://bedrock.", 16))
		abort();
	q = strchr(path, '?');
	for (const char *c = path; *c && c != q; c++) {
		if (*c <= 0x20 || *c >= 0x7f || *c == '#' || *c == '\\')
			abort();
		if (*c == '@' && p->type != PROVIDER_VERTEX)
			abort();
		if (c[0] == '/' &&
		    (c[1] == '/' ||
		     (c[1] == '.' &&
		      (c[2] == '/' || !c[2] ||
		       (c[2] == '.' && (c[3] == '/' || !c[3]))))))
			abort();
	}
	if (q && (strchr(q, '#') || strchr(q, '@') || strchr(q, ' ')))
		abort();
	if (r->model) {
		if (!*r->model || strlen(r->model) >= USAGE_MODEL_MAX)
			abort();
		for (const char *c = r->model; *c; c++)
			if (*c <= 0x20 || *c >= 0x7f)
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct provider p = {.refs = 1, .name = "fuzz"};
	struct gw_route r = {0};
	char *in, *target, *cause = NULL;
	const char *ct;
	int rc;

	if (size < 2)
		return 0;
	p.type = (enum provider_type)(data[0] % 7);
	p.url = (char *)urls[p.type];
	p.url_given = data[0] & 8;
	p.region = data[0] & 16 ? "us-east-1" : NULL;
	p.project = p.type == PROVIDER_VERTEX ? "proj" : NULL;
	p.key = "k";
	in = xmalloc(size + 1);
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';
	in[size] = '\0';
	target = in + strlen(in) + 1; /* no NUL: the empty target */
	if ((unsigned)gw_route_format(&p, target) > GW_FORMAT_BEDROCK ||
	    (unsigned)gw_route_format(NULL, target) > GW_FORMAT_BEDROCK)
		abort();
	rc = gw_route(&p, in, target, &r, &cause);
	if (rc == 0) {
		if (cause)
			abort();
		check_route(&p, &r);
		gw_route_release(&r);
	} else {
		if (!cause ||
		    (rc != 400 && rc != 404 && rc != 405 && rc != 500))
			abort();
		for (int f = GW_FORMAT_ANTHROPIC; f <= GW_FORMAT_BEDROCK; f++) {
			char *body = gw_error_body(f, rc, cause, &ct);

			check_json(body);
			free(body);
		}
		free(cause);
	}
	free(in);
	return 0;
}
