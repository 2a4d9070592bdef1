/*
 * The group-commit writer: one thread that owns every write.
 *
 * Writers queue their request and return; the writer thread takes everything
 * queued (up to max_batch), runs it in one transaction, one savepoint per
 * write, commits once, and only then reports each outcome in queue order. One
 * commit (one WAL append, one lock round) is shared by the whole batch, which
 * is where concurrent writes gain over one transaction each. Nothing is
 * reported as done before its transaction is durable at the configured level.
 *
 * A write failing with a logical error (invalid, not found, exists,
 * precondition) rolls back to its savepoint and the others go on. A storage
 * error (I/O, full, busy, corrupt) can end SQLite's transaction behind our back,
 * so it fails the whole batch: nothing in it was acknowledged, nothing is lost.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "repo.h"

struct aw_writer {
	pthread_t thread;
	pthread_mutex_t mu;       /* guards the queue and `stopping` */
	pthread_cond_t cv;
	aw_repo_req *head, *tail;
	int queued;
	int stopping;
	int max_batch, max_queue;
	/* The batch being run, owned by the writer thread. */
	aw_repo_req **batch;
	int *rc;
	aw_err *errs;
	ProtobufCMessage **results;
};

static int logical_error(int rc)
{
	switch (rc) {
	case AW_EINVAL:
	case AW_ENOTFOUND:
	case AW_EEXIST:
	case AW_EPRECOND:
	case AW_ERANGE:
		return 1;
	default:
		return 0;
	}
}

static void drop_result(aw_repo_req *req, ProtobufCMessage **result)
{
	if (*result != NULL) {
		protobuf_c_message_free_unpacked(*result, req->mem);
		*result = NULL;
	}
}

static void run_batch(aw_repo *r, aw_writer *w, int n)
{
	const aw_repo_methods *m = r->methods;
	aw_err txn_err;
	int rc, live = 0, stored = 0;

	aw_err_clear(&txn_err);
	for (int i = 0; i < n; i++) {
		aw_repo_req *req = w->batch[i];
		w->results[i] = NULL;
		aw_err_clear(&w->errs[i]);
		w->rc[i] = req->abandoned != NULL ? req->abandoned(req) : 0;
		if (w->rc[i] != 0)
			aw_err_set(&w->errs[i], w->rc[i], "%s before the write ran",
				   w->rc[i] == AW_ETIMEDOUT ? "deadline exceeded" : "cancelled");
		else
			live++;
	}
	if (live == 0)
		goto report;

	rc = m->begin(r, &txn_err);
	for (int i = 0; rc == 0 && i < n; i++) {
		aw_repo_req *req = w->batch[i];

		if (w->rc[i] != 0)
			continue;
		/* A lone write needs no savepoint: on failure the whole transaction
		 * is rolled back instead of committed. */
		if (live > 1) {
			rc = m->savepoint(r, &txn_err);
			if (rc != 0)
				break;
		}
		w->rc[i] = req->write(r, req, &w->results[i], &w->errs[i]);
		if (w->rc[i] == 0) {
			stored++;
			if (live > 1)
				rc = m->release(r, &txn_err);
		} else if (logical_error(w->rc[i])) {
			drop_result(req, &w->results[i]);
			if (live > 1) {
				m->rollback_to(r);
				rc = m->release(r, &txn_err);
			}
		} else {
			/* Storage trouble: give up the whole batch. */
			drop_result(req, &w->results[i]);
			rc = w->rc[i];
			txn_err = w->errs[i];
		}
	}
	if (rc == 0 && stored > 0)
		rc = m->commit(r, &txn_err);
	else if (rc == 0)
		m->rollback(r); /* every write failed on its own: nothing to keep */
	if (rc != 0) {
		m->rollback(r);
		/* Nothing of this batch is stored: every write that had succeeded, or
		 * had not run yet, fails with the transaction's error. */
		for (int i = 0; i < n; i++) {
			if (w->rc[i] == 0 || !logical_error(w->rc[i])) {
				if (w->rc[i] == AW_ECANCELED || w->rc[i] == AW_ETIMEDOUT)
					continue;
				drop_result(w->batch[i], &w->results[i]);
				w->rc[i] = rc;
				w->errs[i] = txn_err;
			}
		}
	}
report:
	for (int i = 0; i < n; i++) {
		aw_repo_req *req = w->batch[i];
		req->done(req, w->rc[i], &w->errs[i], w->results[i]);
	}
}

static void *writer_main(void *arg)
{
	aw_repo *r = arg;
	aw_writer *w = r->writer;

	for (;;) {
		int n = 0;

		pthread_mutex_lock(&w->mu);
		while (w->head == NULL && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->head == NULL) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		while (w->head != NULL && n < w->max_batch) {
			aw_repo_req *req = w->head;
			w->head = req->next;
			req->next = NULL;
			w->batch[n++] = req;
		}
		if (w->head == NULL)
			w->tail = NULL;
		w->queued -= n;
		pthread_mutex_unlock(&w->mu);
		run_batch(r, w, n);
	}
	return NULL;
}

static void writer_free(aw_writer *w)
{
	free(w->batch);
	free(w->rc);
	free(w->errs);
	free(w->results);
	free(w);
}

int aw__writer_start(aw_repo *r, const aw_repo_options *opts, aw_err *err)
{
	aw_writer *w = calloc(1, sizeof(*w));
	size_t n = (size_t)opts->max_batch;

	if (w == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the writer");
	w->max_batch = opts->max_batch;
	w->max_queue = opts->max_queue;
	w->batch = calloc(n, sizeof(*w->batch));
	w->rc = calloc(n, sizeof(*w->rc));
	w->errs = calloc(n, sizeof(*w->errs));
	w->results = calloc(n, sizeof(*w->results));
	if (w->batch == NULL || w->rc == NULL || w->errs == NULL || w->results == NULL) {
		writer_free(w);
		return aw_err_set(err, AW_ENOMEM, "out of memory for the writer");
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	r->writer = w;
	if (pthread_create(&w->thread, NULL, writer_main, r) != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		writer_free(w);
		r->writer = NULL;
		return aw_err_set(err, AW_ENOMEM, "cannot start the writer thread");
	}
	return 0;
}

void aw__writer_stop(aw_repo *r)
{
	aw_writer *w = r->writer;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	writer_free(w);
	r->writer = NULL;
}

void aw__writer_submit(aw_repo *r, aw_repo_req *req)
{
	aw_writer *w = r->writer;
	aw_err err;
	int rc = 0;

	req->next = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		rc = aw_err_set(&err, AW_EUNAVAIL, "the repository is closing");
	} else if (w->queued >= w->max_queue) {
		rc = aw_err_set(&err, AW_EOVERLOAD, "too many writes queued (%d)", w->queued);
	} else {
		if (w->tail != NULL)
			w->tail->next = req;
		else
			w->head = req;
		w->tail = req;
		w->queued++;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	if (rc != 0)
		req->done(req, rc, &err, NULL);
}
