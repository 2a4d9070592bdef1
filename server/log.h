/*
 * log.h: the server's log, one line per event on stderr.
 *
 * Only the server's edges log (the transport after each call, start-up and
 * shutdown in server.c, main.c); library-like code returns errors instead.
 * Lines look like
 *     2026-11-25T10:00:00.123Z INFO  call /aniworld.v1.AnimeSeriesService/GetSeries OK 0.08ms
 * and are written with a single write(2), so lines from several threads never
 * interleave. Secrets (tokens, keys) are never passed to these functions.
 */
#ifndef AW_LOG_H
#define AW_LOG_H

typedef enum aw_log_level {
	AW_LOG_DEBUG = 0,
	AW_LOG_INFO = 1,
	AW_LOG_WARN = 2,
	AW_LOG_ERROR = 3,
	AW_LOG_OFF = 4,
} aw_log_level;

/* Parses "debug", "info", "warn"/"warning", "error" or "off" into `out`.
 * Returns 0, or AW_EINVAL for anything else. */
int aw_log_level_parse(const char *name, aw_log_level *out);

/* Sets the process-wide threshold; lines below it are dropped. Thread-safe. */
void aw_log_set_level(aw_log_level level);

/* Whether a line at `level` would be written (to skip formatting work). */
int aw_log_enabled(aw_log_level level);

/* Writes one line at `level` if enabled. A trailing newline is added; the line
 * is truncated at 2 KiB. */
void aw_log(aw_log_level level, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 2, 3)))
#endif
	;

#endif /* AW_LOG_H */
