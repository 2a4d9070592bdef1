/*
 * status_details.h: an error status as google.rpc.Status (AIP-193), the bytes
 * a server sends in the `grpc-status-details-bin` trailer.
 *
 * The Status has the call's code and message and these details, each packed in
 * a google.protobuf.Any:
 *   ErrorInfo     always: the reason (the detail's, else the AW_E* code's own,
 *                 see AW_ERRNO_MAP and AW_REASON_MAP), domain AW_ERR_DOMAIN,
 *                 the detail's metadata;
 *   BadRequest    when the detail holds field violations;
 *   ResourceInfo  when the detail names a resource (NOT_FOUND, ALREADY_EXISTS);
 *   RetryInfo     for RESOURCE_EXHAUSTED and UNAVAILABLE, except a full disk
 *                 (retrying soon does not help there): the detail's delay or a
 *                 default for the code.
 */
#ifndef AW_STATUS_DETAILS_H
#define AW_STATUS_DETAILS_H

#include <stdint.h>

#include <grpc/slice.h>

#include "aniworld/error.h"

/* The trailer's key. */
#define AW_STATUS_DETAILS_KEY "grpc-status-details-bin"

/* Type URLs of the details (the Any's type_url). */
#define AW_TYPE_URL_PREFIX "type.googleapis.com/"

/*
 * Packs the Status of an error: gRPC status `grpc_code` (not 0), `aw_code` its
 * AW_E* code, `message` (borrowed) and `detail` (may be NULL: no reason but the
 * code's, no metadata, violations or resource); `reason`, when not NULL, is the
 * reason whatever the detail says. On success *out is a new slice
 * (the caller unrefs it). Returns 0 or AW_ENOMEM.
 */
int aw__status_details_pack(int grpc_code, int aw_code, const char *message, const aw_err *detail,
			    const char *reason, grpc_slice *out);

/* The RetryInfo delay sent for `aw_code` when the detail gives none; 0 when the
 * code gets no RetryInfo. */
int64_t aw__status_retry_delay_ms(int aw_code);

#endif /* AW_STATUS_DETAILS_H */
