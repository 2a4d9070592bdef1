/*
 * Tests server/transport/loopback.c: requests through the transport of a
 * server that does not listen (aw_server_open), every shape of method, the
 * transport's own refusals, and replies that come from another thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <grpc/status.h>
#include <pthread.h>

#include "aniworld/v1/anime_series.pb-c.h"
#include "aniworld/v1/download_queue.pb-c.h"
#include "config.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "log.h"
#include "server.h"
#include "transport/loopback.h"

#define SERIES "/aniworld.v1.AnimeSeriesService/"

static aw_server *open_server(void)
{
	aw_config cfg;
	aw_server *s = NULL;
	aw_err err;
	char db[] = ":memory:";

	aw_log_set_level(AW_LOG_OFF);
	aw_config_defaults(&cfg);
	cfg.db = db;
	cfg.threads = 1;
	assert_int_equal(aw_server_open(&s, &cfg, &err), 0);
	return s;
}

/* Packs `msg` into a new buffer (the caller frees it). */
static uint8_t *pack(const ProtobufCMessage *msg, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(*len > 0 ? *len : 1);
	assert_non_null(buf);
	protobuf_c_message_pack(msg, buf);
	return buf;
}

static int invoke(aw_server *s, const char *path, const ProtobufCMessage *msg,
		  aw_loopback_reply *out)
{
	size_t len;
	uint8_t *buf = pack(msg, &len);

	assert_int_equal(aw__transport_invoke_bytes(aw_server_transport(s), path, buf, len, out), 0);
	free(buf);
	return out->status;
}

static int create_series(aw_server *s, const char *key, int64_t *id)
{
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries series = ANIWORLD__V1__ANIME_SERIES__INIT;
	aw_loopback_reply out;
	int status;

	series.key = (char *)key;
	series.name = (char *)"A series";
	req.series = &series;
	status = invoke(s, SERIES "CreateSeries", &req.base, &out);
	if (status == GRPC_STATUS_OK) {
		Aniworld__V1__AnimeSeries *got =
			aniworld__v1__anime_series__unpack(NULL, out.len, out.data);
		assert_non_null(got);
		assert_string_equal(got->key, key);
		*id = got->id;
		aniworld__v1__anime_series__free_unpacked(got, NULL);
	}
	assert_int_equal(out.n_messages, status == GRPC_STATUS_OK ? 1 : 0);
	aw__loopback_reply_clear(&out);
	return status;
}

static void test_loopback_unary_reply(void **state)
{
	aw_server *s = open_server();
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	aw_loopback_reply out;
	int64_t id = 0;

	(void)state;
	assert_int_equal(create_series(s, "one-piece", &id), GRPC_STATUS_OK);
	assert_true(id > 0);
	get.id = id;
	assert_int_equal(invoke(s, SERIES "GetSeries", &get.base, &out), GRPC_STATUS_OK);
	assert_int_equal(out.n_messages, 1);
	assert_false(out.hung_up);
	aw__loopback_reply_clear(&out);

	/* The service's own refusals come back as a client would see them. */
	assert_int_equal(create_series(s, "one-piece", &id), GRPC_STATUS_ALREADY_EXISTS);
	get.id = id + 100;
	assert_int_equal(invoke(s, SERIES "GetSeries", &get.base, &out), GRPC_STATUS_NOT_FOUND);
	assert_non_null(strstr(out.message, "not found"));
	assert_null(out.data);
	aw__loopback_reply_clear(&out);
	aw_server_free(s);
}

static void test_loopback_transport_refusals(void **state)
{
	aw_server *s = open_server();
	aw_transport *t = aw_server_transport(s);
	aw_loopback_reply out;
	/* Field 2 (name) of AnimeSeries inside field 1 of CreateSeriesRequest, not UTF-8. */
	static const uint8_t bad_utf8[] = {0x0a, 0x05, 0x1a, 0x03, 'a', 0xff, 'b'};
	static const uint8_t truncated[] = {0x08};

	(void)state;
	assert_int_equal(aw__transport_invoke_bytes(t, SERIES "GetSeries", truncated,
						    sizeof(truncated), &out),
			 0);
	assert_int_equal(out.status, GRPC_STATUS_INVALID_ARGUMENT);
	assert_string_equal(out.message, "request is not a valid aniworld.v1.GetSeriesRequest message");
	aw__loopback_reply_clear(&out);

	assert_int_equal(aw__transport_invoke_bytes(t, SERIES "CreateSeries", bad_utf8,
						    sizeof(bad_utf8), &out),
			 0);
	assert_int_equal(out.status, GRPC_STATUS_INVALID_ARGUMENT);
	assert_string_equal(out.message, "series.name: not valid UTF-8");
	aw__loopback_reply_clear(&out);

	assert_int_equal(aw__transport_invoke_bytes(t, "/no.Such/Method", NULL, 0, &out), 0);
	assert_int_equal(out.status, GRPC_STATUS_UNIMPLEMENTED);
	assert_string_equal(out.message, "unknown method /no.Such/Method");
	aw__loopback_reply_clear(&out);

	/* An empty request is a valid message: the stub's own checks answer. */
	assert_int_equal(aw__transport_invoke_bytes(t, SERIES "GetSeries", NULL, 0, &out), 0);
	assert_int_equal(out.status, GRPC_STATUS_INVALID_ARGUMENT);
	assert_string_equal(out.message, "id must be a positive series id, got 0");
	aw__loopback_reply_clear(&out);
	aw_server_free(s);
}

/* Found by fuzz_requests (regressions/fuzz_requests/field-number-zero-echoed):
 * protobuf-c accepted field number 0 as an unknown field, and reflection
 * echoed it in original_request, a reply no client could parse. The
 * transport refuses such requests, however the 0 is encoded and however deep. */
static void test_loopback_field_number_zero_refused(void **state)
{
	aw_server *s = open_server();
	aw_transport *t = aw_server_transport(s);
	static const uint8_t short_zero[] = {0x00, 0x03};
	static const uint8_t long_zero[] = {0x80, 0x00, 0x03};
	/* CreateSeriesRequest.series holding field 0. */
	static const uint8_t nested_zero[] = {0x0a, 0x03, 0x80, 0x00, 0x03};
	static const struct {
		const char *path;
		const uint8_t *data;
		size_t len;
	} cases[] = {
		{"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", long_zero,
		 sizeof(long_zero)},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", short_zero,
		 sizeof(short_zero)},
		{SERIES "GetSeries", long_zero, sizeof(long_zero)},
		{SERIES "CreateSeries", nested_zero, sizeof(nested_zero)},
	};
	aw_loopback_reply out;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(aw__transport_invoke_bytes(t, cases[i].path, cases[i].data,
							    cases[i].len, &out),
				 0);
		assert_int_equal(out.status, GRPC_STATUS_INVALID_ARGUMENT);
		assert_non_null(strstr(out.message, "is not a valid"));
		assert_int_equal(out.n_messages, 0);
		aw__loopback_reply_clear(&out);
	}
	aw_server_free(s);
}

static void test_loopback_methods_listed(void **state)
{
	aw_server *s = open_server();
	aw_transport *t = aw_server_transport(s);
	size_t n = aw__transport_method_count(t);
	aw_loopback_method m;
	int series = 0, health_watch = 0, reflection = 0;

	(void)state;
	assert_true(n > 30);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(aw__transport_method(t, i, &m), 0);
		assert_int_equal(m.path[0], '/');
		assert_non_null(m.desc->input);
		assert_non_null(m.desc->output);
		if (strcmp(m.path, SERIES "CreateSeries") == 0)
			series = !m.server_streaming && !m.client_streaming;
		if (strcmp(m.path, "/grpc.health.v1.Health/Watch") == 0)
			health_watch = m.server_streaming && !m.client_streaming;
		if (strcmp(m.path, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo") == 0)
			reflection = m.server_streaming && m.client_streaming;
	}
	assert_true(series);
	assert_true(health_watch);
	assert_true(reflection);
	assert_int_equal(aw__transport_method(t, n, &m), AW_EINVAL);
	aw_server_free(s);
}

/* Watches never end by themselves: the loopback hangs up, and nothing of the
 * watch is left (the ASan build checks for leaks). */
static void test_loopback_stream_hung_up(void **state)
{
	aw_server *s = open_server();
	Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	Aniworld__V1__WatchDownloadsRequest wreq = ANIWORLD__V1__WATCH_DOWNLOADS_REQUEST__INIT;
	Grpc__Health__V1__HealthCheckResponse *hresp;
	aw_loopback_reply out;

	(void)state;
	hreq.service = (char *)"";
	assert_int_equal(invoke(s, "/grpc.health.v1.Health/Watch", &hreq.base, &out),
			 GRPC_STATUS_CANCELLED);
	assert_true(out.hung_up);
	assert_int_equal(out.n_messages, 1);
	hresp = grpc__health__v1__health_check_response__unpack(NULL, out.len, out.data);
	assert_non_null(hresp);
	/* Opened, not started: not serving. */
	assert_int_equal(hresp->status,
			 GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
	grpc__health__v1__health_check_response__free_unpacked(hresp, NULL);
	aw__loopback_reply_clear(&out);

	assert_int_equal(invoke(s, "/aniworld.v1.DownloadQueueService/WatchDownloads", &wreq.base,
				&out),
			 GRPC_STATUS_CANCELLED);
	assert_true(out.hung_up);
	assert_int_equal(out.n_messages, 0);
	aw__loopback_reply_clear(&out);

	/* A stream refused by its stub ends with the stub's status. */
	wreq.series_id = -1;
	assert_int_equal(invoke(s, "/aniworld.v1.DownloadQueueService/WatchDownloads", &wreq.base,
				&out),
			 GRPC_STATUS_INVALID_ARGUMENT);
	assert_false(out.hung_up);
	aw__loopback_reply_clear(&out);
	aw_server_free(s);
}

static void test_loopback_bidirectional(void **state)
{
	aw_server *s = open_server();
	Grpc__Reflection__V1__ServerReflectionRequest req =
		GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
	Grpc__Reflection__V1__ServerReflectionResponse *resp;
	aw_loopback_reply out;

	(void)state;
	req.message_request_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
	req.list_services = (char *)"*";
	/* One request, then the end of the client's stream: the call ends OK. */
	assert_int_equal(invoke(s, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
				&req.base, &out),
			 GRPC_STATUS_OK);
	assert_false(out.hung_up);
	assert_int_equal(out.n_messages, 1);
	resp = grpc__reflection__v1__server_reflection_response__unpack(NULL, out.len, out.data);
	assert_non_null(resp);
	assert_int_equal(resp->message_response_case,
			 GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
	assert_true(resp->list_services_response->n_service >= 4);
	grpc__reflection__v1__server_reflection_response__free_unpacked(resp, NULL);
	aw__loopback_reply_clear(&out);
	aw_server_free(s);
}

#define THREADS 4
#define WRITES 100

typedef struct writer_arg {
	aw_server *s;
	int id;
	int ok;
} writer_arg;

static void *write_many(void *p)
{
	writer_arg *a = p;
	char key[32];
	int64_t id;

	for (int i = 0; i < WRITES; i++) {
		snprintf(key, sizeof(key), "t%d-%d", a->id, i);
		if (create_series(a->s, key, &id) == GRPC_STATUS_OK)
			a->ok++;
	}
	return NULL;
}

/* Writes on several threads at once: a write queued behind another thread's
 * batch is answered from that thread, and the invoking thread waits for it. */
static void test_loopback_replies_from_other_threads(void **state)
{
	aw_server *s = open_server();
	pthread_t th[THREADS];
	writer_arg args[THREADS];
	Aniworld__V1__ListSeriesRequest list = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *resp;
	aw_loopback_reply out;

	(void)state;
	for (int i = 0; i < THREADS; i++) {
		args[i] = (writer_arg){s, i, 0};
		assert_int_equal(pthread_create(&th[i], NULL, write_many, &args[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].ok, WRITES);
	}
	list.page_size = 1;
	assert_int_equal(invoke(s, SERIES "ListSeries", &list.base, &out), GRPC_STATUS_OK);
	resp = aniworld__v1__list_series_response__unpack(NULL, out.len, out.data);
	assert_non_null(resp);
	assert_int_equal(resp->total_size, THREADS * WRITES);
	aniworld__v1__list_series_response__free_unpacked(resp, NULL);
	aw__loopback_reply_clear(&out);
	aw_server_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback_unary_reply),
		cmocka_unit_test(test_loopback_transport_refusals),
		cmocka_unit_test(test_loopback_field_number_zero_refused),
		cmocka_unit_test(test_loopback_methods_listed),
		cmocka_unit_test(test_loopback_stream_hung_up),
		cmocka_unit_test(test_loopback_bidirectional),
		cmocka_unit_test(test_loopback_replies_from_other_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
