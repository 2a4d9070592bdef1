/*
 * The PostgreSQL backend's tables as rows (bulk.h), for copy-db.
 *
 * One blocking libpq connection of its own, outside the repository (a tool
 * run once, not a server: no time-outs but the server's lock_timeout). Read:
 * one REPEATABLE READ READ ONLY transaction, so every table is read from one
 * snapshot; rows come in single-row mode, text format. Write: one
 * transaction; rows go in with COPY FROM STDIN (text format), the fastest way
 * in. Left out of describe(): schema_version (migrations), row_counts (kept by
 * triggers: recount) and download_event_outbox (change events in flight
 * between replicas, meaningless elsewhere).
 */
#include "postgres_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bulk.h"

/* Flush COPY data to the server in pieces of about this size. */
#define COPY_CHUNK (256 * 1024)

typedef struct pg_bulk {
	aw_bulk base;         /* first: a pg_bulk is an aw_bulk */
	PGconn *pg;
	int in_copy;          /* a COPY FROM STDIN is under way */
	size_t n_cols;        /* values per row of the COPY */
	char *buf;            /* COPY data not yet sent */
	size_t len, cap;
} pg_bulk;

/* Tables of the backend's own, not of the data model (see above). */
static const char *const own_tables[] = {"schema_version", "row_counts", "download_event_outbox"};

static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Maps a failure (res may be NULL) to an AW_E* code, "<what>: <server's text>". */
static int fail(PGconn *pg, const PGresult *res, const char *what, aw_err *err)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *text = res != NULL && PQresultErrorMessage(res)[0] != '\0'
				   ? PQresultErrorMessage(res)
				   : PQerrorMessage(pg);
	int len = (int)strlen(text);
	int code = AW_EIO;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	if (PQstatus(pg) == CONNECTION_BAD)
		code = AW_EUNAVAIL;
	else if (state != NULL && strcmp(state, "55P03") == 0)
		code = AW_EBUSY;
	else if (state != NULL && strncmp(state, "23", 2) == 0)
		code = AW_EINVAL;
	else if (state != NULL && strcmp(state, "53100") == 0)
		code = AW_EFULL;
	return aw_err_set(err, code, "%s: %.*s", what, len, text);
}

/* Runs `sql` with text parameters (values may be NULL), expecting `want`;
 * *out gets the result when not NULL. */
static int run(PGconn *pg, const char *sql, int n, const char *const *values, ExecStatusType want,
	       PGresult **out, const char *what, aw_err *err)
{
	/* Without parameters, the simple protocol: it takes several statements. */
	PGresult *res = n == 0 ? PQexec(pg, sql) : PQexecParams(pg, sql, n, NULL, values, NULL, NULL, 0);
	int rc = 0;

	if (PQresultStatus(res) != want)
		rc = fail(pg, res, what, err);
	if (rc == 0 && out != NULL) {
		*out = res;
		return 0;
	}
	PQclear(res);
	return rc;
}

static int run_int(PGconn *pg, const char *sql, int n, const char *const *values, int64_t *v,
		   const char *what, aw_err *err)
{
	PGresult *res;
	int rc = run(pg, sql, n, values, PGRES_TUPLES_OK, &res, what, err);

	*v = 0;
	if (rc != 0)
		return rc;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		*v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/* `name` as a quoted identifier, for SQL text; free with PQfreemem. */
static char *ident(PGconn *pg, const char *name, aw_err *err)
{
	char *q = PQescapeIdentifier(pg, name, strlen(name));

	if (q == NULL)
		aw_err_set(err, AW_ENOMEM, "quoting %s: %s", name, PQerrorMessage(pg));
	return q;
}

static void pg_bulk_close(aw_bulk *b)
{
	pg_bulk *s = (pg_bulk *)b;

	if (s == NULL)
		return;
	if (s->pg != NULL) {
		if (s->in_copy) {
			PGresult *res;

			PQputCopyEnd(s->pg, "copy abandoned");
			while ((res = PQgetResult(s->pg)) != NULL)
				PQclear(res);
		}
		if (PQtransactionStatus(s->pg) != PQTRANS_IDLE)
			PQclear(PQexec(s->pg, "ROLLBACK"));
		PQfinish(s->pg);
	}
	free(s->buf);
	free(s);
}

static int pg_bulk_open(aw_bulk **out, const char *location, int write, aw_err *err)
{
	const char *keys[] = {"application_name", "dbname", NULL};
	const char *values[] = {"aniworld-copy-db", location, NULL};
	pg_bulk *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (s == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for a database connection");
	s->base.methods = &aw__postgres_bulk;
	s->pg = PQconnectdbParams(keys, values, 1);
	if (s->pg == NULL) {
		free(s);
		return aw_err_set(err, AW_ENOMEM, "out of memory for a database connection");
	}
	if (PQstatus(s->pg) != CONNECTION_OK) {
		rc = fail(s->pg, NULL, "connecting", err);
		pg_bulk_close(&s->base);
		return rc;
	}
	PQsetNoticeProcessor(s->pg, quiet, NULL);
	/* Text that means the same whatever the server's or the user's defaults. */
	rc = run(s->pg,
		 "SET client_encoding = 'UTF8'; SET extra_float_digits = 1;"
		 " SET bytea_output = 'hex'; SET DateStyle = 'ISO'; SET lock_timeout = '30s'",
		 0, NULL, PGRES_COMMAND_OK, NULL, "setting up the connection", err);
	if (rc == 0 && write)
		rc = run(s->pg, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, "beginning", err);
	if (rc == 0 && !write) {
		int64_t one;

		rc = run(s->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL,
			 PGRES_COMMAND_OK, NULL, "beginning", err);
		/* The snapshot is taken by the first statement: take it now. */
		if (rc == 0)
			rc = run_int(s->pg, "SELECT 1", 0, NULL, &one, "beginning", err);
	}
	if (rc != 0) {
		pg_bulk_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}

static PGconn *pg_of(aw_bulk *b)
{
	return ((pg_bulk *)b)->pg;
}

static int pg_bulk_version(aw_bulk *b, int *stored, int *current, aw_err *err)
{
	int v, rc = aw__pg_schema_read(pg_of(b), &v, err);

	/* Migration N is the same on both backends (PostgreSQL's outbox, 4,
	 * is an empty migration on SQLite), so versions compare as they are. */
	*stored = rc == 0 ? v : 0;
	*current = aw__pg_schema_version();
	return rc;
}

static aw_bulk_kind kind_of(const char *type)
{
	if (strcmp(type, "bigint") == 0 || strcmp(type, "integer") == 0 ||
	    strcmp(type, "smallint") == 0)
		return AW_BULK_INT;
	if (strcmp(type, "boolean") == 0)
		return AW_BULK_BOOL;
	if (strcmp(type, "double precision") == 0 || strcmp(type, "real") == 0)
		return AW_BULK_REAL;
	if (strcmp(type, "text") == 0 || strcmp(type, "character varying") == 0 ||
	    strcmp(type, "character") == 0)
		return AW_BULK_TEXT;
	if (strcmp(type, "bytea") == 0)
		return AW_BULK_BLOB;
	return AW_BULK_OTHER;
}

static aw_bulk_table *table_named(aw_bulk_table *tables, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(tables[i].name, name) == 0)
			return &tables[i];
	return NULL;
}

static int pg_bulk_describe(aw_bulk *b, aw_bulk_table **tables, size_t *n, aw_err *err)
{
	PGconn *pg = pg_of(b);
	PGresult *res = NULL;
	int rc;

	*tables = NULL;
	*n = 0;
	rc = run(pg,
		 "SELECT table_name FROM information_schema.tables"
		 " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
		 " ORDER BY table_name",
		 0, NULL, PGRES_TUPLES_OK, &res, "listing tables", err);
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, 0);
		int own = 0;

		for (size_t k = 0; k < sizeof(own_tables) / sizeof(own_tables[0]); k++)
			own |= strcmp(name, own_tables[k]) == 0;
		if (!own)
			rc = aw__bulk_table_add(tables, n, name, err);
	}
	PQclear(res);
	res = NULL;
	if (rc == 0)
		rc = run(pg,
			 "SELECT table_name, column_name, data_type FROM information_schema.columns"
			 " WHERE table_schema = current_schema()"
			 " ORDER BY table_name, ordinal_position",
			 0, NULL, PGRES_TUPLES_OK, &res, "reading columns", err);
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		aw_bulk_table *t = table_named(*tables, *n, PQgetvalue(res, i, 0));

		if (t != NULL)
			rc = aw__bulk_column_add(t, PQgetvalue(res, i, 1),
						 kind_of(PQgetvalue(res, i, 2)),
						 PQgetvalue(res, i, 2), err);
	}
	PQclear(res);
	res = NULL;
	if (rc == 0)
		rc = run(pg,
			 "SELECT cl.relname, pl.relname FROM pg_constraint k"
			 " JOIN pg_class cl ON cl.oid = k.conrelid"
			 " JOIN pg_class pl ON pl.oid = k.confrelid"
			 " JOIN pg_namespace ns ON ns.oid = cl.relnamespace"
			 " WHERE k.contype = 'f' AND ns.nspname = current_schema()",
			 0, NULL, PGRES_TUPLES_OK, &res, "reading foreign keys", err);
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		aw_bulk_table *t = table_named(*tables, *n, PQgetvalue(res, i, 0));

		if (t != NULL)
			rc = aw__bulk_parent_add(t, PQgetvalue(res, i, 1), err);
	}
	PQclear(res);
	if (rc != 0) {
		aw_bulk_tables_free(*tables, *n);
		*tables = NULL;
		*n = 0;
	}
	return rc;
}

/* Runs "<before><table quoted><after>" for one integer. */
static int table_int(PGconn *pg, const char *before, const char *table, const char *after,
		     int n, const char *const *values, int64_t *v, const char *what, aw_err *err)
{
	char *q = ident(pg, table, err);
	char *sql;
	int rc;

	*v = 0;
	if (q == NULL)
		return AW_ENOMEM;
	sql = malloc(strlen(before) + strlen(q) + strlen(after) + 1);
	if (sql == NULL) {
		PQfreemem(q);
		return aw_err_set(err, AW_ENOMEM, "out of memory: %s", what);
	}
	snprintf(sql, strlen(before) + strlen(q) + strlen(after) + 1, "%s%s%s", before, q, after);
	rc = run_int(pg, sql, n, values, v, what, err);
	free(sql);
	PQfreemem(q);
	return rc;
}

static int pg_bulk_count(aw_bulk *b, const char *table, int64_t *n, aw_err *err)
{
	return table_int(pg_of(b), "SELECT COUNT(*) FROM ", table, "", 0, NULL, n, "counting rows",
			 err);
}

/* The identity's sequence, by the table's quoted name ($1). */
static int pg_bulk_id_last(aw_bulk *b, const char *table, int64_t *last, aw_err *err)
{
	PGconn *pg = pg_of(b);
	char *q = ident(pg, table, err);
	const char *values[1];
	int rc;

	if (q == NULL)
		return AW_ENOMEM;
	values[0] = q;
	rc = table_int(pg, "SELECT GREATEST(COALESCE((SELECT MAX(id) FROM ", table,
		       "), 0), COALESCE(pg_sequence_last_value("
		       "pg_get_serial_sequence($1, 'id')::regclass), 0))",
		       1, values, last, "reading the id sequence", err);
	PQfreemem(q);
	return rc;
}

/* The value of a text-format field as a column of kind `kind`; bytes are
 * unescaped into *bytes (PQfreemem). */
static int field_value(const PGresult *res, int col, aw_bulk_kind kind, aw_bulk_value *v,
		       unsigned char **bytes, aw_err *err)
{
	const char *text = PQgetvalue(res, 0, col);

	memset(v, 0, sizeof(*v));
	if (PQgetisnull(res, 0, col)) {
		v->kind = AW_BULK_NULL;
		return 0;
	}
	v->kind = kind;
	switch (kind) {
	case AW_BULK_INT:
		v->i = strtoll(text, NULL, 10);
		break;
	case AW_BULK_BOOL:
		v->i = text[0] == 't';
		break;
	case AW_BULK_REAL:
		v->d = strtod(text, NULL);
		break;
	case AW_BULK_BLOB:
		*bytes = PQunescapeBytea((const unsigned char *)text, &v->len);
		if (*bytes == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory reading bytes");
		v->p = (const char *)*bytes;
		break;
	default:
		v->p = text;
		v->len = (size_t)PQgetlength(res, 0, col);
		break;
	}
	return 0;
}

/* "a", "b", ... quoted for SQL; malloc'd. */
static char *column_list(PGconn *pg, const aw_bulk_column *cols, size_t n, aw_err *err)
{
	size_t len = 1, o = 0;
	char **q = calloc(n > 0 ? n : 1, sizeof(*q));
	char *s = NULL;

	if (q == NULL) {
		aw_err_set(err, AW_ENOMEM, "out of memory listing columns");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		q[i] = ident(pg, cols[i].name, err);
		if (q[i] == NULL)
			goto done;
		len += strlen(q[i]) + 2;
	}
	s = malloc(len);
	if (s == NULL) {
		aw_err_set(err, AW_ENOMEM, "out of memory listing columns");
		goto done;
	}
	s[0] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(s + o, len - o, "%s%s", i > 0 ? ", " : "", q[i]);
done:
	for (size_t i = 0; i < n; i++)
		PQfreemem(q[i]);
	free(q);
	return s;
}

static int pg_bulk_read(aw_bulk *b, const char *table, const aw_bulk_column *cols, size_t n,
			aw_bulk_row_fn *fn, void *arg, aw_err *err)
{
	PGconn *pg = pg_of(b);
	char *list = column_list(pg, cols, n, err), *q = ident(pg, table, err), *sql = NULL;
	aw_bulk_value *row = calloc(n > 0 ? n : 1, sizeof(*row));
	unsigned char **bytes = calloc(n > 0 ? n : 1, sizeof(*bytes));
	int rc = 0, by_id = 0;
	size_t len;
	PGresult *res;

	for (size_t i = 0; i < n; i++)
		by_id |= strcmp(cols[i].name, "id") == 0;
	if (list == NULL || q == NULL)
		rc = err->code;
	else if (row == NULL || bytes == NULL)
		rc = aw_err_set(err, AW_ENOMEM, "out of memory reading %s", table);
	if (rc == 0) {
		len = strlen(list) + strlen(q) + 64;
		sql = malloc(len);
		if (sql == NULL)
			rc = aw_err_set(err, AW_ENOMEM, "out of memory reading %s", table);
		else
			snprintf(sql, len, "SELECT %s FROM %s%s", list, q, by_id ? " ORDER BY id" : "");
	}
	if (rc == 0 && (!PQsendQuery(pg, sql) || !PQsetSingleRowMode(pg)))
		rc = fail(pg, NULL, "reading rows", err);
	/* Every result is read, also after a failure, so that the connection is
	 * ready for the next statement. */
	while (sql != NULL && (res = PQgetResult(pg)) != NULL) {
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_SINGLE_TUPLE && rc == 0) {
			for (size_t i = 0; i < n && rc == 0; i++)
				rc = field_value(res, (int)i, cols[i].kind, &row[i], &bytes[i], err);
			if (rc == 0)
				rc = fn(arg, row, n, err);
			for (size_t i = 0; i < n; i++) {
				PQfreemem(bytes[i]);
				bytes[i] = NULL;
			}
		} else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && rc == 0) {
			rc = fail(pg, res, "reading rows", err);
		}
		PQclear(res);
	}
	free(sql);
	free(list);
	PQfreemem(q);
	free(row);
	free(bytes);
	return rc;
}

/* "a, b, c" of `tables`, quoted, after `before`; malloc'd. */
static char *table_list_sql(PGconn *pg, const char *before, const char *const *tables, size_t n,
			    const char *after, aw_err *err)
{
	aw_bulk_column *cols = calloc(n > 0 ? n : 1, sizeof(*cols));
	char *list, *sql = NULL;
	size_t len;

	if (cols == NULL) {
		aw_err_set(err, AW_ENOMEM, "out of memory listing tables");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		cols[i].name = (char *)tables[i];
	list = column_list(pg, cols, n, err);
	free(cols);
	if (list == NULL)
		return NULL;
	len = strlen(before) + strlen(list) + strlen(after) + 1;
	sql = malloc(len);
	if (sql == NULL)
		aw_err_set(err, AW_ENOMEM, "out of memory listing tables");
	else
		snprintf(sql, len, "%s%s%s", before, list, after);
	free(list);
	return sql;
}

static int table_list_run(aw_bulk *b, const char *before, const char *const *tables, size_t n,
			  const char *after, const char *what, aw_err *err)
{
	char *sql = table_list_sql(pg_of(b), before, tables, n, after, err);
	int rc;

	if (sql == NULL)
		return err->code;
	rc = run(pg_of(b), sql, 0, NULL, PGRES_COMMAND_OK, NULL, what, err);
	free(sql);
	return rc;
}

/* EXCLUSIVE lets other sessions read, not write; lock_timeout bounds the wait. */
static int pg_bulk_lock(aw_bulk *b, const char *const *tables, size_t n, aw_err *err)
{
	int rc = table_list_run(b, "LOCK TABLE ", tables, n, " IN EXCLUSIVE MODE",
				"locking the tables", err);

	if (rc == AW_EBUSY)
		return aw_err_set(err, AW_EBUSY,
				  "the tables are in use (is a server still running on the target?): %s",
				  err->msg);
	return rc;
}

static int pg_bulk_empty(aw_bulk *b, const char *const *tables, size_t n, aw_err *err)
{
	return table_list_run(b, "TRUNCATE ", tables, n, "", "emptying the target", err);
}

static int pg_bulk_insert_begin(aw_bulk *b, const char *table, const aw_bulk_column *cols,
				size_t n, aw_err *err)
{
	pg_bulk *s = (pg_bulk *)b;
	char *list = column_list(s->pg, cols, n, err), *q = ident(s->pg, table, err), *sql;
	size_t len;
	int rc = 0;

	if (list == NULL || q == NULL) {
		free(list);
		PQfreemem(q);
		return err->code;
	}
	len = strlen(list) + strlen(q) + 32;
	sql = malloc(len);
	if (sql == NULL)
		rc = aw_err_set(err, AW_ENOMEM, "out of memory writing %s", table);
	else
		snprintf(sql, len, "COPY %s (%s) FROM STDIN", q, list);
	if (rc == 0)
		rc = run(s->pg, sql, 0, NULL, PGRES_COPY_IN, NULL, "starting COPY", err);
	free(sql);
	free(list);
	PQfreemem(q);
	if (rc == 0) {
		s->in_copy = 1;
		s->n_cols = n;
		s->len = 0;
	}
	return rc;
}

/* Makes room for `more` bytes in the COPY buffer. */
static int reserve(pg_bulk *s, size_t more, aw_err *err)
{
	char *buf;
	size_t cap = s->cap ? s->cap : COPY_CHUNK + 4096;

	if (s->len + more <= s->cap)
		return 0;
	while (cap < s->len + more)
		cap *= 2;
	buf = realloc(s->buf, cap);
	if (buf == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for COPY data");
	s->buf = buf;
	s->cap = cap;
	return 0;
}

static int send_buffer(pg_bulk *s, aw_err *err)
{
	if (s->len > 0 && PQputCopyData(s->pg, s->buf, (int)s->len) != 1)
		return fail(s->pg, NULL, "sending COPY data", err);
	s->len = 0;
	return 0;
}

/* Appends one value in COPY's text format. */
static int put_value(pg_bulk *s, const aw_bulk_value *v, aw_err *err)
{
	static const char hex[] = "0123456789abcdef";
	int rc;

	switch (v->kind) {
	case AW_BULK_NULL:
		rc = reserve(s, 2, err);
		if (rc == 0)
			memcpy(s->buf + s->len, "\\N", 2), s->len += 2;
		return rc;
	case AW_BULK_INT:
	case AW_BULK_BOOL:
	case AW_BULK_REAL:
		rc = reserve(s, 32, err);
		if (rc != 0)
			return rc;
		if (v->kind == AW_BULK_INT)
			s->len += (size_t)snprintf(s->buf + s->len, 32, "%lld", (long long)v->i);
		else if (v->kind == AW_BULK_BOOL)
			s->buf[s->len++] = v->i ? 't' : 'f';
		else if (isnan(v->d))
			s->len += (size_t)snprintf(s->buf + s->len, 32, "NaN");
		else if (isinf(v->d))
			s->len += (size_t)snprintf(s->buf + s->len, 32, "%sInfinity",
						   v->d < 0 ? "-" : "");
		else /* 17 significant digits: the same double comes back */
			s->len += (size_t)snprintf(s->buf + s->len, 32, "%.17g", v->d);
		return 0;
	case AW_BULK_BLOB:
		/* bytea's hex input, its backslash doubled for COPY: \\x0a1b... */
		rc = reserve(s, 3 + 2 * v->len, err);
		if (rc != 0)
			return rc;
		memcpy(s->buf + s->len, "\\\\x", 3);
		s->len += 3;
		for (size_t i = 0; i < v->len; i++) {
			unsigned char c = (unsigned char)v->p[i];

			s->buf[s->len++] = hex[c >> 4];
			s->buf[s->len++] = hex[c & 15];
		}
		return 0;
	default:
		rc = reserve(s, 2 * v->len, err);
		if (rc != 0)
			return rc;
		for (size_t i = 0; i < v->len; i++) {
			char c = v->p[i], e = 0;

			if (c == '\\')
				e = '\\';
			else if (c == '\n')
				e = 'n';
			else if (c == '\r')
				e = 'r';
			else if (c == '\t')
				e = 't';
			if (e != 0) {
				s->buf[s->len++] = '\\';
				s->buf[s->len++] = e;
			} else {
				s->buf[s->len++] = c;
			}
		}
		return 0;
	}
}

static int pg_bulk_insert(aw_bulk *b, const aw_bulk_value *row, aw_err *err)
{
	pg_bulk *s = (pg_bulk *)b;
	int rc = 0;

	for (size_t i = 0; i < s->n_cols && rc == 0; i++) {
		rc = reserve(s, 1, err);
		if (rc == 0 && i > 0)
			s->buf[s->len++] = '\t';
		if (rc == 0)
			rc = put_value(s, &row[i], err);
	}
	if (rc == 0)
		rc = reserve(s, 1, err);
	if (rc == 0)
		s->buf[s->len++] = '\n';
	if (rc == 0 && s->len >= COPY_CHUNK)
		rc = send_buffer(s, err);
	return rc;
}

static int pg_bulk_insert_end(aw_bulk *b, aw_err *err)
{
	pg_bulk *s = (pg_bulk *)b;
	PGresult *res;
	int rc = send_buffer(s, err);

	if (PQputCopyEnd(s->pg, rc == 0 ? NULL : "copy abandoned") != 1 && rc == 0)
		rc = fail(s->pg, NULL, "ending COPY", err);
	s->in_copy = 0;
	while ((res = PQgetResult(s->pg)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0)
			rc = fail(s->pg, res, "COPY", err);
		PQclear(res);
	}
	return rc;
}

static int pg_bulk_id_set(aw_bulk *b, const char *table, int64_t last, aw_err *err)
{
	PGconn *pg = pg_of(b);
	char *q = ident(pg, table, err), num[32];
	const char *values[2];
	int rc;

	if (q == NULL)
		return AW_ENOMEM;
	snprintf(num, sizeof(num), "%lld", (long long)last);
	values[0] = q;
	values[1] = num;
	/* setval(seq, 1, false) for an empty table: the next id is 1. A table
	 * without a sequence gets NULL from pg_get_serial_sequence: nothing. */
	rc = run(pg, "SELECT setval(pg_get_serial_sequence($1, 'id'), GREATEST($2::bigint, 1),"
		     " $2::bigint > 0)",
		 2, values, PGRES_TUPLES_OK, NULL, "moving the id sequence", err);
	PQfreemem(q);
	return rc;
}

static int pg_bulk_recount(aw_bulk *b, aw_err *err)
{
	PGconn *pg = pg_of(b);
	PGresult *res = NULL;
	int64_t exists;
	int rc = run_int(pg, "SELECT (to_regclass('row_counts') IS NOT NULL)::int", 0, NULL,
			 &exists, "recounting rows", err);

	if (rc != 0 || !exists)
		return rc;
	rc = run(pg, AW_BULK_RECOUNT_SQL, 0, NULL, PGRES_COMMAND_OK, &res, "recounting rows", err);
	PQclear(res);
	res = NULL;
	if (rc == 0)
		rc = run(pg, AW_BULK_RECOUNT_UNKNOWN_SQL, 0, NULL, PGRES_TUPLES_OK, &res,
			 "recounting rows", err);
	if (rc == 0 && PQntuples(res) > 0)
		rc = aw_err_set(err, AW_EINTERNAL,
				"recounting rows: no count known for row_counts entry \"%.60s\"",
				PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

static int pg_bulk_commit(aw_bulk *b, aw_err *err)
{
	PGconn *pg = pg_of(b);
	PGresult *res = PQexec(pg, "COMMIT");
	int rc = 0;

	/* An aborted transaction answers COMMIT with ROLLBACK, successfully. */
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = fail(pg, res, "committing", err);
	else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
		rc = aw_err_set(err, AW_EIO, "committing: the transaction was rolled back");
	PQclear(res);
	return rc;
}

const aw_bulk_methods aw__postgres_bulk = {
	.open = pg_bulk_open,
	.close = pg_bulk_close,
	.version = pg_bulk_version,
	.describe = pg_bulk_describe,
	.count = pg_bulk_count,
	.id_last = pg_bulk_id_last,
	.read = pg_bulk_read,
	.lock = pg_bulk_lock,
	.empty = pg_bulk_empty,
	.insert_begin = pg_bulk_insert_begin,
	.insert = pg_bulk_insert,
	.insert_end = pg_bulk_insert_end,
	.id_set = pg_bulk_id_set,
	.recount = pg_bulk_recount,
	.commit = pg_bulk_commit,
};
