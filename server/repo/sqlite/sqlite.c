/*
 * The SQLite backend: opening, connections, transactions, error mapping and the
 * method table. Entity operations live in their own files (anime_series.c, ...).
 */
#define _GNU_SOURCE /* strerror_r returning the text */
#include "sqlite_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "../bulk.h"
#include "../../escape.h"

/* ---- errors -------------------------------------------------------------------------- */

/* The busy timeout `db` was given, for messages (SQLite has no getter but the pragma). */
static int busy_timeout_ms(sqlite3 *db)
{
	sqlite3_stmt *st;
	int ms = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA busy_timeout", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		ms = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return ms;
}

/* Whether errno `e` says why a write failed in a way the mapping tells apart. */
static int telling_errno(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EFBIG || e == EROFS;
}

/*
 * Storage faults get a message that begins with what happened ("disk full:",
 * "database is read-only:", ...): it reaches callers and the log as it is.
 * SQLite reports some of them as I/O errors, with the system's errno beside:
 * a write refused for want of space (ENOSPC, EDQUOT, or EFBIG past a file size
 * limit) is a full disk, one refused by a read-only file system (EROFS) a
 * read-only database. SQLite keeps no errno for a failed COMMIT
 * (sqlite3_system_errno() is 0 then), so the thread's errno, left by the
 * failed write a moment ago, is taken instead, but only when it is one of
 * those: any other value may be stale.
 */
int aw__sq_error(sqlite3 *db, int rc, const char *what, aw_err *err)
{
	int thread_errno = errno;
	char text[160], sys_buf[64], sys_text[80] = "";
	int sys = 0;

	/* Copied: busy_timeout_ms() replaces SQLite's message. */
	snprintf(text, sizeof(text), "%s", db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	/* SQLite records errno only with these two; otherwise it is stale. */
	if (db != NULL && ((rc & 0xFF) == SQLITE_IOERR || (rc & 0xFF) == SQLITE_CANTOPEN)) {
		sys = sqlite3_system_errno(db);
		if (sys == 0 && telling_errno(thread_errno))
			sys = thread_errno;
	}
	if (sys != 0)
		snprintf(sys_text, sizeof(sys_text), " (%s)", strerror_r(sys, sys_buf, sizeof(sys_buf)));

	switch (rc & 0xFF) {
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return aw_err_set(err, AW_EEXIST, "%s: %s", what, text);
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			return aw_err_set(err, AW_ENOTFOUND, "%s: %s", what, text);
		return aw_err_set(err, AW_EINVAL, "%s: %s", what, text);
	case SQLITE_BUSY:
		return aw_err_set(err, AW_EBUSY,
				  "database locked by another process (busy timeout %d ms): %s: %s",
				  db != NULL ? busy_timeout_ms(db) : -1, what, text);
	case SQLITE_LOCKED:
		return aw_err_set(err, AW_EBUSY, "database table locked: %s: %s", what, text);
	case SQLITE_FULL:
		return aw_err_set(err, AW_EFULL, "disk full: %s: %s", what, text);
	case SQLITE_READONLY:
		return aw_err_set(err, AW_EREADONLY, "database is read-only: %s: %s", what, text);
	case SQLITE_CORRUPT:
		return aw_err_set(err, AW_ECORRUPT, "database file is corrupt: %s: %s", what, text);
	case SQLITE_NOTADB:
		return aw_err_set(err, AW_ECORRUPT, "not a SQLite database file: %s: %s", what, text);
	case SQLITE_IOERR:
		if (sys == ENOSPC || sys == EDQUOT || sys == EFBIG)
			return aw_err_set(err, AW_EFULL, "disk full: %s: %s%s", what, text, sys_text);
		if (sys == EROFS)
			return aw_err_set(err, AW_EREADONLY, "database is read-only: %s: %s%s", what,
					  text, sys_text);
		return aw_err_set(err, AW_EIO, "storage I/O error: %s: %s%s", what, text, sys_text);
	case SQLITE_CANTOPEN:
		return aw_err_set(err, AW_EIO, "cannot open the database file: %s: %s%s", what, text,
				  sys_text);
	case SQLITE_PROTOCOL:
		return aw_err_set(err, AW_EIO, "storage I/O error: %s: %s", what, text);
	case SQLITE_NOMEM:
		return aw_err_set(err, AW_ENOMEM, "%s: %s", what, text);
	case SQLITE_INTERRUPT:
		return aw_err_set(err, AW_ECANCELED, "%s: %s", what, text);
	case SQLITE_TOOBIG:
		return aw_err_set(err, AW_EINVAL, "%s: %s", what, text);
	default:
		return aw_err_set(err, AW_EINTERNAL, "%s: %s", what, text);
	}
}

/* ---- statements ------------------------------------------------------------------------ */

int aw__sq_stmt(aw_sq_conn *c, int slot, const char *sql, sqlite3_stmt **out, aw_err *err)
{
	sqlite3_stmt *st = c->stmts[slot];
	int rc;

	if (st == NULL) {
		rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
		if (rc != SQLITE_OK)
			return aw__sq_error(c->db, rc, "preparing a statement", err);
		c->stmts[slot] = st;
	}
	*out = st;
	return 0;
}

int aw__sq_exec_slot(aw_sq_conn *c, int slot, const char *sql, aw_err *err)
{
	sqlite3_stmt *st;
	int rc = aw__sq_stmt(c, slot, sql, &st, err);

	if (rc != 0)
		return rc;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return aw__sq_error(c->db, rc, sql, err);
	return 0;
}

int aw__sq_read_begin(aw_sq_conn *c, aw_err *err)
{
	return aw__sq_exec_slot(c, AW_SQ_BEGIN_READ, "BEGIN DEFERRED", err);
}

void aw__sq_read_end(aw_sq_conn *c)
{
	/* A read transaction has nothing to lose; COMMIT just ends it. */
	if (!sqlite3_get_autocommit(c->db))
		aw__sq_exec_slot(c, AW_SQ_END_READ, "COMMIT", NULL);
}

void aw__sq_finish(sqlite3_stmt *st)
{
	if (st != NULL) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

int aw__sq_step_one(aw_sq_conn *c, sqlite3_stmt *st, const char *what, aw_sq_row_fn *row,
		    const void *ctx, ProtobufCAllocator *mem, ProtobufCMessage **out, aw_err *err)
{
	int rc = sqlite3_step(st);

	*out = NULL;
	if (rc == SQLITE_ROW)
		rc = row(st, ctx, mem, out, err);
	else if (rc == SQLITE_DONE)
		rc = AW_ENOTFOUND;
	else
		rc = aw__sq_error(c->db, rc, what, err);
	aw__sq_finish(st);
	return rc;
}

int aw__sq_page(aw_sq_conn *c, sqlite3_stmt *count_st, sqlite3_stmt *page_st, int limit,
		size_t max_bytes, aw_sq_row_fn *row, const void *ctx, ProtobufCAllocator *mem,
		void **items, size_t *n, int32_t *total, int *more, const char *what, aw_err *err)
{
	int rc = aw__sq_read_begin(c, err), step;
	size_t used = 0;

	*n = 0;
	*more = 0;
	if (rc != 0)
		goto done;
	step = sqlite3_step(count_st);
	if (step != SQLITE_ROW) {
		rc = aw__sq_error(c->db, step, what, err);
		goto done;
	}
	int64_t t = sqlite3_column_int64(count_st, 0);
	*total = t > INT32_MAX ? INT32_MAX : (int32_t)t;
	while ((step = sqlite3_step(page_st)) == SQLITE_ROW) {
		if ((int)*n == limit) {
			*more = 1;
			break;
		}
		rc = row(page_st, ctx, mem, (ProtobufCMessage **)&items[*n], err);
		if (rc != 0)
			goto done;
		if (!aw__repo_page_take(max_bytes, &used, *n, items[*n])) {
			/* Over the budget: this row starts the next page. */
			protobuf_c_message_free_unpacked(items[*n], mem);
			items[*n] = NULL;
			*more = 1;
			break;
		}
		(*n)++;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = aw__sq_error(c->db, step, what, err);
done:
	aw__sq_finish(count_st);
	aw__sq_finish(page_st);
	aw__sq_read_end(c);
	return rc;
}

int aw__sq_get_by_id(aw_sq_repo *r, int slot, const char *sql, int64_t id, const char *thing,
		     aw_sq_row_fn *row, ProtobufCAllocator *mem, ProtobufCMessage **out,
		     aw_err *err)
{
	aw_sq_conn *c;
	sqlite3_stmt *st;
	char what[64];
	int rc = aw__sq_reader_get(r, &c, err);

	if (rc != 0)
		return rc;
	rc = aw__sq_stmt(c, slot, sql, &st, err);
	if (rc == 0) {
		snprintf(what, sizeof(what), "reading %s %lld", thing, (long long)id);
		sqlite3_bind_int64(st, 1, id);
		rc = aw__sq_step_one(c, st, what, row, NULL, mem, out, err);
	}
	aw__sq_reader_put(r, c);
	if (rc == AW_ENOTFOUND)
		return aw__err_not_found(err, thing, id);
	return rc;
}

int aw__sq_delete_by_id(aw_sq_conn *c, int slot, const char *sql, int64_t id, int64_t if_version,
			int vslot, const char *vsql, const char *thing, aw_err *err)
{
	sqlite3_stmt *st;
	char what[64];
	int rc = aw__sq_stmt(c, slot, sql, &st, err);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, if_version);
	rc = sqlite3_step(st);
	aw__sq_finish(st);
	if (rc != SQLITE_DONE) {
		snprintf(what, sizeof(what), "deleting %s %lld", thing, (long long)id);
		return aw__sq_error(c->db, rc, what, err);
	}
	if (sqlite3_changes(c->db) == 0) {
		rc = aw__sq_explain_miss(c, vslot, vsql, id, NULL, if_version, thing, err);
		return rc != 0 ? rc : aw__err_not_found(err, thing, id);
	}
	return 0;
}

int aw__sq_explain_miss(aw_sq_conn *c, int vslot, const char *vsql, int64_t id, const char *key,
			int64_t if_version, const char *thing, aw_err *err)
{
	sqlite3_stmt *st;
	int64_t version = 0;
	char name[160], esc[AW_ESCAPE_BUF];
	int rc = aw__sq_stmt(c, vslot, vsql, &st, err);

	if (rc != 0)
		return rc;
	if (key != NULL)
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		version = sqlite3_column_int64(st, 0);
	aw__sq_finish(st);
	if (key != NULL)
		snprintf(name, sizeof(name), "\"%s\"", aw_escape(esc, sizeof(esc), key));
	else
		snprintf(name, sizeof(name), "%lld", (long long)id);
	if (rc == SQLITE_DONE)
		return key != NULL ? aw__err_key_not_found(err, thing, key)
				   : aw__err_not_found(err, thing, id);
	if (rc != SQLITE_ROW)
		return aw__sq_error(c->db, rc, "reading a record's version", err);
	if (if_version != 0 && version != if_version)
		return aw__repo_stale(err, thing, name, if_version, version);
	return 0;
}

int aw__sq_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
	if (s == NULL)
		s = "";
	return sqlite3_bind_text(st, idx, s, (int)strlen(s), SQLITE_TRANSIENT);
}

/* ---- messages ------------------------------------------------------------------------- */

char *aw__sq_col_text(sqlite3_stmt *st, int col, ProtobufCAllocator *mem)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);
	char *s;

	if (t == NULL || n == 0)
		return (char *)protobuf_c_empty_string;
	s = aw__pb_alloc(mem, (size_t)n + 1);
	if (s != NULL) {
		memcpy(s, t, (size_t)n);
		s[n] = '\0';
	}
	return s;
}

/* ---- connections ------------------------------------------------------------------------ */

static void conn_close(aw_sq_conn *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < AW_SQ_STMT_COUNT; i++)
		sqlite3_finalize(c->stmts[i]);
	sqlite3_close(c->db);
	free(c);
}

static int pragma(sqlite3 *db, const char *sql, aw_err *err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	sqlite3_free(msg);
	return rc == SQLITE_OK ? 0 : aw__sq_error(db, rc, sql, err);
}

/* Opens a connection: `kind` 0 is a reader, 1 the writer, 2 the checkpointer. */
static int conn_open(aw_sq_repo *r, int kind, aw_sq_conn **out, aw_err *err)
{
	int writer = kind == 1;
	aw_sq_conn *c = calloc(1, sizeof(*c));
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
	int rc;

	*out = NULL;
	if (c == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for a connection");
	if (writer)
		flags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(r->uri, &c->db, flags, r->vfs);
	if (rc != SQLITE_OK) {
		rc = aw__sq_error(c->db, rc, "opening the database", err);
		conn_close(c);
		return rc;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, (int)r->busy_timeout_ms);
	if (writer) {
		/* journal_mode reads the file: the first place a non-database shows. */
		rc = pragma(c->db, "PRAGMA journal_mode=WAL", err);
	}
	/* FULL syncs the WAL at every COMMIT, so one sync covers a whole group-commit
	 * batch before any of its writes is answered; NORMAL only at checkpoints. */
	if (rc == 0)
		rc = pragma(c->db, r->durability == AW_DURABILITY_POWER ? "PRAGMA synchronous=FULL"
									: "PRAGMA synchronous=NORMAL",
			    err);
	if (rc == 0)
		rc = pragma(c->db, "PRAGMA foreign_keys=ON", err);
	if (rc == 0 && kind == 0)
		rc = pragma(c->db, "PRAGMA query_only=ON", err);
	if (rc != 0) {
		conn_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

int aw__sq_reader_get(aw_sq_repo *r, aw_sq_conn **out, aw_err *err)
{
	aw_sq_conn *c;
	int rc;

	pthread_mutex_lock(&r->pool_mu);
	c = r->free_readers;
	if (c != NULL)
		r->free_readers = c->next;
	pthread_mutex_unlock(&r->pool_mu);
	if (c != NULL) {
		*out = c;
		return 0;
	}
	rc = conn_open(r, 0, &c, err);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&r->pool_mu);
	if (r->n_readers == r->cap_readers) {
		size_t cap = r->cap_readers ? r->cap_readers * 2 : 8;
		aw_sq_conn **rs = realloc(r->readers, cap * sizeof(*rs));
		if (rs == NULL) {
			pthread_mutex_unlock(&r->pool_mu);
			conn_close(c);
			return aw_err_set(err, AW_ENOMEM, "out of memory for a reader");
		}
		r->readers = rs;
		r->cap_readers = cap;
	}
	r->readers[r->n_readers++] = c;
	pthread_mutex_unlock(&r->pool_mu);
	*out = c;
	return 0;
}

void aw__sq_reader_put(aw_sq_repo *r, aw_sq_conn *c)
{
	pthread_mutex_lock(&r->pool_mu);
	c->next = r->free_readers;
	r->free_readers = c;
	pthread_mutex_unlock(&r->pool_mu);
}

/* ---- write transactions ------------------------------------------------------------------ */

static aw_sq_conn *writer_of(aw_repo *r)
{
	return ((aw_sq_repo *)r)->writer;
}

static int sq_begin(aw_repo *r, aw_err *err)
{
	aw__event_stash_clear(&((aw_sq_repo *)r)->events);
	/* IMMEDIATE takes the write lock now, so a batch never fails half-way on
	 * another process's lock. */
	return aw__sq_exec_slot(writer_of(r), AW_SQ_BEGIN, "BEGIN IMMEDIATE", err);
}

/* The transaction's change events go out once it has committed, before the
 * writer reports its writes (see sq_downloads_publish). */
static int sq_commit(aw_repo *r, aw_err *err)
{
	int rc = aw__sq_exec_slot(writer_of(r), AW_SQ_COMMIT, "COMMIT", err);

	if (rc == 0)
		aw__event_stash_deliver(r, &((aw_sq_repo *)r)->events);
	return rc;
}

static void sq_rollback(aw_repo *r)
{
	aw_sq_conn *c = writer_of(r);

	aw__event_stash_clear(&((aw_sq_repo *)r)->events);
	if (!sqlite3_get_autocommit(c->db))
		aw__sq_exec_slot(c, AW_SQ_ROLLBACK, "ROLLBACK", NULL);
}

/*
 * SQLite undoes a failed statement by itself and leaves the transaction
 * usable, so a write that changes rows in one statement needs nothing here.
 * The writes that change rows in several statements (a claim's requeue and
 * claim, a purge, an episode batch) are not known to this layer, so every
 * write that shares its transaction gets a savepoint: a prepared SAVEPOINT and
 * RELEASE cost a few microseconds next to the write itself. A write alone in
 * its transaction needs none, since the writer rolls the whole transaction
 * back if it fails.
 */
static int sq_write_begin(aw_repo *r, int alone, aw_err *err)
{
	aw_sq_repo *s = (aw_sq_repo *)r;

	aw__event_stash_mark(&s->events);
	s->in_savepoint = !alone;
	if (alone)
		return 0;
	return aw__sq_exec_slot(writer_of(r), AW_SQ_SAVEPOINT, "SAVEPOINT w", err);
}

static int sq_write_end(aw_repo *r, int rc, aw_err *err)
{
	aw_sq_repo *s = (aw_sq_repo *)r;

	if (rc != 0)
		aw__event_stash_undo(&s->events);
	if (!s->in_savepoint)
		return 0;
	s->in_savepoint = 0;
	if (rc != 0)
		aw__sq_exec_slot(writer_of(r), AW_SQ_ROLLBACK_TO, "ROLLBACK TO w", NULL);
	return aw__sq_exec_slot(writer_of(r), AW_SQ_RELEASE, "RELEASE w", err);
}

/*
 * Change events. One process writes a SQLite database, so its events need no
 * carrier between processes: those of the transaction under way are stashed
 * until its COMMIT has succeeded, then handed to the repository's owner on
 * the writer's thread, before the writer reports the batch's outcomes (so a
 * watcher in this process hears of a change no later than the caller that
 * made it). A write undone takes its events with it (sq_write_end), a
 * rollback takes them all. With no hook nothing is kept.
 */
static int sq_downloads_publish(aw_repo *r, const Aniworld__V1__DownloadEvent *ev, aw_err *err)
{
	if (!aw__repo_events_hooked(r))
		return 0;
	return aw__event_stash_add(&((aw_sq_repo *)r)->events, ev, err);
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

/*
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses the WAL
 * threshold (1000 pages), so one unlucky batch pays for copying them back into the
 * database and for the fsyncs. Here the writer's WAL hook wakes a thread of
 * our own instead, which checkpoints PASSIVE (never blocking readers or the
 * writer) on a connection of its own, every CHECKPOINT_PAGES new frames.
 *
 * Under a steady stream of writes a background checkpoint never quite
 * finishes (commits land behind it), and the WAL is only rewound from the
 * start once everything in it is checkpointed, so it would grow without end.
 * When it passes WAL_LIMIT_PAGES the writer therefore finishes the job itself,
 * inline: by then the background has copied nearly everything, so this costs
 * the writer little more than the fsync, once per WAL_LIMIT_PAGES.
 * Durability is unchanged: commits are already in the WAL; a checkpoint only
 * moves them into the database file.
 */
#define CHECKPOINT_PAGES 4000 /* pages written again between checkpoints are copied once */
#define WAL_LIMIT_PAGES 16000 /* about 64 MB of WAL with 4 KiB pages */

static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	aw_sq_repo *r = arg;

	(void)name;
	if (pages < r->ckpt_next - CHECKPOINT_PAGES)
		r->ckpt_next = CHECKPOINT_PAGES; /* the WAL was rewound */
	if (pages >= WAL_LIMIT_PAGES) {
		sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		r->ckpt_next = CHECKPOINT_PAGES;
	} else if (pages >= r->ckpt_next) {
		r->ckpt_next = pages + CHECKPOINT_PAGES;
		pthread_mutex_lock(&r->ckpt_mu);
		r->ckpt_wanted = 1;
		pthread_cond_signal(&r->ckpt_cv);
		pthread_mutex_unlock(&r->ckpt_mu);
	}
	return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
	aw_sq_repo *r = arg;

	for (;;) {
		pthread_mutex_lock(&r->ckpt_mu);
		while (!r->ckpt_wanted && !r->ckpt_stop)
			pthread_cond_wait(&r->ckpt_cv, &r->ckpt_mu);
		int stop = r->ckpt_stop;
		r->ckpt_wanted = 0;
		pthread_mutex_unlock(&r->ckpt_mu);
		if (stop)
			break;
		/* Failures (busy, I/O) are retried at the next threshold crossing; the
		 * WAL keeps every commit meanwhile. */
		sqlite3_wal_checkpoint_v2(r->ckpt->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
	return NULL;
}

static int checkpointer_start(aw_sq_repo *r, aw_err *err);

/* ---- open and close ------------------------------------------------------------------------ */

static void sq_close(aw_repo *base)
{
	aw_sq_repo *r = (aw_sq_repo *)base;

	if (r->ckpt_started) {
		pthread_mutex_lock(&r->ckpt_mu);
		r->ckpt_stop = 1;
		pthread_cond_signal(&r->ckpt_cv);
		pthread_mutex_unlock(&r->ckpt_mu);
		pthread_join(r->ckpt_thread, NULL);
	}
	conn_close(r->ckpt);
	pthread_mutex_destroy(&r->ckpt_mu);
	pthread_cond_destroy(&r->ckpt_cv);

	for (size_t i = 0; i < r->n_readers; i++)
		conn_close(r->readers[i]);
	free(r->readers);
	if (r->writer != NULL) {
		/* Fold the WAL back into the database so the file stands alone. */
		sqlite3_wal_checkpoint_v2(r->writer->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		conn_close(r->writer);
	}
	pthread_mutex_destroy(&r->pool_mu);
	aw__event_stash_free(&r->events);
	free(r->vfs);
	free(r->uri);
	free(r->path);
	free(r);
}

static const aw_repo_methods sqlite_methods = {
	.version = 8,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.write_begin = sq_write_begin,
	.write_end = sq_write_end,
	.series_create = aw__sq_series_create,
	.series_get = aw__sq_series_get,
	.series_get_by_key = aw__sq_series_get_by_key,
	.series_list = aw__sq_series_list,
	.series_update = aw__sq_series_update,
	.series_delete = aw__sq_series_delete,
	.downloads_enqueue = aw__sq_downloads_enqueue,
	.downloads_get = aw__sq_downloads_get,
	.downloads_list = aw__sq_downloads_list,
	.downloads_update = aw__sq_downloads_update,
	.downloads_delete = aw__sq_downloads_delete,
	.downloads_claim = aw__sq_downloads_claim,
	.downloads_progress = aw__sq_downloads_progress,
	.downloads_transition = aw__sq_downloads_transition,
	.downloads_purge = aw__sq_downloads_purge,
	.session_create = aw__sq_session_create,
	.session_get = aw__sq_session_get,
	.session_list = aw__sq_session_list,
	.session_auth = aw__sq_session_auth,
	.session_touch = aw__sq_session_touch,
	.session_extend = aw__sq_session_extend,
	.session_revoke = aw__sq_session_revoke,
	.session_revoke_user = aw__sq_session_revoke_user,
	.session_purge_expired = aw__sq_session_purge_expired,
	.episodes_create = aw__sq_episodes_create,
	.episodes_get = aw__sq_episodes_get,
	.episodes_list = aw__sq_episodes_list,
	.episodes_update = aw__sq_episodes_update,
	.episodes_delete = aw__sq_episodes_delete,
	.episodes_mark_downloaded = aw__sq_episodes_mark_downloaded,
	.downloads_publish = sq_downloads_publish,
	.snapshot = aw__sq_snapshot,
	.request_claim = aw__sq_request_claim,
	.request_finish = aw__sq_request_finish,
	.request_purge = aw__sq_request_purge,
	.downloads_summary = aw__sq_downloads_summary,
	.downloads_bulk_transition = aw__sq_downloads_bulk_transition,
	.downloads_clear = aw__sq_downloads_clear,
	.downloads_move = aw__sq_downloads_move,
	.series_soft_delete = aw__sq_series_soft_delete,
	.series_undelete = aw__sq_series_undelete,
	.series_expired = aw__sq_series_expired,
};

static int checkpointer_start(aw_sq_repo *r, aw_err *err)
{
	int rc = conn_open(r, 2, &r->ckpt, err);

	if (rc != 0)
		return rc;
	if (pthread_create(&r->ckpt_thread, NULL, checkpointer_main, r) != 0)
		return aw_err_set(err, AW_ENOMEM, "cannot start the checkpoint thread");
	r->ckpt_started = 1;
	/* Replaces SQLite's automatic checkpoint on the writer connection. */
	r->ckpt_next = CHECKPOINT_PAGES;
	sqlite3_wal_hook(r->writer->db, wal_hook, r);
	return 0;
}

/* Builds the URI for `path`: ":memory:" becomes a private in-memory database that
 * all of this repository's connections share (the memdb VFS); files are given
 * as URIs so that names with '?' or '#' mean themselves. `params` ("" for
 * none) is appended as the URI's query. */
static char *make_uri(const void *self, const char *path, const char *params)
{
	size_t n = strlen(path) * 3 + strlen(params) + 64;
	char *uri = malloc(n);
	size_t o;

	if (uri == NULL)
		return NULL;
	if (strcmp(path, ":memory:") == 0) {
		snprintf(uri, n, "file:/aniworld-%p?vfs=memdb", self);
		return uri;
	}
	o = (size_t)snprintf(uri, n, "file:");
	for (const char *p = path; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '?' || ch == '#' || ch == '%' || ch < 0x20)
			o += (size_t)snprintf(uri + o, n - o, "%%%02X", ch);
		else
			uri[o++] = (char)ch;
	}
	snprintf(uri + o, n - o, "%s%s", params[0] != '\0' ? "?" : "", params);
	return uri;
}

/* errno of access(`path`, W_OK) made in the directory holding `path`, or 0. */
static int dir_unwritable(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	return access(dir, W_OK) == 0 ? 0 : errno;
}

/* Whether a file named `path` exists (lstat); with `nonempty`, and is not empty. */
static int exists(const char *path, int nonempty)
{
	struct stat st;

	return lstat(path, &st) == 0 && (!nonempty || st.st_size > 0);
}

/*
 * Opens the writer connection, and when the database can only be read, opens
 * it read-only and records why in r->base.read_only.
 *
 * A file that cannot be opened for writing (its mode, a read-only bind mount
 * of the file, the immutable attribute) SQLite opens read-only by itself. A
 * database in a directory that cannot be written is harder: WAL mode needs
 * the -wal and -shm files beside it, and SQLite cannot create them. With no
 * -wal file there (or an empty one), the database file holds every committed
 * transaction, so it is opened "immutable" (no locks, no WAL): right as long
 * as nothing else writes it, which a read-only file system promises for this
 * mount. With a -wal file there that SQLite cannot read (its -shm is missing),
 * ignoring it would lose transactions: refused.
 */
static int writer_open(aw_sq_repo *r, const char *path, aw_err *err)
{
	char wal[4200];
	int rc = conn_open(r, 1, &r->writer, err), why;

	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (rc == AW_EIO && strcmp(path, ":memory:") != 0 && exists(path, 0) &&
	    (why = dir_unwritable(path)) != 0) {
		char *uri;
		aw_err first = *err;

		if (exists(wal, 1))
			return aw_err_set(err, AW_EREADONLY,
					  "database is read-only: %s cannot be read without its -shm "
					  "file, which cannot be made in a directory that cannot be "
					  "written (%s)", wal, strerror(why));
		uri = make_uri(r, path, "immutable=1");
		if (uri == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory for the repository");
		free(r->uri);
		r->uri = uri;
		rc = conn_open(r, 1, &r->writer, err);
		if (rc != 0) {
			*err = first;
			return AW_EIO;
		}
		aw_err_set(&r->base.read_only, AW_EREADONLY,
			   "database is read-only: the directory of %s cannot be written (%s): "
			   "opened immutable, changes by other processes are not seen", path,
			   strerror(why));
		return 0;
	}
	if (rc == 0 && sqlite3_db_readonly(r->writer->db, "main") == 1)
		aw_err_set(&r->base.read_only, AW_EREADONLY,
			   "database is read-only: %s cannot be opened for writing (%s)", path,
			   access(path, W_OK) != 0 ? strerror(errno) : "unknown reason");
	return rc;
}

/* The busy timeout setting ("busy_timeout_ms", default 5000): how long to wait
 * for a lock another process holds. */
static int busy_timeout_setting(const aw_repo_options *opts, int64_t *ms, aw_err *err)
{
	const char *v = aw_repo_setting_get(opts, "busy_timeout_ms");
	char *end;
	long long n;

	*ms = AW_SQ_BUSY_TIMEOUT_MS;
	if (v == NULL)
		return 0;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < 0 || n > INT32_MAX)
		return aw_err_set(err, AW_EINVAL,
				  "setting busy_timeout_ms: '%.40s' is not a number of "
				  "milliseconds from 0 to %d",
				  v, INT32_MAX);
	*ms = n;
	return 0;
}

/* The "vfs" setting (tests only): a VFS that SQLite knows by that name. */
static int vfs_setting(const aw_repo_options *opts, char **out, aw_err *err)
{
	const char *v = aw_repo_setting_get(opts, "vfs");

	*out = NULL;
	if (v == NULL || v[0] == '\0')
		return 0;
	if (sqlite3_vfs_find(v) == NULL)
		return aw_err_set(err, AW_EINVAL, "setting vfs: no SQLite VFS named '%.40s'", v);
	*out = strdup(v);
	if (*out == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the repository");
	return 0;
}

/* What `r` promises, for the log (aw_repo_durability). */
static void describe_durability(aw_sq_repo *r, const char *path)
{
	if (strcmp(path, ":memory:") == 0)
		snprintf(r->base.durability, sizeof(r->base.durability),
			 "none: an in-memory database ends with the process (setting %s ignored)",
			 aw__repo_durability_name(r->durability));
	else if (r->durability == AW_DURABILITY_POWER)
		snprintf(r->base.durability, sizeof(r->base.durability),
			 "power: the WAL is synced before a write is answered (SQLite "
			 "synchronous=FULL): an acknowledged write survives a process crash "
			 "and a power cut");
	else
		snprintf(r->base.durability, sizeof(r->base.durability),
			 "process: the WAL is synced at checkpoints only (SQLite "
			 "synchronous=NORMAL): an acknowledged write survives a process crash; "
			 "a power cut may take back the last ones (the database stays whole)");
}

const char *aw__sq_path(const char *location)
{
	return strncmp(location, "sqlite:", 7) == 0 ? location + 7 : location;
}

static int sqlite_open(aw_repo **out, const char *location, const aw_repo_options *opts,
		       aw_err *err)
{
	const char *path = aw__sq_path(location);
	aw_durability durability;
	int64_t busy_ms;
	char *vfs = NULL;
	aw_sq_repo *r;
	int rc;

	*out = NULL;
	rc = busy_timeout_setting(opts, &busy_ms, err);
	if (rc == 0)
		rc = aw__repo_durability_setting(opts, &durability, err);
	if (rc == 0)
		rc = vfs_setting(opts, &vfs, err);
	if (rc != 0)
		return rc;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		free(vfs);
		return aw_err_set(err, AW_ENOMEM, "out of memory for the repository");
	}
	r->base.methods = &sqlite_methods;
	r->busy_timeout_ms = busy_ms;
	r->durability = durability;
	r->vfs = vfs;
	describe_durability(r, path);
	pthread_mutex_init(&r->pool_mu, NULL);
	pthread_mutex_init(&r->ckpt_mu, NULL);
	pthread_cond_init(&r->ckpt_cv, NULL);
	r->uri = make_uri(r, path, "");
	if (strcmp(path, ":memory:") != 0)
		r->path = strdup(path);
	if (r->uri == NULL || (r->path == NULL && strcmp(path, ":memory:") != 0)) {
		sq_close(&r->base);
		return aw_err_set(err, AW_ENOMEM, "out of memory for the repository");
	}
	rc = writer_open(r, path, err);
	if (rc == 0)
		rc = aw__sq_migrate(r->writer->db, err);
	if (rc == 0)
		rc = checkpointer_start(r, err);
	if (rc != 0) {
		char msg[AW_ERR_MSG_MAX];

		/* Start-up errors are read by people: say which file. */
		if (err != NULL && strstr(err->msg, path) == NULL) {
			snprintf(msg, sizeof(msg), "%s", err->msg);
			aw_err_set(err, rc, "%s (database %s)", msg, path);
		}
		sq_close(&r->base);
		return rc;
	}
	*out = &r->base;
	return 0;
}

/* Every location no other backend takes is a SQLite path. */
static int sqlite_matches(const char *location)
{
	(void)location;
	return 1;
}

/* A path holds no secret. */
static void sqlite_redact(const char *location, char *buf, size_t n)
{
	snprintf(buf, n, "%s", aw__sq_path(location));
}

static int sqlite_restore(const char *location, const char *from, int force, aw_err *err)
{
	return aw__sq_restore(aw__sq_path(location), from, force, err);
}

const aw_repo_backend aw__sqlite_backend = {
	.name = "sqlite",
	.matches = sqlite_matches,
	.open = sqlite_open,
	.redact = sqlite_redact,
	.bulk = &aw__sqlite_bulk,
	.restore = sqlite_restore,
};
