/*
 * arena.h: a bump allocator that protobuf-c can use.
 *
 * Each call slot owns one arena. Everything a call needs (the unpacked request,
 * the repository's result, scratch) is carved out of it and released at once by
 * aw_arena_reset() when the slot is recycled, so a call in steady state makes
 * no malloc of its own. The first block is kept across resets; larger blocks
 * made for big messages are freed by the reset.
 *
 * Not thread-safe: a call's arena is used by one thread at a time.
 */
#ifndef AW_ARENA_H
#define AW_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct aw_arena_block aw_arena_block;

typedef struct aw_arena {
	aw_arena_block *head;        /* block being carved, NULL before first use */
	aw_arena_block *first;       /* the block kept across resets */
	size_t first_size;           /* usable size of `first` */
	ProtobufCAllocator allocator; /* alloc = arena, free = no-op */
} aw_arena;

/* Prepares `a` with a first block of `first_size` bytes, allocated lazily.
 * Never fails. */
void aw_arena_init(aw_arena *a, size_t first_size);

/* Releases every block. `a` may be reused after aw_arena_init(). */
void aw_arena_close(aw_arena *a);

/* Returns `size` bytes aligned for any type, or NULL when memory is exhausted.
 * The memory lives until the next reset or close. */
void *aw_arena_alloc(aw_arena *a, size_t size);

/* Forgets every allocation; keeps the first block. */
void aw_arena_reset(aw_arena *a);

/* Returns the ProtobufCAllocator view of `a` (borrowed; lives as long as `a`). */
static inline ProtobufCAllocator *aw_arena_allocator(aw_arena *a)
{
	return &a->allocator;
}

#endif /* AW_ARENA_H */
