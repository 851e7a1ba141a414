/*
 * store-cluster.c: a replica's second PostgreSQL connection, in the loop.
 *
 * Data model: one struct store_cluster per server: the libpq connection
 * (nonblocking) and its socket's ev_io, a FIFO of operations (a NOTIFY,
 * a heartbeat, the LISTEN after a reconnect) of at most
 * CLUSTER_QUEUE_MAX entries, of which the head is in flight while busy,
 * and a timer that both bounds a reconnect and spaces the attempts.
 *
 * The states: up (the connection answers; operations go one at a time:
 * PQsendQueryParams, PQflush while it has more to write (EPOLLOUT),
 * results read with PQconsumeInput/PQgetResult when the socket is
 * readable, NOTIFYs picked up with PQnotifies at every read); down (a
 * read, write or result saw the connection bad: it is finished, the
 * operation in flight dropped, the queue kept, a reconnect planned
 * after CLUSTER_RETRY_MS); connecting (PQconnectStartParams, driven by
 * PQconnectPoll from the socket's events, abandoned after
 * CLUSTER_CONNECT_MS). Back up, LISTEN goes first and, once it is done,
 * cb->resync tells the caller that notifications may have been lost. At close
 * the NOTIFYs still queued are sent, waiting for each (the server exits).
 */
#include "common.h"

#include <libpq-fe.h>
#include <sys/epoll.h>

#include "core/ev.h"
#include "core/log.h"
#include "store/store-cluster.h"

#define CLUSTER_QUEUE_MAX  4096
#define CLUSTER_RETRY_MS   1000
#define CLUSTER_CONNECT_MS 10000

/* The database's clock in ms (as in store-replicas.c). */
#define CLUSTER_NOW_MS                                                         \
	"CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"

enum cluster_op_kind {
	CLUSTER_OP_LISTEN,
	CLUSTER_OP_NOTIFY,
	CLUSTER_OP_HEARTBEAT,
};

struct cluster_op {
	enum cluster_op_kind kind;
	char *arg; /* the payload, the replica id */
	struct cluster_op *next;
};

enum cluster_state {
	CLUSTER_UP,
	CLUSTER_DOWN,
	CLUSTER_CONNECTING,
};

struct store_cluster {
	struct ev_loop *loop;
	char *uri;
	PGconn *conn;
	struct ev_io *io;
	int io_fd;
	enum cluster_state state;
	struct cluster_op *head, *tail;
	unsigned queued;
	bool busy;		 /* the head is in flight */
	bool heartbeat_queued;	 /* one heartbeat waits or runs */
	struct ev_timer timer;	 /* reconnect: when to try, or give up */
	json_t *rows;		 /* the heartbeat's rows being read */
	uint64_t dropped_warned; /* last "queue full" warning (ms) */
	struct store_cluster_cb cb;
	void *data;
};

static void cluster_on_io(struct ev_io *io, uint32_t events, void *data);
static void cluster_kick(struct store_cluster *c);

/* libpq's message without its trailing newline (a new string). */
static char *
cluster_message(PGconn *conn)
{
	const char *m = conn ? PQerrorMessage(conn) : NULL;
	char *s = xstrdup(m != NULL && *m != '\0' ? m : "unknown error");
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* Notices go to the debug log. */
static void
cluster_notice(void *arg UNUSED, const char *msg)
{
	log_debug("postgresql (cluster): %s", msg);
}

/* Watch the connection's socket for events (it may change while
 * connecting). */
static void
cluster_watch(struct store_cluster *c, uint32_t events)
{
	int fd = c->conn ? PQsocket(c->conn) : -1;

	if (c->io != NULL && c->io_fd != fd) {
		ev_io_del(c->io);
		c->io = NULL;
	}
	if (fd < 0)
		return;
	if (c->io == NULL) {
		c->io = ev_io_add(c->loop, fd, events, cluster_on_io, c);
		c->io_fd = fd;
	} else {
		ev_io_set_events(c->io, events);
	}
}

/* Take the head off the queue and free it. */
static void
cluster_pop(struct store_cluster *c)
{
	struct cluster_op *op = c->head;

	if (op == NULL)
		return;
	c->head = op->next;
	if (c->head == NULL)
		c->tail = NULL;
	c->queued--;
	if (op->kind == CLUSTER_OP_HEARTBEAT)
		c->heartbeat_queued = false;
	free(op->arg);
	free(op);
}

/* Append (or, first, prepend) an operation. */
static void
cluster_push(struct store_cluster *c, enum cluster_op_kind kind,
	     const char *arg, bool first)
{
	struct cluster_op *op = xcalloc(1, sizeof *op);

	op->kind = kind;
	op->arg = arg ? xstrdup(arg) : NULL;
	if (first && c->head != NULL) {
		/* never before the one in flight */
		struct cluster_op *after = c->busy ? c->head : NULL;

		if (after != NULL) {
			op->next = after->next;
			after->next = op;
			if (c->tail == after)
				c->tail = op;
		} else {
			op->next = c->head;
			c->head = op;
		}
	} else {
		if (c->tail != NULL)
			c->tail->next = op;
		else
			c->head = op;
		c->tail = op;
	}
	c->queued++;
}

/* The connection options: the store's bounds (store-pg.c), the URI last
 * so that what it sets wins. */
static PGconn *
cluster_connect(const char *uri, bool async)
{
	static const char *const keys[] = {
		"connect_timeout",  "options",
		"application_name", "client_encoding",
		"keepalives_idle",  "keepalives_interval",
		"keepalives_count", "tcp_user_timeout",
		"dbname",	    NULL,
	};
	const char *values[] = {
		"5",
		"-c statement_timeout=10000",
		"taskbox-cluster",
		"UTF8",
		"10",
		"5",
		"3",
		"10000",
		uri,
		NULL,
	};

	if (async)
		return PQconnectStartParams(keys, values, 1);
	return PQconnectdbParams(keys, values, 1);
}

/* The connection broke: drop it and try again later. */
static void
cluster_broken(struct store_cluster *c)
{
	char *msg = cluster_message(c->conn);

	if (c->state == CLUSTER_UP)
		log_warn("the cluster connection to PostgreSQL broke (%s): "
			 "reconnecting",
			 msg);
	else
		log_debug("cluster connection: %s", msg);
	free(msg);
	if (c->io != NULL)
		ev_io_del(c->io);
	c->io = NULL;
	PQfinish(c->conn);
	c->conn = NULL;
	if (c->busy)
		cluster_pop(c); /* its answer is lost with the connection */
	c->busy = false;
	json_decref(c->rows);
	c->rows = NULL;
	c->state = CLUSTER_DOWN;
	ev_timer_start(c->loop, &c->timer, now_ms() + CLUSTER_RETRY_MS);
}

/* Drive an asynchronous connect one step. */
static void
cluster_connect_poll(struct store_cluster *c)
{
	switch (PQconnectPoll(c->conn)) {
	case PGRES_POLLING_READING:
		cluster_watch(c, EPOLLIN);
		return;
	case PGRES_POLLING_WRITING:
		cluster_watch(c, EPOLLOUT);
		return;
	case PGRES_POLLING_OK:
		break;
	default:
		cluster_broken(c);
		return;
	}
	ev_timer_stop(c->loop, &c->timer);
	PQsetNoticeProcessor(c->conn, cluster_notice, NULL);
	if (PQsetnonblocking(c->conn, 1) < 0) {
		cluster_broken(c);
		return;
	}
	c->state = CLUSTER_UP;
	log_info("the cluster connection to PostgreSQL is back");
	cluster_push(c, CLUSTER_OP_LISTEN, NULL, true);
	cluster_watch(c, EPOLLIN);
	cluster_kick(c);
}

/* The timer: start a reconnect, or give up on one that takes too long. */
static void
cluster_on_timer(void *data)
{
	struct store_cluster *c = data;

	if (c->state == CLUSTER_CONNECTING) {
		log_debug("cluster connection: connect timed out");
		cluster_broken(c);
		return;
	}
	c->conn = cluster_connect(c->uri, true);
	if (c->conn == NULL || PQstatus(c->conn) == CONNECTION_BAD) {
		cluster_broken(c);
		return;
	}
	c->state = CLUSTER_CONNECTING;
	ev_timer_start(c->loop, &c->timer, now_ms() + CLUSTER_CONNECT_MS);
	cluster_connect_poll(c);
}

/* Send the head of the queue when nothing is in flight. */
static void
cluster_kick(struct store_cluster *c)
{
	static const Oid text[] = {25};
	struct cluster_op *op = c->head;
	const char *values[1];
	int ok = 0;

	if (c->state != CLUSTER_UP || c->busy || op == NULL)
		return;
	values[0] = op->arg;
	switch (op->kind) {
	case CLUSTER_OP_LISTEN:
		ok = PQsendQuery(c->conn, "LISTEN taskbox");
		break;
	case CLUSTER_OP_NOTIFY:
		ok = PQsendQueryParams(c->conn,
				       "SELECT pg_notify('taskbox', $1)", 1,
				       text, values, NULL, NULL, 0);
		break;
	case CLUSTER_OP_HEARTBEAT:
		/* the CTE's update is not visible to the select (one
		 * snapshot): this replica's own age is the last beat's */
		ok = PQsendQueryParams(
			c->conn,
			"WITH beat AS (UPDATE replicas SET heartbeat_at "
			"= " CLUSTER_NOW_MS " WHERE id = $1 RETURNING id) "
			"SELECT id, address, started_at, " CLUSTER_NOW_MS
			" - heartbeat_at AS age_ms FROM replicas",
			1, text, values, NULL, NULL, 0);
		break;
	}
	if (!ok) {
		cluster_broken(c);
		return;
	}
	c->busy = true;
	switch (PQflush(c->conn)) {
	case 0:
		cluster_watch(c, EPOLLIN);
		break;
	case 1:
		cluster_watch(c, EPOLLIN | EPOLLOUT);
		break;
	default:
		cluster_broken(c);
	}
}

/* A heartbeat's rows, appended to c->rows. */
static void
cluster_rows(struct store_cluster *c, const PGresult *res)
{
	int id = PQfnumber(res, "id"), addr = PQfnumber(res, "address");
	int started = PQfnumber(res, "started_at"),
	    age = PQfnumber(res, "age_ms");

	if (c->rows == NULL)
		c->rows = json_array();
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(
			c->rows,
			json_pack(
				"{s:s, s:s, s:I, s:I}", "id",
				PQgetvalue(res, i, id), "address",
				PQgetvalue(res, i, addr), "started_at",
				(json_int_t)strtoll(PQgetvalue(res, i, started),
						    NULL, 10),
				"age_ms",
				(json_int_t)strtoll(PQgetvalue(res, i, age),
						    NULL, 10)));
}

/* Read what arrived: results of the operation in flight, NOTIFYs. */
static void
cluster_read(struct store_cluster *c)
{
	PGnotify *n;
	bool listened = false;

	if (!PQconsumeInput(c->conn)) {
		cluster_broken(c);
		return;
	}
	while (c->busy && !PQisBusy(c->conn)) {
		PGresult *res = PQgetResult(c->conn);
		struct cluster_op *op = c->head;

		if (res == NULL) {
			/* the operation is complete */
			if (op->kind == CLUSTER_OP_HEARTBEAT &&
			    c->rows != NULL && c->cb.replicas != NULL)
				c->cb.replicas(c->rows, c->data);
			json_decref(c->rows);
			c->rows = NULL;
			c->busy = false;
			listened = op->kind == CLUSTER_OP_LISTEN;
			cluster_pop(c);
			break;
		}
		if (PQresultStatus(res) == PGRES_TUPLES_OK &&
		    op->kind == CLUSTER_OP_HEARTBEAT) {
			cluster_rows(c, res);
		} else if (PQresultStatus(res) != PGRES_TUPLES_OK &&
			   PQresultStatus(res) != PGRES_COMMAND_OK) {
			const char *m = PQresultErrorMessage(res);

			log_warn("cluster connection: %s failed: %.200s",
				 op->kind == CLUSTER_OP_NOTIFY ? "a NOTIFY"
				 : op->kind == CLUSTER_OP_LISTEN
					 ? "LISTEN"
					 : "the heartbeat",
				 m ? m : "");
		}
		PQclear(res);
	}
	/* a re-read before the LISTEN was in place could miss a change
	 * made in between */
	if (listened && c->cb.resync != NULL)
		c->cb.resync(c->data);
	while ((n = PQnotifies(c->conn)) != NULL) {
		if (strcmp(n->relname, "taskbox") == 0 && c->cb.notify != NULL)
			c->cb.notify(n->extra, c->data);
		PQfreemem(n);
	}
	if (PQstatus(c->conn) == CONNECTION_BAD) {
		cluster_broken(c);
		return;
	}
	cluster_kick(c);
}

/* The socket's events. */
static void
cluster_on_io(struct ev_io *io UNUSED, uint32_t events, void *data)
{
	struct store_cluster *c = data;

	if (c->state == CLUSTER_CONNECTING) {
		cluster_connect_poll(c);
		return;
	}
	if (c->state != CLUSTER_UP)
		return;
	if (events & EPOLLOUT) {
		int r = PQflush(c->conn);

		if (r < 0) {
			cluster_broken(c);
			return;
		}
		if (r == 0)
			cluster_watch(c, EPOLLIN);
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		cluster_read(c);
}

int
store_cluster_open(struct ev_loop *loop, const char *uri,
		   const struct store_cluster_cb *cb, void *data,
		   struct store_cluster **out, char **cause)
{
	struct store_cluster *c = xcalloc(1, sizeof *c);
	PGresult *res;
	char *msg;

	c->loop = loop;
	c->uri = xstrdup(uri);
	c->cb = *cb;
	c->data = data;
	c->io_fd = -1;
	ev_timer_init(&c->timer, cluster_on_timer, c);
	c->conn = cluster_connect(uri, false);
	if (PQstatus(c->conn) != CONNECTION_OK)
		goto fail;
	PQsetNoticeProcessor(c->conn, cluster_notice, NULL);
	res = PQexec(c->conn, "LISTEN taskbox");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	if (PQsetnonblocking(c->conn, 1) < 0)
		goto fail;
	c->state = CLUSTER_UP;
	cluster_watch(c, EPOLLIN);
	*out = c;
	return 0;
fail:
	msg = cluster_message(c->conn);
	*cause = xasprintf("cannot open the cluster connection to "
			   "PostgreSQL: %s",
			   msg);
	free(msg);
	store_cluster_close(c);
	return -EIO;
}

/* At close: send the NOTIFYs still queued, waiting for each (a server's
 * exit); stop at the first failure. */
static void
cluster_drain(struct store_cluster *c)
{
	static const Oid text[] = {25};
	PGresult *res;

	if (c->state != CLUSTER_UP)
		return;
	/* the one in flight first, then blocking */
	while (c->busy && (res = PQgetResult(c->conn)) != NULL)
		PQclear(res);
	if (c->busy)
		cluster_pop(c);
	c->busy = false;
	if (PQsetnonblocking(c->conn, 0) < 0)
		return;
	for (; c->head != NULL; cluster_pop(c)) {
		const char *values[1] = {c->head->arg};
		bool ok;

		if (c->head->kind != CLUSTER_OP_NOTIFY)
			continue;
		res = PQexecParams(c->conn, "SELECT pg_notify('taskbox', $1)",
				   1, text, values, NULL, NULL, 0);
		ok = PQresultStatus(res) == PGRES_TUPLES_OK;
		PQclear(res);
		if (!ok)
			return;
	}
}

void
store_cluster_close(struct store_cluster *c)
{
	if (c == NULL)
		return;
	cluster_drain(c);
	ev_timer_stop(c->loop, &c->timer);
	if (c->io != NULL)
		ev_io_del(c->io);
	PQfinish(c->conn);
	while (c->head != NULL)
		cluster_pop(c);
	json_decref(c->rows);
	free(c->uri);
	free(c);
}

int
store_cluster_notify(struct store_cluster *c, const char *payload)
{
	if (strlen(payload) > STORE_CLUSTER_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (c->queued >= CLUSTER_QUEUE_MAX) {
		if (now_ms() - c->dropped_warned > 10000) {
			c->dropped_warned = now_ms();
			log_warn("the cluster connection's queue is full: "
				 "events for other replicas are dropped");
		}
		return -ENOBUFS;
	}
	cluster_push(c, CLUSTER_OP_NOTIFY, payload, false);
	cluster_kick(c);
	return 0;
}

void
store_cluster_heartbeat(struct store_cluster *c, const char *replica_id)
{
	if (c->heartbeat_queued)
		return;
	c->heartbeat_queued = true;
	cluster_push(c, CLUSTER_OP_HEARTBEAT, replica_id, false);
	cluster_kick(c);
}

bool
store_cluster_up(const struct store_cluster *c)
{
	return c->state == CLUSTER_UP;
}
