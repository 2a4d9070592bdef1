/*
 * snapshot_cmd.h: `aniworld-server snapshot`, a client of a running server's
 * AdminService that saves a snapshot to a file (for a Kubernetes CronJob in
 * the server's own image; see README "Backup and restore").
 *
 *   aniworld-server snapshot --target HOST:PORT --out FILE [--token-file FILE]
 *       [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]]
 *       [--timeout DURATION]
 *
 * Streams the snapshot into a temporary file beside FILE with the client
 * library (aw_admin_snapshot, which checks its size and SHA-256), syncs it,
 * renames it to FILE and writes FILE.sha256 in sha256sum's format, the
 * checksum file `aniworld-server restore --sha256` takes. On any failure FILE
 * is left as it was and the temporary file is removed.
 */
#ifndef AW_SNAPSHOT_CMD_H
#define AW_SNAPSHOT_CMD_H

/* Runs the subcommand: argv[0] is "snapshot". Returns the process's exit
 * status: 0 saved, 1 failed (the reason on stderr), 2 a usage error. */
int aw_snapshot_cmd_main(int argc, char **argv);

#endif /* AW_SNAPSHOT_CMD_H */
