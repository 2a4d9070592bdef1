/*
 * Episode wrappers: checks and packaging around the backend's episode methods.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "page_token.h"
#include "repo.h"

static int write_episode_create(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
				aw_err *err)
{
	Aniworld__V1__Episode *out = NULL;
	int rc = r->methods->episodes_create(r, req->args.episodes_write.in, aw__repo_now(r), req->mem, &out, err);

	*result = out != NULL ? &out->base : NULL;
	return rc;
}

void aw_repo_episodes_create(aw_repo *r, aw_repo_req *req, const Aniworld__V1__Episode *in)
{
	if (in == NULL)
		return aw__repo_invalid(req, "episode is required");
	req->write = write_episode_create;
	req->args.episodes_write.in = in;
	aw__writer_submit(r, req);
}

/* Inserts every episode of the batch; the writer's savepoint (or, alone, the
 * transaction) undoes them all if one fails, so the batch is all or nothing. */
static int write_episode_batch(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
			       aw_err *err)
{
	const Aniworld__V1__BatchCreateEpisodesRequest *in = req->args.episodes_batch.in;
	ProtobufCAllocator *mem = req->mem;
	Aniworld__V1__BatchCreateEpisodesResponse *res;
	int64_t now = aw__repo_now(r);
	int rc = 0;

	res = aw__pb_new(mem, &aniworld__v1__batch_create_episodes_response__descriptor);
	if (res == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory creating episodes");
	*result = &res->base;
	if (in->n_episodes > 0) {
		res->episodes = aw__pb_alloc(mem, in->n_episodes * sizeof(*res->episodes));
		if (res->episodes == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory creating episodes");
	}
	for (size_t i = 0; i < in->n_episodes && rc == 0; i++) {
		aw_err one;

		aw_err_clear(&one);
		rc = r->methods->episodes_create(r, in->episodes[i], now, mem,
						 &res->episodes[res->n_episodes], &one);
		if (rc == 0)
			res->n_episodes++;
		else if (rc > 0) /* not sent ahead (AW_REPO_RUN_ALONE): the writer runs it again */
			return rc;
		else if (rc == AW_ENOTFOUND) /* the request's series, not this episode */
			aw_err_set(err, rc, "series %lld not found", (long long)in->series_id);
		else
			aw_err_set(err, rc, "episodes[%zu]: %s", i, one.msg);
	}
	return rc;
}

void aw_repo_episodes_batch_create(aw_repo *r, aw_repo_req *req,
				   const Aniworld__V1__BatchCreateEpisodesRequest *in)
{
	if (in == NULL)
		return aw__repo_invalid(req, "request is required");
	req->write = write_episode_batch;
	req->args.episodes_batch.in = in;
	aw__writer_submit(r, req);
}

void aw_repo_episodes_get(aw_repo *r, aw_repo_req *req, int64_t id)
{
	Aniworld__V1__Episode *out = NULL;
	aw_err err;
	int rc;

	aw_err_clear(&err);
	aw__repo_deadline_set(req->deadline_us); /* until aw__repo_report */
	rc = r->methods->episodes_get(r, id, req->mem, &out, &err);
	aw__repo_report(r, req, rc, &err, out != NULL ? &out->base : NULL);
}

static uint64_t episodes_filter_hash(const Aniworld__V1__ListEpisodesRequest *in)
{
	uint64_t h = AW_FILTER_HASH_INIT;

	h = aw_filter_hash_i64(h, in->series_id);
	h = aw_filter_hash_i64(h, (int64_t)in->downloaded);
	h = aw_filter_hash_i64(h, (int64_t)in->n_seasons);
	for (size_t i = 0; i < in->n_seasons; i++)
		h = aw_filter_hash_i64(h, in->seasons[i]);
	return h;
}

void aw_repo_episodes_list(aw_repo *r, aw_repo_req *req, const Aniworld__V1__ListEpisodesRequest *in,
			   int page_size)
{
	Aniworld__V1__ListEpisodesResponse *out = NULL;
	uint64_t filter = episodes_filter_hash(in);
	aw_cursor after;
	aw_err err;
	int more = 0, rc;

	aw_err_clear(&err);
	aw__repo_deadline_set(req->deadline_us); /* until aw__repo_report */
	rc = aw_page_token_decode(in->page_token, AW_LIST_EPISODES, filter, &after, &err);
	if (rc == 0)
		rc = r->methods->episodes_list(r, in, &after, page_size, aw__repo_page_budget(r),
					       req->mem, &out, &more, &err);
	if (rc == 0 && more && out->n_episodes > 0) {
		const Aniworld__V1__Episode *last = out->episodes[out->n_episodes - 1];
		aw_cursor next = {.valid = 1, .k = {last->series_id, last->season, last->episode_number}};
		char token[AW_PAGE_TOKEN_MAX];

		aw_page_token_encode(&next, AW_LIST_EPISODES, filter, token);
		out->next_page_token = aw__repo_strdup(req->mem, token);
		if (out->next_page_token == NULL) {
			out->next_page_token = (char *)protobuf_c_empty_string;
			rc = aw_err_set(&err, AW_ENOMEM, "out of memory");
		}
	}
	aw__repo_report(r, req, rc, &err, out != NULL ? &out->base : NULL);
}

static int write_episode_update(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
				aw_err *err)
{
	Aniworld__V1__Episode *out = NULL;
	int rc = r->methods->episodes_update(r, req->args.episodes_write.in, req->args.episodes_write.mask,
					     req->if_version, aw__repo_now(r), req->mem,
					     &out, err);

	*result = out != NULL ? &out->base : NULL;
	return rc;
}

void aw_repo_episodes_update(aw_repo *r, aw_repo_req *req, const Aniworld__V1__Episode *in,
			     uint64_t mask)
{
	if (in == NULL)
		return aw__repo_invalid(req, "episode is required");
	req->write = write_episode_update;
	req->args.episodes_write.in = in;
	req->args.episodes_write.mask = mask;
	aw__writer_submit(r, req);
}

static int write_episode_delete(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
				aw_err *err)
{
	int rc = r->methods->episodes_delete(r, req->args.episodes_delete.id, req->if_version, err);

	return rc != 0 ? rc : aw__repo_empty(req, result, err);
}

void aw_repo_episodes_delete(aw_repo *r, aw_repo_req *req, int64_t id)
{
	req->write = write_episode_delete;
	req->args.episodes_delete.id = id;
	aw__writer_submit(r, req);
}

static int write_episode_mark(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
			      aw_err *err)
{
	Aniworld__V1__Episode *out = NULL;
	int rc = r->methods->episodes_mark_downloaded(r, req->args.episodes_mark.in, req->if_version,
						      aw__repo_now(r), req->mem,
						      &out, err);

	*result = out != NULL ? &out->base : NULL;
	return rc;
}

void aw_repo_episodes_mark_downloaded(aw_repo *r, aw_repo_req *req,
				      const Aniworld__V1__MarkEpisodeDownloadedRequest *in)
{
	if (in == NULL)
		return aw__repo_invalid(req, "request is required");
	req->write = write_episode_mark;
	req->args.episodes_mark.in = in;
	aw__writer_submit(r, req);
}

char *aw__episodes_seasons_text(const Aniworld__V1__ListEpisodesRequest *f, char open,
				char close)
{
	size_t cap = 3 + f->n_seasons * 13, n = 0;
	char *s = malloc(cap);

	if (s == NULL)
		return NULL;
	s[n++] = open;
	for (size_t i = 0; i < f->n_seasons; i++)
		n += (size_t)snprintf(s + n, cap - n, "%s%d", i > 0 ? "," : "", f->seasons[i]);
	s[n++] = close;
	s[n] = '\0';
	return s;
}

int aw__episodes_downloaded_filter(const Aniworld__V1__ListEpisodesRequest *f)
{
	if (f->downloaded == ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_DOWNLOADED)
		return 1;
	if (f->downloaded == ANIWORLD__V1__DOWNLOAD_FILTER__DOWNLOAD_FILTER_MISSING)
		return 0;
	return -1;
}
