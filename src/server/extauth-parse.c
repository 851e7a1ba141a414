/*
 * extauth-parse.c: the pure parts of external auth (extauth.h): GitHub's
 * replies parsed strictly (the token endpoint's, GET /user's), the checks
 * of what an admin configures (URLs, scopes, printable strings), and
 * wiping what held a token. No I/O, no clock (time is passed in): the
 * unit tests drive these directly.
 *
 * Data model: none of its own; struct extauth_token and struct
 * extauth_user (extauth.h) own their strings, which *_clear wipes.
 */
#include "common.h"

#include <ctype.h>
#include <sodium.h>

#include "core/text.h"
#include "server/extauth.h"

#define EXTAUTH_TOKEN_MAX 2048

/* Wipe and free a string (NULL is fine). */
void
extauth_wipe(char *s)
{
	if (s != NULL) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

void
extauth_token_clear(struct extauth_token *tok)
{
	extauth_wipe(tok->access_token);
	extauth_wipe(tok->refresh_token);
	memset(tok, 0, sizeof *tok);
}

/* Free what a GitHub user holds. */
void
extauth_user_clear(struct extauth_user *u)
{
	free(u->login);
	free(u->name);
	free(u->avatar_url);
	memset(u, 0, sizeof *u);
}

/* Whether s (len bytes) is 1..max of printable ASCII without spaces. */
bool
extauth_printable(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

/*
 * A base or API URL: http(s)://host[:port][/path], no query, fragment,
 * user info or quotes, at most 512 bytes; a trailing '/' is dropped.
 * New string, or NULL.
 */
char *
extauth_url_norm(const char *url)
{
	size_t n;
	const char *host;

	if (!extauth_printable(url, 512))
		return NULL;
	if (str_starts_with(url, "https://"))
		host = url + 8;
	else if (str_starts_with(url, "http://"))
		host = url + 7;
	else
		return NULL;
	if (*host == '\0' || *host == '/' || strpbrk(url, "?#@\"'<>\\") != NULL)
		return NULL;
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	return xstrndup(url, n);
}

/* A callback URL: a URL as extauth_url_norm whose path ends with
 * EXTAUTH_CALLBACK_PATH. New string, or NULL. */
char *
extauth_callback_norm(const char *url)
{
	char *u = extauth_url_norm(url);
	size_t n = u ? strlen(u) : 0, k = strlen(EXTAUTH_CALLBACK_PATH);

	/* the host holds no '/': the suffix lies in the path */
	if (u != NULL &&
	    (n < k || strcmp(u + n - k, EXTAUTH_CALLBACK_PATH) != 0)) {
		free(u);
		u = NULL;
	}
	return u;
}

/* Whether scopes are 0..256 of [A-Za-z0-9:_,. -]. */
bool
extauth_scopes_valid(const char *s)
{
	if (strlen(s) > 256)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr(":_,. -", *s) == NULL)
			return false;
	return true;
}

/* Wipe the string members of object o in place (they held tokens). */
void
extauth_json_wipe(json_t *o)
{
	const char *k;
	json_t *m;

	json_object_foreach(o, k, m)
	{
		if (json_is_string(m))
			sodium_memzero((char *)json_string_value(m),
				       json_string_length(m));
	}
}

/* A token-like string: 1..EXTAUTH_TOKEN_MAX of printable ASCII without
 * spaces. */
bool
extauth_token_ok(const json_t *v)
{
	return json_is_string(v) &&
	       extauth_printable(json_string_value(v), EXTAUTH_TOKEN_MAX);
}

/* A printable copy of s cut to max bytes (controls dropped); new. */
char *
extauth_text(const char *s, size_t max)
{
	char *out = utf8_sanitize(s ? s : ""), *w = out;

	for (char *r = out; *r != '\0'; r++)
		if ((unsigned char)*r >= ' ' && *r != 0x7f)
			*w++ = *r;
	*w = '\0';
	if (strlen(out) > max)
		out[utf8_cut(out, max)] = '\0';
	return out;
}

int
extauth_token_parse(const char *body, size_t len, int64_t now,
		    struct extauth_token *tok, char **error, char **cause)
{
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *v;
	int r = -EPROTO;

	memset(tok, 0, sizeof *tok);
	*error = NULL;
	*cause = NULL;
	if (!json_is_object(o)) {
		*cause = xstrdup("the token endpoint did not answer a JSON "
				 "object");
		goto out;
	}
	if ((v = json_object_get(o, "error")) != NULL) {
		const char *e = json_string_value(v);

		if (e == NULL || !extauth_printable(e, 64)) {
			*cause = xstrdup("the token endpoint answered a "
					 "malformed error");
			goto out;
		}
		for (const char *p = e; *p != '\0'; p++)
			if (!islower((unsigned char)*p) && *p != '_') {
				*cause = xstrdup("the token endpoint answered "
						 "a malformed error");
				goto out;
			}
		*error = xstrdup(e);
		*cause = extauth_text(json_string_value(json_object_get(
					      o, "error_description")),
				      256);
		r = -EPERM;
		goto out;
	}
	v = json_object_get(o, "token_type");
	if (!extauth_token_ok(json_object_get(o, "access_token")) ||
	    (v != NULL && (!json_is_string(v) ||
			   strcasecmp(json_string_value(v), "bearer") != 0))) {
		*cause = xstrdup("the token endpoint's reply has no bearer "
				 "access_token");
		goto out;
	}
	v = json_object_get(o, "expires_in");
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
			  json_integer_value(v) > 366 * 86400)) {
		*cause = xstrdup("the token endpoint's expires_in is not a "
				 "number of seconds");
		goto out;
	}
	if (v != NULL)
		tok->expires_at = now + json_integer_value(v) * 1000;
	v = json_object_get(o, "refresh_token");
	if (v != NULL && !extauth_token_ok(v)) {
		*cause = xstrdup("the token endpoint's refresh_token is "
				 "malformed");
		goto out;
	}
	tok->access_token =
		xstrdup(json_string_value(json_object_get(o, "access_token")));
	if (v != NULL)
		tok->refresh_token = xstrdup(json_string_value(v));
	r = 0;
out:
	extauth_json_wipe(o); /* the reply held tokens */
	json_decref(o);
	return r;
}

/* Parse GET /user's reply into *u: 0, or -EPROTO with *cause. */
int
extauth_user_parse(const char *body, size_t len, struct extauth_user *u,
		   char **cause)
{
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *id, *login, *name, *avatar;
	int r = -EPROTO;

	memset(u, 0, sizeof *u);
	id = json_object_get(o, "id");
	login = json_object_get(o, "login");
	name = json_object_get(o, "name");
	avatar = json_object_get(o, "avatar_url");
	if (!json_is_object(o) || !json_is_integer(id) ||
	    json_integer_value(id) < 1 || !json_is_string(login) ||
	    !extauth_printable(json_string_value(login), 64) ||
	    (name != NULL && !json_is_null(name) && !json_is_string(name)) ||
	    (avatar != NULL && !json_is_null(avatar) &&
	     !json_is_string(avatar))) {
		*cause = xstrdup("GitHub's GET /user answered no account (id "
				 "and login)");
		goto out;
	}
	for (const char *p = json_string_value(login); *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') {
			*cause = xstrdup("GitHub's GET /user answered a "
					 "malformed login");
			goto out;
		}
	u->id = json_integer_value(id);
	u->login = xstrdup(json_string_value(login));
	u->name = extauth_text(json_string_value(name), 256);
	u->avatar_url = extauth_url_norm(json_string_value(avatar) ?: "")
				?: xstrdup("");
	r = 0;
out:
	json_decref(o);
	return r;
}
