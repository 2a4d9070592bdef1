/*
 * Tests server/repo/request_id.c on a real database of the backend under test
 * (ctest runs this suite on SQLite and on PostgreSQL): a write with a
 * request_id runs once and its answer comes back to a repeat; what is not an
 * outcome (a write its caller gave up on) is not kept; answers older than the
 * retention are purged, by the repository's clock.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aniworld/v1/anime_series.pb-c.h"
#include "aniworld/v1/download_queue.pb-c.h"
#include "aniworld/v1/episode.pb-c.h"
#include "aniworld/v1/user_session.pb-c.h"
#include "repo/repo.h"
#include "repo_sync.h"
#include "services/request_id.h"
#include "test_db.h"

#define HOUR_US INT64_C(3600000000)

typedef struct fixture {
	test_db db;
	aw_repo *repo;
	int64_t now_us;   /* the repository's clock */
} fixture;

static int64_t test_clock(void *arg)
{
	return ((fixture *)arg)->now_us;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	aw_repo_options o;

	*state = f;
	if (f == NULL || test_db_create(&f->db, TEST_DB_FILE) != 0)
		return -1;
	f->now_us = INT64_C(1800000000) * 1000000;
	aw_repo_options_defaults(&o);
	o.clock = test_clock;
	o.clock_arg = f;
	o.request_id_retention_us = 24 * HOUR_US;
	return aw_repo_open(&f->repo, f->db.location, &o, NULL) == 0 ? 0 : -1;
}

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

static int count_series(const test_db *db)
{
	int64_t n;

	if (test_db_int(db, "SELECT COUNT(*) FROM anime_series", &n) != 0)
		fail_msg("cannot count the series on %s", test_db_backend());
	return (int)n;
}

static aw_request_id rid_for(const char *id, uint8_t print)
{
	aw_request_id rid;

	memset(&rid, 0, sizeof(rid));
	rid.method = "/aniworld.v1.AnimeSeriesService/CreateSeries";
	rid.id = id;
	memset(rid.fingerprint, print, sizeof(rid.fingerprint));
	rid.reply = &aniworld__v1__anime_series__descriptor;
	return rid;
}

static int abandoned_timeout(const aw_repo_req *req)
{
	(void)req;
	return AW_ETIMEDOUT;
}

/* CreateSeries `key` with `rid`; the id it answers in *id (0 on error). */
static int create(fixture *f, const char *key, const aw_request_id *rid, int abandon,
		  int64_t *id, aw_err *err)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	sync_req sr;
	aw_repo_req *req = sync_init(&sr);
	int rc;

	s.key = (char *)key;
	s.name = (char *)key;
	req->request_id = rid;
	if (abandon)
		req->abandoned = abandoned_timeout;
	aw_repo_series_create(f->repo, req, &s);
	rc = sync_wait(&sr);
	*id = rc == 0 ? ((Aniworld__V1__AnimeSeries *)sr.result)->id : 0;
	if (err != NULL)
		*err = sr.err;
	protobuf_c_message_free_unpacked(sr.result, NULL);
	return rc;
}

static void test_request_id_repeat_gets_the_first_answer(void **state)
{
	fixture *f = *state;
	aw_request_id a = rid_for("a", 1), other = rid_for("a", 2);
	int64_t id1, id2;
	aw_err err;

	assert_int_equal(create(f, "one", &a, 0, &id1, NULL), 0);
	assert_int_equal(create(f, "one", &a, 0, &id2, NULL), 0);
	assert_int_equal(id2, id1);
	assert_int_equal(count_series(&f->db), 1);
	/* Another fingerprint with the same request_id. */
	assert_int_equal(create(f, "one", &other, 0, &id2, &err), AW_EINVAL);
	assert_non_null(strstr(err.msg, "request_id \"a\""));
}

/* A write abandoned before it ran (its deadline passed) is no answer: the
 * retry does the work. */
static void test_request_id_abandoned_write_is_not_kept(void **state)
{
	fixture *f = *state;
	aw_request_id b = rid_for("b", 3);
	int64_t id;

	assert_int_equal(create(f, "late", &b, 1, &id, NULL), AW_ETIMEDOUT);
	assert_int_equal(count_series(&f->db), 0);
	assert_int_equal(create(f, "late", &b, 0, &id, NULL), 0);
	assert_true(id > 0);
	assert_int_equal(count_series(&f->db), 1);
}

/* Answers are kept for the retention, then purged: a repeat after that runs
 * again (and here meets the series it made the first time). */
static void test_request_id_purged_after_the_retention(void **state)
{
	fixture *f = *state;
	aw_request_id c = rid_for("c", 4), d = rid_for("d", 5);
	int64_t id1, id2, deleted = -1;
	aw_err err;

	assert_int_equal(create(f, "kept", &c, 0, &id1, NULL), 0);
	f->now_us += 12 * HOUR_US;
	assert_int_equal(create(f, "newer", &d, 0, &id2, NULL), 0);
	f->now_us += 12 * HOUR_US - 1; /* "kept" answered 24 h less 1 us ago */
	assert_int_equal(aw_repo_request_ids_purge(f->repo, &deleted, &err), 0);
	assert_int_equal(deleted, 0);
	assert_int_equal(create(f, "kept", &c, 0, &id2, NULL), 0);
	assert_int_equal(id2, id1);
	f->now_us += 2;
	assert_int_equal(aw_repo_request_ids_purge(f->repo, &deleted, &err), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(create(f, "kept", &c, 0, &id2, &err), AW_EEXIST);
	assert_int_equal(create(f, "newer", &d, 0, &id2, NULL), 0); /* still kept */
}

/* Every method the services' table names exists and its request has a
 * string request_id: the table is the whole wiring, so it must be right. */
static void test_request_id_methods_take_one(void **state)
{
	static const ProtobufCServiceDescriptor *const services[] = {
		&aniworld__v1__anime_series_service__descriptor,
		&aniworld__v1__episode_service__descriptor,
		&aniworld__v1__download_queue_service__descriptor,
		&aniworld__v1__user_session_service__descriptor,
	};
	size_t n = 0;

	(void)state;
	for (const char *const *m = aw__request_id_methods; *m != NULL; m++, n++) {
		const ProtobufCMethodDescriptor *md = NULL;
		const ProtobufCFieldDescriptor *fd;
		const char *slash = strrchr(*m, '/');

		assert_non_null(slash);
		for (size_t i = 0; i < sizeof(services) / sizeof(services[0]) && md == NULL; i++) {
			size_t len = strlen(services[i]->name);
			if (strncmp(*m + 1, services[i]->name, len) == 0 && *m + 1 + len == slash)
				md = protobuf_c_service_descriptor_get_method_by_name(services[i], slash + 1);
		}
		if (md == NULL)
			fail_msg("%s: no such method", *m);
		fd = protobuf_c_message_descriptor_get_field_by_name(md->input, "request_id");
		if (fd == NULL || fd->type != PROTOBUF_C_TYPE_STRING)
			fail_msg("%s: %s has no string request_id", *m, md->input->name);
	}
	assert_int_equal(n, 14);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_id_methods_take_one),
		cmocka_unit_test_setup_teardown(test_request_id_repeat_gets_the_first_answer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_request_id_abandoned_write_is_not_kept, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_request_id_purged_after_the_retention, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
