/*
 * restore.h: `aniworld-server restore`, putting a snapshot (AdminService
 * Snapshot, aw_admin_snapshot) back in place, offline.
 *
 *   aniworld-server restore --from FILE --db PATH [--sha256 FILE] [--force]
 *
 * Checks the snapshot's SHA-256 against the checksum file when one is given
 * (sha256sum's format, or the 64 hex digits alone), then has the repository
 * backend that takes PATH check and install it (aw_repo_restore: whole,
 * integrity_check, a schema version this build knows; an existing database
 * replaced only with --force, atomically). Run it with no server on PATH.
 */
#ifndef AW_RESTORE_H
#define AW_RESTORE_H

/* Runs the subcommand: argv[0] is "restore". Returns the process's exit
 * status: 0 restored, 1 refused or failed (the reason on stderr), 2 a usage
 * error. */
int aw_restore_main(int argc, char **argv);

#endif /* AW_RESTORE_H */
