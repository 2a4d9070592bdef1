/*
 * server.h: one Aniworld Store server, assembled from its parts.
 *
 * Opens the repository, builds every service, registers them with health and
 * the transport, and listens. main.c drives it from signals; the end-to-end
 * tests run it in-process on an ephemeral port.
 */
#ifndef AW_SERVER_H
#define AW_SERVER_H

#include <stddef.h>

#include "aniworld/error.h"
#include "config.h"

typedef struct aw_server aw_server;

/*
 * Builds and starts a server from `cfg` (borrowed for the call only). On success
 * the server is SERVING; free it with aw_server_free(). Errors come from the
 * repository (AW_EIO, AW_ECORRUPT, AW_EVERSION, ...), from binding the address
 * (AW_EUNAVAIL) or from the configuration (AW_EINVAL).
 */
int aw_server_start(aw_server **out, const aw_config *cfg, aw_err *err);

/*
 * Builds a server from `cfg` (borrowed for the call only) as aw_server_start()
 * does, every service included, but does not listen or serve: calls reach it
 * only through the loopback (transport/loopback.h) on aw_server_transport().
 * For fuzzers and tests. Health reports NOT_SERVING. Free it with
 * aw_server_free(). Errors are those of aw_server_start() but AW_EUNAVAIL.
 */
int aw_server_open(aw_server **out, const aw_config *cfg, aw_err *err);

/*
 * Opens the repository of `cfg` (which brings its schema up to the version of
 * this build, see aw_repo_open) and closes it again: --migrate-only, for a
 * Kubernetes Job or init container ahead of the replicas. Errors are
 * aw_repo_open()'s.
 */
int aw_server_migrate(const aw_config *cfg, aw_err *err);

/* The server's transport (borrowed; lives as long as the server). */
struct aw_transport;
struct aw_transport *aw_server_transport(aw_server *s);

/* The port the server listens on (useful with port 0). */
int aw_server_port(const aw_server *s);

/* The completion-queue threads serving calls (--threads, or the CPUs the
 * process may use when that is 0). */
int aw_server_threads(const aw_server *s);

/* The port of the metrics endpoint (--metrics-listen), 0 when there is none. */
int aw_server_metrics_port(const aw_server *s);

/* How it serves: "plaintext", "TLS" or "mutual TLS". */
const char *aw_server_security(const aw_server *s);

/* What an acknowledged write survives, in words (aw_repo_durability). */
const char *aw_server_durability(const aw_server *s);

/* Whether calls need a bearer token, and how many tokens are in force. */
size_t aw_server_token_count(const aw_server *s);

/* How many admin tokens are in force (0: the admin service refuses all). */
size_t aw_server_admin_token_count(const aw_server *s);

/*
 * Re-reads what may change while running (SIGHUP): the bearer tokens file
 * and the admin tokens file, each on its own. On
 * failure what was in force stays, and the error says why. Thread-safe.
 */
int aw_server_reload(aw_server *s, aw_err *err);

/*
 * Graceful stop: health turns NOT_SERVING, streams end, in-flight calls get the
 * configured grace period, queued writes are committed, the database is closed.
 * Idempotent.
 */
void aw_server_stop(aw_server *s);

/* Stops (if needed) and frees; NULL is a no-op. */
void aw_server_free(aw_server *s);

#endif /* AW_SERVER_H */
