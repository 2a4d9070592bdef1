/*
 * The retry policy.
 *
 * Reads, as a gRPC service config: gRPC core does the retrying (backoff with
 * jitter, attempts within the call's deadline, transparent retry of attempts
 * that never left the client), and this file only says which methods are
 * safe to retry. A method is a read, and so idempotent, when its name starts
 * with Get or List; every other method writes.
 *
 * Writes that carry a request_id are retried by the library itself
 * (aw__client_unary), since gRPC's policy cannot retry DEADLINE_EXCEEDED: the
 * server answers a repeated request_id with its first answer, so sending it
 * again never does the work twice. Between attempts it sleeps
 * aw__client_backoff_ms(): "equal jitter", half the backoff fixed and half at
 * random, so that clients cut off together do not come back together.
 */
#include "client_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

typedef struct sbuf {
	char *p;
	size_t len, cap;
	int failed;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n + 1;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

static int is_read(const char *method)
{
	return strncmp(method, "Get", 3) == 0 || strncmp(method, "List", 4) == 0;
}

int aw__client_service_config(const aw_client_options *o, char **json, aw_err *err)
{
	sbuf b = {.p = malloc(1024), .cap = 1024};
	const char *sep = "";

	*json = NULL;
	if (b.p == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the service config");
	b.p[0] = '\0';
	put(&b, "{\"loadBalancingConfig\": [{\"%s\": {}}]",
	    o->load_balancing != NULL ? o->load_balancing : "pick_first");
	if (o->max_attempts > 1) {
		put(&b, ", \"methodConfig\": [{\"name\": [");
		for (size_t s = 0; s < aw__client_n_api_services; s++) {
			const ProtobufCServiceDescriptor *d = aw__client_api_services[s];
			for (unsigned m = 0; m < d->n_methods; m++) {
				if (!is_read(d->methods[m].name))
					continue;
				put(&b, "%s{\"service\": \"%s\", \"method\": \"%s\"}", sep, d->name,
				    d->methods[m].name);
				sep = ", ";
			}
		}
		put(&b,
		    "], \"retryPolicy\": {\"maxAttempts\": %d, \"initialBackoff\": \"%lld.%03llds\", "
		    "\"maxBackoff\": \"%lld.%03llds\", \"backoffMultiplier\": 2, "
		    "\"retryableStatusCodes\": [\"UNAVAILABLE\"]}}]",
		    o->max_attempts, (long long)(o->retry_initial_backoff_ms / 1000),
		    (long long)(o->retry_initial_backoff_ms % 1000),
		    (long long)(o->retry_max_backoff_ms / 1000),
		    (long long)(o->retry_max_backoff_ms % 1000));
	}
	put(&b, "}");
	if (b.failed) {
		free(b.p);
		return aw_err_set(err, AW_ENOMEM, "out of memory for the service config");
	}
	*json = b.p;
	return 0;
}

int64_t aw__client_backoff_ms(const aw_client_options *o, int attempt)
{
	int64_t backoff = o->retry_initial_backoff_ms;
	uint32_t r = 0;

	for (int i = 2; i < attempt && backoff < o->retry_max_backoff_ms; i++)
		backoff *= 2;
	if (backoff > o->retry_max_backoff_ms)
		backoff = o->retry_max_backoff_ms;
	/* Randomness that fails leaves the fixed half: still bounded. */
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = 0;
	return backoff / 2 + (int64_t)(r % (uint32_t)(backoff / 2 + 1));
}
