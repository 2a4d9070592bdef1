/*
 * The SQLite backend's tables as rows (bulk.h), for copy-db.
 *
 * One connection of its own, outside the repository: read-only with one read
 * transaction from open to close (WAL gives it a snapshot while a server goes
 * on writing), or read-write in one BEGIN IMMEDIATE transaction, which holds
 * the database's write lock until commit or close. Left out of describe():
 * SQLite's own tables (sqlite_sequence, the id counters, is carried through
 * id_last/id_set; sqlite_stat*) and row_counts, kept by triggers (recount).
 */
#define _GNU_SOURCE /* strcasestr */
#include "sqlite_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../bulk.h"

typedef struct sq_bulk {
	aw_bulk base;           /* first: a sq_bulk is an aw_bulk */
	sqlite3 *db;
	sqlite3_stmt *ins;      /* the INSERT of insert_begin, or NULL */
	char *ins_table;        /* its table, for messages */
} sq_bulk;

/* The derived table the backend keeps by triggers (recount). */
#define ROW_COUNTS "row_counts"

static sqlite3 *db_of(aw_bulk *b)
{
	return ((sq_bulk *)b)->db;
}

/* `name` as a quoted identifier ("a""b"), malloc'd; NULL when out of memory. */
static char *quote(const char *name)
{
	size_t n = strlen(name);
	char *q = malloc(2 * n + 3), *o = q;

	if (q == NULL)
		return NULL;
	*o++ = '"';
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '"')
			*o++ = '"';
		*o++ = *p;
	}
	*o++ = '"';
	*o = '\0';
	return q;
}

static int exec(sqlite3 *db, const char *sql, const char *what, aw_err *err)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : aw__sq_error(db, rc, what, err);
}

/* Prepares SQL built by sqlite3_vmprintf: %w quotes identifiers, %Q strings. */
static int prepare(sqlite3 *db, sqlite3_stmt **st, const char *what, aw_err *err,
		   const char *fmt, ...)
{
	va_list ap;
	char *sql;
	int rc;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	*st = NULL;
	if (sql == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory: %s", what);
	rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
	sqlite3_free(sql);
	return rc == SQLITE_OK ? 0 : aw__sq_error(db, rc, what, err);
}

/* Runs `st` (finalized here) and reads the integer of its one row. */
static int one_int(sqlite3 *db, sqlite3_stmt *st, int64_t *out, const char *what, aw_err *err)
{
	int rc = sqlite3_step(st);

	*out = 0;
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = aw__sq_error(db, rc, what, err);
	}
	sqlite3_finalize(st);
	return rc;
}

static int has_table(sqlite3 *db, const char *name, int *yes, aw_err *err)
{
	sqlite3_stmt *st;
	int64_t n;
	int rc = prepare(db, &st, "looking for a table", err,
			 "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = %Q",
			 name);

	if (rc == 0)
		rc = one_int(db, st, &n, "looking for a table", err);
	*yes = rc == 0 && n > 0;
	return rc;
}

static void sq_bulk_close(aw_bulk *b)
{
	sq_bulk *s = (sq_bulk *)b;

	if (s == NULL)
		return;
	sqlite3_finalize(s->ins);
	free(s->ins_table);
	if (s->db != NULL && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(s->db);
	free(s);
}

static int sq_bulk_open(aw_bulk **out, const char *location, int write, aw_err *err)
{
	const char *path = aw__sq_path(location);
	sq_bulk *s = calloc(1, sizeof(*s));
	int flags = write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
	int64_t n;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	if (s == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory opening %s", path);
	s->base.methods = &aw__sqlite_bulk;
	rc = sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = aw__sq_error(s->db, rc, path, err);
		sq_bulk_close(&s->base);
		return rc;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, AW_SQ_BUSY_TIMEOUT_MS);
	if (write) {
		rc = exec(s->db, "PRAGMA foreign_keys=ON", path, err);
		if (rc == 0)
			rc = exec(s->db, "BEGIN IMMEDIATE", path, err);
	} else {
		/* The snapshot is taken by the first read: take it now. */
		rc = exec(s->db, "BEGIN", path, err);
		if (rc == 0)
			rc = prepare(s->db, &st, path, err, "SELECT COUNT(*) FROM sqlite_schema");
		if (rc == 0)
			rc = one_int(s->db, st, &n, path, err);
	}
	if (rc != 0) {
		sq_bulk_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}

static int sq_bulk_version(aw_bulk *b, int *stored, int *current, aw_err *err)
{
	int v, rc = aw__sq_schema_read(db_of(b), &v, err);

	*stored = rc == 0 ? v : 0;
	*current = aw__sq_schema_version();
	return rc;
}

/* The kind of a declared column type, by SQLite's affinity rules (booleans
 * apart: SQLite has none, but a column may say it holds one). */
static aw_bulk_kind kind_of(const char *type)
{
	if (strcasestr(type, "BOOL") != NULL)
		return AW_BULK_BOOL;
	if (strcasestr(type, "INT") != NULL)
		return AW_BULK_INT;
	if (strcasestr(type, "CHAR") != NULL || strcasestr(type, "CLOB") != NULL ||
	    strcasestr(type, "TEXT") != NULL)
		return AW_BULK_TEXT;
	if (type[0] == '\0' || strcasestr(type, "BLOB") != NULL)
		return AW_BULK_BLOB;
	if (strcasestr(type, "REAL") != NULL || strcasestr(type, "FLOA") != NULL ||
	    strcasestr(type, "DOUB") != NULL)
		return AW_BULK_REAL;
	return AW_BULK_OTHER;
}

/* Columns and foreign keys of the last table of *tables. */
static int describe_table(sqlite3 *db, aw_bulk_table *t, aw_err *err)
{
	sqlite3_stmt *st;
	int rc = prepare(db, &st, "reading columns", err,
			 "SELECT name, type FROM pragma_table_info(%Q) ORDER BY cid", t->name);
	int step;

	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 1);

		rc = aw__bulk_column_add(t, (const char *)sqlite3_column_text(st, 0),
					 kind_of(type != NULL ? type : ""), type != NULL ? type : "",
					 err);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = aw__sq_error(db, step, "reading columns", err);
	sqlite3_finalize(st);
	if (rc != 0)
		return rc;
	rc = prepare(db, &st, "reading foreign keys", err,
		     "SELECT \"table\" FROM pragma_foreign_key_list(%Q)", t->name);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = aw__bulk_parent_add(t, (const char *)sqlite3_column_text(st, 0), err);
	if (rc == 0 && step != SQLITE_DONE)
		rc = aw__sq_error(db, step, "reading foreign keys", err);
	sqlite3_finalize(st);
	return rc;
}

static int sq_bulk_describe(aw_bulk *b, aw_bulk_table **tables, size_t *n, aw_err *err)
{
	sqlite3 *db = db_of(b);
	sqlite3_stmt *st;
	int rc, step;

	*tables = NULL;
	*n = 0;
	rc = prepare(db, &st, "listing tables", err,
		     "SELECT name FROM sqlite_schema WHERE type = 'table'"
		     " AND name NOT LIKE 'sqlite\\_%%' ESCAPE '\\' AND name <> '" ROW_COUNTS "'"
		     " ORDER BY name");
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = aw__bulk_table_add(tables, n, (const char *)sqlite3_column_text(st, 0), err);
	if (rc == 0 && step != SQLITE_DONE)
		rc = aw__sq_error(db, step, "listing tables", err);
	sqlite3_finalize(st);
	for (size_t i = 0; rc == 0 && i < *n; i++)
		rc = describe_table(db, &(*tables)[i], err);
	if (rc != 0) {
		aw_bulk_tables_free(*tables, *n);
		*tables = NULL;
		*n = 0;
	}
	return rc;
}

static int sq_bulk_count(aw_bulk *b, const char *table, int64_t *n, aw_err *err)
{
	sqlite3_stmt *st;
	int rc = prepare(db_of(b), &st, "counting rows", err, "SELECT COUNT(*) FROM \"%w\"", table);

	*n = 0;
	return rc == 0 ? one_int(db_of(b), st, n, "counting rows", err) : rc;
}

static int sq_bulk_id_last(aw_bulk *b, const char *table, int64_t *last, aw_err *err)
{
	sqlite3 *db = db_of(b);
	sqlite3_stmt *st;
	int seq, rc = has_table(db, "sqlite_sequence", &seq, err);

	*last = 0;
	if (rc == 0 && seq)
		rc = prepare(db, &st, "reading the id counter", err,
			     "SELECT MAX(COALESCE((SELECT MAX(id) FROM \"%w\"), 0),"
			     " COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %Q), 0))",
			     table, table);
	else if (rc == 0)
		rc = prepare(db, &st, "reading the id counter", err,
			     "SELECT COALESCE(MAX(id), 0) FROM \"%w\"", table);
	return rc == 0 ? one_int(db, st, last, "reading the id counter", err) : rc;
}

/* The value of column `col` of the current row of `st`, as stored. */
static void column_value(sqlite3_stmt *st, int col, aw_bulk_value *v)
{
	memset(v, 0, sizeof(*v));
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_INTEGER:
		v->kind = AW_BULK_INT;
		v->i = sqlite3_column_int64(st, col);
		break;
	case SQLITE_FLOAT:
		v->kind = AW_BULK_REAL;
		v->d = sqlite3_column_double(st, col);
		break;
	case SQLITE_TEXT:
		v->kind = AW_BULK_TEXT;
		v->p = (const char *)sqlite3_column_text(st, col);
		v->len = (size_t)sqlite3_column_bytes(st, col);
		break;
	case SQLITE_BLOB:
		v->kind = AW_BULK_BLOB;
		v->p = sqlite3_column_blob(st, col);
		v->len = (size_t)sqlite3_column_bytes(st, col);
		break;
	default:
		v->kind = AW_BULK_NULL;
		break;
	}
}

/* "c1", "c2", ... of `cols`, malloc'd; NULL when out of memory. */
static char *column_list(const aw_bulk_column *cols, size_t n)
{
	size_t len = 1;
	char *s, *o;

	for (size_t i = 0; i < n; i++)
		len += 2 * strlen(cols[i].name) + 4;
	s = malloc(len);
	if (s == NULL)
		return NULL;
	o = s;
	*o = '\0';
	for (size_t i = 0; i < n; i++) {
		char *q = quote(cols[i].name);

		if (q == NULL) {
			free(s);
			return NULL;
		}
		o += snprintf(o, len - (size_t)(o - s), "%s%s", i > 0 ? ", " : "", q);
		free(q);
	}
	return s;
}

static int sq_bulk_read(aw_bulk *b, const char *table, const aw_bulk_column *cols, size_t n,
			aw_bulk_row_fn *fn, void *arg, aw_err *err)
{
	sqlite3 *db = db_of(b);
	char *list = column_list(cols, n);
	aw_bulk_value *row = calloc(n > 0 ? n : 1, sizeof(*row));
	sqlite3_stmt *st = NULL;
	int rc = 0, step = SQLITE_DONE;

	if (list == NULL || row == NULL)
		rc = aw_err_set(err, AW_ENOMEM, "out of memory reading %s", table);
	if (rc == 0)
		/* A full scan walks the table's b-tree: rows in rowid order, or in
		 * primary-key order for a WITHOUT ROWID table (request_ids), which
		 * has no rowid to name. */
		rc = prepare(db, &st, "reading rows", err, "SELECT %s FROM \"%w\"", list, table);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		for (size_t i = 0; i < n; i++)
			column_value(st, (int)i, &row[i]);
		rc = fn(arg, row, n, err);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = aw__sq_error(db, step, "reading rows", err);
	sqlite3_finalize(st);
	free(list);
	free(row);
	return rc;
}

/* BEGIN IMMEDIATE at open holds the database's write lock already. */
static int sq_bulk_lock(aw_bulk *b, const char *const *tables, size_t n, aw_err *err)
{
	(void)b;
	(void)tables;
	(void)n;
	(void)err;
	return 0;
}

static int sq_bulk_empty(aw_bulk *b, const char *const *tables, size_t n, aw_err *err)
{
	sqlite3 *db = db_of(b);
	int rc = 0;

	/* Children first, so that no foreign key is left dangling on the way. */
	for (size_t i = n; rc == 0 && i > 0; i--) {
		char *sql = sqlite3_mprintf("DELETE FROM \"%w\"", tables[i - 1]);

		if (sql == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory emptying %s", tables[i - 1]);
		rc = exec(db, sql, "emptying the target", err);
		sqlite3_free(sql);
	}
	return rc;
}

static int sq_bulk_insert_begin(aw_bulk *b, const char *table, const aw_bulk_column *cols,
				size_t n, aw_err *err)
{
	sq_bulk *s = (sq_bulk *)b;
	char *list = column_list(cols, n), *marks = malloc(4 * n + 1), *o = marks;
	int rc = 0;

	if (list == NULL || marks == NULL)
		rc = aw_err_set(err, AW_ENOMEM, "out of memory writing %s", table);
	for (size_t i = 0; rc == 0 && i < n; i++)
		o += snprintf(o, 4 * n + 1 - (size_t)(o - marks), "%s?", i > 0 ? ", " : "");
	sqlite3_finalize(s->ins);
	s->ins = NULL;
	free(s->ins_table);
	s->ins_table = strdup(table);
	if (rc == 0 && s->ins_table == NULL)
		rc = aw_err_set(err, AW_ENOMEM, "out of memory writing %s", table);
	if (rc == 0)
		rc = prepare(s->db, &s->ins, "writing rows", err,
			     "INSERT INTO \"%w\" (%s) VALUES (%s)", table, list, marks);
	free(list);
	free(marks);
	return rc;
}

static int sq_bulk_insert(aw_bulk *b, const aw_bulk_value *row, aw_err *err)
{
	sq_bulk *s = (sq_bulk *)b;
	int n = sqlite3_bind_parameter_count(s->ins), rc = SQLITE_OK;

	for (int i = 0; i < n && rc == SQLITE_OK; i++) {
		const aw_bulk_value *v = &row[i];

		/* The text and bytes are the caller's until this returns, and the
		 * statement is stepped and unbound before it does: SQLITE_STATIC. */
		switch (v->kind) {
		case AW_BULK_NULL:
			rc = sqlite3_bind_null(s->ins, i + 1);
			break;
		case AW_BULK_INT:
		case AW_BULK_BOOL:
			rc = sqlite3_bind_int64(s->ins, i + 1, v->i);
			break;
		case AW_BULK_REAL:
			rc = sqlite3_bind_double(s->ins, i + 1, v->d);
			break;
		case AW_BULK_TEXT:
		case AW_BULK_OTHER:
			rc = sqlite3_bind_text(s->ins, i + 1, v->p, (int)v->len, SQLITE_STATIC);
			break;
		case AW_BULK_BLOB:
			rc = sqlite3_bind_blob(s->ins, i + 1, v->p, (int)v->len, SQLITE_STATIC);
			break;
		}
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s->ins);
	sqlite3_reset(s->ins);
	sqlite3_clear_bindings(s->ins);
	if (rc != SQLITE_DONE) {
		char what[128];

		snprintf(what, sizeof(what), "writing a row of %s", s->ins_table);
		return aw__sq_error(s->db, rc, what, err);
	}
	return 0;
}

static int sq_bulk_insert_end(aw_bulk *b, aw_err *err)
{
	sq_bulk *s = (sq_bulk *)b;

	(void)err;
	sqlite3_finalize(s->ins);
	s->ins = NULL;
	return 0;
}

/* AUTOINCREMENT keeps each table's highest id given in sqlite_sequence. */
static int sq_bulk_id_set(aw_bulk *b, const char *table, int64_t last, aw_err *err)
{
	sqlite3 *db = db_of(b);
	int seq, rc = has_table(db, "sqlite_sequence", &seq, err);
	char *sql;

	if (rc != 0 || !seq || last <= 0)
		return rc;
	sql = sqlite3_mprintf("UPDATE sqlite_sequence SET seq = MAX(seq, %lld) WHERE name = %Q;"
			      "INSERT INTO sqlite_sequence (name, seq) SELECT %Q, %lld"
			      " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = %Q)",
			      (long long)last, table, table, (long long)last, table);
	if (sql == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory setting the id counter");
	rc = exec(db, sql, "setting the id counter", err);
	sqlite3_free(sql);
	return rc;
}

static int sq_bulk_recount(aw_bulk *b, aw_err *err)
{
	sqlite3 *db = db_of(b);
	sqlite3_stmt *st;
	int yes, rc = has_table(db, ROW_COUNTS, &yes, err), step;

	if (rc != 0 || !yes)
		return rc;
	rc = exec(db, AW_BULK_RECOUNT_SQL, "recounting rows", err);
	if (rc == 0)
		rc = prepare(db, &st, "recounting rows", err, "%s", AW_BULK_RECOUNT_UNKNOWN_SQL);
	if (rc != 0)
		return rc;
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = aw_err_set(err, AW_EINTERNAL,
				"recounting rows: no count known for row_counts entry \"%.60s\"",
				(const char *)sqlite3_column_text(st, 0));
	else if (step != SQLITE_DONE)
		rc = aw__sq_error(db, step, "recounting rows", err);
	sqlite3_finalize(st);
	return rc;
}

static int sq_bulk_commit(aw_bulk *b, aw_err *err)
{
	return exec(db_of(b), "COMMIT", "committing", err);
}

const aw_bulk_methods aw__sqlite_bulk = {
	.open = sq_bulk_open,
	.close = sq_bulk_close,
	.version = sq_bulk_version,
	.describe = sq_bulk_describe,
	.count = sq_bulk_count,
	.id_last = sq_bulk_id_last,
	.read = sq_bulk_read,
	.lock = sq_bulk_lock,
	.empty = sq_bulk_empty,
	.insert_begin = sq_bulk_insert_begin,
	.insert = sq_bulk_insert,
	.insert_end = sq_bulk_insert_end,
	.id_set = sq_bulk_id_set,
	.recount = sq_bulk_recount,
	.commit = sq_bulk_commit,
};
