/*
 * store-bench.c: per-statement latency of the store (bench/store.sh).
 *
 * Opens the store SPEC names (a SQLite path or a PostgreSQL URI), makes
 * a table shaped like the server's tasks (a text key, a few text
 * columns, a 64-bit time), and times N of each of three statements the
 * server runs all the time: an insert of a row, an update of one row by
 * its key (a state change), a select of one row by its key. Prints the
 * median and the 99th percentile of each in microseconds.
 */
#include "common.h"

#include <time.h>

#include "store/store.h"

/* Now in nanoseconds (monotonic). */
static int64_t
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Order two int64_t for qsort. */
static int
bench_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Print the p50 and p99 of the n samples in ns (sorted in place). */
static void
bench_report(const char *backend, const char *what, int64_t *ns, int n)
{
	qsort(ns, (size_t)n, sizeof *ns, bench_cmp);
	printf("%-10s %-6s n=%d p50=%.1fus p99=%.1fus\n", backend, what, n,
	       (double)ns[n / 2] / 1000.0, (double)ns[n * 99 / 100] / 1000.0);
}

int
main(int argc, char **argv)
{
	struct store *st;
	char *cause = NULL;
	long n = 2000;
	int64_t *ins, *upd, *sel;
	char id[64];

	if (argc < 2 ||
	    (argc > 2 && parse_long(argv[2], 10, 1000000, &n) < 0)) {
		fprintf(stderr, "usage: store-bench SPEC [N]\n");
		return 2;
	}
	if (store_open(argv[1], &st, &cause) < 0) {
		fprintf(stderr, "store-bench: %s\n", cause);
		return 1;
	}
	if (store_exec(st,
		       "CREATE TABLE bench_tasks (id TEXT PRIMARY KEY, "
		       "owner_id TEXT NOT NULL, name TEXT NOT NULL, "
		       "status TEXT NOT NULL, updated_at BIGINT NOT NULL)",
		       "") < 0) {
		fprintf(stderr, "store-bench: cannot create the table\n");
		return 1;
	}
	ins = xcalloc((size_t)n, sizeof *ins);
	upd = xcalloc((size_t)n, sizeof *upd);
	sel = xcalloc((size_t)n, sizeof *sel);
	for (long i = 0; i < n; i++) {
		int64_t t0;

		snprintf(id, sizeof id, "task-%ld", i);
		t0 = bench_now();
		if (store_exec(st,
			       "INSERT INTO bench_tasks (id, owner_id, name, "
			       "status, updated_at) VALUES (?, ?, ?, ?, ?)",
			       "ssssi", id, "owner", id, "pending", t0) < 0)
			return 1;
		ins[i] = bench_now() - t0;
	}
	for (long i = 0; i < n; i++) {
		int64_t t0;

		snprintf(id, sizeof id, "task-%ld", (i * 7919) % n);
		t0 = bench_now();
		if (store_exec(st,
			       "UPDATE bench_tasks SET status = ?, "
			       "updated_at = ? WHERE id = ?",
			       "sis", "active", t0, id) < 0)
			return 1;
		upd[i] = bench_now() - t0;
	}
	for (long i = 0; i < n; i++) {
		int64_t t0;
		json_t *row;

		snprintf(id, sizeof id, "task-%ld", (i * 104729) % n);
		t0 = bench_now();
		row = store_row(st, "SELECT * FROM bench_tasks WHERE id = ?",
				"s", id);
		sel[i] = bench_now() - t0;
		if (row == NULL)
			return 1;
		json_decref(row);
	}
	bench_report(store_backend(st), "insert", ins, (int)n);
	bench_report(store_backend(st), "update", upd, (int)n);
	bench_report(store_backend(st), "select", sel, (int)n);
	free(ins);
	free(upd);
	free(sel);
	store_close(st);
	return 0;
}
