/*
 * transport.h: serving protobuf-c services over the gRPC C core.
 *
 * protoc-c turns each .proto service into a ProtobufCService: a descriptor and
 * one function pointer per method. The transport serves any number of them on
 * one grpc_server: it registers "/<package>.<Service>/<Method>" for every
 * method, keeps requests outstanding on one completion queue per thread,
 * unpacks each request with protobuf-c, invokes the stub with a call context as
 * its closure_data (see call.h) and sends what the stub's closure returns.
 *
 * Method shapes come from the served descriptor set: unary and server-streaming
 * methods get their request with the call; bidirectional methods are fed one
 * request at a time. Client-streaming methods are refused at registration.
 *
 * Threading: aw_transport_new/add_service/listen/start/shutdown/free are called
 * from one thread (main). Stubs run on the transport's threads, several at once.
 */
#ifndef AW_TRANSPORT_H
#define AW_TRANSPORT_H

#include <stdint.h>

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "aniworld/error.h"
#include "descriptors.h"

typedef struct aw_transport aw_transport;

/* The most threads a transport runs. */
#define AW_MAX_THREADS 256

/* Flags for aw_transport_add_service(). */
#define AW_SERVICE_PUBLIC 0x1 /* reachable without a bearer token (health) */
#define AW_SERVICE_INTROSPECTION 0x2 /* public unless auth_reflection is set (reflection) */
#define AW_SERVICE_ADMIN 0x4 /* needs an admin token, never a data token (admin service) */

typedef struct aw_transport_config {
	int threads;                     /* threads, one completion queue each; 1..AW_MAX_THREADS. The first
					  * (threads + 3) / 4 poll grpc's I/O; the others only
					  * wait for the calls handed to their queue */
	int adaptive;                    /* the threads that do not poll take calls only while
					  * there is CPU for them (scaler.h); else all always do */
	int requests_per_method;         /* accepts kept outstanding per method and thread; >= 1 */
	int64_t max_receive_bytes;       /* larger requests fail with RESOURCE_EXHAUSTED */
	int64_t max_send_bytes;          /* larger replies fail with RESOURCE_EXHAUSTED instead
					  * of being sent; 0 = no limit */
	int stream_backlog;              /* messages queued on one stream before sends fail */
	int64_t max_calls;               /* calls in progress at once (public services not
					  * counted); 0 = no limit. More: RESOURCE_EXHAUSTED */
	int64_t max_streams_per_conn;    /* HTTP/2 streams per connection; 0 = grpc's default */
	int64_t max_memory_bytes;        /* grpc's buffer memory, all connections; 0 = no cap */
	int64_t keepalive_time_ms;       /* 0 = grpc's defaults for the keepalive settings */
	int64_t keepalive_timeout_ms;
	int64_t max_connection_idle_ms;  /* 0 = never */
	int64_t max_connection_age_ms;   /* 0 = never */
	int64_t max_connection_age_grace_ms;
	const aw_descpool *descriptors;  /* borrowed; must outlive the transport */

	/* Optional hooks, all given hook_arg, all run on the transport's threads:
	 * thread_start once per thread before it serves; has_deferred says whether
	 * deferred work waits; run_deferred runs it, called whenever a thread has
	 * no event ready and has_deferred said yes, before the thread waits. The
	 * server uses them to gather writes into one transaction (repo.h). */
	void (*thread_start)(void *hook_arg);
	int (*has_deferred)(void *hook_arg);
	void (*run_deferred)(void *hook_arg);
	void *hook_arg;
} aw_transport_config;

/* Fills `cfg` with defaults: 1 thread, 2 requests per method, 4 MiB, 1024, no
 * limits, grpc's keepalive defaults. */
void aw_transport_config_defaults(aw_transport_config *cfg);

/* Creates a transport (and initialises grpc). The caller frees it with
 * aw_transport_free(). Returns AW_EINVAL for a bad config, AW_ENOMEM. */
int aw_transport_new(aw_transport **out, const aw_transport_config *cfg, aw_err *err);

/*
 * Serves `service` (borrowed; must outlive the transport). Before start only.
 * `flags` is a mask of AW_SERVICE_*. Returns AW_EINVAL when the service is not in
 * the descriptor set, one of its methods is client-streaming, or it is already
 * served; AW_ENOMEM.
 */
int aw_transport_add_service(aw_transport *t, ProtobufCService *service, unsigned flags,
			     aw_err *err);

/*
 * Listens on `addr` ("0.0.0.0:50051"; port 0 picks a free one) with plaintext,
 * or with `creds` (borrowed) when not NULL. Before start only. On success
 * *port is the bound port. Returns AW_EUNAVAIL when the address cannot be bound.
 */
int aw_transport_listen(aw_transport *t, const char *addr, grpc_server_credentials *creds,
			int *port, aw_err *err);

/* Starts serving. Returns AW_EINVAL when nothing listens yet, AW_ENOMEM. */
int aw_transport_start(aw_transport *t, aw_err *err);

/*
 * Refuses every new call from now on with UNAVAILABLE (health calls aside),
 * lets the calls in flight finish for up to `grace_ms` (cancelling what still
 * runs then), shuts grpc's server down, which closes the connections, and
 * stops the threads. Does not wait for the grace once the calls in flight are
 * over. Streaming calls never end on their own: their services should finish
 * them before calling this. Idempotent.
 */
void aw_transport_shutdown(aw_transport *t, int64_t grace_ms);

/* Calls in progress now (those counted against max_calls). */
int64_t aw_transport_active_calls(aw_transport *t);

/* Threads taking calls now: all of them, or with cfg.adaptive the scaler's count. */
int aw_transport_taking_threads(aw_transport *t);

/* Shuts down if still running and frees everything; NULL is a no-op. */
void aw_transport_free(aw_transport *t);

/*
 * Requires a bearer token (auth.h) on every call, except to AW_SERVICE_PUBLIC
 * services, and to AW_SERVICE_INTROSPECTION services unless `introspection` is
 * set. Calls without a valid token get UNAUTHENTICATED before any stub runs.
 * `auth` is borrowed and must outlive the transport. Before start only.
 */
struct aw_auth;
void aw_transport_set_auth(aw_transport *t, struct aw_auth *auth, int introspection);

/*
 * Admin tokens: calls to AW_SERVICE_ADMIN services must carry a bearer token
 * of `admin` (the tokens of aw_transport_set_auth do not count), else they
 * get PERMISSION_DENIED before any stub runs. Without admin tokens (NULL,
 * the default) every call to such a service gets PERMISSION_DENIED. `admin`
 * is borrowed and must outlive the transport. Before start only.
 */
void aw_transport_set_admin_auth(aw_transport *t, struct aw_auth *admin);

#endif /* AW_TRANSPORT_H */
