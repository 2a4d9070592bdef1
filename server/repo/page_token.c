/*
 * Token layout (38 bytes before encoding, 51 characters after):
 *   0      version (1)
 *   1      list (AW_LIST_*)
 *   2..25  three sort-key values, int64 big-endian
 *   26..33 filter fingerprint, big-endian
 *   34..37 checksum: the low 32 bits of the fingerprint hash of bytes 0..33
 */
#include "page_token.h"

#include <string.h>

#define TOKEN_VERSION 1
#define RAW_LEN 38

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

uint64_t aw_filter_hash(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t n = len;

	/* FNV-1a over an 8-byte length prefix and then the bytes. */
	for (int i = 0; i < 8; i++) {
		h ^= (unsigned char)(n >> (8 * i));
		h *= UINT64_C(0x100000001b3);
	}
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

uint64_t aw_filter_hash_str(uint64_t h, const char *s)
{
	if (s == NULL)
		s = "";
	return aw_filter_hash(h, s, strlen(s));
}

uint64_t aw_filter_hash_i64(uint64_t h, int64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
	return aw_filter_hash(h, b, sizeof(b));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (56 - 8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t checksum(const unsigned char *raw)
{
	return (uint32_t)aw_filter_hash(AW_FILTER_HASH_INIT, raw, RAW_LEN - 4);
}

void aw_page_token_encode(const aw_cursor *cursor, int list, uint64_t filter, char *out)
{
	unsigned char raw[RAW_LEN];
	uint32_t sum;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	raw[0] = TOKEN_VERSION;
	raw[1] = (unsigned char)list;
	for (int i = 0; i < 3; i++)
		put64(raw + 2 + 8 * i, (uint64_t)cursor->k[i]);
	put64(raw + 26, filter);
	sum = checksum(raw);
	for (int i = 0; i < 4; i++)
		raw[34 + i] = (unsigned char)(sum >> (24 - 8 * i));

	for (size_t i = 0; i < RAW_LEN; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64[(acc >> bits) & 0x3F];
		}
	}
	if (bits > 0)
		out[o++] = b64[(acc << (6 - bits)) & 0x3F];
	out[o] = '\0';
}

static int b64_value(char c)
{
	const char *p = c != '\0' ? strchr(b64, c) : NULL;

	return p != NULL ? (int)(p - b64) : -1;
}

/* A page_token refused: INVALID_ARGUMENT with the field's violation. */
static int refuse(aw_err *err, const char *why)
{
	aw_err_set(err, AW_EINVAL, "page_token: %s", why);
	aw_err_add_violation(err, "page_token", "page_token: %s", why);
	return AW_EINVAL;
}

int aw_page_token_decode(const char *token, int list, uint64_t filter, aw_cursor *cursor,
			 aw_err *err)
{
	unsigned char raw[RAW_LEN];
	size_t n = 0;
	uint32_t acc = 0, sum;
	int bits = 0;

	memset(cursor, 0, sizeof(*cursor));
	if (token == NULL || token[0] == '\0')
		return 0;
	for (const char *p = token; *p != '\0'; p++) {
		int v = b64_value(*p);
		if (v < 0 || n >= RAW_LEN + 1)
			return refuse(err, "malformed token");
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == RAW_LEN)
				return refuse(err, "malformed token");
			raw[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* Only the form encode writes: the bits past the last byte must be 0, or
	 * several tokens would stand for one cursor. */
	if (n != RAW_LEN || (acc & ((1u << bits) - 1)) != 0 || raw[0] != TOKEN_VERSION)
		return refuse(err, "malformed token");
	sum = (uint32_t)raw[34] << 24 | (uint32_t)raw[35] << 16 | (uint32_t)raw[36] << 8 | raw[37];
	if (sum != checksum(raw))
		return refuse(err, "malformed token");
	if (raw[1] != (unsigned char)list)
		return refuse(err, "issued by another list method");
	if (get64(raw + 26) != filter)
		return refuse(err, "issued for other filters; repeat the filters of the first page");
	for (int i = 0; i < 3; i++)
		cursor->k[i] = (int64_t)get64(raw + 2 + 8 * i);
	cursor->valid = 1;
	return 0;
}
