/*
 * User sessions in PostgreSQL: the user_sessions table.
 *
 * The table holds the SHA-256 of each session's token (token_hash, BYTEA,
 * bound and read as binary) and nothing of the token itself; the hash is read
 * only by session_auth and never put into a message. Writes return the stored
 * row through RETURNING. is_expired is not stored: it is expires_at <= now
 * when a row is read, now being the time the repository passes in.
 */
#include "postgres_int.h"

#include <stdlib.h>
#include <string.h>

#include "../../escape.h"
#include "google/protobuf/timestamp.pb-c.h"

#define SESSION_COLUMNS                                                            \
	"id, session_id, user_id, ip_address, user_agent, expires_at, is_active, " \
	"last_activity, created_at, updated_at, version"

#define SESSION_VERSION_SQL "SELECT version FROM user_sessions WHERE session_id = $1"

static aw_pg_repo *pg(aw_repo *r)
{
	return (aw_pg_repo *)r;
}

/* Builds a UserSession from a row of SESSION_COLUMNS, expired when
 * expires_at <= *(const int64_t *)now_us. */
static int session_row(const PGresult *res, int row, const void *now_us, ProtobufCAllocator *mem,
		       ProtobufCMessage **out, aw_err *err)
{
	Aniworld__V1__UserSession *s = aw__pb_new(mem, &aniworld__v1__user_session__descriptor);
	int64_t expires_at;

	*out = NULL;
	if (s == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a session");
	s->id = aw__pg_int(res, row, 0);
	expires_at = aw__pg_int(res, row, 5);
	if ((s->session_id = aw__pg_text(res, row, 1, mem)) == NULL ||
	    (s->user_id = aw__pg_text(res, row, 2, mem)) == NULL ||
	    (s->ip_address = aw__pg_text(res, row, 3, mem)) == NULL ||
	    (s->user_agent = aw__pg_text(res, row, 4, mem)) == NULL ||
	    (s->expires_at = aw__pb_timestamp(mem, expires_at)) == NULL ||
	    (s->last_activity = aw__pb_timestamp(mem, aw__pg_int(res, row, 7))) == NULL ||
	    (s->created_at = aw__pb_timestamp(mem, aw__pg_int(res, row, 8))) == NULL ||
	    (s->updated_at = aw__pb_timestamp(mem, aw__pg_int(res, row, 9))) == NULL ||
	    (s->etag = aw__etag_new(mem, aw__pg_int(res, row, 10))) == NULL) {
		protobuf_c_message_free_unpacked(&s->base, mem);
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a session");
	}
	s->is_active = aw__pg_int(res, row, 6) != 0;
	s->is_expired = expires_at <= *(const int64_t *)now_us;
	*out = &s->base;
	return 0;
}

/* Runs a statement expected to return at most one session. */
static int run_one(aw_pg_conn *c, int slot, const char *sql, const aw_pg_params *p,
		   const char *what, int64_t now_us, ProtobufCAllocator *mem,
		   Aniworld__V1__UserSession **out, aw_err *err)
{
	return aw__pg_one(c, slot, sql, p, what, session_row, &now_us, mem,
			  (ProtobufCMessage **)out, err);
}

static int not_found(const char *session_id, aw_err *err)
{
	return aw__err_session_not_found(err, session_id);
}

/* Reads a session with connection `c` (a reader, or the writer to explain why a
 * write matched nothing). */
static int get_with(aw_pg_conn *c, const char *session_id, int64_t now_us,
		    ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err)
{
	aw_pg_params p = {0};
	int rc;

	aw__pg_p_text(&p, session_id);
	rc = run_one(c, AW_PG_SESSION_GET,
		     "SELECT " SESSION_COLUMNS " FROM user_sessions WHERE session_id = $1", &p,
		     "reading a session", now_us, mem, out, err);
	return rc == AW_ENOTFOUND ? not_found(session_id, err) : rc;
}

int aw__pg_session_create(aw_repo *r, const Aniworld__V1__UserSession *in,
			  const uint8_t *token_hash, int64_t now_us, ProtobufCAllocator *mem,
			  Aniworld__V1__UserSession **out, aw_err *err)
{
	aw_pg_params p = {0};
	int rc;

	aw__pg_p_text(&p, in->session_id);
	aw__pg_p_bytes(&p, token_hash, AW_SESSION_HASH_BYTES);
	aw__pg_p_text(&p, in->user_id);
	aw__pg_p_text(&p, in->ip_address);
	aw__pg_p_text(&p, in->user_agent);
	aw__pg_p_int(&p, aw__pb_timestamp_us(in->expires_at));
	aw__pg_p_int(&p, now_us);
	rc = run_one(pg(r)->writer, AW_PG_SESSION_INSERT,
		     "INSERT INTO user_sessions (session_id, token_hash, user_id, ip_address, "
		     "user_agent, expires_at, is_active, last_activity, created_at, updated_at) "
		     "VALUES ($1, $2::bytea, $3, $4, $5, $6::int8, true, $7::int8, $7::int8, "
		     "$7::int8) RETURNING " SESSION_COLUMNS,
		     &p, "creating a session", now_us, mem, out, err);
	if (rc == AW_EEXIST)
		return aw__err_session_exists(err, in->session_id);
	return rc;
}

int aw__pg_session_get(aw_repo *r, const char *session_id, int64_t now_us,
		       ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err)
{
	aw_pg_conn *c;
	int rc = aw__pg_reader_get(pg(r), &c, err);

	if (rc != 0)
		return rc;
	rc = get_with(c, session_id, now_us, mem, out, err);
	aw__pg_reader_put(pg(r), c);
	return rc;
}

/*
 * Listing. Four statement variants, by which filters are set, each with an
 * access path that yields rows in id order with no sort: the primary key, the
 * partial index of active sessions, or the user index (user_id, id), whose
 * rows active_only then filters. $1 the cursor, $2 the limit, then now for
 * active_only, then the user.
 */
static const char *const page_sql[4] = {
	"SELECT " SESSION_COLUMNS " FROM user_sessions WHERE id > $1::int8 ORDER BY id "
	"LIMIT $2::int8",
	"SELECT " SESSION_COLUMNS " FROM user_sessions "
	"WHERE is_active AND expires_at > $3::int8 AND id > $1::int8 ORDER BY id LIMIT $2::int8",
	"SELECT " SESSION_COLUMNS " FROM user_sessions WHERE user_id = $3 AND id > $1::int8 "
	"ORDER BY id LIMIT $2::int8",
	"SELECT " SESSION_COLUMNS " FROM user_sessions "
	"WHERE user_id = $4 AND id > $1::int8 AND is_active AND expires_at > $3::int8 "
	"ORDER BY id LIMIT $2::int8",
};

static const char *const count_sql[4] = {
	"SELECT COUNT(*) FROM user_sessions",
	"SELECT COUNT(*) FROM user_sessions WHERE is_active AND expires_at > $1::int8",
	"SELECT COUNT(*) FROM user_sessions WHERE user_id = $1",
	("SELECT COUNT(*) FROM user_sessions WHERE user_id = $2 AND is_active "
	 "AND expires_at > $1::int8"),
};

static void bind_filters(aw_pg_params *p, int variant, int64_t now_us,
			 const Aniworld__V1__ListSessionsRequest *f)
{
	if (variant & 1)
		aw__pg_p_int(p, now_us);
	if (variant & 2)
		aw__pg_p_text(p, f->user_id);
}

int aw__pg_session_list(aw_repo *r, const Aniworld__V1__ListSessionsRequest *f,
			const aw_cursor *after, int limit, size_t max_bytes, int64_t now_us,
			ProtobufCAllocator *mem, Aniworld__V1__ListSessionsResponse **out, int *more, aw_err *err)
{
	int variant = (f->active_only ? 1 : 0) | (f->user_id[0] != '\0' ? 2 : 0);
	Aniworld__V1__ListSessionsResponse *res = NULL;
	aw_pg_params count_p = {0}, page_p = {0};
	aw_pg_conn *c;
	int rc;

	*out = NULL;
	*more = 0;
	rc = aw__pg_reader_get(pg(r), &c, err);
	if (rc != 0)
		return rc;
	res = aw__pb_new(mem, &aniworld__v1__list_sessions_response__descriptor);
	if (res == NULL ||
	    (res->sessions = aw__pb_alloc(mem, (size_t)limit * sizeof(*res->sessions))) == NULL)
		rc = aw_err_set(err, AW_ENOMEM, "out of memory listing sessions");
	if (rc == 0) {
		bind_filters(&count_p, variant, now_us, f);
		aw__pg_p_int(&page_p, after->valid ? after->k[0] : 0);
		aw__pg_p_int(&page_p, limit + 1);
		bind_filters(&page_p, variant, now_us, f);
		rc = aw__pg_page(c, AW_PG_SESSION_COUNT + variant, count_sql[variant],
				 variant != 0 ? &count_p : NULL, AW_PG_SESSION_PAGE + variant,
				 page_sql[variant], &page_p, limit, max_bytes, session_row, &now_us, mem,
				 (void **)res->sessions, &res->n_sessions, &res->total_size, more,
				 "listing sessions", err);
	}
	aw__pg_reader_put(pg(r), c);
	if (rc != 0) {
		if (res != NULL)
			protobuf_c_message_free_unpacked(&res->base, mem);
		return rc;
	}
	*out = res;
	return 0;
}

int aw__pg_session_auth(aw_repo *r, const char *session_id, uint8_t *token_hash,
			int *is_active, int64_t *expires_at_us, aw_err *err)
{
	aw_pg_params p = {0};
	PGresult *res;
	char esc[AW_ESCAPE_BUF];
	int rc;

	aw__pg_p_text(&p, session_id);
	rc = aw__pg_run(pg(r)->writer, AW_PG_SESSION_AUTH,
			"SELECT token_hash, is_active, expires_at FROM user_sessions "
			"WHERE session_id = $1",
			&p, "reading a session", &res, err);
	if (rc != 0)
		return rc;
	if (PQntuples(res) == 0) {
		rc = not_found(session_id, err);
	} else if (PQgetisnull(res, 0, 0) || PQgetlength(res, 0, 0) != AW_SESSION_HASH_BYTES) {
		rc = aw_err_set(err, AW_ECORRUPT, "session \"%s\": stored token hash is not %d bytes",
					aw_escape(esc, sizeof(esc), session_id), AW_SESSION_HASH_BYTES);
	} else {
		memcpy(token_hash, PQgetvalue(res, 0, 0), AW_SESSION_HASH_BYTES);
		*is_active = aw__pg_int(res, 0, 1) != 0;
		*expires_at_us = aw__pg_int(res, 0, 2);
	}
	PQclear(res);
	return rc;
}

int aw__pg_session_touch(aw_repo *r, const char *session_id, int64_t now_us,
			 ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err)
{
	aw_pg_params p = {0};
	int rc;

	aw__pg_p_text(&p, session_id);
	aw__pg_p_int(&p, now_us);
	rc = run_one(pg(r)->writer, AW_PG_SESSION_TOUCH,
		     "UPDATE user_sessions SET last_activity = $2::int8, version = version + 1 "
		     "WHERE session_id = $1 "
		     "RETURNING " SESSION_COLUMNS,
		     &p, "recording session activity", now_us, mem, out, err);
	return rc == AW_ENOTFOUND ? not_found(session_id, err) : rc;
}

int aw__pg_session_extend(aw_repo *r, const char *session_id, int64_t expires_at_us, int64_t if_version,
			  int64_t now_us, ProtobufCAllocator *mem, Aniworld__V1__UserSession **out,
			  aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	Aniworld__V1__UserSession *found = NULL;
	aw_pg_params p = {0};
	int rc;

	aw__pg_p_text(&p, session_id);
	aw__pg_p_int(&p, expires_at_us);
	aw__pg_p_int(&p, now_us);
	aw__pg_p_int(&p, if_version);
	rc = run_one(c, AW_PG_SESSION_EXTEND,
		     "UPDATE user_sessions SET expires_at = $2::int8, updated_at = $3::int8, "
		     "version = version + 1 WHERE session_id = $1 AND is_active "
		     "AND ($4::int8 = 0 OR version = $4::int8) RETURNING " SESSION_COLUMNS,
		     &p, "extending a session", now_us, mem, out, err);
	if (rc != AW_ENOTFOUND)
		return rc;
	rc = aw__pg_explain_miss(c, AW_PG_VERSION_SESSION, SESSION_VERSION_SQL, 0, session_id,
				 if_version, "session", err);
	if (rc != 0)
		return rc;
	/* Nothing matched: the session is missing, or revoked. */
	rc = get_with(c, session_id, now_us, mem, &found, err);
	if (rc != 0)
		return rc;
	protobuf_c_message_free_unpacked(&found->base, mem);
	return aw__err_session_revoked(err, session_id);
}

int aw__pg_session_revoke(aw_repo *r, const char *session_id, int64_t if_version, int64_t now_us,
			  ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err)
{
	aw_pg_conn *c = pg(r)->writer;
	aw_pg_params p = {0};
	int rc;

	aw__pg_p_text(&p, session_id);
	aw__pg_p_int(&p, now_us);
	aw__pg_p_int(&p, if_version);
	rc = run_one(c, AW_PG_SESSION_REVOKE,
		     "UPDATE user_sessions SET is_active = false, updated_at = $2::int8, "
		     "version = version + 1 WHERE session_id = $1 AND is_active "
		     "AND ($3::int8 = 0 OR version = $3::int8) RETURNING " SESSION_COLUMNS,
		     &p, "revoking a session", now_us, mem, out, err);
	if (rc != AW_ENOTFOUND)
		return rc;
	rc = aw__pg_explain_miss(c, AW_PG_VERSION_SESSION, SESSION_VERSION_SQL, 0, session_id,
				 if_version, "session", err);
	if (rc != 0)
		return rc;
	/* Nothing matched: missing (NOT_FOUND), or already revoked, which is
	 * returned as it is. */
	return get_with(c, session_id, now_us, mem, out, err);
}

/* Runs a statement that changes rows and reports how many. */
static int run_counted(aw_pg_conn *c, int slot, const char *sql, const aw_pg_params *p,
		       const char *what, int64_t *count, aw_err *err)
{
	PGresult *res;
	int rc = aw__pg_run(c, slot, sql, p, what, &res, err);

	if (rc != 0)
		return rc;
	*count = aw__pg_changes(res);
	PQclear(res);
	return 0;
}

int aw__pg_session_revoke_user(aw_repo *r, const char *user_id, int64_t now_us, int64_t *count,
			       aw_err *err)
{
	aw_pg_params p = {0};

	aw__pg_p_text(&p, user_id);
	aw__pg_p_int(&p, now_us);
	return run_counted(pg(r)->writer, AW_PG_SESSION_REVOKE_USER,
			   "UPDATE user_sessions SET is_active = false, updated_at = $2::int8, "
			   "version = version + 1 WHERE user_id = $1 AND is_active",
			   &p, "revoking a user's sessions", count, err);
}

int aw__pg_session_purge_expired(aw_repo *r, int64_t now_us, int64_t *count, aw_err *err)
{
	aw_pg_params p = {0};

	aw__pg_p_int(&p, now_us);
	return run_counted(pg(r)->writer, AW_PG_SESSION_PURGE,
			   "DELETE FROM user_sessions WHERE expires_at <= $1::int8", &p,
			   "purging expired sessions", count, err);
}
