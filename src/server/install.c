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
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/log.h"
#include "server.h"
#include "server/install.h"

#define INSTALL_MARKER	     ".taskbox-installed"
#define INSTALL_TIMEOUT_MS   (30 * 60 * 1000)
#define PROBE_TIMEOUT_MS     20000
#define PROBE_CURL_TIMEOUT_S 10L
#define INSTALL_DOWNLOAD_MAX (2LL << 30)
#define INSTALL_CAUSE_MAX    1024
#define INSTALL_TAIL_MAX     300

/* A child process doing one install or probe, watched by the loop. */
struct job {
	pid_t pid;
	int pidfd;
	int pipefd; /* read end: the child's cause */
	struct ev_io *io;
	struct ev_timer timer;
	int timeout_ms;
	bool timed_out;
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
	char *what;
	struct install_waiter *waiting;
	size_t nwaiting;
	struct install *next;
};

struct probe {
	struct job job; /* first */
	install_probe_cb cb;
	void *data;
};

static struct install *installs;

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

/* Run argv with its output appended to logfd; its exit status (0 ok),
 * or -1 when it could not run. */
static int
child_run(char *const argv[], int logfd)
{
	int wstatus;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (logfd >= 0) {
			dup2(logfd, 1);
			dup2(logfd, 2);
		}
		execvp(argv[0], argv);
		dprintf(2, "cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR)
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
	char *end, *start;

	out[0] = '\0';
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > 0 &&
	    lseek(fd,
		  size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1
					       : 0,
		  SEEK_SET) >= 0)
		n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	end = buf + n;
	while (end > buf &&
	       (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		*--end = '\0';
	start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	snprintf(out, INSTALL_TAIL_MAX + 1, "%.*s", INSTALL_TAIL_MAX, start);
	for (char *p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* Write the completion marker into dir. */
static int
child_mark(const char *dir)
{
	char *path = xasprintf("%s/" INSTALL_MARKER, dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	free(path);
	if (fd < 0)
		return -1;
	return close(fd);
}

/* Is path an executable regular file (following links)? */
static bool
is_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
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
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
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

/* url: download into a temporary sibling of dir, check the sha256,
 * unpack, check bin, rename into place. */
static int
child_install_url(const json_t *inst, const char *dir, const char *log,
		  int logfd, int fd)
{
	const char *url = json_string_value(json_object_get(inst, "url"));
	const char *want = json_string_value(json_object_get(inst, "sha256"));
	const char *format = json_string_value(json_object_get(inst, "format"));
	const char *bin = json_string_value(json_object_get(inst, "bin"));
	char *tmp = xasprintf("%s.tmp-%d", dir, (int)getpid());
	char *file = xasprintf("%s/.download", tmp);
	char *exe = xasprintf("%s/%s", tmp, bin);
	char hex[65], tail[INSTALL_TAIL_MAX + 1];
	int r = 1;

	child_rm_rf(tmp);
	if (mkdir(tmp, 0755) < 0) {
		child_fail(fd, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (child_download(url, file, hex, fd) != 0)
		goto out;
	if (strcmp(hex, want) != 0) {
		child_fail(fd,
			   "the sha256 of %s is %s but the module pins %s; "
			   "nothing was installed",
			   url, hex, want);
		goto out;
	}
	if (strcmp(format, "binary") == 0) {
		if (rename(file, exe) < 0 || chmod(exe, 0755) < 0) {
			child_fail(fd, "cannot place '%s': %s", exe,
				   strerror(errno));
			goto out;
		}
	} else {
		char *argv[] = {"tar",
				"-x",
				(char *)tar_flag(format),
				"--no-same-owner",
				"-f",
				file,
				"-C",
				tmp,
				NULL};

		if (child_run(argv, logfd) != 0) {
			child_log_tail(log, tail);
			child_fail(fd, "cannot unpack %s (%s): %s", url, format,
				   tail);
			goto out;
		}
		unlink(file);
	}
	if (!is_executable(exe)) {
		child_fail(fd, "%s holds no executable '%s'", url, bin);
		goto out;
	}
	if (child_mark(tmp) < 0) {
		child_fail(fd, "cannot write to '%s': %s", tmp,
			   strerror(errno));
		goto out;
	}
	child_rm_rf(dir); /* a stale one without its marker */
	if (rename(tmp, dir) < 0) {
		child_fail(fd, "cannot rename '%s' to '%s': %s", tmp, dir,
			   strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (r != 0)
		child_rm_rf(tmp);
	free(tmp);
	free(file);
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

/* pip: a virtualenv at dir, pip install PKG==VERSION into it. */
static int
child_install_pip(const json_t *inst, const char *dir, const char *log,
		  int logfd, int fd)
{
	const char *pkg = json_string_value(json_object_get(inst, "pip"));
	const char *version =
		json_string_value(json_object_get(inst, "version"));
	const char *bin_path =
		json_string_value(json_object_get(inst, "bin_path"));
	char *req = xasprintf("%s==%s", pkg, version);
	char *py = xasprintf("%s/bin/python", dir);
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

	child_rm_rf(dir); /* a stale one without its marker */
	if (child_run(venv, logfd) != 0) {
		child_log_tail(log, tail);
		child_fail(fd,
			   "cannot make a virtualenv with %s (is python3-venv "
			   "installed?): %s",
			   venv[0], tail);
		goto out;
	}
	if (child_run(pip, logfd) != 0) {
		child_log_tail(log, tail);
		child_fail(fd, "pip install %s from %s failed: %s", req,
			   srv->pip_index_url, tail);
		goto out;
	}
	if (!is_executable(bin_path)) {
		child_fail(fd, "%s installed no executable '%s'", req,
			   bin_path);
		goto out;
	}
	if (child_mark(dir) < 0) {
		child_fail(fd, "cannot write to '%s': %s", dir,
			   strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (r != 0)
		child_rm_rf(dir);
	free(req);
	free(py);
	return r;
}

/* npm: npm install PKG@VERSION --prefix dir (as before: no marker). */
static int
child_install_npm(const json_t *inst, const char *dir, const char *log,
		  int logfd, int fd)
{
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

/* The whole install in the child: lock, check again, install. */
static int
install_child(const json_t *inst, int fd)
{
	const char *kind = json_string_value(json_object_get(inst, "kind"));
	const char *dir = json_string_value(json_object_get(inst, "dir"));
	char *parent = xstrndup(dir, (size_t)(strrchr(dir, '/') - dir));
	char *lock = xasprintf("%s.lock", dir), *log = xasprintf("%s.log", dir);
	int lockfd = -1, logfd = -1, r = 1;

	if (child_mkdirs(parent) < 0) {
		child_fail(fd, "cannot create '%s': %s", parent,
			   strerror(errno));
		goto out;
	}
	lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
		child_fail(fd, "cannot lock '%s': %s", lock, strerror(errno));
		goto out;
	}
	if (install_present(inst)) { /* another server did it */
		r = 0;
		goto out;
	}
	logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0) {
		child_fail(fd, "cannot create '%s': %s", log, strerror(errno));
		goto out;
	}
	if (strcmp(kind, "pip") == 0)
		r = child_install_pip(inst, dir, log, logfd, fd);
	else if (strcmp(kind, "url") == 0)
		r = child_install_url(inst, dir, log, logfd, fd);
	else
		r = child_install_npm(inst, dir, log, logfd, fd);
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

static size_t
probe_write(char *p UNUSED, size_t size, size_t n, void *data)
{
	size_t *got = data;

	*got += size * n;
	return *got > 65536 ? 0 : size * n; /* enough to know it answers */
}

/* The probe in the child: does the probe URL answer 2xx? */
static int
probe_child(const json_t *inst, int fd)
{
	const char *kind = json_string_value(json_object_get(inst, "kind"));
	char *url = install_probe_url(inst, srv->pip_index_url);
	char err[CURL_ERROR_SIZE] = "";
	size_t got = 0;
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
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && status != 0))
		r = child_fail(fd, "cannot reach %s: %s", url,
			       err[0] ? err : curl_easy_strerror(rc));
	else if (status == 404 && strcmp(kind, "pip") == 0)
		r = child_fail(fd,
			       "the package index has no package '%s' (%s "
			       "answered HTTP 404)",
			       json_string_value(json_object_get(inst, "pip")),
			       url);
	else if (status < 200 || status > 299)
		r = child_fail(fd, "%s answered HTTP %ld", url, status);
	free(url);
	return r;
}

/* ---- in the loop -------------------------------------------------------- */

static void
job_on_timeout(void *data)
{
	struct job *job = data;

	job->timed_out = true;
	kill(-job->pid, SIGKILL);
}

static void
job_on_exit(struct ev_io *io UNUSED, uint32_t events UNUSED, void *data)
{
	struct job *job = data;
	char cause[INSTALL_CAUSE_MAX + 1];
	ssize_t n;
	int wstatus = 0;

	/* what the child left running; its pid (and so its group) cannot
	 * be reused before it is reaped */
	kill(-job->pid, SIGKILL);
	if (waitpid(job->pid, &wstatus, 0) < 0)
		wstatus = -1;
	n = read(job->pipefd, cause, sizeof cause - 1);
	cause[n > 0 ? n : 0] = '\0';
	ev_io_del(job->io);
	ev_timer_stop(srv->loop, &job->timer);
	close(job->pidfd);
	close(job->pipefd);
	if (job->timed_out)
		snprintf(cause, sizeof cause, "it took longer than %d s",
			 job->timeout_ms / 1000);
	else if (wstatus != 0 && cause[0] == '\0')
		snprintf(cause, sizeof cause, "the installer died (status %d)",
			 wstatus);
	job->on_exit(job, wstatus, wstatus == 0 ? NULL : cause);
}

/* In the new child: signals as for a fresh process, its own process
 * group (killed as one), the pipe as fd 3 and nothing else open. */
NORETURN static void
job_child(job_fn fn, const json_t *inst, int wfd)
{
	sigset_t none;
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	umask(022);
	if (devnull >= 0)
		dup2(devnull, 0);
	if (dup2(wfd, 3) < 0)
		_exit(127);
	close_range(4, ~0U, 0);
	fcntl(3, F_SETFD, FD_CLOEXEC);
	_exit(fn(inst, 3));
}

/* Fork a child running fn(inst); on_exit later from the loop. */
static int
job_start(struct job *job, job_fn fn, const json_t *inst, int timeout_ms,
	  char **cause)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
		*cause = xasprintf("cannot make a pipe: %s", strerror(errno));
		return -1;
	}
	job->pid = fork();
	if (job->pid == 0)
		job_child(fn, inst, p[1]);
	close(p[1]);
	if (job->pid < 0 ||
	    (job->pidfd = (int)syscall(SYS_pidfd_open, job->pid, 0)) < 0) {
		*cause = xasprintf("cannot start the installer: %s",
				   strerror(errno));
		if (job->pid > 0) {
			kill(job->pid, SIGKILL);
			waitpid(job->pid, NULL, 0);
		}
		close(p[0]);
		return -1;
	}
	job->pipefd = p[0];
	job->timeout_ms = timeout_ms;
	job->io = ev_io_add(srv->loop, job->pidfd, EPOLLIN, job_on_exit, job);
	ev_timer_init(&job->timer, job_on_timeout, job);
	ev_timer_start(srv->loop, &job->timer, now_ms() + (uint64_t)timeout_ms);
	return 0;
}

bool
install_present(const json_t *inst)
{
	const char *kind = json_string_value(json_object_get(inst, "kind"));
	const char *dir = json_string_value(json_object_get(inst, "dir"));
	const char *bin = json_string_value(json_object_get(inst, "bin_path"));
	char *marker;
	bool ok;

	if (dir == NULL || bin == NULL)
		return true;
	if (!is_executable(bin))
		return false;
	if (kind == NULL || strcmp(kind, "npm") == 0)
		return true;
	marker = xasprintf("%s/" INSTALL_MARKER, dir);
	ok = access(marker, F_OK) == 0;
	free(marker);
	return ok;
}

/* The install under way into dir, or NULL. */
static struct install *
install_find(const char *dir)
{
	for (struct install *in = installs; in != NULL; in = in->next)
		if (strcmp(in->dir, dir) == 0)
			return in;
	return NULL;
}

bool
install_running(const json_t *inst)
{
	return install_find(json_string_value(json_object_get(inst, "dir"))
				    ?: "") != NULL;
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
		log_warn("installing %s into %s failed: %s", in->what, in->dir,
			 cause);
	else
		log_info("installed %s into %s", in->what, in->dir);
	for (size_t i = 0; i < in->nwaiting; i++) {
		in->waiting[i].done(in->waiting[i].id, cause);
		free(in->waiting[i].id);
	}
	free(in->waiting);
	free(in->dir);
	free(in->what);
	free(in);
}

void
install_start(const json_t *inst, const char *id, install_done_cb done)
{
	const char *dir = json_string_value(json_object_get(inst, "dir"));
	struct install *in = install_find(dir);
	char *cause = NULL;

	if (in == NULL) {
		in = xcalloc(1, sizeof *in);
		in->dir = xstrdup(dir);
		in->what = xstrdup(
			json_string_value(json_object_get(inst, "npm"))
				?: json_string_value(
					   json_object_get(inst, "pip"))
				?: json_string_value(
					   json_object_get(inst, "url"))
				?: "");
		in->job.on_exit = install_on_exit;
		if (job_start(&in->job, install_child, inst, INSTALL_TIMEOUT_MS,
			      &cause) < 0) {
			done(id, cause);
			free(cause);
			free(in->dir);
			free(in->what);
			free(in);
			return;
		}
		log_info("installing %s into %s", in->what, in->dir);
		in->next = installs;
		installs = in;
	}
	in->waiting = xreallocarray(in->waiting, in->nwaiting + 1,
				    sizeof *in->waiting);
	in->waiting[in->nwaiting].id = xstrdup(id);
	in->waiting[in->nwaiting++].done = done;
}

static void
probe_on_exit(struct job *job, int wstatus UNUSED, const char *cause)
{
	struct probe *p = (struct probe *)job;

	p->cb(cause, p->data);
	free(p);
}

static void
probe_on_failed_start(void *data)
{
	struct probe *p = data;

	p->cb("cannot start the probe", p->data);
	free(p);
}

void
install_probe(const json_t *inst, install_probe_cb cb, void *data)
{
	struct probe *p = xcalloc(1, sizeof *p);
	char *cause = NULL;

	p->cb = cb;
	p->data = data;
	p->job.on_exit = probe_on_exit;
	if (job_start(&p->job, probe_child, inst, PROBE_TIMEOUT_MS, &cause) <
	    0) {
		/* cb must not run before we return: from the loop */
		log_warn("reachability probe: %s", cause);
		free(cause);
		ev_timer_init(&p->job.timer, probe_on_failed_start, p);
		ev_timer_start(srv->loop, &p->job.timer, now_ms());
	}
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
