/*
 * Server reflection, both versions in one implementation.
 *
 * v1 and v1alpha have the same messages under two packages, so protoc-c
 * generates two sets of distinct C types. Rather than write everything twice,
 * this file reads requests and builds responses through the message
 * descriptors (fields looked up by name, reached by offset), and serves each
 * version with a ProtobufCService whose invoke is ours: one code path, two
 * descriptors.
 */
#include "reflection.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/status.h>

#include "call.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"

typedef struct version {
	ProtobufCService base; /* first: what the transport invokes */
	aw_reflection *owner;
} version;

struct aw_reflection {
	version v1, v1alpha;
	const aw_descpool *pool;
	char **services;   /* what list_services answers */
	size_t n_services;
};

/* ---- descriptor-driven access ----------------------------------------------------------- */

static const ProtobufCFieldDescriptor *field(const ProtobufCMessageDescriptor *d, const char *name)
{
	return protobuf_c_message_descriptor_get_field_by_name(d, name);
}

static void *at(const void *msg, const ProtobufCFieldDescriptor *f)
{
	return (char *)msg + f->offset;
}

/* Whether oneof member `name` of `msg` is the one set; its field in *f. */
static int oneof_is(const ProtobufCMessage *msg, const char *name,
		    const ProtobufCFieldDescriptor **f)
{
	*f = field(msg->descriptor, name);
	return *f != NULL && *(const uint32_t *)((const char *)msg + (*f)->quantifier_offset) == (*f)->id;
}

static const char *string_of(const ProtobufCMessage *msg, const char *name)
{
	const ProtobufCFieldDescriptor *f = field(msg->descriptor, name);
	const char *s = f != NULL ? *(char *const *)at(msg, f) : NULL;

	return s != NULL ? s : "";
}

/* A new message of the type of field `f`, from the call's arena. */
static ProtobufCMessage *new_sub(aw_call *call, const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	ProtobufCMessage *m = aw_call_alloc(call, d->sizeof_message);

	if (m != NULL)
		d->message_init(m);
	return m;
}

/* Sets message field `name` of `msg` to a new message and, for a oneof member,
 * selects it. Returns the new message or NULL when out of memory. */
static ProtobufCMessage *set_sub(aw_call *call, ProtobufCMessage *msg, const char *name)
{
	const ProtobufCFieldDescriptor *f = field(msg->descriptor, name);
	ProtobufCMessage *sub = new_sub(call, f);

	if (sub == NULL)
		return NULL;
	*(ProtobufCMessage **)at(msg, f) = sub;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)((char *)msg + f->quantifier_offset) = f->id;
	return sub;
}

static void set_string(ProtobufCMessage *msg, const char *name, const char *value)
{
	*(const char **)at(msg, field(msg->descriptor, name)) = value;
}

/* Sets repeated field `name` to `n` elements of `size` bytes, the array in *arr. */
static int set_repeated(aw_call *call, ProtobufCMessage *msg, const char *name, size_t n,
			size_t size, void **arr)
{
	const ProtobufCFieldDescriptor *f = field(msg->descriptor, name);

	*arr = n > 0 ? aw_call_alloc(call, n * size) : NULL;
	if (n > 0 && *arr == NULL)
		return AW_ENOMEM;
	*(size_t *)((char *)msg + f->quantifier_offset) = n;
	*(void **)at(msg, f) = *arr;
	return 0;
}

/* ---- answers ------------------------------------------------------------------------- */

/* Answers with an error_response: gRPC status `code` and a printf-style message. */
static int error_response(aw_call *call, ProtobufCMessage *resp, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int error_response(aw_call *call, ProtobufCMessage *resp, int code, const char *fmt, ...)
{
	ProtobufCMessage *e = set_sub(call, resp, "error_response");
	const ProtobufCFieldDescriptor *f;
	char *copy = aw_call_alloc(call, AW_ERR_MSG_MAX);
	va_list ap;

	if (e == NULL || copy == NULL)
		return AW_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(copy, AW_ERR_MSG_MAX, fmt, ap);
	va_end(ap);
	f = field(e->descriptor, "error_code");
	*(int32_t *)at(e, f) = code;
	set_string(e, "error_message", copy);
	return 0;
}

/* Collects `file` and everything it imports, each once, depth first. */
static size_t collect_files(const aw_descpool *pool, size_t file, size_t *out, size_t n,
			    unsigned char *seen)
{
	size_t n_deps;
	const size_t *deps;

	if (seen[file])
		return n;
	seen[file] = 1;
	out[n++] = file;
	deps = aw_descpool_file_deps(pool, file, &n_deps);
	for (size_t i = 0; i < n_deps; i++)
		n = collect_files(pool, deps[i], out, n, seen);
	return n;
}

static int file_response(aw_call *call, const aw_descpool *pool, ProtobufCMessage *resp,
			 size_t file)
{
	size_t total = aw_descpool_file_count(pool);
	size_t *files = aw_call_alloc(call, total * sizeof(size_t));
	unsigned char *seen = aw_call_alloc(call, total);
	ProtobufCMessage *fdr = set_sub(call, resp, "file_descriptor_response");
	ProtobufCBinaryData *protos;
	size_t n;

	if (files == NULL || seen == NULL || fdr == NULL)
		return AW_ENOMEM;
	memset(seen, 0, total);
	n = collect_files(pool, file, files, 0, seen);
	if (set_repeated(call, fdr, "file_descriptor_proto", n, sizeof(*protos), (void **)&protos) != 0)
		return AW_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *data;
		size_t len;

		aw_descpool_file_bytes(pool, files[i], &data, &len);
		protos[i].data = (uint8_t *)data; /* borrowed from the pool; packed before it goes */
		protos[i].len = len;
	}
	return 0;
}

static int services_response(aw_call *call, const aw_reflection *r, ProtobufCMessage *resp)
{
	ProtobufCMessage *list = set_sub(call, resp, "list_services_response");
	const ProtobufCFieldDescriptor *f;
	ProtobufCMessage **items;

	if (list == NULL)
		return AW_ENOMEM;
	f = field(list->descriptor, "service");
	if (set_repeated(call, list, "service", r->n_services, sizeof(*items), (void **)&items) != 0)
		return AW_ENOMEM;
	for (size_t i = 0; i < r->n_services; i++) {
		items[i] = new_sub(call, f);
		if (items[i] == NULL)
			return AW_ENOMEM;
		set_string(items[i], "name", r->services[i]);
	}
	return 0;
}

static int extensions_response(aw_call *call, const aw_descpool *pool, ProtobufCMessage *resp,
			       const char *type)
{
	size_t file;
	aw_symbol_kind kind;
	ProtobufCMessage *ext;

	if (aw_descpool_file_of_symbol(pool, type, &file, &kind) != 0 || kind != AW_SYMBOL_MESSAGE)
		return error_response(call, resp, GRPC_STATUS_NOT_FOUND, "message type %s not found",
				      type);
	ext = set_sub(call, resp, "all_extension_numbers_response");
	if (ext == NULL)
		return AW_ENOMEM;
	set_string(ext, "base_type_name", type); /* no extensions: the list stays empty */
	return 0;
}

/* Answers one request with one response (see reflection.h for what). */
static int answer(aw_call *call, const aw_reflection *r, const ProtobufCMessage *req,
		  ProtobufCMessage *resp)
{
	const aw_descpool *pool = r->pool;
	const ProtobufCFieldDescriptor *f;
	size_t file, size = protobuf_c_message_get_packed_size(req);

	/* A response repeats its request: a large one is answered without it,
	 * so that no response grows with what the client sends. */
	if (size > AW_REFLECTION_MAX_REQUEST)
		return error_response(call, resp, GRPC_STATUS_INVALID_ARGUMENT,
				      "request of %zu bytes: names are shorter than %d bytes", size,
				      AW_REFLECTION_MAX_REQUEST);
	set_string(resp, "valid_host", string_of(req, "host"));
	*(const ProtobufCMessage **)at(resp, field(resp->descriptor, "original_request")) = req;

	if (oneof_is(req, "file_by_filename", &f)) {
		const char *name = *(char *const *)at(req, f);
		if (aw_descpool_file_by_name(pool, name, &file) != 0)
			return error_response(call, resp, GRPC_STATUS_NOT_FOUND, "file %s not found", name);
		return file_response(call, pool, resp, file);
	}
	if (oneof_is(req, "file_containing_symbol", &f)) {
		const char *symbol = *(char *const *)at(req, f);
		if (aw_descpool_file_of_symbol(pool, symbol, &file, NULL) != 0)
			return error_response(call, resp, GRPC_STATUS_NOT_FOUND, "symbol %s not found",
					      symbol);
		return file_response(call, pool, resp, file);
	}
	if (oneof_is(req, "file_containing_extension", &f)) {
		const ProtobufCMessage *ext = *(const ProtobufCMessage *const *)at(req, f);
		return error_response(call, resp, GRPC_STATUS_NOT_FOUND,
				      "extension %d of %s not found: no extensions are defined",
				      ext != NULL ? *(const int32_t *)at(ext, field(ext->descriptor, "extension_number")) : 0,
				      ext != NULL ? string_of(ext, "containing_type") : "");
	}
	if (oneof_is(req, "all_extension_numbers_of_type", &f))
		return extensions_response(call, pool, resp, *(char *const *)at(req, f));
	if (oneof_is(req, "list_services", &f))
		return services_response(call, r, resp);
	return error_response(call, resp, GRPC_STATUS_INVALID_ARGUMENT,
			      "message_request: none of its fields is set");
}

/* The invoke of both services: one request in, one response out. */
static void reflection_invoke(ProtobufCService *service, unsigned method_index,
			      const ProtobufCMessage *input, ProtobufCClosure closure,
			      void *closure_data)
{
	version *v = (version *)service;
	aw_call *call = closure_data;
	const ProtobufCMessageDescriptor *rd = service->descriptor->methods[method_index].output;
	ProtobufCMessage *resp = aw_call_alloc(call, rd->sizeof_message);

	if (resp == NULL) {
		aw_call_set_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		closure(NULL, call);
		return;
	}
	rd->message_init(resp);
	if (answer(call, v->owner, input, resp) != 0) {
		aw_call_set_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		closure(NULL, call);
		return;
	}
	closure(resp, call);
}

static void no_destroy(ProtobufCService *service)
{
	(void)service;
}

int aw_reflection_new(aw_reflection **out, const aw_descpool *pool, aw_err *err)
{
	aw_reflection *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (r == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for reflection");
	r->pool = pool;
	r->v1.base.descriptor = &grpc__reflection__v1__server_reflection__descriptor;
	r->v1alpha.base.descriptor = &grpc__reflection__v1alpha__server_reflection__descriptor;
	r->v1.base.invoke = r->v1alpha.base.invoke = reflection_invoke;
	r->v1.base.destroy = r->v1alpha.base.destroy = no_destroy;
	r->v1.owner = r->v1alpha.owner = r;
	*out = r;
	return 0;
}

size_t aw_reflection_max_reply(const aw_reflection *r)
{
	size_t total = aw_descpool_file_count(r->pool), largest = 0;
	size_t *files = calloc(total ? total : 1, sizeof(*files));
	unsigned char *seen = calloc(total ? total : 1, 1);

	if (files == NULL || seen == NULL) {
		free(files);
		free(seen);
		return SIZE_MAX;
	}
	for (size_t file = 0; file < total; file++) {
		size_t n, size = 0;

		memset(seen, 0, total);
		n = collect_files(r->pool, file, files, 0, seen);
		for (size_t i = 0; i < n; i++) {
			const uint8_t *data;
			size_t len;

			aw_descpool_file_bytes(r->pool, files[i], &data, &len);
			size += len + 6; /* the bytes, their tag and length */
		}
		if (size > largest)
			largest = size;
	}
	free(files);
	free(seen);
	/* The file_descriptor_response around them; valid_host and the original
	 * request, each at most AW_REFLECTION_MAX_REQUEST; tags and lengths. */
	return largest + 2 * AW_REFLECTION_MAX_REQUEST + 64;
}

int aw_reflection_add(aw_reflection *r, const char *service_name, aw_err *err)
{
	size_t file;
	aw_symbol_kind kind;
	char **names;
	char *copy;

	if (aw_descpool_file_of_symbol(r->pool, service_name, &file, &kind) != 0 ||
	    kind != AW_SYMBOL_SERVICE)
		return aw_err_set(err, AW_EINVAL, "reflection: %s is not a service in the descriptor set",
				  service_name);
	copy = strdup(service_name);
	names = copy != NULL ? realloc(r->services, (r->n_services + 1) * sizeof(*names)) : NULL;
	if (names == NULL) {
		free(copy);
		return aw_err_set(err, AW_ENOMEM, "out of memory for reflection");
	}
	r->services = names;
	r->services[r->n_services++] = copy;
	return 0;
}

ProtobufCService *aw_reflection_service_v1(aw_reflection *r)
{
	return &r->v1.base;
}

ProtobufCService *aw_reflection_service_v1alpha(aw_reflection *r)
{
	return &r->v1alpha.base;
}

void aw_reflection_free(aw_reflection *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_services; i++)
		free(r->services[i]);
	free(r->services);
	free(r);
}
