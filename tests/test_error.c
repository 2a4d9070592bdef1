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

/* Reasons are stable UPPER_SNAKE_CASE names, one per AW_E* code plus the finer
 * ones, and each maps back to exactly its code (issue 11). */
static int upper_snake(const char *s)
{
	if (s[0] < 'A' || s[0] > 'Z')
		return 0;
	for (; *s != '\0'; s++) {
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	}
	return 1;
}

static void test_error_reasons_map_back_to_their_codes(void **state)
{
	static const char *const all[] = {
#define XX(name, value, msg, grpc, reason) reason,
		AW_ERRNO_MAP(XX)
#undef XX
#define XX(reason, code, type, meaning) #reason,
		AW_REASON_MAP(XX)
#undef XX
	};
	size_t n = sizeof(all) / sizeof(all[0]);

	(void)state;
#define XX(name, value, msg, grpc, reason)                                   \
	assert_string_equal(aw_err_code_reason(AW_##name), reason);         \
	assert_int_equal(aw_err_reason_code(reason), AW_##name);
	AW_ERRNO_MAP(XX)
#undef XX
#define XX(reason, code, type, meaning)                                      \
	assert_int_equal(aw_err_reason_code(#reason), code);                \
	assert_string_equal(aw_err_reason_resource_type(#reason), type);
	AW_REASON_MAP(XX)
#undef XX
	for (size_t i = 0; i < n; i++) {
		assert_true(upper_snake(all[i]));
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(all[i], all[j]);
	}
	assert_int_equal(aw_err_reason_code("NO_SUCH_REASON"), 0);
	assert_int_equal(aw_err_reason_code(NULL), 0);
	assert_string_equal(aw_err_code_reason(0), "");
	assert_string_equal(aw_err_code_reason(-9999), "UNKNOWN");
}

static void test_error_details_set_and_cleared(void **state)
{
	aw_err e;

	(void)state;
	aw_err_set(&e, AW_ENOTFOUND, "series 42 not found");
	assert_int_equal(aw_err_detail(&e, "SERIES_NOT_FOUND", "id", "%d", 42), AW_ENOTFOUND);
	assert_string_equal(e.reason, "SERIES_NOT_FOUND");
	assert_int_equal(e.n_metadata, 1);
	assert_string_equal(e.metadata[0].key, "id");
	assert_string_equal(e.metadata[0].text, "42");
	assert_string_equal(e.resource_type, "aniworld.v1.AnimeSeries");
	assert_string_equal(e.resource_name, "42");
	for (int i = 0; i < AW_ERR_VIOLATIONS_MAX + 3; i++)
		aw_err_add_violation(&e, "f", "bad %d", i);
	assert_int_equal(e.n_violations, AW_ERR_VIOLATIONS_MAX);
	for (int i = 0; i < AW_ERR_METADATA_MAX + 2; i++)
		aw_err_detail(&e, "SERIES_NOT_FOUND", "k", "%d", i);
	assert_int_equal(e.n_metadata, AW_ERR_METADATA_MAX);
	/* A new error starts without the old one's details. */
	aw_err_set(&e, AW_EINVAL, "x");
	assert_string_equal(e.reason, "");
	assert_int_equal(e.n_metadata, 0);
	assert_int_equal(e.n_violations, 0);
	assert_string_equal(e.resource_type, "");
	assert_int_equal(aw_err_detail(NULL, "SESSION_REVOKED", NULL, "%s", ""), AW_EPRECOND);
	aw_err_add_violation(NULL, "f", "dropped");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_names_and_messages),
		cmocka_unit_test(test_error_grpc_round_trip),
		cmocka_unit_test(test_error_set_formats_and_truncates),
		cmocka_unit_test(test_error_reasons_map_back_to_their_codes),
		cmocka_unit_test(test_error_details_set_and_cleared),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
