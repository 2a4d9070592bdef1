/*
 * End to end: aniworld.v1.EpisodeService through the client library against a
 * real server on a loopback port with a real database file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aniworld/client.h"
#include "harness.h"

typedef struct fixture {
	harness h;
	aw_client *client;
	int64_t series;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;

	if (harness_start(&f->h) != 0 || aw_client_new(&f->client, f->h.target, NULL, NULL) != 0)
		return -1;
	s.key = "frieren";
	s.name = "Frieren";
	req.series = &s;
	if (aw_client_series_create(f->client, &req, &out, NULL, NULL) != 0)
		return -1;
	f->series = out->id;
	aniworld__v1__anime_series__free_unpacked(out, NULL);
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

static int create(fixture *f, int64_t series, int season, int number, Aniworld__V1__Episode **out,
		  aw_err *err)
{
	Aniworld__V1__Episode e = ANIWORLD__V1__EPISODE__INIT;
	Aniworld__V1__CreateEpisodeRequest req = ANIWORLD__V1__CREATE_EPISODE_REQUEST__INIT;

	e.series_id = series;
	e.season = season;
	e.episode_number = number;
	e.title = "Episode";
	req.episode = &e;
	return aw_client_episodes_create(f->client, &req, out, err, NULL);
}

/* Microseconds of a Timestamp, for comparing them. */
static int64_t us_of(const Google__Protobuf__Timestamp *ts)
{
	assert_non_null(ts);
	return ts->seconds * 1000000 + ts->nanos / 1000;
}

static int64_t new_series(fixture *f, const char *key)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	aw_err err;
	int64_t id;

	s.key = (char *)key;
	s.name = (char *)key;
	req.series = &s;
	if (aw_client_series_create(f->client, &req, &out, &err, NULL) != 0)
		fail_msg("creating series %s: %s", key, err.msg);
	id = out->id;
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	return id;
}

/* A batch request of `n` episodes of season 1 numbered 1..n, series_id 0 in
 * each; the caller frees it with batch_free. */
static Aniworld__V1__BatchCreateEpisodesRequest *batch_new(int64_t series, size_t n)
{
	Aniworld__V1__BatchCreateEpisodesRequest init = ANIWORLD__V1__BATCH_CREATE_EPISODES_REQUEST__INIT;
	Aniworld__V1__BatchCreateEpisodesRequest *b = malloc(sizeof(*b));
	Aniworld__V1__Episode *items = calloc(n, sizeof(*items));

	assert_non_null(b);
	assert_non_null(items);
	*b = init;
	b->series_id = series;
	b->n_episodes = n;
	b->episodes = calloc(n, sizeof(*b->episodes));
	assert_non_null(b->episodes);
	for (size_t i = 0; i < n; i++) {
		Aniworld__V1__Episode e = ANIWORLD__V1__EPISODE__INIT;
		items[i] = e;
		items[i].season = 1;
		items[i].episode_number = (int32_t)i + 1;
		b->episodes[i] = &items[i];
	}
	return b;
}

static void batch_free(Aniworld__V1__BatchCreateEpisodesRequest *b)
{
	if (b == NULL)
		return;
	if (b->n_episodes > 0)
		free(b->episodes[0]); /* the array of items */
	free(b->episodes);
	free(b);
}

static int32_t count_of(fixture *f, int64_t series)
{
	Aniworld__V1__ListEpisodesRequest list = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Aniworld__V1__ListEpisodesResponse *page = NULL;
	aw_err err;
	int32_t n;

	list.series_id = series;
	list.page_size = 1;
	if (aw_client_episodes_list(f->client, &list, &page, &err, NULL) != 0)
		fail_msg("listing: %s", err.msg);
	n = page->total_size;
	aniworld__v1__list_episodes_response__free_unpacked(page, NULL);
	return n;
}

static void test_e2e_episode_every_method(void **state)
{
	fixture *f = *state;
	Aniworld__V1__Episode *e = NULL, *got = NULL;
	aw_err err;

	assert_int_equal(create(f, f->series, 1, 1, &e, &err), 0);
	assert_int_equal(e->series_id, f->series);

	Aniworld__V1__GetEpisodeRequest get = ANIWORLD__V1__GET_EPISODE_REQUEST__INIT;
	get.id = e->id;
	assert_int_equal(aw_client_episodes_get(f->client, &get, &got, &err, NULL), 0);
	assert_string_equal(got->title, "Episode");
	aniworld__v1__episode__free_unpacked(got, NULL);

	/* A batch of the rest of season 1. */
	Aniworld__V1__Episode items[11], *ptrs[11];
	Aniworld__V1__BatchCreateEpisodesRequest batch = ANIWORLD__V1__BATCH_CREATE_EPISODES_REQUEST__INIT;
	Aniworld__V1__BatchCreateEpisodesResponse *made = NULL;
	for (int i = 0; i < 11; i++) {
		Aniworld__V1__Episode init = ANIWORLD__V1__EPISODE__INIT;
		items[i] = init;
		items[i].season = 1;
		items[i].episode_number = i + 2;
		ptrs[i] = &items[i];
	}
	batch.series_id = f->series;
	batch.n_episodes = 11;
	batch.episodes = ptrs;
	assert_int_equal(aw_client_episodes_batch_create(f->client, &batch, &made, &err, NULL), 0);
	assert_int_equal(made->n_episodes, 11);
	assert_int_equal(made->episodes[10]->episode_number, 12);
	assert_int_equal(made->episodes[3]->series_id, f->series);
	aniworld__v1__batch_create_episodes_response__free_unpacked(made, NULL);

	Aniworld__V1__MarkEpisodeDownloadedRequest mark = ANIWORLD__V1__MARK_EPISODE_DOWNLOADED_REQUEST__INIT;
	mark.id = e->id;
	mark.file_path = "/anime/frieren/s01e01.mkv";
	mark.file_size = 734003200;
	assert_int_equal(aw_client_episodes_mark_downloaded(f->client, &mark, &got, &err, NULL), 0);
	assert_true(got->is_downloaded);
	assert_non_null(got->download_date);
	assert_int_equal(got->file_size, 734003200);
	aniworld__v1__episode__free_unpacked(got, NULL);

	Aniworld__V1__ListEpisodesRequest list = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Aniworld__V1__ListEpisodesResponse *page = NULL;
	list.series_id = f->series;
	list.downloaded = ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_MISSING;
	list.page_size = 5;
	assert_int_equal(aw_client_episodes_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->total_size, 11);
	assert_int_equal(page->n_episodes, 5);
	assert_int_equal(page->episodes[0]->episode_number, 2);
	assert_string_not_equal(page->next_page_token, "");
	aniworld__v1__list_episodes_response__free_unpacked(page, NULL);

	Aniworld__V1__Episode change = ANIWORLD__V1__EPISODE__INIT;
	Aniworld__V1__UpdateEpisodeRequest up = ANIWORLD__V1__UPDATE_EPISODE_REQUEST__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[] = {"title"};
	change.id = e->id;
	change.title = "The Journey's End";
	mask.n_paths = 1;
	mask.paths = paths;
	up.episode = &change;
	up.update_mask = &mask;
	assert_int_equal(aw_client_episodes_update(f->client, &up, &got, &err, NULL), 0);
	assert_string_equal(got->title, "The Journey's End");
	assert_true(got->is_downloaded);
	aniworld__v1__episode__free_unpacked(got, NULL);

	Aniworld__V1__DeleteEpisodeRequest del = ANIWORLD__V1__DELETE_EPISODE_REQUEST__INIT;
	del.id = e->id;
	assert_int_equal(aw_client_episodes_delete(f->client, &del, &err, NULL), 0);
	harness_expect_status(aw_client_episodes_get(f->client, &get, &got, &err, NULL), &err, AW_ENOTFOUND, NULL);
	aniworld__v1__episode__free_unpacked(e, NULL);
}

static void test_e2e_episode_errors(void **state)
{
	fixture *f = *state;
	Aniworld__V1__Episode *out = NULL;
	aw_err err;

	assert_int_equal(create(f, f->series, 1, 1, NULL, &err), 0);
	harness_expect_status(create(f, f->series, 1, 1, &out, &err), &err, AW_EEXIST, "season 1 episode 1");
	harness_expect_status(create(f, 9999, 1, 1, &out, &err), &err, AW_ENOTFOUND, "series 9999");
	harness_expect_status(create(f, 0, 1, 1, &out, &err), &err, AW_EINVAL, "episode.series_id");
	harness_expect_status(create(f, f->series, -1, 1, &out, &err), &err, AW_EINVAL, "episode.season");
	harness_expect_status(create(f, f->series, 1, 0, &out, &err), &err, AW_EINVAL,
		      "episode.episode_number");
	Aniworld__V1__CreateEpisodeRequest empty = ANIWORLD__V1__CREATE_EPISODE_REQUEST__INIT;
	harness_expect_status(aw_client_episodes_create(f->client, &empty, &out, &err, NULL), &err, AW_EINVAL,
		      "episode");

	/* Batches: checked whole first, then stored whole or not at all. */
	Aniworld__V1__Episode a = ANIWORLD__V1__EPISODE__INIT, b = ANIWORLD__V1__EPISODE__INIT;
	Aniworld__V1__Episode *ptrs[2] = {&a, &b};
	Aniworld__V1__BatchCreateEpisodesRequest batch = ANIWORLD__V1__BATCH_CREATE_EPISODES_REQUEST__INIT;
	Aniworld__V1__BatchCreateEpisodesResponse *made = NULL;
	batch.series_id = f->series;
	batch.n_episodes = 2;
	batch.episodes = ptrs;
	a.season = b.season = 3;
	a.episode_number = b.episode_number = 4;
	harness_expect_status(aw_client_episodes_batch_create(f->client, &batch, &made, &err, NULL), &err, AW_EEXIST,
		      "episodes[0] and episodes[1]");
	b.episode_number = 0;
	harness_expect_status(aw_client_episodes_batch_create(f->client, &batch, &made, &err, NULL), &err, AW_EINVAL,
		      "episodes[1].episode_number");
	b.episode_number = 5;
	b.series_id = f->series + 1;
	harness_expect_status(aw_client_episodes_batch_create(f->client, &batch, &made, &err, NULL), &err, AW_EINVAL,
		      "episodes[1].series_id");
	b.series_id = 0;
	a.season = 1;
	a.episode_number = 1; /* stored already */
	harness_expect_status(aw_client_episodes_batch_create(f->client, &batch, &made, &err, NULL), &err, AW_EEXIST,
		      "episodes[0]");
	Aniworld__V1__GetEpisodeRequest none = ANIWORLD__V1__GET_EPISODE_REQUEST__INIT;
	Aniworld__V1__ListEpisodesRequest list = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Aniworld__V1__ListEpisodesResponse *page = NULL;
	list.series_id = f->series;
	assert_int_equal(aw_client_episodes_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->total_size, 1); /* b of the failed batch was not kept */
	aniworld__v1__list_episodes_response__free_unpacked(page, NULL);
	batch.n_episodes = 0;
	harness_expect_status(aw_client_episodes_batch_create(f->client, &batch, &made, &err, NULL), &err, AW_EINVAL,
		      "episodes");

	harness_expect_status(aw_client_episodes_get(f->client, &none, &out, &err, NULL), &err, AW_EINVAL, "id");
	none.id = 31337;
	harness_expect_status(aw_client_episodes_get(f->client, &none, &out, &err, NULL), &err, AW_ENOTFOUND,
		      "episode 31337");

	list.page_size = -2;
	harness_expect_status(aw_client_episodes_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "page_size");
	list.page_size = 0;
	int32_t bad_season[] = {-1};
	list.seasons = bad_season;
	list.n_seasons = 1;
	harness_expect_status(aw_client_episodes_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "seasons[0]");
	list.n_seasons = 0;
	list.page_token = "bogus";
	harness_expect_status(aw_client_episodes_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "page_token");

	Aniworld__V1__Episode change = ANIWORLD__V1__EPISODE__INIT;
	Aniworld__V1__UpdateEpisodeRequest up = ANIWORLD__V1__UPDATE_EPISODE_REQUEST__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[1] = {"series_id"};
	change.id = 1;
	mask.n_paths = 1;
	mask.paths = paths;
	up.episode = &change;
	up.update_mask = &mask;
	harness_expect_status(aw_client_episodes_update(f->client, &up, &out, &err, NULL), &err, AW_EINVAL,
		      "series_id");
	paths[0] = "file_size";
	change.file_size = -1;
	harness_expect_status(aw_client_episodes_update(f->client, &up, &out, &err, NULL), &err, AW_EINVAL,
		      "episode.file_size");
	paths[0] = "title";
	change.id = 5555;
	harness_expect_status(aw_client_episodes_update(f->client, &up, &out, &err, NULL), &err, AW_ENOTFOUND,
		      "episode 5555");

	Aniworld__V1__MarkEpisodeDownloadedRequest mark = ANIWORLD__V1__MARK_EPISODE_DOWNLOADED_REQUEST__INIT;
	mark.id = 1;
	harness_expect_status(aw_client_episodes_mark_downloaded(f->client, &mark, &out, &err, NULL), &err, AW_EINVAL,
		      "file_path");
	mark.file_path = "/x";
	mark.id = 4444;
	harness_expect_status(aw_client_episodes_mark_downloaded(f->client, &mark, &out, &err, NULL), &err,
		      AW_ENOTFOUND, "episode 4444");

	Aniworld__V1__DeleteEpisodeRequest del = ANIWORLD__V1__DELETE_EPISODE_REQUEST__INIT;
	harness_expect_status(aw_client_episodes_delete(f->client, &del, &err, NULL), &err, AW_EINVAL, "id");
	del.id = 4444;
	harness_expect_status(aw_client_episodes_delete(f->client, &del, &err, NULL), &err, AW_ENOTFOUND,
		      "episode 4444 not found");
}

/* Batches: at most 1000, messages naming the episode, all or nothing. */
static void test_e2e_episode_batch_rules(void **state)
{
	fixture *f = *state;
	Aniworld__V1__BatchCreateEpisodesRequest *b = batch_new(f->series, 1001);
	Aniworld__V1__BatchCreateEpisodesResponse *made = NULL;
	aw_err err;

	harness_expect_status(aw_client_episodes_batch_create(f->client, b, &made, &err, NULL), &err, AW_EINVAL,
		      "1001");
	assert_null(made);
	assert_int_equal(count_of(f, f->series), 0);

	/* 1000 is allowed, and comes back in the order given. */
	b->n_episodes = 1000;
	assert_int_equal(aw_client_episodes_batch_create(f->client, b, &made, &err, NULL), 0);
	assert_int_equal(made->n_episodes, 1000);
	for (size_t i = 0; i < 1000; i++) {
		assert_true(made->episodes[i]->id > 0);
		assert_int_equal(made->episodes[i]->series_id, f->series);
		assert_int_equal(made->episodes[i]->episode_number, (int)i + 1);
		assert_non_null(made->episodes[i]->created_at);
	}
	aniworld__v1__batch_create_episodes_response__free_unpacked(made, NULL);
	assert_int_equal(count_of(f, f->series), 1000);
	b->n_episodes = 1001;
	batch_free(b);

	/* Validation names the index and the value; nothing is stored. */
	b = batch_new(f->series, 5);
	for (size_t i = 0; i < 5; i++)
		b->episodes[i]->season = 2;
	b->episodes[3]->episode_number = 0;
	harness_expect_status(aw_client_episodes_batch_create(f->client, b, &made, &err, NULL), &err, AW_EINVAL,
		      "episodes[3].episode_number must be >= 1, got 0");
	b->episodes[3]->episode_number = 4;
	b->episodes[2]->season = -1;
	harness_expect_status(aw_client_episodes_batch_create(f->client, b, &made, &err, NULL), &err, AW_EINVAL,
		      "episodes[2].season must be >= 0, got -1");
	b->episodes[2]->season = 2;
	b->episodes[4]->file_size = -5;
	harness_expect_status(aw_client_episodes_batch_create(f->client, b, &made, &err, NULL), &err, AW_EINVAL,
		      "episodes[4].file_size");
	b->episodes[4]->file_size = 0;
	b->episodes[1]->series_id = f->series + 100;
	harness_expect_status(aw_client_episodes_batch_create(f->client, b, &made, &err, NULL), &err, AW_EINVAL,
		      "episodes[1].series_id");
	b->episodes[1]->series_id = f->series; /* the request's own: fine */

	/* The same season and episode twice, within the batch. */
	b->episodes[4]->episode_number = 2;
	harness_expect_status(aw_client_episodes_batch_create(f->client, b, &made, &err, NULL), &err, AW_EEXIST,
		      "episodes[1] and episodes[4] are both season 2 episode 2");
	b->episodes[4]->episode_number = 5;

	/* Against a stored one: the fourth clashes, the other four are not kept. */
	assert_int_equal(create(f, f->series, 2, 4, NULL, &err), 0);
	harness_expect_status(aw_client_episodes_batch_create(f->client, b, &made, &err, NULL), &err, AW_EEXIST,
		      "episodes[3]");
	assert_non_null(strstr(err.msg, "season 2 episode 4"));
	assert_int_equal(count_of(f, f->series), 1001);

	/* A series that does not exist, or none at all. */
	b->series_id = 8888;
	b->episodes[1]->series_id = 0;
	harness_expect_status(aw_client_episodes_batch_create(f->client, b, &made, &err, NULL), &err, AW_ENOTFOUND,
		      "series 8888 not found");
	b->series_id = 0;
	harness_expect_status(aw_client_episodes_batch_create(f->client, b, &made, &err, NULL), &err, AW_EINVAL,
		      "series_id");
	assert_int_equal(count_of(f, 0), 1001);
	batch_free(b);
}

static Aniworld__V1__Episode *update(fixture *f, Aniworld__V1__Episode *change, const char *path0,
				     const char *path1, int expect, const char *needle)
{
	Aniworld__V1__UpdateEpisodeRequest up = ANIWORLD__V1__UPDATE_EPISODE_REQUEST__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[2] = {(char *)path0, (char *)path1};
	Aniworld__V1__Episode *out = NULL;
	aw_err err;

	mask.n_paths = path0 == NULL ? 0 : path1 == NULL ? 1 : 2;
	mask.paths = paths;
	up.episode = change;
	up.update_mask = &mask;
	harness_expect_status(aw_client_episodes_update(f->client, &up, &out, &err, NULL), &err, expect, needle);
	return out;
}

/* UpdateEpisode: which paths are refused and why, the download date rules,
 * and a move onto a taken season and episode number. */
static void test_e2e_episode_update_rules(void **state)
{
	fixture *f = *state;
	Aniworld__V1__Episode *e = NULL, *u;
	Aniworld__V1__Episode change = ANIWORLD__V1__EPISODE__INIT;
	Google__Protobuf__Timestamp when = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	aw_err err;

	assert_int_equal(create(f, f->series, 1, 1, &e, &err), 0);
	assert_int_equal(create(f, f->series, 1, 2, NULL, &err), 0);
	change.id = e->id;

	/* series_id is the parent: immutable, and said so. */
	change.series_id = new_series(f, "elsewhere");
	assert_null(update(f, &change, "title", "series_id", AW_EINVAL,
			   "update_mask.paths[1]: \"series_id\" is immutable"));
	change.series_id = 0;
	assert_null(update(f, &change, "id", NULL, AW_EINVAL, "\"id\" is output only"));
	assert_null(update(f, &change, "created_at", NULL, AW_EINVAL, "output only"));
	assert_null(update(f, &change, "updated_at", NULL, AW_EINVAL, "output only"));
	assert_null(update(f, &change, "no_such_field", NULL, AW_EINVAL, "no_such_field"));
	change.season = -3;
	assert_null(update(f, &change, "season", NULL, AW_EINVAL,
			   "episode.season must be >= 0, got -3"));
	change.episode_number = 0;
	assert_null(update(f, &change, "episode_number", NULL, AW_EINVAL,
			   "episode.episode_number must be >= 1, got 0"));
	when.nanos = -1;
	change.download_date = &when;
	assert_null(update(f, &change, "download_date", NULL, AW_EINVAL, "episode.download_date"));
	when.nanos = 0;
	change.id = 0;
	assert_null(update(f, &change, "title", NULL, AW_EINVAL, "episode.id"));
	change.id = e->id;

	/* Downloaded through the mask: dated now, like a new download. */
	change.is_downloaded = 1;
	change.download_date = NULL;
	u = update(f, &change, "is_downloaded", NULL, 0, NULL);
	assert_true(u->is_downloaded);
	assert_non_null(u->download_date);
	assert_true(us_of(u->updated_at) >= us_of(e->updated_at));
	aniworld__v1__episode__free_unpacked(u, NULL);

	/* Missing again: the date is cleared... */
	change.is_downloaded = 0;
	u = update(f, &change, "is_downloaded", NULL, 0, NULL);
	assert_false(u->is_downloaded);
	assert_null(u->download_date);
	aniworld__v1__episode__free_unpacked(u, NULL);
	/* ...unless download_date is in the mask too. */
	when.seconds = 1600000000;
	change.download_date = &when;
	u = update(f, &change, "is_downloaded", "download_date", 0, NULL);
	assert_false(u->is_downloaded);
	assert_int_equal(u->download_date->seconds, 1600000000);
	aniworld__v1__episode__free_unpacked(u, NULL);

	/* A taken season and episode number, named. */
	change.episode_number = 2;
	change.season = 5; /* not in the mask: the stored season 1 counts */
	assert_null(update(f, &change, "episode_number", NULL, AW_EEXIST, "season 1 episode 2"));

	/* An empty mask changes every mutable field. */
	change.season = 0;
	change.episode_number = 7;
	change.title = "OVA";
	change.file_path = "/anime/frieren/ova.mkv";
	change.file_size = 42;
	change.is_downloaded = 1;
	u = update(f, &change, NULL, NULL, 0, NULL);
	assert_int_equal(u->season, 0);
	assert_int_equal(u->episode_number, 7);
	assert_string_equal(u->title, "OVA");
	assert_string_equal(u->file_path, "/anime/frieren/ova.mkv");
	assert_int_equal(u->file_size, 42);
	assert_true(u->is_downloaded);
	assert_int_equal(u->download_date->seconds, 1600000000);
	assert_int_equal(u->series_id, f->series);
	assert_int_equal(us_of(u->created_at), us_of(e->created_at));
	aniworld__v1__episode__free_unpacked(u, NULL);

	change.id = 5555;
	assert_null(update(f, &change, "title", NULL, AW_ENOTFOUND, "episode 5555 not found"));
	aniworld__v1__episode__free_unpacked(e, NULL);
}

static void test_e2e_episode_mark_downloaded(void **state)
{
	fixture *f = *state;
	Aniworld__V1__MarkEpisodeDownloadedRequest mark =
		ANIWORLD__V1__MARK_EPISODE_DOWNLOADED_REQUEST__INIT;
	Aniworld__V1__GetEpisodeRequest get = ANIWORLD__V1__GET_EPISODE_REQUEST__INIT;
	Aniworld__V1__Episode *e = NULL, *m = NULL, *g = NULL;
	aw_err err;

	assert_int_equal(create(f, f->series, 2, 3, &e, &err), 0);
	harness_expect_status(aw_client_episodes_mark_downloaded(f->client, &mark, &m, &err, NULL), &err, AW_EINVAL,
		      "id must be a positive episode id, got 0");
	mark.id = e->id;
	harness_expect_status(aw_client_episodes_mark_downloaded(f->client, &mark, &m, &err, NULL), &err, AW_EINVAL,
		      "file_path is required");
	mark.file_path = "/anime/frieren/s02e03.mkv";
	mark.file_size = -1;
	harness_expect_status(aw_client_episodes_mark_downloaded(f->client, &mark, &m, &err, NULL), &err, AW_EINVAL,
		      "file_size must be >= 0, got -1");
	mark.file_size = 1 << 20;
	assert_int_equal(aw_client_episodes_mark_downloaded(f->client, &mark, &m, &err, NULL), 0);
	assert_true(m->is_downloaded);
	assert_string_equal(m->file_path, "/anime/frieren/s02e03.mkv");
	assert_int_equal(m->file_size, 1 << 20);
	assert_int_equal(us_of(m->download_date), us_of(m->updated_at));
	assert_true(us_of(m->updated_at) >= us_of(e->updated_at));
	assert_int_equal(us_of(m->created_at), us_of(e->created_at));

	get.id = e->id;
	assert_int_equal(aw_client_episodes_get(f->client, &get, &g, &err, NULL), 0);
	assert_true(g->is_downloaded);
	assert_int_equal(us_of(g->download_date), us_of(m->download_date));
	aniworld__v1__episode__free_unpacked(g, NULL);
	aniworld__v1__episode__free_unpacked(m, NULL);
	aniworld__v1__episode__free_unpacked(e, NULL);
}

/* Paging through every series and through one with filters, with the client. */
static void test_e2e_episode_list_pages_and_filters(void **state)
{
	fixture *f = *state;
	Aniworld__V1__ListEpisodesRequest list = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Aniworld__V1__ListEpisodesResponse *page = NULL;
	int64_t other = new_series(f, "apothecary");
	char token[128] = "";
	long last = -1;
	int seen = 0;
	aw_err err;

	/* Two series, three seasons (0..2) of three episodes each, made out of order. */
	for (int season = 2; season >= 0; season--) {
		for (int number = 3; number >= 1; number--) {
			assert_int_equal(create(f, other, season, number, NULL, &err), 0);
			assert_int_equal(create(f, f->series, season, number, NULL, &err), 0);
		}
	}
	/* Every series, two at a time: series, season, episode ascending. */
	list.page_size = 2;
	do {
		list.page_token = token;
		assert_int_equal(aw_client_episodes_list(f->client, &list, &page, &err, NULL), 0);
		assert_int_equal(page->total_size, 18);
		for (size_t i = 0; i < page->n_episodes; i++) {
			const Aniworld__V1__Episode *e = page->episodes[i];
			long key = (long)e->series_id * 10000 + e->season * 100 + e->episode_number;
			assert_true(key > last);
			last = key;
			seen++;
		}
		snprintf(token, sizeof(token), "%s", page->next_page_token);
		aniworld__v1__list_episodes_response__free_unpacked(page, NULL);
	} while (token[0] != '\0');
	assert_int_equal(seen, 18);

	/* One series, seasons 0 and 2: specials first. */
	int32_t seasons[] = {2, 0};
	list.series_id = other;
	list.seasons = seasons;
	list.n_seasons = 2;
	list.page_size = 0; /* 50 */
	list.page_token = "";
	assert_int_equal(aw_client_episodes_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->total_size, 6);
	assert_int_equal(page->n_episodes, 6);
	assert_int_equal(page->episodes[0]->season, 0);
	assert_int_equal(page->episodes[0]->episode_number, 1);
	assert_int_equal(page->episodes[5]->season, 2);
	assert_int_equal(page->episodes[5]->episode_number, 3);
	assert_string_equal(page->next_page_token, "");

	/* Downloaded only: mark one, it is the only one listed. */
	Aniworld__V1__MarkEpisodeDownloadedRequest mark =
		ANIWORLD__V1__MARK_EPISODE_DOWNLOADED_REQUEST__INIT;
	Aniworld__V1__Episode *m = NULL;
	mark.id = page->episodes[4]->id;
	mark.file_path = "/anime/apothecary/s02e02.mkv";
	aniworld__v1__list_episodes_response__free_unpacked(page, NULL);
	assert_int_equal(aw_client_episodes_mark_downloaded(f->client, &mark, &m, &err, NULL), 0);
	aniworld__v1__episode__free_unpacked(m, NULL);
	list.downloaded = ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_DOWNLOADED;
	assert_int_equal(aw_client_episodes_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->total_size, 1);
	assert_int_equal(page->episodes[0]->id, mark.id);
	aniworld__v1__list_episodes_response__free_unpacked(page, NULL);
	list.downloaded = ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_MISSING;
	assert_int_equal(aw_client_episodes_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->total_size, 5);
	aniworld__v1__list_episodes_response__free_unpacked(page, NULL);

	/* A token only continues the list it came from. */
	list.page_size = 1;
	assert_int_equal(aw_client_episodes_list(f->client, &list, &page, &err, NULL), 0);
	snprintf(token, sizeof(token), "%s", page->next_page_token);
	aniworld__v1__list_episodes_response__free_unpacked(page, NULL);
	assert_string_not_equal(token, "");
	list.page_token = token;
	list.downloaded = ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_ANY;
	harness_expect_status(aw_client_episodes_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "page_token");

	/* Bad requests. */
	list.page_token = "";
	list.downloaded = (Aniworld__V1__DownloadFilter)7;
	harness_expect_status(aw_client_episodes_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "downloaded");
	list.downloaded = ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_ANY;
	list.series_id = -1;
	harness_expect_status(aw_client_episodes_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "series_id must be >= 0");

	/* A series with no episodes, or none at all: an empty page. */
	list.series_id = 424242;
	list.n_seasons = 0;
	assert_int_equal(aw_client_episodes_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->n_episodes, 0);
	assert_int_equal(page->total_size, 0);
	aniworld__v1__list_episodes_response__free_unpacked(page, NULL);
}

/* The seed's cascade, seen through the API: the deleted series' episodes go,
 * another series' stay. */
static void test_e2e_episode_deleted_with_their_series(void **state)
{
	fixture *f = *state;
	Aniworld__V1__Episode *e = NULL, *out = NULL;
	int64_t other = new_series(f, "dungeon-meshi");
	aw_err err;

	assert_int_equal(create(f, f->series, 1, 1, &e, &err), 0);
	assert_int_equal(create(f, f->series, 1, 2, NULL, &err), 0);
	assert_int_equal(create(f, other, 1, 1, NULL, &err), 0);
	Aniworld__V1__DeleteSeriesRequest del = ANIWORLD__V1__DELETE_SERIES_REQUEST__INIT;
	del.id = f->series;
	assert_int_equal(aw_client_series_delete(f->client, &del, &err, NULL), 0);

	Aniworld__V1__GetEpisodeRequest get = ANIWORLD__V1__GET_EPISODE_REQUEST__INIT;
	get.id = e->id;
	harness_expect_status(aw_client_episodes_get(f->client, &get, &out, &err, NULL), &err, AW_ENOTFOUND,
		      "not found");
	Aniworld__V1__ListEpisodesRequest list = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Aniworld__V1__ListEpisodesResponse *page = NULL;
	list.series_id = f->series;
	assert_int_equal(aw_client_episodes_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->n_episodes, 0);
	assert_int_equal(page->total_size, 0);
	assert_string_equal(page->next_page_token, "");
	aniworld__v1__list_episodes_response__free_unpacked(page, NULL);

	/* Every series: only the other one's episode is left. */
	list.series_id = 0;
	assert_int_equal(aw_client_episodes_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->n_episodes, 1);
	assert_int_equal(page->total_size, 1);
	assert_int_equal(page->episodes[0]->series_id, other);
	aniworld__v1__list_episodes_response__free_unpacked(page, NULL);

	/* And the deleted series takes no new episodes. */
	harness_expect_status(create(f, f->series, 1, 3, &out, &err), &err, AW_ENOTFOUND, "not found");
	aniworld__v1__episode__free_unpacked(e, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_e2e_episode_every_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_episode_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_episode_batch_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_episode_update_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_episode_mark_downloaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_episode_list_pages_and_filters, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_e2e_episode_deleted_with_their_series, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
