/*
 * Episodes in PostgreSQL: the episodes table.
 *
 * The unique index on (series_id, season, episode_number) is also the order
 * of every list, so a page is one index range from the cursor on (a row
 * comparison, which the B-tree takes as a range). Writes return the stored
 * row through RETURNING.
 *
 * A failed statement aborts the transaction, so nothing can be read after it
 * to explain the failure. The writes whose refusal message needs a read
 * therefore avoid failing: create inserts with ON CONFLICT DO NOTHING (no row
 * back: the episode is taken), and update tests for a taken key in the same
 * statement and reads the key after matching nothing.
 */
#include "postgres_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/timestamp.pb-c.h"

#define EPISODE_COLUMNS                                                        \
	"id, series_id, season, episode_number, title, file_path, file_size, " \
	"is_downloaded, download_date, created_at, updated_at, version"

#define EPISODE_VERSION_SQL "SELECT version FROM episodes WHERE id = $1::int8"

static aw_pg_repo *pg(aw_repo *r)
{
	return (aw_pg_repo *)r;
}

/* Builds an Episode from a row of EPISODE_COLUMNS. */
static int episode_row(const PGresult *res, int row, const void *ctx, ProtobufCAllocator *mem,
		       ProtobufCMessage **out, aw_err *err)
{
	Aniworld__V1__Episode *e = aw__pb_new(mem, &aniworld__v1__episode__descriptor);

	(void)ctx;
	*out = NULL;
	if (e == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory reading an episode");
	e->id = aw__pg_int(res, row, 0);
	e->series_id = aw__pg_int(res, row, 1);
	e->season = (int32_t)aw__pg_int(res, row, 2);
	e->episode_number = (int32_t)aw__pg_int(res, row, 3);
	e->file_size = aw__pg_int(res, row, 6);
	e->is_downloaded = aw__pg_int(res, row, 7) != 0;
	if ((e->title = aw__pg_text(res, row, 4, mem)) == NULL ||
	    (e->file_path = aw__pg_text(res, row, 5, mem)) == NULL ||
	    (!aw__pg_isnull(res, row, 8) &&
	     (e->download_date = aw__pb_timestamp(mem, aw__pg_int(res, row, 8))) == NULL) ||
	    (e->created_at = aw__pb_timestamp(mem, aw__pg_int(res, row, 9))) == NULL ||
	    (e->updated_at = aw__pb_timestamp(mem, aw__pg_int(res, row, 10))) == NULL ||
	    (e->etag = aw__etag_new(mem, aw__pg_int(res, row, 11))) == NULL) {
		protobuf_c_message_free_unpacked(&e->base, mem);
		return aw_err_set(err, AW_ENOMEM, "out of memory reading an episode");
	}
	*out = &e->base;
	return 0;
}

int aw__pg_episodes_create(aw_repo *r, const Aniworld__V1__Episode *in, int64_t now_us,
			   ProtobufCAllocator *mem, Aniworld__V1__Episode **out, aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res;
	int rc;

	*out = NULL;
	aw__pg_p_int(&p, in->series_id);
	aw__pg_p_int(&p, in->season);
	aw__pg_p_int(&p, in->episode_number);
	aw__pg_p_text(&p, in->title);
	aw__pg_p_text(&p, in->file_path);
	aw__pg_p_int(&p, in->file_size);
	aw__pg_p_int(&p, in->is_downloaded ? 1 : 0);
	/* A downloaded episode has a download date: the one given, else now. */
	if (in->is_downloaded)
		aw__pg_p_int(&p, in->download_date != NULL ? aw__pb_timestamp_us(in->download_date)
							   : now_us);
	else
		aw__pg_p_null(&p);
	aw__pg_p_int(&p, now_us);
	rc = aw__pg_run(pg(r)->writer, AW_PG_EPISODE_INSERT,
			"INSERT INTO episodes (series_id, season, episode_number, title, file_path, "
			"file_size, is_downloaded, download_date, created_at, updated_at, hidden) "
			"VALUES ($1::int8, $2::int, $3::int, $4, $5, $6::int8, $7::int <> 0, "
			"$8::int8, $9::int8, $9::int8, COALESCE((SELECT (delete_time IS NOT NULL)::int "
			"FROM anime_series WHERE id = $1::int8), 0)) "
			"ON CONFLICT (series_id, season, episode_number) DO NOTHING "
			"RETURNING " EPISODE_COLUMNS,
			&p, "creating an episode", &res, err);
	if (rc == AW_ENOTFOUND) /* the foreign key: no such series */
		return aw__err_not_found(err, "series", in->series_id);
	if (rc != 0)
		return rc;
	if (PQntuples(res) > 0)
		rc = episode_row(res, 0, NULL, mem, (ProtobufCMessage **)out, err);
	else
		rc = AW_EEXIST; /* no row back: the conflict */
	PQclear(res);
	if (rc == AW_EEXIST)
		return aw__err_episode_taken(err, in->series_id, in->season, in->episode_number);
	return rc;
}

int aw__pg_episodes_get(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
			Aniworld__V1__Episode **out, aw_err *err)
{
	return aw__pg_get_by_id(pg(r), AW_PG_EPISODE_GET,
				"SELECT " EPISODE_COLUMNS " FROM episodes WHERE id = $1::int8", id,
				"episode", episode_row, mem, (ProtobufCMessage **)out, err);
}

/*
 * Listing. Two shapes, one series or all of them, each walking the unique index
 * from the cursor. The other filters are bound values: $5 says whether the
 * season list ($6, an integer array) applies; $7 is the wanted is_downloaded,
 * or -1 for either. Counting every episode with no filter reads the count the
 * triggers keep.
 */
#define EPISODE_FILTERS(has, list, dl)                                       \
	"($" has "::int = 0 OR season = ANY ($" list "::int[])) "          \
	"AND ($" dl "::int < 0 OR is_downloaded = ($" dl "::int = 1)) "

static const char *const page_sql[2] = {
	("SELECT " EPISODE_COLUMNS " FROM episodes "
	"WHERE (series_id, season, episode_number) > ($1::int8, $2::int8, $3::int8) "
	"AND hidden = 0 AND " EPISODE_FILTERS("5", "6", "7") "ORDER BY series_id, season, episode_number LIMIT $4::int8"),
	("SELECT " EPISODE_COLUMNS " FROM episodes "
	"WHERE series_id = $1::int8 AND (season, episode_number) > ($2::int8, $3::int8) "
	"AND hidden = 0 AND " EPISODE_FILTERS("5", "6", "7") "ORDER BY season, episode_number LIMIT $4::int8")
};

/* The counts bind the filters, after the series for one series. */
static const char *const count_sql[3] = {
	("SELECT COUNT(*) FROM episodes WHERE hidden = 0 AND " EPISODE_FILTERS("1", "2", "3")),
	("SELECT COUNT(*) FROM episodes WHERE series_id = $1::int8 AND hidden = 0 AND "
	EPISODE_FILTERS("2", "3", "4")),
	/* Kept by triggers; the episodes of deleted series left out. */
	("SELECT n - (SELECT n FROM row_counts WHERE name = 'episodes_hidden') FROM row_counts "
	"WHERE name = 'episodes'")
};

static void bind_filters(aw_pg_params *p, const Aniworld__V1__ListEpisodesRequest *f,
			 const char *seasons)
{
	int downloaded = aw__episodes_downloaded_filter(f);

	aw__pg_p_int(p, f->n_seasons > 0);
	aw__pg_p_text(p, seasons);
	aw__pg_p_int(p, downloaded);
}

static void bind_page(aw_pg_params *p, const Aniworld__V1__ListEpisodesRequest *f,
		      const char *seasons, const aw_cursor *after, int limit)
{
	/* The cursor: after the last row returned, or before every row. */
	if (f->series_id != 0)
		aw__pg_p_int(p, f->series_id);
	else
		aw__pg_p_int(p, after->valid ? after->k[0] : INT64_MIN);
	aw__pg_p_int(p, after->valid ? after->k[1] : INT64_MIN);
	aw__pg_p_int(p, after->valid ? after->k[2] : INT64_MIN);
	aw__pg_p_int(p, limit + 1);
	bind_filters(p, f, seasons);
}

int aw__pg_episodes_list(aw_repo *r, const Aniworld__V1__ListEpisodesRequest *f,
			 const aw_cursor *after, int limit, size_t max_bytes, ProtobufCAllocator *mem,
			 Aniworld__V1__ListEpisodesResponse **out, int *more, aw_err *err)
{
	int one_series = f->series_id != 0;
	int unfiltered = !one_series && f->n_seasons == 0 &&
			 f->downloaded == ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_ANY;
	int count_variant = unfiltered ? 2 : one_series;
	Aniworld__V1__ListEpisodesResponse *res = NULL;
	char *seasons = aw__episodes_seasons_text(f, '{', '}');
	aw_pg_params p = {0}, count_p = {0};
	aw_pg_conn *c;
	int rc;

	*out = NULL;
	*more = 0;
	if (seasons == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory listing episodes");
	rc = aw__pg_reader_get(pg(r), &c, err);
	if (rc != 0) {
		free(seasons);
		return rc;
	}
	res = aw__pb_new(mem, &aniworld__v1__list_episodes_response__descriptor);
	if (res == NULL ||
	    (res->episodes = aw__pb_alloc(mem, (size_t)limit * sizeof(*res->episodes))) == NULL)
		rc = aw_err_set(err, AW_ENOMEM, "out of memory listing episodes");
	if (rc == 0) {
		bind_page(&p, f, seasons, after, limit);
		if (one_series)
			aw__pg_p_int(&count_p, f->series_id);
		bind_filters(&count_p, f, seasons);
		rc = aw__pg_page(c, AW_PG_EPISODE_COUNT + count_variant, count_sql[count_variant],
				 count_variant != 2 ? &count_p : NULL, AW_PG_EPISODE_PAGE + one_series,
				 page_sql[one_series], &p, limit, max_bytes, episode_row, NULL, mem,
				 (void **)res->episodes, &res->n_episodes, &res->total_size, more,
				 "listing episodes", err);
	}
	aw__pg_reader_put(pg(r), c);
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
 * The message of an update refused because its key is taken: it names the
 * key, which is the stored season and episode number overlaid with the ones
 * in the mask. Read on the writer, in the write under way (the refusing
 * statement did not fail, so the transaction is usable). Returns AW_EEXIST,
 * or AW_ENOTFOUND when the episode does not exist.
 */
static int refused(aw_pg_conn *c, const Aniworld__V1__Episode *in, uint64_t mask, aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res;
	long long series;
	int season = in->season, number = in->episode_number;
	int rc;

	aw__pg_p_int(&p, in->id);
	rc = aw__pg_run(c, AW_PG_EPISODE_TAKEN,
			"SELECT series_id, season, episode_number FROM episodes WHERE id = $1::int8",
			&p, "updating an episode", &res, err);
	if (rc != 0)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return aw__err_not_found(err, "episode", in->id);
	}
	series = aw__pg_int(res, 0, 0);
	if (!(mask & AW_EPISODE_SEASON))
		season = (int)aw__pg_int(res, 0, 1);
	if (!(mask & AW_EPISODE_NUMBER))
		number = (int)aw__pg_int(res, 0, 2);
	PQclear(res);
	return aw__err_episode_taken(err, series, season, number);
}

int aw__pg_episodes_update(aw_repo *r, const Aniworld__V1__Episode *in, uint64_t mask, int64_t if_version,
			   int64_t now_us, ProtobufCAllocator *mem, Aniworld__V1__Episode **out,
			   aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	aw_pg_params p = {0};
	int rc;

	aw__pg_p_int(&p, in->season);
	aw__pg_p_int(&p, in->episode_number);
	aw__pg_p_text(&p, in->title);
	aw__pg_p_text(&p, in->file_path);
	aw__pg_p_int(&p, in->file_size);
	aw__pg_p_int(&p, in->is_downloaded ? 1 : 0);
	if (in->download_date != NULL)
		aw__pg_p_int(&p, aw__pb_timestamp_us(in->download_date));
	else
		aw__pg_p_null(&p);
	aw__pg_p_int(&p, now_us);
	aw__pg_p_int(&p, (int64_t)mask);
	aw__pg_p_int(&p, in->id);
	aw__pg_p_int(&p, if_version);
	/*
	 * One statement: each column keeps its value unless its mask bit ($9) is
	 * set. download_date: a date given in the mask wins; otherwise a
	 * downloaded episode keeps its date or gets now (it always has one), and
	 * an episode that is not downloaded has none once either field is in the
	 * mask. The row is updated only when no other episode of its series
	 * holds the (season, episode_number) it would get.
	 */
	rc = aw__pg_one(c, AW_PG_EPISODE_UPDATE,
			"UPDATE episodes e SET "
			"season = CASE WHEN $9::int8 & 1 <> 0 THEN $1::int ELSE e.season END, "
			"episode_number = CASE WHEN $9::int8 & 2 <> 0 THEN $2::int "
			"ELSE e.episode_number END, "
			"title = CASE WHEN $9::int8 & 4 <> 0 THEN $3 ELSE e.title END, "
			"file_path = CASE WHEN $9::int8 & 8 <> 0 THEN $4 ELSE e.file_path END, "
			"file_size = CASE WHEN $9::int8 & 16 <> 0 THEN $5::int8 ELSE e.file_size END, "
			"download_date = CASE WHEN $9::int8 & 64 <> 0 AND $7::int8 IS NOT NULL THEN $7::int8 "
			"  WHEN (CASE WHEN $9::int8 & 32 <> 0 THEN $6::int <> 0 ELSE e.is_downloaded END) "
			"    THEN coalesce(e.download_date, $8::int8) "
			"  WHEN $9::int8 & 96 <> 0 THEN NULL "
			"  ELSE e.download_date END, "
			"is_downloaded = CASE WHEN $9::int8 & 32 <> 0 THEN $6::int <> 0 "
			"ELSE e.is_downloaded END, "
			"updated_at = $8::int8, version = e.version + 1 "
			"WHERE e.id = $10::int8 AND ($11::int8 = 0 OR e.version = $11::int8) "
			"AND NOT EXISTS (SELECT 1 FROM episodes o "
			"  WHERE o.series_id = e.series_id AND o.id <> e.id "
			"  AND o.season = CASE WHEN $9::int8 & 1 <> 0 THEN $1::int ELSE e.season END "
			"  AND o.episode_number = CASE WHEN $9::int8 & 2 <> 0 THEN $2::int "
			"      ELSE e.episode_number END) "
			"RETURNING " EPISODE_COLUMNS,
			&p, "updating an episode", episode_row, NULL, mem, (ProtobufCMessage **)out,
			err);
	if (rc == AW_ENOTFOUND) {
		rc = aw__pg_explain_miss(c, AW_PG_VERSION_EPISODE, EPISODE_VERSION_SQL, in->id, NULL,
					 if_version, "episode", err);
		return rc != 0 ? rc : refused(c, in, mask, err);
	}
	if (rc == AW_EEXIST) /* taken by a transaction that committed meanwhile */
		return aw__err_episode_taken(err, in->series_id, in->season, in->episode_number);
	return rc;
}

int aw__pg_episodes_delete(aw_repo *r, int64_t id, int64_t if_version, aw_err *err)
{
	return aw__pg_delete_by_id(pg(r)->writer, AW_PG_EPISODE_DELETE,
				   "DELETE FROM episodes WHERE id = $1::int8 "
				   "AND ($2::int8 = 0 OR version = $2::int8)",
				   id, if_version, AW_PG_VERSION_EPISODE, EPISODE_VERSION_SQL, "episode",
				   err);
}

int aw__pg_episodes_mark_downloaded(aw_repo *r, const Aniworld__V1__MarkEpisodeDownloadedRequest *in, int64_t if_version,
				    int64_t now_us, ProtobufCAllocator *mem,
				    Aniworld__V1__Episode **out, aw_err *err)
{
	aw_pg_params p = {0};
	int rc;

	aw__pg_p_int(&p, now_us);
	aw__pg_p_text(&p, in->file_path);
	aw__pg_p_int(&p, in->file_size);
	aw__pg_p_int(&p, in->id);
	aw__pg_p_int(&p, if_version);
	rc = aw__pg_one(pg(r)->writer, AW_PG_EPISODE_MARK,
			"UPDATE episodes SET is_downloaded = true, download_date = $1::int8, "
			"file_path = $2, file_size = $3::int8, updated_at = $1::int8, "
			"version = version + 1 "
			"WHERE id = $4::int8 AND ($5::int8 = 0 OR version = $5::int8) "
			"RETURNING " EPISODE_COLUMNS,
			&p, "marking an episode downloaded", episode_row, NULL, mem,
			(ProtobufCMessage **)out, err);
	if (rc == AW_ENOTFOUND)
		return aw__pg_explain_miss(pg(r)->writer, AW_PG_VERSION_EPISODE, EPISODE_VERSION_SQL,
					   in->id, NULL, if_version, "episode", err);
	return rc;
}
