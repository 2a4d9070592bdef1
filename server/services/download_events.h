/*
 * download_events.h: the broker behind WatchDownloads.
 *
 * Watchers are streaming calls, each with a series filter (0 = every series).
 * The repository is the source of the events: its event hook (see
 * aw_repo_event_fn; the server connects it here) hands over every committed
 * change to the queue, in commit order, whichever replica wrote it; each
 * event is packed once and queued on every matching stream. Queuing never
 * blocks: a stream whose backlog is full (a client that reads too slowly) is
 * ended with RESOURCE_EXHAUSTED, so a slow watcher neither holds up writers
 * nor makes memory grow. When the repository may have lost events, every
 * stream is ended with UNAVAILABLE, so that its client reads again.
 */
#ifndef AW_DOWNLOAD_EVENTS_H
#define AW_DOWNLOAD_EVENTS_H

#include <stdint.h>

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

/*
 * As aw_download_events_watch, but the watcher receives nothing, and its
 * headers are not sent, until aw_download_events_activate(): for a watch that
 * must first wait for the events already on their way (which are not its
 * own) without blocking the thread that serves it. If the call ends first,
 * the watcher is forgotten as any other. Thread-safe.
 */
void aw_download_events_watch_pending(aw_download_events *ev, aw_call *call, int64_t series_id);

/* Starts sending to the pending watcher of `call` (referenced by the caller),
 * headers first; nothing if it has ended meanwhile. Thread-safe. */
void aw_download_events_activate(aw_download_events *ev, aw_call *call);

/* Whether anybody watches; a hint, for skipping work when nobody does. */
int aw_download_events_watched(aw_download_events *ev);

/*
 * Queues the event {item, type} on every watcher whose filter matches
 * item->series_id (`item` is borrowed; it is packed before this returns).
 * Watchers whose backlog is full are ended with RESOURCE_EXHAUSTED. Nothing
 * after aw_download_events_shutdown(). Thread-safe; callers must publish in
 * the order the changes committed, one at a time.
 */
void aw_download_events_publish(aw_download_events *ev,
				const Aniworld__V1__DownloadQueueItem *item,
				Aniworld__V1__DownloadEventType type);

/*
 * Says that events may have been lost (the repository lost its way of hearing
 * of changes, e.g. its connection to the database): ends every watch stream
 * open now with UNAVAILABLE, after the events already queued on it, so that
 * its client lists again and watches anew. New watchers are taken as before.
 * Thread-safe.
 */
void aw_download_events_lost(aw_download_events *ev);

/* Ends every watch stream with UNAVAILABLE "server is shutting down" (after
 * the events already queued) and refuses new ones. Call before the transport
 * shuts down. Idempotent. */
void aw_download_events_shutdown(aw_download_events *ev);

/* Frees the broker; NULL is a no-op. The transport must be freed first. */
void aw_download_events_free(aw_download_events *ev);

#endif /* AW_DOWNLOAD_EVENTS_H */
