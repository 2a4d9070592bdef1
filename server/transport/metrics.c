#include "metrics.h"

#include <stdatomic.h>
#include <string.h>

#include "transport_int.h"

static const int64_t bucket_us[AW_N_DURATION_BUCKETS] = AW_DURATION_BUCKETS_US;

/* The names grpc-go and go-grpc-prometheus give the codes (codes.Code.String()). */
static const char *const code_names[AW_GRPC_CODES] = {
	"OK",           "Canceled",          "Unknown",          "InvalidArgument",
	"DeadlineExceeded", "NotFound",      "AlreadyExists",    "PermissionDenied",
	"ResourceExhausted", "FailedPrecondition", "Aborted",    "OutOfRange",
	"Unimplemented", "Internal",         "Unavailable",      "DataLoss",
	"Unauthenticated",
};

void aw__metrics_count(aw_call_stats *stats, int code, int64_t us)
{
	size_t b = 0;

	if (code < 0 || code >= AW_GRPC_CODES)
		code = 2; /* UNKNOWN */
	if (us < 0)
		us = 0;
	while (b < AW_N_DURATION_BUCKETS && us > bucket_us[b])
		b++;
	atomic_fetch_add_explicit(&stats->handled[code], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&stats->duration[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&stats->duration_sum_us, (unsigned long long)us,
				  memory_order_relaxed);
}

static unsigned long long load(atomic_ullong *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* The labels of a method: "/pkg.Service/Method" split, and its shape. */
static void method_labels(const aw_method *m, char *buf, size_t n)
{
	const char *slash = strrchr(m->path, '/');
	static const char *const types[] = {"unary", "server_stream", "bidi_stream"};

	snprintf(buf, n, "grpc_service=\"%.*s\",grpc_method=\"%s\",grpc_type=\"%s\"",
		 (int)(slash - m->path - 1), m->path + 1, slash + 1, types[m->shape]);
}

static void write_handled(FILE *out, const char *labels, aw_call_stats *s)
{
	for (int code = 0; code < AW_GRPC_CODES; code++) {
		unsigned long long n = load(&s->handled[code]);

		if (n > 0 || code == 0)
			fprintf(out, "grpc_server_handled_total{%s,grpc_code=\"%s\"} %llu\n", labels,
				code_names[code], n);
	}
}

static void write_histogram(FILE *out, const char *labels, aw_call_stats *s)
{
	unsigned long long cumulative = 0;

	for (size_t b = 0; b <= AW_N_DURATION_BUCKETS; b++) {
		cumulative += load(&s->duration[b]);
		if (b < AW_N_DURATION_BUCKETS)
			fprintf(out, "grpc_server_handling_seconds_bucket{%s,le=\"%g\"} %llu\n", labels,
				(double)bucket_us[b] / 1e6, cumulative);
		else
			fprintf(out, "grpc_server_handling_seconds_bucket{%s,le=\"+Inf\"} %llu\n",
				labels, cumulative);
	}
	fprintf(out, "grpc_server_handling_seconds_sum{%s} %.6f\n", labels,
		(double)load(&s->duration_sum_us) / 1e6);
	fprintf(out, "grpc_server_handling_seconds_count{%s} %llu\n", labels, cumulative);
}

int aw_transport_write_metrics(aw_transport *t, FILE *out, aw_err *err)
{
	char labels[320];

	fputs("# HELP grpc_server_handled_total Calls completed on the server, by final status.\n"
	      "# TYPE grpc_server_handled_total counter\n",
	      out);
	for (size_t i = 0; i < t->n_methods; i++) {
		method_labels(&t->methods[i], labels, sizeof(labels));
		write_handled(out, labels, t->methods[i].stats);
	}
	write_handled(out, "grpc_service=\"unknown\",grpc_method=\"unknown\",grpc_type=\"unknown\"",
		      &t->unknown_stats);

	fputs("# HELP grpc_server_handling_seconds Time from a call's arrival to its final "
	      "status.\n"
	      "# TYPE grpc_server_handling_seconds histogram\n",
	      out);
	for (size_t i = 0; i < t->n_methods; i++) {
		method_labels(&t->methods[i], labels, sizeof(labels));
		write_histogram(out, labels, t->methods[i].stats);
	}

	fprintf(out,
		"# HELP aniworld_calls_in_flight Calls in progress (those counted against "
		"--max-calls).\n"
		"# TYPE aniworld_calls_in_flight gauge\n"
		"aniworld_calls_in_flight %lld\n"
		"# HELP aniworld_threads Threads serving calls.\n"
		"# TYPE aniworld_threads gauge\n"
		"aniworld_threads %d\n"
		"# HELP aniworld_threads_taking_calls Threads that take new calls now (the others "
		"wait until a CPU is free for them).\n"
		"# TYPE aniworld_threads_taking_calls gauge\n"
		"aniworld_threads_taking_calls %d\n",
		(long long)aw_transport_active_calls(t), t->cfg.threads,
		aw_transport_taking_threads(t));
	if (ferror(out))
		return aw_err_set(err, AW_EINTERNAL, "cannot write the metrics");
	return 0;
}
