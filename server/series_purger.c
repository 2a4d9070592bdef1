/*
 * The purge of soft-deleted series: a thread that wakes every interval and
 * runs the repository's purge write until it finds nothing more due. The
 * write goes through the writer like any other, so it commits with the calls'
 * writes and never blocks a reader; each run deletes at most a batch of
 * series, so no single transaction grows long.
 */
#include "series_purger.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "ticker.h"

struct aw_series_purger {
	aw_repo *repo;         /* borrowed */
	aw_ticker *ticker;
	pthread_mutex_t mu;    /* guards the outcome of the write in flight */
	pthread_cond_t cv;
	int done, rc;          /* the write in flight: reported, and its code */
	aw_err err;
};

/* The repository's report of a purge write (any thread). */
static void purge_done(aw_repo_req *req, int rc, const aw_err *err, ProtobufCMessage *result)
{
	aw_series_purger *p = req->data;

	if (result != NULL)
		protobuf_c_message_free_unpacked(result, NULL);
	pthread_mutex_lock(&p->mu);
	p->rc = rc;
	if (rc != 0 && err != NULL)
		p->err = *err;
	p->done = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Runs one purge write and waits for it; the series purged go to *purged. */
static int purge_once(aw_series_purger *p, int *purged, aw_err *err)
{
	aw_repo_req req = {0};
	int rc;

	req.done = purge_done;
	req.data = p;
	pthread_mutex_lock(&p->mu);
	p->done = 0;
	pthread_mutex_unlock(&p->mu);
	aw_repo_series_purge_deleted(p->repo, &req, NULL, purged);
	pthread_mutex_lock(&p->mu);
	while (!p->done)
		pthread_cond_wait(&p->cv, &p->mu);
	rc = p->rc;
	if (rc != 0)
		*err = p->err;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* One round: purges in batches until a batch comes back short. */
static void purge_tick(void *arg)
{
	aw_series_purger *p = arg;

	for (int total = 0; !aw_ticker_stopping(p->ticker);) {
		int purged = 0, rc;
		aw_err err;

		aw_err_clear(&err);
		rc = purge_once(p, &purged, &err);
		if (rc != 0) {
			aw_log(AW_LOG_WARN, "purging deleted series: %s", err.msg);
			break;
		}
		total += purged;
		/* A full batch: more may be due. */
		if (purged < 100) {
			if (total > 0)
				aw_log(AW_LOG_INFO, "purged %d deleted series", total);
			break;
		}
	}
}

int aw_series_purger_start(aw_series_purger **out, aw_repo *repo, int64_t interval_ms,
			   aw_err *err)
{
	aw_series_purger *p;
	int rc;

	*out = NULL;
	if (interval_ms <= 0)
		return aw_err_set(err, AW_EINVAL, "the purge interval must be > 0");
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the series purger");
	p->repo = repo;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	rc = aw_ticker_start(&p->ticker, "series purger", interval_ms, purge_tick, p, err);
	if (rc != 0) {
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void aw_series_purger_stop(aw_series_purger *p)
{
	if (p == NULL)
		return;
	aw_ticker_stop(p->ticker);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
