/*
 * client.c: sessions and HTTP requests of the CLI (see client.h).
 *
 * Plain requests reuse one libcurl easy handle and buffer the reply up to
 * CLIENT_MAX_BODY. Streams run a second easy handle in a curl multi so
 * that the caller can also watch a file descriptor (the terminal, for
 * `task attach`) and get a periodic tick; the body goes through the SSE
 * parser, or is buffered as an error when the status is not 200.
 */
#include "common.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/client.h"
#include "http/sse.h"
#include "core/buf.h"
#include "core/text.h"

/* The session file's path under the XDG config directory. */
char *
client_session_path(void)
{
	const char *x = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");

	if (x != NULL && x[0] == '/')
		return xasprintf("%s/taskbox/session.json", x);
	if (home != NULL && home[0] != '\0')
		return xasprintf("%s/.config/taskbox/session.json", home);
	return NULL;
}

/* Read url and token from the session file, if there is one. */
int
client_session_load(char **url, char **token, char **cause)
{
	char *path = client_session_path();
	json_error_t jerr;
	json_t *j;
	const char *u = NULL, *t = NULL;

	*url = *token = NULL;
	if (path == NULL || access(path, F_OK) != 0) {
		free(path);
		return 0;
	}
	j = json_load_file(path, 0, &jerr);
	if (j == NULL || json_unpack(j, "{s?s, s?s}", "url", &u, "token", &t)) {
		*cause = xasprintf("cannot read '%s': %s", path,
				   j ? "expected {url, token}" : jerr.text);
		json_decref(j);
		free(path);
		return -1;
	}
	*url = u ? xstrdup(u) : NULL;
	*token = t ? xstrdup(t) : NULL;
	json_decref(j);
	free(path);
	return 0;
}

/* Create dir (and its parent) with mode 0700 unless it exists. */
static int
client_mkdirs(const char *path)
{
	char *parent = xstrdup(path);
	char *slash = strrchr(parent, '/');
	int r = 0;

	if (slash != NULL && slash != parent) {
		*slash = '\0';
		if (mkdir(parent, 0700) < 0 && errno != EEXIST)
			r = -errno;
	}
	free(parent);
	if (r == 0 && mkdir(path, 0700) < 0 && errno != EEXIST)
		r = -errno;
	return r;
}

/* Write the session file atomically (fsync, rename) with mode 0600. */
int
client_session_save(const char *url, const char *token, char **cause)
{
	char *path = client_session_path(), *dir = NULL, *tmp = NULL;
	char *text = NULL;
	json_t *j = NULL;
	int fd = -1, r = -1;

	if (path == NULL) {
		*cause = xstrdup("cannot save the session: neither "
				 "XDG_CONFIG_HOME nor HOME is set");
		return -1;
	}
	dir = xstrndup(path, (size_t)(strrchr(path, '/') - path));
	if (client_mkdirs(dir) < 0) {
		*cause = xasprintf("cannot create '%s': %s", dir,
				   strerror(errno));
		goto out;
	}
	j = json_pack("{s:s, s:s}", "url", url, "token", token);
	text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	if (text == NULL) {
		*cause = xstrdup("cannot encode the session");
		goto out;
	}
	tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, text, strlen(text)) < 0 ||
	    write_all(fd, "\n", 1) < 0 || fsync(fd) < 0) {
		*cause = xasprintf("cannot write '%s': %s", tmp,
				   strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		*cause = xasprintf("cannot rename '%s' to '%s': %s", tmp, path,
				   strerror(errno));
		unlink(tmp);
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(j);
	free(tmp);
	free(dir);
	free(path);
	return r;
}

/* Give a server URL a scheme and no trailing slash. */
char *
client_url_normalize(const char *url)
{
	size_t n = strlen(url);

	while (n > 0 && url[n - 1] == '/')
		n--;
	if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
		return xstrndup(url, n);
	return xasprintf("http://%.*s", (int)n, url);
}

/* Percent-encode everything but unreserved characters. */
char *
client_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b;

	buf_init(&b, 0);
	buf_append(&b, "", 0);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL)
			buf_append(&b, s, 1);
		else
			buf_append(&b, e, 3);
	}
	return buf_steal(&b);
}

/* Start a client for a server URL and an optional token. */
void
client_init(struct client *c, const char *url, const char *token)
{
	static bool global_done;

	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
			fatal("cannot initialize libcurl");
		global_done = true;
	}
	c->url = client_url_normalize(url);
	c->token = token ? xstrdup(token) : NULL;
	c->curl = curl_easy_init();
	if (c->curl == NULL)
		fatal("cannot create a libcurl handle");
}

/* Free the client and its curl handle. */
void
client_release(struct client *c)
{
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	free(c->url);
	free(c->token);
	memset(c, 0, sizeof *c);
}

/* The absolute URL of path on c's server. */
static char *
client_full_url(const struct client *c, const char *path)
{
	if (strncmp(path, "http://", 7) == 0 ||
	    strncmp(path, "https://", 8) == 0)
		return xstrdup(path);
	return xasprintf("%s%s%s", c->url, path[0] == '/' ? "" : "/", path);
}

/* Headers for a request: auth, accept, content type. */
static struct curl_slist *
client_headers(const struct client *c, const char *accept, const char *ctype)
{
	struct curl_slist *h = NULL;
	char *s;

	if (c->token != NULL) {
		s = xasprintf("Authorization: Bearer %s", c->token);
		h = curl_slist_append(h, s);
		free(s);
	}
	s = xasprintf("Accept: %s", accept);
	h = curl_slist_append(h, s);
	free(s);
	if (ctype != NULL) {
		s = xasprintf("Content-Type: %s", ctype);
		h = curl_slist_append(h, s);
		free(s);
	}
	/* No "Expect: 100-continue" round trip for large bodies. */
	h = curl_slist_append(h, "Expect:");
	if (h == NULL)
		fatal("out of memory");
	return h;
}

/* The message for a transport failure. */
static char *
client_transport_cause(const struct client *c, CURLcode code,
		       const char *errbuf)
{
	if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST)
		return xasprintf("cannot reach the server at %s: is `taskbox "
				 "server` running?",
				 c->url);
	if (code == CURLE_OPERATION_TIMEDOUT)
		return xasprintf("the server at %s did not answer in time",
				 c->url);
	return xasprintf("request to %s failed: %s", c->url,
			 errbuf[0] ? errbuf : curl_easy_strerror(code));
}

/* The message of one of a problem's errors[] entries. */
static const char *
client_error_message(json_t *e)
{
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (msg == NULL)
		msg = json_is_string(e) ? json_string_value(e) : "invalid";
	return msg;
}

/* Append one of a problem's errors[] entries, after sep. */
static void
client_problem_error(struct buf *b, json_t *e, const char *sep)
{
	const char *msg = client_error_message(e);
	const char *loc = json_string_value(json_object_get(e, "location"));
	json_t *line = json_object_get(e, "line");
	json_t *col = json_object_get(e, "column");

	buf_puts(b, sep);
	if (json_is_integer(line)) {
		buf_printf(b, "%" JSON_INTEGER_FORMAT,
			   json_integer_value(line));
		if (json_is_integer(col))
			buf_printf(b, ":%" JSON_INTEGER_FORMAT,
				   json_integer_value(col));
		buf_puts(b, ": ");
	} else if (loc != NULL && str_starts_with(loc, "body.")) {
		/* the request's field is the flag or argument a user gave */
		buf_printf(b, "%s: ", loc + strlen("body."));
	} else if (loc != NULL && loc[0] != '\0' && strcmp(loc, "body") != 0) {
		buf_printf(b, "%s: ", loc);
	}
	buf_puts(b, msg);
}

/* A detail that ends by quoting its first error ("template is invalid (2
 * problems); line 3, column 1: X") loses the quote: the entries follow. */
static void
client_drop_repeat(struct buf *b, json_t *errs)
{
	const char *first = client_error_message(json_array_get(errs, 0));
	size_t n = strlen(first);
	char *semi;

	if (json_array_size(errs) == 0 || n == 0 || b->len <= n ||
	    strcmp(b->data + b->len - n, first) != 0)
		return;
	b->data[b->len - n] = '\0';
	semi = strrchr(b->data, ';');
	b->data[b->len - n] = first[0];
	if (semi != NULL) {
		b->len = (size_t)(semi - b->data);
		b->data[b->len] = '\0';
	}
}

/* Turn an error reply into a message: its detail, then one line per errors[]
 * entry. */
char *
client_problem_text(const struct client *c, long status, const char *body,
		    size_t len)
{
	json_t *j, *errs;
	const char *detail = NULL;
	struct buf b;
	char *msg;

	j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	if (status == 401) {
		/* an expired or revoked token says so */
		detail = json_string_value(json_object_get(j, "detail"));
		if (detail && strcmp(detail, "the account is suspended") == 0) {
			msg = xasprintf("%s: ask an admin of %s", detail,
					c->url);
			json_decref(j);
			return msg;
		}
		msg = xasprintf("%s: run `taskbox login %s`",
				detail && str_starts_with(detail, "the token")
					? detail
					: "not logged in or the token is "
					  "invalid",
				c->url);
		json_decref(j);
		return msg;
	}
	buf_init(&b, 0);
	if (json_is_object(j)) {
		detail = json_string_value(json_object_get(j, "detail"));
		if (detail == NULL || detail[0] == '\0')
			detail = json_string_value(json_object_get(j, "title"));
	}
	errs = json_object_get(j, "errors");
	if (json_array_size(errs) == 1 && detail != NULL &&
	    strcmp(client_error_message(json_array_get(errs, 0)), detail) ==
		    0) {
		/* one error that is the detail: say it once, where it is */
		client_problem_error(&b, json_array_get(errs, 0), "");
		json_decref(j);
		return buf_steal(&b);
	}
	if (detail != NULL && detail[0] != '\0') {
		buf_puts(&b, detail);
		client_drop_repeat(&b, errs);
	} else if (j == NULL && len > 0 && len < 300 && body[0] != '<') {
		buf_printf(&b, "server replied %ld: %.*s", status, (int)len,
			   body);
		while (b.len > 0 &&
		       (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
			b.data[--b.len] = '\0';
	} else {
		buf_printf(&b, "server replied HTTP %ld", status);
	}
	for (size_t i = 0; i < json_array_size(errs); i++)
		client_problem_error(&b, json_array_get(errs, i), "\n  ");
	json_decref(j);
	return buf_steal(&b);
}

/* libcurl write callback buffering into a struct buf. */
static size_t
client_write_buf(char *p, size_t size, size_t n, void *arg)
{
	if (buf_append(arg, p, size * n) < 0)
		return 0;
	return size * n;
}

/* Perform one buffered request; HTTP errors are left to the caller. */
int
client_request(struct client *c, const char *method, const char *path,
	       const char *ctype, const char *body, size_t len,
	       struct client_reply *r, char **cause)
{
	CURL *e = c->curl;
	char errbuf[CURL_ERROR_SIZE] = "";
	char *url = client_full_url(c, path);
	struct curl_slist *h = client_headers(c, "application/json", ctype);
	struct buf b;
	CURLcode code;

	memset(r, 0, sizeof *r);
	buf_init(&b, CLIENT_MAX_BODY);
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "taskbox/" TASKBOX_VERSION);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, client_write_buf);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	if (body != NULL || strcmp(method, "POST") == 0 ||
	    strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(body ? len : 0));
	}
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	code = curl_easy_perform(e);
	curl_slist_free_all(h);
	free(url);
	if (code == CURLE_WRITE_ERROR) {
		*cause = xasprintf("the server's reply is larger than %u bytes",
				   CLIENT_MAX_BODY);
		buf_release(&b);
		return -1;
	}
	if (code != CURLE_OK) {
		*cause = client_transport_cause(c, code, errbuf);
		buf_release(&b);
		return -1;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	r->len = b.len;
	buf_append(&b, "", 0);
	r->body = buf_steal(&b);
	return 0;
}

/* Free a reply's body. */
void
client_reply_release(struct client_reply *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* Perform a request and parse its JSON reply, or describe its problem. */
int
client_call(struct client *c, const char *method, const char *path,
	    json_t *body_json, const char *ctype, const char *body, size_t len,
	    json_t **out, char **cause)
{
	struct client_reply r;
	char *enc = NULL;
	json_error_t jerr;
	int ret;

	*out = NULL;
	if (body_json != NULL) {
		enc = json_dumps(body_json, JSON_COMPACT);
		if (enc == NULL)
			fatal("cannot encode a request body");
		body = enc;
		len = strlen(enc);
		ctype = "application/json";
	}
	ret = client_request(c, method, path, ctype, body, len, &r, cause);
	free(enc);
	if (ret < 0)
		return -1;
	if (r.status < 200 || r.status > 299) {
		*out = r.len ? json_loadb(r.body, r.len, 0, NULL) : NULL;
		*cause = client_problem_text(c, r.status, r.body, r.len);
		ret = (int)r.status;
	} else if (r.len > 0) {
		*out = json_loadb(r.body, r.len, 0, &jerr);
		if (*out == NULL) {
			*cause = xasprintf("the server's reply is not JSON: %s",
					   jerr.text);
			ret = -1;
		}
	}
	client_reply_release(&r);
	return ret;
}

/* Perform a JSON request, dropping any problem body. */
int
client_json(struct client *c, const char *method, const char *path,
	    json_t *body, json_t **out, char **cause)
{
	json_t *tmp = NULL;
	int r;

	r = client_call(c, method, path, body, NULL, NULL, 0, out ? out : &tmp,
			cause);
	if (r != 0 && out != NULL) {
		json_decref(*out);
		*out = NULL;
	}
	json_decref(tmp);
	return r;
}

/* State of one streaming request. */
struct client_stream_ctx {
	CURL *easy;
	struct sse_parser parser;
	struct buf err; /* the body of a non-200 reply */
	long status;
	int stop; /* a callback's stop value, or the parser's error */
};

/* libcurl write callback of a stream: SSE when 200, else the error. */
static size_t
client_stream_write(char *p, size_t size, size_t n, void *arg)
{
	struct client_stream_ctx *s = arg;
	int r;

	if (s->status == 0)
		curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status != 200) {
		if (buf_append(&s->err, p, size * n) < 0)
			return 0;
		return size * n;
	}
	r = sse_parser_feed(&s->parser, p, size * n);
	if (r != 0) {
		s->stop = r;
		return 0;
	}
	return size * n;
}

/* Follow an SSE stream in a curl multi loop, also watching ops->fd and the
 * clock. */
int
client_stream(struct client *c, const char *path,
	      const struct client_stream_ops *ops, void *arg, char **cause)
{
	struct client_stream_ctx s = {0};
	char errbuf[CURL_ERROR_SIZE] = "";
	char *url = client_full_url(c, path);
	struct curl_slist *h = client_headers(c, "text/event-stream", NULL);
	uint64_t start = now_ms(), next_tick = start + ops->tick_ms;
	CURLM *m = curl_multi_init();
	CURLcode code = CURLE_OK;
	CURLMsg *msg;
	int running = 1, left, r = 0;

	if (m == NULL)
		fatal("cannot create a libcurl multi handle");
	s.easy = curl_easy_init();
	if (s.easy == NULL)
		fatal("cannot create a libcurl handle");
	sse_parser_init(&s.parser, ops->on_event, arg);
	buf_init(&s.err, 65536);
	curl_easy_setopt(s.easy, CURLOPT_URL, url);
	curl_easy_setopt(s.easy, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(s.easy, CURLOPT_USERAGENT, "taskbox/" TASKBOX_VERSION);
	curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s.easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(s.easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, client_stream_write);
	curl_easy_setopt(s.easy, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(s.easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_multi_add_handle(m, s.easy);

	for (;;) {
		struct curl_waitfd wfd = {.fd = ops->fd,
					  .events = CURL_WAIT_POLLIN};
		uint64_t now, wait = 1000;

		curl_multi_perform(m, &running);
		if (s.stop != 0 || running == 0)
			break;
		now = now_ms();
		if (ops->on_tick != NULL && ops->tick_ms > 0) {
			if (now >= next_tick) {
				next_tick = now + ops->tick_ms;
				r = ops->on_tick(arg);
				if (r != 0)
					goto out;
			}
			wait = MIN(wait, next_tick - now);
		}
		if (ops->timeout_ms > 0) {
			if (now - start >= ops->timeout_ms) {
				*cause = xasprintf("gave up after %" PRIu64
						   " seconds",
						   ops->timeout_ms / 1000);
				r = -ETIMEDOUT;
				goto out;
			}
			wait = MIN(wait, start + ops->timeout_ms - now);
		}
		curl_multi_poll(m, ops->fd >= 0 && ops->on_fd ? &wfd : NULL,
				ops->fd >= 0 && ops->on_fd ? 1 : 0, (int)wait,
				NULL);
		if (ops->fd >= 0 && ops->on_fd != NULL &&
		    (wfd.revents & (CURL_WAIT_POLLIN | POLLHUP))) {
			r = ops->on_fd(ops->fd, arg);
			if (r != 0)
				goto out;
		}
	}
	while ((msg = curl_multi_info_read(m, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE)
			code = msg->data.result;
	}
	if (s.stop == -ENOBUFS) {
		*cause = xstrdup("an event from the server is too large");
		r = -EIO;
	} else if (s.stop != 0) {
		r = s.stop;
	} else if (code != CURLE_OK) {
		*cause = client_transport_cause(c, code, errbuf);
		r = -EIO;
	} else if (s.status != 200) {
		*cause =
			client_problem_text(c, s.status, s.err.data, s.err.len);
		r = -EIO;
	}
out:
	curl_multi_remove_handle(m, s.easy);
	curl_easy_cleanup(s.easy);
	curl_multi_cleanup(m);
	curl_slist_free_all(h);
	sse_parser_release(&s.parser);
	buf_release(&s.err);
	free(url);
	return r;
}
