/*
 * Download queue wrappers: checks and packaging around the backend's
 * downloads methods, and the rules of the item's life that every backend
 * shares (which status change is allowed from where, and what it is called).
 *
 * Every write that changes queue items publishes each change, right after
 * making it and inside its transaction, through the backend's
 * downloads_publish: the backend delivers them to the repository's owner once
 * they have committed (see aw_repo_event_fn), so the events come from the
 * repository, wherever the write was made, and never from a write undone.
 */
#include <stdlib.h>
#include <string.h>

#include "page_token.h"
#include "repo.h"

#define EV_CREATED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_CREATED
#define EV_UPDATED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_UPDATED
#define EV_DELETED ANIWORLD__V1__DOWNLOAD_EVENT_TYPE__DOWNLOAD_EVENT_TYPE_DELETED

/* ---- the life of an item ------------------------------------------------------------- */

static const char *const status_names[] = {
	"UNSPECIFIED", "PENDING", "DOWNLOADING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED",
};

const char *aw__download_status_name(int status)
{
	if (status < 0 || status > AW_DL_STATUS_MAX)
		return "UNKNOWN";
	return status_names[status];
}

/*
 * The download state machine: the one table every backend's SQL is driven by.
 * Claiming (PENDING -> DOWNLOADING) and requeueing a stale claim (DOWNLOADING
 * -> PENDING) are the claim's own; everything a caller can ask for is here.
 */
static const aw_download_rule rules[AW_DL_ACTIONS] = {
	[AW_DL_COMPLETE] = {AW_DL_COMPLETE, AW_DL_BIT(AW_DL_DOWNLOADING), AW_DL_COMPLETED,
			    AW_DL_EFFECT_COMPLETE, "CompleteDownload", "DOWNLOADING"},
	[AW_DL_FAIL] = {AW_DL_FAIL, AW_DL_BIT(AW_DL_DOWNLOADING), AW_DL_FAILED,
			AW_DL_EFFECT_ERROR, "FailDownload", "DOWNLOADING"},
	[AW_DL_PAUSE] = {AW_DL_PAUSE, AW_DL_BIT(AW_DL_PENDING) | AW_DL_BIT(AW_DL_DOWNLOADING),
			 AW_DL_PAUSED, 0, "PauseDownload", "PENDING or DOWNLOADING"},
	[AW_DL_RESUME] = {AW_DL_RESUME, AW_DL_BIT(AW_DL_PAUSED), AW_DL_PENDING, 0,
			  "ResumeDownload", "PAUSED"},
	[AW_DL_CANCEL] = {AW_DL_CANCEL,
			  AW_DL_BIT(AW_DL_PENDING) | AW_DL_BIT(AW_DL_DOWNLOADING) |
				  AW_DL_BIT(AW_DL_PAUSED),
			  AW_DL_CANCELLED, 0, "CancelDownload", "PENDING, DOWNLOADING or PAUSED"},
	[AW_DL_RETRY] = {AW_DL_RETRY, AW_DL_BIT(AW_DL_FAILED) | AW_DL_BIT(AW_DL_CANCELLED),
			 AW_DL_PENDING, AW_DL_EFFECT_RESET, "RetryDownload", "FAILED or CANCELLED"},
};

const aw_download_rule *aw__download_rule(aw_download_action action)
{
	return &rules[action];
}

int aw__download_rule_allows(const aw_download_rule *rule, int status)
{
	return status >= 0 && status <= AW_DL_STATUS_MAX && (rule->from & AW_DL_BIT(status)) != 0;
}

/* ---- changes --------------------------------------------------------------------------- */

int aw__download_changes_add(aw_download_changes *changes, ProtobufCAllocator *mem,
			     Aniworld__V1__DownloadQueueItem *item,
			     Aniworld__V1__DownloadEventType type, aw_err *err)
{
	Aniworld__V1__DownloadEvent *ev;

	if (changes->n_events == changes->cap_events) {
		/* The allocator may be an arena without realloc: grow by copying. */
		size_t cap = changes->cap_events ? changes->cap_events * 2 : 8;
		size_t size = cap * sizeof(*changes->events);
		Aniworld__V1__DownloadEvent **events =
			mem != NULL ? mem->alloc(mem->allocator_data, size) : malloc(size);

		if (events == NULL)
			goto nomem;
		if (changes->n_events > 0)
			memcpy(events, changes->events, changes->n_events * sizeof(*events));
		if (mem != NULL)
			mem->free(mem->allocator_data, changes->events);
		else
			free(changes->events);
		changes->events = events;
		changes->cap_events = cap;
	}
	ev = mem != NULL ? mem->alloc(mem->allocator_data, sizeof(*ev)) : malloc(sizeof(*ev));
	if (ev == NULL)
		goto nomem;
	aniworld__v1__download_event__init(ev);
	ev->item = item;
	ev->type = type;
	changes->events[changes->n_events++] = ev;
	return 0;

nomem:
	protobuf_c_message_free_unpacked(&item->base, mem);
	return aw_err_set(err, AW_ENOMEM, "out of memory recording a queue change");
}

int aw__download_publish(aw_repo *r, Aniworld__V1__DownloadQueueItem *item,
			 Aniworld__V1__DownloadEventType type, aw_err *err)
{
	Aniworld__V1__DownloadEvent ev = ANIWORLD__V1__DOWNLOAD_EVENT__INIT;

	ev.item = item;
	ev.type = type;
	return r->methods->downloads_publish(r, &ev, err);
}

int aw__download_changes_publish(aw_repo *r, const aw_download_changes *changes, size_t from,
				 aw_err *err)
{
	for (size_t i = from; i < changes->n_events; i++) {
		int rc = r->methods->downloads_publish(r, changes->events[i], err);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void aw__download_changes_trim(aw_download_changes *changes, size_t n, ProtobufCAllocator *mem)
{
	while (changes->n_events > n) {
		changes->n_events--;
		protobuf_c_message_free_unpacked(&changes->events[changes->n_events]->base, mem);
		changes->events[changes->n_events] = NULL;
	}
}

void aw_download_changes_clear(aw_download_changes *changes, ProtobufCAllocator *mem)
{
	for (size_t i = 0; i < changes->n_events; i++)
		protobuf_c_message_free_unpacked(&changes->events[i]->base, mem);
	if (changes->events != NULL) {
		if (mem != NULL)
			mem->free(mem->allocator_data, changes->events);
		else
			free(changes->events);
	}
	memset(changes, 0, sizeof(*changes));
}

/* ---- operations -------------------------------------------------------------------------- */

static ProtobufCMessage *as_message(Aniworld__V1__DownloadQueueItem *item)
{
	return item != NULL ? &item->base : NULL;
}

static int write_enqueue(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result, aw_err *err)
{
	Aniworld__V1__DownloadQueueItem *out = NULL;
	int rc = r->methods->downloads_enqueue(r, req->args.downloads_write.in, aw__repo_now(r), req->mem, &out, err);

	if (rc == 0)
		rc = aw__download_publish(r, out, EV_CREATED, err);
	*result = as_message(out);
	return rc;
}

void aw_repo_downloads_enqueue(aw_repo *r, aw_repo_req *req,
			       const Aniworld__V1__DownloadQueueItem *in)
{
	if (in == NULL)
		return aw__repo_invalid(req, "item is required");
	req->write = write_enqueue;
	req->args.downloads_write.in = in;
	aw__writer_submit(r, req);
}

void aw_repo_downloads_get(aw_repo *r, aw_repo_req *req, int64_t id)
{
	Aniworld__V1__DownloadQueueItem *out = NULL;
	aw_err err;
	int rc;

	aw_err_clear(&err);
	aw__repo_deadline_set(req->deadline_us); /* until aw__repo_report */
	rc = r->methods->downloads_get(r, id, req->mem, &out, &err);
	aw__repo_report(r, req, rc, &err, as_message(out));
}

/* The set of statuses a list asks for; every status when none is named. */
static unsigned list_statuses(const Aniworld__V1__ListDownloadsRequest *in)
{
	unsigned set = 0;

	for (size_t i = 0; i < in->n_statuses; i++) {
		if (in->statuses[i] > 0 && in->statuses[i] <= AW_DL_STATUS_MAX)
			set |= AW_DL_BIT(in->statuses[i]);
	}
	return set != 0 ? set : AW_DL_ALL_STATUSES;
}

void aw_repo_downloads_list(aw_repo *r, aw_repo_req *req,
			    const Aniworld__V1__ListDownloadsRequest *in, int page_size)
{
	Aniworld__V1__ListDownloadsResponse *out = NULL;
	unsigned statuses = list_statuses(in);
	/* The set, not the list: [PENDING, PAUSED] and [PAUSED, PENDING] agree. */
	uint64_t filter = aw_filter_hash_str(
		aw_filter_hash_str(aw_filter_hash_i64(aw_filter_hash_i64(AW_FILTER_HASH_INIT,
									  statuses),
						      in->series_id),
				   in->provider),
		in->language);
	aw_cursor after;
	aw_err err;
	int more = 0, rc;

	aw_err_clear(&err);
	aw__repo_deadline_set(req->deadline_us); /* until aw__repo_report */
	rc = aw_page_token_decode(in->page_token, AW_LIST_DOWNLOADS, filter, &after, &err);
	if (rc == 0)
		rc = r->methods->downloads_list(r, in, statuses, &after, page_size,
						aw__repo_page_budget(r), req->mem, &out, &more,
						&err);
	if (rc == 0 && more && out->n_items > 0) {
		const Aniworld__V1__DownloadQueueItem *last = out->items[out->n_items - 1];
		aw_cursor next = {.valid = 1};
		char token[AW_PAGE_TOKEN_MAX];

		next.k[0] = last->priority;
		next.k[1] = last->queue_position;
		next.k[2] = last->id;
		aw_page_token_encode(&next, AW_LIST_DOWNLOADS, filter, token);
		out->next_page_token = aw__repo_strdup(req->mem, token);
		if (out->next_page_token == NULL) {
			out->next_page_token = (char *)protobuf_c_empty_string;
			rc = aw_err_set(&err, AW_ENOMEM, "out of memory");
		}
	}
	aw__repo_report(r, req, rc, &err, out != NULL ? &out->base : NULL);
}

static int write_update(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result, aw_err *err)
{
	Aniworld__V1__DownloadQueueItem *out = NULL;
	int rc = r->methods->downloads_update(r, req->args.downloads_write.in,
					      req->args.downloads_write.mask, req->if_version,
					      aw__repo_now(r), req->mem,
					      &out, err);

	if (rc == 0)
		rc = aw__download_publish(r, out, EV_UPDATED, err);
	*result = as_message(out);
	return rc;
}

void aw_repo_downloads_update(aw_repo *r, aw_repo_req *req,
			      const Aniworld__V1__DownloadQueueItem *in, uint64_t mask)
{
	if (in == NULL)
		return aw__repo_invalid(req, "item is required");
	req->write = write_update;
	req->args.downloads_write.in = in;
	req->args.downloads_write.mask = mask;
	aw__writer_submit(r, req);
}

static int write_delete(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result, aw_err *err)
{
	aw_download_changes *deleted = req->args.downloads_delete.deleted;
	Aniworld__V1__DownloadQueueItem *gone = NULL;
	int rc = r->methods->downloads_delete(r, req->args.downloads_delete.id, req->if_version,
					      req->mem, &gone, err);

	if (rc != 0)
		return rc;
	rc = aw__download_publish(r, gone, EV_DELETED, err);
	if (rc == 0 && deleted != NULL)
		rc = aw__download_changes_add(deleted, req->mem, gone, EV_DELETED, err);
	else
		protobuf_c_message_free_unpacked(&gone->base, req->mem);
	return rc != 0 ? rc : aw__repo_empty(req, result, err);
}

void aw_repo_downloads_delete(aw_repo *r, aw_repo_req *req, int64_t id,
			      aw_download_changes *deleted)
{
	req->write = write_delete;
	req->args.downloads_delete.id = id;
	req->args.downloads_delete.deleted = deleted;
	req->changes = deleted;
	aw__writer_submit(r, req);
}

static int write_claim(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result, aw_err *err)
{
	aw_download_changes own = {0}, *requeued = req->args.downloads_claim.requeued;
	Aniworld__V1__ClaimNextDownloadResponse *res;
	Aniworld__V1__DownloadQueueItem *item = NULL;
	int64_t now = aw__repo_now(r);
	size_t before;
	int rc;

	if (requeued == NULL)
		requeued = &own;
	before = requeued->n_events;
	rc = r->methods->downloads_claim(r, now, now - req->args.downloads_claim.stale_ms * 1000,
					 req->args.downloads_claim.provider,
					 req->args.downloads_claim.language, req->mem, requeued,
					 &item, err);
	/* The requeues happened first: their events go first. */
	if (rc == 0)
		rc = aw__download_changes_publish(r, requeued, before, err);
	if (rc == 0 && item != NULL)
		rc = aw__download_publish(r, item, EV_UPDATED, err);
	aw_download_changes_clear(&own, req->mem);
	if (rc != 0) {
		protobuf_c_message_free_unpacked(as_message(item), req->mem);
		return rc;
	}
	res = req->mem != NULL ? req->mem->alloc(req->mem->allocator_data, sizeof(*res))
			       : malloc(sizeof(*res));
	if (res == NULL) {
		protobuf_c_message_free_unpacked(as_message(item), req->mem);
		return aw_err_set(err, AW_ENOMEM, "out of memory claiming a download");
	}
	aniworld__v1__claim_next_download_response__init(res);
	res->item = item;
	*result = &res->base;
	return 0;
}

void aw_repo_downloads_claim_for(aw_repo *r, aw_repo_req *req, int64_t stale_ms,
				 const char *provider, const char *language,
				 aw_download_changes *requeued)
{
	if (stale_ms < 0)
		return aw__repo_invalid(req, "a claim needs a timeout >= 0");
	req->write = write_claim;
	req->args.downloads_claim.stale_ms = stale_ms;
	req->args.downloads_claim.provider = provider != NULL ? provider : "";
	req->args.downloads_claim.language = language != NULL ? language : "";
	req->args.downloads_claim.requeued = requeued;
	req->changes = requeued;
	aw__writer_submit(r, req);
}

void aw_repo_downloads_claim(aw_repo *r, aw_repo_req *req, int64_t stale_ms,
			     aw_download_changes *requeued)
{
	aw_repo_downloads_claim_for(r, req, stale_ms, NULL, NULL, requeued);
}

static int write_progress(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result, aw_err *err)
{
	Aniworld__V1__DownloadQueueItem *out = NULL;
	int rc = r->methods->downloads_progress(r, req->args.downloads_progress.in, req->if_version,
						aw__repo_now(r), req->mem, &out,
						err);

	if (rc == 0)
		rc = aw__download_publish(r, out, EV_UPDATED, err);
	*result = as_message(out);
	return rc;
}

void aw_repo_downloads_progress(aw_repo *r, aw_repo_req *req,
				const Aniworld__V1__ReportProgressRequest *in)
{
	if (in == NULL)
		return aw__repo_invalid(req, "progress is required");
	req->write = write_progress;
	req->args.downloads_progress.in = in;
	aw__writer_submit(r, req);
}

static int write_transition(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
			    aw_err *err)
{
	Aniworld__V1__DownloadQueueItem *out = NULL;
	int rc = r->methods->downloads_transition(r, req->args.downloads_transition.id,
						  req->args.downloads_transition.rule,
						  req->args.downloads_transition.error_message,
						  req->if_version,
						  aw__repo_now(r), req->mem, &out, err);

	if (rc == 0)
		rc = aw__download_publish(r, out, EV_UPDATED, err);
	*result = as_message(out);
	return rc;
}

void aw_repo_downloads_transition(aw_repo *r, aw_repo_req *req, int64_t id,
				  aw_download_action action, const char *error_message)
{
	if ((int)action < 0 || action >= AW_DL_ACTIONS)
		return aw__repo_invalid(req, "unknown download action");
	if (action == AW_DL_FAIL && error_message == NULL)
		return aw__repo_invalid(req, "error_message is required");
	req->write = write_transition;
	req->args.downloads_transition.id = id;
	req->args.downloads_transition.rule = aw__download_rule(action);
	req->args.downloads_transition.error_message =
		action == AW_DL_FAIL ? error_message : NULL;
	aw__writer_submit(r, req);
}

static int write_purge(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result, aw_err *err)
{
	aw_download_changes own = {0}, *deleted = req->args.downloads_purge.deleted;
	Aniworld__V1__PurgeDownloadsResponse *res = NULL;
	size_t before;
	int rc;

	if (deleted == NULL)
		deleted = &own;
	before = deleted->n_events;
	rc = r->methods->downloads_purge(r, req->args.downloads_purge.statuses, req->mem, deleted,
					 err);
	if (rc == 0)
		rc = aw__download_changes_publish(r, deleted, before, err);
	if (rc == 0) {
		res = req->mem != NULL ? req->mem->alloc(req->mem->allocator_data, sizeof(*res))
				       : malloc(sizeof(*res));
		if (res == NULL)
			rc = aw_err_set(err, AW_ENOMEM, "out of memory purging downloads");
	}
	if (rc == 0) {
		aniworld__v1__purge_downloads_response__init(res);
		res->deleted_count = (int64_t)(deleted->n_events - before);
		*result = &res->base;
	}
	aw_download_changes_clear(&own, req->mem);
	return rc;
}

void aw_repo_downloads_purge(aw_repo *r, aw_repo_req *req, unsigned statuses,
			     aw_download_changes *deleted)
{
	if (statuses == 0 || (statuses & ~(unsigned)AW_DL_FINISHED) != 0)
		return aw__repo_invalid(req, "only finished statuses can be purged");
	req->write = write_purge;
	req->args.downloads_purge.statuses = statuses;
	req->args.downloads_purge.deleted = deleted;
	req->changes = deleted;
	aw__writer_submit(r, req);
}

/* ---- the queue as download managers have it ------------------------------------------------ */

void aw_repo_downloads_summary(aw_repo *r, aw_repo_req *req, int64_t series_id)
{
	Aniworld__V1__GetQueueSummaryResponse *out = NULL;
	aw_err err;
	int rc;

	if (series_id < 0)
		return aw__repo_invalid(req, "series_id must be >= 0");
	aw_err_clear(&err);
	rc = r->methods->downloads_summary(r, series_id, req->mem, &out, &err);
	aw__repo_report(r, req, rc, &err, out != NULL ? &out->base : NULL);
}

/* A response message of `desc` whose only field is an int64 count, set to `n`. */
static int count_result(aw_repo_req *req, const ProtobufCMessageDescriptor *desc, int64_t n,
			ProtobufCMessage **result, aw_err *err)
{
	ProtobufCMessage *m = aw__pb_new(req->mem, desc);

	if (m == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory answering a bulk change");
	/* Each of these responses holds one int64 count, its first field. */
	*(int64_t *)((char *)m + desc->fields[0].offset) = n;
	*result = m;
	return 0;
}

static int write_bulk(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result, aw_err *err)
{
	aw_download_changes own = {0}, *changed = req->args.downloads_bulk.changed;
	const aw_download_rule *rule = req->args.downloads_bulk.rule;
	size_t before;
	int rc;

	if (changed == NULL)
		changed = &own;
	before = changed->n_events;
	rc = r->methods->downloads_bulk_transition(r, rule, req->args.downloads_bulk.statuses,
						   req->args.downloads_bulk.series_id,
						   aw__repo_now(r), req->mem, changed, err);
	if (rc == 0)
		rc = aw__download_changes_publish(r, changed, before, err);
	if (rc == 0)
		rc = count_result(req,
				  rule->action == AW_DL_RETRY
					  ? &aniworld__v1__retry_failed_downloads_response__descriptor
					  : &aniworld__v1__cancel_series_downloads_response__descriptor,
				  (int64_t)(changed->n_events - before), result, err);
	aw_download_changes_clear(&own, req->mem);
	return rc;
}

static void submit_bulk(aw_repo *r, aw_repo_req *req, aw_download_action action,
			unsigned statuses, int64_t series_id, aw_download_changes *changed)
{
	req->write = write_bulk;
	req->args.downloads_bulk.rule = aw__download_rule(action);
	req->args.downloads_bulk.statuses = statuses & aw__download_rule(action)->from;
	req->args.downloads_bulk.series_id = series_id;
	req->args.downloads_bulk.changed = changed;
	aw__writer_submit(r, req);
}

void aw_repo_downloads_retry_failed(aw_repo *r, aw_repo_req *req, int64_t series_id,
				    aw_download_changes *changed)
{
	if (series_id < 0)
		return aw__repo_invalid(req, "series_id must be >= 0");
	submit_bulk(r, req, AW_DL_RETRY, AW_DL_BIT(AW_DL_FAILED), series_id, changed);
}

void aw_repo_downloads_cancel_series(aw_repo *r, aw_repo_req *req, int64_t series_id,
				     aw_download_changes *changed)
{
	if (series_id <= 0)
		return aw__repo_invalid(req, "series_id must be a positive series id");
	submit_bulk(r, req, AW_DL_CANCEL, aw__download_rule(AW_DL_CANCEL)->from, series_id,
		    changed);
}

static int write_clear(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result, aw_err *err)
{
	aw_download_changes own = {0}, *deleted = req->args.downloads_clear.deleted;
	size_t before;
	int rc;

	if (deleted == NULL)
		deleted = &own;
	before = deleted->n_events;
	rc = r->methods->downloads_clear(r, req->args.downloads_clear.statuses,
					 req->args.downloads_clear.before_us,
					 req->args.downloads_clear.series_id, req->mem, deleted, err);
	if (rc == 0)
		rc = aw__download_changes_publish(r, deleted, before, err);
	if (rc == 0)
		rc = count_result(req, &aniworld__v1__clear_finished_downloads_response__descriptor,
				  (int64_t)(deleted->n_events - before), result, err);
	aw_download_changes_clear(&own, req->mem);
	return rc;
}

void aw_repo_downloads_clear(aw_repo *r, aw_repo_req *req, unsigned statuses,
			     int64_t before_us, int64_t series_id, aw_download_changes *deleted)
{
	if (statuses == 0 || (statuses & ~(unsigned)AW_DL_FINISHED) != 0)
		return aw__repo_invalid(req, "only finished statuses can be cleared");
	if (series_id < 0)
		return aw__repo_invalid(req, "series_id must be >= 0");
	req->write = write_clear;
	req->args.downloads_clear.statuses = statuses;
	req->args.downloads_clear.before_us = before_us;
	req->args.downloads_clear.series_id = series_id;
	req->args.downloads_clear.deleted = deleted;
	aw__writer_submit(r, req);
}

static int write_move(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result, aw_err *err)
{
	aw_download_changes own = {0}, *moved = req->args.downloads_move.moved;
	Aniworld__V1__DownloadQueueItem *out = NULL;
	size_t before;
	int rc;

	if (moved == NULL)
		moved = &own;
	before = moved->n_events;
	rc = r->methods->downloads_move(r, req->args.downloads_move.id,
					req->args.downloads_move.before_id, aw__repo_now(r),
					req->mem, moved, &out, err);
	/* The items moved to make room moved first: their events go first. */
	if (rc == 0)
		rc = aw__download_changes_publish(r, moved, before, err);
	if (rc == 0)
		rc = aw__download_publish(r, out, EV_UPDATED, err);
	aw_download_changes_clear(&own, req->mem);
	*result = as_message(out);
	return rc;
}

void aw_repo_downloads_move(aw_repo *r, aw_repo_req *req, int64_t id, int64_t before_id,
			    aw_download_changes *moved)
{
	if (id <= 0 || before_id < 0)
		return aw__repo_invalid(req, "a move needs an id > 0 and a before_id >= 0");
	if (id == before_id)
		return aw__repo_invalid(req, "an item cannot move before itself");
	req->write = write_move;
	req->args.downloads_move.id = id;
	req->args.downloads_move.before_id = before_id;
	req->args.downloads_move.moved = moved;
	aw__writer_submit(r, req);
}
