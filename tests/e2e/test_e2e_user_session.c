/*
 * End to end: aniworld.v1.UserSessionService through the client library against
 * a real server on a loopback port with a real database (SQLite or PostgreSQL,
 * test_db.h): every method, every error, the order of ValidateSession's
 * verdicts, and that a token never reaches the database's files (SQLite's file
 * and WAL, or every file of the PostgreSQL fixture's cluster, its WAL
 * included) or the server's log.
 */
#define _GNU_SOURCE /* memmem */
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "aniworld/client.h"
#include "harness.h"
#include "log.h"
#include "services/session_token.h"

#define SECOND_US INT64_C(1000000)
#define HOUR_US (3600 * SECOND_US)

typedef struct fixture {
	harness h;
	aw_client *client;
	int saved_stderr;   /* >= 0 while stderr goes to log_path */
	char log_path[160]; /* the server's captured log */
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	f->saved_stderr = -1;
	if (harness_start(&f->h) != 0 || aw_client_new(&f->client, f->h.target, NULL, NULL) != 0)
		return -1;
	*state = f;
	return 0;
}

/* Sends stderr (the server's log, and cmocka's messages) to the file at
 * f->log_path, at the most verbose log level. */
static void capture_stderr(fixture *f)
{
	int fd;

	snprintf(f->log_path, sizeof(f->log_path), "%s/server.log", f->h.dir);
	fd = open(f->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	f->saved_stderr = dup(STDERR_FILENO);
	assert_true(f->saved_stderr >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
	aw_log_set_level(AW_LOG_DEBUG);
}

/* Gives stderr back; `replay` copies what was captured to it (after a failure,
 * whose message is in there). */
static void release_stderr(fixture *f, int replay)
{
	if (f->saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(f->saved_stderr, STDERR_FILENO);
	close(f->saved_stderr);
	f->saved_stderr = -1;
	aw_log_set_level(AW_LOG_WARN);
	if (replay) {
		FILE *fp = fopen(f->log_path, "r");
		char line[1024];

		fprintf(stderr, "---- captured while the test ran ----\n");
		while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
			fputs(line, stderr);
		if (fp != NULL)
			fclose(fp);
	}
}

static int teardown(void **state)
{
	fixture *f = *state;

	release_stderr(f, 1); /* still captured: the test failed half-way */
	aw_client_free(f->client);
	harness_cleanup(&f->h);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

typedef Aniworld__V1__UserSession session;

static const Aniworld__V1__SessionInvalidReason NOT_FOUND =
	ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_NOT_FOUND;
static const Aniworld__V1__SessionInvalidReason EXPIRED =
	ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_EXPIRED;
static const Aniworld__V1__SessionInvalidReason REVOKED =
	ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_REVOKED;
static const Aniworld__V1__SessionInvalidReason MISMATCH =
	ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_TOKEN_MISMATCH;

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * SECOND_US + ts.tv_nsec / 1000;
}

static void set_ts(Google__Protobuf__Timestamp *t, int64_t us)
{
	google__protobuf__timestamp__init(t);
	t->seconds = us / SECOND_US;
	t->nanos = (int32_t)(us % SECOND_US) * 1000;
}

static int64_t ts_us(const Google__Protobuf__Timestamp *t)
{
	return t->seconds * SECOND_US + t->nanos / 1000;
}

static int create(aw_client *c, const char *sid, const char *user, const char *token,
		  int64_t expires_us, session **out, aw_err *err)
{
	Aniworld__V1__CreateSessionRequest req = ANIWORLD__V1__CREATE_SESSION_REQUEST__INIT;
	Google__Protobuf__Timestamp exp;

	set_ts(&exp, expires_us);
	req.session_id = (char *)sid;
	req.user_id = (char *)user;
	req.token = (char *)token;
	req.ip_address = "198.51.100.4";
	req.user_agent = "Mozilla/5.0 (X11; Linux x86_64)";
	req.expires_at = &exp;
	return aw_client_session_create(c, &req, out, err, NULL);
}

static session *must_create(aw_client *c, const char *sid, const char *user, const char *token,
			    int64_t expires_us)
{
	session *out = NULL;
	aw_err err;

	if (create(c, sid, user, token, expires_us, &out, &err) != 0)
		fail_msg("CreateSession %s: %s", sid, err.msg);
	return out;
}

static void add(aw_client *c, const char *sid, const char *user, const char *token)
{
	aniworld__v1__user_session__free_unpacked(must_create(c, sid, user, token,
							      now_us() + HOUR_US), NULL);
}

static int get(aw_client *c, const char *sid, session **out, aw_err *err)
{
	Aniworld__V1__GetSessionRequest req = ANIWORLD__V1__GET_SESSION_REQUEST__INIT;

	req.session_id = (char *)sid;
	return aw_client_session_get(c, &req, out, err, NULL);
}

static Aniworld__V1__ValidateSessionResponse *validate(aw_client *c, const char *sid,
							const char *token)
{
	Aniworld__V1__ValidateSessionRequest req = ANIWORLD__V1__VALIDATE_SESSION_REQUEST__INIT;
	Aniworld__V1__ValidateSessionResponse *out = NULL;
	aw_err err;

	req.session_id = (char *)sid;
	req.token = (char *)token;
	if (aw_client_session_validate(c, &req, &out, &err, NULL) != 0)
		fail_msg("ValidateSession %s: %s", sid, err.msg);
	return out;
}

/* Validates and checks the verdict (0: valid). */
static void expect_verdict(aw_client *c, const char *sid, const char *token,
			   Aniworld__V1__SessionInvalidReason reason)
{
	Aniworld__V1__ValidateSessionResponse *v = validate(c, sid, token);

	if (v->reason != reason)
		fail_msg("ValidateSession %s: reason %d, expected %d", sid, v->reason, reason);
	assert_int_equal(v->valid, reason == 0);
	if (reason == 0)
		assert_non_null(v->session);
	else
		assert_null(v->session);
	aniworld__v1__validate_session_response__free_unpacked(v, NULL);
}

static int revoke_one(aw_client *c, const char *sid, session **out, aw_err *err)
{
	Aniworld__V1__RevokeSessionRequest req = ANIWORLD__V1__REVOKE_SESSION_REQUEST__INIT;

	req.session_id = (char *)sid;
	return aw_client_session_revoke(c, &req, out, err, NULL);
}

static int extend(aw_client *c, const char *sid, int64_t expires_us, session **out, aw_err *err)
{
	Aniworld__V1__ExtendSessionRequest req = ANIWORLD__V1__EXTEND_SESSION_REQUEST__INIT;
	Google__Protobuf__Timestamp exp;

	set_ts(&exp, expires_us);
	req.session_id = (char *)sid;
	req.expires_at = &exp;
	return aw_client_session_extend(c, &req, out, err, NULL);
}

/* Waits, up to 10 s, until the server reports session `sid` expired. */
static void wait_expired(aw_client *c, const char *sid)
{
	struct timespec pause = {0, 20 * 1000 * 1000};
	int64_t give_up = now_us() + 10 * SECOND_US;

	for (;;) {
		session *s = NULL;
		aw_err err;

		assert_int_equal(get(c, sid, &s, &err), 0);
		int expired = s->is_expired;
		aniworld__v1__user_session__free_unpacked(s, NULL);
		if (expired)
			return;
		if (now_us() > give_up)
			fail_msg("session %s did not expire", sid);
		nanosleep(&pause, NULL);
	}
}

/* ---- every method ------------------------------------------------------------------- */

static void test_e2e_user_session_every_method(void **state)
{
	fixture *f = *state;
	aw_err err;
	int64_t expires = now_us() + HOUR_US;
	session *a = must_create(f->client, "", "alice", "alice-token-1", expires);
	session *b = must_create(f->client, "", "alice", "alice-token-2", expires);
	session *got = NULL;

	/* Generated ids: 32 lowercase hex digits, different every time. */
	assert_int_equal(strlen(a->session_id), 32);
	assert_int_equal(strspn(a->session_id, "0123456789abcdef"), 32);
	assert_string_not_equal(a->session_id, b->session_id);
	assert_true(a->id > 0);
	assert_string_equal(a->user_id, "alice");
	assert_string_equal(a->ip_address, "198.51.100.4");
	assert_string_equal(a->user_agent, "Mozilla/5.0 (X11; Linux x86_64)");
	assert_int_equal(ts_us(a->expires_at), expires);
	assert_true(a->is_active);
	assert_false(a->is_expired);
	assert_non_null(a->last_activity);
	assert_non_null(a->created_at);
	assert_non_null(a->updated_at);

	/* GetSession */
	assert_int_equal(get(f->client, a->session_id, &got, &err), 0);
	assert_int_equal(got->id, a->id);
	assert_string_equal(got->user_agent, a->user_agent);
	aniworld__v1__user_session__free_unpacked(got, NULL);

	/* ListSessions */
	Aniworld__V1__ListSessionsRequest list = ANIWORLD__V1__LIST_SESSIONS_REQUEST__INIT;
	Aniworld__V1__ListSessionsResponse *page = NULL;
	list.user_id = "alice";
	assert_int_equal(aw_client_session_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->n_sessions, 2);
	assert_int_equal(page->total_size, 2);
	assert_int_equal(page->sessions[0]->id, a->id);
	assert_string_equal(page->next_page_token, "");
	aniworld__v1__list_sessions_response__free_unpacked(page, NULL);

	/* ValidateSession: valid, and last_activity moves. */
	Aniworld__V1__ValidateSessionResponse *v = validate(f->client, a->session_id, "alice-token-1");
	assert_true(v->valid);
	assert_int_equal(v->reason, 0);
	assert_string_equal(v->session->session_id, a->session_id);
	assert_true(ts_us(v->session->last_activity) > ts_us(a->last_activity));
	aniworld__v1__validate_session_response__free_unpacked(v, NULL);

	/* ExtendSession */
	assert_int_equal(extend(f->client, a->session_id, expires + HOUR_US, &got, &err), 0);
	assert_int_equal(ts_us(got->expires_at), expires + HOUR_US);
	assert_true(ts_us(got->updated_at) > ts_us(a->updated_at));
	aniworld__v1__user_session__free_unpacked(got, NULL);

	/* RevokeSession returns the session, and is idempotent. */
	assert_int_equal(revoke_one(f->client, a->session_id, &got, &err), 0);
	assert_false(got->is_active);
	int64_t revoked_at = ts_us(got->updated_at);
	aniworld__v1__user_session__free_unpacked(got, NULL);
	assert_int_equal(revoke_one(f->client, a->session_id, &got, &err), 0);
	assert_false(got->is_active);
	assert_int_equal(ts_us(got->updated_at), revoked_at);
	aniworld__v1__user_session__free_unpacked(got, NULL);
	expect_verdict(f->client, a->session_id, "alice-token-1", REVOKED);

	/* RevokeUserSessions: only b was still active. */
	Aniworld__V1__RevokeUserSessionsRequest ru = ANIWORLD__V1__REVOKE_USER_SESSIONS_REQUEST__INIT;
	Aniworld__V1__RevokeUserSessionsResponse *rur = NULL;
	ru.user_id = "alice";
	assert_int_equal(aw_client_session_revoke_user(f->client, &ru, &rur, &err, NULL), 0);
	assert_int_equal(rur->revoked_count, 1);
	aniworld__v1__revoke_user_sessions_response__free_unpacked(rur, NULL);
	assert_int_equal(aw_client_session_revoke_user(f->client, &ru, &rur, &err, NULL), 0);
	assert_int_equal(rur->revoked_count, 0);
	aniworld__v1__revoke_user_sessions_response__free_unpacked(rur, NULL);
	expect_verdict(f->client, b->session_id, "alice-token-2", REVOKED);

	/* PurgeExpiredSessions: nothing has expired yet. */
	Aniworld__V1__PurgeExpiredSessionsRequest pr = ANIWORLD__V1__PURGE_EXPIRED_SESSIONS_REQUEST__INIT;
	Aniworld__V1__PurgeExpiredSessionsResponse *prr = NULL;
	assert_int_equal(aw_client_session_purge_expired(f->client, &pr, &prr, &err, NULL), 0);
	assert_int_equal(prr->deleted_count, 0);
	aniworld__v1__purge_expired_sessions_response__free_unpacked(prr, NULL);

	aniworld__v1__user_session__free_unpacked(a, NULL);
	aniworld__v1__user_session__free_unpacked(b, NULL);
}

static void test_e2e_user_session_caller_chosen_id(void **state)
{
	fixture *f = *state;
	session *out = NULL;
	aw_err err;
	session *a = must_create(f->client, "web:login/42 ok", "bob", "bob-token", now_us() + HOUR_US);

	assert_string_equal(a->session_id, "web:login/42 ok");
	harness_expect_status(create(f->client, "web:login/42 ok", "carol", "other-token",
			     now_us() + HOUR_US, &out, &err),
		      &err, AW_EEXIST, "\"web:login/42 ok\"");
	assert_null(out);
	assert_null(strstr(err.msg, "other-token"));
	expect_verdict(f->client, "web:login/42 ok", "bob-token", 0);
	aniworld__v1__user_session__free_unpacked(a, NULL);
}

/* Expiry as the server sees it: a session created to expire shortly, waited
 * for, then validated, extended and purged. */
static void test_e2e_user_session_expiry(void **state)
{
	fixture *f = *state;
	session *out = NULL;
	aw_err err;

	/* A second is ample for the creations to arrive before it passes. */
	aniworld__v1__user_session__free_unpacked(
		must_create(f->client, "short", "dave", "dave-token", now_us() + SECOND_US), NULL);
	aniworld__v1__user_session__free_unpacked(
		must_create(f->client, "short-revoked", "dave", "dave-token-2", now_us() + SECOND_US),
		NULL);
	add(f->client, "long", "dave", "dave-token-3");
	assert_int_equal(revoke_one(f->client, "short-revoked", &out, &err), 0);
	aniworld__v1__user_session__free_unpacked(out, NULL);
	wait_expired(f->client, "short");
	wait_expired(f->client, "short-revoked");

	expect_verdict(f->client, "short", "dave-token", EXPIRED);
	expect_verdict(f->client, "short", "wrong", MISMATCH);
	expect_verdict(f->client, "short-revoked", "dave-token-2", REVOKED);

	/* active_only leaves out the expired and the revoked. */
	Aniworld__V1__ListSessionsRequest list = ANIWORLD__V1__LIST_SESSIONS_REQUEST__INIT;
	Aniworld__V1__ListSessionsResponse *page = NULL;
	list.user_id = "dave";
	list.active_only = 1;
	assert_int_equal(aw_client_session_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->n_sessions, 1);
	assert_int_equal(page->total_size, 1);
	assert_string_equal(page->sessions[0]->session_id, "long");
	aniworld__v1__list_sessions_response__free_unpacked(page, NULL);

	/* An expired session that was not revoked can be extended. */
	assert_int_equal(extend(f->client, "short", now_us() + HOUR_US, &out, &err), 0);
	assert_false(out->is_expired);
	aniworld__v1__user_session__free_unpacked(out, NULL);
	expect_verdict(f->client, "short", "dave-token", 0);

	/* Purge takes the expired revoked one only. */
	Aniworld__V1__PurgeExpiredSessionsRequest pr = ANIWORLD__V1__PURGE_EXPIRED_SESSIONS_REQUEST__INIT;
	Aniworld__V1__PurgeExpiredSessionsResponse *prr = NULL;
	assert_int_equal(aw_client_session_purge_expired(f->client, &pr, &prr, &err, NULL), 0);
	assert_int_equal(prr->deleted_count, 1);
	aniworld__v1__purge_expired_sessions_response__free_unpacked(prr, NULL);
	harness_expect_status(get(f->client, "short-revoked", &out, &err), &err, AW_ENOTFOUND,
		      "\"short-revoked\"");
	expect_verdict(f->client, "short-revoked", "dave-token-2", NOT_FOUND);
}

/* The order of the checks: a caller without the token learns only that the
 * session exists. Nothing invalid moves last_activity. */
static void test_e2e_user_session_validate_reasons(void **state)
{
	fixture *f = *state;
	session *s = must_create(f->client, "erin-1", "erin", "erin-token", now_us() + HOUR_US);
	session *out = NULL;
	aw_err err;

	expect_verdict(f->client, "no-such-session", "erin-token", NOT_FOUND);
	expect_verdict(f->client, "erin-1", "erin-token-", MISMATCH);
	expect_verdict(f->client, "erin-1", "Erin-token", MISMATCH);
	assert_int_equal(get(f->client, "erin-1", &out, &err), 0);
	assert_int_equal(ts_us(out->last_activity), ts_us(s->last_activity));
	aniworld__v1__user_session__free_unpacked(out, NULL);

	assert_int_equal(revoke_one(f->client, "erin-1", &out, &err), 0);
	aniworld__v1__user_session__free_unpacked(out, NULL);
	expect_verdict(f->client, "erin-1", "wrong", MISMATCH);
	expect_verdict(f->client, "erin-1", "erin-token", REVOKED);
	assert_int_equal(get(f->client, "erin-1", &out, &err), 0);
	assert_int_equal(ts_us(out->last_activity), ts_us(s->last_activity));
	aniworld__v1__user_session__free_unpacked(out, NULL);
	aniworld__v1__user_session__free_unpacked(s, NULL);
}

/* ---- every error path ------------------------------------------------------------------ */

static void test_e2e_user_session_errors(void **state)
{
	fixture *f = *state;
	const char *token = "secret-token-for-errors";
	int64_t later = now_us() + HOUR_US;
	char long_text[1100], long_token[4200];
	session *out = NULL;
	aw_err err;

	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	snprintf(long_token, sizeof(long_token), "%s", token);
	memset(long_token + strlen(token), 'y', sizeof(long_token) - 1 - strlen(token));
	long_token[sizeof(long_token) - 1] = '\0';
	add(f->client, "frank-1", "frank", token);

	/* CreateSession */
	Aniworld__V1__CreateSessionRequest cr = ANIWORLD__V1__CREATE_SESSION_REQUEST__INIT;
	Google__Protobuf__Timestamp exp;
	set_ts(&exp, later);
	cr.user_id = "frank";
	cr.token = (char *)token;
	cr.expires_at = &exp;
	harness_expect_status(create(f->client, "", "", token, later, &out, &err), &err, AW_EINVAL, "user_id");
	harness_expect_status(create(f->client, "", long_text, token, later, &out, &err), &err, AW_EINVAL,
		      "user_id is longer than 255");
	harness_expect_status(create(f->client, "", "fr\tank", token, later, &out, &err), &err, AW_EINVAL,
		      "user_id contains a control character");
	harness_expect_status(create(f->client, "", "frank", "", later, &out, &err), &err, AW_EINVAL,
		      "token is required");
	harness_expect_status(create(f->client, "", "frank", long_token, later, &out, &err), &err, AW_EINVAL,
		      "token is longer than 4096");
	assert_null(strstr(err.msg, token));
	harness_expect_status(create(f->client, "", "frank", token, now_us() - SECOND_US, &out, &err), &err,
		      AW_EINVAL, "expires_at must be in the future");
	assert_non_null(strstr(err.msg, "Z")); /* the value, in RFC 3339 */
	cr.expires_at = NULL;
	harness_expect_status(aw_client_session_create(f->client, &cr, &out, &err, NULL), &err, AW_EINVAL,
		      "expires_at is required");
	cr.expires_at = &exp;
	exp.nanos = 1000000000;
	harness_expect_status(aw_client_session_create(f->client, &cr, &out, &err, NULL), &err, AW_EINVAL,
		      "expires_at.nanos");
	exp.nanos = 0;
	exp.seconds = INT64_C(999999999999);
	harness_expect_status(aw_client_session_create(f->client, &cr, &out, &err, NULL), &err, AW_EINVAL,
		      "expires_at.seconds");
	set_ts(&exp, later);
	harness_expect_status(create(f->client, long_text + 900, "frank", token, later, &out, &err), &err,
		      AW_EINVAL, "session_id is longer than 128");
	harness_expect_status(create(f->client, "caf\xc3\xa9", "frank", token, later, &out, &err), &err,
		      AW_EINVAL, "session_id must be printable ASCII");
	harness_expect_status(create(f->client, "a\nb", "frank", token, later, &out, &err), &err, AW_EINVAL,
		      "byte 0x0a at offset 1");
	harness_expect_status(create(f->client, "frank-1", "frank", token, later, &out, &err), &err, AW_EEXIST,
		      "\"frank-1\"");
	cr.ip_address = long_text + 1000;
	harness_expect_status(aw_client_session_create(f->client, &cr, &out, &err, NULL), &err, AW_EINVAL,
		      "ip_address is longer than 64");
	cr.ip_address = "10.0.0.1\r";
	harness_expect_status(aw_client_session_create(f->client, &cr, &out, &err, NULL), &err, AW_EINVAL,
		      "ip_address contains a control character");
	cr.ip_address = "";
	cr.user_agent = long_text;
	harness_expect_status(aw_client_session_create(f->client, &cr, &out, &err, NULL), &err, AW_EINVAL,
		      "user_agent is longer than 1024");
	assert_null(out);
	assert_int_equal(aw_err_grpc_status(err.code), 3);

	/* GetSession */
	harness_expect_status(get(f->client, "", &out, &err), &err, AW_EINVAL, "session_id is required");
	harness_expect_status(get(f->client, "nope-404", &out, &err), &err, AW_ENOTFOUND, "\"nope-404\"");
	assert_int_equal(aw_err_grpc_status(err.code), 5);
	harness_expect_status(get(f->client, "tab\there", &out, &err), &err, AW_EINVAL, "session_id");

	/* ListSessions */
	Aniworld__V1__ListSessionsRequest list = ANIWORLD__V1__LIST_SESSIONS_REQUEST__INIT;
	Aniworld__V1__ListSessionsResponse *page = NULL;
	list.page_size = -1;
	harness_expect_status(aw_client_session_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "page_size must be >= 0, got -1");
	list.page_size = 1;
	list.page_token = "not-a-token";
	harness_expect_status(aw_client_session_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "page_token");
	list.page_token = "";
	list.user_id = long_text;
	harness_expect_status(aw_client_session_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "user_id is longer than 255");
	add(f->client, "frank-2", "frank", token);
	list.user_id = "frank";
	assert_int_equal(aw_client_session_list(f->client, &list, &page, &err, NULL), 0);
	char next[128];
	snprintf(next, sizeof(next), "%s", page->next_page_token);
	aniworld__v1__list_sessions_response__free_unpacked(page, NULL);
	list.page_token = next;
	list.active_only = 1;
	harness_expect_status(aw_client_session_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "other filters");
	assert_null(page);

	/* ValidateSession: malformed requests are errors, invalid sessions are not. */
	Aniworld__V1__ValidateSessionRequest vr = ANIWORLD__V1__VALIDATE_SESSION_REQUEST__INIT;
	Aniworld__V1__ValidateSessionResponse *v = NULL;
	vr.token = (char *)token;
	harness_expect_status(aw_client_session_validate(f->client, &vr, &v, &err, NULL), &err, AW_EINVAL,
		      "session_id is required");
	vr.session_id = "frank-1";
	vr.token = "";
	harness_expect_status(aw_client_session_validate(f->client, &vr, &v, &err, NULL), &err, AW_EINVAL,
		      "token is required");
	vr.token = long_token;
	harness_expect_status(aw_client_session_validate(f->client, &vr, &v, &err, NULL), &err, AW_EINVAL,
		      "token is longer than 4096");
	assert_null(strstr(err.msg, token));
	assert_null(v);

	/* ExtendSession */
	harness_expect_status(extend(f->client, "", later, &out, &err), &err, AW_EINVAL,
		      "session_id is required");
	harness_expect_status(extend(f->client, "frank-1", now_us() - SECOND_US, &out, &err), &err, AW_EINVAL,
		      "expires_at must be in the future");
	Aniworld__V1__ExtendSessionRequest er = ANIWORLD__V1__EXTEND_SESSION_REQUEST__INIT;
	er.session_id = "frank-1";
	harness_expect_status(aw_client_session_extend(f->client, &er, &out, &err, NULL), &err, AW_EINVAL,
		      "expires_at is required");
	harness_expect_status(extend(f->client, "nope-404", later, &out, &err), &err, AW_ENOTFOUND,
		      "\"nope-404\"");
	assert_int_equal(revoke_one(f->client, "frank-2", &out, &err), 0);
	aniworld__v1__user_session__free_unpacked(out, NULL);
	out = NULL;
	harness_expect_status(extend(f->client, "frank-2", later + HOUR_US, &out, &err), &err, AW_EPRECOND,
		      "session \"frank-2\" is revoked");
	assert_int_equal(aw_err_grpc_status(err.code), 9);

	/* RevokeSession */
	harness_expect_status(revoke_one(f->client, "", &out, &err), &err, AW_EINVAL, "session_id is required");
	harness_expect_status(revoke_one(f->client, "nope-404", &out, &err), &err, AW_ENOTFOUND, "\"nope-404\"");

	/* RevokeUserSessions */
	Aniworld__V1__RevokeUserSessionsRequest ru = ANIWORLD__V1__REVOKE_USER_SESSIONS_REQUEST__INIT;
	Aniworld__V1__RevokeUserSessionsResponse *rur = NULL;
	harness_expect_status(aw_client_session_revoke_user(f->client, &ru, &rur, &err, NULL), &err, AW_EINVAL,
		      "user_id is required");
	ru.user_id = "bad\x01user";
	harness_expect_status(aw_client_session_revoke_user(f->client, &ru, &rur, &err, NULL), &err, AW_EINVAL,
		      "user_id contains a control character");
	assert_null(rur);

	/* Nothing above changed frank-1. */
	expect_verdict(f->client, "frank-1", token, 0);
	assert_int_equal(get(f->client, "frank-1", &out, &err), 0);
	assert_int_equal(ts_us(out->expires_at) > now_us(), 1);
	assert_true(out->is_active);
	aniworld__v1__user_session__free_unpacked(out, NULL);
}

/* ---- paging through the API -------------------------------------------------------------- */

static void test_e2e_user_session_paging(void **state)
{
	fixture *f = *state;
	char sid[32], token[128] = "";
	int seen = 0;
	int64_t last = 0;
	aw_err err;

	for (int i = 0; i < 60; i++) {
		snprintf(sid, sizeof(sid), "page-%03d", i);
		add(f->client, sid, i % 3 == 0 ? "gina" : "hank", "t");
	}
	for (;;) {
		Aniworld__V1__ListSessionsRequest list = ANIWORLD__V1__LIST_SESSIONS_REQUEST__INIT;
		Aniworld__V1__ListSessionsResponse *page = NULL;

		list.page_size = 7;
		list.page_token = token;
		list.user_id = "hank";
		list.active_only = 1;
		assert_int_equal(aw_client_session_list(f->client, &list, &page, &err, NULL), 0);
		assert_int_equal(page->total_size, 40);
		assert_true(page->n_sessions <= 7);
		for (size_t i = 0; i < page->n_sessions; i++) {
			assert_string_equal(page->sessions[i]->user_id, "hank");
			assert_true(page->sessions[i]->id > last);
			last = page->sessions[i]->id;
			seen++;
		}
		snprintf(token, sizeof(token), "%s", page->next_page_token);
		aniworld__v1__list_sessions_response__free_unpacked(page, NULL);
		if (token[0] == '\0')
			break;
	}
	assert_int_equal(seen, 40);

	/* All users, default page size 50; more than 1000 is clamped. */
	Aniworld__V1__ListSessionsRequest all = ANIWORLD__V1__LIST_SESSIONS_REQUEST__INIT;
	Aniworld__V1__ListSessionsResponse *page = NULL;
	assert_int_equal(aw_client_session_list(f->client, &all, &page, &err, NULL), 0);
	assert_int_equal(page->n_sessions, 50);
	assert_int_equal(page->total_size, 60);
	assert_string_not_equal(page->next_page_token, "");
	aniworld__v1__list_sessions_response__free_unpacked(page, NULL);
	all.page_size = 5000;
	assert_int_equal(aw_client_session_list(f->client, &all, &page, &err, NULL), 0);
	assert_int_equal(page->n_sessions, 60);
	aniworld__v1__list_sessions_response__free_unpacked(page, NULL);
}

/* ---- secrecy of tokens ---------------------------------------------------------------------- */

/* Whether `needle` occurs in the file at `path` (a missing file holds nothing). */
static int file_contains(const char *path, const void *needle, size_t len)
{
	FILE *fp = fopen(path, "rb");
	char *data;
	long size;
	int found;

	if (fp == NULL)
		return 0;
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	data = malloc(size > 0 ? (size_t)size : 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)size, fp), (size_t)size);
	fclose(fp);
	found = memmem(data, (size_t)size, needle, len) != NULL;
	free(data);
	return found;
}

/* What scan_file looks for, and whether it found it (nftw takes no argument). */
static struct {
	const void *needle;
	size_t len;
	int found;
} scan;

/* nftw's callback: whether scan.needle is in this file. The files of a running
 * PostgreSQL change under the scan: it reads what it gets. */
static int scan_file(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	FILE *fp;
	char *data;
	size_t n;

	(void)ftw;
	if (type != FTW_F || sb->st_size <= 0)
		return 0;
	fp = fopen(path, "rb");
	if (fp == NULL)
		return 0; /* a file of a database dropped meanwhile */
	data = malloc((size_t)sb->st_size);
	assert_non_null(data);
	n = fread(data, 1, (size_t)sb->st_size, fp);
	fclose(fp);
	if (memmem(data, n, scan.needle, scan.len) != NULL)
		scan.found = 1;
	free(data);
	return scan.found;
}

/* Whether `needle` occurs in the database file or its WAL or shared memory; on
 * PostgreSQL, in any file of the fixture's cluster (its WAL holds every row
 * written, so a token stored anywhere would be found there). */
static int db_contains(const harness *h, const void *needle, size_t len)
{
	char path[300];
	int found;

	if (test_db_is_postgres()) {
		snprintf(path, sizeof(path), "%s/data", getenv("AW_TEST_PG_DIR"));
		scan.needle = needle;
		scan.len = len;
		scan.found = 0;
		assert_int_not_equal(nftw(path, scan_file, 16, FTW_PHYS), -1);
		return scan.found;
	}
	found = file_contains(h->db, needle, len);

	snprintf(path, sizeof(path), "%s-wal", h->db);
	found |= file_contains(path, needle, len);
	snprintf(path, sizeof(path), "%s-shm", h->db);
	found |= file_contains(path, needle, len);
	return found;
}

/*
 * Every session method, successes and failures, with tokens in the requests;
 * then no token may appear in the server's log (captured from stderr at the
 * most verbose level) or in the bytes of the database, its WAL and shared
 * memory, while the server runs and after it has checkpointed and stopped.
 * The digest of the stored token and the method names must appear: they show
 * that the scans see the data and the log lines.
 */
static void test_e2e_user_session_token_never_stored_or_logged(void **state)
{
	fixture *f = *state;
	static const char *const tokens[] = {
		"tok-5f1e0c-never-store-me",   /* the session's */
		"tok-8a2d47-wrong-guess",      /* a mismatch */
		"tok-c3b911-rejected-request", /* only in requests refused */
	};
	static const char *const methods[] = {
		"CreateSession",  "GetSession",    "ListSessions",       "ValidateSession",
		"ExtendSession", "RevokeSession", "RevokeUserSessions", "PurgeExpiredSessions",
	};
	char bad_utf8[64], line[64];
	uint8_t digest[AW_SESSION_HASH_BYTES];
	int64_t later = now_us() + HOUR_US;
	session *out = NULL;
	aw_err err;

	capture_stderr(f);
	aniworld__v1__user_session__free_unpacked(
		must_create(f->client, "secret-1", "ivan", tokens[0], later), NULL);
	aniworld__v1__user_session__free_unpacked(
		must_create(f->client, "secret-2", "ivan", tokens[0], later), NULL);
	/* Refused creations with a token: each status is logged. */
	create(f->client, "secret-1", "ivan", tokens[2], later, &out, &err); /* ALREADY_EXISTS */
	create(f->client, "", "", tokens[2], later, &out, &err);             /* user_id */
	create(f->client, "", "ivan", tokens[2], now_us() - SECOND_US, &out, &err);
	snprintf(bad_utf8, sizeof(bad_utf8), "%s\xff", tokens[2]);
	create(f->client, "", "ivan", bad_utf8, later, &out, &err); /* not UTF-8 */
	assert_int_equal(err.code, AW_EINVAL);

	get(f->client, "secret-1", &out, &err);
	aniworld__v1__user_session__free_unpacked(out, NULL);
	Aniworld__V1__ListSessionsRequest list = ANIWORLD__V1__LIST_SESSIONS_REQUEST__INIT;
	Aniworld__V1__ListSessionsResponse *page = NULL;
	assert_int_equal(aw_client_session_list(f->client, &list, &page, &err, NULL), 0);
	aniworld__v1__list_sessions_response__free_unpacked(page, NULL);

	expect_verdict(f->client, "secret-1", tokens[0], 0);
	expect_verdict(f->client, "secret-1", tokens[1], MISMATCH);
	expect_verdict(f->client, "unknown", tokens[1], NOT_FOUND);
	Aniworld__V1__ValidateSessionRequest vr = ANIWORLD__V1__VALIDATE_SESSION_REQUEST__INIT;
	Aniworld__V1__ValidateSessionResponse *v = NULL;
	vr.token = (char *)tokens[2];
	assert_int_equal(aw_client_session_validate(f->client, &vr, &v, &err, NULL), AW_EINVAL);

	assert_int_equal(extend(f->client, "secret-1", later + HOUR_US, &out, &err), 0);
	aniworld__v1__user_session__free_unpacked(out, NULL);
	assert_int_equal(revoke_one(f->client, "secret-2", &out, &err), 0);
	aniworld__v1__user_session__free_unpacked(out, NULL);
	expect_verdict(f->client, "secret-2", tokens[0], REVOKED);
	Aniworld__V1__RevokeUserSessionsRequest ru = ANIWORLD__V1__REVOKE_USER_SESSIONS_REQUEST__INIT;
	Aniworld__V1__RevokeUserSessionsResponse *rur = NULL;
	ru.user_id = "nobody";
	assert_int_equal(aw_client_session_revoke_user(f->client, &ru, &rur, &err, NULL), 0);
	aniworld__v1__revoke_user_sessions_response__free_unpacked(rur, NULL);
	Aniworld__V1__PurgeExpiredSessionsRequest pr = ANIWORLD__V1__PURGE_EXPIRED_SESSIONS_REQUEST__INIT;
	Aniworld__V1__PurgeExpiredSessionsResponse *prr = NULL;
	assert_int_equal(aw_client_session_purge_expired(f->client, &pr, &prr, &err, NULL), 0);
	aniworld__v1__purge_expired_sessions_response__free_unpacked(prr, NULL);

	/* The database while the server runs: rows are in the WAL. */
	for (size_t i = 0; i < 3; i++) {
		if (db_contains(&f->h, tokens[i], strlen(tokens[i])))
			fail_msg("the database holds token %zu (%s)", i, f->h.db);
	}
	assert_int_equal(aw__session_token_hash(tokens[0], strlen(tokens[0]), digest, NULL), 0);
	assert_true(db_contains(&f->h, digest, sizeof(digest)));
	assert_true(db_contains(&f->h, "secret-1", 8));

	/* Stopping waits for every call (so every line is written), checkpoints and
	 * closes the database. */
	harness_stop(&f->h);
	release_stderr(f, 0);

	for (size_t i = 0; i < 3; i++) {
		if (file_contains(f->log_path, tokens[i], strlen(tokens[i])))
			fail_msg("the server log holds token %zu (%s)", i, f->log_path);
	}
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		snprintf(line, sizeof(line), "/aniworld.v1.UserSessionService/%s ", methods[i]);
		if (!file_contains(f->log_path, line, strlen(line)))
			fail_msg("no log line for %s", methods[i]);
	}
	assert_true(file_contains(f->log_path, "ALREADY_EXISTS", 14));
	assert_true(file_contains(f->log_path, "token: not valid UTF-8", 22));

	for (size_t i = 0; i < 3; i++) {
		if (db_contains(&f->h, tokens[i], strlen(tokens[i])))
			fail_msg("the stopped database holds token %zu (%s)", i, f->h.db);
	}
	/* SQLite: the checkpoint at stop moved it into the file itself. */
	if (test_db_is_postgres())
		assert_true(db_contains(&f->h, digest, sizeof(digest)));
	else
		assert_true(file_contains(f->h.db, digest, sizeof(digest)));
}

/* ---- concurrency and durability ---------------------------------------------------------------- */

typedef struct worker {
	aw_client *client;
	int id;
	int calls;
	int bad;
	char failure[512];
} worker;

static void note_bad(worker *w, const char *what, const aw_err *err)
{
	w->bad++;
	snprintf(w->failure, sizeof(w->failure), "%s: %s", what, err != NULL ? err->msg : "");
}

/* 25 rounds of create (generated id), validate, validate with a wrong token,
 * extend, revoke, validate again; every result checked. */
static void *worker_main(void *arg)
{
	worker *w = arg;
	aw_err err;

	for (int i = 0; i < 25; i++) {
		char user[32], token[48], wrong[48];
		session *s = NULL, *o = NULL;
		Aniworld__V1__ValidateSessionResponse *v = NULL;
		Aniworld__V1__ValidateSessionRequest vr = ANIWORLD__V1__VALIDATE_SESSION_REQUEST__INIT;

		snprintf(user, sizeof(user), "worker-%d", w->id);
		snprintf(token, sizeof(token), "token-%d-%d", w->id, i);
		snprintf(wrong, sizeof(wrong), "token-%d-%d!", w->id, i);
		w->calls++;
		if (create(w->client, "", user, token, now_us() + HOUR_US, &s, &err) != 0) {
			note_bad(w, "create", &err);
			continue;
		}
		vr.session_id = s->session_id;
		vr.token = token;
		w->calls++;
		if (aw_client_session_validate(w->client, &vr, &v, &err, NULL) != 0 || !v->valid ||
		    strcmp(v->session->user_id, user) != 0)
			note_bad(w, "validate", &err);
		aniworld__v1__validate_session_response__free_unpacked(v, NULL);
		v = NULL;
		vr.token = wrong;
		w->calls++;
		if (aw_client_session_validate(w->client, &vr, &v, &err, NULL) != 0 || v->valid ||
		    v->reason != MISMATCH)
			note_bad(w, "validate wrong token", &err);
		aniworld__v1__validate_session_response__free_unpacked(v, NULL);
		v = NULL;
		w->calls++;
		if (extend(w->client, s->session_id, now_us() + 2 * HOUR_US, &o, &err) != 0)
			note_bad(w, "extend", &err);
		aniworld__v1__user_session__free_unpacked(o, NULL);
		o = NULL;
		w->calls++;
		if (revoke_one(w->client, s->session_id, &o, &err) != 0 || o->is_active)
			note_bad(w, "revoke", &err);
		aniworld__v1__user_session__free_unpacked(o, NULL);
		vr.token = token;
		w->calls++;
		if (aw_client_session_validate(w->client, &vr, &v, &err, NULL) != 0 || v->valid ||
		    v->reason != REVOKED)
			note_bad(w, "validate revoked", &err);
		aniworld__v1__validate_session_response__free_unpacked(v, NULL);
		aniworld__v1__user_session__free_unpacked(s, NULL);
	}
	return NULL;
}

static void test_e2e_user_session_eight_threads(void **state)
{
	fixture *f = *state;
	pthread_t threads[8];
	worker w[8];
	aw_err err;

	for (int t = 0; t < 8; t++) {
		w[t] = (worker){.client = f->client, .id = t};
		pthread_create(&threads[t], NULL, worker_main, &w[t]);
	}
	for (int t = 0; t < 8; t++) {
		pthread_join(threads[t], NULL);
		if (w[t].bad != 0)
			fail_msg("worker %d: %d bad results (%s)", t, w[t].bad, w[t].failure);
		assert_int_equal(w[t].calls, 150);
	}
	Aniworld__V1__ListSessionsRequest list = ANIWORLD__V1__LIST_SESSIONS_REQUEST__INIT;
	Aniworld__V1__ListSessionsResponse *page = NULL;
	assert_int_equal(aw_client_session_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->total_size, 8 * 25);
	aniworld__v1__list_sessions_response__free_unpacked(page, NULL);
	list.active_only = 1;
	assert_int_equal(aw_client_session_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->total_size, 0);
	aniworld__v1__list_sessions_response__free_unpacked(page, NULL);
}

static void test_e2e_user_session_survives_restart(void **state)
{
	fixture *f = *state;

	add(f->client, "durable", "judy", "judy-token");
	aw_client_free(f->client);
	harness_stop(&f->h);
	assert_int_equal(harness_restart(&f->h), 0);
	assert_int_equal(aw_client_new(&f->client, f->h.target, NULL, NULL), 0);
	expect_verdict(f->client, "durable", "judy-token", 0);
	expect_verdict(f->client, "durable", "judy-token2", MISMATCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_e2e_user_session_every_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_user_session_caller_chosen_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_user_session_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_user_session_validate_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_user_session_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_user_session_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_user_session_token_never_stored_or_logged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_e2e_user_session_eight_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_user_session_survives_restart, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
