/*
 * test_db.c: fresh databases for the tests on SQLite or on the PostgreSQL
 * server of the test fixture (see test_db.h).
 */
#include "test_db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

int test_db_is_postgres(void)
{
	const char *b = getenv("AW_TEST_BACKEND");

	return b != NULL && strcmp(b, "postgres") == 0;
}

const char *test_db_backend(void)
{
	return test_db_is_postgres() ? "postgres" : "sqlite";
}

/* ---- PostgreSQL ---------------------------------------------------------------------- */

/* The port of the fixture's server, from AW_TEST_PG_DIR/port; -1 (said why) if none. */
static int pg_port(void)
{
	const char *dir = getenv("AW_TEST_PG_DIR");
	char path[256];
	FILE *fp;
	int port = -1;

	if (dir == NULL || dir[0] == '\0') {
		fprintf(stderr, "test_db: AW_TEST_BACKEND=postgres but AW_TEST_PG_DIR is not set "
				"(run the test through ctest, which starts the PostgreSQL fixture)\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/port", dir);
	fp = fopen(path, "r");
	if (fp == NULL) {
		fprintf(stderr, "test_db: no PostgreSQL fixture: cannot read %s (%s); did "
				"pg_fixture_start fail?\n", path, strerror(errno));
		return -1;
	}
	if (fscanf(fp, "%d", &port) != 1 || port <= 0 || port > 65535) {
		fprintf(stderr, "test_db: %s does not hold a port\n", path);
		port = -1;
	}
	fclose(fp);
	return port;
}

/* A connection to `dbname` on the fixture's server, or NULL (said why). */
static PGconn *pg_connect(const char *dbname)
{
	char conninfo[256];
	int port = pg_port();
	PGconn *c;

	if (port < 0)
		return NULL;
	snprintf(conninfo, sizeof(conninfo),
		 "host=127.0.0.1 port=%d user=aniworld dbname=%s connect_timeout=10", port, dbname);
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "test_db: cannot connect to PostgreSQL (%s): %s", conninfo,
			PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* Runs `sql` on c; on failure prints the message and returns -1. The result
 * is handed out through *res when res is not NULL (the caller PQclears it). */
static int pg_run(PGconn *c, const char *sql, PGresult **res)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "test_db: %s: %s", sql, PQerrorMessage(c));
		PQclear(r);
		return -1;
	}
	if (res != NULL)
		*res = r;
	else
		PQclear(r);
	return 0;
}

static int pg_create(test_db *db)
{
	static unsigned seq;
	struct timeval tv;
	char sql[160];
	PGconn *c;
	int port = pg_port();

	if (port < 0)
		return -1;
	gettimeofday(&tv, NULL);
	/* Unique across the programs of a run and across runs: pid, a counter, time. */
	snprintf(db->name, sizeof(db->name), "aw_t%ld_%u_%lld", (long)getpid(),
		 __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED),
		 (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000);
	c = pg_connect("postgres");
	if (c == NULL) {
		db->name[0] = '\0';
		return -1;
	}
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db->name);
	if (pg_run(c, sql, NULL) != 0) {
		PQfinish(c);
		db->name[0] = '\0';
		return -1;
	}
	PQfinish(c);
	snprintf(db->location, sizeof(db->location), "postgresql://aniworld@127.0.0.1:%d/%s", port,
		 db->name);
	return 0;
}

static void pg_drop(test_db *db)
{
	char sql[160];
	PGconn *c = pg_connect("postgres");

	if (c == NULL)
		return;
	/* WITH (FORCE): a server a test killed may have left sessions behind. */
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
	pg_run(c, sql, NULL);
	PQfinish(c);
}

static int pg_query(const test_db *db, const char *sql, int64_t *out)
{
	PGconn *c = pg_connect(db->name);
	PGresult *r = NULL;
	int rc;

	if (c == NULL)
		return -1;
	rc = pg_run(c, sql, out != NULL ? &r : NULL);
	if (rc == 0 && out != NULL) {
		*out = -1;
		if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0))
			*out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	PQfinish(c);
	return rc;
}

/* ---- SQLite ---------------------------------------------------------------------------- */

static int sq_query(const test_db *db, const char *sql, int64_t *out)
{
	sqlite3 *h;
	sqlite3_stmt *st = NULL;
	char *msg = NULL;
	int rc = -1;

	if (db->dir[0] == '\0') {
		fprintf(stderr, "test_db: no side connection to %s\n", db->location);
		return -1;
	}
	if (sqlite3_open(db->location, &h) != SQLITE_OK) {
		fprintf(stderr, "test_db: %s: %s\n", db->location, sqlite3_errmsg(h));
		sqlite3_close(h);
		return -1;
	}
	sqlite3_busy_timeout(h, 5000);
	if (out == NULL) {
		if (sqlite3_exec(h, sql, NULL, NULL, &msg) == SQLITE_OK)
			rc = 0;
		else
			fprintf(stderr, "test_db: %s: %s\n", sql, msg);
		sqlite3_free(msg);
	} else if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "test_db: %s: %s\n", sql, sqlite3_errmsg(h));
	} else {
		int step = sqlite3_step(st);

		*out = -1;
		if (step == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
			*out = sqlite3_column_int64(st, 0);
		if (step == SQLITE_ROW || step == SQLITE_DONE)
			rc = 0;
		else
			fprintf(stderr, "test_db: %s: %s\n", sql, sqlite3_errmsg(h));
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	return rc;
}

/* ---- either ---------------------------------------------------------------------------- */

int test_db_create(test_db *db, int flags)
{
	memset(db, 0, sizeof(*db));
	if (test_db_is_postgres())
		return pg_create(db);
	if (flags & TEST_DB_MEMORY) {
		snprintf(db->location, sizeof(db->location), ":memory:");
		return 0;
	}
	snprintf(db->dir, sizeof(db->dir), "/tmp/aw-test-XXXXXX");
	if (mkdtemp(db->dir) == NULL) {
		fprintf(stderr, "test_db: mkdtemp: %s\n", strerror(errno));
		db->dir[0] = '\0';
		return -1;
	}
	snprintf(db->location, sizeof(db->location), "%s/test.db", db->dir);
	return 0;
}

void test_db_drop(test_db *db)
{
	char cmd[128];

	if (db->name[0] != '\0')
		pg_drop(db);
	if (db->dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", db->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "test_db: could not remove %s\n", db->dir);
	}
	memset(db, 0, sizeof(*db));
}

int test_db_exec(const test_db *db, const char *sql)
{
	return db->name[0] != '\0' ? pg_query(db, sql, NULL) : sq_query(db, sql, NULL);
}

int test_db_int(const test_db *db, const char *sql, int64_t *out)
{
	return db->name[0] != '\0' ? pg_query(db, sql, out) : sq_query(db, sql, out);
}
