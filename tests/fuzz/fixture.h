/*
 * fixture.h: the server the request fuzzers run against, and their input format.
 *
 * The server is the real one, assembled by server.c with every service it
 * registers, opened on a private in-memory database and never listening;
 * requests reach it through the transport's loopback (transport/loopback.h).
 * Before the first request it receives the base data (samples.h), so that
 * reads find rows and every transition has an item in the state it needs.
 *
 * An input of fuzz_requests is a method selector, 4 bytes big-endian, then the
 * request message. The selector of a method is the FNV-1a hash of its path, so
 * an input keeps its meaning when services are added; a selector that is no
 * method's hash picks method (selector % count), so every input reaches one.
 */
#ifndef AW_FUZZ_FIXTURE_H
#define AW_FUZZ_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"
#include "transport/loopback.h"

/* Bytes of the method selector at the start of an input. */
#define FUZZ_SELECTOR_BYTES 4

/*
 * The shared server, opened with the base data on first use, and reopened
 * after every `reset_every` uses (0: never), so that what earlier inputs
 * wrote neither piles up nor wears the base data away. Aborts when the server
 * cannot be built or the base data is refused: the fuzzer would be useless.
 * Freed at exit.
 */
aw_server *fuzz_server(unsigned reset_every);

/* The transport of fuzz_server(). */
aw_transport *fuzz_transport(unsigned reset_every);

/* Opens a server with the base data; the caller frees it with aw_server_free(). */
aw_server *fuzz_server_new(void);

/* The selector of method `path`. */
uint32_t fuzz_selector(const char *path);

/* The method `selector` picks among those `t` serves (see above). */
size_t fuzz_pick_method(aw_transport *t, uint32_t selector);

/* Reads the selector at the start of `data` (which has at least
 * FUZZ_SELECTOR_BYTES); writes one to `out`. */
uint32_t fuzz_selector_read(const uint8_t *data);
void fuzz_selector_write(uint32_t selector, uint8_t *out);

/* Aborts with a message on stderr: a fuzz target's oracle failed. */
void fuzz_fail(const char *fmt, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 1, 2), noreturn))
#endif
	;

#endif /* AW_FUZZ_FIXTURE_H */
