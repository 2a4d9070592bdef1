/*
 * Request ids in PostgreSQL: the request_ids table (see ../request_id.c).
 *
 * Replicas share it. A claim is an INSERT ... ON CONFLICT DO NOTHING: when
 * another replica's transaction holds a claim of the same request_id, the
 * insert waits for that transaction to end; if it committed, nothing is
 * inserted and the record it committed is read (under READ COMMITTED a new
 * statement sees it), so the write is not done twice.
 */
#include "postgres_int.h"

#include <stdlib.h>
#include <string.h>

static aw_pg_conn *writer_of(aw_repo *r)
{
	return ((aw_pg_repo *)r)->writer;
}

/* Copies a column into malloc'd memory (NUL-terminated); *len its size. */
static void *col_copy(const PGresult *res, int col, size_t *len)
{
	size_t n = (size_t)PQgetlength(res, 0, col);
	char *copy = malloc(n + 1);

	if (copy == NULL)
		return NULL;
	if (n > 0)
		memcpy(copy, PQgetvalue(res, 0, col), n);
	copy[n] = '\0';
	if (len != NULL)
		*len = n;
	return copy;
}

int aw__pg_request_claim(aw_repo *r, const aw_request_id *rid, int64_t now_us,
			 aw_request_record *rec, int *found, aw_err *err)
{
	aw_pg_conn *c = writer_of(r);
	aw_pg_params p = {0};
	PGresult *res;
	int rc;

	*found = 0;
	aw__pg_p_text(&p, rid->id);
	aw__pg_p_text(&p, rid->method);
	aw__pg_p_bytes(&p, rid->fingerprint, AW_REQUEST_FINGERPRINT_BYTES);
	aw__pg_p_int(&p, now_us);
	rc = aw__pg_run(c, AW_PG_REQUEST_CLAIM,
			"INSERT INTO request_ids (request_id, method, fingerprint, created_at) "
			"VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING",
			&p, "claiming a request id", &res, err);
	if (rc != 0)
		return rc;
	if (aw__pg_changes(res) == 1) {
		PQclear(res);
		return 0;
	}
	PQclear(res);
	memset(&p, 0, sizeof(p));
	aw__pg_p_text(&p, rid->id);
	rc = aw__pg_run(c, AW_PG_REQUEST_GET,
			"SELECT method, fingerprint, done, code, message, reply "
			"FROM request_ids WHERE request_id = $1",
			&p, "reading a request id", &res, err);
	if (rc != 0)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return aw_err_set(err, AW_EBUSY, "request id \"%s\" was claimed and then lost: retry",
				  rid->id);
	}
	*found = 1;
	rec->method = col_copy(res, 0, NULL);
	if (PQgetlength(res, 0, 1) == AW_REQUEST_FINGERPRINT_BYTES)
		memcpy(rec->fingerprint, PQgetvalue(res, 0, 1), AW_REQUEST_FINGERPRINT_BYTES);
	rec->done = (int)aw__pg_int(res, 0, 2);
	rec->rc = (int)aw__pg_int(res, 0, 3);
	rec->message = col_copy(res, 4, NULL);
	rec->reply = col_copy(res, 5, &rec->reply_len);
	PQclear(res);
	if (rec->method == NULL || rec->message == NULL || rec->reply == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a request id");
	return 0;
}

int aw__pg_request_finish(aw_repo *r, const aw_request_id *rid, int code, const char *message,
			  const uint8_t *reply, size_t reply_len, aw_err *err)
{
	aw_pg_conn *c = writer_of(r);
	aw_pg_params p = {0};
	PGresult *res;
	int rc;

	aw__pg_p_text(&p, rid->id);
	aw__pg_p_int(&p, code);
	aw__pg_p_text(&p, message);
	aw__pg_p_bytes(&p, reply != NULL ? (const void *)reply : "", (int)reply_len);
	rc = aw__pg_run(c, AW_PG_REQUEST_FINISH,
			"UPDATE request_ids SET done = true, code = $2, message = $3, reply = $4 "
			"WHERE request_id = $1",
			&p, "storing the answer of a request id", &res, err);
	if (rc != 0)
		return rc;
	if (aw__pg_changes(res) != 1)
		rc = aw_err_set(err, AW_EIO,
				"storing the answer of request id \"%s\": its claim is gone", rid->id);
	PQclear(res);
	return rc;
}

int aw__pg_request_purge(aw_repo *r, int64_t before_us, int limit, int64_t *count, aw_err *err)
{
	aw_pg_conn *c = writer_of(r);
	aw_pg_params p = {0};
	PGresult *res;
	int rc;

	*count = 0;
	aw__pg_p_int(&p, before_us);
	aw__pg_p_int(&p, limit);
	rc = aw__pg_run(c, AW_PG_REQUEST_PURGE,
			"DELETE FROM request_ids WHERE request_id IN (SELECT request_id FROM "
			"request_ids WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
			&p, "purging request ids", &res, err);
	if (rc != 0)
		return rc;
	*count = aw__pg_changes(res);
	PQclear(res);
	return 0;
}
