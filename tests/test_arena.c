/* Tests server/transport/arena.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "transport/arena.h"

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifdef ASAN
#include <sanitizer/asan_interface.h>
#endif

static void test_arena_alignment_and_reuse(void **state)
{
	aw_arena a;
	void *first;

	(void)state;
	aw_arena_init(&a, 256);
	first = aw_arena_alloc(&a, 1);
	assert_non_null(first);
	for (int i = 1; i < 100; i++) {
		void *p = aw_arena_alloc(&a, (size_t)i);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
		memset(p, 0xAB, (size_t)i);
	}
	aw_arena_reset(&a);
	/* After a reset the first block is carved from its start again. */
	assert_ptr_equal(aw_arena_alloc(&a, 8), first);
	aw_arena_close(&a);
}

static void test_arena_large_allocations(void **state)
{
	aw_arena a;

	(void)state;
	aw_arena_init(&a, 64);
	void *big = aw_arena_alloc(&a, 1 << 20);
	assert_non_null(big);
	memset(big, 1, 1 << 20);
	assert_non_null(aw_arena_alloc(&a, 10));
	aw_arena_reset(&a);
	assert_non_null(aw_arena_alloc(&a, 3 << 20));
	assert_null(aw_arena_alloc(&a, SIZE_MAX - 8));
	aw_arena_close(&a);
}

static void test_arena_as_protobuf_allocator(void **state)
{
	aw_arena a;
	ProtobufCAllocator *pa;

	(void)state;
	aw_arena_init(&a, 1024);
	pa = aw_arena_allocator(&a);
	void *p = pa->alloc(pa->allocator_data, 100);
	assert_non_null(p);
	pa->free(pa->allocator_data, p); /* a no-op */
	aw_arena_close(&a);
}

/* Under AddressSanitizer, what the arena has not handed out is poisoned: past
 * each allocation, and everything after a reset, so that the fuzzers' and the
 * sanitized tests' overflows inside a call's arena are reported. */
static void test_arena_poisons_under_asan(void **state)
{
#ifdef ASAN
	aw_arena a;
	char *p, *q;

	(void)state;
	aw_arena_init(&a, 256);
	p = aw_arena_alloc(&a, 10);
	q = aw_arena_alloc(&a, 3);
	assert_false(__asan_address_is_poisoned(p));
	assert_false(__asan_address_is_poisoned(p + 9));
	assert_true(__asan_address_is_poisoned(p + 10));
	assert_true(__asan_address_is_poisoned(q - 1));
	assert_true(__asan_address_is_poisoned(q + 3));
	aw_arena_reset(&a);
	assert_true(__asan_address_is_poisoned(p));
	assert_ptr_equal(aw_arena_alloc(&a, 1), p);
	assert_false(__asan_address_is_poisoned(p));
	aw_arena_close(&a);
#else
	(void)state;
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_alignment_and_reuse),
		cmocka_unit_test(test_arena_large_allocations),
		cmocka_unit_test(test_arena_as_protobuf_allocator),
		cmocka_unit_test(test_arena_poisons_under_asan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
