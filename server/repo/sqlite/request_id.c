/*
 * Request ids in SQLite: the request_ids table, one row per request_id used
 * (see ../request_id.c). The writer is the only one to touch it, so a claim
 * never meets a record being written by anybody else: a claim only looks the
 * id up, and the record is written whole, once, with the write's outcome, in
 * the same transaction (one INSERT, not an INSERT and an UPDATE).
 */
#include "sqlite_int.h"

#include <stdlib.h>
#include <string.h>

static aw_sq_conn *writer_of(aw_repo *r)
{
	return ((aw_sq_repo *)r)->writer;
}

/* Copies a column into malloc'd memory (NUL-terminated); *len its size. */
static void *col_copy(sqlite3_stmt *st, int col, size_t *len)
{
	const void *data = sqlite3_column_blob(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);
	char *copy = malloc(n + 1);

	if (copy == NULL)
		return NULL;
	if (n > 0)
		memcpy(copy, data, n);
	copy[n] = '\0';
	if (len != NULL)
		*len = n;
	return copy;
}

static int read_record(aw_sq_conn *c, const char *id, aw_request_record *rec, int *found,
		       aw_err *err)
{
	sqlite3_stmt *st;
	int rc = aw__sq_stmt(c, AW_SQ_REQUEST_GET,
			     "SELECT method, fingerprint, done, code, message, reply "
			     "FROM request_ids WHERE request_id = ?1",
			     &st, err);

	if (rc != 0)
		return rc;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*found = 1;
		rec->method = col_copy(st, 0, NULL);
		if (sqlite3_column_bytes(st, 1) == AW_REQUEST_FINGERPRINT_BYTES)
			memcpy(rec->fingerprint, sqlite3_column_blob(st, 1),
			       AW_REQUEST_FINGERPRINT_BYTES);
		rec->done = sqlite3_column_int(st, 2);
		rec->rc = sqlite3_column_int(st, 3);
		rec->message = col_copy(st, 4, NULL);
		rec->reply = col_copy(st, 5, &rec->reply_len);
		rc = rec->method == NULL || rec->message == NULL || rec->reply == NULL
			     ? aw_err_set(err, AW_ENOMEM, "out of memory reading a request id")
			     : 0;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = aw__sq_error(c->db, rc, "reading a request id", err);
	}
	aw__sq_finish(st);
	return rc;
}

int aw__sq_request_claim(aw_repo *r, const aw_request_id *rid, int64_t now_us,
			 aw_request_record *rec, int *found, aw_err *err)
{
	*found = 0;
	((aw_sq_repo *)r)->claimed_at_us = now_us;
	return read_record(writer_of(r), rid->id, rec, found, err);
}

int aw__sq_request_finish(aw_repo *r, const aw_request_id *rid, int code, const char *message,
			  const uint8_t *reply, size_t reply_len, aw_err *err)
{
	aw_sq_conn *c = writer_of(r);
	sqlite3_stmt *st;
	int rc = aw__sq_stmt(c, AW_SQ_REQUEST_FINISH,
			     "INSERT INTO request_ids (request_id, method, fingerprint, done, code, "
			     "message, reply, created_at) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7)",
			     &st, err);

	if (rc != 0)
		return rc;
	sqlite3_bind_text(st, 1, rid->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rid->method, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, rid->fingerprint, AW_REQUEST_FINGERPRINT_BYTES, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, code);
	sqlite3_bind_text(st, 5, message, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, reply != NULL ? (const void *)reply : "", (int)reply_len,
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, ((aw_sq_repo *)r)->claimed_at_us);
	rc = sqlite3_step(st);
	aw__sq_finish(st);
	if (rc != SQLITE_DONE)
		return aw__sq_error(c->db, rc, "storing the answer of a request id", err);
	return 0;
}

int aw__sq_request_purge(aw_repo *r, int64_t before_us, int limit, int64_t *count, aw_err *err)
{
	aw_sq_conn *c = writer_of(r);
	sqlite3_stmt *st;
	int rc = aw__sq_stmt(c, AW_SQ_REQUEST_PURGE,
			     "DELETE FROM request_ids WHERE request_id IN (SELECT request_id FROM "
			     "request_ids WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
			     &st, err);

	*count = 0;
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, before_us);
	sqlite3_bind_int(st, 2, limit);
	rc = sqlite3_step(st);
	aw__sq_finish(st);
	if (rc != SQLITE_DONE)
		return aw__sq_error(c->db, rc, "purging request ids", err);
	*count = sqlite3_changes(c->db);
	return 0;
}
