/*
 * The episode_dict codec: a JSON object from season numbers (as strings) to
 * arrays of episode numbers, as the seed's JSON field held it. The writer
 * produces only this shape, so the reader accepts only this shape, with any
 * JSON whitespace.
 */
#include "episode_dict.h"
#include "repo.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
	char *p;
	size_t len, cap;
} buf;

static int buf_put(buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL)
			return AW_ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* Appends a decimal integer (hot on the write path: no printf). */
static int buf_int(buf *b, int64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	return buf_put(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Entry order for encoding: by season; among equal seasons, by position, so that
 * the last one can win. */
typedef struct ref {
	int32_t season;
	size_t pos;
} ref;

static int ref_cmp(const void *a, const void *b)
{
	const ref *x = a, *y = b;

	if (x->season != y->season)
		return x->season < y->season ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

int aw__episode_dict_encode(const Aniworld__V1__AnimeSeries *s, char **json, size_t *len,
			    aw_err *err)
{
	buf b = {0};
	ref *refs = NULL;
	int rc = 0, first = 1;

	*json = NULL;
	if (s->n_episode_dict > 0) {
		refs = malloc(s->n_episode_dict * sizeof(*refs));
		if (refs == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory encoding episode_dict");
		for (size_t i = 0; i < s->n_episode_dict; i++)
			refs[i] = (ref){s->episode_dict[i]->key, i};
		qsort(refs, s->n_episode_dict, sizeof(*refs), ref_cmp);
	}
	rc = buf_put(&b, "{", 1);
	for (size_t i = 0; rc == 0 && i < s->n_episode_dict; i++) {
		/* Of equal seasons only the last (highest position) is written. */
		if (i + 1 < s->n_episode_dict && refs[i + 1].season == refs[i].season)
			continue;
		const Aniworld__V1__AnimeSeries__EpisodeDictEntry *e = s->episode_dict[refs[i].pos];
		if (!first)
			rc = buf_put(&b, ",", 1);
		first = 0;
		if (rc == 0)
			rc = buf_put(&b, "\"", 1);
		if (rc == 0)
			rc = buf_int(&b, e->key);
		if (rc == 0)
			rc = buf_put(&b, "\":[", 3);
		for (size_t j = 0; rc == 0 && e->value != NULL && j < e->value->n_episodes; j++) {
			if (j > 0)
				rc = buf_put(&b, ",", 1);
			if (rc == 0)
				rc = buf_int(&b, e->value->episodes[j]);
		}
		if (rc == 0)
			rc = buf_put(&b, "]", 1);
	}
	if (rc == 0)
		rc = buf_put(&b, "}", 1);
	free(refs);
	if (rc != 0) {
		free(b.p);
		return aw_err_set(err, AW_ENOMEM, "out of memory encoding episode_dict");
	}
	*json = b.p;
	*len = b.len;
	return 0;
}

/* ---- decoding ------------------------------------------------------------------------- */

typedef struct parser {
	const char *p, *end;
} parser;

static void skip_ws(parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int expect(parser *ps, char c)
{
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == c) {
		ps->p++;
		return 1;
	}
	return 0;
}

static int peek(parser *ps, char c)
{
	skip_ws(ps);
	return ps->p < ps->end && *ps->p == c;
}

/* Reads an optionally negative decimal int32; a digit loop rather than strtol,
 * since every row read parses dozens of these. */
static int parse_int32(parser *ps, int32_t *out)
{
	int64_t v = 0;
	int neg = 0, digits = 0;

	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '-') {
		neg = 1;
		ps->p++;
	}
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
		v = v * 10 + (*ps->p++ - '0');
		if (++digits > 10)
			return 0;
	}
	if (digits == 0)
		return 0;
	if (neg)
		v = -v;
	if (v < INT32_MIN || v > INT32_MAX)
		return 0;
	*out = (int32_t)v;
	return 1;
}

/* Counts the elements of the array at ps->p without parsing them: its commas
 * plus one, or zero for []. An upper bound is all that is needed; the parse
 * that follows checks every element. */
static size_t count_array(parser ps)
{
	size_t n = 1;

	if (!expect(&ps, '['))
		return 0;
	if (peek(&ps, ']'))
		return 0;
	for (; ps.p < ps.end && *ps.p != ']'; ps.p++) {
		if (*ps.p == ',')
			n++;
	}
	return n;
}

static size_t count_entries(parser ps)
{
	size_t n = 0;

	for (; ps.p < ps.end; ps.p++) {
		if (*ps.p == ':')
			n++;
	}
	return n;
}

int aw__episode_dict_decode(const char *json, size_t len, ProtobufCAllocator *mem,
			    Aniworld__V1__AnimeSeries *s, aw_err *err)
{
	parser ps = {json, json + len};
	size_t cap = count_entries(ps);

	s->n_episode_dict = 0;
	s->episode_dict = NULL;
	if (!expect(&ps, '{'))
		goto corrupt;
	if (cap > 0) {
		s->episode_dict = aw__pb_alloc(mem, cap * sizeof(*s->episode_dict));
		if (s->episode_dict == NULL)
			goto oom;
	}
	if (!peek(&ps, '}')) {
		for (;;) {
			Aniworld__V1__AnimeSeries__EpisodeDictEntry *e;
			Aniworld__V1__EpisodeNumbers *nums;
			int32_t season;
			size_t n;

			if (s->n_episode_dict >= cap || !expect(&ps, '"') || !parse_int32(&ps, &season) ||
			    !expect(&ps, '"') || !expect(&ps, ':'))
				goto corrupt;
			e = aw__pb_new(mem, &aniworld__v1__anime_series__episode_dict_entry__descriptor);
			if (e == NULL)
				goto oom;
			s->episode_dict[s->n_episode_dict++] = e;
			e->key = season;
			nums = aw__pb_new(mem, &aniworld__v1__episode_numbers__descriptor);
			if (nums == NULL)
				goto oom;
			e->value = nums;
			n = count_array(ps);
			if (n > 0) {
				nums->episodes = aw__pb_alloc(mem, n * sizeof(int32_t));
				if (nums->episodes == NULL)
					goto oom;
			}
			if (!expect(&ps, '['))
				goto corrupt;
			if (!peek(&ps, ']')) {
				for (;;) {
					int32_t v;
					if (nums->n_episodes >= n || !parse_int32(&ps, &v))
						goto corrupt;
					nums->episodes[nums->n_episodes++] = v;
					if (!expect(&ps, ','))
						break;
				}
			}
			if (!expect(&ps, ']'))
				goto corrupt;
			if (!expect(&ps, ','))
				break;
		}
	}
	if (!expect(&ps, '}'))
		goto corrupt;
	skip_ws(&ps);
	if (ps.p != ps.end)
		goto corrupt;
	return 0;

corrupt:
	return aw_err_set(err, AW_ECORRUPT, "stored episode_dict is not the expected JSON");
oom:
	return aw_err_set(err, AW_ENOMEM, "out of memory decoding episode_dict");
}
