/*
 * replica.h: several servers (replicas) on one PostgreSQL database
 * (replica.c).
 *
 * Each replica runs the workspaces of the tasks created through it and
 * shows every other task (task-remote.c); the replicas tell each other
 * of changes with NOTIFY, watch each other's heartbeats, and forward the
 * requests that need a workspace to the replica that runs it, signed
 * with the cluster's secret. With SQLite there is one server: every
 * call here is then a no-op and replica_self() is "".
 */
#ifndef TASKBOX_SERVER_REPLICA_H
#define TASKBOX_SERVER_REPLICA_H

#include <stdbool.h>

struct http_req;
struct task;

/* The header a forwarding replica signs its requests with. */
#define REPLICA_HEADER "X-Taskbox-Replica"

struct replica_opts {
	const char *name;      /* --replica (NULL: DATA/replica-id) */
	const char *advertise; /* --advertise (NULL: the listen address) */
	unsigned heartbeat_ms; /* --heartbeat-interval */
	unsigned timeout_ms;   /* --heartbeat-timeout */
};

/* Parse a --heartbeat-* value (seconds, fractions allowed, 0.1..3600)
 * into *ms; 0 or -EINVAL. */
int replica_parse_seconds(const char *v, unsigned *ms);
/*
 * Join the cluster on the PostgreSQL database store_uri (the store is
 * open, the API listens at url): the name (made once and kept in
 * DATA/replica-id unless given), the cluster secret, this replica's
 * row, the old tasks without a replica claimed, the cluster connection
 * (LISTEN) and the heartbeat. Before the tasks are loaded. 0 or -errno
 * with *cause.
 */
int replica_start(const char *store_uri, const struct replica_opts *o,
		  const char *url, char **cause);
void replica_stop(void);
/* Is this server one replica of several (a PostgreSQL store)? */
bool replica_enabled(void);
/* This replica's name, "" without replicas. */
const char *replica_self(void);
/* Why replica id does not answer ("replica NAME has not answered since
 * TIME"), or NULL while it does; borrowed. */
const char *replica_down_reason(const char *id);
/* Task id (run here) changed what it shows: tell the other replicas
 * (one NOTIFY per task and loop iteration). */
void replica_task_changed(const char *id);
/* User user_id, their tokens or sessions changed: the other replicas
 * drop what they cached of them (auth.c). */
void replica_auth_changed(const char *user_id);
/* Task id (run here) published event: pass it to the other replicas'
 * subscribers (a "replica_gap" event there when it is too big). */
void replica_task_event(const char *id, const char *event, const char *data);
/*
 * Refuse (403, replied) a request carrying REPLICA_HEADER whose
 * signature is not the cluster's, or that is not recent; true when the
 * request has no such header or a valid one.
 */
bool replica_check_request(struct http_req *req);
/* Forward req (its method, path, query, body and the caller's
 * credentials) to the replica that runs t and stream the answer back;
 * req is answered or deferred. */
void replica_forward(struct http_req *req, struct task *t);

#endif
