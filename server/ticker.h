/*
 * ticker.h: a thread that runs a function once per period until stopped.
 *
 * The background chores (deleting expired request ids, purging soft-deleted
 * series, the transport's scaler) each want the same thing: a thread that
 * wakes every so often, does a little work off the path of the calls, and
 * stops at once when its owner closes, even in the middle of a long wait.
 */
#ifndef AW_TICKER_H
#define AW_TICKER_H

#include <stdint.h>

#include "aniworld/error.h"

typedef struct aw_ticker aw_ticker;

/*
 * Starts a thread that calls fn(arg) every `period_ms` (> 0), the first call
 * one period after the start, until aw_ticker_stop(). A call that takes longer
 * than a period delays the next; calls never overlap. `what` names the thread
 * in errors. *out is set before the thread starts, so `fn` may find the ticker
 * through `arg`. Errors: AW_EINVAL (period), AW_ENOMEM.
 */
int aw_ticker_start(aw_ticker **out, const char *what, int64_t period_ms, void (*fn)(void *arg),
		    void *arg, aw_err *err);

/* Whether aw_ticker_stop() was called: a long chore can look and end early. */
int aw_ticker_stopping(aw_ticker *t);

/* Stops the thread, waiting for a call under way to return, and frees `t`.
 * NULL is a no-op. */
void aw_ticker_stop(aw_ticker *t);

#endif /* AW_TICKER_H */
