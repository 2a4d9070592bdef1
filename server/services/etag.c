/*
 * The etag of a request (AIP-154). Found by field name, so a request that
 * gains an `etag` field is conditional without more wiring: deletes and state
 * changes carry it in the request, updates in the resource they send.
 */
#include "etag.h"

#include <stdio.h>
#include <string.h>

#include "../repo/repo.h"
#include "reply.h"

static const char *string_field(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);

	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	return *(const char *const *)((const char *)m + f->offset);
}

int aw__etag_of(aw_call *call, int64_t *if_version)
{
	const ProtobufCMessage *in = aw_call_request(call);
	const char *etag, *field = "etag";
	char path[96];

	*if_version = 0;
	if (in == NULL)
		return 0;
	etag = string_field(in, "etag");
	if (etag == NULL &&
	    protobuf_c_message_descriptor_get_field_by_name(in->descriptor, "update_mask") != NULL) {
		/* An update: the etag of the resource it sends. */
		for (unsigned i = 0; i < in->descriptor->n_fields && etag == NULL; i++) {
			const ProtobufCFieldDescriptor *f = &in->descriptor->fields[i];
			const ProtobufCMessage *sub;

			if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
				continue;
			sub = *(const ProtobufCMessage *const *)((const char *)in + f->offset);
			if (sub == NULL || (etag = string_field(sub, "etag")) == NULL)
				continue;
			snprintf(path, sizeof(path), "%s.etag", f->name);
			field = path;
		}
	}
	if (etag == NULL || etag[0] == '\0')
		return 0;
	if (aw__etag_version(etag, if_version) != 0)
		return aw__invalid(call, "%s is not an etag this server issued: send the etag of "
					 "the record as read, or none",
				   field);
	return 0;
}
