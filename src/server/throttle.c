/*
 * throttle.c: failed sign-ins per key (throttle.h).
 *
 * Data model: an array of at most cap entries, each a key (cut to
 * THROTTLE_KEY_MAX bytes), the start of its window and the attempts
 * counted in it. Lookups scan the array (a few thousand entries at most,
 * and attempts are as slow as a password hash). An entry whose window
 * ended counts as empty; a new key when the table is full takes the
 * place of such an entry, else of the one with the fewest attempts (the
 * oldest of them): a flood of new keys (names tried once) cannot push
 * out the count of a key under attack.
 */
#include "common.h"

#include "server/throttle.h"

struct throttle_entry {
	char key[THROTTLE_KEY_MAX + 1];
	uint64_t start; /* the window's start */
	unsigned n;	/* attempts counted in it */
};

struct throttle {
	struct throttle_entry *e;
	size_t n, cap;
};

struct throttle *
throttle_new(size_t cap)
{
	struct throttle *t = xcalloc(1, sizeof *t);

	t->cap = cap > 0 ? cap : 1;
	t->e = xcalloc(t->cap, sizeof *t->e);
	return t;
}

void
throttle_free(struct throttle *t)
{
	if (t == NULL)
		return;
	free(t->e);
	free(t);
}

/* The entry of key (cut as stored), or NULL. */
static struct throttle_entry *
throttle_find(struct throttle *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (strncmp(t->e[i].key, key, THROTTLE_KEY_MAX) == 0)
			return &t->e[i];
	return NULL;
}

/* Whether a goes before b when the full table needs a place at now: an
 * ended window first, then the fewest attempts, then the oldest. */
static bool
throttle_before(const struct throttle_entry *a, const struct throttle_entry *b,
		uint64_t now)
{
	bool a_over = now - a->start >= THROTTLE_WINDOW_MS;
	bool b_over = now - b->start >= THROTTLE_WINDOW_MS;

	if (a_over != b_over)
		return a_over;
	if (!a_over && a->n != b->n)
		return a->n < b->n;
	return a->start < b->start;
}

/* A fresh entry for key at now: a free slot or the oldest one. */
static struct throttle_entry *
throttle_take(struct throttle *t, const char *key, uint64_t now)
{
	struct throttle_entry *e;

	if (t->n < t->cap) {
		e = &t->e[t->n++];
	} else {
		e = &t->e[0];
		for (size_t i = 1; i < t->n; i++)
			if (throttle_before(&t->e[i], e, now))
				e = &t->e[i];
	}
	snprintf(e->key, sizeof e->key, "%s", key);
	e->start = now;
	e->n = 0;
	return e;
}

unsigned
throttle_attempt(struct throttle *t, const char *key, uint64_t now,
		 uint64_t *retry_ms)
{
	struct throttle_entry *e = throttle_find(t, key);

	*retry_ms = 0;
	if (e != NULL && now - e->start >= THROTTLE_WINDOW_MS) {
		e->start = now;
		e->n = 0;
	}
	if (e == NULL)
		e = throttle_take(t, key, now);
	if (e->n >= THROTTLE_BOUND) {
		*retry_ms = e->start + THROTTLE_WINDOW_MS - now;
		return 0;
	}
	return ++e->n;
}

void
throttle_success(struct throttle *t, const char *key, bool clear)
{
	struct throttle_entry *e = throttle_find(t, key);

	if (e == NULL)
		return;
	if (clear)
		e->n = 0;
	else if (e->n > 0)
		e->n--;
}

uint64_t
throttle_delay_ms(unsigned n)
{
	if (n <= THROTTLE_FREE)
		return 0;
	if (n - THROTTLE_FREE >= 15)
		return THROTTLE_DELAY_MAX_MS;
	return MIN((uint64_t)1000 << (n - THROTTLE_FREE),
		   (uint64_t)THROTTLE_DELAY_MAX_MS);
}

size_t
throttle_size(const struct throttle *t)
{
	return t->n;
}
