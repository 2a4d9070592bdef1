/*
 * fuzz_page_token: the page-token codec (server/repo/page_token.c).
 *
 * Input: a mode byte, the filter fingerprint (8 bytes, big-endian), then
 *   - mode even: a token (the rest, up to its first NUL) to decode for list
 *     (mode >> 1). Whatever decodes must be what encoding the cursor gives
 *     back, character for character: a list accepts its own tokens only.
 *   - mode odd: a cursor (three int64 keys, big-endian; missing bytes are 0)
 *     to encode for list (mode >> 1). The token must fit, be URL-safe, decode
 *     to the cursor, and be refused under another list or other filters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "repo/page_token.h"

#define HEAD 9 /* mode and fingerprint */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t get64(const uint8_t *p, size_t avail)
{
	uint64_t v = 0;

	for (size_t i = 0; i < 8; i++)
		v = (v << 8) | (i < avail ? p[i] : 0);
	return v;
}

static void check_encoded(const aw_cursor *c, int list, uint64_t filter)
{
	char token[AW_PAGE_TOKEN_MAX];
	aw_cursor back;
	aw_err err;
	size_t n;

	memset(token, 0x7f, sizeof(token));
	aw_page_token_encode(c, list, filter, token);
	n = strnlen(token, sizeof(token));
	if (n == 0 || n >= sizeof(token))
		fuzz_fail("encoded token has length %zu", n);
	if (strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != n)
		fuzz_fail("encoded token \"%s\" is not base64url", token);
	if (aw_page_token_decode(token, list, filter, &back, &err) != 0)
		fuzz_fail("own token \"%s\" refused: %s", token, err.msg);
	if (!back.valid || memcmp(back.k, c->k, sizeof(back.k)) != 0)
		fuzz_fail("token \"%s\" decodes to another cursor", token);
	if (aw_page_token_decode(token, list + 1, filter, &back, &err) != AW_EINVAL ||
	    aw_page_token_decode(token, list, filter ^ 1, &back, &err) != AW_EINVAL)
		fuzz_fail("token \"%s\" accepted by another list or other filters", token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t filter;
	int list;
	aw_cursor c;
	aw_err err;

	if (size < HEAD)
		return -1;
	list = data[0] >> 1;
	filter = get64(data + 1, 8);
	if (data[0] & 1) {
		memset(&c, 0, sizeof(c));
		c.valid = 1;
		for (int i = 0; i < 3; i++) {
			size_t off = HEAD + 8 * (size_t)i;
			c.k[i] = (int64_t)get64(data + (off < size ? off : size), off < size ? size - off : 0);
		}
		check_encoded(&c, list, filter);
		return 0;
	}

	char *token = malloc(size - HEAD + 1);
	if (token == NULL)
		return 0;
	memcpy(token, data + HEAD, size - HEAD);
	token[size - HEAD] = '\0';
	memset(&c, 0x5a, sizeof(c));
	if (aw_page_token_decode(token, list, filter, &c, &err) == 0) {
		char again[AW_PAGE_TOKEN_MAX];

		if (token[0] == '\0') {
			if (c.valid)
				fuzz_fail("an empty token gives a valid cursor");
		} else {
			if (!c.valid)
				fuzz_fail("token \"%s\" accepted without a cursor", token);
			aw_page_token_encode(&c, list, filter, again);
			if (strcmp(again, token) != 0)
				fuzz_fail("token \"%s\" accepted, but its cursor encodes as \"%s\"", token,
					  again);
		}
	} else if (c.valid) {
		fuzz_fail("token \"%s\" refused (%s) but the cursor is valid", token, err.msg);
	} else if (strncmp(err.msg, "page_token", 10) != 0) {
		fuzz_fail("refusal does not name page_token: %s", err.msg);
	}
	free(token);
	return 0;
}
