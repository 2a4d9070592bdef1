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

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(AW_BUILDING_LIBRARY) && defined(__GNUC__)
#define AW_EXTERN __attribute__((visibility("default")))
#else
#define AW_EXTERN
#endif

/*
 * XX(name, value, message, grpc_status, reason)
 *
 * grpc_status is the numeric gRPC status code (see grpc/status.h), written as
 * a number so that this header needs no gRPC header. When several codes share
 * a gRPC status, the first one listed is what that status maps back to.
 * reason is the code's own ErrorInfo reason (see AW_REASON_MAP below): the
 * server sends it with every error that has no more specific reason, and the
 * client maps it back to exactly this code.
 */
#define AW_ERRNO_MAP(XX)                                                                         \
	XX(EINVAL, -1, "invalid argument", 3, "INVALID_ARGUMENT")         /* INVALID_ARGUMENT */    \
	XX(ENOTFOUND, -2, "not found", 5, "NOT_FOUND")                    /* NOT_FOUND */           \
	XX(EEXIST, -3, "already exists", 6, "ALREADY_EXISTS")             /* ALREADY_EXISTS */      \
	XX(EPRECOND, -4, "failed precondition", 9, "FAILED_PRECONDITION") /* FAILED_PRECONDITION */ \
	XX(ENOMEM, -5, "out of memory", 8, "OUT_OF_MEMORY")               /* RESOURCE_EXHAUSTED */  \
	XX(EFULL, -6, "storage is full", 8, "STORAGE_FULL")               /* RESOURCE_EXHAUSTED */  \
	XX(EOVERLOAD, -7, "server overloaded", 8, "OVERLOADED")           /* RESOURCE_EXHAUSTED */  \
	XX(EUNAVAIL, -8, "unavailable", 14, "UNAVAILABLE")                /* UNAVAILABLE */         \
	XX(EBUSY, -9, "storage is busy", 14, "STORAGE_BUSY")              /* UNAVAILABLE */         \
	XX(EREADONLY, -10, "storage is read-only", 9, "STORAGE_READ_ONLY") /* FAILED_PRECONDITION */ \
	XX(ECORRUPT, -11, "storage is corrupt", 13, "STORAGE_CORRUPT")    /* INTERNAL */            \
	XX(EIO, -12, "storage I/O error", 13, "STORAGE_IO_ERROR")         /* INTERNAL */            \
	XX(EVERSION, -13, "schema version unsupported", 9, "SCHEMA_VERSION_UNSUPPORTED") /* FAILED_PRECONDITION */ \
	XX(ECANCELED, -14, "cancelled", 1, "CANCELLED")                   /* CANCELLED */           \
	XX(ETIMEDOUT, -15, "deadline exceeded", 4, "DEADLINE_EXCEEDED")   /* DEADLINE_EXCEEDED */   \
	XX(EUNAUTH, -16, "unauthenticated", 16, "UNAUTHENTICATED")        /* UNAUTHENTICATED */     \
	XX(EPERM, -17, "permission denied", 7, "PERMISSION_DENIED")       /* PERMISSION_DENIED */   \
	XX(EUNIMPL, -18, "not implemented", 12, "NOT_IMPLEMENTED")        /* UNIMPLEMENTED */       \
	XX(EINTERNAL, -19, "internal error", 13, "INTERNAL")              /* INTERNAL */            \
	XX(EUNKNOWN, -20, "unknown error", 2, "UNKNOWN")                  /* UNKNOWN */             \
	XX(EABORTED, -21, "aborted", 10, "ABORTED")                       /* ABORTED */             \
	XX(ERANGE, -22, "out of range", 11, "OUT_OF_RANGE")               /* OUT_OF_RANGE */        \
	XX(EDATALOSS, -23, "data loss", 15, "DATA_LOSS")                  /* DATA_LOSS */           \
	XX(ECONFLICT, -24, "transaction conflict", 10, "TRANSACTION_CONFLICT") /* ABORTED */

/*
 * XX(reason, code, resource_type, meaning)
 *
 * The reasons more specific than a code's own, each standing for exactly one
 * AW_E* code. resource_type is the ResourceInfo.resource_type sent with it (""
 * when none). Reasons are stable: they are only ever appended. The domain of
 * every reason is AW_ERR_DOMAIN.
 */
#define AW_REASON_MAP(XX)                                                                        \
	XX(SERIES_NOT_FOUND, AW_ENOTFOUND, "aniworld.v1.AnimeSeries",                            \
	   "no series has this id or key (metadata: id or key)")                                  \
	XX(EPISODE_NOT_FOUND, AW_ENOTFOUND, "aniworld.v1.Episode",                               \
	   "no episode has this id (metadata: id)")                                               \
	XX(DOWNLOAD_NOT_FOUND, AW_ENOTFOUND, "aniworld.v1.DownloadQueueItem",                    \
	   "no download queue item has this id (metadata: id)")                                   \
	XX(SESSION_NOT_FOUND, AW_ENOTFOUND, "aniworld.v1.UserSession",                           \
	   "no session has this session_id (metadata: session_id)")                              \
	XX(SERIES_KEY_TAKEN, AW_EEXIST, "aniworld.v1.AnimeSeries",                               \
	   "another series has this key (metadata: key)")                                         \
	XX(EPISODE_EXISTS, AW_EEXIST, "aniworld.v1.Episode",                                     \
	   "the series already has an episode of this season and number (metadata: series_id, "  \
	   "season, episode_number)")                                                             \
	XX(DOWNLOAD_EXISTS, AW_EEXIST, "aniworld.v1.DownloadQueueItem",                          \
	   "the episode already has an unfinished download (metadata: id of that download)")     \
	XX(SESSION_EXISTS, AW_EEXIST, "aniworld.v1.UserSession",                                 \
	   "a session with this session_id exists (metadata: session_id)")                       \
	XX(DOWNLOAD_STATUS_CONFLICT, AW_EPRECOND, "aniworld.v1.DownloadQueueItem",               \
	   "the download's status does not allow the call (metadata: id, status)")                \
	XX(SESSION_REVOKED, AW_EPRECOND, "aniworld.v1.UserSession",                              \
	   "the session is revoked (metadata: session_id)")                                       \
	XX(WATCHER_TOO_SLOW, AW_EOVERLOAD, "",                                                   \
	   "the stream's reader fell too far behind and was dropped")                            \
	XX(STREAM_BACKLOG_FULL, AW_EOVERLOAD, "",                                                \
	   "the client read a stream too slowly: its backlog is full")                           \
	XX(ETAG_MISMATCH, AW_EABORTED, "",                                                       \
	   "the record changed since it was read: the etag given is stale (metadata: etag, "     \
	   "the current one)")                                                                    \
	XX(REQUEST_ID_REUSED, AW_EINVAL, "",                                                     \
	   "the request_id was used before for a different request (metadata: request_id)")

/* The ErrorInfo.domain of every reason above. */
#define AW_ERR_DOMAIN "aniworld.v1"

enum aw_errno {
#define AW_ERRNO_ENUM_(name, value, msg, grpc, reason) AW_##name = (value),
	AW_ERRNO_MAP(AW_ERRNO_ENUM_)
#undef AW_ERRNO_ENUM_
};

/* Size of aw_err.msg, the terminating NUL included. */
#define AW_ERR_MSG_MAX 256
/* Sizes of the details' strings, NULs included. */
#define AW_ERR_REASON_MAX 64
#define AW_ERR_KEY_MAX 64
#define AW_ERR_TEXT_MAX 192
/* How many metadata entries and field violations an aw_err keeps. */
#define AW_ERR_METADATA_MAX 4
#define AW_ERR_VIOLATIONS_MAX 16

/* A metadata entry (key, value) or a field violation (field, description). */
typedef struct aw_err_pair {
	char key[AW_ERR_KEY_MAX];   /* metadata key ("id"), or field path ("series.key") */
	char text[AW_ERR_TEXT_MAX]; /* its value ("42"), or what is wrong with the field */
} aw_err_pair;

/*
 * An error with its detail. Storage is always the caller's: functions that take
 * an `aw_err *` accept NULL (the detail is then dropped) and never allocate.
 *
 * Besides the code and message, an error carries the details the server sent
 * (google.rpc error details, AIP-193; the README's "Errors" lists every
 * reason): strings are "" and counts 0 when a detail is absent. Strings that do
 * not fit are truncated.
 */
typedef struct aw_err {
	int code;                  /* 0 or a negative AW_E* code */
	char msg[AW_ERR_MSG_MAX];  /* detail for people, NUL-terminated; "" when code is 0 */
	char reason[AW_ERR_REASON_MAX];      /* ErrorInfo.reason: "SERIES_NOT_FOUND" */
	char resource_type[AW_ERR_KEY_MAX];  /* ResourceInfo.resource_type: "aniworld.v1.AnimeSeries" */
	char resource_name[AW_ERR_TEXT_MAX]; /* ResourceInfo.resource_name: its id or key */
	int64_t retry_delay_ms;              /* RetryInfo.retry_delay: wait this long before
						retrying; 0 when the server gave none */
	int n_metadata;                      /* ErrorInfo.metadata, sorted by key */
	aw_err_pair metadata[AW_ERR_METADATA_MAX];
	int n_violations;                    /* BadRequest.field_violations (the first
						AW_ERR_VIOLATIONS_MAX of them) */
	aw_err_pair violations[AW_ERR_VIOLATIONS_MAX];
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
 * Records `code` and a printf-style message in `err` (which may be NULL), with
 * no details (add them with aw_err_detail), and
 * returns `code`, so that a failing path reads `return aw_err_set(err, ...)`.
 * The message is truncated to fit AW_ERR_MSG_MAX.
 */
AW_EXTERN int aw_err_set(aw_err *err, int code, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* Sets `err` (which may be NULL) to success: code 0, empty message, no details. */
AW_EXTERN void aw_err_clear(aw_err *err);

/* The reason of `code` itself, from AW_ERRNO_MAP ("NOT_FOUND" for
 * AW_ENOTFOUND); "UNKNOWN" for a value not in it, "" for 0. Never NULL. */
AW_EXTERN const char *aw_err_code_reason(int code);

/* The AW_E* code that `reason` stands for (a reason of AW_ERRNO_MAP or
 * AW_REASON_MAP), or 0 when `reason` (NULL allowed) is none of them. */
AW_EXTERN int aw_err_reason_code(const char *reason);

/* The ResourceInfo.resource_type of `reason` ("" when it has none or is not
 * in AW_REASON_MAP). Never NULL. */
AW_EXTERN const char *aw_err_reason_resource_type(const char *reason);

/*
 * Records the reason of the error in `err` (which may be NULL) and, with `key`
 * not NULL, one metadata entry `key` = the printf-style value; when the reason
 * names a resource type (AW_REASON_MAP), the first such value is also the
 * ResourceInfo's resource_name. Call it after aw_err_set, once per metadata
 * entry (the reason is set again each time). Returns the error's code: err->code,
 * or the reason's code when `err` is NULL, so that a failing path reads
 *     aw_err_set(err, AW_ENOTFOUND, "series %lld not found", id);
 *     return aw_err_detail(err, "SERIES_NOT_FOUND", "id", "%lld", id);
 */
AW_EXTERN int aw_err_detail(aw_err *err, const char *reason, const char *key, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 4, 5)))
#endif
	;

/* Appends a field violation (field path, printf-style description) to `err`
 * (which may be NULL); beyond AW_ERR_VIOLATIONS_MAX it is dropped. */
AW_EXTERN void aw_err_add_violation(aw_err *err, const char *field, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 3, 4)))
#endif
	;

#ifdef __cplusplus
}
#endif
#endif /* ANIWORLD_ERROR_H */
