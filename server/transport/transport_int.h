/*
 * transport_int.h: what transport.c and call.c share. Not for services.
 *
 * Life of a call slot (aw_call). Slots are made once and recycled, so a call in
 * steady state allocates nothing of ours. A slot is requested from grpc for one
 * method on one worker's completion queue; every event of the call then arrives
 * on that queue. References (`refs`) count what still needs the slot:
 *   - each grpc batch in flight holds one (released when its event is handled);
 *   - a unary call holds one from dispatch until its closure has run;
 *   - a streaming call holds one until it has ended (see `ended`);
 *   - services hold theirs with aw_call_ref().
 * At zero the slot is reset and returned to its worker's free list.
 */
#ifndef AW_TRANSPORT_INT_H
#define AW_TRANSPORT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "call.h"
#include "transport.h"

typedef struct aw_worker aw_worker;
typedef struct aw_loopback aw_loopback;

typedef enum aw_shape {
	AW_SHAPE_UNARY,
	AW_SHAPE_SERVER_STREAM,
	AW_SHAPE_BIDI_STREAM,
} aw_shape;

/* What a completion-queue event is about; the tag points at one of these. */
typedef enum aw_op_kind {
	AW_OP_REQUEST, /* a requested call arrived (or the request died at shutdown) */
	AW_OP_CLOSE,   /* RECV_CLOSE_ON_SERVER: the call is over on the wire */
	AW_OP_SEND,    /* a batch of sends (reply, stream message, status) completed */
	AW_OP_RECV,    /* RECV_MESSAGE completed (bidirectional calls) */
} aw_op_kind;

typedef struct aw_op {
	aw_op_kind kind;
	aw_call *call;
} aw_op;

/* The number of gRPC status codes (OK .. UNAUTHENTICATED). */
#define AW_GRPC_CODES 17
/* Upper bounds, in microseconds, of the call-duration histogram's buckets;
 * the last bucket (+Inf) is implied. */
#define AW_DURATION_BUCKETS_US                                                             \
	{100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000}
#define AW_N_DURATION_BUCKETS 12

/* What metrics.c counts for one method (or for unknown paths); see metrics.h. */
typedef struct aw_call_stats {
	atomic_ullong handled[AW_GRPC_CODES];               /* calls by final status */
	atomic_ullong duration[AW_N_DURATION_BUCKETS + 1];  /* by bucket, not cumulative */
	atomic_ullong duration_sum_us;
} aw_call_stats;

typedef struct aw_method {
	char *path;                              /* "/pkg.Service/Method" */
	ProtobufCService *service;               /* borrowed */
	unsigned index;                          /* into service->descriptor->methods */
	const ProtobufCMessageDescriptor *input;
	aw_shape shape;
	unsigned flags;                          /* AW_SERVICE_* */
	void *handle;                            /* from grpc_server_register_method */
	aw_call_stats *stats;                    /* owned; counted from any thread */
} aw_method;

struct aw_call {
	aw_worker *worker;           /* owner: its queue gets every event of the call */
	const aw_method *method;     /* NULL for a path nobody registered */
	aw_call *next_free;          /* worker's free list */
	aw_call *next_all;           /* worker's list of every slot */
	atomic_int refs;

	/* Filled by grpc when the call arrives (or by a loopback, see loopback.h). */
	aw_loopback *loopback;       /* NULL: a network call; else who takes its batches */
	grpc_call *call;             /* NULL for a loopback call */
	gpr_timespec deadline;
	grpc_metadata_array metadata;
	grpc_byte_buffer *payload;
	grpc_call_details details;   /* unregistered paths only */

	aw_op op_request, op_close, op_send, op_recv;
	int close_cancelled;         /* written by RECV_CLOSE_ON_SERVER */
	atomic_int close_armed;      /* RECV_CLOSE_ON_SERVER started (alone or in the reply) */
	int counted;                 /* counted in t->active until recycled */
	int serving;                 /* counted in t->serving until recycled */
	atomic_int cancelled;        /* close reported a cancel */
	int64_t start_us;            /* CLOCK_MONOTONIC at arrival */
	int64_t deadline_us;         /* CLOCK_MONOTONIC; INT64_MAX = none */
	const ProtobufCMessage *request; /* the request the stub is running for (in the arena) */

	int status;                  /* gRPC status set by the handler */
	char message[AW_ERR_MSG_MAX];
	grpc_slice status_details;   /* sent with the status */
	int aw_code;                 /* the status's exact AW_E* code (0 = OK) */
	aw_err *detail;              /* the error's details (arena); NULL: none recorded */
	int n_invalid;               /* field violations recorded, also those not kept */
	grpc_metadata trailer;       /* grpc-status-details-bin, with an error status */
	int has_trailer;             /* trailer.value holds a reference */
	const char *finish_reason;   /* a stream's reason from aw_call_finish_reason (static) */
	const char *request_id;      /* the request's request_id (arena), for the log; NULL: none */
	grpc_byte_buffer *send_buf;  /* message in the send batch in flight */
	aw_arena arena;

	/* Streaming state, guarded by `mu`. */
	pthread_mutex_t mu;
	pthread_cond_t sent;         /* a send completed or the stream ended (CLOCK_MONOTONIC) */
	grpc_slice *queue;           /* ring of packed messages, stream_backlog long */
	int q_head, q_len;
	int sending;                 /* a send batch is in flight */
	int md_sent;                 /* initial metadata went out */
	int md_wanted;               /* send initial metadata even with no message */
	int finishing;               /* aw_call_finish() was called */
	int status_sent;             /* the status is in the batch in flight */
	int ended;                   /* the stream is over; on_done has run or is running */
	void (*on_done)(aw_call *call, void *arg);
	void *on_done_arg;
};

struct aw_worker {
	aw_transport *t;
	int id;
	grpc_completion_queue *cq;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;          /* guards the two lists */
	aw_call *free_calls;
	aw_call *all_calls;
	int polling;                 /* its queue polls grpc's I/O (else it only waits) */
	atomic_int taking;           /* requests are posted again as calls arrive */
	atomic_int tid;              /* the thread's id, once it runs (scaler.h) */
	atomic_ullong answered;      /* calls ended on this worker's queue (scaler.h) */
	atomic_int *outstanding;     /* requests outstanding, per method; [n_methods]:
				      * unregistered paths */
};

struct aw_transport {
	aw_transport_config cfg;
	grpc_server *server;
	grpc_completion_queue *shutdown_cq;
	aw_worker *workers;
	int pollers;                     /* workers[0 .. pollers) poll; they always take calls */
	struct aw_ticker *scaler;        /* runs the scaler while workers beyond the pollers
					  * may stop taking calls; NULL: none */
	struct scaler_state *scaler_state;
	atomic_int taking;               /* workers taking calls now (metrics) */
	aw_method *methods;
	size_t n_methods, cap_methods;
	struct aw_auth *auth;            /* NULL: no token needed */
	struct aw_auth *admin_auth;      /* NULL: admin services refuse every call */
	grpc_resource_quota *quota;      /* NULL: no memory cap */
	atomic_llong active;             /* calls counted against cfg.max_calls */
	atomic_llong serving;            /* calls being carried out (see aw_transport_shutdown) */
	atomic_llong slots_out;          /* slots not on a free list: requests and calls */
	atomic_int draining;             /* shutdown began: new calls are refused */
	pthread_mutex_t drain_mu;        /* with `drained`: lets shutdown wait for the counts */
	pthread_cond_t drained;          /* signalled when one of them drops to 0 while draining */
	aw_call_stats unknown_stats;     /* calls to paths nobody serves */
	int auth_introspection;          /* reflection needs a token too */
	int listening;
	int started;
	int stopped;
	int grpc_initialised;
};

/* Monotonic clock in microseconds. */
int64_t aw__now_us(void);

/* metrics.c: counts a call that ended with `code` after `us` microseconds. */
void aw__metrics_count(aw_call_stats *stats, int code, int64_t us);

/* call.c: the closure every stub gets, whatever the method's shape. */
void aw__call_closure(const ProtobufCMessage *msg, void *closure_data);

/* call.c: an event for `call` arrived on its worker's queue. */
void aw__call_on_send(aw_call *call, int success);
void aw__call_on_close(aw_call *call);

/* call.c: sends the status of `err` (its code, message and details) for a call
 * no stub will see (bad request, unknown path); consumes the dispatch reference. */
void aw__call_reject(aw_call *call, const aw_err *err);

/* transport.c: returns the slot to its worker (refs reached zero). */
void aw__call_recycle(aw_call *call);

/* transport.c: a free slot of worker `w` (made when none is free), or NULL when
 * out of memory. Its refs are 0 and everything else is as recycling left it. */
aw_call *aw__call_slot_get(aw_worker *w);

/*
 * transport.c: a call arrived (grpc or a loopback filled the slot): records its
 * deadline, applies the overload, deadline and token checks, then unpacks and
 * checks the request and invokes the stub (bidirectional calls: posts the first
 * RECV_MESSAGE). The request reference becomes the dispatch (unary) or stream
 * (streaming) reference.
 */
void aw__call_arrived(aw_call *call);

/* transport.c: handles one completion-queue event of a call, as a worker does. */
void aw__call_event(aw_op *op, int success);

/*
 * transport.c: starts a batch of `n` operations on the call, reported with
 * `tag`: on its grpc_call, or handed to its loopback. Returns what
 * grpc_call_start_batch returns. Every batch the transport starts goes
 * through here.
 */
grpc_call_error aw__call_start_batch(aw_call *call, const grpc_op *ops, size_t n, aw_op *tag);

/* loopback.c: the batch of a loopback call (see aw__call_start_batch). */
grpc_call_error aw__loopback_batch(aw_loopback *lb, const grpc_op *ops, size_t n, aw_op *tag);

/* loopback.c: the slot of a loopback call was recycled; the call is over. */
void aw__loopback_recycled(aw_loopback *lb);

/* transport.c: starts RECV_CLOSE_ON_SERVER in a batch of its own, unless it was. */
void aw__call_arm_close(aw_call *call);

/* transport.c: posts the next RECV_MESSAGE of a bidirectional call. */
void aw__call_post_recv(aw_call *call);

/* call.c: the name of a gRPC status code ("NOT_FOUND"). */
const char *aw__status_name(int code);

#endif /* AW_TRANSPORT_INT_H */
