/*
 * The repository: opening and closing, and what every entity's wrappers share.
 * The wrappers (anime_series.c, ...) are the only code that calls a backend's
 * methods. Reads call the backend and report at once; writes are packaged for
 * the writer (writer.c), which runs them inside its group-commit transaction.
 */
#include "repo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

int64_t aw__repo_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The deadline of this thread's repository work (aw__repo_deadline); 0: none. */
static _Thread_local int64_t thread_deadline_us;

int64_t aw__repo_deadline(void)
{
	return thread_deadline_us > 0 ? thread_deadline_us : INT64_MAX;
}

void aw__repo_deadline_set(int64_t deadline_us)
{
	thread_deadline_us = deadline_us;
}

int64_t aw__repo_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t aw__repo_now(aw_repo *r)
{
	return r->clock != NULL ? r->clock(r->clock_arg) : aw__repo_now_us();
}

void aw_repo_options_defaults(aw_repo_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->max_batch = 256;
	opts->max_queue = 65536;
}

const char *aw_repo_setting_get(const aw_repo_options *opts, const char *name)
{
	const char *value = NULL;

	for (size_t i = 0; opts != NULL && i < opts->n_settings; i++) {
		if (opts->settings[i].name != NULL && strcmp(opts->settings[i].name, name) == 0)
			value = opts->settings[i].value;
	}
	return value;
}

const aw_repo_backend *aw_repo_backend_find(const char *location)
{
	if (location == NULL)
		return NULL;
	for (size_t i = 0; aw__repo_backends[i] != NULL; i++) {
		if (aw__repo_backends[i]->matches(location))
			return aw__repo_backends[i];
	}
	return NULL;
}

void aw_repo_location_redact(const char *location, char *buf, size_t n)
{
	const aw_repo_backend *b = aw_repo_backend_find(location);

	if (n == 0)
		return;
	if (b != NULL)
		b->redact(location, buf, n);
	else
		snprintf(buf, n, "(no backend)");
}

size_t aw__repo_page_budget(const aw_repo *r)
{
	if (r->max_reply == 0)
		return 0;
	return r->max_reply > AW_REPLY_RESERVE ? r->max_reply - AW_REPLY_RESERVE : 1;
}

/* Bytes of a varint holding `v`. */
static size_t varint_bytes(size_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

int aw__repo_page_take(size_t max_bytes, size_t *used, size_t n, const ProtobufCMessage *row)
{
	size_t size = protobuf_c_message_get_packed_size(row);
	/* The lists' repeated fields are field 1: a one-byte tag. */
	size_t cost = 1 + varint_bytes(size) + size;

	if (n > 0 && max_bytes > 0 && (*used + cost > max_bytes))
		return 0;
	*used += cost;
	return 1;
}

int aw__repo_storage_fault(int rc)
{
	switch (rc) {
	case 0:
	case AW_EINVAL:
	case AW_ENOTFOUND:
	case AW_EEXIST:
	case AW_EPRECOND:
	case AW_EABORTED:
	case AW_ERANGE:
	case AW_ECANCELED:
	case AW_ETIMEDOUT:
	case AW_EOVERLOAD:
	case AW_EUNAVAIL:
		return 0;
	default:
		return 1;
	}
}

/* A read fault of the same kind as the last one reported is reported again
 * after this long, with the count of those in between. */
#define READ_FAULT_REPORT_US INT64_C(60000000)

/*
 * Tells the owner that a read failed for a storage reason. A damaged page
 * fails every read that touches it and no other, so failures and successes
 * interleave for as long as the damage lasts: there is no "recovered" to
 * report, only a rate to keep low.
 */
static void read_failed(aw_repo *r, int rc, const aw_err *err)
{
	int64_t now = aw__repo_now_us();
	uint64_t missed = 0;
	int report;

	if (r->on_storage == NULL)
		return;
	pthread_mutex_lock(&r->read_fault_mu);
	report = rc != r->read_fault || now - r->read_fault_us >= READ_FAULT_REPORT_US;
	if (report) {
		missed = r->read_faults_unreported;
		r->read_fault = rc;
		r->read_fault_us = now;
		r->read_faults_unreported = 0;
	} else {
		r->read_faults_unreported++;
	}
	pthread_mutex_unlock(&r->read_fault_mu);
	if (report)
		r->on_storage(r->storage_arg, AW_REPO_READ_FAILED, err, missed);
}

int aw_repo_open(aw_repo **out, const char *location, const aw_repo_options *opts, aw_err *err)
{
	const aw_repo_backend *backend;
	aw_repo_options defaults;
	aw_repo *r;
	int rc;

	*out = NULL;
	if (opts == NULL) {
		aw_repo_options_defaults(&defaults);
		opts = &defaults;
	}
	if (opts->max_batch < 1 || opts->max_queue < 1)
		return aw_err_set(err, AW_EINVAL, "invalid repository options");
	if (location == NULL || location[0] == '\0')
		return aw_err_set(err, AW_EINVAL, "no database location given");
	backend = aw_repo_backend_find(location);
	if (backend == NULL)
		return aw_err_set(err, AW_EINVAL, "no storage backend takes this database location");
	rc = backend->open(&r, location, opts, err);
	if (rc != 0)
		return rc;
	r->clock = opts->clock;
	r->clock_arg = opts->clock_arg;
	r->on_storage = opts->on_storage;
	r->storage_arg = opts->storage_arg;
	r->on_download_event = opts->on_download_event;
	r->event_arg = opts->event_arg;
	r->events_watched = opts->events_watched;
	r->max_reply = opts->max_reply_bytes;
	r->request_id_retention_us = opts->request_id_retention_us > 0
					     ? opts->request_id_retention_us
					     : INT64_C(24) * 3600 * 1000000;
	r->purger = NULL;
	pthread_mutex_init(&r->read_fault_mu, NULL);
	rc = aw__writer_start(r, opts, err);
	if (rc == 0 && r->methods->start != NULL) {
		rc = r->methods->start(r, err);
		if (rc != 0)
			aw__writer_stop(r);
	}
	if (rc == 0 && opts->request_id_purger) {
		rc = aw__request_purger_start(r, err);
		if (rc != 0)
			aw__writer_stop(r);
	}
	if (rc != 0) {
		pthread_mutex_destroy(&r->read_fault_mu);
		r->methods->close(r);
		return rc;
	}
	if (r->read_only.code != 0 && r->on_storage != NULL)
		r->on_storage(r->storage_arg, AW_REPO_READ_ONLY, &r->read_only, 0);
	*out = r;
	return 0;
}

int aw__repo_durability_setting(const aw_repo_options *opts, aw_durability *out, aw_err *err)
{
	const char *v = aw_repo_setting_get(opts, "durability");

	*out = AW_DURABILITY_POWER;
	if (v == NULL || strcmp(v, "power") == 0)
		return 0;
	if (strcmp(v, "process") == 0) {
		*out = AW_DURABILITY_PROCESS;
		return 0;
	}
	return aw_err_set(err, AW_EINVAL, "setting durability: '%.40s' is not power or process", v);
}

const char *aw__repo_durability_name(aw_durability d)
{
	return d == AW_DURABILITY_PROCESS ? "process" : "power";
}

const char *aw_repo_durability(const aw_repo *r)
{
	return r->durability;
}

void aw_repo_stats(aw_repo *r, uint64_t *batches, uint64_t *writes)
{
	aw__writer_stats(r, batches, writes);
}

int aw_repo_events_sync(aw_repo *r, int timeout_ms, aw_err *err)
{
	if (r->on_download_event == NULL || r->methods->events_sync == NULL)
		return 0;
	return r->methods->events_sync(r, timeout_ms, err);
}

int aw_repo_snapshot(aw_repo *r, int (*stop)(void *stop_arg), void *stop_arg, int *fd,
		     const char **format, aw_err *err)
{
	*fd = -1;
	*format = NULL;
	if (r->methods->version < 5 || r->methods->snapshot == NULL)
		return aw_err_set(err, AW_EUNIMPL, "this storage backend takes no snapshots");
	return r->methods->snapshot(r, stop, stop_arg, fd, format, err);
}

int aw_repo_restore(const char *location, const char *from, int force, aw_err *err)
{
	const aw_repo_backend *b = aw_repo_backend_find(location);

	if (b == NULL)
		return aw_err_set(err, AW_EINVAL, "no storage backend takes this location");
	if (b->restore == NULL)
		return aw_err_set(err, AW_EUNIMPL, "the %s backend restores no snapshot files",
				  b->name);
	return b->restore(location, from, force, err);
}

void aw_repo_events_sync_start(aw_repo *r, int timeout_ms, aw_repo_synced_fn *done, void *arg)
{
	aw_err err;
	int rc = 0;

	aw_err_clear(&err);
	if (r->on_download_event != NULL && r->methods->version >= 7 &&
	    r->methods->events_sync_start != NULL) {
		rc = r->methods->events_sync_start(r, timeout_ms, done, arg, &err);
		if (rc == 0)
			return; /* done runs later */
	} else if (r->on_download_event != NULL && r->methods->events_sync != NULL) {
		rc = r->methods->events_sync(r, timeout_ms, &err);
	}
	done(arg, rc, &err);
}

void aw_repo_close(aw_repo *r)
{
	if (r == NULL)
		return;
	aw__request_purger_stop(r);
	aw__writer_stop(r);
	pthread_mutex_destroy(&r->read_fault_mu);
	r->methods->close(r);
}

void aw__repo_report(aw_repo *r, aw_repo_req *req, int rc, const aw_err *err,
		     ProtobufCMessage *result)
{
	if (rc != 0 && result != NULL) {
		protobuf_c_message_free_unpacked(result, req->mem);
		result = NULL;
	}
	aw__repo_deadline_set(0); /* the read's backend work is over */
	if (aw__repo_storage_fault(rc))
		read_failed(r, rc, err);
	req->done(req, rc, err, result);
}

void aw__repo_event(aw_repo *r, const Aniworld__V1__DownloadEvent *ev)
{
	if (r->on_download_event != NULL)
		r->on_download_event(r->event_arg, ev);
}

int aw__repo_events_hooked(aw_repo *r)
{
	return r->on_download_event != NULL;
}

int aw__repo_events_watched(aw_repo *r)
{
	return r->on_download_event != NULL &&
	       (r->events_watched == NULL || r->events_watched(r->event_arg));
}

void aw__repo_invalid(aw_repo_req *req, const char *what)
{
	aw_err err;

	aw_err_set(&err, AW_EINVAL, "%s", what);
	req->done(req, AW_EINVAL, &err, NULL);
}

int aw__repo_empty(aw_repo_req *req, ProtobufCMessage **result, aw_err *err)
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

char *aw__repo_strdup(ProtobufCAllocator *mem, const char *s)
{
	size_t n = strlen(s) + 1;
	char *copy = mem != NULL ? mem->alloc(mem->allocator_data, n) : malloc(n);

	if (copy != NULL)
		memcpy(copy, s, n);
	return copy;
}

void *aw__pb_alloc(ProtobufCAllocator *mem, size_t size)
{
	return mem != NULL ? mem->alloc(mem->allocator_data, size) : malloc(size);
}

void *aw__pb_new(ProtobufCAllocator *mem, const ProtobufCMessageDescriptor *desc)
{
	void *m = aw__pb_alloc(mem, desc->sizeof_message);

	if (m != NULL)
		desc->message_init(m);
	return m;
}

Google__Protobuf__Timestamp *aw__pb_timestamp(ProtobufCAllocator *mem, int64_t us)
{
	Google__Protobuf__Timestamp *ts = aw__pb_new(mem, &google__protobuf__timestamp__descriptor);

	if (ts != NULL) {
		int64_t sec = us / 1000000, rem = us % 1000000;
		if (rem < 0) {
			rem += 1000000;
			sec--;
		}
		ts->seconds = sec;
		ts->nanos = (int32_t)(rem * 1000);
	}
	return ts;
}

int64_t aw__pb_timestamp_us(const Google__Protobuf__Timestamp *ts)
{
	return ts->seconds * 1000000 + ts->nanos / 1000;
}

char *aw__etag_new(ProtobufCAllocator *mem, int64_t version)
{
	char buf[24], *p = buf + sizeof(buf) - 1;
	uint64_t v = version > 0 ? (uint64_t)version : 0;

	/* Digits by hand: every record of a list page gets one, and snprintf
	 * cost a list page more than all of our own code did. */
	*p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return aw__repo_strdup(mem, p);
}

int aw__etag_version(const char *etag, int64_t *version)
{
	int64_t v = 0;

	*version = 0;
	if (etag == NULL || etag[0] == '\0')
		return 0;
	for (const char *p = etag; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || p - etag >= 18)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (v <= 0)
		return -1;
	*version = v;
	return 0;
}

int aw__repo_stale(aw_err *err, const char *thing, const char *name, int64_t want, int64_t now)
{
	aw_err_set(err, AW_EABORTED,
		   "the %s %s changed since it was read (etag \"%lld\" is stale, it is now "
		   "\"%lld\"): read it again",
		   thing, name, (long long)want, (long long)now);
	return aw_err_detail(err, "ETAG_MISMATCH", "etag", "%lld", (long long)now);
}
