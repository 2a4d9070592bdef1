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
 * Pipelining. A backend with a database at the other end of a connection
 * can send a batch's writes without waiting for each one's answer
 * (aw_repo_methods.write_mode): the leader then first only sends the writes
 * (each answers AW_REPO_PENDING), and collects their outcomes in order
 * afterwards, calling each write again; a kind of write the backend does not
 * send ahead (AW_REPO_RUN_ALONE) runs on its own once those before it are
 * collected. The outcomes, and what a failed write undoes, are the same as
 * when each write runs to its end in turn.
 *
 * Nothing is reported as done before its transaction has committed.
 *
 * Deadlines. A batch hands the backend the latest deadline of its writes
 * (aw__repo_deadline), by which its waits end; a write queued behind a batch
 * under way is answered at its own deadline by the reaper thread, unrun. A
 * batch that lost a conflict in the database runs again (run_batch).
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
#include <time.h>

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
	int *pending;             /* writes sent, outcome not yet collected (write_mode) */
	size_t *marks;            /* each write's changes list length before it ran */
	uint32_t seed;            /* for the jitter of conflict pauses */
	/* The reaper (reaper_main), which answers queued writes at their deadline. */
	pthread_t reaper;
	int reaper_started;
	pthread_cond_t reap;      /* signalled when a write with an earlier deadline
				     is queued, and to stop */
	int64_t reap_at;          /* the reaper's next wake-up (0: none scheduled) */
};

/* A batch whose transaction lost a conflict runs again up to this many times,
 * after pauses of up to CONFLICT_BACKOFF_US, doubled each time (run_batch). */
#define CONFLICT_RETRIES 5
#define CONFLICT_BACKOFF_US 4000


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

/*
 * Runs one write in the open transaction, bracketed by the backend's
 * write_begin and write_end (*(int *)arg says whether it is alone in it).
 * The outcome goes to *wrc, werr and *result; a storage error (of the
 * write or of the bracket) is returned, and fails the whole batch.
 */
static int run_one(aw_repo *r, aw_repo_req *req, int *wrc, aw_err *werr,
		   ProtobufCMessage **result, aw_err *txn_err, void *arg)
{
	const aw_repo_methods *m = r->methods;
	int alone = *(int *)arg, rc;

	/* The backend protects each write as it needs to (write_begin): a lone
	 * write needs nothing, since on failure the whole transaction is rolled
	 * back instead of committed. A write that ran may still be refused for
	 * the size of its result, and is then undone like any write that failed
	 * (write_end). */
	rc = m->write_begin(r, alone, txn_err);
	if (rc != 0)
		return rc;
	*wrc = req->write(r, req, result, werr);
	if (*wrc == 0)
		*wrc = check_reply_size(r, req, result, werr);
	if (*wrc == 0)
		return m->write_end(r, 0, txn_err);
	drop_result(req, result);
	if (aw__repo_logical_error(*wrc))
		return m->write_end(r, *wrc, txn_err);
	/* Storage trouble: give up the whole batch. */
	*txn_err = *werr;
	return *wrc;
}

/* A batch under way (run_batch), so that its steps can share it. */
typedef struct batch_run {
	aw_repo *r;
	aw_writer *w;
	int live;       /* writes that run (not abandoned) */
	int stored;     /* writes done and kept */
	aw_err txn_err; /* what failed the transaction */
} batch_run;

/*
 * The end of write i, once its outcome is known: a write that ran may still
 * be refused for the size of its result, and is then undone like any write
 * that failed (write_end). 0, or the storage error that fails the batch.
 */
static int finish_write(batch_run *b, int i)
{
	aw_writer *w = b->w;
	aw_repo_req *req = w->batch[i];
	const aw_repo_methods *m = b->r->methods;

	if (w->rc[i] == 0)
		w->rc[i] = check_reply_size(b->r, req, &w->results[i], &w->errs[i]);
	if (w->rc[i] == 0) {
		b->stored++;
		return m->write_end(b->r, 0, &b->txn_err);
	}
	drop_result(req, &w->results[i]);
	if (aw__repo_logical_error(w->rc[i]))
		return m->write_end(b->r, w->rc[i], &b->txn_err);
	/* Storage trouble: give up the whole batch. */
	b->txn_err = w->errs[i];
	return w->rc[i];
}

/* Calls write i in `mode` (a backend without pipelining has only one). */
static int call_write(batch_run *b, int i, int mode)
{
	aw_writer *w = b->w;
	aw_repo_req *req = w->batch[i];
	const aw_repo_methods *m = b->r->methods;
	int rc;

	if (m->write_mode == NULL)
		return req->write(b->r, req, &w->results[i], &w->errs[i]);
	m->write_mode(b->r, mode);
	rc = req->write(b->r, req, &w->results[i], &w->errs[i]);
	m->write_mode(b->r, AW_REPO_WRITE_RUN);
	return rc;
}

/* Collects the outcomes of the pending writes pending[0..*np), in the order
 * they were sent. 0, or the storage error that fails the batch (the writes
 * not collected keep AW_REPO_PENDING). */
static int collect_pending(batch_run *b, int *pending, int *np)
{
	int rc = 0, k;

	for (k = 0; rc == 0 && k < *np; k++) {
		int i = pending[k];

		b->w->rc[i] = call_write(b, i, AW_REPO_WRITE_COLLECT);
		rc = finish_write(b, i);
	}
	*np = 0;
	return rc;
}

/*
 * Runs the live writes of the batch, each bracketed by write_begin and
 * write_end. With a backend that pipelines, writes are first only sent
 * (AW_REPO_PENDING) and their outcomes collected in order afterwards, or
 * before a write that the backend runs alone.
 */
static int run_writes(batch_run *b, int n, int *pending)
{
	aw_writer *w = b->w;
	const aw_repo_methods *m = b->r->methods;
	int mode = m->write_mode != NULL ? AW_REPO_WRITE_SEND : AW_REPO_WRITE_RUN;
	int rc = 0, np = 0;

	for (int i = 0; rc == 0 && i < n; i++) {
		if (w->rc[i] != 0)
			continue;
		if (w->batch[i]->request_id != NULL) {
			/* Its outcome is stored even when it is an error, so the
			 * write needs its own savepoint even alone; it runs after
			 * the writes sent before it are collected, never pipelined. */
			int alone = 0, kept = 0;

			rc = collect_pending(b, pending, &np);
			if (rc != 0)
				break;
			rc = aw__request_id_run(b->r, w->batch[i], run_one, &alone, &w->rc[i],
						&w->errs[i], &w->results[i], &kept, &b->txn_err);
			if (rc == 0 && (w->rc[i] == 0 || kept))
				b->stored++;
			continue;
		}
		/* The backend protects each write as it needs to (write_begin): a
		 * lone write needs nothing, since on failure the whole transaction
		 * is rolled back instead of committed. */
		rc = m->write_begin(b->r, b->live == 1, &b->txn_err);
		if (rc != 0)
			break;
		w->rc[i] = call_write(b, i, mode);
		if (w->rc[i] == AW_REPO_PENDING) {
			pending[np++] = i;
			continue;
		}
		if (w->rc[i] == AW_REPO_RUN_ALONE) {
			drop_result(w->batch[i], &w->results[i]);
			aw_err_clear(&w->errs[i]);
			rc = collect_pending(b, pending, &np);
			if (rc == 0)
				rc = m->write_begin(b->r, b->live == 1, &b->txn_err);
			if (rc != 0) {
				w->rc[i] = AW_REPO_PENDING; /* not run: fails with the batch */
				break;
			}
			w->rc[i] = call_write(b, i, AW_REPO_WRITE_RUN);
		}
		rc = finish_write(b, i);
	}
	if (rc == 0)
		rc = collect_pending(b, pending, &np);
	return rc;
}

/*
 * The deadline of a batch: the latest of its live writes' (0: one of them has
 * none), so that no write is failed for another's hurry.
 */
static int64_t batch_deadline(aw_writer *w, int n)
{
	int64_t latest = 0;

	for (int i = 0; i < n; i++) {
		int64_t d = w->batch[i]->deadline_us;

		if (w->rc[i] != 0)
			continue;
		if (d <= 0)
			return 0;
		if (d > latest)
			latest = d;
	}
	return latest;
}

/*
 * Runs the live writes of the batch in one transaction, commits it (or rolls
 * it back when every write failed on its own) and returns 0, or the error that
 * failed the whole transaction (then rolled back, and every write that had
 * succeeded, not run yet or not been collected fails with it).
 */
static int attempt(aw_repo *r, aw_writer *w, int n, int live, int *committed, aw_err *txn_err)
{
	const aw_repo_methods *m = r->methods;
	batch_run b = {.r = r, .w = w, .live = live};
	int rc;

	aw_err_clear(&b.txn_err);
	rc = m->begin(r, &b.txn_err);
	if (rc == 0)
		rc = run_writes(&b, n, w->pending);
	*committed = 0;
	if (rc == 0 && b.stored > 0) {
		rc = m->commit(r, &b.txn_err);
		*committed = rc == 0;
	} else if (rc == 0) {
		m->rollback(r); /* every write failed on its own: nothing to keep */
	}
	if (rc != 0) {
		m->rollback(r);
		for (int i = 0; i < n; i++) {
			if (w->rc[i] == 0 || !aw__repo_logical_error(w->rc[i])) {
				if (w->rc[i] == AW_ECANCELED || w->rc[i] == AW_ETIMEDOUT)
					continue;
				drop_result(w->batch[i], &w->results[i]);
				w->rc[i] = rc;
				w->errs[i] = b.txn_err;
			}
		}
	}
	*txn_err = b.txn_err;
	return rc;
}

/* Whether a caller still waits for write i: 0, or why not (and then its
 * outcome is set). */
static int still_wanted(aw_writer *w, int i)
{
	aw_repo_req *req = w->batch[i];

	w->rc[i] = req->abandoned != NULL ? req->abandoned(req) : 0;
	if (w->rc[i] != 0)
		aw_err_set(&w->errs[i], w->rc[i], "%s before the write ran",
			   w->rc[i] == AW_ETIMEDOUT ? "deadline exceeded" : "cancelled");
	return w->rc[i] == 0;
}

/* A small pseudo-random number (xorshift), for jitter; leader only. */
static uint32_t jitter(aw_writer *w)
{
	uint32_t x = w->seed != 0 ? w->seed : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	w->seed = x;
	return x;
}

/*
 * Pauses before running a batch again after its transaction lost a conflict
 * (AW_ECONFLICT): a random time up to CONFLICT_BACKOFF_US << try, so that the
 * transactions that collided do not collide again in step. Returns 0 without
 * pausing when the batch's deadline would pass first.
 */
static int conflict_pause(aw_writer *w, int try, int64_t deadline_us)
{
	int64_t span = (int64_t)CONFLICT_BACKOFF_US << try;
	int64_t pause = span / 2 + (int64_t)(jitter(w) % (uint32_t)(span / 2 + 1));
	struct timespec ts;

	if (deadline_us > 0 && aw__repo_mono_us() + pause >= deadline_us)
		return 0;
	ts.tv_sec = (time_t)(pause / 1000000);
	ts.tv_nsec = (long)(pause % 1000000) * 1000;
	while (nanosleep(&ts, &ts) != 0)
		;
	return 1;
}

/*
 * Runs a batch and reports every outcome. A transaction that fails because it
 * lost a conflict with another (AW_ECONFLICT: PostgreSQL's serialization
 * failure or deadlock, where the database chose it as the victim) did nothing,
 * and running it again usually succeeds: the whole batch runs again, up to
 * CONFLICT_RETRIES times, after a short jittered pause, with every write as it
 * was first asked (results dropped, changes lists trimmed back) and without
 * the writes whose callers gave up meanwhile. Only then does the conflict
 * reach the callers (ABORTED).
 */
static void run_batch(aw_repo *r, aw_writer *w, int n)
{
	aw_err txn_err;
	int64_t deadline;
	int rc, live = 0, committed = 0;

	for (int i = 0; i < n; i++) {
		aw_repo_req *req = w->batch[i];

		w->results[i] = NULL;
		aw_err_clear(&w->errs[i]);
		w->marks[i] = req->changes != NULL ? req->changes->n_events : 0;
		live += still_wanted(w, i);
	}
	if (live == 0)
		goto report;
	/* The backend bounds its waits by it (aw__repo_deadline). */
	deadline = batch_deadline(w, n);
	aw__repo_deadline_set(deadline);
	for (int try = 0;; try++) {
		rc = attempt(r, w, n, live, &committed, &txn_err);
		if (rc != AW_ECONFLICT || try == CONFLICT_RETRIES || !conflict_pause(w, try, deadline))
			break;
		live = 0;
		for (int i = 0; i < n; i++) {
			aw_repo_req *req = w->batch[i];

			if (w->rc[i] == AW_ECANCELED || w->rc[i] == AW_ETIMEDOUT)
				continue;
			drop_result(req, &w->results[i]);
			if (req->changes != NULL)
				aw__download_changes_trim(req->changes, w->marks[i], req->mem);
			aw_err_clear(&w->errs[i]);
			live += still_wanted(w, i);
		}
		if (live == 0)
			break;
	}
	aw__repo_deadline_set(0);
	if (rc != 0 || committed)
		note_outcome(r, w, rc, &txn_err);
report:
	for (int i = 0; i < n; i++) {
		aw_repo_req *req = w->batch[i];
		req->done(req, w->rc[i], &w->errs[i], w->results[i]);
	}
}

/*
 * The reaper. A write queued behind a batch under way waits for that batch,
 * which may wait on the database for as long as the latest deadline of its own
 * writes (or --db-query-timeout). A queued write whose deadline passes
 * meanwhile is taken out of the queue, never to run, and answered
 * AW_EUNAVAIL at its deadline, so that its caller hears back in time.
 */
static void *reaper_main(void *arg)
{
	aw_repo *r = arg;
	aw_writer *w = r->writer;

	pthread_mutex_lock(&w->mu);
	while (!w->stopping) {
		aw_repo_req *expired = NULL, **tail = &expired, **pp, *last = NULL;
		int64_t now = aw__repo_mono_us(), next = 0;

		for (pp = &w->head; *pp != NULL;) {
			aw_repo_req *req = *pp;

			if (req->deadline_us > 0 && req->deadline_us <= now) {
				*pp = req->next;
				req->next = NULL;
				*tail = req;
				tail = &req->next;
				w->queued--;
				continue;
			}
			if (req->deadline_us > 0 && (next == 0 || req->deadline_us < next))
				next = req->deadline_us;
			last = req;
			pp = &req->next;
		}
		w->tail = last;
		atomic_store_explicit(&w->queued_atomic, w->queued, memory_order_relaxed);
		w->reap_at = next;
		if (expired != NULL) {
			pthread_mutex_unlock(&w->mu);
			while (expired != NULL) {
				aw_repo_req *req = expired;
				aw_err err;

				expired = req->next;
				req->next = NULL;
				aw_err_set(&err, AW_EUNAVAIL, "database unavailable: the write waited "
					   "for the writes before it past the call's deadline");
				req->done(req, AW_EUNAVAIL, &err, NULL);
			}
			pthread_mutex_lock(&w->mu);
			continue;
		}
		if (next == 0) {
			pthread_cond_wait(&w->reap, &w->mu);
		} else {
			struct timespec ts = {.tv_sec = (time_t)(next / 1000000),
					      .tv_nsec = (long)(next % 1000000) * 1000};

			pthread_cond_timedwait(&w->reap, &w->mu, &ts);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
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
	free(w->pending);
	free(w->marks);
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
	w->pending = calloc(n, sizeof(*w->pending));
	w->marks = calloc(n, sizeof(*w->marks));
	w->seed = (uint32_t)(uintptr_t)w ^ (uint32_t)aw__repo_mono_us();
	if (w->batch == NULL || w->rc == NULL || w->errs == NULL || w->results == NULL ||
	    w->pending == NULL || w->marks == NULL) {
		writer_free(w);
		return aw_err_set(err, AW_ENOMEM, "out of memory for the writer");
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->idle, NULL);
	{
		pthread_condattr_t ca;

		/* The reaper waits for deadlines, which are CLOCK_MONOTONIC. */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&w->reap, &ca);
		pthread_condattr_destroy(&ca);
	}
	/* A read-only storage is a fault from the start, told once by aw_repo_open. */
	w->fault = r->read_only.code;
	r->writer = w;
	if (pthread_create(&w->reaper, NULL, reaper_main, r) != 0) {
		r->writer = NULL;
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->idle);
		pthread_cond_destroy(&w->reap);
		writer_free(w);
		return aw_err_set(err, AW_ENOMEM, "cannot start the writer's reaper thread");
	}
	w->reaper_started = 1;
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
	pthread_cond_signal(&w->reap);
	/* A leader empties the queue before it steps down. */
	while (w->leading)
		pthread_cond_wait(&w->idle, &w->mu);
	pthread_mutex_unlock(&w->mu);
	if (w->reaper_started)
		pthread_join(w->reaper, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->idle);
	pthread_cond_destroy(&w->reap);
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
			/* And the reaper its deadline, if it comes before the others'. */
			if (req->deadline_us > 0 && (w->reap_at == 0 || req->deadline_us < w->reap_at)) {
				w->reap_at = req->deadline_us;
				pthread_cond_signal(&w->reap);
			}
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
