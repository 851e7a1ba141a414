/*
 * disk.h: per-task disk limits: a sparse ext4 image per task, loop-mounted
 * on the task's directory, so a workspace that fills it gets ENOSPC and
 * the host's filesystem holds at most the image's size.
 *
 * Everything that can block (mke2fs, attaching a loop device, mount,
 * umount) runs in a child process; the loop only watches its pidfd.
 */
#ifndef TASKBOX_DISK_H
#define TASKBOX_DISK_H

#include <sys/types.h>

struct ev_loop;

/* Called once from the loop when a disk child finished: 0, or -errno
 * with cause (a message, borrowed for the call). */
typedef void (*disk_cb)(int err, const char *cause, void *data);

/* Can this process make and mount images (root, /dev/loop-control,
 * mke2fs)? 0, or -errno with *cause (a new string saying why not). */
int disk_probe(char **cause);

/* Is dir a mount point (its device differs from its parent's)? */
bool disk_mounted(const char *dir);

/*
 * In a child process: with from (a pool image's mount, see
 * disk_pool_take), move that mount to mnt. Else, or when the move fails
 * (the image is then made anew): when img does not exist, create it sparse with
 * bytes and format it ext4 (root of the new filesystem owned by uid);
 * then, unless mnt already is a mount point, attach img to a loop device
 * (autoclear) and mount it on mnt (created 0700 when missing) nosuid,
 * nodev. A new image is removed again when a later step fails. cb (may be
 * NULL) runs once from the loop with the outcome. 0, or -errno with
 * *cause when the child cannot be started (cb is then not called).
 */
int disk_mount(struct ev_loop *loop, const char *img, const char *mnt,
	       int64_t bytes, uid_t uid, const char *from, disk_cb cb,
	       void *data, char **cause);

/*
 * In a child process: unmount mnt (detached) when it is a mount point,
 * remove img (NULL: none), then exec then (an argv such as rm -rf DIR,
 * NULL: exit). 0, or -errno with *cause.
 */
int disk_remove(struct ev_loop *loop, const char *img, const char *mnt,
		char *const *then, char **cause);

/*
 * A pool of n ready-made images of bytes in dir, each formatted and
 * mounted on dir/N.d by a child (one at a time; what an earlier process
 * left in dir is unmounted and removed first), so a task start only
 * renames an image and moves its mount. Call once.
 */
void disk_pool_init(struct ev_loop *loop, const char *dir, int64_t bytes,
		    unsigned n);

/* Move a ready image of bytes to img (a rename), *from = its mount
 * (a new string, for disk_mount), and start making the next; 0, or
 * -ENOENT when none is ready (the caller makes its own). */
int disk_pool_take(const char *img, int64_t bytes, char **from);

/* At exit: stop making images, unmount and remove the ready ones (a
 * cache; a crash leaves them to the next start's cleaning). Blocks. */
void disk_pool_stop(void);

#endif
