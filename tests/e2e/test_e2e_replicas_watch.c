/*
 * End to end: WatchDownloads across replicas (issue 10). Two processes of the
 * real server on one PostgreSQL database: a watcher connected to B receives
 * the events of the writes made through A, in the order they committed, and
 * the writes through B among them; when B loses its connection to the
 * database for events, its watch streams end with UNAVAILABLE, and a new
 * watch hears of changes again once B listens anew.
 *
 * PostgreSQL only: ctest runs it with the fixture's server (test_db.h).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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

#define READY_MS 60000
#define EVENT_MS 10000

#define CREATED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_CREATED
#define UPDATED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_UPDATED
#define DELETED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_DELETED
#define PENDING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_PENDING
#define DOWNLOADING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_DOWNLOADING
#define COMPLETED ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_COMPLETED

typedef Aniworld__V1__DownloadQueueItem item;

typedef struct fixture {
	char dir[64];  /* the servers' logs */
	test_db db;
	server_proc servers[2];
	aw_client *clients[2];
	int n;         /* servers launched */
} fixture;

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

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	*state = f;
	if (f == NULL)
		return -1;
	if (!test_db_is_postgres()) {
		fprintf(stderr, "test_e2e_replicas_watch needs AW_TEST_BACKEND=postgres (run it "
				"via ctest)\n");
		goto fail;
	}
	snprintf(f->dir, sizeof(f->dir), "/tmp/aw-replwatch-XXXXXX");
	if (mkdtemp(f->dir) == NULL || test_db_create(&f->db, TEST_DB_FILE) != 0)
		goto fail;
	for (int i = 0; i < 2; i++) {
		snprintf(f->servers[i].log, sizeof(f->servers[i].log), "%s/replica-%d.log", f->dir, i);
		if (server_proc_launch(&f->servers[i], f->db.location, NULL) != 0)
			goto fail;
		f->n = i + 1;
	}
	for (int i = 0; i < 2; i++) {
		if (server_proc_wait_ready(&f->servers[i], READY_MS) != 0) {
			fprintf(stderr, "replica %d did not start; its log is %s\n", i,
				f->servers[i].log);
			goto fail;
		}
		if (aw_client_new(&f->clients[i], f->servers[i].target, NULL, NULL) != 0)
			goto fail;
	}
	return 0;

fail:
	teardown(state);
	*state = NULL;
	return -1;
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
	req.series = &s;
	if (aw_client_series_create(c, &req, &out, &err, NULL) != 0)
		fail_msg("create series %s: %s", key, err.msg);
	id = out->id;
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return id;
}

static int64_t enqueue(aw_client *c, int64_t series, int episode)
{
	Aniworld__V1__EnqueueDownloadRequest req = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
	item d = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT, *out = NULL;
	aw_err err;
	int64_t id;

	d.series_id = series;
	d.season = 1;
	d.episode_number = episode;
	d.download_url = "https://example.invalid/ep";
	d.file_destination = "/anime/ep.mp4";
	req.item = &d;
	if (aw_client_downloads_enqueue(c, &req, &out, &err, NULL) != 0)
		fail_msg("enqueue episode %d: %s", episode, err.msg);
	id = out->id;
	aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	return id;
}

static aw_watch *must_watch(aw_client *c)
{
	Aniworld__V1__WatchDownloadsRequest req = ANIWORLD__V1__WATCH_DOWNLOADS_REQUEST__INIT;
	aw_watch *w = NULL;
	aw_err err;

	if (aw_client_downloads_watch(c, &req, &w, &err, NULL) != 0)
		fail_msg("WatchDownloads: %s", err.msg);
	return w;
}

/* Reads the next event, which must be {type, id, status}. */
static void expect_event(aw_watch *w, int type, int64_t id, int status)
{
	Aniworld__V1__DownloadEvent *e = NULL;
	aw_err err;
	int rc = aw_watch_next(w, &e, EVENT_MS, &err);

	if (rc != 0)
		fail_msg("waiting for event (type %d, item %lld): %s (%s)", type, (long long)id,
			 aw_err_name(rc), err.msg);
	if ((int)e->type != type || e->item == NULL || e->item->id != id ||
	    (int)e->item->status != status)
		fail_msg("got event type %d item %lld status %d, want type %d item %lld status %d",
			 e->type, e->item != NULL ? (long long)e->item->id : -1LL,
			 e->item != NULL ? (int)e->item->status : -1, type, (long long)id, status);
	aniworld__v1__download_event__free_unpacked(e, NULL);
}

/* ---- the tests --------------------------------------------------------------------------- */

/* A watcher on B sees every change written through A (and through B), in the
 * order they committed, each once. */
static void test_e2e_replicas_watch_sees_other_replica_in_order(void **state)
{
	fixture *f = *state;
	aw_client *a = f->clients[0], *b = f->clients[1];
	aw_watch *w = must_watch(b);
	int64_t series = create_series(a, "watched-across");
	Aniworld__V1__ClaimNextDownloadRequest claim = ANIWORLD__V1__CLAIM_NEXT_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__ClaimNextDownloadResponse *claimed = NULL;
	Aniworld__V1__CompleteDownloadRequest complete = ANIWORLD__V1__COMPLETE_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__DeleteSeriesRequest del = ANIWORLD__V1__DELETE_SERIES_REQUEST__INIT;
	item *out = NULL;
	Aniworld__V1__DownloadEvent *e = NULL;
	int64_t ids[20];
	aw_err err;

	/* Twenty items through A, one at a time: their CREATED in that order. */
	for (int i = 0; i < 20; i++)
		ids[i] = enqueue(a, series, i + 1);
	for (int i = 0; i < 20; i++)
		expect_event(w, CREATED, ids[i], PENDING);

	/* A claim through A, its completion through B, the series deleted through A. */
	assert_int_equal(aw_client_downloads_claim(a, &claim, &claimed, &err, NULL), 0);
	assert_int_equal(claimed->item->id, ids[0]);
	aniworld__v1__claim_next_download_response__free_unpacked(claimed, NULL);
	complete.id = ids[0];
	assert_int_equal(aw_client_downloads_complete(b, &complete, &out, &err, NULL), 0);
	aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	del.id = series;
	assert_int_equal(aw_client_series_delete(a, &del, &err, NULL), 0);

	expect_event(w, UPDATED, ids[0], DOWNLOADING);
	expect_event(w, UPDATED, ids[0], COMPLETED);
	expect_event(w, DELETED, ids[0], COMPLETED);
	for (int i = 1; i < 20; i++)
		expect_event(w, DELETED, ids[i], PENDING);
	assert_int_equal(aw_watch_next(w, &e, 200, &err), AW_ETIMEDOUT); /* nothing more */
	aw_watch_free(w);
}

/* B's connection for events is cut (the database ends it): its watchers cannot
 * know what they missed, so their streams end with UNAVAILABLE; B listens
 * again by itself, and a new watch on B hears of A's writes. */
static void test_e2e_replicas_watch_ends_when_events_are_lost(void **state)
{
	fixture *f = *state;
	aw_client *a = f->clients[0], *b = f->clients[1];
	aw_watch *w = must_watch(b);
	int64_t series = create_series(a, "cut-off");
	Aniworld__V1__DownloadEvent *e = NULL;
	long long until;
	aw_err err;
	int rc;

	expect_event(w, CREATED, enqueue(a, series, 1), PENDING);
	/* Every listening connection on this database (A's and B's), known by
	 * its last statement: LISTEN, the outbox sweep, or the sync marker it
	 * notifies itself when a watch begins. */
	assert_int_equal(test_db_exec(&f->db,
				      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
				      "WHERE pid <> pg_backend_pid() AND datname = current_database() "
				      "AND (query LIKE 'LISTEN%' OR query LIKE 'DELETE FROM "
				      "download_event_outbox%' OR query LIKE "
				      "'SELECT pg_notify(''aniworld_downloads'', ''s%')"),
			 0);
	rc = aw_watch_next(w, &e, EVENT_MS, &err);
	assert_int_equal(rc, AW_EUNAVAIL);
	assert_non_null(strstr(err.msg, "lost"));
	aw_watch_free(w);

	/* Watch again until a change made after the watch began is heard: B
	 * reconnects with backoff, and meanwhile a watch is refused, or ended
	 * if it was taken just before B listened again: never left silent. */
	until = server_proc_now_ms() + 20000;
	for (int episode = 2; server_proc_now_ms() < until; episode++) {
		Aniworld__V1__WatchDownloadsRequest req = ANIWORLD__V1__WATCH_DOWNLOADS_REQUEST__INIT;
		struct timespec pace = {0, 50 * 1000000};
		int64_t id;

		w = NULL;
		rc = aw_client_downloads_watch(b, &req, &w, &err, NULL);
		if (rc != 0) {
			assert_int_equal(rc, AW_EUNAVAIL);
			nanosleep(&pace, NULL);
			continue;
		}
		id = enqueue(a, series, episode);
		rc = aw_watch_next(w, &e, 5000, &err);
		if (rc == 0) {
			assert_int_equal(e->type, CREATED);
			assert_int_equal(e->item->id, id);
			aniworld__v1__download_event__free_unpacked(e, NULL);
			aw_watch_free(w);
			return;
		}
		/* Not a silence: a change missed is said by ending the stream. */
		assert_int_equal(rc, AW_EUNAVAIL);
		aw_watch_free(w);
	}
	fail_msg("B never heard of A's writes again");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_e2e_replicas_watch_sees_other_replica_in_order,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_replicas_watch_ends_when_events_are_lost,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
