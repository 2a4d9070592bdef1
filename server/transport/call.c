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
#include <grpc/support/alloc.h>

#include "../escape.h"
#include "../log.h"
#include "status_details.h"

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

/* Drops the details recorded for an earlier status. */
static void details_reset(aw_call *call)
{
	aw_err_clear(call->detail);
	call->n_invalid = 0;
	call->finish_reason = NULL;
}

/* The call's detail record, made on first use; NULL when out of memory. */
static aw_err *detail_of(aw_call *call)
{
	if (call->detail == NULL) {
		call->detail = aw_call_alloc(call, sizeof(*call->detail));
		aw_err_clear(call->detail);
	}
	return call->detail;
}

int aw_call_set_status(aw_call *call, int grpc_code, const char *fmt, ...)
{
	va_list ap;

	call->status = grpc_code;
	call->aw_code = aw_err_from_grpc_status(grpc_code);
	details_reset(call);
	va_start(ap, fmt);
	vsnprintf(call->message, sizeof(call->message), fmt, ap);
	va_end(ap);
	return call->aw_code;
}

void aw_call_set_error(aw_call *call, const aw_err *err)
{
	aw_err *d;

	call->status = aw_err_grpc_status(err->code);
	call->aw_code = err->code;
	details_reset(call);
	snprintf(call->message, sizeof(call->message), "%s",
		 err->msg[0] != '\0' ? err->msg : aw_strerror(err->code));
	if (err->reason[0] == '\0' && err->n_metadata == 0 && err->n_violations == 0 &&
	    err->resource_type[0] == '\0' && err->retry_delay_ms == 0)
		return;
	if ((d = detail_of(call)) != NULL) {
		*d = *err;
		call->n_invalid = d->n_violations;
	}
}

void aw_call_set_reason(aw_call *call, const char *reason, const char *key, const char *fmt, ...)
{
	aw_err *d = detail_of(call);
	char value[AW_ERR_TEXT_MAX];
	va_list ap;

	if (d == NULL)
		return;
	if (key == NULL) {
		aw_err_detail(d, reason, NULL, "%s", "");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	aw_err_detail(d, reason, key, "%s", value);
}

int aw_call_add_violation(aw_call *call, const char *field, const char *fmt, ...)
{
	char text[AW_ERR_TEXT_MAX];
	size_t n;
	aw_err *d;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (call->n_invalid == 0) {
		aw_call_set_status(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", text);
	} else {
		/* Joined while they fit whole; the BadRequest detail has them all. */
		n = strlen(call->message);
		if (n + 2 + strlen(text) < sizeof(call->message))
			snprintf(call->message + n, sizeof(call->message) - n, "; %s", text);
	}
	call->n_invalid++;
	if ((d = detail_of(call)) != NULL)
		aw_err_add_violation(d, field, "%s", text);
	return -1;
}

int aw_call_violations(const aw_call *call)
{
	return call->status == GRPC_STATUS_INVALID_ARGUMENT ? call->n_invalid : 0;
}

void aw_call_set_request_id(aw_call *call, const char *request_id)
{
	size_t n = request_id != NULL ? strlen(request_id) : 0;
	char *copy;

	if (n == 0) {
		call->request_id = NULL;
		return;
	}
	if ((copy = aw_call_alloc(call, n + 1)) != NULL)
		memcpy(copy, request_id, n + 1);
	call->request_id = copy;
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
	aw_log_call_fields f;
	char *peer;

	atomic_fetch_add_explicit(&c->worker->answered, 1, memory_order_relaxed);
	aw__metrics_count(c->method != NULL ? c->method->stats : &c->worker->t->unknown_stats,
			  code, us);
	if (!aw_log_enabled(AW_LOG_INFO))
		return;
	peer = c->call != NULL ? grpc_call_get_peer(c->call) : NULL;
	f = (aw_log_call_fields){
		.method = aw_call_method(c),
		.code = aw__status_name(code),
		.duration_us = us,
		.peer = peer != NULL ? peer : (c->loopback != NULL ? "loopback" : ""),
		.request_id = c->request_id,
		.message = code != 0 ? c->message : "",
	};
	aw_log_call(AW_LOG_INFO, &f);
	gpr_free(peer);
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

/*
 * Makes what goes out with the status: the message (its control characters
 * escaped once more, so that no caller-supplied byte can break a line of a
 * client's log) and, for an error, the google.rpc.Status trailer.
 */
static void set_details(aw_call *c, const char *text)
{
	char clean[AW_ERR_MSG_MAX * 4];
	grpc_slice packed;

	grpc_slice_unref(c->status_details);
	if (c->has_trailer) {
		grpc_slice_unref(c->trailer.value);
		c->has_trailer = 0;
	}
	if (text == NULL || text[0] == '\0') {
		c->status_details = grpc_empty_slice();
		clean[0] = '\0';
	} else {
		aw_escape_controls(clean, sizeof(clean), text, strlen(text));
		c->status_details = grpc_slice_from_copied_string(clean);
	}
	if (c->status == GRPC_STATUS_OK)
		return;
	if (c->detail != NULL && c->n_invalid > 0) {
		/* How many fields were wrong, also when not all fit in BadRequest. */
		aw_err_detail(c->detail, c->detail->reason[0] != '\0' ? c->detail->reason
								       : aw_err_code_reason(c->aw_code),
			      "invalid_fields", "%d", c->n_invalid);
	}
	if (aw__status_details_pack(c->status, c->aw_code != 0 ? c->aw_code
							      : aw_err_from_grpc_status(c->status),
				    clean, c->detail, c->finish_reason, &packed) != 0)
		return;
	c->trailer.key = grpc_slice_from_static_string(AW_STATUS_DETAILS_KEY);
	c->trailer.value = packed;
	c->has_trailer = 1;
}

/* Points a SEND_STATUS_FROM_SERVER op at the call's status, message and trailer. */
static void status_op(aw_call *c, grpc_op *op, int code)
{
	op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	op->data.send_status_from_server.status = (grpc_status_code)code;
	op->data.send_status_from_server.status_details = &c->status_details;
	op->data.send_status_from_server.trailing_metadata_count = c->has_trailer ? 1 : 0;
	op->data.send_status_from_server.trailing_metadata = c->has_trailer ? &c->trailer : NULL;
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
	status_op(c, &ops[n], c->status);
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

void aw__call_reject(aw_call *c, const aw_err *err)
{
	int code = aw_err_grpc_status(err->code);

	aw_call_set_error(c, err);
	if (c->method != NULL && c->method->shape != AW_SHAPE_UNARY) {
		aw_call_finish(c, code, c->message);
		return;
	}
	if (c->method == NULL) {
		/* Unregistered path: nobody armed RECV_CLOSE, so do it in this batch. */
		grpc_op ops[3];

		memset(ops, 0, sizeof(ops));
		set_details(c, c->message);
		ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
		status_op(c, &ops[1], code);
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
		status_op(c, &ops[n], c->status);
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
	aw_call_finish_reason(c, grpc_code, NULL, text);
}

void aw_call_finish_reason(aw_call *c, int grpc_code, const char *reason, const char *text)
{
	pthread_mutex_lock(&c->mu);
	if (!c->finishing && !c->ended) {
		c->finishing = 1;
		if (c->status != grpc_code || reason != NULL) {
			/* A new status: the details of the one set before do not apply. */
			c->aw_code = reason != NULL ? aw_err_reason_code(reason)
						    : aw_err_from_grpc_status(grpc_code);
			c->n_invalid = 0;
			c->finish_reason = reason;
			if (c->detail != NULL && reason == NULL)
				c->detail->n_violations = c->detail->n_metadata = 0;
		}
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
		aw_call_finish_reason(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "STREAM_BACKLOG_FULL",
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
