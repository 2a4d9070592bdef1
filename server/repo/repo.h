/*
 * repo.h: the repository, the storage interface the services call.
 *
 * A backend is a table of function pointers (struct aw_repo_methods), in the
 * manner of SQLite's sqlite3_vfs: a backend's own struct embeds struct aw_repo
 * as its first member, and a new backend is a new file chosen by the URL
 * scheme of the configured database (see aw_repo_open). Services never touch
 * ->methods: they call the aw_repo_* wrappers declared below (implemented one
 * entity per file: repo/anime_series.c, ...), where the checks live.
 *
 * Messages. The repository takes and returns the protobuf-c structs generated
 * from proto/: there is no second model. Results are allocated with the
 * request's ProtobufCAllocator (the call's arena in the server; NULL means the
 * system allocator, freed with protobuf_c_message_free_unpacked(msg, NULL)).
 *
 * Requests and outcomes. Every operation takes an aw_repo_req, storage the
 * caller owns, and reports exactly once through req->done:
 *   - reads run on the calling thread and report before the wrapper returns;
 *   - writes go to the writer (writer.c), which gathers concurrent writes into
 *     one transaction (group commit) and reports each of them only after that
 *     transaction has committed, so an acknowledged write is durable. A write
 *     that fails rolls back alone (savepoint); the others still commit. With
 *     no other write under way, a write runs at once on the calling thread,
 *     which then also runs the writes that arrive meanwhile; otherwise the
 *     wrapper returns and the outcome is reported from the thread running them.
 * A write whose caller has given up (req->abandoned says so) before the writer
 * reaches it is not executed and reports AW_ECANCELED or AW_ETIMEDOUT.
 *
 * Deadlines. req->deadline_us is when the caller stops waiting (a gRPC call's
 * deadline, less the time its answer needs to travel). The generic code hands
 * it to the backend for the work it does for the request (aw__repo_deadline):
 * a read's, and a write batch's (the latest of its writes' deadlines, so that
 * no write is failed for another's hurry). Every wait of the backend (for a
 * pooled connection, for a connection to open, for an answer) ends at the
 * earlier of that deadline and the backend's own time bound, and a request
 * whose wait was cut short reports AW_EUNAVAIL; a connection left in the
 * middle of a statement is closed, never used again. A write so cut short may
 * or may not have committed (the database may have received its COMMIT), like
 * any write whose answer was lost; it is never reported as done.
 *
 * Concurrency design. Readers never wait behind the writer or each other: each
 * read borrows a connection of its own (WAL gives it a consistent snapshot) and
 * every multi-statement read runs in one read transaction. All writes go
 * through one writer connection, used by one thread at a time, which SQLite
 * would serialise anyway; gathering them there is what makes group commit
 * possible.
 */
#ifndef AW_REPO_H
#define AW_REPO_H

#include <pthread.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "aniworld/error.h"
#include "aniworld/v1/anime_series.pb-c.h"
#include "aniworld/v1/download_queue.pb-c.h"
#include "aniworld/v1/episode.pb-c.h"
#include "aniworld/v1/user_session.pb-c.h"

typedef struct aw_repo aw_repo;
typedef struct aw_repo_methods aw_repo_methods;
typedef struct aw_repo_req aw_repo_req;
typedef struct aw_writer aw_writer;

/* The repository's clock: microseconds since the Unix epoch, UTC. */
typedef int64_t aw_repo_clock_fn(void *arg);

/*
 * The repository's change events: how its owner hears of every change to the
 * download queue that has committed, wherever it was written (through this
 * process or, with a shared database server, through another replica).
 *
 * `ev` is one change (borrowed for the call): delivered once, in commit order,
 * and never for a write that was undone. ev == NULL means that events may have
 * been lost (the backend lost its way of hearing of them, e.g. its connection
 * to the database server): whoever relies on seeing every change must read
 * the state again. Called from the thread that ran the write batch (an
 * in-process backend, before that batch's writes report their outcomes) or
 * from a thread of the backend's own; never twice at once, with no lock of
 * the repository held. It must not call into the repository.
 */
typedef void aw_repo_event_fn(void *arg, const Aniworld__V1__DownloadEvent *ev);

/* A hint for the backend: whether anybody wants events right now (0: events may
 * be dropped instead of delivered). Called with no lock of the repository held,
 * from any thread. */
typedef int aw_repo_watched_fn(void *arg);

/* ---- requests ------------------------------------------------------------------ */

/*
 * Reports an outcome: rc is 0 or an AW_E* code, err its detail (borrowed for
 * the duration of the call), result the reply message or NULL when rc != 0.
 * Runs on the caller's thread for reads and on the thread running the write
 * batch for writes (possibly the caller's).
 */
typedef void aw_repo_done_fn(aw_repo_req *req, int rc, const aw_err *err,
			     ProtobufCMessage *result);

/* Whether the caller no longer wants the outcome: 0, AW_ECANCELED or
 * AW_ETIMEDOUT. Called just before the write would run; may be NULL. */
typedef int aw_repo_abandoned_fn(const aw_repo_req *req);

/* Tells the caller that its write has to wait for a batch under way (so that it
 * can start watching for cancellation). Called with the writer's lock held:
 * it must not call into the repository. May be NULL. */
typedef void aw_repo_waiting_fn(aw_repo_req *req);

/* Reports the end of an asynchronous events sync (aw_repo_events_sync_start):
 * rc 0 or an AW_E* code, err its detail (borrowed for the call). */
typedef void aw_repo_synced_fn(void *arg, int rc, const aw_err *err);

/* What a write does; see repo.c. */
typedef int aw_repo_write_fn(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
			     aw_err *err);

/* ---- update masks ------------------------------------------------------------------ */

/* Mutable fields of AnimeSeries, as bits of an update mask. */
enum {
	AW_SERIES_KEY = 1u << 0,
	AW_SERIES_NAME = 1u << 1,
	AW_SERIES_SITE = 1u << 2,
	AW_SERIES_FOLDER = 1u << 3,
	AW_SERIES_DESCRIPTION = 1u << 4,
	AW_SERIES_STATUS = 1u << 5,
	AW_SERIES_TOTAL_EPISODES = 1u << 6,
	AW_SERIES_COVER_URL = 1u << 7,
	AW_SERIES_EPISODE_DICT = 1u << 8,
	AW_SERIES_ALL = (1u << 9) - 1,
};

/* Mutable fields of DownloadQueueItem, as bits of an update mask. */
enum {
	AW_DOWNLOAD_PRIORITY = 1u << 0,
	AW_DOWNLOAD_URL = 1u << 1,
	AW_DOWNLOAD_FILE_DESTINATION = 1u << 2,
	AW_DOWNLOAD_ALL = (1u << 3) - 1,
};

/* Mutable fields of Episode, as bits of an update mask. */
enum {
	AW_EPISODE_SEASON = 1u << 0,
	AW_EPISODE_NUMBER = 1u << 1,
	AW_EPISODE_TITLE = 1u << 2,
	AW_EPISODE_FILE_PATH = 1u << 3,
	AW_EPISODE_FILE_SIZE = 1u << 4,
	AW_EPISODE_IS_DOWNLOADED = 1u << 5,
	AW_EPISODE_DOWNLOAD_DATE = 1u << 6,
	AW_EPISODE_ALL = (1u << 7) - 1,
};

/* Most episodes one BatchCreateEpisodes may carry. */
#define AW_EPISODE_BATCH_MAX 1000

/* ---- download queue ------------------------------------------------------------------ */

/* The stored numbers of DownloadStatus and DownloadPriority, shorter. */
#define AW_DL_PENDING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_PENDING
#define AW_DL_DOWNLOADING ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_DOWNLOADING
#define AW_DL_PAUSED ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_PAUSED
#define AW_DL_COMPLETED ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_COMPLETED
#define AW_DL_FAILED ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_FAILED
#define AW_DL_CANCELLED ANIWORLD__V1__DOWNLOAD_STATUS__DOWNLOAD_STATUS_CANCELLED
#define AW_DL_STATUS_MAX AW_DL_CANCELLED
#define AW_DL_PRIORITY_NORMAL ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_NORMAL
#define AW_DL_PRIORITY_MAX ANIWORLD__V1__DOWNLOAD_PRIORITY__DOWNLOAD_PRIORITY_HIGH

/* A set of statuses: bit (1 << status) for each. */
#define AW_DL_BIT(status) (1u << (status))
#define AW_DL_ALL_STATUSES                                                            \
	(AW_DL_BIT(AW_DL_PENDING) | AW_DL_BIT(AW_DL_DOWNLOADING) | AW_DL_BIT(AW_DL_PAUSED) | \
	 AW_DL_BIT(AW_DL_COMPLETED) | AW_DL_BIT(AW_DL_FAILED) | AW_DL_BIT(AW_DL_CANCELLED))
#define AW_DL_UNFINISHED \
	(AW_DL_BIT(AW_DL_PENDING) | AW_DL_BIT(AW_DL_DOWNLOADING) | AW_DL_BIT(AW_DL_PAUSED))
#define AW_DL_FINISHED \
	(AW_DL_BIT(AW_DL_COMPLETED) | AW_DL_BIT(AW_DL_FAILED) | AW_DL_BIT(AW_DL_CANCELLED))

/* The status changes a caller may ask for (aw_repo_downloads_transition). */
typedef enum aw_download_action {
	AW_DL_COMPLETE, /* DOWNLOADING -> COMPLETED */
	AW_DL_FAIL,     /* DOWNLOADING -> FAILED */
	AW_DL_PAUSE,    /* PENDING, DOWNLOADING -> PAUSED */
	AW_DL_RESUME,   /* PAUSED -> PENDING */
	AW_DL_CANCEL,   /* PENDING, DOWNLOADING, PAUSED -> CANCELLED */
	AW_DL_RETRY,    /* FAILED, CANCELLED -> PENDING */
	AW_DL_ACTIONS
} aw_download_action;

/* What a transition does besides setting its status (aw_download_rule.effects).
 * Every transition also clears the heartbeat and moves updated_at. */
enum {
	AW_DL_EFFECT_COMPLETE = 1u << 0, /* progress_percent 100, completed_at now */
	AW_DL_EFFECT_ERROR = 1u << 1,    /* error_message = the caller's reason */
	AW_DL_EFFECT_RESET = 1u << 2,    /* retry_count + 1; error, progress, bytes, speed,
					    started_at and completed_at cleared */
};

/*
 * One row of the download state machine (download_queue.c holds the table): the
 * only copy of which status an action may start from and what it sets. The
 * backends' SQL takes `from`, `to` and `effects` as bound parameters.
 */
typedef struct aw_download_rule {
	aw_download_action action;
	unsigned from;          /* AW_DL_BIT set of the statuses it may start from */
	int to;                 /* the status it sets */
	unsigned effects;       /* AW_DL_EFFECT_* */
	const char *method;     /* the RPC that asks for it ("PauseDownload") */
	const char *needs;      /* `from` for people ("PENDING or DOWNLOADING") */
} aw_download_rule;

/* The rule of `action` (a valid aw_download_action). */
const aw_download_rule *aw__download_rule(aw_download_action action);

/*
 * What a download write changed besides the item it returns, in the order it
 * happened: claims requeued for being stale, items deleted. Storage is the
 * caller's (zero it first); the write appends events allocated with req->mem.
 * Only meaningful once the write has reported 0: the transaction of a write
 * that fails later is rolled back, and so are these changes. Free the events
 * with aw_download_changes_clear(). The wrappers take one only for callers
 * that want the list (tests); the repository publishes every change itself
 * (aw_repo_options.on_download_event).
 */
typedef struct aw_download_changes {
	Aniworld__V1__DownloadEvent **events;
	size_t n_events, cap_events;
} aw_download_changes;
/* ---- user sessions ------------------------------------------------------------------ */

/* What the repository keeps of a session's token: its SHA-256 digest. */
#define AW_SESSION_HASH_BYTES 32

/* A session to create: the record and the digest of its token. The token
 * itself never reaches the repository. */
typedef struct aw_session_new {
	const Aniworld__V1__UserSession *session; /* session_id set; id and times ignored */
	uint8_t token_hash[AW_SESSION_HASH_BYTES];
} aw_session_new;

/* A session_id and the digest of the token presented for it (ValidateSession). */
typedef struct aw_session_proof {
	const char *session_id;
	uint8_t token_hash[AW_SESSION_HASH_BYTES];
} aw_session_proof;

/* ---- request ids (request_id.c) ------------------------------------------------------ */

/* Longest request_id a caller may give (bytes of printable ASCII). */
#define AW_REQUEST_ID_MAX 64

/* The digest that tells two requests apart: SHA-256. */
#define AW_REQUEST_FINGERPRINT_BYTES 32

/*
 * A write the caller made safe to retry (AIP-155): its request_id, and what
 * the repository needs to recognise a repeat and answer it as it answered the
 * first time. The caller (the service layer) fills it; borrowed until done.
 */
typedef struct aw_request_id {
	const char *method;  /* the RPC, "/aniworld.v1.AnimeSeriesService/CreateSeries" */
	const char *id;      /* the caller's request_id: 1..AW_REQUEST_ID_MAX printable ASCII */
	uint8_t fingerprint[AW_REQUEST_FINGERPRINT_BYTES]; /* of the request, request_id
							      left out */
	const ProtobufCMessageDescriptor *reply; /* the result's type, to rebuild a
						    stored answer */
} aw_request_id;

/* A stored answer, as a backend reads it back. Strings and bytes are malloc'd:
 * the caller frees them (aw__request_record_free). */
typedef struct aw_request_record {
	char *method;
	uint8_t fingerprint[AW_REQUEST_FINGERPRINT_BYTES];
	int done;            /* 0: claimed by the transaction under way, no outcome yet */
	int rc;              /* the outcome: 0 or a logical AW_E* code */
	char *message;       /* rc's message */
	uint8_t *reply;      /* rc == 0: the packed result */
	size_t reply_len;
} aw_request_record;

/*
 * What each write takes, one member per operation (the wrapper that packages
 * the write fills its own; the write function reads only that one). Inputs are
 * borrowed until req->done runs.
 */
typedef union aw_repo_args {
	struct { const Aniworld__V1__AnimeSeries *in; uint64_t mask; } series_write;
	struct { int64_t id; aw_download_changes *deleted; } series_delete;
	struct { int64_t id, retention_us; } series_soft_delete;
	struct { aw_download_changes *deleted; int *purged; } series_purge;
	struct { const Aniworld__V1__DownloadQueueItem *in; uint64_t mask; } downloads_write;
	struct { int64_t id; aw_download_changes *deleted; } downloads_delete;
	struct {
		int64_t stale_ms;
		const char *provider, *language; /* "" or NULL: any */
		aw_download_changes *requeued;
	} downloads_claim;
	struct { const Aniworld__V1__ReportProgressRequest *in; } downloads_progress;
	struct {
		int64_t id;
		const aw_download_rule *rule;
		const char *error_message;  /* FAIL's reason, else NULL */
	} downloads_transition;
	struct { unsigned statuses; aw_download_changes *deleted; } downloads_purge;
	struct {
		const aw_download_rule *rule;
		unsigned statuses;          /* a subset of rule->from */
		int64_t series_id;          /* 0: every series */
		aw_download_changes *changed;
	} downloads_bulk;
	struct {
		unsigned statuses;          /* a subset of AW_DL_FINISHED */
		int64_t before_us, series_id;
		aw_download_changes *deleted;
	} downloads_clear;
	struct { int64_t id, before_id; aw_download_changes *moved; } downloads_move;
	struct { const aw_session_new *in; } session_create;
	struct { const aw_session_proof *in; } session_validate;
	struct { const Aniworld__V1__ExtendSessionRequest *in; } session_extend;
	struct { const char *session_id; } session_revoke;
	struct { const char *user_id; } session_revoke_user;
	struct { const Aniworld__V1__Episode *in; uint64_t mask; } episodes_write;
	struct { const Aniworld__V1__BatchCreateEpisodesRequest *in; } episodes_batch;
	struct { int64_t id; } episodes_delete;
	struct { const Aniworld__V1__MarkEpisodeDownloadedRequest *in; } episodes_mark;
} aw_repo_args;

struct aw_repo_req {
	/* Set by the caller. */
	aw_repo_done_fn *done;
	aw_repo_abandoned_fn *abandoned; /* NULL: never abandoned */
	aw_repo_waiting_fn *waiting;     /* NULL: not told */
	ProtobufCAllocator *mem;         /* for the result; NULL = system allocator */
	void *data;                      /* the caller's, untouched */
	int64_t deadline_us;             /* CLOCK_MONOTONIC microseconds by which the
					    caller needs the outcome; 0: none (see
					    "Deadlines" above) */

	/* Private to the repository (the caller zeroes them with the rest). */
	aw_repo_req *next;               /* writer queue */
	aw_repo_write_fn *write;         /* what to run in the write transaction */
	aw_repo_args args;               /* its input, typed per operation */
	int64_t if_version;              /* the write applies only to a record at this
					    version (its etag); 0: unconditionally. Set by the
					    caller; see aw__etag_version */
	const aw_request_id *request_id;  /* NULL: none; a write with one is run once (see
					    request_id.c); set by the caller */
	aw_download_changes *changes;    /* the changes list the write appends to
					    (NULL: none), trimmed back when its
					    transaction is run again */
};

/* ---- page cursors --------------------------------------------------------------------- */

/* Where a list continues: the sort key of the last row returned. */
typedef struct aw_cursor {
	int valid;      /* 0: start from the beginning */
	int64_t k[3];   /* sort key columns, most significant first; last is the id */
} aw_cursor;

/* ---- the backend interface -------------------------------------------------------- */

/*
 * Every function returns 0 or an AW_E* code with err filled. Functions marked
 * [write] are called by one thread at a time (the one running the write batch),
 * inside a transaction the writer opened with begin(); [read] functions are
 * called from any thread, several at once. Results are allocated with `mem`. `now_us` is the time to record
 * (microseconds since the Unix epoch, UTC).
 */
struct aw_repo_methods {
	int version; /* 8 */

	/* Closes the backend and frees `r`. In-flight work has finished. */
	void (*close)(aw_repo *r);

	/* [write] Transaction control for the writer's group commit. */
	int (*begin)(aw_repo *r, aw_err *err);
	int (*commit)(aw_repo *r, aw_err *err);
	void (*rollback)(aw_repo *r);
	/*
	 * [write] Bracket each write of a transaction. `alone` says the write is
	 * the only one in it (if it fails the writer rolls the whole transaction
	 * back). write_end gets the write's outcome: when rc is a logical error
	 * (AW_EINVAL, AW_ENOTFOUND, AW_EEXIST, AW_EPRECOND, AW_ERANGE) the backend
	 * undoes whatever the write changed and leaves the transaction usable for
	 * the writes after it. How (a savepoint, or nothing where the engine
	 * already undoes a failed statement) is the backend's business. Both
	 * return 0 or a storage error, which fails the whole batch.
	 */
	int (*write_begin)(aw_repo *r, int alone, aw_err *err);
	int (*write_end)(aw_repo *r, int rc, aw_err *err);

	/* [write] Inserts `in` (id and timestamps ignored). */
	int (*series_create)(aw_repo *r, const Aniworld__V1__AnimeSeries *in, int64_t now_us,
			     ProtobufCAllocator *mem, Aniworld__V1__AnimeSeries **out, aw_err *err);
	/* [read] */
	int (*series_get)(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
			  Aniworld__V1__AnimeSeries **out, aw_err *err);
	int (*series_get_by_key)(aw_repo *r, const char *key, ProtobufCAllocator *mem,
				 Aniworld__V1__AnimeSeries **out, aw_err *err);
	/* [read] Up to `limit` series after `after` matching the request's filters, in
	 * id order, with the count of all matches; *more says whether rows remain.
	 * Lists take a byte budget too, `max_bytes` (0: none): see
	 * aw__repo_page_take, which decides for each row; a list stops reading
	 * rows at the first one that does not fit. */
	int (*series_list)(aw_repo *r, const Aniworld__V1__ListSeriesRequest *filter,
			   const aw_cursor *after, int limit, size_t max_bytes,
			   ProtobufCAllocator *mem,
			   Aniworld__V1__ListSeriesResponse **out, int *more, aw_err *err);
	/* [write] Replaces the fields in `mask` of series in->id. */
	int (*series_update)(aw_repo *r, const Aniworld__V1__AnimeSeries *in, uint64_t mask, int64_t if_version,
			     int64_t now_us, ProtobufCAllocator *mem,
			     Aniworld__V1__AnimeSeries **out, aw_err *err);
	/* [write] Deletes series `id` with its episodes and queue items; each
	 * queue item deleted is recorded in `deleted` (allocated with `mem`). */
	int (*series_delete)(aw_repo *r, int64_t id, int64_t if_version, ProtobufCAllocator *mem,
			     aw_download_changes *deleted, aw_err *err);

	/* ---- downloads ---- */

	/* [write] Inserts `in` as PENDING with its priority (UNSPECIFIED as NORMAL),
	 * series, season, episode, URL and destination; the rest is ignored. */
	int (*downloads_enqueue)(aw_repo *r, const Aniworld__V1__DownloadQueueItem *in,
				 int64_t now_us, ProtobufCAllocator *mem,
				 Aniworld__V1__DownloadQueueItem **out, aw_err *err);
	/* [read] */
	int (*downloads_get)(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
			     Aniworld__V1__DownloadQueueItem **out, aw_err *err);
	/* [read] Up to `limit` items after `after` in queue order, in one of
	 * `statuses` (a set of AW_DL_BIT) and of filter->series_id unless it is 0,
	 * with filter->provider and filter->language unless empty, with the
	 * count of all matches; *more says whether rows remain. The cursor keys
	 * are priority, queue_position and id. `max_bytes` as for series. */
	int (*downloads_list)(aw_repo *r, const Aniworld__V1__ListDownloadsRequest *filter,
			      unsigned statuses, const aw_cursor *after, int limit,
			      size_t max_bytes, ProtobufCAllocator *mem,
			      Aniworld__V1__ListDownloadsResponse **out,
			      int *more, aw_err *err);
	/* [write] Replaces the fields in `mask` of item in->id. */
	int (*downloads_update)(aw_repo *r, const Aniworld__V1__DownloadQueueItem *in,
				uint64_t mask, int64_t if_version, int64_t now_us, ProtobufCAllocator *mem,
				Aniworld__V1__DownloadQueueItem **out, aw_err *err);
	/* [write] Deletes item `id`; *out is its last state. */
	int (*downloads_delete)(aw_repo *r, int64_t id, int64_t if_version, ProtobufCAllocator *mem,
				Aniworld__V1__DownloadQueueItem **out, aw_err *err);
	/* [write] Puts DOWNLOADING items whose heartbeat is older than
	 * `stale_before_us` back to PENDING (recorded in `requeued`), then claims
	 * the first PENDING item in queue order of `provider` and `language`
	 * (each "" for any); *out is NULL when none is. */
	int (*downloads_claim)(aw_repo *r, int64_t now_us, int64_t stale_before_us,
			       const char *provider, const char *language,
			       ProtobufCAllocator *mem, aw_download_changes *requeued,
			       Aniworld__V1__DownloadQueueItem **out, aw_err *err);
	/* [write] Records progress of a DOWNLOADING item and moves its heartbeat. */
	int (*downloads_progress)(aw_repo *r, const Aniworld__V1__ReportProgressRequest *in, int64_t if_version,
				  int64_t now_us, ProtobufCAllocator *mem,
				  Aniworld__V1__DownloadQueueItem **out, aw_err *err);
	/* [write] Applies `rule` to item `id` if its current status is in
	 * rule->from; `error_message` is the reason for AW_DL_EFFECT_ERROR.
	 * AW_EPRECOND names the status, rule->method and rule->needs. */
	int (*downloads_transition)(aw_repo *r, int64_t id, const aw_download_rule *rule,
				    const char *error_message, int64_t if_version, int64_t now_us,
				    ProtobufCAllocator *mem, Aniworld__V1__DownloadQueueItem **out,
				    aw_err *err);
	/* [write] Deletes every item in `statuses` (a set of AW_DL_BIT), each
	 * recorded in `deleted`. */
	int (*downloads_purge)(aw_repo *r, unsigned statuses, ProtobufCAllocator *mem,
			       aw_download_changes *deleted, aw_err *err);
	/* (downloads_publish is at the end of the table: version 3.) */
	/* ---- user sessions ---- */
	/* Reads take `now_us` too: is_expired is expires_at <= now_us. A session's
	 * token_hash is AW_SESSION_HASH_BYTES bytes; it is stored and compared,
	 * never returned in a message. */

	/* [write] Inserts `in` (session_id, user_id, ip_address, user_agent,
	 * expires_at; the rest ignored), active, with last_activity, created_at
	 * and updated_at now. AW_EEXIST when session_id is taken. */
	int (*session_create)(aw_repo *r, const Aniworld__V1__UserSession *in,
			      const uint8_t *token_hash, int64_t now_us, ProtobufCAllocator *mem,
			      Aniworld__V1__UserSession **out, aw_err *err);
	/* [read] AW_ENOTFOUND. */
	int (*session_get)(aw_repo *r, const char *session_id, int64_t now_us,
			   ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err);
	/* [read] Up to `limit` sessions after `after` matching the request's filters
	 * (active_only: active and expires_at > now_us), in id order, with the
	 * count of all matches; *more says whether rows remain. `max_bytes` as for
	 * series. */
	int (*session_list)(aw_repo *r, const Aniworld__V1__ListSessionsRequest *filter,
			    const aw_cursor *after, int limit, size_t max_bytes, int64_t now_us,
			    ProtobufCAllocator *mem, Aniworld__V1__ListSessionsResponse **out,
			    int *more, aw_err *err);
	/* [write] What checking a token needs, read inside the write transaction:
	 * the stored hash (copied to token_hash), whether the session is active
	 * and when it expires. AW_ENOTFOUND. */
	int (*session_auth)(aw_repo *r, const char *session_id, uint8_t *token_hash,
			    int *is_active, int64_t *expires_at_us, aw_err *err);
	/* [write] Moves last_activity to now_us. AW_ENOTFOUND. */
	int (*session_touch)(aw_repo *r, const char *session_id, int64_t now_us,
			     ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err);
	/* [write] Sets expires_at of an active session. AW_ENOTFOUND, AW_EPRECOND
	 * (revoked). */
	int (*session_extend)(aw_repo *r, const char *session_id, int64_t expires_at_us, int64_t if_version,
			      int64_t now_us, ProtobufCAllocator *mem,
			      Aniworld__V1__UserSession **out, aw_err *err);
	/* [write] Makes a session inactive; an inactive one is returned unchanged.
	 * AW_ENOTFOUND. */
	int (*session_revoke)(aw_repo *r, const char *session_id, int64_t if_version, int64_t now_us,
			      ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err);
	/* [write] Makes every active session of `user_id` inactive; *count says how
	 * many there were. */
	int (*session_revoke_user)(aw_repo *r, const char *user_id, int64_t now_us,
				   int64_t *count, aw_err *err);
	/* [write] Deletes every session with expires_at <= now_us; *count says how
	 * many. */
	int (*session_purge_expired)(aw_repo *r, int64_t now_us, int64_t *count, aw_err *err);

	/* ---- episodes ---- */

	/* [write] Inserts `in` (id and timestamps ignored; download_date kept only
	 * when is_downloaded). AW_ENOTFOUND when the series does not exist,
	 * AW_EEXIST when it has that season and episode number. */
	int (*episodes_create)(aw_repo *r, const Aniworld__V1__Episode *in, int64_t now_us,
			       ProtobufCAllocator *mem, Aniworld__V1__Episode **out, aw_err *err);
	/* [read] */
	int (*episodes_get)(aw_repo *r, int64_t id, ProtobufCAllocator *mem,
			    Aniworld__V1__Episode **out, aw_err *err);
	/* [read] Up to `limit` episodes after `after` (keys series_id, season,
	 * episode_number) matching the request's filters, in that order, with the
	 * count of all matches; *more says whether rows remain. `max_bytes` as for
	 * series. */
	int (*episodes_list)(aw_repo *r, const Aniworld__V1__ListEpisodesRequest *filter,
			     const aw_cursor *after, int limit, size_t max_bytes,
			     ProtobufCAllocator *mem,
			     Aniworld__V1__ListEpisodesResponse **out, int *more, aw_err *err);
	/* [write] Replaces the fields in `mask` of episode in->id. */
	int (*episodes_update)(aw_repo *r, const Aniworld__V1__Episode *in, uint64_t mask, int64_t if_version,
			       int64_t now_us, ProtobufCAllocator *mem, Aniworld__V1__Episode **out,
			       aw_err *err);
	/* [write] AW_ENOTFOUND. */
	int (*episodes_delete)(aw_repo *r, int64_t id, int64_t if_version, aw_err *err);
	/* [write] Sets is_downloaded, download_date = now, file_path, file_size. */
	int (*episodes_mark_downloaded)(aw_repo *r, const Aniworld__V1__MarkEpisodeDownloadedRequest *in, int64_t if_version,
					int64_t now_us, ProtobufCAllocator *mem,
					Aniworld__V1__Episode **out, aw_err *err);

	/* ---- version 3: change events ---- */

	/*
	 * [write] Makes `ev` (borrowed for the call) one of the changes of the
	 * write under way, to be delivered to r->on_download_event once its
	 * transaction commits, in commit order: the wrappers call it for every
	 * queue item a write creates, changes or deletes, after the change. It
	 * goes with the write: dropped when write_end() undoes the write or the
	 * transaction rolls back. Where the events travel (a list kept until
	 * COMMIT, a notification the database delivers at commit) is the
	 * backend's business. A failure fails the write (and so its batch, for a
	 * storage error): an event is never lost quietly.
	 */
	int (*downloads_publish)(aw_repo *r, const Aniworld__V1__DownloadEvent *ev, aw_err *err);
	/*
	 * Starts what the backend runs beside the calls (a thread listening for
	 * other replicas' events), once aw_repo_open has filled in the common
	 * part of `r` (hooks, clock) and started the writer; close() stops it.
	 * NULL when there is nothing to start.
	 */
	int (*start)(aw_repo *r, aw_err *err);
	/*
	 * Returns once every change committed before the call (by any replica)
	 * has been delivered to r->on_download_event, or after `timeout_ms`
	 * (AW_ETIMEDOUT): for an owner about to stop listening. NULL when the
	 * backend delivers each event before its write reports (nothing can be
	 * pending then).
	 */
	int (*events_sync)(aw_repo *r, int timeout_ms, aw_err *err);

	/* ---- version 4: pipelined write batches ---- */

	/*
	 * [write] NULL: every write runs to its end before the next begins. A
	 * backend that can send a batch's writes without waiting for each one's
	 * answer (a client-server database, where a round trip per write is what
	 * a batch costs) gives the writer this switch; `mode` holds for the write
	 * calls that follow, until the next call:
	 *   AW_REPO_WRITE_RUN: as without the switch.
	 *   AW_REPO_WRITE_SEND: the write (after its write_begin) only sends its
	 *     statement and returns AW_REPO_PENDING; its outcome is not known yet
	 *     and write_end is not called. A kind of write the backend does not
	 *     send this way returns AW_REPO_RUN_ALONE having done nothing: the
	 *     writer collects every pending write, then runs it (write_begin
	 *     again) in AW_REPO_WRITE_RUN. Any other return is the write's outcome.
	 *   AW_REPO_WRITE_COLLECT: the writer calls the oldest pending write again
	 *     (the same request): this time it returns its outcome and result, and
	 *     write_end follows as for any write. One failed write is undone alone
	 *     there, even though the writes sent after it are already on their
	 *     way (the backend sends them again).
	 * Only writes whose wrapper does nothing but call one backend method and
	 * that publish no change event may answer AW_REPO_PENDING. The writer
	 * collects every pending write before commit().
	 */
	void (*write_mode)(aw_repo *r, int mode);

	/* ---- version 5: snapshots ---- */

	/*
	 * [read, long] Makes a consistent copy of the whole database, as of one
	 * moment during the call, holding every write committed before the call
	 * and none in part, while reads and writes go on. The copy is a file in
	 * the backend's own format, returned as *fd open for reading at offset 0
	 * (the caller closes it); it is no longer reachable by name, so nothing
	 * is left behind however its reader ends. `stop(stop_arg)` (may be NULL)
	 * is polled while the copy is made: non-zero abandons it, which returns
	 * that code. Errors: AW_EFULL (no space for the copy), AW_EREADONLY,
	 * AW_EIO, AW_EPRECOND (nothing to copy, as a database in memory),
	 * AW_EUNIMPL (the backend streams no copies; its message says what to use
	 * instead). NULL means AW_EUNIMPL.
	 */
	int (*snapshot)(aw_repo *r, int (*stop)(void *stop_arg), void *stop_arg, int *fd,
			const char **format, aw_err *err);

	/* ---- version 6: request ids ---- */

	/*
	 * [write] Claims `rid` for the write about to run: inserts its record
	 * (created at now_us, no outcome yet) unless one exists, and says which
	 * (*found 0: claimed). When one exists, *found is 1 and *rec holds it
	 * (malloc'd). A record another replica is writing in a transaction not
	 * yet ended is waited for: *found then says what that one committed.
	 * Called outside any write_begin/write_end bracket: the claim is part of
	 * the transaction, not of the write. A backend whose writer is the only
	 * one (SQLite) may only look the id up here and write the whole record
	 * in request_finish, created at this now_us.
	 */
	int (*request_claim)(aw_repo *r, const aw_request_id *rid, int64_t now_us,
			     aw_request_record *rec, int *found, aw_err *err);
	/* [write] Stores the outcome of the write of `rid` in its claimed record:
	 * rc (0 or a logical error), its message, and for rc == 0 the packed result. */
	int (*request_finish)(aw_repo *r, const aw_request_id *rid, int rc, const char *message,
			      const uint8_t *reply, size_t reply_len, aw_err *err);
	/* [write] Deletes at most `limit` records created before `before_us`;
	 * *count says how many. */
	int (*request_purge)(aw_repo *r, int64_t before_us, int limit, int64_t *count,
			     aw_err *err);

	/* ---- version 7: starting an events sync without waiting ---- */

	/*
	 * events_sync without waiting: returns at once, and `done` runs once
	 * (see aw_repo_events_sync_start) when every change committed before
	 * the call has been delivered to r->on_download_event, or with
	 * AW_ETIMEDOUT after `timeout_ms`, or AW_EUNAVAIL. NULL: the generic code
	 * runs events_sync instead, if there is one.
	 */
	int (*events_sync_start)(aw_repo *r, int timeout_ms, aw_repo_synced_fn *done, void *arg,
				 aw_err *err);

	/* ---- version 8: the queue as download managers have it ---- */

	/* [read] Items per status and their byte sums, of series_id (0: of
	 * every series), from one snapshot. */
	int (*downloads_summary)(aw_repo *r, int64_t series_id, ProtobufCAllocator *mem,
				 Aniworld__V1__GetQueueSummaryResponse **out, aw_err *err);
	/* [write] Applies `rule` to every item in `statuses` (a subset of
	 * rule->from) of series_id (0: every series), each recorded in `changed`
	 * as UPDATED. When rule->to is unfinished, an item is left alone when its
	 * episode has another unfinished item, or a newer item in `statuses`
	 * (that one is changed instead): a bulk change never fails on the
	 * one-unfinished-item-per-episode rule. AW_ENOTFOUND when series_id > 0
	 * names no series. */
	int (*downloads_bulk_transition)(aw_repo *r, const aw_download_rule *rule,
					 unsigned statuses, int64_t series_id, int64_t now_us,
					 ProtobufCAllocator *mem, aw_download_changes *changed,
					 aw_err *err);
	/* [write] Deletes every item in `statuses` (a subset of AW_DL_FINISHED)
	 * last changed before `before_us`, of series_id (0: every series), each
	 * recorded in `deleted`. AW_ENOTFOUND when series_id > 0 names no
	 * series. */
	int (*downloads_clear)(aw_repo *r, unsigned statuses, int64_t before_us,
			       int64_t series_id, ProtobufCAllocator *mem,
			       aw_download_changes *deleted, aw_err *err);
	/* [write] Gives item `id` a queue_position just before that of item
	 * `before_id` among the items of its status and priority (0: after every
	 * item of its priority) and moves its updated_at. When no position is
	 * free there, `before_id` and the items after it in its priority move
	 * back by 2 first (updated_at kept), each recorded in `moved` as
	 * UPDATED. AW_ENOTFOUND for either id, AW_EPRECOND when the priorities
	 * differ. */
	int (*downloads_move)(aw_repo *r, int64_t id, int64_t before_id, int64_t now_us,
			      ProtobufCAllocator *mem, aw_download_changes *moved,
			      Aniworld__V1__DownloadQueueItem **out, aw_err *err);

	/* ---- version 8: soft delete for series ---- */

	/* [write] Marks series `id` deleted (delete_time now_us, purge_time
	 * purge_us) and hides its episodes and queue items from lists and
	 * claims, when it is at version `if_version` (0: any). A series deleted
	 * already is left as it is. AW_ENOTFOUND, AW_EABORTED (stale etag). */
	int (*series_soft_delete)(aw_repo *r, int64_t id, int64_t if_version, int64_t now_us,
				  int64_t purge_us, aw_err *err);
	/* [write] Clears delete_time and purge_time of series `id` and shows its
	 * episodes and queue items again; *out is the series. AW_ENOTFOUND,
	 * AW_EPRECOND (not deleted). */
	int (*series_undelete)(aw_repo *r, int64_t id, int64_t now_us, ProtobufCAllocator *mem,
			       Aniworld__V1__AnimeSeries **out, aw_err *err);
	/* [write] Up to `max` ids of deleted series whose purge_time is not after
	 * now_us, soonest first, into ids[0..*n). */
	int (*series_expired)(aw_repo *r, int64_t now_us, int64_t *ids, int max, int *n,
			      aw_err *err);
};

/* Modes of aw_repo_methods.write_mode, and what a write may return in them
 * (positive, so never taken for 0 or an AW_E* code). */
enum {
	AW_REPO_WRITE_RUN = 0,
	AW_REPO_WRITE_SEND = 1,
	AW_REPO_WRITE_COLLECT = 2,
};
#define AW_REPO_PENDING 1    /* sent; its outcome comes with AW_REPO_WRITE_COLLECT */
#define AW_REPO_RUN_ALONE 2  /* not sent: run it in AW_REPO_WRITE_RUN */

/* ---- storage faults ---------------------------------------------------------------- */

/*
 * What the repository tells its owner about the storage, through
 * aw_repo_options.on_storage, so that the server can log a fault once rather
 * than once per call. A storage fault is any failure that is not about the
 * request itself: a full disk, a read-only or locked or corrupt file, an I/O
 * error (AW_EFULL, AW_EREADONLY, AW_EBUSY, AW_ECORRUPT, AW_EIO, ...).
 */
typedef enum aw_repo_storage_event {
	AW_REPO_READ_ONLY,        /* opened read-only (err says why): every write will fail */
	AW_REPO_WRITES_FAILING,   /* a write transaction failed (err): the first after one
				     that committed, or with another error than the last */
	AW_REPO_WRITES_RECOVERED, /* a write transaction committed again; count: how many
				     failed since AW_REPO_WRITES_FAILING */
	AW_REPO_READ_FAILED,      /* a read failed (err); reported at most once a minute for
				     the same error; count: how many more since the last report */
	AW_REPO_UNREACHABLE,      /* a database server could not be reached (err): told once,
				     when it stops answering; calls fail with AW_EUNAVAIL */
	AW_REPO_REACHABLE,        /* it answers again after AW_REPO_UNREACHABLE (err NULL) */
} aw_repo_storage_event;

/* The hook: called from whatever thread saw the event, with no lock of the
 * repository held; it must not call into the repository. `err` is borrowed. */
typedef void aw_repo_storage_fn(void *arg, aw_repo_storage_event event, const aw_err *err,
				uint64_t count);

/* What every backend's struct begins with. */
struct aw_repo {
	const aw_repo_methods *methods;
	aw_writer *writer;  /* the group-commit writer, started by aw_repo_open */
	aw_err read_only;   /* set by the backend when it could open the storage only
			       read-only (code AW_EREADONLY, the reason); else code 0 */
	aw_repo_clock_fn *clock; /* set by aw_repo_open; read through aw__repo_now() */
	void *clock_arg;
	size_t max_reply;   /* aw_repo_options.max_reply_bytes; 0: no limit */
	char durability[256]; /* what an acknowledged write survives, in words, for the
				 log: set by the backend when it opens (aw_repo_durability) */

	/* Storage fault reports (repo.c), set up by aw_repo_open. */
	aw_repo_storage_fn *on_storage; /* NULL: nobody listens */
	void *storage_arg;
	/* Change events (aw__repo_event), set up by aw_repo_open. */
	aw_repo_event_fn *on_download_event; /* NULL: nobody listens */
	void *event_arg;
	aw_repo_watched_fn *events_watched;  /* NULL: always assume somebody does */
	pthread_mutex_t read_fault_mu;  /* guards the three below */
	int read_fault;                 /* code of the last read failure reported, or 0 */
	int64_t read_fault_us;          /* when it was reported */
	uint64_t read_faults_unreported; /* read failures since then */
	int64_t request_id_retention_us; /* aw_repo_options' */
	struct aw_ticker *purger;       /* NULL: none (request_id.c) */
};

/* ---- reply sizes ---------------------------------------------------------------------- */

/*
 * Every result becomes a gRPC reply, and gRPC clients refuse replies larger
 * than their receive limit (4 MiB by default, in every language). With
 * aw_repo_options.max_reply_bytes set, the repository keeps every result
 * within it:
 *   - a list page takes rows while the page stays within the budget, and
 *     always at least one row; its next_page_token continues after the last
 *     row it holds, and total_size still counts every match;
 *   - a write whose result (the record it stored, a batch of them) would be
 *     larger than max_reply_bytes - AW_REPLY_RESERVE is refused with
 *     AW_EINVAL and stores nothing, so every stored record fits in a page of
 *     one, and in a stream event, with room to spare.
 * A record can still be larger than the budget if it was stored under a
 * larger one: a page then holds it alone, over the budget (and the server,
 * which never sends more than its budget, refuses to send that page).
 */

/* Bytes of a reply kept for what is not a record: a page's next_page_token
 * (at most 65 bytes with its tag and length) and total_size (6), a stream
 * event's type and the item's own tag and length. */
#define AW_REPLY_RESERVE 128

/* ---- opening ------------------------------------------------------------------------ */

/* A setting that only one backend understands ("busy_timeout_ms" for SQLite,
 * "pool_size" for PostgreSQL), as text; each backend reads its own and
 * ignores the others'. "durability" ("power" or "process") is read by both:
 * SQLite acts on it, PostgreSQL checks it and says in aw_repo_durability()
 * that its own server's synchronous_commit decides instead. */
typedef struct aw_repo_setting {
	const char *name;
	const char *value;
} aw_repo_setting;

typedef struct aw_repo_options {
	int max_batch;            /* most writes gathered into one transaction */
	int max_queue;            /* most writes waiting; more fail with AW_EOVERLOAD */
	aw_repo_storage_fn *on_storage; /* storage faults, see above; NULL: not told */
	void *storage_arg;        /* passed to on_storage */
	aw_repo_clock_fn *clock;  /* every time the repository records or compares
				     (timestamps, expiry, stale claims); NULL: real time */
	void *clock_arg;          /* passed to clock */
	aw_repo_event_fn *on_download_event; /* every committed change to the download
						queue, see aw_repo_event_fn; NULL: none */
	void *event_arg;          /* passed to on_download_event and events_watched */
	aw_repo_watched_fn *events_watched; /* hint: whether on_download_event has
					       anybody to tell now; NULL: always */
	const aw_repo_setting *settings; /* backend settings (borrowed during open) */
	size_t n_settings;
	size_t max_reply_bytes;   /* largest reply a result may make; 0: no limit (see
				     "reply sizes" above) */
	int64_t request_id_retention_us; /* how long a request_id's answer is kept
					    (request_id.c); 0: 24 hours */
	int request_id_purger;    /* run a thread that deletes expired answers once a
				     minute (aw_repo_request_ids_purge) */
} aw_repo_options;

/* Defaults: 256 writes a batch, 65536 queued, no storage or event hook, real
 * time, no backend settings, no reply limit. */
void aw_repo_options_defaults(aw_repo_options *opts);

/* The value of backend setting `name`, or NULL when it is not set (the last
 * one wins when it is given twice). */
const char *aw_repo_setting_get(const aw_repo_options *opts, const char *name);

/*
 * A storage engine, found by the location it is given, the way SQLite finds a
 * VFS by name. backends.c lists them; the generic code names none of them.
 */
typedef struct aw_repo_backend {
	const char *name;                        /* "sqlite", "postgres" */
	int (*matches)(const char *location);    /* whether `location` is one of its own */
	/* Opens (creating and migrating the schema as needed) the storage at
	 * `location`; the caller starts the writer. Errors as aw_repo_open's. */
	int (*open)(aw_repo **out, const char *location, const aw_repo_options *opts,
		    aw_err *err);
	/* The location as it may be shown in a log line: secrets (a password in
	 * a URI) replaced. Writes at most `n` bytes, NUL-terminated. */
	void (*redact)(const char *location, char *buf, size_t n);
	/* Its tables as rows, for copying a database to another backend
	 * (bulk.h); NULL when it cannot be copied. */
	const struct aw_bulk_methods *bulk;

	/*
	 * Offline, with no server on it: makes the copy at `from` (a file a
	 * snapshot of this backend made) the storage at `location`, after
	 * checking that it is whole and not newer than this build's schema. An
	 * existing database is replaced only with `force`, and never half: the
	 * copy is checked beside it, then takes its place at once. NULL when the
	 * backend has none (aw_repo_restore says so).
	 */
	int (*restore)(const char *location, const char *from, int force, aw_err *err);
} aw_repo_backend;

/* The backend that takes `location`, or NULL. */
const aw_repo_backend *aw_repo_backend_find(const char *location);

/*
 * Restores the database at `location` from the snapshot file `from` with the
 * backend that takes `location` (see aw_repo_backend.restore). Errors:
 * AW_EEXIST (a database is there and `force` is 0), AW_ECORRUPT (the file
 * fails its check), AW_EVERSION (its schema is newer than this build's),
 * AW_EBUSY (a server has the database open), AW_EIO, AW_EFULL, AW_EUNIMPL
 * (the backend restores no files; its message says what to do instead).
 */
int aw_repo_restore(const char *location, const char *from, int force, aw_err *err);

/* Writes `location` without its secrets into buf (see aw_repo_backend.redact). */
void aw_repo_location_redact(const char *location, char *buf, size_t n);

/*
 * Opens the repository at `location` with the backend that takes it (see
 * backends.c): a SQLite file path (created if missing) or ":memory:", or a
 * postgres:// / postgresql:// URI. Migrates the schema to the current
 * version; a database from a newer version is refused with AW_EVERSION. A
 * SQLite database that exists but cannot be written is opened read-only:
 * reads work, writes fail with AW_EREADONLY, and on_storage hears
 * AW_REPO_READ_ONLY before this returns. The caller closes it with
 * aw_repo_close(). Errors: AW_EIO, AW_ECORRUPT (also a file that is not a
 * database), AW_EREADONLY (a read-only database that needs a migration),
 * AW_EBUSY, AW_EVERSION, AW_EUNAVAIL (a database server that cannot be
 * reached), AW_ENOMEM, AW_EINVAL (options, settings).
 */
int aw_repo_open(aw_repo **out, const char *location, const aw_repo_options *opts,
		 aw_err *err);

/* Waits for writes under way, refuses new ones and closes the backend. NULL is
 * a no-op. */
void aw_repo_close(aw_repo *r);

/*
 * For threads that serve many requests in a row (the transport's): from now on
 * the writes this thread submits to `r` are only queued, and the thread runs
 * them, with whatever else is queued, in aw_repo_flush() when it has no
 * request ready. Writes that arrive together then share one transaction even
 * on a single core. A thread must flush before it waits for anything.
 */
void aw_repo_defer_writes(aw_repo *r);

/* Whether writes are queued that nobody is running yet, i.e. whether a deferring
 * thread should flush (a hint, read without locking). */
int aw_repo_has_queued(aw_repo *r);

/* Runs the queued writes now, unless another thread is already running writes
 * (which then runs them). */
void aw_repo_flush(aw_repo *r);

/*
 * Waits until every change to the download queue committed before this call,
 * through this process or another replica, has reached the event hook
 * (aw_repo_options.on_download_event), at most `timeout_ms`: for an owner that
 * is about to stop listening (a server ending its watch streams at shutdown)
 * and wants the changes its callers were told of to be delivered first.
 * Returns 0, AW_ETIMEDOUT, or a storage error (AW_EUNAVAIL); at once when the
 * backend has nothing pending or no hook is set.
 */
int aw_repo_events_sync(aw_repo *r, int timeout_ms, aw_err *err);

/* What an acknowledged write survives on this repository (a process crash, a
 * power cut), in words, for the server's start-up log line: the backend's
 * durability setting and what it means there. Owned by `r`. */
const char *aw_repo_durability(const aw_repo *r);

/*
 * Takes a snapshot of the whole database (see aw_repo_methods.snapshot): on
 * success *fd is an unnamed file holding a consistent copy, open for reading
 * at offset 0 (the caller closes it), and *format names its format
 * ("sqlite3"; static). Blocks for as long as copying the database takes, so
 * call it from a thread of the caller's own; reads and writes go on
 * meanwhile. `stop` (may be NULL) is polled during the copy; a non-zero
 * answer abandons it and is returned. Errors: AW_EFULL, AW_EREADONLY, AW_EIO,
 * AW_EPRECOND, AW_EUNIMPL (the backend takes no snapshots; its message says
 * what to use instead).
 */
int aw_repo_snapshot(aw_repo *r, int (*stop)(void *stop_arg), void *stop_arg, int *fd,
		     const char **format, aw_err *err);
/*
 * aw_repo_events_sync without waiting, for a caller that must not block (a
 * transport thread starting a watch): `done(arg, rc, err)` runs exactly once,
 * either before this returns (on the calling thread: nothing was pending, or
 * the sync could not begin) or later from a thread of the backend, the one
 * that delivers the events, between two deliveries: every change committed
 * before this call has reached the event hook before `done` runs, and the
 * changes the hook receives after it are later ones. rc is 0, AW_ETIMEDOUT
 * after `timeout_ms`, or a storage error (AW_EUNAVAIL). `done` must not call
 * into the repository.
 */
void aw_repo_events_sync_start(aw_repo *r, int timeout_ms, aw_repo_synced_fn *done, void *arg);

/* Counts since opening: write transactions committed or attempted (`batches`)
 * and the writes they held; writes / batches is the group-commit factor. */
void aw_repo_stats(aw_repo *r, uint64_t *batches, uint64_t *writes);

/* ---- operations ----------------------------------------------------------------------- */
/*
 * Each reports through req->done as described at the top. Inputs are borrowed
 * until done runs. Validation that needs no storage is the services' job; these
 * wrappers check only what the backend relies on (non-NULL inputs, ids > 0).
 */

/* Result: AnimeSeries. Errors: AW_EEXIST (key taken). */
void aw_repo_series_create(aw_repo *r, aw_repo_req *req, const Aniworld__V1__AnimeSeries *in);

/* Result: AnimeSeries. Errors: AW_ENOTFOUND. */
void aw_repo_series_get(aw_repo *r, aw_repo_req *req, int64_t id);
void aw_repo_series_get_by_key(aw_repo *r, aw_repo_req *req, const char *key);

/* Result: ListSeriesResponse. page_size must already be in 1..1000; the page
 * token is decoded and checked here. Errors: AW_EINVAL (bad token). */
void aw_repo_series_list(aw_repo *r, aw_repo_req *req, const Aniworld__V1__ListSeriesRequest *in,
			 int page_size);

/* Result: AnimeSeries. Errors: AW_ENOTFOUND, AW_EEXIST (key taken by another). */
void aw_repo_series_update(aw_repo *r, aw_repo_req *req, const Aniworld__V1__AnimeSeries *in,
			   uint64_t mask);

/* Result: google.protobuf.Empty. Errors: AW_ENOTFOUND. The series' queue
 * items go with it, each published as DELETED (in id order) and, when
 * `deleted` is not NULL, recorded there (see aw_download_changes). */
void aw_repo_series_delete(aw_repo *r, aw_repo_req *req, int64_t id,
			   aw_download_changes *deleted);

/* Result: google.protobuf.Empty. Marks series `id` deleted, to be purged
 * `retention_us` (> 0) from now, hiding its episodes and queue items (no
 * events: nothing is deleted yet). A series deleted already stays as it is.
 * Errors: AW_ENOTFOUND. */
void aw_repo_series_soft_delete(aw_repo *r, aw_repo_req *req, int64_t id, int64_t retention_us);

/* Result: AnimeSeries (undeleted, with its episodes and queue items shown
 * again). Errors: AW_ENOTFOUND, AW_EPRECOND (not deleted). */
void aw_repo_series_undelete(aw_repo *r, aw_repo_req *req, int64_t id);

/* Result: google.protobuf.Empty. Deletes for good (as aw_repo_series_delete,
 * with the same events) up to 100 deleted series whose purge_time has come,
 * by the repository's clock; every deleted queue item is recorded in
 * `deleted` (NULL: not wanted). Run it again while it finds some: the count
 * of series purged goes to *purged (NULL: not wanted) before done runs. */
void aw_repo_series_purge_deleted(aw_repo *r, aw_repo_req *req, aw_download_changes *deleted,
				  int *purged);

/* ---- download queue operations (download_queue.c) ---- */
/*
 * Every write publishes the changes it makes to the queue (see
 * aw_repo_event_fn): CREATED for the item enqueued; UPDATED for an update,
 * progress, a transition, a claim and each stale claim it requeues first;
 * DELETED with the last state of each item deleted. Writes that change rows
 * besides the item they return also take an aw_download_changes (see above;
 * NULL: not wanted) that they fill; it must stay valid until done runs.
 */

/* Result: DownloadQueueItem. Errors: AW_ENOTFOUND (series), AW_EEXIST (the
 * episode has an unfinished item). */
void aw_repo_downloads_enqueue(aw_repo *r, aw_repo_req *req,
			       const Aniworld__V1__DownloadQueueItem *in);

/* Result: DownloadQueueItem. Errors: AW_ENOTFOUND. */
void aw_repo_downloads_get(aw_repo *r, aw_repo_req *req, int64_t id);

/* Result: ListDownloadsResponse. page_size must already be in 1..1000 and the
 * statuses valid; the page token is decoded and checked here. Errors: AW_EINVAL
 * (bad token). */
void aw_repo_downloads_list(aw_repo *r, aw_repo_req *req,
			    const Aniworld__V1__ListDownloadsRequest *in, int page_size);

/* Result: DownloadQueueItem. Errors: AW_ENOTFOUND. */
void aw_repo_downloads_update(aw_repo *r, aw_repo_req *req,
			      const Aniworld__V1__DownloadQueueItem *in, uint64_t mask);

/* Result: google.protobuf.Empty; the deleted item also goes to `deleted`
 * (NULL: not wanted). Errors: AW_ENOTFOUND. */
void aw_repo_downloads_delete(aw_repo *r, aw_repo_req *req, int64_t id,
			      aw_download_changes *deleted);

/* Result: ClaimNextDownloadResponse (item unset when nothing is pending).
 * Claims silent for more than `stale_ms` are requeued first, also recorded in
 * `requeued` (NULL: not wanted). */
void aw_repo_downloads_claim(aw_repo *r, aw_repo_req *req, int64_t stale_ms,
			     aw_download_changes *requeued);

/* As aw_repo_downloads_claim, taking only items of `provider` and `language`
 * (each NULL or "" for any; borrowed until done runs). */
void aw_repo_downloads_claim_for(aw_repo *r, aw_repo_req *req, int64_t stale_ms,
				 const char *provider, const char *language,
				 aw_download_changes *requeued);

/* Result: GetQueueSummaryResponse. `series_id` 0: every series. */
void aw_repo_downloads_summary(aw_repo *r, aw_repo_req *req, int64_t series_id);

/* Result: RetryFailedDownloadsResponse. RETRY (the state machine's rule) for
 * every FAILED item of series_id (0: every series); see
 * downloads_bulk_transition for the items left alone. Each item changed is
 * published and, when `changed` is not NULL, recorded there. Errors:
 * AW_ENOTFOUND (series). */
void aw_repo_downloads_retry_failed(aw_repo *r, aw_repo_req *req, int64_t series_id,
				    aw_download_changes *changed);

/* Result: CancelSeriesDownloadsResponse. CANCEL for every item of series_id
 * (> 0) in a status the rule starts from. Errors: AW_ENOTFOUND (series). */
void aw_repo_downloads_cancel_series(aw_repo *r, aw_repo_req *req, int64_t series_id,
				     aw_download_changes *changed);

/* Result: ClearFinishedDownloadsResponse. Deletes the items in `statuses` (a
 * non-empty subset of AW_DL_FINISHED) last changed before `before_us`, of
 * series_id (0: every series), each published as DELETED. Errors:
 * AW_ENOTFOUND (series). */
void aw_repo_downloads_clear(aw_repo *r, aw_repo_req *req, unsigned statuses,
			     int64_t before_us, int64_t series_id, aw_download_changes *deleted);

/* Result: DownloadQueueItem (the item moved). See downloads_move. Errors:
 * AW_ENOTFOUND, AW_EPRECOND (different priorities), AW_EINVAL (id ==
 * before_id). */
void aw_repo_downloads_move(aw_repo *r, aw_repo_req *req, int64_t id, int64_t before_id,
			    aw_download_changes *moved);

/* Result: DownloadQueueItem. Errors: AW_ENOTFOUND, AW_EPRECOND (not
 * DOWNLOADING). */
void aw_repo_downloads_progress(aw_repo *r, aw_repo_req *req,
				const Aniworld__V1__ReportProgressRequest *in);

/* Result: DownloadQueueItem. `error_message` (FAIL only, borrowed) is the
 * reason. Errors: AW_ENOTFOUND, AW_EPRECOND (the status does not allow it),
 * AW_EEXIST (RETRY while the episode has another unfinished item). */
void aw_repo_downloads_transition(aw_repo *r, aw_repo_req *req, int64_t id,
				  aw_download_action action, const char *error_message);

/* Result: PurgeDownloadsResponse; each deleted item also goes to `deleted`
 * (NULL: not wanted).
 * `statuses` must be a non-empty subset of AW_DL_FINISHED. */
void aw_repo_downloads_purge(aw_repo *r, aw_repo_req *req, unsigned statuses,
			     aw_download_changes *deleted);

/* Frees the events of `changes` (allocated with `mem`) and empties it. */
void aw_download_changes_clear(aw_download_changes *changes, ProtobufCAllocator *mem);
/* ---- user sessions (user_session.c) ---- */

/* Result: UserSession. Errors: AW_EEXIST (session_id taken). */
void aw_repo_session_create(aw_repo *r, aw_repo_req *req, const aw_session_new *in);

/* Result: UserSession. Errors: AW_ENOTFOUND. */
void aw_repo_session_get(aw_repo *r, aw_repo_req *req, const char *session_id);

/* Result: ListSessionsResponse. page_size must already be in 1..1000; the page
 * token is decoded and checked here. Errors: AW_EINVAL (bad token). */
void aw_repo_session_list(aw_repo *r, aw_repo_req *req, const Aniworld__V1__ListSessionsRequest *in,
			  int page_size);

/*
 * Result: ValidateSessionResponse, whatever the verdict: an invalid session is
 * an answer (valid false and a reason), not an error. One write, so that the
 * checks and the move of last_activity see one state: not found, then token
 * mismatch (constant-time comparison), then revoked, then expired; only a
 * valid session is written to (last_activity) and returned.
 */
void aw_repo_session_validate(aw_repo *r, aw_repo_req *req, const aw_session_proof *in);

/* Result: UserSession. in->expires_at must be set. Errors: AW_ENOTFOUND,
 * AW_EPRECOND (revoked). */
void aw_repo_session_extend(aw_repo *r, aw_repo_req *req,
			    const Aniworld__V1__ExtendSessionRequest *in);

/* Result: UserSession (inactive). Idempotent. Errors: AW_ENOTFOUND. */
void aw_repo_session_revoke(aw_repo *r, aw_repo_req *req, const char *session_id);

/* Result: RevokeUserSessionsResponse. */
void aw_repo_session_revoke_user(aw_repo *r, aw_repo_req *req, const char *user_id);

/* Result: PurgeExpiredSessionsResponse. */
void aw_repo_session_purge_expired(aw_repo *r, aw_repo_req *req);

/* ---- episodes (episode.c) ---- */

/* Result: Episode. Errors: AW_ENOTFOUND (series), AW_EEXIST (season and episode
 * taken). */
void aw_repo_episodes_create(aw_repo *r, aw_repo_req *req, const Aniworld__V1__Episode *in);

/* Result: BatchCreateEpisodesResponse. Every episode of `in` already carries
 * in->series_id; one write, so all of them are stored or none. Errors:
 * AW_ENOTFOUND ("series 7 not found"), AW_EEXIST with the message naming the
 * episode (episodes[i]). */
void aw_repo_episodes_batch_create(aw_repo *r, aw_repo_req *req,
				   const Aniworld__V1__BatchCreateEpisodesRequest *in);

/* Result: Episode. Errors: AW_ENOTFOUND. */
void aw_repo_episodes_get(aw_repo *r, aw_repo_req *req, int64_t id);

/* Result: ListEpisodesResponse. page_size must already be in 1..1000; the page
 * token is decoded and checked here. Errors: AW_EINVAL (bad token). */
void aw_repo_episodes_list(aw_repo *r, aw_repo_req *req, const Aniworld__V1__ListEpisodesRequest *in,
			   int page_size);

/* Result: Episode. Errors: AW_ENOTFOUND, AW_EEXIST (season and episode taken). */
void aw_repo_episodes_update(aw_repo *r, aw_repo_req *req, const Aniworld__V1__Episode *in,
			     uint64_t mask);

/* Result: google.protobuf.Empty. Errors: AW_ENOTFOUND. */
void aw_repo_episodes_delete(aw_repo *r, aw_repo_req *req, int64_t id);

/* Result: Episode. Errors: AW_ENOTFOUND. */
void aw_repo_episodes_mark_downloaded(aw_repo *r, aw_repo_req *req,
				      const Aniworld__V1__MarkEpisodeDownloadedRequest *in);

/* ---- request ids (request_id.c) ---- */

/*
 * Deletes the stored answers of request_ids older than the retention
 * (aw_repo_options.request_id_retention_us, by the repository's clock), in
 * write transactions of at most a few thousand each, and waits for them: the
 * purger thread calls it once a minute, tests with their own clock. *deleted
 * (may be NULL) says how many went. Returns 0 or the error of a failed write.
 * Must not be called from a thread that defers its writes.
 */
int aw_repo_request_ids_purge(aw_repo *r, int64_t *deleted, aw_err *err);

/* ---- shared by the wrappers (repo.c) and backends ----------------------------------------- */

/* Reports a read's outcome through req->done; frees `result` when rc != 0. A
 * storage fault also goes to r's on_storage hook (rate-limited). */
void aw__repo_report(aw_repo *r, aw_repo_req *req, int rc, const aw_err *err,
		     ProtobufCMessage *result);

/* Hands a committed change (NULL: changes may have been lost) to the owner's
 * hook, if there is one. For backends; see aw_repo_event_fn for when. */
void aw__repo_event(aw_repo *r, const Aniworld__V1__DownloadEvent *ev);

/* Whether the owner takes events at all (a hook is set): a backend that only
 * delivers them in this process may skip all work when not. */
int aw__repo_events_hooked(aw_repo *r);

/* Whether delivering an event is worth it now: hooked, and the owner's
 * watched hint does not say that nobody listens. Read it when delivering,
 * not earlier: a listener may arrive in between. */
int aw__repo_events_watched(aw_repo *r);

/* download_queue.c: publishes {item, type} (borrowed) with the backend's
 * downloads_publish: the wrappers' one way of doing it. */
int aw__download_publish(aw_repo *r, Aniworld__V1__DownloadQueueItem *item,
			 Aniworld__V1__DownloadEventType type, aw_err *err);

/* download_queue.c: publishes the events of `changes` from index `from` on, in order. */
int aw__download_changes_publish(aw_repo *r, const aw_download_changes *changes, size_t from,
				 aw_err *err);

/*
 * Whether a list page holding `n` rows, whose rows so far take *used bytes,
 * takes `row` too under a budget of `max_bytes` (0: none): always when it is
 * the first row, else when the page stays within the budget. A row taken is
 * added to *used as an element of a repeated field (tag, length, message).
 * Backends call it for each row they build and stop at the first refusal,
 * which also means that more rows remain.
 */
int aw__repo_page_take(size_t max_bytes, size_t *used, size_t n, const ProtobufCMessage *row);

/* The byte budget the rows of a page get under r's reply limit: the limit less
 * AW_REPLY_RESERVE, or 0 (none). */
size_t aw__repo_page_budget(const aw_repo *r);

/* Whether `rc` is a storage fault rather than an answer about the request. */
int aw__repo_storage_fault(int rc);

/* Reports AW_EINVAL with `what` as the message. */
void aw__repo_invalid(aw_repo_req *req, const char *what);

/* ---- errors.c: the refusals both backends report, each with its details ---- */

/* "series 42 not found": `thing` is "series", "episode" or "download"; reason
 * SERIES_NOT_FOUND, EPISODE_NOT_FOUND or DOWNLOAD_NOT_FOUND, metadata id. */
int aw__err_not_found(aw_err *err, const char *thing, int64_t id);
/* No `thing` ("series", "session") has `key`: as the two below. */
int aw__err_key_not_found(aw_err *err, const char *thing, const char *key);
/* No series has `key`: SERIES_NOT_FOUND, metadata key. */
int aw__err_series_key_not_found(aw_err *err, const char *key);
/* `key` is taken (by another series, on an update): SERIES_KEY_TAKEN. */
int aw__err_series_key_taken(aw_err *err, const char *key, int by_another);
/* The series has that season and episode already: EPISODE_EXISTS. */
int aw__err_episode_taken(aw_err *err, int64_t series_id, int season, int number);
/* `in`'s episode has unfinished download `id` in `status`: DOWNLOAD_EXISTS. */
int aw__err_download_open(aw_err *err, const Aniworld__V1__DownloadQueueItem *in, int64_t id,
			  int status);
/* Download `id` cannot be retried: another one of its episode is open. */
int aw__err_download_retry_taken(aw_err *err, int64_t id);
/* Download `id` is in `status`, which `method` does not accept (it `needs`
 * another): DOWNLOAD_STATUS_CONFLICT. */
int aw__err_download_status(aw_err *err, int64_t id, int status, const char *method,
			    const char *needs);
/* Session errors: SESSION_NOT_FOUND, SESSION_EXISTS, SESSION_REVOKED. */
int aw__err_session_not_found(aw_err *err, const char *session_id);
int aw__err_session_exists(aw_err *err, const char *session_id);
int aw__err_session_revoked(aw_err *err, const char *session_id);

/* Makes a google.protobuf.Empty with req->mem, as a write's result. */
int aw__repo_empty(aw_repo_req *req, ProtobufCMessage **result, aw_err *err);

/* Memory from `mem`, or malloc when `mem` is NULL. */
void *aw__pb_alloc(ProtobufCAllocator *mem, size_t size);

/* A message of type `desc`, initialised, from `mem`; NULL when out of memory. */
void *aw__pb_new(ProtobufCAllocator *mem, const ProtobufCMessageDescriptor *desc);

/* A Timestamp for `us` microseconds since the epoch, from `mem`. */
struct Google__Protobuf__Timestamp *aw__pb_timestamp(ProtobufCAllocator *mem, int64_t us);

/* Microseconds since the epoch of a Timestamp. */
int64_t aw__pb_timestamp_us(const struct Google__Protobuf__Timestamp *ts);

/* Copies `s` into memory from `mem` (NULL: malloc); NULL when out of memory. */
char *aw__repo_strdup(ProtobufCAllocator *mem, const char *s);

/* anime_series.c: the LIKE pattern %text% for a name filter, with %, _ and \
 * escaped (ESCAPE '\') and ASCII letters lowered, to be compared with a
 * name whose ASCII letters are lowered too (SQLite's LIKE does that by
 * itself); malloc'd, NULL when out of memory. */
char *aw__series_like_pattern(const char *text);

/* episode.c: an episode list's seasons filter as text, the numbers between
 * `open` and `close` separated by commas ("[1,2]" for SQLite's json_each,
 * "{1,2}" for a PostgreSQL array); malloc'd, NULL when out of memory. */
char *aw__episodes_seasons_text(const Aniworld__V1__ListEpisodesRequest *f, char open,
				char close);

/* episode.c: an episode list's downloaded filter as a bound number: 1
 * downloaded only, 0 missing only, -1 either. */
int aw__episodes_downloaded_filter(const Aniworld__V1__ListEpisodesRequest *f);

/* What the "durability" setting asks for (see aw_repo_setting). */
typedef enum aw_durability {
	AW_DURABILITY_POWER,   /* an acknowledged write survives a power cut (the default) */
	AW_DURABILITY_PROCESS, /* it survives a crash of the process; a power cut may
				  take back the last ones */
} aw_durability;

/* The "durability" setting of `opts` into *out (AW_DURABILITY_POWER when unset);
 * AW_EINVAL naming the bad value. For backends. */
int aw__repo_durability_setting(const aw_repo_options *opts, aw_durability *out, aw_err *err);

/* The setting's name for messages: "power" or "process". */
const char *aw__repo_durability_name(aw_durability d);
/*
 * The deadline of the work the calling thread does for the repository now, as
 * CLOCK_MONOTONIC microseconds (INT64_MAX: none): a read's req->deadline_us,
 * set by its wrapper for the time of the backend call, or a write batch's, set
 * by the writer. Backends end every wait at the earlier of it and their own
 * time bounds (see "Deadlines" at the top). Threads of a backend's own may
 * set one for their work too (aw__repo_deadline_set; 0 clears it).
 */
int64_t aw__repo_deadline(void);
void aw__repo_deadline_set(int64_t deadline_us);

/* CLOCK_MONOTONIC microseconds, the clock of deadlines. */
int64_t aw__repo_mono_us(void);

/* The repository's time (its clock option), microseconds since the Unix epoch. */
int64_t aw__repo_now(aw_repo *r);

/* The real time, microseconds since the Unix epoch (UTC). */
int64_t aw__repo_now_us(void);

/*
 * event_stash.c: the change events of a write transaction, for a backend that
 * keeps them until the transaction ends: packed, in the order published.
 * Zero it to start; the writer's thread only. A write's own events are undone
 * with it (mark when it begins, undo when write_end undoes it).
 */
typedef struct aw_event_stash {
	uint8_t *buf;      /* each event: its packed size (a size_t), then the bytes */
	size_t len, cap;
	size_t n;          /* events stashed */
	size_t mark, n_mark; /* len and n when the write under way began */
} aw_event_stash;

/* Appends a packed copy of `ev`. AW_ENOMEM. */
int aw__event_stash_add(aw_event_stash *s, const Aniworld__V1__DownloadEvent *ev, aw_err *err);
/* A write begins: what is stashed from now on is its own. */
void aw__event_stash_mark(aw_event_stash *s);
/* The write under way was undone: forgets its events. */
void aw__event_stash_undo(aw_event_stash *s);
/* The transaction is over: forgets every event (and a buffer grown large). */
void aw__event_stash_clear(aw_event_stash *s);
/* The packed event at *at (start at 0), which moves on; -1 after the last. */
int aw__event_stash_next(const aw_event_stash *s, size_t *at, const uint8_t **data,
			 size_t *len);
/* Hands every event to r's hook in order (unpacked only when
 * aw__repo_events_watched says somebody listens), then clears the stash. */
void aw__event_stash_deliver(aw_repo *r, aw_event_stash *s);
/* Frees the buffer; the stash is empty again. */
void aw__event_stash_free(aw_event_stash *s);

/*
 * request_id.c, for the writer: runs write `req` (which has a request_id) the
 * way AIP-155 asks, inside the batch's transaction. A repeat gets the stored
 * answer; a first run claims the request_id, runs `run` (the writer's own
 * bracket of one write: write_begin, the write, write_end) and stores its
 * outcome when it is one (success or a logical error). Outcome in *wrc, werr
 * and *result; *stored is set when the transaction holds something to
 * commit. Returns 0 or a storage error, which fails the batch.
 */
typedef int aw_request_run_fn(aw_repo *r, aw_repo_req *req, int *wrc, aw_err *werr,
			      ProtobufCMessage **result, aw_err *txn_err, void *arg);
int aw__request_id_run(aw_repo *r, aw_repo_req *req, aw_request_run_fn *run, void *arg,
		       int *wrc, aw_err *werr, ProtobufCMessage **result, int *stored,
		       aw_err *txn_err);

/* request_id.c: frees what a backend read into `rec` (not `rec` itself). */
void aw__request_record_free(aw_request_record *rec);

/* request_id.c: starts and stops the purger thread of aw_repo_open. */
int aw__request_purger_start(aw_repo *r, aw_err *err);
void aw__request_purger_stop(aw_repo *r);

/* Whether `rc` is an answer about the request (invalid, not found, exists,
 * precondition, aborted, range) that a write undoes alone: recorded as the
 * answer of a request_id, unlike a storage fault or a time-out. */
int aw__repo_logical_error(int rc);

/* etags (repo.c): a record's etag is its version, the count of its writes,
 * as text; opaque to callers. */
char *aw__etag_new(ProtobufCAllocator *mem, int64_t version);
/* The version an etag names: 0 for "" (none), else > 0; -1 when `etag` is
 * not one the server issues. */
int aw__etag_version(const char *etag, int64_t *version);
/* AW_EABORTED, for a conditional write that found the record at another
 * version: "the <thing> <name> changed since it was read (...)". */
int aw__repo_stale(aw_err *err, const char *thing, const char *name, int64_t want, int64_t now);

/* writer.c: sets up and tears down the group-commit writer of `r`. */
int aw__writer_start(aw_repo *r, const aw_repo_options *opts, aw_err *err);
void aw__writer_stop(aw_repo *r);

/* writer.c: how many write transactions ran, and how many writes they held. */
void aw__writer_stats(aw_repo *r, uint64_t *batches, uint64_t *writes);

/* writer.c: queues a write; reports AW_EOVERLOAD or AW_EUNAVAIL (closing) at once. */
void aw__writer_submit(aw_repo *r, aw_repo_req *req);

/* download_queue.c: frees the events of `changes` after the first `n` (a write
 * run again starts from where it first began). */
void aw__download_changes_trim(aw_download_changes *changes, size_t n, ProtobufCAllocator *mem);

/* download_queue.c: for backends. The short name of a DownloadStatus ("PAUSED"). */
const char *aw__download_status_name(int status);

/* download_queue.c: whether `rule` may start from `status`. */
int aw__download_rule_allows(const aw_download_rule *rule, int status);

/* download_queue.c: appends an event of `type` for `item` (taken over: freed with
 * the changes) to `changes`, with memory from `mem`. AW_ENOMEM. */
int aw__download_changes_add(aw_download_changes *changes, ProtobufCAllocator *mem,
			     Aniworld__V1__DownloadQueueItem *item,
			     Aniworld__V1__DownloadEventType type, aw_err *err);

/* backends.c: every backend, in the order they are asked; NULL-terminated. */
extern const aw_repo_backend *const aw__repo_backends[];

/* sqlite/sqlite.c: the SQLite backend (takes every location no other takes).
 * Settings: "busy_timeout_ms" (default 5000); "durability": "power" (the
 * default: synchronous=FULL, the WAL is synced before any write of a batch
 * is acknowledged) or "process" (synchronous=NORMAL, the WAL is synced at
 * checkpoints only); "vfs", for tests only: the name of a registered SQLite
 * VFS every connection opens the file with (tests/powercut_vfs.c), unset in
 * the server. */
extern const aw_repo_backend aw__sqlite_backend;

/* postgres/postgres.c: the PostgreSQL backend (postgres:// and postgresql://
 * URIs, given to libpq). Settings: "pool_size" (reader connections, default
 * 4) and "query_timeout_ms" (the longest wait for one answer or connection,
 * default 5000). */
extern const aw_repo_backend aw__postgres_backend;

#endif /* AW_REPO_H */
