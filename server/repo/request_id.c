/*
 * Request ids (AIP-155): a write the caller made safe to retry runs once.
 *
 * A write that carries a request_id (aw_repo_req.request_id) claims it in the
 * batch's transaction before it runs: the backend inserts a record of it
 * unless one exists. The write then runs as any other (its own savepoint,
 * undone alone when it fails) and its outcome, a result or a logical error,
 * is stored in that record, in the same transaction: a crash keeps both or
 * neither. A repeat finds the record and gets the stored answer back without
 * running anything; the same request_id with another request (another method
 * or another fingerprint) is INVALID_ARGUMENT.
 *
 * What is not an outcome is never stored: a storage fault fails the whole
 * batch (the claim goes with it), a write abandoned by its caller (deadline,
 * cancel) or refused for overload never reaches here. A retry of those runs
 * the write.
 *
 * Two identical calls at once do the work once: in one process the writer
 * runs writes one after the other, so the second finds the first's record
 * (in the same transaction, or committed); across replicas of a shared
 * database the second's claim waits for the first's transaction (a unique
 * key) and then reads what it committed.
 *
 * Records are kept for the retention (aw_repo_options.request_id_retention_us)
 * and deleted after it by aw_repo_request_ids_purge, which a thread of its own
 * runs once a minute, off the write path of the calls.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../ticker.h"
#include "repo.h"

/* Records deleted in one write transaction of a purge, so that a purge never
 * holds the writer for long. */
#define PURGE_CHUNK 2000

/* How often the purger runs. */
#define PURGE_INTERVAL_S 60

int aw__repo_logical_error(int rc)
{
	switch (rc) {
	case AW_EINVAL:
	case AW_ENOTFOUND:
	case AW_EEXIST:
	case AW_EPRECOND:
	case AW_EABORTED:
	case AW_ERANGE:
		return 1;
	default:
		return 0;
	}
}

void aw__request_record_free(aw_request_record *rec)
{
	free(rec->method);
	free(rec->message);
	free(rec->reply);
	rec->method = rec->message = NULL;
	rec->reply = NULL;
}

/* Answers a repeat from its record: the stored result or error, or
 * INVALID_ARGUMENT when the record is of another request. */
static int replay(aw_repo_req *req, const aw_request_record *rec, int *wrc, aw_err *werr,
		  ProtobufCMessage **result, aw_err *txn_err)
{
	const aw_request_id *rid = req->request_id;

	if (strcmp(rec->method, rid->method) != 0 ||
	    memcmp(rec->fingerprint, rid->fingerprint, AW_REQUEST_FINGERPRINT_BYTES) != 0) {
		*wrc = aw_err_set(werr, AW_EINVAL,
				  "request_id \"%s\" was already used for a different request: a "
				  "retry must repeat the request exactly, a new request needs a new "
				  "request_id",
				  rid->id);
		aw_err_detail(werr, "REQUEST_ID_REUSED", "request_id", "%s", rid->id);
		return 0;
	}
	if (!rec->done)
		return aw_err_set(txn_err, AW_EIO, "request_id \"%s\": its record has no outcome",
				  rid->id);
	if (rec->rc != 0) {
		*wrc = aw_err_set(werr, rec->rc, "%s", rec->message != NULL ? rec->message : "");
		return 0;
	}
	*result = protobuf_c_message_unpack(rid->reply, req->mem, rec->reply_len,
					    rec->reply != NULL ? rec->reply : (const uint8_t *)"");
	if (*result == NULL)
		return aw_err_set(txn_err, AW_ECORRUPT,
				  "request_id \"%s\": the stored answer cannot be read", rid->id);
	*wrc = 0;
	return 0;
}

int aw__request_id_run(aw_repo *r, aw_repo_req *req, aw_request_run_fn *run, void *arg,
		       int *wrc, aw_err *werr, ProtobufCMessage **result, int *stored,
		       aw_err *txn_err)
{
	const aw_request_id *rid = req->request_id;
	aw_request_record rec;
	uint8_t *packed = NULL;
	size_t len = 0;
	int found = 0, rc;

	memset(&rec, 0, sizeof(rec));
	rc = r->methods->request_claim(r, rid, aw__repo_now(r), &rec, &found, txn_err);
	if (rc != 0) {
		aw__request_record_free(&rec);
		return rc;
	}
	if (found) {
		rc = replay(req, &rec, wrc, werr, result, txn_err);
		aw__request_record_free(&rec);
		return rc;
	}
	/* Claimed: the claim is written, so the transaction must commit. */
	*stored = 1;
	rc = run(r, req, wrc, werr, result, txn_err, arg);
	if (rc != 0)
		return rc;
	if (*wrc != 0 && !aw__repo_logical_error(*wrc))
		return 0; /* not an outcome: the writer fails the batch */
	if (*wrc == 0 && *result != NULL) {
		len = protobuf_c_message_get_packed_size(*result);
		packed = malloc(len > 0 ? len : 1);
		if (packed == NULL)
			return aw_err_set(txn_err, AW_ENOMEM, "out of memory storing an answer");
		protobuf_c_message_pack(*result, packed);
	}
	rc = r->methods->request_finish(r, rid, *wrc, *wrc != 0 ? werr->msg : "", packed, len,
					txn_err);
	free(packed);
	return rc;
}

/* ---- purging ------------------------------------------------------------------------------ */

/* A purge write waited for by the thread that asked for it. */
typedef struct purge_req {
	aw_repo_req req;          /* first */
	int64_t before_us;
	int64_t count;
	int rc;
	aw_err err;
	int finished;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} purge_req;

static int write_purge(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result, aw_err *err)
{
	purge_req *p = (purge_req *)req;
	int rc = r->methods->request_purge(r, p->before_us, PURGE_CHUNK, &p->count, err);

	return rc != 0 ? rc : aw__repo_empty(req, result, err);
}

static void purge_done(aw_repo_req *req, int rc, const aw_err *err, ProtobufCMessage *result)
{
	purge_req *p = (purge_req *)req;

	if (result != NULL)
		protobuf_c_message_free_unpacked(result, NULL);
	pthread_mutex_lock(&p->mu);
	p->rc = rc;
	if (rc != 0 && err != NULL)
		p->err = *err;
	p->finished = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* One chunk: submits the purge write and waits for its outcome. */
static int purge_chunk(aw_repo *r, int64_t before_us, int64_t *count, aw_err *err)
{
	purge_req p;
	int rc;

	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	p.req.done = purge_done;
	p.req.write = write_purge;
	p.before_us = before_us;
	aw__writer_submit(r, &p.req);
	pthread_mutex_lock(&p.mu);
	while (!p.finished)
		pthread_cond_wait(&p.cv, &p.mu);
	pthread_mutex_unlock(&p.mu);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	rc = p.rc;
	if (rc != 0)
		aw_err_set(err, rc, "purging request ids: %s", p.err.msg);
	*count = p.count;
	return rc;
}

int aw_repo_request_ids_purge(aw_repo *r, int64_t *deleted, aw_err *err)
{
	int64_t before = aw__repo_now(r) - r->request_id_retention_us, total = 0, n = 0;
	int rc;

	do {
		rc = purge_chunk(r, before, &n, err);
		if (rc == 0)
			total += n;
	} while (rc == 0 && n == PURGE_CHUNK);
	if (deleted != NULL)
		*deleted = total;
	return rc;
}

/* ---- the purger thread -------------------------------------------------------------------- */

static void purge_tick(void *arg)
{
	/* A failure is a storage fault the writer has told the owner of; the
	 * next round tries again. */
	aw_repo_request_ids_purge(arg, NULL, NULL);
}

int aw__request_purger_start(aw_repo *r, aw_err *err)
{
	return aw_ticker_start(&r->purger, "request id purger", PURGE_INTERVAL_S * 1000,
			       purge_tick, r, err);
}

void aw__request_purger_stop(aw_repo *r)
{
	aw_ticker_stop(r->purger);
	r->purger = NULL;
}
