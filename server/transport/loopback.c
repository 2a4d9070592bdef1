/*
 * The loopback: grpc's part of a call, played without a network.
 *
 * A call slot is taken from the transport's first worker and filled as
 * grpc_server_request_registered_call fills it (method, the request as its
 * payload, no deadline, no metadata; for an unknown path, as
 * grpc_server_request_call does). From there the transport's own code runs
 * the call, aw__call_arrived() first. Every batch the transport starts on the
 * slot comes here instead of to grpc (aw__call_start_batch): it is checked
 * against grpc's rules, its sends are recorded as what the client receives,
 * and its completion is queued for the invoking thread, which hands each one
 * to aw__call_event() as a worker thread hands the events of its completion
 * queue. The call is over when the slot is recycled.
 *
 * RECV_CLOSE_ON_SERVER completes, as in grpc, once the status has been sent;
 * or, for a stream still open when every event has been handled, at once and
 * reporting a cancel: the client hung up. Without that, a watch would never
 * end and what it registered would outlive the invocation.
 */
#include "loopback.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/time.h>

#include "transport_int.h"

/* A call has one tag per kind of batch (aw_op_kind) and one batch of each kind
 * in flight at most, so this many completions can wait at once. */
#define MAX_EVENTS 4

struct aw_loopback {
	pthread_mutex_t mu;          /* guards everything below */
	pthread_cond_t cv;           /* an event was queued, or the slot recycled */
	aw_op *events[MAX_EVENTS];   /* completions not yet handled, oldest first */
	int n_events;
	int in_flight[MAX_EVENTS];   /* per aw_op_kind: a batch of that kind is in flight */
	aw_op *close_tag;            /* batch with RECV_CLOSE_ON_SERVER waiting for the end */
	int *close_cancelled;        /* where that batch reports a cancel */
	int status_sent;
	const void *request;         /* the request bytes (borrowed) */
	size_t request_len;
	int request_taken;           /* RECV_MESSAGE delivered them already */
	int recycled;                /* the slot went back: the call is over */
	aw_loopback_reply *out;
};

size_t aw__transport_method_count(const aw_transport *t)
{
	return t->n_methods;
}

int aw__transport_method(const aw_transport *t, size_t i, aw_loopback_method *out)
{
	const aw_method *m;

	if (i >= t->n_methods)
		return AW_EINVAL;
	m = &t->methods[i];
	out->path = m->path;
	out->desc = &m->service->descriptor->methods[m->index];
	out->server_streaming = m->shape != AW_SHAPE_UNARY;
	out->client_streaming = m->shape == AW_SHAPE_BIDI_STREAM;
	return 0;
}

void aw__loopback_reply_clear(aw_loopback_reply *r)
{
	free(r->data);
	memset(r, 0, sizeof(*r));
}

/* Queues the completion of `tag`; with lb->mu held. */
static void complete(aw_loopback *lb, aw_op *tag)
{
	lb->events[lb->n_events++] = tag;
	pthread_cond_signal(&lb->cv);
}

/* Whether grpc would accept the batch: known operations only, none after the
 * status of its kind, one RECV_CLOSE_ON_SERVER a call, one batch in flight per
 * tag. With lb->mu held. */
static grpc_call_error check_batch(const aw_loopback *lb, const grpc_op *ops, size_t n,
				   const aw_op *tag)
{
	if ((int)tag->kind < 0 || (int)tag->kind >= MAX_EVENTS || lb->in_flight[tag->kind])
		return GRPC_CALL_ERROR_TOO_MANY_OPERATIONS;
	for (size_t i = 0; i < n; i++) {
		switch (ops[i].op) {
		case GRPC_OP_SEND_INITIAL_METADATA:
		case GRPC_OP_RECV_MESSAGE:
			break;
		case GRPC_OP_SEND_MESSAGE:
		case GRPC_OP_SEND_STATUS_FROM_SERVER:
			if (lb->status_sent)
				return GRPC_CALL_ERROR_TOO_MANY_OPERATIONS;
			break;
		case GRPC_OP_RECV_CLOSE_ON_SERVER:
			if (lb->close_cancelled != NULL)
				return GRPC_CALL_ERROR_TOO_MANY_OPERATIONS;
			break;
		default:
			return GRPC_CALL_ERROR_NOT_ON_SERVER;
		}
	}
	return GRPC_CALL_OK;
}

/* Keeps the first message a call sends, and counts them all. */
static void record_message(aw_loopback *lb, grpc_byte_buffer *bb)
{
	aw_loopback_reply *out = lb->out;
	grpc_byte_buffer_reader reader;
	grpc_slice s;
	size_t total, off = 0;

	if (out->n_messages++ > 0 || !grpc_byte_buffer_reader_init(&reader, bb))
		return;
	total = grpc_byte_buffer_length(reader.buffer_out);
	out->data = malloc(total > 0 ? total : 1);
	while (grpc_byte_buffer_reader_next(&reader, &s)) {
		size_t k = GRPC_SLICE_LENGTH(s);
		if (out->data != NULL && k <= total - off) {
			memcpy(out->data + off, GRPC_SLICE_START_PTR(s), k);
			off += k;
		}
		grpc_slice_unref(s);
	}
	grpc_byte_buffer_reader_destroy(&reader);
	out->len = out->data != NULL ? off : 0;
}

static void record_status(aw_loopback *lb, const grpc_op *op)
{
	const grpc_slice *details = op->data.send_status_from_server.status_details;
	size_t k = details != NULL ? GRPC_SLICE_LENGTH(*details) : 0;

	if (k >= sizeof(lb->out->message))
		k = sizeof(lb->out->message) - 1;
	lb->out->status = (int)op->data.send_status_from_server.status;
	if (k > 0)
		memcpy(lb->out->message, GRPC_SLICE_START_PTR(*details), k);
	lb->out->message[k] = '\0';
	lb->status_sent = 1;
}

/* The next request of the client's stream: the bytes once, then its end. */
static grpc_byte_buffer *next_request(aw_loopback *lb)
{
	grpc_slice s;

	if (lb->request_taken)
		return NULL;
	lb->request_taken = 1;
	s = grpc_slice_from_static_buffer(lb->request, lb->request_len);
	return grpc_raw_byte_buffer_create(&s, 1);
}

grpc_call_error aw__loopback_batch(aw_loopback *lb, const grpc_op *ops, size_t n, aw_op *tag)
{
	grpc_call_error rc;
	int *closes = NULL;

	pthread_mutex_lock(&lb->mu);
	rc = check_batch(lb, ops, n, tag);
	for (size_t i = 0; rc == GRPC_CALL_OK && i < n; i++) {
		const grpc_op *op = &ops[i];

		switch (op->op) {
		case GRPC_OP_SEND_MESSAGE:
			record_message(lb, op->data.send_message.send_message);
			break;
		case GRPC_OP_SEND_STATUS_FROM_SERVER:
			record_status(lb, op);
			break;
		case GRPC_OP_RECV_CLOSE_ON_SERVER:
			closes = op->data.recv_close_on_server.cancelled;
			lb->close_cancelled = closes;
			break;
		case GRPC_OP_RECV_MESSAGE:
			*op->data.recv_message.recv_message = next_request(lb);
			break;
		default:
			break;
		}
	}
	if (rc == GRPC_CALL_OK) {
		lb->in_flight[tag->kind] = 1;
		if (closes != NULL && !lb->status_sent) {
			/* Completes when the call ends. */
			lb->close_tag = tag;
		} else {
			if (closes != NULL)
				*closes = 0;
			complete(lb, tag);
		}
		if (lb->status_sent && lb->close_tag != NULL) {
			*lb->close_cancelled = 0;
			complete(lb, lb->close_tag);
			lb->close_tag = NULL;
		}
	}
	pthread_mutex_unlock(&lb->mu);
	return rc;
}

void aw__loopback_recycled(aw_loopback *lb)
{
	pthread_mutex_lock(&lb->mu);
	lb->recycled = 1;
	pthread_cond_signal(&lb->cv);
	pthread_mutex_unlock(&lb->mu);
}

static const aw_method *find_method(const aw_transport *t, const char *path)
{
	for (size_t i = 0; i < t->n_methods; i++) {
		if (strcmp(t->methods[i].path, path) == 0)
			return &t->methods[i];
	}
	return NULL;
}

/* Hands the call's completions to the transport until its slot is recycled,
 * hanging up on a stream that has nothing more to do. */
static void run_events(aw_loopback *lb, const aw_method *m)
{
	pthread_mutex_lock(&lb->mu);
	while (!lb->recycled) {
		if (lb->n_events > 0) {
			aw_op *op = lb->events[0];

			lb->n_events--;
			memmove(&lb->events[0], &lb->events[1], (size_t)lb->n_events * sizeof(lb->events[0]));
			lb->in_flight[op->kind] = 0;
			pthread_mutex_unlock(&lb->mu);
			aw__call_event(op, 1);
			pthread_mutex_lock(&lb->mu);
		} else if (lb->close_tag != NULL && m != NULL && m->shape != AW_SHAPE_UNARY) {
			*lb->close_cancelled = 1;
			lb->out->hung_up = 1;
			complete(lb, lb->close_tag);
			lb->close_tag = NULL;
		} else {
			pthread_cond_wait(&lb->cv, &lb->mu);
		}
	}
	pthread_mutex_unlock(&lb->mu);
}

int aw__transport_invoke_bytes(aw_transport *t, const char *path, const void *data, size_t len,
			       aw_loopback_reply *out)
{
	const aw_method *m = find_method(t, path);
	aw_loopback lb;
	aw_call *c;

	memset(out, 0, sizeof(*out));
	c = aw__call_slot_get(&t->workers[0]);
	if (c == NULL)
		return AW_ENOMEM;
	memset(&lb, 0, sizeof(lb));
	pthread_mutex_init(&lb.mu, NULL);
	pthread_cond_init(&lb.cv, NULL);
	lb.request = data != NULL ? data : "";
	lb.request_len = data != NULL ? len : 0;
	lb.out = out;

	/* What grpc fills in when a requested call arrives. */
	c->loopback = &lb;
	c->method = m;
	atomic_store(&c->refs, 1); /* the request's reference */
	c->deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
	if (m == NULL) {
		c->details.method = grpc_slice_from_copied_string(path);
		c->details.deadline = c->deadline;
	} else if (m->shape != AW_SHAPE_BIDI_STREAM) {
		c->payload = next_request(&lb);
	}
	aw__call_arrived(c);
	run_events(&lb, m);
	if (out->hung_up) {
		out->status = GRPC_STATUS_CANCELLED;
		out->message[0] = '\0';
	}
	pthread_cond_destroy(&lb.cv);
	pthread_mutex_destroy(&lb.mu);
	return 0;
}
