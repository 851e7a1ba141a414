/*
 * cgroup.h: the cgroups that limit and kill one workspace.
 *
 * v2 when the server's own cgroup subtree offers the memory and pids
 * controllers; v1 (one directory per hierarchy: memory, pids, cpu) when
 * those hierarchies are writable; none otherwise, and the caller falls
 * back to rlimits.
 */
#ifndef TASKBOX_WS_CGROUP_H
#define TASKBOX_WS_CGROUP_H

#include "ws/ws.h"

enum cgroup_mode { CGROUP_NONE, CGROUP_V1, CGROUP_V2 };

struct cgroup;

/* What this process can use (detected once); *where names the cgroup
 * root used, or why none is usable. */
enum cgroup_mode cgroup_detect(const char **where);
const char *cgroup_mode_name(enum cgroup_mode mode);

/* Create the cgroups of workspace id with the limits; 0 with *out set,
 * 0 with *out NULL when no cgroup is usable here, or -errno with *cause.
 * *warn (may be set in any case) says which limits are not enforced. */
int cgroup_create(const char *id, const struct ws_limits *lim,
		  struct cgroup **out, char **warn, char **cause);

/* Open the cgroup.procs files the child writes "0" to; fills fds (close-
 * on-exec) and returns how many, or -errno with *cause. */
int cgroup_open_procs(const struct cgroup *cg, int *fds, size_t max,
		      char **cause);

/* One pass of SIGKILL over every process (cgroup.kill on v2); returns the
 * number of processes found before the pass, or -errno. */
int cgroup_kill(struct cgroup *cg);

/* Count the processes in the cgroups, or -errno. */
int cgroup_count(const struct cgroup *cg);

/* Remove the directories; 0 or -errno (-EBUSY while processes remain). */
int cgroup_remove(struct cgroup *cg);

/* Remove the cgroups of workspace id when no struct cgroup is left for
 * them (its workspace died while no server watched it). */
void cgroup_forget(const char *id);

void cgroup_free(struct cgroup *cg);

#endif
