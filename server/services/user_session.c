/*
 * aniworld.v1.UserSessionService: validation, token hashing and status
 * mapping; storage is the repository's.
 *
 * A request's token is hashed here (session_token.c) and only its digest is
 * handed on. No message this file sets ever contains the token: the transport
 * logs every status message, and the caller may log it too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/status.h>

#include "reply.h"
#include "services.h"
#include "session_token.h"

/* Limits on what is stored: keys are indexed and echoed in messages; the others
 * only need to be bounded. */
#define MAX_SESSION_ID_BYTES 128
#define MAX_USER_ID_BYTES 255
#define MAX_TOKEN_BYTES 4096
#define MAX_IP_ADDRESS_BYTES 64
#define MAX_USER_AGENT_BYTES 1024

typedef struct session_service {
	Aniworld__V1__UserSessionService_Service base; /* first: the transport's view */
	aw_repo *repo;                                 /* borrowed */
} session_service;

static aw_repo *repo_of(Aniworld__V1__UserSessionService_Service *svc)
{
	return ((session_service *)svc)->repo;
}

/* Checks an optional text field: at most `max` bytes, no control characters.
 * Values are never echoed: they may be personal (user ids, addresses). */
static int check_text(aw_call *call, const char *field, const char *s, size_t max)
{
	return aw__check_text(call, field, s, max, AW_TEXT_NO_CTRL);
}

/* A session_id key: required, 1..128 printable ASCII characters. */
static int check_session_id(aw_call *call, const char *id)
{
	return aw__check_text(call, "session_id", id, MAX_SESSION_ID_BYTES,
			      AW_TEXT_REQUIRED | AW_TEXT_ASCII);
}

static int check_user_id(aw_call *call, const char *user_id)
{
	return aw__check_text(call, "user_id", user_id, MAX_USER_ID_BYTES,
			      AW_TEXT_REQUIRED | AW_TEXT_NO_CTRL);
}

/* A token: required and bounded. Its value is never part of a message. */
static int check_token(aw_call *call, const char *token)
{
	return aw__check_text(call, "token", token, MAX_TOKEN_BYTES, AW_TEXT_REQUIRED);
}

/* Writes `ts` as RFC 3339 UTC ("2026-11-25T10:00:00Z") into `buf`. */
static const char *format_time(const Google__Protobuf__Timestamp *ts, char *buf, size_t size)
{
	time_t sec = (time_t)ts->seconds;
	struct tm tm;

	if (gmtime_r(&sec, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%llds", (long long)ts->seconds);
	return buf;
}

/* An expiry: required, a valid Timestamp, later than now. */
static int check_future(aw_call *call, const char *field, const Google__Protobuf__Timestamp *ts)
{
	char text[64];

	if (ts == NULL)
		return aw__violation(call, field, "%s is required", field);
	if (aw__check_timestamp(call, field, ts) != 0)
		return -1;
	if (aw__pb_timestamp_us(ts) <= aw__repo_now_us())
		return aw__violation(call, field, "%s must be in the future, got %s", field,
				     format_time(ts, text, sizeof(text)));
	return 0;
}

/* Checks a CreateSessionRequest, a rule a line, recording every violation.
 * Returns 0, or -1 with INVALID_ARGUMENT set. */
static int check_create(aw_call *call, const Aniworld__V1__CreateSessionRequest *in)
{
	check_user_id(call, in->user_id);
	check_token(call, in->token);
	if (in->session_id[0] != '\0')
		check_session_id(call, in->session_id);
	check_future(call, "expires_at", in->expires_at);
	check_text(call, "ip_address", in->ip_address, MAX_IP_ADDRESS_BYTES);
	aw__check_text(call, "user_agent", in->user_agent, MAX_USER_AGENT_BYTES, 0);
	return aw__refused(call) ? -1 : 0;
}

static void create_session(Aniworld__V1__UserSessionService_Service *svc,
			   const Aniworld__V1__CreateSessionRequest *in,
			   Aniworld__V1__UserSession_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	Aniworld__V1__UserSession *s;
	aw_session_new *sn;
	aw_repo_req *req;
	aw_err err;

	if (check_create(call, in) != 0) {
		closure(NULL, call);
		return;
	}
	s = aw_call_alloc(call, sizeof(*s));
	sn = aw_call_alloc(call, sizeof(*sn));
	if (s == NULL || sn == NULL) {
		aw_call_set_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		closure(NULL, call);
		return;
	}
	aniworld__v1__user_session__init(s);
	s->session_id = in->session_id;
	s->user_id = in->user_id;
	s->ip_address = in->ip_address;
	s->user_agent = in->user_agent;
	s->expires_at = in->expires_at;
	if (s->session_id[0] == '\0') {
		s->session_id = aw_call_alloc(call, AW_SESSION_ID_HEX_CHARS + 1);
		if (s->session_id == NULL) {
			aw_call_set_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
			closure(NULL, call);
			return;
		}
		if (aw__session_id_generate(s->session_id, &err) != 0) {
			aw_call_set_error(call, &err);
			closure(NULL, call);
			return;
		}
	}
	sn->session = s;
	if (aw__session_token_hash(in->token, strlen(in->token), sn->token_hash, &err) != 0) {
		aw_call_set_error(call, &err);
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_session_create(repo_of(svc), req, sn);
}

static void get_session(Aniworld__V1__UserSessionService_Service *svc,
			const Aniworld__V1__GetSessionRequest *in,
			Aniworld__V1__UserSession_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_session_id(call, in->session_id) != 0) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_session_get(repo_of(svc), req, in->session_id);
}

static void list_sessions(Aniworld__V1__UserSessionService_Service *svc,
			  const Aniworld__V1__ListSessionsRequest *in,
			  Aniworld__V1__ListSessionsResponse_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;
	int page_size;

	if (aw__page_size(call, in->page_size, &page_size) != 0) {
		closure(NULL, call);
		return;
	}
	if (check_text(call, "user_id", in->user_id, MAX_USER_ID_BYTES) != 0) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_session_list(repo_of(svc), req, in, page_size);
}

static void validate_session(Aniworld__V1__UserSessionService_Service *svc,
			     const Aniworld__V1__ValidateSessionRequest *in,
			     Aniworld__V1__ValidateSessionResponse_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_session_proof *proof;
	aw_repo_req *req;
	aw_err err;

	check_session_id(call, in->session_id);
	check_token(call, in->token);
	if (aw__refused(call)) {
		closure(NULL, call);
		return;
	}
	proof = aw_call_alloc(call, sizeof(*proof));
	if (proof == NULL) {
		aw_call_set_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		closure(NULL, call);
		return;
	}
	proof->session_id = in->session_id;
	if (aw__session_token_hash(in->token, strlen(in->token), proof->token_hash, &err) != 0) {
		aw_call_set_error(call, &err);
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_session_validate(repo_of(svc), req, proof);
}

static void extend_session(Aniworld__V1__UserSessionService_Service *svc,
			   const Aniworld__V1__ExtendSessionRequest *in,
			   Aniworld__V1__UserSession_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	check_session_id(call, in->session_id);
	check_future(call, "expires_at", in->expires_at);
	if (aw__refused(call)) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_session_extend(repo_of(svc), req, in);
}

static void revoke_session(Aniworld__V1__UserSessionService_Service *svc,
			   const Aniworld__V1__RevokeSessionRequest *in,
			   Aniworld__V1__UserSession_Closure closure, void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_session_id(call, in->session_id) != 0) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_session_revoke(repo_of(svc), req, in->session_id);
}

static void revoke_user_sessions(Aniworld__V1__UserSessionService_Service *svc,
				 const Aniworld__V1__RevokeUserSessionsRequest *in,
				 Aniworld__V1__RevokeUserSessionsResponse_Closure closure,
				 void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	if (check_user_id(call, in->user_id) != 0) {
		closure(NULL, call);
		return;
	}
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_session_revoke_user(repo_of(svc), req, in->user_id);
}

static void purge_expired_sessions(Aniworld__V1__UserSessionService_Service *svc,
				   const Aniworld__V1__PurgeExpiredSessionsRequest *in,
				   Aniworld__V1__PurgeExpiredSessionsResponse_Closure closure,
				   void *closure_data)
{
	aw_call *call = closure_data;
	aw_repo_req *req;

	(void)in;
	if ((req = aw__reply_req(call, (ProtobufCClosure)closure)) != NULL)
		aw_repo_session_purge_expired(repo_of(svc), req);
}

static void destroy(Aniworld__V1__UserSessionService_Service *svc)
{
	free(svc);
}

int aw_session_service_new(ProtobufCService **out, const aw_service_env *env, aw_err *err)
{
	session_service *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for UserSessionService");
	aniworld__v1__user_session_service__init(&s->base, destroy);
	s->base.create_session = create_session;
	s->base.get_session = get_session;
	s->base.list_sessions = list_sessions;
	s->base.validate_session = validate_session;
	s->base.extend_session = extend_session;
	s->base.revoke_session = revoke_session;
	s->base.revoke_user_sessions = revoke_user_sessions;
	s->base.purge_expired_sessions = purge_expired_sessions;
	s->repo = env->repo;
	*out = &s->base.base;
	return 0;
}
