/*
 * account.c: usage totals, costs and budgets in memory, written to the
 * store by a timer.
 *
 * Data model: five string-keyed tables, all in memory. tasks: per task
 * (not deleted) its live totals, the totals the Task JSON shows
 * (published at most once a flush period, when the changed hook runs)
 * and whether they differ. users: per user its totals for one UTC month
 * (month_start; a new month starts from zero) and its monthly budget.
 * templates: per template the workspace.budget of its active version.
 * prices: the admin's overrides, per provider type and model prefix.
 * pending: what account_record gathered since the last flush, one entry
 * per future usage row (task, hour, provider, model), bounded by
 * ACCOUNT_PENDING_MAX. The timer (ACCOUNT_FLUSH_MS) writes pending in
 * one transaction (kept for the next tick when the store fails) and
 * publishes the tasks that changed; every ACCOUNT_RELOAD_MS it reloads
 * what another replica on the same PostgreSQL may have changed: users'
 * month totals, budgets, prices. account_record and account_check only
 * read and write these tables: they never touch the store.
 */
#include "common.h"

#include <math.h>
#include <time.h>

#include "core/ev.h"
#include "core/log.h"
#include "core/text.h"
#include "gateway/account.h"
#include "store/store-rows.h"

/* ---- a string-keyed table --------------------------------------------- */

struct amap_node {
	struct amap_node *next;
	char *key;
	size_t keylen;
	void *value;
};

struct amap {
	struct amap_node **buckets;
	size_t nbuckets, n;
};

/* FNV-1a of key[0..len). */
static uint64_t
amap_hash(const char *key, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
	return h;
}

/* The value under key (len bytes, may hold NULs), or NULL. */
static void *
amap_get(const struct amap *m, const char *key, size_t len)
{
	struct amap_node *n;

	if (m->nbuckets == 0)
		return NULL;
	n = m->buckets[amap_hash(key, len) % m->nbuckets];
	for (; n != NULL; n = n->next)
		if (n->keylen == len && memcmp(n->key, key, len) == 0)
			return n->value;
	return NULL;
}

/* Double m's buckets once it holds as many entries as buckets. */
static void
amap_grow(struct amap *m)
{
	size_t nb = m->nbuckets ? m->nbuckets * 2 : 64;
	struct amap_node **b = xcalloc(nb, sizeof *b);

	for (size_t i = 0; i < m->nbuckets; i++) {
		struct amap_node *n, *next;

		for (n = m->buckets[i]; n != NULL; n = next) {
			size_t j = amap_hash(n->key, n->keylen) % nb;

			next = n->next;
			n->next = b[j];
			b[j] = n;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
}

/* Put value under key (copied; not there yet). */
static void
amap_put(struct amap *m, const char *key, size_t len, void *value)
{
	struct amap_node *n = xcalloc(1, sizeof *n);
	size_t i;

	if (m->n >= m->nbuckets)
		amap_grow(m);
	n->key = xmalloc(len + 1);
	memcpy(n->key, key, len);
	n->key[len] = '\0';
	n->keylen = len;
	n->value = value;
	i = amap_hash(key, len) % m->nbuckets;
	n->next = m->buckets[i];
	m->buckets[i] = n;
	m->n++;
}

/* Take key out; its value (the caller frees it), or NULL. */
static void *
amap_del(struct amap *m, const char *key, size_t len)
{
	struct amap_node **pp, *n;
	void *v;

	if (m->nbuckets == 0)
		return NULL;
	pp = &m->buckets[amap_hash(key, len) % m->nbuckets];
	for (; (n = *pp) != NULL; pp = &n->next) {
		if (n->keylen != len || memcmp(n->key, key, len) != 0)
			continue;
		*pp = n->next;
		v = n->value;
		free(n->key);
		free(n);
		m->n--;
		return v;
	}
	return NULL;
}

/* Empty m, freeing each value with free_value (NULL: free()). */
static void
amap_clear(struct amap *m, void (*free_value)(void *))
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct amap_node *n, *next;

		for (n = m->buckets[i]; n != NULL; n = next) {
			next = n->next;
			(free_value ? free_value : free)(n->value);
			free(n->key);
			free(n);
		}
	}
	free(m->buckets);
	m->buckets = NULL;
	m->nbuckets = m->n = 0;
}

/* ---- the tables -------------------------------------------------------- */

struct acct_task {
	struct account_sum live, shown;
	bool dirty;	/* live differs from shown */
	int inflight;	/* requests between account_begin and account_end */
	char **models;	/* the model names recorded (this process) */
	size_t nmodels; /* at most ACCOUNT_TASK_MODELS_MAX */
};

struct acct_user {
	int64_t month_start;
	struct account_sum month;
	struct account_budget budget;
	int inflight; /* requests between account_begin and account_end */
};

struct acct_pending {
	char *task_id, *owner_id, *template_id, *provider, *provider_type,
		*model;
	int64_t hour_ms;
	struct account_sum sum;
};

struct acct_price {
	char *type, *model;
	struct price p;
};

static struct {
	struct store *st;
	struct ev_loop *loop;
	struct account_hooks hooks;
	struct ev_timer timer;
	uint64_t reload_at; /* monotonic ms of the next reload */
	struct amap tasks, users, templates, pending;
	struct acct_price *prices;
	size_t nprices;
	bool started;
} acct;

/* The user entry of id for the month holding now (made when missing). */
static struct acct_user *
acct_user(const char *id, int64_t now)
{
	struct acct_user *u = amap_get(&acct.users, id, strlen(id));
	int64_t month = account_month_start(now);

	if (u == NULL) {
		u = xcalloc(1, sizeof *u);
		u->budget = (struct account_budget){-1, -1};
		u->month_start = month;
		amap_put(&acct.users, id, strlen(id), u);
	}
	if (u->month_start != month) { /* a new month */
		memset(&u->month, 0, sizeof u->month);
		u->month_start = month;
	}
	return u;
}

/* The task entry of id (made when missing). */
static struct acct_task *
acct_task(const char *id)
{
	struct acct_task *t = amap_get(&acct.tasks, id, strlen(id));

	if (t == NULL) {
		t = xcalloc(1, sizeof *t);
		amap_put(&acct.tasks, id, strlen(id), t);
	}
	return t;
}

/* a + b, held at INT64_MAX (figures are never negative). */
static int64_t
acct_add_sat(int64_t a, int64_t b)
{
	int64_t r;

	return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

/* Free a task entry. */
static void
acct_task_free(void *v)
{
	struct acct_task *t = v;

	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nmodels; i++)
		free(t->models[i]);
	free(t->models);
	free(t);
}

/* model as t records it: itself when t recorded it already or has room
 * for one more name, else "(other)" (a task naming endless models must
 * not make endless usage rows). */
static const char *
acct_task_model(struct acct_task *t, const char *model)
{
	for (size_t i = 0; i < t->nmodels; i++)
		if (strcmp(t->models[i], model) == 0)
			return model;
	if (t->nmodels >= ACCOUNT_TASK_MODELS_MAX)
		return "(other)";
	t->models = xreallocarray(t->models, t->nmodels + 1, sizeof *t->models);
	t->models[t->nmodels++] = xstrdup(model);
	return model;
}

/* Add b to a (each figure held at INT64_MAX: a hostile upstream's huge
 * counts must not wrap a total below a budget). */
static void
acct_sum_add(struct account_sum *a, const struct account_sum *b)
{
	a->requests = acct_add_sat(a->requests, b->requests);
	a->input_tokens = acct_add_sat(a->input_tokens, b->input_tokens);
	a->output_tokens = acct_add_sat(a->output_tokens, b->output_tokens);
	a->cache_read_input_tokens = acct_add_sat(a->cache_read_input_tokens,
						  b->cache_read_input_tokens);
	a->cache_creation_input_tokens = acct_add_sat(
		a->cache_creation_input_tokens, b->cache_creation_input_tokens);
	a->cost_nusd = acct_add_sat(a->cost_nusd, b->cost_nusd);
}

/* The tokens a budget counts. */
static int64_t
acct_sum_tokens(const struct account_sum *s)
{
	return acct_add_sat(acct_add_sat(s->input_tokens, s->output_tokens),
			    acct_add_sat(s->cache_read_input_tokens,
					 s->cache_creation_input_tokens));
}

int64_t
account_month_start(int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	return (int64_t)timegm(&tm) * 1000;
}

/* ---- prices ------------------------------------------------------------ */

bool
account_price(const char *type, const char *model, struct price *out,
	      bool *override)
{
	char key[PRICE_MODEL_MAX + 1];
	const struct acct_price *best = NULL;

	price_model_key(model, key);
	for (size_t i = 0; i < acct.nprices; i++) {
		const struct acct_price *p = &acct.prices[i];

		if (strcmp(p->type, type) != 0 ||
		    !price_prefix_matches(key, p->model))
			continue;
		if (best == NULL || strlen(p->model) > strlen(best->model))
			best = p;
	}
	if (override != NULL)
		*override = best != NULL;
	if (best != NULL) {
		*out = best->p;
		return true;
	}
	return price_builtin(type, model, out);
}

bool
account_price_set(const char *type, const char *model, const struct price *p)
{
	for (size_t i = 0; i < acct.nprices; i++) {
		struct acct_price *o = &acct.prices[i];

		if (strcmp(o->type, type) != 0 || strcmp(o->model, model) != 0)
			continue;
		if (p != NULL) {
			o->p = *p;
			return true;
		}
		free(o->type);
		free(o->model);
		acct.prices[i] = acct.prices[--acct.nprices];
		return true;
	}
	if (p == NULL)
		return true;
	if (acct.nprices >= ACCOUNT_PRICES_MAX)
		return false;
	acct.prices = xreallocarray(acct.prices, acct.nprices + 1,
				    sizeof *acct.prices);
	acct.prices[acct.nprices++] =
		(struct acct_price){xstrdup(type), xstrdup(model), *p};
	return true;
}

/* Drop every override. */
static void
acct_prices_clear(void)
{
	for (size_t i = 0; i < acct.nprices; i++) {
		free(acct.prices[i].type);
		free(acct.prices[i].model);
	}
	free(acct.prices);
	acct.prices = NULL;
	acct.nprices = 0;
}

/* ---- recording and checking ------------------------------------------- */

/* Free a pending entry. */
static void
acct_pending_free(void *v)
{
	struct acct_pending *p = v;

	free(p->task_id);
	free(p->owner_id);
	free(p->template_id);
	free(p->provider);
	free(p->provider_type);
	free(p->model);
	free(p);
}

/* The pending entry for k (its strings not NULL) and model this hour
 * (made when missing). */
static struct acct_pending *
acct_pending(const struct account_key *k, const char *model, int64_t hour)
{
	char hour_s[24], *key;
	size_t len;
	struct acct_pending *p;

	snprintf(hour_s, sizeof hour_s, "%lld", (long long)hour);
	/* task NUL hour NUL provider NUL model */
	len = strlen(k->task_id) + strlen(hour_s) + strlen(k->provider) +
	      strlen(model) + 3;
	key = xmalloc(len + 1);
	snprintf(key, len + 1, "%s%c%s%c%s%c%s", k->task_id, 0, hour_s, 0,
		 k->provider, 0, model);
	if ((p = amap_get(&acct.pending, key, len)) == NULL) {
		p = xcalloc(1, sizeof *p);
		p->task_id = xstrdup(k->task_id);
		p->owner_id = xstrdup(k->owner_id);
		p->template_id = xstrdup(k->template_id);
		p->provider = xstrdup(k->provider);
		p->provider_type = xstrdup(k->provider_type);
		p->model = xstrdup(model);
		p->hour_ms = hour;
		amap_put(&acct.pending, key, len, p);
	}
	free(key);
	return p;
}

void
account_record(const struct account_key *key, const struct usage *u)
{
	const struct account_key kk = {
		key->task_id ?: "",	  key->owner_id ?: "",
		key->template_id ?: "",	  key->provider ?: "",
		key->provider_type ?: "", key->model ?: "",
	};
	const struct account_key *k = &kk;
	char model[PRICE_MODEL_MAX + 1];
	int64_t now = (int64_t)wall_ms();
	struct account_sum d = {0};
	struct acct_pending *p;
	struct acct_task *t;
	struct price price;
	size_t n;

	/* the name as the response (else the request) gave it, cut, in
	 * printable ASCII: a task names it, and reports print it to
	 * terminals (no escapes) and PostgreSQL takes valid UTF-8 only (a
	 * cut sequence failed every flush) */
	n = strlen(u->model[0] ? u->model : k->model);
	memcpy(model, u->model[0] ? u->model : k->model,
	       MIN(n, (size_t)PRICE_MODEL_MAX));
	model[MIN(n, (size_t)PRICE_MODEL_MAX)] = '\0';
	for (char *c = model; *c != '\0'; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	d.requests = 1; /* a failed request counts too */
	d.input_tokens = (int64_t)MIN(u->input_tokens, (uint64_t)INT32_MAX);
	d.output_tokens = (int64_t)MIN(u->output_tokens, (uint64_t)INT32_MAX);
	d.cache_read_input_tokens =
		(int64_t)MIN(u->cache_read_input_tokens, (uint64_t)INT32_MAX);
	d.cache_creation_input_tokens = (int64_t)MIN(
		u->cache_creation_input_tokens, (uint64_t)INT32_MAX);
	if (account_price(k->provider_type, model, &price, NULL)) {
		struct usage c = {
			.input_tokens = (uint64_t)d.input_tokens,
			.output_tokens = (uint64_t)d.output_tokens,
			.cache_read_input_tokens =
				(uint64_t)d.cache_read_input_tokens,
			.cache_creation_input_tokens =
				(uint64_t)d.cache_creation_input_tokens,
		};

		d.cost_nusd = price_cost_nusd(&price, &c);
	}
	t = acct_task(k->task_id);
	p = acct_pending(k,
			 acct.pending.n >= ACCOUNT_PENDING_MAX
				 ? "(other)"
				 : acct_task_model(t, model),
			 now - now % 3600000);
	acct_sum_add(&p->sum, &d);
	acct_sum_add(&t->live, &d);
	t->dirty = true;
	acct_sum_add(&acct_user(k->owner_id, now)->month, &d);
}

/* Is s past b? The reason (new string, naming which) or NULL. */
static char *
acct_over(const char *which, const struct account_sum *s,
	  const struct account_budget *b)
{
	if (b->tokens >= 0 && acct_sum_tokens(s) >= b->tokens)
		return xasprintf("budget exceeded: %s tokens %lld/%lld", which,
				 (long long)acct_sum_tokens(s),
				 (long long)b->tokens);
	if (b->usd_nusd >= 0 && s->cost_nusd >= b->usd_nusd)
		return xasprintf("budget exceeded: %s USD %.4f/%.4f", which,
				 (double)s->cost_nusd / 1e9,
				 (double)b->usd_nusd / 1e9);
	return NULL;
}

int
account_check(const char *task_id, const char *owner_id,
	      const char *template_id, char **reason)
{
	struct acct_task *t = amap_get(&acct.tasks, task_id, strlen(task_id));
	struct account_budget *tb =
		template_id ? amap_get(&acct.templates, template_id,
				       strlen(template_id))
			    : NULL;
	struct acct_user *u;
	static const struct account_sum zero;

	if (tb != NULL &&
	    (*reason = acct_over("task", t ? &t->live : &zero, tb)) != NULL)
		return -EDQUOT;
	u = acct_user(owner_id, (int64_t)wall_ms());
	if ((*reason = acct_over("user's monthly", &u->month, &u->budget)) !=
	    NULL)
		return -EDQUOT;
	return 0;
}

int
account_begin(const char *task_id, const char *owner_id,
	      const char *template_id, char **reason)
{
	struct acct_task *t = acct_task(task_id);
	struct acct_user *u = acct_user(owner_id, (int64_t)wall_ms());
	bool task_budget =
		template_id != NULL && amap_get(&acct.templates, template_id,
						strlen(template_id)) != NULL;

	/* usage is known only once a response ends: bound what requests
	 * checked together, before any was recorded, may overspend */
	if (task_budget && t->inflight >= ACCOUNT_INFLIGHT_TASK) {
		*reason =
			xasprintf("too many LLM requests at once: a task with "
				  "a budget may have %d in flight",
				  ACCOUNT_INFLIGHT_TASK);
		return -EBUSY;
	}
	if ((u->budget.tokens >= 0 || u->budget.usd_nusd >= 0) &&
	    u->inflight >= ACCOUNT_INFLIGHT_USER) {
		*reason =
			xasprintf("too many LLM requests at once: a user with "
				  "a budget may have %d in flight",
				  ACCOUNT_INFLIGHT_USER);
		return -EBUSY;
	}
	t->inflight++;
	u->inflight++;
	return 0;
}

void
account_end(const char *task_id, const char *owner_id)
{
	struct acct_task *t = amap_get(&acct.tasks, task_id, strlen(task_id));
	struct acct_user *u = amap_get(&acct.users, owner_id, strlen(owner_id));

	if (t != NULL && t->inflight > 0)
		t->inflight--;
	if (u != NULL && u->inflight > 0)
		u->inflight--;
}

void
account_exceeded(const char *task_id, const char *reason)
{
	if (acct.hooks.pause != NULL)
		acct.hooks.pause(task_id, reason);
}

/* ---- what the server reads -------------------------------------------- */

void
account_task_sum(const char *task_id, struct account_sum *out)
{
	struct acct_task *t = amap_get(&acct.tasks, task_id, strlen(task_id));

	if (t != NULL)
		*out = t->shown;
	else
		memset(out, 0, sizeof *out);
}

void
account_task_forget(const char *task_id)
{
	acct_task_free(amap_del(&acct.tasks, task_id, strlen(task_id)));
}

void
account_user_month(const char *user_id, struct account_sum *out)
{
	*out = acct_user(user_id, (int64_t)wall_ms())->month;
}

json_t *
account_sum_json(const struct account_sum *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:f}", "requests",
			 (json_int_t)s->requests, "input_tokens",
			 (json_int_t)s->input_tokens, "output_tokens",
			 (json_int_t)s->output_tokens,
			 "cache_read_input_tokens",
			 (json_int_t)s->cache_read_input_tokens,
			 "cache_creation_input_tokens",
			 (json_int_t)s->cache_creation_input_tokens, "cost_usd",
			 (double)s->cost_nusd / 1e9);
}

void
account_sum_add_row(struct account_sum *s, const json_t *row)
{
	struct account_sum d = {
		json_integer_value(json_object_get(row, "requests")),
		json_integer_value(json_object_get(row, "input_tokens")),
		json_integer_value(json_object_get(row, "output_tokens")),
		json_integer_value(
			json_object_get(row, "cache_read_input_tokens")),
		json_integer_value(
			json_object_get(row, "cache_creation_input_tokens")),
		json_integer_value(json_object_get(row, "cost_nusd")),
	};

	acct_sum_add(s, &d);
}

void
account_template_budget_set(const char *template_id,
			    const struct account_budget *b)
{
	size_t len = strlen(template_id);
	struct account_budget *cur =
		amap_get(&acct.templates, template_id, len);

	if (b->tokens < 0 && b->usd_nusd < 0) {
		free(amap_del(&acct.templates, template_id, len));
		return;
	}
	if (cur == NULL) {
		cur = xmalloc(sizeof *cur);
		amap_put(&acct.templates, template_id, len, cur);
	}
	*cur = *b;
}

void
account_user_budget_set(const char *user_id, const struct account_budget *b)
{
	acct_user(user_id, (int64_t)wall_ms())->budget = *b;
}

void
account_user_budget(const char *user_id, struct account_budget *out)
{
	struct acct_user *u = amap_get(&acct.users, user_id, strlen(user_id));

	*out = u ? u->budget : (struct account_budget){-1, -1};
}

/* ---- the store --------------------------------------------------------- */

/* The budget of a normalized template spec's workspace.budget. */
static struct account_budget
acct_spec_budget(const json_t *spec)
{
	json_t *b =
		json_object_get(json_object_get(spec, "workspace"), "budget");
	json_t *tokens = json_object_get(b, "tokens"),
	       *usd = json_object_get(b, "usd");

	return (struct account_budget){
		json_is_integer(tokens) ? json_integer_value(tokens) : -1,
		/* at least a nano-USD: a budget above 0 is never 0 */
		json_is_number(usd)
			? MAX(1LL, llround(json_number_value(usd) * 1e9))
			: -1,
	};
}

void
account_template_spec(const char *template_id, const json_t *spec)
{
	struct account_budget b = acct_spec_budget(spec);

	account_template_budget_set(template_id, &b);
}

/* Load the budgets of the templates' active versions. */
static void
acct_load_templates(void)
{
	json_t *rows = store_templates_list(acct.st), *row;
	size_t i;

	if (rows == NULL)
		return;
	amap_clear(&acct.templates, NULL);
	json_array_foreach(rows, i, row)
	{
		const char *id = json_string_value(json_object_get(row, "id"));
		json_t *spec = json_loads(
			json_string_value(json_object_get(row, "spec")) ?: "",
			0, NULL);
		struct account_budget b = acct_spec_budget(spec);

		if (id != NULL && (b.tokens >= 0 || b.usd_nusd >= 0))
			account_template_budget_set(id, &b);
		json_decref(spec);
	}
	json_decref(rows);
}

/* The budget of a user_budgets row (NULL: none). */
static struct account_budget
acct_row_budget(const json_t *row)
{
	json_t *t = json_object_get(row, "tokens"),
	       *u = json_object_get(row, "usd_nusd");

	return (struct account_budget){
		json_is_integer(t) ? json_integer_value(t) : -1,
		json_is_integer(u) ? json_integer_value(u) : -1,
	};
}

/* Load users' month totals and budgets, and the price overrides. */
static void
acct_load_users_prices(void)
{
	int64_t now = (int64_t)wall_ms();
	json_t *rows, *row;
	size_t i;

	if ((rows = store_usage_by_owner(acct.st, account_month_start(now))) !=
	    NULL) {
		/* a user gone from the rows (a new month) starts at zero */
		for (size_t b = 0; b < acct.users.nbuckets; b++)
			for (struct amap_node *n = acct.users.buckets[b];
			     n != NULL; n = n->next)
				memset(&((struct acct_user *)n->value)->month,
				       0, sizeof(struct account_sum));
		json_array_foreach(rows, i, row)
		{
			const char *id = json_string_value(
				json_object_get(row, "owner_id"));
			struct acct_user *u = acct_user(id ?: "", now);

			account_sum_add_row(&u->month, row);
		}
		json_decref(rows);
	}
	if ((rows = store_user_budgets_list(acct.st)) != NULL) {
		for (size_t b = 0; b < acct.users.nbuckets; b++)
			for (struct amap_node *n = acct.users.buckets[b];
			     n != NULL; n = n->next)
				((struct acct_user *)n->value)->budget =
					(struct account_budget){-1, -1};
		json_array_foreach(rows, i, row)
		{
			struct account_budget bu = acct_row_budget(row);

			account_user_budget_set(
				json_string_value(
					json_object_get(row, "user_id"))
					?: "",
				&bu);
		}
		json_decref(rows);
	}
	if ((rows = store_prices_list(acct.st)) != NULL) {
		acct_prices_clear();
		json_array_foreach(rows, i, row)
		{
			struct price p = {
				json_integer_value(
					json_object_get(row, "input_micro")),
				json_integer_value(
					json_object_get(row, "output_micro")),
				json_integer_value(json_object_get(
					row, "cache_read_micro")),
				json_integer_value(json_object_get(
					row, "cache_write_micro")),
			};

			account_price_set(
				json_string_value(
					json_object_get(row, "provider_type"))
					?: "",
				json_string_value(json_object_get(row, "model"))
					?: "",
				&p);
		}
		json_decref(rows);
	}
}

void
account_refresh(const char *owner_id, const char *template_id)
{
	struct account_budget b;
	json_t *row, *spec;

	if ((row = store_user_budget_get(acct.st, owner_id)) != NULL) {
		b = acct_row_budget(json_array_get(row, 0));
		account_user_budget_set(owner_id, &b);
		json_decref(row);
	}
	if (template_id == NULL ||
	    (row = store_template_find(acct.st, template_id)) == NULL)
		return;
	spec = json_loads(json_string_value(json_object_get(row, "spec")) ?: "",
			  0, NULL);
	if (spec != NULL)
		account_template_spec(template_id, spec);
	json_decref(spec);
	json_decref(row);
}

void
account_reload(void)
{
	if (account_flush() < 0)
		return; /* the totals would miss what is pending */
	acct_load_users_prices();
	acct_load_templates();
}

int
account_flush(void)
{
	struct store_usage_sums s;
	int r = 0;

	if (acct.pending.n == 0)
		return 0;
	if ((r = store_begin(acct.st)) < 0)
		return r;
	for (size_t b = 0; b < acct.pending.nbuckets && r == 0; b++) {
		for (struct amap_node *n = acct.pending.buckets[b];
		     n != NULL && r == 0; n = n->next) {
			struct acct_pending *p = n->value;

			s = (struct store_usage_sums){
				p->sum.requests,
				p->sum.input_tokens,
				p->sum.output_tokens,
				p->sum.cache_read_input_tokens,
				p->sum.cache_creation_input_tokens,
				p->sum.cost_nusd,
			};
			r = store_usage_add(acct.st, p->task_id, p->hour_ms,
					    p->provider, p->model, p->owner_id,
					    p->template_id, p->provider_type,
					    &s);
		}
	}
	if (r == 0)
		r = store_commit(acct.st);
	if (r < 0) {
		store_rollback(acct.st);
		log_warn("cannot write LLM usage (%zu rows kept for the next "
			 "try): %s",
			 acct.pending.n, strerror(-r));
		return r;
	}
	amap_clear(&acct.pending, acct_pending_free);
	return 0;
}

/* Show the tasks whose totals changed (the changed hook). */
static void
acct_publish(void)
{
	for (size_t b = 0; b < acct.tasks.nbuckets; b++) {
		for (struct amap_node *n = acct.tasks.buckets[b]; n != NULL;
		     n = n->next) {
			struct acct_task *t = n->value;

			if (!t->dirty)
				continue;
			t->shown = t->live;
			t->dirty = false;
			if (acct.hooks.changed != NULL)
				acct.hooks.changed(n->key);
		}
	}
}

void
account_tick(void)
{
	acct_publish();
	account_flush();
}

/* The timer: account_tick; now and then a reload. */
static void
acct_on_timer(void *data UNUSED)
{
	account_tick();
	if (now_ms() >= acct.reload_at) {
		acct.reload_at = now_ms() + ACCOUNT_RELOAD_MS;
		account_reload();
	}
	ev_timer_start(acct.loop, &acct.timer, now_ms() + ACCOUNT_FLUSH_MS);
}

int
account_start(struct store *st, struct ev_loop *loop,
	      const struct account_hooks *hooks, char **cause)
{
	json_t *rows, *row;
	size_t i;

	BUG_ON(acct.started);
	acct.st = st;
	acct.loop = loop;
	acct.hooks = *hooks;
	if ((rows = store_usage_by_task(st)) == NULL) {
		*cause = xstrdup("cannot read the LLM usage of the tasks");
		return -EIO;
	}
	json_array_foreach(rows, i, row)
	{
		struct acct_task *t = acct_task(
			json_string_value(json_object_get(row, "task_id"))
				?: "");

		account_sum_add_row(&t->live, row);
		t->shown = t->live;
	}
	json_decref(rows);
	acct_load_users_prices();
	acct_load_templates();
	acct.started = true;
	ev_timer_init(&acct.timer, acct_on_timer, NULL);
	acct.reload_at = now_ms() + ACCOUNT_RELOAD_MS;
	if (loop != NULL)
		ev_timer_start(loop, &acct.timer, now_ms() + ACCOUNT_FLUSH_MS);
	return 0;
}

void
account_stop(void)
{
	if (!acct.started)
		return;
	account_flush();
	if (acct.loop != NULL)
		ev_timer_stop(acct.loop, &acct.timer);
	amap_clear(&acct.tasks, acct_task_free);
	amap_clear(&acct.users, NULL);
	amap_clear(&acct.templates, NULL);
	amap_clear(&acct.pending, acct_pending_free);
	acct_prices_clear();
	memset(&acct, 0, sizeof acct);
}
