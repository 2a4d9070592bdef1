/*
 * Tests the download queue of the repository (server/repo/download_queue.c and the
 * backends' downloads) on a real database of the backend under test (test_db.h:
 * ctest runs this suite on SQLite and on PostgreSQL): every operation, every
 * error and status change, queue order, pagination, stale claims. SQLite's
 * query plans are checked in test_repo_sqlite.c.
 */
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
#include "test_clock.h"
#include "test_db.h"

typedef Aniworld__V1__DownloadQueueItem item;

#define LOW ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_LOW
#define NORMAL ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_NORMAL
#define HIGH ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_HIGH
#define EV_UPDATED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_UPDATED
#define EV_DELETED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_DELETED

typedef struct fixture {
	test_db db;
	aw_repo *repo;
	int64_t series;   /* a series to queue episodes of */
	int64_t series2;  /* another one */
	test_clock clock; /* the repository's time */
} fixture;

static int64_t make_series(aw_repo *r, const char *key)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	sync_req sr;
	int64_t id;

	s.key = (char *)key;
	s.name = (char *)key;
	aw_repo_series_create(r, sync_init(&sr), &s);
	if (sync_wait(&sr) != 0)
		return -1;
	id = ((Aniworld__V1__AnimeSeries *)sr.result)->id;
	protobuf_c_message_free_unpacked(sr.result, NULL);
	return id;
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

/* cmocka runs no teardown after a failed setup: undo what it made (the
 * database above all, whose files would otherwise wait for the server's
 * checkpoints). */
static int setup_failed(void **state)
{
	teardown(state);
	*state = NULL;
	return -1;
}

static int setup_with(void **state, int flags)
{
	fixture *f = calloc(1, sizeof(*f));
	aw_repo_options opts;
	aw_err err;

	*state = f;
	if (f == NULL)
		return setup_failed(state);
	if (test_db_create(&f->db, flags) != 0)
		return setup_failed(state);
	aw_repo_options_defaults(&opts);
	test_clock_use(&f->clock, &opts);
	if (aw_repo_open(&f->repo, f->db.location, &opts, &err) != 0) {
		fprintf(stderr, "cannot open %s: %s\n", f->db.location, err.msg);
		return setup_failed(state);
	}
	f->series = make_series(f->repo, "frieren");
	f->series2 = make_series(f->repo, "mushishi");
	if (f->series < 0 || f->series2 < 0)
		return setup_failed(state);
	return 0;
}

static int setup_memory(void **state)
{
	return setup_with(state, TEST_DB_MEMORY);
}

static int setup_file(void **state)
{
	return setup_with(state, TEST_DB_FILE);
}

/* ---- helpers ------------------------------------------------------------------------ */

static int64_t ts_us(const Google__Protobuf__Timestamp *t)
{
	return t->seconds * 1000000 + t->nanos / 1000;
}

static void drop(void *msg)
{
	if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, NULL);
}

static item *enqueue(aw_repo *r, int64_t series, int season, int episode, int priority, int *rc,
		     aw_err *err)
{
	item in = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	sync_req sr;

	in.series_id = series;
	in.season = season;
	in.episode_number = episode;
	in.priority = priority;
	in.download_url = "https://example.invalid/ep";
	in.file_destination = "/anime/ep.mp4";
	aw_repo_downloads_enqueue(r, sync_init(&sr), &in);
	*rc = sync_wait(&sr);
	if (err != NULL)
		*err = sr.err;
	return (item *)sr.result;
}

static item *must_enqueue(aw_repo *r, int64_t series, int season, int episode, int priority)
{
	aw_err err;
	int rc;
	item *d = enqueue(r, series, season, episode, priority, &rc, &err);

	if (rc != 0)
		fail_msg("enqueue %d/%d: %s", season, episode, err.msg);
	return d;
}

/* Claims with `stale_ms`; the claimed item (NULL when none) and, when asked,
 * the requeued ones. */
static item *claim(aw_repo *r, int64_t stale_ms, aw_download_changes *requeued)
{
	aw_download_changes own = {0};
	sync_req sr;

	aw_repo_downloads_claim(r, sync_init(&sr), stale_ms, requeued != NULL ? requeued : &own);
	assert_int_equal(sync_wait(&sr), 0);
	Aniworld__V1__ClaimNextDownloadResponse *res = (void *)sr.result;
	item *d = res->item;
	res->item = NULL;
	drop(res);
	aw_download_changes_clear(&own, NULL);
	return d;
}

static item *transition(aw_repo *r, int64_t id, aw_download_action action, int *rc, aw_err *err)
{
	sync_req sr;

	aw_repo_downloads_transition(r, sync_init(&sr), id, action,
				     action == AW_DL_FAIL ? "connection reset" : NULL);
	*rc = sync_wait(&sr);
	if (err != NULL)
		*err = sr.err;
	return (item *)sr.result;
}

static item *must_transition(aw_repo *r, int64_t id, aw_download_action action)
{
	aw_err err;
	int rc;
	item *d = transition(r, id, action, &rc, &err);

	if (rc != 0)
		fail_msg("action %d on %lld: %s", (int)action, (long long)id, err.msg);
	return d;
}

static item *progress(aw_repo *r, int64_t id, int64_t done, int64_t total, int *rc, aw_err *err)
{
	Aniworld__V1__ReportProgressRequest in = ANIWORLD__V1__REPORT_PROGRESS_REQUEST__INIT;
	sync_req sr;

	in.id = id;
	in.downloaded_bytes = done;
	in.total_bytes = total;
	in.download_speed = 1234.5;
	aw_repo_downloads_progress(r, sync_init(&sr), &in);
	*rc = sync_wait(&sr);
	if (err != NULL)
		*err = sr.err;
	return (item *)sr.result;
}

static int delete_item(aw_repo *r, int64_t id, aw_download_changes *deleted, aw_err *err)
{
	sync_req sr;

	aw_repo_downloads_delete(r, sync_init(&sr), id, deleted);
	int rc = sync_wait(&sr);
	if (err != NULL)
		*err = sr.err;
	drop(sr.result);
	return rc;
}

static void remove_item(aw_repo *r, int64_t id)
{
	aw_download_changes deleted = {0};

	assert_int_equal(delete_item(r, id, &deleted, NULL), 0);
	aw_download_changes_clear(&deleted, NULL);
}

static Aniworld__V1__ListDownloadsResponse *list(aw_repo *r, const int *statuses, size_t n,
						  int64_t series, int page_size, const char *token,
						  int *rc)
{
	Aniworld__V1__ListDownloadsRequest in = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__DownloadStatus st[8];
	sync_req sr;

	for (size_t i = 0; i < n; i++)
		st[i] = (Aniworld__V1__DownloadStatus)statuses[i];
	in.n_statuses = n;
	in.statuses = st;
	in.series_id = series;
	in.page_size = page_size;
	in.page_token = (char *)(token != NULL ? token : "");
	aw_repo_downloads_list(r, sync_init(&sr), &in, page_size);
	*rc = sync_wait(&sr);
	return (Aniworld__V1__ListDownloadsResponse *)sr.result;
}

/* The first value `sql` yields on the fixture's database, read with a
 * connection of the test's own; -1 for NULL. */
static int64_t side_value(const test_db *db, const char *sql)
{
	int64_t v;

	if (test_db_int(db, sql, &v) != 0)
		fail_msg("%s failed on %s", sql, test_db_backend());
	return v;
}

/* ---- enqueue, get, update, delete ---------------------------------------------------- */

static void test_repo_download_queue_enqueue_and_get(void **state)
{
	fixture *f = *state;
	item in = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	int64_t before = test_clock_now(&f->clock);
	sync_req sr;

	in.id = 777; /* ignored, like everything the server owns */
	in.series_id = f->series;
	in.season = 2;
	in.episode_number = 7;
	in.status = ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_COMPLETED;
	in.priority = ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_UNSPECIFIED;
	in.progress_percent = 50;
	in.downloaded_bytes = 10;
	in.retry_count = 4;
	in.error_message = "ignored";
	in.download_url = "https://example.invalid/frieren/2/7";
	in.file_destination = "/anime/Frieren/S02E07.mp4";
	aw_repo_downloads_enqueue(f->repo, sync_init(&sr), &in);
	assert_int_equal(sync_wait(&sr), 0);
	item *d = (item *)sr.result;
	assert_true(d->id > 0 && d->id != 777);
	assert_int_equal(d->series_id, f->series);
	assert_int_equal(d->season, 2);
	assert_int_equal(d->episode_number, 7);
	assert_int_equal(d->status, AW_DL_PENDING);
	assert_int_equal(d->priority, NORMAL);
	assert_true(d->progress_percent == 0);
	assert_int_equal(d->downloaded_bytes, 0);
	assert_int_equal(d->retry_count, 0);
	assert_string_equal(d->error_message, "");
	assert_string_equal(d->download_url, "https://example.invalid/frieren/2/7");
	assert_string_equal(d->file_destination, "/anime/Frieren/S02E07.mp4");
	assert_null(d->started_at);
	assert_null(d->completed_at);
	assert_true(ts_us(d->created_at) >= before);
	assert_int_equal(ts_us(d->created_at), ts_us(d->updated_at));

	aw_repo_downloads_get(f->repo, sync_init(&sr), d->id);
	assert_int_equal(sync_wait(&sr), 0);
	item *g = (item *)sr.result;
	assert_int_equal(g->id, d->id);
	assert_string_equal(g->download_url, d->download_url);
	assert_int_equal(ts_us(g->created_at), ts_us(d->created_at));
	assert_null(g->started_at);
	drop(g);
	drop(d);
}

static void test_repo_download_queue_enqueue_errors(void **state)
{
	fixture *f = *state;
	aw_err err;
	int rc;

	/* A series that does not exist. */
	assert_null(enqueue(f->repo, 424242, 1, 1, NORMAL, &rc, &err));
	assert_int_equal(rc, AW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "series 424242"));

	/* One unfinished item per episode, whatever its unfinished status. */
	item *a = must_enqueue(f->repo, f->series, 1, 1, NORMAL);
	assert_null(enqueue(f->repo, f->series, 1, 1, HIGH, &rc, &err));
	assert_int_equal(rc, AW_EEXIST);
	assert_non_null(strstr(err.msg, "season 1 episode 1"));
	assert_non_null(strstr(err.msg, "PENDING"));
	drop(must_transition(f->repo, a->id, AW_DL_PAUSE));
	assert_null(enqueue(f->repo, f->series, 1, 1, HIGH, &rc, &err));
	assert_int_equal(rc, AW_EEXIST);
	assert_non_null(strstr(err.msg, "PAUSED"));

	/* Other episodes, seasons and series are free. */
	drop(must_enqueue(f->repo, f->series, 1, 2, NORMAL));
	drop(must_enqueue(f->repo, f->series, 2, 1, NORMAL));
	drop(must_enqueue(f->repo, f->series2, 1, 1, NORMAL));

	/* Once finished, the episode can be queued again. */
	drop(must_transition(f->repo, a->id, AW_DL_CANCEL));
	drop(must_enqueue(f->repo, f->series, 1, 1, NORMAL));
	drop(a);
}

static void test_repo_download_queue_not_found(void **state)
{
	fixture *f = *state;
	item in = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	aw_download_changes changes = {0};
	aw_err err;
	sync_req sr;
	int rc;

	aw_repo_downloads_get(f->repo, sync_init(&sr), 9191);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	assert_non_null(strstr(sr.err.msg, "download 9191"));
	assert_null(sr.result);

	in.id = 9191;
	aw_repo_downloads_update(f->repo, sync_init(&sr), &in, AW_DOWNLOAD_ALL);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	assert_non_null(strstr(sr.err.msg, "9191"));

	assert_int_equal(delete_item(f->repo, 9191, &changes, &err), AW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "9191"));
	assert_int_equal(changes.n_events, 0);

	assert_null(progress(f->repo, 9191, 1, 2, &rc, &err));
	assert_int_equal(rc, AW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "9191"));
	for (int a = 0; a < AW_DL_ACTIONS; a++) {
		assert_null(transition(f->repo, 9191, (aw_download_action)a, &rc, &err));
		assert_int_equal(rc, AW_ENOTFOUND);
		assert_non_null(strstr(err.msg, "download 9191 not found"));
	}
}

static void test_repo_download_queue_update_applies_mask(void **state)
{
	fixture *f = *state;
	item *a = must_enqueue(f->repo, f->series, 1, 1, LOW);
	item in = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	sync_req sr;

	in.id = a->id;
	in.priority = HIGH;
	in.download_url = "https://mirror.invalid/ep";
	in.file_destination = "ignored: not in the mask";
	in.season = 9; /* immutable: never stored */
	aw_repo_downloads_update(f->repo, sync_init(&sr), &in,
				 AW_DOWNLOAD_PRIORITY | AW_DOWNLOAD_URL);
	assert_int_equal(sync_wait(&sr), 0);
	item *u = (item *)sr.result;
	assert_int_equal(u->priority, HIGH);
	assert_string_equal(u->download_url, "https://mirror.invalid/ep");
	assert_string_equal(u->file_destination, "/anime/ep.mp4");
	assert_int_equal(u->season, 1);
	assert_int_equal(u->status, AW_DL_PENDING);
	assert_int_equal(ts_us(u->created_at), ts_us(a->created_at));
	assert_true(ts_us(u->updated_at) > ts_us(a->updated_at));
	drop(u);

	/* UNSPECIFIED priority is stored as NORMAL, as on enqueue. */
	in.priority = 0;
	in.file_destination = "";
	aw_repo_downloads_update(f->repo, sync_init(&sr), &in, AW_DOWNLOAD_ALL);
	assert_int_equal(sync_wait(&sr), 0);
	u = (item *)sr.result;
	assert_int_equal(u->priority, NORMAL);
	assert_string_equal(u->file_destination, "");
	drop(u);
	drop(a);
}

static void test_repo_download_queue_delete_records_the_item(void **state)
{
	fixture *f = *state;
	item *a = must_enqueue(f->repo, f->series2, 3, 4, NORMAL);
	aw_download_changes deleted = {0};
	sync_req sr;

	assert_int_equal(delete_item(f->repo, a->id, &deleted, NULL), 0);
	assert_int_equal(deleted.n_events, 1);
	assert_int_equal(deleted.events[0]->type, EV_DELETED);
	assert_int_equal(deleted.events[0]->item->id, a->id);
	assert_int_equal(deleted.events[0]->item->series_id, f->series2);
	aw_download_changes_clear(&deleted, NULL);
	aw_repo_downloads_get(f->repo, sync_init(&sr), a->id);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	drop(a);
}

/* ---- claims ------------------------------------------------------------------------------ */

static void test_repo_download_queue_claim_takes_queue_order(void **state)
{
	fixture *f = *state;
	item *low = must_enqueue(f->repo, f->series, 1, 1, LOW);
	item *high1 = must_enqueue(f->repo, f->series, 1, 2, HIGH);
	item *normal = must_enqueue(f->repo, f->series, 1, 3, NORMAL);
	item *high2 = must_enqueue(f->repo, f->series, 1, 4, HIGH);
	item *paused = must_enqueue(f->repo, f->series, 1, 5, HIGH);
	int64_t before = test_clock_now(&f->clock);
	const item *want[] = {high1, high2, normal, low};

	drop(must_transition(f->repo, paused->id, AW_DL_PAUSE)); /* never claimed */
	for (int i = 0; i < 4; i++) {
		item *c = claim(f->repo, 60000, NULL);
		assert_non_null(c);
		assert_int_equal(c->id, want[i]->id);
		assert_int_equal(c->status, AW_DL_DOWNLOADING);
		assert_non_null(c->started_at);
		assert_true(ts_us(c->started_at) >= before);
		assert_int_equal(ts_us(c->updated_at), ts_us(c->started_at));
		drop(c);
	}
	assert_null(claim(f->repo, 60000, NULL)); /* nothing pending */
	drop(low);
	drop(high1);
	drop(normal);
	drop(high2);
	drop(paused);
}

static void test_repo_download_queue_stale_claims_are_requeued(void **state)
{
	fixture *f = *state;
	item *a = must_enqueue(f->repo, f->series, 1, 1, NORMAL);
	item *b = must_enqueue(f->repo, f->series, 1, 2, NORMAL);
	aw_download_changes requeued = {0};
	char sql[256];
	int rc;

	item *ca = claim(f->repo, 60000, NULL);
	item *cb = claim(f->repo, 60000, NULL);
	assert_int_equal(ca->id, a->id);
	assert_int_equal(cb->id, b->id);
	drop(progress(f->repo, a->id, 100, 1000, &rc, NULL));
	assert_int_equal(rc, 0);

	/* Silent for 30 s, under a one-minute timeout: not stale yet. */
	test_clock_advance(&f->clock, 30000000);
	assert_null(claim(f->repo, 60000, &requeued));
	assert_int_equal(requeued.n_events, 0);

	/* Both workers went silent for ten minutes... */
	test_clock_advance(&f->clock, 600000000);
	/* ...but b's worker reports again: its claim lives on. */
	drop(progress(f->repo, b->id, 5, 10, &rc, NULL));
	snprintf(sql, sizeof(sql), "SELECT heartbeat_at FROM download_queue WHERE id = %lld",
		 (long long)b->id);
	assert_true(side_value(&f->db, sql) >= test_clock_now(&f->clock) - 60000000);

	/* A claim with a one-minute timeout requeues a, then takes it again. */
	item *again = claim(f->repo, 60000, &requeued);
	assert_int_equal(requeued.n_events, 1);
	assert_int_equal(requeued.events[0]->type, EV_UPDATED);
	const item *r = requeued.events[0]->item;
	assert_int_equal(r->id, a->id);
	assert_int_equal(r->status, AW_DL_PENDING);
	assert_int_equal(r->retry_count, 1);
	assert_null(r->started_at);
	assert_int_equal(r->downloaded_bytes, 0);
	assert_true(r->progress_percent == 0);
	assert_int_equal(r->total_bytes, 1000);
	aw_download_changes_clear(&requeued, NULL);
	assert_non_null(again);
	assert_int_equal(again->id, a->id);
	assert_int_equal(again->status, AW_DL_DOWNLOADING);
	assert_int_equal(again->retry_count, 1);
	assert_true(ts_us(again->started_at) > ts_us(ca->started_at));

	/* The heartbeat of a claim is the claim time; nothing else is stale. */
	assert_null(claim(f->repo, 60000, &requeued));
	assert_int_equal(requeued.n_events, 0);
	snprintf(sql, sizeof(sql), "SELECT heartbeat_at FROM download_queue WHERE id = %lld",
		 (long long)a->id);
	assert_int_equal(side_value(&f->db, sql), ts_us(again->started_at));

	/* Leaving DOWNLOADING clears the heartbeat. */
	drop(must_transition(f->repo, a->id, AW_DL_COMPLETE));
	assert_int_equal(side_value(&f->db, sql), -1);
	drop(again);
	drop(ca);
	drop(cb);
	drop(a);
	drop(b);
}

/* ---- progress and status changes ---------------------------------------------------------- */

static void test_repo_download_queue_progress(void **state)
{
	fixture *f = *state;
	item *a = must_enqueue(f->repo, f->series, 1, 1, NORMAL);
	aw_err err;
	int rc;

	/* Only while DOWNLOADING. */
	assert_null(progress(f->repo, a->id, 1, 2, &rc, &err));
	assert_int_equal(rc, AW_EPRECOND);
	assert_non_null(strstr(err.msg, "is PENDING; ReportProgress needs DOWNLOADING"));

	drop(claim(f->repo, 60000, NULL));
	item *p = progress(f->repo, a->id, 250, 1000, &rc, &err);
	assert_int_equal(rc, 0);
	assert_int_equal(p->downloaded_bytes, 250);
	assert_int_equal(p->total_bytes, 1000);
	assert_true(p->progress_percent == 25.0);
	assert_true(p->download_speed == 1234.5);
	assert_int_equal(p->status, AW_DL_DOWNLOADING);
	assert_true(ts_us(p->updated_at) > ts_us(a->updated_at));
	drop(p);

	/* Unknown total: 0 percent. */
	p = progress(f->repo, a->id, 4096, 0, &rc, &err);
	assert_int_equal(rc, 0);
	assert_true(p->progress_percent == 0);
	drop(p);

	drop(must_transition(f->repo, a->id, AW_DL_COMPLETE));
	assert_null(progress(f->repo, a->id, 1, 2, &rc, &err));
	assert_int_equal(rc, AW_EPRECOND);
	assert_non_null(strstr(err.msg, "COMPLETED"));
	drop(a);
}

/* Brings a new item of episode `ep` (season 5) to `status`; there must be no
 * other PENDING item. */
static item *item_in(fixture *f, int ep, int status)
{
	item *d = must_enqueue(f->repo, f->series, 5, ep, NORMAL);
	int64_t id = d->id;
	item *c;

	if (status == AW_DL_PENDING)
		return d;
	drop(d);
	if (status == AW_DL_PAUSED)
		return must_transition(f->repo, id, AW_DL_PAUSE);
	if (status == AW_DL_CANCELLED)
		return must_transition(f->repo, id, AW_DL_CANCEL);
	c = claim(f->repo, 60000, NULL);
	assert_int_equal(c->id, id);
	if (status == AW_DL_DOWNLOADING)
		return c;
	drop(c);
	return must_transition(f->repo, id,
			       status == AW_DL_COMPLETED ? AW_DL_COMPLETE : AW_DL_FAIL);
}

/* Every action from every status: the new status, or FAILED_PRECONDITION
 * naming the status that refused. */
static void test_repo_download_queue_every_transition(void **state)
{
	fixture *f = *state;
	/* expected[action][status]: the status after, 0 when refused. */
	static const int expected[AW_DL_ACTIONS][AW_DL_STATUS_MAX + 1] = {
		[AW_DL_COMPLETE] = {[AW_DL_DOWNLOADING] = AW_DL_COMPLETED},
		[AW_DL_FAIL] = {[AW_DL_DOWNLOADING] = AW_DL_FAILED},
		[AW_DL_PAUSE] = {[AW_DL_PENDING] = AW_DL_PAUSED,
				 [AW_DL_DOWNLOADING] = AW_DL_PAUSED},
		[AW_DL_RESUME] = {[AW_DL_PAUSED] = AW_DL_PENDING},
		[AW_DL_CANCEL] = {[AW_DL_PENDING] = AW_DL_CANCELLED,
				  [AW_DL_DOWNLOADING] = AW_DL_CANCELLED,
				  [AW_DL_PAUSED] = AW_DL_CANCELLED},
		[AW_DL_RETRY] = {[AW_DL_FAILED] = AW_DL_PENDING, [AW_DL_CANCELLED] = AW_DL_PENDING},
	};
	int ep = 1;

	for (int a = 0; a < AW_DL_ACTIONS; a++) {
		for (int s = 1; s <= AW_DL_STATUS_MAX; s++) {
			item *d = item_in(f, ep++, s);
			aw_err err;
			int rc;
			item *after = transition(f->repo, d->id, (aw_download_action)a, &rc, &err);

			assert_int_equal(d->status, s);
			if (expected[a][s] != 0) {
				if (rc != 0)
					fail_msg("%s from %s: %s", aw__download_rule(a)->method,
						 aw__download_status_name(s), err.msg);
				assert_int_equal(after->status, expected[a][s]);
				assert_true(ts_us(after->updated_at) >= ts_us(d->updated_at));
			} else {
				char want[160];

				assert_int_equal(rc, AW_EPRECOND);
				assert_null(after);
				snprintf(want, sizeof(want), "download %lld is %s; %s needs %s",
					 (long long)d->id, aw__download_status_name(s),
					 aw__download_rule(a)->method,
					 aw__download_rule(a)->needs);
				assert_string_equal(err.msg, want);
			}
			remove_item(f->repo, d->id);
			drop(after);
			drop(d);
		}
	}
}

static void test_repo_download_queue_transition_effects(void **state)
{
	fixture *f = *state;
	item *a = must_enqueue(f->repo, f->series, 1, 1, NORMAL);
	int rc;

	item *c = claim(f->repo, 60000, NULL);
	drop(progress(f->repo, a->id, 300, 600, &rc, NULL));
	item *p = must_transition(f->repo, a->id, AW_DL_PAUSE);
	assert_int_equal(ts_us(p->started_at), ts_us(c->started_at)); /* it did start */
	assert_int_equal(p->downloaded_bytes, 300);
	drop(p);
	drop(must_transition(f->repo, a->id, AW_DL_RESUME));
	drop(c);
	c = claim(f->repo, 60000, NULL);
	assert_int_equal(c->id, a->id);

	int64_t before = test_clock_now(&f->clock);
	item *done = must_transition(f->repo, a->id, AW_DL_COMPLETE);
	assert_true(done->progress_percent == 100);
	assert_non_null(done->completed_at);
	assert_true(ts_us(done->completed_at) >= before);
	assert_int_equal(ts_us(done->completed_at), ts_us(done->updated_at));
	drop(done);

	item *b = must_enqueue(f->repo, f->series, 1, 2, NORMAL);
	drop(claim(f->repo, 60000, NULL));
	drop(progress(f->repo, b->id, 10, 100, &rc, NULL));
	item *failed = must_transition(f->repo, b->id, AW_DL_FAIL);
	assert_int_equal(failed->status, AW_DL_FAILED);
	assert_string_equal(failed->error_message, "connection reset");
	assert_null(failed->completed_at);
	drop(failed);
	for (int i = 1; i <= 2; i++) {
		item *r = must_transition(f->repo, b->id, AW_DL_RETRY);
		assert_int_equal(r->status, AW_DL_PENDING);
		assert_int_equal(r->retry_count, i);
		assert_string_equal(r->error_message, "");
		assert_true(r->progress_percent == 0);
		assert_int_equal(r->downloaded_bytes, 0);
		assert_null(r->started_at);
		assert_null(r->completed_at);
		drop(r);
		drop(must_transition(f->repo, b->id, AW_DL_CANCEL));
	}
	drop(c);
	drop(a);
	drop(b);
}

/* Retrying an item whose episode was queued again meanwhile would make two
 * unfinished items for one episode. */
static void test_repo_download_queue_retry_conflicts_with_a_new_item(void **state)
{
	fixture *f = *state;
	item *a = must_enqueue(f->repo, f->series, 1, 1, NORMAL);
	aw_err err;
	int rc;

	drop(must_transition(f->repo, a->id, AW_DL_CANCEL));
	item *b = must_enqueue(f->repo, f->series, 1, 1, NORMAL);
	assert_null(transition(f->repo, a->id, AW_DL_RETRY, &rc, &err));
	assert_int_equal(rc, AW_EEXIST);
	assert_non_null(strstr(err.msg, "another unfinished download"));
	drop(must_transition(f->repo, b->id, AW_DL_CANCEL));
	item *r = must_transition(f->repo, a->id, AW_DL_RETRY);
	assert_int_equal(r->retry_count, 1);
	drop(r);
	drop(a);
	drop(b);
}

/* ---- purge ------------------------------------------------------------------------------ */

static void test_repo_download_queue_purge(void **state)
{
	fixture *f = *state;
	aw_download_changes deleted = {0};
	int64_t ids[7];
	sync_req sr;
	int rc, n = 0;

	/* Two COMPLETED, one FAILED, two CANCELLED, one PENDING, one PAUSED. */
	for (int ep = 1; ep <= 3; ep++) {
		item *d = must_enqueue(f->repo, ep == 2 ? f->series2 : f->series, 1, ep, NORMAL);
		ids[n++] = d->id;
		drop(claim(f->repo, 60000, NULL));
		drop(must_transition(f->repo, d->id, ep == 3 ? AW_DL_FAIL : AW_DL_COMPLETE));
		drop(d);
	}
	for (int ep = 4; ep <= 7; ep++) {
		item *d = must_enqueue(f->repo, f->series, 1, ep, NORMAL);
		ids[n++] = d->id;
		if (ep <= 5)
			drop(must_transition(f->repo, d->id, AW_DL_CANCEL));
		else if (ep == 7)
			drop(must_transition(f->repo, d->id, AW_DL_PAUSE));
		drop(d);
	}

	aw_repo_downloads_purge(f->repo, sync_init(&sr),
				AW_DL_BIT(AW_DL_COMPLETED) | AW_DL_BIT(AW_DL_CANCELLED), &deleted);
	assert_int_equal(sync_wait(&sr), 0);
	assert_int_equal(((Aniworld__V1__PurgeDownloadsResponse *)sr.result)->deleted_count, 4);
	drop(sr.result);
	assert_int_equal(deleted.n_events, 4);
	for (size_t i = 0; i < deleted.n_events; i++) {
		const item *d = deleted.events[i]->item;
		assert_int_equal(deleted.events[i]->type, EV_DELETED);
		assert_true(d->status == AW_DL_COMPLETED || d->status == AW_DL_CANCELLED);
		assert_true(d->id == ids[0] || d->id == ids[1] || d->id == ids[3] ||
			    d->id == ids[4]);
	}
	aw_download_changes_clear(&deleted, NULL);

	Aniworld__V1__ListDownloadsResponse *res = list(f->repo, NULL, 0, 0, 50, NULL, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(res->total_size, 3); /* FAILED, PENDING, PAUSED stay */
	drop(res);

	/* Nothing left to purge is not an error. */
	aw_repo_downloads_purge(f->repo, sync_init(&sr), AW_DL_BIT(AW_DL_COMPLETED), &deleted);
	assert_int_equal(sync_wait(&sr), 0);
	assert_int_equal(((Aniworld__V1__PurgeDownloadsResponse *)sr.result)->deleted_count, 0);
	drop(sr.result);

	/* Unfinished statuses are refused before anything runs. */
	aw_repo_downloads_purge(f->repo, sync_init(&sr), AW_DL_BIT(AW_DL_PENDING), &deleted);
	assert_int_equal(sync_wait(&sr), AW_EINVAL);
	assert_int_equal(deleted.n_events, 0);
}

/* ---- listing ------------------------------------------------------------------------------ */

static void test_repo_download_queue_list_order_and_filters(void **state)
{
	fixture *f = *state;
	/* Enqueue order: a(LOW) b(HIGH) c(NORMAL, series2) d(HIGH) e(NORMAL) */
	item *a = must_enqueue(f->repo, f->series, 1, 1, LOW);
	item *b = must_enqueue(f->repo, f->series, 1, 2, HIGH);
	item *c = must_enqueue(f->repo, f->series2, 1, 1, NORMAL);
	item *d = must_enqueue(f->repo, f->series, 1, 3, HIGH);
	item *e = must_enqueue(f->repo, f->series, 1, 4, NORMAL);
	Aniworld__V1__ListDownloadsResponse *res;
	int rc;

	drop(claim(f->repo, 60000, NULL));            /* b: DOWNLOADING */
	drop(must_transition(f->repo, e->id, AW_DL_PAUSE)); /* e: PAUSED */

	/* Every status: queue order across statuses. */
	res = list(f->repo, NULL, 0, 0, 50, NULL, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(res->total_size, 5);
	assert_int_equal(res->n_items, 5);
	const int64_t all[] = {b->id, d->id, c->id, e->id, a->id};
	for (int i = 0; i < 5; i++)
		assert_int_equal(res->items[i]->id, all[i]);
	assert_string_equal(res->next_page_token, "");
	drop(res);

	/* One status. */
	const int pending[] = {AW_DL_PENDING};
	res = list(f->repo, pending, 1, 0, 50, NULL, &rc);
	assert_int_equal(res->total_size, 3);
	assert_int_equal(res->items[0]->id, d->id);
	assert_int_equal(res->items[1]->id, c->id);
	assert_int_equal(res->items[2]->id, a->id);
	drop(res);

	/* Several, repeated: a set. */
	const int some[] = {AW_DL_PAUSED, AW_DL_DOWNLOADING, AW_DL_PAUSED};
	res = list(f->repo, some, 3, 0, 50, NULL, &rc);
	assert_int_equal(res->total_size, 2);
	assert_int_equal(res->items[0]->id, b->id);
	assert_int_equal(res->items[1]->id, e->id);
	drop(res);

	/* A series, with and without statuses. */
	res = list(f->repo, NULL, 0, f->series, 50, NULL, &rc);
	assert_int_equal(res->total_size, 4);
	assert_int_equal(res->items[0]->id, b->id);
	assert_int_equal(res->items[3]->id, a->id);
	drop(res);
	res = list(f->repo, pending, 1, f->series, 50, NULL, &rc);
	assert_int_equal(res->total_size, 2);
	assert_int_equal(res->items[0]->id, d->id);
	assert_int_equal(res->items[1]->id, a->id);
	drop(res);
	res = list(f->repo, pending, 1, f->series2, 50, NULL, &rc);
	assert_int_equal(res->n_items, 1);
	assert_int_equal(res->items[0]->id, c->id);
	drop(res);

	/* Nothing matches. */
	const int completed[] = {AW_DL_COMPLETED};
	res = list(f->repo, completed, 1, 0, 50, NULL, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(res->total_size, 0);
	assert_int_equal(res->n_items, 0);
	drop(res);
	res = list(f->repo, NULL, 0, 987654, 50, NULL, &rc);
	assert_int_equal(res->n_items, 0);
	drop(res);

	drop(a);
	drop(b);
	drop(c);
	drop(d);
	drop(e);
}

/* Pages through `statuses`/`series` with page size 3, inserting `insert` new
 * LOW items (after every cursor) after the first page; checks queue order, no
 * repeats, no skips. Returns the number of items seen. */
static int page_through(fixture *f, const int *statuses, size_t n, int64_t series, int insert,
			int *next_episode)
{
	char token[128] = "";
	int64_t seen[256];
	int n_seen = 0, rc, prio = 99;
	int64_t created = 0;

	for (int page = 0;; page++) {
		Aniworld__V1__ListDownloadsResponse *res;

		res = list(f->repo, statuses, n, series, 3, token, &rc);
		assert_int_equal(rc, 0);
		assert_true(res->n_items <= 3);
		for (size_t i = 0; i < res->n_items; i++) {
			const item *d = res->items[i];
			for (int j = 0; j < n_seen; j++)
				assert_true(seen[j] != d->id);
			/* queue order: priority down, then created_at up */
			assert_true((int)d->priority < prio ||
				    ((int)d->priority == prio && ts_us(d->created_at) >= created));
			prio = (int)d->priority;
			created = ts_us(d->created_at);
			seen[n_seen++] = d->id;
		}
		if (page == 0) {
			for (int i = 0; i < insert; i++)
				drop(must_enqueue(f->repo, series != 0 ? series : f->series, 9,
						  (*next_episode)++, LOW));
		}
		snprintf(token, sizeof(token), "%s", res->next_page_token);
		drop(res);
		if (token[0] == '\0')
			break;
		assert_true(page < 100);
	}
	return n_seen;
}

static void test_repo_download_queue_list_pages_with_inserts_between(void **state)
{
	fixture *f = *state;
	const int prios[] = {LOW, HIGH, NORMAL};
	int ep = 1;

	/* 24 items over three priorities and two series, half of them PAUSED. */
	for (int i = 0; i < 24; i++) {
		item *d = must_enqueue(f->repo, i % 4 == 0 ? f->series2 : f->series, 1, ep++,
				       prios[i % 3]);
		if (i % 2 == 1)
			drop(must_transition(f->repo, d->id, AW_DL_PAUSE));
		drop(d);
	}
	int next = 100;
	assert_int_equal(page_through(f, NULL, 0, 0, 2, &next), 26);
	const int pending[] = {AW_DL_PENDING};
	assert_int_equal(page_through(f, pending, 1, 0, 2, &next), 16); /* 12 + 2 + 2 */
	const int both[] = {AW_DL_PENDING, AW_DL_PAUSED};
	assert_int_equal(page_through(f, both, 2, 0, 1, &next), 29); /* 28 + 1 */
	/* series2 holds items 0, 4, 8, ... of the 24, all PENDING: 6 of them */
	assert_int_equal(page_through(f, NULL, 0, f->series2, 2, &next), 8);
	assert_int_equal(page_through(f, pending, 1, f->series2, 0, &next), 8);
}

static void test_repo_download_queue_list_exact_last_page_has_no_token(void **state)
{
	fixture *f = *state;
	int rc;

	for (int ep = 1; ep <= 4; ep++)
		drop(must_enqueue(f->repo, f->series, 1, ep, NORMAL));
	Aniworld__V1__ListDownloadsResponse *res = list(f->repo, NULL, 0, 0, 4, NULL, &rc);
	assert_int_equal(res->n_items, 4);
	assert_string_equal(res->next_page_token, "");
	drop(res);
	res = list(f->repo, NULL, 0, 0, 3, NULL, &rc);
	assert_int_equal(res->n_items, 3);
	assert_string_not_equal(res->next_page_token, "");
	drop(res);
}

static void test_repo_download_queue_list_rejects_foreign_token(void **state)
{
	fixture *f = *state;
	const int pending[] = {AW_DL_PENDING}, paused[] = {AW_DL_PAUSED};
	const int both[] = {AW_DL_PENDING, AW_DL_PAUSED};
	const int both_again[] = {AW_DL_PAUSED, AW_DL_PENDING};
	char token[128];
	int rc;

	for (int ep = 1; ep <= 3; ep++)
		drop(must_enqueue(f->repo, f->series, 1, ep, NORMAL));
	Aniworld__V1__ListDownloadsResponse *res = list(f->repo, pending, 1, 0, 1, NULL, &rc);
	snprintf(token, sizeof(token), "%s", res->next_page_token);
	drop(res);
	assert_null(list(f->repo, paused, 1, 0, 1, token, &rc));
	assert_int_equal(rc, AW_EINVAL);
	assert_null(list(f->repo, pending, 1, f->series, 1, token, &rc));
	assert_int_equal(rc, AW_EINVAL);
	assert_null(list(f->repo, pending, 1, 0, 1, "not-a-token", &rc));
	assert_int_equal(rc, AW_EINVAL);
	res = list(f->repo, pending, 1, 0, 1, token, &rc);
	assert_int_equal(rc, 0);
	drop(res);

	/* The statuses are a set: order and repeats do not change the filter. */
	res = list(f->repo, both, 2, 0, 1, NULL, &rc);
	snprintf(token, sizeof(token), "%s", res->next_page_token);
	drop(res);
	res = list(f->repo, both_again, 2, 0, 1, token, &rc);
	assert_int_equal(rc, 0);
	drop(res);
}

/* A test case with its fixture. */

/* ---- the queue as download managers have it ------------------------------------------------ */

static item *must_enqueue_from(aw_repo *r, int64_t series, int episode, const char *provider,
			       const char *language)
{
	item in = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	sync_req sr;

	in.series_id = series;
	in.season = 1;
	in.episode_number = episode;
	in.priority = NORMAL;
	in.provider = (char *)provider;
	in.language = (char *)language;
	aw_repo_downloads_enqueue(r, sync_init(&sr), &in);
	if (sync_wait(&sr) != 0)
		fail_msg("enqueue %d: %s", episode, sr.err.msg);
	return (item *)sr.result;
}

static item *claim_for(aw_repo *r, const char *provider, const char *language)
{
	sync_req sr;

	aw_repo_downloads_claim_for(r, sync_init(&sr), 60000, provider, language, NULL);
	assert_int_equal(sync_wait(&sr), 0);
	Aniworld__V1__ClaimNextDownloadResponse *res = (void *)sr.result;
	item *d = res->item;
	res->item = NULL;
	drop(res);
	return d;
}

/* A worker claims only what it can fetch: items of its provider and language,
 * in queue order; lists filter the same way. */
static void test_repo_download_queue_provider_and_language(void **state)
{
	fixture *f = *state;
	item *voe_de = must_enqueue_from(f->repo, f->series, 1, "voe", "de");
	item *vidoza_de = must_enqueue_from(f->repo, f->series, 2, "vidoza", "de");
	item *voe_ja = must_enqueue_from(f->repo, f->series, 3, "voe", "ja-sub-de");
	item *voe_de2 = must_enqueue_from(f->repo, f->series, 4, "voe", "de");
	item *bare = must_enqueue(f->repo, f->series, 1, 5, NORMAL);
	int rc;

	assert_string_equal(voe_de->provider, "voe");
	assert_string_equal(voe_de->language, "de");
	assert_string_equal(bare->provider, "");
	assert_true(voe_de->queue_position == ts_us(voe_de->created_at));

	/* List filters: provider, language, both; total_size counts the matches. */
	Aniworld__V1__ListDownloadsRequest in = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;
	sync_req sr;
	in.provider = "voe";
	in.page_size = 50;
	aw_repo_downloads_list(f->repo, sync_init(&sr), &in, 50);
	assert_int_equal(sync_wait(&sr), 0);
	Aniworld__V1__ListDownloadsResponse *res = (void *)sr.result;
	assert_int_equal(res->total_size, 3);
	assert_int_equal(res->n_items, 3);
	assert_int_equal(res->items[0]->id, voe_de->id);
	assert_int_equal(res->items[1]->id, voe_ja->id);
	assert_int_equal(res->items[2]->id, voe_de2->id);
	drop(res);
	in.language = "de";
	in.series_id = f->series;
	aw_repo_downloads_list(f->repo, sync_init(&sr), &in, 50);
	assert_int_equal(sync_wait(&sr), 0);
	res = (void *)sr.result;
	assert_int_equal(res->total_size, 2);
	assert_int_equal(res->n_items, 2);
	drop(res);

	/* Claims: provider only, language only, both, in queue order each. */
	item *c = claim_for(f->repo, "voe", "de");
	assert_int_equal(c->id, voe_de->id);
	drop(c);
	c = claim_for(f->repo, "", "de");
	assert_int_equal(c->id, vidoza_de->id);
	drop(c);
	c = claim_for(f->repo, "voe", "");
	assert_int_equal(c->id, voe_ja->id);
	drop(c);
	assert_null(claim_for(f->repo, "vidoza", ""));   /* its only item is taken */
	assert_null(claim_for(f->repo, "streamtape", "")); /* none of that provider */
	c = claim_for(f->repo, "", "");
	assert_int_equal(c->id, voe_de2->id);
	drop(c);
	c = claim(f->repo, 60000, NULL);
	assert_int_equal(c->id, bare->id);
	drop(c);
	(void)rc;
	drop(voe_de);
	drop(vidoza_de);
	drop(voe_ja);
	drop(voe_de2);
	drop(bare);
}

static Aniworld__V1__GetQueueSummaryResponse *summary(aw_repo *r, int64_t series)
{
	sync_req sr;

	aw_repo_downloads_summary(r, sync_init(&sr), series);
	assert_int_equal(sync_wait(&sr), 0);
	return (Aniworld__V1__GetQueueSummaryResponse *)sr.result;
}

static void test_repo_download_queue_summary(void **state)
{
	fixture *f = *state;
	int rc;

	Aniworld__V1__GetQueueSummaryResponse *s = summary(f->repo, 0);
	assert_int_equal(s->total_count, 0);
	assert_int_equal(s->total_bytes, 0);
	drop(s);

	/* series: one DOWNLOADING (300 of 1000 bytes), one COMPLETED (500 of
	 * 500), one FAILED, one PAUSED, one PENDING; series2: one PENDING. */
	for (int ep = 1; ep <= 3; ep++) {
		item *d = must_enqueue(f->repo, f->series, 1, ep, NORMAL);
		item *c = claim(f->repo, 60000, NULL);
		assert_int_equal(c->id, d->id);
		drop(c);
		drop(progress(f->repo, d->id, ep == 1 ? 300 : 500, ep == 1 ? 1000 : 500, &rc, NULL));
		assert_int_equal(rc, 0);
		if (ep == 2)
			drop(must_transition(f->repo, d->id, AW_DL_COMPLETE));
		if (ep == 3)
			drop(must_transition(f->repo, d->id, AW_DL_FAIL));
		drop(d);
	}
	item *paused = must_enqueue(f->repo, f->series, 1, 4, NORMAL);
	drop(must_transition(f->repo, paused->id, AW_DL_PAUSE));
	drop(paused);
	drop(must_enqueue(f->repo, f->series, 1, 5, NORMAL));
	drop(must_enqueue(f->repo, f->series2, 1, 1, NORMAL));

	s = summary(f->repo, f->series);
	assert_int_equal(s->pending_count, 1);
	assert_int_equal(s->downloading_count, 1);
	assert_int_equal(s->paused_count, 1);
	assert_int_equal(s->completed_count, 1);
	assert_int_equal(s->failed_count, 1);
	assert_int_equal(s->cancelled_count, 0);
	assert_int_equal(s->total_count, 5);
	assert_int_equal(s->downloaded_bytes, 300 + 500 + 500);
	assert_int_equal(s->total_bytes, 1000 + 500 + 500);
	drop(s);
	s = summary(f->repo, 0);
	assert_int_equal(s->pending_count, 2);
	assert_int_equal(s->total_count, 6);
	drop(s);
	s = summary(f->repo, f->series2 + 1000); /* no such series: nothing counted */
	assert_int_equal(s->total_count, 0);
	drop(s);
}

/* Fails a fresh item of `series` episode `ep`: enqueue, claim, fail. */
static int64_t failed_item(fixture *f, int64_t series, int ep)
{
	item *d = must_enqueue(f->repo, series, 1, ep, NORMAL);
	int64_t id = d->id;
	item *c = claim(f->repo, 60000, NULL);

	assert_int_equal(c->id, id);
	drop(c);
	drop(must_transition(f->repo, id, AW_DL_FAIL));
	drop(d);
	return id;
}

static int has_event(const aw_download_changes *ch, int64_t id)
{
	for (size_t i = 0; i < ch->n_events; i++) {
		if (ch->events[i]->item->id == id)
			return 1;
	}
	return 0;
}

/* RetryFailedDownloads: every FAILED item goes back to PENDING through the
 * RETRY rule (retry_count + 1, error cleared), in one write, each recorded;
 * an episode's older FAILED item and a FAILED item whose episode was queued
 * again are left alone. */
static void test_repo_download_queue_retry_failed(void **state)
{
	fixture *f = *state;
	aw_download_changes changed = {0};
	sync_req sr;

	int64_t a = failed_item(f, f->series, 1);
	int64_t old = failed_item(f, f->series, 2);
	int64_t newer = failed_item(f, f->series, 2);
	int64_t requeued = failed_item(f, f->series, 3);
	int64_t other = failed_item(f, f->series2, 1);
	item *again = must_enqueue(f->repo, f->series, 1, 3, NORMAL); /* ep 3 unfinished */

	/* One series first. */
	aw_repo_downloads_retry_failed(f->repo, sync_init(&sr), f->series2, &changed);
	assert_int_equal(sync_wait(&sr), 0);
	assert_int_equal(((Aniworld__V1__RetryFailedDownloadsResponse *)sr.result)->retried_count,
			 1);
	drop(sr.result);
	assert_int_equal(changed.n_events, 1);
	assert_int_equal(changed.events[0]->item->id, other);
	assert_int_equal(changed.events[0]->type, EV_UPDATED);
	assert_int_equal(changed.events[0]->item->status, AW_DL_PENDING);
	assert_int_equal(changed.events[0]->item->retry_count, 1);
	assert_string_equal(changed.events[0]->item->error_message, "");
	aw_download_changes_clear(&changed, NULL);

	/* Then all. */
	aw_repo_downloads_retry_failed(f->repo, sync_init(&sr), 0, &changed);
	assert_int_equal(sync_wait(&sr), 0);
	assert_int_equal(((Aniworld__V1__RetryFailedDownloadsResponse *)sr.result)->retried_count,
			 2);
	drop(sr.result);
	assert_int_equal(changed.n_events, 2);
	assert_true(has_event(&changed, a));
	assert_true(has_event(&changed, newer));
	aw_download_changes_clear(&changed, NULL);
	assert_int_equal(side_value(&f->db, "SELECT COUNT(*) FROM download_queue WHERE status = 5"),
			 2); /* old and requeued */
	(void)old;
	(void)requeued;

	/* A series that does not exist. */
	aw_repo_downloads_retry_failed(f->repo, sync_init(&sr), f->series2 + 1000, &changed);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	assert_int_equal(changed.n_events, 0);
	drop(again);
}

/* CancelSeriesDownloads: the CANCEL rule for every unfinished item of one
 * series; finished items and other series stay. */
static void test_repo_download_queue_cancel_series(void **state)
{
	fixture *f = *state;
	aw_download_changes changed = {0};
	sync_req sr;
	int64_t failed = failed_item(f, f->series, 4);
	item *pending = must_enqueue(f->repo, f->series, 1, 1, NORMAL);
	item *downloading = must_enqueue(f->repo, f->series, 1, 2, HIGH);
	item *paused = must_enqueue(f->repo, f->series, 1, 3, NORMAL);
	item *other = must_enqueue(f->repo, f->series2, 1, 1, LOW);

	drop(claim(f->repo, 60000, NULL)); /* downloading: HIGH first */
	drop(must_transition(f->repo, paused->id, AW_DL_PAUSE));

	aw_repo_downloads_cancel_series(f->repo, sync_init(&sr), f->series, &changed);
	assert_int_equal(sync_wait(&sr), 0);
	assert_int_equal(((Aniworld__V1__CancelSeriesDownloadsResponse *)sr.result)->cancelled_count,
			 3);
	drop(sr.result);
	assert_int_equal(changed.n_events, 3);
	assert_true(has_event(&changed, pending->id));
	assert_true(has_event(&changed, downloading->id));
	assert_true(has_event(&changed, paused->id));
	for (size_t i = 0; i < changed.n_events; i++) {
		assert_int_equal(changed.events[i]->type, EV_UPDATED);
		assert_int_equal(changed.events[i]->item->status, AW_DL_CANCELLED);
	}
	aw_download_changes_clear(&changed, NULL);
	assert_int_equal(side_value(&f->db, "SELECT COUNT(*) FROM download_queue WHERE status = 6"),
			 3);
	assert_int_equal(side_value(&f->db, "SELECT COUNT(*) FROM download_queue WHERE status = 5"),
			 1);
	(void)failed;

	/* Nothing left to cancel is not an error; a missing series is. */
	aw_repo_downloads_cancel_series(f->repo, sync_init(&sr), f->series, &changed);
	assert_int_equal(sync_wait(&sr), 0);
	assert_int_equal(((Aniworld__V1__CancelSeriesDownloadsResponse *)sr.result)->cancelled_count,
			 0);
	drop(sr.result);
	aw_repo_downloads_cancel_series(f->repo, sync_init(&sr), f->series2 + 1000, &changed);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	assert_int_equal(changed.n_events, 0);

	item *c = claim(f->repo, 60000, NULL); /* only the other series' item is left */
	assert_int_equal(c->id, other->id);
	drop(c);
	drop(pending);
	drop(downloading);
	drop(paused);
	drop(other);
}

/* ClearFinishedDownloads: finished items last changed before the time go,
 * each recorded as DELETED; newer ones and unfinished ones stay. */
static void test_repo_download_queue_clear_finished(void **state)
{
	fixture *f = *state;
	aw_download_changes deleted = {0};
	sync_req sr;
	int64_t old_failed = failed_item(f, f->series, 1);
	item *old_cancelled = must_enqueue(f->repo, f->series2, 1, 1, NORMAL);

	drop(must_transition(f->repo, old_cancelled->id, AW_DL_CANCEL));
	test_clock_advance(&f->clock, 3600 * 1000000LL);
	int64_t cut = test_clock_now(&f->clock);
	test_clock_advance(&f->clock, 1000);
	int64_t new_failed = failed_item(f, f->series, 2);
	item *pending = must_enqueue(f->repo, f->series, 1, 3, NORMAL);

	/* Only CANCELLED first, of one series. */
	aw_repo_downloads_clear(f->repo, sync_init(&sr), AW_DL_BIT(AW_DL_CANCELLED), cut,
				f->series, &deleted);
	assert_int_equal(sync_wait(&sr), 0);
	assert_int_equal(
		((Aniworld__V1__ClearFinishedDownloadsResponse *)sr.result)->deleted_count, 0);
	drop(sr.result);

	aw_repo_downloads_clear(f->repo, sync_init(&sr), AW_DL_FINISHED, cut, 0, &deleted);
	assert_int_equal(sync_wait(&sr), 0);
	assert_int_equal(
		((Aniworld__V1__ClearFinishedDownloadsResponse *)sr.result)->deleted_count, 2);
	drop(sr.result);
	assert_int_equal(deleted.n_events, 2);
	assert_true(has_event(&deleted, old_failed));
	assert_true(has_event(&deleted, old_cancelled->id));
	for (size_t i = 0; i < deleted.n_events; i++)
		assert_int_equal(deleted.events[i]->type, EV_DELETED);
	aw_download_changes_clear(&deleted, NULL);
	assert_int_equal(side_value(&f->db, "SELECT COUNT(*) FROM download_queue"), 2);
	(void)new_failed;

	/* Unfinished statuses are refused before anything runs. */
	aw_repo_downloads_clear(f->repo, sync_init(&sr), AW_DL_BIT(AW_DL_PENDING), INT64_MAX, 0,
				&deleted);
	assert_int_equal(sync_wait(&sr), AW_EINVAL);
	drop(old_cancelled);
	drop(pending);
}

static item *move(aw_repo *r, int64_t id, int64_t before, aw_download_changes *moved, int *rc,
		  aw_err *err)
{
	sync_req sr;

	aw_repo_downloads_move(r, sync_init(&sr), id, before, moved);
	*rc = sync_wait(&sr);
	if (err != NULL)
		*err = sr.err;
	return (item *)sr.result;
}

/* The ids of every item, in list order. */
static size_t list_ids(aw_repo *r, int64_t *ids, size_t max)
{
	int rc;
	Aniworld__V1__ListDownloadsResponse *res = list(r, NULL, 0, 0, 50, NULL, &rc);
	size_t n = 0;

	assert_int_equal(rc, 0);
	for (size_t i = 0; i < res->n_items && n < max; i++)
		ids[n++] = res->items[i]->id;
	drop(res);
	return n;
}

/* MoveDownload: an item goes just before another of its priority, in list
 * order and claim order; with no room between two positions the items from
 * the target on move back first (and are recorded); 0 moves it to the end. */
static void test_repo_download_queue_move(void **state)
{
	fixture *f = *state;
	aw_download_changes moved = {0};
	item *d[5];
	int64_t ids[8];
	aw_err err;
	int rc;

	for (int i = 0; i < 4; i++)
		d[i] = must_enqueue(f->repo, f->series, 1, i + 1, NORMAL);
	d[4] = must_enqueue(f->repo, f->series, 1, 5, HIGH);

	/* d3 before d1: the list reads d4 (HIGH), d0, d3, d1, d2. */
	item *m = move(f->repo, d[3]->id, d[1]->id, &moved, &rc, &err);
	if (rc != 0)
		fail_msg("move: %s", err.msg);
	assert_true(m->queue_position < d[1]->queue_position ||
		    moved.n_events > 0); /* or d1 moved back to make room */
	drop(m);
	for (size_t i = 0; i < moved.n_events; i++) {
		assert_int_equal(moved.events[i]->type, EV_UPDATED);
		assert_true(moved.events[i]->item->id == d[1]->id ||
			    moved.events[i]->item->id == d[2]->id);
	}
	aw_download_changes_clear(&moved, NULL);
	assert_int_equal(list_ids(f->repo, ids, 8), 5);
	const int64_t want[] = {d[4]->id, d[0]->id, d[3]->id, d[1]->id, d[2]->id};
	for (int i = 0; i < 5; i++)
		assert_int_equal(ids[i], want[i]);

	/* Again before d1 (now right behind d3): d2 before d1 squeezes between. */
	drop(move(f->repo, d[2]->id, d[1]->id, &moved, &rc, &err));
	assert_int_equal(rc, 0);
	aw_download_changes_clear(&moved, NULL);
	/* d0 to the end of NORMAL. */
	drop(move(f->repo, d[0]->id, 0, &moved, &rc, &err));
	assert_int_equal(rc, 0);
	aw_download_changes_clear(&moved, NULL);
	const int64_t claims[] = {d[4]->id, d[3]->id, d[2]->id, d[1]->id, d[0]->id};
	for (int i = 0; i < 5; i++) {
		item *c = claim(f->repo, 60000, NULL);
		assert_int_equal(c->id, claims[i]);
		drop(c);
	}

	/* Errors: other priority, missing ids, itself. */
	assert_null(move(f->repo, d[4]->id, d[0]->id, &moved, &rc, &err));
	assert_int_equal(rc, AW_EPRECOND);
	assert_non_null(strstr(err.msg, "one priority"));
	assert_null(move(f->repo, d[4]->id + 100, d[0]->id, &moved, &rc, &err));
	assert_int_equal(rc, AW_ENOTFOUND);
	assert_null(move(f->repo, d[0]->id, d[4]->id + 100, &moved, &rc, &err));
	assert_int_equal(rc, AW_ENOTFOUND);
	assert_null(move(f->repo, d[0]->id, d[0]->id, &moved, &rc, &err));
	assert_int_equal(rc, AW_EINVAL);
	assert_int_equal(moved.n_events, 0);
	for (int i = 0; i < 5; i++)
		drop(d[i]);
}

/* Many moves to the front of one item: room runs out between neighbours and
 * is made, and the order stays what the moves asked for. */
static void test_repo_download_queue_move_makes_room(void **state)
{
	fixture *f = *state;
	aw_download_changes moved = {0};
	item *d[12];
	int64_t ids[16];
	size_t made_room = 0;
	int rc;

	for (int i = 0; i < 12; i++)
		d[i] = must_enqueue(f->repo, f->series, 1, i + 1, NORMAL);
	/* d11, then d10, ..., then d1 each go just before d0: each lands
	 * between the one moved before it and d0, so the order ends d11, d10,
	 * ..., d1, d0. */
	for (int i = 11; i >= 1; i--) {
		drop(move(f->repo, d[i]->id, d[0]->id, &moved, &rc, NULL));
		assert_int_equal(rc, 0);
		made_room += moved.n_events;
		aw_download_changes_clear(&moved, NULL);
	}
	assert_int_equal(list_ids(f->repo, ids, 16), 12);
	for (int i = 0; i < 11; i++)
		assert_int_equal(ids[i], d[11 - i]->id);
	assert_int_equal(ids[11], d[0]->id);
	assert_true(made_room > 0); /* one-microsecond gaps cannot hold 11 moves */
	for (int i = 0; i < 12; i++)
		drop(d[i]);
}

/* ---- soft delete of the series ------------------------------------------------------------ */

static int32_t series_total(aw_repo *r, int show_deleted, int64_t *first_id)
{
	Aniworld__V1__ListSeriesRequest in = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	sync_req sr;
	int32_t n;

	in.show_deleted = show_deleted;
	aw_repo_series_list(r, sync_init(&sr), &in, 50);
	assert_int_equal(sync_wait(&sr), 0);
	Aniworld__V1__ListSeriesResponse *res = (void *)sr.result;
	n = res->total_size;
	assert_int_equal(res->n_series, (size_t)n);
	if (first_id != NULL)
		*first_id = res->n_series > 0 ? res->series[0]->id : 0;
	drop(res);
	return n;
}

static int32_t episodes_total(aw_repo *r, int64_t series)
{
	Aniworld__V1__ListEpisodesRequest in = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	sync_req sr;
	int32_t n;

	in.series_id = series;
	aw_repo_episodes_list(r, sync_init(&sr), &in, 50);
	assert_int_equal(sync_wait(&sr), 0);
	Aniworld__V1__ListEpisodesResponse *res = (void *)sr.result;
	n = res->total_size;
	assert_int_equal(res->n_episodes, (size_t)n);
	drop(res);
	return n;
}

static Aniworld__V1__AnimeSeries *get_series(aw_repo *r, int64_t id, int *rc)
{
	sync_req sr;

	aw_repo_series_get(r, sync_init(&sr), id);
	*rc = sync_wait(&sr);
	return (Aniworld__V1__AnimeSeries *)sr.result;
}

static int soft_delete(aw_repo *r, int64_t id, int64_t retention_us)
{
	sync_req sr;

	aw_repo_series_soft_delete(r, sync_init(&sr), id, retention_us);
	int rc = sync_wait(&sr);
	drop(sr.result);
	return rc;
}

/* Soft delete (AIP-164): the series, its episodes and its queue items leave
 * every list and the claims, Get still shows it with delete_time; undelete
 * brings it all back; after the retention, by the repository's clock, the
 * purge deletes it for good with the events DeleteSeries sends. */
static void test_repo_download_queue_series_soft_delete(void **state)
{
	fixture *f = *state;
	Aniworld__V1__Episode ep = ANIWORLD__V1__EPISODE__INIT;
	aw_download_changes deleted = {0};
	int64_t retention = 30LL * 24 * 3600 * 1000000; /* 30 days */
	sync_req sr;
	int rc, purged = -1;

	item *mine = must_enqueue(f->repo, f->series, 1, 1, HIGH);
	item *other = must_enqueue(f->repo, f->series2, 1, 1, NORMAL);
	ep.series_id = f->series;
	ep.season = 1;
	ep.episode_number = 1;
	aw_repo_episodes_create(f->repo, sync_init(&sr), &ep);
	assert_int_equal(sync_wait(&sr), 0);
	drop(sr.result);
	assert_int_equal(series_total(f->repo, 0, NULL), 2);
	assert_int_equal(episodes_total(f->repo, 0), 1);

	int64_t before = test_clock_now(&f->clock);
	assert_int_equal(soft_delete(f->repo, f->series, retention), 0);
	assert_int_equal(soft_delete(f->repo, f->series, retention), 0); /* again: no change */
	assert_int_equal(soft_delete(f->repo, f->series2 + 1000, retention), AW_ENOTFOUND);

	Aniworld__V1__AnimeSeries *s = get_series(f->repo, f->series, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(s->delete_time);
	assert_non_null(s->purge_time);
	assert_true(ts_us(s->delete_time) > before);
	assert_int_equal(ts_us(s->purge_time), ts_us(s->delete_time) + retention);
	drop(s);

	int64_t first;
	assert_int_equal(series_total(f->repo, 0, &first), 1);
	assert_int_equal(first, f->series2);
	assert_int_equal(series_total(f->repo, 1, &first), 2);
	assert_int_equal(first, f->series);
	assert_int_equal(episodes_total(f->repo, 0), 0);
	assert_int_equal(episodes_total(f->repo, f->series), 0);
	Aniworld__V1__ListDownloadsResponse *res = list(f->repo, NULL, 0, 0, 50, NULL, &rc);
	assert_int_equal(res->total_size, 1);
	assert_int_equal(res->items[0]->id, other->id);
	drop(res);
	Aniworld__V1__GetQueueSummaryResponse *sum = summary(f->repo, 0);
	assert_int_equal(sum->total_count, 1);
	drop(sum);
	/* Its HIGH item is never claimed; the other series' NORMAL one is. */
	item *c = claim(f->repo, 60000, NULL);
	assert_int_equal(c->id, other->id);
	drop(c);
	assert_null(claim(f->repo, 60000, NULL));

	/* Undelete: all of it back, and claimable again. */
	aw_repo_series_undelete(f->repo, sync_init(&sr), f->series);
	assert_int_equal(sync_wait(&sr), 0);
	s = (Aniworld__V1__AnimeSeries *)sr.result;
	assert_null(s->delete_time);
	assert_null(s->purge_time);
	drop(s);
	aw_repo_series_undelete(f->repo, sync_init(&sr), f->series);
	assert_int_equal(sync_wait(&sr), AW_EPRECOND);
	assert_non_null(strstr(sr.err.msg, "is not deleted"));
	assert_int_equal(series_total(f->repo, 0, NULL), 2);
	assert_int_equal(episodes_total(f->repo, 0), 1);
	c = claim(f->repo, 60000, NULL);
	assert_int_equal(c->id, mine->id);
	drop(c);

	/* Deleted again; the purge finds nothing due until the retention has
	 * passed on the repository's clock, then deletes it for good. */
	assert_int_equal(soft_delete(f->repo, f->series, retention), 0);
	aw_repo_series_purge_deleted(f->repo, sync_init(&sr), &deleted, &purged);
	assert_int_equal(sync_wait(&sr), 0);
	drop(sr.result);
	assert_int_equal(purged, 0);
	assert_int_equal(deleted.n_events, 0);
	test_clock_advance(&f->clock, retention + 1000);
	aw_repo_series_purge_deleted(f->repo, sync_init(&sr), &deleted, &purged);
	assert_int_equal(sync_wait(&sr), 0);
	drop(sr.result);
	assert_int_equal(purged, 1);
	assert_int_equal(deleted.n_events, 1);
	assert_int_equal(deleted.events[0]->type, EV_DELETED);
	assert_int_equal(deleted.events[0]->item->id, mine->id);
	aw_download_changes_clear(&deleted, NULL);
	assert_null(get_series(f->repo, f->series, &rc));
	assert_int_equal(rc, AW_ENOTFOUND);
	aw_repo_series_undelete(f->repo, sync_init(&sr), f->series);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	/* The counts the unfiltered lists read stay right through it all. */
	assert_int_equal(series_total(f->repo, 0, NULL), 1);
	assert_int_equal(series_total(f->repo, 1, NULL), 1);
	assert_int_equal(episodes_total(f->repo, 0), 0);
	drop(mine);
	drop(other);
}

#define TEST(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* Reopens the fixture's file with a reply limit of `max_reply` bytes (0: none). */
static void reopen_with_budget(fixture *f, size_t max_reply)
{
	aw_repo_options opts;
	aw_err err;

	aw_repo_close(f->repo);
	aw_repo_options_defaults(&opts);
	opts.max_reply_bytes = max_reply;
	if (aw_repo_open(&f->repo, f->db.location, &opts, &err) != 0)
		fail_msg("reopen: %s", err.msg);
}

/* Issue 16: the queue's page merges one ordered stream per status; under a
 * byte budget it stops at the first item that does not fit, and the pages
 * together are exactly the queue order of one unbounded page. */
static void test_repo_download_queue_list_stops_at_the_reply_budget(void **state)
{
	fixture *f = *state;
	const int prios[] = {LOW, HIGH, NORMAL};
	int64_t order[300];
	size_t n_order = 0;
	char token[128] = "";
	int rc, pages = 0;

	for (int i = 0; i < 200; i++) {
		item *d = must_enqueue(f->repo, f->series, 1, i + 1, prios[i % 3]);
		if (i % 2 == 1)
			drop(must_transition(f->repo, d->id, AW_DL_PAUSE));
		drop(d);
	}
	Aniworld__V1__ListDownloadsResponse *all = list(f->repo, NULL, 0, 0, 1000, NULL, &rc);
	assert_int_equal(all->n_items, 200);

	reopen_with_budget(f, 4096);
	for (;;) {
		Aniworld__V1__ListDownloadsResponse *res = list(f->repo, NULL, 0, 0, 1000, token, &rc);
		assert_int_equal(rc, 0);
		assert_true(res->n_items >= 1);
		assert_true(protobuf_c_message_get_packed_size(&res->base) <= 4096);
		assert_int_equal(res->total_size, 200);
		for (size_t i = 0; i < res->n_items; i++) {
			assert_true(n_order < 300);
			order[n_order++] = res->items[i]->id;
		}
		pages++;
		snprintf(token, sizeof(token), "%s", res->next_page_token);
		drop(res);
		if (token[0] == '\0')
			break;
		assert_true(pages < 100);
	}
	assert_true(pages >= 4);
	assert_int_equal(n_order, 200);
	for (size_t i = 0; i < n_order; i++)
		assert_int_equal(order[i], all->items[i]->id);
	drop(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_repo_download_queue_enqueue_and_get, setup_memory),
		TEST(test_repo_download_queue_enqueue_errors, setup_memory),
		TEST(test_repo_download_queue_not_found, setup_memory),
		TEST(test_repo_download_queue_update_applies_mask, setup_memory),
		TEST(test_repo_download_queue_delete_records_the_item, setup_memory),
		TEST(test_repo_download_queue_claim_takes_queue_order, setup_memory),
		TEST(test_repo_download_queue_stale_claims_are_requeued, setup_file),
		TEST(test_repo_download_queue_progress, setup_memory),
		TEST(test_repo_download_queue_every_transition, setup_memory),
		TEST(test_repo_download_queue_transition_effects, setup_memory),
		TEST(test_repo_download_queue_retry_conflicts_with_a_new_item, setup_memory),
		TEST(test_repo_download_queue_purge, setup_memory),
		TEST(test_repo_download_queue_list_order_and_filters, setup_memory),
		TEST(test_repo_download_queue_list_pages_with_inserts_between, setup_memory),
		TEST(test_repo_download_queue_list_exact_last_page_has_no_token, setup_memory),
		TEST(test_repo_download_queue_list_rejects_foreign_token, setup_memory),
		TEST(test_repo_download_queue_list_stops_at_the_reply_budget, setup_file),
		TEST(test_repo_download_queue_provider_and_language, setup_memory),
		TEST(test_repo_download_queue_summary, setup_memory),
		TEST(test_repo_download_queue_retry_failed, setup_file),
		TEST(test_repo_download_queue_cancel_series, setup_file),
		TEST(test_repo_download_queue_clear_finished, setup_file),
		TEST(test_repo_download_queue_move, setup_memory),
		TEST(test_repo_download_queue_move_makes_room, setup_memory),
		TEST(test_repo_download_queue_series_soft_delete, setup_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
