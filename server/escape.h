/*
 * escape.h: caller-supplied text made safe to put in a status message or a log
 * line.
 *
 * A key, a session id or an error text comes from the caller and may hold a
 * newline, a quote or bytes that are not UTF-8. Written as is into a status
 * message or the log, it could end a line and forge one that looks like the
 * server's own. Every such string goes through aw_escape() before it is
 * formatted into a message; the log escapes what reaches it once more
 * (aw_escape_controls), so that no line can be split whatever a caller sends.
 */
#ifndef AW_ESCAPE_H
#define AW_ESCAPE_H

#include <stddef.h>

/* A buffer size that holds a typical escaped value, truncated with "...". */
#define AW_ESCAPE_BUF 112

/*
 * Writes `in` (NULL reads as "") into `out` (`cap` bytes, at least 8, NUL
 * included) for quoting inside a message: `"` and `\` get a backslash; newline,
 * carriage return and tab become \n, \r, \t; other control bytes (below 0x20,
 * 0x7F) and bytes that are not part of well-formed UTF-8 become \xHH. What does
 * not fit is cut at a character boundary and marked with "...". Returns `out`,
 * so that it can stand as a printf argument.
 */
const char *aw_escape(char *out, size_t cap, const char *in);

/*
 * As aw_escape for `len` bytes at `in`, but leaves quotes and backslashes as
 * they are: for a whole message whose caller-supplied parts were escaped
 * already, to keep it on one line whatever it holds. Returns the length written.
 */
size_t aw_escape_controls(char *out, size_t cap, const char *in, size_t len);

/*
 * Writes `len` bytes at `in` as the inside of a JSON string (RFC 8259): `"` and
 * `\` escaped, control bytes as \n, \r, \t or \u00XX, bytes that are not
 * well-formed UTF-8 as \ufffd; cut at a character boundary when `cap` is
 * reached. NUL-terminated. Returns the length written.
 */
size_t aw_escape_json(char *out, size_t cap, const char *in, size_t len);

#endif /* AW_ESCAPE_H */
