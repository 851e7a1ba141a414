/*
 * server.c: `taskbox server`, the Tasks control plane.
 *
 * Start-up: the data directory (mode 0711: task uids may traverse it to
 * their own 0700 directories, nothing can be listed), a copy of this
 * binary under DATA/bin (bound into every workspace, so the build tree's
 * location and permissions do not matter), the store (DATA/taskbox.db or
 * --store's database, migrated), the built-in modules and templates, the first
 * admin user and its one-time token, with PostgreSQL this server's place
 * among the replicas (replica.c), the stored tasks, then the HTTP API on
 * --listen. One loop thread serves everything; SIGINT/SIGTERM stop the
 * workspaces and exit.
 */
#include "common.h"

#include <dirent.h>
#include <sodium.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/fdlimit.h"
#include "core/log.h"
#include "core/text.h"
#include "gateway/provider.h"
#include "gateway/account.h"
#include "gateway/gateway.h"
#include "http/http.h"
#include "server-main.h"
#include "server.h"
#include "server/api-coder.h"
#include "server/extauth.h"
#include "server/install.h"
#include "server/metrics.h"
#include "server/password.h"
#include "server/secrets.h"
#include "server/replica.h"
#include "server/task-events.h"
#include "store/store-rows.h"
#include "ws/disk.h"
#include "ws/ws.h"

struct server *srv;

static const char *server_default_tmpl = "claude-code";

const char *
server_default_template(void)
{
	return server_default_tmpl;
}

static void
server_usage(FILE *f)
{
	fprintf(f,
		"usage: taskbox server [options]\n"
		"\n"
		"  --listen HOST:PORT       address of the API (default "
		"127.0.0.1:7080)\n"
		"  --data DIR               database and workspaces (default "
		"$TASKBOX_DATA,\n"
		"                           /var/lib/taskbox as root, else "
		"~/.local/share/taskbox)\n"
		"  --store PATH|URI         the database: a SQLite file "
		"(default DATA/taskbox.db)\n"
		"                           or postgresql://USER@HOST/DB "
		"(libpq URI)\n"
		"  --tools DIR              agent installs (default "
		"$TASKBOX_TOOLS or\n"
		"                           /var/cache/taskbox/tools)\n"
		"  --pip-index-url URL      package index of pip installs "
		"(default\n"
		"                           $TASKBOX_PIP_INDEX_URL or "
		"https://pypi.org/simple)\n"
		"  --llm-url URL            make the LLM provider 'default' "
		"(openai-compatible)\n"
		"                           at this URL, http(s)://HOST[:PORT]"
		"[/PATH]\n"
		"                           ($TASKBOX_LLM_URL; taskbox "
		"provider set for others)\n"
		"  --llm-key-file FILE      its key, which the gateway adds "
		"(kept out of\n"
		"                           workspaces)\n"
		"  --secrets-key-file FILE  key of the stored secrets (default "
		"DATA/secrets.key,\n"
		"                           created 0600 at first start)\n"
		"  --default-template NAME  template of tasks that name none "
		"(claude-code)\n"
		"  --task-uid-base UID      as root, tasks run as UID + n "
		"(default 200000)\n"
		"  --on-exit keep|pause     on SIGTERM/SIGINT leave the "
		"workspaces running\n"
		"                           for the next start to re-attach "
		"(keep, default)\n"
		"                           or stop them and pause their "
		"tasks (pause)\n"
		"  --new-admin-token        print a new token for the admin "
		"user\n"
		"  --session-lifetime TIME  how long a browser session made "
		"from a password\n"
		"                           lasts: N[s|m|h|d], 1m to 365d "
		"(default 7d)\n"
		"  --max-memory SIZE        per task: memory ceiling (4GiB)\n"
		"  --max-pids N             per task: process ceiling (4096)\n"
		"  --max-cpus N             per task: cpu ceiling in cores, "
		"0 none (2)\n"
		"  --max-disk SIZE          per task: disk image size ceiling, "
		"0 none (10GiB)\n"
		"  --max-running-per-user N tasks a user has starting or "
		"running (10)\n"
		"  --max-tasks N            tasks on the server, any status "
		"(200)\n"
		"  --max-fds N              open files the server may hold "
		"(default: the hard\n"
		"                           limit); the API, the server and "
		"the tasks' egress\n"
		"                           get fixed shares of it\n"
		"  --max-conns-per-client N API connections from one address "
		"or IPv6 /64\n"
		"                           (default 64; 0: no limit, e.g. "
		"behind a proxy)\n"
		"  --header-timeout SECONDS time a client has to send a "
		"request head\n"
		"                           (default 10)\n"
		"  --log-level LEVEL        error, warn, info (default), "
		"debug\n"
		"  --metrics-public         serve GET /metrics without a "
		"token (default: admins\n"
		"                           only)\n"
		"  --replica NAME           this server's name among replicas "
		"on one PostgreSQL\n"
		"                           (default: made once, kept in "
		"DATA/replica-id)\n"
		"  --advertise URL          http://HOST:PORT the other "
		"replicas reach this one at\n"
		"                           (default: the --listen address "
		"unless a wildcard)\n"
		"  --heartbeat-interval S   seconds between a replica's "
		"heartbeats (2)\n"
		"  --heartbeat-timeout S    a replica silent this long has "
		"its tasks unknown (10)\n");
}

/* The maxima as given by the --max-* flags, with their defaults. */
static struct template_max server_max = {
	.memory_bytes = 4LL << 30,
	.pids = 4096,
	.cpu_millicores = 2000,
	.disk_bytes = 10LL << 30,
};
static long server_max_running = 10, server_max_tasks = 200;

/* One --max-* flag a with value v: 1 taken, 0 not such a flag, -1 bad
 * value (said on stderr). Only the admin who starts the server sets
 * these: no API raises them. */
static int
server_max_flag(const char *a, const char *v)
{
	int64_t n;
	long l;

	if (strcmp(a, "--max-memory") == 0) {
		if (template_parse_memory(v, &n) < 0 || n < (16LL << 20))
			goto bad;
		server_max.memory_bytes = n;
	} else if (strcmp(a, "--max-disk") == 0) {
		if (template_parse_memory(v, &n) < 0 ||
		    (n != 0 && n < (16LL << 20)))
			goto bad;
		server_max.disk_bytes = n;
	} else if (strcmp(a, "--max-cpus") == 0) {
		if (template_parse_cpu(v, &n) < 0 || (n != 0 && n < 10))
			goto bad;
		server_max.cpu_millicores = n;
	} else if (strcmp(a, "--max-pids") == 0) {
		if (parse_long(v, 16, 1000000, &l) < 0)
			goto bad;
		server_max.pids = l;
	} else if (strcmp(a, "--max-running-per-user") == 0) {
		if (parse_long(v, 1, 100000, &l) < 0)
			goto bad;
		server_max_running = l;
	} else if (strcmp(a, "--max-tasks") == 0) {
		if (parse_long(v, 1, 1000000, &l) < 0)
			goto bad;
		server_max_tasks = l;
	} else {
		return 0;
	}
	return 1;
bad:
	fprintf(stderr,
		"taskbox server: invalid %s '%s' (sizes: 16MiB or more, e.g. "
		"4GiB; cpus: 0.01 or more; disk and cpus: 0 for none; counts: "
		"1 or more)\n",
		a, v);
	return -1;
}

/* The flags of `taskbox server`: one table, one case each below. */
enum server_opt {
	SERVER_OPT_LISTEN = 256,
	SERVER_OPT_DATA,
	SERVER_OPT_TOOLS,
	SERVER_OPT_STORE,
	SERVER_OPT_PIP_INDEX,
	SERVER_OPT_LLM_URL,
	SERVER_OPT_LLM_KEY,
	SERVER_OPT_SECRETS_KEY,
	SERVER_OPT_DEFAULT_TEMPLATE,
	SERVER_OPT_UID_BASE,
	SERVER_OPT_ON_EXIT,
	SERVER_OPT_NEW_ADMIN_TOKEN,
	SERVER_OPT_METRICS_PUBLIC,
	SERVER_OPT_MAX,	  /* --max-memory, -disk, -cpus, -pids, ... */
	SERVER_OPT_LIMIT, /* --max-fds, --max-conns-per-client, ... */
	SERVER_OPT_LOG_LEVEL,
	SERVER_OPT_REPLICA,
	SERVER_OPT_ADVERTISE,
	SERVER_OPT_HEARTBEAT, /* --heartbeat-interval, --heartbeat-timeout */
	SERVER_OPT_SESSION_LIFETIME,
};

static const struct option server_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"listen", required_argument, NULL, SERVER_OPT_LISTEN},
	{"data", required_argument, NULL, SERVER_OPT_DATA},
	{"tools", required_argument, NULL, SERVER_OPT_TOOLS},
	{"store", required_argument, NULL, SERVER_OPT_STORE},
	{"pip-index-url", required_argument, NULL, SERVER_OPT_PIP_INDEX},
	{"llm-url", required_argument, NULL, SERVER_OPT_LLM_URL},
	{"llm-key-file", required_argument, NULL, SERVER_OPT_LLM_KEY},
	{"secrets-key-file", required_argument, NULL, SERVER_OPT_SECRETS_KEY},
	{"default-template", required_argument, NULL,
	 SERVER_OPT_DEFAULT_TEMPLATE},
	{"task-uid-base", required_argument, NULL, SERVER_OPT_UID_BASE},
	{"on-exit", required_argument, NULL, SERVER_OPT_ON_EXIT},
	{"new-admin-token", no_argument, NULL, SERVER_OPT_NEW_ADMIN_TOKEN},
	{"metrics-public", no_argument, NULL, SERVER_OPT_METRICS_PUBLIC},
	{"max-memory", required_argument, NULL, SERVER_OPT_MAX},
	{"max-disk", required_argument, NULL, SERVER_OPT_MAX},
	{"max-cpus", required_argument, NULL, SERVER_OPT_MAX},
	{"max-pids", required_argument, NULL, SERVER_OPT_MAX},
	{"max-running-per-user", required_argument, NULL, SERVER_OPT_MAX},
	{"max-tasks", required_argument, NULL, SERVER_OPT_MAX},
	{"max-fds", required_argument, NULL, SERVER_OPT_LIMIT},
	{"max-conns-per-client", required_argument, NULL, SERVER_OPT_LIMIT},
	{"header-timeout", required_argument, NULL, SERVER_OPT_LIMIT},
	{"log-level", required_argument, NULL, SERVER_OPT_LOG_LEVEL},
	{"replica", required_argument, NULL, SERVER_OPT_REPLICA},
	{"advertise", required_argument, NULL, SERVER_OPT_ADVERTISE},
	{"heartbeat-interval", required_argument, NULL, SERVER_OPT_HEARTBEAT},
	{"heartbeat-timeout", required_argument, NULL, SERVER_OPT_HEARTBEAT},
	{"session-lifetime", required_argument, NULL,
	 SERVER_OPT_SESSION_LIFETIME},
	{NULL, 0, NULL, 0},
};

/* Ready-made disk images of the --max-disk size kept for new tasks. */
#define SERVER_DISK_POOL 1

/* Can per-task disk images be used? Else say at start that disk limits
 * are not enforced (and keep why for the tasks' JSON). */
static void
server_disk_check(void)
{
	char *why = NULL, *pool;
	char size[32];

	if (srv->max.disk_bytes <= 0) {
		/* a template's own disk limit is then not enforced either */
		srv->disk_off = xstrdup("the server runs with --max-disk 0 "
					"(no disk images)");
		log_info("no disk limit (--max-disk 0): workspaces write to "
			 "the data directory's filesystem");
		return;
	}
	if (disk_probe(&why) < 0) {
		srv->disk_off = why;
		log_warn("disk limit not enforced: %s", why);
		return;
	}
	pool = xasprintf("%s/pool", srv->disks_dir);
	disk_pool_init(srv->loop, pool, srv->max.disk_bytes, SERVER_DISK_POOL);
	free(pool);
	template_format_size(srv->max.disk_bytes, size, sizeof size);
	log_info("disk limit: an ext4 image per task under '%s' (at most %s)",
		 srv->disks_dir, size);
}

/* Split HOST:PORT; 0 or -EINVAL. */
static int
server_parse_listen(const char *s, char **host, int *port)
{
	const char *colon = strrchr(s, ':');
	long p;

	if (colon == NULL || colon == s ||
	    parse_long(colon + 1, 0, 65535, &p) < 0)
		return -EINVAL;
	*host = xstrndup(s, (size_t)(colon - s));
	*port = (int)p;
	return 0;
}

/* Copy this binary to DATA/bin/taskbox (atomically); 0 or -errno. */
static int
server_install_self(const char *data_dir, char **out, char **cause)
{
	char *dir = xasprintf("%s/bin", data_dir);
	char *tmp = xasprintf("%s/taskbox.%d", dir, (int)getpid());
	char *dst = xasprintf("%s/taskbox", dir);
	char buf[65536];
	int in = -1, fd = -1, r = 0;
	ssize_t n;

	/* 0711: the sandboxes (task uids) reach the binary, nobody lists */
	if (mkdir(dir, 0711) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	chmod(dir, 0711);
	in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (in < 0 || fd < 0) {
		r = -errno;
		goto out;
	}
	while ((n = read(in, buf, sizeof buf)) > 0) {
		if (write_all(fd, buf, (size_t)n) < 0) {
			r = -errno;
			goto out;
		}
	}
	if (n < 0 || fchmod(fd, 0755) < 0 || rename(tmp, dst) < 0)
		r = -errno;
out:
	if (in >= 0)
		close(in);
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		*cause = xasprintf("cannot copy the taskbox binary into '%s': "
				   "%s",
				   dir, strerror(-r));
		unlink(tmp);
		free(dst);
	} else {
		*out = dst;
	}
	free(tmp);
	free(dir);
	return r;
}

/* Make dir (and parents) with mode; 0 or -errno. */
static int
server_mkdirs(const char *dir, mode_t mode)
{
	char *p = xstrdup(dir);
	int r = 0;

	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			r = -errno;
		*s = '/';
	}
	if (r == 0 && mkdir(p, mode) < 0 && errno != EEXIST)
		r = -errno;
	if (r == 0 && chmod(p, mode) < 0)
		r = -errno;
	free(p);
	return r;
}

/* The size of path, -1 if it does not exist (or is not reachable). */
static off_t
server_file_size(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? st.st_size : -1;
}

/*
 * Before a request's body is read: a request that carries one must carry
 * valid credentials too, or it is answered 401 at once. An anonymous
 * client cannot hold connections by trickling bodies (the head deadline
 * ends when the head is in). The handler checks again, with the body.
 */
static bool
server_guard(struct http_req *req, void *data UNUSED)
{
	const char *m = http_req_method(req);
	json_t *user;
	bool ok;

	/* a forged replica signature never reaches a handler */
	if (!replica_check_request(req))
		return false;
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
	    strcmp(m, "OPTIONS") == 0)
		return true;
	/* signing in is how a caller gets credentials */
	if (strcmp(m, "POST") == 0 &&
	    strcmp(http_req_path(req), "/api/v2/users/login") == 0)
		return true;
	/* a template app's own request carries a capability instead */
	if (proxy_cap_guard(req, &ok))
		return ok;
	user = auth_user(req); /* NULL: it answered why */
	ok = user != NULL;
	json_decref(user);
	return ok;
}

/* The entries of dir whose name ends in suffix ("": all but . and ..). */
static int
server_count_entries(const char *dir, const char *suffix)
{
	size_t sn = strlen(suffix);
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0 && len > sn &&
		    strcmp(e->d_name + len - sn, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/*
 * Refuse a data directory with task directories or disk images while its
 * database is missing or empty (and no WAL file holds its content):
 * starting would be a first install that makes a new admin and orphans
 * the workspaces.
 * Runs before anything is written. 0, or -EEXIST with *cause.
 */
static int
server_check_orphans(const char *data_dir, const char *tasks_dir, char **cause)
{
	char *db = xasprintf("%s/taskbox.db", data_dir);
	char *wal = xasprintf("%s/taskbox.db-wal", data_dir);
	char *disks = xasprintf("%s/disks", data_dir);
	off_t db_size = server_file_size(db), wal_size = server_file_size(wal);
	int tasks = 0;

	/* task directories, and the disk images of tasks (which outlive a
	 * tasks/ moved away) */
	if (db_size <= 0 && wal_size <= 0)
		tasks = server_count_entries(tasks_dir, "") +
			server_count_entries(disks, ".img");
	if (tasks > 0)
		*cause = xasprintf(
			"the data directory '%s' holds %d task director%s or "
			"disk image%s in '%s' and '%s' but its database '%s' "
			"is %s: starting would make a new admin and orphan "
			"those workspaces. Restore taskbox.db (and "
			"taskbox.db-wal) from a backup, or move them away to "
			"start afresh",
			data_dir, tasks, tasks == 1 ? "y" : "ies",
			tasks == 1 ? "" : "s", tasks_dir, disks, db,
			db_size < 0 ? "missing" : "empty");
	free(db);
	free(wal);
	free(disks);
	return tasks > 0 ? -EEXIST : 0;
}

/*
 * How to run this binary's CLI, for the first start's hints (new string):
 * "taskbox" when the one on PATH is this very file (the README's first
 * command installs it in /usr/local/bin), else this binary's full path.
 */
static char *
server_cli_command(void)
{
	const char *path = getenv("PATH");
	char *self = realpath("/proc/self/exe", NULL);
	struct stat me, st;
	char *dirs, *dir, *save = NULL, *cand;
	bool found = false;

	if (self == NULL || stat(self, &me) < 0) {
		free(self);
		return xstrdup("taskbox");
	}
	dirs = xstrdup(path != NULL ? path : "");
	for (dir = strtok_r(dirs, ":", &save); dir != NULL && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		cand = xasprintf("%s/taskbox", dir);
		/* the first taskbox on PATH is the one a shell runs */
		if (stat(cand, &st) == 0) {
			found = true;
			if (st.st_dev == me.st_dev && st.st_ino == me.st_ino) {
				free(cand);
				free(dirs);
				free(self);
				return xstrdup("taskbox");
			}
		}
		free(cand);
	}
	free(dirs);
	return self;
}

/* A duration "N[s|m|h|d]" from 1 minute to 365 days into *ms; 0 or
 * -EINVAL. */
static int
server_parse_lifetime(const char *v, int64_t *ms)
{
	char *end;
	long long n;
	int64_t unit = 1000;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || n <= 0 || n > 365LL * 86400)
		return -EINVAL;
	if (*end == 'm')
		unit = 60000;
	else if (*end == 'h')
		unit = 3600000;
	else if (*end == 'd')
		unit = 86400000;
	else if (*end != 's' && *end != '\0')
		return -EINVAL;
	if (*end != '\0' && end[1] != '\0')
		return -EINVAL;
	if (n * unit < 60000 || n * unit > 365LL * 86400000)
		return -EINVAL;
	*ms = n * unit;
	return 0;
}

/* First start: create the admin and print its token once (again, with a
 * new token, when asked to), and on the very first start a one-time
 * password (hashed here: the loop serves nobody yet). */
static int
server_first_admin(const char *url, bool new_token)
{
	int64_t users = store_users_count(srv->store);
	json_t *row;
	char id[37];
	char *token, *cli, *password = NULL, *hash = NULL, *pwline = NULL;

	if (users < 0)
		return -EIO;
	if (users > 0) {
		row = store_user_first_admin(srv->store);
		if (!new_token || row == NULL) {
			if (!new_token)
				printf("taskbox: lost the admin token? restart "
				       "with --new-admin-token\n");
			json_decref(row);
			return 0;
		}
		snprintf(id, sizeof id, "%s",
			 json_string_value(json_object_get(row, "id")));
		json_decref(row);
	} else {
		store_uuid(id);
		if (store_user_insert(srv->store, id, "admin", "admin",
				      (int64_t)wall_ms()) < 0)
			return -EIO;
		password = password_random();
		if ((hash = password_hash_now(password)) == NULL ||
		    store_user_set_password(srv->store, id, hash) < 0) {
			free(hash);
			free(password);
			return -EIO;
		}
		free(hash);
	}
	token = auth_token_create(
		id, new_token ? "new admin token" : "first start", 0, NULL);
	if (token == NULL) {
		free(password);
		return -EIO;
	}
	cli = server_cli_command();
	if (password != NULL) {
		pwline = xasprintf("login password of 'admin' (shown once; "
				   "change it with '%s user set-password'): "
				   "%s\n",
				   cli, password);
		sodium_memzero(password, strlen(password));
		free(password);
	}
	printf("taskbox: %s\n"
	       "login token (shown once): %s\n"
	       "%s"
	       "\n"
	       "  the web app: %s (sign in as 'admin')\n"
	       "  %s login %s --token %s\n"
	       "  %s task create --template shell 'echo hello from "
	       "taskbox'\n"
	       "  %s task list\n"
	       "\n",
	       new_token ? "a new token for the admin user"
			 : "first start: created the admin user 'admin'.",
	       token, pwline ? pwline : "", url, cli, url, token, cli, cli);
	fflush(stdout);
	if (pwline != NULL) {
		sodium_memzero(pwline, strlen(pwline));
		free(pwline);
	}
	free(token);
	free(cli);
	return 0;
}

static int
server_prepare(void *data UNUSED)
{
	task_events_flush(); /* this turn's task changes, one event each */
	return http_server_prepare(srv->http);
}

static struct ev_timer server_stop_check;
static uint64_t server_stop_deadline;
static bool server_pause_on_exit;

/* Shutting down with --on-exit pause: wait until the workspaces stopped. */
static void
server_on_stop_check(void *data UNUSED)
{
	if (task_shutdown_all() == 0 || now_ms() > server_stop_deadline) {
		ev_loop_stop(srv->loop, 0);
		return;
	}
	ev_timer_start(srv->loop, &server_stop_check, now_ms() + 20);
}

static void
server_on_signal(int signo, void *data UNUSED)
{
	log_info("signal %d: stopping", signo);
	if (srv->stopping || !server_pause_on_exit) {
		/* workspaces keep running: the next start re-attaches */
		ev_loop_stop(srv->loop, 0);
		return;
	}
	srv->stopping = true;
	server_stop_deadline = now_ms() + 8000;
	server_on_stop_check(NULL);
}

/*
 * Read a one-line key file, trailing blanks dropped (new string), or NULL
 * with *cause: a blank or cut line is an error, never a provider stored
 * without its key or with part of it.
 */
static char *
server_read_key(const char *path, char **cause)
{
	FILE *f = fopen(path, "re");
	char line[PROVIDER_KEY_MAX + 2];
	char *key = NULL, *why = NULL;
	size_t n;

	if (f == NULL) {
		*cause = xasprintf("cannot read '%s': %s", path,
				   strerror(errno));
		return NULL;
	}
	setvbuf(f, NULL, _IONBF, 0); /* no copy of the key in stdio */
	if (fgets(line, sizeof line, f) == NULL)
		line[0] = '\0';
	n = strlen(line);
	if (n == sizeof line - 1 && line[n - 1] != '\n')
		why = xasprintf("'%s' is longer than %d bytes", path,
				PROVIDER_KEY_MAX);
	fclose(f);
	while (n > 0 && strchr(" \t\r\n", line[n - 1]) != NULL)
		line[--n] = '\0';
	if (why == NULL && n == 0)
		why = xasprintf("'%s' is empty", path);
	if (why == NULL)
		key = xstrdup(line);
	else
		*cause = why;
	explicit_bzero(line, sizeof line);
	return key;
}

/*
 * Upsert the provider 'default' (openai-compatible) at url with
 * srv->llm_key (--llm-url, --llm-key-file): what every template without
 * agent.provider uses. 0, or -errno with a new *cause.
 */
static int
server_default_provider(const char *url, char **cause)
{
	json_t *spec =
		json_pack("{s:s, s:s, s:s?}", "type", "openai-compatible",
			  "url", url, "key", srv->llm_key);
	const char *field = NULL;
	char *why = NULL;
	int r = provider_save(PROVIDER_DEFAULT, spec, &field, &why);

	if (r < 0) {
		*cause = xasprintf("--llm-url%s: %s",
				   field && strcmp(field, "key") == 0
					   ? " (--llm-key-file)"
					   : "",
				   why ? why : "cannot store the provider");
		free(why);
	}
	json_decref(spec);
	return r;
}

/*
 * The tools dir as an absolute path (*out, new) with the dirs above it
 * that exist resolved. A workspace sees its agent's install dir
 * (TOOLS/DIR[/VERSION]) read-only at the same path, so the tools dir
 * must not be a dir the sandbox masks as a whole (/tmp, /home, /root,
 * /run: TOOLS/DIR would be a user's home), the root, hold the data dir or
 * be inside it: binding an install dir would show them.
 */
static int
server_tools_dir(const char *tools, const char *data_dir, char **out,
		 char **cause)
{
	static const char *const masked[] = {"/", "/tmp", "/home", "/root",
					     "/run"};
	char *abs, *real;
	size_t n;

	if (tools[0] == '/') {
		abs = xstrdup(tools);
	} else {
		char *cwd = getcwd(NULL, 0);

		if (cwd == NULL)
			fatal("getcwd: %s", strerror(errno));
		abs = xasprintf("%s/%s", cwd, tools);
		free(cwd);
	}
	if ((real = realpath(abs, NULL)) != NULL) {
		free(abs);
		abs = real;
	}
	n = strlen(abs);
	while (n > 1 && abs[n - 1] == '/')
		abs[--n] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(masked); i++)
		if (strcmp(abs, masked[i]) == 0) {
			*cause = xasprintf("--tools '%s': workspaces see the "
					   "tools dir read-only, so it must be "
					   "a dir of its own, not %s",
					   tools, masked[i]);
			free(abs);
			return -1;
		}
	if (strncmp(data_dir, abs, n) == 0 &&
	    (data_dir[n] == '/' || data_dir[n] == '\0')) {
		*cause =
			xasprintf("--tools '%s' holds the data directory '%s': "
				  "workspaces see the tools dir read-only, so "
				  "use a dir of its own",
				  tools, data_dir);
		free(abs);
		return -1;
	}
	n = strlen(data_dir);
	if (strncmp(abs, data_dir, n) == 0 && abs[n] == '/') {
		*cause = xasprintf("--tools '%s' is inside the data directory "
				   "'%s', which workspaces must not see: use "
				   "a dir of its own",
				   tools, data_dir);
		free(abs);
		return -1;
	}
	*out = abs;
	return 0;
}

int
server_main(int argc, char **argv)
{
	const char *listen = "127.0.0.1:7080", *data = getenv("TASKBOX_DATA");
	const char *tools = getenv("TASKBOX_TOOLS");
	const char *pip_index = getenv("TASKBOX_PIP_INDEX_URL");
	const char *llm_url = getenv("TASKBOX_LLM_URL"), *key_file = NULL;
	const char *secrets_key = NULL, *store = NULL;
	char *secrets_path = NULL;
	char *host = NULL, *cause = NULL, *db = NULL, *url = NULL;
	char *probe;
	long uid_base = 200000, max_fds = 0;
	bool per_client_set = false;
	struct http_limits limits = {.max_per_client = 64,
				     .head_timeout_ms = 10000};
	struct fdlimit_split split;
	bool new_admin_token = false, metrics_public = false;
	int64_t session_lifetime_ms = 7 * 86400000LL;
	int port, r = 1, o, idx = 0;
	struct replica_opts replica_opts = {.heartbeat_ms = 2000,
					    .timeout_ms = 10000};
	const char *replica_flags = NULL; /* the last replica flag given */

	opterr = 0;
	optind = 1;
	while ((o = getopt_long(argc, argv, ":h", server_opts, &idx)) != -1) {
		const char *v = optarg;
		char a[64]; /* the flag as written, without "=VALUE" */

		if (o == '?' || o == ':') {
			/* argv[optind - 1]: the flag getopt stopped at */
			const char *bad = argv[optind - 1];

			if (o == ':')
				fprintf(stderr,
					"taskbox server: '%s' needs a value\n",
					bad);
			else
				fprintf(stderr,
					"taskbox server: unknown option "
					"'%s'\n",
					bad);
			server_usage(stderr);
			return 2;
		}
		snprintf(a, sizeof a, "--%s",
			 o == 'h' ? "help" : server_opts[idx].name);
		switch (o) {
		case 'h':
			server_usage(stdout);
			return 0;
		case SERVER_OPT_LISTEN:
			listen = v;
			break;
		case SERVER_OPT_DATA:
			data = v;
			break;
		case SERVER_OPT_TOOLS:
			tools = v;
			break;
		case SERVER_OPT_STORE:
			store = v;
			break;
		case SERVER_OPT_PIP_INDEX:
			pip_index = v;
			break;
		case SERVER_OPT_LLM_URL:
			llm_url = v;
			break;
		case SERVER_OPT_LLM_KEY:
			key_file = v;
			break;
		case SERVER_OPT_SECRETS_KEY:
			secrets_key = v;
			break;
		case SERVER_OPT_DEFAULT_TEMPLATE:
			server_default_tmpl = v;
			break;
		case SERVER_OPT_UID_BASE:
			if (parse_long(v, 1000, 4000000000L, &uid_base) < 0) {
				fprintf(stderr, "taskbox server: "
						"--task-uid-base must be "
						"1000..4000000000\n");
				return 2;
			}
			break;
		case SERVER_OPT_ON_EXIT:
			if (strcmp(v, "pause") != 0 && strcmp(v, "keep") != 0) {
				fprintf(stderr,
					"taskbox server: --on-exit must "
					"be keep or pause\n");
				return 2;
			}
			server_pause_on_exit = strcmp(v, "pause") == 0;
			break;
		case SERVER_OPT_NEW_ADMIN_TOKEN:
			new_admin_token = true;
			break;
		case SERVER_OPT_METRICS_PUBLIC:
			metrics_public = true;
			break;
		case SERVER_OPT_MAX:
			if (server_max_flag(a, v) < 0)
				return 2;
			break;
		case SERVER_OPT_LIMIT: {
			/* abuse limits (docs/ARCHITECTURE.md, Limits) */
			bool fds = strcmp(a, "--max-fds") == 0;
			bool per = strcmp(a, "--max-conns-per-client") == 0;
			long lo = fds ? 100 : per ? 0 : 1;
			long hi = fds ? 1 << 24 : per ? 100000 : 3600;
			long n;

			if (parse_long(v, lo, hi, &n) < 0) {
				fprintf(stderr,
					"taskbox server: %s must be "
					"%ld..%ld\n",
					a, lo, hi);
				return 2;
			}
			if (fds) {
				max_fds = n;
			} else if (per) {
				limits.max_per_client = (unsigned)n;
				per_client_set = true;
			} else {
				limits.head_timeout_ms = (unsigned)n * 1000;
			}
			break;
		}
		case SERVER_OPT_LOG_LEVEL: {
			enum log_level lvl;

			if (log_parse_level(v, &lvl) < 0) {
				fprintf(stderr,
					"taskbox server: unknown log "
					"level '%s'\n",
					v);
				return 2;
			}
			log_set_level(lvl);
			break;
		}
		case SERVER_OPT_REPLICA:
			replica_opts.name = v;
			replica_flags = "--replica";
			break;
		case SERVER_OPT_ADVERTISE:
			replica_opts.advertise = v;
			replica_flags = "--advertise";
			break;
		case SERVER_OPT_SESSION_LIFETIME:
			if (server_parse_lifetime(v, &session_lifetime_ms) <
			    0) {
				fprintf(stderr,
					"taskbox server: --session-lifetime "
					"wants N[s|m|h|d] from 1m to 365d, "
					"not '%s'\n",
					v);
				return 2;
			}
			break;
		case SERVER_OPT_HEARTBEAT: {
			bool interval = strcmp(a, "--heartbeat-interval") == 0;

			if (replica_parse_seconds(
				    v, interval ? &replica_opts.heartbeat_ms
						: &replica_opts.timeout_ms) <
			    0) {
				fprintf(stderr,
					"taskbox server: %s wants seconds, "
					"0.1..3600\n",
					a);
				return 2;
			}
			replica_flags = interval ? "--heartbeat-interval"
						 : "--heartbeat-timeout";
			break;
		}
		default:
			BUG();
		}
	}
	if (replica_flags != NULL &&
	    (store == NULL || !store_spec_is_postgres(store))) {
		fprintf(stderr,
			"taskbox server: %s: replicas share a PostgreSQL "
			"database (--store postgresql://...); with SQLite "
			"there is one server\n",
			replica_flags);
		return 2;
	}
	if (replica_opts.timeout_ms <= replica_opts.heartbeat_ms) {
		fprintf(stderr, "taskbox server: --heartbeat-timeout must be "
				"longer than --heartbeat-interval\n");
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "taskbox server: unexpected argument '%s'\n",
			argv[optind]);
		server_usage(stderr);
		return 2;
	}
	if (server_parse_listen(listen, &host, &port) < 0) {
		fprintf(stderr,
			"taskbox server: --listen wants HOST:PORT, "
			"not '%s'\n",
			listen);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	srv = xcalloc(1, sizeof *srv);
	if (fdlimit_init(max_fds, &cause) < 0)
		goto fail;
	fdlimit_split(fdlimit_get(), &split);
	limits.max_conns = split.http_conns;
	/* the default leaves room for at least 8 clients at their limit */
	if (!per_client_set && limits.max_per_client > limits.max_conns / 8)
		limits.max_per_client = MAX(4u, limits.max_conns / 8);
	srv->task_fds = split.task_fds;
	srv->head_timeout_ms = limits.head_timeout_ms;
	srv->root = geteuid() == 0;
	srv->task_uid_base = (uid_t)uid_base;
	srv->backend = ws_backend_find("local");
	if (data == NULL) {
		const char *home = getenv("HOME");

		data = srv->root || home == NULL ? "/var/lib/taskbox" : NULL;
		srv->data_dir =
			data ? xstrdup(data)
			     : xasprintf("%s/.local/share/taskbox", home);
	} else {
		char *abs = realpath(data, NULL);

		srv->data_dir = abs ? abs : xstrdup(data);
	}
	if (srv->data_dir[0] != '/') {
		fprintf(stderr, "taskbox server: --data must be an absolute "
				"path\n");
		goto out;
	}
	srv->tasks_dir = xasprintf("%s/tasks", srv->data_dir);
	srv->max = server_max;
	srv->max_running_per_user = server_max_running;
	srv->max_tasks = server_max_tasks;
	srv->metrics_public = metrics_public;
	srv->session_lifetime_ms = session_lifetime_ms;
	if (server_tools_dir(tools ? tools : "/var/cache/taskbox/tools",
			     srv->data_dir, &srv->tools_dir, &cause) < 0 ||
	    install_tools_check(srv->tools_dir, &cause) < 0)
		goto fail;
	if (install_index_check(pip_index ?: "https://pypi.org/simple",
				&cause) < 0)
		goto fail;
	srv->pip_index_url = xstrdup(pip_index ?: "https://pypi.org/simple");
	srv->llm_url = llm_url ? xstrdup(llm_url) : NULL;
	if (key_file != NULL &&
	    (srv->llm_key = server_read_key(key_file, &cause)) == NULL)
		goto fail;
	srv->disks_dir = xasprintf("%s/disks", srv->data_dir);
	/* the check reads DATA/taskbox.db: the SQLite default only */
	if (store == NULL &&
	    server_check_orphans(srv->data_dir, srv->tasks_dir, &cause) < 0)
		goto fail;
	if (server_mkdirs(srv->data_dir, 0711) < 0 ||
	    server_mkdirs(srv->tasks_dir, 0711) < 0 ||
	    server_mkdirs(srv->disks_dir, 0700) < 0) {
		cause = xasprintf("cannot create the data directory '%s': %s",
				  srv->data_dir, strerror(errno));
		goto fail;
	}
	if (server_install_self(srv->data_dir, &srv->exe, &cause) < 0)
		goto fail;
	db = store ? xstrdup(store) : xasprintf("%s/taskbox.db", srv->data_dir);
	if (store_open(db, &srv->store, &cause) < 0)
		goto fail;
	secrets_path = secrets_key ? xstrdup(secrets_key)
				   : xasprintf("%s/secrets.key", srv->data_dir);
	if (secrets_init(srv->store, secrets_path, &cause) < 0)
		goto fail;
	if (!srv->root && !str_starts_with(secrets_path, srv->data_dir))
		log_warn("the secrets key '%s' is outside the data directory: "
			 "workspaces run as this user and may read it",
			 secrets_path);
	if (catalog_import_builtins(&cause) < 0)
		goto fail;
	srv->loop = ev_loop_new();
	if (provider_cache_start(srv->store, srv->loop, &cause) < 0 ||
	    (llm_url != NULL && server_default_provider(llm_url, &cause) < 0))
		goto fail;
	srv->http = http_server_new(srv->loop);
	http_server_set_limits(srv->http, &limits);
	/* Coder's API: a body that is not JSON is a 400 */
	http_server_set_bad_json_status(srv->http, 400);
	http_server_set_guard(srv->http, server_guard, NULL);
	api_users_register(srv->http);
	api_secrets_register(srv->http);
	api_providers_register(srv->http);
	api_templates_register(srv->http);
	api_presets_register();
	api_tasks_register(srv->http);
	api_coder_register(srv->http);
	api_usage_register(srv->http);
	api_extauth_register(srv->http);
	proxy_register(srv->http);
	web_register(srv->http);
	metrics_register(srv->http, srv->store);
	if (http_server_listen(srv->http, host, port, NULL, &cause) < 0)
		goto fail;
	url = xasprintf("http://%s:%d", host, http_server_port(srv->http));
	srv->url = xstrdup(url);
	if (server_first_admin(url, new_admin_token) < 0) {
		cause = xstrdup("cannot create the admin user");
		goto fail;
	}
	server_disk_check();
	if (store_spec_is_postgres(db) &&
	    replica_start(db, &replica_opts, url, &cause) < 0)
		goto fail;
	if (api_usage_start(&cause) < 0)
		goto fail;
	task_recover_all();
	extauth_start();
	ev_loop_set_prepare(srv->loop, server_prepare, NULL);
	ev_signal_add(srv->loop, SIGTERM, server_on_signal, NULL);
	ev_signal_add(srv->loop, SIGINT, server_on_signal, NULL);
	probe = srv->backend->probe();
	for (char *nl = strchr(probe, '\n'); nl != NULL; nl = strchr(nl, '\n'))
		*nl = nl[1] ? ';' : '\0';
	log_info("taskbox server %s listening on %s (data %s); %s",
		 TASKBOX_VERSION, url, srv->data_dir, probe);
	log_info("open files: %ld (%u for the server, %u API connections, "
		 "%u for tasks and their egress)",
		 fdlimit_get(), split.reserve, split.http_conns,
		 split.task_fds);
	free(probe);
	printf("taskbox server listening on %s\n", url);
	fflush(stdout);
	ev_timer_init(&server_stop_check, server_on_stop_check, NULL);
	r = ev_loop_run(srv->loop);
	install_kill_all(); /* the next start installs again */
	http_server_drain(srv->http);
	extauth_stop(); /* its requests were answered just now */
	replica_stop();
	gateway_shutdown(); /* what its transfers read is recorded */
	account_stop();	    /* what the gateway gathered since the last tick */
	disk_pool_stop();
	provider_cache_stop();
	goto out;
fail:
	fprintf(stderr, "taskbox server: %s\n", cause ? cause : "failed");
	r = 1;
out:
	free(cause);
	free(host);
	free(db);
	free(url);
	free(secrets_path);
	return r;
}
