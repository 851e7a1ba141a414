/*
 * fdlimit.h: the process's file descriptor limit and how it is shared.
 *
 * A server raises its soft RLIMIT_NOFILE to the hard limit at start (or
 * sets the limit an admin gave), splits it between its own files, the
 * API's connections and what tasks make it hold, and keeps one spare
 * descriptor to turn a client away cleanly when accept() meets EMFILE.
 */
#ifndef TASKBOX_FDLIMIT_H
#define TASKBOX_FDLIMIT_H

/* Idle connections to LLM providers the gateway's libcurl keeps for reuse
 * (gateway/curlev.c), server-wide: part of the server's own share. */
#define FDLIMIT_UPSTREAM_IDLE 32

/* How a limit of descriptors is shared (fdlimit_split). */
struct fdlimit_split {
	unsigned reserve;    /* the server's own: database, loop, pipes, the
				gateway's idle upstream connections */
	unsigned http_conns; /* API connections, each worth two descriptors:
				a proxied request holds a workspace socket */
	unsigned task_fds;   /* the rest: tasks' sockets and their egress */
};

/*
 * Raise the soft RLIMIT_NOFILE to the hard limit, set it to max when
 * max > 0 (at most the hard limit) or keep it when max < 0, and open the
 * spare descriptor; 0 or -errno with *cause.
 */
int fdlimit_init(long max, char **cause);
/* The soft limit in effect (after fdlimit_init). */
long fdlimit_get(void);
/* Share limit descriptors (pure). */
void fdlimit_split(long limit, struct fdlimit_split *out);
/* In a child before exec: put back the soft limit found at start
 * (async-signal-safe). */
void fdlimit_restore_child(void);
/* Is err the process or the system running out of descriptors or
 * socket memory? */
bool fdlimit_exhausted(int err);
/*
 * accept() on listen_fd failed for lack of descriptors: release the spare,
 * accept the first waiting connection, write reply (may be NULL) and close
 * it, take the spare again. 0 when a client was turned away, -errno.
 */
int fdlimit_shed(int listen_fd, const char *reply);

#endif
