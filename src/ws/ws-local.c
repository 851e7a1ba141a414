/*
 * ws-local.c: the local workspace backend: bubblewrap + seccomp + cgroups.
 *
 * State machine of one workspace: STARTING (forked child joins the
 * cgroups, drops to the task uid, execs bwrap; ws_local_start waits on a
 * close-on-exec pipe for the exec, so exec errors are synchronous: core/proc;
 * with ws_spec.start_async it does not wait, and a failure is a line in
 * the log and exit 127) →
 * RUNNING (bwrap's pidfd is watched in the loop) → EXITED (bwrap reaped,
 * on_exit called once). ws_kill may come at any point after start: it
 * SIGKILLs bwrap (whose pid-1 init dies with it, taking the whole pid
 * namespace) and empties the cgroup on a short timer until no process is
 * left, so daemons that re-parented out of the tree die too. ws_free
 * removes the cgroups.
 *
 * Layout inside: the host root read-only, fresh /dev and /proc, empty
 * tmpfs on /tmp /run /home /root and on every `hide` dir, the workspace's
 * own /etc/passwd, /etc/group and an empty /etc/gitconfig (spec->user),
 * then the spec's mounts (their mount points must be creatable: under a tmpfs
 * dir, or an existing file or dir). User 1000:1000 in a new user namespace, new
 * pid, ipc, uts, net (loopback only) and cgroup namespaces, no capabilities,
 * the seccomp filter of seccomp.c.
 */
#include "common.h"

#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/fdlimit.h"
#include "core/log.h"
#include "core/proc.h"
#include "ws/cgroup.h"
#include "ws/seccomp.h"
#include "ws/ws.h"

#define WS_INSIDE_UID	   "1000"
#define WS_ID_MAX	   64
#define WS_KILL_FAST_MS	   10
#define WS_KILL_FAST_TRIES 200 /* 2 s at 10 ms, then every 500 ms */
#define WS_KILL_SLOW_MS	   500
#define WS_FREE_WAIT_MS	   200

enum ws_stage {
	WS_STAGE_CGROUP = 1,
	WS_STAGE_MOUNTS,
	WS_STAGE_RLIMIT,
	WS_STAGE_SETGROUPS,
	WS_STAGE_SETGID,
	WS_STAGE_SETUID,
	WS_STAGE_FDS,
	WS_STAGE_EXEC,
};

static void ws_local_kill(struct ws *ws);
static size_t ws_children(pid_t pid, pid_t *out, size_t max);

struct ws {
	struct ws_head head; /* first: the backend (ws.c dispatches) */
	struct ev_loop *loop;
	ws_exit_cb on_exit;
	void *data;
	pid_t pid;
	struct proc *proc; /* bwrap */
	struct cgroup *cg;
	char *warn;
	bool exited;
	bool attached; /* not our child: taken over after a restart */
	int status;
	bool killing;
	unsigned kill_passes;
	struct ev_timer kill_timer;
};

/* The files of the workspace's own /etc (ws_spec.user): passwd, group
 * and the empty file over the host's gitconfig. */
#define WS_ETC_FILES 3
static const char *const ws_etc_paths[WS_ETC_FILES] = {
	"/etc/passwd", "/etc/group", "/etc/gitconfig"};

/* One of them: its data for bwrap to copy in (a memfd, -1 when the host
 * has no such file) and where it goes (the host file, links followed). */
struct ws_etc {
	int fd;
	char *dst;
};

/* Everything the forked child needs, prepared before fork. */
struct ws_child {
	const char *bwrap;
	char **argv;
	char *const *env;
	int procs_fds[3];
	size_t n_procs;
	int devnull;
	int log_fd;
	int seccomp_fd;
	const int *keep_fds;
	size_t n_keep;
	bool drop;
	uid_t uid;
	gid_t gid;
	pid_t parent;
	bool detach;  /* no PDEATHSIG: the workspace outlives the server */
	bool async;   /* ws_spec.start_async: failures go to log_fd */
	rlim_t nproc; /* 0: leave */
	rlim_t data;  /* 0: leave */
	const char *mounts_dir; /* see ws_spec */
	const char *keep_mount;
	struct ws_etc etc[WS_ETC_FILES]; /* ws_etc_files */
};

/* A growable argv whose strings it owns. */
struct ws_argv {
	char **v;
	size_t n, cap;
};

/* Append copies of the given strings (NULL-terminated list). */
static void
ws_argv_add(struct ws_argv *a, ...)
{
	va_list ap;
	const char *s;

	va_start(ap, a);
	while ((s = va_arg(ap, const char *)) != NULL) {
		if (a->n + 2 > a->cap) {
			a->cap = a->cap ? a->cap * 2 : 64;
			a->v = xreallocarray(a->v, a->cap, sizeof *a->v);
		}
		a->v[a->n++] = xstrdup(s);
		a->v[a->n] = NULL;
	}
	va_end(ap);
}

/* Free the strings and the array. */
static void
ws_argv_free(struct ws_argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
}

/* The bwrap to run: $TASKBOX_BWRAP or "bwrap", searched in PATH; a new
 * string, or NULL with *cause. */
static char *
ws_find_bwrap(char **cause)
{
	const char *name = getenv("TASKBOX_BWRAP");
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, *found = NULL;

	if (name == NULL || *name == '\0')
		name = "bwrap";
	if (strchr(name, '/') != NULL)
		return xstrdup(name);
	copy = xstrdup(path != NULL ? path : "/usr/local/bin:/usr/bin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir != NULL && found == NULL;
	     dir = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", *dir ? dir : ".", name);

		if (access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(copy);
	if (found == NULL)
		*cause = xasprintf("cannot find '%s' in PATH (install the "
				   "bubblewrap package, or set TASKBOX_BWRAP "
				   "to its path)",
				   name);
	return found;
}

/* Is id usable as a cgroup directory name? */
static bool
ws_id_valid(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0;

	if (n == 0 || n > WS_ID_MAX || id[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return false;
	}
	return true;
}

/* Check the spec; 0 or -EINVAL with *cause. */
static int
ws_spec_check(const struct ws_spec *spec, char **cause)
{
	if (!ws_id_valid(spec->id)) {
		*cause = xasprintf("invalid workspace id '%s' (1-%d of "
				   "[A-Za-z0-9._-])",
				   spec->id ? spec->id : "", WS_ID_MAX);
		return -EINVAL;
	}
	if (spec->argv == NULL || spec->argv[0] == NULL) {
		*cause = xstrdup("no command to run in the workspace");
		return -EINVAL;
	}
	for (size_t i = 0; i < spec->n_mounts; i++) {
		const struct ws_mount *m = &spec->mounts[i];

		if (m->src == NULL || m->dst == NULL || m->dst[0] != '/') {
			*cause = xasprintf("mount %zu: source and absolute "
					   "destination needed",
					   i);
			return -EINVAL;
		}
	}
	if (spec->user != NULL &&
	    (spec->home == NULL || spec->home[0] != '/' ||
	     spec->user[0] == '\0' || strpbrk(spec->user, ":\n/") != NULL ||
	     strpbrk(spec->home, ":\n") != NULL)) {
		*cause = xstrdup("the workspace user needs a name and an "
				 "absolute home without ':' or newlines");
		return -EINVAL;
	}
	for (size_t i = 0; i < spec->n_hide; i++) {
		if (spec->hide[i] == NULL || spec->hide[i][0] != '/') {
			*cause = xasprintf("hide %zu: absolute path needed", i);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < spec->n_keep_fds; i++) {
		if (spec->keep_fds[i] < 3 ||
		    fcntl(spec->keep_fds[i], F_GETFD) < 0) {
			*cause = xasprintf("keep fd %d: not an open fd >= 3",
					   spec->keep_fds[i]);
			return -EBADF;
		}
	}
	return 0;
}

/* A memfd (>= 3, close-on-exec) holding text, positioned at its start;
 * the fd or -errno. */
static int
ws_text_memfd(const char *name, const char *text)
{
	int fd = memfd_create(name, MFD_CLOEXEC), hi, r;

	if (fd < 0)
		return -errno;
	if (fd < 3) {
		hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		r = -errno;
		close(fd);
		if (hi < 0)
			return r;
		fd = hi;
	}
	if (write_all(fd, text, strlen(text)) < 0 ||
	    lseek(fd, 0, SEEK_SET) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/*
 * The workspace's own /etc/passwd and /etc/group for spec->user, and an
 * empty gitconfig, in etc (bwrap copies each into the sandbox); 0 or
 * -errno with *cause. The host's accounts (uid 1000 is someone's there)
 * and its system-wide git settings stay outside. A file the host lacks
 * needs no hiding (and bwrap could not create it on the read-only root):
 * it gets no memfd, so no descriptor goes in unnamed. A link is followed
 * from here, since bwrap would follow an absolute one from outside the
 * new root and fail.
 */
static int
ws_etc_files(const struct ws_spec *spec, struct ws_etc etc[WS_ETC_FILES],
	     char **cause)
{
	char *text[WS_ETC_FILES];
	struct stat st;
	int r = 0;

	text[0] = xasprintf("root:x:0:0:root:/root:/bin/sh\n"
			    "%s:x:%s:%s:%s:%s:/bin/bash\n"
			    "nobody:x:65534:65534:nobody:/nonexistent:"
			    "/usr/sbin/nologin\n",
			    spec->user, WS_INSIDE_UID, WS_INSIDE_UID,
			    spec->user, spec->home);
	text[1] = xasprintf("root:x:0:\n%s:x:%s:\nnogroup:x:65534:\n",
			    spec->user, WS_INSIDE_UID);
	text[2] = xstrdup("");
	for (size_t i = 0; i < WS_ETC_FILES; i++) {
		char *dst = realpath(ws_etc_paths[i], NULL);

		etc[i] = (struct ws_etc){-1, NULL};
		if (r == 0 && dst != NULL && stat(dst, &st) == 0 &&
		    S_ISREG(st.st_mode)) {
			etc[i].fd = ws_text_memfd("taskbox-etc", text[i]);
			if (etc[i].fd < 0) {
				r = etc[i].fd;
			} else {
				etc[i].dst = dst;
				dst = NULL;
			}
		}
		free(dst);
		free(text[i]);
	}
	if (r < 0)
		*cause = xasprintf("cannot prepare the workspace's /etc: %s",
				   strerror(-r));
	return r;
}

/* Close and free what ws_etc_files made. */
static void
ws_etc_free(struct ws_etc etc[WS_ETC_FILES])
{
	for (size_t i = 0; i < WS_ETC_FILES; i++) {
		if (etc[i].fd >= 0)
			close(etc[i].fd);
		free(etc[i].dst);
		etc[i] = (struct ws_etc){-1, NULL};
	}
}

/* Build bwrap's command line. */
static void
ws_build_argv(struct ws_argv *a, const char *bwrap, const struct ws_spec *spec,
	      int seccomp_fd, const struct ws_etc etc[WS_ETC_FILES])
{
	char fdbuf[16];
	struct stat st;

	if (!spec->detach)
		ws_argv_add(a, bwrap, "--die-with-parent", NULL);
	else
		ws_argv_add(a, bwrap, NULL);
	ws_argv_add(a, "--new-session", "--unshare-user", "--unshare-pid",
		    "--unshare-ipc", "--unshare-uts", "--unshare-net",
		    "--unshare-cgroup-try", "--cap-drop", "ALL", "--uid",
		    WS_INSIDE_UID, "--gid", WS_INSIDE_UID, "--hostname",
		    spec->hostname ? spec->hostname : "taskbox", NULL);
	ws_argv_add(a, "--ro-bind", "/", "/", "--dev", "/dev", "--proc",
		    "/proc", "--tmpfs", "/tmp", "--tmpfs", "/run", "--tmpfs",
		    "/home", "--tmpfs", "/root", NULL);
	for (size_t i = 0; i < spec->n_hide; i++) {
		/* a missing dir has nothing to hide, and bwrap could not
		 * create its mount point on the read-only root */
		if (stat(spec->hide[i], &st) == 0 && S_ISDIR(st.st_mode))
			ws_argv_add(a, "--tmpfs", spec->hide[i], NULL);
	}
	for (size_t i = 0; i < WS_ETC_FILES; i++) {
		if (etc[i].fd < 0)
			continue;
		snprintf(fdbuf, sizeof fdbuf, "%d", etc[i].fd);
		ws_argv_add(a, "--perms", "0644", "--ro-bind-data", fdbuf,
			    etc[i].dst, NULL);
	}
	snprintf(fdbuf, sizeof fdbuf, "%d", seccomp_fd);
	for (size_t i = 0; i < spec->n_mounts; i++) {
		const struct ws_mount *m = &spec->mounts[i];

		ws_argv_add(a, m->ro ? "--ro-bind" : "--bind", m->src, m->dst,
			    NULL);
	}
	ws_argv_add(a, "--chdir", spec->chdir ? spec->chdir : "/", "--seccomp",
		    fdbuf, "--", NULL);
	for (size_t i = 0; spec->argv[i] != NULL; i++)
		ws_argv_add(a, spec->argv[i], NULL);
}

/* Mark fd to survive exec. */
static int
ws_keep(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

/* Lower a resource limit to v (never above the hard limit). */
static int
ws_lower_rlimit(int res, rlim_t v)
{
	struct rlimit rl;

	if (getrlimit(res, &rl) < 0)
		return -1;
	if (rl.rlim_max != RLIM_INFINITY && v > rl.rlim_max)
		v = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = v;
	return setrlimit(res, &rl);
}

/* Decode mountinfo's octal escapes (\040 for a space...) in place. */
static void
ws_unescape(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
				      (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* In the forked child: a private mount namespace in which every mount
 * below dir but keep (and what is below keep) is detached; 0 or -1. The
 * list is read once the namespace is ours: a mount made meanwhile by
 * another task's start is in it, and goes too. The server is
 * single-threaded, so stdio is safe here. */
static int
ws_child_mounts(const char *dir, const char *keep)
{
	size_t dn = strlen(dir), kn = keep ? strlen(keep) : 0, n = 0, cap = 0;
	char *line = NULL, **list = NULL;
	size_t lcap = 0;
	FILE *f;

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		return -1;
	while (getline(&line, &lcap, f) > 0) {
		char *save = NULL, *mp = strtok_r(line, " ", &save);

		/* id parent major:minor root MOUNTPOINT ... */
		for (int i = 0; i < 4 && mp != NULL; i++)
			mp = strtok_r(NULL, " ", &save);
		if (mp == NULL)
			continue;
		ws_unescape(mp);
		if (strncmp(mp, dir, dn) != 0 || mp[dn] != '/')
			continue;
		if (keep != NULL && strncmp(mp, keep, kn) == 0 &&
		    (mp[kn] == '\0' || mp[kn] == '/'))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			list = xreallocarray(list, cap, sizeof *list);
		}
		list[n++] = xstrdup(mp);
	}
	free(line);
	fclose(f);
	/* detached: gone from this namespace, and from the sandbox's that
	 * copies it */
	for (size_t i = 0; i < n; i++) {
		(void)umount2(list[i], MNT_DETACH);
		free(list[i]);
	}
	free(list);
	return 0;
}

static char *ws_child_cause(const struct ws_child *c, int stage, int err);

/* In the forked child: fail at stage with err; with c->async, the
 * cause is first written as the last line of the log (the task's
 * reason), since nobody waits on proc's pipe. */
NORETURN static void
ws_child_fail(const struct ws_child *c, int stage, int err)
{
	if (c->async && c->log_fd >= 0) {
		/* single-threaded server: malloc is safe in its child */
		char *why = ws_child_cause(c, stage, err);

		(void)!dprintf(c->log_fd, "taskbox: %s\n", why);
	}
	proc_child_fail(stage, err);
}

/* In the forked child (proc_spawn made its session): join the cgroups,
 * drop privileges, exec bwrap. Only async-signal-safe calls but for
 * ws_child_mounts and ws_child_fail. */
static int
ws_child_run(void *arg)
{
	const struct ws_child *c = arg;
	int logfd = c->log_fd >= 0 ? c->log_fd : c->devnull;

	for (size_t i = 0; i < c->n_procs; i++) {
		if (write(c->procs_fds[i], "0", 1) != 1)
			ws_child_fail(c, WS_STAGE_CGROUP, errno);
	}
	if (c->mounts_dir != NULL &&
	    ws_child_mounts(c->mounts_dir, c->keep_mount) < 0)
		ws_child_fail(c, WS_STAGE_MOUNTS, errno);
	if (c->nproc > 0 && ws_lower_rlimit(RLIMIT_NPROC, c->nproc) < 0)
		ws_child_fail(c, WS_STAGE_RLIMIT, errno);
	if (c->data > 0 && ws_lower_rlimit(RLIMIT_DATA, c->data) < 0)
		ws_child_fail(c, WS_STAGE_RLIMIT, errno);
	if (c->drop) {
		if (setgroups(0, NULL) < 0)
			ws_child_fail(c, WS_STAGE_SETGROUPS, errno);
		if (setgid(c->gid) < 0)
			ws_child_fail(c, WS_STAGE_SETGID, errno);
		if (setuid(c->uid) < 0)
			ws_child_fail(c, WS_STAGE_SETUID, errno);
	}
	/* after setuid, which clears it */
	if (!c->detach) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != c->parent)
			_exit(127);
	}
	if (dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0 || dup2(c->devnull, 0) < 0)
		ws_child_fail(c, WS_STAGE_FDS, errno);
	/* nothing of the server leaks in but what the spec passes */
	(void)close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (ws_keep(c->seccomp_fd) < 0)
		ws_child_fail(c, WS_STAGE_FDS, errno);
	for (size_t i = 0; i < WS_ETC_FILES; i++) {
		if (c->etc[i].fd >= 0 && ws_keep(c->etc[i].fd) < 0)
			ws_child_fail(c, WS_STAGE_FDS, errno);
	}
	for (size_t i = 0; i < c->n_keep; i++) {
		if (ws_keep(c->keep_fds[i]) < 0)
			ws_child_fail(c, WS_STAGE_FDS, errno);
	}
	/* the server's raised limit of open files is not the sandbox's */
	fdlimit_restore_child();
	execve(c->bwrap, c->argv, c->env);
	ws_child_fail(c, WS_STAGE_EXEC, errno);
	return 0;
}

/* Turn a child failure into a message that says what to check. */
static char *
ws_child_cause(const struct ws_child *c, int stage, int err)
{
	const char *msg = strerror(err);

	switch (stage) {
	case WS_STAGE_CGROUP:
		return xasprintf("cannot join the workspace cgroup: %s", msg);
	case WS_STAGE_MOUNTS:
		return xasprintf("cannot make the workspace's mount "
				 "namespace: %s",
				 msg);
	case WS_STAGE_RLIMIT:
		return xasprintf("cannot set the fallback rlimits: %s", msg);
	case WS_STAGE_SETGROUPS:
		return xasprintf("setgroups: %s", msg);
	case WS_STAGE_SETGID:
		return xasprintf("setgid(%u): %s", (unsigned)c->gid, msg);
	case WS_STAGE_SETUID:
		return xasprintf("setuid(%u): %s", (unsigned)c->uid, msg);
	case WS_STAGE_FDS:
		return xasprintf("cannot set up the sandbox fds: %s", msg);
	case WS_STAGE_EXEC:
		return xasprintf("cannot run '%s': %s%s", c->bwrap, msg,
				 err == ENOENT
					 ? " (install the bubblewrap package, "
					   "or set TASKBOX_BWRAP to its path)"
					 : "");
	}
	return xasprintf("workspace start failed: %s", msg);
}

/* Finish the kill once the cgroup is empty; else retry on a timer. */
static void
ws_kill_pass(void *data)
{
	struct ws *ws = data;
	int n;

	if (ws->cg == NULL) {
		ws->killing = false;
		return;
	}
	n = cgroup_kill(ws->cg);
	if (n == 0 || (n < 0 && n != -EINTR)) {
		if (n < 0)
			log_warn("workspace %d: cannot kill its cgroup: %s",
				 (int)ws->pid, strerror(-n));
		ws->killing = false;
		return;
	}
	ws->kill_passes++;
	if (ws->kill_passes == WS_KILL_FAST_TRIES)
		log_warn("workspace %d: %d processes survive SIGKILL after "
			 "%u passes; still trying",
			 (int)ws->pid, n, ws->kill_passes);
	ev_timer_start(ws->loop, &ws->kill_timer,
		       now_ms() + (ws->kill_passes < WS_KILL_FAST_TRIES
					   ? WS_KILL_FAST_MS
					   : WS_KILL_SLOW_MS));
}

/* bwrap exited (reaped, unless attached): report the exit. */
static void
ws_on_exit(struct proc *p UNUSED, int status, void *data)
{
	struct ws *ws = data;

	ws->exited = true;
	ws->status = status;
	/* daemons that left bwrap's tree but not the cgroup go too */
	if (ws->cg != NULL && !ws->killing && cgroup_count(ws->cg) > 0)
		ws_local_kill(ws);
	ws->on_exit(ws, status, ws->data); /* may free ws */
}

struct ws *
ws_local_start(struct ev_loop *loop, const struct ws_spec *spec,
	       ws_exit_cb on_exit, void *data, char **cause)
{
	struct ws_child c = {.devnull = -1,
			     .seccomp_fd = -1,
			     .etc = {{-1, NULL}, {-1, NULL}, {-1, NULL}}};
	struct proc_spec ps = {
		.fn = ws_child_run, .arg = &c, .flags = PROC_SESSION};
	struct ws_argv args = {0};
	struct ws *ws = NULL;
	char *bwrap = NULL, *pcause = NULL;
	int r, stage;

	if (ws_spec_check(spec, cause) < 0)
		return NULL;
	bwrap = ws_find_bwrap(cause);
	if (bwrap == NULL)
		return NULL;
	ws = xcalloc(1, sizeof *ws);
	ws->head.backend = &ws_local_backend;
	ws->loop = loop;
	ws->on_exit = on_exit;
	ws->data = data;
	ev_timer_init(&ws->kill_timer, ws_kill_pass, ws);

	r = cgroup_create(spec->id, &spec->limits, &ws->cg, &ws->warn, cause);
	if (r < 0)
		goto fail;
	if (ws->cg != NULL) {
		r = cgroup_open_procs(ws->cg, c.procs_fds,
				      ARRAY_SIZE(c.procs_fds), cause);
		if (r < 0)
			goto fail;
		c.n_procs = (size_t)r;
	} else {
		const struct ws_limits *l = &spec->limits;
		char *w = NULL;

		/* no cgroup: rlimits where they mean something */
		c.nproc = (rlim_t)MAX(l->pids, 0);
		/* no RLIMIT_DATA: it caps each process's address space
		 * reservations (ASan, JITs reserve terabytes) and not the
		 * workspace's total; better say the limit is not there */
		c.data = 0;
		if (l->pids > 0 || l->memory_bytes > 0 || l->cpu_millicores > 0)
			w = xasprintf("no cgroup usable: %s%s%s%s",
				      l->pids > 0
					      ? "pids limited by RLIMIT_NPROC "
						"(counts every process of the "
						"uid); "
					      : "",
				      l->memory_bytes > 0
					      ? "memory limit not enforced; "
					      : "",
				      l->cpu_millicores > 0 ? "cpu limit not "
							      "enforced; "
							    : "",
				      "workspace-wide kill relies on the pid "
				      "namespace only");
		free(ws->warn);
		ws->warn = w;
	}

	c.seccomp_fd = ws_seccomp_memfd(cause);
	if (c.seccomp_fd < 0) {
		r = c.seccomp_fd;
		goto fail;
	}
	c.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (c.devnull < 0) {
		r = -errno;
		*cause = xasprintf("cannot prepare the workspace start: %s",
				   strerror(errno));
		goto fail;
	}
	if (spec->user != NULL && (r = ws_etc_files(spec, c.etc, cause)) < 0)
		goto fail;
	ws_build_argv(&args, bwrap, spec, c.seccomp_fd, c.etc);
	c.bwrap = bwrap;
	c.argv = args.v;
	c.env = spec->env;
	if (c.env == NULL) {
		static char *const empty[] = {NULL};

		c.env = empty;
	}
	c.log_fd = spec->log_fd;
	c.keep_fds = spec->keep_fds;
	c.n_keep = spec->n_keep_fds;
	c.drop = geteuid() == 0 && spec->uid != 0;
	c.uid = spec->uid;
	c.gid = spec->gid != 0 ? spec->gid : (gid_t)spec->uid;
	c.parent = getpid();
	c.detach = spec->detach;
	c.async = spec->start_async;
	if (c.async)
		ps.flags |= PROC_ASYNC;
	if (geteuid() == 0 && spec->mounts_dir != NULL) {
		c.mounts_dir = spec->mounts_dir;
		c.keep_mount = spec->keep_mount;
	}
	ps.argv = args.v; /* names bwrap in proc's causes */
	r = proc_spawn(&ps, &ws->proc, &stage, &pcause);
	if (r < 0) {
		if (stage != 0) {
			*cause = ws_child_cause(&c, stage, -r);
			free(pcause);
		} else {
			*cause = pcause;
		}
		goto fail;
	}
	ws->pid = proc_pid(ws->proc);
	proc_watch(ws->proc, loop, ws_on_exit, ws);
	if (ws->warn != NULL)
		log_warn("workspace %s: %s", spec->id, ws->warn);
	r = 0;

fail:
	for (size_t i = 0; i < c.n_procs; i++)
		close(c.procs_fds[i]);
	if (c.seccomp_fd >= 0)
		close(c.seccomp_fd);
	ws_etc_free(c.etc);
	if (c.devnull >= 0)
		close(c.devnull);
	ws_argv_free(&args);
	free(bwrap);
	if (r < 0) {
		if (ws->cg != NULL) {
			(void)cgroup_kill(ws->cg);
			(void)cgroup_remove(ws->cg);
			cgroup_free(ws->cg);
		}
		free(ws->warn);
		free(ws);
		return NULL;
	}
	return ws;
}

static void
ws_local_kill(struct ws *ws)
{
	pid_t init;

	if (!ws->exited) {
		/* bwrap's pid-1 init first: its death ends the pid
		 * namespace, and it does not always die with bwrap (an
		 * unprivileged server's sandbox: no PDEATHSIG survives the
		 * credential change, and no cgroup holds it). Not when
		 * attached: the pid may be reused */
		if (!ws->attached && ws_children(ws->pid, &init, 1) == 1)
			(void)kill(init, SIGKILL);
		/* then bwrap's group (not when attached), else bwrap itself
		 * through the pidfd */
		(void)proc_kill(ws->proc, SIGKILL);
	}
	if (ws->cg != NULL && !ws->killing) {
		ws->killing = true;
		ws->kill_passes = 0;
		ws_kill_pass(ws);
	}
}

/* The children of pid, from /proc (at most max); how many. */
static size_t
ws_children(pid_t pid, pid_t *out, size_t max)
{
	char path[64];
	size_t n = 0;
	long c;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid,
		 (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	while (n < max && fscanf(f, "%ld", &c) == 1)
		if (c > 0 && c <= INT32_MAX)
			out[n++] = (pid_t)c;
	fclose(f);
	return n;
}

/* The innermost pid of a process (its pid in its own namespace), or -1. */
static long
ws_inner_pid(pid_t pid)
{
	char path[64], line[256];
	long inner = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		char *last;

		if (strncmp(line, "NSpid:", 6) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		last = strrchr(line, '\t');
		if (last == NULL ||
		    parse_long(last + 1, 1, INT32_MAX, &inner) < 0)
			inner = -1;
		break;
	}
	fclose(f);
	return inner;
}

/*
 * The runtime: the child of bwrap's init (its pid 1) that is pid
 * WS_RUNTIME_NSPID of the sandbox (orphans that init reaped are children
 * too). Pinned by a pidfd opened before the check, alive after it, so the
 * check saw that process and not a recycled pid.
 */
static int
ws_local_runtime_pidfd(struct ws *ws, pid_t *pid)
{
	pid_t init[1], kids[64];
	size_t n;

	if (ws->exited || ws_children(ws->pid, init, 1) != 1)
		return -1;
	n = ws_children(init[0], kids, ARRAY_SIZE(kids));
	for (size_t i = 0; i < n; i++) {
		int fd = (int)syscall(SYS_pidfd_open, kids[i], 0);

		if (fd < 0)
			continue;
		if (ws_inner_pid(kids[i]) == WS_RUNTIME_NSPID &&
		    syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0) == 0) {
			*pid = kids[i];
			return fd;
		}
		close(fd);
	}
	return -1;
}

static pid_t
ws_local_pid(struct ws *ws)
{
	return ws->pid;
}

static int
ws_local_count_procs(struct ws *ws)
{
	if (ws->cg == NULL)
		return -ENOTSUP;
	return cgroup_count(ws->cg);
}

static const char *
ws_local_warnings(struct ws *ws)
{
	return ws->warn;
}

static void
ws_local_free(struct ws *ws)
{
	uint64_t end;

	if (ws == NULL)
		return;
	if (!ws->exited)
		ws_local_kill(ws);
	proc_free(ws->proc); /* reaps bwrap; an attached one is not ours */
	ev_timer_stop(ws->loop, &ws->kill_timer);
	if (ws->cg != NULL) {
		/* dying processes leave the cgroup within a few ms */
		end = now_ms() + WS_FREE_WAIT_MS;
		while (cgroup_kill(ws->cg) > 0 && now_ms() < end)
			usleep(1000);
		if (cgroup_remove(ws->cg) < 0)
			log_warn("workspace %d: its cgroup is not empty and "
				 "stays behind",
				 (int)ws->pid);
		cgroup_free(ws->cg);
	}
	free(ws->warn);
	free(ws);
}

/* Run path arg and return its first line of output (new string) or
 * NULL. */
static char *
ws_first_line(const char *path, const char *arg)
{
	char *argv[] = {(char *)path, (char *)arg, NULL}, *cause = NULL;
	struct proc_spec spec = {.argv = argv};
	struct proc *p = NULL;
	char buf[256];
	int fds[2], status = -1;
	size_t n = 0;
	ssize_t k;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return NULL;
	spec.fd_out = fds[1];
	(void)proc_spawn(&spec, &p, NULL, &cause);
	close(fds[1]);
	while (p != NULL && n < sizeof buf - 1 &&
	       (k = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)k;
	close(fds[0]);
	free(cause);
	if (p == NULL || proc_reap(p, true, &status) != 1 || status != 0) {
		proc_free(p);
		return NULL;
	}
	proc_free(p);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return xstrdup(buf);
}

char *
ws_local_probe(void)
{
	char *cause = NULL, *scause = NULL, *bwrap, *ver = NULL, *out;
	const char *where, *seccomp;
	enum cgroup_mode mode = cgroup_detect(&where);
	char userns[32] = "?";
	FILE *f;
	int fd;

	bwrap = ws_find_bwrap(&cause);
	if (bwrap != NULL)
		ver = ws_first_line(bwrap, "--version");
	f = fopen("/proc/sys/user/max_user_namespaces", "re");
	if (f != NULL) {
		if (fgets(userns, sizeof userns, f) != NULL)
			userns[strcspn(userns, "\n")] = '\0';
		fclose(f);
	}
	fd = ws_seccomp_memfd(&scause);
	seccomp = fd >= 0 ? ws_seccomp_describe() : scause;
	out = xasprintf(
		"bwrap: %s (%s)\n"
		"user namespaces: user.max_user_namespaces = %s%s\n"
		"cgroup: %s (%s)\n"
		"seccomp: %s\n"
		"server uid: %u%s\n",
		bwrap ? bwrap : "missing",
		ver	? ver
		: cause ? cause
			: "?",
		userns,
		strcmp(userns, "0") == 0 ? " (sandboxes cannot start: raise "
					   "it with sysctl)"
					 : "",
		cgroup_mode_name(mode), where, seccomp ? seccomp : "?",
		(unsigned)geteuid(),
		geteuid() == 0 ? " (sandboxes run as the task uid)"
			       : " (limits need a writable cgroup; else "
				 "rlimits)");
	if (fd >= 0)
		close(fd);
	free(cause);
	free(scause);
	free(ver);
	free(bwrap);
	return out;
}

/* Take over the detached workspace id whose bwrap is pid. */
static struct ws *
ws_local_attach(struct ev_loop *loop, const char *id, pid_t pid,
		const struct ws_limits *limits, ws_exit_cb on_exit, void *data,
		char **cause)
{
	struct ws *ws = xcalloc(1, sizeof *ws);
	char *warn = NULL, *pcause = NULL;
	int r;

	ws->head.backend = &ws_local_backend;
	ws->loop = loop;
	ws->on_exit = on_exit;
	ws->data = data;
	ws->pid = pid;
	ws->attached = true;
	ev_timer_init(&ws->kill_timer, ws_kill_pass, ws);
	/* not our child: its exit is watched, never reaped */
	r = proc_open(pid, false, false, &ws->proc, &pcause);
	if (r < 0) {
		*cause = xasprintf("workspace %s (pid %d) is gone: %s", id,
				   (int)pid, strerror(-r));
		free(pcause);
		free(ws);
		return NULL;
	}
	/* the same cgroups again (they exist: mkdir is a no-op) */
	if (cgroup_create(id, limits, &ws->cg, &warn, cause) < 0) {
		proc_free(ws->proc);
		free(ws);
		return NULL;
	}
	ws->warn = warn;
	proc_watch(ws->proc, loop, ws_on_exit, ws);
	return ws;
}

const struct ws_backend ws_local_backend = {
	.name = "local",
	.start = ws_local_start,
	.attach = ws_local_attach,
	.kill = ws_local_kill,
	.free = ws_local_free,
	.pid = ws_local_pid,
	.runtime_pidfd = ws_local_runtime_pidfd,
	.count_procs = ws_local_count_procs,
	.warnings = ws_local_warnings,
	.probe = ws_local_probe,
	.forget = cgroup_forget,
};
