/*
 * End to end: concurrency control (AIP-154). Every record carries an etag that
 * every write of it changes; a write given the etag it read applies only if
 * the record is still that version, else ABORTED naming the record; racing
 * writers with the same etag: exactly one wins. Run on both backends.
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

static Aniworld__V1__AnimeSeries *create_series(aw_client *c, const char *key)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	aw_err err;

	s.key = (char *)key;
	s.name = (char *)key;
	req.series = &s;
	if (aw_client_series_create(c, &req, &out, &err, NULL) != 0)
		fail_msg("CreateSeries: %s", err.msg);
	return out;
}

/* UpdateSeries of the description, conditional on `etag` (in the resource). */
static int update_series(aw_client *c, int64_t id, const char *etag, const char *description,
			 Aniworld__V1__AnimeSeries **out, aw_err *err)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__UpdateSeriesRequest req = ANIWORLD__V1__UPDATE_SERIES_REQUEST__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[] = {"description"};

	s.id = id;
	s.etag = (char *)etag;
	s.description = (char *)description;
	mask.n_paths = 1;
	mask.paths = paths;
	req.series = &s;
	req.update_mask = &mask;
	return aw_client_series_update(c, &req, out, err, NULL);
}

static Aniworld__V1__DownloadQueueItem *enqueue(aw_client *c, int64_t series, int episode)
{
	Aniworld__V1__DownloadQueueItem it = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT, *out = NULL;
	Aniworld__V1__EnqueueDownloadRequest req = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
	aw_err err;

	it.series_id = series;
	it.season = 1;
	it.episode_number = episode;
	req.item = &it;
	if (aw_client_downloads_enqueue(c, &req, &out, &err, NULL) != 0)
		fail_msg("EnqueueDownload: %s", err.msg);
	return out;
}

static Aniworld__V1__DownloadQueueItem *get_item(aw_client *c, int64_t id)
{
	Aniworld__V1__GetDownloadRequest req = ANIWORLD__V1__GET_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__DownloadQueueItem *out = NULL;
	aw_err err;

	req.id = id;
	assert_int_equal(aw_client_downloads_get(c, &req, &out, &err, NULL), 0);
	return out;
}

/* ---- series ----------------------------------------------------------------------------- */

static void test_e2e_etag_series_update_and_delete(void **state)
{
	fixture *f = *state;
	aw_client *c = f->client;
	Aniworld__V1__AnimeSeries *s = create_series(c, "etagged"), *v2 = NULL, *out = NULL;
	Aniworld__V1__DeleteSeriesRequest del = ANIWORLD__V1__DELETE_SERIES_REQUEST__INIT;
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	char old[32], name[48];
	aw_err err;

	assert_true(s->etag[0] != '\0');
	snprintf(old, sizeof(old), "%s", s->etag);
	snprintf(name, sizeof(name), "series %lld changed", (long long)s->id);
	/* A write with the etag read applies and moves the etag. */
	assert_int_equal(update_series(c, s->id, old, "two", &v2, &err), 0);
	assert_string_not_equal(v2->etag, old);
	/* The stale one is refused, changing nothing. */
	harness_expect_status(update_series(c, s->id, old, "three", &out, &err), &err, AW_EABORTED, name);
	assert_non_null(strstr(err.msg, "read it again"));
	get.id = s->id;
	assert_int_equal(aw_client_series_get(c, &get, &out, &err, NULL), 0);
	assert_string_equal(out->description, "two");
	assert_string_equal(out->etag, v2->etag);
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	/* No etag: unconditional. */
	assert_int_equal(update_series(c, s->id, "", "four", &out, &err), 0);
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	/* An etag the server never issues. */
	harness_expect_status(update_series(c, s->id, "not-an-etag", "five", &out, &err), &err, AW_EINVAL,
		      "series.etag");
	/* Deletes: the stale etag is refused, the series stays; the current one goes. */
	del.id = s->id;
	del.etag = v2->etag;
	harness_expect_status(aw_client_series_delete(c, &del, &err, NULL), &err, AW_EABORTED, name);
	assert_int_equal(aw_client_series_get(c, &get, &out, &err, NULL), 0);
	del.etag = out->etag;
	assert_int_equal(aw_client_series_delete(c, &del, &err, NULL), 0);
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	del.etag = "";
	harness_expect_status(aw_client_series_delete(c, &del, &err, NULL), &err, AW_ENOTFOUND, "not found");
	aniworld__v1__anime_series__free_unpacked(v2, NULL);
	aniworld__v1__anime_series__free_unpacked(s, NULL);
}

/* ---- the download queue -------------------------------------------------------------------- */

static void test_e2e_etag_download_state_changes(void **state)
{
	fixture *f = *state;
	aw_client *c = f->client;
	Aniworld__V1__AnimeSeries *s = create_series(c, "queue");
	Aniworld__V1__DownloadQueueItem *it = enqueue(c, s->id, 1), *now = NULL, *out = NULL;
	Aniworld__V1__PauseDownloadRequest pause = ANIWORLD__V1__PAUSE_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__ResumeDownloadRequest resume = ANIWORLD__V1__RESUME_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__ClaimNextDownloadRequest claim = ANIWORLD__V1__CLAIM_NEXT_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__ClaimNextDownloadResponse *claimed = NULL;
	Aniworld__V1__ReportProgressRequest prog = ANIWORLD__V1__REPORT_PROGRESS_REQUEST__INIT;
	Aniworld__V1__CompleteDownloadRequest done = ANIWORLD__V1__COMPLETE_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__DeleteDownloadRequest del = ANIWORLD__V1__DELETE_DOWNLOAD_REQUEST__INIT;
	aw_call_opts o = AW_CALL_OPTS_INIT;
	char first[32], name[48];
	aw_err err;

	snprintf(first, sizeof(first), "%s", it->etag);
	snprintf(name, sizeof(name), "download %lld changed", (long long)it->id);
	pause.id = resume.id = prog.id = done.id = del.id = it->id;
	/* PauseDownload with the etag read; ResumeDownload with it again: stale. */
	pause.etag = first;
	assert_int_equal(aw_client_downloads_pause(c, &pause, &out, &err, NULL), 0);
	assert_string_not_equal(out->etag, first);
	aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	resume.etag = first;
	harness_expect_status(aw_client_downloads_resume(c, &resume, &out, &err, NULL), &err, AW_EABORTED,
		      name);
	/* The etag of a per-call option replaces the request's. */
	now = get_item(c, it->id);
	o.etag = now->etag;
	assert_int_equal(aw_client_downloads_resume(c, &resume, &out, &err, &o), 0);
	aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	aniworld__v1__download_queue_item__free_unpacked(now, NULL);

	/* A claim and a progress report move the etag too. */
	now = get_item(c, it->id);
	assert_int_equal(aw_client_downloads_claim(c, &claim, &claimed, &err, NULL), 0);
	assert_string_not_equal(claimed->item->etag, now->etag);
	aniworld__v1__download_queue_item__free_unpacked(now, NULL);
	prog.downloaded_bytes = 10;
	prog.total_bytes = 100;
	prog.etag = claimed->item->etag;
	assert_int_equal(aw_client_downloads_report_progress(c, &prog, &out, &err, NULL), 0);
	assert_string_not_equal(out->etag, claimed->item->etag);
	harness_expect_status(aw_client_downloads_report_progress(c, &prog, &now, &err, NULL), &err,
		      AW_EABORTED, name);
	/* A stale CompleteDownload changes nothing; the status check comes after. */
	done.etag = claimed->item->etag;
	harness_expect_status(aw_client_downloads_complete(c, &done, &now, &err, NULL), &err, AW_EABORTED,
		      name);
	char progressed[32];
	snprintf(progressed, sizeof(progressed), "%s", out->etag);
	aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	done.etag = progressed;
	assert_int_equal(aw_client_downloads_complete(c, &done, &out, &err, NULL), 0);
	assert_int_equal(out->status, ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_COMPLETED);
	/* DeleteDownload. */
	del.etag = claimed->item->etag;
	harness_expect_status(aw_client_downloads_delete(c, &del, &err, NULL), &err, AW_EABORTED, name);
	del.etag = out->etag;
	assert_int_equal(aw_client_downloads_delete(c, &del, &err, NULL), 0);
	aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	aniworld__v1__claim_next_download_response__free_unpacked(claimed, NULL);
	aniworld__v1__download_queue_item__free_unpacked(it, NULL);
	aniworld__v1__anime_series__free_unpacked(s, NULL);
}

/* ---- episodes and sessions --------------------------------------------------------------- */

static void test_e2e_etag_episodes_and_sessions(void **state)
{
	fixture *f = *state;
	aw_client *c = f->client;
	Aniworld__V1__AnimeSeries *s = create_series(c, "episodic");
	Aniworld__V1__Episode ep = ANIWORLD__V1__EPISODE__INIT, *e = NULL, *out = NULL, *stale = NULL;
	Aniworld__V1__CreateEpisodeRequest creq = ANIWORLD__V1__CREATE_EPISODE_REQUEST__INIT;
	Aniworld__V1__MarkEpisodeDownloadedRequest mark =
		ANIWORLD__V1__MARK_EPISODE_DOWNLOADED_REQUEST__INIT;
	Aniworld__V1__DeleteEpisodeRequest edel = ANIWORLD__V1__DELETE_EPISODE_REQUEST__INIT;
	Aniworld__V1__CreateSessionRequest sreq = ANIWORLD__V1__CREATE_SESSION_REQUEST__INIT;
	Aniworld__V1__ValidateSessionRequest vreq = ANIWORLD__V1__VALIDATE_SESSION_REQUEST__INIT;
	Aniworld__V1__ExtendSessionRequest xreq = ANIWORLD__V1__EXTEND_SESSION_REQUEST__INIT;
	Aniworld__V1__RevokeSessionRequest rreq = ANIWORLD__V1__REVOKE_SESSION_REQUEST__INIT;
	Aniworld__V1__ValidateSessionResponse *v = NULL;
	Aniworld__V1__UserSession *u = NULL, *u2 = NULL;
	Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	aw_err err;

	ep.series_id = s->id;
	ep.season = 1;
	ep.episode_number = 1;
	creq.episode = &ep;
	assert_int_equal(aw_client_episodes_create(c, &creq, &e, &err, NULL), 0);
	mark.id = edel.id = e->id;
	mark.file_path = "/media/e1.mkv";
	mark.etag = e->etag;
	assert_int_equal(aw_client_episodes_mark_downloaded(c, &mark, &out, &err, NULL), 0);
	harness_expect_status(aw_client_episodes_mark_downloaded(c, &mark, &stale, &err, NULL),
		      &err, AW_EABORTED, "episode");
	edel.etag = e->etag;
	harness_expect_status(aw_client_episodes_delete(c, &edel, &err, NULL), &err, AW_EABORTED, "episode");
	edel.etag = out->etag;
	assert_int_equal(aw_client_episodes_delete(c, &edel, &err, NULL), 0);
	aniworld__v1__episode__free_unpacked(out, NULL);
	aniworld__v1__episode__free_unpacked(e, NULL);

	exp.seconds = (int64_t)time(NULL) + 3600;
	sreq.user_id = "bob";
	sreq.token = "bob-token";
	sreq.session_id = "bob-1";
	sreq.expires_at = &exp;
	assert_int_equal(aw_client_session_create(c, &sreq, &u, &err, NULL), 0);
	/* ValidateSession moves last_activity: a write, so a new etag. */
	vreq.session_id = "bob-1";
	vreq.token = "bob-token";
	assert_int_equal(aw_client_session_validate(c, &vreq, &v, &err, NULL), 0);
	assert_true(v->valid);
	assert_string_not_equal(v->session->etag, u->etag);
	xreq.session_id = rreq.session_id = "bob-1";
	exp.seconds += 3600;
	xreq.expires_at = &exp;
	xreq.etag = u->etag;
	harness_expect_status(aw_client_session_extend(c, &xreq, &u2, &err, NULL), &err, AW_EABORTED,
		      "session \"bob-1\" changed");
	xreq.etag = v->session->etag;
	assert_int_equal(aw_client_session_extend(c, &xreq, &u2, &err, NULL), 0);
	rreq.etag = v->session->etag;
	aniworld__v1__user_session__free_unpacked(u, NULL);
	harness_expect_status(aw_client_session_revoke(c, &rreq, &u, &err, NULL), &err, AW_EABORTED,
		      "session");
	rreq.etag = u2->etag;
	assert_int_equal(aw_client_session_revoke(c, &rreq, &u, &err, NULL), 0);
	assert_false(u->is_active);
	aniworld__v1__user_session__free_unpacked(u, NULL);
	aniworld__v1__user_session__free_unpacked(u2, NULL);
	aniworld__v1__validate_session_response__free_unpacked(v, NULL);
	aniworld__v1__anime_series__free_unpacked(s, NULL);
}

/* ---- racing writers ------------------------------------------------------------------------ */

#define RACERS 8
#define ROUNDS 5

typedef struct racer {
	aw_client *client;
	pthread_barrier_t *start;
	int kind;            /* 0 UpdateSeries, 1 PauseDownload */
	int64_t id;
	const char *etag;
	int index;
	int rc;
} racer;

static void *racer_main(void *arg)
{
	racer *r = arg;
	aw_err err;
	char desc[32];

	pthread_barrier_wait(r->start);
	if (r->kind == 0) {
		Aniworld__V1__AnimeSeries *out = NULL;
		snprintf(desc, sizeof(desc), "racer %d", r->index);
		r->rc = update_series(r->client, r->id, r->etag, desc, &out, &err);
		if (out != NULL)
			aniworld__v1__anime_series__free_unpacked(out, NULL);
	} else {
		Aniworld__V1__PauseDownloadRequest req = ANIWORLD__V1__PAUSE_DOWNLOAD_REQUEST__INIT;
		Aniworld__V1__DownloadQueueItem *out = NULL;
		req.id = r->id;
		req.etag = (char *)r->etag;
		r->rc = aw_client_downloads_pause(r->client, &req, &out, &err, NULL);
		if (out != NULL)
			aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	}
	return NULL;
}

/* RACERS writers, each with its own connection, send the same etag at once:
 * exactly one applies, every other is ABORTED. */
static void race(fixture *f, int kind, int64_t id, const char *etag)
{
	pthread_t th[RACERS];
	racer rs[RACERS];
	aw_client *clients[RACERS];
	pthread_barrier_t start;
	aw_client_options o;
	int won = 0;

	aw_client_options_init(&o);
	o.dedicated_connection = 1;
	pthread_barrier_init(&start, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		assert_int_equal(aw_client_new(&clients[i], f->h.target, &o, NULL), 0);
		rs[i] = (racer){.client = clients[i], .start = &start, .kind = kind, .id = id,
				.etag = etag, .index = i};
		pthread_create(&th[i], NULL, racer_main, &rs[i]);
	}
	for (int i = 0; i < RACERS; i++) {
		pthread_join(th[i], NULL);
		aw_client_free(clients[i]);
		if (rs[i].rc == 0)
			won++;
		else if (rs[i].rc != AW_EABORTED)
			fail_msg("racer %d: %s", i, aw_err_name(rs[i].rc));
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(won, 1);
}

static void test_e2e_etag_racing_writers_one_wins(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries *s = create_series(f->client, "contested");
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	aw_err err;

	get.id = s->id;
	for (int round = 0; round < ROUNDS; round++) {
		Aniworld__V1__AnimeSeries *now = NULL;
		assert_int_equal(aw_client_series_get(f->client, &get, &now, &err, NULL), 0);
		race(f, 0, s->id, now->etag);
		aniworld__v1__anime_series__free_unpacked(now, NULL);
	}
	for (int round = 0; round < ROUNDS; round++) {
		Aniworld__V1__DownloadQueueItem *it = enqueue(f->client, s->id, round + 1);
		race(f, 1, it->id, it->etag);
		aniworld__v1__download_queue_item__free_unpacked(it, NULL);
	}
	aniworld__v1__anime_series__free_unpacked(s, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_e2e_etag_series_update_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_etag_download_state_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_etag_episodes_and_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_etag_racing_writers_one_wins, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
