/*
 * Tests server/repo/writer.c: group commit, on a real database of the backend
 * under test (test_db.h: ctest runs this suite on SQLite and on PostgreSQL).
 * Writes stalled by an SQLite lock and SQLite storage faults are tested in
 * test_writer_sqlite.c.
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

#include "repo/repo.h"
#include "repo_sync.h"
#include "test_db.h"

typedef struct fixture {
	test_db db;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	*state = f;
	if (f == NULL || test_db_create(&f->db, TEST_DB_FILE) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	if (f == NULL)
		return 0;
	test_db_drop(&f->db);
	free(f);
	return 0;
}

/* How many series the database holds, read with a connection of the test's own. */
static int count_rows(const test_db *db)
{
	int64_t n;

	if (test_db_int(db, "SELECT COUNT(*) FROM anime_series", &n) != 0)
		fail_msg("cannot count the series on %s", test_db_backend());
	return (int)n;
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

	assert_int_equal(aw_repo_open(&r, f->db.location, NULL, NULL), 0);
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
	assert_int_equal(count_rows(&f->db), 8 * 160 + 40);
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

	assert_int_equal(aw_repo_open(&r, f->db.location, NULL, NULL), 0);
	p.s = (Aniworld__V1__AnimeSeries)ANIWORLD__V1__ANIME_SERIES__INIT;
	p.s.key = "late";
	p.s.name = "late";
	aw_repo_req *req = sync_init(&p.sr);
	req->abandoned = always_timed_out;
	aw_repo_series_create(r, req, &p.s);
	assert_int_equal(sync_wait(&p.sr), AW_ETIMEDOUT);
	assert_null(p.sr.result);
	aw_repo_close(r);
	assert_int_equal(count_rows(&f->db), 0);
}

static void test_writer_close_commits_what_is_queued(void **state)
{
	fixture *f = *state;
	aw_repo *r;
	pending *p = calloc(100, sizeof(*p));

	assert_int_equal(aw_repo_open(&r, f->db.location, NULL, NULL), 0);
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
	assert_int_equal(count_rows(&f->db), 100);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writer_concurrent_writes_commit_and_fail_independently,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_skips_abandoned_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_close_commits_what_is_queued, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
