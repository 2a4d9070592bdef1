/*
 * End to end: soft delete for series (AIP-164) through the client library
 * against a real server (SQLite file, or PostgreSQL from the fixture): off by
 * default (DeleteSeries deletes at once), and with --soft-delete-retention a
 * deleted series that Get still returns with delete_time while it, its
 * episodes and its queue items leave every list and the claims, keeps its
 * key, comes back whole with UndeleteSeries, goes for good with force (and
 * its items' DELETED events) or by itself after the retention.
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
typedef Aniworld__V1__AnimeSeries series;

#define PENDING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_PENDING
#define DELETED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_DELETED

typedef struct fixture {
	harness h;
	aw_client *client;
	int64_t retention_ms; /* the server's --soft-delete-retention; 0: off */
	int64_t series, series2;
} fixture;

static void configure(aw_config *cfg, void *arg)
{
	cfg->soft_delete_retention_ms = ((fixture *)arg)->retention_ms;
}

/* Creates series `key`: 0 or the AW_E* code; its id goes to *id. */
static int create_series(aw_client *c, const char *key, int64_t *id, aw_err *err)
{
	series s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	int rc;

	s.key = (char *)key;
	s.name = (char *)key;
	req.series = &s;
	*id = 0;
	if ((rc = aw_client_series_create(c, &req, &out, err, NULL)) != 0)
		return rc;
	*id = out->id;
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return 0;
}

static int setup_with(void **state, int64_t retention_ms)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->retention_ms = retention_ms;
	f->h.configure = configure;
	f->h.configure_arg = f;
	if (harness_start(&f->h) != 0 || aw_client_new(&f->client, f->h.target, NULL, NULL) != 0)
		return -1;
	if (create_series(f->client, "frieren", &f->series, NULL) != 0 ||
	    create_series(f->client, "mushishi", &f->series2, NULL) != 0)
		return -1;
	*state = f;
	return 0;
}

static int setup_off(void **state)
{
	return setup_with(state, 0);
}

static int setup_30d(void **state)
{
	return setup_with(state, 30LL * 24 * 3600 * 1000);
}

/* A retention short enough to watch the purge happen. */
static int setup_short(void **state)
{
	return setup_with(state, 1000);
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

static int get_series(aw_client *c, int64_t id, series **out, aw_err *err)
{
	Aniworld__V1__GetSeriesRequest req = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;

	req.id = id;
	*out = NULL;
	return aw_client_series_get(c, &req, out, err, NULL);
}

static int delete_series(aw_client *c, int64_t id, int force, aw_err *err)
{
	Aniworld__V1__DeleteSeriesRequest req = ANIWORLD__V1__DELETE_SERIES_REQUEST__INIT;

	req.id = id;
	req.force = force;
	return aw_client_series_delete(c, &req, err, NULL);
}

static int undelete_series(aw_client *c, int64_t id, series **out, aw_err *err)
{
	Aniworld__V1__UndeleteSeriesRequest req = ANIWORLD__V1__UNDELETE_SERIES_REQUEST__INIT;

	req.id = id;
	*out = NULL;
	return aw_client_series_undelete(c, &req, out, err, NULL);
}

/* total_size of ListSeries; *first the first id listed. */
static int32_t series_total(aw_client *c, int show_deleted, int64_t *first)
{
	Aniworld__V1__ListSeriesRequest req = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *res = NULL;
	aw_err err;
	int32_t n;

	req.show_deleted = show_deleted;
	if (aw_client_series_list(c, &req, &res, &err, NULL) != 0)
		fail_msg("ListSeries: %s", err.msg);
	n = res->total_size;
	assert_int_equal(res->n_series, (size_t)n);
	if (first != NULL)
		*first = n > 0 ? res->series[0]->id : 0;
	aniworld__v1__list_series_response__free_unpacked(res, NULL);
	return n;
}

static int32_t episodes_total(aw_client *c, int64_t series_id)
{
	Aniworld__V1__ListEpisodesRequest req = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Aniworld__V1__ListEpisodesResponse *res = NULL;
	aw_err err;
	int32_t n;

	req.series_id = series_id;
	if (aw_client_episodes_list(c, &req, &res, &err, NULL) != 0)
		fail_msg("ListEpisodes: %s", err.msg);
	n = res->total_size;
	aniworld__v1__list_episodes_response__free_unpacked(res, NULL);
	return n;
}

static int32_t downloads_total(aw_client *c, int64_t series_id)
{
	Aniworld__V1__ListDownloadsRequest req = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__ListDownloadsResponse *res = NULL;
	aw_err err;
	int32_t n;

	req.series_id = series_id;
	if (aw_client_downloads_list(c, &req, &res, &err, NULL) != 0)
		fail_msg("ListDownloads: %s", err.msg);
	n = res->total_size;
	aniworld__v1__list_downloads_response__free_unpacked(res, NULL);
	return n;
}

static int64_t must_enqueue(aw_client *c, int64_t series_id, int episode)
{
	item d = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT, *out = NULL;
	Aniworld__V1__EnqueueDownloadRequest req = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
	aw_err err;
	int64_t id;

	d.series_id = series_id;
	d.season = 1;
	d.episode_number = episode;
	req.item = &d;
	if (aw_client_downloads_enqueue(c, &req, &out, &err, NULL) != 0)
		fail_msg("EnqueueDownload: %s", err.msg);
	id = out->id;
	aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	return id;
}

static void must_create_episode(aw_client *c, int64_t series_id, int episode)
{
	Aniworld__V1__Episode e = ANIWORLD__V1__EPISODE__INIT, *out = NULL;
	Aniworld__V1__CreateEpisodeRequest req = ANIWORLD__V1__CREATE_EPISODE_REQUEST__INIT;
	aw_err err;

	e.series_id = series_id;
	e.season = 1;
	e.episode_number = episode;
	req.episode = &e;
	if (aw_client_episodes_create(c, &req, &out, &err, NULL) != 0)
		fail_msg("CreateEpisode: %s", err.msg);
	aniworld__v1__episode__free_unpacked(out, NULL);
}

/* The id claimed, 0 when nothing is. */
static int64_t claim(aw_client *c)
{
	Aniworld__V1__ClaimNextDownloadRequest req = ANIWORLD__V1__CLAIM_NEXT_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__ClaimNextDownloadResponse *res = NULL;
	aw_err err;
	int64_t id;

	if (aw_client_downloads_claim(c, &req, &res, &err, NULL) != 0)
		fail_msg("ClaimNextDownload: %s", err.msg);
	id = res->item != NULL ? res->item->id : 0;
	aniworld__v1__claim_next_download_response__free_unpacked(res, NULL);
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

/* The next event must be DELETED for item `id` within `ms`. */
static void expect_deleted(aw_watch *w, int64_t id, int ms)
{
	Aniworld__V1__DownloadEvent *e = NULL;
	aw_err err;
	int rc = aw_watch_next(w, &e, ms, &err);

	if (rc != 0)
		fail_msg("aw_watch_next: %s (%s)", aw_err_name(rc), err.msg);
	assert_int_equal(e->type, DELETED);
	assert_int_equal(e->item->id, id);
	aniworld__v1__download_event__free_unpacked(e, NULL);
}

/* ---- the tests ------------------------------------------------------------------------------ */

/* Off by default: DeleteSeries keeps today's meaning. */
static void test_e2e_series_soft_delete_off_by_default(void **state)
{
	fixture *f = *state;
	series *s = NULL;
	aw_err err;

	assert_int_equal(delete_series(f->client, f->series, 0, &err), 0);
	harness_expect_status(get_series(f->client, f->series, &s, &err), &err, AW_ENOTFOUND, "not found");
	harness_expect_status(undelete_series(f->client, f->series, &s, &err), &err, AW_ENOTFOUND,
		      "not found");
	assert_int_equal(series_total(f->client, 1, NULL), 1);
}

static void test_e2e_series_soft_delete_hides_and_undeletes(void **state)
{
	fixture *f = *state;
	int64_t mine = must_enqueue(f->client, f->series, 1);
	int64_t other = must_enqueue(f->client, f->series2, 1);
	int64_t first;
	series *s = NULL;
	aw_err err;

	must_create_episode(f->client, f->series, 1);
	assert_int_equal(delete_series(f->client, f->series, 0, &err), 0);

	/* Get returns it, marked; lists leave it and what is its out. */
	assert_int_equal(get_series(f->client, f->series, &s, &err), 0);
	assert_non_null(s->delete_time);
	assert_non_null(s->purge_time);
	assert_int_equal(s->purge_time->seconds - s->delete_time->seconds, 30 * 24 * 3600);
	aniworld__v1__anime_series__free_unpacked(s, NULL);
	assert_int_equal(series_total(f->client, 0, &first), 1);
	assert_int_equal(first, f->series2);
	assert_int_equal(series_total(f->client, 1, &first), 2);
	assert_int_equal(first, f->series);
	assert_int_equal(episodes_total(f->client, 0), 0);
	assert_int_equal(episodes_total(f->client, f->series), 0);
	assert_int_equal(downloads_total(f->client, 0), 1);
	assert_int_equal(downloads_total(f->client, f->series), 0);
	/* Its item is never claimed; its key stays taken. */
	assert_int_equal(claim(f->client), other);
	assert_int_equal(claim(f->client), 0);
	int64_t again;
	harness_expect_status(create_series(f->client, "frieren", &again, &err), &err, AW_EEXIST,
		      "already exists");

	/* Undelete brings it back whole. */
	assert_int_equal(undelete_series(f->client, f->series, &s, &err), 0);
	assert_null(s->delete_time);
	assert_null(s->purge_time);
	aniworld__v1__anime_series__free_unpacked(s, NULL);
	harness_expect_status(undelete_series(f->client, f->series, &s, &err), &err, AW_EPRECOND,
		      "is not deleted");
	harness_expect_status(undelete_series(f->client, 0, &s, &err), &err, AW_EINVAL, "id");
	assert_int_equal(series_total(f->client, 0, NULL), 2);
	assert_int_equal(episodes_total(f->client, f->series), 1);
	assert_int_equal(claim(f->client), mine);

	/* force deletes for good, with today's cascade and events. */
	aw_watch *w = must_watch(f->client);
	assert_int_equal(delete_series(f->client, f->series, 0, &err), 0);
	assert_int_equal(delete_series(f->client, f->series, 1, &err), 0);
	expect_deleted(w, mine, 10000);
	harness_expect_status(get_series(f->client, f->series, &s, &err), &err, AW_ENOTFOUND, "not found");
	assert_int_equal(series_total(f->client, 1, NULL), 1);
	assert_int_equal(create_series(f->client, "frieren", &again, &err), 0); /* the key is free */
	aw_watch_free(w);
}

/* After the retention the server purges the series by itself. */
static void test_e2e_series_soft_delete_purges_after_retention(void **state)
{
	fixture *f = *state;
	int64_t mine = must_enqueue(f->client, f->series, 1);
	aw_watch *w = must_watch(f->client);
	series *s = NULL;
	aw_err err;

	assert_int_equal(delete_series(f->client, f->series, 0, &err), 0);
	assert_int_equal(get_series(f->client, f->series, &s, &err), 0);
	aniworld__v1__anime_series__free_unpacked(s, NULL);
	/* The purge runs every tenth of the retention (at least 100 ms). */
	expect_deleted(w, mine, 15000);
	harness_expect_status(get_series(f->client, f->series, &s, &err), &err, AW_ENOTFOUND, "not found");
	assert_int_equal(series_total(f->client, 1, NULL), 1);
	aw_watch_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_e2e_series_soft_delete_off_by_default,
						setup_off, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_series_soft_delete_hides_and_undeletes,
						setup_30d, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_series_soft_delete_purges_after_retention,
						setup_short, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
