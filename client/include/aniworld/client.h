/*
 * aniworld/client.h: the C client library of Aniworld Store.
 *
 * Aniworld Store is the persistence service of the Aniworld anime downloader:
 * anime series, their episodes, a download queue and user sessions, served over
 * gRPC (package aniworld.v1). This library calls it from C: open a client on a
 * target, then call one typed, synchronous function per method.
 *
 * This header, the error codes it includes (aniworld/error.h) and the message
 * types generated from the service's .proto files (aniworld/v1/<x>.pb-c.h,
 * which it also includes) are the whole API. Anything not declared here is not
 * part of it.
 *
 * Conventions, for every call function:
 *   - It takes the method's request message, built by the caller (with the
 *     generated __INIT macros), borrowed for the duration of the call.
 *   - It returns 0 on success, or a negative AW_E* code: the server's error,
 *     exactly as the server had it (the reason of its error details names the
 *     code: an overloaded server is AW_EOVERLOAD, a full disk AW_EFULL, though
 *     both are RESOURCE_EXHAUSTED), else its gRPC status mapped through
 *     AW_ERRNO_MAP (NOT_FOUND is AW_ENOTFOUND, ...); or a local failure
 *     (AW_EUNAVAIL when the server cannot be reached, AW_ETIMEDOUT when the
 *     deadline passed, AW_ENOMEM). aw_err_grpc_status(code) gives the gRPC
 *     status number back.
 *   - `err` may be NULL; otherwise it receives the code, the server's message
 *     ("series 42 not found") and the error's details (aniworld/error.h,
 *     struct aw_err): the reason ("SERIES_NOT_FOUND", AW_REASON_MAP and the
 *     README's "Errors" list them all) with its metadata ("id" = "42"); for
 *     AW_EINVAL every invalid field of the request with what is wrong with it
 *     (err->violations); for NOT_FOUND and ALREADY_EXISTS the resource
 *     (err->resource_type, err->resource_name); for overload and
 *     unavailability how long to wait before retrying (err->retry_delay_ms).
 *   - On success *out is the reply, allocated by protobuf-c's default allocator:
 *     the caller frees it with the generated free function, e.g.
 *     aniworld__v1__anime_series__free_unpacked(out, NULL). On failure *out is
 *     NULL and there is nothing to free.
 *   - A client is safe to use from many threads at once.
 *   - The last parameter, `opts`, holds this call's options (a deadline, extra
 *     metadata, a request_id, an etag; see aw_call_opts); NULL means none.
 *
 * Streaming methods (WatchDownloads) return an opaque stream instead, read
 * one message at a time with aw_watch_next(); see below.
 */
#ifndef ANIWORLD_CLIENT_H
#define ANIWORLD_CLIENT_H

#include <stdint.h>

#include "aniworld/admin/v1/admin.pb-c.h"
#include "aniworld/error.h"
#include "aniworld/v1/anime_series.pb-c.h"
#include "aniworld/v1/download_queue.pb-c.h"
#include "aniworld/v1/episode.pb-c.h"
#include "aniworld/v1/user_session.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aw_client aw_client;

/*
 * How a client connects and calls. Initialise with aw_client_options_init() and
 * change what you need; fields added later get safe defaults there. Strings are
 * borrowed only during aw_client_new(), which copies them; NULL means unset.
 */
typedef struct aw_client_options {
	int64_t deadline_ms;          /* per call; 0 = no deadline. Default 10000. */
	int64_t max_receive_bytes;    /* largest reply accepted; default 4 MiB, gRPC's
					 own default, above every reply the server sends
					 at its default --max-reply-bytes */

	/* Transport security. With tls_root_ca_pem the client speaks TLS and trusts
	 * servers whose certificate that CA signed; with tls_cert_pem and
	 * tls_key_pem too, it presents that certificate (mutual TLS). PEM text, not
	 * file names. Without them the client speaks plaintext. */
	const char *tls_root_ca_pem;
	const char *tls_cert_pem;
	const char *tls_key_pem;
	const char *tls_server_name;  /* name to verify instead of the target's host */

	/* Sent on every call as "authorization: Bearer <token>" (servers started
	 * with --auth-tokens-file require it). Use it with TLS outside a trusted
	 * network: over plaintext anyone on the path can read it. */
	const char *bearer_token;

	/* "pick_first" (NULL, the default: one connection) or "round_robin": spread
	 * calls over every address the target resolves to, e.g. a headless
	 * Kubernetes Service as "dns:///aniworld-store-headless:50051". */
	const char *load_balancing;

	/* Non-zero: this client opens connections of its own instead of sharing
	 * them with other clients of the process to the same target (gRPC shares by
	 * default). Load generators use it to spread calls over connections. */
	int dedicated_connection;

	/*
	 * Retries. A call is retried only when that is safe: reads (every Get* and
	 * List* method) whose attempt ended UNAVAILABLE (the server was unreachable,
	 * restarting or shedding a connection); writes that carry a request_id
	 * (see "Safe retries" below) whose attempt ended UNAVAILABLE or
	 * DEADLINE_EXCEEDED; and, whatever the method, an attempt that gRPC knows
	 * never reached the server. Other writes are never sent twice: their
	 * UNAVAILABLE is returned, since the write may or may not have happened.
	 * Reads back off exponentially (doubling from retry_initial_backoff_ms up
	 * to retry_max_backoff_ms, with gRPC's random jitter) and all of their
	 * attempts together stay within deadline_ms.
	 * max_attempts: 1 disables retries; at most 5 (gRPC's cap). Default 3,
	 * 100 ms, 1000 ms. Reconnecting to a server that went away starts after
	 * 100 ms and backs off to 5 s.
	 */
	int max_attempts;
	int64_t retry_initial_backoff_ms;
	int64_t retry_max_backoff_ms;
} aw_client_options;

/* Fills `opts` with the defaults. */
AW_EXTERN void aw_client_options_init(aw_client_options *opts);

/* One metadata entry sent with a call: a lowercase key ("x-trace-id"; keys
 * ending in "-bin" carry binary values) and its value, both borrowed for the
 * call. */
typedef struct aw_metadata {
	const char *key;
	const char *value;
	size_t value_len;             /* 0: strlen(value) */
} aw_metadata;

/* Most metadata entries one call may add. */
#define AW_CALL_MAX_METADATA 16

/*
 * Options of one call, the last parameter of every call function (NULL: none
 * of them). Zero it (or use AW_CALL_OPTS_INIT) and set what you need; fields
 * added later are zero by default. Everything is borrowed for the call.
 */
typedef struct aw_call_opts {
	/* This call's deadline, relative: 0 keeps the client's deadline_ms, a
	 * negative value means none. */
	int64_t deadline_ms;
	/* An absolute deadline, in microseconds since the Unix epoch (0: none),
	 * for passing on the deadline of the call being served: a service that
	 * calls this one while answering its own caller gives it that call's
	 * deadline (grpc core: grpc_call_details.deadline, converted with
	 * gpr_convert_clock_type(d, GPR_CLOCK_REALTIME) and then
	 * aw_client_deadline_from_timespec(); other frameworks say when it is), so the
	 * work stops when nobody waits for it any more. With deadline_ms too,
	 * the earlier one wins. It also bounds every retry. */
	int64_t deadline_at_us;
	/* Metadata sent with the call besides the client's bearer token. At
	 * most AW_CALL_MAX_METADATA; an illegal key or value is AW_EINVAL. */
	const aw_metadata *metadata;
	size_t n_metadata;
	/*
	 * The request_id of a write that takes one (see "Safe retries" below):
	 * NULL uses the request's own request_id, or generates a random UUID when
	 * that is empty; "" sends none (and the write is then never retried).
	 */
	const char *request_id;
	/* The etag the write is conditional on, for methods that take one (in
	 * the request, or in the resource of an update): replaces the request's.
	 * NULL keeps the request's. */
	const char *etag;
} aw_call_opts;

#define AW_CALL_OPTS_INIT {0, 0, NULL, 0, NULL, NULL}

/* Microseconds since the Unix epoch of a deadline given as seconds and
 * nanoseconds since the epoch (CLOCK_REALTIME), for aw_call_opts.deadline_at_us. */
AW_EXTERN int64_t aw_client_deadline_from_timespec(int64_t tv_sec, int32_t tv_nsec);

/*
 * Safe retries. Writes that take a request_id (CreateSeries, CreateEpisode,
 * BatchCreateEpisodes, EnqueueDownload, ClaimNextDownload, CompleteDownload,
 * FailDownload, RetryDownload, CancelDownload, CreateSession) always carry
 * one: the caller's, or a random UUID (version 4, from getrandom(2)) the
 * library makes for the call. The server answers a repeat with the first
 * answer, so such a write is retried like a read: an attempt that ends
 * UNAVAILABLE or DEADLINE_EXCEEDED is sent again, with the same request_id,
 * up to the client's max_attempts attempts in all. Each attempt gets the
 * call's deadline; between attempts the library sleeps a random time between
 * half and all of a backoff that starts at retry_initial_backoff_ms and
 * doubles up to retry_max_backoff_ms. An absolute deadline (deadline_at_us)
 * bounds all attempts together: no attempt starts after it. So a write
 * returns after at most max_attempts * deadline plus the backoffs. Other
 * writes (updates, deletes, the rest of the state changes) are never sent
 * twice.
 */

/*
 * Replaces the bearer token sent on every call from now on (token rotation):
 * calls already under way keep the token they started with. NULL or "" sends
 * none. Safe while other threads call. Errors: AW_EINVAL (characters not
 * allowed in metadata; the old token stays), AW_ENOMEM.
 */
AW_EXTERN int aw_client_set_bearer_token(aw_client *client, const char *token, aw_err *err);

/*
 * Creates a client for `target` (a gRPC target: "host:port", "dns:///host:port",
 * "unix:/path"). Connecting is lazy: an unreachable server shows up as
 * AW_EUNAVAIL on the first call, not here, and so does a TLS handshake that
 * fails (an untrusted server, or a client certificate the server refuses).
 * `opts` may be NULL for the defaults; it is copied. On success *out is the
 * client; free it with aw_client_free(). Errors: AW_EINVAL (empty target, bad
 * options: a certificate without its key, an unknown load_balancing, a token
 * with characters not allowed in metadata), AW_ENOMEM.
 */
AW_EXTERN int aw_client_new(aw_client **out, const char *target, const aw_client_options *opts,
			    aw_err *err);

/* Closes the channel and frees the client. Calls must have returned. NULL is a
 * no-op. */
AW_EXTERN void aw_client_free(aw_client *client);

/* ---- aniworld.v1.AnimeSeriesService ---------------------------------------------------- */

/* Creates req->series. AW_EEXIST when its key is taken, AW_EINVAL when key or
 * name is empty or total_episodes is negative. *out: the stored series. */
AW_EXTERN int aw_client_series_create(aw_client *client,
				      const Aniworld__V1__CreateSeriesRequest *req,
				      Aniworld__V1__AnimeSeries **out, aw_err *err,
			     const aw_call_opts *opts);

/* Reads series req->id. AW_ENOTFOUND when there is none. */
AW_EXTERN int aw_client_series_get(aw_client *client, const Aniworld__V1__GetSeriesRequest *req,
				   Aniworld__V1__AnimeSeries **out, aw_err *err,
			     const aw_call_opts *opts);

/* Reads the series with key req->key. AW_ENOTFOUND when there is none. */
AW_EXTERN int aw_client_series_get_by_key(aw_client *client,
					  const Aniworld__V1__GetSeriesByKeyRequest *req,
					  Aniworld__V1__AnimeSeries **out, aw_err *err,
			     const aw_call_opts *opts);

/* Reads one page of series in id order; pass (*out)->next_page_token in the
 * next request to continue. AW_EINVAL for a negative page_size or a bad token.
 * Free with aniworld__v1__list_series_response__free_unpacked(). */
AW_EXTERN int aw_client_series_list(aw_client *client, const Aniworld__V1__ListSeriesRequest *req,
				    Aniworld__V1__ListSeriesResponse **out, aw_err *err,
			     const aw_call_opts *opts);

/* Changes the fields of series req->series->id named in req->update_mask (all
 * mutable fields when empty). AW_ENOTFOUND, AW_EEXIST (key taken), AW_EINVAL
 * (unknown or output-only path, invalid value). *out: the series after. */
AW_EXTERN int aw_client_series_update(aw_client *client,
				      const Aniworld__V1__UpdateSeriesRequest *req,
				      Aniworld__V1__AnimeSeries **out, aw_err *err,
			     const aw_call_opts *opts);

/* Deletes series req->id with its episodes and download queue items.
 * AW_ENOTFOUND when there is none. Nothing to free on success. A server
 * started with --soft-delete-retention only marks the series deleted (hidden
 * with its episodes and items until it is purged) unless req->force is set. */
AW_EXTERN int aw_client_series_delete(aw_client *client,
				      const Aniworld__V1__DeleteSeriesRequest *req, aw_err *err,
			     const aw_call_opts *opts);

/* Brings deleted series req->id back with its episodes and queue items.
 * AW_ENOTFOUND (none, or purged), AW_EPRECOND (not deleted). *out: the series,
 * freed with aniworld__v1__anime_series__free_unpacked(). */
AW_EXTERN int aw_client_series_undelete(aw_client *client,
					const Aniworld__V1__UndeleteSeriesRequest *req,
					Aniworld__V1__AnimeSeries **out, aw_err *err,
		const aw_call_opts *opts);

/* ---- aniworld.v1.EpisodeService ------------------------------------------------------ */
/*
 * Episodes of a series, identified within it by season (>= 0; 0 holds
 * specials) and episode number (>= 1). Replies are Episodes, freed with
 * aniworld__v1__episode__free_unpacked(out, NULL). An id that names no
 * episode is AW_ENOTFOUND; an id <= 0 is AW_EINVAL.
 */

/* Creates req->episode in series req->episode->series_id. AW_ENOTFOUND when the
 * series does not exist, AW_EEXIST when it already has that season and episode
 * number, AW_EINVAL for an invalid field (the message names it). A downloaded
 * episode without download_date gets now. *out: the stored episode. */
AW_EXTERN int aw_client_episodes_create(aw_client *client,
					const Aniworld__V1__CreateEpisodeRequest *req,
					Aniworld__V1__Episode **out, aw_err *err,
			     const aw_call_opts *opts);

/* Creates req->episodes (1..1000, each with series_id 0 or req->series_id) in
 * series req->series_id, all in one transaction: either every episode is
 * stored or none is. Errors as for create, the message naming the episode
 * (episodes[i]); AW_EEXIST also for a season and episode given twice. Free with
 * aniworld__v1__batch_create_episodes_response__free_unpacked(). */
AW_EXTERN int aw_client_episodes_batch_create(aw_client *client,
					      const Aniworld__V1__BatchCreateEpisodesRequest *req,
					      Aniworld__V1__BatchCreateEpisodesResponse **out,
					      aw_err *err,
			     const aw_call_opts *opts);

/* Reads episode req->id. */
AW_EXTERN int aw_client_episodes_get(aw_client *client, const Aniworld__V1__GetEpisodeRequest *req,
				     Aniworld__V1__Episode **out, aw_err *err,
			     const aw_call_opts *opts);

/* Changes the fields of episode req->episode->id named in req->update_mask
 * (season, episode_number, title, file_path, file_size, is_downloaded,
 * download_date; all of them when empty). series_id cannot change. AW_EEXIST
 * when the new season and episode number are taken; AW_EINVAL for an unknown,
 * immutable or output-only path or an invalid value. *out: the episode after. */
AW_EXTERN int aw_client_episodes_update(aw_client *client,
					const Aniworld__V1__UpdateEpisodeRequest *req,
					Aniworld__V1__Episode **out, aw_err *err,
			     const aw_call_opts *opts);

/* Deletes episode req->id. Nothing to free on success. */
AW_EXTERN int aw_client_episodes_delete(aw_client *client,
					const Aniworld__V1__DeleteEpisodeRequest *req, aw_err *err,
			     const aw_call_opts *opts);

/* Reads one page of episodes: of series req->series_id ordered by season and
 * episode number (0: every series, ordered by series first), only
 * req->seasons when given, only downloaded or missing ones per req->downloaded;
 * pass (*out)->next_page_token in the next request, with the same filters, to
 * continue. AW_EINVAL for a negative page_size, series_id or season, or a bad
 * token. Free with aniworld__v1__list_episodes_response__free_unpacked(). */
AW_EXTERN int aw_client_episodes_list(aw_client *client,
				      const Aniworld__V1__ListEpisodesRequest *req,
				      Aniworld__V1__ListEpisodesResponse **out, aw_err *err,
			     const aw_call_opts *opts);

/* Records that episode req->id was downloaded to req->file_path (required),
 * req->file_size bytes (>= 0): is_downloaded set, download_date now. *out: the
 * episode after. */
AW_EXTERN int aw_client_episodes_mark_downloaded(aw_client *client,
						 const Aniworld__V1__MarkEpisodeDownloadedRequest *req,
						 Aniworld__V1__Episode **out, aw_err *err,
			     const aw_call_opts *opts);

/* ---- aniworld.v1.DownloadQueueService ------------------------------------------------ */
/*
 * The download queue. Items are answered as DownloadQueueItem, freed with
 * aniworld__v1__download_queue_item__free_unpacked(out, NULL). A status change
 * the item's current status does not allow is AW_EPRECOND (FAILED_PRECONDITION)
 * with a message naming that status ("download 12 is COMPLETED;
 * CompleteDownload needs DOWNLOADING"); an id that names no item is
 * AW_ENOTFOUND; an id <= 0 is AW_EINVAL.
 */

/* Queues req->item as PENDING: series_id (> 0, an existing series), season
 * (>= 0), episode_number (>= 1), priority (UNSPECIFIED means NORMAL),
 * download_url and file_destination are taken, the rest is ignored.
 * AW_ENOTFOUND when the series does not exist, AW_EEXIST when the episode
 * already has an unfinished (PENDING, DOWNLOADING or PAUSED) item, AW_EINVAL
 * for an invalid field (the message names it). *out: the stored item. */
AW_EXTERN int aw_client_downloads_enqueue(aw_client *client,
					  const Aniworld__V1__EnqueueDownloadRequest *req,
					  Aniworld__V1__DownloadQueueItem **out, aw_err *err,
			     const aw_call_opts *opts);

/* Reads item req->id. AW_ENOTFOUND when there is none. */
AW_EXTERN int aw_client_downloads_get(aw_client *client,
				      const Aniworld__V1__GetDownloadRequest *req,
				      Aniworld__V1__DownloadQueueItem **out, aw_err *err,
			     const aw_call_opts *opts);

/* Changes the fields of item req->item->id named in req->update_mask:
 * priority, download_url, file_destination (all three when empty). AW_ENOTFOUND;
 * AW_EINVAL for an unknown, immutable or output-only path or an invalid value.
 * *out: the item after. */
AW_EXTERN int aw_client_downloads_update(aw_client *client,
					 const Aniworld__V1__UpdateDownloadRequest *req,
					 Aniworld__V1__DownloadQueueItem **out, aw_err *err,
			     const aw_call_opts *opts);

/* Deletes item req->id, whatever its status. AW_ENOTFOUND when there is none.
 * Nothing to free on success. */
AW_EXTERN int aw_client_downloads_delete(aw_client *client,
					 const Aniworld__V1__DeleteDownloadRequest *req,
					 aw_err *err,
			     const aw_call_opts *opts);

/* Reads one page of items in queue order (priority high first, then
 * queue_position, then id), filtered by req->statuses (none: every status),
 * req->series_id (0: every series), req->provider and req->language (empty:
 * any); pass (*out)->next_page_token in the next request, with the
 * same filters, to continue. AW_EINVAL for a negative page_size or series_id,
 * an UNSPECIFIED or unknown status, or a bad token. Free with
 * aniworld__v1__list_downloads_response__free_unpacked(). */
AW_EXTERN int aw_client_downloads_list(aw_client *client,
				       const Aniworld__V1__ListDownloadsRequest *req,
				       Aniworld__V1__ListDownloadsResponse **out, aw_err *err,
			     const aw_call_opts *opts);

/* Takes the first PENDING item in queue order, of req->provider and
 * req->language when they are not empty, and marks it DOWNLOADING, with
 * started_at now. No two callers ever get the same item. (*out)->item is NULL
 * when nothing is pending. The claim lasts while the caller reports progress
 * (aw_client_downloads_report_progress) more often than the server's
 * stale-claim timeout (15 minutes unless configured); after that the item may
 * be claimed again. Free with
 * aniworld__v1__claim_next_download_response__free_unpacked(). */
AW_EXTERN int aw_client_downloads_claim(aw_client *client,
					const Aniworld__V1__ClaimNextDownloadRequest *req,
					Aniworld__V1__ClaimNextDownloadResponse **out, aw_err *err,
			     const aw_call_opts *opts);

/* Records the progress of DOWNLOADING item req->id (progress_percent becomes
 * downloaded / total * 100, 0 while total is 0) and keeps its claim alive.
 * AW_EPRECOND when the item is not DOWNLOADING (for example after its claim
 * expired), AW_EINVAL for a negative value or downloaded_bytes > total_bytes > 0.
 * *out: the item after. */
AW_EXTERN int aw_client_downloads_report_progress(aw_client *client,
						  const Aniworld__V1__ReportProgressRequest *req,
						  Aniworld__V1__DownloadQueueItem **out,
						  aw_err *err,
			     const aw_call_opts *opts);

/* DOWNLOADING -> COMPLETED, with progress 100 and completed_at now.
 * AW_EPRECOND from any other status. *out: the item after. */
AW_EXTERN int aw_client_downloads_complete(aw_client *client,
					   const Aniworld__V1__CompleteDownloadRequest *req,
					   Aniworld__V1__DownloadQueueItem **out, aw_err *err,
			     const aw_call_opts *opts);

/* DOWNLOADING -> FAILED with req->error_message (required: AW_EINVAL when
 * empty). AW_EPRECOND from any other status. *out: the item after. */
AW_EXTERN int aw_client_downloads_fail(aw_client *client,
				       const Aniworld__V1__FailDownloadRequest *req,
				       Aniworld__V1__DownloadQueueItem **out, aw_err *err,
			     const aw_call_opts *opts);

/* PENDING or DOWNLOADING -> PAUSED. AW_EPRECOND from any other status. */
AW_EXTERN int aw_client_downloads_pause(aw_client *client,
					const Aniworld__V1__PauseDownloadRequest *req,
					Aniworld__V1__DownloadQueueItem **out, aw_err *err,
			     const aw_call_opts *opts);

/* PAUSED -> PENDING. AW_EPRECOND from any other status. */
AW_EXTERN int aw_client_downloads_resume(aw_client *client,
					 const Aniworld__V1__ResumeDownloadRequest *req,
					 Aniworld__V1__DownloadQueueItem **out, aw_err *err,
			     const aw_call_opts *opts);

/* PENDING, DOWNLOADING or PAUSED -> CANCELLED. AW_EPRECOND from a finished
 * status. */
AW_EXTERN int aw_client_downloads_cancel(aw_client *client,
					 const Aniworld__V1__CancelDownloadRequest *req,
					 Aniworld__V1__DownloadQueueItem **out, aw_err *err,
			     const aw_call_opts *opts);

/* FAILED or CANCELLED -> PENDING, with retry_count + 1 and error_message,
 * progress, started_at and completed_at cleared. AW_EPRECOND from any other
 * status; AW_EEXIST when the episode was queued again meanwhile and that item
 * is unfinished. */
AW_EXTERN int aw_client_downloads_retry(aw_client *client,
					const Aniworld__V1__RetryDownloadRequest *req,
					Aniworld__V1__DownloadQueueItem **out, aw_err *err,
			     const aw_call_opts *opts);

/* Deletes every item in req->statuses, which must name at least one status
 * and only finished ones (COMPLETED, FAILED, CANCELLED): AW_EINVAL otherwise.
 * (*out)->deleted_count says how many went. Free with
 * aniworld__v1__purge_downloads_response__free_unpacked(). */
AW_EXTERN int aw_client_downloads_purge(aw_client *client,
					const Aniworld__V1__PurgeDownloadsRequest *req,
					Aniworld__V1__PurgeDownloadsResponse **out, aw_err *err,
			     const aw_call_opts *opts);

/* Counts the items per status and sums their bytes, of req->series_id (0:
 * every series). AW_EINVAL for a negative series_id. Free with
 * aniworld__v1__get_queue_summary_response__free_unpacked(). */
AW_EXTERN int aw_client_downloads_summary(aw_client *client,
					  const Aniworld__V1__GetQueueSummaryRequest *req,
					  Aniworld__V1__GetQueueSummaryResponse **out,
					  aw_err *err,
		const aw_call_opts *opts);

/* Every FAILED item of req->series_id (0: every series) -> PENDING, as
 * aw_client_downloads_retry, in one transaction; an item whose episode has an
 * unfinished item, or a newer FAILED one, stays FAILED. AW_ENOTFOUND for a
 * series that does not exist. Free with
 * aniworld__v1__retry_failed_downloads_response__free_unpacked(). */
AW_EXTERN int aw_client_downloads_retry_failed(
	aw_client *client, const Aniworld__V1__RetryFailedDownloadsRequest *req,
	Aniworld__V1__RetryFailedDownloadsResponse **out, aw_err *err,
		const aw_call_opts *opts);

/* Every PENDING, DOWNLOADING and PAUSED item of req->series_id (required) ->
 * CANCELLED, in one transaction. AW_ENOTFOUND for a series that does not
 * exist. Free with
 * aniworld__v1__cancel_series_downloads_response__free_unpacked(). */
AW_EXTERN int aw_client_downloads_cancel_series(
	aw_client *client, const Aniworld__V1__CancelSeriesDownloadsRequest *req,
	Aniworld__V1__CancelSeriesDownloadsResponse **out, aw_err *err,
		const aw_call_opts *opts);

/* Deletes the finished items (req->statuses, only finished ones; none: all
 * three) last changed before req->finished_before (required), of
 * req->series_id (0: every series), in one transaction. Free with
 * aniworld__v1__clear_finished_downloads_response__free_unpacked(). */
AW_EXTERN int aw_client_downloads_clear_finished(
	aw_client *client, const Aniworld__V1__ClearFinishedDownloadsRequest *req,
	Aniworld__V1__ClearFinishedDownloadsResponse **out, aw_err *err,
		const aw_call_opts *opts);

/* Moves item req->id just before item req->before_id (0: behind every item of
 * its priority) in the queue order. AW_ENOTFOUND for either id, AW_EPRECOND
 * when their priorities differ, AW_EINVAL when the ids are equal. *out: the
 * item after. */
AW_EXTERN int aw_client_downloads_move(aw_client *client,
				       const Aniworld__V1__MoveDownloadRequest *req,
				       Aniworld__V1__DownloadQueueItem **out, aw_err *err,
		const aw_call_opts *opts);

/* ---- watching the download queue (server streaming) ------------------------------------- */

/* A stream of DownloadEvents: one gRPC call with a completion queue of its own. */
typedef struct aw_watch aw_watch;

/*
 * Opens WatchDownloads for req->series_id (0: every series) and waits until
 * the server has accepted it, at most the client's deadline_ms: every change
 * made through DownloadQueueService after this returns reaches the stream, in
 * the order the changes were stored. The stream itself has no deadline; it
 * lasts until aw_watch_cancel(), the server shutting down, or the watcher
 * falling too far behind (see aw_watch_next).
 *
 * On success *out is the stream; read it with aw_watch_next() and free it with
 * aw_watch_free() before the client. Errors: AW_EINVAL (series_id < 0),
 * AW_EUNAVAIL (server unreachable or shutting down), AW_ETIMEDOUT (no answer
 * within deadline_ms), AW_ENOMEM. A refusal that arrives together with the
 * headers may instead be reported by the first aw_watch_next().
 */
AW_EXTERN int aw_client_downloads_watch(aw_client *client,
					const Aniworld__V1__WatchDownloadsRequest *req,
					aw_watch **out, aw_err *err,
			     const aw_call_opts *opts);

/*
 * Waits up to `timeout_ms` (0: only look; negative: no limit) for the next
 * event. Returns:
 *   - 0 with *event set: the next change, in commit order. The caller frees it
 *     with aniworld__v1__download_event__free_unpacked(event, NULL).
 *   - AW_ETIMEDOUT: nothing arrived in time; the stream goes on, call again.
 *   - otherwise the stream has ended, and the code is its final status mapped
 *     as for every call: AW_EUNAVAIL when the server shut down or the
 *     connection broke (also when the server ended the stream without an
 *     error), AW_ECANCELED after aw_watch_cancel(), AW_EOVERLOAD (reason
 *     WATCHER_TOO_SLOW; aw_err_grpc_status() gives 8, RESOURCE_EXHAUSTED) when
 *     the watcher fell more than the server's backlog (1024 events) behind and
 *     the server dropped it. Events may have been missed: list again and watch anew. Every later
 *     call returns the same.
 * *event is NULL unless 0 is returned. `err` (may be NULL) gets the message
 * and the error's details.
 * Not to be called from two threads at once on one stream.
 */
AW_EXTERN int aw_watch_next(aw_watch *watch, Aniworld__V1__DownloadEvent **event,
			    int64_t timeout_ms, aw_err *err);

/* Ends the stream; an aw_watch_next() waiting on it, in any thread, returns
 * AW_ECANCELED. Thread-safe; later calls do nothing. */
AW_EXTERN void aw_watch_cancel(aw_watch *watch);

/* Cancels the stream if it is still open and frees it. NULL is a no-op. No
 * aw_watch_next() may be running on it. */
AW_EXTERN void aw_watch_free(aw_watch *watch);
/* ---- aniworld.v1.UserSessionService --------------------------------------------------- */
/*
 * Sessions are keyed by session_id. The server keeps only the SHA-256 of a
 * session's token and never returns, logs or echoes the token in a message;
 * do not log the requests that carry one (CreateSession, ValidateSession)
 * yourself. Every function below fails with AW_EINVAL when a session_id it
 * needs is empty or not 1..128 printable ASCII characters.
 */

/* Creates an active session for req->user_id with req->token (both required;
 * the token at most 4096 bytes) expiring at req->expires_at (required, in the
 * future). An empty req->session_id has the server generate one (32 hex
 * digits). AW_EEXIST when req->session_id is taken; AW_EINVAL for a missing or
 * too long field (user_id 255, ip_address 64, user_agent 1024 bytes), control
 * characters in user_id or ip_address, or a past expires_at. *out: the stored
 * session (its session_id is the one to hand out with the token); free with
 * aniworld__v1__user_session__free_unpacked(). */
AW_EXTERN int aw_client_session_create(aw_client *client,
				       const Aniworld__V1__CreateSessionRequest *req,
				       Aniworld__V1__UserSession **out, aw_err *err,
			     const aw_call_opts *opts);

/* Reads session req->session_id; (*out)->is_expired says whether expires_at
 * has passed. AW_ENOTFOUND when there is none. */
AW_EXTERN int aw_client_session_get(aw_client *client, const Aniworld__V1__GetSessionRequest *req,
				    Aniworld__V1__UserSession **out, aw_err *err,
			     const aw_call_opts *opts);

/* Reads one page of sessions in id order, of one user (req->user_id) or of all
 * (empty), only the active, unexpired ones when req->active_only; pass
 * (*out)->next_page_token in the next request, with the same filters, to
 * continue. AW_EINVAL for a negative page_size or a bad token. Free with
 * aniworld__v1__list_sessions_response__free_unpacked(). */
AW_EXTERN int aw_client_session_list(aw_client *client, const Aniworld__V1__ListSessionsRequest *req,
				     Aniworld__V1__ListSessionsResponse **out, aw_err *err,
			     const aw_call_opts *opts);

/* Checks req->token against session req->session_id (both required). An
 * invalid session is not an error: the call returns 0 with (*out)->valid false
 * and (*out)->reason saying why (NOT_FOUND, TOKEN_MISMATCH, then REVOKED or
 * EXPIRED, checked in that order). When valid, the session's last_activity
 * moves to now and (*out)->session is the session; otherwise it is NULL. Free
 * with aniworld__v1__validate_session_response__free_unpacked(). */
AW_EXTERN int aw_client_session_validate(aw_client *client,
					 const Aniworld__V1__ValidateSessionRequest *req,
					 Aniworld__V1__ValidateSessionResponse **out, aw_err *err,
			     const aw_call_opts *opts);

/* Sets the expiry of session req->session_id to req->expires_at (required, in
 * the future). AW_ENOTFOUND; AW_EPRECOND when the session is revoked. *out:
 * the session after. */
AW_EXTERN int aw_client_session_extend(aw_client *client,
				       const Aniworld__V1__ExtendSessionRequest *req,
				       Aniworld__V1__UserSession **out, aw_err *err,
			     const aw_call_opts *opts);

/* Revokes session req->session_id; revoking a revoked session succeeds and
 * changes nothing. AW_ENOTFOUND when there is none. *out: the session after. */
AW_EXTERN int aw_client_session_revoke(aw_client *client,
				       const Aniworld__V1__RevokeSessionRequest *req,
				       Aniworld__V1__UserSession **out, aw_err *err,
			     const aw_call_opts *opts);

/* Revokes every active session of req->user_id (required); (*out)->revoked_count
 * says how many (0 for a user with none). Free with
 * aniworld__v1__revoke_user_sessions_response__free_unpacked(). */
AW_EXTERN int aw_client_session_revoke_user(aw_client *client,
					    const Aniworld__V1__RevokeUserSessionsRequest *req,
					    Aniworld__V1__RevokeUserSessionsResponse **out,
					    aw_err *err,
			     const aw_call_opts *opts);

/* Deletes every session whose expires_at has passed, revoked or not;
 * (*out)->deleted_count says how many. Free with
 * aniworld__v1__purge_expired_sessions_response__free_unpacked(). */
AW_EXTERN int aw_client_session_purge_expired(aw_client *client,
					      const Aniworld__V1__PurgeExpiredSessionsRequest *req,
					      Aniworld__V1__PurgeExpiredSessionsResponse **out,
					      aw_err *err,
			     const aw_call_opts *opts);

/* ---- aniworld.admin.v1.AdminService ----------------------------------------------------- */
/*
 * Admin calls need an admin token: create the client with
 * aw_client_options.bearer_token set to one of the server's
 * --admin-tokens-file tokens (data tokens do not open this service).
 */

/*
 * Takes a snapshot of the server's database (AdminService.Snapshot) and
 * writes it to `fd` (borrowed: a file, pipe or socket open for writing; it is
 * written from its current position and not closed), checking what arrives
 * against the summary that ends the stream: its size and SHA-256. The copy is
 * consistent: it holds every write acknowledged before the call, and it can
 * be put in place with `aniworld-server restore`. Waits up to `timeout_ms`
 * (negative: no limit) for each message; the first comes once the server has
 * made its copy, which takes about as long as reading the database once.
 * Writes go on on the server meanwhile.
 *
 * On success, when `summary` is not NULL, *summary is the server's summary
 * (size_bytes, sha256 as 64 hex digits, format "sqlite3"); free it with
 * aniworld__admin__v1__snapshot_summary__free_unpacked(*summary, NULL).
 * Errors: AW_EPERM (no admin token, a wrong one, or the server has no admin
 * tokens), AW_EUNIMPL (PostgreSQL: use pg_dump or the operator's backups),
 * a RESOURCE_EXHAUSTED code (aw_err_grpc_status() gives 8: no room for the
 * copy on the server's disk, "disk full: ...", or another snapshot under way),
 * AW_EUNAVAIL (server unreachable or shutting down), AW_ETIMEDOUT, AW_EIO
 * (writing to `fd` failed: the stream is cancelled), AW_EDATALOSS (what
 * arrived does not match the summary, or the stream ended without one). On
 * any error what was written to `fd` is not a snapshot: discard it. `opts`
 * (may be NULL) as for every call: metadata, a deadline for opening the stream.
 */
AW_EXTERN int aw_admin_snapshot(aw_client *client, int fd, int64_t timeout_ms,
				Aniworld__Admin__V1__SnapshotSummary **summary, aw_err *err,
				const aw_call_opts *opts);

#ifdef __cplusplus
}
#endif
#endif /* ANIWORLD_CLIENT_H */
