/*
 * User sessions in SQLite: the user_sessions table.
 *
 * The table holds the SHA-256 of each session's token (token_hash, a BLOB)
 * and nothing of the token itself; the hash is read only by session_auth and
 * never put into a message. Writes return the stored row through RETURNING,
 * so a reply is always what the database holds, built by the same code as a
 * read. is_expired is not stored: it is expires_at <= now when a row is read.
 */
#include "sqlite_int.h"

#include <stdlib.h>
#include <string.h>

#include "../../escape.h"
#include "google/protobuf/timestamp.pb-c.h"

#define SESSION_COLUMNS                                                              \
	"id, session_id, user_id, ip_address, user_agent, expires_at, is_active, " \
	"last_activity, created_at, updated_at, version"

#define SESSION_VERSION_SQL "SELECT version FROM user_sessions WHERE session_id = ?1"

static aw_sq_repo *sq(aw_repo *r)
{
	return (aw_sq_repo *)r;
}

/* Builds a UserSession from a row of SESSION_COLUMNS (starting at column 0),
 * expired when expires_at <= *(const int64_t *)now_us. */
static int session_row(sqlite3_stmt *st, const void *now_us, ProtobufCAllocator *mem,
		       ProtobufCMessage **out, aw_err *err)
{
	Aniworld__V1__UserSession *s = aw__pb_new(mem, &aniworld__v1__user_session__descriptor);
	int64_t expires_at;

	*out = NULL;
	if (s == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a session");
	s->id = sqlite3_column_int64(st, 0);
	expires_at = sqlite3_column_int64(st, 5);
	if ((s->session_id = aw__sq_col_text(st, 1, mem)) == NULL ||
	    (s->user_id = aw__sq_col_text(st, 2, mem)) == NULL ||
	    (s->ip_address = aw__sq_col_text(st, 3, mem)) == NULL ||
	    (s->user_agent = aw__sq_col_text(st, 4, mem)) == NULL ||
	    (s->expires_at = aw__pb_timestamp(mem, expires_at)) == NULL ||
	    (s->last_activity = aw__pb_timestamp(mem, sqlite3_column_int64(st, 7))) == NULL ||
	    (s->created_at = aw__pb_timestamp(mem, sqlite3_column_int64(st, 8))) == NULL ||
	    (s->updated_at = aw__pb_timestamp(mem, sqlite3_column_int64(st, 9))) == NULL ||
	    (s->etag = aw__etag_new(mem, sqlite3_column_int64(st, 10))) == NULL) {
		protobuf_c_message_free_unpacked(&s->base, mem);
		return aw_err_set(err, AW_ENOMEM, "out of memory reading a session");
	}
	s->is_active = sqlite3_column_int(st, 6) != 0;
	s->is_expired = expires_at <= *(const int64_t *)now_us;
	*out = &s->base;
	return 0;
}

/* Steps a statement expected to return at most one session; resets it and
 * clears its bindings (some are static: see bind_static). */
static int step_one(aw_sq_conn *c, sqlite3_stmt *st, const char *what, int64_t now_us,
		    ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err)
{
	return aw__sq_step_one(c, st, what, session_row, &now_us, mem, (ProtobufCMessage **)out, err);
}

/* Binds text the caller keeps until the statement has been stepped, reset and
 * cleared (every function here clears before returning): no copy needed. */
static void bind_static(sqlite3_stmt *st, int idx, const char *s)
{
	if (s == NULL)
		s = "";
	sqlite3_bind_text(st, idx, s, (int)strlen(s), SQLITE_STATIC);
}

static int not_found(const char *session_id, aw_err *err)
{
	return aw__err_session_not_found(err, session_id);
}

/* Reads a session with connection `c` (a reader, or the writer to explain why a
 * write matched nothing). */
static int get_with(aw_sq_conn *c, const char *session_id, int64_t now_us,
		    ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err)
{
	sqlite3_stmt *st;
	int rc = aw__sq_stmt(c, AW_SQ_SESSION_GET,
			     "SELECT " SESSION_COLUMNS " FROM user_sessions WHERE session_id = ?1",
			     &st, err);

	if (rc != 0)
		return rc;
	bind_static(st, 1, session_id);
	rc = step_one(c, st, "reading a session", now_us, mem, out, err);
	return rc == AW_ENOTFOUND ? not_found(session_id, err) : rc;
}

int aw__sq_session_create(aw_repo *r, const Aniworld__V1__UserSession *in,
			  const uint8_t *token_hash, int64_t now_us, ProtobufCAllocator *mem,
			  Aniworld__V1__UserSession **out, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_SESSION_INSERT,
			 "INSERT INTO user_sessions (session_id, token_hash, user_id, ip_address, "
			 "user_agent, expires_at, is_active, last_activity, created_at, updated_at) "
			 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7, ?7) RETURNING " SESSION_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	bind_static(st, 1, in->session_id);
	sqlite3_bind_blob(st, 2, token_hash, AW_SESSION_HASH_BYTES, SQLITE_STATIC);
	bind_static(st, 3, in->user_id);
	bind_static(st, 4, in->ip_address);
	bind_static(st, 5, in->user_agent);
	sqlite3_bind_int64(st, 6, aw__pb_timestamp_us(in->expires_at));
	sqlite3_bind_int64(st, 7, now_us);
	rc = step_one(c, st, "creating a session", now_us, mem, out, err);
	if (rc == AW_EEXIST)
		return aw__err_session_exists(err, in->session_id);
	return rc;
}

int aw__sq_session_get(aw_repo *r, const char *session_id, int64_t now_us,
		       ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err)
{
	aw_sq_conn *c;
	int rc = aw__sq_reader_get(sq(r), &c, err);

	if (rc != 0)
		return rc;
	rc = get_with(c, session_id, now_us, mem, out, err);
	aw__sq_reader_put(sq(r), c);
	return rc;
}

/*
 * Listing. Four statement variants, by which filters are set, each with an
 * access path that yields rows in id order with no sort: the rowid range, the
 * active index (is_active = 1, entries ending in the rowid), or the user index
 * (user_id, id), whose rows active_only then filters (a user has few
 * sessions). A unary + keeps a term off an index, so that the planner cannot
 * prefer the expiry range (which would need a sort) or, for one user, every
 * active session of every user. ?3 is now for active_only, ?4 the user.
 */
static const char *const page_sql[4] = {
	"SELECT " SESSION_COLUMNS " FROM user_sessions WHERE id > ?1 ORDER BY id LIMIT ?2",
	"SELECT " SESSION_COLUMNS " FROM user_sessions "
	"WHERE is_active = 1 AND +expires_at > ?3 AND id > ?1 ORDER BY id LIMIT ?2",
	"SELECT " SESSION_COLUMNS " FROM user_sessions WHERE user_id = ?4 AND id > ?1 "
	"ORDER BY id LIMIT ?2",
	"SELECT " SESSION_COLUMNS " FROM user_sessions "
	"WHERE user_id = ?4 AND id > ?1 AND +is_active = 1 AND +expires_at > ?3 "
	"ORDER BY id LIMIT ?2",
};

/* The unfiltered count walks the smallest index: sessions have no row count
 * kept by triggers (migration 2 keeps anime_series' only). */
static const char *const count_sql[4] = {
	"SELECT COUNT(*) FROM user_sessions",
	"SELECT COUNT(*) FROM user_sessions WHERE is_active = 1 AND +expires_at > ?3",
	"SELECT COUNT(*) FROM user_sessions WHERE user_id = ?4",
	("SELECT COUNT(*) FROM user_sessions "
	 "WHERE user_id = ?4 AND +is_active = 1 AND +expires_at > ?3"),
};

static void bind_filters(sqlite3_stmt *st, int variant, int64_t now_us,
			 const Aniworld__V1__ListSessionsRequest *f)
{
	if (variant & 1)
		sqlite3_bind_int64(st, 3, now_us);
	if (variant & 2)
		bind_static(st, 4, f->user_id);
}

int aw__sq_session_list(aw_repo *r, const Aniworld__V1__ListSessionsRequest *f,
			const aw_cursor *after, int limit, size_t max_bytes, int64_t now_us,
			ProtobufCAllocator *mem, Aniworld__V1__ListSessionsResponse **out, int *more,
			aw_err *err)
{
	int variant = (f->active_only ? 1 : 0) | (f->user_id[0] != '\0' ? 2 : 0);
	Aniworld__V1__ListSessionsResponse *res = NULL;
	sqlite3_stmt *count_st = NULL, *page_st = NULL;
	aw_sq_conn *c;
	int rc;

	*out = NULL;
	*more = 0;
	rc = aw__sq_reader_get(sq(r), &c, err);
	if (rc != 0)
		return rc;
	res = aw__pb_new(mem, &aniworld__v1__list_sessions_response__descriptor);
	if (res == NULL ||
	    (res->sessions = aw__pb_alloc(mem, (size_t)limit * sizeof(*res->sessions))) == NULL)
		rc = aw_err_set(err, AW_ENOMEM, "out of memory listing sessions");
	if (rc == 0)
		rc = aw__sq_stmt(c, AW_SQ_SESSION_COUNT + variant, count_sql[variant], &count_st, err);
	if (rc == 0)
		rc = aw__sq_stmt(c, AW_SQ_SESSION_PAGE + variant, page_sql[variant], &page_st, err);
	if (rc == 0) {
		bind_filters(count_st, variant, now_us, f);
		bind_filters(page_st, variant, now_us, f);
		sqlite3_bind_int64(page_st, 1, after->valid ? after->k[0] : 0);
		sqlite3_bind_int(page_st, 2, limit + 1);
		rc = aw__sq_page(c, count_st, page_st, limit, max_bytes, session_row, &now_us, mem,
				 (void **)res->sessions, &res->n_sessions, &res->total_size, more,
				 "listing sessions", err);
	}
	aw__sq_reader_put(sq(r), c);
	if (rc != 0) {
		if (res != NULL)
			protobuf_c_message_free_unpacked(&res->base, mem);
		return rc;
	}
	*out = res;
	return 0;
}

int aw__sq_session_auth(aw_repo *r, const char *session_id, uint8_t *token_hash,
			int *is_active, int64_t *expires_at_us, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	char esc[AW_ESCAPE_BUF];
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_SESSION_AUTH,
			 "SELECT token_hash, is_active, expires_at FROM user_sessions "
			 "WHERE session_id = ?1",
			 &st, err);
	if (rc != 0)
		return rc;
	bind_static(st, 1, session_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *hash = sqlite3_column_blob(st, 0);

		if (hash == NULL || sqlite3_column_bytes(st, 0) != AW_SESSION_HASH_BYTES) {
			rc = aw_err_set(err, AW_ECORRUPT, "session \"%s\": stored token hash is not %d bytes",
					aw_escape(esc, sizeof(esc), session_id), AW_SESSION_HASH_BYTES);
		} else {
			memcpy(token_hash, hash, AW_SESSION_HASH_BYTES);
			*is_active = sqlite3_column_int(st, 1) != 0;
			*expires_at_us = sqlite3_column_int64(st, 2);
			rc = 0;
		}
	} else if (rc == SQLITE_DONE) {
		rc = not_found(session_id, err);
	} else {
		rc = aw__sq_error(c->db, rc, "reading a session", err);
	}
	aw__sq_finish(st);
	return rc;
}

int aw__sq_session_touch(aw_repo *r, const char *session_id, int64_t now_us,
			 ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_SESSION_TOUCH,
			 "UPDATE user_sessions SET last_activity = ?2, version = version + 1 "
			 "WHERE session_id = ?1 RETURNING " SESSION_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	bind_static(st, 1, session_id);
	sqlite3_bind_int64(st, 2, now_us);
	rc = step_one(c, st, "recording session activity", now_us, mem, out, err);
	return rc == AW_ENOTFOUND ? not_found(session_id, err) : rc;
}

int aw__sq_session_extend(aw_repo *r, const char *session_id, int64_t expires_at_us, int64_t if_version,
			  int64_t now_us, ProtobufCAllocator *mem, Aniworld__V1__UserSession **out,
			  aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	Aniworld__V1__UserSession *found = NULL;
	sqlite3_stmt *st;
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_SESSION_EXTEND,
			 "UPDATE user_sessions SET expires_at = ?2, updated_at = ?3, "
			 "version = version + 1 WHERE session_id = ?1 AND is_active = 1 "
			 "AND (?4 = 0 OR version = ?4) RETURNING " SESSION_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	bind_static(st, 1, session_id);
	sqlite3_bind_int64(st, 2, expires_at_us);
	sqlite3_bind_int64(st, 3, now_us);
	sqlite3_bind_int64(st, 4, if_version);
	rc = step_one(c, st, "extending a session", now_us, mem, out, err);
	if (rc != AW_ENOTFOUND)
		return rc;
	rc = aw__sq_explain_miss(c, AW_SQ_VERSION_SESSION, SESSION_VERSION_SQL, 0, session_id,
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

int aw__sq_session_revoke(aw_repo *r, const char *session_id, int64_t if_version, int64_t now_us,
			  ProtobufCAllocator *mem, Aniworld__V1__UserSession **out, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_SESSION_REVOKE,
			 "UPDATE user_sessions SET is_active = 0, updated_at = ?2, "
			 "version = version + 1 WHERE session_id = ?1 AND is_active = 1 "
			 "AND (?3 = 0 OR version = ?3) RETURNING " SESSION_COLUMNS,
			 &st, err);
	if (rc != 0)
		return rc;
	bind_static(st, 1, session_id);
	sqlite3_bind_int64(st, 2, now_us);
	sqlite3_bind_int64(st, 3, if_version);
	rc = step_one(c, st, "revoking a session", now_us, mem, out, err);
	if (rc != AW_ENOTFOUND)
		return rc;
	rc = aw__sq_explain_miss(c, AW_SQ_VERSION_SESSION, SESSION_VERSION_SQL, 0, session_id,
				 if_version, "session", err);
	if (rc != 0)
		return rc;
	/* Nothing matched: missing (NOT_FOUND), or already revoked, which is
	 * returned as it is. */
	return get_with(c, session_id, now_us, mem, out, err);
}

/* Runs a statement that changes rows and reports how many. */
static int run_counted(aw_sq_conn *c, sqlite3_stmt *st, const char *what, int64_t *count,
		       aw_err *err)
{
	int rc = sqlite3_step(st);

	aw__sq_finish(st);
	if (rc != SQLITE_DONE)
		return aw__sq_error(c->db, rc, what, err);
	*count = sqlite3_changes64(c->db);
	return 0;
}

int aw__sq_session_revoke_user(aw_repo *r, const char *user_id, int64_t now_us, int64_t *count,
			       aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_SESSION_REVOKE_USER,
			 "UPDATE user_sessions SET is_active = 0, updated_at = ?2, version = version + 1 "
			 "WHERE user_id = ?1 AND +is_active = 1", /* the user index, see page_sql */
			 &st, err);
	if (rc != 0)
		return rc;
	bind_static(st, 1, user_id);
	sqlite3_bind_int64(st, 2, now_us);
	return run_counted(c, st, "revoking a user's sessions", count, err);
}

int aw__sq_session_purge_expired(aw_repo *r, int64_t now_us, int64_t *count, aw_err *err)
{
	aw_sq_conn *c = sq(r)->writer;
	sqlite3_stmt *st;
	int rc;

	rc = aw__sq_stmt(c, AW_SQ_SESSION_PURGE, "DELETE FROM user_sessions WHERE expires_at <= ?1",
			 &st, err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, now_us);
	return run_counted(c, st, "purging expired sessions", count, err);
}
