/*
 * Change events of the SQLite backend.
 *
 * One process writes a SQLite database, so the events of its writes need no
 * carrier between processes: those of the write transaction under way wait
 * here until its COMMIT has succeeded and are then handed to the repository's
 * owner on the writer's thread, before the writer reports the outcomes of the
 * batch's writes. A watcher in this process thus hears of a change no later
 * than the caller that made it. A write that write_end() undoes takes its
 * events with it, and a rollback takes them all.
 *
 * The events are kept packed, one after another in one buffer that the next
 * transaction reuses: publishing costs a pack and no allocation in the
 * steady state. They are unpacked for the hook only when somebody listens at
 * that moment (the owner's watched hint, read after the commit, so that a
 * listener who arrived during the transaction still hears of it).
 */
#include "sqlite_int.h"

#include <stdlib.h>
#include <string.h>

/* A buffer grown past this by one large transaction (a purge of many items)
 * is given back once the transaction is over. */
#define KEEP_BYTES (256 * 1024)

int aw__sq_downloads_publish(aw_repo *r, const Aniworld__V1__DownloadEvent *ev, aw_err *err)
{
	aw_sq_repo *s = (aw_sq_repo *)r;
	size_t n, need;

	if (!aw__repo_events_hooked(r))
		return 0;
	n = aniworld__v1__download_event__get_packed_size(ev);
	need = s->ev_len + sizeof(n) + n;
	if (need > s->ev_cap) {
		size_t cap = s->ev_cap != 0 ? s->ev_cap : 4096;
		uint8_t *buf;

		while (cap < need)
			cap *= 2;
		buf = realloc(s->ev_buf, cap);
		if (buf == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory recording a queue change");
		s->ev_buf = buf;
		s->ev_cap = cap;
	}
	memcpy(s->ev_buf + s->ev_len, &n, sizeof(n));
	aniworld__v1__download_event__pack(ev, s->ev_buf + s->ev_len + sizeof(n));
	s->ev_len = need;
	return 0;
}

void aw__sq_events_write_begin(aw_sq_repo *s)
{
	s->ev_mark = s->ev_len;
}

void aw__sq_events_write_undo(aw_sq_repo *s)
{
	s->ev_len = s->ev_mark;
}

void aw__sq_events_drop(aw_sq_repo *s)
{
	s->ev_len = 0;
	s->ev_mark = 0;
	if (s->ev_cap > KEEP_BYTES) {
		free(s->ev_buf);
		s->ev_buf = NULL;
		s->ev_cap = 0;
	}
}

void aw__sq_events_deliver(aw_sq_repo *s)
{
	aw_repo *r = &s->base;
	size_t at = 0;

	if (s->ev_len > 0 && aw__repo_events_watched(r)) {
		while (at < s->ev_len) {
			Aniworld__V1__DownloadEvent *ev;
			size_t n;

			memcpy(&n, s->ev_buf + at, sizeof(n));
			at += sizeof(n);
			ev = aniworld__v1__download_event__unpack(NULL, n, s->ev_buf + at);
			at += n;
			if (ev == NULL) {
				/* Out of memory: the rest cannot be told. Say so. */
				aw__repo_event(r, NULL);
				break;
			}
			aw__repo_event(r, ev);
			aniworld__v1__download_event__free_unpacked(ev, NULL);
		}
	}
	aw__sq_events_drop(s);
}

void aw__sq_events_free(aw_sq_repo *s)
{
	free(s->ev_buf);
	s->ev_buf = NULL;
	s->ev_len = s->ev_cap = s->ev_mark = 0;
}
