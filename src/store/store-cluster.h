/*
 * store-cluster.h: the replicas' own PostgreSQL connection, inside the
 * loop (store-cluster.c).
 *
 * Besides the store's synchronous connection, a replica holds a second
 * one that never blocks the loop: its socket sits in the epoll loop, it
 * LISTENs on the channel "taskbox" (the other replicas' NOTIFYs come
 * back through a callback), sends this replica's NOTIFYs, and runs the
 * heartbeat (this replica's row touched, every replica's row read back
 * with its age by the database's clock). Statements wait in a bounded
 * queue and go one at a time. A broken connection is made again in the
 * background (asynchronously, with a deadline), LISTENs again and says
 * so (what was notified meanwhile is lost: the caller reads again).
 */
#ifndef TASKBOX_STORE_CLUSTER_H
#define TASKBOX_STORE_CLUSTER_H

#include <jansson.h>

struct ev_loop;
struct store_cluster;

/* The longest NOTIFY payload sent (PostgreSQL's limit is 8000 bytes). */
#define STORE_CLUSTER_PAYLOAD_MAX 7900

struct store_cluster_cb {
	/* A NOTIFY on "taskbox" (this replica's own included); payload
	 * borrowed. */
	void (*notify)(const char *payload, void *data);
	/* The replicas after a heartbeat: an array of {id, address,
	 * started_at, age_ms} (borrowed). */
	void (*replicas)(json_t *rows, void *data);
	/* The connection is back after a break and listens again:
	 * notifications were lost. */
	void (*resync)(void *data);
};

/*
 * Connect to uri (libpq's syntax) and LISTEN, waiting for both (a
 * server's start); then everything goes through the loop. 0, or -EIO
 * with *cause (never naming a password).
 */
int store_cluster_open(struct ev_loop *loop, const char *uri,
		       const struct store_cluster_cb *cb, void *data,
		       struct store_cluster **out, char **cause);
/* Send the NOTIFYs still queued (waiting: a server's exit) and close. */
void store_cluster_close(struct store_cluster *c);
/* Queue NOTIFY taskbox, payload (copied). 0; -EMSGSIZE past
 * STORE_CLUSTER_PAYLOAD_MAX; -ENOBUFS while the queue is full (the
 * database is slow or away). */
int store_cluster_notify(struct store_cluster *c, const char *payload);
/* Queue a heartbeat of replica_id: its heartbeat_at set to the
 * database's clock, then every replica read back (cb->replicas).
 * Skipped while one is queued already. */
void store_cluster_heartbeat(struct store_cluster *c, const char *replica_id);
/* Is the connection up (false between a break and its return)? */
bool store_cluster_up(const struct store_cluster *c);

#endif
