/*
 * Tests the repository over the SQLite backend (server/repo/repo.c,
 * server/repo/sqlite/), on real SQLite: an in-memory database and temp files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "repo/repo.h"
#include "repo/sqlite/sqlite_int.h"
#include "repo_sync.h"

typedef struct fixture {
	char dir[64];
	char path[128];
	aw_repo *repo;
} fixture;

static int setup_file(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/aw-repo-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/test.db", f->dir);
	if (aw_repo_open(&f->repo, f->path, NULL, NULL) != 0)
		return -1;
	*state = f;
	return 0;
}

static int setup_memory(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (aw_repo_open(&f->repo, ":memory:", NULL, NULL) != 0)
		return -1;
	*state = f;
	return 0;
}

static void remove_dir(const char *dir)
{
	char cmd[160];

	if (dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static int teardown(void **state)
{
	fixture *f = *state;

	aw_repo_close(f->repo);
	remove_dir(f->dir);
	free(f);
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

static void test_repo_sqlite_create_and_get(void **state)
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

static void test_repo_sqlite_duplicate_key(void **state)
{
	fixture *f = *state;
	aw_err err;
	int rc;

	protobuf_c_message_free_unpacked(&must_create(f->repo, "naruto", "Naruto")->base, NULL);
	assert_null(create(f->repo, "naruto", "Naruto again", &rc, &err));
	assert_int_equal(rc, AW_EEXIST);
	assert_non_null(strstr(err.msg, "naruto"));
}

static void test_repo_sqlite_not_found(void **state)
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

static void test_repo_sqlite_update_applies_mask(void **state)
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

static void test_repo_sqlite_delete(void **state)
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

static void test_repo_sqlite_list_pages_with_inserts_between(void **state)
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

static void test_repo_sqlite_list_exact_last_page_has_no_token(void **state)
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

static void test_repo_sqlite_list_filters(void **state)
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

static void test_repo_sqlite_list_rejects_foreign_token(void **state)
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

/* Runs `sql` on the fixture's file with a connection of the test's own. */
static void side_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

static int side_count(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void test_repo_sqlite_delete_cascades_to_children(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries *a = must_create(f->repo, "parent", "Parent");
	aw_download_changes gone = {0};
	char sql[512];
	sync_req sr;

	snprintf(sql, sizeof(sql),
		 "PRAGMA foreign_keys=ON;"
		 "INSERT INTO episodes (series_id, season, episode_number, created_at, updated_at)"
		 " VALUES (%lld, 1, 1, 0, 0), (%lld, 1, 2, 0, 0);"
		 "INSERT INTO download_queue (series_id, season, episode_number, status, priority,"
		 " created_at, updated_at) VALUES (%lld, 1, 1, 1, 2, 0, 0);",
		 (long long)a->id, (long long)a->id, (long long)a->id);
	side_exec(f->path, sql);
	assert_int_equal(side_count(f->path, "SELECT COUNT(*) FROM episodes"), 2);

	aw_repo_series_delete(f->repo, sync_init(&sr), a->id, &gone);
	assert_int_equal(sync_wait(&sr), 0);
	protobuf_c_message_free_unpacked(sr.result, NULL);
	assert_int_equal(side_count(f->path, "SELECT COUNT(*) FROM episodes"), 0);
	assert_int_equal(side_count(f->path, "SELECT COUNT(*) FROM download_queue"), 0);
	/* The queue item that went with it is reported, as it was stored. */
	assert_int_equal(gone.n_events, 1);
	assert_int_equal(gone.events[0]->type,
			 ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_DELETED);
	assert_int_equal(gone.events[0]->item->series_id, a->id);
	assert_int_equal(gone.events[0]->item->episode_number, 1);
	aw_download_changes_clear(&gone, NULL);
	protobuf_c_message_free_unpacked(&a->base, NULL);
}

static void test_repo_sqlite_migrates_empty_file_and_reopens(void **state)
{
	fixture *f = *state;
	char sql[64];

	assert_int_equal(side_count(f->path, "PRAGMA user_version"), aw__sq_schema_version());
	assert_int_equal(side_count(f->path, "PRAGMA journal_mode") == -1, 0);
	protobuf_c_message_free_unpacked(&must_create(f->repo, "kept", "Kept")->base, NULL);
	aw_repo_close(f->repo);
	f->repo = NULL;

	/* Reopening an up-to-date file changes nothing and keeps the data. */
	assert_int_equal(aw_repo_open(&f->repo, f->path, NULL, NULL), 0);
	sync_req sr;
	aw_repo_series_get_by_key(f->repo, sync_init(&sr), "kept");
	assert_int_equal(sync_wait(&sr), 0);
	protobuf_c_message_free_unpacked(sr.result, NULL);
	aw_repo_close(f->repo);
	f->repo = NULL;

	/* A file from a newer server is refused, and left alone. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", aw__sq_schema_version() + 1);
	side_exec(f->path, sql);
	aw_err err;
	assert_int_equal(aw_repo_open(&f->repo, f->path, NULL, &err), AW_EVERSION);
	assert_null(f->repo);
	assert_non_null(strstr(err.msg, "newer"));
	assert_int_equal(side_count(f->path, "PRAGMA user_version"), aw__sq_schema_version() + 1);

	/* Put it back so teardown can close a working repository. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", aw__sq_schema_version());
	side_exec(f->path, sql);
	assert_int_equal(aw_repo_open(&f->repo, f->path, NULL, NULL), 0);
}

/* A database written by an older server (schema version 1: no row counts)
 * is upgraded on open, and the counts start right. */
static void test_repo_sqlite_upgrades_an_older_schema(void **state)
{
	fixture *f = *state;
	int rc;

	for (int i = 0; i < 7; i++) {
		char key[16];
		snprintf(key, sizeof(key), "old-%d", i);
		protobuf_c_message_free_unpacked(&must_create(f->repo, key, key)->base, NULL);
	}
	aw_repo_close(f->repo);
	f->repo = NULL;
	side_exec(f->path, "DROP TRIGGER anime_series_counted; DROP TRIGGER anime_series_uncounted;"
			   "DROP TRIGGER episodes_counted; DROP TRIGGER episodes_uncounted;"
			   "DROP TABLE row_counts; PRAGMA user_version = 1;");

	assert_int_equal(aw_repo_open(&f->repo, f->path, NULL, NULL), 0);
	assert_int_equal(side_count(f->path, "PRAGMA user_version"), aw__sq_schema_version());
	Aniworld__V1__ListSeriesResponse *res = list(f->repo, 2, NULL, NULL, NULL, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(res->total_size, 7);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	protobuf_c_message_free_unpacked(&must_create(f->repo, "new-1", "New")->base, NULL);
	res = list(f->repo, 2, NULL, NULL, NULL, &rc);
	assert_int_equal(res->total_size, 8);
	protobuf_c_message_free_unpacked(&res->base, NULL);
}

static void test_repo_sqlite_refuses_a_non_database(void **state)
{
	fixture *f = *state;
	char path[160];
	aw_repo *r = NULL;
	aw_err err;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 512; i++)
		fputs("this is not a database ", fp);
	fclose(fp);
	assert_int_equal(aw_repo_open(&r, path, NULL, &err), AW_ECORRUPT);
	assert_null(r);
	assert_int_equal(aw_repo_open(&r, "/nonexistent-dir/x.db", NULL, &err), AW_EIO);
	assert_null(r);
}

static void test_repo_sqlite_memory_database(void **state)
{
	fixture *f = *state;
	int rc;

	protobuf_c_message_free_unpacked(&must_create(f->repo, "mem-1", "In Memory")->base, NULL);
	Aniworld__V1__ListSeriesResponse *res = list(f->repo, 10, NULL, NULL, NULL, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(res->total_size, 1);
	protobuf_c_message_free_unpacked(&res->base, NULL);
}

/* ---- reply budget (issue 16: a list page larger than any default client accepts) ---- */

#define BUDGET 65536

/* Reopens the fixture's file with a reply limit of `max_reply` bytes. */
static void reopen_with_budget(fixture *f, size_t max_reply)
{
	aw_repo_options opts;
	aw_err err;

	aw_repo_close(f->repo);
	aw_repo_options_defaults(&opts);
	opts.max_reply_bytes = max_reply;
	if (aw_repo_open(&f->repo, f->path, &opts, &err) != 0)
		fail_msg("reopen: %s", err.msg);
}

/* Creates series `key` with a description of `bytes` bytes. */
static int create_big(aw_repo *r, const char *key, size_t bytes, aw_err *err)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	char *text = malloc(bytes + 1);
	sync_req sr;
	int rc;

	memset(text, 'd', bytes);
	text[bytes] = '\0';
	s.key = (char *)key;
	s.name = (char *)key;
	s.description = text;
	aw_repo_series_create(r, sync_init(&sr), &s);
	rc = sync_wait(&sr);
	if (err != NULL)
		*err = sr.err;
	if (sr.result != NULL)
		protobuf_c_message_free_unpacked(sr.result, NULL);
	free(text);
	return rc;
}

/* What a series takes as an element of a page: tag, length, message. */
static size_t page_cost(const Aniworld__V1__AnimeSeries *s)
{
	size_t size = protobuf_c_message_get_packed_size(&s->base);

	return 1 + (size < 128 ? 1 : size < 16384 ? 2 : size < 2097152 ? 3 : 4) + size;
}

/* Lists every page with page_size 1000, checking each against the budget: no
 * page larger than BUDGET unless it holds one series, no page that could
 * have taken the next series, every series once, in id order; returns how
 * many pages, with the ids in seen[]. */
static int list_all_pages(aw_repo *r, int64_t *seen, int *n_seen, int expect_total)
{
	char token[128] = "";
	size_t prev_items = 0;
	int pages = 0, rc;

	*n_seen = 0;
	for (;;) {
		Aniworld__V1__ListSeriesResponse *res = list(r, 1000, token, NULL, NULL, &rc);
		size_t size;

		assert_int_equal(rc, 0);
		size = protobuf_c_message_get_packed_size(&res->base);
		assert_true(res->n_series >= 1);
		assert_int_equal(res->total_size, expect_total);
		if (res->n_series > 1)
			assert_true(size <= BUDGET);
		/* The previous page stopped because this page's first series did
		 * not fit: it would have passed the budget. */
		if (pages > 0)
			assert_true(prev_items + page_cost(res->series[0]) > BUDGET - AW_REPLY_RESERVE);
		prev_items = 0;
		for (size_t i = 0; i < res->n_series; i++) {
			prev_items += page_cost(res->series[i]);
			if (*n_seen > 0)
				assert_true(res->series[i]->id > seen[*n_seen - 1]);
			seen[(*n_seen)++] = res->series[i]->id;
		}
		pages++;
		snprintf(token, sizeof(token), "%s", res->next_page_token);
		protobuf_c_message_free_unpacked(&res->base, NULL);
		if (token[0] == '\0')
			break;
		assert_true(pages < 100);
	}
	return pages;
}

static void test_repo_sqlite_list_stops_at_the_reply_budget(void **state)
{
	fixture *f = *state;
	int64_t seen[64];
	int n_seen, pages;
	char key[32];

	reopen_with_budget(f, BUDGET);
	/* 10 KB each: six to a 64 KiB page. */
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "big-%02d", i);
		assert_int_equal(create_big(f->repo, key, 10000, NULL), 0);
	}
	pages = list_all_pages(f->repo, seen, &n_seen, 40);
	assert_int_equal(n_seen, 40);
	assert_int_equal(pages, 7); /* 6 + 6 + 6 + 6 + 6 + 6 + 4 */
}

static void test_repo_sqlite_write_over_the_reply_budget_is_refused(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries *small, up = ANIWORLD__V1__ANIME_SERIES__INIT;
	char *text = malloc(BUDGET);
	sync_req sr;
	aw_err err;

	reopen_with_budget(f, BUDGET);
	/* A record that would not fit in a page of its own is not stored. */
	assert_int_equal(create_big(f->repo, "too-big", BUDGET, &err), AW_EINVAL);
	assert_non_null(strstr(err.msg, "AnimeSeries"));
	assert_non_null(strstr(err.msg, "reply"));
	aw_repo_series_get_by_key(f->repo, sync_init(&sr), "too-big");
	assert_int_equal(sync_wait(&sr), AW_ENOTFOUND);
	/* An update that would grow a record past it is refused too, and
	 * changes nothing. */
	small = must_create(f->repo, "small", "Small");
	memset(text, 'u', BUDGET - 1);
	text[BUDGET - 1] = '\0';
	up.id = small->id;
	up.description = text;
	aw_repo_series_update(f->repo, sync_init(&sr), &up, AW_SERIES_DESCRIPTION);
	assert_int_equal(sync_wait(&sr), AW_EINVAL);
	assert_null(sr.result);
	aw_repo_series_get(f->repo, sync_init(&sr), small->id);
	assert_int_equal(sync_wait(&sr), 0);
	assert_string_equal(((Aniworld__V1__AnimeSeries *)sr.result)->description, "");
	protobuf_c_message_free_unpacked(sr.result, NULL);
	protobuf_c_message_free_unpacked(&small->base, NULL);
	free(text);
}

/* In one group-commit batch (several writes, each in a savepoint), a refused
 * write rolls back alone. */
static void test_repo_sqlite_write_over_the_budget_rolls_back_alone(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries in[3];
	char *text = malloc(BUDGET + 1);
	sync_req sr[3];
	int rc;

	reopen_with_budget(f, BUDGET);
	memset(text, 'x', BUDGET);
	text[BUDGET] = '\0';
	aw_repo_defer_writes(f->repo);
	for (int i = 0; i < 3; i++) {
		aniworld__v1__anime_series__init(&in[i]);
		in[i].key = (char *)(const char *[]){"first", "huge", "third"}[i];
		in[i].name = in[i].key;
		in[i].description = i == 1 ? text : "";
		aw_repo_series_create(f->repo, sync_init(&sr[i]), &in[i]);
	}
	aw_repo_flush(f->repo);
	assert_int_equal(sync_wait(&sr[0]), 0);
	assert_int_equal(sync_wait(&sr[1]), AW_EINVAL);
	assert_int_equal(sync_wait(&sr[2]), 0);
	for (int i = 0; i < 3; i++) {
		if (sr[i].result != NULL)
			protobuf_c_message_free_unpacked(sr[i].result, NULL);
	}
	Aniworld__V1__ListSeriesResponse *res = list(f->repo, 10, NULL, NULL, NULL, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(res->n_series, 2);
	assert_string_equal(res->series[0]->key, "first");
	assert_string_equal(res->series[1]->key, "third");
	protobuf_c_message_free_unpacked(&res->base, NULL);
	free(text);
}

/* A record stored under a larger budget than today's: its page holds it
 * alone, and the pages around it continue exactly before and after it. */
static void test_repo_sqlite_list_returns_an_oversized_record_alone(void **state)
{
	fixture *f = *state;
	int64_t seen[16];
	int n_seen, rc;
	char token[128];

	reopen_with_budget(f, 4 * BUDGET);
	assert_int_equal(create_big(f->repo, "a", 20000, NULL), 0);
	assert_int_equal(create_big(f->repo, "b", 20000, NULL), 0);
	assert_int_equal(create_big(f->repo, "huge", 3 * BUDGET, NULL), 0);
	assert_int_equal(create_big(f->repo, "c", 20000, NULL), 0);
	reopen_with_budget(f, BUDGET);
	assert_int_equal(list_all_pages(f->repo, seen, &n_seen, 4), 3);
	assert_int_equal(n_seen, 4);

	Aniworld__V1__ListSeriesResponse *res = list(f->repo, 1000, NULL, NULL, NULL, &rc);
	assert_int_equal(res->n_series, 2);
	snprintf(token, sizeof(token), "%s", res->next_page_token);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	res = list(f->repo, 1000, token, NULL, NULL, &rc);
	assert_int_equal(res->n_series, 1);
	assert_string_equal(res->series[0]->key, "huge");
	assert_true(protobuf_c_message_get_packed_size(&res->base) > BUDGET);
	protobuf_c_message_free_unpacked(&res->base, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_repo_sqlite_create_and_get, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_duplicate_key, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_not_found, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_update_applies_mask, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_delete, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_list_pages_with_inserts_between,
						setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_list_exact_last_page_has_no_token,
						setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_list_filters, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_list_rejects_foreign_token, setup_memory,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_delete_cascades_to_children, setup_file,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_migrates_empty_file_and_reopens,
						setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_upgrades_an_older_schema, setup_file,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_refuses_a_non_database, setup_file,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_memory_database, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_list_stops_at_the_reply_budget,
						setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_write_over_the_reply_budget_is_refused,
						setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_write_over_the_budget_rolls_back_alone,
						setup_file, teardown),
		cmocka_unit_test_setup_teardown(test_repo_sqlite_list_returns_an_oversized_record_alone,
						setup_file, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
