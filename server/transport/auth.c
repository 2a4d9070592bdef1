#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <grpc/slice.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define DIGEST_LEN 32 /* SHA-256 */

typedef struct digest {
	unsigned char d[DIGEST_LEN];
} digest;

struct aw_auth {
	char *path;
	pthread_rwlock_t lock; /* guards tokens and n */
	digest *tokens;
	size_t n;
};

static int sha256(const void *data, size_t len, digest *out)
{
	unsigned int n = 0;

	return EVP_Digest(data, len, out->d, &n, EVP_sha256(), NULL) == 1 && n == DIGEST_LEN ? 0 : -1;
}

/* Reads the token file into a fresh array of digests. */
static int load(const char *path, digest **out, size_t *count, aw_err *err)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, n = 0, alloc = 0;
	ssize_t len;
	digest *tokens = NULL;
	int rc = 0;

	if (f == NULL)
		return aw_err_set(err, AW_EIO, "cannot read auth tokens file %s: %s", path,
				  strerror(errno));
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *s = line, *e = line + len;

		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if (s == e || *s == '#')
			continue;
		if (n == alloc) {
			size_t a = alloc ? alloc * 2 : 8;
			digest *t = realloc(tokens, a * sizeof(*t));
			if (t == NULL) {
				rc = aw_err_set(err, AW_ENOMEM, "out of memory reading %s", path);
				break;
			}
			tokens = t;
			alloc = a;
		}
		if (sha256(s, (size_t)(e - s), &tokens[n]) != 0) {
			rc = aw_err_set(err, AW_EINTERNAL, "cannot hash a token of %s", path);
			break;
		}
		n++;
	}
	if (line != NULL) {
		/* The buffer held token text: wipe it before giving it back. */
		OPENSSL_cleanse(line, cap);
		free(line);
	}
	fclose(f);
	if (rc == 0 && n == 0)
		rc = aw_err_set(err, AW_EINVAL, "auth tokens file %s holds no token", path);
	if (rc != 0) {
		free(tokens);
		return rc;
	}
	*out = tokens;
	*count = n;
	return 0;
}

int aw_auth_new(aw_auth **out, const char *path, aw_err *err)
{
	aw_auth *a = calloc(1, sizeof(*a));
	int rc;

	*out = NULL;
	if (a == NULL || (a->path = strdup(path)) == NULL) {
		free(a);
		return aw_err_set(err, AW_ENOMEM, "out of memory for auth");
	}
	rc = load(path, &a->tokens, &a->n, err);
	if (rc != 0) {
		free(a->path);
		free(a);
		return rc;
	}
	pthread_rwlock_init(&a->lock, NULL);
	*out = a;
	return 0;
}

int aw_auth_reload(aw_auth *a, size_t *count, aw_err *err)
{
	digest *tokens, *old;
	size_t n;
	int rc = load(a->path, &tokens, &n, err);

	if (rc != 0)
		return rc;
	pthread_rwlock_wrlock(&a->lock);
	old = a->tokens;
	a->tokens = tokens;
	a->n = n;
	pthread_rwlock_unlock(&a->lock);
	free(old);
	if (count != NULL)
		*count = n;
	return 0;
}

size_t aw_auth_count(aw_auth *a)
{
	size_t n;

	pthread_rwlock_rdlock(&a->lock);
	n = a->n;
	pthread_rwlock_unlock(&a->lock);
	return n;
}

int aw_auth_check(aw_auth *a, const grpc_metadata_array *md, aw_err *err)
{
	const grpc_slice *value = NULL;
	digest presented;
	int match = 0;

	for (size_t i = 0; i < md->count; i++) {
		if (grpc_slice_str_cmp(md->metadata[i].key, "authorization") == 0) {
			value = &md->metadata[i].value;
			break;
		}
	}
	if (value == NULL)
		return aw_err_set(err, AW_EUNAUTH, "missing authorization: Bearer <token> metadata");
	const char *v = (const char *)GRPC_SLICE_START_PTR(*value);
	size_t len = GRPC_SLICE_LENGTH(*value);
	if (len < 7 || strncasecmp(v, "Bearer ", 7) != 0)
		return aw_err_set(err, AW_EUNAUTH, "authorization metadata is not a Bearer token");
	if (sha256(v + 7, len - 7, &presented) != 0)
		return aw_err_set(err, AW_EINTERNAL, "cannot hash the presented token");

	pthread_rwlock_rdlock(&a->lock);
	/* Compare with every token, without stopping early. */
	for (size_t i = 0; i < a->n; i++)
		match |= CRYPTO_memcmp(presented.d, a->tokens[i].d, DIGEST_LEN) == 0;
	pthread_rwlock_unlock(&a->lock);
	return match ? 0 : aw_err_set(err, AW_EUNAUTH, "invalid bearer token");
}

void aw_auth_free(aw_auth *a)
{
	if (a == NULL)
		return;
	pthread_rwlock_destroy(&a->lock);
	free(a->tokens);
	free(a->path);
	free(a);
}
