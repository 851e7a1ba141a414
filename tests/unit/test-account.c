/*
 * test-account.c: prices and costs (gateway/price.c), and the accounting
 * (gateway/account.c) driven the way the gateway drives it, against a new
 * SQLite file: totals per task and per user month, budgets and their
 * reasons, the hooks, the flush to the store and the store's reports
 * (store-usage.c), a restart loading what was written. On the SQLite
 * file of each test, or on the PostgreSQL database TASKBOX_TEST_STORE_SPEC
 * names (emptied before each test).
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>
#include <unistd.h>

#include "gateway/account.h"
#include "gateway/price.h"
#include "store/store-rows.h"
#include "store/store.h"

/* ---- prices ------------------------------------------------------------ */

/* The built-in input price (USD per million) of model at type; -1: none. */
static double
input_of(const char *type, const char *model)
{
	struct price p;

	return price_builtin(type, model, &p) ? (double)p.input / 1e6 : -1;
}

static void
test_price_lookup(void **state UNUSED)
{
	/* one model, every route to it */
	assert_true(input_of("anthropic", "claude-sonnet-4-5-20250929") == 3);
	assert_true(input_of("bedrock",
			     "us.anthropic.claude-sonnet-4-20250514-v1:0") ==
		    3);
	assert_true(input_of("bedrock", "anthropic.claude-sonnet-4-5") == 3);
	assert_true(input_of("vertex", "claude-sonnet-4@20250514") == 3);
	assert_true(input_of("openai-compatible",
			     "anthropic/claude-sonnet-4") == 3);
	assert_true(input_of("anthropic", "Claude-Sonnet-4") == 3);
	/* the longest prefix wins */
	assert_true(input_of("anthropic", "claude-opus-4-1-20250805") == 15);
	assert_true(input_of("anthropic", "claude-opus-4-5-20251101") == 5);
	assert_true(input_of("anthropic", "claude-opus-4-7") == 5);
	assert_true(input_of("vertex", "claude-opus-4@20250514") == 15);
	assert_true(input_of("bedrock",
			     "anthropic.claude-opus-4-20250514-v1:0") == 15);
	/* up to a boundary of the name only */
	assert_true(input_of("openai", "gpt-5.1") == -1);
	assert_true(input_of("openai", "gpt-50") == -1);
	assert_true(input_of("openai", "o3") == 2);
	assert_true(input_of("anthropic", "claude-haiku-4-5") == 1);
	assert_true(input_of("openai", "gpt-5") == 1.25);
	assert_true(input_of("openai", "gpt-5-mini-2025-08-07") == 0.25);
	assert_true(input_of("openai", "gpt-4.1") == 2);
	assert_true(input_of("openai", "gpt-4.1-nano") == 0.1);
	assert_true(input_of("gemini", "models/gemini-2.5-pro") == 1.25);
	assert_true(input_of("gemini", "gemini-2.5-flash") == 0.3);
	assert_true(input_of("gemini", "gemini-2.5-flash-lite") == 0.1);
	assert_true(input_of("vertex", "gemini-2.5-flash") == 0.3);
	/* a type serves its vendors only; ollama and unknown models: none */
	assert_true(input_of("openai", "claude-sonnet-4") == -1);
	assert_true(input_of("bedrock", "gpt-5") == -1);
	assert_true(input_of("ollama", "llama4") == -1);
	assert_true(input_of("ollama", "claude-sonnet-4") == -1);
	assert_true(input_of("anthropic", "claude-fake") == -1);
	assert_true(input_of("nosuch", "claude-sonnet-4") == -1);
	assert_true(input_of("anthropic", "") == -1);
	assert_true(price_type_known("openai-compatible"));
	assert_false(price_type_known("OpenAI"));
}

static void
test_price_cost(void **state UNUSED)
{
	struct price sonnet;
	struct usage u = {.input_tokens = 10, .output_tokens = 5};

	assert_true(price_builtin("anthropic", "claude-sonnet-4", &sonnet));
	/* 10 x 3 + 5 x 15 micro-USD */
	assert_int_equal(price_cost_nusd(&sonnet, &u), 105000);
	u = (struct usage){.cache_read_input_tokens = 1000000,
			   .cache_creation_input_tokens = 1000000};
	assert_int_equal(price_cost_nusd(&sonnet, &u),
			 (int64_t)(0.3e9 + 3.75e9));
	u = (struct usage){.input_tokens = 1};
	struct price cheap = {.input = 1}; /* USD 1e-6 per million */
	assert_int_equal(price_cost_nusd(&cheap, &u), 0);
	u = (struct usage){.input_tokens = UINT64_MAX};
	struct price dear = {.input = PRICE_MICRO_MAX};
	assert_int_equal(price_cost_nusd(&dear, &u), INT64_MAX);
}

static void
test_model_key(void **state UNUSED)
{
	char k[PRICE_MODEL_MAX + 1], big[400];

	price_model_key("publishers/anthropic/models/claude-x@1", k);
	assert_string_equal(k, "claude-x@1");
	price_model_key("eu.anthropic.claude-y", k);
	assert_string_equal(k, "claude-y");
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	price_model_key(big, k);
	assert_int_equal(strlen(k), PRICE_MODEL_MAX);
}

/* ---- the accounting ---------------------------------------------------- */

static char paused_task[64], paused_reason[256];
static unsigned changed_calls;
static char changed_last[64];

static void
hook_pause(const char *task_id, const char *message)
{
	snprintf(paused_task, sizeof paused_task, "%s", task_id);
	snprintf(paused_reason, sizeof paused_reason, "%s", message);
}

static void
hook_changed(const char *task_id)
{
	changed_calls++;
	snprintf(changed_last, sizeof changed_last, "%s", task_id);
}

static const struct account_hooks hooks = {hook_pause, hook_changed};

struct fixture {
	char path[64];
	struct store *st;
};

static int
setup_store(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	const char *pg = getenv("TASKBOX_TEST_STORE_SPEC");
	char *cause = NULL;
	int fd;

	if (pg != NULL) {
		/* one PostgreSQL database for every test: emptied first */
		assert_int_equal(store_open(pg, &f->st, &cause), 0);
		assert_int_equal(store_exec(f->st, "DELETE FROM usage", ""), 0);
		assert_int_equal(store_exec(f->st, "DELETE FROM prices", ""),
				 0);
		assert_int_equal(store_exec(f->st,
					    "DELETE FROM users WHERE "
					    "id = 'u9'",
					    ""),
				 0);
	} else {
		snprintf(f->path, sizeof f->path, "/tmp/test-account-XXXXXX");
		fd = mkstemp(f->path);
		assert_true(fd >= 0);
		close(fd);
		unlink(f->path);
		assert_int_equal(store_open(f->path, &f->st, &cause), 0);
	}
	assert_int_equal(account_start(f->st, NULL, &hooks, &cause), 0);
	*state = f;
	return 0;
}

static int
teardown_store(void **state)
{
	struct fixture *f = *state;
	char *p;

	account_stop();
	store_close(f->st);
	if (f->path[0] == '\0') {
		free(f);
		return 0;
	}
	unlink(f->path);
	p = xasprintf("%s-wal", f->path);
	unlink(p);
	free(p);
	p = xasprintf("%s-shm", f->path);
	unlink(p);
	free(p);
	free(f);
	return 0;
}

/* One response of in/out tokens for task (owner, template) at model. */
static void
record(const char *task, const char *owner, const char *tmpl, const char *type,
       const char *model, uint64_t in, uint64_t out)
{
	struct account_key k = {task, owner, tmpl, "default", type, "asked"};
	struct usage u = {
		.requests = 1, .input_tokens = in, .output_tokens = out};

	snprintf(u.model, sizeof u.model, "%s", model);
	account_record(&k, &u);
}

static void
test_totals_and_publish(void **state UNUSED)
{
	struct account_sum s;

	changed_calls = 0;
	record("t1", "u1", "tp", "anthropic", "claude-sonnet-4-5", 10, 5);
	record("t1", "u1", "tp", "anthropic", "claude-sonnet-4-5", 10, 5);
	record("t1", "u1", "tp", "anthropic", "claude-fake", 100, 100);
	record("t2", "u1", "tp", "openai", "gpt-5", 1000, 0);
	record("t3", "u2", "tq", "ollama", "llama4", 7, 7);
	/* the Task JSON's figures move with the tick only */
	account_task_sum("t1", &s);
	assert_int_equal(s.requests, 0);
	account_tick();
	assert_int_equal(changed_calls, 3);
	account_task_sum("t1", &s);
	assert_int_equal(s.requests, 3);
	assert_int_equal(s.input_tokens, 120);
	assert_int_equal(s.output_tokens, 110);
	assert_int_equal(s.cost_nusd, 2 * 105000); /* claude-fake: 0 */
	account_task_sum("t2", &s);
	assert_int_equal(s.cost_nusd, 1250000); /* 1000 x USD 1.25/M */
	account_user_month("u1", &s);
	assert_int_equal(s.requests, 4);
	assert_int_equal(s.cost_nusd, 2 * 105000 + 1250000);
	account_task_sum("nosuch", &s);
	assert_int_equal(s.requests, 0);
	account_task_forget("t3");
	account_task_sum("t3", &s);
	assert_int_equal(s.requests, 0);
	account_user_month("u2", &s); /* the user's month keeps it */
	assert_int_equal(s.requests, 1);
	/* nothing new: no hook */
	changed_calls = 0;
	account_tick();
	assert_int_equal(changed_calls, 0);
	/* a failed request (nothing read) counts as one, at the asked model */
	struct account_key k = {"t1",	   "u1",	"tp",
				"default", "anthropic", "claude-sonnet-4"};
	struct usage none = {0};

	account_record(&k, &none);
	account_tick();
	assert_int_equal(changed_calls, 1);
	assert_string_equal(changed_last, "t1");
	account_task_sum("t1", &s);
	assert_int_equal(s.requests, 4);
	assert_int_equal(s.input_tokens, 120);
}

static void
test_store_reports(void **state)
{
	struct fixture *f = *state;
	int64_t now = (int64_t)wall_ms(), hour = now - now % 3600000;
	json_t *rows, *row;
	size_t i;

	record("t1", "u1", "tp", "anthropic", "claude-sonnet-4-5", 10, 5);
	record("t1", "u1", "tp", "anthropic", "claude-sonnet-4-5", 10, 5);
	record("t2", "u1", "tq", "openai", "gpt-5", 1000, 0);
	record("t3", "u2", "tq", "ollama", "llama4", 7, 7);
	account_tick();
	/* written again after a second flush: the rows add up */
	record("t1", "u1", "tp", "anthropic", "claude-sonnet-4-5", 10, 5);
	assert_int_equal(account_flush(), 0);

	rows = store_usage_of_task(f->st, "t1");
	assert_int_equal(json_array_size(rows), 1);
	row = json_array_get(rows, 0);
	assert_string_equal(json_string_value(json_object_get(row, "model")),
			    "claude-sonnet-4-5");
	assert_int_equal(json_integer_value(json_object_get(row, "requests")),
			 3);
	assert_int_equal(
		json_integer_value(json_object_get(row, "input_tokens")), 30);
	assert_int_equal(json_integer_value(json_object_get(row, "cost_nusd")),
			 3 * 105000);
	json_decref(rows);

	/* by owner: everyone, then u2 only; the range is by hour */
	rows = store_usage_report(f->st, "owner_id", NULL, hour, hour + 1,
				  1000);
	assert_int_equal(json_array_size(rows), 2);
	json_array_foreach(rows, i, row)
	{
		const char *key =
			json_string_value(json_object_get(row, "key"));

		assert_int_equal(
			json_integer_value(json_object_get(row, "requests")),
			strcmp(key, "u1") == 0 ? 4 : 1);
	}
	json_decref(rows);
	rows = store_usage_report(f->st, "owner_id", "u2", hour, hour + 1,
				  1000);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
	rows = store_usage_report(f->st, "owner_id", NULL, hour + 1, INT64_MAX,
				  1000);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	rows = store_usage_report(f->st, "template_id", NULL, 0, INT64_MAX,
				  1000);
	assert_int_equal(json_array_size(rows), 2);
	/* ordered by cost: tq (gpt-5's 1000 tokens) first */
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(rows, 0), "key")),
			    "tq");
	json_decref(rows);
	rows = store_usage_report(f->st, "model", NULL, 0, INT64_MAX, 1000);
	assert_int_equal(json_array_size(rows), 3);
	json_decref(rows);
	/* bounded: the costliest first */
	rows = store_usage_report(f->st, "model", NULL, 0, INT64_MAX, 2);
	assert_int_equal(json_array_size(rows), 2);
	json_decref(rows);
	rows = store_usage_report(f->st, "provider", NULL, 0, INT64_MAX, 1000);
	assert_int_equal(json_array_size(rows), 1);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(rows, 0), "input_tokens")),
			 30 + 1000 + 7);
	json_decref(rows);

	/* a restart loads the month's totals from what was written */
	account_stop();
	char *cause = NULL;

	assert_int_equal(account_start(f->st, NULL, &hooks, &cause), 0);
	struct account_sum s;

	account_user_month("u1", &s);
	assert_int_equal(s.requests, 4);
	assert_int_equal(s.input_tokens, 1030);
	account_user_month("u2", &s);
	assert_int_equal(s.output_tokens, 7);
}

static void
test_budgets(void **state UNUSED)
{
	struct account_budget user = {30, -1};
	char *reason = NULL;
	json_t *spec;

	assert_int_equal(account_check("t1", "u1", "tp", &reason), 0);
	account_user_budget_set("u1", &user);
	record("t1", "u1", "tp", "anthropic", "claude-sonnet-4", 10, 5);
	assert_int_equal(account_check("t1", "u1", "tp", &reason), 0);
	record("t1", "u1", "tp", "anthropic", "claude-sonnet-4", 10, 5);
	assert_int_equal(account_check("t1", "u1", "tp", &reason), -EDQUOT);
	assert_string_equal(reason,
			    "budget exceeded: user's monthly tokens 30/30");
	free(reason);
	/* another user is not held */
	assert_int_equal(account_check("t9", "u9", "tp", &reason), 0);
	/* raised: goes on */
	user.tokens = 1000;
	account_user_budget_set("u1", &user);
	assert_int_equal(account_check("t1", "u1", "tp", &reason), 0);
	account_user_budget(("u1"), &user);
	assert_int_equal(user.tokens, 1000);

	/* the template's budget holds each of its tasks: USD 0.0002 */
	spec = json_pack("{s:{s:{s:n, s:f}}}", "workspace", "budget", "tokens",
			 "usd", 0.0002);
	account_template_spec("tp", spec);
	json_decref(spec);
	assert_int_equal(account_check("t1", "u1", "tp", &reason), -EDQUOT);
	assert_string_equal(reason, "budget exceeded: task USD 0.0002/0.0002");
	free(reason);
	/* a new task of the template starts at zero */
	assert_int_equal(account_check("t5", "u1", "tp", &reason), 0);
	/* a budget above 0 too small for a nano-USD is one, not 0 (which
	 * refused every request, even those that cost nothing) */
	spec = json_pack("{s:{s:{s:n, s:f}}}", "workspace", "budget", "tokens",
			 "usd", 1e-12);
	account_template_spec("tp", spec);
	json_decref(spec);
	assert_int_equal(account_check("t6", "u1", "tp", &reason), 0);
	/* a version without a budget lifts it */
	spec = json_pack("{s:{s:n}}", "workspace", "budget");
	account_template_spec("tp", spec);
	json_decref(spec);
	assert_int_equal(account_check("t1", "u1", "tp", &reason), 0);

	/* account_exceeded hands the reason to the server's pause */
	account_exceeded("t1", "budget exceeded: x");
	assert_string_equal(paused_task, "t1");
	assert_string_equal(paused_reason, "budget exceeded: x");
}

static void
test_prices_override(void **state UNUSED)
{
	struct price p = {.input = 2000000, .output = 4000000}, got;
	bool over;
	struct account_sum s;

	assert_true(account_price_set("anthropic", "claude-fake", &p));
	assert_true(account_price("anthropic", "claude-fake-2", &got, &over));
	assert_true(over);
	assert_int_equal(got.input, 2000000);
	assert_false(account_price("anthropic", "claude-fakes", &got, &over));
	/* the override is per type */
	assert_false(account_price("bedrock", "claude-fake", &got, &over));
	/* a longer override beats the built-in row */
	p.input = 1;
	assert_true(account_price_set("anthropic", "claude-sonnet-4-5", &p));
	assert_true(
		account_price("anthropic", "claude-sonnet-4-5-x", &got, &over));
	assert_int_equal(got.input, 1);
	assert_true(account_price("anthropic", "claude-sonnet-4", &got, &over));
	assert_false(over);
	assert_int_equal(got.input, 3000000);
	record("t7", "u7", "tp", "anthropic", "claude-fake", 1000, 1000);
	account_tick();
	account_task_sum("t7", &s);
	assert_int_equal(s.cost_nusd, 2000000 + 4000000);
	/* removed: back to not priced */
	assert_true(account_price_set("anthropic", "claude-fake", NULL));
	assert_false(account_price("anthropic", "claude-fake", &got, &over));
	for (int i = 0; i < ACCOUNT_PRICES_MAX + 5; i++) {
		char m[32];

		snprintf(m, sizeof m, "m%d", i);
		if (!account_price_set("openai", m, &p)) {
			/* two are set already */
			assert_int_equal(i, ACCOUNT_PRICES_MAX - 1);
			return;
		}
	}
	fail_msg("the price overrides are not bounded");
}

static void
test_pending_bound(void **state)
{
	struct fixture *f = *state;
	json_t *rows, *row;
	size_t i;
	bool other = false;

	/* endless rows between two flushes (many tasks): the rows past
	 * the bound are one a task */
	for (int n = 0; n < ACCOUNT_PENDING_MAX; n++) {
		char t[32];

		snprintf(t, sizeof t, "p%d", n);
		record(t, "u8", "tp", "openai", "model", 1, 0);
	}
	for (int n = 0; n < 50; n++) {
		char m[32];

		snprintf(m, sizeof m, "model-%d", n);
		record("t8", "u8", "tp", "openai", m, 1, 0);
	}
	assert_int_equal(account_flush(), 0);
	rows = store_usage_of_task(f->st, "t8");
	assert_int_equal(json_array_size(rows), 1);
	json_array_foreach(rows, i, row)
	{
		if (strcmp(json_string_value(json_object_get(row, "model")),
			   "(other)") == 0) {
			other = true;
			assert_int_equal(json_integer_value(json_object_get(
						 row, "requests")),
					 50);
		}
	}
	assert_true(other);
	json_decref(rows);
}

static void
test_inflight_bound(void **state UNUSED)
{
	struct account_budget user = {30, -1};
	char *reason = NULL;
	json_t *spec;
	int i;

	/* no budget: no bound on requests at once */
	for (i = 0; i < 100; i++)
		assert_int_equal(account_begin("t1", "u1", "tp", &reason), 0);
	for (i = 0; i < 100; i++)
		account_end("t1", "u1");
	/* a template's budget: many requests checked before any response
	 * ended may not all pass */
	spec = json_pack("{s:{s:{s:i}}}", "workspace", "budget", "tokens", 30);
	account_template_spec("tp", spec);
	json_decref(spec);
	for (i = 0; i < ACCOUNT_INFLIGHT_TASK; i++)
		assert_int_equal(account_begin("t1", "u1", "tp", &reason), 0);
	assert_int_equal(account_begin("t1", "u1", "tp", &reason), -EBUSY);
	assert_non_null(strstr(reason, "in flight"));
	free(reason);
	/* not a budget exceeded: a resume's check passes */
	assert_int_equal(account_check("t1", "u1", "tp", &reason), 0);
	/* another task of the template is not held by t1's */
	assert_int_equal(account_begin("t2", "u1", "tp", &reason), 0);
	account_end("t2", "u1");
	account_end("t1", "u1");
	assert_int_equal(account_begin("t1", "u1", "tp", &reason), 0);
	for (i = 0; i < ACCOUNT_INFLIGHT_TASK; i++)
		account_end("t1", "u1");
	spec = json_pack("{s:{s:n}}", "workspace", "budget");
	account_template_spec("tp", spec);
	json_decref(spec);
	/* a user's budget bounds the user's requests over all tasks */
	account_user_budget_set("u1", &user);
	for (i = 0; i < ACCOUNT_INFLIGHT_USER; i++) {
		char t[16];

		snprintf(t, sizeof t, "t%d", i);
		assert_int_equal(account_begin(t, "u1", "tp", &reason), 0);
	}
	assert_int_equal(account_begin("tx", "u1", "tp", &reason), -EBUSY);
	free(reason);
	assert_int_equal(account_check("tx", "u1", "tp", &reason), 0);
	assert_int_equal(account_begin("tx", "u2", "tp", &reason), 0);
	/* the task is forgotten while its request runs: the end is fine */
	account_task_forget("t0");
	account_end("t0", "u1");
	assert_int_equal(account_begin("tx", "u1", "tp", &reason), 0);
}

static void
test_task_models_bound(void **state)
{
	struct fixture *f = *state;
	json_t *rows;

	/* flushed each time: the pending bound alone would let a task
	 * add ACCOUNT_PENDING_MAX rows a flush */
	for (int n = 0; n < ACCOUNT_TASK_MODELS_MAX + 20; n++) {
		char m[32];

		snprintf(m, sizeof m, "model-%d", n);
		record("t3", "u3", "tp", "openai", m, 1, 0);
		assert_int_equal(account_flush(), 0);
	}
	record("t3", "u3", "tp", "openai", "model-0", 1, 0);
	assert_int_equal(account_flush(), 0);
	rows = store_usage_of_task(f->st, "t3");
	assert_int_equal(json_array_size(rows), ACCOUNT_TASK_MODELS_MAX + 1);
	json_decref(rows);
}

static void
test_sums_saturate(void **state UNUSED)
{
	struct price p = {.input = PRICE_MICRO_MAX, .output = PRICE_MICRO_MAX};
	struct account_budget b = {-1, 1000000000};
	struct account_sum s;
	char *reason = NULL;

	/* a hostile upstream's huge counts at the highest price: the totals
	 * stay at the top, never wrap below a budget */
	assert_true(account_price_set("openai", "dear", &p));
	account_user_budget_set("u4", &b);
	for (int i = 0; i < 100; i++)
		record("t4", "u4", "tp", "openai", "dear", UINT64_MAX,
		       UINT64_MAX);
	account_tick();
	account_task_sum("t4", &s);
	assert_true(s.cost_nusd > 0);
	assert_true(s.input_tokens > 0);
	assert_int_equal(account_check("t4", "u4", "tp", &reason), -EDQUOT);
	free(reason);
}

static void
test_store_sums_saturate(void **state)
{
	struct fixture *f = *state;
	struct store_usage_sums big = {1, INT64_MAX - 5, 0, 0, 0, INT64_MAX};
	json_t *rows;
	char *cause = NULL;
	int64_t hour = 3600000;

	/* the same row twice, and two more rows: neither the row's sum nor
	 * the sums of rows overflow */
	for (int i = 0; i < 2; i++)
		assert_int_equal(store_usage_add(f->st, "t6", hour, "default",
						 "m", "u6", "tp", "openai",
						 &big),
				 0);
	assert_int_equal(store_usage_add(f->st, "t6", hour, "default", "n",
					 "u6", "tp", "openai", &big),
			 0);
	assert_int_equal(store_usage_add(f->st, "t6", 2 * hour, "default", "m",
					 "u6", "tp", "openai", &big),
			 0);
	rows = store_usage_of_task(f->st, "t6");
	assert_non_null(rows);
	assert_int_equal(json_array_size(rows), 2);
	assert_true(json_is_integer(
		json_object_get(json_array_get(rows, 0), "cost_nusd")));
	assert_true(json_integer_value(json_object_get(json_array_get(rows, 0),
						       "cost_nusd")) >
		    (int64_t)9e18);
	json_decref(rows);
	rows = store_usage_report(f->st, "owner_id", NULL, 0, INT64_MAX, 10);
	assert_non_null(rows);
	assert_int_equal(json_array_size(rows), 1);
	json_decref(rows);
	rows = store_usage_by_owner(f->st, 0);
	assert_non_null(rows);
	json_decref(rows);
	/* a restart loads them (the task is not in the tasks table: only
	 * the owner's month is) */
	account_stop();
	assert_int_equal(account_start(f->st, NULL, &hooks, &cause), 0);
}

static void
test_refresh(void **state)
{
	struct fixture *f = *state;
	struct account_budget b;
	char *reason = NULL;

	/* another replica raised, set, removed the budget: a resume's
	 * refresh reads the user's row alone */
	assert_int_equal(store_user_insert(f->st, "u9", "nine", "member", 1),
			 0);
	record("t9", "u9", "tp", "openai", "gpt-5", 20, 0);
	assert_int_equal(store_user_budget_set(f->st, "u9", 10, -1, 1), 0);
	assert_int_equal(account_check("t9", "u9", "tp", &reason), 0);
	account_refresh("u9", "tp");
	account_user_budget("u9", &b);
	assert_int_equal(b.tokens, 10);
	assert_int_equal(account_check("t9", "u9", "tp", &reason), -EDQUOT);
	free(reason);
	assert_int_equal(store_user_budget_set(f->st, "u9", 100, -1, 2), 0);
	account_refresh("u9", NULL);
	assert_int_equal(account_check("t9", "u9", "tp", &reason), 0);
	assert_int_equal(store_user_budget_set(f->st, "u9", -1, -1, 3), 0);
	account_refresh("u9", "no-such-template");
	account_user_budget("u9", &b);
	assert_int_equal(b.tokens, -1);
}

static void
test_model_names_printable(void **state)
{
	struct fixture *f = *state;
	char name[PRICE_MODEL_MAX + 8];
	json_t *rows, *row;
	size_t i;

	/* a terminal escape, and a UTF-8 sequence the cut splits */
	record("t5", "u5", "tp", "openai", "m\x1b]52;c;QQ==\x07", 1, 0);
	memset(name, 'a', sizeof name);
	memcpy(name + PRICE_MODEL_MAX - 1, "\xc3\xa9", 3);
	name[sizeof name - 1] = '\0';
	record("t5", "u5", "tp", "openai", name, 1, 0);
	assert_int_equal(account_flush(), 0);
	rows = store_usage_of_task(f->st, "t5");
	assert_int_equal(json_array_size(rows), 2);
	json_array_foreach(rows, i, row)
	{
		const char *m =
			json_string_value(json_object_get(row, "model"));

		assert_non_null(m);
		for (; *m; m++)
			assert_true(*m >= 0x20 && *m <= 0x7e);
	}
	json_decref(rows);
}

static void
test_month_start(void **state UNUSED)
{
	/* 2026-12-01T08:00:00Z, 2026-12-31T23:59:59.999Z */
	assert_int_equal(account_month_start(1796112000000LL), 1796083200000LL);
	assert_int_equal(account_month_start(1798761599999LL), 1796083200000LL);
	/* 2027-01-01T00:00:00Z starts a month */
	assert_int_equal(account_month_start(1798761600000LL), 1798761600000LL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_price_lookup),
		cmocka_unit_test(test_price_cost),
		cmocka_unit_test(test_model_key),
		cmocka_unit_test(test_month_start),
		cmocka_unit_test_setup_teardown(test_totals_and_publish,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_store_reports, setup_store,
						teardown_store),
		cmocka_unit_test_setup_teardown(test_budgets, setup_store,
						teardown_store),
		cmocka_unit_test_setup_teardown(test_prices_override,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_pending_bound, setup_store,
						teardown_store),
		cmocka_unit_test_setup_teardown(test_inflight_bound,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_task_models_bound,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_sums_saturate, setup_store,
						teardown_store),
		cmocka_unit_test_setup_teardown(test_store_sums_saturate,
						setup_store, teardown_store),
		cmocka_unit_test_setup_teardown(test_refresh, setup_store,
						teardown_store),
		cmocka_unit_test_setup_teardown(test_model_names_printable,
						setup_store, teardown_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
