/*
 * The AW_E* table turned into functions: names, descriptions and the mapping to
 * and from gRPC status codes. Everything here derives from AW_ERRNO_MAP.
 */
#include "aniworld/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *aw_strerror(int code)
{
	switch (code) {
	case 0:
		return "success";
#define XX(name, value, msg, grpc, reason) \
	case AW_##name:            \
		return msg;
		AW_ERRNO_MAP(XX)
#undef XX
	}
	return "unknown error code";
}

const char *aw_err_name(int code)
{
	switch (code) {
	case 0:
		return "OK";
#define XX(name, value, msg, grpc, reason) \
	case AW_##name:            \
		return "AW_" #name;
		AW_ERRNO_MAP(XX)
#undef XX
	}
	return "AW_E?";
}

int aw_err_grpc_status(int code)
{
	switch (code) {
	case 0:
		return 0;
#define XX(name, value, msg, grpc, reason) \
	case AW_##name:            \
		return grpc;
		AW_ERRNO_MAP(XX)
#undef XX
	}
	return 2; /* UNKNOWN */
}

int aw_err_from_grpc_status(int status)
{
	if (status == 0)
		return 0;
	/* The first entry listed for a status wins, as the header promises. */
#define XX(name, value, msg, grpc, reason) \
	if (status == (grpc))      \
		return AW_##name;
	AW_ERRNO_MAP(XX)
#undef XX
	return AW_EUNKNOWN;
}

/* Drops the details of `err` (not NULL); cheap, since an aw_err is large. */
static void clear_details(aw_err *err)
{
	err->reason[0] = '\0';
	err->resource_type[0] = '\0';
	err->resource_name[0] = '\0';
	err->retry_delay_ms = 0;
	err->n_metadata = 0;
	err->n_violations = 0;
}

int aw_err_set(aw_err *err, int code, const char *fmt, ...)
{
	if (err != NULL) {
		va_list ap;

		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		clear_details(err);
	}
	return code;
}

void aw_err_clear(aw_err *err)
{
	if (err != NULL) {
		err->code = 0;
		err->msg[0] = '\0';
		clear_details(err);
	}
}

const char *aw_err_code_reason(int code)
{
	switch (code) {
	case 0:
		return "";
#define XX(name, value, msg, grpc, reason) \
	case AW_##name:                    \
		return reason;
		AW_ERRNO_MAP(XX)
#undef XX
	}
	return "UNKNOWN";
}

int aw_err_reason_code(const char *reason)
{
	if (reason == NULL || reason[0] == '\0')
		return 0;
#define XX(name, value, msg, grpc, r) \
	if (strcmp(reason, r) == 0)   \
		return AW_##name;
	AW_ERRNO_MAP(XX)
#undef XX
#define XX(r, code, type, meaning)     \
	if (strcmp(reason, #r) == 0) \
		return code;
	AW_REASON_MAP(XX)
#undef XX
	return 0;
}

const char *aw_err_reason_resource_type(const char *reason)
{
	if (reason == NULL)
		return "";
#define XX(r, code, type, meaning)     \
	if (strcmp(reason, #r) == 0) \
		return type;
	AW_REASON_MAP(XX)
#undef XX
	return "";
}

int aw_err_detail(aw_err *err, const char *reason, const char *key, const char *fmt, ...)
{
	aw_err_pair *m;
	va_list ap;

	if (err == NULL)
		return aw_err_reason_code(reason);
	snprintf(err->reason, sizeof(err->reason), "%s", reason);
	if (key == NULL || err->n_metadata >= AW_ERR_METADATA_MAX)
		return err->code;
	m = &err->metadata[err->n_metadata++];
	snprintf(m->key, sizeof(m->key), "%s", key);
	va_start(ap, fmt);
	vsnprintf(m->text, sizeof(m->text), fmt, ap);
	va_end(ap);
	if (err->resource_type[0] == '\0' && aw_err_reason_resource_type(reason)[0] != '\0') {
		snprintf(err->resource_type, sizeof(err->resource_type), "%s",
			 aw_err_reason_resource_type(reason));
		snprintf(err->resource_name, sizeof(err->resource_name), "%s", m->text);
	}
	return err->code;
}

void aw_err_add_violation(aw_err *err, const char *field, const char *fmt, ...)
{
	aw_err_pair *v;
	va_list ap;

	if (err == NULL || err->n_violations >= AW_ERR_VIOLATIONS_MAX)
		return;
	v = &err->violations[err->n_violations++];
	snprintf(v->key, sizeof(v->key), "%s", field);
	va_start(ap, fmt);
	vsnprintf(v->text, sizeof(v->text), fmt, ap);
	va_end(ap);
}
