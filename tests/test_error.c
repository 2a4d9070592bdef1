/* Tests common/error.c: the AW_E* table and its mappings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "aniworld/error.h"

static void test_error_names_and_messages(void **state)
{
	(void)state;
	assert_string_equal(aw_err_name(0), "OK");
	assert_string_equal(aw_err_name(AW_ENOTFOUND), "AW_ENOTFOUND");
	assert_string_equal(aw_strerror(AW_ENOTFOUND), "not found");
	assert_string_equal(aw_strerror(0), "success");
	assert_string_equal(aw_strerror(-9999), "unknown error code");
	assert_string_equal(aw_err_name(-9999), "AW_E?");
}

static void test_error_grpc_round_trip(void **state)
{
	(void)state;
	/* Every gRPC status maps to a code that maps back to it. */
	for (int s = 0; s <= 16; s++)
		assert_int_equal(aw_err_grpc_status(aw_err_from_grpc_status(s)), s);
	assert_int_equal(aw_err_grpc_status(AW_EINVAL), 3);
	assert_int_equal(aw_err_grpc_status(AW_ENOTFOUND), 5);
	assert_int_equal(aw_err_grpc_status(AW_EEXIST), 6);
	assert_int_equal(aw_err_grpc_status(AW_EFULL), 8);
	assert_int_equal(aw_err_grpc_status(AW_EBUSY), 14);
	assert_int_equal(aw_err_from_grpc_status(8), AW_ENOMEM);
	assert_int_equal(aw_err_from_grpc_status(99), AW_EUNKNOWN);
	assert_int_equal(aw_err_grpc_status(-9999), 2);
}

static void test_error_set_formats_and_truncates(void **state)
{
	aw_err e;
	char big[600];

	(void)state;
	assert_int_equal(aw_err_set(&e, AW_EINVAL, "field %s got %d", "x", 7), AW_EINVAL);
	assert_int_equal(e.code, AW_EINVAL);
	assert_string_equal(e.msg, "field x got 7");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	aw_err_set(&e, AW_EIO, "%s", big);
	assert_int_equal(strlen(e.msg), AW_ERR_MSG_MAX - 1);
	assert_int_equal(aw_err_set(NULL, AW_EIO, "dropped"), AW_EIO);
	aw_err_clear(&e);
	assert_int_equal(e.code, 0);
	assert_string_equal(e.msg, "");
	aw_err_clear(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_names_and_messages),
		cmocka_unit_test(test_error_grpc_round_trip),
		cmocka_unit_test(test_error_set_formats_and_truncates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
