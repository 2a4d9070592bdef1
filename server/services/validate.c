/*
 * The request checks shared by every service: each records a field violation
 * and lets the handler go on checking.
 */
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <grpc/status.h>

#include "google/protobuf/timestamp.pb-c.h"

int aw__violation(aw_call *call, const char *field, const char *fmt, ...)
{
	char text[AW_ERR_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return aw_call_add_violation(call, field, "%s", text);
}

int aw__invalid(aw_call *call, const char *fmt, ...)
{
	char text[AW_ERR_TEXT_MAX], field[AW_ERR_KEY_MAX];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	n = strcspn(text, " :");
	if (n >= sizeof(field))
		n = sizeof(field) - 1;
	memcpy(field, text, n);
	field[n] = '\0';
	return aw_call_add_violation(call, field, "%s", text);
}

int aw__refused(const aw_call *call)
{
	return aw_call_status(call) != GRPC_STATUS_OK;
}

int aw__check_id(aw_call *call, const char *field, const char *what, int64_t id)
{
	if (id <= 0)
		return aw__violation(call, field, "%s must be a positive %s id, got %lld", field, what,
				     (long long)id);
	return 0;
}

int aw__check_min(aw_call *call, const char *field, int64_t value, int64_t min)
{
	if (value < min)
		return aw__violation(call, field, "%s must be >= %lld, got %lld", field, (long long)min,
				     (long long)value);
	return 0;
}

/* The value as a refusal's message shows it (escaped), when the flags say
 * it may be shown; escaped only when a value is refused. */
static const char *echoed(char *esc, size_t size, const char *s, unsigned flags)
{
	return (flags & AW_TEXT_ECHO) ? aw_escape(esc, size, s) : "";
}

int aw__check_text(aw_call *call, const char *field, const char *s, size_t max_bytes,
		   unsigned flags)
{
	char esc[AW_ESCAPE_BUF];
	size_t n = strlen(s);
	const char *quote = (flags & AW_TEXT_ECHO) ? " \"" : "";
	const char *unquote = (flags & AW_TEXT_ECHO) ? "\"" : "";

	if ((flags & AW_TEXT_REQUIRED) && n == 0)
		return aw__violation(call, field, "%s is required", field);
	if (max_bytes > 0 && n > max_bytes)
		return aw__violation(call, field, "%s is longer than %zu bytes, got %zu", field,
				     max_bytes, n);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((flags & AW_TEXT_ASCII) && (ch < 0x20 || ch > 0x7E))
			return aw__violation(call, field,
					     "%s%s%s%s must be printable ASCII, got byte 0x%02x at offset %zu",
					     field, quote, echoed(esc, sizeof(esc), s, flags), unquote,
					     ch, i);
		if ((flags & AW_TEXT_NO_CTRL) && (ch < 0x20 || ch == 0x7F))
			return aw__violation(call, field,
					     "%s%s%s%s contains a control character (byte 0x%02x at offset %zu)",
					     field, quote, echoed(esc, sizeof(esc), s, flags), unquote,
					     ch, i);
	}
	return 0;
}

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range Timestamp allows. */
#define MIN_TIMESTAMP_SECONDS INT64_C(-62135596800)
#define MAX_TIMESTAMP_SECONDS INT64_C(253402300799)

int aw__check_timestamp(aw_call *call, const char *field, const Google__Protobuf__Timestamp *ts)
{
	if (ts == NULL)
		return 0;
	if (ts->nanos < 0 || ts->nanos > 999999999)
		return aw__violation(call, field, "%s.nanos must be in 0..999999999, got %d", field,
				     ts->nanos);
	if (ts->seconds < MIN_TIMESTAMP_SECONDS || ts->seconds > MAX_TIMESTAMP_SECONDS)
		return aw__violation(call, field, "%s.seconds must be within years 1..9999, got %lld",
				     field, (long long)ts->seconds);
	return 0;
}

int aw__page_size(aw_call *call, int32_t requested, int *page_size)
{
	*page_size = requested == 0 ? 50 : requested > 1000 ? 1000 : requested;
	if (requested < 0)
		return aw__violation(call, "page_size", "page_size must be >= 0, got %d", requested);
	return 0;
}
