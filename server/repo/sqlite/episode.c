/*
 * Episodes in SQLite: the episodes table.
 *
 * The unique index on (series_id, season, episode_number) is also the order
 * of every list, so a page is one index range from the cursor on. Writes
 * return the stored row through RETURNING.
 */
#include "sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/timestamp.pb-c.h"

#define EPISODE_COLUMNS                                                              \
	"id, series_id, season, episode_number, title, file_path, file_size, "       \
	"is_downloaded, download_date, created_at, updated_at, version"

#define EPISODE_VERSION_SQL "SELECT version FROM episodes WHERE id = ?1"

/* Slot AW_SQ_EPISODE_GET, prepared on a reader or the writer's connection. */
#define EPISODE_GET_SQL "SELECT " EPISODE_COLUMNS " FROM episodes WHERE id = ?1"

static aw_sq_repo *sq(aw_repo *r)
{
	return (aw_sq_repo *)r;
}

/* Builds an Episode from a row of EPISODE_COLUMNS (starting at column 0). */
static int episode_row(sqlite3_stmt *st, const void *ctx, ProtobufCAllocator *mem,
		       ProtobufCMessage **out, aw_err *err)
{
	Aniworld__V1__Episode *e = aw__pb_new(mem, &aniworld__v1__episode__descriptor);

	(void)ctx;
	*out = NULL;
	if (e == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory reading an episode");
	e->id = sqlite3_column_int64(st, 0);
	e->series_id = sqlite3_column_int64(st, 1);
	e->season = sqlite3_column_int(st, 2);
	e->episode_number = sqlite3_column_int(st, 3);
	e->file_size = sqlite3_column_int64(st, 6);
	e->is_downloaded = sqlite3_column_int(st, 7) != 0;
	if ((e->title = aw__sq_col_text(st, 4, mem)) == NULL ||
	    (e->file_path = aw__sq_col_text(st, 5, mem)) == NULL ||
	    (sqlite3_column_type(st, 8) != SQLITE_NULL &&
	     (e->download_date = aw__pb_timestamp(mem, sqlite3_column_int64(st, 8))) == NULL) ||
	    (e->created_at = aw__pb_timestamp(mem, sqlite3_column_int64(st, 9))) == NULL ||
	    (e->updated_at = aw__pb_timestamp(mem, sqlite3_column_int64(st, 10))) == NULL ||
	    (e->etag = aw__etag_new(mem, sqlite3_column_int64(st, 11))) == NULL) {
		protobuf_c_message_free_unpacked(&e->base, mem);
		return aw_err_set(err, AW_ENOMEM, "out of memory reading an episode");
	}
	*out = &e->base;
	return 0;
}

/* Steps a statement expected to return at most one episode. */
static int step_one(aw_sq_conn *c, sqlite3_stmt *st, const char *what, ProtobufCAllocator *mem,
		    Aniworld__V1__Episode **out, aw_err *err)
{
	return aw__sq_step_one(c, st, what, episode_row, NULL, mem, (ProtobufCMessage **)out, err);
}

int aw__sq_episodes_create(aw_repo *r, const Aniworld__V1__Episode *in, int64_t now_us,
			   ProtobufCAllocator *mem, Aniworld__V1__Episode **out, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_EPISODE_INSERT,
			 "INSERT INTO episodes (series_id, season, episode_number, title, file_path, "
			 "file_size, is_downloaded, download_date, created_at, updated_at, hidden) "
			 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, "
			 "COALESCE((SELECT delete_time IS NOT NULL FROM anime_series WHERE id = ?1), 0)) "
			 "RETURNING " EPISODE_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, in->series_id);
	sqlite3_bind_int(st, 2, in->season);
	sqlite3_bind_int(st, 3, in->episode_number);
	aw__sq_bind_text(st, 4, in->title);
	aw__sq_bind_text(st, 5, in->file_path);
	sqlite3_bind_int64(st, 6, in->file_size);
	sqlite3_bind_int(st, 7, in->is_downloaded ? 1 : 0);
	/* A downloaded episode has a download date: the one given, else now. */
	if (in->is_downloaded)
		sqlite3_bind_int64(st, 8, in->download_date != NULL
						  ? aw__pb_timestamp_us(in->download_date)
						  : now_us);
	sqlite3_bind_int64(st, 9, now_us);
	rc = step_one(c, st, "creating an episode", mem, out, err);
	if (rc == AW_ENOTFOUND) /* the foreign key: no such series */
		return aw__err_not_found(err, "series", in->series_id);
	if (rc == AW_EEXIST)
		return aw__err_episode_taken(err, in->series_id, in->season, in->episode_number);
	return rc;
}

int aw__sq_episodes_get(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
			Aniworld__V1__Episode **out, aw_err *err)
{
	return aw__sq_get_by_id(sq(r), AW_SQ_EPISODE_GET, EPISODE_GET_SQL, id, "episode",
				episode_row, mem, (ProtobufCMessage **)out, err);
}

/*
 * Listing. Two shapes, one series or all of them, each walking the unique index
 * from the cursor (a row-value range). The other filters are bound values:
 * ?5 says whether the season list (?6, a JSON array built here from integers)
 * applies; ?7 is the wanted is_downloaded, or -1 for either. Counting one
 * series uses the same index; counting every episode with no filter reads the
 * count the triggers keep.
 */
static const char *const page_sql[2] = {
	("SELECT " EPISODE_COLUMNS " FROM episodes "
	"WHERE (series_id, season, episode_number) > (?1, ?2, ?3) AND hidden = 0 "
	"AND (?5 = 0 OR season IN (SELECT value FROM json_each(?6))) "
	"AND (?7 < 0 OR is_downloaded = ?7) "
	"ORDER BY series_id, season, episode_number LIMIT ?4"),
	("SELECT " EPISODE_COLUMNS " FROM episodes "
	"WHERE series_id = ?1 AND (season, episode_number) > (?2, ?3) AND hidden = 0 "
	"AND (?5 = 0 OR season IN (SELECT value FROM json_each(?6))) "
	"AND (?7 < 0 OR is_downloaded = ?7) "
	"ORDER BY season, episode_number LIMIT ?4")
};

static const char *const count_sql[3] = {
	("SELECT COUNT(*) FROM episodes WHERE hidden = 0 AND "
	"(?5 = 0 OR season IN (SELECT value FROM json_each(?6))) "
	"AND (?7 < 0 OR is_downloaded = ?7)"),
	("SELECT COUNT(*) FROM episodes WHERE series_id = ?1 AND hidden = 0 "
	"AND (?5 = 0 OR season IN (SELECT value FROM json_each(?6))) "
	"AND (?7 < 0 OR is_downloaded = ?7)"),
	/* Kept by triggers; the episodes of deleted series left out. */
	("SELECT n - (SELECT n FROM row_counts WHERE name = 'episodes_hidden') FROM row_counts "
	"WHERE name = 'episodes'")
};

static void bind_filters(sqlite3_stmt *st, const Aniworld__V1__ListEpisodesRequest *f,
			 const char *seasons)
{
	int downloaded = aw__episodes_downloaded_filter(f);

	sqlite3_bind_int64(st, 1, f->series_id);
	sqlite3_bind_int(st, 5, f->n_seasons > 0);
	sqlite3_bind_text(st, 6, seasons, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, downloaded);
}

int aw__sq_episodes_list(aw_repo *r, const Aniworld__V1__ListEpisodesRequest *f,
			 const aw_cursor *after, int limit, size_t max_bytes, ProtobufCAllocator *mem,
			 Aniworld__V1__ListEpisodesResponse **out, int *more, aw_err *err)
{
	int one_series = f->series_id != 0;
	int unfiltered = !one_series && f->n_seasons == 0 &&
			 f->downloaded == ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_ANY;
	int count_variant = unfiltered ? 2 : one_series;
	Aniworld__V1__ListEpisodesResponse *res = NULL;
	sqlite3_stmt *count_st = NULL, *page_st = NULL;
	char *seasons = aw__episodes_seasons_text(f, '[', ']');
	aw_sq_conn *c;
	int rc;

	*out = NULL;
	*more = 0;
	if (seasons == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory listing episodes");
	rc = aw__sq_reader_get(sq(r), &c, err);
	if (rc != 0) {
		free(seasons);
		return rc;
	}
	res = aw__pb_new(mem, &aniworld__v1__list_episodes_response__descriptor);
	if (res == NULL ||
	    (res->episodes = aw__pb_alloc(mem, (size_t)limit * sizeof(*res->episodes))) == NULL)
		rc = aw_err_set(err, AW_ENOMEM, "out of memory listing episodes");
	if (rc == 0)
		rc = aw__sq_stmt(c, AW_SQ_EPISODE_COUNT + count_variant, count_sql[count_variant],
				 &count_st, err);
	if (rc == 0)
		rc = aw__sq_stmt(c, AW_SQ_EPISODE_PAGE + one_series, page_sql[one_series], &page_st, err);
	if (rc == 0) {
		if (count_variant != 2)
			bind_filters(count_st, f, seasons);
		bind_filters(page_st, f, seasons);
		/* The cursor: after the last row returned, or before every row. */
		if (!one_series)
			sqlite3_bind_int64(page_st, 1, after->valid ? after->k[0] : INT64_MIN);
		sqlite3_bind_int64(page_st, 2, after->valid ? after->k[1] : INT64_MIN);
		sqlite3_bind_int64(page_st, 3, after->valid ? after->k[2] : INT64_MIN);
		sqlite3_bind_int(page_st, 4, limit + 1);
		rc = aw__sq_page(c, count_st, page_st, limit, max_bytes, episode_row, NULL, mem,
				 (void **)res->episodes, &res->n_episodes, &res->total_size, more,
				 "listing episodes", err);
	}
	aw__sq_reader_put(sq(r), c);
	free(seasons);
	if (rc != 0) {
		if (res != NULL)
			protobuf_c_message_free_unpacked(&res->base, mem);
		return rc;
	}
	*out = res;
	return 0;
}

/*
 * The message of an update refused by the unique index: it names the key that
 * is taken, which is the stored season and episode number overlaid with the
 * ones in the mask (a mask naming only episode_number leaves in->season at
 * whatever the caller sent). Reads the row on the writer's connection, in the
 * write under way; returns AW_EEXIST.
 */
static int taken_message(aw_sq_conn *c, const Aniworld__V1__Episode *in, uint64_t mask,
			 aw_err *err)
{
	long long series = 0;
	int season = in->season, number = in->episode_number;
	sqlite3_stmt *st;

	if (aw__sq_stmt(c, AW_SQ_EPISODE_GET, EPISODE_GET_SQL, &st, err) == 0) {
		sqlite3_bind_int64(st, 1, in->id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			series = sqlite3_column_int64(st, 1);
			if (!(mask & AW_EPISODE_SEASON))
				season = sqlite3_column_int(st, 2);
			if (!(mask & AW_EPISODE_NUMBER))
				number = sqlite3_column_int(st, 3);
		}
		aw__sq_finish(st);
	}
	return aw__err_episode_taken(err, series, season, number);
}

int aw__sq_episodes_update(aw_repo *r, const Aniworld__V1__Episode *in, uint64_t mask, int64_t if_version,
			   int64_t now_us, ProtobufCAllocator *mem, Aniworld__V1__Episode **out,
			   aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	/* One statement: each column keeps its value unless its mask bit (?9) is
	 * set. download_date: a date given in the mask wins; otherwise a downloaded
	 * episode keeps its date or gets now (it always has one), and an episode
	 * that is not downloaded has none once either field is in the mask. */
	rc = aw__sq_stmt(c, AW_SQ_EPISODE_UPDATE,
			 "UPDATE episodes SET "
			 "season = CASE WHEN ?9 & 1 THEN ?1 ELSE season END, "
			 "episode_number = CASE WHEN ?9 & 2 THEN ?2 ELSE episode_number END, "
			 "title = CASE WHEN ?9 & 4 THEN ?3 ELSE title END, "
			 "file_path = CASE WHEN ?9 & 8 THEN ?4 ELSE file_path END, "
			 "file_size = CASE WHEN ?9 & 16 THEN ?5 ELSE file_size END, "
			 "download_date = CASE WHEN ?9 & 64 AND ?7 IS NOT NULL THEN ?7 "
			 "  WHEN (CASE WHEN ?9 & 32 THEN ?6 ELSE is_downloaded END) "
			 "    THEN coalesce(download_date, ?8) "
			 "  WHEN ?9 & 96 THEN NULL "
			 "  ELSE download_date END, "
			 "is_downloaded = CASE WHEN ?9 & 32 THEN ?6 ELSE is_downloaded END, "
			 "updated_at = ?8, version = version + 1 "
			 "WHERE id = ?10 AND (?11 = 0 OR version = ?11) RETURNING " EPISODE_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int(st, 1, in->season);
	sqlite3_bind_int(st, 2, in->episode_number);
	aw__sq_bind_text(st, 3, in->title);
	aw__sq_bind_text(st, 4, in->file_path);
	sqlite3_bind_int64(st, 5, in->file_size);
	sqlite3_bind_int(st, 6, in->is_downloaded ? 1 : 0);
	if (in->download_date != NULL)
		sqlite3_bind_int64(st, 7, aw__pb_timestamp_us(in->download_date));
	sqlite3_bind_int64(st, 8, now_us);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)mask);
	sqlite3_bind_int64(st, 10, in->id);
	sqlite3_bind_int64(st, 11, if_version);
	rc = step_one(c, st, "updating an episode", mem, out, err);
	if (rc == AW_ENOTFOUND)
		return aw__sq_explain_miss(c, AW_SQ_VERSION_EPISODE, EPISODE_VERSION_SQL, in->id, NULL,
					   if_version, "episode", err);
	if (rc == AW_EEXIST)
		return taken_message(c, in, mask, err);
	return rc;
}

int aw__sq_episodes_delete(aw_repo *r, int64_t id, int64_t if_version, aw_err *err)
{
	return aw__sq_delete_by_id(sq(r)->writer, AW_SQ_EPISODE_DELETE,
				   "DELETE FROM episodes WHERE id = ?1 AND (?2 = 0 OR version = ?2)", id,
				   if_version, AW_SQ_VERSION_EPISODE, EPISODE_VERSION_SQL, "episode", err);
}

int aw__sq_episodes_mark_downloaded(aw_repo *r, const Aniworld__V1__MarkEpisodeDownloadedRequest *in, int64_t if_version,
				    int64_t now_us, ProtobufCAllocator *mem,
				    Aniworld__V1__Episode **out, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_EPISODE_MARK,
			 "UPDATE episodes SET is_downloaded = 1, download_date = ?1, file_path = ?2, "
			 "file_size = ?3, updated_at = ?1, version = version + 1 "
			 "WHERE id = ?4 AND (?5 = 0 OR version = ?5) RETURNING " EPISODE_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, now_us);
	aw__sq_bind_text(st, 2, in->file_path);
	sqlite3_bind_int64(st, 3, in->file_size);
	sqlite3_bind_int64(st, 4, in->id);
	sqlite3_bind_int64(st, 5, if_version);
	rc = step_one(c, st, "marking an episode downloaded", mem, out, err);
	if (rc == AW_ENOTFOUND)
		return aw__sq_explain_miss(c, AW_SQ_VERSION_EPISODE, EPISODE_VERSION_SQL, in->id, NULL,
					   if_version, "episode", err);
	return rc;
}
