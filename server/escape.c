/*
 * Escaping caller-supplied text for messages and log lines: one walk over the
 * bytes that tells well-formed UTF-8 sequences from everything else, and three
 * ways of writing what it finds.
 */
#include "escape.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at `s` (of `n` bytes left), or 0
 * when the byte there does not start one (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

enum style { QUOTED, CONTROLS, JSON };

/* Writes the escaped form of one byte or sequence into `tmp` and returns its
 * length; `seq` is the well-formed sequence's length or 0. */
static size_t encode(enum style st, const unsigned char *s, size_t seq, char tmp[8])
{
	unsigned char c = s[0];

	if (seq > 1) {
		memcpy(tmp, s, seq);
		return seq;
	}
	if (seq == 0) /* not UTF-8 */
		return st == JSON ? (size_t)snprintf(tmp, 8, "\\ufffd") : (size_t)snprintf(tmp, 8, "\\x%02X", c);
	if ((c == '"' || c == '\\') && st != CONTROLS) {
		tmp[0] = '\\';
		tmp[1] = (char)c;
		return 2;
	}
	if (c == '\n' || c == '\r' || c == '\t') {
		tmp[0] = '\\';
		tmp[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		return 2;
	}
	if (c < 0x20 || c == 0x7F)
		return st == JSON ? (size_t)snprintf(tmp, 8, "\\u%04x", c) : (size_t)snprintf(tmp, 8, "\\x%02X", c);
	tmp[0] = (char)c;
	return 1;
}

/* Escapes `len` bytes into `out`; when they do not fit, keeps what fits before
 * room for `mark` (which may be "") and appends it. Returns the length written. */
static size_t escape(enum style st, char *out, size_t cap, const char *in, size_t len,
		     const char *mark)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t m = strlen(mark), o = 0, i = 0;
	char tmp[8];

	if (cap == 0)
		return 0;
	/* When all of it fits, no mark is needed: measure first. */
	for (size_t total = 0; i < len;) {
		size_t seq = utf8_seq(s + i, len - i);

		total += encode(st, s + i, seq, tmp);
		i += seq ? seq : 1;
		if (i == len && total + 1 <= cap)
			m = 0;
	}
	i = 0;
	while (i < len) {
		size_t seq = utf8_seq(s + i, len - i);
		size_t n = encode(st, s + i, seq, tmp);

		if (o + n + 1 > cap || (o + n + m + 1 > cap && i + (seq ? seq : 1) < len)) {
			if (o + m + 1 <= cap) {
				memcpy(out + o, mark, m);
				o += m;
			}
			break;
		}
		memcpy(out + o, tmp, n);
		o += n;
		i += seq ? seq : 1;
	}
	out[o] = '\0';
	return o;
}

const char *aw_escape(char *out, size_t cap, const char *in)
{
	if (in == NULL)
		in = "";
	escape(QUOTED, out, cap, in, strlen(in), "...");
	return out;
}

size_t aw_escape_controls(char *out, size_t cap, const char *in, size_t len)
{
	return escape(CONTROLS, out, cap, in, len, "");
}

size_t aw_escape_json(char *out, size_t cap, const char *in, size_t len)
{
	return escape(JSON, out, cap, in, len, "");
}
