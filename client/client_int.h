/*
 * client_int.h: what the client library's files share. Not installed.
 */
#ifndef AW_CLIENT_INT_H
#define AW_CLIENT_INT_H

#include <pthread.h>

#include <grpc/grpc.h>
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
	grpc_metadata auth_md;          /* "authorization: Bearer ..."; value empty when unset */
	size_t n_md;                    /* 1 with a token, else 0 */
	aw__client_service *services;
	size_t n_services;
	pthread_mutex_t cq_mu;              /* guards the free completion queues */
	grpc_completion_queue **free_cqs;
	size_t n_free_cqs, cap_free_cqs;
};

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
		     const ProtobufCMessage *req, ProtobufCMessage **out, aw_err *err);

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
		     const ProtobufCMessage *req, aw_watch **out, aw_err *err);

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
