/*
 * End to end: aniworld.v1.AnimeSeriesService through the client library against
 * a real server on a loopback port with a real database file.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aniworld/client.h"
#include "harness.h"

typedef struct fixture {
	harness h;
	aw_client *client;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (harness_start(&f->h) != 0 || aw_client_new(&f->client, f->h.target, NULL, NULL) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	aw_client_free(f->client);
	harness_cleanup(&f->h);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static int create(aw_client *c, const char *key, const char *name, int total,
		  Aniworld__V1__AnimeSeries **out, aw_err *err)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;

	s.key = (char *)key;
	s.name = (char *)name;
	s.site = "aniworld.to";
	s.total_episodes = total;
	req.series = &s;
	return aw_client_series_create(c, &req, out, err, NULL);
}

static Aniworld__V1__AnimeSeries *must_create(aw_client *c, const char *key, const char *name)
{
	Aniworld__V1__AnimeSeries *out = NULL;
	aw_err err;

	if (create(c, key, name, 12, &out, &err) != 0)
		fail_msg("CreateSeries %s: %s", key, err.msg);
	return out;
}

/* ---- every method ------------------------------------------------------------------- */

static void test_e2e_anime_series_every_method(void **state)
{
	fixture *f = *state;
	aw_err err;
	Aniworld__V1__AnimeSeries *a = must_create(f->client, "steins-gate", "Steins;Gate");
	Aniworld__V1__AnimeSeries *got = NULL;

	assert_true(a->id > 0);
	assert_non_null(a->created_at);
	assert_non_null(a->updated_at);

	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	get.id = a->id;
	assert_int_equal(aw_client_series_get(f->client, &get, &got, &err, NULL), 0);
	assert_string_equal(got->name, "Steins;Gate");
	assert_int_equal(got->total_episodes, 12);
	aniworld__v1__anime_series__free_unpacked(got, NULL);

	Aniworld__V1__GetSeriesByKeyRequest by_key = ANIWORLD__V1__GET_SERIES_BY_KEY_REQUEST__INIT;
	by_key.key = "steins-gate";
	assert_int_equal(aw_client_series_get_by_key(f->client, &by_key, &got, &err, NULL), 0);
	assert_int_equal(got->id, a->id);
	aniworld__v1__anime_series__free_unpacked(got, NULL);

	Aniworld__V1__ListSeriesRequest list = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *page = NULL;
	assert_int_equal(aw_client_series_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->n_series, 1);
	assert_int_equal(page->total_size, 1);
	assert_string_equal(page->next_page_token, "");
	aniworld__v1__list_series_response__free_unpacked(page, NULL);

	Aniworld__V1__AnimeSeries change = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__UpdateSeriesRequest update = ANIWORLD__V1__UPDATE_SERIES_REQUEST__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[] = {"status", "total_episodes"};
	change.id = a->id;
	change.status = "completed";
	change.total_episodes = 24;
	mask.n_paths = 2;
	mask.paths = paths;
	update.series = &change;
	update.update_mask = &mask;
	assert_int_equal(aw_client_series_update(f->client, &update, &got, &err, NULL), 0);
	assert_string_equal(got->status, "completed");
	assert_int_equal(got->total_episodes, 24);
	assert_string_equal(got->name, "Steins;Gate");
	assert_int_equal(got->created_at->seconds, a->created_at->seconds);
	assert_int_equal(got->created_at->nanos, a->created_at->nanos);
	assert_true(got->updated_at->seconds > a->updated_at->seconds ||
		    (got->updated_at->seconds == a->updated_at->seconds &&
		     got->updated_at->nanos > a->updated_at->nanos));
	aniworld__v1__anime_series__free_unpacked(got, NULL);

	Aniworld__V1__DeleteSeriesRequest del = ANIWORLD__V1__DELETE_SERIES_REQUEST__INIT;
	del.id = a->id;
	assert_int_equal(aw_client_series_delete(f->client, &del, &err, NULL), 0);
	harness_expect_status(aw_client_series_get(f->client, &get, &got, &err, NULL), &err, AW_ENOTFOUND, NULL);
	assert_null(got);
	aniworld__v1__anime_series__free_unpacked(a, NULL);
}

static void test_e2e_anime_series_update_with_empty_mask_replaces_all(void **state)
{
	fixture *f = *state;
	aw_err err;
	Aniworld__V1__AnimeSeries *a = must_create(f->client, "full", "Full Update");
	Aniworld__V1__AnimeSeries change = ANIWORLD__V1__ANIME_SERIES__INIT, *got = NULL;
	Aniworld__V1__UpdateSeriesRequest update = ANIWORLD__V1__UPDATE_SERIES_REQUEST__INIT;

	change.id = a->id;
	change.key = "full-renamed";
	change.name = "Renamed";
	update.series = &change;
	assert_int_equal(aw_client_series_update(f->client, &update, &got, &err, NULL), 0);
	assert_string_equal(got->key, "full-renamed");
	assert_string_equal(got->site, ""); /* every mutable field was replaced */
	assert_int_equal(got->total_episodes, 0);
	aniworld__v1__anime_series__free_unpacked(got, NULL);

	/* An empty mask also checks every field: name may not become empty. */
	change.name = "";
	harness_expect_status(aw_client_series_update(f->client, &update, &got, &err, NULL), &err, AW_EINVAL,
		      "series.name");
	aniworld__v1__anime_series__free_unpacked(a, NULL);
}

/* ---- every error path ------------------------------------------------------------------ */

static void test_e2e_anime_series_errors(void **state)
{
	fixture *f = *state;
	aw_err err;
	Aniworld__V1__AnimeSeries *out = NULL;
	Aniworld__V1__AnimeSeries *a = must_create(f->client, "taken", "Taken");
	Aniworld__V1__AnimeSeries *b = must_create(f->client, "other", "Other");

	/* CreateSeries */
	harness_expect_status(create(f->client, "taken", "Again", 1, &out, &err), &err, AW_EEXIST, "taken");
	assert_null(out);
	harness_expect_status(create(f->client, "", "No key", 1, &out, &err), &err, AW_EINVAL, "series.key");
	harness_expect_status(create(f->client, "no-name", "", 1, &out, &err), &err, AW_EINVAL, "series.name");
	harness_expect_status(create(f->client, "neg", "Neg", -3, &out, &err), &err, AW_EINVAL,
		      "series.total_episodes");
	assert_non_null(strstr(err.msg, "-3"));
	Aniworld__V1__CreateSeriesRequest empty_create = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	harness_expect_status(aw_client_series_create(f->client, &empty_create, &out, &err, NULL), &err, AW_EINVAL,
		      "series");
	assert_int_equal(aw_err_grpc_status(err.code), 3);

	/* GetSeries, GetSeriesByKey */
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	get.id = 987654;
	harness_expect_status(aw_client_series_get(f->client, &get, &out, &err, NULL), &err, AW_ENOTFOUND, "987654");
	assert_int_equal(aw_err_grpc_status(err.code), 5);
	get.id = 0;
	harness_expect_status(aw_client_series_get(f->client, &get, &out, &err, NULL), &err, AW_EINVAL, "id");
	Aniworld__V1__GetSeriesByKeyRequest by_key = ANIWORLD__V1__GET_SERIES_BY_KEY_REQUEST__INIT;
	by_key.key = "missing-key";
	harness_expect_status(aw_client_series_get_by_key(f->client, &by_key, &out, &err, NULL), &err, AW_ENOTFOUND,
		      "missing-key");
	by_key.key = "";
	harness_expect_status(aw_client_series_get_by_key(f->client, &by_key, &out, &err, NULL), &err, AW_EINVAL,
		      "key");

	/* ListSeries */
	Aniworld__V1__ListSeriesRequest list = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *page = NULL;
	list.page_size = -1;
	harness_expect_status(aw_client_series_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "page_size");
	list.page_size = 1;
	list.page_token = "definitely-not-a-token";
	harness_expect_status(aw_client_series_list(f->client, &list, &page, &err, NULL), &err, AW_EINVAL,
		      "page_token");
	assert_null(page);

	/* UpdateSeries */
	Aniworld__V1__AnimeSeries change = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__UpdateSeriesRequest update = ANIWORLD__V1__UPDATE_SERIES_REQUEST__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *path[1];
	update.series = &change;
	update.update_mask = &mask;
	mask.n_paths = 1;
	mask.paths = path;
	change.id = a->id;
	path[0] = "no_such_field";
	harness_expect_status(aw_client_series_update(f->client, &update, &out, &err, NULL), &err, AW_EINVAL,
		      "no_such_field");
	path[0] = "created_at";
	harness_expect_status(aw_client_series_update(f->client, &update, &out, &err, NULL), &err, AW_EINVAL,
		      "output only");
	path[0] = "id";
	harness_expect_status(aw_client_series_update(f->client, &update, &out, &err, NULL), &err, AW_EINVAL, "id");
	path[0] = "key";
	change.key = "other";
	harness_expect_status(aw_client_series_update(f->client, &update, &out, &err, NULL), &err, AW_EEXIST,
		      "other");
	path[0] = "total_episodes";
	change.total_episodes = -1;
	harness_expect_status(aw_client_series_update(f->client, &update, &out, &err, NULL), &err, AW_EINVAL,
		      "series.total_episodes");
	path[0] = "name";
	change.name = "x";
	change.id = 555555;
	harness_expect_status(aw_client_series_update(f->client, &update, &out, &err, NULL), &err, AW_ENOTFOUND,
		      "555555");
	Aniworld__V1__UpdateSeriesRequest no_series = ANIWORLD__V1__UPDATE_SERIES_REQUEST__INIT;
	harness_expect_status(aw_client_series_update(f->client, &no_series, &out, &err, NULL), &err, AW_EINVAL,
		      "series");

	/* DeleteSeries */
	Aniworld__V1__DeleteSeriesRequest del = ANIWORLD__V1__DELETE_SERIES_REQUEST__INIT;
	del.id = 444444;
	harness_expect_status(aw_client_series_delete(f->client, &del, &err, NULL), &err, AW_ENOTFOUND, "444444");
	del.id = -5;
	harness_expect_status(aw_client_series_delete(f->client, &del, &err, NULL), &err, AW_EINVAL, "-5");

	/* Nothing above changed the two series. */
	get.id = a->id;
	assert_int_equal(aw_client_series_get(f->client, &get, &out, &err, NULL), 0);
	assert_string_equal(out->key, "taken");
	assert_string_equal(out->name, "Taken");
	assert_int_equal(out->total_episodes, 12);
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	aniworld__v1__anime_series__free_unpacked(a, NULL);
	aniworld__v1__anime_series__free_unpacked(b, NULL);
}

static void test_e2e_anime_series_unreachable_server_is_unavailable(void **state)
{
	aw_client *c;
	aw_client_options opts;
	aw_err err;
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *out = NULL;

	(void)state;
	aw_client_options_init(&opts);
	opts.deadline_ms = 2000;
	/* Port 1 on loopback: nothing listens there. */
	assert_int_equal(aw_client_new(&c, "127.0.0.1:1", &opts, &err), 0);
	get.id = 1;
	int rc = aw_client_series_get(c, &get, &out, &err, NULL);
	assert_true(rc == AW_EUNAVAIL || rc == AW_ETIMEDOUT);
	assert_null(out);
	aw_client_free(c);
}

/* ---- paging through the API -------------------------------------------------------------- */

static void test_e2e_anime_series_paging(void **state)
{
	fixture *f = *state;
	aw_err err;
	char key[32], token[128] = "";
	int seen = 0;
	int64_t last = 0;

	for (int i = 0; i < 120; i++) {
		snprintf(key, sizeof(key), "page-%03d", i);
		aniworld__v1__anime_series__free_unpacked(must_create(f->client, key, key), NULL);
	}
	for (;;) {
		Aniworld__V1__ListSeriesRequest list = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
		Aniworld__V1__ListSeriesResponse *page = NULL;

		list.page_token = token;
		assert_int_equal(aw_client_series_list(f->client, &list, &page, &err, NULL), 0);
		assert_int_equal(page->total_size, 120);
		assert_true(page->n_series <= 50); /* page_size 0 means 50 */
		for (size_t i = 0; i < page->n_series; i++) {
			assert_true(page->series[i]->id > last);
			last = page->series[i]->id;
			seen++;
		}
		snprintf(token, sizeof(token), "%s", page->next_page_token);
		aniworld__v1__list_series_response__free_unpacked(page, NULL);
		if (token[0] == '\0')
			break;
	}
	assert_int_equal(seen, 120);

	/* page_size above 1000 is clamped, not refused. */
	Aniworld__V1__ListSeriesRequest big = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *page = NULL;
	big.page_size = 5000;
	assert_int_equal(aw_client_series_list(f->client, &big, &page, &err, NULL), 0);
	assert_int_equal(page->n_series, 120);
	aniworld__v1__list_series_response__free_unpacked(page, NULL);
}

/* ---- concurrency ------------------------------------------------------------------------ */

typedef struct worker {
	aw_client *client;
	int id;
	int calls;
	int bad;
	char failure[512];
} worker;

/* 500 calls: create, then read back by id and by key, update, list, every 10th
 * deleted; every result is checked. */
static void *worker_main(void *arg)
{
	worker *w = arg;
	aw_err err;

	for (int i = 0; i < 100; i++) {
		char key[48], name[48];
		Aniworld__V1__AnimeSeries *s = NULL, *g = NULL;

		snprintf(key, sizeof(key), "w%d-%d", w->id, i);
		snprintf(name, sizeof(name), "Worker %d series %d", w->id, i);
		w->calls++;
		if (create(w->client, key, name, i, &s, &err) != 0 || strcmp(s->key, key) != 0 ||
		    s->total_episodes != i) {
			snprintf(w->failure, sizeof(w->failure), "create %s: %s", key, err.msg);
			w->bad++;
			aniworld__v1__anime_series__free_unpacked(s, NULL);
			continue;
		}
		Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
		get.id = s->id;
		w->calls++;
		if (aw_client_series_get(w->client, &get, &g, &err, NULL) != 0 || strcmp(g->name, name) != 0)
			w->bad++;
		aniworld__v1__anime_series__free_unpacked(g, NULL);
		g = NULL;

		Aniworld__V1__GetSeriesByKeyRequest bk = ANIWORLD__V1__GET_SERIES_BY_KEY_REQUEST__INIT;
		bk.key = key;
		w->calls++;
		if (aw_client_series_get_by_key(w->client, &bk, &g, &err, NULL) != 0 || g->id != s->id)
			w->bad++;
		aniworld__v1__anime_series__free_unpacked(g, NULL);
		g = NULL;

		Aniworld__V1__AnimeSeries change = ANIWORLD__V1__ANIME_SERIES__INIT;
		Aniworld__V1__UpdateSeriesRequest up = ANIWORLD__V1__UPDATE_SERIES_REQUEST__INIT;
		Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
		char *paths[] = {"status"};
		change.id = s->id;
		change.status = "updated";
		mask.n_paths = 1;
		mask.paths = paths;
		up.series = &change;
		up.update_mask = &mask;
		w->calls++;
		if (aw_client_series_update(w->client, &up, &g, &err, NULL) != 0 ||
		    strcmp(g->status, "updated") != 0 || strcmp(g->name, name) != 0)
			w->bad++;
		aniworld__v1__anime_series__free_unpacked(g, NULL);

		w->calls++;
		if (i % 10 == 9) {
			Aniworld__V1__DeleteSeriesRequest del = ANIWORLD__V1__DELETE_SERIES_REQUEST__INIT;
			del.id = s->id;
			if (aw_client_series_delete(w->client, &del, &err, NULL) != 0)
				w->bad++;
		} else {
			Aniworld__V1__ListSeriesRequest list = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
			Aniworld__V1__ListSeriesResponse *page = NULL;
			list.page_size = 5;
			list.name_contains = name;
			if (aw_client_series_list(w->client, &list, &page, &err, NULL) != 0 ||
			    page->n_series != 1 || page->series[0]->id != s->id)
				w->bad++;
			aniworld__v1__list_series_response__free_unpacked(page, NULL);
		}
		aniworld__v1__anime_series__free_unpacked(s, NULL);
	}
	return NULL;
}

static void test_e2e_anime_series_eight_threads(void **state)
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
		assert_int_equal(w[t].calls, 500);
	}
	Aniworld__V1__ListSeriesRequest list = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *page = NULL;
	assert_int_equal(aw_client_series_list(f->client, &list, &page, &err, NULL), 0);
	assert_int_equal(page->total_size, 8 * 90);
	aniworld__v1__list_series_response__free_unpacked(page, NULL);
}

/* ---- durability across a restart ------------------------------------------------------------ */

static void test_e2e_anime_series_survives_restart(void **state)
{
	fixture *f = *state;
	aw_err err;
	Aniworld__V1__AnimeSeries *a = must_create(f->client, "persist", "Persistent");
	Aniworld__V1__AnimeSeries *got = NULL;
	int64_t id = a->id;

	aniworld__v1__anime_series__free_unpacked(a, NULL);
	aw_client_free(f->client);
	harness_stop(&f->h);
	assert_int_equal(harness_restart(&f->h), 0);
	assert_int_equal(aw_client_new(&f->client, f->h.target, NULL, NULL), 0);

	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	get.id = id;
	assert_int_equal(aw_client_series_get(f->client, &get, &got, &err, NULL), 0);
	assert_string_equal(got->key, "persist");
	aniworld__v1__anime_series__free_unpacked(got, NULL);
	/* Ids keep growing after a restart. */
	a = must_create(f->client, "persist-2", "Second");
	assert_true(a->id > id);
	aniworld__v1__anime_series__free_unpacked(a, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_e2e_anime_series_every_method, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_anime_series_update_with_empty_mask_replaces_all, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_e2e_anime_series_errors, setup, teardown),
		cmocka_unit_test(test_e2e_anime_series_unreachable_server_is_unavailable),
		cmocka_unit_test_setup_teardown(test_e2e_anime_series_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_anime_series_eight_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_anime_series_survives_restart, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
