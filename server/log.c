#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "aniworld/error.h"

static atomic_int threshold = AW_LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

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

void aw_log_set_level(aw_log_level level)
{
	atomic_store_explicit(&threshold, (int)level, memory_order_relaxed);
}

int aw_log_enabled(aw_log_level level)
{
	return (int)level >= atomic_load_explicit(&threshold, memory_order_relaxed) &&
	       level < AW_LOG_OFF;
}

void aw_log(aw_log_level level, const char *fmt, ...)
{
	char line[2048];
	struct timespec now;
	struct tm tm;
	size_t n;
	int rc;
	va_list ap;

	if (!aw_log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	rc = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ", now.tv_nsec / 1000000L,
		      level_names[level]);
	n += rc > 0 ? (size_t)rc : 0;
	va_start(ap, fmt);
	rc = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (rc < 0)
		rc = 0;
	n += (size_t)rc;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line keeps concurrent lines whole; a short write on a
	 * full pipe is not worth retrying for a log line. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
