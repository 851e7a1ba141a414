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
 * before the app shell's (web.c). The work is extauth.c's; this file
 * checks who asks and what they send. Bodies are wiped once handled.
 */
#include "common.h"

#include <curl/curl.h>

#include "core/log.h"
#include "http/http.h"
#include "server.h"
#include "server/extauth.h"

#define EXTAUTH_BODY_LIMIT (16u * 1024)
#define API_BASE	   "/api/v2/external-auth"

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

/* GET, PUT or DELETE /api/v2/external-auth/github/config (admins). */
static void
api_extauth_config(struct http_req *req, void *data UNUSED)
{
	const char *method = http_req_method(req), *field = NULL;
	json_t *user = auth_user(req), *body, *cfg;
	char *cause = NULL, *loc;
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
		r = extauth_config_set(body, &field, &cause);
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

/* GET /external-auth/github: a signed-in browser starts linking. */
static void
web_extauth_start(struct http_req *req, void *data UNUSED)
{
	json_t *user = auth_site_user(req);

	if (user == NULL) {
		http_reply_header(req, "Cache-Control", "no-store");
		http_reply_redirect(req, 303, "/login?next=%2Fsettings");
		return;
	}
	extauth_web_start(req, json_string_value(json_object_get(user, "id")));
	json_decref(user);
}

/* GET /external-auth/github/callback: GitHub sends the browser back. */
static void
web_extauth_callback(struct http_req *req, void *data UNUSED)
{
	extauth_web_callback(req);
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
