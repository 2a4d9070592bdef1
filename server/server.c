/*
 * Assembly of a server: repository, services, health, transport. The order of
 * start and stop matters and is spelled out here once.
 */
#include "server.h"

#include <stdatomic.h>
#include <stdio.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_count.h"
#include "log.h"
#include "metrics_http.h"
#include "repo/repo.h"
#include "services/services.h"
#include "transport/descriptors.h"
#include "transport/auth.h"
#include "transport/health.h"
#include "transport/metrics.h"
#include "transport/reflection.h"
#include "transport/tls.h"
#include "transport/transport.h"
#include "series_purger.h"

/* The entity services, in the order they are registered. Health reports each
 * under its full name. */
static aw_service_new_fn *const entity_services[] = {
	aw_series_service_new,
	aw_episode_service_new,
	aw_downloads_service_new,
	aw_session_service_new,
};

#define N_SERVICES (sizeof(entity_services) / sizeof(entity_services[0]))

/* Smallest --max-reply-bytes: reflection must still send every descriptor
 * file at once, and a page room for more than a few records. */
#define AW_MIN_REPLY_BYTES 65536

struct aw_server {
	aw_repo *repo;
	aw_descpool *descriptors;
	aw_health *health;
	aw_reflection *reflection;
	aw_download_events *download_events; /* WatchDownloads' watchers, fed by the repository */
	ProtobufCService *services[N_SERVICES];
	ProtobufCService *admin;  /* AdminService, served with AW_SERVICE_ADMIN */
	aw_transport *transport;
	aw_auth *auth;            /* NULL: no token needed */
	aw_auth *admin_auth;      /* NULL: the admin service refuses every call */
	aw_metrics_http *metrics; /* NULL: no metrics endpoint */
	aw_series_purger *purger; /* NULL: no soft delete */
	atomic_ullong write_faults;   /* for the metrics: write faults begun or changed */
	atomic_ullong read_failures;  /* and reads failed by storage faults */
	aw_tls_mode tls;
	int port;
	int64_t grace_ms;
	int threads; /* completion-queue threads, resolved */
	int stopped;
	/* Health follows the database: SERVING only while the server is started,
	 * not stopping, and its database answers (see set_health). */
	pthread_mutex_t health_mu;  /* guards the three below and health changes */
	int started;
	int stopping;
	int db_unreachable;
};

/* Sets the services' health from the server's state; takes health_mu. */
static void set_health(aw_server *s)
{
	pthread_mutex_lock(&s->health_mu);
	if (s->health != NULL) {
		aw_health_set_serving(s->health, s->started && !s->stopping && !s->db_unreachable);
		aw_health_set_alive(s->health, s->started && !s->stopping);
	}
	pthread_mutex_unlock(&s->health_mu);
}

/* Transport hooks: each transport thread gathers its writes and runs them when
 * it has no request ready (repo.h, aw_repo_defer_writes). */
static void hook_thread_start(void *arg)
{
	aw_repo_defer_writes(((aw_server *)arg)->repo);
}

static int hook_has_deferred(void *arg)
{
	return aw_repo_has_queued(((aw_server *)arg)->repo);
}

static void hook_run_deferred(void *arg)
{
	aw_repo_flush(((aw_server *)arg)->repo);
}

/*
 * The repository's storage fault reports, logged here at the edge: a fault
 * once when it starts or changes, its end once, and failed reads at most once
 * a minute per kind, instead of a line per failing call at ERROR.
 */
static void hook_storage(void *arg, aw_repo_storage_event event, const aw_err *err,
			 uint64_t count)
{
	aw_server *s = arg;

	switch (event) {
	case AW_REPO_READ_ONLY:
		aw_log(AW_LOG_WARN, "storage: %s; serving reads only (%s)", err->msg,
		       aw_err_name(err->code));
		break;
	case AW_REPO_WRITES_FAILING:
		atomic_fetch_add(&s->write_faults, 1);
		aw_log(AW_LOG_ERROR, "storage: writes failing (%s): %s; reads go on",
		       aw_err_name(err->code), err->msg);
		break;
	case AW_REPO_WRITES_RECOVERED:
		aw_log(AW_LOG_WARN, "storage: writes work again, after %llu failed transaction%s",
		       (unsigned long long)count, count == 1 ? "" : "s");
		break;
	case AW_REPO_UNREACHABLE:
		aw_log(AW_LOG_ERROR, "storage: %s; health NOT_SERVING until it answers again",
		       err != NULL ? err->msg : "database unreachable");
		pthread_mutex_lock(&s->health_mu);
		s->db_unreachable = 1;
		pthread_mutex_unlock(&s->health_mu);
		set_health(s);
		break;
	case AW_REPO_REACHABLE:
		aw_log(AW_LOG_WARN, "storage: the database answers again; health SERVING");
		pthread_mutex_lock(&s->health_mu);
		s->db_unreachable = 0;
		pthread_mutex_unlock(&s->health_mu);
		set_health(s);
		break;
	case AW_REPO_READ_FAILED:
		atomic_fetch_add(&s->read_failures, 1 + count);
		if (count > 0)
			aw_log(AW_LOG_ERROR, "storage: a read failed (%s): %s (%llu more read failures "
			       "since the last report)", aw_err_name(err->code), err->msg,
			       (unsigned long long)count);
		else
			aw_log(AW_LOG_ERROR, "storage: a read failed (%s): %s", aw_err_name(err->code),
			       err->msg);
		break;
	}
}

/*
 * The repository's change events go to the WatchDownloads broker: every
 * committed change to the queue, whichever replica wrote it. NULL means that
 * events may have been lost (the repository lost its database connection for
 * a moment): every watcher is ended, to list again and watch anew.
 */
static void hook_download_event(void *arg, const Aniworld__V1__DownloadEvent *ev)
{
	aw_server *s = arg;

	if (ev == NULL)
		aw_download_events_lost(s->download_events);
	else if (ev->item != NULL)
		aw_download_events_publish(s->download_events, ev->item, ev->type);
}

/* Whether anybody watches, so that a backend can skip unpacking events. */
static int hook_events_watched(void *arg)
{
	return aw_download_events_watched(((aw_server *)arg)->download_events);
}

/* 0 means one thread per CPU this process may really use: its affinity mask
 * (taskset, cpusets) bounded by its cgroup's CPU quota (a container's CPU
 * limit), not every core of the machine. */
static int resolve_threads(int configured)
{
	int n = configured > 0 ? configured : aw_cpu_count();

	return n > AW_MAX_THREADS ? AW_MAX_THREADS : n;
}

/* Serves `svc` and makes it known to health and reflection under its full name. */
static int serve(aw_server *s, ProtobufCService *svc, unsigned flags, aw_err *err)
{
	const char *name = svc->descriptor->name;
	int rc = aw_transport_add_service(s->transport, svc, flags, err);

	if (rc == 0)
		rc = aw_health_add(s->health, name, err);
	if (rc == 0)
		rc = aw_reflection_add(s->reflection, name, err);
	return rc;
}

/* The backend settings from the configuration, as text; each backend reads its
 * own and ignores the rest. */
typedef struct repo_settings {
	aw_repo_setting list[4];
	char busy_ms[24], pool_size[24], query_ms[24];
} repo_settings;

static void repo_options(const aw_config *cfg, aw_repo_options *ropts, repo_settings *rs)
{
	aw_repo_options_defaults(ropts);
	snprintf(rs->busy_ms, sizeof(rs->busy_ms), "%lld", (long long)cfg->busy_timeout_ms);
	snprintf(rs->pool_size, sizeof(rs->pool_size), "%d", cfg->db_pool_size);
	snprintf(rs->query_ms, sizeof(rs->query_ms), "%lld", (long long)cfg->db_query_timeout_ms);
	rs->list[0] = (aw_repo_setting){"busy_timeout_ms", rs->busy_ms};
	rs->list[1] = (aw_repo_setting){"pool_size", rs->pool_size};
	rs->list[2] = (aw_repo_setting){"query_timeout_ms", rs->query_ms};
	rs->list[3] = (aw_repo_setting){"durability", cfg->durability};
	ropts->settings = rs->list;
	ropts->n_settings = 4;
	ropts->max_reply_bytes = (size_t)cfg->max_reply_bytes;
	ropts->request_id_retention_us =
		cfg->request_id_retention_ms > INT64_MAX / 1000 ? INT64_MAX : cfg->request_id_retention_ms * 1000;
	if (cfg->max_queued_writes > 0)
		ropts->max_queue = cfg->max_queued_writes > INT32_MAX ? INT32_MAX
								       : (int)cfg->max_queued_writes;
	ropts->max_batch = cfg->max_batch_writes;
}

int aw_server_migrate(const aw_config *cfg, aw_err *err)
{
	aw_repo_options ropts;
	repo_settings settings;
	aw_repo *repo;
	int rc;

	repo_options(cfg, &ropts, &settings);
	rc = aw_repo_open(&repo, cfg->db, &ropts, err);
	if (rc == 0)
		aw_repo_close(repo);
	return rc;
}

int aw_server_open(aw_server **out, const aw_config *cfg, aw_err *err)
{
	aw_server *s = calloc(1, sizeof(*s));
	aw_health *health = NULL;
	aw_repo_options ropts;
	repo_settings settings;
	aw_transport_config tcfg;
	int rc;

	*out = NULL;
	if (s == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the server");
	s->grace_ms = cfg->shutdown_grace_ms;
	pthread_mutex_init(&s->health_mu, NULL);

	if (cfg->max_reply_bytes < AW_MIN_REPLY_BYTES || cfg->max_reply_bytes > INT32_MAX) {
		pthread_mutex_destroy(&s->health_mu);
		free(s);
		return aw_err_set(err, AW_EINVAL, "--max-reply-bytes: expected %d to %d, got %lld",
				  AW_MIN_REPLY_BYTES, INT32_MAX, (long long)cfg->max_reply_bytes);
	}
	repo_options(cfg, &ropts, &settings);
	ropts.on_storage = hook_storage;
	ropts.storage_arg = s;
	ropts.on_download_event = hook_download_event;
	ropts.events_watched = hook_events_watched;
	ropts.event_arg = s;
	ropts.request_id_purger = 1;
	/* The broker first: a backend may deliver events as soon as it is open. */
	rc = aw_download_events_new(&s->download_events, err);
	if (rc == 0)
		rc = aw_repo_open(&s->repo, cfg->db, &ropts, err);
	if (rc == 0)
		rc = aw_descpool_new(&s->descriptors, aw__served_descriptors, aw__served_descriptors_len,
				     err);
	if (rc == 0)
		rc = aw_health_new(&health, err);
	if (rc == 0) {
		/* The storage hook may already run on the repository's threads. */
		pthread_mutex_lock(&s->health_mu);
		s->health = health;
		pthread_mutex_unlock(&s->health_mu);
	}
	if (rc == 0)
		rc = aw_reflection_new(&s->reflection, s->descriptors, err);
	/* Reflection's replies are fixed by the build; they must fit too. */
	if (rc == 0 && aw_reflection_max_reply(s->reflection) > (size_t)cfg->max_reply_bytes)
		rc = aw_err_set(err, AW_EINVAL,
				"--max-reply-bytes: %lld is less than reflection's largest reply, %zu",
				(long long)cfg->max_reply_bytes, aw_reflection_max_reply(s->reflection));
	if (rc != 0)
		goto fail;

	aw_transport_config_defaults(&tcfg);
	s->threads = resolve_threads(cfg->threads);
	tcfg.threads = s->threads;
	/* Threads counted by the server scale with the CPU there is for them; a
	 * count given by hand is what serves. */
	tcfg.adaptive = cfg->threads == 0;
	tcfg.max_receive_bytes = cfg->max_receive_bytes;
	tcfg.max_send_bytes = cfg->max_reply_bytes;
	tcfg.max_calls = cfg->max_calls;
	tcfg.max_streams_per_conn = cfg->max_streams_per_conn;
	tcfg.max_memory_bytes = cfg->max_memory_bytes;
	tcfg.keepalive_time_ms = cfg->keepalive_time_ms;
	tcfg.keepalive_timeout_ms = cfg->keepalive_timeout_ms;
	tcfg.max_connection_idle_ms = cfg->max_connection_idle_ms;
	tcfg.max_connection_age_ms = cfg->max_connection_age_ms;
	tcfg.max_connection_age_grace_ms = cfg->max_connection_age_grace_ms;
	tcfg.descriptors = s->descriptors;
	tcfg.thread_start = hook_thread_start;
	tcfg.has_deferred = hook_has_deferred;
	tcfg.run_deferred = hook_run_deferred;
	tcfg.hook_arg = s;
	rc = aw_transport_new(&s->transport, &tcfg, err);
	if (rc == 0 && cfg->auth_tokens_file[0] != '\0') {
		rc = aw_auth_new(&s->auth, cfg->auth_tokens_file, err);
		if (rc == 0)
			aw_transport_set_auth(s->transport, s->auth, cfg->auth_reflection);
	}
	if (rc == 0 && cfg->admin_tokens_file[0] != '\0') {
		rc = aw_auth_new(&s->admin_auth, cfg->admin_tokens_file, err);
		if (rc == 0)
			aw_transport_set_admin_auth(s->transport, s->admin_auth);
		else {
			char msg[AW_ERR_MSG_MAX];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			aw_err_set(err, rc, "--admin-tokens-file: %s", msg);
		}
	}
	if (rc != 0)
		goto fail;

	for (size_t i = 0; i < N_SERVICES && rc == 0; i++) {
		const aw_service_env env = {s->repo, cfg, s->download_events};

		rc = entity_services[i](&s->services[i], &env, err);
		if (rc == 0)
			rc = serve(s, s->services[i], 0, err);
	}
	if (rc == 0) {
		const aw_service_env env = {s->repo, cfg, s->download_events};

		rc = aw_admin_service_new(&s->admin, &env, err);
		if (rc == 0)
			rc = serve(s, s->admin, AW_SERVICE_ADMIN, err);
	}
	if (rc == 0)
		rc = serve(s, aw_health_service(s->health), AW_SERVICE_PUBLIC, err);
	if (rc == 0)
		rc = serve(s, aw_reflection_service_v1(s->reflection), AW_SERVICE_INTROSPECTION, err);
	if (rc == 0)
		rc = serve(s, aw_reflection_service_v1alpha(s->reflection), AW_SERVICE_INTROSPECTION,
			   err);
	if (rc != 0)
		goto fail;
	*out = s;
	return 0;

fail:
	aw_server_free(s);
	return rc;
}

/* The metrics endpoint's exposition: the transport's call counts, then the
 * repository's writes. */
static int render_metrics(void *arg, FILE *out, aw_err *err)
{
	aw_server *s = arg;
	uint64_t batches, writes;

	aw_repo_stats(s->repo, &batches, &writes);
	fprintf(out,
		"# HELP aniworld_store_transactions_total Write transactions committed or failed.\n"
		"# TYPE aniworld_store_transactions_total counter\n"
		"aniworld_store_transactions_total %llu\n"
		"# HELP aniworld_store_writes_total Writes run in those transactions (group commit).\n"
		"# TYPE aniworld_store_writes_total counter\n"
		"aniworld_store_writes_total %llu\n"
		"# HELP aniworld_store_write_faults_total Times writes began failing for a storage "
		"fault (disk full, locked, corrupt, I/O), or the fault changed.\n"
		"# TYPE aniworld_store_write_faults_total counter\n"
		"aniworld_store_write_faults_total %llu\n"
		"# HELP aniworld_store_read_failures_total Reads failed by a storage fault.\n"
		"# TYPE aniworld_store_read_failures_total counter\n"
		"aniworld_store_read_failures_total %llu\n",
		(unsigned long long)batches, (unsigned long long)writes,
		(unsigned long long)atomic_load(&s->write_faults),
		(unsigned long long)atomic_load(&s->read_failures));
	return aw_transport_write_metrics(s->transport, out, err);
}

int aw_server_start(aw_server **out, const aw_config *cfg, aw_err *err)
{
	aw_server *s;
	grpc_server_credentials *creds = NULL;
	int rc = aw_server_open(&s, cfg, err);

	*out = NULL;
	if (rc != 0)
		return rc;
	rc = aw_tls_server_credentials(cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, &creds,
				       &s->tls, err);
	if (rc == 0)
		rc = aw_transport_listen(s->transport, cfg->listen, creds, &s->port, err);
	if (creds != NULL)
		grpc_server_credentials_release(creds);
	if (rc == 0)
		rc = aw_transport_start(s->transport, err);
	if (rc == 0 && cfg->metrics_listen[0] != '\0')
		rc = aw_metrics_http_start(&s->metrics, cfg->metrics_listen,
					   cfg->metrics_max_connections, cfg->metrics_timeout_ms,
					   render_metrics, s, err);
	/* Deleted series are purged a tenth of the retention late at most
	 * (between 100 ms and a minute). */
	if (rc == 0 && cfg->soft_delete_retention_ms > 0) {
		int64_t every = cfg->soft_delete_retention_ms / 10;

		rc = aw_series_purger_start(&s->purger, s->repo,
					    every < 100 ? 100 : every > 60000 ? 60000 : every, err);
	}
	if (rc != 0) {
		aw_server_free(s);
		return rc;
	}
	pthread_mutex_lock(&s->health_mu);
	s->started = 1;
	pthread_mutex_unlock(&s->health_mu);
	set_health(s);
	*out = s;
	return 0;
}

aw_transport *aw_server_transport(aw_server *s)
{
	return s->transport;
}

const char *aw_server_security(const aw_server *s)
{
	return aw_tls_mode_name(s->tls);
}

const char *aw_server_durability(const aw_server *s)
{
	return aw_repo_durability(s->repo);
}

size_t aw_server_token_count(const aw_server *s)
{
	return s->auth != NULL ? aw_auth_count(s->auth) : 0;
}

size_t aw_server_admin_token_count(const aw_server *s)
{
	return s->admin_auth != NULL ? aw_auth_count(s->admin_auth) : 0;
}

int aw_server_reload(aw_server *s, aw_err *err)
{
	aw_err admin_err;
	int rc = 0, admin_rc = 0;

	/* Both files, even when the first fails: each keeps its old tokens
	 * only if it cannot be read itself. */
	if (s->auth != NULL)
		rc = aw_auth_reload(s->auth, NULL, err);
	if (s->admin_auth != NULL)
		admin_rc = aw_auth_reload(s->admin_auth, NULL, &admin_err);
	if (rc == 0 && admin_rc != 0)
		rc = aw_err_set(err, admin_rc, "--admin-tokens-file: %s", admin_err.msg);
	return rc;
}

int aw_server_port(const aw_server *s)
{
	return s->port;
}

int aw_server_threads(const aw_server *s)
{
	return s->threads;
}

int aw_server_metrics_port(const aw_server *s)
{
	return s->metrics != NULL ? aw_metrics_http_port(s->metrics) : 0;
}

void aw_server_stop(aw_server *s)
{
	if (s == NULL || s->stopped)
		return;
	s->stopped = 1;
	/* First: a scrape reads the repository, which closes below. */
	aw_metrics_http_stop(s->metrics);
	s->metrics = NULL;
	pthread_mutex_lock(&s->health_mu);
	s->stopping = 1;
	pthread_mutex_unlock(&s->health_mu);
	set_health(s);
	if (s->health != NULL)
		aw_health_shutdown(s->health);
	/* Open WatchDownloads streams end before the transport waits for calls,
	 * once they have the changes committed until now (a backend whose events
	 * come back from the database may still be on their way). */
	if (s->repo != NULL && s->download_events != NULL) {
		aw_err err;
		int rc = aw_repo_events_sync(s->repo, 2000, &err);

		if (rc != 0)
			aw_log(AW_LOG_WARN, "download events may not all reach the watchers before "
			       "they are ended: %s", err.msg);
	}
	if (s->download_events != NULL)
		aw_download_events_shutdown(s->download_events);
	/* Snapshots end too, and leave the repository before it closes. */
	aw_admin_service_shutdown(s->admin);
	if (s->transport != NULL)
		aw_transport_shutdown(s->transport, s->grace_ms);
	aw_series_purger_stop(s->purger);
	s->purger = NULL;
	/* Every call has ended, so no write is under way any more. */
	if (s->repo != NULL) {
		uint64_t batches, writes;
		aw_repo_stats(s->repo, &batches, &writes);
		aw_log(AW_LOG_INFO, "%llu writes in %llu transactions (%.2f a transaction)",
		       (unsigned long long)writes, (unsigned long long)batches,
		       batches > 0 ? (double)writes / (double)batches : 0.0);
	}
	aw_repo_close(s->repo);
	s->repo = NULL;
}

void aw_server_free(aw_server *s)
{
	if (s == NULL)
		return;
	aw_server_stop(s);
	aw_transport_free(s->transport);
	for (size_t i = 0; i < N_SERVICES; i++) {
		if (s->services[i] != NULL)
			protobuf_c_service_destroy(s->services[i]);
	}
	if (s->admin != NULL)
		protobuf_c_service_destroy(s->admin);
	aw_download_events_free(s->download_events);
	aw_health_free(s->health);
	aw_reflection_free(s->reflection);
	aw_auth_free(s->auth);
	aw_auth_free(s->admin_auth);
	aw_descpool_free(s->descriptors);
	pthread_mutex_destroy(&s->health_mu);
	free(s);
}
