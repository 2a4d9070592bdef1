/*
 * etag.h: the etag a write is conditional on (AIP-154), as the request of the
 * call being served carries it.
 */
#ifndef AW_ETAG_H
#define AW_ETAG_H

#include <stdint.h>

#include "../transport/call.h"

/*
 * The version the call's write is conditional on: the request's `etag`
 * field, or for an update (a request with an update_mask) the etag of the
 * resource it carries. *if_version is 0 when none is given. Returns 0, or -1
 * with INVALID_ARGUMENT set (naming the field) for an etag the server never
 * issues.
 */
int aw__etag_of(aw_call *call, int64_t *if_version);

#endif /* AW_ETAG_H */
