/*
 * Settings from flags and environment variables, driven by one table.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum opt_type { OPT_STR, OPT_INT, OPT_I64, OPT_MS, OPT_BOOL } opt_type;

typedef struct opt {
	const char *flag; /* without the leading "--" */
	const char *env;
	opt_type type;
	size_t offset;    /* into aw_config */
	const char *help;
} opt;

#define F(field) offsetof(aw_config, field)

static const opt options[] = {
	{"listen", "ANIWORLD_LISTEN", OPT_STR, F(listen),
	 "address to serve gRPC on, host:port (all interfaces by default)"},
	{"db", "ANIWORLD_DB", OPT_STR, F(db),
	 "SQLite database file (\":memory:\" for a throwaway one), or a postgres:// or "
	 "postgresql:// URI (libpq's PG* variables and files apply)"},
	{"db-pool-size", "ANIWORLD_DB_POOL_SIZE", OPT_INT, F(db_pool_size),
	 "PostgreSQL: reader connections at most; a read waits for a free one"},
	{"db-query-timeout", "ANIWORLD_DB_QUERY_TIMEOUT", OPT_MS, F(db_query_timeout_ms),
	 "PostgreSQL: longest wait for a connection or an answer; then UNAVAILABLE"},
	{"migrate-only", "ANIWORLD_MIGRATE_ONLY", OPT_BOOL, F(migrate_only),
	 "bring the database schema up to date and exit (a Kubernetes Job or init container)"},
	{"threads", "ANIWORLD_THREADS", OPT_INT, F(threads),
	 "threads serving calls; 0 = one per CPU the process may use (affinity and cgroup CPU limit), "
	 "those past the first taking calls only while a CPU is free for them"},
	{"log-level", "ANIWORLD_LOG_LEVEL", OPT_STR, F(log_level),
	 "debug, info (one line per call), warn, error or off"},
	{"log-format", "ANIWORLD_LOG_FORMAT", OPT_STR, F(log_format),
	 "text (the default) or json: one JSON object a line, for log pipelines"},
	{"shutdown-grace", "ANIWORLD_SHUTDOWN_GRACE", OPT_MS, F(shutdown_grace_ms),
	 "on SIGTERM/SIGINT, how long in-flight calls may finish (e.g. 10s, 500ms)"},
	{"max-receive-bytes", "ANIWORLD_MAX_RECEIVE_BYTES", OPT_I64, F(max_receive_bytes),
	 "largest request message accepted; larger ones get RESOURCE_EXHAUSTED"},
	{"max-reply-bytes", "ANIWORLD_MAX_REPLY_BYTES", OPT_I64, F(max_reply_bytes),
	 "largest reply sent: list pages hold fewer items than page_size rather than pass it, "
	 "writes of records larger are refused (at least 65536)"},
	{"durability", "ANIWORLD_DURABILITY", OPT_STR, F(durability),
	 "SQLite: what an acknowledged write survives: power (the WAL is synced before a write "
	 "is answered: a power cut too) or process (synced at checkpoints: a crash of the "
	 "process; a power cut may take back the last writes). PostgreSQL: its "
	 "synchronous_commit decides"},
	{"busy-timeout", "ANIWORLD_BUSY_TIMEOUT", OPT_MS, F(busy_timeout_ms),
	 "how long SQLite waits for a lock held by another process"},
	{"stale-claim-timeout", "ANIWORLD_STALE_CLAIM_TIMEOUT", OPT_MS, F(stale_claim_ms),
	 "a DOWNLOADING item with no progress report for this long can be claimed again"},
	{"request-id-retention", "ANIWORLD_REQUEST_ID_RETENTION", OPT_MS,
	 F(request_id_retention_ms),
	 "how long the answer to a write with a request_id is kept: a retry within it gets the "
	 "same answer, the write is not done again"},
	{"soft-delete-retention", "ANIWORLD_SOFT_DELETE_RETENTION", OPT_MS,
	 F(soft_delete_retention_ms),
	 "DeleteSeries marks a series deleted and purges it this long after (e.g. 30d); "
	 "0 (the default) deletes at once"},
	{"tls-cert", "ANIWORLD_TLS_CERT", OPT_STR, F(tls_cert),
	 "PEM certificate chain file: serve TLS instead of plaintext (needs --tls-key)"},
	{"tls-key", "ANIWORLD_TLS_KEY", OPT_STR, F(tls_key), "PEM private key file of --tls-cert"},
	{"tls-client-ca", "ANIWORLD_TLS_CLIENT_CA", OPT_STR, F(tls_client_ca),
	 "PEM CA file: require client certificates signed by it (mutual TLS)"},
	{"auth-tokens-file", "ANIWORLD_AUTH_TOKENS_FILE", OPT_STR, F(auth_tokens_file),
	 "bearer tokens, one per line, reloaded on SIGHUP: every call but health must carry one"},
	{"auth-reflection", "ANIWORLD_AUTH_REFLECTION", OPT_BOOL, F(auth_reflection),
	 "with --auth-tokens-file, reflection needs a token too (true/false)"},
	{"admin-tokens-file", "ANIWORLD_ADMIN_TOKENS_FILE", OPT_STR, F(admin_tokens_file),
	 "admin bearer tokens, one per line, reloaded on SIGHUP: the admin service (snapshots) "
	 "needs one; without the file it answers PERMISSION_DENIED"},
	{"max-calls", "ANIWORLD_MAX_CALLS", OPT_I64, F(max_calls),
	 "calls in progress at once (streams included, health excluded); more get RESOURCE_EXHAUSTED"},
	{"max-queued-writes", "ANIWORLD_MAX_QUEUED_WRITES", OPT_I64, F(max_queued_writes),
	 "writes waiting for their transaction; more get RESOURCE_EXHAUSTED at once"},
	{"max-batch-writes", "ANIWORLD_MAX_BATCH_WRITES", OPT_INT, F(max_batch_writes),
	 "most writes committed together in one transaction (group commit); 1 = one each"},
	{"max-streams-per-connection", "ANIWORLD_MAX_STREAMS_PER_CONNECTION", OPT_I64,
	 F(max_streams_per_conn), "HTTP/2 streams one connection may have open at once"},
	{"max-memory", "ANIWORLD_MAX_MEMORY", OPT_I64, F(max_memory_bytes),
	 "bytes gRPC may use for the buffers of all connections together"},
	{"keepalive-time", "ANIWORLD_KEEPALIVE_TIME", OPT_MS, F(keepalive_time_ms),
	 "ping a connection after this long without activity"},
	{"keepalive-timeout", "ANIWORLD_KEEPALIVE_TIMEOUT", OPT_MS, F(keepalive_timeout_ms),
	 "close a connection whose keepalive ping is not answered within this"},
	{"max-connection-idle", "ANIWORLD_MAX_CONNECTION_IDLE", OPT_MS, F(max_connection_idle_ms),
	 "close connections without calls for this long; 0 = never"},
	{"max-connection-age", "ANIWORLD_MAX_CONNECTION_AGE", OPT_MS, F(max_connection_age_ms),
	 "close connections this old, so clients reconnect and rebalance; 0 = never"},
	{"max-connection-age-grace", "ANIWORLD_MAX_CONNECTION_AGE_GRACE", OPT_MS,
	 F(max_connection_age_grace_ms), "how long calls on an aged connection may still finish"},
	{"metrics-listen", "ANIWORLD_METRICS_LISTEN", OPT_STR, F(metrics_listen),
	 "serve Prometheus metrics at http://host:port/metrics; empty = no metrics endpoint"},
	{"metrics-max-connections", "ANIWORLD_METRICS_MAX_CONNECTIONS", OPT_INT,
	 F(metrics_max_connections),
	 "connections open at once on the metrics port; one more closes the oldest idle one"},
	{"metrics-timeout", "ANIWORLD_METRICS_TIMEOUT", OPT_MS, F(metrics_timeout_ms),
	 "a metrics connection gets this long to send its request, and as long to take the reply"},
};

#undef F

void aw_config_defaults(aw_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = (char *)"0.0.0.0:50051";
	cfg->db = (char *)"./aniworld.db";
	cfg->threads = 0;
	cfg->log_level = (char *)"info";
	cfg->log_format = (char *)"text";
	cfg->shutdown_grace_ms = 10000;
	cfg->max_receive_bytes = 4 * 1024 * 1024;
	/* Under the 4 MiB every gRPC client accepts by default, with room for
	 * what gRPC adds around a message. */
	cfg->max_reply_bytes = 3 * 1024 * 1024;
	cfg->busy_timeout_ms = 5000;
	cfg->durability = (char *)"power";
	cfg->db_pool_size = 4;
	cfg->db_query_timeout_ms = 5000;
	cfg->migrate_only = 0;
	cfg->stale_claim_ms = 15 * 60 * 1000;
	cfg->request_id_retention_ms = INT64_C(24) * 3600 * 1000;
	cfg->tls_cert = (char *)"";
	cfg->tls_key = (char *)"";
	cfg->tls_client_ca = (char *)"";
	cfg->auth_tokens_file = (char *)"";
	cfg->auth_reflection = 0;
	cfg->admin_tokens_file = (char *)"";
	cfg->max_calls = 4096;
	cfg->max_queued_writes = 4096;
	cfg->max_batch_writes = 256;
	cfg->max_streams_per_conn = 1024;
	cfg->max_memory_bytes = 256 * 1024 * 1024;
	cfg->keepalive_time_ms = 2 * 3600 * 1000; /* gRPC's default */
	cfg->keepalive_timeout_ms = 20 * 1000;
	cfg->max_connection_idle_ms = 0;
	cfg->max_connection_age_ms = 0;
	cfg->max_connection_age_grace_ms = 30 * 1000;
	cfg->metrics_listen = (char *)"";
	cfg->metrics_max_connections = 64;
	cfg->metrics_timeout_ms = 5000;
}

/* Parses true/false, yes/no, on/off, 1/0. */
static int parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return AW_EINVAL;
}

/* Parses a duration: a number with an optional unit ms, s, m, h or d (default ms). */
static int parse_ms(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t mult = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v < 0)
		return AW_EINVAL;
	if (strcmp(end, "") == 0 || strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mult = 3600 * 1000;
	else if (strcmp(end, "d") == 0)
		mult = 24LL * 3600 * 1000;
	else
		return AW_EINVAL;
	if (v > INT64_MAX / mult)
		return AW_EINVAL;
	*out = (int64_t)v * mult;
	return 0;
}

static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return AW_EINVAL;
	*out = v;
	return 0;
}

static int set_value(aw_config *cfg, const opt *o, const char *value, const char *source,
		     aw_err *err)
{
	void *field = (char *)cfg + o->offset;
	int64_t v;

	switch (o->type) {
	case OPT_STR: {
		char *copy = strdup(value);
		if (copy == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory reading %s", source);
		free(*(char **)field); /* owned: aw_config_load() copied every string */
		*(char **)field = copy;
		return 0;
	}
	case OPT_INT:
		if (parse_i64(value, &v) != 0 || v > INT_MAX)
			return aw_err_set(err, AW_EINVAL, "%s: expected a whole number >= 0, got \"%s\"",
					  source, value);
		*(int *)field = (int)v;
		return 0;
	case OPT_I64:
		if (parse_i64(value, &v) != 0)
			return aw_err_set(err, AW_EINVAL, "%s: expected a whole number >= 0, got \"%s\"",
					  source, value);
		*(int64_t *)field = v;
		return 0;
	case OPT_MS:
		if (parse_ms(value, &v) != 0)
			return aw_err_set(err, AW_EINVAL,
					  "%s: expected a duration such as 500ms, 10s or 15m, got \"%s\"",
					  source, value);
		*(int64_t *)field = v;
		return 0;
	case OPT_BOOL:
		if (parse_bool(value, (int *)field) != 0)
			return aw_err_set(err, AW_EINVAL, "%s: expected true or false, got \"%s\"", source,
					  value);
		return 0;
	}
	return aw_err_set(err, AW_EINTERNAL, "%s: unknown option type", source);
}

int aw_config_load(aw_config *cfg, int argc, char **argv, int *help_requested, aw_err *err)
{
	const size_t n_opts = sizeof(options) / sizeof(options[0]);
	int rc;

	*help_requested = 0;
	if (cfg->owns_strings)
		return aw_err_set(err, AW_EINVAL, "configuration already loaded");
	/* Own every string from here on, so close() can free them uniformly. */
	for (size_t i = 0; i < n_opts; i++) {
		if (options[i].type == OPT_STR) {
			char **field = (char **)((char *)cfg + options[i].offset);
			char *copy = strdup(*field != NULL ? *field : "");
			if (copy == NULL) {
				/* Undo the copies made so far; the rest still point at defaults. */
				for (size_t j = 0; j < i; j++) {
					if (options[j].type == OPT_STR) {
						char **f = (char **)((char *)cfg + options[j].offset);
						free(*f);
						*f = (char *)"";
					}
				}
				return aw_err_set(err, AW_ENOMEM, "out of memory");
			}
			*field = copy;
		}
	}
	cfg->owns_strings = 1;
	for (size_t i = 0; i < n_opts; i++) {
		const char *v = getenv(options[i].env);
		if (v == NULL)
			continue;
		rc = set_value(cfg, &options[i], v, options[i].env, err);
		if (rc != 0)
			return rc;
	}
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		const char *value = NULL;
		const opt *o = NULL;
		size_t name_len;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			*help_requested = 1;
			return 0;
		}
		if (strncmp(arg, "--", 2) != 0)
			return aw_err_set(err, AW_EINVAL, "unexpected argument \"%s\" (see --help)", arg);
		arg += 2;
		value = strchr(arg, '=');
		name_len = value != NULL ? (size_t)(value - arg) : strlen(arg);
		for (size_t i = 0; i < n_opts; i++) {
			if (strlen(options[i].flag) == name_len &&
			    strncmp(options[i].flag, arg, name_len) == 0) {
				o = &options[i];
				break;
			}
		}
		if (o == NULL)
			return aw_err_set(err, AW_EINVAL, "unknown flag \"%s\" (see --help)", argv[a]);
		if (value != NULL) {
			value++;
		} else if (o->type == OPT_BOOL &&
			   (a + 1 >= argc || strncmp(argv[a + 1], "--", 2) == 0)) {
			value = "true"; /* a bare boolean flag turns it on */
		} else {
			if (a + 1 >= argc)
				return aw_err_set(err, AW_EINVAL, "--%s needs a value", o->flag);
			value = argv[++a];
		}
		char source[96];
		snprintf(source, sizeof(source), "--%s", o->flag);
		rc = set_value(cfg, o, value, source, err);
		if (rc != 0)
			return rc;
	}
	if (strcmp(cfg->durability, "power") != 0 && strcmp(cfg->durability, "process") != 0)
		return aw_err_set(err, AW_EINVAL,
				  "--durability (ANIWORLD_DURABILITY): expected power or process, got \"%s\"",
				  cfg->durability);
	if (cfg->max_batch_writes < 1)
		return aw_err_set(err, AW_EINVAL, "--max-batch-writes: at least 1 write a transaction");
	return 0;
}

void aw_config_close(aw_config *cfg)
{
	if (!cfg->owns_strings)
		return;
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		if (options[i].type == OPT_STR) {
			char **field = (char **)((char *)cfg + options[i].offset);
			free(*field);
			*field = NULL;
		}
	}
	cfg->owns_strings = 0;
}

void aw_config_usage(FILE *out, const char *prog)
{
	aw_config d;

	aw_config_defaults(&d);
	fprintf(out,
		"usage: %s [--flag value | --flag=value]...\n\n"
		"Aniworld Store: the gRPC persistence service of the Aniworld downloader.\n"
		"Every flag can also be set by its environment variable; a flag wins.\n\n",
		prog);
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		const opt *o = &options[i];
		const void *field = (const char *)&d + o->offset;
		char def[64];

		switch (o->type) {
		case OPT_STR:
			snprintf(def, sizeof(def), "%s",
				 (*(char *const *)field)[0] != '\0' ? *(char *const *)field : "none");
			break;
		case OPT_INT:
			snprintf(def, sizeof(def), "%d", *(const int *)field);
			break;
		case OPT_I64:
			snprintf(def, sizeof(def), "%" PRId64, *(const int64_t *)field);
			break;
		case OPT_MS:
			snprintf(def, sizeof(def), "%" PRId64 "ms", *(const int64_t *)field);
			break;
		case OPT_BOOL:
			snprintf(def, sizeof(def), "%s", *(const int *)field ? "true" : "false");
			break;
		}
		fprintf(out, "  --%-24s %s\n  %-26s %s (default: %s)\n\n", o->flag, o->env, "",
			o->help, def);
	}
}
