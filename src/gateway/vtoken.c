/*
 * vtoken.c: OAuth2 bearer tokens for vertex providers (vtoken.h).
 *
 * Data model: one struct vtoken_entry per provider record (name +
 * generation) on a global list: the cached token (struct gauth_token,
 * refreshed GAUTH_REFRESH_MARGIN before expiry), and while a fetch runs
 * its curl handle, request body, reply buffer (GAUTH_REPLY_MAX at most)
 * and the waiters (struct vtoken_wait, doubly linked; each knows the
 * head of the list it is on, so vtoken_cancel unlinks it wherever it
 * is). A fetch is the JWT-bearer grant: the service account's key file
 * parsed (gauth.c), its token_uri checked against the allowlist (Google's
 * own endpoint, the origin of the provider's --url, and
 * TASKBOX_GOOGLE_TOKEN_URIS for tests), a signed assertion posted there
 * through curlev. When it ends every waiter is called, one by one from a
 * list taken off the entry first (a callback may start the next fetch or
 * cancel another waiter). A provider record that changed (new
 * generation) gets a new entry; the old one leaves the list and is freed
 * once its fetch and callbacks are over. Assertion, request body and
 * reply are wiped when freed; no message holds key material or a token.
 */
#include "common.h"

#include <openssl/crypto.h>
#include <time.h>

#include "buf.h"
#include "gateway/curlev.h"
#include "gateway/gauth.h"
#include "gateway/route.h"
#include "gateway/vtoken.h"
#include "log.h"

#define GOOGLE_TOKEN_URI	"https://oauth2.googleapis.com/token"
#define FETCH_TIMEOUT_S		30L
#define FETCH_CONNECT_TIMEOUT_S 10L

struct vtoken_wait {
	struct vtoken_wait **head; /* the list it is on */
	struct vtoken_wait *prev, *next;
	vtoken_fn fn;
	void *data;
};

struct vtoken_entry {
	struct vtoken_entry *next; /* on entries, unless stale */
	char *name;
	uint64_t generation;
	struct gauth_token tok; /* the cached token, or empty */
	CURL *easy;		/* the fetch running, or NULL */
	struct curl_slist *headers;
	char *uri;  /* the fetch's token_uri */
	char *body; /* its form body (holds the assertion) */
	struct buf reply;
	struct vtoken_wait *waiters;
	bool stale;	 /* replaced by a newer generation, off the list */
	int dispatching; /* inside the waiters' callbacks */
};

static struct vtoken_entry *entries;

/* The time in seconds since the epoch. */
static int64_t
clock_wall(void)
{
	return (int64_t)time(NULL);
}

/* The clock tokens are judged by (tests replace it). */
static int64_t (*vtoken_now)(void) = clock_wall;

/* Free e's fetch state (handle, body, reply), wiping what held
 * credentials. */
static void
fetch_clear(struct vtoken_entry *e)
{
	if (e->easy)
		curl_easy_cleanup(e->easy);
	e->easy = NULL;
	curl_slist_free_all(e->headers);
	e->headers = NULL;
	if (e->body)
		OPENSSL_cleanse(e->body, strlen(e->body));
	free(e->body);
	e->body = NULL;
	free(e->uri);
	e->uri = NULL;
	if (e->reply.data)
		OPENSSL_cleanse(e->reply.data, e->reply.cap);
	buf_release(&e->reply);
}

/* Free e once nothing holds it: off the list (stale), no fetch, no
 * waiters, not calling them. */
static void
entry_maybe_free(struct vtoken_entry *e)
{
	if (!e->stale || e->easy || e->waiters || e->dispatching)
		return;
	gauth_token_clear(&e->tok);
	fetch_clear(e);
	free(e->name);
	free(e);
}

/* Take e off the entries list and free it when idle (a newer generation
 * of its provider replaces it). */
static void
entry_retire(struct vtoken_entry *e)
{
	for (struct vtoken_entry **pp = &entries; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	e->next = NULL;
	e->stale = true;
	entry_maybe_free(e);
}

/* The entry for p's record, made when missing; an older generation's is
 * retired. */
static struct vtoken_entry *
entry_get(const struct provider *p)
{
	struct vtoken_entry *e;

	for (e = entries; e; e = e->next)
		if (!strcmp(e->name, p->name))
			break;
	if (e && e->generation == p->generation)
		return e;
	if (e)
		entry_retire(e);
	e = xcalloc(1, sizeof(*e));
	e->name = xstrdup(p->name);
	e->generation = p->generation;
	buf_init(&e->reply, GAUTH_REPLY_MAX);
	e->next = entries;
	entries = e;
	return e;
}

/* Whether uri starts with the origin (scheme://host[:port]) of url and a
 * '/'. */
static bool
same_origin(const char *uri, const char *url)
{
	const char *h = url ? strstr(url, "://") : NULL;
	size_t n;

	if (!h)
		return false;
	n = (size_t)(h + 3 - url) + strcspn(h + 3, "/?#");
	return !strncmp(uri, url, n) && uri[n] == '/';
}

/* Whether a key file's token_uri may receive p's assertion: Google's
 * endpoint, the origin of p's own --url, or one listed (exactly) in
 * TASKBOX_GOOGLE_TOKEN_URIS, comma-separated. */
static bool
uri_allowed(const char *uri, const struct provider *p)
{
	const char *list = getenv("TASKBOX_GOOGLE_TOKEN_URIS"), *c, *end;

	if (!strcmp(uri, GOOGLE_TOKEN_URI))
		return true;
	if (p->url_given && same_origin(uri, p->url))
		return true;
	for (c = list; c && *c; c = *end ? end + 1 : end) {
		end = c + strcspn(c, ",");
		if ((size_t)(end - c) == strlen(uri) &&
		    !strncmp(c, uri, (size_t)(end - c)))
			return true;
	}
	return false;
}

/* curl's write callback: append to the reply, failing the transfer past
 * GAUTH_REPLY_MAX. */
static size_t
reply_write(char *ptr, size_t size, size_t n, void *data)
{
	struct vtoken_entry *e = data;

	if (buf_append(&e->reply, ptr, size * n) < 0)
		return 0;
	return size * n;
}

/* Build the token request for p (assertion signed at now) into e's fetch
 * state: 0, or -errno with *cause (new, never key material). */
static int
fetch_build(struct vtoken_entry *e, const struct provider *p, int64_t now,
	    char **cause)
{
	struct gauth_key *key = NULL;
	struct provider q = *p;
	char *jwt = NULL;
	int rc;

	rc = gauth_key_parse(p->service_account, strlen(p->service_account),
			     &key, cause);
	if (rc < 0)
		goto out;
	if (!uri_allowed(gauth_key_token_uri(key), p)) {
		*cause = xasprintf("token_uri '%s' is not allowed (%s, the "
				   "provider's own origin, or "
				   "TASKBOX_GOOGLE_TOKEN_URIS)",
				   gauth_key_token_uri(key), GOOGLE_TOKEN_URI);
		rc = -EPERM;
		goto out;
	}
	rc = gauth_assertion(key, now, &jwt, cause);
	if (rc < 0)
		goto out;
	e->uri = xstrdup(gauth_key_token_uri(key));
	e->body = gauth_token_body(jwt);
	e->easy = curl_easy_init();
	if (!e->easy)
		fatal("curl_easy_init failed");
	/* a --ca-file is for the provider's own host, not Google's */
	if (!p->url_given || !same_origin(e->uri, p->url))
		q.ca_pem = NULL;
	gw_curl_setup(e->easy, &q);
	e->headers = curl_slist_append(
		NULL, "Content-Type: application/x-www-form-urlencoded");
	e->headers = curl_slist_append(e->headers, "Accept: application/json");
	curl_easy_setopt(e->easy, CURLOPT_URL, e->uri);
	curl_easy_setopt(e->easy, CURLOPT_HTTPHEADER, e->headers);
	curl_easy_setopt(e->easy, CURLOPT_POSTFIELDS, e->body);
	curl_easy_setopt(e->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(e->body));
	curl_easy_setopt(e->easy, CURLOPT_WRITEFUNCTION, reply_write);
	curl_easy_setopt(e->easy, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(e->easy, CURLOPT_TIMEOUT, FETCH_TIMEOUT_S);
	curl_easy_setopt(e->easy, CURLOPT_CONNECTTIMEOUT,
			 FETCH_CONNECT_TIMEOUT_S);
out:
	if (jwt)
		OPENSSL_cleanse(jwt, strlen(jwt));
	free(jwt);
	gauth_key_free(key);
	if (rc < 0)
		fetch_clear(e);
	return rc;
}

/* The fetch ended with curl's rc and the HTTP status: cache the token or
 * make the error, then call every waiter (taken off e first). */
static void
fetch_finish(struct vtoken_entry *e, CURLcode rc, long status)
{
	struct vtoken_wait *pending = e->waiters, *w;
	char *cause = NULL, *error = NULL;

	gauth_token_clear(&e->tok);
	if (rc != CURLE_OK) {
		error = xasprintf("token request to %s failed: %s", e->uri,
				  rc == CURLE_WRITE_ERROR
					  ? "reply too large"
					  : curl_easy_strerror(rc));
	} else if (gauth_token_parse(e->reply.data ? e->reply.data : "",
				     e->reply.len, vtoken_now(), &e->tok,
				     &cause) < 0 ||
		   status != 200) {
		gauth_token_clear(&e->tok);
		error = xasprintf("token endpoint %s answered %ld: %s", e->uri,
				  status, cause ? cause : "no token");
	} else {
		log_debug("vertex token for provider '%s' good for %lld s",
			  e->name,
			  (long long)(e->tok.expires_at - vtoken_now()));
	}
	free(cause);
	fetch_clear(e);
	e->waiters = NULL;
	for (w = pending; w; w = w->next)
		w->head = &pending;
	e->dispatching++;
	while ((w = pending)) {
		pending = w->next;
		if (pending)
			pending->prev = NULL;
		w->fn(error ? NULL : e->tok.access_token, error, w->data);
		free(w);
	}
	e->dispatching--;
	if (error)
		log_warn("vertex provider '%s': %s", e->name, error);
	free(error);
	entry_maybe_free(e);
}

/* curlev's done callback for a token fetch. */
static void
fetch_done(CURL *easy, CURLcode rc, void *data)
{
	long status = 0;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	fetch_finish(data, rc, status);
}

struct vtoken_wait *
vtoken_get(struct provider *p, vtoken_fn fn, void *data)
{
	struct vtoken_entry *e;
	struct vtoken_wait *w;
	char *cause = NULL;

	if (p->type != PROVIDER_VERTEX || !p->service_account) {
		cause = xasprintf("provider '%s' has no service account",
				  p->name);
		fn(NULL, cause, data);
		free(cause);
		return NULL;
	}
	e = entry_get(p);
	if (gauth_token_fresh(&e->tok, vtoken_now())) {
		fn(e->tok.access_token, NULL, data);
		return NULL;
	}
	if (!e->easy) {
		if (fetch_build(e, p, vtoken_now(), &cause) < 0) {
			char *msg = xasprintf("vertex provider '%s': %s",
					      p->name, cause);

			fn(NULL, msg, data);
			free(msg);
			free(cause);
			return NULL;
		}
		curlev_add(e->easy, fetch_done, e);
	}
	w = xcalloc(1, sizeof(*w));
	w->fn = fn;
	w->data = data;
	w->head = &e->waiters;
	if (!e->waiters) {
		e->waiters = w;
		return w;
	}
	for (w->prev = e->waiters; w->prev->next; w->prev = w->prev->next)
		;
	w->prev->next = w;
	return w;
}

void
vtoken_cancel(struct vtoken_wait *w)
{
	if (!w)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		*w->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	free(w);
}
