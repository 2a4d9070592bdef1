/*
 * aniworld.v1.UserSessionService, one typed function per method.
 */
#include "client_int.h"

#define SESSION_SERVICE (&aniworld__v1__user_session_service__descriptor)

int aw_client_session_create(aw_client *c, const Aniworld__V1__CreateSessionRequest *req,
			     Aniworld__V1__UserSession **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SESSION_SERVICE, "CreateSession", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_session_get(aw_client *c, const Aniworld__V1__GetSessionRequest *req,
			  Aniworld__V1__UserSession **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SESSION_SERVICE, "GetSession", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_session_list(aw_client *c, const Aniworld__V1__ListSessionsRequest *req,
			   Aniworld__V1__ListSessionsResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SESSION_SERVICE, "ListSessions", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_session_validate(aw_client *c, const Aniworld__V1__ValidateSessionRequest *req,
			       Aniworld__V1__ValidateSessionResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SESSION_SERVICE, "ValidateSession", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_session_extend(aw_client *c, const Aniworld__V1__ExtendSessionRequest *req,
			     Aniworld__V1__UserSession **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SESSION_SERVICE, "ExtendSession", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_session_revoke(aw_client *c, const Aniworld__V1__RevokeSessionRequest *req,
			     Aniworld__V1__UserSession **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SESSION_SERVICE, "RevokeSession", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_session_revoke_user(aw_client *c, const Aniworld__V1__RevokeUserSessionsRequest *req,
				  Aniworld__V1__RevokeUserSessionsResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SESSION_SERVICE, "RevokeUserSessions", &req->base,
				(ProtobufCMessage **)out, err, opts);
}

int aw_client_session_purge_expired(aw_client *c,
				    const Aniworld__V1__PurgeExpiredSessionsRequest *req,
				    Aniworld__V1__PurgeExpiredSessionsResponse **out, aw_err *err,
		  const aw_call_opts *opts)
{
	return aw__client_unary(c, SESSION_SERVICE, "PurgeExpiredSessions", &req->base,
				(ProtobufCMessage **)out, err, opts);
}
