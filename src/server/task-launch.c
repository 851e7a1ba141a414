/*
 * task-launch.c: from an accepted task to a running sandbox.
 *
 * task_start renders the agent module for the template (argv, env,
 * files to seed, install), installs the agent when missing (install.c),
 * mounts the task's disk image (ws/disk.c) and then starts the sandbox:
 * the task's directories laid out and seeded (the first time only),
 * identity (identity.c), egress sockets, the ready pipe, then argv, env
 * and mounts for ws->start, and the start recorded in the row.
 *
 * Directories: DATA/tasks/ID/{home,run,log}; home is /home/agent inside
 * (the workspace is home/workspace), run is /run/taskbox (sockets, state
 * file, setup script and log), log keeps the sandbox's stderr. The
 * server writes below DATA/tasks/ID only through openat, never following
 * a link (a resumed task's home is the agent's).
 */
#include "common.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ev.h"
#include "core/log.h"
#include "gateway/provider.h"
#include "server.h"
#include "server/identity.h"
#include "server/install.h"
#include "server/metrics.h"
#include "server/module.h"
#include "server/task-int.h"
#include "store/store-rows.h"
#include "ws/disk.h"
#include "ws/ws.h"

/* Seconds the runtime holds a task's first input for the agent's MCP
 * server (Claude Code's own MCP start timeout is 30 s). */
#define TASK_MCP_WAIT_S 30

/*
 * Make (when missing) and open directory name under dfd, never through a
 * link, its mode and owner set on the open fd (a path could be swapped
 * for a link in between): fd or -errno.
 */
static int
task_dir_at(struct task *t, int dfd, const char *name, mode_t mode)
{
	int fd, r = 0;

	if (mkdirat(dfd, name, mode) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && srv->root && t->uid != 0 &&
	    fchown(fd, t->uid, t->uid) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* Open a directory of the task's by path (the path above it is the
 * server's): fd or -errno. */
static int
task_dir_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/*
 * Make run/apps a directory of the task's again (before each launch: the
 * task ran in run/ before a pause and may have left a link or a file
 * there, which bwrap would follow when mounting it); 0 or -errno.
 */
static int
task_apps_dir(struct task *t)
{
	struct stat st;
	int dfd, r = 0;

	dfd = open(t->run_dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fstatat(dfd, "apps", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(st.st_mode) && unlinkat(dfd, "apps", 0) < 0)
		r = -errno;
	if (r == 0 && mkdirat(dfd, "apps", 0700) < 0 && errno != EEXIST)
		r = -errno;
	if (r == 0 && srv->root && t->uid != 0 &&
	    fchownat(dfd, "apps", t->uid, t->uid, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	close(dfd);
	return r;
}

/* Make and open every parent directory of rel under dfd, one at a time
 * and never through a link: the fd of the last one (rel's last
 * component is at *name) or -errno. */
static int
task_mkdirs(struct task *t, int dfd, const char *rel, const char **name)
{
	char *copy = xstrdup(rel), *p = copy, *slash;
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0), next;

	if (fd < 0)
		fd = -errno;
	while (fd >= 0 && (slash = strchr(p, '/')) != NULL) {
		*slash = '\0';
		if (*p != '\0' && strcmp(p, ".") != 0) {
			next = task_dir_at(t, fd, p, 0700);
			close(fd);
			fd = next;
		}
		p = slash + 1;
	}
	*name = rel + (p - copy);
	free(copy);
	return fd;
}

/* Write file name under dfd (a directory of the task's), owned by the
 * task: whatever was there (a link, a FIFO) is replaced, never followed
 * or opened; 0 or -errno. */
static int
task_write_file(struct task *t, int dfd, const char *name, const char *content,
		mode_t mode)
{
	struct stat st;
	int fd, r = 0;

	mode &= 0700; /* the task's alone, whatever a module asks */
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	fd = openat(dfd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW |
			    O_NONBLOCK,
		    mode);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && write_all(fd, content, strlen(content)) < 0)
		r = -errno;
	if (r == 0 && srv->root && t->uid != 0 &&
	    fchown(fd, t->uid, t->uid) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Seed files ([{path, mode, content}], relative) into the home. */
static int
task_seed_files(struct task *t, json_t *files, char **cause)
{
	json_t *f;
	size_t i;
	int r, hfd = task_dir_open(t->home_dir), dfd;
	const char *name;

	if (hfd < 0) {
		*cause = xasprintf("cannot open '%s': %s", t->home_dir,
				   strerror(-hfd));
		return hfd;
	}
	json_array_foreach(files, i, f)
	{
		const char *rel = json_string_value(json_object_get(f, "path"));
		const char *content =
			json_string_value(json_object_get(f, "content"));
		json_int_t mode =
			json_integer_value(json_object_get(f, "mode"));

		if (rel == NULL || content == NULL || rel[0] == '/' ||
		    strstr(rel, "..") != NULL)
			continue;
		if ((dfd = task_mkdirs(t, hfd, rel, &name)) < 0)
			r = dfd;
		else if (t->resuming &&
			 faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			/* the agent's own changes since the first start win */
			r = 0;
		else
			r = task_write_file(t, dfd, name, content,
					    mode ? (mode_t)mode : 0600);
		if (dfd >= 0)
			close(dfd);
		if (r < 0) {
			*cause = xasprintf("cannot seed '%s/%s': %s",
					   t->home_dir, rel, strerror(-r));
			close(hfd);
			return r;
		}
	}
	close(hfd);
	return 0;
}

/* Does this launch run the template's setup script? A first start
 * does, a resume does not, a restart does when no agent ran before (the
 * setup never got through). */
static bool
task_runs_setup(struct task *t)
{
	const char *setup = json_string_value(json_object_get(
		json_object_get(t->tmpl, "workspace"), "setup"));

	return setup != NULL && *setup != '\0' &&
	       (!t->resuming || t->fresh_agent);
}

/* Write the setup script into run/ when this launch runs it (run/ is
 * the task's: never follow a link there); 0 or -errno with *cause. */
static int
task_write_setup(struct task *t, char **cause)
{
	int r, rfd;

	if (!task_runs_setup(t))
		return 0;
	if ((r = rfd = task_dir_open(t->run_dir)) >= 0) {
		r = task_write_file(
			t, rfd, "setup.sh",
			json_string_value(json_object_get(
				json_object_get(t->tmpl, "workspace"),
				"setup")),
			0700);
		close(rfd);
	}
	if (r < 0)
		*cause = xasprintf("cannot write the setup script: %s",
				   strerror(-r));
	return r;
}

/* Lay out the task's directories and seed the home. */
static int
task_prepare_dirs(struct task *t, char **cause)
{
	int r, pfd, dfd = -1, hfd = -1, fd = -1;

	/* the tasks directory is the server's; below, one level at a time */
	if ((r = pfd = open(srv->tasks_dir,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = -errno;
	else if ((r = dfd = task_dir_at(t, pfd, task_id(t), 0700)) >= 0 &&
		 (r = hfd = task_dir_at(t, dfd, "home", 0700)) >= 0 &&
		 (r = fd = task_dir_at(t, hfd, "workspace", 0700)) >= 0) {
		close(fd);
		if ((r = fd = task_dir_at(t, dfd, "run", 0700)) >= 0)
			close(fd);
	}
	if (pfd >= 0)
		close(pfd);
	if (dfd >= 0)
		close(dfd);
	if (hfd >= 0)
		close(hfd);
	if (r < 0) {
		*cause = xasprintf("cannot create the workspace directories "
				   "under '%s': %s",
				   t->dir, strerror(-r));
		return r;
	}
	if ((r = task_seed_files(t, json_object_get(t->launch, "files"),
				 cause)) < 0)
		return r;
	return task_write_setup(t, cause);
}

/* A strv builder. */
struct strv {
	char **v;
	size_t n;
};

static void PRINTFLIKE(2, 3) strv_addf(struct strv *s, const char *fmt, ...)
{
	va_list ap;

	s->v = xreallocarray(s->v, s->n + 2, sizeof *s->v);
	va_start(ap, fmt);
	s->v[s->n++] = xvasprintf(fmt, ap);
	va_end(ap);
	s->v[s->n] = NULL;
}

/* Set NAME=value in s, replacing an earlier NAME (its string wiped). */
static void
strv_setenv(struct strv *s, const char *name, const char *value)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < s->n; i++) {
		if (strncmp(s->v[i], name, len) == 0 && s->v[i][len] == '=') {
			explicit_bzero(s->v[i], strlen(s->v[i]));
			free(s->v[i]);
			s->v[i] = xasprintf("%s=%s", name, value);
			return;
		}
	}
	strv_addf(s, "%s=%s", name, value);
}

/* Free s; env entries may hold secrets, so every string is wiped. */
static void
strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		explicit_bzero(s->v[i], strlen(s->v[i]));
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* The port of an app URL http://127.0.0.1:PORT/... or 0. */
static long
app_port(const char *url)
{
	const char *p = strstr(url, "://");
	const char *colon;
	char digits[8];
	size_t n = 0;
	long v;

	if (p == NULL || (colon = strchr(p + 3, ':')) == NULL)
		return 0;
	for (colon++; *colon >= '0' && *colon <= '9' && n < 6; colon++)
		digits[n++] = *colon;
	digits[n] = '\0';
	return parse_long(digits, 1, 65535, &v) == 0 ? v : 0;
}

/* Close the ready pipe of t's last run (a resume), if any. */
static void
task_launch_ready_reset(struct task *t)
{
	if (t->ready_io != NULL) { /* a resume: the last run's pipe */
		ev_io_del(t->ready_io);
		t->ready_io = NULL;
	}
	if (t->ready_fd >= 0) {
		close(t->ready_fd);
		t->ready_fd = -1;
	}
	buf_clear(&t->ready_buf);
}

/* Lay out and seed t's directories (a first start only: on resume the
 * home is the agent's), write the setup script and make run/apps (at
 * apps_dir); 0 or -errno with *cause. */
static int
task_launch_layout(struct task *t, json_t *id_files, const char *apps_dir,
		   char **cause)
{
	int r;

	/* On resume the home is the agent's: it may hold links planted to
	 * steer a root server's mkdir/chmod/open. Nothing is re-seeded. */
	if (!t->resuming && ((r = task_prepare_dirs(t, cause)) < 0 ||
			     (r = task_seed_files(t, id_files, cause)) < 0))
		return r;
	/* from here the home is the agent's: a restart never seeds it */
	task_mark(t, &t->laid_out, "laid_out");
	if (t->resuming && (r = task_write_setup(t, cause)) < 0)
		return r;
	if ((r = task_apps_dir(t)) < 0) {
		*cause = xasprintf("cannot prepare '%s': %s", apps_dir,
				   strerror(-r));
		return r;
	}
	return 0;
}

/* Make the ready pipe: t reads pipefd[0] in the loop, pipefd[1] goes to
 * the runtime; 0 or -errno with *cause. */
static int
task_launch_ready_pipe(struct task *t, int pipefd[2], char **cause)
{
	int r;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = -errno;
		*cause = xasprintf("pipe: %s", strerror(-r));
		return r;
	}
	t->ready_fd = pipefd[0];
	fd_set_nonblock(t->ready_fd);
	t->ready_io =
		ev_io_add(srv->loop, t->ready_fd, EPOLLIN, task_on_ready, t);
	return 0;
}

/* Build the sandbox's argv: `taskbox agent` with its flags (ready_fd the
 * pipe's write end), then the module's argv. */
static void
task_launch_argv(struct task *t, struct strv *argv, int ready_fd)
{
	json_t *ws_spec = json_object_get(t->tmpl, "workspace");
	json_t *v, *app;
	const char *owner =
		json_string_value(json_object_get(t->row, "owner_name"));
	size_t i;

	strv_addf(argv, "%s", TASK_BIN);
	strv_addf(argv, "agent");
	strv_addf(argv, "--type=%s",
		  json_string_value(json_object_get(t->launch, "type"))
			  ?: "custom");
	strv_addf(argv, "--socket=%s/agent.sock", TASK_RUN);
	strv_addf(argv, "--state-file=%s/state.json", TASK_RUN);
	strv_addf(argv, "--ready-fd=%d", ready_fd);
	strv_addf(argv, "--chat-base-path=/@%s/%s/apps/chat/chat", owner,
		  task_name(t));
	strv_addf(argv, "--forward=127.0.0.1:%d=%s/llm.sock", TASK_LLM_PORT,
		  TASK_RUN);
	strv_addf(argv, "--forward=127.0.0.1:%d=%s/egress.sock",
		  TASK_PROXY_PORT, TASK_RUN);
	json_array_foreach(json_object_get(t->tmpl, "apps"), i, app)
	{
		long port = app_port(
			json_string_value(json_object_get(app, "url")) ?: "");

		if (port > 0)
			strv_addf(
				argv, "--forward=%s/%s.sock=127.0.0.1:%ld",
				TASK_APPS,
				json_string_value(json_object_get(app, "slug")),
				port);
	}
	if (task_runs_setup(t)) {
		strv_addf(argv, "--setup=%s/setup.sh", TASK_RUN);
		strv_addf(argv, "--setup-log=%s/setup.log", TASK_RUN);
		strv_addf(argv, "--setup-timeout=%lld",
			  (long long)(json_integer_value(json_object_get(
					      ws_spec, "setup_timeout_s"))
					      ?: 600));
	}
	/* its first input (the prompt, or a queued send on resume) waits
	 * until the agent connected to `taskbox mcp` and has its tools */
	if (json_is_true(json_object_get(t->launch, "mcp")))
		strv_addf(argv, "--wait-mcp=%d", TASK_MCP_WAIT_S);
	if (!t->prompt_delivered) /* the server saw it typed: never twice */
		strv_addf(argv, "--initial-prompt=%s",
			  json_string_value(json_object_get(t->row, "prompt")));
	strv_addf(argv, "--");
	json_array_foreach(json_object_get(t->launch, "argv"), i, v)
		strv_addf(argv, "%s", json_string_value(v));
	/* continue its own session: one exists once the agent ran and had
	 * its prompt (Claude Code's --continue fails without one) */
	if (t->resuming && !t->fresh_agent && t->prompt_delivered)
		json_array_foreach(json_object_get(t->launch, "resume_args"), i,
				   v)
			strv_addf(argv, "%s", json_string_value(v));
}

/* Add the template's parameter values to env as TASKBOX_PARAM_<NAME>
 * (A-Z0-9_). */
static void
task_launch_env_params(struct task *t, struct strv *env)
{
	json_t *v;
	const char *k;
	json_t *params = json_loads(
		json_string_value(json_object_get(t->row, "parameters"))
			?: "{}",
		0, NULL);

	json_object_foreach(params, k, v)
	{
		char name[80];
		size_t n = 0;
		char *val = json_is_string(v) ? xstrdup(json_string_value(v))
					      : json_dumps(v, JSON_ENCODE_ANY);

		for (const char *c = k; *c != '\0' && n + 1 < sizeof name; c++)
			name[n++] = (char)(isalnum((unsigned char)*c)
						   ? toupper((unsigned char)*c)
						   : '_');
		name[n] = '\0';
		strv_addf(env, "TASKBOX_PARAM_%s=%s", name, val ? val : "");
		free(val);
	}
	json_decref(params);
}

/* Build the sandbox's env: the fixed variables, the module's, the
 * template's, the parameters, then id_env (identity.c: GITHUB_TOKEN,
 * GH_TOKEN, env_secrets), which wins over all. */
static void
task_launch_env(struct task *t, struct strv *env, json_t *id_env)
{
	json_t *ws_spec = json_object_get(t->tmpl, "workspace");
	json_t *v;
	const char *k;
	char *path_env;
	size_t i;

	path_env = xstrdup("");
	json_array_foreach(json_object_get(t->launch, "path"), i, v)
	{
		char *n = xasprintf("%s%s:", path_env, json_string_value(v));

		free(path_env);
		path_env = n;
	}
	strv_addf(env, "PATH=%s/usr/local/bin:/usr/bin:/bin", path_env);
	free(path_env);
	strv_addf(env, "HOME=%s", TASK_HOME);
	strv_addf(env, "USER=agent");
	/* whatever system-wide git config a build of git looks for is the
	 * host's, never the workspace's */
	strv_addf(env, "GIT_CONFIG_NOSYSTEM=1");
	strv_addf(env, "GIT_ATTR_NOSYSTEM=1");
	strv_addf(env, "LOGNAME=agent");
	strv_addf(env, "SHELL=/bin/bash");
	strv_addf(env, "TERM=xterm-256color");
	strv_addf(env, "LANG=C.UTF-8");
	strv_addf(env, "TASKBOX_TASK_ID=%s", task_id(t));
	strv_addf(env, "TASKBOX_TASK_NAME=%s", task_name(t));
	strv_addf(env, "HTTPS_PROXY=http://127.0.0.1:%d", TASK_PROXY_PORT);
	strv_addf(env, "https_proxy=http://127.0.0.1:%d", TASK_PROXY_PORT);
	strv_addf(env, "NO_PROXY=127.0.0.1,localhost");
	strv_addf(env, "no_proxy=127.0.0.1,localhost");
	{
		/* sanitizer settings of a test build reach the runtime */
		static const char *const pass[] = {
			"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};

		for (i = 0; i < ARRAY_SIZE(pass); i++)
			if (getenv(pass[i]) != NULL)
				strv_addf(env, "%s=%s", pass[i],
					  getenv(pass[i]));
	}
	json_object_foreach(json_object_get(t->launch, "env"), k, v)
		strv_addf(env, "%s=%s", k, json_string_value(v));
	json_object_foreach(json_object_get(ws_spec, "env"), k, v)
		strv_addf(env, "%s=%s", k, json_string_value(v));
	task_launch_env_params(t, env);
	/* identity.c: GITHUB_TOKEN, GH_TOKEN, env_secrets (win over all) */
	json_object_foreach(id_env, k, v)
		strv_setenv(env, k, json_string_value(v));
}

/* Fill mounts[5] (home, run, run/apps at apps_dir, the binary, the
 * agent's install) and return how many are used. */
static size_t
task_launch_mounts(struct task *t, struct ws_mount mounts[5],
		   const char *apps_dir)
{
	struct stat st;
	const char *inst_dir;

	mounts[0] = (struct ws_mount){t->home_dir, TASK_HOME, false};
	mounts[1] = (struct ws_mount){t->run_dir, TASK_RUN, false};
	mounts[2] = (struct ws_mount){apps_dir, TASK_APPS, false};
	mounts[3] = (struct ws_mount){srv->exe, TASK_BIN, true};
	/* the task's own agent install at the same path inside, read-only
	 * (the host's view would do, but not under a masked dir such as
	 * /tmp or /home); none of the other installs */
	inst_dir = json_string_value(
		json_object_get(json_object_get(t->launch, "install"), "dir"));
	mounts[4] = (struct ws_mount){inst_dir, inst_dir, true};
	if (inst_dir == NULL || stat(inst_dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return 4; /* a preinstalled agent (check) */
	return 5;
}

/* Start the sandbox with argv, env and mounts (its stderr to DATA's
 * log), keeping ready_fd open in it and closing it here; sets t->ws, or
 * leaves it NULL with *cause. */
static void
task_launch_spawn(struct task *t, char **argv, char **env,
		  struct ws_mount *mounts, size_t n_mounts, int ready_fd,
		  char **cause)
{
	const char *hide[1] = {srv->data_dir};
	struct ws_spec spec = {0};
	int64_t disk;
	int logfd;
	char *log_path;

	log_path = xasprintf("%s/log", t->dir);
	logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	free(log_path);

	spec.id = task_id(t);
	spec.argv = argv;
	spec.env = env;
	spec.chdir = TASK_WORKDIR;
	spec.hostname = task_name(t);
	spec.user = "agent"; /* its own passwd entry; no host gitconfig */
	spec.home = TASK_HOME;
	spec.mounts = mounts;
	spec.n_mounts = n_mounts;
	spec.hide = hide;
	spec.n_hide = ARRAY_SIZE(hide);
	task_limits(t, &spec.limits, &disk);
	spec.uid = srv->root ? t->uid : 0;
	spec.gid = srv->root ? t->uid : 0;
	spec.keep_fds = &ready_fd;
	spec.n_keep_fds = 1;
	spec.log_fd = logfd;
	spec.detach = true; /* survives a server crash; re-attached */
	/* the loop goes on while the child joins its cgroups: a failure
	 * there is the log's last line, the reason task_on_ws_exit gives */
	spec.start_async = true;
	/* other tasks' disk images (and the pool's) stay out of it */
	spec.mounts_dir = srv->data_dir;
	spec.keep_mount = t->dir;
	t->ws = srv->backend->start(srv->loop, &spec, task_on_ws_exit, t,
				    cause);
	close(ready_fd);
	if (logfd >= 0)
		close(logfd);
}

/* The sandbox runs: record its pid (and start time) in the row, note
 * the limits it did not enforce, and move t to launched. */
static void
task_launch_record(struct task *t)
{
	t->ws_ms = now_ms();
	{
		pid_t pid = ws_pid(t->ws);

		store_task_set_ws(srv->store, task_id(t), (int64_t)pid,
				  task_proc_starttime(pid));
	}
	free(t->ws_warn);
	t->ws_warn = ws_warnings(t->ws) ? xstrdup(ws_warnings(t->ws)) : NULL;
	if (t->ws_warn != NULL)
		log_warn("task %s: %s", task_name(t), t->ws_warn);
	task_set_state(t, "working",
		       t->resuming ? "Resuming workspace"
				   : "Starting workspace");
	task_transition(t, TASK_STATE_LAUNCHED, "");
}

/* Whose LLM requests t's gateway serves: strings borrowed from t. */
struct egress_task
task_egress_who(struct task *t)
{
	const char *p = json_string_value(
		json_object_get(json_object_get(t->tmpl, "agent"), "provider"));

	return (struct egress_task){
		.task_id = task_id(t),
		.owner_id = task_owner_id(t),
		.template_id =
			json_string_value(json_object_get(t->version, "id")),
		.provider = p ? p : "default",
	};
}

/* Build argv, env and mounts for the sandbox and start it: identity,
 * directories, egress, the ready pipe, then the spawn; a step that fails
 * fails the task. */
static void
task_launch_ws(struct task *t)
{
	struct strv argv = {0}, env = {0};
	json_t *ws_spec = json_object_get(t->tmpl, "workspace");
	struct ws_mount mounts[5];
	size_t n_mounts;
	int pipefd[2];
	char *cause = NULL;
	json_t *id_env = NULL, *id_files = NULL; /* identity.c */
	char *apps_dir = xasprintf("%s/apps", t->run_dir);
	struct egress_task who = task_egress_who(t);

	if (identity_prepare(
		    t->tmpl, task_owner_id(t),
		    json_string_value(json_object_get(t->version, "id")),
		    json_string_value(json_object_get(t->version, "name")),
		    &id_env, &id_files, &cause) < 0)
		goto fail;
	task_launch_ready_reset(t);
	if (task_launch_layout(t, id_files, apps_dir, &cause) < 0)
		goto fail;
	t->egress =
		egress_new(t->run_dir, ws_spec, task_by_admin(t), task_name(t),
			   &who, srv->root ? t->uid : 0, &cause);
	if (t->egress == NULL)
		goto fail;
	if (task_launch_ready_pipe(t, pipefd, &cause) < 0)
		goto fail;
	task_launch_argv(t, &argv, pipefd[1]);
	task_launch_env(t, &env, id_env);
	identity_env_free(id_env);
	id_env = NULL;
	n_mounts = task_launch_mounts(t, mounts, apps_dir);
	task_launch_spawn(t, argv.v, env.v, mounts, n_mounts, pipefd[1],
			  &cause);
	strv_free(&argv);
	strv_free(&env);
	json_decref(id_files);
	id_files = NULL;
	if (t->ws == NULL)
		goto fail;
	free(apps_dir);
	apps_dir = NULL;
	task_launch_record(t);
	return;
fail:
	strv_free(&argv);
	strv_free(&env);
	identity_env_free(id_env);
	json_decref(id_files);
	free(apps_dir);
	task_fail(t, "%s", cause ? cause : "cannot start the workspace");
	free(cause);
}

/* Whether t gets a disk image (limit disk), noting in t->disk_warn when
 * its limit is not enforced: no mechanism here, or files made without an
 * image (a task older than the limit). */
bool
task_disk_note(struct task *t, int64_t disk)
{
	char *img;
	bool have;

	free(t->disk_warn);
	t->disk_warn = NULL;
	if (disk <= 0)
		return false;
	if (srv->disk_off != NULL) {
		t->disk_warn =
			xasprintf("disk limit not enforced: %s", srv->disk_off);
		return false;
	}
	img = xasprintf("%s/%s.img", srv->disks_dir, task_id(t));
	have = access(img, F_OK) == 0;
	free(img);
	/* (t->dir alone may be the empty mount point of a failed disk) */
	if (!have && (t->laid_out || access(t->home_dir, F_OK) == 0)) {
		t->disk_warn = xstrdup("disk limit not enforced: the task's "
				       "files were made without a disk image");
		return false;
	}
	return true;
}

/* The disk child of task id finished: launch, or fail the task, or
 * finish its delete (which waited for the mount to be done). */
static void
task_on_disk(int err, const char *cause, void *data)
{
	char *id = data;
	struct task *t = task_find_id(id);

	free(id);
	if (t == NULL)
		return;
	t->disk_busy = false;
	log_debug("task %s: disk ready %llu ms after the request", task_name(t),
		  (unsigned long long)(now_ms() - t->accepted_ms));
	if (t->st == TASK_STATE_DELETING) {
		task_finish_delete(t);
		return;
	}
	if (t->st != TASK_STATE_DISK) { /* no other move leaves disk */
		log_error("task %s: disk ready in state %s", task_name(t),
			  task_state_str(t->st));
		return;
	}
	if (err < 0) {
		log_warn("task %s: disk: %s", task_name(t), cause);
		task_fail(t, "cannot prepare the workspace's disk: %s", cause);
		return;
	}
	task_launch_ws(t);
}

/* Mount t's disk image (made at its first start) in a child, then start
 * the sandbox; without an image, start it at once. */
static void
task_launch(struct task *t)
{
	struct ws_limits l;
	int64_t disk;
	char *img, *id, *from = NULL, *cause = NULL;
	int r;

	task_limits(t, &l, &disk);
	if (!task_disk_note(t, disk)) {
		if (t->disk_warn != NULL)
			log_warn("task %s: %s", task_name(t), t->disk_warn);
		task_launch_ws(t);
		return;
	}
	img = xasprintf("%s/%s.img", srv->disks_dir, task_id(t));
	/* a new task takes a ready-made image when one of its size is
	 * there (a rename); else the child makes it */
	if (access(img, F_OK) < 0 && disk_pool_take(img, disk, &from) == 0)
		log_debug("task %s: disk from the pool", task_name(t));
	task_transition(t, TASK_STATE_DISK, "");
	id = xstrdup(task_id(t));
	r = disk_mount(srv->loop, img, t->dir, disk, srv->root ? t->uid : 0,
		       from, task_on_disk, id, &cause);
	free(img);
	free(from);
	if (r < 0) {
		free(id);
		task_fail(t, "cannot prepare the workspace's disk: %s", cause);
		free(cause);
		return;
	}
	t->disk_busy = true;
}

/* install.c's answer for a waiting task: launch it, or fail with why. */
static void
task_on_installed(const char *id, const char *cause)
{
	struct task *t = task_find_id(id);

	if (t == NULL || t->st != TASK_STATE_INSTALLING)
		return;
	if (cause != NULL) {
		task_fail(t, "installing the agent failed: %s", cause);
		return;
	}
	task_launch(t);
}

/* Install the module's agent (or wait for the install under way), then
 * launch t. */
static void
task_install(struct task *t, json_t *install)
{
	task_set_state(t, "working", "Installing the agent");
	task_transition(t, TASK_STATE_INSTALLING, "");
	install_start(install, task_id(t), task_on_installed);
}

/* Install the agent when its binary is missing, then launch t. */
void
task_install_or_launch(struct task *t)
{
	json_t *install = json_object_get(t->launch, "install");

	if (json_is_object(install) && !install_present(install))
		task_install(t, install);
	else
		task_launch(t);
}

/* Does the rendered launch (argv, env values, seeded files) mention s? */
static bool
launch_uses(json_t *launch, const char *s)
{
	json_t *v;
	const char *k;
	size_t i;

	json_array_foreach(json_object_get(launch, "argv"), i, v)
	{
		if (strstr(json_string_value(v) ?: "", s) != NULL)
			return true;
	}

	json_object_foreach(json_object_get(launch, "env"), k,
			    v) if (strstr(json_string_value(v) ?: "", s) !=
				   NULL) return true;
	json_array_foreach(
		json_object_get(launch, "files"), i,
		v) if (strstr(json_string_value(json_object_get(v, "content"))
				      ?: "",
			      s) != NULL) return true;
	return false;
}

/* The LLM pass-through's URL inside a workspace, into buf. */
static const char *
task_llm_url(char buf[64])
{
	snprintf(buf, 64, "http://127.0.0.1:%d", TASK_LLM_PORT);
	return buf;
}

/*
 * The error of a template whose agent needs an LLM and whose provider
 * name (NULL: 'default') does not exist: a new [{message, location}].
 */
static json_t *
task_no_provider(const char *name)
{
	char *msg = name ? xasprintf("the LLM provider '%s' does not exist "
				     "(taskbox provider list)",
				     name)
			 : xstrdup("the agent needs an LLM endpoint and this "
				   "server has no provider 'default': start "
				   "it with --llm-url URL (and --llm-key-file "
				   "FILE) or run taskbox provider set default");
	json_t *errors = json_pack("[{s:s, s:s}]", "message", msg, "location",
				   "agent.provider");

	free(msg);
	return errors;
}

/* module_render for a workspace of task_id ("" for a pre-check) with the
 * template's provider (agent.provider, else 'default'): new launch
 * object, or NULL with *errors. */
json_t *
task_module_render(json_t *module, json_t *tmpl, const char *task_id,
		   json_t **errors)
{
	struct module_ctx ctx = {0};
	char llm_url[64], proxy_url[64];
	const char *name = json_string_value(
		json_object_get(json_object_get(tmpl, "agent"), "provider"));
	struct provider *p = provider_get(name ? name : PROVIDER_DEFAULT);
	json_t *launch;

	snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d",
		 TASK_PROXY_PORT);
	ctx.home = TASK_HOME;
	ctx.workdir = TASK_WORKDIR;
	ctx.taskbox = TASK_BIN;
	ctx.llm_url = task_llm_url(llm_url);
	ctx.proxy_url = proxy_url;
	ctx.tools_dir = srv->tools_dir;
	ctx.task_id = task_id;
	if (p != NULL) {
		ctx.provider = p->name;
		ctx.provider_type = provider_type_name(p->type);
		ctx.region = p->region;
		ctx.project = p->project;
	}
	launch = module_render(module, tmpl, &ctx, errors);
	/* an agent that never reaches the LLM needs no provider */
	if (launch != NULL && p == NULL && launch_uses(launch, ctx.llm_url)) {
		json_decref(launch);
		launch = NULL;
		*errors = task_no_provider(name);
	}
	provider_unref(p);
	return launch;
}

int
task_precheck(json_t *version, json_t *module, const char *owner_id,
	      char **cause)
{
	json_t *tmpl = json_object_get(version, "spec_json");
	const char *name = json_string_value(json_object_get(version, "name"));
	const char *module_name = json_string_value(
		json_object_get(json_object_get(tmpl, "agent"), "module"));
	json_t *launch, *errors = NULL, *env = NULL, *files = NULL;

	if (task_sweep_pending(owner_id, json_string_value(json_object_get(
						 version, "id")))) {
		*cause = xasprintf("the %s is being deleted",
				   task_sweep_pending(owner_id, NULL)
					   ? "user"
					   : "template");
		return 409;
	}
	if (module == NULL) {
		*cause = xasprintf("template '%s' uses agent module '%s', "
				   "which does not exist (taskbox module "
				   "list)",
				   name, module_name ? module_name : "");
		return 400;
	}
	launch = task_module_render(module, tmpl, "", &errors);
	if (launch == NULL) {
		*cause = xasprintf(
			"the agent module '%s' cannot run template '%s': %s",
			module_name, name,
			json_string_value(json_object_get(
				json_array_get(errors, 0), "message"))
				?: "invalid options");
		json_decref(errors);
		return 400;
	}
	json_decref(launch);
	/* the secrets the workspace start will decrypt: there and open */
	if (identity_prepare(tmpl, owner_id,
			     json_string_value(json_object_get(version, "id")),
			     name, &env, &files, cause) < 0)
		return 400;
	identity_env_free(env);
	json_decref(files);
	return 0;
}

struct task *
task_start(json_t *row, json_t *tmpl_version, json_t *module_spec,
	   uint64_t accepted_ms)
{
	struct task *t = task_new(row, TASK_STATE_PENDING);
	json_t *errors = NULL;

	t->version = json_incref(tmpl_version);
	t->tmpl = json_incref(json_object_get(tmpl_version, "spec_json"));
	t->accepted_ms = accepted_ms;
	metrics_task_start();

	t->launch =
		task_module_render(module_spec, t->tmpl, task_id(t), &errors);
	task_set_state(t, "working", "Preparing workspace");
	if (t->launch == NULL) {
		json_t *first = json_array_get(errors, 0);

		task_fail(t, "the agent module cannot run this template: %s",
			  json_string_value(json_object_get(first, "message"))
				  ?: "invalid options");
		json_decref(errors);
		return t;
	}
	task_install_or_launch(t);
	return t;
}
