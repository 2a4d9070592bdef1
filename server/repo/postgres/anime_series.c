/*
 * Anime series in PostgreSQL: the anime_series table.
 *
 * Writes return the stored row through RETURNING, so a reply is always what
 * the database holds, built by the same code as a read. Messages are the
 * SQLite backend's, word for word.
 */
#include "postgres_int.h"

#include <stdlib.h>
#include <string.h>

#include "google/protobuf/timestamp.pb-c.h"

#define SERIES_COLUMNS                                                                   \
	"id, key, name, site, folder, description, status, total_episodes, cover_url, " \
	"episode_dict, created_at, updated_at, version, delete_time, purge_time"

#define SERIES_VERSION_SQL "SELECT version FROM anime_series WHERE id = $1::int8"

static aw_pg_repo *pg(aw_repo *r)
{
	return (aw_pg_repo *)r;
}

/* Builds an AnimeSeries from a row of SERIES_COLUMNS. */
static int series_row(const PGresult *res, int row, const void *ctx, ProtobufCAllocator *mem,
		      ProtobufCMessage **out, aw_err *err)
{
	Aniworld__V1__AnimeSeries *s = aw__pb_new(mem, &aniworld__v1__anime_series__descriptor);
	int rc;

	(void)ctx;
	*out = NULL;
	if (s == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a series");
	s->id = aw__pg_int(res, row, 0);
	if ((s->key = aw__pg_text(res, row, 1, mem)) == NULL ||
	    (s->name = aw__pg_text(res, row, 2, mem)) == NULL ||
	    (s->site = aw__pg_text(res, row, 3, mem)) == NULL ||
	    (s->folder = aw__pg_text(res, row, 4, mem)) == NULL ||
	    (s->description = aw__pg_text(res, row, 5, mem)) == NULL ||
	    (s->status = aw__pg_text(res, row, 6, mem)) == NULL ||
	    (s->cover_url = aw__pg_text(res, row, 8, mem)) == NULL ||
	    (s->created_at = aw__pb_timestamp(mem, aw__pg_int(res, row, 10))) == NULL ||
	    (s->updated_at = aw__pb_timestamp(mem, aw__pg_int(res, row, 11))) == NULL ||
	    (s->etag = aw__etag_new(mem, aw__pg_int(res, row, 12))) == NULL) {
		protobuf_c_message_free_unpacked(&s->base, mem);
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a series");
	}
	if ((!aw__pg_isnull(res, row, 13) &&
	     (s->delete_time = aw__pb_timestamp(mem, aw__pg_int(res, row, 13))) == NULL) ||
	    (!aw__pg_isnull(res, row, 14) &&
	     (s->purge_time = aw__pb_timestamp(mem, aw__pg_int(res, row, 14))) == NULL)) {
		protobuf_c_message_free_unpacked(&s->base, mem);
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a series");
	}
	s->total_episodes = (int32_t)aw__pg_int(res, row, 7);
	rc = aw__episode_dict_decode(PQgetvalue(res, row, 9), (size_t)PQgetlength(res, row, 9), mem,
				     s, err);
	if (rc != 0) {
		protobuf_c_message_free_unpacked(&s->base, mem);
		return rc;
	}
	*out = &s->base;
	return 0;
}

/* Binds the mutable columns of `in` at $1..$9 in table order; *json is the
 * encoded episode_dict, which the caller frees after the run. */
static int bind_fields(aw_pg_params *p, const Aniworld__V1__AnimeSeries *in, char **json,
		       aw_err *err)
{
	size_t len = 0;
	int rc = aw__episode_dict_encode(in, json, &len, err);

	if (rc != 0)
		return rc;
	aw__pg_p_text(p, in->key);
	aw__pg_p_text(p, in->name);
	aw__pg_p_text(p, in->site);
	aw__pg_p_text(p, in->folder);
	aw__pg_p_text(p, in->description);
	aw__pg_p_text(p, in->status);
	aw__pg_p_int(p, in->total_episodes);
	aw__pg_p_text(p, in->cover_url);
	aw__pg_p_text(p, *json);
	return 0;
}

int aw__pg_series_create(aw_repo *r, const Aniworld__V1__AnimeSeries *in, int64_t now_us,
			 ProtobufCAllocator *mem, Aniworld__V1__AnimeSeries **out, aw_err *err)
{
	aw_pg_params p = {0};
	char *json = NULL;
	int rc = bind_fields(&p, in, &json, err);

	if (rc != 0)
		return rc;
	aw__pg_p_int(&p, now_us);
	rc = aw__pg_one(pg(r)->writer, AW_PG_SERIES_INSERT,
			"INSERT INTO anime_series (key, name, site, folder, description, status, "
			"total_episodes, cover_url, episode_dict, created_at, updated_at) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7::int, $8, $9, $10::int8, $10::int8) "
			"RETURNING " SERIES_COLUMNS,
			&p, "creating a series", series_row, NULL, mem, (ProtobufCMessage **)out, err);
	free(json);
	if (rc == AW_EEXIST)
		return aw__err_series_key_taken(err, in->key, 0);
	return rc;
}

int aw__pg_series_get(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
		      Aniworld__V1__AnimeSeries **out, aw_err *err)
{
	return aw__pg_get_by_id(pg(r), AW_PG_SERIES_GET,
				"SELECT " SERIES_COLUMNS " FROM anime_series WHERE id = $1::int8", id,
				"series", series_row, mem, (ProtobufCMessage **)out, err);
}

int aw__pg_series_get_by_key(aw_repo *r, const char *key, ProtobufCAllocator *mem,
			     Aniworld__V1__AnimeSeries **out, aw_err *err)
{
	aw_pg_params p = {0};
	aw_pg_conn *c;
	int rc = aw__pg_reader_get(pg(r), &c, err);

	if (rc != 0)
		return rc;
	aw__pg_p_text(&p, key);
	rc = aw__pg_one(c, AW_PG_SERIES_GET_BY_KEY,
			"SELECT " SERIES_COLUMNS " FROM anime_series WHERE key = $1", &p,
			"reading a series", series_row, NULL, mem, (ProtobufCMessage **)out, err);
	aw__pg_reader_put(pg(r), c);
	if (rc == AW_ENOTFOUND)
		return aw__err_series_key_not_found(err, key);
	return rc;
}

/*
 * Listing. Four statement variants, by which filters are set, so that each can
 * use its best access path: the primary key range alone, or the (site, id)
 * index. A name filter is a substring match (LIKE with the pattern's
 * wildcards escaped and ASCII letters folded, as SQLite's LIKE folds them) and
 * filters the rows of that path. The pages bind $1 the cursor and $2 the
 * limit, then the pattern and the site as the variant uses them; the counts
 * bind only the filters.
 */
#define NAME_LIKE(n)                                                                     \
	"translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') LIKE $" n \
	" ESCAPE '\\'"

/* Variants 0..3 leave deleted series out (a test on the rows of the path);
 * 4..7 (show_deleted) do not. */
#define PAGE(where) \
	"SELECT " SERIES_COLUMNS " FROM anime_series WHERE " where " ORDER BY id LIMIT $2::int8"
#define LIVE " AND delete_time IS NULL"

static const char *const page_sql[8] = {
	(PAGE("id > $1::int8" LIVE)),
	(PAGE("id > $1::int8 AND " NAME_LIKE("3") LIVE)),
	(PAGE("site = $3 AND id > $1::int8" LIVE)),
	(PAGE("site = $4 AND id > $1::int8 AND " NAME_LIKE("3") LIVE)),
	(PAGE("id > $1::int8")),
	(PAGE("id > $1::int8 AND " NAME_LIKE("3"))),
	(PAGE("site = $3 AND id > $1::int8")),
	(PAGE("site = $4 AND id > $1::int8 AND " NAME_LIKE("3")))
};

static const char *const count_sql[8] = {
	/* Kept by triggers: every series less the deleted ones. */
	("SELECT n - (SELECT n FROM row_counts WHERE name = 'anime_series_deleted') "
	"FROM row_counts WHERE name = 'anime_series'"),
	("SELECT COUNT(*) FROM anime_series WHERE " NAME_LIKE("1") LIVE),
	("SELECT COUNT(*) FROM anime_series WHERE site = $1" LIVE),
	("SELECT COUNT(*) FROM anime_series WHERE site = $2 AND " NAME_LIKE("1") LIVE),
	("SELECT n FROM row_counts WHERE name = 'anime_series'"),
	("SELECT COUNT(*) FROM anime_series WHERE " NAME_LIKE("1")),
	("SELECT COUNT(*) FROM anime_series WHERE site = $1"),
	("SELECT COUNT(*) FROM anime_series WHERE site = $2 AND " NAME_LIKE("1"))
};

/* Binds the filters of `variant` in the order its statements number them:
 * the pattern, then the site. */
static void bind_filters(aw_pg_params *p, int variant, const char *pattern,
			 const Aniworld__V1__ListSeriesRequest *f)
{
	if (variant & 1)
		aw__pg_p_text(p, pattern);
	if (variant & 2)
		aw__pg_p_text(p, f->site);
}

int aw__pg_series_list(aw_repo *r, const Aniworld__V1__ListSeriesRequest *f,
		       const aw_cursor *after, int limit, size_t max_bytes, ProtobufCAllocator *mem,
		       Aniworld__V1__ListSeriesResponse **out, int *more, aw_err *err)
{
	int variant = (f->name_contains[0] != '\0' ? 1 : 0) | (f->site[0] != '\0' ? 2 : 0) |
		      (f->show_deleted ? 4 : 0);
	Aniworld__V1__ListSeriesResponse *res = NULL;
	aw_pg_params count_p = {0}, page_p = {0};
	char *pattern = NULL;
	aw_pg_conn *c;
	int rc;

	*out = NULL;
	*more = 0;
	if (variant & 1) {
		pattern = aw__series_like_pattern(f->name_contains);
		if (pattern == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory listing series");
	}
	rc = aw__pg_reader_get(pg(r), &c, err);
	if (rc != 0) {
		free(pattern);
		return rc;
	}
	res = aw__pb_new(mem, &aniworld__v1__list_series_response__descriptor);
	if (res == NULL ||
	    (res->series = aw__pb_alloc(mem, (size_t)limit * sizeof(*res->series))) == NULL)
		rc = aw_err_set(err, AW_ENOMEM, "out of memory listing series");
	if (rc == 0) {
		bind_filters(&count_p, variant, pattern, f);
		aw__pg_p_int(&page_p, after->valid ? after->k[0] : 0);
		aw__pg_p_int(&page_p, limit + 1);
		bind_filters(&page_p, variant, pattern, f);
		rc = aw__pg_page(c, AW_PG_SERIES_COUNT + variant, count_sql[variant],
				 (variant & 3) != 0 ? &count_p : NULL, AW_PG_SERIES_PAGE + variant,
				 page_sql[variant], &page_p, limit, max_bytes, series_row, NULL, mem,
				 (void **)res->series, &res->n_series, &res->total_size, more,
				 "listing series", err);
	}
	aw__pg_reader_put(pg(r), c);
	free(pattern);
	if (rc != 0) {
		if (res != NULL)
			protobuf_c_message_free_unpacked(&res->base, mem);
		return rc;
	}
	*out = res;
	return 0;
}

int aw__pg_series_update(aw_repo *r, const Aniworld__V1__AnimeSeries *in, uint64_t mask, int64_t if_version,
			 int64_t now_us, ProtobufCAllocator *mem, Aniworld__V1__AnimeSeries **out,
			 aw_err *err)
{
	aw_pg_params p = {0};
	char *json = NULL;
	int rc = bind_fields(&p, in, &json, err);

	if (rc != 0)
		return rc;
	aw__pg_p_int(&p, now_us);
	aw__pg_p_int(&p, (int64_t)mask);
	aw__pg_p_int(&p, in->id);
	aw__pg_p_int(&p, if_version);
	/* One statement: each column keeps its value unless its mask bit ($11) is set. */
	rc = aw__pg_one(pg(r)->writer, AW_PG_SERIES_UPDATE,
			"UPDATE anime_series SET "
			"key = CASE WHEN $11::int8 & 1 <> 0 THEN $1 ELSE key END, "
			"name = CASE WHEN $11::int8 & 2 <> 0 THEN $2 ELSE name END, "
			"site = CASE WHEN $11::int8 & 4 <> 0 THEN $3 ELSE site END, "
			"folder = CASE WHEN $11::int8 & 8 <> 0 THEN $4 ELSE folder END, "
			"description = CASE WHEN $11::int8 & 16 <> 0 THEN $5 ELSE description END, "
			"status = CASE WHEN $11::int8 & 32 <> 0 THEN $6 ELSE status END, "
			"total_episodes = CASE WHEN $11::int8 & 64 <> 0 THEN $7::int "
			"ELSE total_episodes END, "
			"cover_url = CASE WHEN $11::int8 & 128 <> 0 THEN $8 ELSE cover_url END, "
			"episode_dict = CASE WHEN $11::int8 & 256 <> 0 THEN $9 ELSE episode_dict END, "
			"updated_at = $10::int8, version = version + 1 "
			"WHERE id = $12::int8 AND ($13::int8 = 0 OR version = $13::int8) "
			"RETURNING " SERIES_COLUMNS,
			&p, "updating a series", series_row, NULL, mem, (ProtobufCMessage **)out, err);
	free(json);
	if (rc == AW_ENOTFOUND)
		return aw__pg_explain_miss(pg(r)->writer, AW_PG_VERSION_SERIES, SERIES_VERSION_SQL,
					   in->id, NULL, if_version, "series", err);
	if (rc == AW_EEXIST)
		return aw__err_series_key_taken(err, in->key, 1);
	return rc;
}

int aw__pg_series_delete(aw_repo *r, int64_t id, int64_t if_version, ProtobufCAllocator *mem,
			 aw_download_changes *deleted, aw_err *err)
{
	int rc = aw__pg_downloads_of_series(r, id, mem, deleted, err);

	if (rc != 0)
		return rc;
	return aw__pg_delete_by_id(pg(r)->writer, AW_PG_SERIES_DELETE,
				   "DELETE FROM anime_series WHERE id = $1::int8 "
				   "AND ($2::int8 = 0 OR version = $2::int8)",
				   id, if_version, AW_PG_VERSION_SERIES, SERIES_VERSION_SQL, "series",
				   err);
}

/* ---- soft delete ------------------------------------------------------------------------- */

/* After a guarded UPDATE of series `id` changed nothing: whether the series
 * exists, and whether it is deleted. */
static int series_state(aw_pg_conn *c, int64_t id, int *exists, int *deleted, aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res;
	int rc;

	aw__pg_p_int(&p, id);
	rc = aw__pg_run(c, AW_PG_SERIES_STATE,
			"SELECT (delete_time IS NOT NULL)::int FROM anime_series WHERE id = $1::int8",
			&p, "reading a series", &res, err);
	if (rc != 0)
		return rc;
	*exists = PQntuples(res) > 0;
	*deleted = *exists && aw__pg_int(res, 0, 0) != 0;
	PQclear(res);
	return 0;
}

/* Sets `hidden` on the episodes and queue items of series `id`. */
static int hide_children(aw_pg_conn *c, int64_t id, int hidden, aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res = NULL;
	int rc;

	aw__pg_p_int(&p, id);
	aw__pg_p_int(&p, hidden);
	rc = aw__pg_run(c, AW_PG_SERIES_HIDE_EPISODES,
			"UPDATE episodes SET hidden = $2::int WHERE series_id = $1::int8", &p,
			"hiding episodes", &res, err);
	if (res != NULL)
		PQclear(res);
	res = NULL;
	if (rc == 0)
		rc = aw__pg_run(c, AW_PG_SERIES_HIDE_DOWNLOADS,
				"UPDATE download_queue SET hidden = $2::int WHERE series_id = $1::int8",
				&p, "hiding downloads", &res, err);
	if (res != NULL)
		PQclear(res);
	return rc;
}

int aw__pg_series_soft_delete(aw_repo *r, int64_t id, int64_t if_version, int64_t now_us,
			      int64_t purge_us, aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	aw_pg_params p = {0};
	PGresult *res;
	int exists, deleted, rows, rc;

	aw__pg_p_int(&p, id);
	aw__pg_p_int(&p, now_us);
	aw__pg_p_int(&p, purge_us);
	aw__pg_p_int(&p, if_version);
	rc = aw__pg_run(c, AW_PG_SERIES_SOFT_DELETE,
			"UPDATE anime_series SET delete_time = $2::int8, purge_time = $3::int8, "
			"version = version + 1, "
			"updated_at = $2::int8 WHERE id = $1::int8 AND delete_time IS NULL "
			"AND ($4::int8 = 0 OR version = $4::int8) RETURNING id",
			&p, "deleting a series", &res, err);
	if (rc != 0)
		return rc;
	rows = PQntuples(res);
	PQclear(res);
	if (rows == 1)
		return hide_children(c, id, 1, err);
	rc = series_state(c, id, &exists, &deleted, err);
	if (rc == 0 && !exists)
		rc = aw__err_not_found(err, "series", id);
	if (rc == 0 && !deleted) /* there, not deleted: its etag is stale */
		rc = aw__pg_explain_miss(c, AW_PG_VERSION_SERIES, SERIES_VERSION_SQL, id, NULL,
					 if_version, "series", err);
	return rc; /* deleted already: nothing to do */
}

int aw__pg_series_undelete(aw_repo *r, int64_t id, int64_t now_us, ProtobufCAllocator *mem,
			   Aniworld__V1__AnimeSeries **out, aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	aw_pg_params p = {0};
	int exists, deleted, rc;

	aw__pg_p_int(&p, id);
	aw__pg_p_int(&p, now_us);
	rc = aw__pg_one(c, AW_PG_SERIES_UNDELETE,
			"UPDATE anime_series SET delete_time = NULL, purge_time = NULL, version = version + 1, "
			"updated_at = $2::int8 WHERE id = $1::int8 AND delete_time IS NOT NULL "
			"RETURNING " SERIES_COLUMNS,
			&p, "undeleting a series", series_row, NULL, mem, (ProtobufCMessage **)out,
			err);
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

int aw__pg_series_expired(aw_repo *r, int64_t now_us, int64_t *ids, int max, int *n,
			  aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res;
	int rc;

	*n = 0;
	aw__pg_p_int(&p, now_us);
	aw__pg_p_int(&p, max);
	rc = aw__pg_run(pg(r)->writer, AW_PG_SERIES_EXPIRED,
			"SELECT id FROM anime_series WHERE purge_time IS NOT NULL AND "
			"purge_time <= $1::int8 ORDER BY purge_time LIMIT $2::int8",
			&p, "finding series to purge", &res, err);
	if (rc != 0)
		return rc;
	for (int i = 0; i < PQntuples(res) && i < max; i++)
		ids[(*n)++] = aw__pg_int(res, i, 0);
	PQclear(res);
	return 0;
}
