/*
 * The transport: grpc_server lifecycle, one completion queue and thread per
 * worker, call slots, and dispatch of arrived calls to protobuf-c stubs.
 *
 * Concurrency design. Each worker thread waits only on its own completion
 * queue (grpc's advice for throughput). Every registered method has
 * `requests_per_method` requests outstanding on the queue of every worker that
 * takes calls; the moment one is answered a new one is posted, before the call
 * is handled, so accepting never waits for handling. A call's events all arrive on the queue it was
 * requested on, so a slot is handled by one worker thread at a time, except
 * for the explicitly thread-safe entry points in call.c (closure from the
 * repository's writer thread, stream sends from a publisher).
 *
 * Only the first workers' queues poll grpc's I/O (the pollers: one for up to
 * four threads). grpc's epoll engine lets one polling thread at a time wait in
 * epoll and hands that role to another polling thread each time it returns
 * with events: with every queue polling, every burst of calls cost a
 * cross-thread wake-up, the whole price of a second thread on a machine that
 * gives the server one core. The other workers' queues do not poll: grpc puts
 * a call there when the pollers' queues have no request left for its method,
 * and that worker handles it and sends its reply. With cfg.adaptive, those
 * workers take calls (keep requests outstanding) only while the scaler
 * (scaler.h) finds CPU for them; a worker that stops taking calls handles what
 * its remaining requests still catch, then sleeps.
 */
#include "transport_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include <sys/syscall.h>
#include <unistd.h>

#include "../escape.h"
#include "../log.h"
#include "auth.h"
#include "../ticker.h"
#include "scaler.h"
#include "utf8.h"

/* First arena block of a slot: enough for typical requests and replies. */
#define SLOT_ARENA_SIZE (16 * 1024)

int64_t aw__now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void aw_transport_config_defaults(aw_transport_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->threads = 1;
	cfg->requests_per_method = 2;
	cfg->max_receive_bytes = 4 * 1024 * 1024;
	cfg->stream_backlog = 1024;
}

/* ---- slots ---------------------------------------------------------------- */

/* Takes one from `count` (t->serving or t->slots_out) and wakes
 * aw_transport_shutdown when that was the last. The lock is taken after the
 * decrement, so a waiter that saw a count above 0 under the lock is already
 * waiting when this signals. */
static void count_down(aw_transport *t, atomic_llong *count)
{
	if (atomic_fetch_sub(count, 1) == 1 && atomic_load(&t->draining)) {
		pthread_mutex_lock(&t->drain_mu);
		pthread_cond_broadcast(&t->drained);
		pthread_mutex_unlock(&t->drain_mu);
	}
}

static aw_call *slot_new(aw_worker *w)
{
	aw_call *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->worker = w;
	c->op_request = (aw_op){AW_OP_REQUEST, c};
	c->op_close = (aw_op){AW_OP_CLOSE, c};
	c->op_send = (aw_op){AW_OP_SEND, c};
	c->op_recv = (aw_op){AW_OP_RECV, c};
	grpc_metadata_array_init(&c->metadata);
	grpc_call_details_init(&c->details);
	c->status_details = grpc_empty_slice();
	aw_arena_init(&c->arena, SLOT_ARENA_SIZE);
	pthread_mutex_init(&c->mu, NULL);
	{
		pthread_condattr_t attr;

		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&c->sent, &attr);
		pthread_condattr_destroy(&attr);
	}
	pthread_mutex_lock(&w->mu);
	c->next_all = w->all_calls;
	w->all_calls = c;
	pthread_mutex_unlock(&w->mu);
	return c;
}

static void slot_destroy(aw_call *c)
{
	grpc_metadata_array_destroy(&c->metadata);
	grpc_call_details_destroy(&c->details);
	grpc_slice_unref(c->status_details);
	if (c->has_trailer)
		grpc_slice_unref(c->trailer.value);
	aw_arena_close(&c->arena);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->sent);
	free(c->queue);
	free(c);
}

aw_call *aw__call_slot_get(aw_worker *w)
{
	aw_call *c;

	pthread_mutex_lock(&w->mu);
	c = w->free_calls;
	if (c != NULL)
		w->free_calls = c->next_free;
	pthread_mutex_unlock(&w->mu);
	if (c == NULL)
		c = slot_new(w);
	if (c != NULL)
		atomic_fetch_add(&w->t->slots_out, 1);
	return c;
}

void aw__call_recycle(aw_call *c)
{
	aw_worker *w = c->worker;
	aw_loopback *lb = c->loopback;

	if (c->call != NULL) {
		grpc_call_unref(c->call);
		c->call = NULL;
	}
	if (c->payload != NULL) {
		grpc_byte_buffer_destroy(c->payload);
		c->payload = NULL;
	}
	if (c->send_buf != NULL) {
		grpc_byte_buffer_destroy(c->send_buf);
		c->send_buf = NULL;
	}
	c->request = NULL;
	/* grpc fills these arrays anew for every request. */
	grpc_metadata_array_destroy(&c->metadata);
	grpc_metadata_array_init(&c->metadata);
	grpc_call_details_destroy(&c->details);
	grpc_call_details_init(&c->details);
	grpc_slice_unref(c->status_details);
	c->status_details = grpc_empty_slice();
	if (c->has_trailer) {
		grpc_slice_unref(c->trailer.value);
		c->has_trailer = 0;
	}
	c->aw_code = 0;
	c->detail = NULL; /* arena memory, released below */
	c->n_invalid = 0;
	c->finish_reason = NULL;
	c->request_id = NULL;
	while (c->q_len > 0) {
		grpc_slice_unref(c->queue[c->q_head]);
		c->q_head = (c->q_head + 1) % w->t->cfg.stream_backlog;
		c->q_len--;
	}
	aw_arena_reset(&c->arena);
	if (c->counted) {
		atomic_fetch_sub(&w->t->active, 1);
		c->counted = 0;
	}
	if (c->serving) {
		c->serving = 0;
		count_down(w->t, &w->t->serving);
	}
	c->method = NULL;
	c->close_cancelled = 0;
	atomic_store(&c->cancelled, 0);
	atomic_store(&c->close_armed, 0);
	c->status = GRPC_STATUS_OK;
	c->message[0] = '\0';
	c->q_head = 0;
	c->sending = c->md_sent = c->md_wanted = c->finishing = c->status_sent = c->ended = 0;
	c->on_done = NULL;
	c->on_done_arg = NULL;
	c->loopback = NULL;

	pthread_mutex_lock(&w->mu);
	c->next_free = w->free_calls;
	w->free_calls = c;
	pthread_mutex_unlock(&w->mu);
	count_down(w->t, &w->t->slots_out);
	/* Last: the slot may already serve another call. */
	if (lb != NULL)
		aw__loopback_recycled(lb);
}

grpc_call_error aw__call_start_batch(aw_call *c, const grpc_op *ops, size_t n, aw_op *tag)
{
	if (c->loopback != NULL)
		return aw__loopback_batch(c->loopback, ops, n, tag);
	return grpc_call_start_batch(c->call, ops, n, tag, NULL);
}

/* ---- requesting calls ----------------------------------------------------- */

/* Index in aw_worker.outstanding of `m` (NULL: unregistered paths). */
static size_t method_index(const aw_transport *t, const aw_method *m)
{
	return m != NULL ? (size_t)(m - t->methods) : t->n_methods;
}

/* Posts one request for `m` (NULL: any unregistered path) on worker `w`. */
static int request_one(aw_worker *w, const aw_method *m)
{
	aw_transport *t = w->t;
	aw_call *c = aw__call_slot_get(w);
	grpc_call_error e;

	if (c == NULL) {
		aw_log(AW_LOG_ERROR, "out of memory for a call slot; %s gets fewer accepts",
		       m != NULL ? m->path : "(unknown paths)");
		return AW_ENOMEM;
	}
	c->method = m;
	atomic_store(&c->refs, 1); /* the request itself */
	if (m != NULL) {
		e = grpc_server_request_registered_call(
			t->server, m->handle, &c->call, &c->deadline, &c->metadata,
			m->shape == AW_SHAPE_BIDI_STREAM ? NULL : &c->payload, w->cq, w->cq,
			&c->op_request);
	} else {
		e = grpc_server_request_call(t->server, &c->call, &c->details, &c->metadata, w->cq,
					     w->cq, &c->op_request);
	}
	if (e != GRPC_CALL_OK) {
		/* Only happens while shutting down. */
		atomic_store(&c->refs, 0);
		aw__call_recycle(c);
		return AW_EUNAVAIL;
	}
	atomic_fetch_add(&w->outstanding[method_index(t, m)], 1);
	return 0;
}

/* Brings worker `w`'s requests up to requests_per_method for every method. */
static void request_all(aw_worker *w)
{
	aw_transport *t = w->t;

	for (size_t j = 0; j <= t->n_methods; j++) {
		const aw_method *m = j < t->n_methods ? &t->methods[j] : NULL;

		while (atomic_load(&w->outstanding[j]) < t->cfg.requests_per_method) {
			if (request_one(w, m) != 0)
				break;
		}
	}
}

/* ---- handling arrived calls ----------------------------------------------- */

/*
 * Arms RECV_CLOSE_ON_SERVER, through which a cancel (client, deadline, broken
 * connection) becomes visible to aw_call_abandoned() while work waits. Streams
 * need it from the start; a unary call only when its work has to wait (see
 * aw_call_watch_cancel), else it goes in the reply's batch, saving a batch and
 * an event per call.
 */
void aw__call_arm_close(aw_call *c)
{
	grpc_op op;

	if (atomic_exchange(&c->close_armed, 1))
		return;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &c->close_cancelled;
	atomic_fetch_add(&c->refs, 1);
	if (aw__call_start_batch(c, &op, 1, &c->op_close) != GRPC_CALL_OK) {
		atomic_fetch_sub(&c->refs, 1);
		atomic_store(&c->cancelled, 1);
	}
}

/*
 * Makes the request bytes contiguous: in place when grpc holds them in one
 * uncompressed slice (the usual case), else copied into the arena.
 */
static int request_bytes(aw_call *c, const uint8_t **data, size_t *len)
{
	grpc_byte_buffer *bb = c->payload;
	grpc_byte_buffer_reader reader;
	grpc_slice s;
	size_t total, off = 0;
	uint8_t *buf;

	if (bb->type == GRPC_BB_RAW && bb->data.raw.compression == GRPC_COMPRESS_NONE &&
	    bb->data.raw.slice_buffer.count == 1) {
		/* Through a pointer, never a copy: a short slice holds its bytes
		 * inside the grpc_slice itself (inlined), so a copy's start pointer
		 * would point into this stack frame. */
		const grpc_slice *only = &bb->data.raw.slice_buffer.slices[0];
		*data = GRPC_SLICE_START_PTR(*only);
		*len = GRPC_SLICE_LENGTH(*only);
		return 0;
	}
	if (!grpc_byte_buffer_reader_init(&reader, bb))
		return AW_EINVAL;
	total = grpc_byte_buffer_length(reader.buffer_out);
	buf = aw_arena_alloc(&c->arena, total);
	if (buf == NULL) {
		grpc_byte_buffer_reader_destroy(&reader);
		return AW_ENOMEM;
	}
	while (grpc_byte_buffer_reader_next(&reader, &s)) {
		size_t n = GRPC_SLICE_LENGTH(s);
		if (n > total - off)
			n = total - off;
		memcpy(buf + off, GRPC_SLICE_START_PTR(s), n);
		off += n;
		grpc_slice_unref(s);
	}
	grpc_byte_buffer_reader_destroy(&reader);
	*data = buf;
	*len = off;
	return 0;
}

/*
 * Whether `msg`, or a message inside it, holds an unknown field numbered 0.
 * No encoder writes one (field numbers start at 1) and other implementations
 * refuse it on parse, but protobuf-c keeps it as an unknown field, and packs
 * it again where a request is echoed (reflection's original_request), making
 * a reply no client can parse. Found by fuzz_requests.
 */
static int has_field_zero(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	const char *base = (const char *)msg;

	for (unsigned i = 0; i < msg->n_unknown_fields; i++) {
		if (msg->unknown_fields[i].tag == 0)
			return 1;
	}
	for (unsigned f = 0; f < d->n_fields; f++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[f];

		if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + fd->quantifier_offset) != fd->id)
			continue;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + fd->quantifier_offset);
			ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(base + fd->offset);

			for (size_t k = 0; k < n; k++) {
				if (has_field_zero(arr[k]))
					return 1;
			}
		} else {
			const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(base + fd->offset);

			if (sub != NULL && has_field_zero(sub))
				return 1;
		}
	}
	return 0;
}

/*
 * Unpacks the payload into the call's arena and checks what protobuf-c does
 * not (field numbers start at 1; proto3 strings must be UTF-8). On failure the
 * call has been rejected and NULL is returned.
 */
static ProtobufCMessage *unpack_request(aw_call *c)
{
	const aw_method *m = c->method;
	const uint8_t *data;
	size_t len;
	ProtobufCMessage *msg;
	char field[128];
	aw_err err;
	int rc;

	if (c->payload == NULL) {
		aw_err_set(&err, AW_EINVAL, "request message missing");
		aw__call_reject(c, &err);
		return NULL;
	}
	rc = request_bytes(c, &data, &len);
	if (rc == 0) {
		msg = protobuf_c_message_unpack(m->input, aw_arena_allocator(&c->arena), len, data);
	} else {
		msg = NULL;
	}
	grpc_byte_buffer_destroy(c->payload);
	c->payload = NULL;
	if (msg == NULL || has_field_zero(msg)) {
		aw_err_set(&err, rc == AW_ENOMEM ? AW_ENOMEM : AW_EINVAL,
			   "request is not a valid %s message", m->input->name);
		aw__call_reject(c, &err);
		return NULL;
	}
	if (aw__pb_check_utf8(msg, field, sizeof(field)) != 0) {
		aw_err_set(&err, AW_EINVAL, "%s: not valid UTF-8", field);
		aw_err_add_violation(&err, field, "%s", err.msg);
		aw__call_reject(c, &err);
		return NULL;
	}
	return msg;
}

static void invoke(aw_call *c, const ProtobufCMessage *msg)
{
	const aw_method *m = c->method;

	c->request = msg;
	m->service->invoke(m->service, m->index, msg, aw__call_closure, c);
}

static int needs_token(const aw_transport *t, const aw_method *m)
{
	if (t->auth == NULL || (m->flags & (AW_SERVICE_PUBLIC | AW_SERVICE_ADMIN)))
		return 0;
	return !(m->flags & AW_SERVICE_INTROSPECTION) || t->auth_introspection;
}

void aw__call_arrived(aw_call *c)
{
	const aw_method *m = c->method;
	ProtobufCMessage *msg;
	gpr_timespec now;

	c->start_us = aw__now_us();
	if (m == NULL)
		c->deadline = c->details.deadline; /* unregistered calls report it there */
	if (gpr_time_cmp(c->deadline, gpr_inf_future(c->deadline.clock_type)) == 0) {
		c->deadline_us = INT64_MAX;
	} else {
		/* The deadline's clock may not be ours: carry over the time left. */
		now = gpr_now(c->deadline.clock_type);
		gpr_timespec left = gpr_time_sub(c->deadline, now);
		c->deadline_us = c->start_us + (int64_t)left.tv_sec * 1000000 + left.tv_nsec / 1000;
	}

	if (m == NULL) {
		char esc[AW_ESCAPE_BUF];
		char *path = grpc_slice_to_c_string(c->details.method);
		aw_err err;

		/* The path is the caller's: escaped like any caller-supplied text. */
		aw_err_set(&err, AW_EUNIMPL, "unknown method %s",
			   aw_escape(esc, sizeof(esc), path != NULL ? path : "?"));
		gpr_free(path);
		aw__call_reject(c, &err);
		return;
	}
	if (m->shape != AW_SHAPE_UNARY)
		aw__call_arm_close(c);
	/* Counted before draining is read, and aw_transport_shutdown sets draining
	 * before it reads the count: either this call is refused or shutdown waits
	 * for it. Health stays open so that probes see NOT_SERVING. */
	atomic_fetch_add(&c->worker->t->serving, 1);
	if (atomic_load(&c->worker->t->draining) && !(m->flags & AW_SERVICE_PUBLIC)) {
		aw_err err;

		count_down(c->worker->t, &c->worker->t->serving);
		aw_err_set(&err, AW_EUNAVAIL, "the server is shutting down");
		aw__call_reject(c, &err);
		return;
	}
	c->serving = 1;
	if (!(m->flags & AW_SERVICE_PUBLIC)) {
		aw_transport *t = c->worker->t;
		long long now_active = atomic_fetch_add(&t->active, 1) + 1;

		c->counted = 1;
		if (t->cfg.max_calls > 0 && now_active > t->cfg.max_calls) {
			aw_err err;

			aw_err_set(&err, AW_EOVERLOAD, "server overloaded: %lld calls in progress (limit %lld)",
				   now_active - 1, (long long)t->cfg.max_calls);
			aw__call_reject(c, &err);
			return;
		}
	}
	if (c->deadline_us < c->start_us) {
		/* It waited in grpc's queues past its deadline: nobody wants the work. */
		aw_err err;

		aw_err_set(&err, AW_ETIMEDOUT, "deadline exceeded before the call ran");
		aw__call_reject(c, &err);
		return;
	}
	if (needs_token(c->worker->t, m)) {
		aw_err err;
		if (aw_auth_check(c->worker->t->auth, &c->metadata, &err) != 0) {
			aw__call_reject(c, &err);
			return;
		}
	}
	if (m->flags & AW_SERVICE_ADMIN) {
		/* Every refusal is PERMISSION_DENIED: whoever lacks an admin token
		 * may not do this, whatever else it holds. */
		aw_err err, why;
		if (c->worker->t->admin_auth == NULL) {
			aw_err_set(&err, AW_EPERM, "the admin service is disabled: the server was "
				   "started without --admin-tokens-file");
			aw__call_reject(c, &err);
			return;
		}
		if (aw_auth_check(c->worker->t->admin_auth, &c->metadata, &why) != 0) {
			aw_err_set(&err, AW_EPERM, "admin token required: %.200s", why.msg);
			aw__call_reject(c, &err);
			return;
		}
	}
	if (m->shape == AW_SHAPE_BIDI_STREAM) {
		aw__call_post_recv(c);
		return;
	}
	msg = unpack_request(c);
	if (msg != NULL)
		invoke(c, msg);
}

void aw__call_post_recv(aw_call *c)
{
	grpc_op op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->payload;
	atomic_fetch_add(&c->refs, 1);
	if (aw__call_start_batch(c, &op, 1, &c->op_recv) != GRPC_CALL_OK) {
		atomic_fetch_sub(&c->refs, 1);
		aw_call_finish(c, GRPC_STATUS_INTERNAL, "cannot read the next request");
	}
}

/* The next request of a bidirectional call arrived (or the client is done). */
static void on_recv(aw_call *c, int success)
{
	ProtobufCMessage *msg;

	if (!success) {
		/* The call broke; RECV_CLOSE_ON_SERVER ends the stream. */
	} else if (c->payload == NULL) {
		/* The client half-closed: every request has been answered. */
		aw_call_finish(c, GRPC_STATUS_OK, NULL);
	} else {
		msg = unpack_request(c);
		if (msg != NULL) {
			invoke(c, msg);
			/* The stub answered synchronously (call.h), so the request and reply
			 * are done with; reuse the arena for the next request. */
			aw_arena_reset(&c->arena);
			pthread_mutex_lock(&c->mu);
			int more = !c->finishing && !c->ended;
			pthread_mutex_unlock(&c->mu);
			if (more)
				aw__call_post_recv(c);
		}
	}
	aw_call_unref(c);
}

static void on_request(aw_worker *w, aw_call *c, int success)
{
	atomic_fetch_sub(&w->outstanding[method_index(w->t, c->method)], 1);
	if (!success) {
		/* The server is shutting down: this request will never be answered. */
		aw_call_unref(c);
		return;
	}
	/* Replace the request before handling the call, so accepts never wait. */
	if (atomic_load(&w->taking))
		request_one(w, c->method);
	aw__call_arrived(c);
}

void aw__call_event(aw_op *op, int success)
{
	switch (op->kind) {
	case AW_OP_REQUEST:
		on_request(op->call->worker, op->call, success);
		break;
	case AW_OP_CLOSE:
		aw__call_on_close(op->call);
		break;
	case AW_OP_SEND:
		aw__call_on_send(op->call, success);
		break;
	case AW_OP_RECV:
		on_recv(op->call, success);
		break;
	}
}

static void *worker_main(void *arg)
{
	aw_worker *w = arg;
	const aw_transport_config *cfg = &w->t->cfg;

	atomic_store(&w->tid, (int)syscall(SYS_gettid));
	if (cfg->thread_start != NULL)
		cfg->thread_start(cfg->hook_arg);
	for (;;) {
		/* With deferred work waiting, only look for what is ready now; run the
		 * work when nothing is. */
		int deferred = cfg->has_deferred != NULL && cfg->has_deferred(cfg->hook_arg);
		grpc_event ev = grpc_completion_queue_next(
			w->cq,
			deferred ? gpr_time_0(GPR_CLOCK_MONOTONIC) : gpr_inf_future(GPR_CLOCK_REALTIME),
			NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT) {
			cfg->run_deferred(cfg->hook_arg);
			continue;
		}
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE)
			aw__call_event(ev.tag, ev.success);
	}
	return NULL;
}

/* ---- the scaler (scaler.h) ------------------------------------------------- */

#define SCALER_PERIOD_MS 250

/* Worker `w` starts (on) or stops taking calls. */
static void set_taking(aw_worker *w, int on)
{
	atomic_store(&w->taking, on);
	atomic_fetch_add(&w->t->taking, on ? 1 : -1);
	if (on)
		request_all(w);
}

/* One reading of what the scaler needs: each worker's run and wait time, the
 * idle time of the process's CPUs, the calls answered. */
typedef struct scaler_reading {
	int64_t at_us;
	uint64_t run[AW_MAX_THREADS], wait[AW_MAX_THREADS];
	uint64_t idle, answered;
} scaler_reading;

/* Returns -1 when the scheduler does not say. */
static int scaler_read(aw_transport *t, scaler_reading *r)
{
	r->at_us = aw__now_us();
	r->answered = 0;
	for (int i = 0; i < t->cfg.threads; i++) {
		aw_worker *w = &t->workers[i];
		int tid = atomic_load(&w->tid);

		if (tid == 0 || aw_scaler_read_thread(tid, &r->run[i], &r->wait[i]) != 0)
			return -1;
		r->answered += atomic_load_explicit(&w->answered, memory_order_relaxed);
	}
	return aw_scaler_read_idle(&r->idle);
}

/* The scaler between its periods. */
typedef struct scaler_state {
	aw_transport *t;
	aw_scaler sc;
	scaler_reading r[2]; /* the last reading, and the one before */
	int cur;             /* r[cur] is the last */
} scaler_state;

/* One period of the scaler: reads, decides, applies. */
static void scaler_tick(void *arg)
{
	scaler_state *st = arg;
	aw_transport *t = st->t;
	aw_scaler *sc = &st->sc;
	const scaler_reading *a = &st->r[st->cur], *b = &st->r[!st->cur];
	aw_scaler_load load[AW_MAX_THREADS];
	int before = sc->active;
	double span_ns;

	if (scaler_read(t, &st->r[!st->cur]) != 0)
		return;
	span_ns = (double)(b->at_us - a->at_us) * 1000.0;
	for (int i = 0; i < sc->active; i++) {
		load[i].running = (double)(b->run[i] - a->run[i]) / span_ns;
		load[i].waiting = (double)(b->wait[i] - a->wait[i]) / span_ns;
	}
	aw_scaler_decide(sc, load, (double)(b->idle - a->idle) / span_ns,
			 (double)(b->answered - a->answered) * 1e9 / span_ns, b->at_us);
	if (sc->active != before)
		aw_log(AW_LOG_DEBUG, "transport: %d of %d threads take calls (%s)", sc->active,
		       t->cfg.threads, sc->why);
	while (sc->active > before)
		set_taking(&t->workers[before++], 1);
	while (sc->active < before)
		set_taking(&t->workers[--before], 0);
	st->cur = !st->cur;
}

/* Starts the scaler; without the scheduler's figures every worker takes calls
 * instead. */
static int scaler_start(aw_transport *t, aw_err *err)
{
	scaler_state *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the transport's scaler");
	st->t = t;
	aw_scaler_init(&st->sc, t->pollers, t->cfg.threads);
	if (scaler_read(t, &st->r[0]) != 0) {
		aw_log(AW_LOG_INFO, "no scheduler statistics (/proc/self/task/*/schedstat): all %d "
		       "threads take calls", t->cfg.threads);
		for (int i = t->pollers; i < t->cfg.threads; i++)
			set_taking(&t->workers[i], 1);
		free(st);
		return 0;
	}
	t->scaler_state = st;
	return aw_ticker_start(&t->scaler, "transport's scaler", SCALER_PERIOD_MS, scaler_tick, st,
			       err);
}

/* Stops the scaler, if it runs. */
static void scaler_stop(aw_transport *t)
{
	aw_ticker_stop(t->scaler);
	t->scaler = NULL;
	free(t->scaler_state);
	t->scaler_state = NULL;
}

int aw_transport_taking_threads(aw_transport *t)
{
	return atomic_load(&t->taking);
}

/* ---- lifecycle -------------------------------------------------------------- */

/* Appends an integer channel argument, clamped to int. */
static void add_int_arg(grpc_channel_args *a, const char *key, int64_t value)
{
	grpc_arg *arg = &a->args[a->num_args++];

	arg->type = GRPC_ARG_INTEGER;
	arg->key = (char *)key;
	arg->value.integer = value > INT32_MAX ? INT32_MAX : value < INT32_MIN ? INT32_MIN : (int)value;
}

int64_t aw_transport_active_calls(aw_transport *t)
{
	return atomic_load(&t->active);
}

int aw_transport_new(aw_transport **out, const aw_transport_config *cfg, aw_err *err)
{
	aw_transport *t;
	grpc_arg args[12];
	grpc_channel_args chargs;

	*out = NULL;
	if (cfg->threads < 1 || cfg->threads > AW_MAX_THREADS || cfg->requests_per_method < 1 ||
	    cfg->stream_backlog < 1 ||
	    cfg->max_receive_bytes < 1 || cfg->max_receive_bytes > INT32_MAX ||
	    cfg->max_send_bytes < 0 || cfg->max_send_bytes > INT32_MAX ||
	    cfg->descriptors == NULL)
		return aw_err_set(err, AW_EINVAL, "invalid transport configuration");
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the transport");
	t->cfg = *cfg;
	t->pollers = (cfg->threads + 3) / 4;
	pthread_mutex_init(&t->drain_mu, NULL);
	{
		pthread_condattr_t attr;

		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&t->drained, &attr);
		pthread_condattr_destroy(&attr);
	}
	grpc_init();
	t->grpc_initialised = 1;

	chargs.num_args = 0;
	chargs.args = args;
	add_int_arg(&chargs, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, cfg->max_receive_bytes);
	add_int_arg(&chargs, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
		    cfg->max_send_bytes > 0 ? cfg->max_send_bytes : -1);
	if (cfg->max_streams_per_conn > 0)
		add_int_arg(&chargs, GRPC_ARG_MAX_CONCURRENT_STREAMS, cfg->max_streams_per_conn);
	if (cfg->keepalive_time_ms > 0) {
		add_int_arg(&chargs, GRPC_ARG_KEEPALIVE_TIME_MS, cfg->keepalive_time_ms);
		add_int_arg(&chargs, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, cfg->keepalive_timeout_ms);
	}
	if (cfg->max_connection_idle_ms > 0)
		add_int_arg(&chargs, GRPC_ARG_MAX_CONNECTION_IDLE_MS, cfg->max_connection_idle_ms);
	if (cfg->max_connection_age_ms > 0) {
		add_int_arg(&chargs, GRPC_ARG_MAX_CONNECTION_AGE_MS, cfg->max_connection_age_ms);
		add_int_arg(&chargs, GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
			    cfg->max_connection_age_grace_ms);
	}
	if (cfg->max_memory_bytes > 0) {
		t->quota = grpc_resource_quota_create("aniworld-server");
		grpc_resource_quota_resize(t->quota, (size_t)cfg->max_memory_bytes);
		args[chargs.num_args].type = GRPC_ARG_POINTER;
		args[chargs.num_args].key = (char *)GRPC_ARG_RESOURCE_QUOTA;
		args[chargs.num_args].value.pointer.p = t->quota;
		args[chargs.num_args].value.pointer.vtable = grpc_resource_quota_arg_vtable();
		chargs.num_args++;
	}
	t->server = grpc_server_create(&chargs, NULL);
	t->workers = calloc((size_t)cfg->threads, sizeof(*t->workers));
	if (t->server == NULL || t->workers == NULL) {
		aw_transport_free(t);
		return aw_err_set(err, AW_ENOMEM, "out of memory for the transport");
	}
	for (int i = 0; i < cfg->threads; i++) {
		aw_worker *w = &t->workers[i];
		grpc_completion_queue_attributes attr = {
			.version = 1,
			.cq_completion_type = GRPC_CQ_NEXT,
			.cq_polling_type = i < t->pollers ? GRPC_CQ_DEFAULT_POLLING : GRPC_CQ_NON_POLLING,
		};

		w->t = t;
		w->id = i;
		w->polling = i < t->pollers;
		pthread_mutex_init(&w->mu, NULL);
		w->cq = grpc_completion_queue_create(grpc_completion_queue_factory_lookup(&attr), &attr,
						     NULL);
		grpc_server_register_completion_queue(t->server, w->cq, NULL);
	}
	t->shutdown_cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(t->server, t->shutdown_cq, NULL);
	*out = t;
	return 0;
}

int aw_transport_add_service(aw_transport *t, ProtobufCService *service, unsigned flags,
			     aw_err *err)
{
	const ProtobufCServiceDescriptor *sd = service->descriptor;

	if (t->started)
		return aw_err_set(err, AW_EINVAL, "services must be added before start");
	for (unsigned i = 0; i < sd->n_methods; i++) {
		const ProtobufCMethodDescriptor *md = &sd->methods[i];
		char full[256], path[256];
		int cs, ss;
		aw_method *m;

		snprintf(full, sizeof(full), "%s.%s", sd->name, md->name);
		snprintf(path, sizeof(path), "/%s/%s", sd->name, md->name);
		if (aw_descpool_method_shape(t->cfg.descriptors, full, &cs, &ss) != 0)
			return aw_err_set(err, AW_EINVAL, "%s is not in the served descriptor set",
					  full);
		if (cs && !ss)
			return aw_err_set(err, AW_EINVAL, "%s: client-streaming methods are not supported",
					  full);
		for (size_t j = 0; j < t->n_methods; j++) {
			if (strcmp(t->methods[j].path, path) == 0)
				return aw_err_set(err, AW_EINVAL, "%s is already served", path);
		}
		if (t->n_methods == t->cap_methods) {
			size_t cap = t->cap_methods ? t->cap_methods * 2 : 32;
			aw_method *ms = realloc(t->methods, cap * sizeof(*ms));
			if (ms == NULL)
				return aw_err_set(err, AW_ENOMEM, "out of memory adding %s", sd->name);
			t->methods = ms;
			t->cap_methods = cap;
		}
		m = &t->methods[t->n_methods];
		memset(m, 0, sizeof(*m));
		m->path = strdup(path);
		if (m->path == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory adding %s", sd->name);
		m->service = service;
		m->index = i;
		m->input = md->input;
		m->shape = cs ? AW_SHAPE_BIDI_STREAM : ss ? AW_SHAPE_SERVER_STREAM : AW_SHAPE_UNARY;
		m->flags = flags;
		m->stats = calloc(1, sizeof(*m->stats));
		if (m->stats == NULL) {
			free(m->path);
			return aw_err_set(err, AW_ENOMEM, "out of memory adding %s", sd->name);
		}
		m->handle = grpc_server_register_method(
			t->server, m->path, NULL,
			m->shape == AW_SHAPE_BIDI_STREAM ? GRPC_SRM_PAYLOAD_NONE
							 : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
			0);
		if (m->handle == NULL) {
			free(m->path);
			free(m->stats);
			return aw_err_set(err, AW_EINVAL, "grpc refused to register %s", path);
		}
		t->n_methods++;
	}
	return 0;
}

int aw_transport_listen(aw_transport *t, const char *addr, grpc_server_credentials *creds,
			int *port, aw_err *err)
{
	grpc_server_credentials *own = NULL;
	int plaintext = creds == NULL;
	int p;

	if (t->started)
		return aw_err_set(err, AW_EINVAL, "listen must come before start");
	if (plaintext)
		creds = own = grpc_insecure_server_credentials_create();
	p = grpc_server_add_http2_port(t->server, addr, creds);
	if (own != NULL)
		grpc_server_credentials_release(own);
	if (p == 0)
		return aw_err_set(err, AW_EUNAVAIL, "cannot listen on %s (%s)", addr,
				  plaintext ? "in use, or not an address of this host?"
					    : "in use, not local, or a bad TLS certificate or key?");
	if (port != NULL)
		*port = p;
	t->listening = 1;
	return 0;
}

int aw_transport_start(aw_transport *t, aw_err *err)
{
	if (t->started)
		return 0;
	if (!t->listening)
		return aw_err_set(err, AW_EINVAL, "nothing to listen on");
	for (int i = 0; i < t->cfg.threads; i++) {
		aw_worker *w = &t->workers[i];

		w->outstanding = calloc(t->n_methods + 1, sizeof(*w->outstanding));
		if (w->outstanding == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory for the transport");
	}
	grpc_server_start(t->server);
	t->started = 1;
	for (int i = 0; i < t->cfg.threads; i++) {
		aw_worker *w = &t->workers[i];

		if (w->polling || !t->cfg.adaptive)
			set_taking(w, 1);
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			aw_transport_shutdown(t, 0);
			return aw_err_set(err, AW_ENOMEM, "cannot start transport thread %d", i);
		}
		w->started = 1;
	}
	if (t->cfg.adaptive && t->cfg.threads > t->pollers) {
		int rc = scaler_start(t, err);

		if (rc != 0) {
			aw_transport_shutdown(t, 0);
			return rc;
		}
	}
	return 0;
}

void aw_transport_set_auth(aw_transport *t, struct aw_auth *auth, int introspection)
{
	t->auth = auth;
	t->auth_introspection = introspection;
}

void aw_transport_set_admin_auth(aw_transport *t, struct aw_auth *admin)
{
	t->admin_auth = admin;
}

/*
 * Waits until `count` (t->serving or t->slots_out) is 0, or until
 * `deadline_us` (CLOCK_MONOTONIC). Returns what is left of it.
 */
static long long wait_zero(aw_transport *t, atomic_llong *count, int64_t deadline_us)
{
	struct timespec until = {.tv_sec = deadline_us / 1000000,
				 .tv_nsec = (long)(deadline_us % 1000000) * 1000};
	long long left;

	pthread_mutex_lock(&t->drain_mu);
	while ((left = atomic_load(count)) > 0) {
		if (pthread_cond_timedwait(&t->drained, &t->drain_mu, &until) == ETIMEDOUT) {
			left = atomic_load(count);
			break;
		}
	}
	pthread_mutex_unlock(&t->drain_mu);
	return left;
}

/* Once the calls accepted before shutdown are over, the transport goes on
 * refusing calls itself this long: a client answered at the last moment sends
 * its next call meanwhile and learns of the shutdown from a refusal rather
 * than from grpc's shutdown (below). Many round trips in a cluster, and room
 * for a client thread that is not scheduled at once. */
#define LINGER_MS 250
/* How long grpc's server may take to close the connections once it shuts
 * down: the GOAWAY, a ping round trip and the close. Past it, a call is stuck
 * in grpc (below) and the connections are closed under it. */
#define CLOSE_MS 1000
/* How long shutdown waits for the workers to hand back every call slot once
 * grpc's server has shut down; in practice a few milliseconds. */
#define SLOTS_BACK_MS 5000

/* Waits until `until_us`, or `deadline_us` if that comes first
 * (CLOCK_MONOTONIC). */
static void wait_until(aw_transport *t, int64_t until_us, int64_t deadline_us)
{
	int64_t end = until_us < deadline_us ? until_us : deadline_us;
	struct timespec ts = {.tv_sec = end / 1000000, .tv_nsec = (long)(end % 1000000) * 1000};

	pthread_mutex_lock(&t->drain_mu);
	while (aw__now_us() < end)
		pthread_cond_timedwait(&t->drained, &t->drain_mu, &ts);
	pthread_mutex_unlock(&t->drain_mu);
}

/*
 * Shutdown is ours first and grpc's last, because grpc 1.51's own shutdown
 * mistreats the calls that arrive while it runs (issue 15). Once
 * grpc_server_shutdown_and_notify has begun, grpc cancels every call that
 * arrives before its client has read the GOAWAY (the client sees CANCELLED,
 * which clients do not retry), and a call that slips past grpc's shutdown
 * check just as the outstanding requests are failed stays in grpc's queue of
 * calls waiting for a request, which nobody will post: neither answered nor
 * refused, it holds its connection, and so the shutdown, open until its
 * client's deadline.
 *
 * So: (1) from now on the transport refuses every new call itself (health
 * aside), with UNAVAILABLE at once, and keeps its requests outstanding so that
 * grpc hands it every call that arrives; (2) it waits, for up to the grace,
 * until the calls it accepted before are over, answered in their normal time,
 * and goes on refusing for LINGER_MS more; (3) it shuts grpc's server down,
 * which sends GOAWAY and closes each connection gracefully; (4) should a
 * connection stay open past CLOSE_MS, it holds nothing of ours, only a call
 * stuck in grpc as above, and the connections are closed under it
 * (grpc_server_cancel_all_calls): its client sees UNAVAILABLE then instead of
 * waiting for its deadline.
 *
 * Closing the connections at once instead of (3) would spare grpc's shutdown
 * any arriving call, but grpc completes a reply's batch before the reply has
 * left for the socket, and an abrupt close loses what is still on its way:
 * tried so, a write answered OK reached its client as UNAVAILABLE.
 */
void aw_transport_shutdown(aw_transport *t, int64_t grace_ms)
{
	int64_t grace_us = (grace_ms > 0 ? grace_ms : 0) * 1000;
	int64_t deadline_us;
	int all_running = t != NULL && t->workers != NULL;
	grpc_event ev;
	long long left;

	if (t == NULL || t->stopped || t->server == NULL)
		return;
	t->stopped = 1;
	scaler_stop(t);
	if (t->started) {
		atomic_store(&t->draining, 1);
		deadline_us = aw__now_us() + grace_us;
		left = wait_zero(t, &t->serving, deadline_us);
		if (left == 0)
			wait_until(t, aw__now_us() + LINGER_MS * 1000, deadline_us);
		grpc_server_shutdown_and_notify(t->server, t->shutdown_cq, t);
		if (left > 0) {
			aw_log(AW_LOG_WARN, "shutdown grace of %" PRId64 " ms over: cancelling %lld call%s",
			       grace_ms, left, left == 1 ? "" : "s");
			grpc_server_cancel_all_calls(t->server);
		}
		ev = grpc_completion_queue_next(
			t->shutdown_cq,
			gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				     gpr_time_from_millis(CLOSE_MS, GPR_TIMESPAN)),
			NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT) {
			aw_log(AW_LOG_WARN, "shutdown: connections still open %d ms after GOAWAY: "
			       "closing them", CLOSE_MS);
			grpc_server_cancel_all_calls(t->server);
			grpc_completion_queue_next(t->shutdown_cq, gpr_inf_future(GPR_CLOCK_REALTIME),
						   NULL);
		}
		/* The workers may still hold events of calls refused meanwhile (with a
		 * batch still to start) and of requests grpc failed; neither may meet a
		 * destroyed server or a queue shut down (grpc aborts on a batch started
		 * there). Every slot comes back once they are handled. A transport whose
		 * start failed half-way has queues nobody polls: nothing to wait for. */
		for (int i = 0; all_running && i < t->cfg.threads; i++)
			all_running = t->workers[i].started;
		if (all_running) {
			left = wait_zero(t, &t->slots_out, aw__now_us() + SLOTS_BACK_MS * 1000);
			if (left > 0)
				aw_log(AW_LOG_WARN, "shutdown: %lld call slot%s still in use", left,
				       left == 1 ? "" : "s");
		}
	}
	grpc_server_destroy(t->server);
	t->server = NULL;
	for (int i = 0; t->workers != NULL && i < t->cfg.threads; i++) {
		aw_worker *w = &t->workers[i];

		grpc_completion_queue_shutdown(w->cq);
		if (w->started) {
			pthread_join(w->thread, NULL);
			w->started = 0;
		} else {
			while (grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
				       .type != GRPC_QUEUE_SHUTDOWN) {
			}
		}
	}
	if (t->shutdown_cq != NULL) {
		grpc_completion_queue_shutdown(t->shutdown_cq);
		while (grpc_completion_queue_next(t->shutdown_cq, gpr_inf_future(GPR_CLOCK_REALTIME),
						  NULL)
			       .type != GRPC_QUEUE_SHUTDOWN) {
		}
	}
}

void aw_transport_free(aw_transport *t)
{
	if (t == NULL)
		return;
	if (t->server != NULL) {
		if (!t->stopped) {
			aw_transport_shutdown(t, 0);
		} else {
			grpc_server_destroy(t->server);
			t->server = NULL;
		}
	}
	if (t->workers != NULL) {
		for (int i = 0; i < t->cfg.threads; i++) {
			aw_worker *w = &t->workers[i];
			aw_call *c = w->all_calls;

			while (c != NULL) {
				aw_call *next = c->next_all;
				slot_destroy(c);
				c = next;
			}
			if (w->cq != NULL)
				grpc_completion_queue_destroy(w->cq);
			free(w->outstanding);
			pthread_mutex_destroy(&w->mu);
		}
		free(t->workers);
	}
	if (t->shutdown_cq != NULL)
		grpc_completion_queue_destroy(t->shutdown_cq);
	for (size_t j = 0; j < t->n_methods; j++) {
		free(t->methods[j].path);
		free(t->methods[j].stats);
	}
	free(t->methods);
	if (t->quota != NULL)
		grpc_resource_quota_unref(t->quota);
	if (t->grpc_initialised)
		grpc_shutdown();
	pthread_cond_destroy(&t->drained);
	pthread_mutex_destroy(&t->drain_mu);

	free(t);
}
