/*
 * request_id.h: which calls are safe to retry with a request_id (AIP-155),
 * and what the repository is told of one.
 */
#ifndef AW_REQUEST_ID_H
#define AW_REQUEST_ID_H

#include "../repo/repo.h"
#include "../transport/call.h"

/*
 * For the call being served: when its method takes a request_id (the table
 * in request_id.c) and the caller gave one, checks it (at most
 * AW_REQUEST_ID_MAX printable ASCII bytes) and sets *out to what the
 * repository needs to run the write once (in the call's arena); otherwise
 * *out is NULL. Returns 0, or -1 with INVALID_ARGUMENT (naming request_id)
 * or RESOURCE_EXHAUSTED set on the call.
 */
int aw__request_id_of(aw_call *call, const aw_request_id **out);

/* The methods that take a request_id, NULL-terminated ("/pkg.Service/Method"). */
extern const char *const aw__request_id_methods[];

#endif /* AW_REQUEST_ID_H */
