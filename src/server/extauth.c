/*
 * extauth.c: external auth for GitHub (extauth.h).
 *
 * Data model: the store holds the OAuth app (external_auth_configs, the
 * client secret sealed, the callback URL the web flow sends as
 * redirect_uri: never the request's Host, which a caller forges) and one link
 * per user (external_auth_links, the token JSON {access_token, refresh_token?}
 * sealed, bound to the label "extauth/github/USER_ID" under a key derived from
 * the secrets key); nothing of either is cached here, so every replica sees the
 * same. A call to GitHub is a struct extauth_op on a list (ops): its kind (code
 * exchange, device code, device poll, refresh, token check), the deferred
 * request it answers (NULL for a refresh), the user, the config it was
 * made with, the token it got and its one running transfer (curl handle,
 * form body, reply buffer bounded by EXTAUTH_REPLY_MAX). A flow that links
 * asks the token endpoint, then GET /user with the new token, then
 * stores the link. The refresh timer fires at the soonest expiry of a
 * refreshable link minus the margin (TASKBOX_EXTAUTH_REFRESH_MARGIN
 * seconds, else 300), or within a minute to see other replicas' links;
 * a refresh first claims the link's row at its generation, so two
 * replicas never spend the same (rotating) refresh token. Transfers go
 * to GitHub only: no proxy, no redirects, http and https, timeouts.
 * Tokens, codes and secrets are wiped when freed and never logged.
 * Parsing GitHub's replies is extauth-parse.c's (pure).
 */
#include "common.h"

#include <stdarg.h>
#include <curl/curl.h>
#include <sodium.h>

#include "core/buf.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/text.h"
#include "gateway/curlev.h"
#include "http/http.h"
#include "server.h"
#include "server/extauth.h"
#include "server/secrets.h"
#include "store/store-rows.h"

#define EXTAUTH_KEY_LABEL	"taskbox external auth"
#define EXTAUTH_REPLY_MAX	(64u * 1024)
#define EXTAUTH_TIMEOUT_S	20L
#define EXTAUTH_CONNECT_S	10L
#define EXTAUTH_CLAIM_MS	60000
#define EXTAUTH_RESCAN_MS	60000
#define EXTAUTH_MARGIN_S	300
#define EXTAUTH_CHECK_S		60
#define EXTAUTH_REFRESH_BATCH	16
#define EXTAUTH_OPS_MAX		256
#define EXTAUTH_OPS_PER_USER	4
#define EXTAUTH_DEFAULT_BASE	"https://github.com"
#define EXTAUTH_DEFAULT_API	"https://api.github.com"
#define EXTAUTH_DEFAULT_SCOPES	"repo read:user"
#define EXTAUTH_RELINK		"link your GitHub account again"
#define EXTAUTH_DEVICE_LABEL	"taskbox external auth device code"
#define EXTAUTH_DEVICE_CODE_MAX 400

/* The OAuth app, opened from the store. */
struct extauth_config {
	char *client_id, *client_secret, *base_url, *api_url, *scopes;
	char *callback_url;
};

enum extauth_kind {
	EXTAUTH_CODE,	     /* the web callback: code -> token -> user */
	EXTAUTH_DEVICE_CODE, /* ask for a device code */
	EXTAUTH_DEVICE_POLL, /* device code -> token -> user */
	EXTAUTH_REFRESH,     /* refresh token -> token */
	EXTAUTH_CHECK,	     /* GET /user with the stored token */
};

struct extauth_op {
	struct extauth_op *next;
	enum extauth_kind kind;
	struct http_req *req; /* deferred; NULL for a refresh */
	char *user_id;
	struct extauth_config *cfg;
	struct extauth_token tok; /* what the token endpoint gave */
	int64_t generation;	  /* the link's, for a refresh or check */
	bool user_stage;	  /* waiting on GET /user */
	CURL *easy;
	struct curl_slist *headers;
	char *body; /* the form (wiped) */
	struct buf reply;
};

static struct extauth_op *ops;
static size_t nops;
static struct ev_timer extauth_timer;
static bool extauth_timer_ready;

/* Free a config (the secret wiped). */
static void
extauth_config_free(struct extauth_config *c)
{
	if (c == NULL)
		return;
	free(c->client_id);
	extauth_wipe(c->client_secret);
	free(c->base_url);
	free(c->api_url);
	free(c->scopes);
	free(c->callback_url);
	free(c);
}

/* The seal label of user_id's link (new string). */
static char *
extauth_link_label(const char *user_id)
{
	return xasprintf("extauth/" EXTAUTH_GITHUB "/%s", user_id);
}

/* The seal label of the config of client_id (new string). */
static char *
extauth_config_label(const char *client_id)
{
	return xasprintf("extauth-config/" EXTAUTH_GITHUB "/%s", client_id);
}

/* Seal text under label: new base64 *nonce and *ct. */
static void
extauth_seal(const char *label, const char *text, char **nonce, char **ct)
{
	unsigned char key[SECRETS_KEY_BYTES];

	secrets_derive_key(EXTAUTH_KEY_LABEL, key);
	secrets_seal(key, label, text, strlen(text), nonce, ct);
	sodium_memzero(key, sizeof key);
}

/* Open row's nonce and ciphertext under label: *out as secrets_open. */
static int
extauth_open(const json_t *row, const char *label, char **out)
{
	unsigned char key[SECRETS_KEY_BYTES];
	size_t len;
	int r;

	secrets_derive_key(EXTAUTH_KEY_LABEL, key);
	r = secrets_open(key, label,
			 json_string_value(json_object_get(row, "nonce")) ?: "",
			 json_string_value(json_object_get(row, "ciphertext"))
				 ?: "",
			 out, &len);
	sodium_memzero(key, sizeof key);
	return r;
}

/* The config from the store (new), or NULL when none or it does not
 * open (logged). */
static struct extauth_config *
extauth_config_load(void)
{
	json_t *row = store_extauth_config_get(srv->store, EXTAUTH_GITHUB);
	struct extauth_config *c;
	char *label, *secret = NULL;

	if (row == NULL)
		return NULL;
	label = extauth_config_label(
		json_string_value(json_object_get(row, "client_id")) ?: "");
	if (extauth_open(row, label, &secret) < 0) {
		log_warn("external auth: the GitHub client secret does not "
			 "open (another secrets key?): set it again");
		free(label);
		json_decref(row);
		return NULL;
	}
	free(label);
	c = xcalloc(1, sizeof *c);
	c->client_secret = xstrdup(secret);
	secrets_free(secret);
#define COPY(f)                                                                \
	c->f = xstrdup(json_string_value(json_object_get(row, #f)) ?: "")
	COPY(client_id);
	COPY(base_url);
	COPY(api_url);
	COPY(scopes);
	COPY(callback_url);
#undef COPY
	json_decref(row);
	return c;
}

bool
extauth_configured(void)
{
	json_t *row = store_extauth_config_get(srv->store, EXTAUTH_GITHUB);
	bool yes = row != NULL;

	json_decref(row);
	return yes;
}

/* An RFC 3339 string for ms, or null when ms is not a number > 0 (new
 * reference). */
static json_t *
extauth_time(const json_t *ms)
{
	char stamp[32];

	if (!json_is_integer(ms) || json_integer_value(ms) <= 0)
		return json_null();
	time_rfc3339((uint64_t)json_integer_value(ms), stamp);
	return json_string(stamp);
}

json_t *
extauth_config_json(void)
{
	json_t *row = store_extauth_config_get(srv->store, EXTAUTH_GITHUB), *o;

	if (row == NULL)
		return NULL;
	o = json_pack(
		"{s:s, s:O, s:O, s:O, s:O, s:O, s:b, s:o, s:o}", "provider",
		EXTAUTH_GITHUB, "client_id", json_object_get(row, "client_id"),
		"base_url", json_object_get(row, "base_url"), "api_url",
		json_object_get(row, "api_url"), "scopes",
		json_object_get(row, "scopes"), "callback_url",
		json_object_get(row, "callback_url"), "has_client_secret", 1,
		"created_at", extauth_time(json_object_get(row, "created_at")),
		"updated_at", extauth_time(json_object_get(row, "updated_at")));
	json_decref(row);
	return o;
}

/* A string member of body: *out the value, NULL when absent; false when
 * it is there but not a string. */
static bool
extauth_member(const json_t *body, const char *key, const char **out)
{
	const json_t *v = json_object_get(body, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v))
		return false;
	*out = json_string_value(v);
	return true;
}

/* The callback URL a PUT sets (new string): body's callback, else the
 * stored one, else default_callback; NULL when the one chosen is bad. */
static char *
extauth_callback_pick(const char *callback, const char *default_callback)
{
	json_t *row;
	char *url;

	if (callback != NULL && *callback != '\0')
		return extauth_callback_norm(callback);
	row = store_extauth_config_get(srv->store, EXTAUTH_GITHUB);
	callback = json_string_value(json_object_get(row, "callback_url"));
	url = extauth_callback_norm(callback != NULL && *callback != '\0'
					    ? callback
					    : default_callback);
	json_decref(row);
	return url;
}

int
extauth_config_set(const json_t *body, const char *default_callback,
		   const char **field, char **cause)
{
	const char *client_id, *secret, *base, *api, *scopes, *callback, *k;
	static const char *const known[] = {
		"client_id", "client_secret", "base_url", "api_url",
		"scopes",    "callback_url",  NULL};
	struct extauth_config *old = NULL;
	char *base_n = NULL, *api_n = NULL, *nonce = NULL, *ct = NULL;
	char *label = NULL, *kept = NULL, *callback_n = NULL;
	json_t *v;
	int r = -EINVAL;

	json_object_foreach((json_t *)body, k, v)
	{
		size_t i;

		for (i = 0; known[i] != NULL && strcmp(known[i], k) != 0; i++)
			;
		if (known[i] == NULL) {
			*field = "body";
			*cause = xasprintf("unknown member '%s' (client_id, "
					   "client_secret, base_url, api_url, "
					   "scopes, callback_url)",
					   utf8_valid(k, strlen(k)) ? k : "?");
			return -EINVAL;
		}
	}
	for (size_t i = 0; known[i] != NULL; i++) {
		if (!extauth_member(body, known[i], &k)) {
			*field = known[i];
			*cause = xasprintf("%s must be a string", known[i]);
			return -EINVAL;
		}
	}
	extauth_member(body, "client_id", &client_id);
	extauth_member(body, "client_secret", &secret);
	extauth_member(body, "base_url", &base);
	extauth_member(body, "api_url", &api);
	extauth_member(body, "scopes", &scopes);
	extauth_member(body, "callback_url", &callback);
	if (client_id == NULL || !extauth_printable(client_id, 128)) {
		*field = "client_id";
		*cause = xstrdup("client_id is required: 1-128 printable "
				 "characters without spaces");
		goto out;
	}
	if (secret == NULL || *secret == '\0') {
		/* kept from the stored config (a form never shows it) */
		old = extauth_config_load();
		if (old == NULL) {
			*field = "client_secret";
			*cause = xstrdup("client_secret is required");
			goto out;
		}
		kept = xstrdup(old->client_secret);
		secret = kept;
	}
	base_n = extauth_url_norm(base && *base ? base : EXTAUTH_DEFAULT_BASE);
	if (base_n == NULL) {
		*field = "base_url";
		*cause = xstrdup("base_url must be an http(s) URL without "
				 "query or user info, e.g. https://github.com");
		goto out;
	}
	if (old != NULL && strcmp(old->base_url, base_n) != 0) {
		/* the secret goes to base_url: never a kept one to a new
		 * host (a stolen admin session would collect it) */
		*field = "client_secret";
		*cause = xstrdup("client_secret is required when base_url "
				 "changes");
		goto out;
	}
	if (!extauth_printable(secret, 256)) {
		*field = "client_secret";
		*cause = xstrdup("client_secret must be 1-256 printable "
				 "characters without spaces");
		goto out;
	}
	if (api != NULL && *api != '\0')
		api_n = extauth_url_norm(api);
	else if (strcmp(base_n, EXTAUTH_DEFAULT_BASE) == 0)
		api_n = xstrdup(EXTAUTH_DEFAULT_API);
	else
		api_n = xasprintf("%s/api/v3", base_n);
	if (api_n == NULL) {
		*field = "api_url";
		*cause = xstrdup("api_url must be an http(s) URL without query "
				 "or user info, e.g. https://api.github.com");
		goto out;
	}
	if (scopes == NULL)
		scopes = EXTAUTH_DEFAULT_SCOPES;
	if (!extauth_scopes_valid(scopes)) {
		*field = "scopes";
		*cause = xstrdup("scopes must be at most 256 of [A-Za-z0-9:_,. "
				 "-], e.g. \"repo read:user\"");
		goto out;
	}
	callback_n = extauth_callback_pick(callback, default_callback);
	if (callback_n == NULL) {
		*field = "callback_url";
		*cause = xstrdup("callback_url must be an http(s) URL ending "
				 "with " EXTAUTH_CALLBACK_PATH
				 ", the OAuth app's callback URL at GitHub");
		goto out;
	}
	label = extauth_config_label(client_id);
	extauth_seal(label, secret, &nonce, &ct);
	r = store_extauth_config_put(
		srv->store,
		&(struct store_extauth_config_row){EXTAUTH_GITHUB, client_id,
						   base_n, api_n, scopes,
						   callback_n, nonce, ct},
		(int64_t)wall_ms());
	if (r < 0) {
		*cause = xstrdup("cannot store the config");
		r = -EIO;
	}
out:
	extauth_config_free(old);
	extauth_wipe(kept);
	free(base_n);
	free(api_n);
	free(callback_n);
	free(label);
	free(nonce);
	free(ct);
	return r;
}

int
extauth_config_delete(void)
{
	int r = store_extauth_config_delete(srv->store, EXTAUTH_GITHUB);

	return r == -ENOENT ? r : r < 0 ? -EIO : 0;
}

/* ---- calls to GitHub ---- */

/* Take op off the list, stop its transfer and free it. */
static void
extauth_op_free(struct extauth_op *op)
{
	struct extauth_op **pp;

	for (pp = &ops; *pp != NULL && *pp != op; pp = &(*pp)->next)
		;
	if (*pp == op) {
		*pp = op->next;
		nops--;
	}
	if (op->easy != NULL) {
		curlev_cancel(op->easy);
		curl_easy_cleanup(op->easy);
	}
	curl_slist_free_all(op->headers);
	extauth_wipe(op->body);
	if (op->reply.data != NULL)
		sodium_memzero(op->reply.data, op->reply.len);
	buf_release(&op->reply);
	extauth_token_clear(&op->tok);
	extauth_config_free(op->cfg);
	free(op->user_id);
	free(op);
}

/* Whether user_id (NULL: nobody) runs EXTAUTH_OPS_PER_USER calls to
 * GitHub already. */
static bool
extauth_user_busy(const char *user_id)
{
	size_t n = 0;

	for (struct extauth_op *op = ops; op != NULL && user_id != NULL;
	     op = op->next)
		if (op->req != NULL && op->user_id != NULL &&
		    strcmp(op->user_id, user_id) == 0)
			n++;
	return n >= EXTAUTH_OPS_PER_USER;
}

/* A new op on the list (takes cfg), or NULL when too many run (in all,
 * or for a request's user). */
static struct extauth_op *
extauth_op_new(enum extauth_kind kind, struct http_req *req,
	       const char *user_id, struct extauth_config *cfg)
{
	struct extauth_op *op;

	if (nops >= EXTAUTH_OPS_MAX ||
	    (req != NULL && extauth_user_busy(user_id))) {
		extauth_config_free(cfg);
		return NULL;
	}
	op = xcalloc(1, sizeof *op);
	op->kind = kind;
	op->req = req;
	op->user_id = user_id ? xstrdup(user_id) : NULL;
	op->cfg = cfg;
	buf_init(&op->reply, EXTAUTH_REPLY_MAX);
	op->next = ops;
	ops = op;
	nops++;
	return op;
}

/* libcurl's write callback: into the op's bounded reply. */
static size_t
extauth_write(char *p, size_t size, size_t n, void *data)
{
	struct extauth_op *op = data;

	if (buf_append(&op->reply, p, size * n) < 0)
		return 0; /* past EXTAUTH_REPLY_MAX: CURLE_WRITE_ERROR */
	return size * n;
}

static void extauth_op_done(CURL *easy, CURLcode rc, void *data);

/*
 * Start op's transfer: POST form (takes it; NULL: a GET) to url, with
 * "Authorization: Bearer token" when token is not NULL.
 */
static void
extauth_op_send(struct extauth_op *op, const char *url, char *form,
		const char *token)
{
	char *auth;

	if (op->easy != NULL) {
		curl_easy_cleanup(op->easy);
		curl_slist_free_all(op->headers);
		op->headers = NULL;
	}
	extauth_wipe(op->body);
	op->body = form;
	buf_clear(&op->reply);
	if ((op->easy = curl_easy_init()) == NULL)
		fatal("curl_easy_init failed");
	op->headers = curl_slist_append(NULL, "Accept: application/json");
	op->headers = curl_slist_append(op->headers,
					"User-Agent: taskbox/" TASKBOX_VERSION);
	if (token != NULL) {
		auth = xasprintf("Authorization: Bearer %s", token);
		op->headers = curl_slist_append(op->headers, auth);
		extauth_wipe(auth);
	}
	curl_easy_setopt(op->easy, CURLOPT_URL, url);
	curl_easy_setopt(op->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(op->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(op->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(op->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(op->easy, CURLOPT_TIMEOUT, EXTAUTH_TIMEOUT_S);
	curl_easy_setopt(op->easy, CURLOPT_CONNECTTIMEOUT, EXTAUTH_CONNECT_S);
	curl_easy_setopt(op->easy, CURLOPT_HTTPHEADER, op->headers);
	curl_easy_setopt(op->easy, CURLOPT_WRITEFUNCTION, extauth_write);
	curl_easy_setopt(op->easy, CURLOPT_WRITEDATA, op);
	if (form != NULL) {
		curl_easy_setopt(op->easy, CURLOPT_POSTFIELDS, op->body);
		curl_easy_setopt(op->easy, CURLOPT_POSTFIELDSIZE,
				 (long)strlen(op->body));
	}
	curlev_add(op->easy, extauth_op_done, op);
}

/* Append "&key=value" (value URL-encoded) to a form. */
static void
extauth_form_add(struct buf *b, const char *key, const char *value)
{
	char *enc = curl_easy_escape(NULL, value, 0);

	if (enc == NULL)
		fatal("curl_easy_escape failed");
	buf_printf(b, "%s%s=%s", b->len ? "&" : "", key, enc);
	sodium_memzero(enc, strlen(enc));
	curl_free(enc);
}

/* POST op's form of (key, value, ..., NULL) pairs to cfg's base_url +
 * path. */
static void
extauth_op_post(struct extauth_op *op, const char *path, ...)
{
	struct buf b;
	const char *k, *v;
	char *url = xasprintf("%s%s", op->cfg->base_url, path);
	va_list ap;

	buf_init(&b, 0);
	va_start(ap, path);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		extauth_form_add(&b, k, v);
	}
	va_end(ap);
	extauth_op_send(op, url, buf_steal(&b), NULL);
	free(url);
}

/* GET API/user with op's token. */
static void
extauth_op_get_user(struct extauth_op *op, const char *token)
{
	char *url = xasprintf("%s/user", op->cfg->api_url);

	op->user_stage = true;
	extauth_op_send(op, url, NULL, token);
	free(url);
}

/* Where to send a browser after the web flow: /settings with the
 * outcome, NULL for linked, else an error code (docs/API.md: never free
 * text, which a crafted link could set), as a new string. */
static char *
extauth_settings_url(const char *code)
{
	if (code == NULL)
		return xstrdup("/settings?external_auth=" EXTAUTH_GITHUB);
	return xasprintf("/settings?external_auth_error=%s", code);
}

void
extauth_web_refuse(struct http_req *req, const char *code, const char *why)
{
	char *url = extauth_settings_url(code);

	log_info("external auth: a GitHub link from the web refused (%s): %s",
		 code, why);
	http_reply_header(req, "Cache-Control", "no-store");
	http_reply_redirect(req, 303, url);
	free(url);
}

/* Answer op's request with an error (status and msg for the API flows;
 * the web flow redirects to settings with the status's code) and free
 * op. */
static void
extauth_op_fail(struct extauth_op *op, unsigned status, const char *msg)
{
	if (op->req != NULL && op->kind == EXTAUTH_CODE)
		extauth_web_refuse(op->req,
				   status == 409   ? "taken"
				   : status == 500 ? "store"
				   : status == 503 ? "busy"
						   : "github",
				   msg);
	else if (op->req != NULL)
		http_reply_problem(op->req, status, "%s", msg);
	extauth_op_free(op);
}

/* ---- the refresh timer ---- */

/* The margin before expiry at which tokens are refreshed, in ms. */
static int64_t
extauth_margin_ms(void)
{
	const char *e = getenv("TASKBOX_EXTAUTH_REFRESH_MARGIN");
	long s;

	if (e != NULL && parse_long(e, 0, 86400, &s) == 0)
		return (int64_t)s * 1000;
	return EXTAUTH_MARGIN_S * 1000;
}

/* Arm the refresh timer: at the soonest expiry minus the margin, at
 * least min_ms and at most EXTAUTH_RESCAN_MS from now. */
static void
extauth_timer_arm(int64_t min_ms)
{
	json_t *row;
	int64_t delay = EXTAUTH_RESCAN_MS, now = (int64_t)wall_ms();
	const json_t *exp;

	if (!extauth_timer_ready)
		return;
	row = store_extauth_link_next_expiry(srv->store, EXTAUTH_GITHUB);
	exp = json_object_get(row, "expires_at");
	if (json_is_integer(exp))
		delay = MIN(delay, json_integer_value(exp) -
					   extauth_margin_ms() - now);
	json_decref(row);
	delay = MAX(delay, min_ms);
	ev_timer_start(srv->loop, &extauth_timer, now_ms() + (uint64_t)delay);
}

static void extauth_refresh_one(const char *user_id, int64_t generation);

/* The timer: claim and refresh the links that expire within the margin. */
static void
extauth_timer_fire(void *data UNUSED)
{
	int64_t now = (int64_t)wall_ms();
	json_t *rows, *row;
	size_t i, claimed = 0;

	rows = store_extauth_links_expiring(srv->store, EXTAUTH_GITHUB,
					    now + extauth_margin_ms(),
					    EXTAUTH_REFRESH_BATCH, now);
	json_array_foreach(rows, i, row)
	{
		const char *uid =
			json_string_value(json_object_get(row, "user_id"));
		int64_t gen =
			json_integer_value(json_object_get(row, "generation"));

		if (nops >= EXTAUTH_OPS_MAX - EXTAUTH_REFRESH_BATCH)
			break;
		if (store_extauth_link_claim(srv->store, uid, EXTAUTH_GITHUB,
					     gen, now + EXTAUTH_CLAIM_MS,
					     now) == 1) {
			claimed++;
			extauth_refresh_one(uid, gen);
		}
	}
	/* what is claimed elsewhere (or failed) is looked at again later */
	extauth_timer_arm(json_array_size(rows) > claimed ? 5000 : 1000);
	json_decref(rows);
}

void
extauth_start(void)
{
	ev_timer_init(&extauth_timer, extauth_timer_fire, NULL);
	extauth_timer_ready = true;
	extauth_timer_arm(1000);
}

void
extauth_stop(void)
{
	if (extauth_timer_ready)
		ev_timer_stop(srv->loop, &extauth_timer);
	extauth_timer_ready = false;
	while (ops != NULL)
		extauth_op_free(ops);
}

/* ---- links ---- */

/* The sealed JSON of tok ({access_token, refresh_token?}): *nonce, *ct. */
static void
extauth_seal_token(const char *user_id, const struct extauth_token *tok,
		   char **nonce, char **ct)
{
	json_t *o = json_pack("{s:s}", "access_token", tok->access_token);
	char *label = extauth_link_label(user_id), *text;

	if (tok->refresh_token != NULL)
		json_object_set_new(o, "refresh_token",
				    json_string(tok->refresh_token));
	text = json_dumps(o, JSON_COMPACT);
	extauth_seal(label, text, nonce, ct);
	extauth_wipe(text);
	extauth_json_wipe(o);
	json_decref(o);
	free(label);
}

/* Open the token of a link row into *tok: 0 or -EBADMSG. */
static int
extauth_link_open(const json_t *row, struct extauth_token *tok)
{
	char *label, *plain = NULL, *e = NULL, *c = NULL;
	int r;

	memset(tok, 0, sizeof *tok);
	label = extauth_link_label(
		json_string_value(json_object_get(row, "user_id")) ?: "");
	r = extauth_open(row, label, &plain);
	free(label);
	if (r < 0)
		return -EBADMSG;
	r = extauth_token_parse(plain, strlen(plain), 0, tok, &e, &c);
	secrets_free(plain);
	free(e);
	free(c);
	if (r < 0) {
		extauth_token_clear(tok);
		return -EBADMSG;
	}
	tok->expires_at =
		json_integer_value(json_object_get(row, "expires_at"));
	return 0;
}

/*
 * Store op's token as user_id's link to GitHub account u and set
 * users.github_user_id (unless another user has that account). 0,
 * -EEXIST (another taskbox user linked it) or -EIO.
 */
static int
extauth_link_store(struct extauth_op *op, const struct extauth_user *u)
{
	json_t *user = store_user_get(srv->store, op->user_id);
	json_t *other = store_user_find_github(srv->store, u->id);
	const json_t *had;
	char *nonce = NULL, *ct = NULL;
	bool set_by_link;
	int r;

	if (user == NULL) {
		json_decref(other);
		return -EIO;
	}
	if (other != NULL &&
	    strcmp(json_string_value(json_object_get(other, "id")) ?: "",
		   op->user_id) != 0) {
		json_decref(other);
		json_decref(user);
		return -EEXIST;
	}
	json_decref(other);
	had = json_object_get(user, "github_user_id");
	set_by_link = true;
	if (json_is_integer(had) && json_integer_value(had) == u->id) {
		/* the user has it already: from an admin (it stays when the
		 * link goes) or from an earlier link */
		json_t *old = store_extauth_link_get(srv->store, op->user_id,
						     EXTAUTH_GITHUB);

		set_by_link =
			old != NULL &&
			json_integer_value(
				json_object_get(old, "external_id")) == u->id &&
			json_integer_value(
				json_object_get(old, "set_user_github")) != 0;
		json_decref(old);
	}
	json_decref(user);
	if (store_user_set_github(srv->store, op->user_id, u->id, u->login) < 0)
		return -EEXIST;		/* a race with another link */
	auth_user_changed(op->user_id); /* cached rows hold the account */
	extauth_seal_token(op->user_id, &op->tok, &nonce, &ct);
	r = store_extauth_link_put(
		srv->store,
		&(struct store_extauth_link_row){
			.user_id = op->user_id,
			.provider = EXTAUTH_GITHUB,
			.external_id = u->id,
			.login = u->login,
			.name = u->name,
			.avatar_url = u->avatar_url,
			.nonce = nonce,
			.ciphertext = ct,
			.expires_at = op->tok.expires_at,
			.refreshable = op->tok.refresh_token != NULL,
			.set_user_github = set_by_link,
		},
		(int64_t)wall_ms());
	free(nonce);
	free(ct);
	if (r < 0)
		return -EIO;
	log_info("external auth: user %s linked GitHub account %s (%lld)",
		 op->user_id, u->login, (long long)u->id);
	extauth_timer_arm(1000);
	return 0;
}

/* The link's state for the API: NULL when good, else why not (borrowed
 * from row, or a constant). */
static const char *
extauth_link_problem(const json_t *row, int64_t now)
{
	const char *err = json_string_value(json_object_get(row, "error"));
	const json_t *exp = json_object_get(row, "expires_at");

	if (err != NULL && *err != '\0')
		return err;
	if (!json_is_integer(exp) || json_integer_value(exp) > now)
		return NULL;
	if (json_integer_value(json_object_get(row, "refreshable")))
		return "the GitHub token expired and refreshing it has not "
		       "worked yet: wait a minute, or " EXTAUTH_RELINK;
	return "the GitHub token expired: " EXTAUTH_RELINK;
}

bool
extauth_linked(const char *user_id)
{
	json_t *row =
		store_extauth_link_get(srv->store, user_id, EXTAUTH_GITHUB);
	bool yes = row != NULL &&
		   extauth_link_problem(row, (int64_t)wall_ms()) == NULL;

	json_decref(row);
	return yes;
}

bool
extauth_has_link(const char *user_id)
{
	json_t *row =
		store_extauth_link_get(srv->store, user_id, EXTAUTH_GITHUB);
	bool yes = row != NULL;

	json_decref(row);
	return yes;
}

/* The status JSON of user_id's link (new reference). */
static json_t *
extauth_status_json(const char *user_id)
{
	json_t *row =
		store_extauth_link_get(srv->store, user_id, EXTAUTH_GITHUB);
	const char *problem;
	json_t *o;

	o = json_pack("{s:b, s:b, s:s, s:n, s:b, s:[], s:s, s:n, s:s}",
		      "authenticated", 0, "device", 1, "display_name", "GitHub",
		      "user", "app_installable", 0, "installations",
		      "app_install_url", "", "expires_at", "error", "");
	if (row == NULL)
		return o;
	problem = extauth_link_problem(row, (int64_t)wall_ms());
	json_object_set_new(o, "authenticated", json_boolean(problem == NULL));
	json_object_set_new(o, "error", json_string(problem ? problem : ""));
	json_object_set_new(o, "expires_at",
			    extauth_time(json_object_get(row, "expires_at")));
	json_object_set_new(o, "user",
			    json_pack("{s:O, s:O, s:O, s:O}", "id",
				      json_object_get(row, "external_id"),
				      "login", json_object_get(row, "login"),
				      "name", json_object_get(row, "name"),
				      "avatar_url",
				      json_object_get(row, "avatar_url")));
	json_decref(row);
	return o;
}

/* The interval between two checks of a token with GitHub, in ms. */
static int64_t
extauth_check_ms(void)
{
	const char *e = getenv("TASKBOX_EXTAUTH_CHECK_INTERVAL");
	long s;

	if (e != NULL && parse_long(e, 0, 86400, &s) == 0)
		return (int64_t)s * 1000;
	return EXTAUTH_CHECK_S * 1000;
}

void
extauth_status(struct http_req *req, const char *user_id)
{
	json_t *row =
		store_extauth_link_get(srv->store, user_id, EXTAUTH_GITHUB);
	int64_t now = (int64_t)wall_ms();
	struct extauth_config *cfg;
	struct extauth_op *op;
	struct extauth_token tok;

	if (row == NULL || extauth_link_problem(row, now) != NULL ||
	    now - json_integer_value(json_object_get(row, "checked_at")) <
		    extauth_check_ms() ||
	    (cfg = extauth_config_load()) == NULL) {
		json_decref(row);
		http_reply_json(req, 200, extauth_status_json(user_id));
		return;
	}
	if (extauth_link_open(row, &tok) < 0) {
		extauth_config_free(cfg);
		store_extauth_link_invalidate(
			srv->store, user_id, EXTAUTH_GITHUB,
			json_integer_value(json_object_get(row, "generation")),
			"the stored token does not open with this server's "
			"key: " EXTAUTH_RELINK,
			now);
		json_decref(row);
		http_reply_json(req, 200, extauth_status_json(user_id));
		return;
	}
	op = extauth_op_new(EXTAUTH_CHECK, req, user_id, cfg);
	if (op == NULL) {
		extauth_token_clear(&tok);
		json_decref(row);
		http_reply_json(req, 200, extauth_status_json(user_id));
		return;
	}
	op->generation = json_integer_value(json_object_get(row, "generation"));
	op->tok = tok;
	json_decref(row);
	extauth_op_get_user(op, op->tok.access_token);
	http_req_defer(req);
}

int
extauth_unlink(const char *user_id)
{
	json_t *row =
		store_extauth_link_get(srv->store, user_id, EXTAUTH_GITHUB);
	json_t *user;
	int r;

	if (row == NULL)
		return -ENOENT;
	r = store_extauth_link_delete(srv->store, user_id, EXTAUTH_GITHUB);
	user = store_user_get(srv->store, user_id);
	if (r == 0 && user != NULL &&
	    json_integer_value(json_object_get(row, "set_user_github")) &&
	    json_integer_value(json_object_get(user, "github_user_id")) ==
		    json_integer_value(json_object_get(row, "external_id")))
		r = store_user_set_github(srv->store, user_id, 0, "");
	if (r == 0)
		auth_user_changed(user_id);
	json_decref(user);
	json_decref(row);
	if (r == 0)
		log_info("external auth: user %s unlinked GitHub", user_id);
	return r == -ENOENT ? r : r < 0 ? -EIO : 0;
}

int
extauth_token(const char *user_id, char **token)
{
	json_t *row =
		store_extauth_link_get(srv->store, user_id, EXTAUTH_GITHUB);
	const json_t *exp;
	struct extauth_token tok;
	int64_t now = (int64_t)wall_ms();

	*token = NULL;
	if (row == NULL)
		return -ENOENT;
	exp = json_object_get(row, "expires_at");
	if (extauth_link_problem(row, now) != NULL ||
	    (json_is_integer(exp) && json_integer_value(exp) <= now)) {
		json_decref(row);
		return -ENOENT;
	}
	if (extauth_link_open(row, &tok) < 0) {
		json_decref(row);
		return -EBADMSG;
	}
	json_decref(row);
	*token = tok.access_token;
	tok.access_token = NULL;
	extauth_token_clear(&tok);
	return 0;
}

/* ---- the flows ---- */

/* A transfer of op failed (rc) or GitHub answered status: the message
 * for the caller (new string), or NULL when it succeeded. */
static char *
extauth_transfer_error(struct extauth_op *op, CURLcode rc, long status)
{
	if (rc == CURLE_WRITE_ERROR)
		return xstrdup("GitHub's reply is too large");
	if (rc != CURLE_OK)
		return xasprintf("cannot reach GitHub: %s",
				 curl_easy_strerror(rc));
	if (status == 401 && op->user_stage)
		return xstrdup("GitHub refused the token (revoked or "
			       "expired): " EXTAUTH_RELINK);
	if (status != 200)
		return xasprintf("GitHub answered HTTP %ld", status);
	return NULL;
}

/* The token endpoint answered op (code exchange or device poll): go on
 * to GET /user, or fail. */
static void
extauth_got_token(struct extauth_op *op)
{
	char *error = NULL, *cause = NULL, *msg;
	int r;

	r = extauth_token_parse(op->reply.data ? op->reply.data : "",
				op->reply.len, (int64_t)wall_ms(), &op->tok,
				&error, &cause);
	if (r == 0) {
		extauth_op_get_user(op, op->tok.access_token);
	} else if (r == -EPERM && op->kind == EXTAUTH_DEVICE_POLL) {
		/* Coder's wire: the error code alone is the message */
		http_reply_problem(op->req, 400, "%s", error);
		extauth_op_free(op);
	} else {
		msg = r == -EPERM
			      ? xasprintf("GitHub refused the code: %s%s%s",
					  error, *cause ? ": " : "", cause)
			      : xasprintf("GitHub's token endpoint: %s", cause);
		extauth_op_fail(op, 502, msg);
		free(msg);
	}
	free(error);
	free(cause);
}

/* GET /user answered a flow that links: store the link and reply. */
static void
extauth_got_user(struct extauth_op *op)
{
	struct extauth_user u;
	char *cause = NULL, *msg;
	int r;

	r = extauth_user_parse(op->reply.data ? op->reply.data : "",
			       op->reply.len, &u, &cause);
	if (r < 0) {
		extauth_op_fail(op, 502, cause);
		free(cause);
		return;
	}
	r = extauth_link_store(op, &u);
	if (r == -EEXIST) {
		msg = xasprintf("another taskbox user has linked the GitHub "
				"account %s",
				u.login);
		extauth_op_fail(op, 409, msg);
		free(msg);
	} else if (r < 0) {
		extauth_op_fail(op, 500, "cannot store the link");
	} else if (op->kind == EXTAUTH_CODE) {
		char *url = extauth_settings_url(NULL);

		http_reply_header(op->req, "Cache-Control", "no-store");
		http_reply_redirect(op->req, 303, url);
		free(url);
		extauth_op_free(op);
	} else {
		http_reply(op->req, 204, NULL, "", 0);
		extauth_op_free(op);
	}
	extauth_user_clear(&u);
}

/* A check's GET /user ended: note what GitHub said, then reply. */
static void
extauth_checked(struct extauth_op *op, CURLcode rc, long status)
{
	struct extauth_user u;
	char *cause = NULL;
	int64_t now = (int64_t)wall_ms();

	if (rc == CURLE_OK && status == 401) {
		store_extauth_link_invalidate(
			srv->store, op->user_id, EXTAUTH_GITHUB, op->generation,
			"GitHub refused the token (revoked or expired): "
			"" EXTAUTH_RELINK,
			now);
	} else if (rc == CURLE_OK && status == 200 &&
		   extauth_user_parse(op->reply.data ? op->reply.data : "",
				      op->reply.len, &u, &cause) == 0) {
		store_extauth_link_checked(srv->store, op->user_id,
					   EXTAUTH_GITHUB, u.login, u.name,
					   u.avatar_url, now);
		extauth_user_clear(&u);
	} else {
		/* GitHub unreachable: say what is known */
		log_warn("external auth: cannot check the token of user %s "
			 "(HTTP %ld, %s)",
			 op->user_id, status, curl_easy_strerror(rc));
	}
	free(cause);
	http_reply_json(op->req, 200, extauth_status_json(op->user_id));
	extauth_op_free(op);
}

/* A refresh's token endpoint answered: store the new token, or mark the
 * link invalid when GitHub refused the refresh token. */
static void
extauth_refreshed(struct extauth_op *op, CURLcode rc, long status)
{
	char *error = NULL, *cause = NULL, *nonce = NULL, *ct = NULL;
	int64_t now = (int64_t)wall_ms();
	struct extauth_token old = op->tok;
	int r;

	memset(&op->tok, 0, sizeof op->tok);
	if (rc != CURLE_OK || status != 200) {
		log_warn("external auth: refreshing the token of user %s "
			 "failed (HTTP %ld, %s): tried again later",
			 op->user_id, status, curl_easy_strerror(rc));
		goto out;
	}
	r = extauth_token_parse(op->reply.data ? op->reply.data : "",
				op->reply.len, now, &op->tok, &error, &cause);
	if (r == -EPERM && (strcmp(error, "bad_refresh_token") == 0 ||
			    strcmp(error, "invalid_grant") == 0)) {
		store_extauth_link_invalidate(
			srv->store, op->user_id, EXTAUTH_GITHUB, op->generation,
			"GitHub refused the refresh token: " EXTAUTH_RELINK,
			now);
		log_info("external auth: the GitHub link of user %s is no "
			 "longer valid (%s)",
			 op->user_id, error);
		goto out;
	}
	if (r < 0) {
		log_warn("external auth: refreshing the token of user %s: "
			 "%s%s%s",
			 op->user_id, error ? error : "", error ? ": " : "",
			 cause ? cause : "");
		goto out;
	}
	extauth_seal_token(op->user_id, &op->tok, &nonce, &ct);
	r = store_extauth_link_refreshed(
		srv->store,
		&(struct store_extauth_link_row){
			.user_id = op->user_id,
			.provider = EXTAUTH_GITHUB,
			.nonce = nonce,
			.ciphertext = ct,
			.expires_at = op->tok.expires_at,
			.refreshable = op->tok.refresh_token != NULL,
		},
		op->generation, now);
	if (r < 0)
		log_warn("external auth: the refreshed token of user %s was "
			 "not stored (the link changed meanwhile)",
			 op->user_id);
	else
		log_debug("external auth: refreshed the token of user %s",
			  op->user_id);
out:
	extauth_token_clear(&old);
	free(error);
	free(cause);
	free(nonce);
	free(ct);
	extauth_op_free(op);
	extauth_timer_arm(1000);
}

/*
 * The MAC (hex into out) that binds GitHub's device code to the user
 * who asked for it: the device code a client gets is "CODE.MAC", so
 * another user who learns it cannot poll it and be linked to the
 * account its requester approves.
 */
static void
extauth_device_mac(const char *user_id, const char *code, size_t len,
		   char out[65])
{
	unsigned char key[SECRETS_KEY_BYTES];
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;

	secrets_derive_key(EXTAUTH_DEVICE_LABEL, key);
	crypto_auth_hmacsha256_init(&st, key, sizeof key);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)user_id,
				      strlen(user_id) + 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)code, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(out, 65, mac, sizeof mac);
	sodium_memzero(key, sizeof key);
	sodium_memzero(&st, sizeof st);
}

/* The device code endpoint answered: check its reply strictly and pass
 * it on. */
static void
extauth_got_device(struct extauth_op *op)
{
	json_t *o = json_loadb(op->reply.data ? op->reply.data : "",
			       op->reply.len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *dc = json_object_get(o, "device_code");
	const json_t *uc = json_object_get(o, "user_code");
	const json_t *uri = json_object_get(o, "verification_uri");
	const json_t *exp = json_object_get(o, "expires_in");
	const json_t *iv = json_object_get(o, "interval");
	char *url = uri ? extauth_url_norm(json_string_value(uri) ?: "") : NULL;

	if (json_is_string(json_object_get(o, "error"))) {
		char *msg = xasprintf(
			"GitHub refused a device code: %s (is device flow "
			"enabled for the OAuth app?)",
			json_string_value(json_object_get(o, "error")));

		extauth_op_fail(op, 502, msg);
		free(msg);
	} else if (!extauth_token_ok(dc) ||
		   json_string_length(dc) > EXTAUTH_DEVICE_CODE_MAX ||
		   strchr(json_string_value(dc), '.') != NULL ||
		   !json_is_string(uc) ||
		   !extauth_printable(json_string_value(uc), 32) ||
		   url == NULL || !json_is_integer(exp) ||
		   json_integer_value(exp) < 1 ||
		   json_integer_value(exp) > 86400 ||
		   (iv != NULL &&
		    (!json_is_integer(iv) || json_integer_value(iv) < 0 ||
		     json_integer_value(iv) > 3600))) {
		extauth_op_fail(op, 502,
				"GitHub's device code reply is malformed");
	} else {
		char mac[65], *bound;

		extauth_device_mac(op->user_id, json_string_value(dc),
				   json_string_length(dc), mac);
		bound = xasprintf("%s.%s", json_string_value(dc), mac);
		http_reply_header(op->req, "Cache-Control", "no-store");
		http_reply_json(
			op->req, 200,
			json_pack(
				"{s:s, s:O, s:s, s:O, s:I}", "device_code",
				bound, "user_code", uc, "verification_uri", url,
				"expires_in", exp, "interval",
				(json_int_t)(iv ? json_integer_value(iv) : 5)));
		extauth_wipe(bound);
		extauth_op_free(op);
	}
	free(url);
	json_decref(o);
}

/* curlev's done callback: one step of op's flow ended. */
static void
extauth_op_done(CURL *easy, CURLcode rc, void *data)
{
	struct extauth_op *op = data;
	long status = 0;
	char *err;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (op->kind == EXTAUTH_CHECK) {
		extauth_checked(op, rc, status);
		return;
	}
	if (op->kind == EXTAUTH_REFRESH) {
		extauth_refreshed(op, rc, status);
		return;
	}
	if ((err = extauth_transfer_error(op, rc, status)) != NULL) {
		extauth_op_fail(op, 502, err);
		free(err);
	} else if (op->kind == EXTAUTH_DEVICE_CODE) {
		extauth_got_device(op);
	} else if (op->user_stage) {
		extauth_got_user(op);
	} else {
		extauth_got_token(op);
	}
}

/* Refresh user_id's token (its link claimed at generation). */
static void
extauth_refresh_one(const char *user_id, int64_t generation)
{
	json_t *row =
		store_extauth_link_get(srv->store, user_id, EXTAUTH_GITHUB);
	struct extauth_config *cfg = extauth_config_load();
	struct extauth_op *op;
	struct extauth_token tok;

	if (row == NULL || cfg == NULL || extauth_link_open(row, &tok) < 0) {
		json_decref(row);
		extauth_config_free(cfg);
		return; /* the claim runs out; tried again then */
	}
	json_decref(row);
	if (tok.refresh_token == NULL) {
		extauth_token_clear(&tok);
		extauth_config_free(cfg);
		return;
	}
	if ((op = extauth_op_new(EXTAUTH_REFRESH, NULL, user_id, cfg)) ==
	    NULL) {
		extauth_token_clear(&tok);
		return;
	}
	op->generation = generation;
	op->tok = tok;
	extauth_op_post(op, "/login/oauth/access_token", "client_id",
			cfg->client_id, "client_secret", cfg->client_secret,
			"grant_type", "refresh_token", "refresh_token",
			tok.refresh_token, NULL);
}

/* A config for a flow user_id's request starts (new), or NULL after
 * replying 404 (none), 429 (that user's calls to GitHub) or 503 (too
 * many calls to GitHub). */
static struct extauth_config *
extauth_flow_config(struct http_req *req, const char *user_id)
{
	struct extauth_config *cfg = extauth_config_load();

	if (cfg == NULL) {
		http_reply_problem(req, 404,
				   "GitHub external auth is not configured: "
				   "an admin sets it up with taskbox "
				   "external-auth set github");
	} else if (extauth_user_busy(user_id)) {
		extauth_config_free(cfg);
		cfg = NULL;
		http_reply_header(req, "Retry-After", "1");
		http_reply_problem(req, 429,
				   "%d calls to GitHub of yours are running: "
				   "wait for them",
				   EXTAUTH_OPS_PER_USER);
	} else if (nops >= EXTAUTH_OPS_MAX) {
		extauth_config_free(cfg);
		cfg = NULL;
		http_reply_header(req, "Retry-After", "1");
		http_reply_problem(req, 503,
				   "too many calls to GitHub at once: try "
				   "again");
	}
	return cfg;
}

void
extauth_device_start(struct http_req *req, const char *user_id)
{
	struct extauth_config *cfg = extauth_flow_config(req, user_id);
	struct extauth_op *op;

	if (cfg == NULL)
		return;
	op = extauth_op_new(EXTAUTH_DEVICE_CODE, req, user_id, cfg);
	extauth_op_post(op, "/login/device/code", "client_id", cfg->client_id,
			"scope", cfg->scopes, NULL);
	http_req_defer(req);
}

void
extauth_device_poll(struct http_req *req, const char *user_id,
		    const char *device_code)
{
	const char *dot = strrchr(device_code, '.');
	struct extauth_config *cfg;
	struct extauth_op *op;
	char mac[65], *code;

	/* only the user who asked for the code may poll it */
	if (dot == NULL || strlen(dot + 1) != 64) {
		http_reply_problem(req, 400, "incorrect_device_code");
		return;
	}
	extauth_device_mac(user_id, device_code, (size_t)(dot - device_code),
			   mac);
	if (sodium_memcmp(mac, dot + 1, 64) != 0) {
		http_reply_problem(req, 400, "incorrect_device_code");
		return;
	}
	if ((cfg = extauth_flow_config(req, user_id)) == NULL)
		return;
	code = xstrndup(device_code, (size_t)(dot - device_code));
	op = extauth_op_new(EXTAUTH_DEVICE_POLL, req, user_id, cfg);
	extauth_op_post(op, "/login/oauth/access_token", "client_id",
			cfg->client_id, "device_code", code, "grant_type",
			"urn:ietf:params:oauth:grant-type:device_code", NULL);
	extauth_wipe(code);
	http_req_defer(req);
}

/* ---- the web flow (its pages are api-extauth.c's) ---- */

char *
extauth_authorize_url(const char *state)
{
	struct extauth_config *cfg = extauth_config_load();
	char *e_id, *e_redir, *e_state, *e_scope, *url;

	if (cfg == NULL)
		return NULL;
	e_id = curl_easy_escape(NULL, cfg->client_id, 0);
	e_redir = curl_easy_escape(NULL, cfg->callback_url, 0);
	e_state = curl_easy_escape(NULL, state, 0);
	e_scope = curl_easy_escape(NULL, cfg->scopes, 0);
	if (e_id == NULL || e_redir == NULL || e_state == NULL ||
	    e_scope == NULL)
		fatal("curl_easy_escape failed");
	url = xasprintf("%s/login/oauth/authorize?client_id=%s&redirect_uri="
			"%s&state=%s&scope=%s",
			cfg->base_url, e_id, e_redir, e_state, e_scope);
	curl_free(e_id);
	curl_free(e_redir);
	curl_free(e_state);
	curl_free(e_scope);
	extauth_config_free(cfg);
	return url;
}

void
extauth_web_exchange(struct http_req *req, const char *user_id,
		     const char *code)
{
	struct extauth_config *cfg = extauth_config_load();
	struct extauth_op *op;

	if (cfg == NULL) {
		extauth_web_refuse(req, "not_configured",
				   "no GitHub OAuth app is configured");
		return;
	}
	if ((op = extauth_op_new(EXTAUTH_CODE, req, user_id, cfg)) == NULL) {
		extauth_web_refuse(req, "busy",
				   "too many calls to GitHub at once");
		return;
	}
	extauth_op_post(op, "/login/oauth/access_token", "client_id",
			cfg->client_id, "client_secret", cfg->client_secret,
			"code", code, "redirect_uri", cfg->callback_url, NULL);
	http_req_defer(req);
}
