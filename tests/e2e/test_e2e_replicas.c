/*
 * End to end: several replicas of the real server binary, separate processes,
 * on one PostgreSQL database (issue 10). A series created through one is read
 * through another; eight claimers spread over two replicas claim 2,000 queued
 * items, each exactly once, none left behind; replicas started together on a
 * fresh database migrate it once and all come up; SIGKILL of one replica
 * under write load loses no acknowledged write and the other keeps serving.
 *
 * PostgreSQL only: ctest runs it with the fixture's server (test_db.h); with
 * AW_TEST_BACKEND unset it fails, since SQLite's single writer is exactly what
 * this is not about.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "aniworld/client.h"
#include "server_proc.h"
#include "test_db.h"

#define N_REPLICAS 2
#define PENDING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_PENDING
#define DOWNLOADING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_DOWNLOADING
#define READY_MS 60000

typedef struct fixture {
	char dir[64];  /* the servers' logs */
	test_db db;
	server_proc servers[4];
	aw_client *clients[4];
	int n;         /* servers launched */
} fixture;

/* Launches n replicas on f->db at once, then waits for each, and connects a
 * client to each. 0, or -1 after saying which failed. */
static int start_replicas(fixture *f, int n)
{
	for (int i = 0; i < n; i++) {
		snprintf(f->servers[i].log, sizeof(f->servers[i].log), "%s/replica-%d.log", f->dir, i);
		if (server_proc_launch(&f->servers[i], f->db.location, NULL) != 0) {
			fprintf(stderr, "replica %d did not launch\n", i);
			return -1;
		}
		f->n = i + 1;
	}
	for (int i = 0; i < n; i++) {
		if (server_proc_wait_ready(&f->servers[i], READY_MS) != 0) {
			fprintf(stderr, "replica %d did not start; its log is %s\n", i,
				f->servers[i].log);
			return -1;
		}
		if (aw_client_new(&f->clients[i], f->servers[i].target, NULL, NULL) != 0)
			return -1;
	}
	return 0;
}

static int setup_bare(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	*state = f;
	if (f == NULL)
		return -1;
	if (!test_db_is_postgres()) {
		fprintf(stderr, "test_e2e_replicas needs AW_TEST_BACKEND=postgres (run it via ctest)\n");
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "/tmp/aw-replicas-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	return test_db_create(&f->db, TEST_DB_FILE);
}

static int teardown(void **state);

/* cmocka runs no teardown after a failed setup: stop what did start here. */
static int setup(void **state)
{
	if (setup_bare(state) == 0 && start_replicas(*state, N_REPLICAS) == 0)
		return 0;
	teardown(state);
	*state = NULL;
	return -1;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[128];
	int failed = 0;

	if (f == NULL)
		return 0;
	for (int i = 0; i < f->n; i++) {
		int status;

		aw_client_free(f->clients[i]);
		status = server_proc_stop(&f->servers[i], SIGTERM);
		/* A clean exit: under ASan a leak or an error makes it non-zero. */
		if (status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			fprintf(stderr, "replica %d ended with status %#x; its log is %s\n", i, status,
				f->servers[i].log);
			failed = 1;
		}
	}
	test_db_drop(&f->db);
	if (f->dir[0] != '\0' && !failed) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", f->dir);
	}
	free(f);
	return failed ? -1 : 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static int64_t create_series(aw_client *c, const char *key)
{
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	aw_err err;
	int64_t id;

	s.key = (char *)key;
	s.name = (char *)key;
	s.site = "aniworld.to";
	req.series = &s;
	if (aw_client_series_create(c, &req, &out, &err, NULL) != 0)
		fail_msg("create series %s: %s", key, err.msg);
	id = out->id;
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return id;
}

/* total_size of the items in `status`, read through c. */
static int64_t count_status(aw_client *c, Aniworld__V1__DownloadStatus status)
{
	Aniworld__V1__ListDownloadsRequest req = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__ListDownloadsResponse *out = NULL;
	aw_err err;
	int64_t n;

	req.n_statuses = 1;
	req.statuses = &status;
	req.page_size = 1;
	if (aw_client_downloads_list(c, &req, &out, &err, NULL) != 0)
		fail_msg("list downloads: %s", err.msg);
	n = out->total_size;
	aniworld__v1__list_downloads_response__free_unpacked(out, NULL);
	return n;
}

/* ---- one database, several servers ------------------------------------------------------ */

/* What one replica writes, every other one reads at once: there is no cache
 * in front of the database. */
static void test_e2e_replicas_write_through_one_read_through_another(void **state)
{
	fixture *f = *state;
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__GetSeriesByKeyRequest by_key = ANIWORLD__V1__GET_SERIES_BY_KEY_REQUEST__INIT;
	Aniworld__V1__UpdateSeriesRequest upd = ANIWORLD__V1__UPDATE_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries change = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[] = {"name"};
	aw_err err;

	get.id = create_series(f->clients[0], "made-on-a");
	assert_int_equal(aw_client_series_get(f->clients[1], &get, &out, &err, NULL), 0);
	assert_string_equal(out->key, "made-on-a");
	assert_string_equal(out->site, "aniworld.to");
	aniworld__v1__anime_series__free_unpacked(out, NULL);

	/* Changed through B, read through A by key. */
	change.id = get.id;
	change.name = "Renamed on B";
	mask.n_paths = 1;
	mask.paths = paths;
	upd.series = &change;
	upd.update_mask = &mask;
	assert_int_equal(aw_client_series_update(f->clients[1], &upd, &out, &err, NULL), 0);
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	by_key.key = "made-on-a";
	assert_int_equal(aw_client_series_get_by_key(f->clients[0], &by_key, &out, &err, NULL), 0);
	assert_string_equal(out->name, "Renamed on B");
	aniworld__v1__anime_series__free_unpacked(out, NULL);

	/* A key taken through A is taken for B too. */
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries again = ANIWORLD__V1__ANIME_SERIES__INIT;
	again.key = "made-on-a";
	again.name = "again";
	req.series = &again;
	assert_int_equal(aw_client_series_create(f->clients[1], &req, &out, &err, NULL), AW_EEXIST);
}

#define N_ITEMS 2000
#define N_SEASONS 20
#define N_THREADS 8

typedef struct worker {
	aw_client *client;
	int64_t series;
	int first, count;  /* enqueuers: items first .. first+count-1 */
	int64_t *claimed;  /* claimers: the ids taken, N_ITEMS room */
	int n_claimed;
	int errors;
	char failure[320];
} worker;

static void *enqueue_main(void *arg)
{
	worker *w = arg;

	for (int i = w->first; i < w->first + w->count; i++) {
		Aniworld__V1__EnqueueDownloadRequest req = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
		Aniworld__V1__DownloadQueueItem item = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT, *out = NULL;
		aw_err err;

		item.series_id = w->series;
		item.season = i / (N_ITEMS / N_SEASONS) + 1;
		item.episode_number = i % (N_ITEMS / N_SEASONS) + 1;
		item.priority = (Aniworld__V1__DownloadPriority)(i % 3 + 1);
		item.download_url = "https://example.invalid/ep";
		item.file_destination = "/anime/ep.mp4";
		req.item = &item;
		if (aw_client_downloads_enqueue(w->client, &req, &out, &err, NULL) != 0) {
			w->errors++;
			snprintf(w->failure, sizeof(w->failure), "enqueue %d: %s", i, err.msg);
			continue;
		}
		aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	}
	return NULL;
}

/* Claims until the queue answers that nothing is pending. */
static void *claim_main(void *arg)
{
	worker *w = arg;

	for (;;) {
		Aniworld__V1__ClaimNextDownloadRequest req = ANIWORLD__V1__CLAIM_NEXT_DOWNLOAD_REQUEST__INIT;
		Aniworld__V1__ClaimNextDownloadResponse *out = NULL;
		aw_err err;

		if (aw_client_downloads_claim(w->client, &req, &out, &err, NULL) != 0) {
			w->errors++;
			snprintf(w->failure, sizeof(w->failure), "claim: %s", err.msg);
			if (w->errors > 20)
				return NULL;
			continue;
		}
		if (out->item == NULL) {
			aniworld__v1__claim_next_download_response__free_unpacked(out, NULL);
			return NULL;
		}
		if (w->n_claimed < N_ITEMS)
			w->claimed[w->n_claimed] = out->item->id;
		w->n_claimed++;
		aniworld__v1__claim_next_download_response__free_unpacked(out, NULL);
	}
}

static int compare_ids(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* ClaimNextDownload is exactly once across replicas: eight claimers, four on
 * each replica, race for 2,000 items; every item is claimed by exactly one of
 * them and none stays PENDING. */
static void test_e2e_replicas_claims_are_exactly_once(void **state)
{
	fixture *f = *state;
	worker w[N_THREADS];
	pthread_t threads[N_THREADS];
	int64_t series = create_series(f->clients[0], "claimed-everywhere");
	int64_t *all = calloc(N_ITEMS, sizeof(*all));
	int total = 0;

	assert_non_null(all);
	/* Queued through both replicas at once (group commit on each). */
	for (int t = 0; t < N_THREADS; t++) {
		w[t] = (worker){.client = f->clients[t % N_REPLICAS], .series = series,
				.first = t * (N_ITEMS / N_THREADS), .count = N_ITEMS / N_THREADS};
		pthread_create(&threads[t], NULL, enqueue_main, &w[t]);
	}
	for (int t = 0; t < N_THREADS; t++) {
		pthread_join(threads[t], NULL);
		if (w[t].errors != 0)
			fail_msg("enqueuer %d: %d errors, last: %s", t, w[t].errors, w[t].failure);
	}
	assert_int_equal(count_status(f->clients[1], PENDING), N_ITEMS);

	for (int t = 0; t < N_THREADS; t++) {
		w[t] = (worker){.client = f->clients[t % N_REPLICAS]};
		w[t].claimed = calloc(N_ITEMS, sizeof(int64_t));
		assert_non_null(w[t].claimed);
		pthread_create(&threads[t], NULL, claim_main, &w[t]);
	}
	for (int t = 0; t < N_THREADS; t++)
		pthread_join(threads[t], NULL);
	for (int t = 0; t < N_THREADS; t++) {
		if (w[t].errors != 0)
			fail_msg("claimer %d: %d errors, last: %s", t, w[t].errors, w[t].failure);
		if (total + w[t].n_claimed > N_ITEMS)
			fail_msg("more claims than items: %d so far", total + w[t].n_claimed);
		memcpy(all + total, w[t].claimed, (size_t)w[t].n_claimed * sizeof(int64_t));
		total += w[t].n_claimed;
	}
	/* Both replicas did claim (the claimers were spread over both). */
	assert_true(w[0].n_claimed + w[2].n_claimed + w[4].n_claimed + w[6].n_claimed > 0);
	assert_true(w[1].n_claimed + w[3].n_claimed + w[5].n_claimed + w[7].n_claimed > 0);
	assert_int_equal(total, N_ITEMS);
	qsort(all, (size_t)total, sizeof(*all), compare_ids);
	for (int i = 1; i < total; i++) {
		if (all[i] == all[i - 1])
			fail_msg("item %lld was claimed twice", (long long)all[i]);
	}
	assert_int_equal(count_status(f->clients[0], PENDING), 0);
	assert_int_equal(count_status(f->clients[1], DOWNLOADING), N_ITEMS);
	for (int t = 0; t < N_THREADS; t++)
		free(w[t].claimed);
	free(all);
}

/* Four replicas started at the same moment on a database never migrated:
 * all of them come up, each migration is recorded once, and the schema works
 * through every one of them. */
static void test_e2e_replicas_started_together_migrate_once(void **state)
{
	fixture *f = *state;
	int64_t rows = -1, distinct = -1, newest = -1;
	char key[32];

	assert_int_equal(start_replicas(f, 4), 0);
	assert_int_equal(test_db_int(&f->db, "SELECT COUNT(*) FROM schema_version", &rows), 0);
	assert_int_equal(test_db_int(&f->db, "SELECT COUNT(DISTINCT version) FROM schema_version",
				     &distinct), 0);
	assert_int_equal(test_db_int(&f->db, "SELECT MAX(version) FROM schema_version", &newest), 0);
	assert_true(newest >= 1);
	assert_int_equal(rows, newest);
	assert_int_equal(distinct, newest);
	for (int i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "through-%d", i);
		create_series(f->clients[i], key);
	}
	Aniworld__V1__ListSeriesRequest req = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *out = NULL;
	aw_err err;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(aw_client_series_list(f->clients[i], &req, &out, &err, NULL), 0);
		assert_int_equal(out->total_size, 4);
		aniworld__v1__list_series_response__free_unpacked(out, NULL);
	}
}

/* ---- one replica killed ------------------------------------------------------------------- */

#define KILL_ROUNDS 3
#define KILL_WRITERS 4   /* two on each replica */
#define KILL_ACKS 20     /* creates each writer has acknowledged before the kill */
#define AFTER_ACKS 30    /* and the survivor's writers after it */
#define KILL_WAIT_MS 20000

typedef struct kwriter {
	int index;
	aw_client *client;        /* on replica index % N_REPLICAS */
	atomic_int stop;
	atomic_long acked;        /* creates answered OK */
	char (*keys)[32];         /* the keys acknowledged, `acked` of them */
	int64_t *ids;             /* and their ids */
	long cap;
	char unanswered[32];      /* the create that failed, if any: done or not */
	char failure[AW_ERR_MSG_MAX];
	atomic_int failed_code;   /* set last, after the two above */
} kwriter;

/* Creates series until told to stop or a create fails. */
static void *kwriter_main(void *arg)
{
	kwriter *w = arg;

	for (long n = 0; !atomic_load(&w->stop); n++) {
		Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
		Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
		long i = atomic_load(&w->acked);
		char key[32];
		aw_err err;
		int rc;

		snprintf(key, sizeof(key), "k%d-%ld", w->index, n);
		s.key = key;
		s.name = key;
		req.series = &s;
		rc = aw_client_series_create(w->client, &req, &out, &err, NULL);
		if (rc != 0) {
			snprintf(w->unanswered, sizeof(w->unanswered), "%s", key);
			snprintf(w->failure, sizeof(w->failure), "%s", err.msg);
			atomic_store(&w->failed_code, rc);
			return NULL;
		}
		if (i == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 256;
			w->keys = realloc(w->keys, (size_t)w->cap * sizeof(*w->keys));
			w->ids = realloc(w->ids, (size_t)w->cap * sizeof(*w->ids));
			if (w->keys == NULL || w->ids == NULL)
				abort(); /* on a writer thread: no cmocka assertions there */
		}
		snprintf(w->keys[i], sizeof(w->keys[i]), "%s", key);
		w->ids[i] = out->id;
		aniworld__v1__anime_series__free_unpacked(out, NULL);
		atomic_store(&w->acked, i + 1);
	}
	return NULL;
}

/* Waits until each writer of replica `replica` (-1: every writer) has
 * acknowledged `n` creates more than base[] says, or one of them failed; at
 * most KILL_WAIT_MS. Returns whether they all did. */
static int kwriters_wait(kwriter *w, const long *base, int replica, long n)
{
	long long until = server_proc_now_ms() + KILL_WAIT_MS;
	struct timespec ts = {0, 10 * 1000000};

	do {
		int done = 1;

		for (int i = 0; i < KILL_WRITERS; i++) {
			if (replica >= 0 && i % N_REPLICAS != replica)
				continue;
			if (atomic_load(&w[i].failed_code) != 0)
				return 0;
			if (atomic_load(&w[i].acked) - base[i] < n)
				done = 0;
		}
		if (done)
			return 1;
		nanosleep(&ts, NULL);
	} while (server_proc_now_ms() < until);
	return 0;
}

/* Runs one round: two writers through each replica, SIGKILL of `victim` once
 * each has KILL_ACKS creates acknowledged, on until the survivor's have
 * AFTER_ACKS more; the survivor's writers must not fail once. Then the victim
 * is started again. */
static void kill_round(fixture *f, kwriter *w, int round, int victim)
{
	pthread_t threads[KILL_WRITERS];
	long base[KILL_WRITERS] = {0};
	int survivor = 1 - victim, status, ok;

	for (int i = 0; i < KILL_WRITERS; i++) {
		aw_client_options o;

		aw_client_options_init(&o);
		o.deadline_ms = 5000;
		o.dedicated_connection = 1;
		w[i].index = round * KILL_WRITERS + i;
		assert_int_equal(aw_client_new(&w[i].client, f->servers[i % N_REPLICAS].target, &o,
					       NULL), 0);
		assert_int_equal(pthread_create(&threads[i], NULL, kwriter_main, &w[i]), 0);
	}
	ok = kwriters_wait(w, base, -1, KILL_ACKS);
	if (ok) {
		status = server_proc_stop(&f->servers[victim], SIGKILL);
		ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	}
	if (ok) {
		for (int i = 0; i < KILL_WRITERS; i++)
			base[i] = atomic_load(&w[i].acked);
		ok = kwriters_wait(w, base, survivor, AFTER_ACKS);
	}
	for (int i = 0; i < KILL_WRITERS; i++)
		atomic_store(&w[i].stop, 1);
	for (int i = 0; i < KILL_WRITERS; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < KILL_WRITERS; i++) {
		aw_client_free(w[i].client);
		w[i].client = NULL;
	}
	for (int i = survivor; i < KILL_WRITERS; i += N_REPLICAS) {
		if (atomic_load(&w[i].failed_code) != 0)
			fail_msg("round %d, writer %d on the surviving replica: %s %s", round, i,
				 aw_err_name(atomic_load(&w[i].failed_code)), w[i].failure);
	}
	if (!ok)
		fail_msg("round %d: the writers did not get %d creates acknowledged before the kill "
			 "and %d after it within %d ms", round, KILL_ACKS, AFTER_ACKS, KILL_WAIT_MS);
	assert_int_equal(server_proc_health(f->servers[survivor].target, 2000, NULL), 1);
	assert_int_equal(server_proc_start(&f->servers[victim], f->db.location, NULL), 0);
}

/* SIGKILL of one replica while two writers create series through each, three
 * times (A, B, A; each started again after): the other replica's writers go
 * on without a single failure and its health stays SERVING; afterwards every
 * create either replica acknowledged is stored with its id, a create the
 * killed one never answered is stored or not, and nothing else is. */
static void test_e2e_replicas_sigkill_of_one_loses_nothing(void **state)
{
	fixture *f = *state;
	kwriter w[KILL_ROUNDS * KILL_WRITERS];
	Aniworld__V1__ListSeriesRequest req = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	aw_client *reader;
	long acked = 0, late = 0;
	char *token;

	memset(w, 0, sizeof(w));
	for (int round = 0; round < KILL_ROUNDS; round++)
		kill_round(f, &w[round * KILL_WRITERS], round, round % N_REPLICAS);

	/* Everything, read through replica 1 (restarted: a new port). */
	assert_int_equal(aw_client_new(&reader, f->servers[1].target, NULL, NULL), 0);
	req.page_size = 1000;
	token = strdup("");
	assert_non_null(token);
	for (;;) {
		Aniworld__V1__ListSeriesResponse *page = NULL;
		aw_err err;

		req.page_token = token;
		if (aw_client_series_list(reader, &req, &page, &err, NULL) != 0)
			fail_msg("list after the kills: %s", err.msg);
		for (size_t s = 0; s < page->n_series; s++) {
			const Aniworld__V1__AnimeSeries *got = page->series[s];
			int known = 0;

			for (int i = 0; i < KILL_ROUNDS * KILL_WRITERS && !known; i++) {
				for (long k = 0; k < w[i].acked && !known; k++) {
					if (strcmp(w[i].keys[k], got->key) != 0)
						continue;
					if (w[i].ids[k] != got->id)
						fail_msg("series %s: id %lld stored, %lld acknowledged",
							 got->key, (long long)got->id,
							 (long long)w[i].ids[k]);
					w[i].ids[k] = -w[i].ids[k]; /* found */
					known = 1;
				}
				if (!known && strcmp(w[i].unanswered, got->key) == 0) {
					late++;
					known = 1;
				}
			}
			if (!known)
				fail_msg("series %s is stored, but no writer made it", got->key);
		}
		free(token);
		token = strdup(page->next_page_token);
		assert_non_null(token);
		aniworld__v1__list_series_response__free_unpacked(page, NULL);
		if (token[0] == '\0')
			break;
	}
	free(token);
	aw_client_free(reader);
	for (int i = 0; i < KILL_ROUNDS * KILL_WRITERS; i++) {
		for (long k = 0; k < w[i].acked; k++) {
			if (w[i].ids[k] > 0)
				fail_msg("series %s, acknowledged in round %d, is missing", w[i].keys[k],
					 i / KILL_WRITERS);
		}
		acked += w[i].acked;
		free(w[i].keys);
		free(w[i].ids);
	}
	print_message("replicas: %d SIGKILLs of one replica under 4 writers: %ld creates "
		      "acknowledged, all stored; %ld of the creates a killed replica never answered "
		      "had happened; the survivors' writers failed no call\n", KILL_ROUNDS, acked,
		      late);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_e2e_replicas_write_through_one_read_through_another,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_replicas_claims_are_exactly_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_e2e_replicas_started_together_migrate_once,
						setup_bare, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_replicas_sigkill_of_one_loses_nothing, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
