/*
 * metrics_http.h: the metrics endpoint, GET /metrics over plain HTTP/1.1 for
 * Prometheus, served by an event loop on a thread of its own, so that no
 * connection, however slow, delays another.
 *
 * It is separate from the gRPC port on purpose: scrapers speak HTTP/1.1, and
 * the figures hold no stored data (counts and timings only), so it needs
 * neither TLS nor a token; bind it where only the cluster can reach it.
 * Any other path is 404, any other method than GET and HEAD 405, a request
 * that is not HTTP/1.x 400. Every response closes the connection.
 */
#ifndef AW_METRICS_HTTP_H
#define AW_METRICS_HTTP_H

#include <stdint.h>
#include <stdio.h>

#include "aniworld/error.h"

typedef struct aw_metrics_http aw_metrics_http;

/* Writes the whole exposition to `out`; called for each scrape, on the
 * endpoint's thread. Returns 0 or an AW_E* code (the scrape gets 500). */
typedef int aw_metrics_render_fn(void *arg, FILE *out, aw_err *err);

/*
 * Serves GET /metrics on `listen` ("host:port", a numeric IPv4 or [IPv6]
 * address or a name; port 0 picks a free one), answering with what `render`
 * writes. `arg` is passed on. At most `max_connections` (at least 1) are open
 * at once: one more arriving closes the oldest of those that have not sent a
 * whole request yet. A connection gets `timeout_ms` (at least 1) from its
 * accept to send its request head, and as long again to take the reply; it is
 * closed when either runs out. Returns AW_EINVAL for an address that does not
 * parse or a limit below 1, AW_EUNAVAIL when it cannot be bound, AW_ENOMEM.
 * Stop with aw_metrics_http_stop().
 */
int aw_metrics_http_start(aw_metrics_http **out, const char *listen, int max_connections,
			  int64_t timeout_ms, aw_metrics_render_fn *render, void *arg, aw_err *err);

/* The port it listens on. */
int aw_metrics_http_port(const aw_metrics_http *h);

/* Stops serving, closes every open connection (answered or not) and the
 * listening socket, and frees; NULL is a no-op. */
void aw_metrics_http_stop(aw_metrics_http *h);

#endif /* AW_METRICS_HTTP_H */
