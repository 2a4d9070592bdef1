/*
 * fuzz_field_mask: google.protobuf.FieldMask as update methods read it.
 *
 * Input: a selector byte, then a packed FieldMask. The mask goes two ways:
 *   - to aw__field_mask_bits() (server/services/field_mask.c) with a table
 *     of its own, against a model of the contract: an empty mask means every
 *     field; otherwise each path must name a mutable field (its bit is set)
 *     and the first that does not is refused, INVALID_ARGUMENT naming
 *     update_mask.paths[i], whether output only or unknown;
 *   - as the update_mask of a valid request of an update method of the
 *     served services (any method whose request has a FieldMask field; the
 *     selector picks one), through the transport's loopback, so that the
 *     services' own tables and the partial updates of the repository run,
 *     checked as fuzz_requests checks replies.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/status.h>

#include "fixture.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "samples.h"
#include "services/field_mask.h"
#include "transport/transport_int.h"
#include "transport/utf8.h"

#define RESET_EVERY 2000
#define MAX_UPDATES 16

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const aw_mask_field fields[] = {
	{"name", 1u << 0}, {"season", 1u << 1}, {"episode_dict", 1u << 2}, {"cover_url", 1u << 5},
};
static const char *const output_only[] = {"id", "created_at", "updated_at", NULL};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

/* An update method: its request's FieldMask field, and a valid request. */
typedef struct update {
	char *path;                                /* a copy: servers come and go */
	const ProtobufCMessageDescriptor *input;
	const ProtobufCFieldDescriptor *mask;
	uint8_t *sample;
	size_t len;
} update;

static update updates[MAX_UPDATES];
static size_t n_updates;

/* Keeps the first valid sample of each update method. */
static void keep_sample(const char *path, const uint8_t *data, size_t len, int expect, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < n_updates; i++) {
		if (strcmp(updates[i].path, path) == 0 && updates[i].sample == NULL &&
		    expect == GRPC_STATUS_OK) {
			updates[i].sample = malloc(len > 0 ? len : 1);
			if (updates[i].sample == NULL)
				fuzz_fail("out of memory");
			memcpy(updates[i].sample, data, len);
			updates[i].len = len;
		}
	}
}

static void free_samples(void)
{
	for (size_t i = 0; i < n_updates; i++) {
		free(updates[i].path);
		free(updates[i].sample);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	aw_transport *t = fuzz_transport(RESET_EVERY);
	size_t n = aw__transport_method_count(t);

	(void)argc;
	(void)argv;
	for (size_t i = 0; i < n && n_updates < MAX_UPDATES; i++) {
		aw_loopback_method m;
		const ProtobufCMessageDescriptor *in;

		aw__transport_method(t, i, &m);
		in = m.desc->input;
		for (unsigned f = 0; f < in->n_fields; f++) {
			if (in->fields[f].type == PROTOBUF_C_TYPE_MESSAGE &&
			    in->fields[f].descriptor == &google__protobuf__field_mask__descriptor) {
				char *path = strdup(m.path);
				if (path == NULL)
					fuzz_fail("out of memory");
				updates[n_updates++] = (update){path, in, &in->fields[f], NULL, 0};
				break;
			}
		}
	}
	if (n_updates == 0)
		fuzz_fail("no served method takes a FieldMask");
	fuzz_samples_operations(t, keep_sample, NULL);
	atexit(free_samples);
	return 0;
}

/* The model of aw__field_mask_bits' contract. */
static void check_bits(const Google__Protobuf__FieldMask *mask)
{
	aw_call *call = calloc(1, sizeof(*call));
	uint64_t bits = 0, want = 0, all = 0;
	size_t bad = mask->n_paths;
	int rc;

	if (call == NULL)
		return;
	for (size_t i = 0; i < N_FIELDS; i++)
		all |= fields[i].bit;
	for (size_t p = 0; p < mask->n_paths && bad == mask->n_paths; p++) {
		size_t i = 0;
		while (i < N_FIELDS && strcmp(fields[i].name, mask->paths[p]) != 0)
			i++;
		if (i < N_FIELDS)
			want |= fields[i].bit;
		else
			bad = p;
	}
	rc = aw__field_mask_bits(call, mask, fields, N_FIELDS, output_only, &bits);
	if (mask->n_paths == 0) {
		if (rc != 0 || bits != all)
			fuzz_fail("an empty mask must mean every field");
	} else if (bad == mask->n_paths) {
		if (rc != 0 || bits != want)
			fuzz_fail("a mask of known paths gave rc %d, bits %#llx (want %#llx)", rc,
				  (unsigned long long)bits, (unsigned long long)want);
	} else {
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "update_mask.paths[%zu]: ", bad);
		if (rc == 0 || aw_call_status(call) != GRPC_STATUS_INVALID_ARGUMENT ||
		    strncmp(call->message, prefix, strlen(prefix)) != 0)
			fuzz_fail("unknown path %zu accepted or misreported: %s", bad, call->message);
	}
	aw_arena_close(&call->arena); /* the violations' details live there */
	free(call);
}

/* Sends the sample of `u` with `mask` as its update mask. */
static void check_update(const update *u, Google__Protobuf__FieldMask *mask)
{
	aw_transport *t = fuzz_transport(RESET_EVERY);
	ProtobufCMessage *req = protobuf_c_message_unpack(u->input, NULL, u->len, u->sample);
	Google__Protobuf__FieldMask **slot;
	Google__Protobuf__FieldMask *saved;
	aw_loopback_reply out;
	uint8_t *buf;
	size_t len;

	if (req == NULL)
		fuzz_fail("%s: the sample does not unpack", u->path);
	slot = (Google__Protobuf__FieldMask **)((char *)req + u->mask->offset);
	saved = *slot;
	*slot = mask;
	len = protobuf_c_message_get_packed_size(req);
	buf = malloc(len > 0 ? len : 1);
	if (buf != NULL) {
		protobuf_c_message_pack(req, buf);
		if (aw__transport_invoke_bytes(t, u->path, buf, len, &out) != 0)
			fuzz_fail("%s: out of memory for a call slot", u->path);
		if (out.status == GRPC_STATUS_INTERNAL || out.status == GRPC_STATUS_UNKNOWN ||
		    out.status == GRPC_STATUS_DATA_LOSS)
			fuzz_fail("%s: status %d: %s", u->path, out.status, out.message);
		if (out.status != GRPC_STATUS_OK && out.message[0] == '\0')
			fuzz_fail("%s: status %d without a message", u->path, out.status);
		if (!aw__utf8_valid(out.message, strlen(out.message)))
			fuzz_fail("%s: status message is not UTF-8: %s", u->path, out.message);
		aw__loopback_reply_clear(&out);
		free(buf);
	}
	*slot = saved;
	protobuf_c_message_free_unpacked(req, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Google__Protobuf__FieldMask *mask;
	const update *u;

	if (size < 1)
		return -1;
	mask = google__protobuf__field_mask__unpack(NULL, size - 1, data + 1);
	if (mask == NULL)
		return 0;
	check_bits(mask);
	u = &updates[data[0] % n_updates];
	if (u->sample != NULL)
		check_update(u, mask);
	google__protobuf__field_mask__free_unpacked(mask, NULL);
	return 0;
}
