/*
 * loopback.h: one request through the transport, without a network.
 *
 * For the fuzzers (tests/fuzz/) and the tests that replay what they found:
 * a request given as a method path and raw message bytes takes the path a
 * request arriving over gRPC takes, from the call slot onward: the overload
 * and token checks, unpacking into the call's arena, the UTF-8 check, the
 * stub, its closure, packing of the reply, the status, the recycling of the
 * slot. Only grpc itself is left out: the loopback fills the slot as grpc
 * would and takes the batches the transport starts on it (loopback.c).
 *
 * The transport needs only to have its services added; it need not listen or
 * be started (if it is, loopback calls run beside network calls).
 */
#ifndef AW_LOOPBACK_H
#define AW_LOOPBACK_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "aniworld/error.h"
#include "transport.h"

/* How one loopback call ended: what a client would have received. */
typedef struct aw_loopback_reply {
	int status;                   /* the gRPC status code */
	char message[AW_ERR_MSG_MAX]; /* its message, "" when none */
	uint8_t *data;                /* the first message sent (a unary call's reply); NULL: none */
	size_t len;                   /* its size */
	size_t n_messages;            /* how many messages were sent */
	int hung_up;                  /* a stream still open was ended as a client hanging up
				       * ends it; status is then CANCELLED */
} aw_loopback_reply;

/* One method the transport serves. */
typedef struct aw_loopback_method {
	const char *path;                         /* "/pkg.Service/Method" (borrowed) */
	const ProtobufCMethodDescriptor *desc;    /* its input and output types (borrowed) */
	int server_streaming;                     /* replies with a stream */
	int client_streaming;                     /* takes a stream of requests */
} aw_loopback_method;

/* How many methods `t` serves, over every service added so far. */
size_t aw__transport_method_count(const aw_transport *t);

/* Describes method `i` (0 <= i < aw__transport_method_count) in *out. Returns
 * AW_EINVAL when `i` is out of range. Pointers stay valid as long as `t`. */
int aw__transport_method(const aw_transport *t, size_t i, aw_loopback_method *out);

/*
 * Runs one call of `path` with the `len` bytes at `data` (borrowed; read only
 * during the call) as its request message, and waits until the call is over:
 * a unary call until its reply or status was sent, which may come from another
 * thread (the repository's writer); a streaming call until it ended by itself
 * or, once nothing more happens on it, was hung up on. A bidirectional call
 * receives the bytes as its one request, then the end of the client's stream.
 * An unknown path gets UNIMPLEMENTED, as over the network.
 *
 * *out receives the outcome; free it with aw__loopback_reply_clear(). Returns 0
 * (whatever the status), or AW_ENOMEM when no call slot could be made, with
 * *out cleared. Thread-safe: calls may run on several threads at once.
 */
int aw__transport_invoke_bytes(aw_transport *t, const char *path, const void *data, size_t len,
			       aw_loopback_reply *out);

/* Frees what *r holds and zeroes it; a zeroed reply is fine too. */
void aw__loopback_reply_clear(aw_loopback_reply *r);

#endif /* AW_LOOPBACK_H */
