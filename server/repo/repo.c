/*
 * The repository's wrappers: the only code that calls a backend's methods.
 * Reads call the backend and report at once; writes are packaged for the
 * writer (writer.c), which runs them inside its group-commit transaction.
 */
#include "repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google/protobuf/empty.pb-c.h"
#include "page_token.h"

int64_t aw__repo_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void aw_repo_options_defaults(aw_repo_options *opts)
{
	opts->busy_timeout_ms = 5000;
	opts->max_batch = 256;
	opts->max_queue = 65536;
}

int aw_repo_open(aw_repo **out, const char *location, const aw_repo_options *opts, aw_err *err)
{
	aw_repo_options defaults;
	aw_repo *r;
	int rc;

	*out = NULL;
	if (opts == NULL) {
		aw_repo_options_defaults(&defaults);
		opts = &defaults;
	}
	if (opts->max_batch < 1 || opts->max_queue < 1 || opts->busy_timeout_ms < 0)
		return aw_err_set(err, AW_EINVAL, "invalid repository options");
	if (location == NULL || location[0] == '\0')
		return aw_err_set(err, AW_EINVAL, "no database location given");
	/* Backends by location: only SQLite so far ("sqlite:" prefix optional). */
	if (strncmp(location, "sqlite:", 7) == 0)
		location += 7;
	rc = aw__sqlite_open(&r, location, opts, err);
	if (rc != 0)
		return rc;
	rc = aw__writer_start(r, opts, err);
	if (rc != 0) {
		r->methods->close(r);
		return rc;
	}
	*out = r;
	return 0;
}

void aw_repo_close(aw_repo *r)
{
	if (r == NULL)
		return;
	aw__writer_stop(r);
	r->methods->close(r);
}

/* Reports a read's outcome. */
static void report(aw_repo_req *req, int rc, const aw_err *err, ProtobufCMessage *result)
{
	if (rc != 0 && result != NULL) {
		protobuf_c_message_free_unpacked(result, req->mem);
		result = NULL;
	}
	req->done(req, rc, err, result);
}

static void report_invalid(aw_repo_req *req, const char *what)
{
	aw_err err;

	aw_err_set(&err, AW_EINVAL, "%s", what);
	req->done(req, AW_EINVAL, &err, NULL);
}

/* Allocates an Empty with the request's allocator. */
static int new_empty(aw_repo_req *req, ProtobufCMessage **result, aw_err *err)
{
	ProtobufCAllocator *mem = req->mem;
	Google__Protobuf__Empty *e;

	e = mem != NULL ? mem->alloc(mem->allocator_data, sizeof(*e)) : malloc(sizeof(*e));
	if (e == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory");
	google__protobuf__empty__init(e);
	*result = &e->base;
	return 0;
}

/* ---- series ------------------------------------------------------------------------ */

static int write_series_create(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
			       aw_err *err)
{
	Aniworld__V1__AnimeSeries *out = NULL;
	int rc = r->methods->series_create(r, req->arg, aw__repo_now_us(), req->mem, &out, err);

	*result = out != NULL ? &out->base : NULL;
	return rc;
}

void aw_repo_series_create(aw_repo *r, aw_repo_req *req, const Aniworld__V1__AnimeSeries *in)
{
	if (in == NULL)
		return report_invalid(req, "series is required");
	req->write = write_series_create;
	req->arg = in;
	aw__writer_submit(r, req);
}

void aw_repo_series_get(aw_repo *r, aw_repo_req *req, int64_t id)
{
	Aniworld__V1__AnimeSeries *out = NULL;
	aw_err err;
	int rc;

	aw_err_clear(&err);
	rc = r->methods->series_get(r, id, req->mem, &out, &err);
	report(req, rc, &err, out != NULL ? &out->base : NULL);
}

void aw_repo_series_get_by_key(aw_repo *r, aw_repo_req *req, const char *key)
{
	Aniworld__V1__AnimeSeries *out = NULL;
	aw_err err;
	int rc;

	if (key == NULL)
		return report_invalid(req, "key is required");
	aw_err_clear(&err);
	rc = r->methods->series_get_by_key(r, key, req->mem, &out, &err);
	report(req, rc, &err, out != NULL ? &out->base : NULL);
}

static uint64_t series_filter_hash(const Aniworld__V1__ListSeriesRequest *in)
{
	uint64_t h = AW_FILTER_HASH_INIT;

	h = aw_filter_hash_str(h, in->name_contains);
	return aw_filter_hash_str(h, in->site);
}

/* Copies a page token into memory from `mem`. */
static char *token_copy(ProtobufCAllocator *mem, const char *token)
{
	size_t n = strlen(token) + 1;
	char *s = mem != NULL ? mem->alloc(mem->allocator_data, n) : malloc(n);

	if (s != NULL)
		memcpy(s, token, n);
	return s;
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
	rc = aw_page_token_decode(in->page_token, AW_LIST_SERIES, filter, &after, &err);
	if (rc == 0)
		rc = r->methods->series_list(r, in, &after, page_size, req->mem, &out, &more, &err);
	if (rc == 0 && more && out->n_series > 0) {
		aw_cursor next = {.valid = 1};
		char token[AW_PAGE_TOKEN_MAX];

		next.k[0] = out->series[out->n_series - 1]->id;
		aw_page_token_encode(&next, AW_LIST_SERIES, filter, token);
		out->next_page_token = token_copy(req->mem, token);
		if (out->next_page_token == NULL) {
			out->next_page_token = (char *)protobuf_c_empty_string;
			rc = aw_err_set(&err, AW_ENOMEM, "out of memory");
		}
	}
	report(req, rc, &err, out != NULL ? &out->base : NULL);
}

static int write_series_update(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
			       aw_err *err)
{
	Aniworld__V1__AnimeSeries *out = NULL;
	int rc = r->methods->series_update(r, req->arg, req->mask, aw__repo_now_us(), req->mem,
					   &out, err);

	*result = out != NULL ? &out->base : NULL;
	return rc;
}

void aw_repo_series_update(aw_repo *r, aw_repo_req *req, const Aniworld__V1__AnimeSeries *in,
			   uint64_t mask)
{
	if (in == NULL)
		return report_invalid(req, "series is required");
	req->write = write_series_update;
	req->arg = in;
	req->mask = mask;
	aw__writer_submit(r, req);
}

static int write_series_delete(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
			       aw_err *err)
{
	int rc = r->methods->series_delete(r, req->id, err);

	return rc != 0 ? rc : new_empty(req, result, err);
}

void aw_repo_series_delete(aw_repo *r, aw_repo_req *req, int64_t id)
{
	req->write = write_series_delete;
	req->id = id;
	aw__writer_submit(r, req);
}
