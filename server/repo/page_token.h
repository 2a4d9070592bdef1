/*
 * page_token.h: opaque keyset cursors for list methods.
 *
 * A page token carries the sort key of the last row of the previous page, the
 * list it belongs to and a fingerprint of that list's filters, in a versioned
 * binary layout with a checksum, base64url-encoded. Lists continue with
 * "WHERE key > cursor", never OFFSET, so rows inserted between pages are
 * neither skipped nor repeated and a deep page costs what the first one does.
 * Tokens are not secret and need not be: a forged one only moves the cursor.
 */
#ifndef AW_PAGE_TOKEN_H
#define AW_PAGE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "aniworld/error.h"
#include "repo.h"

/* Longest encoded token, NUL included. */
#define AW_PAGE_TOKEN_MAX 64

/* Which list a token belongs to. Values are part of the token format. */
enum {
	AW_LIST_SERIES = 1,
	AW_LIST_EPISODES = 2,
	AW_LIST_DOWNLOADS = 3,
	AW_LIST_SESSIONS = 4,
};

/* Starts a filter fingerprint. */
#define AW_FILTER_HASH_INIT UINT64_C(0xcbf29ce484222325)

/* Folds `len` bytes into fingerprint `h` (length-prefixed, so "a","bc" and
 * "ab","c" differ). */
uint64_t aw_filter_hash(uint64_t h, const void *data, size_t len);

/* Folds a NUL-terminated string (NULL counts as ""). */
uint64_t aw_filter_hash_str(uint64_t h, const char *s);

/* Folds a 64-bit integer. */
uint64_t aw_filter_hash_i64(uint64_t h, int64_t v);

/* Writes the token for `cursor` of list `list` under filters `filter` into `out`
 * (AW_PAGE_TOKEN_MAX bytes). */
void aw_page_token_encode(const aw_cursor *cursor, int list, uint64_t filter, char *out);

/*
 * Reads `token` into `cursor`. An empty token gives an invalid cursor (start
 * from the beginning). Returns AW_EINVAL, naming "page_token", when the token is
 * malformed or was issued for another list or other filters.
 */
int aw_page_token_decode(const char *token, int list, uint64_t filter, aw_cursor *cursor,
			 aw_err *err);

#endif /* AW_PAGE_TOKEN_H */
