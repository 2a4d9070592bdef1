/*
 * The download queue in SQLite: the download_queue table.
 *
 * Writes return the stored row through RETURNING, so a reply is what the
 * database holds. A status change is one UPDATE whose WHERE clause holds the
 * statuses it may start from; when it changes no row, the current status is
 * read in the same transaction to say why (missing, or which status refused).
 *
 * Queue order is priority (stored as the proto number, HIGH = 3) descending,
 * then queue_position, then id: the order of the download_queue_order index
 * within one status, of download_queue_provider and download_queue_language
 * within one status and provider or language, and of download_queue_series
 * within one series. Every query on the hot path walks one of those, or the
 * heartbeat index for stale claims.
 */
#include "sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/timestamp.pb-c.h"

#define DL_COLUMNS                                                                       \
	"id, series_id, season, episode_number, status, priority, progress_percent, "   \
	"downloaded_bytes, total_bytes, download_speed, error_message, retry_count, "   \
	"download_url, file_destination, started_at, completed_at, created_at, updated_at, " \
	"provider, language, queue_position, version"

#define DL_VERSION_SQL "SELECT version FROM download_queue WHERE id = ?1"

/* Column numbers in DL_COLUMNS that the list's merge compares. */
enum { COL_ID = 0, COL_PRIORITY = 5, COL_POSITION = 20 };

#define EV_UPDATED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_UPDATED
#define EV_DELETED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_DELETED

static aw_sq_repo *sq(aw_repo *r)
{
	return (aw_sq_repo *)r;
}

/* A Timestamp for a nullable column: NULL stays unset. */
static int optional_time(sqlite3_stmt *st, int col, ProtobufCAllocator *mem,
			 Google__Protobuf__Timestamp **out)
{
	*out = NULL;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return 0;
	*out = aw__pb_timestamp(mem, sqlite3_column_int64(st, col));
	return *out != NULL ? 0 : -1;
}

/* Builds a DownloadQueueItem from a row of DL_COLUMNS (starting at column 0). */
static int item_from_row(sqlite3_stmt *st, ProtobufCAllocator *mem,
			 Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	Aniworld__V1__DownloadQueueItem *d =
		aw__pb_new(mem, &aniworld__v1__download_queue_item__descriptor);

	*out = NULL;
	if (d == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a download");
	d->id = sqlite3_column_int64(st, 0);
	d->series_id = sqlite3_column_int64(st, 1);
	d->season = sqlite3_column_int(st, 2);
	d->episode_number = sqlite3_column_int(st, 3);
	d->status = (Aniworld__V1__DownloadStatus)sqlite3_column_int(st, 4);
	d->priority = (Aniworld__V1__DownloadPriority)sqlite3_column_int(st, 5);
	d->progress_percent = sqlite3_column_double(st, 6);
	d->downloaded_bytes = sqlite3_column_int64(st, 7);
	d->total_bytes = sqlite3_column_int64(st, 8);
	d->download_speed = sqlite3_column_double(st, 9);
	d->retry_count = sqlite3_column_int(st, 11);
	d->queue_position = sqlite3_column_int64(st, 20);
	if ((d->provider = aw__sq_col_text(st, 18, mem)) == NULL ||
	    (d->language = aw__sq_col_text(st, 19, mem)) == NULL ||
	    (d->error_message = aw__sq_col_text(st, 10, mem)) == NULL ||
	    (d->download_url = aw__sq_col_text(st, 12, mem)) == NULL ||
	    (d->file_destination = aw__sq_col_text(st, 13, mem)) == NULL ||
	    optional_time(st, 14, mem, &d->started_at) != 0 ||
	    optional_time(st, 15, mem, &d->completed_at) != 0 ||
	    (d->created_at = aw__pb_timestamp(mem, sqlite3_column_int64(st, 16))) == NULL ||
	    (d->updated_at = aw__pb_timestamp(mem, sqlite3_column_int64(st, 17))) == NULL ||
	    (d->etag = aw__etag_new(mem, sqlite3_column_int64(st, 21))) == NULL) {
		protobuf_c_message_free_unpacked(&d->base, mem);
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a download");
	}
	*out = d;
	return 0;
}

static int item_row(sqlite3_stmt *st, const void *ctx, ProtobufCAllocator *mem,
		    ProtobufCMessage **out, aw_err *err)
{
	(void)ctx;
	return item_from_row(st, mem, (Aniworld__V1__DownloadQueueItem **)out, err);
}

/* Steps a statement expected to return at most one item; AW_ENOTFOUND when it
 * returns none. Resets the statement and clears its bindings. */
static int step_one(aw_sq_conn *c, sqlite3_stmt *st, const char *what, ProtobufCAllocator *mem,
		    Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	return aw__sq_step_one(c, st, what, item_row, NULL, mem, (ProtobufCMessage **)out, err);
}

/* Steps a statement that returns any number of items, recording each in
 * `changes` as an event of `type`. Resets the statement. */
static int step_all(aw_sq_conn *c, sqlite3_stmt *st, const char *what, ProtobufCAllocator *mem,
		    aw_download_changes *changes, Aniworld__V1__DownloadEventType type, aw_err *err)
{
	Aniworld__V1__DownloadQueueItem *d;
	int rc = 0, step = SQLITE_DONE;

	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		rc = item_from_row(st, mem, &d, err);
		if (rc == 0)
			rc = aw__download_changes_add(changes, mem, d, type, err);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = aw__sq_error(c->db, step, what, err);
	sqlite3_reset(st);
	return rc;
}

static int normal_priority(int priority)
{
	return priority == 0 ? AW_DL_PRIORITY_NORMAL : priority;
}

/* ---- enqueue, get, update, delete ------------------------------------------------------ */

/* Says which unfinished item holds the episode of `in`: the AW_EEXIST message. */
static int conflict(aw_sq_conn *c, const Aniworld__V1__DownloadQueueItem *in, aw_err *err)
{
	sqlite3_stmt *st;
	int rc = aw__sq_stmt(c, AW_SQ_DL_FIND_UNFINISHED,
			     "SELECT id, status FROM download_queue WHERE series_id = ?1 AND "
			     "season = ?2 AND episode_number = ?3 AND (?4 >> status) & 1",
			     &st, err);
	int64_t id = 0;
	int status = 0;

	if (rc == 0) {
		sqlite3_bind_int64(st, 1, in->series_id);
		sqlite3_bind_int(st, 2, in->season);
		sqlite3_bind_int(st, 3, in->episode_number);
		sqlite3_bind_int64(st, 4, AW_DL_UNFINISHED);
		if (sqlite3_step(st) == SQLITE_ROW) {
			id = sqlite3_column_int64(st, 0);
			status = sqlite3_column_int(st, 1);
		}
		sqlite3_reset(st);
	}
	return aw__err_download_open(err, in, id, status);
}

int aw__sq_downloads_enqueue(aw_repo *r, const Aniworld__V1__DownloadQueueItem *in, int64_t now_us,
			     ProtobufCAllocator *mem, Aniworld__V1__DownloadQueueItem **out,
			     aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_DL_INSERT,
			 "INSERT INTO download_queue (series_id, season, episode_number, status, "
			 "priority, download_url, file_destination, created_at, updated_at, "
			 "provider, language, queue_position, hidden) "
			 "VALUES (?1, ?2, ?3, ?8, ?4, ?5, ?6, ?7, ?7, ?9, ?10, ?7, "
			 "COALESCE((SELECT delete_time IS NOT NULL FROM anime_series WHERE id = ?1), 0)) "
			 "RETURNING " DL_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, in->series_id);
	sqlite3_bind_int(st, 2, in->season);
	sqlite3_bind_int(st, 3, in->episode_number);
	sqlite3_bind_int(st, 4, normal_priority(in->priority));
	aw__sq_bind_text(st, 5, in->download_url);
	aw__sq_bind_text(st, 6, in->file_destination);
	sqlite3_bind_int64(st, 7, now_us);
	sqlite3_bind_int(st, 8, AW_DL_PENDING);
	aw__sq_bind_text(st, 9, in->provider);
	aw__sq_bind_text(st, 10, in->language);
	rc = step_one(c, st, "queueing a download", mem, out, err);
	if (rc == AW_ENOTFOUND) /* the foreign key */
		return aw__err_not_found(err, "series", in->series_id);
	if (rc == AW_EEXIST)
		return conflict(c, in, err);
	return rc;
}

int aw__sq_downloads_get(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
			 Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	return aw__sq_get_by_id(sq(r), AW_SQ_DL_GET,
				"SELECT " DL_COLUMNS " FROM download_queue WHERE id = ?1", id, "download",
				item_row, mem, (ProtobufCMessage **)out, err);
}

int aw__sq_downloads_update(aw_repo *r, const Aniworld__V1__DownloadQueueItem *in, uint64_t mask, int64_t if_version,
			    int64_t now_us, ProtobufCAllocator *mem,
			    Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	/* Each column keeps its value unless its mask bit (?4) is set. */
	rc = aw__sq_stmt(c, AW_SQ_DL_UPDATE,
			 "UPDATE download_queue SET "
			 "priority = CASE WHEN ?4 & 1 THEN ?1 ELSE priority END, "
			 "download_url = CASE WHEN ?4 & 2 THEN ?2 ELSE download_url END, "
			 "file_destination = CASE WHEN ?4 & 4 THEN ?3 ELSE file_destination END, "
			 "updated_at = ?5, version = version + 1 "
			 "WHERE id = ?6 AND (?7 = 0 OR version = ?7) RETURNING " DL_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int(st, 1, normal_priority(in->priority));
	aw__sq_bind_text(st, 2, in->download_url);
	aw__sq_bind_text(st, 3, in->file_destination);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)mask);
	sqlite3_bind_int64(st, 5, now_us);
	sqlite3_bind_int64(st, 6, in->id);
	sqlite3_bind_int64(st, 7, if_version);
	rc = step_one(c, st, "updating a download", mem, out, err);
	if (rc == AW_ENOTFOUND)
		return aw__sq_explain_miss(c, AW_SQ_VERSION_DOWNLOAD, DL_VERSION_SQL, in->id, NULL,
					   if_version, "download", err);
	return rc;
}

int aw__sq_downloads_delete(aw_repo *r, int64_t id, int64_t if_version, ProtobufCAllocator *mem,
			    Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_DL_DELETE,
			 "DELETE FROM download_queue WHERE id = ?1 AND (?2 = 0 OR version = ?2) "
			 "RETURNING " DL_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, if_version);
	rc = step_one(c, st, "deleting a download", mem, out, err);
	if (rc == AW_ENOTFOUND)
		return aw__sq_explain_miss(c, AW_SQ_VERSION_DOWNLOAD, DL_VERSION_SQL, id, NULL,
					   if_version, "download", err);
	return rc;
}

/* ---- claims, progress and status changes ------------------------------------------------- */

/* The claim's probe for each filter (bit 1 provider, bit 2 language): the
 * first PENDING item in queue order, one probe of an index in that order
 * (download_queue_order, _provider or _language). */
#define CLAIM_SQL(where)                                                                  \
	"UPDATE download_queue "                                                        \
	"SET status = ?3, started_at = ?1, heartbeat_at = ?1, updated_at = ?1, "       \
	"version = version + 1 "                                                        \
	"WHERE id = (SELECT id FROM download_queue WHERE status = ?2 AND hidden = 0" where " " \
	"ORDER BY priority DESC, queue_position, id LIMIT 1) RETURNING " DL_COLUMNS

static const char *const claim_sql[4] = {
	(CLAIM_SQL("")),
	(CLAIM_SQL(" AND provider = ?4")),
	(CLAIM_SQL(" AND language = ?5")),
	(CLAIM_SQL(" AND provider = ?4 AND language = ?5"))
};

int aw__sq_downloads_claim(aw_repo *r, int64_t now_us, int64_t stale_before_us,
			   const char *provider, const char *language,
			   ProtobufCAllocator *mem, aw_download_changes *requeued,
			   Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc, v;

	*out = NULL;
	/* Claims whose worker went silent go back to the queue. INDEXED BY makes
	 * the heartbeat index a requirement: the probe stays a range lookup among
	 * DOWNLOADING items, however long the queue. That index is partial (WHERE
	 * status = 2), and SQLite uses a partial index only when the query's own
	 * WHERE names the same literal, so here the statuses are written out
	 * (checked against the enum below), not bound. */
	_Static_assert(AW_DL_PENDING == 1 && AW_DL_DOWNLOADING == 2,
		       "the requeue SQL names PENDING and DOWNLOADING by value");
	rc = aw__sq_stmt(c, AW_SQ_DL_REQUEUE,
			 "UPDATE download_queue INDEXED BY download_queue_heartbeat "
			 "SET status = 1, retry_count = retry_count + 1, progress_percent = 0, "
			 "downloaded_bytes = 0, download_speed = 0, started_at = NULL, "
			 "heartbeat_at = NULL, updated_at = ?1, version = version + 1 "
			 "WHERE status = 2 AND heartbeat_at < ?2 RETURNING " DL_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, now_us);
	sqlite3_bind_int64(st, 2, stale_before_us);
	rc = step_all(c, st, "requeueing stale claims", mem, requeued, EV_UPDATED, err);
	if (rc != 0)
		return rc;

	v = (provider[0] != '\0' ? 1 : 0) | (language[0] != '\0' ? 2 : 0);
	rc = aw__sq_stmt(c, AW_SQ_DL_CLAIM + v, claim_sql[v], &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, now_us);
	sqlite3_bind_int(st, 2, AW_DL_PENDING);
	sqlite3_bind_int(st, 3, AW_DL_DOWNLOADING);
	if (v & 1)
		aw__sq_bind_text(st, 4, provider);
	if (v & 2)
		aw__sq_bind_text(st, 5, language);
	rc = step_one(c, st, "claiming a download", mem, out, err);
	return rc == AW_ENOTFOUND ? 0 : rc;
}

/* After a status-guarded UPDATE (conditional on if_version too) changed
 * nothing: AW_ENOTFOUND, AW_EABORTED (stale etag) or AW_EPRECOND, naming the
 * status that refused `method`. */
static int refused(aw_sq_conn *c, int64_t id, int64_t if_version, const char *method,
		   const char *needs, aw_err *err)
{
	sqlite3_stmt *st;
	int rc = aw__sq_stmt(c, AW_SQ_DL_STATUS,
			     "SELECT status, version FROM download_queue WHERE id = ?1", &st, err);
	int64_t version;
	char name[24];
	int status;

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	status = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	version = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return aw__err_not_found(err, "download", id);
	if (rc != SQLITE_ROW)
		return aw__sq_error(c->db, rc, "reading a download's status", err);
	snprintf(name, sizeof(name), "%lld", (long long)id);
	if (if_version != 0 && version != if_version)
		return aw__repo_stale(err, "download", name, if_version, version);
	return aw__err_download_status(err, id, status, method, needs);
}

int aw__sq_downloads_progress(aw_repo *r, const Aniworld__V1__ReportProgressRequest *in, int64_t if_version,
			      int64_t now_us, ProtobufCAllocator *mem,
			      Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_DL_PROGRESS,
			 "UPDATE download_queue SET downloaded_bytes = ?2, total_bytes = ?3, "
			 "download_speed = ?4, "
			 "progress_percent = CASE WHEN ?3 > 0 THEN ?2 * 100.0 / ?3 ELSE 0 END, "
			 "heartbeat_at = ?5, updated_at = ?5, version = version + 1 "
			 "WHERE id = ?1 AND status = ?6 AND (?7 = 0 OR version = ?7) "
			 "RETURNING " DL_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, in->id);
	sqlite3_bind_int64(st, 2, in->downloaded_bytes);
	sqlite3_bind_int64(st, 3, in->total_bytes);
	sqlite3_bind_double(st, 4, in->download_speed);
	sqlite3_bind_int64(st, 5, now_us);
	sqlite3_bind_int(st, 6, AW_DL_DOWNLOADING);
	sqlite3_bind_int64(st, 7, if_version);
	rc = step_one(c, st, "recording progress", mem, out, err);
	if (rc == AW_ENOTFOUND)
		return refused(c, in->id, if_version, "ReportProgress", "DOWNLOADING", err);
	return rc;
}

/*
 * Every status change a caller asks for is this one UPDATE, driven by the
 * state machine's rule (download_queue.c in the repository): ?3 the set of
 * statuses it may start from, ?4 the status it sets, ?5 its effects, ?6 the
 * reason (AW_DL_EFFECT_ERROR). The id is the primary key, so the status test
 * is a check on one row, not a search.
 */
#define TRANSITION_SET                                                                        \
	"status = ?4, "                                                                      \
	"progress_percent = CASE WHEN ?5 & 1 THEN 100 WHEN ?5 & 4 THEN 0 "                  \
	"ELSE progress_percent END, "                                                        \
	"completed_at = CASE WHEN ?5 & 1 THEN ?2 WHEN ?5 & 4 THEN NULL ELSE completed_at END, " \
	"error_message = CASE WHEN ?5 & 2 THEN ?6 WHEN ?5 & 4 THEN '' ELSE error_message END, " \
	"retry_count = CASE WHEN ?5 & 4 THEN retry_count + 1 ELSE retry_count END, "          \
	"downloaded_bytes = CASE WHEN ?5 & 4 THEN 0 ELSE downloaded_bytes END, "              \
	"download_speed = CASE WHEN ?5 & 4 THEN 0 ELSE download_speed END, "                  \
	"started_at = CASE WHEN ?5 & 4 THEN NULL ELSE started_at END, "                       \
	"heartbeat_at = NULL, updated_at = ?2, version = version + 1 "
#define TRANSITION_SQL \
	"UPDATE download_queue SET " TRANSITION_SET "WHERE id = ?1 AND (?3 >> status) & 1 " \
	"AND (?7 = 0 OR version = ?7) RETURNING " DL_COLUMNS

_Static_assert(AW_DL_EFFECT_COMPLETE == 1 && AW_DL_EFFECT_ERROR == 2 && AW_DL_EFFECT_RESET == 4,
	       "TRANSITION_SQL tests the effect bits by value");

int aw__sq_downloads_transition(aw_repo *r, int64_t id, const aw_download_rule *rule,
				const char *error_message, int64_t if_version, int64_t now_us, ProtobufCAllocator *mem,
				Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_DL_TRANSITION, TRANSITION_SQL, &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now_us);
	sqlite3_bind_int64(st, 3, rule->from);
	sqlite3_bind_int(st, 4, rule->to);
	sqlite3_bind_int64(st, 5, rule->effects);
	aw__sq_bind_text(st, 6, error_message != NULL ? error_message : "");
	sqlite3_bind_int64(st, 7, if_version);
	rc = step_one(c, st, "changing a download's status", mem, out, err);
	if (rc == AW_ENOTFOUND)
		return refused(c, id, if_version, rule->method, rule->needs, err);
	if (rc == AW_EEXIST)
		return aw__err_download_retry_taken(err, id);
	return rc;
}

int aw__sq_downloads_purge(aw_repo *r, unsigned statuses, ProtobufCAllocator *mem,
			   aw_download_changes *deleted, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	/* One DELETE per status, each a range of the order index. */
	rc = aw__sq_stmt(c, AW_SQ_DL_PURGE,
			 "DELETE FROM download_queue WHERE status = ?1 RETURNING " DL_COLUMNS, &st,
			 err);
	for (int s = 1; rc == 0 && s <= AW_DL_STATUS_MAX; s++) {
		if (!(statuses & AW_DL_BIT(s)))
			continue;
		sqlite3_bind_int(st, 1, s);
		rc = step_all(c, st, "purging downloads", mem, deleted, EV_DELETED, err);
	}
	return rc;
}

int aw__sq_downloads_of_series(aw_repo *r, int64_t series_id, ProtobufCAllocator *mem,
			       aw_download_changes *changes, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc = aw__sq_stmt(c, AW_SQ_DL_OF_SERIES,
			     "SELECT " DL_COLUMNS " FROM download_queue WHERE series_id = ?1 ORDER BY id",
			     &st, err);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, series_id);
	return step_all(c, st, "reading the downloads of a series", mem, changes, EV_DELETED, err);
}

/* ---- listing ------------------------------------------------------------------------------ */

/*
 * A page is a keyset range in queue order. Because priority runs descending
 * and the rest ascending, "after (p, c, i)" is two index ranges: the rest of
 * priority p after (c, i), then every lower priority. The compound SELECT
 * walks both in index order (MERGE (UNION ALL), no sort). The first page
 * binds p above every priority, so the first range is empty.
 *
 * Without a series, each status is its own range of download_queue_order, so
 * a list of several statuses runs one such statement per status and merges
 * them here: a page reads at most page_size + 1 rows per status, however many
 * rows other statuses hold. With a series, download_queue_series gives the
 * order and the statuses are a filter (?6, a set of 1 << status).
 */
#define PAGE_AFTER(where)                                                                 \
	"SELECT " DL_COLUMNS " FROM download_queue WHERE " where " AND priority = ?2 AND "     \
	"(queue_position, id) > (?3, ?4) UNION ALL SELECT " DL_COLUMNS " FROM download_queue " \
	"WHERE " where " AND priority < ?2 ORDER BY priority DESC, queue_position, id LIMIT ?5"

/* The provider (?8) and language (?9) filters: tests on the rows an index
 * range yields, not the range itself ('' matches every row). */
#define ITEM_FILTERS " AND (?8 = '' OR provider = ?8) AND (?9 = '' OR language = ?9)"

/* Items of a deleted series (hidden) are left out: "hidden = 0" right after the
 * status keeps the order index's range in queue order. */
static const char page_status_sql[] = PAGE_AFTER("status = ?1 AND hidden = 0" ITEM_FILTERS);
static const char page_series_sql[] =
	PAGE_AFTER("series_id = ?7 AND hidden = 0 AND ((1 << status) & ?6) != 0" ITEM_FILTERS);
/* Without a provider or language filter, counting a status reads its range of
 * the order index only (covering); with one, its rows too. */
static const char count_status_sql[] =
	"SELECT COUNT(*) FROM download_queue WHERE status = ?1 AND hidden = 0";
static const char count_status_filtered_sql[] =
	"SELECT COUNT(*) FROM download_queue WHERE status = ?1 AND hidden = 0" ITEM_FILTERS;
static const char count_series_sql[] =
	"SELECT COUNT(*) FROM download_queue WHERE series_id = ?7 AND hidden = 0 AND "
	"((1 << status) & ?6) != 0" ITEM_FILTERS;

/* One ordered stream of rows: a page statement and whether it has a row. */
typedef struct stream {
	sqlite3_stmt *st;
	int has_row;
} stream;

/* Whether the current row of `a` comes before that of `b` in queue order. */
static int row_before(sqlite3_stmt *a, sqlite3_stmt *b)
{
	int64_t pa = sqlite3_column_int64(a, COL_PRIORITY);
	int64_t pb = sqlite3_column_int64(b, COL_PRIORITY);
	int64_t ca = sqlite3_column_int64(a, COL_POSITION);
	int64_t cb = sqlite3_column_int64(b, COL_POSITION);

	if (pa != pb)
		return pa > pb;
	if (ca != cb)
		return ca < cb;
	return sqlite3_column_int64(a, COL_ID) < sqlite3_column_int64(b, COL_ID);
}

/* Steps stream `s`; 0 or an AW_E* code. */
static int advance(aw_sq_conn *c, stream *s, aw_err *err)
{
	int step = sqlite3_step(s->st);

	s->has_row = step == SQLITE_ROW;
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return aw__sq_error(c->db, step, "listing downloads", err);
	return 0;
}

static void bind_filters(sqlite3_stmt *st, const Aniworld__V1__ListDownloadsRequest *f)
{
	aw__sq_bind_text(st, 8, f->provider != NULL ? f->provider : "");
	aw__sq_bind_text(st, 9, f->language != NULL ? f->language : "");
}

static void bind_page(sqlite3_stmt *st, const aw_cursor *after, int limit)
{
	/* First page: priority above every priority, so only "priority < ?2" matches. */
	sqlite3_bind_int64(st, 2, after->valid ? after->k[0] : INT64_MAX);
	sqlite3_bind_int64(st, 3, after->valid ? after->k[1] : 0);
	sqlite3_bind_int64(st, 4, after->valid ? after->k[2] : 0);
	sqlite3_bind_int(st, 5, limit + 1);
}

/* Counts the matches into res->total_size and starts the page streams. */
static int start_streams(aw_sq_conn *c, const Aniworld__V1__ListDownloadsRequest *f,
			 unsigned statuses, const aw_cursor *after, int limit,
			 Aniworld__V1__ListDownloadsResponse *res, stream *streams, int *n,
			 aw_err *err)
{
	sqlite3_stmt *count;
	int64_t total = 0;
	int rc, step;

	*n = 0;
	if (f->series_id != 0) {
		rc = aw__sq_stmt(c, AW_SQ_DL_COUNT_SERIES, count_series_sql, &count, err);
		if (rc == 0)
			rc = aw__sq_stmt(c, AW_SQ_DL_PAGE_SERIES, page_series_sql, &streams[0].st,
					 err);
		if (rc != 0)
			return rc;
		sqlite3_bind_int64(count, 6, statuses);
		sqlite3_bind_int64(count, 7, f->series_id);
		sqlite3_bind_int64(streams[0].st, 6, statuses);
		sqlite3_bind_int64(streams[0].st, 7, f->series_id);
		bind_filters(count, f);
		bind_filters(streams[0].st, f);
		bind_page(streams[0].st, after, limit);
		*n = 1;
		step = sqlite3_step(count);
		total = sqlite3_column_int64(count, 0);
		sqlite3_reset(count);
		if (step != SQLITE_ROW)
			return aw__sq_error(c->db, step, "counting downloads", err);
	} else {
		int filtered = (f->provider != NULL && f->provider[0] != '\0') ||
			       (f->language != NULL && f->language[0] != '\0');

		rc = filtered ? aw__sq_stmt(c, AW_SQ_DL_COUNT_STATUS_FILTERED,
					    count_status_filtered_sql, &count, err)
			      : aw__sq_stmt(c, AW_SQ_DL_COUNT_STATUS, count_status_sql, &count, err);
		for (int s = 1; rc == 0 && s <= AW_DL_STATUS_MAX; s++) {
			if (!(statuses & AW_DL_BIT(s)))
				continue;
			rc = aw__sq_stmt(c, AW_SQ_DL_PAGE_STATUS + *n, page_status_sql,
					 &streams[*n].st, err);
			if (rc != 0)
				break;
			sqlite3_bind_int(streams[*n].st, 1, s);
			bind_filters(streams[*n].st, f);
			bind_page(streams[*n].st, after, limit);
			(*n)++;
			sqlite3_bind_int(count, 1, s);
			if (filtered)
				bind_filters(count, f);
			step = sqlite3_step(count);
			total += sqlite3_column_int64(count, 0);
			sqlite3_reset(count);
			if (step != SQLITE_ROW)
				rc = aw__sq_error(c->db, step, "counting downloads", err);
		}
		if (rc != 0)
			return rc;
	}
	res->total_size = total > INT32_MAX ? INT32_MAX : (int32_t)total;
	for (int i = 0; i < *n; i++) {
		rc = advance(c, &streams[i], err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int aw__sq_downloads_list(aw_repo *r, const Aniworld__V1__ListDownloadsRequest *f,
			  unsigned statuses, const aw_cursor *after, int limit, size_t max_bytes,
			  ProtobufCAllocator *mem, Aniworld__V1__ListDownloadsResponse **out,
			  int *more, aw_err *err)
{
	Aniworld__V1__ListDownloadsResponse *res = NULL;
	stream streams[AW_DL_STATUS_MAX];
	aw_sq_conn *c;
	int rc, n = 0;
	size_t used = 0;

	*out = NULL;
	*more = 0;
	memset(streams, 0, sizeof(streams));
	rc = aw__sq_reader_get(sq(r), &c, err);
	if (rc != 0)
		return rc;
	res = aw__pb_new(mem, &aniworld__v1__list_downloads_response__descriptor);
	if (res != NULL)
		res->items = aw__pb_alloc(mem, (size_t)limit * sizeof(*res->items));
	if (res == NULL || res->items == NULL) {
		rc = aw_err_set(err, AW_ENOMEM, "out of memory listing downloads");
		goto done;
	}
	/* The count and the page come from one snapshot. */
	rc = aw__sq_read_begin(c, err);
	if (rc != 0)
		goto done;
	rc = start_streams(c, f, statuses, after, limit, res, streams, &n, err);
	while (rc == 0) {
		stream *next = NULL;

		for (int i = 0; i < n; i++) {
			if (!streams[i].has_row)
				continue;
			if (next == NULL || row_before(streams[i].st, next->st))
				next = &streams[i];
		}
		if (next == NULL)
			break;
		if ((int)res->n_items == limit) {
			*more = 1;
			break;
		}
		rc = item_from_row(next->st, mem, &res->items[res->n_items], err);
		if (rc != 0)
			break;
		if (!aw__repo_page_take(max_bytes, &used, res->n_items,
					&res->items[res->n_items]->base)) {
			/* Over the budget: this row starts the next page. */
			protobuf_c_message_free_unpacked(&res->items[res->n_items]->base, mem);
			res->items[res->n_items] = NULL;
			*more = 1;
			break;
		}
		res->n_items++;
		rc = advance(c, next, err);
	}
	for (int i = 0; i < AW_DL_STATUS_MAX; i++) {
		if (streams[i].st != NULL) {
			sqlite3_reset(streams[i].st);
			sqlite3_clear_bindings(streams[i].st);
		}
	}
	aw__sq_read_end(c);
done:
	aw__sq_reader_put(sq(r), c);
	if (rc != 0) {
		if (res != NULL)
			protobuf_c_message_free_unpacked(&res->base, mem);
		return rc;
	}
	*out = res;
	return 0;
}

/* ---- the queue as download managers have it ------------------------------------------------ */

int aw__sq_downloads_summary(aw_repo *r, int64_t series_id, ProtobufCAllocator *mem,
			     Aniworld__V1__GetQueueSummaryResponse **out, aw_err *err)
{
	Aniworld__V1__GetQueueSummaryResponse *res;
	aw_sq_conn *c;
	sqlite3_stmt *st;
	int rc, step;

	*out = NULL;
	rc = aw__sq_reader_get(sq(r), &c, err);
	if (rc != 0)
		return rc;
	/* One statement: one snapshot. With a series, its index gives the rows. */
	rc = series_id != 0
		     ? aw__sq_stmt(c, AW_SQ_DL_SUMMARY_SERIES,
				   "SELECT status, COUNT(*), SUM(downloaded_bytes), SUM(total_bytes) "
				   "FROM download_queue WHERE series_id = ?1 AND hidden = 0 "
				   "GROUP BY status",
				   &st, err)
		     : aw__sq_stmt(c, AW_SQ_DL_SUMMARY,
				   "SELECT status, COUNT(*), SUM(downloaded_bytes), SUM(total_bytes) "
				   "FROM download_queue WHERE hidden = 0 GROUP BY status",
				   &st, err);
	res = rc == 0 ? aw__pb_new(mem, &aniworld__v1__get_queue_summary_response__descriptor)
		      : NULL;
	if (rc == 0 && res == NULL)
		rc = aw_err_set(err, AW_ENOMEM, "out of memory summing up the queue");
	if (rc == 0) {
		if (series_id != 0)
			sqlite3_bind_int64(st, 1, series_id);
		while ((step = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t n = sqlite3_column_int64(st, 1);
			int64_t *count[] = {NULL,
					    &res->pending_count,
					    &res->downloading_count,
					    &res->paused_count,
					    &res->completed_count,
					    &res->failed_count,
					    &res->cancelled_count};
			int s = sqlite3_column_int(st, 0);

			if (s >= 1 && s <= AW_DL_STATUS_MAX)
				*count[s] = n;
			res->total_count += n;
			res->downloaded_bytes += sqlite3_column_int64(st, 2);
			res->total_bytes += sqlite3_column_int64(st, 3);
		}
		if (step != SQLITE_DONE)
			rc = aw__sq_error(c->db, step, "summing up the queue", err);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	aw__sq_reader_put(sq(r), c);
	if (rc != 0) {
		if (res != NULL)
			protobuf_c_message_free_unpacked(&res->base, mem);
		return rc;
	}
	*out = res;
	return 0;
}

/* AW_ENOTFOUND unless series `id` exists; read in the write transaction. */
static int series_exists(aw_sq_conn *c, int64_t id, aw_err *err)
{
	sqlite3_stmt *st;
	int rc = aw__sq_stmt(c, AW_SQ_DL_SERIES_EXISTS, "SELECT 1 FROM anime_series WHERE id = ?1",
			     &st, err);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return aw_err_set(err, AW_ENOTFOUND, "series %lld not found", (long long)id);
	return aw__sq_error(c->db, rc, "looking for a series", err);
}

/*
 * A bulk status change: the transition of TRANSITION_SET for every item in
 * status ?1 (one range of the order index per status) of series ?7 (0: all).
 * When ?8 is set (the rule's target is unfinished), an item whose episode
 * has another unfinished item (?9, the set), or a newer item in the same
 * status, is left alone, so that the unique index on unfinished items never
 * refuses the statement.
 */
#define BULK_SQL                                                                              \
	"UPDATE download_queue SET " TRANSITION_SET                                           \
	"WHERE status = ?1 AND hidden = 0 AND (?3 >> status) & 1 AND "                        \
	"(?7 = 0 OR series_id = ?7) AND "                                                     \
	"(?8 = 0 OR NOT EXISTS (SELECT 1 FROM download_queue AS o "                           \
	"WHERE o.series_id = download_queue.series_id AND o.season = download_queue.season " \
	"AND o.episode_number = download_queue.episode_number AND o.id <> download_queue.id " \
	"AND ((?9 >> o.status) & 1 OR (o.status = download_queue.status AND "                 \
	"o.id > download_queue.id)))) RETURNING " DL_COLUMNS

int aw__sq_downloads_bulk_transition(aw_repo *r, const aw_download_rule *rule, unsigned statuses,
				     int64_t series_id, int64_t now_us, ProtobufCAllocator *mem,
				     aw_download_changes *changed, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc = series_id != 0 ? series_exists(c, series_id, err) : 0;

	if (rc == 0)
		rc = aw__sq_stmt(c, AW_SQ_DL_BULK, BULK_SQL, &st, err);
	for (int s = 1; rc == 0 && s <= AW_DL_STATUS_MAX; s++) {
		if (!(statuses & rule->from & AW_DL_BIT(s)))
			continue;
		sqlite3_bind_int(st, 1, s);
		sqlite3_bind_int64(st, 2, now_us);
		sqlite3_bind_int64(st, 3, rule->from);
		sqlite3_bind_int(st, 4, rule->to);
		sqlite3_bind_int64(st, 5, rule->effects);
		aw__sq_bind_text(st, 6, "");
		sqlite3_bind_int64(st, 7, series_id);
		sqlite3_bind_int(st, 8, (AW_DL_UNFINISHED & AW_DL_BIT(rule->to)) != 0);
		sqlite3_bind_int64(st, 9, AW_DL_UNFINISHED);
		rc = step_all(c, st, "changing downloads' status", mem, changed, EV_UPDATED, err);
	}
	return rc;
}

int aw__sq_downloads_clear(aw_repo *r, unsigned statuses, int64_t before_us, int64_t series_id,
			   ProtobufCAllocator *mem, aw_download_changes *deleted, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc = series_id != 0 ? series_exists(c, series_id, err) : 0;

	/* One DELETE per status, each a range of the order index. */
	if (rc == 0)
		rc = aw__sq_stmt(c, AW_SQ_DL_CLEAR,
				 "DELETE FROM download_queue WHERE status = ?1 AND hidden = 0 AND "
				 "updated_at < ?2 AND (?3 = 0 OR series_id = ?3) RETURNING " DL_COLUMNS,
				 &st, err);
	for (int s = 1; rc == 0 && s <= AW_DL_STATUS_MAX; s++) {
		if (!(statuses & AW_DL_BIT(s)))
			continue;
		sqlite3_bind_int(st, 1, s);
		sqlite3_bind_int64(st, 2, before_us);
		sqlite3_bind_int64(st, 3, series_id);
		rc = step_all(c, st, "clearing finished downloads", mem, deleted, EV_DELETED, err);
	}
	return rc;
}

/* Where an item is in the queue order: its status, priority and position. */
typedef struct place {
	int status, priority;
	int64_t position;
} place;

static int place_of(aw_sq_conn *c, int64_t id, place *p, aw_err *err)
{
	sqlite3_stmt *st;
	int rc = aw__sq_stmt(c, AW_SQ_DL_PLACE,
			     "SELECT status, priority, queue_position FROM download_queue "
			     "WHERE id = ?1",
			     &st, err);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		p->status = sqlite3_column_int(st, 0);
		p->priority = sqlite3_column_int(st, 1);
		p->position = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return aw_err_set(err, AW_ENOTFOUND, "download %lld not found", (long long)id);
	return aw__sq_error(c->db, rc, "reading a download's place", err);
}

/* Runs `st` (bindings done) for the one integer it returns in *out; *found
 * says whether there was a row (and a non-NULL value). */
static int step_int(aw_sq_conn *c, sqlite3_stmt *st, int64_t *out, int *found, aw_err *err)
{
	int rc = sqlite3_step(st);

	*found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
	if (*found)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return aw__sq_error(c->db, rc, "reading the queue order", err);
	return 0;
}

int aw__sq_downloads_move(aw_repo *r, int64_t id, int64_t before_id, int64_t now_us,
			  ProtobufCAllocator *mem, aw_download_changes *moved,
			  Aniworld__V1__DownloadQueueItem **out, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	place a, b;
	sqlite3_stmt *st;
	int64_t position = 0, prev = 0;
	int found = 0, rc;

	*out = NULL;
	rc = place_of(c, id, &a, err);
	if (rc == 0 && before_id == 0) {
		/* Behind every item of its priority. */
		rc = aw__sq_stmt(c, AW_SQ_DL_LAST_POSITION,
				 "SELECT MAX(queue_position) FROM download_queue WHERE priority = ?1",
				 &st, err);
		if (rc == 0) {
			sqlite3_bind_int(st, 1, a.priority);
			rc = step_int(c, st, &position, &found, err);
		}
		position = found ? position + 1 : a.position;
		goto store;
	}
	if (rc == 0)
		rc = place_of(c, before_id, &b, err);
	if (rc != 0)
		return rc;
	if (a.priority != b.priority)
		return aw_err_set(err, AW_EPRECOND,
				  "download %lld has priority %d and download %lld %d: MoveDownload "
				  "moves within one priority (change it with UpdateDownload first)",
				  (long long)id, a.priority, (long long)before_id, b.priority);
	/* The item before `before_id` in its status and priority: one probe of
	 * the order index, backwards. */
	rc = aw__sq_stmt(c, AW_SQ_DL_PREV_POSITION,
			 "SELECT queue_position FROM download_queue WHERE status = ?1 AND "
			 "hidden = 0 AND priority = ?2 AND (queue_position, id) < (?3, ?4) AND id <> ?5 "
			 "ORDER BY priority DESC, queue_position DESC, id DESC LIMIT 1",
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int(st, 1, b.status);
	sqlite3_bind_int(st, 2, b.priority);
	sqlite3_bind_int64(st, 3, b.position);
	sqlite3_bind_int64(st, 4, before_id);
	sqlite3_bind_int64(st, 5, id);
	rc = step_int(c, st, &prev, &found, err);
	if (rc != 0)
		return rc;
	if (!found) {
		position = b.position - 1;
	} else if (b.position - prev >= 2) {
		position = prev + (b.position - prev) / 2;
	} else {
		/* No room between them: `before_id` and everything after it in
		 * its priority move back by 2. */
		rc = aw__sq_stmt(c, AW_SQ_DL_MAKE_ROOM,
				 "UPDATE download_queue SET queue_position = queue_position + 2, "
				 "version = version + 1 "
				 "WHERE priority = ?1 AND (queue_position, id) >= (?2, ?3) AND "
				 "id <> ?4 RETURNING " DL_COLUMNS,
				 &st, err);
		if (rc != 0)
			return rc;
		sqlite3_bind_int(st, 1, b.priority);
		sqlite3_bind_int64(st, 2, b.position);
		sqlite3_bind_int64(st, 3, before_id);
		sqlite3_bind_int64(st, 4, id);
		rc = step_all(c, st, "making room in the queue", mem, moved, EV_UPDATED, err);
		sqlite3_clear_bindings(st);
		if (rc != 0)
			return rc;
		position = prev + 1;
	}
store:
	if (rc != 0)
		return rc;
	rc = aw__sq_stmt(c, AW_SQ_DL_MOVE,
			 "UPDATE download_queue SET queue_position = ?2, updated_at = ?3, "
			 "version = version + 1 "
			 "WHERE id = ?1 RETURNING " DL_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, position);
	sqlite3_bind_int64(st, 3, now_us);
	return step_one(c, st, "moving a download", mem, out, err);
}
