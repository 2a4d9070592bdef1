#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Under AddressSanitizer the arena tells it what is handed out: a block is
 * poisoned when made and when reset, each allocation is unpoisoned to its
 * exact size and followed by a poisoned gap, so reading or writing past an
 * allocation (or using one after the reset) is reported as it would be with
 * malloc. Elsewhere these cost nothing.
 */
#if defined(__SANITIZE_ADDRESS__)
#define AW_ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AW_ARENA_ASAN 1
#endif
#endif
#ifdef AW_ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define REDZONE 16 /* poisoned bytes after each allocation */
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#define REDZONE 0
#endif

struct aw_arena_block {
	aw_arena_block *next; /* older block, NULL for the first */
	size_t size;          /* usable bytes after the header */
	size_t used;          /* bytes handed out */
	alignas(max_align_t) unsigned char data[];
};

static void *arena_pb_alloc(void *data, size_t size)
{
	return aw_arena_alloc(data, size);
}

static void arena_pb_free(void *data, void *ptr)
{
	/* Arena memory is released in bulk by aw_arena_reset(). */
	(void)data;
	(void)ptr;
}

void aw_arena_init(aw_arena *a, size_t first_size)
{
	a->head = NULL;
	a->first = NULL;
	a->first_size = first_size;
	a->allocator.alloc = arena_pb_alloc;
	a->allocator.free = arena_pb_free;
	a->allocator.allocator_data = a;
}

static void free_chain(aw_arena_block *b, aw_arena_block *stop)
{
	while (b != NULL && b != stop) {
		aw_arena_block *next = b->next;
		UNPOISON(b->data, b->size);
		free(b);
		b = next;
	}
}

void aw_arena_close(aw_arena *a)
{
	free_chain(a->head, NULL);
	a->head = NULL;
	a->first = NULL;
}

static aw_arena_block *new_block(size_t size, aw_arena_block *next)
{
	aw_arena_block *b;

	if (size > SIZE_MAX - sizeof(*b))
		return NULL;
	b = malloc(sizeof(*b) + size);
	if (b == NULL)
		return NULL;
	b->next = next;
	b->size = size;
	b->used = 0;
	POISON(b->data, size);
	return b;
}

void *aw_arena_alloc(aw_arena *a, size_t size)
{
	const size_t align = alignof(max_align_t);
	aw_arena_block *b = a->head;
	size_t need;

	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - align - REDZONE)
		return NULL;
	need = (size + REDZONE + align - 1) & ~(align - 1);

	if (b == NULL) {
		/* First use since init: make the block that resets keep. */
		size_t sz = a->first_size > need ? a->first_size : need;
		b = new_block(sz, NULL);
		if (b == NULL)
			return NULL;
		a->first = b;
		a->first_size = sz;
		a->head = b;
	} else if (b->size - b->used < need) {
		size_t sz = b->size * 2;
		if (sz < need)
			sz = need;
		b = new_block(sz, a->head);
		if (b == NULL)
			return NULL;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += need;
	UNPOISON(p, size);
	return p;
}

void aw_arena_reset(aw_arena *a)
{
	free_chain(a->head, a->first);
	a->head = a->first;
	if (a->first != NULL) {
		a->first->used = 0;
		POISON(a->first->data, a->first->size);
	}
}
