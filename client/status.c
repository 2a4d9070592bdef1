/*
 * An error status as the server sent it: the gRPC code and message, and the
 * google.rpc.Status of the grpc-status-details-bin trailer with its details,
 * turned into an aw_err.
 */
#include "client_int.h"

#include <stdio.h>
#include <string.h>

#include <grpc/support/alloc.h>

#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

#define DETAILS_KEY "grpc-status-details-bin"
#define TYPE_URL_PREFIX "type.googleapis.com/"

/* The message an Any holds when its type is `desc`, unpacked (the caller
 * frees it), or NULL when it holds another type or does not unpack. */
static ProtobufCMessage *unpack_any(const Google__Protobuf__Any *any,
				    const ProtobufCMessageDescriptor *desc)
{
	const char *url = any->type_url != NULL ? any->type_url : "";
	const char *slash = strrchr(url, '/');
	const char *name = slash != NULL ? slash + 1 : url;

	if (strcmp(name, desc->name) != 0)
		return NULL;
	return protobuf_c_message_unpack(desc, NULL, any->value.len, any->value.data);
}

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "");
}

/* Reads the details of `st` into `err`. */
static void read_details(const Google__Rpc__Status *st, aw_err *err)
{
	for (size_t i = 0; i < st->n_details; i++) {
		const Google__Protobuf__Any *any = st->details[i];
		ProtobufCMessage *m;

		if ((m = unpack_any(any, &google__rpc__error_info__descriptor)) != NULL) {
			const Google__Rpc__ErrorInfo *info = (const Google__Rpc__ErrorInfo *)m;

			copy(err->reason, sizeof(err->reason), info->reason);
			for (size_t k = 0; k < info->n_metadata && err->n_metadata < AW_ERR_METADATA_MAX; k++) {
				aw_err_pair *p = &err->metadata[err->n_metadata++];

				copy(p->key, sizeof(p->key), info->metadata[k]->key);
				copy(p->text, sizeof(p->text), info->metadata[k]->value);
			}
		} else if ((m = unpack_any(any, &google__rpc__bad_request__descriptor)) != NULL) {
			const Google__Rpc__BadRequest *bad = (const Google__Rpc__BadRequest *)m;

			for (size_t k = 0; k < bad->n_field_violations; k++)
				aw_err_add_violation(err, bad->field_violations[k]->field, "%s",
						     bad->field_violations[k]->description);
		} else if ((m = unpack_any(any, &google__rpc__resource_info__descriptor)) != NULL) {
			const Google__Rpc__ResourceInfo *res = (const Google__Rpc__ResourceInfo *)m;

			copy(err->resource_type, sizeof(err->resource_type), res->resource_type);
			copy(err->resource_name, sizeof(err->resource_name), res->resource_name);
		} else if ((m = unpack_any(any, &google__rpc__retry_info__descriptor)) != NULL) {
			const Google__Rpc__RetryInfo *retry = (const Google__Rpc__RetryInfo *)m;

			if (retry->retry_delay != NULL && retry->retry_delay->seconds >= 0 &&
			    retry->retry_delay->nanos >= 0)
				err->retry_delay_ms = retry->retry_delay->seconds * 1000 +
						      retry->retry_delay->nanos / 1000000;
		}
		if (m != NULL)
			protobuf_c_message_free_unpacked(m, NULL);
	}
}

int aw__client_status_error(int status, const char *message, const grpc_metadata_array *trailing,
			    aw_err *err)
{
	aw_err local;
	aw_err *e = err != NULL ? err : &local;
	int rc = aw_err_from_grpc_status(status);
	int by_reason;

	aw_err_set(e, rc, "%s", message != NULL && message[0] != '\0' ? message : aw_strerror(rc));
	for (size_t i = 0; trailing != NULL && i < trailing->count; i++) {
		const grpc_metadata *md = &trailing->metadata[i];
		Google__Rpc__Status *st;

		if (grpc_slice_str_cmp(md->key, DETAILS_KEY) != 0)
			continue;
		st = google__rpc__status__unpack(NULL, GRPC_SLICE_LENGTH(md->value),
						 GRPC_SLICE_START_PTR(md->value));
		/* Details of another status than the one sent are not this error's. */
		if (st != NULL && st->code == status)
			read_details(st, e);
		if (st != NULL)
			google__rpc__status__free_unpacked(st, NULL);
		break;
	}
	/* The reason names the exact code, where the status is shared by several. */
	by_reason = aw_err_reason_code(e->reason);
	if (by_reason != 0 && aw_err_grpc_status(by_reason) == status)
		rc = e->code = by_reason;
	return rc;
}
