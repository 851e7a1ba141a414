/*
 * store-usage.c: the usage, prices and user_budgets tables (store-rows.h).
 *
 * Data model: one usage row per (task, UTC hour, provider, model) that
 * only grows: gateway/account.c adds what it gathered in memory since
 * its last flush, so the row is a sum; owner, template and provider type
 * are copied in when the row is made, and reports group these rows
 * without a join (names are joined only for the report's keys). Costs
 * are integers in nano-USD, prices integers in micro-USD per million
 * tokens: sums are exact in both dialects. One prices row per (provider
 * type, model prefix) an admin set; one user_budgets row per user with a
 * monthly limit (NULL columns: no limit of that kind).
 */
#include "common.h"

#include "store/store-rows.h"

/* clang-format off */
/*
 * The sum of column c (prefix p: "" or "u.") as alias c: summed as
 * doubles, held under 2^63 and read back as an integer, so that rows
 * holding huge figures (a hostile upstream's) never overflow the sum
 * (SQLite fails, PostgreSQL's numeric leaves bigint); exact up to 2^53.
 */
#define USAGE_SUM(p, c) \
	"CAST(CASE WHEN sum(CAST(" p c " AS DOUBLE PRECISION)) >= 9.2e18 " \
	"THEN 9.2e18 ELSE sum(CAST(" p c " AS DOUBLE PRECISION)) END " \
	"AS BIGINT) AS " c
/* The sums of a usage selection, as SQL both dialects read alike. */
#define USAGE_SUMS_OF(p) \
	USAGE_SUM(p, "requests") ", " \
	USAGE_SUM(p, "input_tokens") ", " \
	USAGE_SUM(p, "output_tokens") ", " \
	USAGE_SUM(p, "cache_read_input_tokens") ", " \
	USAGE_SUM(p, "cache_creation_input_tokens") ", " \
	USAGE_SUM(p, "cost_nusd")
#define USAGE_SUMS USAGE_SUMS_OF("")
/* Column c of a usage row plus the excluded row's, held at 2^63 - 1. */
#define USAGE_ADD(c) \
	c " = CASE WHEN usage." c " > 9223372036854775807 - excluded." c \
	" THEN 9223372036854775807 ELSE usage." c " + excluded." c " END"

/* Add a row's figures to its (task, hour, provider, model) row. */
static const char usage_add_sql[] =
	"INSERT INTO usage (task_id, hour_ms, provider, model, owner_id, "
	"template_id, provider_type, requests, input_tokens, output_tokens, "
	"cache_read_input_tokens, cache_creation_input_tokens, cost_nusd) "
	"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
	"ON CONFLICT (task_id, hour_ms, provider, model) DO UPDATE SET "
	USAGE_ADD("requests") ", "
	USAGE_ADD("input_tokens") ", "
	USAGE_ADD("output_tokens") ", "
	USAGE_ADD("cache_read_input_tokens") ", "
	USAGE_ADD("cache_creation_input_tokens") ", "
	USAGE_ADD("cost_nusd");

/* A report: the select and join of its group (%s, %s), then the range,
 * the owner (twice: '' for everyone) and the limit. */
static const char usage_report_sql[] =
	"SELECT %s, " USAGE_SUMS_OF("u.") " FROM usage u%s "
	"WHERE u.hour_ms >= ? AND u.hour_ms < ? AND "
	"(? = '' OR u.owner_id = ?) "
	"GROUP BY 1, 2 ORDER BY cost_nusd DESC, 1 LIMIT ?";
/* clang-format on */

int
store_usage_add(struct store *st, const char *task_id, int64_t hour_ms,
		const char *provider, const char *model, const char *owner_id,
		const char *template_id, const char *provider_type,
		const struct store_usage_sums *s)
{
	return store_exec(st, usage_add_sql, "sisssssiiiiii", task_id, hour_ms,
			  provider, model, owner_id, template_id, provider_type,
			  s->requests, s->input_tokens, s->output_tokens,
			  s->cache_read_input_tokens,
			  s->cache_creation_input_tokens, s->cost_nusd);
}

json_t *
store_usage_by_task(struct store *st)
{
	return store_rows(st, NULL,
			  "SELECT u.task_id AS task_id, " USAGE_SUMS
			  " FROM usage u JOIN tasks t ON t.id = u.task_id "
			  "WHERE t.deleted_at IS NULL GROUP BY u.task_id",
			  "");
}

json_t *
store_usage_by_owner(struct store *st, int64_t from_ms)
{
	return store_rows(st, NULL,
			  "SELECT owner_id, " USAGE_SUMS
			  " FROM usage WHERE hour_ms >= ? GROUP BY owner_id",
			  "i", from_ms);
}

json_t *
store_usage_of_task(struct store *st, const char *task_id)
{
	return store_rows(st, NULL,
			  "SELECT provider, provider_type, model, " USAGE_SUMS
			  " FROM usage WHERE task_id = ? GROUP BY provider, "
			  "provider_type, model ORDER BY provider, model",
			  "s", task_id);
}

json_t *
store_usage_report(struct store *st, const char *column, const char *owner_id,
		   int64_t from_ms, int64_t to_ms, int64_t limit)
{
	/* the column names a fixed text: never the caller's bytes */
	static const struct {
		const char *column, *select, *join;
	} groups[] = {
		{"owner_id", "u.owner_id AS key, x.username AS name",
		 " LEFT JOIN users x ON x.id = u.owner_id"},
		{"template_id", "u.template_id AS key, x.name AS name",
		 " LEFT JOIN templates x ON x.id = u.template_id"},
		{"provider", "u.provider AS key, NULL AS name", ""},
		{"model", "u.model AS key, NULL AS name", ""},
	};
	json_t *rows = NULL;
	char *sql;

	for (size_t i = 0; i < ARRAY_SIZE(groups); i++) {
		if (strcmp(column, groups[i].column) != 0)
			continue;
		sql = xasprintf(usage_report_sql, groups[i].select,
				groups[i].join);
		rows = store_rows(st, NULL, sql, "iissi", from_ms, to_ms,
				  owner_id ? owner_id : "",
				  owner_id ? owner_id : "", limit);
		free(sql);
		return rows;
	}
	BUG();
}

json_t *
store_prices_list(struct store *st)
{
	return store_rows(st, NULL,
			  "SELECT provider_type, model, input_micro, "
			  "output_micro, cache_read_micro, cache_write_micro, "
			  "updated_at FROM prices ORDER BY provider_type, "
			  "model",
			  "");
}

int
store_price_set(struct store *st, const char *provider_type, const char *model,
		int64_t input, int64_t output, int64_t cache_read,
		int64_t cache_write, int64_t now)
{
	return store_exec(
		st,
		"INSERT INTO prices (provider_type, model, input_micro, "
		"output_micro, cache_read_micro, cache_write_micro, "
		"updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
		"(provider_type, model) DO UPDATE SET input_micro = "
		"excluded.input_micro, output_micro = excluded.output_micro, "
		"cache_read_micro = excluded.cache_read_micro, "
		"cache_write_micro = excluded.cache_write_micro, updated_at = "
		"excluded.updated_at",
		"ssiiiii", provider_type, model, input, output, cache_read,
		cache_write, now);
}

int
store_price_delete(struct store *st, const char *provider_type,
		   const char *model)
{
	int r = store_exec(st,
			   "DELETE FROM prices WHERE provider_type = ? AND "
			   "model = ?",
			   "ss", provider_type, model);

	if (r < 0)
		return r;
	return store_changes(st) > 0 ? 0 : -ENOENT;
}

json_t *
store_user_budgets_list(struct store *st)
{
	return store_rows(st, NULL,
			  "SELECT user_id, tokens, usd_nusd FROM user_budgets",
			  "");
}

json_t *
store_user_budget_get(struct store *st, const char *user_id)
{
	return store_rows(st, NULL,
			  "SELECT tokens, usd_nusd FROM user_budgets WHERE "
			  "user_id = ?",
			  "s", user_id);
}

int
store_user_budget_set(struct store *st, const char *user_id, int64_t tokens,
		      int64_t usd_nusd, int64_t now)
{
	if (tokens < 0 && usd_nusd < 0)
		return store_exec(st,
				  "DELETE FROM user_budgets WHERE user_id = ?",
				  "s", user_id);
	/* -1 binds as an integer either way: NULLIF makes it NULL */
	return store_exec(st,
			  "INSERT INTO user_budgets (user_id, tokens, "
			  "usd_nusd, updated_at) VALUES (?, NULLIF(?, -1), "
			  "NULLIF(?, -1), ?) ON CONFLICT (user_id) DO UPDATE "
			  "SET tokens = excluded.tokens, usd_nusd = "
			  "excluded.usd_nusd, updated_at = excluded.updated_at",
			  "siii", user_id, tokens, usd_nusd, now);
}
