/*
 * reflection.h: gRPC server reflection, so that grpcurl and other tools can list
 * the services, describe every symbol and call any method without .proto files.
 *
 * Both protocol versions are served from one implementation:
 * grpc.reflection.v1.ServerReflection (grpcurl 1.8.8 and later ask for it first)
 * and grpc.reflection.v1alpha.ServerReflection (older clients). Each is a
 * bidirectional stream answering one response per request:
 *   - list_services: every service added with aw_reflection_add();
 *   - file_by_filename, file_containing_symbol (services, methods, messages,
 *     nested messages, enums, enum values, fields): the file and every file it
 *     imports, transitively, so a client never has to ask twice;
 *   - all_extension_numbers_of_type: an empty list for a known message (we
 *     define no extensions);
 *   - anything unknown (file, symbol, extension): an error_response with
 *     NOT_FOUND on the stream, which stays open.
 * The descriptors come from the pool the build embeds (descriptors.h).
 */
#ifndef AW_REFLECTION_H
#define AW_REFLECTION_H

#include <protobuf-c/protobuf-c.h>

#include "aniworld/error.h"
#include "descriptors.h"

typedef struct aw_reflection aw_reflection;

/* Creates the service over `pool` (borrowed; must outlive it). Free with
 * aw_reflection_free(). Returns AW_ENOMEM. */
int aw_reflection_new(aw_reflection **out, const aw_descpool *pool, aw_err *err);

/* Adds a service name (copied) to what list_services answers. AW_EINVAL when the
 * pool does not describe it, AW_ENOMEM. Before the server starts. */
int aw_reflection_add(aw_reflection *r, const char *service_name, aw_err *err);

/* Largest request answered in full: a response repeats its request (and its
 * host), so larger ones get an error response (INVALID_ARGUMENT) alone. */
#define AW_REFLECTION_MAX_REQUEST 4096

/* The largest response the service can send, in bytes: the largest file with
 * everything it imports, and a request repeated. The server's reply limit
 * must allow it. SIZE_MAX when out of memory. */
size_t aw_reflection_max_reply(const aw_reflection *r);

/* The two services to hand to aw_transport_add_service() (borrowed). */
ProtobufCService *aw_reflection_service_v1(aw_reflection *r);
ProtobufCService *aw_reflection_service_v1alpha(aw_reflection *r);

/* Frees the service; NULL is a no-op. The transport must be freed first. */
void aw_reflection_free(aw_reflection *r);

#endif /* AW_REFLECTION_H */
