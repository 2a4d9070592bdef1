/*
 * metrics.h: what the transport counts about the calls it serves, for the
 * server's metrics endpoint (server/metrics_http.h).
 *
 * Per served method: calls by final gRPC status, and a histogram of the time
 * from arrival to the final status. Counting is a few relaxed atomic adds per
 * call on counters of that method alone; nothing is allocated or locked.
 * Calls to paths nobody serves are counted apart, by status only.
 */
#ifndef AW_TRANSPORT_METRICS_H
#define AW_TRANSPORT_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "transport.h"

/*
 * Writes the counts in Prometheus' text exposition format (version 0.0.4) to
 * `out`, in the names go-grpc-prometheus made the convention:
 *   grpc_server_handled_total{grpc_service,grpc_method,grpc_type,grpc_code}
 *   grpc_server_handling_seconds_bucket/_sum/_count{grpc_service,grpc_method,grpc_type}
 *   aniworld_calls_in_flight
 * Methods that have never been called are listed with zero counts for OK only,
 * so that every series exists from the start. Returns 0, or AW_EINTERNAL when `out`
 * fails. Thread-safe; the figures of one scrape are not one snapshot.
 */
int aw_transport_write_metrics(aw_transport *t, FILE *out, aw_err *err);

#endif /* AW_TRANSPORT_METRICS_H */
