/*
 * auth.h: bearer tokens for callers.
 *
 * With --auth-tokens-file, every call must carry the metadata
 * "authorization: Bearer <token>" with one of the file's tokens, else it gets
 * UNAUTHENTICATED; health stays open for probes, and reflection too unless
 * --auth-reflection. The file holds one token per line; blank lines and lines
 * starting with '#' are skipped, surrounding white space is ignored.
 *
 * Only SHA-256 digests of the tokens are kept in memory, and a presented token
 * is hashed and compared with every digest in constant time, so neither the
 * time taken nor the logs say anything about a token. Tokens are never logged.
 *
 * Thread-safe: checks run on every transport thread while a reload (SIGHUP)
 * swaps the set under a write lock.
 */
#ifndef AW_AUTH_H
#define AW_AUTH_H

#include <stddef.h>

#include <grpc/grpc.h>

#include "aniworld/error.h"

typedef struct aw_auth aw_auth;

/* Loads `path` (copied). Returns AW_EIO when it cannot be read, AW_EINVAL when
 * it holds no token, AW_ENOMEM. Free with aw_auth_free(). */
int aw_auth_new(aw_auth **out, const char *path, aw_err *err);

/* Reads the file again. On failure the tokens in force stay, and the error says
 * why. On success *count (may be NULL) is the number of tokens now in force. */
int aw_auth_reload(aw_auth *a, size_t *count, aw_err *err);

/* Number of tokens in force. */
size_t aw_auth_count(aw_auth *a);

/* Whether `md` carries a valid bearer token: 0, or AW_EUNAUTH with a message
 * that never contains the token. */
int aw_auth_check(aw_auth *a, const grpc_metadata_array *md, aw_err *err);

/* Frees; NULL is a no-op. */
void aw_auth_free(aw_auth *a);

#endif /* AW_AUTH_H */
