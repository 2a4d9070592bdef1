/*
 * The download queue in PostgreSQL: the download_queue table.
 *
 * Writes return the stored row through RETURNING, so a reply is what the
 * database holds. A status change is one UPDATE whose WHERE clause holds the
 * statuses it may start from (a bound set, see download_queue.c in the
 * repository); when it changes no row, the current status is read in the same
 * transaction to say why (missing, or which status refused). Statuses are
 * bound as parameters, never written into the SQL; the schema's partial
 * unique index on unfinished items, and the ON CONFLICT clause that names it,
 * are the one exception.
 *
 * Queue order is priority (stored as the proto number, HIGH = 3) descending,
 * then queue_position, then id: the order of download_queue_order within one
 * status, of download_queue_provider and download_queue_language within one
 * status and provider or language, and of download_queue_series within one
 * series. Claims take the
 * first PENDING item with FOR UPDATE SKIP LOCKED, so that replicas claiming
 * at once never take the same item and never wait for each other.
 */
#include "postgres_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/timestamp.pb-c.h"

#define DL_COLUMNS                                                                       \
	"id, series_id, season, episode_number, status, priority, progress_percent, "   \
	"downloaded_bytes, total_bytes, download_speed, error_message, retry_count, "   \
	"download_url, file_destination, started_at, completed_at, created_at, updated_at, " \
	"provider, language, queue_position, version"

#define DL_VERSION_SQL "SELECT version FROM download_queue WHERE id = $1::int8"

#define EV_UPDATED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_UPDATED
#define EV_DELETED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_DELETED

static aw_pg_repo *pg(aw_repo *r)
{
	return (aw_pg_repo *)r;
}

/* A Timestamp for a nullable column: NULL stays unset. */
static int optional_time(const PGresult *res, int row, int col, ProtobufCAllocator *mem,
			 Google__Protobuf__Timestamp **out)
{
	*out = NULL;
	if (aw__pg_isnull(res, row, col))
		return 0;
	*out = aw__pb_timestamp(mem, aw__pg_int(res, row, col));
	return *out != NULL ? 0 : -1;
}

/* Builds a DownloadQueueItem from a row of DL_COLUMNS. */
static int item_from_row(const PGresult *res, int row, ProtobufCAllocator *mem,
			 Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	Aniworld__V1__DownloadQueueItem *d =
		aw__pb_new(mem, &aniworld__v1__download_queue_item__descriptor);

	*out = NULL;
	if (d == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a download");
	d->id = aw__pg_int(res, row, 0);
	d->series_id = aw__pg_int(res, row, 1);
	d->season = (int32_t)aw__pg_int(res, row, 2);
	d->episode_number = (int32_t)aw__pg_int(res, row, 3);
	d->status = (Aniworld__V1__DownloadStatus)aw__pg_int(res, row, 4);
	d->priority = (Aniworld__V1__DownloadPriority)aw__pg_int(res, row, 5);
	d->progress_percent = aw__pg_double(res, row, 6);
	d->downloaded_bytes = aw__pg_int(res, row, 7);
	d->total_bytes = aw__pg_int(res, row, 8);
	d->download_speed = aw__pg_double(res, row, 9);
	d->retry_count = (int32_t)aw__pg_int(res, row, 11);
	d->queue_position = aw__pg_int(res, row, 20);
	if ((d->provider = aw__pg_text(res, row, 18, mem)) == NULL ||
	    (d->language = aw__pg_text(res, row, 19, mem)) == NULL ||
	    (d->error_message = aw__pg_text(res, row, 10, mem)) == NULL ||
	    (d->download_url = aw__pg_text(res, row, 12, mem)) == NULL ||
	    (d->file_destination = aw__pg_text(res, row, 13, mem)) == NULL ||
	    optional_time(res, row, 14, mem, &d->started_at) != 0 ||
	    optional_time(res, row, 15, mem, &d->completed_at) != 0 ||
	    (d->created_at = aw__pb_timestamp(mem, aw__pg_int(res, row, 16))) == NULL ||
	    (d->updated_at = aw__pb_timestamp(mem, aw__pg_int(res, row, 17))) == NULL ||
	    (d->etag = aw__etag_new(mem, aw__pg_int(res, row, 21))) == NULL) {
		protobuf_c_message_free_unpacked(&d->base, mem);
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a download");
	}
	*out = d;
	return 0;
}

static int item_row(const PGresult *res, int row, const void *ctx, ProtobufCAllocator *mem,
		    ProtobufCMessage **out, aw_err *err)
{
	(void)ctx;
	return item_from_row(res, row, mem, (Aniworld__V1__DownloadQueueItem **)out, err);
}

/* Runs a statement expected to return at most one item; AW_ENOTFOUND (message
 * unset) when it returns none. */
static int run_one(aw_pg_conn *c, int slot, const char *sql, const aw_pg_params *p,
		   const char *what, ProtobufCAllocator *mem, Aniworld__V1__DownloadQueueItem **out,
		   aw_err *err)
{
	return aw__pg_one(c, slot, sql, p, what, item_row, NULL, mem, (ProtobufCMessage **)out, err);
}

/* Runs a statement that returns any number of items, recording each in
 * `changes` as an event of `type`, in the order of the rows. */
static int run_all(aw_pg_conn *c, int slot, const char *sql, const aw_pg_params *p,
		   const char *what, ProtobufCAllocator *mem, aw_download_changes *changes,
		   Aniworld__V1__DownloadEventType type, aw_err *err)
{
	Aniworld__V1__DownloadQueueItem *d;
	PGresult *res;
	int rc = aw__pg_run(c, slot, sql, p, what, &res, err);

	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		rc = item_from_row(res, i, mem, &d, err);
		if (rc == 0)
			rc = aw__download_changes_add(changes, mem, d, type, err);
	}
	if (res != NULL)
		PQclear(res);
	return rc;
}

static int normal_priority(int priority)
{
	return priority == 0 ? AW_DL_PRIORITY_NORMAL : priority;
}

/* ---- enqueue, get, update, delete ------------------------------------------------------ */

/* Says which unfinished item holds the episode of `in`: the AW_EEXIST message. */
static int conflict(aw_pg_conn *c, const Aniworld__V1__DownloadQueueItem *in, aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res;
	int64_t id = 0;
	int status = 0;

	aw__pg_p_int(&p, in->series_id);
	aw__pg_p_int(&p, in->season);
	aw__pg_p_int(&p, in->episode_number);
	aw__pg_p_int(&p, AW_DL_UNFINISHED);
	if (aw__pg_run(c, AW_PG_DL_FIND_UNFINISHED,
		       "SELECT id, status FROM download_queue WHERE series_id = $1::int8 AND "
		       "season = $2::int AND episode_number = $3::int AND "
		       "(($4::int8 >> status) & 1) = 1",
		       &p, "queueing a download", &res, err) == 0) {
		if (PQntuples(res) > 0) {
			id = aw__pg_int(res, 0, 0);
			status = (int)aw__pg_int(res, 0, 1);
		}
		PQclear(res);
	}
	return aw__err_download_open(err, in, id, status);
}

/* The ON CONFLICT clause names the partial unique index by its predicate. */
_Static_assert(AW_DL_PENDING == 1 && AW_DL_DOWNLOADING == 2 && AW_DL_PAUSED == 3,
	       "the unfinished index's predicate names PENDING, DOWNLOADING and PAUSED by value");

int aw__pg_downloads_enqueue(aw_repo *r, const Aniworld__V1__DownloadQueueItem *in, int64_t now_us,
			     ProtobufCAllocator *mem, Aniworld__V1__DownloadQueueItem **out,
			     aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	aw_pg_params p = {0};
	PGresult *res;
	int rc;

	*out = NULL;
	aw__pg_p_int(&p, in->series_id);
	aw__pg_p_int(&p, in->season);
	aw__pg_p_int(&p, in->episode_number);
	aw__pg_p_int(&p, normal_priority(in->priority));
	aw__pg_p_text(&p, in->download_url);
	aw__pg_p_text(&p, in->file_destination);
	aw__pg_p_int(&p, now_us);
	aw__pg_p_int(&p, AW_DL_PENDING);
	aw__pg_p_text(&p, in->provider);
	aw__pg_p_text(&p, in->language);
	/* A conflict returns no row instead of failing, so that the transaction
	 * stays usable for the read that names the item in the way. */
	rc = aw__pg_run(c, AW_PG_DL_INSERT,
			"INSERT INTO download_queue (series_id, season, episode_number, status, "
			"priority, download_url, file_destination, created_at, updated_at, "
			"provider, language, queue_position, hidden) "
			"VALUES ($1::int8, $2::int, $3::int, $8::int, $4::int, $5, $6, $7::int8, "
			"$7::int8, $9, $10, $7::int8, COALESCE((SELECT (delete_time IS NOT NULL)::int "
			"FROM anime_series WHERE id = $1::int8), 0)) ON CONFLICT (series_id, season, episode_number) "
			"WHERE status IN (1, 2, 3) DO NOTHING RETURNING " DL_COLUMNS,
			&p, "queueing a download", &res, err);
	if (rc == AW_ENOTFOUND) /* the foreign key */
		return aw__err_not_found(err, "series", in->series_id);
	if (rc != 0)
		return rc;
	if (PQntuples(res) > 0)
		rc = item_from_row(res, 0, mem, out, err);
	else
		rc = AW_EEXIST;
	PQclear(res);
	if (rc == AW_EEXIST)
		return conflict(c, in, err);
	return rc;
}

int aw__pg_downloads_get(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
			 Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	return aw__pg_get_by_id(pg(r), AW_PG_DL_GET,
				"SELECT " DL_COLUMNS " FROM download_queue WHERE id = $1::int8", id,
				"download", item_row, mem, (ProtobufCMessage **)out, err);
}

int aw__pg_downloads_update(aw_repo *r, const Aniworld__V1__DownloadQueueItem *in, uint64_t mask, int64_t if_version,
			    int64_t now_us, ProtobufCAllocator *mem,
			    Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	aw_pg_params p = {0};
	int rc;

	aw__pg_p_int(&p, normal_priority(in->priority));
	aw__pg_p_text(&p, in->download_url);
	aw__pg_p_text(&p, in->file_destination);
	aw__pg_p_int(&p, (int64_t)mask);
	aw__pg_p_int(&p, now_us);
	aw__pg_p_int(&p, in->id);
	aw__pg_p_int(&p, if_version);
	/* Each column keeps its value unless its mask bit ($4) is set. */
	rc = run_one(pg(r)->writer, AW_PG_DL_UPDATE,
		     "UPDATE download_queue SET "
		     "priority = CASE WHEN $4::int8 & 1 <> 0 THEN $1::int ELSE priority END, "
		     "download_url = CASE WHEN $4::int8 & 2 <> 0 THEN $2 ELSE download_url END, "
		     "file_destination = CASE WHEN $4::int8 & 4 <> 0 THEN $3 "
		     "ELSE file_destination END, "
		     "updated_at = $5::int8, version = version + 1 "
		     "WHERE id = $6::int8 AND ($7::int8 = 0 OR version = $7::int8) "
		     "RETURNING " DL_COLUMNS,
		     &p, "updating a download", mem, out, err);
	if (rc == AW_ENOTFOUND)
		return aw__pg_explain_miss(pg(r)->writer, AW_PG_VERSION_DOWNLOAD, DL_VERSION_SQL, in->id,
					   NULL, if_version, "download", err);
	return rc;
}

int aw__pg_downloads_delete(aw_repo *r, int64_t id, int64_t if_version, ProtobufCAllocator *mem,
			    Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	aw_pg_params p = {0};
	int rc;

	aw__pg_p_int(&p, id);
	aw__pg_p_int(&p, if_version);
	rc = run_one(pg(r)->writer, AW_PG_DL_DELETE,
		     "DELETE FROM download_queue WHERE id = $1::int8 "
		     "AND ($2::int8 = 0 OR version = $2::int8) RETURNING " DL_COLUMNS,
		     &p, "deleting a download", mem, out, err);
	if (rc == AW_ENOTFOUND)
		return aw__pg_explain_miss(pg(r)->writer, AW_PG_VERSION_DOWNLOAD, DL_VERSION_SQL, id,
					   NULL, if_version, "download", err);
	return rc;
}

/* ---- claims, progress and status changes ------------------------------------------------- */

/* The claim for each filter (bit 1 provider, bit 2 language): the first
 * PENDING item in queue order that no other transaction holds, one probe of
 * an index in that order (download_queue_order, _provider or _language). */
#define CLAIM_SQL(where)                                                                    \
	"UPDATE download_queue "                                                          \
	"SET status = $3::int, started_at = $1::int8, heartbeat_at = $1::int8, "          \
	"updated_at = $1::int8, version = version + 1 "                                   \
	"WHERE id = (SELECT id FROM download_queue WHERE status = $2::int AND hidden = 0"  \
	where " "                                                                         \
	"ORDER BY priority DESC, queue_position, id LIMIT 1 FOR UPDATE SKIP LOCKED) "     \
	"RETURNING " DL_COLUMNS

static const char *const claim_sql[4] = {
	(CLAIM_SQL("")),
	(CLAIM_SQL(" AND provider = $4")),
	(CLAIM_SQL(" AND language = $4")),
	(CLAIM_SQL(" AND provider = $4 AND language = $5"))
};

int aw__pg_downloads_claim(aw_repo *r, int64_t now_us, int64_t stale_before_us,
			   const char *provider, const char *language,
			   ProtobufCAllocator *mem, aw_download_changes *requeued,
			   Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	aw_pg_params p = {0}, q = {0};
	int rc, v;

	*out = NULL;
	/* Claims whose worker went silent go back to the queue: a range of the
	 * heartbeat index among DOWNLOADING items. Rows another replica holds
	 * are skipped: it is requeueing or changing them itself. */
	aw__pg_p_int(&p, now_us);
	aw__pg_p_int(&p, stale_before_us);
	aw__pg_p_int(&p, AW_DL_PENDING);
	aw__pg_p_int(&p, AW_DL_DOWNLOADING);
	rc = run_all(c, AW_PG_DL_REQUEUE,
		     "UPDATE download_queue SET status = $3::int, retry_count = retry_count + 1, "
		     "progress_percent = 0, downloaded_bytes = 0, download_speed = 0, "
		     "started_at = NULL, heartbeat_at = NULL, updated_at = $1::int8, "
		     "version = version + 1 WHERE id IN (SELECT id FROM download_queue WHERE status = $4::int "
		     "AND heartbeat_at < $2::int8 FOR UPDATE SKIP LOCKED) RETURNING " DL_COLUMNS,
		     &p, "requeueing stale claims", mem, requeued, EV_UPDATED, err);
	if (rc != 0)
		return rc;

	v = (provider[0] != '\0' ? 1 : 0) | (language[0] != '\0' ? 2 : 0);
	aw__pg_p_int(&q, now_us);
	aw__pg_p_int(&q, AW_DL_PENDING);
	aw__pg_p_int(&q, AW_DL_DOWNLOADING);
	if (v & 1)
		aw__pg_p_text(&q, provider);
	if (v & 2)
		aw__pg_p_text(&q, language);
	rc = run_one(c, AW_PG_DL_CLAIM + v, claim_sql[v], &q, "claiming a download", mem, out,
		     err);
	return rc == AW_ENOTFOUND ? 0 : rc;
}

/* After a status-guarded UPDATE (conditional on if_version too) changed
 * nothing: AW_ENOTFOUND, AW_EABORTED (stale etag) or AW_EPRECOND, naming the
 * status that refused `method`. */
static int refused(aw_pg_conn *c, int64_t id, int64_t if_version, const char *method,
		   const char *needs, aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res;
	int64_t version;
	char name[24];
	int status, rows;
	int rc;

	aw__pg_p_int(&p, id);
	rc = aw__pg_run(c, AW_PG_DL_STATUS,
			"SELECT status, version FROM download_queue WHERE id = $1::int8", &p,
			"reading a download's status", &res, err);
	if (rc != 0)
		return rc;
	rows = PQntuples(res);
	status = rows > 0 ? (int)aw__pg_int(res, 0, 0) : 0;
	version = rows > 0 ? aw__pg_int(res, 0, 1) : 0;
	PQclear(res);
	if (rows == 0)
		return aw__err_not_found(err, "download", id);
	snprintf(name, sizeof(name), "%lld", (long long)id);
	if (if_version != 0 && version != if_version)
		return aw__repo_stale(err, "download", name, if_version, version);
	return aw__err_download_status(err, id, status, method, needs);
}

int aw__pg_downloads_progress(aw_repo *r, const Aniworld__V1__ReportProgressRequest *in, int64_t if_version,
			      int64_t now_us, ProtobufCAllocator *mem,
			      Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	aw_pg_params p = {0};
	int rc;

	aw__pg_p_int(&p, in->id);
	aw__pg_p_int(&p, in->downloaded_bytes);
	aw__pg_p_int(&p, in->total_bytes);
	aw__pg_p_double(&p, in->download_speed);
	aw__pg_p_int(&p, now_us);
	aw__pg_p_int(&p, AW_DL_DOWNLOADING);
	aw__pg_p_int(&p, if_version);
	rc = run_one(c, AW_PG_DL_PROGRESS,
		     "UPDATE download_queue SET downloaded_bytes = $2::int8, total_bytes = $3::int8, "
		     "download_speed = $4::float8, "
		     "progress_percent = CASE WHEN $3::int8 > 0 "
		     "THEN $2::int8::float8 * 100.0 / $3::int8::float8 ELSE 0 END, "
		     "heartbeat_at = $5::int8, updated_at = $5::int8, version = version + 1 "
		     "WHERE id = $1::int8 AND status = $6::int "
		     "AND ($7::int8 = 0 OR version = $7::int8) RETURNING " DL_COLUMNS,
		     &p, "recording progress", mem, out, err);
	if (rc == AW_ENOTFOUND)
		return refused(c, in->id, if_version, "ReportProgress", "DOWNLOADING", err);
	return rc;
}

/*
 * Every status change a caller asks for is this one UPDATE, driven by the
 * state machine's rule (download_queue.c in the repository): $3 the set of
 * statuses it may start from, $4 the status it sets, $5 its effects, $6 the
 * reason (AW_DL_EFFECT_ERROR). The id is the primary key, so the status test
 * is a check on one row, not a search.
 */
#define TRANSITION_SET                                                                        \
	"status = $4::int, "                                                                 \
	"progress_percent = CASE WHEN $5::int & 1 <> 0 THEN 100 WHEN $5::int & 4 <> 0 THEN 0 " \
	"ELSE progress_percent END, "                                                        \
	"completed_at = CASE WHEN $5::int & 1 <> 0 THEN $2::int8 WHEN $5::int & 4 <> 0 "       \
	"THEN NULL ELSE completed_at END, "                                                  \
	"error_message = CASE WHEN $5::int & 2 <> 0 THEN $6 WHEN $5::int & 4 <> 0 THEN '' "    \
	"ELSE error_message END, "                                                           \
	"retry_count = CASE WHEN $5::int & 4 <> 0 THEN retry_count + 1 ELSE retry_count END, " \
	"downloaded_bytes = CASE WHEN $5::int & 4 <> 0 THEN 0 ELSE downloaded_bytes END, "     \
	"download_speed = CASE WHEN $5::int & 4 <> 0 THEN 0 ELSE download_speed END, "         \
	"started_at = CASE WHEN $5::int & 4 <> 0 THEN NULL ELSE started_at END, "              \
	"heartbeat_at = NULL, updated_at = $2::int8, version = version + 1 "
#define TRANSITION_SQL                                                                        \
	"UPDATE download_queue SET " TRANSITION_SET                                           \
	"WHERE id = $1::int8 AND (($3::int8 >> status) & 1) = 1 "                             \
	"AND ($7::int8 = 0 OR version = $7::int8) RETURNING " DL_COLUMNS

_Static_assert(AW_DL_EFFECT_COMPLETE == 1 && AW_DL_EFFECT_ERROR == 2 && AW_DL_EFFECT_RESET == 4,
	       "TRANSITION_SQL tests the effect bits by value");

int aw__pg_downloads_transition(aw_repo *r, int64_t id, const aw_download_rule *rule,
				const char *error_message, int64_t if_version, int64_t now_us, ProtobufCAllocator *mem,
				Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	aw_pg_params p = {0};
	int rc;

	aw__pg_p_int(&p, id);
	aw__pg_p_int(&p, now_us);
	aw__pg_p_int(&p, rule->from);
	aw__pg_p_int(&p, rule->to);
	aw__pg_p_int(&p, rule->effects);
	aw__pg_p_text(&p, error_message != NULL ? error_message : "");
	aw__pg_p_int(&p, if_version);
	rc = run_one(c, AW_PG_DL_TRANSITION, TRANSITION_SQL, &p, "changing a download's status", mem,
		     out, err);
	if (rc == AW_ENOTFOUND)
		return refused(c, id, if_version, rule->method, rule->needs, err);
	if (rc == AW_EEXIST)
		return aw__err_download_retry_taken(err, id);
	return rc;
}

int aw__pg_downloads_purge(aw_repo *r, unsigned statuses, ProtobufCAllocator *mem,
			   aw_download_changes *deleted, aw_err *err)
{
	int rc = 0;

	/* One DELETE per status, each a range of the order index, in status order
	 * as on SQLite. */
	for (int s = 1; rc == 0 && s <= AW_DL_STATUS_MAX; s++) {
		aw_pg_params p = {0};

		if (!(statuses & AW_DL_BIT(s)))
			continue;
		aw__pg_p_int(&p, s);
		rc = run_all(pg(r)->writer, AW_PG_DL_PURGE,
			     "DELETE FROM download_queue WHERE status = $1::int RETURNING " DL_COLUMNS,
			     &p, "purging downloads", mem, deleted, EV_DELETED, err);
	}
	return rc;
}

int aw__pg_downloads_of_series(aw_repo *r, int64_t series_id, ProtobufCAllocator *mem,
			       aw_download_changes *changes, aw_err *err)
{
	aw_pg_params p = {0};

	aw__pg_p_int(&p, series_id);
	return run_all(pg(r)->writer, AW_PG_DL_OF_SERIES,
		       "SELECT " DL_COLUMNS " FROM download_queue WHERE series_id = $1::int8 "
		       "ORDER BY id",
		       &p, "reading the downloads of a series", mem, changes, EV_DELETED, err);
}

/* ---- listing ------------------------------------------------------------------------------ */

/*
 * A page is a keyset range in queue order. Because priority runs descending
 * and the rest ascending, "after (p, c, i)" is two index ranges: the rest of
 * priority p after (c, i), then every lower priority. The first page binds p
 * above every priority, so the first range is empty.
 *
 * Without a series, each status is its own range of download_queue_order:
 * for each status of the set ($6, an array built from the bit set) the
 * LATERAL subquery reads at most limit rows of each range, and the outer sort
 * merges them, so a page costs the same however many rows other statuses or
 * later pages hold. With a series, download_queue_series gives the order and
 * the statuses are a filter ($1, the bit set; also the array's filter, where
 * it is redundant).
 */
#define RANGES(where)                                                                        \
	"(SELECT " DL_COLUMNS " FROM download_queue WHERE " where " AND priority = $2::int8 "   \
	"AND (queue_position, id) > ($3::int8, $4::int8) ORDER BY queue_position, id "          \
	"LIMIT $5::int8) "                                                                     \
	"UNION ALL (SELECT " DL_COLUMNS " FROM download_queue WHERE " where                    \
	" AND priority < $2::int8 ORDER BY priority DESC, queue_position, id LIMIT $5::int8)"

/* The provider ($7) and language ($8) filters: tests on the rows an index
 * range yields ('' matches every row). */
#define ITEM_FILTERS " AND ($7 = '' OR provider = $7) AND ($8 = '' OR language = $8)"

static const char page_status_sql[] =
	"SELECT d.* FROM unnest($6::int[]) AS s(status), LATERAL ("
	RANGES("status = s.status AND hidden = 0" ITEM_FILTERS)
	") AS d WHERE (($1::int8 >> s.status) & 1) = 1 "
	"ORDER BY d.priority DESC, d.queue_position, d.id LIMIT $5::int8";
static const char page_series_sql[] =
	"SELECT * FROM ("
	RANGES("series_id = $6::int8 AND hidden = 0 AND (($1::int8 >> status) & 1) = 1"
	       ITEM_FILTERS)
	") AS d ORDER BY d.priority DESC, d.queue_position, d.id LIMIT $5::int8";
/* Without a provider or language filter, counting reads the order index only;
 * with one, the rows too. */
static const char count_status_sql[] =
	"SELECT COUNT(*) FROM download_queue WHERE status = ANY ($1::int[]) AND hidden = 0";
static const char count_status_filtered_sql[] =
	"SELECT COUNT(*) FROM download_queue WHERE status = ANY ($1::int[]) AND hidden = 0 "
	"AND ($2 = '' OR provider = $2) AND ($3 = '' OR language = $3)";
static const char count_series_sql[] =
	"SELECT COUNT(*) FROM download_queue WHERE series_id = $2::int8 AND hidden = 0 "
	"AND (($1::int8 >> status) & 1) = 1 "
	"AND ($3 = '' OR provider = $3) AND ($4 = '' OR language = $4)";

int aw__pg_downloads_list(aw_repo *r, const Aniworld__V1__ListDownloadsRequest *f,
			  unsigned statuses, const aw_cursor *after, int limit, size_t max_bytes,
			  ProtobufCAllocator *mem, Aniworld__V1__ListDownloadsResponse **out,
			  int *more, aw_err *err)
{
	Aniworld__V1__ListDownloadsResponse *res = NULL;
	aw_pg_params count_p = {0}, page_p = {0};
	char set[64];
	size_t o = 0;
	aw_pg_conn *c;
	int rc, filtered = (f->provider != NULL && f->provider[0] != '\0') ||
			   (f->language != NULL && f->language[0] != '\0');

	*out = NULL;
	*more = 0;
	/* The set as an array literal of status numbers: {1,3}. */
	set[o++] = '{';
	for (int s = 1; s <= AW_DL_STATUS_MAX; s++) {
		if (statuses & AW_DL_BIT(s))
			o += (size_t)snprintf(set + o, sizeof(set) - o, "%s%d", o > 1 ? "," : "", s);
	}
	snprintf(set + o, sizeof(set) - o, "}");

	rc = aw__pg_reader_get(pg(r), &c, err);
	if (rc != 0)
		return rc;
	res = aw__pb_new(mem, &aniworld__v1__list_downloads_response__descriptor);
	if (res != NULL)
		res->items = aw__pb_alloc(mem, (size_t)limit * sizeof(*res->items));
	if (res == NULL || res->items == NULL) {
		rc = aw_err_set(err, AW_ENOMEM, "out of memory listing downloads");
	} else {
		/* $1 the bit set, $2..$4 the cursor (first page: priority above every
		 * priority, so only "priority < $2" matches), $5 the limit, $6 the
		 * array of statuses, or the series. */
		aw__pg_p_int(&page_p, statuses);
		aw__pg_p_int(&page_p, after->valid ? after->k[0] : INT64_MAX);
		aw__pg_p_int(&page_p, after->valid ? after->k[1] : 0);
		aw__pg_p_int(&page_p, after->valid ? after->k[2] : 0);
		aw__pg_p_int(&page_p, limit + 1);
		if (f->series_id != 0) {
			aw__pg_p_int(&page_p, f->series_id);
			aw__pg_p_int(&count_p, statuses);
			aw__pg_p_int(&count_p, f->series_id);
		} else {
			aw__pg_p_text(&page_p, set);
			aw__pg_p_text(&count_p, set);
		}
		aw__pg_p_text(&page_p, f->provider);
		aw__pg_p_text(&page_p, f->language);
		if (f->series_id != 0 || filtered) {
			aw__pg_p_text(&count_p, f->provider);
			aw__pg_p_text(&count_p, f->language);
		}
		if (f->series_id != 0)
			rc = aw__pg_page(c, AW_PG_DL_COUNT_SERIES, count_series_sql, &count_p,
					 AW_PG_DL_PAGE_SERIES, page_series_sql, &page_p, limit,
					 max_bytes, item_row, NULL, mem, (void **)res->items, &res->n_items,
					 &res->total_size, more, "listing downloads", err);
		else if (filtered)
			rc = aw__pg_page(c, AW_PG_DL_COUNT_STATUS_FILTERED, count_status_filtered_sql,
					 &count_p, AW_PG_DL_PAGE_STATUS, page_status_sql, &page_p, limit,
					 max_bytes, item_row, NULL, mem, (void **)res->items, &res->n_items,
					 &res->total_size, more, "listing downloads", err);
		else
			rc = aw__pg_page(c, AW_PG_DL_COUNT_STATUS, count_status_sql, &count_p,
					 AW_PG_DL_PAGE_STATUS, page_status_sql, &page_p, limit,
					 max_bytes, item_row, NULL, mem, (void **)res->items, &res->n_items,
					 &res->total_size, more, "listing downloads", err);
	}
	aw__pg_reader_put(pg(r), c);
	if (rc != 0) {
		if (res != NULL)
			protobuf_c_message_free_unpacked(&res->base, mem);
		return rc;
	}
	*out = res;
	return 0;
}

/* ---- the queue as download managers have it ------------------------------------------------ */

int aw__pg_downloads_summary(aw_repo *r, int64_t series_id, ProtobufCAllocator *mem,
			     Aniworld__V1__GetQueueSummaryResponse **out, aw_err *err)
{
	Aniworld__V1__GetQueueSummaryResponse *res = NULL;
	aw_pg_params p = {0};
	PGresult *rows = NULL;
	aw_pg_conn *c;
	int rc;

	*out = NULL;
	rc = aw__pg_reader_get(pg(r), &c, err);
	if (rc != 0)
		return rc;
	/* One statement: one snapshot. $1 = 0 for every series. */
	aw__pg_p_int(&p, series_id);
	rc = aw__pg_run(c, series_id != 0 ? AW_PG_DL_SUMMARY_SERIES : AW_PG_DL_SUMMARY,
			series_id != 0
				? "SELECT status, COUNT(*), SUM(downloaded_bytes)::int8, "
				  "SUM(total_bytes)::int8 FROM download_queue "
				  "WHERE series_id = $1::int8 AND hidden = 0 GROUP BY status"
				: "SELECT status, COUNT(*), SUM(downloaded_bytes)::int8, "
				  "SUM(total_bytes)::int8 FROM download_queue "
				  "WHERE $1::int8 = 0 AND hidden = 0 GROUP BY status",
			&p, "summing up the queue", &rows, err);
	aw__pg_reader_put(pg(r), c);
	if (rc != 0)
		return rc;
	res = aw__pb_new(mem, &aniworld__v1__get_queue_summary_response__descriptor);
	if (res == NULL) {
		PQclear(rows);
		return aw_err_set(err, AW_ENOMEM, "out of memory summing up the queue");
	}
	for (int i = 0; i < PQntuples(rows); i++) {
		int64_t *count[] = {NULL,
				    &res->pending_count,
				    &res->downloading_count,
				    &res->paused_count,
				    &res->completed_count,
				    &res->failed_count,
				    &res->cancelled_count};
		int s = (int)aw__pg_int(rows, i, 0);
		int64_t n = aw__pg_int(rows, i, 1);

		if (s >= 1 && s <= AW_DL_STATUS_MAX)
			*count[s] = n;
		res->total_count += n;
		res->downloaded_bytes += aw__pg_int(rows, i, 2);
		res->total_bytes += aw__pg_int(rows, i, 3);
	}
	PQclear(rows);
	*out = res;
	return 0;
}

/* AW_ENOTFOUND unless series `id` exists; read in the write transaction. */
static int series_exists(aw_pg_conn *c, int64_t id, aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res;
	int rc, rows;

	aw__pg_p_int(&p, id);
	rc = aw__pg_run(c, AW_PG_DL_SERIES_EXISTS, "SELECT 1 FROM anime_series WHERE id = $1::int8",
			&p, "looking for a series", &res, err);
	if (rc != 0)
		return rc;
	rows = PQntuples(res);
	PQclear(res);
	return rows > 0 ? 0 : aw_err_set(err, AW_ENOTFOUND, "series %lld not found", (long long)id);
}

/*
 * A bulk status change: the transition of TRANSITION_SET for every item in
 * status $1 (one range of the order index per status) of series $7 (0: all).
 * When $8 is set (the rule's target is unfinished), an item whose episode
 * has another unfinished item ($9, the set), or a newer item in the same
 * status, is left alone, so that the unique index on unfinished items never
 * refuses the statement. Rows another transaction holds are not waited for
 * differently from any UPDATE: the writer is the only one changing statuses
 * in bulk.
 */
#define BULK_SQL                                                                              \
	"UPDATE download_queue AS d SET " TRANSITION_SET                                      \
	"WHERE d.status = $1::int AND d.hidden = 0 AND (($3::int8 >> d.status) & 1) = 1 AND " \
	"($7::int8 = 0 OR d.series_id = $7::int8) AND "                                      \
	"(NOT $8::bool OR NOT EXISTS (SELECT 1 FROM download_queue AS o "                    \
	"WHERE o.series_id = d.series_id AND o.season = d.season "                           \
	"AND o.episode_number = d.episode_number AND o.id <> d.id "                          \
	"AND ((($9::int8 >> o.status) & 1) = 1 OR (o.status = d.status AND o.id > d.id)))) "  \
	"RETURNING " DL_COLUMNS

int aw__pg_downloads_bulk_transition(aw_repo *r, const aw_download_rule *rule, unsigned statuses,
				     int64_t series_id, int64_t now_us, ProtobufCAllocator *mem,
				     aw_download_changes *changed, aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	int rc = series_id != 0 ? series_exists(c, series_id, err) : 0;

	for (int s = 1; rc == 0 && s <= AW_DL_STATUS_MAX; s++) {
		aw_pg_params p = {0};

		if (!(statuses & rule->from & AW_DL_BIT(s)))
			continue;
		aw__pg_p_int(&p, s);
		aw__pg_p_int(&p, now_us);
		aw__pg_p_int(&p, rule->from);
		aw__pg_p_int(&p, rule->to);
		aw__pg_p_int(&p, rule->effects);
		aw__pg_p_text(&p, "");
		aw__pg_p_int(&p, series_id);
		aw__pg_p_text(&p, (AW_DL_UNFINISHED & AW_DL_BIT(rule->to)) != 0 ? "t" : "f");
		aw__pg_p_int(&p, AW_DL_UNFINISHED);
		rc = run_all(c, AW_PG_DL_BULK, BULK_SQL, &p, "changing downloads' status", mem,
			     changed, EV_UPDATED, err);
	}
	return rc;
}

int aw__pg_downloads_clear(aw_repo *r, unsigned statuses, int64_t before_us, int64_t series_id,
			   ProtobufCAllocator *mem, aw_download_changes *deleted, aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	int rc = series_id != 0 ? series_exists(c, series_id, err) : 0;

	/* One DELETE per status, each a range of the order index. */
	for (int s = 1; rc == 0 && s <= AW_DL_STATUS_MAX; s++) {
		aw_pg_params p = {0};

		if (!(statuses & AW_DL_BIT(s)))
			continue;
		aw__pg_p_int(&p, s);
		aw__pg_p_int(&p, before_us);
		aw__pg_p_int(&p, series_id);
		rc = run_all(c, AW_PG_DL_CLEAR,
			     "DELETE FROM download_queue WHERE status = $1::int AND hidden = 0 AND "
			     "updated_at < $2::int8 AND ($3::int8 = 0 OR series_id = $3::int8) "
			     "RETURNING " DL_COLUMNS,
			     &p, "clearing finished downloads", mem, deleted, EV_DELETED, err);
	}
	return rc;
}

/* Where an item is in the queue order: its status, priority and position. */
typedef struct place {
	int status, priority;
	int64_t position;
} place;

/* Reads the place of item `id`, locking its row for the move. */
static int place_of(aw_pg_conn *c, int64_t id, place *pl, aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res;
	int rc, rows;

	aw__pg_p_int(&p, id);
	rc = aw__pg_run(c, AW_PG_DL_PLACE,
			"SELECT status, priority, queue_position FROM download_queue "
			"WHERE id = $1::int8 FOR UPDATE",
			&p, "reading a download's place", &res, err);
	if (rc != 0)
		return rc;
	rows = PQntuples(res);
	if (rows > 0) {
		pl->status = (int)aw__pg_int(res, 0, 0);
		pl->priority = (int)aw__pg_int(res, 0, 1);
		pl->position = aw__pg_int(res, 0, 2);
	}
	PQclear(res);
	return rows > 0 ? 0 : aw_err_set(err, AW_ENOTFOUND, "download %lld not found", (long long)id);
}

/* Runs a statement returning at most one integer (NULL counts as none). */
static int run_int(aw_pg_conn *c, int slot, const char *sql, const aw_pg_params *p,
		   int64_t *out, int *found, aw_err *err)
{
	PGresult *res;
	int rc = aw__pg_run(c, slot, sql, p, "reading the queue order", &res, err);

	*found = 0;
	if (rc != 0)
		return rc;
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
		*found = 1;
		*out = aw__pg_int(res, 0, 0);
	}
	PQclear(res);
	return 0;
}

int aw__pg_downloads_move(aw_repo *r, int64_t id, int64_t before_id, int64_t now_us,
			  ProtobufCAllocator *mem, aw_download_changes *moved,
			  Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	aw_pg_params q = {0};
	place a, b;
	int64_t position = 0, prev = 0;
	int found = 0, rc;

	*out = NULL;
	rc = place_of(c, id, &a, err);
	if (rc == 0 && before_id == 0) {
		aw_pg_params p = {0};

		/* Behind every item of its priority. */
		aw__pg_p_int(&p, a.priority);
		rc = run_int(c, AW_PG_DL_LAST_POSITION,
			     "SELECT MAX(queue_position) FROM download_queue WHERE priority = $1::int",
			     &p, &position, &found, err);
		position = found ? position + 1 : a.position;
	} else if (rc == 0) {
		aw_pg_params p = {0};

		rc = place_of(c, before_id, &b, err);
		if (rc != 0)
			return rc;
		if (a.priority != b.priority)
			return aw_err_set(err, AW_EPRECOND,
					  "download %lld has priority %d and download %lld %d: "
					  "MoveDownload moves within one priority (change it with "
					  "UpdateDownload first)",
					  (long long)id, a.priority, (long long)before_id, b.priority);
		/* The item before `before_id` in its status and priority: one probe
		 * of the order index, backwards. */
		aw__pg_p_int(&p, b.status);
		aw__pg_p_int(&p, b.priority);
		aw__pg_p_int(&p, b.position);
		aw__pg_p_int(&p, before_id);
		aw__pg_p_int(&p, id);
		rc = run_int(c, AW_PG_DL_PREV_POSITION,
			     "SELECT queue_position FROM download_queue WHERE status = $1::int AND "
			     "hidden = 0 AND priority = $2::int AND (queue_position, id) < ($3::int8, $4::int8) "
			     "AND id <> $5::int8 ORDER BY queue_position DESC, id DESC LIMIT 1",
			     &p, &prev, &found, err);
		if (rc != 0)
			return rc;
		if (!found) {
			position = b.position - 1;
		} else if (b.position - prev >= 2) {
			position = prev + (b.position - prev) / 2;
		} else {
			aw_pg_params m = {0};

			/* No room between them: `before_id` and everything after it
			 * in its priority move back by 2. */
			aw__pg_p_int(&m, b.priority);
			aw__pg_p_int(&m, b.position);
			aw__pg_p_int(&m, before_id);
			aw__pg_p_int(&m, id);
			rc = run_all(c, AW_PG_DL_MAKE_ROOM,
				     "UPDATE download_queue SET queue_position = queue_position + 2, "
				     "version = version + 1 "
				     "WHERE priority = $1::int AND (queue_position, id) >= "
				     "($2::int8, $3::int8) AND id <> $4::int8 RETURNING " DL_COLUMNS,
				     &m, "making room in the queue", mem, moved, EV_UPDATED, err);
			position = prev + 1;
		}
	}
	if (rc != 0)
		return rc;
	aw__pg_p_int(&q, id);
	aw__pg_p_int(&q, position);
	aw__pg_p_int(&q, now_us);
	return run_one(c, AW_PG_DL_MOVE,
		       "UPDATE download_queue SET queue_position = $2::int8, updated_at = $3::int8, "
		       "version = version + 1 "
		       "WHERE id = $1::int8 RETURNING " DL_COLUMNS,
		       &q, "moving a download", mem, out, err);
}
