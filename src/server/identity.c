/*
 * identity.c: a workspace's git identity, GitHub token and secret env.
 *
 * Data model: the owner's profile (users.name, users.email; the name
 * falls back to the username, the email to USERNAME@taskbox.invalid)
 * gives both git identities; the template's identity block overrides
 * the author's and the committer's name and email separately, with
 * {{owner.*}} variables. The .gitconfig seeded in the home holds the
 * identities and, when the template asks for a GitHub token, a
 * credential helper that reads $GITHUB_TOKEN (the owner's: the token of
 * their linked GitHub account, extauth.c, else their github_token
 * secret): the token is only ever in
 * the sandbox's environment, never in a file. Only templates with a
 * github or env_secrets block get secrets; a secret they need and that
 * is not set fails the task with what to run. A template secret comes
 * from the task owner's own value on the template, else from the one an
 * admin set for everyone (secrets.h).
 */
#include "common.h"

#include <sodium.h>

#include "core/buf.h"
#include "core/text.h"
#include "server.h"
#include "server/extauth.h"
#include "server/identity.h"
#include "server/secrets.h"
#include "server/template.h"
#include "store/store-rows.h"

#define IDENTITY_FIELD_MAX 256

const char *
identity_check_name(const char *name)
{
	size_t n = strlen(name);

	if (n > 128 || !utf8_valid(name, n))
		return "name must be at most 128 bytes of UTF-8";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < ' ' || c == 0x7f || c == '<' || c == '>')
			return "name must not hold control characters, '<' "
			       "or '>'";
	}
	return NULL;
}

const char *
identity_check_email(const char *email)
{
	size_t n = strlen(email);
	const char *at = strchr(email, '@');

	if (n == 0)
		return NULL; /* cleared: the default applies */
	if (n > 254 || at == NULL || at == email || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL)
		return "email must look like name@domain (at most 254 "
		       "characters)";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)email[i];

		if (c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' ||
		    c == '\\')
			return "email must be printable ASCII without spaces, "
			       "quotes, '<' or '>'";
	}
	return NULL;
}

/* Append s to b as a git-config quoted value (controls dropped). */
static void
identity_quote(struct buf *b, const char *s)
{
	buf_puts(b, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < ' ' || c == 0x7f)
			continue;
		if (c == '"' || c == '\\')
			buf_puts(b, "\\");
		buf_append(b, s, 1);
	}
	buf_puts(b, "\"");
}

/* Append "[section]\n\tname = ...\n\temail = ...\n". */
static void
identity_section(struct buf *b, const char *section, const char *name,
		 const char *email)
{
	buf_printf(b, "[%s]\n\tname = ", section);
	identity_quote(b, name);
	buf_puts(b, "\n\temail = ");
	identity_quote(b, email);
	buf_puts(b, "\n");
}

char *
identity_gitconfig(const char *author_name, const char *author_email,
		   const char *committer_name, const char *committer_email,
		   bool github)
{
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "# written by taskbox at every workspace start\n");
	identity_section(&b, "user", committer_name, committer_email);
	identity_section(&b, "author", author_name, author_email);
	identity_section(&b, "committer", committer_name, committer_email);
	if (github)
		buf_puts(&b, "[credential \"https://github.com\"]\n"
			     "\thelper =\n"
			     "\thelper = \"!f() { test \\\"$1\\\" = get || "
			     "exit 0; echo username=x-access-token; echo "
			     "\\\"password=$GITHUB_TOKEN\\\"; }; f\"\n");
	return buf_steal(&b);
}

/* Render a template identity field (or take dflt when it is null or
 * renders empty); '<', '>' and controls are dropped. New string. */
static char *
identity_field(const json_t *person, const char *key, const char *dflt,
	       const json_t *owner, const char *oname, const char *oemail)
{
	const char *v = json_string_value(json_object_get(person, key));
	char *out = NULL, *w;

	if (v == NULL ||
	    template_identity_render(
		    v, oname, oemail,
		    json_string_value(json_object_get(owner, "username")) ?: "",
		    &out) < 0)
		return xstrdup(dflt);
	w = out;
	for (char *r = out; *r != '\0'; r++)
		if ((unsigned char)*r >= ' ' && *r != 0x7f && *r != '<' &&
		    *r != '>')
			*w++ = *r;
	*w = '\0';
	if (strlen(str_trim(out)) == 0 || strlen(out) > IDENTITY_FIELD_MAX) {
		free(out);
		return xstrdup(dflt);
	}
	return out;
}

/*
 * Decrypt one secret into env[var]; 0 or -errno with *cause. A template
 * secret (user_id the task's owner) is the owner's own value if they set
 * one, else the value an admin set for every user; never another
 * member's.
 */
static int
identity_secret_env(json_t *env, const char *var, const char *scope,
		    const char *scope_id, const char *user_id, const char *name,
		    const char *missing, char **cause)
{
	char *value = NULL;
	int r = secrets_get(scope, scope_id, user_id, name, &value);

	if (r == -ENOENT && *user_id != '\0')
		r = secrets_get(scope, scope_id, "", name, &value);

	if (r == -ENOENT) {
		*cause = xstrdup(missing);
		return r;
	}
	if (r < 0) {
		*cause = xasprintf("the secret '%s' does not open with this "
				   "server's key (was the key file "
				   "replaced?): set it again",
				   name);
		return r;
	}
	json_object_set_new(env, var, json_string(value));
	secrets_free(value);
	return 0;
}

void
identity_env_free(json_t *env)
{
	const char *k;
	json_t *v;

	if (env == NULL)
		return;
	json_object_foreach(env, k, v)
	{
		const char *s = json_string_value(v);

		if (s != NULL)
			sodium_memzero((char *)s, strlen(s));
	}
	json_decref(env);
}

int
identity_prepare(const json_t *tmpl, const char *owner_id,
		 const char *template_id, const char *template_name,
		 json_t **env_out, json_t **files_out, char **cause)
{
	const json_t *idn = json_object_get(tmpl, "identity");
	const char *gh = json_string_value(
		json_object_get(json_object_get(tmpl, "github"), "token"));
	json_t *owner, *env = json_object(), *v;
	const char *username, *k;
	char *oname, *oemail, *an, *ae, *cn, *ce, *gitconfig, *missing;
	char *linked = NULL;
	int r = 0;

	owner = store_user_identity(srv->store, owner_id);
	if (owner == NULL) {
		*cause = xstrdup("the task's owner does not exist");
		json_decref(env);
		return -ENOENT;
	}
	username = json_string_value(json_object_get(owner, "username")) ?: "";
	oname = xstrdup(json_string_value(json_object_get(owner, "name"))
				?: "");
	oemail = xstrdup(json_string_value(json_object_get(owner, "email"))
				 ?: "");
	if (*oname == '\0') {
		free(oname);
		oname = xstrdup(username);
	}
	if (*oemail == '\0') {
		free(oemail);
		oemail = xasprintf("%s@taskbox.invalid", username);
	}
	an = identity_field(json_object_get(idn, "author"), "name", oname,
			    owner, oname, oemail);
	ae = identity_field(json_object_get(idn, "author"), "email", oemail,
			    owner, oname, oemail);
	cn = identity_field(json_object_get(idn, "committer"), "name", oname,
			    owner, oname, oemail);
	ce = identity_field(json_object_get(idn, "committer"), "email", oemail,
			    owner, oname, oemail);

	if (gh != NULL && strcmp(gh, "owner") == 0 &&
	    extauth_token(owner_id, &linked) == 0) {
		/* the linked GitHub account first */
		json_object_set_new(env, "GITHUB_TOKEN", json_string(linked));
		sodium_memzero(linked, strlen(linked));
		free(linked);
	} else if (gh != NULL && strcmp(gh, "owner") == 0) {
		missing = xasprintf("template '%s' uses the owner's GitHub "
				    "token and %s has none: link a GitHub "
				    "account (taskbox user link github, or "
				    "the web app's settings) or link a GitHub "
				    "token: taskbox user set-token github",
				    template_name, username);
		r = identity_secret_env(env, "GITHUB_TOKEN", "user", owner_id,
					"", IDENTITY_GITHUB_SECRET, missing,
					cause);
		free(missing);
	} else if (gh != NULL) {
		missing =
			xasprintf("template '%s' needs its secret '%s' for "
				  "github.token: taskbox secret set %s "
				  "--template %s",
				  template_name, gh + 7, gh + 7, template_name);
		r = identity_secret_env(env, "GITHUB_TOKEN", "template",
					template_id, owner_id, gh + 7, missing,
					cause);
		free(missing);
	}
	if (r == 0 && gh != NULL)
		json_object_set(env, "GH_TOKEN",
				json_object_get(env, "GITHUB_TOKEN"));
	json_object_foreach((json_t *)json_object_get(tmpl, "env_secrets"), k,
			    v)
	{
		const char *name = json_string_value(v);

		if (r < 0 || name == NULL)
			break;
		missing =
			xasprintf("template '%s' needs its secret '%s' for "
				  "env_secrets.%s: taskbox secret set %s "
				  "--template %s",
				  template_name, name, k, name, template_name);
		r = identity_secret_env(env, k, "template", template_id,
					owner_id, name, missing, cause);
		free(missing);
	}
	if (r == 0) {
		gitconfig = identity_gitconfig(an, ae, cn, ce, gh != NULL);
		*files_out =
			json_pack("[{s:s, s:i, s:s}]", "path", ".gitconfig",
				  "mode", 0600, "content", gitconfig);
		free(gitconfig);
		*env_out = env;
	} else {
		identity_env_free(env);
	}
	free(oname);
	free(oemail);
	free(an);
	free(ae);
	free(cn);
	free(ce);
	json_decref(owner);
	return r;
}
