/*
 * store-pg.c: PostgreSQL behind store.h, through libpq.
 *
 * One synchronous connection, used from the server's loop thread only,
 * over the cluster's unix socket or TCP. The loop never waits on the
 * database without bound: the connect has a timeout (connect_timeout),
 * every statement one (statement_timeout), and TCP connections
 * keepalives and a user timeout, so a database that vanishes fails the
 * statement instead of hanging the server. A connection found broken is
 * reset once and the statement sent again when it was not inside a
 * transaction (inside one, the transaction is gone: the statement fails
 * and the caller's ROLLBACK succeeds).
 *
 * Statements arrive in the shared text of store.h: '?' and '?N'
 * placeholders become $k (outside quotes and comments); parameters go
 * as text, typed: 's' text, 'i' int8, 'I' left to the server (an
 * integer column or a truth value, as SQLite reads 0 and 1). Columns map
 * by type: int2/int4/int8/oid and integral numerics to JSON integers,
 * bool to 0 or 1 (what SQLite gives), floats to reals, anything else to
 * text; NULL to null. Errors: class 23 (integrity: unique, check,
 * foreign key, like SQLite's SQLITE_CONSTRAINT) -EEXIST, 53100 (disk
 * full) -ENOSPC, the rest -EIO, logged.
 *
 * The schema version lives in taskbox_schema (one row); migrations run
 * under a session advisory lock, so two servers starting at once on the
 * same database migrate it once.
 */
#include "common.h"

#include <libpq-fe.h>

#include "core/log.h"
#include "store-backend.h"

/* Type OIDs (fixed in PostgreSQL's catalog, pg_type.dat). */
enum store_pg_oid {
	STORE_PG_BOOL = 16,
	STORE_PG_INT8 = 20,
	STORE_PG_INT2 = 21,
	STORE_PG_INT4 = 23,
	STORE_PG_TEXT = 25,
	STORE_PG_OID = 26,
	STORE_PG_FLOAT4 = 700,
	STORE_PG_FLOAT8 = 701,
	STORE_PG_NUMERIC = 1700,
};

/* The advisory lock key of migrations ("taskbox" in ASCII). */
#define STORE_PG_MIGRATE_LOCK "32199698367034744"

struct store_pg {
	struct store base;
	PGconn *conn;
	int changes;
	/* the last statement left a transaction open */
	bool in_tx;
};

static const struct store_ops store_pg_ops;

/* The PostgreSQL side of st. */
static struct store_pg *
store_pg(struct store *st)
{
	return (struct store_pg *)st;
}

char *
store_pg_placeholders(const char *sql)
{
	size_t n = strlen(sql);
	/* "?" (1 byte) becomes at most "$" and 10 digits */
	char *out = xmalloc(n * 11 + 1), *o = out;
	long next = 0;

	for (const char *p = sql; *p != '\0';) {
		if (*p == '\'' || *p == '"') {
			/* a literal or quoted name; a doubled quote stays in */
			char q = *p;

			*o++ = *p++;
			while (*p != '\0' && *p != q)
				*o++ = *p++;
			if (*p != '\0')
				*o++ = *p++;
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p != '\0' && *p != '\n')
				*o++ = *p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *end = strstr(p + 2, "*/");
			size_t len = end ? (size_t)(end + 2 - p) : strlen(p);

			memcpy(o, p, len);
			o += len;
			p += len;
		} else if (*p == '?') {
			char *end;
			long k = strtol(p + 1, &end, 10);

			if (end == p + 1 || k <= 0 || k > 32767) {
				k = ++next;
				end = (char *)p + 1;
			} else {
				next = MAX(next, k);
			}
			o += snprintf(o, 12, "$%ld", k);
			p = end;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/* libpq's message without its trailing newline (a new string). */
static char *
store_pg_message(const char *msg)
{
	char *s = xstrdup(msg != NULL && *msg != '\0' ? msg : "unknown error");
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

/* Notices (a CREATE ... IF NOT EXISTS that skipped) go to the debug log. */
static void
store_pg_notice(void *arg, const char *msg)
{
	char *m = store_pg_message(msg);

	log_debug("postgresql: %s", m);
	free(m);
}

/*
 * Run a parameterless script (several statements may follow each other);
 * 0, or -EIO with *cause. *value, when given, gets the first column of
 * the last statement's first row (a new string, NULL when there is none).
 */
static int
store_pg_script(struct store_pg *pg, const char *sql, char **value,
		char **cause)
{
	PGresult *res = PQexec(pg->conn, sql);
	ExecStatusType s = PQresultStatus(res);
	int r = 0;

	if (value != NULL)
		*value = NULL;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		*cause = store_pg_message(PQerrorMessage(pg->conn));
		r = -EIO;
	} else if (value != NULL && PQntuples(res) > 0 && PQnfields(res) > 0 &&
		   !PQgetisnull(res, 0, 0)) {
		*value = xstrdup(PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return r;
}

/* Read the schema version (the table is made when missing); -1 on error
 * with *cause. */
static int
store_pg_schema_version(struct store_pg *pg, char **cause)
{
	char *v = NULL;
	long n;

	if (store_pg_script(pg,
			    "CREATE TABLE IF NOT EXISTS taskbox_schema ("
			    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
			    "  version INTEGER NOT NULL);"
			    "INSERT INTO taskbox_schema VALUES (1, 0)"
			    "  ON CONFLICT (id) DO NOTHING;"
			    "SELECT version FROM taskbox_schema",
			    &v, cause) < 0)
		return -1;
	if (v == NULL || parse_long(v, 0, 1 << 20, &n) < 0) {
		*cause = xstrdup("taskbox_schema holds no version");
		free(v);
		return -1;
	}
	free(v);
	return (int)n;
}

/*
 * Bring the schema up to date: under the migration lock, one transaction
 * per migration, each bumping taskbox_schema. 0, or -errno with *cause.
 */
static int
store_pg_migrate(struct store_pg *pg, char **cause)
{
	int want = store_migrations_count, have, r = 0;
	char *inner = NULL;

	/* a migration may take longer than a statement may; the lock
	 * waits at most for another server's migration */
	if (store_pg_script(pg,
			    "SET statement_timeout = '5min';"
			    "SELECT pg_advisory_lock(" STORE_PG_MIGRATE_LOCK
			    ")",
			    NULL, cause) < 0) {
		inner = *cause;
		*cause = xasprintf("cannot take the migration lock: %s", inner);
		free(inner);
		return -EIO;
	}
	if ((have = store_pg_schema_version(pg, cause)) < 0) {
		r = -EIO;
		goto out;
	}
	if (have > want) {
		*cause = xasprintf("the database has schema version %d but "
				   "this taskbox knows only up to %d: use a "
				   "newer taskbox",
				   have, want);
		r = -EPROTO;
		goto out;
	}
	for (int v = have; v < want; v++) {
		char *sql = xasprintf("BEGIN; %s; UPDATE taskbox_schema SET "
				      "version = %d; COMMIT;",
				      store_migrations[v].pg, v + 1);

		r = store_pg_script(pg, sql, NULL, &inner);
		free(sql);
		if (r < 0) {
			char *ignored = NULL;

			if (store_pg_script(pg, "ROLLBACK", NULL, &ignored) < 0)
				free(ignored);
			*cause = xasprintf("migration %d failed: %s", v + 1,
					   inner);
			free(inner);
			goto out;
		}
		log_info("database migrated to schema version %d", v + 1);
	}
	pg->base.version = want;
out:
	/* the lock also goes with the connection */
	inner = NULL;
	if (store_pg_script(pg,
			    "SELECT pg_advisory_unlock(" STORE_PG_MIGRATE_LOCK
			    "); RESET statement_timeout",
			    NULL, &inner) < 0 &&
	    r == 0) {
		*cause = inner;
		return -EIO;
	}
	free(inner);
	return r;
}

/*
 * Warn when the database sorts text by a locale: lists (users, templates,
 * secrets) come out in byte order from SQLite and from a database made
 * with LC_COLLATE C, in another order from others.
 */
static void
store_pg_check_collation(struct store_pg *pg)
{
	char *coll = NULL, *cause = NULL;

	if (store_pg_script(pg,
			    "SELECT datcollate FROM pg_database WHERE "
			    "datname = current_database()",
			    &coll, &cause) < 0) {
		free(cause);
		return;
	}
	/* C.UTF-8 sorts by code point: byte order too */
	if (coll != NULL && strcmp(coll, "C") != 0 &&
	    strcmp(coll, "POSIX") != 0 && strncmp(coll, "C.", 2) != 0)
		log_warn("the PostgreSQL database sorts text by the locale "
			 "'%s': lists are ordered as in SQLite only with "
			 "LC_COLLATE 'C' (CREATE DATABASE ... LOCALE 'C' "
			 "TEMPLATE template0)",
			 coll);
	free(coll);
}

int
store_pg_open(const char *uri, struct store **out, char **cause)
{
	/*
	 * Our bounds first, the URI last: what the URI sets wins. The
	 * statement timeout bounds the loop's wait on one statement; the
	 * keepalives and the user timeout find a dead peer over TCP.
	 */
	static const char *const keys[] = {
		"connect_timeout",  "options",
		"application_name", "client_encoding",
		"keepalives_idle",  "keepalives_interval",
		"keepalives_count", "tcp_user_timeout",
		"dbname",	    NULL,
	};
	const char *values[] = {
		"5",	   "-c statement_timeout=10000",
		"taskbox", "UTF8",
		"10",	   "5",
		"3",	   "10000",
		uri,	   NULL,
	};
	struct store_pg *pg = xcalloc(1, sizeof *pg);
	char *msg;
	int r;

	pg->base.ops = &store_pg_ops;
	pg->conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		msg = store_pg_message(PQerrorMessage(pg->conn));
		*cause = xasprintf("cannot connect to the PostgreSQL "
				   "database: %s",
				   msg);
		free(msg);
		store_close(&pg->base);
		return -EIO;
	}
	PQsetNoticeProcessor(pg->conn, store_pg_notice, NULL);
	if ((r = store_pg_migrate(pg, cause)) < 0) {
		store_close(&pg->base);
		return r;
	}
	store_pg_check_collation(pg);
	*out = &pg->base;
	return 0;
}

/* Close the connection and free st. */
static void
store_pg_close(struct store *st)
{
	PQfinish(store_pg(st)->conn);
	free(st);
}

/* Map a failed statement to -errno, logging what is not a unique
 * violation. */
static int
store_pg_error(struct store_pg *pg, const PGresult *res, const char *sql)
{
	const char *state =
		res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char *msg;
	int r = -EIO;

	if (state != NULL && strcmp(state, "23505") == 0)
		return -EEXIST;
	msg = store_pg_message(
		res && PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
			? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
			: PQerrorMessage(pg->conn));
	if (state != NULL && strncmp(state, "23", 2) == 0) {
		log_warn("SQL constraint in '%s': %s", sql, msg);
		r = -EEXIST;
	} else {
		log_error("SQL error in '%s': %s", sql, msg);
		if (state != NULL && strcmp(state, "53100") == 0)
			r = -ENOSPC;
	}
	free(msg);
	return r;
}

/* Field (row, col) of res as JSON (a new reference). */
static json_t *
store_pg_value(const PGresult *res, int row, int col)
{
	const char *v = PQgetvalue(res, row, col);
	char *end;
	long long n;
	json_t *s;

	if (PQgetisnull(res, row, col))
		return json_null();
	switch (PQftype(res, col)) {
	case STORE_PG_BOOL:
		return json_integer(v[0] == 't');
	case STORE_PG_INT2:
	case STORE_PG_INT4:
	case STORE_PG_INT8:
	case STORE_PG_OID:
		return json_integer(strtoll(v, NULL, 10));
	case STORE_PG_NUMERIC:
		/* sum() of bigints is a numeric: an integer when integral */
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno == 0 && *end == '\0')
			return json_integer(n);
		return json_real(strtod(v, NULL));
	case STORE_PG_FLOAT4:
	case STORE_PG_FLOAT8:
		return json_real(strtod(v, NULL));
	default:
		s = json_stringn(v, (size_t)PQgetlength(res, row, col));
		return s != NULL ? s : json_null();
	}
}

/* res's rows as a new array of objects. */
static json_t *
store_pg_rows(const PGresult *res)
{
	json_t *rows = json_array();
	int nrows = PQntuples(res), cols = PQnfields(res);

	for (int i = 0; i < nrows; i++) {
		json_t *row = json_object();

		for (int c = 0; c < cols; c++)
			json_object_set_new(row, PQfname(res, c),
					    store_pg_value(res, i, c));
		json_array_append_new(rows, row);
	}
	return rows;
}

/* Send text with n parameters from p; the result (never NULL except out
 * of memory). */
static PGresult *
store_pg_send(struct store_pg *pg, const char *text,
	      const struct store_param *p, int n)
{
	size_t k = (size_t)MAX(n, 1);
	const char **values = xcalloc(k, sizeof *values);
	Oid *types = xcalloc(k, sizeof *types);
	char(*num)[24] = xcalloc(k, sizeof *num);
	PGresult *res;

	for (int i = 0; i < n; i++) {
		if (p[i].type == 's') {
			types[i] = STORE_PG_TEXT;
			values[i] = p[i].s;
			continue;
		}
		/* an 'I' stays untyped: an int column, or a truth value */
		types[i] = p[i].type == 'i' ? STORE_PG_INT8 : 0;
		snprintf(num[i], sizeof num[i], "%lld", (long long)p[i].i);
		values[i] = num[i];
	}
	res = PQexecParams(pg->conn, text, n, types, values, NULL, NULL, 0);
	free(values);
	free(types);
	free(num);
	return res;
}

/* Reset a broken connection; true when it is back. */
static bool
store_pg_reconnect(struct store_pg *pg)
{
	char *msg;

	log_warn("the PostgreSQL connection is broken: reconnecting");
	PQreset(pg->conn);
	if (PQstatus(pg->conn) == CONNECTION_OK)
		return true;
	msg = store_pg_message(PQerrorMessage(pg->conn));
	log_error("cannot reconnect to PostgreSQL: %s", msg);
	free(msg);
	return false;
}

/* The run op: one statement, sent again once over a new connection when
 * the old one broke outside a transaction. */
static json_t *
store_pg_run(struct store *st, int *err, const char *sql,
	     const struct store_param *p, int n)
{
	struct store_pg *pg = store_pg(st);
	char *text;
	PGresult *res = NULL;
	json_t *rows = NULL;
	ExecStatusType s;

	if (PQstatus(pg->conn) == CONNECTION_BAD && pg->in_tx) {
		/* the transaction died with the connection: only its
		 * ROLLBACK succeeds */
		if (strcmp(sql, "ROLLBACK") == 0) {
			pg->in_tx = false;
			return json_array();
		}
		*err = -EIO;
		return NULL;
	}
	if (PQstatus(pg->conn) == CONNECTION_BAD && !store_pg_reconnect(pg)) {
		*err = -EIO;
		return NULL;
	}
	text = store_pg_placeholders(sql);
	res = store_pg_send(pg, text, p, n);
	if (PQstatus(pg->conn) == CONNECTION_BAD && !pg->in_tx &&
	    store_pg_reconnect(pg)) {
		PQclear(res);
		res = store_pg_send(pg, text, p, n);
	}
	s = PQresultStatus(res);
	if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
		rows = store_pg_rows(res);
		/* as sqlite3_changes(): what the last write changed */
		if (s == PGRES_COMMAND_OK)
			pg->changes = (int)strtol(PQcmdTuples(res), NULL, 10);
	} else {
		*err = store_pg_error(pg, res, sql);
	}
	pg->in_tx = PQtransactionStatus(pg->conn) == PQTRANS_INTRANS ||
		    PQtransactionStatus(pg->conn) == PQTRANS_INERROR ||
		    (PQstatus(pg->conn) == CONNECTION_BAD && pg->in_tx);
	PQclear(res);
	free(text);
	return rows;
}

/* The changes op: rows the last statement changed (PQcmdTuples). */
static int
store_pg_changes(struct store *st)
{
	return store_pg(st)->changes;
}

static const struct store_ops store_pg_ops = {
	.name = "postgresql",
	.run = store_pg_run,
	.changes = store_pg_changes,
	.close = store_pg_close,
	.begin = "BEGIN",
};
