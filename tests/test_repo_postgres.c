/*
 * The PostgreSQL backend's own checks (server/repo/postgres/), beside the
 * backend-neutral suites: settings, the password kept out of messages,
 * migrations and the version check, a database that cannot be reached, and
 * connections that the server closed coming back by themselves. Runs on the
 * test fixture's PostgreSQL (AW_TEST_BACKEND=postgres).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "repo/postgres/postgres_int.h"
#include "repo/sqlite/sqlite_int.h"
#include "repo_sync.h"
#include "test_db.h"

typedef struct fixture {
	test_db db;
	aw_repo *repo;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	*state = f;
	if (f == NULL || !test_db_is_postgres() || test_db_create(&f->db, TEST_DB_FILE) != 0) {
		fprintf(stderr, "test_repo_postgres needs the PostgreSQL fixture\n");
		free(f);
		*state = NULL;
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	if (f == NULL)
		return 0;
	aw_repo_close(f->repo);
	test_db_drop(&f->db);
	free(f);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_repo_postgres_redacts_the_password(void **state)
{
	char buf[256];

	(void)state;
	aw_repo_location_redact("postgresql://app:s3cret@db.example:5432/aniworld", buf, sizeof(buf));
	assert_string_equal(buf, "postgresql://app:***@db.example:5432/aniworld");
	aw_repo_location_redact("postgres://app@db/aniworld?sslmode=verify-full&password=s3cret",
				buf, sizeof(buf));
	assert_string_equal(buf, "postgres://app@db/aniworld?sslmode=verify-full&password=***");
	aw_repo_location_redact("postgresql://db/aniworld", buf, sizeof(buf));
	assert_string_equal(buf, "postgresql://db/aniworld");
	/* A password with an '@' in it (percent-encoded or not) stays hidden. */
	aw_repo_location_redact("postgresql://app:a@b@db/x", buf, sizeof(buf));
	assert_null(strstr(buf, "a@b"));
}

static void test_repo_postgres_settings_are_checked(void **state)
{
	fixture *f = *state;
	aw_repo_setting bad[][1] = {
		{{"pool_size", "0"}},
		{{"pool_size", "many"}},
		{{"query_timeout_ms", "-5"}},
		{{"durability", "disk"}},
	};
	const char *names[] = {"pool_size", "pool_size", "query_timeout_ms", "durability"};

	for (size_t i = 0; i < 4; i++) {
		aw_repo_options opts;
		aw_err err;

		aw_repo_options_defaults(&opts);
		opts.settings = bad[i];
		opts.n_settings = 1;
		assert_int_equal(aw_repo_open(&f->repo, f->db.location, &opts, &err), AW_EINVAL);
		assert_non_null(strstr(err.msg, names[i]));
		assert_null(f->repo);
	}
}

/* The durability setting does not reach PostgreSQL (issue 12): it is checked
 * above, and what decides instead is said for the log, with the server's
 * synchronous_commit (the fixture keeps PostgreSQL's default, on). */
static void test_repo_postgres_durability_is_the_servers(void **state)
{
	fixture *f = *state;
	aw_repo_setting s[1] = {{"durability", "process"}};
	aw_repo_options opts;
	aw_err err;

	aw_repo_options_defaults(&opts);
	opts.settings = s;
	opts.n_settings = 1;
	assert_int_equal(aw_repo_open(&f->repo, f->db.location, &opts, &err), 0);
	assert_non_null(strstr(aw_repo_durability(f->repo), "PostgreSQL server"));
	assert_non_null(strstr(aw_repo_durability(f->repo), "(process, ignored here)"));
	assert_non_null(strstr(aw_repo_durability(f->repo), "synchronous_commit (on here)"));
}

/* A database that is not there: AW_EUNAVAIL at once, "database unavailable",
 * and the password nowhere in the message. */
static void test_repo_postgres_unreachable_fails_fast(void **state)
{
	fixture *f = *state;
	aw_repo_options opts;
	aw_repo_setting s[1] = {{"query_timeout_ms", "1000"}};
	aw_err err;
	int64_t t0 = now_ms();

	aw_repo_options_defaults(&opts);
	opts.settings = s;
	opts.n_settings = 1;
	/* Port 1 on loopback: refused. */
	assert_int_equal(aw_repo_open(&f->repo, "postgresql://aniworld:hunter2@127.0.0.1:1/x", &opts,
				      &err),
			 AW_EUNAVAIL);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(err.msg, "database unavailable"));
	assert_null(strstr(err.msg, "hunter2"));
	assert_non_null(strstr(err.msg, "***"));
}

/* Opening migrates once; opening again finds nothing to do; a database that a
 * newer server migrated is refused with a message that says so. */
static void test_repo_postgres_migrations_and_version(void **state)
{
	fixture *f = *state;
	int64_t n = 0;
	aw_err err;

	assert_int_equal(aw_repo_open(&f->repo, f->db.location, NULL, &err), 0);
	aw_repo_close(f->repo);
	f->repo = NULL;
	assert_int_equal(aw_repo_open(&f->repo, f->db.location, NULL, &err), 0);
	aw_repo_close(f->repo);
	f->repo = NULL;
	assert_int_equal(test_db_int(&f->db, "SELECT COUNT(*) FROM schema_version", &n), 0);
	assert_int_equal(n, aw__pg_schema_version()); /* one row per migration */
	/* A schema version means the same on both backends. */
	assert_int_equal(aw__pg_schema_version(), aw__sq_schema_version());

	assert_int_equal(test_db_exec(&f->db, "INSERT INTO schema_version VALUES (99)"), 0);
	assert_int_equal(aw_repo_open(&f->repo, f->db.location, NULL, &err), AW_EVERSION);
	assert_non_null(strstr(err.msg, "newer"));
	assert_null(f->repo);
}

typedef struct heard {
	pthread_mutex_t mu;
	int unreachable, reachable;
} heard;

static void hear(void *arg, aw_repo_storage_event event, const aw_err *err, uint64_t count)
{
	heard *h = arg;

	(void)err;
	(void)count;
	pthread_mutex_lock(&h->mu);
	if (event == AW_REPO_UNREACHABLE)
		h->unreachable++;
	else if (event == AW_REPO_REACHABLE)
		h->reachable++;
	pthread_mutex_unlock(&h->mu);
}

static int create_series(aw_repo *r, const char *key)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	sync_req sr;
	int rc;

	s.key = (char *)key;
	s.name = (char *)key;
	aw_repo_series_create(r, sync_init(&sr), &s);
	rc = sync_wait(&sr);
	if (sr.result != NULL)
		protobuf_c_message_free_unpacked(sr.result, NULL);
	return rc;
}

static int get_by_key(aw_repo *r, const char *key)
{
	sync_req sr;
	int rc;

	aw_repo_series_get_by_key(r, sync_init(&sr), key);
	rc = sync_wait(&sr);
	if (sr.result != NULL)
		protobuf_c_message_free_unpacked(sr.result, NULL);
	return rc;
}

/* The server ends every connection of the repository (as a restart or a
 * failover does): the calls after it succeed all the same, on connections
 * opened again, and nobody is told of an outage that no call saw. */
static void test_repo_postgres_connections_come_back(void **state)
{
	fixture *f = *state;
	heard h = {.mu = PTHREAD_MUTEX_INITIALIZER};
	aw_repo_options opts;
	aw_err err;
	char key[32];

	aw_repo_options_defaults(&opts);
	opts.on_storage = hear;
	opts.storage_arg = &h;
	assert_int_equal(aw_repo_open(&f->repo, f->db.location, &opts, &err), 0);
	for (int round = 0; round < 3; round++) {
		snprintf(key, sizeof(key), "k%d", round);
		assert_int_equal(create_series(f->repo, key), 0);
		assert_int_equal(get_by_key(f->repo, key), 0);
		assert_int_equal(test_db_exec(&f->db,
					      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
					      "WHERE datname = current_database() "
					      "AND pid <> pg_backend_pid()"),
				 0);
		/* The server has closed them: both kinds of connection come back. */
		assert_int_equal(get_by_key(f->repo, key), 0);
		snprintf(key, sizeof(key), "after%d", round);
		assert_int_equal(create_series(f->repo, key), 0);
	}
	pthread_mutex_lock(&h.mu);
	assert_int_equal(h.unreachable, h.reachable);
	pthread_mutex_unlock(&h.mu);
}

/* A write in a shared transaction that fails is undone alone: the ones
 * around it commit (savepoints, since a failed statement aborts the whole
 * transaction in PostgreSQL). */
static void test_repo_postgres_failed_write_spares_its_batch(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries s[5];
	const char *keys[5] = {"a", "b", "a", "c", "b"};
	sync_req sr[5];
	int64_t n = 0;
	aw_err err;

	assert_int_equal(aw_repo_open(&f->repo, f->db.location, NULL, &err), 0);
	/* Queued, then run together: one transaction for all five. */
	aw_repo_defer_writes(f->repo);
	for (int i = 0; i < 5; i++) {
		Aniworld__V1__AnimeSeries init = ANIWORLD__V1__ANIME_SERIES__INIT;

		s[i] = init;
		s[i].key = (char *)keys[i];
		s[i].name = (char *)keys[i];
		aw_repo_series_create(f->repo, sync_init(&sr[i]), &s[i]);
	}
	aw_repo_flush(f->repo);
	for (int i = 0; i < 5; i++) {
		int rc = sync_wait(&sr[i]);

		assert_int_equal(rc, i == 2 || i == 4 ? AW_EEXIST : 0);
		if (sr[i].result != NULL)
			protobuf_c_message_free_unpacked(sr[i].result, NULL);
	}
	assert_int_equal(test_db_int(&f->db, "SELECT COUNT(*) FROM anime_series", &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(test_db_int(&f->db, "SELECT n FROM row_counts WHERE name = 'anime_series'",
				     &n),
			 0);
	assert_int_equal(n, 3);
}

/*
 * A batch is sent as one pipeline (creates and updates go out without
 * waiting for each other's answers), and a write that fails in it is still
 * undone alone: when its statement fails (a key taken, the transaction
 * aborted), when it fails after its statement ran (an update that found no
 * row, with the writes after it already run by the server), and around a
 * write the backend runs on its own (a delete). Every other write commits,
 * once, with its own stored record as its result; all in one transaction.
 */
static void test_repo_postgres_pipelined_batch_undoes_only_failed_writes(void **state)
{
	enum { N = 10 };
	/* What each write is: c create, u update of a missing id, d delete of a
	 * missing id; with the outcome expected. */
	static const struct {
		char op;
		const char *key;
		int rc;
	} w[N] = {
		{'c', "k0", 0},          {'u', "missing", AW_ENOTFOUND}, {'c', "k2", 0},
		{'c', "k0", AW_EEXIST},  {'c', "k4", 0},                 {'d', NULL, AW_ENOTFOUND},
		{'c', "k6", 0},          {'u', "missing", AW_ENOTFOUND}, {'c', "k8", 0},
		{'c', "k8", AW_EEXIST},
	};
	fixture *f = *state;
	Aniworld__V1__AnimeSeries s[N];
	aw_download_changes gone[N];
	sync_req sr[N];
	uint64_t batches0, writes0, batches, writes;
	int64_t n = 0, ids[N];
	aw_err err;

	assert_int_equal(aw_repo_open(&f->repo, f->db.location, NULL, &err), 0);
	aw_repo_stats(f->repo, &batches0, &writes0);
	aw_repo_defer_writes(f->repo);
	for (int i = 0; i < N; i++) {
		Aniworld__V1__AnimeSeries init = ANIWORLD__V1__ANIME_SERIES__INIT;

		s[i] = init;
		memset(&gone[i], 0, sizeof(gone[i]));
		if (w[i].op == 'c') {
			s[i].key = (char *)w[i].key;
			s[i].name = (char *)w[i].key;
			aw_repo_series_create(f->repo, sync_init(&sr[i]), &s[i]);
		} else if (w[i].op == 'u') {
			s[i].id = 900000 + i;
			s[i].name = (char *)"renamed";
			aw_repo_series_update(f->repo, sync_init(&sr[i]), &s[i], 2);
		} else {
			aw_repo_series_delete(f->repo, sync_init(&sr[i]), 900000 + i, &gone[i]);
		}
	}
	aw_repo_flush(f->repo);
	for (int i = 0; i < N; i++) {
		int rc = sync_wait(&sr[i]);

		assert_int_equal(rc, w[i].rc);
		ids[i] = 0;
		if (rc == 0 && w[i].op == 'c') {
			const Aniworld__V1__AnimeSeries *got =
				(const Aniworld__V1__AnimeSeries *)sr[i].result;

			assert_non_null(got);
			assert_string_equal(got->key, w[i].key);
			assert_true(got->id > 0);
			ids[i] = got->id;
			for (int j = 0; j < i; j++)
				assert_true(ids[j] != got->id);
		} else {
			assert_null(sr[i].result);
		}
		if (sr[i].result != NULL)
			protobuf_c_message_free_unpacked(sr[i].result, NULL);
		aw_download_changes_clear(&gone[i], NULL);
	}
	aw_repo_stats(f->repo, &batches, &writes);
	assert_int_equal(batches - batches0, 1);
	assert_int_equal(writes - writes0, N);
	/* The five creates that succeeded, each once, under the ids they reported. */
	assert_int_equal(test_db_int(&f->db, "SELECT COUNT(*) FROM anime_series", &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(test_db_int(&f->db,
				     "SELECT COUNT(*) FROM anime_series WHERE key IN "
				     "('k0', 'k2', 'k4', 'k6', 'k8') AND name = key",
				     &n),
			 0);
	assert_int_equal(n, 5);
	for (int i = 0; i < N; i++) {
		char sql[96];

		if (ids[i] == 0)
			continue;
		snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM anime_series WHERE id = %lld AND key = '%s'",
			 (long long)ids[i], w[i].key);
		assert_int_equal(test_db_int(&f->db, sql, &n), 0);
		assert_int_equal(n, 1);
	}
	assert_int_equal(test_db_int(&f->db, "SELECT n FROM row_counts WHERE name = 'anime_series'",
				     &n),
			 0);
	assert_int_equal(n, 5);
}

/* ---- a write batch that loses a deadlock runs again (issue 10) ---------------------------- */

typedef struct deadlock_writes {
	aw_repo *repo;
	int64_t ids[3];          /* the series the batch updates, in this order */
	int rc[3];
	char desc[3][32];        /* the descriptions answered */
} deadlock_writes;

/* One batch of three updates (deferred, then flushed), in the order of ids. */
static void *deadlock_writer(void *arg)
{
	deadlock_writes *d = arg;
	Aniworld__V1__AnimeSeries s[3];
	sync_req sr[3];

	aw_repo_defer_writes(d->repo);
	for (int i = 0; i < 3; i++) {
		Aniworld__V1__AnimeSeries init = ANIWORLD__V1__ANIME_SERIES__INIT;

		s[i] = init;
		s[i].id = d->ids[i];
		s[i].description = "from-the-batch";
		aw_repo_series_update(d->repo, sync_init(&sr[i]), &s[i], AW_SERIES_DESCRIPTION);
	}
	aw_repo_flush(d->repo);
	for (int i = 0; i < 3; i++) {
		d->rc[i] = sync_wait(&sr[i]);
		if (sr[i].result != NULL) {
			snprintf(d->desc[i], sizeof(d->desc[i]), "%s",
				 ((Aniworld__V1__AnimeSeries *)sr[i].result)->description);
			protobuf_c_message_free_unpacked(sr[i].result, NULL);
		}
	}
	return NULL;
}

static int side_ok(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		fprintf(stderr, "side connection: %s: %s", sql, PQerrorMessage(c));
	PQclear(res);
	return ok;
}

/* Opens a side connection whose deadlock check comes late: in a cycle with
 * the writer's connection (the default 1 s), the writer is the victim. */
static PGconn *side_open(const fixture *f)
{
	PGconn *c = PQconnectdb(f->db.location);

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	assert_true(side_ok(c, "SET deadlock_timeout = '60s'"));
	return c;
}

/* Waits until `n` lock requests wait, at most 10 s. */
static void locks_wait(const fixture *f, int64_t n)
{
	struct timespec pause = {0, 10 * 1000000};
	int64_t until = now_ms() + 10000, waiting = 0;

	while (now_ms() < until) {
		assert_int_equal(test_db_int(&f->db, "SELECT COUNT(*) FROM pg_locks WHERE NOT granted",
					     &waiting), 0);
		if (waiting >= n)
			return;
		nanosleep(&pause, NULL);
	}
	fail_msg("%lld lock requests wait, not %lld", (long long)waiting, (long long)n);
}

static void side_update(PGconn *c, int64_t id, int async)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "UPDATE anime_series SET description = 'side' WHERE id = %lld",
		 (long long)id);
	if (async)
		assert_int_equal(PQsendQuery(c, sql), 1);
	else
		assert_true(side_ok(c, sql));
}

/*
 * A deadlock between the writer's batch and another connection, provoked on
 * purpose and with the writer's transaction closing the cycle, so that
 * PostgreSQL's deadlock check (1 s after a wait begins; the other connection's
 * is late) always picks it: SQLSTATE 40P01. The batch updates A, C, B. The
 * other connection holds B; a gate connection holds C, so the batch waits
 * there holding A; the other connection then asks for A, and once it waits
 * the gate opens: the batch asks for B and closes the cycle. The writer must
 * run the batch again, unseen by its callers: all three updates answer OK and
 * are stored, after the other connection's.
 */
static void test_repo_postgres_deadlock_runs_the_batch_again(void **state)
{
	fixture *f = *state;
	const char *keys[3] = {"lock-a", "lock-c", "lock-b"};
	deadlock_writes d = {0};
	PGconn *side, *gate;
	PGresult *res;
	pthread_t t;
	int64_t n = 0;
	char sql[128];
	aw_err err;

	assert_int_equal(aw_repo_open(&f->repo, f->db.location, NULL, &err), 0);
	/* Stored behind the repository's back: this thread may defer its writes
	 * (an earlier test's aw_repo_defer_writes, for a repository at the same
	 * address). */
	assert_int_equal(test_db_exec(&f->db, "INSERT INTO anime_series (key, name, created_at, "
				      "updated_at) VALUES ('lock-a', 'a', 0, 0), ('lock-c', 'c', 0, 0), "
				      "('lock-b', 'b', 0, 0)"), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(sql, sizeof(sql), "SELECT id FROM anime_series WHERE key = '%s'", keys[i]);
		assert_int_equal(test_db_int(&f->db, sql, &d.ids[i]), 0);
	}
	d.repo = f->repo;

	side = side_open(f);
	gate = side_open(f);
	assert_true(side_ok(side, "BEGIN"));
	side_update(side, d.ids[2], 0);         /* B */
	assert_true(side_ok(gate, "BEGIN"));
	side_update(gate, d.ids[1], 0);         /* C */

	assert_int_equal(pthread_create(&t, NULL, deadlock_writer, &d), 0);
	locks_wait(f, 1);                       /* the batch holds A, waits for C */
	side_update(side, d.ids[0], 1);         /* the other waits for A */
	locks_wait(f, 2);
	assert_true(side_ok(gate, "COMMIT"));   /* the batch asks for B: a cycle */
	PQfinish(gate);
	/* PostgreSQL aborts the batch's transaction; the other gets A. */
	res = PQgetResult(side);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_null(PQgetResult(side));
	assert_true(side_ok(side, "COMMIT"));
	PQfinish(side);
	pthread_join(t, NULL);

	for (int i = 0; i < 3; i++) {
		assert_int_equal(d.rc[i], 0);
		assert_string_equal(d.desc[i], "from-the-batch");
	}
	assert_int_equal(test_db_int(&f->db, "SELECT COUNT(*) FROM anime_series "
				     "WHERE description = 'from-the-batch'", &n), 0);
	assert_int_equal(n, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repo_postgres_redacts_the_password),
		cmocka_unit_test_setup_teardown(test_repo_postgres_settings_are_checked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_postgres_durability_is_the_servers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_postgres_unreachable_fails_fast, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_postgres_migrations_and_version, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_postgres_connections_come_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_postgres_failed_write_spares_its_batch,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_repo_postgres_pipelined_batch_undoes_only_failed_writes, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_repo_postgres_deadlock_runs_the_batch_again,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
