/*
 * ticker.c: see ticker.h.
 */
#include "ticker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct aw_ticker {
	pthread_t thread;
	pthread_mutex_t mu; /* with cv: the wait between calls, and stop */
	pthread_cond_t cv;
	atomic_int stop;
	int64_t period_ms;
	void (*fn)(void *arg);
	void *arg;
};

static void *ticker_main(void *arg)
{
	aw_ticker *t = arg;

	pthread_mutex_lock(&t->mu);
	while (!atomic_load(&t->stop)) {
		struct timespec until;
		int64_t ns;

		clock_gettime(CLOCK_MONOTONIC, &until);
		ns = until.tv_nsec + (t->period_ms % 1000) * 1000000;
		until.tv_sec += (time_t)(t->period_ms / 1000 + ns / 1000000000);
		until.tv_nsec = (long)(ns % 1000000000);
		while (!atomic_load(&t->stop) &&
		       pthread_cond_timedwait(&t->cv, &t->mu, &until) == 0) {
		}
		if (atomic_load(&t->stop))
			break;
		pthread_mutex_unlock(&t->mu);
		t->fn(t->arg);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int aw_ticker_start(aw_ticker **out, const char *what, int64_t period_ms, void (*fn)(void *arg),
		    void *arg, aw_err *err)
{
	pthread_condattr_t attr;
	aw_ticker *t;

	*out = NULL;
	if (period_ms <= 0)
		return aw_err_set(err, AW_EINVAL, "%s: the period must be > 0", what);
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the %s", what);
	t->period_ms = period_ms;
	t->fn = fn;
	t->arg = arg;
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &attr);
	pthread_condattr_destroy(&attr);
	/* Set before the thread starts, so that `fn` may read it (through arg). */
	*out = t;
	if (pthread_create(&t->thread, NULL, ticker_main, t) != 0) {
		*out = NULL;
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
		free(t);
		return aw_err_set(err, AW_ENOMEM, "cannot start the %s thread", what);
	}
	return 0;
}

int aw_ticker_stopping(aw_ticker *t)
{
	return atomic_load(&t->stop);
}

void aw_ticker_stop(aw_ticker *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	atomic_store(&t->stop, 1);
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
