/*
 * descriptors.h: the served protobuf schema, from a FileDescriptorSet.
 *
 * The build compiles every served .proto (and everything they import) into one
 * FileDescriptorSet and embeds it in the server. This module indexes it:
 * which methods stream (protobuf-c's service descriptors do not say), which
 * file defines a symbol and the serialized bytes of each file, as server
 * reflection needs them.
 *
 * A pool is immutable once built and safe to read from any thread.
 */
#ifndef AW_DESCRIPTORS_H
#define AW_DESCRIPTORS_H

#include <stddef.h>
#include <stdint.h>

#include "aniworld/error.h"

typedef struct aw_descpool aw_descpool;

/* What a symbol names. */
typedef enum aw_symbol_kind {
	AW_SYMBOL_MESSAGE = 1,
	AW_SYMBOL_FIELD,
	AW_SYMBOL_ENUM,
	AW_SYMBOL_ENUM_VALUE,
	AW_SYMBOL_SERVICE,
	AW_SYMBOL_METHOD,
} aw_symbol_kind;

/* Embedded by the build (served_descriptors.c): every served file and its imports. */
extern const unsigned char aw__served_descriptors[];
extern const size_t aw__served_descriptors_len;

/*
 * Parses a serialized FileDescriptorSet (`set`, `len` bytes, borrowed for the
 * call only) and indexes it. On success *out is the pool; the caller frees it
 * with aw_descpool_free(). Returns AW_EINVAL when the bytes do not parse or a
 * file's dependency is missing from the set, AW_ENOMEM.
 */
int aw_descpool_new(aw_descpool **out, const uint8_t *set, size_t len, aw_err *err);

/* Frees the pool; NULL is a no-op. */
void aw_descpool_free(aw_descpool *pool);

/*
 * Looks up a method by full name ("aniworld.v1.AnimeSeriesService.GetSeries") and
 * reports whether the client and the server stream. Returns 0 or AW_ENOTFOUND.
 */
int aw_descpool_method_shape(const aw_descpool *pool, const char *full_name,
			     int *client_streaming, int *server_streaming);

/*
 * Finds the file defining `symbol` (a fully qualified name of a message, field,
 * enum, enum value, service or method; a leading "." is accepted). Returns the
 * file's index, or AW_ENOTFOUND.
 */
int aw_descpool_file_of_symbol(const aw_descpool *pool, const char *symbol, size_t *file_index,
			       aw_symbol_kind *kind);

/* Finds a file by its name ("aniworld/v1/anime_series.proto"). Returns 0 and its
 * index, or AW_ENOTFOUND. */
int aw_descpool_file_by_name(const aw_descpool *pool, const char *name, size_t *file_index);

/* Number of files in the pool. */
size_t aw_descpool_file_count(const aw_descpool *pool);

/* The name of file `index` (borrowed from the pool). */
const char *aw_descpool_file_name(const aw_descpool *pool, size_t index);

/* The serialized FileDescriptorProto of file `index` (borrowed from the pool). */
void aw_descpool_file_bytes(const aw_descpool *pool, size_t index, const uint8_t **data,
			    size_t *len);

/* Indexes of the files that file `index` imports, directly (borrowed array of
 * *count entries). */
const size_t *aw_descpool_file_deps(const aw_descpool *pool, size_t index, size_t *count);

#endif /* AW_DESCRIPTORS_H */
