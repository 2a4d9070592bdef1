/*
 * call.h: the call context a stub receives as its closure_data.
 *
 * A generated stub has the shape
 *     void method(Service *svc, const Request *in, Reply_Closure closure, void *closure_data)
 * and the transport passes an aw_call as closure_data. The stub checks its input,
 * sets a status when it must refuse, and calls `closure` once:
 *
 *   unary:            closure(reply, call) sends reply with status OK;
 *                     aw_call_set_status(call, code, ...) then closure(NULL, call)
 *                     sends that status instead. The closure may be called later,
 *                     from any thread (the repository's writer does), but exactly once.
 *   server-streaming: closure(msg, call) sends one message, closure(NULL, call)
 *                     ends the stream with the status set (OK if none). The stub
 *                     may return first and keep sending from other threads, for
 *                     which it takes a reference (aw_call_ref) and registers an
 *                     aw_call_on_done hook to learn when the call has ended.
 *   bidirectional:    the stub runs once per request message and must call the
 *                     closure before returning: closure(msg, call) answers it,
 *                     closure(NULL, call) ends the call with the status set.
 *
 * `in` and everything from aw_call_alloc() live until the reply is sent (unary),
 * or until the stub returns (streaming); nothing of them needs freeing.
 */
#ifndef AW_CALL_H
#define AW_CALL_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/slice.h>
#include <protobuf-c/protobuf-c.h>

#include "aniworld/error.h"

typedef struct aw_call aw_call;

/*
 * Sets the status the call ends with: a gRPC status code and a printf-style
 * message for the caller, which should name the offending field or record. The
 * last status set wins. Returns AW_E* code matching `grpc_code` so that a
 * handler can `return` it if it likes.
 */
int aw_call_set_status(aw_call *call, int grpc_code, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* Sets the status from an aw_err: its code mapped through AW_ERRNO_MAP, its
 * message, and its details (reason, metadata, resource, violations, retry
 * delay), which the status carries to the client. */
void aw_call_set_error(aw_call *call, const aw_err *err);

/*
 * The error's details. Every error status goes out with a google.rpc.Status in
 * the grpc-status-details-bin trailer (status_details.h): its ErrorInfo reason
 * is the one set here, else the reason of the status's AW_E* code. What these
 * record belongs to the status set last: setting a status (aw_call_set_status,
 * aw_call_set_error) drops what was recorded before. Not thread-safe: call them
 * where the status is set. Out of memory, a detail is dropped silently (the
 * status still goes out).
 */

/* Sets the ErrorInfo reason (copied; one of AW_REASON_MAP, or of AW_ERRNO_MAP)
 * and, with `key` not NULL, adds the metadata entry `key` = printf-style value
 * (copied). A reason of AW_REASON_MAP with a resource type also names the
 * resource (ResourceInfo) after the first value. */
void aw_call_set_reason(aw_call *call, const char *reason, const char *key, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 4, 5)))
#endif
	;

/*
 * Records that field `field` of the request (a path, "series.key",
 * "episodes[3].season") is invalid, with a printf-style description that names
 * the field and the bad value (caller-supplied text escaped, see escape.h).
 * The first violation sets INVALID_ARGUMENT; the status message joins the
 * descriptions with "; " as far as they fit, the BadRequest detail lists the
 * first AW_ERR_VIOLATIONS_MAX and ErrorInfo's metadata "invalid_fields" says
 * how many there were. Returns -1, so a check can `return` it.
 */
int aw_call_add_violation(aw_call *call, const char *field, const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* How many field violations were recorded for the status set last (0 when none). */
int aw_call_violations(const aw_call *call);

/* Records the request's request_id (copied; NULL or "" for none), which the
 * access log line of the call shows. */
void aw_call_set_request_id(aw_call *call, const char *request_id);

/* The status set so far (0 = OK). */
int aw_call_status(const aw_call *call);

/* The allocator for the call's arena: use it for the reply and anything the reply
 * points to. Borrowed; memory is released with the call. */
ProtobufCAllocator *aw_call_allocator(aw_call *call);

/* `size` bytes from the call's arena, or NULL when memory is exhausted. */
void *aw_call_alloc(aw_call *call, size_t size);

/* The method path, "/aniworld.v1.AnimeSeriesService/GetSeries" (borrowed). */
const char *aw_call_method(const aw_call *call);

/* The request message the stub was invoked with (borrowed, lives as `in`
 * does); NULL before the stub runs. */
const ProtobufCMessage *aw_call_request(const aw_call *call);

/* The type of the method's reply message; NULL for an unknown path. */
const ProtobufCMessageDescriptor *aw_call_reply_descriptor(const aw_call *call);

/* Whether the work for this call is no longer wanted: 0 when it still is,
 * AW_ECANCELED when the client cancelled or the connection broke (seen once
 * aw_call_watch_cancel has been called), AW_ETIMEDOUT when the deadline has
 * passed. Thread-safe. */
int aw_call_abandoned(const aw_call *call);

/* Starts watching for the client's cancel, so that aw_call_abandoned() can see
 * it; for work that has to wait (queued writes). Streams are always watched.
 * Thread-safe; later calls do nothing. */
void aw_call_watch_cancel(aw_call *call);

/* The call's deadline as CLOCK_MONOTONIC microseconds, INT64_MAX when none. */
int64_t aw_call_deadline_us(const aw_call *call);

/* Takes a reference that keeps `call` valid (not its stream) until aw_call_unref. */
void aw_call_ref(aw_call *call);
void aw_call_unref(aw_call *call);

/*
 * Streaming: queues one message (already packed into `packed`, whose reference
 * the function takes its own of) on a server-streaming or bidirectional call.
 * Thread-safe. Returns AW_ECANCELED when the call has ended or is ending, and
 * AW_EOVERLOAD when the stream's backlog is full (a slow reader): the caller
 * then usually ends the call with RESOURCE_EXHAUSTED.
 */
int aw_call_send_packed(aw_call *call, grpc_slice packed);

/* Packs `msg` and queues it as aw_call_send_packed() does; AW_ENOMEM too. */
int aw_call_send(aw_call *call, const ProtobufCMessage *msg);

/*
 * Streaming, for a thread of the service's own that produces messages faster
 * than the client takes them (a file streamed in chunks): waits until fewer
 * than `max_pending` messages of the stream are queued or being sent, at most
 * `timeout_ms`. Returns 0 (send the next one), AW_ECANCELED when the stream
 * has ended or is ending, AW_ETIMEDOUT. Never call it on a transport thread:
 * the sends it waits for complete there.
 */
int aw_call_wait_sendable(aw_call *call, int max_pending, int64_t timeout_ms);

/*
 * Streaming: sends the response headers now, ahead of any message, so that the
 * client learns the stream is established (a watch that has nothing to send
 * yet). Thread-safe; does nothing once headers went out or the call is ending.
 */
void aw_call_send_initial_metadata(aw_call *call);

/*
 * Ends a streaming call after the messages already queued, with `grpc_code` and
 * message `text` (may be NULL). Thread-safe and idempotent: the first ending wins.
 */
void aw_call_finish(aw_call *call, int grpc_code, const char *text);

/* As aw_call_finish, with `reason` (a string literal, of AW_REASON_MAP) as the
 * ErrorInfo reason and its AW_E* code as the status's. */
void aw_call_finish_reason(aw_call *call, int grpc_code, const char *reason, const char *text);

/*
 * Registers `fn(call, arg)` to run once when the streaming call has ended for any
 * reason (finished, cancelled by the client, broken connection, server
 * shutdown). It runs on a transport thread with no transport lock held; after it
 * returns, sends fail with AW_ECANCELED. Register it before the stub returns.
 */
void aw_call_on_done(aw_call *call, void (*fn)(aw_call *call, void *arg), void *arg);

#endif /* AW_CALL_H */
