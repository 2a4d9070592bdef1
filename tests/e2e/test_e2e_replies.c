/*
 * End to end: replies stay within --max-reply-bytes (issue 16: a list page of
 * 40 big series was a 15 MB reply that no client with gRPC's default 4 MiB
 * receive limit accepts). The client library runs with its default options,
 * whose receive limit is gRPC's default. Every list method is paged through
 * with page_size 1000 and must deliver every record exactly once, in pages
 * within the budget, with total_size right; writes whose result would not fit
 * in a reply are refused.
 */
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
	int64_t max_reply; /* --max-reply-bytes for the next start; 0: the default */
} fixture;

static void configure(aw_config *cfg, void *arg)
{
	fixture *f = arg;

	if (f->max_reply > 0)
		cfg->max_reply_bytes = f->max_reply;
}

static int setup_budget(void **state, int64_t max_reply)
{
	fixture *f = calloc(1, sizeof(*f));

	f->max_reply = max_reply;
	f->h.configure = configure;
	f->h.configure_arg = f;
	if (harness_start(&f->h) != 0 || aw_client_new(&f->client, f->h.target, NULL, NULL) != 0)
		return -1;
	*state = f;
	return 0;
}

static int setup_default(void **state)
{
	return setup_budget(state, 0);
}

static int setup_64k(void **state)
{
	return setup_budget(state, 65536);
}

static int setup_128k(void **state)
{
	return setup_budget(state, 131072);
}

static int teardown(void **state)
{
	fixture *f = *state;

	aw_client_free(f->client);
	harness_cleanup(&f->h);
	free(f);
	return 0;
}

/* Restarts the server of `f` with budget `max_reply` and a new client. */
static void restart_with(fixture *f, int64_t max_reply)
{
	aw_client_free(f->client);
	harness_stop(&f->h);
	f->max_reply = max_reply;
	assert_int_equal(harness_restart(&f->h), 0);
	assert_int_equal(aw_client_new(&f->client, f->h.target, NULL, NULL), 0);
}

/* ---- paging through any list ------------------------------------------------------------ */

/* Calls one list method for the page after `token` ("" first). */
typedef int list_fn(aw_client *c, const char *token, ProtobufCMessage **out, aw_err *err);

/* The record ids a list method delivered, and how. */
typedef struct paged {
	int64_t ids[2048];
	size_t n;
	int pages;
	size_t largest_page; /* bytes */
} paged;

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Pages through a list with `list` until next_page_token is empty, checking
 * that each page holds at least one record, that no page of several records
 * passes `budget` and that total_size is `total` on each. The list responses
 * all have the records at field 1, next_page_token at 2, total_size at 3, and
 * every record has an int64 id.
 */
static void page_through(aw_client *c, list_fn *list, size_t budget, int total, paged *p)
{
	char token[128] = "";

	memset(p, 0, sizeof(*p));
	for (;;) {
		ProtobufCMessage *res = NULL;
		aw_err err;
		int rc = list(c, token, &res, &err);

		if (rc != 0)
			fail_msg("page %d: %s: %s", p->pages + 1, aw_err_name(rc), err.msg);
		const ProtobufCMessageDescriptor *d = res->descriptor;
		const ProtobufCFieldDescriptor *items = protobuf_c_message_descriptor_get_field(d, 1);
		const ProtobufCFieldDescriptor *next = protobuf_c_message_descriptor_get_field(d, 2);
		const ProtobufCFieldDescriptor *size = protobuf_c_message_descriptor_get_field(d, 3);
		size_t n = *(size_t *)((char *)res + items->quantifier_offset);
		ProtobufCMessage **recs = *(ProtobufCMessage ***)((char *)res + items->offset);
		const char *next_token = *(char **)((char *)res + next->offset);
		size_t bytes = protobuf_c_message_get_packed_size(res);

		p->pages++;
		assert_true(n >= 1);
		if (n > 1 && bytes > budget)
			fail_msg("page %d: %zu records in %zu bytes, over %zu", p->pages, n, bytes, budget);
		if (bytes > p->largest_page)
			p->largest_page = bytes;
		assert_int_equal(*(int32_t *)((char *)res + size->offset), total);
		for (size_t i = 0; i < n; i++) {
			const ProtobufCFieldDescriptor *id =
				protobuf_c_message_descriptor_get_field_by_name(recs[i]->descriptor, "id");
			assert_true(p->n < sizeof(p->ids) / sizeof(p->ids[0]));
			p->ids[p->n++] = *(int64_t *)((char *)recs[i] + id->offset);
		}
		snprintf(token, sizeof(token), "%s", next_token);
		protobuf_c_message_free_unpacked(res, NULL);
		if (token[0] == '\0')
			break;
		assert_true(p->pages < 1000);
	}
	/* Every record exactly once. */
	qsort(p->ids, p->n, sizeof(p->ids[0]), cmp_i64);
	assert_int_equal(p->n, total);
	for (size_t i = 1; i < p->n; i++)
		assert_true(p->ids[i] != p->ids[i - 1]);
}

static int list_series(aw_client *c, const char *token, ProtobufCMessage **out, aw_err *err)
{
	Aniworld__V1__ListSeriesRequest req = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;

	req.page_size = 1000;
	req.page_token = (char *)token;
	return aw_client_series_list(c, &req, (Aniworld__V1__ListSeriesResponse **)out, err, NULL);
}

static int list_episodes(aw_client *c, const char *token, ProtobufCMessage **out, aw_err *err)
{
	Aniworld__V1__ListEpisodesRequest req = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;

	req.page_size = 1000;
	req.page_token = (char *)token;
	return aw_client_episodes_list(c, &req, (Aniworld__V1__ListEpisodesResponse **)out, err, NULL);
}

static int list_downloads(aw_client *c, const char *token, ProtobufCMessage **out, aw_err *err)
{
	Aniworld__V1__ListDownloadsRequest req = ANIWORLD__V1__LIST_DOWNLOADS_REQUEST__INIT;

	req.page_size = 1000;
	req.page_token = (char *)token;
	return aw_client_downloads_list(c, &req, (Aniworld__V1__ListDownloadsResponse **)out, err, NULL);
}

static int list_sessions(aw_client *c, const char *token, ProtobufCMessage **out, aw_err *err)
{
	Aniworld__V1__ListSessionsRequest req = ANIWORLD__V1__LIST_SESSIONS_REQUEST__INIT;

	req.page_size = 1000;
	req.page_token = (char *)token;
	return aw_client_session_list(c, &req, (Aniworld__V1__ListSessionsResponse **)out, err, NULL);
}

/* ---- making big records ---------------------------------------------------------------- */

/* Creates series `key` whose episode_dict holds `seasons` seasons of episodes
 * 1..`episodes`, and a description of `desc` bytes. Returns the status; the
 * id in *id (may be NULL). */
static int create_series(aw_client *c, const char *key, int seasons, int episodes, size_t desc,
			 int64_t *id, aw_err *err)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries__EpisodeDictEntry *entries = calloc((size_t)seasons + 1, sizeof(*entries));
	Aniworld__V1__AnimeSeries__EpisodeDictEntry **ptrs = calloc((size_t)seasons + 1, sizeof(*ptrs));
	Aniworld__V1__EpisodeNumbers *numbers = calloc((size_t)seasons + 1, sizeof(*numbers));
	int32_t *eps = calloc((size_t)episodes + 1, sizeof(*eps));
	char *text = malloc(desc + 1);
	Aniworld__V1__AnimeSeries *out = NULL;
	int rc;

	for (int i = 0; i < episodes; i++)
		eps[i] = i + 1;
	for (int i = 0; i < seasons; i++) {
		aniworld__v1__episode_numbers__init(&numbers[i]);
		numbers[i].n_episodes = (size_t)episodes;
		numbers[i].episodes = eps;
		aniworld__v1__anime_series__episode_dict_entry__init(&entries[i]);
		entries[i].key = i + 1;
		entries[i].value = &numbers[i];
		ptrs[i] = &entries[i];
	}
	memset(text, 'd', desc);
	text[desc] = '\0';
	s.key = (char *)key;
	s.name = (char *)key;
	s.description = text;
	s.n_episode_dict = (size_t)seasons;
	s.episode_dict = ptrs;
	req.series = &s;
	rc = aw_client_series_create(c, &req, &out, err, NULL);
	if (rc == 0 && id != NULL)
		*id = out->id;
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	free(text);
	free(eps);
	free(numbers);
	free(ptrs);
	free(entries);
	return rc;
}

static int64_t must_series(aw_client *c, const char *key, int seasons, int episodes, size_t desc)
{
	int64_t id = 0;
	aw_err err;
	int rc = create_series(c, key, seasons, episodes, desc, &id, &err);

	if (rc != 0)
		fail_msg("CreateSeries %s: %s: %s", key, aw_err_name(rc), err.msg);
	return id;
}

static char *filled(size_t n, char ch)
{
	char *s = malloc(n + 1);

	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* ---- tests ---------------------------------------------------------------------------- */

/* The series, at the default budget (3 MiB): ten of about 390 KB each
 * (99 seasons of 2,000 episodes) make 3.9 MB, more than one reply may hold. */
static void test_e2e_replies_big_series_at_the_default_budget(void **state)
{
	fixture *f = *state;
	paged *p = calloc(1, sizeof(*p));
	char key[32];

	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "big-%02d", i);
		must_series(f->client, key, 99, 2000, 0);
	}
	page_through(f->client, list_series, 3 * 1024 * 1024, 10, p);
	assert_true(p->pages >= 2);
	assert_true(p->largest_page > 2 * 1024 * 1024); /* pages are filled, not cut short */
	free(p);
}

/* The 40 series, smaller, under a 128 KiB budget set by flag. */
static void test_e2e_replies_forty_series_at_a_small_budget(void **state)
{
	fixture *f = *state;
	paged *p = calloc(1, sizeof(*p));
	char key[32];

	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "mid-%02d", i);
		must_series(f->client, key, 10, 1000, 0); /* about 20 KB */
	}
	page_through(f->client, list_series, 131072, 40, p);
	assert_true(p->pages >= 6);
	free(p);
}

/* Episodes, downloads and sessions can be big too (a long title, URLs and
 * destinations of 4 KiB each, a 1 KiB user agent): each list pages within a
 * 64 KiB budget. */
static void test_e2e_replies_every_list_method_pages_within_the_budget(void **state)
{
	fixture *f = *state;
	paged *p = calloc(1, sizeof(*p));
	char *title = filled(6000, 't'), *url = filled(4000, 'u'), *agent = filled(1000, 'a');
	int64_t series = must_series(f->client, "owner", 1, 1, 0);
	aw_err err;

	/* 30 episodes of 6 KB, in batches of 5 (30 KB replies). */
	for (int b = 0; b < 6; b++) {
		Aniworld__V1__Episode eps[5], *ptrs[5];
		Aniworld__V1__BatchCreateEpisodesRequest req =
			ANIWORLD__V1__BATCH_CREATE_EPISODES_REQUEST__INIT;
		Aniworld__V1__BatchCreateEpisodesResponse *out = NULL;

		for (int i = 0; i < 5; i++) {
			aniworld__v1__episode__init(&eps[i]);
			eps[i].series_id = series;
			eps[i].season = 1;
			eps[i].episode_number = b * 5 + i + 1;
			eps[i].title = title;
			ptrs[i] = &eps[i];
		}
		req.series_id = series;
		req.n_episodes = 5;
		req.episodes = ptrs;
		assert_int_equal(aw_client_episodes_batch_create(f->client, &req, &out, &err, NULL), 0);
		aniworld__v1__batch_create_episodes_response__free_unpacked(out, NULL);
	}
	page_through(f->client, list_episodes, 65536, 30, p);
	assert_true(p->pages >= 3);

	/* 30 queue items of about 8 KB. */
	for (int i = 0; i < 30; i++) {
		Aniworld__V1__DownloadQueueItem item = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT;
		Aniworld__V1__EnqueueDownloadRequest req = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
		Aniworld__V1__DownloadQueueItem *out = NULL;

		item.series_id = series;
		item.season = 1;
		item.episode_number = i + 1;
		item.download_url = url;
		item.file_destination = url;
		req.item = &item;
		assert_int_equal(aw_client_downloads_enqueue(f->client, &req, &out, &err, NULL), 0);
		aniworld__v1__download_queue_item__free_unpacked(out, NULL);
	}
	page_through(f->client, list_downloads, 65536, 30, p);
	assert_true(p->pages >= 4);

	/* 120 sessions of about 1.1 KB. */
	for (int i = 0; i < 120; i++) {
		Aniworld__V1__CreateSessionRequest req = ANIWORLD__V1__CREATE_SESSION_REQUEST__INIT;
		Google__Protobuf__Timestamp expires = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
		Aniworld__V1__UserSession *out = NULL;

		expires.seconds = 4102444800; /* 2100-01-01 */
		req.user_id = "user";
		req.token = "secret";
		req.user_agent = agent;
		req.expires_at = &expires;
		assert_int_equal(aw_client_session_create(f->client, &req, &out, &err, NULL), 0);
		aniworld__v1__user_session__free_unpacked(out, NULL);
	}
	page_through(f->client, list_sessions, 65536, 120, p);
	assert_true(p->pages >= 2);

	free(agent);
	free(url);
	free(title);
	free(p);
}

/* A record that would not fit in a reply of its own is refused when written
 * (create, update, an episode batch whose reply would be too large), and
 * nothing of it is stored. */
static void test_e2e_replies_records_larger_than_a_reply_are_refused(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries up = ANIWORLD__V1__ANIME_SERIES__INIT, *got = NULL;
	Aniworld__V1__UpdateSeriesRequest ureq = ANIWORLD__V1__UPDATE_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *page = NULL;
	Aniworld__V1__ListSeriesRequest lreq = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__Episode eps[20], *ptrs[20];
	Aniworld__V1__BatchCreateEpisodesRequest breq = ANIWORLD__V1__BATCH_CREATE_EPISODES_REQUEST__INIT;
	Aniworld__V1__BatchCreateEpisodesResponse *bout = NULL;
	Aniworld__V1__ListEpisodesResponse *epage = NULL;
	Aniworld__V1__ListEpisodesRequest ereq = ANIWORLD__V1__LIST_EPISODES_REQUEST__INIT;
	Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
	char *paths[] = {"description"};
	char *text = filled(70000, 'x'), *title = filled(4000, 't');
	int64_t small;
	aw_err err;
	int rc;

	rc = create_series(f->client, "huge", 0, 0, 70000, NULL, &err);
	assert_int_equal(rc, AW_EINVAL);
	assert_non_null(strstr(err.msg, "reply"));

	small = must_series(f->client, "small", 1, 10, 0);
	up.id = small;
	up.description = text;
	mask.n_paths = 1;
	mask.paths = paths;
	ureq.series = &up;
	ureq.update_mask = &mask;
	rc = aw_client_series_update(f->client, &ureq, &got, &err, NULL);
	assert_int_equal(rc, AW_EINVAL);
	assert_non_null(strstr(err.msg, "reply"));

	lreq.page_size = 10;
	assert_int_equal(aw_client_series_list(f->client, &lreq, &page, &err, NULL), 0);
	assert_int_equal(page->total_size, 1);
	assert_string_equal(page->series[0]->key, "small");
	assert_string_equal(page->series[0]->description, "");
	aniworld__v1__list_series_response__free_unpacked(page, NULL);

	/* 20 episodes of 4 KB: an 80 KB reply, over 64 KiB. */
	for (int i = 0; i < 20; i++) {
		aniworld__v1__episode__init(&eps[i]);
		eps[i].series_id = small;
		eps[i].season = 1;
		eps[i].episode_number = i + 1;
		eps[i].title = title;
		ptrs[i] = &eps[i];
	}
	breq.series_id = small;
	breq.n_episodes = 20;
	breq.episodes = ptrs;
	rc = aw_client_episodes_batch_create(f->client, &breq, &bout, &err, NULL);
	assert_int_equal(rc, AW_EINVAL);
	assert_non_null(strstr(err.msg, "BatchCreateEpisodesResponse"));
	ereq.series_id = small;
	assert_int_equal(aw_client_episodes_list(f->client, &ereq, &epage, &err, NULL), 0);
	assert_int_equal(epage->total_size, 0);
	aniworld__v1__list_episodes_response__free_unpacked(epage, NULL);
	free(title);
	free(text);
}

/* A record stored under a larger budget than the server now has: the pages
 * before it stop short of it, and the server, which never sends more than
 * its budget, refuses the page it heads (and a Get of it) with
 * RESOURCE_EXHAUSTED instead of sending what clients were promised they
 * would not get. Raising the budget again serves it. */
static void test_e2e_replies_a_record_over_a_lowered_budget(void **state)
{
	fixture *f = *state;
	Aniworld__V1__ListSeriesResponse *page = NULL;
	Aniworld__V1__ListSeriesRequest lreq = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__GetSeriesRequest greq = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *got = NULL;
	char token[128];
	aw_err err;
	paged *p = calloc(1, sizeof(*p));

	restart_with(f, 1024 * 1024);
	must_series(f->client, "before", 1, 10, 0);
	greq.id = must_series(f->client, "large", 1, 10, 200000);
	must_series(f->client, "after", 1, 10, 0);

	restart_with(f, 65536);
	lreq.page_size = 1000;
	assert_int_equal(aw_client_series_list(f->client, &lreq, &page, &err, NULL), 0);
	assert_int_equal(page->n_series, 1);
	assert_string_equal(page->series[0]->key, "before");
	snprintf(token, sizeof(token), "%s", page->next_page_token);
	aniworld__v1__list_series_response__free_unpacked(page, NULL);
	lreq.page_token = token;
	assert_int_equal(aw_client_series_list(f->client, &lreq, &page, &err, NULL), AW_ENOMEM);
	assert_int_equal(aw_client_series_get(f->client, &greq, &got, &err, NULL), AW_ENOMEM);

	restart_with(f, 1024 * 1024);
	page_through(f->client, list_series, 1024 * 1024, 3, p);
	free(p);
}

/* A budget below what the server itself must be able to send is refused at
 * start, naming the flag. */
static void test_e2e_replies_too_small_a_budget_is_refused(void **state)
{
	aw_server *server = NULL;
	aw_config cfg;
	aw_err err;

	(void)state;
	aw_config_defaults(&cfg);
	cfg.listen = "127.0.0.1:0";
	cfg.db = ":memory:";
	cfg.max_reply_bytes = 4096;
	assert_int_equal(aw_server_start(&server, &cfg, &err), AW_EINVAL);
	assert_null(server);
	assert_non_null(strstr(err.msg, "--max-reply-bytes"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_e2e_replies_big_series_at_the_default_budget,
						setup_default, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_replies_forty_series_at_a_small_budget,
						setup_128k, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_replies_every_list_method_pages_within_the_budget,
						setup_64k, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_replies_records_larger_than_a_reply_are_refused,
						setup_64k, teardown),
		cmocka_unit_test_setup_teardown(test_e2e_replies_a_record_over_a_lowered_budget,
						setup_64k, teardown),
		cmocka_unit_test(test_e2e_replies_too_small_a_budget_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
