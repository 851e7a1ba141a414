/*
 * install.c: agent installs on the server, shared between tasks.
 *
 * Data model: one struct install per install dir being filled (TOOLS/DIR
 * for npm, TOOLS/DIR/VERSION for pip and url), with the ids of the tasks
 * waiting on it; a second task of the same module joins the first's
 * install. Every install and every probe is a struct job: a forked child
 * that does the slow work (downloads, npm, pip, tar) while the loop only
 * watches its pidfd; the child reports a one-line cause on a pipe when it
 * fails. A job that runs too long is killed with its process group.
 *
 * In the child (install_child): a lock file DIR.lock (another server may
 * share the tools dir), a second presence check, the install with the
 * tools' output in DIR.log, and a completion marker. Nothing half done is
 * left behind: a url install is unpacked into a temporary sibling dir and
 * renamed into place once its sha256 matched; a pip virtualenv (which
 * cannot move: its scripts name their interpreter by path) counts only
 * with its marker and is removed when pip fails. So a failed install can
 * simply be tried again by the next task.
 *
 * Only the URLs of the module's install block are fetched (the module
 * came from an admin: catalog.c refuses install blocks from members).
 */
#include "common.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/log.h"
#include "core/proc.h"
#include "core/text.h"
#include "server.h"
#include "server/install-parse.h"
#include "server/install.h"

#define INSTALL_TIMEOUT_MS   (30 * 60 * 1000)
#define PROBE_TIMEOUT_MS     20000
#define PROBE_CURL_TIMEOUT_S 10L
#define PROBE_FAIL_TTL_MS    60000
#define INSTALL_DOWNLOAD_MAX (2LL << 30)
#define INSTALL_UNPACKED_MAX (4LL << 30)
#define INSTALL_CAUSE_MAX    1024
#define INSTALL_TAIL_MAX     300

/* A child process doing one install or probe, watched by the loop. */
struct job {
	pid_t pid;	   /* > 0 once started */
	struct proc *proc; /* while it runs */
	int pipefd;	   /* read end: the child's cause */
	struct ev_timer timer;
	int timeout_ms;
	bool timed_out;
	char *what; /* for messages: the package or URL, redacted */
	void (*on_exit)(struct job *job, int wstatus, const char *cause);
};

/* The work a child does: 0, or 1 after writing a cause on fd. */
typedef int (*job_fn)(const json_t *inst, int fd);

struct install_waiter {
	char *id;
	install_done_cb done;
};

struct install {
	struct job job; /* first: on_exit gets the job */
	char *dir;
	json_t *inst; /* the rendered block */
	struct install_waiter *waiting;
	size_t nwaiting;
	struct install *next;
};

static struct install *installs;

/* The uid installs run as when the server is root: just below the task
 * uids, used by nothing else. */
static uid_t
installer_uid(void)
{
	return srv->task_uid_base - 1;
}

char *
install_redact(const char *url)
{
	CURLU *u = curl_url();
	char *out = NULL, *r;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return xstrdup(strchr(url, '@') ? "(an unparsable URL)" : url);
	}
	r = xstrdup(out);
	curl_free(out);
	curl_url_cleanup(u);
	return r;
}

int
install_index_check(const char *url, char **cause)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *shown = install_redact(url);
	int r = -1;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		*cause = xasprintf("--pip-index-url '%s' is not a URL", shown);
	else if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)
		*cause = xasprintf("--pip-index-url '%s' must be http:// or "
				   "https://",
				   shown);
	else if (strcmp(scheme, "http") == 0 &&
		 strcmp(host, "localhost") != 0 && strcmp(host, "[::1]") != 0 &&
		 !str_starts_with(host, "127."))
		*cause = xasprintf("--pip-index-url '%s': pip ignores an "
				   "http:// index that is not on loopback; "
				   "use https://",
				   shown);
	else
		r = 0;
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	free(shown);
	return r;
}

/* tools (absolute) with its longest existing prefix resolved (new
 * string): a dir still to be made, below a link, is checked where the
 * link leads. */
static char *
tools_resolved(const char *tools)
{
	char *p = xstrdup(tools), *real, *slash, *out;

	while ((real = realpath(p, NULL)) == NULL) {
		if ((slash = strrchr(p, '/')) == NULL || slash == p) {
			free(p);
			return xstrdup(tools);
		}
		*slash = '\0';
	}
	out = xasprintf("%s%s", strcmp(real, "/") == 0 ? "" : real,
			tools + strlen(p));
	free(real);
	free(p);
	return out;
}

int
install_tools_check(const char *tools, char **cause)
{
	char *p = NULL;
	struct stat st;
	int r = 0;

	if (!srv->root) /* installs and workspaces run as the server's uid */
		goto out;
	p = tools_resolved(tools);
	/* each dir that exists from the root down to tools; the install
	 * child makes the rest 0755 */
	for (char *s = p + 1; r == 0; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (stat(p, &st) < 0) {
			*s = c;
			break;
		}
		if (!S_ISDIR(st.st_mode))
			r = -1;
		else if ((st.st_mode & S_IXOTH) == 0)
			r = -2;
		if (r < 0)
			*cause = xasprintf(
				"--tools '%s': '%s' is %s: the installs (uid "
				"%u) and the workspaces (their own uids) could "
				"not reach the tools dir; use a dir that "
				"everybody may enter, e.g. "
				"/var/cache/taskbox/tools",
				tools, p,
				r == -1 ? "not a directory"
					: "closed to other users (mode "
					  "without o+x)",
				(unsigned)installer_uid());
		*s = c;
		if (c == '\0')
			break;
	}
out:
	free(p);
	return r < 0 ? -1 : 0;
}

/* ---- in the child ------------------------------------------------------- */

/* Write the cause (one line) on fd and return 1. */
static PRINTFLIKE(2, 3) int child_fail(int fd, const char *fmt, ...)
{
	char buf[INSTALL_CAUSE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(fd, buf, strnlen(buf, sizeof buf - 1));
	return 1;
}

/* Run argv with its output appended to logfd (-1: ours); its exit
 * status (0 ok; 127 after writing why when it could not run, 128 when
 * killed), or -1 when it could not be waited for. */
static int
child_run(char *const argv[], int logfd)
{
	struct proc_spec spec = {
		.argv = argv, .fd_out = logfd, .fd_err = logfd};
	struct proc *p = NULL;
	char *cause = NULL;
	int wstatus = -1;

	if (proc_spawn(&spec, &p, NULL, &cause) < 0) {
		dprintf(logfd >= 0 ? logfd : 2, "%s\n", cause);
		free(cause);
		return 127;
	}
	if (proc_reap(p, true, &wstatus) != 1)
		wstatus = -1;
	proc_free(p);
	if (wstatus == -1)
		return -1;
	return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128;
}

/* rm -rf path (a child: the tree may be big). */
static void
child_rm_rf(const char *path)
{
	char *argv[] = {"rm", "-rf", "--", (char *)path, NULL};

	(void)child_run(argv, -1);
}

/* mkdir -p path, mode 0755. */
static int
child_mkdirs(const char *path)
{
	char *p = xstrdup(path);
	int r = 0;

	for (char *s = p + 1; r == 0 && *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			r = -1;
		*s = '/';
	}
	if (r == 0 && mkdir(p, 0755) < 0 && errno != EEXIST)
		r = -1;
	free(p);
	return r;
}

/* The last non-empty line of the log at path, control bytes replaced,
 * at most INSTALL_TAIL_MAX bytes, into out[INSTALL_TAIL_MAX + 1]. */
static void
child_log_tail(const char *path, char *out)
{
	char buf[4096];
	ssize_t n = 0;
	off_t size;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	out[0] = '\0';
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > 0 &&
	    lseek(fd, size > (off_t)sizeof buf ? size - (off_t)sizeof buf : 0,
		  SEEK_SET) >= 0)
		n = read(fd, buf, sizeof buf);
	close(fd);
	if (n > 0)
		install_log_tail(buf, (size_t)n, out, INSTALL_TAIL_MAX + 1);
}

/* The marker's text: what was installed into inst's dir (new string). */
static char *
install_marker_text(const json_t *inst)
{
	const char *kind = json_string_value(json_object_get(inst, "kind"));
	char *index, *text;

	if (strcmp(kind, "url") == 0)
		return xasprintf(
			"url %s\nsha256 %s\n",
			json_string_value(json_object_get(inst, "url")),
			json_string_value(json_object_get(inst, "sha256")));
	index = install_redact(srv->pip_index_url);
	text = xasprintf("pip %s==%s\nindex %s\n",
			 json_string_value(json_object_get(inst, "pip")),
			 json_string_value(json_object_get(inst, "version")),
			 index);
	free(index);
	return text;
}

/* The completion marker of dir: its sibling DIR.installed, outside the
 * installed tree (which its installer wrote) (new string). */
static char *
install_marker_path(const char *dir)
{
	return xasprintf("%s.installed", dir);
}

/* Write the marker of dir holding text: a new file (O_EXCL), never
 * through a link. */
static int
child_mark(const char *dir, const char *text)
{
	char *path = install_marker_path(dir);
	int fd =
		open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     0644);
	size_t n = strlen(text);
	int r = 0;

	free(path);
	if (fd < 0)
		return -1;
	if (write(fd, text, n) != (ssize_t)n)
		r = -1;
	if (close(fd) < 0)
		r = -1;
	return r;
}

/* Is path an executable regular file (following links) that the task's
 * uid may run? It is neither the file's owner nor in its group. */
static bool
is_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       (st.st_mode & S_IXOTH) != 0;
}

/* Is bin an executable inside dir, also once its links are followed? */
static bool
bin_inside(const char *dir, const char *bin)
{
	struct stat st;
	char *real, *rdir;
	size_t n;
	bool ok;

	if (lstat(bin, &st) < 0 || !is_executable(bin))
		return false;
	real = realpath(bin, NULL);
	rdir = realpath(dir, NULL);
	n = rdir ? strlen(rdir) : 0;
	ok = real != NULL && rdir != NULL && strncmp(real, rdir, n) == 0 &&
	     real[n] == '/';
	free(real);
	free(rdir);
	return ok;
}

struct download {
	FILE *f;
	crypto_hash_sha256_state sha;
	long long size;
};

static size_t
download_write(char *p, size_t size, size_t n, void *data)
{
	struct download *d = data;

	d->size += (long long)(size * n);
	if (d->size > INSTALL_DOWNLOAD_MAX)
		return 0;
	crypto_hash_sha256_update(&d->sha, (const unsigned char *)p, size * n);
	return fwrite(p, size, n, d->f) * size;
}

/* Common options: http(s) only (redirects too), a bounded time to
 * connect and a minimum speed. */
static void
curl_common(CURL *c, const char *url)
{
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "taskbox-installer");
}

/* Download url to path; its hex sha256 into hex[65]. 0 or 1 (cause). */
static int
child_download(const char *url, const char *path, char *hex, int fd)
{
	struct download d = {0};
	unsigned char sum[crypto_hash_sha256_BYTES];
	char err[CURL_ERROR_SIZE] = "";
	CURL *c;
	CURLcode rc;
	long status = 0;
	int r = 0;

	if ((d.f = fopen(path, "wbx")) == NULL)
		return child_fail(fd, "cannot create '%s': %s", path,
				  strerror(errno));
	crypto_hash_sha256_init(&d.sha);
	if ((c = curl_easy_init()) == NULL)
		fatal("curl_easy_init failed");
	curl_common(c, url);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a server dripping bytes cannot hold the install for long */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, download_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (fclose(d.f) != 0 && rc == CURLE_OK)
		r = child_fail(fd, "cannot write '%s': %s", path,
			       strerror(errno));
	else if (d.size > INSTALL_DOWNLOAD_MAX)
		r = child_fail(fd, "%s is larger than %lld bytes", url,
			       INSTALL_DOWNLOAD_MAX);
	else if (rc != CURLE_OK)
		r = child_fail(fd, "cannot download %s: %s", url,
			       err[0] ? err : curl_easy_strerror(rc));
	else if (status != 200)
		r = child_fail(fd, "cannot download %s: it answered HTTP %ld",
			       url, status);
	if (r != 0)
		return r;
	crypto_hash_sha256_final(&d.sha, sum);
	sodium_bin2hex(hex, 65, sum, sizeof sum);
	return 0;
}

/* The tar option for format. */
static const char *
tar_flag(const char *format)
{
	if (strcmp(format, "tar.bz2") == 0)
		return "-j";
	if (strcmp(format, "tar.xz") == 0)
		return "-J";
	return "-z";
}

/* The total size of the files in the archive at file (tar -tv as the
 * current user), or -1 when tar cannot list it. A listing line longer
 * than the buffer counts once, by its first piece (the size is there). */
static long long
archive_total(const char *file, const char *format)
{
	char *argv[] = {"tar",
			"-t",
			"-v",
			"--numeric-owner", /* no blanks in the owner */
			(char *)tar_flag(format),
			"-f",
			(char *)file,
			NULL};
	char line[8192], *cause = NULL;
	long long total = 0;
	bool start = true; /* line begins a line of the listing */
	struct proc_spec spec = {.argv = argv};
	struct proc *proc = NULL;
	int p[2], wstatus = -1;
	FILE *f;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	spec.fd_out = p[1];
	if (proc_spawn(&spec, &proc, NULL, &cause) < 0) {
		free(cause);
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	while (f != NULL && fgets(line, sizeof line, f) != NULL) {
		size_t n = strlen(line);

		if (start)
			total = install_tar_add(total, line, n);
		start = n > 0 && line[n - 1] == '\n';
	}
	if (f != NULL)
		fclose(f);
	else
		close(p[0]);
	(void)proc_reap(proc, true, &wstatus);
	proc_free(proc);
	return wstatus == 0 ? total : -1;
}

/* Is there room for bytes more in the file system of dir (keeping 5%)? */
static bool
room_for(const char *dir, long long bytes)
{
	struct statvfs v;
	long double avail, need;

	if (statvfs(dir, &v) < 0)
		return true; /* cannot tell: tar will say */
	avail = (long double)v.f_bavail * v.f_frsize;
	need = (long double)bytes + (long double)v.f_blocks * v.f_frsize / 20;
	return avail >= need;
}

/* url, as the installer: download tmp/download, check its sha256, unpack
 * into tmp/root (or place the one executable there). */
static int
worker_url(const json_t *inst, const char *tmp, const char *log, int logfd,
	   int fd)
{
	const char *url = json_string_value(json_object_get(inst, "url"));
	const char *want = json_string_value(json_object_get(inst, "sha256"));
	const char *format = json_string_value(json_object_get(inst, "format"));
	const char *bin = json_string_value(json_object_get(inst, "bin"));
	char *file = xasprintf("%s/download", tmp);
	char *root = xasprintf("%s/root", tmp);
	char *exe = xasprintf("%s/%s", root, bin);
	char hex[65], tail[INSTALL_TAIL_MAX + 1];
	long long total;
	int r = 1;

	if (child_download(url, file, hex, fd) != 0)
		goto out;
	if (strcmp(hex, want) != 0) {
		child_fail(fd,
			   "the sha256 of %s is %s but the module pins %s; "
			   "nothing was installed",
			   url, hex, want);
		goto out;
	}
	if (mkdir(root, 0755) < 0) {
		child_fail(fd, "cannot create '%s': %s", root, strerror(errno));
		goto out;
	}
	if (strcmp(format, "binary") == 0) {
		if (rename(file, exe) < 0 || chmod(exe, 0755) < 0) {
			child_fail(fd, "cannot place '%s': %s", exe,
				   strerror(errno));
			goto out;
		}
		r = 0;
		goto out;
	}
	total = archive_total(file, format);
	if (total > INSTALL_UNPACKED_MAX) {
		child_fail(fd, "%s unpacks to %lld bytes, more than %lld", url,
			   total, INSTALL_UNPACKED_MAX);
		goto out;
	}
	if (total >= 0 && !room_for(tmp, total)) {
		child_fail(fd,
			   "%s unpacks to %lld bytes and the tools dir has "
			   "not that much free space",
			   url, total);
		goto out;
	}
	{
		/* modes from the umask, never the archive's (normalized
		 * again after); no existing dir's mode changed */
		char *argv[] = {"tar",
				"-x",
				(char *)tar_flag(format),
				"--no-same-owner",
				"--no-same-permissions",
				"--no-overwrite-dir",
				"-f",
				file,
				"-C",
				root,
				NULL};

		if (child_run(argv, logfd) != 0) {
			child_log_tail(log, tail);
			child_fail(fd, "cannot unpack %s (%s): %s", url, format,
				   tail);
			goto out;
		}
	}
	r = 0;
out:
	unlink(file);
	free(file);
	free(root);
	free(exe);
	return r;
}

/* The python that makes virtualenvs: the system's (Debian python3 and
 * python3-venv), whose path the sandbox sees too, else PATH's. */
static const char *
child_python(void)
{
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3"
						     : "python3";
}

/* pip, as the installer: a virtualenv at dir, pip install PKG==VERSION. */
static int
worker_pip(const json_t *inst, const char *tmp UNUSED, const char *log,
	   int logfd, int fd)
{
	const char *dir = json_string_value(json_object_get(inst, "dir"));
	const char *pkg = json_string_value(json_object_get(inst, "pip"));
	const char *version =
		json_string_value(json_object_get(inst, "version"));
	char *req = xasprintf("%s==%s", pkg, version);
	char *py = xasprintf("%s/bin/python", dir);
	char *index = install_redact(srv->pip_index_url);
	char tail[INSTALL_TAIL_MAX + 1];
	char *venv[] = {(char *)child_python(), "-m", "venv", (char *)dir,
			NULL};
	char *pip[] = {py,
		       "-m",
		       "pip",
		       "--isolated",
		       "--disable-pip-version-check",
		       "--no-input",
		       "install",
		       "--no-cache-dir",
		       "--index-url",
		       (char *)(srv->pip_index_url),
		       req,
		       NULL};
	int r = 1;

	if (child_run(venv, logfd) != 0) {
		child_log_tail(log, tail);
		child_fail(fd,
			   "cannot make a virtualenv with %s (is python3-venv "
			   "installed?): %s",
			   venv[0], tail);
	} else if (child_run(pip, logfd) != 0) {
		child_log_tail(log, tail);
		child_fail(fd, "pip install %s from %s failed: %s", req, index,
			   tail);
	} else {
		r = 0;
	}
	free(req);
	free(py);
	free(index);
	return r;
}

/* npm, as the installer: npm install PKG@VERSION --prefix dir. */
static int
worker_npm(const json_t *inst, const char *tmp UNUSED, const char *log,
	   int logfd, int fd)
{
	const char *dir = json_string_value(json_object_get(inst, "dir"));
	const char *pkg = json_string_value(json_object_get(inst, "npm"));
	char tail[INSTALL_TAIL_MAX + 1];
	char *argv[] = {"npm",	     "install",		 "--no-audit",
			"--no-fund", "--loglevel=error", "--prefix",
			(char *)dir, (char *)pkg,	 NULL};

	if (child_run(argv, logfd) != 0) {
		child_log_tail(log, tail);
		return child_fail(fd,
				  "npm install %s failed (is the npm registry "
				  "reachable?): %s",
				  pkg, tail);
	}
	return 0;
}

typedef int (*worker_fn)(const json_t *inst, const char *tmp, const char *log,
			 int logfd, int fd);

/* Kill and reap every process left below us: the install child is their
 * subreaper, so none escapes by daemonizing; after this nothing of the
 * installer's can still write into the tree. */
static void
child_reap_all(void)
{
	char path[64], buf[4096];

	snprintf(path, sizeof path, "/proc/self/task/%d/children",
		 (int)getpid());
	for (;;) {
		int f = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = f >= 0 ? read(f, buf, sizeof buf - 1) : -1;

		if (f >= 0)
			close(f);
		buf[n > 0 ? n : 0] = '\0';
		for (char *p = buf, *e; *p != '\0'; p = e) {
			long pid = strtol(p, &e, 10);

			if (e == p)
				break;
			if (pid > 0)
				kill((pid_t)pid, SIGKILL);
		}
		if (waitpid(-1, NULL, 0) < 0 && errno == ECHILD)
			break;
	}
}

/* What the installer process runs (child_worker). */
struct worker {
	worker_fn fn;
	const json_t *inst;
	const char *tmp, *log;
	int logfd, fd;
};

/* In the installer process: drop to the installer's uid and run fn. */
static int
worker_run(void *arg)
{
	const struct worker *w = arg;
	uid_t u = installer_uid();

	if (srv->root && (setgroups(0, NULL) < 0 || setresgid(u, u, u) < 0 ||
			  setresuid(u, u, u) < 0))
		_exit(child_fail(w->fd, "cannot switch to uid %u: %s",
				 (unsigned)u, strerror(errno)));
	_exit(w->fn(w->inst, w->tmp, w->log, w->logfd, w->fd));
}

/* Run fn as the installer: when the server is root, the uid just below
 * the task uids (no other process has it), with no groups; HOME and
 * TMPDIR in tmp. Then nothing of it is left running. 0, or 1 (cause). */
static int
child_worker(worker_fn fn, const json_t *inst, const char *tmp, const char *log,
	     int logfd, int fd)
{
	struct worker w = {fn, inst, tmp, log, logfd, fd};
	char *home = xasprintf("%s/home", tmp), why[64], *cause = NULL;
	char *env[] = {xasprintf("HOME=%s", home), xasprintf("TMPDIR=%s", home),
		       NULL};
	struct proc_spec spec = {
		.env = env, .fn = worker_run, .arg = &w, .flags = PROC_NOWAIT};
	struct proc *p = NULL;
	int wstatus = -1, r = 1;

	mkdir(home, 0700);
	if (srv->root && lchown(home, installer_uid(), installer_uid()) < 0) {
		r = child_fail(fd, "cannot chown '%s': %s", tmp,
			       strerror(errno));
		goto out;
	}
	if (proc_spawn(&spec, &p, NULL, &cause) < 0) {
		r = child_fail(fd, "%s", cause);
		goto out;
	}
	if (proc_reap(p, true, &wstatus) != 1) {
		r = child_fail(fd, "waitid: %s", strerror(errno));
		goto out;
	}
	child_reap_all();
	if (wstatus == 0)
		r = 0;
	else if (WIFSIGNALED(wstatus))
		child_fail(fd, "the installer was %s",
			   proc_status_str(wstatus, why, sizeof why));
out:
	proc_free(p);
	free(cause);
	free(env[0]);
	free(env[1]);
	free(home);
	return r;
}

/* nftw's state for normalize(). */
static int norm_fd;
static bool norm_failed;
static uid_t norm_from;

/* One entry of the installed tree: made by the installer (so no link to
 * a file of someone else's), owned by root when we are root, u+rwX,
 * go+rX, go-w, no setuid, setgid or sticky bit. */
static int
normalize_one(const char *path, const struct stat *st, int flag UNUSED,
	      struct FTW *ftw UNUSED)
{
	mode_t m = st->st_mode & 0777;

	if (srv->root && st->st_uid != norm_from) {
		child_fail(norm_fd, "'%s' was not made by the installer", path);
		norm_failed = true;
		return 1;
	}
	if (srv->root && lchown(path, 0, 0) < 0) {
		child_fail(norm_fd, "cannot chown '%s': %s", path,
			   strerror(errno));
		norm_failed = true;
		return 1;
	}
	if (S_ISLNK(st->st_mode))
		return 0;
	m |= S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH;
	if (S_ISDIR(st->st_mode) || (m & 0111) != 0)
		m |= 0111;
	m &= ~(mode_t)(S_IWGRP | S_IWOTH);
	if (chmod(path, m) < 0) {
		child_fail(norm_fd, "cannot chmod '%s': %s", path,
			   strerror(errno));
		norm_failed = true;
		return 1;
	}
	return 0;
}

/* Normalize the tree at path (see normalize_one); 0 or 1 (cause). */
static int
child_normalize(const char *path, int fd)
{
	norm_fd = fd;
	norm_failed = false;
	norm_from = installer_uid();
	if (nftw(path, normalize_one, 32, FTW_PHYS | FTW_MOUNT) != 0 &&
	    !norm_failed)
		return child_fail(fd, "cannot walk '%s': %s", path,
				  strerror(errno));
	return norm_failed ? 1 : 0;
}

/* Hand the tree at path (made by root) to the installer, all of it. */
static int
chown_one(const char *path, const struct stat *st UNUSED, int flag UNUSED,
	  struct FTW *ftw UNUSED)
{
	return lchown(path, installer_uid(), installer_uid()) < 0 ? 1 : 0;
}

/* Give an entry back to root (a failed npm install's dir). */
static int
chown_root(const char *path, const struct stat *st UNUSED, int flag UNUSED,
	   struct FTW *ftw UNUSED)
{
	(void)lchown(path, 0, 0);
	return 0;
}

/* Remove the temporary siblings DIR.tmp-* that killed installs left. */
static void
child_rm_stale(const char *dir)
{
	const char *slash = strrchr(dir, '/');
	char *parent = xstrndup(dir, (size_t)(slash - dir));
	char *prefix = xasprintf("%s.tmp-", slash + 1);
	DIR *d = opendir(parent);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL)
		if (str_starts_with(e->d_name, prefix)) {
			char *p = xasprintf("%s/%s", parent, e->d_name);

			child_rm_rf(p);
			free(p);
		}
	if (d != NULL)
		closedir(d);
	free(parent);
	free(prefix);
}

/*
 * The install itself, under the lock. Its tree is made by the installer
 * (child_worker) in a temporary dir, or in dir for pip and npm; then,
 * with nothing of the installer's left running, owned by root and
 * normalized; then, for pip and url, the marker DIR.installed.
 */
static int
child_install(const json_t *inst, const char *log, int logfd, int fd)
{
	const char *kind = json_string_value(json_object_get(inst, "kind"));
	const char *dir = json_string_value(json_object_get(inst, "dir"));
	const char *bin = json_string_value(json_object_get(inst, "bin_path"));
	char *tmp = xasprintf("%s.tmp-%d", dir, (int)getpid());
	char *root = xasprintf("%s/root", tmp);
	char *marker = install_marker_path(dir), *text = NULL;
	bool npm = strcmp(kind, "npm") == 0, url = strcmp(kind, "url") == 0;
	worker_fn fn = npm ? worker_npm : url ? worker_url : worker_pip;
	int r = 1;

	child_rm_stale(dir);
	if (unlink(marker) < 0 && errno != ENOENT) {
		child_fail(fd, "cannot remove '%s': %s", marker,
			   strerror(errno));
		goto out;
	}
	if (!npm)
		child_rm_rf(dir); /* a stale one, or another version's */
	if (mkdir(tmp, 0700) < 0 ||
	    (!url && mkdir(dir, 0755) < 0 && (!npm || errno != EEXIST))) {
		child_fail(fd, "cannot create '%s': %s", url ? tmp : dir,
			   strerror(errno));
		goto out;
	}
	if (srv->root && (nftw(tmp, chown_one, 8, FTW_PHYS) != 0 ||
			  (!url && nftw(dir, chown_one, 32, FTW_PHYS) != 0))) {
		child_fail(fd, "cannot give '%s' to uid %u: %s", dir,
			   (unsigned)installer_uid(), strerror(errno));
		goto out;
	}
	if (child_worker(fn, inst, tmp, log, logfd, fd) != 0)
		goto out;
	if (child_normalize(url ? root : dir, fd) != 0)
		goto out;
	if (url && rename(root, dir) < 0) {
		child_fail(fd, "cannot rename '%s' to '%s': %s", root, dir,
			   strerror(errno));
		goto out;
	}
	if (!bin_inside(dir, bin)) {
		child_fail(fd,
			   "%s installed no executable '%s' (a file inside "
			   "the install that everybody may run)",
			   json_string_value(json_object_get(inst, "package"))
				   ?: "it",
			   bin);
		goto out;
	}
	text = npm ? NULL : install_marker_text(inst);
	if (text != NULL && child_mark(dir, text) < 0) {
		child_fail(fd, "cannot write '%s': %s", marker,
			   strerror(errno));
		goto out;
	}
	r = 0;
out:
	child_rm_rf(tmp);
	if (r != 0 && !npm)
		child_rm_rf(dir);
	else if (r != 0 && srv->root) /* npm's dir stays: root's again */
		(void)nftw(dir, chown_root, 32, FTW_PHYS);
	free(tmp);
	free(root);
	free(marker);
	free(text);
	return r;
}

/* The whole install in the child: lock, check again, install. */
static int
install_child(const json_t *inst, int fd)
{
	const char *dir = json_string_value(json_object_get(inst, "dir"));
	char *parent = xstrndup(dir, (size_t)(strrchr(dir, '/') - dir));
	char *lock = xasprintf("%s.lock", dir), *log = xasprintf("%s.log", dir);
	int lockfd = -1, logfd = -1, r = 1;

	/* orphans of the installer become ours (child_reap_all) */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (child_mkdirs(parent) < 0) {
		child_fail(fd, "cannot create '%s': %s", parent,
			   strerror(errno));
		goto out;
	}
	lockfd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
		child_fail(fd, "cannot lock '%s': %s", lock, strerror(errno));
		goto out;
	}
	if (install_present(inst)) { /* another server did it */
		r = 0;
		goto out;
	}
	/* the installer writes it: open here, as root, never through a
	 * link */
	unlink(log);
	logfd = open(log, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     0644);
	if (logfd < 0) {
		child_fail(fd, "cannot create '%s': %s", log, strerror(errno));
		goto out;
	}
	r = child_install(inst, log, logfd, fd);
out:
	if (logfd >= 0)
		close(logfd);
	if (lockfd >= 0)
		close(lockfd);
	free(parent);
	free(lock);
	free(log);
	return r;
}

/* The first bytes of the body: the status is known, enough (a server
 * that ignores the Range and drips its body does not hold the probe). */
static size_t
probe_write(char *p UNUSED, size_t size UNUSED, size_t n UNUSED,
	    void *data UNUSED)
{
	return 0;
}

/* The probe in the child: does the probe URL answer 2xx? */
static int
probe_child(const json_t *inst, int fd)
{
	const char *kind = json_string_value(json_object_get(inst, "kind"));
	char *url = install_probe_url(inst, srv->pip_index_url);
	char *shown = url ? install_redact(url) : NULL;
	char err[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	CURL *c;
	int r = 0;

	if (url == NULL)
		return 0;
	if ((c = curl_easy_init()) == NULL)
		fatal("curl_easy_init failed");
	curl_common(c, url);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, PROBE_CURL_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, PROBE_CURL_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_RANGE, "0-0");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, probe_write);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && status != 0))
		r = child_fail(fd, "cannot reach %s: %s", shown,
			       err[0] ? err : curl_easy_strerror(rc));
	else if (status == 404 && strcmp(kind, "pip") == 0)
		r = child_fail(fd,
			       "the package index has no package '%s' (%s "
			       "answered HTTP 404)",
			       json_string_value(json_object_get(inst, "pip")),
			       shown);
	else if (status < 200 || status > 299)
		r = child_fail(fd, "%s answered HTTP %ld", shown, status);
	free(url);
	free(shown);
	return r;
}

/* ---- in the loop -------------------------------------------------------- */

static void
job_on_timeout(void *data)
{
	struct job *job = data;

	job->timed_out = true;
	(void)proc_kill(job->proc, SIGKILL);
}

/* The child exited (what it left in its group killed before the reap:
 * PROC_GROUP_DIES): read its cause and report. */
static void
job_on_exit(struct proc *p, int wstatus, void *data)
{
	struct job *job = data;
	char cause[INSTALL_CAUSE_MAX + 1];
	ssize_t n;

	n = read(job->pipefd, cause, sizeof cause - 1);
	cause[n > 0 ? n : 0] = '\0';
	ev_timer_stop(srv->loop, &job->timer);
	proc_free(p);
	job->proc = NULL;
	close(job->pipefd);
	if (job->timed_out) {
		snprintf(cause, sizeof cause, "%s took longer than %d s",
			 job->what, job->timeout_ms / 1000);
	} else if (wstatus != 0 && cause[0] == '\0') {
		char why[64];

		snprintf(cause, sizeof cause, "the installer of %s died (%s)",
			 job->what, proc_status_str(wstatus, why, sizeof why));
	}
	install_scrub_userinfo(cause);
	job->on_exit(job, wstatus, wstatus == 0 ? NULL : cause);
}

/* What a job's child runs (job_child). */
struct job_work {
	job_fn fn;
	const json_t *inst;
	int wfd;
};

/* In the new child (signals as for a fresh process, its own process
 * group: killed as one, stdin /dev/null): the pipe as fd 3 and nothing
 * else open. */
static int
job_child(void *arg)
{
	const struct job_work *w = arg;

	umask(022);
	if (dup2(w->wfd, 3) < 0)
		_exit(127);
	close_range(4, ~0U, 0);
	fcntl(3, F_SETFD, FD_CLOEXEC);
	_exit(w->fn(w->inst, 3));
}

/* Fork a child running fn(inst); on_exit later from the loop. */
static int
job_start(struct job *job, job_fn fn, const json_t *inst, int timeout_ms,
	  char **cause)
{
	struct job_work w = {.fn = fn, .inst = inst};
	struct proc_spec spec = {.fn = job_child,
				 .arg = &w,
				 .flags = PROC_PGROUP | PROC_NOWAIT |
					  PROC_GROUP_DIES};
	char *why = NULL;
	int p[2], r;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		*cause = xasprintf("cannot make a pipe: %s", strerror(errno));
		return -1;
	}
	w.wfd = p[1];
	spec.fd_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	r = proc_spawn(&spec, &job->proc, NULL, &why);
	close(p[1]);
	if (spec.fd_in >= 0)
		close(spec.fd_in);
	if (r < 0) {
		*cause = xasprintf("cannot start the installer: %s", why);
		free(why);
		close(p[0]);
		return -1;
	}
	job->pid = proc_pid(job->proc);
	job->pipefd = p[0];
	job->timeout_ms = timeout_ms;
	proc_watch(job->proc, srv->loop, job_on_exit, job);
	ev_timer_init(&job->timer, job_on_timeout, job);
	ev_timer_start(srv->loop, &job->timer, now_ms() + (uint64_t)timeout_ms);
	return 0;
}

/* The marker of inst's dir names what inst installs? */
static bool
install_marker_ok(const json_t *inst, const char *dir)
{
	char *path = install_marker_path(dir), *want, buf[4096];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
	bool ok;

	free(path);
	if (fd >= 0)
		close(fd);
	if (n < 0)
		return false;
	want = install_marker_text(inst);
	ok = install_marker_match(buf, (size_t)n, want);
	free(want);
	return ok;
}

bool
install_present(const json_t *inst)
{
	const char *kind = json_string_value(json_object_get(inst, "kind"));
	const char *dir = json_string_value(json_object_get(inst, "dir"));
	const char *bin = json_string_value(json_object_get(inst, "bin_path"));

	if (dir == NULL || bin == NULL)
		return true;
	if (kind == NULL || strcmp(kind, "npm") == 0)
		return is_executable(bin);
	return install_marker_ok(inst, dir) && bin_inside(dir, bin);
}

/* The install of exactly inst under way, or NULL. Another block for the
 * same dir is a different install (it waits for the lock, then replaces
 * the first). */
static struct install *
install_find(const json_t *inst)
{
	for (struct install *in = installs; in != NULL; in = in->next)
		if (json_equal(in->inst, inst))
			return in;
	return NULL;
}

bool
install_running(const json_t *inst)
{
	return install_find(inst) != NULL;
}

/* What a job works on, for messages (new string): the probe's URL, or
 * the package or URL installed; never the index's password. */
static char *
install_what(const json_t *inst, bool probe)
{
	const char *kind = json_string_value(json_object_get(inst, "kind"));
	char *url, *r, *index;

	if (probe || strcmp(kind, "url") == 0) {
		url = probe ? install_probe_url(inst, srv->pip_index_url)
			    : xstrdup(json_string_value(
				      json_object_get(inst, "url")));
		r = install_redact(url ?: "");
		free(url);
		return r;
	}
	if (strcmp(kind, "npm") == 0)
		return xstrdup(json_string_value(json_object_get(inst, "npm")));
	index = install_redact(srv->pip_index_url);
	r = xasprintf("%s==%s from %s",
		      json_string_value(json_object_get(inst, "pip")),
		      json_string_value(json_object_get(inst, "version")),
		      index);
	free(index);
	return r;
}

static void
install_on_exit(struct job *job, int wstatus UNUSED, const char *cause)
{
	struct install *in = (struct install *)job;
	struct install **pp;

	for (pp = &installs; *pp != in; pp = &(*pp)->next)
		;
	*pp = in->next;
	if (cause != NULL)
		log_warn("installing %s into %s failed: %s", job->what, in->dir,
			 cause);
	else
		log_info("installed %s into %s", job->what, in->dir);
	for (size_t i = 0; i < in->nwaiting; i++) {
		in->waiting[i].done(in->waiting[i].id, cause);
		free(in->waiting[i].id);
	}
	free(in->waiting);
	free(in->dir);
	free(job->what);
	json_decref(in->inst);
	free(in);
}

void
install_start(const json_t *inst, const char *id, install_done_cb done)
{
	const char *dir = json_string_value(json_object_get(inst, "dir"));
	struct install *in = install_find(inst);
	char *cause = NULL;

	if (in == NULL) {
		in = xcalloc(1, sizeof *in);
		in->dir = xstrdup(dir);
		in->inst = json_deep_copy(inst);
		in->job.what = install_what(inst, false);
		in->job.on_exit = install_on_exit;
		if (job_start(&in->job, install_child, inst, INSTALL_TIMEOUT_MS,
			      &cause) < 0) {
			done(id, cause);
			free(cause);
			free(in->dir);
			free(in->job.what);
			json_decref(in->inst);
			free(in);
			return;
		}
		log_info("installing %s into %s", in->job.what, in->dir);
		in->next = installs;
		installs = in;
	}
	in->waiting = xreallocarray(in->waiting, in->nwaiting + 1,
				    sizeof *in->waiting);
	in->waiting[in->nwaiting].id = xstrdup(id);
	in->waiting[in->nwaiting++].done = done;
}

/* ---- probes ------------------------------------------------------------- */

struct probe_waiter {
	install_probe_cb cb;
	void *data;
};

/* One probe of a URL under way, answering every create waiting on it. */
struct probe {
	struct job job; /* first */
	char *url;
	struct probe_waiter *waiting;
	size_t nwaiting;
	struct probe *next;
};

/* A failed probe's answer, kept PROBE_FAIL_TTL_MS: creates in a loop
 * against a dead index get it without a new child each. */
struct probe_fail {
	char *url;
	char *cause;
	uint64_t until;
	struct probe_fail *next;
};

static struct probe *probes;
static struct probe_fail *probe_fails;

/* The cached failure of url, or NULL; drops the expired ones. */
static const char *
probe_fail_find(const char *url)
{
	struct probe_fail **pp = &probe_fails, *f;
	uint64_t now = now_ms();

	while ((f = *pp) != NULL) {
		if (f->until <= now) {
			*pp = f->next;
			free(f->url);
			free(f->cause);
			free(f);
			continue;
		}
		if (strcmp(f->url, url) == 0)
			return f->cause;
		pp = &f->next;
	}
	return NULL;
}

/* Answer every waiter of p with cause, then free p. */
static void
probe_finish(struct probe *p, const char *cause)
{
	struct probe **pp;

	for (pp = &probes; *pp != NULL && *pp != p; pp = &(*pp)->next)
		;
	if (*pp == p)
		*pp = p->next;
	if (cause != NULL && probe_fail_find(p->url) == NULL) {
		struct probe_fail *f = xcalloc(1, sizeof *f);

		f->url = xstrdup(p->url);
		f->cause = xstrdup(cause);
		f->until = now_ms() + PROBE_FAIL_TTL_MS;
		f->next = probe_fails;
		probe_fails = f;
	}
	for (size_t i = 0; i < p->nwaiting; i++)
		p->waiting[i].cb(cause, p->waiting[i].data);
	free(p->waiting);
	free(p->url);
	free(p->job.what);
	free(p);
}

static void
probe_on_exit(struct job *job, int wstatus UNUSED, const char *cause)
{
	probe_finish((struct probe *)job, cause);
}

/* From the loop: a cached answer, or a probe that could not start. */
static void
probe_on_timer(void *data)
{
	struct probe *p = data;
	char *cause = xstrdup(p->job.what);

	free(p->job.what);
	p->job.what = NULL;
	probe_finish(p, cause);
	free(cause);
}

/* A probe that answers cause from the loop, soon (cb never runs before
 * install_probe returns). */
static void
probe_answer_later(struct probe *p, const char *cause)
{
	free(p->job.what);
	p->job.what = xstrdup(cause); /* the answer, for probe_on_timer */
	ev_timer_init(&p->job.timer, probe_on_timer, p);
	ev_timer_start(srv->loop, &p->job.timer, now_ms());
}

void
install_probe(const json_t *inst, install_probe_cb cb, void *data)
{
	char *url = install_probe_url(inst, srv->pip_index_url);
	const char *failed = probe_fail_find(url ?: "");
	struct probe *p;
	char *cause = NULL;

	for (p = probes; p != NULL; p = p->next)
		if (strcmp(p->url, url ?: "") == 0 && p->job.pid > 0)
			break;
	if (p == NULL) {
		p = xcalloc(1, sizeof *p);
		p->url = xstrdup(url ?: "");
		p->job.what = install_what(inst, true);
		p->job.on_exit = probe_on_exit;
		if (failed != NULL) {
			probe_answer_later(p, failed);
		} else if (job_start(&p->job, probe_child, inst,
				     PROBE_TIMEOUT_MS, &cause) < 0) {
			log_warn("reachability probe: %s", cause);
			probe_answer_later(p, "cannot start the probe");
			free(cause);
		} else {
			p->next = probes;
			probes = p;
		}
	}
	free(url);
	p->waiting =
		xreallocarray(p->waiting, p->nwaiting + 1, sizeof *p->waiting);
	p->waiting[p->nwaiting].cb = cb;
	p->waiting[p->nwaiting++].data = data;
}

void
install_kill_all(void)
{
	for (struct install *in = installs; in != NULL; in = in->next)
		if (in->job.proc != NULL)
			(void)proc_kill(in->job.proc, SIGKILL);
	for (struct probe *p = probes; p != NULL; p = p->next)
		if (p->job.proc != NULL)
			(void)proc_kill(p->job.proc, SIGKILL);
}

/* PEP 503's normalized project name: lower case, runs of [-_.] as '-'. */
static char *
pep503_name(const char *name)
{
	char *out = xmalloc(strlen(name) + 1), *o = out;

	for (const char *p = name; *p != '\0'; p++) {
		if (strchr("-_.", *p) != NULL) {
			if (o == out || o[-1] != '-')
				*o++ = '-';
		} else {
			*o++ = (char)tolower((unsigned char)*p);
		}
	}
	*o = '\0';
	return out;
}

char *
install_probe_url(const json_t *inst, const char *pip_index)
{
	const char *kind = json_string_value(json_object_get(inst, "kind"));
	char *name, *url;
	size_t n;

	if (kind != NULL && strcmp(kind, "url") == 0)
		return xstrdup(json_string_value(json_object_get(inst, "url")));
	if (kind == NULL || strcmp(kind, "pip") != 0)
		return NULL;
	name = pep503_name(json_string_value(json_object_get(inst, "pip")));
	n = strlen(pip_index);
	while (n > 0 && pip_index[n - 1] == '/')
		n--;
	url = xasprintf("%.*s/%s/", (int)n, pip_index, name);
	free(name);
	return url;
}
