/*
 * aniworld.v1.DownloadQueueService: validation and status mapping; storage is
 * the repository's, the item's life (which status change is allowed from
 * where) is enforced inside the write that makes the change.
 *
 * The repository publishes every change to the queue once it has committed,
 * whichever replica made it (the server hands its events to the
 * WatchDownloads broker); here WatchDownloads only adds the watcher.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/status.h>

#include "download_events.h"
#include "field_mask.h"
#include "reply.h"
#include "services.h"

/* Longest wait for the change events already on their way when a watch begins. */
#define WATCH_SYNC_MS 5000

/* Longest URL or destination accepted. */
#define MAX_TEXT_BYTES 4096

/* Longest provider or language accepted. */
#define MAX_TAG_BYTES 64

typedef struct downloads_service {
	Aniworld__V1__DownloadQueueService_Service base; /* first: the transport's view */
	aw_repo *repo;                                   /* borrowed */
	aw_download_events *events;                      /* borrowed: WatchDownloads' watchers */
	int64_t stale_claim_ms;                          /* claims silent this long expire */
} downloads_service;

static const aw_mask_field mutable_fields[] = {
	{"priority", AW_DOWNLOAD_PRIORITY},
	{"download_url", AW_DOWNLOAD_URL},
	{"file_destination", AW_DOWNLOAD_FILE_DESTINATION},
};

static const char *const output_only[] = {
	"id", "status", "progress_percent", "downloaded_bytes", "total_bytes", "download_speed",
	"error_message", "retry_count", "started_at", "completed_at", "created_at", "updated_at",
	"queue_position", NULL,
};

static downloads_service *of(Aniworld__V1__DownloadQueueService_Service *svc)
{
	return (downloads_service *)svc;
}

/* ---- validation ----------------------------------------------------------------------- */

static int check_id(aw_call *call, const char *field, int64_t id)
{
	return aw__check_id(call, field, "download", id);
}

static int check_text(aw_call *call, const char *field, const char *s)
{
	return aw__check_text(call, field, s, MAX_TEXT_BYTES, AW_TEXT_NO_CTRL);
}

/* A provider or language: at most MAX_TAG_BYTES printable ASCII bytes. */
static int check_tag(aw_call *call, const char *field, const char *s)
{
	if (strlen(s) > MAX_TAG_BYTES)
		return aw__invalid(call, "%s is longer than %d bytes", field, MAX_TAG_BYTES);
	for (const char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7E)
			return aw__invalid(call, "%s must be printable ASCII", field);
	}
	return 0;
}

/* Checks the fields of `d` that `mask` says will be stored, recording every
 * violation. */
static void check_mutable(aw_call *call, const Aniworld__V1__DownloadQueueItem *d, uint64_t mask)
{
	int priority = (int)d->priority;

	if ((mask & AW_DOWNLOAD_PRIORITY) && (priority < 0 || priority > AW_DL_PRIORITY_MAX))
		aw__invalid(call, "item.priority must be a DownloadPriority (0-%d), got %d",
			    AW_DL_PRIORITY_MAX, priority);
	if (mask & AW_DOWNLOAD_URL)
		check_text(call, "item.download_url", d->download_url);
	if (mask & AW_DOWNLOAD_FILE_DESTINATION)
		check_text(call, "item.file_destination", d->file_destination);
}

static int check_new_item(aw_call *call, const Aniworld__V1__DownloadQueueItem *d)
{
	if (d == NULL)
		return aw__invalid(call, "item is required");
	aw__check_id(call, "item.series_id", "series", d->series_id);
	aw__check_min(call, "item.season", d->season, 0);
	aw__check_min(call, "item.episode_number", d->episode_number, 1);
	check_tag(call, "item.provider", d->provider);
	check_tag(call, "item.language", d->language);
	check_mutable(call, d, AW_DOWNLOAD_ALL);
	return aw__refused(call) ? -1 : 0;
}

/* Checks a list of statuses; `allowed` is the set they must come from. */
static int check_statuses(aw_call *call, const Aniworld__V1__DownloadStatus *statuses, size_t n,
			  unsigned allowed, const char *what)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		int s = (int)statuses[i];

		if (s < 1 || s > AW_DL_STATUS_MAX)
			rc = aw__invalid(call,
					 "statuses[%zu] must be a DownloadStatus other than "
					 "UNSPECIFIED, got %d",
					 i, s);
		else if (!(allowed & AW_DL_BIT(s)))
			rc = aw__invalid(call, "statuses[%zu]: %s, got %s", i, what,
					 aw__download_status_name(s));
	}
	return rc;
}

/* ---- the methods --------------------------------------------------------------------------- */

static void enqueue_download(Aniworld__V1__DownloadQueueService_Service *svc,
			     const Aniworld__V1__EnqueueDownloadRequest *in,
			     Aniworld__V1__DownloadQueueItem_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_new_item(call, in->item) != 0) {
		closure(NULL, call);
		return;
	}
	req = aw__reply_req(call, (ProtobufCClosure)closure);
	if (req != NULL)
		aw_repo_downloads_enqueue(of(svc)->repo, req, in->item);
}

static void get_download(Aniworld__V1__DownloadQueueService_Service *svc,
			 const Aniworld__V1__GetDownloadRequest *in,
			 Aniworld__V1__DownloadQueueItem_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_id(call, "id", in->id) != 0) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_downloads_get(of(svc)->repo, req, in->id);
}

static void update_download(Aniworld__V1__DownloadQueueService_Service *svc,
			    const Aniworld__V1__UpdateDownloadRequest *in,
			    Aniworld__V1__DownloadQueueItem_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;
	uint64_t mask;

	if (in->item == NULL) {
		aw__invalid(call, "item is required");
		closure(NULL, call);
		return;
	}
	check_id(call, "item.id", in->item->id);
	if (aw__field_mask_bits(call, in->update_mask, mutable_fields,
				sizeof(mutable_fields) / sizeof(mutable_fields[0]), output_only,
				&mask) == 0)
		check_mutable(call, in->item, mask);
	if (aw__refused(call)) {
		closure(NULL, call);
		return;
	}
	req = aw__reply_req(call, (ProtobufCClosure)closure);
	if (req != NULL)
		aw_repo_downloads_update(of(svc)->repo, req, in->item, mask);
}

static void delete_download(Aniworld__V1__DownloadQueueService_Service *svc,
			    const Aniworld__V1__DeleteDownloadRequest *in,
			    Google__Protobuf__Empty_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_id(call, "id", in->id) != 0) {
		closure(NULL, call);
		return;
	}
	req = aw__reply_req(call, (ProtobufCClosure)closure);
	if (req != NULL)
		aw_repo_downloads_delete(of(svc)->repo, req, in->id, NULL);
}

static void list_downloads(Aniworld__V1__DownloadQueueService_Service *svc,
			   const Aniworld__V1__ListDownloadsRequest *in,
			   Aniworld__V1__ListDownloadsResponse_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;
	int page_size;

	aw__page_size(call, in->page_size, &page_size);
	if (in->series_id < 0)
		aw__invalid(call, "series_id must be >= 0 (0 = every series), got %lld",
			    (long long)in->series_id);
	check_statuses(call, in->statuses, in->n_statuses, AW_DL_ALL_STATUSES, "");
	check_tag(call, "provider", in->provider);
	check_tag(call, "language", in->language);
	if (aw__refused(call)) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_downloads_list(of(svc)->repo, req, in, page_size);
}

static void claim_next_download(Aniworld__V1__DownloadQueueService_Service *svc,
				const Aniworld__V1__ClaimNextDownloadRequest *in,
				Aniworld__V1__ClaimNextDownloadResponse_Closure closure,
				void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_tag(call, "provider", in->provider) != 0 ||
	    check_tag(call, "language", in->language) != 0) {
		closure(NULL, call);
		return;
	}
	req = aw__reply_req(call, (ProtobufCClosure)closure);
	if (req != NULL)
		aw_repo_downloads_claim_for(of(svc)->repo, req, of(svc)->stale_claim_ms,
					    in->provider, in->language, NULL);
}

static void report_progress(Aniworld__V1__DownloadQueueService_Service *svc,
			    const Aniworld__V1__ReportProgressRequest *in,
			    Aniworld__V1__DownloadQueueItem_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	check_id(call, "id", in->id);
	aw__check_min(call, "downloaded_bytes", in->downloaded_bytes, 0);
	aw__check_min(call, "total_bytes", in->total_bytes, 0);
	if (!isfinite(in->download_speed) || in->download_speed < 0)
		aw__invalid(call, "download_speed must be a finite number >= 0, got %g",
			    in->download_speed);
	if (in->total_bytes > 0 && in->downloaded_bytes > in->total_bytes)
		aw__invalid(call, "downloaded_bytes (%lld) must not exceed total_bytes (%lld)",
			    (long long)in->downloaded_bytes, (long long)in->total_bytes);
	if (aw__refused(call)) {
		closure(NULL, call);
		return;
	}
	req = aw__reply_req(call, (ProtobufCClosure)closure);
	if (req != NULL)
		aw_repo_downloads_progress(of(svc)->repo, req, in);
}

/* The status changes: one shape, the action and its reason apart. */
static void transition(Aniworld__V1__DownloadQueueService_Service *svc, int64_t id,
		       aw_download_action action, const char *error_message,
		       Aniworld__V1__DownloadQueueItem_Closure closure, aw_call *call)
{
	aw_repo_req *req;

	if (check_id(call, "id", id) != 0) {
		closure(NULL, call);
		return;
	}
	req = aw__reply_req(call, (ProtobufCClosure)closure);
	if (req != NULL)
		aw_repo_downloads_transition(of(svc)->repo, req, id, action, error_message);
}

static void complete_download(Aniworld__V1__DownloadQueueService_Service *svc,
			      const Aniworld__V1__CompleteDownloadRequest *in,
			      Aniworld__V1__DownloadQueueItem_Closure closure, void *closure_data)
{
	transition(svc, in->id, AW_DL_COMPLETE, NULL, closure, closure_data);
}

static void fail_download(Aniworld__V1__DownloadQueueService_Service *svc,
			  const Aniworld__V1__FailDownloadRequest *in,
			  Aniworld__V1__DownloadQueueItem_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;

	check_id(call, "id", in->id);
	aw__check_text(call, "error_message", in->error_message, MAX_TEXT_BYTES, AW_TEXT_REQUIRED);
	if (aw__refused(call)) {
		closure(NULL, call);
		return;
	}
	transition(svc, in->id, AW_DL_FAIL, in->error_message, closure, call);
}

static void pause_download(Aniworld__V1__DownloadQueueService_Service *svc,
			   const Aniworld__V1__PauseDownloadRequest *in,
			   Aniworld__V1__DownloadQueueItem_Closure closure, void *closure_data)
{
	transition(svc, in->id, AW_DL_PAUSE, NULL, closure, closure_data);
}

static void resume_download(Aniworld__V1__DownloadQueueService_Service *svc,
			    const Aniworld__V1__ResumeDownloadRequest *in,
			    Aniworld__V1__DownloadQueueItem_Closure closure, void *closure_data)
{
	transition(svc, in->id, AW_DL_RESUME, NULL, closure, closure_data);
}

static void cancel_download(Aniworld__V1__DownloadQueueService_Service *svc,
			    const Aniworld__V1__CancelDownloadRequest *in,
			    Aniworld__V1__DownloadQueueItem_Closure closure, void *closure_data)
{
	transition(svc, in->id, AW_DL_CANCEL, NULL, closure, closure_data);
}

static void retry_download(Aniworld__V1__DownloadQueueService_Service *svc,
			   const Aniworld__V1__RetryDownloadRequest *in,
			   Aniworld__V1__DownloadQueueItem_Closure closure, void *closure_data)
{
	transition(svc, in->id, AW_DL_RETRY, NULL, closure, closure_data);
}

static void purge_downloads(Aniworld__V1__DownloadQueueService_Service *svc,
			    const Aniworld__V1__PurgeDownloadsRequest *in,
			    Aniworld__V1__PurgeDownloadsResponse_Closure closure,
			    void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;
	unsigned statuses = 0;

	if (in->n_statuses == 0)
		aw__invalid(call, "statuses is required: name the finished statuses to purge");
	check_statuses(call, in->statuses, in->n_statuses, AW_DL_FINISHED,
		       "only COMPLETED, FAILED and CANCELLED items can be purged");
	if (aw__refused(call)) {
		closure(NULL, call);
		return;
	}
	for (size_t i = 0; i < in->n_statuses; i++)
		statuses |= AW_DL_BIT(in->statuses[i]);
	req = aw__reply_req(call, (ProtobufCClosure)closure);
	if (req != NULL)
		aw_repo_downloads_purge(of(svc)->repo, req, statuses, NULL);
}

/* A watch waiting for the events already on their way (watch_downloads). */
typedef struct watch_start {
	aw_download_events *events;
	aw_call *call;               /* referenced until watch_synced */
} watch_start;

/* The end of a new watch's events sync, on the thread that delivers events
 * (between two deliveries) or on the stub's own. */
static void watch_synced(void *arg, int rc, const aw_err *err)
{
	watch_start *ws = arg;

	if (rc == 0) {
		aw_download_events_activate(ws->events, ws->call);
	} else {
		char text[AW_ERR_MSG_MAX];

		snprintf(text, sizeof(text), "cannot follow download changes now: %.200s",
			 err != NULL ? err->msg : aw_strerror(rc));
		aw_call_finish(ws->call, GRPC_STATUS_UNAVAILABLE, text);
	}
	aw_call_unref(ws->call);
	free(ws);
}

static void get_queue_summary(Aniworld__V1__DownloadQueueService_Service *svc,
			      const Aniworld__V1__GetQueueSummaryRequest *in,
			      Aniworld__V1__GetQueueSummaryResponse_Closure closure,
			      void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (in->series_id < 0) {
		aw__invalid(call, "series_id must be >= 0 (0 = every series), got %lld",
			    (long long)in->series_id);
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_downloads_summary(of(svc)->repo, req, in->series_id);
}

static void retry_failed_downloads(Aniworld__V1__DownloadQueueService_Service *svc,
				   const Aniworld__V1__RetryFailedDownloadsRequest *in,
				   Aniworld__V1__RetryFailedDownloadsResponse_Closure closure,
				   void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (in->series_id < 0) {
		aw__invalid(call, "series_id must be >= 0 (0 = every series), got %lld",
			    (long long)in->series_id);
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_downloads_retry_failed(of(svc)->repo, req, in->series_id, NULL);
}

static void cancel_series_downloads(Aniworld__V1__DownloadQueueService_Service *svc,
				    const Aniworld__V1__CancelSeriesDownloadsRequest *in,
				    Aniworld__V1__CancelSeriesDownloadsResponse_Closure closure,
				    void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (in->series_id <= 0) {
		aw__invalid(call, "series_id must be a positive series id, got %lld",
			    (long long)in->series_id);
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_downloads_cancel_series(of(svc)->repo, req, in->series_id, NULL);
}

static void clear_finished_downloads(Aniworld__V1__DownloadQueueService_Service *svc,
				     const Aniworld__V1__ClearFinishedDownloadsRequest *in,
				     Aniworld__V1__ClearFinishedDownloadsResponse_Closure closure,
				     void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;
	unsigned statuses = 0;
	int bad = 0;

	if (in->finished_before == NULL)
		bad = aw__invalid(call, "finished_before is required");
	else if (in->finished_before->nanos < 0 || in->finished_before->nanos > 999999999)
		bad = aw__invalid(call, "finished_before.nanos must be in 0..999999999, got %d",
				  in->finished_before->nanos);
	else if (in->series_id < 0)
		bad = aw__invalid(call, "series_id must be >= 0 (0 = every series), got %lld",
				  (long long)in->series_id);
	else if (check_statuses(call, in->statuses, in->n_statuses, AW_DL_FINISHED,
				"only COMPLETED, FAILED and CANCELLED items can be cleared") != 0)
		bad = 1;
	if (bad) {
		closure(NULL, call);
		return;
	}
	for (size_t i = 0; i < in->n_statuses; i++)
		statuses |= AW_DL_BIT(in->statuses[i]);
	if (statuses == 0)
		statuses = AW_DL_FINISHED;
	req = aw__reply_req(call, (ProtobufCClosure)closure);
	if (req != NULL)
		aw_repo_downloads_clear(of(svc)->repo, req, statuses,
					aw__pb_timestamp_us(in->finished_before), in->series_id,
					NULL);
}

static void move_download(Aniworld__V1__DownloadQueueService_Service *svc,
			  const Aniworld__V1__MoveDownloadRequest *in,
			  Aniworld__V1__DownloadQueueItem_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;
	int bad = 0;

	if (check_id(call, "id", in->id) != 0)
		bad = 1;
	else if (in->before_id < 0)
		bad = aw__invalid(call,
				  "before_id must be a download id, or 0 for the end of the queue, "
				  "got %lld",
				  (long long)in->before_id);
	else if (in->before_id == in->id)
		bad = aw__invalid(call, "before_id must name another download than id (%lld)",
				  (long long)in->id);
	if (bad) {
		closure(NULL, call);
		return;
	}
	req = aw__reply_req(call, (ProtobufCClosure)closure);
	if (req != NULL)
		aw_repo_downloads_move(of(svc)->repo, req, in->id, in->before_id, NULL);
}

static void watch_downloads(Aniworld__V1__DownloadQueueService_Service *svc,
			    const Aniworld__V1__WatchDownloadsRequest *in,
			    Aniworld__V1__DownloadEvent_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	watch_start *ws;

	if (in->series_id < 0) {
		aw__invalid(call, "series_id must be >= 0 (0 = every series), got %lld",
			    (long long)in->series_id);
		closure(NULL, call);
		return;
	}
	ws = malloc(sizeof(*ws));
	if (ws == NULL) {
		aw_call_set_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for a watch");
		closure(NULL, call);
		return;
	}
	/* The stream stays open after we return; the broker sends to it. It
	 * receives nothing yet: changes committed before the watch are not its
	 * own, and where events come back from the database after the reply,
	 * those on their way are waited for first (up to WATCH_SYNC_MS), by the
	 * repository's event thread, not this one, which goes on serving calls.
	 * A replica that cannot follow changes now then ends the watch with
	 * UNAVAILABLE rather than leave it silent. */
	aw_download_events_watch_pending(of(svc)->events, call, in->series_id);
	ws->events = of(svc)->events;
	ws->call = call;
	aw_call_ref(call);
	aw_repo_events_sync_start(of(svc)->repo, WATCH_SYNC_MS, watch_synced, ws);
}

/* ---- life ------------------------------------------------------------------------------- */

static void destroy(Aniworld__V1__DownloadQueueService_Service *svc)
{
	free(svc);
}

int aw_downloads_service_new(ProtobufCService **out, const aw_service_env *env, aw_err *err)
{
	downloads_service *s;

	*out = NULL;
	if (env->cfg->stale_claim_ms < 0)
		return aw_err_set(err, AW_EINVAL,
				  "the stale-claim timeout must be >= 0, got %lld ms",
				  (long long)env->cfg->stale_claim_ms);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for DownloadQueueService");
	aniworld__v1__download_queue_service__init(&s->base, destroy);
	s->base.enqueue_download = enqueue_download;
	s->base.get_download = get_download;
	s->base.update_download = update_download;
	s->base.delete_download = delete_download;
	s->base.list_downloads = list_downloads;
	s->base.claim_next_download = claim_next_download;
	s->base.report_progress = report_progress;
	s->base.complete_download = complete_download;
	s->base.fail_download = fail_download;
	s->base.pause_download = pause_download;
	s->base.resume_download = resume_download;
	s->base.cancel_download = cancel_download;
	s->base.retry_download = retry_download;
	s->base.purge_downloads = purge_downloads;
	s->base.watch_downloads = watch_downloads;
	s->base.get_queue_summary = get_queue_summary;
	s->base.retry_failed_downloads = retry_failed_downloads;
	s->base.cancel_series_downloads = cancel_series_downloads;
	s->base.clear_finished_downloads = clear_finished_downloads;
	s->base.move_download = move_download;
	s->repo = env->repo;
	s->events = env->download_events;
	s->stale_claim_ms = env->cfg->stale_claim_ms;
	*out = &s->base.base;
	return 0;
}
