/*
 * account.h: LLM usage per task and per user, its cost, and budgets.
 *
 * The gateway calls account_check before a request and account_record
 * after it; both work on totals in memory (per task since it was made,
 * per user for the current UTC month), loaded from the store at start
 * and written to it by a timer, so neither ever waits for the database.
 * Budgets: a template's workspace.budget {tokens, usd} holds each of its
 * tasks; an admin's monthly budget holds each user. Tokens are input +
 * output + cache read + cache creation; costs come from price.h's table
 * and the admin's overrides.
 */
#ifndef TASKBOX_GATEWAY_ACCOUNT_H
#define TASKBOX_GATEWAY_ACCOUNT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway/price.h"
#include "gateway/usage.h"

struct ev_loop;
struct store;

struct account_key {
	const char *task_id, *owner_id, *template_id, *provider, *provider_type,
		*model;
};
/* Add one response's usage (u->requests may be 0: a failed request still
 * counts 1 request with what was read). Never blocks: in memory, flushed
 * to the store by a timer. */
void account_record(const struct account_key *k, const struct usage *u);
/* Before a request: 0, or -EDQUOT and *reason (new string, "budget
 * exceeded: ..."). */
int account_check(const char *task_id, const char *owner_id,
		  const char *template_id, char **reason);
/* A request that passed account_check goes upstream: 0 (counted in
 * flight until account_end), or -EBUSY and *reason (new string) when a
 * task or user with a budget has ACCOUNT_INFLIGHT_* in flight already
 * (a 429 without a pause). */
int account_begin(const char *task_id, const char *owner_id,
		  const char *template_id, char **reason);
/* A request account_begin counted has ended (recorded or not). */
void account_end(const char *task_id, const char *owner_id);
/* The task went over: pause it once with the reason as state message
 * (webhooks fire). */
void account_exceeded(const char *task_id, const char *reason);

/* ---- the server's side ------------------------------------------------- */

/* What account.c asks of the server (set once at account_start). */
struct account_hooks {
	/* pause task_id with message as its state message, unless it is
	 * stopping or stopped already */
	void (*pause)(const char *task_id, const char *message);
	/* task_id's totals changed (at most once a flush period) */
	void (*changed)(const char *task_id);
};

/* The totals of a task or a user's month (cost in nano-USD). */
struct account_sum {
	int64_t requests, input_tokens, output_tokens;
	int64_t cache_read_input_tokens, cache_creation_input_tokens;
	int64_t cost_nusd;
};

/* A budget: -1 for no limit of that kind. */
struct account_budget {
	int64_t tokens, usd_nusd;
};

/* How often the timer writes what was gathered, and reloads what other
 * replicas may have changed (users' month totals, budgets, prices). */
#define ACCOUNT_FLUSH_MS  1000
#define ACCOUNT_RELOAD_MS 30000
/* Usage rows gathered between two flushes, at most; past it the model
 * is recorded as "(other)" (a task naming endless models). */
#define ACCOUNT_PENDING_MAX 4096
/* Model names one task's usage rows carry, at most; past it "(other)". */
#define ACCOUNT_TASK_MODELS_MAX 32
/* Requests in flight at once for a task whose template has a budget, and
 * for a user with a monthly budget: every request is checked against the
 * totals of the responses that ended, so these bound the overspend of
 * requests sent together (the agents' parallel calls fit). */
#define ACCOUNT_INFLIGHT_TASK 8
#define ACCOUNT_INFLIGHT_USER 32
/* Price overrides and template budgets held, at most. */
#define ACCOUNT_PRICES_MAX 1000

/* Load totals, budgets and prices from st and start the timer on loop
 * (both borrowed until account_stop); 0 or -EIO with *cause. */
int account_start(struct store *st, struct ev_loop *loop,
		  const struct account_hooks *hooks, char **cause);
/* Write what is pending, stop the timer, free everything. */
void account_stop(void);
/* Write what is pending now (before a report reads the store); 0 or the
 * store's error (the rows stay pending). */
int account_flush(void);
/* What the timer does each ACCOUNT_FLUSH_MS: show the tasks whose
 * totals changed (the changed hook), then write what is pending. */
void account_tick(void);
/* Read owner_id's budget and template_id's (NULL: none) from the store
 * again (raised on another replica): two lookups, for a resume. */
void account_refresh(const char *owner_id, const char *template_id);
/* Reload users' month totals, user and template budgets and price
 * overrides from the store (other replicas' changes). */
void account_reload(void);

/* Task task_id's totals as the Task JSON shows them (changed only when
 * the changed hook is called); zero for a task without usage. */
void account_task_sum(const char *task_id, struct account_sum *out);
/* Task task_id is gone: drop its totals from memory (its rows stay). */
void account_task_forget(const char *task_id);
/* User user_id's totals this UTC month. */
void account_user_month(const char *user_id, struct account_sum *out);
/* {requests, input_tokens, ..., cost_usd} of s (new reference). */
json_t *account_sum_json(const struct account_sum *s);
/* Add one row's columns (a store usage row) to s. */
void account_sum_add_row(struct account_sum *s, const json_t *row);

/* Set (or, both -1, remove) the budget of every task of template_id /
 * of user_id this month. In memory only: the caller stores it. */
void account_template_budget_set(const char *template_id,
				 const struct account_budget *b);
void account_user_budget_set(const char *user_id,
			     const struct account_budget *b);
/* Take template_id's budget from its new active version's normalized
 * spec (workspace.budget; none: no budget). */
void account_template_spec(const char *template_id, const json_t *spec);
/* user_id's monthly budget (both -1: none). */
void account_user_budget(const char *user_id, struct account_budget *out);

/* The price of model at a provider of type: an admin's override (the
 * longest model prefix set for that type), else the built-in table.
 * true and *out, or false (not priced: cost 0). *override (may be NULL)
 * says it was an admin's. */
bool account_price(const char *type, const char *model, struct price *out,
		   bool *override);
/* Set (p) or remove (p NULL) an admin's override in memory. false when
 * ACCOUNT_PRICES_MAX are set already (nothing changed). */
bool account_price_set(const char *type, const char *model,
		       const struct price *p);

/* The first millisecond of the UTC month holding wall-clock ms. */
int64_t account_month_start(int64_t ms);

#endif
