/*
 * End to end: safe retries (AIP-155). A write repeated with a request_id gets
 * the first answer back, success or error, without the work being done again:
 * one after the other, at once from several threads, and after the server
 * restarted. A request_id reused for another request, or malformed, is
 * INVALID_ARGUMENT. Run on both backends.
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

#define AW_TEST_PENDING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_PENDING
#define AW_TEST_DOWNLOADING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_DOWNLOADING
#define AW_REQUEST_ID_TEST_MAX 64 /* the longest request_id the server takes */

typedef struct fixture {
	harness h;
	aw_client *client;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (harness_start(&f->h) != 0 || aw_client_new(&f->client, f->h.target, NULL, NULL) != 0)
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

static const aw_call_opts *rid(aw_call_opts *o, const char *id)
{
	memset(o, 0, sizeof(*o));
	o->request_id = id;
	return o;
}

static int create_series(aw_client *c, const char *key, const char *request_id,
			 Aniworld__V1__AnimeSeries **out, aw_err *err)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	aw_call_opts o;

	s.key = (char *)key;
	s.name = (char *)key;
	req.series = &s;
	return aw_client_series_create(c, &req, out, err, rid(&o, request_id));
}

static int64_t must_series(aw_client *c, const char *key, const char *request_id)
{
	Aniworld__V1__AnimeSeries *out = NULL;
	aw_err err;
	int64_t id;

	if (create_series(c, key, request_id, &out, &err) != 0)
		fail_msg("CreateSeries %s: %s", key, err.msg);
	id = out->id;
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return id;
}

static int count_series(aw_client *c)
{
	Aniworld__V1__ListSeriesRequest req = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *out = NULL;
	aw_err err;
	int n;

	assert_int_equal(aw_client_series_list(c, &req, &out, &err, NULL), 0);
	n = out->total_size;
	aniworld__v1__list_series_response__free_unpacked(out, NULL);
	return n;
}

static int count_downloads(aw_client *c, int status)
{
	Aniworld__V1__ListDownloadsRequest req = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__ListDownloadsResponse *out = NULL;
	Aniworld__V1__DownloadStatus st = (Aniworld__V1__DownloadStatus)status;
	aw_err err;
	int n;

	req.n_statuses = 1;
	req.statuses = &st;
	assert_int_equal(aw_client_downloads_list(c, &req, &out, &err, NULL), 0);
	n = out->total_size;
	aniworld__v1__list_downloads_response__free_unpacked(out, NULL);
	return n;
}

static int64_t must_enqueue(aw_client *c, int64_t series, int episode, const char *request_id)
{
	Aniworld__V1__DownloadQueueItem it = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT, *out = NULL;
	Aniworld__V1__EnqueueDownloadRequest req = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
	aw_call_opts o;
	aw_err err;
	int64_t id;

	it.series_id = series;
	it.season = 1;
	it.episode_number = episode;
	req.item = &it;
	if (aw_client_downloads_enqueue(c, &req, &out, &err, rid(&o, request_id)) != 0)
		fail_msg("EnqueueDownload: %s", err.msg);
	id = out->id;
	aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	return id;
}

/* The id of the item a ClaimNextDownload with `request_id` answers (0: none). */
static int64_t claim(aw_client *c, const char *request_id)
{
	Aniworld__V1__ClaimNextDownloadRequest req = ANIWORLD__V1__CLAIM_NEXT_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__ClaimNextDownloadResponse *out = NULL;
	aw_call_opts o;
	aw_err err;
	int64_t id;

	if (aw_client_downloads_claim(c, &req, &out, &err, rid(&o, request_id)) != 0)
		fail_msg("ClaimNextDownload: %s", err.msg);
	id = out->item != NULL ? out->item->id : 0;
	aniworld__v1__claim_next_download_response__free_unpacked(out, NULL);
	return id;
}

/* ---- repeats -------------------------------------------------------------------------------- */

/* A write repeated with its request_id returns the first answer and does
 * nothing more: every method that takes one. */
static void test_e2e_request_id_repeat_after_success(void **state)
{
	fixture *f = *state;
	aw_client *c = f->client;
	aw_call_opts o;
	aw_err err;

	/* CreateSeries: the same series, created once. */
	int64_t s1 = must_series(c, "repeat-1", "series-a");
	assert_int_equal(must_series(c, "repeat-1", "series-a"), s1);
	assert_int_equal(count_series(c), 1);

	/* CreateEpisode and BatchCreateEpisodes. */
	Aniworld__V1__Episode ep = ANIWORLD__V1__EPISODE__INIT, *epo = NULL, *epo2 = NULL;
	Aniworld__V1__CreateEpisodeRequest ereq = ANIWORLD__V1__CREATE_EPISODE_REQUEST__INIT;
	ep.series_id = s1;
	ep.season = 1;
	ep.episode_number = 1;
	ereq.episode = &ep;
	assert_int_equal(aw_client_episodes_create(c, &ereq, &epo, &err, rid(&o, "ep-a")), 0);
	assert_int_equal(aw_client_episodes_create(c, &ereq, &epo2, &err, rid(&o, "ep-a")), 0);
	assert_int_equal(epo2->id, epo->id);
	assert_string_equal(epo2->etag, epo->etag);
	aniworld__v1__episode__free_unpacked(epo, NULL);
	aniworld__v1__episode__free_unpacked(epo2, NULL);

	Aniworld__V1__Episode b1 = ANIWORLD__V1__EPISODE__INIT, b2 = ANIWORLD__V1__EPISODE__INIT;
	Aniworld__V1__Episode *batch[2] = {&b1, &b2};
	Aniworld__V1__BatchCreateEpisodesRequest breq = ANIWORLD__V1__BATCH_CREATE_EPISODES_REQUEST__INIT;
	Aniworld__V1__BatchCreateEpisodesResponse *bo = NULL, *bo2 = NULL;
	b1.season = b2.season = 2;
	b1.episode_number = 1;
	b2.episode_number = 2;
	breq.series_id = s1;
	breq.n_episodes = 2;
	breq.episodes = batch;
	assert_int_equal(aw_client_episodes_batch_create(c, &breq, &bo, &err, rid(&o, "batch-a")), 0);
	assert_int_equal(aw_client_episodes_batch_create(c, &breq, &bo2, &err, rid(&o, "batch-a")), 0);
	assert_int_equal(bo2->n_episodes, 2);
	assert_int_equal(bo2->episodes[0]->id, bo->episodes[0]->id);
	assert_int_equal(bo2->episodes[1]->id, bo->episodes[1]->id);
	aniworld__v1__batch_create_episodes_response__free_unpacked(bo, NULL);
	aniworld__v1__batch_create_episodes_response__free_unpacked(bo2, NULL);

	/* EnqueueDownload, ClaimNextDownload, CompleteDownload. */
	int64_t d1 = must_enqueue(c, s1, 1, "enqueue-a");
	assert_int_equal(must_enqueue(c, s1, 1, "enqueue-a"), d1);
	int64_t d2 = must_enqueue(c, s1, 2, "enqueue-b");
	assert_int_equal(count_downloads(c, AW_TEST_PENDING), 2);
	assert_int_equal(claim(c, "claim-a"), d1);
	assert_int_equal(claim(c, "claim-a"), d1); /* not d2: the claim is not done again */
	assert_int_equal(count_downloads(c, AW_TEST_DOWNLOADING), 1);
	assert_int_equal(count_downloads(c, AW_TEST_PENDING), 1);

	Aniworld__V1__CompleteDownloadRequest creq = ANIWORLD__V1__COMPLETE_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__DownloadQueueItem *done = NULL, *done2 = NULL;
	creq.id = d1;
	assert_int_equal(aw_client_downloads_complete(c, &creq, &done, &err, rid(&o, "complete-a")), 0);
	/* Completing again would be FAILED_PRECONDITION; the repeat is the first answer. */
	assert_int_equal(aw_client_downloads_complete(c, &creq, &done2, &err, rid(&o, "complete-a")), 0);
	assert_int_equal(done2->status, done->status);
	assert_string_equal(done2->etag, done->etag);
	aniworld__v1__download_queue_item__free_unpacked(done, NULL);
	aniworld__v1__download_queue_item__free_unpacked(done2, NULL);
	Aniworld__V1__DownloadQueueItem *again = NULL;
	harness_expect_status(aw_client_downloads_complete(c, &creq, &again, &err, rid(&o, "complete-b")), &err,
		      AW_EPRECOND, "COMPLETED");

	/* CancelDownload, then RetryDownload. */
	Aniworld__V1__CancelDownloadRequest xreq = ANIWORLD__V1__CANCEL_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__RetryDownloadRequest rreq = ANIWORLD__V1__RETRY_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__DownloadQueueItem *x = NULL;
	xreq.id = d2;
	rreq.id = d2;
	assert_int_equal(aw_client_downloads_cancel(c, &xreq, &x, &err, rid(&o, "cancel-a")), 0);
	aniworld__v1__download_queue_item__free_unpacked(x, NULL);
	assert_int_equal(aw_client_downloads_retry(c, &rreq, &x, &err, rid(&o, "retry-a")), 0);
	assert_int_equal(x->retry_count, 1);
	aniworld__v1__download_queue_item__free_unpacked(x, NULL);
	assert_int_equal(aw_client_downloads_retry(c, &rreq, &x, &err, rid(&o, "retry-a")), 0);
	assert_int_equal(x->retry_count, 1); /* retried once, not twice */
	aniworld__v1__download_queue_item__free_unpacked(x, NULL);

	/* FailDownload. */
	Aniworld__V1__FailDownloadRequest freq = ANIWORLD__V1__FAIL_DOWNLOAD_REQUEST__INIT;
	assert_int_equal(claim(c, "claim-b"), d2);
	freq.id = d2;
	freq.error_message = "hoster gone";
	assert_int_equal(aw_client_downloads_fail(c, &freq, &x, &err, rid(&o, "fail-a")), 0);
	aniworld__v1__download_queue_item__free_unpacked(x, NULL);
	assert_int_equal(aw_client_downloads_fail(c, &freq, &x, &err, rid(&o, "fail-a")), 0);
	assert_string_equal(x->error_message, "hoster gone");
	aniworld__v1__download_queue_item__free_unpacked(x, NULL);

	/* CreateSession: one session, even with the id generated by the server. */
	Aniworld__V1__CreateSessionRequest sreq = ANIWORLD__V1__CREATE_SESSION_REQUEST__INIT;
	Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Aniworld__V1__UserSession *u1 = NULL, *u2 = NULL;
	exp.seconds = (int64_t)time(NULL) + 3600;
	sreq.user_id = "alice";
	sreq.token = "alice-token";
	sreq.expires_at = &exp;
	assert_int_equal(aw_client_session_create(c, &sreq, &u1, &err, rid(&o, "session-a")), 0);
	assert_int_equal(aw_client_session_create(c, &sreq, &u2, &err, rid(&o, "session-a")), 0);
	assert_string_equal(u2->session_id, u1->session_id);
	aniworld__v1__user_session__free_unpacked(u1, NULL);
	aniworld__v1__user_session__free_unpacked(u2, NULL);
	Aniworld__V1__ListSessionsRequest lreq = ANIWORLD__V1__LIST_SESSIONS_REQUEST__INIT;
	Aniworld__V1__ListSessionsResponse *ls = NULL;
	assert_int_equal(aw_client_session_list(c, &lreq, &ls, &err, NULL), 0);
	assert_int_equal(ls->total_size, 1);
	aniworld__v1__list_sessions_response__free_unpacked(ls, NULL);
}

/* A repeat of a write that failed fails the same way, even when the write
 * would now succeed: the error was the answer. */
static void test_e2e_request_id_repeat_after_error(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries *out = NULL;
	Aniworld__V1__DeleteSeriesRequest del = ANIWORLD__V1__DELETE_SERIES_REQUEST__INIT;
	aw_err err;

	del.id = must_series(f->client, "taken", NULL);
	harness_expect_status(create_series(f->client, "taken", "dup-1", &out, &err), &err, AW_EEXIST,
		      "taken");
	assert_int_equal(aw_client_series_delete(f->client, &del, &err, NULL), 0);
	harness_expect_status(create_series(f->client, "taken", "dup-1", &out, &err), &err, AW_EEXIST,
		      "taken");
	assert_int_equal(count_series(f->client), 0);
	/* A new request_id does the work. */
	assert_int_equal(create_series(f->client, "taken", "dup-2", &out, &err), 0);
	aniworld__v1__anime_series__free_unpacked(out, NULL);
}

/* The same request_id with another request, or a malformed one, is refused. */
static void test_e2e_request_id_misuse(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries *out = NULL;
	char long_id[AW_REQUEST_ID_TEST_MAX + 2];
	aw_err err;

	must_series(f->client, "first", "reused");
	harness_expect_status(create_series(f->client, "second", "reused", &out, &err), &err, AW_EINVAL,
		      "request_id");
	assert_int_equal(count_series(f->client), 1);
	/* Another method with the same request_id is another request too. */
	int64_t item_claim;
	Aniworld__V1__ClaimNextDownloadRequest req = ANIWORLD__V1__CLAIM_NEXT_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__ClaimNextDownloadResponse *co = NULL;
	aw_call_opts o;
	harness_expect_status(aw_client_downloads_claim(f->client, &req, &co, &err, rid(&o, "reused")), &err,
		      AW_EINVAL, "different request");

	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	harness_expect_status(create_series(f->client, "third", long_id, &out, &err), &err, AW_EINVAL,
		      "request_id");
	harness_expect_status(create_series(f->client, "third", "tab\there", &out, &err), &err, AW_EINVAL,
		      "request_id");
	long_id[AW_REQUEST_ID_TEST_MAX] = '\0'; /* 64 bytes: accepted */
	assert_int_equal(create_series(f->client, "third", long_id, &out, &err), 0);
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	item_claim = claim(f->client, "nothing-pending");
	assert_int_equal(item_claim, 0);
}

/* ---- at once ------------------------------------------------------------------------------ */

#define RACERS 8

typedef struct racer {
	aw_client *client;
	pthread_barrier_t *start;
	int kind;       /* 0 CreateSeries, 1 ClaimNextDownload */
	int64_t id;     /* the answer */
	int rc;
} racer;

static void *racer_main(void *arg)
{
	racer *r = arg;
	Aniworld__V1__AnimeSeries *out = NULL;
	aw_err err;

	pthread_barrier_wait(r->start);
	if (r->kind == 0) {
		r->rc = create_series(r->client, "raced", "race-create", &out, &err);
		r->id = r->rc == 0 ? out->id : 0;
		if (out != NULL)
			aniworld__v1__anime_series__free_unpacked(out, NULL);
	} else {
		r->id = claim(r->client, "race-claim");
		r->rc = 0;
	}
	return NULL;
}

static void race(fixture *f, int kind, racer *rs)
{
	pthread_t th[RACERS];
	pthread_barrier_t start;

	pthread_barrier_init(&start, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		rs[i] = (racer){.client = f->client, .start = &start, .kind = kind};
		pthread_create(&th[i], NULL, racer_main, &rs[i]);
	}
	for (int i = 0; i < RACERS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
}

/* Identical calls in flight at once do the work once and all get its answer. */
static void test_e2e_request_id_concurrent_repeats(void **state)
{
	fixture *f = *state;
	racer rs[RACERS];

	race(f, 0, rs);
	for (int i = 0; i < RACERS; i++) {
		assert_int_equal(rs[i].rc, 0);
		assert_int_equal(rs[i].id, rs[0].id);
	}
	assert_int_equal(count_series(f->client), 1);

	for (int e = 1; e <= 3; e++)
		must_enqueue(f->client, rs[0].id, e, NULL);
	race(f, 1, rs);
	assert_true(rs[0].id > 0);
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(rs[i].id, rs[0].id);
	assert_int_equal(count_downloads(f->client, AW_TEST_DOWNLOADING), 1);
	assert_int_equal(count_downloads(f->client, AW_TEST_PENDING), 2);
}

/* ---- across a restart ---------------------------------------------------------------------- */

static void test_e2e_request_id_survives_a_restart(void **state)
{
	fixture *f = *state;
	int64_t id = must_series(f->client, "durable", "restart-1");
	Aniworld__V1__AnimeSeries *out = NULL;
	aw_err err;

	harness_stop(&f->h);
	assert_int_equal(harness_restart(&f->h), 0);
	aw_client_free(f->client);
	assert_int_equal(aw_client_new(&f->client, f->h.target, NULL, NULL), 0);
	assert_int_equal(must_series(f->client, "durable", "restart-1"), id);
	assert_int_equal(count_series(f->client), 1);
	harness_expect_status(create_series(f->client, "other", "restart-1", &out, &err), &err, AW_EINVAL,
		      "request_id");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_e2e_request_id_repeat_after_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_request_id_repeat_after_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_request_id_misuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_request_id_concurrent_repeats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_request_id_survives_a_restart, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
