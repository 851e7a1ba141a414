/*
 * replica.c: this server as one of several replicas on one PostgreSQL
 * database (replica.h).
 *
 * Data model: one struct replica per process (zero without replicas):
 * this replica's name and the address the others reach it at (both in
 * its replicas row), the cluster's key (32 bytes, from the cluster
 * table: signs forwarded requests), the cluster connection
 * (store-cluster.c: LISTEN/NOTIFY and the heartbeat, never blocking the
 * loop), the tasks whose change is still to be told (one NOTIFY per task
 * and loop iteration), and what it knows of the other replicas: peers,
 * a JSON object name -> {address, started_at, reason} where reason is
 * null while the replica answers and "replica NAME has not answered
 * since TIME" after --heartbeat-timeout without a heartbeat.
 *
 * NOTIFY payloads (channel "taskbox", at most 7900 bytes) are JSON:
 * {"r": replica, "t": task id, "k": "task"} (re-read its row: status,
 * current_state, deletion, a new task), {"k": "event", "e": name, "d":
 * data} (an event of the task's SSE stream, passed on as it is) and
 * {"k": "gap", "e": name} (one too big to pass). A replica ignores its
 * own.
 *
 * Forwarding: a request that needs the workspace of a task another
 * replica runs goes to that replica's advertised address over HTTP/1.0
 * (http/client.c over TCP): the same method, path, query and body, the
 * caller's credentials and origin, and X-Taskbox-Replica: "NAME TIME
 * MAC", MAC = HMAC-SHA-512-256 (crypto_auth) under the cluster key over
 * NAME, TIME (unix seconds), the method and the path. The answer comes
 * back streamed (an SSE stream too). The owner checks the caller again
 * itself: the signature grants nothing; a request with the header but
 * without a valid signature (or older than REPLICA_SKEW_S) is refused,
 * and a signed request is never forwarded again (a loop).
 */
#include "common.h"

#include <ctype.h>
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/log.h"
#include "core/sock.h"
#include "core/text.h"
#include "http/client.h"
#include "http/http.h"
#include "server.h"
#include "server/replica.h"
#include "server/task-remote.h"
#include "store/store-cluster.h"
#include "store/store-rows.h"

#define REPLICA_NAME_MAX 64
#define REPLICA_SKEW_S	 60 /* a signature's age limit, either way */
#define REPLICA_HEAD_MS	 60000
#define REPLICA_QUEUE	 (4u << 20)
#define REPLICA_HIGH	 (1u << 20)
#define REPLICA_MAC_HEX	 (2 * crypto_auth_BYTES)

struct replica {
	bool on;
	char *self;
	char *address; /* http://HOST:PORT, "" when it has none */
	unsigned heartbeat_ms, timeout_ms;
	unsigned char key[crypto_auth_KEYBYTES];
	struct store_cluster *cluster;
	struct ev_timer beat;
	struct ev_timer flush;
	json_t *dirty; /* task ids whose change is to be told */
	json_t *peers; /* name -> {address, started_at, reason} */
};

static struct replica replica;

/* Request headers a forward carries (the caller's credentials and what
 * the owner's checks read). */
static const char *const replica_pass_request[] = {
	"Authorization",
	"Coder-Session-Token",
	"Cookie",
	"X-Taskbox-CSRF",
	"Content-Type",
	"Accept",
	"Accept-Language",
	"Last-Event-ID",
	"If-None-Match",
	"If-Modified-Since",
	"User-Agent",
	"Range",
	"Origin",
	"Referer",
	"Host",
};

/* Response headers passed back. */
static const char *const replica_pass_response[] = {
	"Content-Type",
	"Cache-Control",
	"ETag",
	"Last-Modified",
	"Content-Disposition",
	"Content-Range",
	"Accept-Ranges",
	"Expires",
	"Pragma",
	"X-Accel-Buffering",
	"Location",
	"Set-Cookie",
	"Content-Security-Policy",
	"Referrer-Policy",
	"Retry-After",
};

bool
replica_enabled(void)
{
	return replica.on;
}

const char *
replica_self(void)
{
	return replica.on ? replica.self : "";
}

int
replica_parse_seconds(const char *v, unsigned *ms)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(v, &end);
	if (errno != 0 || end == v || *end != '\0' || !(s >= 0.1) || s > 3600)
		return -EINVAL;
	*ms = (unsigned)(s * 1000 + 0.5);
	return 0;
}

/* Is name a replica name: 1-64 of [A-Za-z0-9._-]? */
static bool
replica_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > REPLICA_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' &&
		    name[i] != '_' && name[i] != '-')
			return false;
	return true;
}

/*
 * This replica's name from DATA/replica-id, made there once when
 * missing: the host name (its [a-z0-9-] part) and six random hex digits
 * (a new string), or NULL with *cause.
 */
static char *
replica_stored_name(char **cause)
{
	char *path = xasprintf("%s/replica-id", srv->data_dir);
	char buf[REPLICA_NAME_MAX + 2], host[64] = "",
					name[REPLICA_NAME_MAX + 1];
	size_t k = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		if (!replica_name_ok(buf)) {
			*cause = xasprintf("'%s' holds no replica name (1-64 "
					   "of A-Z a-z 0-9 . _ -)",
					   path);
			free(path);
			return NULL;
		}
		free(path);
		return xstrdup(buf);
	}
	gethostname(host, sizeof host - 1);
	for (const char *p = host; *p != '\0' && k < 40; p++)
		if (isalnum((unsigned char)*p) || *p == '-')
			name[k++] = (char)tolower((unsigned char)*p);
	snprintf(name + k, sizeof name - k, "%s%06x", k ? "-" : "r-",
		 randombytes_uniform(1u << 24));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0 || dprintf(fd, "%s\n", name) < 0) {
		*cause = xasprintf("cannot write '%s': %s", path,
				   strerror(errno));
		if (fd >= 0)
			close(fd);
		free(path);
		return NULL;
	}
	close(fd);
	free(path);
	return xstrdup(name);
}

/* The address the others reach this replica at: --advertise, else url
 * when it is not a wildcard address ("" then: nothing is forwarded
 * here). A new string, or NULL with *cause. */
static char *
replica_address(const char *advertise, const char *url, char **cause)
{
	struct sock_spec sp;
	char *spec, *slash;
	int r;

	if (advertise == NULL) {
		if (strstr(url, "//0.0.0.0:") != NULL ||
		    strstr(url, "//[::]:") != NULL ||
		    strstr(url, "//:::") != NULL) {
			log_warn("the API listens on a wildcard address and "
				 "no --advertise was given: the other replicas "
				 "cannot forward requests to this one");
			return xstrdup("");
		}
		return xstrdup(url);
	}
	if (!str_starts_with(advertise, "http://")) {
		*cause = xasprintf("--advertise wants http://HOST:PORT, not "
				   "'%s'",
				   advertise);
		return NULL;
	}
	spec = xstrdup(advertise + strlen("http://"));
	if ((slash = strchr(spec, '/')) != NULL && slash[1] == '\0')
		*slash = '\0';
	r = sock_spec_parse(spec, false, &sp, cause);
	free(spec);
	if (r < 0 || sp.family == AF_UNIX) {
		free(*cause);
		*cause = xasprintf("--advertise wants http://HOST:PORT with a "
				   "numeric HOST, not '%s'",
				   advertise);
		return NULL;
	}
	return xstrdup(advertise);
}

/* The MAC of a forwarded request as hex into out. */
static void
replica_mac(const char *from, long long ts, const char *method,
	    const char *path, char out[REPLICA_MAC_HEX + 1])
{
	unsigned char mac[crypto_auth_BYTES];
	char *msg = xasprintf("taskbox-replica\n%s\n%lld\n%s\n%s", from, ts,
			      method, path);

	crypto_auth(mac, (const unsigned char *)msg, strlen(msg), replica.key);
	sodium_bin2hex(out, REPLICA_MAC_HEX + 1, mac, sizeof mac);
	free(msg);
}

bool
replica_check_request(struct http_req *req)
{
	const char *h = http_req_header(req, REPLICA_HEADER);
	char from[REPLICA_NAME_MAX + 1], mac[REPLICA_MAC_HEX + 1],
		want[REPLICA_MAC_HEX + 1];
	long long ts, now = (long long)(wall_ms() / 1000);

	if (h == NULL)
		return true;
	if (!replica.on || strlen(h) > 200 ||
	    sscanf(h, "%64s %lld %64s", from, &ts, mac) != 3 ||
	    strlen(mac) != REPLICA_MAC_HEX || ts < now - REPLICA_SKEW_S ||
	    ts > now + REPLICA_SKEW_S) {
		http_reply_problem(req, 403,
				   "the " REPLICA_HEADER " header is not a "
				   "valid replica signature");
		return false;
	}
	replica_mac(from, ts, http_req_method(req), http_req_path(req), want);
	if (sodium_memcmp(want, mac, REPLICA_MAC_HEX) != 0) {
		log_warn("refused a request signed as replica '%s' with a "
			 "wrong signature",
			 from);
		http_reply_problem(req, 403,
				   "the " REPLICA_HEADER " header is not a "
				   "valid replica signature");
		return false;
	}
	/* the forwards of all of that replica's callers come from its
	 * address: counted per client, one member's streams through it
	 * would turn away everyone's */
	http_req_uncount(req);
	return true;
}

/* ---- notifications -------------------------------------------------- */

/* Send one payload (a JSON object, taken) to the other replicas. */
static void
replica_send(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	if (s != NULL && replica.cluster != NULL)
		(void)store_cluster_notify(replica.cluster, s);
	free(s);
}

/* Tell the other replicas of every task changed since the last flush. */
static void
replica_flush(void *data UNUSED)
{
	const char *id;
	json_t *v;

	ev_timer_stop(srv->loop, &replica.flush);
	json_object_foreach(replica.dirty, id, v)
	{
		replica_send(json_pack("{s:s, s:s, s:s}", "r", replica.self,
				       "t", id, "k", "task"));
	}
	json_object_clear(replica.dirty);
}

void
replica_task_changed(const char *id)
{
	if (!replica.on)
		return;
	json_object_set_new(replica.dirty, id, json_true());
	if (!replica.flush.active)
		ev_timer_start(srv->loop, &replica.flush, now_ms());
}

void
replica_auth_changed(const char *user_id)
{
	if (!replica.on)
		return;
	replica_send(json_pack("{s:s, s:s, s:s}", "r", replica.self, "t",
			       user_id, "k", "auth"));
}

void
replica_task_event(const char *id, const char *event, const char *data)
{
	json_t *j;
	char *s;

	if (!replica.on)
		return;
	replica_flush(NULL); /* the changes before it, first */
	j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "r", replica.self, "t", id,
		      "k", "event", "e", event, "d", data);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (s == NULL || strlen(s) > STORE_CLUSTER_PAYLOAD_MAX) {
		json_decref(j);
		j = json_pack("{s:s, s:s, s:s, s:s}", "r", replica.self, "t",
			      id, "k", "gap", "e", event);
		replica_send(j);
	} else {
		json_decref(j);
		(void)store_cluster_notify(replica.cluster, s);
	}
	free(s);
}

/* A NOTIFY arrived (the cluster connection's callback). */
static void
replica_on_notify(const char *payload, void *data UNUSED)
{
	json_t *j = json_loads(payload, 0, NULL);
	const char *from = json_string_value(json_object_get(j, "r"));
	const char *id = json_string_value(json_object_get(j, "t"));
	const char *kind = json_string_value(json_object_get(j, "k"));
	const char *event = json_string_value(json_object_get(j, "e"));
	const char *d = json_string_value(json_object_get(j, "d"));

	if (from == NULL || id == NULL || kind == NULL ||
	    strcmp(from, replica.self) == 0) {
		json_decref(j);
		return;
	}
	if (strcmp(kind, "task") == 0) {
		task_remote_refresh(id);
	} else if (strcmp(kind, "auth") == 0) {
		auth_cache_forget(id);
	} else if (strcmp(kind, "event") == 0 && event != NULL && d != NULL) {
		task_remote_event(id, event, d);
	} else if (strcmp(kind, "gap") == 0 && event != NULL) {
		json_t *gap = json_pack("{s:s}", "event", event);
		char *g = json_dumps(gap, JSON_COMPACT);

		if (g != NULL)
			task_remote_event(id, "replica_gap", g);
		free(g);
		json_decref(gap);
	}
	json_decref(j);
}

/* The connection came back: what was notified meanwhile is lost. */
static void
replica_on_resync(void *data UNUSED)
{
	task_remote_resync();
	auth_cache_forget(NULL);
}

/* The replicas after a heartbeat: who stopped answering, who is back. */
static void
replica_on_replicas(json_t *rows, void *data UNUSED)
{
	json_t *row;
	size_t i;

	json_array_foreach(rows, i, row)
	{
		const char *id = json_string_value(json_object_get(row, "id"));
		int64_t age =
			json_integer_value(json_object_get(row, "age_ms"));
		int64_t started =
			json_integer_value(json_object_get(row, "started_at"));
		json_t *peer = json_object_get(replica.peers, id);
		bool was_down, down = age > (int64_t)replica.timeout_ms;
		bool restarted;

		if (id == NULL || strcmp(id, replica.self) == 0)
			continue;
		if (peer == NULL) {
			peer = json_pack("{s:O, s:I, s:n}", "address",
					 json_object_get(row, "address"),
					 "started_at", (json_int_t)started,
					 "reason");
			json_object_set_new(replica.peers, id, peer);
		}
		was_down = !json_is_null(json_object_get(peer, "reason"));
		restarted = json_integer_value(json_object_get(
				    peer, "started_at")) != started;
		json_object_set(peer, "address",
				json_object_get(row, "address"));
		json_object_set_new(peer, "started_at", json_integer(started));
		if (down && !was_down) {
			char stamp[32];
			char *reason;

			time_rfc3339(wall_ms() - (uint64_t)MAX(age, 0), stamp);
			reason = xasprintf("replica %s has not answered since "
					   "%s",
					   id, stamp);
			log_warn("%s: its tasks are unknown", reason);
			json_object_set_new(peer, "reason",
					    json_string(reason));
			task_remote_replica(id, reason);
			free(reason);
		} else if (!down && (was_down || restarted)) {
			log_info("replica %s answers again%s", id,
				 restarted ? " (restarted)" : "");
			json_object_set_new(peer, "reason", json_null());
			task_remote_replica(id, NULL);
		}
	}
}

/* The heartbeat timer. */
static void
replica_on_beat(void *data UNUSED)
{
	store_cluster_heartbeat(replica.cluster, replica.self);
	ev_timer_start(srv->loop, &replica.beat,
		       now_ms() + replica.heartbeat_ms);
}

const char *
replica_down_reason(const char *id)
{
	json_t *peer = json_object_get(replica.peers, id);

	return json_string_value(json_object_get(peer, "reason"));
}

int
replica_start(const char *store_uri, const struct replica_opts *o,
	      const char *url, char **cause)
{
	static const struct store_cluster_cb cbs = {
		.notify = replica_on_notify,
		.replicas = replica_on_replicas,
		.resync = replica_on_resync,
	};
	char hex[65];
	json_t *prev;
	int r;

	if (o->name != NULL && !replica_name_ok(o->name)) {
		*cause = xasprintf("--replica wants 1-64 of A-Z a-z 0-9 . _ "
				   "-, not '%s'",
				   o->name);
		return -EINVAL;
	}
	replica.self = o->name ? xstrdup(o->name) : replica_stored_name(cause);
	if (replica.self == NULL)
		return -EIO;
	if ((replica.address = replica_address(o->advertise, url, cause)) ==
	    NULL)
		return -EINVAL;
	replica.heartbeat_ms = o->heartbeat_ms;
	replica.timeout_ms = o->timeout_ms;
	if ((r = store_cluster_secret(srv->store, hex)) < 0 ||
	    sodium_hex2bin(replica.key, sizeof replica.key, hex, 64, NULL, NULL,
			   NULL) < 0) {
		sodium_memzero(hex, sizeof hex);
		*cause = xstrdup("cannot read the cluster secret");
		return -EIO;
	}
	sodium_memzero(hex, sizeof hex);
	prev = store_replica_get(srv->store, replica.self);
	if (prev != NULL &&
	    json_integer_value(json_object_get(prev, "age_ms")) <
		    (json_int_t)o->timeout_ms)
		log_warn("replica %s beat its heart %lld ms ago: is another "
			 "server running with the same name (--replica)?",
			 replica.self,
			 (long long)json_integer_value(
				 json_object_get(prev, "age_ms")));
	json_decref(prev);
	if (store_replica_register(srv->store, replica.self, replica.address) <
		    0 ||
	    store_tasks_claim(srv->store, replica.self) < 0) {
		*cause = xstrdup("cannot record this replica in the database");
		return -EIO;
	}
	if ((r = store_cluster_open(srv->loop, store_uri, &cbs, NULL,
				    &replica.cluster, cause)) < 0)
		return r;
	replica.dirty = json_object();
	replica.peers = json_object();
	ev_timer_init(&replica.beat, replica_on_beat, NULL);
	ev_timer_init(&replica.flush, replica_flush, NULL);
	replica.on = true;
	replica_on_beat(NULL);
	log_info("replica %s (reached at %s; heartbeat every %u ms, others "
		 "unknown after %u ms)",
		 replica.self, *replica.address ? replica.address : "nowhere",
		 replica.heartbeat_ms, replica.timeout_ms);
	return 0;
}

void
replica_stop(void)
{
	if (!replica.on)
		return;
	replica_flush(NULL);
	ev_timer_stop(srv->loop, &replica.beat);
	store_cluster_close(replica.cluster);
	replica.cluster = NULL;
	json_decref(replica.dirty);
	json_decref(replica.peers);
	sodium_memzero(replica.key, sizeof replica.key);
	free(replica.self);
	free(replica.address);
	memset(&replica, 0, sizeof replica);
}

/* ---- forwarding ------------------------------------------------------ */

struct replica_fwd {
	struct http_req *req;
	struct hclient *client;
	struct http_sse *stream;
	struct ev_timer head_timer;
	char *peer;
	int status;
	bool buffered; /* answered whole at the end (204, 304) */
	json_t *headers;
};

/* Free f (its client and stream already gone). */
static void
replica_fwd_free(struct replica_fwd *f)
{
	ev_timer_stop(srv->loop, &f->head_timer);
	free(f->peer);
	json_decref(f->headers);
	free(f);
}

/* The answer ended or the client went away: release the forward. */
static void
replica_fwd_closed(struct http_sse *sse UNUSED, void *data)
{
	struct replica_fwd *f = data;

	/* the client went away or the answer ended */
	if (f->client != NULL)
		hclient_free(f->client);
	replica_fwd_free(f);
}

/* The client caught up: read from the owner again. */
static void
replica_fwd_drained(struct http_sse *sse UNUSED, void *data)
{
	struct replica_fwd *f = data;

	if (f->client != NULL)
		hclient_pause(f->client, false);
}

/* The owner's status and headers: start the answer (204 and 304 wait for
 * the end). */
static void
replica_fwd_head(struct hclient *c UNUSED, int status,
		 const struct hclient_header *h, size_t n, void *data)
{
	struct replica_fwd *f = data;
	const char **out = xcalloc(2 * n + 1, sizeof *out);
	size_t k = 0;

	ev_timer_stop(srv->loop, &f->head_timer);
	f->status = status;
	f->headers = json_array();
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < ARRAY_SIZE(replica_pass_response); j++)
			if (strcasecmp(h[i].name, replica_pass_response[j]) ==
			    0) {
				out[k++] = replica_pass_response[j];
				out[k++] = h[i].value;
				json_array_append_new(
					f->headers,
					json_pack("[s, s]",
						  replica_pass_response[j],
						  h[i].value));
			}
	out[k] = NULL;
	/* a streamed answer has a body: 204 and 304 go whole at the end */
	f->buffered = status == 204 || status == 304 || status < 200;
	if (!f->buffered) {
		f->stream =
			http_stream_start(f->req, (unsigned)status, out,
					  REPLICA_QUEUE, replica_fwd_closed, f);
		http_stream_on_drain(f->stream, replica_fwd_drained);
	}
	free(out);
}

/* Some of the owner's body: on to the client, with backpressure. */
static void
replica_fwd_body(struct hclient *c, const char *buf, size_t len, void *data)
{
	struct replica_fwd *f = data;

	if (f->buffered)
		return; /* 204 and 304 have none */
	if (http_stream_write(f->stream, buf, len) < 0) {
		hclient_free(c);
		f->client = NULL;
		http_sse_end(f->stream);
		return;
	}
	if (http_stream_queued(f->stream) > REPLICA_HIGH)
		hclient_pause(c, true);
}

/* The owner's answer ended (or never came): finish the client's. */
static void
replica_fwd_done(struct hclient *c UNUSED, int err, void *data)
{
	struct replica_fwd *f = data;
	json_t *h;
	size_t i;

	f->client = NULL;
	if (f->stream != NULL) {
		http_sse_end(f->stream); /* replica_fwd_closed frees f */
		return;
	}
	if (f->buffered && f->status >= 200) {
		json_array_foreach(f->headers, i, h) http_reply_header(
			f->req, json_string_value(json_array_get(h, 0)),
			json_string_value(json_array_get(h, 1)));
		http_reply(f->req, (unsigned)f->status, NULL, "", 0);
	} else {
		http_reply_problem(f->req, 502,
				   "replica %s, which runs the task, did not "
				   "answer: %s",
				   f->peer,
				   err < 0 ? strerror(-err) : "no response");
	}
	replica_fwd_free(f);
}

/* No answer's head in time: give up on the owner. */
static void
replica_fwd_timeout(void *data)
{
	struct replica_fwd *f = data;

	hclient_free(f->client);
	f->client = NULL;
	http_reply_problem(f->req, 504,
			   "replica %s, which runs the task, did not answer in "
			   "%d s",
			   f->peer, REPLICA_HEAD_MS / 1000);
	replica_fwd_free(f);
}

/* Is v a header value to pass on: no control character but tab? */
static bool
replica_header_ok(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

void
replica_forward(struct http_req *req, struct task *t)
{
	static const struct hclient_cb cbs = {
		.head = replica_fwd_head,
		.body = replica_fwd_body,
		.done = replica_fwd_done,
	};
	const char *owner = task_replica(t), *address, *reason;
	const char *hdrs[2 * ARRAY_SIZE(replica_pass_request) + 3];
	char mac[REPLICA_MAC_HEX + 1], *sig, *spec, *slash, *target, *path,
		*query, *cause = NULL;
	long long ts = (long long)(wall_ms() / 1000);
	json_t *peer = json_object_get(replica.peers, owner), *row = NULL;
	struct replica_fwd *f;
	const char *body;
	size_t len, k = 0;

	if (http_req_header(req, REPLICA_HEADER) != NULL) {
		/* the sender thinks this replica runs it: never bounce */
		http_reply_problem(req, 508,
				   "the task runs on replica %s, not on this "
				   "one (%s)",
				   owner, replica.self);
		return;
	}
	if ((reason = replica_down_reason(owner)) != NULL) {
		http_reply_problem(req, 503,
				   "%s: the task's workspace is "
				   "out of reach",
				   reason);
		return;
	}
	address = json_string_value(json_object_get(peer, "address"));
	if (address == NULL) {
		row = store_replica_get(srv->store, owner);
		address = json_string_value(json_object_get(row, "address"));
	}
	if (address == NULL || !str_starts_with(address, "http://")) {
		http_reply_problem(req, 503,
				   "the task runs on replica %s, which gives "
				   "no address to reach it at (--advertise)",
				   owner);
		json_decref(row);
		return;
	}
	spec = xstrdup(address + strlen("http://"));
	if ((slash = strchr(spec, '/')) != NULL)
		*slash = '\0';
	json_decref(row);
	for (size_t i = 0; i < ARRAY_SIZE(replica_pass_request); i++) {
		const char *v = http_req_header(req, replica_pass_request[i]);

		if (v != NULL && !replica_header_ok(v)) {
			/* a bare CR would end the line for another parser */
			http_reply_problem(req, 400,
					   "the %s header holds control "
					   "characters",
					   replica_pass_request[i]);
			free(spec);
			return;
		}
		if (v != NULL) {
			hdrs[k++] = replica_pass_request[i];
			hdrs[k++] = v;
		}
	}
	replica_mac(replica.self, ts, http_req_method(req), http_req_path(req),
		    mac);
	sig = xasprintf("%s %lld %s", replica.self, ts, mac);
	hdrs[k++] = REPLICA_HEADER;
	hdrs[k++] = sig;
	hdrs[k] = NULL;
	path = str_escape_path(http_req_path(req));
	query = http_req_query_string(req, NULL);
	target = xasprintf("%s%s", path, query);
	f = xcalloc(1, sizeof *f);
	f->req = req;
	f->peer = xstrdup(owner);
	ev_timer_init(&f->head_timer, replica_fwd_timeout, f);
	body = http_req_body(req, &len);
	f->client =
		hclient_start(srv->loop, spec, http_req_method(req), target,
			      hdrs, len ? body : NULL, len, &cbs, f, &cause);
	if (f->client == NULL) {
		http_reply_problem(req, 502,
				   "cannot reach replica %s, which runs the "
				   "task: %s",
				   owner, cause);
		replica_fwd_free(f);
	} else {
		log_debug("forwarding %s %s to replica %s",
			  http_req_method(req), path, owner);
		ev_timer_start(srv->loop, &f->head_timer,
			       now_ms() + REPLICA_HEAD_MS);
		http_req_defer(req);
	}
	free(cause);
	free(sig);
	free(spec);
	free(path);
	free(query);
	free(target);
}
