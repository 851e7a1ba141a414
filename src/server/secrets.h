/*
 * secrets.h: user and template secrets, encrypted at rest.
 *
 * Values are sealed with libsodium's secretbox (XSalsa20-Poly1305) under
 * a 32-byte key that lives in a file outside the database (DATA/
 * secrets.key by default). The sealed plaintext is bound to its row
 * ("scope/scope_id/name"), so a ciphertext moved to another row does not
 * open. Nothing here logs a value; values leave this module only through
 * secrets_get(), which the workspace start calls.
 */
#ifndef TASKBOX_SECRETS_H
#define TASKBOX_SECRETS_H

#include <jansson.h>
#include <stddef.h>

struct store;

#define SECRETS_KEY_BYTES 32
#define SECRETS_VALUE_MAX (64u * 1024)

/*
 * Load the key from key_path, or create it (0600, random) when it does
 * not exist and st holds no secrets; a missing key with stored secrets
 * is an error. Remembers st for the calls below. 0 or -errno + *cause.
 */
int secrets_init(struct store *st, const char *key_path, char **cause);
/* Forget the key (wiped) and the store. */
void secrets_release(void);

/*
 * A key for one purpose, derived from the secrets key: HMAC-SHA256(secrets
 * key, label), so the secrets key itself seals secrets and nothing else
 * and every replica that shares it derives the same key. The caller
 * wipes out. Needs secrets_init.
 */
void secrets_derive_key(const char *label,
			unsigned char out[SECRETS_KEY_BYTES]);

/* Whether name matches [A-Za-z_][A-Za-z0-9_]{0,63}. */
bool secrets_name_valid(const char *name);

/*
 * Rows are (scope, scope_id, user_id, name): scope is "user" (scope_id
 * the user, user_id "") or "template" (scope_id the template, user_id ""
 * for a value every user of the template gets, set by an admin, or the
 * member whose tasks alone get it).
 *
 * Store (insert or replace) a value of len bytes (<= SECRETS_VALUE_MAX).
 * 0, -EINVAL (too long) or -EIO.
 */
int secrets_set(const char *scope, const char *scope_id, const char *user_id,
		const char *name, const char *value, size_t len);
/*
 * [{name, created_at, updated_at}] sorted by name (new reference): the
 * shared rows and user_id's; template entries add "shared" (true for
 * user_id "").
 */
json_t *secrets_list(const char *scope, const char *scope_id,
		     const char *user_id);
/* 0, -ENOENT or -EIO. */
int secrets_delete(const char *scope, const char *scope_id, const char *user_id,
		   const char *name);
/*
 * Decrypt the value of exactly that row into *out (NUL-terminated, from
 * sodium_malloc: free it with secrets_free). 0, -ENOENT, -EBADMSG
 * (tampered, wrong key).
 */
int secrets_get(const char *scope, const char *scope_id, const char *user_id,
		const char *name, char **out);
/* Wipe and free a value from secrets_get (NULL is fine). */
void secrets_free(char *value);

/* ---- the sealing itself (pure, for the unit tests) ---- */

/*
 * Seal value (len bytes) bound to label under key: *nonce_b64 and
 * *ct_b64 are new base64 strings.
 */
void secrets_seal(const unsigned char key[SECRETS_KEY_BYTES], const char *label,
		  const char *value, size_t len, char **nonce_b64,
		  char **ct_b64);
/*
 * Open what secrets_seal made; *out as for secrets_get. 0, or -EBADMSG
 * when the ciphertext, nonce, key or label do not match.
 */
int secrets_open(const unsigned char key[SECRETS_KEY_BYTES], const char *label,
		 const char *nonce_b64, const char *ct_b64, char **out,
		 size_t *len);

#endif
