/*
 * postgres_int.h: what the PostgreSQL backend's files share.
 *
 * Connections. One writer connection, used only by the thread running the
 * write batch (the group-commit writer); reader connections in a pool of at
 * most `pool_size`, each borrowed by one reading thread at a time; and one
 * probe connection for the monitor thread, which notices the database going
 * away and coming back when no call does. Every connection is non-blocking:
 * each statement is sent, then its answer is awaited with poll() for at most
 * `query_timeout_ms`, and never past the deadline of the call it works for
 * (aw__repo_deadline), so that no call waits on a database that has gone away
 * longer than either. A connection that times out or breaks is closed and
 * opened again on its next use, but never in the middle of a transaction: the
 * statements after a lost BEGIN must not run in autocommit.
 *
 * Statements are prepared once per connection on first use (PQsendPrepare),
 * in the slot named by enum aw_pg_stmt, and run with every value bound as a
 * parameter (text format, except token hashes, which are bound as binary
 * bytea); results come back in binary format. No SQL text is built from
 * input.
 */
#ifndef AW_POSTGRES_INT_H
#define AW_POSTGRES_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "../episode_dict.h"
#include "../repo.h"

/* Statement slots. Each file owns a range; the SQL text lives with its user. */
enum aw_pg_stmt {
	AW_PG_SERIES_INSERT,
	AW_PG_SERIES_GET,
	AW_PG_SERIES_GET_BY_KEY,
	AW_PG_SERIES_UPDATE,
	AW_PG_SERIES_DELETE,
	AW_PG_SERIES_PAGE,                          /* + filter variant 0..7 */
	AW_PG_SERIES_COUNT = AW_PG_SERIES_PAGE + 8, /* + filter variant 0..7 */
	AW_PG_SERIES_STATE = AW_PG_SERIES_COUNT + 8,
	AW_PG_SERIES_HIDE_EPISODES,
	AW_PG_SERIES_HIDE_DOWNLOADS,
	AW_PG_SERIES_SOFT_DELETE,
	AW_PG_SERIES_UNDELETE,
	AW_PG_SERIES_EXPIRED,

	/* download_queue.c */
	AW_PG_DL_INSERT,
	AW_PG_DL_FIND_UNFINISHED,
	AW_PG_DL_GET,
	AW_PG_DL_STATUS,
	AW_PG_DL_UPDATE,
	AW_PG_DL_DELETE,
	AW_PG_DL_REQUEUE,
	AW_PG_DL_CLAIM,                 /* + filter variant 0..3 */
	AW_PG_DL_PROGRESS = AW_PG_DL_CLAIM + 4,
	AW_PG_DL_PURGE,
	AW_PG_DL_OF_SERIES,
	AW_PG_DL_TRANSITION,
	AW_PG_DL_PAGE_STATUS,
	AW_PG_DL_PAGE_SERIES,
	AW_PG_DL_COUNT_STATUS,
	AW_PG_DL_COUNT_SERIES,
	AW_PG_DL_COUNT_STATUS_FILTERED,
	AW_PG_DL_SUMMARY,
	AW_PG_DL_SUMMARY_SERIES,
	AW_PG_DL_SERIES_EXISTS,
	AW_PG_DL_BULK,
	AW_PG_DL_CLEAR,
	AW_PG_DL_PLACE,
	AW_PG_DL_LAST_POSITION,
	AW_PG_DL_PREV_POSITION,
	AW_PG_DL_MAKE_ROOM,
	AW_PG_DL_MOVE,

	/* user_session.c */
	AW_PG_SESSION_INSERT,
	AW_PG_SESSION_GET,
	AW_PG_SESSION_AUTH,
	AW_PG_SESSION_TOUCH,
	AW_PG_SESSION_EXTEND,
	AW_PG_SESSION_REVOKE,
	AW_PG_SESSION_REVOKE_USER,
	AW_PG_SESSION_PURGE,
	AW_PG_SESSION_PAGE,                           /* + filter variant 0..3 */
	AW_PG_SESSION_COUNT = AW_PG_SESSION_PAGE + 4, /* + filter variant 0..3 */

	/* episode.c */
	AW_PG_EPISODE_INSERT = AW_PG_SESSION_COUNT + 4,
	AW_PG_EPISODE_GET,
	AW_PG_EPISODE_UPDATE,
	AW_PG_EPISODE_TAKEN,
	AW_PG_EPISODE_DELETE,
	AW_PG_EPISODE_MARK,
	AW_PG_EPISODE_PAGE,                           /* + 0 all series, 1 one series */
	AW_PG_EPISODE_COUNT = AW_PG_EPISODE_PAGE + 2, /* + 0 all, 1 one series, 2 unfiltered */

	/* events.c */
	AW_PG_EV_NOTIFY = AW_PG_EPISODE_COUNT + 3,
	AW_PG_EV_OUTBOX_PUT,
	AW_PG_EV_OUTBOX_GET,

	/* request_id.c */
	AW_PG_REQUEST_CLAIM,
	AW_PG_REQUEST_GET,
	AW_PG_REQUEST_FINISH,
	AW_PG_REQUEST_PURGE,
	AW_PG_VERSION_SERIES,      /* + the others: the version of one record */
	AW_PG_VERSION_EPISODE,
	AW_PG_VERSION_DOWNLOAD,
	AW_PG_VERSION_SESSION,

	AW_PG_STMT_COUNT
};

/* Defaults of the backend's settings. */
#define AW_PG_POOL_SIZE 4            /* "pool_size": reader connections at most */
#define AW_PG_QUERY_TIMEOUT_MS 5000  /* "query_timeout_ms": longest wait for one answer */

typedef struct aw_pg_repo aw_pg_repo;
typedef struct aw_pg_listener aw_pg_listener;
typedef struct aw_pg_sent aw_pg_sent;

typedef struct aw_pg_conn {
	aw_pg_repo *repo;
	PGconn *pg;                  /* NULL: closed, opened again on next use */
	uint64_t prepared[(AW_PG_STMT_COUNT + 63) / 64]; /* slots prepared on `pg` */
	int in_txn;                  /* a transaction is open (never reconnect then) */
	int reader;                  /* a pool connection: generic plans (conn_set) */
	int may_retry;               /* reused since it was last checked: a statement that
				        finds it dead may run again on a new one */
	int quiet;                   /* such a first attempt: its failure is not an outage */
	int timed_out;               /* the last failure was a time-out */
	/* The writer's savepoint for the write under way (see pg_write_begin). */
	int sp_wanted;               /* to be sent along with the write's first statement */
	int sp_open;                 /* sent: the write under way has one */
	int release_pending;         /* the last write's savepoint is still to be released */
	/* The writer's pipelined writes (see pg_write_mode in postgres.c). */
	int mode;                    /* AW_REPO_WRITE_RUN, _SEND or _COLLECT */
	int sent_now;                /* the write under way (SEND) has sent its statement */
	aw_pg_sent *sent;            /* sent[first_sent..n_sent): sent, not yet collected */
	int first_sent, n_sent, cap_sent;
	int synced;                  /* a sync follows the last of them */
	unsigned sp_seq;             /* names their savepoints: "p<seq>" */
	unsigned collected_sp;       /* the savepoint of the write just collected (0: none) */
	int collected;               /* write_end is about a collected write */
	struct aw_pg_conn *next;     /* reader pool */
} aw_pg_conn;

struct aw_pg_repo {
	aw_repo base;                /* first: an aw_pg_repo is an aw_repo */
	char *uri;                   /* the location as given (may hold a password) */
	char shown[512];             /* the location as it may be shown (redacted) */
	int pool_size;
	int query_timeout_ms;
	aw_pg_conn *writer;          /* writer thread only */
	aw_event_stash events;       /* change events of the transaction; writer only */
	uint64_t event_seq;          /* numbers the events sent (events.c); writer only */
	aw_pg_listener *listener;    /* hears every replica's events (events.c); NULL: none */

	pthread_mutex_t pool_mu;     /* guards the reader pool */
	pthread_cond_t pool_cv;      /* signalled when a reader is given back */
	aw_pg_conn *free_readers;
	aw_pg_conn **readers;        /* every reader made, for closing */
	int n_readers;

	/* Reachability (see aw__pg_reachable). */
	atomic_int unreachable;      /* last known state: 1 while the database cannot be reached */
	pthread_mutex_t event_mu;    /* serialises state changes and their reports */

	/* The monitor thread and its probe connection. */
	pthread_t monitor;
	int monitor_started;
	pthread_mutex_t monitor_mu;
	pthread_cond_t monitor_cv;
	int monitor_stop;
	int monitor_poked;           /* a call asked for a probe now (monitor_wake) */
	aw_pg_conn *probe;
};

/* ---- parameters ------------------------------------------------------------------------- */

#define AW_PG_MAX_PARAMS 16

/* Bound values of one statement, $1, $2, ... in the order they are added. The
 * values point into `buf` (numbers) or at the caller's strings, which must
 * outlive the statement's run. */
typedef struct aw_pg_params {
	int n;
	const char *values[AW_PG_MAX_PARAMS];
	int lengths[AW_PG_MAX_PARAMS];
	int formats[AW_PG_MAX_PARAMS];
	char buf[AW_PG_MAX_PARAMS][32];
} aw_pg_params;

void aw__pg_p_int(aw_pg_params *p, int64_t v);
void aw__pg_p_double(aw_pg_params *p, double v);
void aw__pg_p_text(aw_pg_params *p, const char *s); /* NULL binds "" */
void aw__pg_p_null(aw_pg_params *p);
void aw__pg_p_bytes(aw_pg_params *p, const void *data, int len);

/* ---- postgres.c ------------------------------------------------------------------------- */

/*
 * Maps a failed statement to an AW_E* code with a message "<what>: <the
 * server's text>". This is the only place SQLSTATEs become AW_E* codes:
 * 23505 AW_EEXIST, 23503 AW_ENOTFOUND (a foreign key: the parent is missing),
 * other 23xxx AW_EINVAL, class 08, 57P01..57P03 and a broken connection
 * AW_EUNAVAIL ("database unavailable: ..."), 40001 and 40P01 AW_EABORTED (the
 * writer runs such a batch again, see writer.c), 53100
 * AW_EFULL, 25006 AW_EREADONLY, XX001/XX002 AW_ECORRUPT, anything else
 * AW_EIO. `res` may be NULL (no answer). A connection-level failure closes the
 * connection and marks the database unreachable.
 */
int aw__pg_error(aw_pg_conn *c, const PGresult *res, const char *what, aw_err *err);

/*
 * Runs the statement of `slot` (prepared from `sql` on first use on this
 * connection) with parameters `p` (NULL: none), results in binary. *out is
 * the result (free with PQclear) when the statement succeeded; otherwise the
 * error is mapped by aw__pg_error. Never reconnects (see aw__pg_ready).
 */
int aw__pg_run(aw_pg_conn *c, int slot, const char *sql, const aw_pg_params *p,
	       const char *what, PGresult **out, aw_err *err);

/* Runs SQL text without parameters (transaction control, several statements
 * separated by semicolons), results in text: 0 or the first error. *out
 * (unless NULL) is the last result; free it with PQclear. */
int aw__pg_exec(aw_pg_conn *c, const char *sql, int timeout_ms, PGresult **out, aw_err *err);

/* Makes sure `c` is connected, opening it again if it was closed or broke
 * (only between transactions). AW_EUNAVAIL when the database cannot be reached. */
int aw__pg_ready(aw_pg_conn *c, aw_err *err);

/* Borrows a reader connection, waiting up to query_timeout_ms for one to be
 * free (AW_EOVERLOAD after that); give it back with aw__pg_reader_put(). */
int aw__pg_reader_get(aw_pg_repo *r, aw_pg_conn **out, aw_err *err);
void aw__pg_reader_put(aw_pg_repo *r, aw_pg_conn *c);

/* Records whether the database answered (ok) or could not be reached, and on
 * a change tells the repository's owner (AW_REPO_REACHABLE/UNREACHABLE). */
void aw__pg_reachable(aw_pg_repo *r, int ok, const aw_err *err);

/* Builds a message from row `row` of `res`; `ctx` is the caller's. */
typedef int aw_pg_row_fn(const PGresult *res, int row, const void *ctx, ProtobufCAllocator *mem,
			 ProtobufCMessage **out, aw_err *err);

/* Runs a statement expected to return at most one row and builds *out from it
 * with `row`. AW_ENOTFOUND (message unset) when there is no row. */
int aw__pg_one(aw_pg_conn *c, int slot, const char *sql, const aw_pg_params *p, const char *what,
	       aw_pg_row_fn *row, const void *ctx, ProtobufCAllocator *mem, ProtobufCMessage **out,
	       aw_err *err);

/*
 * One page of a list, from one snapshot: in a REPEATABLE READ READ ONLY
 * transaction, sent with both statements in one pipeline (one round trip),
 * runs the count statement (its first column of its one row is the total, clamped to int32)
 * and the page statement (asked for limit + 1 rows), building up to `limit`
 * messages into items[] with `row`, fewer when the next would not fit in
 * `max_bytes` (aw__repo_page_take); *more says whether a row beyond them
 * exists.
 */
int aw__pg_page(aw_pg_conn *c, int count_slot, const char *count_sql, const aw_pg_params *count_p,
		int page_slot, const char *page_sql, const aw_pg_params *page_p, int limit,
		size_t max_bytes, aw_pg_row_fn *row, const void *ctx, ProtobufCAllocator *mem, void **items, size_t *n,
		int32_t *total, int *more, const char *what, aw_err *err);

/* Reads one record on a reader with $1 = id; AW_ENOTFOUND "<thing> <id> not
 * found" when there is none. */
int aw__pg_get_by_id(aw_pg_repo *r, int slot, const char *sql, int64_t id, const char *thing,
		     aw_pg_row_fn *row, ProtobufCAllocator *mem, ProtobufCMessage **out,
		     aw_err *err);

/* Runs DELETE `sql` on the writer with $1 = id and $2 = if_version (its WHERE:
 * "id = $1 AND ($2 = 0 OR version = $2)"). When it deleted nothing:
 * AW_ENOTFOUND "<thing> <id> not found", or AW_EABORTED (aw__pg_explain_miss
 * with version statement `vslot`, `vsql`). */
int aw__pg_delete_by_id(aw_pg_conn *c, int slot, const char *sql, int64_t id, int64_t if_version,
			int vslot, const char *vsql, const char *thing, aw_err *err);

/*
 * After a write conditional on one record's version (if_version, 0: none)
 * changed nothing, on the writer: reads the record's version with `vsql`
 * ($1 = id, or `key` when not NULL) and returns AW_ENOTFOUND ("<thing> <id>
 * not found") when it is missing, AW_EABORTED (stale) when it is at another
 * version, or 0 when neither explains it (the write's own condition did).
 * Under READ COMMITTED it sees what a concurrent writer committed.
 */
int aw__pg_explain_miss(aw_pg_conn *c, int vslot, const char *vsql, int64_t id, const char *key,
			int64_t if_version, const char *thing, aw_err *err);

/* ---- reading binary results (postgres.c) -------------------------------------------------- */

/* An integer column of any width (smallint, integer, bigint, boolean). */
int64_t aw__pg_int(const PGresult *res, int row, int col);
/* A double precision column. */
double aw__pg_double(const PGresult *res, int row, int col);
/* Whether the column is NULL. */
int aw__pg_isnull(const PGresult *res, int row, int col);
/* A text column copied with `mem` (NUL-terminated; "" is shared); NULL when
 * out of memory. */
char *aw__pg_text(const PGresult *res, int row, int col, ProtobufCAllocator *mem);
/* The number of rows a command changed (its tag), e.g. UPDATE 3. */
int64_t aw__pg_changes(const PGresult *res);

/* ---- events.c ------------------------------------------------------------------------ */

/* The backend's downloads_publish: stashes `ev` with the write under way
 * (r->events; the writer undoes and clears it with the transaction). */
int aw__pg_downloads_publish(aw_repo *r, const Aniworld__V1__DownloadEvent *ev, aw_err *err);
/* Sends the transaction's stashed events (NOTIFY, the outbox for large ones)
 * inside it, in order: called just before COMMIT. */
int aw__pg_events_flush(aw_pg_repo *r, aw_err *err);
/* The backend's start: connects and LISTENs, then starts the listener thread
 * that hands every replica's committed events to the hook (nothing without a
 * hook). AW_EUNAVAIL, AW_ENOMEM. */
int aw__pg_events_start(aw_repo *r, aw_err *err);
/* The backend's events_sync: notifies a marker in a transaction of its own and
 * waits for the listener to read it back. AW_ETIMEDOUT, AW_EUNAVAIL (also when
 * the listener lost its connection meanwhile, or is not listening). */
int aw__pg_events_sync(aw_repo *r, int timeout_ms, aw_err *err);
/* The backend's events_sync_start: the listener thread notifies a marker on
 * its own connection and runs done(arg, ...) when it reads it back (or
 * AW_ETIMEDOUT, AW_EUNAVAIL); at once without a listener. AW_ENOMEM. */
int aw__pg_events_sync_start(aw_repo *r, int timeout_ms, aw_repo_synced_fn *done, void *arg,
			     aw_err *err);
/* Stops the listener thread and closes its connection; no-op without one. */
void aw__pg_events_stop(aw_pg_repo *r);

/* ---- schema.c ------------------------------------------------------------------------- */

/* The schema version this build writes. */
int aw__pg_schema_version(void);

/* The schema version the database holds (0: none), on a connection of the
 * caller's, blocking (bulk.c). */
int aw__pg_schema_read(PGconn *pg, int *version, aw_err *err);


/* Brings the database to the current schema version under an advisory lock,
 * so that replicas started together migrate once; each migration in its own
 * transaction with its version row. AW_EVERSION when the database is newer. */
int aw__pg_migrate(aw_pg_conn *c, aw_err *err);

/* ---- anime_series.c -------------------------------------------------------------------------- */

int aw__pg_series_create(aw_repo *r, const Aniworld__V1__AnimeSeries *in, int64_t now_us,
			 ProtobufCAllocator *mem, Aniworld__V1__AnimeSeries **out, aw_err *err);
int aw__pg_series_get(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
		      Aniworld__V1__AnimeSeries **out, aw_err *err);
int aw__pg_series_get_by_key(aw_repo *r, const char *key, ProtobufCAllocator *mem,
			     Aniworld__V1__AnimeSeries **out, aw_err *err);
int aw__pg_series_list(aw_repo *r, const Aniworld__V1__ListSeriesRequest *filter,
		       const aw_cursor *after, int limit, size_t max_bytes, ProtobufCAllocator *mem,
		       Aniworld__V1__ListSeriesResponse **out, int *more, aw_err *err);
int aw__pg_series_update(aw_repo *r, const Aniworld__V1__AnimeSeries *in, uint64_t mask, int64_t if_version,
			 int64_t now_us, ProtobufCAllocator *mem, Aniworld__V1__AnimeSeries **out,
			 aw_err *err);
int aw__pg_series_delete(aw_repo *r, int64_t id, int64_t if_version, ProtobufCAllocator *mem,
			 aw_download_changes *deleted, aw_err *err);
int aw__pg_series_soft_delete(aw_repo *r, int64_t id, int64_t if_version, int64_t now_us,
			      int64_t purge_us, aw_err *err);
int aw__pg_series_undelete(aw_repo *r, int64_t id, int64_t now_us, ProtobufCAllocator *mem,
			   Aniworld__V1__AnimeSeries **out, aw_err *err);
int aw__pg_series_expired(aw_repo *r, int64_t now_us, int64_t *ids, int max, int *n,
			  aw_err *err);

/* ---- download_queue.c ---------------------------------------------------------------------- */

int aw__pg_downloads_enqueue(aw_repo *r, const Aniworld__V1__DownloadQueueItem *in, int64_t now_us,
			     ProtobufCAllocator *mem, Aniworld__V1__DownloadQueueItem **out,
			     aw_err *err);
int aw__pg_downloads_get(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
			 Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__pg_downloads_list(aw_repo *r, const Aniworld__V1__ListDownloadsRequest *filter,
			  unsigned statuses, const aw_cursor *after, int limit, size_t max_bytes,
			  ProtobufCAllocator *mem, Aniworld__V1__ListDownloadsResponse **out,
			  int *more, aw_err *err);
int aw__pg_downloads_update(aw_repo *r, const Aniworld__V1__DownloadQueueItem *in, uint64_t mask, int64_t if_version,
			    int64_t now_us, ProtobufCAllocator *mem,
			    Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__pg_downloads_delete(aw_repo *r, int64_t id, int64_t if_version, ProtobufCAllocator *mem,
			    Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__pg_downloads_claim(aw_repo *r, int64_t now_us, int64_t stale_before_us,
			   const char *provider, const char *language,
			   ProtobufCAllocator *mem, aw_download_changes *requeued,
			   Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__pg_downloads_summary(aw_repo *r, int64_t series_id, ProtobufCAllocator *mem,
			     Aniworld__V1__GetQueueSummaryResponse **out, aw_err *err);
int aw__pg_downloads_bulk_transition(aw_repo *r, const aw_download_rule *rule, unsigned statuses,
				     int64_t series_id, int64_t now_us, ProtobufCAllocator *mem,
				     aw_download_changes *changed, aw_err *err);
int aw__pg_downloads_clear(aw_repo *r, unsigned statuses, int64_t before_us, int64_t series_id,
			   ProtobufCAllocator *mem, aw_download_changes *deleted, aw_err *err);
int aw__pg_downloads_move(aw_repo *r, int64_t id, int64_t before_id, int64_t now_us,
			  ProtobufCAllocator *mem, aw_download_changes *moved,
			  Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__pg_downloads_progress(aw_repo *r, const Aniworld__V1__ReportProgressRequest *in, int64_t if_version,
			      int64_t now_us, ProtobufCAllocator *mem,
			      Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__pg_downloads_transition(aw_repo *r, int64_t id, const aw_download_rule *rule,
				const char *error_message, int64_t if_version, int64_t now_us, ProtobufCAllocator *mem,
				Aniworld__V1__DownloadQueueItem **out, aw_err *err);
int aw__pg_downloads_purge(aw_repo *r, unsigned statuses, ProtobufCAllocator *mem,
			   aw_download_changes *deleted, aw_err *err);
/* Records every queue item of series `series_id` in `changes` as DELETED, in
 * id order: what deleting the series takes with it (on the writer). */
int aw__pg_downloads_of_series(aw_repo *r, int64_t series_id, ProtobufCAllocator *mem,
			       aw_download_changes *changes, aw_err *err);

/* ---- user_session.c --------------------------------------------------------------------- */

int aw__pg_session_create(aw_repo *r, const Aniworld__V1__UserSession *in,
			  const uint8_t *token_hash, int64_t now_us, ProtobufCAllocator *mem,
			  Aniworld__V1__UserSession **out, aw_err *err);
int aw__pg_session_get(aw_repo *r, const char *session_id, int64_t now_us,
		       ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err);
int aw__pg_session_list(aw_repo *r, const Aniworld__V1__ListSessionsRequest *filter,
			const aw_cursor *after, int limit, size_t max_bytes, int64_t now_us,
			ProtobufCAllocator *mem, Aniworld__V1__ListSessionsResponse **out, int *more, aw_err *err);
int aw__pg_session_auth(aw_repo *r, const char *session_id, uint8_t *token_hash,
			int *is_active, int64_t *expires_at_us, aw_err *err);
int aw__pg_session_touch(aw_repo *r, const char *session_id, int64_t now_us,
			 ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err);
int aw__pg_session_extend(aw_repo *r, const char *session_id, int64_t expires_at_us, int64_t if_version,
			  int64_t now_us, ProtobufCAllocator *mem, Aniworld__V1__UserSession **out,
			  aw_err *err);
int aw__pg_session_revoke(aw_repo *r, const char *session_id, int64_t if_version, int64_t now_us,
			  ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err);
int aw__pg_session_revoke_user(aw_repo *r, const char *user_id, int64_t now_us, int64_t *count,
			       aw_err *err);
int aw__pg_session_purge_expired(aw_repo *r, int64_t now_us, int64_t *count, aw_err *err);

/* ---- episode.c -------------------------------------------------------------------------- */

int aw__pg_episodes_create(aw_repo *r, const Aniworld__V1__Episode *in, int64_t now_us,
			   ProtobufCAllocator *mem, Aniworld__V1__Episode **out, aw_err *err);
int aw__pg_episodes_get(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
			Aniworld__V1__Episode **out, aw_err *err);
int aw__pg_episodes_list(aw_repo *r, const Aniworld__V1__ListEpisodesRequest *filter,
			 const aw_cursor *after, int limit, size_t max_bytes, ProtobufCAllocator *mem,
			 Aniworld__V1__ListEpisodesResponse **out, int *more, aw_err *err);
int aw__pg_episodes_update(aw_repo *r, const Aniworld__V1__Episode *in, uint64_t mask, int64_t if_version,
			   int64_t now_us, ProtobufCAllocator *mem, Aniworld__V1__Episode **out,
			   aw_err *err);
int aw__pg_episodes_delete(aw_repo *r, int64_t id, int64_t if_version, aw_err *err);
int aw__pg_episodes_mark_downloaded(aw_repo *r, const Aniworld__V1__MarkEpisodeDownloadedRequest *in, int64_t if_version,
				    int64_t now_us, ProtobufCAllocator *mem,
				    Aniworld__V1__Episode **out, aw_err *err);

/* ---- request_id.c ----------------------------------------------------------------------- */

int aw__pg_request_claim(aw_repo *r, const aw_request_id *rid, int64_t now_us,
			 aw_request_record *rec, int *found, aw_err *err);
int aw__pg_request_finish(aw_repo *r, const aw_request_id *rid, int code, const char *message,
			  const uint8_t *reply, size_t reply_len, aw_err *err);
int aw__pg_request_purge(aw_repo *r, int64_t before_us, int limit, int64_t *count, aw_err *err);

#endif /* AW_POSTGRES_INT_H */
