/*
 * Tests the series of the repository (server/repo/anime_series.c and the backends'
 * series) on a real database of the backend under test (test_db.h: ctest runs
 * this suite on SQLite and on PostgreSQL). SQLite's own checks (migrations of
 * its file, files that are no database) are in test_repo_sqlite.c.
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
#include "test_db.h"

typedef struct fixture {
	test_db db;
	aw_repo *repo;
} fixture;

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
	if (test_db_create(&f->db, TEST_DB_MEMORY) != 0)
		return setup_failed(state);
	if (aw_repo_open(&f->repo, f->db.location, NULL, &err) != 0) {
		fprintf(stderr, "cannot open %s: %s\n", f->db.location, err.msg);
		return setup_failed(state);
	}
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static Aniworld__V1__AnimeSeries *create(aw_repo *r, const char *key, const char *name, int *rc_out,
					 aw_err *err_out)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	sync_req sr;

	s.key = (char *)key;
	s.name = (char *)name;
	s.site = "aniworld.to";
	s.total_episodes = 24;
	aw_repo_series_create(r, sync_init(&sr), &s);
	int rc = sync_wait(&sr);
	if (rc_out != NULL)
		*rc_out = rc;
	if (err_out != NULL)
		*err_out = sr.err;
	return (Aniworld__V1__AnimeSeries *)sr.result;
}

static Aniworld__V1__AnimeSeries *must_create(aw_repo *r, const char *key, const char *name)
{
	int rc;
	aw_err err;
	Aniworld__V1__AnimeSeries *s = create(r, key, name, &rc, &err);

	if (rc != 0)
		fail_msg("create %s: %s", key, err.msg);
	return s;
}

static int64_t ts_us(const Google__Protobuf__Timestamp *t)
{
	return t->seconds * 1000000 + t->nanos / 1000;
}

static Aniworld__V1__ListSeriesResponse *list(aw_repo *r, int page_size, const char *token,
					       const char *name_contains, const char *site, int *rc)
{
	Aniworld__V1__ListSeriesRequest in = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	sync_req sr;

	in.page_size = page_size;
	in.page_token = (char *)(token != NULL ? token : "");
	in.name_contains = (char *)(name_contains != NULL ? name_contains : "");
	in.site = (char *)(site != NULL ? site : "");
	aw_repo_series_list(r, sync_init(&sr), &in, page_size);
	*rc = sync_wait(&sr);
	return (Aniworld__V1__ListSeriesResponse *)sr.result;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_repo_anime_series_create_and_get(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__AnimeSeries__EpisodeDictEntry entry =
		ANIWORLD__V1__ANIME_SERIES__EPISODE_DICT_ENTRY__INIT;
	Aniworld__V1__AnimeSeries__EpisodeDictEntry *entries[] = {&entry};
	Aniworld__V1__EpisodeNumbers nums = ANIWORLD__V1__EPISODE_NUMBERS__INIT;
	int32_t eps[] = {1, 2, 3};
	int64_t before = aw__repo_now_us();
	sync_req sr;

	s.key = "attack-on-titan";
	s.name = "Attack on Titan";
	s.site = "aniworld.to";
	s.folder = "/anime/aot";
	s.description = "Humanity behind walls.";
	s.status = "completed";
	s.total_episodes = 87;
	s.cover_url = "https://example.invalid/aot.jpg";
	nums.n_episodes = 3;
	nums.episodes = eps;
	entry.key = 1;
	entry.value = &nums;
	s.n_episode_dict = 1;
	s.episode_dict = entries;
	s.id = 999; /* ignored: the id is the repository's */

	aw_repo_series_create(f->repo, sync_init(&sr), &s);
	assert_int_equal(sync_wait(&sr), 0);
	Aniworld__V1__AnimeSeries *c = (Aniworld__V1__AnimeSeries *)sr.result;
	assert_true(c->id > 0 && c->id != 999);
	assert_string_equal(c->key, "attack-on-titan");
	assert_string_equal(c->folder, "/anime/aot");
	assert_int_equal(c->total_episodes, 87);
	assert_non_null(c->created_at);
	assert_true(ts_us(c->created_at) >= before);
	assert_int_equal(ts_us(c->created_at), ts_us(c->updated_at));

	aw_repo_series_get(f->repo, sync_init(&sr), c->id);
	assert_int_equal(sync_wait(&sr), 0);
	Aniworld__V1__AnimeSeries *g = (Aniworld__V1__AnimeSeries *)sr.result;
	assert_string_equal(g->name, "Attack on Titan");
	assert_string_equal(g->description, "Humanity behind walls.");
	assert_string_equal(g->status, "completed");
	assert_string_equal(g->cover_url, "https://example.invalid/aot.jpg");
	assert_int_equal(g->n_episode_dict, 1);
	assert_int_equal(g->episode_dict[0]->key, 1);
	assert_int_equal(g->episode_dict[0]->value->n_episodes, 3);
	assert_int_equal(g->episode_dict[0]->value->episodes[2], 3);
	assert_int_equal(ts_us(g->created_at), ts_us(c->created_at));
	protobuf_c_message_free_unpacked(&g->base, NULL);

	aw_repo_series_get_by_key(f->repo, sync_init(&sr), "attack-on-titan");
	assert_int_equal(sync_wait(&sr), 0);
	g = (Aniworld__V1__AnimeSeries *)sr.result;
	assert_int_equal(g->id, c->id);
	protobuf_c_message_free_unpacked(&g->base, NULL);
	protobuf_c_message_free_unpacked(&c->base, NULL);
}

static void test_repo_anime_series_duplicate_key(void **state)
{
	fixture *f = *state;
	aw_err err;
	int rc;

	protobuf_c_message_free_unpacked(&must_create(f->repo, "naruto", "Naruto")->base, NULL);
	assert_null(create(f->repo, "naruto", "Naruto again", &rc, &err));
	assert_int_equal(rc, AW_EEXIST);
	assert_non_null(strstr(err.msg, "naruto"));
}

static void test_repo_anime_series_not_found(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	sync_req sr;

	aw_repo_series_get(f->repo, sync_init(&sr), 4242);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	assert_non_null(strstr(sr.err.msg, "4242"));
	assert_null(sr.result);

	aw_repo_series_get_by_key(f->repo, sync_init(&sr), "nope");
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	assert_non_null(strstr(sr.err.msg, "nope"));

	s.id = 4242;
	s.name = "x";
	aw_repo_series_update(f->repo, sync_init(&sr), &s, AW_SERIES_NAME);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	assert_non_null(strstr(sr.err.msg, "4242"));

	aw_download_changes gone = {0};
	aw_repo_series_delete(f->repo, sync_init(&sr), 4242, &gone);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	aw_download_changes_clear(&gone, NULL);
}

static void test_repo_anime_series_update_applies_mask(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries *a = must_create(f->repo, "one-piece", "One Piece");
	Aniworld__V1__AnimeSeries *b = must_create(f->repo, "bleach", "Bleach");
	Aniworld__V1__AnimeSeries in = ANIWORLD__V1__ANIME_SERIES__INIT;
	sync_req sr;

	usleep(2000); /* updated_at must be able to move past created_at */
	in.id = a->id;
	in.name = "One Piece (TV)";
	in.key = "ignored-because-not-in-mask";
	in.total_episodes = 1100;
	aw_repo_series_update(f->repo, sync_init(&sr), &in, AW_SERIES_NAME | AW_SERIES_TOTAL_EPISODES);
	assert_int_equal(sync_wait(&sr), 0);
	Aniworld__V1__AnimeSeries *u = (Aniworld__V1__AnimeSeries *)sr.result;
	assert_string_equal(u->name, "One Piece (TV)");
	assert_string_equal(u->key, "one-piece");
	assert_string_equal(u->site, "aniworld.to"); /* untouched */
	assert_int_equal(u->total_episodes, 1100);
	assert_int_equal(ts_us(u->created_at), ts_us(a->created_at));
	assert_true(ts_us(u->updated_at) > ts_us(a->updated_at));
	protobuf_c_message_free_unpacked(&u->base, NULL);

	/* Taking another series' key. */
	in.key = "bleach";
	aw_repo_series_update(f->repo, sync_init(&sr), &in, AW_SERIES_KEY);
	assert_int_equal(sync_wait(&sr), AW_EEXIST);
	assert_non_null(strstr(sr.err.msg, "bleach"));

	/* Clearing a field through the mask. */
	in.site = "";
	aw_repo_series_update(f->repo, sync_init(&sr), &in, AW_SERIES_SITE);
	assert_int_equal(sync_wait(&sr), 0);
	u = (Aniworld__V1__AnimeSeries *)sr.result;
	assert_string_equal(u->site, "");
	protobuf_c_message_free_unpacked(&u->base, NULL);

	protobuf_c_message_free_unpacked(&a->base, NULL);
	protobuf_c_message_free_unpacked(&b->base, NULL);
}

static void test_repo_anime_series_delete(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries *a = must_create(f->repo, "to-delete", "Gone Soon");
	aw_download_changes gone = {0};
	sync_req sr;

	aw_repo_series_delete(f->repo, sync_init(&sr), a->id, &gone);
	assert_int_equal(sync_wait(&sr), 0);
	assert_int_equal(gone.n_events, 0); /* it had no queue items */
	aw_download_changes_clear(&gone, NULL);
	assert_non_null(sr.result); /* google.protobuf.Empty */
	protobuf_c_message_free_unpacked(sr.result, NULL);
	aw_repo_series_get(f->repo, sync_init(&sr), a->id);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	/* The key is free again. */
	protobuf_c_message_free_unpacked(&must_create(f->repo, "to-delete", "Back")->base, NULL);
	protobuf_c_message_free_unpacked(&a->base, NULL);
}

static void test_repo_anime_series_list_pages_with_inserts_between(void **state)
{
	fixture *f = *state;
	char key[32], token[128] = "";
	int64_t seen[64];
	int n_seen = 0, rc;

	for (int i = 0; i < 25; i++) {
		snprintf(key, sizeof(key), "series-%02d", i);
		protobuf_c_message_free_unpacked(&must_create(f->repo, key, key)->base, NULL);
	}
	for (int page = 0;; page++) {
		Aniworld__V1__ListSeriesResponse *res = list(f->repo, 10, token, NULL, NULL, &rc);
		assert_int_equal(rc, 0);
		for (size_t i = 0; i < res->n_series; i++) {
			for (int j = 0; j < n_seen; j++)
				assert_true(seen[j] != res->series[i]->id); /* no repeats */
			if (n_seen > 0)
				assert_true(res->series[i]->id > seen[n_seen - 1]); /* id order */
			seen[n_seen++] = res->series[i]->id;
		}
		if (page == 0) {
			assert_int_equal(res->total_size, 25);
			/* Rows inserted between pages land after the cursor. */
			for (int i = 25; i < 30; i++) {
				snprintf(key, sizeof(key), "series-%02d", i);
				protobuf_c_message_free_unpacked(&must_create(f->repo, key, key)->base, NULL);
			}
		}
		snprintf(token, sizeof(token), "%s", res->next_page_token);
		int last = res->next_page_token[0] == '\0';
		if (last)
			assert_int_equal(res->total_size, 30);
		protobuf_c_message_free_unpacked(&res->base, NULL);
		if (last)
			break;
		assert_true(page < 10);
	}
	assert_int_equal(n_seen, 30); /* nothing skipped */
}

static void test_repo_anime_series_list_exact_last_page_has_no_token(void **state)
{
	fixture *f = *state;
	char key[32];
	int rc;

	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "exact-%d", i);
		protobuf_c_message_free_unpacked(&must_create(f->repo, key, key)->base, NULL);
	}
	Aniworld__V1__ListSeriesResponse *res = list(f->repo, 10, NULL, NULL, NULL, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(res->n_series, 10);
	assert_string_equal(res->next_page_token, "");
	protobuf_c_message_free_unpacked(&res->base, NULL);

	res = list(f->repo, 5, NULL, NULL, NULL, &rc);
	assert_int_equal(res->n_series, 5);
	assert_string_not_equal(res->next_page_token, "");
	protobuf_c_message_free_unpacked(&res->base, NULL);
}

static void test_repo_anime_series_list_filters(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries in = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__ListSeriesResponse *res;
	sync_req sr;
	int rc;

	protobuf_c_message_free_unpacked(&must_create(f->repo, "k1", "Sword Art Online")->base, NULL);
	protobuf_c_message_free_unpacked(&must_create(f->repo, "k2", "100% Pure_Love")->base, NULL);
	Aniworld__V1__AnimeSeries *other = must_create(f->repo, "k3", "Sword of the Stranger");
	in.id = other->id;
	in.site = "s.to";
	aw_repo_series_update(f->repo, sync_init(&sr), &in, AW_SERIES_SITE);
	assert_int_equal(sync_wait(&sr), 0);
	protobuf_c_message_free_unpacked(sr.result, NULL);
	protobuf_c_message_free_unpacked(&other->base, NULL);

	res = list(f->repo, 50, NULL, "sword", NULL, &rc); /* case-insensitive */
	assert_int_equal(rc, 0);
	assert_int_equal(res->n_series, 2);
	assert_int_equal(res->total_size, 2);
	protobuf_c_message_free_unpacked(&res->base, NULL);

	res = list(f->repo, 50, NULL, "sword", "s.to", &rc);
	assert_int_equal(res->n_series, 1);
	assert_string_equal(res->series[0]->key, "k3");
	protobuf_c_message_free_unpacked(&res->base, NULL);

	res = list(f->repo, 50, NULL, NULL, "aniworld.to", &rc);
	assert_int_equal(res->total_size, 2);
	protobuf_c_message_free_unpacked(&res->base, NULL);

	/* LIKE wildcards in the filter are literal. */
	res = list(f->repo, 50, NULL, "0% P", NULL, &rc);
	assert_int_equal(res->n_series, 1);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	res = list(f->repo, 50, NULL, "_", NULL, &rc);
	assert_int_equal(res->n_series, 1);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	res = list(f->repo, 50, NULL, "%", NULL, &rc);
	assert_int_equal(res->n_series, 1);
	protobuf_c_message_free_unpacked(&res->base, NULL);
}

static void test_repo_anime_series_list_rejects_foreign_token(void **state)
{
	fixture *f = *state;
	char key[16];
	int rc;

	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "t%d", i);
		protobuf_c_message_free_unpacked(&must_create(f->repo, key, key)->base, NULL);
	}
	Aniworld__V1__ListSeriesResponse *res = list(f->repo, 1, NULL, NULL, NULL, &rc);
	char token[128];
	snprintf(token, sizeof(token), "%s", res->next_page_token);
	protobuf_c_message_free_unpacked(&res->base, NULL);

	assert_null(list(f->repo, 1, token, "other filter", NULL, &rc));
	assert_int_equal(rc, AW_EINVAL);
	assert_null(list(f->repo, 1, "garbage!", NULL, NULL, &rc));
	assert_int_equal(rc, AW_EINVAL);
	res = list(f->repo, 1, token, NULL, NULL, &rc);
	assert_int_equal(rc, 0);
	protobuf_c_message_free_unpacked(&res->base, NULL);
}

/* The episodes and queue items of a series go with it, and the items are
 * reported as they were stored (WatchDownloads announces them). */
static void test_repo_anime_series_delete_cascades_to_children(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries *a = must_create(f->repo, "parent", "Parent");
	Aniworld__V1__Episode ep = ANIWORLD__V1__EPISODE__INIT;
	Aniworld__V1__DownloadQueueItem dl = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	Aniworld__V1__ListEpisodesRequest eps = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	aw_download_changes gone = {0};
	int64_t episode_ids[2], item_id;
	sync_req sr;

	ep.series_id = a->id;
	ep.season = 1;
	for (int i = 0; i < 2; i++) {
		ep.episode_number = i + 1;
		aw_repo_episodes_create(f->repo, sync_init(&sr), &ep);
		assert_int_equal(sync_wait(&sr), 0);
		episode_ids[i] = ((Aniworld__V1__Episode *)sr.result)->id;
		protobuf_c_message_free_unpacked(sr.result, NULL);
	}
	dl.series_id = a->id;
	dl.season = 1;
	dl.episode_number = 1;
	dl.priority = ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_HIGH;
	aw_repo_downloads_enqueue(f->repo, sync_init(&sr), &dl);
	assert_int_equal(sync_wait(&sr), 0);
	item_id = ((Aniworld__V1__DownloadQueueItem *)sr.result)->id;
	protobuf_c_message_free_unpacked(sr.result, NULL);

	aw_repo_series_delete(f->repo, sync_init(&sr), a->id, &gone);
	assert_int_equal(sync_wait(&sr), 0);
	protobuf_c_message_free_unpacked(sr.result, NULL);
	for (int i = 0; i < 2; i++) {
		aw_repo_episodes_get(f->repo, sync_init(&sr), episode_ids[i]);
		assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	}
	aw_repo_downloads_get(f->repo, sync_init(&sr), item_id);
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	eps.page_token = "";
	aw_repo_episodes_list(f->repo, sync_init(&sr), &eps, 50);
	assert_int_equal(sync_wait(&sr), 0);
	assert_int_equal(((Aniworld__V1__ListEpisodesResponse *)sr.result)->n_episodes, 0);
	assert_int_equal(((Aniworld__V1__ListEpisodesResponse *)sr.result)->total_size, 0);
	protobuf_c_message_free_unpacked(sr.result, NULL);

	assert_int_equal(gone.n_events, 1);
	assert_int_equal(gone.events[0]->type,
			 ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_DELETED);
	assert_int_equal(gone.events[0]->item->id, item_id);
	assert_int_equal(gone.events[0]->item->series_id, a->id);
	assert_int_equal(gone.events[0]->item->episode_number, 1);
	assert_int_equal(gone.events[0]->item->priority,
			 ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_HIGH);
	aw_download_changes_clear(&gone, NULL);
	protobuf_c_message_free_unpacked(&a->base, NULL);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_repo_anime_series_create_and_get),
		TEST(test_repo_anime_series_duplicate_key),
		TEST(test_repo_anime_series_not_found),
		TEST(test_repo_anime_series_update_applies_mask),
		TEST(test_repo_anime_series_delete),
		TEST(test_repo_anime_series_list_pages_with_inserts_between),
		TEST(test_repo_anime_series_list_exact_last_page_has_no_token),
		TEST(test_repo_anime_series_list_filters),
		TEST(test_repo_anime_series_list_rejects_foreign_token),
		TEST(test_repo_anime_series_delete_cascades_to_children),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
