/*
 * reply.h: how the services turn repository outcomes into replies, and refuse
 * bad input, in one line each.
 */
#ifndef AW_REPLY_H
#define AW_REPLY_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "../repo/repo.h"
#include "../transport/call.h"
#include "validate.h"

/*
 * A repository request whose outcome is the call's reply: on success
 * closure(result, call), on failure the error's status and closure(NULL, call).
 * Allocated in the call's arena (nothing to free); the repository allocates its
 * result there too. Writes already abandoned by the caller are skipped.
 * A write of a method that takes a request_id (request_id.h) carries the
 * caller's, so the repository runs it once; a bad request_id is refused here.
 * Returns NULL (with the status replied: RESOURCE_EXHAUSTED when memory is
 * exhausted, INVALID_ARGUMENT for a bad request_id) when there is no request.
 */
aw_repo_req *aw__reply_req(aw_call *call, ProtobufCClosure closure);

/* Runs on a successful outcome just before the reply is sent, on the thread
 * that reports it; `result` is the reply (borrowed), `arg` the caller's. */
typedef void aw_reply_hook_fn(aw_call *call, ProtobufCMessage *result, void *arg);

/*
 * As aw__reply_req, and on success runs hook(call, result, arg) before the
 * closure. Writes report in commit order, after the commit, one at a time, so
 * a hook sees the writes in the order they were stored: the place to publish
 * changes that must reach others in that order.
 */
aw_repo_req *aw__reply_req_hook(aw_call *call, ProtobufCClosure closure, aw_reply_hook_fn *hook,
				void *arg);

#endif /* AW_REPLY_H */
