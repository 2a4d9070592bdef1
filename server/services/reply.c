#include "reply.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <grpc/status.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "etag.h"
#include "request_id.h"

typedef struct reply_req {
	aw_repo_req req;          /* first: the repository sees only this */
	aw_call *call;
	ProtobufCClosure closure;
	aw_reply_hook_fn *hook;   /* NULL: none */
	void *hook_arg;
} reply_req;

static void reply_done(aw_repo_req *req, int rc, const aw_err *err, ProtobufCMessage *result)
{
	reply_req *rr = (reply_req *)req;

	if (rc != 0) {
		aw_call_set_error(rr->call, err);
		rr->closure(NULL, rr->call);
		return;
	}
	if (rr->hook != NULL)
		rr->hook(rr->call, result, rr->hook_arg);
	rr->closure(result, rr->call);
}

static int reply_abandoned(const aw_repo_req *req)
{
	return aw_call_abandoned(((const reply_req *)req)->call);
}

static void reply_waiting(aw_repo_req *req)
{
	aw_call_watch_cancel(((reply_req *)req)->call);
}

/*
 * When the repository must have answered for the reply to reach the caller
 * before its deadline: the deadline less a fifth of the time left, at most
 * ANSWER_RESERVE_US. An answer the repository gives up waiting for then still
 * arrives as UNAVAILABLE, not as the client's own DEADLINE_EXCEEDED. 0: the
 * call has no deadline.
 */
#define ANSWER_RESERVE_US INT64_C(200000)

static int64_t answer_deadline(const aw_call *call)
{
	int64_t deadline = aw_call_deadline_us(call), left, reserve;

	if (deadline == INT64_MAX)
		return 0;
	left = deadline - aw__repo_mono_us();
	reserve = left > 0 ? left / 5 : 0;
	if (reserve > ANSWER_RESERVE_US)
		reserve = ANSWER_RESERVE_US;
	deadline -= reserve;
	return deadline > 0 ? deadline : 1;
}

aw_repo_req *aw__reply_req(aw_call *call, ProtobufCClosure closure)
{
	return aw__reply_req_hook(call, closure, NULL, NULL);
}

aw_repo_req *aw__reply_req_hook(aw_call *call, ProtobufCClosure closure, aw_reply_hook_fn *hook,
				void *arg)
{
	reply_req *rr = aw_call_alloc(call, sizeof(*rr));
	const aw_request_id *rid = NULL;

	int64_t if_version = 0;

	if (aw__request_id_of(call, &rid) != 0 || aw__etag_of(call, &if_version) != 0) {
		closure(NULL, call);
		return NULL;
	}
	if (rid != NULL)
		aw_call_set_request_id(call, rid->id); /* for the access log */
	if (rr == NULL) {
		aw_call_set_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		closure(NULL, call);
		return NULL;
	}
	rr->req = (aw_repo_req){
		.done = reply_done,
		.abandoned = reply_abandoned,
		.waiting = reply_waiting,
		.mem = aw_call_allocator(call),
		.request_id = rid,
		.if_version = if_version,
		.deadline_us = answer_deadline(call),
	};
	rr->call = call;
	rr->closure = closure;
	rr->hook = hook;
	rr->hook_arg = arg;
	return &rr->req;
}
