#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

static int start_on(harness *h)
{
	aw_config cfg;
	aw_err err;

	aw_log_set_level(AW_LOG_WARN);
	aw_config_defaults(&cfg);
	cfg.listen = "127.0.0.1:0";
	cfg.db = h->db;
	cfg.threads = h->threads > 0 ? h->threads : 2;
	cfg.shutdown_grace_ms = h->grace_ms > 0 ? h->grace_ms : 2000;
	if (h->configure != NULL)
		h->configure(&cfg, h->configure_arg);
	if (aw_server_start(&h->server, &cfg, &err) != 0) {
		fprintf(stderr, "harness: server did not start: %s\n", err.msg);
		return -1;
	}
	h->port = aw_server_port(h->server);
	snprintf(h->target, sizeof(h->target), "127.0.0.1:%d", h->port);
	/* Ready when health answers: under valgrind the first handshake is slow. */
	for (int tries = 0; tries < 300; tries++) {
		if (cfg.tls_cert[0] != '\0' ||
		    harness_raw_call(h->target, "/grpc.health.v1.Health/Check", "", 0, NULL, 0, NULL) == 0)
			return 0;
	}
	fprintf(stderr, "harness: server on %s never answered health\n", h->target);
	return -1;
}

int harness_prepare(harness *h)
{
	snprintf(h->dir, sizeof(h->dir), "/tmp/aw-e2e-XXXXXX");
	if (mkdtemp(h->dir) == NULL)
		return -1;
	snprintf(h->db, sizeof(h->db), "%s/store.db", h->dir);
	if (test_db_is_postgres()) {
		if (test_db_create(&h->pg, TEST_DB_FILE) != 0) {
			harness_cleanup(h);
			return -1;
		}
		snprintf(h->db, sizeof(h->db), "%s", h->pg.location);
	}
	return 0;
}

int harness_start(harness *h)
{
	if (harness_prepare(h) != 0)
		return -1;
	/* A test whose start fails never cleans up: do it here. */
	if (start_on(h) != 0) {
		harness_cleanup(h);
		return -1;
	}
	return 0;
}

int harness_restart(harness *h)
{
	return start_on(h);
}

void harness_stop(harness *h)
{
	aw_server_free(h->server);
	h->server = NULL;
}

void harness_cleanup(harness *h)
{
	char cmd[128];

	harness_stop(h);
	if (h->dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "harness: could not remove %s\n", h->dir);
		h->dir[0] = '\0';
	}
	test_db_drop(&h->pg);
}

int harness_raw_call(const char *target, const char *method, const void *bytes, size_t len,
		     char *details_out, size_t n, long *reply_len)
{
	return harness_raw_call_reply(target, method, bytes, len, details_out, n, NULL, 0, reply_len,
				      10000);
}

int harness_raw_call_reply(const char *target, const char *method, const void *bytes, size_t len,
			   char *details_out, size_t n, void *reply, size_t cap, long *reply_len,
			   int timeout_ms)
{
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch;
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_slice payload = grpc_slice_from_copied_buffer(bytes, len);
	grpc_slice method_slice = grpc_slice_from_static_string(method);
	grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&payload, 1);
	grpc_byte_buffer *recv = NULL;
	grpc_metadata_array md_in, md_trail;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[6];

	grpc_init();
	ch = grpc_channel_create(target, creds, NULL);
	grpc_channel_credentials_release(creds);
	cq = grpc_completion_queue_create_for_pluck(NULL);
	call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method_slice, NULL,
					gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
						     gpr_time_from_millis(timeout_ms, GPR_TIMESPAN)),
					NULL);
	grpc_metadata_array_init(&md_in);
	grpc_metadata_array_init(&md_trail);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &md_in;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &md_trail;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	if (grpc_call_start_batch(call, ops, 6, call, NULL) == GRPC_CALL_OK)
		grpc_completion_queue_pluck(cq, call, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (details_out != NULL && n > 0) {
		char *text = grpc_slice_to_c_string(details);
		snprintf(details_out, n, "%s", text);
		gpr_free(text);
	}
	if (reply_len != NULL)
		*reply_len = recv != NULL ? (long)grpc_byte_buffer_length(recv) : -1;
	if (recv != NULL && reply != NULL && cap > 0) {
		grpc_byte_buffer_reader rd;
		grpc_slice all;

		if (grpc_byte_buffer_reader_init(&rd, recv)) {
			all = grpc_byte_buffer_reader_readall(&rd);
			memcpy(reply, GRPC_SLICE_START_PTR(all),
			       GRPC_SLICE_LENGTH(all) < cap ? GRPC_SLICE_LENGTH(all) : cap);
			grpc_slice_unref(all);
			grpc_byte_buffer_reader_destroy(&rd);
		}
	}
	if (recv != NULL)
		grpc_byte_buffer_destroy(recv);
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(payload);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&md_in);
	grpc_metadata_array_destroy(&md_trail);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	grpc_completion_queue_destroy(cq);
	grpc_channel_destroy(ch);
	grpc_shutdown();
	return (int)status;
}

void harness_expect_status(int rc, const aw_err *err, int code, const char *needle)
{
	if (rc != code)
		fail_msg("expected %s, got %s: %s", aw_err_name(code), aw_err_name(rc), err->msg);
	if (needle != NULL && strstr(err->msg, needle) == NULL)
		fail_msg("message \"%s\" does not mention \"%s\"", err->msg, needle);
}
