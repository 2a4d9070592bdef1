/*
 * aniworld.admin.v1.AdminService: operations for the people who run the
 * server. The transport lets only callers with an admin token reach these
 * stubs (AW_SERVICE_ADMIN, see transport.h).
 *
 * Snapshot. Copying the database takes as long as reading it, and streaming
 * the copy as long as the client takes to read it: neither may hold a
 * transport thread. The stub hands the call to a thread of its own, which
 * asks the repository for a consistent copy (aw_repo_snapshot: an unnamed
 * file), then reads it in chunks, hashing as it goes, and queues each chunk
 * only when the stream has room (aw_call_wait_sendable), so that memory
 * stays at a few chunks whatever the client's pace. One snapshot at a time:
 * each needs room for a whole copy on the database's disk.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/status.h>
#include <openssl/evp.h>

#include "aniworld/admin/v1/admin.pb-c.h"
#include "services.h"

/* Bytes of a chunk: at most 1 MiB, and a multiple of 3 so that the base64
 * texts of the chunks joined decode as one (admin.proto). */
#define CHUNK_BYTES (3 * 349525)
/* Messages queued or in flight on the stream before the thread waits. */
#define MAX_PENDING 2
/* How often a thread waiting for the client checks whether to give up. */
#define WAIT_SLICE_MS 200

#define SHUTTING_DOWN "the server is shutting down"

typedef struct admin_service {
	Aniworld__Admin__V1__AdminService_Service base; /* first: the transport's view */
	aw_repo *repo;                                  /* borrowed */
	pthread_mutex_t mu;    /* guards the two below */
	pthread_cond_t idle;   /* signalled when `running` drops to 0 */
	int running;           /* snapshot threads alive */
	int stopping;          /* shutdown began: no new snapshot, running ones give up */
} admin_service;

typedef struct snapshot_job {
	admin_service *svc;
	aw_call *call;         /* referenced until the thread ends */
} snapshot_job;

static admin_service *of(Aniworld__Admin__V1__AdminService_Service *svc)
{
	return (admin_service *)svc;
}

/* Whether the snapshot of `job` should stop: 0, or why (AW_ECANCELED,
 * AW_ETIMEDOUT, AW_EUNAVAIL for a shutdown). */
static int job_stop(void *arg)
{
	snapshot_job *job = arg;
	int stopping;

	pthread_mutex_lock(&job->svc->mu);
	stopping = job->svc->stopping;
	pthread_mutex_unlock(&job->svc->mu);
	if (stopping)
		return AW_EUNAVAIL;
	return aw_call_abandoned(job->call);
}

/* Reads up to `cap` bytes, fewer only at the end of the file; -1 on error. */
static ssize_t read_chunk(int fd, uint8_t *buf, size_t cap)
{
	size_t got = 0;

	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Waits for room on the stream, giving up when the job should stop. */
static int wait_room(snapshot_job *job, aw_err *err)
{
	for (;;) {
		int rc = aw_call_wait_sendable(job->call, MAX_PENDING, WAIT_SLICE_MS);
		int why;

		if (rc == 0)
			return 0;
		if (rc == AW_ECANCELED)
			return aw_err_set(err, AW_ECANCELED, "the stream ended");
		why = job_stop(job);
		if (why != 0)
			return aw_err_set(err, why, "%s",
					  why == AW_EUNAVAIL ? SHUTTING_DOWN : aw_strerror(why));
	}
}

/* Queues one message, once there is room. */
static int send_part(snapshot_job *job, const Aniworld__Admin__V1__SnapshotResponse *msg,
		     aw_err *err)
{
	int rc = wait_room(job, err);

	if (rc != 0)
		return rc;
	rc = aw_call_send(job->call, &msg->base);
	if (rc == AW_ECANCELED)
		return aw_err_set(err, rc, "the stream ended");
	if (rc != 0)
		return aw_err_set(err, AW_ENOMEM, "out of memory queueing a chunk");
	return 0;
}

/* Streams the file `fd` in chunks, then its summary. */
static int stream_file(snapshot_job *job, int fd, const char *format, aw_err *err)
{
	Aniworld__Admin__V1__SnapshotResponse msg;
	Aniworld__Admin__V1__SnapshotSummary summary = ANIWORLD__ADMIN__V1__SNAPSHOT_SUMMARY__INIT;
	unsigned char digest[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int digest_len = 0;
	uint8_t *buf = malloc(CHUNK_BYTES);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int64_t size = 0;
	int rc = 0;

	if (buf == NULL || md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		rc = aw_err_set(err, AW_ENOMEM, "out of memory for streaming the snapshot");
		goto out;
	}
	for (;;) {
		ssize_t n = read_chunk(fd, buf, CHUNK_BYTES);

		if (n < 0) {
			rc = aw_err_set(err, AW_EIO, "storage I/O error reading the snapshot: %s",
					strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
			rc = aw_err_set(err, AW_EINTERNAL, "cannot hash the snapshot");
			goto out;
		}
		aniworld__admin__v1__snapshot_response__init(&msg);
		msg.part_case = ANIWORLD__ADMIN__V1__SNAPSHOT_RESPONSE__PART_CHUNK;
		msg.chunk.len = (size_t)n;
		msg.chunk.data = buf;
		rc = send_part(job, &msg, err);
		if (rc != 0)
			goto out;
		size += n;
	}
	if (EVP_DigestFinal_ex(md, digest, &digest_len) != 1) {
		rc = aw_err_set(err, AW_EINTERNAL, "cannot hash the snapshot");
		goto out;
	}
	for (unsigned int i = 0; i < digest_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	summary.size_bytes = size;
	summary.sha256 = hex;
	summary.format = (char *)format;
	aniworld__admin__v1__snapshot_response__init(&msg);
	msg.part_case = ANIWORLD__ADMIN__V1__SNAPSHOT_RESPONSE__PART_SUMMARY;
	msg.summary = &summary;
	rc = send_part(job, &msg, err);
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

static void *snapshot_main(void *arg)
{
	snapshot_job *job = arg;
	admin_service *s = job->svc;
	const char *format = NULL;
	aw_err err;
	int fd = -1;
	int rc;

	aw_err_clear(&err);
	rc = aw_repo_snapshot(s->repo, job_stop, job, &fd, &format, &err);
	if (rc == 0)
		rc = stream_file(job, fd, format, &err);
	if (rc == AW_EUNAVAIL && job_stop(job) == AW_EUNAVAIL)
		aw_err_set(&err, rc, SHUTTING_DOWN);

	/* Done with the repository and the service: the next snapshot may
	 * begin, and a shutdown may go on (which frees `s`). */
	pthread_mutex_lock(&s->mu);
	if (--s->running == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		aw_call_finish(job->call, GRPC_STATUS_OK, NULL);
	else
		aw_call_finish(job->call, aw_err_grpc_status(rc), err.msg);
	aw_call_unref(job->call);
	free(job);
	return NULL;
}

static void snapshot(Aniworld__Admin__V1__AdminService_Service *svc,
		     const Aniworld__Admin__V1__SnapshotRequest *in,
		     Aniworld__Admin__V1__SnapshotResponse_Closure closure, void *closure_data)
{
	admin_service *s = of(svc);
	aw_call *call = closure_data;
	snapshot_job *job;
	pthread_attr_t attr;
	pthread_t thread;
	int busy, stopping, started;

	(void)in;
	(void)closure;
	pthread_mutex_lock(&s->mu);
	stopping = s->stopping;
	busy = s->running > 0;
	if (!stopping && !busy)
		s->running++;
	pthread_mutex_unlock(&s->mu);
	if (stopping) {
		aw_call_finish(call, GRPC_STATUS_UNAVAILABLE, SHUTTING_DOWN);
		return;
	}
	if (busy) {
		aw_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
			       "another snapshot is being taken: try again once it is done");
		return;
	}
	job = malloc(sizeof(*job));
	started = 0;
	if (job != NULL) {
		job->svc = s;
		job->call = call;
		aw_call_ref(call);
		/* The client learns at once that the snapshot is under way. */
		aw_call_send_initial_metadata(call);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		started = pthread_create(&thread, &attr, snapshot_main, job) == 0;
		pthread_attr_destroy(&attr);
		if (!started) {
			aw_call_unref(call);
			free(job);
		}
	}
	if (!started) {
		pthread_mutex_lock(&s->mu);
		if (--s->running == 0)
			pthread_cond_broadcast(&s->idle);
		pthread_mutex_unlock(&s->mu);
		aw_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
			       "cannot start a thread for the snapshot");
	}
}

/* ---- life ------------------------------------------------------------------------------- */

void aw_admin_service_shutdown(ProtobufCService *svc)
{
	admin_service *s;

	if (svc == NULL)
		return;
	s = (admin_service *)svc;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	while (s->running > 0)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

static void destroy(Aniworld__Admin__V1__AdminService_Service *svc)
{
	admin_service *s = of(svc);

	aw_admin_service_shutdown(&svc->base);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->idle);
	free(s);
}

int aw_admin_service_new(ProtobufCService **out, const aw_service_env *env, aw_err *err)
{
	admin_service *s;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for AdminService");
	aniworld__admin__v1__admin_service__init(&s->base, destroy);
	s->base.snapshot = snapshot;
	s->repo = env->repo;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->idle, NULL);
	*out = &s->base.base;
	return 0;
}
