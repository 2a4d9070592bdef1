/* Tests server/transport/descriptors.c against the embedded descriptor set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "transport/descriptors.h"

static int setup(void **state)
{
	aw_descpool *pool;

	if (aw_descpool_new(&pool, aw__served_descriptors, aw__served_descriptors_len, NULL) != 0)
		return -1;
	*state = pool;
	return 0;
}

static int teardown(void **state)
{
	aw_descpool_free(*state);
	return 0;
}

static void test_descriptors_method_shapes(void **state)
{
	aw_descpool *pool = *state;
	int cs, ss;

	assert_int_equal(aw_descpool_method_shape(pool, "aniworld.v1.AnimeSeriesService.GetSeries",
						  &cs, &ss), 0);
	assert_false(cs);
	assert_false(ss);
	assert_int_equal(aw_descpool_method_shape(pool, "grpc.health.v1.Health.Watch", &cs, &ss), 0);
	assert_false(cs);
	assert_true(ss);
	assert_int_equal(aw_descpool_method_shape(pool, "aniworld.v1.Nope.Get", &cs, &ss),
			 AW_ENOTFOUND);
	/* A message is not a method. */
	assert_int_equal(aw_descpool_method_shape(pool, "aniworld.v1.AnimeSeries", &cs, &ss),
			 AW_ENOTFOUND);
}

static void test_descriptors_symbols_and_files(void **state)
{
	aw_descpool *pool = *state;
	size_t file, dep_file;
	aw_symbol_kind kind;
	const size_t *deps;
	size_t n_deps;
	int found_timestamp = 0;

	assert_int_equal(aw_descpool_file_of_symbol(pool, ".aniworld.v1.AnimeSeries", &file, &kind), 0);
	assert_int_equal(kind, AW_SYMBOL_MESSAGE);
	assert_string_equal(aw_descpool_file_name(pool, file), "aniworld/v1/anime_series.proto");
	assert_int_equal(aw_descpool_file_of_symbol(pool, "aniworld.v1.AnimeSeries.key", &file, &kind), 0);
	assert_int_equal(kind, AW_SYMBOL_FIELD);
	assert_int_equal(aw_descpool_file_of_symbol(pool, "aniworld.v1.AnimeSeries.EpisodeDictEntry",
						    &file, &kind), 0);
	assert_int_equal(aw_descpool_file_of_symbol(pool, "aniworld.v1.AnimeSeriesService.ListSeries",
						    &file, &kind), 0);
	assert_int_equal(kind, AW_SYMBOL_METHOD);
	assert_int_equal(aw_descpool_file_of_symbol(pool, "aniworld.v1.Missing", &file, &kind),
			 AW_ENOTFOUND);

	deps = aw_descpool_file_deps(pool, file, &n_deps);
	for (size_t i = 0; i < n_deps; i++) {
		if (strcmp(aw_descpool_file_name(pool, deps[i]), "google/protobuf/timestamp.proto") == 0)
			found_timestamp = 1;
	}
	assert_true(found_timestamp);
	assert_int_equal(aw_descpool_file_by_name(pool, "google/protobuf/empty.proto", &dep_file), 0);
	const uint8_t *bytes;
	size_t len;
	aw_descpool_file_bytes(pool, dep_file, &bytes, &len);
	assert_true(len > 10);
}

static void test_descriptors_rejects_garbage(void **state)
{
	aw_descpool *pool = NULL;
	aw_err err;
	const uint8_t junk[] = {0xFF, 0xFF, 0xFF, 0xFF};

	(void)state;
	assert_int_equal(aw_descpool_new(&pool, junk, sizeof(junk), &err), AW_EINVAL);
	assert_null(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptors_method_shapes),
		cmocka_unit_test(test_descriptors_symbols_and_files),
		cmocka_unit_test(test_descriptors_rejects_garbage),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
