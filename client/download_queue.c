/*
 * aniworld.v1.DownloadQueueService, one typed function per method.
 */
#include "client_int.h"

#define DOWNLOADS_SERVICE (&aniworld__v1__download_queue_service__descriptor)

int aw_client_downloads_enqueue(aw_client *c, const Aniworld__V1__EnqueueDownloadRequest *req,
				Aniworld__V1__DownloadQueueItem **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "EnqueueDownload", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_get(aw_client *c, const Aniworld__V1__GetDownloadRequest *req,
			    Aniworld__V1__DownloadQueueItem **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "GetDownload", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_update(aw_client *c, const Aniworld__V1__UpdateDownloadRequest *req,
			       Aniworld__V1__DownloadQueueItem **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "UpdateDownload", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_delete(aw_client *c, const Aniworld__V1__DeleteDownloadRequest *req,
			       aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "DeleteDownload", &req->base, NULL, err, opts);
}

int aw_client_downloads_list(aw_client *c, const Aniworld__V1__ListDownloadsRequest *req,
			     Aniworld__V1__ListDownloadsResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "ListDownloads", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_claim(aw_client *c, const Aniworld__V1__ClaimNextDownloadRequest *req,
			      Aniworld__V1__ClaimNextDownloadResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "ClaimNextDownload", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_report_progress(aw_client *c,
					const Aniworld__V1__ReportProgressRequest *req,
					Aniworld__V1__DownloadQueueItem **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "ReportProgress", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_complete(aw_client *c, const Aniworld__V1__CompleteDownloadRequest *req,
				 Aniworld__V1__DownloadQueueItem **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "CompleteDownload", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_fail(aw_client *c, const Aniworld__V1__FailDownloadRequest *req,
			     Aniworld__V1__DownloadQueueItem **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "FailDownload", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_pause(aw_client *c, const Aniworld__V1__PauseDownloadRequest *req,
			      Aniworld__V1__DownloadQueueItem **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "PauseDownload", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_resume(aw_client *c, const Aniworld__V1__ResumeDownloadRequest *req,
			       Aniworld__V1__DownloadQueueItem **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "ResumeDownload", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_cancel(aw_client *c, const Aniworld__V1__CancelDownloadRequest *req,
			       Aniworld__V1__DownloadQueueItem **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "CancelDownload", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_retry(aw_client *c, const Aniworld__V1__RetryDownloadRequest *req,
			      Aniworld__V1__DownloadQueueItem **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "RetryDownload", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_purge(aw_client *c, const Aniworld__V1__PurgeDownloadsRequest *req,
			      Aniworld__V1__PurgeDownloadsResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "PurgeDownloads", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_summary(aw_client *c, const Aniworld__V1__GetQueueSummaryRequest *req,
				Aniworld__V1__GetQueueSummaryResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "GetQueueSummary", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_retry_failed(aw_client *c,
				     const Aniworld__V1__RetryFailedDownloadsRequest *req,
				     Aniworld__V1__RetryFailedDownloadsResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "RetryFailedDownloads", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_cancel_series(aw_client *c,
				      const Aniworld__V1__CancelSeriesDownloadsRequest *req,
				      Aniworld__V1__CancelSeriesDownloadsResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "CancelSeriesDownloads", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_clear_finished(aw_client *c,
				       const Aniworld__V1__ClearFinishedDownloadsRequest *req,
				       Aniworld__V1__ClearFinishedDownloadsResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "ClearFinishedDownloads", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_move(aw_client *c, const Aniworld__V1__MoveDownloadRequest *req,
			     Aniworld__V1__DownloadQueueItem **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, DOWNLOADS_SERVICE, "MoveDownload", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_downloads_watch(aw_client *c, const Aniworld__V1__WatchDownloadsRequest *req,
			      aw_watch **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_watch(c, DOWNLOADS_SERVICE, "WatchDownloads", &req->base, out, err, opts);
}
