/*
 * seccomp.c: compile the workspace syscall filter with libseccomp.
 *
 * Data model: one static copy of the exported BPF program, built on first
 * use. Everything is allowed except what lets a sandboxed process change
 * mounts, load kernel code, reach kernel attack surface rarely needed by
 * programs (bpf, perf, userfaultfd, keyrings), change host state (clock,
 * swap, reboot) or build new namespaces. Denials return EPERM so programs
 * see an ordinary failure; clone3 returns ENOSYS because its flags live in
 * memory a filter cannot read, and libc then falls back to clone, whose
 * flags we can check. io_uring returns ENOSYS too: its operations run in
 * kernel workers the filter never sees (a bypass of this very filter, and
 * a large attack surface), and libraries fall back to plain syscalls on
 * ENOSYS as on kernels without it.
 */
#include "common.h"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include "seccomp.h"

/* Namespace flags a process inside must not use with clone or unshare. */
#define WS_NS_FLAGS                                                            \
	(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID |           \
	 CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

static const char *const ws_denied[] = {
	"mount",
	"umount2",
	"pivot_root",
	"move_mount",
	"fsopen",
	"fsmount",
	"fspick",
	"fsconfig",
	"open_tree",
	"mount_setattr",
	"kexec_load",
	"kexec_file_load",
	"init_module",
	"finit_module",
	"delete_module",
	"bpf",
	"perf_event_open",
	"userfaultfd",
	"keyctl",
	"add_key",
	"request_key",
	"reboot",
	"swapon",
	"swapoff",
	"acct",
	"settimeofday",
	"clock_settime",
	"clock_adjtime",
	"open_by_handle_at",
	"name_to_handle_at",
	"iopl",
	"ioperm",
	"quotactl",
	"quotactl_fd",
	"syslog",
	"setns",
	"lookup_dcookie",
	"vhangup",
	"nfsservctl",
	"uselib",
	"_sysctl",
};

/* Syscalls that look absent (ENOSYS): callers fall back. */
static const char *const ws_absent[] = {
	"clone3",
	"io_uring_setup",
	"io_uring_enter",
	"io_uring_register",
};

static uint8_t *ws_bpf;
static size_t ws_bpf_len;

/* Add one rule; unknown syscall names (not on this arch) are skipped. */
static int
ws_seccomp_rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
		unsigned nargs, const struct scmp_arg_cmp *arg)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0;
	return seccomp_rule_add_array(ctx, action, nr, nargs, arg);
}

/* Build the filter and keep its BPF bytes; 0 or -errno. */
static int
ws_seccomp_compile(char **cause)
{
	scmp_filter_ctx ctx;
	int fd = -1, r;
	off_t len;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL) {
		*cause =
			xstrdup("seccomp_init failed (is libseccomp usable "
				"on this kernel? check CONFIG_SECCOMP_FILTER)");
		return -ENOSYS;
	}
	for (size_t i = 0; i < ARRAY_SIZE(ws_denied); i++) {
		r = ws_seccomp_rule(ctx, SCMP_ACT_ERRNO(EPERM), ws_denied[i], 0,
				    NULL);
		if (r < 0)
			goto fail;
	}
	/* one rule per flag: a masked compare tests all bits of the mask */
	for (unsigned bit = 0; bit < 64; bit++) {
		uint64_t flag = (uint64_t)1 << bit;
		struct scmp_arg_cmp ns0 =
			SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag);

		if (!(WS_NS_FLAGS & flag))
			continue;
		r = ws_seccomp_rule(ctx, SCMP_ACT_ERRNO(EPERM), "unshare", 1,
				    &ns0);
		if (r == 0)
			r = ws_seccomp_rule(ctx, SCMP_ACT_ERRNO(EPERM), "clone",
					    1, &ns0);
		if (r < 0)
			goto fail;
	}
	for (size_t i = 0; i < ARRAY_SIZE(ws_absent); i++) {
		r = ws_seccomp_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), ws_absent[i],
				    0, NULL);
		if (r < 0)
			goto fail;
	}

	fd = memfd_create("taskbox-seccomp-build", MFD_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		goto fail;
	len = lseek(fd, 0, SEEK_CUR);
	if (len <= 0) {
		r = -EIO;
		goto fail;
	}
	ws_bpf = xmalloc((size_t)len);
	if (pread(fd, ws_bpf, (size_t)len, 0) != len) {
		r = -EIO;
		free(ws_bpf);
		ws_bpf = NULL;
		goto fail;
	}
	ws_bpf_len = (size_t)len;
	close(fd);
	seccomp_release(ctx);
	return 0;

fail:
	*cause = xasprintf("cannot build the seccomp filter: %s", strerror(-r));
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return r;
}

int
ws_seccomp_memfd(char **cause)
{
	int fd, hi, r;

	if (ws_bpf == NULL && (r = ws_seccomp_compile(cause)) < 0)
		return r;
	fd = memfd_create("taskbox-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		*cause = xasprintf("memfd_create: %s (Linux 3.17 or later is "
				   "needed)",
				   strerror(errno));
		return r;
	}
	if (fd < 3) {
		hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		close(fd);
		if (hi < 0) {
			r = -errno;
			*cause = xasprintf("fcntl: %s", strerror(errno));
			return r;
		}
		fd = hi;
	}
	r = write_all(fd, ws_bpf, ws_bpf_len);
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	if (r < 0) {
		*cause = xasprintf("cannot write the seccomp filter: %s",
				   strerror(-r));
		close(fd);
		return r;
	}
	return fd;
}

const char *
ws_seccomp_describe(void)
{
	return "libseccomp filter: mount/module/bpf/perf/keyring/clock/"
	       "namespace syscalls -> EPERM, clone3/io_uring -> ENOSYS";
}
