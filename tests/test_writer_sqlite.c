/*
 * Tests server/repo/writer.c over the SQLite backend where SQLite itself is the
 * subject: writes stalled behind another process's lock, busy timeouts and a
 * corrupt page (the backend-neutral writer tests are in test_writer.c).
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

static void test_writer_sqlite_bounded_queue_refuses_overflow(void **state)
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
	opts.settings = &(aw_repo_setting){"busy_timeout_ms", "20000"};
	opts.n_settings = 1;
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

/* ---- storage faults ------------------------------------------------------------------ */

/* What the repository told its owner (aw_repo_options.on_storage). */
typedef struct heard {
	pthread_mutex_t mu;
	int failing, recovered, read_failed;
	int code;                /* of the last failing */
	char msg[AW_ERR_MSG_MAX];
	uint64_t failed_batches; /* count of the last recovered */
} heard;

static void hear(void *arg, aw_repo_storage_event event, const aw_err *err, uint64_t count)
{
	heard *h = arg;

	pthread_mutex_lock(&h->mu);
	switch (event) {
	case AW_REPO_WRITES_FAILING:
		h->failing++;
		h->code = err->code;
		snprintf(h->msg, sizeof(h->msg), "%s", err->msg);
		break;
	case AW_REPO_WRITES_RECOVERED:
		h->recovered++;
		h->failed_batches = count;
		break;
	case AW_REPO_READ_FAILED:
		h->read_failed++;
		break;
	case AW_REPO_READ_ONLY:
	case AW_REPO_UNREACHABLE:
	case AW_REPO_REACHABLE:
		break;
	}
	pthread_mutex_unlock(&h->mu);
}

static aw_repo *open_hearing(const char *path, heard *h, int64_t busy_ms)
{
	aw_repo_options opts;
	aw_repo_setting busy = {"busy_timeout_ms", NULL};
	char busy_text[24];
	aw_repo *r;

	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	aw_repo_options_defaults(&opts);
	snprintf(busy_text, sizeof(busy_text), "%lld", (long long)busy_ms);
	busy.value = busy_text;
	opts.settings = &busy;
	opts.n_settings = 1;
	opts.on_storage = hear;
	opts.storage_arg = h;
	assert_int_equal(aw_repo_open(&r, path, &opts, NULL), 0);
	return r;
}

static void test_writer_sqlite_storage_fault_fails_writes_and_is_told_once(void **state)
{
	fixture *f = *state;
	heard h;
	aw_repo *r = open_hearing(f->path, &h, 50);
	pthread_t threads[8];
	thread_arg args[8];
	sqlite3 *blocker;
	pending p;

	submit(r, &p, "before");
	assert_int_equal(sync_wait(&p.sr), 0);
	protobuf_c_message_free_unpacked(p.sr.result, NULL);

	/* Another connection holds the write lock past the busy timeout. */
	assert_int_equal(sqlite3_open(f->path, &blocker), SQLITE_OK);
	assert_int_equal(sqlite3_exec(blocker, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < 3; i++) {
		submit(r, &p, "locked");
		assert_int_equal(sync_wait(&p.sr), AW_EBUSY);
		assert_null(p.sr.result);
		assert_non_null(strstr(p.sr.err.msg,
				       "database locked by another process (busy timeout 50 ms)"));
	}
	for (int t = 0; t < 8; t++) {
		args[t] = (thread_arg){.r = r, .id = t, .n = 4};
		pthread_create(&threads[t], NULL, writer_thread, &args[t]);
	}
	for (int t = 0; t < 8; t++) {
		pthread_join(threads[t], NULL);
		assert_int_equal(args[t].failures + args[t].duplicates, 4);
	}
	pthread_mutex_lock(&h.mu);
	assert_int_equal(h.failing, 1); /* however many writes and batches failed */
	assert_int_equal(h.code, AW_EBUSY);
	assert_int_equal(h.recovered, 0);
	pthread_mutex_unlock(&h.mu);

	assert_int_equal(sqlite3_exec(blocker, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(blocker);
	submit(r, &p, "after");
	assert_int_equal(sync_wait(&p.sr), 0);
	protobuf_c_message_free_unpacked(p.sr.result, NULL);
	pthread_mutex_lock(&h.mu);
	assert_int_equal(h.recovered, 1);
	assert_true(h.failed_batches >= 4 && h.failed_batches <= 3 + 32);
	pthread_mutex_unlock(&h.mu);
	aw_repo_close(r);
	pthread_mutex_destroy(&h.mu);
	assert_int_equal(count_rows(f->path), 2);
}

/* Writes `page` of `path` over with garbage. */
static void spoil_page(const char *path, int page)
{
	char junk[4096];
	FILE *fp = fopen(path, "r+b");

	assert_non_null(fp);
	memset(junk, 0xA5, sizeof(junk));
	assert_int_equal(fseek(fp, (long)(page - 1) * 4096, SEEK_SET), 0);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
	fclose(fp);
}

/* A leaf page of the series table, from the middle of it. */
static int series_leaf(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int pages[64], n = 0;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT pageno FROM dbstat WHERE name = 'anime_series'"
					    " AND pagetype = 'leaf' ORDER BY path",
					    -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW && n < 64)
		pages[n++] = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_true(n >= 3);
	return pages[n / 2];
}

/*
 * A batch whose later write meets a storage fault takes the earlier ones down
 * with it: they are reported failed and nothing of them is stored, though
 * each had succeeded on its own (writer.c: storage errors fail the batch).
 */
static void test_writer_sqlite_storage_fault_fails_the_whole_batch(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries change = ANIWORLD__V1__ANIME_SERIES__INIT;
	char desc[1800], key[32];
	int64_t bad = 0;
	heard h;
	aw_repo *r = open_hearing(f->path, &h, 1000);
	pending p, first, second;
	sync_req get, upd;

	memset(desc, 'd', sizeof(desc) - 1);
	desc[sizeof(desc) - 1] = '\0';
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "row-%d", i);
		p.s = (Aniworld__V1__AnimeSeries)ANIWORLD__V1__ANIME_SERIES__INIT;
		p.s.key = key;
		p.s.name = key;
		p.s.description = desc; /* two rows a page */
		aw_repo_series_create(r, sync_init(&p.sr), &p.s);
		assert_int_equal(sync_wait(&p.sr), 0);
		protobuf_c_message_free_unpacked(p.sr.result, NULL);
	}
	aw_repo_close(r);
	pthread_mutex_destroy(&h.mu);
	spoil_page(f->path, series_leaf(f->path));

	r = open_hearing(f->path, &h, 1000);
	for (int64_t id = 1; id <= 40 && bad == 0; id++) {
		aw_repo_series_get(r, sync_init(&get), id);
		if (sync_wait(&get) == AW_ECORRUPT)
			bad = id;
		protobuf_c_message_free_unpacked(get.result, NULL);
	}
	assert_true(bad > 0);
	pthread_mutex_lock(&h.mu);
	assert_int_equal(h.read_failed, 1);
	pthread_mutex_unlock(&h.mu);

	/* Two writes in one transaction: a new row, then a change to the spoilt one. */
	aw_repo_defer_writes(r);
	submit(r, &first, "fine-alone");
	submit(r, &second, "fine-alone-2");
	change.id = bad;
	change.name = "changed";
	aw_repo_series_update(r, sync_init(&upd), &change, AW_SERIES_NAME);
	aw_repo_flush(r);
	assert_int_equal(sync_wait(&first.sr), AW_ECORRUPT);
	assert_int_equal(sync_wait(&second.sr), AW_ECORRUPT);
	assert_int_equal(sync_wait(&upd), AW_ECORRUPT);
	assert_non_null(strstr(upd.err.msg, "database file is corrupt: "));
	assert_null(first.sr.result);
	assert_null(upd.result);

	/* Nothing of it is stored; alone, the same write works. */
	aw_repo_series_get_by_key(r, sync_init(&get), "fine-alone");
	assert_int_equal(sync_wait(&get), AW_ENOTFOUND);
	submit(r, &first, "fine-alone");
	aw_repo_flush(r);
	assert_int_equal(sync_wait(&first.sr), 0);
	protobuf_c_message_free_unpacked(first.sr.result, NULL);
	aw_repo_defer_writes(NULL);
	pthread_mutex_lock(&h.mu);
	assert_int_equal(h.failing, 1);
	assert_int_equal(h.code, AW_ECORRUPT);
	assert_int_equal(h.recovered, 1);
	pthread_mutex_unlock(&h.mu);
	aw_repo_close(r);
	pthread_mutex_destroy(&h.mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writer_sqlite_bounded_queue_refuses_overflow, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_writer_sqlite_storage_fault_fails_writes_and_is_told_once,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_sqlite_storage_fault_fails_the_whole_batch, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
