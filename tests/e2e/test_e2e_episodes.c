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
	if (aw_client_series_create(f->client, &req, &out, NULL) != 0)
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

static void expect_status(int rc, const aw_err *err, int code, const char *needle)
{
	if (rc != code)
		fail_msg("expected %s, got %s: %s", aw_err_name(code), aw_err_name(rc), err->msg);
	if (needle != NULL && strstr(err->msg, needle) == NULL)
		fail_msg("message \"%s\" does not mention \"%s\"", err->msg, needle);
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
	return aw_client_episodes_create(f->client, &req, out, err);
}

static void test_e2e_episodes_every_method(void **state)
{
	fixture *f = *state;
	Aniworld__V1__Episode *e = NULL, *got = NULL;
	aw_err err;

	assert_int_equal(create(f, f->series, 1, 1, &e, &err), 0);
	assert_int_equal(e->series_id, f->series);

	Aniworld__V1__GetEpisodeRequest get = ANIWORLD__V1__GET_EPISODE_REQUEST__INIT;
	get.id = e->id;
	assert_int_equal(aw_client_episodes_get(f->client, &get, &got, &err), 0);
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
	assert_int_equal(aw_client_episodes_batch_create(f->client, &batch, &made, &err), 0);
	assert_int_equal(made->n_episodes, 11);
	assert_int_equal(made->episodes[10]->episode_number, 12);
	assert_int_equal(made->episodes[3]->series_id, f->series);
	aniworld__v1__batch_create_episodes_response__free_unpacked(made, NULL);

	Aniworld__V1__MarkEpisodeDownloadedRequest mark = ANIWORLD__V1__MARK_EPISODE_DOWNLOADED_REQUEST__INIT;
	mark.id = e->id;
	mark.file_path = "/anime/frieren/s01e01.mkv";
	mark.file_size = 734003200;
	assert_int_equal(aw_client_episodes_mark_downloaded(f->client, &mark, &got, &err), 0);
	assert_true(got->is_downloaded);
	assert_non_null(got->download_date);
	assert_int_equal(got->file_size, 734003200);
	aniworld__v1__episode__free_unpacked(got, NULL);

	Aniworld__V1__ListEpisodesRequest list = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Aniworld__V1__ListEpisodesResponse *page = NULL;
	list.series_id = f->series;
	list.downloaded = ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_MISSING;
	list.page_size = 5;
	assert_int_equal(aw_client_episodes_list(f->client, &list, &page, &err), 0);
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
	assert_int_equal(aw_client_episodes_update(f->client, &up, &got, &err), 0);
	assert_string_equal(got->title, "The Journey's End");
	assert_true(got->is_downloaded);
	aniworld__v1__episode__free_unpacked(got, NULL);

	Aniworld__V1__DeleteEpisodeRequest del = ANIWORLD__V1__DELETE_EPISODE_REQUEST__INIT;
	del.id = e->id;
	assert_int_equal(aw_client_episodes_delete(f->client, &del, &err), 0);
	expect_status(aw_client_episodes_get(f->client, &get, &got, &err), &err, AW_ENOTFOUND, NULL);
	aniworld__v1__episode__free_unpacked(e, NULL);
}

static void test_e2e_episodes_errors(void **state)
{
	fixture *f = *state;
	Aniworld__V1__Episode *out = NULL;
	aw_err err;

	assert_int_equal(create(f, f->series, 1, 1, NULL, &err), 0);
	expect_status(create(f, f->series, 1, 1, &out, &err), &err, AW_EEXIST, "season 1 episode 1");
	expect_status(create(f, 9999, 1, 1, &out, &err), &err, AW_ENOTFOUND, "series 9999");
	expect_status(create(f, 0, 1, 1, &out, &err), &err, AW_EINVAL, "episode.series_id");
	expect_status(create(f, f->series, -1, 1, &out, &err), &err, AW_EINVAL, "episode.season");
	expect_status(create(f, f->series, 1, 0, &out, &err), &err, AW_EINVAL,
		      "episode.episode_number");
	Aniworld__V1__CreateEpisodeRequest empty = ANIWORLD__V1__CREATE_EPISODE_REQUEST__INIT;
	expect_status(aw_client_episodes_create(f->client, &empty, &out, &err), &err, AW_EINVAL,
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
	expect_status(aw_client_episodes_batch_create(f->client, &batch, &made, &err), &err, AW_EEXIST,
		      "episodes[0] and episodes[1]");
	b.episode_number = 0;
	expect_status(aw_client_episodes_batch_create(f->client, &batch, &made, &err), &err, AW_EINVAL,
		      "episodes[1].episode_number");
	b.episode_number = 5;
	b.series_id = f->series + 1;
	expect_status(aw_client_episodes_batch_create(f->client, &batch, &made, &err), &err, AW_EINVAL,
		      "episodes[1].series_id");
	b.series_id = 0;
	a.season = 1;
	a.episode_number = 1; /* stored already */
	expect_status(aw_client_episodes_batch_create(f->client, &batch, &made, &err), &err, AW_EEXIST,
		      "episodes[0]");
	Aniworld__V1__GetEpisodeRequest none = ANIWORLD__V1__GET_EPISODE_REQUEST__INIT;
	Aniworld__V1__ListEpisodesRequest list = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Aniworld__V1__ListEpisodesResponse *page = NULL;
	list.series_id = f->series;
	assert_int_equal(aw_client_episodes_list(f->client, &list, &page, &err), 0);
	assert_int_equal(page->total_size, 1); /* b of the failed batch was not kept */
	aniworld__v1__list_episodes_response__free_unpacked(page, NULL);
	batch.n_episodes = 0;
	expect_status(aw_client_episodes_batch_create(f->client, &batch, &made, &err), &err, AW_EINVAL,
		      "episodes");

	expect_status(aw_client_episodes_get(f->client, &none, &out, &err), &err, AW_EINVAL, "id");
	none.id = 31337;
	expect_status(aw_client_episodes_get(f->client, &none, &out, &err), &err, AW_ENOTFOUND,
		      "episode 31337");

	list.page_size = -2;
	expect_status(aw_client_episodes_list(f->client, &list, &page, &err), &err, AW_EINVAL,
		      "page_size");
	list.page_size = 0;
	int32_t bad_season[] = {-1};
	list.seasons = bad_season;
	list.n_seasons = 1;
	expect_status(aw_client_episodes_list(f->client, &list, &page, &err), &err, AW_EINVAL,
		      "seasons[0]");
	list.n_seasons = 0;
	list.page_token = "bogus";
	expect_status(aw_client_episodes_list(f->client, &list, &page, &err), &err, AW_EINVAL,
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
	expect_status(aw_client_episodes_update(f->client, &up, &out, &err), &err, AW_EINVAL,
		      "series_id");
	paths[0] = "file_size";
	change.file_size = -1;
	expect_status(aw_client_episodes_update(f->client, &up, &out, &err), &err, AW_EINVAL,
		      "episode.file_size");
	paths[0] = "title";
	change.id = 5555;
	expect_status(aw_client_episodes_update(f->client, &up, &out, &err), &err, AW_ENOTFOUND,
		      "episode 5555");

	Aniworld__V1__MarkEpisodeDownloadedRequest mark = ANIWORLD__V1__MARK_EPISODE_DOWNLOADED_REQUEST__INIT;
	mark.id = 1;
	expect_status(aw_client_episodes_mark_downloaded(f->client, &mark, &out, &err), &err, AW_EINVAL,
		      "file_path");
	mark.file_path = "/x";
	mark.id = 4444;
	expect_status(aw_client_episodes_mark_downloaded(f->client, &mark, &out, &err), &err,
		      AW_ENOTFOUND, "episode 4444");

	Aniworld__V1__DeleteEpisodeRequest del = ANIWORLD__V1__DELETE_EPISODE_REQUEST__INIT;
	del.id = 4444;
	expect_status(aw_client_episodes_delete(f->client, &del, &err), &err, AW_ENOTFOUND, "4444");
}

/* The seed's cascade, seen through the API. */
static void test_e2e_episodes_deleted_with_their_series(void **state)
{
	fixture *f = *state;
	Aniworld__V1__Episode *e = NULL, *out = NULL;
	aw_err err;

	assert_int_equal(create(f, f->series, 1, 1, &e, &err), 0);
	assert_int_equal(create(f, f->series, 1, 2, NULL, &err), 0);
	Aniworld__V1__DeleteSeriesRequest del = ANIWORLD__V1__DELETE_SERIES_REQUEST__INIT;
	del.id = f->series;
	assert_int_equal(aw_client_series_delete(f->client, &del, &err), 0);

	Aniworld__V1__GetEpisodeRequest get = ANIWORLD__V1__GET_EPISODE_REQUEST__INIT;
	get.id = e->id;
	expect_status(aw_client_episodes_get(f->client, &get, &out, &err), &err, AW_ENOTFOUND, NULL);
	Aniworld__V1__ListEpisodesRequest list = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Aniworld__V1__ListEpisodesResponse *page = NULL;
	assert_int_equal(aw_client_episodes_list(f->client, &list, &page, &err), 0);
	assert_int_equal(page->n_episodes, 0);
	assert_int_equal(page->total_size, 0);
	aniworld__v1__list_episodes_response__free_unpacked(page, NULL);
	aniworld__v1__episode__free_unpacked(e, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_e2e_episodes_every_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_episodes_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_episodes_deleted_with_their_series, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
