/*
 * A write transaction's change events, kept packed until it ends (see
 * aw_event_stash in repo.h): for backends that hand the events on only once
 * they know the transaction's fate, after COMMIT (SQLite) or in one statement
 * just before it (PostgreSQL).
 *
 * The events lie one after another in one buffer, each after its size, and
 * the next transaction reuses the buffer: stashing costs a pack and, in the
 * steady state, no allocation.
 */
#include <stdlib.h>
#include <string.h>

#include "repo.h"

/* A buffer grown past this by one large transaction (a purge of many items)
 * is given back once the transaction is over. */
#define KEEP_BYTES (256 * 1024)

int aw__event_stash_add(aw_event_stash *s, const Aniworld__V1__DownloadEvent *ev, aw_err *err)
{
	size_t n = aniworld__v1__download_event__get_packed_size(ev);
	size_t need = s->len + sizeof(n) + n;

	if (need > s->cap) {
		size_t cap = s->cap != 0 ? s->cap : 4096;
		uint8_t *buf;

		while (cap < need)
			cap *= 2;
		buf = realloc(s->buf, cap);
		if (buf == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory recording a queue change");
		s->buf = buf;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, &n, sizeof(n));
	aniworld__v1__download_event__pack(ev, s->buf + s->len + sizeof(n));
	s->len = need;
	s->n++;
	return 0;
}

void aw__event_stash_mark(aw_event_stash *s)
{
	s->mark = s->len;
	s->n_mark = s->n;
}

void aw__event_stash_undo(aw_event_stash *s)
{
	s->len = s->mark;
	s->n = s->n_mark;
}

void aw__event_stash_clear(aw_event_stash *s)
{
	s->len = s->mark = 0;
	s->n = s->n_mark = 0;
	if (s->cap > KEEP_BYTES) {
		free(s->buf);
		s->buf = NULL;
		s->cap = 0;
	}
}

int aw__event_stash_next(const aw_event_stash *s, size_t *at, const uint8_t **data, size_t *len)
{
	size_t n;

	if (*at >= s->len)
		return -1;
	memcpy(&n, s->buf + *at, sizeof(n));
	*data = s->buf + *at + sizeof(n);
	*len = n;
	*at += sizeof(n) + n;
	return 0;
}

void aw__event_stash_deliver(aw_repo *r, aw_event_stash *s)
{
	const uint8_t *data;
	size_t at = 0, len;

	if (s->n > 0 && aw__repo_events_watched(r)) {
		while (aw__event_stash_next(s, &at, &data, &len) == 0) {
			Aniworld__V1__DownloadEvent *ev =
				aniworld__v1__download_event__unpack(NULL, len, data);

			if (ev == NULL) {
				/* Out of memory: the rest cannot be told. Say so. */
				aw__repo_event(r, NULL);
				break;
			}
			aw__repo_event(r, ev);
			aniworld__v1__download_event__free_unpacked(ev, NULL);
		}
	}
	aw__event_stash_clear(s);
}

void aw__event_stash_free(aw_event_stash *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}
