/*
 * Anime series in SQLite: the anime_series table.
 *
 * Writes return the stored row through RETURNING, so a reply is always what
 * the database holds, built by the same code as a read.
 */
#include "sqlite_int.h"

#include <stdlib.h>
#include <string.h>

#include "google/protobuf/timestamp.pb-c.h"

#define SERIES_COLUMNS                                                                   \
	"id, key, name, site, folder, description, status, total_episodes, cover_url, " \
	"episode_dict, created_at, updated_at, version, delete_time, purge_time"

#define SERIES_VERSION_SQL "SELECT version FROM anime_series WHERE id = ?1"

/* Builds an AnimeSeries from a row of SERIES_COLUMNS (starting at column 0). */
static int series_row(sqlite3_stmt *st, const void *ctx, ProtobufCAllocator *mem,
		      ProtobufCMessage **out, aw_err *err)
{
	Aniworld__V1__AnimeSeries *s = aw__pb_new(mem, &aniworld__v1__anime_series__descriptor);
	int rc;

	(void)ctx;
	*out = NULL;
	if (s == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a series");
	s->id = sqlite3_column_int64(st, 0);
	if ((s->key = aw__sq_col_text(st, 1, mem)) == NULL ||
	    (s->name = aw__sq_col_text(st, 2, mem)) == NULL ||
	    (s->site = aw__sq_col_text(st, 3, mem)) == NULL ||
	    (s->folder = aw__sq_col_text(st, 4, mem)) == NULL ||
	    (s->description = aw__sq_col_text(st, 5, mem)) == NULL ||
	    (s->status = aw__sq_col_text(st, 6, mem)) == NULL ||
	    (s->cover_url = aw__sq_col_text(st, 8, mem)) == NULL ||
	    (s->created_at = aw__pb_timestamp(mem, sqlite3_column_int64(st, 10))) == NULL ||
	    (s->updated_at = aw__pb_timestamp(mem, sqlite3_column_int64(st, 11))) == NULL ||
	    (s->etag = aw__etag_new(mem, sqlite3_column_int64(st, 12))) == NULL) {
		protobuf_c_message_free_unpacked(&s->base, mem);
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a series");
	}
	if ((sqlite3_column_type(st, 13) != SQLITE_NULL &&
	     (s->delete_time = aw__pb_timestamp(mem, sqlite3_column_int64(st, 13))) == NULL) ||
	    (sqlite3_column_type(st, 14) != SQLITE_NULL &&
	     (s->purge_time = aw__pb_timestamp(mem, sqlite3_column_int64(st, 14))) == NULL)) {
		protobuf_c_message_free_unpacked(&s->base, mem);
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a series");
	}
	s->total_episodes = sqlite3_column_int(st, 7);
	rc = aw__episode_dict_decode((const char *)sqlite3_column_text(st, 9),
				     (size_t)sqlite3_column_bytes(st, 9), mem, s, err);
	if (rc != 0) {
		protobuf_c_message_free_unpacked(&s->base, mem);
		return rc;
	}
	*out = &s->base;
	return 0;
}

/* Steps a statement expected to return at most one series. */
static int step_one(aw_sq_conn *c, sqlite3_stmt *st, const char *what, ProtobufCAllocator *mem,
		    Aniworld__V1__AnimeSeries **out, aw_err *err)
{
	return aw__sq_step_one(c, st, what, series_row, NULL, mem, (ProtobufCMessage **)out, err);
}

static aw_sq_repo *sq(aw_repo *r)
{
	return (aw_sq_repo *)r;
}

/* Binds the mutable columns of `in` at ?1..?9 in table order. */
static int bind_fields(sqlite3_stmt *st, const Aniworld__V1__AnimeSeries *in, aw_err *err)
{
	char *json = NULL;
	size_t len = 0;
	int rc = aw__episode_dict_encode(in, &json, &len, err);

	if (rc != 0)
		return rc;
	aw__sq_bind_text(st, 1, in->key);
	aw__sq_bind_text(st, 2, in->name);
	aw__sq_bind_text(st, 3, in->site);
	aw__sq_bind_text(st, 4, in->folder);
	aw__sq_bind_text(st, 5, in->description);
	aw__sq_bind_text(st, 6, in->status);
	sqlite3_bind_int(st, 7, in->total_episodes);
	aw__sq_bind_text(st, 8, in->cover_url);
	sqlite3_bind_text(st, 9, json, (int)len, free);
	return 0;
}

int aw__sq_series_create(aw_repo *r, const Aniworld__V1__AnimeSeries *in, int64_t now_us,
			 ProtobufCAllocator *mem, Aniworld__V1__AnimeSeries **out, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_SERIES_INSERT,
			 "INSERT INTO anime_series (key, name, site, folder, description, status, "
			 "total_episodes, cover_url, episode_dict, created_at, updated_at) "
			 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) RETURNING " SERIES_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	rc = bind_fields(st, in, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 10, now_us);
	rc = step_one(c, st, "creating a series", mem, out, err);
	sqlite3_clear_bindings(st);
	if (rc == AW_EEXIST)
		return aw__err_series_key_taken(err, in->key, 0);
	return rc;
}

int aw__sq_series_get(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
		      Aniworld__V1__AnimeSeries **out, aw_err *err)
{
	return aw__sq_get_by_id(sq(r), AW_SQ_SERIES_GET,
				"SELECT " SERIES_COLUMNS " FROM anime_series WHERE id = ?1", id, "series",
				series_row, mem, (ProtobufCMessage **)out, err);
}

int aw__sq_series_get_by_key(aw_repo *r, const char *key, ProtobufCAllocator *mem,
			     Aniworld__V1__AnimeSeries **out, aw_err *err)
{
	aw_sq_conn *c;
	sqlite3_stmt *st;
	int rc = aw__sq_reader_get(sq(r), &c, err);

	if (rc != 0)
		return rc;
	rc = aw__sq_stmt(c, AW_SQ_SERIES_GET_BY_KEY,
			 "SELECT " SERIES_COLUMNS " FROM anime_series WHERE key = ?1", &st, err);
	if (rc == 0) {
		/* `key` outlives the step: static binding avoids a copy. */
		sqlite3_bind_text(st, 1, key, (int)strlen(key), SQLITE_STATIC);
		rc = step_one(c, st, "reading a series", mem, out, err);
		sqlite3_clear_bindings(st);
	}
	aw__sq_reader_put(sq(r), c);
	if (rc == AW_ENOTFOUND)
		return aw__err_series_key_not_found(err, key);
	return rc;
}

/*
 * Listing. Eight statement variants, by which filters are set, so that each
 * can use its best access path: the rowid range alone, or the site index
 * (whose entries end in the rowid, so "site = ? AND id > ?" is a range too). A
 * name filter is a substring match and scans. Variants 0..3 leave deleted
 * series out (a test on the rows of the path); 4..7 (show_deleted) do not.
 */
#define PAGE(where) "SELECT " SERIES_COLUMNS " FROM anime_series WHERE " where " ORDER BY id LIMIT ?2"
#define LIVE " AND delete_time IS NULL"
#define NAME_LIKE " AND name LIKE ?3 ESCAPE '\\'"

static const char *const page_sql[8] = {
	(PAGE("id > ?1" LIVE)),
	(PAGE("id > ?1" NAME_LIKE LIVE)),
	(PAGE("site = ?4 AND id > ?1" LIVE)),
	(PAGE("site = ?4 AND id > ?1" NAME_LIKE LIVE)),
	(PAGE("id > ?1")),
	(PAGE("id > ?1" NAME_LIKE)),
	(PAGE("site = ?4 AND id > ?1")),
	(PAGE("site = ?4 AND id > ?1" NAME_LIKE))
};

static const char *const count_sql[8] = {
	/* Kept by triggers: every series less the deleted ones. */
	("SELECT n - (SELECT n FROM row_counts WHERE name = 'anime_series_deleted') "
	"FROM row_counts WHERE name = 'anime_series'"),
	("SELECT COUNT(*) FROM anime_series WHERE delete_time IS NULL" NAME_LIKE),
	("SELECT COUNT(*) FROM anime_series WHERE site = ?4" LIVE),
	("SELECT COUNT(*) FROM anime_series WHERE site = ?4" NAME_LIKE LIVE),
	("SELECT n FROM row_counts WHERE name = 'anime_series'"),
	("SELECT COUNT(*) FROM anime_series WHERE 1" NAME_LIKE),
	("SELECT COUNT(*) FROM anime_series WHERE site = ?4"),
	("SELECT COUNT(*) FROM anime_series WHERE site = ?4" NAME_LIKE)
};

static int bind_filters(sqlite3_stmt *st, int variant, const char *pattern,
			const Aniworld__V1__ListSeriesRequest *f)
{
	if (variant & 1)
		sqlite3_bind_text(st, 3, pattern, -1, SQLITE_STATIC);
	if (variant & 2)
		sqlite3_bind_text(st, 4, f->site, -1, SQLITE_STATIC);
	return 0;
}

int aw__sq_series_list(aw_repo *r, const Aniworld__V1__ListSeriesRequest *f,
		       const aw_cursor *after, int limit, size_t max_bytes, ProtobufCAllocator *mem,
		       Aniworld__V1__ListSeriesResponse **out, int *more, aw_err *err)
{
	int variant = (f->name_contains[0] != '\0' ? 1 : 0) | (f->site[0] != '\0' ? 2 : 0) |
		      (f->show_deleted ? 4 : 0);
	Aniworld__V1__ListSeriesResponse *res = NULL;
	sqlite3_stmt *count_st = NULL, *page_st = NULL;
	char *pattern = NULL;
	aw_sq_conn *c;
	int rc;

	*out = NULL;
	*more = 0;
	if (variant & 1) {
		pattern = aw__series_like_pattern(f->name_contains);
		if (pattern == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory listing series");
	}
	rc = aw__sq_reader_get(sq(r), &c, err);
	if (rc != 0) {
		free(pattern);
		return rc;
	}
	res = aw__pb_new(mem, &aniworld__v1__list_series_response__descriptor);
	if (res == NULL || (res->series = aw__pb_alloc(mem, (size_t)limit * sizeof(*res->series))) == NULL)
		rc = aw_err_set(err, AW_ENOMEM, "out of memory listing series");
	if (rc == 0)
		rc = aw__sq_stmt(c, AW_SQ_SERIES_COUNT + variant, count_sql[variant], &count_st, err);
	if (rc == 0)
		rc = aw__sq_stmt(c, AW_SQ_SERIES_PAGE + variant, page_sql[variant], &page_st, err);
	if (rc == 0) {
		bind_filters(count_st, variant, pattern, f);
		bind_filters(page_st, variant, pattern, f);
		sqlite3_bind_int64(page_st, 1, after->valid ? after->k[0] : 0);
		sqlite3_bind_int(page_st, 2, limit + 1);
		rc = aw__sq_page(c, count_st, page_st, limit, max_bytes, series_row, NULL, mem, (void **)res->series,
				 &res->n_series, &res->total_size, more, "listing series", err);
	}
	aw__sq_reader_put(sq(r), c);
	free(pattern);
	if (rc != 0) {
		if (res != NULL)
			protobuf_c_message_free_unpacked(&res->base, mem);
		return rc;
	}
	*out = res;
	return 0;
}

int aw__sq_series_update(aw_repo *r, const Aniworld__V1__AnimeSeries *in, uint64_t mask, int64_t if_version,
			 int64_t now_us, ProtobufCAllocator *mem, Aniworld__V1__AnimeSeries **out,
			 aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	/* One statement: each column keeps its value unless its mask bit (?11) is set. */
	rc = aw__sq_stmt(c, AW_SQ_SERIES_UPDATE,
			 "UPDATE anime_series SET "
			 "key = CASE WHEN ?11 & 1 THEN ?1 ELSE key END, "
			 "name = CASE WHEN ?11 & 2 THEN ?2 ELSE name END, "
			 "site = CASE WHEN ?11 & 4 THEN ?3 ELSE site END, "
			 "folder = CASE WHEN ?11 & 8 THEN ?4 ELSE folder END, "
			 "description = CASE WHEN ?11 & 16 THEN ?5 ELSE description END, "
			 "status = CASE WHEN ?11 & 32 THEN ?6 ELSE status END, "
			 "total_episodes = CASE WHEN ?11 & 64 THEN ?7 ELSE total_episodes END, "
			 "cover_url = CASE WHEN ?11 & 128 THEN ?8 ELSE cover_url END, "
			 "episode_dict = CASE WHEN ?11 & 256 THEN ?9 ELSE episode_dict END, "
			 "updated_at = ?10, version = version + 1 "
			 "WHERE id = ?12 AND (?13 = 0 OR version = ?13) RETURNING " SERIES_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	rc = bind_fields(st, in, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 10, now_us);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)mask);
	sqlite3_bind_int64(st, 12, in->id);
	sqlite3_bind_int64(st, 13, if_version);
	rc = step_one(c, st, "updating a series", mem, out, err);
	sqlite3_clear_bindings(st);
	if (rc == AW_ENOTFOUND)
		return aw__sq_explain_miss(c, AW_SQ_VERSION_SERIES, SERIES_VERSION_SQL, in->id, NULL,
					   if_version, "series", err);
	if (rc == AW_EEXIST)
		return aw__err_series_key_taken(err, in->key, 1);
	return rc;
}

int aw__sq_series_delete(aw_repo *r, int64_t id, int64_t if_version, ProtobufCAllocator *mem,
			 aw_download_changes *deleted, aw_err *err)
{
	int rc = aw__sq_downloads_of_series(r, id, mem, deleted, err);

	if (rc != 0)
		return rc;
	return aw__sq_delete_by_id(sq(r)->writer, AW_SQ_SERIES_DELETE,
				   "DELETE FROM anime_series WHERE id = ?1 AND (?2 = 0 OR version = ?2)",
				   id, if_version, AW_SQ_VERSION_SERIES, SERIES_VERSION_SQL, "series",
				   err);
}

/* ---- soft delete ------------------------------------------------------------------------- */

/* After a guarded UPDATE of series `id` changed nothing: whether the series
 * exists (1), and whether it is deleted. */
static int series_state(aw_sq_conn *c, int64_t id, int *exists, int *deleted, aw_err *err)
{
	sqlite3_stmt *st;
	int rc = aw__sq_stmt(c, AW_SQ_SERIES_STATE,
			     "SELECT delete_time IS NOT NULL FROM anime_series WHERE id = ?1", &st,
			     err);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	*exists = rc == SQLITE_ROW;
	*deleted = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return aw__sq_error(c->db, rc, "reading a series", err);
	return 0;
}

/* Sets `hidden` on the episodes and queue items of series `id`. */
static int hide_children(aw_sq_conn *c, int64_t id, int hidden, aw_err *err)
{
	sqlite3_stmt *st;
	int rc = aw__sq_stmt(c, AW_SQ_SERIES_HIDE_EPISODES,
			     "UPDATE episodes SET hidden = ?2 WHERE series_id = ?1", &st, err);

	if (rc == 0) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, hidden);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		rc = rc == SQLITE_DONE ? 0 : aw__sq_error(c->db, rc, "hiding episodes", err);
	}
	if (rc == 0)
		rc = aw__sq_stmt(c, AW_SQ_SERIES_HIDE_DOWNLOADS,
				 "UPDATE download_queue SET hidden = ?2 WHERE series_id = ?1", &st,
				 err);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, hidden);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		rc = rc == SQLITE_DONE ? 0 : aw__sq_error(c->db, rc, "hiding downloads", err);
	}
	return rc;
}

int aw__sq_series_soft_delete(aw_repo *r, int64_t id, int64_t if_version, int64_t now_us,
			      int64_t purge_us, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int exists, deleted, rc;

	rc = aw__sq_stmt(c, AW_SQ_SERIES_SOFT_DELETE,
			 "UPDATE anime_series SET delete_time = ?2, purge_time = ?3, updated_at = ?2, "
			 "version = version + 1 "
			 "WHERE id = ?1 AND delete_time IS NULL AND (?4 = 0 OR version = ?4)",
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now_us);
	sqlite3_bind_int64(st, 3, purge_us);
	sqlite3_bind_int64(st, 4, if_version);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return aw__sq_error(c->db, rc, "deleting a series", err);
	if (sqlite3_changes(c->db) == 1)
		return hide_children(c, id, 1, err);
	rc = series_state(c, id, &exists, &deleted, err);
	if (rc == 0 && !exists)
		rc = aw__err_not_found(err, "series", id);
	if (rc == 0 && !deleted) /* there, not deleted: its etag is stale */
		rc = aw__sq_explain_miss(c, AW_SQ_VERSION_SERIES, SERIES_VERSION_SQL, id, NULL,
					 if_version, "series", err);
	return rc; /* deleted already: nothing to do */
}

int aw__sq_series_undelete(aw_repo *r, int64_t id, int64_t now_us, ProtobufCAllocator *mem,
			   Aniworld__V1__AnimeSeries **out, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int exists, deleted, rc;

	rc = aw__sq_stmt(c, AW_SQ_SERIES_UNDELETE,
			 "UPDATE anime_series SET delete_time = NULL, purge_time = NULL, version = version + 1, "
			 "updated_at = ?2 WHERE id = ?1 AND delete_time IS NOT NULL "
			 "RETURNING " SERIES_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now_us);
	rc = step_one(c, st, "undeleting a series", mem, out, err);
	if (rc == 0) {
		rc = hide_children(c, id, 0, err);
		if (rc != 0) {
			protobuf_c_message_free_unpacked(&(*out)->base, mem);
			*out = NULL;
		}
		return rc;
	}
	if (rc != AW_ENOTFOUND)
		return rc;
	rc = series_state(c, id, &exists, &deleted, err);
	if (rc != 0)
		return rc;
	if (!exists)
		return aw_err_set(err, AW_ENOTFOUND, "series %lld not found", (long long)id);
	return aw_err_set(err, AW_EPRECOND, "series %lld is not deleted", (long long)id);
}

int aw__sq_series_expired(aw_repo *r, int64_t now_us, int64_t *ids, int max, int *n,
			  aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc, step;

	*n = 0;
	rc = aw__sq_stmt(c, AW_SQ_SERIES_EXPIRED,
			 "SELECT id FROM anime_series WHERE purge_time IS NOT NULL AND "
			 "purge_time <= ?1 ORDER BY purge_time LIMIT ?2",
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, now_us);
	sqlite3_bind_int(st, 2, max);
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (step != SQLITE_DONE)
		return aw__sq_error(c->db, step, "finding series to purge", err);
	return 0;
}
