/*
 * health.h: grpc.health.v1.Health, the standard health protocol that Kubernetes
 * gRPC probes and load balancers call.
 *
 * Check answers the status of "" (the whole server) or of a served service by
 * its full name, and NOT_FOUND for a name it does not know. One more name,
 * "liveness", answers whether the process is up and serving gRPC at all,
 * whatever its database does: a Kubernetes liveness probe asks it, so that a
 * database outage takes pods out of the Service (readiness, "") without
 * restarting them. Watch streams the
 * status at once and again on every change; for an unknown name it streams
 * SERVICE_UNKNOWN, as the protocol asks. Statuses start NOT_SERVING and move
 * to SERVING when the server is ready, and back on shutdown.
 */
#ifndef AW_HEALTH_H
#define AW_HEALTH_H

#include <protobuf-c/protobuf-c.h>

#include "aniworld/error.h"

typedef struct aw_health aw_health;

/* Creates the service; free with aw_health_free(). Returns AW_ENOMEM. */
int aw_health_new(aw_health **out, aw_err *err);

/* Adds a service name (copied) whose status the health service reports. */
int aw_health_add(aw_health *h, const char *service_name, aw_err *err);

/* The ProtobufCService to hand to aw_transport_add_service() (borrowed). */
ProtobufCService *aw_health_service(aw_health *h);

/* Sets every known status (and "") to SERVING (1) or NOT_SERVING (0) and tells
 * every watcher. Thread-safe. */
void aw_health_set_serving(aw_health *h, int serving);

/* The health name whose status is the process's own (aw_health_set_alive). */
#define AW_HEALTH_LIVENESS "liveness"

/* Sets the status of "liveness": SERVING (1) or NOT_SERVING (0). Thread-safe. */
void aw_health_set_alive(aw_health *h, int alive);

/* Ends every Watch stream (after the updates already queued); later Watch
 * calls end at once. Call before the transport shuts down. */
void aw_health_shutdown(aw_health *h);

/* Frees the service; NULL is a no-op. The transport must be freed first. */
void aw_health_free(aw_health *h);

#endif /* AW_HEALTH_H */
