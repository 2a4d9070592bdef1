/*
 * The PostgreSQL backend (libpq): opening, connections and their time bounds,
 * transactions, error mapping, reachability and the method table. Entity
 * operations live in their own files (anime_series.c, ...).
 */
#define _GNU_SOURCE
#include "postgres_int.h"
#include "../bulk.h"
#include "../../escape.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- time ------------------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * When a wait that may take `timeout_ms` must end (monotonic ms): then, or at
 * the deadline of the work under way (aw__repo_deadline: the call's), if that
 * comes first.
 */
static int64_t wait_until(int timeout_ms)
{
	int64_t own = mono_ms() + timeout_ms, d = aw__repo_deadline();

	return d != INT64_MAX && d / 1000 < own ? d / 1000 : own;
}

/* Whether the deadline of the work under way has passed. */
static int deadline_passed(void)
{
	int64_t d = aw__repo_deadline();

	return d != INT64_MAX && mono_ms() >= d / 1000;
}

/* ---- parameters ------------------------------------------------------------------------- */

static const char *p_slot(aw_pg_params *p, int len, int format, const char *value)
{
	int i = p->n++;

	p->values[i] = value;
	p->lengths[i] = len;
	p->formats[i] = format;
	return value;
}

void aw__pg_p_int(aw_pg_params *p, int64_t v)
{
	int i = p->n;

	snprintf(p->buf[i], sizeof(p->buf[i]), "%lld", (long long)v);
	p_slot(p, 0, 0, p->buf[i]);
}

void aw__pg_p_double(aw_pg_params *p, double v)
{
	int i = p->n;

	snprintf(p->buf[i], sizeof(p->buf[i]), "%.17g", v);
	p_slot(p, 0, 0, p->buf[i]);
}

void aw__pg_p_text(aw_pg_params *p, const char *s)
{
	p_slot(p, 0, 0, s != NULL ? s : "");
}

void aw__pg_p_null(aw_pg_params *p)
{
	p_slot(p, 0, 0, NULL);
}

void aw__pg_p_bytes(aw_pg_params *p, const void *data, int len)
{
	p_slot(p, len, 1, data);
}

/* ---- reading binary results ------------------------------------------------------------------ */

static uint64_t be(const unsigned char *b, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

int64_t aw__pg_int(const PGresult *res, int row, int col)
{
	const unsigned char *b = (const unsigned char *)PQgetvalue(res, row, col);
	int n = PQgetlength(res, row, col);

	switch (n) {
	case 1:
		return b[0];
	case 2:
		return (int16_t)be(b, 2);
	case 4:
		return (int32_t)be(b, 4);
	case 8:
		return (int64_t)be(b, 8);
	default:
		return 0;
	}
}

double aw__pg_double(const PGresult *res, int row, int col)
{
	const unsigned char *b = (const unsigned char *)PQgetvalue(res, row, col);
	uint64_t bits;
	double d;

	if (PQgetlength(res, row, col) != 8)
		return 0;
	bits = be(b, 8);
	memcpy(&d, &bits, sizeof(d));
	return d;
}

int aw__pg_isnull(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col);
}

char *aw__pg_text(const PGresult *res, int row, int col, ProtobufCAllocator *mem)
{
	int n = PQgetlength(res, row, col);
	char *s;

	if (PQgetisnull(res, row, col) || n == 0)
		return (char *)protobuf_c_empty_string;
	s = aw__pb_alloc(mem, (size_t)n + 1);
	if (s != NULL) {
		memcpy(s, PQgetvalue(res, row, col), (size_t)n);
		s[n] = '\0';
	}
	return s;
}

int64_t aw__pg_changes(const PGresult *res)
{
	const char *t = PQcmdTuples((PGresult *)res);

	return t != NULL && t[0] != '\0' ? strtoll(t, NULL, 10) : 0;
}

/* ---- reachability ------------------------------------------------------------------------- */

void aw__pg_reachable(aw_pg_repo *r, int ok, const aw_err *err)
{
	/* The common case, nothing changed, costs one atomic load. */
	if (atomic_load_explicit(&r->unreachable, memory_order_relaxed) == !ok)
		return;
	pthread_mutex_lock(&r->event_mu);
	if (atomic_load(&r->unreachable) != !ok) {
		atomic_store(&r->unreachable, !ok);
		/* Under event_mu so that two changes cannot be told in the wrong order.
		 * The hook must not call into the repository. */
		if (r->base.on_storage != NULL)
			r->base.on_storage(r->base.storage_arg,
					   ok ? AW_REPO_REACHABLE : AW_REPO_UNREACHABLE,
					   ok ? NULL : err, 0);
	}
	pthread_mutex_unlock(&r->event_mu);
}

/* ---- errors -------------------------------------------------------------------------------- */

/* Copies `s` without its trailing newlines (libpq ends its messages with one). */
static void trimmed(char *buf, size_t n, const char *s)
{
	size_t len;

	snprintf(buf, n, "%s", s != NULL && s[0] != '\0' ? s : "no answer from the server");
	len = strlen(buf);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	for (char *p = buf; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	}
}

/* Closes a connection that cannot be used any more; it is opened again on
 * its next use (between transactions). */
static void conn_drop(aw_pg_conn *c)
{
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->pg = NULL;
	memset(c->prepared, 0, sizeof(c->prepared));
}

static int unavailable(aw_pg_conn *c, const char *what, const char *text, aw_err *err)
{
	aw_err e;

	aw_err_set(&e, AW_EUNAVAIL, "database unavailable: %s: %s", what, text);
	conn_drop(c);
	if (!c->quiet)
		aw__pg_reachable(c->repo, 0, &e);
	if (err != NULL)
		*err = e;
	return AW_EUNAVAIL;
}

int aw__pg_error(aw_pg_conn *c, const PGresult *res, const char *what, aw_err *err)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char text[200];

	if (primary != NULL)
		trimmed(text, sizeof(text), primary);
	else
		trimmed(text, sizeof(text), c->pg != NULL ? PQerrorMessage(c->pg) : NULL);
	if (state == NULL || c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD)
		return unavailable(c, what, text, err);
	if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
	    strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)
		return unavailable(c, what, text, err);
	if (strcmp(state, "23505") == 0)
		return aw_err_set(err, AW_EEXIST, "%s: %s", what, text);
	if (strcmp(state, "23503") == 0)
		return aw_err_set(err, AW_ENOTFOUND, "%s: %s", what, text);
	if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
		return aw_err_set(err, AW_EINVAL, "%s: %s", what, text);
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return aw_err_set(err, AW_ECONFLICT, "transaction aborted by a conflict (%s): %s: %s",
				  state[2] == 'P' ? "deadlock" : "serialization failure", what, text);
	if (strcmp(state, "53100") == 0)
		return aw_err_set(err, AW_EFULL, "disk full: %s: %s", what, text);
	if (strcmp(state, "53200") == 0)
		return aw_err_set(err, AW_ENOMEM, "%s: %s", what, text);
	if (strcmp(state, "25006") == 0)
		return aw_err_set(err, AW_EREADONLY, "database is read-only: %s: %s", what, text);
	if (strcmp(state, "XX001") == 0 || strcmp(state, "XX002") == 0)
		return aw_err_set(err, AW_ECORRUPT, "database is corrupt: %s: %s", what, text);
	return aw_err_set(err, AW_EIO, "database error %s: %s: %s", state, what, text);
}

/* ---- waiting for answers ----------------------------------------------------------------- */

/* Waits until `c`'s socket is ready for `events` or `deadline` (monotonic ms)
 * passes: 1 ready, 0 timed out, -1 failed. */
static int wait_socket(aw_pg_conn *c, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = PQsocket(c->pg), .events = events};

	for (;;) {
		int64_t left = deadline - mono_ms();
		int n;

		if (left <= 0)
			return 0;
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static void monitor_wake(aw_pg_repo *r);

/*
 * A wait that ended before its answer came. When the backend's own bound
 * (query_timeout_ms) ended it, the database is taken for unreachable. When the
 * call's deadline came first, that says little about the database (the call
 * may just be in a hurry): the connection is closed all the same, since it is
 * in the middle of a statement, but only the monitor decides, with a probe
 * made at once, whether the database is there.
 */
static int timed_out(aw_pg_conn *c, int timeout_ms, const char *what, aw_err *err)
{
	char why[96];

	c->timed_out = 1;
	if (deadline_passed()) {
		conn_drop(c);
		monitor_wake(c->repo);
		return aw_err_set(err, AW_EUNAVAIL,
				  "database unavailable: %s: no answer before the call's deadline",
				  what);
	}
	snprintf(why, sizeof(why), "no answer within %d ms", timeout_ms);
	return unavailable(c, what, why, err);
}

/* Sends what libpq holds for `c` (a non-blocking connection may keep part of
 * a large request) before `deadline`. */
static int flush_by(aw_pg_conn *c, int64_t deadline, int timeout_ms, const char *what,
		    aw_err *err)
{
	int f;

	while ((f = PQflush(c->pg)) == 1) {
		int w = wait_socket(c, POLLOUT | POLLIN, deadline);

		if (w <= 0)
			return timed_out(c, timeout_ms, what, err);
		if (!PQconsumeInput(c->pg))
			return aw__pg_error(c, NULL, what, err);
	}
	return f < 0 ? aw__pg_error(c, NULL, what, err) : 0;
}

/* The next result of `c` (NULL: the current query has no more), waiting
 * until `deadline`. */
static int next_by(aw_pg_conn *c, int64_t deadline, int timeout_ms, const char *what,
		   PGresult **out, aw_err *err)
{
	*out = NULL;
	while (PQisBusy(c->pg)) {
		int w = wait_socket(c, POLLIN, deadline);

		if (w <= 0)
			return timed_out(c, timeout_ms, what, err);
		if (!PQconsumeInput(c->pg))
			return aw__pg_error(c, NULL, what, err);
	}
	*out = PQgetResult(c->pg);
	return 0;
}

/* Whether `res` is a failure. */
static int failed_result(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_PIPELINE_ABORTED;
}

/* Reads the results of one query up to its NULL: *out is the first that
 * failed, else the last (NULL when there was none). */
static int query_results(aw_pg_conn *c, int64_t deadline, int timeout_ms, const char *what,
			 PGresult **out, aw_err *err)
{
	PGresult *keep = NULL, *res;
	int rc;

	*out = NULL;
	for (;;) {
		rc = next_by(c, deadline, timeout_ms, what, &res, err);
		if (rc != 0) {
			PQclear(keep);
			return rc;
		}
		if (res == NULL)
			break;
		if (keep != NULL && failed_result(keep)) {
			PQclear(res);
			continue;
		}
		PQclear(keep);
		keep = res;
	}
	*out = keep;
	return 0;
}

/*
 * Collects the answer to what was sent on `c`, waiting at most `timeout_ms`.
 * Several statements give several results: *out is the first that failed,
 * else the last. On time-out the connection is closed (the server rolls back
 * whatever it held) rather than cancelled: a cancel request opens a new
 * connection, which on a cut network could itself hang.
 */
static int collect(aw_pg_conn *c, int timeout_ms, const char *what, PGresult **out,
		   aw_err *err)
{
	int64_t deadline = wait_until(timeout_ms);
	int rc = flush_by(c, deadline, timeout_ms, what, err);

	*out = NULL;
	if (rc == 0)
		rc = query_results(c, deadline, timeout_ms, what, out, err);
	if (rc == 0 && *out == NULL)
		rc = aw__pg_error(c, NULL, what, err);
	return rc;
}

/* Whether `res` is a success. */
static int ok_result(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

/* ---- connections --------------------------------------------------------------------------- */

/* Notices (CREATE TABLE IF NOT EXISTS on an existing table) are not errors;
 * libpq would print them to stderr, and library code never prints. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/*
 * Runs the session setting `sql` on the fresh connection `c`: 0 when done or
 * refused, 1 when the connection failed, or the AW_E* code of a wait that
 * failed. A server without the setting (client_connection_check_interval
 * before PostgreSQL 14, or another engine speaking the protocol) refuses it:
 * that is no reason not to serve.
 *
 * Readers also run their prepared statements with the generic plan. With the
 * default (auto), a page statement (`id > $1 ORDER BY id LIMIT $2`) was
 * planned again at every call: its generic plan's cost assumes LIMIT returns
 * a tenth of the table, so PostgreSQL judged custom plans cheaper. Planning a
 * cursor that falls in the last histogram bucket probes the index for the
 * column's real maximum, and near the end of a large table every cursor does:
 * planning took 0.3 ms on 1,000,000 series against 0.1 ms on 10,000, and a
 * ListSeries page at the end cost 1.4-1.7x more (bench/RESULTS.md, "Cost flat
 * in table size on PostgreSQL"). Reads look rows up by key or page along an
 * index, where the generic plan is the plan. The writer keeps the default:
 * its migrations ran slower with it.
 */
static int conn_set(aw_pg_conn *c, const char *sql, aw_err *err)
{
	PGresult *res;
	int rc;

	if (!PQsendQuery(c->pg, sql))
		return 1;
	rc = collect(c, c->repo->query_timeout_ms, "setting up a connection", &res, err);
	if (rc != 0)
		return rc;
	PQclear(res);
	return PQstatus(c->pg) == CONNECTION_OK ? 0 : 1;
}

/*
 * Connects `c`. The URI comes after our defaults, so that what it says wins:
 * a connect timeout, TCP keepalives and a TCP user timeout so that a dead peer
 * is noticed in seconds rather than the system's two hours. The whole
 * handshake is also bounded by query_timeout_ms (PQconnectPoll).
 */
static int conn_connect(aw_pg_conn *c, aw_err *err)
{
	aw_pg_repo *r = c->repo;
	const char *keys[] = {"connect_timeout", "keepalives", "keepalives_idle",
			      "keepalives_interval", "keepalives_count", "tcp_user_timeout",
			      "application_name", "dbname", NULL};
	char timeout_s[16], user_timeout[16];
	const char *values[9];
	int64_t deadline = wait_until(r->query_timeout_ms);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	char text[200];
	int rc;

	snprintf(timeout_s, sizeof(timeout_s), "%d", (r->query_timeout_ms + 999) / 1000 < 2
							     ? 2
							     : (r->query_timeout_ms + 999) / 1000);
	snprintf(user_timeout, sizeof(user_timeout), "%d", r->query_timeout_ms);
	values[0] = timeout_s;
	values[1] = "1";
	values[2] = "5";
	values[3] = "2";
	values[4] = "3";
	values[5] = user_timeout;
	values[6] = "aniworld-store";
	values[7] = r->uri;
	values[8] = NULL;

	conn_drop(c);
	c->in_txn = 0;
	c->pg = PQconnectStartParams(keys, values, 1);
	if (c->pg == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for a database connection");
	if (PQstatus(c->pg) == CONNECTION_BAD)
		goto failed;
	while (st != PGRES_POLLING_OK) {
		int w;

		if (st == PGRES_POLLING_FAILED)
			goto failed;
		w = wait_socket(c, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
		if (w == 0 && deadline_passed()) {
			c->timed_out = 1;
			conn_drop(c);
			monitor_wake(r);
			return aw_err_set(err, AW_EUNAVAIL, "database unavailable: connecting: "
					  "not connected before the call's deadline");
		}
		if (w == 0) {
			snprintf(text, sizeof(text), "connecting took longer than %d ms",
				 r->query_timeout_ms);
			return unavailable(c, "connecting", text, err);
		}
		if (w < 0)
			goto failed;
		st = PQconnectPoll(c->pg);
	}
	if (PQsetnonblocking(c->pg, 1) != 0)
		goto failed;
	PQsetNoticeProcessor(c->pg, quiet, NULL);
	/* A server that notices a client gone mid-query stops working for it. */
	rc = conn_set(c, "SET client_connection_check_interval = 2000", err);
	if (rc == 0 && c->reader)
		rc = conn_set(c, "SET plan_cache_mode = force_generic_plan", err);
	if (rc == 1)
		goto failed;
	return rc;

failed:
	trimmed(text, sizeof(text), PQerrorMessage(c->pg));
	return unavailable(c, "connecting", text, err);
}

/*
 * Whether an idle connection was closed by the server meanwhile (a restart,
 * an administrator's command, a failover): the server then sends its reason
 * and closes the socket, which poll() sees at no cost. Catching it here, before
 * the connection is used, keeps the first call after the database came back
 * from failing on a connection that died while it was gone. (A cut network
 * sends nothing; the query's time bound catches that.)
 */
static int closed_meanwhile(aw_pg_conn *c)
{
	struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};

	/* Something arrived while idle: a goodbye (its message, then the end of
	 * the stream, which only the next read sees), or a harmless notice. */
	for (int i = 0; i < 4 && poll(&pfd, 1, 0) > 0; i++) {
		if (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK)
			return 1;
		PQisBusy(c->pg); /* parses it: a notice goes to the notice processor */
	}
	return 0;
}

int aw__pg_ready(aw_pg_conn *c, aw_err *err)
{
	int rc;

	if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK && (c->in_txn || !closed_meanwhile(c))) {
		c->may_retry = !c->in_txn;
		return 0;
	}
	c->may_retry = 0;
	if (c->in_txn)
		return unavailable(c, "in a transaction", "the connection was lost", err);
	rc = conn_connect(c, err);
	if (rc == 0)
		aw__pg_reachable(c->repo, 1, NULL);
	return rc;
}

static aw_pg_conn *conn_new(aw_pg_repo *r)
{
	aw_pg_conn *c = calloc(1, sizeof(*c));

	if (c != NULL)
		c->repo = r;
	return c;
}

static void pipe_reset(aw_pg_conn *c);

static void conn_free(aw_pg_conn *c)
{
	if (c == NULL)
		return;
	conn_drop(c);
	pipe_reset(c);
	free(c->sent);
	free(c);
}

/* ---- statements ---------------------------------------------------------------------------- */

static int usable(aw_pg_conn *c, const char *what, aw_err *err)
{
	if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK)
		return unavailable(c, what, "the connection was lost", err);
	return 0;
}

/*
 * Runs prepared statement `name` after the savepoint its write asked for, in
 * one round trip: a pipeline of [RELEASE SAVEPOINT w,] SAVEPOINT w and the
 * statement, then a sync (which ends no transaction: it is an explicit one).
 * A failure of the savepoint commands aborts the statement and is reported
 * as its own error.
 */
static int run_with_savepoint(aw_pg_conn *c, const char *name, const aw_pg_params *p,
			      const char *what, PGresult **out, aw_err *err)
{
	int timeout = c->repo->query_timeout_ms;
	int64_t deadline = wait_until(timeout);
	int queries = c->release_pending ? 3 : 2;
	PGresult *failed = NULL, *stmt = NULL, *res;
	int rc;

	if (!PQenterPipelineMode(c->pg))
		return aw__pg_error(c, NULL, what, err);
	if ((c->release_pending &&
	     !PQsendQueryParams(c->pg, "RELEASE SAVEPOINT w", 0, NULL, NULL, NULL, NULL, 1)) ||
	    !PQsendQueryParams(c->pg, "SAVEPOINT w", 0, NULL, NULL, NULL, NULL, 1) ||
	    !PQsendQueryPrepared(c->pg, name, p != NULL ? p->n : 0, p != NULL ? p->values : NULL,
				 p != NULL ? p->lengths : NULL, p != NULL ? p->formats : NULL, 1) ||
	    !PQpipelineSync(c->pg))
		return aw__pg_error(c, NULL, what, err);
	c->sp_wanted = 0;
	c->release_pending = 0;
	c->sp_open = 1;
	rc = flush_by(c, deadline, timeout, what, err);
	for (int q = 0; rc == 0 && q < queries; q++) {
		rc = query_results(c, deadline, timeout, what, &res, err);
		if (rc != 0 || res == NULL)
			break;
		if (failed == NULL && failed_result(res))
			failed = res;
		else if (q == queries - 1)
			stmt = res;
		else
			PQclear(res);
	}
	if (rc == 0) {
		rc = next_by(c, deadline, timeout, what, &res, err);
		if (rc == 0 && (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC))
			rc = aw__pg_error(c, res, what, err);
		PQclear(res);
	}
	if (rc == 0 && !PQexitPipelineMode(c->pg))
		rc = aw__pg_error(c, NULL, what, err);
	/* A pipeline left half read cannot be used again. */
	if (rc != 0 && c->pg != NULL && PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF)
		conn_drop(c);
	if (rc == 0 && failed != NULL)
		rc = aw__pg_error(c, failed, what, err);
	else if (rc == 0 && stmt == NULL)
		rc = aw__pg_error(c, NULL, what, err);
	PQclear(failed);
	if (rc != 0) {
		PQclear(stmt);
		return rc;
	}
	aw__pg_reachable(c->repo, 1, NULL);
	*out = stmt;
	return 0;
}

static int exec_once(aw_pg_conn *c, const char *sql, int timeout_ms, PGresult **out,
		     aw_err *err);

/* Ends what a failed pipeline left open; errors do not matter any more. */
static void exec_once_quiet(aw_pg_conn *c, const char *sql)
{
	exec_once(c, sql, c->repo->query_timeout_ms, NULL, NULL);
}

/* Prepares the statement of `slot` on `c` (as "aw<slot>") unless it is. */
static int prepare(aw_pg_conn *c, int slot, const char *sql, const char *what, aw_err *err)
{
	uint64_t bit = UINT64_C(1) << (slot % 64);
	char name[16];
	PGresult *res;
	int rc;

	if (c->prepared[slot / 64] & bit)
		return 0;
	snprintf(name, sizeof(name), "aw%d", slot);
	if (!PQsendPrepare(c->pg, name, sql, 0, NULL))
		return aw__pg_error(c, NULL, what, err);
	rc = collect(c, c->repo->query_timeout_ms, what, &res, err);
	if (rc != 0)
		return rc;
	if (!ok_result(res))
		rc = aw__pg_error(c, res, what, err);
	else
		c->prepared[slot / 64] |= bit;
	PQclear(res);
	return rc;
}

/* One statement of a pipeline: text without parameters (slot < 0), or the
 * prepared statement of `slot` with `p`. */
typedef struct pipe_stmt {
	int slot;
	const char *sql;
	const aw_pg_params *p;
} pipe_stmt;

/*
 * Runs `n` statements in one round trip (a libpq pipeline and one sync);
 * results[i] is the result of statement i. On failure the first error is
 * returned and no result is kept; a transaction the failure left open (the
 * statements after an error are skipped, up to the sync) is rolled back.
 */
static int pipeline_once(aw_pg_conn *c, const pipe_stmt *q, int n, PGresult **results,
			 const char *what, aw_err *err)
{
	int timeout = c->repo->query_timeout_ms;
	int64_t deadline;
	PGresult *failed = NULL, *res;
	char name[16];
	int rc = usable(c, what, err);

	for (int i = 0; i < n; i++)
		results[i] = NULL;
	if (c->mode != AW_REPO_WRITE_RUN)
		return aw_err_set(err, AW_EINTERNAL, "%s: not a pipelined statement", what);
	for (int i = 0; rc == 0 && i < n; i++) {
		if (q[i].slot >= 0)
			rc = prepare(c, q[i].slot, q[i].sql, what, err);
	}
	if (rc != 0)
		return rc;
	if (!PQenterPipelineMode(c->pg))
		return aw__pg_error(c, NULL, what, err);
	for (int i = 0; i < n; i++) {
		const aw_pg_params *p = q[i].p;
		int sent;

		snprintf(name, sizeof(name), "aw%d", q[i].slot);
		if (q[i].slot < 0)
			sent = PQsendQueryParams(c->pg, q[i].sql, 0, NULL, NULL, NULL, NULL, 1);
		else
			sent = PQsendQueryPrepared(c->pg, name, p != NULL ? p->n : 0,
						   p != NULL ? p->values : NULL,
						   p != NULL ? p->lengths : NULL,
						   p != NULL ? p->formats : NULL, 1);
		if (!sent) {
			rc = aw__pg_error(c, NULL, what, err);
			conn_drop(c);
			return rc;
		}
	}
	if (!PQpipelineSync(c->pg)) {
		rc = aw__pg_error(c, NULL, what, err);
		conn_drop(c);
		return rc;
	}
	deadline = wait_until(timeout);
	rc = flush_by(c, deadline, timeout, what, err);
	for (int i = 0; rc == 0 && i < n; i++) {
		rc = query_results(c, deadline, timeout, what, &res, err);
		if (rc != 0)
			break;
		if (res != NULL && failed == NULL && failed_result(res))
			failed = res;
		else
			results[i] = res;
		if (res == failed)
			results[i] = NULL;
	}
	if (rc == 0) {
		rc = next_by(c, deadline, timeout, what, &res, err);
		if (rc == 0 && (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC))
			rc = aw__pg_error(c, res, what, err);
		PQclear(res);
	}
	if (rc == 0 && !PQexitPipelineMode(c->pg))
		rc = aw__pg_error(c, NULL, what, err);
	if (rc != 0 && c->pg != NULL && PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF)
		conn_drop(c);
	if (rc == 0 && failed != NULL) {
		rc = aw__pg_error(c, failed, what, err);
		if (c->pg != NULL && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
			exec_once_quiet(c, "ROLLBACK");
	}
	for (int i = 0; rc == 0 && i < n; i++) {
		if (results[i] == NULL)
			rc = aw__pg_error(c, NULL, what, err);
	}
	PQclear(failed);
	if (rc != 0) {
		for (int i = 0; i < n; i++) {
			PQclear(results[i]);
			results[i] = NULL;
		}
		return rc;
	}
	aw__pg_reachable(c->repo, 1, NULL);
	return 0;
}

/* ---- pipelined writes -------------------------------------------------------------------- */

/*
 * A batch's writes sent without waiting for each one's answer (write_mode,
 * see repo.h). In AW_REPO_WRITE_SEND the write's statement goes into the
 * writer connection's pipeline, after a savepoint of its own ("p<n>", none
 * for a write alone in its transaction), and stays listed here with a copy of
 * its parameters. Nothing is flushed yet: the first AW_REPO_WRITE_COLLECT
 * ends the pipeline with a sync and sends it all at once, then reads the
 * answers write by write, in order. A batch of creates is then one round
 * trip, not one per write.
 *
 * The savepoints are not released as the batch goes (COMMIT releases them):
 * each write's savepoint is nested in the one before, so a write can still be
 * undone alone once the writes after it have run. When a write fails (its
 * statement, or afterwards, e.g. a result too large for a reply), the server
 * has run or skipped the writes sent after it: their answers are read and
 * dropped, the transaction rolls back to the failed write's savepoint (which
 * undoes them too) and releases it, and they are sent again. So one failed
 * write never fails the others and never leaves the transaction aborted for
 * COMMIT to turn into a ROLLBACK.
 *
 * Only statements that are the whole of their write, and whose write
 * publishes no change event, are sent this way (pipelinable); any other write
 * answers AW_REPO_RUN_ALONE and runs on its own once the pending ones are
 * collected. So are writes of a statement not yet prepared on the connection
 * while others are pending (preparing is a round trip of its own).
 */
struct aw_pg_sent {
	int slot;
	unsigned sp;     /* its savepoint "p<sp>"; 0: none */
	aw_pg_params p;  /* its values point into `copy` */
	char *copy;
};

/* The statements sent ahead. An update is not: when it matches no row, its
 * wrapper asks the database why (NOT_FOUND or a stale etag: explain_miss),
 * which needs the connection to itself. */
static int pipelinable(int slot)
{
	return slot == AW_PG_SERIES_INSERT;
}

static int is_prepared(const aw_pg_conn *c, int slot)
{
	return (c->prepared[slot / 64] >> (slot % 64)) & 1;
}

/* Forgets every write sent and not collected. */
static void pipe_reset(aw_pg_conn *c)
{
	for (int i = c->first_sent; i < c->n_sent; i++)
		free(c->sent[i].copy);
	c->first_sent = c->n_sent = 0;
	c->synced = 0;
	c->sent_now = 0;
	c->collected = 0;
	c->collected_sp = 0;
	c->sp_seq = 0;
}

/* Copies `p` into `e`, its values into one allocation. */
static int copy_params(aw_pg_sent *e, const aw_pg_params *p)
{
	size_t total = 1, at = 0;

	memset(&e->p, 0, sizeof(e->p));
	e->copy = NULL;
	if (p == NULL)
		return 0;
	for (int i = 0; i < p->n; i++) {
		if (p->values[i] != NULL)
			total += p->formats[i] ? (size_t)p->lengths[i] : strlen(p->values[i]) + 1;
	}
	e->copy = malloc(total);
	if (e->copy == NULL)
		return -1;
	e->p.n = p->n;
	for (int i = 0; i < p->n; i++) {
		size_t len;

		e->p.lengths[i] = p->lengths[i];
		e->p.formats[i] = p->formats[i];
		if (p->values[i] == NULL) {
			e->p.values[i] = NULL;
			continue;
		}
		len = p->formats[i] ? (size_t)p->lengths[i] : strlen(p->values[i]) + 1;
		memcpy(e->copy + at, p->values[i], len);
		e->p.values[i] = e->copy + at;
		at += len;
	}
	return 0;
}

/* Puts `e` (its savepoint, then its statement) into the pipeline. */
static int pipe_put(aw_pg_conn *c, const aw_pg_sent *e, const char *what, aw_err *err)
{
	char name[16], sp[32];

	if (PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF && !PQenterPipelineMode(c->pg))
		return aw__pg_error(c, NULL, what, err);
	snprintf(sp, sizeof(sp), "SAVEPOINT p%u", e->sp);
	snprintf(name, sizeof(name), "aw%d", e->slot);
	if ((e->sp != 0 && !PQsendQueryParams(c->pg, sp, 0, NULL, NULL, NULL, NULL, 1)) ||
	    !PQsendQueryPrepared(c->pg, name, e->p.n, e->p.values, e->p.lengths, e->p.formats, 1))
		return aw__pg_error(c, NULL, what, err);
	c->synced = 0;
	return 0;
}

/* AW_REPO_WRITE_SEND: sends the write's statement, without waiting. */
static int pipe_send(aw_pg_conn *c, int slot, const char *sql, const aw_pg_params *p,
		     const char *what, aw_err *err)
{
	aw_pg_sent *e;
	int rc;

	if (c->sent_now)
		return aw_err_set(err, AW_EINTERNAL, "%s: a pipelined write sent a second statement",
				  what);
	if (!pipelinable(slot) || (!is_prepared(c, slot) && c->n_sent > c->first_sent))
		return AW_REPO_RUN_ALONE;
	rc = usable(c, what, err);
	if (rc == 0)
		rc = prepare(c, slot, sql, what, err);
	if (rc != 0)
		return rc;
	if (c->n_sent == c->cap_sent) {
		int cap = c->cap_sent != 0 ? c->cap_sent * 2 : 16;
		aw_pg_sent *grown = realloc(c->sent, (size_t)cap * sizeof(*grown));

		if (grown == NULL)
			return aw_err_set(err, AW_ENOMEM, "%s: out of memory", what);
		c->sent = grown;
		c->cap_sent = cap;
	}
	e = &c->sent[c->n_sent];
	e->slot = slot;
	e->sp = c->sp_wanted ? ++c->sp_seq : 0;
	if (copy_params(e, p) != 0)
		return aw_err_set(err, AW_ENOMEM, "%s: out of memory", what);
	rc = pipe_put(c, e, what, err);
	if (rc != 0) {
		free(e->copy);
		conn_drop(c); /* what it holds of the pipeline is unknown */
		return rc;
	}
	c->n_sent++;
	c->sent_now = 1;
	c->sp_wanted = 0;
	/* A savepoint a write run alone left to release stays open: COMMIT
	 * releases it, and the writes sent now nest inside it. */
	c->release_pending = 0;
	return AW_REPO_PENDING;
}

/* Makes sure a sync ends what was sent, and sends it. */
static int pipe_flush(aw_pg_conn *c, int64_t deadline, const char *what, aw_err *err)
{
	if (!c->synced) {
		if (!PQpipelineSync(c->pg))
			return aw__pg_error(c, NULL, what, err);
		c->synced = 1;
	}
	return flush_by(c, deadline, c->repo->query_timeout_ms, what, err);
}

/* Reads the sync that ends the pipeline, and leaves pipeline mode. */
static int pipe_end(aw_pg_conn *c, int64_t deadline, const char *what, aw_err *err)
{
	PGresult *res;
	int rc = next_by(c, deadline, c->repo->query_timeout_ms, what, &res, err);

	if (rc == 0 && (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC))
		rc = aw__pg_error(c, res, what, err);
	PQclear(res);
	if (rc == 0 && !PQexitPipelineMode(c->pg))
		rc = aw__pg_error(c, NULL, what, err);
	return rc;
}

/* AW_REPO_WRITE_COLLECT: the answer to the oldest write sent, which must be
 * of `slot`. */
static int pipe_collect(aw_pg_conn *c, int slot, const char *what, PGresult **out, aw_err *err)
{
	int timeout = c->repo->query_timeout_ms;
	int64_t deadline = mono_ms() + timeout;
	PGresult *sp_res = NULL, *res = NULL;
	aw_pg_sent *e;
	int rc;

	*out = NULL;
	if (c->first_sent == c->n_sent || c->sent[c->first_sent].slot != slot)
		return aw_err_set(err, AW_EINTERNAL, "%s: not the write sent next", what);
	e = &c->sent[c->first_sent];
	rc = usable(c, what, err);
	if (rc == 0)
		rc = pipe_flush(c, deadline, what, err);
	if (rc == 0 && e->sp != 0)
		rc = query_results(c, deadline, timeout, what, &sp_res, err);
	if (rc == 0)
		rc = query_results(c, deadline, timeout, what, &res, err);
	c->collected = 1;
	c->collected_sp = e->sp;
	free(e->copy);
	c->first_sent++;
	if (c->first_sent == c->n_sent) {
		c->first_sent = c->n_sent = 0;
		if (rc == 0)
			rc = pipe_end(c, deadline, what, err);
	}
	if (rc == 0) {
		if (sp_res != NULL && failed_result(sp_res))
			rc = aw__pg_error(c, sp_res, what, err);
		else if (res == NULL || !ok_result(res))
			rc = aw__pg_error(c, res, what, err);
	}
	PQclear(sp_res);
	if (rc != 0) {
		PQclear(res);
		return rc;
	}
	aw__pg_reachable(c->repo, 1, NULL);
	*out = res;
	return 0;
}

/* Reads and drops the answers to every write sent and not collected (they
 * stay listed, to be sent again), and leaves pipeline mode. */
static int pipe_drain(aw_pg_conn *c, const char *what, aw_err *err)
{
	int timeout = c->repo->query_timeout_ms;
	int64_t deadline = mono_ms() + timeout;
	PGresult *res;
	int rc;

	if (c->pg == NULL || PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF)
		return 0;
	rc = pipe_flush(c, deadline, what, err);
	for (int i = c->first_sent; rc == 0 && i < c->n_sent; i++) {
		for (int q = c->sent[i].sp != 0 ? 2 : 1; rc == 0 && q > 0; q--) {
			rc = query_results(c, deadline, timeout, what, &res, err);
			PQclear(res);
		}
	}
	if (rc == 0)
		rc = pipe_end(c, deadline, what, err);
	return rc;
}

/*
 * Undoes the collected write whose savepoint is "p<sp>" after the writes sent
 * after it have run or been skipped: drops their answers, rolls back to the
 * savepoint (undoing them too), releases it and sends them again.
 */
static int pipe_undo(aw_pg_conn *c, unsigned sp, aw_err *err)
{
	const char *what = "undoing a failed write";
	char sql[80];
	int rc = pipe_drain(c, what, err);

	snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT p%u; RELEASE SAVEPOINT p%u", sp, sp);
	if (rc == 0)
		rc = aw__pg_exec(c, sql, c->repo->query_timeout_ms, NULL, err);
	for (int i = c->first_sent; rc == 0 && i < c->n_sent; i++)
		rc = pipe_put(c, &c->sent[i], what, err);
	return rc;
}

static int run_once(aw_pg_conn *c, int slot, const char *sql, const aw_pg_params *p,
		    const char *what, PGresult **out, aw_err *err)
{
	int timeout = c->repo->query_timeout_ms;
	char name[16];
	PGresult *res;
	int rc;

	*out = NULL;
	if (c->mode == AW_REPO_WRITE_SEND)
		return pipe_send(c, slot, sql, p, what, err);
	if (c->mode == AW_REPO_WRITE_COLLECT)
		return pipe_collect(c, slot, what, out, err);
	rc = usable(c, what, err);
	if (rc == 0)
		rc = prepare(c, slot, sql, what, err);
	if (rc != 0)
		return rc;
	snprintf(name, sizeof(name), "aw%d", slot);
	if (c->sp_wanted)
		return run_with_savepoint(c, name, p, what, out, err);
	if (!PQsendQueryPrepared(c->pg, name, p != NULL ? p->n : 0, p != NULL ? p->values : NULL,
				 p != NULL ? p->lengths : NULL, p != NULL ? p->formats : NULL, 1))
		return aw__pg_error(c, NULL, what, err);
	rc = collect(c, timeout, what, &res, err);
	if (rc != 0)
		return rc;
	if (!ok_result(res)) {
		rc = aw__pg_error(c, res, what, err);
		PQclear(res);
		return rc;
	}
	aw__pg_reachable(c->repo, 1, NULL);
	*out = res;
	return 0;
}

static int exec_once(aw_pg_conn *c, const char *sql, int timeout_ms, PGresult **out,
		     aw_err *err)
{
	char what[64];
	PGresult *res;
	int rc;

	if (out != NULL)
		*out = NULL;
	/* Migrations are long: name only their start. */
	snprintf(what, sizeof(what), "%.60s", sql);
	if (c->mode == AW_REPO_WRITE_SEND && !c->sent_now)
		return AW_REPO_RUN_ALONE; /* not a write that is sent ahead */
	if (c->mode != AW_REPO_WRITE_RUN)
		return aw_err_set(err, AW_EINTERNAL, "%s: not a pipelined statement", what);
	rc = usable(c, what, err);
	if (rc != 0)
		return rc;
	if (!PQsendQuery(c->pg, sql))
		return aw__pg_error(c, NULL, what, err);
	rc = collect(c, timeout_ms, what, &res, err);
	if (rc != 0)
		return rc;
	if (!ok_result(res))
		rc = aw__pg_error(c, res, what, err);
	if (rc == 0 && out != NULL)
		*out = res;
	else
		PQclear(res);
	return rc;
}

/*
 * The first statement on a connection reused from before may find it dead: the
 * server closed it meanwhile (a restart, a failover) and its goodbye had not
 * arrived when aw__pg_ready looked. Outside a transaction nothing is lost by
 * running it again on a new connection, once, without calling that an outage.
 * A time-out is not retried: the call's wait is bounded by one.
 */
static int first_attempt(aw_pg_conn *c)
{
	int retry = c->may_retry && !c->in_txn;

	c->may_retry = 0;
	c->quiet = retry;
	c->timed_out = 0;
	return retry;
}

static int again(aw_pg_conn *c, int retry, int rc, aw_err *err)
{
	c->quiet = 0;
	if (rc != AW_EUNAVAIL || !retry || c->timed_out)
		return 0;
	return aw__pg_ready(c, err) == 0;
}

int aw__pg_run(aw_pg_conn *c, int slot, const char *sql, const aw_pg_params *p,
	       const char *what, PGresult **out, aw_err *err)
{
	int retry = first_attempt(c);
	int rc = run_once(c, slot, sql, p, what, out, err);

	if (again(c, retry, rc, err))
		rc = run_once(c, slot, sql, p, what, out, err);
	return rc;
}

int aw__pg_exec(aw_pg_conn *c, const char *sql, int timeout_ms, PGresult **out, aw_err *err)
{
	int retry = first_attempt(c);
	int rc = exec_once(c, sql, timeout_ms, out, err);

	if (again(c, retry, rc, err))
		rc = exec_once(c, sql, timeout_ms, out, err);
	return rc;
}

int aw__pg_one(aw_pg_conn *c, int slot, const char *sql, const aw_pg_params *p, const char *what,
	       aw_pg_row_fn *row, const void *ctx, ProtobufCAllocator *mem, ProtobufCMessage **out,
	       aw_err *err)
{
	PGresult *res;
	int rc = aw__pg_run(c, slot, sql, p, what, &res, err);

	*out = NULL;
	if (rc != 0)
		return rc;
	if (PQntuples(res) == 0)
		rc = AW_ENOTFOUND;
	else
		rc = row(res, 0, ctx, mem, out, err);
	PQclear(res);
	return rc;
}

int aw__pg_page(aw_pg_conn *c, int count_slot, const char *count_sql, const aw_pg_params *count_p,
		int page_slot, const char *page_sql, const aw_pg_params *page_p, int limit,
		size_t max_bytes, aw_pg_row_fn *row, const void *ctx, ProtobufCAllocator *mem, void **items, size_t *n,
		int32_t *total, int *more, const char *what, aw_err *err)
{
	/* One snapshot, one round trip. */
	const pipe_stmt q[4] = {
		{-1, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL},
		{count_slot, count_sql, count_p},
		{page_slot, page_sql, page_p},
		{-1, "COMMIT", NULL},
	};
	PGresult *results[4];
	PGresult *count = NULL, *page = NULL;
	int retry = first_attempt(c);
	int rc = pipeline_once(c, q, 4, results, what, err);
	size_t used = 0;

	if (again(c, retry, rc, err))
		rc = pipeline_once(c, q, 4, results, what, err);
	*n = 0;
	*more = 0;
	if (rc == 0) {
		count = results[1];
		page = results[2];
		PQclear(results[0]);
		PQclear(results[3]);
	}
	if (rc == 0) {
		int64_t t = PQntuples(count) > 0 ? aw__pg_int(count, 0, 0) : 0;
		int rows = PQntuples(page);

		*total = t > INT32_MAX ? INT32_MAX : (int32_t)t;
		for (int i = 0; i < rows && rc == 0; i++) {
			if ((int)*n == limit) {
				*more = 1;
				break;
			}
			rc = row(page, i, ctx, mem, (ProtobufCMessage **)&items[*n], err);
			if (rc != 0)
				break;
			if (!aw__repo_page_take(max_bytes, &used, *n, items[*n])) {
				/* Over the budget: this row starts the next page. */
				protobuf_c_message_free_unpacked(items[*n], mem);
				items[*n] = NULL;
				*more = 1;
				break;
			}
			(*n)++;
		}
	}
	PQclear(count);
	PQclear(page);
	return rc;
}

int aw__pg_get_by_id(aw_pg_repo *r, int slot, const char *sql, int64_t id, const char *thing,
		     aw_pg_row_fn *row, ProtobufCAllocator *mem, ProtobufCMessage **out,
		     aw_err *err)
{
	aw_pg_params p = {0};
	aw_pg_conn *c;
	char what[64];
	int rc = aw__pg_reader_get(r, &c, err);

	if (rc != 0)
		return rc;
	snprintf(what, sizeof(what), "reading %s %lld", thing, (long long)id);
	aw__pg_p_int(&p, id);
	rc = aw__pg_one(c, slot, sql, &p, what, row, NULL, mem, out, err);
	aw__pg_reader_put(r, c);
	if (rc == AW_ENOTFOUND)
		return aw__err_not_found(err, thing, id);
	return rc;
}

int aw__pg_delete_by_id(aw_pg_conn *c, int slot, const char *sql, int64_t id, int64_t if_version,
			int vslot, const char *vsql, const char *thing, aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res;
	char what[64];
	int64_t changed;
	int rc;

	snprintf(what, sizeof(what), "deleting %s %lld", thing, (long long)id);
	aw__pg_p_int(&p, id);
	aw__pg_p_int(&p, if_version);
	rc = aw__pg_run(c, slot, sql, &p, what, &res, err);
	if (rc != 0)
		return rc;
	changed = aw__pg_changes(res);
	PQclear(res);
	if (changed == 0) {
		rc = aw__pg_explain_miss(c, vslot, vsql, id, NULL, if_version, thing, err);
		return rc != 0 ? rc : aw__err_not_found(err, thing, id);
	}
	return 0;
}

int aw__pg_explain_miss(aw_pg_conn *c, int vslot, const char *vsql, int64_t id, const char *key,
			int64_t if_version, const char *thing, aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res;
	int64_t version = 0;
	char name[160], esc[AW_ESCAPE_BUF];
	int rows, rc;

	if (key != NULL)
		aw__pg_p_text(&p, key);
	else
		aw__pg_p_int(&p, id);
	rc = aw__pg_run(c, vslot, vsql, &p, "reading a record's version", &res, err);
	if (rc != 0)
		return rc;
	rows = PQntuples(res);
	if (rows > 0)
		version = aw__pg_int(res, 0, 0);
	PQclear(res);
	if (key != NULL)
		snprintf(name, sizeof(name), "\"%s\"", aw_escape(esc, sizeof(esc), key));
	else
		snprintf(name, sizeof(name), "%lld", (long long)id);
	if (rows == 0)
		return key != NULL ? aw__err_key_not_found(err, thing, key)
				   : aw__err_not_found(err, thing, id);
	if (if_version != 0 && version != if_version)
		return aw__repo_stale(err, thing, name, if_version, version);
	return 0;
}

/* ---- the reader pool ------------------------------------------------------------------------- */

int aw__pg_reader_get(aw_pg_repo *r, aw_pg_conn **out, aw_err *err)
{
	int64_t deadline = wait_until(r->query_timeout_ms);
	aw_pg_conn *c = NULL;
	int rc, full;

	*out = NULL;
	pthread_mutex_lock(&r->pool_mu);
	while (r->free_readers == NULL && r->n_readers >= r->pool_size) {
		struct timespec ts;
		int64_t left = deadline - mono_ms();

		if (left <= 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&r->pool_cv, &r->pool_mu, &ts);
	}
	if (r->free_readers != NULL) {
		c = r->free_readers;
		r->free_readers = c->next;
	} else if (r->n_readers < r->pool_size) {
		c = conn_new(r);
		if (c != NULL) {
			c->reader = 1;
			r->readers[r->n_readers++] = c;
		}
	}
	full = r->n_readers >= r->pool_size;
	pthread_mutex_unlock(&r->pool_mu);
	if (c == NULL) {
		if (!full)
			return aw_err_set(err, AW_ENOMEM, "out of memory for a database connection");
		if (deadline_passed())
			return aw_err_set(err, AW_EUNAVAIL, "database unavailable: no database "
					  "connection free before the call's deadline (pool_size %d)",
					  r->pool_size);
		return aw_err_set(err, AW_EOVERLOAD,
				  "no database connection free within %d ms (pool_size %d)",
				  r->query_timeout_ms, r->pool_size);
	}
	rc = aw__pg_ready(c, err);
	if (rc != 0) {
		aw__pg_reader_put(r, c);
		return rc;
	}
	*out = c;
	return 0;
}

void aw__pg_reader_put(aw_pg_repo *r, aw_pg_conn *c)
{
	pthread_mutex_lock(&r->pool_mu);
	c->next = r->free_readers;
	r->free_readers = c;
	pthread_cond_signal(&r->pool_cv);
	pthread_mutex_unlock(&r->pool_mu);
}

/* ---- write transactions ------------------------------------------------------------------ */

static aw_pg_repo *pg(aw_repo *r)
{
	return (aw_pg_repo *)r;
}

/* Forgets the savepoint state of the writer's connection. */
static void savepoint_reset(aw_pg_conn *c)
{
	c->sp_wanted = 0;
	c->sp_open = 0;
	c->release_pending = 0;
}

/* The writer's connection opens again here, between transactions, if it broke. */
static int pg_begin(aw_repo *r, aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	int rc;

	if (c->pg != NULL && PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF)
		conn_drop(c); /* cannot happen: the last transaction ended it */
	pipe_reset(c);
	rc = aw__pg_ready(c, err);
	savepoint_reset(c);
	aw__event_stash_clear(&pg(r)->events);
	if (rc == 0)
		rc = aw__pg_exec(c, "BEGIN", pg(r)->query_timeout_ms, NULL, err);
	if (rc == 0)
		c->in_txn = 1;
	return rc;
}

/*
 * COMMIT of a transaction that the server has aborted answers with the tag
 * ROLLBACK, not an error: that must not pass for a commit. (The writer never
 * commits after a storage error, and a logical error inside a shared
 * transaction has been rolled back to its savepoint, so this only guards.)
 * COMMIT also releases the last write's savepoint.
 */
static int pg_commit(aw_repo *r, aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	PGresult *res;
	int rc = usable(c, "committing", err);

	if (rc == 0 && (c->n_sent != c->first_sent || PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF))
		rc = aw_err_set(err, AW_EINTERNAL, "committing: writes sent and not collected");
	/* The change events go in the transaction: delivered if it commits. */
	if (rc == 0)
		rc = aw__pg_events_flush(pg(r), err);
	aw__event_stash_clear(&pg(r)->events);
	if (rc != 0)
		return rc; /* the writer rolls back */
	if (!PQsendQuery(c->pg, "COMMIT"))
		rc = aw__pg_error(c, NULL, "committing", err);
	if (rc == 0)
		rc = collect(c, pg(r)->query_timeout_ms, "committing", &res, err);
	if (rc == 0) {
		if (!ok_result(res))
			rc = aw__pg_error(c, res, "committing", err);
		else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
			rc = aw_err_set(err, AW_EIO, "committing: the database rolled the "
						     "transaction back (%s)", PQcmdStatus(res));
		PQclear(res);
	}
	c->in_txn = 0;
	savepoint_reset(c);
	return rc;
}

static void pg_rollback(aw_repo *r)
{
	aw_pg_conn *c = pg(r)->writer;

	/* Writes sent and not collected: their answers first (or a new connection). */
	if (pipe_drain(c, "rolling back", NULL) != 0 && c->pg != NULL &&
	    PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF)
		conn_drop(c);
	pipe_reset(c);
	if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK &&
	    PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		aw__pg_exec(c, "ROLLBACK", pg(r)->query_timeout_ms, NULL, NULL);
	c->in_txn = 0;
	savepoint_reset(c);
	aw__event_stash_clear(&pg(r)->events);
}

/*
 * In PostgreSQL a failed statement aborts its whole transaction, so every
 * write that shares one gets a savepoint, and a write that fails (however it
 * failed) is rolled back to it. A write alone in its transaction needs none:
 * the writer rolls the whole transaction back if it fails.
 *
 * Round trips are what a batch costs, so nothing is sent here: the SAVEPOINT
 * (after the RELEASE of the previous write's, when it succeeded) goes out in
 * one pipeline with the write's first statement (aw__pg_run), and COMMIT
 * releases the last. Only a write that fails costs a round trip of its own
 * (ROLLBACK TO and RELEASE).
 */
static int pg_write_begin(aw_repo *r, int alone, aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;

	aw__event_stash_mark(&pg(r)->events);
	(void)err;
	c->sp_wanted = !alone;
	c->sp_open = 0;
	return 0;
}

static int pg_write_end(aw_repo *r, int rc, aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;

	if (c->collected) {
		/* A pipelined write (it published no events): undone alone. */
		unsigned sp = c->collected_sp;

		c->collected = 0;
		if (rc == 0 || sp == 0)
			return 0; /* kept, or alone: the writer rolls back */
		return pipe_undo(c, sp, err);
	}
	if (rc != 0)
		aw__event_stash_undo(&pg(r)->events); /* its events go with it */
	if (c->sp_wanted) {
		/* The write sent no statement: nothing to undo or release. */
		c->sp_wanted = 0;
		return 0;
	}
	if (!c->sp_open)
		return 0;
	c->sp_open = 0;
	if (rc == 0) {
		c->release_pending = 1;
		return 0;
	}
	return aw__pg_exec(c, "ROLLBACK TO SAVEPOINT w; RELEASE SAVEPOINT w",
			   pg(r)->query_timeout_ms, NULL, err);
}

/* Whether the writes that follow are sent ahead (see "pipelined writes"). */
static void pg_write_mode(aw_repo *r, int mode)
{
	aw_pg_conn *c = pg(r)->writer;

	c->mode = mode;
	c->sent_now = 0;
}

/* ---- the monitor --------------------------------------------------------------------------- */

/* How often the monitor asks the database whether it is there, and how long
 * it waits for the answer at most (query_timeout_ms if shorter). */
#define PROBE_REACHABLE_MS 2000
#define PROBE_UNREACHABLE_MS 500
#define PROBE_TIMEOUT_MS 3000

/* Asks the monitor to probe now: a call gave up waiting for the database. */
static void monitor_wake(aw_pg_repo *r)
{
	pthread_mutex_lock(&r->monitor_mu);
	r->monitor_poked = 1;
	pthread_cond_signal(&r->monitor_cv);
	pthread_mutex_unlock(&r->monitor_mu);
}

/*
 * Notices the database going away and coming back when no call does: while
 * it is unreachable, the services' health says NOT_SERVING, a readiness probe
 * takes the pod out of its Service, and no call comes to find out that it is
 * back. It also probes at once when a call gave up waiting (monitor_wake):
 * whether the database is there is its verdict, made with a bound of its own
 * (PROBE_TIMEOUT_MS), not the call's deadline.
 */
static void *monitor_main(void *arg)
{
	aw_pg_repo *r = arg;
	int probe_ms = r->query_timeout_ms < PROBE_TIMEOUT_MS ? r->query_timeout_ms
							       : PROBE_TIMEOUT_MS;

	for (;;) {
		int64_t wait = atomic_load(&r->unreachable) ? PROBE_UNREACHABLE_MS
							    : PROBE_REACHABLE_MS;
		struct timespec ts;
		int stop;
		aw_err err;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait / 1000;
		ts.tv_nsec += (wait % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&r->monitor_mu);
		if (!r->monitor_stop && !r->monitor_poked)
			pthread_cond_timedwait(&r->monitor_cv, &r->monitor_mu, &ts);
		stop = r->monitor_stop;
		r->monitor_poked = 0;
		pthread_mutex_unlock(&r->monitor_mu);
		if (stop)
			break;
		aw__repo_deadline_set(aw__repo_mono_us() + (int64_t)probe_ms * 1000);
		if (aw__pg_ready(r->probe, &err) == 0 &&
		    aw__pg_exec(r->probe, "SELECT 1", probe_ms, NULL, &err) == 0)
			aw__pg_reachable(r, 1, NULL);
		else
			aw__pg_reachable(r, 0, &err);
		aw__repo_deadline_set(0);
		/* Calls that gave up during the probe are answered by it. */
		pthread_mutex_lock(&r->monitor_mu);
		r->monitor_poked = 0;
		pthread_mutex_unlock(&r->monitor_mu);
	}
	return NULL;
}

/* ---- open and close ------------------------------------------------------------------------ */

static void pg_close(aw_repo *base)
{
	aw_pg_repo *r = pg(base);

	aw__pg_events_stop(r);
	if (r->monitor_started) {
		pthread_mutex_lock(&r->monitor_mu);
		r->monitor_stop = 1;
		pthread_cond_signal(&r->monitor_cv);
		pthread_mutex_unlock(&r->monitor_mu);
		pthread_join(r->monitor, NULL);
	}
	conn_free(r->probe);
	for (int i = 0; i < r->n_readers; i++)
		conn_free(r->readers[i]);
	free(r->readers);
	conn_free(r->writer);
	pthread_mutex_destroy(&r->pool_mu);
	pthread_cond_destroy(&r->pool_cv);
	pthread_mutex_destroy(&r->event_mu);
	pthread_mutex_destroy(&r->monitor_mu);
	pthread_cond_destroy(&r->monitor_cv);
	aw__event_stash_free(&r->events);
	free(r->uri);
	free(r);
}

/* Snapshots stream a file of the server's own; a PostgreSQL database has its
 * own tools for consistent copies, which also keep roles and settings. */
static int pg_snapshot(aw_repo *r, int (*stop)(void *stop_arg), void *stop_arg, int *fd,
		       const char **format, aw_err *err)
{
	(void)r;
	(void)stop;
	(void)stop_arg;
	(void)fd;
	(void)format;
	return aw_err_set(err, AW_EUNIMPL,
			  "Snapshot is not available on PostgreSQL: back the database up with "
			  "pg_dump (pg_dump --format=custom), or with the operator's backups "
			  "(CloudNativePG: a Backup or ScheduledBackup), which also give "
			  "point-in-time recovery");
}

static const aw_repo_methods postgres_methods = {
	.version = 8,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.write_begin = pg_write_begin,
	.write_end = pg_write_end,
	.series_create = aw__pg_series_create,
	.series_get = aw__pg_series_get,
	.series_get_by_key = aw__pg_series_get_by_key,
	.series_list = aw__pg_series_list,
	.series_update = aw__pg_series_update,
	.series_delete = aw__pg_series_delete,
	.downloads_enqueue = aw__pg_downloads_enqueue,
	.downloads_get = aw__pg_downloads_get,
	.downloads_list = aw__pg_downloads_list,
	.downloads_update = aw__pg_downloads_update,
	.downloads_delete = aw__pg_downloads_delete,
	.downloads_claim = aw__pg_downloads_claim,
	.downloads_progress = aw__pg_downloads_progress,
	.downloads_transition = aw__pg_downloads_transition,
	.downloads_purge = aw__pg_downloads_purge,
	.session_create = aw__pg_session_create,
	.session_get = aw__pg_session_get,
	.session_list = aw__pg_session_list,
	.session_auth = aw__pg_session_auth,
	.session_touch = aw__pg_session_touch,
	.session_extend = aw__pg_session_extend,
	.session_revoke = aw__pg_session_revoke,
	.session_revoke_user = aw__pg_session_revoke_user,
	.session_purge_expired = aw__pg_session_purge_expired,
	.episodes_create = aw__pg_episodes_create,
	.episodes_get = aw__pg_episodes_get,
	.episodes_list = aw__pg_episodes_list,
	.episodes_update = aw__pg_episodes_update,
	.episodes_delete = aw__pg_episodes_delete,
	.episodes_mark_downloaded = aw__pg_episodes_mark_downloaded,
	.downloads_publish = aw__pg_downloads_publish,
	.downloads_summary = aw__pg_downloads_summary,
	.downloads_bulk_transition = aw__pg_downloads_bulk_transition,
	.downloads_clear = aw__pg_downloads_clear,
	.downloads_move = aw__pg_downloads_move,
	.series_soft_delete = aw__pg_series_soft_delete,
	.series_undelete = aw__pg_series_undelete,
	.series_expired = aw__pg_series_expired,
	.start = aw__pg_events_start,
	.events_sync = aw__pg_events_sync,
	.write_mode = pg_write_mode,
	.snapshot = pg_snapshot,
	.request_claim = aw__pg_request_claim,
	.request_finish = aw__pg_request_finish,
	.request_purge = aw__pg_request_purge,
	.events_sync_start = aw__pg_events_sync_start,
};

/* Reads integer setting `name` into *out (default kept when unset). */
static int int_setting(const aw_repo_options *opts, const char *name, int min, int max, int *out,
		       aw_err *err)
{
	const char *v = aw_repo_setting_get(opts, name);
	char *end;
	long long n;

	if (v == NULL)
		return 0;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
		return aw_err_set(err, AW_EINVAL, "setting %s: '%.40s' is not a number from %d to %d",
				  name, v, min, max);
	*out = (int)n;
	return 0;
}

static int postgres_matches(const char *location)
{
	return strncmp(location, "postgres://", 11) == 0 ||
	       strncmp(location, "postgresql://", 13) == 0;
}

/*
 * A URI with its password replaced: postgresql://user:***@host/db, and a
 * password=... query parameter likewise. Everything else is kept.
 */
static void postgres_redact(const char *location, char *buf, size_t n)
{
	const char *scheme_end = strstr(location, "://");
	const char *auth = scheme_end != NULL ? scheme_end + 3 : location;
	const char *at = NULL, *colon = NULL, *p;
	size_t o = 0;

	if (n == 0)
		return;
	/* The authority ends at the first '/', '?' or '#'; its userinfo at its last '@'. */
	for (p = auth; *p != '\0' && *p != '/' && *p != '?' && *p != '#'; p++) {
		if (*p == '@')
			at = p;
	}
	if (at != NULL) {
		for (p = auth; p < at; p++) {
			if (*p == ':') {
				colon = p;
				break;
			}
		}
	}
	for (p = location; *p != '\0' && o + 1 < n;) {
		if (colon != NULL && p == colon + 1) {
			o += (size_t)snprintf(buf + o, n - o, "***");
			if (o >= n)
				break;
			p = at;
			continue;
		}
		if (p > location && (p[-1] == '?' || p[-1] == '&') && strncmp(p, "password=", 9) == 0) {
			o += (size_t)snprintf(buf + o, n - o, "password=***");
			if (o >= n)
				break;
			p += 9;
			while (*p != '\0' && *p != '&' && *p != '#')
				p++;
			continue;
		}
		buf[o++] = *p++;
	}
	if (o >= n)
		o = n - 1;
	buf[o] = '\0';
}

/*
 * The durability setting does not reach PostgreSQL: a write is acknowledged
 * once its COMMIT has returned, and what that survives is the database
 * server's business (synchronous_commit, fsync, replication), as the operator
 * set it. The setting is checked (a typo is refused as on SQLite) and the
 * start-up log says what decides instead, with synchronous_commit as the
 * writer's session sees it.
 */
static void describe_durability(aw_pg_repo *r, aw_durability asked)
{
	PGresult *res = NULL;
	aw_err ignored;
	char sc[32] = "unknown";

	if (aw__pg_exec(r->writer, "SHOW synchronous_commit", r->query_timeout_ms, &res,
			&ignored) == 0 && res != NULL && PQntuples(res) == 1)
		snprintf(sc, sizeof(sc), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	snprintf(r->base.durability, sizeof(r->base.durability),
		 "decided by the PostgreSQL server, not by --durability (%s, ignored here): "
		 "a write is answered once its COMMIT returns, durable as the server's "
		 "synchronous_commit (%s here) and fsync make it",
		 aw__repo_durability_name(asked), sc);
}

static int postgres_open(aw_repo **out, const char *location, const aw_repo_options *opts,
			 aw_err *err)
{
	aw_durability durability;
	int pool_size = AW_PG_POOL_SIZE, timeout_ms = AW_PG_QUERY_TIMEOUT_MS;
	aw_pg_repo *r;
	int rc;

	*out = NULL;
	rc = int_setting(opts, "pool_size", 1, 1000, &pool_size, err);
	if (rc == 0)
		rc = int_setting(opts, "query_timeout_ms", 1, 3600000, &timeout_ms, err);
	if (rc == 0)
		rc = aw__repo_durability_setting(opts, &durability, err);
	if (rc != 0)
		return rc;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the repository");
	r->base.methods = &postgres_methods;
	r->pool_size = pool_size;
	r->query_timeout_ms = timeout_ms;
	pthread_mutex_init(&r->pool_mu, NULL);
	pthread_cond_init(&r->pool_cv, NULL);
	pthread_mutex_init(&r->event_mu, NULL);
	pthread_mutex_init(&r->monitor_mu, NULL);
	pthread_cond_init(&r->monitor_cv, NULL);
	postgres_redact(location, r->shown, sizeof(r->shown));
	r->uri = strdup(location);
	r->readers = calloc((size_t)pool_size, sizeof(*r->readers));
	r->writer = conn_new(r);
	r->probe = conn_new(r);
	if (r->uri == NULL || r->readers == NULL || r->writer == NULL || r->probe == NULL) {
		pg_close(&r->base);
		return aw_err_set(err, AW_ENOMEM, "out of memory for the repository");
	}
	rc = aw__pg_ready(r->writer, err);
	if (rc == 0)
		rc = aw__pg_migrate(r->writer, err);
	if (rc == 0)
		describe_durability(r, durability);
	if (rc == 0) {
		if (pthread_create(&r->monitor, NULL, monitor_main, r) != 0)
			rc = aw_err_set(err, AW_ENOMEM, "cannot start the database monitor thread");
		else
			r->monitor_started = 1;
	}
	if (rc != 0) {
		char msg[AW_ERR_MSG_MAX];

		/* Start-up errors are read by people: say which database (no password). */
		if (err != NULL) {
			snprintf(msg, sizeof(msg), "%s", err->msg);
			aw_err_set(err, rc, "%s (database %s)", msg, r->shown);
		}
		pg_close(&r->base);
		return rc;
	}
	*out = &r->base;
	return 0;
}

static int postgres_restore(const char *location, const char *from, int force, aw_err *err)
{
	(void)location;
	(void)from;
	(void)force;
	return aw_err_set(err, AW_EUNIMPL,
			  "restore takes SQLite snapshot files: restore a PostgreSQL database "
			  "with pg_restore from a pg_dump file, or with the operator's recovery "
			  "(CloudNativePG: a new Cluster bootstrapped from a backup)");
}

const aw_repo_backend aw__postgres_backend = {
	.name = "postgres",
	.matches = postgres_matches,
	.open = postgres_open,
	.redact = postgres_redact,
	.bulk = &aw__postgres_bulk,
	.restore = postgres_restore,
};
