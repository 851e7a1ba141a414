/*
 * provider.c: LLM providers, their validation and the server's cache of
 * them.
 *
 * Data model: a provider is made once by provider_build from a spec (a
 * JSON object of strings) and never changes; readers share it by
 * reference (refs) and the last provider_unref wipes its credentials.
 * The cache is an array of providers sorted by name, owned by this file
 * and touched only on the server's loop: provider_get takes a reference
 * without I/O; provider_cache_reload reads the providers table, keeps the
 * providers whose generation did not change, builds the others from
 * their rows (credentials opened from their seal) and swaps the array.
 * Readers holding an old provider keep it until they unref it. In the
 * store a row holds the plain members ('' when not given) and the
 * credentials as one JSON object sealed (secrets_seal) under a key
 * derived from the secrets key, bound to the label "provider/NAME/HASH"
 * where HASH covers the plain members (provider_label).
 */
#include "common.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "core/ev.h"
#include "core/log.h"
#include "core/text.h"
#include "gateway/gauth.h"
#include "gateway/provider.h"
#include "server/secrets.h"
#include "store/store-rows.h"

#define PROVIDER_KEY_LABEL "taskbox provider credentials"

/* What a type takes: each member is refused, optional or required. */
enum provider_need { NEED_NO, NEED_MAY, NEED_MUST };

static const struct provider_kind {
	const char *name;
	const char *url; /* the default ("" when --url is required) */
	enum provider_need url_need, region, project, key, aws, sa;
} provider_kinds[] = {
	[PROVIDER_ANTHROPIC] = {"anthropic", "https://api.anthropic.com",
				NEED_MAY, NEED_NO, NEED_NO, NEED_MUST, NEED_NO,
				NEED_NO},
	[PROVIDER_OPENAI] = {"openai", "https://api.openai.com", NEED_MAY,
			     NEED_NO, NEED_NO, NEED_MUST, NEED_NO, NEED_NO},
	[PROVIDER_GEMINI] = {"gemini",
			     "https://generativelanguage.googleapis.com",
			     NEED_MAY, NEED_NO, NEED_NO, NEED_MUST, NEED_NO,
			     NEED_NO},
	[PROVIDER_BEDROCK] = {"bedrock", "", NEED_MAY, NEED_MUST, NEED_NO,
			      NEED_NO, NEED_MUST, NEED_NO},
	[PROVIDER_VERTEX] = {"vertex", "", NEED_MAY, NEED_MAY, NEED_MAY,
			     NEED_NO, NEED_NO, NEED_MUST},
	[PROVIDER_OPENAI_COMPATIBLE] = {"openai-compatible", "", NEED_MUST,
					NEED_NO, NEED_NO, NEED_MAY, NEED_NO,
					NEED_NO},
	[PROVIDER_OLLAMA] = {"ollama", "", NEED_MUST, NEED_NO, NEED_NO, NEED_NO,
			     NEED_NO, NEED_NO},
};

/* The credential members of a spec, sealed together. */
static const char *const provider_creds[] = {
	"key",
	"aws_access_key_id",
	"aws_secret_access_key",
	"aws_session_token",
	"service_account",
	NULL,
};

/* The members stored in clear. */
static const char *const provider_plain[] = {
	"type", "url", "region", "project", "ca_pem", NULL,
};

static struct {
	struct store *st;
	struct ev_loop *loop;
	struct ev_timer timer;
	struct provider **items; /* sorted by name, each one reference */
	size_t n;
} cache;

const char *
provider_type_name(enum provider_type t)
{
	if ((size_t)t >= ARRAY_SIZE(provider_kinds))
		BUG();
	return provider_kinds[t].name;
}

int
provider_type_parse(const char *s, enum provider_type *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(provider_kinds); i++)
		if (strcmp(s, provider_kinds[i].name) == 0) {
			*out = (enum provider_type)i;
			return 0;
		}
	return -EINVAL;
}

bool
provider_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROVIDER_NAME_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* Wipe and free a credential string (NULL is fine). */
static void
provider_wipe(char *s)
{
	if (s != NULL) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

void
provider_unref(struct provider *p)
{
	if (p == NULL)
		return;
	BUG_ON(p->refs == 0); /* a reference dropped twice */
	if (--p->refs > 0)
		return;
	free(p->name);
	free(p->url);
	free(p->region);
	free(p->project);
	free(p->ca_pem);
	provider_wipe(p->key);
	provider_wipe(p->aws_access_key_id);
	provider_wipe(p->aws_secret_access_key);
	provider_wipe(p->aws_session_token);
	provider_wipe(p->service_account);
	free(p);
}

/* ---- validation ---- */

/*
 * Spec member key as a string (NULL when absent, null or ""); false
 * after setting *cause when it is another JSON type.
 */
static bool
spec_str(const json_t *spec, const char *key, const char **out, char **cause)
{
	const json_t *v = json_object_get(spec, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v)) {
		*cause = xasprintf("%s must be a string", key);
		return false;
	}
	if (json_string_length(v) > 0)
		*out = json_string_value(v);
	return true;
}

/* The first member of spec that is not a provider's, or NULL. */
static const char *
spec_unknown(const json_t *spec)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)spec, key, v)
	{
		bool known = false;

		for (size_t i = 0; provider_plain[i] != NULL; i++)
			known = known || strcmp(key, provider_plain[i]) == 0;
		for (size_t i = 0; provider_creds[i] != NULL; i++)
			known = known || strcmp(key, provider_creds[i]) == 0;
		if (!known)
			return key;
	}
	return NULL;
}

/* Whether every byte of s is printable ASCII other than a space. */
static bool
is_token(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* Whether s is 1..max bytes of [a-z0-9] and the bytes of extra, starting
 * with [a-z0-9]. */
static bool
is_word(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || strchr(extra, s[0]) != NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr(extra, s[i])))
			return false;
	return true;
}

/* Whether host (n bytes) is a DNS name, an IPv4 address or [IPv6]. */
static bool
url_host_valid(const char *host, size_t n)
{
	if (n == 0 || n > 255)
		return false;
	if (host[0] == '[') {
		char addr[64];
		struct in6_addr a;

		/* an IPv6 address libc reads (no zone: '%' is refused) */
		if (n < 3 || n - 2 >= sizeof addr || host[n - 1] != ']')
			return false;
		memcpy(addr, host + 1, n - 2);
		addr[n - 2] = '\0';
		return inet_pton(AF_INET6, addr, &a) == 1;
	}
	if (host[0] == '.' || host[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)host[i]) && host[i] != '.' &&
		    host[i] != '-' && host[i] != '_')
			return false;
	return true;
}

/* Whether path ends with a "." or ".." segment. */
static bool
path_ends_dot(const char *path)
{
	size_t n = strlen(path);

	return (n >= 2 && strcmp(path + n - 2, "/.") == 0) ||
	       (n >= 3 && strcmp(path + n - 3, "/..") == 0);
}

/*
 * Check url: http:// or https://, a host, an optional port, an optional
 * base path; no userinfo, query, fragment, `..` segment or byte outside
 * printable ASCII. 0 and *out (new, without trailing '/'), or -EINVAL
 * with *cause.
 */
static int
url_check(const char *url, char **out, char **cause)
{
	const char *auth, *end, *colon, *p;
	size_t n = strlen(url);
	long port;

	if (n > PROVIDER_URL_MAX) {
		*cause = xasprintf("url is longer than %d bytes",
				   PROVIDER_URL_MAX);
		return -EINVAL;
	}
	if (!is_token(url) || strpbrk(url, "?#@\\\"<>^`{|}") != NULL) {
		*cause = xstrdup("url must be http(s)://HOST[:PORT][/PATH] "
				 "of printable ASCII, without user, query or "
				 "fragment");
		return -EINVAL;
	}
	if (str_starts_with(url, "https://"))
		auth = url + 8;
	else if (str_starts_with(url, "http://"))
		auth = url + 7;
	else {
		*cause = xstrdup("url must start with http:// or https://");
		return -EINVAL;
	}
	end = auth + strcspn(auth, "/");
	colon = NULL;
	for (p = auth; p < end; p++)
		if (*p == ':' && (auth[0] != '[' || (p > auth && p[-1] == ']')))
			colon = p;
	if (!url_host_valid(auth, (size_t)((colon ? colon : end) - auth))) {
		*cause = xstrdup("url has no valid host");
		return -EINVAL;
	}
	if (colon != NULL) {
		char *digits = xstrndup(colon + 1, (size_t)(end - colon - 1));
		/* digits only: strtol would take "+443" */
		int r = strspn(digits, "0123456789") == strlen(digits)
				? parse_long(digits, 1, 65535, &port)
				: -EINVAL;

		free(digits);
		if (r < 0) {
			*cause = xstrdup("url has an invalid port");
			return -EINVAL;
		}
	}
	if (strstr(end, "//") != NULL || strstr(end, "/./") != NULL ||
	    strstr(end, "/../") != NULL || path_ends_dot(end)) {
		*cause = xstrdup("url's path has an empty, '.' or '..' "
				 "segment");
		return -EINVAL;
	}
	*out = xstrdup(url);
	n = strlen(*out);
	while (n > 0 && (*out)[n - 1] == '/')
		(*out)[--n] = '\0';
	return 0;
}

/* Whether pem holds at least one certificate OpenSSL reads and no key. */
static bool
pem_is_certs(const char *pem)
{
	BIO *bio;
	X509 *x;
	int count = 0;

	if (strstr(pem, "PRIVATE KEY") != NULL)
		return false;
	bio = BIO_new_mem_buf(pem, (int)strlen(pem));
	if (bio == NULL)
		return false;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		X509_free(x);
		count++;
	}
	BIO_free(bio);
	ERR_clear_error(); /* the end of the input reads as an error */
	return count > 0;
}

/*
 * Whether member key of spec (value v, NULL when not given) fits a
 * type that needs it so; false after setting *field and *cause.
 */
static bool
need_check(const char *type, const char *key, const char *v,
	   enum provider_need need, const char **field, char **cause)
{
	if (v != NULL && need == NEED_NO)
		*cause = xasprintf("a provider of type %s takes no %s", type,
				   key);
	else if (v == NULL && need == NEED_MUST)
		*cause = xasprintf("a provider of type %s needs %s", type, key);
	else
		return true;
	*field = key;
	return false;
}

/* Check the credential members; false after setting *field, *cause. */
static bool
creds_check(const struct provider_kind *k, const char *const v[],
	    const char **field, char **cause)
{
	/* v: key, aws_access_key_id, aws_secret_access_key,
	 * aws_session_token, service_account */
	const enum provider_need need[] = {
		k->key, k->aws, k->aws, k->aws == NEED_NO ? NEED_NO : NEED_MAY,
		k->sa};

	for (size_t i = 0; provider_creds[i] != NULL; i++) {
		const char *name = provider_creds[i];
		size_t len = v[i] ? strlen(v[i]) : 0;

		if (!need_check(k->name, name, v[i], need[i], field, cause))
			return false;
		if (v[i] == NULL || i == 4)
			continue;
		*field = name;
		if (len > PROVIDER_KEY_MAX || !is_token(v[i])) {
			*cause = xasprintf("%s must be at most %d bytes of "
					   "printable ASCII without spaces",
					   name, PROVIDER_KEY_MAX);
			return false;
		}
		if (i == 1 && (len < 16 || len > 128 ||
			       strspn(v[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "0123456789") != len)) {
			*cause = xstrdup("aws_access_key_id must be 16 to 128 "
					 "of [A-Z0-9]");
			return false;
		}
	}
	return true;
}

/* Fill p's url from the type's default (region set where it needs one). */
static void
provider_default_url(struct provider *p)
{
	if (p->type == PROVIDER_BEDROCK)
		p->url = xasprintf("https://bedrock-runtime.%s.amazonaws.com",
				   p->region);
	else if (p->type == PROVIDER_VERTEX && strcmp(p->region, "global") == 0)
		p->url = xstrdup("https://aiplatform.googleapis.com");
	else if (p->type == PROVIDER_VERTEX)
		p->url = xasprintf("https://%s-aiplatform.googleapis.com",
				   p->region);
	else
		p->url = xstrdup(provider_kinds[p->type].url);
}

/*
 * Check the service account (vertex) and take the project from it when
 * none is given; false after setting *field and *cause.
 */
static bool
provider_check_sa(struct provider *p, const char *sa, const char **field,
		  char **cause)
{
	struct gauth_key *key = NULL;
	char *why = NULL;

	*field = "service_account";
	if (strlen(sa) > GAUTH_KEY_FILE_MAX) {
		*cause = xasprintf("service_account is larger than %d bytes",
				   GAUTH_KEY_FILE_MAX);
		return false;
	}
	if (gauth_key_parse(sa, strlen(sa), &key, &why) < 0) {
		*cause = xasprintf("service_account: %s",
				   why ? why : "not a service-account key");
		free(why);
		return false;
	}
	if (p->project == NULL) {
		const char *proj = gauth_key_project(key);

		if (!is_word(proj, 128, ".:-")) {
			*field = "project";
			*cause = xstrdup("the service account's project_id "
					 "is not a valid project: give one");
			gauth_key_free(key);
			return false;
		}
		p->project = xstrdup(proj);
	}
	gauth_key_free(key);
	return true;
}

struct provider *
provider_build(const char *name, const json_t *spec, const char **field,
	       char **cause)
{
	const char *type, *url, *region, *project, *ca, *unknown, *v[6] = {0};
	const struct provider_kind *k;
	struct provider *p = xcalloc(1, sizeof *p);

	p->refs = 1;
	p->name = xstrdup(name);
	*field = "name";
	if (!provider_name_valid(name)) {
		*cause = xstrdup("provider names are 1-63 of [a-z0-9-], not "
				 "starting with '-'");
		goto fail;
	}
	*field = "body";
	if (!json_is_object(spec)) {
		*cause = xstrdup("the provider must be a JSON object");
		goto fail;
	}
	if ((unknown = spec_unknown(spec)) != NULL) {
		*cause = strlen(unknown) <= 64 && is_token(unknown)
				 ? xasprintf("unknown member '%s'", unknown)
				 : xstrdup("unknown member");
		goto fail;
	}
	*field = "type";
	if (!spec_str(spec, "type", &type, cause))
		goto fail;
	if (type == NULL || provider_type_parse(type, &p->type) < 0) {
		*cause = xstrdup("type must be anthropic, openai, gemini, "
				 "bedrock, vertex, openai-compatible or "
				 "ollama");
		goto fail;
	}
	k = &provider_kinds[p->type];
	*field = "url";
	if (!spec_str(spec, "url", &url, cause))
		goto fail;
	*field = "region";
	if (!spec_str(spec, "region", &region, cause))
		goto fail;
	*field = "project";
	if (!spec_str(spec, "project", &project, cause))
		goto fail;
	*field = "ca_pem";
	if (!spec_str(spec, "ca_pem", &ca, cause))
		goto fail;
	for (size_t i = 0; provider_creds[i] != NULL; i++) {
		*field = provider_creds[i];
		if (!spec_str(spec, provider_creds[i], &v[i], cause))
			goto fail;
	}
	if (!need_check(type, "url", url, k->url_need, field, cause) ||
	    !need_check(type, "region", region, k->region, field, cause) ||
	    !need_check(type, "project", project, k->project, field, cause) ||
	    !creds_check(k, v, field, cause))
		goto fail;
	*field = "region";
	if (region != NULL && !is_word(region, 63, "-")) {
		*cause = xstrdup("region must be 1-63 of [a-z0-9-]");
		goto fail;
	}
	*field = "project";
	if (project != NULL && !is_word(project, 128, ".:-")) {
		*cause = xstrdup("project must be 1-128 of [a-z0-9.:-]");
		goto fail;
	}
	*field = "ca_pem";
	if (ca != NULL && (strlen(ca) > PROVIDER_CA_MAX || !pem_is_certs(ca))) {
		*cause = xasprintf("ca_pem must be PEM certificates (at most "
				   "%d bytes), no key",
				   PROVIDER_CA_MAX);
		goto fail;
	}
	*field = "url";
	if (url != NULL && url_check(url, &p->url, cause) < 0)
		goto fail;
	p->url_given = url != NULL;
	if (region != NULL)
		p->region = xstrdup(region);
	else if (p->type == PROVIDER_VERTEX)
		p->region = xstrdup("global");
	if (project != NULL)
		p->project = xstrdup(project);
	if (p->type == PROVIDER_VERTEX &&
	    !provider_check_sa(p, v[4], field, cause))
		goto fail;
	if (p->url == NULL)
		provider_default_url(p);
	p->ca_pem = ca ? xstrdup(ca) : NULL;
	p->key = v[0] ? xstrdup(v[0]) : NULL;
	p->aws_access_key_id = v[1] ? xstrdup(v[1]) : NULL;
	p->aws_secret_access_key = v[2] ? xstrdup(v[2]) : NULL;
	p->aws_session_token = v[3] ? xstrdup(v[3]) : NULL;
	p->service_account = v[4] ? xstrdup(v[4]) : NULL;
	return p;
fail:
	provider_unref(p);
	return NULL;
}

json_t *
provider_json(const struct provider *p, bool creds)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:b, s:s?, s:s?}", "name",
			      p->name, "type", provider_type_name(p->type),
			      "url", p->url, "url_given", p->url_given,
			      "region", p->region, "project", p->project);

	if (!creds)
		return j;
	json_object_set_new(j, "has_ca", json_boolean(p->ca_pem != NULL));
	json_object_set_new(j, "has_key", json_boolean(p->key != NULL));
	json_object_set_new(j, "has_aws_access_key_id",
			    json_boolean(p->aws_access_key_id != NULL));
	json_object_set_new(j, "has_aws_secret_access_key",
			    json_boolean(p->aws_secret_access_key != NULL));
	json_object_set_new(j, "has_aws_session_token",
			    json_boolean(p->aws_session_token != NULL));
	json_object_set_new(j, "has_service_account",
			    json_boolean(p->service_account != NULL));
	return j;
}

/* ---- the store ---- */

/*
 * The label a provider's seal is bound to (new string): its name and a
 * hash of the members stored in clear, as stored ('' when not given), so
 * that a store writer can neither move the credentials to another row nor
 * send them to another url, region or CA.
 */
static char *
provider_label(const char *name, const char *const plain[])
{
	unsigned char h[crypto_generichash_BYTES];
	char hex[2 * crypto_generichash_BYTES + 1];
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, sizeof h);
	for (size_t i = 0; provider_plain[i] != NULL; i++)
		crypto_generichash_update(&st, (const unsigned char *)plain[i],
					  strlen(plain[i]) + 1);
	crypto_generichash_final(&st, h, sizeof h);
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	return xasprintf("provider/%s/%s", name, hex);
}

/* Wipe the credential strings of spec in place (before its decref). */
static void
spec_wipe(json_t *spec)
{
	for (size_t i = 0; provider_creds[i] != NULL; i++) {
		json_t *v = json_object_get(spec, provider_creds[i]);

		if (json_is_string(v))
			sodium_memzero((char *)json_string_value(v),
				       json_string_length(v));
	}
}

/*
 * Make the provider of a stored row: its credentials opened, then built
 * as provider_build does. A new provider, or NULL after logging why.
 */
static struct provider *
provider_from_row(const json_t *row)
{
	const char *name = json_string_value(json_object_get(row, "name"));
	const char *stored[ARRAY_SIZE(provider_plain)] = {0};
	unsigned char key[SECRETS_KEY_BYTES];
	char *label, *plain = NULL, *cause = NULL;
	const char *field = NULL, *k;
	json_t *spec = NULL, *v;
	struct provider *p = NULL;
	size_t len = 0;
	int r;

	for (size_t i = 0; provider_plain[i] != NULL; i++)
		stored[i] = json_string_value(
				    json_object_get(row, provider_plain[i]))
				    ?: "";
	label = provider_label(name ? name : "", stored);
	secrets_derive_key(PROVIDER_KEY_LABEL, key);
	r = secrets_open(key, label,
			 json_string_value(json_object_get(row, "nonce")) ?: "",
			 json_string_value(json_object_get(row, "ciphertext"))
				 ?: "",
			 &plain, &len);
	sodium_memzero(key, sizeof key);
	if (r < 0) {
		log_warn("provider '%s': its credentials do not open (another "
			 "secrets key?): left out",
			 name ? name : "");
		goto out;
	}
	spec = json_loadb(plain, len, 0, NULL);
	if (!json_is_object(spec)) {
		log_warn("provider '%s': its credentials are not JSON: left "
			 "out",
			 name);
		goto out;
	}
	/* the plain members; '' means not given */
	for (size_t i = 0; provider_plain[i] != NULL; i++) {
		k = provider_plain[i];
		v = json_object_get(row, k);
		if (json_is_string(v) && json_string_length(v) > 0)
			json_object_set(spec, k, v);
	}
	p = provider_build(name, spec, &field, &cause);
	if (p == NULL) {
		log_warn("provider '%s': %s: left out", name, cause);
		goto out;
	}
	v = json_object_get(row, "generation");
	p->generation = (uint64_t)json_integer_value(v);
out:
	if (spec != NULL)
		spec_wipe(spec);
	json_decref(spec);
	secrets_free(plain);
	free(label);
	free(cause);
	return p;
}

/* Compare two cached providers by name (qsort, bsearch). */
static int
provider_cmp(const void *a, const void *b)
{
	const struct provider *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* The cached provider named name (no new reference), or NULL. */
static struct provider *
cache_find(const char *name)
{
	struct provider key = {.name = (char *)name}, *kp = &key, **hit;

	if (cache.n == 0)
		return NULL;
	hit = bsearch(&kp, cache.items, cache.n, sizeof *cache.items,
		      provider_cmp);
	return hit ? *hit : NULL;
}

int
provider_cache_reload(void)
{
	json_t *rows, *row;
	struct provider **items, *old;
	size_t i, n = 0;

	if (cache.st == NULL)
		return -EIO;
	rows = store_providers_list(cache.st);
	if (rows == NULL)
		return -EIO;
	items = xcalloc(MAX(json_array_size(rows), 1), sizeof *items);
	json_array_foreach(rows, i, row)
	{
		const char *name =
			json_string_value(json_object_get(row, "name"));
		uint64_t gen = (uint64_t)json_integer_value(
			json_object_get(row, "generation"));

		if (name == NULL || n >= PROVIDER_COUNT_MAX)
			continue;
		old = cache_find(name);
		if (old != NULL && old->generation == gen) {
			old->refs++;
			items[n++] = old;
		} else if ((items[n] = provider_from_row(row)) != NULL) {
			n++;
		}
	}
	json_decref(rows);
	/* the store sorts by its collation: sort by bytes for bsearch */
	qsort(items, n, sizeof *items, provider_cmp);
	for (i = 0; i < cache.n; i++)
		provider_unref(cache.items[i]);
	free(cache.items);
	cache.items = items;
	cache.n = n;
	return 0;
}

struct provider *
provider_get(const char *name)
{
	struct provider *p = name ? cache_find(name) : NULL;

	if (p != NULL)
		p->refs++;
	return p;
}

/* The reload timer: read the store again (other replicas' writes). */
static void
provider_on_timer(void *data UNUSED)
{
	if (provider_cache_reload() < 0)
		log_warn("cannot reload the LLM providers: the store failed");
	ev_timer_start(cache.loop, &cache.timer, now_ms() + PROVIDER_RELOAD_MS);
}

int
provider_cache_start(struct store *st, struct ev_loop *loop, char **cause)
{
	cache.st = st;
	if (provider_cache_reload() < 0) {
		*cause = xstrdup("cannot read the LLM providers");
		return -EIO;
	}
	cache.loop = loop;
	if (loop != NULL) {
		ev_timer_init(&cache.timer, provider_on_timer, NULL);
		ev_timer_start(loop, &cache.timer,
			       now_ms() + PROVIDER_RELOAD_MS);
	}
	return 0;
}

void
provider_cache_stop(void)
{
	if (cache.loop != NULL)
		ev_timer_stop(cache.loop, &cache.timer);
	for (size_t i = 0; i < cache.n; i++)
		provider_unref(cache.items[i]);
	free(cache.items);
	memset(&cache, 0, sizeof cache);
}

/* A new generation: random, positive as a signed 64-bit value, not 0. */
static int64_t
provider_generation(void)
{
	uint64_t g;

	do {
		randombytes_buf(&g, sizeof g);
		g &= (UINT64_C(1) << 62) - 1;
	} while (g == 0);
	return (int64_t)g;
}

/* A member of spec as stored: its string, or "". */
static const char *
spec_plain(const json_t *spec, const char *key)
{
	return json_string_value(json_object_get(spec, key)) ?: "";
}

int
provider_save(const char *name, const json_t *spec, const char **field,
	      char **cause)
{
	struct provider *p = provider_build(name, spec, field, cause);
	unsigned char key[SECRETS_KEY_BYTES];
	struct store_provider_row row = {0};
	json_t *creds;
	char *text, *label, *nonce = NULL, *ct = NULL;
	int64_t count;
	int r;

	if (p == NULL)
		return -EINVAL;
	*field = NULL;
	if (cache.st == NULL) {
		provider_unref(p);
		*cause = xstrdup("the providers are not loaded");
		return -EIO;
	}
	count = store_providers_count(cache.st);
	if (count >= PROVIDER_COUNT_MAX && cache_find(name) == NULL) {
		provider_unref(p);
		*cause = xasprintf("there are %d providers already, the most "
				   "a server holds",
				   PROVIDER_COUNT_MAX);
		return -ENOSPC;
	}
	creds = json_object();
	for (size_t i = 0; provider_creds[i] != NULL; i++) {
		const char *v = spec_plain(spec, provider_creds[i]);

		if (*v != '\0')
			json_object_set_new(creds, provider_creds[i],
					    json_string(v));
	}
	text = json_dumps(creds, JSON_COMPACT);
	spec_wipe(creds);
	json_decref(creds);
	row.name = name;
	row.type = provider_type_name(p->type);
	row.url = spec_plain(spec, "url");
	row.region = spec_plain(spec, "region");
	row.project = spec_plain(spec, "project");
	row.ca_pem = spec_plain(spec, "ca_pem");
	/* in provider_plain's order */
	label = provider_label(
		name, (const char *const[]){row.type, row.url, row.region,
					    row.project, row.ca_pem});
	secrets_derive_key(PROVIDER_KEY_LABEL, key);
	secrets_seal(key, label, text, strlen(text), &nonce, &ct);
	sodium_memzero(key, sizeof key);
	provider_wipe(text);
	row.nonce = nonce;
	row.ciphertext = ct;
	row.generation = provider_generation();
	r = store_provider_upsert(cache.st, &row, (int64_t)wall_ms());
	if (r < 0)
		*cause = xstrdup("cannot store the provider");
	else if (provider_cache_reload() < 0)
		log_warn("cannot reload the LLM providers: the store failed");
	free(label);
	free(nonce);
	free(ct);
	provider_unref(p);
	return r < 0 ? -EIO : 0;
}

int
provider_delete(const char *name)
{
	int r;

	if (cache.st == NULL)
		return -EIO;
	r = store_provider_delete(cache.st, name);
	if (r == 0 && provider_cache_reload() < 0)
		log_warn("cannot reload the LLM providers: the store failed");
	return r;
}

json_t *
provider_list(bool creds)
{
	json_t *rows, *row, *out;
	size_t i;

	if (cache.st == NULL || (rows = store_providers_list(cache.st)) == NULL)
		return NULL;
	out = json_array();
	json_array_foreach(rows, i, row)
	{
		/* the cached provider while its row is unchanged: any user
		 * may list, so no credential is opened (nor a vertex key
		 * checked by signing) per request */
		const char *name =
			json_string_value(json_object_get(row, "name"));
		struct provider *p = name ? cache_find(name) : NULL;
		char when[32];
		json_t *j;

		if (p != NULL &&
		    p->generation ==
			    (uint64_t)json_integer_value(
				    json_object_get(row, "generation")))
			p->refs++;
		else
			p = provider_from_row(row);

		if (p == NULL)
			continue;
		j = provider_json(p, creds);
		time_rfc3339((uint64_t)json_integer_value(
				     json_object_get(row, "created_at")),
			     when);
		json_object_set_new(j, "created_at", json_string(when));
		time_rfc3339((uint64_t)json_integer_value(
				     json_object_get(row, "updated_at")),
			     when);
		json_object_set_new(j, "updated_at", json_string(when));
		json_array_append_new(out, j);
		provider_unref(p);
	}
	json_decref(rows);
	return out;
}
