/*
 * config.h: the server's settings.
 *
 * Every setting has a command-line flag and an environment variable; a flag
 * wins over the variable, which wins over the default. The table in config.c is
 * the single list of settings: --help prints it, README.md mirrors it.
 */
#ifndef AW_CONFIG_H
#define AW_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "aniworld/error.h"

typedef struct aw_config {
	char *listen;                 /* address to serve on, "host:port" */
	char *db;                     /* SQLite database file, ":memory:", or a PostgreSQL URI */
	int db_pool_size;             /* PostgreSQL reader connections at most */
	int64_t db_query_timeout_ms;  /* PostgreSQL: longest wait for a connection or answer */
	int migrate_only;             /* migrate the schema and exit */
	int threads;                  /* completion-queue threads; 0 = one per core */
	char *log_level;              /* debug, info, warn, error, off */
	char *log_format;             /* text or json */
	int64_t shutdown_grace_ms;    /* how long in-flight calls may finish on SIGTERM */
	int64_t max_receive_bytes;    /* largest request message accepted */
	int64_t max_reply_bytes;      /* largest reply sent; list pages stop short of it */
	int64_t busy_timeout_ms;      /* SQLite busy timeout */
	char *durability;             /* "power" (WAL synced at every commit) or "process" */
	int64_t stale_claim_ms;       /* a DOWNLOADING item silent this long is claimable again */
	int64_t request_id_retention_ms; /* answers to writes with a request_id are kept this long */
	int64_t soft_delete_retention_ms; /* DeleteSeries keeps a series this long; 0 = deletes */
	char *tls_cert;               /* PEM certificate chain file; "" = plaintext */
	char *tls_key;                /* PEM private key file for tls_cert */
	char *tls_client_ca;          /* PEM CA file: require client certificates it signed */
	char *auth_tokens_file;       /* bearer tokens, one per line; "" = no token needed */
	int auth_reflection;          /* reflection needs a token too */
	char *admin_tokens_file;      /* admin bearer tokens; "" = the admin service refuses all */
	int64_t max_calls;            /* calls in progress at once; more get RESOURCE_EXHAUSTED */
	int64_t max_queued_writes;    /* writes waiting for the writer; more get RESOURCE_EXHAUSTED */
	int max_batch_writes;         /* most writes in one transaction; 1 = no group commit */
	int64_t max_streams_per_conn; /* HTTP/2 streams one connection may have open */
	int64_t max_memory_bytes;     /* grpc's buffers for all connections together */
	int64_t keepalive_time_ms;    /* ping an idle connection this often */
	int64_t keepalive_timeout_ms; /* and drop it if the ping is not answered in time */
	int64_t max_connection_idle_ms;  /* close connections idle this long; 0 = never */
	int64_t max_connection_age_ms;   /* close connections this old (rebalancing); 0 = never */
	int64_t max_connection_age_grace_ms; /* calls on an aged connection get this long */
	char *metrics_listen;         /* Prometheus endpoint, "host:port"; "" = none */
	int metrics_max_connections;  /* open on it at once; more close the oldest idle one */
	int64_t metrics_timeout_ms;   /* to send a request head there, and again to take the reply */
	int owns_strings;             /* set by aw_config_load(): strings are heap copies */
} aw_config;

/* Fills `cfg` with the defaults. Strings point to static storage until
 * aw_config_load() replaces them with owned copies. */
void aw_config_defaults(aw_config *cfg);

/*
 * Applies the environment (ANIWORLD_*) and then argv over the defaults already in
 * `cfg`. `argv[0]` is skipped. On a bad value returns AW_EINVAL with a message
 * naming the flag or variable. Sets *help_requested when --help was given (and
 * stops parsing). Strings in `cfg` are then owned by it: free with
 * aw_config_close().
 */
int aw_config_load(aw_config *cfg, int argc, char **argv, int *help_requested, aw_err *err);

/* Frees the strings aw_config_load() allocated. Accepts a defaults-only config. */
void aw_config_close(aw_config *cfg);

/* Writes the --help text (every flag, its variable, default and meaning). */
void aw_config_usage(FILE *out, const char *prog);

#endif /* AW_CONFIG_H */
