/*
 * api-extauth.c: external auth's endpoints (Coder's paths) and the web
 * flow's pages.
 *
 * /api/v2/external-auth lists the one provider; .../github is the
 * caller's link (GET its status, DELETE unlinks); .../github/device runs
 * the device flow (GET a code, POST {device_code} polls once);
 * .../github/config is the OAuth app (admins: GET, PUT, DELETE; the
 * client secret is write-only). /external-auth/github starts the
 * authorization-code flow for a signed-in browser (else /login) and
 * /external-auth/github/callback ends it: these two are pages, routed
 * before the app shell's (web.c). The web flow's state is
 * "USER_ID.EXPIRY.NONCE.MAC", the MAC an HMAC-SHA256 under a key derived
 * from the secrets key (every replica checks it), also set as a short
 * lived cookie. The redirect_uri both pages send is the stored config's
 * callback_url (a PUT without one takes the admin's own address), never
 * the Host of the request at hand. Talking to GitHub is extauth.c's; this file
 * checks who asks and what they send. Bodies are wiped once handled.
 */
#include "common.h"

#include <limits.h>
#include <sodium.h>

#include "core/log.h"
#include "core/text.h"
#include "http/http.h"
#include "server.h"
#include "server/extauth.h"
#include "server/secrets.h"
#include "store/store-rows.h"

#define EXTAUTH_BODY_LIMIT (16u * 1024)
#define API_BASE	   "/api/v2/external-auth"
#define STATE_LABEL	   "taskbox external auth state"
#define STATE_LIFE_S	   600
#define STATE_COOKIE	   "taskbox_extauth_state"
#define STATE_COOKIE_ATTRS                                                     \
	"; Path=/external-auth/" EXTAUTH_GITHUB "; HttpOnly; SameSite=Lax"

/* Wipe the request's raw body (it may hold a client secret). */
static void
extauth_wipe_body(struct http_req *req)
{
	size_t len;
	const char *raw = http_req_body(req, &len);

	if (raw != NULL)
		explicit_bzero((char *)raw, len);
}

/* GET /api/v2/external-auth: the providers and whether the caller
 * linked them. */
static void
api_extauth_list(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_user(req);
	const char *uid;

	if (user == NULL)
		return;
	uid = json_string_value(json_object_get(user, "id"));
	http_reply_json(req, 200,
			json_pack("{s:[{s:s, s:s, s:s, s:b, s:b}]}",
				  "providers", "id", EXTAUTH_GITHUB, "type",
				  EXTAUTH_GITHUB, "display_name", "GitHub",
				  "configured", extauth_configured(),
				  "authenticated", extauth_linked(uid)));
	json_decref(user);
}

/* GET or DELETE /api/v2/external-auth/github: the caller's link. */
static void
api_extauth_link(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_user(req);
	const char *uid;
	int r;

	if (user == NULL)
		return;
	uid = json_string_value(json_object_get(user, "id"));
	if (strcmp(http_req_method(req), "DELETE") != 0) {
		if (!extauth_configured() && !extauth_has_link(uid))
			http_reply_problem(req, 404,
					   "GitHub external auth is not "
					   "configured: an admin sets it up "
					   "with taskbox external-auth set "
					   "github");
		else
			extauth_status(req, uid);
	} else if ((r = extauth_unlink(uid)) == -ENOENT) {
		http_reply_problem(req, 404, "no GitHub account is linked");
	} else if (r < 0) {
		http_reply_problem(req, 500, "cannot unlink the account");
	} else {
		http_reply(req, 204, NULL, "", 0);
	}
	json_decref(user);
}

/* GET (a new device code) or POST {device_code} (poll once)
 * /api/v2/external-auth/github/device. */
static void
api_extauth_device(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_user(req), *body;
	const char *code;

	if (user == NULL)
		return;
	if (strcmp(http_req_method(req), "GET") == 0) {
		extauth_device_start(
			req, json_string_value(json_object_get(user, "id")));
		json_decref(user);
		return;
	}
	if ((body = http_req_json(req)) == NULL) {
		json_decref(user);
		return;
	}
	code = json_string_value(json_object_get(body, "device_code"));
	if (code == NULL || *code == '\0' || strlen(code) > 512 ||
	    strpbrk(code, " \t\r\n") != NULL)
		http_reply_invalid(req, "body.device_code", NULL,
				   "device_code is required: the code GET "
				   "%s/github/device gave",
				   API_BASE);
	else
		extauth_device_poll(
			req, json_string_value(json_object_get(user, "id")),
			code);
	json_decref(body);
	json_decref(user);
}

/*
 * The callback URL a config PUT stores when its body names none (new
 * string): the address the admin's browser used (its Host, https when a
 * proxy says so), so a server behind a reverse proxy or on 0.0.0.0 names
 * itself right; srv->url when the Host is missing or odd. Only an
 * admin's request is trusted with this: the web flow sends the stored
 * URL, never its own request's Host.
 */
static char *
config_default_callback(struct http_req *req)
{
	const char *host = http_req_header(req, "Host");
	const char *proto = http_req_header(req, "X-Forwarded-Proto");
	bool https = (proto != NULL && strcasecmp(proto, "https") == 0) ||
		     str_starts_with(srv->url, "https://");
	size_t n = host ? strlen(host) : 0;

	if (n == 0 || n > 255 ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789.-:[]") != n)
		return xasprintf("%s" EXTAUTH_CALLBACK_PATH, srv->url);
	return xasprintf("%s://%s" EXTAUTH_CALLBACK_PATH,
			 https ? "https" : "http", host);
}

/* GET, PUT or DELETE /api/v2/external-auth/github/config (admins). */
static void
api_extauth_config(struct http_req *req, void *data UNUSED)
{
	const char *method = http_req_method(req), *field = NULL;
	json_t *user = auth_user(req), *body, *cfg;
	char *cause = NULL, *loc, *callback;
	int r;

	if (user == NULL) {
		extauth_wipe_body(req);
		return;
	}
	if (!auth_is_admin(user)) {
		http_reply_problem(req, 403,
				   "only admins can see or change the GitHub "
				   "OAuth app");
	} else if (strcmp(method, "GET") == 0) {
		if ((cfg = extauth_config_json()) == NULL)
			http_reply_problem(req, 404,
					   "GitHub external auth is not "
					   "configured");
		else
			http_reply_json(req, 200, cfg);
	} else if (strcmp(method, "DELETE") == 0) {
		r = extauth_config_delete();
		if (r == -ENOENT)
			http_reply_problem(req, 404,
					   "GitHub external auth is not "
					   "configured");
		else if (r < 0)
			http_reply_problem(req, 500,
					   "cannot delete the config");
		else {
			log_info("external auth: the GitHub OAuth app was "
				 "deleted");
			http_reply(req, 204, NULL, "", 0);
		}
	} else if ((body = http_req_json(req)) != NULL) {
		callback = config_default_callback(req);
		r = extauth_config_set(body, callback, &field, &cause);
		free(callback);
		if (r == -EINVAL) {
			loc = strcmp(field, "body") == 0
				      ? xstrdup("body")
				      : xasprintf("body.%s", field);
			/* never quote a value back: it may be the secret */
			http_reply_invalid(req, loc, NULL, "%s", cause);
			free(loc);
		} else if (r < 0) {
			http_reply_problem(req, 500, "%s", cause);
		} else {
			log_info("external auth: the GitHub OAuth app was "
				 "set");
			http_reply_json(req, 200, extauth_config_json());
		}
		free(cause);
		json_decref(body);
	}
	extauth_wipe_body(req);
	json_decref(user);
}

/* The MAC of a state's parts (hex into out). */
static void
web_state_mac(const char *user_id, const char *expiry, const char *nonce,
	      char out[65])
{
	unsigned char key[SECRETS_KEY_BYTES];
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;

	secrets_derive_key(STATE_LABEL, key);
	crypto_auth_hmacsha256_init(&st, key, sizeof key);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)"state", 6);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)user_id,
				      strlen(user_id) + 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)expiry,
				      strlen(expiry) + 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)nonce,
				      strlen(nonce));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(out, 65, mac, sizeof mac);
	sodium_memzero(key, sizeof key);
	sodium_memzero(&st, sizeof st);
}

/* A new state for user_id: "USER.EXPIRY.NONCE.MAC" (new string). */
static char *
web_state_new(const char *user_id)
{
	unsigned char raw[16];
	char nonce[33], expiry[24], mac[65];

	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(nonce, sizeof nonce, raw, sizeof raw);
	snprintf(expiry, sizeof expiry, "%lld",
		 (long long)(wall_ms() / 1000 + STATE_LIFE_S));
	web_state_mac(user_id, expiry, nonce, mac);
	return xasprintf("%s.%s.%s.%s", user_id, expiry, nonce, mac);
}

/* The user id of a good, unexpired state into user_id; false if not. */
static bool
web_state_check(const char *state, char user_id[37])
{
	char buf[200], *parts[4], *p, mac[65];
	long exp;
	int n = 0;

	if (strlen(state) >= sizeof buf)
		return false;
	snprintf(buf, sizeof buf, "%s", state);
	for (p = buf; n < 4; n++) {
		parts[n] = p;
		if ((p = strchr(p, '.')) == NULL)
			break;
		*p++ = '\0';
	}
	if (n != 3 || strlen(parts[0]) != 36 || strlen(parts[2]) != 32 ||
	    strlen(parts[3]) != 64 ||
	    parse_long(parts[1], 0, LONG_MAX, &exp) < 0 ||
	    exp < (long)(wall_ms() / 1000))
		return false;
	web_state_mac(parts[0], parts[1], parts[2], mac);
	if (sodium_memcmp(mac, parts[3], 64) != 0)
		return false;
	memcpy(user_id, parts[0], 37);
	return true;
}

/* The value of cookie name in req's Cookie header (new), or NULL. */
static char *
web_cookie(struct http_req *req, const char *name)
{
	const char *p = http_req_header(req, "Cookie");
	size_t n = strlen(name);

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, name, n) == 0 && p[n] == '=') {
			const char *v = p + n + 1, *end = strchr(v, ';');

			return end ? xstrndup(v, (size_t)(end - v))
				   : xstrdup(v);
		}
		p = strchr(p, ';');
	}
	return NULL;
}

/* GET /external-auth/github: a signed-in browser starts linking: the
 * state cookie and a 303 to GitHub's authorize page. */
static void
web_extauth_start(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_site_user(req);
	char *state, *cookie, *url;

	if (user == NULL) {
		http_reply_header(req, "Cache-Control", "no-store");
		http_reply_redirect(req, 303, "/login?next=%2Fsettings");
		return;
	}
	state = web_state_new(json_string_value(json_object_get(user, "id")));
	url = extauth_authorize_url(state);
	if (url == NULL) {
		extauth_web_refuse(req, "not_configured",
				   "no GitHub OAuth app is configured");
	} else {
		cookie = xasprintf(STATE_COOKIE "=%s" STATE_COOKIE_ATTRS
						"; Max-Age=%d",
				   state, STATE_LIFE_S);
		http_reply_header(req, "Set-Cookie", cookie);
		http_reply_header(req, "Cache-Control", "no-store");
		http_reply_redirect(req, 303, url);
		free(cookie);
	}
	free(url);
	free(state);
	json_decref(user);
}

/*
 * GET /external-auth/github/callback?code&state: GitHub sends the browser
 * back. The session cookie (SameSite=Strict) does not come along on
 * GitHub's cross-site redirect: the state names the user, its cookie
 * binds it to the browser that started, its MAC to this server.
 */
static void
web_extauth_callback(struct http_req *req, void *data UNUSED)
{
	const char *state = http_req_query(req, "state");
	const char *code = http_req_query(req, "code");
	const char *gh_error = http_req_query(req, "error");
	char *cookie = web_cookie(req, STATE_COOKIE);
	char user_id[37];
	json_t *user;
	bool same;

	/* the state is spent either way */
	http_reply_header(req, "Set-Cookie",
			  STATE_COOKIE "=" STATE_COOKIE_ATTRS "; Max-Age=0");
	same = cookie != NULL && state != NULL &&
	       strlen(cookie) == strlen(state) &&
	       sodium_memcmp(cookie, state, strlen(state)) == 0;
	free(cookie);
	if (!same || !web_state_check(state, user_id)) {
		extauth_web_refuse(req, "state",
				   "the state is not this browser's, forged or "
				   "expired");
		return;
	}
	user = store_user_get(srv->store, user_id);
	if (user == NULL ||
	    strcmp(json_string_value(json_object_get(user, "status")) ?: "",
		   "active") != 0) {
		json_decref(user);
		extauth_web_refuse(req, "inactive",
				   "the user is gone or suspended");
		return;
	}
	json_decref(user);
	if (gh_error != NULL || code == NULL || !extauth_printable(code, 512)) {
		extauth_web_refuse(
			req,
			gh_error && strcmp(gh_error, "access_denied") == 0
				? "denied"
				: "no_code",
			"GitHub sent no code");
		return;
	}
	/* redirect_uri is the stored callback URL: this request's Host is
	 * the caller's to forge */
	extauth_web_exchange(req, user_id, code);
}

void
api_extauth_register(struct http_server *http)
{
	http_server_route(http, "GET", API_BASE, 0, 0, api_extauth_list, NULL);
	http_server_route(http, "GET", API_BASE "/" EXTAUTH_GITHUB, 0, 0,
			  api_extauth_link, NULL);
	http_server_route(http, "DELETE", API_BASE "/" EXTAUTH_GITHUB, 0, 0,
			  api_extauth_link, NULL);
	http_server_route(http, "GET", API_BASE "/" EXTAUTH_GITHUB "/device", 0,
			  0, api_extauth_device, NULL);
	http_server_route(http, "POST", API_BASE "/" EXTAUTH_GITHUB "/device",
			  0, EXTAUTH_BODY_LIMIT, api_extauth_device, NULL);
	http_server_route(http, "GET", API_BASE "/" EXTAUTH_GITHUB "/config", 0,
			  0, api_extauth_config, NULL);
	http_server_route(http, "PUT", API_BASE "/" EXTAUTH_GITHUB "/config", 0,
			  EXTAUTH_BODY_LIMIT, api_extauth_config, NULL);
	http_server_route(http, "DELETE", API_BASE "/" EXTAUTH_GITHUB "/config",
			  0, 0, api_extauth_config, NULL);
	http_server_route(http, "GET", "/external-auth/" EXTAUTH_GITHUB, 0, 0,
			  web_extauth_start, NULL);
	http_server_route(http, "GET",
			  "/external-auth/" EXTAUTH_GITHUB "/callback", 0, 0,
			  web_extauth_callback, NULL);
}
