/*
 * The group-commit writer: every write goes through here, one batch at a time.
 *
 * Leader and followers. A thread that submits a write when no batch is running
 * becomes the leader: it takes everything queued (up to max_batch), runs it in
 * one transaction, each write bracketed by the backend's write_begin and
 * write_end, commits once, reports each outcome
 * in queue order, and goes on while writes keep arriving. Threads that submit
 * while a leader runs only queue their write and return (the transport's
 * threads go back to serving calls); the leader picks it up in its next batch.
 * One commit (one WAL append, one lock round) is shared by the whole batch, and
 * no write waits for another thread to wake up: with nothing else writing, a
 * write runs at once on the thread that made it.
 *
 * Deferring threads. A thread that serves many requests in a row (a transport
 * thread) can say so with aw_repo_defer_writes(): its writes are then only
 * queued, and it runs them with aw_repo_flush() once it has no request ready.
 * Writes that arrive together then commit together even when a single core
 * serves them all, instead of one transaction each.
 *
 * Nothing is reported as done before its transaction has committed.
 *
 * A write failing with a logical error (invalid, not found, exists,
 * precondition) is undone by the backend (write_end: a savepoint, where its
 * engine needs one) and the others go on. A storage error (I/O, full, busy,
 * corrupt, the database unreachable) can end the transaction behind our back,
 * so it fails the whole batch: nothing in it was acknowledged, nothing is lost.
 *
 * Storage faults are told to the repository's owner (aw_repo_options.on_storage)
 * when they start, change or end, not once per write: the leader keeps the
 * condition of the last transaction.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "repo.h"

/* The repository whose writes this thread defers (aw_repo_defer_writes). */
static _Thread_local aw_repo *deferring;

struct aw_writer {
	atomic_int queued_atomic; /* copy of `queued` readable without the lock */
	atomic_int leading_atomic; /* copy of `leading` readable without the lock */
	pthread_mutex_t mu;       /* guards everything up to max_queue */
	pthread_cond_t idle;      /* signalled when a leader steps down */
	aw_repo_req *head, *tail;
	int queued;
	int leading;              /* a thread is running batches */
	int stopping;
	int max_batch, max_queue;
	uint64_t batches, writes;  /* totals so far, for aw__writer_stats */
	/* The storage's condition as the last transaction found it; leader only. */
	int fault;                /* 0, or the error of the last failed transaction */
	uint64_t failed_batches;  /* transactions failed since the fault began */
	/* The batch being run, used only by the leader. */
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

/*
 * Refuses a write whose result is larger than a reply may be (see "reply
 * sizes" in repo.h): AW_EINVAL, a logical error, so that the write rolls back
 * alone. Checked on the result itself, the stored record, because an update
 * can make a record larger than anything its request carried.
 */
static int check_reply_size(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
			    aw_err *err)
{
	size_t max = aw__repo_page_budget(r), size;
	const char *what;

	if (max == 0 || *result == NULL)
		return 0;
	size = protobuf_c_message_get_packed_size(*result);
	if (size <= max)
		return 0;
	what = (*result)->descriptor->short_name;
	drop_result(req, result);
	return aw_err_set(err, AW_EINVAL,
			  "the stored %s would take %zu bytes, more than the %zu a reply may carry "
			  "(the server's reply limit of %zu bytes less %d)",
			  what, size, max, r->max_reply, AW_REPLY_RESERVE);
}

/* Tells the owner when the outcome of a transaction changes the storage's
 * condition: failing (with a new error) or working again. */
static void note_outcome(aw_repo *r, aw_writer *w, int rc, const aw_err *err)
{
	if (rc != 0) {
		int changed = rc != w->fault;

		w->fault = rc;
		w->failed_batches++;
		if (changed && r->on_storage != NULL)
			r->on_storage(r->storage_arg, AW_REPO_WRITES_FAILING, err, 0);
	} else if (w->fault != 0) {
		uint64_t failed = w->failed_batches;

		w->fault = 0;
		w->failed_batches = 0;
		if (r->on_storage != NULL)
			r->on_storage(r->storage_arg, AW_REPO_WRITES_RECOVERED, NULL, failed);
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
		/* The backend protects each write as it needs to (write_begin):
		 * a lone write needs nothing, since on failure the whole
		 * transaction is rolled back instead of committed. A write that
		 * ran may still be refused for the size of its result, and is
		 * then undone like any write that failed (write_end). */
		rc = m->write_begin(r, live == 1, &txn_err);
		if (rc != 0)
			break;
		w->rc[i] = req->write(r, req, &w->results[i], &w->errs[i]);
		if (w->rc[i] == 0)
			w->rc[i] = check_reply_size(r, req, &w->results[i], &w->errs[i]);
		if (w->rc[i] == 0) {
			stored++;
			rc = m->write_end(r, 0, &txn_err);
		} else if (logical_error(w->rc[i])) {
			drop_result(req, &w->results[i]);
			rc = m->write_end(r, w->rc[i], &txn_err);
		} else {
			/* Storage trouble: give up the whole batch. */
			drop_result(req, &w->results[i]);
			rc = w->rc[i];
			txn_err = w->errs[i];
		}
	}
	if (rc == 0 && stored > 0) {
		rc = m->commit(r, &txn_err);
		if (rc == 0)
			note_outcome(r, w, 0, NULL);
	} else if (rc == 0) {
		m->rollback(r); /* every write failed on its own: nothing to keep */
	}
	if (rc != 0) {
		note_outcome(r, w, rc, &txn_err);
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

/* Runs batches while writes are queued. Called and returns with w->mu held. */
static void lead(aw_repo *r, aw_writer *w)
{
	while (w->head != NULL) {
		int n = 0;

		while (w->head != NULL && n < w->max_batch) {
			aw_repo_req *req = w->head;
			w->head = req->next;
			req->next = NULL;
			w->batch[n++] = req;
		}
		if (w->head == NULL)
			w->tail = NULL;
		w->queued -= n;
		atomic_store_explicit(&w->queued_atomic, w->queued, memory_order_relaxed);
		w->batches++;
		w->writes += (uint64_t)n;
		pthread_mutex_unlock(&w->mu);
		run_batch(r, w, n);
		pthread_mutex_lock(&w->mu);
	}
}

/* Takes or gives up the leader's role; with w->mu held. */
static void set_leading(aw_writer *w, int on)
{
	w->leading = on;
	atomic_store_explicit(&w->leading_atomic, on, memory_order_relaxed);
	if (!on)
		pthread_cond_broadcast(&w->idle);
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
	pthread_cond_init(&w->idle, NULL);
	/* A read-only storage is a fault from the start, told once by aw_repo_open. */
	w->fault = r->read_only.code;
	r->writer = w;
	return 0;
}

void aw_repo_defer_writes(aw_repo *r)
{
	deferring = r;
}

int aw_repo_has_queued(aw_repo *r)
{
	/* While a leader runs, it takes whatever is queued: nothing for us to do. */
	return atomic_load_explicit(&r->writer->queued_atomic, memory_order_relaxed) > 0 &&
	       !atomic_load_explicit(&r->writer->leading_atomic, memory_order_relaxed);
}

void aw_repo_flush(aw_repo *r)
{
	aw_writer *w = r->writer;

	pthread_mutex_lock(&w->mu);
	if (!w->leading && w->head != NULL) {
		set_leading(w, 1);
		lead(r, w);
		set_leading(w, 0);
	}
	pthread_mutex_unlock(&w->mu);
}

void aw__writer_stats(aw_repo *r, uint64_t *batches, uint64_t *writes)
{
	aw_writer *w = r->writer;

	pthread_mutex_lock(&w->mu);
	*batches = w->batches;
	*writes = w->writes;
	pthread_mutex_unlock(&w->mu);
}

void aw__writer_stop(aw_repo *r)
{
	aw_writer *w = r->writer;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	/* A leader empties the queue before it steps down. */
	while (w->leading)
		pthread_cond_wait(&w->idle, &w->mu);
	pthread_mutex_unlock(&w->mu);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->idle);
	writer_free(w);
	r->writer = NULL;
	/* A repository opened later at the same address must not inherit this
	 * thread's deferral (it hung test_repo_sqlite once the allocations of
	 * issue 11 put the next test's repository there). */
	if (deferring == r)
		deferring = NULL;
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
		atomic_store_explicit(&w->queued_atomic, w->queued, memory_order_relaxed);
		if (deferring == r && !w->leading) {
			/* Runs at this thread's next aw_repo_flush(). */
		} else if (w->leading) {
			/* It will wait: let the caller watch for cancellation meanwhile.
			 * Under the lock, so the leader cannot have answered it yet. */
			if (req->waiting != NULL)
				req->waiting(req);
		} else {
			set_leading(w, 1);
			lead(r, w);
			set_leading(w, 0);
		}
	}
	pthread_mutex_unlock(&w->mu);
	if (rc != 0)
		req->done(req, rc, &err, NULL);
}
