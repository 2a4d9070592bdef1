/*
 * samples.h: valid requests of every method, built from the generated
 * protobuf-c structs (so they follow the protos).
 *
 * Two sets. The base data: the writes that give a fresh server its rows (two
 * series, episodes, download items in every state a transition starts from,
 * sessions of two users), run in order. The operations: one or more requests
 * of every method, each valid on the base data by itself; list requests come
 * with page tokens the server issued, so later pages are reached too. They
 * seed the fuzzers' corpora (seeds.c) and the base data of fuzz_server().
 */
#ifndef AW_FUZZ_SAMPLES_H
#define AW_FUZZ_SAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "transport/loopback.h"

/*
 * One sample: the method, the packed request (borrowed for the call), and the
 * status the request gets on the base data (the operations) or in its place
 * in the sequence (the base data).
 */
typedef void fuzz_sample_fn(const char *path, const uint8_t *data, size_t len, int expect,
			    void *arg);

/* Calls fn for every request of the base data, in order. */
void fuzz_samples_base(fuzz_sample_fn *fn, void *arg);

/* Calls fn for every operation; `t` serves the base data (it is asked for the
 * page tokens of later pages, and left as it was). */
void fuzz_samples_operations(aw_transport *t, fuzz_sample_fn *fn, void *arg);

#endif /* AW_FUZZ_SAMPLES_H */
