/*
 * aniworld.admin.v1.AdminService: a snapshot streamed into a file descriptor,
 * checked against the summary that ends the stream.
 */
#include "client_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Writes all of `data` to `fd`. */
static int write_all(int fd, const uint8_t *data, size_t len, aw_err *err)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return aw_err_set(err, AW_EIO, "cannot write the snapshot: %s", strerror(errno));
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Whether `got` (what arrived) matches the summary; AW_EDATALOSS if not. */
static int check_summary(const Aniworld__Admin__V1__SnapshotSummary *sum, int64_t size,
			 const char *hex, aw_err *err)
{
	if (sum->size_bytes != size)
		return aw_err_set(err, AW_EDATALOSS,
				  "the snapshot is incomplete: %lld bytes arrived, the server sent "
				  "%lld", (long long)size, (long long)sum->size_bytes);
	if (sum->sha256 == NULL || strcmp(sum->sha256, hex) != 0)
		return aw_err_set(err, AW_EDATALOSS,
				  "the snapshot is damaged: SHA-256 %s arrived, the server sent %s",
				  hex, sum->sha256 != NULL ? sum->sha256 : "none");
	return 0;
}

int aw_admin_snapshot(aw_client *c, int fd, int64_t timeout_ms,
		      Aniworld__Admin__V1__SnapshotSummary **summary, aw_err *err,
		      const aw_call_opts *opts)
{
	Aniworld__Admin__V1__SnapshotRequest req = ANIWORLD__ADMIN__V1__SNAPSHOT_REQUEST__INIT;
	Aniworld__Admin__V1__SnapshotSummary *sum = NULL;
	unsigned char digest[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
	unsigned int digest_len = 0;
	EVP_MD_CTX *md = NULL;
	aw_watch *w = NULL;
	int64_t size = 0;
	int rc;

	if (summary != NULL)
		*summary = NULL;
	if (fd < 0)
		return aw_err_set(err, AW_EINVAL, "fd must be a descriptor open for writing");
	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return aw_err_set(err, AW_ENOMEM, "out of memory for hashing the snapshot");
	}
	rc = aw__client_watch(c, &aniworld__admin__v1__admin_service__descriptor, "Snapshot",
			      &req.base, &w, err, opts);
	while (rc == 0) {
		ProtobufCMessage *msg = NULL;
		Aniworld__Admin__V1__SnapshotResponse *part;

		rc = aw__watch_read(w, &msg, timeout_ms, err);
		if (rc != 0)
			break;
		if (msg == NULL) {
			/* The server ended the stream with OK: the summary must be in. */
			if (sum == NULL)
				rc = aw_err_set(err, AW_EDATALOSS,
						"the snapshot stream ended without its summary");
			break;
		}
		part = (Aniworld__Admin__V1__SnapshotResponse *)msg;
		if (sum != NULL) {
			rc = aw_err_set(err, AW_EDATALOSS, "the snapshot stream went on after its summary");
		} else if (part->part_case == ANIWORLD__ADMIN__V1__SNAPSHOT_RESPONSE__PART_CHUNK) {
			rc = write_all(fd, part->chunk.data, part->chunk.len, err);
			if (rc == 0 && EVP_DigestUpdate(md, part->chunk.data, part->chunk.len) != 1)
				rc = aw_err_set(err, AW_EINTERNAL, "cannot hash the snapshot");
			size += (int64_t)part->chunk.len;
		} else if (part->part_case == ANIWORLD__ADMIN__V1__SNAPSHOT_RESPONSE__PART_SUMMARY) {
			if (EVP_DigestFinal_ex(md, digest, &digest_len) != 1) {
				rc = aw_err_set(err, AW_EINTERNAL, "cannot hash the snapshot");
			} else {
				for (unsigned int i = 0; i < digest_len; i++)
					snprintf(hex + 2 * i, 3, "%02x", digest[i]);
				rc = check_summary(part->summary, size, hex, err);
			}
			/* Kept: taken out of the response before it is freed. */
			sum = part->summary;
			part->summary = NULL;
			part->part_case = ANIWORLD__ADMIN__V1__SNAPSHOT_RESPONSE__PART__NOT_SET;
		} else {
			rc = aw_err_set(err, AW_EDATALOSS, "a snapshot message carries nothing");
		}
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	/* Freeing cancels a stream still open: after a failed write or check,
	 * the server stops streaming. */
	aw_watch_free(w);
	EVP_MD_CTX_free(md);
	if (rc != 0) {
		if (sum != NULL)
			aniworld__admin__v1__snapshot_summary__free_unpacked(sum, NULL);
		return rc;
	}
	aw_err_clear(err);
	if (summary != NULL)
		*summary = sum;
	else
		aniworld__admin__v1__snapshot_summary__free_unpacked(sum, NULL);
	return 0;
}
