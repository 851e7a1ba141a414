/*
 * task-remote.h: tasks another replica runs, mirrored in this one
 * (task-remote.c).
 *
 * With replicas on one PostgreSQL (replica.c) every replica holds every
 * live task: its own ones with their workspaces, the others' as remote
 * tasks that show their stored row and last current_state, kept current
 * by the owner's NOTIFYs, and marked unknown while their replica has not
 * answered its heartbeat.
 */
#ifndef TASKBOX_SERVER_TASK_REMOTE_H
#define TASKBOX_SERVER_TASK_REMOTE_H

#include <jansson.h>
#include <stdbool.h>

struct task;

/* A remote task from its stored row (borrowed); borrowed (the task list
 * owns it). */
struct task *task_remote_add(json_t *row);
/* Read task id's row and last state again and show them (a new task of
 * another replica is added, a deleted one removed); subscribers get the
 * Task. Tasks this replica runs are left alone. */
void task_remote_refresh(const char *id);
/* Pass event (its data) to the subscribers of remote task id. */
void task_remote_event(const char *id, const char *event, const char *data);
/* Replica replica_id stopped answering (reason: why, shown as the
 * status_reason of its tasks, now unknown), or answers again (reason
 * NULL: its tasks read from the store again). */
void task_remote_replica(const char *replica_id, const char *reason);
/* Read every remote task again (after notifications were lost): new
 * ones added, deleted ones removed. */
void task_remote_resync(void);
/* The replica that runs t, or NULL when this one does. */
const char *task_replica(const struct task *t);
/* Does remote task t count toward --max-running-per-user (its row says
 * pending, initializing or active)? */
bool task_remote_running(const struct task *t);

#endif
