/*
 * Server-streaming calls: one grpc call and one completion queue per stream,
 * read one message at a time.
 *
 * Three batches are ever in flight on the call, each with its own tag: the
 * start (send the request, receive the headers), the final status (posted at
 * once, it completes when the stream is over) and at most one RECV_MESSAGE.
 * A RECV_MESSAGE that outlives a timed-out aw_watch_next() stays posted and is
 * waited for by the next call, so no message is ever lost or read twice.
 */
#include "client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

/* The tag of each batch is the address of one of the tag_* fields. */
struct aw_watch {
	const ProtobufCMessageDescriptor *output; /* type of the messages */
	grpc_completion_queue *cq;                /* this stream's events only */
	grpc_call *call;
	grpc_metadata_array initial_md, trailing_md;
	grpc_byte_buffer *send_buf;   /* the request, until the start completes */
	aw__call_metadata meta;       /* sent with the request; kept as long */
	grpc_byte_buffer *recv_buf;   /* filled by the RECV_MESSAGE in flight */
	grpc_status_code status;      /* filled by RECV_STATUS_ON_CLIENT */
	grpc_slice details;
	int start_pending;            /* the start batch is in flight */
	int recv_pending;             /* a RECV_MESSAGE is in flight */
	int status_pending;           /* RECV_STATUS_ON_CLIENT is in flight */
	int status_done;              /* the final status has arrived */
	int ended;                    /* a read came back empty: no more messages */
	int final_rc;                 /* what aw_watch_next returns once ended */
	int ended_ok;                 /* the final status was OK */
	aw_err final;                 /* and the error it fills in */
	char tag_start, tag_message, tag_status;
};

static gpr_timespec deadline_after(int64_t ms)
{
	if (ms < 0)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/*
 * Waits for the next event of the stream until `deadline` and books it: which
 * batch completed. Returns its tag, or NULL on timeout.
 */
static void *next_event(aw_watch *w, gpr_timespec deadline)
{
	grpc_event ev = grpc_completion_queue_next(w->cq, deadline, NULL);

	if (ev.type != GRPC_OP_COMPLETE)
		return NULL;
	if (ev.tag == &w->tag_start) {
		w->start_pending = 0;
		grpc_byte_buffer_destroy(w->send_buf);
		w->send_buf = NULL;
	} else if (ev.tag == &w->tag_message) {
		w->recv_pending = 0;
		if (w->recv_buf == NULL)
			w->ended = 1; /* end of stream, or the call failed */
	} else if (ev.tag == &w->tag_status) {
		/* Messages may still be buffered: the stream ends when a read
		 * comes back empty. */
		w->status_pending = 0;
		w->status_done = 1;
	}
	return ev.tag;
}

/* Once the stream is over: the final status as the AW_E* code to return. */
static void set_final(aw_watch *w)
{
	char *text = grpc_slice_to_c_string(w->details);
	const char *msg = text != NULL ? text : "";

	if (w->status == GRPC_STATUS_OK) {
		w->ended_ok = 1;
		w->final_rc = aw_err_set(&w->final, AW_EUNAVAIL, "the server ended the stream");
	} else {
		w->final_rc = aw__client_status_error((int)w->status, msg, &w->trailing_md, &w->final);
	}
	gpr_free(text);
}

/* Copies the stream's final error into `err` (may be NULL); returns its code. */
static int final_error(const aw_watch *w, aw_err *err)
{
	if (err != NULL)
		*err = w->final;
	return w->final_rc;
}

/* Waits, without limit, for every batch in flight; the call must be over or
 * cancelled. */
static void drain(aw_watch *w)
{
	while (w->start_pending || w->recv_pending || w->status_pending) {
		if (next_event(w, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == &w->tag_message &&
		    w->recv_buf != NULL) {
			grpc_byte_buffer_destroy(w->recv_buf);
			w->recv_buf = NULL;
		}
	}
}

static void watch_destroy(aw_watch *w)
{
	if (w->call != NULL) {
		drain(w);
		grpc_call_unref(w->call);
	}
	if (w->send_buf != NULL)
		grpc_byte_buffer_destroy(w->send_buf);
	aw__client_metadata_free(&w->meta);
	grpc_metadata_array_destroy(&w->initial_md);
	grpc_metadata_array_destroy(&w->trailing_md);
	grpc_slice_unref(w->details);
	if (w->cq != NULL) {
		grpc_completion_queue_shutdown(w->cq);
		gpr_timespec forever = gpr_inf_future(GPR_CLOCK_MONOTONIC);

		while (grpc_completion_queue_next(w->cq, forever, NULL).type !=
		       GRPC_QUEUE_SHUTDOWN) {
		}
		grpc_completion_queue_destroy(w->cq);
	}
	free(w);
}

/* Posts the start batch and the status batch. */
static int start_batches(aw_watch *w, aw__call_metadata *meta, aw_err *err)
{
	grpc_op ops[4];

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = meta->n;
	ops[0].data.send_initial_metadata.metadata = meta->n > 0 ? meta->md : NULL;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = w->send_buf;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &w->initial_md;
	if (grpc_call_start_batch(w->call, ops, 4, &w->tag_start, NULL) != GRPC_CALL_OK)
		return aw_err_set(err, AW_EINTERNAL, "cannot start the stream");
	w->start_pending = 1;

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &w->trailing_md;
	ops[0].data.recv_status_on_client.status = &w->status;
	ops[0].data.recv_status_on_client.status_details = &w->details;
	if (grpc_call_start_batch(w->call, ops, 1, &w->tag_status, NULL) != GRPC_CALL_OK) {
		grpc_call_cancel(w->call, NULL);
		return aw_err_set(err, AW_EINTERNAL, "cannot start the stream");
	}
	w->status_pending = 1;
	return 0;
}

int aw__client_watch(aw_client *c, const ProtobufCServiceDescriptor *svc, const char *method,
		     const ProtobufCMessage *req, aw_watch **out, aw_err *err,
		     const aw_call_opts *opts)
{
	const ProtobufCMethodDescriptor *md;
	aw_watch *w;
	grpc_slice payload;
	void *handle;
	int rc;

	*out = NULL;
	if (c == NULL || req == NULL)
		return aw_err_set(err, AW_EINVAL, "client and request are required");
	if (aw__client_find_method(c, svc, method, &handle, &md) != 0)
		return aw_err_set(err, AW_EINVAL, "unknown method %s.%s", svc->name, method);
	if (req->descriptor != md->input)
		return aw_err_set(err, AW_EINVAL, "%s.%s takes a %s, not a %s", svc->name, method,
				  md->input->name, req->descriptor->name);
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for a stream");
	w->output = md->output;
	w->details = grpc_empty_slice();
	grpc_metadata_array_init(&w->initial_md);
	grpc_metadata_array_init(&w->trailing_md);
	w->cq = grpc_completion_queue_create_for_next(NULL);

	size_t n = protobuf_c_message_get_packed_size(req);
	payload = grpc_slice_malloc(n);
	protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(payload));
	w->send_buf = grpc_raw_byte_buffer_create(&payload, 1);
	grpc_slice_unref(payload);

	/* No deadline: a watch lasts until cancelled. */
	w->call = grpc_channel_create_registered_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
						      w->cq, handle,
						      gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
	if (w->call == NULL) {
		watch_destroy(w);
		return aw_err_set(err, AW_ENOMEM, "cannot create the stream");
	}
	rc = aw__client_metadata(c, opts, &w->meta, err);
	if (rc == 0)
		rc = start_batches(w, &w->meta, err);
	if (rc != 0) {
		watch_destroy(w);
		return rc;
	}

	/* Wait for the server's headers, which it sends once the watch is in place;
	 * but only so long. */
	gpr_timespec deadline = aw__client_attempt_deadline(c, opts);
	while (w->start_pending && next_event(w, deadline) != NULL) {
	}
	if (w->start_pending) {
		grpc_call_cancel(w->call, NULL);
		watch_destroy(w);
		return aw_err_set(err, AW_ETIMEDOUT,
				  "the server did not accept the stream within %lld ms",
				  (long long)c->opts.deadline_ms);
	}
	/* A refusal or failure that came with the headers. */
	while (!w->status_done && next_event(w, gpr_time_0(GPR_CLOCK_MONOTONIC)) != NULL) {
	}
	if (w->status_done) {
		set_final(w);
		rc = final_error(w, err);
		watch_destroy(w);
		return rc;
	}
	aw_err_clear(err);
	*out = w;
	return 0;
}

int aw__watch_read(aw_watch *w, ProtobufCMessage **event, int64_t timeout_ms, aw_err *err)
{
	gpr_timespec deadline = deadline_after(timeout_ms);

	*event = NULL;
	if (w == NULL)
		return aw_err_set(err, AW_EINVAL, "no stream");
	while (!w->ended) {
		if (!w->recv_pending) {
			grpc_op op;

			memset(&op, 0, sizeof(op));
			op.op = GRPC_OP_RECV_MESSAGE;
			op.data.recv_message.recv_message = &w->recv_buf;
			if (grpc_call_start_batch(w->call, &op, 1, &w->tag_message, NULL) !=
			    GRPC_CALL_OK) {
				grpc_call_cancel(w->call, NULL);
				w->ended = 1;
				break;
			}
			w->recv_pending = 1;
		}
		void *tag = next_event(w, deadline);
		if (tag == NULL)
			return aw_err_set(err, AW_ETIMEDOUT, "no event within %lld ms",
					  (long long)timeout_ms);
		if (tag == &w->tag_message && w->recv_buf != NULL) {
			size_t len = 0;
			uint8_t *bytes = aw__client_buffer_bytes(w->recv_buf, &len);
			ProtobufCMessage *msg = NULL;

			grpc_byte_buffer_destroy(w->recv_buf);
			w->recv_buf = NULL;
			if (bytes == NULL)
				return aw_err_set(err, AW_ENOMEM, "out of memory reading an event");
			msg = protobuf_c_message_unpack(w->output, NULL, len, bytes);
			free(bytes);
			if (msg == NULL)
				return aw_err_set(err, AW_EINTERNAL, "an event is not a valid %s",
						  w->output->name);
			aw_err_clear(err);
			*event = msg;
			return 0;
		}
	}
	/* Over: the final status follows the last message at once. */
	if (w->final_rc == 0) {
		drain(w);
		set_final(w);
	}
	if (w->ended_ok) {
		aw_err_clear(err);
		return 0;
	}
	return final_error(w, err);
}

int aw_watch_next(aw_watch *w, Aniworld__V1__DownloadEvent **event, int64_t timeout_ms,
		  aw_err *err)
{
	ProtobufCMessage *msg = NULL;
	int rc = aw__watch_read(w, &msg, timeout_ms, err);

	*event = (Aniworld__V1__DownloadEvent *)msg;
	if (rc == 0 && msg == NULL)
		return final_error(w, err);
	return rc;
}

void aw_watch_cancel(aw_watch *w)
{
	if (w != NULL && w->call != NULL)
		grpc_call_cancel(w->call, NULL);
}

void aw_watch_free(aw_watch *w)
{
	if (w == NULL)
		return;
	if (w->call != NULL)
		grpc_call_cancel(w->call, NULL); /* nothing happens when it is over */
	watch_destroy(w);
}
