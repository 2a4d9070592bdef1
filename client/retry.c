/*
 * The retry policy, as a gRPC service config: gRPC core then does the retrying
 * (backoff with jitter, attempts within the call's deadline, transparent retry
 * of attempts that never left the client), and this file only says which
 * methods are safe to retry. A method is a read, and so idempotent, when its
 * name starts with Get or List; every other method writes.
 */
#include "client_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
