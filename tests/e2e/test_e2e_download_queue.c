/*
 * End to end: aniworld.v1.DownloadQueueService through the client library
 * against a real server on a loopback port with a real database file: every
 * method, every error and status change, concurrent claimers, stale claims,
 * and WatchDownloads (order, filters, slow watchers, cancel, shutdown).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "aniworld/client.h"
#include "harness.h"

typedef Aniworld__V1__DownloadQueueItem item;
typedef Aniworld__V1__DownloadEvent event;

#define CLAIM_INIT ANIWORLD__V1__CLAIM_NEXT_DOWNLOAD_REQUEST__INIT
#define LIST_INIT ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT

#define PENDING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_PENDING
#define DOWNLOADING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_DOWNLOADING
#define PAUSED ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_PAUSED
#define COMPLETED ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_COMPLETED
#define FAILED ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_FAILED
#define CANCELLED ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_CANCELLED
#define LOW ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_LOW
#define NORMAL ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_NORMAL
#define HIGH ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_HIGH
#define CREATED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_CREATED
#define UPDATED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_UPDATED
#define DELETED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_DELETED

static const char *const status_names[] = {"UNSPECIFIED", "PENDING",   "DOWNLOADING", "PAUSED",
					   "COMPLETED",   "FAILED",    "CANCELLED"};

typedef struct fixture {
	harness h;
	aw_client *client;
	int64_t series;   /* a series to queue episodes of */
	int64_t series2;  /* another one */
	int64_t stale_ms; /* the server's stale-claim timeout; 0: the default */
} fixture;

static void configure(aw_config *cfg, void *arg)
{
	fixture *f = arg;

	if (f->stale_ms > 0)
		cfg->stale_claim_ms = f->stale_ms;
}

static int64_t make_series(aw_client *c, const char *key)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	int64_t id;

	s.key = (char *)key;
	s.name = (char *)key;
	req.series = &s;
	if (aw_client_series_create(c, &req, &out, NULL, NULL) != 0)
		return -1;
	id = out->id;
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return id;
}

static int setup_with(void **state, int64_t stale_ms)
{
	fixture *f = calloc(1, sizeof(*f));

	f->stale_ms = stale_ms;
	f->h.configure = configure;
	f->h.configure_arg = f;
	if (harness_start(&f->h) != 0 || aw_client_new(&f->client, f->h.target, NULL, NULL) != 0)
		return -1;
	f->series = make_series(f->client, "frieren");
	f->series2 = make_series(f->client, "mushishi");
	if (f->series < 0 || f->series2 < 0)
		return -1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 0);
}

/* The stale-claim timeout of setup_stale. */
#define STALE_MS 1000

/* A server whose claims go stale after STALE_MS without progress. */
static int setup_stale(void **state)
{
	return setup_with(state, STALE_MS);
}

static int teardown(void **state)
{
	fixture *f = *state;

	aw_client_free(f->client);
	harness_cleanup(&f->h);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static int enqueue(aw_client *c, int64_t series, int season, int episode, int priority,
		   item **out, aw_err *err)
{
	item d = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	Aniworld__V1__EnqueueDownloadRequest req = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;

	d.series_id = series;
	d.season = season;
	d.episode_number = episode;
	d.priority = priority;
	d.download_url = "https://example.invalid/episode";
	d.file_destination = "/anime/episode.mp4";
	req.item = &d;
	return aw_client_downloads_enqueue(c, &req, out, err, NULL);
}

static item *must_enqueue(aw_client *c, int64_t series, int season, int episode, int priority)
{
	item *out = NULL;
	aw_err err;

	if (enqueue(c, series, season, episode, priority, &out, &err) != 0)
		fail_msg("EnqueueDownload %d/%d: %s", season, episode, err.msg);
	return out;
}

/* The claimed item, or NULL when nothing is pending. */
static item *claim(aw_client *c)
{
	Aniworld__V1__ClaimNextDownloadRequest req = CLAIM_INIT;
	Aniworld__V1__ClaimNextDownloadResponse *res = NULL;
	aw_err err;
	item *d;


	if (aw_client_downloads_claim(c, &req, &res, &err, NULL) != 0)
		fail_msg("ClaimNextDownload: %s", err.msg);
	d = res->item;
	res->item = NULL;
	aniworld__v1__claim_next_download_response__free_unpacked(res, NULL);
	return d;
}

static int progress(aw_client *c, int64_t id, int64_t done, int64_t total, double speed,
		    item **out, aw_err *err)
{
	Aniworld__V1__ReportProgressRequest req = ANIWORLD__V1__REPORT_PROGRESS_REQUEST__INIT;

	req.id = id;
	req.downloaded_bytes = done;
	req.total_bytes = total;
	req.download_speed = speed;
	return aw_client_downloads_report_progress(c, &req, out, err, NULL);
}

/* The status-changing methods, by the name they answer to. */
typedef enum action { COMPLETE, FAIL, PAUSE, RESUME, CANCEL, RETRY, N_ACTIONS } action;
static const char *const action_methods[] = {"CompleteDownload", "FailDownload",
					     "PauseDownload",    "ResumeDownload",
					     "CancelDownload",   "RetryDownload"};

static int act(aw_client *c, action a, int64_t id, item **out, aw_err *err)
{
	switch (a) {
	case COMPLETE: {
		Aniworld__V1__CompleteDownloadRequest r =
			ANIWORLD__V1__COMPLETE_DOWNLOAD_REQUEST__INIT;
		r.id = id;
		return aw_client_downloads_complete(c, &r, out, err, NULL);
	}
	case FAIL: {
		Aniworld__V1__FailDownloadRequest r = ANIWORLD__V1__FAIL_DOWNLOAD_REQUEST__INIT;
		r.id = id;
		r.error_message = "HTTP 503 from the provider";
		return aw_client_downloads_fail(c, &r, out, err, NULL);
	}
	case PAUSE: {
		Aniworld__V1__PauseDownloadRequest r = ANIWORLD__V1__PAUSE_DOWNLOAD_REQUEST__INIT;
		r.id = id;
		return aw_client_downloads_pause(c, &r, out, err, NULL);
	}
	case RESUME: {
		Aniworld__V1__ResumeDownloadRequest r = ANIWORLD__V1__RESUME_DOWNLOAD_REQUEST__INIT;
		r.id = id;
		return aw_client_downloads_resume(c, &r, out, err, NULL);
	}
	case CANCEL: {
		Aniworld__V1__CancelDownloadRequest r = ANIWORLD__V1__CANCEL_DOWNLOAD_REQUEST__INIT;
		r.id = id;
		return aw_client_downloads_cancel(c, &r, out, err, NULL);
	}
	default: {
		Aniworld__V1__RetryDownloadRequest r = ANIWORLD__V1__RETRY_DOWNLOAD_REQUEST__INIT;
		r.id = id;
		return aw_client_downloads_retry(c, &r, out, err, NULL);
	}
	}
}

static item *must_act(aw_client *c, action a, int64_t id)
{
	item *out = NULL;
	aw_err err;

	if (act(c, a, id, &out, &err) != 0)
		fail_msg("%s %lld: %s", action_methods[a], (long long)id, err.msg);
	return out;
}

static void free_item(item *d)
{
	aniworld__v1__download_queue_item__free_unpacked(d, NULL);
}

static int delete_download(aw_client *c, int64_t id, aw_err *err)
{
	Aniworld__V1__DeleteDownloadRequest req = ANIWORLD__V1__DELETE_DOWNLOAD_REQUEST__INIT;

	req.id = id;
	return aw_client_downloads_delete(c, &req, err, NULL);
}

static aw_watch *must_watch(aw_client *c, int64_t series)
{
	Aniworld__V1__WatchDownloadsRequest req = ANIWORLD__V1__WATCH_DOWNLOADS_REQUEST__INIT;
	aw_watch *w = NULL;
	aw_err err;

	req.series_id = series;
	if (aw_client_downloads_watch(c, &req, &w, &err, NULL) != 0)
		fail_msg("WatchDownloads: %s", err.msg);
	return w;
}

/* The next event, which must come within 10 s. */
static event *must_next(aw_watch *w)
{
	event *e = NULL;
	aw_err err;
	int rc = aw_watch_next(w, &e, 10000, &err);

	if (rc != 0)
		fail_msg("aw_watch_next: %s (%s)", aw_err_name(rc), err.msg);
	return e;
}

/* Checks the next event: its type, item and status. */
static void expect_event(aw_watch *w, int type, int64_t id, int status)
{
	event *e = must_next(w);

	if ((int)e->type != type || e->item == NULL || e->item->id != id ||
	    (int)e->item->status != status)
		fail_msg("expected event %d for %lld (%s), got %d for %lld (%s)", type,
			 (long long)id, status_names[status], (int)e->type,
			 (long long)(e->item != NULL ? e->item->id : 0),
			 e->item != NULL ? status_names[e->item->status] : "-");
	aniworld__v1__download_event__free_unpacked(e, NULL);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- every method ----------------------------------------------------------------------- */

static void test_e2e_download_queue_every_method(void **state)
{
	fixture *f = *state;
	aw_watch *w = must_watch(f->client, 0);
	aw_err err;
	item *got = NULL;
	int rc;

	/* EnqueueDownload: stored PENDING, UNSPECIFIED priority as NORMAL. */
	item *a = must_enqueue(f->client, f->series, 1, 1, 0);
	assert_true(a->id > 0);
	assert_int_equal(a->status, PENDING);
	assert_int_equal(a->priority, NORMAL);
	assert_string_equal(a->download_url, "https://example.invalid/episode");
	assert_non_null(a->created_at);
	assert_null(a->started_at);

	/* GetDownload */
	Aniworld__V1__GetDownloadRequest get = ANIWORLD__V1__GET_DOWNLOAD_REQUEST__INIT;
	get.id = a->id;
	assert_int_equal(aw_client_downloads_get(f->client, &get, &got, &err, NULL), 0);
	assert_int_equal(got->series_id, f->series);
	assert_int_equal(got->episode_number, 1);
	free_item(got);

	/* UpdateDownload */
	item change = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	Aniworld__V1__UpdateDownloadRequest up = ANIWORLD__V1__UPDATE_DOWNLOAD_REQUEST__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[] = {"priority", "file_destination"};
	change.id = a->id;
	change.priority = HIGH;
	change.file_destination = "/anime/Frieren/S01E01.mkv";
	change.download_url = "not in the mask";
	mask.n_paths = 2;
	mask.paths = paths;
	up.item = &change;
	up.update_mask = &mask;
	assert_int_equal(aw_client_downloads_update(f->client, &up, &got, &err, NULL), 0);
	assert_int_equal(got->priority, HIGH);
	assert_string_equal(got->file_destination, "/anime/Frieren/S01E01.mkv");
	assert_string_equal(got->download_url, "https://example.invalid/episode");
	free_item(got);

	/* ListDownloads */
	item *b = must_enqueue(f->client, f->series2, 1, 1, LOW);
	Aniworld__V1__ListDownloadsRequest list = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__ListDownloadsResponse *page = NULL;
	assert_int_equal(aw_client_downloads_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->total_size, 2);
	assert_int_equal(page->n_items, 2);
	assert_int_equal(page->items[0]->id, a->id); /* HIGH first */
	assert_int_equal(page->items[1]->id, b->id);
	assert_string_equal(page->next_page_token, "");
	aniworld__v1__list_downloads_response__free_unpacked(page, NULL);

	/* ClaimNextDownload, ReportProgress, CompleteDownload */
	item *c = claim(f->client);
	assert_int_equal(c->id, a->id);
	assert_int_equal(c->status, DOWNLOADING);
	assert_non_null(c->started_at);
	assert_int_equal(progress(f->client, a->id, 512, 2048, 4096.0, &got, &err), 0);
	assert_true(got->progress_percent == 25.0);
	assert_true(got->download_speed == 4096.0);
	free_item(got);
	got = must_act(f->client, COMPLETE, a->id);
	assert_int_equal(got->status, COMPLETED);
	assert_true(got->progress_percent == 100.0);
	assert_non_null(got->completed_at);
	free_item(got);

	/* PauseDownload, ResumeDownload, CancelDownload, RetryDownload, FailDownload */
	got = must_act(f->client, PAUSE, b->id);
	assert_int_equal(got->status, PAUSED);
	free_item(got);
	got = must_act(f->client, RESUME, b->id);
	assert_int_equal(got->status, PENDING);
	free_item(got);
	got = must_act(f->client, CANCEL, b->id);
	assert_int_equal(got->status, CANCELLED);
	free_item(got);
	got = must_act(f->client, RETRY, b->id);
	assert_int_equal(got->status, PENDING);
	assert_int_equal(got->retry_count, 1);
	free_item(got);
	free_item(claim(f->client));
	got = must_act(f->client, FAIL, b->id);
	assert_int_equal(got->status, FAILED);
	assert_string_equal(got->error_message, "HTTP 503 from the provider");
	free_item(got);

	/* PurgeDownloads */
	Aniworld__V1__PurgeDownloadsRequest purge = ANIWORLD__V1__PURGE_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__PurgeDownloadsResponse *purged = NULL;
	Aniworld__V1__DownloadStatus completed[] = {COMPLETED};
	purge.n_statuses = 1;
	purge.statuses = completed;
	assert_int_equal(aw_client_downloads_purge(f->client, &purge, &purged, &err, NULL), 0);
	assert_int_equal(purged->deleted_count, 1);
	aniworld__v1__purge_downloads_response__free_unpacked(purged, NULL);
	rc = aw_client_downloads_get(f->client, &get, &got, &err, NULL);
	harness_expect_status(rc, &err, AW_ENOTFOUND, NULL);

	/* DeleteDownload */
	assert_int_equal(delete_download(f->client, b->id, &err), 0);
	get.id = b->id;
	rc = aw_client_downloads_get(f->client, &get, &got, &err, NULL);
	harness_expect_status(rc, &err, AW_ENOTFOUND, NULL);

	/* WatchDownloads saw all of it, in order. */
	expect_event(w, CREATED, a->id, PENDING);
	expect_event(w, UPDATED, a->id, PENDING); /* UpdateDownload */
	expect_event(w, CREATED, b->id, PENDING);
	expect_event(w, UPDATED, a->id, DOWNLOADING);
	expect_event(w, UPDATED, a->id, DOWNLOADING); /* progress */
	expect_event(w, UPDATED, a->id, COMPLETED);
	expect_event(w, UPDATED, b->id, PAUSED);
	expect_event(w, UPDATED, b->id, PENDING);
	expect_event(w, UPDATED, b->id, CANCELLED);
	expect_event(w, UPDATED, b->id, PENDING);
	expect_event(w, UPDATED, b->id, DOWNLOADING);
	expect_event(w, UPDATED, b->id, FAILED);
	expect_event(w, DELETED, a->id, COMPLETED); /* purge */
	expect_event(w, DELETED, b->id, FAILED);
	event *e = NULL;
	assert_int_equal(aw_watch_next(w, &e, 50, &err), AW_ETIMEDOUT); /* nothing more */
	assert_null(e);
	aw_watch_free(w);
	free_item(a);
	free_item(b);
	free_item(c);
}

/* ---- every error ----------------------------------------------------------------------- */

static void test_e2e_download_queue_errors(void **state)
{
	fixture *f = *state;
	item *out = NULL;
	aw_err err;

	/* EnqueueDownload */
	Aniworld__V1__EnqueueDownloadRequest no_item = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
	harness_expect_status(aw_client_downloads_enqueue(f->client, &no_item, &out, &err, NULL), &err, AW_EINVAL,
		      "item is required");
	harness_expect_status(enqueue(f->client, 0, 1, 1, NORMAL, &out, &err), &err, AW_EINVAL,
		      "item.series_id");
	harness_expect_status(enqueue(f->client, f->series, -1, 1, NORMAL, &out, &err), &err, AW_EINVAL,
		      "item.season must be >= 0, got -1");
	harness_expect_status(enqueue(f->client, f->series, 1, 0, NORMAL, &out, &err), &err, AW_EINVAL,
		      "item.episode_number must be >= 1, got 0");
	harness_expect_status(enqueue(f->client, f->series, 1, 1, 7, &out, &err), &err, AW_EINVAL,
		      "item.priority");
	assert_non_null(strstr(err.msg, "7"));
	harness_expect_status(enqueue(f->client, 777777, 1, 1, NORMAL, &out, &err), &err, AW_ENOTFOUND,
		      "series 777777 not found");
	item *a = must_enqueue(f->client, f->series, 1, 1, NORMAL);
	harness_expect_status(enqueue(f->client, f->series, 1, 1, HIGH, &out, &err), &err, AW_EEXIST,
		      "season 1 episode 1");
	assert_int_equal(aw_err_grpc_status(err.code), 6);
	assert_null(out);

	/* GetDownload, DeleteDownload */
	Aniworld__V1__GetDownloadRequest get = ANIWORLD__V1__GET_DOWNLOAD_REQUEST__INIT;
	get.id = 0;
	harness_expect_status(aw_client_downloads_get(f->client, &get, &out, &err, NULL), &err, AW_EINVAL,
		      "id must be a positive download id, got 0");
	get.id = 31337;
	harness_expect_status(aw_client_downloads_get(f->client, &get, &out, &err, NULL), &err, AW_ENOTFOUND,
		      "download 31337 not found");
	harness_expect_status(delete_download(f->client, -2, &err), &err, AW_EINVAL, "-2");
	harness_expect_status(delete_download(f->client, 31337, &err), &err, AW_ENOTFOUND, "31337");

	/* UpdateDownload */
	item change = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	Aniworld__V1__UpdateDownloadRequest up = ANIWORLD__V1__UPDATE_DOWNLOAD_REQUEST__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *path[1];
	harness_expect_status(aw_client_downloads_update(f->client, &up, &out, &err, NULL), &err, AW_EINVAL,
		      "item is required");
	up.item = &change;
	up.update_mask = &mask;
	mask.n_paths = 1;
	mask.paths = path;
	change.id = 0;
	path[0] = "priority";
	harness_expect_status(aw_client_downloads_update(f->client, &up, &out, &err, NULL), &err, AW_EINVAL,
		      "item.id");
	change.id = a->id;
	path[0] = "status";
	harness_expect_status(aw_client_downloads_update(f->client, &up, &out, &err, NULL), &err, AW_EINVAL,
		      "output only");
	path[0] = "retry_count";
	harness_expect_status(aw_client_downloads_update(f->client, &up, &out, &err, NULL), &err, AW_EINVAL,
		      "output only");
	path[0] = "episode_number";
	harness_expect_status(aw_client_downloads_update(f->client, &up, &out, &err, NULL), &err, AW_EINVAL,
		      "immutable field \"episode_number\"");
	path[0] = "priority";
	change.priority = 9;
	harness_expect_status(aw_client_downloads_update(f->client, &up, &out, &err, NULL), &err, AW_EINVAL,
		      "item.priority");
	path[0] = "download_url";
	change.download_url = "bad\001url";
	harness_expect_status(aw_client_downloads_update(f->client, &up, &out, &err, NULL), &err, AW_EINVAL,
		      "item.download_url");
	change.download_url = "fine";
	change.id = 31337;
	harness_expect_status(aw_client_downloads_update(f->client, &up, &out, &err, NULL), &err, AW_ENOTFOUND,
		      "31337");

	/* ListDownloads */
	Aniworld__V1__ListDownloadsRequest list = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__ListDownloadsResponse *page = NULL;
	Aniworld__V1__DownloadStatus st[3] = {PENDING, 0, PAUSED};
	list.page_size = -1;
	harness_expect_status(aw_client_downloads_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "page_size must be >= 0, got -1");
	list.page_size = 0;
	list.series_id = -4;
	harness_expect_status(aw_client_downloads_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "series_id must be >= 0");
	list.series_id = 0;
	list.n_statuses = 3;
	list.statuses = st;
	harness_expect_status(aw_client_downloads_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "statuses[1]");
	assert_non_null(strstr(err.msg, "UNSPECIFIED"));
	st[1] = 12;
	harness_expect_status(aw_client_downloads_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "got 12");
	list.n_statuses = 0;
	list.page_token = "garbage";
	harness_expect_status(aw_client_downloads_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "page_token");
	assert_null(page);

	/* ReportProgress */
	harness_expect_status(progress(f->client, 0, 1, 1, 0, &out, &err), &err, AW_EINVAL, "id");
	harness_expect_status(progress(f->client, a->id, -1, 10, 0, &out, &err), &err, AW_EINVAL,
		      "downloaded_bytes must be >= 0, got -1");
	harness_expect_status(progress(f->client, a->id, 1, -10, 0, &out, &err), &err, AW_EINVAL,
		      "total_bytes must be >= 0, got -10");
	harness_expect_status(progress(f->client, a->id, 1, 10, -5, &out, &err), &err, AW_EINVAL,
		      "download_speed");
	harness_expect_status(progress(f->client, a->id, 11, 10, 0, &out, &err), &err, AW_EINVAL,
		      "downloaded_bytes (11) must not exceed total_bytes (10)");
	harness_expect_status(progress(f->client, a->id, 1, 10, 0, &out, &err), &err, AW_EPRECOND,
		      "is PENDING; ReportProgress needs DOWNLOADING");
	assert_int_equal(aw_err_grpc_status(err.code), 9);
	harness_expect_status(progress(f->client, 31337, 1, 10, 0, &out, &err), &err, AW_ENOTFOUND,
		      "31337");

	/* FailDownload needs a reason; every status change needs an id. */
	Aniworld__V1__FailDownloadRequest fail = ANIWORLD__V1__FAIL_DOWNLOAD_REQUEST__INIT;
	fail.id = a->id;
	harness_expect_status(aw_client_downloads_fail(f->client, &fail, &out, &err, NULL), &err, AW_EINVAL,
		      "error_message is required");
	for (int x = 0; x < N_ACTIONS; x++) {
		harness_expect_status(act(f->client, (action)x, -1, &out, &err), &err, AW_EINVAL, "id");
		harness_expect_status(act(f->client, (action)x, 31337, &out, &err), &err, AW_ENOTFOUND,
			      "download 31337 not found");
	}

	/* PurgeDownloads */
	Aniworld__V1__PurgeDownloadsRequest purge = ANIWORLD__V1__PURGE_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__PurgeDownloadsResponse *purged = NULL;
	Aniworld__V1__DownloadStatus unfinished[] = {COMPLETED, PAUSED};
	harness_expect_status(aw_client_downloads_purge(f->client, &purge, &purged, &err, NULL), &err, AW_EINVAL,
		      "statuses is required");
	purge.n_statuses = 2;
	purge.statuses = unfinished;
	harness_expect_status(aw_client_downloads_purge(f->client, &purge, &purged, &err, NULL), &err, AW_EINVAL,
		      "statuses[1]");
	assert_non_null(strstr(err.msg, "PAUSED"));
	unfinished[1] = 0;
	harness_expect_status(aw_client_downloads_purge(f->client, &purge, &purged, &err, NULL), &err, AW_EINVAL,
		      "UNSPECIFIED");
	assert_null(purged);

	/* WatchDownloads */
	Aniworld__V1__WatchDownloadsRequest wr = ANIWORLD__V1__WATCH_DOWNLOADS_REQUEST__INIT;
	aw_watch *w = NULL;
	wr.series_id = -1;
	int rc = aw_client_downloads_watch(f->client, &wr, &w, &err, NULL);
	if (rc == 0) {
		/* The refusal may come with the headers: then the first read has it. */
		event *e = NULL;
		rc = aw_watch_next(w, &e, 10000, &err);
		aw_watch_free(w);
	}
	harness_expect_status(rc, &err, AW_EINVAL, "series_id must be >= 0");

	/* Nothing above changed the item. */
	get.id = a->id;
	assert_int_equal(aw_client_downloads_get(f->client, &get, &out, &err, NULL), 0);
	assert_int_equal(out->status, PENDING);
	assert_int_equal(out->priority, NORMAL);
	free_item(out);
	free_item(a);
}

/* ---- every status change ------------------------------------------------------------------ */

/* A new item of episode `ep` (season 5) in `status`; no other may be PENDING. */
static item *item_in(fixture *f, int ep, int status)
{
	item *d = must_enqueue(f->client, f->series, 5, ep, NORMAL);
	int64_t id = d->id;
	item *c;

	if (status == PENDING)
		return d;
	free_item(d);
	if (status == PAUSED)
		return must_act(f->client, PAUSE, id);
	if (status == CANCELLED)
		return must_act(f->client, CANCEL, id);
	c = claim(f->client);
	assert_int_equal(c->id, id);
	if (status == DOWNLOADING)
		return c;
	free_item(c);
	return must_act(f->client, status == COMPLETED ? COMPLETE : FAIL, id);
}

/* Each method from each status: the new status, or FAILED_PRECONDITION naming
 * the current one. */
static void test_e2e_download_queue_every_transition(void **state)
{
	fixture *f = *state;
	static const int expected[N_ACTIONS][7] = {
		[COMPLETE] = {[DOWNLOADING] = COMPLETED},
		[FAIL] = {[DOWNLOADING] = FAILED},
		[PAUSE] = {[PENDING] = PAUSED, [DOWNLOADING] = PAUSED},
		[RESUME] = {[PAUSED] = PENDING},
		[CANCEL] = {[PENDING] = CANCELLED, [DOWNLOADING] = CANCELLED, [PAUSED] = CANCELLED},
		[RETRY] = {[FAILED] = PENDING, [CANCELLED] = PENDING},
	};
	int ep = 1;

	for (int a = 0; a < N_ACTIONS; a++) {
		for (int s = PENDING; s <= CANCELLED; s++) {
			item *d = item_in(f, ep++, s);
			item *after = NULL;
			aw_err err;
			int rc = act(f->client, (action)a, d->id, &after, &err);

			assert_int_equal(d->status, s);
			if (expected[a][s] != 0) {
				if (rc != 0)
					fail_msg("%s from %s: %s", action_methods[a],
						 status_names[s], err.msg);
				assert_int_equal(after->status, expected[a][s]);
				free_item(after);
			} else {
				char want[96];

				snprintf(want, sizeof(want), "download %lld is %s; %s needs",
					 (long long)d->id, status_names[s], action_methods[a]);
				harness_expect_status(rc, &err, AW_EPRECOND, want);
				assert_null(after);
			}
			assert_int_equal(delete_download(f->client, d->id, &err), 0);
			free_item(d);
		}
	}
}

/* RetryDownload while the episode was queued again meanwhile. */
static void test_e2e_download_queue_retry_conflict(void **state)
{
	fixture *f = *state;
	item *a = must_enqueue(f->client, f->series, 1, 1, NORMAL);
	item *out = NULL;
	aw_err err;

	free_item(must_act(f->client, CANCEL, a->id));
	item *b = must_enqueue(f->client, f->series, 1, 1, NORMAL);
	harness_expect_status(act(f->client, RETRY, a->id, &out, &err), &err, AW_EEXIST,
		      "another unfinished download");
	free_item(a);
	free_item(b);
}

/* ---- paging ------------------------------------------------------------------------------- */

static void test_e2e_download_queue_paging_in_queue_order(void **state)
{
	fixture *f = *state;
	const int prios[] = {LOW, NORMAL, HIGH};
	char token[128] = "";
	int seen = 0, last_prio = 99;
	aw_err err;

	for (int ep = 1; ep <= 120; ep++)
		free_item(must_enqueue(f->client, f->series, 1, ep, prios[ep % 3]));
	for (;;) {
		Aniworld__V1__ListDownloadsRequest list = LIST_INIT;
		Aniworld__V1__ListDownloadsResponse *page = NULL;
		Aniworld__V1__DownloadStatus st[] = {PENDING, PENDING};

		list.page_token = token;
		list.n_statuses = 2; /* repeats are fine */
		list.statuses = st;
		list.series_id = f->series;
		assert_int_equal(aw_client_downloads_list(f->client, &list, &page, &err, NULL), 0);
		assert_int_equal(page->total_size, 120);
		assert_true(page->n_items <= 50);
		for (size_t i = 0; i < page->n_items; i++) {
			assert_true((int)page->items[i]->priority <= last_prio);
			last_prio = (int)page->items[i]->priority;
			seen++;
		}
		snprintf(token, sizeof(token), "%s", page->next_page_token);
		aniworld__v1__list_downloads_response__free_unpacked(page, NULL);
		if (token[0] == '\0')
			break;
	}
	assert_int_equal(seen, 120);
	assert_int_equal(last_prio, LOW);
}

/* ---- many claimers ------------------------------------------------------------------------ */

#define DRAIN_ITEMS 1000
#define CLAIMERS 8

typedef struct claimer {
	const char *target;
	int64_t *claimed_by;  /* index: item id - first id; shared, each slot written once */
	int64_t first_id;
	int id;
	int claimed;
	int bad;
	char failure[512];
} claimer;

/* Claims and completes until nothing is pending, with a client of its own. */
static void *claimer_main(void *arg)
{
	claimer *c = arg;
	aw_client *client;
	aw_err err;

	if (aw_client_new(&client, c->target, NULL, &err) != 0) {
		snprintf(c->failure, sizeof(c->failure), "client: %s", err.msg);
		c->bad++;
		return NULL;
	}
	for (;;) {
		Aniworld__V1__ClaimNextDownloadRequest req = CLAIM_INIT;
		Aniworld__V1__ClaimNextDownloadResponse *res = NULL;
		item *done = NULL;

		if (aw_client_downloads_claim(client, &req, &res, &err, NULL) != 0) {
			snprintf(c->failure, sizeof(c->failure), "claim: %s", err.msg);
			c->bad++;
			break;
		}
		if (res->item == NULL) {
			aniworld__v1__claim_next_download_response__free_unpacked(res, NULL);
			break;
		}
		int64_t slot = res->item->id - c->first_id;
		if (slot < 0 || slot >= DRAIN_ITEMS || res->item->status != DOWNLOADING) {
			c->bad++;
		} else {
			/* Each item is ours alone: a second claimer would overwrite. */
			int64_t before = __atomic_exchange_n(&c->claimed_by[slot], c->id + 1,
							     __ATOMIC_SEQ_CST);
			if (before != 0)
				c->bad++;
			c->claimed++;
		}
		if (act(client, COMPLETE, res->item->id, &done, &err) != 0) {
			snprintf(c->failure, sizeof(c->failure), "complete: %s", err.msg);
			c->bad++;
		}
		free_item(done);
		aniworld__v1__claim_next_download_response__free_unpacked(res, NULL);
	}
	aw_client_free(client);
	return NULL;
}

static void test_e2e_download_queue_eight_claimers_drain_the_queue(void **state)
{
	fixture *f = *state;
	int64_t *claimed_by = calloc(DRAIN_ITEMS, sizeof(*claimed_by));
	pthread_t threads[CLAIMERS];
	claimer c[CLAIMERS];
	int64_t first = 0;
	int total = 0;
	aw_err err;

	for (int ep = 1; ep <= DRAIN_ITEMS; ep++) {
		item *d = must_enqueue(f->client, ep % 2 ? f->series : f->series2, 1, ep,
				       ep % 3 + 1);
		if (ep == 1)
			first = d->id;
		assert_int_equal(d->id, first + ep - 1);
		free_item(d);
	}
	for (int t = 0; t < CLAIMERS; t++) {
		c[t] = (claimer){.target = f->h.target, .claimed_by = claimed_by, .first_id = first,
				 .id = t};
		pthread_create(&threads[t], NULL, claimer_main, &c[t]);
	}
	for (int t = 0; t < CLAIMERS; t++) {
		pthread_join(threads[t], NULL);
		if (c[t].bad != 0)
			fail_msg("claimer %d: %d bad results (%s)", t, c[t].bad, c[t].failure);
		total += c[t].claimed;
	}
	assert_int_equal(total, DRAIN_ITEMS);
	for (int i = 0; i < DRAIN_ITEMS; i++)
		assert_true(claimed_by[i] != 0);
	free(claimed_by);

	Aniworld__V1__ListDownloadsRequest list = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__ListDownloadsResponse *page = NULL;
	Aniworld__V1__DownloadStatus completed[] = {COMPLETED};
	list.n_statuses = 1;
	list.statuses = completed;
	assert_int_equal(aw_client_downloads_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->total_size, DRAIN_ITEMS);
	aniworld__v1__list_downloads_response__free_unpacked(page, NULL);
	assert_null(claim(f->client));
}

/* ---- stale claims ------------------------------------------------------------------------- */

/* With a short stale-claim timeout (STALE_MS): a claim kept alive by progress reports
 * stays; once its worker goes silent, the next claim takes it again and counts
 * a retry, and the old worker hears FAILED_PRECONDITION. */
static void test_e2e_download_queue_stale_claim_is_claimed_again(void **state)
{
	fixture *f = *state;
	aw_watch *w = must_watch(f->client, 0);
	item *a = must_enqueue(f->client, f->series, 1, 1, NORMAL);
	item *out = NULL, *again = NULL;
	aw_err err;

	int64_t claimed_at = now_ms(); /* the heartbeat is no earlier */
	item *first = claim(f->client);
	assert_int_equal(first->id, a->id);
	assert_null(claim(f->client)); /* claimed, not stale yet */

	/* Silent: within a bound, a claim takes it back. Claims are polled every
	 * 10 ms, since staleness is a matter of time passing. */
	while (again == NULL && now_ms() - claimed_at < 10000) {
		struct timespec pace = {0, 10 * 1000000};
		nanosleep(&pace, NULL);
		again = claim(f->client);
	}
	assert_non_null(again);
	assert_true(now_ms() - claimed_at >= STALE_MS);
	assert_int_equal(again->id, a->id);
	assert_int_equal(again->status, DOWNLOADING);
	assert_int_equal(again->retry_count, 1);

	expect_event(w, CREATED, a->id, PENDING);
	expect_event(w, UPDATED, a->id, DOWNLOADING);
	expect_event(w, UPDATED, a->id, PENDING); /* requeued */
	expect_event(w, UPDATED, a->id, DOWNLOADING);

	/* The new worker reports; completing is its call. */
	assert_int_equal(progress(f->client, a->id, 1, 2, 1.0, &out, &err), 0);
	free_item(out);
	item *done = must_act(f->client, COMPLETE, a->id);
	assert_int_equal(done->retry_count, 1);
	free_item(done);
	aw_watch_free(w);
	free_item(first);
	free_item(again);
	free_item(a);
}

/* ---- watching ------------------------------------------------------------------------------ */

static void test_e2e_download_queue_watch_sees_create_progress_completion(void **state)
{
	fixture *f = *state;
	aw_watch *all = must_watch(f->client, 0);
	aw_watch *mine = must_watch(f->client, f->series2);
	item *out = NULL;
	aw_err err;

	item *other = must_enqueue(f->client, f->series, 1, 1, HIGH); /* not series2 */
	item *a = must_enqueue(f->client, f->series2, 1, 1, LOW);
	free_item(must_act(f->client, PAUSE, other->id));
	item *c = claim(f->client);
	assert_int_equal(c->id, a->id);
	for (int i = 1; i <= 4; i++) {
		int rc = progress(f->client, a->id, i * 250, 1000, 100.0 * i, &out, &err);
		assert_int_equal(rc, 0);
		free_item(out);
	}
	free_item(must_act(f->client, COMPLETE, a->id));
	assert_int_equal(delete_download(f->client, a->id, &err), 0);

	/* The series watcher: only a, every step, in order. */
	expect_event(mine, CREATED, a->id, PENDING);
	expect_event(mine, UPDATED, a->id, DOWNLOADING);
	for (int i = 1; i <= 4; i++) {
		event *e = must_next(mine);
		assert_int_equal(e->type, UPDATED);
		assert_int_equal(e->item->downloaded_bytes, i * 250);
		assert_true(e->item->progress_percent == 25.0 * i);
		aniworld__v1__download_event__free_unpacked(e, NULL);
	}
	expect_event(mine, UPDATED, a->id, COMPLETED);
	expect_event(mine, DELETED, a->id, COMPLETED);

	/* The watcher of everything: the other series too. */
	expect_event(all, CREATED, other->id, PENDING);
	expect_event(all, CREATED, a->id, PENDING);
	expect_event(all, UPDATED, other->id, PAUSED);
	expect_event(all, UPDATED, a->id, DOWNLOADING);
	for (int i = 0; i < 4; i++)
		expect_event(all, UPDATED, a->id, DOWNLOADING);
	expect_event(all, UPDATED, a->id, COMPLETED);
	expect_event(all, DELETED, a->id, COMPLETED);

	event *e = NULL;
	assert_int_equal(aw_watch_next(mine, &e, 0, &err), AW_ETIMEDOUT);
	assert_int_equal(aw_watch_next(all, &e, 20, &err), AW_ETIMEDOUT);
	assert_null(e);
	aw_watch_free(mine);
	aw_watch_free(all);
	free_item(other);
	free_item(a);
	free_item(c);
}

typedef struct canceller {
	aw_watch *w;
	int rc;
	int64_t waited_ms;
	aw_err err;
} canceller;

static void *next_blocking(void *arg)
{
	canceller *c = arg;
	event *e = NULL;
	int64_t start = now_ms();

	c->rc = aw_watch_next(c->w, &e, -1, &c->err);
	c->waited_ms = now_ms() - start;
	if (e != NULL)
		aniworld__v1__download_event__free_unpacked(e, NULL);
	return NULL;
}

/* aw_watch_cancel from another thread ends a read that waits without limit;
 * the server forgets the watcher and goes on serving. */
static void test_e2e_download_queue_watch_cancel(void **state)
{
	fixture *f = *state;
	canceller c = {.w = must_watch(f->client, 0)};
	pthread_t t;
	event *e = NULL;
	aw_err err;

	assert_int_equal(aw_watch_next(c.w, &e, 30, &err), AW_ETIMEDOUT);
	pthread_create(&t, NULL, next_blocking, &c);
	aw_watch_cancel(c.w);
	pthread_join(t, NULL);
	harness_expect_status(c.rc, &c.err, AW_ECANCELED, NULL);
	/* Ended for good: later reads say the same. */
	assert_int_equal(aw_watch_next(c.w, &e, 0, &err), AW_ECANCELED);
	aw_watch_free(c.w);

	/* A new watcher works; the cancelled one gets nothing any more. */
	aw_watch *w = must_watch(f->client, 0);
	item *a = must_enqueue(f->client, f->series, 1, 1, NORMAL);
	expect_event(w, CREATED, a->id, PENDING);
	aw_watch_free(w);
	free_item(a);
	aw_watch_free(NULL);
}

typedef struct reader {
	aw_watch *w;
	int expected;   /* events to read */
	int got;
	int in_order;   /* downloaded_bytes rose by one each time */
	aw_err err;
} reader;

static void *read_all(void *arg)
{
	reader *r = arg;
	int64_t last = 0;

	r->in_order = 1;
	while (r->got < r->expected) {
		event *e = NULL;
		if (aw_watch_next(r->w, &e, 30000, &r->err) != 0)
			break;
		if (e->type == UPDATED && e->item->status == DOWNLOADING &&
		    e->item->downloaded_bytes > 0) {
			if (e->item->downloaded_bytes != last + 1)
				r->in_order = 0;
			last = e->item->downloaded_bytes;
		}
		r->got++;
		aniworld__v1__download_event__free_unpacked(e, NULL);
	}
	return NULL;
}

#define SLOW_EVENTS 6000

/* A watcher that never reads is dropped with RESOURCE_EXHAUSTED once its
 * backlog is full, while every write is answered and a watcher that reads
 * keeps up and sees every event in order. */
static void test_e2e_download_queue_slow_watcher_is_dropped(void **state)
{
	fixture *f = *state;
	aw_watch *slow = must_watch(f->client, 0);
	reader fast = {.w = must_watch(f->client, 0), .expected = SLOW_EVENTS + 2};
	item *out = NULL;
	pthread_t t;
	aw_err err;
	int slow_got = 0, rc;

	/* Big events (a 4000-byte URL), so that the transport's buffers between
	 * server and client fill up and the backlog has to grow. */
	char *url = malloc(4001);
	item d = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT, *a = NULL;
	Aniworld__V1__EnqueueDownloadRequest req = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
	memset(url, 'u', 4000);
	url[4000] = '\0';
	d.series_id = f->series;
	d.season = 1;
	d.episode_number = 1;
	d.download_url = url;
	req.item = &d;
	pthread_create(&t, NULL, read_all, &fast);
	assert_int_equal(aw_client_downloads_enqueue(f->client, &req, &a, &err, NULL), 0);
	free(url);
	free_item(claim(f->client));
	for (int i = 1; i <= SLOW_EVENTS; i++) {
		rc = progress(f->client, a->id, i, SLOW_EVENTS, 1.0, &out, &err);
		if (rc != 0)
			fail_msg("ReportProgress %d: %s", i, err.msg);
		free_item(out);
	}
	pthread_join(t, NULL);
	assert_int_equal(fast.got, SLOW_EVENTS + 2);
	assert_true(fast.in_order);

	/* The slow one: what was queued before the drop, then the status. */
	for (;;) {
		event *e = NULL;
		rc = aw_watch_next(slow, &e, 10000, &err);
		if (rc != 0)
			break;
		slow_got++;
		aniworld__v1__download_event__free_unpacked(e, NULL);
	}
	assert_int_equal(aw_err_grpc_status(rc), 8); /* RESOURCE_EXHAUSTED */
	assert_non_null(strstr(err.msg, "too slowly"));
	assert_true(slow_got < SLOW_EVENTS + 2);
	aw_watch_free(slow);
	aw_watch_free(fast.w);
	free_item(a);
}

/* A watch on a server nobody runs fails with UNAVAILABLE, at once or on the
 * first read. */
static void test_e2e_download_queue_watch_unreachable_server(void **state)
{
	Aniworld__V1__WatchDownloadsRequest req = ANIWORLD__V1__WATCH_DOWNLOADS_REQUEST__INIT;
	aw_client_options opts;
	aw_client *c;
	aw_watch *w = NULL;
	aw_err err;
	int rc;

	(void)state;
	aw_client_options_init(&opts);
	opts.deadline_ms = 2000;
	/* Port 1 on loopback: nothing listens there. */
	assert_int_equal(aw_client_new(&c, "127.0.0.1:1", &opts, &err), 0);
	rc = aw_client_downloads_watch(c, &req, &w, &err, NULL);
	if (rc == 0) {
		event *e = NULL;
		rc = aw_watch_next(w, &e, 10000, &err);
		assert_null(e);
		aw_watch_free(w);
	} else {
		assert_null(w);
	}
	assert_true(rc == AW_EUNAVAIL || rc == AW_ETIMEDOUT);
	aw_client_free(c);
}

/* Stopping the server ends every watch with UNAVAILABLE. */
static void test_e2e_download_queue_watch_ends_on_shutdown(void **state)
{
	fixture *f = *state;
	aw_watch *w = must_watch(f->client, 0);
	aw_watch *w2 = must_watch(f->client, f->series);
	item *a = must_enqueue(f->client, f->series, 1, 1, NORMAL);
	event *e = NULL;
	aw_err err;

	harness_stop(&f->h); /* returns once the streams have ended */
	expect_event(w, CREATED, a->id, PENDING); /* what was sent still arrives */
	harness_expect_status(aw_watch_next(w, &e, 10000, &err), &err, AW_EUNAVAIL, "shutting down");
	assert_null(e);
	expect_event(w2, CREATED, a->id, PENDING);
	harness_expect_status(aw_watch_next(w2, &e, 10000, &err), &err, AW_EUNAVAIL, "shutting down");
	aw_watch_free(w);
	aw_watch_free(w2);
	free_item(a);
	assert_int_equal(harness_restart(&f->h), 0);
}

/* Deleting a series deletes its queue items, and their watchers hear of it:
 * one DELETED event per item, as it was stored, in id order. */
static void test_e2e_download_queue_series_delete_cascades(void **state)
{
	fixture *f = *state;
	item *a = must_enqueue(f->client, f->series2, 1, 1, NORMAL);
	item *b = must_enqueue(f->client, f->series, 1, 1, NORMAL);
	item *c = must_enqueue(f->client, f->series2, 1, 2, HIGH);
	Aniworld__V1__DeleteSeriesRequest del = ANIWORLD__V1__DELETE_SERIES_REQUEST__INIT;
	Aniworld__V1__GetDownloadRequest get = ANIWORLD__V1__GET_DOWNLOAD_REQUEST__INIT;
	aw_watch *all = must_watch(f->client, 0);
	aw_watch *other = must_watch(f->client, f->series);
	item *out = NULL;
	event *e = NULL;
	aw_err err;

	del.id = f->series2;
	assert_int_equal(aw_client_series_delete(f->client, &del, &err, NULL), 0);
	expect_event(all, DELETED, a->id, PENDING);
	expect_event(all, DELETED, c->id, PENDING);
	assert_int_equal(aw_watch_next(all, &e, 100, &err), AW_ETIMEDOUT);
	assert_int_equal(aw_watch_next(other, &e, 100, &err), AW_ETIMEDOUT); /* not its series */
	aw_watch_free(all);
	aw_watch_free(other);
	free_item(c);
	get.id = a->id;
	harness_expect_status(aw_client_downloads_get(f->client, &get, &out, &err, NULL), &err, AW_ENOTFOUND,
		      NULL);
	get.id = b->id;
	assert_int_equal(aw_client_downloads_get(f->client, &get, &out, &err, NULL), 0);
	free_item(out);
	harness_expect_status(enqueue(f->client, f->series2, 1, 2, NORMAL, &out, &err), &err, AW_ENOTFOUND,
		      "series");
	free_item(a);
	free_item(b);
}

/* A test case with its fixture. */
#define TEST(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_e2e_download_queue_every_method, setup),
		TEST(test_e2e_download_queue_errors, setup),
		TEST(test_e2e_download_queue_every_transition, setup),
		TEST(test_e2e_download_queue_retry_conflict, setup),
		TEST(test_e2e_download_queue_paging_in_queue_order, setup),
		TEST(test_e2e_download_queue_eight_claimers_drain_the_queue, setup),
		TEST(test_e2e_download_queue_stale_claim_is_claimed_again, setup_stale),
		TEST(test_e2e_download_queue_watch_sees_create_progress_completion, setup),
		TEST(test_e2e_download_queue_watch_cancel, setup),
		TEST(test_e2e_download_queue_slow_watcher_is_dropped, setup),
		cmocka_unit_test(test_e2e_download_queue_watch_unreachable_server),
		TEST(test_e2e_download_queue_watch_ends_on_shutdown, setup),
		TEST(test_e2e_download_queue_series_delete_cascades, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
