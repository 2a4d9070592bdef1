/*
 * sqlite_int.h: what the SQLite backend's files share.
 *
 * Connections. One writer connection, used only by the writer thread; reader
 * connections in a pool, each used by one reading thread at a time and returned
 * after the read. All are opened with SQLITE_OPEN_NOMUTEX (our own rules keep
 * each connection on one thread at a time) and set, in this order:
 * busy_timeout, journal_mode=WAL (writer), synchronous=FULL or NORMAL (the
 * durability setting: power or process), foreign_keys=ON.
 * In WAL mode readers work on a snapshot and never wait for the writer.
 *
 * Statements are prepared once per connection on first use and kept
 * (SQLITE_PREPARE_PERSISTENT), in the slot named by enum aw_sq_stmt. Every
 * value is bound as a parameter; no SQL text is ever built from input.
 */
#ifndef AW_SQLITE_INT_H
#define AW_SQLITE_INT_H

#include <pthread.h>
#include <stdint.h>

#include <sqlite3.h>

#include "../episode_dict.h"
#include "../repo.h"

/* Statement slots. Each file owns a range; the SQL text lives with its user. */
enum aw_sq_stmt {
	AW_SQ_BEGIN,
	AW_SQ_COMMIT,
	AW_SQ_ROLLBACK,
	AW_SQ_SAVEPOINT,
	AW_SQ_RELEASE,
	AW_SQ_ROLLBACK_TO,
	AW_SQ_BEGIN_READ,
	AW_SQ_END_READ,

	AW_SQ_SERIES_INSERT,
	AW_SQ_SERIES_GET,
	AW_SQ_SERIES_GET_BY_KEY,
	AW_SQ_SERIES_UPDATE,
	AW_SQ_SERIES_DELETE,
	AW_SQ_SERIES_PAGE,        /* + filter variant 0..7 */
	AW_SQ_SERIES_COUNT = AW_SQ_SERIES_PAGE + 8, /* + filter variant 0..7 */
	AW_SQ_SERIES_STATE = AW_SQ_SERIES_COUNT + 8,
	AW_SQ_SERIES_HIDE_EPISODES,
	AW_SQ_SERIES_HIDE_DOWNLOADS,
	AW_SQ_SERIES_SOFT_DELETE,
	AW_SQ_SERIES_UNDELETE,
	AW_SQ_SERIES_EXPIRED,

	/* download_queue.c */
	AW_SQ_DL_INSERT,
	AW_SQ_DL_FIND_UNFINISHED,
	AW_SQ_DL_GET,
	AW_SQ_DL_STATUS,
	AW_SQ_DL_UPDATE,
	AW_SQ_DL_DELETE,
	AW_SQ_DL_REQUEUE,
	AW_SQ_DL_CLAIM,                                 /* + filter variant 0..3 */
	AW_SQ_DL_PROGRESS = AW_SQ_DL_CLAIM + 4,
	AW_SQ_DL_PURGE,
	AW_SQ_DL_OF_SERIES,
	AW_SQ_DL_TRANSITION,
	AW_SQ_DL_PAGE_STATUS,                           /* + stream 0..5 */
	AW_SQ_DL_PAGE_SERIES = AW_SQ_DL_PAGE_STATUS + AW_DL_STATUS_MAX,
	AW_SQ_DL_COUNT_STATUS,
	AW_SQ_DL_COUNT_SERIES,
	AW_SQ_DL_COUNT_STATUS_FILTERED,
	AW_SQ_DL_SUMMARY,
	AW_SQ_DL_SUMMARY_SERIES,
	AW_SQ_DL_SERIES_EXISTS,
	AW_SQ_DL_BULK,
	AW_SQ_DL_CLEAR,
	AW_SQ_DL_PLACE,
	AW_SQ_DL_LAST_POSITION,
	AW_SQ_DL_PREV_POSITION,
	AW_SQ_DL_MAKE_ROOM,
	AW_SQ_DL_MOVE,

	/* user_session.c */
	AW_SQ_SESSION_INSERT,
	AW_SQ_SESSION_GET,         /* on readers, and on the writer to explain a miss */
	AW_SQ_SESSION_AUTH,
	AW_SQ_SESSION_TOUCH,
	AW_SQ_SESSION_EXTEND,
	AW_SQ_SESSION_REVOKE,
	AW_SQ_SESSION_REVOKE_USER,
	AW_SQ_SESSION_PURGE,
	AW_SQ_SESSION_PAGE,        /* + filter variant 0..3 */
	AW_SQ_SESSION_COUNT = AW_SQ_SESSION_PAGE + 4, /* + filter variant 0..3 */

	/* episode.c */
	AW_SQ_EPISODE_INSERT = AW_SQ_SESSION_COUNT + 4,
	AW_SQ_EPISODE_GET,
	AW_SQ_EPISODE_UPDATE,
	AW_SQ_EPISODE_DELETE,
	AW_SQ_EPISODE_MARK,
	AW_SQ_EPISODE_PAGE,                          /* + 0 all series, 1 one series */
	AW_SQ_EPISODE_COUNT = AW_SQ_EPISODE_PAGE + 2, /* + 0 all, 1 one series, 2 unfiltered */

	/* request_id.c */
	AW_SQ_REQUEST_GET = AW_SQ_EPISODE_COUNT + 3,
	AW_SQ_REQUEST_FINISH,
	AW_SQ_REQUEST_PURGE,
	AW_SQ_VERSION_SERIES,      /* + the others: the version of one record */
	AW_SQ_VERSION_EPISODE,
	AW_SQ_VERSION_DOWNLOAD,
	AW_SQ_VERSION_SESSION,

	AW_SQ_STMT_COUNT
};

/* The busy timeout when the "busy_timeout_ms" setting is not given. */
#define AW_SQ_BUSY_TIMEOUT_MS 5000

typedef struct aw_sq_conn {
	sqlite3 *db;
	sqlite3_stmt *stmts[AW_SQ_STMT_COUNT];
	struct aw_sq_conn *next;     /* reader pool */
} aw_sq_conn;

typedef struct aw_sq_repo {
	aw_repo base;                /* first: an aw_sq_repo is an aw_repo */
	char *uri;                   /* what sqlite3_open_v2 is given */
	char *path;                  /* the database file; NULL for one in memory */
	int64_t busy_timeout_ms;
	aw_durability durability;    /* power: synchronous=FULL; process: NORMAL */
	char *vfs;                   /* the "vfs" setting (tests only), or NULL: the default */
	int in_savepoint;            /* the write under way has a savepoint; writer only */
	int64_t claimed_at_us;       /* the time of the request id claimed last; writer only */
	aw_sq_conn *writer;          /* writer thread only */
	pthread_mutex_t pool_mu;     /* guards the reader lists */
	aw_sq_conn *free_readers;
	aw_sq_conn **readers;        /* every reader opened, for closing */
	size_t n_readers, cap_readers;

	/* Checkpoints run on a thread of their own, off the write path (see
	 * checkpointer in sqlite.c). */
	pthread_t ckpt_thread;
	int ckpt_started;
	pthread_mutex_t ckpt_mu;     /* guards the two flags */
	pthread_cond_t ckpt_cv;
	int ckpt_wanted, ckpt_stop;
	int ckpt_next;               /* WAL size (frames) that wakes it next; writer only */
	aw_sq_conn *ckpt;            /* its connection */

	aw_event_stash events;       /* of the write transaction under way; writer only */
} aw_sq_repo;

/* ---- sqlite.c ----------------------------------------------------------------------- */

/* Maps a SQLite result to an AW_E* code with a message "<what>: <sqlite's text>",
 * storage faults led by what happened ("disk full: ", "database is read-only: ",
 * "database locked by another process (busy timeout N ms): ", "database file is
 * corrupt: ", "storage I/O error: "). This is the only place SQLITE_* codes
 * become AW_E* codes. */
int aw__sq_error(sqlite3 *db, int rc, const char *what, aw_err *err);

/* The statement in `slot`, prepared from `sql` on first use, reset and unbound. */
int aw__sq_stmt(aw_sq_conn *c, int slot, const char *sql, sqlite3_stmt **out, aw_err *err);

/* Borrows a reader connection (opening one when none is free); give it back with
 * aw__sq_reader_put(). */
int aw__sq_reader_get(aw_sq_repo *r, aw_sq_conn **out, aw_err *err);
void aw__sq_reader_put(aw_sq_repo *r, aw_sq_conn *c);

/* Runs a statement without results to completion (BEGIN, COMMIT, ...). */
int aw__sq_exec_slot(aw_sq_conn *c, int slot, const char *sql, aw_err *err);

/* Opens and closes a read transaction, so that several statements see one snapshot. */
int aw__sq_read_begin(aw_sq_conn *c, aw_err *err);
void aw__sq_read_end(aw_sq_conn *c);

/* Builds a message from the current row of `st`; `ctx` is the caller's. */
typedef int aw_sq_row_fn(sqlite3_stmt *st, const void *ctx, ProtobufCAllocator *mem,
			 ProtobufCMessage **out, aw_err *err);

/* Resets a statement and clears its bindings; NULL is a no-op. */
void aw__sq_finish(sqlite3_stmt *st);

/*
 * Steps `st`, expected to return at most one row, and builds *out from it with
 * `row`. AW_ENOTFOUND when there is no row (the caller names the record). The
 * statement is reset and unbound whatever happens.
 */
int aw__sq_step_one(aw_sq_conn *c, sqlite3_stmt *st, const char *what, aw_sq_row_fn *row,
		    const void *ctx, ProtobufCAllocator *mem, ProtobufCMessage **out, aw_err *err);

/*
 * One page of a list, from one snapshot: in a read transaction, steps `count_st`
 * (bound; its first column is the total, stored in *total clamped to int32) and
 * `page_st` (bound; asked for limit + 1 rows), building up to `limit` messages
 * into items[] (room for `limit`) with `row`, and no more than fit in
 * `max_bytes` (0: no budget; see aw__repo_page_take): it stops stepping at the
 * first row that does not fit, so memory follows the budget, not `limit`.
 * *more says whether a row beyond them exists. Both statements are reset and
 * unbound whatever happens.
 */
int aw__sq_page(aw_sq_conn *c, sqlite3_stmt *count_st, sqlite3_stmt *page_st, int limit,
		size_t max_bytes, aw_sq_row_fn *row, const void *ctx, ProtobufCAllocator *mem, void **items,
		size_t *n, int32_t *total, int *more, const char *what, aw_err *err);

/* Reads one record on a reader: SELECT statement `sql` (slot `slot`) with
 * ?1 = id, its row built into *out with `row`. AW_ENOTFOUND, "<thing> <id> not
 * found", when there is none. */
int aw__sq_get_by_id(aw_sq_repo *r, int slot, const char *sql, int64_t id, const char *thing,
		     aw_sq_row_fn *row, ProtobufCAllocator *mem, ProtobufCMessage **out,
		     aw_err *err);

/* Runs DELETE statement `sql` (slot `slot`, on the writer) with ?1 = id and
 * ?2 = if_version (its WHERE: "id = ?1 AND (?2 = 0 OR version = ?2)"). When it
 * deleted nothing: AW_ENOTFOUND, "<thing> <id> not found", or AW_EABORTED
 * (aw__sq_explain_miss with version statement `vslot`, `vsql`). */
int aw__sq_delete_by_id(aw_sq_conn *c, int slot, const char *sql, int64_t id, int64_t if_version,
			int vslot, const char *vsql, const char *thing, aw_err *err);

/*
 * After a write conditional on one record's version (if_version, 0: none)
 * changed nothing, on the writer: reads the record's version with `vsql`
 * (slot `vslot`; ?1 = id, or `key` when not NULL) and returns AW_ENOTFOUND
 * ("<thing> <id> not found") when it is missing, AW_EABORTED (stale) when it
 * is at another version, or 0 when neither explains it (the write's own
 * condition did: the caller says which).
 */
int aw__sq_explain_miss(aw_sq_conn *c, int vslot, const char *vsql, int64_t id, const char *key,
			int64_t if_version, const char *thing, aw_err *err);

/* Binds text with an explicit length; SQLITE_TRANSIENT unless the caller proves
 * the string outlives the statement's step (then SQLITE_STATIC). */
int aw__sq_bind_text(sqlite3_stmt *st, int idx, const char *s);

/* The file path of a location (without the optional "sqlite:" scheme). */
const char *aw__sq_path(const char *location);

/* ---- building messages (sqlite.c) ---------------------------------------------------- */

/* Copies column `col` as a NUL-terminated string from `mem`; "" is shared. */
char *aw__sq_col_text(sqlite3_stmt *st, int col, ProtobufCAllocator *mem);


/* ---- schema.c ------------------------------------------------------------------------- */

/* The schema version this build writes. */
int aw__sq_schema_version(void);

/* The schema version the database of `db` holds (PRAGMA user_version). */
int aw__sq_schema_read(sqlite3 *db, int *version, aw_err *err);

/* Brings the database of `db` to the current schema version, one migration
 * transaction at a time. AW_EVERSION when the file is newer than this build. */
int aw__sq_migrate(sqlite3 *db, aw_err *err);

/* ---- snapshot.c ------------------------------------------------------------------------ */

/* aw_repo_methods.snapshot: VACUUM INTO a file beside the database. */
int aw__sq_snapshot(aw_repo *r, int (*stop)(void *stop_arg), void *stop_arg, int *fd,
		    const char **format, aw_err *err);

/* aw_repo_backend.restore for the database file `path`. */
int aw__sq_restore(const char *path, const char *from, int force, aw_err *err);

/* ---- anime_series.c -------------------------------------------------------------------------- */

int aw__sq_series_create(aw_repo *r, const Aniworld__V1__AnimeSeries *in, int64_t now_us,
			 ProtobufCAllocator *mem, Aniworld__V1__AnimeSeries **out, aw_err *err);
int aw__sq_series_get(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
		      Aniworld__V1__AnimeSeries **out, aw_err *err);
int aw__sq_series_get_by_key(aw_repo *r, const char *key, ProtobufCAllocator *mem,
			     Aniworld__V1__AnimeSeries **out, aw_err *err);
int aw__sq_series_list(aw_repo *r, const Aniworld__V1__ListSeriesRequest *filter,
		       const aw_cursor *after, int limit, size_t max_bytes, ProtobufCAllocator *mem,
		       Aniworld__V1__ListSeriesResponse **out, int *more, aw_err *err);
int aw__sq_series_update(aw_repo *r, const Aniworld__V1__AnimeSeries *in, uint64_t mask, int64_t if_version,
			 int64_t now_us, ProtobufCAllocator *mem, Aniworld__V1__AnimeSeries **out,
			 aw_err *err);
int aw__sq_series_delete(aw_repo *r, int64_t id, int64_t if_version, ProtobufCAllocator *mem,
			 aw_download_changes *deleted, aw_err *err);
int aw__sq_series_soft_delete(aw_repo *r, int64_t id, int64_t if_version, int64_t now_us,
			      int64_t purge_us, aw_err *err);
int aw__sq_series_undelete(aw_repo *r, int64_t id, int64_t now_us, ProtobufCAllocator *mem,
			   Aniworld__V1__AnimeSeries **out, aw_err *err);
int aw__sq_series_expired(aw_repo *r, int64_t now_us, int64_t *ids, int max, int *n,
			  aw_err *err);

/* ---- download_queue.c ---------------------------------------------------------------------- */

int aw__sq_downloads_enqueue(aw_repo *r, const Aniworld__V1__DownloadQueueItem *in, int64_t now_us,
			     ProtobufCAllocator *mem, Aniworld__V1__DownloadQueueItem **out,
			     aw_err *err);
int aw__sq_downloads_get(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
			 Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__sq_downloads_list(aw_repo *r, const Aniworld__V1__ListDownloadsRequest *filter,
			  unsigned statuses, const aw_cursor *after, int limit, size_t max_bytes,
			  ProtobufCAllocator *mem, Aniworld__V1__ListDownloadsResponse **out,
			  int *more, aw_err *err);
int aw__sq_downloads_update(aw_repo *r, const Aniworld__V1__DownloadQueueItem *in, uint64_t mask, int64_t if_version,
			    int64_t now_us, ProtobufCAllocator *mem,
			    Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__sq_downloads_delete(aw_repo *r, int64_t id, int64_t if_version, ProtobufCAllocator *mem,
			    Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__sq_downloads_claim(aw_repo *r, int64_t now_us, int64_t stale_before_us,
			   const char *provider, const char *language,
			   ProtobufCAllocator *mem, aw_download_changes *requeued,
			   Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__sq_downloads_summary(aw_repo *r, int64_t series_id, ProtobufCAllocator *mem,
			     Aniworld__V1__GetQueueSummaryResponse **out, aw_err *err);
int aw__sq_downloads_bulk_transition(aw_repo *r, const aw_download_rule *rule, unsigned statuses,
				     int64_t series_id, int64_t now_us, ProtobufCAllocator *mem,
				     aw_download_changes *changed, aw_err *err);
int aw__sq_downloads_clear(aw_repo *r, unsigned statuses, int64_t before_us, int64_t series_id,
			   ProtobufCAllocator *mem, aw_download_changes *deleted, aw_err *err);
int aw__sq_downloads_move(aw_repo *r, int64_t id, int64_t before_id, int64_t now_us,
			  ProtobufCAllocator *mem, aw_download_changes *moved,
			  Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__sq_downloads_progress(aw_repo *r, const Aniworld__V1__ReportProgressRequest *in, int64_t if_version,
			      int64_t now_us, ProtobufCAllocator *mem,
			      Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__sq_downloads_transition(aw_repo *r, int64_t id, const aw_download_rule *rule,
				const char *error_message, int64_t if_version, int64_t now_us, ProtobufCAllocator *mem,
				Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__sq_downloads_purge(aw_repo *r, unsigned statuses, ProtobufCAllocator *mem,
			   aw_download_changes *deleted, aw_err *err);
/* Records every queue item of series `series_id` in `changes` as DELETED, in
 * id order: what deleting the series takes with it (on the writer). */
int aw__sq_downloads_of_series(aw_repo *r, int64_t series_id, ProtobufCAllocator *mem,
			       aw_download_changes *changes, aw_err *err);
/* ---- user_session.c --------------------------------------------------------------------- */

int aw__sq_session_create(aw_repo *r, const Aniworld__V1__UserSession *in,
			  const uint8_t *token_hash, int64_t now_us, ProtobufCAllocator *mem,
			  Aniworld__V1__UserSession **out, aw_err *err);
int aw__sq_session_get(aw_repo *r, const char *session_id, int64_t now_us,
		       ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err);
int aw__sq_session_list(aw_repo *r, const Aniworld__V1__ListSessionsRequest *filter,
			const aw_cursor *after, int limit, size_t max_bytes, int64_t now_us,
			ProtobufCAllocator *mem, Aniworld__V1__ListSessionsResponse **out, int *more, aw_err *err);
int aw__sq_session_auth(aw_repo *r, const char *session_id, uint8_t *token_hash,
			int *is_active, int64_t *expires_at_us, aw_err *err);
int aw__sq_session_touch(aw_repo *r, const char *session_id, int64_t now_us,
			 ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err);
int aw__sq_session_extend(aw_repo *r, const char *session_id, int64_t expires_at_us, int64_t if_version,
			  int64_t now_us, ProtobufCAllocator *mem, Aniworld__V1__UserSession **out,
			  aw_err *err);
int aw__sq_session_revoke(aw_repo *r, const char *session_id, int64_t if_version, int64_t now_us,
			  ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err);
int aw__sq_session_revoke_user(aw_repo *r, const char *user_id, int64_t now_us, int64_t *count,
			       aw_err *err);
int aw__sq_session_purge_expired(aw_repo *r, int64_t now_us, int64_t *count, aw_err *err);

/* ---- episode.c -------------------------------------------------------------------------- */

int aw__sq_episodes_create(aw_repo *r, const Aniworld__V1__Episode *in, int64_t now_us,
			   ProtobufCAllocator *mem, Aniworld__V1__Episode **out, aw_err *err);
int aw__sq_episodes_get(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
			Aniworld__V1__Episode **out, aw_err *err);
int aw__sq_episodes_list(aw_repo *r, const Aniworld__V1__ListEpisodesRequest *filter,
			 const aw_cursor *after, int limit, size_t max_bytes, ProtobufCAllocator *mem,
			 Aniworld__V1__ListEpisodesResponse **out, int *more, aw_err *err);
int aw__sq_episodes_update(aw_repo *r, const Aniworld__V1__Episode *in, uint64_t mask, int64_t if_version,
			   int64_t now_us, ProtobufCAllocator *mem, Aniworld__V1__Episode **out,
			   aw_err *err);
int aw__sq_episodes_delete(aw_repo *r, int64_t id, int64_t if_version, aw_err *err);
int aw__sq_episodes_mark_downloaded(aw_repo *r, const Aniworld__V1__MarkEpisodeDownloadedRequest *in, int64_t if_version,
				    int64_t now_us, ProtobufCAllocator *mem,
				    Aniworld__V1__Episode **out, aw_err *err);

/* ---- request_id.c ----------------------------------------------------------------------- */

int aw__sq_request_claim(aw_repo *r, const aw_request_id *rid, int64_t now_us,
			 aw_request_record *rec, int *found, aw_err *err);
int aw__sq_request_finish(aw_repo *r, const aw_request_id *rid, int code, const char *message,
			  const uint8_t *reply, size_t reply_len, aw_err *err);
int aw__sq_request_purge(aw_repo *r, int64_t before_us, int limit, int64_t *count, aw_err *err);

#endif /* AW_SQLITE_INT_H */
