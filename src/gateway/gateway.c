/*
 * gateway.c: serve a task's llm.sock connections as an LLM gateway.
 *
 * Data model: a struct gateway per task (its task, owner and template ids
 * and its provider's name) holds the struct gw_conn of each agent
 * connection. A connection is a small state machine:
 *
 *   GW_HEAD    reading a request head (at most GW_HEAD_MAX bytes: 431);
 *              the first head must be in srv->head_timeout_ms after the
 *              accept, a later one after its first byte (408), and an
 *              idle keep-alive connection is closed after GW_IDLE_MS
 *   GW_BODY    reading its body (Content-Length or chunked, at most
 *              GW_BODY_MAX: 413), each piece within GW_BODY_IDLE_MS (408);
 *              the bodies held stay under GW_BUFFERED_MAX on the
 *              server and an eighth of it per task (503), counted as
 *              their bytes arrive; a body is freed once its exchange ends
 *   GW_TOKEN   waiting for a Vertex bearer token (vtoken.c)
 *   GW_UPSTREAM the request runs on libcurl (curlev.c); the agent is not
 *              read (only its hangup is watched); one that does not take
 *              the response down to GW_OUT_LOW within GW_IDLE_MS of a
 *              pause is dropped (libcurl never times a paused transfer)
 *   GW_CLOSING the last bytes go out, then the connection closes
 *   GW_DETACHED the agent went away (hung up, a write failed, or it left
 *              its response paused for gw_stall_ms) while the transfer
 *              ran: its socket is closed and the transfer goes on without
 *              it, the body read into the usage reader only, so that the
 *              usage the provider sends last (and bills) is recorded; at
 *              most GW_DETACHED_TASK per gateway and GW_DETACHED_MAX on
 *              the server, each for gw_detached_ms at most
 *
 * A struct gateway lives until gateway_free and its last detached
 * transfer, whichever comes second: gateway_free (the task paused,
 * restarted or deleted) closes every agent connection, detaches the
 * transfers running and marks it closed; gateway_task_gone (the task
 * deleted) and gateway_shutdown abort what still runs, recording what
 * was read.
 *
 * While more than GW_OUT_HIGH bytes of answers wait for the agent, it is
 * not read and requests it sent ahead are not served, so an agent that
 * pipelines requests without reading cannot make the output grow.
 *
 * A request is routed (gw_route) to the provider the task's template
 * names, checked against the budgets (account_check: 429), given its
 * credentials (the provider key in place of the workspace's placeholder,
 * a SigV4 signature over the buffered body, or a Vertex token; whatever
 * the agent sent for them is dropped) and sent without Accept-Encoding
 * and hop-by-hop headers. The response head is passed on as the upstream
 * gave it (status and headers, hop-by-hop and framing headers dropped)
 * and its body re-framed chunked, each piece written to the agent as it
 * comes; while more than GW_OUT_HIGH bytes wait for the agent, the
 * transfer is paused (CURL_WRITEFUNC_PAUSE) until they drop under
 * GW_OUT_LOW. Every piece also feeds a usage reader; when the transfer
 * ends its usage is recorded (account_record, metrics_gateway) and the
 * connection waits for the agent's next request. Errors of the gateway
 * itself reach the agent in its provider's format (gw_error_body): a
 * provider that cannot be reached is a 502 naming it. Nothing here
 * blocks, and no libcurl callback frees a connection: they only flag it,
 * and the transfer's end (gw_on_done) or the loop does.
 */
#include "common.h"

#include <jansson.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/ev.h"
#include "core/log.h"
#include "gateway/curlev.h"
#include "gateway/gateway.h"
#include "gateway/account.h"
#include "gateway/gwhttp.h"
#include "gateway/provider.h"
#include "gateway/route.h"
#include "gateway/sigv4.h"
#include "gateway/usage.h"
#include "gateway/vtoken.h"
#include "server/metrics.h"
#include "server/server.h"

#define GW_READ		  16384 /* bytes read from the agent at once */
#define GW_IN_MAX	  (GW_HEAD_MAX + GW_READ) /* c->in, bytes */
#define GW_IDLE_MS	  (120 * 1000)	 /* keep-alive between requests */
#define GW_BODY_IDLE_MS	  (60 * 1000)	 /* between pieces of a body */
#define GW_CONNECT_MS	  10000L	 /* to reach the provider */
#define GW_UPSTREAM_IDLE  300L		 /* s without a response byte */
#define GW_RESPONSE_MAX	  (256ull << 20) /* bytes of one response */
#define GW_RHEAD_MAX	  (64u * 1024)	 /* bytes of a response head */
#define GW_OUT_HIGH	  (256u * 1024)	 /* pause the upstream above */
#define GW_MODEL_SCAN_MAX (4u << 20)	 /* bodies read for their model */
#define GW_OUT_LOW	  (64u * 1024)	 /* resume it below */
#define GW_BUFFERED_MAX	  (512ull << 20) /* request bodies, server-wide */
/*
 * Detached transfers (the agent went away before the response ended).
 * The usage an LLM response is billed for comes in its last event, so an
 * agent that hangs up after the content but before it would otherwise
 * use the provider for free: the transfer is read to its end instead. It
 * holds an upstream socket and its request body (both still counted in
 * the task's and the server's bounds on connections and bodies), so it
 * is bounded too: per gateway as a task's requests in flight are
 * (account_begin's 8 for a budgeted task, which a detached transfer still
 * counts in, so such a task never reaches this bound; a task paused and
 * resumed has a new gateway: the server's bound holds then), on the
 * server, and in time. Past a count the transfer is cancelled at once
 * and what was read is recorded (the input tokens, the output ones only
 * when the provider sent them along). Past the deadline it is cancelled
 * likewise: a hostile agent can ask for an answer longer than any
 * deadline, so none closes the hole alone, but 10 min covers the longest
 * answers real agents get (32k output tokens at 60 a second: 9 min), while
 * a stuck transfer does not hold its socket forever; GW_RESPONSE_MAX and
 * libcurl's 300 s without a byte still hold.
 */
#define GW_DETACHED_TASK 8
#define GW_DETACHED_MAX	 256
#define GW_DETACHED_MS	 (600 * 1000)

enum gw_state {
	GW_HEAD,
	GW_BODY,
	GW_TOKEN,
	GW_UPSTREAM,
	GW_CLOSING,
	GW_DETACHED,
};

struct gateway {
	char *task_id, *owner_id, *template_id, *provider;
	struct gw_conn *conns;
	size_t nconns;
	uint64_t buffered;    /* request body bytes its connections hold */
	size_t ndetached;     /* of its connections, GW_DETACHED */
	bool closed;	      /* gateway_free was called: freed with its last */
	struct gateway *next; /* in gw_all */
};

struct gw_conn {
	struct gateway *g;
	struct gw_conn *next;
	int fd;
	struct ev_io *io;
	enum gw_state state;
	struct ev_timer timer;
	struct ev_timer kick; /* use what c->in holds, from the loop */
	bool keep_in;	      /* EPOLLIN left on while the agent is not read */
	bool head_timed;      /* the head timer runs for this request */
	struct buf in;	      /* read from the agent, not yet used */
	struct buf out;	      /* to write to the agent */
	/* the request */
	struct gw_req req;
	bool have_req;
	struct buf body;
	size_t reserved; /* bytes of gw_buffered that body may take */
	struct gw_chunked ch;
	/* its exchange with the provider */
	struct provider *p;
	struct gw_route route;
	bool routed;
	bool begun; /* account_begin was called: account_end is owed */
	struct vtoken_wait *vw;
	bool vtoken_sync; /* inside vtoken_get */
	char *token, *token_error;
	CURL *easy; /* the connection's, reset for each request */
	bool sent;  /* this request went to easy */
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	int status;	  /* the upstream's, of the response now read */
	struct buf rhead; /* its head for the agent, being built */
	char *rctype;	  /* its Content-Type */
	char *rcenc;	  /* its Content-Encoding */
	z_stream *zs;	  /* gzip or deflate: inflated for the usage reader */
	uint64_t zout;	  /* bytes inflated */
	bool head_sent;	  /* the response head went to the agent */
	bool no_body;	  /* HEAD, 204, 304: no body framing */
	bool raw;	  /* an HTTP/1.0 agent: no chunked framing */
	bool paused;	  /* the transfer waits for the agent to read */
	bool agent_gone;  /* a write to the agent failed */
	bool too_big;	  /* past GW_RESPONSE_MAX or GW_RHEAD_MAX */
	uint64_t resp_bytes;
	struct usage_reader *usage;
	uint64_t t_start, t_first; /* µs, monotonic */
};

static size_t gw_total;
static size_t gw_ndetached;    /* GW_DETACHED connections, server-wide */
static struct gateway *gw_all; /* every gateway, closed ones too */
static uint64_t gw_buffered;   /* request body bytes reserved, server-wide */

static void gw_process(struct gw_conn *c);
static void gw_conn_free(struct gw_conn *c);

/* The monotonic clock in µs. */
static uint64_t
gw_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The reason phrase of status. */
static const char *
gw_reason(int status)
{
	static const struct {
		int status;
		const char *reason;
	} t[] = {
		{100, "Continue"},
		{200, "OK"},
		{201, "Created"},
		{202, "Accepted"},
		{204, "No Content"},
		{304, "Not Modified"},
		{400, "Bad Request"},
		{401, "Unauthorized"},
		{403, "Forbidden"},
		{404, "Not Found"},
		{405, "Method Not Allowed"},
		{408, "Request Timeout"},
		{409, "Conflict"},
		{413, "Content Too Large"},
		{417, "Expectation Failed"},
		{422, "Unprocessable Content"},
		{429, "Too Many Requests"},
		{431, "Request Header Fields Too Large"},
		{500, "Internal Server Error"},
		{501, "Not Implemented"},
		{502, "Bad Gateway"},
		{503, "Service Unavailable"},
		{504, "Gateway Timeout"},
		{529, "Overloaded"},
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (t[i].status == status)
			return t[i].reason;
	return "Status";
}

/* A positive number from the environment variable name (for tests),
 * else def; read once per call site through the static it fills. */
static uint64_t
gw_env_limit(uint64_t *cached, const char *name, uint64_t def)
{
	if (*cached == 0) {
		const char *e = getenv(name);
		unsigned long long v = e != NULL ? strtoull(e, NULL, 10) : 0;

		*cached = v > 0 ? v : def;
	}
	return *cached;
}

/* The bound on request body bytes all connections hold together:
 * GW_BUFFERED_MAX, or TASKBOX_GATEWAY_BUFFER_MAX (bytes, for tests); a
 * task's connections hold an eighth of it at most. */
static uint64_t
gw_buffered_max(void)
{
	static uint64_t max;

	return gw_env_limit(&max, "TASKBOX_GATEWAY_BUFFER_MAX",
			    GW_BUFFERED_MAX);
}

/* How long a paused response may wait for the agent to read it:
 * GW_IDLE_MS, or TASKBOX_GATEWAY_STALL_MS (for tests). */
static unsigned
gw_stall_ms(void)
{
	static uint64_t ms;

	return (unsigned)gw_env_limit(&ms, "TASKBOX_GATEWAY_STALL_MS",
				      GW_IDLE_MS);
}

/* How long a detached transfer may run: GW_DETACHED_MS, or
 * TASKBOX_GATEWAY_DETACHED_MS (for tests). */
static unsigned
gw_detached_ms(void)
{
	static uint64_t ms;

	return (unsigned)gw_env_limit(&ms, "TASKBOX_GATEWAY_DETACHED_MS",
				      GW_DETACHED_MS);
}

/* Let c's request body grow to want bytes within the bounds: false when
 * the bodies of its task's or of all connections would not fit. */
static bool
gw_reserve(struct gw_conn *c, size_t want)
{
	uint64_t more;

	if (want <= c->reserved)
		return true;
	more = want - c->reserved;
	if (gw_buffered + more > gw_buffered_max() ||
	    c->g->buffered + more > gw_buffered_max() / 8)
		return false;
	gw_buffered += more;
	c->g->buffered += more;
	c->reserved = want;
	return true;
}

/* Free c's request body and give back its reservation. */
static void
gw_body_release(struct gw_conn *c)
{
	buf_release(&c->body);
	gw_buffered -= c->reserved;
	c->g->buffered -= c->reserved;
	c->reserved = 0;
}

/* Watch the agent's socket for what c's state needs. */
static void
gw_watch(struct gw_conn *c)
{
	uint32_t ev = 0;

	if (c->io == NULL)
		return; /* detached */
	/* pipelined requests wait while their answers are not read, and
	 * while c->in is full of requests not yet served */
	if ((c->state == GW_HEAD || c->state == GW_BODY) &&
	    c->out.len < GW_OUT_HIGH && c->in.len < GW_IN_MAX)
		ev |= EPOLLIN;
	/* while a request runs EPOLLIN stays on until it fires (an agent
	 * that sends ahead): no epoll_ctl for an agent that waits */
	if ((c->state == GW_UPSTREAM || c->state == GW_TOKEN) && c->keep_in)
		ev |= EPOLLIN;
	if (c->out.len > 0)
		ev |= EPOLLOUT;
	ev_io_set_events(c->io, ev);
}

static bool gw_detach(struct gw_conn *c, const char *why);

/* Write what c->out holds as far as the agent takes it: 0, or -1 when
 * the agent is gone (c->agent_gone). A transfer that runs when the agent
 * goes is detached instead (0: its output is dropped). Never frees c. */
static int
gw_flush(struct gw_conn *c)
{
	if (c->state == GW_DETACHED) {
		buf_clear(&c->out);
		return 0;
	}
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.data, c->out.len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			if (c->state == GW_UPSTREAM && c->sent &&
			    gw_detach(c, "its socket failed"))
				return 0;
			c->agent_gone = true;
			return -1;
		}
		buf_consume(&c->out, (size_t)n);
	}
	return 0;
}

/*
 * Write what c->out holds; once the agent took enough, resume the
 * transfer paused for it. 0; 1 when c is detached (nothing more to do
 * for its agent); -1 when c was freed (the agent is gone, or a closing
 * connection wrote its last byte). Not from a libcurl callback.
 */
static int
gw_write_out(struct gw_conn *c)
{
	if (gw_flush(c) < 0 || (c->out.len == 0 && c->state == GW_CLOSING)) {
		gw_conn_free(c);
		return -1;
	}
	if (c->state == GW_DETACHED)
		return 1;
	if (c->paused && c->out.len < GW_OUT_LOW) {
		c->paused = false;
		ev_timer_stop(srv->loop, &c->timer);
		/* may deliver what libcurl held, synchronously */
		curl_easy_pause(c->easy, CURLPAUSE_CONT);
		if (c->agent_gone) {
			gw_conn_free(c);
			return -1;
		}
		if (c->state == GW_DETACHED)
			return 1;
	}
	return 0;
}

/* The model a request is about: the usage's, the route's, else the
 * body's "model" (NULL when none). Returns a new string. */
static char *
gw_model(struct gw_conn *c, const struct usage *u)
{
	json_t *j, *m;
	char *s = NULL;

	if (u->model[0] != '\0')
		return xstrdup(u->model);
	if (c->routed && c->route.model != NULL)
		return xstrdup(c->route.model);
	if (c->body.len == 0 || c->body.len > GW_MODEL_SCAN_MAX)
		return NULL;
	j = json_loadb(c->body.data, c->body.len, 0, NULL);
	m = json_object_get(j, "model");
	if (json_is_string(m) && json_string_length(m) < USAGE_MODEL_MAX)
		s = xstrdup(json_string_value(m));
	json_decref(j);
	return s;
}

/*
 * The exchange of c's request ended with status for the agent (0: none):
 * record its usage when it reached the provider, count it, and release
 * everything it held (the request is kept for gw_next).
 */
static void
gw_exchange_end(struct gw_conn *c, int status, bool upstream_error)
{
	struct usage u = {0};
	char *model;

	if (c->usage != NULL) {
		char *cause = NULL;

		if (usage_reader_finish(c->usage, &u, &cause) < 0 &&
		    c->status >= 200 && c->status < 300)
			log_debug("gateway task=%s: usage: %s", c->g->task_id,
				  cause);
		free(cause);
	}
	model = gw_model(c, &u);
	if (c->begun)
		account_end(c->g->task_id, c->g->owner_id);
	c->begun = false;
	if (c->sent && c->p != NULL) {
		struct account_key k = {
			.task_id = c->g->task_id,
			.owner_id = c->g->owner_id,
			.template_id = c->g->template_id,
			.provider = c->p->name,
			.provider_type = provider_type_name(c->p->type),
			.model = model ? model : "",
		};

		account_record(&k, &u);
	}
	if (c->t_start != 0) {
		uint64_t now = gw_now_us();

		metrics_gateway(c->g->provider, model ? model : "", status,
				c->t_first ? c->t_first - c->t_start : 0,
				now - c->t_start, &u, upstream_error);
	}
	free(model);
	if (c->sent)
		curlev_cancel(c->easy); /* a no-op once it ended */
	c->sent = false;
	curl_slist_free_all(c->hdrs);
	c->hdrs = NULL;
	if (c->vw != NULL) {
		vtoken_cancel(c->vw);
		c->vw = NULL;
	}
	free(c->token);
	free(c->token_error);
	c->token = c->token_error = NULL;
	usage_reader_free(c->usage);
	c->usage = NULL;
	if (c->routed)
		gw_route_release(&c->route);
	c->routed = false;
	provider_unref(c->p);
	c->p = NULL;
	buf_clear(&c->rhead);
	free(c->rctype);
	free(c->rcenc);
	c->rctype = c->rcenc = NULL;
	if (c->zs != NULL) {
		inflateEnd(c->zs);
		free(c->zs);
		c->zs = NULL;
	}
	c->zout = 0;
	c->status = 0;
	c->head_sent = c->no_body = c->raw = c->paused = c->too_big = false;
	c->resp_bytes = 0;
	c->t_start = c->t_first = 0;
}

/* Free g, closed and without connections. */
static void
gw_gateway_release(struct gateway *g)
{
	struct gateway **pp;

	BUG_ON(g->conns != NULL);
	for (pp = &gw_all; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	}
	free(g->task_id);
	free(g->owner_id);
	free(g->template_id);
	free(g->provider);
	free(g);
}

/* Close c and free it: its transfer is cancelled (what was read is
 * recorded); a closed gateway goes with its last connection. */
static void
gw_conn_free(struct gw_conn *c)
{
	struct gateway *g = c->g;
	struct gw_conn **pp;

	gw_exchange_end(c, 0, false);
	if (c->state == GW_DETACHED) {
		g->ndetached--;
		gw_ndetached--;
	}
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	for (pp = &c->g->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	c->g->nconns--;
	gw_total--;
	curlev_reserve(gw_total);
	ev_timer_stop(srv->loop, &c->timer);
	ev_timer_stop(srv->loop, &c->kick);
	if (c->io != NULL)
		ev_io_del(c->io);
	if (c->fd >= 0)
		close(c->fd);
	if (c->have_req)
		gw_req_release(&c->req);
	buf_release(&c->in);
	buf_release(&c->out);
	gw_body_release(c);
	buf_release(&c->rhead);
	free(c);
	if (g->closed && g->conns == NULL)
		gw_gateway_release(g);
}

/*
 * The agent of c went away (why) while its transfer runs: go on without
 * it (see GW_DETACHED_*), the response read only for its usage. false
 * when past a bound: the caller drops c (outside libcurl's callbacks) or
 * fails the transfer (inside them). Never frees c.
 */
static bool
gw_detach(struct gw_conn *c, const char *why)
{
	if (c->g->ndetached >= GW_DETACHED_TASK ||
	    gw_ndetached >= GW_DETACHED_MAX) {
		log_info("gateway task=%s: the agent went away (%s) before "
			 "the response of provider '%s' to %s %.200s ended, "
			 "with %zu such responses of the task and %zu on the "
			 "server running: cancelled, what was read counted",
			 c->g->task_id, why, c->p->name, c->req.method,
			 c->req.target, c->g->ndetached, gw_ndetached);
		return false;
	}
	/* the request named: a repeated line would be folded (log.c) */
	log_info("gateway task=%s: the agent went away (%s) before the "
		 "response of provider '%s' to %s %.200s ended: read on for "
		 "its usage",
		 c->g->task_id, why, c->p->name, c->req.method, c->req.target);
	c->state = GW_DETACHED;
	c->g->ndetached++;
	gw_ndetached++;
	ev_timer_stop(srv->loop, &c->kick);
	ev_io_del(c->io); /* safe inside its own callback */
	c->io = NULL;
	close(c->fd);
	c->fd = -1;
	buf_clear(&c->in);
	buf_clear(&c->out);
	ev_timer_start(srv->loop, &c->timer, now_ms() + gw_detached_ms());
	if (c->paused) {
		c->paused = false;
		/* may deliver what libcurl held, synchronously: read */
		curl_easy_pause(c->easy, CURLPAUSE_CONT);
	}
	return true;
}

/* Send what is left of c's output, then close it. */
static void
gw_close_after(struct gw_conn *c)
{
	c->state = GW_CLOSING;
	ev_timer_start(srv->loop, &c->timer, now_ms() + GW_BODY_IDLE_MS);
	if (gw_flush(c) < 0 || c->out.len == 0) {
		gw_conn_free(c);
		return;
	}
	gw_watch(c);
}

/* Queue a whole reply of the gateway's own (status, message in format f). */
static void
gw_queue_reply(struct gw_conn *c, int status, enum gw_format f,
	       const char *message, bool close)
{
	const char *ctype = "application/json";
	char *body = gw_error_body(f, status, message, &ctype);

	buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", status,
		   gw_reason(status), ctype);
	if (f == GW_FORMAT_BEDROCK)
		buf_printf(&c->out, "x-amzn-ErrorType: %s\r\n",
			   gw_amzn_error_type(status));
	buf_printf(&c->out, "Content-Length: %zu\r\n%s\r\n%s", strlen(body),
		   close ? "Connection: close\r\n" : "", body);
	free(body);
}

/* The request is done with: wait for the next one (or close). */
static void
gw_next(struct gw_conn *c)
{
	bool close = c->req.close;

	gw_req_release(&c->req);
	c->have_req = false;
	gw_body_release(c); /* an idle connection holds no body's memory */
	memset(&c->ch, 0, sizeof c->ch);
	if (close || c->agent_gone) {
		gw_close_after(c);
		return;
	}
	c->state = GW_HEAD;
	c->head_timed = false;
	c->keep_in = true;
	ev_timer_start(srv->loop, &c->timer, now_ms() + GW_IDLE_MS);
	if (gw_flush(c) < 0) {
		gw_conn_free(c);
		return;
	}
	gw_watch(c);
	if (c->in.len > 0)
		ev_timer_start(srv->loop, &c->kick, now_ms());
}

/* Refuse the request being read (status, message): the connection closes
 * after the reply, as the rest of the request is not read. */
static void
gw_refuse(struct gw_conn *c, int status, const char *message)
{
	struct provider *p = provider_get(c->g->provider);
	enum gw_format f =
		gw_route_format(p, c->have_req ? c->req.target : NULL);

	provider_unref(p);
	log_debug("gateway task=%s: %d %s", c->g->task_id, status, message);
	gw_queue_reply(c, status, f, message, true);
	gw_exchange_end(c, status, false);
	gw_close_after(c);
}

/* Answer the whole request read with the gateway's own error; the
 * connection stays open for the next one. */
static void
gw_answer(struct gw_conn *c, int status, const char *message,
	  bool upstream_error)
{
	enum gw_format f = c->routed ? c->route.format
				     : gw_route_format(c->p, c->req.target);

	gw_queue_reply(c, status, f, message, c->req.close);
	gw_exchange_end(c, status, upstream_error);
	gw_next(c);
}

/* Is name a header the gateway never passes on (either way)? */
static bool
gw_hop_header(const char *name, size_t len)
{
	static const char *const hop[] = {
		"connection",
		"keep-alive",
		"proxy-connection",
		"proxy-authorization",
		"proxy-authenticate",
		"te",
		"trailer",
		"transfer-encoding",
		"upgrade",
		"content-length",
		"host",
		"expect",
		"accept-encoding",
		NULL,
	};

	for (size_t i = 0; hop[i] != NULL; i++)
		if (strlen(hop[i]) == len &&
		    strncasecmp(name, hop[i], len) == 0)
			return true;
	return false;
}

/* Is name a credential header an agent may send? */
static bool
gw_auth_name(const char *name)
{
	return strcasecmp(name, "Authorization") == 0 ||
	       strcasecmp(name, "x-api-key") == 0 ||
	       strcasecmp(name, "x-goog-api-key") == 0 ||
	       strcasecmp(name, "api-key") == 0;
}

/* Append the header "name: value" to *l (curl's form for an empty value
 * is "name;"). */
static void
gw_add_header(struct curl_slist **l, const char *name, const char *value)
{
	char *line = value[0] != '\0' ? xasprintf("%s: %s", name, value)
				      : xasprintf("%s;", name);
	struct curl_slist *n = curl_slist_append(*l, line);

	if (n == NULL)
		fatal("out of memory");
	*l = n;
	free(line);
}

/* Sign c's request for Bedrock into c->hdrs: 0, or -EINVAL + *cause. */
static int
gw_sign(struct gw_conn *c, char **cause)
{
	const char *u = strstr(c->route.url, "://"), *path, *q;
	const char *ctype = gw_req_conn_listed(&c->req, "Content-Type")
				    ? NULL
				    : gw_req_header(&c->req, "Content-Type");
	struct sigv4_header h[2] = {{"host", c->route.host}};
	struct sigv4_credentials cr = {
		.access_key_id = c->p->aws_access_key_id,
		.secret_access_key = c->p->aws_secret_access_key,
		.session_token = c->p->aws_session_token,
	};
	struct sigv4_scope sc = {
		.region = c->p->region,
		.service = c->route.service ? c->route.service : "bedrock",
		.time = (int64_t)time(NULL),
		.flags = SIGV4_CONTENT_SHA256,
	};
	struct sigv4_signed s;
	char *p_only;
	int r;

	if (cr.access_key_id == NULL || cr.secret_access_key == NULL ||
	    sc.region == NULL) {
		*cause = xstrdup(
			"the provider has no AWS credentials or region");
		return -EINVAL;
	}
	path = u ? u + 3 + strcspn(u + 3, "/") : c->route.url;
	q = strchr(path, '?');
	p_only = q ? xstrndup(path, (size_t)(q - path)) : xstrdup(path);
	struct sigv4_request req = {
		.method = c->req.method,
		.path = p_only,
		.query = q ? q + 1 : NULL,
		.headers = h,
		.nheaders = ctype ? 2 : 1,
		.body = c->body.data ? c->body.data : "",
		.body_len = c->body.len,
	};

	if (ctype != NULL) {
		h[1].name = "content-type";
		h[1].value = ctype;
	}
	r = sigv4_sign(&req, &cr, &sc, &s, cause);
	free(p_only);
	if (r < 0)
		return r;
	/* the Host sent is the one signed, whatever libcurl would make */
	gw_add_header(&c->hdrs, "Host", c->route.host);
	for (size_t i = 0; i < s.nadd; i++)
		gw_add_header(&c->hdrs, s.add[i].name, s.add[i].value);
	sigv4_signed_release(&s);
	return 0;
}

/* The upstream request's headers into c->hdrs: the agent's, less
 * hop-by-hop ones (also those its Connection headers list) and its
 * credentials, plus the provider's: one credential header at most, for
 * the first the agent sent. 0, or an HTTP status with *cause. */
static int
gw_headers(struct gw_conn *c, char **cause)
{
	bool ctype = false, accept = false, keyed = false;
	enum gw_auth auth = c->route.auth;

	for (size_t i = 0; i < c->req.nh; i++) {
		const struct gw_header *h = &c->req.h[i];

		if (gw_hop_header(h->name, strlen(h->name)) ||
		    gw_req_conn_listed(&c->req, h->name))
			continue;
		if (gw_auth_name(h->name)) {
			char *v = auth == GW_AUTH_KEY && !keyed
					  ? gw_auth_header(c->p, h->name,
							   h->value)
					  : NULL;

			if (v != NULL) { /* where the provider takes its key */
				gw_add_header(
					&c->hdrs,
					gw_auth_header_name(c->p, h->name), v);
				keyed = true;
			}
			free(v);
			continue;
		}
		if (auth == GW_AUTH_SIGV4 &&
		    strncasecmp(h->name, "x-amz-", 6) == 0)
			continue;
		ctype |= strcasecmp(h->name, "Content-Type") == 0;
		accept |= strcasecmp(h->name, "Accept") == 0;
		gw_add_header(&c->hdrs, h->name, h->value);
	}
	/* none of libcurl's own defaults */
	c->hdrs = curl_slist_append(c->hdrs, "Expect:");
	if (!ctype)
		c->hdrs = curl_slist_append(c->hdrs, "Content-Type:");
	if (!accept)
		c->hdrs = curl_slist_append(c->hdrs, "Accept:");
	if (auth == GW_AUTH_SIGV4 && gw_sign(c, cause) < 0)
		return 400;
	if (auth == GW_AUTH_VERTEX) {
		char *line = xasprintf("Authorization: Bearer %s", c->token);

		c->hdrs = curl_slist_append(c->hdrs, line);
		free(line);
	}
	if (c->hdrs == NULL)
		fatal("out of memory");
	return 0;
}

/* The three-digit status at s, or 0. */
static int
gw_status(const char *s)
{
	if (s[0] < '1' || s[0] > '9' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9')
		return 0;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* A response body the upstream encoded although it was not asked to:
 * gzip and deflate are inflated for the usage reader (the agent gets the
 * body as it came); another coding leaves the usage unread, said once. */
static void
gw_inflate_init(struct gw_conn *c)
{
	if (c->rcenc == NULL || strcasecmp(c->rcenc, "identity") == 0)
		return;
	if (strcasecmp(c->rcenc, "gzip") != 0 &&
	    strcasecmp(c->rcenc, "x-gzip") != 0 &&
	    strcasecmp(c->rcenc, "deflate") != 0) {
		log_info("gateway task=%s: provider '%s' answered with "
			 "Content-Encoding '%.40s': its usage is not read",
			 c->g->task_id, c->p->name, c->rcenc);
		c->zout = GW_RESPONSE_MAX; /* nothing more is fed */
		return;
	}
	c->zs = xcalloc(1, sizeof *c->zs);
	if (inflateInit2(c->zs, 32 + MAX_WBITS) != Z_OK) /* gzip or zlib */
		fatal("out of memory");
}

/* Feed a piece of the response body to the usage reader, inflated when
 * it is encoded (at most GW_RESPONSE_MAX bytes once inflated). */
static void
gw_usage_feed(struct gw_conn *c, const char *data, size_t n)
{
	unsigned char out[16384];
	int r;

	if (c->zout >= GW_RESPONSE_MAX)
		return;
	if (c->zs == NULL) {
		usage_reader_feed(c->usage, data, n);
		return;
	}
	c->zs->next_in = (Bytef *)(uintptr_t)data;
	c->zs->avail_in = (uInt)n;
	do {
		c->zs->next_out = out;
		c->zs->avail_out = sizeof out;
		r = inflate(c->zs, Z_NO_FLUSH);
		c->zout += sizeof out - c->zs->avail_out;
		usage_reader_feed(c->usage, out, sizeof out - c->zs->avail_out);
		if (r == Z_BUF_ERROR)
			return; /* no progress before more input */
		if (r != Z_OK || c->zout >= GW_RESPONSE_MAX) {
			c->zout = GW_RESPONSE_MAX; /* the end, or broken */
			return;
		}
	} while (c->zs->avail_out == 0 || c->zs->avail_in > 0);
}

/* CURLOPT_HEADERFUNCTION: one line of the upstream's response head. */
static size_t
gw_on_header(char *line, size_t size, size_t nitems, void *data)
{
	struct gw_conn *c = data;
	size_t len = size * nitems, nl;
	const char *colon;

	if (c->head_sent)
		return len; /* trailers: not passed on */
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		const char *sp = memchr(line, ' ', len);

		c->status = sp && line + len - sp > 3 ? gw_status(sp + 1) : 0;
		buf_clear(&c->rhead);
		free(c->rctype);
		free(c->rcenc);
		c->rctype = c->rcenc = NULL;
		c->no_body = strcmp(c->req.method, "HEAD") == 0 ||
			     c->status == 204 || c->status == 304;
		c->raw = !c->no_body && c->req.minor == 0;
		return len;
	}
	for (nl = len; nl > 0 && (line[nl - 1] == '\n' || line[nl - 1] == '\r');
	     nl--)
		;
	if (nl == 0) {
		/* the end of a head: an interim one (1xx) is not passed on */
		if (c->status < 200)
			return len;
		buf_printf(&c->out, "HTTP/1.1 %d %s\r\n", c->status,
			   gw_reason(c->status));
		buf_append(&c->out, c->rhead.data, c->rhead.len);
		if (c->raw)
			c->req.close =
				true; /* the end of the body is the end */
		else if (!c->no_body)
			buf_puts(&c->out, "Transfer-Encoding: chunked\r\n");
		if (c->req.close)
			buf_puts(&c->out, "Connection: close\r\n");
		buf_puts(&c->out, "\r\n");
		c->head_sent = true;
		c->t_first = gw_now_us();
		enum usage_format uf = c->route.usage;
		if (c->rctype != NULL && uf != USAGE_BEDROCK_CONVERSE &&
		    strncasecmp(c->rctype, "application/vnd.amazon.eventstream",
				34) == 0)
			uf = USAGE_BEDROCK_EVENTSTREAM;
		c->usage = usage_reader_new(uf);
		gw_inflate_init(c);
		if (gw_flush(c) < 0)
			return 0;
		return len;
	}
	for (size_t i = 0; i < nl; i++)
		if (((unsigned char)line[i] < ' ' && line[i] != '\t') ||
		    line[i] == 0x7f)
			return len; /* a bare CR would end it early for some
				       agents: dropped */
	colon = memchr(line, ':', nl);
	if (colon == NULL)
		return len; /* a continuation line, or junk: dropped */
	if (gw_hop_header(line, (size_t)(colon - line)) &&
	    !(c->no_body && colon - line == 14 &&
	      strncasecmp(line, "content-length", 14) == 0))
		return len;
	if (colon - line == 12 && strncasecmp(line, "content-type", 12) == 0) {
		const char *v = colon + 1;

		while (v < line + nl && (*v == ' ' || *v == '\t'))
			v++;
		free(c->rctype);
		c->rctype = xstrndup(v, (size_t)(line + nl - v));
	}
	if (colon - line == 16 &&
	    strncasecmp(line, "content-encoding", 16) == 0) {
		const char *v = colon + 1;

		while (v < line + nl && (*v == ' ' || *v == '\t'))
			v++;
		free(c->rcenc);
		c->rcenc = xstrndup(v, (size_t)(line + nl - v));
	}
	if (buf_append(&c->rhead, line, nl) < 0 ||
	    buf_append(&c->rhead, "\r\n", 2) < 0) {
		c->too_big = true;
		return 0;
	}
	return len;
}

/* CURLOPT_WRITEFUNCTION: a piece of the response body, passed on to the
 * agent at once (or the transfer paused while the agent is behind). */
static size_t
gw_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct gw_conn *c = arg;
	size_t n = size * nmemb;

	if (c->agent_gone || !c->head_sent)
		return 0;
	if (c->state != GW_DETACHED && c->out.len >= GW_OUT_HIGH) {
		/* libcurl does not time a paused transfer out: we do */
		if (!c->paused)
			ev_timer_start(srv->loop, &c->timer,
				       now_ms() + gw_stall_ms());
		c->paused = true;
		gw_watch(c);
		return CURL_WRITEFUNC_PAUSE;
	}
	c->resp_bytes += n;
	if (c->resp_bytes > GW_RESPONSE_MAX) {
		c->too_big = true;
		return 0;
	}
	gw_usage_feed(c, data, n);
	if (c->no_body || n == 0 || c->state == GW_DETACHED)
		return n;
	if (c->raw) {
		buf_append(&c->out, data, n);
	} else {
		buf_printf(&c->out, "%zx\r\n", n);
		buf_append(&c->out, data, n);
		buf_puts(&c->out, "\r\n");
	}
	if (gw_flush(c) < 0)
		return 0;
	gw_watch(c);
	return n;
}

/* The transfer of c's request ended (curlev, from the loop). */
static void
gw_on_done(CURL *easy UNUSED, CURLcode rc, void *data)
{
	struct gw_conn *c = data;
	char *msg;

	if (c->state == GW_DETACHED) {
		if (rc != CURLE_OK)
			log_info("gateway task=%s: the response of provider "
				 "'%s' the agent left broke off: %s",
				 c->g->task_id, c->p->name,
				 c->too_big	? "too large"
				 : c->errbuf[0] ? c->errbuf
						: curl_easy_strerror(rc));
		gw_exchange_end(c, c->head_sent ? c->status : 502,
				rc != CURLE_OK || c->status >= 500);
		gw_conn_free(c);
		return;
	}
	if (c->agent_gone) {
		gw_conn_free(c);
		return;
	}
	if (rc == CURLE_OK && c->head_sent) {
		if (!c->no_body && !c->raw)
			buf_puts(&c->out, "0\r\n\r\n");
		/* the agent first, the books after (a failure: gw_next) */
		gw_flush(c);
		gw_exchange_end(c, c->status, c->status >= 500);
		gw_next(c);
		return;
	}
	if (c->head_sent) {
		/* cut mid-response: the agent sees it unfinished */
		log_info("gateway task=%s: the response of provider '%s' broke "
			 "off: %s",
			 c->g->task_id, c->p->name,
			 c->too_big	? "too large"
			 : c->errbuf[0] ? c->errbuf
					: curl_easy_strerror(rc));
		gw_exchange_end(c, c->status, true);
		gw_close_after(c);
		return;
	}
	if (c->too_big)
		msg = xasprintf("the response of the LLM provider '%s' is too "
				"large",
				c->p->name);
	else
		msg = xasprintf("the LLM provider '%s' (%s) cannot be reached: "
				"%s",
				c->p->name, provider_type_name(c->p->type),
				c->errbuf[0] ? c->errbuf
					     : curl_easy_strerror(rc));
	log_info("gateway task=%s: %s", c->g->task_id, msg);
	gw_answer(c, rc == CURLE_OPERATION_TIMEDOUT ? 504 : 502, msg, true);
	free(msg);
}

/* Send c's routed, authorized request upstream. */
static void
gw_send(struct gw_conn *c)
{
	const char *m = c->req.method;
	char *cause = NULL;
	int status;
	CURL *e;

	status = gw_headers(c, &cause);
	if (status != 0) {
		gw_answer(c, status, cause, false);
		free(cause);
		return;
	}
	/* one handle per connection: reset, it keeps its buffers */
	if (c->easy == NULL)
		c->easy = curl_easy_init();
	else
		curl_easy_reset(c->easy);
	e = c->easy;
	if (e == NULL)
		fatal("cannot make a libcurl handle");
	gw_curl_setup(e, c->p);
	curl_easy_setopt(e, CURLOPT_URL, c->route.url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, GW_CONNECT_MS);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, GW_UPSTREAM_IDLE);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, gw_on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, gw_on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	c->errbuf[0] = '\0';
	if (strcmp(m, "GET") == 0 && c->body.len == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS,
				 c->body.data ? c->body.data : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)c->body.len);
		if (strcmp(m, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	}
	c->state = GW_UPSTREAM;
	gw_watch(c);
	c->sent = true;
	curlev_add(e, gw_on_done, c);
}

/* vtoken_get's answer: a bearer token, or why there is none. */
static void
gw_on_token(const char *token, const char *error, void *data)
{
	struct gw_conn *c = data;

	c->vw = NULL;
	c->token = token ? xstrdup(token) : NULL;
	c->token_error = token ? NULL : xstrdup(error ? error : "no token");
	if (c->vtoken_sync)
		return; /* gw_start goes on */
	if (c->token == NULL) {
		char *msg = xasprintf("no access token for the LLM provider "
				      "'%s': %s",
				      c->p->name, c->token_error);

		gw_answer(c, 502, msg, true);
		free(msg);
		return;
	}
	gw_send(c);
}

/* What a streamed Chat Completions request gets (gw_ask_usage). */
#define GW_INCLUDE_USAGE ",\"stream_options\":{\"include_usage\":true}}"

/*
 * A streamed Chat Completions response reports its usage only when the
 * request asks for it (stream_options.include_usage): without it the
 * tokens would go uncounted and no budget would hold. Ask for it in c's
 * body: the member appended to the object (a later member wins in the
 * providers' parsers), or the object rewritten when the agent set
 * stream_options itself. 0, or an HTTP status and *cause (new string):
 * a body that is not one JSON object without duplicate members (what the
 * provider would read of it is unknown: 400), too large once asked (413).
 */
static int
gw_ask_usage(struct gw_conn *c, char **cause)
{
	json_error_t err;
	json_t *j, *so;
	char *s = NULL;
	size_t end;
	int r = 0;

	if (c->route.usage != USAGE_OPENAI_CHAT || c->body.len == 0)
		return 0;
	j = json_loadb(c->body.data, c->body.len, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(j)) {
		*cause =
			xasprintf("the request body is not one JSON object%s%s",
				  j ? "" : ": ", j ? "" : err.text);
		r = 400;
		goto out;
	}
	if (!json_is_true(json_object_get(j, "stream")))
		goto out;
	so = json_object_get(j, "stream_options");
	if (json_is_true(json_object_get(so, "include_usage")))
		goto out;
	if (so != NULL && !json_is_object(so)) {
		*cause = xstrdup("stream_options must be an object");
		r = 400;
		goto out;
	}
	if (so == NULL) {
		/* one object was read: its closing brace ends the body */
		end = c->body.len;
		while (end > 0 && strchr(" \t\r\n", c->body.data[end - 1]))
			end--;
		BUG_ON(end == 0 || c->body.data[end - 1] != '}');
		c->body.len = end - 1;
		if (buf_puts(&c->body, GW_INCLUDE_USAGE) < 0)
			r = 413;
	} else {
		json_object_set_new(so, "include_usage", json_true());
		if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
			fatal("out of memory");
		buf_clear(&c->body);
		if (buf_puts(&c->body, s) < 0)
			r = 413;
	}
	if (r == 413)
		*cause = xstrdup("request body too large");
out:
	free(s);
	json_decref(j);
	return r;
}

/* The request is read whole: route, check the budgets, authorize, send. */
static void
gw_start(struct gw_conn *c)
{
	char *cause = NULL, *msg;
	int status;

	ev_timer_stop(srv->loop, &c->timer);
	c->t_start = gw_now_us();
	c->p = provider_get(c->g->provider);
	if (c->p == NULL) {
		msg = xasprintf("no LLM provider named '%s' is configured on "
				"the server (taskbox provider set %s)",
				c->g->provider, c->g->provider);
		gw_answer(c, 502, msg, false);
		free(msg);
		return;
	}
	status =
		gw_route(c->p, c->req.method, c->req.target, &c->route, &cause);
	if (status != 0) {
		gw_answer(c, status, cause ? cause : "bad request target",
			  false);
		free(cause);
		return;
	}
	c->routed = true;
	if ((status = gw_ask_usage(c, &cause)) != 0) {
		gw_answer(c, status, cause, false);
		free(cause);
		return;
	}
	if ((status = account_check(c->g->task_id, c->g->owner_id,
				    c->g->template_id, &cause)) < 0 ||
	    (status = account_begin(c->g->task_id, c->g->owner_id,
				    c->g->template_id, &cause)) < 0) {
		if (status == -EDQUOT)
			account_exceeded(c->g->task_id, cause);
		gw_answer(c, 429, cause, false);
		free(cause);
		return;
	}
	c->begun = true;
	log_debug("gateway task=%s: %s %s", c->g->task_id, c->req.method,
		  c->req.target);
	if (c->route.auth != GW_AUTH_VERTEX) {
		gw_send(c);
		return;
	}
	c->state = GW_TOKEN;
	gw_watch(c);
	c->vtoken_sync = true;
	c->vw = vtoken_get(c->p, gw_on_token, c);
	c->vtoken_sync = false;
	if (c->vw == NULL) {
		if (c->token == NULL) {
			msg = xasprintf("no access token for the LLM provider "
					"'%s': %s",
					c->p->name, c->token_error);
			gw_answer(c, 502, msg, true);
			free(msg);
			return;
		}
		gw_send(c);
	}
}

/* Read c's request head from c->in: 1 when the body comes next, 0 when
 * more is needed, -1 when c was refused (and may be freed). */
static int
gw_read_head(struct gw_conn *c)
{
	const char *end, *why = NULL;
	size_t hl;
	int status;

	if (!c->head_timed && srv->head_timeout_ms > 0) {
		c->head_timed = true;
		ev_timer_start(srv->loop, &c->timer,
			       now_ms() + srv->head_timeout_ms);
	}
	end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
	if (end == NULL) {
		if (c->in.len > GW_HEAD_MAX) {
			gw_refuse(c, 431, "request head too large");
			return -1;
		}
		return 0;
	}
	hl = (size_t)(end - c->in.data) + 4;
	if (hl > GW_HEAD_MAX) {
		gw_refuse(c, 431, "request head too large");
		return -1;
	}
	c->have_req = true;
	status = gw_req_parse(c->in.data, hl, &c->req, &why);
	buf_consume(&c->in, hl);
	if (status == 0 && c->req.content_length > (int64_t)GW_BODY_MAX) {
		status = 413;
		why = "request body too large";
	}
	if (status != 0) {
		gw_refuse(c, status, why);
		return -1;
	}
	if (c->req.expect_continue)
		buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
	c->state = GW_BODY;
	ev_timer_start(srv->loop, &c->timer, now_ms() + GW_BODY_IDLE_MS);
	return 1;
}

/* Move c->in into the body: 1 once the body is whole, 0 when more is
 * needed, -1 when c was refused. */
static int
gw_read_body(struct gw_conn *c)
{
	const char *why;
	int r;

	if (c->req.chunked) {
		r = gw_chunked_feed(&c->ch, &c->in, &c->body, &why);
		if (r > 1) {
			gw_refuse(c, r, why);
			return -1;
		}
		if (!gw_reserve(c, c->body.len)) {
			gw_refuse(c, 503,
				  "the LLM gateway holds too many "
				  "request bodies; try again");
			return -1;
		}
		return r;
	}
	if (c->req.content_length > 0) {
		size_t want = (size_t)c->req.content_length - c->body.len;
		size_t take = c->in.len < want ? c->in.len : want;

		if (!gw_reserve(c, c->body.len + take)) {
			gw_refuse(c, 503,
				  "the LLM gateway holds too many "
				  "request bodies; try again");
			return -1;
		}
		if (buf_append(&c->body, c->in.data, take) < 0) {
			gw_refuse(c, 413, "request body too large");
			return -1;
		}
		buf_consume(&c->in, take);
		return c->body.len == (size_t)c->req.content_length;
	}
	return 1;
}

/* Use what c->in holds: heads and bodies, then start the request. */
static void
gw_process(struct gw_conn *c)
{
	int r;

	if (c->state == GW_HEAD) {
		if (c->in.len == 0 || c->out.len >= GW_OUT_HIGH)
			return; /* gw_on_io goes on once the agent reads */
		if ((r = gw_read_head(c)) <= 0)
			return;
	}
	if (c->state != GW_BODY)
		return;
	if ((r = gw_read_body(c)) < 0)
		return;
	if (r == 0) {
		ev_timer_start(srv->loop, &c->timer,
			       now_ms() + GW_BODY_IDLE_MS);
		if (gw_flush(c) < 0)
			gw_conn_free(c);
		else
			gw_watch(c);
		return;
	}
	gw_start(c);
}

/* The agent's socket is ready (or gone). */
static void
gw_on_io(struct ev_io *io UNUSED, uint32_t events, void *data)
{
	struct gw_conn *c = data;

	if (events & EPOLLOUT) {
		if (gw_write_out(c) != 0)
			return;
		if (c->state == GW_HEAD && c->in.len > 0 &&
		    c->out.len < GW_OUT_LOW)
			ev_timer_start(srv->loop, &c->kick, now_ms());
		gw_watch(c);
	}
	if (c->state == GW_HEAD || c->state == GW_BODY) {
		char buf[GW_READ];
		size_t room = GW_IN_MAX - c->in.len;
		ssize_t n;

		if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || room == 0)
			return; /* the kick serves what c->in holds first */
		n = read(c->fd, buf, room < sizeof buf ? room : sizeof buf);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			gw_conn_free(c);
			return;
		}
		if (buf_append(&c->in, buf, (size_t)n) < 0) {
			gw_refuse(c, c->state == GW_HEAD ? 431 : 413,
				  c->state == GW_HEAD
					  ? "request head too large"
					  : "request body too large");
			return;
		}
		gw_process(c);
		return;
	}
	if (c->state == GW_DETACHED)
		return;
	if (events & (EPOLLHUP | EPOLLERR)) {
		/* the agent went away: its transfer is read on without it */
		if (c->state != GW_UPSTREAM || !gw_detach(c, "it hung up"))
			gw_conn_free(c);
	} else if (events & EPOLLIN) {
		c->keep_in = false; /* it sent ahead: read once this ends */
		gw_watch(c);
	}
}

/* c's timer: an idle keep-alive ends; a late head or body gets a 408;
 * an agent that left its response paused for gw_stall_ms is dropped (the
 * transfer detached); a detached transfer past its deadline is
 * cancelled. */
static void
gw_on_timer(void *data)
{
	struct gw_conn *c = data;

	if (c->state == GW_UPSTREAM) {
		log_info("gateway task=%s: the agent did not read the response "
			 "of provider '%s' for %u ms: closed",
			 c->g->task_id, c->p->name, gw_stall_ms());
		if (!gw_detach(c, "it stopped reading"))
			gw_conn_free(c);
		return;
	}
	if (c->state == GW_DETACHED) {
		log_info("gateway task=%s: the response of provider '%s' the "
			 "agent left ran for %u ms: cancelled, what was read "
			 "counted",
			 c->g->task_id, c->p->name, gw_detached_ms());
		gw_conn_free(c);
		return;
	}
	if (c->state == GW_CLOSING || (c->state == GW_HEAD && !c->head_timed)) {
		gw_conn_free(c);
		return;
	}
	gw_refuse(c, 408,
		  c->state == GW_HEAD ? "no request head in time"
				      : "the request body stalled");
}

/* Requests the agent sent ahead of their turn: serve the next one. */
static void
gw_on_kick(void *data)
{
	gw_process(data);
}

struct gateway *
gateway_new(const char *task_id, const char *owner_id, const char *template_id,
	    const char *provider)
{
	struct gateway *g = xcalloc(1, sizeof *g);

	g->task_id = xstrdup(task_id);
	g->owner_id = xstrdup(owner_id ? owner_id : "");
	g->template_id = xstrdup(template_id ? template_id : "");
	g->provider = xstrdup(provider ? provider : "default");
	g->next = gw_all;
	gw_all = g;
	return g;
}

void
gateway_free(struct gateway *g)
{
	struct gw_conn *c, *next;

	if (g == NULL)
		return;
	BUG_ON(g->closed);
	/* g is not closed yet: no gw_conn_free here frees it */
	for (c = g->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == GW_DETACHED)
			continue;
		if (c->state == GW_UPSTREAM && c->sent &&
		    gw_detach(c, "its task stopped"))
			continue;
		gw_conn_free(c);
	}
	if (g->conns == NULL)
		gw_gateway_release(g);
	else
		g->closed = true;
}

/* Free every connection of g (g itself too when it is closed): what
 * their transfers read is recorded. */
static void
gw_abort_all(struct gateway *g)
{
	while (g->conns != NULL) {
		bool last = g->conns->next == NULL;

		gw_conn_free(g->conns);
		if (last)
			return; /* g may be gone */
	}
}

void
gateway_task_gone(const char *task_id)
{
	struct gateway *g, *next;

	for (g = gw_all; g != NULL; g = next) {
		next = g->next;
		if (g->closed && strcmp(g->task_id, task_id) == 0)
			gw_abort_all(g);
	}
}

void
gateway_shutdown(void)
{
	struct gateway *g, *next;

	for (g = gw_all; g != NULL; g = next) {
		next = g->next;
		gw_abort_all(g);
	}
}

void
gateway_accept(struct gateway *g, int fd)
{
	struct gw_conn *c = xcalloc(1, sizeof *c);

	c->g = g;
	c->fd = fd;
	c->state = GW_HEAD;
	buf_init(&c->in, GW_IN_MAX);
	buf_init(&c->out, 0);
	buf_init(&c->body, GW_BODY_MAX);
	buf_init(&c->rhead, GW_RHEAD_MAX);
	ev_timer_init(&c->timer, gw_on_timer, c);
	ev_timer_init(&c->kick, gw_on_kick, c);
	c->keep_in = true;
	/* the first head is due like the API's (--header-timeout) */
	if (srv->head_timeout_ms > 0) {
		c->head_timed = true;
		ev_timer_start(srv->loop, &c->timer,
			       now_ms() + srv->head_timeout_ms);
	} else {
		ev_timer_start(srv->loop, &c->timer, now_ms() + GW_IDLE_MS);
	}
	c->io = ev_io_add(srv->loop, fd, EPOLLIN, gw_on_io, c);
	c->next = g->conns;
	g->conns = c;
	g->nconns++;
	gw_total++;
	/* egress counts two descriptors a connection: its upstream's too */
	curlev_reserve(gw_total);
}

size_t
gateway_conns(const struct gateway *g)
{
	return g ? g->nconns : 0;
}

size_t
gateway_conns_total(void)
{
	return gw_total;
}
