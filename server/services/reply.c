#include "reply.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <grpc/status.h>


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

aw_repo_req *aw__reply_req(aw_call *call, ProtobufCClosure closure)
{
	return aw__reply_req_hook(call, closure, NULL, NULL);
}

aw_repo_req *aw__reply_req_hook(aw_call *call, ProtobufCClosure closure, aw_reply_hook_fn *hook,
				void *arg)
{
	reply_req *rr = aw_call_alloc(call, sizeof(*rr));

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
	};
	rr->call = call;
	rr->closure = closure;
	rr->hook = hook;
	rr->hook_arg = arg;
	return &rr->req;
}
