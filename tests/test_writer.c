/*
 * Tests server/repo/writer.c: group commit over the SQLite backend.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "repo/repo.h"
#include "repo_sync.h"

typedef struct fixture {
	char dir[64];
	char path[128];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/aw-writer-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/w.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static int count_rows(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM anime_series", -1, &st, NULL),
			 SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

typedef struct pending {
	sync_req sr;
	Aniworld__V1__AnimeSeries s;
	char key[32];
} pending;

static void submit(aw_repo *r, pending *p, const char *key)
{
	p->s = (Aniworld__V1__AnimeSeries)ANIWORLD__V1__ANIME_SERIES__INIT;
	snprintf(p->key, sizeof(p->key), "%s", key);
	p->s.key = p->key;
	p->s.name = "n";
	aw_repo_series_create(r, sync_init(&p->sr), &p->s);
}

/* Writes queued together commit together; a failing one rolls back alone. */
static void test_writer_failed_write_does_not_spoil_its_batch(void **state)
{
	fixture *f = *state;
	aw_repo *r;
	pending *p = calloc(50, sizeof(*p));
	int ok = 0, dup = 0;

	assert_int_equal(aw_repo_open(&r, f->path, NULL, NULL), 0);
	for (int i = 0; i < 50; i++) {
		char key[32];
		/* Every fifth write repeats the key before it. */
		snprintf(key, sizeof(key), "k-%d", i % 5 == 4 ? i - 1 : i);
		submit(r, &p[i], key);
	}
	for (int i = 0; i < 50; i++) {
		int rc = sync_wait(&p[i].sr);
		if (rc == 0)
			ok++;
		else if (rc == AW_EEXIST)
			dup++;
		protobuf_c_message_free_unpacked(p[i].sr.result, NULL);
	}
	aw_repo_close(r);
	assert_int_equal(ok, 40);
	assert_int_equal(dup, 10);
	assert_int_equal(count_rows(f->path), 40);
	free(p);
}

typedef struct thread_arg {
	aw_repo *r;
	int id;
	int n;
	int failures;
} thread_arg;

static void *writer_thread(void *arg)
{
	thread_arg *a = arg;

	for (int i = 0; i < a->n; i++) {
		pending p;
		char key[32];
		snprintf(key, sizeof(key), "t%d-%d", a->id, i);
		submit(a->r, &p, key);
		if (sync_wait(&p.sr) != 0)
			a->failures++;
		protobuf_c_message_free_unpacked(p.sr.result, NULL);
	}
	return NULL;
}

static void test_writer_concurrent_writers_all_acknowledged_and_stored(void **state)
{
	fixture *f = *state;
	pthread_t threads[8];
	thread_arg args[8];
	aw_repo *r;

	assert_int_equal(aw_repo_open(&r, f->path, NULL, NULL), 0);
	for (int t = 0; t < 8; t++) {
		args[t] = (thread_arg){.r = r, .id = t, .n = 200};
		pthread_create(&threads[t], NULL, writer_thread, &args[t]);
	}
	for (int t = 0; t < 8; t++) {
		pthread_join(threads[t], NULL);
		assert_int_equal(args[t].failures, 0);
	}
	aw_repo_close(r);
	assert_int_equal(count_rows(f->path), 1600);
}

static int always_timed_out(const aw_repo_req *req)
{
	(void)req;
	return AW_ETIMEDOUT;
}

static void test_writer_skips_abandoned_writes(void **state)
{
	fixture *f = *state;
	aw_repo *r;
	pending p;

	assert_int_equal(aw_repo_open(&r, f->path, NULL, NULL), 0);
	p.s = (Aniworld__V1__AnimeSeries)ANIWORLD__V1__ANIME_SERIES__INIT;
	p.s.key = "late";
	p.s.name = "late";
	aw_repo_req *req = sync_init(&p.sr);
	req->abandoned = always_timed_out;
	aw_repo_series_create(r, req, &p.s);
	assert_int_equal(sync_wait(&p.sr), AW_ETIMEDOUT);
	assert_null(p.sr.result);
	aw_repo_close(r);
	assert_int_equal(count_rows(f->path), 0);
}

static void test_writer_bounded_queue_refuses_overflow(void **state)
{
	fixture *f = *state;
	aw_repo_options opts;
	aw_repo *r;
	sqlite3 *blocker;
	pending p[4];
	int overloaded = 0, ok = 0;

	aw_repo_options_defaults(&opts);
	opts.max_batch = 1;
	opts.max_queue = 2;
	opts.busy_timeout_ms = 20000;
	assert_int_equal(aw_repo_open(&r, f->path, &opts, NULL), 0);
	/* Another process-like connection holds the write lock, so the writer stalls. */
	assert_int_equal(sqlite3_open(f->path, &blocker), SQLITE_OK);
	assert_int_equal(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < 4; i++) {
		char key[16];
		snprintf(key, sizeof(key), "q%d", i);
		submit(r, &p[i], key);
	}
	/* Overflow is refused at once, before the lock is released. */
	for (int i = 0; i < 4; i++) {
		pthread_mutex_lock(&p[i].sr.mu);
		int done = p[i].sr.done, rc = p[i].sr.rc;
		pthread_mutex_unlock(&p[i].sr.mu);
		if (done && rc == AW_EOVERLOAD)
			overloaded++;
	}
	assert_true(overloaded >= 1);
	assert_int_equal(sqlite3_exec(blocker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(blocker);
	for (int i = 0; i < 4; i++) {
		if (sync_wait(&p[i].sr) == 0)
			ok++;
		protobuf_c_message_free_unpacked(p[i].sr.result, NULL);
	}
	assert_int_equal(ok + overloaded, 4);
	aw_repo_close(r);
	assert_int_equal(count_rows(f->path), ok);
}

static void test_writer_close_commits_what_is_queued(void **state)
{
	fixture *f = *state;
	aw_repo *r;
	pending *p = calloc(100, sizeof(*p));

	assert_int_equal(aw_repo_open(&r, f->path, NULL, NULL), 0);
	for (int i = 0; i < 100; i++) {
		char key[16];
		snprintf(key, sizeof(key), "c%d", i);
		submit(r, &p[i], key);
	}
	aw_repo_close(r); /* returns after every queued write has been reported */
	for (int i = 0; i < 100; i++) {
		assert_int_equal(sync_wait(&p[i].sr), 0);
		protobuf_c_message_free_unpacked(p[i].sr.result, NULL);
	}
	assert_int_equal(count_rows(f->path), 100);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writer_failed_write_does_not_spoil_its_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_writer_concurrent_writers_all_acknowledged_and_stored,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_skips_abandoned_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_bounded_queue_refuses_overflow, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_writer_close_commits_what_is_queued, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
