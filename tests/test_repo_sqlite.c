/*
 * SQLite-only checks of the SQLite backend (server/repo/sqlite/), on real
 * SQLite files: its migrations recorded in PRAGMA user_version, files that are
 * no database, an in-memory database, the row counts its triggers keep, how a
 * token digest is stored, and the query plans of the statements that must stay
 * index lookups. What every backend must do is tested once, for both, in
 * test_repo_anime_series.c, test_repo_episode.c, test_repo_download_queue.c,
 * test_repo_user_session.c and test_writer.c.
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

#include "google/protobuf/timestamp.pb-c.h"
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

/* ---- migrations and files ------------------------------------------------------------ */

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
	/* Migration 5 undone too: its columns and indexes as version 1 had them. */
	side_exec(f->path, "DROP TRIGGER anime_series_counted; DROP TRIGGER anime_series_uncounted;"
			   "DROP TRIGGER episodes_counted; DROP TRIGGER episodes_uncounted;"
			   "DROP TRIGGER anime_series_deleted_counted;"
			   "DROP TRIGGER anime_series_deleted_uncounted;"
			   "DROP TRIGGER episodes_hidden_added; DROP TRIGGER episodes_hidden_counted;"
			   "DROP TRIGGER episodes_hidden_uncounted;"
			   "DROP TABLE row_counts; DROP TABLE request_ids;"
			   "ALTER TABLE anime_series DROP COLUMN version;"
			   "ALTER TABLE episodes DROP COLUMN version;"
			   "ALTER TABLE download_queue DROP COLUMN version;"
			   "ALTER TABLE user_sessions DROP COLUMN version;"
			   "DROP INDEX download_queue_provider; DROP INDEX download_queue_language;"
			   "DROP INDEX download_queue_order; DROP INDEX download_queue_series;"
			   "DROP INDEX anime_series_purge;"
			   "ALTER TABLE anime_series DROP COLUMN delete_time;"
			   "ALTER TABLE anime_series DROP COLUMN purge_time;"
			   "ALTER TABLE episodes DROP COLUMN hidden;"
			   "ALTER TABLE download_queue DROP COLUMN provider;"
			   "ALTER TABLE download_queue DROP COLUMN language;"
			   "ALTER TABLE download_queue DROP COLUMN queue_position;"
			   "ALTER TABLE download_queue DROP COLUMN hidden;"
			   "CREATE INDEX download_queue_series"
			   "  ON download_queue(series_id, priority DESC, created_at, id);"
			   "CREATE INDEX download_queue_order"
			   "  ON download_queue(status, priority DESC, created_at, id);"
			   "INSERT INTO download_queue (series_id, season, episode_number, status,"
			   "  priority, created_at, updated_at)"
			   "  VALUES ((SELECT MIN(id) FROM anime_series), 1, 1, 1, 2, 1234, 1234);"
			   "PRAGMA user_version = 1;");

	assert_int_equal(aw_repo_open(&f->repo, f->path, NULL, NULL), 0);
	assert_int_equal(side_count(f->path, "PRAGMA user_version"), aw__sq_schema_version());
	/* An item queued before migration 6 keeps its place: queue_position is
	 * its created_at. */
	assert_int_equal(side_count(f->path, "SELECT queue_position FROM download_queue"), 1234);
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

/* ---- the episodes' row count and query plans ------------------------------------------------ */

static int64_t make_series(aw_repo *r, const char *key)
{
	Aniworld__V1__AnimeSeries *s = must_create(r, key, key);
	int64_t id = s->id;

	protobuf_c_message_free_unpacked(&s->base, NULL);
	return id;
}

/* A batch that fails stores nothing, and the count the triggers keep (which
 * total_size reads) does not move either. */
static void test_repo_sqlite_failed_batch_keeps_the_row_count(void **state)
{
	fixture *f = *state;
	Aniworld__V1__BatchCreateEpisodesRequest b = ANIWORLD__V1__BATCH_CREATE_EPISODES_REQUEST__INIT;
	Aniworld__V1__Episode eps[3], *ptrs[3];
	int64_t series = make_series(f->repo, "counted");
	sync_req sr;

	for (int i = 0; i < 3; i++) {
		Aniworld__V1__Episode init = ANIWORLD__V1__EPISODE__INIT;
		eps[i] = init;
		eps[i].series_id = series;
		eps[i].season = 1;
		eps[i].episode_number = i == 2 ? 1 : i + 1; /* the last one clashes */
		ptrs[i] = &eps[i];
	}
	b.series_id = series;
	b.n_episodes = 2;
	b.episodes = ptrs;
	aw_repo_episodes_batch_create(f->repo, sync_init(&sr), &b);
	assert_int_equal(sync_wait(&sr), 0);
	protobuf_c_message_free_unpacked(sr.result, NULL);
	assert_int_equal(side_count(f->path, "SELECT n FROM row_counts WHERE name = 'episodes'"), 2);

	b.n_episodes = 3;
	eps[0].season = eps[1].season = eps[2].season = 2;
	aw_repo_episodes_batch_create(f->repo, sync_init(&sr), &b);
	assert_int_equal(sync_wait(&sr), AW_EEXIST);
	assert_int_equal(side_count(f->path, "SELECT COUNT(*) FROM episodes"), 2);
	assert_int_equal(side_count(f->path, "SELECT n FROM row_counts WHERE name = 'episodes'"), 2);
}

/* The list statements walk the unique index: no scan, no sort. */
static void test_repo_sqlite_episode_queries_use_the_index(void **state)
{
	fixture *f = *state;
	sqlite3 *db;
	sqlite3_stmt *st;
	static const char *const queries[] = {
		"EXPLAIN QUERY PLAN SELECT id FROM episodes WHERE series_id = ?1 AND "
		"(season, episode_number) > (?2, ?3) AND (?5 = 0 OR season IN (SELECT value FROM "
		"json_each(?6))) AND (?7 < 0 OR is_downloaded = ?7) ORDER BY season, episode_number "
		"LIMIT ?4",
		"EXPLAIN QUERY PLAN SELECT id FROM episodes WHERE (series_id, season, episode_number) > "
		"(?1, ?2, ?3) AND (?5 = 0 OR season IN (SELECT value FROM json_each(?6))) AND "
		"(?7 < 0 OR is_downloaded = ?7) ORDER BY series_id, season, episode_number LIMIT ?4",
		/* total_size of one series counts within the series' index range. */
		"EXPLAIN QUERY PLAN SELECT COUNT(*) FROM episodes WHERE series_id = ?1 "
		"AND (?5 = 0 OR season IN (SELECT value FROM json_each(?6))) "
		"AND (?7 < 0 OR is_downloaded = ?7)",
	};

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
		char plan[1024] = "";
		assert_int_equal(sqlite3_prepare_v2(db, queries[q], -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			strncat(plan, (const char *)sqlite3_column_text(st, 3), sizeof(plan) - strlen(plan) - 2);
			strncat(plan, "\n", sizeof(plan) - strlen(plan) - 1);
		}
		sqlite3_finalize(st);
		if (strstr(plan, "SEARCH episodes USING INDEX sqlite_autoindex_episodes_1") == NULL ||
		    strstr(plan, "TEMP B-TREE") != NULL)
			fail_msg("query %zu plan:\n%s", q, plan);
	}
	sqlite3_close(db);
}

/* ---- sessions: the stored digest, query plans -------------------------------------------- */

/* A digest that differs for every `seed` (as test_repo_user_session.c makes them). */
static void make_hash(uint8_t *out, int seed)
{
	for (int i = 0; i < AW_SESSION_HASH_BYTES; i++)
		out[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

static void add(aw_repo *r, const char *sid, const char *user, int seed)
{
	Aniworld__V1__UserSession s = ANIWORLD__V1__USER_SESSION__INIT;
	Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	aw_session_new in;
	sync_req sr;

	exp.seconds = aw__repo_now_us() / 1000000 + 3600;
	s.session_id = (char *)sid;
	s.user_id = (char *)user;
	s.expires_at = &exp;
	in.session = &s;
	make_hash(in.token_hash, seed);
	aw_repo_session_create(r, sync_init(&sr), &in);
	assert_int_equal(sync_wait(&sr), 0);
	protobuf_c_message_free_unpacked(sr.result, NULL);
}

static void free_msg(void *msg)
{
	if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, NULL);
}

static Aniworld__V1__ListSessionsResponse *list_sessions(aw_repo *r, const char *user,
							 int active_only, int *rc)
{
	Aniworld__V1__ListSessionsRequest in = ANIWORLD__V1__LIST_SESSIONS_REQUEST__INIT;
	sync_req sr;

	in.page_size = 10;
	in.page_token = "";
	in.user_id = (char *)(user != NULL ? user : "");
	in.active_only = active_only;
	aw_repo_session_list(r, sync_init(&sr), &in, 10);
	*rc = sync_wait(&sr);
	return (Aniworld__V1__ListSessionsResponse *)sr.result;
}

static int64_t revoke_user(aw_repo *r, const char *user)
{
	sync_req sr;
	int64_t n;

	aw_repo_session_revoke_user(r, sync_init(&sr), user);
	assert_int_equal(sync_wait(&sr), 0);
	n = ((Aniworld__V1__RevokeUserSessionsResponse *)sr.result)->revoked_count;
	free_msg(sr.result);
	return n;
}

static int64_t purge(aw_repo *r)
{
	sync_req sr;
	int64_t n;

	aw_repo_session_purge_expired(r, sync_init(&sr));
	assert_int_equal(sync_wait(&sr), 0);
	n = ((Aniworld__V1__PurgeExpiredSessionsResponse *)sr.result)->deleted_count;
	free_msg(sr.result);
	return n;
}

/* Runs a query returning one text value on the fixture's file with a connection
 * of the test's own; the result is malloc'd. */
static char *side_text(const char *path, const char *sql, const char *arg)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char *out = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		out = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}


/* The stored digest is the one given, as a 32-byte BLOB. */
static void test_repo_sqlite_session_digest_is_a_blob(void **state)
{
	fixture *f = *state;
	uint8_t hash[AW_SESSION_HASH_BYTES];
	char hex[2 * AW_SESSION_HASH_BYTES + 1];

	add(f->repo, "sess-1", "user-1", 1);
	make_hash(hash, 1);
	for (int i = 0; i < AW_SESSION_HASH_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02X", hash[i]);
	char *stored = side_text(f->path, "SELECT hex(token_hash) FROM user_sessions "
					  "WHERE session_id = ?1 AND typeof(token_hash) = 'blob'",
				 "sess-1");
	assert_non_null(stored);
	assert_string_equal(stored, hex);
	free(stored);
}


/* The query plan of `st`'s SQL on the fixture's file, one line per step. */
static void query_plan(const char *path, sqlite3_stmt *st, char *out, size_t size)
{
	char sql[2048];
	sqlite3 *db;
	sqlite3_stmt *plan;
	size_t o = 0;

	assert_non_null(st);
	snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", sqlite3_sql(st));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &plan, NULL), SQLITE_OK);
	out[0] = '\0';
	while (sqlite3_step(plan) == SQLITE_ROW && o < size)
		o += (size_t)snprintf(out + o, size - o, "%s\n", sqlite3_column_text(plan, 3));
	sqlite3_finalize(plan);
	sqlite3_close(db);
}

/* The statement in `slot` of whichever of the repository's connections
 * prepared it. */
static sqlite3_stmt *prepared(aw_repo *r, int slot)
{
	aw_sq_repo *sq = (aw_sq_repo *)r;

	if (sq->writer->stmts[slot] != NULL)
		return sq->writer->stmts[slot];
	for (size_t i = 0; i < sq->n_readers; i++) {
		if (sq->readers[i]->stmts[slot] != NULL)
			return sq->readers[i]->stmts[slot];
	}
	return NULL;
}

/* Every list variant and the bulk writes use an index for their filter and
 * yield id order without sorting; the checked SQL is the backend's own. */
static void test_repo_sqlite_session_queries_use_indexes(void **state)
{
	fixture *f = *state;
	char plan[1024];
	int rc;

	add(f->repo, "p1", "alice", 1);
	for (int v = 0; v < 4; v++) {
		free_msg(list_sessions(f->repo, (v & 2) ? "alice" : NULL, v & 1, &rc));
		assert_int_equal(rc, 0);

		query_plan(f->path, prepared(f->repo, AW_SQ_SESSION_PAGE + v), plan, sizeof(plan));
		if (strstr(plan, "TEMP B-TREE") != NULL || strstr(plan, "SEARCH") == NULL)
			fail_msg("page variant %d: %s", v, plan);
		if ((v & 2) && strstr(plan, "user_sessions_user") == NULL)
			fail_msg("page variant %d does not use the user index: %s", v, plan);
		if (v == 1 && strstr(plan, "user_sessions_active") == NULL)
			fail_msg("page variant 1 does not use the active index: %s", plan);

		query_plan(f->path, prepared(f->repo, AW_SQ_SESSION_COUNT + v), plan, sizeof(plan));
		if (v != 0 && strstr(plan, "SEARCH") == NULL)
			fail_msg("count variant %d scans: %s", v, plan);
	}
	assert_int_equal(revoke_user(f->repo, "alice"), 1);
	query_plan(f->path, prepared(f->repo, AW_SQ_SESSION_REVOKE_USER), plan, sizeof(plan));
	if (strstr(plan, "user_sessions_user") == NULL)
		fail_msg("RevokeUserSessions: %s", plan);
	assert_int_equal(purge(f->repo), 0);
	query_plan(f->path, prepared(f->repo, AW_SQ_SESSION_PURGE), plan, sizeof(plan));
	if (strstr(plan, "user_sessions_expires") == NULL)
		fail_msg("PurgeExpiredSessions: %s", plan);
}

/* ---- the download queue's query plans ---------------------------------------------------------------------- */

static void enqueue(aw_repo *r, int64_t series, int episode)
{
	Aniworld__V1__DownloadQueueItem in = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
	sync_req sr;

	in.series_id = series;
	in.season = 1;
	in.episode_number = episode;
	in.priority = ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_NORMAL;
	aw_repo_downloads_enqueue(r, sync_init(&sr), &in);
	assert_int_equal(sync_wait(&sr), 0);
	free_msg(sr.result);
}

static void claim(aw_repo *r)
{
	aw_download_changes requeued = {0};
	sync_req sr;

	aw_repo_downloads_claim(r, sync_init(&sr), 60000, &requeued);
	assert_int_equal(sync_wait(&sr), 0);
	free_msg(sr.result);
	aw_download_changes_clear(&requeued, NULL);
}

/* A claim for `provider` and `language` ("": any). */
static void claim_for(aw_repo *r, const char *provider, const char *language)
{
	sync_req sr;

	aw_repo_downloads_claim_for(r, sync_init(&sr), 60000, provider, language, NULL);
	assert_int_equal(sync_wait(&sr), 0);
	free_msg(sr.result);
}

/* One item of the pending ones, of `series` (0: of every series). */
static void list_pending(aw_repo *r, int64_t series)
{
	Aniworld__V1__ListDownloadsRequest in = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__DownloadStatus pending = AW_DL_PENDING;
	sync_req sr;

	in.n_statuses = 1;
	in.statuses = &pending;
	in.series_id = series;
	in.page_size = 1;
	in.page_token = "";
	aw_repo_downloads_list(r, sync_init(&sr), &in, 1);
	assert_int_equal(sync_wait(&sr), 0);
	free_msg(sr.result);
}

/* The query plan of `sql` on the fixture's file, one detail per line. */
static void plan_of(const char *path, const char *sql, char *out, size_t n)
{
	char query[4096];
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t o = 0;

	snprintf(query, sizeof(query), "EXPLAIN QUERY PLAN %s", sql);
	out[0] = '\0';
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, query, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", query, sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW && o < n)
		o += (size_t)snprintf(out + o, n - o, "%s\n",
				      (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* The SQL of the statement in `slot` as the repository prepared it, on the
 * writer or on any reader connection. */
static const char *sql_of(aw_repo *r, int slot)
{
	aw_sq_repo *s = (aw_sq_repo *)r;

	if (s->writer->stmts[slot] != NULL)
		return sqlite3_sql(s->writer->stmts[slot]);
	for (size_t i = 0; i < s->n_readers; i++) {
		if (s->readers[i]->stmts[slot] != NULL)
			return sqlite3_sql(s->readers[i]->stmts[slot]);
	}
	fail_msg("statement %d was never prepared", slot);
	return NULL;
}

/* Claims, requeues, pages and counts are index lookups, never scans or sorts:
 * checked on the statements the repository really runs. */
static void test_repo_sqlite_download_queries_use_indexes(void **state)
{
	fixture *f = *state;
	int64_t series = make_series(f->repo, "queued");
	char plan[2048];

	for (int ep = 1; ep <= 3; ep++)
		enqueue(f->repo, series, ep);
	claim(f->repo);
	claim_for(f->repo, "voe", "");
	claim_for(f->repo, "", "de");
	claim_for(f->repo, "voe", "de");
	list_pending(f->repo, 0);
	list_pending(f->repo, series);

	plan_of(f->path, sql_of(f->repo, AW_SQ_DL_REQUEUE), plan, sizeof(plan));
	assert_non_null(strstr(plan, "USING INDEX download_queue_heartbeat (heartbeat_at<?)"));
	assert_null(strstr(plan, "SCAN"));

	plan_of(f->path, sql_of(f->repo, AW_SQ_DL_CLAIM), plan, sizeof(plan));
	assert_non_null(strstr(plan, "USING INTEGER PRIMARY KEY (rowid=?)"));
	assert_non_null(strstr(plan, "USING COVERING INDEX download_queue_order "
				     "(status=? AND hidden=?)"));
	assert_null(strstr(plan, "SCAN"));
	assert_null(strstr(plan, "TEMP B-TREE"));

	/* A claim for one provider or one language probes that index, in queue
	 * order; for both, either index, filtering the other. */
	plan_of(f->path, sql_of(f->repo, AW_SQ_DL_CLAIM + 1), plan, sizeof(plan));
	assert_non_null(strstr(plan, "USING COVERING INDEX download_queue_provider "
				     "(status=? AND hidden=? AND provider=?)"));
	assert_null(strstr(plan, "SCAN"));
	assert_null(strstr(plan, "TEMP B-TREE"));
	plan_of(f->path, sql_of(f->repo, AW_SQ_DL_CLAIM + 2), plan, sizeof(plan));
	assert_non_null(strstr(plan, "USING COVERING INDEX download_queue_language "
				     "(status=? AND hidden=? AND language=?)"));
	assert_null(strstr(plan, "SCAN"));
	assert_null(strstr(plan, "TEMP B-TREE"));
	plan_of(f->path, sql_of(f->repo, AW_SQ_DL_CLAIM + 3), plan, sizeof(plan));
	assert_true(strstr(plan, "download_queue_provider (status=? AND hidden=? AND provider=?)") !=
			    NULL ||
		    strstr(plan, "download_queue_language (status=? AND hidden=? AND language=?)") !=
			    NULL);
	assert_null(strstr(plan, "SCAN"));
	assert_null(strstr(plan, "TEMP B-TREE"));

	plan_of(f->path, sql_of(f->repo, AW_SQ_DL_PAGE_STATUS), plan, sizeof(plan));
	assert_non_null(strstr(plan, "MERGE (UNION ALL)"));
	assert_non_null(strstr(plan, "USING INDEX download_queue_order "
				     "(status=? AND hidden=? AND priority=? AND queue_position>?)"));
	assert_non_null(strstr(plan, "USING INDEX download_queue_order "
				     "(status=? AND hidden=? AND priority<?)"));
	assert_null(strstr(plan, "SCAN"));
	assert_null(strstr(plan, "TEMP B-TREE"));

	plan_of(f->path, sql_of(f->repo, AW_SQ_DL_PAGE_SERIES), plan, sizeof(plan));
	assert_non_null(strstr(plan, "USING INDEX download_queue_series "
				     "(series_id=? AND priority=? AND queue_position>?)"));
	assert_non_null(strstr(plan, "USING INDEX download_queue_series "
				     "(series_id=? AND priority<?)"));
	assert_null(strstr(plan, "SCAN"));
	assert_null(strstr(plan, "TEMP B-TREE"));

	plan_of(f->path, sql_of(f->repo, AW_SQ_DL_COUNT_STATUS), plan, sizeof(plan));
	assert_non_null(strstr(plan, "USING COVERING INDEX download_queue_order "
				     "(status=? AND hidden=?)"));
	plan_of(f->path, sql_of(f->repo, AW_SQ_DL_COUNT_SERIES), plan, sizeof(plan));
	assert_non_null(strstr(plan, "USING INDEX download_queue_series (series_id=?)"));
}

#define TEST(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* ---- durability (issue 12) ---------------------------------------------------------------- */

/* PRAGMA synchronous of the writer connection: 2 FULL, 1 NORMAL. */
static int writer_synchronous(aw_repo *r)
{
	sqlite3_stmt *st;
	int v = -1;

	assert_int_equal(sqlite3_prepare_v2(((aw_sq_repo *)r)->writer->db, "PRAGMA synchronous", -1,
					    &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The durability setting: power (the default) syncs at every commit, process
 * at checkpoints; what it means is said in words for the log; a value that is
 * neither, and a VFS that does not exist, are refused. (What each survives is
 * shown by test_powercut.c.) */
static void test_repo_sqlite_durability_setting(void **state)
{
	fixture *f = *state;
	aw_repo_setting process[] = {{"durability", "process"}};
	aw_repo_setting bad[] = {{"durability", "disk"}};
	aw_repo_setting no_vfs[] = {{"vfs", "no-such-vfs"}};
	aw_repo_options opts;
	aw_repo *r = NULL;
	aw_err err;

	assert_int_equal(writer_synchronous(f->repo), 2);
	assert_non_null(strstr(aw_repo_durability(f->repo), "power: "));
	assert_non_null(strstr(aw_repo_durability(f->repo), "power cut"));
	aw_repo_close(f->repo);
	f->repo = NULL;

	aw_repo_options_defaults(&opts);
	opts.settings = process;
	opts.n_settings = 1;
	assert_int_equal(aw_repo_open(&f->repo, f->path, &opts, &err), 0);
	assert_int_equal(writer_synchronous(f->repo), 1);
	assert_non_null(strstr(aw_repo_durability(f->repo), "process: "));

	opts.settings = bad;
	assert_int_equal(aw_repo_open(&r, f->path, &opts, &err), AW_EINVAL);
	assert_null(r);
	assert_non_null(strstr(err.msg, "durability"));
	assert_non_null(strstr(err.msg, "'disk'"));
	opts.settings = no_vfs;
	assert_int_equal(aw_repo_open(&r, f->path, &opts, &err), AW_EINVAL);
	assert_non_null(strstr(err.msg, "no-such-vfs"));
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
		TEST(test_repo_sqlite_migrates_empty_file_and_reopens, setup_file),
		TEST(test_repo_sqlite_upgrades_an_older_schema, setup_file),
		TEST(test_repo_sqlite_refuses_a_non_database, setup_file),
		TEST(test_repo_sqlite_memory_database, setup_memory),
		TEST(test_repo_sqlite_durability_setting, setup_file),
		TEST(test_repo_sqlite_failed_batch_keeps_the_row_count, setup_file),
		TEST(test_repo_sqlite_episode_queries_use_the_index, setup_file),
		TEST(test_repo_sqlite_session_digest_is_a_blob, setup_file),
		TEST(test_repo_sqlite_session_queries_use_indexes, setup_file),
		TEST(test_repo_sqlite_download_queries_use_indexes, setup_file),
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
