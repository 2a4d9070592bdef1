#include "metrics_http.h"

#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "log.h"

struct aw_metrics_http {
	struct MHD_Daemon *daemon;
	aw_metrics_render_fn *render;
	void *arg;
	int port;
};

#define TEXT_FORMAT "text/plain; version=0.0.4; charset=utf-8"

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ok;

	if (r == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ok = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **state)
{
	aw_metrics_http *h = cls;
	char *body = NULL;
	size_t len = 0;
	FILE *out;
	aw_err err;
	int rc;

	(void)version;
	(void)upload_data;
	if (*state == NULL) {
		/* The headers only: answer once the request is whole. */
		*state = h;
		return MHD_YES;
	}
	*upload_size = 0;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     (char *)"only GET /metrics\n", 18, MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", (char *)"not found: try /metrics\n",
			     24, MHD_RESPMEM_PERSISTENT);

	out = open_memstream(&body, &len);
	if (out == NULL)
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
			     (char *)"out of memory\n", 14, MHD_RESPMEM_PERSISTENT);
	rc = h->render(h->arg, out, &err);
	if (fclose(out) != 0 && rc == 0)
		rc = aw_err_set(&err, AW_ENOMEM, "out of memory writing the metrics");
	if (rc != 0) {
		free(body);
		aw_log(AW_LOG_WARN, "metrics: %s", err.msg);
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
			     (char *)"cannot render the metrics\n", 26, MHD_RESPMEM_PERSISTENT);
	}
	return reply(conn, MHD_HTTP_OK, TEXT_FORMAT, body, len, MHD_RESPMEM_MUST_FREE);
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

int aw_metrics_http_start(aw_metrics_http **out, const char *listen, aw_metrics_render_fn *render,
			  void *arg, aw_err *err)
{
	aw_metrics_http *h;
	struct addrinfo *ai = NULL;
	const union MHD_DaemonInfo *info;
	int rc;

	*out = NULL;
	rc = resolve(listen, &ai, err);
	if (rc != 0)
		return rc;
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		freeaddrinfo(ai);
		return aw_err_set(err, AW_ENOMEM, "out of memory for the metrics endpoint");
	}
	h->render = render;
	h->arg = arg;
	/* One polling thread; scrapes are rare and short. */
	h->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			(ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)10, MHD_OPTION_END);
	freeaddrinfo(ai);
	if (h->daemon == NULL) {
		free(h);
		return aw_err_set(err, AW_EUNAVAIL, "--metrics-listen %s: cannot listen there", listen);
	}
	info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info != NULL ? info->port : 0;
	*out = h;
	return 0;
}

int aw_metrics_http_port(const aw_metrics_http *h)
{
	return h->port;
}

void aw_metrics_http_stop(aw_metrics_http *h)
{
	if (h == NULL)
		return;
	MHD_stop_daemon(h->daemon);
	free(h);
}
