/*
 * aniworld/error.h: the error codes of Aniworld Store.
 *
 * Shared by the client library and the server, and installed with the client
 * library (aniworld/client.h includes it). Every function of the project that
 * can fail returns 0 or one of the negative AW_E* codes below, and fills an
 * aw_err with a message when the caller passes one.
 *
 * Each code maps to exactly one gRPC status code; AW_ERRNO_MAP is the only
 * place that says which. Codes are only ever appended, never renumbered.
 */
#ifndef ANIWORLD_ERROR_H
#define ANIWORLD_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(AW_BUILDING_LIBRARY) && defined(__GNUC__)
#define AW_EXTERN __attribute__((visibility("default")))
#else
#define AW_EXTERN
#endif

/*
 * XX(name, value, message, grpc_status)
 *
 * grpc_status is the numeric gRPC status code (see grpc/status.h), written as
 * a number so that this header needs no gRPC header. When several codes share
 * a gRPC status, the first one listed is what that status maps back to.
 */
#define AW_ERRNO_MAP(XX)                                                     \
	XX(EINVAL, -1, "invalid argument", 3)           /* INVALID_ARGUMENT */    \
	XX(ENOTFOUND, -2, "not found", 5)               /* NOT_FOUND */           \
	XX(EEXIST, -3, "already exists", 6)             /* ALREADY_EXISTS */      \
	XX(EPRECOND, -4, "failed precondition", 9)      /* FAILED_PRECONDITION */ \
	XX(ENOMEM, -5, "out of memory", 8)              /* RESOURCE_EXHAUSTED */  \
	XX(EFULL, -6, "storage is full", 8)             /* RESOURCE_EXHAUSTED */  \
	XX(EOVERLOAD, -7, "server overloaded", 8)       /* RESOURCE_EXHAUSTED */  \
	XX(EUNAVAIL, -8, "unavailable", 14)             /* UNAVAILABLE */         \
	XX(EBUSY, -9, "storage is busy", 14)            /* UNAVAILABLE */         \
	XX(EREADONLY, -10, "storage is read-only", 9)   /* FAILED_PRECONDITION */ \
	XX(ECORRUPT, -11, "storage is corrupt", 13)     /* INTERNAL */            \
	XX(EIO, -12, "storage I/O error", 13)           /* INTERNAL */            \
	XX(EVERSION, -13, "schema version unsupported", 9) /* FAILED_PRECONDITION */ \
	XX(ECANCELED, -14, "cancelled", 1)              /* CANCELLED */           \
	XX(ETIMEDOUT, -15, "deadline exceeded", 4)      /* DEADLINE_EXCEEDED */   \
	XX(EUNAUTH, -16, "unauthenticated", 16)         /* UNAUTHENTICATED */     \
	XX(EPERM, -17, "permission denied", 7)          /* PERMISSION_DENIED */   \
	XX(EUNIMPL, -18, "not implemented", 12)         /* UNIMPLEMENTED */       \
	XX(EINTERNAL, -19, "internal error", 13)        /* INTERNAL */            \
	XX(EUNKNOWN, -20, "unknown error", 2)           /* UNKNOWN */             \
	XX(EABORTED, -21, "aborted", 10)                /* ABORTED */             \
	XX(ERANGE, -22, "out of range", 11)             /* OUT_OF_RANGE */        \
	XX(EDATALOSS, -23, "data loss", 15)             /* DATA_LOSS */           \
	XX(ECONFLICT, -24, "transaction conflict", 10)  /* ABORTED */

enum aw_errno {
#define AW_ERRNO_ENUM_(name, value, msg, grpc) AW_##name = (value),
	AW_ERRNO_MAP(AW_ERRNO_ENUM_)
#undef AW_ERRNO_ENUM_
};

/* Size of aw_err.msg, the terminating NUL included. */
#define AW_ERR_MSG_MAX 256

/*
 * An error with its detail. Storage is always the caller's: functions that take
 * an `aw_err *` accept NULL (the detail is then dropped) and never allocate.
 */
typedef struct aw_err {
	int code;                  /* 0 or a negative AW_E* code */
	char msg[AW_ERR_MSG_MAX];  /* detail for people, NUL-terminated; "" when code is 0 */
} aw_err;

/* Returns a static description of `code` ("not found"); "success" for 0 and
 * "unknown error code" for a value not in AW_ERRNO_MAP. Never NULL. */
AW_EXTERN const char *aw_strerror(int code);

/* Returns the symbolic name of `code` ("AW_ENOTFOUND", "OK" for 0), or
 * "AW_E?" for a value not in AW_ERRNO_MAP. Never NULL. */
AW_EXTERN const char *aw_err_name(int code);

/* Returns the gRPC status code (0..16) that `code` maps to: 0 for 0, UNKNOWN
 * (2) for a value not in AW_ERRNO_MAP. */
AW_EXTERN int aw_err_grpc_status(int code);

/* Returns the AW_E* code that gRPC status `status` maps to (0 for OK), so that
 * aw_err_grpc_status(aw_err_from_grpc_status(s)) == s for every status 0..16;
 * AW_EUNKNOWN for a number outside 0..16. */
AW_EXTERN int aw_err_from_grpc_status(int status);

/*
 * Records `code` and a printf-style message in `err` (which may be NULL) and
 * returns `code`, so that a failing path reads `return aw_err_set(err, ...)`.
 * The message is truncated to fit AW_ERR_MSG_MAX.
 */
AW_EXTERN int aw_err_set(aw_err *err, int code, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* Sets `err` (which may be NULL) to success: code 0, empty message. */
AW_EXTERN void aw_err_clear(aw_err *err);

#ifdef __cplusplus
}
#endif
#endif /* ANIWORLD_ERROR_H */
