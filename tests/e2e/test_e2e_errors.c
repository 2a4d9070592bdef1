/*
 * Error details end to end (issue 11): every error status carries a
 * google.rpc.Status in grpc-status-details-bin, which the client library reads
 * back into aw_err (reason, metadata, field violations, resource, retry delay)
 * with the exact AW_E* code; and caller-supplied text reaches neither a status
 * message nor the server's log unescaped.
 */
#define _GNU_SOURCE /* memmem */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/grpc.h>
#include <grpc/status.h>

#include "aniworld/client.h"
#include "harness.h"
#include "log.h"
#include "transport/status_details.h"

/* client/status.c (client_int.h, not installed): the decoder under test. */
int aw__client_status_error(int status, const char *message, const grpc_metadata_array *trailing,
			    aw_err *err);

/* The forged key of the issue: a newline, then what looks like a log line. */
#define FORGED_KEY "\n2026-01-01T00:00:00Z INFO fake"
#define FORGED_ESCAPED "\\n2026-01-01T00:00:00Z INFO fake"

typedef struct fixture {
	harness h;
	aw_client *client;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || harness_start(&f->h) != 0 ||
	    aw_client_new(&f->client, f->h.target, NULL, NULL) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	aw_client_free(f->client);
	harness_cleanup(&f->h);
	free(f);
	return 0;
}

/* The value of metadata entry `key` of `err`, or NULL. */
static const char *meta(const aw_err *err, const char *key)
{
	for (int i = 0; i < err->n_metadata; i++) {
		if (strcmp(err->metadata[i].key, key) == 0)
			return err->metadata[i].text;
	}
	return NULL;
}

/* Whether `err` holds a violation of `field`. */
static int violated(const aw_err *err, const char *field)
{
	for (int i = 0; i < err->n_violations; i++) {
		if (strcmp(err->violations[i].key, field) == 0)
			return 1;
	}
	return 0;
}

/* Decodes what the server would send for `detail` (code `code`). */
static int round_trip(int code, const aw_err *detail, aw_err *out)
{
	grpc_metadata md;
	grpc_metadata_array arr = {.count = 1, .capacity = 1, .metadata = &md};
	int status = aw_err_grpc_status(code);
	grpc_slice packed;
	int rc;

	assert_int_equal(aw__status_details_pack(status, code, "the message", detail, NULL, &packed), 0);
	md.key = grpc_slice_from_static_string(AW_STATUS_DETAILS_KEY);
	md.value = packed;
	rc = aw__client_status_error(status, "the message", &arr, out);
	grpc_slice_unref(packed);
	return rc;
}

/* Every AW_E* code comes back as itself, though several share a gRPC status;
 * and so does every finer reason, with its details. */
static void test_errors_every_code_survives_the_encoding(void **state)
{
	static const int codes[] = {
#define XX(name, value, msg, grpc, reason) AW_##name,
		AW_ERRNO_MAP(XX)
#undef XX
	};
	static const struct {
		const char *reason;
		int code;
	} reasons[] = {
#define XX(reason, code, type, meaning) {#reason, code},
		AW_REASON_MAP(XX)
#undef XX
	};
	aw_err detail, out;

	(void)state;
	grpc_init();
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		assert_int_equal(round_trip(codes[i], NULL, &out), codes[i]);
		assert_int_equal(out.code, codes[i]);
		assert_string_equal(out.msg, "the message");
		assert_string_equal(out.reason, aw_err_code_reason(codes[i]));
		int s = aw_err_grpc_status(codes[i]);
		if ((s == GRPC_STATUS_RESOURCE_EXHAUSTED || s == GRPC_STATUS_UNAVAILABLE) &&
		    codes[i] != AW_EFULL)
			assert_true(out.retry_delay_ms > 0);
		else
			assert_int_equal(out.retry_delay_ms, 0);
	}
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		aw_err_set(&detail, reasons[i].code, "x");
		aw_err_detail(&detail, reasons[i].reason, "id", "%d", 7);
		aw_err_add_violation(&detail, "a.b", "a.b is wrong");
		assert_int_equal(round_trip(reasons[i].code, &detail, &out), reasons[i].code);
		assert_string_equal(out.reason, reasons[i].reason);
		assert_string_equal(meta(&out, "id"), "7");
		assert_string_equal(out.resource_type, aw_err_reason_resource_type(reasons[i].reason));
		assert_true(violated(&out, "a.b"));
	}
	/* Without details (another server), the status alone decides. */
	assert_int_equal(aw__client_status_error(GRPC_STATUS_RESOURCE_EXHAUSTED, "", NULL, &out),
			 AW_ENOMEM);
	assert_string_equal(out.msg, aw_strerror(AW_ENOMEM));
	grpc_shutdown();
}

static Aniworld__V1__AnimeSeries *create(aw_client *c, const char *key, const char *name,
					 int total, int *rc, aw_err *err)
{
	Aniworld__V1__AnimeSeries s = ANIWORLD__V1__ANIME_SERIES__INIT, *out = NULL;
	Aniworld__V1__CreateSeriesRequest req = ANIWORLD__V1__CREATE_SERIES_REQUEST__INIT;

	s.key = (char *)key;
	s.name = (char *)name;
	s.total_episodes = total;
	req.series = &s;
	*rc = aw_client_series_create(c, &req, &out, err, NULL);
	return out;
}

/* The reachable codes over the wire: each with its reason and details. */
static void test_errors_details_over_the_wire(void **state)
{
	fixture *f = *state;
	Aniworld__V1__AnimeSeries *s, *out = NULL;
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__EnqueueDownloadRequest enq = ANIWORLD__V1__ENQUEUE_DOWNLOAD_REQUEST__INIT;
	Aniworld__V1__DownloadQueueItem item = ANIWORLD__V1__DOWNLOAD_QUEUE_ITEM__INIT, *d = NULL;
	Aniworld__V1__CompleteDownloadRequest done = ANIWORLD__V1__COMPLETE_DOWNLOAD_REQUEST__INIT;
	aw_err err;
	int rc;

	/* INVALID_ARGUMENT: every invalid field, not only the first. */
	s = create(f->client, "", "", -1, &rc, &err);
	assert_null(s);
	assert_int_equal(rc, AW_EINVAL);
	assert_string_equal(err.reason, "INVALID_ARGUMENT");
	assert_int_equal(err.n_violations, 3);
	assert_true(violated(&err, "series.key"));
	assert_true(violated(&err, "series.name"));
	assert_true(violated(&err, "series.total_episodes"));
	assert_string_equal(meta(&err, "invalid_fields"), "3");
	assert_non_null(strstr(err.msg, "series.key is required"));
	assert_non_null(strstr(err.msg, "series.total_episodes must be >= 0, got -1"));

	/* NOT_FOUND with the resource. */
	get.id = 424242;
	assert_int_equal(aw_client_series_get(f->client, &get, &out, &err, NULL), AW_ENOTFOUND);
	assert_string_equal(err.reason, "SERIES_NOT_FOUND");
	assert_string_equal(meta(&err, "id"), "424242");
	assert_string_equal(err.resource_type, "aniworld.v1.AnimeSeries");
	assert_string_equal(err.resource_name, "424242");

	/* ALREADY_EXISTS with the key, quotes escaped in the message only. */
	s = create(f->client, "say \"hi\"", "n", 1, &rc, &err);
	assert_int_equal(rc, 0);
	assert_null(create(f->client, "say \"hi\"", "n", 1, &rc, &err));
	assert_int_equal(rc, AW_EEXIST);
	assert_string_equal(err.reason, "SERIES_KEY_TAKEN");
	assert_string_equal(err.msg, "a series with key \"say \\\"hi\\\"\" already exists");
	assert_string_equal(meta(&err, "key"), "say \"hi\"");
	assert_string_equal(err.resource_name, "say \"hi\"");

	/* FAILED_PRECONDITION: completing a download that is not downloading. */
	item.series_id = s->id;
	item.season = 1;
	item.episode_number = 1;
	enq.item = &item;
	assert_int_equal(aw_client_downloads_enqueue(f->client, &enq, &d, &err, NULL), 0);
	done.id = d->id;
	aniworld__v1__download_queue_item__free_unpacked(d, NULL);
	d = NULL;
	assert_int_equal(aw_client_downloads_complete(f->client, &done, &d, &err, NULL), AW_EPRECOND);
	assert_string_equal(err.reason, "DOWNLOAD_STATUS_CONFLICT");
	assert_string_equal(err.resource_type, "aniworld.v1.DownloadQueueItem");
	assert_non_null(meta(&err, "status"));
	aniworld__v1__anime_series__free_unpacked(s, NULL);
}

static void limit_calls(aw_config *cfg, void *arg)
{
	cfg->max_calls = *(int64_t *)arg;
}

/* RESOURCE_EXHAUSTED of an overloaded server arrives as AW_EOVERLOAD (it used to
 * arrive as AW_ENOMEM, "out of memory"), with a retry delay. */
static void test_errors_overload_is_eoverload_with_retry_delay(void **state)
{
	int64_t limit = 1;
	harness h = {.configure = limit_calls, .configure_arg = &limit};
	Aniworld__V1__WatchDownloadsRequest wreq = ANIWORLD__V1__WATCH_DOWNLOADS_REQUEST__INIT;
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *out = NULL;
	aw_client *c;
	aw_watch *w = NULL;
	aw_err err;

	(void)state;
	assert_int_equal(harness_start(&h), 0);
	assert_int_equal(aw_client_new(&c, h.target, NULL, &err), 0);
	/* The stream holds the only slot while open. */
	assert_int_equal(aw_client_downloads_watch(c, &wreq, &w, &err, NULL), 0);
	get.id = 1;
	assert_int_equal(aw_client_series_get(c, &get, &out, &err, NULL), AW_EOVERLOAD);
	assert_string_equal(err.reason, "OVERLOADED");
	assert_true(err.retry_delay_ms > 0);
	assert_non_null(strstr(err.msg, "overloaded"));
	aw_watch_free(w);
	aw_client_free(c);
	harness_cleanup(&h);
}

/* ---- messages and logs that cannot be forged ------------------------------------------ */

typedef struct capture {
	char path[256];
	int saved;
} capture;

static void capture_start(capture *cap, const fixture *f)
{
	int fd;

	snprintf(cap->path, sizeof(cap->path), "%s/server.log", f->h.dir);
	fd = open(cap->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	cap->saved = dup(STDERR_FILENO);
	assert_true(cap->saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
	aw_log_set_level(AW_LOG_INFO);
}

static void capture_stop(capture *cap)
{
	aw_log_set_level(AW_LOG_WARN);
	fflush(stderr);
	dup2(cap->saved, STDERR_FILENO);
	close(cap->saved);
}

/* The captured log (malloc'd) once it holds `count` lines naming `method`,
 * waiting at most 10 s (a call's line follows its reply). */
static char *log_with(const capture *cap, const char *method, int count)
{
	for (int tries = 0; tries < 1000; tries++) {
		FILE *fp = fopen(cap->path, "r");
		char *text = calloc(1, 1 << 16);
		size_t n = fp != NULL ? fread(text, 1, (1 << 16) - 1, fp) : 0;
		int seen = 0;

		if (fp != NULL)
			fclose(fp);
		text[n] = '\0';
		for (const char *p = text; (p = strstr(p, method)) != NULL; p++)
			seen++;
		if (seen >= count)
			return text;
		free(text);
		usleep(10000);
	}
	fail_msg("the log never showed %d lines of %s", count, method);
	return NULL;
}

/* The attempt: a key holding a newline and a fake timestamp, sent to
 * CreateSeries and GetSeriesByKey, comes back escaped in the status message and
 * is escaped in the server's log: no line of the log starts with it. */
static void test_errors_forged_key_is_escaped_in_message_and_log(void **state)
{
	fixture *f = *state;
	Aniworld__V1__GetSeriesByKeyRequest byk = ANIWORLD__V1__GET_SERIES_BY_KEY_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *out = NULL;
	capture cap;
	aw_err err;
	char *log;
	int rc;

	capture_start(&cap, f);
	assert_null(create(f->client, FORGED_KEY, "forged", 1, &rc, &err));
	byk.key = (char *)FORGED_KEY;
	int rc2 = aw_client_series_get_by_key(f->client, &byk, &out, &err, NULL);
	aw_err err2 = err;
	log = log_with(&cap, "GetSeriesByKey", 1);
	capture_stop(&cap);

	assert_int_equal(rc, AW_EINVAL);
	assert_int_equal(rc2, AW_EINVAL);
	assert_null(strchr(err2.msg, '\n'));
	assert_non_null(strstr(err2.msg, FORGED_ESCAPED));
	assert_true(violated(&err2, "key"));
	/* Every line of the log is the server's own: none begins with the fake. */
	assert_non_null(strstr(log, "/aniworld.v1.AnimeSeriesService/CreateSeries INVALID_ARGUMENT"));
	assert_non_null(strstr(log, FORGED_ESCAPED));
	for (const char *line = log; *line != '\0';) {
		const char *nl = strchr(line, '\n');

		assert_true(strncmp(line, "2026-01-01T00:00:00Z", 20) != 0);
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	free(log);
}

/* JSON lines: the same calls logged as one JSON object a line, every field of
 * a call's line present and the forged key inside a string, escaped. */
static void test_errors_json_log_holds_the_fields(void **state)
{
	fixture *f = *state;
	Aniworld__V1__GetSeriesRequest get = ANIWORLD__V1__GET_SERIES_REQUEST__INIT;
	Aniworld__V1__AnimeSeries *out = NULL;
	capture cap;
	aw_err err;
	char *log;
	int rc;

	aw_log_set_format(AW_LOG_JSON);
	capture_start(&cap, f);
	assert_null(create(f->client, FORGED_KEY, "forged", 1, &rc, &err));
	get.id = 99;
	assert_int_equal(aw_client_series_get(f->client, &get, &out, &err, NULL), AW_ENOTFOUND);
	log = log_with(&cap, "\"method\":\"/aniworld.v1.AnimeSeriesService/GetSeries\"", 1);
	capture_stop(&cap);
	aw_log_set_format(AW_LOG_TEXT);

	for (const char *line = log; *line != '\0';) {
		const char *nl = strchr(line, '\n');
		size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);

		assert_true(len > 2 && line[0] == '{' && line[len - 1] == '}');
		if (memmem(line, len, "\"method\"", 8) != NULL) {
			static const char *const fields[] = {"\"time\":", "\"level\":", "\"message\":",
							     "\"method\":", "\"code\":", "\"duration\":",
							     "\"peer\":", "\"request_id\":"};
			for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
				assert_non_null(memmem(line, len, fields[i], strlen(fields[i])));
		}
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	assert_non_null(strstr(log, "\"code\":\"NOT_FOUND\""));
	assert_non_null(strstr(log, "\"peer\":\"ipv4:127.0.0.1:"));
	assert_non_null(strstr(log, FORGED_ESCAPED));
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors_every_code_survives_the_encoding),
		cmocka_unit_test_setup_teardown(test_errors_details_over_the_wire, setup, teardown),
		cmocka_unit_test(test_errors_overload_is_eoverload_with_retry_delay),
		cmocka_unit_test_setup_teardown(test_errors_forged_key_is_escaped_in_message_and_log, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errors_json_log_holds_the_fields, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
