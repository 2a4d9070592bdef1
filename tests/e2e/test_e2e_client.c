/*
 * End to end: the client library's own behaviour (client/client.c, retry.c):
 * which calls it retries, and that it refuses options that make no sense.
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

/* A write is not sent twice: against a server that is down it fails fast with
 * UNAVAILABLE, retries enabled or not. */
static void test_client_does_not_retry_writes(void **state)
{
	late_server ls;
	aw_client *c;
	aw_err err;
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;
	int64_t t0;

	(void)state;
	late_start(&ls, 1500);
	c = client_for(&ls, 5);
	s.key = "never";
	s.name = "never";
	req.series = &s;
	t0 = now_ms();
	assert_int_equal(aw_client_series_create(c, &req, &out, &err, NULL), AW_EUNAVAIL);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_retries_reads_while_the_server_comes_up),
		cmocka_unit_test(test_client_does_not_retry_writes),
		cmocka_unit_test(test_client_retries_can_be_disabled),
		cmocka_unit_test(test_client_refuses_bad_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
