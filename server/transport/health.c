/*
 * The health service. Watchers are kept in a list under one mutex; status
 * changes are rare, so updates simply walk it.
 */
#include "health.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/status.h>

#include "call.h"
#include "grpc/health/v1/health.pb-c.h"

typedef Grpc__Health__V1__HealthCheckResponse__ServingStatus serving_status;

#define ST_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define ST_NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define ST_UNKNOWN_SERVICE GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

typedef struct watcher {
	struct watcher *next;
	aw_call *call;        /* referenced */
	int service;          /* index into names, -1 = unknown name */
} watcher;

struct aw_health {
	Grpc__Health__V1__Health_Service base; /* first: the transport sees a ProtobufCService */
	pthread_mutex_t mu;                    /* guards everything below */
	char **names;                          /* names[0] is "", names[1] "liveness" */
	size_t n_names;
	int serving;
	int alive;                             /* the status of "liveness" */
	int shut_down;
	watcher *watchers;
};

/* The index of "liveness" in names. */
#define LIVENESS 1

static aw_health *of(Grpc__Health__V1__Health_Service *svc)
{
	return (aw_health *)svc;
}

static int find(const aw_health *h, const char *name)
{
	for (size_t i = 0; i < h->n_names; i++) {
		if (strcmp(h->names[i], name) == 0)
			return (int)i;
	}
	return -1;
}

static serving_status status_of(const aw_health *h, int service)
{
	if (service < 0)
		return ST_UNKNOWN_SERVICE;
	if (service == LIVENESS)
		return h->alive ? ST_SERVING : ST_NOT_SERVING;
	return h->serving ? ST_SERVING : ST_NOT_SERVING;
}

static void health_check(Grpc__Health__V1__Health_Service *svc,
			 const Grpc__Health__V1__HealthCheckRequest *in,
			 Grpc__Health__V1__HealthCheckResponse_Closure closure, void *closure_data)
{
	aw_health *h = of(svc);
	Grpc__Health__V1__HealthCheckResponse out = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	int service;

	pthread_mutex_lock(&h->mu);
	service = find(h, in->service);
	out.status = status_of(h, service);
	pthread_mutex_unlock(&h->mu);
	if (service < 0) {
		aw_call_set_status(closure_data, GRPC_STATUS_NOT_FOUND, "unknown service \"%s\"",
				   in->service);
		closure(NULL, closure_data);
		return;
	}
	closure(&out, closure_data);
}

static void send_status(aw_call *call, serving_status st)
{
	Grpc__Health__V1__HealthCheckResponse out = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

	out.status = st;
	if (aw_call_send(call, &out.base) == AW_EOVERLOAD)
		aw_call_finish_reason(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "WATCHER_TOO_SLOW",
				      "health watcher reads too slowly");
}

static void watcher_done(aw_call *call, void *arg)
{
	aw_health *h = arg;
	watcher **pp, *w = NULL;

	pthread_mutex_lock(&h->mu);
	for (pp = &h->watchers; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->call == call) {
			w = *pp;
			*pp = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&h->mu);
	if (w != NULL) {
		aw_call_unref(w->call);
		free(w);
	}
}

static void health_watch(Grpc__Health__V1__Health_Service *svc,
			 const Grpc__Health__V1__HealthCheckRequest *in,
			 Grpc__Health__V1__HealthCheckResponse_Closure closure, void *closure_data)
{
	aw_health *h = of(svc);
	aw_call *call = closure_data;
	watcher *w = malloc(sizeof(*w));

	(void)closure;
	if (w == NULL) {
		aw_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for a watcher");
		return;
	}
	pthread_mutex_lock(&h->mu);
	if (h->shut_down) {
		pthread_mutex_unlock(&h->mu);
		free(w);
		aw_call_finish(call, GRPC_STATUS_UNAVAILABLE, "server is shutting down");
		return;
	}
	w->call = call;
	w->service = find(h, in->service);
	aw_call_ref(call);
	aw_call_on_done(call, watcher_done, h);
	w->next = h->watchers;
	h->watchers = w;
	send_status(call, status_of(h, w->service));
	pthread_mutex_unlock(&h->mu);
}

int aw_health_new(aw_health **out, aw_err *err)
{
	aw_health *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (h == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the health service");
	grpc__health__v1__health__init(&h->base, NULL);
	h->base.check = health_check;
	h->base.watch = health_watch;
	pthread_mutex_init(&h->mu, NULL);
	if (aw_health_add(h, "", err) != 0 || aw_health_add(h, AW_HEALTH_LIVENESS, err) != 0) {
		aw_health_free(h);
		return AW_ENOMEM;
	}
	*out = h;
	return 0;
}

int aw_health_add(aw_health *h, const char *service_name, aw_err *err)
{
	char **names;
	char *copy = strdup(service_name);

	pthread_mutex_lock(&h->mu);
	names = copy != NULL ? realloc(h->names, (h->n_names + 1) * sizeof(*names)) : NULL;
	if (names == NULL) {
		pthread_mutex_unlock(&h->mu);
		free(copy);
		return aw_err_set(err, AW_ENOMEM, "out of memory adding %s to health", service_name);
	}
	h->names = names;
	h->names[h->n_names++] = copy;
	pthread_mutex_unlock(&h->mu);
	return 0;
}

ProtobufCService *aw_health_service(aw_health *h)
{
	return &h->base.base;
}

void aw_health_set_serving(aw_health *h, int serving)
{
	pthread_mutex_lock(&h->mu);
	if (h->serving != serving) {
		h->serving = serving;
		for (watcher *w = h->watchers; w != NULL; w = w->next) {
			if (w->service >= 0 && w->service != LIVENESS)
				send_status(w->call, status_of(h, w->service));
		}
	}
	pthread_mutex_unlock(&h->mu);
}

void aw_health_set_alive(aw_health *h, int alive)
{
	pthread_mutex_lock(&h->mu);
	if (h->alive != alive) {
		h->alive = alive;
		for (watcher *w = h->watchers; w != NULL; w = w->next) {
			if (w->service == LIVENESS)
				send_status(w->call, status_of(h, w->service));
		}
	}
	pthread_mutex_unlock(&h->mu);
}

void aw_health_shutdown(aw_health *h)
{
	pthread_mutex_lock(&h->mu);
	h->shut_down = 1;
	for (watcher *w = h->watchers; w != NULL; w = w->next)
		aw_call_finish(w->call, GRPC_STATUS_UNAVAILABLE, "server is shutting down");
	pthread_mutex_unlock(&h->mu);
}

void aw_health_free(aw_health *h)
{
	if (h == NULL)
		return;
	while (h->watchers != NULL) {
		watcher *w = h->watchers;
		h->watchers = w->next;
		free(w);
	}
	for (size_t i = 0; i < h->n_names; i++)
		free(h->names[i]);
	free(h->names);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

