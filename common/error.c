/*
 * The AW_E* table turned into functions: names, descriptions and the mapping to
 * and from gRPC status codes. Everything here derives from AW_ERRNO_MAP.
 */
#include "aniworld/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *aw_strerror(int code)
{
	switch (code) {
	case 0:
		return "success";
#define XX(name, value, msg, grpc) \
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
#define XX(name, value, msg, grpc) \
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
#define XX(name, value, msg, grpc) \
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
#define XX(name, value, msg, grpc) \
	if (status == (grpc))      \
		return AW_##name;
	AW_ERRNO_MAP(XX)
#undef XX
	return AW_EUNKNOWN;
}

int aw_err_set(aw_err *err, int code, const char *fmt, ...)
{
	if (err != NULL) {
		va_list ap;

		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

void aw_err_clear(aw_err *err)
{
	if (err != NULL) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
