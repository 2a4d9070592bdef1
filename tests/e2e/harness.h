/*
 * harness.h: a real server for end-to-end tests.
 *
 * Starts the server in-process, exactly as main.c does but on 127.0.0.1 with
 * an ephemeral port and a fresh database of the backend under test (test_db.h:
 * a file in the harness's temporary directory on SQLite, a new database on the
 * PostgreSQL fixture with AW_TEST_BACKEND=postgres), and stops it on request. Also makes raw gRPC calls, for what the client library
 * would never send (undecodable bytes, unknown methods).
 */
#ifndef AW_TEST_HARNESS_H
#define AW_TEST_HARNESS_H

#include <stddef.h>

#include "config.h"
#include "server.h"
#include "test_db.h"

typedef struct harness {
	char dir[64];      /* temporary directory, removed by harness_cleanup */
	char db[256];      /* the database: a file in dir, or a PostgreSQL URI */
	test_db pg;        /* with PostgreSQL, its database, dropped by harness_cleanup */
	char target[64];   /* "127.0.0.1:<port>" */
	aw_server *server; /* NULL while stopped */
	int port;
	int threads;       /* 0 = 2 */
	int64_t grace_ms;  /* 0 = 2000 */
	/* Called on the configuration before every start, to set more (TLS, ...). */
	void (*configure)(aw_config *cfg, void *arg);
	void *configure_arg;
} harness;

/* Makes the temporary directory and a new database, and starts a server on
 * it. On failure it has cleaned up itself (as harness_cleanup). */
int harness_start(harness *h);

/* Only makes the directory and the database, for a harness_restart later (a
 * server that comes up late). On failure it has cleaned up itself. */
int harness_prepare(harness *h);

/* Starts the server again on the same database (after harness_stop or
 * harness_prepare). */
int harness_restart(harness *h);

/* Stops the server gracefully; the database stays. */
void harness_stop(harness *h);

/* Stops the server if running, removes the directory and drops the database.
 * Harmless when called again. */
void harness_cleanup(harness *h);

/* Fails the running cmocka test unless `rc` is `code` and, when `needle` is
 * not NULL, err's message contains it. */
void harness_expect_status(int rc, const aw_err *err, int code, const char *needle);

/*
 * Calls `method` ("/pkg.Service/Method") on `target` with `len` raw bytes as the
 * request message and waits for the status. Returns the gRPC status; copies its
 * message into `details` (size `n`). *reply_len (may be NULL) is the size of the
 * reply message, or -1 when none came.
 */
int harness_raw_call(const char *target, const char *method, const void *bytes, size_t len,
		     char *details, size_t n, long *reply_len);

/* As harness_raw_call, with a deadline of `timeout_ms` instead of 10 s, and
 * the first `cap` bytes of the reply message copied into `reply` (may be
 * NULL); *reply_len tells its whole size. */
int harness_raw_call_reply(const char *target, const char *method, const void *bytes, size_t len,
			   char *details, size_t n, void *reply, size_t cap, long *reply_len,
			   int timeout_ms);

#endif /* AW_TEST_HARNESS_H */
