/*
 * client_int.h: what the client library's files share. Not installed.
 */
#ifndef AW_CLIENT_INT_H
#define AW_CLIENT_INT_H

#include <pthread.h>

#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <protobuf-c/protobuf-c.h>

#include "aniworld/client.h"

/* A served service whose methods the client registers with its channel. */
typedef struct aw__client_service {
	const ProtobufCServiceDescriptor *desc;
	void **handles; /* grpc_channel_register_call, one per method */
} aw__client_service;

struct aw_client {
	grpc_channel *channel;
	aw_client_options opts;         /* strings not kept: see the fields below */
	pthread_mutex_t auth_mu;        /* guards auth_md and n_md (token rotation) */
	grpc_metadata auth_md;          /* "authorization: Bearer ..."; value empty when unset */
	size_t n_md;                    /* 1 with a token, else 0 */
	aw__client_service *services;
	size_t n_services;
	pthread_mutex_t cq_mu;              /* guards the free completion queues */
	grpc_completion_queue **free_cqs;
	size_t n_free_cqs, cap_free_cqs;
};

/* ---- call_opts.c: what aw_call_opts changes in a call ---- */

/* The metadata of one call: the bearer token (a reference taken under the
 * client's lock, so a rotation meanwhile does not pull it away) and the
 * caller's entries. */
typedef struct aw__call_metadata {
	grpc_metadata md[AW_CALL_MAX_METADATA + 1];
	size_t n;
} aw__call_metadata;

/* Fills `m` for a call of `c` with options `o` (may be NULL). AW_EINVAL for too
 * many entries or an illegal key or value. Free with aw__client_metadata_free. */
int aw__client_metadata(aw_client *c, const aw_call_opts *o, aw__call_metadata *m, aw_err *err);
void aw__client_metadata_free(aw__call_metadata *m);

/*
 * Packs `req` as it is to be sent: with o->etag when set (in the request, or
 * in the resource of an update), and, when the message has a request_id
 * field, with the request_id the call carries (o->request_id, else the
 * request's own, else a random UUID v4). *retryable says whether a
 * request_id went out. *payload: the packed bytes, the caller unrefs.
 */
int aw__client_pack_request(const ProtobufCMessage *req, const aw_call_opts *o,
			    grpc_slice *payload, int *retryable, aw_err *err);

/* The deadline of an attempt starting now: the call's relative one (o or
 * the client's), capped by o->deadline_at_us. */
gpr_timespec aw__client_attempt_deadline(const aw_client *c, const aw_call_opts *o);

/* Whether o->deadline_at_us is set and has passed. */
int aw__client_deadline_passed(const aw_call_opts *o);

/* ---- retry.c ---- */

/* How long to sleep before attempt `attempt` (2, 3, ...) of a write: half to
 * all of the backoff (retry_initial_backoff_ms doubling to
 * retry_max_backoff_ms), at random. */
int64_t aw__client_backoff_ms(const aw_client_options *o, int attempt);

/* client.c: every service this library calls. */
extern const ProtobufCServiceDescriptor *const aw__client_api_services[];
extern const size_t aw__client_n_api_services;

/*
 * retry.c: the default service config for the options: load balancing and the
 * retry policy of the idempotent methods. *json is malloc'd; the caller frees it.
 */
int aw__client_service_config(const aw_client_options *opts, char **json, aw_err *err);

/*
 * Calls unary method `method` of service `svc` with `req` and unpacks the reply
 * into *out (NULL allowed: the reply is discarded). Returns 0 or an AW_E* code,
 * with `err` (may be NULL) filled as client.h describes.
 */
int aw__client_unary(aw_client *c, const ProtobufCServiceDescriptor *svc, const char *method,
		     const ProtobufCMessage *req, ProtobufCMessage **out, aw_err *err,
		     const aw_call_opts *opts);

/* The registered-call handle and descriptor of method `name` of `svc`;
 * AW_EINVAL when the client does not know it. */
int aw__client_find_method(aw_client *c, const ProtobufCServiceDescriptor *svc, const char *name,
			   void **handle, const ProtobufCMethodDescriptor **md);

/* Copies a message's bytes out of a byte buffer into a malloc'd block (the
 * caller frees it); NULL when out of memory. */
uint8_t *aw__client_buffer_bytes(grpc_byte_buffer *bb, size_t *len);

/*
 * Starts server-streaming method `method` of `svc` with `req` and waits until
 * the server has answered with its headers: on success *out is the stream,
 * read with aw_watch_next() (replies unpacked as the method's output type).
 * Returns 0 or an AW_E* code with `err` filled as client.h describes.
 */
int aw__client_watch(aw_client *c, const ProtobufCServiceDescriptor *svc, const char *method,
		     const ProtobufCMessage *req, aw_watch **out, aw_err *err,
		     const aw_call_opts *opts);

/*
 * watch.c: the next message of a stream opened with aw__client_watch, as
 * aw_watch_next() reads it but of any type, and telling a stream the server
 * ended with OK apart: then 0 with *msg NULL. The caller frees *msg with
 * protobuf_c_message_free_unpacked(msg, NULL).
 */
int aw__watch_read(aw_watch *w, ProtobufCMessage **msg, int64_t timeout_ms, aw_err *err);

/*
 * status.c: fills `err` (may be NULL) from an error status: gRPC status
 * `status` (not OK), its `message`, and the google.rpc.Status the server put in
 * the `grpc-status-details-bin` trailer (in `trailing`, may be NULL) with its
 * reason, metadata, field violations, resource and retry delay. Returns the
 * AW_E* code: the one the ErrorInfo reason stands for when the server sent a
 * known reason of this status, else the status mapped through AW_ERRNO_MAP.
 */
int aw__client_status_error(int status, const char *message, const grpc_metadata_array *trailing,
			    aw_err *err);

#endif /* AW_CLIENT_INT_H */
