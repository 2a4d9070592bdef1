/*
 * reply.h: how the services turn repository outcomes into replies, and refuse
 * bad input, in one line each.
 */
#ifndef AW_REPLY_H
#define AW_REPLY_H

#include <protobuf-c/protobuf-c.h>

#include "../repo/repo.h"
#include "../transport/call.h"

/*
 * A repository request whose outcome is the call's reply: on success
 * closure(result, call), on failure the error's status and closure(NULL, call).
 * Allocated in the call's arena (nothing to free); the repository allocates its
 * result there too. Writes already abandoned by the caller are skipped.
 * Returns NULL (with RESOURCE_EXHAUSTED replied) when memory is exhausted.
 */
aw_repo_req *aw__reply_req(aw_call *call, ProtobufCClosure closure);

/* Sets INVALID_ARGUMENT with a message that names the field and value; -1. */
int aw__invalid(aw_call *call, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 2, 3)))
#endif
	;

#endif /* AW_REPLY_H */
