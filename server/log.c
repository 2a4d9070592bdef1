#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "aniworld/error.h"
#include "escape.h"

/* The longest line written; longer text lines are cut. A JSON line is never
 * cut in the middle: each of its strings has its own budget below, which
 * together fit. */
#define LINE_MAX_BYTES 4096
#define JSON_TEXT_MAX 1200  /* message, status_message */
#define JSON_FIELD_MAX 300  /* method, peer, request_id, code, duration */

static atomic_int threshold = AW_LOG_INFO;
static atomic_int format = AW_LOG_TEXT;

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
static const char *const json_level_names[] = {"debug", "info", "warn", "error"};

int aw_log_level_parse(const char *name, aw_log_level *out)
{
	static const struct {
		const char *name;
		aw_log_level level;
	} names[] = {
		{"debug", AW_LOG_DEBUG}, {"info", AW_LOG_INFO},   {"warn", AW_LOG_WARN},
		{"warning", AW_LOG_WARN}, {"error", AW_LOG_ERROR}, {"off", AW_LOG_OFF},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return AW_EINVAL;
}

int aw_log_format_parse(const char *name, aw_log_format *out)
{
	if (strcasecmp(name, "text") == 0)
		*out = AW_LOG_TEXT;
	else if (strcasecmp(name, "json") == 0)
		*out = AW_LOG_JSON;
	else
		return AW_EINVAL;
	return 0;
}

void aw_log_set_format(aw_log_format f)
{
	atomic_store_explicit(&format, (int)f, memory_order_relaxed);
}

void aw_log_set_level(aw_log_level level)
{
	atomic_store_explicit(&threshold, (int)level, memory_order_relaxed);
}

int aw_log_enabled(aw_log_level level)
{
	return (int)level >= atomic_load_explicit(&threshold, memory_order_relaxed) &&
	       level < AW_LOG_OFF;
}

/* Writes "2026-11-25T10:00:00.123Z" into `out` (at least 32 bytes); returns its length. */
static size_t timestamp(char *out, size_t cap)
{
	struct timespec now;
	struct tm tm;
	size_t n;
	int rc;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	rc = snprintf(out + n, cap - n, ".%03ldZ", now.tv_nsec / 1000000L);
	return n + (rc > 0 ? (size_t)rc : 0);
}

/* A line under construction: appends never overflow, they cut. */
typedef struct line {
	char buf[LINE_MAX_BYTES];
	size_t n;
} line;

static void put(line *l, const char *s, size_t len)
{
	size_t room = sizeof(l->buf) - 1 - l->n; /* one byte kept for the newline */

	if (len > room)
		len = room;
	memcpy(l->buf + l->n, s, len);
	l->n += len;
}

static void puts_(line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* Appends `s` (NULL reads as "") as a JSON string, quotes included, its inside
 * at most `max` bytes (cut at a character boundary). */
static void put_json(line *l, const char *s, size_t max)
{
	size_t room;

	if (s == NULL)
		s = "";
	puts_(l, "\"");
	room = sizeof(l->buf) - 1 - l->n;
	if (max + 1 > room)
		max = room > 1 ? room - 1 : 0;
	if (max > 0)
		l->n += aw_escape_json(l->buf + l->n, max + 1, s, strlen(s));
	puts_(l, "\"");
}

/* Appends `s` with its control characters escaped (text lines). */
static void put_text(line *l, const char *s, size_t len)
{
	size_t room = sizeof(l->buf) - 1 - l->n;

	if (room > 1)
		l->n += aw_escape_controls(l->buf + l->n, room, s, len);
}

static void emit(line *l)
{
	l->buf[l->n++] = '\n';
	/* One write per line keeps concurrent lines whole; a short write on a
	 * full pipe is not worth retrying for a log line. */
	if (write(STDERR_FILENO, l->buf, l->n) < 0)
		return;
}

/* Starts a line: the time and level, and in JSON the opening of the object. */
static void begin(line *l, aw_log_level level, int json)
{
	char ts[40];

	l->n = 0;
	timestamp(ts, sizeof(ts));
	if (json) {
		puts_(l, "{\"time\":\"");
		puts_(l, ts);
		puts_(l, "\",\"level\":\"");
		puts_(l, json_level_names[level]);
		puts_(l, "\",\"message\":");
	} else {
		puts_(l, ts);
		puts_(l, " ");
		puts_(l, level_names[level]);
		puts_(l, " ");
	}
}

void aw_log(aw_log_level level, const char *fmt, ...)
{
	char msg[LINE_MAX_BYTES / 2];
	int json = atomic_load_explicit(&format, memory_order_relaxed) == AW_LOG_JSON;
	line l;
	int rc;
	va_list ap;

	if (!aw_log_enabled(level))
		return;
	va_start(ap, fmt);
	rc = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rc < 0)
		msg[0] = '\0';
	begin(&l, level, json);
	if (json) {
		put_json(&l, msg, JSON_TEXT_MAX);
		puts_(&l, "}");
	} else {
		put_text(&l, msg, strlen(msg));
	}
	emit(&l);
}

void aw_log_call(aw_log_level level, const aw_log_call_fields *f)
{
	int json = atomic_load_explicit(&format, memory_order_relaxed) == AW_LOG_JSON;
	const char *message = f->message != NULL ? f->message : "";
	char head[512], dur[40];
	line l;

	if (!aw_log_enabled(level))
		return;
	begin(&l, level, json);
	if (!json) {
		snprintf(head, sizeof(head), "call %s %s %lld.%03lldms%s", f->method ? f->method : "",
			 f->code ? f->code : "", (long long)(f->duration_us / 1000),
			 (long long)(f->duration_us % 1000), message[0] != '\0' ? " " : "");
		put_text(&l, head, strlen(head));
		put_text(&l, message, strlen(message));
		emit(&l);
		return;
	}
	snprintf(head, sizeof(head), "call %s %s", f->method ? f->method : "", f->code ? f->code : "");
	put_json(&l, head, JSON_FIELD_MAX);
	puts_(&l, ",\"method\":");
	put_json(&l, f->method, JSON_FIELD_MAX);
	puts_(&l, ",\"code\":");
	put_json(&l, f->code, JSON_FIELD_MAX);
	snprintf(dur, sizeof(dur), "%lld.%06llds", (long long)(f->duration_us / 1000000),
		 (long long)(f->duration_us % 1000000));
	puts_(&l, ",\"duration\":");
	put_json(&l, dur, JSON_FIELD_MAX);
	puts_(&l, ",\"peer\":");
	put_json(&l, f->peer, JSON_FIELD_MAX);
	puts_(&l, ",\"request_id\":");
	put_json(&l, f->request_id, JSON_FIELD_MAX);
	puts_(&l, ",\"status_message\":");
	put_json(&l, message, JSON_TEXT_MAX);
	puts_(&l, "}");
	emit(&l);
}
