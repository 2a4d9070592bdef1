/*
 * services.h: the gRPC services of Aniworld Store, one per file.
 *
 * Each constructor returns the generated protobuf-c service (the stubs filled
 * in), ready for aw_transport_add_service(); the caller frees it with
 * protobuf_c_service_destroy(). A service borrows what its environment names
 * (the repository, the WatchDownloads broker), which must outlive it. Stubs check their input (INVALID_ARGUMENT naming the field and
 * the bad value), then hand the work to the repository, whose outcome becomes
 * the reply (see reply.h).
 */
#ifndef AW_SERVICES_H
#define AW_SERVICES_H

#include <protobuf-c/protobuf-c.h>

#include "../config.h"
#include "../repo/repo.h"
#include "aniworld/error.h"
#include "download_events.h"

/*
 * What the services are built on; the server owns it all.
 *   repo             the repository (borrowed; outlives the services)
 *   cfg              the configuration (borrowed for the constructor only:
 *                    copy what you keep)
 *   download_events  the WatchDownloads broker (borrowed; outlives the
 *                    services): WatchDownloads adds its watchers to it; the
 *                    repository's event hook feeds it (server.c)
 */
typedef struct aw_service_env {
	aw_repo *repo;
	const aw_config *cfg;
	aw_download_events *download_events;
} aw_service_env;

/* Every constructor has this shape. */
typedef int aw_service_new_fn(ProtobufCService **out, const aw_service_env *env, aw_err *err);

/* ---- admin.c: aniworld.admin.v1.AdminService (serve it with AW_SERVICE_ADMIN) ---- */
aw_service_new_fn aw_admin_service_new;

/* Ends the snapshots under way (their streams end with UNAVAILABLE), refuses
 * new ones, and returns once their threads are done with the repository.
 * Call before the transport shuts down. Idempotent; NULL is a no-op. */
void aw_admin_service_shutdown(ProtobufCService *svc);

/* ---- anime_series.c: aniworld.v1.AnimeSeriesService ---- */
aw_service_new_fn aw_series_service_new;

/* ---- download_queue.c: aniworld.v1.DownloadQueueService ---- */
aw_service_new_fn aw_downloads_service_new;

/* ---- episode.c: aniworld.v1.EpisodeService ---- */
aw_service_new_fn aw_episode_service_new;

/* ---- user_session.c: aniworld.v1.UserSessionService ---- */
aw_service_new_fn aw_session_service_new;

#endif /* AW_SERVICES_H */
