/*
 * End to end: the transport's own behaviour (server/transport/) against a real
 * server: bad bytes, unknown methods, size limits, UTF-8, health Check and
 * Watch, graceful shutdown. Raw gRPC calls send what no client library would.
 */
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
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "aniworld/client.h"
#include "grpc/health/v1/health.pb-c.h"
#include "harness.h"

static int setup(void **state)
{
	harness *h = calloc(1, sizeof(*h));

	if (harness_start(h) != 0)
		return -1;
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	harness_cleanup(*state);
	free(*state);
	return 0;
}

static void test_transport_undecodable_bytes(void **state)
{
	harness *h = *state;
	const unsigned char junk[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x0F};
	char details[256];

	int status = harness_raw_call(h->target, "/aniworld.v1.AnimeSeriesService/GetSeries", junk,
				      sizeof(junk), details, sizeof(details), NULL);
	assert_int_equal(status, GRPC_STATUS_INVALID_ARGUMENT);
	assert_non_null(strstr(details, "GetSeriesRequest"));
}

static void test_transport_unknown_method_and_service(void **state)
{
	harness *h = *state;
	char details[256];

	int status = harness_raw_call(h->target, "/aniworld.v1.AnimeSeriesService/Explode", "", 0,
				      details, sizeof(details), NULL);
	assert_int_equal(status, GRPC_STATUS_UNIMPLEMENTED);
	assert_non_null(strstr(details, "Explode"));
	status = harness_raw_call(h->target, "/no.such.Service/Get", "", 0, details, sizeof(details),
				  NULL);
	assert_int_equal(status, GRPC_STATUS_UNIMPLEMENTED);
}

static void test_transport_request_over_limit(void **state)
{
	harness *h = *state;
	size_t n = 5 * 1024 * 1024;
	unsigned char *big = malloc(n);
	char details[256];

	/* A valid GetSeriesByKeyRequest whose key is 5 MiB long. */
	big[0] = 0x0A;
	size_t len = n - 6, o = 1;
	while (len >= 0x80) {
		big[o++] = (unsigned char)(len | 0x80);
		len >>= 7;
	}
	big[o++] = (unsigned char)len;
	memset(big + o, 'k', n - o);
	int status = harness_raw_call(h->target, "/aniworld.v1.AnimeSeriesService/GetSeriesByKey",
				      big, n, details, sizeof(details), NULL);
	assert_int_equal(status, GRPC_STATUS_RESOURCE_EXHAUSTED);
	free(big);
}

static void test_transport_rejects_invalid_utf8(void **state)
{
	harness *h = *state;
	char details[256];
	/* GetSeriesByKeyRequest{key: "\xff\xfe"} */
	const unsigned char msg[] = {0x0A, 0x02, 0xFF, 0xFE};

	int status = harness_raw_call(h->target, "/aniworld.v1.AnimeSeriesService/GetSeriesByKey", msg,
				      sizeof(msg), details, sizeof(details), NULL);
	assert_int_equal(status, GRPC_STATUS_INVALID_ARGUMENT);
	assert_non_null(strstr(details, "key"));
	assert_non_null(strstr(details, "UTF-8"));
}

static int health_check(const char *target, const char *service, int *serving)
{
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	uint8_t buf[256];
	char details[256];
	long reply_len;

	req.service = (char *)service;
	size_t n = grpc__health__v1__health_check_request__pack(&req, buf);
	int status = harness_raw_call(target, "/grpc.health.v1.Health/Check", buf, n, details,
				      sizeof(details), &reply_len);
	/* SERVING (1) packs as 08 01, NOT_SERVING as 08 02: two bytes either way. */
	*serving = status == 0 && reply_len == 2;
	return status;
}

static void test_transport_health_check(void **state)
{
	harness *h = *state;
	int serving;

	assert_int_equal(health_check(h->target, "", &serving), GRPC_STATUS_OK);
	assert_true(serving);
	assert_int_equal(health_check(h->target, "aniworld.v1.AnimeSeriesService", &serving),
			 GRPC_STATUS_OK);
	assert_true(serving);
	assert_int_equal(health_check(h->target, "grpc.health.v1.Health", &serving), GRPC_STATUS_OK);
	/* The process's own status, for liveness probes. */
	assert_int_equal(health_check(h->target, "liveness", &serving), GRPC_STATUS_OK);
	assert_true(serving);
	assert_int_equal(health_check(h->target, "aniworld.v1.Nope", &serving),
			 GRPC_STATUS_NOT_FOUND);
}

/* ---- health Watch: a server-streaming call driven with grpc core ---------------------------- */

typedef struct watch {
	grpc_channel *ch;
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_status_code status;
	grpc_slice details;
	grpc_metadata_array md_in, md_trail;
} watch;

static void watch_start(watch *w, const char *target, const char *service)
{
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	uint8_t buf[256];
	grpc_op ops[4];

	memset(w, 0, sizeof(*w));
	grpc_init();
	w->ch = grpc_channel_create(target, creds, NULL);
	grpc_channel_credentials_release(creds);
	w->cq = grpc_completion_queue_create_for_pluck(NULL);
	w->call = grpc_channel_create_call(w->ch, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq,
					   grpc_slice_from_static_string("/grpc.health.v1.Health/Watch"),
					   NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	req.service = (char *)service;
	grpc_slice s = grpc_slice_from_copied_buffer(
		(const char *)buf, grpc__health__v1__health_check_request__pack(&req, buf));
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	grpc_metadata_array_init(&w->md_in);
	grpc_metadata_array_init(&w->md_trail);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &w->md_in;
	assert_int_equal(grpc_call_start_batch(w->call, ops, 4, (void *)1, NULL), GRPC_CALL_OK);
	grpc_completion_queue_pluck(w->cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_byte_buffer_destroy(bb);
}

/* Receives the next status message; returns its ServingStatus, or -1 at the end. */
static int watch_next(watch *w)
{
	grpc_byte_buffer *bb = NULL;
	grpc_op op;
	grpc_byte_buffer_reader r;
	uint8_t buf[16];
	size_t n = 0;
	grpc_slice s;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &bb;
	assert_int_equal(grpc_call_start_batch(w->call, &op, 1, (void *)2, NULL), GRPC_CALL_OK);
	grpc_completion_queue_pluck(w->cq, (void *)2,
				    gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
						 gpr_time_from_seconds(10, GPR_TIMESPAN)),
				    NULL);
	if (bb == NULL)
		return -1;
	grpc_byte_buffer_reader_init(&r, bb);
	while (grpc_byte_buffer_reader_next(&r, &s)) {
		size_t k = GRPC_SLICE_LENGTH(s);
		if (n + k <= sizeof(buf)) {
			memcpy(buf + n, GRPC_SLICE_START_PTR(s), k);
			n += k;
		}
		grpc_slice_unref(s);
	}
	grpc_byte_buffer_reader_destroy(&r);
	grpc_byte_buffer_destroy(bb);
	Grpc__Health__V1__HealthCheckResponse *resp =
		grpc__health__v1__health_check_response__unpack(NULL, n, buf);
	assert_non_null(resp);
	int st = resp->status;
	grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
	return st;
}

static int watch_finish(watch *w)
{
	grpc_op op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op.data.recv_status_on_client.trailing_metadata = &w->md_trail;
	op.data.recv_status_on_client.status = &w->status;
	op.data.recv_status_on_client.status_details = &w->details;
	assert_int_equal(grpc_call_start_batch(w->call, &op, 1, (void *)3, NULL), GRPC_CALL_OK);
	grpc_completion_queue_pluck(w->cq, (void *)3, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_slice_unref(w->details);
	grpc_metadata_array_destroy(&w->md_in);
	grpc_metadata_array_destroy(&w->md_trail);
	grpc_call_unref(w->call);
	grpc_completion_queue_shutdown(w->cq);
	grpc_completion_queue_destroy(w->cq);
	grpc_channel_destroy(w->ch);
	grpc_shutdown();
	return (int)w->status;
}

static void test_transport_health_watch_sees_shutdown(void **state)
{
	harness *h = *state;
	watch w, unknown;

	watch_start(&w, h->target, "aniworld.v1.AnimeSeriesService");
	assert_int_equal(watch_next(&w), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
	watch_start(&unknown, h->target, "no.such.Service");
	assert_int_equal(watch_next(&unknown),
			 GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN);

	harness_stop(h); /* returns once the streams have ended */
	assert_int_equal(watch_next(&w),
			 GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
	assert_int_equal(watch_next(&w), -1);
	assert_int_equal(watch_finish(&w), GRPC_STATUS_UNAVAILABLE);
	assert_int_equal(watch_next(&unknown), -1);
	assert_int_equal(watch_finish(&unknown), GRPC_STATUS_UNAVAILABLE);
}

/* ---- graceful shutdown ------------------------------------------------------------------ */

typedef struct loader {
	const char *target;
	int ok, failed_after_stop, failed_before_stop;
	volatile int *stopping;
} loader;

static void *load_main(void *arg)
{
	loader *l = arg;
	aw_client *c;
	aw_client_options opts;
	aw_err err;

	aw_client_options_init(&opts);
	opts.deadline_ms = 5000;
	aw_client_new(&c, l->target, &opts, NULL);
	for (int i = 0; i < 100000; i++) {
		Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
		Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
		char key[48];
		int was_stopping = *l->stopping;

		snprintf(key, sizeof(key), "load-%p-%d", (void *)l, i);
		s.key = key;
		s.name = key;
		req.series = &s;
		if (aw_client_series_create(c, &req, &out, &err, NULL) == 0) {
			l->ok++;
			aniworld__v1__anime_series__free_unpacked(out, NULL);
		} else if (was_stopping || *l->stopping) {
			l->failed_after_stop++;
			if (l->failed_after_stop > 3)
				break;
		} else {
			l->failed_before_stop++;
		}
	}
	aw_client_free(c);
	return NULL;
}

static void test_transport_graceful_shutdown_loses_nothing_acknowledged(void **state)
{
	harness *h = *state;
	volatile int stopping = 0;
	loader l[4];
	pthread_t t[4];
	aw_client *c;
	aw_err err;

	for (int i = 0; i < 4; i++) {
		l[i] = (loader){.target = h->target, .stopping = &stopping};
		pthread_create(&t[i], NULL, load_main, &l[i]);
	}
	/* Let the writers get going, then stop mid-load. */
	for (int waited = 0; waited < 200 && l[0].ok < 50; waited++)
		usleep(10000);
	stopping = 1;
	harness_stop(h);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);

	int acknowledged = 0;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(l[i].failed_before_stop, 0);
		acknowledged += l[i].ok;
	}
	assert_true(acknowledged > 0);
	/* Every acknowledged create is in the database after a restart. */
	assert_int_equal(harness_restart(h), 0);
	assert_int_equal(aw_client_new(&c, h->target, NULL, NULL), 0);
	Aniworld__V1__ListSeriesRequest list = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *page = NULL;
	list.page_size = 1;
	assert_int_equal(aw_client_series_list(c, &list, &page, &err, NULL), 0);
	assert_true(page->total_size >= acknowledged);
	aniworld__v1__list_series_response__free_unpacked(page, NULL);
	aw_client_free(c);
}

/* ---- threads left to the server ----------------------------------------------------------- */

static void adaptive_threads(aw_config *cfg, void *arg)
{
	(void)arg;
	cfg->threads = 0;
}

typedef struct reader {
	const char *target;
	int ok, failed;
} reader;

static void *read_main(void *arg)
{
	reader *r = arg;
	aw_client *c;
	aw_err err;
	int64_t end;
	struct timespec ts;

	/* No cmocka assertion off the test's own thread: failures are counted. */
	if (aw_client_new(&c, r->target, NULL, NULL) != 0) {
		r->failed++;
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1500;
	for (int i = 0;; i++) {
		Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
		Aniworld__V1__AnimeSeries *out = NULL;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= end)
			break;
		get.id = 1 + i % 8;
		if (aw_client_series_get(c, &get, &out, &err, NULL) == 0 && out->id == get.id) {
			r->ok++;
		} else {
			r->failed++;
		}
		if (out != NULL)
			aniworld__v1__anime_series__free_unpacked(out, NULL);
	}
	aw_client_free(c);
	return NULL;
}

/* With --threads 0 the threads past the first take calls only while the
 * scaler finds a CPU for them (transport/scaler.h); whichever count it
 * settles on, every call of a concurrent load is answered, right, and a
 * shutdown under that load is clean. */
static void test_transport_adaptive_threads_answer_every_call(void **state)
{
	harness h = {.configure = adaptive_threads};
	reader r[6];
	pthread_t t[6];
	aw_client *c;
	aw_err err;
	int ok = 0;

	(void)state;
	assert_int_equal(harness_start(&h), 0);
	assert_int_equal(aw_client_new(&c, h.target, NULL, NULL), 0);
	for (int i = 0; i < 8; i++) {
		Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
		Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
		char key[32];

		snprintf(key, sizeof(key), "adaptive-%d", i);
		s.key = key;
		s.name = key;
		req.series = &s;
		assert_int_equal(aw_client_series_create(c, &req, &out, &err, NULL), 0);
		aniworld__v1__anime_series__free_unpacked(out, NULL);
	}
	aw_client_free(c);
	for (int i = 0; i < 6; i++) {
		r[i] = (reader){.target = h.target};
		pthread_create(&t[i], NULL, read_main, &r[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].failed, 0);
		ok += r[i].ok;
	}
	assert_true(ok > 0);
	assert_true(aw_server_threads(h.server) >= 1);
	harness_stop(&h);
	harness_cleanup(&h);
}

/* ---- overload ---------------------------------------------------------------------------- */

static void limit_calls(aw_config *cfg, void *arg)
{
	cfg->max_calls = *(int64_t *)arg;
}

/* Past --max-calls, calls are refused at once with RESOURCE_EXHAUSTED instead of
 * queueing; health stays answered; capacity comes back as calls end. */
static void test_transport_overload_refuses_past_max_calls(void **state)
{
	int64_t limit = 50;
	harness h = {.configure = limit_calls, .configure_arg = &limit};
	aw_client *c;
	aw_client_options o;
	aw_watch *w[200];
	int accepted = 0, refused = 0;
	aw_err err;
	char details[256];
	const unsigned char health_all[] = {0};

	(void)state;
	assert_int_equal(harness_start(&h), 0);
	aw_client_options_init(&o);
	o.deadline_ms = 5000;
	assert_int_equal(aw_client_new(&c, h.target, &o, &err), 0);
	/* Watch streams stay open: each holds a call until it is cancelled. */
	for (int i = 0; i < 200; i++) {
		Aniworld__V1__WatchDownloadsRequest req = ANIWORLD__V1__WATCH_DOWNLOADS_REQUEST__INIT;
		w[i] = NULL;
		int rc = aw_client_downloads_watch(c, &req, &w[i], &err, NULL);
		if (rc != 0) {
			assert_int_equal(aw_err_grpc_status(rc), GRPC_STATUS_RESOURCE_EXHAUSTED);
			assert_non_null(strstr(err.msg, "overloaded"));
			refused++;
		}
	}
	/* A refusal can also arrive just after the headers: the newest streams are
	 * the refused ones, so look at them first (each refusal ends its stream). */
	for (int i = 199; i >= 0 && refused < 150; i--) {
		Aniworld__V1__DownloadEvent *ev = NULL;
		if (w[i] == NULL)
			continue;
		int rc = aw_watch_next(w[i], &ev, 2000, &err);
		assert_int_not_equal(rc, 0);
		assert_int_equal(aw_err_grpc_status(rc), GRPC_STATUS_RESOURCE_EXHAUSTED);
		refused++;
	}
	for (int i = 0; i < 50; i++) {
		Aniworld__V1__DownloadEvent *ev = NULL;
		if (w[i] != NULL && aw_watch_next(w[i], &ev, 0, &err) == AW_ETIMEDOUT)
			accepted++;
	}
	assert_int_equal(accepted, 50);
	assert_int_equal(refused, 150);
	/* Probes still get through. */
	assert_int_equal(harness_raw_call(h.target, "/grpc.health.v1.Health/Check", health_all, 0,
					  details, sizeof(details), NULL),
			 GRPC_STATUS_OK);
	/* Unary calls are refused too while the streams hold every slot... */
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *out = NULL;
	get.id = 1;
	assert_int_equal(aw_err_grpc_status(aw_client_series_get(c, &get, &out, &err, NULL)),
			 GRPC_STATUS_RESOURCE_EXHAUSTED);
	/* ...and served again once they end. */
	for (int i = 0; i < 200; i++)
		aw_watch_free(w[i]);
	int rc = AW_EOVERLOAD;
	for (int tries = 0; tries < 500 && aw_err_grpc_status(rc) == GRPC_STATUS_RESOURCE_EXHAUSTED; tries++) {
		rc = aw_client_series_get(c, &get, &out, &err, NULL);
		if (aw_err_grpc_status(rc) == GRPC_STATUS_RESOURCE_EXHAUSTED)
			usleep(10000);
	}
	assert_int_equal(rc, AW_ENOTFOUND);
	aw_client_free(c);
	harness_cleanup(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_transport_undecodable_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_unknown_method_and_service, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_request_over_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_rejects_invalid_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_health_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_health_watch_sees_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_graceful_shutdown_loses_nothing_acknowledged,
						setup, teardown),
		cmocka_unit_test(test_transport_overload_refuses_past_max_calls),
		cmocka_unit_test(test_transport_adaptive_threads_answer_every_call),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
