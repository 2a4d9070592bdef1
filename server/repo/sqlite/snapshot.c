/*
 * Snapshots of a SQLite database: taking one from the live database, and
 * restoring one offline.
 *
 * Taking. VACUUM INTO, on a connection of its own, writes the database as
 * one read transaction sees it into a new file: in WAL mode that read
 * transaction never holds up the writer, and it sees exactly the
 * transactions committed before it began. The file is made beside the
 * database (the same file system, so a full disk shows as it would for the
 * database) under a name of its own, opened by us first and unlinked as
 * soon as VACUUM INTO has closed it: from then on it lives only as long as
 * our descriptor, so no way of ending the stream leaves it behind. The
 * output is a plain rollback-journal database (VACUUM INTO writes no WAL).
 *
 * Restoring. The snapshot is copied beside the destination, checked there
 * (a database, integrity_check, foreign keys, a schema version this build
 * knows), synced, and renamed over the destination, whose directory is then
 * synced: the destination is the old database or the whole new one, never a
 * mixture. An existing database is replaced only when asked, and not while a
 * server has it open.
 */
#define _GNU_SOURCE /* mkostemp */
#include "sqlite_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* VM steps between two polls of the caller's stop function. */
#define POLL_STEPS 10000

/* Maps errno of a file operation on `what` to an AW_E* code with a message. */
static int sys_error(int e, const char *doing, const char *what, aw_err *err)
{
	char buf[64];
	const char *text = strerror_r(e, buf, sizeof(buf));

	if (e == ENOSPC || e == EDQUOT || e == EFBIG)
		return aw_err_set(err, AW_EFULL, "disk full: %s %s: %s", doing, what, text);
	if (e == EROFS || e == EACCES || e == EPERM)
		return aw_err_set(err, AW_EREADONLY, "cannot write beside the database: %s %s: %s",
				  doing, what, text);
	if (e == ENOMEM)
		return aw_err_set(err, AW_ENOMEM, "%s %s: %s", doing, what, text);
	return aw_err_set(err, AW_EIO, "storage I/O error: %s %s: %s", doing, what, text);
}

/* A new empty file "<path><suffix>XXXXXX" beside `path`: its descriptor, with
 * its name in *name (malloc'd); -1 with err filled. */
static int make_temp(const char *path, const char *suffix, char **name, aw_err *err)
{
	size_t n = strlen(path) + strlen(suffix) + 8;
	char *tmp = malloc(n);
	int fd;

	*name = NULL;
	if (tmp == NULL) {
		aw_err_set(err, AW_ENOMEM, "out of memory for a file name");
		return -1;
	}
	snprintf(tmp, n, "%s%sXXXXXX", path, suffix);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		sys_error(errno, "creating", tmp, err);
		free(tmp);
		return -1;
	}
	*name = tmp;
	return fd;
}

/* Removes `name` and whatever SQLite may have made beside it. */
static void remove_with_journals(const char *name)
{
	static const char *const suffixes[] = {"", "-journal", "-wal", "-shm"};
	char buf[4200];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s", name, suffixes[i]);
		unlink(buf);
	}
}

typedef struct poll_ctx {
	int (*stop)(void *arg);
	void *arg;
	int why; /* the stop function's answer, once it asked to stop */
} poll_ctx;

static int progress(void *arg)
{
	poll_ctx *p = arg;

	if (p->stop != NULL && p->why == 0)
		p->why = p->stop(p->arg);
	return p->why != 0;
}

int aw__sq_snapshot(aw_repo *base, int (*stop)(void *stop_arg), void *stop_arg, int *fd_out,
		    const char **format, aw_err *err)
{
	aw_sq_repo *r = (aw_sq_repo *)base;
	poll_ctx poll = {stop, stop_arg, 0};
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *tmp = NULL;
	int fd, rc;

	*fd_out = -1;
	*format = NULL;
	if (r->path == NULL)
		return aw_err_set(err, AW_EPRECOND, "a database in memory has no file to snapshot");
	fd = make_temp(r->path, ".snapshot-", &tmp, err);
	if (fd < 0)
		return err != NULL ? err->code : AW_EIO;

	rc = sqlite3_open_v2(r->uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
				 SQLITE_OPEN_URI, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(db, 1);
		sqlite3_busy_timeout(db, (int)r->busy_timeout_ms);
		sqlite3_progress_handler(db, POLL_STEPS, progress, &poll);
		rc = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, tmp, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	if (poll.why != 0)
		rc = aw_err_set(err, poll.why, "the snapshot was abandoned: %s",
				aw_strerror(poll.why));
	else if (rc != SQLITE_OK)
		rc = aw__sq_error(db, rc, "writing the snapshot", err);
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* Whatever happened, the name goes: the descriptor keeps the file. */
	remove_with_journals(tmp);
	free(tmp);
	if (rc == 0 && lseek(fd, 0, SEEK_SET) != 0)
		rc = sys_error(errno, "rewinding", "the snapshot", err);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	*fd_out = fd;
	*format = "sqlite3";
	return 0;
}

/* ---- restoring -------------------------------------------------------------------------- */

/* Copies everything from `in` to `out`; errors name `what`. */
static int copy_fd(int in, int out, const char *what, aw_err *err)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sys_error(errno, "reading", what, err);
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return sys_error(errno, "writing the copy of", what, err);
			off += w;
		}
	}
}

/* The first column of the first row of `sql` as an integer, into *out. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out, aw_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			*out = 0;
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : aw__sq_error(db, rc, sql, err);
}

/*
 * Checks the copy at `tmp` (made from `from`) and makes it a database in
 * rollback-journal mode, as VACUUM INTO writes it (the server turns WAL on
 * when it opens it): a SQLite database, integrity_check "ok", no foreign key
 * violation, a schema version from 1 to this build's.
 */
static int check_copy(const char *tmp, const char *from, aw_err *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t version = 0, bad_keys = 0;
	char *msg = NULL;
	int rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, &msg);
	sqlite3_free(msg);
	if (rc != SQLITE_OK) {
		aw_err e;
		aw__sq_error(db, rc, "opening it", &e);
		sqlite3_close(db);
		return aw_err_set(err, e.code == AW_ECORRUPT || e.code == AW_EINTERNAL ? AW_ECORRUPT
										   : e.code,
				  "%s is not a usable database snapshot: %s", from, e.msg);
	}
	/* The first problem integrity_check reports, or "ok". */
	rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *verdict = (const char *)sqlite3_column_text(st, 0);

		if (verdict == NULL || strcmp(verdict, "ok") != 0) {
			aw_err_set(err, AW_ECORRUPT, "%s fails PRAGMA integrity_check: %s", from,
				   verdict != NULL ? verdict : "(no answer)");
			sqlite3_finalize(st);
			sqlite3_close(db);
			return AW_ECORRUPT;
		}
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		aw_err e;
		aw__sq_error(db, rc, "PRAGMA integrity_check", &e);
		sqlite3_close(db);
		return aw_err_set(err, AW_ECORRUPT, "%s fails PRAGMA integrity_check: %s", from,
				  e.msg);
	}
	rc = query_int(db, "SELECT count(*) FROM pragma_foreign_key_check", &bad_keys, err);
	if (rc == 0 && bad_keys > 0)
		rc = aw_err_set(err, AW_ECORRUPT, "%s fails PRAGMA foreign_key_check: %lld rows "
				"refer to rows that are missing", from, (long long)bad_keys);
	if (rc == 0)
		rc = query_int(db, "PRAGMA user_version", &version, err);
	if (rc == 0 && version > aw__sq_schema_version())
		rc = aw_err_set(err, AW_EVERSION,
				"%s has schema version %lld, newer than this server's %d: restore it "
				"with the server version that took it, or a newer one", from,
				(long long)version, aw__sq_schema_version());
	if (rc == 0 && version < 1)
		rc = aw_err_set(err, AW_ECORRUPT,
				"%s is a SQLite database but no Aniworld Store snapshot (schema "
				"version 0)", from);
	sqlite3_close(db);
	return rc;
}

/* Syncs the directory holding `path`, so that a rename in it lasts. */
static int sync_dir(const char *path, aw_err *err)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd, rc = 0;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		rc = sys_error(errno, "syncing the directory", dir, err);
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * Makes sure no server has the database at `path` open, and folds its WAL
 * into it so that no -wal file of the old database is left to be read
 * against the new one. Leaving WAL mode needs the only connection: a server
 * holding the database makes it fail with SQLITE_BUSY. A file that is no
 * database (which --force replaces all the same) only loses its -wal and
 * -shm files.
 */
static int take_over(const char *path, aw_err *err)
{
	char side[4200];
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, &msg);
	sqlite3_free(msg);
	if ((rc & 0xFF) == SQLITE_BUSY || (rc & 0xFF) == SQLITE_LOCKED) {
		sqlite3_close(db);
		return aw_err_set(err, AW_EBUSY,
				  "%s is in use (is a server still running on it?): restore works "
				  "on a database nobody has open", path);
	}
	sqlite3_close(db);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	return 0;
}

int aw__sq_restore(const char *path, const char *from, int force, aw_err *err)
{
	struct stat st;
	char *tmp = NULL;
	int in, out, rc;

	if (strcmp(path, ":memory:") == 0)
		return aw_err_set(err, AW_EINVAL, "--db: cannot restore into a database in memory");
	if (lstat(path, &st) == 0 && !force)
		return aw_err_set(err, AW_EEXIST,
				  "%s exists: restore replaces a database only with --force", path);
	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return aw_err_set(err, AW_EIO, "cannot read %s: %s", from, strerror(errno));
	out = make_temp(path, ".restore-", &tmp, err);
	if (out < 0) {
		close(in);
		return err != NULL ? err->code : AW_EIO;
	}
	rc = copy_fd(in, out, from, err);
	close(in);
	if (rc == 0 && fsync(out) != 0)
		rc = sys_error(errno, "syncing", tmp, err);
	close(out);
	if (rc == 0)
		rc = check_copy(tmp, from, err);
	if (rc == 0 && force && lstat(path, &st) == 0)
		rc = take_over(path, err);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = sys_error(errno, "renaming the checked copy to", path, err);
	if (rc == 0)
		rc = sync_dir(path, err);
	if (rc != 0)
		remove_with_journals(tmp);
	free(tmp);
	return rc;
}
