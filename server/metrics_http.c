/*
 * The metrics endpoint: a listening socket and one thread that answers each
 * connection in turn (scrapes are rare and short) with a single response and
 * closes it. Written here rather than with an HTTP library: the one Debian
 * offers (libmicrohttpd) brings GnuTLS and its dependencies into the process,
 * 2.3 MiB more resident memory at start measured, for a request line and a
 * reply. What is accepted is narrow on purpose: a request line and headers of
 * at most 8 KiB, read within 5 s, no body.
 */
#define _GNU_SOURCE /* accept4 */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"

#define MAX_REQUEST 8192
#define IO_TIMEOUT_S 5

struct aw_metrics_http {
	int listen_fd;
	int stop_fd;          /* eventfd: written once to stop the thread */
	pthread_t thread;
	aw_metrics_render_fn *render;
	void *arg;
	int port;
};

/* Writes all of buf; 0, or -1 when the peer went away or timed out. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void respond(int fd, const char *status, const char *extra_headers, const char *type,
		    const char *body, size_t len, int head_only)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			 "Connection: close\r\n\r\n",
			 status, type, len, extra_headers);

	if (write_all(fd, head, (size_t)n) == 0 && !head_only)
		write_all(fd, body, len);
}

static void respond_text(int fd, const char *status, const char *extra_headers, const char *text)
{
	respond(fd, status, extra_headers, "text/plain; charset=utf-8", text, strlen(text), 0);
}

/* Reads the request head (up to the blank line) into buf; its length, or -1. */
static ssize_t read_head(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len < cap - 1) {
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL)
			return (ssize_t)len;
	}
	return -1; /* too long */
}

static void serve_metrics(aw_metrics_http *h, int fd, int head_only)
{
	char *body = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&body, &len);
	aw_err err;
	int rc;

	if (out == NULL) {
		respond_text(fd, "500 Internal Server Error", "", "out of memory\n");
		return;
	}
	rc = h->render(h->arg, out, &err);
	if (fclose(out) != 0 && rc == 0)
		rc = aw_err_set(&err, AW_ENOMEM, "out of memory writing the metrics");
	if (rc != 0) {
		aw_log(AW_LOG_WARN, "metrics: %s", err.msg);
		respond_text(fd, "500 Internal Server Error", "", "cannot render the metrics\n");
	} else {
		respond(fd, "200 OK", "", "text/plain; version=0.0.4; charset=utf-8", body, len,
			head_only);
	}
	free(body);
}

/* One connection: one request, one response, closed. */
static void serve_connection(aw_metrics_http *h, int fd)
{
	struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
	char buf[MAX_REQUEST], *method, *target, *version, *save = NULL;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (read_head(fd, buf, sizeof(buf)) < 0)
		return; /* gone, too slow or too long: nothing worth answering */
	buf[strcspn(buf, "\r\n")] = '\0'; /* the request line */
	method = strtok_r(buf, " ", &save);
	target = strtok_r(NULL, " ", &save);
	version = strtok_r(NULL, " ", &save);
	if (method == NULL || target == NULL || version == NULL ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		respond_text(fd, "400 Bad Request", "", "expected: GET /metrics HTTP/1.1\n");
		return;
	}
	target[strcspn(target, "?")] = '\0'; /* a query string changes nothing */
	if (strcmp(target, "/metrics") != 0) {
		respond_text(fd, "404 Not Found", "", "not found: try /metrics\n");
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		respond_text(fd, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", "only GET /metrics\n");
		return;
	}
	serve_metrics(h, fd, strcmp(method, "HEAD") == 0);
}

static void *serve(void *arg)
{
	aw_metrics_http *h = arg;
	struct pollfd fds[2] = {{.fd = h->listen_fd, .events = POLLIN},
				{.fd = h->stop_fd, .events = POLLIN}};

	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			aw_log(AW_LOG_ERROR, "metrics: poll: %s; the endpoint stops", strerror(errno));
			return NULL;
		}
		if (fds[1].revents != 0)
			return NULL;
		if (fds[0].revents & POLLIN) {
			int fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0) {
				serve_connection(h, fd);
				close(fd);
			}
		}
	}
}

/* Splits "host:port" or "[v6]:port" and resolves the host (numeric or a name). */
static int resolve(const char *listen, struct addrinfo **ai, aw_err *err)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	const char *h = listen;
	size_t hlen;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE};
	int rc;

	if (colon == NULL || colon[1] == '\0')
		return aw_err_set(err, AW_EINVAL, "--metrics-listen \"%s\": expected host:port", listen);
	hlen = (size_t)(colon - listen);
	if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
		h = listen + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return aw_err_set(err, AW_EINVAL, "--metrics-listen \"%s\": expected host:port", listen);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	rc = getaddrinfo(host, colon + 1, &hints, ai);
	if (rc != 0)
		return aw_err_set(err, AW_EINVAL, "--metrics-listen \"%s\": %s", listen,
				  gai_strerror(rc));
	return 0;
}

/* A listening socket on `ai`: its fd (and *port, the bound port), or the
 * negative AW_E* code of the error. */
static int open_listener(const struct addrinfo *ai, const char *listen_addr, int *port, aw_err *err)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	int one = 1;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);

	if (fd < 0)
		return aw_err_set(err, AW_EUNAVAIL, "--metrics-listen %s: %s", listen_addr,
				  strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
		int e = errno;

		close(fd);
		return aw_err_set(err, AW_EUNAVAIL, "--metrics-listen %s: %s", listen_addr,
				  strerror(e));
	}
	*port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
					    : ntohs(((struct sockaddr_in *)&bound)->sin_port);
	return fd;
}

int aw_metrics_http_start(aw_metrics_http **out, const char *listen_addr,
			  aw_metrics_render_fn *render, void *arg, aw_err *err)
{
	aw_metrics_http *h;
	struct addrinfo *ai = NULL;
	int rc;

	*out = NULL;
	rc = resolve(listen_addr, &ai, err);
	if (rc != 0)
		return rc;
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		freeaddrinfo(ai);
		return aw_err_set(err, AW_ENOMEM, "out of memory for the metrics endpoint");
	}
	h->render = render;
	h->arg = arg;
	h->stop_fd = -1;
	/* A negative result is the AW_E* code of the error. */
	h->listen_fd = open_listener(ai, listen_addr, &h->port, err);
	freeaddrinfo(ai);
	if (h->listen_fd < 0) {
		rc = h->listen_fd;
		free(h);
		return rc;
	}
	h->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (h->stop_fd < 0 || pthread_create(&h->thread, NULL, serve, h) != 0) {
		rc = aw_err_set(err, AW_ENOMEM, "cannot start the metrics endpoint: %s",
				strerror(errno));
		if (h->stop_fd >= 0)
			close(h->stop_fd);
		close(h->listen_fd);
		free(h);
		return rc;
	}
	*out = h;
	return 0;
}

int aw_metrics_http_port(const aw_metrics_http *h)
{
	return h->port;
}

void aw_metrics_http_stop(aw_metrics_http *h)
{
	uint64_t one = 1;

	if (h == NULL)
		return;
	while (write(h->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(h->thread, NULL);
	close(h->stop_fd);
	close(h->listen_fd);
	free(h);
}
