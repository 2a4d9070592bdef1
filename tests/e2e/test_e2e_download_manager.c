/*
 * End to end: the download queue as download managers have it, through the
 * client library against a real server on a loopback port (SQLite file, or
 * PostgreSQL from the fixture): provider and language on items and the
 * claims and lists that filter by them, GetQueueSummary, the bulk calls
 * (RetryFailedDownloads, CancelSeriesDownloads, ClearFinishedDownloads) and
 * the watch events they send, reordering (UpdateDownload's priority and
 * MoveDownload), and the INVALID_ARGUMENT answers of each.
 */
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

#define PENDING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_PENDING
#define DOWNLOADING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_DOWNLOADING
#define COMPLETED ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_COMPLETED
#define FAILED ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_FAILED
#define CANCELLED ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_CANCELLED
#define NORMAL ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_NORMAL
#define HIGH ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_HIGH
#define UPDATED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_UPDATED
#define DELETED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_DELETED

typedef struct fixture {
	harness h;
	aw_client *client;
	int64_t series, series2;
} fixture;

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

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || harness_start(&f->h) != 0 ||
	    aw_client_new(&f->client, f->h.target, NULL, NULL) != 0)
		return -1;
	f->series = make_series(f->client, "frieren");
	f->series2 = make_series(f->client, "mushishi");
	if (f->series < 0 || f->series2 < 0)
		return -1;
	*state = f;
	return 0;
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

static int enqueue(aw_client *c, int64_t series, int episode, int priority, const char *provider,
		   const char *language, item **out, aw_err *err)
{
	item d = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	Aniworld__V1__EnqueueDownloadRequest req = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;

	d.series_id = series;
	d.season = 1;
	d.episode_number = episode;
	d.priority = priority;
	d.provider = (char *)provider;
	d.language = (char *)language;
	req.item = &d;
	return aw_client_downloads_enqueue(c, &req, out, err, NULL);
}

static item *must_enqueue(aw_client *c, int64_t series, int episode, int priority,
			  const char *provider, const char *language)
{
	item *out = NULL;
	aw_err err;

	if (enqueue(c, series, episode, priority, provider, language, &out, &err) != 0)
		fail_msg("EnqueueDownload %d: %s", episode, err.msg);
	return out;
}

static int claim_for(aw_client *c, const char *provider, const char *language, item **out,
		     aw_err *err)
{
	Aniworld__V1__ClaimNextDownloadRequest req = ANIWORLD__V1__CLAIM_NEXT_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__ClaimNextDownloadResponse *res = NULL;
	int rc;

	req.provider = (char *)provider;
	req.language = (char *)language;
	*out = NULL;
	rc = aw_client_downloads_claim(c, &req, &res, err, NULL);
	if (rc == 0) {
		*out = res->item;
		res->item = NULL;
		aniworld__v1__claim_next_download_response__free_unpacked(res, NULL);
	}
	return rc;
}

/* The id claimed (0: none). */
static int64_t must_claim(aw_client *c, const char *provider, const char *language)
{
	item *d = NULL;
	aw_err err;
	int64_t id;

	if (claim_for(c, provider, language, &d, &err) != 0)
		fail_msg("ClaimNextDownload: %s", err.msg);
	id = d != NULL ? d->id : 0;
	if (d != NULL)
		aniworld__v1__download_queue_item__free_unpacked(d, NULL);
	return id;
}

static void free_item(item *d)
{
	aniworld__v1__download_queue_item__free_unpacked(d, NULL);
}

/* Claims item `id` (which must come first) and fails it. */
static void fail_item(aw_client *c, int64_t id)
{
	Aniworld__V1__FailDownloadRequest req = ANIWORLD__V1__FAIL_DOWNLOAD_REQUEST__INIT;
	item *out = NULL;
	aw_err err;

	assert_int_equal(must_claim(c, "", ""), id);
	req.id = id;
	req.error_message = "HTTP 503 from the hoster";
	if (aw_client_downloads_fail(c, &req, &out, &err, NULL) != 0)
		fail_msg("FailDownload: %s", err.msg);
	free_item(out);
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

/* The next event, which must come within 10 s, of `type` and with `status`;
 * returns its item's id. */
static int64_t next_event(aw_watch *w, int type, int status)
{
	event *e = NULL;
	aw_err err;
	int64_t id;
	int rc = aw_watch_next(w, &e, 10000, &err);

	if (rc != 0)
		fail_msg("aw_watch_next: %s (%s)", aw_err_name(rc), err.msg);
	if ((int)e->type != type || e->item == NULL || (int)e->item->status != status)
		fail_msg("expected event %d with status %d, got %d with %d", type, status,
			 (int)e->type, e->item != NULL ? (int)e->item->status : -1);
	id = e->item->id;
	aniworld__v1__download_event__free_unpacked(e, NULL);
	return id;
}

/* The ids of every item in list order, filtered by provider and language. */
static size_t list_ids(aw_client *c, const char *provider, const char *language, int64_t *ids,
		       size_t max, int32_t *total)
{
	Aniworld__V1__ListDownloadsRequest req = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__ListDownloadsResponse *res = NULL;
	aw_err err;
	size_t n = 0;

	req.provider = (char *)provider;
	req.language = (char *)language;
	if (aw_client_downloads_list(c, &req, &res, &err, NULL) != 0)
		fail_msg("ListDownloads: %s", err.msg);
	for (size_t i = 0; i < res->n_items && n < max; i++)
		ids[n++] = res->items[i]->id;
	if (total != NULL)
		*total = res->total_size;
	aniworld__v1__list_downloads_response__free_unpacked(res, NULL);
	return n;
}

/* ---- provider and language ------------------------------------------------------------ */

static void test_e2e_download_manager_provider_and_language(void **state)
{
	fixture *f = *state;
	item *voe_de = must_enqueue(f->client, f->series, 1, NORMAL, "voe", "de");
	item *vidoza_de = must_enqueue(f->client, f->series, 2, NORMAL, "vidoza", "de");
	item *voe_ja = must_enqueue(f->client, f->series, 3, NORMAL, "voe", "ja-sub");
	int64_t ids[8];
	int32_t total = 0;
	item *d = NULL;
	aw_err err;

	assert_string_equal(voe_de->provider, "voe");
	assert_string_equal(voe_de->language, "de");
	assert_true(voe_de->queue_position > 0);

	/* GetDownload returns them as stored. */
	Aniworld__V1__GetDownloadRequest get = ANIWORLD__V1__GET_DOWNLOAD_REQUEST__INIT;
	get.id = voe_ja->id;
	assert_int_equal(aw_client_downloads_get(f->client, &get, &d, &err, NULL), 0);
	assert_string_equal(d->provider, "voe");
	assert_string_equal(d->language, "ja-sub");
	free_item(d);

	assert_int_equal(list_ids(f->client, "voe", "", ids, 8, &total), 2);
	assert_int_equal(total, 2);
	assert_int_equal(ids[0], voe_de->id);
	assert_int_equal(ids[1], voe_ja->id);
	assert_int_equal(list_ids(f->client, "", "de", ids, 8, &total), 2);
	assert_int_equal(ids[1], vidoza_de->id);
	assert_int_equal(list_ids(f->client, "vidoza", "ja-sub", ids, 8, &total), 0);
	assert_int_equal(total, 0);

	/* A worker claims only what it can fetch. */
	assert_int_equal(must_claim(f->client, "vidoza", ""), vidoza_de->id);
	assert_int_equal(must_claim(f->client, "vidoza", ""), 0);
	assert_int_equal(must_claim(f->client, "voe", "ja-sub"), voe_ja->id);
	assert_int_equal(must_claim(f->client, "", "de"), voe_de->id);
	assert_int_equal(must_claim(f->client, "", ""), 0);

	/* Validation: length and printable ASCII, on enqueue, claim and list. */
	char long_tag[80];
	memset(long_tag, 'x', sizeof(long_tag) - 1);
	long_tag[sizeof(long_tag) - 1] = '\0';
	harness_expect_status(enqueue(f->client, f->series, 9, NORMAL, long_tag, "", &d, &err), &err,
		      AW_EINVAL, "item.provider is longer than 64 bytes");
	harness_expect_status(enqueue(f->client, f->series, 9, NORMAL, "voe", "de\nfake", &d, &err), &err,
		      AW_EINVAL, "item.language must be printable ASCII");
	harness_expect_status(enqueue(f->client, f->series, 9, NORMAL, "v\xc3\xb6" "e", "", &d, &err), &err,
		      AW_EINVAL, "item.provider must be printable ASCII");
	harness_expect_status(claim_for(f->client, "voe\t", "", &d, &err), &err, AW_EINVAL,
		      "provider must be printable ASCII");
	harness_expect_status(claim_for(f->client, "", long_tag, &d, &err), &err, AW_EINVAL,
		      "language is longer than 64 bytes");
	Aniworld__V1__ListDownloadsRequest lreq = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__ListDownloadsResponse *lres = NULL;
	lreq.provider = "\x01";
	harness_expect_status(aw_client_downloads_list(f->client, &lreq, &lres, &err, NULL), &err, AW_EINVAL,
		      "provider must be printable ASCII");
	free_item(voe_de);
	free_item(vidoza_de);
	free_item(voe_ja);
}

/* ---- the summary ------------------------------------------------------------------------ */

static Aniworld__V1__GetQueueSummaryResponse *summary(aw_client *c, int64_t series)
{
	Aniworld__V1__GetQueueSummaryRequest req = ANIWORLD__V1__GET_QUEUE_SUMMARY_REQUEST__INIT;
	Aniworld__V1__GetQueueSummaryResponse *res = NULL;
	aw_err err;

	req.series_id = series;
	if (aw_client_downloads_summary(c, &req, &res, &err, NULL) != 0)
		fail_msg("GetQueueSummary: %s", err.msg);
	return res;
}

static void test_e2e_download_manager_summary(void **state)
{
	fixture *f = *state;
	Aniworld__V1__ReportProgressRequest prog = ANIWORLD__V1__REPORT_PROGRESS_REQUEST__INIT;
	item *a = must_enqueue(f->client, f->series, 1, HIGH, "voe", "de");
	item *b = must_enqueue(f->client, f->series, 2, NORMAL, "voe", "de");
	item *c = must_enqueue(f->client, f->series2, 1, NORMAL, "voe", "de");
	item *out = NULL;
	aw_err err;

	assert_int_equal(must_claim(f->client, "", ""), a->id);
	prog.id = a->id;
	prog.downloaded_bytes = 250;
	prog.total_bytes = 1000;
	assert_int_equal(aw_client_downloads_report_progress(f->client, &prog, &out, &err, NULL), 0);
	free_item(out);
	fail_item(f->client, b->id);

	Aniworld__V1__GetQueueSummaryResponse *s = summary(f->client, f->series);
	assert_int_equal(s->downloading_count, 1);
	assert_int_equal(s->failed_count, 1);
	assert_int_equal(s->pending_count, 0);
	assert_int_equal(s->total_count, 2);
	assert_int_equal(s->downloaded_bytes, 250);
	assert_int_equal(s->total_bytes, 1000);
	aniworld__v1__get_queue_summary_response__free_unpacked(s, NULL);
	s = summary(f->client, 0);
	assert_int_equal(s->pending_count, 1);
	assert_int_equal(s->total_count, 3);
	aniworld__v1__get_queue_summary_response__free_unpacked(s, NULL);

	Aniworld__V1__GetQueueSummaryRequest bad = ANIWORLD__V1__GET_QUEUE_SUMMARY_REQUEST__INIT;
	bad.series_id = -1;
	harness_expect_status(aw_client_downloads_summary(f->client, &bad, &s, &err, NULL), &err, AW_EINVAL,
		      "series_id must be >= 0");
	free_item(a);
	free_item(b);
	free_item(c);
}

/* ---- the bulk calls ------------------------------------------------------------------------ */

static void test_e2e_download_manager_bulk_calls(void **state)
{
	fixture *f = *state;
	item *a = must_enqueue(f->client, f->series, 1, NORMAL, "voe", "de");
	item *b = must_enqueue(f->client, f->series, 2, NORMAL, "voe", "de");
	item *c = must_enqueue(f->client, f->series2, 1, NORMAL, "voe", "de");
	aw_watch *w;
	aw_err err;

	fail_item(f->client, a->id);
	fail_item(f->client, b->id);
	fail_item(f->client, c->id);
	w = must_watch(f->client);

	/* Retry the FAILED items of one series: both come back PENDING, and the
	 * watcher sees each. */
	Aniworld__V1__RetryFailedDownloadsRequest retry =
		ANIWORLD__V1__RETRY_FAILED_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__RetryFailedDownloadsResponse *rres = NULL;
	retry.series_id = f->series;
	retry.request_id = "0b1e6c1e-1d0f-4c38-9a55-5a4b1f0d2c11";
	assert_int_equal(aw_client_downloads_retry_failed(f->client, &retry, &rres, &err, NULL), 0);
	assert_int_equal(rres->retried_count, 2);
	aniworld__v1__retry_failed_downloads_response__free_unpacked(rres, NULL);
	int64_t e1 = next_event(w, UPDATED, PENDING), e2 = next_event(w, UPDATED, PENDING);
	assert_true((e1 == a->id && e2 == b->id) || (e1 == b->id && e2 == a->id));

	/* Every series: the last FAILED one (another request: another request_id). */
	retry.series_id = 0;
	retry.request_id = "5d6b1a3e-8c1f-4b7e-9f0a-2c3d4e5f6a7b";
	if (aw_client_downloads_retry_failed(f->client, &retry, &rres, &err, NULL) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rres->retried_count, 1);
	aniworld__v1__retry_failed_downloads_response__free_unpacked(rres, NULL);
	assert_int_equal(next_event(w, UPDATED, PENDING), c->id);

	/* Cancel every open item of one series. */
	Aniworld__V1__CancelSeriesDownloadsRequest cancel =
		ANIWORLD__V1__CANCEL_SERIES_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__CancelSeriesDownloadsResponse *cres = NULL;
	cancel.series_id = f->series;
	assert_int_equal(aw_client_downloads_cancel_series(f->client, &cancel, &cres, &err, NULL), 0);
	assert_int_equal(cres->cancelled_count, 2);
	aniworld__v1__cancel_series_downloads_response__free_unpacked(cres, NULL);
	e1 = next_event(w, UPDATED, CANCELLED);
	e2 = next_event(w, UPDATED, CANCELLED);
	assert_true((e1 == a->id && e2 == b->id) || (e1 == b->id && e2 == a->id));
	cancel.series_id = f->series2 + 1000;
	harness_expect_status(aw_client_downloads_cancel_series(f->client, &cancel, &cres, &err, NULL), &err,
		      AW_ENOTFOUND, "not found");
	cancel.series_id = 0;
	harness_expect_status(aw_client_downloads_cancel_series(f->client, &cancel, &cres, &err, NULL), &err,
		      AW_EINVAL, "series_id must be a positive series id");

	/* Clear the finished items older than now: the two CANCELLED ones. */
	Aniworld__V1__ClearFinishedDownloadsRequest clear =
		ANIWORLD__V1__CLEAR_FINISHED_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__ClearFinishedDownloadsResponse *dres = NULL;
	Google__Protobuf__Timestamp past = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Timestamp later = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	past.seconds = 1000000000; /* 2001: nothing finished that early */
	later.seconds = (int64_t)time(NULL) + 3600;
	clear.finished_before = &past;
	assert_int_equal(aw_client_downloads_clear_finished(f->client, &clear, &dres, &err, NULL), 0);
	assert_int_equal(dres->deleted_count, 0);
	aniworld__v1__clear_finished_downloads_response__free_unpacked(dres, NULL);
	clear.finished_before = &later;
	assert_int_equal(aw_client_downloads_clear_finished(f->client, &clear, &dres, &err, NULL), 0);
	assert_int_equal(dres->deleted_count, 2);
	aniworld__v1__clear_finished_downloads_response__free_unpacked(dres, NULL);
	e1 = next_event(w, DELETED, CANCELLED);
	e2 = next_event(w, DELETED, CANCELLED);
	assert_true((e1 == a->id && e2 == b->id) || (e1 == b->id && e2 == a->id));
	int64_t ids[4];
	assert_int_equal(list_ids(f->client, "", "", ids, 4, NULL), 1);
	assert_int_equal(ids[0], c->id);

	/* Bad input. */
	clear.finished_before = NULL;
	harness_expect_status(aw_client_downloads_clear_finished(f->client, &clear, &dres, &err, NULL), &err,
		      AW_EINVAL, "finished_before is required");
	Aniworld__V1__DownloadStatus pending = PENDING;
	clear.finished_before = &later;
	clear.n_statuses = 1;
	clear.statuses = &pending;
	harness_expect_status(aw_client_downloads_clear_finished(f->client, &clear, &dres, &err, NULL), &err,
		      AW_EINVAL, "only COMPLETED, FAILED and CANCELLED");
	retry.series_id = -3;
	harness_expect_status(aw_client_downloads_retry_failed(f->client, &retry, &rres, &err, NULL), &err,
		      AW_EINVAL, "series_id must be >= 0");
	aw_watch_free(w);
	free_item(a);
	free_item(b);
	free_item(c);
}

/* ---- reordering ------------------------------------------------------------------------------ */

static int move(aw_client *c, int64_t id, int64_t before, item **out, aw_err *err)
{
	Aniworld__V1__MoveDownloadRequest req = ANIWORLD__V1__MOVE_DOWNLOAD_REQUEST__INIT;

	req.id = id;
	req.before_id = before;
	*out = NULL;
	return aw_client_downloads_move(c, &req, out, err, NULL);
}

static void test_e2e_download_manager_reorder(void **state)
{
	fixture *f = *state;
	item *d[4], *out = NULL;
	int64_t ids[8];
	aw_err err;

	for (int i = 0; i < 4; i++)
		d[i] = must_enqueue(f->client, f->series, i + 1, NORMAL, "voe", "de");
	aw_watch *w = must_watch(f->client);

	/* d3 before d1; the watcher sees the move (after any room made). */
	if (move(f->client, d[3]->id, d[1]->id, &out, &err) != 0)
		fail_msg("MoveDownload: %s", err.msg);
	assert_int_equal(out->id, d[3]->id);
	free_item(out);
	for (;;) {
		int64_t id = next_event(w, UPDATED, PENDING);
		if (id == d[3]->id)
			break;
		assert_true(id == d[1]->id || id == d[2]->id); /* moved to make room */
	}
	assert_int_equal(list_ids(f->client, "", "", ids, 8, NULL), 4);
	assert_int_equal(ids[0], d[0]->id);
	assert_int_equal(ids[1], d[3]->id);
	assert_int_equal(ids[2], d[1]->id);
	assert_int_equal(ids[3], d[2]->id);

	/* d0 to the end; d2 to HIGH with UpdateDownload: claim order d2, d3, d1, d0. */
	assert_int_equal(move(f->client, d[0]->id, 0, &out, &err), 0);
	free_item(out);
	Aniworld__V1__UpdateDownloadRequest up = ANIWORLD__V1__UPDATE_DOWNLOAD_REQUEST__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[] = {"priority"};
	item change = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	change.id = d[2]->id;
	change.priority = HIGH;
	mask.n_paths = 1;
	mask.paths = paths;
	up.item = &change;
	up.update_mask = &mask;
	assert_int_equal(aw_client_downloads_update(f->client, &up, &out, &err, NULL), 0);
	assert_int_equal(out->priority, HIGH);
	free_item(out);

	/* Moving across priorities is refused; so are bad ids. */
	harness_expect_status(move(f->client, d[2]->id, d[1]->id, &out, &err), &err, AW_EPRECOND,
		      "one priority");
	harness_expect_status(move(f->client, d[1]->id, d[1]->id, &out, &err), &err, AW_EINVAL,
		      "before_id must name another download");
	harness_expect_status(move(f->client, 0, d[1]->id, &out, &err), &err, AW_EINVAL, "id");
	harness_expect_status(move(f->client, d[1]->id, -1, &out, &err), &err, AW_EINVAL, "before_id");
	harness_expect_status(move(f->client, d[1]->id, d[3]->id + 100, &out, &err), &err, AW_ENOTFOUND,
		      "not found");

	const int order[] = {2, 3, 1, 0};
	for (int i = 0; i < 4; i++)
		assert_int_equal(must_claim(f->client, "", ""), d[order[i]]->id);
	aw_watch_free(w);
	for (int i = 0; i < 4; i++)
		free_item(d[i]);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_e2e_download_manager_provider_and_language),
		TEST(test_e2e_download_manager_summary),
		TEST(test_e2e_download_manager_bulk_calls),
		TEST(test_e2e_download_manager_reorder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
