/*
 * User session wrappers: checks and packaging around the backend's session
 * methods, and the verdict of ValidateSession.
 *
 * The token never comes here: the service hashes it, and the repository
 * stores, reads and compares digests only.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "page_token.h"
#include "repo.h"

static void set_session_result(Aniworld__V1__UserSession *out, ProtobufCMessage **result)
{
	*result = out != NULL ? &out->base : NULL;
}

static int write_session_create(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
				aw_err *err)
{
	const aw_session_new *in = req->args.session_create.in;
	Aniworld__V1__UserSession *out = NULL;
	int rc = r->methods->session_create(r, in->session, in->token_hash, aw__repo_now(r),
					    req->mem, &out, err);

	set_session_result(out, result);
	return rc;
}

void aw_repo_session_create(aw_repo *r, aw_repo_req *req, const aw_session_new *in)
{
	if (in == NULL || in->session == NULL)
		return aw__repo_invalid(req, "session is required");
	if (in->session->session_id == NULL || in->session->session_id[0] == '\0')
		return aw__repo_invalid(req, "session_id is required");
	if (in->session->expires_at == NULL)
		return aw__repo_invalid(req, "expires_at is required");
	req->write = write_session_create;
	req->args.session_create.in = in;
	aw__writer_submit(r, req);
}

void aw_repo_session_get(aw_repo *r, aw_repo_req *req, const char *session_id)
{
	Aniworld__V1__UserSession *out = NULL;
	aw_err err;
	int rc;

	if (session_id == NULL)
		return aw__repo_invalid(req, "session_id is required");
	aw_err_clear(&err);
	aw__repo_deadline_set(req->deadline_us); /* until aw__repo_report */
	rc = r->methods->session_get(r, session_id, aw__repo_now(r), req->mem, &out, &err);
	aw__repo_report(r, req, rc, &err, out != NULL ? &out->base : NULL);
}

static uint64_t session_filter_hash(const Aniworld__V1__ListSessionsRequest *in)
{
	uint64_t h = AW_FILTER_HASH_INIT;

	h = aw_filter_hash_str(h, in->user_id);
	return aw_filter_hash_i64(h, in->active_only ? 1 : 0);
}

void aw_repo_session_list(aw_repo *r, aw_repo_req *req, const Aniworld__V1__ListSessionsRequest *in,
			  int page_size)
{
	Aniworld__V1__ListSessionsResponse *out = NULL;
	uint64_t filter = session_filter_hash(in);
	aw_cursor after;
	aw_err err;
	int more = 0, rc;

	aw_err_clear(&err);
	aw__repo_deadline_set(req->deadline_us); /* until aw__repo_report */
	rc = aw_page_token_decode(in->page_token, AW_LIST_SESSIONS, filter, &after, &err);
	if (rc == 0)
		rc = r->methods->session_list(r, in, &after, page_size, aw__repo_page_budget(r),
					      aw__repo_now(r), req->mem,
					      &out, &more, &err);
	if (rc == 0 && more && out->n_sessions > 0) {
		aw_cursor next = {.valid = 1};
		char token[AW_PAGE_TOKEN_MAX];

		next.k[0] = out->sessions[out->n_sessions - 1]->id;
		aw_page_token_encode(&next, AW_LIST_SESSIONS, filter, token);
		out->next_page_token = aw__repo_strdup(req->mem, token);
		if (out->next_page_token == NULL) {
			out->next_page_token = (char *)protobuf_c_empty_string;
			rc = aw_err_set(&err, AW_ENOMEM, "out of memory");
		}
	}
	aw__repo_report(r, req, rc, &err, out != NULL ? &out->base : NULL);
}

/*
 * ValidateSession as one write: reading the stored digest, judging and moving
 * last_activity happen in the writer's transaction, so no revocation,
 * extension or purge can land between the verdict and the write (a read on a
 * reader connection followed by a conditional write would need a second read
 * to explain a write that matched nothing). Every valid call writes anyway,
 * so going through the writer costs the invalid ones little.
 *
 * The order of the checks is part of the contract: a caller without the token
 * learns only that the session exists, never whether it is revoked or expired.
 * CRYPTO_memcmp takes the same time however many leading bytes match, so the
 * timing of a wrong guess tells nothing about the stored digest.
 */
static int write_session_validate(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
				  aw_err *err)
{
	const aw_session_proof *in = req->args.session_validate.in;
	Aniworld__V1__ValidateSessionResponse *res;
	uint8_t stored[AW_SESSION_HASH_BYTES];
	int64_t now_us = aw__repo_now(r), expires_at_us = 0;
	int active = 0, rc;

	res = aw__pb_new(req->mem, &aniworld__v1__validate_session_response__descriptor);
	if (res == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory validating a session");
	rc = r->methods->session_auth(r, in->session_id, stored, &active, &expires_at_us, err);
	if (rc == AW_ENOTFOUND) {
		aw_err_clear(err);
		rc = 0;
		res->reason = ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_NOT_FOUND;
	} else if (rc == 0) {
		if (CRYPTO_memcmp(stored, in->token_hash, sizeof(stored)) != 0)
			res->reason =
				ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_TOKEN_MISMATCH;
		else if (!active)
			res->reason = ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_REVOKED;
		else if (expires_at_us <= now_us)
			res->reason = ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_EXPIRED;
		else
			rc = r->methods->session_touch(r, in->session_id, now_us, req->mem,
						       &res->session, err);
		res->valid = rc == 0 && res->session != NULL;
	}
	if (rc != 0) {
		protobuf_c_message_free_unpacked(&res->base, req->mem);
		return rc;
	}
	*result = &res->base;
	return 0;
}

void aw_repo_session_validate(aw_repo *r, aw_repo_req *req, const aw_session_proof *in)
{
	if (in == NULL || in->session_id == NULL)
		return aw__repo_invalid(req, "session_id is required");
	req->write = write_session_validate;
	req->args.session_validate.in = in;
	aw__writer_submit(r, req);
}

static int write_session_extend(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
				aw_err *err)
{
	const Aniworld__V1__ExtendSessionRequest *in = req->args.session_extend.in;
	Aniworld__V1__UserSession *out = NULL;
	int rc = r->methods->session_extend(r, in->session_id, aw__pb_timestamp_us(in->expires_at),
					    req->if_version,
					    aw__repo_now(r), req->mem, &out, err);

	set_session_result(out, result);
	return rc;
}

void aw_repo_session_extend(aw_repo *r, aw_repo_req *req,
			    const Aniworld__V1__ExtendSessionRequest *in)
{
	if (in == NULL || in->session_id == NULL)
		return aw__repo_invalid(req, "session_id is required");
	if (in->expires_at == NULL)
		return aw__repo_invalid(req, "expires_at is required");
	req->write = write_session_extend;
	req->args.session_extend.in = in;
	aw__writer_submit(r, req);
}

static int write_session_revoke(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
				aw_err *err)
{
	Aniworld__V1__UserSession *out = NULL;
	int rc = r->methods->session_revoke(r, req->args.session_revoke.session_id, req->if_version,
					    aw__repo_now(r), req->mem, &out, err);

	set_session_result(out, result);
	return rc;
}

void aw_repo_session_revoke(aw_repo *r, aw_repo_req *req, const char *session_id)
{
	if (session_id == NULL)
		return aw__repo_invalid(req, "session_id is required");
	req->write = write_session_revoke;
	req->args.session_revoke.session_id = session_id;
	aw__writer_submit(r, req);
}

static int write_session_revoke_user(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
				     aw_err *err)
{
	Aniworld__V1__RevokeUserSessionsResponse *res;
	int rc;

	/* The reply first: nothing may fail after the write. */
	res = aw__pb_new(req->mem, &aniworld__v1__revoke_user_sessions_response__descriptor);
	if (res == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory revoking sessions");
	rc = r->methods->session_revoke_user(r, req->args.session_revoke_user.user_id, aw__repo_now(r), &res->revoked_count,
					     err);
	if (rc != 0) {
		protobuf_c_message_free_unpacked(&res->base, req->mem);
		return rc;
	}
	*result = &res->base;
	return 0;
}

void aw_repo_session_revoke_user(aw_repo *r, aw_repo_req *req, const char *user_id)
{
	if (user_id == NULL)
		return aw__repo_invalid(req, "user_id is required");
	req->write = write_session_revoke_user;
	req->args.session_revoke_user.user_id = user_id;
	aw__writer_submit(r, req);
}

static int write_session_purge_expired(aw_repo *r, aw_repo_req *req, ProtobufCMessage **result,
				       aw_err *err)
{
	Aniworld__V1__PurgeExpiredSessionsResponse *res;
	int rc;

	/* The reply first: nothing may fail after the write. */
	res = aw__pb_new(req->mem, &aniworld__v1__purge_expired_sessions_response__descriptor);
	if (res == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory purging sessions");
	rc = r->methods->session_purge_expired(r, aw__repo_now(r), &res->deleted_count, err);
	if (rc != 0) {
		protobuf_c_message_free_unpacked(&res->base, req->mem);
		return rc;
	}
	*result = &res->base;
	return 0;
}

void aw_repo_session_purge_expired(aw_repo *r, aw_repo_req *req)
{
	req->write = write_session_purge_expired;
	aw__writer_submit(r, req);
}
