/*
 * End to end: the client library's own behaviour (client/client.c, retry.c,
 * call_opts.c): which calls it retries, its per-call options (deadline,
 * metadata, request_id), replacing the bearer token on a live client, and
 * that it refuses options that make no sense.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "aniworld/client.h"
#include "harness.h"

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct late_server {
	harness h;
	char listen[64];
	int delay_ms;
	pthread_t thread;
	int prepared; /* harness_prepare succeeded */
	int started;
} late_server;

static void listen_on(aw_config *cfg, void *arg)
{
	cfg->listen = ((late_server *)arg)->listen;
}

/* Starts the server only after a delay: a server that is restarting. Its
 * database is made before (on PostgreSQL that takes a while of its own). */
static void *late_main(void *arg)
{
	late_server *ls = arg;

	usleep((useconds_t)ls->delay_ms * 1000);
	ls->started = ls->prepared && harness_restart(&ls->h) == 0;
	return NULL;
}

static void late_start(late_server *ls, int delay_ms)
{
	memset(ls, 0, sizeof(*ls));
	snprintf(ls->listen, sizeof(ls->listen), "127.0.0.1:%d", free_port());
	ls->delay_ms = delay_ms;
	ls->h.configure = listen_on;
	ls->h.configure_arg = ls;
	ls->prepared = harness_prepare(&ls->h) == 0;
	pthread_create(&ls->thread, NULL, late_main, ls);
}

static void late_stop(late_server *ls)
{
	pthread_join(ls->thread, NULL);
	assert_true(ls->started);
	harness_cleanup(&ls->h);
}

static aw_client *client_for(const late_server *ls, int attempts)
{
	aw_client_options o;
	aw_client *c;

	aw_client_options_init(&o);
	o.deadline_ms = 10000;
	o.max_attempts = attempts;
	o.retry_initial_backoff_ms = 200;
	o.retry_max_backoff_ms = 1000;
	assert_int_equal(aw_client_new(&c, ls->listen, &o, NULL), 0);
	return c;
}

/* A read against a server that is not up yet is retried until it answers. */
static void test_client_retries_reads_while_the_server_comes_up(void **state)
{
	late_server ls;
	aw_client *c;
	aw_err err;
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *out = NULL;

	(void)state;
	late_start(&ls, 300);
	c = client_for(&ls, 5);
	get.id = 42;
	/* NOT_FOUND means an attempt reached the server. */
	assert_int_equal(aw_client_series_get(c, &get, &out, &err, NULL), AW_ENOTFOUND);
	aw_client_free(c);
	late_stop(&ls);
}

static int count_series(aw_client *c)
{
	Aniworld__V1__ListSeriesRequest req = ANIWORLD__V1__LIST_SERIES_REQUEST__INIT;
	Aniworld__V1__ListSeriesResponse *out = NULL;
	aw_err err;
	int n;

	assert_int_equal(aw_client_series_list(c, &req, &out, &err, NULL), 0);
	n = out->total_size;
	aniworld__v1__list_series_response__free_unpacked(out, NULL);
	return n;
}

/* A write that takes a request_id carries one the library made, and so is
 * retried like a read while the server comes up; it is stored once. */
static void test_client_retries_writes_with_a_request_id(void **state)
{
	late_server ls;
	aw_client *c;
	aw_err err;
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;

	(void)state;
	late_start(&ls, 300);
	c = client_for(&ls, 5);
	s.key = "retried";
	s.name = "retried";
	req.series = &s;
	if (aw_client_series_create(c, &req, &out, &err, NULL) != 0)
		fail_msg("CreateSeries: %s", err.msg);
	assert_string_equal(out->key, "retried");
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	assert_int_equal(count_series(c), 1);
	aw_client_free(c);
	late_stop(&ls);
}

/* A write without a request_id is not sent twice: against a server that is
 * down it fails fast with UNAVAILABLE, retries enabled or not. So is a write
 * that takes none (an update). */
static void test_client_does_not_retry_writes_without_a_request_id(void **state)
{
	late_server ls;
	aw_client *c;
	aw_err err;
	aw_call_opts none = AW_CALL_OPTS_INIT;
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	Aniworld__V1__UpdateSeriesRequest upd = ANIWORLD__V1__UPDATE_SERIES_REQUEST__INIT;
	int64_t t0;

	(void)state;
	late_start(&ls, 1500);
	c = client_for(&ls, 5);
	s.key = "never";
	s.name = "never";
	s.id = 1;
	req.series = &s;
	upd.series = &s;
	none.request_id = ""; /* none */
	t0 = now_ms();
	assert_int_equal(aw_client_series_create(c, &req, &out, &err, &none), AW_EUNAVAIL);
	assert_int_equal(aw_client_series_update(c, &upd, &out, &err, NULL), AW_EUNAVAIL);
	assert_true(now_ms() - t0 < 1000); /* not retried until the server came */
	aw_client_free(c);
	late_stop(&ls);
}

/* With max_attempts 1 a read is not retried either. */
static void test_client_retries_can_be_disabled(void **state)
{
	late_server ls;
	aw_client *c;
	aw_err err;
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *out = NULL;

	(void)state;
	late_start(&ls, 1500);
	c = client_for(&ls, 1);
	get.id = 1;
	assert_int_equal(aw_client_series_get(c, &get, &out, &err, NULL), AW_EUNAVAIL);
	aw_client_free(c);
	late_stop(&ls);
}

static void test_client_refuses_bad_options(void **state)
{
	aw_client_options o;
	aw_client *c = NULL;
	aw_err err;

	(void)state;
	aw_client_options_init(&o);
	o.max_attempts = 6;
	assert_int_equal(aw_client_new(&c, "localhost:1", &o, &err), AW_EINVAL);
	aw_client_options_init(&o);
	o.retry_max_backoff_ms = 10; /* below the initial backoff */
	assert_int_equal(aw_client_new(&c, "localhost:1", &o, &err), AW_EINVAL);
	aw_client_options_init(&o);
	o.load_balancing = "random";
	assert_int_equal(aw_client_new(&c, "localhost:1", &o, &err), AW_EINVAL);
	assert_non_null(strstr(err.msg, "load_balancing"));
	assert_int_equal(aw_client_new(&c, "", NULL, &err), AW_EINVAL);
	assert_null(c);
	aw_client_options_init(&o);
	o.load_balancing = "round_robin";
	assert_int_equal(aw_client_new(&c, "dns:///localhost:1", &o, &err), 0);
	aw_client_free(c);
}

/* ---- options of one call, and the bearer token --------------------------------------- */

static char tokens_path[64];

static void with_tokens(aw_config *cfg, void *arg)
{
	(void)arg;
	cfg->auth_tokens_file = tokens_path;
}

/* A server that wants one of the tokens "alpha" and "beta". */
static void auth_start(harness *h)
{
	FILE *fp;
	int fd;

	snprintf(tokens_path, sizeof(tokens_path), "/tmp/aw-client-tokens-XXXXXX");
	fd = mkstemp(tokens_path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs("alpha\nbeta\n", fp);
	fclose(fp);
	memset(h, 0, sizeof(*h));
	h->configure = with_tokens;
	assert_int_equal(harness_start(h), 0);
}

static void auth_stop(harness *h)
{
	harness_cleanup(h);
	unlink(tokens_path);
}

/* GetSeries of an id nobody has: AW_ENOTFOUND means the call got through. */
static int probe(aw_client *c, const aw_call_opts *o, aw_err *err)
{
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *out = NULL;

	get.id = 424242;
	return aw_client_series_get(c, &get, &out, err, o);
}

typedef struct rotating_caller {
	aw_client *client;
	const int *stop;
	int calls, failures;
} rotating_caller;

static void *rotating_main(void *arg)
{
	rotating_caller *rc = arg;
	aw_err err;

	while (!__atomic_load_n(rc->stop, __ATOMIC_ACQUIRE)) {
		if (probe(rc->client, NULL, &err) != AW_ENOTFOUND)
			rc->failures++;
		rc->calls++;
	}
	return NULL;
}

/* The bearer token is replaced on a live client, also while other threads call. */
static void test_client_rotates_its_bearer_token(void **state)
{
	aw_client_options o;
	harness h;
	aw_client *c;
	aw_err err;
	rotating_caller callers[4];
	pthread_t th[4];
	int stop = 0;

	(void)state;
	auth_start(&h);
	aw_client_options_init(&o);
	o.bearer_token = "alpha";
	assert_int_equal(aw_client_new(&c, h.target, &o, &err), 0);
	assert_int_equal(probe(c, NULL, &err), AW_ENOTFOUND);
	assert_int_equal(aw_client_set_bearer_token(c, "gamma", &err), 0);
	assert_int_equal(probe(c, NULL, &err), AW_EUNAUTH);
	assert_int_equal(aw_client_set_bearer_token(c, "bad\ntoken", &err), AW_EINVAL);
	assert_int_equal(probe(c, NULL, &err), AW_EUNAUTH); /* the old one stayed */
	assert_int_equal(aw_client_set_bearer_token(c, NULL, &err), 0);
	assert_int_equal(probe(c, NULL, &err), AW_EUNAUTH);
	assert_int_equal(aw_client_set_bearer_token(c, "beta", &err), 0);
	assert_int_equal(probe(c, NULL, &err), AW_ENOTFOUND);

	for (int i = 0; i < 4; i++) {
		callers[i] = (rotating_caller){.client = c, .stop = &stop};
		pthread_create(&th[i], NULL, rotating_main, &callers[i]);
	}
	for (int i = 0; i < 200; i++)
		assert_int_equal(aw_client_set_bearer_token(c, i % 2 ? "alpha" : "beta", &err), 0);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(callers[i].failures, 0);
	}
	aw_client_free(c);
	auth_stop(&h);
}

/* Metadata of one call goes out with it; a bad entry is refused before. */
static void test_client_sends_the_metadata_of_one_call(void **state)
{
	harness h;
	aw_client *c;
	aw_err err;
	aw_metadata md[2] = {{"x-trace-id", "abc123", 0}, {"authorization", "Bearer alpha", 0}};
	aw_metadata bad = {"Bad Key", "v", 0};
	aw_call_opts o = AW_CALL_OPTS_INIT;

	(void)state;
	auth_start(&h);
	assert_int_equal(aw_client_new(&c, h.target, NULL, &err), 0);
	assert_int_equal(probe(c, NULL, &err), AW_EUNAUTH);
	o.metadata = md;
	o.n_metadata = 2;
	assert_int_equal(probe(c, &o, &err), AW_ENOTFOUND);
	o.metadata = &bad;
	o.n_metadata = 1;
	assert_int_equal(probe(c, &o, &err), AW_EINVAL);
	assert_non_null(strstr(err.msg, "Bad Key"));
	o.n_metadata = AW_CALL_MAX_METADATA + 1;
	assert_int_equal(probe(c, &o, &err), AW_EINVAL);
	aw_client_free(c);
	auth_stop(&h);
}

static int64_t unix_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return aw_client_deadline_from_timespec(ts.tv_sec, (int32_t)ts.tv_nsec);
}

/* A deadline passed on from the call being served: one already gone fails at
 * once without a write being sent (or retried), a later one lets the call
 * through; a relative deadline of its own too. */
static void test_client_passes_on_a_deadline(void **state)
{
	harness h;
	aw_client *c;
	aw_err err;
	aw_call_opts o = AW_CALL_OPTS_INIT;
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	int64_t t0;

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(harness_start(&h), 0);
	assert_int_equal(aw_client_new(&c, h.target, NULL, &err), 0);
	s.key = "late";
	s.name = "late";
	req.series = &s;
	o.deadline_at_us = unix_us() - 1000;
	t0 = now_ms();
	assert_int_equal(aw_client_series_create(c, &req, &out, &err, &o), AW_ETIMEDOUT);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(count_series(c), 0);
	o.deadline_at_us = unix_us() + 5 * 1000000;
	assert_int_equal(aw_client_series_create(c, &req, &out, &err, &o), 0);
	aniworld__v1__anime_series__free_unpacked(out, NULL);
	o.deadline_at_us = 0;
	o.deadline_ms = 5000;
	assert_int_equal(probe(c, &o, &err), AW_ENOTFOUND);
	aw_client_free(c);
	harness_cleanup(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_retries_reads_while_the_server_comes_up),
		cmocka_unit_test(test_client_retries_writes_with_a_request_id),
		cmocka_unit_test(test_client_does_not_retry_writes_without_a_request_id),
		cmocka_unit_test(test_client_rotates_its_bearer_token),
		cmocka_unit_test(test_client_sends_the_metadata_of_one_call),
		cmocka_unit_test(test_client_passes_on_a_deadline),
		cmocka_unit_test(test_client_retries_can_be_disabled),
		cmocka_unit_test(test_client_refuses_bad_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
