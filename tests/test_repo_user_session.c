/*
 * Tests the user session operations of the repository (server/repo/user_session.c
 * and the backends' sessions) on a real database of the backend under test
 * (test_db.h: ctest runs this suite on SQLite and on PostgreSQL). How SQLite
 * stores the digest and its query plans are checked in test_repo_sqlite.c.
 *
 * The repository takes token digests, not tokens; these tests make digests of
 * their own (any 32 bytes will do) and set expiries in the past directly,
 * which only the service would refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "google/protobuf/timestamp.pb-c.h"
#include "repo/page_token.h"
#include "repo/repo.h"
#include "repo_sync.h"
#include "test_clock.h"
#include "test_db.h"

#define HOUR_US INT64_C(3600000000)

typedef struct fixture {
	test_db db;
	aw_repo *repo;
} fixture;

static int teardown(void **state)
{
	fixture *f = *state;

	if (f == NULL)
		return 0;
	aw_repo_close(f->repo);
	test_db_drop(&f->db);
	free(f);
	return 0;
}

/* cmocka runs no teardown after a failed setup: undo what it made (the
 * database above all, whose files would otherwise wait for the server's
 * checkpoints). */
static int setup_failed(void **state)
{
	teardown(state);
	*state = NULL;
	return -1;
}

/* The repository's time: expiry and activity are tested by moving it, never by
 * waiting for the real one. One test runs at a time, so one clock serves. */
static test_clock clk;

static int setup_memory(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	aw_repo_options opts;
	aw_err err;

	*state = f;
	if (f == NULL)
		return setup_failed(state);
	if (test_db_create(&f->db, TEST_DB_MEMORY) != 0)
		return setup_failed(state);
	aw_repo_options_defaults(&opts);
	test_clock_use(&clk, &opts);
	if (aw_repo_open(&f->repo, f->db.location, &opts, &err) != 0) {
		fprintf(stderr, "cannot open %s: %s\n", f->db.location, err.msg);
		return setup_failed(state);
	}
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

typedef Aniworld__V1__UserSession session;

static void free_msg(void *msg)
{
	if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, NULL);
}

/* A digest that differs for every `seed`. */
static void make_hash(uint8_t *out, int seed)
{
	for (int i = 0; i < AW_SESSION_HASH_BYTES; i++)
		out[i] = (uint8_t)(seed * 31 + i * 7 + 1);
}

static int64_t ts_us(const Google__Protobuf__Timestamp *t)
{
	return t->seconds * 1000000 + t->nanos / 1000;
}

/* Creates session `sid` of `user` expiring at `expires_us` with digest seed
 * `seed`; returns the result, or NULL with *rc and *err set. */
static session *create(aw_repo *r, const char *sid, const char *user, int64_t expires_us,
		       int seed, int *rc, aw_err *err)
{
	session s = ANIWORLD__V1__USER_SESSION__INIT;
	Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	aw_session_new in;
	sync_req sr;

	exp.seconds = expires_us / 1000000;
	exp.nanos = (int32_t)(expires_us % 1000000) * 1000;
	s.session_id = (char *)sid;
	s.user_id = (char *)user;
	s.ip_address = "192.0.2.7";
	s.user_agent = "test-agent/1.0";
	s.expires_at = &exp;
	in.session = &s;
	make_hash(in.token_hash, seed);
	aw_repo_session_create(r, sync_init(&sr), &in);
	*rc = sync_wait(&sr);
	if (err != NULL)
		*err = sr.err;
	return (session *)sr.result;
}

static session *must_create(aw_repo *r, const char *sid, const char *user, int64_t expires_us,
			    int seed)
{
	aw_err err;
	int rc;
	session *s = create(r, sid, user, expires_us, seed, &rc, &err);

	if (rc != 0)
		fail_msg("create %s: %s", sid, err.msg);
	return s;
}

/* An active session expiring in an hour. */
static void add(aw_repo *r, const char *sid, const char *user, int seed)
{
	free_msg(must_create(r, sid, user, test_clock_now(&clk) + HOUR_US, seed));
}

static session *get(aw_repo *r, const char *sid, int *rc)
{
	sync_req sr;

	aw_repo_session_get(r, sync_init(&sr), sid);
	*rc = sync_wait(&sr);
	return (session *)sr.result;
}

static session *must_get(aw_repo *r, const char *sid)
{
	int rc;
	session *s = get(r, sid, &rc);

	assert_int_equal(rc, 0);
	return s;
}

static Aniworld__V1__ValidateSessionResponse *validate(aw_repo *r, const char *sid, int seed)
{
	aw_session_proof proof;
	sync_req sr;

	proof.session_id = sid;
	make_hash(proof.token_hash, seed);
	aw_repo_session_validate(r, sync_init(&sr), &proof);
	assert_int_equal(sync_wait(&sr), 0);
	assert_non_null(sr.result);
	return (Aniworld__V1__ValidateSessionResponse *)sr.result;
}

/* Validates and checks the verdict; returns nothing to free. */
static void expect_verdict(aw_repo *r, const char *sid, int seed,
			   Aniworld__V1__SessionInvalidReason reason)
{
	Aniworld__V1__ValidateSessionResponse *v = validate(r, sid, seed);

	if (v->reason != reason)
		fail_msg("validate %s: reason %d, expected %d", sid, v->reason, reason);
	assert_int_equal(v->valid, reason == 0);
	if (reason == 0)
		assert_non_null(v->session);
	else
		assert_null(v->session);
	free_msg(v);
}

static session *revoke_one(aw_repo *r, const char *sid, int *rc, aw_err *err)
{
	sync_req sr;

	aw_repo_session_revoke(r, sync_init(&sr), sid);
	*rc = sync_wait(&sr);
	if (err != NULL)
		*err = sr.err;
	return (session *)sr.result;
}

static void must_revoke(aw_repo *r, const char *sid)
{
	int rc;

	free_msg(revoke_one(r, sid, &rc, NULL));
	assert_int_equal(rc, 0);
}

static session *extend(aw_repo *r, const char *sid, int64_t expires_us, int *rc, aw_err *err)
{
	Aniworld__V1__ExtendSessionRequest in = ANIWORLD__V1__EXTEND_SESSION_REQUEST__INIT;
	Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	sync_req sr;

	exp.seconds = expires_us / 1000000;
	exp.nanos = (int32_t)(expires_us % 1000000) * 1000;
	in.session_id = (char *)sid;
	in.expires_at = &exp;
	aw_repo_session_extend(r, sync_init(&sr), &in);
	*rc = sync_wait(&sr);
	if (err != NULL)
		*err = sr.err;
	return (session *)sr.result;
}

static int64_t revoke_user(aw_repo *r, const char *user)
{
	sync_req sr;
	int64_t n;

	aw_repo_session_revoke_user(r, sync_init(&sr), user);
	assert_int_equal(sync_wait(&sr), 0);
	n = ((Aniworld__V1__RevokeUserSessionsResponse *)sr.result)->revoked_count;
	free_msg(sr.result);
	return n;
}

static int64_t purge(aw_repo *r)
{
	sync_req sr;
	int64_t n;

	aw_repo_session_purge_expired(r, sync_init(&sr));
	assert_int_equal(sync_wait(&sr), 0);
	n = ((Aniworld__V1__PurgeExpiredSessionsResponse *)sr.result)->deleted_count;
	free_msg(sr.result);
	return n;
}

static Aniworld__V1__ListSessionsResponse *list(aw_repo *r, int page_size, const char *token,
						const char *user, int active_only, int *rc)
{
	Aniworld__V1__ListSessionsRequest in = ANIWORLD__V1__LIST_SESSIONS_REQUEST__INIT;
	sync_req sr;

	in.page_size = page_size;
	in.page_token = (char *)(token != NULL ? token : "");
	in.user_id = (char *)(user != NULL ? user : "");
	in.active_only = active_only;
	aw_repo_session_list(r, sync_init(&sr), &in, page_size);
	*rc = sync_wait(&sr);
	return (Aniworld__V1__ListSessionsResponse *)sr.result;
}

/* Moves the repository's clock past `us`, so that a later write records a
 * later time. */
static void wait_clock_past(int64_t us)
{
	if (test_clock_now(&clk) <= us)
		test_clock_advance(&clk, us - test_clock_now(&clk) + 1);
	assert_true(test_clock_now(&clk) > us);
}

/* ---- create and read ------------------------------------------------------------------ */

static void test_repo_user_session_create_and_get(void **state)
{
	fixture *f = *state;
	int64_t before = test_clock_now(&clk), expires = before + HOUR_US;
	session *c = must_create(f->repo, "sess-1", "user-1", expires, 1);

	assert_true(c->id > 0);
	assert_string_equal(c->session_id, "sess-1");
	assert_string_equal(c->user_id, "user-1");
	assert_string_equal(c->ip_address, "192.0.2.7");
	assert_string_equal(c->user_agent, "test-agent/1.0");
	assert_int_equal(ts_us(c->expires_at), expires);
	assert_true(c->is_active);
	assert_false(c->is_expired);
	assert_true(ts_us(c->created_at) >= before);
	assert_int_equal(ts_us(c->last_activity), ts_us(c->created_at));
	assert_int_equal(ts_us(c->updated_at), ts_us(c->created_at));

	session *g = must_get(f->repo, "sess-1");
	assert_int_equal(g->id, c->id);
	assert_string_equal(g->user_agent, "test-agent/1.0");
	assert_int_equal(ts_us(g->expires_at), expires);
	assert_int_equal(ts_us(g->created_at), ts_us(c->created_at));
	free_msg(g);
	free_msg(c);
}

static void test_repo_user_session_duplicate_session_id(void **state)
{
	fixture *f = *state;
	aw_err err;
	int rc;

	add(f->repo, "taken", "user-1", 1);
	assert_null(create(f->repo, "taken", "user-2", test_clock_now(&clk) + HOUR_US, 2, &rc, &err));
	assert_int_equal(rc, AW_EEXIST);
	assert_non_null(strstr(err.msg, "\"taken\""));
	/* The first one is untouched. */
	session *g = must_get(f->repo, "taken");
	assert_string_equal(g->user_id, "user-1");
	free_msg(g);
}

static void test_repo_user_session_not_found(void **state)
{
	fixture *f = *state;
	aw_err err;
	int rc;

	assert_null(get(f->repo, "ghost", &rc));
	assert_int_equal(rc, AW_ENOTFOUND);

	assert_null(extend(f->repo, "ghost", test_clock_now(&clk) + HOUR_US, &rc, &err));
	assert_int_equal(rc, AW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "\"ghost\""));

	assert_null(revoke_one(f->repo, "ghost", &rc, &err));
	assert_int_equal(rc, AW_ENOTFOUND);
	assert_non_null(strstr(err.msg, "\"ghost\""));

	/* ValidateSession answers instead of failing. */
	expect_verdict(f->repo, "ghost", 1,
		       ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_NOT_FOUND);
}

static void test_repo_user_session_is_expired_computed_at_read(void **state)
{
	fixture *f = *state;
	int64_t now = test_clock_now(&clk);

	free_msg(must_create(f->repo, "past", "u", now - 1000, 1));
	free_msg(must_create(f->repo, "future", "u", now + HOUR_US, 2));
	session *p = must_get(f->repo, "past");
	session *q = must_get(f->repo, "future");
	assert_true(p->is_expired);
	assert_true(p->is_active); /* expiry is not revocation */
	assert_false(q->is_expired);
	free_msg(p);
	free_msg(q);
}

/* The same session, live until the clock passes its expiry: read, validated
 * and purged as expired from then on, without waiting an hour. */
static void test_repo_user_session_expires_when_the_clock_passes(void **state)
{
	fixture *f = *state;
	free_msg(must_create(f->repo, "hour", "u", test_clock_now(&clk) + HOUR_US, 3));
	session *before = must_get(f->repo, "hour");

	assert_false(before->is_expired);
	assert_int_equal(purge(f->repo), 0);
	test_clock_advance(&clk, HOUR_US + 1);
	session *after = must_get(f->repo, "hour");
	assert_true(after->is_expired);
	expect_verdict(f->repo, "hour", 3,
		       ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_EXPIRED);
	assert_int_equal(purge(f->repo), 1);
	free_msg(before);
	free_msg(after);
}

/* ---- ValidateSession ------------------------------------------------------------------ */

static void test_repo_user_session_validate_valid_moves_last_activity(void **state)
{
	fixture *f = *state;
	session *c = must_create(f->repo, "live", "u", test_clock_now(&clk) + HOUR_US, 5);

	wait_clock_past(ts_us(c->last_activity));
	Aniworld__V1__ValidateSessionResponse *v = validate(f->repo, "live", 5);
	assert_true(v->valid);
	assert_int_equal(v->reason,
			 ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_UNSPECIFIED);
	assert_non_null(v->session);
	assert_string_equal(v->session->session_id, "live");
	assert_true(ts_us(v->session->last_activity) > ts_us(c->last_activity));
	/* Activity is not a change of the record. */
	assert_int_equal(ts_us(v->session->updated_at), ts_us(c->updated_at));

	session *g = must_get(f->repo, "live");
	assert_int_equal(ts_us(g->last_activity), ts_us(v->session->last_activity));
	free_msg(g);
	free_msg(v);
	free_msg(c);
}

/* Not found, then token mismatch, then revoked, then expired: a caller without
 * the token learns nothing of revocation or expiry, and nothing invalid is
 * written. */
static void test_repo_user_session_validate_reasons_in_order(void **state)
{
	fixture *f = *state;
	int64_t now = test_clock_now(&clk);
	const Aniworld__V1__SessionInvalidReason mismatch =
		ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_TOKEN_MISMATCH;
	const Aniworld__V1__SessionInvalidReason revoked =
		ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_REVOKED;
	const Aniworld__V1__SessionInvalidReason expired =
		ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_EXPIRED;

	session *active = must_create(f->repo, "active", "u", now + HOUR_US, 1);
	free_msg(must_create(f->repo, "expired", "u", now - 1, 2));
	free_msg(must_create(f->repo, "revoked", "u", now + HOUR_US, 3));
	free_msg(must_create(f->repo, "both", "u", now - 1, 4));
	must_revoke(f->repo, "revoked");
	must_revoke(f->repo, "both");

	wait_clock_past(ts_us(active->last_activity));
	expect_verdict(f->repo, "active", 99, mismatch);
	expect_verdict(f->repo, "expired", 99, mismatch);
	expect_verdict(f->repo, "revoked", 99, mismatch);
	expect_verdict(f->repo, "both", 99, mismatch);
	expect_verdict(f->repo, "expired", 2, expired);
	expect_verdict(f->repo, "revoked", 3, revoked);
	expect_verdict(f->repo, "both", 4, revoked);
	/* A token of another session is a mismatch too. */
	expect_verdict(f->repo, "active", 3, mismatch);

	/* None of that moved last_activity. */
	session *g = must_get(f->repo, "active");
	assert_int_equal(ts_us(g->last_activity), ts_us(active->last_activity));
	assert_int_equal(ts_us(g->updated_at), ts_us(active->updated_at));
	free_msg(g);
	free_msg(active);
}

/* ---- ExtendSession, RevokeSession ---------------------------------------------------------- */

static void test_repo_user_session_extend(void **state)
{
	fixture *f = *state;
	int64_t now = test_clock_now(&clk);
	session *c = must_create(f->repo, "ext", "u", now + HOUR_US, 1);
	aw_err err;
	int rc;

	wait_clock_past(ts_us(c->updated_at));
	session *e = extend(f->repo, "ext", now + 2 * HOUR_US, &rc, &err);
	assert_int_equal(rc, 0);
	assert_int_equal(ts_us(e->expires_at), now + 2 * HOUR_US);
	assert_true(ts_us(e->updated_at) > ts_us(c->updated_at));
	assert_int_equal(ts_us(e->created_at), ts_us(c->created_at));
	assert_int_equal(ts_us(e->last_activity), ts_us(c->last_activity));
	free_msg(e);

	/* An expired session that was not revoked can be extended, and is valid again. */
	free_msg(must_create(f->repo, "lapsed", "u", now - 1, 2));
	e = extend(f->repo, "lapsed", now + HOUR_US, &rc, &err);
	assert_int_equal(rc, 0);
	assert_false(e->is_expired);
	free_msg(e);
	expect_verdict(f->repo, "lapsed", 2, 0);

	/* A revoked one cannot. */
	must_revoke(f->repo, "ext");
	assert_null(extend(f->repo, "ext", now + 3 * HOUR_US, &rc, &err));
	assert_int_equal(rc, AW_EPRECOND);
	assert_non_null(strstr(err.msg, "\"ext\""));
	assert_non_null(strstr(err.msg, "revoked"));
	session *g = must_get(f->repo, "ext");
	assert_int_equal(ts_us(g->expires_at), now + 2 * HOUR_US);
	free_msg(g);
	free_msg(c);
}

static void test_repo_user_session_revoke_is_idempotent(void **state)
{
	fixture *f = *state;
	session *c = must_create(f->repo, "rev", "u", test_clock_now(&clk) + HOUR_US, 1);
	int rc;

	wait_clock_past(ts_us(c->updated_at));
	session *r1 = revoke_one(f->repo, "rev", &rc, NULL);
	assert_int_equal(rc, 0);
	assert_false(r1->is_active);
	assert_true(ts_us(r1->updated_at) > ts_us(c->updated_at));

	wait_clock_past(ts_us(r1->updated_at));
	session *r2 = revoke_one(f->repo, "rev", &rc, NULL);
	assert_int_equal(rc, 0);
	assert_false(r2->is_active);
	assert_int_equal(ts_us(r2->updated_at), ts_us(r1->updated_at)); /* unchanged */
	free_msg(r1);
	free_msg(r2);
	free_msg(c);
}

/* ---- RevokeUserSessions, PurgeExpiredSessions ------------------------------------------------ */

static void test_repo_user_session_revoke_user(void **state)
{
	fixture *f = *state;

	add(f->repo, "a1", "alice", 1);
	add(f->repo, "a2", "alice", 2);
	add(f->repo, "a3", "alice", 3);
	add(f->repo, "b1", "bob", 4);
	must_revoke(f->repo, "a3");

	assert_int_equal(revoke_user(f->repo, "alice"), 2); /* a3 was revoked already */
	assert_int_equal(revoke_user(f->repo, "alice"), 0);
	assert_int_equal(revoke_user(f->repo, "nobody"), 0);
	expect_verdict(f->repo, "a1", 1,
		       ANIWORLD__V1__SESSION_INVALID_REASON__SESSION_INVALID_REASON_REVOKED);
	expect_verdict(f->repo, "b1", 4, 0);
	session *b = must_get(f->repo, "b1");
	assert_true(b->is_active);
	free_msg(b);
}

static void test_repo_user_session_purge_expired(void **state)
{
	fixture *f = *state;
	int64_t now = test_clock_now(&clk);
	int rc;

	free_msg(must_create(f->repo, "old-active", "u", now - 10, 1));
	free_msg(must_create(f->repo, "old-revoked", "u", now - 10, 2));
	free_msg(must_create(f->repo, "new-active", "u", now + HOUR_US, 3));
	free_msg(must_create(f->repo, "new-revoked", "u", now + HOUR_US, 4));
	must_revoke(f->repo, "old-revoked");
	must_revoke(f->repo, "new-revoked");

	assert_int_equal(purge(f->repo), 2);
	assert_null(get(f->repo, "old-active", &rc));
	assert_int_equal(rc, AW_ENOTFOUND);
	assert_null(get(f->repo, "old-revoked", &rc));
	assert_int_equal(rc, AW_ENOTFOUND);
	free_msg(must_get(f->repo, "new-active"));
	free_msg(must_get(f->repo, "new-revoked"));
	assert_int_equal(purge(f->repo), 0);
	/* A purged session's id is free again. */
	add(f->repo, "old-active", "u", 9);
}

/* ---- ListSessions ------------------------------------------------------------------------ */

static void test_repo_user_session_list_filters(void **state)
{
	fixture *f = *state;
	int64_t now = test_clock_now(&clk);
	Aniworld__V1__ListSessionsResponse *res;
	int rc;

	add(f->repo, "a-live", "alice", 1);
	add(f->repo, "a-revoked", "alice", 2);
	free_msg(must_create(f->repo, "a-expired", "alice", now - 1, 3));
	add(f->repo, "b-live", "bob", 4);
	free_msg(must_create(f->repo, "b-expired", "bob", now - 1, 5));
	must_revoke(f->repo, "a-revoked");

	res = list(f->repo, 50, NULL, NULL, 0, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(res->n_sessions, 5);
	assert_int_equal(res->total_size, 5);
	for (size_t i = 1; i < res->n_sessions; i++)
		assert_true(res->sessions[i]->id > res->sessions[i - 1]->id);
	assert_true(res->sessions[2]->is_expired);
	free_msg(res);

	res = list(f->repo, 50, NULL, NULL, 1, &rc);
	assert_int_equal(res->n_sessions, 2);
	assert_int_equal(res->total_size, 2);
	assert_string_equal(res->sessions[0]->session_id, "a-live");
	assert_string_equal(res->sessions[1]->session_id, "b-live");
	free_msg(res);

	res = list(f->repo, 50, NULL, "alice", 0, &rc);
	assert_int_equal(res->n_sessions, 3);
	assert_int_equal(res->total_size, 3);
	free_msg(res);

	res = list(f->repo, 50, NULL, "alice", 1, &rc);
	assert_int_equal(res->n_sessions, 1);
	assert_int_equal(res->total_size, 1);
	assert_string_equal(res->sessions[0]->session_id, "a-live");
	free_msg(res);

	res = list(f->repo, 50, NULL, "carol", 0, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(res->n_sessions, 0);
	assert_int_equal(res->total_size, 0);
	assert_string_equal(res->next_page_token, "");
	free_msg(res);
}

static void test_repo_user_session_list_pages_with_inserts_between(void **state)
{
	fixture *f = *state;
	char sid[32], token[128] = "";
	int64_t seen[64];
	int n_seen = 0, rc;

	/* Alice's active sessions interleaved with others' and with revoked ones. */
	for (int i = 0; i < 25; i++) {
		snprintf(sid, sizeof(sid), "alice-%02d", i);
		add(f->repo, sid, "alice", i);
		snprintf(sid, sizeof(sid), "bob-%02d", i);
		add(f->repo, sid, "bob", 100 + i);
		if (i % 5 == 0) {
			snprintf(sid, sizeof(sid), "alice-gone-%02d", i);
			add(f->repo, sid, "alice", 200 + i);
			must_revoke(f->repo, sid);
		}
	}
	for (int page = 0;; page++) {
		Aniworld__V1__ListSessionsResponse *res = list(f->repo, 10, token, "alice", 1, &rc);
		assert_int_equal(rc, 0);
		for (size_t i = 0; i < res->n_sessions; i++) {
			assert_string_equal(res->sessions[i]->user_id, "alice");
			assert_true(res->sessions[i]->is_active);
			for (int j = 0; j < n_seen; j++)
				assert_true(seen[j] != res->sessions[i]->id); /* no repeats */
			if (n_seen > 0)
				assert_true(res->sessions[i]->id > seen[n_seen - 1]); /* id order */
			seen[n_seen++] = res->sessions[i]->id;
		}
		if (page == 0) {
			assert_int_equal(res->n_sessions, 10);
			assert_int_equal(res->total_size, 25);
			/* Rows inserted between pages land after the cursor. */
			for (int i = 25; i < 30; i++) {
				snprintf(sid, sizeof(sid), "alice-%02d", i);
				add(f->repo, sid, "alice", i);
				snprintf(sid, sizeof(sid), "bob-%02d", i);
				add(f->repo, sid, "bob", 100 + i);
			}
		}
		snprintf(token, sizeof(token), "%s", res->next_page_token);
		int last = res->next_page_token[0] == '\0';
		if (last)
			assert_int_equal(res->total_size, 30);
		free_msg(res);
		if (last)
			break;
		assert_true(page < 10);
	}
	assert_int_equal(n_seen, 30); /* nothing skipped */
}

static void test_repo_user_session_list_exact_last_page_has_no_token(void **state)
{
	fixture *f = *state;
	char sid[16];
	int rc;

	for (int i = 0; i < 4; i++) {
		snprintf(sid, sizeof(sid), "s%d", i);
		add(f->repo, sid, "u", i);
	}
	Aniworld__V1__ListSessionsResponse *res = list(f->repo, 4, NULL, "u", 0, &rc);
	assert_int_equal(res->n_sessions, 4);
	assert_string_equal(res->next_page_token, "");
	free_msg(res);
	res = list(f->repo, 3, NULL, "u", 0, &rc);
	assert_int_equal(res->n_sessions, 3);
	assert_string_not_equal(res->next_page_token, "");
	free_msg(res);
}

static void test_repo_user_session_list_rejects_foreign_token(void **state)
{
	fixture *f = *state;
	char token[128];
	int rc;

	add(f->repo, "x1", "alice", 1);
	add(f->repo, "x2", "alice", 2);
	Aniworld__V1__ListSessionsResponse *res = list(f->repo, 1, NULL, "alice", 0, &rc);
	snprintf(token, sizeof(token), "%s", res->next_page_token);
	free_msg(res);

	assert_null(list(f->repo, 1, token, "bob", 0, &rc));
	assert_int_equal(rc, AW_EINVAL);
	assert_null(list(f->repo, 1, token, "alice", 1, &rc));
	assert_int_equal(rc, AW_EINVAL);
	assert_null(list(f->repo, 1, "garbage!", "alice", 0, &rc));
	assert_int_equal(rc, AW_EINVAL);

	/* A series list's token is not a session list's. */
	aw_cursor c = {.valid = 1, .k = {1, 0, 0}};
	char series_token[AW_PAGE_TOKEN_MAX];
	aw_page_token_encode(&c, AW_LIST_SERIES, AW_FILTER_HASH_INIT, series_token);
	assert_null(list(f->repo, 1, series_token, "alice", 0, &rc));
	assert_int_equal(rc, AW_EINVAL);

	res = list(f->repo, 1, token, "alice", 0, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(res->sessions[0]->session_id, "x2");
	free_msg(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_repo_user_session_create_and_get, setup_memory,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_duplicate_session_id, setup_memory,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_not_found, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_is_expired_computed_at_read,
						setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_expires_when_the_clock_passes,
						setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_validate_valid_moves_last_activity,
						setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_validate_reasons_in_order, setup_memory,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_extend, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_revoke_is_idempotent, setup_memory,
						teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_revoke_user, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_purge_expired, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_list_filters, setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_list_pages_with_inserts_between,
						setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_list_exact_last_page_has_no_token,
						setup_memory, teardown),
		cmocka_unit_test_setup_teardown(test_repo_user_session_list_rejects_foreign_token,
						setup_memory, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
