/*
 * download_events.h: the broker behind WatchDownloads.
 *
 * Watchers are streaming calls, each with a series filter (0 = every series).
 * The service publishes every change to the queue after it has committed, in
 * commit order (it publishes from the repository's outcome, which writes
 * report one at a time in that order); each event is packed once and queued
 * on every matching stream. Queuing never blocks: a stream whose backlog is
 * full (a client that reads too slowly) is ended with RESOURCE_EXHAUSTED, so
 * a slow watcher neither holds up writers nor makes memory grow.
 */
#ifndef AW_DOWNLOAD_EVENTS_H
#define AW_DOWNLOAD_EVENTS_H

#include <stdint.h>

#include "../repo/repo.h"
#include "../transport/call.h"
#include "aniworld/error.h"
#include "aniworld/v1/download_queue.pb-c.h"

typedef struct aw_download_events aw_download_events;

/* Creates a broker with no watchers; free with aw_download_events_free().
 * Returns AW_ENOMEM. */
int aw_download_events_new(aw_download_events **out, aw_err *err);

/*
 * Adds the streaming call `call` as a watcher of the changes to items of
 * `series_id` (0 = all), until the call ends: the broker takes a reference
 * and registers the call's on_done hook (call it from the stub, before it
 * returns). Sends the response headers at once, so the client knows that
 * changes from now on will reach it. After aw_download_events_shutdown() the
 * call is ended with UNAVAILABLE instead. When memory is exhausted the call is
 * ended with RESOURCE_EXHAUSTED. Thread-safe.
 */
void aw_download_events_watch(aw_download_events *ev, aw_call *call, int64_t series_id);

/* Whether anybody watches; a hint, for skipping work when nobody does. */
int aw_download_events_watched(aw_download_events *ev);

/*
 * Queues the event {item, type} on every watcher whose filter matches
 * item->series_id (`item` is borrowed; it is packed before this returns).
 * Watchers whose backlog is full are ended with RESOURCE_EXHAUSTED.
 * Thread-safe; callers must publish in the order the changes committed.
 */
void aw_download_events_publish(aw_download_events *ev,
				const Aniworld__V1__DownloadQueueItem *item,
				Aniworld__V1__DownloadEventType type);

/*
 * A repository request (see reply.h) for a write that changes queue items:
 * on success, before the reply, it publishes what the write recorded in
 * **changes (when `changes` is not NULL it receives that list, for the write
 * to fill), then the item the reply carries (a DownloadQueueItem, or the item
 * of a ClaimNextDownloadResponse) as an event of `type`, unless `type` is
 * UNSPECIFIED. Writes report in commit order, so this publishes in that
 * order. NULL (RESOURCE_EXHAUSTED replied) when memory is exhausted.
 */
aw_repo_req *aw_download_events_req(aw_download_events *ev, aw_call *call,
				    ProtobufCClosure closure,
				    Aniworld__V1__DownloadEventType type,
				    aw_download_changes **changes);

/* Ends every watch stream with UNAVAILABLE "server is shutting down" (after
 * the events already queued) and refuses new ones. Call before the transport
 * shuts down. Idempotent. */
void aw_download_events_shutdown(aw_download_events *ev);

/* Frees the broker; NULL is a no-op. The transport must be freed first. */
void aw_download_events_free(aw_download_events *ev);

#endif /* AW_DOWNLOAD_EVENTS_H */
