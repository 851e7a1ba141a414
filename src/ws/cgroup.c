/*
 * cgroup.c: per-workspace cgroups, v2 or v1, for limits and killing.
 *
 * Data model: a struct cgroup holds the directories of one workspace:
 * one on v2 (<own cgroup>/taskbox/<id>), up to three on v1
 * (/sys/fs/cgroup/{memory,pids,cpu}/taskbox/<id>). The child process of a
 * workspace joins them by writing "0" to each cgroup.procs before it
 * execs bubblewrap, so everything the workspace ever forks is inside,
 * including daemons that re-parent to init. Killing writes cgroup.kill
 * (v2) or SIGKILLs every pid listed (v1) until the cgroup is empty.
 */
#include "common.h"

#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "core/log.h"

#define CGROUP_FS	  "/sys/fs/cgroup"
#define CGROUP_CPU_PERIOD 100000 /* µs */
#define CGROUP_MAX_DIRS	  3

struct cgroup {
	enum cgroup_mode mode;
	char *dirs[CGROUP_MAX_DIRS];
	size_t n_dirs;
};

static bool cgroup_detected;
static enum cgroup_mode cgroup_mode_cached;
static char *cgroup_v2_base; /* <mount><own path> when v2 is usable */
static char *cgroup_where;

/* Read a small file into buf (NUL-terminated); length or -errno. */
static int
cgroup_read(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	close(fd);
	buf[n] = '\0';
	return (int)n;
}

/* Write a string to a cgroup file; 0 or -errno. */
static int
cgroup_write(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Write dir/file; 0 or -errno. */
static int
cgroup_set(const char *dir, const char *file, const char *value)
{
	char *path = xasprintf("%s/%s", dir, file);
	int r = cgroup_write(path, value);

	free(path);
	return r;
}

/* Does the space-separated list contain word? */
static bool
cgroup_has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n) {
		bool start = p == list || p[-1] == ' ';
		bool end = p[n] == '\0' || p[n] == ' ' || p[n] == '\n';

		if (start && end)
			return true;
	}
	return false;
}

/* Find this process's v2 cgroup directory, or NULL. */
static char *
cgroup_v2_self(void)
{
	char buf[4096], *line, *save = NULL, *mount = NULL;
	struct stat st;

	if (stat(CGROUP_FS "/cgroup.controllers", &st) == 0)
		mount = CGROUP_FS;
	else if (stat(CGROUP_FS "/unified/cgroup.controllers", &st) == 0)
		mount = CGROUP_FS "/unified";
	if (mount == NULL ||
	    cgroup_read("/proc/self/cgroup", buf, sizeof buf) < 0)
		return NULL;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "0::", 3) == 0)
			return xasprintf("%s%s", mount,
					 strcmp(line + 3, "/") == 0 ? ""
								    : line + 3);
	}
	return NULL;
}

enum cgroup_mode
cgroup_detect(const char **where)
{
	char buf[512];
	char *self;

	if (cgroup_detected)
		goto out;
	cgroup_detected = true;
	self = cgroup_v2_self();
	if (self != NULL) {
		char *ctl = xasprintf("%s/cgroup.controllers", self);
		bool ok = cgroup_read(ctl, buf, sizeof buf) >= 0 &&
			  cgroup_has_word(buf, "memory") &&
			  cgroup_has_word(buf, "pids") &&
			  access(self, W_OK) == 0;

		free(ctl);
		if (ok) {
			cgroup_v2_base = self;
			cgroup_mode_cached = CGROUP_V2;
			cgroup_where = xasprintf("%s/taskbox", self);
			goto out;
		}
		free(self);
	}
	if (access(CGROUP_FS "/memory/cgroup.procs", F_OK) == 0 &&
	    access(CGROUP_FS "/memory", W_OK) == 0) {
		cgroup_mode_cached = CGROUP_V1;
		cgroup_where = xstrdup(CGROUP_FS "/{memory,pids,cpu}/taskbox");
		goto out;
	}
	cgroup_mode_cached = CGROUP_NONE;
	cgroup_where = xstrdup(
		"no writable cgroup: v2 lacks the memory/pids controllers "
		"(check cgroup.controllers and cgroup.subtree_control of the "
		"server's cgroup) and " CGROUP_FS "/memory is not writable "
		"(run the server as root or delegate a cgroup to it)");
out:
	if (where != NULL)
		*where = cgroup_where;
	return cgroup_mode_cached;
}

const char *
cgroup_mode_name(enum cgroup_mode mode)
{
	switch (mode) {
	case CGROUP_V2:
		return "v2";
	case CGROUP_V1:
		return "v1";
	case CGROUP_NONE:
		break;
	}
	return "none";
}

/* mkdir that accepts an existing directory; 0 or -errno. */
static int
cgroup_mkdir(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Enable the controllers for the children of dir (v2); 0 or -errno. */
static int
cgroup_v2_delegate(const char *dir)
{
	char buf[512];
	char *path = xasprintf("%s/cgroup.controllers", dir);
	int r = cgroup_read(path, buf, sizeof buf);

	free(path);
	if (r < 0)
		return r;
	r = cgroup_set(dir, "cgroup.subtree_control", "+memory +pids");
	if (r == 0 && cgroup_has_word(buf, "cpu"))
		(void)cgroup_set(dir, "cgroup.subtree_control", "+cpu");
	return r;
}

/* Create <own>/taskbox/<id> on v2; the server moves itself into a leaf
 * when its own cgroup holds processes (the no-internal-process rule). */
static int
cgroup_v2_create(struct cgroup *cg, const char *id, char **cause)
{
	char *top = xasprintf("%s/taskbox", cgroup_v2_base);
	char *dir = xasprintf("%s/%s", top, id);
	int r;

	r = cgroup_v2_delegate(cgroup_v2_base);
	if (r == -EBUSY) {
		char *leaf = xasprintf("%s/server", cgroup_v2_base);
		char *procs = xasprintf("%s/cgroup.procs", leaf);

		r = cgroup_mkdir(leaf);
		if (r == 0)
			r = cgroup_write(procs, "0");
		free(procs);
		free(leaf);
		if (r == 0)
			r = cgroup_v2_delegate(cgroup_v2_base);
	}
	if (r == 0)
		r = cgroup_mkdir(top);
	if (r == 0)
		r = cgroup_v2_delegate(top);
	if (r == 0)
		r = cgroup_mkdir(dir);
	if (r < 0) {
		*cause = xasprintf("cannot create cgroup '%s': %s (check "
				   "cgroup.subtree_control of '%s')",
				   dir, strerror(-r), cgroup_v2_base);
		free(dir);
	} else {
		cg->dirs[cg->n_dirs++] = dir;
	}
	free(top);
	return r;
}

/* Create the v1 directory of one hierarchy, or NULL when it is absent. */
static char *
cgroup_v1_dir(const char *ctl, const char *id, int *err)
{
	char *hier = xasprintf(CGROUP_FS "/%s", ctl);
	char *top = xasprintf("%s/taskbox", hier);
	char *dir = NULL;
	int r;

	*err = 0;
	if (access(hier, W_OK) == 0) {
		r = cgroup_mkdir(top);
		if (r == 0) {
			dir = xasprintf("%s/%s", top, id);
			r = cgroup_mkdir(dir);
			if (r < 0) {
				free(dir);
				dir = NULL;
			}
		}
		*err = r;
	}
	free(top);
	free(hier);
	return dir;
}

/* Add a limit failure or absence to the warning text. */
static void
cgroup_warn(char **warn, const char *what)
{
	char *w = *warn == NULL ? xstrdup(what)
				: xasprintf("%s; %s", *warn, what);

	free(*warn);
	*warn = w;
}

/* Write the limits into the directories; 0 or -errno with *cause. */
static int
cgroup_apply(struct cgroup *cg, const struct ws_limits *lim, char **warn,
	     char **cause)
{
	const char *d = NULL, *file = NULL;
	char val[64] = "";
	int r = 0;

	for (size_t i = 0; i < cg->n_dirs; i++) {
		d = cg->dirs[i];
		bool v2 = cg->mode == CGROUP_V2;
		bool mem = v2 || strstr(d, "/memory/") != NULL;
		bool pids = v2 || strstr(d, "/pids/") != NULL;
		bool cpu = v2 || strstr(d, "/cpu/") != NULL;

		if (mem && lim->memory_bytes > 0) {
			snprintf(val, sizeof val, "%" PRId64,
				 lim->memory_bytes);
			file = v2 ? "memory.max" : "memory.limit_in_bytes";
			/* v1: memsw must stay >= the limit: lower it after */
			if ((r = cgroup_set(d, file, val)) < 0)
				goto fail;
			if (v2) {
				(void)cgroup_set(d, "memory.swap.max", "0");
			} else {
				char *sw = xasprintf(
					"%s/memory.memsw.limit_in_bytes", d);

				if (access(sw, F_OK) == 0 &&
				    (r = cgroup_write(sw, val)) < 0) {
					free(sw);
					file = "memory.memsw.limit_in_bytes";
					goto fail;
				}
				free(sw);
			}
		}
		if (pids && lim->pids > 0) {
			snprintf(val, sizeof val, "%" PRId64, lim->pids);
			file = "pids.max";
			if ((r = cgroup_set(d, file, val)) < 0)
				goto fail;
		}
		if (cpu && lim->cpu_millicores > 0) {
			int64_t quota = lim->cpu_millicores *
					(CGROUP_CPU_PERIOD / 1000);

			if (v2) {
				snprintf(val, sizeof val, "%" PRId64 " %d",
					 quota, CGROUP_CPU_PERIOD);
				file = "cpu.max";
				r = cgroup_set(d, file, val);
				if (r == -ENOENT) {
					cgroup_warn(warn, "cpu limit not "
							  "enforced (no cpu "
							  "controller in v2)");
					r = 0;
				} else if (r < 0) {
					goto fail;
				}
			} else {
				snprintf(val, sizeof val, "%d",
					 CGROUP_CPU_PERIOD);
				file = "cpu.cfs_period_us";
				if ((r = cgroup_set(d, file, val)) < 0)
					goto fail;
				snprintf(val, sizeof val, "%" PRId64, quota);
				file = "cpu.cfs_quota_us";
				if ((r = cgroup_set(d, file, val)) < 0)
					goto fail;
			}
		}
	}
	return 0;
fail:
	*cause = xasprintf("cannot write %s to '%s/%s': %s", val, d, file,
			   strerror(-r));
	return r;
}

int
cgroup_create(const char *id, const struct ws_limits *lim, struct cgroup **out,
	      char **warn, char **cause)
{
	enum cgroup_mode mode = cgroup_detect(NULL);
	struct cgroup *cg;
	int r;

	*out = NULL;
	if (mode == CGROUP_NONE)
		return 0;
	cg = xcalloc(1, sizeof *cg);
	cg->mode = mode;
	if (mode == CGROUP_V2) {
		r = cgroup_v2_create(cg, id, cause);
		if (r < 0)
			goto fail;
	} else {
		static const char *const ctls[] = {"memory", "pids", "cpu"};
		static const char *const missing[] = {
			"memory limit not enforced (no writable v1 memory "
			"hierarchy)",
			"pids limit not enforced (no writable v1 pids "
			"hierarchy)",
			"cpu limit not enforced (no writable v1 cpu "
			"hierarchy)"};

		for (size_t i = 0; i < ARRAY_SIZE(ctls); i++) {
			char *d = cgroup_v1_dir(ctls[i], id, &r);

			if (r < 0) {
				*cause = xasprintf(
					"cannot create cgroup " CGROUP_FS
					"/%s/taskbox/%s: %s",
					ctls[i], id, strerror(-r));
				goto fail;
			}
			if (d == NULL) {
				cgroup_warn(warn, missing[i]);
				continue;
			}
			cg->dirs[cg->n_dirs++] = d;
		}
		if (cg->n_dirs == 0) {
			cgroup_free(cg);
			return 0;
		}
	}
	r = cgroup_apply(cg, lim, warn, cause);
	if (r < 0)
		goto fail;
	*out = cg;
	return 0;
fail:
	(void)cgroup_remove(cg);
	cgroup_free(cg);
	return r;
}

int
cgroup_open_procs(const struct cgroup *cg, int *fds, size_t max, char **cause)
{
	size_t n = 0;

	for (size_t i = 0; i < cg->n_dirs && n < max; i++) {
		char *path = xasprintf("%s/cgroup.procs", cg->dirs[i]);
		int fd = open(path, O_WRONLY | O_CLOEXEC);

		if (fd < 0) {
			int e = -errno;

			*cause = xasprintf("cannot open '%s': %s", path,
					   strerror(errno));
			free(path);
			while (n > 0)
				close(fds[--n]);
			return e;
		}
		free(path);
		fds[n++] = fd;
	}
	return (int)n;
}

/* Count (and SIGKILL) the pids in dir/cgroup.procs; count or -errno. */
static int
cgroup_each_pid(const char *dir, bool kill_them)
{
	char *path = xasprintf("%s/cgroup.procs", dir);
	FILE *f = fopen(path, "re");
	int count = 0;
	long pid;

	free(path);
	if (f == NULL)
		return errno == ENOENT ? 0 : -errno;
	while (fscanf(f, "%ld", &pid) == 1) {
		count++;
		if (kill_them && pid > 0)
			kill((pid_t)pid, SIGKILL);
	}
	fclose(f);
	return count;
}

int
cgroup_kill(struct cgroup *cg)
{
	int total = 0;

	for (size_t i = 0; i < cg->n_dirs; i++) {
		int n;

		if (cg->mode == CGROUP_V2) {
			n = cgroup_each_pid(cg->dirs[i], false);
			if (n > 0 &&
			    cgroup_set(cg->dirs[i], "cgroup.kill", "1") == 0) {
				total += n;
				continue;
			}
		}
		n = cgroup_each_pid(cg->dirs[i], true);
		if (n < 0)
			return n;
		total += n;
	}
	return total;
}

int
cgroup_count(const struct cgroup *cg)
{
	int max = 0;

	/* the hierarchies hold the same processes; report the largest */
	for (size_t i = 0; i < cg->n_dirs; i++) {
		int n = cgroup_each_pid(cg->dirs[i], false);

		if (n < 0)
			return n;
		max = MAX(max, n);
	}
	return max;
}

int
cgroup_remove(struct cgroup *cg)
{
	int r = 0;

	for (size_t i = 0; i < cg->n_dirs; i++) {
		if (cg->dirs[i] != NULL && rmdir(cg->dirs[i]) < 0 &&
		    errno != ENOENT) {
			r = -errno;
			log_debug("rmdir %s: %s", cg->dirs[i], strerror(errno));
		}
	}
	return r;
}

void
cgroup_forget(const char *id)
{
	static const char *const ctls[] = {"memory", "pids", "cpu"};
	char *dirs[ARRAY_SIZE(ctls)] = {NULL};
	size_t n = 0;

	if (cgroup_detect(NULL) == CGROUP_V2) {
		dirs[n++] = xasprintf("%s/taskbox/%s", cgroup_v2_base, id);
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(ctls); i++)
			dirs[n++] = xasprintf(CGROUP_FS "/%s/taskbox/%s",
					      ctls[i], id);
	}
	for (size_t i = 0; i < n; i++) {
		int r = rmdir(dirs[i]);

		/* a process left behind (none, normally: the sandbox's pid
		 * namespace is gone) is killed; no waiting in the loop */
		if (r < 0 && errno == EBUSY) {
			(void)cgroup_each_pid(dirs[i], true);
			r = rmdir(dirs[i]);
		}
		if (r < 0 && errno != ENOENT)
			log_warn("cannot remove cgroup '%s': %s", dirs[i],
				 strerror(errno));
		free(dirs[i]);
	}
}

void
cgroup_free(struct cgroup *cg)
{
	if (cg == NULL)
		return;
	for (size_t i = 0; i < cg->n_dirs; i++)
		free(cg->dirs[i]);
	free(cg);
}
