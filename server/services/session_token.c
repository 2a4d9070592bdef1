/*
 * Tokens and session ids of UserSessionService: SHA-256 through libcrypto,
 * randomness through getrandom(2). See session_token.h.
 */
#include "session_token.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

int aw__session_token_hash(const char *token, size_t len, uint8_t *out, aw_err *err)
{
	unsigned int n = 0;

	if (EVP_Digest(token, len, out, &n, EVP_sha256(), NULL) != 1 || n != AW_SESSION_HASH_BYTES)
		return aw_err_set(err, AW_EINTERNAL, "cannot hash the session token (libcrypto)");
	return 0;
}

/* Fills `buf` with `len` random bytes, retrying interrupted and short reads. */
static int random_bytes(uint8_t *buf, size_t len, aw_err *err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return aw_err_set(err, AW_EINTERNAL, "getrandom: %s", strerror(errno));
		got += (size_t)n;
	}
	return 0;
}

int aw__session_id_generate(char *out, aw_err *err)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[AW_SESSION_ID_RANDOM_BYTES];
	int rc = random_bytes(raw, sizeof(raw), err);

	if (rc != 0)
		return rc;
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 0x0F];
	}
	out[AW_SESSION_ID_HEX_CHARS] = '\0';
	return 0;
}
