/*
 * metrics.c: GET /metrics, the Prometheus text format (0.0.4).
 *
 * Data model: counters and histograms live here, fed by hooks: every
 * HTTP reply (http_server_on_reply: the matched route's method and
 * pattern, never the raw path, so the label sets stay as few as the
 * routes times the status codes; at most METRICS_ROUTES_MAX of them,
 * the rest counted as route="other"), every store call
 * (store_on_timing), task starts (metrics_task_start) and the time from
 * an accepted start to active (metrics_task_active). Gauges (tasks by
 * status and by state, SSE clients) are counted from the live tasks at
 * each scrape. Label values are ours (statuses, states, route patterns)
 * and escaped anyway.
 *
 * Who may read: an admin's token, or anyone when the server runs with
 * --metrics-public (for a scraper without a token). The figures are
 * aggregates over all users, so a member never sees them.
 */
#include "common.h"

#include "core/buf.h"
#include "http/http.h"
#include "server.h"
#include "server/metrics.h"
#include "server/task-events.h"
#include "store/store.h"

#define METRICS_ROUTES_MAX  1024
#define METRICS_BUCKETS_MAX 16

/* A histogram: upper bounds in seconds, counts per bucket (not yet
 * cumulative), the sum and the count. */
struct metrics_hist {
	const double *le;
	size_t n;
	uint64_t counts[METRICS_BUCKETS_MAX];
	double sum;
	uint64_t count;
};

/* Replies of one route (method and pattern, the HTTP layer's strings)
 * with one status. */
struct metrics_route {
	const char *method, *route;
	unsigned code;
	uint64_t count;
};

static const double metrics_start_le[] = {0.05, 0.1, 0.25, 0.5, 1,  2.5,
					  5,	10,  30,   60,	120};
static const double metrics_store_le[] = {0.0001, 0.00025, 0.0005, 0.001,
					  0.0025, 0.005,   0.01,   0.025,
					  0.05,	  0.1,	   0.25,   1};

static struct metrics_hist metrics_start = {.le = metrics_start_le,
					    .n = ARRAY_SIZE(metrics_start_le)};
static struct metrics_hist metrics_store = {.le = metrics_store_le,
					    .n = ARRAY_SIZE(metrics_store_le)};
static uint64_t metrics_starts;
static struct metrics_route *metrics_routes;
static size_t metrics_nroutes;

/* Count one observation of v seconds in h. */
static void
metrics_observe(struct metrics_hist *h, double v)
{
	size_t i = 0;

	while (i < h->n && v > h->le[i])
		i++;
	h->counts[i]++; /* i == n: only +Inf */
	h->sum += v;
	h->count++;
}

void
metrics_task_start(void)
{
	metrics_starts++;
}

void
metrics_task_active(uint64_t ms)
{
	metrics_observe(&metrics_start, (double)ms / 1000.0);
}

/* The store's timing hook. */
static void
metrics_on_store(uint64_t ns, void *data UNUSED)
{
	metrics_observe(&metrics_store, (double)ns / 1e9);
}

/* The HTTP layer's reply hook: count the reply under its route. */
static void
metrics_on_reply(const char *method, const char *route, unsigned status,
		 void *data UNUSED)
{
	struct metrics_route *r;

	for (size_t i = 0; i < metrics_nroutes; i++) {
		r = &metrics_routes[i];
		if (r->method == method && r->route == route &&
		    r->code == status) {
			r->count++;
			return;
		}
	}
	if (metrics_nroutes == METRICS_ROUTES_MAX) {
		/* the last slot takes whatever does not fit */
		r = &metrics_routes[METRICS_ROUTES_MAX - 1];
		r->method = NULL;
		r->route = "other";
		r->code = 0;
		r->count++;
		return;
	}
	metrics_routes = xreallocarray(metrics_routes, metrics_nroutes + 1,
				       sizeof *metrics_routes);
	r = &metrics_routes[metrics_nroutes++];
	r->method = method;
	r->route = route;
	r->code = status;
	r->count = 1;
}

/* Append s to b as a label value (backslash, quote and newline
 * escaped). */
static void
metrics_label(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			buf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else
			buf_append(b, s, 1);
	}
}

/* Append histogram h named name with its HELP text. */
static void
metrics_put_hist(struct buf *b, const char *name, const char *help,
		 const struct metrics_hist *h)
{
	uint64_t cum = 0;

	buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < h->n; i++) {
		cum += h->counts[i];
		buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->le[i],
			   (unsigned long long)cum);
	}
	cum += h->counts[h->n];
	buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
		   (unsigned long long)cum);
	buf_printf(b, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name,
		   (unsigned long long)h->count);
}

/* The gauges counted over the live tasks at a scrape. */
struct metrics_census {
	size_t status[8], state[8], sse;
};

static const char *const metrics_statuses[] = {
	"pending", "initializing", "active", "paused", "error", "unknown",
};
static const char *const metrics_states[] = {
	"working", "idle", "waiting", "complete", "failure",
};

/* The index of s in names (n of them), or n. */
static size_t
metrics_index(const char *const *names, size_t n, const char *s)
{
	size_t i = 0;

	while (i < n && strcmp(names[i], s) != 0)
		i++;
	return i;
}

/* Count one task into the census. */
static void
metrics_count_task(struct task *t, void *data)
{
	struct metrics_census *c = data;
	size_t i = metrics_index(metrics_statuses, ARRAY_SIZE(metrics_statuses),
				 task_status(t));
	size_t j = metrics_index(metrics_states, ARRAY_SIZE(metrics_states),
				 task_agent_state(t));

	if (i < ARRAY_SIZE(metrics_statuses))
		c->status[i]++;
	if (j < ARRAY_SIZE(metrics_states))
		c->state[j]++;
	c->sse += task_subscribers(t);
}

/* Append the task gauges and counters. */
static void
metrics_put_tasks(struct buf *b)
{
	struct metrics_census c = {0};

	task_foreach(metrics_count_task, &c);
	buf_puts(b, "# HELP taskbox_tasks Tasks not deleted, by status.\n"
		    "# TYPE taskbox_tasks gauge\n");
	for (size_t i = 0; i < ARRAY_SIZE(metrics_statuses); i++)
		buf_printf(b, "taskbox_tasks{status=\"%s\"} %zu\n",
			   metrics_statuses[i], c.status[i]);
	buf_puts(b, "# HELP taskbox_tasks_state Tasks not deleted, by "
		    "current_state.\n# TYPE taskbox_tasks_state gauge\n");
	for (size_t i = 0; i < ARRAY_SIZE(metrics_states); i++)
		buf_printf(b, "taskbox_tasks_state{state=\"%s\"} %zu\n",
			   metrics_states[i], c.state[i]);
	buf_printf(b,
		   "# HELP taskbox_task_starts_total Workspace starts "
		   "accepted (create, resume, restart).\n"
		   "# TYPE taskbox_task_starts_total counter\n"
		   "taskbox_task_starts_total %llu\n",
		   (unsigned long long)metrics_starts);
	metrics_put_hist(b, "taskbox_task_start_seconds",
			 "Time from an accepted start to the agent running "
			 "(active).",
			 &metrics_start);
	buf_printf(b,
		   "# HELP taskbox_sse_clients Clients following a task's "
		   "events.\n# TYPE taskbox_sse_clients gauge\n"
		   "taskbox_sse_clients %zu\n",
		   c.sse);
	buf_printf(b,
		   "# HELP taskbox_event_streams Clients following every "
		   "visible task's changes (/api/v2/events).\n"
		   "# TYPE taskbox_event_streams gauge\n"
		   "taskbox_event_streams %zu\n",
		   task_events_streams());
}

/* Append the HTTP request counters. */
static void
metrics_put_http(struct buf *b)
{
	buf_puts(b, "# HELP taskbox_http_requests_total API replies by "
		    "route pattern and status code.\n"
		    "# TYPE taskbox_http_requests_total counter\n");
	for (size_t i = 0; i < metrics_nroutes; i++) {
		const struct metrics_route *r = &metrics_routes[i];

		buf_puts(b, "taskbox_http_requests_total{method=\"");
		metrics_label(b, r->method ? r->method : "");
		buf_puts(b, "\",route=\"");
		metrics_label(b, r->route ? r->route : "unmatched");
		buf_printf(b, "\",code=\"%u\"} %llu\n", r->code,
			   (unsigned long long)r->count);
	}
}

/* GET /metrics */
static void
metrics_get(struct http_req *req, void *data UNUSED)
{
	struct buf b;

	if (!srv->metrics_public) {
		json_t *user = auth_user(req); /* NULL: it answered 401 */
		bool admin = user != NULL && auth_is_admin(user);

		if (user != NULL && !admin)
			http_reply_problem(req, 403,
					   "metrics are for admins (or start "
					   "the server with --metrics-public)");
		json_decref(user);
		if (!admin)
			return;
	}
	buf_init(&b, 0);
	metrics_put_tasks(&b);
	metrics_put_http(&b);
	metrics_put_hist(&b, "taskbox_store_seconds",
			 "Time of one store call (query or statement).",
			 &metrics_store);
	http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data,
		   b.len);
	buf_release(&b);
}

void
metrics_register(struct http_server *http, struct store *store)
{
	http_server_route(http, "GET", "/metrics", 0, 0, metrics_get, NULL);
	http_server_on_reply(http, metrics_on_reply, NULL);
	store_on_timing(store, metrics_on_store, NULL);
}
