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
	if (id <= 0)
		return aw__invalid(call, "%s must be a positive download id, got %lld", field,
				   (long long)id);
	return 0;
}

static int check_text(aw_call *call, const char *field, const char *s)
{
	if (strlen(s) > MAX_TEXT_BYTES)
		return aw__invalid(call, "%s is longer than %d bytes", field, MAX_TEXT_BYTES);
	for (const char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			return aw__invalid(call, "%s contains control characters", field);
	}
	return 0;
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

/* Checks the fields of `d` that `mask` says will be stored. */
static int check_mutable(aw_call *call, const Aniworld__V1__DownloadQueueItem *d, uint64_t mask)
{
	int priority = (int)d->priority;

	if ((mask & AW_DOWNLOAD_PRIORITY) && (priority < 0 || priority > AW_DL_PRIORITY_MAX))
		return aw__invalid(call, "item.priority must be a DownloadPriority (0-%d), got %d",
				   AW_DL_PRIORITY_MAX, priority);
	if ((mask & AW_DOWNLOAD_URL) && check_text(call, "item.download_url", d->download_url) != 0)
		return -1;
	if ((mask & AW_DOWNLOAD_FILE_DESTINATION) &&
	    check_text(call, "item.file_destination", d->file_destination) != 0)
		return -1;
	return 0;
}

static int check_new_item(aw_call *call, const Aniworld__V1__DownloadQueueItem *d)
{
	if (d == NULL)
		return aw__invalid(call, "item is required");
	if (d->series_id <= 0)
		return aw__invalid(call, "item.series_id must be a positive series id, got %lld",
				   (long long)d->series_id);
	if (d->season < 0)
		return aw__invalid(call, "item.season must be >= 0, got %d", d->season);
	if (d->episode_number < 1)
		return aw__invalid(call, "item.episode_number must be >= 1, got %d",
				   d->episode_number);
	if (check_tag(call, "item.provider", d->provider) != 0 ||
	    check_tag(call, "item.language", d->language) != 0)
		return -1;
	return check_mutable(call, d, AW_DOWNLOAD_ALL);
}

/* Checks a list of statuses; `allowed` is the set they must come from. */
static int check_statuses(aw_call *call, const Aniworld__V1__DownloadStatus *statuses, size_t n,
			  unsigned allowed, const char *what)
{
	for (size_t i = 0; i < n; i++) {
		int s = (int)statuses[i];

		if (s < 1 || s > AW_DL_STATUS_MAX)
			return aw__invalid(call,
					   "statuses[%zu] must be a DownloadStatus other than "
					   "UNSPECIFIED, got %d",
					   i, s);
		if (!(allowed & AW_DL_BIT(s)))
			return aw__invalid(call, "statuses[%zu]: %s, got %s", i, what,
					   aw__download_status_name(s));
	}
	return 0;
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
	if (check_id(call, "item.id", in->item->id) != 0 ||
	    aw__field_mask_bits(call, in->update_mask, mutable_fields,
				sizeof(mutable_fields) / sizeof(mutable_fields[0]), output_only,
				&mask) != 0 ||
	    check_mutable(call, in->item, mask) != 0) {
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

	if (aw__page_size(call, in->page_size, &page_size) != 0) {
		closure(NULL, call);
		return;
	}
	if (in->series_id < 0) {
		aw__invalid(call, "series_id must be >= 0 (0 = every series), got %lld",
			    (long long)in->series_id);
		closure(NULL, call);
		return;
	}
	if (check_statuses(call, in->statuses, in->n_statuses, AW_DL_ALL_STATUSES, "") != 0 ||
	    check_tag(call, "provider", in->provider) != 0 ||
	    check_tag(call, "language", in->language) != 0) {
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
	int bad = 0;

	if (check_id(call, "id", in->id) != 0)
		bad = 1;
	else if (in->downloaded_bytes < 0)
		bad = aw__invalid(call, "downloaded_bytes must be >= 0, got %lld",
				  (long long)in->downloaded_bytes);
	else if (in->total_bytes < 0)
		bad = aw__invalid(call, "total_bytes must be >= 0, got %lld",
				  (long long)in->total_bytes);
	else if (!isfinite(in->download_speed) || in->download_speed < 0)
		bad = aw__invalid(call, "download_speed must be a finite number >= 0, got %g",
				  in->download_speed);
	else if (in->total_bytes > 0 && in->downloaded_bytes > in->total_bytes)
		bad = aw__invalid(call,
				  "downloaded_bytes (%lld) must not exceed total_bytes (%lld)",
				  (long long)in->downloaded_bytes, (long long)in->total_bytes);
	if (bad) {
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

	if (in->error_message[0] == '\0') {
		aw__invalid(call, "error_message is required");
		closure(NULL, call);
		return;
	}
	if (strlen(in->error_message) > MAX_TEXT_BYTES) {
		aw__invalid(call, "error_message is longer than %d bytes", MAX_TEXT_BYTES);
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

	if (in->n_statuses == 0) {
		aw__invalid(call, "statuses is required: name the finished statuses to purge");
		closure(NULL, call);
		return;
	}
	if (check_statuses(call, in->statuses, in->n_statuses, AW_DL_FINISHED,
			   "only COMPLETED, FAILED and CANCELLED items can be purged") != 0) {
		closure(NULL, call);
		return;
	}
	for (size_t i = 0; i < in->n_statuses; i++)
		statuses |= AW_DL_BIT(in->statuses[i]);
	req = aw__reply_req(call, (ProtobufCClosure)closure);
	if (req != NULL)
		aw_repo_downloads_purge(of(svc)->repo, req, statuses, NULL);
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
	aw_err err;

	if (in->series_id < 0) {
		aw__invalid(call, "series_id must be >= 0 (0 = every series), got %lld",
			    (long long)in->series_id);
		closure(NULL, call);
		return;
	}
	/* Changes committed before the watch are not its own: where events come
	 * back from the database after the reply, wait for those on their way
	 * first. A replica that cannot follow changes now refuses the watch
	 * rather than leave it silent. */
	if (aw_repo_events_sync(of(svc)->repo, WATCH_SYNC_MS, &err) != 0) {
		aw_err refused;

		aw_err_set(&refused, AW_EUNAVAIL, "cannot follow download changes now: %s",
			   err.msg);
		aw_call_set_error(call, &refused);
		closure(NULL, call);
		return;
	}
	/* The stream stays open after we return; the broker sends to it. */
	aw_download_events_watch(of(svc)->events, call, in->series_id);
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
