/*
 * ws.h: workspace backends: run a task's command in an isolated sandbox.
 *
 * A workspace is one sandboxed process tree with resource limits. The
 * local backend (ws-local.c) uses bubblewrap for namespaces and mounts,
 * a seccomp filter, and cgroups (v2, else v1, else rlimits) for limits
 * and for killing everything the workspace started. Lifecycle: start →
 * (optional kill) → on_exit once the sandbox's top process is reaped →
 * free, which removes the cgroups.
 */
#ifndef TASKBOX_WS_H
#define TASKBOX_WS_H

#include <sys/types.h>

struct ev_loop;
struct ws;

struct ws_mount {
	const char *src; /* host path */
	const char *dst; /* path inside, under a tmpfs dir or a single file */
	bool ro;
};

/* 0 = no limit. */
struct ws_limits {
	int64_t memory_bytes;
	int64_t pids;
	int64_t cpu_millicores;
};

struct ws_spec {
	const char *id;	      /* task id: names the cgroups (taskbox/<id>) */
	char *const *argv;    /* command inside (paths as seen inside) */
	char *const *env;     /* the complete environment inside */
	const char *chdir;    /* working directory inside (NULL: /) */
	const char *hostname; /* NULL: "taskbox" */
	const struct ws_mount *mounts; /* applied after the base layout */
	size_t n_mounts;
	const char *const *hide; /* host dirs masked by an empty tmpfs */
	size_t n_hide;
	struct ws_limits limits;
	uid_t uid; /* server is root: run the sandbox as uid/gid (0 = stay) */
	gid_t gid;
	const int *keep_fds; /* passed in under the same numbers (>= 3) */
	size_t n_keep_fds;
	int log_fd; /* stdout+stderr of bwrap and the command (-1: /dev/null) */
	bool detach; /* outlive the server (no die-with-parent): a server
			restarted after a crash re-attaches with ->attach */
	/* start returns once forked, not once bwrap runs: the loop does
	 * not wait for the child's cgroup joins and mounts; a failure
	 * there is a line in log_fd and an exit with status 127 */
	bool start_async;
	/* root server: the sandbox gets its own mount namespace (private)
	 * in which every mount below mounts_dir (other tasks' disks) is
	 * detached, all but keep_mount; so no sandbox holds a copy of
	 * another task's filesystem (which would keep it alive after its
	 * delete). NULL: leave the mounts. */
	const char *mounts_dir;
	const char *keep_mount;
	/* the account inside (uid and gid of the sandbox's user namespace)
	 * and its home: the workspace gets its own /etc/passwd and
	 * /etc/group naming it (with root and nobody), and the host's
	 * /etc/gitconfig is laid over with an empty file. NULL: the host's
	 * files show through. */
	const char *user;
	const char *home;
};

/* Called once when the sandbox's top process (bwrap) was reaped. */
typedef void (*ws_exit_cb)(struct ws *ws, int wstatus, void *data);

/*
 * A workspace backend. local (bubblewrap) is the one built in; container
 * (podman) and Kubernetes backends implement the same operations. Each
 * backend's struct ws begins with a struct ws_head, so the generic calls
 * below dispatch on it.
 */
struct ws_backend {
	const char *name;
	struct ws *(*start)(struct ev_loop *loop, const struct ws_spec *spec,
			    ws_exit_cb on_exit, void *data, char **cause);
	/* Take over a running workspace started (detached) by an earlier
	 * server process: its top process pid and id; on_exit fires with
	 * wstatus -1 (not our child: the status is unknown). */
	struct ws *(*attach)(struct ev_loop *loop, const char *id, pid_t pid,
			     const struct ws_limits *limits, ws_exit_cb on_exit,
			     void *data, char **cause);
	void (*kill)(struct ws *ws);
	void (*free)(struct ws *ws);
	pid_t (*pid)(struct ws *ws);
	int (*runtime_pidfd)(struct ws *ws, pid_t *pid);
	int (*count_procs)(struct ws *ws);
	const char *(*warnings)(struct ws *ws);
	char *(*probe)(void);
	/* Remove what a workspace that is gone left on the host (cgroups),
	 * by task id: for one that died while no server watched it. */
	void (*forget)(const char *id);
};

struct ws_head {
	const struct ws_backend *backend;
};

extern const struct ws_backend ws_local_backend;

/* The backend named name ("local"), or NULL. */
const struct ws_backend *ws_backend_find(const char *name);

/* Start a local workspace; NULL with *cause set when it could not start
 * (bad spec, cgroup setup, bwrap missing). Returns once bwrap was exec'd.
 * (Through the interface: backend->start.) */
struct ws *ws_local_start(struct ev_loop *loop, const struct ws_spec *spec,
			  ws_exit_cb on_exit, void *data, char **cause);

/* SIGKILL everything of the workspace: its cgroup (all processes, also
 * daemons that re-parented) and its pid namespace; on_exit still fires
 * once bwrap is reaped. */
void ws_kill(struct ws *ws);

/* The command bwrap runs (the agent runtime) is pid 2 in the sandbox's
 * pid namespace, under bwrap's init: the server's peer checks rely on it. */
#define WS_RUNTIME_NSPID 2

/* bwrap's pid on the host. */
pid_t ws_pid(struct ws *ws);

/* A new pidfd of the workspace's runtime (the command it runs: pid
 * WS_RUNTIME_NSPID inside) and its host pid in *pid, or -1. */
int ws_runtime_pidfd(struct ws *ws, pid_t *pid);

/* After on_exit (or to abandon: kills first); removes the cgroups. */
void ws_free(struct ws *ws);

/* A short report of what isolation is available here (bwrap path and
 * version, cgroup mode, seccomp); returns a new string. */
char *ws_local_probe(void);

/* Count of processes still in the workspace's cgroup, or -errno
 * (-ENOTSUP without a cgroup). */
int ws_count_procs(struct ws *ws);

/* Which limits of the last start are not enforced (NULL: all are). */
const char *ws_warnings(struct ws *ws);

#endif
