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
 * The LLM gateway reports each request it ends (metrics_gateway): counts
 * by status code, tokens by kind, upstream errors and two latency
 * histograms (first byte, whole request), per provider x model label
 * set. The model comes from the agent's request or the upstream's reply,
 * so it is untrusted: a value is cut to METRICS_GW_LABEL_MAX bytes of
 * valid UTF-8 without control characters, and the sets are bounded like
 * the routes: METRICS_GW_PAIRS pairs as named, then up to
 * METRICS_GW_OTHER (provider, model="other") sets for what does not fit,
 * then one last ("other", "other") set. Status codes are bounded per set
 * too (METRICS_GW_CODES, the rest as code="other").
 *
 * Who may read: an admin's token, or anyone when the server runs with
 * --metrics-public (for a scraper without a token). The figures are
 * aggregates over all users, so a member never sees them.
 */
#include "common.h"

#include "core/buf.h"
#include "core/text.h"
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

#define METRICS_GW_PAIRS      128 /* provider x model sets as named */
#define METRICS_GW_OTHER      16  /* (provider, "other") sets past them */
#define METRICS_GW_CODES      16  /* status codes per set */
#define METRICS_GW_LABEL_MAX  128 /* bytes of a label value as given */
#define METRICS_GW_CODE_OTHER (-1)

/* Token kinds, in the order of struct metrics_gw's tokens[]. */
static const char *const metrics_gw_kinds[] = {
	"input",
	"output",
	"cache_read",
	"cache_creation",
};

/* Replies with one status code. */
struct metrics_gw_code {
	int code; /* METRICS_GW_CODE_OTHER: what did not fit */
	uint64_t count;
};

/* Gateway requests of one provider x model label set. */
struct metrics_gw {
	char *provider, *model; /* label values, already made safe */
	struct metrics_gw_code codes[METRICS_GW_CODES];
	size_t ncodes;
	uint64_t tokens[ARRAY_SIZE(metrics_gw_kinds)];
	uint64_t upstream_errors;
	struct metrics_hist first_byte, duration;
};

/* LLM replies start in seconds; loopback and cached ones in ms. */
static const double metrics_gw_first_le[] = {0.001, 0.005, 0.01, 0.025, 0.05,
					     0.1,   0.25,  0.5,	 1,	2.5,
					     5,	    10,	   30,	 60,	120};
static const double metrics_gw_total_le[] = {
	0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};

static struct metrics_gw *metrics_gws;
static size_t metrics_ngws;

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

/* s as a label value: NULL or "" as "unknown", else at most
 * METRICS_GW_LABEL_MAX bytes of it, invalid UTF-8 replaced by U+FFFD and
 * control characters by '?'. Returns a new string. */
static char *
metrics_gw_value(const char *s)
{
	char *cut, *v;

	if (s == NULL || *s == '\0')
		return xstrdup("unknown");
	cut = xstrndup(s, utf8_cut(s, strnlen(s, METRICS_GW_LABEL_MAX)));
	v = utf8_sanitize(cut);
	free(cut);
	for (char *p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return v;
}

/* The set of (provider, model), or NULL; both are label values. */
static struct metrics_gw *
metrics_gw_find(const char *provider, const char *model)
{
	for (size_t i = 0; i < metrics_ngws; i++) {
		struct metrics_gw *g = &metrics_gws[i];

		if (strcmp(g->provider, provider) == 0 &&
		    strcmp(g->model, model) == 0)
			return g;
	}
	return NULL;
}

/* A new set of (provider, model), which are copied. */
static struct metrics_gw *
metrics_gw_add(const char *provider, const char *model)
{
	struct metrics_gw *g;

	metrics_gws = xreallocarray(metrics_gws, metrics_ngws + 1, sizeof *g);
	g = &metrics_gws[metrics_ngws++];
	*g = (struct metrics_gw){
		.provider = xstrdup(provider),
		.model = xstrdup(model),
		.first_byte = {.le = metrics_gw_first_le,
			       .n = ARRAY_SIZE(metrics_gw_first_le)},
		.duration = {.le = metrics_gw_total_le,
			     .n = ARRAY_SIZE(metrics_gw_total_le)},
	};
	return g;
}

/* The set a request of (provider, model) counts in: its own while
 * there is room, else (provider, "other"), else ("other", "other"). */
static struct metrics_gw *
metrics_gw_set(const char *provider, const char *model)
{
	struct metrics_gw *g = metrics_gw_find(provider, model);

	if (g != NULL)
		return g;
	if (metrics_ngws < METRICS_GW_PAIRS)
		return metrics_gw_add(provider, model);
	if ((g = metrics_gw_find(provider, "other")) != NULL)
		return g;
	if (metrics_ngws < METRICS_GW_PAIRS + METRICS_GW_OTHER)
		return metrics_gw_add(provider, "other");
	if ((g = metrics_gw_find("other", "other")) != NULL)
		return g;
	return metrics_gw_add("other", "other");
}

/* Count one reply with status code in g. */
static void
metrics_gw_code(struct metrics_gw *g, int code)
{
	size_t i;

	for (i = 0; i < g->ncodes; i++)
		if (g->codes[i].code == code)
			break;
	if (i == g->ncodes) {
		if (g->ncodes == METRICS_GW_CODES) {
			/* the last slot takes whatever does not fit */
			i = METRICS_GW_CODES - 1;
			g->codes[i].code = METRICS_GW_CODE_OTHER;
		} else {
			g->codes[g->ncodes++] =
				(struct metrics_gw_code){code, 0};
		}
	}
	g->codes[i].count++;
}

void
metrics_gateway(const char *provider, const char *model, int status,
		uint64_t first_byte_us, uint64_t total_us,
		const struct usage *u, bool upstream_error)
{
	char *p = metrics_gw_value(provider), *m = metrics_gw_value(model);
	struct metrics_gw *g = metrics_gw_set(p, m);

	free(p);
	free(m);
	metrics_gw_code(g, status);
	if (u != NULL) {
		g->tokens[0] += u->input_tokens;
		g->tokens[1] += u->output_tokens;
		g->tokens[2] += u->cache_read_input_tokens;
		g->tokens[3] += u->cache_creation_input_tokens;
	}
	if (upstream_error)
		g->upstream_errors++;
	if (status != 0) /* no reply: no first byte either */
		metrics_observe(&g->first_byte, (double)first_byte_us / 1e6);
	metrics_observe(&g->duration, (double)total_us / 1e6);
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

/* Append the lines of histogram h named name; labels: "" or the
 * escaped label pairs with a trailing comma (`a="x",`). */
static void
metrics_put_hist_lines(struct buf *b, const char *name, const char *labels,
		       const struct metrics_hist *h)
{
	size_t n = strlen(labels);
	uint64_t cum = 0;

	for (size_t i = 0; i < h->n; i++) {
		cum += h->counts[i];
		buf_printf(b, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels,
			   h->le[i], (unsigned long long)cum);
	}
	cum += h->counts[h->n];
	buf_printf(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
		   (unsigned long long)cum);
	/* the pairs without their trailing comma, or no braces at all */
	if (n > 0)
		buf_printf(b, "%s_sum{%.*s} %.9g\n%s_count{%.*s} %llu\n", name,
			   (int)n - 1, labels, h->sum, name, (int)n - 1, labels,
			   (unsigned long long)h->count);
	else
		buf_printf(b, "%s_sum %.9g\n%s_count %llu\n", name, h->sum,
			   name, (unsigned long long)h->count);
}

/* Append histogram h named name with its HELP text. */
static void
metrics_put_hist(struct buf *b, const char *name, const char *help,
		 const struct metrics_hist *h)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	metrics_put_hist_lines(b, name, "", h);
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

/* Append g's labels as `provider="P",model="M"` (escaped). */
static void
metrics_gw_labels(struct buf *b, const struct metrics_gw *g)
{
	buf_puts(b, "provider=\"");
	metrics_label(b, g->provider);
	buf_puts(b, "\",model=\"");
	metrics_label(b, g->model);
	buf_puts(b, "\"");
}

/* Append the gateway's counters and histograms. */
static void
metrics_put_gateway(struct buf *b)
{
	struct buf l;

	buf_puts(b, "# HELP taskbox_gateway_requests_total LLM gateway "
		    "requests by provider, model and the status the agent "
		    "got (0: none).\n"
		    "# TYPE taskbox_gateway_requests_total counter\n");
	for (size_t i = 0; i < metrics_ngws; i++) {
		const struct metrics_gw *g = &metrics_gws[i];

		for (size_t j = 0; j < g->ncodes; j++) {
			buf_puts(b, "taskbox_gateway_requests_total{");
			metrics_gw_labels(b, g);
			if (g->codes[j].code == METRICS_GW_CODE_OTHER)
				buf_puts(b, ",code=\"other\"}");
			else
				buf_printf(b, ",code=\"%d\"}",
					   g->codes[j].code);
			buf_printf(b, " %llu\n",
				   (unsigned long long)g->codes[j].count);
		}
	}
	buf_puts(b, "# HELP taskbox_gateway_tokens_total Tokens the LLM "
		    "gateway read from replies, by kind.\n"
		    "# TYPE taskbox_gateway_tokens_total counter\n");
	for (size_t i = 0; i < metrics_ngws; i++) {
		for (size_t k = 0; k < ARRAY_SIZE(metrics_gw_kinds); k++) {
			buf_puts(b, "taskbox_gateway_tokens_total{");
			metrics_gw_labels(b, &metrics_gws[i]);
			buf_printf(
				b, ",kind=\"%s\"} %llu\n", metrics_gw_kinds[k],
				(unsigned long long)metrics_gws[i].tokens[k]);
		}
	}
	buf_puts(b, "# HELP taskbox_gateway_upstream_errors_total LLM "
		    "gateway requests whose upstream failed (connect, TLS, "
		    "timeout, 5xx).\n"
		    "# TYPE taskbox_gateway_upstream_errors_total counter\n");
	for (size_t i = 0; i < metrics_ngws; i++) {
		buf_puts(b, "taskbox_gateway_upstream_errors_total{");
		metrics_gw_labels(b, &metrics_gws[i]);
		buf_printf(b, "} %llu\n",
			   (unsigned long long)metrics_gws[i].upstream_errors);
	}
	buf_init(&l, 0);
	buf_puts(b, "# HELP taskbox_gateway_first_byte_seconds Time from an "
		    "agent's request to the first byte of its reply.\n"
		    "# TYPE taskbox_gateway_first_byte_seconds histogram\n");
	for (size_t i = 0; i < metrics_ngws; i++) {
		buf_clear(&l);
		metrics_gw_labels(&l, &metrics_gws[i]);
		buf_puts(&l, ",");
		metrics_put_hist_lines(b, "taskbox_gateway_first_byte_seconds",
				       buf_cstr(&l),
				       &metrics_gws[i].first_byte);
	}
	buf_puts(b, "# HELP taskbox_gateway_duration_seconds Time from an "
		    "agent's request to the end of its reply.\n"
		    "# TYPE taskbox_gateway_duration_seconds histogram\n");
	for (size_t i = 0; i < metrics_ngws; i++) {
		buf_clear(&l);
		metrics_gw_labels(&l, &metrics_gws[i]);
		buf_puts(&l, ",");
		metrics_put_hist_lines(b, "taskbox_gateway_duration_seconds",
				       buf_cstr(&l), &metrics_gws[i].duration);
	}
	buf_release(&l);
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
	metrics_put_gateway(&b);
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
