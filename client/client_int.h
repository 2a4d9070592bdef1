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

/*
 * Calls unary method `method` of service `svc` with `req` and unpacks the reply
 * into *out (NULL allowed: the reply is discarded). Returns 0 or an AW_E* code,
 * with `err` (may be NULL) filled as client.h describes.
 */
int aw__client_unary(aw_client *c, const ProtobufCServiceDescriptor *svc, const char *method,
		     const ProtobufCMessage *req, ProtobufCMessage **out, aw_err *err);

#endif /* AW_CLIENT_INT_H */
