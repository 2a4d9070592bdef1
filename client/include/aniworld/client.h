/*
 * aniworld/client.h: the C client library of Aniworld Store.
 *
 * Aniworld Store is the persistence service of the Aniworld anime downloader:
 * anime series, their episodes, a download queue and user sessions, served over
 * gRPC (package aniworld.v1). This library calls it from C: open a client on a
 * target, then call one typed, synchronous function per method.
 *
 * This header, the error codes it includes (aniworld/error.h) and the message
 * types generated from the service's .proto files (aniworld/v1/<x>.pb-c.h,
 * which it also includes) are the whole API. Anything not declared here is not
 * part of it.
 *
 * Conventions, for every call function:
 *   - It takes the method's request message, built by the caller (with the
 *     generated __INIT macros), borrowed for the duration of the call.
 *   - It returns 0 on success, or a negative AW_E* code: the gRPC status the
 *     server sent, mapped through AW_ERRNO_MAP (NOT_FOUND is AW_ENOTFOUND,
 *     INVALID_ARGUMENT is AW_EINVAL, ...), or a local failure (AW_EUNAVAIL when
 *     the server cannot be reached, AW_ETIMEDOUT when the deadline passed,
 *     AW_ENOMEM). aw_err_grpc_status(code) gives the gRPC status number back.
 *   - `err` may be NULL; otherwise it receives the code and the server's
 *     message ("series 42 not found").
 *   - On success *out is the reply, allocated by protobuf-c's default allocator:
 *     the caller frees it with the generated free function, e.g.
 *     aniworld__v1__anime_series__free_unpacked(out, NULL). On failure *out is
 *     NULL and there is nothing to free.
 *   - A client is safe to use from many threads at once.
 */
#ifndef ANIWORLD_CLIENT_H
#define ANIWORLD_CLIENT_H

#include <stdint.h>

#include "aniworld/error.h"
#include "aniworld/v1/anime_series.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aw_client aw_client;

/*
 * How a client connects and calls. Initialise with aw_client_options_init() and
 * change what you need; fields added later get safe defaults there. Strings are
 * borrowed only during aw_client_new(), which copies them; NULL means unset.
 */
typedef struct aw_client_options {
	int64_t deadline_ms;          /* per call; 0 = no deadline. Default 10000. */
	int64_t max_receive_bytes;    /* largest reply accepted; default 64 MiB */

	/* Transport security. With tls_root_ca_pem the client speaks TLS and trusts
	 * servers whose certificate that CA signed; with tls_cert_pem and
	 * tls_key_pem too, it presents that certificate (mutual TLS). PEM text, not
	 * file names. Without them the client speaks plaintext. */
	const char *tls_root_ca_pem;
	const char *tls_cert_pem;
	const char *tls_key_pem;
	const char *tls_server_name;  /* name to verify instead of the target's host */

	/* Sent on every call as "authorization: Bearer <token>" (servers started
	 * with --auth-tokens-file require it). Use it with TLS outside a trusted
	 * network: over plaintext anyone on the path can read it. */
	const char *bearer_token;

	/* "pick_first" (NULL, the default: one connection) or "round_robin": spread
	 * calls over every address the target resolves to, e.g. a headless
	 * Kubernetes Service as "dns:///aniworld-store-headless:50051". */
	const char *load_balancing;

	/* Non-zero: this client opens connections of its own instead of sharing
	 * them with other clients of the process to the same target (gRPC shares by
	 * default). Load generators use it to spread calls over connections. */
	int dedicated_connection;
} aw_client_options;

/* Fills `opts` with the defaults. */
AW_EXTERN void aw_client_options_init(aw_client_options *opts);

/*
 * Creates a client for `target` (a gRPC target: "host:port", "dns:///host:port",
 * "unix:/path"). Connecting is lazy: an unreachable server shows up as
 * AW_EUNAVAIL on the first call, not here, and so does a TLS handshake that
 * fails (an untrusted server, or a client certificate the server refuses).
 * `opts` may be NULL for the defaults; it is copied. On success *out is the
 * client; free it with aw_client_free(). Errors: AW_EINVAL (empty target, bad
 * options: a certificate without its key, an unknown load_balancing, a token
 * with characters not allowed in metadata), AW_ENOMEM.
 */
AW_EXTERN int aw_client_new(aw_client **out, const char *target, const aw_client_options *opts,
			    aw_err *err);

/* Closes the channel and frees the client. Calls must have returned. NULL is a
 * no-op. */
AW_EXTERN void aw_client_free(aw_client *client);

/* ---- aniworld.v1.AnimeSeriesService ---------------------------------------------------- */

/* Creates req->series. AW_EEXIST when its key is taken, AW_EINVAL when key or
 * name is empty or total_episodes is negative. *out: the stored series. */
AW_EXTERN int aw_client_series_create(aw_client *client,
				      const Aniworld__V1__CreateSeriesRequest *req,
				      Aniworld__V1__AnimeSeries **out, aw_err *err);

/* Reads series req->id. AW_ENOTFOUND when there is none. */
AW_EXTERN int aw_client_series_get(aw_client *client, const Aniworld__V1__GetSeriesRequest *req,
				   Aniworld__V1__AnimeSeries **out, aw_err *err);

/* Reads the series with key req->key. AW_ENOTFOUND when there is none. */
AW_EXTERN int aw_client_series_get_by_key(aw_client *client,
					  const Aniworld__V1__GetSeriesByKeyRequest *req,
					  Aniworld__V1__AnimeSeries **out, aw_err *err);

/* Reads one page of series in id order; pass (*out)->next_page_token in the
 * next request to continue. AW_EINVAL for a negative page_size or a bad token.
 * Free with aniworld__v1__list_series_response__free_unpacked(). */
AW_EXTERN int aw_client_series_list(aw_client *client, const Aniworld__V1__ListSeriesRequest *req,
				    Aniworld__V1__ListSeriesResponse **out, aw_err *err);

/* Changes the fields of series req->series->id named in req->update_mask (all
 * mutable fields when empty). AW_ENOTFOUND, AW_EEXIST (key taken), AW_EINVAL
 * (unknown or output-only path, invalid value). *out: the series after. */
AW_EXTERN int aw_client_series_update(aw_client *client,
				      const Aniworld__V1__UpdateSeriesRequest *req,
				      Aniworld__V1__AnimeSeries **out, aw_err *err);

/* Deletes series req->id with its episodes and download queue items.
 * AW_ENOTFOUND when there is none. Nothing to free on success. */
AW_EXTERN int aw_client_series_delete(aw_client *client,
				      const Aniworld__V1__DeleteSeriesRequest *req, aw_err *err);

#ifdef __cplusplus
}
#endif
#endif /* ANIWORLD_CLIENT_H */
