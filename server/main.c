/*
 * aniworld-server: configuration, signals and the server's life. Nothing else
 * (subcommands live in files of their own: restore.c, snapshot_cmd.c).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "copy_db.h"
#include "log.h"
#include "repo/repo.h"
#include "restore.h"
#include "server.h"
#include "snapshot_cmd.h"

int main(int argc, char **argv)
{
	aw_config cfg;
	aw_log_level level;
	aw_log_format format;
	char where[512];
	aw_server *server = NULL;
	aw_err err;
	sigset_t sigs;
	int help = 0, sig = 0;

	/* Subcommands, each in a file of its own. */
	if (argc > 1 && strcmp(argv[1], "copy-db") == 0)
		return aw_copy_db_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "restore") == 0)
		return aw_restore_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "snapshot") == 0)
		return aw_snapshot_cmd_main(argc - 1, argv + 1);

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
	if (aw_log_format_parse(cfg.log_format, &format) != 0) {
		fprintf(stderr, "aniworld-server: --log-format: expected text or json, got \"%s\"\n",
			cfg.log_format);
		aw_config_close(&cfg);
		return 2;
	}
	aw_log_set_format(format);

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
	aw_log(AW_LOG_INFO, "durability %s", aw_server_durability(server));
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
	if (aw_server_admin_token_count(server) > 0)
		aw_log(AW_LOG_INFO, "admin service open to %zu admin tokens",
		       aw_server_admin_token_count(server));
	else
		aw_log(AW_LOG_INFO, "admin service disabled (no --admin-tokens-file)");

	for (;;) {
		sigwait(&sigs, &sig);
		if (sig != SIGHUP)
			break;
		if (aw_server_reload(server, &err) != 0)
			aw_log(AW_LOG_ERROR, "SIGHUP: reload failed, keeping the old settings: %s", err.msg);
		else
			aw_log(AW_LOG_INFO, "SIGHUP: reloaded, %zu bearer tokens and %zu admin tokens "
			       "in force", aw_server_token_count(server),
			       aw_server_admin_token_count(server));
	}
	aw_log(AW_LOG_INFO, "%s: shutting down (grace %lld ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
	       (long long)cfg.shutdown_grace_ms);
	aw_server_free(server);
	aw_log(AW_LOG_INFO, "stopped");
	aw_config_close(&cfg);
	return 0;
}
