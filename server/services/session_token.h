/*
 * session_token.h: the secrets of UserSessionService, handled in one place.
 *
 * A session's token is hashed here (SHA-256, OpenSSL's libcrypto) as soon as a
 * request brings it, and only the digest goes on to the repository; session
 * ids the server chooses come from the kernel's random source. Nothing here
 * logs, keeps or returns the token. The constant-time comparison of digests
 * belongs to the repository's ValidateSession write (repo/user_session.c), where
 * the stored digest is read.
 */
#ifndef AW_SESSION_TOKEN_H
#define AW_SESSION_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "../repo/repo.h"
#include "aniworld/error.h"

/* Random bytes in a generated session id, and its length in hex digits. */
#define AW_SESSION_ID_RANDOM_BYTES 16
#define AW_SESSION_ID_HEX_CHARS (2 * AW_SESSION_ID_RANDOM_BYTES)

/*
 * Writes the SHA-256 digest of the `len` bytes at `token` to `out`
 * (AW_SESSION_HASH_BYTES). Returns 0, or AW_EINTERNAL when libcrypto fails;
 * the message never contains the token.
 */
int aw__session_token_hash(const char *token, size_t len, uint8_t *out, aw_err *err);

/*
 * Writes a new session id to `out` (AW_SESSION_ID_HEX_CHARS + 1 bytes, NUL
 * included): 128 bits from getrandom(2) as lowercase hex. Returns 0, or
 * AW_EINTERNAL when the kernel cannot supply randomness.
 */
int aw__session_id_generate(char *out, aw_err *err);

#endif /* AW_SESSION_TOKEN_H */
