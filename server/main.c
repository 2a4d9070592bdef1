/*
 * aniworld-server: configuration, signals and the server's life. Nothing else.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "repo/repo.h"
#include "server.h"

int main(int argc, char **argv)
{
	aw_config cfg;
	aw_log_level level;
	char where[512];
	aw_server *server = NULL;
	aw_err err;
	sigset_t sigs;
	int help = 0, sig = 0;

	aw_err_clear(&err);
	aw_config_defaults(&cfg);
	if (aw_config_load(&cfg, argc, argv, &help, &err) != 0) {
		fprintf(stderr, "aniworld-server: %s\n", err.msg);
		aw_config_close(&cfg);
		return 2;
	}
	if (help) {
		aw_config_usage(stdout, argv[0]);
		aw_config_close(&cfg);
		return 0;
	}
	if (aw_log_level_parse(cfg.log_level, &level) != 0) {
		fprintf(stderr, "aniworld-server: --log-level: expected debug, info, warn, error or off, got \"%s\"\n",
			cfg.log_level);
		aw_config_close(&cfg);
		return 2;
	}
	aw_log_set_level(level);

	/* Block the signals we wait for before any thread exists, so that only
	 * sigwait() below ever sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Past a file size limit (ulimit -f) a write fails with EFBIG, which the
	 * repository reports as a full disk, instead of killing the process. */
	signal(SIGXFSZ, SIG_IGN);

	if (cfg.migrate_only) {
		aw_repo_location_redact(cfg.db, where, sizeof(where));
		if (aw_server_migrate(&cfg, &err) != 0) {
			aw_log(AW_LOG_ERROR, "cannot migrate: %s (%s)", err.msg, aw_err_name(err.code));
			aw_config_close(&cfg);
			return 1;
		}
		aw_log(AW_LOG_INFO, "database %s: schema up to date", where);
		aw_config_close(&cfg);
		return 0;
	}
	if (aw_server_start(&server, &cfg, &err) != 0) {
		aw_log(AW_LOG_ERROR, "cannot start: %s (%s)", err.msg, aw_err_name(err.code));
		aw_config_close(&cfg);
		return 1;
	}
	/* The location without its secrets (a password in a URI). */
	aw_repo_location_redact(cfg.db, where, sizeof(where));
	aw_log(AW_LOG_INFO, "serving on %s (port %d), database %s, %d thread%s", cfg.listen,
	       aw_server_port(server), where, aw_server_threads(server),
	       aw_server_threads(server) == 1 ? "" : "s");
	if (strcmp(aw_server_security(server), "plaintext") == 0)
		aw_log(AW_LOG_WARN, "serving plaintext: traffic is not encrypted (see --tls-cert)");
	else
		aw_log(AW_LOG_INFO, "serving %s", aw_server_security(server));
	if (aw_server_metrics_port(server) > 0)
		aw_log(AW_LOG_INFO, "metrics on %s (port %d), GET /metrics", cfg.metrics_listen,
		       aw_server_metrics_port(server));
	if (aw_server_token_count(server) > 0)
		aw_log(AW_LOG_INFO, "bearer tokens required (%zu in force)%s",
		       aw_server_token_count(server),
		       cfg.auth_reflection ? ", reflection included" : "; health and reflection open");

	for (;;) {
		sigwait(&sigs, &sig);
		if (sig != SIGHUP)
			break;
		if (aw_server_reload(server, &err) != 0)
			aw_log(AW_LOG_ERROR, "SIGHUP: reload failed, keeping the old settings: %s", err.msg);
		else
			aw_log(AW_LOG_INFO, "SIGHUP: reloaded, %zu bearer tokens in force",
			       aw_server_token_count(server));
	}
	aw_log(AW_LOG_INFO, "%s: shutting down (grace %lld ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
	       (long long)cfg.shutdown_grace_ms);
	aw_server_free(server);
	aw_log(AW_LOG_INFO, "stopped");
	aw_config_close(&cfg);
	return 0;
}
