/*
 * web.c: the web app (web/app/), served from the binary.
 *
 * The app is one page: every page path (/, /login, /tasks, /tasks/OWNER/
 * TASK, /templates[/NAME], /settings, /users) answers the same shell,
 * web/app/index.html, whose module (main.js) routes on the path and asks
 * the API for everything it shows; nothing here looks at who asks, so a
 * page path tells nobody anything (the API answers 401 and 404). Assets
 * are under /app/: the app's own files and, when the build found them,
 * npm packages copied in at build time (/app/vendor/xterm.mjs). Every
 * reply carries the app's Content-Security-Policy (scripts and
 * connections to this origin only, no inline script) and an ETag (a hash
 * of the bytes, so a new binary is a new tag); a client that accepts
 * gzip gets the bytes compressed, each asset compressed once on first use
 * and kept for the life of the process (a fixed set: the binary's files).
 * The two pages of the GitHub link flow, /external-auth/github[/callback],
 * are redirects, not the shell: api-extauth.c routes them.
 */
#include "common.h"

#include <zlib.h>

#include "core/assets.h"
#include "core/log.h"
#include "core/text.h"
#include "http/http.h"
#include "server.h"

#define WEB_SHELL "web/app/index.html"

/* The app's Content-Security-Policy. Styles may be inline: xterm.js
 * writes its theme into a style element. */
#define WEB_CSP                                                                \
	"default-src 'self'; script-src 'self'; "                              \
	"style-src 'self' 'unsafe-inline'; img-src 'self' data:; "             \
	"connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; "       \
	"base-uri 'none'; form-action 'self'; object-src 'none'"

/* An asset's reply, computed once: its ETag and gzip bytes. */
struct web_file {
	const struct asset *asset;
	char etag[24];
	unsigned char *gz; /* NULL when compression did not pay */
	size_t gz_len;
};

/* Assets served so far (the binary holds a fixed, small set). */
static struct web_file web_files[128];
static size_t web_nfiles;

/* FNV-1a over the bytes, as the ETag. */
static void
web_etag(const struct asset *a, char out[24])
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < a->len; i++)
		h = (h ^ a->data[i]) * 0x100000001b3ULL;
	snprintf(out, 24, "\"%016llx\"", (unsigned long long)h);
}

/* a compressed with gzip into *out (new buffer); false if it failed or
 * did not make it smaller. */
static bool
web_gzip(const struct asset *a, unsigned char **out, size_t *out_len)
{
	z_stream z = {0};
	size_t cap = a->len + a->len / 1000 + 64;
	unsigned char *buf;

	if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return false;
	buf = xmalloc(cap);
	z.next_in = (unsigned char *)a->data;
	z.avail_in = (uInt)a->len;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END || z.total_out >= a->len) {
		deflateEnd(&z);
		free(buf);
		return false;
	}
	*out_len = z.total_out;
	deflateEnd(&z);
	*out = buf;
	return true;
}

/* The kept reply data of asset a (computed on first use). */
static struct web_file *
web_file(const struct asset *a)
{
	struct web_file *f;

	for (size_t i = 0; i < web_nfiles; i++)
		if (web_files[i].asset == a)
			return &web_files[i];
	BUG_ON(web_nfiles == ARRAY_SIZE(web_files));
	f = &web_files[web_nfiles++];
	f->asset = a;
	web_etag(a, f->etag);
	if (!web_gzip(a, &f->gz, &f->gz_len))
		f->gz = NULL;
	return f;
}

/* Does the request accept gzip (a plain token check: q=0 is not used
 * by browsers for gzip)? */
static bool
web_accepts_gzip(struct http_req *req)
{
	const char *ae = http_req_header(req, "Accept-Encoding");

	return ae != NULL && strstr(ae, "gzip") != NULL;
}

void
web_reply_asset(struct http_req *req, const struct asset *a, const char *csp)
{
	struct web_file *f = web_file(a);
	const char *inm = http_req_header(req, "If-None-Match");

	http_reply_header(req, "Content-Security-Policy", csp);
	http_reply_header(req, "Referrer-Policy", "same-origin");
	http_reply_header(req, "Cache-Control", "no-cache");
	http_reply_header(req, "ETag", f->etag);
	http_reply_header(req, "Vary", "Accept-Encoding");
	if (inm != NULL && strcmp(inm, f->etag) == 0) {
		http_reply(req, 304, asset_mime(a->name), "", 0);
		return;
	}
	if (f->gz != NULL && web_accepts_gzip(req)) {
		http_reply_header(req, "Content-Encoding", "gzip");
		http_reply(req, 200, asset_mime(a->name), f->gz, f->gz_len);
		return;
	}
	http_reply(req, 200, asset_mime(a->name), a->data, a->len);
}

/* The app's page paths besides "/" (each with what is under it). */
static const char *const web_pages[] = {
	"/login", "/tasks", "/templates", "/settings", "/users",
};

/* Is path one of the app's pages? (/tasks and /tasks/..., not
 * /tasksX.) */
static bool
web_is_page(const char *path)
{
	if (strcmp(path, "/") == 0)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(web_pages); i++) {
		size_t n = strlen(web_pages[i]);

		if (strncmp(path, web_pages[i], n) == 0 &&
		    (path[n] == '\0' || path[n] == '/'))
			return true;
	}
	return false;
}

/* GET a page path: the shell. */
static void
web_page(struct http_req *req, void *data UNUSED)
{
	const struct asset *a = asset_find(WEB_SHELL);

	BUG_ON(a == NULL);
	if (!web_is_page(http_req_path(req))) {
		http_reply_problem(req, 404, "no such page: '%s'",
				   http_req_path(req));
		return;
	}
	web_reply_asset(req, a, WEB_CSP);
}

/* GET /app/...: a file of the app. */
static void
web_asset(struct http_req *req, void *data UNUSED)
{
	const char *rest = http_req_path(req) + strlen("/app/");
	const struct asset *a = NULL;
	char *name;

	if (strstr(rest, "..") == NULL && strcmp(rest, "index.html") != 0) {
		name = xasprintf("web/app/%s", rest);
		a = asset_find(name);
		free(name);
	}
	if (a == NULL) {
		http_reply_problem(req, 404, "no such file: '/app/%s'", rest);
		return;
	}
	web_reply_asset(req, a, WEB_CSP);
}

void
web_register(struct http_server *http)
{
	http_server_route(http, "GET", "/", 0, 0, web_page, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(web_pages); i++)
		http_server_route(http, "GET", web_pages[i], HTTP_ROUTE_PREFIX,
				  0, web_page, NULL);
	http_server_route(http, "GET", "/app/", HTTP_ROUTE_PREFIX, 0, web_asset,
			  NULL);
}
