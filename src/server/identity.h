/*
 * identity.h: what a workspace gets of its owner: the git identity
 * (.gitconfig with separate author and committer), the GitHub token and
 * the template's env_secrets.
 *
 * task.c calls identity_prepare() each time it starts a workspace and
 * adds the returned env entries and files to what it launches; secrets
 * are decrypted there and nowhere else.
 */
#ifndef TASKBOX_IDENTITY_H
#define TASKBOX_IDENTITY_H

#include <jansson.h>

/* Name given to the GitHub token user secret. */
#define IDENTITY_GITHUB_SECRET "github_token"

/*
 * For a task of owner_id on template (template_id, template_name) whose
 * normalized spec is tmpl: *env = {NAME: value} (new; holds secrets:
 * release it with identity_env_free) and *files = [{path, mode,
 * content}] (new; never holds a secret). 0, or -errno with *cause (a
 * reason for the task's status: a missing secret, a key that does not
 * open it).
 */
int identity_prepare(const json_t *tmpl, const char *owner_id,
		     const char *template_id, const char *template_name,
		     json_t **env, json_t **files, char **cause);
/* Wipe the values of an env object from identity_prepare and free it. */
void identity_env_free(json_t *env);

/* Profile checks for PATCH /users: NULL when valid, else why not. */
const char *identity_check_name(const char *name);
const char *identity_check_email(const char *email);

/* The .gitconfig text for these identities (new string). */
char *identity_gitconfig(const char *author_name, const char *author_email,
			 const char *committer_name,
			 const char *committer_email, bool github);

#endif
