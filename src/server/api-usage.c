/*
 * api-usage.c: LLM usage reports, prices and budgets over HTTP, and the
 * server's side of gateway/account.c.
 *
 * Data model: none of its own. Reports read the store's usage rows
 * (after account_flush, so they include the last second), prices and
 * budgets are written to the store and then to account.c's tables in
 * memory, which the gateway reads. The endpoints:
 *
 *   GET    /api/v2/usage?group_by=user|template|provider|model&from=&to=
 *   GET    /api/v2/tasks/{u}/{t}/usage             (api-tasks.c)
 *   GET    /api/v2/prices
 *   PUT    /api/v2/prices/{type}/{model-prefix}     admins
 *   DELETE /api/v2/prices/{type}/{model-prefix}     admins
 *   GET    /api/v2/users/{u}/budget                 the user, admins
 *   PUT    /api/v2/users/{u}/budget                 admins
 *
 * Money is USD in JSON (numbers), nano-USD in memory and in the store,
 * prices micro-USD per million tokens.
 */
#include "common.h"

#include <ctype.h>
#include <math.h>
#include <time.h>

#include "core/text.h"
#include "gateway/account.h"
#include "http/http.h"
#include "server.h"
#include "store/store-rows.h"

/* Bounds of what an admin may set. */
#define BUDGET_TOKENS_MAX 1000000000000000LL /* 10^15 */
#define BUDGET_USD_MAX	  1e9
#define PRICE_USD_MAX	  ((double)PRICE_MICRO_MAX / 1e6)
/* Groups a usage report shows, at most (the costliest) */
#define USAGE_GROUPS_MAX 1000
/* Report times: from 1970 to the year 9999 (ms) */
#define USAGE_TIME_MAX 253402300799999LL

int
api_usage_start(char **cause)
{
	static const struct account_hooks hooks = {
		.pause = task_pause_with,
		.changed = task_usage_changed,
	};

	return account_start(srv->store, srv->loop, &hooks, cause);
}

/* ---- time ranges ------------------------------------------------------- */

/*
 * Parse s as unix seconds or RFC 3339 (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM
 * |-HH:MM)) into ms; 0 or -EINVAL.
 */
static int
usage_parse_time(const char *s, int64_t *ms)
{
	struct tm tm = {0};
	const char *p;
	long secs, off = 0;
	time_t t;

	if (s[0] != '\0' && strspn(s, "0123456789") == strlen(s)) {
		if (parse_long(s, 0, USAGE_TIME_MAX / 1000, &secs) < 0)
			return -EINVAL;
		*ms = (int64_t)secs * 1000;
		return 0;
	}
	if ((p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL ||
	    !isdigit((unsigned char)s[0]))
		return -EINVAL;
	if (*p == '.') /* a fraction of a second: dropped */
		for (p++; isdigit((unsigned char)*p); p++)
			;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		off = 0;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
		   isdigit((unsigned char)p[2]) && p[3] == ':' &&
		   isdigit((unsigned char)p[4]) &&
		   isdigit((unsigned char)p[5]) && p[6] == '\0') {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		      ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '-')
			off = -off;
	} else {
		return -EINVAL;
	}
	if ((t = timegm(&tm)) == (time_t)-1 || t - off < 0 ||
	    (int64_t)(t - off) > USAGE_TIME_MAX / 1000)
		return -EINVAL;
	*ms = (int64_t)(t - off) * 1000;
	return 0;
}

/* Query parameter name as a time into *ms (kept when absent); false
 * after a 400. */
static bool
usage_query_time(struct http_req *req, const char *name, int64_t *ms)
{
	const char *v = http_req_query(req, name);
	char loc[32];

	if (v == NULL)
		return true;
	if (usage_parse_time(v, ms) == 0)
		return true;
	snprintf(loc, sizeof loc, "query.%s", name);
	http_reply_bad_query(req, loc,
			     "%s must be RFC 3339 (2026-12-01T00:00:00Z) or "
			     "unix seconds",
			     name);
	return false;
}

/* RFC 3339 of ms as a JSON string (new reference). */
static json_t *
usage_time_json(int64_t ms)
{
	char buf[32];

	time_rfc3339((uint64_t)ms, buf);
	return json_string(buf);
}

/* ---- GET /api/v2/usage ------------------------------------------------- */

/* The row's sums as the API shows them (new reference), added to total
 * too when given. */
static json_t *
usage_row_json(const json_t *row, struct account_sum *total)
{
	struct account_sum s = {0};

	account_sum_add_row(&s, row);
	if (total != NULL)
		account_sum_add_row(total, row);
	return account_sum_json(&s);
}

/* GET /api/v2/usage: the sums grouped by user, template, provider or
 * model over [from, to); members get their own rows only. */
static void
api_usage_report(struct http_req *req, void *data UNUSED)
{
	static const struct {
		const char *name, *column;
	} groups[] = {
		{"user", "owner_id"},
		{"template", "template_id"},
		{"provider", "provider"},
		{"model", "model"},
	};
	const char *by = http_req_query(req, "group_by") ?: "user";
	const char *column = NULL, *owner = NULL;
	int64_t now = (int64_t)wall_ms();
	int64_t from = account_month_start(now), to = now + 3600000;
	struct account_sum total = {0};
	json_t *caller = auth_user(req), *rows, *row, *groups_j, *reply;
	size_t i;

	if (caller == NULL)
		return;
	for (i = 0; i < ARRAY_SIZE(groups); i++)
		if (strcmp(by, groups[i].name) == 0)
			column = groups[i].column;
	if (column == NULL) {
		http_reply_bad_query(req, "query.group_by",
				     "group_by must be user, template, "
				     "provider or model");
		goto out;
	}
	if (!usage_query_time(req, "from", &from) ||
	    !usage_query_time(req, "to", &to))
		goto out;
	if (from >= to) {
		http_reply_bad_query(req, "query.from",
				     "from must be before to");
		goto out;
	}
	/* members see their own usage only */
	if (!auth_is_admin(caller))
		owner = json_string_value(json_object_get(caller, "id"));
	account_flush();
	rows = store_usage_report(srv->store, column, owner, from, to,
				  USAGE_GROUPS_MAX + 1);
	if (rows == NULL) {
		http_reply_problem(req, 500, "cannot read the usage");
		goto out;
	}
	groups_j = json_array();
	json_array_foreach(rows, i, row)
	{
		json_t *g;

		if (i == USAGE_GROUPS_MAX)
			break;
		g = usage_row_json(row, &total);

		json_object_set(g, "key", json_object_get(row, "key"));
		json_object_set(g, "name", json_object_get(row, "name"));
		json_array_append_new(groups_j, g);
	}
	/* total: of the groups shown */
	reply = json_pack("{s:s, s:o, s:o, s:o, s:o, s:b}", "group_by", by,
			  "from", usage_time_json(from), "to",
			  usage_time_json(to), "groups", groups_j, "total",
			  account_sum_json(&total), "truncated",
			  json_array_size(rows) > USAGE_GROUPS_MAX);
	json_decref(rows);
	http_reply_json(req, 200, reply);
out:
	json_decref(caller);
}

/* ---- GET .../tasks/{u}/{t}/usage --------------------------------------- */

void
api_usage_task(struct http_req *req, struct task *t)
{
	struct account_sum total = {0};
	json_t *rows, *row, *models;
	size_t i;

	account_flush();
	if ((rows = store_usage_of_task(srv->store, task_id(t))) == NULL) {
		http_reply_problem(req, 500, "cannot read the usage");
		return;
	}
	models = json_array();
	json_array_foreach(rows, i, row)
	{
		json_t *m = usage_row_json(row, &total);
		struct price p;
		const char *type = json_string_value(
			json_object_get(row, "provider_type"));
		const char *model =
			json_string_value(json_object_get(row, "model"));

		json_object_set(m, "provider",
				json_object_get(row, "provider"));
		json_object_set(m, "provider_type",
				json_object_get(row, "provider_type"));
		json_object_set(m, "model", json_object_get(row, "model"));
		json_object_set_new(
			m, "priced",
			json_boolean(account_price(type ?: "", model ?: "", &p,
						   NULL)));
		json_array_append_new(models, m);
	}
	json_decref(rows);
	http_reply_json(req, 200,
			json_pack("{s:s, s:o, s:o}", "task_id", task_id(t),
				  "total", account_sum_json(&total), "models",
				  models));
}

/* ---- prices ------------------------------------------------------------ */

/* A price as JSON, USD per million tokens. */
static json_t *
price_json(const struct price *p)
{
	return json_pack("{s:f, s:f, s:f, s:f}", "input",
			 (double)p->input / 1e6, "output",
			 (double)p->output / 1e6, "cache_read",
			 (double)p->cache_read / 1e6, "cache_write",
			 (double)p->cache_write / 1e6);
}

/* GET /api/v2/prices: {builtin: [...], overrides: [...]}. */
static void
prices_get(struct http_req *req)
{
	json_t *builtin = json_array(), *overrides = json_array(), *rows, *row;
	const char *prefix, *types;
	struct price p;
	size_t i;

	for (i = 0; price_builtin_row(i, &prefix, &types, &p); i++) {
		json_t *j = price_json(&p);

		json_object_set_new(j, "model", json_string(prefix));
		json_object_set_new(j, "provider_types", json_string(types));
		json_array_append_new(builtin, j);
	}
	if ((rows = store_prices_list(srv->store)) == NULL) {
		json_decref(builtin);
		json_decref(overrides);
		http_reply_problem(req, 500, "cannot read the prices");
		return;
	}
	json_array_foreach(rows, i, row)
	{
		struct price o = {
			json_integer_value(json_object_get(row, "input_micro")),
			json_integer_value(
				json_object_get(row, "output_micro")),
			json_integer_value(
				json_object_get(row, "cache_read_micro")),
			json_integer_value(
				json_object_get(row, "cache_write_micro")),
		};
		json_t *j = price_json(&o);

		json_object_set(j, "provider_type",
				json_object_get(row, "provider_type"));
		json_object_set(j, "model", json_object_get(row, "model"));
		json_object_set_new(
			j, "updated_at",
			usage_time_json(json_integer_value(
				json_object_get(row, "updated_at"))));
		json_array_append_new(overrides, j);
	}
	json_decref(rows);
	http_reply_json(req, 200,
			json_pack("{s:o, s:o, s:s}", "builtin", builtin,
				  "overrides", overrides, "note",
				  "USD per million tokens; the built-in "
				  "figures are the vendors' list prices as "
				  "of 2026"));
}

/* body[name] as micro-USD per million (fallback when absent, -1: none);
 * false after a 400. */
static bool
price_field(struct http_req *req, json_t *body, const char *name,
	    int64_t fallback, int64_t *out)
{
	json_t *v = json_object_get(body, name);
	char loc[32];

	snprintf(loc, sizeof loc, "body.%s", name);
	if (v == NULL && fallback >= 0) {
		*out = fallback;
		return true;
	}
	if (!json_is_number(v) || json_number_value(v) < 0 ||
	    json_number_value(v) > PRICE_USD_MAX ||
	    !isfinite(json_number_value(v))) {
		http_reply_invalid(req, loc, v,
				   "%s must be a number of USD per million "
				   "tokens from 0 to %.0f",
				   name, PRICE_USD_MAX);
		return false;
	}
	*out = llround(json_number_value(v) * 1e6);
	return true;
}

/* Is s a model prefix an admin may set: 1..PRICE_MODEL_MAX of
 * [a-z0-9._:@-]? */
static bool
price_prefix_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= PRICE_MODEL_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._:@-") == n;
}

/* PUT or DELETE /api/v2/prices/{type}/{model}. */
static void
prices_write(struct http_req *req, const char *type, const char *model)
{
	int64_t now = (int64_t)wall_ms();
	struct price p;
	json_t *body = NULL, *j;
	int r;

	if (strcmp(http_req_method(req), "DELETE") == 0) {
		r = store_price_delete(srv->store, type, model);
		if (r == -ENOENT) {
			http_reply_problem(req, 404,
					   "no price set for %s model '%s'",
					   type, model);
			return;
		}
		if (r < 0) {
			http_reply_problem(req, 500, "cannot delete the price");
			return;
		}
		account_price_set(type, model, NULL);
		http_reply(req, 204, NULL, "", 0);
		return;
	}
	if ((body = http_req_json(req)) == NULL)
		return;
	if (!price_field(req, body, "input", -1, &p.input) ||
	    !price_field(req, body, "output", -1, &p.output) ||
	    !price_field(req, body, "cache_read", p.input, &p.cache_read) ||
	    !price_field(req, body, "cache_write", p.input, &p.cache_write))
		goto out;
	if (!account_price_set(type, model, &p)) {
		http_reply_problem(req, 429, "at most %d prices may be set",
				   ACCOUNT_PRICES_MAX);
		goto out;
	}
	if (store_price_set(srv->store, type, model, p.input, p.output,
			    p.cache_read, p.cache_write, now) < 0) {
		account_reload(); /* back to what the store holds */
		http_reply_problem(req, 500, "cannot store the price");
		goto out;
	}
	j = price_json(&p);
	json_object_set_new(j, "provider_type", json_string(type));
	json_object_set_new(j, "model", json_string(model));
	json_object_set_new(j, "updated_at", usage_time_json(now));
	http_reply_json(req, 200, j);
out:
	json_decref(body);
}

/* Everything under /api/v2/prices. */
static void
api_prices(struct http_req *req, void *data UNUSED)
{
	const char *path = http_req_path(req) + strlen("/api/v2/prices");
	json_t *caller = auth_user(req);
	char *type = NULL, *model = NULL;
	const char *slash;

	if (caller == NULL)
		return;
	if (path[0] == '\0' || strcmp(path, "/") == 0) {
		if (strcmp(http_req_method(req), "GET") == 0)
			prices_get(req);
		else
			http_reply_problem(req, 405,
					   "PUT and DELETE take "
					   "/api/v2/prices/{type}/{model}");
		goto out;
	}
	if (path[0] != '/' || (slash = strchr(path + 1, '/')) == NULL ||
	    strcmp(http_req_method(req), "GET") == 0) {
		http_reply_problem(req, 404, "no such endpoint: '%s'",
				   http_req_path(req));
		goto out;
	}
	if (!auth_is_admin(caller)) {
		http_reply_problem(req, 403, "only an admin may set prices");
		goto out;
	}
	type = xstrndup(path + 1, (size_t)(slash - path - 1));
	model = xstrdup(slash + 1);
	if (!price_type_known(type)) {
		json_t *v = json_string(type); /* NULL if not UTF-8 */

		http_reply_invalid(req, "path.type", v,
				   "unknown provider type '%s' (anthropic, "
				   "openai, gemini, bedrock, vertex, "
				   "openai-compatible, ollama)",
				   type);
		json_decref(v);
	} else if (!price_prefix_ok(model)) {
		http_reply_invalid(req, "path.model", NULL,
				   "the model prefix must be 1 to %d of "
				   "a-z 0-9 . _ : @ -",
				   PRICE_MODEL_MAX);
	} else {
		prices_write(req, type, model);
	}
out:
	free(type);
	free(model);
	json_decref(caller);
}

/* ---- user budgets ------------------------------------------------------ */

/* The budget of user id with this month's usage. */
static json_t *
budget_json(const char *id)
{
	struct account_budget b;
	struct account_sum s;
	int64_t month = account_month_start((int64_t)wall_ms());

	account_user_budget(id, &b);
	account_user_month(id, &s);
	return json_pack("{s:o, s:o, s:{s:o, s:o}}", "tokens",
			 b.tokens >= 0 ? json_integer((json_int_t)b.tokens)
				       : json_null(),
			 "usd",
			 b.usd_nusd >= 0 ? json_real((double)b.usd_nusd / 1e9)
					 : json_null(),
			 "month", "from", usage_time_json(month), "usage",
			 account_sum_json(&s));
}

/* body's budget: tokens (integer) and usd (number), each absent or null
 * for no limit; false after a 400. */
static bool
budget_parse(struct http_req *req, json_t *body, struct account_budget *b)
{
	json_t *t = json_object_get(body, "tokens"),
	       *u = json_object_get(body, "usd");
	const char *k;
	json_t *v;

	json_object_foreach(body, k, v)
	{
		if (strcmp(k, "tokens") != 0 && strcmp(k, "usd") != 0) {
			http_reply_invalid(req, "body", NULL,
					   "unknown field '%.64s' (tokens, "
					   "usd)",
					   k);
			return false;
		}
	}
	*b = (struct account_budget){-1, -1};
	if (t != NULL && !json_is_null(t)) {
		if (!json_is_integer(t) || json_integer_value(t) < 1 ||
		    json_integer_value(t) > BUDGET_TOKENS_MAX) {
			http_reply_invalid(req, "body.tokens", t,
					   "tokens must be an integer from 1 "
					   "to %lld, or null",
					   (long long)BUDGET_TOKENS_MAX);
			return false;
		}
		b->tokens = json_integer_value(t);
	}
	if (u != NULL && !json_is_null(u)) {
		if (!json_is_number(u) || !(json_number_value(u) > 0) ||
		    json_number_value(u) > BUDGET_USD_MAX) {
			http_reply_invalid(req, "body.usd", u,
					   "usd must be a number above 0 up "
					   "to %.0f, or null",
					   BUDGET_USD_MAX);
			return false;
		}
		/* at least a nano-USD: a budget above 0 is never 0 */
		b->usd_nusd = MAX(1LL, llround(json_number_value(u) * 1e9));
	}
	return true;
}

void
api_usage_budget(struct http_req *req)
{
	const char *rest = http_req_path(req) + strlen("/api/v2/users/");
	char *ref = xstrndup(rest, strcspn(rest, "/"));
	json_t *caller = auth_user(req), *target = NULL, *body = NULL;
	struct account_budget b;
	const char *id;

	if (caller == NULL)
		goto out;
	target = auth_lookup_user(caller, ref);
	id = json_string_value(json_object_get(target, "id"));
	if (id == NULL || !auth_may_act_for(caller, id)) {
		http_reply_problem(req, 404, "no user '%s'", ref);
		goto out;
	}
	if (strcmp(http_req_method(req), "GET") == 0) {
		http_reply_json(req, 200, budget_json(id));
		goto out;
	}
	if (!auth_is_admin(caller)) {
		http_reply_problem(req, 403, "only an admin may set budgets");
		goto out;
	}
	if ((body = http_req_json(req)) == NULL || !budget_parse(req, body, &b))
		goto out;
	if (store_user_budget_set(srv->store, id, b.tokens, b.usd_nusd,
				  (int64_t)wall_ms()) < 0) {
		http_reply_problem(req, 500, "cannot store the budget");
		goto out;
	}
	account_user_budget_set(id, &b);
	http_reply_json(req, 200, budget_json(id));
out:
	free(ref);
	json_decref(body);
	json_decref(target);
	json_decref(caller);
}

/* Route the endpoints this file serves alone (the task's and the user's
 * come through api-tasks.c, api-users.c and api-login.c). */
void
api_usage_register(struct http_server *http)
{
	http_server_route(http, "GET", "/api/v2/usage", 0, 0, api_usage_report,
			  NULL);
	http_server_route(http, "GET", "/api/v2/prices", 0, 0, api_prices,
			  NULL);
	http_server_route(http, "GET", "/api/v2/prices/", HTTP_ROUTE_PREFIX, 0,
			  api_prices, NULL);
	http_server_route(http, "PUT", "/api/v2/prices/", HTTP_ROUTE_PREFIX,
			  4096, api_prices, NULL);
	http_server_route(http, "DELETE", "/api/v2/prices/", HTTP_ROUTE_PREFIX,
			  0, api_prices, NULL);
}
