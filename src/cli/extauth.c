/*
 * extauth.c: `taskbox user link|unlink github` and `taskbox external-auth
 * set|show|delete github` (docs/API.md, External auth).
 *
 * `user link github` runs GitHub's device flow through the server: it
 * asks for a device code, prints where to enter it, polls at the
 * interval GitHub gave (longer after slow_down) until the server says
 * linked, the code expired or was denied. The OAuth app's client secret
 * is read from a file (never argv, where other users see it), sent once
 * and wiped; the server never sends it back.
 */
#include "common.h"

#include <getopt.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#define EXTAUTH_PATH	   "/api/v2/external-auth/github"
#define EXTAUTH_SECRET_MAX 4096

static const char extauth_usage[] =
	"usage: taskbox external-auth set github --client-id ID\n"
	"           --client-secret-file F [--base-url URL] [--api-url URL]\n"
	"           [--scopes S] [--callback-url URL]\n"
	"       taskbox external-auth show github [-o table|json]\n"
	"       taskbox external-auth delete github\n"
	"\n"
	"The GitHub OAuth app users link their accounts with (admins). Its\n"
	"callback URL at GitHub must equal --callback-url (default: the one\n"
	"stored, else SERVER/external-auth/github/callback with the address\n"
	"this command reaches the server at); enable the device flow for\n"
	"`taskbox user link github`. --base-url is GitHub Enterprise's\n"
	"(default https://github.com); --api-url defaults to\n"
	"https://api.github.com, or BASE/api/v3. The secret is read from F\n"
	"(- for stdin), stored sealed and never shown again.\n";

static const char link_usage[] =
	"usage: taskbox user link github     link your GitHub account (device "
	"flow)\n"
	"       taskbox user unlink github   unlink it\n"
	"\n"
	"Tasks of templates with `github: {token: owner}` get the linked\n"
	"account's token (before a token set with `taskbox user set-token\n"
	"github`).\n";

/* The first line of file path ("-": stdin), at most EXTAUTH_SECRET_MAX
 * bytes, not empty (new string, the caller wipes it), or NULL with
 * *cause. */
static char *
extauth_read_secret(const char *path, char **cause)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "re");
	char *buf;
	size_t n;

	if (f == NULL) {
		*cause = xasprintf("cannot read '%s': %s", path,
				   strerror(errno));
		return NULL;
	}
	if (!is_stdin)
		setvbuf(f, NULL, _IONBF, 0);
	buf = xmalloc(EXTAUTH_SECRET_MAX + 2);
	n = fread(buf, 1, EXTAUTH_SECRET_MAX + 1, f);
	if (!is_stdin)
		fclose(f);
	buf[n] = '\0';
	if (n > EXTAUTH_SECRET_MAX) {
		*cause = xasprintf("'%s' is larger than 4 KiB", path);
	} else {
		buf[strcspn(buf, "\r\n")] = '\0';
		if (*buf != '\0')
			return buf;
		*cause = xasprintf("'%s' is empty", path);
	}
	explicit_bzero(buf, EXTAUTH_SECRET_MAX + 2);
	free(buf);
	return NULL;
}

/* `taskbox external-auth show github`. */
static int
extauth_show(struct client *c, bool json)
{
	json_t *reply = NULL;
	char *cause = NULL;

	if (client_json(c, "GET", EXTAUTH_PATH "/config", NULL, &reply,
			&cause) != 0)
		return cli_fail(cause);
	if (json) {
		cli_print_json(reply);
	} else {
		printf("provider:      github\n"
		       "client id:     %s\n"
		       "base url:      %s\n"
		       "api url:       %s\n"
		       "scopes:        %s\n"
		       "callback url:  %s\n"
		       "client secret: %s\n",
		       cli_str(reply, "client_id"), cli_str(reply, "base_url"),
		       cli_str(reply, "api_url"), cli_str(reply, "scopes"),
		       cli_str(reply, "callback_url"),
		       json_is_true(json_object_get(reply, "has_client_secret"))
			       ? "set"
			       : "not set");
	}
	json_decref(reply);
	return 0;
}

enum {
	OPT_CLIENT_ID = 256,
	OPT_SECRET_FILE,
	OPT_BASE_URL,
	OPT_API_URL,
	OPT_SCOPES,
	OPT_CALLBACK_URL,
};

int
cli_external_auth(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"output", required_argument, NULL, 'o'},
		{"client-id", required_argument, NULL, OPT_CLIENT_ID},
		{"client-secret-file", required_argument, NULL,
		 OPT_SECRET_FILE},
		{"base-url", required_argument, NULL, OPT_BASE_URL},
		{"api-url", required_argument, NULL, OPT_API_URL},
		{"scopes", required_argument, NULL, OPT_SCOPES},
		{"callback-url", required_argument, NULL, OPT_CALLBACK_URL},
		{NULL, 0, NULL, 0}};
	const char *id = NULL, *secret_file = NULL, *base = NULL, *api = NULL;
	const char *scopes = NULL, *callback = NULL, *sub;
	char *secret, *cause = NULL;
	bool json = false;
	struct client c;
	json_t *body, *reply = NULL;
	int o, r;

	opterr = 0;
	optind = 0;
	while ((o = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			fputs(extauth_usage, stdout);
			return 0;
		case 'o':
			if (strcmp(optarg, "json") != 0 &&
			    strcmp(optarg, "table") != 0)
				return cli_usage_error(
					extauth_usage,
					"-o takes table or json");
			json = strcmp(optarg, "json") == 0;
			break;
		case OPT_CLIENT_ID:
			id = optarg;
			break;
		case OPT_SECRET_FILE:
			secret_file = optarg;
			break;
		case OPT_BASE_URL:
			base = optarg;
			break;
		case OPT_API_URL:
			api = optarg;
			break;
		case OPT_SCOPES:
			scopes = optarg;
			break;
		case OPT_CALLBACK_URL:
			callback = optarg;
			break;
		case ':':
			return cli_usage_error(extauth_usage,
					       "option '%s' needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error(extauth_usage,
					       "unknown option '%s'",
					       argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		return cli_usage_error(extauth_usage,
				       "expected a command and 'github'");
	sub = argv[optind];
	if (strcmp(argv[optind + 1], "github") != 0)
		return cli_usage_error(extauth_usage,
				       "the only provider is 'github'");
	if (strcmp(sub, "set") != 0 && strcmp(sub, "show") != 0 &&
	    strcmp(sub, "delete") != 0)
		return cli_usage_error(extauth_usage, "unknown command '%s'",
				       sub);
	if (strcmp(sub, "set") == 0 && (id == NULL || secret_file == NULL))
		return cli_usage_error(extauth_usage,
				       "set needs --client-id and "
				       "--client-secret-file");
	if (cli_connect(&c) != 0)
		return 1;
	if (strcmp(sub, "show") == 0) {
		r = extauth_show(&c, json);
	} else if (strcmp(sub, "delete") == 0) {
		r = client_json(&c, "DELETE", EXTAUTH_PATH "/config", NULL,
				NULL, &cause);
		r = r != 0 ? cli_fail(cause)
			   : (printf("deleted the GitHub OAuth app\n"), 0);
	} else if ((secret = extauth_read_secret(secret_file, &cause)) ==
		   NULL) {
		r = cli_fail(cause);
	} else {
		body = json_pack("{s:s, s:s}", "client_id", id, "client_secret",
				 secret);
		explicit_bzero(secret, strlen(secret));
		free(secret);
		if (base != NULL)
			json_object_set_new(body, "base_url",
					    json_string(base));
		if (api != NULL)
			json_object_set_new(body, "api_url", json_string(api));
		if (scopes != NULL)
			json_object_set_new(body, "scopes",
					    json_string(scopes));
		if (callback != NULL)
			json_object_set_new(body, "callback_url",
					    json_string(callback));
		r = client_json(&c, "PUT", EXTAUTH_PATH "/config", body, &reply,
				&cause);
		explicit_bzero((char *)json_string_value(
				       json_object_get(body, "client_secret")),
			       json_string_length(
				       json_object_get(body, "client_secret")));
		json_decref(body);
		if (r != 0)
			r = cli_fail(cause);
		else
			printf("set the GitHub OAuth app %s (%s), callback "
			       "URL %s\n",
			       cli_str(reply, "client_id"),
			       cli_str(reply, "base_url"),
			       cli_str(reply, "callback_url"));
		json_decref(reply);
	}
	client_release(&c);
	return r;
}

/* Poll the device code until linked; the exit code. */
static int
extauth_device_poll(struct client *c, const char *code, long interval,
		    long expires_in)
{
	time_t deadline = time(NULL) + expires_in;
	json_t *body = json_pack("{s:s}", "device_code", code), *reply;
	const char *why;
	char *cause;
	int r;

	for (;;) {
		if (time(NULL) >= deadline) {
			json_decref(body);
			return cli_fail(xstrdup("the code expired: run taskbox "
						"user link github again"));
		}
		sleep((unsigned)MAX(interval, 1));
		reply = NULL;
		cause = NULL;
		r = client_call(c, "POST", EXTAUTH_PATH "/device", body, NULL,
				NULL, 0, &reply, &cause);
		why = cli_str(reply, "detail");
		if (r == 0)
			break;
		if (r == 400 && strcmp(why, "authorization_pending") == 0) {
			/* go on */
		} else if (r == 400 && strcmp(why, "slow_down") == 0) {
			interval += 5;
		} else if (r == 400 && strcmp(why, "expired_token") == 0) {
			free(cause);
			cause = xstrdup("the code expired: run taskbox user "
					"link github again");
			goto fail;
		} else if (r == 400 && strcmp(why, "access_denied") == 0) {
			free(cause);
			cause = xstrdup("GitHub access was denied");
			goto fail;
		} else {
			goto fail;
		}
		free(cause);
		json_decref(reply);
	}
	json_decref(reply);
	free(cause);
	json_decref(body);
	return 0;
fail:
	json_decref(reply);
	json_decref(body);
	return cli_fail(cause);
}

/* `taskbox user link github`. */
static int
extauth_link(struct client *c)
{
	json_t *dev = NULL, *st = NULL;
	char *cause = NULL;
	int r;

	if (client_json(c, "GET", EXTAUTH_PATH "/device", NULL, &dev, &cause) !=
	    0)
		return cli_fail(cause);
	printf("To link your GitHub account, open %s and enter the code %s\n",
	       cli_str(dev, "verification_uri"), cli_str(dev, "user_code"));
	fflush(stdout);
	r = extauth_device_poll(
		c, cli_str(dev, "device_code"),
		(long)json_integer_value(json_object_get(dev, "interval")),
		(long)json_integer_value(json_object_get(dev, "expires_in")));
	json_decref(dev);
	if (r != 0)
		return r;
	if (client_json(c, "GET", EXTAUTH_PATH, NULL, &st, &cause) != 0)
		return cli_fail(cause);
	printf("linked the GitHub account %s\n",
	       cli_str(json_object_get(st, "user"), "login"));
	json_decref(st);
	return 0;
}

int
cli_user_link(int argc, char **argv)
{
	bool link = strcmp(argv[0], "link") == 0;
	char *cause = NULL;
	struct client c;
	int r;

	if (argc == 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(link_usage, stdout);
		return 0;
	}
	if (argc != 2 || strcmp(argv[1], "github") != 0)
		return cli_usage_error(link_usage,
				       "expected 'github' (the only provider)");
	if (cli_connect(&c) != 0)
		return 1;
	if (link) {
		r = extauth_link(&c);
	} else if (client_json(&c, "DELETE", EXTAUTH_PATH, NULL, NULL,
			       &cause) != 0) {
		r = cli_fail(cause);
	} else {
		printf("unlinked your GitHub account\n");
		r = 0;
	}
	client_release(&c);
	return r;
}
