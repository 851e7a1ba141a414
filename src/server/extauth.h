/*
 * extauth.h: external auth for GitHub (Coder's "external auth").
 *
 * An admin configures a GitHub OAuth app (client id and secret, base and
 * API URLs for GitHub Enterprise, scopes); each user links their GitHub
 * account through the authorization-code flow (the web app) or the
 * device flow (the CLI). The token is stored sealed, refreshed before it
 * expires when GitHub issued a refresh token, checked against GitHub's
 * GET /user at most once a minute, and handed to the workspaces of
 * templates with `github: {token: owner}` (identity.c). Every call to
 * GitHub runs on the server's loop (gateway/curlev.h): the handlers below
 * that talk to GitHub defer their request and reply when GitHub answered.
 */
#ifndef TASKBOX_SERVER_EXTAUTH_H
#define TASKBOX_SERVER_EXTAUTH_H

#include <jansson.h>
#include <stdint.h>

struct http_req;

/* The one provider: its id, type and the path segment of its URLs. */
#define EXTAUTH_GITHUB "github"
/* The path that the web flow's callback URL ends with. */
#define EXTAUTH_CALLBACK_PATH "/external-auth/" EXTAUTH_GITHUB "/callback"

/* Start the refresh timer on srv->loop. */
void extauth_start(void);
/* Stop the timer and drop every call to GitHub still running (their
 * requests were answered by http_server_drain). */
void extauth_stop(void);

/* ---- the OAuth app (admins) ---- */

/* Whether the GitHub OAuth app is configured. */
bool extauth_configured(void);
/* {provider, client_id, base_url, api_url, scopes, callback_url,
 * has_client_secret, created_at, updated_at} (new reference), or NULL
 * when not configured. */
json_t *extauth_config_json(void);
/*
 * Set the config from a PUT body {client_id, client_secret (kept when
 * absent and one is stored), base_url?, api_url?, scopes?,
 * callback_url?}. An absent callback_url keeps the stored one, else
 * becomes default_callback (the admin's request's address). 0, -EINVAL
 * with *field (the member) and *cause, or -EIO.
 */
int extauth_config_set(const json_t *body, const char *default_callback,
		       const char **field, char **cause);
/* 0, -ENOENT or -EIO. */
int extauth_config_delete(void);

/* ---- links ---- */

/* GET /api/v2/external-auth/github for user_id: checks the token with
 * GitHub when it was not checked for a while, then replies. */
void extauth_status(struct http_req *req, const char *user_id);
/* Whether user_id has a good link (for the provider list). */
bool extauth_linked(const char *user_id);
/* Whether user_id has a link at all, good or not. */
bool extauth_has_link(const char *user_id);
/* Unlink user_id (and clear users.github_user_id if the link set it).
 * 0, -ENOENT or -EIO. */
int extauth_unlink(const char *user_id);
/* GET .../device for user_id: ask GitHub for a device code; replies. A
 * user runs at most 4 calls to GitHub at once (429 past it). */
void extauth_device_start(struct http_req *req, const char *user_id);
/* POST .../device {device_code}: poll GitHub once for user_id; 204 when
 * linked, 400 with GitHub's error code otherwise. */
void extauth_device_poll(struct http_req *req, const char *user_id,
			 const char *device_code);
/* The URL of GitHub's authorize page for state, redirect_uri the stored
 * callback URL (new string), or NULL when no OAuth app is configured. */
char *extauth_authorize_url(const char *state);
/* The web flow's callback for user_id (its state checked): exchange code
 * (sent with the stored callback URL, never the request's Host), link,
 * 303 to /settings. */
void extauth_web_exchange(struct http_req *req, const char *user_id,
			  const char *code);
/* 303 to /settings?external_auth_error=code (why goes to the log). */
void extauth_web_refuse(struct http_req *req, const char *code,
			const char *why);

/*
 * The token of user_id's good, unexpired link into *token (new string:
 * the caller wipes and frees it). 0, -ENOENT (no good link), -EBADMSG
 * (the seal does not open).
 */
int extauth_token(const char *user_id, char **token);

/* ---- pure parts (extauth-parse.c, unit-tested) ---- */

/* A token endpoint's reply parsed. */
struct extauth_token {
	char *access_token;
	char *refresh_token; /* NULL when none */
	int64_t expires_at;  /* ms, 0 for never */
};
/* GitHub's account, from GET /user. */
struct extauth_user {
	int64_t id;
	char *login, *name, *avatar_url; /* name, avatar_url: "" when none */
};
/*
 * Parse a token endpoint's JSON reply strictly (expires_in counted from
 * now_ms): 0 with *tok filled, -EPERM with *error (GitHub's error code,
 * new string) and *cause (its description), -EPROTO with *cause when
 * the reply is malformed. The reply's strings are wiped.
 */
int extauth_token_parse(const char *body, size_t len, int64_t now_ms,
			struct extauth_token *tok, char **error, char **cause);
/* Wipe and free what a token holds (the struct itself stays). */
void extauth_token_clear(struct extauth_token *tok);
/* Parse GET /user's reply into *u: 0, or -EPROTO with *cause. */
int extauth_user_parse(const char *body, size_t len, struct extauth_user *u,
		       char **cause);
/* Free what a GitHub user holds. */
void extauth_user_clear(struct extauth_user *u);
/* Whether s is 1..max bytes of printable ASCII without spaces. */
bool extauth_printable(const char *s, size_t max);
/* A base or API URL: http(s)://host[:port][/path], no query, fragment,
 * user info or quotes, at most 512 bytes; trailing '/' dropped. New
 * string, or NULL. */
char *extauth_url_norm(const char *url);
/* A callback URL: as extauth_url_norm, its path ending with
 * EXTAUTH_CALLBACK_PATH. New string, or NULL. */
char *extauth_callback_norm(const char *url);
/* Whether scopes are at most 256 of [A-Za-z0-9:_,. -]. */
bool extauth_scopes_valid(const char *s);
/* Whether v is a token-like string (printable, no spaces, <= 2048). */
bool extauth_token_ok(const json_t *v);
/* A printable copy of s cut to max bytes (controls dropped); new. */
char *extauth_text(const char *s, size_t max);
/* Wipe the string members of object o in place. */
void extauth_json_wipe(json_t *o);
/* Wipe and free a string (NULL is fine). */
void extauth_wipe(char *s);

#endif
