/*
 * Which calls take a request_id, and the fingerprint that tells a retry from
 * another request. The repository does the rest (repo/request_id.c).
 *
 * Wiring a new method in: give its request message a `string request_id`
 * field (number 31 by this API's convention) and add its path to the table
 * below. Nothing else: its stub's aw__reply_req() picks the request_id up.
 */
#include "request_id.h"

#include <string.h>

#include <grpc/status.h>
#include <openssl/evp.h>

#include "reply.h"

const char *const aw__request_id_methods[] = {
	"/aniworld.v1.AnimeSeriesService/CreateSeries",
	"/aniworld.v1.EpisodeService/CreateEpisode",
	"/aniworld.v1.EpisodeService/BatchCreateEpisodes",
	"/aniworld.v1.DownloadQueueService/EnqueueDownload",
	"/aniworld.v1.DownloadQueueService/ClaimNextDownload",
	"/aniworld.v1.DownloadQueueService/CompleteDownload",
	"/aniworld.v1.DownloadQueueService/FailDownload",
	"/aniworld.v1.DownloadQueueService/RetryDownload",
	"/aniworld.v1.DownloadQueueService/CancelDownload",
	"/aniworld.v1.DownloadQueueService/RetryFailedDownloads",
	"/aniworld.v1.DownloadQueueService/CancelSeriesDownloads",
	"/aniworld.v1.DownloadQueueService/ClearFinishedDownloads",
	"/aniworld.v1.DownloadQueueService/MoveDownload",
	"/aniworld.v1.UserSessionService/CreateSession",
	NULL,
};

static int takes_request_id(const char *method)
{
	for (size_t i = 0; aw__request_id_methods[i] != NULL; i++) {
		if (strcmp(aw__request_id_methods[i], method) == 0)
			return 1;
	}
	return 0;
}

static int valid_id(const char *id)
{
	size_t n = 0;

	for (; id[n] != '\0'; n++) {
		if ((unsigned char)id[n] < 0x20 || (unsigned char)id[n] > 0x7E)
			return 0;
	}
	return n <= AW_REQUEST_ID_MAX;
}

/*
 * SHA-256 of the request packed with its request_id left out: what a retry
 * must repeat. Packed from a shallow copy, so the request stays as it came.
 */
static int fingerprint(aw_call *call, const ProtobufCMessage *in,
		       const ProtobufCFieldDescriptor *field, uint8_t *out)
{
	const ProtobufCMessageDescriptor *desc = in->descriptor;
	ProtobufCMessage *copy = aw_call_alloc(call, desc->sizeof_message);
	unsigned int n = 0;
	uint8_t *packed;
	size_t len;

	if (copy == NULL)
		return -1;
	memcpy(copy, in, desc->sizeof_message);
	*(const char **)((char *)copy + field->offset) = "";
	len = protobuf_c_message_get_packed_size(copy);
	packed = aw_call_alloc(call, len > 0 ? len : 1);
	if (packed == NULL)
		return -1;
	protobuf_c_message_pack(copy, packed);
	if (EVP_Digest(packed, len, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != AW_REQUEST_FINGERPRINT_BYTES)
		return -1;
	return 0;
}

int aw__request_id_of(aw_call *call, const aw_request_id **out)
{
	const ProtobufCMessage *in = aw_call_request(call);
	const ProtobufCFieldDescriptor *field;
	aw_request_id *rid;
	const char *id;

	*out = NULL;
	if (in == NULL || !takes_request_id(aw_call_method(call)))
		return 0;
	field = protobuf_c_message_descriptor_get_field_by_name(in->descriptor, "request_id");
	if (field == NULL || field->type != PROTOBUF_C_TYPE_STRING)
		return 0;
	id = *(const char *const *)((const char *)in + field->offset);
	if (id == NULL || id[0] == '\0')
		return 0;
	if (!valid_id(id))
		return aw__invalid(call, "request_id must be at most %d printable ASCII characters "
					 "(a UUID, for instance), got %zu bytes",
				   AW_REQUEST_ID_MAX, strlen(id));
	rid = aw_call_alloc(call, sizeof(*rid));
	if (rid == NULL || fingerprint(call, in, field, rid->fingerprint) != 0) {
		aw_call_set_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return -1;
	}
	rid->method = aw_call_method(call);
	rid->id = id;
	rid->reply = aw_call_reply_descriptor(call);
	*out = rid;
	return 0;
}
