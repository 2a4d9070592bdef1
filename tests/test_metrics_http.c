/*
 * Tests server/metrics_http.c on its own, with exposition functions of the
 * test's making: what the end-to-end tests cannot arrange with the server's
 * real metrics, a reply too large for the kernel to buffer (the reply deadline)
 * and a render that fails. Deadlines, the cap and stalled connections with the
 * real server are in tests/e2e/test_e2e_metrics.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "metrics_http.h"

#define BIG_REPLY (16 << 20) /* past the most a loopback socket buffers (4 MiB) */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An exposition of BIG_REPLY bytes of comment lines. */
static int render_big(void *arg, FILE *out, aw_err *err)
{
	char line[1024];

	(void)arg;
	(void)err;
	memset(line, 'x', sizeof(line));
	line[0] = '#';
	line[sizeof(line) - 1] = '\n';
	for (size_t n = 0; n < BIG_REPLY; n += sizeof(line))
		fwrite(line, 1, sizeof(line), out);
	return 0;
}

static int render_failing(void *arg, FILE *out, aw_err *err)
{
	(void)arg;
	(void)out;
	return aw_err_set(err, AW_EINTERNAL, "the test's render fails");
}

/* Connects to the endpoint with a receive buffer of `rcvbuf` bytes (0: the
 * system's) and sends `request`; returns the fd. Reads wait at most 30 s. */
static int send_request(const aw_metrics_http *h, int rcvbuf, const char *request)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = 30};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	if (rcvbuf > 0)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	a.sin_port = htons((uint16_t)aw_metrics_http_port(h));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(send(fd, request, strlen(request), MSG_NOSIGNAL), (ssize_t)strlen(request));
	return fd;
}

/* Reads until the end of the stream or an error; the bytes read, and in *error
 * the errno that ended it (0: the end of the stream). */
static size_t read_to_end(int fd, int *error)
{
	static char buf[65536];
	size_t total = 0;
	ssize_t n;

	*error = 0;
	while ((n = recv(fd, buf, sizeof(buf), 0)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error = errno;
			break;
		}
		total += (size_t)n;
	}
	return total;
}

/* A client that asks for the metrics and stops reading is reset when the
 * reply deadline passes, and what was still unsent is dropped. */
static void test_metrics_http_reply_deadline_resets_a_stopped_reader(void **state)
{
	aw_metrics_http *h = NULL;
	aw_err err;
	struct pollfd p;
	long long start, ms;
	size_t got;
	int fd, error;

	(void)state;
	assert_int_equal(aw_metrics_http_start(&h, "127.0.0.1:0", 4, 500, render_big, NULL, &err), 0);
	start = now_ms();
	fd = send_request(h, 4096, "GET /metrics HTTP/1.1\r\n\r\n");
	/* With no events asked, poll(2) wakes for an error or a hang-up only: the
	 * reset, not the reply's bytes. */
	p = (struct pollfd){.fd = fd, .events = 0};
	assert_int_equal(poll(&p, 1, 10000), 1);
	ms = now_ms() - start;
	print_message("reset %lld ms after the request (deadline 500 ms)\n", ms);
	assert_true(p.revents & (POLLERR | POLLHUP));
	assert_true(ms >= 450);
	got = read_to_end(fd, &error);
	assert_true(got < BIG_REPLY);
	assert_int_equal(error, ECONNRESET);
	close(fd);
	aw_metrics_http_stop(h);
}

/* A reply that fits is sent whole, Content-Length and all. */
static void test_metrics_http_big_reply_sent_whole_to_a_reader(void **state)
{
	aw_metrics_http *h = NULL;
	aw_err err;
	size_t got;
	int fd, error;

	(void)state;
	assert_int_equal(aw_metrics_http_start(&h, "127.0.0.1:0", 4, 30000, render_big, NULL, &err),
			 0);
	fd = send_request(h, 0, "GET /metrics HTTP/1.0\r\n\r\n");
	got = read_to_end(fd, &error);
	assert_int_equal(error, 0);
	assert_true(got > BIG_REPLY);
	close(fd);
	aw_metrics_http_stop(h);
}

/* Stopping in the middle of a reply closes the connection and frees the reply
 * (the sanitizers and valgrind check the freeing). */
static void test_metrics_http_stop_mid_reply(void **state)
{
	aw_metrics_http *h = NULL;
	aw_err err;
	struct pollfd p;
	int fd, error;

	(void)state;
	assert_int_equal(aw_metrics_http_start(&h, "127.0.0.1:0", 4, 30000, render_big, NULL, &err),
			 0);
	fd = send_request(h, 4096, "GET /metrics HTTP/1.1\r\n\r\n");
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 10000), 1); /* the reply has begun */
	aw_metrics_http_stop(h);
	assert_true(read_to_end(fd, &error) < BIG_REPLY);
	close(fd);
}

static void test_metrics_http_render_failure_is_500(void **state)
{
	aw_metrics_http *h = NULL;
	aw_err err;
	char buf[1024];
	ssize_t n;
	size_t len = 0;
	int fd;

	(void)state;
	assert_int_equal(
		aw_metrics_http_start(&h, "127.0.0.1:0", 4, 30000, render_failing, NULL, &err), 0);
	fd = send_request(h, 0, "GET /metrics HTTP/1.1\r\n\r\n");
	while (len < sizeof(buf) - 1 && (n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	assert_non_null(strstr(buf, "HTTP/1.1 500"));
	close(fd);
	aw_metrics_http_stop(h);
}

static void test_metrics_http_limits_below_one_refused(void **state)
{
	aw_metrics_http *h = NULL;
	aw_err err;

	(void)state;
	assert_int_equal(aw_metrics_http_start(&h, "127.0.0.1:0", 0, 5000, render_big, NULL, &err),
			 AW_EINVAL);
	assert_non_null(strstr(err.msg, "--metrics-max-connections"));
	assert_int_equal(aw_metrics_http_start(&h, "127.0.0.1:0", 4, 0, render_big, NULL, &err),
			 AW_EINVAL);
	assert_non_null(strstr(err.msg, "--metrics-timeout"));
	assert_null(h);
	aw_metrics_http_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_http_reply_deadline_resets_a_stopped_reader),
		cmocka_unit_test(test_metrics_http_big_reply_sent_whole_to_a_reader),
		cmocka_unit_test(test_metrics_http_stop_mid_reply),
		cmocka_unit_test(test_metrics_http_render_failure_is_500),
		cmocka_unit_test(test_metrics_http_limits_below_one_refused),
	};

	aw_log_set_level(AW_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
