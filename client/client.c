/*
 * The client: channel, registered methods, and the one unary call every typed
 * function goes through.
 */
#include "client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc_security.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

/* Every service this library calls. */
const ProtobufCServiceDescriptor *const aw__client_api_services[] = {
	&aniworld__v1__anime_series_service__descriptor,
	&aniworld__v1__episode_service__descriptor,
	&aniworld__v1__download_queue_service__descriptor,
	&aniworld__v1__user_session_service__descriptor,
	&aniworld__admin__v1__admin_service__descriptor,
};

#define N_API_SERVICES (sizeof(aw__client_api_services) / sizeof(aw__client_api_services[0]))
const size_t aw__client_n_api_services = N_API_SERVICES;

void aw_client_options_init(aw_client_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->deadline_ms = 10000;
	opts->max_receive_bytes = 4 * 1024 * 1024; /* gRPC's own default */
	opts->max_attempts = 3;
	opts->retry_initial_backoff_ms = 100;
	opts->retry_max_backoff_ms = 1000;
}

void aw_client_free(aw_client *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_free_cqs; i++) {
		grpc_completion_queue_shutdown(c->free_cqs[i]);
		grpc_completion_queue_destroy(c->free_cqs[i]);
	}
	free(c->free_cqs);
	for (size_t i = 0; i < c->n_services; i++)
		free(c->services[i].handles);
	free(c->services);
	if (c->channel != NULL)
		grpc_channel_destroy(c->channel);
	grpc_slice_unref(c->auth_md.key);
	grpc_slice_unref(c->auth_md.value);
	pthread_mutex_destroy(&c->cq_mu);
	pthread_mutex_destroy(&c->auth_mu);
	free(c);
	grpc_shutdown();
}

/* Channel credentials for the options: TLS when a root CA is given. */
static int make_credentials(const aw_client_options *o, grpc_channel_credentials **out,
			    aw_err *err)
{
	grpc_ssl_pem_key_cert_pair pair;

	if ((o->tls_cert_pem != NULL) != (o->tls_key_pem != NULL))
		return aw_err_set(err, AW_EINVAL, "tls_cert_pem and tls_key_pem go together");
	if (o->tls_root_ca_pem == NULL) {
		if (o->tls_cert_pem != NULL)
			return aw_err_set(err, AW_EINVAL, "a client certificate needs tls_root_ca_pem");
		*out = grpc_insecure_credentials_create();
		return 0;
	}
	pair.cert_chain = o->tls_cert_pem;
	pair.private_key = o->tls_key_pem;
	*out = grpc_ssl_credentials_create(o->tls_root_ca_pem,
					   o->tls_cert_pem != NULL ? &pair : NULL, NULL, NULL);
	if (*out == NULL)
		return aw_err_set(err, AW_EINVAL, "grpc refused the TLS options");
	return 0;
}

/* The "authorization" metadata for `token` (NULL or "": none): *n_md 0 or 1. */
static int make_auth_metadata(const char *token, grpc_metadata *md, size_t *n_md, aw_err *err)
{
	char *value;
	size_t n;

	md->key = grpc_empty_slice();
	md->value = grpc_empty_slice();
	*n_md = 0;
	if (token == NULL || token[0] == '\0')
		return 0;
	n = strlen(token) + sizeof("Bearer ");
	value = malloc(n);
	if (value == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the bearer token");
	snprintf(value, n, "Bearer %s", token);
	md->value = grpc_slice_from_copied_string(value);
	memset(value, 0, n);
	free(value);
	if (!grpc_header_nonbin_value_is_legal(md->value)) {
		grpc_slice_unref(md->value);
		md->value = grpc_empty_slice();
		return aw_err_set(err, AW_EINVAL, "bearer_token has characters not allowed in metadata");
	}
	md->key = grpc_slice_from_static_string("authorization");
	*n_md = 1;
	return 0;
}

int aw_client_set_bearer_token(aw_client *c, const char *token, aw_err *err)
{
	grpc_metadata md, old;
	size_t n_md;
	int rc;

	if (c == NULL)
		return aw_err_set(err, AW_EINVAL, "client is required");
	rc = make_auth_metadata(token, &md, &n_md, err);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&c->auth_mu);
	old = c->auth_md;
	c->auth_md = md;
	c->n_md = n_md;
	pthread_mutex_unlock(&c->auth_mu);
	/* Calls under way hold references of their own (aw__client_metadata). */
	grpc_slice_unref(old.key);
	grpc_slice_unref(old.value);
	aw_err_clear(err);
	return 0;
}

int aw_client_new(aw_client **out, const char *target, const aw_client_options *opts, aw_err *err)
{
	aw_client *c;
	grpc_channel_credentials *creds = NULL;
	grpc_arg args[10];
	char *service_config = NULL;
	grpc_channel_args chargs;
	int rc;

	*out = NULL;
	if (target == NULL || target[0] == '\0')
		return aw_err_set(err, AW_EINVAL, "target is required");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return aw_err_set(err, AW_ENOMEM, "out of memory for the client");
	if (opts != NULL)
		c->opts = *opts;
	else
		aw_client_options_init(&c->opts);
	if (c->opts.deadline_ms < 0 || c->opts.max_receive_bytes < 0 ||
	    c->opts.max_receive_bytes > INT32_MAX || c->opts.max_attempts < 1 ||
	    c->opts.max_attempts > 5 || c->opts.retry_initial_backoff_ms < 1 ||
	    c->opts.retry_max_backoff_ms < c->opts.retry_initial_backoff_ms) {
		free(c);
		return aw_err_set(err, AW_EINVAL, "invalid client options");
	}
	if (c->opts.load_balancing != NULL && strcmp(c->opts.load_balancing, "pick_first") != 0 &&
	    strcmp(c->opts.load_balancing, "round_robin") != 0) {
		rc = aw_err_set(err, AW_EINVAL,
				"load_balancing must be pick_first or round_robin, got \"%s\"",
				c->opts.load_balancing);
		free(c);
		return rc;
	}
	grpc_init();
	pthread_mutex_init(&c->cq_mu, NULL);
	pthread_mutex_init(&c->auth_mu, NULL);
	if (c->opts.bearer_token != NULL && c->opts.bearer_token[0] == '\0')
		rc = aw_err_set(err, AW_EINVAL, "bearer_token has characters not allowed in metadata");
	else
		rc = make_auth_metadata(c->opts.bearer_token, &c->auth_md, &c->n_md, err);
	if (rc == 0)
		rc = aw__client_service_config(&c->opts, &service_config, err);
	if (rc == 0)
		rc = make_credentials(&c->opts, &creds, err);
	if (rc != 0) {
		free(service_config);
		aw_client_free(c);
		return rc;
	}
	/* The caller's strings are not kept: everything needed is copied above. */
	c->opts.tls_root_ca_pem = c->opts.tls_cert_pem = c->opts.tls_key_pem = NULL;
	c->opts.bearer_token = NULL;

	chargs.num_args = 0;
	chargs.args = args;
	args[chargs.num_args].type = GRPC_ARG_INTEGER;
	args[chargs.num_args].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[chargs.num_args].value.integer =
		c->opts.max_receive_bytes > 0 ? (int)c->opts.max_receive_bytes : -1;
	chargs.num_args++;
	args[chargs.num_args].type = GRPC_ARG_STRING;
	args[chargs.num_args].key = (char *)GRPC_ARG_SERVICE_CONFIG;
	args[chargs.num_args].value.string = service_config;
	chargs.num_args++;
	args[chargs.num_args].type = GRPC_ARG_INTEGER;
	args[chargs.num_args].key = (char *)GRPC_ARG_ENABLE_RETRIES;
	args[chargs.num_args].value.integer = 1;
	chargs.num_args++;
	/* Come back quickly to a server that restarts (gRPC waits 1 s at first). */
	args[chargs.num_args].type = GRPC_ARG_INTEGER;
	args[chargs.num_args].key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
	args[chargs.num_args].value.integer = 100;
	chargs.num_args++;
	/* (Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: grpc uses it as the connect
	 * timeout, 20 s by default, which a TLS handshake on a slow host needs.) */
	args[chargs.num_args].type = GRPC_ARG_INTEGER;
	args[chargs.num_args].key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
	args[chargs.num_args].value.integer = 5000;
	chargs.num_args++;
	if (c->opts.dedicated_connection) {
		args[chargs.num_args].type = GRPC_ARG_INTEGER;
		args[chargs.num_args].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
		args[chargs.num_args].value.integer = 1;
		chargs.num_args++;
	}
	if (c->opts.tls_server_name != NULL) {
		args[chargs.num_args].type = GRPC_ARG_STRING;
		args[chargs.num_args].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
		args[chargs.num_args].value.string = (char *)c->opts.tls_server_name;
		chargs.num_args++;
	}
	c->channel = grpc_channel_create(target, creds, &chargs);
	grpc_channel_credentials_release(creds);
	free(service_config);
	c->opts.tls_server_name = NULL;
	c->opts.load_balancing = NULL;
	c->services = calloc(N_API_SERVICES, sizeof(*c->services));
	if (c->channel == NULL || c->services == NULL) {
		aw_client_free(c);
		return aw_err_set(err, AW_ENOMEM, "out of memory for the client");
	}
	for (size_t s = 0; s < N_API_SERVICES; s++) {
		const ProtobufCServiceDescriptor *d = aw__client_api_services[s];
		aw__client_service *cs = &c->services[c->n_services++];

		cs->desc = d;
		cs->handles = calloc(d->n_methods, sizeof(void *));
		if (cs->handles == NULL) {
			aw_client_free(c);
			return aw_err_set(err, AW_ENOMEM, "out of memory for the client");
		}
		for (unsigned m = 0; m < d->n_methods; m++) {
			char path[256];
			snprintf(path, sizeof(path), "/%s/%s", d->name, d->methods[m].name);
			cs->handles[m] = grpc_channel_register_call(c->channel, path, NULL, NULL);
		}
	}
	*out = c;
	return 0;
}

/* ---- completion queues ------------------------------------------------------------------- */

/* A pluck queue for one call, reused across calls (a queue per call in flight). */
static grpc_completion_queue *cq_get(aw_client *c)
{
	grpc_completion_queue *cq = NULL;

	pthread_mutex_lock(&c->cq_mu);
	if (c->n_free_cqs > 0)
		cq = c->free_cqs[--c->n_free_cqs];
	pthread_mutex_unlock(&c->cq_mu);
	return cq != NULL ? cq : grpc_completion_queue_create_for_pluck(NULL);
}

static void cq_put(aw_client *c, grpc_completion_queue *cq)
{
	pthread_mutex_lock(&c->cq_mu);
	if (c->n_free_cqs == c->cap_free_cqs) {
		size_t cap = c->cap_free_cqs ? c->cap_free_cqs * 2 : 8;
		grpc_completion_queue **q = realloc(c->free_cqs, cap * sizeof(*q));
		if (q == NULL) {
			pthread_mutex_unlock(&c->cq_mu);
			grpc_completion_queue_shutdown(cq);
			grpc_completion_queue_destroy(cq);
			return;
		}
		c->free_cqs = q;
		c->cap_free_cqs = cap;
	}
	c->free_cqs[c->n_free_cqs++] = cq;
	pthread_mutex_unlock(&c->cq_mu);
}

/* ---- calls ---------------------------------------------------------------------------------- */

int aw__client_find_method(aw_client *c, const ProtobufCServiceDescriptor *svc, const char *name,
			   void **handle, const ProtobufCMethodDescriptor **md)
{
	for (size_t s = 0; s < c->n_services; s++) {
		if (c->services[s].desc != svc)
			continue;
		const ProtobufCMethodDescriptor *m = protobuf_c_service_descriptor_get_method_by_name(svc, name);
		if (m == NULL)
			return AW_EINVAL;
		*md = m;
		*handle = c->services[s].handles[m - svc->methods];
		return 0;
	}
	return AW_EINVAL;
}

uint8_t *aw__client_buffer_bytes(grpc_byte_buffer *bb, size_t *len)
{
	grpc_byte_buffer_reader reader;
	grpc_slice s;
	size_t total, off = 0;
	uint8_t *out;

	if (!grpc_byte_buffer_reader_init(&reader, bb))
		return NULL;
	total = grpc_byte_buffer_length(reader.buffer_out);
	out = malloc(total ? total : 1);
	if (out != NULL) {
		while (grpc_byte_buffer_reader_next(&reader, &s)) {
			size_t n = GRPC_SLICE_LENGTH(s);
			if (n > total - off)
				n = total - off;
			memcpy(out + off, GRPC_SLICE_START_PTR(s), n);
			off += n;
			grpc_slice_unref(s);
		}
	}
	grpc_byte_buffer_reader_destroy(&reader);
	*len = off;
	return out;
}

/* One attempt of a unary call: `payload` (borrowed) to the method of
 * `handle`, the reply unpacked into *out. */
static int attempt(aw_client *c, void *handle, const ProtobufCMethodDescriptor *md,
		   grpc_slice payload, const aw_call_opts *opts, ProtobufCMessage **out,
		   aw_err *err)
{
	grpc_metadata_array initial_md, trailing_md;
	grpc_byte_buffer *send_bb, *recv_bb = NULL;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	aw__call_metadata meta;
	grpc_completion_queue *cq;
	grpc_call *call;
	grpc_op ops[6];
	grpc_event ev;
	int rc;

	rc = aw__client_metadata(c, opts, &meta, err);
	if (rc != 0)
		return rc;
	send_bb = grpc_raw_byte_buffer_create(&payload, 1);
	cq = cq_get(c);
	call = grpc_channel_create_registered_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
						   handle, aw__client_attempt_deadline(c, opts), NULL);
	grpc_metadata_array_init(&initial_md);
	grpc_metadata_array_init(&trailing_md);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = meta.n;
	ops[0].data.send_initial_metadata.metadata = meta.n > 0 ? meta.md : NULL;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send_bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv_bb;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;

	if (grpc_call_start_batch(call, ops, 6, call, NULL) != GRPC_CALL_OK) {
		rc = aw_err_set(err, AW_EINTERNAL, "cannot start the call");
	} else {
		ev = grpc_completion_queue_pluck(cq, call, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type != GRPC_OP_COMPLETE || !ev.success)
			rc = aw_err_set(err, AW_EINTERNAL, "the call did not complete");
	}
	if (rc == 0 && status != GRPC_STATUS_OK) {
		char *text = grpc_slice_to_c_string(details);
		rc = aw__client_status_error((int)status, text, &trailing_md, err);
		gpr_free(text);
	} else if (rc == 0) {
		size_t len = 0;
		uint8_t *bytes = recv_bb != NULL ? aw__client_buffer_bytes(recv_bb, &len) : NULL;
		ProtobufCMessage *msg = NULL;

		if (recv_bb == NULL)
			rc = aw_err_set(err, AW_EINTERNAL, "the server sent no reply message");
		else if (bytes == NULL)
			rc = aw_err_set(err, AW_ENOMEM, "out of memory reading the reply");
		else if ((msg = protobuf_c_message_unpack(md->output, NULL, len, bytes)) == NULL)
			rc = aw_err_set(err, AW_EINTERNAL, "the reply is not a valid %s", md->output->name);
		free(bytes);
		if (rc == 0) {
			aw_err_clear(err);
			if (out != NULL)
				*out = msg;
			else
				protobuf_c_message_free_unpacked(msg, NULL);
		}
	}
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial_md);
	grpc_metadata_array_destroy(&trailing_md);
	grpc_byte_buffer_destroy(send_bb);
	if (recv_bb != NULL)
		grpc_byte_buffer_destroy(recv_bb);
	grpc_call_unref(call);
	cq_put(c, cq);
	aw__client_metadata_free(&meta);
	return rc;
}

/* Sleeps `ms`, but not past opts->deadline_at_us. */
static void backoff_sleep(int64_t ms, const aw_call_opts *opts)
{
	if (opts != NULL && opts->deadline_at_us > 0) {
		gpr_timespec now = gpr_now(GPR_CLOCK_REALTIME);
		int64_t left_ms = (opts->deadline_at_us - aw_client_deadline_from_timespec(now.tv_sec, now.tv_nsec)) / 1000;

		if (left_ms < ms)
			ms = left_ms > 0 ? left_ms : 0;
	}
	gpr_sleep_until(gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				     gpr_time_from_millis(ms, GPR_TIMESPAN)));
}

int aw__client_unary(aw_client *c, const ProtobufCServiceDescriptor *svc, const char *method,
		     const ProtobufCMessage *req, ProtobufCMessage **out, aw_err *err,
		     const aw_call_opts *opts)
{
	const ProtobufCMethodDescriptor *md;
	grpc_slice payload;
	void *handle;
	int rc, retryable = 0;

	if (out != NULL)
		*out = NULL;
	if (c == NULL || req == NULL)
		return aw_err_set(err, AW_EINVAL, "client and request are required");
	if (aw__client_find_method(c, svc, method, &handle, &md) != 0)
		return aw_err_set(err, AW_EINVAL, "unknown method %s.%s", svc->name, method);
	if (req->descriptor != md->input)
		return aw_err_set(err, AW_EINVAL, "%s.%s takes a %s, not a %s", svc->name, method,
				  md->input->name, req->descriptor->name);
	rc = aw__client_pack_request(req, opts, &payload, &retryable, err);
	if (rc != 0)
		return rc;
	/* A write with a request_id is answered once however often it is sent:
	 * retried here (see retry.c); reads are retried by gRPC's policy. */
	for (int n = 1;; n++) {
		if (aw__client_deadline_passed(opts)) {
			rc = aw_err_set(err, AW_ETIMEDOUT, "the call's deadline (deadline_at_us) has passed");
			break;
		}
		rc = attempt(c, handle, md, payload, opts, out, err);
		if (!retryable || n >= c->opts.max_attempts || (rc != AW_EUNAVAIL && rc != AW_ETIMEDOUT))
			break;
		backoff_sleep(aw__client_backoff_ms(&c->opts, n + 1), opts);
	}
	grpc_slice_unref(payload);
	return rc;
}
