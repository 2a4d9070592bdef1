/*
 * google.rpc.Status for an error: each detail packed on its own into an Any,
 * then the Status around them.
 */
#include "status_details.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/status.h>

#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

int64_t aw__status_retry_delay_ms(int aw_code)
{
	switch (aw_code) {
	case AW_EOVERLOAD:
	case AW_EBUSY:
		return 200;
	case AW_ENOMEM:
	case AW_EUNAVAIL:
		return 1000;
	default:
		return 0;
	}
}

/* The details under construction: their Anys and the bytes each points to. */
typedef struct details {
	Google__Protobuf__Any any[4];
	Google__Protobuf__Any *ptrs[4];
	size_t n;
	int failed;
} details;

static void add(details *d, const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	size_t url_len = strlen(AW_TYPE_URL_PREFIX) + strlen(msg->descriptor->name) + 1;
	uint8_t *bytes = malloc(len ? len : 1);
	char *url = malloc(url_len);
	Google__Protobuf__Any *a = &d->any[d->n];

	if (bytes == NULL || url == NULL) {
		free(bytes);
		free(url);
		d->failed = 1;
		return;
	}
	protobuf_c_message_pack(msg, bytes);
	snprintf(url, url_len, "%s%s", AW_TYPE_URL_PREFIX, msg->descriptor->name);
	google__protobuf__any__init(a);
	a->type_url = url;
	a->value.data = bytes;
	a->value.len = len;
	d->ptrs[d->n++] = a;
}

int aw__status_details_pack(int grpc_code, int aw_code, const char *message, const aw_err *detail,
			    const char *reason, grpc_slice *out)
{
	Google__Rpc__ErrorInfo info = GOOGLE__RPC__ERROR_INFO__INIT;
	Google__Rpc__ErrorInfo__MetadataEntry meta[AW_ERR_METADATA_MAX];
	Google__Rpc__ErrorInfo__MetadataEntry *meta_ptrs[AW_ERR_METADATA_MAX];
	Google__Rpc__BadRequest bad = GOOGLE__RPC__BAD_REQUEST__INIT;
	Google__Rpc__BadRequest__FieldViolation fv[AW_ERR_VIOLATIONS_MAX];
	Google__Rpc__BadRequest__FieldViolation *fv_ptrs[AW_ERR_VIOLATIONS_MAX];
	Google__Rpc__ResourceInfo res = GOOGLE__RPC__RESOURCE_INFO__INIT;
	Google__Rpc__RetryInfo retry = GOOGLE__RPC__RETRY_INFO__INIT;
	Google__Protobuf__Duration delay = GOOGLE__PROTOBUF__DURATION__INIT;
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	details d = {.n = 0};
	int64_t delay_ms;
	int rc = 0;

	if (reason == NULL)
		reason = detail != NULL && detail->reason[0] != '\0' ? detail->reason
								     : aw_err_code_reason(aw_code);
	info.reason = (char *)reason;
	info.domain = (char *)AW_ERR_DOMAIN;
	for (int i = 0; detail != NULL && i < detail->n_metadata; i++) {
		google__rpc__error_info__metadata_entry__init(&meta[i]);
		meta[i].key = (char *)detail->metadata[i].key;
		meta[i].value = (char *)detail->metadata[i].text;
		meta_ptrs[i] = &meta[i];
		info.n_metadata++;
	}
	info.metadata = meta_ptrs;
	add(&d, &info.base);

	if (detail != NULL && detail->n_violations > 0) {
		for (int i = 0; i < detail->n_violations; i++) {
			google__rpc__bad_request__field_violation__init(&fv[i]);
			fv[i].field = (char *)detail->violations[i].key;
			fv[i].description = (char *)detail->violations[i].text;
			fv_ptrs[i] = &fv[i];
		}
		bad.n_field_violations = (size_t)detail->n_violations;
		bad.field_violations = fv_ptrs;
		add(&d, &bad.base);
	}
	if (detail != NULL && detail->resource_type[0] != '\0') {
		res.resource_type = (char *)detail->resource_type;
		res.resource_name = (char *)detail->resource_name;
		res.description = (char *)message;
		add(&d, &res.base);
	}
	delay_ms = detail != NULL && detail->retry_delay_ms > 0 ? detail->retry_delay_ms
								 : aw__status_retry_delay_ms(aw_code);
	if ((grpc_code == GRPC_STATUS_RESOURCE_EXHAUSTED || grpc_code == GRPC_STATUS_UNAVAILABLE) &&
	    aw_code != AW_EFULL) {
		if (delay_ms <= 0)
			delay_ms = 1000;
		delay.seconds = delay_ms / 1000;
		delay.nanos = (int32_t)(delay_ms % 1000) * 1000000;
		retry.retry_delay = &delay;
		add(&d, &retry.base);
	}

	if (d.failed) {
		rc = AW_ENOMEM;
	} else {
		st.code = grpc_code;
		st.message = (char *)(message != NULL ? message : "");
		st.n_details = d.n;
		st.details = d.ptrs;
		size_t len = google__rpc__status__get_packed_size(&st);
		grpc_slice s = grpc_slice_malloc(len);

		if (GRPC_SLICE_LENGTH(s) != len) {
			rc = AW_ENOMEM;
		} else {
			google__rpc__status__pack(&st, GRPC_SLICE_START_PTR(s));
			*out = s;
		}
	}
	for (size_t i = 0; i < d.n; i++) {
		free(d.any[i].type_url);
		free(d.any[i].value.data);
	}
	return rc;
}
