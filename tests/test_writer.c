/*
 * Tests server/repo/writer.c: group commit over the SQLite backend.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
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

typedef struct thread_arg {
	aw_repo *r;
	int id;
	int n;
	int failures;
	int duplicates;
} thread_arg;

/* Every fifth write of every thread uses a key the other threads use too, so
 * batches mix writes that commit with writes that fail. */
static void *writer_thread(void *arg)
{
	thread_arg *a = arg;

	for (int i = 0; i < a->n; i++) {
		pending p;
		char key[32];
		int rc;

		if (i % 5 == 4)
			snprintf(key, sizeof(key), "shared-%d", i);
		else
			snprintf(key, sizeof(key), "t%d-%d", a->id, i);
		submit(a->r, &p, key);
		rc = sync_wait(&p.sr);
		if (rc == AW_EEXIST && i % 5 == 4)
			a->duplicates++;
		else if (rc != 0)
			a->failures++;
		protobuf_c_message_free_unpacked(p.sr.result, NULL);
	}
	return NULL;
}

static void test_writer_concurrent_writes_commit_and_fail_independently(void **state)
{
	fixture *f = *state;
	pthread_t threads[8];
	thread_arg args[8];
	aw_repo *r;
	int duplicates = 0;

	assert_int_equal(aw_repo_open(&r, f->path, NULL, NULL), 0);
	for (int t = 0; t < 8; t++) {
		args[t] = (thread_arg){.r = r, .id = t, .n = 200};
		pthread_create(&threads[t], NULL, writer_thread, &args[t]);
	}
	for (int t = 0; t < 8; t++) {
		pthread_join(threads[t], NULL);
		assert_int_equal(args[t].failures, 0);
		duplicates += args[t].duplicates;
	}
	aw_repo_close(r);
	/* Each thread: 160 keys of its own; 40 shared keys, each stored once. */
	assert_int_equal(duplicates, 40 * 7);
	assert_int_equal(count_rows(f->path), 8 * 160 + 40);
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

typedef struct submitter {
	aw_repo *r;
	pending p;
	char key[16];
	atomic_int submitted; /* aw_repo_series_create has returned */
	pthread_t thread;
} submitter;

static void *submit_main(void *arg)
{
	submitter *s = arg;

	submit(s->r, &s->p, s->key);
	atomic_store(&s->submitted, 1);
	return NULL;
}

static void test_writer_bounded_queue_refuses_overflow(void **state)
{
	fixture *f = *state;
	aw_repo_options opts;
	aw_repo *r;
	sqlite3 *blocker;
	submitter s[4];
	int overloaded = 0, ok = 0, returned = 0;

	aw_repo_options_defaults(&opts);
	opts.max_batch = 1;
	opts.max_queue = 2;
	opts.busy_timeout_ms = 20000;
	assert_int_equal(aw_repo_open(&r, f->path, &opts, NULL), 0);
	/* Another connection holds the write lock: whichever submitter leads stalls
	 * in BEGIN, and the others queue behind it. */
	assert_int_equal(sqlite3_open(f->path, &blocker), SQLITE_OK);
	assert_int_equal(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < 4; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		s[i].r = r;
		snprintf(s[i].key, sizeof(s[i].key), "q%d", i);
		pthread_create(&s[i].thread, NULL, submit_main, &s[i]);
	}
	/* Three submitters return at once (queued or refused); the leader waits. */
	for (int waited = 0; waited < 10000 && returned < 3; waited++) {
		returned = 0;
		for (int i = 0; i < 4; i++)
			returned += atomic_load(&s[i].submitted);
		if (returned < 3)
			usleep(1000);
	}
	assert_int_equal(returned, 3);
	for (int i = 0; i < 4; i++) {
		pthread_mutex_lock(&s[i].p.sr.mu);
		if (s[i].p.sr.done && s[i].p.sr.rc == AW_EOVERLOAD)
			overloaded++;
		pthread_mutex_unlock(&s[i].p.sr.mu);
	}
	assert_int_equal(overloaded, 1); /* refused at once, before the lock was released */
	assert_int_equal(sqlite3_exec(blocker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(blocker);
	for (int i = 0; i < 4; i++) {
		pthread_join(s[i].thread, NULL);
		if (sync_wait(&s[i].p.sr) == 0)
			ok++;
		protobuf_c_message_free_unpacked(s[i].p.sr.result, NULL);
	}
	assert_int_equal(ok, 3);
	aw_repo_close(r);
	assert_int_equal(count_rows(f->path), 3);
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
		cmocka_unit_test_setup_teardown(test_writer_concurrent_writes_commit_and_fail_independently,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_skips_abandoned_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_bounded_queue_refuses_overflow, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_writer_close_commits_what_is_queued, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
