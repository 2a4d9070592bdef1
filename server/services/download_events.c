/*
 * The WatchDownloads broker. Watchers are kept in a list under one mutex, as
 * the health service keeps its own; a publish packs the event once and walks
 * the list, handing the same slice to every matching stream.
 *
 * Order. The repository's event hook calls in commit order, one at a time,
 * and the mutex keeps each publish whole, so every stream receives its events
 * in commit order. Streams queue without blocking (see aw_call_send_packed),
 * so the mutex is never held across a wait.
 */
#include "download_events.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <grpc/slice.h>
#include <grpc/status.h>

#define TOO_SLOW "the watcher reads too slowly: its backlog of events is full"
#define LOST                                                                   \
	"download events may have been lost (the server lost its connection to " \
	"the database): list again and watch anew"

typedef struct watcher {
	struct watcher *next;
	aw_call *call;        /* referenced until the call has ended */
	int64_t series_id;    /* 0: every series */
	int pending;          /* not yet receiving (aw_download_events_watch_pending) */
} watcher;

struct aw_download_events {
	pthread_mutex_t mu;   /* guards the list and shut_down */
	watcher *watchers;
	int shut_down;
	atomic_int n_watchers; /* length of the list, readable without the lock */
};

int aw_download_events_new(aw_download_events **out, aw_err *err)
{
	aw_download_events *ev = calloc(1, sizeof(*ev));

	*out = NULL;
	if (ev == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the download event broker");
	pthread_mutex_init(&ev->mu, NULL);
	atomic_init(&ev->n_watchers, 0);
	*out = ev;
	return 0;
}

/* The call's on_done hook: forgets the watcher and drops its reference. */
static void watcher_done(aw_call *call, void *arg)
{
	aw_download_events *ev = arg;
	watcher **pp, *w = NULL;

	pthread_mutex_lock(&ev->mu);
	for (pp = &ev->watchers; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->call == call) {
			w = *pp;
			*pp = w->next;
			atomic_fetch_sub(&ev->n_watchers, 1);
			break;
		}
	}
	pthread_mutex_unlock(&ev->mu);
	if (w != NULL) {
		aw_call_unref(w->call);
		free(w);
	}
}

void aw_download_events_watch(aw_download_events *ev, aw_call *call, int64_t series_id)
{
	aw_download_events_watch_pending(ev, call, series_id);
	aw_download_events_activate(ev, call);
}

void aw_download_events_watch_pending(aw_download_events *ev, aw_call *call, int64_t series_id)
{
	watcher *w = malloc(sizeof(*w));

	if (w == NULL) {
		aw_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for a watcher");
		return;
	}
	pthread_mutex_lock(&ev->mu);
	if (ev->shut_down) {
		pthread_mutex_unlock(&ev->mu);
		free(w);
		aw_call_finish(call, GRPC_STATUS_UNAVAILABLE, "server is shutting down");
		return;
	}
	w->call = call;
	w->series_id = series_id;
	w->pending = 1;
	aw_call_ref(call);
	aw_call_on_done(call, watcher_done, ev);
	w->next = ev->watchers;
	ev->watchers = w;
	/* Counted already: the events on their way are decoded for it. */
	atomic_fetch_add(&ev->n_watchers, 1);
	pthread_mutex_unlock(&ev->mu);
}

void aw_download_events_activate(aw_download_events *ev, aw_call *call)
{
	pthread_mutex_lock(&ev->mu);
	for (watcher *w = ev->watchers; w != NULL; w = w->next) {
		if (w->call == call && w->pending) {
			w->pending = 0;
			/* Under the lock: the headers go out before any event published
			 * after us. */
			aw_call_send_initial_metadata(call);
			break;
		}
	}
	pthread_mutex_unlock(&ev->mu);
}

int aw_download_events_watched(aw_download_events *ev)
{
	return atomic_load(&ev->n_watchers) > 0;
}

void aw_download_events_publish(aw_download_events *ev,
				const Aniworld__V1__DownloadQueueItem *item,
				Aniworld__V1__DownloadEventType type)
{
	Aniworld__V1__DownloadEvent event = ANIWORLD__V1__DOWNLOAD_EVENT__INIT;
	grpc_slice packed;
	size_t n;
	int packed_ok;

	if (!aw_download_events_watched(ev))
		return;
	event.item = (Aniworld__V1__DownloadQueueItem *)item;
	event.type = type;
	n = aniworld__v1__download_event__get_packed_size(&event);
	packed = grpc_slice_malloc(n);
	packed_ok = GRPC_SLICE_LENGTH(packed) == n;
	if (packed_ok)
		aniworld__v1__download_event__pack(&event, GRPC_SLICE_START_PTR(packed));

	pthread_mutex_lock(&ev->mu);
	for (watcher *w = ev->shut_down ? NULL : ev->watchers; w != NULL; w = w->next) {
		if (w->pending || (w->series_id != 0 && w->series_id != item->series_id))
			continue;
		/* A watcher that would miss an event is ended instead: it must know
		 * to list again. */
		switch (packed_ok ? aw_call_send_packed(w->call, packed) : AW_ENOMEM) {
		case 0:
		case AW_ECANCELED: /* ending already */
			break;
		case AW_EOVERLOAD:
			aw_call_finish_reason(w->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "WATCHER_TOO_SLOW",
					      TOO_SLOW);
			break;
		default:
			aw_call_finish(w->call, GRPC_STATUS_RESOURCE_EXHAUSTED,
				       "out of memory queueing an event");
			break;
		}
	}
	pthread_mutex_unlock(&ev->mu);
	grpc_slice_unref(packed);
}

void aw_download_events_lost(aw_download_events *ev)
{
	pthread_mutex_lock(&ev->mu);
	for (watcher *w = ev->watchers; w != NULL; w = w->next)
		aw_call_finish(w->call, GRPC_STATUS_UNAVAILABLE, LOST);
	pthread_mutex_unlock(&ev->mu);
}

void aw_download_events_shutdown(aw_download_events *ev)
{
	pthread_mutex_lock(&ev->mu);
	ev->shut_down = 1;
	for (watcher *w = ev->watchers; w != NULL; w = w->next)
		aw_call_finish(w->call, GRPC_STATUS_UNAVAILABLE, "server is shutting down");
	pthread_mutex_unlock(&ev->mu);
}

void aw_download_events_free(aw_download_events *ev)
{
	if (ev == NULL)
		return;
	/* The transport is gone, and the calls with it: nothing to unreference. */
	while (ev->watchers != NULL) {
		watcher *w = ev->watchers;
		ev->watchers = w->next;
		free(w);
	}
	pthread_mutex_destroy(&ev->mu);
	free(ev);
}
