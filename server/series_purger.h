/*
 * series_purger.h: purges the series that DeleteSeries kept (soft delete,
 * --soft-delete-retention) once their purge_time has come, on a thread of
 * its own, off the path of the calls.
 */
#ifndef AW_SERIES_PURGER_H
#define AW_SERIES_PURGER_H

#include <stdint.h>

#include "aniworld/error.h"
#include "repo/repo.h"

typedef struct aw_series_purger aw_series_purger;

/*
 * Starts a thread that every `interval_ms` (> 0) deletes for good the deleted
 * series whose purge_time has passed, by the repository's clock, with their
 * episodes and queue items (aw_repo_series_purge_deleted: the watchers hear
 * of each queue item), and logs how many it purged or why it could not.
 * `repo` is borrowed and must outlive aw_series_purger_stop(). Errors:
 * AW_ENOMEM, AW_EINVAL (interval).
 */
int aw_series_purger_start(aw_series_purger **out, aw_repo *repo, int64_t interval_ms,
			   aw_err *err);

/* Stops the thread (waiting for a purge under way) and frees `p`. NULL is a
 * no-op. */
void aw_series_purger_stop(aw_series_purger *p);

#endif /* AW_SERIES_PURGER_H */
