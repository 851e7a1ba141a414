/*
 * test-metrics.c: the LLM gateway's figures in GET /metrics
 * (metrics_gateway in src/server/metrics.c).
 *
 * Data model: metrics.c is linked alone; the few server calls it makes
 * are answered here: http_server_route keeps the /metrics handler,
 * http_reply keeps the body it was given, there are no tasks, and the
 * server runs with --metrics-public (no token to check). Each test feeds
 * metrics_gateway, calls the handler as a scrape would, and reads sample
 * lines out of the text. metrics.c's tables live for the process, so each
 * test uses its own provider names; the bound test, which fills the
 * table, runs last.
 */
#include "common.h"

#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/text.h"
#include "http/http.h"
#include "server/server.h"
#include "server/metrics.h"
#include "server/task-events.h"
#include "store/store.h"

/* ---- the server around metrics.c */

static struct server test_srv = {.metrics_public = true};
struct server *srv = &test_srv;

static http_handler scrape_handler;
static void *scrape_data;
static char *scraped; /* the last reply's body */
static unsigned scraped_status;

void
http_server_route(struct http_server *s, const char *method, const char *path,
		  int flags, size_t body_limit, http_handler handler,
		  void *data)
{
	if (strcmp(path, "/metrics") == 0) {
		scrape_handler = handler;
		scrape_data = data;
	}
}

void
http_server_on_reply(struct http_server *s, http_reply_cb cb, void *data)
{
}

void
store_on_timing(struct store *st, void (*cb)(uint64_t ns, void *data),
		void *data)
{
}

void
http_reply(struct http_req *req, unsigned status, const char *ctype,
	   const void *data, size_t len)
{
	free(scraped);
	scraped = xstrndup(data, len);
	scraped_status = status;
}

void
http_reply_problem(struct http_req *req, unsigned status, const char *fmt, ...)
{
	fail_msg("problem %u: metrics are public in this test", status);
}

json_t *
auth_user(struct http_req *req)
{
	fail_msg("auth_user: metrics are public in this test");
	return NULL;
}

bool
auth_is_admin(const json_t *user)
{
	return false;
}

void
task_foreach(void (*cb)(struct task *t, void *data), void *data)
{
}

size_t
task_subscribers(const struct task *t)
{
	return 0;
}

const char *
task_status(struct task *t)
{
	return "active";
}

const char *
task_agent_state(struct task *t)
{
	return "idle";
}

size_t
task_events_streams(void)
{
	return 0;
}

/* ---- helpers */

/* GET /metrics as a scraper would; the body stays in scraped. */
static void
scrape(void)
{
	if (scrape_handler == NULL)
		metrics_register(NULL, NULL);
	assert_non_null(scrape_handler);
	scrape_handler(NULL, scrape_data);
	assert_int_equal(scraped_status, 200);
	assert_non_null(scraped);
}

/* The value of the sample whose name and labels are exactly key (as the
 * text has them), or NAN when there is no such line. */
static double
sample(const char *key)
{
	size_t n = strlen(key);

	for (const char *l = scraped; l != NULL && *l != '\0';) {
		const char *nl = strchr(l, '\n');

		if (strncmp(l, key, n) == 0 && l[n] == ' ')
			return strtod(l + n + 1, NULL);
		l = nl ? nl + 1 : NULL;
	}
	return NAN;
}

/* How many lines start with prefix. */
static size_t
count_lines(const char *prefix)
{
	size_t c = 0, n = strlen(prefix);

	for (const char *l = scraped; l != NULL && *l != '\0';) {
		const char *nl = strchr(l, '\n');

		if (strncmp(l, prefix, n) == 0)
			c++;
		l = nl ? nl + 1 : NULL;
	}
	return c;
}

/* Sum of the values of lines starting with prefix. */
static double
sum_lines(const char *prefix)
{
	size_t n = strlen(prefix);
	double sum = 0;

	for (const char *l = scraped; l != NULL && *l != '\0';) {
		const char *nl = strchr(l, '\n');
		const char *end = nl ? nl : l + strlen(l), *v = end;

		if (strncmp(l, prefix, n) == 0) {
			while (v > l && v[-1] != ' ')
				v--;
			sum += strtod(v, NULL);
		}
		l = nl ? nl + 1 : NULL;
	}
	return sum;
}

/*
 * Check the whole text holds to the exposition format where untrusted
 * values could break it: valid UTF-8, no control byte but the line
 * ends, and each sample line `name{k="v",...} value` with only \\, \"
 * and \n escapes inside a value.
 */
static void
assert_well_formed(void)
{
	assert_true(utf8_valid(scraped, strlen(scraped)));
	for (const char *l = scraped; *l != '\0';) {
		const char *nl = strchr(l, '\n'), *p = l;

		assert_non_null(nl);
		for (const char *q = l; q < nl; q++)
			assert_false((unsigned char)*q < 0x20 || *q == 0x7f);
		if (*l == '#') {
			l = nl + 1;
			continue;
		}
		while (p < nl && (isalnum((unsigned char)*p) || *p == '_'))
			p++;
		assert_true(p > l);
		if (*p == '{') {
			p++;
			while (*p != '}') {
				while (isalnum((unsigned char)*p) || *p == '_')
					p++;
				assert_int_equal(*p++, '=');
				assert_int_equal(*p++, '"');
				while (*p != '"') {
					assert_true(p < nl);
					if (*p == '\\') {
						p++;
						assert_non_null(
							strchr("\\\"n", *p));
					}
					p++;
				}
				p++;
				if (*p == ',')
					p++;
				else
					assert_int_equal(*p, '}');
			}
			p++;
		}
		assert_int_equal(*p, ' ');
		l = nl + 1;
	}
}

/* ---- tests */

/* Before any gateway request: the families are declared, with no
 * samples, and the server's other families are still there. */
static void
test_empty(void **state)
{
	scrape();
	assert_non_null(strstr(
		scraped, "# TYPE taskbox_gateway_requests_total counter\n"));
	assert_non_null(strstr(
		scraped, "# TYPE taskbox_gateway_tokens_total counter\n"));
	assert_non_null(strstr(
		scraped,
		"# TYPE taskbox_gateway_upstream_errors_total counter\n"));
	assert_non_null(strstr(
		scraped,
		"# TYPE taskbox_gateway_first_byte_seconds histogram\n"));
	assert_non_null(
		strstr(scraped,
		       "# TYPE taskbox_gateway_duration_seconds histogram\n"));
	assert_int_equal(count_lines("taskbox_gateway_"), 0);
	assert_true(sample("taskbox_store_seconds_count") == 0);
	assert_well_formed();
}

/* Three requests of one pair: counts by code, tokens by kind, the
 * upstream error, both histograms. */
static void
test_counts(void **state)
{
	struct usage u = {.requests = 1,
			  .input_tokens = 10,
			  .output_tokens = 20,
			  .cache_read_input_tokens = 3,
			  .cache_creation_input_tokens = 4};
	struct usage u2 = {
		.requests = 1, .input_tokens = 100, .output_tokens = 1};

#define L "provider=\"anth\",model=\"claude-x\""
	metrics_gateway("anth", "claude-x", 200, 2000, 50000, &u, false);
	metrics_gateway("anth", "claude-x", 200, 30000, 3000000, &u2, false);
	metrics_gateway("anth", "claude-x", 502, 700, 800, NULL, true);
	scrape();
	assert_well_formed();
	assert_true(sample("taskbox_gateway_requests_total{" L
			   ",code=\"200\"}") == 2);
	assert_true(sample("taskbox_gateway_requests_total{" L
			   ",code=\"502\"}") == 1);
	assert_true(isnan(
		sample("taskbox_gateway_requests_total{" L ",code=\"429\"}")));
	assert_true(sample("taskbox_gateway_tokens_total{" L
			   ",kind=\"input\"}") == 110);
	assert_true(sample("taskbox_gateway_tokens_total{" L
			   ",kind=\"output\"}") == 21);
	assert_true(sample("taskbox_gateway_tokens_total{" L
			   ",kind=\"cache_read\"}") == 3);
	assert_true(sample("taskbox_gateway_tokens_total{" L
			   ",kind=\"cache_creation\"}") == 4);
	assert_true(sample("taskbox_gateway_upstream_errors_total{" L "}") ==
		    1);
	/* first bytes 0.7 ms, 2 ms, 30 ms; totals 0.8 ms, 50 ms, 3 s */
	assert_true(sample("taskbox_gateway_first_byte_seconds_bucket{" L
			   ",le=\"0.001\"}") == 1);
	assert_true(sample("taskbox_gateway_first_byte_seconds_bucket{" L
			   ",le=\"0.005\"}") == 2);
	assert_true(sample("taskbox_gateway_first_byte_seconds_bucket{" L
			   ",le=\"0.025\"}") == 2);
	assert_true(sample("taskbox_gateway_first_byte_seconds_bucket{" L
			   ",le=\"0.05\"}") == 3);
	assert_true(sample("taskbox_gateway_first_byte_seconds_bucket{" L
			   ",le=\"+Inf\"}") == 3);
	assert_true(sample("taskbox_gateway_first_byte_seconds_count{" L "}") ==
		    3);
	assert_true(
		fabs(sample("taskbox_gateway_first_byte_seconds_sum{" L "}") -
		     0.0327) < 1e-9);
	assert_true(sample("taskbox_gateway_duration_seconds_bucket{" L
			   ",le=\"0.01\"}") == 1);
	assert_true(sample("taskbox_gateway_duration_seconds_bucket{" L
			   ",le=\"0.05\"}") == 2);
	assert_true(sample("taskbox_gateway_duration_seconds_bucket{" L
			   ",le=\"2.5\"}") == 2);
	assert_true(sample("taskbox_gateway_duration_seconds_bucket{" L
			   ",le=\"5\"}") == 3);
	assert_true(sample("taskbox_gateway_duration_seconds_count{" L "}") ==
		    3);
#undef L
}

/* A request that got no reply counts under code 0 and in the duration,
 * not in the first byte; a missing model or provider is "unknown". */
static void
test_no_reply(void **state)
{
#define L "provider=\"down\",model=\"unknown\""
	metrics_gateway("down", NULL, 0, 0, 1500000, NULL, true);
	metrics_gateway("down", "", 0, 0, 1500000, NULL, true);
	metrics_gateway(NULL, "m", 400, 10, 20, NULL, false);
	scrape();
	assert_true(sample("taskbox_gateway_requests_total{" L
			   ",code=\"0\"}") == 2);
	assert_true(sample("taskbox_gateway_upstream_errors_total{" L "}") ==
		    2);
	assert_true(sample("taskbox_gateway_first_byte_seconds_count{" L "}") ==
		    0);
	assert_true(sample("taskbox_gateway_duration_seconds_count{" L "}") ==
		    2);
	assert_true(sample("taskbox_gateway_requests_total{provider="
			   "\"unknown\",model=\"m\",code=\"400\"}") == 1);
#undef L
}

/* Model strings come from agents: quotes, backslashes, newlines,
 * controls, invalid UTF-8 and any length reach the text escaped, valid
 * and cut. */
static void
test_hostile_model(void **state)
{
	char longm[4096], want[7 + 129 + 3];

	memset(longm, 'x', sizeof longm - 1);
	longm[sizeof longm - 1] = '\0';
	metrics_gateway("evil", "a\"b\\c\nd\re\xff}f", 200, 1, 2, NULL, false);
	metrics_gateway("evil", longm, 200, 1, 2, NULL, false);
	metrics_gateway("evil",
			"# HELP x\n"
			"y{z=\"1\"} 9",
			200, 1, 2, NULL, false);
	scrape();
	assert_well_formed();
	assert_true(sample("taskbox_gateway_requests_total{provider=\"evil\","
			   "model=\"a\\\"b\\\\c?d?e\xef\xbf\xbd}f\","
			   "code=\"200\"}") == 1);
	/* the long one is cut to 128 bytes */
	memcpy(want, "model=\"", 7);
	memset(want + 7, 'x', 128);
	memcpy(want + 7 + 128, "\",", 3);
	assert_non_null(strstr(scraped, want));
	want[7 + 128] = 'x';
	want[7 + 129] = '\0';
	assert_null(strstr(scraped, want));
	/* the injected "sample" is a value, never a line of its own */
	assert_true(isnan(sample("y{z=\"1\"}")));
	assert_int_equal(count_lines("# HELP x"), 0);
}

/* Status codes per set are bounded: past 16, "other". */
static void
test_codes_bounded(void **state)
{
	for (int c = 100; c < 600; c++)
		metrics_gateway("codes", "m", c, 1, 2, NULL, false);
	scrape();
	assert_int_equal(count_lines("taskbox_gateway_requests_total{provider="
				     "\"codes\""),
			 16);
	assert_true(sample("taskbox_gateway_requests_total{provider="
			   "\"codes\",model=\"m\",code=\"other\"}") ==
		    500 - 15);
	assert_true(sum_lines("taskbox_gateway_requests_total{provider="
			      "\"codes\"") == 500);
}

/* An agent naming a new model in every request: the label sets stop
 * growing (at 128 pairs, then (provider, "other") sets, then one
 * ("other", "other")), and every request is still counted. */
static void
test_pairs_bounded(void **state)
{
	char p[32], m[32];
	size_t before, sets;
	double total;

	scrape();
	before = count_lines("taskbox_gateway_upstream_errors_total{");
	for (int i = 0; i < 20000; i++) {
		snprintf(p, sizeof p, "p%d", i % 100);
		snprintf(m, sizeof m, "model-%d", i);
		metrics_gateway(p, m, 200, 1, 2, NULL, false);
	}
	scrape();
	assert_well_formed();
	sets = count_lines("taskbox_gateway_upstream_errors_total{");
	assert_true(before < 128);
	assert_int_equal(sets, 128 + 16 + 1);
	/* the first pairs kept their names, the rest went to "other" */
	assert_true(sample("taskbox_gateway_requests_total{provider=\"p0\","
			   "model=\"model-0\",code=\"200\"}") == 1);
	assert_false(isnan(sample("taskbox_gateway_requests_total{provider="
				  "\"p21\",model=\"other\",code=\"200\"}")));
	assert_true(isnan(sample("taskbox_gateway_requests_total{provider="
				 "\"p99\",model=\"other\",code=\"200\"}")));
	assert_false(isnan(sample("taskbox_gateway_requests_total{provider="
				  "\"other\",model=\"other\",code=\"200\"}")));
	total = sum_lines("taskbox_gateway_duration_seconds_count{");
	/* 3 + 3 + 3 + 500 requests of the tests before, and these */
	assert_true(total == 3 + 3 + 3 + 500 + 20000);
	/* a known pair still counts as itself */
	metrics_gateway("p0", "model-0", 200, 1, 2, NULL, false);
	scrape();
	assert_true(sample("taskbox_gateway_requests_total{provider=\"p0\","
			   "model=\"model-0\",code=\"200\"}") == 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_no_reply),
		cmocka_unit_test(test_hostile_model),
		cmocka_unit_test(test_codes_bounded),
		cmocka_unit_test(test_pairs_bounded),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	free(scraped);
	return r;
}
