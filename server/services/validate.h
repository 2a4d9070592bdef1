/*
 * validate.h: the checks every service makes of its requests, in one place.
 *
 * A check records a field violation on the call (aw_call_add_violation) and
 * goes on, so that one reply names every invalid field of the request, not
 * only the first: a handler runs all of its checks, then refuses the call if
 * any failed (aw__refused). Every check names the field by its path in the
 * request ("series.key", "episodes[3].season") and says what is wrong; a
 * caller-supplied value is quoted only escaped (escape.h), never raw.
 *
 * Each check returns 0 when the value passes and -1 when it recorded a
 * violation.
 */
#ifndef AW_VALIDATE_H
#define AW_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "../escape.h"
#include "../transport/call.h"

struct Google__Protobuf__Timestamp;

/* Records a violation of `field` with a printf-style description that begins
 * with the field's path. */
int aw__violation(aw_call *call, const char *field, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* As aw__violation, taking the field's path from the description: its text up
 * to the first space or colon ("series.key is required"). */
int aw__invalid(aw_call *call, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* Whether the call is refused already: a violation was recorded, or another
 * error status set. */
int aw__refused(const aw_call *call);

/* An id: must be positive. `what` names the record ("series", "episode"). */
int aw__check_id(aw_call *call, const char *field, const char *what, int64_t id);

/* At least `min`. */
int aw__check_min(aw_call *call, const char *field, int64_t value, int64_t min);

/* What aw__check_text demands beyond the length. */
#define AW_TEXT_REQUIRED 1u  /* not empty */
#define AW_TEXT_NO_CTRL 2u   /* no control characters (below 0x20, 0x7F) */
#define AW_TEXT_ASCII 4u     /* printable ASCII only (0x20..0x7E) */
#define AW_TEXT_ECHO 8u      /* quote the (escaped) value in the description */

/* Text of at most `max_bytes` bytes (0: any length) meeting `flags`. */
int aw__check_text(aw_call *call, const char *field, const char *s, size_t max_bytes,
		   unsigned flags);

/* A Timestamp (NULL allowed) valid as google.protobuf.Timestamp defines it:
 * nanos in 0..999999999, within years 1..9999. */
int aw__check_timestamp(aw_call *call, const char *field,
			const struct Google__Protobuf__Timestamp *ts);

/* The page size a list method uses for `requested`: 0 means 50, more than
 * 1000 means 1000; negative is a violation of page_size. */
int aw__page_size(aw_call *call, int32_t requested, int *page_size);

#endif /* AW_VALIDATE_H */
