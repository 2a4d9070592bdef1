/*
 * fuzz_requests: any bytes as the request of any method of every service
 * server.c serves, through the transport's own path (loopback.h): unpacking,
 * the UTF-8 check, the stub and its validation, the repository on SQLite, the
 * reply. Input: a method selector, then the request message (fixture.h).
 *
 * Besides what the sanitizers catch, what a client receives is checked:
 *   - the status is a gRPC code, and never INTERNAL, UNKNOWN, DATA_LOSS or
 *     UNIMPLEMENTED (the storage is sound and the method exists);
 *   - a refusal names something (its message is not empty), in UTF-8;
 *   - a unary call sends exactly one message when OK and none otherwise;
 *   - a message sent is a valid message of the method's output type whose
 *     strings are UTF-8 (what a strict client would check on parse).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/status.h>

#include "fixture.h"
#include "transport/utf8.h"

/* Inputs between fresh servers: what inputs wrote stays bounded. */
#define RESET_EVERY 2000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_server(RESET_EVERY);
	return 0;
}

static void check_reply(const aw_loopback_method *m, const aw_loopback_reply *out)
{
	ProtobufCMessage *msg;
	char field[128];

	if (out->status < GRPC_STATUS_OK || out->status > GRPC_STATUS_UNAUTHENTICATED)
		fuzz_fail("%s: status %d is no gRPC code", m->path, out->status);
	if (out->status == GRPC_STATUS_INTERNAL || out->status == GRPC_STATUS_UNKNOWN ||
	    out->status == GRPC_STATUS_DATA_LOSS || out->status == GRPC_STATUS_UNIMPLEMENTED)
		fuzz_fail("%s: status %d: %s", m->path, out->status, out->message);
	if (out->status != GRPC_STATUS_OK && !out->hung_up && out->message[0] == '\0')
		fuzz_fail("%s: status %d without a message", m->path, out->status);
	if (!aw__utf8_valid(out->message, strlen(out->message)))
		fuzz_fail("%s: status message is not UTF-8: %s", m->path, out->message);
	if (!m->server_streaming && out->n_messages != (out->status == GRPC_STATUS_OK ? 1u : 0u))
		fuzz_fail("%s: status %d with %zu messages", m->path, out->status, out->n_messages);
	if (out->n_messages == 0)
		return;
	msg = protobuf_c_message_unpack(m->desc->output, NULL, out->len, out->data);
	if (msg == NULL)
		fuzz_fail("%s: the reply is not a valid %s", m->path, m->desc->output->name);
	if (aw__pb_check_utf8(msg, field, sizeof(field)) != 0)
		fuzz_fail("%s: reply field %s is not UTF-8", m->path, field);
	protobuf_c_message_free_unpacked(msg, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	aw_transport *t;
	aw_loopback_method m;
	aw_loopback_reply out;

	if (size < FUZZ_SELECTOR_BYTES)
		return -1; /* not an input of this target: keep it out of the corpus */
	t = fuzz_transport(RESET_EVERY);
	aw__transport_method(t, fuzz_pick_method(t, fuzz_selector_read(data)), &m);
	if (aw__transport_invoke_bytes(t, m.path, data + FUZZ_SELECTOR_BYTES,
				       size - FUZZ_SELECTOR_BYTES, &out) != 0)
		fuzz_fail("%s: out of memory for a call slot", m.path);
	check_reply(&m, &out);
	aw__loopback_reply_clear(&out);
	return 0;
}
