/*
 * Per-call options (aw_call_opts): the call's metadata, its deadline, and the
 * request as sent, with its request_id and etag.
 *
 * request_id and etag are found by name in the request's descriptor, so a
 * method that gains either field later needs nothing here: a write retries
 * safely as soon as its request has a request_id.
 */
#include "client_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <grpc/grpc.h>

int64_t aw_client_deadline_from_timespec(int64_t tv_sec, int32_t tv_nsec)
{
	return tv_sec * 1000000 + tv_nsec / 1000;
}

/* ---- metadata ------------------------------------------------------------------------------ */

void aw__client_metadata_free(aw__call_metadata *m)
{
	for (size_t i = 0; i < m->n; i++) {
		grpc_slice_unref(m->md[i].key);
		grpc_slice_unref(m->md[i].value);
	}
	m->n = 0;
}

static int is_binary_key(const char *key)
{
	size_t n = strlen(key);

	return n > 4 && strcmp(key + n - 4, "-bin") == 0;
}

int aw__client_metadata(aw_client *c, const aw_call_opts *o, aw__call_metadata *m, aw_err *err)
{
	m->n = 0;
	pthread_mutex_lock(&c->auth_mu);
	if (c->n_md > 0) {
		m->md[0].key = grpc_slice_ref(c->auth_md.key);
		m->md[0].value = grpc_slice_ref(c->auth_md.value);
		m->n = 1;
	}
	pthread_mutex_unlock(&c->auth_mu);
	if (o == NULL || o->n_metadata == 0)
		return 0;
	if (o->n_metadata > AW_CALL_MAX_METADATA || o->metadata == NULL) {
		aw__client_metadata_free(m);
		return aw_err_set(err, AW_EINVAL, "at most %d metadata entries a call",
				  AW_CALL_MAX_METADATA);
	}
	for (size_t i = 0; i < o->n_metadata; i++) {
		const aw_metadata *e = &o->metadata[i];
		size_t len;
		grpc_slice key, value;

		if (e->key == NULL || e->value == NULL) {
			aw__client_metadata_free(m);
			return aw_err_set(err, AW_EINVAL, "metadata[%zu]: key and value are required", i);
		}
		len = e->value_len > 0 ? e->value_len : strlen(e->value);
		key = grpc_slice_from_copied_string(e->key);
		value = grpc_slice_from_copied_buffer(e->value, len);
		if (!grpc_header_key_is_legal(key) ||
		    (!is_binary_key(e->key) && !grpc_header_nonbin_value_is_legal(value))) {
			grpc_slice_unref(key);
			grpc_slice_unref(value);
			aw__client_metadata_free(m);
			return aw_err_set(err, AW_EINVAL,
					  "metadata[%zu]: key \"%s\" or its value is not allowed in metadata "
					  "(lowercase keys; binary values only under keys ending in -bin)",
					  i, e->key);
		}
		m->md[m->n].key = key;
		m->md[m->n].value = value;
		m->n++;
	}
	return 0;
}

/* ---- deadlines ---------------------------------------------------------------------------- */

static int64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int aw__client_deadline_passed(const aw_call_opts *o)
{
	return o != NULL && o->deadline_at_us > 0 && realtime_us() >= o->deadline_at_us;
}

gpr_timespec aw__client_attempt_deadline(const aw_client *c, const aw_call_opts *o)
{
	int64_t rel_ms = c->opts.deadline_ms > 0 ? c->opts.deadline_ms : -1;
	int64_t left_us;

	if (o != NULL && o->deadline_ms != 0)
		rel_ms = o->deadline_ms;
	if (o != NULL && o->deadline_at_us > 0) {
		left_us = o->deadline_at_us - realtime_us();
		if (left_us < 0)
			left_us = 0;
		if (rel_ms < 0 || left_us < rel_ms * 1000)
			return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					    gpr_time_from_micros(left_us, GPR_TIMESPAN));
	}
	if (rel_ms < 0)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
			    gpr_time_from_millis(rel_ms, GPR_TIMESPAN));
}

/* ---- the request as sent ------------------------------------------------------------------- */

/* Writes a random UUID (version 4, RFC 4122) into buf (37 bytes). */
static int uuid_v4(char buf[37], aw_err *err)
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return aw_err_set(err, AW_EINTERNAL, "no randomness for a request_id (getrandom)");
		got += (size_t)n;
	}
	b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* variant 10 */
	snprintf(buf, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
	return 0;
}

/* The string field `name` of `desc`, or NULL. */
static const ProtobufCFieldDescriptor *string_field(const ProtobufCMessageDescriptor *desc,
						    const char *name)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, name);

	return f != NULL && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED
		       ? f
		       : NULL;
}

static const char **string_at(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return (const char **)((char *)m + f->offset);
}

/* A shallow copy of `m` (malloc'd; free with free(), not free_unpacked). */
static ProtobufCMessage *shallow_copy(const ProtobufCMessage *m)
{
	ProtobufCMessage *copy = malloc(m->descriptor->sizeof_message);

	if (copy != NULL)
		memcpy(copy, m, m->descriptor->sizeof_message);
	return copy;
}

int aw__client_pack_request(const ProtobufCMessage *req, const aw_call_opts *o,
			    grpc_slice *payload, int *retryable, aw_err *err)
{
	const ProtobufCMessageDescriptor *desc = req->descriptor;
	const ProtobufCFieldDescriptor *rid_f = string_field(desc, "request_id");
	const ProtobufCFieldDescriptor *etag_f = string_field(desc, "etag");
	ProtobufCMessage *copy = NULL, *inner = NULL;
	char uuid[37];
	size_t n;
	int rc;

	*retryable = 0;
	if (rid_f != NULL || (o != NULL && o->etag != NULL)) {
		copy = shallow_copy(req);
		if (copy == NULL)
			return aw_err_set(err, AW_ENOMEM, "out of memory for the request");
	}
	if (rid_f != NULL) {
		const char **rid = string_at(copy, rid_f);

		if (o != NULL && o->request_id != NULL) {
			*rid = o->request_id;
		} else if (*rid == NULL || (*rid)[0] == '\0') {
			rc = uuid_v4(uuid, err);
			if (rc != 0) {
				free(copy);
				return rc;
			}
			*rid = uuid;
		}
		*retryable = *rid != NULL && (*rid)[0] != '\0';
	}
	if (o != NULL && o->etag != NULL) {
		if (etag_f != NULL) {
			*string_at(copy, etag_f) = o->etag;
		} else {
			/* An update: the etag travels in the resource, the request's
			 * first message field that has one. */
			for (unsigned i = 0; i < desc->n_fields && inner == NULL; i++) {
				const ProtobufCFieldDescriptor *f = &desc->fields[i];
				ProtobufCMessage **sub = (ProtobufCMessage **)((char *)copy + f->offset);
				const ProtobufCFieldDescriptor *e;

				if (f->type != PROTOBUF_C_TYPE_MESSAGE ||
				    f->label == PROTOBUF_C_LABEL_REPEATED || *sub == NULL)
					continue;
				e = string_field(f->descriptor, "etag");
				if (e == NULL)
					continue;
				inner = shallow_copy(*sub);
				if (inner == NULL) {
					free(copy);
					return aw_err_set(err, AW_ENOMEM, "out of memory for the request");
				}
				*string_at(inner, e) = o->etag;
				*sub = inner;
			}
			if (inner == NULL) {
				free(copy);
				return aw_err_set(err, AW_EINVAL, "%s takes no etag", desc->name);
			}
		}
	}
	n = protobuf_c_message_get_packed_size(copy != NULL ? copy : req);
	*payload = grpc_slice_malloc(n);
	protobuf_c_message_pack(copy != NULL ? copy : req, GRPC_SLICE_START_PTR(*payload));
	free(inner);
	free(copy);
	return 0;
}
