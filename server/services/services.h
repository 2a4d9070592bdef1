/*
 * services.h: the gRPC services of Aniworld Store, one per file.
 *
 * Each constructor returns the generated protobuf-c service (the stubs filled
 * in), ready for aw_transport_add_service(); the caller frees it with
 * protobuf_c_service_destroy(). A service borrows the repository, which must
 * outlive it. Stubs check their input (INVALID_ARGUMENT naming the field and
 * the bad value), then hand the work to the repository, whose outcome becomes
 * the reply (see reply.h).
 */
#ifndef AW_SERVICES_H
#define AW_SERVICES_H

#include <protobuf-c/protobuf-c.h>

#include "../config.h"
#include "../repo/repo.h"
#include "aniworld/error.h"

/*
 * Every constructor has this shape: the repository (borrowed), the server's
 * configuration (borrowed for the call only; copy what you keep).
 */
typedef int aw_service_new_fn(ProtobufCService **out, aw_repo *repo, const aw_config *cfg,
			      aw_err *err);

/*
 * Optional, for services that keep calls open (streams): ends them, and
 * refuses new ones, before the transport shuts down (server.c calls it after
 * health turns NOT_SERVING). `svc` is what the constructor returned.
 */
typedef void aw_service_shutdown_fn(ProtobufCService *svc);

/* ---- anime_series.c: aniworld.v1.AnimeSeriesService ---- */
aw_service_new_fn aw_series_service_new;

/* ---- download_queue.c: aniworld.v1.DownloadQueueService ---- */
aw_service_new_fn aw_downloads_service_new;
aw_service_shutdown_fn aw_downloads_service_shutdown;
/* ---- episode.c: aniworld.v1.EpisodeService ---- */
aw_service_new_fn aw_episode_service_new;

/* ---- user_session.c: aniworld.v1.UserSessionService ---- */
aw_service_new_fn aw_session_service_new;

#endif /* AW_SERVICES_H */
