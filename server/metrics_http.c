/*
 * The metrics endpoint: a listening socket and one thread running a poll(2)
 * loop over non-blocking sockets. Each connection sends one request and gets
 * one reply, then is closed; a connection that stalls only holds its own slot,
 * so a scrape is answered while any number of others wait (the endpoint once
 * served one connection at a time, and three stalled ones made every scrape
 * miss Prometheus' 10 s timeout: issue 16).
 *
 * Every connection has a deadline, counted from its accept for the request
 * head and from the end of the head for the reply: a client that trickles
 * bytes cannot stretch it. At the cap on open connections a new one closes
 * the oldest connection still waiting for its request, so whoever opens
 * connections and sends nothing only ever loses their own.
 *
 * Written here rather than with an HTTP library: the one Debian offers
 * (libmicrohttpd) brings GnuTLS and its dependencies into the process,
 * 2.3 MiB more resident memory at start measured, for a request line and a
 * reply. What is accepted is narrow on purpose: a request line and headers of
 * at most 8 KiB, no body.
 */
#define _GNU_SOURCE /* accept4, memmem */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define MAX_REQUEST 8192    /* request line and headers, the NUL included */
#define ACCEPT_PAUSE_MS 100 /* after accept(2) failed for want of descriptors or memory */
#define ACCEPT_BATCH 64     /* connections taken from the backlog per wake-up */

/* One open connection: it reads its request head, then sends its reply. */
typedef struct conn {
	int fd;              /* -1: the slot is free */
	int writing;         /* 0: reading the request head; 1: sending the reply */
	uint64_t seq;        /* accept order: at the cap the lowest reading one goes */
	int64_t deadline_ms; /* monotonic; the head, then the reply, must be through by it */
	char *req;           /* the head read so far (MAX_REQUEST bytes) while reading */
	size_t req_len;
	char head[512];      /* the reply's status line and headers */
	size_t head_len;
	const char *body;    /* the reply's body: `rendered` or static text */
	size_t body_len;
	char *rendered;      /* a body rendered for this connection, freed with it */
	size_t sent;         /* bytes of head and body sent so far */
} conn;

struct aw_metrics_http {
	int listen_fd;
	int stop_fd;          /* eventfd: written once to stop the thread */
	pthread_t thread;
	aw_metrics_render_fn *render;
	void *arg;
	int port;
	int max_conns;
	int64_t timeout_ms;
	conn *conns;          /* max_conns slots */
	struct pollfd *pfds;  /* the stop fd, the listener, then one per slot */
	int open;             /* slots in use */
	uint64_t next_seq;
	int64_t accept_paused_until; /* monotonic ms; 0: not paused */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Closes the connection and frees its slot. `abort` resets it instead of a
 * graceful close, dropping whatever of the reply the kernel still holds: for
 * a client that stopped reading. */
static void conn_close(aw_metrics_http *h, conn *c, int abort)
{
	if (abort) {
		struct linger l = {.l_onoff = 1, .l_linger = 0};

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(c->fd);
	free(c->req);
	free(c->rendered);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	h->open--;
}

/* Sets the reply: status line, headers and body (borrowed until the
 * connection closes; `head_only` leaves it out, as HEAD asks). */
static void reply(conn *c, const char *status, const char *extra_headers, const char *type,
		  const char *body, size_t len, int head_only)
{
	int n = snprintf(c->head, sizeof(c->head),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			 "Connection: close\r\n\r\n",
			 status, type, len, extra_headers);

	/* Our own short strings: it always fits, but never send past the buffer. */
	c->head_len = n > 0 && (size_t)n < sizeof(c->head) ? (size_t)n : 0;
	c->body = head_only ? "" : body;
	c->body_len = head_only ? 0 : len;
}

static void reply_text(conn *c, const char *status, const char *extra_headers, const char *text)
{
	reply(c, status, extra_headers, "text/plain; charset=utf-8", text, strlen(text), 0);
}

static void reply_metrics(aw_metrics_http *h, conn *c, int head_only)
{
	size_t len = 0;
	FILE *out = open_memstream(&c->rendered, &len);
	aw_err err;
	int rc;

	if (out == NULL) {
		reply_text(c, "500 Internal Server Error", "", "out of memory\n");
		return;
	}
	rc = h->render(h->arg, out, &err);
	if (fclose(out) != 0 && rc == 0)
		rc = aw_err_set(&err, AW_ENOMEM, "out of memory writing the metrics");
	if (rc != 0) {
		aw_log(AW_LOG_WARN, "metrics: %s", err.msg);
		reply_text(c, "500 Internal Server Error", "", "cannot render the metrics\n");
		return;
	}
	reply(c, "200 OK", "", "text/plain; version=0.0.4; charset=utf-8", c->rendered, len,
	      head_only);
}

/* Splits a request line at its first two spaces into method, target and
 * version, in place; 0, or -1 when one of the three is missing or empty. */
static int split_request_line(char *line, char **method, char **target, char **version)
{
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;

	if (sp2 == NULL)
		return -1;
	*sp1 = '\0';
	*sp2 = '\0';
	*method = line;
	*target = sp1 + 1;
	*version = sp2 + 1;
	return **method != '\0' && **target != '\0' && **version != '\0' ? 0 : -1;
}

/* Chooses the reply to the complete request head in c->req. */
static void answer(aw_metrics_http *h, conn *c)
{
	char *line = c->req, *method, *target, *version;

	line[strcspn(line, "\r\n")] = '\0';
	if (split_request_line(line, &method, &target, &version) != 0 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		reply_text(c, "400 Bad Request", "", "expected: GET /metrics HTTP/1.1\n");
		return;
	}
	target[strcspn(target, "?")] = '\0'; /* a query string changes nothing */
	if (strcmp(target, "/metrics") != 0) {
		reply_text(c, "404 Not Found", "", "not found: try /metrics\n");
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		reply_text(c, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", "only GET /metrics\n");
		return;
	}
	reply_metrics(h, c, strcmp(method, "HEAD") == 0);
}

/* Sends what the socket takes of the reply; closes the connection once all
 * of it is sent, or when the peer went away. */
static void on_writable(aw_metrics_http *h, conn *c)
{
	for (;;) {
		struct iovec iov[2];
		struct msghdr msg = {.msg_iov = iov};
		size_t body_off = c->sent > c->head_len ? c->sent - c->head_len : 0;
		ssize_t n;

		if (c->sent < c->head_len) {
			iov[msg.msg_iovlen].iov_base = c->head + c->sent;
			iov[msg.msg_iovlen++].iov_len = c->head_len - c->sent;
		}
		if (body_off < c->body_len) {
			iov[msg.msg_iovlen].iov_base = (char *)c->body + body_off;
			iov[msg.msg_iovlen++].iov_len = c->body_len - body_off;
		}
		if (msg.msg_iovlen == 0) {
			conn_close(h, c, 0);
			return;
		}
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* the loop waits for POLLOUT */
		if (n <= 0) {
			conn_close(h, c, 0);
			return;
		}
		c->sent += (size_t)n;
	}
}

/* Reads what has arrived of the request head; once the blank line that ends
 * it is in, the reply is chosen and sending begins. A peer that leaves or
 * sends more than MAX_REQUEST without ending its head is closed unanswered. */
static void on_readable(aw_metrics_http *h, conn *c, int64_t now)
{
	ssize_t n = recv(c->fd, c->req + c->req_len, MAX_REQUEST - 1 - c->req_len, 0);

	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		conn_close(h, c, 0);
		return;
	}
	c->req_len += (size_t)n;
	c->req[c->req_len] = '\0';
	if (memmem(c->req, c->req_len, "\r\n\r\n", 4) == NULL &&
	    memmem(c->req, c->req_len, "\n\n", 2) == NULL) {
		if (c->req_len == MAX_REQUEST - 1)
			conn_close(h, c, 0); /* too long: nothing worth answering */
		return;
	}
	answer(h, c);
	free(c->req);
	c->req = NULL;
	c->writing = 1;
	c->deadline_ms = now + h->timeout_ms;
	on_writable(h, c);
}

/* The connection to close for a new one at the cap: the oldest still reading
 * its request. NULL when every one is sending a reply (they end by their
 * deadlines; new connections wait in the backlog meanwhile). */
static conn *oldest_idle(aw_metrics_http *h)
{
	conn *oldest = NULL;

	for (int i = 0; i < h->max_conns; i++) {
		conn *c = &h->conns[i];

		if (c->fd >= 0 && !c->writing && (oldest == NULL || c->seq < oldest->seq))
			oldest = c;
	}
	return oldest;
}

static conn *free_slot(aw_metrics_http *h)
{
	for (int i = 0; i < h->max_conns; i++) {
		if (h->conns[i].fd < 0)
			return &h->conns[i];
	}
	return NULL;
}

/* Takes the connections waiting in the backlog, making room at the cap. */
static void accept_new(aw_metrics_http *h, int64_t now)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		conn *c;
		int fd;

		if (h->open == h->max_conns && oldest_idle(h) == NULL)
			return;
		fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* Out of descriptors or memory: the listener stays readable, so
			 * pause rather than spin. */
			aw_log(AW_LOG_WARN, "metrics: accept: %s; new connections wait %d ms",
			       strerror(errno), ACCEPT_PAUSE_MS);
			h->accept_paused_until = now + ACCEPT_PAUSE_MS;
			return;
		}
		if (h->open == h->max_conns)
			conn_close(h, oldest_idle(h), 0);
		c = free_slot(h);
		c->req = malloc(MAX_REQUEST);
		if (c->req == NULL) {
			aw_log(AW_LOG_WARN, "metrics: out of memory for a connection; closed");
			close(fd);
			continue;
		}
		c->fd = fd;
		c->seq = h->next_seq++;
		c->deadline_ms = now + h->timeout_ms;
		h->open++;
	}
}

/* Closes the connections whose deadline has passed; returns how long until
 * the next one does (or new connections may be accepted again after a
 * pause), in ms for poll(2), -1 for no deadline. */
static int expire(aw_metrics_http *h, int64_t now)
{
	int64_t next = -1;

	if (h->accept_paused_until != 0) {
		if (h->accept_paused_until <= now)
			h->accept_paused_until = 0;
		else
			next = h->accept_paused_until - now;
	}
	for (int i = 0; i < h->max_conns; i++) {
		conn *c = &h->conns[i];

		if (c->fd < 0)
			continue;
		if (c->deadline_ms <= now) {
			aw_log(AW_LOG_DEBUG, "metrics: a connection took over %lld ms to %s; closed",
			       (long long)h->timeout_ms,
			       c->writing ? "take its reply" : "send its request");
			conn_close(h, c, c->writing);
			continue;
		}
		if (next < 0 || c->deadline_ms - now < next)
			next = c->deadline_ms - now;
	}
	return next > INT32_MAX ? INT32_MAX : (int)next;
}

static void *serve(void *arg)
{
	aw_metrics_http *h = arg;
	struct pollfd *stop = &h->pfds[0], *listener = &h->pfds[1], *slots = &h->pfds[2];

	stop->fd = h->stop_fd;
	stop->events = POLLIN;
	listener->events = POLLIN;
	for (;;) {
		int64_t now = now_ms();
		int timeout = expire(h, now);
		int room = h->open < h->max_conns || oldest_idle(h) != NULL;

		/* A negative fd is skipped by poll(2): free slots, and the listener
		 * while accepting is paused or there is no room for one more. */
		listener->fd = h->accept_paused_until == 0 && room ? h->listen_fd : -1;
		for (int i = 0; i < h->max_conns; i++) {
			slots[i].fd = h->conns[i].fd;
			slots[i].events = h->conns[i].writing ? POLLOUT : POLLIN;
			slots[i].revents = 0;
		}
		if (poll(h->pfds, (nfds_t)h->max_conns + 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			aw_log(AW_LOG_ERROR, "metrics: poll: %s; the endpoint stops", strerror(errno));
			break;
		}
		if (stop->revents != 0)
			break;
		now = now_ms();
		/* Errors and hang-ups show in the next read or write. */
		for (int i = 0; i < h->max_conns; i++) {
			conn *c = &h->conns[i];

			if (slots[i].revents == 0 || c->fd < 0)
				continue;
			if (c->writing)
				on_writable(h, c);
			else
				on_readable(h, c, now);
		}
		if (listener->revents != 0)
			accept_new(h, now);
	}
	for (int i = 0; i < h->max_conns; i++) {
		if (h->conns[i].fd >= 0)
			conn_close(h, &h->conns[i], 0);
	}
	return NULL;
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
	/* Non-blocking: the loop accepts until the backlog is empty. The backlog
	 * is the system's largest, so that a burst of connections waits there
	 * instead of having its handshakes dropped and retried a second later. */
	if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, SOMAXCONN) != 0 ||
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

/* Frees what aw_metrics_http_start() made; the thread is not running. */
static void destroy(aw_metrics_http *h)
{
	if (h->stop_fd >= 0)
		close(h->stop_fd);
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	free(h->conns);
	free(h->pfds);
	free(h);
}

int aw_metrics_http_start(aw_metrics_http **out, const char *listen_addr, int max_connections,
			  int64_t timeout_ms, aw_metrics_render_fn *render, void *arg, aw_err *err)
{
	aw_metrics_http *h;
	struct addrinfo *ai = NULL;
	int rc;

	*out = NULL;
	if (max_connections < 1)
		return aw_err_set(err, AW_EINVAL, "--metrics-max-connections: must be at least 1");
	if (timeout_ms < 1)
		return aw_err_set(err, AW_EINVAL, "--metrics-timeout: must be at least 1ms");
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
	h->max_conns = max_connections;
	h->timeout_ms = timeout_ms;
	h->stop_fd = -1;
	/* A negative result is the AW_E* code of the error. */
	h->listen_fd = open_listener(ai, listen_addr, &h->port, err);
	freeaddrinfo(ai);
	if (h->listen_fd < 0) {
		rc = h->listen_fd;
		h->listen_fd = -1;
		destroy(h);
		return rc;
	}
	h->conns = calloc((size_t)max_connections, sizeof(*h->conns));
	h->pfds = calloc((size_t)max_connections + 2, sizeof(*h->pfds));
	if (h->conns == NULL || h->pfds == NULL) {
		destroy(h);
		return aw_err_set(err, AW_ENOMEM, "out of memory for %d metrics connections",
				  max_connections);
	}
	for (int i = 0; i < max_connections; i++)
		h->conns[i].fd = -1;
	h->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (h->stop_fd < 0) {
		rc = aw_err_set(err, AW_ENOMEM, "cannot start the metrics endpoint: %s",
				strerror(errno));
		destroy(h);
		return rc;
	}
	rc = pthread_create(&h->thread, NULL, serve, h);
	if (rc != 0) {
		rc = aw_err_set(err, AW_ENOMEM, "cannot start the metrics endpoint: %s", strerror(rc));
		destroy(h);
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
	pthread_join(h->thread, NULL); /* it closes every connection before it ends */
	destroy(h);
}
