/*
 * disk.c: per-task disk images (see disk.h).
 *
 * Data model: an image is a file DATA/disks/<id>.img, allocated in full
 * (fallocate: the host's disk cannot be overcommitted), holding an ext4
 * filesystem, mounted on DATA/tasks/<id> through a loop device with
 * LO_FLAGS_AUTOCLEAR (the device goes away with the last unmount). The
 * mount is the state: "mounted" is read from the directory (its device
 * differs from its parent's), so a server restarted after a crash finds
 * the mounts of its tasks as they were and nothing is recorded twice.
 *
 * Each operation is one forked child (struct disk_child, started by
 * core/proc from a struct disk_work) that does the blocking work and
 * writes a one-line cause to a pipe when it fails; the loop watches its
 * pidfd, reads the cause and calls the callback. The
 * child of disk_remove execs its follow-up (rm -rf of the task dir) so
 * the unmount is done before anything is removed.
 *
 * The pool (struct disk_pool, one per process) keeps a few formatted
 * images of the common size, named N.img once complete (tmp-N while
 * mke2fs runs), so the start of a task does not wait for mke2fs.
 */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/log.h"
#include "core/proc.h"
#include "ws/disk.h"

#define DISK_CAUSE_MAX	   512
#define DISK_TIMEOUT_MS	   120000 /* making and mounting one image */
#define DISK_POOL_DELAY_MS 300
#define DISK_LOOP_TRIES	   16
#define DISK_MKE2FS	   "mke2fs"

/* The pool of ready images. */
struct disk_pool {
	struct ev_loop *loop;
	char *dir;
	int64_t bytes;
	unsigned want;
	unsigned *ready; /* numbers of the ready images (a stack) */
	unsigned n_ready;
	unsigned next; /* number of the next image made */
	bool making;
	struct proc *proc;	/* the child making one, when making */
	struct ev_timer refill; /* a while after a take */
};

static struct disk_pool disk_pool;

static void disk_pool_fill(void);

/* What one child does, prepared before the fork: body runs in the
 * child and exits; errfd is the write end of the cause pipe there. */
struct disk_work {
	void (*body)(const struct disk_work *w) __attribute__((noreturn));
	const char *img, *mnt, *from, *dir;
	int64_t bytes;
	uid_t uid;
	unsigned n; /* a pool image's number */
	char *const *then;
	bool pdeathsig; /* a cache: not worth outliving the server */
	int errfd, readfd;
};

/* One running child and what to do when it exits. */
struct disk_child {
	struct ev_loop *loop;
	struct proc *proc;	 /* its own process group (mke2fs runs in it) */
	int errfd;		 /* read end of the cause pipe */
	struct ev_timer timeout; /* mounts only: a hung one is killed */
	bool timed_out;
	disk_cb cb;
	void *data;
};

/* Find prog in PATH (and the sbin dirs, which a non-login PATH may
 * miss); a new string or NULL. */
static char *
disk_which(const char *prog)
{
	const char *path = getenv("PATH");
	char *list = xasprintf("%s:/usr/sbin:/sbin",
			       path != NULL ? path : "/usr/bin:/bin");
	char *save = NULL, *found = NULL;

	for (char *d = strtok_r(list, ":", &save); d != NULL && found == NULL;
	     d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", d, prog);

		if (*d == '/' && access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(list);
	return found;
}

int
disk_probe(char **cause)
{
	char *mkfs;
	int fd;

	if (geteuid() != 0) {
		*cause = xstrdup("the server is not root: disk images need "
				 "loop devices and mount");
		return -EPERM;
	}
	fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		*cause = xasprintf("cannot open /dev/loop-control: %s (load "
				   "the loop module)",
				   strerror(errno));
		return -ENODEV;
	}
	close(fd);
	mkfs = disk_which(DISK_MKE2FS);
	if (mkfs == NULL) {
		*cause = xstrdup("mke2fs not found (install e2fsprogs)");
		return -ENOENT;
	}
	free(mkfs);
	return 0;
}

bool
disk_mounted(const char *dir)
{
	char *parent = xasprintf("%s/..", dir);
	struct stat a, b;
	bool r;

	r = stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
	free(parent);
	return r;
}

/* In the child: report why and exit 1. */
NORETURN static void PRINTFLIKE(2, 3) disk_fail(int errfd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)!vdprintf(errfd, fmt, ap);
	va_end(ap);
	_exit(1);
}

/*
 * In the child: give the new image fd its bytes for real (fallocate: a
 * sparse image would let tasks together fill the host's disk though each
 * stays under its limit), keeping min(1 GiB, 5%) of the filesystem free
 * for the server's own data; 0, or -1 after writing why to errfd.
 */
static int
disk_reserve(int fd, const char *img, int64_t bytes, int errfd)
{
	const int64_t mib = 1024 * 1024;
	struct statvfs vfs;
	int64_t avail, keep;

	if (fstatvfs(fd, &vfs) < 0) {
		dprintf(errfd, "cannot stat the filesystem of '%s': %s", img,
			strerror(errno));
		return -1;
	}
	avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
	keep = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize / 20;
	if (keep > 1024 * mib)
		keep = 1024 * mib;
	if (avail - bytes < keep) {
		dprintf(errfd,
			"the server's disk has no room for a %lld MiB "
			"workspace disk (%lld MiB free, %lld MiB kept for the "
			"server): delete tasks or lower --max-disk",
			(long long)(bytes / mib), (long long)(avail / mib),
			(long long)(keep / mib));
		return -1;
	}
	if (fallocate(fd, 0, 0, bytes) < 0) {
		dprintf(errfd, "cannot allocate %lld MiB for '%s': %s",
			(long long)(bytes / mib), img, strerror(errno));
		return -1;
	}
	return 0;
}

/* In the child: run mke2fs on img with stderr into errfd; 0 or -1. */
static int
disk_mkfs(const char *img, uid_t uid, int errfd)
{
	char *mkfs = disk_which(DISK_MKE2FS), ext[96], *cause = NULL;
	char *argv[] = {mkfs, "-q", "-F", "-t",	       "ext4", "-m",
			"0",  "-E", ext,  (char *)img, NULL};
	struct proc_spec spec = {.argv = argv, .fd_err = errfd};
	struct proc *p = NULL;
	int status = -1;

	if (mkfs == NULL)
		return -1;
	/* no discard (the blocks stay the image's), inode tables and
	 * journal zeroed lazily by the kernel: formatting 10 GiB takes
	 * ~10 ms */
	snprintf(ext, sizeof ext,
		 "nodiscard,lazy_itable_init=1,lazy_journal_init=1,"
		 "root_owner=%u:%u",
		 (unsigned)uid, (unsigned)uid);
	spec.fd_in = spec.fd_out = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (proc_spawn(&spec, &p, NULL, &cause) < 0)
		dprintf(errfd, "%s", cause);
	else
		(void)proc_reap(p, true, &status);
	proc_free(p);
	free(cause);
	free(mkfs);
	if (spec.fd_in >= 0)
		close(spec.fd_in);
	return status == 0 ? 0 : -1;
}

/* In the child: attach img to a free loop device (autoclear) and mount
 * it on mnt; 0, or -1 after writing why to errfd. */
static int
disk_attach(const char *img, const char *mnt, int errfd)
{
	struct loop_config cfg = {0};
	char dev[32];
	int ctl = -1, lfd = -1, ifd, n, r = -1;

	ifd = open(img, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (ifd < 0) {
		dprintf(errfd, "cannot open '%s': %s", img, strerror(errno));
		goto out;
	}
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		dprintf(errfd, "cannot open /dev/loop-control: %s",
			strerror(errno));
		goto out;
	}
	cfg.fd = (uint32_t)ifd;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	snprintf((char *)cfg.info.lo_file_name, sizeof cfg.info.lo_file_name,
		 "%s", img);
	/* another process may take the free device first: try again */
	for (int tries = 0; tries < DISK_LOOP_TRIES && lfd < 0; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			dprintf(errfd, "no free loop device: %s",
				strerror(errno));
			goto out;
		}
		snprintf(dev, sizeof dev, "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd >= 0 && ioctl(lfd, LOOP_CONFIGURE, &cfg) < 0) {
			int e = errno;

			close(lfd);
			lfd = -1;
			errno = e;
		}
		if (lfd < 0 && errno != EBUSY && errno != ENOENT) {
			dprintf(errfd, "cannot set up %s: %s", dev,
				strerror(errno));
			goto out;
		}
	}
	if (lfd < 0) {
		dprintf(errfd, "no loop device could be set up");
		goto out;
	}
	if (mount(dev, mnt, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME, "") <
	    0) {
		dprintf(errfd, "cannot mount '%s' on '%s': %s", img, mnt,
			strerror(errno));
		goto out;
	}
	r = 0;
out:
	/* a mount holds the device now; autoclear frees it at umount (or
	 * at this close when the mount failed) */
	if (lfd >= 0)
		close(lfd);
	if (ctl >= 0)
		close(ctl);
	if (ifd >= 0)
		close(ifd);
	return r;
}

/* The body of disk_mount's child. */
NORETURN static void
disk_mount_child(const char *img, const char *mnt, int64_t bytes, uid_t uid,
		 const char *from, int errfd)
{
	struct stat st;
	bool made = false;
	int fd;

	if (from != NULL) {
		/* a pool image, mounted already: move its mount over */
		if (mkdir(mnt, 0700) < 0 && errno != EEXIST)
			disk_fail(errfd, "cannot create '%s': %s", mnt,
				  strerror(errno));
		if (!disk_mounted(mnt) && disk_mounted(from) &&
		    mount(from, mnt, NULL, MS_MOVE, NULL) == 0) {
			(void)rmdir(from);
			_exit(0);
		}
		/* cannot move (a shared parent mount): never attach that
		 * file a second time while the first mount may live on;
		 * make a new image below */
		(void)umount2(from, MNT_DETACH);
		(void)rmdir(from);
		if (!disk_mounted(mnt))
			(void)unlink(img);
	}

	if (lstat(img, &st) < 0) {
		if (errno != ENOENT || bytes <= 0)
			disk_fail(errfd, "no disk image '%s'", img);
		fd = open(img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			disk_fail(errfd, "cannot create '%s': %s", img,
				  strerror(errno));
		made = true;
		if (disk_reserve(fd, img, bytes, errfd) < 0) {
			close(fd);
			unlink(img);
			_exit(1);
		}
		close(fd);
		if (disk_mkfs(img, uid, errfd) < 0) {
			unlink(img);
			disk_fail(errfd, "\nmke2fs failed on '%s'", img);
		}
	} else if (!S_ISREG(st.st_mode)) {
		disk_fail(errfd, "'%s' is not a regular file", img);
	}
	if (mkdir(mnt, 0700) < 0 && errno != EEXIST) {
		if (made)
			unlink(img);
		disk_fail(errfd, "cannot create '%s': %s", mnt,
			  strerror(errno));
	}
	if (!disk_mounted(mnt) && disk_attach(img, mnt, errfd) < 0) {
		if (made)
			unlink(img);
		_exit(1);
	}
	_exit(0);
}

/* The child finished (reaped): read its cause, call back, free. */
static void
disk_on_exit(struct proc *p, int status, void *data)
{
	struct disk_child *c = data;
	char cause[DISK_CAUSE_MAX];
	ssize_t n;
	int err = status == 0 ? 0 : -EIO;

	n = read(c->errfd, cause, sizeof cause - 1);
	cause[n > 0 ? n : 0] = '\0';
	/* mke2fs's lines and ours: keep it one line */
	for (char *q = cause; *q != '\0'; q++)
		if (*q == '\n')
			*q = ' ';
	if (c->timed_out)
		snprintf(cause, sizeof cause,
			 "making or mounting the disk image took over %d s: "
			 "killed",
			 DISK_TIMEOUT_MS / 1000);
	ev_timer_stop(c->loop, &c->timeout);
	proc_free(p);
	close(c->errfd);
	if (c->cb != NULL)
		c->cb(err,
		      err < 0 ? (cause[0] ? cause : "disk setup failed") : NULL,
		      c->data);
	else if (err < 0)
		log_warn("disk: %s", cause[0] ? cause : "failed");
	free(c);
}

/* A child that makes or mounts an image took too long: kill its group;
 * disk_on_exit reports it. */
static void
disk_on_timeout(void *data)
{
	struct disk_child *c = data;

	c->timed_out = true;
	(void)proc_kill(c->proc, SIGKILL);
}

/* In the child (its own process group, signals as for a new process):
 * the work's body. */
static int
disk_child_run(void *arg)
{
	const struct disk_work *w = arg;

	close(w->readfd);
	if (w->pdeathsig)
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	w->body(w);
	return 0; /* not reached */
}

/* Fork a child doing w, watched by the loop: 0 (*out, when not NULL,
 * is its process, alive until cb returns), or -errno with *cause. */
static int
disk_fork(struct ev_loop *loop, struct disk_work *w, disk_cb cb, void *data,
	  struct proc **out, char **cause)
{
	struct proc_spec spec = {.fn = disk_child_run,
				 .arg = w,
				 .flags = PROC_PGROUP | PROC_NOWAIT};
	struct disk_child *c;
	int p[2], r;

	if (pipe2(p, O_CLOEXEC) < 0) {
		*cause = xasprintf("pipe: %s", strerror(errno));
		return -errno;
	}
	w->readfd = p[0];
	w->errfd = p[1];
	c = xcalloc(1, sizeof *c);
	r = proc_spawn(&spec, &c->proc, NULL, cause);
	close(p[1]);
	if (r < 0) {
		close(p[0]);
		free(c);
		return r;
	}
	c->errfd = p[0];
	c->cb = cb;
	c->data = data;
	c->loop = loop;
	proc_watch(c->proc, loop, disk_on_exit, c);
	ev_timer_init(&c->timeout, disk_on_timeout, c);
	if (cb != NULL) /* not the removals: rm -rf takes what it takes */
		ev_timer_start(loop, &c->timeout, now_ms() + DISK_TIMEOUT_MS);
	if (out != NULL)
		*out = c->proc;
	return 0;
}

/* disk_mount's child. */
NORETURN static void
disk_mount_body(const struct disk_work *w)
{
	disk_mount_child(w->img, w->mnt, w->bytes, w->uid, w->from, w->errfd);
}

int
disk_mount(struct ev_loop *loop, const char *img, const char *mnt,
	   int64_t bytes, uid_t uid, const char *from, disk_cb cb, void *data,
	   char **cause)
{
	struct disk_work w = {.body = disk_mount_body,
			      .img = img,
			      .mnt = mnt,
			      .bytes = bytes,
			      .uid = uid,
			      .from = from};

	return disk_fork(loop, &w, cb, data, NULL, cause);
}

/* disk_remove's child: detached, so a process that still holds a file
 * there cannot keep the mount point busy; the image's space returns
 * once it lets go. */
NORETURN static void
disk_remove_body(const struct disk_work *w)
{
	if (disk_mounted(w->mnt) && umount2(w->mnt, MNT_DETACH) < 0)
		disk_fail(w->errfd, "cannot unmount '%s': %s", w->mnt,
			  strerror(errno));
	if (w->img != NULL && unlink(w->img) < 0 && errno != ENOENT)
		disk_fail(w->errfd, "cannot remove '%s': %s", w->img,
			  strerror(errno));
	if (w->then != NULL) {
		execvp(w->then[0], w->then);
		disk_fail(w->errfd, "cannot run %s: %s", w->then[0],
			  strerror(errno));
	}
	_exit(0);
}

int
disk_remove(struct ev_loop *loop, const char *img, const char *mnt,
	    char *const *then, char **cause)
{
	struct disk_work w = {
		.body = disk_remove_body, .img = img, .mnt = mnt, .then = then};

	return disk_fork(loop, &w, NULL, NULL, NULL, cause);
}

/* A pool child finished: its image is ready (or not); make the next. */
static void
disk_pool_made(int err, const char *cause, void *data)
{
	unsigned n = (unsigned)(uintptr_t)data;

	disk_pool.making = false;
	if (err < 0) {
		/* do not spin on a broken mke2fs: the tasks make their own */
		log_warn("disk pool: %s", cause);
		return;
	}
	disk_pool.ready[disk_pool.n_ready++] = n;
	disk_pool_fill();
}

/* A pool child: make image w->n in the pool dir, formatted and
 * mounted, named N.img once complete. */
NORETURN static void
disk_pool_body(const struct disk_work *w)
{
	char *tmp = xasprintf("%s/tmp-%u", w->dir, w->n);
	char *img = xasprintf("%s/%u.img", w->dir, w->n);
	char *mnt = xasprintf("%s/%u.d", w->dir, w->n);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		disk_fail(w->errfd, "cannot make '%s': %s", tmp,
			  strerror(errno));
	if (disk_reserve(fd, tmp, w->bytes, w->errfd) < 0) {
		close(fd);
		unlink(tmp);
		_exit(1);
	}
	close(fd);
	if (disk_mkfs(tmp, 0, w->errfd) < 0) {
		unlink(tmp);
		disk_fail(w->errfd, "\nmke2fs failed on '%s'", tmp);
	}
	/* mounted ahead too: a first mount replays ext4's setup */
	if (mkdir(mnt, 0700) < 0 || disk_attach(tmp, mnt, w->errfd) < 0) {
		(void)rmdir(mnt);
		unlink(tmp);
		_exit(1);
	}
	/* the filesystem's root is the task's directory-to-be: mke2fs made
	 * it 0755 */
	if (chmod(mnt, 0700) < 0)
		disk_fail(w->errfd, "cannot chmod '%s': %s", mnt,
			  strerror(errno));
	if (rename(tmp, img) < 0)
		disk_fail(w->errfd, "cannot rename '%s': %s", tmp,
			  strerror(errno));
	_exit(0);
}

/* Start making one image when the pool is short and nothing is being
 * made. */
static void
disk_pool_fill(void)
{
	struct disk_pool *p = &disk_pool;
	struct disk_work w = {.body = disk_pool_body,
			      .dir = p->dir,
			      .bytes = p->bytes,
			      .pdeathsig = true};
	char *cause = NULL;

	if (p->dir == NULL || p->making || p->n_ready >= p->want)
		return;
	w.n = p->next++;
	if (disk_fork(p->loop, &w, disk_pool_made, (void *)(uintptr_t)w.n,
		      &p->proc, &cause) < 0) {
		log_warn("disk pool: %s", cause);
		free(cause);
		return;
	}
	p->making = true;
}

/* The refill timer: the start that took an image is under way. */
static void
disk_pool_on_refill(void *data UNUSED)
{
	disk_pool_fill();
}

/* The pool's leftovers are gone: start filling it. */
static void
disk_pool_cleaned(int err, const char *cause, void *data UNUSED)
{
	disk_pool.making = false;
	if (err < 0) {
		log_warn("disk pool: %s", cause);
		return;
	}
	disk_pool_fill();
}

/* Empty the pool dir (its mounts unmounted); 0 or -errno. */
static int
disk_pool_clean_dir(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		char *path = xasprintf("%s/%s", dir, e->d_name);

		if (e->d_name[0] != '.') {
			if (disk_mounted(path))
				(void)umount2(path, MNT_DETACH);
			if (unlink(path) < 0 && errno == EISDIR)
				(void)rmdir(path);
		}
		free(path);
	}
	closedir(d);
	return 0;
}

/* In a child: empty the pool dir of an earlier process, so every pool
 * image is one this process made. */
NORETURN static void
disk_pool_clean(const struct disk_work *w)
{
	if (disk_pool_clean_dir(w->dir) < 0)
		disk_fail(w->errfd, "cannot read '%s': %s", w->dir,
			  strerror(errno));
	_exit(0);
}

void
disk_pool_init(struct ev_loop *loop, const char *dir, int64_t bytes, unsigned n)
{
	struct disk_pool *p = &disk_pool;
	struct disk_work w = {.body = disk_pool_clean};
	char *cause = NULL;

	if (n == 0 || bytes <= 0)
		return;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_warn("disk pool: cannot create '%s': %s", dir,
			 strerror(errno));
		return;
	}
	p->loop = loop;
	p->dir = xstrdup(dir);
	p->bytes = bytes;
	p->want = n;
	p->ready = xcalloc(n, sizeof *p->ready);
	ev_timer_init(&p->refill, disk_pool_on_refill, NULL);
	w.dir = p->dir;
	if (disk_fork(loop, &w, disk_pool_cleaned, NULL, &p->proc, &cause) <
	    0) {
		log_warn("disk pool: %s", cause);
		free(cause);
		return;
	}
	p->making = true; /* until the cleaning is done */
}

int
disk_pool_take(const char *img, int64_t bytes, char **from)
{
	struct disk_pool *p = &disk_pool;
	unsigned n;
	char *path;
	int r = 0;

	if (p->dir == NULL || bytes != p->bytes || p->n_ready == 0)
		return -ENOENT;
	n = p->ready[--p->n_ready];
	path = xasprintf("%s/%u.img", p->dir, n);
	if (rename(path, img) < 0) {
		r = -ENOENT;
		log_warn("disk pool: cannot move '%s': %s", path,
			 strerror(errno));
	} else {
		*from = xasprintf("%s/%u.d", p->dir, n);
	}
	free(path);
	/* not now: mke2fs would compete with this task's start */
	ev_timer_start(p->loop, &p->refill, now_ms() + DISK_POOL_DELAY_MS);
	return r;
}

void
disk_pool_stop(void)
{
	struct disk_pool *p = &disk_pool;

	if (p->dir == NULL)
		return;
	ev_timer_stop(p->loop, &p->refill);
	if (p->making) {
		/* its watch reports it, should the loop run again */
		(void)proc_kill(p->proc, SIGKILL);
		(void)proc_reap(p->proc, true, NULL);
	}
	(void)disk_pool_clean_dir(p->dir);
}
