/*
 * Tests the episode repository (server/repo/episode.c and the backends'
 * episodes) on a real database of the backend under test (test_db.h: ctest
 * runs this suite on SQLite and on PostgreSQL). SQLite's query plans and row
 * counts are checked in test_repo_sqlite.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "repo/repo.h"
#include "repo_sync.h"
#include "test_db.h"

typedef struct fixture {
	test_db db;
	aw_repo *repo;
	int64_t series[3]; /* three series to hang episodes on */
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

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	aw_err err;

	*state = f;
	if (f == NULL)
		return setup_failed(state);
	if (test_db_create(&f->db, TEST_DB_FILE) != 0)
		return setup_failed(state);
	if (aw_repo_open(&f->repo, f->db.location, NULL, &err) != 0) {
		fprintf(stderr, "cannot open %s: %s\n", f->db.location, err.msg);
		return setup_failed(state);
	}
	f->series[0] = make_series(f->repo, "one");
	f->series[1] = make_series(f->repo, "two");
	f->series[2] = make_series(f->repo, "three");
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static int create(aw_repo *r, int64_t series, int season, int number, Aniworld__V1__Episode **out,
		  aw_err *err)
{
	Aniworld__V1__Episode e = ANIWORLD__V1__EPISODE__INIT;
	sync_req sr;
	int rc;

	e.series_id = series;
	e.season = season;
	e.episode_number = number;
	e.title = "An episode";
	aw_repo_episodes_create(r, sync_init(&sr), &e);
	rc = sync_wait(&sr);
	if (err != NULL)
		*err = sr.err;
	if (out != NULL)
		*out = (Aniworld__V1__Episode *)sr.result;
	else
		protobuf_c_message_free_unpacked(sr.result, NULL);
	return rc;
}

static void must_create(aw_repo *r, int64_t series, int season, int number)
{
	aw_err err;

	if (create(r, series, season, number, NULL, &err) != 0)
		fail_msg("create %lld S%dE%d: %s", (long long)series, season, number, err.msg);
}

static Aniworld__V1__ListEpisodesResponse *list(aw_repo *r, Aniworld__V1__ListEpisodesRequest *in,
						int page_size, int *rc)
{
	sync_req sr;

	aw_repo_episodes_list(r, sync_init(&sr), in, page_size);
	*rc = sync_wait(&sr);
	return (Aniworld__V1__ListEpisodesResponse *)sr.result;
}

/* Waits (bounded, about a second) until the repository's clock is past `us`,
 * so that the next write's timestamps are later than a stored one. */
static void clock_past(int64_t us)
{
	for (long spins = 0; aw__repo_now_us() <= us; spins++) {
		if (spins > 100000000L)
			fail_msg("the clock did not move past %lld", (long long)us);
	}
}

/* The first value `sql` yields on the fixture's database, read with a
 * connection of the test's own. */
static int side_count(const test_db *db, const char *sql)
{
	int64_t n;

	if (test_db_int(db, sql, &n) != 0)
		fail_msg("%s failed on %s", sql, test_db_backend());
	return (int)n;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_repo_episode_create_and_get(void **state)
{
	fixture *f = *state;
	Aniworld__V1__Episode *e = NULL;
	sync_req sr;
	aw_err err;

	assert_int_equal(create(f->repo, f->series[0], 0, 1, &e, &err), 0);
	assert_true(e->id > 0);
	assert_int_equal(e->series_id, f->series[0]);
	assert_int_equal(e->season, 0);
	assert_string_equal(e->title, "An episode");
	assert_false(e->is_downloaded);
	assert_null(e->download_date);
	assert_non_null(e->created_at);
	assert_int_equal(aw__pb_timestamp_us(e->updated_at), aw__pb_timestamp_us(e->created_at));
	assert_true(aw__pb_timestamp_us(e->created_at) <= aw__repo_now_us());

	aw_repo_episodes_get(f->repo, sync_init(&sr), e->id);
	assert_int_equal(sync_wait(&sr), 0);
	Aniworld__V1__Episode *g = (Aniworld__V1__Episode *)sr.result;
	assert_int_equal(g->episode_number, 1);
	assert_int_equal(g->created_at->seconds, e->created_at->seconds);
	protobuf_c_message_free_unpacked(&g->base, NULL);

	aw_repo_episodes_get(f->repo, sync_init(&sr), 99999);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	assert_non_null(strstr(sr.err.msg, "episode 99999"));
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

static void test_repo_episode_create_errors(void **state)
{
	fixture *f = *state;
	aw_err err;

	must_create(f->repo, f->series[0], 1, 1);
	assert_int_equal(create(f->repo, f->series[0], 1, 1, NULL, &err), AW_EEXIST);
	assert_non_null(strstr(err.msg, "season 1 episode 1"));
	/* The same numbers in another series are fine. */
	must_create(f->repo, f->series[1], 1, 1);
	assert_int_equal(create(f->repo, 424242, 1, 1, NULL, &err), AW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "series 424242"));
}

static void test_repo_episode_downloaded_on_create_gets_a_date(void **state)
{
	fixture *f = *state;
	Aniworld__V1__Episode e = ANIWORLD__V1__EPISODE__INIT, *out;
	sync_req sr;

	e.series_id = f->series[0];
	e.season = 1;
	e.episode_number = 5;
	e.is_downloaded = 1;
	aw_repo_episodes_create(f->repo, sync_init(&sr), &e);
	assert_int_equal(sync_wait(&sr), 0);
	out = (Aniworld__V1__Episode *)sr.result;
	assert_true(out->is_downloaded);
	assert_non_null(out->download_date);
	assert_int_equal(out->download_date->seconds, out->created_at->seconds);
	protobuf_c_message_free_unpacked(sr.result, NULL);
}

static Aniworld__V1__BatchCreateEpisodesRequest *batch_of(int64_t series, int n, int dup_at)
{
	Aniworld__V1__BatchCreateEpisodesRequest *b = calloc(1, sizeof(*b));
	Aniworld__V1__BatchCreateEpisodesRequest init = ANIWORLD__V1__BATCH_CREATE_EPISODES_REQUEST__INIT;

	*b = init;
	b->series_id = series;
	b->n_episodes = (size_t)n;
	b->episodes = calloc((size_t)n, sizeof(*b->episodes));
	for (int i = 0; i < n; i++) {
		Aniworld__V1__Episode *e = malloc(sizeof(*e));
		Aniworld__V1__Episode ei = ANIWORLD__V1__EPISODE__INIT;
		*e = ei;
		e->series_id = series;
		e->season = 2;
		e->episode_number = i == dup_at ? 1 : i + 1;
		b->episodes[i] = e;
	}
	return b;
}

static void batch_free(Aniworld__V1__BatchCreateEpisodesRequest *b)
{
	for (size_t i = 0; i < b->n_episodes; i++)
		free(b->episodes[i]);
	free(b->episodes);
	free(b);
}

static void test_repo_episode_batch_is_all_or_nothing(void **state)
{
	fixture *f = *state;
	Aniworld__V1__BatchCreateEpisodesRequest *b = batch_of(f->series[2], 20, -1);
	sync_req sr;

	aw_repo_episodes_batch_create(f->repo, sync_init(&sr), b);
	assert_int_equal(sync_wait(&sr), 0);
	Aniworld__V1__BatchCreateEpisodesResponse *res =
		(Aniworld__V1__BatchCreateEpisodesResponse *)sr.result;
	assert_int_equal(res->n_episodes, 20);
	for (size_t i = 0; i < 20; i++)
		assert_int_equal(res->episodes[i]->episode_number, (int)i + 1);
	protobuf_c_message_free_unpacked(sr.result, NULL);
	batch_free(b);

	/* A batch whose last episode clashes with a stored one stores nothing. */
	b = batch_of(f->series[1], 10, -1);
	b->episodes[9]->season = 7;
	b->episodes[9]->episode_number = 7;
	must_create(f->repo, f->series[1], 7, 7);
	int before = side_count(&f->db, "SELECT COUNT(*) FROM episodes");
	aw_repo_episodes_batch_create(f->repo, sync_init(&sr), b);
	assert_int_equal(sync_wait(&sr), AW_EEXIST);
	assert_non_null(strstr(sr.err.msg, "episodes[9]"));
	assert_null(sr.result);
	assert_int_equal(side_count(&f->db, "SELECT COUNT(*) FROM episodes"), before);
	batch_free(b);

	/* The same season and episode twice within the batch: the second insert
	 * fails and takes the first (and the rest) with it. */
	b = batch_of(f->series[0], 8, 5);
	aw_repo_episodes_batch_create(f->repo, sync_init(&sr), b);
	assert_int_equal(sync_wait(&sr), AW_EEXIST);
	assert_non_null(strstr(sr.err.msg, "episodes[5]"));
	assert_non_null(strstr(sr.err.msg, "season 2 episode 1"));
	assert_null(sr.result);
	assert_int_equal(side_count(&f->db, "SELECT COUNT(*) FROM episodes"), before);
	batch_free(b);

	/* A series that does not exist: named as such, nothing stored. */
	b = batch_of(4242, 3, -1);
	aw_repo_episodes_batch_create(f->repo, sync_init(&sr), b);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	assert_string_equal(sr.err.msg, "series 4242 not found");
	assert_null(sr.result);
	assert_int_equal(side_count(&f->db, "SELECT COUNT(*) FROM episodes"), before);
	batch_free(b);
}

static void test_repo_episode_list_order_filters_and_counts(void **state)
{
	fixture *f = *state;
	Aniworld__V1__ListEpisodesRequest in = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Aniworld__V1__ListEpisodesResponse *res;
	Aniworld__V1__MarkEpisodeDownloadedRequest mark =
		ANIWORLD__V1__MARK_EPISODE_DOWNLOADED_REQUEST__INIT;
	int32_t seasons[] = {2, 0};
	sync_req sr;
	int rc;

	/* Out of order on purpose. */
	must_create(f->repo, f->series[1], 2, 1);
	must_create(f->repo, f->series[0], 1, 2);
	must_create(f->repo, f->series[0], 0, 1);
	must_create(f->repo, f->series[0], 1, 1);
	must_create(f->repo, f->series[0], 2, 3);

	in.series_id = f->series[0];
	res = list(f->repo, &in, 50, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(res->n_episodes, 4);
	assert_int_equal(res->total_size, 4);
	int want[4][2] = {{0, 1}, {1, 1}, {1, 2}, {2, 3}};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(res->episodes[i]->season, want[i][0]);
		assert_int_equal(res->episodes[i]->episode_number, want[i][1]);
	}
	mark.id = res->episodes[1]->id;
	mark.file_path = "/anime/one/s1e1.mkv";
	mark.file_size = 1234;
	protobuf_c_message_free_unpacked(&res->base, NULL);

	aw_repo_episodes_mark_downloaded(f->repo, sync_init(&sr), &mark);
	assert_int_equal(sync_wait(&sr), 0);
	assert_true(((Aniworld__V1__Episode *)sr.result)->is_downloaded);
	assert_non_null(((Aniworld__V1__Episode *)sr.result)->download_date);
	assert_string_equal(((Aniworld__V1__Episode *)sr.result)->file_path, "/anime/one/s1e1.mkv");
	protobuf_c_message_free_unpacked(sr.result, NULL);

	in.seasons = seasons;
	in.n_seasons = 2;
	res = list(f->repo, &in, 50, &rc);
	assert_int_equal(res->total_size, 2);
	assert_int_equal(res->episodes[0]->season, 0);
	assert_int_equal(res->episodes[1]->season, 2);
	protobuf_c_message_free_unpacked(&res->base, NULL);

	in.n_seasons = 0;
	in.downloaded = ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_DOWNLOADED;
	res = list(f->repo, &in, 50, &rc);
	assert_int_equal(res->total_size, 1);
	assert_int_equal(res->episodes[0]->id, mark.id);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	in.downloaded = ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_MISSING;
	res = list(f->repo, &in, 50, &rc);
	assert_int_equal(res->total_size, 3);
	protobuf_c_message_free_unpacked(&res->base, NULL);

	/* Every series: series first. */
	Aniworld__V1__ListEpisodesRequest all = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	res = list(f->repo, &all, 50, &rc);
	assert_int_equal(res->total_size, 5);
	assert_int_equal(res->episodes[4]->series_id, f->series[1]);
	protobuf_c_message_free_unpacked(&res->base, NULL);

	/* Deleting a series deletes its episodes, and the counts follow. */
	aw_download_changes gone = {0};
	aw_repo_series_delete(f->repo, sync_init(&sr), f->series[0], &gone);
	assert_int_equal(sync_wait(&sr), 0);
	aw_download_changes_clear(&gone, NULL);
	protobuf_c_message_free_unpacked(sr.result, NULL);
	res = list(f->repo, &all, 50, &rc);
	assert_int_equal(res->total_size, 1);
	assert_int_equal(res->n_episodes, 1);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	aw_repo_episodes_get(f->repo, sync_init(&sr), mark.id);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
}

static void test_repo_episode_pages_with_inserts_between(void **state)
{
	fixture *f = *state;
	Aniworld__V1__ListEpisodesRequest in = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	char token[128] = "";
	int seen = 0, rc;
	int64_t last_key = -1;

	for (int s = 0; s < 3; s++)
		for (int e = 1; e <= 7; e++)
			must_create(f->repo, f->series[s], e % 3, e);
	for (int page = 0; page < 20; page++) {
		in.page_token = token;
		Aniworld__V1__ListEpisodesResponse *res = list(f->repo, &in, 4, &rc);
		assert_int_equal(rc, 0);
		for (size_t i = 0; i < res->n_episodes; i++) {
			const Aniworld__V1__Episode *e = res->episodes[i];
			int64_t k = e->series_id * 1000000 + e->season * 1000 + e->episode_number;
			assert_true(k > last_key);
			last_key = k;
			seen++;
		}
		if (page == 1) {
			/* Behind the cursor (not seen), and ahead of it (seen). */
			must_create(f->repo, f->series[0], 0, 100);
			must_create(f->repo, f->series[2], 9, 1);
		}
		snprintf(token, sizeof(token), "%s", res->next_page_token);
		protobuf_c_message_free_unpacked(&res->base, NULL);
		if (token[0] == '\0')
			break;
	}
	assert_int_equal(seen, 22);

	/* A token is only good for the filters it was issued with. */
	Aniworld__V1__ListEpisodesRequest first = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Aniworld__V1__ListEpisodesResponse *res = list(f->repo, &first, 2, &rc);
	snprintf(token, sizeof(token), "%s", res->next_page_token);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	first.page_token = token;
	first.series_id = f->series[1];
	assert_null(list(f->repo, &first, 2, &rc));
	assert_int_equal(rc, AW_EINVAL);
}

static void test_repo_episode_update_mask(void **state)
{
	fixture *f = *state;
	Aniworld__V1__Episode *e = NULL, in = ANIWORLD__V1__EPISODE__INIT;
	Google__Protobuf__Timestamp when = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	sync_req sr;

	assert_int_equal(create(f->repo, f->series[0], 1, 1, &e, NULL), 0);
	must_create(f->repo, f->series[0], 1, 2);
	clock_past(aw__pb_timestamp_us(e->updated_at));
	in.id = e->id;
	in.title = "Renamed";
	in.is_downloaded = 1;
	aw_repo_episodes_update(f->repo, sync_init(&sr), &in, AW_EPISODE_TITLE | AW_EPISODE_IS_DOWNLOADED);
	assert_int_equal(sync_wait(&sr), 0);
	Aniworld__V1__Episode *u = (Aniworld__V1__Episode *)sr.result;
	assert_string_equal(u->title, "Renamed");
	assert_true(u->is_downloaded);
	assert_non_null(u->download_date); /* becoming downloaded dates it */
	assert_true(aw__pb_timestamp_us(u->updated_at) > aw__pb_timestamp_us(e->updated_at));
	assert_int_equal(aw__pb_timestamp_us(u->created_at), aw__pb_timestamp_us(e->created_at));
	protobuf_c_message_free_unpacked(sr.result, NULL);

	/* An explicit date wins; going back to missing clears it. */
	when.seconds = 1700000000;
	in.download_date = &when;
	aw_repo_episodes_update(f->repo, sync_init(&sr), &in, AW_EPISODE_DOWNLOAD_DATE);
	assert_int_equal(sync_wait(&sr), 0);
	assert_int_equal(((Aniworld__V1__Episode *)sr.result)->download_date->seconds, 1700000000);
	protobuf_c_message_free_unpacked(sr.result, NULL);
	in.is_downloaded = 0;
	aw_repo_episodes_update(f->repo, sync_init(&sr), &in, AW_EPISODE_IS_DOWNLOADED);
	assert_int_equal(sync_wait(&sr), 0);
	assert_false(((Aniworld__V1__Episode *)sr.result)->is_downloaded);
	assert_null(((Aniworld__V1__Episode *)sr.result)->download_date);
	protobuf_c_message_free_unpacked(sr.result, NULL);

	/* Missing, with download_date in the mask too: the date given is kept. */
	aw_repo_episodes_update(f->repo, sync_init(&sr), &in,
				AW_EPISODE_IS_DOWNLOADED | AW_EPISODE_DOWNLOAD_DATE);
	assert_int_equal(sync_wait(&sr), 0);
	assert_false(((Aniworld__V1__Episode *)sr.result)->is_downloaded);
	assert_int_equal(((Aniworld__V1__Episode *)sr.result)->download_date->seconds, 1700000000);
	protobuf_c_message_free_unpacked(sr.result, NULL);

	/* Downloaded again without a date in the mask: the stored date stays. */
	in.is_downloaded = 1;
	aw_repo_episodes_update(f->repo, sync_init(&sr), &in, AW_EPISODE_IS_DOWNLOADED);
	assert_int_equal(sync_wait(&sr), 0);
	assert_true(((Aniworld__V1__Episode *)sr.result)->is_downloaded);
	assert_int_equal(((Aniworld__V1__Episode *)sr.result)->download_date->seconds, 1700000000);
	protobuf_c_message_free_unpacked(sr.result, NULL);

	/* Moving onto a taken season and episode number. Only episode_number is in
	 * the mask, so the taken key is the stored season 1 with episode 2, not the
	 * season 9 this request happens to carry. */
	in.season = 9;
	in.episode_number = 2;
	aw_repo_episodes_update(f->repo, sync_init(&sr), &in, AW_EPISODE_NUMBER);
	assert_int_equal(sync_wait(&sr), AW_EEXIST);
	assert_non_null(strstr(sr.err.msg, "season 1 episode 2"));
	in.season = 1;
	aw_repo_episodes_update(f->repo, sync_init(&sr), &in, AW_EPISODE_SEASON | AW_EPISODE_NUMBER);
	assert_int_equal(sync_wait(&sr), AW_EEXIST);
	assert_non_null(strstr(sr.err.msg, "season 1 episode 2"));
	/* Onto a free one, in season 0 (specials). */
	in.season = 0;
	aw_repo_episodes_update(f->repo, sync_init(&sr), &in, AW_EPISODE_SEASON | AW_EPISODE_NUMBER);
	assert_int_equal(sync_wait(&sr), 0);
	assert_int_equal(((Aniworld__V1__Episode *)sr.result)->season, 0);
	assert_int_equal(((Aniworld__V1__Episode *)sr.result)->episode_number, 2);
	protobuf_c_message_free_unpacked(sr.result, NULL);
	in.id = 777777;
	aw_repo_episodes_update(f->repo, sync_init(&sr), &in, AW_EPISODE_TITLE);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);

	aw_repo_episodes_delete(f->repo, sync_init(&sr), e->id);
	assert_int_equal(sync_wait(&sr), 0);
	protobuf_c_message_free_unpacked(sr.result, NULL);
	aw_repo_episodes_delete(f->repo, sync_init(&sr), e->id);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

static Aniworld__V1__Episode *get(aw_repo *r, int64_t id)
{
	sync_req sr;

	aw_repo_episodes_get(r, sync_init(&sr), id);
	if (sync_wait(&sr) != 0)
		fail_msg("get %lld: %s", (long long)id, sr.err.msg);
	return (Aniworld__V1__Episode *)sr.result;
}

static void test_repo_episode_mark_downloaded(void **state)
{
	fixture *f = *state;
	Aniworld__V1__MarkEpisodeDownloadedRequest mark =
		ANIWORLD__V1__MARK_EPISODE_DOWNLOADED_REQUEST__INIT;
	Aniworld__V1__Episode *e = NULL, *m, *g;
	sync_req sr;

	assert_int_equal(create(f->repo, f->series[1], 3, 4, &e, NULL), 0);
	clock_past(aw__pb_timestamp_us(e->updated_at));
	mark.id = e->id;
	mark.file_path = "/anime/two/s03e04.mkv";
	mark.file_size = 0; /* an empty file is a size like any other */
	aw_repo_episodes_mark_downloaded(f->repo, sync_init(&sr), &mark);
	assert_int_equal(sync_wait(&sr), 0);
	m = (Aniworld__V1__Episode *)sr.result;
	assert_true(m->is_downloaded);
	assert_string_equal(m->file_path, "/anime/two/s03e04.mkv");
	assert_int_equal(m->file_size, 0);
	/* download_date is now, and so is updated_at: one instant. */
	assert_non_null(m->download_date);
	assert_int_equal(aw__pb_timestamp_us(m->download_date), aw__pb_timestamp_us(m->updated_at));
	assert_true(aw__pb_timestamp_us(m->updated_at) > aw__pb_timestamp_us(e->updated_at));
	assert_int_equal(aw__pb_timestamp_us(m->created_at), aw__pb_timestamp_us(e->created_at));
	assert_string_equal(m->title, "An episode"); /* untouched */

	/* What was returned is what was stored. */
	g = get(f->repo, e->id);
	assert_true(g->is_downloaded);
	assert_int_equal(aw__pb_timestamp_us(g->download_date), aw__pb_timestamp_us(m->download_date));
	assert_string_equal(g->file_path, m->file_path);
	protobuf_c_message_free_unpacked(&g->base, NULL);

	/* Marking again moves the date: a new download. */
	clock_past(aw__pb_timestamp_us(m->updated_at));
	mark.file_size = 99;
	aw_repo_episodes_mark_downloaded(f->repo, sync_init(&sr), &mark);
	assert_int_equal(sync_wait(&sr), 0);
	g = (Aniworld__V1__Episode *)sr.result;
	assert_int_equal(g->file_size, 99);
	assert_true(aw__pb_timestamp_us(g->download_date) > aw__pb_timestamp_us(m->download_date));
	protobuf_c_message_free_unpacked(sr.result, NULL);
	protobuf_c_message_free_unpacked(&m->base, NULL);

	mark.id = 987654;
	aw_repo_episodes_mark_downloaded(f->repo, sync_init(&sr), &mark);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	assert_string_equal(sr.err.msg, "episode 987654 not found");
	assert_null(sr.result);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

static void mark_downloaded(aw_repo *r, int64_t series, int season, int number)
{
	Aniworld__V1__MarkEpisodeDownloadedRequest mark =
		ANIWORLD__V1__MARK_EPISODE_DOWNLOADED_REQUEST__INIT;
	Aniworld__V1__Episode *e = NULL;
	sync_req sr;

	assert_int_equal(create(r, series, season, number, &e, NULL), 0);
	mark.id = e->id;
	mark.file_path = "/anime/file.mkv";
	aw_repo_episodes_mark_downloaded(r, sync_init(&sr), &mark);
	assert_int_equal(sync_wait(&sr), 0);
	protobuf_c_message_free_unpacked(sr.result, NULL);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

/* Paging one series with both filters while rows are added between pages:
 * each page continues after the last row returned, so rows added ahead of the
 * cursor that match are seen, and those behind it or not matching are not;
 * total_size is the count at the time of each page. */
static void test_repo_episode_filtered_pages_with_inserts_between(void **state)
{
	fixture *f = *state;
	Aniworld__V1__ListEpisodesRequest in = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	int32_t seasons[] = {3, 1}; /* any order */
	char token[128] = "";
	int got[32][2], n = 0, rc;

	/* Seasons 1..3: episode 1 downloaded, episodes 2, 4, 6, 8 missing. */
	for (int season = 1; season <= 3; season++) {
		mark_downloaded(f->repo, f->series[0], season, 1);
		for (int e = 2; e <= 8; e += 2)
			must_create(f->repo, f->series[0], season, e);
	}
	must_create(f->repo, f->series[1], 1, 3); /* another series: never listed */
	in.series_id = f->series[0];
	in.seasons = seasons;
	in.n_seasons = 2;
	in.downloaded = ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_MISSING;
	for (int page = 0; page < 10; page++) {
		in.page_token = token;
		Aniworld__V1__ListEpisodesResponse *res = list(f->repo, &in, 3, &rc);
		assert_int_equal(rc, 0);
		assert_true(res->n_episodes <= 3);
		assert_int_equal(res->total_size, page == 0 ? 8 : 11);
		for (size_t i = 0; i < res->n_episodes; i++) {
			assert_int_equal(res->episodes[i]->series_id, f->series[0]);
			assert_false(res->episodes[i]->is_downloaded);
			assert_true(n < 32);
			got[n][0] = res->episodes[i]->season;
			got[n][1] = res->episodes[i]->episode_number;
			n++;
		}
		if (page == 0) { /* the cursor is at S1E6 */
			must_create(f->repo, f->series[0], 1, 3);      /* behind: not seen */
			must_create(f->repo, f->series[0], 1, 7);      /* ahead: seen */
			must_create(f->repo, f->series[0], 0, 5);      /* season 0 not asked */
			must_create(f->repo, f->series[0], 2, 5);      /* season 2 not asked */
			mark_downloaded(f->repo, f->series[0], 3, 5);  /* ahead, but downloaded */
			must_create(f->repo, f->series[0], 3, 9);      /* ahead: seen */
		}
		snprintf(token, sizeof(token), "%s", res->next_page_token);
		protobuf_c_message_free_unpacked(&res->base, NULL);
		if (token[0] == '\0')
			break;
	}
	static const int want[][2] = {{1, 2}, {1, 4}, {1, 6}, {1, 7}, {1, 8},
				      {3, 2}, {3, 4}, {3, 6}, {3, 8}, {3, 9}};
	assert_int_equal(n, 10);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(got[i][0], want[i][0]);
		assert_int_equal(got[i][1], want[i][1]);
	}
}

/* Every series at once, with the filters: series first, then season and
 * episode; the count covers every series. */
static void test_repo_episode_list_every_series_filtered(void **state)
{
	fixture *f = *state;
	Aniworld__V1__ListEpisodesRequest in = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Aniworld__V1__ListEpisodesResponse *res;
	int32_t seasons[] = {0};
	char token[128] = "";
	int64_t last_series = 0;
	int seen = 0, rc;

	for (int s = 2; s >= 0; s--) {
		must_create(f->repo, f->series[s], 1, 1);
		mark_downloaded(f->repo, f->series[s], 0, 2);
		must_create(f->repo, f->series[s], 0, 1);
	}
	in.downloaded = ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_DOWNLOADED;
	res = list(f->repo, &in, 50, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(res->total_size, 3);
	assert_int_equal(res->n_episodes, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(res->episodes[i]->series_id, f->series[i]);
		assert_int_equal(res->episodes[i]->episode_number, 2);
	}
	assert_string_equal(res->next_page_token, "");
	protobuf_c_message_free_unpacked(&res->base, NULL);

	/* Season 0 of every series, a page at a time. */
	in.downloaded = ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_ANY;
	in.seasons = seasons;
	in.n_seasons = 1;
	do {
		in.page_token = token;
		res = list(f->repo, &in, 1, &rc);
		assert_int_equal(rc, 0);
		assert_int_equal(res->total_size, 6);
		for (size_t i = 0; i < res->n_episodes; i++) {
			assert_int_equal(res->episodes[i]->season, 0);
			assert_true(res->episodes[i]->series_id >= last_series);
			last_series = res->episodes[i]->series_id;
			seen++;
		}
		snprintf(token, sizeof(token), "%s", res->next_page_token);
		protobuf_c_message_free_unpacked(&res->base, NULL);
	} while (token[0] != '\0');
	assert_int_equal(seen, 6);

	/* A season nobody has: an empty page, no token, a count of 0. */
	seasons[0] = 77;
	in.page_token = "";
	res = list(f->repo, &in, 50, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(res->n_episodes, 0);
	assert_int_equal(res->total_size, 0);
	assert_string_equal(res->next_page_token, "");
	protobuf_c_message_free_unpacked(&res->base, NULL);
}

/* A downloaded episode always has a download date, also after an update of
 * every field (an empty mask) that does not give one. */
static void test_repo_episode_downloaded_keeps_a_date(void **state)
{
	fixture *f = *state;
	Aniworld__V1__Episode *e = NULL, in = ANIWORLD__V1__EPISODE__INIT;
	Google__Protobuf__Timestamp when = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	sync_req sr;

	assert_int_equal(create(f->repo, f->series[0], 1, 1, &e, NULL), 0);
	in.id = e->id;
	in.season = 1;
	in.episode_number = 1;
	in.is_downloaded = 1;
	/* Not downloaded before, no date given: now. */
	aw_repo_episodes_update(f->repo, sync_init(&sr), &in, AW_EPISODE_ALL);
	assert_int_equal(sync_wait(&sr), 0);
	Aniworld__V1__Episode *u = (Aniworld__V1__Episode *)sr.result;
	assert_non_null(u->download_date);
	assert_int_equal(aw__pb_timestamp_us(u->download_date), aw__pb_timestamp_us(u->updated_at));
	protobuf_c_message_free_unpacked(sr.result, NULL);

	/* A date given, then every field again without one: the date stays. */
	when.seconds = 1600000000;
	in.download_date = &when;
	aw_repo_episodes_update(f->repo, sync_init(&sr), &in, AW_EPISODE_ALL);
	assert_int_equal(sync_wait(&sr), 0);
	protobuf_c_message_free_unpacked(sr.result, NULL);
	in.download_date = NULL;
	aw_repo_episodes_update(f->repo, sync_init(&sr), &in, AW_EPISODE_ALL);
	assert_int_equal(sync_wait(&sr), 0);
	assert_int_equal(((Aniworld__V1__Episode *)sr.result)->download_date->seconds, 1600000000);
	protobuf_c_message_free_unpacked(sr.result, NULL);

	/* Not downloaded: no date. */
	in.is_downloaded = 0;
	aw_repo_episodes_update(f->repo, sync_init(&sr), &in, AW_EPISODE_ALL);
	assert_int_equal(sync_wait(&sr), 0);
	assert_null(((Aniworld__V1__Episode *)sr.result)->download_date);
	protobuf_c_message_free_unpacked(sr.result, NULL);
	protobuf_c_message_free_unpacked(&e->base, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_repo_episode_create_and_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repo_episode_create_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repo_episode_downloaded_on_create_gets_a_date, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_episode_batch_is_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repo_episode_list_order_filters_and_counts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_episode_pages_with_inserts_between, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_episode_update_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repo_episode_downloaded_keeps_a_date, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_episode_mark_downloaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repo_episode_filtered_pages_with_inserts_between,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_repo_episode_list_every_series_filtered, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
