/*
 * log.h: the server's log, one line per event on stderr.
 *
 * Only the server's edges log (the transport after each call, start-up and
 * shutdown in server.c, main.c); library-like code returns errors instead.
 * Lines look like
 *     2026-11-25T10:00:00.123Z INFO  call /aniworld.v1.AnimeSeriesService/GetSeries OK 0.08ms
 * and are written with a single write(2), so lines from several threads never
 * interleave. Secrets (tokens, keys) are never passed to these functions.
 *
 * With the JSON format (--log-format json) each line is instead one JSON object,
 *     {"time":"2026-11-25T10:00:00.123Z","level":"info","message":"..."}
 * and a call's line (aw_log_call) adds "method", "code", "duration" (seconds,
 * as google.protobuf.Duration's JSON form: "0.000080s"), "peer" and
 * "request_id". Whatever the format, a line stays one line: control
 * characters and bytes that are not UTF-8 in a message are escaped here, so a
 * caller-supplied string can never start a line of its own (escape.h).
 */

#include <stdint.h>
#ifndef AW_LOG_H
#define AW_LOG_H

typedef enum aw_log_level {
	AW_LOG_DEBUG = 0,
	AW_LOG_INFO = 1,
	AW_LOG_WARN = 2,
	AW_LOG_ERROR = 3,
	AW_LOG_OFF = 4,
} aw_log_level;

typedef enum aw_log_format {
	AW_LOG_TEXT = 0, /* the default */
	AW_LOG_JSON = 1,
} aw_log_format;

/* Parses "text" or "json" into `out`. Returns 0, or AW_EINVAL. */
int aw_log_format_parse(const char *name, aw_log_format *out);

/* Sets the process-wide line format. Set it before the server starts. */
void aw_log_set_format(aw_log_format format);

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

/* What the access log says of one call. Strings are borrowed; NULL reads as "". */
typedef struct aw_log_call_fields {
	const char *method;     /* "/aniworld.v1.AnimeSeriesService/GetSeries" */
	const char *code;       /* the gRPC status name, "NOT_FOUND" */
	int64_t duration_us;    /* from the request's arrival to the status sent */
	const char *peer;       /* "ipv4:127.0.0.1:40312" */
	const char *request_id; /* the request's request_id, "" when none */
	const char *message;    /* the status message, "" when OK */
} aw_log_call_fields;

/* Writes a call's line at `level` if enabled: in text
 *     call METHOD CODE 1.234ms[ MESSAGE]
 * and in JSON an object with every field above. */
void aw_log_call(aw_log_level level, const aw_log_call_fields *f);

#endif /* AW_LOG_H */
