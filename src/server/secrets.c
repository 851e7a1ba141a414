/*
 * secrets.c: the secrets table behind secrets.h.
 *
 * Data model: one row per (scope, scope_id, user_id, name) with a random
 * 24-byte nonce and the secretbox of LABEL NUL value, both as base64 text
 * (store.c binds text). user_id is '' for user secrets and for template
 * secrets every user of the template gets (set by an admin); a template
 * secret a member set carries the member's id and reaches only that
 * member's tasks. LABEL is "scope/scope_id/name", plus "/user_id" when
 * user_id is set; a row migration 4 gave to a template's author was
 * sealed without it and is sealed again on its first read. The key is read once
 * at start into guarded memory (sodium_malloc, read-only) and never written
 * anywhere but its own file. Decrypted values live in sodium_malloc buffers
 * that secrets_free wipes.
 */
#include "common.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "server/secrets.h"
#include "store/store-rows.h"

static unsigned char *secrets_key; /* SECRETS_KEY_BYTES, guarded */
static struct store *secrets_st;

/* sodium_malloc that aborts on failure. */
static void *
secrets_alloc(size_t n)
{
	void *p = sodium_malloc(n ? n : 1);

	if (p == NULL)
		fatal("out of memory (sodium_malloc %zu)", n);
	return p;
}

void
secrets_free(char *value)
{
	sodium_free(value); /* wipes; NULL is fine */
}

bool
secrets_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64 || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* A new base64 string of len bytes at bin. */
static char *
secrets_b64(const unsigned char *bin, size_t len)
{
	size_t n =
		sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *s = xmalloc(n);

	sodium_bin2base64(s, n, bin, len, sodium_base64_VARIANT_ORIGINAL);
	return s;
}

/* Decode b64 into a new buffer (*len bytes); NULL if it is not base64. */
static unsigned char *
secrets_unb64(const char *b64, size_t *len)
{
	size_t n = strlen(b64);
	unsigned char *bin = xmalloc(n ? n : 1);

	if (sodium_base642bin(bin, n, b64, n, NULL, len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(bin);
		return NULL;
	}
	return bin;
}

void
secrets_seal(const unsigned char key[SECRETS_KEY_BYTES], const char *label,
	     const char *value, size_t len, char **nonce_b64, char **ct_b64)
{
	unsigned char nonce[crypto_secretbox_NONCEBYTES];
	size_t llen = strlen(label) + 1, mlen = llen + len;
	unsigned char *m = secrets_alloc(mlen);
	unsigned char *c = xmalloc(mlen + crypto_secretbox_MACBYTES);

	memcpy(m, label, llen);
	if (len > 0)
		memcpy(m + llen, value, len);
	randombytes_buf(nonce, sizeof nonce);
	crypto_secretbox_easy(c, m, mlen, nonce, key);
	sodium_free(m);
	*nonce_b64 = secrets_b64(nonce, sizeof nonce);
	*ct_b64 = secrets_b64(c, mlen + crypto_secretbox_MACBYTES);
	free(c);
}

int
secrets_open(const unsigned char key[SECRETS_KEY_BYTES], const char *label,
	     const char *nonce_b64, const char *ct_b64, char **out, size_t *len)
{
	size_t nlen = 0, clen = 0, llen = strlen(label) + 1, mlen;
	unsigned char *nonce = secrets_unb64(nonce_b64, &nlen);
	unsigned char *c = secrets_unb64(ct_b64, &clen);
	unsigned char *m = NULL;
	int r = -EBADMSG;

	if (nonce == NULL || c == NULL || nlen != crypto_secretbox_NONCEBYTES ||
	    clen < crypto_secretbox_MACBYTES + llen)
		goto out;
	mlen = clen - crypto_secretbox_MACBYTES;
	m = secrets_alloc(mlen);
	if (crypto_secretbox_open_easy(m, c, clen, nonce, key) != 0 ||
	    memcmp(m, label, llen) != 0)
		goto out;
	*len = mlen - llen;
	*out = secrets_alloc(*len + 1);
	memcpy(*out, m + llen, *len);
	(*out)[*len] = '\0';
	r = 0;
out:
	sodium_free(m);
	free(nonce);
	free(c);
	return r;
}

/* Read the 32-byte key file into secrets_key; 0 or -errno + *cause. */
static int
secrets_read_key(const char *path, char **cause)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	ssize_t n = -1;

	if (fd < 0) {
		int e = errno;

		*cause = xasprintf("cannot read the secrets key '%s': %s", path,
				   strerror(e));
		return -e;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size == SECRETS_KEY_BYTES)
		n = read(fd, secrets_key, SECRETS_KEY_BYTES);
	close(fd);
	if (n != SECRETS_KEY_BYTES) {
		*cause = xasprintf("the secrets key '%s' is not a regular "
				   "file of exactly %d bytes",
				   path, SECRETS_KEY_BYTES);
		return -EINVAL;
	}
	if ((st.st_mode & 077) != 0)
		log_warn("the secrets key '%s' is readable by others (mode "
			 "%03o): chmod 600 it",
			 path, (unsigned)(st.st_mode & 0777));
	return 0;
}

/* Create the key file with fresh random bytes; 0 or -errno + *cause. */
static int
secrets_create_key(const char *path, char **cause)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0) {
		r = -errno;
		*cause = xasprintf("cannot create the secrets key '%s': %s",
				   path, strerror(-r));
		return r;
	}
	randombytes_buf(secrets_key, SECRETS_KEY_BYTES);
	if (write_all(fd, secrets_key, SECRETS_KEY_BYTES) < 0 || fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r < 0) {
		unlink(path);
		*cause = xasprintf("cannot write the secrets key '%s': %s",
				   path, strerror(-r));
		return r;
	}
	log_info("created the secrets key '%s'", path);
	return 0;
}

int
secrets_init(struct store *st, const char *key_path, char **cause)
{
	json_int_t stored;
	int r;

	if (sodium_init() < 0) {
		*cause = xstrdup("libsodium failed to initialise");
		return -EIO;
	}
	secrets_release();
	secrets_key = secrets_alloc(SECRETS_KEY_BYTES);
	if (access(key_path, F_OK) == 0) {
		r = secrets_read_key(key_path, cause);
	} else if (errno != ENOENT) {
		r = -errno;
		*cause = xasprintf("cannot reach the secrets key '%s': %s",
				   key_path, strerror(-r));
	} else {
		stored = store_secrets_count(st);
		if (stored < 0)
			stored = -1; /* unreadable: refuse, as for any */
		if (stored != 0) {
			*cause = xasprintf(
				"the secrets key '%s' is missing but the "
				"database holds %lld secret%s that only it "
				"opens: restore the key file (or pass "
				"--secrets-key-file)",
				key_path, (long long)stored,
				stored == 1 ? "" : "s");
			r = -ENOKEY;
		} else {
			r = secrets_create_key(key_path, cause);
		}
	}
	if (r < 0) {
		secrets_release();
		return r;
	}
	sodium_mprotect_readonly(secrets_key);
	secrets_st = st;
	return 0;
}

void
secrets_release(void)
{
	sodium_free(secrets_key);
	secrets_key = NULL;
	secrets_st = NULL;
}

void
secrets_derive_key(const char *label, unsigned char out[SECRETS_KEY_BYTES])
{
	BUG_ON(secrets_key == NULL);
	crypto_auth_hmacsha256(out, (const unsigned char *)label, strlen(label),
			       secrets_key);
}

/* The label a row's plaintext is bound to (new string). */
static char *
secrets_label(const char *scope, const char *scope_id, const char *user_id,
	      const char *name)
{
	if (*user_id == '\0')
		return xasprintf("%s/%s/%s", scope, scope_id, name);
	return xasprintf("%s/%s/%s/%s", scope, scope_id, name, user_id);
}

int
secrets_set(const char *scope, const char *scope_id, const char *user_id,
	    const char *name, const char *value, size_t len)
{
	char *label, *nonce, *ct;
	char id[37];
	int64_t now = (int64_t)wall_ms();
	int r;

	BUG_ON(secrets_st == NULL);
	if (len > SECRETS_VALUE_MAX)
		return -EINVAL;
	label = secrets_label(scope, scope_id, user_id, name);
	secrets_seal(secrets_key, label, value, len, &nonce, &ct);
	store_uuid(id);
	r = store_secret_upsert(secrets_st, id, scope, scope_id, user_id, name,
				nonce, ct, now);
	free(label);
	free(nonce);
	free(ct);
	return r < 0 ? -EIO : 0;
}

json_t *
secrets_list(const char *scope, const char *scope_id, const char *user_id)
{
	json_t *rows, *out = json_array(), *row, *entry;
	bool tmpl = strcmp(scope, "template") == 0;
	char c[32], u[32];
	size_t i;

	BUG_ON(secrets_st == NULL);
	rows = store_secrets_list(secrets_st, scope, scope_id, user_id);
	json_array_foreach(rows, i, row)
	{
		time_rfc3339((uint64_t)json_integer_value(
				     json_object_get(row, "created_at")),
			     c);
		time_rfc3339((uint64_t)json_integer_value(
				     json_object_get(row, "updated_at")),
			     u);
		entry = json_pack("{s:O, s:s, s:s}", "name",
				  json_object_get(row, "name"), "created_at", c,
				  "updated_at", u);
		if (tmpl)
			json_object_set_new(
				entry, "shared",
				json_boolean(*json_string_value(json_object_get(
						     row, "user_id")) == '\0'));
		json_array_append_new(out, entry);
	}
	json_decref(rows);
	return out;
}

int
secrets_delete(const char *scope, const char *scope_id, const char *user_id,
	       const char *name)
{
	int r;

	BUG_ON(secrets_st == NULL);
	r = store_secret_delete(secrets_st, scope, scope_id, user_id, name);
	return r == -ENOENT ? r : r < 0 ? -EIO : 0;
}

/* Seal a value read under its pre-migration label again under the row's
 * label (best effort: the old one keeps opening until then). */
static void
secrets_reseal(const char *id, const char *label, const char *value)
{
	char *nonce, *ct;

	secrets_seal(secrets_key, label, value, strlen(value), &nonce, &ct);
	if (store_secret_reseal(secrets_st, id, nonce, ct) < 0)
		log_warn("cannot seal a migrated secret again");
	free(nonce);
	free(ct);
}

int
secrets_get(const char *scope, const char *scope_id, const char *user_id,
	    const char *name, char **out)
{
	json_t *row;
	char *label, *legacy;
	const char *nonce, *ct;
	size_t len;
	int r;

	BUG_ON(secrets_st == NULL);
	row = store_secret_get(secrets_st, scope, scope_id, user_id, name);
	if (row == NULL)
		return -ENOENT;
	nonce = json_string_value(json_object_get(row, "nonce")) ?: "";
	ct = json_string_value(json_object_get(row, "ciphertext")) ?: "";
	label = secrets_label(scope, scope_id, user_id, name);
	r = secrets_open(secrets_key, label, nonce, ct, out, &len);
	if (r < 0 && *user_id != '\0') {
		/* given to its template's author by migration 4: opening it
		 * under the shared label grants nothing the row does not */
		legacy = secrets_label(scope, scope_id, "", name);
		r = secrets_open(secrets_key, legacy, nonce, ct, out, &len);
		if (r == 0)
			secrets_reseal(
				json_string_value(json_object_get(row, "id")),
				label, *out);
		free(legacy);
	}
	if (r < 0)
		log_error("secret '%s' of %s %s does not open with this key "
			  "(tampered or a different key)",
			  name, scope, scope_id);
	free(label);
	json_decref(row);
	return r;
}
