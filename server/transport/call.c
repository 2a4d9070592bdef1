/*
 * The call context: status, the stubs' closure, unary replies, stream sends and
 * endings, and the reference counting that recycles slots.
 */
#include "transport_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>

#include "../log.h"

static const char *const status_names[] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *aw__status_name(int code)
{
	if (code < 0 || code >= (int)(sizeof(status_names) / sizeof(status_names[0])))
		return "?";
	return status_names[code];
}

/* ---- the handler's view ---------------------------------------------------- */

int aw_call_set_status(aw_call *call, int grpc_code, const char *fmt, ...)
{
	va_list ap;

	call->status = grpc_code;
	va_start(ap, fmt);
	vsnprintf(call->message, sizeof(call->message), fmt, ap);
	va_end(ap);
	return aw_err_from_grpc_status(grpc_code);
}

void aw_call_set_error(aw_call *call, const aw_err *err)
{
	call->status = aw_err_grpc_status(err->code);
	snprintf(call->message, sizeof(call->message), "%s",
		 err->msg[0] != '\0' ? err->msg : aw_strerror(err->code));
}

int aw_call_status(const aw_call *call)
{
	return call->status;
}

ProtobufCAllocator *aw_call_allocator(aw_call *call)
{
	return aw_arena_allocator(&call->arena);
}

void *aw_call_alloc(aw_call *call, size_t size)
{
	return aw_arena_alloc(&call->arena, size);
}

const char *aw_call_method(const aw_call *call)
{
	return call->method != NULL ? call->method->path : "(unknown)";
}

const ProtobufCMessage *aw_call_request(const aw_call *call)
{
	return call->request;
}

const ProtobufCMessageDescriptor *aw_call_reply_descriptor(const aw_call *call)
{
	if (call->method == NULL)
		return NULL;
	return call->method->service->descriptor->methods[call->method->index].output;
}

void aw_call_watch_cancel(aw_call *call)
{
	aw__call_arm_close(call);
}

int aw_call_abandoned(const aw_call *call)
{
	if (atomic_load(&call->cancelled))
		return AW_ECANCELED;
	return aw__now_us() > call->deadline_us ? AW_ETIMEDOUT : 0;
}

int64_t aw_call_deadline_us(const aw_call *call)
{
	return call->deadline_us;
}

void aw_call_ref(aw_call *call)
{
	atomic_fetch_add(&call->refs, 1);
}

void aw_call_unref(aw_call *call)
{
	if (atomic_fetch_sub(&call->refs, 1) == 1)
		aw__call_recycle(call);
}

/* ---- the end of a call: metrics and log ---------------------------------------- */

static void call_ended(const aw_call *c, int code)
{
	int64_t us = aw__now_us() - c->start_us;

	aw__metrics_count(c->method != NULL ? c->method->stats : &c->worker->t->unknown_stats,
			  code, us);
	if (!aw_log_enabled(AW_LOG_INFO))
		return;
	aw_log(AW_LOG_INFO, "call %s %s %lld.%03lldms%s%s", aw_call_method(c), aw__status_name(code),
	       (long long)(us / 1000), (long long)(us % 1000), code != 0 ? " " : "",
	       code != 0 ? c->message : "");
}

/* ---- packing ---------------------------------------------------------------- */

/* Packs `msg` into a new slice (the caller owns its reference). */
static int pack(const ProtobufCMessage *msg, grpc_slice *out)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	grpc_slice s = grpc_slice_malloc(n);

	if (GRPC_SLICE_LENGTH(s) != n)
		return AW_ENOMEM;
	protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
	*out = s;
	return 0;
}

static void set_details(aw_call *c, const char *text)
{
	grpc_slice_unref(c->status_details);
	c->status_details = (text != NULL && text[0] != '\0') ? grpc_slice_from_copied_string(text)
							      : grpc_empty_slice();
}

/* ---- unary ------------------------------------------------------------------ */

/*
 * Sends a unary call's reply (or only its status) in one batch and drops the
 * dispatch reference. Runs on whatever thread called the closure.
 */
static void unary_reply(aw_call *c, const ProtobufCMessage *msg)
{
	grpc_op ops[4];
	size_t n = 0;
	grpc_slice s;

	memset(ops, 0, sizeof(ops));
	ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
	n++;
	if (c->status == GRPC_STATUS_OK) {
		if (msg == NULL) {
			aw_call_set_status(c, GRPC_STATUS_INTERNAL, "the handler produced no reply");
		} else if (pack(msg, &s) != 0) {
			aw_call_set_status(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory packing the reply");
		} else {
			c->send_buf = grpc_raw_byte_buffer_create(&s, 1);
			grpc_slice_unref(s);
			ops[n].op = GRPC_OP_SEND_MESSAGE;
			ops[n].data.send_message.send_message = c->send_buf;
			n++;
		}
	}
	set_details(c, c->status != GRPC_STATUS_OK ? c->message : NULL);
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = (grpc_status_code)c->status;
	ops[n].data.send_status_from_server.status_details = &c->status_details;
	n++;
	if (!atomic_exchange(&c->close_armed, 1)) {
		ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
		ops[n].data.recv_close_on_server.cancelled = &c->close_cancelled;
		n++;
	}

	aw_call_ref(c); /* for the batch */
	if (aw__call_start_batch(c, ops, n, &c->op_send) != GRPC_CALL_OK) {
		aw_log(AW_LOG_ERROR, "call %s: cannot send the reply", aw_call_method(c));
		aw_call_unref(c);
	}
	aw_call_unref(c); /* the dispatch reference */
}

void aw__call_reject(aw_call *c, int code, const char *message)
{
	if (c->method != NULL && c->method->shape != AW_SHAPE_UNARY) {
		aw_call_set_status(c, code, "%s", message);
		aw_call_finish(c, code, message);
		return;
	}
	aw_call_set_status(c, code, "%s", message);
	if (c->method == NULL) {
		/* Unregistered path: nobody armed RECV_CLOSE, so do it in this batch. */
		grpc_op ops[3];

		memset(ops, 0, sizeof(ops));
		set_details(c, message);
		ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
		ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		ops[1].data.send_status_from_server.status = (grpc_status_code)code;
		ops[1].data.send_status_from_server.status_details = &c->status_details;
		ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
		ops[2].data.recv_close_on_server.cancelled = &c->close_cancelled;
		/* The request reference carries over to this batch. */
		if (aw__call_start_batch(c, ops, 3, &c->op_send) != GRPC_CALL_OK)
			aw_call_unref(c);
		return;
	}
	unary_reply(c, NULL);
}

/* ---- streams ---------------------------------------------------------------- */

/*
 * Starts the next send of a stream if none is in flight: the next queued
 * message, else the status once the stream is finishing, else the headers
 * alone when they were asked for. Called with c->mu held.
 */
static void stream_pump(aw_call *c)
{
	grpc_op ops[3];
	size_t n = 0;

	if (c->sending || c->ended)
		return;
	memset(ops, 0, sizeof(ops));
	if (c->q_len == 0 && !c->finishing && !(c->md_wanted && !c->md_sent))
		return;
	if (!c->md_sent) {
		ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
		n++;
		c->md_sent = 1;
	}
	if (c->q_len == 0 && !c->finishing) {
		/* Headers only. */
	} else if (c->q_len > 0) {
		grpc_slice s = c->queue[c->q_head];

		c->q_head = (c->q_head + 1) % c->worker->t->cfg.stream_backlog;
		c->q_len--;
		c->send_buf = grpc_raw_byte_buffer_create(&s, 1);
		grpc_slice_unref(s);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n].data.send_message.send_message = c->send_buf;
		n++;
	} else {
		set_details(c, c->status != GRPC_STATUS_OK ? c->message : NULL);
		ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		ops[n].data.send_status_from_server.status = (grpc_status_code)c->status;
		ops[n].data.send_status_from_server.status_details = &c->status_details;
		n++;
		c->status_sent = 1;
	}
	c->sending = 1;
	aw_call_ref(c);
	if (aw__call_start_batch(c, ops, n, &c->op_send) != GRPC_CALL_OK) {
		c->sending = 0;
		atomic_fetch_sub(&c->refs, 1); /* cannot reach zero: the stream reference */
	}
}

/* Marks a stream ended (once) and reports whether the caller must run the
 * on_done hook and drop the stream reference. Called with c->mu held. */
static int stream_end_locked(aw_call *c)
{
	if (c->ended)
		return 0;
	c->ended = 1;
	pthread_cond_broadcast(&c->sent);
	while (c->q_len > 0) {
		grpc_slice_unref(c->queue[c->q_head]);
		c->q_head = (c->q_head + 1) % c->worker->t->cfg.stream_backlog;
		c->q_len--;
	}
	return 1;
}

/* Runs the hook and drops the stream reference; c->mu not held. */
static void stream_ended(aw_call *c)
{
	call_ended(c, c->status);
	if (c->on_done != NULL)
		c->on_done(c, c->on_done_arg);
	aw_call_unref(c);
}

int aw_call_send_packed(aw_call *c, grpc_slice packed)
{
	int cap = c->worker->t->cfg.stream_backlog;
	int rc = 0;

	pthread_mutex_lock(&c->mu);
	if (c->ended || c->finishing) {
		rc = AW_ECANCELED;
	} else if (c->q_len >= cap) {
		rc = AW_EOVERLOAD;
	} else {
		if (c->queue == NULL)
			c->queue = calloc((size_t)cap, sizeof(grpc_slice));
		if (c->queue == NULL) {
			rc = AW_ENOMEM;
		} else {
			c->queue[(c->q_head + c->q_len) % cap] = grpc_slice_ref(packed);
			c->q_len++;
			stream_pump(c);
		}
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int aw_call_send(aw_call *c, const ProtobufCMessage *msg)
{
	grpc_slice s;
	int rc = pack(msg, &s);

	if (rc != 0)
		return rc;
	rc = aw_call_send_packed(c, s);
	grpc_slice_unref(s);
	return rc;
}

int aw_call_wait_sendable(aw_call *c, int max_pending, int64_t timeout_ms)
{
	int64_t until_us = aw__now_us() + timeout_ms * 1000;
	struct timespec until = {.tv_sec = until_us / 1000000,
				 .tv_nsec = (long)(until_us % 1000000) * 1000};
	int rc = 0;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		if (c->ended || c->finishing) {
			rc = AW_ECANCELED;
			break;
		}
		if (c->q_len + c->sending < max_pending)
			break;
		if (pthread_cond_timedwait(&c->sent, &c->mu, &until) == ETIMEDOUT) {
			rc = c->q_len + c->sending < max_pending ? 0 : AW_ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void aw_call_send_initial_metadata(aw_call *c)
{
	pthread_mutex_lock(&c->mu);
	if (!c->md_sent && !c->finishing && !c->ended) {
		c->md_wanted = 1;
		stream_pump(c);
	}
	pthread_mutex_unlock(&c->mu);
}

void aw_call_finish(aw_call *c, int grpc_code, const char *text)
{
	pthread_mutex_lock(&c->mu);
	if (!c->finishing && !c->ended) {
		c->finishing = 1;
		c->status = grpc_code;
		/* The closure passes c->message itself: copying it onto itself would
		 * overlap (undefined, and in practice an empty message). */
		if (text != c->message)
			snprintf(c->message, sizeof(c->message), "%s", text != NULL ? text : "");
		stream_pump(c);
	}
	pthread_mutex_unlock(&c->mu);
}

void aw_call_on_done(aw_call *c, void (*fn)(aw_call *call, void *arg), void *arg)
{
	pthread_mutex_lock(&c->mu);
	c->on_done = fn;
	c->on_done_arg = arg;
	pthread_mutex_unlock(&c->mu);
}

/* ---- the closure ---------------------------------------------------------------- */

void aw__call_closure(const ProtobufCMessage *msg, void *closure_data)
{
	aw_call *c = closure_data;

	if (c->method->shape == AW_SHAPE_UNARY) {
		unary_reply(c, msg);
		return;
	}
	if (msg == NULL) {
		aw_call_finish(c, c->status, c->message);
		return;
	}
	switch (aw_call_send(c, msg)) {
	case 0:
	case AW_ECANCELED:
		break;
	case AW_EOVERLOAD:
		aw_call_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
			       "the client reads too slowly: stream backlog full");
		break;
	default:
		aw_call_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory packing a message");
		break;
	}
}

/* ---- events ----------------------------------------------------------------- */

void aw__call_on_send(aw_call *c, int success)
{
	int end = 0;

	if (c->method == NULL || c->method->shape == AW_SHAPE_UNARY) {
		/* The reply (or rejection) went out: the call is over for us. */
		call_ended(c, success ? c->status : GRPC_STATUS_CANCELLED);
		aw_call_unref(c);
		return;
	}
	pthread_mutex_lock(&c->mu);
	c->sending = 0;
	pthread_cond_broadcast(&c->sent);
	if (c->send_buf != NULL) {
		grpc_byte_buffer_destroy(c->send_buf);
		c->send_buf = NULL;
	}
	/* A send that failed means the stream broke (the client went away): it
	 * ends cancelled, not OK, unless a status of the service's was on it. */
	if (!success && !c->status_sent && c->status == GRPC_STATUS_OK)
		c->status = GRPC_STATUS_CANCELLED;
	if (!success || c->status_sent)
		end = stream_end_locked(c);
	else
		stream_pump(c);
	pthread_mutex_unlock(&c->mu);
	if (end)
		stream_ended(c);
	aw_call_unref(c);
}

void aw__call_on_close(aw_call *c)
{
	int end = 0;

	if (c->close_cancelled)
		atomic_store(&c->cancelled, 1);
	if (c->method != NULL && c->method->shape != AW_SHAPE_UNARY) {
		pthread_mutex_lock(&c->mu);
		if (c->close_cancelled || !c->sending)
			end = stream_end_locked(c);
		pthread_mutex_unlock(&c->mu);
		if (end) {
			if (c->close_cancelled && c->status == GRPC_STATUS_OK)
				c->status = GRPC_STATUS_CANCELLED;
			stream_ended(c);
		}
	}
	aw_call_unref(c);
}
