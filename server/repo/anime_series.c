/*
 * Series wrappers: checks and packaging around the backend's series methods.
 */
#include <stdlib.h>
#include <string.h>

#include "page_token.h"
#include "repo.h"

static int write_series_create(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
			       aw_err *err)
{
	Aniworld__V1__AnimeSeries *out = NULL;
	int rc = r->methods->series_create(r, req->args.series_write.in, aw__repo_now(r), req->mem, &out, err);

	*result = out != NULL ? &out->base : NULL;
	return rc;
}

void aw_repo_series_create(aw_repo *r, aw_repo_req *req, const Aniworld__V1__AnimeSeries *in)
{
	if (in == NULL)
		return aw__repo_invalid(req, "series is required");
	req->write = write_series_create;
	req->args.series_write.in = in;
	aw__writer_submit(r, req);
}

void aw_repo_series_get(aw_repo *r, aw_repo_req *req, int64_t id)
{
	Aniworld__V1__AnimeSeries *out = NULL;
	aw_err err;
	int rc;

	aw_err_clear(&err);
	aw__repo_deadline_set(req->deadline_us); /* until aw__repo_report */
	rc = r->methods->series_get(r, id, req->mem, &out, &err);
	aw__repo_report(r, req, rc, &err, out != NULL ? &out->base : NULL);
}

void aw_repo_series_get_by_key(aw_repo *r, aw_repo_req *req, const char *key)
{
	Aniworld__V1__AnimeSeries *out = NULL;
	aw_err err;
	int rc;

	if (key == NULL)
		return aw__repo_invalid(req, "key is required");
	aw_err_clear(&err);
	aw__repo_deadline_set(req->deadline_us); /* until aw__repo_report */
	rc = r->methods->series_get_by_key(r, key, req->mem, &out, &err);
	aw__repo_report(r, req, rc, &err, out != NULL ? &out->base : NULL);
}

static uint64_t series_filter_hash(const Aniworld__V1__ListSeriesRequest *in)
{
	uint64_t h = AW_FILTER_HASH_INIT;

	h = aw_filter_hash_str(h, in->name_contains);
	h = aw_filter_hash_str(h, in->site);
	/* Only when set, so that tokens issued before the field existed still hold. */
	return in->show_deleted ? aw_filter_hash_i64(h, 1) : h;
}

void aw_repo_series_list(aw_repo *r, aw_repo_req *req, const Aniworld__V1__ListSeriesRequest *in,
			 int page_size)
{
	Aniworld__V1__ListSeriesResponse *out = NULL;
	uint64_t filter = series_filter_hash(in);
	aw_cursor after;
	aw_err err;
	int more = 0, rc;

	aw_err_clear(&err);
	aw__repo_deadline_set(req->deadline_us); /* until aw__repo_report */
	rc = aw_page_token_decode(in->page_token, AW_LIST_SERIES, filter, &after, &err);
	if (rc == 0)
		rc = r->methods->series_list(r, in, &after, page_size, aw__repo_page_budget(r),
					     req->mem, &out, &more, &err);
	if (rc == 0 && more && out->n_series > 0) {
		aw_cursor next = {.valid = 1};
		char token[AW_PAGE_TOKEN_MAX];

		next.k[0] = out->series[out->n_series - 1]->id;
		aw_page_token_encode(&next, AW_LIST_SERIES, filter, token);
		out->next_page_token = aw__repo_strdup(req->mem, token);
		if (out->next_page_token == NULL) {
			out->next_page_token = (char *)protobuf_c_empty_string;
			rc = aw_err_set(&err, AW_ENOMEM, "out of memory");
		}
	}
	aw__repo_report(r, req, rc, &err, out != NULL ? &out->base : NULL);
}

static int write_series_update(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
			       aw_err *err)
{
	Aniworld__V1__AnimeSeries *out = NULL;
	int rc = r->methods->series_update(r, req->args.series_write.in, req->args.series_write.mask,
					   req->if_version, aw__repo_now(r), req->mem,
					   &out, err);

	*result = out != NULL ? &out->base : NULL;
	return rc;
}

void aw_repo_series_update(aw_repo *r, aw_repo_req *req, const Aniworld__V1__AnimeSeries *in,
			   uint64_t mask)
{
	if (in == NULL)
		return aw__repo_invalid(req, "series is required");
	req->write = write_series_update;
	req->args.series_write.in = in;
	req->args.series_write.mask = mask;
	aw__writer_submit(r, req);
}

/* The series' queue items go with it: each is published as DELETED. */
static int write_series_delete(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
			       aw_err *err)
{
	aw_download_changes own = {0}, *deleted = req->args.series_delete.deleted;
	size_t before;
	int rc;

	if (deleted == NULL)
		deleted = &own;
	before = deleted->n_events;
	rc = r->methods->series_delete(r, req->args.series_delete.id, req->if_version, req->mem, deleted, err);
	if (rc == 0)
		rc = aw__download_changes_publish(r, deleted, before, err);
	aw_download_changes_clear(&own, req->mem);
	return rc != 0 ? rc : aw__repo_empty(req, result, err);
}

void aw_repo_series_delete(aw_repo *r, aw_repo_req *req, int64_t id,
			   aw_download_changes *deleted)
{
	req->write = write_series_delete;
	req->args.series_delete.id = id;
	req->args.series_delete.deleted = deleted;
	req->changes = deleted;
	aw__writer_submit(r, req);
}

static int write_series_soft_delete(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
				    aw_err *err)
{
	int64_t now = aw__repo_now(r);
	int rc = r->methods->series_soft_delete(r, req->args.series_soft_delete.id,
						req->if_version, now,
						now + req->args.series_soft_delete.retention_us,
						err);

	return rc != 0 ? rc : aw__repo_empty(req, result, err);
}

void aw_repo_series_soft_delete(aw_repo *r, aw_repo_req *req, int64_t id, int64_t retention_us)
{
	if (retention_us <= 0)
		return aw__repo_invalid(req, "a soft delete needs a retention > 0");
	req->write = write_series_soft_delete;
	req->args.series_soft_delete.id = id;
	req->args.series_soft_delete.retention_us = retention_us;
	aw__writer_submit(r, req);
}

static int write_series_undelete(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
				 aw_err *err)
{
	Aniworld__V1__AnimeSeries *out = NULL;
	int rc = r->methods->series_undelete(r, req->args.series_delete.id, aw__repo_now(r),
					     req->mem, &out, err);

	*result = out != NULL ? &out->base : NULL;
	return rc;
}

void aw_repo_series_undelete(aw_repo *r, aw_repo_req *req, int64_t id)
{
	req->write = write_series_undelete;
	req->args.series_delete.id = id;
	req->args.series_delete.deleted = NULL;
	aw__writer_submit(r, req);
}

/* Most series one purge write deletes, so that it stays a short write. */
#define PURGE_BATCH 100

/* Each expired series goes as DeleteSeries takes one: its queue items are
 * published as DELETED. */
static int write_series_purge(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
			      aw_err *err)
{
	aw_download_changes own = {0}, *deleted = req->args.series_purge.deleted;
	int64_t ids[PURGE_BATCH];
	int n = 0, rc;

	if (deleted == NULL)
		deleted = &own;
	rc = r->methods->series_expired(r, aw__repo_now(r), ids, PURGE_BATCH, &n, err);
	for (int i = 0; rc == 0 && i < n; i++) {
		size_t before = deleted->n_events;

		rc = r->methods->series_delete(r, ids[i], 0, req->mem, deleted, err);
		if (rc == 0)
			rc = aw__download_changes_publish(r, deleted, before, err);
	}
	aw_download_changes_clear(&own, req->mem);
	if (rc == 0 && req->args.series_purge.purged != NULL)
		*req->args.series_purge.purged = n;
	return rc != 0 ? rc : aw__repo_empty(req, result, err);
}

void aw_repo_series_purge_deleted(aw_repo *r, aw_repo_req *req, aw_download_changes *deleted,
				  int *purged)
{
	if (purged != NULL)
		*purged = 0;
	req->write = write_series_purge;
	req->args.series_purge.deleted = deleted;
	req->args.series_purge.purged = purged;
	aw__writer_submit(r, req);
}

char *aw__series_like_pattern(const char *text)
{
	size_t n = strlen(text);
	char *p = malloc(2 * n + 3), *o = p;

	if (p == NULL)
		return NULL;
	*o++ = '%';
	for (const char *s = text; *s != '\0'; s++) {
		if (*s == '%' || *s == '_' || *s == '\\')
			*o++ = '\\';
		*o++ = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
	}
	*o++ = '%';
	*o = '\0';
	return p;
}
